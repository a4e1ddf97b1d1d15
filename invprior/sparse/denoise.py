"""K-SVD denoising (Elad & Aharon 2006): a dictionary learned on the noisy image itself.

Convention:
    Images are ``(B, C, H, W)`` floats with intensities about in [0, 1]; ``sigma`` is the
    standard deviation of additive white Gaussian noise on that scale. Colour images
    (``C == 3``) go through the orthonormal opponent transform of ``invprior.colour`` (so
    the noise stays white with the same sigma) and each of the three channels is denoised on its own; any
    other ``C`` is treated channel by channel.
"""

from __future__ import annotations

import math

import torch

from ..colour import from_opponent, to_opponent
from ..noise_level import estimate_sigma
from .dictionary import learn_dictionary
from .coding import omp
from .patches import assemble_patches, extract_patches

__all__ = ["sparse_denoise", "estimate_sigma", "ksvd_denoise_channel", "patch_dictionary",
           "code_patches", "KSVDDenoiser", "dictionary_size"]

def patch_dictionary(u: torch.Tensor, sigma: float, *, patch: int = 8, atoms: int = 256,
                     iters: int = 30, train_patches: int = 60000, train_gain: float = 1.15,
                     init: str | torch.Tensor = "dct", seed: int = 0,
                     progress: bool = False) -> torch.Tensor:
    """Learn a K-SVD dictionary ``(atoms, patch * patch)`` on the mean-free patches of ``u``.

    ``u`` is one ``(H, W)`` channel with noise of std ``sigma``; ``init`` is ``"dct"`` or a
    previous dictionary to continue from (plug-and-play relearns as the estimate improves).
    """
    P = extract_patches(u[None, None], patch)[0]
    P = P - P.mean(1, keepdim=True)
    g = torch.Generator().manual_seed(seed)
    sub = torch.randperm(P.shape[0], generator=g)[:train_patches].to(u.device)
    # Training with a slightly larger error bound than coding keeps noise out of the atoms.
    return learn_dictionary(P[sub], atoms, iters=iters, tol=patch * patch * (train_gain * sigma) ** 2,
                            init=init, seed=seed, progress=progress)


def code_patches(u: torch.Tensor, D: torch.Tensor, sigma: float, *, gain: float = 1.1,
                 blend: float | None = None) -> torch.Tensor:
    """Denoise one ``(H, W)`` channel with a given dictionary ``D`` ``(atoms, p * p)``.

    Every patch (stride 1) minus its mean takes atoms by OMP until its residual looks like
    the noise, ``||r||^2 <= p^2 (gain sigma)^2``; patches are averaged back and blended with
    ``u`` (MAP weight ``lam = 30 / sigma``, sigma in 8-bit units, as in the paper).
    """
    h, w = u.shape
    patch = math.isqrt(D.shape[1])
    P = extract_patches(u[None, None], patch)[0]            # (N, p*p), every position
    mean = P.mean(1, keepdim=True)  # the DC is estimated well by the mean; atoms code the rest
    codes = omp(P - mean, D, tol=patch * patch * (gain * sigma) ** 2, return_sparse=True)
    rec = codes.reconstruct(D) + mean
    total, weight = assemble_patches(rec[None], (h, w), patch, return_weight=True)
    lam = 30.0 / (255.0 * sigma) if blend is None else blend
    return ((total + lam * u) / (weight + lam))[0, 0]


def ksvd_denoise_channel(u: torch.Tensor, sigma: float, *, patch: int = 8, atoms: int = 256,
                         iters: int = 30, train_patches: int = 60000, gain: float = 1.1,
                         train_gain: float = 1.15, blend: float | None = None, seed: int = 0,
                         progress: bool = False) -> torch.Tensor:
    """Denoise one ``(H, W)`` channel; see :func:`sparse_denoise` for the parameters."""
    # Gains 1.15 (learning) / 1.1 (coding): a smaller coding bound keeps more texture
    # (measured on camera).
    D = patch_dictionary(u, sigma, patch=patch, atoms=atoms, iters=iters,
                         train_patches=train_patches, train_gain=train_gain, seed=seed,
                         progress=progress)
    return code_patches(u, D, sigma, gain=gain, blend=blend)


def dictionary_size(patches: int, atoms: int = 256) -> int:
    """Atoms for a dictionary learned from ``patches`` patches of the image itself.

    At least ~20 patches per atom, a square number (the 2-D DCT start), between 36 and
    ``atoms``: 256 atoms overfit a 32x32 image (astronaut deblur 22.0 dB, 25.5 with 32).

    Example:
        >>> dictionary_size(625), dictionary_size(62001)
        (36, 256)
    """
    side = math.isqrt(max(patches // 20, 36))
    return min(atoms, side * side)


class KSVDDenoiser:
    """``denoise(x, sigma)`` for plug-and-play (``invprior.priors.pnp``): K-SVD per
    (opponent) channel of ``(1, C, H, W)``, the dictionary learned on ``x`` at the first
    call and again every ``relearn`` calls; make a new one for each image.

    A dictionary learned near the end would serve only a step or two, and learning is
    slowest at small sigma (many atoms per patch): after call ``iters - relearn`` the last
    one is kept.

    Example:
        >>> d = KSVDDenoiser(iters=2, atoms=36, dict_iters=1)
        >>> d(torch.rand(1, 1, 32, 32), 0.1).shape
        torch.Size([1, 1, 32, 32])
    """

    def __init__(self, iters: int, *, relearn: int = 5, atoms: int = 256,
                 train_patches: int = 30000, dict_iters: int = 10, seed: int = 0):
        self.iters, self.relearn, self.atoms = iters, relearn, atoms
        self.train_patches, self.dict_iters, self.seed = train_patches, dict_iters, seed
        self.dictionaries: dict = {}
        self.calls = 0

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        k, self.calls = self.calls, self.calls + 1
        u = to_opponent(x)
        h, w = x.shape[-2:]
        atoms = dictionary_size((h - 7) * (w - 7), self.atoms)
        learn = k % self.relearn == 0 and k + self.relearn < self.iters
        out = []
        for c in range(u.shape[1]):
            channel, previous = u[0, c], self.dictionaries.get(c)
            if learn or previous is None:
                self.dictionaries[c] = patch_dictionary(
                    channel, sigma, atoms=atoms, iters=self.dict_iters,
                    train_patches=self.train_patches, seed=self.seed,
                    init="dct" if previous is None else previous,
                )
            out.append(code_patches(channel, self.dictionaries[c], sigma))
        return from_opponent(torch.stack(out)[None])


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
        patch: patch side (8 in the paper). atoms: dictionary size (256; fewer for an
            image of fewer than 20 patches per atom: ``dictionary_size``).
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
    # a small image has too few patches for 256 atoms (sigma 0.1: camera 32x32 24.46 ->
    # 26.89 dB, astronaut 32x32 24.15 -> 25.38, 64x64 +0.19 / +0.17; 128x128 up: 256)
    atoms = dictionary_size((x.shape[-2] - patch + 1) * (x.shape[-1] - patch + 1), atoms)
    for b in range(x.shape[0]):
        img = to_opponent(x[b : b + 1])[0]
        res = torch.stack([
            ksvd_denoise_channel(ch, max(sigmas[b], 1e-6), patch=patch, atoms=atoms, iters=iters,
                                 train_patches=train_patches, gain=gain, train_gain=train_gain,
                                 seed=seed, progress=progress)
            for ch in img])
        out[b] = from_opponent(res[None])[0]
    return out.to(y.dtype)
