"""Whether an operator can serve an observation ``y``, said in one sentence before a prior
starts: a prior's step would otherwise fail deep inside torch, or restore garbage (a flat
image, a white one) without a word.

Convention:
    Built-in operators are checked by what they know (the axes of ``y``, a mask's fit, the
    number of measurements), without running them. An operator of one's own
    (``users_operator``) is run once on a mid-gray image and once differentiated: its
    output's shape, batch, dtype, values and gradient are checked.

Example:
    >>> import operators as O
    >>> check_forward(O.Denoising(), torch.rand(1, 64, 64))
    Traceback (most recent call last):
    ...
    ValueError: y has 3 axes (1, 64, 64); images go in as (B, C, H, W): y[None] adds the batch axis to one (C, H, W) image, y[None, None] both axes to an (H, W) one.
"""

from __future__ import annotations

import math
import warnings

import torch

from operators.base import as_whole

from .messages import error_text, listed

__all__ = ["users_operator", "check_forward", "check_scale", "check_mask_way", "MaskWayWarning", "treats_items_apart",
           "acts_linearly", "blur_like", "estimate_of", "far_gain", "IMAGE_MEASUREMENTS"]

# the built-in operators whose measurements are images on the scale of x: [0, 1] and noise
IMAGE_MEASUREMENTS = ("denoise", "blur", "inpaint", "downsample")
# an operator of one's own whose measurements are more than this many times larger or
# smaller than the images they measure is restored on the images' scale (``far_gain``)
GAIN_ROOM = 8


def users_operator(op) -> bool:
    """True for an operator of the user's own: a callable (``operators.Lambda``) or a class
    outside the ``operators`` package, whose image size only a given shape can tell.

    Example:
        >>> import operators as O
        >>> users_operator(O.Lambda(abs)), users_operator(O.Blur(sigma=1.0))
        (True, False)
    """
    import operators as O

    if isinstance(op, O.Composition):  # one with a part of one's own is one's own (its
        # shape then given: a colour-to-gray callable before a blur had been refused)
        return any(users_operator(O.as_operator(part)) for part in (op.outer, op.inner))
    return isinstance(op, O.Lambda) or not type(op).__module__.startswith("operators")


def far_gain(op, y, shape=None) -> float | None:
    """The gain of an operator of one's own where it is more than ``GAIN_ROOM`` times from 1,
    else None: the RMS of its measurements of a random image of ``shape`` (``(C, H, W)``;
    else ``op.input_shape_for``) with values on [0, 1], over the image's RMS, taken where
    they are not zero (a mask's holes, a sampling's unmeasured frequencies). The priors
    read noise and weigh the data on the images' scale: ``solve(c * y, c * A)`` had given a
    flat image at c = 0.001 (4.8 dB for 33.4 at c = 1), and at c = 1000 with noise 18.6 dB
    for 30.4; torch's FFT without ``norm="ortho"`` (gain 64 at 64x64) lost 4.8 dB. An
    operator that fails here, or returns no real tensor, is left to ``check_forward``.

    Example:
        >>> import operators as O
        >>> far_gain(O.Lambda(lambda x: 64 * x), torch.rand(1, 1, 8, 8)), far_gain(O.Lambda(lambda x: 2 * x), torch.rand(1, 1, 8, 8))
        (64.0, None)
    """
    if not (users_operator(op) and isinstance(y, torch.Tensor)):
        return None
    try:
        shape = tuple(shape) if shape is not None else tuple(op.input_shape_for(tuple(y.shape)))
        if len(shape) != 3:
            return None
        probe = torch.rand((1, *shape), generator=torch.Generator().manual_seed(0)).to(y.device)
        with torch.no_grad():
            out = op(probe)
        if not (isinstance(out, torch.Tensor) and out.is_floating_point()):
            return None
        out = out.detach().double().abs()
        seen = out[out > 1e-6 * out.max()]
        gain = float(seen.pow(2).mean().sqrt() / probe.double().pow(2).mean().sqrt())
    except Exception:  # (check_forward says why, in one sentence)
        return None
    return gain if math.isfinite(gain) and gain > 0 and not (
        1 / GAIN_ROOM <= gain <= GAIN_ROOM) else None


def check_scale(y, op) -> None:
    """``ValueError`` in one sentence when ``op`` measures images (``IMAGE_MEASUREMENTS``)
    and ``y`` holds values above ``io.FLOAT_TOP`` (an image on the 0-255 scale, which would
    be restored as a white one), or many outside [0, 1] beyond its noise (``io.off_scale``:
    [-1, 1], [0, 1.5]; the CLI refused them, the API restored them dark or clipped). (An
    operator of one's own: ``check_forward``.)

    Example:
        >>> import operators as O
        >>> check_scale(torch.full((1, 1, 4, 4), 0.5), O.Denoising())  # fine
    """
    from .io import FLOAT_TOP
    import operators as O

    if isinstance(op, O.Stack) and isinstance(y, tuple):  # each measurement as its operator's
        for part_op, part in zip(op.ops, y):
            check_scale(part, part_op)
        return
    if getattr(op, "name", None) in IMAGE_MEASUREMENTS and isinstance(y, torch.Tensor):
        top = float(y.detach().max())
        if top > FLOAT_TOP:
            raise ValueError(_too_bright(top, float(y.detach().min())))
        if y.ndim == 4 and y.is_floating_point():  # [-1, 1] or [0, 1.5]: as the CLI refuses
            _refuse_off_scale(y)


