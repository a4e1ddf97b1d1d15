"""Restore many files in one command: find them, map each to its output, skip the done ones,
batch the same-size ones, survive the bad ones, and share them out under ``torchrun``.

``python -m invprior.solve --op denoise photos/ -o restored/`` (or several files, or a
glob): each input gets one output with the same path relative to the folder it was found
in (``photos/a/b.jpg -> restored/a/b.png``; a file named directly keeps its name). An
output that exists is skipped (unless ``--force``), so a rerun resumes where an interrupted
run stopped; writes are atomic, so an interrupted run leaves no half-written file. A file
that cannot be restored (unreadable, wrong size for the mask, ...) is reported in one line
and the others go on. Under ``torchrun --nproc_per_node=N`` rank ``r`` takes files
``r, r + N, ...`` of the sorted list (``invprior.distributed``), and the counts are summed.

Example:
    >>> import tempfile, torch
    >>> from invprior.io import write_image
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = write_image(root / "in" / "a.png", torch.rand(1, 1, 8, 8))
    >>> [(j.source.name, str(j.output.relative_to(root))) for j in find_jobs([root / "in"], root / "out")]
    [('a.png', 'out/a.png')]
"""

from __future__ import annotations

import errno
import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .checks import out_of_memory
from .console import bar_options
from .io import LOSSLESS, READABLE, is_hidden, name_key, os_reason, same_file
from .messages import listed

__all__ = ["Job", "Tally", "find_jobs", "is_many", "restore_files", "earlier_outputs",
           "mark_output", "output_name", "MARKER"]


@dataclass
class Job:
    """One input file and the output it will be restored to; ``problem``: why it cannot be
    (said as that file's failure, the others restored)."""

    source: Path
    output: Path
    problem: str | None = None


