"""Super-resolution demo: a small image made FACTOR times larger by every prior and by bicubic.

    python demos/superres.py [--fast] [--image PATH] [--factor 4] [-o superres.png] [--force]

The truth (default the shipped astronaut, assets/astronaut256.png, at 128x128; cropped to a
multiple of the factor) is downsampled with the antialiased bicubic operator
(``Downsampling(factor)``), noise-free. Methods: bicubic interpolation (the classical
reference), plug-and-play with the shipped CNN denoiser (``denoiser``), coupled
dictionaries (``sparse``), the deep image prior (``dip``) and the deep decoder
(``decoder``). PSNR/SSIM on all channels of the whole image. Writes ONE figure: the
low-resolution input (enlarged, nearest neighbour) | each method | truth with the PSNR under
each panel, and below it the dip and decoder runs (loss, PSNR, stopping signal per
iteration; returned iteration in red). Common options: demos/common.py.
"""

from __future__ import annotations

import sys

import common

import operators as O


def run(argv=None) -> int:
    p = common.parser(__doc__, "superres.png", common.ASSETS / "astronaut256.png")
    p.add_argument("--factor", type=int, default=4, choices=(2, 3, 4), help="downsampling factor")
    args = common.settle(p.parse_args(argv))
    x = common.load_image(args.image, args.size, multiple=args.factor)
    op = O.Downsampling(args.factor)
    y = op(x)
    classical = common.timed("bicubic", lambda: O.upsample_bicubic(y, args.factor))
    rows = [classical] + common.priors(y, op, args, x)
    title = f"super-resolution x{args.factor}, {y.shape[-1]}x{y.shape[-2]} -> {x.shape[-1]}x{x.shape[-2]}"
    return common.finish(args, (f"input x{args.factor}", y, False), rows, x, title)


if __name__ == "__main__":
    sys.exit(common.main(run))
