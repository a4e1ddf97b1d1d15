"""Plug-and-play K-SVD: the splitting of ``invprior.pnp`` with a K-SVD denoiser.

The dictionary is learned on the current estimate and relearned every ``relearn``
iterations, starting from the previous one: the first estimates are poor, the last ones
are close to the image.

Measured on the fixed cases (BENCHMARKS.md, 2 threads): deblur camera 28.61 dB in 5.4 s
(DIP 26.38 in 203 s, Wiener 26.81), 50 % inpainting camera 34.17 dB in 17 s (DIP 33.58 in
300 s). The trained CNN denoiser (``prior="denoiser"``) does better still.
"""

from __future__ import annotations

import math

import torch

import operators as O

from ..pnp import PnPResult, pnp_restore as pnp_split
from ..colour import from_opponent, to_opponent
from .denoise import code_patches, patch_dictionary

__all__ = ["pnp_restore", "dictionary_size", "KSVDDenoiser"]

def dictionary_size(patches: int, atoms: int = 256) -> int:
    """Atoms for a dictionary learned from ``patches`` patches of the image itself.

    At least ~20 patches per atom, a square number (the 2-D DCT start), between 36 and
    ``atoms``: 256 atoms overfit a 32x32 image (astronaut deblur 22.0 dB, 25.5 with 32).

    Example:
        >>> dictionary_size(625), dictionary_size(62001)
        (36, 256)
    """
    side = math.isqrt(max(patches // 20, 36))
    return min(atoms, side * side)


class KSVDDenoiser:
    """``denoise(x, sigma, k)`` for ``invprior.pnp``: K-SVD per (opponent) channel of
    ``(1, C, H, W)``, the dictionary learned on ``x`` every ``relearn`` iterations.

    A dictionary learned near the end would serve only a step or two, and learning is
    slowest at small sigma (many atoms per patch): the last one of the run is kept.

    Example:
        >>> d = KSVDDenoiser(iters=2, atoms=36, dict_iters=1)
        >>> d(torch.rand(1, 1, 32, 32), 0.1, 0).shape
        torch.Size([1, 1, 32, 32])
    """

    def __init__(self, iters: int, *, relearn: int = 5, atoms: int = 256,
                 train_patches: int = 30000, dict_iters: int = 10, seed: int = 0):
        self.iters, self.relearn, self.atoms = iters, relearn, atoms
        self.train_patches, self.dict_iters, self.seed = train_patches, dict_iters, seed
        self.dictionaries: dict = {}

    def __call__(self, x: torch.Tensor, sigma: float, k: int) -> torch.Tensor:
        u = to_opponent(x)
        h, w = x.shape[-2:]
        atoms = dictionary_size((h - 7) * (w - 7), self.atoms)
        learn = k % self.relearn == 0 and k + self.relearn < self.iters
        out = []
        for c in range(u.shape[1]):
            channel, previous = u[0, c], self.dictionaries.get(c)
            if learn or previous is None:
                self.dictionaries[c] = patch_dictionary(
                    channel, sigma, atoms=atoms, iters=self.dict_iters,
                    train_patches=self.train_patches, seed=self.seed,
                    init="dct" if previous is None else previous,
                )
            out.append(code_patches(channel, self.dictionaries[c], sigma))
        return from_opponent(torch.stack(out)[None])


def pnp_restore(y: torch.Tensor, op: O.LinearOperator, *, noise_level: float = 0.0,
                iters: int = 32, sigma_start: float = 0.2, sigma_end: float | None = None,
                weight: float = 0.1, relearn: int = 5, cg_iters: int = 30, atoms: int = 256,
                train_patches: int = 30000, dict_iters: int = 10, seed: int = 0,
                truth: torch.Tensor | None = None, progress: bool = False,
                max_seconds: float | None = None) -> PnPResult:
    """Restore ``(1, C, H, W)`` from ``y = op(x) + noise`` by plug-and-play K-SVD.

    Args: as ``invprior.pnp.pnp_restore``, plus the K-SVD settings: ``relearn`` (relearn
    the dictionary every this many iterations), ``atoms``, ``train_patches``,
    ``dict_iters`` (dictionary size, training patches, K-SVD steps) and ``seed``.

    Returns:
        ``PnPResult(image, psnrs, iterations)``.

    Example:
        >>> import operators as O
        >>> x = torch.rand(1, 1, 32, 32)
        >>> A = O.Inpainting(shape=(1, 32, 32), missing=0.5)
        >>> out = pnp_restore(A(x), A, iters=2, dict_iters=1)
        >>> out.image.shape, out.iterations
        (torch.Size([1, 1, 32, 32]), 2)
    """
    if relearn < 1:
        raise ValueError("relearn must be >= 1.")
    denoise = KSVDDenoiser(iters, relearn=relearn, atoms=atoms, train_patches=train_patches,
                           dict_iters=dict_iters, seed=seed)
    return pnp_split(y, op, denoise, noise_level=noise_level, iters=iters,
                     sigma_start=sigma_start, sigma_end=sigma_end, weight=weight,
                     cg_iters=cg_iters, truth=truth, progress=progress,
                     max_seconds=max_seconds, desc="sparse (plug-and-play)")
