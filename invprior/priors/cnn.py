"""The ``denoiser`` prior: the shipped CNN denoiser, one pass or plug-and-play.

``invprior/weights/denoiser.pt`` was trained by ``train.ASSET_COMMANDS["denoiser"]`` (5.5
minutes on one GPU) on scikit-image photographs other than the benchmark and held-out
images (``cnn.patches.HELD_OUT``). It denoises gray images; colour images go through it one
opponent channel at a time (luminance and two colour differences shifted to mid-grey:
``invprior.colour``). Where the operator is the identity (denoising) one pass of the
network restores the image; for any other linear operator it is the denoiser of
plug-and-play splitting (``priors.pnp``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from ..checks import resolve_device
from ..cnn.training import FORMAT, VERSION
from ..cnn.unet import DenoiserUNet
from ..colour import from_opponent, to_opponent
from ..noise_level import estimate_sigma
from ..result import Result
from ..weights import weight_file
from .base import ItemwisePrior
from .pnp import PlugAndPlay

ASSET = weight_file("denoiser.pt")


def load_denoiser(path: str | Path = ASSET) -> DenoiserUNet:
    """A new copy of the denoiser saved at ``path``, in eval mode, on the CPU; ``ValueError``
    (one sentence) for a missing, corrupt or foreign file.

    The file is read once per path and version on disk; each call builds its own network,
    so moving one copy to a GPU leaves the others where they are.

    Example:
        >>> load_denoiser().config["widths"]
        [32, 64, 128, 192]
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise ValueError(f"cannot load the denoiser '{path}': no such file.")
    config, state = _read(str(path), path.stat().st_mtime_ns)
    try:
        net = DenoiserUNet(1, tuple(config["widths"]), config["blocks"])
        net.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError):
        raise ValueError(f"the denoiser '{path}' does not match its own configuration.") from None
    return net.eval().requires_grad_(False)


@lru_cache(maxsize=4)
def _read(path: str, mtime_ns: int) -> tuple[dict, dict]:
    """``(config, float32 state dict)`` of a checked denoiser file (``mtime_ns`` keys the
    cache, so a file trained again is read again)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for truncated, foreign or unsafe files
        raise ValueError(f"cannot load the denoiser '{path}': it is not a readable PyTorch "
                         "checkpoint (truncated, corrupt, or not made by torch.save).") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT or ck.get("version") != VERSION:
        raise ValueError(f"'{path}' is not a denoiser checkpoint of version {VERSION}; make one "
                         "with python -m invprior.train --kind denoiser.")
    return ck["config"], {k: v.float() for k, v in ck["state_dict"].items()}


class CNNDenoiser:
    """``denoise(x, sigma)``: the trained denoiser on ``(B, C, H, W)`` images, each
    (opponent) channel on its own, in chunks that bound the memory.

    Example:
        >>> d = CNNDenoiser()
        >>> d(torch.rand(1, 3, 24, 24), 0.1).shape
        torch.Size([1, 3, 24, 24])
    """

    def __init__(self, path: str | Path = ASSET, device: str | torch.device = "cpu"):
        self.net = load_denoiser(path).to(device)

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        b, c, h, w = x.shape
        planes = to_opponent(x, centred=True).reshape(b * c, 1, h, w)
        with torch.no_grad():
            out = torch.cat([self.net(chunk, sigma) for chunk in planes.split(8)])
        return from_opponent(out.reshape(b, c, h, w), centred=True)


class CNNPrior(ItemwisePrior):
    """The ``denoiser`` prior (see the module docstring).

    Args:
        weights: a denoiser file from ``python -m invprior.train --kind denoiser`` (default:
            the shipped one).
        iters: plug-and-play iterations (default 32). keep_observed, max_seconds: as
            ``PlugAndPlay``. device. seed: unused (the prior is deterministic); taken so
            that one command line serves every prior.

    Example:
        >>> import operators as O
        >>> prior = CNNPrior()
        >>> prior.restore(torch.rand(2, 1, 24, 24), O.Denoising(), noise_level=0.1).iterations
        1
    """

    name = "denoiser"
    needs_linear = True

    def __init__(self, weights: str | Path | None = None, *, iters: int | None = None,
                 keep_observed: bool | None = None, max_seconds: float | None = None,
                 device="auto", seed: int = 0):
        self.device = resolve_device(device)
        self.denoise = CNNDenoiser(weights or ASSET, device=self.device)
        self.splitting = PlugAndPlay(self.denoise, iters=iters, keep_observed=keep_observed,
                                     max_seconds=max_seconds, device=self.device,
                                     name=self.name, label="plug-and-play CNN denoiser")

    @classmethod
    def from_file(cls, path, **options) -> "CNNPrior":
        """The prior of a denoiser checkpoint (its ``format`` is ``invprior-denoiser``)."""
        return cls(path, **options)

    def restore_one(self, y, op, *, noise_level, truth, progress, desc) -> Result:
        if not getattr(op, "is_identity", False):
            return self.splitting.restore_one(y, op, noise_level=noise_level, truth=truth,
                                              progress=progress, desc=desc)
        level = noise_level if noise_level is not None else estimate_sigma(y)[0]
        return Result(self.denoise(y, float(level)).clamp(0, 1), iteration=1, iterations=1,
                      stop_reason="CNN denoiser (one pass)")
