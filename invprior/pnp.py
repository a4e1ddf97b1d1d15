"""Plug-and-play restoration: half-quadratic splitting with any denoiser.

For a linear operator ``A`` and ``y = A x + noise`` (std ``s_n``), alternate

    x_half = argmin_x ||A x - y||^2 + mu_k ||x - z||^2     (data step, conjugate gradient)
    z      = denoise(x_half, sigma_k)                       (the prior)

with ``sigma_k`` decreasing geometrically from ``sigma_start`` to ``sigma_end`` and
``mu_k = max(weight * (s_n / sigma_k)^2, MU_MIN)`` (Zhang et al., DPIR, 2021). For a
noise-free observation the returned image is the last data step, so it is reproduced (an
inpainting keeps its observed pixels); for a noisy one, the last denoised image.

Two denoisers plug in: the trained CNN (``learned.denoiser``, ``prior="denoiser"``) and
K-SVD with a dictionary of the estimate (``sparse.pnp``, ``prior="sparse"``).
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

import operators as O

from .classical import initial_estimate

__all__ = ["pnp_restore", "PnPResult", "MU_MIN"]

# The data step is never less regularised than the Wiener start (balance 3e-3): early, weakly
# regularised steps amplify noise that the denoiser cannot remove on small images
# (astronaut 64x64 RGB deblur with K-SVD: 25.8 -> 27.4 dB; camera 256: 28.70 -> 28.64).
MU_MIN = 3e-3


class PnPResult(NamedTuple):
    """``image`` ``(1, C, H, W)`` in [0, 1]; ``psnrs`` per iteration (with ``truth``);
    ``iterations`` run (fewer than asked when ``max_seconds`` ran out)."""

    image: torch.Tensor
    psnrs: list
    iterations: int


def pnp_restore(y: torch.Tensor, op: O.LinearOperator, denoise: Callable, *,
                noise_level: float = 0.0, iters: int = 32, sigma_start: float = 0.2,
                sigma_end: float | None = None, weight: float = 0.1, cg_iters: int = 30,
                truth: torch.Tensor | None = None, progress: bool = False,
                max_seconds: float | None = None, desc: str = "plug-and-play") -> PnPResult:
    """Restore ``(1, C, H, W)`` from ``y = op(x) + noise`` by plug-and-play splitting.

    Args:
        y: one observation (batch 1), any shape ``op`` produces.
        op: a linear operator (its ``pinv`` does the data step).
        denoise: ``denoise(x (1, C, H, W), sigma, k) -> (1, C, H, W)``, called at
            iteration ``k`` with noise level ``sigma`` on the [0, 1] scale.
        noise_level: std of the noise in ``y`` on the [0, 1] scale (0 for noise-free).
        iters: splitting iterations. sigma_start / sigma_end: denoiser strength schedule
            (default end: the noise level, at least 2/255).
        weight: how much the data step trusts the denoised image (``mu_k`` above).
        cg_iters: conjugate-gradient steps per data step.
        truth: clean image, only to record PSNR per iteration.
        max_seconds: stop after the data step that passes this time (default: no limit).

    Returns:
        ``PnPResult(image, psnrs, iterations)``: the estimate clipped to [0, 1] (the last
        data step for a noise-free ``y``, the last denoised image for a noisy one), its
        PSNR at each iteration (empty without ``truth``), and the iterations run.

    Example:
        >>> import operators as O
        >>> x = torch.rand(1, 1, 32, 32)
        >>> A = O.Inpainting(shape=(1, 32, 32), missing=0.5)
        >>> smooth = lambda u, sigma, k: torch.nn.functional.avg_pool2d(u, 3, 1, 1, count_include_pad=False)
        >>> out = pnp_restore(A(x), A, smooth, iters=3)
        >>> out.image.shape, out.iterations
        (torch.Size([1, 1, 32, 32]), 3)
    """
    from .metrics import psnr

    if not isinstance(op, O.LinearOperator):
        raise ValueError(f"plug-and-play needs a linear operator, got {type(op).__name__}.")
    if iters < 1 or not 0 < sigma_start < 1 or weight <= 0:
        raise ValueError("iters must be >= 1, sigma_start in (0, 1) and weight > 0.")
    start = time.perf_counter()
    with torch.no_grad():
        x = initial_estimate(op, y)
        end = sigma_end if sigma_end is not None else max(noise_level, 2 / 255)
        # The data weight needs a noise floor: mu = 0 would be an exact projection, which
        # the conjugate gradient reaches only slowly for ill-posed operators.
        floor = max(noise_level, 1 / 255)
        psnrs = []
        sigmas = np.geomspace(sigma_start, min(end, sigma_start), iters)
        bar = tqdm(sigmas, desc=desc, disable=not progress, leave=False)
        for k, sigma in enumerate(bar):
            mu = max(weight * (floor / sigma) ** 2, MU_MIN)
            half = x + op.pinv(y - op(x), damping=mu, max_iter=cg_iters)
            last = k == iters - 1 or (max_seconds is not None and time.perf_counter() - start > max_seconds)
            if noise_level > 0 or not last:
                x = denoise(half, float(sigma), k)
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
