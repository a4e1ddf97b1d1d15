"""The trained-generator prior: a GLO/PCA generator from ``python -m invprior.train`` whose
latent code (then, where held-out measurements say it helps, its weights) is fitted to a new
observation (CSGM; ``invprior.glo.search``).

Example:
    >>> import operators as O
    >>> from invprior.weights import weight_file
    >>> prior = LatentPrior.from_file(weight_file("prior_digits.pt"), iters=30, adapt=False)
    >>> A = O.CompressedSensing(40, (1, 16, 16), seed=0)
    >>> prior.restore(A(prior.trained.sample(2)), A).image.shape
    torch.Size([2, 1, 16, 16])
"""

from __future__ import annotations

import torch

from ..checks import prepare, resolve_device
from ..glo import TrainedPrior, load_prior
from ..result import Result
from .window import EMPTY, inpainting_window, restore_in_window

__all__ = ["LatentPrior"]


class LatentPrior:
    """A ``TrainedPrior`` with its solver settings (those of ``TrainedPrior.restore``:
    ``iters``, ``lr``, ``loss``, ``restarts``, ``adapt``, ...), as a prior.

    ``max_seconds`` is not taken: the latent search of a small generator takes seconds.
    """

    name = "trained"

    def __init__(self, trained: TrainedPrior, *, device="auto", seed: int = 0, **settings):
        self.trained, self.device, self.seed = trained, resolve_device(device), seed
        self.settings = {k: v for k, v in settings.items() if v is not None}

    @classmethod
    def from_file(cls, path, **options) -> "LatentPrior":
        """The prior of a checkpoint whose ``format`` is ``invprior-trained-prior``."""
        return cls(load_prior(path), **options)

    def check(self, op) -> str | None:
        return self.trained.check(op)

    def restore(self, y, op, *, noise_level: float | None = None, truth=None,
                progress: bool = False) -> Result:
        y, noise_level, truth = prepare(y, op, noise_level, truth)
        if (isinstance(y, torch.Tensor) and tuple(y.shape[1:]) == self.trained.shape
                and inpainting_window(op, y, [noise_level or 0.0]) == EMPTY):
            # a mask that hides nothing: the observation is the image, which the search
            # would only approximate (faces: 4.8 s, off by up to 0.0014)
            items = restore_in_window(None, EMPTY, y, op)
            return Result.combine(items, seconds=0.0, prior=self.name)
        return self.trained.restore(y, op, noise_level=noise_level, truth=truth,
                                    device=self.device, seed=self.seed, progress=progress,
                                    **self.settings)
