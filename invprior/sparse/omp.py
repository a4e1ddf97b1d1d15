"""Sparse coding of many signals at once: batched OMP (l0) and ISTA / FISTA (l1).

Convention:
    Signals are rows, ``X`` is ``(N, d)``. A dictionary ``D`` is ``(K, d)`` with one
    unit-norm atom per row (scikit-learn's layout), so ``X ~= Z @ D`` with codes ``Z``
    ``(N, K)``. Everything runs on the device and in the dtype of ``X``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["SparseCodes", "omp", "ista", "lasso_objective"]


class SparseCodes(NamedTuple):
    """Codes stored as (atom index, coefficient) pairs, ``k`` slots per signal.

    ``index`` and ``value`` are ``(N, k)``; unused slots hold index 0 and value 0, so they
    add nothing. ``k`` is the largest number of atoms any signal used.
    """

    index: torch.Tensor
    value: torch.Tensor

    def dense(self, atoms: int) -> torch.Tensor:
        """The ``(N, atoms)`` code matrix."""
        z = self.value.new_zeros(self.value.shape[0], atoms)
        return z.scatter_add_(1, self.index, self.value)

    def nnz(self) -> torch.Tensor:
        """Number of atoms used by each signal, ``(N,)``."""
        return (self.value != 0).sum(1)

    def reconstruct(self, D: torch.Tensor) -> torch.Tensor:
        """``Z @ D`` without forming ``Z``: ``(N, d)``."""
        # Touch only the nonzeros: most signals use far fewer atoms than the widest one.
        row, slot = (self.value != 0).nonzero(as_tuple=True)
        contrib = self.value[row, slot].unsqueeze(1) * D[self.index[row, slot]]
        out = D.new_zeros(self.value.shape[0], D.shape[1])
        return out.index_add_(0, row, contrib)


def _omp_chunk(X: torch.Tensor, D: torch.Tensor, G: torch.Tensor, tol: torch.Tensor,
               kmax: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch-OMP (Rubinstein, Zibulevsky & Elad 2008) on one chunk of signals.

    Works on correlations only: ``alpha = D x - G[:, I] gamma``. The Cholesky factor of
    ``G[I, I]`` is kept as its inverse ``Linv`` so that adding an atom is two batched
    mat-vecs (no triangular solves), and ``c = Linv D_I x`` gives the residual energy for
    free: ``||r||^2 = ||x||^2 - ||c||^2`` (``c`` are the coordinates of x on the
    orthonormalised selected atoms).
    """
    n, K = X.shape[0], D.shape[0]
    alpha0 = X @ D.T
    out_i = torch.zeros(n, kmax, dtype=torch.long, device=X.device)
    out_v = X.new_zeros(n, kmax)
    r2 = (X * X).sum(1)
    act = (r2 > tol).nonzero().squeeze(1)  # signals already within tol use no atom
    a0, r2, tol = alpha0[act], r2[act], tol[act]
    alpha = a0
    na = act.numel()
    I = torch.zeros(na, 0, dtype=torch.long, device=X.device)
    Linv = X.new_zeros(na, 0, 0)
    c = X.new_zeros(na, 0)
    gamma = X.new_zeros(na, 0)
    for k in range(kmax):
        if act.numel() == 0:
            break
        j = alpha.abs().argmax(1)
        g = G[I, j.unsqueeze(1)]                               # (na, k) = <d_i, d_j>
        w = torch.bmm(Linv, g.unsqueeze(2)).squeeze(2)         # new row of the Cholesky factor
        d2 = 1.0 - (w * w).sum(1)
        ok = d2 > 1e-6  # else d_j is (numerically) in the span already: stop that signal
        if not bool(ok.all()):
            bad = ~ok
            out_i[act[bad], :k] = I[bad]
            out_v[act[bad], :k] = gamma[bad]
            keep = ok
            act, a0, alpha, r2, tol = act[keep], a0[keep], alpha[keep], r2[keep], tol[keep]
            I, Linv, c, j, w, d2 = I[keep], Linv[keep], c[keep], j[keep], w[keep], d2[keep]
            if act.numel() == 0:
                break
        dd = d2.sqrt()
        na = act.numel()
        L2 = Linv.new_zeros(na, k + 1, k + 1)
        L2[:, :k, :k] = Linv
        L2[:, k, :k] = -torch.bmm(w.unsqueeze(1), Linv).squeeze(1) / dd.unsqueeze(1)
        L2[:, k, k] = 1.0 / dd
        Linv = L2
        cn = (a0.gather(1, j.unsqueeze(1)).squeeze(1) - (w * c).sum(1)) / dd
        c = torch.cat([c, cn.unsqueeze(1)], 1)
        I = torch.cat([I, j.unsqueeze(1)], 1)
        r2 = r2 - cn * cn
        gamma = torch.bmm(Linv.transpose(1, 2), c.unsqueeze(2)).squeeze(2)  # G_II^-1 D_I x
        done = r2 <= tol
        if k + 1 == kmax:
            done[:] = True
        if bool(done.any()):
            out_i[act[done], :k + 1] = I[done]
            out_v[act[done], :k + 1] = gamma[done]
            keep = ~done
            act, a0, r2, tol = act[keep], a0[keep], r2[keep], tol[keep]
            I, Linv, c, gamma = I[keep], Linv[keep], c[keep], gamma[keep]
        if act.numel() == 0:
            break
        # Correlations of the new residual with all atoms, from the Gram matrix only.
        alpha = a0 - torch.bmm(gamma.unsqueeze(1), G[I]).squeeze(1)
    return out_i, out_v


