"""Benchmark: ``python -m invprior.bench`` writes BENCHMARKS.md.

Runs the fixed public cases (``invprior.bench.cases``, identical to ../shared/cases) with the
CLI defaults of each prior and with the classical references, and records PSNR, SSIM,
iterations, seconds and the machine. Sections: ``dip`` (deep image prior and deep
decoder), ``classical`` (bicubic, TV, NL-means, biharmonic, Wiener), ``sparse`` (the
dictionary-learning baseline), ``denoiser`` (the trained CNN denoiser, plug-and-play) and
``trained`` (GLO / CSGM priors), when available, ``standard`` (Set12 and Kodak24
denoising by the published protocol, beside the published numbers; skipped with a message
when ../shared/testsets is missing), ``jpeg`` (Kodak24 crops degraded and saved as JPEG:
the noise level read off the pixels against the CLI's, which adds the JPEG's own error),
``set5`` (x4 super-resolution, the same way), ``holes`` and
``nonlinear`` (large-hole inpainting and nonlinear callables: ``bench.hard``), ``scale`` (0.25 to 12 megapixels, folders, on the CPU)
and ``gpu`` (the same on CUDA, skipped without it; ``bench.scale``).

    python -m invprior.bench                      # everything (about 1.5 h on 2 cores)
    python -m invprior.bench --sections trained   # redo the trained-priors block only
    python -m invprior.bench --sections classical --quick -o /tmp/b.md

A run rewrites the blocks of the sections it runs and keeps the file's other blocks, each
with the line that says which command, date and machine measured it. The fixed-cases
table is one block written by the dip, classical, sparse and denoiser sections together: a run of
some of them (or of some ``--cases``) replaces their rows and keeps the others, saying so.
Every run also rewrites "What auto picks" (``bench.policy``: computed from the code, no
measurement), so ``--sections ""`` refreshes it alone. Ctrl-C ends a run with exit status
130: the file then holds what it had measured (written after each row and section), not the
row or section under way, and keeps the rest as it was.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import torch

from ..allocator import keep_freed_memory
from ..console import steady_streams, stop_on_signals, stopped_by
from ..io import CannotWrite, tifffile_quiet, unreachable
from ..cli import HelpWithDefaults, as_flags
from .cases import CASES, load_case
from ..metrics import psnr, ssim
from ..priors.base import one_pass
from . import uninterrupted
from .policy import markdown as policy_markdown

FIXED = "Fixed cases (256x256, ../shared/cases)"
HEADER_START = "# Benchmarks"  # the first line of a file this benchmark wrote
# what says so, below it: "# Benchmarks" alone is many a project's own file
WRITTEN_BY = "Written by `python -m invprior.bench`"
SECTIONS = ("operators", "dip", "classical", "sparse", "denoiser", "trained", "standard", "jpeg",
            "set5", "holes", "nonlinear", "stacks", "shot", "scale", "gpu")
# the blocks of BENCHMARKS.md (their "## " titles) and the sections that write each one
POLICY = "What auto picks"
BLOCKS = {
    FIXED: ("dip", "classical", "sparse", "denoiser"),
    POLICY: (),  # computed from the code, rewritten by every run (bench.policy)
    "Operators": ("operators",),
    "Sparse coding baseline": ("sparse",),
    "Trained priors": ("trained",),
    "Standard test sets (../shared/testsets)": ("standard",),
    "Photos saved as JPEG (Kodak24 crops)": ("jpeg",),
    "Super-resolution x4, Set5 (../shared/testsets)": ("set5",),
    "Large holes": ("holes",),
    "Nonlinear operators": ("nonlinear",),
    "Several measurements of one image": ("stacks",),
    "Shot noise (photon counts)": ("shot",),
    "Large images, folders (CPU)": ("scale",),
    "GPU": ("gpu",),
}


def written_here(text: str) -> bool:
    r"""Whether ``text`` is a file this benchmark wrote: its header (before the first block)
    has the "Written by" line.

    Example:
        >>> written_here("# Benchmarks\n\n" + WRITTEN_BY + "; each block ...\n\n## GPU\n")
        True
        >>> written_here("# Benchmarks\n\nOur own numbers.\n")
        False
    """
    return any(line.startswith(WRITTEN_BY) for line in text.split("\n## ", 1)[0].splitlines())


def earlier_blocks(text: str) -> dict:
    """The blocks of the text of an earlier file that this benchmark wrote, by title: a partial rerun keeps those it does not redo, and a section that skips keeps its
    own.

    Each block carries its own "Measured by ..." line, so its provenance stays true.
    """
    bodies, title = {}, None
    for chunk in text.split("\n## ")[1:]:
        head, _, body = chunk.partition("\n")
        if head in BLOCKS:
            title, bodies[head] = head, body
        elif title is not None:  # a "## " heading inside a block belongs to that block
            bodies[title] += f"\n## {chunk}"
    return {t: b.strip("\n") + "\n" for t, b in bodies.items()}


def writer_of(method: str) -> str:
    """Which run wrote a row of the fixed-cases table, from its method column: the section,
    or for the dip section the prior (``--priors decoder`` redoes the decoder rows alone).

    Example:
        >>> [writer_of(m) for m in ("**denoiser (trained CNN, one pass), CLI default**",
        ...                         "sparse (K-SVD)", "**dip, CLI default**", "decoder", "bicubic")]
        ['denoiser', 'sparse', 'dip', 'decoder', 'classical']
    """
    name = method.strip("*").split(" ")[0].rstrip(",")
    return name if name in (*FIXED_PRIOR_METHODS, "dip", "decoder") else "classical"


def carried_rows(text: str) -> tuple[list[dict], str]:
    """Rows of the fixed-cases table in the text of an earlier file that this benchmark
    wrote, as ``{case, writer, psnr, line}`` (``psnr`` None where the cell is not a number:
    a hand-edited file), and the line that says who measured them. A run drops those of
    each (writer, case) that it measures again."""
    _, _, block = text.partition(f"\n## {FIXED}\n")
    block = block.split("\n## ", 1)[0]
    # who measured the rows: the block's run, and the runs its own kept rows came from
    measured = "; ".join(l.strip("_").rstrip(".").split(": ", 1)[-1] if l.startswith("_The rows")
                         else l.strip("_").rstrip(".") for l in block.splitlines()
                         if l.startswith(("_Measured by", "_The rows")))
    rows = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 4 or cells[0] == "case" or cells[0].startswith("-"):
            continue
        try:
            value = float(cells[2])
        except ValueError:  # 'n/a', or another column there: kept as it is, last of its case
            value = None
        rows.append({"case": cells[0], "writer": writer_of(cells[1]), "psnr": value, "line": line})
    return rows, measured


def machine(gpu: bool = False) -> str:
    """CPU model, cores, threads, torch version (and the GPU, where ``gpu``: the run used it)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    text = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads"
    if gpu and torch.cuda.is_available():  # (named had it been there, unused: --device cpu)
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def row(case, method, image, truth, seconds, result=None, note="") -> dict:
    r = {
        "case": case, "method": method, "psnr": psnr(image, truth), "ssim": ssim(image, truth),
        "seconds": seconds, "iterations": "", "returned": "", "s_per_it": "", "oracle": "",
        "note": note,
    }
    if result is not None and result.iterations > 1:
        r.update(
            iterations=result.iterations, returned=result.iteration,
            s_per_it=result.seconds / result.iterations,
            oracle=max(result.psnrs) if result.psnrs else "", note=result.stop_reason,
        )
    return r


