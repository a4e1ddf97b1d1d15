"""Generators for trained priors: ``z (B, k) -> image (B, C, H, W)``.

``GLODecoder`` is a small DCGAN-style decoder (a linear layer to a coarse feature map,
then upsampling + 3x3 convolutions), as used for GLO by Bojanowski et al. (2017).
``LinearDecoder`` is its linear special case ``x = b + W z`` (a PCA basis when trained or
computed in closed form). Neither uses batch normalisation: restarts of a latent solve
and the shards of a distributed training run are batched together, and an image must
not depend on which other codes share its batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

KINDS = ("glo", "linear")


class GLODecoder(nn.Module):
    """Deep decoder for GLO: ``Linear -> (Upsample x2 -> Conv3x3 -> LeakyReLU) * L -> sigmoid``.

    Args:
        latent: code size ``k``.
        shape: image shape ``(C, H, W)``.
        width: channels of the coarsest feature map; halved at each upsampling (>= 16).

    The coarsest map is about 4x4: ``L = floor(log2(min(H, W) / 4))`` upsamplings; the
    output is made at the next multiple of ``2**L`` and cropped (top-left) to ``(H, W)``.

    Example:
        >>> net = GLODecoder(8, (1, 16, 16), width=32)
        >>> net(torch.randn(3, 8)).shape
        torch.Size([3, 1, 16, 16])
    """

    def __init__(self, latent: int, shape: tuple, width: int = 64):
        super().__init__()
        c, h, w = (int(v) for v in shape)
        if latent < 1 or width < 1 or min(c, h, w) < 1:
            raise ValueError("the decoder needs latent >= 1, width >= 1 and a valid image shape.")
        self.latent, self.shape = latent, (c, h, w)
        self.levels = max(0, int(math.log2(min(h, w) / 4)))
        self.start = (math.ceil(h / 2**self.levels), math.ceil(w / 2**self.levels))
        chans = [max(width // 2**i, min(width, 16)) for i in range(self.levels + 1)]
        self.fc = nn.Linear(latent, chans[0] * self.start[0] * self.start[1])
        blocks = []
        for i in range(self.levels):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(chans[i], chans[i + 1], 3, padding=1),
                nn.LeakyReLU(0.2),
            ]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv2d(chans[-1], c, 3, padding=1)
        self.width = width

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = nn.functional.leaky_relu(self.fc(z), 0.2)
        h = h.view(z.shape[0], -1, *self.start)
        x = torch.sigmoid(self.head(self.body(h)))
        return x[..., : self.shape[1], : self.shape[2]]


class LinearDecoder(nn.Module):
    """``x = b + W z``, ``W`` of shape ``(C*H*W, k)``: the linear factorisation model.

    Example:
        >>> net = LinearDecoder(4, (1, 8, 8))
        >>> net(torch.randn(2, 4)).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(self, latent: int, shape: tuple, width: int = 0):
        super().__init__()
        self.latent, self.shape = latent, tuple(int(v) for v in shape)
        n = math.prod(self.shape)
        # small random start (the closed-form PCA prior overwrites it)
        self.weight = nn.Parameter(torch.randn(n, latent) / math.sqrt(n))
        self.bias = nn.Parameter(torch.zeros(n))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.weight.T + self.bias).view(z.shape[0], *self.shape)


def build_decoder(config: dict) -> nn.Module:
    """The decoder named by ``config`` (``kind``, ``latent``, ``shape``, ``width``).

    Example:
        >>> build_decoder({"kind": "linear", "latent": 2, "shape": [1, 4, 4]}).weight.shape
        torch.Size([16, 2])
    """
    kind = config.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown decoder kind '{kind}'; use {' or '.join(KINDS)}.")
    cls = GLODecoder if kind == "glo" else LinearDecoder
    return cls(int(config["latent"]), tuple(config["shape"]), int(config.get("width", 64)))
