"""The linearisation of a differentiable operator at a point: ``d -> J(x0) d``.

Plug-and-play's data step solves a damped least-squares problem with the conjugate
gradient, which needs a linear operator. For a nonlinear forward model ``f`` (saturation,
gamma, a learned model), one Gauss-Newton step of ``min ||f(x) - y||^2 + mu ||x - z||^2``
from ``x = z`` is ``z + pinv_mu(J) (y - f(z))``: the same solve on the Jacobian ``J`` at
``z``. ``torch.func`` gives ``J d`` (forward mode) and ``J^T r`` (reverse mode) without ever
forming ``J``; ``f`` is evaluated once, at ``z``.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from .base import LinearOperator

__all__ = ["Linearisation"]


class Linearisation(LinearOperator):
    """``J d`` for the Jacobian ``J`` of ``op`` at ``point``, with the exact adjoint ``J^T r``.

    Args:
        op: any operator (or differentiable callable) ``(B, C, H, W) -> y``.
        point: ``(B, C, H, W)``, where to linearise.

    Attributes:
        value: ``op(point)``, computed once (the residual ``y - value`` is what a
            Gauss-Newton step fits).

    Example:
        >>> x0 = torch.full((1, 1, 2, 2), 3.0)
        >>> J = Linearisation(lambda x: x ** 2, x0)
        >>> J.value[0, 0, 0].tolist(), J(torch.ones(1, 1, 2, 2))[0, 0, 0].tolist()
        ([9.0, 9.0], [6.0, 6.0])
        >>> J.adjoint(torch.ones(1, 1, 2, 2))[0, 0, 0].tolist()
        [6.0, 6.0]
    """

    def __init__(self, op, point: torch.Tensor):
        super().__init__(input_shape=tuple(point.shape[1:]))
        self.op, self.point = op, point.detach()
        # f(x0) and the pullback J^T in one reverse-mode trace, kept for every adjoint call
        with torch.enable_grad(), _readable_errors():
            self.value, self._pullback = torch.func.vjp(op, self.point)
        self.value = self.value.detach() if isinstance(self.value, torch.Tensor) else self.value

    def forward(self, d: torch.Tensor):
        # forward-mode AD works with or without grad mode, but a callable may check it
        with torch.enable_grad(), _readable_errors():
            _, out = torch.func.jvp(self.op, (self.point,), (d,))
        return out

    def adjoint(self, r) -> torch.Tensor:
        with _readable_errors():
            (grad,) = self._pullback(r)
        return grad


@contextmanager
def _readable_errors():
    """A forward model that leaves torch (numpy, in-place tricks) fails deep inside
    ``torch.func``: say so in one sentence."""
    try:
        yield
    except (RuntimeError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"torch cannot differentiate the forward operator ({first}); write it "
                         "with torch operations on the input tensor.") from None
