"""Classical references of the benchmark: scikit-image's TV and non-local-means denoisers,
and its biharmonic inpainting (which is also ``Inpainting.initial_estimate``).

Example:
    >>> y = torch.rand(1, 3, 16, 16)
    >>> tv_denoise(y).shape, nl_means(y[:, :1], 0.1).shape
    (torch.Size([1, 3, 16, 16]), torch.Size([1, 1, 16, 16]))
"""

from __future__ import annotations

import numpy as np
import torch

from operators.mask import biharmonic_inpaint as biharmonic

__all__ = ["tv_denoise", "nl_means", "biharmonic"]


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` -> ``(H, W, C)`` float64."""
    return x[0].detach().double().cpu().permute(1, 2, 0).numpy()


def _to_tensor(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    a = a if a.ndim == 3 else a[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(like)


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
