"""Shot noise (``python -m invprior.bench --sections shot``): photon counts denoised and
deblurred.

Denoised: camera (gray), astronaut and coffee (RGB) at 256x256 with Poisson noise of a peak
of 5, 30 and 100 photons at white (``operators.PoissonNoise``, seeded), by the default prior
three ways: taken as gaussian noise of the level read off ``y`` (what ``solve`` did before
``noise=`` existed), as shot noise of the peak read off ``y`` (``noise="poisson"``, the
CLI's ``--shot-noise auto``), and of the peak told.

Deblurred: camera and astronaut at 256x256, a gaussian blur (std 1.6) and a motion blur (11
pixels at 30 degrees), Poisson noise of 30, 100 and 1000 photons at white, saved as an 8-bit
file would be: the default (the noise read where ``y`` is bright:
``noise_level.shot_sigma``), the median reading alone (what it did before), and skimage's
Richardson-Lucy, the classical deconvolution for counts, at the best of ``LUCY_ITERS``
iterations (picked with the truth: a flattering reference).

Example:
    >>> rows = run(quick=True, verbose=False)
    >>> by = {r["method"]: r["psnr"] for r in rows if r["task"] == "deblur"}  # (24.4, 23.9, 14.8 dB)
    >>> default = by["default (noise read where bright)"]
    >>> default > by["noise read as before (median)"], default > by["Richardson-Lucy (skimage), its best count"] + 5
    (True, True)

(With the motion streak kornia drew nearest, 11 px at 30 degrees 10.3 long, the median
reading had lost 10 dB here: 25.6 against 15.7; the streak drawn bilinear, 24.4 against
23.9. The Shot noise rows of BENCHMARKS.md were measured again with it on 2026-12-08.)
"""

from __future__ import annotations

import time

import torch

import operators as O

from .cases import sample_image
from ..metrics import psnr, ssim

__all__ = ["run", "markdown"]

IMAGES = ("camera", "astronaut", "coffee")
PEAKS = (5, 30, 100)
SIZE = 256
BLURRED = ("camera", "astronaut")
BLURS = {"gaussian 1.6": dict(sigma=1.6), "motion 11 px": dict(motion=(11, 30))}
BLUR_PEAKS = (30, 100, 1000)
# Richardson-Lucy's iteration counts, of which the truth picks the best (skimage's default,
# 50, amplifies this noise: camera 64, motion blur, 100 photons, 8.7 dB)
LUCY_ITERS = (5, 10, 20, 50)


def run(quick: bool = False, verbose: bool = True) -> list[dict]:
    """One row per image, peak and method (``quick``: camera at 64x64, peak 30)."""
    from ..api import solve
    from . import uninterrupted

    rows = []
    for name in IMAGES[:1] if quick else IMAGES:
        x = sample_image(name, 64 if quick else SIZE)
        for peak in PEAKS[1:2] if quick else PEAKS:
            y = O.PoissonNoise(peak, seed=0)(x)
            for method, noise in (("gaussian, level read", None), ("shot noise, peak read", "poisson"),
                                  ("shot noise, peak told", O.PoissonNoise(peak))):
                start = time.perf_counter()
                result = uninterrupted(solve(y, O.Denoising(), noise=noise, progress=False, device="cpu"))
                rows.append({"task": "denoise", "image": name, "peak": peak, "method": method,
                             "psnr": psnr(result.image, x), "ssim": ssim(result.image, x),
                             "seconds": time.perf_counter() - start,
                             "how": result.stop_reason})
                if verbose:
                    print(f"{name} peak {peak} {method}: {rows[-1]['psnr']:.2f} dB", flush=True)
    return rows + run_deblur(quick, verbose)


