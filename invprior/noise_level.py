"""Noise level of an image: Donoho's wavelet MAD estimator, in torch.

``skimage.restoration.estimate_sigma`` needs PyWavelets; this small torch version computes
the same estimate so that we need not depend on it. Used wherever a noise level is not
given: the denoisers (one pass, plug-and-play), the stopping rule, the sparse-coding
denoiser.

An RGB photo whose colour differences are far quieter than its luminance in the finest
band is read off its luminance's flattest blocks. JPEG (and most cameras) keeps the colour
at half resolution, which wipes out the finest band of the noise's colour part; what is left
in each RGB channel is its luminance part, about 0.65 of the noise, and a white-noise
denoiser given that level leaves most of the noise in. A clean photo looks the same to the
finest band (its texture is mostly luminance), which is why the flattest blocks decide:
noise is everywhere, texture is not. Measured on the first 8 Kodak24 photos (held out:
the rule was set on astronaut, coffee and chelsea), white noise, then 8-bit and JPEG by
imageio (Pillow), the one-pass denoiser at the level read, mean level and PSNR:

| noise, JPEG quality | each channel (before) | now | level given |
|---|---|---|---|
| 25/255, 95 | 17.3/255, 26.93 dB | 28.8/255, 31.11 dB | 30.83 dB |
| 25/255, 85 | 18.7/255, 26.67 dB | 31.2/255, 30.78 dB | 29.96 dB |
| 10/255, 95 | 8.5/255, 33.97 dB | 13.6/255, 35.40 dB | 35.26 dB |
| 10/255, 85 | 6.6/255, 31.85 dB | 9.3/255, 33.25 dB | 33.98 dB |
| 5/255, 95 | 5.5/255, 37.84 dB | 7.8/255, 38.21 dB | 38.00 dB |
| 0, 90 | 2.5/255, 38.28 dB | the same | |
| 25/255, none (PNG) | 24.7/255, 31.80 dB | the same | 31.78 dB |
| 10/255, none (PNG) | 11.0/255, 36.53 dB | the same | 36.65 dB |
| 0, none (PNG) | 2.9/255, 47.56 dB | 3.3/255, 46.63 dB | |

(the luminance is the opponent transform's, ``invprior.colour``: orthonormal, so white noise
of std sigma per channel has std sigma there too).

Shot noise (photon counts) grows with the brightness. ``noise_function`` fits the finest
band's variance as a line in the brightness; ``shot_sigma`` gives a blur's y the level
where it is bright, which its deblurring needs (``priors.base.visible_noise``).

A downsampled image (the observation of super-resolution) is dense with detail up to its
finest band, and reads as noisy there: clean bicubic x4 images of Set5, Set12 and Kodak24
read up to 17.5/255. ``top_band_sigma`` reads only the top of the spectrum, which the
antialiasing filter emptied and white noise has not: the same images read at most
5.7/255, noise of 10/255 added after the downsampling 10.0 to 13.2 (``operators.resample``
says where the reading counts as noise).
"""

from __future__ import annotations

import torch

from .colour import to_opponent

# below this fraction of the luminance's level, the colour differences' noise is hidden
HIDDEN_COLOUR = 0.5
# the 10th percentile of the RMS of 64 white gaussian samples of std 1:
# sqrt(scipy.stats.chi2.ppf(0.1, 64) / 64)
FLAT_BIAS = 0.8839
# the fourth difference over its norm, sqrt(70): its gain peaks at the Nyquist frequency,
# where an antialiased image holds next to nothing
_FOURTH = tuple(f / 70 ** 0.5 for f in (1.0, -4.0, 6.0, -4.0, 1.0))
_HAAR_HI = (0.5 ** 0.5, -(0.5 ** 0.5))
_DB2_HI = (-0.48296291314469025, 0.836516303737469, -0.22414386804185735, -0.12940952255092145)


