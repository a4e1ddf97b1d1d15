"""Plug-and-play restoration: half-quadratic splitting around any denoiser.

For an operator ``A`` and ``y = A x + noise`` (std ``s_n``), alternate

    x_half = argmin_x ||A x - y||^2 + mu_k ||x - z||^2     (data step, conjugate gradient)
    z      = denoise(x_half, sigma_k)                       (the prior)

A nonlinear differentiable ``A`` (saturation, gamma, a learned model: any callable) gets one
Gauss-Newton step of the data step instead, the same conjugate gradient on its Jacobian at
``z`` (``data_step``): the fast denoiser then serves it too (camera 128x128 through
``sqrt(blur(x)) + noise``: 29.71 dB in 5 s, against 26.76 for the deep image prior in 79 s;
BENCHMARKS.md, "Nonlinear operators").

with ``sigma_k`` decreasing geometrically from ``sigma_start`` to ``sigma_end`` and
``mu_k = max(max(weight * s_n^2, QUIET) / sigma_k^2, MU_MIN)`` (Zhang et al., DPIR, 2021;
``data_weights``; ``weight`` and the iterations per operator: ``defaults``). For a
noise-free observation the returned image is the last data step, so it is reproduced (an
inpainting keeps its observed pixels); for a noisy one, the last denoised image.

A denoiser is any ``denoise(x (1, C, H, W), sigma) -> (1, C, H, W)`` with ``sigma`` on the
[0, 1] scale, as in DPIR: the shipped CNN (``priors.cnn``), K-SVD (``sparse.KSVDDenoiser``),
or a user's own, e.g. scikit-image's TV denoiser:

    >>> import operators as O
    >>> from skimage.restoration import denoise_tv_chambolle
    >>> def tv(x, sigma):
    ...     image = x[0].permute(1, 2, 0).double().numpy()
    ...     out = denoise_tv_chambolle(image, weight=sigma, channel_axis=2)
    ...     return torch.from_numpy(out).permute(2, 0, 1)[None].to(x)
    >>> A = O.Inpainting(shape=(1, 32, 32), missing=0.5)
    >>> result = PlugAndPlay(tv, iters=4).restore(A(torch.rand(1, 1, 32, 32)), A)
    >>> result.image.shape, result.iterations
    (torch.Size([1, 1, 32, 32]), 4)
"""

from __future__ import annotations

import copy
import inspect
import math
import time
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

import operators as O
from operators.base import as_switch

from ..checks import check_keep_observed, is_number, resolve_device, whole_number
from ..console import bar_options, say, shown_level, shown_psnr, stopped_by, total_in_time
from ..fit import StepClock
from ..metrics import psnr
from ..operator_checks import blur_like, estimate_of, stack_image_shape
from ..result import Result, counted
from .base import ItemwisePrior, in_parts, keeper, said_level, stack_levels, visible_noise
from .cost import duration_words, free_memory
from .dihedral import Turning
from .window import inpainting_window, restore_in_window

__all__ = ["PlugAndPlay", "pnp_restore", "data_weights", "defaults", "MU_MIN"]

