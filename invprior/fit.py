"""The optimisation loop of the network priors: fit a prior's parameters so that ``A(render())`` matches ``y``.

    min_theta  l(y, A(g_theta(z)))  +  tv * TV(g_theta(z))

Per step: one forward and backward pass of the generator, an exponential moving average
of the outputs (no extra forward pass), divergence backtracking (restore the last good
weights, halve the learning rate) and the ES-WMV stopping rule, which needs no clean image;
a time limit, and Ctrl-C, which returns the estimate so far.

``Loop`` is the one loop (Adam, progress, time limit, Ctrl-C) that every fitted prior runs:
``fit`` (the deep image prior, the deep decoder and their warm start, which is ``fit``
towards a first estimate) adds the EMA, backtracking and stopping rules to it; the trained
priors' latent search (``glo.search``: best of many restarts per row) and weight adaptation
(``glo.adapt``: accepted only by held-out measurements) add their own bookkeeping.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch

from .console import bar_options, shown_psnr, stopped_by, total_in_time
from .losses import data_loss, total_variation
from .metrics import psnr
from .result import Result, counted, with_returned
from .stopping import make_rule


@dataclass
class LoopConfig:
    """Settings of one optimisation run (see ``solve`` for their meaning)."""

    iters: int = 2000
    lr: float = 0.01
    loss: str = "l2sq"
    tv: float = 0.0
    ema: float = 0.99
    stop: str = "wmv"
    noise_level: float | None = None  # std of the noise in y, for the discrepancy rule
    window: int = 100
    patience: int = 300
    jump: float = 3.0  # a loss this many times the running minimum means divergence
    max_seconds: float | None = None  # wall-time budget for the loop
    spent: float = 0.0  # seconds of that budget spent before the loop (its warm start)
    finish: object = None  # estimate -> image (e.g. put back observed pixels), or None
    trace_finish: bool = True  # apply finish before every traced PSNR (False: too costly)
    progress: bool = True
    desc: str = "solve"


class Loop:
    """The optimisation loop that every fitted prior runs: Adam over ``params``, a progress
    bar, a time limit, and Ctrl-C, which ends the loop and keeps what was found so far.

    ``optimizer`` replaces the Adam that the loop makes by default (``fit_stacked``: one
    step size per stacked run). ``run(forward, after)`` calls, at each iteration ``k``,
    ``forward(k)`` (the forward pass and its bookkeeping; it returns the scalar loss to
    descend, or None to skip the step), then the optimizer's step, then ``after(k)`` (what
    follows a step; it returns why to stop, or None). It returns ``(iterations, reason,
    interrupted)``.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(3))
        >>> loop = Loop([w], lr=0.1, iters=200)
        >>> loop.run(lambda k: (w - 1).square().sum(), lambda k: None)[:2]
        (200, 'reached 200 iterations')
        >>> bool(torch.allclose(w, torch.ones(3), atol=1e-2))
        True
        >>> late = Loop([w], lr=0.1, iters=1000, max_seconds=1.0, spent=5.0)  # (its setup: 5 s)
        >>> late.run(lambda k: (w - 1).square().sum(), lambda k: None)[:2]
        (1, 'time limit of 1 s after 1 iteration')
    """

    def __init__(self, params, *, lr: float, iters: int, max_seconds: float | None = None,
                 progress: bool = False, desc: str = "", first: int = 0, optimizer=None,
                 spent: float = 0.0):
        from tqdm.auto import tqdm

        # (seconds already spent count: the time limit said is the budget asked for; and the
        # optimizer's making does: torch's first Adam in a process imports torch._dynamo, 0.9 s)
        self.start = time.perf_counter() - spent
        # foreach: a few operations over all the weight tensors per step instead of a few
        # per tensor (torch's default only on CUDA); on a CPU the same losses to the last
        # bit, and a 64x64 dip of 5 levels x 8 channels ran 200 steps in 2.55 s, not 4.71
        # (2026-12-07 on a 2-core EPYC, two threads: 2.8 s, not 3.4)
        if optimizer is None:
            optimizer = torch.optim.Adam(params, lr=lr, foreach=True)
        self.opt = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.iters, self.max_seconds = iters, max_seconds
        # (counted by hand: a loop over the bar left a run that stopped early one short in
        # its last line, which a log keeps)
        self.first, self.clock = first, StepClock()
        self.bar = tqdm(total=iters, desc=desc, **bar_options(progress))

    def halve_step(self) -> None:
        """Halve the learning rate and forget Adam's moments (after a divergence)."""
        for group in self.opt.param_groups:
            group["lr"] *= 0.5
        self.opt.state.clear()

    def run(self, forward, after) -> tuple[int, str, bool]:
        reason, interrupted, done = f"reached {counted(self.iters)}", False, 0
        try:
            for k in range(self.first, self.first + self.iters):
                if done:
                    self.clock.step()  # (the one before ended)
                    if self.max_seconds is not None and done > 1:
                        total_in_time(self.bar, done, self.iters,
                                      self.max_seconds - self.elapsed(), self.clock.each())
                done += 1
                self.bar.update(1)
                loss = forward(k)
                if loss is None:
                    continue
                self.opt.zero_grad(set_to_none=True)
                # into the loop's own weights alone: weights of the user's that the operator
                # holds (a convolution in a lambda) had their .grad filled up
                loss.backward(inputs=self.params)
                self.opt.step()
                stop = after(k)
                if stop:
                    reason = stop
                    break
                if self.max_seconds is not None and self.elapsed() > self.max_seconds:
                    reason = f"time limit of {self.max_seconds:g} s after {counted(done)}"
                    break
        except KeyboardInterrupt:
            reason, interrupted = f"interrupted ({stopped_by()})", True
        finally:
            if done:
                self.clock.step()
            self.bar.close()
        return done, reason, interrupted

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def step_seconds(self) -> float | None:
        """The mean seconds of the steps after the first (``StepClock``); None before a
        second step ended."""
        return self.clock.each() if self.clock.steps > 1 else None


