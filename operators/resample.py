"""Downsampling by an integer factor after an anti-alias filter (super-resolution model)."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from .base import TOP_BAND, LinearOperator, check_image

FACTORS = (2, 3, 4, 8)
FILTERS = ("bicubic", "box", "gaussian")


def _cubic(t: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel (a = -0.5, as MATLAB imresize and PIL use)."""
    t = t.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def downsampling_kernel(factor: int, filter: str = "bicubic") -> torch.Tensor:
    """1-D anti-alias filter for decimation by ``factor``, summing to one.

    Its length minus ``factor`` is even, so that, padded by half that difference on each
    side and applied with stride ``factor``, each output pixel is centred on its block.

    Example:
        >>> downsampling_kernel(2).shape
        torch.Size([8])
    """
    if filter == "box":
        return torch.full((factor,), 1.0 / factor, dtype=torch.float64)
    if filter == "bicubic":
        # the cubic stretched by the factor (antialiasing): support |t| < 2 * factor
        length = 4 * factor - factor % 2
        weights = _cubic((torch.arange(length, dtype=torch.float64) - (length - 1) / 2) / factor)
    elif filter == "gaussian":
        sigma = (factor - 1) / 2  # skimage.transform.rescale's anti-aliasing sigma
        length = factor + 2 * math.ceil(3 * sigma)
        d = torch.arange(length, dtype=torch.float64) - (length - 1) / 2
        weights = torch.exp(-0.5 * (d / sigma) ** 2)
    else:
        raise ValueError(f"unknown downsampling filter '{filter}'; choose one of {', '.join(FILTERS)}.")
    return weights / weights.sum()