@dataclass
class Tally:
    """What a folder run did: files restored, skipped (output exists), failed, seconds."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    psnrs: list = field(default_factory=list)
    interrupted: bool = False
    left: int = 0  # not reached: the run stopped because no output could be written
    unreached: int = 0  # not reached: Ctrl-C (or SIGTERM) ended the run
    unsearched: int = 0  # folders that could not be searched (their files left out)
    limited: int = 0  # of those restored, the ones the time limit ended (--max-seconds)

    def line(self, out_dir: Path) -> str:
        """One-line summary, e.g. ``restored 3 files, skipped 1, failed 0 in 2.1 s -> out``."""
        # (the time limit had cut files short without a word: --report takes one image)
        cut = f" ({self.limited} ended by the time limit)" if self.limited else ""
        left = f", left {self.left} (not reached)" if self.left else ""
        left += f", left {self.unreached} (interrupted)" if self.unreached else ""
        if self.unsearched:
            left += f", {self.unsearched} folder{'s' * (self.unsearched != 1)} not searched"
        text = (f"restored {self.done} file{'s' * (self.done != 1)}{cut}, skipped {self.skipped} "
                f"(output exists), failed {self.failed}{left} in {self.seconds:.1f} s -> {out_dir}")
        if self.psnrs:
            text += f"; mean PSNR {sum(self.psnrs) / len(self.psnrs):.2f} dB"
        return text


def is_many(inputs: list[str]) -> bool:
    """True when the command line names more than one image: several paths, a folder, or a
    glob pattern that is not itself a file."""
    if len(inputs) != 1:
        return True
    path = Path(inputs[0])
    return path.is_dir() or (not path.exists() and _is_pattern(inputs[0]))


def _is_pattern(text: str) -> bool:
    return any(c in text for c in "*?[")


def earlier_outputs(inputs: list, names) -> list[Path]:
    """The subfolders directly under the folders of ``inputs`` that carry one of ``names``
    (the default output folders, ``denoise_denoiser`` and the like): an earlier run's
    results, made where the input folder was the working one (``solve --op denoise .``),
    which a later run would otherwise restore again as photos. (The folders a run marked,
    ``MARKER``, are found by ``find_jobs`` in its own search.)

    Example:
        >>> earlier_outputs(["/nonexistent"], {"denoise_denoiser"})
        []
    """
    names = set(names)
    return sorted(Path(text) / d.name for text in map(str, inputs) if Path(text).is_dir()
                  for d in Path(text).iterdir() if d.name in names and _reachable_dir(d))


def _reachable_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # (a link into /proc/1/cwd: PermissionError; find_jobs says it)
        return False


# the hidden file that marks a folder run's output folder (one it made, or found empty)
MARKER = ".invprior-output"


def mark_output(out_dir: Path) -> None:
    """Mark ``out_dir`` as a folder run's results (``find_jobs``), making it; a folder
    that cannot be written in is left unmarked (its files are what matters, and their
    writes say why)."""
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / MARKER).write_text(
            "This folder holds images restored by python -m invprior.solve. A later run over "
            "a folder that holds this one leaves it out; name it to restore its images.\n")
    except OSError:
        pass


def find_jobs(inputs: list, out_dir: Path, others: tuple = (),
              leave_out: tuple = (), unsearched: list | None = None,
              marked: list | None = None, empty: list | None = None) -> list[Job]:
    """The jobs for files, folders (searched recursively for images, hidden files, the
    output folder and the folders ``leave_out`` left out) and glob patterns, sorted by
    source; ``ValueError`` (one
    sentence) for an input that names nothing (two inputs that would share an output each
    get a ``Job.problem``).
    ``others``: the files the operator reads (``--mask``, ``--kernel``): never restored as
    images, never overwritten. Among several inputs (a shell's ``photos/*``), the output
    folder (an earlier run's results) is left out, as a pattern's matches in it are, so
    that a rerun resumes; inside a folder, so are the folders ``leave_out``. Nothing left to
    restore is a ``ValueError`` (it had restored nothing with exit status 0). Inside a folder
    (or under a glob pattern's) the folders an earlier run marked (``MARKER``) are left out too (``-o photos/restored``
    then ``-o photos/restored2`` had restored the first run's results into the second), and
    so is one named beside another input of its folder (a shell's ``photos/*``); one named
    alone, or beside inputs from elsewhere, is searched (restoring one run's results with
    another operator). Among several inputs, a folder's files keep its name at the top of
    their relative paths, as ``cp -r`` does, and a pattern's matches their path under its
    folder.
    ``marked`` (a list) receives those left out, to be said. ``unsearched``
    (a list) receives ``(folder, reason)`` for each folder that could not be searched (no
    permission): its files are left out, and the caller says so. ``empty`` (a list)
    receives the folders among several inputs that hold no image files, left out, to be
    said (without it, such a folder is a ``ValueError``).
    """
    out_dir = Path(out_dir)
    others = {Path(o).resolve() for o in others}
    jobs, searched = [], []
    for text in map(str, inputs):
        path = Path(text)
        # (by identity: on macOS 'PHOTOS' resolves as typed, and -o PHOTOS --force had
        # written over the images of photos/)
        is_output = same_file(path, out_dir)
        if (len(inputs) > 1 and path.is_dir() and (is_output or _inside(path, out_dir))) \
                or path.resolve() in others:
            continue
        if path.is_dir() and (path / MARKER).is_file() and sum(
                _real(Path(t)).parent == _real(path).parent for t in map(str, inputs)) > 1:
            # an earlier run's results named beside what is beside it (a shell's photos/*):
            # left out, as inside a folder (their images had met the originals' outputs:
            # every file failed); named alone, or with inputs from elsewhere, it is searched
            if marked is not None and path not in marked:
                marked.append(path)
            continue
        if path.is_dir():
            if is_output:
                raise ValueError(f"the output folder '{out_dir}' is the input folder '{path}'; "
                                 "choose another output folder.")
            files = files_under(path, unsearched)
            images = [f for f in files if _is_image(f, path, unsearched)]
            results = [f.parent for f in files if f.name == MARKER and f.parent != path]
            if marked is not None:
                marked += [d for d in results if d not in marked
                           and d.resolve() != out_dir.resolve()]
            # the output folders (an earlier run's results), wherever they are reached from:
            # inside this one, or through a link in it (a link to the output folder had its
            # results restored again, one level deeper, at every rerun); one that holds this
            # folder (restore photos/a into photos/) leaves its images in
            skip = [d for d in (out_dir, *leave_out, *results)
                    if Path(d).resolve() != path.resolve() and not _inside(path, Path(d))]
            # one of several inputs keeps its name, as cp -r would (a shell's photos/*: the
            # img.png of day1/ and of day2/ had both gone to img.png, and failed)
            top = Path(_real(path).name) if len(inputs) > 1 else Path()
            found = [(f, top / f.relative_to(path)) for f in images
                     if not any(_inside(f, d) for d in skip) and f.resolve() not in others]
            searched.append((path, images))  # (checked once every input's outputs are known)
            closed = [(d, why) for d, why in unsearched or ()
                      if _real(Path(d)) == path.resolve() or _inside(Path(d), path)]
            if not found and closed:  # (it said "holds no image files": the reason was elsewhere)
                raise ValueError(f"cannot search '{closed[0][0]}': {closed[0][1]}, and '{path}' "
                                 f"holds no other image files.")
            if not found and not images and empty is not None and len(inputs) > 1:
                empty.append(path)  # (a shell's photos/* with one empty folder: said, not
                continue            # a refusal of the whole run, as cp -r would copy it)
            if not found:
                beside = (f" outside the output folder '{out_dir}'" if images else "")
                raise ValueError(f"the folder '{path}' holds no image files{beside} "
                                 f"({', '.join(READABLE)}).")
        elif path.exists():
            found = [(path, Path(path.name))]
        elif _is_pattern(text):
            matches = [Path(f) for f in sorted(glob.glob(text, recursive=True))
                       if Path(f).is_file() and Path(f).suffix.lower() in READABLE
                       and not _inside(Path(f), out_dir) and Path(f).resolve() not in others]
            matches = _each_file_once(matches, _pattern_root(text))
            if not matches:
                raise ValueError(f"'{text}' matches no image files.")
            # an earlier run's results under the pattern's folder (photos/**/*.png reached
            # photos/restored/), as a folder's search leaves them out
            held = marked_folders(matches, _pattern_root(text))
            if marked is not None:
                marked += [d for d in dict.fromkeys(held.values()) if d and d not in marked]
            # under the pattern's folder, as that folder's search names them (photos/**/*.png:
            # day1/a.png and day2/a.png had both gone to a.png, and failed)
            root = _pattern_root(text)
            found = [(f, _under(f, root)) for f in matches if held[f] is None]
            if not found:
                raise ValueError(f"'{text}' matches only the images of earlier runs' output "
                                 f"folders ({', '.join(map(str, dict.fromkeys(held.values())))}); "
                                 f"name one to restore its images.")
        else:
            raise ValueError(f"cannot read '{path}': no such file or folder.")
        jobs += [Job(source, out_dir / output_name(rel)) for source, rel in found]
    outputs = {_real(job.output) for job in jobs}
    for folder, images in searched:
        _refuse_photos_in_output(folder, out_dir, images, outputs)
    seen, unique = {}, []
    sources = {job.source.resolve(): job.source for job in jobs}
    # an input under another spelling of its path (a case-insensitive file system)
    held = {_alias_key(p): p for p in (*sources.values(), *others)}
    held.pop(None, None)
    top = out_dir.resolve()
    for job in jobs:
        real = job.output.resolve()  # (links followed: an output may lead onto an input)
        folder = job.output.parent.resolve()
        if folder != top and top not in folder.parents:
            # a link inside the output folder (one a downloaded folder brought along) had
            # sent the restorations into the folder it leads to
            raise ValueError(f"restoring '{job.source}' to '{job.output}' would write into "
                             f"'{folder}', outside the output folder '{out_dir}', through a "
                             f"link; remove the link or choose another output folder.")
        alias = held.get(_alias_key(job.output))
        if real in others or alias in others:
            raise ValueError(f"restoring '{job.source}' to '{job.output}' would overwrite an "
                             "input (--mask or --kernel); choose another output folder.")
        if real == job.source.resolve() or (alias is not None and alias == job.source):
            raise ValueError(f"restoring '{job.source}' into '{out_dir}' would overwrite it; "
                             "choose another output folder.")
        input_there = sources.get(real) or alias
        if input_there is not None:  # (a link in the output folder to another input)
            raise ValueError(f"restoring '{job.source}' to '{job.output}' would overwrite the "
                             f"input '{input_there}'; choose another output folder.")
        # (photo.PNG beside photo.jpg: one output on macOS and Windows, where one had
        # silently replaced the other)
        sharing = seen.setdefault(name_key(real), [])
        if all(other.source.resolve() != job.source.resolve() for other in sharing):
            sharing.append(job)
            unique.append(job)
        # else the same file named twice (a.png a.png): restored once
    for sharing in seen.values():
        # (a.jpg beside a.png: the whole folder had been refused for them) each fails, in a
        # line naming all that share its output (of three, the first had named the last
        # two), and the others are restored
        if len(sharing) > 1:
            names = [f"'{job.source}'" for job in sharing]
            problem = (f"{listed(names)} would both be restored to '{sharing[0].output}'; "
                       f"rename one or restore them separately." if len(names) == 2 else
                       f"{listed(names)} would all be restored to "
                       f"'{sharing[0].output}'; rename all but one or restore them separately.")
            for job in sharing:
                job.problem = problem
    if not jobs and empty:
        names = listed([f"'{d}'" for d in empty])
        hold = "folder" + (f" {names} holds" if len(empty) == 1 else f"s {names} hold")
        raise ValueError(f"the {hold} no image files ({', '.join(READABLE)}).")
    if not unique:  # (every input was the output folder, or inside it)
        raise ValueError(f"nothing to restore: the inputs hold no image files outside the "
                         f"output folder '{out_dir}'.")
    return sorted(unique, key=lambda j: str(j.source))


def _refuse_photos_in_output(folder: Path, out_dir: Path, images: list, outputs: set) -> None:
    """``ValueError`` (one sentence) when the output folder, inside the input ``folder``
    and not marked as a run's results, holds images that are not among this run's
    ``outputs`` (resolved): they would be left out unrestored, without a word (``-o
    photos/2024`` had restored photos/a.png among 2024's own photos, and not those). A
    rerun's outputs are its own."""
    if not _inside(out_dir, folder) or (out_dir / MARKER).is_file():
        return
    theirs = [f for f in images if _inside(f, out_dir) and _real(f) not in outputs]
    if theirs:
        more = f" and {len(theirs) - 1} more" if len(theirs) > 1 else ""
        raise ValueError(f"the output folder '{out_dir}' is inside '{folder}' and holds images "
                         f"of its own ('{theirs[0]}'{more}), which this run would leave out; "
                         f"choose an output folder outside '{folder}' or a new one.")


def _each_file_once(matches: list[Path], root: Path) -> list[Path]:
    """``matches`` in their order, each path once, less those reached through a linked
    folder below ``root`` whose file is also reached another way (``**`` follows links: a
    ``current -> .`` link in photos/ had restored each photo 40 times, into ever deeper
    folders, and a linked subfolder's photos twice, as a folder's search does not); of
    those only reached through links, the one through the fewest, then the shortest. A
    link to a file (an album's) stays, as in a folder's search.

    Example:
        >>> _each_file_once([Path("/nonexistent/a.png")] * 2, Path("/nonexistent"))
        [PosixPath('/nonexistent/a.png')]
    """
    # each path's way in: the linked folders it goes through, its length; and its file
    ways = {path: ((sum(folder.is_symlink() for folder in path.parents if root in folder.parents),
                    len(path.parts)), _real(path)) for path in matches}
    best: dict = {}  # each file's way in: through the fewest linked folders, the shortest
    for path, (way, real) in ways.items():
        if real not in best or way < best[real][0]:
            best[real] = (way, path)
    return [path for path, (way, real) in ways.items() if way[0] == 0 or best[real][1] == path]


def _under(path: Path, root: Path) -> Path:
    """``path`` relative to ``root`` as written, else its name (a pattern through a link)."""
    try:
        return path.relative_to(root)
    except ValueError:
        return Path(path.name)


def _pattern_root(pattern: str) -> Path:
    """The folder a glob pattern searches from: its leading parts without a wildcard.

    Example:
        >>> str(_pattern_root("photos/**/*.png")), str(_pattern_root("*.jpg"))
        ('photos', '.')
    """
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if _is_pattern(part)), len(parts))
    return Path(*parts[:fixed]) if fixed else Path(".")


def marked_folders(files: list[Path], root: Path) -> dict:
    """For each of ``files``, the folder between it and ``root`` (``root`` itself named:
    not counted) that an earlier run marked as its output (``MARKER``), or None.

    Example:
        >>> list(marked_folders([Path("/nonexistent/a/b.png")], Path("/nonexistent")).values())
        [None]
    """
    known: dict = {}

    def marked(folder: Path) -> Path | None:
        if folder == root or folder == folder.parent:
            return None
        if folder not in known:
            known[folder] = folder if (folder / MARKER).is_file() else marked(folder.parent)
        return known[folder]

    return {f: marked(f.parent) for f in files}


def files_under(root: Path, unsearched: list | None = None) -> list[Path]:
    """Every file under ``root``, sorted, through symlinked subfolders too (``rglob`` skips
    them: a linked folder of photos was left out without a word), each real folder once (a
    link back up would loop). A folder that cannot be listed is ``(folder, reason)`` in
    ``unsearched`` (it had been left out without a word).

    Example:
        >>> files_under(Path("/nonexistent"))
        []
    """
    seen, files = set(), []
    top = os.path.realpath(root)

    def unlisted(err: OSError) -> None:
        if unsearched is not None:
            unsearched.append((err.filename, os_reason(err)))

    for folder, subfolders, names in os.walk(root, onerror=unlisted, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []  # met before through another link: not again
            continue
        seen.add(real)
        # a link back up (to /, to a folder that holds this one) is no folder of photos: it
        # had walked the whole disk, into /proc, and ended the run; said as not searched
        up = [d for d in subfolders if _holds(os.path.join(folder, d), top)]
        # (a link to this folder itself, 'current -> .', leaves nothing out: it had been
        # said as a folder not searched, and the run's exit status was 1)
        if unsearched is not None:
            unsearched += [(os.path.join(folder, d), "a link to a folder that holds this one")
                           for d in up if os.path.realpath(os.path.join(folder, d)) != top]
        subfolders[:] = [d for d in subfolders if d not in up]
        # real folders before links, by name: a folder met twice keeps its own name, on
        # every filesystem (os.walk's order is the directory's)
        subfolders.sort(key=lambda d: (os.path.islink(os.path.join(folder, d)), d))
        files += [Path(folder) / name for name in names]
    return sorted(files)


def _holds(link: str, top: str) -> bool:
    """Whether ``link`` is a symlink to ``top`` or to a folder above it."""
    if not os.path.islink(link):
        return False
    real = os.path.realpath(link)
    try:
        return os.path.commonpath([real, top]) == real
    except ValueError:  # (Windows: a link to another drive; it had refused the whole run)
        return False


def _alias_key(path) -> tuple | None:
    """Where ``path`` is: its folder's (device, inode) and its name as this platform's file
    systems tell names apart (``io.name_key``). One key for one file under two spellings
    (``PHOTOS/a.png`` for ``photos/a.png`` on macOS, where ``-o PHOTOS --force`` had written
    over the inputs; a bind mount), not for a hard link, which a restoration replaces
    leaving the other name's file as it was; None where its folder is not there."""
    path = Path(path)
    try:
        st = os.stat(path.parent)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino, name_key(path.name)


def holds_images(folder: Path) -> bool:
    """Whether ``folder`` holds image files (as a folder's search finds them: hidden ones
    not), searched recursively.

    Example:
        >>> holds_images(Path("/nonexistent"))
        False
    """
    return any(_is_image(f, folder) for f in files_under(folder))


def _is_image(path: Path, root: Path, unsearched: list | None = None) -> bool:
    rel = path.relative_to(root)
    try:
        regular = path.is_file()
    except OSError as err:  # (a link into /proc/1/cwd: PermissionError had ended the run)
        if unsearched is not None:  # said as a folder not searched; the others go on
            unsearched.append((str(path), os_reason(err)))
        return False
    return regular and path.suffix.lower() in READABLE and not is_hidden(rel)


def _inside(path: Path, folder: Path) -> bool:
    return _real(folder) in _real(path).parents


def _real(path: Path) -> Path:
    """``path`` resolved, links followed; as written where a link on it may not be followed
    (into /proc/1/cwd: PermissionError)."""
    try:
        return Path(path).resolve()
    except OSError:
        return Path(os.path.abspath(path))


# a write that fails so fails for every file after it: the run stops instead of restoring
# each remaining file (hours, for a network prior) only to throw it away (not EFBIG: a
# file-size limit refuses the large files only)
WHOLE_DISK = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
PER_FILE = {errno.EFBIG, errno.ENAMETOOLONG}
# a folder's own refusal: its other files fail without being restored, the others go on (one
# read-only subfolder had stopped the whole run, and a rerun stopped there again)
PER_FOLDER = {errno.EACCES, errno.EPERM}


class _Stop(Exception):
    """No more output can be written: the folder run stops (its files are left for a rerun)."""


def output_name(rel: Path) -> Path:
    """The output's relative path: the input's, as PNG unless its format is lossless (a
    JPEG's restoration is not put through JPEG again).

    Example:
        >>> str(output_name(Path("scans/a.tif"))), str(output_name(Path("photo.JPG")))
        ('scans/a.tif', 'photo.png')
    """
    return rel if rel.suffix.lower() in LOSSLESS else rel.with_suffix(".png")


def restore_files(jobs: list[Job], prepare: Callable, restore: Callable, *, force: bool,
                  world=None, progress: bool = True, max_values: int | None = None,
                  say: Callable = print, worded: Callable = str) -> Tally:
    """Restore this rank's share of ``jobs`` and return the tally of all ranks.

    Args:
        jobs: from ``find_jobs``.
        prepare: ``prepare(source) -> (key, item)``: read and check one file; items with the
            same ``key`` (e.g. shape and operator) may be restored together. A ``ValueError``
            fails this file only.
        restore: ``restore(items) -> [(image (1, C, H, W), psnr or None[, limited])]`` for
            a list of items of one key (``limited``: the time limit ended it, counted); a
            ``ValueError``, ``RuntimeError`` (CUDA out of memory is one) or
            ``MemoryError`` fails those files, and the run goes on. A write that fails
            for the whole disk (full, read-only, over quota), or two writes in a row that
            fail, stop the run: the files not reached are counted in ``Tally.left``. A folder
            that refuses a write (permission) fails its other files without restoring them.
        force: restore files whose output exists too (else they are skipped).
        world: ``distributed.World`` (default: one process).
        max_values: the most values (items x their size) restored together (default: the
            priors' own ``GROUP_VALUES``, so that a folder batch is one group there).
        say: where the one-line messages for failed files go.
        worded: an error's text as said (the command line's names its flags: ``cli.as_flags``,
            given the message alone, never the file's path).
    """
    from tqdm.auto import tqdm

    from .distributed import World, all_sum
    from .io import (CannotWrite, OutputExists, bits_to_write, colour_profile, is_special,
                     pixel_size_of, write_image)
    from .priors.base import GROUP_VALUES
    from .sharing import share

    world, max_values = world or World(), max_values or GROUP_VALUES
    start, tally = time.perf_counter(), Tally()
    mine = share(jobs, world, force)  # (same-size neighbours; even shares)
    bar = tqdm(total=len(mine), desc="files", unit="file", **bar_options(progress))
    pending: list = []  # (job, key, item) waiting to be restored together
    unwritten = [0]  # writes that failed in a row
    refused: dict = {}  # output folder -> why it refused a write (PER_FOLDER)
    reached = 0  # the files from mine[reached] on are not reached when the run stops

    def fail(job, err):
        tally.failed += 1
        message = worded(str(out_of_memory(err) or err))
        # a message that names the file already ("cannot read 'a.png': ...") says it once
        named = f"'{job.source}'" in message
        say(f"failed: {message}" if named else f"failed: {job.source}: {message}")

    def refusing(job) -> bool:
        """Whether ``job``'s output folder (or one above it) refused a write: then it fails,
        not restored."""
        folder = next((f for f in (job.output.parent, *job.output.parent.parents)
                       if f in refused), None)
        if folder is None:
            return False
        fail(job, f"not restored: the output folder '{folder}' refused a write "
                  f"({refused[folder]})")
        bar.update(1)
        return True

    def written_meanwhile(job) -> bool:
        """Whether another run wrote ``job``'s output since it was read: skipped, not
        restored (two runs of one folder had each restored nearly all of it)."""
        if force or not os.path.lexists(job.output):
            return False
        tally.skipped += 1
        bar.update(1)
        return True

    def flush():
        batch = [entry for entry in pending
                 if not refusing(entry[0]) and not written_meanwhile(entry[0])]
        pending.clear()
        if not batch:
            return
        # the file(s) at work, on the bar (a log's lines had never named one)
        bar.set_postfix_str(batch[0][0].source.name + (f" +{len(batch) - 1}" if len(batch) > 1
                                                        else ""), refresh=False)
        try:
            outputs = restore([entry[2] for entry in batch])
        except (ValueError, RuntimeError, MemoryError) as err:  # e.g. out of (GPU) memory
            for job, _, _ in batch:
                fail(job, err)
            bar.update(len(batch))
            return
        for n, ((job, _, _), (image, quality, *limited)) in enumerate(zip(batch, outputs)):
            # (--force into a folder that takes writes: a refusal is that file's own)
            replacing = os.path.lexists(job.output) and os.access(job.output.parent, os.W_OK)
            try:
                # (not overwrite=True: an output that another run wrote meanwhile is kept)
                write_image(job.output, image, overwrite=force,
                            bits=bits_to_write(job.source, job.output, image),
                            profile=colour_profile(job.source),
                            tiff_tags=pixel_size_of(job.source, image))
                tally.done += 1
                tally.limited += bool(limited and limited[0])
                unwritten[0] = 0
                if quality is not None:
                    tally.psnrs.append(quality)
            except OutputExists:
                tally.skipped += 1
                say(f"skipped: {job.output} appeared while {job.source} was restored (kept).")
            except CannotWrite as err:
                fail(job, err)
                # (a file-size limit, a link to a device such as /dev/full: that file's alone)
                if err.errno in PER_FILE or is_special(job.output) or (
                        err.errno in PER_FOLDER and replacing):  # (a sticky folder, a locked file)
                    continue
                if err.errno in PER_FOLDER:  # (the folder that refused: the nearest there)
                    there = next((f for f in (job.output.parent, *job.output.parent.parents)
                                  if os.path.isdir(f)), job.output.parent)
                    refused.setdefault(there, os.strerror(err.errno).lower())
                    continue
                unwritten[0] += 1
                if err.errno in WHOLE_DISK or unwritten[0] >= 2:
                    bar.update(len(batch))
                    # (the batch's other files are restored but cannot be written either)
                    tally.left += len(batch) - n - 1
                    raise _Stop from err
            except (ValueError, OSError) as err:
                fail(job, err)
        bar.update(len(batch))

    try:
        for reached, job in enumerate(mine):
            if job.problem:
                fail(job, job.problem)
                bar.update(1)
                continue
            try:
                there = job.output.is_dir()
            except OSError as err:  # (a folder on its way we may not search: PermissionError)
                fail(job, f"cannot reach '{job.output}': {os_reason(err)}")
                bar.update(1)
                continue
            if there:  # (counted as an output there: skipped, never restored)
                fail(job, f"the output '{job.output}' is a folder")
                bar.update(1)
                continue
            # (a dangling link there too: restored, it was thrown away at the write)
            if os.path.lexists(job.output) and not force:
                tally.skipped += 1
                bar.update(1)
                continue
            if refusing(job):
                continue
            try:
                key, entry = prepare(job.source)
            except (ValueError, MemoryError) as err:
                fail(job, err)
                bar.update(1)
                continue
            if pending and (pending[0][1] != key or
                            (len(pending) + 1) * _values(entry) > max_values):
                flush()
            pending.append((job, key, entry))
        reached = len(mine)
        flush()
    except KeyboardInterrupt:  # what is pending is not written: a rerun restores it
        tally.interrupted = True
        tally.unreached = len(mine) - tally.done - tally.skipped - tally.failed
    except _Stop:
        tally.left += len(mine) - reached
    finally:
        bar.close()
    tally.seconds = time.perf_counter() - start
    try:
        counts = all_sum(torch.tensor([tally.done, tally.skipped, tally.failed, tally.left,
                                       tally.limited, tally.unreached], dtype=torch.float64), world)
        tally.psnrs = _gather(tally.psnrs, world)
    except (KeyboardInterrupt, RuntimeError) as err:
        # Ctrl-C reaches every rank: one that had finished its share leaves the sum, and the
        # others find it closed (rank 0 had ended in a traceback, without its summary): each
        # counts its own files
        if world.size == 1 or not (tally.interrupted or isinstance(err, KeyboardInterrupt)):
            raise
        tally.interrupted = True
        return tally
    tally.done, tally.skipped, tally.failed, tally.left, tally.limited, tally.unreached = (
        int(v) for v in counts.tolist())
    if tally.left and world.rank == 0:  # (once, with every rank's count)
        say(f"stopped: no output can be written ({tally.left} file{'s' * (tally.left != 1)} "
            "not reached); free space or fix the output folder, then run the same command "
            "again to resume.")
    return tally


def _values(entry) -> int:
    """How many values an item holds (its observation's size)."""
    y = entry[0] if isinstance(entry, tuple) else entry
    return y.numel() if isinstance(y, torch.Tensor) else 1


def _gather(values: list, world) -> list:
    """Every rank's list of floats, on every rank."""
    if world.size == 1:
        return values
    import torch.distributed as dist

    lists = [None] * world.size
    dist.all_gather_object(lists, values)
    return [v for part in lists for v in part]
