"""Early stopping without the clean image.

Deep-image-prior first fits the image's structure, then the noise, so the last iterate of a
long run is worse than an intermediate one. Two rules that need no clean image:

* ``wmv`` — windowed moving variance (ES-WMV, Wang et al. 2021): the variance of the
  outputs over a sliding window falls while the network learns structure and rises once it
  fits noise; return the output where it was lowest, stop ``patience`` steps later.
* ``discrepancy`` — Morozov's discrepancy principle: once the averaged estimate explains
  the observation down to the noise level (mean squared residual <= tau * sigma^2), any
  further fitting fits noise; stop and return it. Needs the noise level (given, or
  estimated from ``y`` by ``noise_level.estimate_noise``).

Each rule has ``update(step, x, ema, residual) -> stop?``, ``best_step`` (the step whose
averaged output to return; -1 while undecided) and ``signal`` (what it watched).
"""

from __future__ import annotations

from collections import deque

import torch

RULES = ("auto", "wmv", "discrepancy", "none")


class NoStop:
    """Run to the iteration cap; return the last averaged output."""

    name = "none"

    def __init__(self):
        self.best_step, self.signal = -1, []

    def update(self, step, x, ema, residual) -> bool:
        self.best_step = step
        return False


class WindowedVariance(NoStop):
    """ES-WMV: stop ``patience`` steps after the windowed output variance stopped falling.

    The window's sum and sum of squares are kept in float64 so each step costs two image
    additions, not a pass over the window.

    Example:
        >>> rule = WindowedVariance(window=3, patience=2)
        >>> x = lambda i: torch.full((1, 1, 2, 2), float(i % 2))
        >>> [rule.update(i, x(i), x(i), None) for i in range(8)][-1]
        True
    """

    name = "wmv"

    def __init__(self, window: int = 100, patience: int = 300):
        super().__init__()
        if window < 2 or patience < 1:
            raise ValueError("the early-stopping window must be >= 2 and patience >= 1.")
        self.window, self.patience = window, patience
        self.frames: deque = deque()
        self.sum = self.sumsq = None
        self.best_var = float("inf")

    def update(self, step, x, ema, residual) -> bool:
        x = x.detach().double()
        if self.sum is None:
            self.sum, self.sumsq = torch.zeros_like(x), torch.zeros_like(x)
        self.frames.append(x)
        self.sum += x
        self.sumsq += x * x
        if len(self.frames) > self.window:
            old = self.frames.popleft()
            self.sum -= old
            self.sumsq -= old * old
        if len(self.frames) < self.window:
            self.best_step = step  # nothing to judge yet: follow the run
            return False
        n = len(self.frames)
        var = (self.sumsq / n - (self.sum / n) ** 2).clamp_min(0).mean().item()
        self.signal.append(var)
        if var < self.best_var:
            self.best_var, self.best_step = var, step
        return step - self.best_step >= self.patience


class Discrepancy(NoStop):
    """Stop when the averaged estimate's residual reaches ``tau * sigma**2`` (checked every
    ``every`` steps); return that estimate.

    Example:
        >>> rule = Discrepancy(sigma=0.1, every=1)
        >>> rule.update(0, None, None, lambda: 0.02), rule.update(1, None, None, lambda: 0.009)
        (False, True)
    """

    name = "discrepancy"

    # tau < 1: the averaged output lags the raw one, and on the denoising benchmark case
    # (camera, sigma 25/255) the PSNR peak came at a residual of 0.96 sigma^2
    def __init__(self, sigma: float, tau: float = 0.95, every: int = 10):
        super().__init__()
        self.threshold, self.every = tau * sigma**2, every

    def update(self, step, x, ema, residual) -> bool:
        self.best_step = step
        if step % self.every:
            return False
        value = residual()
        self.signal.append(value)
        return value <= self.threshold


def make_rule(cfg) -> NoStop:
    """The stopping rule named by ``cfg.stop`` (``auto`` resolved by the caller)."""
    if cfg.stop == "wmv":
        return WindowedVariance(cfg.window, cfg.patience)
    if cfg.stop == "discrepancy":
        if cfg.noise_level is None:
            raise ValueError("the discrepancy rule needs the noise level.")
        return Discrepancy(cfg.noise_level) if cfg.noise_level > 0 else NoStop()
    if cfg.stop == "none":
        return NoStop()
    raise ValueError(f"unknown stopping rule '{cfg.stop}'; choose one of {', '.join(RULES)}.")
