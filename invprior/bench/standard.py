"""Denoising on the standard test sets (called by ``python -m invprior.bench --sections standard``).

Follows the protocol of ``../shared/testsets/README.md`` exactly, so that the numbers sit
beside the published ones: ``x = png / 255`` (float64), ``y = x + sigma / 255 * N(0, 1)``
not clipped, one ``numpy.random.default_rng(i)`` per image ``i`` in sorted file order, PSNR
``10 log10(1 / mean((clip(out, 0, 1) - x)^2))`` averaged over the set. Our method is the
CLI/API default, ``solve(y, Denoising(), noise_level=sigma / 255)``; ``bm3d`` (gray) or
``bm3d_rgb`` runs on the same noisy arrays when the optional ``bm3d`` package is installed
(``pip install bm3d``; not a dependency). A set whose folder is missing is skipped, and
the table says so.

Example (a smoke run: two crops at sigma 25, numbers meaningless):
    >>> rows = run(quick=True, root="/nonexistent")   # doctest: +ELLIPSIS
    skipping set12: /nonexistent/set12 not found
    skipping kodak24: /nonexistent/kodak24 not found
    >>> rows
    []
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

__all__ = ["run", "markdown", "SETS", "PUBLISHED", "TESTSETS", "noisy_image", "ENSEMBLE", "JPEG"]

TESTSETS = Path("../shared/testsets")  # relative to the repository root, where bench runs
SIGMAS = (15, 25, 50)
SETS = {"set12": "gray", "kodak24": "colour"}
# PSNR (dB) from the DPIR and FFDNet papers' tables, as quoted in ../shared/testsets/README.md
PUBLISHED = {
    "set12": {"BM3D": (32.37, 29.97, 26.72), "DnCNN": (32.86, 30.44, 27.18),
              "FFDNet": (32.75, 30.43, 27.32), "DRUNet": (33.25, 30.94, 27.90)},
    "kodak24": {"DRUNet": (35.31, 32.89, 29.86)},
}
OURS = "invprior default (CNN denoiser, one pass)"
BLIND = "invprior, noise level not given (estimated from y)"
# the mean over the square's 8 rotations and flips: 8x the time, so on the gray set only
ENSEMBLE = "invprior, --self-ensemble 8 (gray set only: 8x the time)"
# what a phone or camera hands over: the noisy photo as an 8-bit JPEG (colour at half
# resolution), whose noise the user does not know
JPEG = "invprior, y saved as JPEG (quality 90), noise level not given (colour set only)"
JPEG_QUALITY = 90
ONLY = {ENSEMBLE: "gray", JPEG: "colour"}  # rows measured on one kind of set


def noisy_image(path: Path, index: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` float64 ``(H, W)`` or ``(H, W, 3)``: the clean image and its noisy copy by
    the protocol (noise from ``default_rng(index)``, ``sigma`` in 8-bit units)."""
    import imageio.v3 as iio

    x = iio.imread(path).astype(np.float64) / 255
    return x, x + sigma / 255 * np.random.default_rng(index).standard_normal(x.shape)


def _ours(y: np.ndarray, sigma: float | None, **options) -> np.ndarray:
    import operators as O

    from ..api import solve
    from . import uninterrupted

    t = torch.from_numpy(y).float()
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    out = uninterrupted(solve(t, O.Denoising(), noise_level=sigma, progress=False, device="cpu",
                              **options)).image[0]
    return out.permute(1, 2, 0).squeeze(-1).double().numpy()


def _ours_ensemble(y: np.ndarray, sigma: float) -> np.ndarray:
    return _ours(y, sigma, self_ensemble=8)


def _ours_blind(y: np.ndarray, sigma: float) -> np.ndarray:
    return _ours(y, None)  # the noise level estimated from y, as the CLI does without --noise-level


def _ours_jpeg(y: np.ndarray, sigma: float) -> np.ndarray:
    import io

    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, (np.clip(y, 0, 1) * 255).round().astype(np.uint8), extension=".jpg",
                quality=JPEG_QUALITY)
    return _ours(iio.imread(buf.getvalue()).astype(np.float64) / 255, None)


