"""Command line: train a generative prior, ``python -m invprior.train --data SET --out PRIOR.pt``.

GLO (deep factorisation, Bojanowski et al. 2017) learns a decoder and one code per image;
``--kind linear`` trains the linear decoder ``x = b + W z`` with the same loop, and
``--kind pca`` computes that linear prior in closed form. Solve with the result through
``solve(y, op, prior="PRIOR.pt")`` or ``--prior PRIOR.pt``. ``--kind denoiser`` trains the
CNN denoiser of plug-and-play restoration (``invprior.cnn``) on scikit-image's photographs;
``--kind inpainter`` fine-tunes it to fill holes without iterating (``invprior.cnn.inpainter``).

Examples:
    python -m invprior.train --data digits --out digits.pt
    python -m invprior.train --data photos/ --size 64 --flips --out photos.pt --checkpoint-every 200
    python -m invprior.train --data photos/ --size 64 --flips --out photos.pt --steps 20000 --resume
    torchrun --nproc_per_node=4 -m invprior.train --data photos/ --size 64 --out photos.pt
    python -m invprior.train --kind denoiser --device cuda --max-seconds 300 --out denoiser.pt

The shipped priors (``invprior/weights/prior_*.pt``) and denoiser were made by the
commands in ``ASSET_COMMANDS`` below; ``digits``/``faces`` use the training rows only.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch

from .allocator import keep_freed_memory
from .cli import as_flags
from .console import steady_streams, stop_on_signals
from .io import tifffile_quiet
from .distributed import launched_main, launched_size

ASSET_COMMANDS = {
    "digits": "python -m invprior.train --data digits --latent 32 --width 64 --steps 2000 "
              "--out invprior/weights/prior_digits.pt --threads 1",
    "faces": "python -m invprior.train --data faces --flips --latent 128 --width 64 --steps 800 "
             "--out invprior/weights/prior_faces.pt --threads 1",
    # the shipped denoiser: trained on the GPU from scratch on scikit-image's photographs
    # ("denoiser-base"), then fine-tuned for 55 minutes on 2 CPU cores on the 400 images
    # DnCNN was trained on (../shared/data/train400), and 60 % of the start's weights kept:
    # Set12 sigma 25 +0.14 dB, no plug-and-play fixed case down by more than 0.1 dB (the
    # fine-tuned weights alone: +0.20, but -0.15 to -0.17 on inpaint, deblur and sr4 camera)
    "denoiser-base": "python -m invprior.train --kind denoiser --device cuda --steps 40000 "
                     "--batch 64 --max-seconds 330 --out denoiser_base.pt",
    "denoiser": "python -m invprior.train --kind denoiser --data ../shared/data/train400 "
                "--start denoiser_base.pt --steps 100000 --batch 32 --lr 1e-4 --max-seconds 3300 "
                "--keep-start 0.6 --threads 1 --out invprior/weights/denoiser.pt",
    # the colour denoiser: the gray one widened to see all three opponent channels (zero
    # weights on them at the start), fine-tuned for an hour on 2 CPU cores on the 432 colour
    # images of CBSD432, 30 % of the start kept: Kodak24 sigma 25 32.00 -> 32.11, sr4_astronaut
    # 25.12 -> 25.11 (the fine-tuned weights alone: 32.12, but 25.04)
    "denoiser-colour": "python -m invprior.train --kind denoiser --channels 3 "
                       "--data ../shared/data/cbsd432 --start invprior/weights/denoiser.pt "
                       "--size 64 --steps 100000 --batch 24 --lr 2e-4 --max-seconds 3600 "
                       "--keep-start 0.3 --threads 2 --out invprior/weights/denoiser_colour.pt",
    # one-pass denoising's pair (cnn.checkpoint.ONE_PASS_ASSETS): the two above trained on
    # their own images on one H200 (.ci/gpu retrain: four runs sharing it), then again from
    # that output at a lower learning rate (two runs sharing it), nothing of the start kept;
    # then each fine-tuned in squared error (--loss l2: what PSNR measures; they were trained
    # in l1) on 2 CPU cores: gray 45 minutes (889 steps of 32 patches), colour 25 (310 of 16).
    # Gray: Set12 sigma 15/25/50 32.64/30.29/27.14 -> 32.82/30.49/27.37 -> 32.83/30.50/27.37
    # (first run 15481 steps, second 16012) -> 32.83/30.52/27.41 (l2; 145 steps at lr 2e-5
    # gave 32.83/30.51/27.40); colour: Kodak24 sigma 25 32.11 -> 32.26 -> 32.29 -> 32.32 (l2)
    # (6753 and 7034 steps of 32 patches)
    "denoiser-one-pass-1": "python -m invprior.train --kind denoiser --device cuda "
                           "--data ../shared/data/train400 --start invprior/weights/denoiser.pt "
                           "--steps 1000000 --batch 64 --lr 3e-4 --max-seconds 390 "
                           "--out denoiser_one_pass_1.pt",
    "denoiser-one-pass": "python -m invprior.train --kind denoiser --device cuda "
                         "--data ../shared/data/train400 --start denoiser_one_pass_1.pt "
                         "--steps 1000000 --batch 64 --lr 1e-4 --max-seconds 185 "
                         "--out denoiser_one_pass_l1.pt",
    "denoiser-one-pass-l2": "python -m invprior.train --kind denoiser "
                            "--data ../shared/data/train400 --start denoiser_one_pass_l1.pt "
                            "--loss l2 --steps 100000 --batch 32 --lr 3e-5 --max-seconds 2700 --threads 2 "
                            "--out invprior/weights/denoiser_one_pass.pt",
    "denoiser-colour-one-pass-1": "python -m invprior.train --kind denoiser --channels 3 "
                                  "--device cuda --data ../shared/data/cbsd432 "
                                  "--start invprior/weights/denoiser_colour.pt --size 96 "
                                  "--steps 1000000 --batch 32 --lr 2e-4 --max-seconds 390 "
                                  "--out denoiser_colour_one_pass_1.pt",
    "denoiser-colour-one-pass": "python -m invprior.train --kind denoiser --channels 3 "
                                "--device cuda --data ../shared/data/cbsd432 "
                                "--start denoiser_colour_one_pass_1.pt --size 96 "
                                "--steps 1000000 --batch 32 --lr 1e-4 --max-seconds 185 "
                                "--out denoiser_colour_one_pass_l1.pt",
    "denoiser-colour-one-pass-l2": "python -m invprior.train --kind denoiser --channels 3 "
                                   "--data ../shared/data/cbsd432 "
                                   "--start denoiser_colour_one_pass_l1.pt --loss l2 --size 96 "
                                   "--steps 100000 --batch 16 --lr 3e-5 --max-seconds 1500 "
                                   "--threads 2 --out invprior/weights/denoiser_colour_one_pass.pt",
    # the inpainter: the gray denoiser fine-tuned for 45 minutes on 2 CPU cores to fill random
    # boxes and scribbles in 128-pixel patches of train400 and CBSD432 (made gray) (1227
    # steps), then continued from there for 45 more with new holes (seed 1) at a third of the
    # learning rate (1034 steps): inside the holes of the large-hole cases +0.05 to +0.32 dB,
    # 18 of 24 validation fills better (README, "The inpainter")
    "inpainter-1": "python -m invprior.train --kind inpainter --data ../shared/data "
                   "--start invprior/weights/denoiser.pt --steps 100000 --batch 12 --lr 3e-4 "
                   "--max-seconds 2700 --threads 2 --out inpainter_1.pt",
    "inpainter": "python -m invprior.train --kind inpainter --data ../shared/data "
                 "--start inpainter_1.pt --steps 100000 --batch 12 --lr 1e-4 --seed 1 "
                 "--max-seconds 2700 --threads 2 --out invprior/weights/inpainter.pt",
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .cli import HelpWithDefaults

    p = argparse.ArgumentParser(
        prog="python -m invprior.train",
        description="Train a prior on a folder of images or a shipped set: a generative one "
                    "(GLO deep factorisation, or a linear/PCA basis), the plug-and-play CNN "
                    "denoiser, or the inpainter fine-tuned from it (--kind).",
        formatter_class=HelpWithDefaults,
    )
    p.add_argument("--version", action="version", version=f"invprior {__version__}")
    p.add_argument("--data", default=None, help="digits, faces (their training rows only), or a folder of png/jpg/tif/bmp/webp/gif images (searched recursively); --kind denoiser/inpainter: a folder (made gray), else scikit-image's photographs")
    p.add_argument("--out", required=True, help="checkpoint file (.pt), written atomically; also the periodic checkpoint")
    m = p.add_argument_group("model")
    m.add_argument("--kind", default="glo", choices=("glo", "linear", "pca", "denoiser", "inpainter"), help="glo: deep decoder; linear: x = b + W z trained by the same loop; pca: the linear prior in closed form; denoiser: the plug-and-play CNN denoiser; inpainter: the denoiser fine-tuned (--start) to fill random holes without iterating (invprior.cnn.inpainter)")
    m.add_argument("--start", default=None, help="--kind denoiser (needed by inpainter): fine-tune this denoiser checkpoint (its network shape) instead of starting from random weights; --kind inpainter also continues from an inpainter checkpoint")
    m.add_argument("--keep-start", type=float, default=0.0, help="--kind denoiser with --start: the final weights are this share of --start's plus the rest of the fine-tuned ones (0: only the fine-tuned)")
    m.add_argument("--widths", default=None, help="--kind denoiser without --start: the U-Net's channels per scale, finest first, comma-separated (each scale halves the image; default: 32,64,128,192)")
    m.add_argument("--blocks", type=int, default=None, help="--kind denoiser without --start: residual blocks per scale (default: 2)")
    m.add_argument("--latent", type=int, default=32, help="code size k")
    m.add_argument("--width", type=int, default=64, help="channels of the GLO decoder's coarsest feature map")
    m.add_argument("--codes", default="sphere", choices=("sphere", "ball", "free"), help="set the codes are kept in")
    m.add_argument("--init", default="pca", choices=("pca", "random"), help="starting codes")
    m.add_argument("--loss", default=None, choices=("l1", "l2", "lap1"), help="reconstruction loss: squared l2, l1 (--kind denoiser only) or Laplacian-pyramid l1 (glo/linear only); default l2, --kind denoiser l1")
    d = p.add_argument_group("data")
    d.add_argument("--size", type=int, default=None, help="side of the square training images (default: 16 digits, 32 faces, 64 folders; --kind denoiser: patch side, 96; inpainter: 128)")
    d.add_argument("--channels", type=int, default=None, choices=(1, 3), help="1 gray or 3 RGB (default: 1 for digits/faces; a folder is RGB if any image is); --kind denoiser: 3 trains the colour denoiser on the RGB photos of --data (each patch denoised one opponent channel at a time, guided by all three; --batch counts patches), else gray")
    d.add_argument("--flips", action="store_true", help="add the horizontal mirror of every image")
    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, default=3000, help="minibatch steps (in total, also with --resume)")
    o.add_argument("--batch", type=int, default=64, help="global minibatch size (split over the ranks)")
    o.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of the decoder weights")
    o.add_argument("--code-lr", type=float, default=1e-2, help="sparse Adam learning rate of the codes")
    o.add_argument("--schedule", default="constant", choices=("constant", "cosine"), help="learning rates constant, or decayed along a cosine to 1/100 at the last step")
    o.add_argument("--seed", type=int, default=0, help="seed of the weights, codes and shuffling")
    o.add_argument("--max-seconds", type=float, default=None, help="--kind denoiser/inpainter: stop after this time (the learning-rate schedule follows whichever of steps and time runs out first)")
    o.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (0: only the final one)")
    o.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out, on the same images (a moved folder "
                        "too) and settings; only --steps and --checkpoint-every may change")
    o.add_argument("--force", action="store_true", help="overwrite an existing --out")
    r = p.add_argument_group("run")
    r.add_argument("--device", default="cpu", help="cpu, cuda or auto (under torchrun: one GPU per rank)")
    r.add_argument("--threads", type=int, default=None, help="torch CPU threads per process (default: torch's choice)")
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def run(args) -> dict:
    """Train (or compute) the prior described by ``args``; return the final checkpoint."""
    from .checks import resolve_device
    from .glo import ImageSet, TrainConfig, train
    from .glo.checkpoint import FORMAT, VERSION, write_checkpoint
    from .glo.pca import linear_prior_state, representation_error
    from .io import check_writable

    out = Path(args.out)
    if out.suffix.lower() != ".pt":
        raise ValueError(f"--out must name a .pt file, got '{out}'.")
    if out.is_dir():  # (it offered --force, which then failed after the whole run)
        raise ValueError(f"--out '{out}' is a folder, not a .pt file.")
    if out.is_symlink() and out.exists() and out.resolve().suffix.lower() != ".pt":
        # (written through, a training image had been replaced by the checkpoint)
        raise ValueError(f"--out '{out}' is a link to '{out.resolve()}', which is no .pt "
                         f"file; writing the checkpoint would replace it.")
    if out.exists() and not (args.resume or args.force):
        resume = "--resume to continue it or " if args.kind in _GLO else ""  # (the rest cannot)
        raise ValueError(f"'{out}' already exists; pass {resume}--force to replace it.")
    if args.resume and args.force:
        raise ValueError("--resume continues --out and --force replaces it; pass one of them.")
    _check_flags_apply(args)
    _check_values(args)
    if args.data is not None and not args.data.strip():  # ("" searched the current folder)
        raise ValueError("--data is empty; give digits, faces or a folder of images.")
    if args.data in ("digits", "faces") and Path(args.data).is_dir():  # (the set had been taken)
        raise ValueError(f"--data {args.data} names both the shipped set and a folder here; "
                         f"write ./{args.data} for the folder.")
    if launched_size() > 1 and args.kind not in _GLO:  # (each rank had run it all, and
        # written --out: the last one found it there, and failed)
        raise ValueError(f"--kind {args.kind} trains in one process; run it without torchrun "
                         f"(torchrun shares --kind glo and linear).")
    if args.resume and args.kind in _GLO and out.is_file():
        from .priors import DENOISER_FORMAT, INPAINTER, checkpoint_format

        found = checkpoint_format(out)
        if found in (DENOISER_FORMAT, INPAINTER):  # (the message pointed at load_prior)
            kind, a = ("inpainter", "an") if found == INPAINTER else ("denoiser", "a")
            raise ValueError(f"'{out}' is {a} {kind} checkpoint, which cannot be resumed: train "
                             f"it again with --kind {kind} --force, or fine-tune it with "
                             f"--kind {kind} --start {out} --out NEW.pt.")
    if args.resume and args.kind == "pca":
        raise ValueError("--kind pca is computed in one pass; there is nothing to resume.")
    if args.threads is not None:
        if not 1 <= args.threads <= MOST_THREADS:
            raise ValueError(f"--threads must be from 1 to {MOST_THREADS} (this machine has "
                             f"{os.cpu_count()} cores), got {args.threads}.")
        torch.set_num_threads(args.threads)
    # asked now, not when the first checkpoint is written: that was after the whole run
    check_writable(out.parent)
    device = resolve_device(args.device)
    meta = {"command": " ".join(["python -m invprior.train", *sys.argv[1:]])}
    if args.kind in ("denoiser", "inpainter"):
        return _train_denoiser(args, out, device, meta)
    if args.data is None:
        raise ValueError(f"--kind {args.kind} needs --data (digits, faces or a folder).")
    data = ImageSet(args.data, size=args.size, channels=args.channels, flips=args.flips)
    if args.kind == "pca":
        images = data.load(range(len(data)))
        state = linear_prior_state(images, args.latent)
        # how far unseen images lie from the basis, which the latent search weighs its
        # prior by, as --kind glo and linear store it (none had left it unweighted without
        # noise: faces, 50 measurements, 18.45 dB against 20.73 with it)
        groups = torch.arange(len(data)) % data.count  # (an image and its mirror: one fold)
        config = {"kind": "linear", "latent": args.latent, "shape": list(data.shape),
                  "closed_form": True, "images": len(data), "source": data.source,
                  "size": data.size, "channels": data.channels, "flips": data.flips,
                  "rep_error": representation_error(images, args.latent, groups)}
        ck = {"format": FORMAT, "version": VERSION, "config": config, **state, "step": 0,
              "done": True, "losses": torch.zeros(0),
              "meta": dict(meta, torch=str(torch.__version__), world=1)}
        if launched_main():
            write_checkpoint(out, ck)
        return ck
    cfg = TrainConfig(kind=args.kind, latent=args.latent, width=args.width, codes=args.codes,
                      init=args.init, loss=args.loss or "l2", steps=args.steps, batch=args.batch,
                      lr=args.lr, code_lr=args.code_lr, seed=args.seed,
                      checkpoint_every=args.checkpoint_every, schedule=args.schedule)
    return train(data, cfg, out=out, resume=args.resume, device=device,
                 progress=not args.quiet, meta=meta)


# The kinds each setting shapes; given to any other kind it would be ignored without a word.
_GLO = ("glo", "linear")
_CNN = ("denoiser", "inpainter")
FLAG_KINDS = {
    "start": _CNN, "keep_start": _CNN, "widths": ("denoiser",), "blocks": ("denoiser",),
    "latent": (*_GLO, "pca"), "width": ("glo",), "codes": _GLO, "init": _GLO,
    "code_lr": _GLO, "schedule": _GLO, "checkpoint_every": _GLO, "flips": (*_GLO, "pca"),
    "loss": (*_GLO, "denoiser"), "max_seconds": _CNN,
    "steps": (*_GLO, *_CNN), "batch": (*_GLO, *_CNN), "lr": (*_GLO, *_CNN),
    "seed": (*_GLO, *_CNN),
}


def _check_flags_apply(args) -> None:
    """One sentence (ValueError) for a setting changed from its default that ``--kind`` ignores.

    >>> _check_flags_apply(build_parser().parse_args(["--out", "a.pt", "--kind", "pca", "--steps", "9"]))
    Traceback (most recent call last):
    ValueError: --steps is not used by --kind pca (only by glo, linear, denoiser, inpainter).
    """
    parser = build_parser()
    for dest, kinds in FLAG_KINDS.items():
        if args.kind not in kinds and getattr(args, dest) != parser.get_default(dest):
            raise ValueError(f"--{dest.replace('_', '-')} is not used by --kind {args.kind} "
                             f"(only by {', '.join(kinds)}).")


# Beyond these a setting is a typo, not a model (--latent 1000000 took 8 GB, then failed
# inside the allocator; --width 100000 asked 180 GB)
MOST = {"steps": 10**8, "batch": 65536, "latent": 4096, "width": 1024}
MOST_THREADS = 1024  # (--threads 100000 had crashed the process: "can't start new thread")


def _check_values(args) -> None:
    """One sentence (ValueError) naming the flag whose value no run can use: counts below 1
    or beyond ``MOST``, learning rates and time limits that are no positive finite number
    (``--max-seconds nan`` had passed), a seed beyond 32 bits (``solve`` takes the same).

    >>> _check_values(build_parser().parse_args(["--out", "a.pt", "--latent", "0"]))
    Traceback (most recent call last):
    ValueError: --latent must be from 1 to 4096, got 0.
    """
    for dest, most in MOST.items():
        value = getattr(args, dest)
        if not 1 <= value <= most:
            raise ValueError(f"--{dest} must be from 1 to {most}, got {value}.")
    if args.max_seconds == math.inf:  # no limit, as solve takes it (it had been refused)
        args.max_seconds = None
    for dest in ("lr", "code_lr", "max_seconds"):
        value = getattr(args, dest)
        if value is not None and not (0 < value < math.inf):
            raise ValueError(f"--{dest.replace('_', '-')} must be a positive number, got {value:g}.")
    from .cli import MAX_SEED  # (solve's range)

    if not 0 <= args.seed <= MAX_SEED:
        raise ValueError(f"--seed must be from 0 to {MAX_SEED}, got {args.seed}.")
    if args.checkpoint_every < 0:
        raise ValueError(f"--checkpoint-every must be >= 0 (0: only the final checkpoint), "
                         f"got {args.checkpoint_every}.")
    if args.kind in _GLO and args.loss == "l1":  # (losses.py had said "unknown loss 'l1'")
        raise ValueError(f"--loss l1 is for --kind denoiser; --kind {args.kind} takes l2 or lap1.")


def _train_denoiser(args, out: Path, device, meta: dict) -> dict:
    from .cnn.training import DenoiserConfig, train_denoiser
    from .io import same_file

    kind = args.kind
    if args.start and same_file(args.start, out):
        raise ValueError(f"--out '{out}' would overwrite --start's checkpoint; choose another name.")
    if args.resume:
        raise ValueError(f"--kind {kind} cannot --resume; start it again with --force.")
    if kind == "inpainter" and args.start is None:
        raise ValueError("--kind inpainter needs --start, the gray denoiser it fine-tunes (e.g. "
                         "--start invprior/weights/denoiser.pt).")
    if kind == "inpainter" and args.channels == 3:
        raise ValueError("--kind inpainter fine-tunes a gray denoiser (no --channels 3); it fills "
                         "colour images channel by channel.")
    if not 0 <= args.keep_start < 1:
        raise ValueError(f"--keep-start must be in [0, 1), got {args.keep_start:g}.")
    if args.keep_start and args.start is None:
        raise ValueError("--keep-start mixes in --start's weights; give --start too.")
    if args.loss not in (None, "l1", "l2") or (kind == "inpainter" and args.loss is not None):
        raise ValueError("--loss of --kind denoiser is l1 or l2; the inpainter's is its own "
                         "(squared error inside the holes).")
    if args.data in ("digits", "faces"):
        raise ValueError(f"--kind {kind} trains on a folder of photographs (or, without "
                         "--data, on scikit-image's), not on digits or faces.")
    least = 24 if kind == "inpainter" else 16  # the inpainter's boxes are 12 to size/2 wide
    if args.size is not None and not least <= args.size <= 1024:
        raise ValueError(f"--size of --kind {kind} (its training patches' side) must be from "
                         f"{least} to 1024, got {args.size}.")
    if args.start and (args.widths is not None or args.blocks is not None):
        # (a value equal to the default had passed, and --start's network was used unsaid)
        raise ValueError("--widths and --blocks shape a new network; --start's network keeps its own.")
    widths = DenoiserConfig.widths if args.widths is None else _widths(args.widths)
    blocks = DenoiserConfig.blocks if args.blocks is None else args.blocks
    if not 1 <= blocks <= 16:
        raise ValueError(f"--blocks must be from 1 to 16, got {blocks}.")
    cfg = DenoiserConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                         max_seconds=args.max_seconds, data=args.data, start=args.start,
                         keep_start=args.keep_start, colour=args.channels == 3,
                         loss=args.loss,
                         widths=widths, blocks=blocks,
                         task="inpaint" if kind == "inpainter" else "denoise",
                         patch=args.size or (128 if kind == "inpainter" else DenoiserConfig.patch))
    return train_denoiser(cfg, out=out, device=device, progress=not args.quiet, meta=meta)


def _widths(text: str) -> tuple:
    """``"32,64,128"`` -> ``(32, 64, 128)``; one sentence (ValueError) for anything else."""
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        widths = ()
    if not 1 <= len(widths) <= 6 or min(widths) < 1 or max(widths) > MOST["width"]:
        raise ValueError(f"--widths takes 1 to 6 channel counts from 1 to {MOST['width']} "
                         f"separated by commas, got '{text}'.")
    return widths


# What each CNN kind's held-out PSNR measures (see invprior.cnn.training).
HELD_OUT_CASE = {"denoiser": "coffee sigma 25",
                 "inpainter": "coffee scribbles (inside the holes)"}


def main(argv=None) -> int:
    """Run the command; exit status 0, 2 for bad input, 130 when Ctrl-C, SIGTERM or SIGHUP
    ended it (what was learnt is written: a checkpoint, or the denoiser's weights so far)."""
    with stop_on_signals(), tifffile_quiet():
        return _main(argv)


def _main(argv) -> int:
    steady_streams()  # console.py: a closed stderr or a gone pipe had ended the training
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # allocator.py: the network's calls reuse their memory
    if argv is not None:
        sys.argv[1:] = list(argv)  # so the saved command is the one run
    main_rank = launched_main()
    start = time.perf_counter()
    try:
        ck = run(args)
    except ValueError as err:  # bad data, settings or checkpoint: one sentence, no traceback
        if main_rank:  # (an API message, "size must be ...", said with the flag: --size)
            print(f"error: {as_flags(str(err), build_parser(), aliases={'k': 'latent'})}",
                  file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as err:
        if not isinstance(err, MemoryError) and "allocate" not in str(err) \
                and "out of memory" not in str(err):
            raise
        if main_rank:
            print("error: out of memory; use a smaller --batch, --size or --width.",
                  file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the first step, or while the weights were written
        if main_rank:  # (under torchrun a Ctrl-C takes no checkpoint: a snapshot is collective)
            print("interrupted: under torchrun --out keeps its last periodic checkpoint "
                  "(--checkpoint-every), which --resume continues." if launched_size() > 1
                  else "interrupted before this run's weights were written.", file=sys.stderr)
        return 130
    except OSError as err:  # a folder on a path that we may not search (PermissionError)
        from .io import unreachable

        if main_rank:
            print(f"error: {unreachable(err)}", file=sys.stderr)
        return 2
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    if ck["meta"].get("interrupted"):
        if main_rank:  # the denoisers keep what they learnt; a GLO run can go on
            then = ("--resume continues it" if args.kind in _GLO
                    else "the weights so far, usable as they are")
            print(f"interrupted after {ck['step']} steps: wrote {args.out} ({then}).",
                  file=sys.stderr)
        return 130
    if main_rank and not args.quiet and args.kind in HELD_OUT_CASE:
        # (the time limit's end had read as the steps asked for)
        total = ck["config"].get("steps", ck["step"])
        steps = f"{ck['step']} of {total} steps (the time limit)" if ck["step"] < total \
            else f"{ck['step']} steps"
        print(f"{args.kind}: {steps} in {ck['seconds']:.0f} s, held-out "
              f"{HELD_OUT_CASE[args.kind]}: {ck['meta']['held_out_psnr']:.2f} dB; wrote {args.out}")
    elif main_rank and not args.quiet:
        c = ck["config"]
        loss = f", final loss {ck['losses'][-1]:.3e}" if len(ck["losses"]) else ""
        size = Path(args.out).stat().st_size / 2**20
        print(f"{args.kind} prior: latent {c['latent']}, {c['images']} images of "
              f"{'x'.join(map(str, c['shape']))}{loss}; wrote {args.out} ({size:.2f} MB) "
              f"in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    from invprior.distributed import leave

    leave(main())
