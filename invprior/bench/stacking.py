"""The deep image prior on a GPU: steps, stacks and bfloat16 (part of ``--sections gpu``).

- **Seconds per step** at 256x256 and 512x512 RGB with the device's default network, one
  image, in float32 and in bfloat16 autocast (the CUDA default), run as ``solve`` runs it
  there (``fit_stacked`` with one run: no host sync per step), each step's network passes
  replayed as CUDA graphs (the default) and launched operation by operation (``graphs=False``).
- **Images per minute**, eight 256x256 images in one stack against one at a time (each
  through the same loop), at the default 2000 steps per image, with and without graphs.
- **bfloat16 against float32**: PSNR of a whole default run on the fixed case
  ``denoise_astronaut``, both precisions.
- **Host cost per step**: the same loop with the default network's depth but 4 channels a
  level on a 32x32 image, so that the arithmetic is negligible and what is left is the cost
  of issuing the operations (Python, dispatch, kernel launches): the floor of a step at any
  size, for one run and for a stack of four (``host_cost``; it runs on a CPU too), with and
  without graphs.

On a CPU (``quick``, the tests) the same code runs a tiny network for a few steps, with the
stack forced: the numbers then mean nothing.

Example (a smoke run on the CPU, numbers meaningless):
    >>> rows = run(device="cpu", quick=True)   # doctest: +SKIP
"""

from __future__ import annotations

import sys
import time

import torch

import operators as O

__all__ = ["run", "markdown"]

STACK = 8
STEPS = 40  # timed steps, after a warm-up of WARM (cuDNN's autotuner, allocations)
WARM = 5
DEFAULT_ITERS = 2000  # of a denoising run: the images-per-minute column counts those


def _quick_net(quick: bool):
    """The smoke run's tiny network, else None (the device's default)."""
    from ..priors.generator import NetConfig

    return NetConfig(channels=(8, 8), input_depth=8) if quick else None


def _prior(device: str, quick: bool, **kw):
    from ..priors.generator import NetworkPrior

    kw.setdefault("net", _quick_net(quick))
    return NetworkPrior("dip", device=device, stacked=True, init="none", stop="none", **kw)


def _seconds_per_step(y: torch.Tensor, device: str, quick: bool, precision: str, **kw) -> float:
    """Seconds per step of a stack of ``len(y)`` runs (all of them together); ``kw``: more
    settings of the prior (``net``, ``graphs``)."""
    from . import uninterrupted

    steps = 3 if quick else STEPS
    for iters in (WARM, steps):  # the warm-up, then the timed run
        out = uninterrupted(_prior(device, quick, iters=iters, precision=precision, **kw)
                            .restore(y, O.Denoising()))
    return out.seconds / steps


def host_cost(device: str = "cpu", quick: bool = False) -> list[dict]:
    """Seconds per step of a stack of 1 and of 4 runs of a network with the default one's
    levels and 4 channels each, on 32x32 RGB (see the module docstring), with CUDA graphs
    and without.

    Example:
        >>> [(r["runs"], r["graphs"]) for r in host_cost(quick=True)]
        [(1, True), (4, True), (1, False), (4, False)]
    """
    from ..priors.generator import NetConfig, default_config

    levels = len(default_config("dip", device).channels)
    net = NetConfig(channels=(4,) * levels, input_depth=4)
    y = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    return [{"kind": "host", "runs": runs, "levels": levels, "graphs": graphs,
             "seconds": _seconds_per_step(y[:runs], device, quick, "auto", net=net, graphs=graphs)}
            for graphs in (True, False) for runs in (1, 4)]


