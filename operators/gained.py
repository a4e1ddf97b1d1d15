"""An operator times a number: ``gained(op, s)(x) == s * op(x)``.

An operator of one's own may measure on any scale: torch's FFT without ``norm="ortho"``
multiplies by the side of the image (64 at 64x64), a CT projection sums a line of pixels.
The priors read noise and weigh the data on the images' scale, so invprior restores
``y / g`` through ``gained(op, 1 / g)`` where ``g``, the operator's gain, is far from 1
(``invprior.operator_checks.far_gain``): the same problem, on the images' scale.

Example:
    >>> A = gained(Lambda(lambda x: 64 * x), 1 / 64)
    >>> A(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

import torch

from .base import Lambda, LinearOperator, Operator, as_operator


class Gained(Lambda):
    """``factor * op(x)``; what ``op`` says of itself (its first estimate, its projection
    onto the data, its noise) is said for the gained measurements."""

    def __init__(self, op: Operator, factor: float):
        super().__init__(self._measure)
        self.op, self.factor = op, float(factor)
        if op._fixed_input_shape:
            self.input_shape, self._fixed_input_shape = op.input_shape, True
        for said in ("good_initial_estimate", "is_identity", "projection_is_cheap"):
            setattr(self, said, getattr(op, said))

    @property
    def noise_visible(self):
        """``op``'s (invprior asks ``op`` whether it set it itself)."""
        return self.op.noise_visible

    def _measure(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * self.op(x)

    def initial_estimate(self, y):
        return self.op.initial_estimate(y / self.factor)

    def projection(self, y):
        return self.op.projection(y / self.factor)

    def noise_in_image(self, level: float) -> float:
        if type(self.op).noise_in_image is Operator.noise_in_image:  # (y on the image's
            return level  # scale now: its noise is the image's)
        return self.op.noise_in_image(level / self.factor)

    def input_shape_for(self, y_shape: tuple) -> tuple:
        return self.op.input_shape_for(y_shape)


class LinearGained(Gained, LinearOperator):
    """``Gained`` of a linear operator, with its adjoint (its own, where it has one)."""

    def adjoint(self, y):
        return self.factor * self.op.adjoint(y)


def gained(op, factor: float) -> Operator:
    """``factor * op(x)``, linear where ``op`` is."""
    op = as_operator(op)
    return (LinearGained if isinstance(op, LinearOperator) else Gained)(op, factor)
