"""How an image goes through the one-plane denoiser: one (opponent) channel at a time.

A colour image becomes its three opponent channels (``invprior.colour``, colour differences
shifted to mid-grey), each a plane the network denoises at the image's noise level. A
guided network (``DenoiserUNet(guides=3)``) also sees the image's three channels while it
denoises one: the luminance's edges show where the noisier colour differences may change.
Gray images (and other channel counts) go plane by plane, without guides.

Convention:
    ``split(x (B, C, H, W), sigma, guided) -> (inputs (B*C, 1 + G, H, W), levels (B*C,))``,
    the plane first, then its ``G`` guides (``G = 3`` for a guided colour network, else 0);
    ``join(out (B*C, 1, H, W), C) -> (B, C, H, W)`` undoes the reshaping and the opponent
    transform. The training loop, the held-out check and ``priors.cnn.CNNDenoiser`` share
    these two, so the network is trained on exactly what it sees at restore time.

Example:
    >>> x = torch.rand(2, 3, 8, 8)
    >>> inputs, levels = split(x, 0.1, guided=True)
    >>> inputs.shape, levels.shape
    (torch.Size([6, 4, 8, 8]), torch.Size([6]))
    >>> torch.allclose(join(inputs[:, :1], 3), x, atol=1e-6)
    True
"""

from __future__ import annotations

import torch

from ..colour import from_opponent, to_opponent

__all__ = ["split", "join", "apply", "GUIDES"]

GUIDES = 3  # a guided network sees all three opponent channels


def split(x: torch.Tensor, sigma, guided: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` as network inputs, one plane per row (see the module's Convention)."""
    b, c, h, w = x.shape
    if guided and c != 3:
        raise ValueError(f"a colour (guided) denoiser takes RGB images, not {c} channel(s).")
    channels = to_opponent(x, centred=True)
    planes = channels.reshape(b * c, 1, h, w)
    if guided:
        planes = torch.cat([planes, channels.repeat_interleave(c, 0)], 1)
    if isinstance(sigma, (int, float)):  # filled on the device: a copy there waits for it
        levels = torch.full((1,), float(sigma), dtype=x.dtype, device=x.device)
    else:
        levels = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1)
    return planes, levels.expand(b).repeat_interleave(c)


def join(out: torch.Tensor, channels: int) -> torch.Tensor:
    """``(B*C, 1, H, W)`` denoised planes -> ``(B, C, H, W)`` images."""
    bc, _, h, w = out.shape
    return from_opponent(out.reshape(bc // channels, channels, h, w), centred=True)


def apply(net, inputs: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """``net`` on rows of :func:`split`: ``(N, 1 + G, H, W), (N,) -> (N, 1, H, W)``."""
    guide = inputs[:, 1:] if inputs.shape[1] > 1 else None
    return net(inputs[:, :1], levels, guide)
