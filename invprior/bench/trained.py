"""Benchmark of trained priors (called by ``python -m invprior.bench``).

    python -m invprior.bench.trained [--quick]

Measures per-pixel MSE and PSNR, averaged over held-out images only (the first 100
held-out digits, rows 1500..1599, and the 10 held-out faces 90..99; the priors and every
tuned setting used training rows only):

  * compressed sensing with a dense Gaussian ``A`` (entries ``N(0, 1/m)``), noise std 0.01:
    faces (32x32) at m = 50, 100, 200, 400 and digits (16x16) at m = 20, 40, 80;
  * inpainting (70 % of the pixels missing) and super-resolution x4 of the faces, noise 0.01.

Methods: ``glo`` (the shipped GLO prior; latent search only), ``glo+adapt`` (the full
``prior.solve``: latent search and weight adaptation, both holding 10 % of ``y`` out to
validate the adaptation), ``pca`` (the linear prior of the same latent size, in closed
form from the same training images), ``dip`` (untrained deep image prior: a small 3-level
net, 400 iterations) and ``lasso-dct`` (sklearn ``Lasso`` on orthonormal 2-D DCT
coefficients, its ``alpha`` picked from a grid by the mean MSE on 16 training images).
The solvers are told the noise level (0.01). One operator (matrix, mask) per case, drawn
with seed 0; one noise draw (seed 1) per case.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import torch

import operators as O

from ..weights import weight_file

__all__ = ["run", "markdown"]

NOISE = 0.01
CASES = [("faces", "cs", m) for m in (50, 100, 200, 400)] + \
        [("digits", "cs", m) for m in (20, 40, 80)] + \
        [("faces", "inpaint", 0.7), ("faces", "sr", 4)]
METHODS = ("glo", "glo+adapt", "pca", "dip", "lasso-dct")
ALPHAS = np.logspace(-7, -1, 13)  # Lasso alpha grid (half-decade steps)
TUNE_IMAGES = 16  # training images used to pick alpha
DIGITS = 297  # held-out digits used: all of them (rows 1500..1796 of load_digits)


def make_operator(task: str, param, shape: tuple) -> O.Operator:
    """The case's forward operator (seed 0)."""
    if task == "cs":
        return O.CompressedSensing(int(param), shape, kind="gaussian", seed=0)
    if task == "inpaint":
        return O.Inpainting(shape=shape, missing=float(param), seed=0)
    return O.Downsampling(int(param))