class Downsampling(LinearOperator):
    """``y = (h * x)`` sampled every ``factor`` pixels: ``(B, C, H, W) -> (B, C, H/f, W/f)``.

    Convention:
        Output pixel ``i`` is centred on input block ``[i f, (i + 1) f)``, i.e. on input
        coordinate ``(i + 0.5) f - 0.5``. This is the convention of
        ``F.interpolate(y, scale_factor=f, mode="bicubic", align_corners=False)`` (and of
        MATLAB ``imresize``), so bicubic upsampling of ``y`` is aligned with ``x``: no
        half-pixel shift. The separable filter ``h`` is the antialiased Keys bicubic (a=-0.5,
        stretched by ``f``; default), a box average over the block, or a gaussian with sigma
        ``(f - 1) / 2``. Borders: ``reflect`` (default; ``replicate`` for images smaller than
        the filter) or ``circular`` (refused for images smaller than the filter). ``H`` and
        ``W`` must be multiples of ``factor``. The adjoint is written out (``adjoint``): 3
        times faster than autograd's.

    Example:
        >>> Downsampling(4)(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 3, 16, 16])
    """

    name = "downsample"
    good_initial_estimate = True

    def __init__(self, factor: int = 4, filter: str = "bicubic", border: str = "reflect"):
        super().__init__()
        # (2.0 passed `in FACTORS` and failed inside torch's padding)
        if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) \
                or factor not in FACTORS:
            raise ValueError(f"factor must be one of the downsampling factors {FACTORS}, got {factor!r}.")
        factor = int(factor)
        if border not in ("reflect", "circular"):
            raise ValueError(f"unknown border '{border}'; choose reflect or circular.")
        self.factor, self.filter, self.border = factor, filter, border
        # The antialiased bicubic leaves the top of y's spectrum to the noise. Clean images
        # (Set5, Set12, Kodak24) read there up to 5.7/255 at factors 2 to 4, but up to 8.2
        # box x2, 7.7 gaussian x2 and 11.6 bicubic x8 (a tiny y): there y's noise is not read.
        self.noise_visible = TOP_BAND if filter == "bicubic" and factor <= 4 else False
        self.register_buffer("taps", downsampling_kernel(factor, filter).float())

    def extra_repr(self) -> str:
        return f"{self.factor}, '{self.filter}'"

    def input_shape_for(self, y_shape: tuple) -> tuple:
        c, h, w = y_shape[1:]
        return (c, h * self.factor, w * self.factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x)
        f = self.factor
        h, w = x.shape[-2:]
        if h % f or w % f:
            raise ValueError(
                f"the image size {w}x{h} (width x height) is not a multiple of the factor {f}; "
                f"crop it to {w - w % f}x{h - h % f} first."
            )
        taps, pad, mode = self._filter(x, h, w)
        c = x.shape[1]
        flat = x.reshape(-1, 1, h, w)  # channels as batch: one separable filter for all
        flat = F.pad(flat, (pad, pad, pad, pad), mode=mode)
        flat = F.conv2d(flat, taps.view(1, 1, 1, -1), stride=(1, f))
        flat = F.conv2d(flat, taps.view(1, 1, -1, 1), stride=(f, 1))
        return flat.view(x.shape[0], c, h // f, w // f)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y`` ``(B, C, h, w) -> (B, C, f h, f w)``: ``forward``'s steps transposed,
        each convolution by its transposed convolution and the border's padding by adding
        each padded value back onto the pixel it copied. Written out because autograd's
        vector-Jacobian product took 4.2 ms at 3x256x256 (x4), this 1.4,
        and 3.6 s of a 14.5 s x4 super-resolution; the same values to float rounding."""
        check_image(y, "y")  # (its size gives the image's: no call on an image needed first)
        f = self.factor
        h, w = y.shape[-2] * f, y.shape[-1] * f
        taps, pad, mode = self._filter(y, h, w)
        flat = y.reshape(-1, 1, h // f, w // f)
        flat = F.conv_transpose2d(flat, taps.view(1, 1, -1, 1), stride=(f, 1))
        # the rows' transposed convolution by the columns' (4x faster than with (1, f) strides)
        flat = F.conv_transpose2d(flat.transpose(-1, -2), taps.view(1, 1, -1, 1),
                                  stride=(f, 1)).transpose(-1, -2)
        rows, cols = (_padded_from(n, pad, mode, y.device) for n in (h, w))
        flat = flat.new_zeros(flat.shape[:2] + (h, flat.shape[-1])).index_add_(-2, rows, flat)
        flat = flat.new_zeros(flat.shape[:3] + (w,)).index_add_(-1, cols, flat)
        return flat.view(y.shape[0], y.shape[1], h, w)

    def _filter(self, like: torch.Tensor, h: int, w: int) -> tuple:
        """``(taps, pad, border mode)`` of an ``h x w`` image: reflect where the image is
        larger than the filter's reach, else replicate."""
        taps = self.taps.to(like)
        pad = (taps.numel() - self.factor) // 2
        mode = self.border
        if mode == "reflect" and pad >= min(h, w):
            mode = "replicate"
        if mode == "circular" and pad > min(h, w):  # (torch: "wrapping around more than once")
            raise ValueError(f"the image ({w}x{h}, width x height) is smaller than the "
                             f"filter's reach of {pad} pixels that a circular border wraps; "
                             f"use border='reflect' or a larger image.")
        return taps, pad, mode

    def initial_estimate(self, y: torch.Tensor) -> torch.Tensor:
        """Bicubic upsampling."""
        with torch.no_grad():
            return upsample_bicubic(y, self.factor).clamp(0, 1)

    def projection(self, y: torch.Tensor):
        """Back-projection ``x + A^+ (y - A x)`` (20 conjugate-gradient steps; measured on the
        sr4 camera case: 26.16 -> 26.33 dB for the deep decoder)."""
        return lambda x: x + self.pinv(y - self(x), max_iter=20)


def _padded_from(n: int, pad: int, mode: str, device) -> torch.Tensor:
    """The index of the pixel that each of the ``n + 2 pad`` values of a row padded by
    ``F.pad(..., mode)`` copies: its adjoint adds each value back there.

    Example:
        >>> _padded_from(4, 2, "reflect", "cpu").tolist()
        [2, 1, 0, 1, 2, 3, 2, 1]
    """
    index = torch.arange(n, dtype=torch.float64).view(1, 1, n)
    return F.pad(index, (pad, pad), mode=mode).view(-1).long().to(device)


def upsample_bicubic(y: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic upsampling aligned with ``Downsampling`` (the classical SR baseline).

    Example:
        >>> upsample_bicubic(torch.rand(1, 1, 8, 8), 2).shape
        torch.Size([1, 1, 16, 16])
    """
    check_image(y)
    return F.interpolate(y, scale_factor=factor, mode="bicubic", align_corners=False)
