"""One item of an operator that treats the items of a batch differently.

A solver restores a batch's observations one at a time, or in groups (one noise level
each, one network each), and calls the operator on those images alone. An operator that
applies item ``b``'s own parameter to batch row ``b`` (a blur per photo, a mask per
frame) would then measure every image with item 0's: a silently wrong fit (a batch of two
blurs, the second restored through the first's kernel: 20.0 dB instead of 26.5).
``item_of(op, b, batch)`` is the operator that item ``b`` alone sees.

Example:
    >>> kernels = torch.tensor([1.0, 2.0]).view(2, 1, 1, 1)
    >>> scale = Lambda(lambda x: kernels * x)          # item b scaled by kernels[b]
    >>> second = item_of(scale, 1, 2)
    >>> second(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
"""

from __future__ import annotations

import torch

from .base import Lambda, LinearOperator, Operator, Stack, as_operator
from .mask import Inpainting


class ItemOf(Lambda):
    """Item ``b`` of ``op``, which takes batches of ``batch``: each image ``x (1, C, H, W)``
    goes in as a batch of ``batch`` copies of itself, and row ``b`` of the measurements comes
    back (an image of several rows: row by row). ``batch`` times the operator's work; what
    the operator says of its first estimate and of the noise in its image is said for the
    item (and invprior reads ``noise_visible`` off ``op`` itself)."""

    def __init__(self, op: Operator, b: int, batch: int):
        super().__init__(self._measure)
        self.op, self.b, self.batch = op, b, batch
        self.good_initial_estimate = op.good_initial_estimate

    def _rows(self, fn, v: torch.Tensor) -> torch.Tensor:
        copies = lambda row: row.expand(self.batch, *row.shape[1:]).contiguous()  # noqa: E731
        return torch.cat([fn(copies(v[r : r + 1]))[self.b : self.b + 1] for r in range(len(v))])

    def _measure(self, x: torch.Tensor) -> torch.Tensor:
        return self._rows(self.op, x)

    def initial_estimate(self, y):
        if type(self.op).initial_estimate is Operator.initial_estimate:
            return None
        return self._rows(self.op.initial_estimate, y)

    def noise_in_image(self, level: float) -> float:
        return self.op.noise_in_image(level)

    def input_shape_for(self, y_shape: tuple) -> tuple:
        return self.op.input_shape_for(y_shape)


class LinearItemOf(ItemOf, LinearOperator):
    """``ItemOf`` a linear operator: linear too (its adjoint from autograd)."""


def item_of(op, b: int, batch: int) -> Operator:
    """The operator that item ``b`` of a batch of ``batch`` sees: an inpainting mask's row
    ``b``; a stack's, each part's; for an operator of one's own, ``ItemOf`` (linear where
    ``op`` is)."""
    op = as_operator(op)
    if type(op) is Inpainting:
        return Inpainting(op.mask[b : b + 1] if len(op.mask) > 1 else op.mask)
    if type(op) is Stack:  # each part's own item
        return Stack(*(item_of(part, b, batch) for part in op.ops))
    kind = LinearItemOf if isinstance(op, LinearOperator) else ItemOf
    return kind(op, b, batch)
