"""torch.distributed plumbing: one process per rank under ``torchrun`` (training and folders).

``torchrun --nproc_per_node=N -m invprior.train ...`` (or ``-m invprior.solve`` on a folder)
sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; without them a run is a single process
(world 1) and every collective here is the identity. CPU ranks talk over gloo, CUDA ranks over nccl.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

import torch
import torch.distributed as dist

# how long a failing rank other than 0 waits before it ends, so that rank 0 can say why
LAST_WORD_SECONDS = 2.0


@dataclass
class World:
    """This process's place in the run: ``rank`` of ``size`` processes, on ``device``."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """True on rank 0, the one that prints and writes checkpoints."""
        return self.rank == 0


def launched_size() -> int:
    """How many processes torchrun started (its ``WORLD_SIZE``; 1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_main() -> bool:
    """True unless torchrun started this process as a rank other than 0 (its ``RANK``):
    known before the process group starts, e.g. to print an error from one rank only."""
    return int(os.environ.get("RANK", "0")) == 0


def start(device: torch.device) -> World:
    """Join the process group when launched by torchrun; else a world of one.

    Example:
        >>> start(torch.device("cpu")).size  # doctest: +SKIP
        1
    """
    size = launched_size()
    if size <= 1:
        return World(0, 1, device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        # (the default 30 minutes had ended a run whose ranks finish apart by longer: large
        # photos on a CPU; a rank that dies is noticed by torchrun at once, whatever this is)
        dist.init_process_group(backend=backend, timeout=timedelta(days=7))
    rank = dist.get_rank()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return World(rank, dist.get_world_size(), device)


def stop(world: World) -> None:
    """Leave the process group (if any)."""
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def broadcast(value, world: World):
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if world.size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(t: torch.Tensor, world: World) -> torch.Tensor:
    """Sum of ``t`` over all ranks, on ``t``'s device (reduced on the world's: nccl serves
    CUDA tensors only, and a folder run's CPU tally had failed at its end under it)."""
    if world.size > 1:
        on = t.to(world.device)
        dist.all_reduce(on, op=dist.ReduceOp.SUM)
        return on.to(t.device)
    return t


def gather_rows(local: torch.Tensor, count: int, world: World) -> torch.Tensor:
    """Rows of a strided shard (rank ``r`` holds rows ``r, r + size, ...``) -> all ``count`` rows.

    Done as a sum of zero-padded copies, which is exact (x + 0 = x) and needs no
    equal shard sizes.
    """
    full = local.new_zeros(count, *local.shape[1:])
    full[world.rank :: world.size] = local
    return all_sum(full, world)


def barrier(world: World) -> None:
    """Wait for every rank (e.g. until rank 0 has written a checkpoint)."""
    if world.size > 1:
        dist.barrier()


def leave(code: int) -> NoReturn:
    """End the command with exit status ``code``; a torchrun rank skips Python's finalisation.

    Why: after ``destroy_process_group`` a gloo rank sometimes aborted while the interpreter
    finalised (SIGABRT from a C++ thread, "terminate called without an active exception";
    torch 2.13, two-rank training beside two busy processes on 2 CPU cores: 2 runs in 27,
    none in 75 with this; once in CI). By then every output is written and closed, so
    skipping finalisation loses nothing; what was printed is flushed first.

    Example:
        >>> leave(0)  # doctest: +SKIP
    """
    if launched_size() > 1:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # (closed before the start: >&-)
                stream.flush()
        if code and not launched_main():
            # rank 0 says the error that every rank found (once); torchrun stops the other
            # ranks as soon as one ends badly, and had stopped rank 0 before it said it
            time.sleep(LAST_WORD_SECONDS)
        os._exit(code)
    sys.exit(code)
