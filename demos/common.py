"""What the demos share: their command line, the image they start from, timing each method,
the PSNR/SSIM/seconds table, and the figure (a labelled montage over the network priors'
runs). Not a demo itself: run ``demos/denoise.py`` and the others.

Every demo takes ``--image PATH`` (your own image as the truth; default a shipped one),
``--size`` (the image is cropped to a centred square and resized to it), ``--fast`` (a
64x64 image, 200 network iterations, 8 plug-and-play iterations: seconds), ``--iters`` and ``--max-seconds`` (the
network priors' iteration cap and time limit), ``--seed``, ``-o/--output`` (default: a PNG
named after the demo in the current folder), ``--force`` (replace an existing output) and
``--quiet`` (no progress bars). A bad input or an existing output gets one sentence on
stderr and exit status 2.

The figure (one PNG): row 1 is observation | each method | truth, each panel's method name
and PSNR drawn under it; row 2 has, for every method that iterated with a loss (the deep
image prior, the deep decoder, a trained prior's latent search), its loss / PSNR / stopping
signal per iteration with the returned iteration marked in red (``invprior.plot``).
Panels smaller than 128 pixels are enlarged (nearest neighbour) to stay readable.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

from invprior.api import solve
from invprior.cli import HelpWithDefaults
from invprior.io import ImageError, atomic_write, check_writable, read_image, same_file
from invprior.metrics import psnr, ssim
from invprior.plot import font, history_chart, to_pil
from invprior.priors.base import one_pass

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
FAST_SIZE, FAST_ITERS, FAST_PNP = 64, 200, 8
FULL_SIZE, FULL_SECONDS = 128, 120.0


class Row(NamedTuple):
    """One method's output: its name, image ``(1, C, H, W)``, wall seconds and ``Result``
    (None for a classical method)."""

    name: str
    image: torch.Tensor
    seconds: float
    result: object = None


def parser(doc: str, output: str, image: Path | str | None,
           sized: bool = True) -> argparse.ArgumentParser:
    """The common command line of a demo; ``doc`` is its docstring, ``output`` the default
    figure name, ``image`` the default truth image (None: the demo picks one itself);
    ``sized``: whether it takes ``--size`` (not a demo whose prior has one size)."""
    # the docstring's first paragraph (its first line broke off mid-sentence)
    # (no docstrings under python -OO)
    p = argparse.ArgumentParser(description=" ".join((doc or "").split("\n\n")[0].split()),
                                formatter_class=HelpWithDefaults)
    p.add_argument("--image", default=str(image) if image else None,
                   help="the clean image (PNG/JPEG/TIFF/BMP/.npy) the demo degrades and restores")
    if sized:
        p.add_argument("--size", type=int, default=None,
                       help=f"crop to a centred square and resize to SIZE x SIZE; 0 keeps the image as it is "
                            f"(default: {FULL_SIZE}, {FAST_SIZE} with --fast)")
    # (a demo whose prior has one size keeps it with --fast: cs_faces' help had said 64x64)
    quick = f"{FAST_SIZE}x{FAST_SIZE}, " if sized else ""
    p.add_argument("--fast", action="store_true",
                   help=f"a quick run: {quick}{FAST_ITERS} network and {FAST_PNP} plug-and-play iterations")
    p.add_argument("--iters", type=int, default=None,
                   help=f"iteration cap of the network priors (default: theirs"
                        f"{', 2000 or 3000 for inpainting' if sized else ''}; {FAST_ITERS} with --fast)")
    p.add_argument("--max-seconds", type=float, default=FULL_SECONDS,
                   help="time limit of each network prior")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise, mask and networks")
    p.add_argument("-o", "--output", default=output, help="the figure (PNG)")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def motion_arguments(p: argparse.ArgumentParser, length: int) -> None:
    """``--length``, ``--angle`` and ``--noise`` of the deblurring demos' motion blur."""
    p.add_argument("--length", type=int, default=length, help="motion length in pixels")
    p.add_argument("--angle", type=float, default=30.0, help="motion angle in degrees")
    p.add_argument("--noise", type=float, default=0.01, help="noise std on the [0, 1] scale")


