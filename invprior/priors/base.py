"""What a prior is: the protocol every prior follows, and a base class for the usual case.

A prior is any object with

    name: str
    check(op) -> None, or one sentence saying why it cannot serve ``op``
    restore(y, op, *, noise_level=None, truth=None, progress=False) -> Result

Its own settings (iterations, learning rate, weights, device, time budget ``max_seconds``)
are given when it is built, so that ``restore`` means the same for every prior.
``ItemwisePrior`` does the rest for a prior that restores one observation at a time:
checks, the batch loop, the noise level per item, Ctrl-C (the item being restored keeps
its best estimate so far, the ones not started keep the operator's initial estimate), and
one ``Result`` for the batch.

Example:
    >>> import operators as O
    >>> class Clip(ItemwisePrior):          # a whole prior: the observation, clipped
    ...     name = "clip"
    ...     def restore_one(self, y, op, *, noise_level, truth, progress, desc):
    ...         return Result(y.clamp(0, 1), iterations=1, iteration=1, stop_reason="one pass")
    >>> out = Clip().restore(torch.rand(2, 1, 8, 8) * 2, O.Denoising())
    >>> out.image.shape, out.image.max() <= 1, len(out.items), out.prior
    (torch.Size([2, 1, 8, 8]), tensor(True), 2, 'clip')
"""

from __future__ import annotations

import copy
import itertools
import time
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

import torch

import operators as O
from operators.base import TOP_BAND, in_precision_of

from ..checks import batch_size, item, prepare, to_device, torch_as_restoring_needs
from ..console import stopped_by
from ..metrics import psnr
from ..noise_level import estimate_noise, observed_sigma, shot_sigma, top_band_sigma
from ..operator_checks import blur_like, check_forward, users_operator
from ..result import Result

# A user's own operator (``operators.Lambda``): the noise level read off y up to this std (on
# [0, 1]; see ``visible_noise``). Camera through sqrt(blur(x)) + noise 0.01, plug-and-play
# without noise_level: 20.38 dB when y was taken as noise-free, 29.71 as when told (and read).
USER_NOISE_MAX = 0.1
# a level read where a mask after a blur observes under which y counts as noise-free
QUIET_MASKED = 1 / 255
# a blur's level read under which y counts as noise-free: a clean 8-bit y reads 0.2-0.3/255
# (its rounding), a 16-bit or float one 0.03 (see visible_noise)
QUIET_BLUR = 0.5 / 255
# A downsampled y (``noise_visible == TOP_BAND``): the top-band reading counts as noise
# from this std up. Clean bicubic x2-x4 images of Set5, Set12 and Kodak24 read up to 5.7/255
# there; taken as noise-free, y with noise of 10/255 was super-resolved to 24.77 dB at x2
# and 23.41 at x4 (6 scikit-image photos), at the level read 30.55 and 26.28.
TOP_BAND_NOISE_MIN = 6 / 255
# ... and for a y smaller than this (pixels), only where it reads at least TOP_BAND_WHITE of
# what its finest wavelet band reads (white noise is as strong there as anywhere: the
# demo's astronaut at 42x42 and 32x32 LR with noise of 5 and 10/255 read 0.72-0.84 of it;
# clean, 0.57-0.62). A tiny image is dense with detail up to its top band: the demo's
# clean 32x32 astronaut (x4 of 128x128) read 6.7/255 there, 0.62 of its finest band, and
# was restored as noisy: plug-and-play 22.36 -> 22.14 dB, K-SVD 21.68 -> 20.79, dip 22.55
# -> 21.35 (stopped at the level read). Set5, Set12 and Kodak24 LR images (x2, x4: 57x86
# and up) are above it, where the rule stays as it was.
SMALL_TOP_BAND = 64 * 64
TOP_BAND_WHITE = 0.7

__all__ = ["Prior", "ItemwisePrior", "served", "visible_noise", "keeper",
           "said_level", "in_parts", "not_started"]


@runtime_checkable
class Prior(Protocol):
    """The protocol of a prior (see the module docstring)."""

    name: str

    def check(self, op) -> str | None: ...

    def restore(self, y, op, *, noise_level: float | None = None,
                truth: torch.Tensor | None = None, progress: bool = False) -> Result: ...