class MaskWayWarning(UserWarning):
    """An inpainting mask observes a minority of the image, in a way that reads as the holes
    marked with 1 (``check_mask_way``)."""


def check_mask_way(y, op) -> None:
    """``ValueError`` in one sentence where an inpainting mask marks the holes with 1 (as
    OpenCV, LaMa and scikit-image's ``inpaint_biharmonic`` read a mask) and ``y`` holds
    zeros in them: ``y`` is exactly 0 on every pixel the mask calls observed and not on
    most others (``Inpainting.zero_where_observed``), so only zeros would be restored from
    (a scribble mask: 4.29 dB, 31.54 the right way round). Where ``y`` is whole (LaMa's
    way: the photo, and the object to remove marked 1), ``MaskWayWarning`` where the mask
    observes under half the image and leaves a hole a quarter of it deep that its inverse
    would not (the command line's rule for flipping a drawn mask, ``cli._white_marks``: an
    object of 14x16 pixels in a 64x64 photo restored from itself, 9.70 dB for 32.47).

    Example:
        >>> import operators as O
        >>> hole = O.box_mask((16, 16), (4, 4, 8, 8))
        >>> check_mask_way(torch.rand(1, 1, 16, 16) * hole + 0.1 * hole, O.Inpainting(hole))  # fine
    """
    import operators as O
    from operators.mask import mostly_nonzero

    if isinstance(op, O.Stack) and isinstance(y, tuple):
        for part_op, part in zip(op.ops, y):
            check_mask_way(part, part_op)
        return
    if not (isinstance(op, O.Inpainting) and isinstance(y, torch.Tensor) and y.ndim == 4):
        return
    if op.zero_where_observed(y):
        raise ValueError("y is 0 on every pixel the mask marks observed (1) and not on most "
                         "of the others: the mask seems to mark the holes with 1, as OpenCV, "
                         "LaMa and scikit-image read a mask; here 1 = observed, so give "
                         "Inpainting(1 - mask).")
    share = float((op.mask >= 0.5).float().mean())
    parts = op.split(y)
    # (y whole, LaMa's way: a y zeroed in the holes is the mask read right, outpainting)
    whole = parts is not None and mostly_nonzero(parts[1])
    if op.mask.shape[0] == 1 and op.is_binary() and 0 < share < 0.5 and whole:
        deep = op.hole_radius()
        if deep >= min(op.mask.shape[-2:]) / 4 and O.Inpainting(1 - op.mask).hole_radius() < deep:
            warnings.warn(f"the mask marks {100 * share:.0f} % of the image observed and leaves "
                          f"a hole {deep:.0f} pixels deep to fill from it; if its 1s mark what to "
                          f"remove (as OpenCV, LaMa and scikit-image read a mask), give "
                          f"Inpainting(1 - mask): here 1 = observed.", MaskWayWarning,
                          stacklevel=4)  # (the caller of solve, past its context decorator)


def _refuse_off_scale(y: torch.Tensor) -> None:
    """``ValueError`` where an image of ``y`` (B, C, H, W) is on another scale than [0, 1]
    (``io.off_scale``)."""
    from .io import off_scale

    for image in y.detach().float().cpu():
        reason = off_scale(image.permute(1, 2, 0).numpy(), "y's values")
        if reason:
            raise ValueError(reason)


def _too_bright(top: float, low: float = 0.0) -> str:
    if low < -0.5:  # (Hounsfield units, say: "divide 0-255 values by 255" did not fit)
        return (f"y runs from {low:g} to {top:g}, but images are on the [0, 1] scale: "
                f"(y - lo) / (hi - lo) maps it there (keep lo and hi to map the result back).")
    return (f"y reaches {top:g}, but images are on the [0, 1] scale (divide 0-255 values by "
            f"255, or read files with invprior.io.read_image).")


def check_not_training(op) -> None:
    """``ValueError`` when ``op`` (a torch module, or one holding them) has, in training
    mode, as every new ``nn.Module`` is, Dropout layers that drop (``p > 0``: they act
    differently at each call) or BatchNorm layers that keep running statistics (they learn
    from each image they are given: the checks' calls had changed the caller's, and the
    solve then blamed y's scale). Said before any call.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.BatchNorm2d(1))
        >>> check_not_training(net.eval())
        >>> check_not_training(net.train())
        Traceback (most recent call last):
        ...
        ValueError: the operator holds a BatchNorm2d layer in training mode, which learns from each image it is given; call .eval() on it first.
    """
    modules = list(op.modules()) if isinstance(op, torch.nn.Module) else []
    norm, drop = torch.nn.modules.batchnorm._BatchNorm, torch.nn.modules.dropout._DropoutNd
    learning = sorted({type(m).__name__ for m in modules if m.training and isinstance(m, norm)
                       and m.track_running_stats})
    dropping = sorted({type(m).__name__ for m in modules if m.training and isinstance(m, drop)
                       and m.p > 0})
    layers = learning + dropping
    if layers:
        names = f"{'a ' if len(layers) == 1 else ''}{listed(layers)} layer{'s' * (len(layers) > 1)}"
        does = [what for what, kinds in (("learns from each image it is given", learning),
                                         ("drops values at random", dropping)) if kinds]
        raise ValueError(f"the operator holds {names} in training mode, which "
                         f"{' and '.join(does)}; call .eval() on it first.")


