"""The shipped CNN denoiser (``assets/denoiser.pt``) and its use as a plug-and-play prior.

``assets/denoiser.pt`` was trained by ``train.ASSET_COMMANDS["denoiser"]`` (5.5 minutes on
one GPU) on scikit-image photographs other than the benchmark and held-out images
(``patches.HELD_OUT``). It denoises gray images; colour images go through it one opponent
channel at a time (luminance and two colour differences shifted to mid-grey:
``invprior.colour``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from ..colour import from_opponent, to_opponent
from .training import FORMAT, VERSION
from .unet import DenoiserUNet

ASSET = Path(__file__).resolve().parents[2] / "assets" / "denoiser.pt"


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


def is_denoiser_file(path) -> bool:
    """Whether ``path`` is a readable denoiser checkpoint (``--prior FILE.pt`` takes both
    kinds: a denoiser or a trained generative prior). Memory-mapped: the weights are not read.

    Example:
        >>> is_denoiser_file(ASSET), is_denoiser_file(ASSET.with_name("prior_digits.pt"))
        (True, False)
    """
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # unreadable: the trained-prior loader says why
        return False
    return isinstance(ck, dict) and ck.get("format") == FORMAT


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
    """``denoise(x, sigma, k=0)``: the trained denoiser on ``(B, C, H, W)`` images, each
    (opponent) channel on its own, in chunks that bound the memory.

    Example:
        >>> d = CNNDenoiser()
        >>> d(torch.rand(1, 3, 24, 24), 0.1).shape
        torch.Size([1, 3, 24, 24])
    """

    def __init__(self, path: str | Path = ASSET, device: str | torch.device = "cpu"):
        self.net = load_denoiser(path).to(device)

    def __call__(self, x: torch.Tensor, sigma: float, k: int = 0) -> torch.Tensor:
        b, c, h, w = x.shape
        planes = to_opponent(x, centred=True).reshape(b * c, 1, h, w)
        with torch.no_grad():
            out = torch.cat([self.net(chunk, sigma) for chunk in planes.split(8)])
        return from_opponent(out.reshape(b, c, h, w), centred=True)
