"""Several measurements of one image (``python -m invprior.bench --sections stacks``).

``operators.Stack`` cases at 128x128, camera (gray) and astronaut (RGB), noise std 0.02 on
every measurement unless said: two motion blurs across each other (two exposures of a shaky
hand), a blur and a random half of the pixels, a noisy image with one at half the size, and
a short exposure (noise 0.1) with a long one (motion-blurred, noise 0.01). Each is restored
by what ``prior="auto"`` picks, the noise not told (read off the parts, as ``solve`` does
for a user who does not know it) and told (where it is one for all parts); by the deep image
prior (``auto``'s pick for stacks until plug-and-play took them); and, as the reference a
stack has to beat, by ``auto`` on the best single part alone, told the noise level (best
against the truth: an upper bound of that route).

Example:
    >>> truth, y, op, noise = load_stack_case("motions_camera")
    >>> len(y), y[0].shape
    (2, torch.Size([1, 1, 128, 128]))
"""

from __future__ import annotations

import time

import torch

import operators as O

from .cases import sample_image
from ..metrics import psnr, ssim

__all__ = ["STACK_CASES", "load_stack_case", "run", "markdown"]

STACK_CASES = ("motions_camera", "motions_astronaut", "blurmask_camera", "blurmask_astronaut",
               "noisyhalf_camera", "noisyhalf_astronaut", "exposures_camera", "exposures_astronaut")
NOISE = 0.02
SIZE = 128
# kind: (what it is, the stack for an image shape, the noise of each part)
KINDS = {
    "motions": ("two motion blurs, 9 px, 0 and 90 degrees",
                lambda shape: O.Stack(O.Blur(motion=(9, 0)), O.Blur(motion=(9, 90))), (NOISE, NOISE)),
    "blurmask": ("a gaussian blur (std 2) and half the pixels",
                 lambda shape: O.Stack(O.Blur(sigma=2.0), O.Inpainting(shape=shape, missing=0.5, seed=1)),
                 (NOISE, NOISE)),
    "noisyhalf": ("the image and its half-size (bicubic)",
                  lambda shape: O.Stack(O.Denoising(), O.Downsampling(2)), (NOISE, NOISE)),
    "exposures": ("a short exposure, noise 0.1, and a long one, motion-blurred (15 px, 30 "
                  "degrees), noise 0.01",
                  lambda shape: O.Stack(O.Denoising(), O.Blur(motion=(15, 30))), (0.1, 0.01)),
}


def load_stack_case(name: str):
    """``(truth (1, C, 128, 128), y (a tuple, one tensor per part), op (an O.Stack), the
    noise std of each part)``, the noise seeded."""
    if name not in STACK_CASES:
        raise ValueError(f"unknown case '{name}'; choose one of {', '.join(STACK_CASES)}.")
    kind, image = name.split("_")
    x = sample_image(image, SIZE)
    _, make, noise = KINDS[kind]
    op = make(tuple(x.shape[1:]))
    g = torch.Generator().manual_seed(0)
    y = tuple(part + level * torch.randn(part.shape, generator=g) for part, level in zip(op(x), noise))
    return x, y, op, noise


def run(quick: bool = False, cases=STACK_CASES, verbose: bool = True) -> list[dict]:
    """One row per case and method (``quick``: every third case, the deep image prior cut
    to 20 iterations)."""
    from ..api import auto_prior, solve
    from . import uninterrupted

    rows = []
    for name in cases[::3] if quick else cases:
        truth, y, op, noise = load_stack_case(name)

        def row(method, run_it):
            start = time.perf_counter()
            result = uninterrupted(run_it())
            rows.append({"case": name, "method": method, "psnr": psnr(result.image, truth),
                         "ssim": ssim(result.image, truth), "iterations": result.iterations,
                         "seconds": time.perf_counter() - start})
            if verbose:
                r = rows[-1]
                print(f"{name} {method}: {r['psnr']:.2f} dB, {r['seconds']:.1f} s", flush=True)

        row(f"auto ({auto_prior(op, y)})", lambda: solve(y, op, progress=False, device="cpu"))
        told = noise[0] if len(set(noise)) == 1 else None  # (one level: noise_level is one for all)
        if told is not None:
            row(f"auto, noise {told:g} told", lambda: solve(y, op, noise_level=told, progress=False,
                                                             device="cpu"))
        dip = {"iters": 20} if quick else {}
        row("deep image prior", lambda: solve(y, op, "dip", progress=False, device="cpu", seed=0, **dip))
        best = None
        for part, seen, level in zip(op.ops, y, noise):
            start = time.perf_counter()
            result = uninterrupted(solve(seen, part, noise_level=level, progress=False, device="cpu"))
            score = psnr(result.image, truth)
            if best is None or score > best["psnr"]:
                best = {"case": name, "method": f"auto on one part ({type(part).__name__})",
                        "psnr": score, "ssim": ssim(result.image, truth),
                        "iterations": result.iterations, "seconds": time.perf_counter() - start}
        rows.append(best)
        if verbose:
            print(f"{name} {best['method']}: {best['psnr']:.2f} dB", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """One table, then what the cases are."""
    lines = ["| case | method | PSNR (dB) | SSIM | seconds | iterations |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
              f"{r['seconds']:.1f} | {r['iterations']} |" for r in rows]
    kinds = "; ".join(f"{kind}: {words}" for kind, (words, _, _) in KINDS.items())
    lines += ["", f"Cases (`invprior.bench.stacks`, {SIZE}x{SIZE}, noise {NOISE} on every part "
              f"unless said): {kinds}. `auto`: the noise not told, each part's read. The single "
              f"part: the better of the two restored alone by `auto`, told the noise level. "
              f"CPU, {torch.get_num_threads()} threads."]
    return "\n".join(lines) + "\n"