def check_forward(op, y, shape=None) -> None:
    """Say in one sentence (``ValueError``) why ``op`` cannot serve ``y``: for a built-in
    operator, ``y`` without its batch axis, a mask that does not fit, a wrong number of
    measurements; for an operator of one's own (run once on a mid-gray image of the size it
    takes: ``shape`` ``(C, H, W)``, else ``op.input_shape_for``), that it fails, returns no
    tensor, complex or integer values, NaN, a batch of another size (probed with two items
    when ``y`` has several), measurements not shaped like ``y``'s or on another scale (0-255
    ``y``), or carries no gradient (``.detach()``, NumPy, ``torch.round``: every prior fits
    ``y`` through it; a ``LinearOperator`` with its own ``adjoint`` needs none for
    plug-and-play). It also tells an operator of one's own its input shape.

    Example:
        >>> import operators as O
        >>> check_forward(O.Lambda(lambda x: x[..., ::2]), torch.rand(1, 1, 8, 8))
        Traceback (most recent call last):
        ...
        ValueError: the operator maps a (1, 8, 8) image to measurements of shape (1, 8, 4), but y's are (1, 8, 8); pass shape=(C, H, W), the size of image it takes.
    """
    import operators as O

    if type(op) is O.Stack:
        _check_stacked(op, y, shape)
        return
    check_not_training(op)
    if not isinstance(y, torch.Tensor):
        return  # a tuple for an operator of one's own: its parts are checked as they are measured
    user = users_operator(op)
    if not user:
        _check_built_in(op, y, shape)
        return
    if shape is None:
        shape = tuple(op.input_shape_for(tuple(y.shape)))
        if len(shape) != 3:
            raise ValueError(_axes_hint(y, user=True))
    else:
        shape = _given_shape(shape)
        made = getattr(op, "input_shape", None) if getattr(op, "_fixed_input_shape", False) else None
        if made is not None and tuple(made) != shape:  # (torch's size mismatch, deep inside)
            raise ValueError(f"the operator was made for images of {tuple(made)} (input_shape) "
                             f"but shape={shape} is given; give one size.")
    problem = _inherited_closed_forms(op, shape, y.device)
    if problem:
        raise ValueError(problem)
    n = min(y.shape[0], 2)  # an operator that serves only the first image is found here
    x = torch.full((n, *shape), 0.5, device=y.device)  # (not expanded: in-place use is fine)
    try:
        with torch.no_grad():
            out = op(x)
    except Exception as err:  # an operator of one's own may raise anything
        first = error_text(err)
        # y of float64 is restored in float32: an operator holding float64 tensors fails
        hint = ("; images reach it as float32 (hold its tensors in float32, or cast to the "
                "input's dtype)" if any(word in first.lower() for word in
                                        ("dtype", "double", "half", "bfloat16")) else "")
        # (one written for (H, W) images had been told only "expected (H, W)")
        raise ValueError(f"the operator fails on a {shape} image, given as a batch "
                         f"{tuple(x.shape)} (B, C, H, W) ({first}){hint}.") from None
    _check_output(out, shape, y, n)
    _check_same_each_call(op, x, out)
    _check_reach(op, shape, y, out)
    own_adjoint = isinstance(op, O.LinearOperator) and type(op).adjoint is not O.LinearOperator.adjoint
    problem = (_adjoint_problem(op, (n, *shape), y.device) if own_adjoint
               else _gradient_problem(op, shape, y.device))
    if problem:
        raise ValueError(problem)


def estimate_of(op, y, shape=None) -> torch.Tensor | None:
    """``op.initial_estimate(y)``, checked where the operator is one's own
    (``users_operator``): a batch ``(B, C, H, W)`` of ``shape`` (or the size the operator
    took, where known) on the [0, 1] scale (up to ``io.FLOAT_TOP``: a pseudo-inverse's
    overshoot is allowed), else ``ValueError`` in one sentence (one that
    returned y, a quarter of the image's size, had failed deep in plug-and-play with
    torch's size mismatch; one on the 0-255 scale restored 15.0 dB for 31.3).

    Example:
        >>> import operators as O
        >>> class Half(O.LinearOperator):
        ...     def forward(self, x):
        ...         return x[..., ::2, ::2]
        ...     def initial_estimate(self, y):
        ...         return y
        >>> estimate_of(Half(), torch.rand(1, 1, 4, 4), shape=(1, 8, 8))
        Traceback (most recent call last):
        ...
        ValueError: the operator's initial_estimate returns (1, 1, 4, 4) for y of (1, 1, 4, 4); it must return images of (1, 1, 8, 8).
    """
    first = op.initial_estimate(y)
    if first is None or not users_operator(op):
        return first
    ref = y[0] if isinstance(y, tuple) else y
    known = shape or getattr(op, "input_shape", None)
    want = (ref.shape[0], *known) if known is not None else None
    if not isinstance(first, torch.Tensor) or first.ndim != 4 or (
            want is not None and tuple(first.shape) != tuple(want)):
        got = tuple(first.shape) if isinstance(first, torch.Tensor) else type(first).__name__
        raise ValueError(f"the operator's initial_estimate returns {got} for y of "
                         f"{tuple(ref.shape)}; it must return images of "
                         f"{tuple(want) if want is not None else '(B, C, H, W)'}.")
    from .io import FLOAT_TOP

    # (an unclipped pseudo-inverse overshoots [0, 1]: taken as it was; 0-255 is refused)
    top = float(first.detach().abs().max()) if first.numel() else 0.0
    if not math.isfinite(top) or top > FLOAT_TOP:
        raise ValueError(f"the operator's initial_estimate returns values up to {top:g}; it "
                         f"must return images on the [0, 1] scale.")
    return first


