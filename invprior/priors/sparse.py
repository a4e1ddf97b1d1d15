"""The ``sparse`` prior: the classical patch-dictionary baseline, for any linear operator.

* the identity (denoising): K-SVD denoising with a dictionary learned on the noisy image
  (Elad & Aharon 2006), the noise level given or estimated per image;
* bicubic downsampling: coupled LR/HR dictionaries (Yang et al. 2010), shipped per factor;
* any other linear operator: plug-and-play splitting (``priors.pnp``) around a K-SVD
  denoiser whose dictionary is learned on the current estimate and relearned every few
  iterations (``sparse.KSVDDenoiser``).

Measured on the fixed cases (BENCHMARKS.md, 2 threads): deblur camera 28.66 dB in 13.5 s
(DIP 26.25 in 180 s, Wiener 26.81), 50 % inpainting camera 34.20 dB in 12.7 s (DIP 33.61 in
250 s). The trained CNN denoiser (``prior="denoiser"``) does better still.

Example:
    >>> import operators as O
    >>> prior = SparsePrior(iters=2)
    >>> A = O.Inpainting(shape=(1, 32, 32), missing=0.5)
    >>> prior.restore(A(torch.rand(1, 1, 32, 32)), A).image.shape
    torch.Size([1, 1, 32, 32])
"""

from __future__ import annotations

from functools import partial

import torch

from ..checks import resolve_device, whole_number
from ..noise_level import estimate_sigma
from ..result import Result
from ..sparse.denoise import KSVDDenoiser, sparse_denoise
from ..sparse.superres import sparse_superres
from .base import ItemwisePrior, iterates_reason, keeper, said_level, visible_noise
from .pnp import PlugAndPlay

__all__ = ["SparsePrior"]


# A noise level under which K-SVD denoising gives y back (one 8-bit level, 1/255): there
# is nothing to remove, and coding each patch to within it takes the longest
QUIET_LEVEL = 1 / 255
PATCH = 8  # sparse_denoise's patch side


class SparsePrior(ItemwisePrior):
    """The ``sparse`` prior (see the module docstring).

    Args:
        iters: plug-and-play iterations (default 32). relearn: relearn the dictionary every
            this many iterations. keep_observed, max_seconds: as ``PlugAndPlay``. shape:
            image shape ``(C, H, W)`` for an operator that cannot tell it from ``y`` (one of
            your own that changes the size). seed: of the K-SVD training patches and atom
            order. device.
    """

    name = "sparse"
    needs_linear = True

    def __init__(self, *, iters: int | None = None, relearn: int = 5,
                 keep_observed: bool | None = None, max_seconds: float | None = None,
                 shape: tuple | None = None, seed: int = 0, device="auto"):
        relearn = whole_number("relearn", relearn, 1)  # ("yes" had been a TypeError inside)
        seed = whole_number("seed", seed, 0)
        self.device, self.seed, self.iters = resolve_device(device), seed, iters
        self.shape = tuple(shape) if shape is not None else None  # ItemwisePrior's checks
        self.keep_observed = keep_observed
        total = iters if iters is not None else 32

        # K-SVD learns on the image: a new denoiser per observation (a partial, not a local
        # function: the prior is sent to worker processes, pickled)
        fresh = partial(KSVDDenoiser, total, relearn=relearn, seed=seed)
        # K-SVD keeps the schedule it was measured with (32 iterations, weight 0.1 for every
        # operator); the CNN's (``pnp.defaults``) was not tried on it
        self.splitting = PlugAndPlay(fresh, fresh=True, iters=total, weight=0.1,
                                     keep_observed=keep_observed,
                                     max_seconds=max_seconds, device=self.device,
                                     shape=shape, name=self.name,
                                     label="plug-and-play K-SVD")

    def check(self, op) -> str | None:
        # (in check, not restore: the command line asks once before a folder's files)
        return (iterates_reason(self.name, op, self.iters, self.splitting.settings["max_seconds"])
                or super().check(op))

    def restore_one(self, y, op, *, noise_level, truth, progress, desc) -> Result:
        if getattr(op, "is_identity", False):
            level = noise_level if noise_level is not None else estimate_sigma(y)[0]
            if level < QUIET_LEVEL:
                # coding every patch to within 1e-6 took minutes (128x128 clean: 81 s) to
                # give y back; K-SVD's time grows as the level falls (128x128: 30 s at 1/255)
                return _one_pass(y.clamp(0, 1), f"y as it is (noise under one 8-bit level"
                                 f"{said_level(level, noise_level)}): nothing to remove", level)
            image = sparse_denoise(y, level, seed=self.seed, progress=progress).clamp(0, 1)
            return _one_pass(image, f"K-SVD denoising (one pass{said_level(level, noise_level)})",
                             level)
        if getattr(op, "name", None) == "downsample" and op.filter == "bicubic":
            # the dictionaries were learned on clean images and take noise for detail: noise
            # read or given is removed first (x2 camera/text/coffee crops, noise 0.05:
            # 22.95/23.19/23.23 dB without, 26.88/30.08/28.64 with; noise-free y unchanged)
            level = visible_noise(op, y, noise_level)
            what = "coupled-dictionary super-resolution (one pass)"
            # a noise-free y's result downsamples to it exactly, as the other priors' do
            # (keep_observed; its own 20 back-projections had left up to 5.5/255, and the
            # setting had been ignored)
            finish, _ = keeper(op, y, self.keep_observed, level)
            if level and min(y.shape[-2:]) < PATCH:
                # (sparse_denoise had said "patch size 8 must be between 2 and the image size")
                h, w = y.shape[-2:]
                raise ValueError(f"y ({w}x{h}) is smaller than the {PATCH}x{PATCH} patches "
                                 f"whose K-SVD would remove its noise first; take it as "
                                 f"noise-free (noise_level=0) or use the denoiser prior.")
            if level:
                y = sparse_denoise(y, level, seed=self.seed, progress=progress).clamp(0, 1)
                what = f"K-SVD denoising, then {what}{said_level(level, noise_level)}"
            image = sparse_superres(y, op.factor)
            return _one_pass(finish(image).clamp(0, 1) if finish is not None else image, what, level)
        return self.splitting.restore_one(y, op, noise_level=noise_level, truth=truth,
                                          progress=progress, desc=desc)


def _one_pass(image: torch.Tensor, what: str, level: float | None) -> Result:
    return Result(image, iteration=1, iterations=1, stop_reason=what,
                  noise_level=None if level is None else float(level))
