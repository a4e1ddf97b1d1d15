"""What a prior exposes to the solver: trainable parameters and ``render()`` -> image.

An untrained prior is a generator with a fixed random input whose *weights* are fitted to
one observation (deep image prior, deep decoder). ``make_prior`` builds one for an image
shape; sizes that are not multiples of the network's stride are generated larger and
cropped (top-left) — reflection padding inside the network keeps the borders clean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from .nets import DeepDecoder, SkipNet, padded_size

PRIORS = ("dip", "decoder")


@dataclass(frozen=True)
class NetConfig:
    """Size of a generator. ``channels`` per level (skip net) or per layer (decoder)."""

    channels: tuple = (32, 32, 32, 32, 32)
    skip: int = 4
    input_depth: int = 32
    upsample: str = "bilinear"
    input_noise: float = 1 / 30  # std of the input jitter added at each step (regulariser)
    lr: float = 0.01


# Published DIP network (Ulyanov et al.): 5 x 128 channels, ~2.2 M weights, 2-3 s per step
# at 256x256 on a 2-core CPU. On a CPU the default is slimmer: 16 channels at full
# resolution, 32 below, 8 input channels (~0.14 s per RGB 256x256 step on one thread, against
# 0.22 s for 5 x 32 channels; on the inpainting case it reached 31.25 dB in 2000 steps where
# 5 x 32 reached 31.60, i.e. more PSNR per second).
DIP_CONFIGS = {
    "cpu": NetConfig(channels=(16, 32, 32, 32, 32), input_depth=8),
    "cuda": NetConfig(channels=(128,) * 5),
}
DECODER_CONFIGS = {
    "cpu": NetConfig(channels=(64,) * 5, input_depth=64, input_noise=0.0, lr=0.01),
    "cuda": NetConfig(channels=(128,) * 6, input_depth=128, input_noise=0.0, lr=0.01),
}


class GeneratorPrior(nn.Module):
    """A generator ``net`` with a fixed random input ``z``; the weights are optimised.

    ``render(jitter=True)`` adds ``input_noise`` * N(0, 1) to ``z`` (the DIP regulariser)
    and crops the output to ``(H, W)``.

    Example:
        >>> prior = make_prior("dip", (1, 20, 24), config=NetConfig(channels=(8, 8)))
        >>> prior.render().shape
        torch.Size([1, 1, 20, 24])
    """

    def __init__(
        self, net: nn.Module, z: torch.Tensor, size: tuple, input_noise: float = 0.0,
        guide: torch.Tensor | None = None, seed: int = 0,
    ):
        super().__init__()
        self.net = net
        self.seed, self._jitter = seed, None
        self.register_buffer("z", z)
        self.register_buffer("guide", guide)
        self.size = tuple(size)
        self.input_noise = float(input_noise)

    def render(self, jitter: bool = False) -> torch.Tensor:
        z = self.z
        if jitter and self.input_noise > 0:
            if self._jitter is None or self._jitter.device != z.device:
                # its own generator: the same seed gives the same run, whatever else draws
                self._jitter = torch.Generator(z.device).manual_seed(self.seed)
            noise = torch.randn(z.shape, generator=self._jitter, device=z.device, dtype=z.dtype)
            z = z + self.input_noise * noise
        if self.guide is not None:
            z = torch.cat([self.guide, z], 1)
        h, w = self.size
        return self.net(z)[..., :h, :w]


def default_config(name: str, device: torch.device | str) -> NetConfig:
    """The network size used by ``make_prior`` on this device when none is given."""
    table = {"dip": DIP_CONFIGS, "decoder": DECODER_CONFIGS}
    if name not in table:
        raise ValueError(f"unknown prior '{name}'; choose one of {', '.join(PRIORS)}.")
    return table[name]["cuda" if torch.device(device).type == "cuda" else "cpu"]


def make_prior(
    name: str,
    shape: tuple,
    *,
    config: NetConfig | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    guide: torch.Tensor | None = None,
) -> GeneratorPrior:
    """Freshly initialised prior ``name`` (``dip`` or ``decoder``) for images ``(C, H, W)``.

    Weights and input are drawn from ``seed`` on the CPU, so the same seed gives the same
    network on every device. ``guide`` (1, C, H, W), a first estimate of the image, is fed
    to the skip net beside its random input channels (an informative input). Images
    smaller than ``4 * 2**levels`` pixels get fewer levels.
    """
    config = config or default_config(name, device)
    c, h, w = shape
    # small images get a shallower network: the coarsest level keeps at least 4x4 pixels
    # (BatchNorm needs more than one value per channel)
    fit = max(1, int(math.log2(max(min(h, w), 1))) - 2)
    if len(config.channels) > fit:
        config = replace(config, channels=config.channels[:fit])
    levels = len(config.channels)
    ph, pw = padded_size(h, w, 2**levels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "dip":
            extra = 0 if guide is None else guide.shape[1]
            net = SkipNet(
                config.input_depth + extra, c, down=config.channels, up=config.channels,
                skip=(config.skip,) * levels, upsample=config.upsample,
            )
            z = torch.rand(1, config.input_depth, ph, pw) * 0.1  # DIP's uniform input
        elif name == "decoder":
            net = DeepDecoder(c, k=config.channels[0], levels=levels)
            z = torch.rand(1, config.channels[0], ph >> levels, pw >> levels)
        else:
            raise ValueError(f"unknown prior '{name}'; choose one of {', '.join(PRIORS)}.")
    if guide is not None:
        if name != "dip":
            raise ValueError("a guide image works with the dip prior only.")
        guide = torch.nn.functional.pad(guide.float().cpu(), (0, pw - w, 0, ph - h), mode="replicate")
    prior = GeneratorPrior(net, z, (h, w), config.input_noise, guide, seed=seed).to(device)
    if torch.device(device).type == "cpu":
        # oneDNN convolutions run ~13% faster per step on NHWC tensors (measured, 1 thread)
        prior = prior.to(memory_format=torch.channels_last)
    return prior
