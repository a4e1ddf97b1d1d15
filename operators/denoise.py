"""Denoising: the identity forward model (the noise model does the work)."""

from __future__ import annotations

import torch

from .base import LinearOperator, is_damped


class Denoising(LinearOperator):
    """``y = x``; self-adjoint, norm 1, pseudo-inverse the identity.

    Example:
        >>> x = torch.rand(1, 3, 8, 8)
        >>> torch.equal(Denoising()(x), x)
        True
    """

    name = "denoise"
    is_identity = True
    noise_visible = True
    good_initial_estimate = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def initial_estimate(self, y: torch.Tensor) -> torch.Tensor:
        """The observation, clipped."""
        return y.detach().clamp(0, 1)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def pinv(self, y: torch.Tensor, *, damping: float = 0.0, **_) -> torch.Tensor:
        """``(I + damping I)^-1 y``, exactly (``damping``: a float or a per-item tensor)."""
        return y / (1 + damping) if is_damped(damping) else y
