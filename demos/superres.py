"""Super-resolution demo: bicubic | plug-and-play CNN | coupled dictionaries | deep image prior | truth.

    python demos/superres.py [--image astronaut] [--size 128] [--factor 4] [-o superres.png] [--force]

The low-resolution input is the truth downsampled with the antialiased bicubic operator;
prints PSNR/SSIM and seconds of each method; panels left to right in that order.
"""

from __future__ import annotations

import argparse
import sys

from compare import compare

import operators as O
from invprior.bench.cases import sample_image


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--image", default="astronaut", help="skimage.data image name")
    p.add_argument("--size", type=int, default=128, help="truth resized to size x size")
    p.add_argument("--factor", type=int, default=4, help="downsampling factor (2, 3, 4)")
    p.add_argument("--iters", type=int, default=2000, help="deep-image-prior iteration cap")
    p.add_argument("-o", "--output", default="superres.png", help="output PNG")
    p.add_argument("--force", action="store_true", help="overwrite the output")
    args = p.parse_args(argv)
    x = sample_image(args.image, args.size)
    try:
        op = O.Downsampling(args.factor)
        y = op(x)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return compare(
        x, y, op, ("bicubic", O.upsample_bicubic(y, args.factor)),
        ("denoiser", "sparse", "dip"), args.iters, args.output, args.force)


if __name__ == "__main__":
    sys.exit(main())
