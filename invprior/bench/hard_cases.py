"""Cases where a fast local prior should struggle: large holes and nonlinear operators.

Large holes (256x256, ``cases.clean``): five boxes of 32 to 64 pixels a side, or eight thick
(14-pixel) scribbles, missing from camera (gray) and astronaut (RGB), noise-free, scored
inside the holes and overall. Nonlinear operators (128x128): ``y = sqrt(blur(x)) + noise``
(a gamma after a gaussian blur of std 1.5) and over-exposure ``y = clip(1.5 x, 0, 1) +
noise``, noise std 0.01, written as plain Python callables as a user would.

Example:
    >>> truth, y, op, holes = load_hard_case("boxes_camera")
    >>> y.shape, 0.1 < holes.float().mean().item() < 0.3
    (torch.Size([1, 1, 256, 256]), True)
"""

from __future__ import annotations

import torch

import operators as O

from .cases import _tensor, clean, sample_image

HOLE_CASES = ("boxes_camera", "boxes_astronaut", "scribbles_camera", "scribbles_astronaut")
NONLINEAR_CASES = ("gamma_camera", "gamma_astronaut", "overexposed_camera",
                   "overexposed_astronaut")
NOISE = 0.01


def load_hard_case(name: str):
    """``(truth, y, op, hidden)``: ``hidden`` is the boolean ``(1, 1, H, W)`` map of the
    pixels the observation does not show (the holes; for the nonlinear cases, the pixels
    that over-exposure saturates; all False for the gamma cases)."""
    kind, image = name.split("_")
    if name in HOLE_CASES:
        x = _tensor(clean(image))
        mask = O.boxes_mask((256, 256)) if kind == "boxes" else O.scribble_mask((256, 256), 8, 14.0, seed=3)
        op = O.Inpainting(mask)
        return x, op(x), op, (mask < 0.5)[None, None]
    if name not in NONLINEAR_CASES:
        raise ValueError(f"unknown case '{name}'; choose one of "
                         f"{', '.join(HOLE_CASES + NONLINEAR_CASES)}.")
    x = sample_image(image, 128)
    f = gamma_after_blur() if kind == "gamma" else overexposure()
    noise = NOISE * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    hidden = (f.gain * x >= 1) if kind == "overexposed" else torch.zeros_like(x, dtype=torch.bool)
    hidden = hidden.any(1, keepdim=True)
    return x, f(x) + noise, f, hidden


def gamma_after_blur():
    """``x -> sqrt(blur(x))``, gaussian blur of std 1.5: a plain function, as a user writes it."""
    blur = O.Blur(sigma=1.5)

    def gamma(x: torch.Tensor) -> torch.Tensor:
        return blur(x).clamp_min(1e-6) ** 0.5  # the floor keeps the gradient finite at 0

    gamma.blur = blur  # the classical reference deconvolves with it
    return gamma


def overexposure(gain: float = 1.5):
    """``x -> clip(gain x, 0, 1)``."""
    def overexpose(x: torch.Tensor) -> torch.Tensor:
        return (gain * x).clamp(0, 1)

    overexpose.gain = gain
    return overexpose


def classical(name: str, y: torch.Tensor, op, truth: torch.Tensor) -> tuple[str, torch.Tensor]:
    """The classical reference of a hard case: biharmonic inpainting; square, then the
    Wiener deconvolution of the best damping (picked against ``truth``: an upper bound of
    that route); over-exposure divided out (``y / 1.5``, the least-squares answer where
    nothing saturated)."""
    from ..metrics import psnr

    if name in HOLE_CASES:
        return "skimage biharmonic", O.biharmonic_inpaint(y, op.mask).clamp(0, 1)
    if name.startswith("gamma"):
        square = y.clamp_min(0) ** 2
        found = [op.blur.pinv(square, damping=d).clamp(0, 1) for d in (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)]
        return "square, then Wiener (best damping)", max(found, key=lambda x: psnr(x, truth))
    return "y / 1.5", (y / op.gain).clamp(0, 1)
