"""Image generators: the deep-image-prior hourglass "skip" network and the deep decoder.

Both map a fixed random input to an image in [0, 1] (sigmoid output). Neither knows about
operators. Normalisation is BatchNorm without running statistics, so the network behaves
the same at batch 1 in training and at inference (batch statistics always).

``stacked(net, runs)`` is the same network for ``runs`` independent sets of weights at once
(``fit_stacked``): every channel count times ``runs``, every convolution grouped by run.
Run ``r`` owns channels ``r * C`` to ``(r + 1) * C - 1`` of every layer, its weights are
slice ``r`` of a weight stacked along a first dimension of size ``runs`` (reshaped into the
grouped layer's first dimension), and BatchNorm over a batch of one normalises each channel
over the image alone, so each run computes what its own network computes.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _norm(channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels, track_running_stats=False)


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Reflection-padded convolution (no border darkening, as in the original code);
    ``groups`` runs side by side, ``cin`` and ``cout`` channels each."""
    pad = (k - 1) // 2
    layers = [nn.ReflectionPad2d(pad)] if pad else []
    return nn.Sequential(*layers, nn.Conv2d(cin * groups, cout * groups, k, stride=stride,
                                            bias=True, groups=groups))


def stacked(net: nn.Module, runs: int) -> nn.Module:
    """``net`` (a ``SkipNet`` or ``DeepDecoder``) for ``runs`` sets of weights side by side
    (see the module docstring), without weights of its own: its shapes only, for
    ``functional_call`` to bring them.

    Example:
        >>> stacked(DeepDecoder(1, k=4, levels=2), 3).head.weight.shape
        torch.Size([3, 4, 1, 1])
    """
    with torch.device("meta"):
        return type(net)(**net.args, groups=runs)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class SkipNet(nn.Module):
    """Hourglass encoder-decoder with skip connections (Ulyanov et al. 2018, "skip").

    Args:
        in_channels: depth of the random input (published: 32).
        out_channels: 1 (gray) or 3 (RGB).
        down, up, skip: channels per level (published: 5 levels of 128, skip 4).
        upsample: ``nearest`` or ``bilinear``.
        groups: runs side by side (``stacked``; default 1).

    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, H, W)`` for ``H, W`` multiples of
    ``2 ** len(down)`` (``solve`` pads and crops other sizes); with ``groups`` G, ``(B, G *
    in_channels, H, W) -> (B, G * out_channels, H, W)``.

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
        groups: int = 1,
    ):
        super().__init__()
        self.args = dict(in_channels=in_channels, out_channels=out_channels, down=down, up=up,
                         skip=skip, upsample=upsample)
        g = self.groups = groups
        if not len(down) == len(up) == len(skip) >= 1:
            raise ValueError("down, up and skip need the same number (>= 1) of levels.")
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample must be nearest or bilinear, got '{upsample}'.")
        self.depth, self.skip_widths = len(down), tuple(skip)
        self.downs, self.skips, self.ups = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        cin = in_channels
        for level in range(self.depth):
            self.skips.append(
                nn.Sequential(_conv(cin, skip[level], 1, groups=g), _norm(g * skip[level]), _act())
                if skip[level] else nn.Identity()
            )
            self.downs.append(nn.Sequential(
                _conv(cin, down[level], 3, stride=2, groups=g), _norm(g * down[level]), _act(),
                _conv(down[level], down[level], 3, groups=g), _norm(g * down[level]), _act(),
            ))
            cin = down[level]
        for level in range(self.depth):
            deeper = up[level + 1] if level + 1 < self.depth else down[-1]
            cat = skip[level] + deeper
            self.ups.append(nn.Sequential(
                _norm(g * cat), _conv(cat, up[level], 3, groups=g), _norm(g * up[level]), _act(),
                _conv(up[level], up[level], 1, groups=g), _norm(g * up[level]), _act(),
            ))
        self.upsample = upsample
        self.head = _conv(up[0], out_channels, 1, groups=g)

    @property
    def multiple(self) -> int:
        """Input sizes must be multiples of this."""
        return 2**self.depth

    def _join(self, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The skip channels, then the deeper ones, run by run."""
        if self.groups == 1:  # a plain cat keeps the CPU network's channels-last layout
            return torch.cat([s, h], 1)
        b, _, height, width = h.shape
        split = lambda t: t.view(b, self.groups, -1, height, width)  # noqa: E731
        return torch.cat([split(s), split(h)], 2).view(b, -1, height, width)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        skips, h = [], z
        for skip, width, down in zip(self.skips, self.skip_widths, self.downs):
            skips.append(skip(h) if width else None)  # (a level without skip channels: none)
            h = down(h)
        for level in reversed(range(self.depth)):
            h = nn.functional.interpolate(
                h, scale_factor=2, mode=self.upsample,
                **({"align_corners": False} if self.upsample == "bilinear" else {}),
            )
            s = skips[level]
            h = self.ups[level](self._join(s, h) if s is not None else h)
        return torch.sigmoid(self.head(h))


class DeepDecoder(nn.Module):
    """Deep decoder (Heckel & Hand 2019): 1x1 convs, bilinear x2 upsampling, ReLU, channel norm.

    Under-parameterised: with ``k`` channels and ``levels`` upsamplings it has about
    ``levels * k**2`` weights, far fewer than pixels, so it cannot fit noise well and needs
    no early stopping. The input is ``(B, k, H / 2**levels, W / 2**levels)`` (``groups`` G
    runs side by side: ``G * k`` channels).

    Example:
        >>> net = DeepDecoder(1, k=16, levels=3)
        >>> net(torch.rand(1, 16, 4, 4)).shape
        torch.Size([1, 1, 32, 32])
    """

    def __init__(self, out_channels: int = 3, *, k: int = 64, levels: int = 5, groups: int = 1):
        super().__init__()
        if levels < 1 or k < 1:
            raise ValueError("the deep decoder needs k >= 1 channels and levels >= 1.")
        self.args = dict(out_channels=out_channels, k=k, levels=levels)
        g = groups
        blocks = []
        for _ in range(levels):
            blocks += [
                nn.Conv2d(g * k, g * k, 1, bias=False, groups=g),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.ReLU(inplace=True),
                _norm(g * k),
            ]
        blocks += [nn.Conv2d(g * k, g * k, 1, bias=False, groups=g), nn.ReLU(inplace=True),
                   _norm(g * k)]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv2d(g * k, g * out_channels, 1, bias=False, groups=g)
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
