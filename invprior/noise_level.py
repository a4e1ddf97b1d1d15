"""Noise level of an image: Donoho's wavelet MAD estimator, in torch.

``skimage.restoration.estimate_sigma`` needs PyWavelets; this small torch version computes
the same estimate so that we need not depend on it. Used by the solver's stopping rule and
by the sparse-coding denoiser.
"""

from __future__ import annotations

import torch

_DB2_HI = (-0.48296291314469025, 0.836516303737469, -0.22414386804185735, -0.12940952255092145)


def estimate_sigma(y: torch.Tensor) -> list[float]:
    """Noise standard deviation of each image of ``(B, C, H, W)``, by wavelet MAD.

    Donoho's robust estimator, as :func:`skimage.restoration.estimate_sigma` does it
    (which needs PyWavelets, hence this small torch version): the finest diagonal db2
    wavelet coefficients are almost pure noise, so ``sigma = median(|HH|) / 0.6745``;
    channels are averaged.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = 0.5 + 0.1 * torch.randn(1, 1, 128, 128, generator=g)
        >>> abs(estimate_sigma(y)[0] - 0.1) < 0.005
        True
    """
    if y.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) image tensor, got shape {tuple(y.shape)}.")
    if min(y.shape[-2:]) < 8:
        raise ValueError(f"image {y.shape[-2]}x{y.shape[-1]} is too small to estimate the noise.")
    b, c, h, w = y.shape
    x = y.detach().reshape(b * c, h, w).double()
    # Separable high-pass in both directions, 'valid' borders, every second sample: as sums
    # of strided slices, which need a few image-sized buffers (conv2d's unfolding of a 4x4
    # kernel held 16 copies: 5 GB for a 12-megapixel RGB photo)
    rows = sum(f * x[..., k : k + w - 3 : 2] for k, f in enumerate(_DB2_HI))
    hh = sum(f * rows[:, k : k + h - 3 : 2] for k, f in enumerate(_DB2_HI))
    sig = hh.abs().flatten(1).median(1).values / 0.6745
    return [float(v) for v in sig.reshape(b, c).mean(1)]


def estimate_noise(y: torch.Tensor) -> float:
    """Mean noise std over a batch ``(B, C, H, W)``; see ``estimate_sigma``."""
    values = estimate_sigma(y)
    return sum(values) / len(values)
