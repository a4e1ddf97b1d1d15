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


def _omp_chunk(X: torch.Tensor, D: torch.Tensor, Dt: torch.Tensor, tol: torch.Tensor,
               kmax: int) -> tuple[torch.Tensor, torch.Tensor]:
    """OMP with a progressive Cholesky factorisation, for one chunk of signals.

    State per signal: the selected atoms ``I``, their Gram-Schmidt orthonormalisation
    ``Q = L^-1 D_I`` (``L L^T = G_II``, the Cholesky factor of their Gram matrix), the
    inverse factor ``Linv = L^-1`` and the coordinates ``c = Q x``. Adding atom ``j``:
    ``w = Q d_j = L^-1 G_Ij`` is the new row of ``L``, ``|d_j - w Q| = sqrt(1 - |w|^2)`` its
    diagonal, and the residual ``r`` loses its component on the new ``q``. So each step is
    a handful of batched dot products, no triangular solve, and the residual energy
    ``|r|^2 = |x|^2 - |c|^2`` is free. The codes are ``gamma = Linv^T c = G_II^-1 D_I x``.

    Why the residual form rather than Batch-OMP's Gram update ``alpha = D x - G_I gamma``:
    that costs ``K`` per selected atom and signal (a gather of Gram rows), this costs
    ``d`` per atom plus one dense ``(n, d) x (d, K)`` GEMM per step; for 8x8 patches and
    256 atoms (d = 64 < K) it measured 1.4x (error-bounded) to 3x (16 atoms) faster on CPU.
    """
    n, d = X.shape
    out_i = torch.zeros(n, kmax, dtype=torch.long, device=X.device)
    out_v = X.new_zeros(n, kmax)
    r2 = (X * X).sum(1)
    act = (r2 > tol).nonzero().squeeze(1)  # signals already within tol use no atom
    r, r2, tol = X[act], r2[act], tol[act]
    na = act.numel()
    I = torch.zeros(na, 0, dtype=torch.long, device=X.device)
    Q = X.new_zeros(na, 0, d)
    Linv = X.new_zeros(na, 0, 0)
    c = X.new_zeros(na, 0)

    def finish(sel: torch.Tensor, k: int) -> None:
        out_i[act[sel], :k] = I[sel]
        out_v[act[sel], :k] = (Linv[sel] * c[sel].unsqueeze(2)).sum(1)  # Linv^T c

    for k in range(kmax):
        if na == 0:
            break
        j = (r @ Dt).abs_().argmax(1)                  # atom most correlated with the residual
        dj = D[j]
        w = (Q * dj.unsqueeze(1)).sum(2)               # new row of L (elementwise: faster
        d2 = 1.0 - (w * w).sum(1)                      # than bmm for these tiny shapes)
        ok = d2 > 1e-6  # else d_j is (numerically) in the span already: that signal stops
        if not bool(ok.all()):
            finish(~ok, k)
            act, r, r2, tol, I, Q, Linv, c, j, dj, w, d2 = (
                t[ok] for t in (act, r, r2, tol, I, Q, Linv, c, j, dj, w, d2))
            na = act.numel()
            if na == 0:
                break
        dd = d2.sqrt().unsqueeze(1)
        q = (dj - (w.unsqueeze(2) * Q).sum(1)) / dd     # orthonormalised new atom
        L2 = Linv.new_zeros(na, k + 1, k + 1)
        L2[:, :k, :k] = Linv
        L2[:, k, :k] = -(w.unsqueeze(2) * Linv).sum(1) / dd
        L2[:, k, k] = 1.0 / dd.squeeze(1)
        Linv = L2
        cn = (q * r).sum(1)
        r = r - cn.unsqueeze(1) * q
        r2 = r2 - cn * cn
        Q = torch.cat([Q, q.unsqueeze(1)], 1)
        c = torch.cat([c, cn.unsqueeze(1)], 1)
        I = torch.cat([I, j.unsqueeze(1)], 1)
        done = r2 <= tol
        if k + 1 == kmax:
            done[:] = True
        if bool(done.any()):  # finished signals leave the batch: cost follows the work
            finish(done, k + 1)
            keep = ~done
            act, r, r2, tol, I, Q, Linv, c = (t[keep] for t in (act, r, r2, tol, I, Q, Linv, c))
            na = act.numel()
    return out_i, out_v


def omp(X: torch.Tensor, D: torch.Tensor, *, sparsity: int | None = None,
        tol: float | torch.Tensor | None = None, chunk: int = 8192,
        return_sparse: bool = False):
    """Orthogonal Matching Pursuit for many signals at once (progressive Cholesky).

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
        chunk: signals per batch (bounds memory to about ``chunk * (K + d * sparsity)`` floats).
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
    Dt = D.T.contiguous()
    idx, val = [], []
    for s in range(0, n, chunk):
        i, v = _omp_chunk(X[s:s + chunk], D, Dt, tol_t[s:s + chunk], kmax)
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
