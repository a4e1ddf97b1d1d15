"""A forward operator written here, in five lines: an over-exposed photo, y = clip(1.5 x) +
noise, undone by the default prior for a callable and by the naive inverse.

    python demos/custom_operator.py [--fast] [--image PATH] [--gain 1.5] [--noise 0.01] [-o custom_operator.png] [--force]

``overexpose`` below is a plain Python function, nonlinear (the clipping) and not an
``operators.Operator``: ``solve(y, overexpose, shape=(C, H, W))`` takes it as it is, with
the default prior for a callable (``prior="auto"``: plug-and-play with the CNN denoiser and
Gauss-Newton data steps; it finds the pixels the operator hides, about a third here, where
``y`` says only "bright", and starts them at the middle of the values that saturate),
told the noise level. The deep image prior and the deep decoder run on the same callable.
The classical reference is the naive inverse ``y / gain`` (right where nothing clipped,
flat grey-white where the photo saturated). The truth is the shipped astronaut
(assets/astronaut256.png, 128x128) or your ``--image``. Writes ONE figure: over-exposed |
each method | truth with the PSNR under each panel, and below it the network runs (loss,
PSNR, stopping signal per iteration; returned iteration in red). Common options:
demos/common.py.
"""

from __future__ import annotations

import sys

import common
import torch

from invprior.api import solve


def overexposure(gain: float):
    """The forward model ``x -> clip(gain * x, 0, 1)`` for images ``(B, C, H, W)``."""

    def overexpose(x: torch.Tensor) -> torch.Tensor:
        return (gain * x).clamp(0, 1)

    return overexpose


def run(argv=None) -> int:
    p = common.parser(__doc__, "custom_operator.png", common.ASSETS / "astronaut256.png")
    p.add_argument("--gain", type=float, default=1.5, help="exposure gain (> 1 saturates)")
    p.add_argument("--noise", type=float, default=0.01, help="noise std on the [0, 1] scale")
    args = common.settle(p.parse_args(argv))
    if not args.gain > 0 or args.noise < 0:
        raise ValueError("--gain must be > 0 and --noise >= 0.")
    x = common.load_image(args.image, args.size)
    f = overexposure(args.gain)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(args.seed))
    y = f(x) + args.noise * noise
    shape = tuple(x.shape[1:])

    def default():  # prior="auto": plug-and-play for a callable, FAST_PNP steps with --fast
        fast = {"iters": common.FAST_PNP} if args.fast else {}
        return solve(y, f, shape=shape, noise_level=args.noise, truth=x, progress=not args.quiet, **fast)

    rows = [common.timed("naive-inverse", lambda: y / args.gain)]
    auto = common.timed("auto", default)
    rows.append(auto._replace(name=f"auto={auto.result.prior}"))
    rows += [common.timed(kind, lambda kind=kind: common.network(
        kind, y, f, args, x, shape=shape, noise_level=args.noise)) for kind in ("dip", "decoder")]
    clipped = (args.gain * x >= 1).float().mean().item()
    title = (f"custom operator y = clip({args.gain:g} x) + noise {args.noise:g} "
             f"({clipped:.0%} of the values clipped), {x.shape[-1]}x{x.shape[-2]}")
    return common.finish(args, ("over-exposed", y, True), rows, x, title)


if __name__ == "__main__":
    sys.exit(common.main(run))