def estimate_sigma(y: torch.Tensor) -> list[float]:
    """Noise standard deviation of each image of ``(B, C, H, W)``, by wavelet MAD.

    Donoho's robust estimator, as :func:`skimage.restoration.estimate_sigma` does it
    (which needs PyWavelets, hence this small torch version): the finest diagonal db2
    wavelet coefficients are almost pure noise, so ``sigma = median(|HH|) / 0.6745``.
    Channels are averaged, except where an RGB photo's colour differences are far quieter
    than its luminance (JPEG's half-resolution colour hides their noise): then the reading
    of the luminance's flattest blocks, where it is higher (see the module docstring).

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
    y = y.detach()
    per_channel = torch.stack([_mad(_finest_band(y[:, c])) for c in range(y.shape[1])], 1).mean(1)
    if y.shape[1] == 3:
        opponent = to_opponent(y)
        luminance = _finest_band(opponent[:, 0])
        colour = (_mad(_finest_band(opponent[:, 1])) + _mad(_finest_band(opponent[:, 2]))) / 2
        # colour differences far quieter than the luminance: their fine detail was dropped
        # (JPEG) or the photo is clean (its texture is mostly luminance). The luminance's
        # flattest blocks tell the two apart: noise is everywhere, texture is not.
        hidden = colour < HIDDEN_COLOUR * _mad(luminance)
        per_channel = torch.where(hidden, torch.maximum(per_channel, _flattest(luminance)),
                                  per_channel)
    return [float(v) for v in per_channel]


def _finest_band(x: torch.Tensor) -> torch.Tensor:
    """The finest diagonal db2 wavelet band ``(B, H/2 - 1, W/2 - 1)`` (float64) of each plane
    ``(B, H, W)``: for white noise of std sigma, white noise of std sigma."""
    return _separable(x.double(), _DB2_HI, step=2)


def _separable(x: torch.Tensor, taps: tuple, step: int) -> torch.Tensor:
    """Planes ``(B, H, W)`` filtered by ``taps`` in both directions, 'valid' borders, every
    ``step``-th sample kept: as sums of strided slices, which need a few image-sized buffers
    (conv2d's unfolding of a 4x4 kernel held 16 copies: 5 GB for a 12-megapixel RGB photo)."""
    h, w = x.shape[-2:]
    n = len(taps)
    rows = sum(f * x[..., k : k + w - n + 1 : step] for k, f in enumerate(taps))
    return sum(f * rows[:, k : k + h - n + 1 : step] for k, f in enumerate(taps))


def _mad(band: torch.Tensor) -> torch.Tensor:
    """Donoho's ``median(|band|) / 0.6745`` per plane: ``(B,)``."""
    return band.abs().flatten(1).median(1).values / 0.6745


def _flattest(band: torch.Tensor, side: int = 8) -> torch.Tensor:
    """The noise std in the flattest tenth of a band's ``side x side`` blocks ``(B,)``: the
    10th percentile of the blocks' RMS over what it is for white noise (0 for a band of fewer
    than 16 blocks: no reading)."""
    b, h, w = band.shape
    if (h // side) * (w // side) < 16:
        return torch.zeros(b, dtype=band.dtype, device=band.device)
    return torch.quantile(block_rms(band, side), 0.1, dim=1) / FLAT_BIAS


def block_rms(band: torch.Tensor, side: int) -> torch.Tensor:
    """The RMS of each whole ``side x side`` block of a band ``(B, H, W)``: ``(B, blocks)``,
    the blocks row by row.

    Example:
        >>> block_rms(torch.ones(1, 4, 6), 2).tolist()
        [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    """
    b, h, w = band.shape
    blocks = band[:, : h // side * side, : w // side * side].unfold(1, side, side).unfold(2, side, side)
    return blocks.pow(2).mean((-2, -1)).sqrt().flatten(1)


def haar_band(planes: torch.Tensor) -> torch.Tensor:
    """The diagonal Haar coefficients ``(a - b - c + d) / 2`` of the 2x2 blocks of planes
    ``(B, H, W)``: ``(B, H // 2, W // 2)``; for white noise of std sigma, white noise of std
    sigma."""
    return _separable(planes, _HAAR_HI, step=2)


def observed_sigma(y: torch.Tensor, mask: torch.Tensor, least: int = 256) -> list[float | None]:
    """Noise standard deviation of each image of ``(B, C, H, W)`` read where ``mask`` (1 =
    observed, broadcast to ``y``) observes it: the MAD of the diagonal Haar coefficients
    ``(a - b - c + d) / 2`` of the 2x2 blocks whose four pixels are all observed, pooled
    over the channels; None for an image with fewer than ``least`` such coefficients.

    Haar, not db2's 4x4 support, so that a mask of pixels missing at random still leaves
    blocks to read (half missing: one block in 16). On Set12 and 8 Kodak24 photos under
    random, scribble, boxes and text masks it reads 24.9-25.3/255 on average for noise of
    25/255, 11.1-11.3 for 10; clean 8-bit images read 2.8 (at most 5.2).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = 0.5 + 0.1 * torch.randn(1, 3, 128, 128, generator=g)
        >>> mask = (torch.rand(1, 1, 128, 128, generator=g) > 0.5).float()
        >>> abs(observed_sigma(y * mask, mask)[0] - 0.1) < 0.01
        True
    """
    if y.ndim != 4 or min(y.shape[-2:]) < 2:
        raise ValueError(f"expected (B, C, H, W) images of at least 2x2, got shape {tuple(y.shape)}.")
    b, c, h, w = y.shape
    planes = y.detach().reshape(b * c, h, w).double()
    seen = (mask.detach().to(y.device) >= 1).expand(b, c, h, w).reshape(b * c, h, w).double()
    # (reshape: a y that is a view, a solve's result made contiguous otherwise, had failed)
    band = haar_band(planes).reshape(b, -1)
    whole = (_separable(seen, (1.0, 1.0), step=2) == 4).reshape(b, -1)
    return [float(v[k].abs().median() / 0.6745) if int(k.sum()) >= least else None
            for v, k in zip(band, whole)]


def top_band_sigma(y: torch.Tensor) -> list[float]:
    """Noise standard deviation of each image of ``(B, C, H, W)`` read at the top of its
    spectrum: the MAD (``median(|z|) / 0.6745``) of its 5x5 fourth differences, averaged
    over the channels. For white noise of std sigma, sigma; for an image smoothed by an
    antialiasing filter (bicubic downsampling), far less than its finest band's reading.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = 0.5 + 0.1 * torch.randn(1, 3, 64, 64, generator=g)
        >>> abs(top_band_sigma(y)[0] - 0.1) < 0.005
        True
    """
    if y.ndim != 4 or min(y.shape[-2:]) < 8:
        raise ValueError(f"expected (B, C, H, W) images of at least 8x8, got shape {tuple(y.shape)}.")
    b, c, h, w = y.shape
    z = _separable(y.detach().reshape(b * c, h, w).double(), _FOURTH, step=1)
    return [float(v) for v in _mad(z).view(b, c).mean(1)]


# y's noise is read as growing with the brightness (shot noise: photon counts) where the
# part of its variance that grows is at least this share at y's median brightness: clipped
# 8-bit gaussian noise of 25/255 reads 0.2-0.3 (a clipped end is quieter), shot noise
# 0.75-1 (camera, astronaut, coffee blurred, 10 to 1000 photons)
SHOT_SHARE = 0.5
# the share of a plane at its top value from which the top is taken as clipped
CLIPPED_SHARE = 1e-3
# brightness bins of the noise level function, and the most band coefficients it sorts
LEVEL_BINS = 8
LEVEL_SAMPLES = 1 << 20
# the brightness (a quantile of y) whose noise a blur's y is said to have, when it grows
# with the brightness (``shot_sigma``), or half its 99th percentile where higher
SHOT_QUANTILE = 0.75
# below this level there, what grows with the brightness is texture and 8-bit rounding as
# much as noise (clean coins 128 motion-blurred read 1.8/255: 37.49 -> 35.73 dB so; camera
# at 10000 photons reads 2.6, +0.2 dB)
SHOT_MIN = 2 / 255


def noise_function(y: torch.Tensor) -> list[tuple[float, float]]:
    """The noise's variance as a function of the brightness, ``gain * b + floor``, fitted
    for each image of ``(B, C, H, W)`` (its channels together, an RGB one's luminance
    against its channels' mean): the finest diagonal db2
    band in ``LEVEL_BINS`` bins of the brightness under each coefficient, each bin's
    variance by MAD, a least-squares line through them. Shot noise at a peak of ``p``
    photons reads ``gain`` near ``1 / p`` and ``floor`` near 0 (camera, astronaut, coffee
    blurred, peaks 10 to 1000: within 10% up to 100), white noise of std ``s`` near ``(0,
    s ** 2)``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.linspace(0.2, 1, 128).expand(1, 1, 128, 128)
        >>> gain, floor = noise_function(torch.poisson(100 * x, generator=g) / 100)[0]
        >>> round(1 / gain), abs(floor) < 1e-4
        (101, True)
    """
    if y.ndim != 4 or min(y.shape[-2:]) < 8:
        raise ValueError(f"expected (B, C, H, W) images of at least 8x8, got shape {tuple(y.shape)}.")
    b, c, h, w = y.shape
    y = y.detach().double()
    # RGB: its luminance (orthonormal: white noise keeps its std, and independent noise's
    # variance there is the channels' mean), against the channels' mean brightness. A JPEG
    # keeps the colour at half resolution, whose noise it hides from the finest band: the
    # three channels had read astronaut at 100 photons as 321 (motion-blurred: 13.6 dB)
    planes = (to_opponent(y)[:, :1] if c == 3 else y).reshape(-1, h, w)
    band = _finest_band(planes)
    # the brightness under each coefficient: the mean of the 4x4 pixels its filter spans
    lights = _separable(planes / (3 ** 0.5 if c == 3 else 1.0), (0.25,) * 4, step=2)
    # nor where a pixel it spans is clipped at its channel's top, which holds no noise (a
    # photo 20% saturated read a flat line, and 34% none: 13.05 dB, below y's 19.54)
    top = y >= y.amax((-2, -1), keepdim=True)
    top = top & (top.double().mean((-2, -1), keepdim=True) > CLIPPED_SHARE)
    top = (top.any(1) if c == 3 else top.reshape(-1, h, w)).double()
    free = _separable(top, (1.0,) * 4, step=2) == 0
    fits = []
    for coefficients, light, kept in zip(band.reshape(b, -1), lights.reshape(b, -1),
                                         free.reshape(b, -1)):
        if int(kept.sum()) >= 16 * LEVEL_BINS:
            coefficients, light = coefficients[kept], light[kept]
        step = max(1, len(light) // LEVEL_SAMPLES)  # (a 12-megapixel photo: a sample)
        coefficients, light = coefficients[::step], light[::step]
        bins = light.argsort().chunk(LEVEL_BINS)
        means = torch.stack([light[k].mean() for k in bins])
        variances = torch.stack([(coefficients[k].abs().median() / 0.6745) ** 2 for k in bins])
        design = torch.stack([means, torch.ones_like(means)], 1)
        gain, floor = torch.linalg.lstsq(design, variances[:, None]).solution[:, 0]
        fits.append((float(gain), float(floor)))
    return fits


def shot_fits(y: torch.Tensor) -> list[tuple[float, float] | None]:
    """``noise_function``'s ``(gain, floor)`` for each image of ``(B, C, H, W)`` whose noise
    grows with the brightness as shot noise's does (at least ``SHOT_SHARE`` of its variance
    at the median brightness), else None.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.linspace(0.2, 1, 128).expand(1, 1, 128, 128)
        >>> shot_fits(x + 0.1 * torch.randn(1, 1, 128, 128, generator=g))  # white noise
        [None]
    """
    fits = []
    for image, (gain, floor) in zip(y, noise_function(y)):
        growing = gain * max(brightness(image, 0.5), 0.0)
        shot = growing > 0 and growing >= SHOT_SHARE * (growing + max(floor, 0.0))
        fits.append((gain, floor) if shot else None)
    return fits


def shot_sigma(y: torch.Tensor) -> float | None:
    """The noise std of a batch ``(B, C, H, W)`` where it is ``bright``, for images whose
    noise grows with the brightness (``shot_fits``; their mean), where that is at least
    ``SHOT_MIN``; else None. What a deblurring is told: noise that the denoiser is told is
    weaker than it is comes back amplified by each data step (``priors.base.visible_noise``).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.linspace(0.2, 1, 128).expand(1, 1, 128, 128)
        >>> round(255 * shot_sigma(torch.poisson(100 * x, generator=g) / 100))  # sqrt(0.8 / 100)
        23
    """
    levels = [max(fit[0] * bright(image) + fit[1], 0.0) ** 0.5
              for image, fit in zip(y, shot_fits(y)) if fit is not None]
    level = sum(levels) / len(levels) if levels else 0.0
    return level if level >= SHOT_MIN else None


def bright(image: torch.Tensor) -> float:
    """Where an image (any shape) is bright, for its shot noise's level there: its
    ``SHOT_QUANTILE`` brightness, or half its 99th percentile where that is higher (bright
    cells on a dark background, a tenth of the frame: the quantile is the background's, and
    a motion-blurred one at 30 photons fell apart, 18.91 dB, 28.04 so; photos' quantile is
    the higher: camera, astronaut, coffee, moon, chelsea)."""
    return max(brightness(image, SHOT_QUANTILE), 0.5 * brightness(image, 0.99))


def brightness(image: torch.Tensor, q: float) -> float:
    """The ``q`` quantile of the values of ``image`` (any shape), read off at most
    ``LEVEL_SAMPLES`` of them (``torch.quantile`` refuses 16M values or more)."""
    flat = image.detach().flatten().double()
    flat = flat[:: max(1, len(flat) // LEVEL_SAMPLES)].sort().values
    return float(flat[int(q * (len(flat) - 1))])


def estimate_noise(y: torch.Tensor) -> float:
    """Mean noise std over a batch ``(B, C, H, W)``; see ``estimate_sigma``."""
    values = estimate_sigma(y)
    return sum(values) / len(values)


# inpainting takes y as noise-free; from this reading of its observed pixels on, it is said
# that y looks noisy (clean 8-bit Set12 and Kodak24 photos under four kinds of mask read at
# most 5.2/255; noise of 10/255 reads 10.4-12.6)
NOISY_HOLES = 6 / 255


# a told noise level is said to look like a variance where y reads this much noise or more
# and the level is within 2x of that reading squared (``api._warn_if_level_off``)
VARIANCE_READ_MIN = 0.03
# a denoising told under half the noise read off y is said to be so where the reading is at
# least this (clean fine texture reads up to 11/255: grass)
UNDER_TOLD_READ_MIN = 15 / 255


# a deblurred image that leaves more than this many times y's noise level (at least an 8-bit
# level) unexplained is said to come from a blur told larger than y's (api._warn_if_unexplained)
UNEXPLAINED = 2.0
# ... judged from this many iterations on (fewer leave a coarse estimate: plug-and-play's
# deblurring runs 16 or 32)
UNEXPLAINED_AFTER = 8


class BlurMismatchWarning(UserWarning):
    """A deblurred image explains ``y`` only to within several times its noise level: the
    blur model does not fit ``y`` (a blur told larger than ``y``'s, another border model,
    noise the level misses)."""


class NoiseLevelWarning(UserWarning):
    """A told noise level far from the noise read off ``y``: about its square (the noise's
    variance, as scikit-image's ``random_noise(var=)`` and MATLAB's ``imnoise`` take it,
    where the level is its std), or, for a denoising, under half of it."""


class NoisyObservedWarning(UserWarning):
    """An inpainting's ``y`` reads as noisy where it is observed, and no noise level was
    given: its observed pixels are kept, noise and all (``noisy_where_observed``)."""


def noisy_where_observed(y: torch.Tensor, mask: torch.Tensor) -> float | None:
    """The mean noise level read where an inpainting's ``y`` ``(B, C, H, W)`` is observed
    (``observed_sigma``) when it is at least ``NOISY_HOLES``, else None. Inpainting takes y
    as noise-free and keeps its observed pixels, so a noisy photo keeps its noise; not read
    as noise by default, since fine texture reads the same (grass, gravel: 11.1 and 8.2/255
    clean), and there a noisy reading cost 5.0 and 3.5 dB, while on noisy photos the level
    given gains 0.5 to 10 dB (camera and astronaut at 256x256, scribble, random and box
    masks, noise 10 and 25/255; camera with half its pixels missing at random, noise 25/255:
    22.25 -> 28.68 dB).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> mask = (torch.rand(1, 1, 128, 128, generator=g) > 0.3).float()
        >>> y = (0.5 + 0.1 * torch.randn(1, 1, 128, 128, generator=g)) * mask
        >>> round(noisy_where_observed(y, mask), 2), noisy_where_observed(0.5 * mask, mask)
        (0.1, None)
    """
    if y.ndim != 4 or min(y.shape[-2:]) < 2:
        return None
    levels = observed_sigma(y, mask)
    level = None if None in levels else sum(levels) / len(levels)
    return level if level is not None and level >= NOISY_HOLES else None
