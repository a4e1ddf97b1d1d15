"""Orthonormal 1-D DCT-II and its inverse along the last axis, in O(n log n) via the FFT.

torch has no DCT; these follow Makhoul (1980): reorder the signal, take one complex FFT of
the same length, rotate. Any length works. They match ``scipy.fft.dct(x, norm="ortho")``
and ``scipy.fft.idct(x, norm="ortho")``; being orthonormal, each is the other's adjoint.
"""

from __future__ import annotations

import functools
import math

import torch


def _twiddle(n: int, like: torch.Tensor) -> torch.Tensor:
    return _twiddle_cached(n, like.dtype, like.device)


@functools.lru_cache(maxsize=8)
def _twiddle_cached(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # computing the n rotations costs as much as the FFT itself: keep the last few
    k = torch.arange(n, device=device, dtype=dtype)
    scale = torch.full((n,), math.sqrt(2.0 / n), device=device, dtype=dtype)
    scale[0] = math.sqrt(1.0 / n)
    return torch.polar(scale, -math.pi * k / (2 * n))


def _in_fft_precision(transform):
    """``transform`` computed in float32 for half-precision input and cast back: torch's
    FFT takes no float16 or bfloat16 on the CPU ("Unsupported dtype Half")."""
    @functools.wraps(transform)
    def wrapped(x: torch.Tensor) -> torch.Tensor:
        if x.dtype in (torch.float16, torch.bfloat16):
            return transform(x.float()).to(x.dtype)
        return transform(x)
    return wrapped


@_in_fft_precision
def dct(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last axis.

    Example:
        >>> x = torch.randn(3, 10, dtype=torch.float64)
        >>> torch.allclose(idct(dct(x)), x)
        True
    """
    n = x.shape[-1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    return (torch.fft.fft(v) * _twiddle(n, x)).real


@_in_fft_precision
def idct(X: torch.Tensor) -> torch.Tensor:
    """Inverse of ``dct`` (orthonormal DCT-III) along the last axis."""
    n = X.shape[-1]
    # V_k = (X_k - i X_{n-k}) / twiddle_k, with X_n = 0
    shifted = torch.cat([torch.zeros_like(X[..., :1]), X[..., 1:].flip(-1)], dim=-1)
    V = torch.complex(X, -shifted) / _twiddle(n, X)
    v = torch.fft.ifft(V).real
    half = (n + 1) // 2
    x = torch.empty_like(X)
    x[..., ::2] = v[..., :half]
    x[..., 1::2] = v[..., half:].flip(-1)
    return x
