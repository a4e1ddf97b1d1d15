"""Which files of a folder run a process restores, and in which order.

A folder run batches neighbours of one size (``folders.restore_files``), so the files are
ordered by their size read off each header (no pixels decoded), then by name: in name order,
a folder whose sizes alternate had gone one image at a time (300 RGB files of 32x32 and
48x48: 300 network calls and 18.9 s, against 2 calls and 8.6 s grouped). Under torchrun the
pixels to restore are dealt out evenly: largest first, each to the process with the least
so far. By position (``jobs[rank::size]``), ``a.png`` beside its thumbnail ``a_thumb.png``
had sent every photo to one process while the others waited, past the process group's
timeout on large photos.

Example:
    >>> from types import SimpleNamespace as Job
    >>> jobs = [Job(source=f"{n}.png", output=f"out/{n}.png", problem=None) for n in "abcd"]
    >>> [job.source for job in share(jobs, rank=0, size=2, force=True)]  # (no such files)
    ['a.png', 'c.png']
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["share", "header_size"]


def share(jobs: list, rank: int = 0, size: int = 1, force: bool = False) -> list:
    """The jobs (``folders.Job``) process ``rank`` of ``size`` restores, same-size images
    next to each other (then by their order in ``jobs``). A job with nothing to restore (its
    output there and not ``force``, or a ``problem``) weighs nothing in the deal."""
    sizes = [header_size(job.source) for job in jobs]
    picked = range(len(jobs))
    if size > 1:
        load, picked = [0] * size, []
        work = [0 if job.problem or (not force and os.path.lexists(job.output))
                else (s[0] * s[1] if s else 1) for job, s in zip(jobs, sizes)]
        # (sorted stably, the same on every process: each deals alike and takes its own)
        for i in sorted(range(len(jobs)), key=lambda i: -work[i]):
            least = min(range(size), key=lambda r: (load[r], r))
            load[least] += work[i] + 1  # (+1: a file costs something whatever its size)
            if least == rank:
                picked.append(i)
    return [jobs[i] for i in sorted(picked, key=lambda i: (sizes[i] is None, sizes[i] or (), i))]


def header_size(path) -> tuple | None:
    """``(H, W, kind)`` of the image file at ``path`` from its header (``kind``: its
    channels as the header says them, e.g. ``"RGB"``), or None where it cannot be read
    (the run then says why, when it reads the file).

    Example:
        >>> import tempfile, numpy as np
        >>> path = Path(tempfile.mkdtemp()) / "x.npy"
        >>> np.save(path, np.zeros((4, 6, 3), np.float32))
        >>> header_size(path)
        (4, 6, '3')
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".npy", ".tif", ".tiff"):
            shape = _array_shape(path, suffix)
            return (shape[0], shape[1], "x".join(map(str, shape[2:]))) if len(shape) >= 2 else None
        from PIL import Image

        with Image.open(path) as probe:  # the header only
            return probe.height, probe.width, probe.mode
    except Exception:  # an unreadable file: read (and refused) in its turn
        return None


def _array_shape(path: Path, suffix: str) -> tuple:
    """The shape an .npy file's header or a TIFF's first page declares."""
    if suffix == ".npy":
        from numpy.lib import format as npy

        with open(path, "rb") as f:
            major, _ = npy.read_magic(f)
            read = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
            return read(f)[0]
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return tif.pages[0].shape