def label(prior: str, op, what: str = "") -> str:
    """The method's name in the table, marked when it is what the CLI runs by default."""
    from ..api import auto_prior

    name = f"{prior} ({what})" if what else prior
    return f"**{name}, CLI default**" if auto_prior(op) == prior else name


def run_priors(cases, emit, priors=("dip", "decoder"), quick=False, device="auto") -> None:
    """Defaults of each untrained prior on each case; PSNR traced for the oracle column."""
    from ..api import solve

    for name in cases:
        truth, y, op = load_case(name)
        for prior in priors:
            start = time.perf_counter()
            result = uninterrupted(solve(
                y, op, prior, truth=truth, device=device, progress=sys.stderr.isatty(),
                **({"iters": 20, "warm": 5} if quick else {}),
            ))
            emit([row(name, label(prior, op), result.image.cpu(), truth,
                      time.perf_counter() - start, result)])


def run_classical(cases, emit) -> None:
    """Classical references on the same arrays."""
    import numpy as np
    from skimage.restoration import wiener

    import operators as O

    from .classical import biharmonic, nl_means, tv_denoise

    for name in cases:
        truth, y, op = load_case(name)
        methods = {}
        if name.startswith("denoise"):
            methods["skimage TV (weight 0.08)"] = lambda: tv_denoise(y, 0.08)
            methods["skimage NL-means"] = lambda: nl_means(y, 25 / 255)
            methods["noisy observation (unclipped)"] = lambda: y
        elif name.startswith("inpaint"):
            methods["skimage biharmonic"] = lambda: biharmonic(y, op.mask)
        elif name.startswith("deblur"):
            k = op.kernel.numpy()

            def skimage_wiener():
                out = wiener(y[0, 0].double().numpy(), k.astype(np.float64), balance=0.003)
                return torch.from_numpy(out).float()[None, None]

            methods["skimage Wiener (balance 0.003)"] = skimage_wiener
        elif name.startswith("sr"):
            methods["bicubic"] = lambda: O.upsample_bicubic(y, op.factor)
        elif name.startswith("cs"):
            methods["damped least squares (CG, damping 0.01)"] = lambda: op.pinv(y, damping=1e-2, max_iter=50)
        rows = []
        for method, fn in methods.items():
            start = time.perf_counter()
            image = fn()
            image = image if "unclipped" in method else image.clamp(0, 1)
            rows.append(row(name, method, image, truth, time.perf_counter() - start))
        emit(rows)  # the case's rows together: they replace its earlier classical rows at once


