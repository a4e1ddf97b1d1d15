"""Shared by the demos: run priors on one observation, print metrics, save a panel strip."""

from __future__ import annotations

import sys
import time

import torch

from invprior.api import solve
from invprior.io import ImageError, write_image
from invprior.metrics import psnr, ssim


def compare(x, y, op, first: tuple, priors, iters: int, output: str, force: bool) -> int:
    """Panels: ``first`` = (name, image) | each prior's result | truth; returns an exit code."""
    panels = [(first[0], first[1].clamp(0, 1), 0.0)]
    for prior in priors:
        start = time.perf_counter()
        # the iteration cap is the networks'; plug-and-play keeps its own default
        out = solve(y, op, prior, iters=iters if prior in ("dip", "decoder") else None, progress=True)
        panels.append((prior, out.image, time.perf_counter() - start))
    panels.append(("truth", x, 0.0))
    for name, image, seconds in panels:
        print(f"{name:8s} PSNR {psnr(image, x):6.2f} dB  SSIM {ssim(image, x):.3f}  {seconds:6.1f} s")
    try:
        write_image(output, torch.cat([im for _, im, _ in panels], -1), overwrite=force)
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {output}: " + " | ".join(name for name, _, _ in panels))
    return 0
