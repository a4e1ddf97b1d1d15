"""Data-fidelity losses ``l(y, A x)`` for the optimisation loop (``fit``).

Squared l2 suits gaussian noise; l1 and Huber are robust to impulse noise and outliers
(salt-and-pepper, dead pixels), where squared l2 lets a few wild values drag the fit.
Measurements may be tensors or tuples of tensors (stacked operators): the loss is summed
over the parts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("l2sq", "l2", "l1", "huber")


def data_loss(pred, target, kind: str = "l2sq", delta: float = 0.05) -> torch.Tensor:
    """Per-batch-item loss, shape ``(B,)``.

    ``l2sq``: mean squared error; ``l2``: root mean squared error (not squared); ``l1``: mean
    absolute error; ``huber``: mean Huber loss with threshold ``delta``.

    Example:
        >>> data_loss(torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2), "l1").tolist()
        [1.0, 1.0]
    """
    if isinstance(pred, tuple):
        return sum(data_loss(p, t, kind, delta) for p, t in zip(pred, target))
    if kind == "l2sq":
        return (pred - target).square().flatten(1).mean(1)
    if kind == "l2":
        return (pred - target).square().flatten(1).mean(1).clamp_min(1e-20).sqrt()
    if kind == "l1":
        return (pred - target).abs().flatten(1).mean(1)
    if kind == "huber":
        return F.huber_loss(pred, target, delta=delta, reduction="none").flatten(1).mean(1)
    raise ValueError(f"unknown loss '{kind}'; choose one of {', '.join(LOSSES)}.")


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation per batch item, mean absolute neighbour difference ``(B,)``."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    return dh + dw
