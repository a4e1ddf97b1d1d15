"""Shot noise (``python -m invprior.bench --sections shot``): photon counts denoised.

Camera (gray), astronaut and coffee (RGB) at 256x256 with Poisson noise of a peak of 5, 30
and 100 photons at white (``operators.PoissonNoise``, seeded), denoised by the default prior
three ways: taken as gaussian noise of the level read off ``y`` (what ``solve`` did before
``noise=`` existed), as shot noise of the peak read off ``y`` (``noise="poisson"``, the
CLI's ``--shot-noise auto``), and of the peak told.

Example:
    >>> rows = run(quick=True, verbose=False)
    >>> sorted({r["method"] for r in rows})[0]
    'gaussian, level read'
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
                rows.append({"image": name, "peak": peak, "method": method,
                             "psnr": psnr(result.image, x), "ssim": ssim(result.image, x),
                             "seconds": time.perf_counter() - start,
                             "how": result.stop_reason})
                if verbose:
                    print(f"{name} peak {peak} {method}: {rows[-1]['psnr']:.2f} dB", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """One table: PSNR / SSIM per image and peak, a column per method."""
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
