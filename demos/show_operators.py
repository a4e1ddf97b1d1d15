"""Show a shipped image under every forward operator, side by side, in one PNG.

    python demos/show_operators.py [--fast] [-o operators.png] [--force]

Panels: clean | noisy (gaussian 0.1) | blur sigma 2 | 50% random pixels | text mask |
downsampled x4 (shown bicubic-upsampled) | compressed sensing at 25% (shown as A^T y).
"""

from __future__ import annotations

import argparse
import sys

import torch

import operators as O
from invprior.bench.cases import sample_image
from invprior.io import ImageError, write_image


def panels(x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """The degraded versions of ``x`` (1, C, H, W), each at the size of ``x``."""
    shape = tuple(x.shape[1:])
    cs = O.CompressedSensing(x[0].numel() // 4, shape, kind="fast", seed=0)
    return [
        ("clean", x),
        ("noise 0.1", O.GaussianNoise(0.1, seed=0)(x)),
        ("blur 2", O.Blur(sigma=2.0)(x)),
        ("inpaint 50%", O.Inpainting(shape=shape, missing=0.5)(x)),
        ("text mask", O.Inpainting(shape=shape, kind="text")(x)),
        ("sr x4", O.upsample_bicubic(O.Downsampling(4)(x), 4)),
        ("cs 25% (A^T y)", cs.adjoint(cs(x))),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("-o", "--output", default="operators.png", help="output PNG (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output (default: off)")
    parser.add_argument("--fast", action="store_true", help="64x64 panels instead of 128x128 (default: off)")
    parser.add_argument("--quiet", action="store_true", help="accepted as by the other demos; this one has no progress bar (default: off)")
    args = parser.parse_args(argv)
    if not args.output.lower().endswith(".png"):  # as every demo: the figure is a PNG
        print(f"error: cannot write '{args.output}': the figure is a PNG, use a .png name.",
              file=sys.stderr)
        return 2
    x = sample_image("astronaut", 64 if args.fast else 128)
    row = torch.cat([p.clamp(0, 1) for _, p in panels(x)], dim=-1)
    try:
        path = write_image(args.output, row, overwrite=args.force)
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}: " + " | ".join(name for name, _ in panels(x)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
