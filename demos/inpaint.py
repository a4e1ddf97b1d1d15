"""Inpainting demo: text or scribbles painted over a photo, filled by every prior and by
biharmonic inpainting.

    python demos/inpaint.py [--fast] [--image PATH] [--mask text|scribble|boxes] [--stroke PX] [-o inpaint.png] [--force]

The truth (default the shipped astronaut, assets/astronaut256.png, at 128x128) loses the
pixels under a drawn mask (``Inpainting.draw(kind="text")``, ``"scribble"`` or ``"boxes"``,
five holes 1/8 to 1/4 of the image wide; seeded; every pixel the drawing touches is
missing), no noise.
Methods: skimage biharmonic inpainting (the classical reference), the trained inpainter
(``inpainter``), plug-and-play with the shipped CNN denoiser (``denoiser``), plug-and-play
K-SVD (``sparse``), the deep image prior (``dip``) and the deep decoder (``decoder``); every
one keeps the observed pixels and fills only the holes. Writes ONE figure: the observation
(holes black) | each method | truth with the PSNR under each panel, and below it the dip and
decoder runs (loss, PSNR, stopping signal per iteration; returned iteration in red).
Common options: demos/common.py.
"""

from __future__ import annotations

import sys

import common

import operators as O
from invprior.bench.classical import biharmonic


def run(argv=None) -> int:
    p = common.parser(__doc__, "inpaint.png", common.ASSETS / "astronaut256.png")
    p.add_argument("--mask", default="text", choices=("text", "scribble", "boxes"), help="what is painted over")
    p.add_argument("--stroke", type=float, default=None, help="--mask scribble: 8 strokes this many pixels wide (default: 12 strokes 2 pixels wide)")
    args = common.settle(p.parse_args(argv))
    if args.stroke is not None and not (args.mask == "scribble" and 0 < args.stroke <= 64):
        p.error("--stroke takes a width above 0 and up to 64 pixels, with --mask scribble.")
    x = common.load_image(args.image, args.size)
    if args.stroke is not None:
        drawn = O.scribble_mask(tuple(x.shape[1:]), 8, args.stroke, seed=args.seed)
    else:
        drawn = O.Inpainting.draw(tuple(x.shape[1:]), kind=args.mask, seed=args.seed)
    op = O.Inpainting(drawn)
    y = op(x)
    classical = common.timed("biharmonic", lambda: biharmonic(y, op.mask))
    # the trained inpainter: no iterations (invprior.priors.inpainter)
    inpainter = common.timed("inpainter", lambda: common.prior("inpainter", y, op, args, x))
    rows = [classical, inpainter] + common.priors(y, op, args, x)
    missing = 1 - op.mask.float().mean().item()
    title = f"inpainting, {args.mask} mask ({missing:.0%} of the pixels missing), {x.shape[-1]}x{x.shape[-2]}"
    return common.finish(args, (f"{args.mask} mask", y, True), rows, x, title)


if __name__ == "__main__":
    sys.exit(common.main(run))
