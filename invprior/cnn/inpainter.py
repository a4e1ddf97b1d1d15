"""The trained inpainter: the shipped gray denoiser, fine-tuned to fill holes without iterating.

A plug-and-play denoiser fills a hole only from what is near its border: each step smooths
the last estimate a little, so a hole a dozen pixels wide ends as a smear. Trained to
inpaint, the same U-Net sees the whole hole at once through its four scales. Its input is
the harmonic fill of the observation (``operators.mask.harmonic_inpaint``: smooth, never
outside the range of the hole's border) and, as the noise-level channel, a map: ``HOLE_LEVEL``
inside the holes ("denoise hard here") and 0 elsewhere. So the fine-tune
starts from a network that already knows what to do with it, and the step-0 network smooths
the fill. Trained on random holes (``random_holes``: boxes, or scribbles from
``operators.scribble_mask`` with random seeds; never the benchmark's masks) in 128-pixel
patches of photographs, squared error inside the holes. Colour images go through it one
RGB channel at a time.

Example:
    >>> import operators as O
    >>> y, mask = torch.rand(1, 3, 32, 32), O.box_mask((32, 32), (8, 8, 12, 12))
    >>> out = inpaint(load_denoiser(ASSET, task="inpaint"), y * mask, mask)
    >>> out.shape, torch.equal(out * mask, y * mask)  # observed pixels kept
    (torch.Size([1, 3, 32, 32]), True)
"""

from __future__ import annotations

import torch

import operators as O

from ..weights import weight_file
from .checkpoint import load_denoiser

__all__ = ["ASSET", "HOLE_LEVEL", "ROTATIONS", "random_holes", "network_inputs", "inpaint", "load_denoiser"]

ASSET = weight_file("inpainter.pt")
# the level-map value inside the holes: a noise level (on [0, 1]) high enough that the start
# network replaces what it sees there rather than keeps it
HOLE_LEVEL = 0.2
# fills averaged over turns of the image: on the hard cases (inside the holes) four turns gave
# +0.42 dB (scribbles_camera), +0.27 (scribbles_astronaut), +0.34 (boxes_camera) over one
# pass, -0.01 on boxes_astronaut (the first 45-minute weights: +0.46, +0.29, +0.29, 0.00);
# eight (turns and mirrors, first weights) no more than four
ROTATIONS = 4


def random_holes(size: int, generator: torch.Generator) -> torch.Tensor:
    """A training mask ``(size, size)`` (1 = observed): half the time 1 to 3 boxes with sides
    from 12 pixels to half the patch, else 2 to 5 scribbles 4 to 20 pixels wide.

    Example:
        >>> m = random_holes(64, torch.Generator().manual_seed(0))
        >>> m.shape, 0 < (m == 0).float().mean().item() < 1
        (torch.Size([64, 64]), True)
    """
    def draw(low, high):  # an integer in [low, high)
        return int(torch.randint(low, high, (1,), generator=generator))

    if torch.rand(1, generator=generator).item() < 0.5:
        mask = torch.ones(size, size)
        for _ in range(draw(1, 4)):
            bh, bw = draw(12, size // 2 + 1), draw(12, size // 2 + 1)
            top, left = draw(0, size - bh + 1), draw(0, size - bw + 1)
            mask[top : top + bh, left : left + bw] = 0
        return mask
    width = 4 + 16 * torch.rand(1, generator=generator).item()
    return O.scribble_mask((size, size), draw(2, 6), width, seed=draw(0, 2**31 - 1))


def network_inputs(y: torch.Tensor, mask: torch.Tensor):
    """``(fill, level)``, both ``(N, 1, H, W)``, for planes ``y (N, 1, H, W)`` with holes
    where ``mask`` (broadcasts to ``y``; 1 = observed) is below 0.5: the harmonic fill, and
    ``HOLE_LEVEL`` in the holes, 0 elsewhere."""
    observed = (mask.to(y).expand_as(y) >= 0.5).to(y.dtype)
    fill = O.harmonic_inpaint(y * observed, observed)
    return fill, HOLE_LEVEL * (1 - observed)


@torch.no_grad()
def inpaint(net, y: torch.Tensor, mask: torch.Tensor, *, rotations: int = ROTATIONS,
            planes_per_call: int | None = None, tile: int | None = None,
            done=None) -> torch.Tensor:
    """Fill the holes of ``y (B, C, H, W)`` (``mask`` ``(H, W)`` or broadcastable, 1 =
    observed) with the inpainting network ``net``, each channel on its own, the fill clamped
    to [0, 1]; observed pixels are kept as they are.

    The fill is the mean of the network's fills of the image turned by 0, 90, 180 and 270
    degrees (the first ``rotations`` of them; 1 = one pass): its errors differ from turn to
    turn and partly cancel. ``planes_per_call`` planes go through the network at once
    (default: all) and a plane larger than ``tile`` pixels a side on overlapping tiles
    (``invprior.tiles.tiled``), so that the peak memory stays bounded; ``done`` is called
    after each network call."""
    from ..tiles import tiled

    b, c, h, w = y.shape
    planes = y.reshape(b * c, 1, h, w)
    observed = (mask.to(y).expand(b, c, h, w).reshape(b * c, 1, h, w) >= 0.5).to(y.dtype)
    stacked = torch.cat(network_inputs(planes, observed), 1)  # fill, level map
    out = torch.zeros_like(planes)
    for turn in range(rotations):
        chunks = torch.rot90(stacked, turn, (-2, -1)).split(planes_per_call or len(stacked))
        fill = torch.cat([tiled(lambda t: net(t[:, :1], t[:, 1:]), chunk,
                                tile=tile or max(h, w), done=done) for chunk in chunks])
        out += torch.rot90(fill, -turn, (-2, -1)).clamp(0, 1) / rotations
    return torch.where(observed > 0, planes, out).reshape(b, c, h, w)