def settle(args) -> argparse.Namespace:
    """Fill the defaults that depend on ``--fast`` and refuse a bad or existing output now,
    before any work."""
    if getattr(args, "size", 0) is None:
        args.size = FAST_SIZE if args.fast else FULL_SIZE
    if args.iters is None and args.fast:
        args.iters = FAST_ITERS
    if getattr(args, "size", 0) < 0 or (args.iters is not None and args.iters < 1) or not args.max_seconds > 0:
        raise ValueError("--size must be >= 0, --iters >= 1 and --max-seconds > 0.")
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise ImageError(f"cannot write '{out}': the figure is a PNG, use a .png name.")
    if out.exists() and not args.force:
        raise ImageError(f"'{out}' already exists; choose another name or pass --force.")
    if args.image and same_file(out, args.image):
        raise ImageError(f"the output '{out}' would overwrite the input image; choose another name.")
    check_writable(out.parent)  # (a folder that is a file had been found after the demo's work)
    return args


def load_image(path, size: int, *, gray: bool = False, multiple: int = 1) -> torch.Tensor:
    """The truth ``(1, C, size, size)`` in [0, 1]: ``path`` read (alpha dropped), cropped to a
    centred square, resized (bilinear, antialiased) to ``size`` (0: not resized), averaged
    to gray if ``gray``, and cropped to a multiple of ``multiple`` pixels.

    Example:
        >>> load_image(ASSETS / "camera256.png", 64).shape  # doctest: +SKIP
        torch.Size([1, 1, 64, 64])
    """
    import numpy as np
    import skimage.transform

    x = read_image(path).image
    if gray and x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    if size:
        h, w = x.shape[-2:]
        s = min(h, w)
        if s < size or h != w:  # the truth is then not the image given: say so
            print(f"note: {path} is {w}x{h}; its centred {s}x{s} square is "
                  f"{'enlarged' if s < size else 'resized'} to {size}x{size} (--size 0 keeps "
                  f"it as it is).", file=sys.stderr)
        x = x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        a = x[0].permute(1, 2, 0).numpy()
        a = skimage.transform.resize(a, (size, size), order=1, anti_aliasing=s > size)
        x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]
    h, w = (d - d % multiple for d in x.shape[-2:])
    if min(h, w) < 8:
        raise ImageError(f"'{path}' is too small for this demo; give an image of at least "
                         f"{max(8, multiple)}x{max(8, multiple)} pixels.")
    return x[..., :h, :w].clamp(0, 1).contiguous()


def timed(name: str, fn) -> Row:
    """Run ``fn()`` (an image or a ``Result``) and time it."""
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    if hasattr(out, "image"):
        return Row(name, out.image.detach().cpu().clamp(0, 1), seconds, out)
    return Row(name, out.detach().cpu().clamp(0, 1), seconds)


def network(kind: str, y, op, args, truth, **options):
    """``solve`` with a network prior (``dip``, ``decoder``) under the demo's iteration cap
    and time limit; the truth is given only to trace PSNR for the figure."""
    return solve(y, op, kind, iters=args.iters, max_seconds=args.max_seconds, seed=args.seed,
                 truth=truth, progress=not args.quiet, **options)


def prior(name: str, y, op, args, truth, **options):
    """``solve`` with any other prior at its own settings, but ``FAST_PNP`` plug-and-play
    iterations for ``denoiser`` and ``sparse`` with ``--fast`` (the truth only traces PSNR)."""
    if args.fast and name in ("denoiser", "sparse") and not one_pass(name, op):
        options.setdefault("iters", FAST_PNP)
    return solve(y, op, name, seed=args.seed, truth=truth, progress=not args.quiet, **options)


def priors(y, op, args, truth) -> list[Row]:
    """The rows every linear-operator demo compares: the CNN denoiser and K-SVD (``prior``),
    then the deep image prior and the deep decoder (``network``), each timed."""
    return [timed(name, lambda name=name: prior(name, y, op, args, truth))
            for name in ("denoiser", "sparse")] + \
           [timed(kind, lambda kind=kind: network(kind, y, op, args, truth))
            for kind in ("dip", "decoder")]


def table(rows: list[Row], truth: torch.Tensor) -> str:
    """A plain-text table: method, PSNR (dB), SSIM, seconds; one line per row.

    Example:
        >>> x = torch.zeros(1, 1, 16, 16)
        >>> print(table([Row("zero", x + 0.1, 0.5)], x).splitlines()[2])
        zero                 20.00  0.871      0.5
    """
    lines = [f"{'method':16s} {'PSNR (dB)':>9s} {'SSIM':>6s} {'seconds':>8s}", "-" * 42]
    for r in rows:
        lines.append(f"{r.name:16s} {psnr(r.image, truth):9.2f} {ssim(r.image, truth):6.3f} "
                     f"{r.seconds:8.1f}" + ("  (" + r.result.stop_reason + ")" if stopped_early(r) else ""))
    return "\n".join(lines)