def run(device: str = "cuda", quick: bool = False, cases: bool = True) -> list[dict]:
    """The rows (see the module docstring); ``cases=False`` leaves out the two whole default
    runs of denoise_astronaut (three minutes of the ~four on an H200)."""
    rows = []
    g = torch.Generator().manual_seed(0)
    for side in (32,) if quick else (256, 512):
        y = torch.rand(1, 3, side, side, generator=g).to(device)
        for graphs in (True, False):
            for precision in ("float32", "bfloat16"):
                rows.append({"kind": "step", "side": side, "precision": precision, "graphs": graphs,
                             "seconds": _seconds_per_step(y, device, quick, precision, graphs=graphs)})
    side = 32 if quick else 256
    ys = torch.rand(STACK, 3, side, side, generator=g).to(device)
    for graphs in (True, False):
        one = _seconds_per_step(ys[:1], device, quick, "auto", graphs=graphs)
        stack = _seconds_per_step(ys, device, quick, "auto", graphs=graphs)
        rows.append({"kind": "stack", "side": side, "images": STACK, "graphs": graphs,
                     "alone_per_min": 60 / (one * DEFAULT_ITERS),
                     "stacked_per_min": 60 * STACK / (stack * DEFAULT_ITERS)})
    return rows + (_whole_runs(device, quick) if cases else []) + host_cost(device, quick)


def _whole_runs(device: str, quick: bool) -> list[dict]:
    """The rows of a whole default run of denoise_astronaut in float32 and in bfloat16."""
    from ..api import solve
    from ..bench.cases import load_case
    from ..metrics import psnr
    from . import uninterrupted

    truth, y, op = load_case("denoise_astronaut")
    if quick:
        truth, y = truth[..., :32, :32], y[..., :32, :32]
    rows = []
    for precision in ("float32", "bfloat16"):  # as the dip section runs the case
        start = time.perf_counter()
        out = uninterrupted(solve(
            y, op, "dip", device=device, precision=precision, stacked=True,
            progress=sys.stderr.isatty(),
            **({"iters": 5, "warm": 2, "net": _quick_net(quick)} if quick else {})))
        rows.append({"kind": "case", "case": "denoise_astronaut", "precision": precision,
                     "psnr": psnr(out.image, truth.to(device)), "iterations": out.iterations,
                     "seconds": time.perf_counter() - start})
    return rows


def markdown(rows: list[dict]) -> str:
    """The tables of these rows."""
    how = {True: "CUDA graphs", False: "launched"}  # (on a CPU both launch)
    out = ["| deep image prior, RGB, seconds per step | float32 | bfloat16 |", "|---|---|---|"]
    for side in sorted({r["side"] for r in rows if r["kind"] == "step"}):
        for graphs in (True, False):
            per = {r["precision"]: r["seconds"] for r in rows
                   if r["kind"] == "step" and r["side"] == side and r["graphs"] == graphs}
            out.append(f"| {side}x{side}, {how[graphs]} | {per['float32']:.4f} | "
                       f"{per['bfloat16']:.4f} |")
    stacks = [r for r in rows if r["kind"] == "stack"]
    if stacks:
        r = stacks[0]
        out += ["", f"| {r['images']} images of {r['side']}x{r['side']} RGB, {DEFAULT_ITERS} steps "
                "each, images/min | one at a time | one stack |", "|---|---|---|"]
        out += [f"| {how[r['graphs']]} | {r['alone_per_min']:.1f} | {r['stacked_per_min']:.1f} "
                f"({r['stacked_per_min'] / r['alone_per_min']:.2f}x) |" for r in stacks]
    host = [r for r in rows if r["kind"] == "host"]
    if host:
        out += ["", f"| host cost per step ({host[0]['levels']} levels, 4 channels, 32x32), "
                "seconds | 1 run | 4 runs |", "|---|---|---|"]
        for graphs in (True, False):
            per = {r["runs"]: r["seconds"] for r in host if r["graphs"] == graphs}
            out.append(f"| {how[graphs]} | {per[1]:.4f} | {per[4]:.4f} |")
    cases = [r for r in rows if r["kind"] == "case"]
    if cases:
        out += ["", "| deep image prior, whole default run | precision | PSNR (dB) | iterations | "
                "seconds |", "|---|---|---|---|---|"]
        out += [f"| {r['case']} | {r['precision']} | {r['psnr']:.2f} | {r['iterations']} | "
                f"{r['seconds']:.1f} |" for r in cases]
    return "\n".join(out) + "\n"
