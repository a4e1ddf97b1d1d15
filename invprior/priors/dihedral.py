"""The denoiser of plug-and-play seen through the eight rotations and flips of the square,
one per call.

A trained denoiser leaves small errors that depend on the image's orientation. Plug-and-play
calls it once per iteration; turning the image a different way each time (and back after)
makes those errors differ from one iteration to the next, so that the splitting averages them
out, as an eight-fold self-ensemble does, without its eight calls per iteration. Measured
with the shipped CNN on the fixed 256x256 cases (PSNR, dB, the same 32 or 16 iterations):
inpaint_camera 34.54 -> 34.82, cs25_camera 34.31 -> 34.45, deblur_camera 29.29 -> 29.35,
sr4_astronaut 25.09 -> 25.15, sr4_camera 26.86 -> 26.82.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["turn", "unturn", "Turning"]


def turn(x: torch.Tensor, k: int) -> torch.Tensor:
    """``x`` ``(..., H, W)`` by the ``k``-th of the 8 symmetries of the square (``k`` in
    0..7: a left-right flip for ``k >= 4``, then ``k % 4`` quarter turns).

    Example:
        >>> x = torch.arange(6.0).view(1, 1, 2, 3)
        >>> all(torch.equal(unturn(turn(x, k), k), x) for k in range(8))
        True
    """
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, (-2, -1))


def unturn(x: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of ``turn(x, k)``."""
    x = torch.rot90(x, -(k % 4), (-2, -1))
    return x.flip(-1) if k >= 4 else x


class Turning:
    """``denoise`` called on the image turned by the next symmetry each time, turned back.

    Example:
        >>> seen = []
        >>> d = Turning(lambda x, sigma: seen.append(x.shape[-2:]) or x)
        >>> x = torch.rand(1, 1, 4, 6)
        >>> [torch.equal(d(x, 0.1), x) for _ in range(2)], seen
        ([True, True], [torch.Size([4, 6]), torch.Size([6, 4])])
    """

    def __init__(self, denoise: Callable):
        self.denoise, self.calls = denoise, 0

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        k = self.calls % 8
        self.calls += 1
        return unturn(self.denoise(turn(x, k), sigma), k)
