"""Large holes and nonlinear operators (``python -m invprior.bench --sections holes,nonlinear``).

The cases of ``bench.hard_cases``. Each is restored by its classical reference, by what
``prior="auto"`` picks (``invprior.api.auto_prior``, which probes a user's own operator),
and by the plug-and-play CNN denoiser and the deep image prior at their defaults; PSNR
inside the hidden pixels (the holes; the saturated pixels) and over the whole image.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

import operators as O

from .hard_cases import HOLE_CASES, NOISE, NONLINEAR_CASES, classical, load_hard_case
from ..metrics import psnr, ssim

__all__ = ["run_holes", "run_nonlinear", "markdown"]

NAMES = {"denoiser": "plug-and-play CNN", "dip": "deep image prior", "inpainter": "trained inpainter"}
# the hole-width sweep (``run_hole_widths``): scribbles this many pixels wide, 8 strokes
WIDTHS = (3.0, 5.0, 8.0, 11.0, 14.0, 20.0)


def hidden_psnr(image: torch.Tensor, truth: torch.Tensor, hidden: torch.Tensor) -> float | None:
    """PSNR (dB) over the pixels where ``hidden`` ``(1, 1, H, W)`` is True (all channels);
    None where nothing is hidden.

    Example:
        >>> t = torch.zeros(1, 1, 4, 4); h = torch.zeros(1, 1, 4, 4, dtype=torch.bool); h[..., 0, 0] = True
        >>> round(hidden_psnr(t + 0.1 * h, t, h), 1)
        20.0
    """
    mask = hidden.expand_as(truth)
    if not mask.any():
        return None
    return float(10 * np.log10(1 / (image - truth)[mask].double().square().mean().item()))


def _run(cases, priors, quick: bool, device: str = "cpu", ensemble: int = 1) -> list[dict]:
    from ..api import auto_prior, solve
    from ..priors.generator import NETWORKS
    from . import uninterrupted

    rows = []
    for name in cases:
        truth, y, op, hidden = load_hard_case(name)
        noise = None if name in HOLE_CASES else NOISE  # told, as a user who knows the sensor
        chosen = auto_prior(O.as_operator(op), y)
        start = time.perf_counter()
        method, image = classical(name, y, op, truth)
        rows.append(_row(name, method, image, truth, hidden, time.perf_counter() - start))
        for prior in priors:
            start = time.perf_counter()
            options = {}
            if quick:  # (the inpainter does not iterate: its plug-and-play refinement left out)
                options = {"refine": False} if prior == "inpainter" else {"iters": 4}
            if ensemble > 1 and prior in NETWORKS:
                options["ensemble"] = ensemble
            result = uninterrupted(solve(y, op, prior, noise_level=noise, truth=truth,
                                         progress=sys.stderr.isatty(), device=device, **options))
            method = NAMES.get(prior, prior) + (" (auto)" if prior == chosen else "")
            if "ensemble" in options:
                method += f", mean of {ensemble} seeds"
            rows.append(_row(name, method, result.image, truth, hidden,
                             time.perf_counter() - start, result.iterations))
    return rows


def _row(case, method, image, truth, hidden, seconds, iterations="") -> dict:
    image = image.clamp(0, 1)
    r = {"case": case, "method": method, "hidden": hidden_psnr(image, truth, hidden),
         "psnr": psnr(image, truth), "ssim": ssim(image, truth), "seconds": seconds,
         "iterations": iterations}
    inside = "" if r["hidden"] is None else f"{r['hidden']:6.2f} dB inside, "
    print(f"{case:22s} {method:34s} {inside}{r['psnr']:6.2f} dB  {seconds:6.1f} s", flush=True)
    return r


def run_holes(quick: bool = False, cases=HOLE_CASES, priors=("denoiser", "inpainter", "dip"),
              device: str = "cpu", ensemble: int = 1, widths: bool = True) -> list[dict]:
    """Rows for the large-hole cases (``quick``: 4 iterations, the inpainter's fill without
    its refinement, numbers meaningless), then those of the hole-width sweep
    (``run_hole_widths``) with ``widths``; ``ensemble``: the network priors' mean of that
    many seeds (``.ci/gpu holes``)."""
    return _run(cases, priors, quick, device, ensemble) + (run_hole_widths(quick) if widths else [])


def run_hole_widths(quick: bool = False, widths=WIDTHS) -> list[dict]:
    """The evidence for ``api.THICK_HOLE``: 8 scribbles of each width (seed 5) missing from
    gray camera and coffee (256x256, noise-free), inside the holes, plug-and-play against the
    trained inpainter; one row per image and width."""
    from ..api import auto_prior, solve
    from ..cnn.patches import held_out_image
    from . import uninterrupted
    from .cases import clean

    images = {"camera": torch.from_numpy(clean("camera"))[None, None], "coffee": held_out_image()}
    rows = []
    for name, x in images.items():
        for width in widths[:1] if quick else widths:
            op = O.Inpainting(O.scribble_mask((256, 256), 8, width, seed=5))
            hidden = op.mask < 0.5
            row = {"image": name, "width": width, "radius": op.hole_radius(), "auto": auto_prior(op, x)}
            for prior in ("denoiser", "inpainter"):
                options = {"iters": 4} if quick and prior == "denoiser" else {}
                result = uninterrupted(solve(op(x), op, prior, progress=False, device="cpu",
                                             **options))
                row[prior] = hidden_psnr(result.image, x, hidden)
            print(f"{name} scribbles {width:g} px (radius {row['radius']:.1f}): plug-and-play "
                  f"{row['denoiser']:.2f}, inpainter {row['inpainter']:.2f} dB", flush=True)
            rows.append(row)
    return rows


def widths_markdown(rows: list[dict]) -> str:
    """The hole-width sweep as a table."""
    lines = ["| image | scribble width (px) | `hole_radius()` | plug-and-play CNN, inside the holes (dB) "
             "| trained inpainter (dB) | `auto` picks |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['image']} | {r['width']:g} | {r['radius']:.1f} | {r['denoiser']:.2f} | "
              f"{r['inpainter']:.2f} | {r['auto']} |" for r in rows]
    return "\n".join(lines) + "\n"


def run_nonlinear(quick: bool = False, cases=NONLINEAR_CASES, priors=("denoiser", "dip")) -> list[dict]:
    """Rows for the nonlinear-operator cases."""
    return _run(cases, priors, quick)


def markdown(rows: list[dict], machine: str | None = None) -> str:
    """One table; ``(auto)`` marks what ``prior="auto"`` picks for that case; then the
    hole-width sweep's, if ``rows`` hold it. ``machine``: said in the footer (default: the
    CPU and this process's torch threads)."""
    machine = machine or f"CPU, {torch.get_num_threads()} threads"
    swept = [r for r in rows if "width" in r]
    rows = [r for r in rows if "width" not in r]
    lines = ["| case | method | PSNR inside the hidden pixels (dB) | PSNR (dB) | SSIM | seconds | iterations |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        inside = "" if r["hidden"] is None else f"{r['hidden']:.2f}"
        lines.append(f"| {r['case']} | {r['method']} | {inside} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                     f"{r['seconds']:.1f} | {r['iterations']} |")
    lines += ["", "Cases and references: `invprior.bench.hard_cases`. Hidden pixels: the holes; "
              f"for over-exposure, the pixels that saturate (none for the gamma cases). {machine}; "
              "noise level told (0.01) for the nonlinear cases."]
    if any(r["case"] in HOLE_CASES for r in rows):
        lines[-1] += (f" A hole {O.Inpainting.WIDE_HOLE:g} or more pixels in (the boxes) starts "
                      "plug-and-play and the deep image prior's warm start from the harmonic fill "
                      "(`Inpainting.initial_estimate`), thinner ones from the biharmonic.")
    if swept:
        lines += ["", "Hole widths (`invprior.bench.hard.run_hole_widths`: what `auto` picks "
                  "between plug-and-play and the inpainter, by `hole_radius()`):", "",
                  widths_markdown(swept)]
    return "\n".join(lines) + "\n"
