"""Dictionaries: the overcomplete 2-D DCT, and learning by (approximate) K-SVD.

Convention:
    A dictionary is ``(K, d)``: ``K`` unit-norm atoms as rows (see :mod:`.coding`); for
    image patches ``d = p * p`` in row-major pixel order, matching
    :func:`.patches.extract_patches` for one channel.
"""

from __future__ import annotations

import math

import torch

from .coding import SparseCodes, omp

__all__ = ["dct_dictionary", "learn_dictionary", "ksvd_step"]


def dct_dictionary(patch: int = 8, atoms: int = 256, *, device=None,
                   dtype=torch.float32) -> torch.Tensor:
    """Overcomplete separable 2-D DCT dictionary (the K-SVD paper's initialisation).

    ``m = ceil(sqrt(atoms))`` cosines of frequencies ``k * pi / m`` sampled on ``patch``
    points (non-constant ones made zero-mean), tensored in 2-D; the first ``atoms`` of the
    ``m * m`` products are kept.

    Returns:
        ``(atoms, patch * patch)`` unit-norm atoms; atom 0 is the constant one.

    Example:
        >>> dct_dictionary(8, 256).shape
        torch.Size([256, 64])
    """
    if patch < 1 or atoms < 1:
        raise ValueError(f"patch ({patch}) and atoms ({atoms}) must be positive.")
    m = math.ceil(math.sqrt(atoms))
    t = torch.arange(patch, dtype=torch.float64)
    V = torch.cos(t[:, None] * torch.arange(m, dtype=torch.float64)[None] * math.pi / m)
    V[:, 1:] -= V[:, 1:].mean(0)  # zero-mean AC atoms, as in Elad & Aharon's code
    V /= V.norm(dim=0)
    D = torch.kron(V, V).T[:atoms]  # (m*m, p*p) -> first `atoms` rows
    return D.to(device=device, dtype=dtype).contiguous()


