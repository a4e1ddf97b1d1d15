"""Image generators: the deep-image-prior hourglass "skip" network and the deep decoder.

Both map a fixed random input to an image in [0, 1] (sigmoid output). Neither knows about
operators. Normalisation is BatchNorm without running statistics, so the network behaves
the same at batch 1 in training and at inference (batch statistics always).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _norm(channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels, track_running_stats=False)


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    """Reflection-padded convolution (no border darkening, as in the original code)."""
    pad = (k - 1) // 2
    layers = [nn.ReflectionPad2d(pad)] if pad else []
    return nn.Sequential(*layers, nn.Conv2d(cin, cout, k, stride=stride, bias=True))


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class SkipNet(nn.Module):
    """Hourglass encoder-decoder with skip connections (Ulyanov et al. 2018, "skip").

    Args:
        in_channels: depth of the random input (published: 32).
        out_channels: 1 (gray) or 3 (RGB).
        down, up, skip: channels per level (published: 5 levels of 128, skip 4).
        upsample: ``nearest`` or ``bilinear``.

    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, H, W)`` for ``H, W`` multiples of
    ``2 ** len(down)`` (``solve`` pads and crops other sizes).

    Example:
        >>> net = SkipNet(8, 1, down=(16, 16), up=(16, 16), skip=(4, 4))
        >>> net(torch.rand(1, 8, 32, 32)).shape
        torch.Size([1, 1, 32, 32])
    """

    def __init__(
        self,
        in_channels: int = 32,
        out_channels: int = 3,
        *,
        down=(128,) * 5,
        up=(128,) * 5,
        skip=(4,) * 5,
        upsample: str = "bilinear",
    ):
        super().__init__()
        if not len(down) == len(up) == len(skip) >= 1:
            raise ValueError("down, up and skip need the same number (>= 1) of levels.")
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample must be nearest or bilinear, got '{upsample}'.")
        self.depth = len(down)
        self.downs, self.skips, self.ups = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        cin = in_channels
        for level in range(self.depth):
            self.skips.append(
                nn.Sequential(_conv(cin, skip[level], 1), _norm(skip[level]), _act())
                if skip[level] else nn.Identity()
            )
            self.downs.append(nn.Sequential(
                _conv(cin, down[level], 3, stride=2), _norm(down[level]), _act(),
                _conv(down[level], down[level], 3), _norm(down[level]), _act(),
            ))
            cin = down[level]
        for level in range(self.depth):
            deeper = up[level + 1] if level + 1 < self.depth else down[-1]
            cat = skip[level] + deeper
            self.ups.append(nn.Sequential(
                _norm(cat), _conv(cat, up[level], 3), _norm(up[level]), _act(),
                _conv(up[level], up[level], 1), _norm(up[level]), _act(),
            ))
        self.upsample = upsample
        self.head = _conv(up[0], out_channels, 1)

    @property
    def multiple(self) -> int:
        """Input sizes must be multiples of this."""
        return 2**self.depth

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        skips, h = [], z
        for skip, down in zip(self.skips, self.downs):
            skips.append(skip(h))
            h = down(h)
        for level in reversed(range(self.depth)):
            h = nn.functional.interpolate(
                h, scale_factor=2, mode=self.upsample,
                **({"align_corners": False} if self.upsample == "bilinear" else {}),
            )
            s = skips[level]
            h = self.ups[level](torch.cat([s, h], 1) if s.shape[1] else h)
        return torch.sigmoid(self.head(h))


class DeepDecoder(nn.Module):
    """Deep decoder (Heckel & Hand 2019): 1x1 convs, bilinear x2 upsampling, ReLU, channel norm.

    Under-parameterised: with ``k`` channels and ``levels`` upsamplings it has about
    ``levels * k**2`` weights, far fewer than pixels, so it cannot fit noise well and needs
    no early stopping. The input is ``(B, k, H / 2**levels, W / 2**levels)``.

    Example:
        >>> net = DeepDecoder(1, k=16, levels=3)
        >>> net(torch.rand(1, 16, 4, 4)).shape
        torch.Size([1, 1, 32, 32])
    """

    def __init__(self, out_channels: int = 3, *, k: int = 64, levels: int = 5):
        super().__init__()
        if levels < 1 or k < 1:
            raise ValueError("the deep decoder needs k >= 1 channels and levels >= 1.")
        blocks = []
        for _ in range(levels):
            blocks += [
                nn.Conv2d(k, k, 1, bias=False),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.ReLU(inplace=True),
                _norm(k),
            ]
        blocks += [nn.Conv2d(k, k, 1, bias=False), nn.ReLU(inplace=True), _norm(k)]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv2d(k, out_channels, 1, bias=False)
        self.levels, self.k = levels, k

    @property
    def multiple(self) -> int:
        return 2**self.levels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.body(z)))


def padded_size(h: int, w: int, multiple: int) -> tuple[int, int]:
    """Smallest ``(H, W) >= (h, w)`` that are multiples of ``multiple``."""
    return math.ceil(h / multiple) * multiple, math.ceil(w / multiple) * multiple


def count_parameters(net: nn.Module) -> int:
    """Number of trainable weights."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
