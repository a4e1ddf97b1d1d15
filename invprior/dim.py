"""A dim observation restored stretched to the full range, then dimmed back.

The CNN denoiser learned photos on the [0, 1] scale, and the network priors' settings were
measured there; an observation whose brightest value is far below 1 (a 16-bit microscope
image using 100 to 400 of 65535, an underexposed photo) looked to them like a flat image
with faint texture, and came back worse than it went in. The built-in operators are linear
and act on every pixel alike, so ``y / s`` is the observation of ``x / s``: restored there
and multiplied back by ``s``. Measured on camera 128x128 scaled by ``a`` and stored in 16
bits (``solve`` with its defaults, PSNR of the result divided by ``a``; the same to 0.02 dB
as the image at full range):

| operator, noise | a = 0.5 | a = 0.25 | a = 0.06 | a = 0.006 |
|---|---|---|---|---|
| gaussian blur 2, none | | 28.49 -> 29.72 | 25.91 -> 29.72 | 17.57 -> 29.70 |
| inpainting, half missing, none | 32.79 -> 33.14 | 31.89 -> 33.14 | 27.25 -> 33.14 | |
| super-resolution x2, none | 31.65 -> 31.85 | 31.26 -> 31.85 | 30.17 -> 31.85 | |
| super-resolution x2, 0.005 | 30.57 -> 30.65 | 28.35 -> 28.33 | 19.27 -> 24.84 | |

(one-pass denoising gave the same either way). ``Result.losses`` and a noise level read
off ``y`` (said in ``stop_reason``) are on the stretched scale.
"""

from __future__ import annotations

import math

import torch

import operators as O

from .result import Result

__all__ = ["DIM_TOP", "dim_scale", "restore_stretched"]

# an observation brighter than this at its brightest is restored as it is (every photo
# of the fixed cases and the standard sets reaches 0.9 and more)
DIM_TOP = 0.5
# the built-in operators that act on every pixel alike, and the priors whose settings were
# measured on the [0, 1] scale (not a trained generator's: it learned its images' brightness)
STRETCHED_OPERATORS = (O.Denoising, O.Blur, O.Downsampling, O.Inpainting)
STRETCHED_PRIORS = ("denoiser", "sparse", "dip", "decoder")


def dim_scale(y, op, name) -> float | None:
    """The brightest value of ``y`` ``(B, C, H, W)`` where it is below ``DIM_TOP`` (and
    above 0), through a built-in operator (``STRETCHED_OPERATORS``) for a built-in prior
    named ``name``; else None.

    Example:
        >>> dim_scale(torch.full((1, 1, 8, 8), 0.2), O.Blur(sigma=1.0), "denoiser")
        0.2
        >>> dim_scale(torch.full((1, 1, 8, 8), 0.9), O.Blur(sigma=1.0), "denoiser")
    """
    if not (isinstance(name, str) and name in STRETCHED_PRIORS and type(op) in STRETCHED_OPERATORS
            and isinstance(y, torch.Tensor)):
        return None
    top = float(y.detach().max())
    return top if 0 < top < DIM_TOP else None


def restore_stretched(prior, y: torch.Tensor, op, scale: float | None, *, noise_level, truth,
                      progress: bool) -> Result:
    """``prior.restore`` of ``y / scale`` (its ``noise_level`` and ``truth`` alike), its
    images multiplied back by ``scale`` and its traced PSNRs given on the scale of ``y``;
    ``prior.restore`` itself where ``scale`` is None."""
    if scale is None:
        return prior.restore(y, op, noise_level=noise_level, truth=truth, progress=progress)
    result = prior.restore(y / scale, op, noise_level=None if noise_level is None else noise_level / scale,
                           truth=None if truth is None else truth / scale, progress=progress)
    gain = 20 * math.log10(scale)  # PSNR of x / s against truth / s, less that, is x's
    for r in {id(r): r for r in [result, *result.items]}.values():
        r.image = r.image * scale
        r.psnrs = [p - gain for p in r.psnrs]
        r.stop_reason += f" (y dim, at most {scale:.3g}: restored stretched {1 / scale:.3g}x)"
    return result
