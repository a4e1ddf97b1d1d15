"""A stack's measurements as one vector, for a solver whose data step takes one tensor.

``Stack(A_1, ..., A_k)`` measures an image k ways and gives a tuple ``(y_1, ..., y_k)``.
Plug-and-play's data step, a conjugate gradient on ``y - A x``, is written for one tensor;
``FlatStack`` is the same operator with its measurements flattened and laid end to end,
``(B, m_1 + ... + m_k)``, so that the step sees ``sum_i ||A_i x - y_i||^2`` unchanged
(the adjoint splits the vector back and sums the parts' adjoints).

Example:
    >>> from operators import Blur, Denoising, Stack
    >>> stack = Stack(Denoising(), Blur(sigma=1.0))
    >>> flat = FlatStack(stack, (1, 8, 8))
    >>> x = torch.rand(1, 1, 8, 8)
    >>> y = flat.flatten(stack(x))
    >>> y.shape, torch.equal(flat(x), y)
    (torch.Size([1, 128]), True)
    >>> torch.allclose(flat.adjoint(y), stack.adjoint(stack(x)))
    True
"""

from __future__ import annotations

import math

import torch

from .base import LinearOperator, Stack


class FlatStack(LinearOperator):
    """``stack`` on images of ``image_shape`` ``(C, H, W)``, its measurements flattened
    into one ``(B, m)`` vector (see the module docstring), part ``i`` times ``weights[i]``
    (default 1): parts of unequal noise, each weighted by the lowest level over its own,
    have noise of that lowest level all through."""

    def __init__(self, stack: Stack, image_shape: tuple, weights=None):
        if not isinstance(stack, Stack):
            raise ValueError(f"FlatStack lays out a Stack's measurements, got {type(stack).__name__}.")
        super().__init__(input_shape=tuple(image_shape))
        self.stack = stack
        with torch.no_grad():  # each part's measurement shape, from one probe
            probe = stack(torch.zeros(1, *image_shape, device=_device_of(stack)))
        self.shapes = [tuple(part.shape[1:]) for part in probe]
        self.weights = [1.0] * len(self.shapes) if weights is None else [float(w) for w in weights]
        if len(self.weights) != len(self.shapes):
            raise ValueError(f"FlatStack takes one weight per part ({len(self.shapes)}), "
                             f"got {len(self.weights)}.")

    def flatten(self, y: tuple) -> torch.Tensor:
        """The tuple of measurements ``y`` (one ``(B, ...)`` tensor per part) as ``(B, m)``,
        each part weighted."""
        return torch.cat([w * part.flatten(1) for w, part in zip(self.weights, y)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.stack(x))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        sizes = [math.prod(shape) for shape in self.shapes]
        parts = torch.split(y, sizes, 1)
        return self.stack.adjoint(tuple(w * part.reshape(-1, *shape) for w, part, shape
                                        in zip(self.weights, parts, self.shapes)))

    def input_shape_for(self, y_shape: tuple) -> tuple:
        return self.input_shape


def _device_of(module: torch.nn.Module) -> torch.device:
    """Where ``module``'s buffers are (the CPU when it holds none)."""
    held = next(module.buffers(), None)
    return held.device if held is not None else torch.device("cpu")