# The data step is never less regularised than the Wiener start (balance 3e-3): early, weakly
# regularised steps amplify noise that the denoiser cannot remove on small images
# (astronaut 64x64 RGB deblur with K-SVD: 25.8 -> 27.4 dB; camera 256: 28.70 -> 28.64).
MU_MIN = 3e-3
# Below about 1/255 of noise, y is trusted as if it had 1/255 at weight 0.1, whatever the
# weight (``data_weights``): a stronger weight there costs detail (camera 256, noise-free
# gaussian blur 2: 30.38 dB at 0.1, 30.07 at 0.2; motion blur, noise 0.001: 40.5 / 38.7).
QUIET = 0.1 * (1 / 255) ** 2
# The lowest level a part of a stack is weighed at against its noisier parts: a part read
# as clean is held to, and the others are still heard (at 0 they would count for nothing)
QUIET_PART = 1 / 255
# The relative residual at which the Gauss-Newton data step of a nonlinear operator stops
# its conjugate gradient (``data_step`` says why it is not the cg_iters of a linear one).
NONLINEAR_CG_TOL = 1e-3
# damped Gauss-Newton steps (mu 1e-2) from mid-gray before a nonlinear operator's hidden
# pixels are looked for (start_image)
ROUGH_FIT, ROUGH_CG = 5, 5  # (at most 4 ROUGH_CG conjugate-gradient steps each)
# Peak memory of plug-and-play per value of the images it restores, beyond a fixed ~0.3 GiB:
# measured (peak RSS, CLI, RGB at 4 and 9 megapixels) 56 bytes for a blur, 60 for x4
# super-resolution, 68 for inpainting's start and steps; ``check_memory`` counts 96.
BYTES_PER_VALUE = 96
# How long a large restoration will take is said before it starts (its first iteration
# alone took minutes at 48 megapixels, with nothing shown but 0/32): one denoiser call on
# a PROBE x PROBE crop, scaled by the pixel count and by DATA_STEP_SHARE for the data steps,
# from SAY_FROM pixels per image up (a quarter megapixel: a 0.58 MP inpainting window ran
# 4.6 minutes on one thread unsaid, under the first 1 MP; the probe costs two denoiser
# calls, a few percent of such a run), and said when it comes to over a minute. 1.6 came from
# a 1-megapixel RGB deblur (10.6 s per iteration, 6.7 s of it the denoiser) and said 1.3x
# to 1.6x the time later (a user's 1 MP inpainting: "about 13 minutes", 7:54). Measured
# again (2026-12-06, 1024x1024 RGB, 2 threads, per iteration, /tmp/rs/share.py): deblur
# 8.27 s, inpainting 7.94, x2 super-resolution 10.22, where 1.6 said 10.84, 10.69, 11.09.
PROBE = 256
DATA_STEP_SHARE = 1.25
SAY_FROM = 250_000
# the most iterations a run takes (as the command line's --iters: cli.MAX_ITERS)
MOST_ITERS = 1_000_000
# a time limit fits the schedule to the iterations it leaves; a noise-free y cut before this
# many returns its first data step instead (camera 256, 50 % missing / compressed sensing at
# 25 %: 1 iteration 32.14 / 27.02 dB, 2 30.66 / 26.12, 3 31.98 / 27.43, 4 32.65 / 28.37)
SHORTEST_SCHEDULE = 4
# Per operator when not given (``defaults``). A blur: weight 0.2 (``data_weights`` says why),
# 16 iterations, from y itself as DPIR starts (the Wiener start, balance 3e-3, amplifies
# strong noise where the kernel nearly vanishes and no later step removes it there: motion
# blur, noise 0.05, 22.7 dB from Wiener, 27.6 from y). Measured on camera 256 through
# gaussian, motion and small blurs at noise 0 to 0.05 (closing note of 2026-12-02): 16
# iterations as good as 32 on average, at half the time. Any other operator: 32 iterations
# at weight 0.1 as before. There 0.2 measured level (noisy inpainting, super-resolution and
# compressed sensing of camera; over-exposure) or a little better (a gamma after a blur:
# camera 29.53 against 29.44 dB, astronaut 24.74 against 24.44), but these cases move by
# more than that between machines (astronaut at 0.1: 25.96 on the Xeon of BENCHMARKS.md's
# earlier runs), so they were left as they were. (That spread was the
# Gauss-Newton step's unconverged conjugate gradient: ``data_step``.)
BLUR = {"iters": 16, "weight": 0.2}
# A blur seen through noise so weak that the data step trusts y at its floor (``QUIET``: noise
# up to 0.7/255 at weight 0.2) runs 32 iterations: there the schedule's finer steps keep
# adding detail. Eight 256x256 gray crops (4 skimage photos, 4 Kodak24), 16 -> 32
# iterations: gaussian blur 2 noise-free 28.52 -> 28.66 dB, motion blur 21 px noise-free
# 36.53 -> 37.42, the same at noise 0.002 28.41 -> 28.54 and 34.91 -> 35.21. Noisier blurs
# keep 16 (the 12-02 measurement; at noise 0.005-0.03 those crops measured 12 as well as
# 16, +0.03 dB on average, not tried on the fixed cases and not taken).
BLUR_QUIET_ITERS = 32
OTHERS = {"iters": 32, "weight": 0.1}


