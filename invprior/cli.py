"""Command line: ``python -m invprior.solve --op OP IMAGE`` (run through ``invprior/solve.py``).

Restore a real observation (IMAGE is the degraded image ``y``), or, with ``--simulate``,
degrade a clean IMAGE with the operator and noise, restore it and report PSNR/SSIM.

Several files, folders or globs restore each image into ``-o FOLDER`` (``invprior.folders``:
resumable, same-size images together, shared out under ``torchrun``).

Examples:
    python -m invprior.solve --op inpaint assets/astronaut_holes.png
    python -m invprior.solve --op denoise photos/ -o restored/
    python -m invprior.solve --op sr --factor 4 --simulate assets/camera256.png --compare cmp.png
    python -m invprior.solve --op denoise --simulate --noise gaussian:0.1 assets/camera256.png
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import re
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from .allocator import keep_freed_memory
from .console import say

OPS = ("denoise", "inpaint", "deblur", "sr", "cs")
DEFAULT_NOISE = {"denoise": "gaussian:0.1", "deblur": "gaussian:0.01"}


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Show every option's default, unless its help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.required or action.default is argparse.SUPPRESS:
            return text
        if action.default is None or action.default is False:
            return text + " (default: off)"
        return text + " (default: %(default)s)"


class _Unsaid(str):
    """A default value, told apart from the same value given (``--device auto``): a prior of
    one's own that takes no device is refused one given, and not given the default."""


class _UnsaidSeed(int):
    """``--seed``'s default (0), told apart from ``--seed 0`` (``_Unsaid``)."""


def build_parser() -> argparse.ArgumentParser:
    from operators.blur import BORDERS

    from . import __version__

    p = argparse.ArgumentParser(
        prog="python -m invprior.solve",
        description="Recover an image from a degraded observation with a deep generative prior.",
        formatter_class=HelpWithDefaults,
    )
    p.add_argument("--version", action="version", version=f"invprior {__version__}")  # (refused)
    p.add_argument("image", nargs="+", help="the observation y (or the clean image with --simulate): PNG/JPEG/TIFF/BMP/WebP/GIF/.npy; several files, folders (searched recursively) or glob patterns restore each image to -o FOLDER, same-size images together")
    p.add_argument("--op", required=True, choices=OPS, help="forward operator")
    p.add_argument("--prior", default="auto", help="auto (the best measured per operator: denoiser for every op, except for a mask with holes 12+ pixels across, inpainter (dip for a soft mask with a hole 32+ pixels across on an image of up to 512x512); dip instead of denoiser when --lr, --loss, --stop, --init or --ensemble is given), denoiser (the shipped trained CNN denoiser, plug-and-play), inpainter (the shipped trained hole filler, for --op inpaint: no iterations, except that a hole 32+ pixels across gets its fill averaged with plug-and-play started from it), dip (deep image prior), decoder (deep decoder), sparse (patch dictionaries: K-SVD, plug-and-play K-SVD) or PATH.pt: a trained prior or denoiser from python -m invprior.train (default: auto)")
    p.add_argument("--simulate", action="store_true", help="IMAGE is the truth: degrade it, solve, report PSNR/SSIM")
    g = p.add_argument_group("operator parameters")
    g.add_argument("--mask", help="inpaint: mask image, white/opaque = observed (see --mask-white), thresholded at 0.5 (a soft mask goes through the Python API); IMAGE's transparent pixels are missing too (default: IMAGE's transparent pixels are missing; with --simulate a random mask)")
    g.add_argument("--mask-white", default="auto", choices=("auto", "observed", "holes"), help="inpaint: what the white of --mask marks: the observed pixels, or the holes to fill (as OpenCV, LaMa and scikit-image read a mask); auto: observed, unless white is under half the image and, taken as observed, would leave a hole a quarter of the image deep while the black would not (an object to remove, drawn in white), or, the white in strokes or specks (scratches, dust), one 8 times as deep with half the black 8 pixels or more from the white: then holes, said on stderr")
    g.add_argument("--keep-observed", default="auto", choices=("auto", "yes", "no"), help="make the result reproduce a noise-free observation: inpaint keeps the observed pixels and fills only the holes, sr ends with a back-projection (auto: yes unless IMAGE has noise, given by --noise-level > 0 or read off it)")
    g.add_argument("--missing", type=float, default=None, help="inpaint --simulate: fraction of missing pixels (default: 0.5)")
    g.add_argument("--mask-kind", default=None, choices=("random", "box", "boxes", "scribble", "text"), help="inpaint --simulate: mask drawn (default: random)")
    g.add_argument("--sigma", type=float, default=None, help="deblur: gaussian kernel sigma (default: 2.0)")
    g.add_argument("--kernel", help="deblur: kernel file (.npy or image), instead of --sigma; "
                   "any scale (it is normalised), negative values up to 5%% of its weight taken "
                   "as zero (default: none, gaussian --sigma)")
    g.add_argument("--border", default="auto", choices=("auto", *BORDERS), help="deblur: what the blur saw beyond the image's edges; valid: unknown, estimated with the image (a photo: circular put a ringing frame around it); circular: the image repeats (what --simulate makes); auto: valid, or circular with --simulate")
    g.add_argument("--factor", type=int, default=None, help="sr: downsampling factor (2, 3, 4, 8; the sparse prior's dictionaries: 2, 3, 4; default: 4)")
    g.add_argument("--ratio", type=float, default=None, help="cs: measurements / pixels (default: 0.25)")
    g.add_argument("--shape", help="cs without --simulate: image shape C,H,W of the measured image (default: none; with --prior PRIOR.pt of python -m invprior.train, its generator's)")
    g.add_argument("--noise", help="--simulate: noise added, not clipped to [0, 1], as the standard benchmarks add it, e.g. gaussian:0.05, poisson:30, saltpepper:0.1 (default: gaussian:0.1 for denoise, gaussian:0.01 for deblur, none for the others)")
    s = p.add_argument_group("solver")
    s.add_argument("--iters", type=int, default=None, help="iteration cap (default: dip/decoder 2000, 3000 for inpaint; plug-and-play: denoiser 16 for deblur, 32 for a noise-free one and every other op; sparse 32; none where the prior restores in one pass, refused: denoiser and sparse on denoise, sparse on sr, the inpainter; a trained prior .pt: its latent search, 300, followed by 500 steps of weight adaptation)")
    s.add_argument("--max-seconds", type=float, default=None, help="time limit in seconds, with the estimate so far kept: per image for dip/decoder (warm-started from the operator's estimate, as --init auto and warm do: a limit too short for half the fit returns that estimate at once, and says which limit would do; not for denoise, whose estimate is IMAGE itself, unless the limit ends the warm start before a tenth of it: then IMAGE comes back as it was, and says so), per group of same-size images restored together for plug-and-play (it stops before an iteration that would pass it, and fits the rest of its schedule to the iterations left; a noise-free IMAGE with time for under 4 gets its first; the inpainter's fill, seconds, is not counted, only its plug-and-play refinement); refused where the prior restores in one pass, as --iters is (default: no limit)")
    s.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: 0.01 for dip and decoder; a trained prior .pt: 0.05 for its latent search, its weight adaptation 1e-4)")
    s.add_argument("--loss", default="l2sq", choices=("l2sq", "l2", "l1", "huber"), help="data loss; l1/huber resist impulse noise")
    s.add_argument("--stop", default="auto", choices=("auto", "discrepancy", "wmv", "none"), help="early-stopping rule (needs no clean image)")
    s.add_argument("--noise-level", type=float, default=None, help="noise std in IMAGE if known, on the [0, 1] scale: 25/255 = 0.098; for cs, in the measurements (default: estimated from IMAGE; for a JPEG with the error its quantization adds, which the estimate cannot see; cs: taken as noise-free)")
    s.add_argument("--shot-noise", default=None, metavar="PEAK", help="denoise, deblur: IMAGE's noise is shot noise (photon counts: low light, fluorescence, X-ray), PEAK photons at white (at the file's top value: 255 for 8 bits, 65535 for 16), or auto to read it off IMAGE, or none; denoised through Anscombe's transform, deblurred as gaussian noise of its std where IMAGE is bright, which deblur reads by itself too (default: none, gaussian noise; auto with --op denoise --simulate --noise poisson:N)")
    s.add_argument("--ensemble", type=int, default=1, help="dip/decoder: return the mean of this many runs from seeds SEED, SEED+1, ... (what dip paints into a large hole depends on its seed; on a CPU N times the time, on CUDA one stack)")
    s.add_argument("--self-ensemble", type=int, default=1, help="denoise with the denoiser prior: the mean of the image denoised in N (1-8) of the square's rotations and flips, N times the time (Set12 at sigma 25: 30.52 dB at 1, 30.60 at 8)")
    s.add_argument("--init", default="auto", choices=("auto", "warm", "guide", "none"), help="start from a classical estimate")
    s.add_argument("--device", default=_Unsaid("auto"), help="auto, cpu or cuda")
    s.add_argument("--seed", type=int, default=_UnsaidSeed(0), help="seed for weights, masks, CS matrices and noise")
    o = p.add_argument_group("output")
    o.add_argument("-o", "--output", help="restored image: .png, .tif, .npy or .jpg (quality 95, colour at full resolution); 16-bit for a 16-bit IMAGE where the format holds it, or a folder (existing, or named with a final /) to hold it under IMAGE's name (default: IMAGE_OP_PRIOR.png next to IMAGE, .tif for a TIFF); for several images a folder, where existing outputs are skipped, so that a rerun resumes (default: OP_PRIOR/)")
    o.add_argument("--force", action="store_true", help="overwrite existing outputs")
    o.add_argument("--report", help="write settings, metrics, timings and the stop iteration as JSON (one image only; - for the standard output, the summary then on stderr; default: none)")
    o.add_argument("--compare", help="write observation | result (| truth) side by side, in the type its name gives (one image only; default: none)")
    o.add_argument("--observation", help="--simulate: write the degraded y that was restored (.npy keeps it as it was, noise unclipped, so that another method can restore the same y; an image clips it to [0, 1] and rounds it; inpaint: the holes transparent, not JPEG; one image only; default: none)")
    o.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    o.add_argument("--plot", help="write a PNG chart of the run: PSNR per iteration with --simulate, the data loss and the stopping rule's signal where the prior traces them (dip, decoder, a trained prior; plug-and-play traces none), and the returned iteration (one image only)")
    return p