def stopped_early(r: Row) -> bool:
    """Whether ``--max-seconds`` ended the row's run (before its first step a network prior
    returns the operator's estimate: the classical row's numbers, which needs saying)."""
    return r.result is not None and "time limit" in r.result.stop_reason


def _panel(image: torch.Tensor, size: int):
    from PIL import Image

    im = to_pil(image)
    if im.size != (size, size) and max(im.size) < size:
        scale = max(1, size // max(im.size))
        im = im.resize((im.size[0] * scale, im.size[1] * scale), Image.NEAREST)
    return im


CHART_MIN_WIDTH = 240  # pixels of one run's chart (plot.history_chart)


def figure(observation: tuple, rows: list[Row], truth: torch.Tensor, title: str = ""):
    """The demo's figure as a ``PIL.Image``. ``observation`` is ``(label, image, scored)``:
    the image shown first (same size as the truth, or smaller: it is enlarged) and whether
    its PSNR against the truth means anything (not for a low-resolution or projected one)."""
    from PIL import Image, ImageDraw

    label, shown, scored = observation
    size = max(128, *truth.shape[-2:])
    panels = [(label, _panel(shown, size), f"PSNR {psnr(shown.clamp(0, 1), truth):.2f} dB" if scored else "")]
    panels += [(r.name, _panel(r.image, size), f"PSNR {psnr(r.image, truth):.2f} dB") for r in rows]
    panels.append(("truth", _panel(truth, size), ""))
    width = sum(p.size[0] for _, p, _ in panels) + 4 * (len(panels) - 1)
    charts = [r for r in rows if r.result is not None and r.result.losses]
    # (a charts' row no narrower than it can be drawn: a 256x10 image's panels left them
    # a negative width, after all the work was done)
    chart_w = max(width // max(len(charts), 1), CHART_MIN_WIDTH)
    width = max(width, chart_w * len(charts))
    plots = [history_chart(r.result, width=chart_w - 4, title=f"{r.name}: its run") for r in charts]
    head, under = (20 if title else 0), 34
    height = head + max(p.size[1] for _, p, _ in panels) + under + max((c.size[1] for c in plots), default=0)
    fig = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(fig)
    if title:
        draw.text((4, 3), title, fill=(0, 0, 0), font=font(13))
    x = 0
    for name, im, score in panels:
        fig.paste(im, (x, head))
        y = head + im.size[1] + 2
        draw.text((x + im.size[0] / 2, y), name, fill=(0, 0, 0), font=font(12), anchor="ma")
        draw.text((x + im.size[0] / 2, y + 15), score, fill=(60, 60, 60), font=font(11), anchor="ma")
        x += im.size[0] + 4
    top = head + max(p.size[1] for _, p, _ in panels) + under
    for k, chart in enumerate(plots):
        fig.paste(chart, (k * chart_w, top))
    return fig


def save(fig, path, force: bool) -> Path:
    """Write the figure atomically; an existing file only with ``force`` (also one written
    meanwhile, by another run)."""
    path = Path(path)
    exists = ImageError(f"'{path}' already exists; choose another name or pass --force.")
    if path.exists() and not force:
        raise exists
    try:
        return atomic_write(path, lambda tmp: fig.save(tmp, format="PNG", optimize=True), replace=force)
    except FileExistsError:
        raise exists from None


def finish(args, observation: tuple, rows: list[Row], truth: torch.Tensor, title: str) -> int:
    """Print the table, write the figure, say where; the demo's exit status."""
    print(title)
    print(table(rows, truth))
    path = save(figure(observation, rows, truth, title), args.output, args.force)
    names = " | ".join([observation[0], *(r.name for r in rows), "truth"])
    print(f"wrote {path}: {names}")
    return 0


def main(demo, argv=None) -> int:
    """Run ``demo(argv) -> exit status``: a bad input is one sentence and status 2, Ctrl-C
    status 130."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    try:
        return demo(argv)
    except ValueError as err:  # ImageError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    print("demos/common.py holds what the demos share; run one of them, e.g. "
          "python demos/denoise.py --fast")
