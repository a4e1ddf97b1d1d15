"""A dim observation restored stretched to its full range, then dimmed back.

The CNN denoiser learned photos on the [0, 1] scale, and the network priors' settings were
measured there; an observation whose brightest value is far below 1 (a 16-bit microscope
image using 100 to 400 of 65535, an underexposed photo) looked to them like a flat image
with faint texture, and came back worse than it went in. The built-in operators are linear
and act on every pixel alike, so ``y / s`` is the observation of ``x / s``: restored there
and multiplied back by ``s``, where ``s`` is the brightest value the image can have (for a
blur, twice a Wiener deconvolution's brightest value, and never more than ``y``'s over the
kernel's largest weight: stretched further, a bright bead would be cut at 1). Measured on
camera 128x128 scaled by ``a`` and stored in 16 bits, noise-free, ``solve`` with its
defaults, PSNR of the result divided by ``a`` (33.15 and 29.72 dB at full range):

| operator | a = 0.5 | a = 0.25 | a = 0.06 | a = 0.006 |
|---|---|---|---|---|
| inpainting, half missing | 32.79 -> 33.15 | 31.89 -> 33.15 | 27.25 -> 33.15 | |
| gaussian blur 2 | 29.20 (as is) | 28.49 (as is) | 25.91 -> 29.20 | 17.57 -> 29.19 |

Five beads of 0.4 on a ground of 0.02 under a gaussian blur of 1.5: 40.02 -> 40.49 dB
(stretched 5.1x, none cut). A 16-bit blurred camera at 99 to 367 of 65535 with its 15x15
PSF through the command line: 17.01 -> 27.79 dB (28.09 at full range; the blurred input
24.08; PSNR after a least-squares affine fit to the truth). One-pass denoising gave the
same either way. Super-resolution is stretched too, as far as a bicubic upsampling's
brightest value with room to spare and its filter's largest weight allow: with any noise
level told, plug-and-play's last level (2/255) had flattened a 16-bit image at a = 0.006
(x2, camera 128x128 with noise of 1 % of a: 17.28 dB, now 31.08; at a = 0.06: 27.39 ->
31.08; noise-free 29.31 -> 31.63; at a = 0.25, not stretched, 31.26). ``Result.losses``
are on the stretched scale.
"""

from __future__ import annotations

import math
import time

import torch

import operators as O

from .console import shown_at
from .priors.base import in_parts, said_level
from .result import Result

__all__ = ["DIM_TOP", "dim_scale", "restore_stretched"]

# an observation brighter than this at its brightest is restored as it is (every photo
# of the fixed cases and the standard sets reaches 0.9 and more)
DIM_TOP = 0.5
# the built-in operators that act on every pixel alike, and the priors whose settings were
# measured on the [0, 1] scale (not a trained generator's: it learned its images' brightness)
STRETCHED_OPERATORS = (O.Denoising, O.Blur, O.Inpainting, O.Downsampling)
STRETCHED_PRIORS = ("denoiser", "sparse", "dip", "decoder")