# The largest --iters and --seed taken: a million steps is days of deep image prior on a
# CPU, and numpy's and torch's generators both take seeds up to 2**32 - 1 (a larger number
# overflowed deep inside, or a schedule of that many steps asked for terabytes)
MAX_ITERS = 1_000_000
MAX_SEED = 2**32 - 1
# The smallest image side restored: the noise estimate needs 8 pixels, the deep image
# prior's coarsest level more than 2, SSIM 3 (a 2x2 image reached each as a traceback)
MIN_SIDE = 8


class UsageError(ValueError):
    """A bad command line, reported as one sentence with exit code 2."""


# the names of the standard output: --report there is --report -
STANDARD_OUTPUT = ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


def _outputs(args) -> dict:
    """Output paths, checked before any work: never the input, never overwritten silently."""
    from .io import WRITABLE, check_writable, is_special, name_key, same_file

    if args.report in STANDARD_OUTPUT:  # as "-" (stdout sent to a file, a regular file
        args.report = "-"  # there: "already exists", and opened anew it had been cut)
    for flag in ("output", "report", "compare", "observation", "plot"):
        given = getattr(args, flag)
        name = "-o" if flag == "output" else f"--{flag}"
        if given == "":  # (an unset shell variable: --report "" had written no report, unsaid)
            raise UsageError(f"{name} is empty; name a file.")
        if flag != "output" and given and given != "-" and given.endswith(("/", os.sep)):
            # (--report out/ had written a file named out)
            raise UsageError(f"{name} '{given}' names a folder; name a file in it.")
    src = Path(args.image)
    # a TIFF's result is a TIFF: it keeps 16-bit colour (a PNG holds 16 bits for gray only)
    suffix = src.suffix.lower() if src.suffix.lower() in (".tif", ".tiff") else ".png"
    if args.output and (args.output.endswith(("/", os.sep)) or Path(args.output).is_dir()):
        # -o photos/ (a folder, as cp takes it): the image goes in it under its own name, as
        # a folder's images do (Path() dropped the slash: a file without a suffix, refused)
        from .folders import output_name

        args.output = str(Path(args.output) / output_name(Path(src.name)))
    paths = {"output": Path(args.output) if args.output else src.with_name(f"{src.stem}_{args.op}_{Path(args.prior).stem}{suffix}")}
    if args.report and args.report != "-":  # ("-", the standard output, had written a file "-")
        paths["report"] = Path(args.report)
    if args.compare:
        paths["compare"] = Path(args.compare)
    if args.observation:
        if not args.simulate:
            raise UsageError("--observation writes a simulation's y; without --simulate IMAGE is y.")
        paths["observation"] = Path(args.observation)
        if args.op == "cs" and paths["observation"].suffix.lower() != ".npy":
            raise UsageError("compressed-sensing measurements are no image; write them as .npy.")
        if args.op == "inpaint" and paths["observation"].suffix.lower() in (".jpg", ".jpeg"):
            raise UsageError("an inpainting observation keeps its holes as transparent pixels, "
                             "which a JPEG cannot hold; write it as .png, .tif or .npy.")
    if args.plot:
        paths["plot"] = Path(args.plot)
        if paths["plot"].suffix.lower() != ".png":
            raise UsageError(f"cannot write the plot '{args.plot}': use a .png name.")
    inputs = [src] + [Path(f) for f in (args.mask, args.kernel) if f]
    for key, path in paths.items():
        if any(same_file(path, f) for f in inputs):
            raise UsageError(f"the {key} '{path}' would overwrite an input; choose another name.")
        if path.is_dir():
            raise UsageError(f"the {key} '{path}' is a folder; name a file.")
        # (/dev/null: written into; a dangling link is there too: found only at the end)
        if os.path.lexists(path) and not args.force and not is_special(path):
            raise UsageError(f"'{path}' already exists; choose another name or pass --force.")
        if key != "report" and path.suffix.lower() not in WRITABLE:
            flag = "-o" if key == "output" else f"--{key}"
            raise UsageError(f"cannot write {flag} '{path}' as an image: use one of "
                             f"{', '.join(WRITABLE)}.")
    # (names apart only by case: one file on macOS and Windows, where --compare OUT.png had
    # replaced -o out.png)
    if len({name_key(p.resolve()) for p in paths.values()}) < len(paths):
        raise UsageError("the output, report, compare, observation and plot files must be "
                         "different files.")
    for path in paths.values():
        check_writable(path.parent)
    return paths


def _kernel(args, notes: bool = True):
    import operators as O

    from .io import stacked_images

    # a photo's blur saw the scene beyond its frame; a simulated one wraps around
    border = args.border if args.border != "auto" else ("circular" if args.simulate else "valid")
    if args.kernel:
        _refuse_planes_first(args.kernel)
        read = _read_given("--kernel", args.kernel, unit_scale=False)  # any scale: normalised
        k = read.image[0]
        stack = stacked_images(args.kernel)  # (a 3-D PSF's first plane, its most defocused)
        # (equal colour planes are one: a gray PSF with an alpha had been said as 4 planes)
        planes = (1 if _one_plane(k, None) else k.shape[0]) + (read.alpha is not None)
        if not stack and planes > 1 and not _one_plane(k, read.alpha):
            # (a .npy of three PSFs, or of two planes read as gray and alpha, had been
            # averaged into one kernel without a word)
            stack = f"{planes} different planes"
        if stack:
            raise UsageError(f"--kernel '{args.kernel}' holds {stack}; a blur kernel is one "
                             f"2-D image: save the plane to use on its own.")
        if k.shape[0] != 1:
            k = k.mean(0, keepdim=True)
        k = nonnegative_kernel(k[0], args.kernel)
        if _drawn_dark(k):  # (its light ground had been the kernel: 7.81 dB for 27.94)
            if notes:
                say(f"note: --kernel '{args.kernel}' is drawn dark on a light ground (its "
                    f"corners at its peak), so its dark is taken as the kernel; save it light "
                    f"on black to be read as it is.")
            k = k.max() - k
        # a PSF file padded to its image's size: its support (refused as larger than y)
        k = O.blur.without_zero_margins(k)
        # (not for a simulation, which the same kernel blurs and restores; once per file
        # size, not again for the check made before a folder's files)
        for note in kernel_notes(k, args.kernel) if notes and not args.simulate else ():
            say(note)
        return O.Blur(kernel=k, border=border)
    return O.Blur(sigma=args.sigma, border=border)


def _refuse_planes_first(path) -> None:
    """``UsageError`` for a ``.npy`` kernel of planes first, ``(P, H, W)`` with ``W`` more
    than 4 (a 3-D PSF as NumPy stacks it), said as the planes it holds: read as ``(H, W,
    C)``, it had been refused as "expected an (H, W) or (H, W, C) image with C <= 4"."""
    import numpy as np

    if Path(path).suffix.lower() != ".npy":
        return
    try:
        shape = np.load(path, mmap_mode="r").shape
    except (OSError, ValueError):  # (read_image says why)
        return
    if len(shape) == 3 and shape[-1] > 4 and shape[0] > 1:
        raise UsageError(f"--kernel '{path}' holds {shape[0]} planes of {shape[2]}x{shape[1]} "
                         f"(its first axis); a blur kernel is one 2-D image: save the plane to "
                         f"use on its own.")


def _drawn_dark(k: torch.Tensor) -> bool:
    """Whether a kernel ``(H, W)`` read from a file is drawn dark on a light ground: every
    corner at 90 % of its peak or more and some pixel at half of it or less. A blur's
    kernel peaks inside and fades to its rim; a black-on-white drawing, as a kernel is
    drawn on paper or shown in papers' figures, had been restored as its ground.

    Example:
        >>> k = torch.ones(7, 7); k[3, 1:6] = 0.0  # a dark line on white
        >>> _drawn_dark(k), _drawn_dark(1 - k)
        (True, False)
    """
    top = float(k.max())
    corners = k[[0, 0, -1, -1], [0, -1, 0, -1]]
    return top > 0 and bool((corners >= 0.9 * top).all()) and float(k.min()) <= 0.5 * top