class PlugAndPlay(ItemwisePrior):
    """The plug-and-play prior around ``denoiser`` (see the module docstring).

    Args:
        denoiser: ``denoise(x, sigma) -> x``; or, with ``fresh=True``, a function of no
            arguments that makes a new one for each observation (for a denoiser that
            learns as it goes, like K-SVD).
        iters: splitting iterations (default ``defaults``: 16 for a noisy blur, else 32).
        sigma_start, sigma_end, weight, cg_iters, turns: as ``pnp_restore``.
        keep_observed: project a noise-free result onto ``{x : A x = y}`` exactly
            (``op.projection``; default: unless the noise level is > 0).
        max_seconds: time budget per observation (per batch restored together).
        shape: image shape ``(C, H, W)`` for an operator that cannot tell it from ``y``.
        batched: ``denoiser`` takes a batch ``(B, C, H, W)`` and a ``(B,)`` tensor of noise
            levels, so that a batch of same-size observations is restored together, in one
            denoiser call per iteration (the CNN denoiser does; default False: one
            observation at a time).
        name: the prior's name (progress bars, ``Result.prior``); label: what
            ``stop_reason`` calls the method.
    """

    needs_linear = False  # the data step linearises a nonlinear operator (pnp.data_step)

    def __init__(self, denoiser: Callable, *, iters: int | None = None,
                 sigma_start: float = 0.2, sigma_end: float | None = None,
                 weight: float | None = None, cg_iters: int = 30, turns: bool = False,
                 keep_observed: bool | None = None,
                 max_seconds: float | None = None, device="auto", fresh: bool = False,
                 batched: bool = False, shape: tuple | None = None, name: str = "plug-and-play",
                 label: str | None = None):
        _check_settings(denoiser, iters=iters, sigma_start=sigma_start, sigma_end=sigma_end,
                        weight=weight, cg_iters=cg_iters, max_seconds=max_seconds,
                        keep_observed=keep_observed,
                        switches=dict(turns=turns, fresh=fresh, batched=batched))
        if not (isinstance(name, str) and name):  # (name=3 was taken, then shown as "3")
            raise ValueError(f"name must be a non-empty string, got {name!r}.")
        if not isinstance(label, (str, type(None))):  # ("" or None: the name)
            raise ValueError(f"label must be a string, got {label!r}.")
        self.denoiser, self.fresh, self.batched, self.name = denoiser, fresh, batched, name
        self.label = label or name
        self.iters = iters
        self.settings = dict(sigma_start=sigma_start, sigma_end=sigma_end, weight=weight,
                             cg_iters=cg_iters, max_seconds=max_seconds, turns=turns,
                             shape=tuple(shape) if shape is not None else None)
        self.shape = self.settings["shape"]  # read by ItemwisePrior.restore's checks
        self.keep_observed = keep_observed
        self.device = resolve_device(device)

    def restore_one(self, y, op, *, noise_level, truth, progress, desc) -> Result:
        return self.restore_together(y, op, noise_level=noise_level, truth=truth,
                                     progress=progress, desc=desc, one=True)[0]

    def restore_together(self, y, op, *, noise_level, truth, progress, desc,
                         one: bool = False, start: torch.Tensor | None = None) -> list | None:
        """``ItemwisePrior``'s batch step; ``start``: where the splitting starts (as
        ``pnp_restore``)."""
        if isinstance(y, tuple):  # a Stack's measurements: end to end, for the data step
            return self._restore_stacked(y, op, noise_level=noise_level, truth=truth,
                                         progress=progress, desc=desc, one=one, start=start)
        if not one and (self.fresh or not self.batched):
            return None
        # each item's noise level: given, else read off y where it is visible, else 0
        levels = [visible_noise(op, y[b : b + 1], noise_level) or 0.0 for b in range(len(y))]
        window = inpainting_window(op, y, levels, self.keep_observed)
        if window is not None:  # noise-free holes: only they and their surroundings
            # (the crop's own window is all of it: no second crop)
            return restore_in_window(
                lambda y, op, truth, start: self.restore_together(
                    y, op, noise_level=0.0, truth=truth, progress=progress, desc=desc,
                    one=True, start=start), window, y, op, truth, start)
        # Items that would not run alike are restored as alone, part by part: another
        # default iteration count (a noise-free blur runs longer), or noise-free among noisy
        # ones (a noise-free item ends with its projection onto A x = y: super-resolution's
        # back-projection, which would put a noisy item's noise back)
        kinds = [(self.iters or defaults(op, level, self.settings["weight"], y.device)["iters"], level > 0)
                 for level in levels]
        if len(set(kinds)) > 1:
            return in_parts(kinds, y, lambda _, y, truth, start: self.restore_together(
                y, op, noise_level=noise_level, truth=truth, progress=progress, desc=desc,
                one=True, start=start), truth, start, op=op)
        denoise = self.denoiser() if self.fresh else self.denoiser
        result = pnp_restore(y, op, denoise, noise_level=levels, iters=self.iters, truth=truth,
                             progress=progress, desc=desc, start=start, **self.settings)
        # the last data step reproduces y only up to its small damping: put it back exactly
        finish, _ = keeper(op, y, self.keep_observed, levels)
        if finish is not None:
            finished = finish(result.image).clamp(0, 1)
            for b, item in enumerate(result.items):
                item.image = finished[b : b + 1]
        for item, level in zip(result.items, levels):  # (a level of 0: none read, none said)
            read = said_level(level, noise_level) if level else ""
            item.stop_reason = f"{self.label}, {item.stop_reason}{read}"
            item.noise_level = float(level)
        return result.items

    def _restore_stacked(self, y: tuple, op, *, noise_level, truth, progress, desc, one,
                         start) -> list | None:
        """``restore_together`` for a stack's measurements ``y`` (one tuple item): laid end
        to end (``O.FlatStack``), each part whitened to the lowest noise level of them."""
        if self.keep_observed:  # (it was left out without a word: no part is kept as it came)
            raise ValueError("keep_observed is for one operator's measurements; a stack's are "
                             "weighed together, none kept as it came.")
        levels = stack_levels(op, y, noise_level)
        # QUIET_PART at least: a noise-free part beside noisy ones is held to, not alone heard
        floor = max(min(levels), QUIET_PART) if any(levels) else 1.0
        weights = [floor / max(level, floor) for level in levels]
        flat = O.FlatStack(op, stack_image_shape(op, y, self.shape), weights)
        results = self.restore_together(flat.flatten(y), flat,
                                        noise_level=floor if any(levels) else 0.0, truth=truth,
                                        progress=progress, desc=desc, one=one, start=start)
        if noise_level is None and any(levels):  # (read, and said so, as for one operator)
            read = ", ".join(f"{255 * level:.1f}" for level in levels)
            for result in results or []:  # (a part that shows none: the lowest of the others)
                result.stop_reason += f", noise {read}/255 by part, estimated"
        return results