# what each non-network prior does per kind of case (the method column of the table)
FIXED_PRIOR_METHODS = {
    "sparse": {"denoise": "K-SVD", "sr4": "coupled dictionaries", "inpaint": "plug-and-play K-SVD",
               "deblur": "plug-and-play K-SVD", "cs25": "plug-and-play K-SVD"},
    "denoiser": {"denoise": "trained CNN, one pass", "sr4": "plug-and-play trained CNN",
                 "inpaint": "plug-and-play trained CNN", "deblur": "plug-and-play trained CNN",
                 "cs25": "plug-and-play trained CNN"},
}


def run_fixed_prior(prior, cases, emit, quick=False, device="auto") -> None:
    """``solve(..., prior=prior)`` on every case for ``sparse`` or ``denoiser``, on ``device``."""
    from ..api import solve

    for name in cases:
        truth, y, op = load_case(name)
        start = time.perf_counter()
        result = uninterrupted(solve(y, op, prior, truth=truth, progress=sys.stderr.isatty(), device=device,
                                     **({"iters": 4} if quick and not one_pass(prior, op) else {})))
        what = FIXED_PRIOR_METHODS[prior][name.split("_")[0]]
        emit([row(name, label(prior, op, what), result.image.cpu(), truth,
                  time.perf_counter() - start, result)])


def operator_timings(repeats: int = 5) -> str:
    """Milliseconds per forward and adjoint on a 512x512 RGB image (median of ``repeats``)."""
    import statistics

    import operators as O

    shape = (3, 512, 512)
    x = torch.rand(1, *shape)
    ops = {
        "Blur sigma 2 (circular)": O.Blur(sigma=2.0),
        "Inpainting 50%": O.Inpainting(shape=shape),
        "Downsampling x4 bicubic": O.Downsampling(4),
        "CompressedSensing fast, m = n/4": O.CompressedSensing(x.numel() // 4, shape, kind="fast"),
    }
    lines = ["| operator (512x512 RGB) | forward ms | adjoint ms |", "|---|---|---|"]
    with torch.no_grad():
        for name, op in ops.items():
            y = op(x)
            times = {}
            for label, fn, arg in (("forward", op, x), ("adjoint", op.adjoint, y)):
                samples = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    fn(arg)
                    samples.append(1000 * (time.perf_counter() - start))
                times[label] = statistics.median(samples)
            lines.append(f"| {name} | {times['forward']:.1f} | {times['adjoint']:.1f} |")
    return "\n".join(lines) + "\n"


def _fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) and v != "" else str(v)


