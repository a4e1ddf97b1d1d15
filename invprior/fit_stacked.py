"""Fit a stack of generators, one per observation, in one step each: ``fit_stacked``.

``fit`` optimises one generator and reads its loss on the host at every step, which costs
nothing on a CPU. On a GPU both cost: a 256x256 image leaves most of the device idle, and a
host sync per step stalls the queue of kernels. Here the generators' weights are stacked in
one tensor and one call of the network's stacked version (``invprior.nets``: convolutions
grouped by run) runs them all. The bookkeeping that ``fit`` does with Python numbers
(divergence rollback, halving one run's step size, the EMA, the stopping rule, the estimate
to return) is done for every run on the device with ``torch.where``; the host looks every
``check_every`` steps (progress bar, stopped runs).

Each run follows ``fit``'s rules, so a stack gives each run what ``fit`` gives it, up to
rounding (``tests/test_fit_stacked.py``). Two differences, both only after a rolled-back
step: the stopping rule sees the run's last accepted output again for that step (one window
for all runs), and a stopped run is noticed at the next check, so up to ``check_every - 1``
steps are computed and thrown away. Measured on a 2-core CPU (AMD EPYC, the CPU network, 40
steps, ``fit`` image after image against ``fit_stacked``): 1.63x as fast for eight 64x64 gray
images, 0.93x for eight 128x128, 0.55x for four 256x256 (oneDNN's grouped convolutions),
1.05x for one 256x256, so ``NetworkPrior`` stacks only on CUDA.

What a step costs the host (``GeneratorStack``): one weight tensor, so that Adam, a rollback
and the copy of the last good weights are a few operations each; a grouped network, which
issues as many operations for a stack as for one run. With the CUDA network's depth (5
levels) and tiny widths, so that only the per-operation cost shows (2-core CPU, 32x32 RGB,
one thread, medians of 100-step runs, ``invprior.bench.stacking.host_cost`` measures the
same): one run 28-32 -> 7.5 ms per step (6700 -> 1700 operations), four runs 30-42 -> 17 ms
(the code before: stacked weight tensors through ``torch.func.vmap``).
"""

from __future__ import annotations

import warnings

import torch
from torch.func import functional_call

from .checks import cudnn_tuned
from .fit import LoopConfig, Loop
from .losses import data_loss, total_variation
from .nets import stacked
from .result import Result, with_returned
from .stopping import make_rule

__all__ = ["fit_stacked", "GeneratorStack", "StackedAdam"]


