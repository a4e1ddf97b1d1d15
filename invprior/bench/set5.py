"""Super-resolution x4 on Set5 (``python -m invprior.bench --sections set5``).

The protocol of ``../shared/testsets/README.md``: HR = the BMP cropped to a multiple of 4
(top-left), ``/ 255``; LR = ``operators.Downsampling(4, 'bicubic')`` of HR; PSNR on the Y
channel (ITU-R BT.601) with 4 pixels cropped at each border, averaged over the five images.
Ours is the CLI/API default, ``solve(lr, Downsampling(4, 'bicubic'))`` (plug-and-play with
the gray CNN denoiser on the luma: ``priors.luma``); the baseline is bicubic upsampling (``operators.resample.upsample_bicubic``).
A second table: the same LR with white noise of ``NOISY``/255 added (``default_rng(i)`` for
image ``i``, not clipped), super-resolved by the default, which reads the noise off the LR
(``priors.base.visible_noise``), against the LR taken as noise-free (``noise_level=0``, the
default before that reading) and the level given. A missing folder is skipped with a
message.

Example:
    >>> run(root="/nonexistent")
    skipping set5: /nonexistent/set5 not found
    []
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

__all__ = ["run", "markdown", "PUBLISHED", "y_psnr"]

TESTSETS = Path("../shared/testsets")
PUBLISHED = {"bicubic": 28.42, "deep image prior (2000 steps)": 29.90,
             "SRResNet (trained on ImageNet)": 32.10}
OURS = "invprior default (plug-and-play CNN denoiser, on the luma: priors.luma)"
NOISY = 10  # /255, the noise of the second table
NOISY_METHODS = ("bicubic", "invprior default (noise read off the LR)",
                 "invprior, LR taken as noise-free (noise_level=0)",
                 "invprior, noise level given")


def y_psnr(out: torch.Tensor, hr: torch.Tensor, border: int = 4) -> float:
    """PSNR (dB) of the BT.601 luma of two ``(1, 3, H, W)`` images in [0, 1], ``border``
    pixels cropped at each side.

    Example:
        >>> x = torch.full((1, 3, 16, 16), 0.5)
        >>> round(y_psnr(x + 0.01, x), 2)  # luma moves by 0.01 * 219 / 255
        41.32
    """
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64).view(1, 3, 1, 1)

    def luma(x):
        return (x.double().clamp(0, 1) * weights).sum(1) / 255 + 16 / 255

    crop = (..., slice(border, -border), slice(border, -border))
    mse = (luma(out) - luma(hr))[crop].square().mean().item()
    return float(10 * np.log10(1 / mse))


def _hr(path: Path) -> torch.Tensor:
    import imageio.v3 as iio

    image = iio.imread(path)[..., :3]
    h, w = image.shape[0] // 4 * 4, image.shape[1] // 4 * 4
    return torch.from_numpy(image[:h, :w].astype(np.float64) / 255).permute(2, 0, 1)[None].float()


def run(quick: bool = False, root: str | Path = TESTSETS) -> list[dict]:
    """Rows ``{method, psnr, seconds, images}`` (means over the set). ``quick``: the first
    two images, cropped to 64x64 (numbers meaningless)."""
    import operators as O
    from operators.resample import upsample_bicubic

    from ..api import solve
    from . import uninterrupted

    folder = Path(root) / "set5"
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".bmp", ".png"))
    if not files:
        print(f"skipping set5: {Path(folder).resolve()} not found")
        return []
    files = files[:2] if quick else files
    op = O.Downsampling(4, "bicubic")

    def ours(level=None):
        return lambda lr: uninterrupted(solve(lr, op, noise_level=level, progress=False,
                                              device="cpu")).image

    bicubic = lambda lr: upsample_bicubic(lr, 4).clamp(0, 1)  # noqa: E731
    tables = {0: {"bicubic": bicubic, OURS: ours()},
              NOISY: dict(zip(NOISY_METHODS, (bicubic, ours(), ours(0.0), ours(NOISY / 255))))}
    rows = []
    for noise, methods in tables.items():
        for method, restore in methods.items():
            scores, seconds = [], 0.0
            for i, path in enumerate(files):
                hr = _hr(path)[..., :64, :64] if quick else _hr(path)
                with torch.no_grad():
                    lr = op(hr)
                if noise:
                    draw = np.random.default_rng(i).standard_normal(lr.shape)
                    lr = lr + torch.from_numpy(draw * noise / 255).float()
                start = time.perf_counter()
                out = restore(lr)
                seconds += time.perf_counter() - start
                scores.append(y_psnr(out, hr))
                print(f"set5 {path.stem:10s} noise {noise:2d} {method:45s} {scores[-1]:6.2f} dB",
                      flush=True)
            rows.append({"method": method, "psnr": float(np.mean(scores)), "noise": noise,
                         "seconds": seconds / len(files), "images": len(files), "quick": quick})
    return rows


def markdown(rows: list[dict]) -> str:
    """Our rows beside the published ones."""
    if not rows:
        return "Set5 was not found in the test sets' folder (--testsets): nothing measured.\n"
    header = ["| method | PSNR (dB) | seconds / image |", "|---|---|---|"]
    clean = [r for r in rows if not r.get("noise")]
    noisy = [r for r in rows if r.get("noise")]
    lines = [f"PSNR (dB) on Y, border 4, mean over {rows[0]['images']} images.", ""] + header
    lines += [f"| {r['method']} | {r['psnr']:.2f} | {r['seconds']:.1f} |" for r in clean]
    if rows[0].get("quick"):  # (two 64x64 crops: beside the whole set's numbers it misled)
        lines += ["", "--quick: two images cropped to 64x64; the published numbers (of the "
                  "whole set) are left out, as these rows are not comparable."]
    else:
        lines += [f"| {name} (published) | {value:.2f} | |" for name, value in PUBLISHED.items()]
    threads = torch.get_num_threads()  # of this process, which ran the rows
    lines += ["", "Protocol: ../shared/testsets/README.md; ours: `solve(lr, Downsampling(4, "
              f"'bicubic'))` on the CPU ({threads} thread{'s' * (threads > 1)}), the "
              "back-projection included."]
    if noisy:
        lines += ["", f"The same LR with white noise of {noisy[0]['noise']}/255 (`default_rng(i)`"
                  " for image i, not clipped):", ""] + header
        lines += [f"| {r['method']} | {r['psnr']:.2f} | {r['seconds']:.1f} |" for r in noisy]
    return "\n".join(lines) + "\n"
