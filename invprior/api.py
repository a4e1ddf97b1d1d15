"""``solve(y, op, prior=...)``: the Python entry point for any forward operator.

It checks the observation, resolves the prior (the ``auto`` policy is the table below),
builds it with its settings and lets it restore; everything else lives in the priors
(``invprior.priors``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import re
import time
import warnings

import numpy as np
import torch

import operators as O

from .checks import (batch_size, check_keep_observed, check_level, check_observation,
                     check_truth_count, is_number, item, prepare, torch_as_restoring_needs,
                     whole_number)
from .colour import gray_channel, same_channels
from .dim import dim_scale, restore_stretched
from .noise_level import (UNDER_TOLD_READ_MIN, UNEXPLAINED, UNEXPLAINED_AFTER,
                          VARIANCE_READ_MIN, BlurMismatchWarning, NoiseLevelWarning,
                          NoisyObservedWarning, bright, noisy_where_observed, shot_fits)
from .operator_checks import (MaskWayWarning, _too_bright, acts_linearly, check_mask_way,
                              check_not_training, check_scale, far_gain, treats_items_apart,
                              users_operator)
from .poisson import anscombe, inverse_anscombe, read_peak, scale_for
from .priors import PRIORS, Prior, make_prior, options_of
from .weights import shipped
from .priors.base import stack_levels, visible_noise
from .priors.inpainter import why_not
from .metrics import psnr
from .result import Result

__all__ = ["solve", "auto_prior", "resolve_prior", "AUTO_PRIORS"]

# The default prior per operator (``prior="auto"``), by the operator's registry name: the
# best PSNR measured on the fixed 256x256 cases on a 2-core CPU within the CLI's budget
# (BENCHMARKS.md, "Fixed cases"). The trained CNN denoiser (one pass, or plug-and-play)
# wins every case there, in seconds.
AUTO_PRIORS = {"denoise": "denoiser", "blur": "denoiser", "inpaint": "denoiser",
               "downsample": "denoiser", "cs": "denoiser"}
# A user's own operator, linear or not, gets plug-and-play too: a nonlinear one through
# Gauss-Newton data steps, started with the pixels it hides (saturated ones) at the middle of
# the values that keep them hidden (``priors.pnp.start_image``). BENCHMARKS.md, "Nonlinear
# operators", 128x128, against the deep image prior's 75-80 s: camera through
# sqrt(blur(x)) + noise 29.71 against 26.76 dB in 5 s; over-exposed clip(1.5 x, 0, 1),
# inside the saturated pixels, camera 25.45 against 20.12, astronaut 23.10 against 22.96.
FALLBACK = "denoiser"
# Holes 6 or more pixels in, in a binary mask (thick scribbles, boxes, an object cut out):
# the trained inpainter (priors.inpainter), no iterations, any size (it runs on tiles).
# BENCHMARKS.md, "Large holes", inside the holes, 256x256: eight 14-pixel scribbles, camera
# 23.93 dB (plug-and-play 22.54, dip 23.01), astronaut 18.75 (18.04, 17.79), in 1-3 s; five
# 32-64 pixel boxes (16+ pixels in: the fill averaged with plug-and-play started from it,
# priors.inpainter), camera 24.77 (plug-and-play 23.39), astronaut 13.47 (12.46), in 7-24 s,
# where the deep image prior takes 7 minutes for a fill that depends on its seed and the
# machine's rounding, on average below the inpainter's alone (seeds 0/1/2, camera: 22.9,
# 21.7, 23.3 on a 2-core AMD EPYC, 25.0, 21.5, 23.9 on a Xeon; astronaut: 12.7 in
# BENCHMARKS.md's run on the EPYC, 13.4 and 12.3 for seeds 0 and 1 there under an earlier
# version of the loop, and 13.2, 12.2, 13.0 on the Xeon).
# "Hole widths": on camera and coffee, plug-and-play ahead at radius 2.8 (camera) and 5.0
# (coffee) and on README's scribbled astronaut (radius 5.1: 30.77 dB against 30.29), the
# inpainter ahead from 7.8 up.
THICK_HOLE_PRIOR = "inpainter"
THICK_HOLE = 6.0
# Unless the holes are the gaps between scattered pixels: a random mask reaches radius 6 near
# 90 % missing (``Inpainting(shape, missing=0.9, seed=0)``: 6.1 at 96x96, 7.1 at 256x256;
# seed 10: 5.8), and there plug-and-play measured ahead of the inpainter at every density to
# 95 % and level at 98 % (camera / coffee / astronaut, 90 % missing: 22.46 / 23.64 / 19.41 dB
# against 21.89 / 22.18 / 18.31 at 96x96, 24.57 / 25.88 / 22.78 against 23.69 / 24.13 /
# 20.96 at 256x256; 98 %: within 0.33 dB either way). Thick holes leave most of the image
# observed (the benchmark's boxes 17 % missing, scribbles 11-45 %).
SCATTERED = 0.6  # missing fraction above which holes under LARGE_HOLE count as scattered
# A hole 16+ pixels in that the inpainter cannot take (a soft mask): the deep image prior,
# which continues the image's structure where the denoiser, spreading what is near the
# border, smears; only where its minutes are affordable on a CPU (up to 512x512: about 4.5
# minutes at 256x256, 2 threads); a larger photo keeps the fast prior.
LARGE_HOLE_PRIOR = "dip"
LARGE_HOLE = O.Inpainting.WIDE_HOLE  # 16 pixels from the hole's inside to its border (32+ across)
LARGE_HOLE_PIXELS = 512 * 512


def auto_prior(op, y=None) -> str:
    """The prior ``prior="auto"`` picks for an operator (instance or class) and its
    observation ``y``: by the operator's name (a user's own operator: ``FALLBACK``), except
    for a binary mask with holes 6 or more pixels in (``Inpainting.hole_radius``) that are
    not the gaps between scattered pixels (over ``SCATTERED`` missing), and a soft one with
    a hole 16+ pixels in on an image of up to 512x512.

    Example:
        >>> auto_prior(O.Blur(sigma=2.0)), auto_prior(O.Downsampling), auto_prior(O.Lambda(abs))
        ('denoiser', 'denoiser', 'denoiser')
        >>> box = O.box_mask((64, 64), (8, 8, 40, 40))  # radius 20
        >>> auto_prior(O.Inpainting(box)), auto_prior(O.Inpainting(0.9 * box + 0.05))  # soft
        ('inpainter', 'dip')
    """
    name = getattr(op, "name", None)
    if name == "inpaint" and isinstance(op, O.Inpainting):
        radius = op.hole_radius()
        scattered = radius < LARGE_HOLE and 1 - float(op.mask.mean()) > SCATTERED
        if radius >= THICK_HOLE and why_not(op) is None and not scattered:
            return THICK_HOLE_PRIOR
        if radius >= LARGE_HOLE and (y is None or y.shape[-2] * y.shape[-1] <= LARGE_HOLE_PIXELS):
            return LARGE_HOLE_PRIOR
    return AUTO_PRIORS.get(name, FALLBACK)


def resolve_prior(prior, op, options: dict | None = None, y=None):
    """``auto`` -> the operator's prior (``auto_prior``, given ``y`` for the image size); when
    ``options`` include a setting it does not take, the operator's usual prior if that takes
    them (``iters`` with a scribble mask: plug-and-play), else the deep image prior
    (``loss="l1"`` for impulse noise, say); anything else as it is.

    Example:
        >>> resolve_prior("auto", O.Denoising()), resolve_prior("auto", O.Denoising(), {"loss": "l1"})
        ('denoiser', 'dip')
    """
    if not (isinstance(prior, str) and prior == "auto"):
        return shipped(prior)  # (a shipped file by its name: prior_faces.pt)
    known = set().union(*(options_of(name) for name in PRIORS))
    unknown = sorted(set(options or {}) - known)
    if unknown:  # a typo: not a setting that only the deep image prior takes
        close = [m for u in unknown for m in difflib.get_close_matches(u, known, 1)]
        raise ValueError(f"no prior takes {', '.join(unknown)}"
                         + (f" (did you mean {', '.join(close)}?)" if close else "")
                         + f"; the settings are {', '.join(sorted(known))}.")
    usual = AUTO_PRIORS.get(getattr(op, "name", None), FALLBACK)
    picks = list(dict.fromkeys((auto_prior(op, y), usual, "dip")))
    for choice in picks:
        if set(options or {}) <= options_of(choice):
            return choice
    # ("the dip prior does not take relearn", where sparse, which auto does not pick, takes it)
    lacking = sorted(set(options) - options_of(picks[-1]))
    takers = [name for name in PRIORS if set(options) <= options_of(name)]
    raise ValueError(f"the priors auto picks here ({', '.join(picks)}) do not take "
                     f"{', '.join(lacking)}" + (f"; name one that does: prior={takers[0]!r}."
                                                if takers else "."))


@torch_as_restoring_needs()
def solve(y, op, prior: str | Prior = "auto", *, noise_level: float | None = None,
          noise=None, truth=None, progress: bool = True, **options) -> Result:
    """Recover images ``x`` from observations ``y = op(x) + noise`` with a prior.

    Args:
        y: observations ``(B, ...)``: images ``(B, C, H, W)`` or vectors ``(B, m)`` (a tuple
            of them for a stacked operator).
            Three equal channels (a gray photo saved as RGB) through a built-in operator
            and prior are restored as the gray image they are, and given back in three.
        op: an ``operators.Operator`` or any differentiable callable ``x -> y`` (linear or
            not: plug-and-play takes Gauss-Newton data steps on a nonlinear one).
        prior: ``auto`` (default: ``auto_prior(op, y)``), a name in ``invprior.priors.PRIORS``
            (``denoiser``, ``dip``, ``decoder``, ``sparse``), a ``.pt`` file from
            ``python -m invprior.train`` (a trained generator or a denoiser, told apart by
            its ``format``), a ``TrainedPrior``, or any prior object, e.g.
            ``PlugAndPlay(my_denoiser)``.
        noise_level: std of the noise in ``y``, in ``y``'s units (the images' [0, 1] scale
            for the built-in operators; an operator of one's own whose measurements are far
            larger or smaller than its images, ``operator_checks.far_gain``, is restored
            with ``y`` and this level divided by its gain), if known (else the
            built-in priors estimate it where the operator says the noise is visible in
            ``y``; a prior of one's own gets None, and ``priors.base.visible_noise(op, y)``
            reads it as they do); one number,
            or one per observation (a list, array or tensor of ``B``: the observations
            that share a level are restored together, each as with that level; None in it
            for one read off its observation). For a ``y``
            read from a JPEG, ``math.hypot(estimate_noise(y), io.jpeg_noise(path))`` adds
            what the file's quantization hides from the estimate, as the CLI does (a blurred
            photo at quality 85: 22.62 dB without, 26.82 with; BENCHMARKS.md, jpeg).
        noise: ``None`` (default: gaussian, of ``noise_level``), or shot noise for
            denoising and deblurring: ``"poisson"`` (its peak read off each observation)
            or ``operators.PoissonNoise(peak)``; denoised through Anscombe's transform
            (``invprior.poisson``; ``psnrs`` then holds the returned image's alone: the
            iterations run on the transformed image), deblurred as gaussian noise of its
            std where y is bright (BENCHMARKS.md, "Shot noise").
        truth: clean images, only to trace PSNR (never used to restore).
        progress: show progress bars.
        **options: the prior's settings; a setting it does not take is an error. The common
            ones: ``iters``, ``max_seconds``, ``device`` (``auto``: CUDA when present),
            ``seed``, ``keep_observed``; for ``dip``/``decoder`` also ``lr``, ``loss``,
            ``tv``, ``ema``, ``stop``, ``init``, ``warm``, ``shape``, ``net`` (see
            ``priors.NetworkPrior``); for trained priors ``restarts``, ``adapt``, ... (see
            ``glo.TrainedPrior.restore``). With ``prior="auto"``, a setting that only the
            deep image prior takes selects it. ``None`` values count as not given.

    Returns:
        ``Result``: ``image`` ``(B, C, H, W)``, ``items`` (one Result per observation), the
        traces, why it stopped, seconds, the prior's name, and whether Ctrl-C ended it
        (``interrupted``: the best estimate so far is returned).

    Example:
        >>> import torch
        >>> x = torch.rand(1, 1, 32, 32)
        >>> A = O.Inpainting(shape=(1, 32, 32), missing=0.5)
        >>> out = solve(A(x), A, iters=5, progress=False)
        >>> out.image.shape, out.prior
        (torch.Size([1, 1, 32, 32]), 'denoiser')
    """
    check_observation(y)
    progress = O.base.as_switch(progress, "progress")  # ("no" had shown the bars)
    if isinstance(op, O.Stack) and len(op.ops) == 1 and isinstance(y, tuple) and len(y) == 1:
        # a stack of one: that operator, with what it chooses and keeps (the inpainter)
        return solve(y[0], op.ops[0], prior, noise_level=noise_level, noise=noise, truth=truth,
                     progress=progress, **options)
    if noise is not None:
        return _shot_noise(y, op, prior, noise, noise_level, truth, progress, options)
    if _a_burst(op, y):
        return _burst(y, op, prior, noise_level, truth, progress, options)
    plain = not isinstance(op, O.Operator)  # (a plain callable: wrapped here, ours to replace)
    op = O.as_operator(op)
    check_not_training(op)  # (before the linearity probe's calls)
    check_scale(y, op)
    check_mask_way(y, op)
    options = _common_settings({k: v for k, v in options.items() if v is not None})
    # a plain callable that is linear: its data step exact, its adjoint from autograd (the
    # shape given to a prior of one's making counts: without it, 17.83 dB, 22.53 with)
    probed = options.get("shape", getattr(prior, "shape", None))  # (the image size to probe)
    if plain and acts_linearly(op, y, probed):
        op = O.LinearLambda(op.fn)
    gain = far_gain(op, y, probed)
    if gain is not None:  # restored on the images' scale; its noise level said in y's
        result = solve(y / gain, O.gained(op, 1 / gain), prior,
                       noise_level=_divided(noise_level, gain), truth=truth, progress=progress,
                       **options)
        for part in {id(r): r for r in [result, *result.items]}.values():
            part.noise_level = None if part.noise_level is None else part.noise_level * gain
            part.stop_reason = _in_units_of_y(part.stop_reason, part.noise_level)
        return result
    check_keep_observed(options.get("keep_observed"))
    if (options.get("keep_observed") and isinstance(y, torch.Tensor)
            and type(op).projection is O.Operator.projection):  # (it was ignored without a word)
        raise ValueError(f"keep_observed=True keeps y's measurements exactly, by the operator's "
                         f"projection(y) onto {{x : A x = y}}, which {type(op).__name__} does "
                         f"not define; leave keep_observed out, or give the operator one.")
    spec, name = prior, resolve_prior(prior, op, options, y)
    prior = make_prior(name, **options)
    gray = _gray_in_colour(y, op, name, prior, truth, options)
    if gray and all(gray):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            gray = solve(gray_channel(y), op, prior, noise_level=noise_level,
                         truth=None if truth is None else torch.as_tensor(truth)[:, :1],
                         progress=progress)
        for warning in said:  # said again for the caller's line (they had pointed into this
            # file), the mask's way once (said above already)
            if not issubclass(warning.category, MaskWayWarning):
                warnings.warn(warning.message, stacklevel=3)  # (past the context decorator)
        return _in_colour(gray)
    levels = _levels_of(noise_level, len(y)) if any(gray) else None
    if levels is not None:
        # some gray among colour ones: each kind its own way, back in the batch's order (the
        # colour path had taken them all: a gray item 1 dB down, its channels unequal; and
        # still did for a level held in NumPy or a tensor, or one per item: 2 dB)
        from .priors.base import in_parts

        start = time.perf_counter()
        items = in_parts(list(zip(gray, levels)), y, lambda key, part, part_truth, __: solve(
            part, op, spec, noise_level=key[1], truth=part_truth, progress=progress,
            **options).items, None if truth is None else torch.as_tensor(truth), op=op)
        return Result.combine(items, seconds=time.perf_counter() - start, prior=prior.name)
    # the image shape: given, or for an operator of one's own a trained generator's
    shape = options.get("shape", getattr(prior, "shape", None) if users_operator(op) else None)
    if isinstance(noise_level, torch.Tensor) and noise_level.device.type == "meta":
        raise ValueError("noise_level is on the 'meta' device, which holds no values.")
    if isinstance(noise_level, (np.ndarray, torch.Tensor)) and noise_level.ndim == 0:
        noise_level = noise_level.item()  # one number, held in an array
    if treats_items_apart(op, y, shape):  # each item alone, through its own operator
        return _item_by_item(y, op, spec, noise_level, truth, progress, options)
    reason = prior.check(op)  # (a prior of one's own: its restore may not ask)
    if reason:
        raise ValueError(reason if isinstance(reason, str) else
                         f"the prior {getattr(prior, 'name', type(prior).__name__)!r} refused "
                         f"the operator: its check(op) returned {reason!r} (None, or one "
                         f"sentence saying why not).")
    if isinstance(noise_level, (list, tuple, np.ndarray, torch.Tensor)):
        return _checked(_level_each(y, op, prior, name, noise_level, truth, shape, progress),
                        y, op, prior, truth)
    y, noise_level, truth = prepare(y, op, noise_level, truth, shape)
    if isinstance(noise_level, float) and isinstance(y, torch.Tensor):
        _warn_if_level_off(y, op, noise_level)
    outer = op.outer if isinstance(op, O.Composition) else op  # (a mask after another too,
    if (noise_level is None and isinstance(outer, O.Inpainting) and isinstance(y, torch.Tensor)
            and visible_noise(op, y) is None):  # unless its noise is read: after a blur)
        _warn_if_noisy_where_observed(y, outer)
    if noise_level is None and isinstance(op, O.Stack) and not any(stack_levels(op, y)):
        # no part shows its noise: the stack is taken as noise-free, unless a mask's says
        # otherwise (noise 0.02 not read: 18.70 dB, the masked part alone 25.21, told 27.76)
        for i, (part_op, part) in enumerate(zip(op.ops, y)):
            if type(part_op) is O.Inpainting:
                _warn_if_noisy_where_observed(part, part_op, f"y[{i}]", "the stack takes its "
                                              "measurements as noise-free")
    result = restore_stretched(prior, y, op, dim_scale(y, op, name), noise_level=noise_level,
                               truth=truth, progress=progress)
    result = _checked(result, y, op, prior, truth)
    _warn_if_unexplained(y, op, result)
    return result


def _in_units_of_y(reason: str, level: float | None) -> str:
    """A gained solve's stop reason with its estimated noise said in ``y``'s units, as its
    ``noise_level`` is (``priors.base.said_level`` says it in 255ths of the images' scale:
    "noise 6.0/255 estimated" beside a noise_level of 2.06, at a gain of 100).

    Example:
        >>> _in_units_of_y("16 iterations, noise 6.0/255 estimated", 2.06)
        "16 iterations, noise 2.06 estimated (in y's units)"
    """
    if level is None:
        return reason
    return re.sub(r"noise [0-9.e+-]+/255 estimated", f"noise {level:.3g} estimated (in y's units)",
                  reason)


def _divided(noise_level, gain: float):
    """``noise_level`` (None, a number, or one per item: a list with None in it, an array,
    a tensor) over ``gain``."""
    if isinstance(noise_level, (list, tuple)):
        return [None if level is None else _divided(level, gain) for level in noise_level]
    if isinstance(noise_level, bool) or not isinstance(noise_level, (int, float, np.ndarray, torch.Tensor)):
        return noise_level  # (None; a value of the wrong kind: refused as it is, later)
    return noise_level / gain


def _checked(result, y, op, prior, truth=None) -> Result:
    """``result`` as ``solve`` returns it, or ``ValueError`` in one sentence where a prior of
    one's own returned something else (a tensor, an image of another shape or batch, NaN,
    values far outside [0, 1]): it had been passed back without a word. Its name filled in;
    its images, where they are not, float32 on [0, 1] and off its graph (the built-in priors'
    are left as they are: the inpainter keeps y's observed pixels, noise and all)."""
    name = getattr(prior, "name", type(prior).__name__)
    own = not type(prior).__module__.startswith("invprior.")
    if not isinstance(result, Result):
        raise ValueError(f"the prior {name!r} returned {type(result).__name__}; restore must "
                         f"return an invprior.Result (Result(image) for images (B, C, H, W)).")
    image, batch = result.image, len(y) if isinstance(y, torch.Tensor) else len(y[0])
    if isinstance(image, torch.Tensor) and image.device.type == "meta":
        raise ValueError(f"the prior {name!r} returned images on the 'meta' device, which "
                         f"holds no values.")
    if (isinstance(image, torch.Tensor) and image.ndim == 4 and len(image) == batch > 1
            and not result.parts):  # Result(image) of a batch: one item per image, made here
        result.parts = [dataclasses.replace(
            result, image=image[b : b + 1], parts=[], losses=[], stop_signal=[],
            psnrs=[psnr(image[b : b + 1].clamp(0, 1), truth[b : b + 1])] if truth is not None
            and image.is_floating_point() and torch.isfinite(image).all() else [],
            seconds=result.seconds / batch) for b in range(batch)]  # (its share of the call)
    if not (isinstance(image, torch.Tensor) and image.ndim == 4 and len(image) == batch
            and len(result.items) == batch and image.is_floating_point()):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"the prior {name!r} returned an image of {shape} with "
                         f"{len(result.items)} items for {batch} observations; it must return "
                         f"(B, C, H, W) floating-point images, one item per observation.")
    expected = (tuple(op.input_shape_for(tuple(y.shape))) if isinstance(y, torch.Tensor)
                and not users_operator(op) else tuple(image.shape[1:]))
    if tuple(image.shape[1:]) != expected:
        raise ValueError(f"the prior {name!r} returned images of {tuple(image.shape[1:])}; "
                         f"the operator takes images of {expected}.")
    if own and (not torch.isfinite(image).all() or image.min() < -0.5 or image.max() > 1.5):
        raise ValueError(f"the prior {name!r} returned NaN, infinite or far out of [0, 1] "
                         f"values; images are on the [0, 1] scale.")
    for r in {id(r): r for r in [result, *result.items]}.values():
        r.prior = r.prior or name
        # float32 on [0, 1], off the prior's graph, as the built-in priors give them back
        if own and (r.image.requires_grad or r.image.dtype != torch.float32 or not (
                0 <= r.image.min() and r.image.max() <= 1)):
            r.image = r.image.detach().float().clamp(0, 1)
    return result