def _order(r: dict) -> tuple:
    """Sort key of the fixed-cases table: by case, best PSNR first; a kept row whose case or
    PSNR cannot be read (a hand-edited file) comes last of its case, or of the table."""
    case = CASES.index(r["case"]) if r["case"] in CASES else len(CASES)
    return case, r["psnr"] is None, -(r["psnr"] or 0.0)


def _line(r: dict) -> str:
    return f"{r['case']:18s} {r['method']:34s} {r['psnr']:6.2f} dB  {r['seconds']:7.1f} s  {r['note']}"


def table(rows: list[dict]) -> str:
    head = "| case | method | PSNR (dB) | SSIM | seconds | iterations | returned at | s / iteration | best PSNR along the run | stop |\n"
    head += "|---|---|---|---|---|---|---|---|---|---|\n"
    lines = [
        r["line"] if "line" in r else
        f"| {r['case']} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['seconds']:.1f} | "
        f"{r['iterations']} | {r['returned']} | {_fmt(r['s_per_it'], '.3f')} | {_fmt(r['oracle'], '.2f')} | {r['note']} |"
        for r in rows
    ]
    foot = ("\nBest PSNR along the run: of the estimate at each iteration (for super-resolution "
            "before the final back-projection, which is costly per step). **CLI default**: what "
            "`python -m invprior.solve` runs for that operator without `--prior` "
            "(`invprior.api.auto_prior`). Cases: ../shared/cases for denoise, inpaint and deblur; "
            "sr4 and cs25 are generated by `invprior.bench.cases` from the same clean images, noise-free: "
            "`Downsampling(4, 'bicubic')` (antialiased Keys bicubic, reflect borders) and "
            "`CompressedSensing(16384, (1, 256, 256), kind='fast', seed=0)` (random signs, "
            "orthonormal DCT, 25 % of the rows).\n")
    return head + "\n".join(lines) + "\n" + foot


def _check_arguments(args, sections: list, cases: list) -> tuple[list, str]:
    """The dip section's priors, and the text of the ``-o`` file when this benchmark wrote it
    ("" for none, or for another's file, which ``--force`` replaces: none of it is kept);
    ``ValueError`` (one sentence) for an unknown section, case or prior, --priors without
    the dip section, a device that cannot run, or an output that cannot be written."""
    from ..checks import resolve_device
    from ..io import check_writable
    from ..priors.generator import NETWORKS

    for asked, known, what in ((sections, SECTIONS, "section"), (cases, CASES, "case")):
        unknown = sorted(set(asked) - set(known))
        if unknown:
            raise ValueError(f"unknown {what} {', '.join(unknown)}; the {what}s are "
                             f"{', '.join(known)}.")
    needing = [s for s in ("sparse", "trained") if s in sections]
    if needing and find_spec("sklearn") is None:  # (a plain install: a traceback after minutes)
        rest = ",".join(s for s in sections if s not in needing)
        raise ValueError(f"the {' and '.join(needing)} section{'s' * (len(needing) > 1)} "
                         f"need{'s' * (len(needing) == 1)} scikit-learn (a baseline; the digits "
                         f"set), which is not installed: pip install scikit-learn, or run "
                         f"--sections {rest or 'operators'}.")
    if args.priors is not None and "dip" not in sections:
        raise ValueError("--priors chooses the priors of the dip section; add dip to --sections.")
    asked = (p.strip() for p in (args.priors if args.priors is not None else "dip,decoder").split(","))
    priors = list(dict.fromkeys(p for p in asked if p))  # each once, in order
    wrong = [p for p in priors if p not in NETWORKS]
    if wrong or not priors:
        raise ValueError(f"--priors takes dip and/or decoder (the untrained priors), got "
                         f"'{args.priors}'.")
    resolve_device(args.device)
    if args.testsets != TESTSETS and not Path(args.testsets).is_dir():
        raise ValueError(f"--testsets '{args.testsets}' is not a folder.")
    output = Path(args.output)
    if output.is_dir():
        raise ValueError(f"-o '{output}' is a folder; name the markdown file.")
    check_writable(output.parent)
    # (a binary file, under --force, too; not a device: -o /dev/zero had been read for ever)
    text = output.read_text(encoding="utf-8", errors="replace") if output.is_file() else ""
    if text and not written_here(text) and not args.force:
        # a file of one's own (notes, another tool's table) would be replaced by ours
        raise ValueError(f"-o '{output}' exists and was not written by this benchmark; name "
                         f"another file, or pass --force to replace it.")
    commands = [line.split("`")[1] for line in text.splitlines()
                if line.startswith("_Measured by `python -m invprior.bench")]
    # a word, not a substring: "-o quick.md" is no quick run; "--qui" was one, before the
    # parser stopped taking abbreviations
    full = [c for c in commands if not any(word.startswith("--q") for word in c.split())]
    if args.quick and full:
        raise ValueError(f"-o '{output}' holds full measurements, which --quick rows (a few "
                         f"iterations: numbers meaningless) would replace; name another file.")
    return priors, text if written_here(text) else ""


