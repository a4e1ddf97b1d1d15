"""Cheap classical estimates: the solver's starting point and the benchmark's references.

``initial_estimate(op, y)`` gives a fast first guess of ``x`` for any operator: bicubic
upsampling for super-resolution, biharmonic inpainting for masks, Wiener (Tikhonov)
deconvolution for circular blur, damped least squares (conjugate gradient) for any other
linear operator, and the observation itself for denoising.
"""

from __future__ import annotations

import numpy as np
import torch

import operators as O


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` -> ``(H, W, C)`` float64."""
    return x[0].detach().double().cpu().permute(1, 2, 0).numpy()


def _to_tensor(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    a = a if a.ndim == 3 else a[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(like)


def biharmonic(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """skimage biharmonic inpainting of ``y`` (B, C, H, W) where ``mask`` (1 observed) is 0."""
    from skimage.restoration import inpaint_biharmonic

    m = mask.expand_as(y)
    out = []
    for b in range(y.shape[0]):
        holes = _to_numpy(m[b : b + 1] < 0.5)
        filled = [
            inpaint_biharmonic(_to_numpy(y[b : b + 1])[:, :, c], holes[:, :, c])
            for c in range(y.shape[1])
        ]
        out.append(_to_tensor(np.stack(filled, -1), y))
    return torch.cat(out)


def wiener(y: torch.Tensor, kernel: torch.Tensor, balance: float = 3e-3) -> torch.Tensor:
    """Wiener/Tikhonov deconvolution for circular blur: ``conj(K) Y / (|K|^2 + balance)``.

    ``kernel`` is centred at ``(kh // 2, kw // 2)`` as in ``operators.Blur``.
    """
    h, w = y.shape[-2:]
    k = torch.zeros(h, w, dtype=torch.float64, device=y.device)
    kh, kw = kernel.shape
    k[:kh, :kw] = kernel.double()
    k = torch.roll(k, (-(kh // 2), -(kw // 2)), dims=(0, 1))  # centre at the origin
    K = torch.fft.fft2(k)
    X = K.conj() * torch.fft.fft2(y.double()) / (K.abs() ** 2 + balance)
    return torch.fft.ifft2(X).real.to(y)


def _per_image(fn, y: torch.Tensor) -> torch.Tensor:
    """Apply ``fn(array, channel_axis)`` to each image; gray images go in as 2-D arrays."""
    out = []
    for b in range(y.shape[0]):
        a = _to_numpy(y[b : b + 1])
        gray = a.shape[2] == 1
        out.append(_to_tensor(fn(a[:, :, 0] if gray else a, None if gray else 2), y))
    return torch.cat(out)


def tv_denoise(y: torch.Tensor, weight: float = 0.08) -> torch.Tensor:
    """skimage Chambolle total-variation denoising, per image."""
    from skimage.restoration import denoise_tv_chambolle

    return _per_image(lambda a, axis: denoise_tv_chambolle(a, weight=weight, channel_axis=axis), y)


def nl_means(y: torch.Tensor, sigma: float) -> torch.Tensor:
    """skimage non-local means (h = 0.6 sigma, 5x5 patches, distance 6), per image."""
    from skimage.restoration import denoise_nl_means

    return _per_image(lambda a, axis: denoise_nl_means(
        a, h=0.6 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True,
        channel_axis=axis,
    ), y)


def initial_estimate(op, y, shape: tuple | None = None) -> torch.Tensor | None:
    """A fast first guess of ``x`` (B, C, H, W) for observation ``y``, or None if unknown.

    Example:
        >>> A = O.Downsampling(2)
        >>> initial_estimate(A, A(torch.rand(1, 1, 16, 16))).shape
        torch.Size([1, 1, 16, 16])
    """
    with torch.no_grad():
        if isinstance(op, O.Denoising):
            return y.clamp(0, 1)
        if isinstance(op, O.Downsampling):
            return O.upsample_bicubic(y, op.factor).clamp(0, 1)
        if isinstance(op, O.Inpainting) and op.mask.shape[0] == 1:
            return biharmonic(y, op.mask.to(y)).clamp(0, 1)
        if isinstance(op, O.Blur) and op.border == "circular":
            return wiener(y, op.kernel).clamp(0, 1)
        if isinstance(op, O.LinearOperator):
            return op.pinv(y, damping=1e-2, max_iter=50).clamp(0, 1)
    return None