def _warn_if_noisy_where_observed(y: torch.Tensor, op, name: str = "y",
                                  taken: str = "inpainting takes it as noise-free and keeps "
                                               "those pixels as they are") -> None:
    """Say (``NoisyObservedWarning``) that an inpainting's ``y`` reads as noisy where it is
    observed: its pixels are kept as they are unless ``noise_level`` is given (the command
    line says so in a note; the API had said nothing). ``name`` and ``taken``: what it is
    and how it is taken otherwise (a stack's part)."""
    level = noisy_where_observed(y, op.mask)
    if level is not None:
        warnings.warn(f"{name} reads as noisy where it is observed (about {255 * level:.1f}/255); "
                      f"{taken}. If it is noisy, noise_level={level:.3f} restores all of it (fine "
                      f"texture, such as grass, reads as noise too).", NoisyObservedWarning,
                      stacklevel=4)  # (the caller of solve, past its context decorator)


def _warn_if_unexplained(y, op, result: Result) -> None:
    """Say (``BlurMismatchWarning``) that a deblurred image explains ``y`` only to within
    ``UNEXPLAINED`` times its noise level (at least an 8-bit level): the blur model does not
    fit, most harmfully a blur told larger than ``y``'s, whose inverse turned the sharper
    ``y`` into ringing. 96x96 camera, astronaut, coffee at noise 0.01: a sharp ``y`` told a
    blur of sigma 1 or 2 leaves 2.5 to 8.3 times the level (10.5-15.4 dB for y's 40), sigma
    2 told 2.6 1.1 to 2.6 times (2.2 to 7.8 in 8 bits, valid borders); told right, 0.83 to
    1.00 (noise-free: up to 0.42). The same
    comes of a border model that differs (a crop of a photo restored as circular: 20 times)
    and of a JPEG's noise the level misses (4.7 times). A run cut short, interrupted, or of
    fewer than ``UNEXPLAINED_AFTER`` iterations is not judged (its estimate may be coarse)."""
    if not (isinstance(op, O.Blur) and isinstance(y, torch.Tensor)
            and result.iterations >= UNEXPLAINED_AFTER and not result.interrupted) \
            or result.stop_reason.startswith("time limit") \
            or (result.prior in ("dip", "decoder") and result.stop_reason.startswith("reached")):
        # (a network capped before its own rule stopped it has not fitted y yet: 50
        # iterations of the deep image prior left 7-10 times the noise of a right blur)
        return
    with torch.no_grad():
        fit = op(result.image.to(y.device, torch.float32))
        if fit.shape != y.shape:
            return
        residual = (fit - y).flatten(1).pow(2).mean(1).sqrt()
    for b, part in enumerate(result.items):
        level = max(part.noise_level or 0.0, 1 / 255)
        if float(residual[b]) > UNEXPLAINED * level:
            warnings.warn(f"the deblurred image explains y only to within {255 * float(residual[b]):.1f}/255"
                          f"{f' (image {b})' if len(result.items) > 1 else ''}, "
                          f"{float(residual[b]) / level:.1f} times the noise level "
                          f"({255 * level:.1f}/255): the blur model does not fit y: a blur told "
                          f"larger than y's (its inverse turns a sharper y into ringing), a "
                          f"border model that differs (a crop of a photo: border 'valid'), or "
                          f"noise the level misses (a JPEG's: io.jpeg_noise).",
                          BlurMismatchWarning, stacklevel=4)
            return