def ksvd_step(X: torch.Tensor, D: torch.Tensor, codes: SparseCodes,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One approximate K-SVD dictionary update (Rubinstein, Zibulevsky & Elad 2008).

    For each atom ``k`` (in random order), on the signals that use it: take the residual
    ``E`` without atom ``k``, and replace the atom and its coefficients by one
    power-iteration step of the best rank-1 fit of ``E`` (``d = E^T g / |.|``,
    ``g = E d``). Atom and coefficients move together, which is what makes K-SVD
    converge faster than updating the dictionary alone (MOD).

    Args:
        X: ``(N, d)`` signals. D: ``(K, d)`` atoms. codes: OMP codes of ``X``.

    Returns:
        ``(D, R)``: the updated dictionary and the residual ``X - Z_new @ D_new``,
        ``(N, d)``, with the updated coefficients ``Z_new``.
    """
    D = D.clone()
    R = X - codes.reconstruct(D)
    # Group the nonzeros by atom once (sort), instead of searching a dense code matrix
    # for every atom: codes are very sparse (about one atom per patch when denoising).
    row, slot = (codes.value != 0).nonzero(as_tuple=True)
    atom = codes.index[row, slot]
    atom, perm = atom.sort(stable=True)
    row, val = row[perm], codes.value[row, slot][perm]
    ends = torch.bincount(atom, minlength=D.shape[0]).cumsum(0).tolist()
    for k in torch.randperm(D.shape[0], generator=generator).tolist():
        a, b = (ends[k - 1] if k else 0), ends[k]
        if a == b:
            continue
        w, g = row[a:b], val[a:b]
        E = R[w] + g.unsqueeze(1) * D[k]         # residual without atom k
        dk = g @ E
        nk = float(dk.norm())
        if nk < 1e-12:
            continue
        dk = dk / nk
        g = E @ dk
        R[w] = E - g.unsqueeze(1) * dk
        val[a:b] = g
        D[k] = dk
    return D, R


def _refresh(D: torch.Tensor, R: torch.Tensor, used: torch.Tensor,
             coherence: float) -> torch.Tensor:
    """Replace unused atoms and near-duplicates by the worst-represented signals.

    A dead or duplicated atom is wasted capacity; the signals with the largest residual
    are exactly what the dictionary is missing (Elad & Aharon's "clear dictionary").
    """
    G = (D @ D.T).abs()
    G.fill_diagonal_(0)
    dup = (G.triu().amax(0) > coherence)  # atom j duplicates an earlier atom
    bad = ((~used) | dup).nonzero().squeeze(1)
    if bad.numel() == 0:
        return D
    err = R.pow(2).sum(1)
    take = min(bad.numel(), int((err > 0).sum()))
    if take == 0:
        return D
    worst = err.topk(take).indices
    new = R[worst]  # the unexplained part of those signals
    new = new / new.norm(dim=1, keepdim=True).clamp_min(1e-12)
    D = D.clone()
    D[bad[:take]] = new
    return D


def learn_dictionary(X: torch.Tensor, atoms: int = 256, *, iters: int = 10,
                     sparsity: int | None = None, tol: float | torch.Tensor | None = None,
                     init: str | torch.Tensor = "dct", coherence: float = 0.99, seed: int = 0,
                     return_history: bool = False, progress: bool = False):
    """Learn a dictionary by approximate K-SVD: alternate batched OMP and atom updates.

    Minimises ``sum_i ||x_i - z_i D||^2`` over unit-norm atoms ``D`` and codes with
    ``||z_i||_0 <= sparsity``, or ``sum_i ||z_i||_0`` s.t. ``||x_i - z_i D||^2 <= tol``
    (the denoising form of Elad & Aharon 2006).

    Args:
        X: ``(N, d)`` training signals (rows).
        atoms: ``K``, the number of atoms.
        iters: K-SVD iterations (sparse coding + dictionary update).
        sparsity, tol: the OMP constraints (see :func:`.coding.omp`).
        init: ``"dct"`` (needs ``d`` a square: 2-D DCT of ``sqrt(d) x sqrt(d)`` patches),
            ``"data"`` (random normalised training signals) or a ``(K, d)`` tensor.
        coherence: atoms more similar than this to another one are replaced.
        seed: seed of the atom order and the ``"data"`` initialisation.
        return_history: also return ``{"mse": [...], "nnz": [...]}``, the mean squared
            residual per signal and the mean number of atoms after each sparse coding.
        progress: show a tqdm bar.

    Returns:
        ``(K, d)`` dictionary (and the history).

    Example:
        >>> X = torch.randn(2000, 64)
        >>> D, h = learn_dictionary(X, 128, iters=3, sparsity=4, return_history=True)
        >>> D.shape, h["mse"][-1] < h["mse"][0]
        (torch.Size([128, 64]), True)
    """
    if X.ndim != 2:
        raise ValueError(f"expected training signals (N, d), got shape {tuple(X.shape)}.")
    n, d = X.shape
    if atoms < 1 or iters < 0:
        raise ValueError(f"atoms must be positive and iters non-negative, got {atoms}, {iters}.")
    g = torch.Generator().manual_seed(seed)
    if isinstance(init, torch.Tensor):
        if init.shape != (atoms, d):
            raise ValueError(f"init must be ({atoms}, {d}), got {tuple(init.shape)}.")
        D = torch.nn.functional.normalize(init.to(X), dim=1)
    elif init == "dct":
        p = math.isqrt(d)
        if p * p != d:
            raise ValueError(f"init='dct' needs square patches, got dimension {d}; "
                             "use init='data'.")
        D = dct_dictionary(p, atoms, device=X.device, dtype=X.dtype)
    elif init == "data":
        if n < atoms:
            raise ValueError(f"init='data' needs at least {atoms} signals, got {n}.")
        pick = torch.randperm(n, generator=g)[:atoms].to(X.device)
        D = torch.nn.functional.normalize(X[pick], dim=1)
    else:
        raise ValueError(f"init must be 'dct', 'data' or a tensor, got {init!r}.")
    history = {"mse": [], "nnz": []}
    steps = range(iters)
    if progress:
        from tqdm.auto import tqdm

        from ..console import bar_options
        steps = tqdm(steps, desc="K-SVD", **bar_options(True, leave=True))
    for _ in steps:
        codes = omp(X, D, sparsity=sparsity, tol=tol, return_sparse=True)
        if return_history:  # how well the current dictionary codes the data
            history["mse"].append(float((X - codes.reconstruct(D)).pow(2).sum(1).mean()))
            history["nnz"].append(float(codes.nnz().float().mean()))
        D, R = ksvd_step(X, D, codes, generator=g)
        used = torch.zeros(D.shape[0], dtype=torch.bool, device=D.device)
        used[codes.index[codes.value != 0]] = True
        D = _refresh(D, R, used, coherence)
    return (D, history) if return_history else D