def observe(op, x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """``op(x) + N(0, 0.01^2)`` noise, the same draw for the same images."""
    with torch.no_grad():
        return O.GaussianNoise(NOISE, seed=seed)(op(x))


def dct_basis(shape: tuple) -> torch.Tensor:
    """Orthonormal 2-D DCT synthesis matrix ``(n, n)``: column ``j`` is the ``j``-th basis image."""
    from operators.dct import idct

    c, h, w = shape
    n = c * h * w
    coef = torch.eye(n, dtype=torch.float64).view(n, c, h, w)
    img = idct(idct(coef).transpose(-1, -2)).transpose(-1, -2)
    return img.reshape(n, n).T.contiguous()


def dense_matrix(op, shape: tuple) -> torch.Tensor:
    """The matrix ``(m, n)`` of a linear operator, applied to the pixel basis."""
    n = math.prod(shape)
    with torch.no_grad():
        cols = op(torch.eye(n).view(n, *shape)).reshape(n, -1)
    return cols.T.double()


def lasso_dct(y: torch.Tensor, op, shape: tuple, alpha: float, design=None) -> torch.Tensor:
    """Lasso in the DCT basis: ``min_c 1/(2m) |y - A Psi c|^2 + alpha |c|_1``, ``x = Psi c``.

    Measurements that the operator never sees (all-zero rows, e.g. masked pixels) are
    dropped. Returns images ``(B, C, H, W)`` clipped to [0, 1].
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    A, psi = design if design is not None else _design(op, shape)
    keep = A.norm(dim=1) > 0
    X = (A[keep] @ psi).numpy()
    out = []
    for row in y.reshape(y.shape[0], -1).double()[:, keep].numpy():
        model = Lasso(alpha=alpha, fit_intercept=False, max_iter=20000, tol=1e-5)
        with warnings.catch_warnings():  # tiny alphas of the tuning grid converge slowly
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, row)
        out.append(psi.numpy() @ model.coef_)
    return torch.tensor(np.array(out), dtype=torch.float32).view(-1, *shape).clamp(0, 1)


def _design(op, shape):
    return dense_matrix(op, shape), dct_basis(shape)


def tune_lasso(op, shape: tuple, train_images: torch.Tensor) -> float:
    """The ``alpha`` of ``ALPHAS`` with the lowest mean MSE on training images."""
    design = _design(op, shape)
    y = observe(op, train_images, seed=7)
    errors = [(lasso_dct(y, op, shape, a, design) - train_images).square().mean().item()
              for a in ALPHAS]
    return float(ALPHAS[int(np.argmin(errors))])


def _scores(x: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    mse = (x.double() - truth.double()).square().flatten(1).mean(1)
    return mse.mean().item(), (-10 * torch.log10(mse)).mean().item()


def run(quick: bool = False, methods=METHODS, digits: int | None = None,
        progress: bool = False, verbose: bool = False) -> list[dict]:
    """Run every case and method; one row per (case, method).

    ``quick``: 5 faces, 20 digits, fewer DIP iterations (a smoke test, not for the table).
    ``digits``: number of held-out digits used (default ``DIGITS``: all 297; 20 when quick).
    ``progress``: the solvers' progress bars; ``verbose``: print each row as it is done.
    """
    from ..api import solve
    from ..glo import ImageSet, TrainedPrior, load_prior
    from ..glo.data import named_set
    from ..glo.decoders import LinearDecoder
    from ..glo.pca import linear_prior_state
    from ..glo.search import latent_search
    from ..priors.generator import NetConfig
    from . import uninterrupted

    priors = {name: load_prior(weight_file(f"prior_{name}.pt")) for name in ("digits", "faces")}
    tests = {"faces": named_set("faces", "test"), "digits": named_set("digits", "test")}
    trains = {name: named_set(name, "train") for name in ("digits", "faces")}
    if quick:
        tests["faces"] = tests["faces"][:5]
    tests["digits"] = tests["digits"][: digits or (20 if quick else DIGITS)]
    pcas = {}
    for name, prior in priors.items():
        k = prior.latent
        dec = LinearDecoder(k, prior.shape)
        # the same training images as the GLO prior (faces: with their mirror images)
        images = ImageSet(name, flips=bool(prior.config.get("flips")))
        state = linear_prior_state(images.load(range(len(images))), k)
        dec.load_state_dict(state["state_dict"])
        # same latent size and the same representation-error estimate as the GLO prior
        pcas[name] = TrainedPrior(dec, state["latent_mean"], state["latent_cov"],
                                  {"kind": "linear", "latent": k, "shape": list(prior.shape),
                                   "rep_error": prior.rep_error})
    dip_iters = 100 if quick else 400
    rows = []
    for dataset, task, param in CASES:
        prior, truth = priors[dataset], tests[dataset]
        shape = prior.shape
        op = make_operator(task, param, shape)
        y = observe(op, truth)
        label = {"cs": f"m={param}", "inpaint": f"{round(param * 100)}% missing",
                 "sr": f"x{param}"}[task]
        for method in methods:
            t = time.perf_counter()
            extra = {}
            if method == "glo":
                x = uninterrupted(latent_search(prior, y, op, noise_level=NOISE,
                                                progress=progress)).image
            elif method == "glo+adapt":
                # its own latent search: it holds out 10 % of y to validate the adaptation
                out = uninterrupted(prior.restore(y, op, noise_level=NOISE, adapt=True,
                                                  progress=progress))
                x = out.image
                extra["accepted"] = sum(r.iteration > 300 for r in out.items)
            elif method == "pca":
                x = uninterrupted(pcas[dataset].restore(y, op, noise_level=NOISE, adapt=False,
                                                        progress=progress)).image
            elif method == "dip":
                x = uninterrupted(solve(y, op, prior="dip", iters=dip_iters, noise_level=NOISE,
                                        net=NetConfig(channels=(16, 16, 16)), device="cpu",
                                        progress=progress)).image
                extra["iters"] = dip_iters
            elif method == "lasso-dct":
                pick = torch.linspace(0, len(trains[dataset]) - 1, TUNE_IMAGES).long()
                alpha = tune_lasso(op, shape, trains[dataset][pick])
                x = lasso_dct(y, op, shape, alpha)
                extra["alpha"] = alpha
            else:
                raise ValueError(f"unknown method '{method}'; use {', '.join(METHODS)}.")
            mse, psnr = _scores(x, truth)
            rows.append({"dataset": dataset, "task": task, "case": label, "method": method,
                         "mse": mse, "psnr": psnr, "images": truth.shape[0],
                         "seconds": time.perf_counter() - t, **extra})
            if verbose:
                print(f"{dataset} {label} {method}: {mse:.2e} ({psnr:.2f} dB)", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """One table: a line per case, per-pixel MSE (PSNR in dB) per method."""
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    cases = list(dict.fromkeys((r["dataset"], r["task"], r["case"], r["images"]) for r in rows))
    lines = [
        f"Trained priors, held-out images, noise std {NOISE}, "
        f"{torch.get_num_threads()} torch thread(s). Cells: per-pixel MSE (mean PSNR, dB).",
        "",
        "| set (images) | task | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for dataset, task, case, n in cases:
        cells = []
        for m in methods:
            key = (dataset, case, m)
            r = next((r for r in rows if (r["dataset"], r["case"], r["method"]) == key), None)
            cells.append(f"{r['mse']:.2e} ({r['psnr']:.2f})" if r else "-")
        lines.append(f"| {dataset} ({n}) | {task} {case} | " + " | ".join(cells) + " |")
    seconds = {m: sum(r["seconds"] for r in rows if r["method"] == m) for m in methods}
    lines += ["", "Seconds per method, all cases: " +
              ", ".join(f"{m} {s:.0f}" for m, s in seconds.items()) + "."]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m invprior.bench.trained",
                                description="Benchmark of trained priors (held-out images).")
    p.add_argument("--quick", action="store_true", help="a small smoke run (default: off)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = p.parse_args(argv)
    if args.threads < 1:  # (torch's RuntimeError, a traceback)
        p.error(f"--threads must be 1 or more, got {args.threads}.")
    torch.set_num_threads(args.threads)
    print(markdown(run(quick=args.quick, verbose=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