# a built-in operator's closed forms, each derived from its own forward
CLOSED_FORMS = ("pinv", "normal", "projection", "initial_estimate", "widen")


def _inherited_closed_forms(op, shape: tuple, device="cpu") -> str | None:
    """Why a subclass of a built-in operator that replaces its ``forward`` or ``adjoint``
    with another map cannot keep the closed forms it inherits (``CLOSED_FORMS``:
    Inpainting's pinv divides by the mask, whatever the new forward does: a blur-then-mask
    subclass restored 18.36 dB where the same map as a ``LinearOperator`` gives 32.49,
    without a word), or None; one whose methods give what the built-in's do on an image of
    ``shape`` (``(C, H, W)``: a wrapper that logs its calls) keeps them.

    Example:
        >>> import operators as O
        >>> class Gained(O.Inpainting):
        ...     def forward(self, x):
        ...         return 2 * super().forward(x)
        >>> print(_inherited_closed_forms(Gained(shape=(1, 8, 8)), (1, 8, 8)))  # doctest: +ELLIPSIS
        Gained replaces the forward of operators.Inpainting but inherits its adjoint, pinv, ...
    """
    import operators as O

    mro = type(op).__mro__
    built = next((c for c in mro if c.__module__.startswith("operators")), None)
    if built is None or built in (O.Operator, O.LinearOperator, O.Lambda, O.LinearLambda):
        return None
    own = mro[:mro.index(built)]
    replaced = [name for name in ("forward", "adjoint") if any(name in vars(c) for c in own)]
    kept = [name for name in ("adjoint", *CLOSED_FORMS) if not any(name in vars(c) for c in own)
            and getattr(type(op), name, None) is not getattr(O.LinearOperator, name, None)
            and getattr(type(op), name, None) is not getattr(O.Operator, name, None)]
    if not replaced or not kept or _acts_as(op, built, replaced, shape, device):
        return None
    return (f"{type(op).__name__} replaces the {' and '.join(replaced)} of operators."
            f"{built.__name__} but inherits its {listed(kept)}, written for its own "
            f"forward; subclass operators.LinearOperator instead (its pinv is a conjugate-"
            f"gradient solve through your forward), or override those too.")


def _acts_as(op, built: type, methods: list, shape: tuple, device) -> bool:
    """Whether ``op``'s ``methods`` (forward, adjoint) give what ``built``'s do on a random
    image of ``shape`` and on its measurements."""
    u = torch.rand((1, *shape), generator=torch.Generator().manual_seed(0)).to(device)
    try:
        with torch.no_grad():
            ours = theirs = built.forward(op, u)
            if "forward" in methods:
                ours = op(u)
                if not _same_values(ours, theirs):
                    return False
            return "adjoint" not in methods or _same_values(op.adjoint(theirs),
                                                            built.adjoint(op, theirs))
    except Exception:  # an operator of one's own may raise anything: not the built-in's map
        return False


def _same_values(a, b) -> bool:
    return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
            and torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-6))


def acts_linearly(op, y, shape=None) -> bool:
    """Whether a plain callable (``operators.Lambda``) is linear: run on two random signed
    images ``a``, ``b`` of the size it takes and on their sum, ``op(a + b)`` is ``op(a) +
    op(b)`` to float32's precision (signed: ``abs`` or a clamp, additive on [0, 1] images,
    are found out; an offset is not additive), and on a random image ``r`` in [0, 1/2] and
    ``2 r``, ``op(2 r)`` is ``2 op(r)`` (a saturation after a blur, which small signed
    images never reach, is found out on the images' scale), its output real floating point
    (``Lambda`` gives it in the input's precision). ``solve`` then gives it its adjoint by autograd
    (``operators.LinearLambda``), and plug-and-play solves its data step exactly instead of
    linearising it at every iteration: a CT projection matrix as a callable (48x48 phantom,
    36 angles) measured 25.56 dB in 19.5 s linearised, 37.65 in 4.3 s as linear. One that
    cannot serve ``y`` counts as not (``check_forward`` says why).

    Example:
        >>> import operators as O
        >>> y = torch.rand(1, 1, 8, 8)
        >>> acts_linearly(O.Lambda(lambda v: v.flip(-1)), y), acts_linearly(O.Lambda(abs), y)
        (True, False)
    """
    import operators as O

    if type(op) is not O.Lambda or not isinstance(y, torch.Tensor):
        return False
    g = torch.Generator().manual_seed(0)  # (its own stream: the caller's is not drawn from)
    try:
        shape = _given_shape(shape) if shape is not None else tuple(op.input_shape_for(tuple(y.shape)))
        a, b, r = (torch.rand((1, *shape), generator=g).to(y.device) - 0.5 for _ in range(3))
        r = r + 0.5  # (an image on the [0, 1] scale, and r / 2 half of it)
        with torch.no_grad():
            outs = [op(v) for v in (a, b, a + b, r / 2, r)]
        if not all(isinstance(f, torch.Tensor) and f.dtype == a.dtype for f in outs):
            return False
        fa, fb, fab, half, whole = (f.double() for f in outs)
        pairs = ((fab, fa + fb, fa.norm() + fb.norm()), (whole, 2 * half, whole.norm()))
        gaps = [(float((u - v).norm()), float(scale)) for u, v, scale in pairs]
    except Exception:  # an operator of one's own may raise anything
        return False
    return all(math.isfinite(gap) and scale > 0 and gap <= 1e-4 * scale for gap, scale in gaps)