def _per_run(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values`` ``(B,)`` shaped to broadcast over ``like`` ``(B, ...)``, one per run."""
    return values.view((-1,) + (1,) * (like.ndim - 1))


class GeneratorStack:
    """``B`` generators of one architecture (``priors.generator.Generator``) run as one
    network: their weights stacked along a new first dimension, all in one ``(B, N)``
    tensor ``weights`` (row ``b``: generator ``b``'s ``N`` weights), run through the
    network's stacked version (``invprior.nets.stacked``: convolutions grouped by run).

    ``render(runs, index)`` ``-> (len(runs), C, H, W)``: the outputs of the generators
    ``runs`` (a list of indices, default all; ``index``: the same on the device, which saves
    a copy per call), each with its own input and input jitter. ``unstack()`` writes
    the stacked weights back into the generators.

    Why so: the loop is bound by how many operations the host issues, not by the
    arithmetic (on an H200 the deep image prior took the same 0.058 s per step at 256x256
    and 512x512), and the networks have dozens of weight tensors (the CPU one 68). With
    one weight tensor, Adam's step, a rollback and a copy of the weights are a few
    operations each instead of a few per weight tensor; and a grouped network issues as many
    operations for a stack as for one run (``torch.func.vmap`` added its own to each).
    On CUDA (``graphs``, the default there) the network's forward and backward passes are
    replayed as CUDA graphs, which leaves the host the loop's bookkeeping alone: on an H100,
    256x256 RGB 0.0341 -> 0.0108 s per bfloat16 step, 512x512 0.0329 -> 0.0220, eight
    256x256 images in one stack 3.7 -> 5.1 per minute (BENCHMARKS.md, "GPU").

    Example:
        >>> from invprior.priors.generator import NetConfig, make_generator
        >>> gens = [make_generator("dip", (1, 16, 16), config=NetConfig(channels=(8, 8)))
        ...         for _ in range(3)]
        >>> stack = GeneratorStack(gens)
        >>> stack.render([0, 2]).shape, stack.weights.shape[0]
        (torch.Size([2, 1, 16, 16]), 3)
    """

    def __init__(self, generators: list):
        self.generators = generators
        net = generators[0].net
        if any(True for _ in net.buffers()):
            raise ValueError("stacked networks cannot hold buffers (running statistics).")
        params = dict(net.named_parameters())
        self.names = list(params)
        self.shapes = [tuple(v.shape) for v in params.values()]
        self.sizes = [v.numel() for v in params.values()]
        with torch.no_grad():
            weights = torch.stack([torch.cat([v.reshape(-1) for v in g.net.parameters()])
                                   for g in generators])
        self.weights = weights.requires_grad_()
        self._stacked, self.net = {}, net  # the grouped network per number of runs (no weights)
        self.size, self.autocast = generators[0].size, generators[0].autocast
        self.graphs = weights.is_cuda and generators[0].graphs
        self._graph = None  # (runs, the captured network for that many runs)

    def named(self, rows: torch.Tensor) -> dict:
        """``rows (R, N)`` of ``weights`` as the named weights of the network stacked ``R``
        times (each run's slice along the first dimension; for one row, the weights of
        one network)."""
        r = len(rows)
        return {name: piece.reshape((r * shape[0],) + shape[1:]) for name, piece, shape
                in zip(self.names, rows.split(self.sizes, 1), self.shapes)}

    def _network(self, runs: int):
        """``(rows (runs, N), z) -> output``: the network stacked ``runs`` times with those
        weights, launched operation by operation."""
        if runs not in self._stacked:
            self._stacked[runs] = stacked(self.net, runs)
        net, device = self._stacked[runs], self.weights.device.type

        def call(rows, z):
            # (cache_enabled=False: a CUDA graph cannot hold autocast's cache; there is
            # nothing to cache anyway, the weights reach the network as views)
            with torch.autocast(device, dtype=self.autocast or torch.float32,
                                enabled=self.autocast is not None, cache_enabled=False):
                # (no tied weights in these networks: skip the search for them at every call)
                return functional_call(net, self.named(rows), (z,), tie_weights=False)
        return call

    def _graphed(self, runs: int, rows: torch.Tensor, z: torch.Tensor):
        """The network stacked ``runs`` times, its forward and backward passes captured as
        CUDA graphs (``torch.cuda.make_graphed_callables``), captured again when the number
        of runs changes (a run stopped), or None where capturing failed.

        Why: on a GPU the step is bound by the host issuing a few hundred small operations,
        not by the arithmetic (see the class docstring); replaying a graph issues them all
        at once. What a step then costs is in ``invprior.bench.stacking``'s rows."""
        if self._graph is not None and self._graph[0] == runs:
            return self._graph[1]
        self._graph = None  # (the last graph's memory goes before the next is captured)
        # captured on fresh copies (each call copies its weights and input into them): the
        # capture's warm-up runs on a stream of its own, and the weights met there first had
        # every later backward pass wait across streams; weights taken by index carry a
        # history on the main stream, which a capture may not wait for (it failed)
        sample = (rows.detach().clone().requires_grad_(), z.detach().clone())
        try:
            self._graph = (runs, torch.cuda.make_graphed_callables(self._network(runs), sample))
        except RuntimeError as error:  # a device or driver that cannot capture: launch
            warnings.warn(f"CUDA graphs failed ({error}); the network runs without them.",
                          stacklevel=2)
            self.graphs = False
            return None
        return self._graph[1]

    def render(self, runs: list | None = None, index: torch.Tensor | None = None,
               jitter: bool = False) -> torch.Tensor:
        runs = list(range(len(self.generators))) if runs is None else runs
        z = torch.cat([self.generators[i].input(jitter) for i in runs], 1)  # (1, R * C', H, W)
        rows = self.weights
        if len(runs) < len(self.generators):
            if index is None:
                index = torch.tensor(runs, device=z.device)
            rows = rows[index]
        # (graphs for the steps only: a capture runs backward passes, which no_grad forbids)
        graphed = self.graphs and torch.is_grad_enabled()
        network = (self._graphed(len(runs), rows, z) if graphed else None) or self._network(len(runs))
        out = network(rows, z)
        h, w = self.size
        return out.view(len(runs), -1, *out.shape[-2:])[..., :h, :w].float()

    @torch.no_grad()
    def unstack(self) -> None:
        for i, g in enumerate(self.generators):
            named = dict(g.net.named_parameters())
            for k, v in self.named(self.weights[i : i + 1]).items():
                named[k].copy_(v)


class StackedAdam(torch.optim.Optimizer):
    """Adam (as ``torch.optim.Adam``, no weight decay) over parameters stacked along dim 0,
    one slice per run, with a step size and a step count per run. ``restart(mask)`` halves
    the step size of the runs in ``mask`` and forgets their moments: what ``Loop.halve_step``
    does to the one run of ``fit``. Written out because torch's Adam keeps one step size and
    one step count for all the runs.

    Example:
        >>> w = torch.zeros(2, 3, requires_grad=True)
        >>> opt = StackedAdam([w], lr=0.1, runs=2)
        >>> opt.restart(torch.tensor([False, True])); opt.lr.tolist()
        [0.1, 0.05]
    """

    def __init__(self, params, *, lr: float, runs: int, betas=(0.9, 0.999), eps: float = 1e-8):
        params = list(params)
        super().__init__(params, {})
        device = params[0].device
        self.lr = torch.full((runs,), lr, dtype=torch.float64, device=device)
        self.count = torch.zeros(runs, dtype=torch.float64, device=device)
        self.betas, self.eps = betas, eps

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.count += 1
        step_size = self.lr / (1 - b1**self.count)
        root = (1 - b2**self.count).sqrt()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                m, v = state["m"], state["v"]
                m.lerp_(p.grad, 1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (v.sqrt() / _per_run(root.to(p.dtype), p)).add_(self.eps)
                p.sub_(_per_run(step_size.to(p.dtype), p) * m / denom)

    @torch.no_grad()
    def restart(self, mask: torch.Tensor) -> None:
        self.lr = torch.where(mask, self.lr / 2, self.lr)
        self.count = torch.where(mask, 0, self.count)
        for state in self.state.values():
            for moment in state.values():
                moment.copy_(torch.where(_per_run(mask, moment), 0, moment))


def fit_stacked(generators: list, op, y: torch.Tensor, cfg: LoopConfig,
                truth: torch.Tensor | None = None, check_every: int = 10) -> list[Result]:
    """Fit generator ``b`` of ``generators`` to observation ``y[b]`` for every ``b`` at once,
    by ``fit``'s rules (see the module docstring); one ``Result`` per run. The generators
    hold the fitted weights afterwards.

    Shapes: ``y (B, ...)`` (what ``op`` gives for a batch), ``truth (B, C, H, W)`` or None.

    Example:
        >>> import operators as O
        >>> from invprior.priors.generator import NetConfig, make_generator
        >>> gens = [make_generator("dip", (1, 16, 16), config=NetConfig(channels=(8, 8)))
        ...         for _ in range(2)]
        >>> results = fit_stacked(gens, O.Denoising(), torch.rand(2, 1, 16, 16),
        ...                       LoopConfig(iters=5, stop="none", progress=False))
        >>> [r.iterations for r in results], results[1].image.shape
        ([5, 5], torch.Size([1, 1, 16, 16]))
    """
    stack = GeneratorStack(generators)
    runs, device = len(generators), y.device
    params = [stack.weights]
    optimizer = StackedAdam(params, lr=cfg.lr, runs=runs)
    loop = Loop(params, lr=cfg.lr, iters=cfg.iters, max_seconds=cfg.max_seconds,
                progress=cfg.progress, desc=cfg.desc, optimizer=optimizer, spent=cfg.spent)
    rule = make_rule(cfg)
    every = torch.ones(runs, dtype=torch.bool, device=device)

    def per_run(value, dtype=torch.float64):
        return torch.full((runs,), value, dtype=dtype, device=device)

    s = {  # per run, on the device
        "alive": list(range(runs)), "index": torch.arange(runs, device=device),
        "stopped": ~every, "active": every,
        "stop_step": per_run(-1, torch.long), "smooth": per_run(float("nan")),
        "good": [p.detach().clone() for p in params], "ema": None, "last": None,
        "chosen": None, "chosen_step": per_run(0, torch.long), "has_chosen": ~every,
    }
    losses, psnrs, traced, signals = [], [], [], []

    def forward(step):
        alive, index = s["alive"], s["index"]
        x = stack.render(alive, index, jitter=True)
        target = y if len(alive) == runs else y[index]
        loss = data_loss(op(x), target, cfg.loss)
        if cfg.tv:
            loss = loss + cfg.tv * total_variation(x)
        value = per_run(float("nan")).index_copy(0, index, loss.detach().double())
        smooth = s["smooth"]
        jumped = torch.isfinite(smooth) & (value > cfg.jump * smooth) if step > 20 else ~every
        s["diverged"] = (~torch.isfinite(value) | jumped) & s["active"]
        s["x"], s["value"] = x.detach(), value
        losses.append(value)
        # the runs share no weights: the sum's gradient is each run's own
        return loss.sum()

    @torch.no_grad()
    def after(step):
        diverged, value = s["diverged"], s["value"]
        # diverged: back to the run's last good weights with half its step size (fit's rule)
        optimizer.restart(diverged)
        for p, good in zip(params, s["good"]):
            p.copy_(torch.where(_per_run(diverged, p), good, p))
        ok = s["active"] & ~diverged
        smooth = s["smooth"]
        smooth = torch.where(torch.isfinite(smooth), 0.9 * smooth + 0.1 * value, value)
        s["smooth"] = torch.where(diverged, float("nan"), torch.where(ok, smooth, s["smooth"]))
        if step % 20 == 0:
            s["good"] = [torch.where(_per_run(ok, p), p, g) for p, g in zip(params, s["good"])]
        if s["ema"] is None:
            s["ema"] = torch.zeros((runs,) + s["x"].shape[1:], device=device)
            s["last"], s["chosen"], s["started"] = s["ema"].clone(), s["ema"].clone(), ~every
        x = s["last"].index_copy(0, s["index"], s["x"])
        s["last"] = torch.where(_per_run(ok, x), x, s["last"])
        first = _per_run(ok & ~s["started"], x)
        ema = torch.where(first, x, s["ema"].lerp(x, 1 - cfg.ema))
        s["ema"] = ema = torch.where(_per_run(ok, x), ema, s["ema"])
        s["started"] |= ok
        improved, stop = rule.update(step, s["last"], ema,
                                     lambda: data_loss(op(ema), y, "l2sq"))
        signals.append(len(rule.signal))
        take = ok & (improved | ~s["has_chosen"])
        s["chosen"] = torch.where(_per_run(take, ema), ema, s["chosen"])
        s["chosen_step"] = torch.where(take, step, s["chosen_step"])
        s["has_chosen"] |= take
        newly = ok & stop
        s["stop_step"] = torch.where(newly, step, s["stop_step"])
        s["stopped"] |= newly
        s["active"] = s["active"] & ~newly
        if truth is not None:
            est = cfg.finish(ema) if cfg.finish and cfg.trace_finish else ema
            mse = (est.double() - truth.double()).square().flatten(1).mean(1)
            psnrs.append(-10 * torch.log10(mse))
            traced.append(ok)
        if (step + 1) % check_every == 0:  # the host looks: progress, stopped runs
            stopped = s["stopped"].cpu()
            loop.bar.set_postfix(loss=f"{float(value[~s['stopped']].mean()):.2e}",
                                 running=int((~stopped).sum()), refresh=False)
            if bool(stopped.all()):
                return f"early stop ({rule.name})"
            s["alive"] = torch.nonzero(~stopped).flatten().tolist()
            s["index"] = torch.tensor(s["alive"], device=device)
        return None

    with cudnn_tuned(device):  # thousands of steps of one shape
        iterations, reason, interrupted = loop.run(forward, after)
    stack.unstack()
    with torch.no_grad():
        chosen, unchosen = s["chosen"], ~s["has_chosen"]
        if chosen is None or bool(unchosen.any()):  # interrupted before a run's first step
            now = stack.render()
            chosen = now if chosen is None else torch.where(_per_run(unchosen, now), now, chosen)
        image = (cfg.finish(chosen) if cfg.finish is not None else chosen).clamp(0, 1)
    results = _results(image, s, reason, iterations, interrupted, loop.elapsed(), rule,
                       losses, psnrs, traced, signals)
    pace = loop.step_seconds()
    for result in results:
        result.step_seconds = pace
    return results


def _results(image, s, reason, iterations, interrupted, seconds, rule, losses, psnrs,
             traced, signals) -> list[Result]:
    """One Result per run from the stacked records (one host copy of each)."""
    losses = torch.stack(losses).cpu() if losses else torch.zeros(0, len(image))
    psnrs = torch.stack(psnrs).cpu() if psnrs else None
    traced = torch.stack(traced).cpu() if traced else None
    signal = torch.stack([v.double() for v in rule.signal]).cpu() if rule.signal else None
    stop_step, chosen_step = s["stop_step"].cpu().tolist(), s["chosen_step"].cpu().tolist()
    has_chosen = s["has_chosen"].cpu().tolist()
    out = []
    for b, stopped_at in enumerate(stop_step):
        done = stopped_at + 1 if stopped_at >= 0 else iterations
        returned = chosen_step[b] + 1 if has_chosen[b] else 0  # a count, as fit's
        why = (f"early stop ({rule.name}) at iteration {stopped_at + 1}, returned iteration "
               f"{returned}") if stopped_at >= 0 else with_returned(reason, returned, done)
        checks = signals[done - 1] if done and signals else 0
        out.append(Result(
            image=image[b : b + 1], losses=losses[:done, b].tolist(),
            psnrs=psnrs[:done, b][traced[:done, b]].tolist() if psnrs is not None else [],
            iteration=returned, iterations=done, stop_reason=why, seconds=seconds,
            stop_signal=signal[:checks, b].tolist() if signal is not None else [],
            interrupted=interrupted))
    return out