def dim_scale(y, op, name) -> list | None:
    """For each item of ``y`` ``(B, C, H, W)``, the brightest value its image can have (its
    brightest value over ``_largest_share``, for a blur at most twice a deconvolution's, for
    a denoising no more than ``OUTLIER_ROOM`` times its brightest but for ``1 / OUTLIERS``
    of its pixels, and at most 1) where that is below ``DIM_TOP`` (and above 0), else None; None for all where
    ``y`` goes through another operator than ``STRETCHED_OPERATORS`` or to a prior not named
    in ``STRETCHED_PRIORS``.

    Example:
        >>> y = torch.tensor([0.25, 0.9]).view(2, 1, 1, 1).expand(2, 1, 8, 8)
        >>> dim_scale(y, O.Denoising(), "denoiser"), dim_scale(y, O.Denoising(), "trained")
        ([0.25, None], None)
    """
    if not (isinstance(name, str) and name in STRETCHED_PRIORS and type(op) in STRETCHED_OPERATORS
            and isinstance(y, torch.Tensor)):
        return None
    brightest = y.detach().flatten(1).amax(1)
    if type(op) is O.Denoising:  # (a camera's few hot pixels set no stretch: kept as seen)
        flat, n = y.detach().flatten(1), y[0].numel()
        # only where fewer than 1 in OUTLIERS pixels reach DIM_TOP / OUTLIER_ROOM: elsewhere
        # the value below them is at least that, and changes nothing (a 12-megapixel
        # photo's kthvalue had cost 0.64 s on every denoising)
        few = (flat >= DIM_TOP / OUTLIER_ROOM).sum(1) <= n // OUTLIERS
        if bool(few.any()):
            usual = flat[few].kthvalue(max(n - n // OUTLIERS, 1), 1).values
            brightest[few] = torch.minimum(brightest[few], OUTLIER_ROOM * usual)
    tops = (brightest / _largest_share(op, y.device)).clamp(max=1)
    dim = brightest < DIM_TOP  # (a y reaching DIM_TOP is bright: its tops are too)
    if isinstance(op, (O.Blur, O.Downsampling)) and dim.any():  # a deconvolution's (an
        # upsampling's) brightest value, with room to spare; only for the dim items: on
        # every deblur it had cost 5.3 s at 12 MP
        peaks = _deconvolved(y[dim], op).flatten(1).amax(1).clamp(min=0)
        tops[dim] = torch.minimum(tops[dim], PEAK_ROOM * peaks)
    scales = [top if 0 < top < DIM_TOP else None for top in tops.tolist()]
    return scales if any(scales) else None


# a denoising's brightest value leaves out this share's worth of pixels (1 in 1000): one
# hot pixel at 65535 in a 16-bit cell image at 100 to 400 had switched the stretch off, and
# the restoration rang around it (31.22 dB away from it, 39.29 without it; the input 35.28)
OUTLIERS = 1000
# ... with room above it for the brightest of the rest, noise and all: only a pixel further
# out than this is taken as hot
OUTLIER_ROOM = 1.5

# the brightest value of a deconvolution, times this, bounds the image's (Wiener's
# regularisation keeps a bead's peak from 60 % of its height on): see _deconvolved
PEAK_ROOM = 2.0


def _deconvolved(y: torch.Tensor, op) -> torch.Tensor:
    """``y`` ``(B, C, H, W)`` deconvolved by Wiener (circularly, whatever ``op``'s border),
    for its brightest value: the kernel's bound (``_largest_share``) holds for a single
    bright point and stretched a dim photo 7x where 80x was safe (a 16-bit camera at 99 to
    367 of 65535, deblurred: 24.28 dB against 28.1 at full range)."""
    from operators.blur import wiener_deconvolution

    with torch.no_grad():
        if isinstance(op, O.Downsampling):  # (bicubic, as its own pseudo-inverse starts)
            return torch.nn.functional.interpolate(y.detach().float(), scale_factor=op.factor,
                                                   mode="bicubic", align_corners=False)
        return wiener_deconvolution(y.detach().float(), op.kernel)


def _largest_share(op, device="cpu") -> float:
    """The largest weight one pixel of ``x`` has in one value of ``y = op(x)``: the
    brightest image a ``y`` of brightest value ``t`` can come from is ``t`` over it. A blur
    gathers a bright point into a fainter spot, which the restoration brightens back:
    stretched to ``y``'s own brightest value, five beads of 0.4 under a gaussian blur of
    1.5 (``y`` at most 0.063) came back cut at 0.063, 34.05 dB against 38.13 as they were.
    A soft mask's least weight where it observes (a pixel seen at half weight is twice as
    bright as its ``y``); a downsampling's largest filter weight (x2 bicubic: 0.188);
    denoising and a binary mask: 1.

    Example:
        >>> round(_largest_share(O.Blur(box=3)), 3), _largest_share(O.Inpainting(torch.ones(4, 4)))
        (0.111, 1.0)
        >>> round(_largest_share(O.Downsampling(2)), 3)
        0.188
    """
    if isinstance(op, O.Blur):
        return float(op.kernel.abs().max())
    if isinstance(op, O.Inpainting):
        seen = op.mask[op.mask > 0]
        return float(seen.min()) if seen.numel() else 1.0
    if isinstance(op, O.Downsampling):  # a point at each phase of the sampling grid
        f = op.factor
        points = torch.zeros(f * f, 1, 4 * f, 4 * f, device=device)
        for k in range(f * f):
            points[k, 0, 2 * f + k // f, 2 * f + k % f] = 1.0
        with torch.no_grad():
            return float(op(points).max())
    return 1.0


def restore_stretched(prior, y: torch.Tensor, op, scales: list | None, *, noise_level, truth,
                      progress: bool) -> Result:
    """``prior.restore`` of ``y`` where ``scales`` (``dim_scale``) is None; else the bright
    items together as they are and each dim one alone, divided by its scale (its
    ``noise_level`` and ``truth`` alike), its image multiplied back and its traced PSNRs
    given on the scale of ``y``: an item is restored as it would be alone, whatever the
    batch (a folder's dim photo among bright ones)."""
    if scales is None:
        return prior.restore(y, op, noise_level=noise_level, truth=truth, progress=progress)
    start = time.perf_counter()

    def restore(key, part, part_truth, _):  # the bright items as they are, a dim one stretched
        # (no further than its noise level allows: 0.5 told for a 16-bit y at 0.6 % of its
        # range had been refused as "a number from 0 to 1, got 78.77")
        scale = 1.0 if key == "bright" else min(max(scales[key], noise_level or 0.0), 1.0)
        # a denoising's pixels brighter than the stretch (hot ones) go in at its top and come
        # back as they were seen
        hot = part > scale if scale < 1.0 and type(op) is O.Denoising else None
        with shown_at(scale):  # (its bar on y's scale, as its result)
            result = prior.restore((part / scale).clamp(max=1.0) if hot is not None else part / scale, op,
                                   noise_level=None if noise_level is None else noise_level / scale,
                                   truth=None if part_truth is None else part_truth / scale,
                                   progress=progress)
        items = [item if scale == 1.0 else _dimmed(item, scale) for item in result.items]
        if hot is not None and bool(hot.any()):
            for b, item in enumerate(items):
                item.image = torch.where(hot[b : b + 1], part[b : b + 1].to(item.image), item.image)
        return items

    keys = ["bright" if s is None else b for b, s in enumerate(scales)]  # each dim one alone
    items = in_parts(keys, y, restore, truth, op=op)
    return Result.combine(items, seconds=time.perf_counter() - start, prior=prior.name)


def _dimmed(result: Result, scale: float) -> Result:
    """A single-image ``result`` of ``y / scale`` given on the scale of ``y``."""
    gain = 20 * math.log10(scale)  # PSNR of x / s against truth / s, less that, is x's
    result.image = result.image * scale
    result.psnrs = [p - gain for p in result.psnrs]
    if result.noise_level is not None:  # a level read off y / scale is said on y's scale
        level, result.noise_level = result.noise_level, result.noise_level * scale
        result.stop_reason = result.stop_reason.replace(said_level(level, None),
                                                        said_level(result.noise_level, None))
    result.stop_reason += f" (y dim: restored stretched {1 / scale:.3g}x)"
    return result