def treats_items_apart(op, y, shape=None) -> bool:
    """Whether ``op`` measures the items of ``y``'s batch each its own way (an inpainting
    mask per item; an operator of one's own that gives batch row ``b`` item ``b``'s blur),
    so that an item restored alone must see its own operator (``operators.item_of``): run
    on copies of one random image, its rows differ. An operator that cannot serve ``y``
    counts as not (``check_forward``, which every restoration runs next, says why).

    Example:
        >>> import operators as O
        >>> gains = torch.tensor([1.0, 2.0]).view(2, 1, 1, 1)
        >>> y = torch.rand(2, 1, 8, 8)
        >>> treats_items_apart(O.Lambda(lambda x: gains * x), y), treats_items_apart(O.Blur(sigma=1.0), y)
        (True, False)
    """
    import operators as O

    if type(op) is O.Stack and isinstance(y, tuple) and len(y) == len(op.ops):
        return any(treats_items_apart(part_op, part, shape) for part_op, part in zip(op.ops, y))
    if not isinstance(y, torch.Tensor) or len(y) < 2:
        return False
    if type(op) is O.Inpainting:
        op.mask_for(y)  # a mask per item, as many as y's items
        return len(op.mask) > 1
    if not (users_operator(op) or isinstance(op, O.Composition)):  # (a mask per item inside)
        return False
    try:  # (an operator of one's own may raise anything)
        shape = _given_shape(shape) if shape is not None else tuple(op.input_shape_for(tuple(y.shape)))
        image = torch.rand(shape, generator=torch.Generator().manual_seed(0)).to(y.device)
        with torch.no_grad():
            out = op(image.expand(len(y), *shape).contiguous())
        return not all(torch.allclose(out[0], row, rtol=1e-5, atol=1e-6) for row in out[1:])
    except Exception:
        return False


def _check_built_in(op, y: torch.Tensor, shape) -> None:
    import operators as O

    if getattr(op, "name", None) in IMAGE_MEASUREMENTS and y.ndim != 4:
        raise ValueError(_axes_hint(y, user=False))
    if (getattr(op, "name", None) in IMAGE_MEASUREMENTS and y.shape[-1] in (1, 3, 4)
            and min(y.shape[1:3]) > 4):  # torch.from_numpy(photo)[None]: "image 32x3 too small"
        raise ValueError(f"y {tuple(y.shape)} holds its channels last; images are (B, C, H, W): "
                         f"y.permute(0, 3, 1, 2) puts them there.")
    if type(op) is O.Inpainting:  # only the mask's fit: a probe would cost 0.16 s at 12 MP
        if not bool(op.mask_for(y).any()):  # (restored as a plug-and-play's invention)
            raise ValueError("the mask hides every pixel: y says nothing of the image.")
    if kernel_outgrows(op, y):
        # (y, not "the image": a simulation's y is its image cut by the kernel's reach,
        # and "the image (4x4)" of a 64x64 one had puzzled)
        (kh, kw), (h, w) = op.kernel.shape, y.shape[-2:]
        raise ValueError(f"y ({w}x{h}, width x height) is smaller than the {kw}x{kh} blur "
                         f"kernel; most of what it blurred lies outside its frame (a "
                         f"valid-border y is its image less the kernel's reach on each side).")
    if isinstance(op, O.CompressedSensing):
        if tuple(y.shape[1:]) != (op.m,):
            raise ValueError(f"this compressed-sensing operator takes {op.m} measurements per "
                             f"image, y of shape (B, {op.m}); y's shape is {tuple(y.shape)}.")
        # twice what an image in [0, 1] can give (||A|| <= 1 + sqrt(n/m)), plus noise of std
        # 1: measurements of a 0-255 image were restored as a white one without a word
        most = 2 * (1 + math.sqrt(op.n / op.m)) * math.sqrt(op.n) + 3 * math.sqrt(op.m)
        norm = float(y.detach().norm(dim=1).max())
        if norm > most:
            raise ValueError(f"y's measurements reach a norm of {norm:.4g}, beyond what this "
                             f"operator gives for an image on the [0, 1] scale (at most "
                             f"{most / 2:.4g}): measurements of a 0-255 image? Divide them by 255.")
    if shape is not None:
        shape = _given_shape(shape)
        takes = tuple(op.input_shape_for(tuple(y.shape)))
        if takes != shape:  # a built-in operator knows the size it takes
            raise ValueError(f"shape is {shape}, but {type(op).__name__} gives y's "
                             f"{tuple(y.shape[1:])} from images of {takes}.")


def kernel_outgrows(op, y) -> bool:
    """Whether ``op`` is a valid-border blur whose kernel is larger than ``y`` ``(B, C, H,
    W)``: the image estimated reaches the kernel's half-width beyond y, and most of it goes
    unseen (a 64x64 photo, sigma 40: a near-black result, exit 0, where the circular border
    refused it).

    Example:
        >>> import operators as O
        >>> kernel_outgrows(O.Blur(sigma=3.0, border="valid"), torch.rand(1, 1, 8, 8))
        True
    """
    import operators as O

    if not (isinstance(op, O.Blur) and op.border == "valid" and getattr(y, "ndim", 0) == 4):
        return False
    (kh, kw), (h, w) = op.kernel.shape, y.shape[-2:]
    return kh > h or kw > w


