"""What a network prior will cost before it starts: memory and time for an image size.

The deep image prior and the deep decoder fit one network to the whole image, so they
cannot run on tiles: their memory grows with the pixel count (autograd keeps every
activation) and each step touches every pixel. ``estimate`` measures both on a small probe
of the same network (one forward pass counted with hooks, one timed step) and scales them
by the pixel count; ``NetworkPrior`` refuses an image that would not fit in the free memory
with one sentence, and says how long a long run will take.

Measured on this 2-core CPU (one thread, peak RSS over four Adam steps, RGB): the CPU deep
image prior holds 2460-2880 bytes per pixel for 338 activation values per pixel, the deep
decoder 2220-3290 for 472, so ``BYTES_PER_ACTIVATION = 8`` (the float and its gradient)
covers both.

Example:
    >>> from invprior.priors.generator import make_generator
    >>> cost = estimate(lambda shape: make_generator("decoder", shape), (3, 512, 512), iters=10)
    >>> cost.bytes > 512 * 512 * 4 * 100, cost.seconds > 0
    (True, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checks import cuda_free_bytes

__all__ = ["Cost", "estimate", "free_memory", "describe_seconds"]

BYTES_PER_ACTIVATION = 8
PROBE = 128  # side of the probe image


@dataclass
class Cost:
    """Estimated peak memory (bytes) and time (seconds for all iterations)."""

    bytes: float
    seconds: float


def estimate(build, shape: tuple, *, iters: int, device: torch.device | str = "cpu") -> Cost:
    """Memory and time of ``iters`` steps for images ``shape`` ``(C, H, W)``; ``build(shape)``
    makes the generator (on ``device``) for a given shape."""
    c, h, w = shape
    ph, pw = min(h, PROBE), min(w, PROBE)
    probe = build((c, ph, pw))
    values = [0]

    def count(module, inputs, output):
        values[0] += output.numel()

    hooks = [m.register_forward_hook(count) for m in probe.modules() if not list(m.children())]
    try:  # the first step counts the activations and pays for allocation and kernel choice
        _timed_step(probe, device)
    finally:
        for hook in hooks:
            hook.remove()
    seconds = _timed_step(probe, device)
    scale = (h * w) / (ph * pw)
    params = sum(p.numel() for p in probe.parameters())
    # activations and their gradients grow with the image; weights, gradients and Adam's
    # two moments do not
    need = BYTES_PER_ACTIVATION * values[0] * scale + 16 * params
    return Cost(bytes=need, seconds=seconds * scale * iters)


def _timed_step(probe, device) -> float:
    """Seconds of one forward and backward pass of ``probe``."""
    start = time.perf_counter()
    probe.render(jitter=True).square().mean().backward()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def free_memory(device: torch.device | str) -> float | None:
    """Bytes free on ``device``: CUDA's free memory, or the system's available memory
    (``/proc/meminfo``; None where it cannot be read)."""
    device = torch.device(device)
    if device.type == "cuda":
        return float(cuda_free_bytes(device))
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def duration_words(seconds: float, limit: float | None = None) -> str | None:
    """How long a run of about ``seconds`` will take under a time ``limit``, for its one-line
    announcement; None when that is a minute or less (nothing worth saying). A run the limit
    ends is said so (a 3 s run had been announced as "about 5 minutes").

    Example:
        >>> duration_words(1800), duration_words(1800, 30)
        ('about 30 minutes', None)
        >>> duration_words(1800, 120)
        'up to 2 minutes (the time limit; the whole run: about 30 minutes)'
    """
    if limit is not None and limit < seconds:
        return (f"up to {describe_seconds(limit)} (the time limit; the whole run: about "
                f"{describe_seconds(seconds)})" if limit > 60 else None)
    return f"about {describe_seconds(seconds)}" if seconds > 60 else None


def describe_seconds(seconds: float) -> str:
    """``"40 s"``, ``"12 minutes"``, ``"3.5 hours"``.

    Example:
        >>> describe_seconds(40), describe_seconds(720), describe_seconds(12600)
        ('40 s', '12 minutes', '3.5 hours')
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