def _bm3d(y: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d

    return bm3d.bm3d_rgb(y, sigma) if y.ndim == 3 else bm3d.bm3d(y, sigma)


def methods() -> dict:
    """``{name: denoise(y, sigma) -> image}``: ours, and bm3d when it is installed."""
    found = {OURS: _ours, BLIND: _ours_blind, ENSEMBLE: _ours_ensemble, JPEG: _ours_jpeg}
    try:
        import bm3d  # noqa: F401

        found["bm3d (measured here, same noisy arrays)"] = _bm3d
    except ImportError:
        print("bm3d is not installed (pip install bm3d): its row is left out")
    return found


def run(quick: bool = False, root: str | Path = TESTSETS) -> list[dict]:
    """Rows ``{set, method, sigma, psnr, seconds, images}``: the mean over each set.

    ``quick``: the first two images, cropped to 96x96 after the noise is drawn, sigma 25.
    """
    rows, root = [], Path(root)
    found = None
    for name in SETS:
        folder = root / name
        files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".bmp", ".tif"))
        if not files:
            print(f"skipping {name}: {Path(folder).resolve()} not found")
            continue
        files = files[:2] if quick else files
        found = found or methods()
        for sigma in (25,) if quick else SIGMAS:
            for method, denoise in found.items():
                if SETS[name] != ONLY.get(method, SETS[name]):
                    continue
                scores, seconds = [], 0.0
                for index, path in enumerate(files):
                    x, y = noisy_image(path, index, sigma)
                    if quick:
                        x, y = x[:96, :96], y[:96, :96]
                    start = time.perf_counter()
                    out = denoise(y, sigma / 255)
                    seconds += time.perf_counter() - start
                    scores.append(10 * np.log10(1 / np.mean((np.clip(out, 0, 1) - x) ** 2)))
                rows.append({"set": name, "method": method, "sigma": sigma, "images": len(files),
                             "psnr": float(np.mean(scores)), "seconds": seconds / len(files),
                             "quick": quick})
                print(f"{name:8s} sigma {sigma:2d} {method:42s} {rows[-1]['psnr']:6.2f} dB "
                      f"{rows[-1]['seconds']:6.1f} s/image", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """A table per set: our rows and bm3d (measured) beside the published ones."""
    if not rows:
        return "No standard test set was found in the test sets' folder (--testsets): nothing measured."
    lines = []
    for name in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == name]
        sigmas = sorted({r["sigma"] for r in mine})
        lines += [f"### {name} ({SETS[name]}, {mine[0]['images']} images), PSNR (dB)", "",
                  "| method | " + " | ".join(f"sigma {s}" for s in sigmas) + " | seconds / image |",
                  "|---|" + "---|" * (len(sigmas) + 1)]
        for method in dict.fromkeys(r["method"] for r in mine):
            cells = {r["sigma"]: r for r in mine if r["method"] == method}
            secs = np.mean([r["seconds"] for r in cells.values()])
            lines.append(f"| {method} | " + " | ".join(f"{cells[s]['psnr']:.2f}" for s in sigmas)
                         + f" | {secs:.1f} |")
        # (a --quick row is of two 96x96 crops: beside the whole set's numbers it misled)
        for method, values in {} if mine[0].get("quick") else PUBLISHED[name].items():
            published = dict(zip(SIGMAS, values))
            lines.append(f"| {method} (published) | "
                         + " | ".join(f"{published[s]:.2f}" for s in sigmas) + " | |")
        lines.append("")
    if rows[0].get("quick"):
        lines += ["--quick: two images of each set, cropped to 96x96; the published numbers "
                  "(of the whole sets) are left out, as these rows are not comparable.", ""]
    lines.append("Protocol: ../shared/testsets/README.md (noise from `default_rng(i)` per image, "
                 "not clipped; PSNR of the clipped output). Ours: `solve(y, Denoising(), "
                 "noise_level=sigma/255)` on the CPU; blind: the same without `noise_level` "
                 "(estimated from the finest wavelet band of y); self-ensemble: the same with "
                 "`self_ensemble=8`, the mean over the square's 8 rotations and flips; JPEG: y "
                 f"clipped to 8 bits and saved as a JPEG of quality {JPEG_QUALITY} (imageio, "
                 "Pillow: colour at half resolution), then restored blind; PSNR against the "
                 "clean image.")
    return "\n".join(lines)
