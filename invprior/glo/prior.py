"""``TrainedPrior``: a trained generator with the statistics of its training codes.

``load_prior(path)`` reads a checkpoint made by ``python -m invprior.train``;
``prior.restore(y, op)`` recovers images from observations by optimising the latent code
(and then, optionally, the weights): see ``search.restore_latent``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..checks import built_for, torch_as_restoring_needs
from .checkpoint import FORMAT, VERSION, damaged, read_checkpoint
from .decoders import build_decoder
from .pca import cholesky



class TrainedPrior:
    """A frozen decoder ``g: (B, k) -> (B, C, H, W)`` and the Gaussian ``N(mean, cov)`` fitted
    to its training codes.

    Attributes:
        decoder: the generator (``eval`` mode, no gradients).
        mean: ``(k,)``; cov: ``(k, k)``.
        config: how it was built and trained (``kind``, ``latent``, ``shape``, ...).
        path: the file it came from, if any.

    Example:
        >>> from invprior.weights import weight_file
        >>> prior = load_prior(weight_file("prior_digits.pt"))
        >>> prior.shape, prior.sample(4).shape
        ((1, 16, 16), torch.Size([4, 1, 16, 16]))
    """

    def __init__(self, decoder: nn.Module, mean: torch.Tensor, cov: torch.Tensor, config: dict,
                 path: str | Path | None = None):
        self.decoder = decoder.eval().requires_grad_(False)
        self.mean, self.cov = mean.float(), cov.float()
        self.config, self.path = dict(config), path

    @property
    def shape(self) -> tuple:
        """Image shape ``(C, H, W)``."""
        return tuple(int(v) for v in self.config["shape"])

    @property
    def latent(self) -> int:
        """Code size ``k``."""
        return int(self.config["latent"])

    @property
    def radius(self) -> float:
        """RMS norm of the training codes (1 for codes trained on the unit sphere)."""
        return float((self.cov.trace() + self.mean.square().sum()).sqrt())

    @property
    def rep_error(self) -> float:
        """Per-pixel MSE expected between a new image and the closest image the prior makes
        (cross-validated at training time; 0 if unknown)."""
        return float(self.config.get("rep_error", 0.0))

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` for codes ``(B, k)``."""
        with torch.no_grad():
            return self.decoder(z.to(self.mean.device))

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` images from codes drawn from ``N(mean, cov)``, ``(n, C, H, W)``."""
        g = torch.Generator().manual_seed(seed)
        eps = torch.randn(n, self.latent, generator=g)
        return self.generate(self.mean + eps @ cholesky(self.cov).T)

    def checkpoint(self) -> dict:
        """The minimal checkpoint dict that ``load_prior`` reads back."""
        return {"format": FORMAT, "version": VERSION, "config": self.config,
                "state_dict": {k: v.cpu() for k, v in self.decoder.state_dict().items()},
                "latent_mean": self.mean.cpu(), "latent_cov": self.cov.cpu(), "done": True}

    name = "trained"

    def check(self, op) -> str | None:
        """Any operator (or callable) that takes the prior's images will do."""
        return None

    @torch_as_restoring_needs()
    def restore(self, y, op, *, iters: int | None = None, lr: float | None = None,
              loss: str = "l2sq", restarts: int = 8, z_reg: str = "gaussian",
              lam: float | None = None, l1: float = 0.0, adapt: bool = True,
              adapt_iters: int = 500, adapt_lr: float | None = None, holdout: float = 0.1,
              noise_level: float | None = None, truth: torch.Tensor | None = None,
              device: str | torch.device = "cpu", seed: int = 0, progress: bool = False):
        """Recover images ``(B, C, H, W)`` from ``y = op(x) + noise``: latent search (CSGM),
        then (``adapt``) weight adaptation. Returns a ``Result``; the arguments are
        described in ``search.restore_latent``.

        Example:
            >>> import operators as O
            >>> from invprior.weights import weight_file
            >>> prior = load_prior(weight_file("prior_digits.pt"))
            >>> A = O.CompressedSensing(40, prior.shape, seed=0)
            >>> x = prior.sample(2, seed=1)
            >>> out = prior.restore(A(x), A, iters=50, restarts=2, adapt=False)
            >>> out.image.shape, len(out.items)
            (torch.Size([2, 1, 16, 16]), 2)
        """
        from .search import restore_latent

        return restore_latent(
            self, y, op, iters=iters, lr=lr, loss=loss, restarts=restarts, z_reg=z_reg,
            lam=lam, l1=l1, adapt=adapt, adapt_iters=adapt_iters, adapt_lr=adapt_lr,
            holdout=holdout, noise_level=noise_level, truth=truth, device=device, seed=seed,
            progress=progress)

    def __repr__(self) -> str:
        c = self.config
        return (f"TrainedPrior({c['kind']}, latent={c['latent']}, shape={self.shape}, "
                f"source={c.get('source', '?')}, path={str(self.path) if self.path else None})")


def load_prior(path: str | Path) -> TrainedPrior:
    """Read a trained prior; ``ValueError`` (one sentence) for a missing, corrupt or wrong file.

    Example:
        >>> from invprior.weights import weight_file
        >>> prior = load_prior(weight_file("prior_faces.pt"))
        >>> prior.shape
        (1, 32, 32)
    """
    ck = read_checkpoint(path)
    config = ck["config"]
    try:
        # (no random first weights, which the file's replace: they drew from the caller's
        # stream, in a host's other threads too)
        decoder = built_for(lambda: build_decoder(config), ck["state_dict"])
        mean = torch.as_tensor(ck["latent_mean"]).float().reshape(decoder.latent)
        cov = torch.as_tensor(ck["latent_cov"]).float().reshape(decoder.latent, decoder.latent)
        cholesky(cov)
    except (ValueError, RuntimeError, TypeError, KeyError) as err:
        raise damaged(path, "weights or latent statistics", err) from None
    return TrainedPrior(decoder, mean, cov, config, path)
