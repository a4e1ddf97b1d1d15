"""Train the coupled LR/HR dictionaries shipped for sparse super-resolution.

    python -m invprior.sparse.train_sr                      # x2, x3, x4 -> invprior/weights/
    python -m invprior.sparse.train_sr --factors 3 --out /tmp --iters 5   # a quick one

Training pairs come from ``skimage.data`` images that the benchmarks do not use (not
camera, astronaut, coffee, chelsea/cat): each image's luma ``x`` (and its 90-degree
rotation) is degraded by ``operators.Downsampling(f, "bicubic")``, upsampled bicubically
to ``mid``, and cut into ``p x p`` patches (``p = 3 f``) at stride 2. A pair is the
derivative features of the ``mid`` patch (reduced by PCA to 99.9 % of their energy) and
the missing high frequencies ``x - mid`` of the same patch; nearly flat patches are
dropped, as they teach nothing.

The dictionaries are learned jointly (Yang et al. 2010): K-SVD on the concatenated
vectors ``[low, beta * high]`` (``beta`` balances the energies of the two parts), so that
one sparse code explains both. At test time the code is found on the normalised LR part
alone and applied to the matching HR part. (Refitting the HR part by least squares on
LR-only codes, as Zeyde et al. do, measured 0.2-0.5 dB worse here.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from ..io import write_torch
from .dictionary import learn_dictionary
from .patches import extract_patches
from .superres import downsample, rgb_to_ycbcr, sr_features, upsample

__all__ = ["TRAIN_IMAGES", "training_images", "training_pairs", "train_sr_dictionary", "main"]

# skimage.data images used for training: none of them is a benchmark image.
TRAIN_IMAGES = ("brick", "grass", "gravel", "moon", "rocket", "page", "coins",
                "hubble_deep_field", "text", "clock", "immunohistochemistry",
                "stereo_motorcycle")


def training_images(names=TRAIN_IMAGES) -> list[torch.Tensor]:
    """Luma of the named ``skimage.data`` images, ``(H, W)`` float32 in [0, 1]."""
    import numpy as np
    from skimage import data

    out = []
    for name in names:
        a = getattr(data, name)()
        a = a[0] if isinstance(a, tuple) else a  # stereo_motorcycle: (left, right, disparity)
        t = torch.from_numpy(np.asarray(a, dtype=np.float32) / 255.0)
        if t.ndim == 3:
            t = rgb_to_ycbcr(t[..., :3].permute(2, 0, 1)[None])[0, 0]
        out.append(t)
    return out


def training_pairs(images: list[torch.Tensor], factor: int, patch: int, *, stride: int = 2,
                   max_pairs: int = 100_000, min_energy: float = 1e-3,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature / high-frequency patch pairs, ``(N, 4 p^2)`` and ``(N, p^2)``.

    Example:
        >>> f, h = training_pairs([torch.rand(48, 48)], 2, 6, max_pairs=100)
        >>> f.shape, h.shape
        (torch.Size([100, 144]), torch.Size([100, 36]))
    """
    feats, highs = [], []
    for img in images:
        for view in (img, img.T.flip(0)):  # and its 90-degree rotation: more edge directions
            h, w = view.shape
            x = view[: h - h % factor, : w - w % factor][None, None]
            mid = upsample(downsample(x, factor), factor)
            f = extract_patches(sr_features(mid), patch, stride)[0]
            hi = extract_patches(x - mid, patch, stride)[0]
            keep = f.pow(2).mean(1) > min_energy
            feats.append(f[keep])
            highs.append(hi[keep])
    f, hi = torch.cat(feats), torch.cat(highs)
    pick = torch.randperm(f.shape[0], generator=torch.Generator().manual_seed(seed))[:max_pairs]
    return f[pick], hi[pick]


def train_sr_dictionary(factor: int, *, atoms: int = 1024, sparsity: int = 3, iters: int = 20,
                        pairs: int = 100_000, energy: float = 0.999, seed: int = 0,
                        images: list[torch.Tensor] | None = None, progress: bool = False) -> dict:
    """Learn the coupled dictionary pair for one factor (see the module docstring).

    Returns:
        dict with ``factor``, ``patch``, ``sparsity``, ``pca`` ``(m, 4 p^2)``, ``Dl``
        ``(K, m)`` (unit rows) and ``Dh`` ``(K, p^2)``, as :func:`.superres.load_sr_dictionary`
        expects.
    """
    patch = 3 * factor
    images = training_images() if images is None else images
    feats, highs = training_pairs(images, factor, patch, max_pairs=pairs, seed=seed)
    # PCA of the features: the derivative features are very redundant (Zeyde et al.).
    ev, V = torch.linalg.eigh((feats.T @ feats).double() / feats.shape[0])
    ev, V = ev.flip(0), V.flip(1)
    m = int((ev.cumsum(0) / ev.sum() < energy).sum()) + 1
    pca = V[:, :m].T.float().contiguous()
    low = feats @ pca.T
    beta = (low.pow(2).sum(1).mean() / highs.pow(2).sum(1).mean()).sqrt()
    joint = torch.cat([low, beta * highs], dim=1)
    D = learn_dictionary(joint, atoms, iters=iters, sparsity=sparsity, init="data", seed=seed,
                         progress=progress)
    norm_low = D[:, :m].norm(dim=1, keepdim=True).clamp_min(1e-8)
    # A code z on the unit LR atoms is the code z / |D_l| on the joint atoms.
    return {"factor": factor, "patch": patch, "sparsity": sparsity, "pca": pca,
            "Dl": (D[:, :m] / norm_low).contiguous(),
            "Dh": (D[:, m:] / (beta * norm_low)).contiguous()}


