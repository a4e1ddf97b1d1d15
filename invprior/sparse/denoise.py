"""K-SVD denoising (Elad & Aharon 2006): a dictionary learned on the noisy image itself.

Convention:
    Images are ``(B, C, H, W)`` floats with intensities about in [0, 1]; ``sigma`` is the
    standard deviation of additive white Gaussian noise on that scale. Colour images
    (``C == 3``) go through an orthonormal opponent transform (so the noise stays white
    with the same sigma) and each of the three channels is denoised on its own; any
    other ``C`` is treated channel by channel.
"""

from __future__ import annotations

import math

import torch

from ..noise_level import estimate_sigma
from .dictionary import learn_dictionary
from .coding import omp
from .patches import assemble_patches, extract_patches

__all__ = ["sparse_denoise", "estimate_sigma", "ksvd_denoise_channel"]

# Orthonormal opponent colour transform (luminance, red-blue, green-magenta): rows
# orthonormal, so i.i.d. noise of std sigma in RGB stays i.i.d. with the same sigma.
_OPP = torch.tensor([[1 / math.sqrt(3)] * 3,
                     [1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)],
                     [1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)]])


# Daubechies-2 high-pass decomposition filter (pywt's "db2" dec_hi).
def ksvd_denoise_channel(u: torch.Tensor, sigma: float, *, patch: int = 8, atoms: int = 256,
                         iters: int = 30, train_patches: int = 60000, gain: float = 1.1,
                         train_gain: float = 1.15, blend: float | None = None, seed: int = 0,
                         progress: bool = False) -> torch.Tensor:
    """Denoise one ``(H, W)`` channel; see :func:`sparse_denoise` for the parameters."""
    h, w = u.shape
    P = extract_patches(u[None, None], patch)[0]            # (N, p*p), every position
    mean = P.mean(1, keepdim=True)
    P0 = P - mean  # the DC is estimated well by the mean; the dictionary codes the rest
    d = patch * patch
    g = torch.Generator().manual_seed(seed)
    sub = torch.randperm(P0.shape[0], generator=g)[:train_patches].to(u.device)
    # Error-bounded coding: a patch takes atoms until its residual looks like the noise,
    # ||r||^2 <= d (gain sigma)^2. Training with a slightly larger bound keeps noise out of
    # the atoms; coding with a slightly smaller one keeps more texture (measured on camera).
    D = learn_dictionary(P0[sub], atoms, iters=iters, tol=d * (train_gain * sigma) ** 2,
                         init="dct", seed=seed, progress=progress)
    codes = omp(P0, D, tol=d * (gain * sigma) ** 2, return_sparse=True)
    rec = codes.reconstruct(D) + mean
    total, weight = assemble_patches(rec[None], (h, w), patch, return_weight=True)
    # MAP blend with the observation: x = (lam y + sum_i R_i^T D z_i) / (lam + count),
    # lam = 30 / sigma (sigma in 8-bit units) as in the paper.
    lam = 30.0 / (255.0 * sigma) if blend is None else blend
    return ((total + lam * u) / (weight + lam))[0, 0]


def sparse_denoise(y: torch.Tensor, sigma: float | None = None, *, patch: int = 8,
                   atoms: int = 256, iters: int = 30, train_patches: int = 60000,
                   gain: float = 1.1, train_gain: float = 1.15, seed: int = 0,
                   progress: bool = False) -> torch.Tensor:
    """Denoise images with a K-SVD dictionary learned on their own patches.

    For each channel: all ``patch x patch`` patches (stride 1) minus their means; a
    dictionary of ``atoms`` atoms learned by approximate K-SVD from the overcomplete DCT on
    ``train_patches`` random patches; every patch coded by error-bounded batched OMP;
    patches averaged back and blended with the noisy image (Elad & Aharon 2006).

    Args:
        y: ``(B, C, H, W)`` noisy images, any device.
        sigma: noise std on the [0, 1] scale; ``None`` estimates it per image
            (:func:`estimate_sigma`).
        patch: patch side (8 in the paper). atoms: dictionary size (256).
        iters: K-SVD iterations. train_patches: patches used for learning.
        gain: OMP stops when ``||residual||^2 <= patch^2 (gain * sigma)^2``.
        train_gain: the same bound used while learning the dictionary.
        seed: seed of the training subset and the K-SVD atom order.
        progress: show progress bars.

    Returns:
        ``(B, C, H, W)`` denoised images (not clipped), same device and dtype as ``y``.

    Example:
        >>> x = torch.zeros(1, 1, 32, 32); x[..., 8:24, 8:24] = 1
        >>> y = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
        >>> out = sparse_denoise(y, 0.1, atoms=64, iters=3)
        >>> bool((out - x).pow(2).mean() < (y - x).pow(2).mean() / 4)
        True

    References:
        M. Elad, M. Aharon, "Image denoising via sparse and redundant representations over
        learned dictionaries", IEEE TIP 15(12), 2006.
    """
    if y.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) image tensor, got shape {tuple(y.shape)}.")
    if not y.is_floating_point():
        raise ValueError(f"expected a floating-point image in [0, 1], got dtype {y.dtype}.")
    if patch < 2 or patch > min(y.shape[-2:]):
        raise ValueError(f"patch size {patch} must be between 2 and the image size "
                         f"{y.shape[-2]}x{y.shape[-1]}.")
    if atoms < 1 or iters < 0 or train_patches < 1:
        raise ValueError("atoms and train_patches must be positive and iters non-negative.")
    if gain <= 0 or train_gain <= 0:
        raise ValueError(f"gain and train_gain must be positive, got {gain} and {train_gain}.")
    if sigma is None:
        sigmas = estimate_sigma(y)
    else:
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a positive number on the [0, 1] scale, got {sigma!r}.")
        sigmas = [float(sigma)] * y.shape[0]
    x = y.detach().float()
    out = torch.empty_like(x)
    opp = _OPP.to(x.device)
    for b in range(x.shape[0]):
        img = x[b]
        if img.shape[0] == 3:  # RGB -> opponent (orthonormal, noise unchanged)
            img = torch.einsum("ij,jhw->ihw", opp, img)
        res = torch.stack([
            ksvd_denoise_channel(ch, max(sigmas[b], 1e-6), patch=patch, atoms=atoms, iters=iters,
                                 train_patches=train_patches, gain=gain, train_gain=train_gain,
                                 seed=seed, progress=progress)
            for ch in img])
        if res.shape[0] == 3:
            res = torch.einsum("ji,jhw->ihw", opp, res)  # inverse = transpose
        out[b] = res
    return out.to(y.dtype)
