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
import time

import torch

import operators as O

from .priors.base import not_started
from .result import Result

__all__ = ["DIM_TOP", "dim_scale", "restore_stretched"]

# an observation brighter than this at its brightest is restored as it is (every photo
# of the fixed cases and the standard sets reaches 0.9 and more)
DIM_TOP = 0.5
# the built-in operators that act on every pixel alike, and the priors whose settings were
# measured on the [0, 1] scale (not a trained generator's: it learned its images' brightness)
STRETCHED_OPERATORS = (O.Denoising, O.Blur, O.Downsampling, O.Inpainting)
STRETCHED_PRIORS = ("denoiser", "sparse", "dip", "decoder")


def dim_scale(y, op, name) -> list | None:
    """For each item of ``y`` ``(B, C, H, W)``, its brightest value where that is below
    ``DIM_TOP`` (and above 0), else None; None for all where ``y`` goes through another
    operator than ``STRETCHED_OPERATORS`` or to a prior not named in ``STRETCHED_PRIORS``.

    Example:
        >>> y = torch.tensor([0.25, 0.9]).view(2, 1, 1, 1).expand(2, 1, 8, 8)
        >>> dim_scale(y, O.Blur(sigma=1.0), "denoiser"), dim_scale(y, O.Blur(sigma=1.0), "trained")
        ([0.25, None], None)
    """
    if not (isinstance(name, str) and name in STRETCHED_PRIORS and type(op) in STRETCHED_OPERATORS
            and isinstance(y, torch.Tensor)):
        return None
    tops = y.detach().flatten(1).amax(1).tolist()
    scales = [top if 0 < top < DIM_TOP else None for top in tops]
    return scales if any(scales) else None


def restore_stretched(prior, y: torch.Tensor, op, scales: list | None, *, noise_level, truth,
                      progress: bool) -> Result:
    """``prior.restore`` of ``y`` where ``scales`` (``dim_scale``) is None; else the bright
    items together as they are and each dim one alone, divided by its scale (its
    ``noise_level`` and ``truth`` alike), its image multiplied back and its traced PSNRs
    given on the scale of ``y``: an item is restored as it would be alone, whatever the
    batch (a folder's dim photo among bright ones)."""
    if scales is None:
        return prior.restore(y, op, noise_level=noise_level, truth=truth, progress=progress)
    start, items = time.perf_counter(), [None] * len(y)
    bright = [b for b, s in enumerate(scales) if s is None]
    parts = [(bright, 1.0)] * bool(bright) + [([b], s) for b, s in enumerate(scales) if s]
    for index, scale in parts:
        if any(r is not None and r.interrupted for r in items):  # Ctrl-C: the rest not started
            for b in index:
                items[b] = not_started(op, y[b : b + 1])
            continue
        part = prior.restore(y[index] / scale, op,
                             noise_level=None if noise_level is None else noise_level / scale,
                             truth=None if truth is None else truth[index] / scale,
                             progress=progress)
        for b, item in zip(index, part.items):
            items[b] = item if scale == 1.0 else _dimmed(item, scale)
    return Result.combine(items, seconds=time.perf_counter() - start, prior=prior.name)


def _dimmed(result: Result, scale: float) -> Result:
    """A single-image ``result`` of ``y / scale`` given on the scale of ``y``."""
    gain = 20 * math.log10(scale)  # PSNR of x / s against truth / s, less that, is x's
    result.image = result.image * scale
    result.psnrs = [p - gain for p in result.psnrs]
    result.stop_reason += f" (y dim, at most {scale:.3g}: restored stretched {1 / scale:.3g}x)"
    return result
