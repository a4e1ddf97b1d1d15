"""Classical sparse-coding baseline: patches, batched OMP / (F)ISTA, K-SVD, K-SVD denoising
and coupled-dictionary super-resolution.

One idea per file: :mod:`.patches` (unfold / fold with overlap averaging), :mod:`.coding`
(batched OMP, ISTA / FISTA), :mod:`.dictionary` (2-D DCT, approximate K-SVD),
:mod:`.denoise` (Elad & Aharon 2006; ``KSVDDenoiser`` for plug-and-play),
:mod:`.superres` (Yang et al. 2010), :mod:`.train_sr` (makes
``invprior/weights/sparse_sr_x*.pt``). The prior that uses them: ``invprior.priors.sparse``.

Example:
    >>> import torch
    >>> from invprior.sparse import sparse_denoise, sparse_superres
    >>> y = torch.rand(1, 1, 32, 32)
    >>> sparse_denoise(y, 0.1, atoms=64, iters=2).shape
    torch.Size([1, 1, 32, 32])
    >>> sparse_superres(y, 2).shape
    torch.Size([1, 1, 64, 64])
"""

from .coding import SparseCodes, ista, lasso_objective, omp
from .denoise import KSVDDenoiser, estimate_sigma, sparse_denoise
from .dictionary import dct_dictionary, ksvd_step, learn_dictionary
from .patches import assemble_patches, extract_patches
from .superres import back_project, load_sr_dictionary, sparse_superres

__all__ = ["sparse_denoise", "sparse_superres", "estimate_sigma", "omp", "ista",
           "lasso_objective", "SparseCodes", "learn_dictionary", "ksvd_step", "dct_dictionary",
           "extract_patches", "assemble_patches", "load_sr_dictionary", "back_project", "KSVDDenoiser"]
