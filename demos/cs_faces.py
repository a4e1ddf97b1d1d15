"""Compressed sensing of a face: the shipped trained faces prior against the untrained
priors and Lasso in the DCT basis, on a face it never saw.

    python demos/cs_faces.py [--fast] [--face 0] [--image PATH] [--m 100] [-o cs_faces.png] [--force]

The truth is a held-out face of the faces set (``--face`` K of the 10 rows the prior and
every tuned setting never used; ``invprior.glo.data.named_set("faces", "test")``), or your
own ``--image`` made gray and 32x32 (the prior's shape; ``--size`` is refused). It is
measured as in the benchmark of trained priors (``invprior.bench.trained``): ``--m``
dense gaussian measurements (entries N(0, 1/m), seed 0) of its 1024 pixels, noise std 0.01
(seed 1), and every solver is told that noise level. Methods: Lasso on 2-D DCT
coefficients (``lasso-dct``, its alpha picked on 16 training faces, 4 with ``--fast``; the
classical reference), the shipped GLO prior ``invprior/weights/prior_faces.pt`` (latent
search from 8 starts, then weight adaptation validated on held-out measurements;
``faces-prior``), the deep image prior (``dip``) and the deep decoder (``decoder``).
The Lasso needs scikit-learn (``pip install scikit-learn``, or ``pip install -e '.[train]'``
in the repository); without it, that row is
skipped with a note. Writes ONE figure:
A^T y (the measurements mapped back to the image) | each method | truth with the PSNR under
each panel (32x32 shown 4x larger), and below it the runs of the faces prior, dip and
decoder (loss, PSNR, stopping signal per iteration; returned iteration in red).
Common options: demos/common.py.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import common
import torch

from invprior.bench.trained import NOISE, TUNE_IMAGES, lasso_dct, make_operator, observe, tune_lasso
from invprior.glo.data import named_set
from invprior.weights import weight_file

FACES = weight_file("prior_faces.pt")
SHAPE = (1, 32, 32)


def lasso(y, op, fast: bool) -> torch.Tensor:
    """Lasso-DCT with alpha tuned on evenly spaced training faces (as the benchmark)."""
    train = named_set("faces", "train")
    pick = torch.linspace(0, len(train) - 1, 4 if fast else TUNE_IMAGES).long()
    return lasso_dct(y, op, SHAPE, tune_lasso(op, SHAPE, train[pick]))


def run(argv=None) -> int:
    p = common.parser(__doc__, "cs_faces.png", None, sized=False)
    p.add_argument("--face", type=int, default=None, choices=range(10), help="held-out face (0-9; default: 0, unless --image)")
    p.add_argument("--m", type=int, default=100, help="number of measurements (of 1024 pixels)")
    args = p.parse_args(argv)
    # each was dropped without a word: the prior works at 32x32, and --image replaces the face
    if args.face is not None and args.image:
        p.error("--face picks a held-out face; --image replaces it: give one of them.")
    args.face = args.face or 0
    args = common.settle(args)
    if not 1 <= args.m <= 1024:
        raise ValueError(f"--m must be between 1 and 1024, got {args.m}.")
    if args.image:
        x = common.load_image(args.image, SHAPE[-1], gray=True)
        label = Path(args.image).name
    else:
        x = named_set("faces", "test")[args.face:args.face + 1]
        label = f"held-out face {args.face}"
    op = make_operator("cs", args.m, SHAPE)
    y = observe(op, x)
    rows = []
    if importlib.util.find_spec("sklearn") is not None:
        rows.append(common.timed("lasso-dct", lambda: lasso(y, op, args.fast)))
    else:
        print("lasso-dct skipped: it needs scikit-learn (pip install scikit-learn, or "
              "pip install -e '.[train]' in the repository)")
    rows += [
        common.timed("faces-prior", lambda: common.prior(str(FACES), y, op, args, x, noise_level=NOISE)),
        common.timed("dip", lambda: common.network("dip", y, op, args, x, noise_level=NOISE)),
        common.timed("decoder", lambda: common.network("decoder", y, op, args, x, noise_level=NOISE)),
    ]
    title = f"compressed sensing, {args.m} gaussian measurements of 1024 pixels, noise {NOISE:g}, {label}"
    return common.finish(args, ("A^T y", op.adjoint(y), False), rows, x, title)


if __name__ == "__main__":
    sys.exit(common.main(run))