def say_duration(denoise, x: torch.Tensor, sigma: float, iters: int, desc: str,
                 limit: float | None = None) -> float:
    """Estimate the seconds of ``iters`` iterations on images ``x (B, C, H, W)`` from one
    ``denoise`` call on a ``PROBE`` crop (see ``DATA_STEP_SHARE``), and say it on stderr
    when it is over a minute (``cost.duration_words``: under the time ``limit``); returns
    the estimate.

    Example:
        >>> round(say_duration(lambda u, s: u, torch.zeros(1, 1, 64, 64), 0.1, 10, "pnp"))
        0
    """
    crop = x[:1, :, :PROBE, :PROBE]
    # a denoiser that learns from its calls (K-SVD: a dictionary every ``relearn`` calls) is
    # probed on a copy: the probe had taught the one restoring the crop's dictionary and
    # moved its schedule (the result then changed with --quiet); its learning is timed too
    relearn = getattr(denoise, "relearn", None)
    denoise = copy.deepcopy(denoise) if relearn else denoise
    with torch.no_grad():
        start = time.perf_counter()
        denoise(crop, sigma)  # the first call pays for allocation and kernel choice (K-SVD: learning)
        first = time.perf_counter() - start
        start = time.perf_counter()
        denoise(crop, sigma)
        if crop.device.type == "cuda":
            torch.cuda.synchronize(crop.device)
        probe = time.perf_counter() - start
    if relearn:
        probe += max(first - probe, 0.0) / relearn
    seconds = DATA_STEP_SHARE * probe * iters * x.shape[0] * x[0, 0].numel() / crop[0, 0].numel()
    took = duration_words(seconds, limit)
    if took:
        h, w = x.shape[-2:]
        say(f"{desc or 'plug-and-play'}: {took} for {iters} iterations at {w}x{h} on "
            f"{x.device.type} (Ctrl-C keeps the best so far).")
    return seconds


def _check_settings(denoiser, *, iters, sigma_start, sigma_end, weight, cg_iters,
                    max_seconds, keep_observed, switches) -> None:
    """``ValueError`` in one sentence for a setting of ``PlugAndPlay`` that would fail
    deep inside a run or change it without a word (a negative sigma_end made the noise
    levels NaN; keep_observed="no" meant yes; iters="5" a TypeError at the first step;
    a denoiser of one argument failed at the first step with "takes 1 positional
    argument"). ``switches``: the on/off settings by name."""
    if not callable(denoiser):
        raise ValueError(f"the denoiser must be a function denoise(x, sigma) -> x, got "
                         f"{type(denoiser).__name__}.")
    try:  # (fresh: a function of nothing that makes a denoiser per observation)
        inspect.signature(denoiser).bind(*([] if switches["fresh"] else [None, None]))
    except TypeError:
        raise ValueError("fresh=True takes a function of no arguments that makes a denoiser"
                         if switches["fresh"] else
                         "the denoiser must take two arguments, denoise(x, sigma) -> x "
                         "(sigma: the noise level to remove, on the [0, 1] scale).") from None
    except ValueError:  # a callable whose signature Python cannot tell (a builtin)
        pass
    if iters is not None and whole_number("iters", iters, 1) > MOST_ITERS:
        # (its schedule is laid out before the run: 10 ** 10 had asked numpy for 74.5 GiB)
        raise ValueError(f"iters must be at most {MOST_ITERS}, got {iters} (max_seconds ends "
                         f"a run that long first).")
    whole_number("cg_iters", cg_iters, 1)
    for name, value in (("sigma_start", sigma_start), ("sigma_end", sigma_end),
                        ("weight", weight), ("max_seconds", max_seconds)):
        if value is not None and not (is_number(value) and value > 0 and (
                math.isfinite(value) or name == "max_seconds" and value == math.inf)):
            raise ValueError(f"{name} must be a positive number, got {value!r}.")
    if sigma_end is not None and sigma_end > sigma_start:  # the levels fall from start to end
        raise ValueError(f"sigma_end ({sigma_end:g}) must not exceed sigma_start "
                         f"({sigma_start:g}): the denoiser's levels fall from one to the other.")
    for name, value in switches.items():
        as_switch(value, name)
    check_keep_observed(keep_observed)


def check_denoised(out, noisy: torch.Tensor) -> None:
    """``ValueError`` in one sentence unless the denoiser's ``out`` is a finite tensor shaped
    like its input ``noisy``.

    Example:
        >>> check_denoised(torch.zeros(1, 1, 4, 4)[0], torch.zeros(1, 1, 4, 4))
        Traceback (most recent call last):
        ...
        ValueError: the denoiser returned shape (1, 4, 4) for images of shape (1, 1, 4, 4); it must return them denoised, shaped as they are.
    """
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"the denoiser returned {type(out).__name__}, not a torch.Tensor; it "
                         f"must return the images denoised, shaped as they are.")
    if out.shape != noisy.shape:
        raise ValueError(f"the denoiser returned shape {tuple(out.shape)} for images of shape "
                         f"{tuple(noisy.shape)}; it must return them denoised, shaped as they are.")
    if not out.is_floating_point():  # (it failed in the next data step, blaming the input)
        raise ValueError(f"the denoiser returned {str(out.dtype).replace('torch.', '')} values; "
                         f"it must return real floating-point images, as it is given.")
    if not torch.isfinite(out).all():
        raise ValueError("the denoiser returned NaN or infinite values.")


