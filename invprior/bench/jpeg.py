"""Photos saved as JPEG (``python -m invprior.bench --sections jpeg``).

What a phone hands over is a JPEG, and JPEG drops the finest band of an image, where the
noise level is read (``invprior.noise_level``). This section measures the CLI's answer to
that on the middle 256x256 of the first ``IMAGES`` Kodak24 photos (../shared/testsets,
skipped with a message when missing): each degraded (circular blur sigma 2 and noise 0.01, or noise
10/255 or 25/255, or downsampled x2 (bicubic), clean or with noise 10/255), clipped to 8 bits, saved as a JPEG by imageio (Pillow) at quality 95 and
85, and restored by the default prior

- with the noise level read off the pixels alone (``solve(y, op)``: what the API does);
- as the CLI does it (``cli._noise_level``: the reading combined with the error that the
  file's quantization adds, ``io.jpeg_noise``);
- with the noise level given (the noise added; the JPEG's error not counted), for reference.

PSNR against the clean crop, mean over the photos.

Example (a smoke run: one 64x64 crop, the deblurring rows only, numbers meaningless):
    >>> rows = run(quick=True, root="/nonexistent")
    skipping the JPEG section: /nonexistent/kodak24 not found
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

__all__ = ["run", "markdown"]

IMAGES = 8
QUALITIES = (95, 85)
# (task, operator, noise std on [0, 1])
TASKS = (("deblur, gaussian 2, noise 0.01", "blur", 0.01),
         ("denoise, noise 10/255", "denoise", 10 / 255),
         ("denoise, noise 25/255", "denoise", 25 / 255),
         ("super-resolve x2, clean", "sr", 0.0),
         ("super-resolve x2, noise 10/255", "sr", 10 / 255))


def _crops(root: Path, quick: bool) -> list[torch.Tensor]:
    import imageio.v3 as iio

    files = sorted((root / "kodak24").glob("*.png"))[: 1 if quick else IMAGES]
    side = 64 if quick else 256
    out = []
    for f in files:
        a = iio.imread(f)
        a = a[..., None] if a.ndim == 2 else a[..., :3]  # (a gray or RGBA PNG: its colour)
        if min(a.shape[:2]) < side:  # (its middle crop had been a negative slice: a traceback)
            print(f"leaving out {f.name}: {a.shape[0]}x{a.shape[1]}, smaller than the "
                  f"{side}x{side} crop")
            continue
        top, left = (a.shape[0] - side) // 2, (a.shape[1] - side) // 2
        out.append(torch.from_numpy(a[top : top + side, left : left + side]).float()
                   .div(255).permute(2, 0, 1)[None])
    return out


def _jpeg(y: torch.Tensor, quality: int, path: Path) -> torch.Tensor:
    """``y`` written to ``path`` as an 8-bit JPEG and read back as the CLI reads it."""
    import imageio.v3 as iio

    from ..io import read_image

    pixels = (y[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    iio.imwrite(path, pixels[..., 0] if pixels.shape[-1] == 1 else pixels, quality=quality)
    return read_image(path).image


def run(quick: bool = False, root: str | Path = "../shared/testsets") -> list[dict]:
    """Rows ``{task, quality, observation, pixels, cli, given, cli_level, seconds}`` (PSNR in dB,
    levels on [0, 1], the CLI way's mean seconds per image)."""
    import operators as O

    from ..api import solve
    from ..cli import _noise_level
    from ..metrics import psnr
    from ..priors.base import visible_noise
    from . import uninterrupted

    folder = (Path(root) / "kodak24").resolve()
    crops = _crops(Path(root), quick)
    if not crops:
        print(f"skipping the JPEG section: {folder} " + (
            "holds no photo large enough" if folder.is_dir() else "not found"))
        return []
    args = SimpleNamespace(noise_level=None, simulate=False)
    options = {"progress": False, **({"iters": 2} if quick else {})}

    def restored(y, op, **kw):
        return uninterrupted(solve(y, op, **options, **kw)).image

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task, kind, noise in TASKS[:1] if quick else TASKS:
            op = {"blur": O.Blur(sigma=2.0), "sr": O.Downsampling(2)}.get(kind, O.Denoising())
            for quality in QUALITIES:
                found = {k: [] for k in ("observation", "pixels", "cli", "given", "read", "cli_level")}
                seconds = 0.0
                for i, x in enumerate(crops):
                    path = Path(tmp) / f"{i}.jpg"
                    y = _jpeg(O.GaussianNoise(noise, seed=i)(op(x)), quality, path)
                    level = _noise_level(args, path, y, op)[0]
                    start = time.perf_counter()
                    cli = restored(y, op, noise_level=level)
                    seconds += time.perf_counter() - start
                    found["cli"].append(psnr(cli, x))
                    found["pixels"].append(psnr(restored(y, op), x))
                    found["given"].append(psnr(restored(y, op, noise_level=noise), x))
                    # (a small image: its bicubic upsampling)
                    seen = op.initial_estimate(y) if kind == "sr" else y
                    found["observation"].append(psnr(seen, x))
                    found["read"].append(visible_noise(op, y) or 0.0)
                    found["cli_level"].append(level or 0.0)
                row = {"task": task, "quality": quality, "images": len(crops),
                       "seconds": seconds / len(crops), **{k: float(np.mean(v)) for k, v in found.items()}}
                rows.append(row)
                print(f"jpeg {task}, quality {quality}: observation {row['observation']:.2f}, "
                      f"pixels {row['pixels']:.2f}, CLI {row['cli']:.2f}, given {row['given']:.2f} dB",
                      flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """The table of these rows."""
    if not rows:
        return "Kodak24 was not found in the test sets' folder (--testsets): nothing measured."
    out = [f"Middle 256x256 of the first {rows[0]['images']} Kodak24 photos, degraded, saved as "
           "JPEG (imageio, Pillow), restored by the default prior; PSNR (dB), mean noise levels "
           "(/255; 0 where none is read). A small image's JPEG column is its bicubic upsampling.", "",
           "| task | JPEG quality | JPEG | level read off the pixels (API) | CLI: with the JPEG's "
           "quantization | noise level given | CLI seconds / image |", "|---|---|---|---|---|---|---|"]
    out += [f"| {r['task']} | {r['quality']} | {r['observation']:.2f} | {r['pixels']:.2f} "
            f"({255 * r['read']:.1f}) | {r['cli']:.2f} ({255 * r['cli_level']:.1f}) | "
            f"{r['given']:.2f} | {r['seconds']:.1f} |" for r in rows]
    return "\n".join(out) + "\n"