def omp(X: torch.Tensor, D: torch.Tensor, *, sparsity: int | None = None,
        tol: float | torch.Tensor | None = None, chunk: int = 16384,
        return_sparse: bool = False):
    """Orthogonal Matching Pursuit for many signals at once (Gram / Cholesky based).

    Solves, for every row ``x`` of ``X``, ``min ||z||_0`` s.t. ``||x - z D||^2 <= tol``
    (error-bounded form) and/or ``||z||_0 <= sparsity`` (sparsity form), greedily.
    All signals advance together; a signal leaves the batch as soon as it is done, so the
    cost follows the number of atoms actually used.

    Args:
        X: ``(N, d)`` signals.
        D: ``(K, d)`` dictionary, atoms as unit-norm rows.
        sparsity: largest number of atoms per signal. Default without ``tol``: none
            given is an error; with ``tol``: ``d // 2``.
        tol: squared residual norm to reach, a float or an ``(N,)`` tensor
            (scikit-learn's ``tol``). For Gaussian noise of std ``s`` per entry,
            ``d * (1.15 * s) ** 2`` is the usual choice.
        chunk: signals per batch (bounds memory to about ``chunk * K * sparsity`` floats).
        return_sparse: return :class:`SparseCodes` instead of a dense ``(N, K)`` matrix.

    Returns:
        ``(N, K)`` codes ``Z`` with ``X ~= Z @ D``, or :class:`SparseCodes`.

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(128, 32), dim=1)
        >>> Z = torch.zeros(5, 128); Z[:, :3] = torch.randn(5, 3)
        >>> torch.allclose(omp(Z @ D, D, sparsity=3), Z, atol=1e-4)
        True
    """
    if X.ndim != 2 or D.ndim != 2 or X.shape[1] != D.shape[1]:
        raise ValueError(f"expected X (N, d) and D (K, d) with the same d, got {tuple(X.shape)} "
                         f"and {tuple(D.shape)}.")
    K, d = D.shape
    if sparsity is None and tol is None:
        raise ValueError("give a sparsity level, an error bound tol, or both.")
    if sparsity is None:
        sparsity = max(1, d // 2)
    if not 1 <= int(sparsity) <= min(K, d):
        raise ValueError(f"sparsity must be between 1 and min(atoms, dim) = {min(K, d)}, "
                         f"got {sparsity}.")
    kmax = int(sparsity)
    X = X.contiguous()
    D = D.to(X)
    n = X.shape[0]
    if tol is None:
        tol_t = X.new_zeros(n)
    else:
        tol_t = torch.as_tensor(tol, dtype=X.dtype, device=X.device).expand(n)
        if bool((tol_t < 0).any()):
            raise ValueError("tol must be non-negative.")
    G = D @ D.T
    idx, val = [], []
    for s in range(0, n, chunk):
        i, v = _omp_chunk(X[s:s + chunk], D, G, tol_t[s:s + chunk], kmax)
        idx.append(i)
        val.append(v)
    if n == 0:
        idx, val = [torch.zeros(0, kmax, dtype=torch.long, device=X.device)], [X.new_zeros(0, kmax)]
    index, value = torch.cat(idx), torch.cat(val)
    used = int((value != 0).sum(1).max()) if n else 0
    codes = SparseCodes(index[:, :max(used, 1)], value[:, :max(used, 1)])
    return codes if return_sparse else codes.dense(K)


def lasso_objective(X: torch.Tensor, D: torch.Tensor, Z: torch.Tensor, lam: float) -> torch.Tensor:
    """``sum_i 0.5 ||x_i - z_i D||^2 + lam ||z_i||_1`` (a scalar tensor)."""
    return 0.5 * (X - Z @ D).pow(2).sum() + lam * Z.abs().sum()


def ista(X: torch.Tensor, D: torch.Tensor, lam: float, *, iters: int = 200, fast: bool = True,
         Z0: torch.Tensor | None = None) -> torch.Tensor:
    """l1 sparse coding by (F)ISTA: ``min_Z 0.5 ||X - Z D||^2 + lam ||Z||_1``.

    Proximal gradient with step ``1 / ||D D^T||_2``; ``fast=True`` adds Nesterov momentum
    (FISTA, Beck & Teboulle 2009), which converges as ``1/t^2`` instead of ``1/t``.

    Args:
        X: ``(N, d)`` signals. D: ``(K, d)`` dictionary. lam: l1 weight (> 0).
        iters: iterations. fast: FISTA instead of ISTA. Z0: ``(N, K)`` warm start.

    Returns:
        ``(N, K)`` codes.

    Example:
        >>> D = torch.nn.functional.normalize(torch.randn(64, 16), dim=1)
        >>> Z = ista(torch.randn(10, 16), D, lam=0.1)
        >>> Z.shape
        torch.Size([10, 64])
    """
    if X.ndim != 2 or D.ndim != 2 or X.shape[1] != D.shape[1]:
        raise ValueError(f"expected X (N, d) and D (K, d) with the same d, got {tuple(X.shape)} "
                         f"and {tuple(D.shape)}.")
    if lam <= 0:
        raise ValueError(f"lam must be positive, got {lam}.")
    D = D.to(X)
    G = D @ D.T
    B = X @ D.T
    L = torch.linalg.eigvalsh(G)[-1].clamp_min(1e-12)  # Lipschitz constant of the gradient
    Z = X.new_zeros(X.shape[0], D.shape[0]) if Z0 is None else Z0.to(X).clone()
    Y, t = Z, 1.0
    for _ in range(iters):
        V = Y - (Y @ G - B) / L
        Zn = torch.sign(V) * (V.abs() - lam / L).clamp_min(0)  # soft threshold = prox of l1
        if fast:
            tn = (1 + (1 + 4 * t * t) ** 0.5) / 2
            Y = Zn + ((t - 1) / tn) * (Zn - Z)
            t = tn
        else:
            Y = Zn
        Z = Zn
    return Z