def _warn_if_level_off(y: torch.Tensor, op, level: float) -> None:
    """Say (``NoiseLevelWarning``) that a told ``noise_level`` is far from the noise read off
    ``y`` where the operator shows it (``visible_noise``; a denoising's on a 512x512 crop at
    most): about its square, within 2x, where it reads ``VARIANCE_READ_MIN`` or more (the
    noise's variance, as ``skimage.util.random_noise(var=)`` and MATLAB's ``imnoise`` take
    it: 64x64 camera at noise 0.1 denoised to 20.72 dB against 25.69, a blur 20.79 against
    22.88); or, for a denoising, under half of it where it reads ``UNDER_TOLD_READ_MIN`` or
    more (96x96 photos at 25/255 told half: 22.6-23.0 dB, 27.7-29.9 read)."""
    denoising = getattr(op, "is_identity", False)
    if not (0 < level < VARIANCE_READ_MIN or denoising) or isinstance(op, O.Gained) \
            or users_operator(op):  # (a gained one's level is in divided units here)
        return
    h, w = y.shape[-2:]
    crop = y[..., (h - min(h, 512)) // 2 :, (w - min(w, 512)) // 2 :][..., :512, :512] if denoising else y
    read = visible_noise(op, crop)
    if read is None:
        return
    if read >= VARIANCE_READ_MIN and read ** 2 / 2 <= level <= 2 * read ** 2:
        said = (f"if that is the noise's variance, pass its square root, {math.sqrt(level):.3g}: "
                f"the level is the noise's standard deviation")
    elif denoising and read >= UNDER_TOLD_READ_MIN and level < read / 2:
        said = ("a denoising told less than there is leaves the rest in (half the level: 5 to "
                "7 dB lost on photos at 25/255); leave the level out to have it read")
    else:
        return
    warnings.warn(f"the noise level told, {level:g}, is far under the noise read off y, "
                  f"{read:.3g}: {said}.", NoiseLevelWarning,
                  stacklevel=4)  # (the caller of solve, past its context decorator)


def _common_settings(options: dict) -> dict:
    """``options`` with ``iters`` and ``seed`` as ints (a NumPy integer is one) and
    ``max_seconds`` a float; ``ValueError`` in one sentence for another type (a string
    reached a comparison deep inside a prior, or torch's seeding)."""
    for key, least in (("iters", 1), ("seed", None)):
        if options.get(key) is not None:
            options[key] = whole_number(key, options[key], least)
    if not -(2**63) <= options.get("seed", 0) < 2**63:  # (torch: "Overflow when unpacking")
        raise ValueError(f"seed must fit in 64 bits, got {options['seed']}.")
    seconds = options.get("max_seconds")
    if seconds is not None:
        if not is_number(seconds):
            raise ValueError(f"max_seconds must be a number of seconds, got {seconds!r}.")
        # inf is no limit, for every prior (the deep image prior took it, plug-and-play
        # refused it as "not a positive number", the inpainter after its fill)
        options["max_seconds"] = float(seconds) if seconds != math.inf else None
    return options


# operators that treat each channel alike, whatever their number (Inpainting: one mask for all)
CHANNELWISE = (O.Denoising, O.Blur, O.Downsampling, O.Inpainting)


def _gray_in_colour(y, op, name, prior, truth, options) -> list[bool]:
    """For each image of ``y``, whether it is a black-and-white image held in three equal
    channels (``colour.same_channels``: a gray photo saved as RGB), and its ``truth`` too,
    through a built-in operator treating every channel alike (an inpainting mask shared by
    the channels), for a built-in prior (``name``) or a trained generator of gray images
    (``prior.shape`` of one channel): it is then restored as the gray image it is, as the
    CLI does. A built-in prior: the gray network fits it, a third of the work, and its noise
    reads right (camera256 as RGB, blind: denoising 31.51 -> 31.53 dB with the noise read as
    25.4/255, not 43.6; deblurring 28.89 -> 29.36 dB in a third of the time). A gray
    generator refused it: "y has shape (3, 32, 32) per item". Empty where none can be."""
    built_in = isinstance(name, str) and name in PRIORS and "shape" not in options
    shape = getattr(prior, "shape", None)
    gray_generator = isinstance(shape, tuple) and len(shape) == 3 and shape[0] == 1
    mask = getattr(op, "mask", None)
    if not ((built_in or gray_generator) and isinstance(y, torch.Tensor) and y.ndim == 4
            and y.shape[1] == 3 and type(op) in CHANNELWISE
            and (mask is None or mask.shape[:2] == (1, 1))):
        return []
    truth = None if truth is None else torch.as_tensor(truth).float()
    if truth is not None and len(truth) != len(y):
        return [False] * len(y) if not same_channels(truth) else [same_channels(y)] * len(y)
    return [same_channels(y[b : b + 1])
            and (truth is None or same_channels(truth[b : b + 1])) for b in range(len(y))]


def _a_burst(op, y) -> bool:
    """Whether ``y`` is a stack of noisy copies of one image: every part of the stack ``op``
    the identity, every measurement a ``(B, C, H, W)`` image of the same shape."""
    return (isinstance(op, O.Stack) and isinstance(y, tuple) and len(y) == len(op.ops)
            and all(getattr(part, "is_identity", False) for part in op.ops)
            and all(isinstance(p, torch.Tensor) and p.ndim == 4 and p.shape == y[0].shape
                    for p in y))


def _burst(y, op, prior, noise_level, truth, progress, options) -> Result:
    """``solve`` for a burst (``_a_burst``): the copies averaged, each weighed by its noise
    (``stack_levels``: 1 / level^2), and the mean denoised once at the level left. Camera
    64, two copies at noise 0.05: 35.48 dB, plug-and-play on the stack 34.28 (helper 70)."""
    from .priors.pnp import QUIET_PART

    levels = stack_levels(op, tuple(p.detach().float() for p in y), noise_level)
    weights = [1 / max(level, QUIET_PART) ** 2 for level in levels]
    mean = sum(w * p.detach().float() for w, p in zip(weights, y)) / sum(weights)
    left = sum(weights) ** -0.5 if any(levels) else noise_level
    result = solve(mean, op.ops[0], prior, noise_level=left, truth=truth, progress=progress,
                   **options)
    for r in {id(r): r for r in [result, *result.items]}.values():  # (as _in_colour)
        r.stop_reason += f" (the mean of {len(y)} copies, each weighed by its noise)"
    return result


def _shot_noise(y, op, prior, noise, noise_level, truth, progress, options) -> Result:
    """``solve`` for ``y`` with shot noise (``noise``: ``"poisson"`` or an
    ``O.PoissonNoise``). Denoising: Anscombe's transform of each observation, restored as
    gaussian noise of the level it gives, then the transform's unbiased inverse
    (``invprior.poisson``). Deblurring (the transform does not pass through a blur):
    gaussian noise of the shot noise's std where y is bright (``noise_level.bright``), as
    ``priors.base.visible_noise`` reads it where the peak is not told."""
    from operators.noise import SIGNED

    from .checks import _check_truth
    from .io import FLOAT_TOP

    named = isinstance(noise, str) and noise.strip().lower() == "poisson"
    if not (isinstance(noise, O.PoissonNoise) or named):
        raise ValueError(f"noise is None (gaussian, of noise_level), 'poisson' or "
                         f"operators.PoissonNoise(peak), got {noise!r}.")
    # (a plain callable is neither: past this check, op is an operators.Operator)
    denoising = getattr(op, "is_identity", False)
    if not (denoising or getattr(op, "noise_visible", False) is True):
        raise ValueError("shot noise (noise=...) is for denoising and deblurring "
                         "(operators.Denoising, operators.Blur); for another operator give "
                         "noise_level: the noise's std where the image is bright.")
    if noise_level is not None:
        raise ValueError("noise_level is the std of gaussian noise; shot noise is told by its "
                         "peak: noise=operators.PoissonNoise(peak), or 'poisson' to read it.")
    if not (isinstance(y, torch.Tensor) and y.ndim == 4):  # (read_peak failed inside)
        raise ValueError(f"shot noise is read off images y (B, C, H, W), got "
                         f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}.")
    y = y.detach().float()
    # counts above the peak are shot noise's own (1 photon at white: y reaches 5 or more),
    # not another scale; 0-255 values and signed ones are
    if float(y.max()) > FLOAT_TOP:
        raise ValueError(_too_bright(float(y.max()), float(y.min())))
    if float((y < 0).float().mean()) > SIGNED:
        raise ValueError(f"shot noise counts photons, values from 0 up, but "
                         f"{float((y < 0).float().mean()):.0%} of y's values are negative (an "
                         f"offset taken off?); add it back, or give noise_level instead.")
    if truth is not None:
        _check_truth(truth)
        check_truth_count(truth, len(y))
        truth = truth.detach().float()
    if not denoising:
        return _shot_deblurred(y, op, prior, noise, truth, progress, options)
    peaks = ([noise.peak] * len(y) if isinstance(noise, O.PoissonNoise)
             else [read_peak(y[b : b + 1]) for b in range(len(y))])
    scales = [scale_for(y[b : b + 1], peak) for b, peak in enumerate(peaks)]
    stretched = torch.cat([anscombe(y[b : b + 1], peak, scale)
                           for b, (peak, scale) in enumerate(zip(peaks, scales))])
    result = solve(stretched, op, prior, noise_level=[1 / scale for scale in scales],
                   progress=progress, **options)
    for b, (one, peak, scale) in enumerate(zip(result.items, peaks, scales)):
        one.image = inverse_anscombe(one.image, peak, scale).clamp(0, 1)
        one.stop_reason += f" (shot noise, peak {peak:.3g}: through Anscombe's transform)"
        one.noise_level = None  # (its level varies with the brightness)
        one.psnrs = [psnr(one.image, truth[b : b + 1])] if truth is not None else []
    if len(result.items) > 1:
        result.image = torch.cat([r.image for r in result.items])
        result.stop_reason, result.noise_level = result.items[0].stop_reason, None
        result.psnrs = result.items[0].psnrs
    return result


def _shot_deblurred(y, op, prior, noise, truth, progress, options) -> Result:
    """``_shot_noise`` for a blur, which Anscombe's transform does not pass through: gaussian
    noise of the level ``visible_noise`` reads (where y is bright, where its noise grows with
    the brightness: ``noise_level.shot_sigma``), and with the peak told, at least that
    peak's std where y is ``noise_level.bright`` (not that alone: read noise adds to it,
    and camera at 100 photons with 10 of read noise, motion-blurred, fell to 12.41 dB,
    25.01 read). The peak read (``noise_level.shot_fits``) is said, not used: a read peak
    too high had made the level too low (moon 256 at 1000 photons, read 1918: 24.27 dB,
    37.12 as read by default). An item whose noise does not grow with the brightness is
    restored as gaussian, and its stop reason says so (one such file had failed a folder)."""
    levels, notes = [], []
    for b in range(len(y)):
        item = y[b : b + 1]
        level = visible_noise(op, item) or 0.0
        if isinstance(noise, O.PoissonNoise):
            told = math.sqrt(max(bright(item), 0.0) / noise.peak)
            level, said = max(level, told), f"shot noise, peak {noise.peak:.3g} told"
        else:
            fit = shot_fits(item)[0] if min(item.shape[-2:]) >= 16 else None
            said = (f"shot noise, peak {1 / fit[0]:.3g} read" if fit is not None else
                    "no shot noise read: y's noise does not grow with its brightness")
        levels.append(min(level, 1.0))  # (a peak under 1 photon: a level past 1 was refused)
        notes.append(f" ({said}; noise {255 * levels[-1]:.1f}/255, where y is bright)")
    result = solve(y, op, prior, noise_level=levels[0] if len(y) == 1 else levels,
                   truth=truth, progress=progress, **options)
    for one, note in zip(result.items, notes):
        one.stop_reason += note
    result.stop_reason = result.items[0].stop_reason
    return result


def _in_colour(gray: Result) -> Result:
    """A gray ``Result`` given back with three equal channels, as its ``y`` came."""
    for r in {id(r): r for r in [gray, *gray.items]}.values():
        r.image = r.image.repeat(1, 3, 1, 1)
        r.stop_reason += " (three equal channels: restored as gray)"
    return gray


def _item_by_item(y, op, spec, noise_level, truth, progress, options) -> Result:
    """``solve`` for an operator that measures each item of the batch its own way
    (``treats_items_apart``): each observation through its own operator
    (``operators.item_of``), with its own prior where ``auto`` chooses by the operator (an
    inpainting mask's holes). A prior restoring a batch would call the operator on one
    image or a group, which it measures as item 0."""
    from .priors.base import not_started

    batch = batch_size(y)
    levels = (noise_level.reshape(-1) if hasattr(noise_level, "reshape") else noise_level) \
        if isinstance(noise_level, (list, tuple, np.ndarray, torch.Tensor)) else [noise_level] * batch
    if len(levels) != batch:
        raise ValueError(f"noise_level holds {len(levels)} levels for {batch} observations.")
    check_truth_count(truth, batch)
    start, items = time.perf_counter(), []
    for b in range(batch):
        mine = O.item_of(op, b, batch)
        if items and items[-1].interrupted:  # Ctrl-C: the rest keep a cheap estimate
            items.append(not_started(mine, prepare(item(y, b), mine, None, None,
                                                   options.get("shape"))[0]))
            continue
        level = levels[b].item() if isinstance(levels[b], (torch.Tensor, np.generic)) else levels[b]
        items += solve(item(y, b), mine, spec, noise_level=level, progress=progress,
                       truth=None if truth is None else truth[b : b + 1], **options).items
    names = ", ".join(dict.fromkeys(r.prior for r in items if r.prior))
    return Result.combine(items, seconds=time.perf_counter() - start, prior=names)


def _levels_of(noise_level, count: int) -> list | None:
    """Each of ``count`` observations' noise level (None: read off it) from ``noise_level``:
    one number (a Python, NumPy or 0-d tensor one) or one per observation; None where it
    is neither (solve then says what is wrong with it)."""
    if isinstance(noise_level, bool):  # (refused as such further on)
        return None
    if noise_level is None or isinstance(noise_level, numbers.Real):
        return [None if noise_level is None else float(noise_level)] * count
    if isinstance(noise_level, (np.ndarray, torch.Tensor)) and noise_level.ndim == 0:
        return [float(noise_level.item())] * count
    if isinstance(noise_level, (list, tuple, np.ndarray, torch.Tensor)) and len(noise_level) == count:
        values = [v.item() if isinstance(v, (np.ndarray, np.generic, torch.Tensor)) else v
                  for v in noise_level]
        if all(v is None or isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
            return [None if v is None else float(v) for v in values]
    return None


def _level_each(y, op, prior, name, levels, truth, shape, progress) -> Result:
    """``solve`` with one noise level per observation: a prior restores a batch at one
    level, so the observations sharing a level go together, and the items come back in the
    batch's order. After Ctrl-C the parts not started keep the operator's first estimate."""
    from .priors.base import in_parts

    if not isinstance(y, torch.Tensor):
        # (a level per part, as a stack's user would try, read as one per batch item)
        raise ValueError("one noise level per observation needs y as one tensor; a stack's "
                         "measurements take one noise_level for every part, or none: each "
                         "part's own is then read, as parts of unlike noise need.")
    levels = [check_level(v.item() if isinstance(v, (torch.Tensor, np.generic)) else v)
              for v in (levels.reshape(-1) if hasattr(levels, "reshape") else levels)]
    if len(levels) != len(y):
        raise ValueError(f"noise_level holds {len(levels)} levels for {len(y)} observations.")
    check_truth_count(truth, len(y))
    start = time.perf_counter()

    def restore(level, part, part_truth, _start):
        part, _, part_truth = prepare(part, op, level, part_truth, shape)
        return restore_stretched(prior, part, op, dim_scale(part, op, name), noise_level=level,
                                 truth=part_truth, progress=progress).items

    # (the levels to read first: one that cannot be read is refused before the given ones'
    # work, as the discrepancy rule refuses it, not after)
    items = in_parts(levels, y, restore, truth, op=op, first=None)
    return Result.combine(items, seconds=time.perf_counter() - start, prior=prior.name)

