"""The untrained generator priors: deep image prior (``dip``) and deep decoder (``decoder``).

A generator with a fixed random input whose *weights* are fitted to one observation
(Ulyanov et al. 2018; Heckel & Hand 2019) by ``fit.fit``. ``make_generator`` builds one for
an image shape; sizes that are not multiples of the network's stride are generated larger
and cropped (top-left) — reflection padding inside the network keeps the borders clean.
``NetworkPrior`` is the prior: a fresh generator per observation, an optional warm start
from the operator's initial estimate, the fit, and the projection onto ``{x : A x = y}``
for noise-free data.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import nn

import operators as O
from operators.base import as_switch, as_whole

from ..checks import drawn_apart, is_number, resolve_device, resolve_precision, whole_number
from ..console import say
from ..fit import LoopConfig, fit
from ..fit_stacked import fit_stacked
from ..losses import LOSSES
from ..nets import DeepDecoder, SkipNet, padded_size
from ..operator_checks import estimate_of, stack_image_shape
from ..result import Result, counted
from ..stopping import NEEDS_LEVEL, RULES
from .base import ItemwisePrior, keeper, visible_noise
from .cost import describe_seconds, duration_words, estimate, free_memory
from .window import EMPTY, inpainting_window, restore_in_window

NETWORKS = ("dip", "decoder")
INITS = ("auto", "none", "warm", "guide")
# the most of max_seconds that the warm start takes: it took all of a short budget, and the
# fit to y made one step. 64x64 camera, half the pixels missing, budget 2 / 4 / 8 s (one after
# another in a process, the first paying torch's first Adam, 0.9 s): 27.25 / 29.86 / 33.67 dB
# before; 32.33 (the estimate: the warm start cut, _fit) / 28.89 / 33.99 with a fifth of what
# the setup leaves. A budget that the warm start does not reach is unchanged
WARM_SHARE = 0.2
# The network in bfloat16 autocast (``precision``): through CPU autocast, the same number
# format, 128x128 astronaut, 1500 steps of the CPU network, PSNR against float32: denoising
# (sigma 25) 28.33 against 28.25 dB, inpainting (half the pixels) 28.92 against 28.83; on a
# 2-core Xeon with AMX 97 s instead of 116 (the CPU network is thin: most of a step is not
# the convolutions). float16 would need loss scaling for the gradients: not offered.
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class NetConfig:
    """Size of a generator. ``channels`` per level (skip net) or per layer (decoder)."""

    channels: tuple = (32, 32, 32, 32, 32)
    skip: int = 4
    input_depth: int = 32
    upsample: str = "bilinear"
    input_noise: float = 1 / 30  # std of the input jitter added at each step (regulariser)
    lr: float = 0.01


# Published DIP network (Ulyanov et al.): 5 x 128 channels, ~2.2 M weights, 2-3 s per step
# at 256x256 on a 2-core CPU. On a CPU the default is slimmer: 16 channels at full
# resolution, 32 below, 8 input channels (~0.14 s per RGB 256x256 step on one thread, against
# 0.22 s for 5 x 32 channels; on a 2-core EPYC on 2026-12-07, 0.215 against 0.258; on the
# inpainting case it reached 31.25 dB in 2000 steps where 5 x 32 reached 31.60, i.e. more
# PSNR per second).
DIP_CONFIGS = {
    "cpu": NetConfig(channels=(16, 32, 32, 32, 32), input_depth=8),
    "cuda": NetConfig(channels=(128,) * 5),
}
DECODER_CONFIGS = {
    "cpu": NetConfig(channels=(64,) * 5, input_depth=64, input_noise=0.0, lr=0.01),
    "cuda": NetConfig(channels=(128,) * 6, input_depth=128, input_noise=0.0, lr=0.01),
}


class Generator(nn.Module):
    """A generator ``net`` with a fixed random input ``z``; the weights are optimised.

    ``render(jitter=True)`` adds ``input_noise`` * N(0, 1) to ``z`` (the DIP regulariser)
    and crops the output to ``(H, W)``; with ``autocast`` (``torch.bfloat16``) the network
    runs under autocast and the output comes back in float32.

    Example:
        >>> generator = make_generator("dip", (1, 20, 24), config=NetConfig(channels=(8, 8)))
        >>> generator.render().shape
        torch.Size([1, 1, 20, 24])
    """

    def __init__(
        self, net: nn.Module, z: torch.Tensor, size: tuple, input_noise: float = 0.0,
        guide: torch.Tensor | None = None, seed: int = 0,
    ):
        super().__init__()
        self.net = net
        self.seed, self._jitter = seed, None
        self.register_buffer("z", z)
        self.register_buffer("guide", guide)
        self.size = tuple(size)
        self.input_noise = float(input_noise)
        self.autocast: torch.dtype | None = None
        self.graphs = True  # on CUDA, stacked (fit_stacked): replay each step as CUDA graphs

    def input(self, jitter: bool = False) -> torch.Tensor:
        """What the network takes: ``z`` (jittered), after the guide if there is one."""
        z = self.z
        if jitter and self.input_noise > 0:
            if self._jitter is None or self._jitter.device != z.device:
                # its own generator: the same seed gives the same run, whatever else draws
                # (on the device: CUDA's stream differs from the CPU's, so the same seed
                # gives another jitter there, and DIP runs differ by up to ~1.5 dB early on)
                self._jitter = torch.Generator(z.device).manual_seed(self.seed)
            noise = torch.randn(z.shape, generator=self._jitter, device=z.device, dtype=z.dtype)
            z = z + self.input_noise * noise
        return z if self.guide is None else torch.cat([self.guide, z], 1)

    def render(self, jitter: bool = False) -> torch.Tensor:
        z = self.input(jitter)
        h, w = self.size
        if self.autocast is None:
            return self.net(z)[..., :h, :w]
        # (no cache: under a caller's autocast, nested, the weights cast at the first step
        # were kept and used at every later one, as the weights moved on)
        with torch.autocast(z.device.type, dtype=self.autocast, cache_enabled=False):
            out = self.net(z)
        return out[..., :h, :w].float()


def default_config(name: str, device: torch.device | str) -> NetConfig:
    """The network size used by ``make_generator`` on this device when none is given."""
    table = {"dip": DIP_CONFIGS, "decoder": DECODER_CONFIGS}
    if name not in table:
        raise ValueError(f"unknown network '{name}'; choose one of {', '.join(NETWORKS)}.")
    return table[name]["cuda" if torch.device(device).type == "cuda" else "cpu"]


MIN_SIDE = 8  # the network's coarsest level keeps at least 4x4 pixels after one downsampling


def make_generator(
    name: str,
    shape: tuple,
    *,
    config: NetConfig | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    guide: torch.Tensor | None = None,
) -> Generator:
    """Freshly initialised generator ``name`` (``dip`` or ``decoder``) for images ``(C, H, W)``.

    Weights and input are drawn from ``seed`` on the CPU, so the same seed gives the same
    network on every device. ``guide`` (1, C, H, W), a first estimate of the image, is fed
    to the skip net beside its random input channels (an informative input). Images
    smaller than ``4 * 2**levels`` pixels get fewer levels.
    """
    config = config or default_config(name, device)
    c, h, w = shape
    if min(h, w) < MIN_SIDE:  # (a raw padding or BatchNorm error from torch before)
        raise ValueError(f"the {name} prior needs images of at least {MIN_SIDE}x{MIN_SIDE} "
                         f"pixels, got {w}x{h} (width x height).")
    # small images get a shallower network: the coarsest level keeps at least 4x4 pixels
    # (BatchNorm needs more than one value per channel)
    fit = max(1, int(math.log2(max(min(h, w), 1))) - 2)
    if len(config.channels) > fit:
        config = replace(config, channels=config.channels[:fit])
    levels = len(config.channels)
    ph, pw = padded_size(h, w, 2**levels)
    with drawn_apart(seed):
        if name == "dip":
            extra = 0 if guide is None else guide.shape[1]
            net = SkipNet(
                config.input_depth + extra, c, down=config.channels, up=config.channels,
                skip=(config.skip,) * levels, upsample=config.upsample,
            )
            z = torch.rand(1, config.input_depth, ph, pw) * 0.1  # DIP's uniform input
        elif name == "decoder":
            net = DeepDecoder(c, k=config.channels[0], levels=levels)
            z = torch.rand(1, config.channels[0], ph >> levels, pw >> levels)
        else:
            raise ValueError(f"unknown network '{name}'; choose one of {', '.join(NETWORKS)}.")
    if guide is not None:
        if name != "dip":
            raise ValueError("a guide image works with the dip prior only.")
        guide = torch.nn.functional.pad(guide.float().cpu(), (0, pw - w, 0, ph - h), mode="replicate")
    generator = Generator(net, z, (h, w), config.input_noise, guide, seed=seed).to(device)
    if torch.device(device).type == "cpu":
        # oneDNN convolutions run ~13% faster per step on NHWC tensors (measured, 1 thread)
        generator = generator.to(memory_format=torch.channels_last)
    return generator


# runs of an ensemble beyond which it is a typo: its mean moves little after a few
MOST_RUNS = 64


class NetworkPrior(ItemwisePrior):
    """The deep image prior (``kind="dip"``) or the deep decoder (``kind="decoder"``).

    Args:
        kind: ``dip`` or ``decoder``.
        iters: iteration cap (default 2000; 3000 where the operator's projection is cheap,
            i.e. inpainting, whose holes keep improving long after the observed pixels are
            fitted: 33.1 dB at 2000, 33.6 at 3000 on the camera case).
        lr: Adam learning rate (default per network, 0.01). loss: ``l2sq`` (default),
            ``l2``, ``l1`` or ``huber``. tv: total-variation weight. ema: output averaging.
        stop: ``discrepancy``, ``wmv``, ``none`` or ``auto`` (discrepancy where the noise
            level is given or visible in ``y``, else wmv); patience, window: of wmv.
        init: ``warm`` (fit the output to the operator's initial estimate for ``warm``
            steps first), ``guide`` (feed it to the network), ``none``, or ``auto`` (warm
            where the operator says its estimate is good: ``op.good_initial_estimate``).
        keep_observed: project a noise-free result onto ``{x : A x = y}`` (``op.projection``;
            default: unless the noise level is > 0).
        max_seconds: time budget per observation. shape: image shape ``(C, H, W)`` when the
            operator cannot tell it from ``y``. net: a ``NetConfig``. device, seed.
        precision: ``float32``, ``bfloat16`` (autocast; see ``PRECISIONS``) or ``auto``:
            bfloat16 on CUDA, float32 on a CPU (so that a CPU result does not depend on
            whether the processor has bfloat16 units).
        stacked: fit the generators of a batch's same-size images together, one network
            call per step and no host sync per step (``fit_stacked``), one image at a time
            (``False``: ``fit``), or ``auto``: stacked on CUDA (a single image too, for the
            host syncs), one at a time on a CPU, where stacking measured slower from 128x128 up.
        ensemble: fit this many generators per observation, from seeds ``seed``,
            ``seed + 1``, ..., and return the mean of their estimates (default 1). What the
            network paints into a large hole depends on its seed: five boxes missing from
            camera (the ``boxes_camera`` case), inside the holes, 25.00, 21.45 and 23.93 dB
            for seeds 0, 1, 2 (3000 steps each), 24.11 for their mean; astronaut 13.23,
            12.23, 12.96, mean 13.52 (+0.65 and +0.71 dB over a seed on average). Stacked,
            the runs of an image share each step; one at a time, they take ``ensemble``
            times as long.
        graphs: on CUDA, stacked, replay each step's network passes as CUDA graphs
            (default True; False: launch their operations one by one, as before 2026-12-06).

    Example:
        >>> import operators as O
        >>> A = O.Inpainting(shape=(1, 16, 16), missing=0.5)
        >>> prior = NetworkPrior("decoder", iters=5, net=NetConfig(channels=(8, 8), input_depth=8))
        >>> prior.restore(A(torch.rand(1, 1, 16, 16)), A).image.shape
        torch.Size([1, 1, 16, 16])
    """

    def __init__(self, kind: str = "dip", *, iters: int | None = None, lr: float | None = None,
                 loss: str = "l2sq", tv: float = 0.0, ema: float = 0.99, stop: str = "auto",
                 patience: int = 300, window: int = 100, init: str = "auto",
                 warm: int | None = None, keep_observed: bool | None = None,
                 max_seconds: float | None = None, shape: tuple | None = None,
                 net: NetConfig | None = None, device="auto", seed: int = 0,
                 precision: str = "auto", stacked: bool | str = "auto", ensemble: int = 1,
                 graphs: bool = True):
        if kind not in NETWORKS:
            raise ValueError(f"unknown network '{kind}'; choose one of {', '.join(NETWORKS)}.")
        self.name, self.kind = kind, kind
        self.device = resolve_device(device)
        if net is not None and not isinstance(net, NetConfig):
            raise ValueError(f"net must be a NetConfig (invprior.priors.generator), got "
                             f"{type(net).__name__}.")
        self.config = net or default_config(kind, self.device)
        self.lr = lr if lr is not None else self.config.lr
        for what, value in (("lr", self.lr), ("ema", ema), ("tv", tv), ("max_seconds", max_seconds)):
            # (a string reached a comparison below: a TypeError from inside)
            if value is not None and not is_number(value):
                raise ValueError(f"{what} must be a number, got {value!r}.")
        patience, window = whole_number("patience", patience), whole_number("window", window)
        # (as solve() makes them: built directly, iters "5" or 2.5 had been a TypeError
        # inside, True "reached True iteration", seed "1" torch's RuntimeError)
        iters = None if iters is None else whole_number("iters", iters, 1)
        seed = whole_number("seed", seed, 0)
        keep_observed = None if keep_observed is None else as_switch(keep_observed, "keep_observed")
        warm = None if warm is None else whole_number("warm", warm, 0)
        # (each names the value: the command line says it with the flag, cli.as_flags)
        checks = {f"iters must be >= 1, got {iters!r}": iters is not None and iters < 1,
                  f"lr must be > 0 and finite, got {self.lr!r}": not 0 < self.lr < math.inf,
                  f"ema must be in [0, 1), got {ema!r}": not 0 <= ema < 1,
                  f"tv must be >= 0 (a weight on the image's total variation), got {tv!r}":
                      not 0 <= tv < math.inf,
                  f"max_seconds must be a positive number, got {max_seconds!r}":
                      max_seconds is not None and not max_seconds > 0,
                  # (1e9 ran until killed, and on CUDA would stack them all at once)
                  f"ensemble must be an integer from 1 to {MOST_RUNS}, got {ensemble!r}":
                      not 1 <= (as_whole(ensemble) or 0) <= MOST_RUNS,  # (NumPy's too)
                  # (as WindowedVariance refuses them: that had been after the warm start,
                  # minutes at 256x256, and never with the discrepancy rule)
                  f"window must be >= 2, got {window!r}": window < 2,
                  f"patience must be >= 1, got {patience!r}": patience < 1}
        for message, failed in checks.items():
            if failed:
                raise ValueError(f"{message}.")
        for value, allowed, what in ((loss, LOSSES, "loss"), (stop, RULES, "stopping rule"),
                                     (init, INITS, "init")):
            if value not in allowed:
                raise ValueError(f"unknown {what} '{value}'; choose one of {', '.join(allowed)}.")
        self.iters, self.loss, self.tv, self.ema, self.stop = iters, loss, tv, ema, stop
        self.patience, self.window, self.init, self.warm = patience, window, init, warm
        self.keep_observed, self.max_seconds, self.seed = keep_observed, max_seconds, seed
        self.shape = tuple(shape) if shape is not None else None
        self.autocast = PRECISIONS[resolve_precision(precision, self.device, PRECISIONS, on_cuda="bfloat16")]
        if stacked not in (True, False, "auto"):
            raise ValueError(f"stacked must be True, False or auto, got {stacked!r}.")
        self.stacked = self.device.type == "cuda" if stacked == "auto" else stacked
        self.ensemble, self.graphs = as_whole(ensemble), as_switch(graphs, "graphs")

    def restore_one(self, y, op, *, noise_level, truth, progress, desc) -> Result:
        result = self._restore(y, op, noise_level, truth, progress, desc)
        return result[0] if isinstance(result, list) else result

    def restore_together(self, y, op, *, noise_level, truth, progress, desc) -> list | None:
        if not self.stacked:
            return None
        return self._restore(y, op, noise_level, truth, progress, desc)

    def _restore(self, y, op, noise_level, truth, progress, desc):
        """The run for ``y``: one observation by ``fit`` (a Result), or with ``self.stacked``
        a batch ``(B, ...)`` by ``fit_stacked`` (a list of B Results; an operator whose
        observation is a tuple of tensors goes by ``fit``). With ``ensemble`` k > 1, each
        image's k runs go one after another (``fit``), or side by side in the stack."""
        began = time.perf_counter()  # max_seconds counts the setup too (the cost probe...)
        stacked = self.stacked and isinstance(y, torch.Tensor)
        if isinstance(y, torch.Tensor) and inpainting_window(
                op, y, [noise_level or 0.0] * len(y), self.keep_observed) == EMPTY:
            # a mask that hides nothing: the observation is the image (not 3000 steps to fit it)
            return restore_in_window(None, EMPTY, y, op)
        first = y[0] if isinstance(y, tuple) else y
        images, k = (len(first) if stacked else 1), self.ensemble
        shape = (stack_image_shape(op, y, self.shape) if isinstance(op, O.Stack)
                 else self.shape or tuple(op.input_shape_for((1,) + tuple(first.shape[1:]))))
        if truth is not None and tuple(truth.shape[1:]) != shape:
            raise ValueError(f"truth has shape {tuple(truth.shape)}, the images are {shape}.")
        default_iters = _default_iters(op)
        runs, repeats = (images * k, 1) if stacked else (1, k)  # side by side, one after another
        if not self._check_cost(shape, self.iters or default_iters, progress, runs, repeats):
            if images > 1:
                return None  # restore_together: one image at a time
            stacked = False  # one image's ensemble: its runs one after another
        if images == 1:
            level = visible_noise(op, y, noise_level)
        else:  # each image's own noise level, as when restored alone
            levels = [visible_noise(op, y[b : b + 1], noise_level) for b in range(images)]
            if len({v is None for v in levels}) > 1:
                return None  # some read, some not (another stopping rule): one at a time
            level = None if levels[0] is None else torch.tensor(levels, dtype=torch.float64)
        # each image's level, for its Result (the stopping rule's, before an ensemble's copies)
        said = [None] * images if level is None else torch.as_tensor(level).reshape(-1).tolist()
        init = self.init
        if init == "auto":
            init = "warm" if getattr(op, "good_initial_estimate", False) else "none"
        estimate = estimate_of(op, y, shape) if init != "none" else None
        if init != "none" and estimate is None:
            raise ValueError(f"no initial estimate is known for {type(op).__name__}; use init='none'.")
        if stacked and k > 1:  # image b's runs side by side, at b * k ... b * k + k - 1
            # (levels and estimates read once per image above, then copied to its runs)
            y, truth, estimate = (None if t is None else t.repeat_interleave(k, 0)
                                  for t in (y, truth, estimate))
            if level is not None:
                level = torch.as_tensor(level, dtype=torch.float64).reshape(-1).repeat_interleave(k)
        finish, cheap = keeper(op, y, self.keep_observed, level)
        stop = self.stop if self.stop != "auto" else ("discrepancy" if level is not None else "wmv")
        if stop == "discrepancy" and level is None:  # (said before the warm start, not after)
            raise ValueError(NEEDS_LEVEL)
        budget = self.max_seconds if stacked or self.max_seconds is None else self.max_seconds / k
        setup = (time.perf_counter() - began) / (1 if stacked else k)  # (each run's share)
        cfg = LoopConfig(spent=setup,
            iters=self.iters or default_iters, lr=self.lr, loss=self.loss, tv=self.tv,
            ema=self.ema, stop=stop, noise_level=level, window=self.window,
            patience=self.patience, progress=progress, max_seconds=budget,
            finish=finish, trace_finish=cheap, desc=desc)
        if stacked:
            seeds = [self.seed + j for _ in range(images) for j in range(k)]
            results = self._fit(seeds, True, shape, init, estimate, op, y, cfg, truth)
            return [_with_level(_mean(results[b * k : (b + 1) * k]), said[b]) for b in range(images)]
        results = []  # the ensemble's runs one after another, the time budget shared
        for j in range(k):
            if results and results[-1].interrupted:
                break
            each = replace(cfg, desc=f"{desc} run {j + 1}/{k}" if k > 1 else desc)
            results.append(self._fit([self.seed + j], False, shape, init, estimate, op, y,
                                     each, truth))
        return _with_level(_mean(results), said[0])

    def _fit(self, seeds: list, stacked: bool, shape: tuple, init: str, estimate, op, y,
             cfg: LoopConfig, truth):
        """Fresh generators from ``seeds``, their warm start if ``init == "warm"``, and the
        fit to ``y``: by ``fit_stacked`` (a list of Results, generator ``j`` fitted to
        ``y[j]``) or, for one seed, by ``fit`` (a Result)."""
        began = time.perf_counter()
        generators = [make_generator(self.kind, shape, config=self.config, seed=seed,
                                     device=self.device,
                                     guide=estimate[j : j + 1] if init == "guide" else None)
                      for j, seed in enumerate(seeds)]
        for generator in generators:
            generator.autocast, generator.graphs = self.autocast, self.graphs
        # torch's first Adam in a process imports torch._dynamo (1.2 to 2.5 s here): made
        # now, in the setup's time, not in the warm start's share of a time limit, which it
        # had used up (--max-seconds 5 returned the estimate after 1.2 s, "too soon for the
        # fit", where the whole run takes 3.1 s)
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        run = partial(fit_stacked, generators) if stacked else partial(fit, generators[0])
        cfg = replace(cfg, spent=cfg.spent + time.perf_counter() - began)  # (the networks' making)
        if init == "warm":
            # the same loop, fitting the output to the estimate: reaching a decent image
            # this way costs the same per step as fitting y but needs no operator, and the
            # fit to y then starts from there instead of from a gray image
            steps = min(300, cfg.iters // 5) if self.warm is None else self.warm
            # (no backtracking on loss jumps: fitting a fixed image does not diverge, and a
            # rollback on a harmless spike changed the sr4 decoder's run by 0.4 dB)
            warm = run(_identity, estimate, LoopConfig(
                iters=steps, lr=cfg.lr, ema=0.0, stop="none", jump=math.inf,
                progress=cfg.progress, desc="warm start", spent=cfg.spent,
                max_seconds=None if cfg.max_seconds is None else
                cfg.spent + WARM_SHARE * max(cfg.max_seconds - cfg.spent, 0.0),
            )) if steps else None
            first_warm = warm[0] if isinstance(warm, list) else warm
            # stopped by the time limit before a tenth of its steps, the network has not
            # begun to copy the estimate either (64x64 inpainting, 2 s, the first in a process:
            # 12.73 dB after the fit's 66 steps, the estimate 32.33)
            # (or before its pace is known: --iters 20 warms up 4 steps, and a limit cut at
            # the first had returned that step's network image, 10.24 dB from y's 18.89)
            cut = first_warm is not None and first_warm.stop_reason.startswith("time limit") \
                and first_warm.iterations < max(steps // 10, 2)
            # (not where the estimate is y itself: denoising's fit stops early, within a few
            # hundred steps, and y is no restoration; not after Ctrl-C, said as such)
            skip = cut or getattr(op, "is_identity", False) or (
                first_warm is not None and first_warm.interrupted)
            allowed = None if skip else _fit_steps_left(first_warm, cfg)
            # (of the iterations asked, or the usual ones: --iters 100000 --max-seconds 60
            # is "as many as a minute allows")
            needed = SHORTEST_FIT * min(cfg.iters, _default_iters(op))
            short = allowed is not None and allowed < needed
            if first_warm is not None and (first_warm.interrupted or cut or short):
                # the network had only begun to copy the estimate (a 256x256 denoising
                # stopped at 8 s: 18.2 dB, worse than y's 20.5): no step of the fit to y was
                # made, so the estimate itself is returned (Ctrl-C: the CLI writes nothing)
                share = (f" (each of {self.ensemble} runs' share of {self.max_seconds:g} s)"
                         if not stacked and self.ensemble > 1 and self.max_seconds is not None
                         else "")  # (none: Ctrl-C in an ensemble's warm start had been a TypeError)
                runs = self.ensemble if share else 1  # (one after another, the limit shared)
                # (a denoising's estimate is y: "the operator's estimate" had hidden that a
                # folder's outputs were their inputs, to the byte)
                returned = ("y is returned as it was, not denoised" if getattr(op, "is_identity", False)
                            else "the operator's estimate is returned")
                # the limit that would do, at the warm start's pace (a cut one had said none)
                enough = (f"a limit of about {describe_seconds(runs * _budget_for(needed, first_warm, cfg, steps))}"
                          f" allows them" if first_warm.step_seconds else "")
                for j, result in enumerate(warm if isinstance(warm, list) else [warm]):
                    result.image = estimate[min(j, len(estimate) - 1)][None].clamp(0, 1)
                    result.stop_reason = (
                        f"time limit of {cfg.max_seconds:g} s{share} in the warm start ({result.iterations}"
                        f" of {steps} steps), too soon for the fit to y (it takes about "
                        f"{needed:.0f} steps): {returned}"
                        + (f"; {enough}" if enough else "") if cut else
                        f"time limit of {cfg.max_seconds:g} s{share}: time for about {allowed:.0f}"
                        f" steps of the fit to y, too few to improve on the operator's estimate "
                        f"(it takes about {needed:.0f}), which is returned; {enough}" if short else
                        f"{result.stop_reason} in the warm start, before the fit to y")
                    result.iterations = result.iteration = 0
                return warm
            if first_warm is not None:  # one budget for both (its seconds count the setup)
                cfg.spent = first_warm.seconds
        fitted = run(op, y, cfg, truth=truth)
        _say_few_iterations(fitted, op, cfg, estimate is not None)
        return fitted if init != "none" else _estimate_where_cut(fitted, op, y, shape, cfg)


    def _check_cost(self, shape: tuple, iters: int, progress: bool, runs: int = 1,
                    repeats: int = 1) -> bool:
        """Refuse an image whose network would not fit in the free memory (one sentence);
        False where ``runs`` of them stacked would not (they then go one at a time); say how
        long ``repeats`` runs one after another will take, if more than a minute."""
        build = partial(make_generator, self.kind, config=self.config, seed=self.seed,
                        device=self.device)
        cost = estimate(build, shape, iters=iters, device=self.device)
        free = free_memory(self.device)
        size = f"{shape[-1]}x{shape[-2]}"
        if free is not None and cost.bytes > free:
            raise ValueError(
                f"the {self.kind} prior would need about {cost.bytes / 2**30:.1f} GiB for a "
                f"{size} image (width x height) on {self.device.type} and "
                f"{free / 2**30:.1f} GiB is free; use a smaller image, prior='denoiser' (it "
                "works on tiles), or a larger device.")
        if free is not None and cost.bytes * runs > free:
            return False
        # the time of one image (a stack runs its images side by side)
        took = duration_words(cost.seconds * repeats, self.max_seconds)
        if progress and took:
            runs_of = f"{repeats} runs of " if repeats > 1 else ""
            sooner = "early stopping may end it sooner; " if self.stop != "none" else ""
            say(f"{self.kind}: {took} for {runs_of}up to {iters} iterations at {size} "
                f"on {self.device.type} ({sooner}Ctrl-C keeps the best so far).")
        return True


# The least share of its iterations a fit to y must have time for, or the operator's
# estimate is returned at once: a fit cut shorter ends worse than the estimate it started
# from (a longer budget had given a worse image than a shorter one, whose warm start was
# cut). Camera 128, gaussian blur 2, noise 0.01 (the estimate 25.51 dB), cut after 311 / 581
# / 898 / 972 of 2000 iterations: 23.63 / 24.80 / 25.30 / 25.69 dB; astronaut 256 colour,
# after 241: 18.89 dB against the estimate's 25.48 and the blurred input's 21.93. Camera 64,
# half the pixels missing, noise-free (the estimate 30.60): the fit passes it at about 650 of
# 3000 steps, 31.01 at 1500, 31.40 at 3000 (at most 0.4 dB given up there).
SHORTEST_FIT = 0.5


# The same for a fit from no estimate (init="none"), where the operator has one all the
# same: the deep image prior passes it after about a sixth of its iterations. 64x64
# compressed sensing, camera / astronaut at ratios 0.1 and 0.3 (the estimates 21.05 / 25.88
# / 16.81 / 21.70 dB), after 250, 500 and 2000 iterations: 23.43 / 24.57 / 17.43 / 20.40,
# then 25.72 / 28.35 / 18.71 / 24.30, then 27.00 / 32.74 / 19.09 / 26.82 (camera at 0.3
# cut at 372: 27.06; the decoder cut at 203: 24.55)
SHORTEST_COLD_FIT = 0.15


def _estimate_where_cut(fitted, op, y, shape: tuple, cfg: LoopConfig):
    """``fitted`` (a Result, or a list of them, one per item of ``y``), with the operator's
    estimate in place of each run from no estimate (``init="none"``) that the time limit
    stopped before ``SHORTEST_COLD_FIT`` of its iterations, where the operator has an
    estimate: such a network had barely begun (64x64 compressed sensing at 0.3, the
    estimate 25.88 dB: the deep image prior gave 10.48 dB after 0.5 s, 13.89 after 2 s and
    23.95 after 8 s, without a word)."""
    runs = fitted if isinstance(fitted, list) else [fitted]
    needed = SHORTEST_COLD_FIT * min(cfg.iters, _default_iters(op))
    cut = [r.stop_reason.startswith("time limit") and r.iterations < needed for r in runs]
    if not any(cut):
        return fitted
    estimate = estimate_of(op, y, shape)
    if estimate is None:
        return fitted
    for j, (result, short) in enumerate(zip(runs, cut)):
        if short:
            result.image = estimate[min(j, len(estimate) - 1)][None].clamp(0, 1)
            result.stop_reason = (f"time limit of {cfg.max_seconds:g} s after "
                                  f"{counted(result.iterations, 'step')} of the fit to y, too few to improve on the "
                                  f"operator's estimate (it takes about {needed:.0f}), which "
                                  f"is returned")
            # (the steps run stay counted, as its traces hold them: it had said "0
            # iterations" over a 113-step trace, and its plot "iteration 0 of 0")
            result.iteration = 0
    return fitted


def _say_few_iterations(fitted, op, cfg: LoopConfig, has_estimate: bool) -> None:
    """Add to the stop reason of each run of ``fitted`` (a Result or a list) that ran all of
    an ``iters`` under ``SHORTEST_FIT`` of the usual ones that it was too few to improve on
    the operator's estimate as a rule (deblurring 64x64 camera: the estimate 20.91 dB, 1
    iteration 9.57, 100 17.65, 400 20.05, without a word; a time limit this short returns
    the estimate). Not for denoising, whose estimate is y."""
    needed = SHORTEST_FIT * _default_iters(op)
    if not has_estimate or getattr(op, "is_identity", False) or cfg.iters >= needed:
        return
    for result in fitted if isinstance(fitted, list) else [fitted]:
        if result.stop_reason.startswith("reached"):
            result.stop_reason += (f" (fewer than the about {needed:.0f} a fit takes to improve "
                                   f"on the operator's estimate as a rule)")


def _fit_steps_left(warm: Result | None, cfg: LoopConfig) -> float | None:
    """How many steps of the fit to y the time limit leaves after the warm start ``warm``,
    at the pace of its steps after the first (a step of the fit costs a little more: the
    operator; the first pays for the first allocations and, first in a process, a second
    of Adam's making); None without a limit or two steps to time."""
    if warm is None or cfg.max_seconds is None or not warm.step_seconds:
        return None
    return max(cfg.max_seconds - warm.seconds, 0.0) / warm.step_seconds


def _budget_for(fit_steps: float, warm: Result, cfg: LoopConfig, steps: int) -> float:
    """The time limit that leaves the fit time for ``fit_steps`` after a whole warm start of
    ``steps`` (which takes at most ``WARM_SHARE`` of it), at ``warm``'s pace, the setup
    counted."""
    return cfg.spent + warm.step_seconds * max(steps / WARM_SHARE, steps + fit_steps)


def _default_iters(op) -> int:
    """The network priors' iteration cap: 3000 where the projection onto ``A x = y`` is
    cheap (inpainting: more steps to fill the holes), else 2000."""
    return 3000 if getattr(op, "projection_is_cheap", False) else 2000


def _identity(x):
    return x


def _mean(results: list) -> Result:
    """One Result for an ensemble's runs of one image: the mean of the estimates of the runs
    that fitted y (one stopped in its warm start holds the operator's estimate: it had
    gone into the mean, which was then said to be the estimate, or a fitted run), the
    traces and stopping of the first of them (``fit`` returns each run's estimate clamped
    to [0, 1] and already projected onto the observation, both of which the mean keeps)."""
    if len(results) == 1:
        return results[0]
    # (returned iteration 0: the operator's estimate, from a warm start or a cold fit cut
    # short, which keeps its steps counted)
    fitted = [r for r in results if r.iteration > 0] or results[:1]
    first, left = fitted[0], len(results) - len(fitted)
    said = (f"mean of {len(fitted)} runs; the first: {first.stop_reason}" if len(fitted) > 1
            else first.stop_reason)
    if left and fitted[0].iteration > 0:
        said += (f" ({left} of {len(results)} runs left out: cut short, they held the "
                 f"operator's estimate)")
    return Result(
        image=torch.stack([r.image for r in fitted]).mean(0), losses=first.losses,
        psnrs=first.psnrs, iteration=first.iteration, iterations=first.iterations,
        stop_reason=said, stop_signal=first.stop_signal, seconds=sum(r.seconds for r in results),
        interrupted=any(r.interrupted for r in results))


def _with_level(result: Result, level: float | None) -> Result:
    """``result`` carrying the noise level its stopping rule watched for (None: none)."""
    result.noise_level = level
    return result