def _check_stacked(op, y, shape=None) -> None:
    """``ValueError`` unless ``y`` is a tuple of one measurement per operator of the stack
    ``op``, each shaped as its operator measures the image of ``stack_image_shape`` (one
    tensor was restored as if every operator had measured it: the blurred image returned
    for its truth)."""
    k = len(op.ops)
    if not isinstance(y, tuple) or len(y) != k:
        given = f"a tuple of {len(y)}" if isinstance(y, tuple) else "one tensor"
        raise ValueError(f"a stack of {k} operators takes y as a tuple of {k} measurements, "
                         f"one per operator (what the stack returns), got {given}.")
    for i, (part_op, part) in enumerate(zip(op.ops, y)):  # (a part without its batch axis, first)
        try:
            _check_built_in(part_op, part, None)
        except ValueError as err:
            raise ValueError(f"y[{i}], for the stack's {type(part_op).__name__}: {err}") from None
    image = torch.zeros(1, *stack_image_shape(op, y, shape), device=y[0].device)
    try:
        with torch.no_grad():
            measured = op(image)
    except Exception as err:  # (an operator of its parts' own may raise anything)
        raise ValueError(f"the stack fails on an image of {tuple(image.shape[1:])}, the size "
                         f"its measurements y are of ({error_text(err)}); pass shape=(C, H, W) "
                         f"if that is not the size.") from None
    for i, (part, made) in enumerate(zip(y, measured)):
        if part.shape[0] != y[0].shape[0] or part.shape[1:] != made.shape[1:]:
            raise ValueError(f"y[{i}] has shape {tuple(part.shape)}, but the stack measures an "
                             f"image of {tuple(image.shape[1:])} there as "
                             f"{(y[0].shape[0], *made.shape[1:])}.")


def stack_image_shape(op, y: tuple, shape=None) -> tuple:
    """The image shape ``(C, H, W)`` that a stack's measurements ``y`` are of: ``shape``
    where given, else what the first part that knows tells from its measurement (a built-in
    operator, or one of one's own built with its ``input_shape``), else the first part's guess (an
    operator of one's own takes the size of its y: a first part measuring every other row
    had set the image at half its height).

    Example:
        >>> import operators as O
        >>> half = O.as_operator(lambda x: x[..., ::2, :], linear=True)
        >>> stack_image_shape(O.Stack(half, O.Denoising()), (torch.rand(1, 1, 4, 8), torch.rand(1, 1, 8, 8)))
        (1, 8, 8)
    """
    if shape is not None:
        return _given_shape(shape)
    for part_op, part in zip(op.ops, y):
        if not users_operator(part_op) or getattr(part_op, "_fixed_input_shape", False):
            return tuple(part_op.input_shape_for(tuple(part.shape)))
    return tuple(op.ops[0].input_shape_for(tuple(y[0].shape)))


def _given_shape(shape) -> tuple:
    """``shape`` as three positive ints ``(C, H, W)`` (NumPy's too), else ``ValueError``."""
    numbers = tuple(as_whole(n) for n in shape) if hasattr(shape, "__iter__") else ()
    if len(numbers) != 3 or not all(n is not None and n > 0 for n in numbers):
        raise ValueError(f"shape must be three positive integers (C, H, W), got {shape!r}.")
    return numbers


def _axes_hint(y: torch.Tensor, user: bool) -> str:
    """Why ``y`` of other than four axes does not serve (an image operator, or an operator
    of one's own whose image size nothing gave)."""
    dims = tuple(y.shape)
    if y.ndim == 3:
        return (f"y has 3 axes {dims}; images go in as (B, C, H, W): y[None] adds the batch "
                f"axis to one (C, H, W) image, y[None, None] both axes to an (H, W) one.")
    if y.ndim == 2 and user:
        return (f"y has shape {dims}: measurement vectors (B, m) need the size of image the "
                f"operator takes, shape=(C, H, W) (an (H, W) image goes in as y[None, None]).")
    if y.ndim == 2:
        return f"y has shape {dims}; images go in as (B, C, H, W): y[None, None] for one (H, W) image."
    if user:
        return (f"y has shape {dims}; pass shape=(C, H, W), the size of image the operator "
                f"takes.")
    return f"y has {y.ndim} axes {dims}; images go in as (B, C, H, W)."


