"""Denoising demo: noisy | trained CNN | K-SVD (sparse coding) | deep image prior | truth.

    python demos/denoise.py [--image camera] [--size 128] [--sigma 25] [-o denoise.png] [--force]

Prints PSNR/SSIM and seconds of each method; the panels are in that order, left to right.
"""

from __future__ import annotations

import argparse
import sys

from compare import compare

import operators as O
from invprior.bench.cases import sample_image


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--image", default="camera", help="skimage.data image name")
    p.add_argument("--size", type=int, default=128, help="resize to size x size")
    p.add_argument("--sigma", type=float, default=25, help="noise std on the 0-255 scale")
    p.add_argument("--iters", type=int, default=2000, help="deep-image-prior iteration cap")
    p.add_argument("-o", "--output", default="denoise.png", help="output PNG")
    p.add_argument("--force", action="store_true", help="overwrite the output")
    args = p.parse_args(argv)
    x = sample_image(args.image, args.size)
    y = O.GaussianNoise(args.sigma / 255, seed=0)(x)
    return compare(
        x, y, O.Denoising(), ("noisy", y),
        ("denoiser", "sparse", "dip"), args.iters, args.output, args.force)


if __name__ == "__main__":
    sys.exit(main())
