"""Super-resolution demo: bicubic | sparse coupled dictionaries | deep image prior | truth.

    python demos/superres.py [--image astronaut] [--size 128] [--factor 4] [-o superres.png] [--force]

The low-resolution input is the truth downsampled with the antialiased bicubic operator;
prints PSNR/SSIM and seconds of each method; panels left to right in that order.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

import operators as O
from invprior.api import solve
from invprior.cases import sample_image
from invprior.io import ImageError, write_image
from invprior.metrics import psnr, ssim



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
    panels = [("bicubic", O.upsample_bicubic(y, args.factor).clamp(0, 1), 0.0)]
    for prior in ("sparse", "dip"):
        start = time.perf_counter()
        out = solve(y, op, prior, iters=args.iters, progress=True)
        panels.append((prior, out.image, time.perf_counter() - start))
    panels.append(("truth", x, 0.0))
    for name, image, seconds in panels:
        print(f"{name:8s} PSNR {psnr(image, x):6.2f} dB  SSIM {ssim(image, x):.3f}  {seconds:6.1f} s")
    try:
        write_image(args.output, torch.cat([im for _, im, _ in panels], -1), overwrite=args.force)
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: " + " | ".join(name for name, _, _ in panels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