class StepClock:
    """When a run's steps ended, for their pace: the first is timed apart, as it pays for
    the first allocations (the optimizer's state: Adam's first in a process, a second; a
    GPU's kernel choice). ``step()`` after each step; ``each()``: the seconds of one.

    Example:
        >>> clock = StepClock()
        >>> clock.each() is None
        True
        >>> clock.step(); clock.step(); clock.each() >= 0
        True
    """

    def __init__(self):
        self.began = self.first_ended = self.last_ended = time.perf_counter()
        self.steps = 0

    def step(self) -> None:
        """A step has ended."""
        self.steps += 1
        self.last_ended = time.perf_counter()
        if self.steps == 1:
            self.first_ended = self.last_ended

    def each(self, now: float | None = None) -> float | None:
        """The mean seconds of the steps after the first, from when the first ended to
        ``now`` (default: when the last ended), or the first's while it is the only one;
        None before a step ended."""
        if not self.steps:
            return None
        if self.steps == 1:
            return self.first_ended - self.began
        return ((self.last_ended if now is None else now) - self.first_ended) / (self.steps - 1)


def _finite(params) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in params)


def _rendered(prior) -> torch.Tensor:
    with torch.no_grad():
        return prior.render()


def fit(prior, op, y, cfg: LoopConfig, truth: torch.Tensor | None = None) -> Result:
    """Optimise ``prior``'s parameters for one observation ``y`` (see ``NetworkPrior``):
    EMA of the outputs, divergence backtracking, the stopping rule, PSNR trace.

    Ctrl-C ends the loop early and returns the current estimate (``interrupted``).
    """
    params = [p for p in prior.parameters() if p.requires_grad]
    loop = Loop(params, lr=cfg.lr, iters=cfg.iters, max_seconds=cfg.max_seconds,
                progress=cfg.progress, desc=cfg.desc, spent=cfg.spent)
    rule = make_rule(cfg)
    losses, psnrs = [], []
    state = {"ema": None, "chosen": None, "chosen_step": 0, "smooth": None,
             "good": copy.deepcopy(prior.state_dict())}

    def forward(step):
        x = prior.render(jitter=True)
        loss = data_loss(op(x), y, cfg.loss).sum()
        if cfg.tv:
            loss = loss + cfg.tv * total_variation(x).sum()
        value = loss.item()
        losses.append(value)
        smooth = state["smooth"]
        if not math.isfinite(value) or (smooth is not None and step > 20 and value > cfg.jump * smooth):
            # diverged: back to the last good weights with half the step size; the loss
            # level there is the new reference
            prior.load_state_dict(state["good"])
            loop.halve_step()
            state["smooth"] = None
            if truth is not None:  # the step made no estimate: the trace holds the last one
                # (psnrs[iteration - 1] had been another step's, or past the end)
                psnrs.append(psnrs[-1] if psnrs else psnr(_rendered(prior), truth))
            return None
        state["x"], state["value"] = x, value
        return loss

    def after(step):
        value = state["value"]
        state["smooth"] = value if state["smooth"] is None else 0.9 * state["smooth"] + 0.1 * value
        if step % 20 == 0 and _finite(params):  # (weights the step made NaN are no good)
            state["good"] = copy.deepcopy(prior.state_dict())
        x = state["x"].detach()
        ema = state["ema"] = x.clone() if state["ema"] is None else state["ema"].lerp_(x, 1 - cfg.ema)
        with torch.no_grad():  # (an operator's own weights had kept a graph alive here)
            improved, stop = rule.update(step, x, ema, lambda: data_loss(op(ema), y, "l2sq"))
        if state["chosen"] is None or bool(improved[0]):
            state["chosen"], state["chosen_step"] = ema.clone(), step
        if truth is not None:
            psnrs.append(psnr(cfg.finish(ema) if cfg.finish and cfg.trace_finish else ema, truth))
        if step % 10 == 0:
            shown = {"loss": f"{value:.2e}"}
            if psnrs:
                shown["psnr"] = shown_psnr(psnrs[-1])
            loop.bar.set_postfix(shown, refresh=False)
        if bool(stop[0]):
            return (f"early stop ({rule.name}) at iteration {step + 1}, returned iteration "
                    f"{state['chosen_step'] + 1}")
        return None

    iterations, reason, interrupted = loop.run(forward, after)
    if not _finite(params):
        # the last step's weights, unchecked (no step after it): back to the last good ones
        # (a warm start's NaN weights had been the fit's start and its "good" state: --lr 1e9
        # gave a NaN image)
        prior.load_state_dict(state["good"])
    if state["chosen"] is None and not interrupted and iterations:
        # (a NaN image had come back: --lr 1e9, and the command line blamed the write)
        raise ValueError(f"every step of the fit diverged (its loss NaN or exploding): a "
                         f"smaller lr than {cfg.lr:g}, or an operator that gives finite "
                         f"values, lets it run.")
    chosen = state["chosen"]
    if chosen is None:  # interrupted before the first step ended
        with torch.no_grad():
            chosen = prior.render()
    if cfg.finish is not None:
        with torch.no_grad():
            chosen = cfg.finish(chosen)
    returned = 0 if state["chosen"] is None else state["chosen_step"] + 1
    return Result(
        # iteration: a count, as every prior's (the estimate after that many steps)
        image=chosen.clamp(0, 1), losses=losses, psnrs=psnrs, iteration=returned,
        iterations=iterations, stop_reason=with_returned(reason, returned, iterations),
        seconds=loop.elapsed(), step_seconds=loop.step_seconds(),
        stop_signal=[float(v[0]) for v in rule.signal], interrupted=interrupted,
    )
