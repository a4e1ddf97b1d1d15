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

Where a hole reaches ``REFINE_HOLE`` (16) pixels in (boxes, an object cut out), the fill is
then averaged with plug-and-play (``priors.cnn``) started from it: the fill carries the
structure across the hole, and the splitting continues the texture around it, which the
inpainter alone smooths (``refine``). Inside the holes of five 32-64 pixel boxes, 256x256,
two masks each (BENCHMARKS.md, "Large holes", and the closing note of 2026-12-05): camera
23.62 -> 24.77 dB, astronaut 13.48 -> 13.47; with 12 fills of six other scikit-image photos,
11 of 14 better, by 0.62 dB on average (brick +2.6 at best, moon -0.2 on one mask at worst),
where plug-and-play started from the fill alone gains 0.57 but loses up to 0.9 (smooth
images) and plug-and-play from its own start loses 1.0. Thinner holes keep the fill alone:
on 20 fills of eight 8- or 14-pixel scribbles on ten photos the mean gains about 0.7 dB
on average (brick +4.0 at best, the smooth moon -0.8 at worst), but on the benchmark it
loses (scribbles camera 23.93 -> 23.84, astronaut 18.75 -> 18.74; the hole-width sweep's six
rows at radius 7.8-15.8, camera -0.46, -0.26, -0.17, coffee +0.12, -0.12, +0.22); closing
notes of 2026-12-05, and ``refine=True`` for textured photos. The refinement adds
plug-and-play's time (in all 7 s for a gray 256x256 image, 24 s for RGB, on 2 cores).
Noise-free, the observed pixels are kept, so the fill and plug-and-play run only on the
holes' bounding box and ``window.MARGIN`` pixels around it (``priors.window``): a 60x90 box
in the 512x512 RGB astronaut, 7.0 s in all, against 17.9 s with the fill on the whole image
and plug-and-play on the window (and 126 s with both on the whole image for a 90x60 box);
15.19 dB inside the hole against 15.21. A noisy observation is refined on the whole image, so
by default only up to 512x512 (``REFINE_NOISY_PIXELS``); boxes on camera, noise 0.05 on the
observed pixels: 24.87 dB inside the holes against 23.89 for the denoised fill, 33.87 on the
observed pixels against 33.98.

Example:
    >>> import torch, operators as O
    >>> op = O.Inpainting(O.scribble_mask((32, 32), 3, 6.0, seed=1))
    >>> x = torch.rand(1, 1, 32, 32)
    >>> out = InpainterPrior().restore(op(x), op)
    >>> out.iterations, torch.equal(op(out.image), op(x))
    (1, True)
