"""Classical sparse-coding baseline: patches, batched OMP / (F)ISTA, K-SVD, denoising and
coupled-dictionary super-resolution.

Example:
    >>> import torch
    >>> from invprior.sparse import sparse_denoise
    >>> y = torch.rand(1, 1, 32, 32)
    >>> sparse_denoise(y, 0.1, atoms=64, iters=2).shape
    torch.Size([1, 1, 32, 32])
"""

from .denoise import estimate_sigma, sparse_denoise
from .dictionary import dct_dictionary, ksvd_step, learn_dictionary
from .omp import SparseCodes, ista, lasso_objective, omp
from .patches import assemble_patches, extract_patches

__all__ = ["sparse_denoise", "estimate_sigma", "omp", "ista", "lasso_objective", "SparseCodes",
           "learn_dictionary", "ksvd_step", "dct_dictionary", "extract_patches",
           "assemble_patches"]
