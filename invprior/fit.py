"""The optimisation loop of the network priors: fit a prior's parameters so that ``A(render())`` matches ``y``.

    min_theta  l(y, A(g_theta(z)))  +  tv * TV(g_theta(z))

Per step: one forward and backward pass of the generator, an exponential moving average
of the outputs (no extra forward pass), divergence backtracking (restore the last good
weights, halve the learning rate) and the ES-WMV stopping rule, which needs no clean image;
a time limit, and Ctrl-C, which returns the estimate so far. The deep image prior, the deep
decoder and their warm start (the same loop fitting the output to a first estimate) run
here. The trained priors' latent search (best of many restarts per row, kept by objective)
and weight adaptation (accepted only by held-out measurements) keep loops of their own in
``glo/``, with the same Ctrl-C behaviour.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch

from .losses import data_loss, total_variation
from .metrics import psnr
from .result import Result
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
    finish: object = None  # estimate -> image (e.g. put back observed pixels), or None
    trace_finish: bool = True  # apply finish before every traced PSNR (False: too costly)
    progress: bool = True
    desc: str = "solve"


def fit(prior, op, y, cfg: LoopConfig, truth: torch.Tensor | None = None) -> Result:
    """Optimise ``prior``'s parameters for one observation ``y``; see ``solve``.

    Ctrl-C ends the loop early and returns the current estimate (``stop_reason``
    ``interrupted``) instead of losing the work.
    """
    from tqdm.auto import tqdm

    params = [p for p in prior.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    rule = make_rule(cfg)
    losses, psnrs = [], []
    ema = chosen = None
    chosen_step, reason, interrupted = 0, f"reached {cfg.iters} iterations", False
    good_state, smooth = copy.deepcopy(prior.state_dict()), None
    start = time.perf_counter()
    bar = tqdm(range(cfg.iters), desc=cfg.desc, disable=not cfg.progress, leave=False)
    step = -1
    try:
        for step in bar:
            opt.zero_grad(set_to_none=True)
            x = prior.render(jitter=True)
            loss = data_loss(op(x), y, cfg.loss).sum()
            if cfg.tv:
                loss = loss + cfg.tv * total_variation(x).sum()
            value = loss.item()
            losses.append(value)
            if not math.isfinite(value) or (smooth is not None and step > 20 and value > cfg.jump * smooth):
                # diverged: back to the last good weights with half the step size; the
                # loss level there is the new reference
                prior.load_state_dict(good_state)
                for group in opt.param_groups:
                    group["lr"] *= 0.5
                opt.state.clear()
                smooth = None
                continue
            loss.backward()
            opt.step()
            smooth = value if smooth is None else 0.9 * smooth + 0.1 * value
            if step % 20 == 0:
                good_state = copy.deepcopy(prior.state_dict())
            x = x.detach()
            ema = x.clone() if ema is None else ema.lerp_(x, 1 - cfg.ema)
            stop = rule.update(step, x, ema, lambda: data_loss(op(ema), y, "l2sq").mean().item())
            if rule.best_step == step or chosen is None:
                chosen, chosen_step = ema.clone(), step
            if truth is not None:
                psnrs.append(psnr(cfg.finish(ema) if cfg.finish and cfg.trace_finish else ema, truth))
            if step % 10 == 0:
                shown = {"loss": f"{value:.2e}"}
                if psnrs:
                    shown["psnr"] = f"{psnrs[-1]:.2f}"
                bar.set_postfix(shown, refresh=False)
            if stop:
                reason = f"early stop ({rule.name}) at iteration {step}, returned iteration {chosen_step}"
                break
            if cfg.max_seconds is not None and time.perf_counter() - start > cfg.max_seconds:
                reason = f"time limit of {cfg.max_seconds:g} s at iteration {step}"
                break
    except KeyboardInterrupt:
        reason, interrupted = "interrupted (Ctrl-C)", True
    finally:
        bar.close()
    if chosen is None:  # interrupted before the first step ended
        with torch.no_grad():
            chosen = prior.render()
    if cfg.finish is not None:
        with torch.no_grad():
            chosen = cfg.finish(chosen)
    return Result(
        image=chosen.clamp(0, 1), losses=losses, psnrs=psnrs, iteration=chosen_step,
        iterations=step + 1, stop_reason=reason, seconds=time.perf_counter() - start,
        stop_signal=rule.signal, interrupted=interrupted,
    )
