"""Shot noise (Poisson) made gaussian for the denoiser: Anscombe's transform and its inverse.

A photo taken in low light, a fluorescence micrograph or an X-ray counts photons: ``y =
Poisson(peak * x) / peak``, its noise strongest where the image is bright. A denoiser for
white gaussian noise, told one level, cleans the dark parts too hard and the bright ones too
little. Anscombe's transform ``2 sqrt(peak y + 3/8)`` makes the noise nearly gaussian of std
1 everywhere; the denoiser cleans that, and the exact unbiased inverse (Makitalo and Foi,
2011, its closed-form approximation) maps back. Camera / astronaut at 128x128, one-pass CNN
denoiser, a gaussian level read off ``y`` against the transform at the peak told (at the
peak read, ``read_peak``: within 0.2 dB of it here):

    peak 5:   17.61 -> 24.88 dB / 18.45 -> 23.85
    peak 30:  24.16 -> 29.85    / 25.28 -> 28.70
    peak 100: 28.54 -> 32.78    / 30.76 -> 31.98

Example:
    >>> y = torch.poisson(30 * torch.full((1, 1, 64, 64), 0.4), generator=torch.Generator().manual_seed(0)) / 30
    >>> a = anscombe(y, 30)                       # std about 1 / (2 sqrt(30 + 3/8)) on [0, 1]
    >>> round(a.std().item() * 2 * math.sqrt(30 + 3 / 8), 1)
    1.0
    >>> round(inverse_anscombe(anscombe(torch.tensor(0.4), 30), 30).item(), 2)  # (unbiased for noisy values)
    0.41
    >>> 20 < read_peak(y) < 45
    True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .noise_level import block_rms, estimate_noise, haar_band, observed_sigma

__all__ = ["anscombe", "grows_with_brightness", "inverse_anscombe", "read_peak", "scale_for",
           "span"]

# the transform of no photons: the inverse's closed form holds from here up
FLOOR = 2 * math.sqrt(3 / 8)
# photons (3x3 mean) from which a pixel shows its noise to read_peak
LIT = 1.0
# the share of y at 1 exactly, with none above, from which read_peak takes y as clipped
CLIPPED = 1e-3
# grows_with_brightness: the brightness bins, the blocks' size, the share of the flattest
# blocks of a bin whose noise counts, and the least noise in them worth a word
BINS = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)
BLOCK = 8
FLATTEST = 0.2
SHOWN = 6 / 255


def span(peak: float) -> float:
    """What the transform reaches at white (``y = 1``): it is divided by this, to [0, 1]."""
    return 2 * math.sqrt(peak + 3 / 8)


def anscombe(y: torch.Tensor, peak: float, scale: float | None = None) -> torch.Tensor:
    """``2 sqrt(peak y + 3/8) / scale``: noise of std about ``1 / scale`` everywhere, on
    [0, 1] for ``y`` on [0, 1] at the default ``scale``, ``span(peak)`` (counts above the
    peak, which shot noise brings, need a larger one: ``scale_for``)."""
    return 2 * torch.sqrt(peak * y.clamp_min(0) + 3 / 8) / (scale or span(peak))


def scale_for(y: torch.Tensor, peak: float) -> float:
    """The ``anscombe`` scale that keeps all of ``y`` on [0, 1]: ``span(peak)``, or more
    where shot noise took counts above the peak (1 photon at white: y reaches 5 or more)."""
    return max(span(peak), 2 * math.sqrt(peak * max(float(y.max()), 0.0) + 3 / 8))


def inverse_anscombe(a: torch.Tensor, peak: float, scale: float | None = None) -> torch.Tensor:
    """The exact unbiased inverse of a denoised ``anscombe(y, peak, scale)`` (Makitalo and
    Foi's closed form), back on ``y``'s scale."""
    d = (a * (scale or span(peak))).clamp_min(FLOOR)
    root = math.sqrt(1.5)
    counts = d ** 2 / 4 + root / (4 * d) - 11 / (8 * d ** 2) + 5 * root / (8 * d ** 3) - 1 / 8
    return counts.clamp_min(0) / peak


def read_peak(y: torch.Tensor) -> float:
    """The peak of shot noise in ``y`` ``(1, C, H, W)`` on [0, 1], read where ``y`` saw
    ``LIT`` photons or more (3x3 mean; a black background, which shows no noise, had made
    astronaut at 5 photons read 6.9: -2.3 dB). ``2 sqrt(y)`` has std about ``1 /
    sqrt(peak)``: a first guess, low in the dark (where a few photons came, the root's noise
    is weaker); corrected twice to where Anscombe's transform gives noise of std 1, it comes
    out high instead, where a peak read too high costs most (the denoiser leaves noise).
    Their geometric mean: camera, astronaut, coffee, chelsea (256x256), moon and brick (128)
    at 2, 5, 30 and 100 photons, against the peak told: -0.28 dB on average, -1.33 at worst
    (moon at 2; from 5 photons up, -0.83: brick); each alone lost up to 3.8 dB."""
    local = F.avg_pool2d(y.clamp_min(0), 3, 1, 1, count_include_pad=False)
    # nor next to white where a file clipped y there (nothing above 1, some at 1 exactly:
    # camera 128 at 5 photons, saved in 8 bits, read 6.9; unclipped counts pass 1 freely)
    clipped = bool((y <= 1).all() and (y == 1).float().mean() > CLIPPED)
    unclipped = F.max_pool2d(y, 3, 1, 1) < 1 if clipped else torch.ones_like(y, dtype=torch.bool)

    def std(v: torch.Tensor, peak: float) -> float:
        lit = observed_sigma(v, ((local * peak >= LIT) & unclipped).float())[0]
        return max(lit if lit is not None else estimate_noise(v), 1e-3)  # (too few lit: all)

    root = 2 * torch.sqrt(y.clamp_min(0))
    first = 1 / std(root, 1 / max(estimate_noise(root), 1e-3) ** 2) ** 2
    peak = first
    for _ in range(2):
        peak = peak / std(anscombe(y, peak) * span(peak), peak) ** 2  # 1 at the right peak
    return math.sqrt(first * peak)


def grows_with_brightness(y: torch.Tensor) -> bool:
    """Whether the noise of ``y`` ``(1, C, H, W)`` on [0, 1] grows with its brightness as
    shot noise does (variance in proportion to it), where it shows (at least ``SHOWN`` in
    flat parts). The noise of each 8x8 block (its diagonal Haar coefficients' RMS, over the
    channels' mean) is taken from the flattest fifth of the blocks of each brightness bin,
    which leaves most texture out; of the variance a line ``a + b m`` through the bins gives
    at the image's mean brightness, ``b m`` is the share that grows, 0 for gaussian noise,
    1 for shot noise; it counts from 0.6 to 1.3 (higher is texture). Set12 and Kodak24 at
    3, 10 and 30 photons: 0.78-1.3 but for kodim24 (textured where bright) at 30; with
    gaussian noise of 15, 25 and 50/255: above 0.6 only kodim24 at 25 (1.06; at 15 it reads
    1.65), clean ones read under ``SHOWN``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.linspace(0.1, 0.9, 128).repeat(128, 1)[None, None]
        >>> grows_with_brightness(torch.poisson(30 * x, generator=g) / 30)
        True
        >>> grows_with_brightness(x + 0.1 * torch.randn(x.shape, generator=g))
        False
    """
    v = y.detach().mean(1).double().cpu()
    noise = block_rms(haar_band(v), BLOCK // 2)[0]  # (a band's 4x4 block: 8x8 pixels)
    means = F.avg_pool2d(v[:, None], BLOCK).flatten()
    points = []
    for low, high in zip(BINS[:-1], BINS[1:]):
        inside = (means >= low) & (means < high)
        if int(inside.sum()) >= 30:
            points.append(((low + high) / 2, float(torch.quantile(noise[inside], FLATTEST))))
    if len(points) < 3 or max(std for _, std in points) < SHOWN:
        return False
    m = torch.tensor([[1.0, mid] for mid, _ in points], dtype=torch.float64)
    a, b = torch.linalg.lstsq(m, torch.tensor([[std**2] for _, std in points], dtype=torch.float64)).solution[:, 0].tolist()
    mean = float(means.mean())
    share = b * mean / max(a + b * mean, 1e-12)
    return 0.6 <= share <= 1.3
