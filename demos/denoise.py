"""Denoising demo: white gaussian noise removed by every prior and by non-local means.

    python demos/denoise.py [--fast] [--image PATH] [--sigma 25] [-o denoise.png] [--force]

The truth (default the shipped camera, assets/camera256.png, at 128x128) gets noise of std
``--sigma``/255 (seeded); the noise level is not told to the solvers (each estimates it).
Methods: skimage non-local means (``nl-means``, the classical reference, told the level),
the shipped CNN denoiser (one pass), K-SVD (``sparse``), the deep image prior (``dip``)
and the deep decoder (``decoder``). Prints PSNR/SSIM/seconds; writes ONE figure:
noisy | each method | truth with the PSNR under each panel, and below it the dip and
decoder runs (loss, PSNR and stopping signal per iteration, returned iteration in red).
Common options (``--size``, ``--iters``, ``--max-seconds``, ...): demos/common.py.
"""

from __future__ import annotations

import sys

import common

import operators as O
from invprior.bench.classical import nl_means


def run(argv=None) -> int:
    p = common.parser(__doc__, "denoise.png", common.ASSETS / "camera256.png")
    p.add_argument("--sigma", type=float, default=25, help="noise std on the 0-255 scale")
    args = p.parse_args(argv)
    if not 0 <= args.sigma <= 255:  # said on this scale, not as the std GaussianNoise takes
        p.error(f"--sigma is the noise std on the 0-255 scale, from 0 to 255, got {args.sigma:g}.")
    args = common.settle(args)
    x = common.load_image(args.image, args.size)
    y = O.GaussianNoise(args.sigma / 255, seed=args.seed)(x)
    op = O.Denoising()
    classical = common.timed("nl-means", lambda: nl_means(y, args.sigma / 255))
    rows = [classical] + common.priors(y, op, args, x)
    title = f"denoising, gaussian noise sigma {args.sigma:g}/255, {x.shape[-1]}x{x.shape[-2]}"
    return common.finish(args, ("noisy", y, True), rows, x, title)


if __name__ == "__main__":
    sys.exit(common.main(run))
