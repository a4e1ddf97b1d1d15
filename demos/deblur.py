"""Deblurring demo: a motion blur with a little noise, undone by every prior and by Wiener
deconvolution.

    python demos/deblur.py [--fast] [--image PATH] [--length 9] [--angle 30] [--noise 0.01] [-o deblur.png] [--force]

The truth (default the shipped camera, assets/camera256.png, at 128x128) is blurred by a
linear motion kernel of ``--length`` pixels at ``--angle`` degrees (``Blur(motion=...)``,
circular borders) and gets gaussian noise of std ``--noise`` (seeded); the noise level is
not told to the solvers. Methods: Wiener deconvolution with the true kernel (balance
0.003, ``operators.blur.wiener_deconvolution``; the classical reference), plug-and-play with the shipped CNN
denoiser (``denoiser``), plug-and-play K-SVD (``sparse``), the deep image prior (``dip``) and
the deep decoder (``decoder``). Writes ONE figure: blurred | each method | truth with the
PSNR under each panel, and below it the dip and decoder runs (loss, PSNR, stopping signal
per iteration; returned iteration in red). Common options: demos/common.py.
"""

from __future__ import annotations

import sys

import common

import operators as O
from operators.blur import wiener_deconvolution


def run(argv=None) -> int:
    p = common.parser(__doc__, "deblur.png", common.ASSETS / "camera256.png")
    common.motion_arguments(p, length=9)
    args = common.settle(p.parse_args(argv))
    x = common.load_image(args.image, args.size)
    op = O.Blur(motion=(args.length, args.angle))
    y = O.GaussianNoise(args.noise, seed=args.seed)(op(x))
    classical = common.timed("wiener", lambda: wiener_deconvolution(y, op.kernel))
    rows = [classical] + common.priors(y, op, args, x)
    title = (f"deblurring, motion {args.length} px at {args.angle:g} degrees, noise {args.noise:g}, "
             f"{x.shape[-1]}x{x.shape[-2]}")
    return common.finish(args, ("blurred", y, True), rows, x, title)


if __name__ == "__main__":
    sys.exit(common.main(run))