def pnp_restore(y: torch.Tensor, op: O.Operator, denoise: Callable, *,
                noise_level: float | Sequence[float] = 0.0, iters: int | None = None,
                sigma_start: float = 0.2, sigma_end: float | None = None,
                weight: float | None = None,
                cg_iters: int = 30, truth: torch.Tensor | None = None, progress: bool = False,
                max_seconds: float | None = None, shape: tuple | None = None,
                turns: bool = False, desc: str = "plug-and-play",
                start: torch.Tensor | None = None) -> Result:
    """Restore ``(B, C, H, W)`` from ``y = op(x) + noise`` by plug-and-play splitting, the
    whole batch in each data step and each denoiser call.

    Args:
        y: ``B`` observations, any shape ``op`` produces.
        op: a linear operator (its ``pinv`` does the data step), or any differentiable
            one (one Gauss-Newton step on its Jacobian instead: ``data_step``).
        denoise: ``denoise(x (B, C, H, W), sigma) -> (B, C, H, W)``, ``sigma`` on [0, 1]: a
            float, or a ``(B,)`` tensor when the items' noise levels differ.
        noise_level: std of the noise in ``y`` on the [0, 1] scale (0 for noise-free); one
            value, or one per item.
        iters: splitting iterations (default: ``defaults``). sigma_start / sigma_end:
            denoiser strength schedule (default end: the noise level, at least 2/255).
        weight: how much the data step trusts the denoised image against noisy data
            (``data_weights``; default: ``defaults(op)``).
        cg_iters: conjugate-gradient steps per data step.
        truth: ``(B, C, H, W)`` clean images, only to record PSNR per iteration.
        max_seconds: stop before an iteration that would end past this time, as long as
            the mean of those done (default: no limit; the first iteration always runs).
        shape: the image shape ``(C, H, W)`` where ``op`` cannot tell it from ``y``.
        turns: call the denoiser on the image turned by the next of the square's 8
            rotations and flips at each iteration (``priors.dihedral``; it must take any
            ``H, W`` and either orientation).
        start: ``(B, C, H, W)`` images to start from (default: ``start_image``), e.g. the
            trained inpainter's fill (``priors.inpainter``).

    Returns:
        ``Result``: the estimates clipped to [0, 1] (the last data step for a noise-free
        item, the last denoised image for a noisy one), one item per observation with its
        PSNR at each iteration (with ``truth``), the iterations run. Ctrl-C returns the
        estimates so far (``interrupted``).

    Example:
        >>> import operators as O
        >>> x = torch.rand(2, 1, 32, 32)
        >>> A = O.Inpainting(shape=(1, 32, 32), missing=0.5)
        >>> smooth = lambda u, sigma: torch.nn.functional.avg_pool2d(u, 3, 1, 1, count_include_pad=False)
        >>> out = pnp_restore(A(x), A, smooth, iters=3, noise_level=[0.0, 0.05])
        >>> out.image.shape, out.iterations, len(out.items)
        (torch.Size([2, 1, 32, 32]), 3, 2)
    """
    given = defaults(op, noise_level, weight, y.device)
    iters = given["iters"] if iters is None else iters
    weight = given["weight"] if weight is None else weight
    if iters < 1 or not 0 < sigma_start < 1 or weight <= 0:
        raise ValueError("iters must be >= 1, sigma_start in (0, 1) and weight > 0.")
    began = time.perf_counter()
    op = O.as_operator(op)
    check_memory(op, y, shape)
    with torch.no_grad():
        x = estimate = start_image(op, y, shape) if start is None else start.clone()
    batch = x.shape[0]
    # the noise the fit to y leaves in the image (op.noise_in_image): the denoiser's level,
    # and the data weight's against it
    levels = np.array([op.noise_in_image(float(level)) for level in
                       np.broadcast_to(np.asarray(noise_level, dtype=float), (batch,))])
    ends = np.full(batch, sigma_end) if sigma_end is not None else np.maximum(levels, 2 / 255)
    # per iteration and item: the denoiser's strength, and the data weight, which needs a
    # noise floor (mu = 0 would be an exact projection, which the conjugate gradient
    # reaches only slowly for ill-posed operators)
    sigmas = np.stack([np.geomspace(sigma_start, min(e, sigma_start), iters) for e in ends], 1)
    mus = data_weights(levels, sigmas, weight)
    noisy = torch.as_tensor(levels > 0, device=x.device).view(-1, *([1] * (x.ndim - 1)))
    if progress and x[0, 0].numel() >= SAY_FROM:
        say_duration(denoise, x, float(sigmas[0, 0]), iters, desc, max_seconds)
    # a denoiser of one's own is checked at every call (a NaN at the third came back as a
    # NaN image); the shipped networks check their own output (CNNDenoiser) at the first
    trusted = getattr(denoise, "checks_its_output", False)
    denoise = Turning(denoise) if turns else denoise  # (the probe above took no turn)
    psnrs, done, reason, asked, cut = [[] for _ in range(batch)], 0, counted(iters), iters, False
    bar = tqdm(total=iters, desc=desc, **bar_options(progress))  # (counted by hand: fit.Loop)
    clock = StepClock()  # (the setup above left out of the iterations' times)
    try:
        with torch.no_grad():
            for k in range(iters):
                if k and max_seconds is not None and over_budget(began, clock, max_seconds):
                    cut = True
                    break
                half = data_step(op, x, y, _per_item(mus[k], x), cg_iters)
                if k == 0:  # (noise-free: what 1 iteration returns)
                    opening = half
                out_of_time = max_seconds is not None and time.perf_counter() - began > max_seconds
                last = k == iters - 1 or out_of_time
                if levels.any() or not last:
                    x = denoise(half, _per_item(sigmas[k], x, flat=True))
                    if k == 0 or not trusted:  # wrong output fails here, not later
                        check_denoised(x, half)
                        x = x.to(half.dtype)  # (a float64 one made the result float64)
                # Noise-free y: the data step reproduces it. Noisy y: the data step is
                # mostly y where y is observed, so the denoised image is the estimate.
                estimate, done = torch.where(noisy, x, half), k + 1
                status = {"sigma": shown_level(float(sigmas[k, 0]))}
                if truth is not None:
                    for b in range(batch):
                        psnrs[b].append(psnr(estimate[b : b + 1].clamp(0, 1), truth[b : b + 1]))
                    status["psnr"] = shown_psnr(psnrs[0][-1])
                bar.set_postfix(status, refresh=False)
                bar.update(1)
                clock.step()
                # the schedule's rest fitted to the iterations the time leaves, so that the
                # run still ends at its finest level: cut where it was, the estimate was
                # still denoised at a coarse one, below the start (camera 256, 50 % missing,
                # 3 s: 29.96 dB for a start of 32.14; 4 iterations of a whole schedule
                # 32.65, 8 33.83). Timed from the second on (the first pays for allocation)
                fit = _room(began, clock, max_seconds) if clock.steps > 1 else None
                if not last and fit is not None and fit < asked - done \
                        and done + fit < SHORTEST_SCHEDULE and not levels.any():
                    cut = True
                    break
                if not last and fit and min(fit, asked - done) != iters - done:
                    fit = min(fit, asked - done)
                    # (noise-free, the last iteration is a data step alone, at the end level,
                    # as in a whole schedule: its last denoising one level above. Putting
                    # the end level on that denoising measured worse: camera 256, 3 s, 33.09
                    # against 33.33 dB; compressed sensing 2 s, 25.75 against 27.09)
                    sigmas = np.concatenate([sigmas[:done], shortened(sigmas[done], ends, fit)])
                    mus, iters = data_weights(levels, sigmas, weight), done + fit
                if max_seconds is not None and clock.steps > 1:
                    total_in_time(bar, done, iters, max_seconds - (time.perf_counter() - began),
                                  clock.each(), stops_before=True)
                if out_of_time:
                    cut = True
                if last:
                    break
    except KeyboardInterrupt:
        reason = f"interrupted ({stopped_by()}) after {counted(done)}"
    finally:
        bar.close()
    if cut and not reason.startswith("interrupted"):  # (stopped short of its schedule)
        reason = f"time limit of {max_seconds:g} s after {counted(done)}"
    returned = done
    if cut and done < SHORTEST_SCHEDULE and not levels.any():
        # noise-free y cut before a schedule's few iterations: its first data step (the
        # operator's estimate, made consistent with y), as 1 iteration returns it (camera
        # 256, 50 % missing: 32.20 dB; cut after 2, 30.66; compressed sensing 27.02, 26.12)
        estimate, returned = opening, 1
        reason += (f", too few for a schedule (from {SHORTEST_SCHEDULE}): the first "
                   f"iteration's data step is returned")
    elif iters < asked and not cut and not reason.startswith("interrupted"):
        reason = (f"time limit of {max_seconds:g} s: {counted(done)}, the schedule of "
                  f"{asked} shortened to fit it")
    interrupted, seconds = reason.startswith("interrupted"), time.perf_counter() - began
    # each item its share of the batch's time (they had said 0.0)
    # (its pace without the setup: --report's seconds_per_iteration had been the whole
    # time over the iterations, 0.648 s for 1 iteration of 0.044)
    pace = clock.each() if clock.steps > 1 else None
    items = [Result(estimate[b : b + 1].clamp(0, 1), psnrs=psnrs[b], iteration=returned,
                    iterations=done, stop_reason=reason, interrupted=interrupted,
                    seconds=seconds / batch, step_seconds=pace)
             for b in range(batch)]
    return Result.combine(items, seconds=seconds, prior="")


