"""The ``inpainter`` prior: holes filled by a trained network, without iterations.

``invprior/weights/inpainter.pt`` is the gray CNN denoiser fine-tuned to fill random boxes
and scribbles (``cnn.inpainter``; made by ``train.ASSET_COMMANDS["inpainter"]``). It serves
binary inpainting masks (``operators.Inpainting``), gray or colour (one RGB channel at a
time), the fill averaged over four turns of the image (``cnn.inpainter.ROTATIONS``), in
one to three seconds for a 256x256 image on a 2-core CPU. Given a noise level above 0, the
filled image then goes once through the CNN denoiser (``priors.cnn.CNNDenoiser``), which
sees no hole any more: the fine-tune taught the inpainter nothing about noise outside the
holes (scribbles on camera, noise 0.05 on the observed pixels: 33.7 dB there and 23.9 inside
the holes, against 26.1 and 23.7 without the denoiser; an earlier fine-tune, told the
noise level itself through its level map, gave 23.0 and 23.6);
without, the observed pixels are kept exactly.

Example:
    >>> import operators as O
    >>> op = O.Inpainting(O.scribble_mask((32, 32), 3, 6.0, seed=1))
    >>> x = torch.rand(1, 1, 32, 32)
    >>> out = InpainterPrior().restore(op(x), op)
    >>> out.iterations, torch.equal(op(out.image), op(x))
    (1, True)
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from tqdm.auto import tqdm

import operators as O

from ..checks import resolve_device
from ..cnn.inpainter import ASSET, ROTATIONS, inpaint, load_denoiser
from ..result import Result
from ..tiles import tile_count, tile_pixels, tile_side
from .base import ItemwisePrior
from .cnn import CNNDenoiser


def why_not(op) -> str | None:
    """None if the inpainter serves ``op``, else one sentence saying why it cannot.

    Example:
        >>> why_not(O.Inpainting(O.box_mask((16, 16), (4, 4, 8, 8)))) is None
        True
    """
    if not isinstance(op, O.Inpainting):
        return ("the inpainter prior fills the holes of an inpainting mask "
                f"(operators.Inpainting), not {type(op).__name__}; use prior='denoiser' or 'dip'.")
    mask = op.mask
    if mask.shape[0] != 1 or not ((mask == 0) | (mask == 1)).all():
        return ("the inpainter prior takes one binary mask (0 or 1 per pixel) for the whole "
                "batch; use prior='denoiser' for this one.")
    return None


class InpainterPrior(ItemwisePrior):
    """The ``inpainter`` prior (see the module docstring).

    Args:
        weights: an inpainter file from ``python -m invprior.train --kind inpainter``
            (default: the shipped one). device. seed: unused (the fill is deterministic); taken
            so that one command line serves every prior.
    """

    name = "inpainter"

    def __init__(self, weights: str | Path | None = None, *, device="auto", seed: int = 0):
        self.device = resolve_device(device)
        self.net = load_denoiser(weights or ASSET, task="inpaint").to(self.device)
        # the network is the denoiser's: the same activation memory per pixel
        self.pixels = tile_pixels(self.device, CNNDenoiser.BYTES_PER_PIXEL)
        self.tile = tile_side(self.pixels)
        self.denoise = None  # for noisy observations, built when first needed

    def check(self, op) -> str | None:
        return why_not(op)

    def restore_one(self, y, op, *, noise_level, truth, progress, desc) -> Result:
        return self.restore_together(y, op, noise_level=noise_level, truth=truth,
                                     progress=progress, desc=desc)[0]

    def restore_together(self, y, op, *, noise_level, truth, progress, desc) -> list:
        b, c, h, w = y.shape
        per_call = max(1, self.pixels // (h * w))
        calls = ROTATIONS * math.ceil(b * c / per_call) * tile_count(h, w, self.tile)
        with tqdm(total=calls, desc=desc, unit="tile", disable=not progress or calls < 2,
                  leave=False) as bar:
            out = inpaint(self.net, y, op.mask, planes_per_call=per_call, tile=self.tile,
                          done=bar.update)
        if noise_level:
            self.denoise = self.denoise or CNNDenoiser(device=self.device)
            out = self.denoise(out, noise_level, progress, desc).clamp(0, 1)
        return [Result(out[i : i + 1], iteration=1, iterations=1,
                       stop_reason=f"trained inpainter ({ROTATIONS} turns averaged)"
                       + (", then the CNN denoiser" if noise_level else "")) for i in range(b)]
