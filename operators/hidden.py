"""Pixels a nonlinear operator hides, and where to start them.

A saturated pixel of ``y = clip(1.5 x, 0, 1)`` says only "x >= 2/3": the operator's Jacobian
is zero there, so a fit of ``y`` never moves it and a denoiser keeps it as flat as it
started. ``hidden_pixels`` finds such pixels from the Jacobian; ``fill_hidden`` puts each at
the middle of the values that keep it hidden (the mean under a flat prior on what ``y``
allows; for the saturation above: 5/6), instead of at the bound where a fit leaves it.
A pixel that every value keeps hidden (one the operator never looks at: every other row,
say) is filled from its neighbours instead (``mask.harmonic_inpaint``): at mid-gray, rows
of it in a colour photo stay as stripes (every other row of a 64x64 astronaut crop through
a plain callable: 16.0 dB after plug-and-play, 34.7 filled from the neighbours).

Measured through plug-and-play with the CNN denoiser (BENCHMARKS.md, "Nonlinear
operators", over-exposure ``clip(1.5 x, 0, 1)`` + noise 0.01, 128x128, PSNR inside the
saturated pixels): camera 17.45 -> 25.31 dB, astronaut 21.17 -> 23.14 when they were made to
start mid-range (25.45 and 23.10 in BENCHMARKS.md now), where the deep image prior reaches
20.12 and 22.96 in over a minute.
"""

from __future__ import annotations

import torch

from .linearise import Linearisation
from .mask import harmonic_inpaint

__all__ = ["hidden_pixels", "fill_hidden"]

UNSEEN = 1e-3  # of the mean sensitivity, below which a pixel counts as hidden
PROBE = 0.01   # hidden on either side of the point: a pixel right at the bound counts too
LEVELS = 21    # values tried per hidden pixel, 0 to 1


def _sensitivity(op, x: torch.Tensor) -> torch.Tensor:
    """``|J^T J 1|`` at ``x``: how much each pixel moves the operator's output."""
    jacobian = Linearisation(op, x)
    return jacobian.adjoint(jacobian(torch.ones_like(x))).abs()


def hidden_pixels(op, x: torch.Tensor) -> torch.Tensor:
    """Where ``op``'s Jacobian is zero (``J^T J 1`` below ``UNSEEN`` of its mean) at ``x``
    ``(B, C, H, W)`` moved ``PROBE`` up or down (within [0, 1]): a bool map like ``x``.

    Example:
        >>> x = torch.linspace(0, 1, 6).view(1, 1, 1, 6)
        >>> hidden_pixels(lambda v: (1.5 * v).clamp(0, 1), x).int().tolist()
        [[[[0, 0, 0, 0, 1, 1]]]]
    """
    hidden = torch.zeros_like(x, dtype=torch.bool)
    for side in (PROBE, -PROBE):
        seen = _sensitivity(op, (x + side).clamp(0, 1))
        hidden |= seen <= UNSEEN * seen.mean()
    return hidden


def fill_hidden(op, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """``x`` with each ``hidden`` pixel set to the middle of the values in [0, 1] (``LEVELS``
    of them tried, all hidden pixels at once) at which it stays hidden, one that every
    value hides to the harmonic fill from the other pixels of its plane (mid-gray where
    there are none); a pixel that no value hides keeps its own.

    Example:
        >>> x = torch.tensor([[[[0.2, 0.67, 0.7]]]])
        >>> saturate = lambda v: (1.5 * v).clamp(0, 1)
        >>> filled = fill_hidden(saturate, x, hidden_pixels(saturate, x))
        >>> [round(v, 2) for v in filled.flatten().tolist()]  # the middle of 0.7 .. 1
        [0.2, 0.85, 0.85]
        >>> x = torch.tensor([[[[0.2], [0.5], [0.4]]]])  # the middle row is never looked at
        >>> every_other = lambda v: v[..., ::2, :]
        >>> [round(v, 2) for v in fill_hidden(every_other, x, hidden_pixels(every_other, x)).flatten().tolist()]
        [0.2, 0.3, 0.4]
    """
    if not hidden.any():
        return x
    reference = _sensitivity(op, x).mean()
    low, high = torch.full_like(x, 2.0), torch.full_like(x, -1.0)
    for level in torch.linspace(0, 1, LEVELS).tolist():
        still = hidden & (_sensitivity(op, torch.where(hidden, level, x)) <= UNSEEN * reference)
        low = torch.where(still, low.clamp(max=level), low)
        high = torch.where(still, high.clamp(min=level), high)
    unseen = hidden & (low <= 0) & (high >= 1)
    seen_some = (~unseen).flatten(-2).any(-1)[..., None, None]  # per plane
    middle = (low + high) / 2
    if (unseen & seen_some).any():
        middle = torch.where(unseen & seen_some, harmonic_inpaint(x, (~unseen).to(x.dtype)), middle)
    return torch.where(hidden & (high >= low), middle, x)