def _room(began: float, clock: StepClock, max_seconds: float | None) -> int | None:
    """How many more iterations of ``clock``'s length fit in ``max_seconds`` from ``began``
    (None without a finite limit)."""
    each = clock.each()
    if max_seconds is None or not math.isfinite(max_seconds) or not each:
        return None
    return max(int((max_seconds - (time.perf_counter() - began)) / each), 0)


def shortened(next_levels: np.ndarray, ends: np.ndarray, count: int) -> np.ndarray:
    """The rest of a schedule in ``count`` iterations ``(count, B)``: from each item's next
    level ``next_levels (B,)`` down to its end level ``ends (B,)``, geometrically.

    Example:
        >>> shortened(np.array([0.1]), np.array([0.001]), 3).round(4).ravel().tolist()
        [0.1, 0.01, 0.001]
        >>> shortened(np.array([0.1]), np.array([0.001]), 1).ravel().tolist()
        [0.001]
    """
    if count < 1:
        return np.zeros((0, len(next_levels)))
    # (one left: the end level itself, where geomspace gives its start)
    return np.stack([np.geomspace(a, min(e, a), count) if count > 1 else np.array([min(e, a)])
                     for a, e in zip(next_levels, ends)], 1)


def over_budget(began: float, clock: StepClock, max_seconds: float) -> bool:
    """Whether one more iteration would end past ``max_seconds`` from ``began``: then the
    run stops before it (it had stopped after the data step that passed the time, then run
    the denoiser too: a 20 s budget on a megapixel photo took 53 s). An iteration is
    taken as long as ``clock`` says: the mean of those after the first, which it times
    apart (a slow first call, a GPU's kernel choice, had stopped a run after one iteration
    with time for six), or the first while it is the only one.

    Example:
        >>> clock = StepClock()
        >>> clock.step()
        >>> over_budget(time.perf_counter() - 20.0, clock, 10.0)  # (started 20 s ago)
        True
    """
    now = time.perf_counter()
    return now - began + clock.each(now) > max_seconds


