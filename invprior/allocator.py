"""Keep the network's freed memory in the process instead of handing it back to the system.

glibc's ``malloc`` serves blocks over its mmap threshold (at most 32 MiB by default) with
fresh pages from the kernel and unmaps them on ``free``. The denoiser's activations reach
that size (four 256x256 planes at 32 channels: 32 MiB a tensor), so each of its calls used
to page-fault much of its memory back in: on 2 CPU threads, plug-and-play
deblurring of a folder of four 256x256 RGB photos spent 26 of its 120 CPU seconds in the
kernel. Raising the mmap threshold to 64 MiB and the trim threshold to the CPU tile budget
(``tiles.CPU_BUDGET_BYTES``, which bounds the network's memory per call) lets ``free`` keep
those blocks for the next call (PyTorch's CPU tuning guide recommends a caching ``malloc``
such as jemalloc for the same reason): that folder 62 -> 43 s, one photo's command 14.9 ->
13.4 s (median of 4 paired runs), two deblurring iterations of a 4-megapixel photo 117 ->
89 s. The results are the same to the bit. The peak memory grows a little, as freed blocks
wait for reuse (that 4-megapixel photo: 1.04 -> 1.24 GiB; a 12-megapixel one 2.6 GiB, 3.1
with the mmap threshold at 256 MiB, where its whole-image arrays stayed in the heap too).

The command-line tools call ``keep_freed_memory()`` once at start; a Python user may too (it
changes the whole process's allocator, so the library does not do it on import).

Example:
    >>> import platform
    >>> keep_freed_memory() == (platform.libc_ver()[0] == "glibc")  # True on glibc's Linux
    True
"""

from __future__ import annotations

import ctypes
import sys

from .tiles import CPU_BUDGET_BYTES

__all__ = ["keep_freed_memory"]

# mallopt's parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(block: int = 64 << 20, keep: int = CPU_BUDGET_BYTES) -> bool:
    """Let ``malloc`` serve blocks of up to ``block`` bytes from its heap and keep up to
    ``keep`` bytes freed there for reuse (Linux, glibc); ``True`` when the C library took
    the settings."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    return mallopt(M_MMAP_THRESHOLD, block) == 1 and mallopt(M_TRIM_THRESHOLD, keep) == 1
