"""Conjugate gradient: the solver of every normal equation here (``pinv``, data steps,
the harmonic fill, the smoothest fit), one system per batch item."""

from __future__ import annotations

import torch

__all__ = ["conjugate_gradient"]


def conjugate_gradient(normal, b: torch.Tensor, *, x0: torch.Tensor | None = None,
                       tol: float = 1e-6, max_iter: int = 100, dot=None) -> torch.Tensor:
    """Solve ``normal(x) = b`` for a symmetric positive (semi-)definite map, one system per
    batch item, each stopping on its own (so a batch solves exactly as its items alone).

    ``x0``: the start (default zero). ``tol``: on the residual relative to ``b``. ``dot(a,
    b)``: the inner products of the independent systems, broadcastable against ``b``
    (default: one per batch item, ``(B, 1, ..., 1)``; per image plane, for example, sum
    over the last two dimensions only). Returns the iterate with the smallest residual.

    Example:
        >>> b = torch.ones(2, 1, 3, 3)
        >>> torch.allclose(conjugate_gradient(lambda v: 4 * v, b), b / 4)
        True
        >>> torch.allclose(conjugate_gradient(lambda v: 4 * v, b, x0=b), b / 4)
        True
    """
    dot = dot or _item_dot
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b.clone() if x0 is None else b - normal(x)
    p = r.clone()
    rr = dot(r, r)
    tiny = torch.finfo(b.dtype).tiny
    b_norm = dot(b, b).sqrt().clamp_min(tiny)
    # below a few rounding errors the recursion loses conjugacy and can blow up (measured:
    # float32 downsampling normal equations diverged after ~20 steps): never aim lower, and
    # return the iterate with the smallest residual
    tol = max(tol, 8 * torch.finfo(b.dtype).eps)
    best, best_rr = x, rr
    for _ in range(max_iter):
        active = rr.sqrt() > tol * b_norm
        if not bool(active.any()):
            break
        ap = normal(p)
        pap = dot(p, ap)
        alpha = torch.where(active & (pap > 0), rr / pap.clamp_min(tiny), 0.0)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = dot(r, r)
        beta = torch.where(rr > 0, rr_new / rr.clamp_min(tiny), 0.0)
        p = torch.where(active, r + beta * p, p)  # a converged system stays where it is
        rr = rr_new
        better = rr < best_rr
        best = torch.where(better, x, best)
        best_rr = torch.minimum(rr, best_rr)
    return best


def _item_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The inner product of each batch item, shaped to broadcast against ``a``:
    ``(B, 1, ..., 1)``."""
    return (a * b).flatten(1).sum(1).view((-1,) + (1,) * (a.ndim - 1))