def data_weights(levels: np.ndarray, sigmas: np.ndarray, weight: float) -> np.ndarray:
    """``mu_k`` per iteration and item, ``(iters, B)``, for noise levels ``(B,)`` and denoiser
    strengths ``sigmas (iters, B)``: ``max(max(weight * s_n^2, QUIET) / sigma_k^2, MU_MIN)``.

    Why a blur takes weight 0.2 (DPIR uses 0.23): where the operator nearly vanishes (the
    zeros of a motion blur) the data step amplifies y's noise by up to ``1 / (2 sqrt(mu_k))``,
    i.e. to ``sigma_k / (2 sqrt(weight))``: 1.1 ``sigma_k`` at 0.2, about what the denoiser
    is told to remove. At 0.1 (1.6 ``sigma_k``) the rest piled up along the schedule and
    deblurring collapsed (camera 256, motion blur 15 px, noise 0.01: 32.1 dB mid-run, 26.1
    returned; 33.0 at 0.2).

    Example:
        >>> data_weights(np.array([0.0, 0.1]), np.array([[0.5, 0.5]]), 0.2).round(4)
        array([[0.003, 0.008]])
    """
    return np.maximum(np.maximum(weight * levels ** 2, QUIET) / sigmas ** 2, MU_MIN)


def defaults(op, noise_level=None, weight: float | None = None, device="cpu") -> dict:
    """Plug-and-play ``iters`` and ``weight`` for ``op`` when none are given: ``BLUR`` for
    a blur (``blur_like``), with ``BLUR_QUIET_ITERS`` iterations when an item's
    ``noise_level`` (a float or one per item; None: not known, taken as noisy) is quiet at
    ``weight`` (default ``BLUR``'s); ``OTHERS`` for every other operator (see there).

    Example:
        >>> defaults(O.Blur(sigma=1.0)), defaults(O.Inpainting(shape=(1, 8, 8)))
        ({'iters': 16, 'weight': 0.2}, {'iters': 32, 'weight': 0.1})
        >>> defaults(O.Blur(sigma=1.0), [0.01, 0.0])  # the noise-free item sets the count
        {'iters': 32, 'weight': 0.2}
    """
    # a stack with a blur in it too (two motion blurs of one scene, camera 128, noise 0.02:
    # 33.48 dB, 22.63 with the others' settings; a blur and a mask 33.50, 33.25)
    stacked = op.stack.ops if isinstance(op, O.FlatStack) else []
    if not (blur_like(op, device) or any(blur_like(part, device) for part in stacked)):
        return OTHERS
    if noise_level is None:
        return BLUR
    weight = BLUR["weight"] if weight is None else weight
    quiet = weight * float(np.min(noise_level)) ** 2 <= QUIET
    return {**BLUR, "iters": BLUR_QUIET_ITERS} if quiet else BLUR