def _check_output(out, shape: tuple, y: torch.Tensor, n: int) -> None:
    """The operator's output on ``n`` mid-gray images of ``shape``, against ``y``."""
    from .io import FLOAT_TOP

    if isinstance(out, tuple):
        raise ValueError(f"the operator returns a tuple of {len(out)}, but y is one tensor; "
                         f"return one tensor (stacked measurements go in as operators.Stack "
                         f"with a tuple y).")
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"the operator must return a torch.Tensor, got {type(out).__name__}.")
    if out.is_complex():
        raise ValueError("the operator returns complex values; measurements are real: return "
                         "torch.view_as_real(z) (and pass y the same way).")
    if not out.is_floating_point():
        raise ValueError(f"the operator returns {out.dtype} values; it must return floating-point "
                         f"ones (an integer result carries no gradient).")
    if out.ndim < 2:
        raise ValueError(f"the operator returned shape {tuple(out.shape)}; it must keep the "
                         f"batch axis: (B, ...) measurements for (B, C, H, W) images.")
    if out.shape[0] != n:
        raise ValueError(f"the operator returned a batch of {out.shape[0]} for "
                         f"{'one image' if n == 1 else f'{n} images'}; it must keep the batch "
                         f"axis (each image measured alike).")
    if tuple(out.shape[1:]) == tuple(y.shape):  # one measurement given without its batch axis
        raise ValueError(f"y {tuple(y.shape)} is one measurement without its batch axis (the "
                         f"operator's are (B, {', '.join(map(str, out.shape[1:]))})); y[None] "
                         f"adds it.")
    if tuple(out.shape[1:]) != tuple(y.shape[1:]):
        raise ValueError(f"the operator maps a {shape} image to measurements of shape "
                         f"{tuple(out.shape[1:])}, but y's are {tuple(y.shape[1:])}; pass "
                         f"shape=(C, H, W), the size of image it takes.")
    if not torch.isfinite(out).all():
        raise ValueError(f"the operator returns NaN or infinite values for a mid-gray {shape} "
                         f"image.")
    # an image-to-image operator whose y is some 100 times what it gives for mid-gray: y
    # on the 0-255 scale, restored as a white image
    top = float(y.detach().abs().max())
    if tuple(out.shape[1:]) == shape and top > FLOAT_TOP and top > 20 * float(out.abs().max()):
        raise ValueError(_too_bright(float(y.detach().max()), float(y.detach().min())))


def _check_same_each_call(op, x: torch.Tensor, out: torch.Tensor) -> None:
    """``ValueError`` when ``op`` measures ``x`` again differently: a mask or noise drawn
    inside it, dropout left on. Every prior fits ``y`` through it, step after step, so each
    step fitted other measurements (a new random mask at each call had restored without a
    word). The tolerance leaves a GPU's non-deterministic sums alone."""
    with torch.no_grad():
        again = op(x)
    # (relative to the measurements' size: a GPU's sums in another order differ by 7.6e-5
    # in 1000 measurements of a signed sensing matrix)
    scale = float(out.abs().max()) if out.numel() else 0.0
    if not torch.allclose(again.float(), out.float(), rtol=1e-3, atol=1e-4 * max(scale, 1e-6)):
        raise ValueError("the operator gives other measurements at each call on the same "
                         "image (a random mask or noise drawn inside it, or dropout left on); "
                         "draw a mask once outside it, leave the noise to solve's noise model, "
                         "or call .eval() on a network.")