@contextmanager
def lent(op, device):
    """The operator's tensors on ``device`` for a run, and its own tensors back after (not
    copies): ``Module.to`` moves them in place, and after ``solve(..., device="cuda")`` a
    user's ``A.kernel`` had stayed on the GPU (``.numpy()`` failed, each CPU call copied it
    back).

    Example:
        >>> import operators as O
        >>> A = O.Blur(sigma=1.0)
        >>> kernel = A.kernel
        >>> with lent(A, torch.device("meta")):
        ...     A.kernel.device.type
        'meta'
        >>> A.kernel is kernel
        True
    """
    held = [(m._parameters, name, p, p.data) for m in op.modules()
            for name, p in m._parameters.items() if p is not None]
    held += [(m._buffers, name, b, None) for m in op.modules()
             for name, b in m._buffers.items() if b is not None]
    try:  # (a move that fails half-way, out of GPU memory, leaves nothing moved either)
        op.to(device)
        yield op
    finally:
        for where, name, tensor, data in held:
            where[name] = tensor
            if data is not None:
                tensor.data = data


@contextmanager
def _frozen(op):
    """The operator's own weights (an ``nn.Module`` of the user's, e.g. a convolution) held
    fixed while it serves a fit: the image's gradient flows through them, and their
    ``.grad`` filled up in the user's module."""
    params = [p for p in op.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def served(op):
    """``op`` as the priors call it: for an ``Operator`` of one's own written as a class (a
    plain callable's ``Lambda`` does the same itself), a twin of it (its tensors shared)
    whose ``forward`` gets a copy of its input (it may change it in place: autograd had
    refused that on a prior's image, deep in torch), whose output and own ``adjoint``'s
    come in the input's precision (a float64 output had made plug-and-play's iterate
    float64, which the denoiser refused) and, for a ``LinearOperator`` with its own adjoint
    whose ``forward`` carries no gradient (NumPy, SciPy, a library outside autograd), whose
    gradient is that adjoint: a linear map's exact one. Plug-and-play needs only the
    adjoint; the network priors fit through the gradient ("element 0 of tensors does not
    require grad" before).

    Example:
        >>> import numpy as np, operators as O
        >>> class Half(O.LinearOperator):  # in NumPy
        ...     def forward(self, x): return torch.from_numpy(x.detach().numpy() / 2)
        ...     def adjoint(self, y): return y / 2
        >>> x = torch.ones(1, 1, 2, 2, requires_grad=True)
        >>> served(Half())(x).sum().backward(); x.grad.flatten().tolist()
        [0.5, 0.5, 0.5, 0.5]
    """
    if not users_operator(op) or isinstance(op, O.Lambda):
        return op
    twin = copy.copy(op)  # (shallow: its parameter and buffer dicts are op's own)
    own_adjoint = (isinstance(op, O.LinearOperator)
                   and type(op).adjoint is not O.LinearOperator.adjoint)
    twin.forward = _Served(op.forward, op.adjoint if own_adjoint else None)
    if own_adjoint:
        adjoint = op.adjoint
        twin.adjoint = lambda y: in_precision_of(adjoint(y), y)
    return twin


class _Served:
    """The forward of ``served``'s twin: ``forward`` on a copy of the input, in its
    precision; by ``adjoint`` where it carries no gradient (found at the first call that
    needs one)."""

    def __init__(self, forward, adjoint=None):
        self.forward, self.adjoint = forward, adjoint
        self.needed = None if adjoint is not None else False

    def plain(self, x):
        return in_precision_of(
            self.forward(x.clone() if isinstance(x, torch.Tensor) else x), x)

    def __call__(self, x):
        if self.needed is False or not (torch.is_grad_enabled()
                                        and isinstance(x, torch.Tensor) and x.requires_grad):
            return self.plain(x)
        if self.needed is None:
            out = self.plain(x)
            self.needed = not (isinstance(out, torch.Tensor) and out.requires_grad)
            if not self.needed:
                return out
        return _AdjointGradient.apply(x, self.plain, self.adjoint)


class _AdjointGradient(torch.autograd.Function):
    """``forward(x)`` whose vector-Jacobian product is ``adjoint``."""

    @staticmethod
    def forward(ctx, x, forward, adjoint):
        ctx.adjoint = adjoint
        return forward(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.adjoint(grad), None, None


class ItemwisePrior:
    """A prior that restores a batch one observation at a time; subclasses write
    ``restore_one`` (and set ``needs_linear`` when they need ``op.pinv``)."""

    name = "prior"
    needs_linear = False  # needs a LinearOperator (adjoint, pinv)
    device: torch.device = torch.device("cpu")
    shape: tuple | None = None  # the image shape (C, H, W) given, for an operator that cannot tell

    def __repr__(self) -> str:
        """``PlugAndPlay(name='plug-and-play', iters=16, device=cpu)``: what a notebook shows
        (it showed ``<... object at 0x...>``)."""
        iters = getattr(self, "iters", None)
        return (f"{type(self).__name__}(name={self.name!r}"
                + (f", iters={iters}" if iters is not None else "") + f", device={self.device})")

    def check(self, op) -> str | None:
        if self.needs_linear and not isinstance(op, O.LinearOperator):
            linear = ("; a plain function that is linear: operators.as_operator(f, linear=True)"
                      if isinstance(op, O.Lambda) else "")
            # (it named dip alone, which measured below the default on every nonlinear case)
            return (f"the {self.name} prior needs a linear operator (an operators.LinearOperator"
                    f"{linear}), got {type(op).__name__}; prior='denoiser' (the default) or "
                    f"'dip' take any.")
        return None

    @torch_as_restoring_needs()
    def restore(self, y, op, *, noise_level: float | None = None,
                truth: torch.Tensor | None = None, progress: bool = False) -> Result:
        """Restore every observation of ``y`` ``(B, ...)``; see the module docstring."""
        start = time.perf_counter()
        op = O.as_operator(op)
        reason = self.check(op)
        if reason:
            raise ValueError(reason)
        # solve() did this already; a prior's restore() called directly must too
        y, noise_level, truth = prepare(y, op, noise_level, truth, self.shape)  # (truth: one each)
        batch = batch_size(y)
        with lent(op, self.device), _frozen(op):
            if isinstance(y, torch.Tensor) and y.device != self.device and users_operator(op):
                check_on_device(op, y, self.shape, self.device)  # (moved: what .to can move)
            items = self._restore_groups(y, served(op), batch, noise_level,
                                         truth, progress)
        return Result.combine(items, seconds=time.perf_counter() - start, prior=self.name)

    def _restore_groups(self, y, op, batch, noise_level, truth, progress) -> list:
        """One Result per observation, the groups of same-size ones together where the
        prior can (``restore_together``)."""
        items = []
        for group in _groups(y, batch):
            if items and items[-1].interrupted:  # Ctrl-C: the rest keep a cheap estimate
                items += [not_started(op, to_device(item(y, b), self.device)) for b in group]
                continue
            if len(group) > 1 and isinstance(y, torch.Tensor):
                together = self._restore_group(y, op, group, batch, noise_level, truth, progress)
                if together is not None:
                    items += together
                    continue
            for b in group:
                items.append(self._restore_item(y, op, b, batch, noise_level, truth, progress,
                                                skip=bool(items) and items[-1].interrupted))
        return items

    def _restore_item(self, y, op, b, batch, noise_level, truth, progress, skip) -> Result:
        """Item ``b`` of the batch on its own."""
        target = to_device(item(y, b), self.device)
        if skip:
            return not_started(op, target)
        ref = truth[b : b + 1].to(self.device) if truth is not None else None
        desc = f"{self.name} {b + 1}/{batch}" if batch > 1 else self.name
        start = time.perf_counter()
        try:
            result = self.restore_one(target, op, noise_level=noise_level, truth=ref,
                                      progress=progress, desc=desc)
        except KeyboardInterrupt:  # a step without a loop of its own to catch it
            result = not_started(op, target)
        self._check_returned([result], "restore_one", "an image (1, C, H, W)")
        result.seconds = result.seconds or time.perf_counter() - start  # (a prior of one's own)
        if ref is not None:
            _trace_returned(result, ref)
        return result

    def _restore_group(self, y, op, group, batch, noise_level, truth, progress) -> list | None:
        """Items ``group`` of the batch together (``restore_together``), or None."""
        target = y[group[0] : group[-1] + 1].to(self.device)
        ref = truth[group[0] : group[-1] + 1].to(self.device) if truth is not None else None
        try:
            results = self.restore_together(target, op, noise_level=noise_level, truth=ref,
                                             progress=progress,
                                             desc=f"{self.name} {group[-1] + 1}/{batch}")
        except KeyboardInterrupt:
            return [not_started(op, target[i : i + 1]) for i in range(len(group))]
        if results is not None:
            self._check_returned(results, "restore_together", "each image (1, C, H, W)",
                                 len(group))
        if results is not None and ref is not None:
            for i, result in enumerate(results):
                _trace_returned(result, ref[i : i + 1])
        return results

    def _check_returned(self, results, method: str, image: str, count: int = 1) -> None:
        """``ValueError`` in one sentence where a subclass's ``method`` returned something
        other than ``count`` Results holding tensors (a tensor had failed deep inside: "has
        no attribute 'interrupted'")."""
        if not isinstance(results, (list, tuple)):
            got = type(results).__name__
        elif len(results) != count:
            got = f"{len(results)} results for {count} observations"
        else:
            got = next((type(r).__name__ if not isinstance(r, Result) else
                        f"a Result holding {type(r.image).__name__}" for r in results
                        if not (isinstance(r, Result) and isinstance(r.image, torch.Tensor))),
                       None)
        if got is not None:
            one = ("a list of invprior.Result, one per observation"
                   if method == "restore_together" else "an invprior.Result")
            raise ValueError(f"the {self.name!r} prior's {method} returned {got}; it must "
                             f"return {one} (Result(image) for {image}).")

    def restore_together(self, y, op, *, noise_level: float | None, truth, progress: bool,
                         desc: str) -> list | None:
        """Restore the observations ``y`` ``(B, ...)`` (same size, on ``self.device``) in
        one run and return one Result per item; None (the default) when this prior cannot,
        and they are restored one at a time."""
        return None

    def restore_one(self, y, op, *, noise_level: float | None, truth, progress: bool,
                    desc: str) -> Result:
        """Restore one observation ``y`` (batch 1) on ``self.device``."""
        raise NotImplementedError(f"{type(self).__name__} (the {self.name!r} prior) writes no "
                                  f"restore_one(y, op, *, noise_level, truth, progress, desc).")


# Observations restored together hold at most this many values (16 RGB 256x256 images, or
# one 5.6-megapixel RGB photo): a data step keeps about ten copies of the batch.
GROUP_VALUES = 16 * 3 * 256 * 256


def _groups(y, batch: int) -> list[list[int]]:
    """The batch split into runs of consecutive items restored together."""
    values = y[0].numel() if isinstance(y, torch.Tensor) else GROUP_VALUES
    size = max(1, GROUP_VALUES // values)
    return [list(range(b, min(b + size, batch))) for b in range(0, batch, size)]


def _trace_returned(result: Result, ref: torch.Tensor) -> None:
    """``result.psnrs[result.iteration - 1]`` made the returned image's PSNR against ``ref``
    (``[that]`` where nothing was traced): a final projection onto ``A x = y``
    (``keep_observed``) comes after the trace, which had said 20.0 dB of an image of 89.1."""
    if not result.psnrs:
        result.psnrs = [psnr(result.image, ref)]
    elif 1 <= result.iteration <= len(result.psnrs):
        result.psnrs[result.iteration - 1] = psnr(result.image, ref)


TINY_READ = 8  # the smallest side whose noise is read (the command line's least image)


def visible_noise(op, y, given: float | None = None) -> float | None:
    """The noise level: ``given``, else read off ``y`` where the operator says that the noise
    is visible there (``op.noise_visible``: denoising, blur; super-resolution where the
    reading at the top of the spectrum is at least ``TOP_BAND_NOISE_MIN``) or where it is a
    user's own (a callable or a class) and the reading is at most ``USER_NOISE_MAX``, else
    None.

    Example:
        >>> import operators as O
        >>> g = torch.Generator().manual_seed(0)
        >>> y = 0.5 + 0.1 * torch.randn(1, 1, 64, 64, generator=g)
        >>> round(visible_noise(O.Denoising(), y), 2), round(visible_noise(O.Downsampling(2), y), 2)
        (0.1, 0.1)
        >>> visible_noise(O.Downsampling(2), torch.linspace(0, 1, 32).expand(1, 1, 32, 32))  # clean
    """
    if given is not None:
        return given
    if not (isinstance(y, torch.Tensor) and y.ndim == 4 and min(y.shape[-2:]) >= TINY_READ):
        return None
    if isinstance(op, O.ItemOf):  # one item of a user's operator: what that one says
        op = op.op
    seen, visible = _seen_after_blur(op, y), getattr(op, "noise_visible", False)
    tiny = min(y.shape[-2:]) < 16
    if tiny and (seen is not None or visible is not True):
        # under 16 pixels a side only a y that shows its noise as it is (denoising, a blur)
        # is read: taken as noise-free, a noisy 15x64 blur came out at 10.4 dB from 25.6
        # (38.9 told), where the reading is right (5.5/255 for 5)
        return None
    if seen is not None:
        # a mask and a blur: where y saw only observed pixels it shows the noise as a blur's
        # y does, with no texture to take for it (taken as noise-free, the blur's inverse
        # raised it: 8.7-14.4 dB where 25-29 were reached with the level read)
        levels = observed_sigma(y, seen)
        level = None if None in levels else sum(levels) / len(levels)
        # (a clean y reads 0.2-0.3/255: taken as noise-free, as it was, to the same result)
        return level if level is not None and level >= QUIET_MASKED else None
    if visible == TOP_BAND:  # a downsampled y: detail up to its finest band, noise above
        level = sum(top_band_sigma(y)) / len(y)
        if level < TOP_BAND_NOISE_MIN:
            return None
        small = y.shape[-2] * y.shape[-1] < SMALL_TOP_BAND
        return None if small and level < TOP_BAND_WHITE * estimate_noise(y) else level
    if visible:
        level = estimate_noise(y)
        if getattr(op, "is_identity", False):
            return level
        level = level if tiny else _where_bright(level, y)  # (shot noise: 16 px and up)
        # a blur's y read under half an 8-bit level is noise-free: its restoration then ends
        # on the data (a 16-bit or float y read 0.027/255 had ended on the denoiser's image:
        # camera 128, gaussian 2, float 29.96 dB against 41.89 taken as noise-free)
        return 0.0 if level < QUIET_BLUR else level
    if users_operator(op) and not _says_noise_visible(op):
        # a user's own operator (a callable or a class): y is read as an image where it
        # looks like one (a noisy motion blur of one's own class, read as noise-free: 11.4 dB
        # from y's 24.0; as a callable, read: 18.1); a scrambled
        # measurement (random signs, say: 0.43 on camera) reads as strong noise and keeps
        # None, as does truly strong noise, which the user then gives
        level = estimate_noise(y)
        if level > USER_NOISE_MAX:
            return None
        # a blur of one's own too (a motion blur as a callable, camera 128, 100 photons:
        # 14.97 dB read at the median, 25.86 where bright)
        return _where_bright(level, y) if blur_like(op, y.device) else level
    return None


def _where_bright(level: float, y: torch.Tensor) -> float:
    """A blur's noise ``level``, or the level where ``y`` is bright where its noise grows
    with the brightness (shot noise: a dim photo, a micrograph; ``noise_level.shot_sigma``):
    the median reading left the bright parts' noise in, and each data step amplified it
    until the splitting fell apart (camera 256, motion blur, 100 photons at white: 15.0 dB;
    26.9 so; BENCHMARKS.md, "Shot noise")."""
    shot = shot_sigma(y)
    return level if shot is None else max(level, shot)


def stack_levels(op, y: tuple, given: float | None = None) -> list[float]:
    """The noise level of each part of a stack's measurements ``y`` (``op``: an
    ``O.Stack``): ``given`` for all, else each part's own reading (``visible_noise``) where
    it shows one, and the lowest of those for a part that does not (a random mask's: one
    sensor, say); all 0 where none does. A short exposure and a long one differ: a noisy
    image (0.1) beside a motion blur of it (0.01), camera 128, restored at the lowest
    level for both: 20.95 dB; each at its own: 33.45 (the blurred one alone: 33.09).

    Example:
        >>> import operators as O
        >>> g = torch.Generator().manual_seed(0)
        >>> y = tuple(0.5 + s * torch.randn(1, 1, 64, 64, generator=g) for s in (0.1, 0.02))
        >>> [round(s, 2) for s in stack_levels(O.Stack(O.Denoising(), O.Denoising()), y)]
        [0.1, 0.02]
    """
    if given is not None:
        return [given] * len(op.ops)
    read = [visible_noise(part, seen) for part, seen in zip(op.ops, y)]
    # (texture only ever adds to a reading: the lowest is the likeliest for a part unread)
    lowest = min((level for level in read if level is not None), default=0.0)
    return [lowest if level is None else level for level in read]


def _seen_after_blur(op, y: torch.Tensor) -> torch.Tensor | None:
    """For a composition of a mask and a blur (either way round), the pixels of ``y`` that
    saw only observed pixels, as a mask ``(B or 1, 1, H, W)``; None for any other operator,
    or one item of a batch with a mask per item."""
    if not isinstance(op, O.Composition):
        return None
    outer, inner = O.as_operator(op.outer), O.as_operator(op.inner)
    blurred = lambda part: getattr(part, "noise_visible", False) is True
    try:
        if isinstance(outer, O.Inpainting) and blurred(inner):
            return outer.mask_for(y)
        if isinstance(inner, O.Inpainting) and blurred(outer) and isinstance(outer, O.LinearOperator):
            mask = inner.mask.float()
            if mask.shape[0] not in (1, len(y)):
                return None
            with torch.no_grad():  # (a blur of the mask as full as a blur of ones: seen whole)
                spread, whole = outer(mask), outer(torch.ones_like(mask))
            return (spread >= whole - 1e-3).float() if spread.shape[-2:] == y.shape[-2:] else None
    except (ValueError, RuntimeError):
        return None
    return None


def _says_noise_visible(op) -> bool:
    """Whether a user's operator sets ``noise_visible`` itself (its class or the instance),
    so that its ``False`` means "do not read y" (a Bayer mosaic, k-space as channels: their
    pattern reads as noise) rather than the default of ``operators.Operator``."""
    if isinstance(op, O.Gained):  # (on the images' scale: what the operator itself says)
        return _says_noise_visible(op.op)
    return "noise_visible" in vars(op) or any(
        "noise_visible" in vars(k) for k in type(op).__mro__
        if not k.__module__.startswith(("operators", "torch")))


def one_pass(prior: str, op) -> bool:
    """Whether the prior named ``prior`` restores ``op``'s observations in one pass, taking
    no ``iters``: the denoiser and K-SVD denoising, K-SVD's coupled dictionaries for
    bicubic super-resolution.

    Example:
        >>> one_pass("denoiser", O.Denoising()), one_pass("denoiser", O.Blur(sigma=1.0))
        (True, False)
    """
    identity = getattr(op, "is_identity", False)
    bicubic = getattr(op, "name", None) == "downsample" and getattr(op, "filter", None) == "bicubic"
    return (prior == "denoiser" and identity) or (prior == "sparse" and (identity or bicubic))


def iterates_reason(prior: str, op, iters, max_seconds=None) -> str | None:
    """Why ``iters`` or ``max_seconds`` is refused where ``prior`` restores ``op`` in one
    pass (each was ignored without a word: the same output to the byte, a "2 s" run of a
    photo took 17 s), for a prior's ``check(op)``; else None."""
    for name, value in (("iters", iters), ("max_seconds", max_seconds)):
        if value is not None and one_pass(prior, op):
            return (f"{name} is for the priors that iterate; the {prior} prior restores this "
                    f"in one pass (prior='dip' or 'decoder' iterate).")
    return None


def said_level(level: float, given: float | None) -> str:
    """What a stop reason adds for a noise level read off ``y`` (nothing where one was
    ``given``): a user of a photo cannot see otherwise what was assumed.

    Example:
        >>> said_level(0.1, None), said_level(0.1, 0.1), said_level(10 / 65535, None)
        (', noise 25.5/255 estimated', '', ', noise 0.039/255 estimated')
    """
    if given is not None:
        return ""
    v = 255 * float(level)  # (16-bit data's noise of 10 counts in 65535 had read "0.0/255")
    return f", noise {v:.1f}/255 estimated" if v >= 0.95 or v < 0.005 else f", noise {v:.2g}/255 estimated"


def keeper(op, y, keep: bool | None, noise_level):
    """``(finish, cheap)``: the operator's projection onto ``{x : A x = y}`` when ``y`` is
    noise-free and ``keep`` allows it (default: unless a ``noise_level``, given or read, one
    or one per item, is > 0: the projection would put the noise back), else None; ``cheap``
    says whether it may run at every traced step."""
    if keep is None:
        levels = torch.as_tensor(0.0 if noise_level is None else noise_level).reshape(-1)
        keep = not bool((levels > 0).any())
    project = getattr(op, "projection", None)
    finish = project(y) if keep and isinstance(y, torch.Tensor) and project else None
    return finish, bool(finish and getattr(op, "projection_is_cheap", False))


def in_parts(keys: list, y: torch.Tensor, restore, truth=None, start=None, *, op,
             first=...) -> list:
    """``restore(key, y, truth, start)`` (one Result per item) of each part of the batch
    ``y`` whose items share a key (in the order of their first items), the parts' Results
    back in the batch's order: items that would not be restored alike (another iteration
    count, another network, another noise level) each as alone. After a part that Ctrl-C
    interrupted, the parts not started keep ``not_started(op, ...)``: a batch of noisy and
    noise-free blurs had run its second part's 32 iterations in full after the Ctrl-C.
    ``first``: a key whose part goes before the others (None, a level to read: one that
    cannot be is refused before the given levels' work).

    Example:
        >>> out = in_parts([1, 0, 1], torch.arange(3.0), op=None,
        ...                restore=lambda key, y, t, s: [Result(y[i], stop_reason=str(key)) for i in range(len(y))])
        >>> [(r.stop_reason, float(r.image)) for r in out]
        [('1', 0.0), ('0', 1.0), ('1', 2.0)]
    """
    items, order = [None] * len(y), list(dict.fromkeys(keys))
    if first in order:  # (restored before the others: a part that may be refused)
        order.insert(0, order.pop(order.index(first)))
    for key in order:
        index = [b for b, k in enumerate(keys) if k == key]
        if any(r is not None and r.interrupted for r in items):
            part = [not_started(op, y[b : b + 1].detach().float()) for b in index]
        else:
            part = restore(key, y[index], None if truth is None else truth[index],
                           None if start is None else start[index])
        for b, result in zip(index, part):
            items[b] = result
    return items


def check_on_device(op, y: torch.Tensor, shape, device) -> None:
    """One sentence (``ValueError``) where an operator of one's own, which serves ``y`` on
    its device, fails on the prior's ``device``: a callable holding CPU tensors, which
    ``.to`` cannot move, had failed deep inside a CUDA run ("Expected all tensors to be on
    the same device", or for a nonlinear one "torch cannot differentiate the operator").

    Example:
        >>> def on_cpu(v):  # as a convolution with a kernel held on the CPU fails elsewhere
        ...     if v.device.type != "cpu":
        ...         raise RuntimeError("Expected all tensors to be on the same device")
        ...     return 0.5 * v
        >>> check_on_device(O.as_operator(on_cpu), torch.rand(1, 1, 8, 8), None, torch.device("meta"))
        Traceback (most recent call last):
        ...
        ValueError: the operator runs on cpu but fails on meta, where this prior runs: move the tensors it holds to meta, or pass device='cpu'.
    """
    try:
        check_forward(op, y.to(device), shape)
    except ValueError:
        raise ValueError(f"the operator runs on {y.device.type} but fails on {device.type}, "
                         f"where this prior runs: move the tensors it holds to "
                         f"{device.type}, or pass device='{y.device.type}'.") from None


def not_started(op, y) -> Result:
    """The result of an item that Ctrl-C kept from running: the operator's cheap estimate,
    on the operator's device (a prior moves a built-in one to its own, as it does y)."""
    held = next(itertools.chain(op.parameters(), op.buffers()), None) \
        if isinstance(op, torch.nn.Module) else None
    if held is not None and isinstance(y, torch.Tensor):
        y = y.to(held.device)
    estimate = getattr(op, "initial_estimate", lambda _: None)(y)
    if estimate is None:
        shape = op.input_shape_for(tuple(y.shape)) if isinstance(y, torch.Tensor) else None
        estimate = torch.zeros(1, *shape[-3:], device=y.device) if shape else y
    return Result(estimate.clamp(0, 1), stop_reason=f"not started ({stopped_by()})", interrupted=True)