FACTORS = (2, 3, 4, 8)  # the Downsampling operator's


def check_args(args) -> None:
    """``ValueError`` in one sentence, naming the flag and its value, for a setting that
    would fail minutes into training (a traceback from K-SVD or torch), or an --out that
    is a file or holds dictionaries already (replaced only with --force)."""
    bad = [f for f in args.factors if f not in FACTORS]
    if bad:
        raise ValueError(f"--factors must be among {', '.join(map(str, FACTORS))} (the "
                         f"Downsampling operator's), got {', '.join(map(str, bad))}.")
    if args.atoms < 1:
        raise ValueError(f"--atoms must be at least 1, got {args.atoms}.")
    if not 1 <= args.sparsity <= args.atoms:
        raise ValueError(f"--sparsity must be from 1 to --atoms ({args.atoms}), got "
                         f"{args.sparsity}.")
    if args.iters < 0:
        raise ValueError(f"--iters must be 0 or more, got {args.iters}.")
    if args.pairs < args.atoms:  # (K-SVD's first atoms are that many of the pairs)
        raise ValueError(f"--pairs must be at least --atoms ({args.atoms}), got {args.pairs}.")
    if not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed must be from 0 to {2**63 - 1}, got {args.seed}.")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}.")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out '{args.out}' is a file; name the folder that the "
                         f"dictionaries are written to.")
    there = [str(args.out / f"sparse_sr_x{f}.pt") for f in args.factors
             if (args.out / f"sparse_sr_x{f}.pt").exists()]
    if there and not args.force:
        raise ValueError(f"{', '.join(there)} already exist{'s' * (len(there) == 1)}; "
                         f"choose another --out or pass --force.")


def main(argv: list[str] | None = None) -> int:
    """Command line entry: train and save ``sparse_sr_x{f}.pt`` for each factor in ``--out``
    (the shipped ones: ``--out invprior/weights``, from the repository)."""
    ap = argparse.ArgumentParser(prog="python -m invprior.sparse.train_sr",
                                 description="Train the coupled sparse super-resolution "
                                             "dictionaries on skimage.data images.")
    ap.add_argument("--factors", type=int, nargs="+", default=[2, 3, 4], help="upscaling factors, one dictionary each (default: 2 3 4)")
    ap.add_argument("--atoms", type=int, default=1024, help="atoms per dictionary (default: 1024)")
    ap.add_argument("--sparsity", type=int, default=3, help="atoms per patch code (default: 3)")
    ap.add_argument("--iters", type=int, default=20, help="K-SVD iterations (default: 20)")
    ap.add_argument("--pairs", type=int, default=100_000, help="training patch pairs (default: 100000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the patches and atoms (default: 0)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    # (the installed package's weights folder had been the default: a trial run replaced the
    # shipped dictionary, and --prior sparse --op sr lost 0.7 dB without a word)
    ap.add_argument("--out", type=Path, default=Path("."), help="folder the dictionaries are written to, as sparse_sr_x{factor}.pt; a file there is replaced only with --force (default: the current folder; the shipped ones: --out invprior/weights)")
    ap.add_argument("--force", action="store_true", help="replace dictionaries already in --out")
    ap.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    args = ap.parse_args(argv)
    try:
        check_args(args)
        args.out.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as err:  # one sentence and exit 2, before minutes of work
        said = str(err) if isinstance(err, ValueError) else (
            f"cannot make the --out folder '{args.out}' ({err.strerror or type(err).__name__}).")
        print(f"error: {said}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    images = training_images()
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m invprior.sparse.train_sr", *given])
    for f in args.factors:
        t = time.time()
        d = train_sr_dictionary(f, atoms=args.atoms, sparsity=args.sparsity, iters=args.iters,
                                pairs=args.pairs, seed=args.seed, images=images,
                                progress=not args.quiet)
        d.update(command=command, train_images=list(TRAIN_IMAGES),
                 torch_version=str(torch.__version__))
        path = args.out / f"sparse_sr_x{f}.pt"
        write_torch(path, d)  # atomic: a half-written dictionary is never picked up
        if not args.quiet:
            print(f"x{f}: {tuple(d['Dl'].shape)} LR / {tuple(d['Dh'].shape)} HR atoms "
                  f"-> {path} ({time.time() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