"""

from __future__ import annotations

import math
from pathlib import Path

from tqdm.auto import tqdm

import operators as O
from operators.base import as_switch

from ..checks import cudnn_tuned, resolve_device, whole_number
from ..console import bar_options
from ..cnn.inpainter import ASSET, ROTATIONS, inpaint, load_denoiser
from ..result import Result
from ..tiles import tile_count, tile_pixels, tile_side
from .base import ItemwisePrior
from .cnn import CNNDenoiser, CNNPrior
from .window import inpainting_window, restore_in_window

# holes this many pixels in (``Inpainting.hole_radius``) get the fill averaged with
# plug-and-play started from it (module docstring)
REFINE_HOLE = O.Inpainting.WIDE_HOLE
# A noisy observation is refined on the whole image (plug-and-play denoises it all), so only
# up to this many pixels: 512x512 RGB took 126 s, a 12-megapixel photo would take over an hour
REFINE_NOISY_PIXELS = 512 * 512


def why_not(op) -> str | None:
    """None if the inpainter serves ``op``, else one sentence saying why it cannot.

    Example:
        >>> why_not(O.Inpainting(O.box_mask((16, 16), (4, 4, 8, 8)))) is None
        True
    """
    if not isinstance(op, O.Inpainting):
        return ("the inpainter prior fills the holes of an inpainting mask "
                f"(operators.Inpainting), not {type(op).__name__}; use prior='denoiser' or 'dip'.")
    if op.mask.shape[0] != 1 or not op.is_binary():
        return ("the inpainter prior takes one binary mask (0 or 1 per pixel) for the whole "
                "batch; use prior='denoiser' for this one.")
    if op.mask.shape[1] > 1 and not bool((op.mask == op.mask[:, :1]).all()):
        # (it fills a pixel from its neighbours, one channel at a time: the channels seen
        # there were left unused, red missing alone 14.11 dB where the denoiser gives 20.77)
        return ("the inpainter prior fills pixels missing in every channel, and this mask "
                "hides some channels only; use prior='denoiser' for this one.")
    return None


class InpainterPrior(ItemwisePrior):
    """The ``inpainter`` prior (see the module docstring).

    Args:
        weights: an inpainter file from ``python -m invprior.train --kind inpainter``
            (default: the shipped one). refine: average the fill with plug-and-play started
            from it (default ``None``: where a hole reaches ``REFINE_HOLE`` pixels in, and
            for a noisy observation on images of up to ``REFINE_NOISY_PIXELS``).
            device. max_seconds: time budget of the refinement's plug-and-play (the fill
            itself takes seconds), so that a time limit does not cost the fill. seed: unused
            (the fill is deterministic); taken so that one command line serves every prior.
    """

    name = "inpainter"

    def __init__(self, weights: str | Path | None = None, *, refine: bool | None = None,
                 device="auto", max_seconds: float | None = None, seed: int = 0):
        if max_seconds is not None and (isinstance(max_seconds, (bool, str)) or not max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number, got {max_seconds!r}.")
        # (refine="no" had run the refinement: any value but None taken as its truth)
        refine = None if refine is None else as_switch(refine, "refine")
        seed = whole_number("seed", seed, 0)
        if weights is not None and not isinstance(weights, (str, Path)):
            raise ValueError(f"weights is a .pt file's path, got {weights!r}.")
        self.device = resolve_device(device)
        self.refine, self.max_seconds = refine, max_seconds
        self.net = load_denoiser(weights or ASSET, task="inpaint").to(self.device)
        # the network is the denoiser's: the same activation memory per pixel
        self.pixels = tile_pixels(self.device, CNNDenoiser.BYTES_PER_PIXEL)
        self.tile = tile_side(self.pixels)
        self.cnn = None  # the CNN denoiser and its plug-and-play, built when first needed

    def check(self, op) -> str | None:
        return why_not(op)

    def restore_one(self, y, op, *, noise_level, truth, progress, desc) -> Result:
        return self.restore_together(y, op, noise_level=noise_level, truth=truth,
                                     progress=progress, desc=desc)[0]

    def restore_together(self, y, op, *, noise_level, truth, progress, desc) -> list:
        window = inpainting_window(op, y, [noise_level or 0.0])
        if window is not None:  # noise-free holes: the fill too needs only their surroundings
            return restore_in_window(
                lambda y, op, truth, start: self.restore_together(
                    y, op, noise_level=0.0, truth=truth, progress=progress, desc=desc),
                window, y, op, truth)
        b, c, h, w = y.shape
        per_call = max(1, self.pixels // (h * w))
        calls = ROTATIONS * math.ceil(b * c / per_call) * tile_count(h, w, self.tile)
        shown = bar_options(progress and calls > 1)
        # (tiles and turns: one shape, tuned once)
        with tqdm(total=calls, desc=desc, unit="tile", **shown) as bar, cudnn_tuned(self.device):
            out = inpaint(self.net, y, op.mask, planes_per_call=per_call, tile=self.tile,
                          done=bar.update)
        how = f"trained inpainter ({ROTATIONS} turns averaged)"
        refine = self.refine
        if refine is None:
            refine = op.hole_radius() >= REFINE_HOLE and (not noise_level
                                                          or h * w <= REFINE_NOISY_PIXELS)
        if noise_level or refine:
            self.cnn = self.cnn or CNNPrior(device=self.device, max_seconds=self.max_seconds)
        if noise_level:
            out = self.cnn.denoise(out, noise_level, progress, desc).clamp(0, 1)
            how += ", then the CNN denoiser"
        if not refine:
            return [Result(out[i : i + 1], iteration=1, iterations=1, stop_reason=how)
                    for i in range(b)]
        # noise-free, plug-and-play runs on the holes' surroundings only (``priors.window``)
        # (traced as the run it is: psnrs[iteration - 1], the returned mean's, had been past
        # the end of a one-value trace)
        items = self.cnn.splitting.restore_together(
            y, op, noise_level=noise_level, truth=truth, progress=progress,
            desc=f"{desc}: plug-and-play", one=True, start=out)
        for i, item in enumerate(items):
            item.image = (out[i : i + 1] + item.image) / 2
            item.stop_reason = f"{how}; mean with {item.stop_reason} (started from the fill)"
        return items

