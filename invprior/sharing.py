"""Which files of a folder run a process restores, and in which order.

A folder run batches neighbours of one size (``folders.restore_files``), so the files are
ordered by their size read off each header (no pixels decoded), then by name: in name order,
a folder whose sizes alternate had gone one image at a time (300 RGB files of 32x32 and
48x48: 300 network calls and 19.0 s, against 2 calls and 7.9 s grouped). Under torchrun the
pixels to restore are dealt out evenly: largest first, each to the process with the least
so far. By position (``jobs[rank::size]``), ``a.png`` beside its thumbnail ``a_thumb.png``
had sent every photo to one process while the others waited, past the process group's
timeout on large photos. The deal is made once, by rank 0, and sent to the others: each
dealing from what it saw of the folder had left a file to no process, where one wrote an
output before another had dealt.

Example:
    >>> from types import SimpleNamespace as Job
    >>> jobs = [Job(source=f"{n}.png", output=f"out/{n}.png", problem=None) for n in "abcd"]
    >>> deal(jobs, size=2, force=True)  # (no such files: each weighs alike)
    [[0, 2], [1, 3]]
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["share", "deal", "header_size"]

EXIF_ORIENTATION = 0x0112  # the EXIF tag of how a photo is turned


def share(jobs: list, world=None, force: bool = False) -> list:
    """The jobs (``folders.Job``) this process (``world``, a ``distributed.World``; None:
    the only one) restores, in order: ``deal`` made on rank 0, sent to every rank."""
    from .distributed import World, broadcast

    world = world or World()
    dealt = deal(jobs, world.size, force) if world.rank == 0 else None
    return [jobs[i] for i in broadcast(dealt, world)[world.rank]]


def deal(jobs: list, size: int = 1, force: bool = False) -> list[list[int]]:
    """For each of ``size`` processes, the indices of the ``jobs`` it restores, same-size
    images next to each other (then in ``jobs``' order); the pixels to restore dealt evenly
    (a job with nothing to restore, its output there and not ``force`` or a ``problem``,
    weighs nothing)."""
    sizes = [header_size(job.source) for job in jobs]
    work = [0 if job.problem or (not force and os.path.lexists(job.output))
            else (s[0] * s[1] if s else 1) for job, s in zip(jobs, sizes)]
    load, hands = [0] * size, [[] for _ in range(size)]
    for i in sorted(range(len(jobs)), key=lambda i: -work[i]):  # (stable: ties by order)
        least = min(range(size), key=lambda r: (load[r], r))
        load[least] += work[i] + 1  # (+1: a file costs something whatever its size)
        hands[least].append(i)
    return [sorted(hand, key=lambda i: (sizes[i] is None, sizes[i] or (), i)) for hand in hands]


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
        if suffix == ".npy":
            shape = _npy_shape(path)
            return (shape[0], shape[1], "x".join(map(str, shape[2:]))) if len(shape) >= 2 else None
        if suffix in (".tif", ".tiff"):  # (the page's own size: a planar or stacked file's
            import tifffile  # shape begins with its planes)

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                return page.imagelength, page.imagewidth, str(page.samplesperpixel)
        from PIL import Image

        with Image.open(path) as probe:  # the header only
            h, w = probe.height, probe.width
            # turned upright as it is read (a phone's portrait photo is stored landscape)
            if probe.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                h, w = w, h
            return h, w, probe.mode
    except Exception:  # an unreadable file: read (and refused) in its turn
        return None


def _npy_shape(path: Path) -> tuple:
    """The shape an .npy file's header declares."""
    from numpy.lib import format as npy

    with open(path, "rb") as f:
        major, _ = npy.read_magic(f)
        read = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
        return read(f)[0]
