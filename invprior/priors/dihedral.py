"""A denoiser seen through the eight rotations and flips of the square: one per call inside
plug-and-play (``Turning``), or all of them averaged for one pass (``self_ensemble``).

A trained denoiser leaves small errors that depend on the image's orientation. Plug-and-play
calls it once per iteration; turning the image a different way each time (and back after)
makes those errors differ from one iteration to the next, so that the splitting averages them
out, as an eight-fold self-ensemble does, without its eight calls per iteration. Measured
with the shipped CNN on the fixed 256x256 cases (BENCHMARKS.md, PSNR in dB, the same 32 or
16 iterations): inpaint_camera 34.54 -> 34.82, cs25_camera 34.31 -> 34.45, deblur_camera
29.30 -> 29.36, sr4_astronaut 25.11 -> 25.16, sr4_camera 26.86 -> 26.82.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..cnn.patches import dihedral

__all__ = ["Turning", "ORDER", "self_ensemble", "check_turns"]

# ``cnn.patches.dihedral``'s indices in the order the calls go through them: the quarter
# turns, then the flips (the order BENCHMARKS.md measured)
ORDER = (0, 1, 2, 3, 4, 7, 6, 5)


def _undo(x: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of ``dihedral(x, k)``: the opposite quarter turn; a flip is its own.

    Example:
        >>> x = torch.arange(6.0).view(1, 1, 2, 3)
        >>> all(torch.equal(_undo(dihedral(x, k), k), x) for k in range(8))
        True
    """
    return dihedral(x, k if k >= 4 else (4 - k) % 4)


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
        k = ORDER[self.calls % 8]
        self.calls += 1
        return _undo(self.denoise(dihedral(x, k), sigma), k)


def self_ensemble(denoise: Callable, x: torch.Tensor, turns: int = 8) -> torch.Tensor:
    """The mean of ``denoise`` over the first ``turns`` symmetries of ``ORDER``, each turned
    back: ``(B, C, H, W) -> (B, C, H, W)``; ``turns`` times the time of one call.

    Averaging the orientation-dependent errors lifts one-pass denoising by the shipped CNN
    (Set12, sigma 15 / 25 / 50, dB: one pass 32.82 / 30.50 / 27.37; 2 turns 32.87 / 30.55 /
    27.43; 4 turns 32.90 / 30.57 / 27.46; 8 turns 32.91 / 30.58 / 27.47; measured with the
    weights before their l2 fine-tune: now one pass 32.83 / 30.52 / 27.41, 8 turns 32.92 /
    30.60 / 27.50).

    Example:
        >>> x = torch.rand(1, 1, 4, 6)
        >>> torch.allclose(self_ensemble(lambda u: 2 * u, x, turns=8), 2 * x)
        True
    """
    check_turns(turns)
    # ORDER starts with the identity: no turned copies for it, and none of the sum or the
    # division for one turn (the default), which would copy a whole photo each
    total = denoise(x)
    for k in ORDER[1:turns]:
        total = total + _undo(denoise(dihedral(x, k)), k)
    return total / turns if turns > 1 else total


def check_turns(turns) -> int:
    """``turns`` when it is a whole number from 1 to 8 (how many of the square's symmetries a
    self-ensemble can average), else ``ValueError`` in one sentence.

    Example:
        >>> check_turns(8)
        8
    """
    if not (isinstance(turns, int) and 1 <= turns <= 8):
        raise ValueError(f"self_ensemble takes 1 to 8 of the square's rotations and flips, "
                         f"got {turns!r}.")
    return turns