def _check_reach(op, shape: tuple, y: torch.Tensor, mid: torch.Tensor) -> None:
    """``ValueError`` where the median of ``y`` lies far beyond what ``op`` gives for a
    black, a mid-gray (``mid``) or a white image of ``shape``: y on another scale than the images'
    [0, 1] (an offset of 10, a gain of 15, photon counts), which the priors fit with
    saturated images (a constant white one) without a word. The median: a few hot pixels
    are data."""
    def tried(image):
        try:
            with torch.no_grad():
                return op(image)
        except Exception:  # an operator of one's own that serves only its y: not this probe
            return None

    # black too: exp(-5 x) (X-ray transmission) is largest there
    ends = [tried(torch.full((1, *shape), level, device=y.device)) for level in (0.0, 1.0)]
    reach = max(float(out.abs().max()) for out in (mid, *ends) if out is not None)
    values = y.detach().flatten()
    level = float(values[:: max(1, values.numel() // 1_000_000)].median().abs())
    if math.isfinite(reach) and level > 4 * reach + 0.1:
        raise ValueError(f"y's values (median {level:.4g}) lie far beyond what the operator "
                         f"gives for images on the [0, 1] scale (at most {reach:.4g} for a "
                         f"black, mid-gray or white one); scale y to the images' scale first "
                         f"(an offset subtracted, a gain divided).")
    random = torch.rand((1, *shape), generator=torch.Generator().manual_seed(0)).to(y.device)
    _check_image_scale(y, [mid, *ends, tried(random)])


def _check_image_scale(y: torch.Tensor, outs: list) -> None:
    """``ValueError`` where an operator that keeps images in [0, 1] (its outputs for black,
    mid-gray, white and a random image, ``outs``, None where one failed: a mask, a blur,
    the identity) has a ``y`` image on another scale ([-1, 1] data had been restored
    clipped, 7.7 dB against y's 40, without a word: ``io.off_scale``, as the built-in
    operators' check)."""
    inside = all(out is not None and bool(((out >= -0.05) & (out <= 1.05)).all())
                 for out in outs)
    if not (inside and y.ndim == 4 and y.shape[1] in (1, 3)
            and y.is_floating_point() and tuple(outs[0].shape[1:]) == tuple(y.shape[1:])):
        return
    _refuse_off_scale(y)


def _adjoint_problem(op, batch: tuple, device) -> str | None:
    """Why the adjoint written for ``op`` is not its adjoint, or None: the dot test, ``<A u,
    w>`` against ``<u, A^T w>`` for a random batch ``u`` (shaped ``batch``, as the probe of
    ``check_forward``: an operator may hold one mask per item) and ``w`` = ``A u`` plus as
    much random (so that neither is near zero), to 1e-3. Plug-and-play's conjugate gradient trusts it: an
    MRI operator whose adjoint took a conjugate too many restored 11.2 dB instead of 37.3,
    one off by a factor of 64 (an FFT's norm) 33.8, without a word."""
    g = torch.Generator().manual_seed(0)
    u = torch.randn(batch, generator=g).to(device)
    try:
        with torch.no_grad():
            au = op(u)
    except Exception:  # (signed values it does not take: not the adjoint's problem)
        return None
    w = au + au.norm() / math.sqrt(au.numel()) * torch.randn(au.shape, generator=g).to(au)
    try:
        with torch.no_grad():
            back = op.adjoint(w)
    except Exception as err:  # an operator of one's own may raise anything
        return (f"the operator's adjoint fails on measurements of {tuple(au.shape[1:])} "
                f"({error_text(err)}).")
    if not isinstance(back, torch.Tensor) or tuple(back.shape) != tuple(u.shape):
        got = tuple(back.shape) if isinstance(back, torch.Tensor) else type(back).__name__
        return (f"the operator's adjoint returns {got} for measurements of "
                f"{tuple(au.shape)}; it must return images of {tuple(u.shape)}.")
    there = float((au.double() * w.double()).sum())
    back_there = float((u.double() * back.double()).sum())
    if abs(there - back_there) <= 1e-3 * abs(there):
        return None
    return (f"the operator's adjoint does not match it: <A u, w> = {there:.6g} but <u, A^T w> = "
            f"{back_there:.6g} for random u, w; check its scaling (an FFT's norm) and "
            f"conjugates, or leave adjoint out to have autograd's.")


def _gradient_problem(op, shape: tuple, device) -> str | None:
    """Why the gradient of ``op`` at a random image in [0, 1] (every level met, so that a
    black-level cut such as ``(x - 0.6).clamp(min=0)`` counts), taken against random
    weights (a zero-sum operator, a Laplacian, maps ones to zero), cannot guide a prior:
    none flows back (detached), it fails, or it is zero everywhere; else None."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand((1, *shape), generator=g).to(device).requires_grad_(True)
    try:
        with torch.enable_grad():
            out = op(x.clone())  # (a clone: an operator may change its input in place)
            if not out.requires_grad:
                return ("no gradient flows back through the operator (a .detach(), NumPy or "
                        "an integer step cuts it), and every prior fits y through it; write "
                        "it in torch, or as an operators.LinearOperator with its own adjoint.")
            weights = torch.randn(out.shape, generator=g).to(out)
            (slope,) = torch.autograd.grad(out, x, weights, allow_unused=True)
    except Exception as err:
        return f"torch cannot differentiate the operator ({error_text(err)})."
    if slope is None or not bool(slope.any()):
        # every prior fits y through this gradient: all zero, they return a flat image
        return ("the operator's output does not change with its input (its gradient is "
                "zero everywhere, as torch.round's); write it differentiable, e.g. "
                "x + (torch.round(x) - x).detach().")
    return None


def blur_like(op, device="cpu") -> bool:
    """Whether ``op`` acts as a blur: an ``O.Blur``, or an operator of the user's own that
    keeps the image's size, maps a flat mid-gray image to a flat one, and passes the finest
    checkerboard around that gray at under half the strength of a flat change of the same
    size (both inside [0, 1], so that an operator which clamps its input or takes a root is
    judged on images it is meant for). Such an operator gets a blur's settings
    (``priors.pnp.defaults``), a linear one starts from y (``priors.pnp.start_image``), and
    its y's noise is read where it is bright (``priors.base.visible_noise``): a motion blur
    written with torch.roll, camera 64, noise 0.03, restored at 18.5 dB with the others' settings,
    below y's 24.3 (29.8 as ``O.Blur``); ``sqrt(blur(x))`` written as ``.sqrt()`` (a probe
    of -1 and 1 made it NaN), 48x48 camera, noise 0.02, 24.53 dB, 30.97 with them.

    Example:
        >>> import operators as O
        >>> smear = O.as_operator(lambda v: (v + v.roll(1, -1) + v.roll(-1, -1)) / 3, linear=True)
        >>> _ = smear(torch.rand(1, 1, 8, 8))  # (an operator learns its input's size when called)
        >>> blur_like(smear), blur_like(O.as_operator(lambda v: v[..., ::2, :]))
        (True, False)
    """
    import operators as O

    if isinstance(op, O.Blur):
        return True
    shape = getattr(op, "input_shape", None)
    if not users_operator(op) or shape is None or len(shape) != 3:
        return False
    h, w = shape[-2:]
    # (probed on y's device: an operator holding CUDA tensors failed on a CPU probe and was
    # given the other operators' settings)
    checker = ((torch.arange(h)[:, None] + torch.arange(w)) % 2 * 2 - 1).float().expand(1, *shape)
    checker = checker.to(device)
    try:
        with torch.no_grad():
            gray, up, fine = (op(0.5 + 0.25 * p) for p in
                              (torch.zeros_like(checker), torch.ones_like(checker), checker))
    except Exception:  # an operator of one's own held on another device, say: not a blur then
        return False
    if not all(isinstance(t, torch.Tensor) and t.shape == (1, *shape) for t in (gray, up, fine)):
        return False
    level = gray.median()
    flat = (gray - level).abs().median() <= 0.05 * level.abs()  # (a border may differ)
    return bool(flat and (fine - gray).norm() < 0.5 * (up - gray).norm())
