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

Each rule watches a stack of ``B`` runs at once (one for ``fit``, a batch for
``fit_stacked``) and keeps its state on their device, so that watching costs no host sync:
``update(step, x, ema, residual)`` takes the raw and averaged outputs ``(B, C, H, W)`` and
returns ``(improved, stop)``, two ``(B,)`` bool tensors: whether this step's averaged output
is the one to return (so far), and whether the run should stop. ``signal`` lists what it
watched, one ``(B,)`` tensor per check.
"""

from __future__ import annotations

from collections import deque

import torch

RULES = ("auto", "wmv", "discrepancy", "none")


class NoStop:
    """Run to the iteration cap; return the last averaged output."""

    name = "none"

    def __init__(self):
        self.signal = []

    def update(self, step, x, ema, residual) -> tuple[torch.Tensor, torch.Tensor]:
        every = torch.ones(len(ema), dtype=torch.bool, device=ema.device)
        return every, ~every


class WindowedVariance(NoStop):
    """ES-WMV: stop ``patience`` steps after the windowed output variance stopped falling.

    The window's sum and sum of squares are kept in float64 so each step costs two image
    additions, not a pass over the window.

    Example:
        >>> rule = WindowedVariance(window=3, patience=2)
        >>> x = lambda i: torch.full((1, 1, 2, 2), float(i % 2))
        >>> [bool(rule.update(i, x(i), x(i), None)[1]) for i in range(8)][-1]
        True
        >>> rule, still = WindowedVariance(window=2, patience=3), torch.zeros(1, 1, 2, 2)
        >>> [bool(rule.update(i, still, still, None)[1]) for i in range(6)]  # best at step 1
        [False, False, False, False, True, True]
    """

    name = "wmv"

    def __init__(self, window: int = 100, patience: int = 300):
        super().__init__()
        if window < 2 or patience < 1:
            raise ValueError("the early-stopping window must be >= 2 and patience >= 1.")
        self.window, self.patience = window, patience
        self.frames: deque = deque()
        self.sum = self.sumsq = self.best_var = self.best_step = None

    def update(self, step, x, ema, residual) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach().double()
        if self.sum is None:
            self.sum, self.sumsq = torch.zeros_like(x), torch.zeros_like(x)
            self.best_var = torch.full((len(x),), torch.inf, dtype=x.dtype, device=x.device)
            self.best_step = torch.zeros(len(x), dtype=torch.long, device=x.device)
        self.frames.append(x)
        self.sum += x
        self.sumsq += x * x
        if len(self.frames) > self.window:
            old = self.frames.popleft()
            self.sum -= old
            self.sumsq -= old * old
        if len(self.frames) < self.window:  # nothing to judge yet: follow the run
            self.best_step.fill_(step)
            return super().update(step, x, ema, residual)
        n = len(self.frames)
        var = (self.sumsq / n - (self.sum / n) ** 2).clamp_min(0).flatten(1).mean(1)
        self.signal.append(var)
        improved = var < self.best_var
        self.best_var = torch.where(improved, var, self.best_var)
        self.best_step = torch.where(improved, step, self.best_step)
        return improved, step - self.best_step >= self.patience


class Discrepancy(NoStop):
    """Stop when the averaged estimate's residual reaches ``tau * sigma**2`` (checked every
    ``every`` steps); return that estimate.

    Example:
        >>> rule = Discrepancy(sigma=0.1, every=1)
        >>> x = torch.zeros(1, 1, 2, 2)
        >>> [bool(rule.update(i, x, x, lambda: torch.tensor([r]))[1]) for i, r in enumerate((0.02, 0.009))]
        [False, True]
    """

    name = "discrepancy"

    # tau < 1: the averaged output lags the raw one, and on the denoising benchmark case
    # (camera, sigma 25/255) the PSNR peak came at a residual of 0.96 sigma^2
    def __init__(self, sigma, tau: float = 0.95, every: int = 10):
        """``sigma``: the noise level, or one per run ``(B,)`` (a run at 0 never stops)."""
        super().__init__()
        if isinstance(sigma, torch.Tensor):
            sigma = sigma.double()
            self.threshold = torch.where(sigma > 0, tau * sigma**2, -torch.inf)
        else:
            self.threshold = tau * sigma**2
        self.every = every

    def update(self, step, x, ema, residual) -> tuple[torch.Tensor, torch.Tensor]:
        improved, stop = super().update(step, x, ema, residual)
        if step % self.every:
            return improved, stop
        value = residual()
        self.signal.append(value)
        return improved, value.double() <= torch.as_tensor(self.threshold, device=value.device)


NEEDS_LEVEL = ("the discrepancy rule needs the noise level, and none was given or read off y: "
               "give it (noise_level=0.01, say), or stop='wmv'.")


def make_rule(cfg) -> NoStop:
    """The stopping rule named by ``cfg.stop`` (``auto`` resolved by the caller)."""
    if cfg.stop == "wmv":
        return WindowedVariance(cfg.window, cfg.patience)
    if cfg.stop == "discrepancy":
        if cfg.noise_level is None:
            raise ValueError(NEEDS_LEVEL)
        if isinstance(cfg.noise_level, torch.Tensor):  # one per run (fit_stacked)
            return Discrepancy(cfg.noise_level)
        return Discrepancy(cfg.noise_level) if cfg.noise_level > 0 else NoStop()
    if cfg.stop == "none":
        return NoStop()
    raise ValueError(f"unknown stopping rule '{cfg.stop}'; choose one of {', '.join(RULES)}.")
