"""Plug-and-play restoration: half-quadratic splitting with the K-SVD denoiser.

For any linear operator ``A`` and ``y = A x + noise`` (std ``s_n``), alternate

    x_half = argmin_x ||A x - y||^2 + mu_k ||x - z||^2     (data step, conjugate gradient)
    z      = denoise(x_half, sigma_k)                       (K-SVD, dictionary of the estimate)

with ``sigma_k`` decreasing geometrically from ``sigma_start`` to ``sigma_end`` and
``mu_k = max(weight * (s_n / sigma_k)^2, MU_MIN)`` (Zhang et al., DPIR, 2021). For a
noise-free observation the returned image is the last data step, so it is reproduced (an
inpainting keeps its observed pixels); for a noisy one, the last denoised image. The
dictionary is relearned every ``relearn`` iterations, starting from the previous one: the
first estimates are poor, the last ones are close to the image.

Why here: on a 2-core CPU the small deep-image-prior net cannot fit a 256x256 image to
the detail a patch prior keeps in the same minutes. Measured on the fixed cases
(BENCHMARKS.md, 2 threads): deblur camera 28.61 dB in 5.4 s (DIP 26.38 in 203 s, Wiener
26.81), 50 % inpainting camera 34.17 dB in 17 s (DIP 33.58 in 300 s).
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

import operators as O

from ..classical import initial_estimate
from .denoise import code_patches, from_opponent, patch_dictionary, to_opponent

__all__ = ["pnp_restore", "dictionary_size", "PnPResult"]


class PnPResult(NamedTuple):
    """``image`` ``(1, C, H, W)`` in [0, 1]; ``psnrs`` per iteration (with ``truth``);
    ``iterations`` run (fewer than asked when ``max_seconds`` ran out)."""

    image: torch.Tensor
    psnrs: list
    iterations: int

# The data step is never less regularised than the Wiener start (balance 3e-3): early, weakly
# regularised steps amplify noise that the denoiser cannot remove on small images
# (astronaut 64x64 RGB deblur: 25.8 -> 27.4 dB; camera 256: 28.70 -> 28.64).
MU_MIN = 3e-3


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


def pnp_restore(y: torch.Tensor, op: O.LinearOperator, *, noise_level: float = 0.0,
                iters: int = 32, sigma_start: float = 0.2, sigma_end: float | None = None,
                weight: float = 0.1, relearn: int = 5, cg_iters: int = 30, atoms: int = 256,
                train_patches: int = 30000, dict_iters: int = 10, seed: int = 0,
                truth: torch.Tensor | None = None, progress: bool = False,
                max_seconds: float | None = None):
    """Restore ``(1, C, H, W)`` from ``y = op(x) + noise`` by plug-and-play K-SVD.

    Args:
        y: one observation (batch 1), any shape ``op`` produces.
        op: a linear operator (its ``pinv`` does the data step).
        noise_level: std of the noise in ``y`` on the [0, 1] scale (0 for noise-free).
        iters: splitting iterations. sigma_start / sigma_end: denoiser strength schedule
            (default end: the noise level, at least 2/255).
        weight: how much the data step trusts the denoised image (``mu_k`` above).
        relearn: relearn the dictionary every this many iterations.
        cg_iters: conjugate-gradient steps per data step.
        atoms, train_patches, dict_iters: dictionary size, training patches, K-SVD steps.
        truth: clean image, only to record PSNR per iteration.
        max_seconds: stop after the data step that passes this time (default: no limit).

    Returns:
        ``PnPResult(image, psnrs, iterations)``: the estimate ``(1, C, H, W)`` clipped
        to [0, 1] (the last data step for a noise-free ``y``, the last denoised image for a
        noisy one), its PSNR at each iteration (empty without ``truth``), and the
        iterations run.

    Example:
        >>> import operators as O
        >>> x = torch.rand(1, 1, 32, 32)
        >>> A = O.Inpainting(shape=(1, 32, 32), missing=0.5)
        >>> out = pnp_restore(A(x), A, iters=2, dict_iters=1)
        >>> out.image.shape, out.iterations
        (torch.Size([1, 1, 32, 32]), 2)
    """
    from ..metrics import psnr

    if not isinstance(op, O.LinearOperator):
        raise ValueError(f"the sparse prior needs a linear operator, got {type(op).__name__}.")
    if iters < 1 or relearn < 1 or not 0 < sigma_start < 1 or weight <= 0:
        raise ValueError("iters and relearn must be >= 1, sigma_start in (0, 1), weight > 0.")
    start = time.perf_counter()
    with torch.no_grad():
        x = initial_estimate(op, y)
        end = sigma_end if sigma_end is not None else max(noise_level, 2 / 255)
        # The data weight needs a noise floor: mu = 0 would be an exact projection, which
        # the conjugate gradient reaches only slowly for ill-posed operators.
        floor = max(noise_level, 1 / 255)
        dictionaries: list = [None] * x.shape[1]
        h, w = x.shape[-2:]
        atoms = dictionary_size((h - 7) * (w - 7), atoms)
        psnrs = []
        sigmas = np.geomspace(sigma_start, min(end, sigma_start), iters)
        bar = tqdm(sigmas, desc="sparse (plug-and-play)", disable=not progress, leave=False)
        for k, sigma in enumerate(bar):
            mu = max(weight * (floor / sigma) ** 2, MU_MIN)
            half = x + op.pinv(y - op(x), damping=mu, max_iter=cg_iters)
            last = k == iters - 1 or (max_seconds is not None and time.perf_counter() - start > max_seconds)
            if noise_level > 0 or not last:
                # A dictionary learned near the end would serve only a step or two, and
                # learning is slowest at small sigma (many atoms per patch): keep the last one.
                learn = k % relearn == 0 and k + relearn < iters
                x = _denoise(half, float(sigma), dictionaries, learn, atoms=atoms,
                             train_patches=train_patches, dict_iters=dict_iters, seed=seed)
            # Noise-free y: the data step reproduces it. Noisy y: the data step is mostly
            # y where y is observed, so the denoised image is the estimate.
            estimate = x if noise_level > 0 else half
            status = {"sigma": f"{255 * sigma:.1f}/255"}
            if truth is not None:
                psnrs.append(psnr(estimate.clamp(0, 1), truth))
                status["psnr"] = f"{psnrs[-1]:.2f}"
            bar.set_postfix(status, refresh=False)
            if last:
                break
    return PnPResult(estimate.clamp(0, 1), psnrs, k + 1)


def _denoise(x: torch.Tensor, sigma: float, dictionaries: list, learn: bool, **learning):
    """K-SVD-denoise each (opponent) channel of ``x`` ``(1, C, H, W)``, updating ``dictionaries``."""
    u = to_opponent(x)
    out = []
    for c in range(u.shape[1]):
        channel = u[0, c]
        if learn or dictionaries[c] is None:
            dictionaries[c] = patch_dictionary(
                channel, sigma, atoms=learning["atoms"], iters=learning["dict_iters"],
                train_patches=learning["train_patches"], seed=learning["seed"],
                init="dct" if dictionaries[c] is None else dictionaries[c],
            )
        out.append(code_patches(channel, dictionaries[c], sigma))
    return from_opponent(torch.stack(out)[None])