def data_step(op, x: torch.Tensor, y, mu, cg_iters: int) -> torch.Tensor:
    """``argmin_u ||op(u) - y||^2 + mu ||u - x||^2``: exact (conjugate gradient) for a linear
    operator; one Gauss-Newton step from ``x`` (the same solve on the Jacobian at ``x``, run
    to a relative residual of ``NONLINEAR_CG_TOL``), kept in [0, 1], for any other
    differentiable one.

    Example:
        >>> x, y = torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), 0.36)
        >>> u = data_step(O.Lambda(lambda v: v ** 2), x, y, 1e-9, 10)  # from 0.5 towards 0.6
        >>> round(u.mean().item(), 3)  # 0.5 + (0.36 - 0.25) / 1
        0.61
    """
    if isinstance(op, O.LinearOperator):
        return x + op.pinv(y - op(x), damping=mu, max_iter=cg_iters)
    jacobian = O.Linearisation(op, x)
    # a Jacobian can be far worse conditioned than the operators we ship (a gamma's slope
    # grows without bound near black), and there cg_iters steps stop far from the solution:
    # the splitting wanders and its result varies from machine to machine (astronaut through
    # sqrt(blur(x)): 25.96 dB with 30 steps, 19.78 with 10). So the conjugate gradient runs
    # to a relative residual of NONLINEAR_CG_TOL, within 4 * cg_iters: 27.90 dB in 27 s
    # instead of 12; camera 29.45 -> 29.51 (29.71 since); the over-exposure cases unchanged.
    step = x + jacobian.pinv(y - jacobian.value, damping=mu, max_iter=4 * cg_iters,
                             tol=NONLINEAR_CG_TOL)
    # kept in the image range: a linearised step overshoots where the operator curves (a
    # gamma near black), and a pixel pushed below 0 can land where the operator clamps and
    # its gradient is zero, stuck there (astronaut through sqrt(blur(x)): 23.5 -> 25.3 dB)
    return step.clamp(0, 1)


def check_memory(op, y, shape: tuple | None = None) -> None:
    """Refuse, in one sentence, images whose plug-and-play would not fit in the free memory
    of ``y``'s device (``BYTES_PER_VALUE`` a value of the images): a 12-megapixel photo
    enlarged x4 needs about 50 GiB, and the system would kill the process, not tell why.

    Example:
        >>> check_memory(O.Downsampling(4), torch.rand(1, 3, 64, 64))  # 19 MB: fits
    """
    ref = y[0] if isinstance(y, tuple) else y
    image = shape or op.input_shape_for(tuple(ref.shape))
    need = BYTES_PER_VALUE * ref.shape[0] * math.prod(image)
    free = free_memory(ref.device)
    if free is not None and need > free:
        # the user's image: a blur's y, not the margin it is restored with (valid borders)
        seen = ref.shape if isinstance(op, O.Blur) else image
        size = "x".join(str(n) for n in seen[-2:][::-1]) + " (width x height)"
        images = f"a {size} image" if ref.shape[0] == 1 else f"{ref.shape[0]} images of {size}"
        smaller = "a smaller factor" if isinstance(op, O.Downsampling) else "a smaller image"
        raise ValueError(f"plug-and-play would need about {need / 2**30:.1f} GiB for {images} "
                         f"on {ref.device.type} and {free / 2**30:.1f} GiB is free; use "
                         f"{smaller} or a machine with more memory.")


def start_image(op, y, shape: tuple | None = None) -> torch.Tensor:
    """Where the splitting starts: ``y`` itself for a blur (see ``BLUR``), else the
    operator's ``initial_estimate``, else mid-gray of ``shape`` (or of the image shape the
    operator reports); for a nonlinear operator, that gray after ``ROUGH_FIT`` Gauss-Newton
    steps, with the pixels the operator hides (``O.hidden_pixels``: saturated ones, say) at
    the middle of the values that keep them hidden (``O.fill_hidden``; a fit leaves them at
    the bound, and the denoiser keeps them flat there).

    Example:
        >>> start_image(O.Denoising(), torch.rand(1, 1, 4, 4)).shape
        torch.Size([1, 1, 4, 4])
        >>> y = torch.tensor([[[[0.3, 1.0]]]])  # the second pixel saturated
        >>> x = start_image(O.Lambda(lambda x: (1.5 * x).clamp(0, 1)), y)
        >>> [round(v, 2) for v in x.flatten().tolist()]  # 0.3 / 1.5; between 2/3 and 1
        [0.2, 0.85]
    """
    if isinstance(op, O.Blur):
        first = op.widen(y).clamp(0, 1)
    elif isinstance(op, O.LinearOperator) and blur_like(op, y.device):
        first = y.clamp(0, 1)  # as a blur starts: DPIR's start (``BLUR``)
    else:
        first = estimate_of(op, y, shape)
    if first is not None:
        return first
    ref = y[0] if isinstance(y, tuple) else y
    shape = shape or op.input_shape_for(tuple(ref.shape))
    x = torch.full((ref.shape[0], *shape), 0.5, dtype=ref.dtype, device=ref.device)
    if isinstance(op, O.LinearOperator):
        return x
    for _ in range(ROUGH_FIT):
        x = data_step(op, x, y, 1e-2, ROUGH_CG)
    return O.fill_hidden(op, x, O.hidden_pixels(op, x))


def _per_item(values: np.ndarray, like: torch.Tensor, flat: bool = False):
    """One float when every item has the same value (what a user's denoiser or operator
    expects), else a tensor of one value per item: ``(B,)`` with ``flat``, else shaped to
    broadcast against ``like``."""
    if np.all(values == values[0]):
        return float(values[0])
    shape = (-1,) if flat else (-1, *([1] * (like.ndim - 1)))
    return torch.as_tensor(values, dtype=like.dtype, device=like.device).view(shape)
