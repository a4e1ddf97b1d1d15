"""Principal components in closed form: the linear prior, and the starting codes of GLO.

The linear special case of the factorisation ``min_{W,b,Z} sum_i ||x_i - b - W z_i||^2``
is solved by PCA (Eckart-Young): ``b`` the mean, ``W`` spanning the top-``k`` principal
subspace. Scaling the components by their standard deviations makes ``z ~ N(0, I)`` the
Gaussian model of the data, so the Gaussian latent penalty of the solver is exactly a
Wiener (MAP) estimate for a linear operator.
"""

from __future__ import annotations

import torch

CONSTRAINTS = ("sphere", "ball", "free")


def principal_components(x: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """Mean ``(n,)``, top components ``(r, n)`` and their variances ``(r,)`` of ``x (N, n)``.

    ``r = min(k, N - 1, n)``. Computed by an SVD in float64; each component's sign is
    fixed (largest-magnitude entry positive) so that the result is reproducible.

    Example:
        >>> x = torch.randn(50, 3) * torch.tensor([3.0, 1.0, 0.1])
        >>> mean, comps, var = principal_components(x, 2)
        >>> comps.abs().argmax(1).tolist()
        [0, 1]
    """
    x = x.double()
    mean = x.mean(0)
    r = max(0, min(k, x.shape[0] - 1, x.shape[1]))
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    comps, var = vh[:r], s[:r] ** 2 / x.shape[0]
    sign = comps.gather(1, comps.abs().argmax(1, keepdim=True)).sign()
    return mean.float(), (comps * sign).float(), var.float()


def project(z: torch.Tensor, constraint: str) -> torch.Tensor:
    """Codes ``(N, k)`` onto the unit ``sphere``, into the unit ``ball``, or ``free`` (as is).

    Example:
        >>> project(torch.tensor([[3.0, 4.0]]), "sphere").tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    if constraint == "free":
        return z
    norm = z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    if constraint == "sphere":
        return z / norm
    if constraint == "ball":
        return z / norm.clamp_min(1.0)
    raise ValueError(f"unknown code constraint '{constraint}'; use {', '.join(CONSTRAINTS)}.")


def pca_codes(x: torch.Tensor, mean: torch.Tensor, comps: torch.Tensor, var: torch.Tensor,
              k: int) -> torch.Tensor:
    """Starting codes ``(N, k)``: PCA coefficients of ``x (N, n)``, scaled to unit RMS norm.

    Dimensions beyond the available components start at zero.
    """
    coef = (x.flatten(1) - mean) @ comps.T / var.sum().clamp_min(1e-12).sqrt()
    return torch.cat([coef, coef.new_zeros(coef.shape[0], k - coef.shape[1])], 1)


def linear_prior_state(x: torch.Tensor, k: int) -> dict:
    """Closed-form linear prior from images ``x (N, C, H, W)``: decoder weights + latent stats.

    Returns ``{"state_dict": {"weight": (n, k), "bias": (n,)}, "latent_mean": zeros(k),
    "latent_cov": eye(k)}`` for a ``LinearDecoder``.

    Example:
        >>> linear_prior_state(torch.rand(20, 1, 4, 4), 3)["state_dict"]["weight"].shape
        torch.Size([16, 3])
    """
    n = x[0].numel()
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    if x.shape[0] < 2:  # (else "use k=0 or less")
        raise ValueError(f"a linear prior needs at least 2 images to vary, got {x.shape[0]}.")
    if k > min(x.shape[0] - 1, n):  # (the command line says --latent: train.py's as_flags)
        why = (f"the data has {n} pixels per image" if n <= x.shape[0] - 1 else
               f"{x.shape[0]} images take at most {x.shape[0] - 1} components")
        raise ValueError(f"k={k} is too large: {why}; use k={min(x.shape[0] - 1, n)} or less.")
    mean, comps, var = principal_components(x.flatten(1), k)
    # copies of one image, or flat ones, vary along fewer directions than k: the rest of
    # the basis would be noise of the arithmetic (two flat grays: restorations flat, 11.5 dB)
    rank = int((var > 1e-6 * float(var[0])).sum()) if float(var[0]) > 1e-12 else 0
    if rank < k:
        raise ValueError(
            f"a linear prior of {k} components: the images vary along only {rank} independent "
            f"direction{'' if rank == 1 else 's'} (copies of one image, or flat ones?); "
            + (f"take k (--latent) of at most {rank}." if rank else "give different images."))
    weight = (comps * var.sqrt()[:, None]).T.contiguous()
    return {"state_dict": {"weight": weight, "bias": mean},
            "latent_mean": torch.zeros(k), "latent_cov": torch.eye(k)}


def representation_error(x: torch.Tensor, k: int, groups: torch.Tensor | None = None,
                         folds: int = 5) -> float:
    """Per-pixel MSE of images the prior has not seen, projected onto a ``k``-component basis.

    ``folds``-fold cross-validation of PCA on ``x (N, C, H, W)``; images with the same
    ``groups`` id (an image and its mirror) stay in the same fold. It measures how far new
    images lie from what a prior of this size represents; the solver adds it to the
    measurement noise when it weighs the prior (see ``search.restore_latent``). For a GLO
    decoder of the same latent size it is a proxy (an upper bound in practice).

    Example:
        >>> representation_error(torch.rand(40, 1, 4, 4), 3) > 0
        True
    """
    flat = x.flatten(1).double()
    groups = torch.arange(len(flat)) if groups is None else groups
    ids = groups.unique()
    fold = torch.zeros(len(flat), dtype=torch.long)
    for j, g in enumerate(ids.tolist()):
        fold[groups == g] = j % folds
    errors = []
    for f in range(min(folds, len(ids))):
        test, fit = flat[fold == f], flat[fold != f]
        if len(fit) < 2 or len(test) == 0:
            continue
        mean, comps, _ = principal_components(fit, k)
        d = test - mean.double()
        residual = d - (d @ comps.double().T) @ comps.double()
        errors.append(residual.square().mean(1))
    return float(torch.cat(errors).mean()) if errors else 0.0


def cholesky(cov: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of ``cov`` with a small ridge (the code covariance of a set on
    the sphere can be nearly singular)."""
    k = cov.shape[0]
    ridge = 1e-6 * float(cov.trace()) / k + 1e-12
    return torch.linalg.cholesky(cov.double() + ridge * torch.eye(k, dtype=torch.float64)).float()