def main(argv=None) -> int:
    """Run the benchmark; exit status 0, 2 for bad arguments or an output that cannot be
    written, 130 when Ctrl-C, SIGTERM or SIGHUP ended it (the rows measured are kept)."""
    with stop_on_signals(), tifffile_quiet():
        return _main(argv)


# where the standard, jpeg and set5 sections look by default (skipped, with a word, when absent)
TESTSETS = "../shared/testsets"


def _main(argv) -> int:
    from .. import __version__

    # (no abbreviations: "--qui" ran as --quick, and the provenance line then hid that)
    p = argparse.ArgumentParser(prog="python -m invprior.bench", description=(__doc__ or "").split("\n")[0],
                                formatter_class=HelpWithDefaults, allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"invprior {__version__}")
    p.add_argument("-o", "--output", default="BENCHMARKS.md", help="markdown file written; blocks of the sections not run are kept from it")
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS))
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated cases for the dip/classical/sparse/denoiser sections")
    p.add_argument("--priors", default=None, help="untrained priors run in the dip section (default: dip,decoder)")
    p.add_argument("--quick", action="store_true", help="a few iterations only (smoke test, numbers meaningless)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda: where the fixed cases' denoiser, sparse and dip rows run (the other sections are CPU tables, and gpu runs on CUDA)")
    p.add_argument("--testsets", default=TESTSETS,
                   help="folder holding set12/, set5/ and kodak24/ (standard, jpeg, set5 sections)")
    p.add_argument("--force", action="store_true", help="replace an -o file that this benchmark did not write")
    steady_streams()  # console.py: its rows printed into a gone pipe had ended the run
    args = p.parse_args(argv)
    keep_freed_memory()  # allocator.py: the network's calls reuse their memory
    # each once, in the order asked ("--cases a,a" had measured a twice, and written it twice)
    sections = list(dict.fromkeys(s.strip() for s in args.sections.split(",") if s.strip()))
    cases = list(dict.fromkeys(c.strip() for c in args.cases.split(",") if c.strip()))
    try:
        priors, earlier = _check_arguments(args, sections, cases)
    except ValueError as err:  # before minutes of benchmarking, not after them
        print(f"error: {as_flags(str(err), p)}", file=sys.stderr)  # (device='cuda': --device)
        return 2
    except OSError as err:  # a folder on the path that we may not search (PermissionError)
        print(f"error: {unreachable(err)}", file=sys.stderr)
        return 2
    started = datetime.datetime.now().isoformat(timespec="minutes")
    command = "python -m invprior.bench " + " ".join(argv if argv is not None else sys.argv[1:])
    from ..checks import resolve_device

    gpu = "gpu" in sections or (resolve_device(args.device).type == "cuda" and bool(
        {"denoiser", "sparse", "dip"} & set(sections)))
    provenance = f"_Measured by `{command.strip()}` on {started}; {machine(gpu)}._\n\n"
    header = (f"{HEADER_START}\n\n{WRITTEN_BY}; each block says which run measured it (a run "
              "of some `--sections` keeps the other blocks of the file).\n")
    # a block is replaced once its section has measured it, a row of the fixed-cases table
    # once its (writer, case) is measured again: what a run did not measure again stays,
    # even when Ctrl-C ends it early
    blocks, fresh = earlier_blocks(earlier), set()
    blocks[POLICY] = policy_markdown()
    earlier_rows, kept_by = carried_rows(earlier)
    rows, redone = [], set()

    def write():
        """Rewrite the file after every result, so that an interrupted run keeps its rows."""
        from ..io import atomic_write

        if rows:
            kept = [r for r in earlier_rows if (r["writer"], r["case"]) not in redone]
            note = (f"_The rows this run did not measure were kept from the earlier runs: "
                    f"{kept_by}._\n\n") if kept else ""
            blocks[FIXED] = provenance + note + table(sorted(rows + kept, key=_order))
        # one blank line before each heading, whether a block's markdown ends in a newline or not
        text = header + "".join(f"\n## {t}\n\n{blocks[t].rstrip()}\n" for t in BLOCKS if t in blocks)
        # (UTF-8 whatever the locale: a name in the command line it quotes, under LC_ALL=C
        # without UTF-8 mode, was a UnicodeEncodeError traceback)
        atomic_write(Path(args.output), lambda tmp: Path(tmp).write_text(
            text, encoding="utf-8", errors="surrogateescape"))

    def emit(new: list) -> None:
        """The rows of one writer and case: they replace its earlier rows together."""
        for r in new:
            print(_line(r), flush=True)
        rows.extend(new)
        redone.update((writer_of(r["method"]), r["case"]) for r in new)
        write()

    try:
        if "operators" in sections:
            blocks["Operators"] = provenance + operator_timings()
            fresh.add("Operators")
        if "classical" in sections:
            run_classical(cases, emit)
        for prior in FIXED_PRIOR_METHODS:
            if prior in sections:
                run_fixed_prior(prior, cases, emit, args.quick, args.device)
        if "dip" in sections:
            run_priors(cases, emit, priors, args.quick, args.device)
        for section, module, title, function in (
                ("sparse", "invprior.bench.sparse", "Sparse coding baseline", "run"),
                ("trained", "invprior.bench.trained", "Trained priors", "run"),
                ("standard", "invprior.bench.standard", "Standard test sets (../shared/testsets)", "run"),
                ("jpeg", "invprior.bench.jpeg", "Photos saved as JPEG (Kodak24 crops)", "run"),
                ("set5", "invprior.bench.set5", "Super-resolution x4, Set5 (../shared/testsets)", "run"),
                ("holes", "invprior.bench.hard", "Large holes", "run_holes"),
                ("nonlinear", "invprior.bench.hard", "Nonlinear operators", "run_nonlinear"),
                ("stacks", "invprior.bench.stacks", "Several measurements of one image", "run"),
                ("shot", "invprior.bench.shot", "Shot noise (photon counts)", "run"),
                ("scale", "invprior.bench.scale", "Large images, folders (CPU)", "run"),
                ("gpu", "invprior.bench.scale", "GPU", "run_gpu")):
            if section not in sections:
                continue
            # (no optional import behind it: a section that fails to import is an error, not
            # a section skipped without a word)
            mod = __import__(module, fromlist=["run", "markdown"])
            # each row printed as it is done, as the other sections do (trained, when told to)
            options = {"verbose": True} if section in ("trained", "sparse", "stacks", "shot") else {}
            if section in ("standard", "jpeg", "set5"):
                options["root"] = args.testsets
            measured = getattr(mod, function)(quick=args.quick, **options)
            if not measured and title in blocks:
                # skipped (no GPU, no ../shared/testsets here): the block measured before stays
                print(f"kept the earlier '{title}' block: nothing measured here", flush=True)
            else:
                blocks[title] = provenance + mod.markdown(measured) + "\n"
                fresh.add(title)
            write()
        write()
    except KeyboardInterrupt:
        # the rows and sections done are in the file already (written after each); written
        # once more in case Ctrl-C came during that write. The one under way is left out.
        if rows or fresh:
            try:
                write()
            except CannotWrite as err:  # (a full disk: the rows were printed as they came)
                print(f"interrupted ({stopped_by()}), and {err}", file=sys.stderr)
                return 130
            print(f"interrupted ({stopped_by()}): wrote what was measured before it to {args.output}, "
                  f"with the earlier rows and blocks of the rest.", file=sys.stderr)
        else:
            print(f"interrupted ({stopped_by()}) before anything was measured: {args.output} was not "
                  f"written.", file=sys.stderr)
        return 130
    except CannotWrite as err:  # (a full disk: the rows were printed above as they came)
        print(f"error: {err}" + (" The rows measured are printed above." if rows else ""),
              file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