def run_deblur(quick: bool = False, verbose: bool = True) -> list[dict]:
    """One row per image, blur, peak and method (``quick``: camera at 64x64, motion blur,
    peak 100)."""
    import numpy as np
    from skimage.restoration import richardson_lucy

    from ..api import solve
    from ..noise_level import estimate_noise
    from . import uninterrupted

    rows = []
    for name in BLURRED[:1] if quick else BLURRED:
        x = sample_image(name, 64 if quick else SIZE)
        for blur, settings in list(BLURS.items())[1:] if quick else BLURS.items():
            op = O.Blur(**settings)
            for peak in BLUR_PEAKS[1:2] if quick else BLUR_PEAKS:
                counts = O.PoissonNoise(peak, seed=0)(op(x).clamp_min(0))
                y = (counts.clamp(0, 1) * 255).round() / 255  # as a PNG holds it
                kernel = op.kernel.squeeze().double().numpy()

                def lucy():  # per channel, on [0, 1] (it clips there), at its best count
                    def at(count):
                        planes = [richardson_lucy(y[0, c].double().numpy(), kernel,
                                                  num_iter=count) for c in range(y.shape[1])]
                        return torch.from_numpy(np.stack(planes)).float()[None]
                    return max((at(count) for count in LUCY_ITERS), key=lambda v: psnr(v, x))

                for method, restore in (
                        ("default (noise read where bright)",
                         lambda: uninterrupted(solve(y, op, progress=False, device="cpu")).image),
                        ("noise read as before (median)",
                         lambda: uninterrupted(solve(y, op, noise_level=estimate_noise(y),
                                                     progress=False, device="cpu")).image),
                        ("Richardson-Lucy (skimage), its best count", lucy)):
                    start = time.perf_counter()
                    image = restore()
                    rows.append({"task": "deblur", "image": name, "blur": blur, "peak": peak,
                                 "method": method, "psnr": psnr(image, x),
                                 "ssim": ssim(image, x), "seconds": time.perf_counter() - start})
                    if verbose:
                        print(f"{name} {blur} peak {peak} {method}: {rows[-1]['psnr']:.2f} dB",
                              flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """Two tables, denoising and deblurring: PSNR / SSIM per case, a column per method."""
    return (_denoise_table([r for r in rows if r["task"] == "denoise"]) + "\n"
            + _deblur_table([r for r in rows if r["task"] == "deblur"]))


def _deblur_table(rows: list[dict]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| image | blur | peak (photons at white) | "
             + " | ".join(f"{m} (dB / SSIM / s)" for m in methods) + " |",
             "|---|---|---|" + "---|" * len(methods)]
    for key in dict.fromkeys((r["image"], r["blur"], r["peak"]) for r in rows):
        mine = {r["method"]: r for r in rows if (r["image"], r["blur"], r["peak"]) == key}
        cells = [f"{mine[m]['psnr']:.2f} / {mine[m]['ssim']:.3f} / {mine[m]['seconds']:.1f}"
                 for m in methods]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
    lines += ["", f"Deblurring: {SIZE}x{SIZE}, `operators.Blur`, `operators.PoissonNoise(peak, "
              "seed=0)` clipped to [0, 1] and rounded to 8 bits; the default prior "
              "(plug-and-play CNN). \"As before\": the same, told the median reading "
              "(`noise_level.estimate_noise`) that it read by itself before. Richardson-Lucy: "
              f"the best of {', '.join(map(str, LUCY_ITERS))} iterations, picked with the "
              "truth. CPU, "
              f"{torch.get_num_threads()} threads."]
    return "\n".join(lines) + "\n"


def _denoise_table(rows: list[dict]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| image | peak (photons at white) | " + " | ".join(f"{m} (dB / SSIM)" for m in methods)
             + " | seconds |", "|---|---|" + "---|" * (len(methods) + 1)]
    for key in dict.fromkeys((r["image"], r["peak"]) for r in rows):
        mine = {r["method"]: r for r in rows if (r["image"], r["peak"]) == key}
        cells = [f"{mine[m]['psnr']:.2f} / {mine[m]['ssim']:.3f}" for m in methods]
        seconds = max(r["seconds"] for r in mine.values())
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + f" | {seconds:.1f} |")
    lines += ["", f"{SIZE}x{SIZE}, `operators.PoissonNoise(peak, seed=0)`, the default prior (the "
              "CNN denoiser, one pass); shot noise goes through Anscombe's transform "
              f"(`invprior.poisson`). Seconds: the slowest of the three. CPU, "
              f"{torch.get_num_threads()} threads."]
    return "\n".join(lines) + "\n"