def kernel_notes(k: torch.Tensor, path) -> list[str]:
    """Notes on a blur kernel ``k`` ``(H, W)`` from a file that look like a measured PSF's
    slips, each restored without a word: a flat background under it (its corners as bright
    as its edges' middles, from 1 to 50 % of its peak: a bead image not
    background-subtracted blurs with its background too; a 31x31 PSF on a floor of 100
    ADU: 21.75 dB against 30.04), and its centre of mass off the pixel the blur centres
    (``(H // 2, W // 2)``; the restoration comes back shifted by the difference: a bead 3
    px off, shifted 2.9 px).

    Example:
        >>> k = torch.zeros(9, 9); k[2, 6] = 1.0
        >>> [note[:44] for note in kernel_notes(k, "psf.npy")]
        ["note: --kernel 'psf.npy' is centred on row 2"]
    """
    notes, (h, w), top = [], k.shape, float(k.max())
    if min(h, w) >= 5 and top > 0:
        corners = float(k[[0, 0, -1, -1], [0, -1, 0, -1]].mean())
        middles = float(k[[0, -1, h // 2, h // 2], [w // 2, w // 2, 0, -1]].mean())
        if 0.01 * top < corners < 0.5 * top and abs(corners - middles) <= 0.2 * middles:
            notes.append(f"note: --kernel '{path}' lies on a flat background ({100 * corners / top:.0f} % "
                         f"of its peak at its corners), which blurs the image as the PSF "
                         f"does; subtract the background first.")
    rows, cols = torch.arange(h, dtype=k.dtype), torch.arange(w, dtype=k.dtype)
    mass = float(k.sum())
    if mass > 0:
        cy, cx = float((k.sum(1) * rows).sum()) / mass, float((k.sum(0) * cols).sum()) / mass
        if max(abs(cy - h // 2), abs(cx - w // 2)) > 0.75:
            notes.append(f"note: --kernel '{path}' is centred on row {cy:.1f}, column {cx:.1f} "
                         f"(its centre of mass), and the blur's centre is its pixel "
                         f"({h // 2}, {w // 2}): the result comes back shifted by the "
                         f"difference; centre the kernel there.")
    return notes


def _one_plane(k: torch.Tensor, alpha) -> bool:
    """Whether a kernel read as channels ``(C, H, W)`` (and an alpha) is one plane: its
    channels equal to within 1% of its peak (a gray PSF saved as RGB), no alpha but opaque."""
    top = float(k.abs().max()) or 1.0
    opaque = alpha is None or bool((alpha == 1).all())
    return opaque and float((k.amax(0) - k.amin(0)).max()) <= 0.01 * top


def _read_given(flag: str, path, **options):
    """``read_image`` of the file a flag names, its errors saying which flag gave it ("cannot
    read 'y.npy': ..." had not said it was the --kernel).

    Example:
        >>> _read_given("--kernel", "nothing.npy")
        Traceback (most recent call last):
        ...
        invprior.io.ImageError: cannot read --kernel 'nothing.npy': no such file.
    """
    from .io import ImageError, read_image

    try:
        return read_image(path, **options)
    except ImageError as err:
        raise ImageError(str(err).replace(f"cannot read '{path}'", f"cannot read {flag} '{path}'", 1)) from None


# A kernel estimated from a photo (blind deconvolution) may dip a little below zero; beyond
# this share of its weight it is no blur (a sharpening or derivative filter, say).
KERNEL_NEGATIVE = 0.05


def nonnegative_kernel(k: torch.Tensor, path) -> torch.Tensor:
    """The blur kernel read from ``path`` with its small negative values set to zero; one
    sentence (UsageError) when they weigh more than ``KERNEL_NEGATIVE`` of its positive ones.

    Example:
        >>> nonnegative_kernel(torch.tensor([[-0.01, 1.0, 0.5]]), "k.npy")
        tensor([[0.0000, 1.0000, 0.5000]])
    """
    positive, negative = float(k.clamp(min=0).sum()), float(-k.clamp(max=0).sum())
    if negative > KERNEL_NEGATIVE * positive:
        share = f"{negative / positive:.0%} of its positive weight" if positive else "all of it"
        raise UsageError(f"--kernel '{path}' holds negative values ({share}); a blur kernel "
                         f"(the point spread function) is nonnegative.")
    if positive == 0:  # (Blur said "the blur kernel sums to zero", not which file)
        raise UsageError(f"--kernel '{path}' is all zeros; a blur kernel (the point spread "
                         f"function) has positive weights.")
    return k.clamp(min=0)


def in_frame(args, op, x):
    """The restored image at the input file's size: a photo deblurred with valid borders is
    estimated with a margin beyond its frame (``Blur.crop``); a simulation's truth is whole."""
    import operators as O

    return op.crop(x) if isinstance(op, O.Blur) and not args.simulate else x


def _mask(args, image, alpha):
    """The inpainting operator: --mask file (and IMAGE's transparent pixels, unknown as
    well), else IMAGE's alpha, else (simulate) a drawn mask."""
    import operators as O

    if args.simulate and alpha is not None and alpha.min() < 0.5:
        # the mask came from the alpha, --missing was dropped without a word, and the
        # PSNR was measured against the unknown colours under it (13.9 dB on a good fill)
        raise UsageError("IMAGE has transparent pixels, whose colours are unknown, and "
                         "--simulate needs the whole image as its truth; flatten it, or drop "
                         "--simulate to fill them.")
    if args.mask:
        loaded = _read_given("--mask", args.mask)
        m = loaded.alpha if loaded.alpha is not None and loaded.alpha.min() < 1 else loaded.image.mean(1, keepdim=True)
        if m.shape[-2:] != image.shape[-2:]:
            raise UsageError(
                f"the mask '{args.mask}' is {m.shape[-1]}x{m.shape[-2]} but the image is "
                f"{image.shape[-1]}x{image.shape[-2]} (width x height); they must be the same size."
            )
        top = float(m.max())  # (0 and 1 saved as 8-bit levels, or 0 and 255 as 16-bit: black)
        faint = 0 < top <= 1.5 / 255
        m = (m >= 0.5).float()
        if args.mask_white == "auto":  # decided once: each image of a folder reads it alike
            args.mask_white = _white_marks(m, image)
        observed = m if args.mask_white == "observed" else 1 - m
        if observed.max() < 0.5:
            colour = "white" if args.mask_white == "observed" else "black"
            # (a 16-bit 0/255 mask had been told it held "0 and 1 of 255")
            hint = (f" (its brightest value is {100 * top:.2g} % of white, as 1 of 255 or 255 "
                    f"of 65535 is: save its white at the top value, or as floats 0 and 1)"
                    if faint else "")
            raise UsageError(f"the mask hides every pixel: none is {colour}, the colour that marks "
                             f"the observed pixels here, so nothing is observed to restore "
                             f"from{hint}.")
        if alpha is not None and alpha.min() < 0.5:  # IMAGE's transparent pixels are unknown too
            observed = observed * (alpha >= 0.5).float()
        return O.Inpainting(observed)
    if alpha is not None and alpha.min() < 0.5:
        if alpha.max() < 0.5:
            raise UsageError("IMAGE is transparent everywhere, so nothing is observed to "
                             "restore from; its opaque pixels are the observed ones.")
        return O.Inpainting.from_alpha(alpha)
    if args.simulate:
        return O.Inpainting(shape=tuple(image.shape[1:]), kind=args.mask_kind, missing=args.missing, seed=args.seed)
    raise UsageError("inpainting needs a mask: pass --mask FILE or make the missing pixels transparent in IMAGE.")


def _white_marks(m, image=None) -> str:
    """What the white of a binary mask ``(1, 1, H, W)`` marks: "holes" where, read as the
    observed pixels, it would be a minority that leaves a hole a quarter of the image deep
    and the black read so would not (an object to remove drawn in white, the way OpenCV,
    LaMa and scikit-image read a mask: restored as drawn, the whole image would be guessed
    from the object), or one ``SPREAD_RATIO`` times as deep as the black would, half the
    black ``SPREAD_TYPICAL`` pixels or more from the white, and the white in strokes or
    specks rather than single pixels (dust and scratches drawn in white over a scan: 60 px
    deep against 3, half of it 10 px from the white; restored as drawn at 17.13 dB against
    43.92, the photo painted over); else "observed" (pixels observed at random, in rows or
    in a grid: holes a few pixels deep, or half of them within 5 px of the white). Before
    all that, "holes" where ``image (1, C, H, W)`` is black on every white pixel and not on
    most black ones (``Inpainting.zero_where_observed``): the holes were blacked out in the
    image too (dust specks over 30 % of a photo: 4.28 dB read as drawn, 26.98 flipped). A
    flip is said on stderr, with the flag that undoes it.

    Example:
        >>> from operators.mask import box_mask
        >>> blob = 1 - box_mask((64, 64), (20, 20, 12, 12))  # a white box on black
        >>> _white_marks(blob), _white_marks(1 - blob)
        ('holes', 'observed')
    """
    import operators as O

    if image is not None and O.Inpainting(m).zero_where_observed(image):
        print("note: IMAGE is black on every white pixel of the mask and not on most of the "
              "others, so the white is taken as the holes to fill (--mask-white observed "
              "reads it the other way).", file=sys.stderr)
        return "holes"
    share = float(m.mean())
    if share >= 0.5 or share == 0:
        return "observed"
    deep, other = O.Inpainting(m).hole_radius(), O.Inpainting(1 - m).hole_radius()
    wide = deep >= min(m.shape[-2:]) / 4 and other < deep
    spread = (deep >= SPREAD_RATIO * other and _in_strokes(m)
              and _typical_depth(m) >= SPREAD_TYPICAL)
    if not (wide or spread):
        if _in_strokes(m) and _typical_depth(m) >= STROKES_APART:
            # most of the image to fill from a white minority in strokes: said, with the flag
            # that flips it (white text or scratches read so had given a white sheet, unsaid;
            # pixels observed at random lie closer together)
            print(f"note: the mask's white covers {100 * share:.0f} % of the image, taken as the "
                  f"observed pixels: the other {100 * (1 - share):.0f} % is filled "
                  f"(--mask-white holes reads the white as the holes).", file=sys.stderr)
        return "observed"
    print(f"note: the mask's white covers {100 * share:.0f} % of the image, and taken as the "
          f"observed pixels it would leave a hole {deep:.0f} pixels deep: its white is taken as "
          "the holes to fill (--mask-white observed reads it the other way).", file=sys.stderr)
    return "holes"


# a white minority in strokes read as holes where, read as observed, its holes reach this
# many times as deep as its own and half their pixels lie this far from it (see
# _white_marks): dust and scratches drawn over 256x256 photos 10-21 px; white observed in
# lines every 32 px, in random rows (10 %) or random 2x2 blocks (3 %): 3-5 px
SPREAD_RATIO, SPREAD_TYPICAL = 8, 8
# white strokes read as observed are said from this median depth of the black (pixels) up:
# text over a photo 5, pixels observed at random (30 % to 10 %) 1 to 2
STROKES_APART = 3


def _typical_depth(m) -> float:
    """The median distance (pixels) of the black pixels of a binary mask ``(1, 1, H, W)``
    to the nearest white one."""
    import numpy as np
    from scipy.ndimage import distance_transform_edt

    black = (m[0, 0] < 0.5).cpu().numpy()
    return float(np.median(distance_transform_edt(black)[black])) if black.any() else 0.0


def _in_strokes(m) -> bool:
    """Whether most white pixels of a binary mask ``(1, 1, H, W)`` touch another (strokes,
    specks), unlike pixels observed at random (at 1 % of them, about 8 % do).

    Example:
        >>> import torch
        >>> line = torch.zeros(1, 1, 16, 16); line[..., 8, 2:14] = 1
        >>> dots = torch.zeros(1, 1, 16, 16); dots[..., ::4, ::4] = 1
        >>> _in_strokes(line), _in_strokes(dots)
        (True, False)
    """
    import torch.nn.functional as F

    white = (m > 0.5).float()
    neighbours = F.conv2d(white, torch.ones(1, 1, 3, 3, dtype=white.dtype), padding=1) - white
    return bool(((neighbours > 0) & (white > 0)).sum() > 0.5 * white.sum())


# Each operator flag, the --op that reads it, and its default (None: none), filled in by
# fill_op_defaults: argparse leaves them None, so that a typed one is told from the default.
# Given with another --op they were ignored without a word (a --mask with --op denoise
# restored the whole image, --factor with denoise did nothing)
OP_FLAGS = {"mask": ("inpaint", None), "kernel": ("deblur", None), "shape": ("cs", None),
            "sigma": ("deblur", 2.0), "factor": ("sr", 4), "ratio": ("cs", 0.25),
            "missing": ("inpaint", 0.5), "mask_kind": ("inpaint", "random")}


def flag_name(dest: str) -> str:
    """The command-line spelling of an argparse ``dest``: ``mask_kind`` -> ``--mask-kind``."""
    return "--" + dest.replace("_", "-")


def fill_op_defaults(args) -> None:
    """Refuse an operator flag typed where it is not used (``--factor`` with ``--op
    denoise``, ``--sigma`` beside ``--kernel``, ``--missing`` beside ``--mask``), which was
    ignored without a word; then give the --op's own flags their defaults."""
    typed = {flag for flag in OP_FLAGS if getattr(args, flag) is not None}
    for flag in sorted(typed):
        op = OP_FLAGS[flag][0]
        if args.op != op:
            raise UsageError(f"{flag_name(flag)} is for --op {op}, not --op {args.op}.")
    if "sigma" in typed and args.kernel:
        raise UsageError("--sigma and --kernel both give the blur; pass one of them.")
    drawn = sorted(flag_name(f) for f in typed & {"missing", "mask_kind"})
    if drawn and (args.mask or not args.simulate):
        raise UsageError(f"{' and '.join(drawn)} {'draws' if len(drawn) == 1 else 'draw'} the "
                         "mask of a simulation: use with --simulate and without --mask.")
    if "missing" in typed and args.mask_kind not in (None, "random"):
        raise UsageError(f"--missing is the share of a random mask; --mask-kind "
                         f"{args.mask_kind} draws its own holes.")
    for flag, (op, default) in OP_FLAGS.items():
        if args.op == op and flag not in typed:
            setattr(args, flag, default)
    if args.simulate and args.noise is None:  # said in --report's settings as it is used
        args.noise = DEFAULT_NOISE.get(args.op)


def _check_flags(args) -> None:
    """The flags that do not depend on the image: --mask-white, --border, --noise, --ratio
    (each --op's own: ``fill_op_defaults``)."""
    if args.mask_white != "auto" and args.op != "inpaint":
        raise UsageError(f"--mask-white is for --op inpaint, not --op {args.op}.")
    if args.mask_white != "auto" and not args.mask:
        raise UsageError("--mask-white says how to read --mask; give --mask FILE too.")
    if args.border != "auto" and args.op != "deblur":
        raise UsageError(f"--border is for --op deblur, not --op {args.op}.")
    if args.noise and not args.simulate:
        raise UsageError("--noise adds noise to a simulated observation; use it with --simulate.")
    shot_noise(args)  # (its own checks)
    if args.shape and args.simulate:  # (it was ignored without a word)
        raise UsageError("--shape gives the size of a measured image; --simulate takes IMAGE's.")
    if args.op == "cs" and not 0 < args.ratio <= 1:
        raise UsageError(f"--ratio must be in (0, 1], got {args.ratio}.")
    # (both were ignored without a word: the output was the same to the byte)
    if args.keep_observed != "auto" and args.op not in ("inpaint", "sr"):
        raise UsageError(f"--keep-observed is for --op inpaint (its observed pixels) and sr (its "
                         f"low-resolution image); --op {args.op} has nothing it keeps.")


def check_command(args, options: dict) -> None:
    """What holds for every file, checked once before a folder's files: the flags, the
    kernel and mask files, --factor, --ratio, --shape, and the prior's settings
    (``options``). A mistake there is one sentence and exit 2, not the same failure
    reported for each file."""
    _check_flags(args)
    # the operator, where it is the same for every image (None: it depends on each)
    op = _kernel(args, notes=False) if args.op == "deblur" else _fileless_operator(args)
    if args.op == "cs" and not args.simulate:
        _measured_shape(args)
    if args.mask:
        _read_given("--mask", args.mask)
    _check_prior(args.prior, op, options)


def _check_prior(prior: str, op, options: dict) -> None:
    """The prior ``prior`` built with ``options`` (a bad --lr, --self-ensemble), and asked
    about ``op`` where it is known (None: it depends on each image), before any file:
    ``--iters`` where the prior restores in one pass, ``--prior inpainter`` for deblur."""
    from .priors import make_prior

    made = make_prior(prior, **options)
    reason = made.check(op) if op is not None else None
    if reason:
        raise UsageError(reason)


def _fileless_operator(args):
    """The operator of ``--op denoise`` or ``sr``, the same for every image and read from
    no file; None for the others."""
    import operators as O

    if args.op == "denoise":
        return O.Denoising()
    return O.Downsampling(args.factor) if args.op == "sr" else None


def refused_flags(args, prior: str) -> set[str]:
    """The settings of the prior named ``prior`` that this command refuses with its --op
    (left out of the flags ``as_flags`` says it takes): --iters and --max-seconds where it
    restores in one pass, --keep-observed but for inpaint and sr, --self-ensemble but for denoise."""
    from .priors.base import one_pass

    refused = {"keep_observed"} if args.op not in ("inpaint", "sr") else set()
    refused |= {"self_ensemble"} if args.op != "denoise" else set()
    try:
        op = _fileless_operator(args)
    except ValueError:  # (a bad --factor: said on its own)
        op = None
    return refused | ({"iters", "max_seconds"} if op is not None and one_pass(prior, op) else set())


def build_operator(args, image, alpha):
    """The forward operator for ``args.op`` and the image size."""
    import operators as O

    _check_flags(args)

    if args.op == "denoise":
        return O.Denoising()
    if args.op == "inpaint":
        return _mask(args, image, alpha)
    if args.op == "deblur":
        return _kernel(args)
    if args.op == "sr":
        return O.Downsampling(args.factor)
    shape = tuple(image.shape[1:]) if args.simulate else _measured_shape(args)
    m = max(1, round(args.ratio * math.prod(shape)))
    return O.CompressedSensing(m, shape, seed=args.seed)


def _measured_shape(args) -> tuple:
    """The measured image's shape of a real compressed sensing: --shape, or a trained prior
    file's generator's."""
    return _parse_shape(args.shape or _generator_shape(args.prior))


@functools.lru_cache(maxsize=4)  # (asked again for each file of a folder)
def _generator_shape(prior: str) -> str | None:
    """A trained prior file's image shape as ``--shape`` writes it ("1,32,32"): what its
    generator makes is what was measured (``--shape`` had been asked for all the same);
    None for any other prior."""
    from .priors import TRAINED_FORMAT, checkpoint_format

    if not _prior_file(prior) or checkpoint_format(prior) != TRAINED_FORMAT:
        return None
    from .glo import load_prior

    return ",".join(map(str, load_prior(prior).shape))


def _parse_shape(text):
    if not text:
        raise UsageError("cs without --simulate needs --shape C,H,W of the measured image.")
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--shape must be three positive integers C,H,W, got '{text}'.")
    if shape[0] not in (1, 3):  # an image file holds gray or RGB; 2 or 4 would be read as alpha
        raise UsageError(f"--shape C must be 1 (gray) or 3 (RGB), got {shape[0]}.")
    from .io import MAX_PIXELS

    if shape[1] * shape[2] > MAX_PIXELS:
        raise UsageError(f"--shape {text} is larger than {MAX_PIXELS // 10**6} megapixels.")
    _check_side(shape)
    return shape


def _prior_file(prior: str) -> bool:
    """Whether ``--prior`` names a checkpoint file (not a built-in prior)."""
    from .priors import PRIORS

    return prior not in PRIORS and prior != "auto"


def _check_side(shape, scale: int = 1) -> None:
    """``UsageError`` where an image of ``shape`` restores to less than ``MIN_SIDE`` pixels
    on a side; ``scale``: the restored image's size over the input's (super-resolution of
    a real y: a 7x32 y at x2 had been refused as under 8x8, restored 14x64)."""
    h, w = shape[-2:]
    if min(h, w) * scale < MIN_SIDE:
        restored = f", {w * scale}x{h * scale} restored" if scale > 1 else ""
        raise UsageError(f"the image is {w}x{h} pixels (width x height){restored}; the "
                         f"smallest restored is {MIN_SIDE}x{MIN_SIDE}.")


def _observation(args, image, alpha, op):
    """(y, truth): y from IMAGE, or simulated from it."""
    import operators as O

    if args.simulate:
        if alpha is not None and alpha.min() < 0.5 and args.op != "inpaint":
            raise UsageError("IMAGE has transparent pixels; flatten it or use --op inpaint.")
        from .io import FLOAT_TOP

        noise = O.make_noise(args.noise, seed=args.seed)
        with torch.no_grad():
            y = op(image)
            y = noise(y) if noise else y
        if isinstance(noise, O.PoissonNoise) and float(y.max()) <= 0 < float(image.max()):
            # (0.001 had landed no photon: an all-black y, restored "stretched 1.63e+06x")
            raise UsageError(f"Poisson noise of peak {noise.peak:g} (photons at white) lands no "
                             f"photon on IMAGE; simulate a higher peak.")
        if isinstance(noise, O.PoissonNoise) and float(y.max()) > FLOAT_TOP:
            # (refused further on as an image on the 0-255 scale: "divide by 255")
            raise UsageError(f"Poisson noise of peak {noise.peak:g} (photons at white) gives a y "
                             f"reaching {float(y.max()):g}, off the [0, 1] scale of images; "
                             f"simulate a peak of 1 or more.")
        return y, image
    if args.op == "cs":
        y = image
        if y.shape[1] != op.m:
            raise UsageError(f"IMAGE holds {y.shape[1]} measurements; --ratio and --shape give {op.m}.")
        return y, None
    if alpha is not None and alpha.min() < 0.5 and args.op != "inpaint":
        raise UsageError("IMAGE has transparent pixels; flatten it or use --op inpaint to fill them.")
    return image, None


def _display(op, y, shape):
    """The observation drawn at the size of the result (for --compare)."""
    import operators as O

    if y.ndim != 4:  # measurements, not an image: show A^T y
        return op.adjoint(y).clamp(0, 1)
    if isinstance(op, O.Blur) and y.shape[-2:] != shape[-2:]:
        # valid borders, a simulation's whole truth: y lacks the margins; edge pixels go
        # there (a photo's result is cropped to y's frame: y as it is)
        y = op.widen(y)
    if y.shape[-2:] != shape[-2:]:
        return torch.nn.functional.interpolate(y, size=shape[-2:], mode="nearest")
    return y.clamp(0, 1)


def _with_holes(op, y):
    """A simulation's y as --observation writes it: an inpainting y with its holes as
    transparent pixels, so that ``--op inpaint`` on the file restores the same y (written
    without them, a hole was a black pixel and the file "needed a mask")."""
    import operators as O

    if not isinstance(op, O.Inpainting):
        return y
    return torch.cat([y, op.mask[:1, :1].expand(1, 1, *y.shape[-2:]).to(y)], 1)


def _options(args) -> dict:
    """The prior settings given on the command line (unset flags are left to the prior)."""
    level = args.noise_level
    # papers state noise levels on the 0-255 scale; "--noise-level 25" taken as a std of 25
    # on our [0, 1] scale would flatten the image without a word
    if level is not None and not 0 <= level <= 1:
        from operators.noise import scale_hint

        raise UsageError(f"--noise-level is the noise std on the image's [0, 1] scale, from 0 "
                         f"to 1, got {level:g}{scale_hint(level)}.")
    if args.iters is not None and not 1 <= args.iters <= MAX_ITERS:
        raise UsageError(f"--iters must be from 1 to {MAX_ITERS}, got {args.iters}.")
    if not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be from 0 to {MAX_SEED}, got {args.seed}.")
    options = {"iters": args.iters, "lr": args.lr, "loss": args.loss, "stop": args.stop,
               "init": args.init, "max_seconds": args.max_seconds, "ensemble": args.ensemble,
               "self_ensemble": args.self_ensemble,
               "keep_observed": {"auto": None, "yes": True, "no": False}[args.keep_observed]}
    defaults = {"loss": "l2sq", "stop": "auto", "init": "auto", "ensemble": 1,
                "self_ensemble": 1}
    given = {k: v for k, v in options.items() if v is not None and v != defaults.get(k)}
    common = {"device": args.device, "seed": args.seed}
    from .priors import PRIORS, options_of

    if isinstance(args.prior, str) and args.prior in PRIORS:  # (a registered prior of one's own
        # may take neither: left out where not given, as the other flags are)
        takes = options_of(args.prior)
        common = {k: v for k, v in common.items()
                  if k in takes or not isinstance(v, (_Unsaid, _UnsaidSeed))}
    return {**given, **common}


def _read(args, path, ops: dict):
    """``(y, op, truth, channels)`` for one input file; ``ops`` caches the operator of the
    last image size read, for the next file of that size (an inpainting mask read from the
    file's own alpha is the file's alone). An RGB
    file whose three channels are the same is read as the gray image it is (``y`` has one
    channel): ``channels`` is the count to write back (``as_read``)."""
    from .colour import gray_channel, same_channels
    from .io import read_image, read_measurements, reading_notes

    channels = None
    if args.op == "cs" and not args.simulate:  # the file holds the measurement vector
        _measured_shape(args)
        image, alpha = read_measurements(path), None
    else:
        image, alpha = read_image(path)
        real_sr = args.op == "sr" and not args.simulate and (args.factor or 0) > 1
        _check_side(image.shape, args.factor if real_sr else 1)
        for note in reading_notes(path):  # (other frames, low bits: missed unsaid)
            say(f"note: {note}")
        if alpha is not None and 0.5 <= float(alpha.min()) < 1:
            # (partly transparent, nowhere below half: restored as opaque, the alpha dropped)
            say(f"note: '{path}' is partly transparent; the output holds the colour alone (no "
                "alpha channel).")
        channels = image.shape[1]
        # a black-and-white photo saved in colour, restored as gray; not for a prior file of
        # one's own, which solve() serves as its channels say (a colour-trained one had
        # refused the photo: "an image of 1 channel(s) needs a gray one")
        # --simulate with a gray prior file: its gray plane too, as a real photo is served
        # (the noise added to each channel had made it a colour y, refused)
        gray_prior = args.simulate and (_generator_shape(args.prior) or "").startswith("1,")
        if same_channels(image) and (not _prior_file(args.prior) or gray_prior):
            image = gray_channel(image)
    own = alpha is not None and alpha.min() < 0.5
    op = None if own else ops.get(tuple(image.shape))
    if op is None:
        op = build_operator(args, image, alpha)
        if not own:
            # the last size's alone: files batch only with their neighbours, and one per size
            # held a compressed-sensing matrix (up to 64 MiB) for every size of a folder
            ops.clear()
            ops[tuple(image.shape)] = op
    y, truth = _observation(args, image, alpha, op)
    _check_kernel_fits(args, y, op)
    return y, op, truth, channels


def _check_kernel_fits(args, y, op) -> None:
    """``UsageError`` naming the flag that gave the blur where a photo's valid-border
    blur kernel is larger than it (the API's "y (32x32) is smaller than the 41x41 blur
    kernel" had named neither, nor what to do)."""
    from .operator_checks import kernel_outgrows

    if not args.simulate and kernel_outgrows(op, y):
        (kh, kw), (h, w) = op.kernel.shape, y.shape[-2:]
        given = (f"--kernel '{args.kernel}' (cut to its support)" if args.kernel
                 else f"--sigma {args.sigma:g}")
        fix = "crop the kernel" if args.kernel else "give a smaller --sigma"
        raise UsageError(f"the image ({w}x{h}) is smaller than the {kw}x{kh} blur kernel of "
                         f"{given}: most of what it blurred lies outside its frame; {fix}, or "
                         f"restore a larger image.")


def as_read(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    """The restored image ``(B, C, H, W)`` with the input file's channel count (a gray
    result of a black-and-white RGB file goes back to three equal channels)."""
    return x.expand(-1, channels, -1, -1) if channels and x.shape[1] == 1 else x


def shot_noise(args):
    """``solve``'s ``noise``: ``--shot-noise`` (``"poisson"`` for auto, else
    ``O.PoissonNoise(PEAK)``), ``"poisson"`` for a denoising simulated with Poisson noise
    and no --noise-level, else None (gaussian); ``UsageError`` for a bad PEAK or another
    --op."""
    import operators as O

    simulated = (args.shot_noise is None and args.simulate and args.op == "denoise"
                 and args.noise_level is None  # (a gaussian level told: taken as told)
                 and isinstance(O.make_noise(args.noise), O.PoissonNoise))
    if args.shot_noise is None:
        return "poisson" if simulated else None
    if args.shot_noise.strip().lower() == "none":  # (a Poisson simulation restored as gaussian)
        return None
    if args.op not in ("denoise", "deblur"):
        raise UsageError(f"--shot-noise is for --op denoise and deblur, not --op {args.op}; "
                         f"give --noise-level instead: the noise's std where the image is "
                         f"bright.")
    if args.noise_level is not None:
        raise UsageError("--noise-level is the std of gaussian noise; shot noise is told by "
                         "--shot-noise PEAK alone.")
    if args.shot_noise.strip().lower() == "auto":
        return "poisson"
    try:
        return O.PoissonNoise(float(args.shot_noise))
    except ValueError:
        raise UsageError(f"--shot-noise is the photons at white (a positive number) or auto, "
                         f"got {args.shot_noise!r}.") from None


def _noise_level(args, path, y, op) -> tuple[float | None, str]:
    """``(noise_level, note)``: ``--noise-level``; else, for a JPEG whose noise is read off
    ``y`` (denoise, deblur; for sr its finest band), the reading combined with the error
    that the file's quantization adds (``io.jpeg_noise``: JPEG drops the band where the
    noise is read), and a note for the stop reason that says so; else ``(None, "")`` (the
    prior reads ``y`` itself)."""
    from operators.base import TOP_BAND

    from .io import jpeg_noise
    from .noise_level import estimate_noise
    from .priors.base import visible_noise

    if args.noise_level is not None or args.simulate or getattr(args, "shot_noise", None):
        return args.noise_level, ""
    added = jpeg_noise(path)
    if added is None:
        return None, ""
    if getattr(op, "noise_visible", False) == TOP_BAND and min(y.shape[-2:]) >= 16:
        # A small JPEG to super-resolve: its quantization leaves no top band to read, and
        # its error is worth counting, clean or not: its finest band's reading. The middle
        # 256x256 of the first 8 Kodak24 photos, LR at x2 / x4 saved at quality 75 and 90,
        # clean and with noise 10/255, mean gain over taking it as noise-free: +0.05 to
        # +2.52 dB in each of the 8 groups (the top band's reading alone: -0.02 to +1.36),
        # worst image against that -0.08
        seen = estimate_noise(y)
    else:  # the prior's own reading, where the operator shows the noise in y (denoise, deblur)
        seen = visible_noise(op, y)
    if seen is None:
        return None, ""
    level = math.hypot(seen, added)
    return level, (f", noise {255 * level:.1f}/255 estimated: {255 * seen:.1f} read off the "
                   f"image, {255 * added:.1f} from the JPEG's quantization")


def jpeg_shot_note(args, path) -> str | None:
    """A note for a JPEG whose shot noise's peak is read (``--shot-noise auto``): its
    quantization took part of the noise away, so the peak reads high and the photo is
    restored too lightly (astronaut at 5 photons, quality 85: read 14.9, 2 dB below
    gaussian denoising)."""
    from .io import jpeg_noise

    if (shot_noise(args) != "poisson" or args.simulate or args.op != "denoise"
            or jpeg_noise(path) is None):  # (a deblurring uses no peak read: api._shot_deblurred)
        return None
    return (f"note: {path} is a JPEG, whose compression took part of its noise away: the "
            f"peak read off it is too high, and it is restored too lightly; --shot-noise PEAK "
            f"(the photons at white, if known), or --shot-noise none, restores it better.")


def shot_noise_note(args, path, y) -> str | None:
    """A note for a blind denoising of a real ``y`` whose noise grows with its brightness
    (``poisson.grows_with_brightness``): it is restored as gaussian noise of one level,
    too hard where dark and too lightly where bright, unless ``--shot-noise`` says what it
    is (camera256 at 30 photons, as a PNG: 24.75 dB, 30.30 with --shot-noise auto). A note,
    not a switch: textured photos can read so (kodim24 with gaussian noise of 25/255), and
    taken as shot noise gaussian noise loses (camera256 at 25/255: 30.96 -> 27.90 dB)."""
    from .poisson import grows_with_brightness

    if (args.op != "denoise" or args.noise_level is not None or args.simulate
            or args.shot_noise is not None or not grows_with_brightness(y)):
        return None
    return (f"note: the noise of {path} grows with its brightness, as shot noise does; if it "
            f"counts photons (low light, fluorescence, X-ray), --shot-noise auto restores it "
            f"better (it is taken as gaussian noise of one level).")


def noisy_holes_note(args, path, y, op) -> str | None:
    """A note for an inpainting of a real ``y`` that reads as noisy where it is observed
    (``noise_level.noisy_where_observed``) while no --noise-level was given: the fill is
    then made for a noise-free y, and the observed pixels, noise and all, are kept."""
    from .noise_level import noisy_where_observed

    if args.op != "inpaint" or args.noise_level is not None or args.simulate:
        return None
    level = noisy_where_observed(y, op.mask)
    if level is None:
        return None
    return (f"note: {path} reads as "
            f"noisy where it is observed (about {255 * level:.1f}/255); inpainting takes it "
            f"as noise-free and keeps those pixels as they are. If it is noisy, --noise-level "
            f"{level:.3f} restores all of it (fine texture, such as grass, reads as noise too).")


@contextmanager
def solve_warnings_as_notes():
    """``solve``'s warnings the way the command line says things: its
    ``NoisyObservedWarning`` left out (the command line's note says it, with the flag to
    pass, and a simulation's noise is the user's own), as its ``MaskWayWarning`` (the way
    of a mask is decided by ``--mask-white``), its ``NoiseLevelWarning`` and
    ``BlurMismatchWarning`` as a
    note (not Python's "file:line: Category:" form); any other as Python shows it."""
    from .noise_level import BlurMismatchWarning, NoiseLevelWarning, NoisyObservedWarning
    from .operator_checks import MaskWayWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoisyObservedWarning)
        warnings.simplefilter("ignore", MaskWayWarning)  # (--mask-white decided, and said)
        shown = warnings.showwarning

        def show(message, category, *rest, **options):
            if issubclass(category, (NoiseLevelWarning, BlurMismatchWarning)):
                # (said in the command line's words, not the API's)
                say("note: " + str(message).replace("border 'valid'", "--border valid").replace(
                    "io.jpeg_noise", "--noise-level").replace("the noise level told", "--noise-level"))
            else:
                shown(message, category, *rest, **options)

        warnings.showwarning = show
        yield


def cs_noise_note(args) -> str | None:
    """A note for a simulated noisy compressed sensing without ``--noise-level``: the
    measurements' noise cannot be read off them, and they are restored as noise-free (camera
    96x96, noise 0.05, 25 % of them: 31.26 dB, 31.64 with the level; 50 %: 30.05, 33.82)."""
    import operators as O

    if args.op != "cs" or not args.simulate or args.noise_level is not None:
        return None
    sigma = getattr(O.make_noise(args.noise), "sigma", None)
    if not sigma:
        return None
    return (f"note: the noise of compressed-sensing measurements cannot be read off them, so "
            f"they are restored as noise-free; --noise-level {sigma:g} (the simulation's) "
            f"restores them as noisy.")


def run(args) -> dict:
    from .api import resolve_prior, solve
    from .checks import resolve_device
    from .io import atomic_write, bits_to_write, colour_profile, pixel_size_of, write_image
    from .metrics import psnr, ssim

    options = _options(args)
    y, op, truth, channels = _read(args, args.image, {})
    # the prior that runs is named in the output file and the report (a mask with wide
    # holes takes the inpainter or the deep image prior: api.auto_prior)
    chosen = resolve_prior(args.prior, op, options, y)
    plain = resolve_prior(args.prior, op, {}, y) if options else chosen  # (a mask's holes measured once)
    if chosen != plain:  # a setting the usual choice does not take moved auto off it
        from .priors import make_prior, options_of

        make_prior(chosen, **options)  # (a bad value is then the one line, not after the note)
        taken = sorted(flag_name(k) for k in options if k not in options_of(plain))
        print(f"note: auto takes the {plain} prior here, which does not take "
              f"{', '.join(taken)}; the {chosen} prior restores IMAGE instead.", file=sys.stderr)
    args.prior = chosen

    paths = _outputs(args)
    device = resolve_device(args.device)
    level, note = _noise_level(args, args.image, y, op)
    for hint in (noisy_holes_note(args, args.image, y, op), cs_noise_note(args),
                 jpeg_shot_note(args, args.image), shot_noise_note(args, args.image, y)):
        if hint:
            print(hint, file=sys.stderr)
    start = time.perf_counter()
    with solve_warnings_as_notes():  # (said above, as a note)
        result = solve(y, op, args.prior, noise_level=level, noise=shot_noise(args),
                       truth=truth, progress=not args.quiet, **options)
    seconds = time.perf_counter() - start
    if result.interrupted and result.iterations == 0:
        # Ctrl-C before the first step: no estimate worth a file (why, said: a stop in the
        # deep image prior's warm start had said "nothing was written." alone)
        raise KeyboardInterrupt(result.stop_reason)
    x = in_frame(args, op, result.image.cpu())
    report = {
        "image": str(args.image), "output": str(paths["output"]), "op": args.op,
        "prior": args.prior, "simulate": args.simulate, "operator": repr(op),
        "settings": {k: v for k, v in vars(args).items() if k not in ("image", "output")},
        "device": str(device), "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "torch_threads": torch.get_num_threads(), "seconds": round(seconds, 2),
        "iterations": result.iterations, "returned_iteration": result.iteration,
        "stop_reason": result.stop_reason + note, "interrupted": result.interrupted,
        "noise_level": result.noise_level,  # (given or read off y; on y's 0-1 scale)
        # the steps' own pace where timed (the total over the count had held the setup and
        # the warm start: 0.1165 s for steps of 0.024)
        "seconds_per_iteration": round(result.step_seconds or result.seconds / result.iterations, 4)
        if result.iterations else None,
    }
    if channels == 3 and y.shape[1] == 1:
        report["restored_as"] = "gray (the image's three channels are the same)"
    if truth is not None:
        report["psnr"], report["ssim"] = psnr(x, truth), ssim(x, truth)
        if y.shape == truth.shape:  # of the y restored (a simulation's noise is not clipped)
            report["psnr_observation"] = psnr(y, truth)
    # written after the metrics, which can still refuse (SSIM of a 2x2 image), so that
    # an error never leaves a result behind
    written, profile = as_read(x, channels), colour_profile(args.image)
    text = json.dumps(finite(report), indent=2, default=str)
    bits = bits_to_write(args.image, paths["output"], written)
    deep = bits_to_write(args.image, paths["output"].with_suffix(".tif"), written)
    if bits == 8 < deep and paths["output"].suffix.lower() == ".png":  # (cut unsaid)
        say(f"note: a colour PNG holds 8 bits per value, so '{paths['output']}' is written "
            f"at 8 bits; a .tif output keeps the input's {'16-bit' if deep == 16 else 'float'} "
            f"values.")
    writes = {"output": lambda: write_image(
        paths["output"], written, overwrite=args.force, bits=bits, profile=profile,
        tiff_tags=pixel_size_of(args.image, written))}
    if "observation" in paths:
        writes["observation"] = lambda: write_image(paths["observation"], _with_holes(op, y.cpu()),
                                                    overwrite=args.force, profile=profile)
    if "compare" in paths:
        panels = [_display(op, y.cpu(), x.shape), x] + ([truth] if truth is not None else [])
        writes["compare"] = lambda: write_image(paths["compare"], torch.cat(panels, -1),
                                                overwrite=args.force, profile=profile)
    if "report" in paths:
        writes["report"] = lambda: atomic_write(paths["report"], lambda tmp: Path(tmp).write_text(text),
                                                replace=args.force)
    if "plot" in paths:
        from .plot import plot_history

        writes["plot"] = lambda: plot_history(result, paths["plot"], overwrite=args.force,
                                              title=f"{args.op} with {args.prior}")
    write_all(writes, paths)
    if args.report == "-":
        print(text, flush=True)
    if "plot" in paths:
        from .plot import nothing_to_plot

        empty = nothing_to_plot(result)
        if empty:  # (the figure said it; stderr had not)
            print(f"note: {paths['plot']}: {empty}", file=sys.stderr)
    return report


def write_all(writes: dict, paths: dict) -> None:
    """Run each of ``writes`` (name -> a function that writes ``paths[name]``), all or none:
    when one fails (a file another run wrote meanwhile, a full disk, Ctrl-C), the files
    this run had made are taken away again, so that the error said is all that happened
    and the same command can run again (the result had stayed, and the rerun refused it
    as existing). But where the system refuses a later file (a full disk under --plot),
    the files written before it are kept and named: a deep image prior's minutes were
    thrown away for its chart. What was there before (replaced with --force) cannot come
    back, nor what went to a device (``--compare /dev/null``)."""
    from .io import CannotWrite, OutputExists, is_special

    made = []
    try:
        for name, write in writes.items():
            path = paths[name]
            new = not os.path.lexists(path) and not is_special(path)
            try:
                write()
            except KeyboardInterrupt:  # (in the last instant of the write: its file is there)
                if new and os.path.lexists(path):
                    made.append(path)
                raise
            except (OutputExists, FileExistsError):  # (none at the start: made since)
                raise UsageError(f"'{path}' was written by another run while this one worked; "
                                 f"nothing was kept; choose another name or pass --force.") from None
            except CannotWrite as err:
                if made:
                    kept = ", ".join(map(str, made))
                    made = []  # (kept: the except below has nothing to take away)
                    raise CannotWrite(f"{str(err).rstrip('.')}; kept what was written before "
                                      f"it: {kept}.", err.errno) from None
                raise
            if new:
                made.append(path)
    except BaseException:
        for path in made:
            Path(path).unlink(missing_ok=True)
        raise


# A setting named at the head of an API sentence ("lr must be > 0", "iters is for ..."),
# at the start of the message or of a clause after "; " or ": "
SUBJECT = re.compile(r"(^|; |: )([a-z_]+)(?= (?:must|takes|is for|needs)\b)")
# The inpainter refusing another operator, said by the class the API knows
NOT_INPAINTING = re.compile(r"the (\S+) prior fills the holes of an inpainting mask "
                            r"\(operators\.Inpainting\), not \w+")


# flags of this command that a prior's setting of that name is not: --shape is the measured
# image's shape of cs, not the shape a prior is told for an operator of one's own
NOT_PRIOR_FLAGS = {"shape"}


def as_flags(message: str, parser: argparse.ArgumentParser | None = None,
             refused=lambda prior: set(), aliases: dict | None = None) -> str:
    """An API message said in flags, for the command line: its advice, the setting it is
    about, and the settings a prior does (not) take, of which it names only those that are
    flags of ``parser`` (default: this command's; ``invprior.train`` passes its own) and
    not ``refused(prior)`` for this command (``refused_flags``). ``aliases``: the API
    arguments that a flag of another name gives (``{"k": "latent"}``).

    Example:
        >>> as_flags("not Blur; use prior='denoiser' or 'dip'.")
        'not Blur; use --prior denoiser or dip.'
        >>> as_flags("the trained prior does not take max_seconds; it takes adapt, iters, lr.")
        'the trained prior does not take --max-seconds; of the flags it takes --iters, --lr.'
        >>> as_flags("self_ensemble takes 1 to 8 turns, got 9.")
        '--self-ensemble takes 1 to 8 turns, got 9.'
    """
    known = {action.dest for action in (parser or build_parser())._actions
             if action.option_strings}
    aliases = aliases or {}

    def flag(name: str, said: str) -> str:  # a known argument's flag, else as it was said
        name = aliases.get(name, name)
        return flag_name(name) if name in known else said
    # an argument given a value, "prior='dip' or 'decoder'", "device='cpu'", "k=300": said
    # as its flag
    def valued(m) -> str:
        name = flag(m[1], "")
        return (f"{name} {m[2] or m[4]}" + (f" or {m[3]}" if m[3] else "")) if name else m[0]

    # (only an argument standing as a word, its value ending the word: not inside a path,
    # "runs/seed=3/a.png" or "noise_level=0.1.png")
    message = re.sub(r"(?<![^\s(])(\w+)=(?:'([\w.:]+)'(?: or '([\w.:]+)')?|(-?[\d.]*\d))"
                     r"(?=[\s,;)]|\.?$|\.\s)", valued,
                     message)
    message = NOT_INPAINTING.sub(lambda m: f"--prior {m[1]} is for --op inpaint only", message)
    message = SUBJECT.sub(lambda m: m[1] + flag(m[2], m[2]), message)
    takes = re.fullmatch(r"(the (\S+) prior) does not take (.+); it takes (.+)\.", message)
    if takes:
        left_out = NOT_PRIOR_FLAGS | refused(takes[2])
        given = ", ".join(flag_name(n) for n in takes[3].split(", "))
        usable = ", ".join(flag_name(n) for n in takes[4].split(", ")
                           if n in known and n not in left_out)
        message = f"{takes[1]} does not take {given}" + (
            f"; of the flags it takes {usable}." if usable else ".")
    return message


def finite(value):
    """``value`` (a report: dicts, lists, numbers) with every infinite or NaN float as None,
    so that the JSON is valid for every reader (PSNR is infinite for a noise-free
    observation; Python would write ``Infinity``, which JSON has not).

    Example:
        >>> finite({"psnr": float("inf"), "psnrs": [30.0, float("nan")]})
        {'psnr': None, 'psnrs': [30.0, None]}
    """
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary(report: dict) -> str:
    line = (
        f"{report['op']} with {report['prior']}: wrote {report['output']} in {report['seconds']:.1f} s, "
        f"{report['iterations']} iteration{'' if report['iterations'] == 1 else 's'}"
        + (f" ({report['stop_reason']})" if report["stop_reason"] else "")  # (a prior's own: "")
    )
    if "restored_as" in report:
        line += f"; restored as {report['restored_as']}"
    if "psnr" in report:
        line += f"; PSNR {report['psnr']:.2f} dB, SSIM {report['ssim']:.3f}"
        if "psnr_observation" in report:
            line += f" (observation {report['psnr_observation']:.2f} dB)"
    noise = report["settings"].get("noise") if report.get("simulate") else None
    if noise:  # what the simulation added, beside what was read off y
        line += f"; noise added: {noise}"
    return line


def default_folder(op: str, prior: str) -> str:
    """The output folder of several images when -o is not given: ``OP_PRIOR``.

    Example:
        >>> default_folder("denoise", "weights/mine.pt")
        'denoise_mine'
    """
    return f"{op}_{Path(prior).stem}"


def run_many(args) -> int:
    """Restore several files (``invprior.folders``); the exit status: 0, 1 when a file
    failed, 130 after Ctrl-C (a rerun resumes)."""
    from operators.registry import operator_class

    from . import distributed
    from .api import resolve_prior, solve
    from .checks import resolve_device
    from .folders import earlier_outputs, find_jobs, holds_images, mark_output, restore_files
    from .io import READABLE, check_writable
    from .messages import listed
    from .metrics import psnr
    from .priors import PRIORS
    from .priors.generator import NETWORKS

    if args.report or args.compare or args.plot or args.observation:
        raise UsageError("--report, --compare, --observation and --plot take one image; "
                         "restore several without them.")
    options = _options(args)
    # the folder is named after the operator's usual prior; each batch then resolves auto
    # with its own operator and images, as one file would (a mask's thick holes: inpainter)
    requested = args.prior
    args.prior = resolve_prior(args.prior, operator_class(args.op), options)
    if args.output == "":  # (an unset shell variable: the default folder had been taken, unsaid)
        raise UsageError("-o is empty; name a folder.")
    out_dir = Path(args.output or default_folder(args.op, args.prior))
    check_command(args, options)
    device = resolve_device(args.device)
    # (this run's own output folder is left out anyway, and a rerun resumes in it)
    earlier = [d for d in earlier_outputs(args.image, {default_folder(op, p) for op in OPS for p in PRIORS})
               if d.resolve() != out_dir.resolve()]
    unsearched: list = []  # folders we may not list: said, and the exit status is 1
    marked: list = []  # the folders an earlier run marked as its results: left out, said
    empty: list = []  # folders among several inputs without images: left out, said
    jobs = find_jobs(args.image, out_dir, others=[f for f in (args.mask, args.kernel) if f],
                     leave_out=tuple(earlier), unsearched=unsearched, marked=marked,
                     empty=empty)
    # (after the inputs' own refusals: a glob that matched nothing had been said as "-o
    # names an image file")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"'{out_dir}' is a file; for several images -o names a folder.")
    if not out_dir.exists() and out_dir.suffix.lower() in READABLE:
        # a folder called restored.png is never what was meant
        raise UsageError(f"'{out_dir}' names an image file; for several images -o names a folder.")
    if empty and distributed.launched_main():
        names = listed([f"'{d}'" for d in empty])
        print(f"note: left out {names}: {'it holds' if len(empty) == 1 else 'they hold'} no "
              "image files.", file=sys.stderr)
    earlier = sorted({*earlier, *marked})
    if earlier:
        what = ("the output folder of an earlier run; name it" if len(earlier) == 1 else
                "the output folders of earlier runs; name one")
        print(f"note: left out {', '.join(map(str, earlier))}: {what} to restore its "
              "images.", file=sys.stderr)
    for folder, why in unsearched if distributed.launched_main() else ():
        print(f"failed: cannot search '{folder}': {why} (its files are left out).", file=sys.stderr)
    check_writable(out_dir)
    # a folder this run makes (or finds without images: a README, a .DS_Store) is marked as
    # results, so that a later run over a folder that holds it leaves it out, and one inside
    # the input folder resumes with an input gone (folders.find_jobs); not one of photos
    try:
        unmarked = [not out_dir.exists() or not holds_images(out_dir)]
    except OSError:  # (a folder we may write in but not list)
        unmarked = [False]
    world = distributed.start(device)
    options["device"] = str(world.device)
    ops: dict = {}

    def prepare(path):
        y, op, truth, channels = _read(args, path, ops)
        level = _noise_level(args, path, y, op)[0]  # a JPEG's own: batched with its equals
        for hint in (noisy_holes_note(args, path, y, op), jpeg_shot_note(args, path),
                     shot_noise_note(args, path, y)):
            if hint:  # (each rank's own files)
                say(hint)
        return (tuple(y.shape), id(op), level), (y, op, truth, level, channels)

    def restore(items):
        y, op, level = torch.cat([i[0] for i in items]), items[0][1], items[0][3]
        truth = torch.cat([i[2] for i in items]) if items[0][2] is not None else None
        prior = resolve_prior(requested, op, options, y)
        # a network prior takes minutes per image: its time estimate and its bar are shown
        # (a folder with a 4-megapixel photo ran silent for hours)
        slow = isinstance(prior, str) and prior in NETWORKS
        with solve_warnings_as_notes():  # (each file's note said in prepare)
            result = solve(y, op, prior, noise_level=level, noise=shot_noise(args), truth=truth,
                           progress=slow and not args.quiet and world.main, **options)
        if result.interrupted:  # not written: a rerun restores these again
            raise KeyboardInterrupt
        if unmarked[0]:  # marked before the first write: a run killed later leaves it marked
            mark_output(out_dir)
            unmarked[0] = False
        images = [in_frame(args, op, item.image.cpu()) for item in result.items]
        return [(as_read(x, items[b][4]), psnr(x, truth[b : b + 1]) if truth is not None else None,
                 "time limit of" in result.items[b].stop_reason)
                for b, x in enumerate(images)]

    try:
        tally = restore_files(jobs, prepare, restore, force=args.force, world=world,
                              progress=not args.quiet and world.main,
                              say=say, worded=as_flags)
    finally:
        distributed.stop(world)
    tally.unsearched = len(unsearched)
    if world.main and not args.quiet:
        print(tally.line(out_dir))
    if tally.interrupted:
        if world.main:  # (once: under torchrun each rank had said it)
            print("interrupted: the files restored so far are written; run the same command "
                  "again to resume.", file=sys.stderr)
        return 130
    return 1 if tally.failed or unsearched else 0


def main(argv=None) -> int:
    """Run the command; exit status 0, 2 for bad input, 130 when Ctrl-C (or SIGTERM, SIGHUP)
    ended the solve (the best image so far is written all the same) or came before there was
    one; with several images, 1 when some file failed (the others are restored)."""
    from .console import steadied, stop_on_signals
    from .io import tifffile_quiet

    # (steadied before argparse: --help into | head had ended in a traceback; given back
    # after, for a program that calls main in its own process)
    with stop_on_signals(), steadied(), tifffile_quiet():
        return _main(argv)


def _main(argv) -> int:
    """``main`` with the stopping signals taken as Ctrl-C."""
    from .distributed import launched_main
    from .folders import is_many
    from .weights import shipped

    args = build_parser().parse_args(argv)
    keep_freed_memory()  # allocator.py: the network's calls reuse their memory
    args.prior = shipped(args.prior)  # (--prior prior_faces.pt: the shipped file)
    try:
        fill_op_defaults(args)
        if is_many(args.image):
            return run_many(args)
        if not launched_main():  # under torchrun one image is rank 0's alone (each wrote it)
            return 0
        args.image = args.image[0]
        report = run(args)
    except ValueError as err:  # ImageError and UsageError are ValueErrors too
        if launched_main():  # under torchrun each rank finds the same mistake: said once
            print(f"error: {as_flags(str(err), refused=lambda prior: refused_flags(args, prior))}",
                  file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as err:  # torch's allocators raise RuntimeErrors
        from .checks import out_of_memory

        message = out_of_memory(err)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # before the solve had an estimate, or while writing it
        why = str(err)
        if launched_main():  # (under torchrun another rank's files may have been written)
            print(f"{why}: nothing was written." if why.startswith("interrupted") else
                  f"interrupted: nothing was written{f' ({why})' if why else ''}.",
                  file=sys.stderr)
        return 130
    except OSError as err:  # a folder on a path that we may not search (PermissionError)
        from .io import unreachable

        if launched_main():
            print(f"error: {unreachable(err)}", file=sys.stderr)
        return 2
    if report["interrupted"]:
        print(f"interrupted: wrote the best estimate so far to {report['output']} "
              f"({report['stop_reason']}).", file=sys.stderr)
        return 130
    if not args.quiet:  # (after --report -, on stderr: the standard output is one JSON)
        print(summary(report), file=sys.stderr if args.report == "-" else sys.stdout)
    return 0


if __name__ == "__main__":
    from invprior.distributed import leave

    leave(main())
