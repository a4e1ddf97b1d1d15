"""Noise models ``y -> y + noise``: gaussian, Poisson, salt-and-pepper.

Each model draws its randomness from a CPU generator seeded with ``seed`` on every call, so
the same seed gives the same noise on any device (then moved to the input's device).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import as_number, as_seed


def _number(value, what: str) -> float:
    """``value`` as a finite float (``as_number``), or ``ValueError`` naming ``what`` (NaN
    and infinity passed)."""
    number = as_number(value, what)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {number:g}.")
    return number


class Noise(nn.Module):
    """Base class: ``forward(y)`` returns a noisy copy of ``y`` (tensor or tuple of them, of
    floating point: noise on integer pixels would be rounded away)."""

    is_noise_model = True  # (``compose`` refuses one: operators.base cannot import this file)

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = as_seed(seed, "the noise seed")

    def forward(self, y):
        g = torch.Generator().manual_seed(self.seed)
        for part in y if isinstance(y, tuple) else (y,):
            if not (isinstance(part, torch.Tensor) and part.is_floating_point()):
                kind = part.dtype if isinstance(part, torch.Tensor) else type(part).__name__
                raise ValueError(f"noise is added to floating-point tensors on the [0, 1] scale, "
                                 f"got {kind} (x.float() / 255 for 8-bit pixels).")
        if isinstance(y, tuple):
            return tuple(self.corrupt(part, g) for part in y)
        return self.corrupt(y, g)

    def corrupt(self, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        """``GaussianNoise(sigma=0.05, seed=0)``: the level a subclass keeps, and the seed."""
        levels = [f"{k}={getattr(self, k):g}" for k in ("sigma", "peak", "p") if hasattr(self, k)]
        return ", ".join(levels + [f"seed={self.seed}"])


class GaussianNoise(Noise):
    """Additive white gaussian noise of standard deviation ``sigma`` (not clipped).

    Example:
        >>> y = GaussianNoise(0.1, seed=0)(torch.zeros(1, 1, 64, 64))
        >>> round(y.std().item(), 1)
        0.1
    """

    def __init__(self, sigma: float, seed: int = 0):
        super().__init__(seed)
        sigma = _number(sigma, "the noise sigma")
        if not 0 <= sigma <= 1:
            # papers state noise levels on the 0-255 scale: a std of 25 on a [0, 1] image
            # was added without a word
            raise ValueError(f"the gaussian noise sigma is on the image's [0, 1] scale, from 0 "
                             f"to 1, got {sigma:g}{scale_hint(sigma)}.")
        self.sigma = sigma

    def corrupt(self, y, g):
        noise = torch.randn(y.shape, generator=g, dtype=torch.float64)
        return y + (self.sigma * noise).to(y)


SIGNED = 0.1  # the share of values under 0 from which y is taken as signed measurements


class PoissonNoise(Noise):
    """Shot noise: ``Poisson(peak * y) / peak`` (``y`` clamped at 0); smaller peak, more noise.

    Example:
        >>> y = PoissonNoise(peak=10, seed=0)(torch.full((1, 1, 8, 8), 0.5))
        >>> bool((y * 10 == (y * 10).round()).all())
        True
    """

    def __init__(self, peak: float, seed: int = 0):
        super().__init__(seed)
        peak = _number(peak, "the Poisson peak")
        if not peak > 0:
            raise ValueError(f"the Poisson peak must be positive, got {peak:g}.")
        self.peak = peak

    def corrupt(self, y, g):
        # a few values under 0 are an operator's overshoot (bicubic), clamped; signed
        # measurements (compressed sensing: half below 0) would be wiped out without a word
        if (y < 0).float().mean() > SIGNED:
            raise ValueError(f"Poisson noise counts photons, values from 0 up, but "
                             f"{(y < 0).float().mean():.0%} of y's values are negative (signed "
                             f"measurements, such as compressed sensing's); use gaussian noise.")
        rate = (y.detach().double().cpu().clamp_min(0) * self.peak)
        return (torch.poisson(rate, generator=g) / self.peak).to(y)


class SaltPepperNoise(Noise):
    """Impulse noise: a fraction ``p`` of values set to 0 or 1 with equal chance.

    Example:
        >>> y = SaltPepperNoise(0.2, seed=0)(torch.full((1, 1, 32, 32), 0.5))
        >>> round((y != 0.5).float().mean().item(), 1)
        0.2
    """

    def __init__(self, p: float, seed: int = 0):
        super().__init__(seed)
        p = _number(p, "the salt-and-pepper fraction")
        if not 0 <= p <= 1:
            raise ValueError(f"the salt-and-pepper fraction must be in [0, 1], got {p:g}.")
        self.p = p

    def corrupt(self, y, g):
        u = torch.rand(y.shape, generator=g, dtype=torch.float64)
        hit = (u < self.p).to(y.device)
        salt = (u < self.p / 2).to(y)
        return torch.where(hit, salt, y)


NOISES = {"gaussian": GaussianNoise, "poisson": PoissonNoise, "saltpepper": SaltPepperNoise}


def scale_hint(level: float) -> str:
    """What a noise std above 1 would be on our [0, 1] scale, read as on the 0-255 scale
    that papers state levels on ("" outside (1, 255]).

    Example:
        >>> scale_hint(25), scale_hint(300)
        ('; 25 on the 0-255 scale is 0.098', '')
    """
    return f"; {level:g} on the 0-255 scale is {level / 255:.3f}" if 1 < level <= 255 else ""


def make_noise(spec: str | None, seed: int = 0) -> Noise | None:
    """Parse ``"gaussian:0.05"``, ``"poisson:30"`` or ``"saltpepper:0.1"`` (None/"none": no noise).

    A bare number means gaussian sigma.

    Example:
        >>> make_noise("gaussian:0.05").sigma
        0.05
    """
    if spec is not None and not str(spec).strip():  # (--noise "" added none, unsaid)
        raise ValueError("the noise is empty; give one such as gaussian:0.05, or none.")
    if spec is None or str(spec).strip().lower() in ("none", "0"):
        return None
    name, _, value = str(spec).partition(":")
    if not value:
        try:  # a bare number is a gaussian sigma; a bare word is a noise missing its level
            float(name)
            name, value = "gaussian", name
        except ValueError:
            pass
    if name not in NOISES:
        raise ValueError(f"unknown noise '{name}'; choose one of {', '.join(NOISES)} (e.g. gaussian:0.05).")
    try:
        level = float(value)
    except ValueError:
        raise ValueError(f"the noise level in '{spec}' is not a number (e.g. {name}:0.05).") from None
    if not math.isfinite(level):
        raise ValueError(f"the noise level in '{spec}' must be finite.")
    return NOISES[name](level, seed=seed)
