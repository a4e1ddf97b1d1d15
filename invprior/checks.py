"""Checks and small helpers that every prior and the API share: the device, the observation,
its batch items.

Example:
    >>> y = check_observation(torch.zeros(2, 1, 4, 4))
    >>> batch_size(y), item(y, 1).shape
    (2, torch.Size([1, 1, 4, 4]))
"""

from __future__ import annotations

import numbers
import re

import torch

from .messages import error_text

__all__ = ["resolve_device", "resolve_precision", "cpu_has_amx", "check_observation", "check_scale", "check_level", "item",
           "batch_size", "to_device", "out_of_memory", "check_forward", "prepare",
           "users_operator", "check_finite_weights",
           "check_diverged", "finite_weights"]

# why torch.load(weights_only=True) failed, as every checkpoint reader says it
UNREADABLE_CHECKPOINT = ("it is not a readable PyTorch checkpoint (truncated, corrupt, or "
                         "holding more than tensors and plain values: a saved model object is "
                         "not loaded, for safety)")


def finite_weights(ck) -> bool:
    """Whether a checkpoint's weights are all finite (NaN or infinity: a training run that
    diverged, whose restorations would be black, or NaN, with no other sign). ``ck``'s
    tensors are searched through nested dicts; its loss history is not weights.

    Example:
        >>> finite_weights({"state_dict": {"w": torch.tensor([1.0, float("nan")])}})
        False
    """
    if isinstance(ck, torch.Tensor):
        return not ck.is_floating_point() or bool(torch.isfinite(ck).all())
    if isinstance(ck, dict):
        return all(finite_weights(v) for k, v in ck.items() if k != "losses")
    return True


def check_finite_weights(ck: dict, what: str) -> None:
    """One sentence (ValueError) for a checkpoint read whose weights are not finite."""
    if not finite_weights(ck):
        raise ValueError(f"{what} holds NaN or infinite weights (its training diverged?); "
                         "train it again.")


def check_diverged(ck: dict, out) -> None:
    """One sentence (ValueError) instead of writing a checkpoint whose weights are not
    finite: the training run diverged, and ``out`` keeps what it held."""
    if not finite_weights(ck):
        raise ValueError(f"the training diverged (its weights became NaN or infinite by step "
                         f"{ck.get('step', '?')}); nothing was written to '{out}'. Try a "
                         "smaller --lr.")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a clear error for an unusable device.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device '{device}'; use auto, cpu or cuda.") from None
    if dev.type not in ("cpu", "cuda"):  # mps, xla, meta...: never tested, some cannot run
        raise ValueError(f"device '{device}' is not supported; use auto, cpu or cuda.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu.")
    return dev


def resolve_precision(precision: str, device: torch.device, choices, on_cuda: str) -> str:
    """``auto`` -> ``on_cuda`` on a CUDA device, ``float32`` elsewhere (so that a CPU result
    does not depend on the processor); anything else must be one of ``choices``.

    Example:
        >>> resolve_precision("auto", torch.device("cpu"), ("float32", "bfloat16"), "bfloat16")
        'float32'
    """
    if precision == "auto":
        precision = on_cuda if device.type == "cuda" else "float32"
    if precision not in choices:
        raise ValueError(f"precision must be auto or one of {', '.join(choices)}, got '{precision}'.")
    return precision


def cpu_has_amx() -> bool:
    """Whether this CPU multiplies bfloat16 in AMX tiles (Intel Sapphire Rapids and later);
    elsewhere (AVX2, AVX-512 without AMX) bfloat16 is emulated and slower than float32."""
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private API, so guarded
    return bool(check and check())


# the built-in operators whose measurements are images on the scale of x: [0, 1] and noise
IMAGE_MEASUREMENTS = ("denoise", "blur", "inpaint", "downsample")


def check_scale(y, op) -> None:
    """``ValueError`` in one sentence when ``op`` measures images (``IMAGE_MEASUREMENTS``)
    and ``y`` holds values above ``io.FLOAT_TOP``: an image on the 0-255 scale, which would
    be restored as a white one.

    Example:
        >>> import operators as O
        >>> check_scale(torch.full((1, 1, 4, 4), 0.5), O.Denoising())  # fine
    """
    from .io import FLOAT_TOP

    if getattr(op, "name", None) in IMAGE_MEASUREMENTS and isinstance(y, torch.Tensor):
        top = float(y.max())
        if top > FLOAT_TOP:
            raise ValueError(f"y reaches {top:g}, but images are on the [0, 1] scale (divide "
                             f"0-255 values by 255, or read files with invprior.io.read_image).")


def check_observation(y, name: str = "y"):
    """``y`` if it is a finite floating-point ``(B, ...)`` tensor or a tuple of them (the
    measurements of a stacked operator); else ``ValueError`` in one sentence."""
    for part in y if isinstance(y, tuple) else (y,):
        if not isinstance(part, torch.Tensor) or not part.is_floating_point():
            hint = (" an (H, W[, C]) image array becomes one by invprior.io.from_array(a).image"
                    if not isinstance(part, torch.Tensor) and hasattr(part, "shape") else "")
            raise ValueError(f"{name} must be a floating-point torch.Tensor (or a tuple of "
                             f"them){';' if hint else ''}{hint}.")
        if part.ndim < 2:
            raise ValueError(f"{name} must have a batch axis: (B, C, H, W) images or (B, m) vectors.")
        if part.numel() == 0:
            raise ValueError(f"{name} is empty (shape {tuple(part.shape)}).")
        if not torch.isfinite(part).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
    return y


def prepare(y, op, noise_level=None, truth=None, shape=None) -> tuple:
    """``(y, noise_level, truth)`` checked for a restoration, by ``solve`` and by a prior's
    own ``restore`` alike: ``y`` as ``check_observation``, in float32 (what the networks
    and operators compute in; float64 met float32 weights), ``noise_level`` a number on the
    [0, 1] scale (25 would mean 25/255 written as 25: a white image), ``truth`` a tensor,
    and ``op`` able to serve ``y`` (``check_forward``).

    Example:
        >>> import operators as O
        >>> y, level, _ = prepare(torch.zeros(1, 1, 8, 8, dtype=torch.float64), O.Denoising(), 0.1)
        >>> y.dtype, level
        (torch.float32, 0.1)
    """
    y = check_observation(y)
    noise_level = check_level(noise_level)
    if truth is not None and not isinstance(truth, torch.Tensor):
        raise ValueError(f"truth must be a torch.Tensor like y, got {type(truth).__name__}.")
    import operators as O

    if isinstance(y, tuple) and not (users_operator(op) or isinstance(op, O.Stack)):
        raise ValueError(f"a tuple of measurements is for a stacked operator (operators.Stack); "
                         f"{type(op).__name__} takes one tensor y.")
    y = tuple(p.float() for p in y) if isinstance(y, tuple) else y.float()
    check_forward(op, y, shape)
    return y, noise_level, None if truth is None else truth.float()


def check_level(noise_level) -> float | None:
    """``noise_level`` as a float when it is a number from 0 to 1 (the noise std on the
    images' [0, 1] scale: 25 would mean 25/255 written as 25, a white image), None for None,
    else ``ValueError`` in one sentence.

    Example:
        >>> check_level(0.1), check_level(None)
        (0.1, None)
    """
    if noise_level is None:
        return None
    if isinstance(noise_level, bool) or not isinstance(noise_level, numbers.Real) \
            or not 0 <= noise_level <= 1:
        raise ValueError(f"noise_level is the noise std on the images' [0, 1] scale, a "
                         f"number from 0 to 1, got {noise_level!r}.")
    return float(noise_level)


def users_operator(op) -> bool:
    """True for an operator of the user's own: a callable (``operators.Lambda``) or a class
    outside the ``operators`` package, whose image size only a given shape can tell.

    Example:
        >>> import operators as O
        >>> users_operator(O.Lambda(abs)), users_operator(O.Blur(sigma=1.0))
        (True, False)
    """
    import operators as O

    return isinstance(op, O.Lambda) or not type(op).__module__.startswith("operators")


def check_forward(op, y, shape=None) -> None:
    """Run a user's operator (a callable, an ``operators.Lambda``, a class of one's own)
    once on a mid-gray image of the size it takes (``shape`` ``(C, H, W)``, else
    ``op.input_shape_for``), and say in one sentence (``ValueError``) what is wrong: it
    fails, returns NaN, a batch of another size, measurements not shaped like ``y``'s, or
    has a zero gradient everywhere.
    A prior's step would otherwise fail deep inside, or restore garbage. It also tells an
    operator of one's own its input shape. Of the built-in operators only ``Inpainting`` is
    checked, for the fit of its mask (a user's own array), without running it.

    Example:
        >>> import operators as O
        >>> check_forward(O.Lambda(lambda x: x[..., ::2]), torch.rand(1, 1, 8, 8))
        Traceback (most recent call last):
        ...
        ValueError: the operator maps a (1, 8, 8) image to measurements of shape (1, 8, 4), but y's are (1, 8, 8); pass shape=(C, H, W), the size of image it takes.
    """
    import operators as O

    user = users_operator(op)
    if not isinstance(y, torch.Tensor):
        return
    if type(op) is O.Inpainting:  # only the mask's fit: a probe would cost 0.16 s at 12 MP
        op.mask_for(y)
    if shape is not None:
        shape = tuple(shape)
        if len(shape) != 3 or not all(isinstance(n, int) and n > 0 for n in shape):
            raise ValueError(f"shape must be three positive integers (C, H, W), got {shape}.")
        takes = tuple(op.input_shape_for(tuple(y.shape)))
        if not user and takes != shape:  # a built-in operator knows the size it takes
            raise ValueError(f"shape is {shape}, but {type(op).__name__} gives y's "
                             f"{tuple(y.shape[1:])} from images of {takes}.")
    else:
        shape = tuple(op.input_shape_for(tuple(y.shape)))
        if len(shape) != 3:
            return  # vectors measured from an image of unknown size: the prior will ask
    if not user:
        return
    x = torch.full((1, 1, 1, 1), 0.5, device=y.device).expand(1, *shape)
    try:
        with torch.no_grad():
            out = op(x)
    except Exception as err:  # an operator of one's own may raise anything
        first = error_text(err)
        # y of float64 is restored in float32: an operator holding float64 tensors fails
        hint = ("; images reach it as float32 (hold its tensors in float32, or cast to the "
                "input's dtype)" if "dtype" in first.lower() or "double" in first.lower() else "")
        raise ValueError(f"the operator fails on a {shape} image ({first}){hint}.") from None
    parts = out if isinstance(out, tuple) else (out,)
    if any(not isinstance(p, torch.Tensor) for p in parts):
        raise ValueError(f"the operator must return a torch.Tensor, got {type(out).__name__}.")
    if isinstance(out, tuple):
        return  # a stacked operator's measurements: their shapes are the prior's to check
    if out.ndim < 2:
        raise ValueError(f"the operator returned shape {tuple(out.shape)}; it must keep the "
                         f"batch axis: (B, ...) measurements for (B, C, H, W) images.")
    if out.shape[0] != 1:
        raise ValueError(f"the operator returned a batch of {out.shape[0]} for one image; it "
                         f"must keep the batch axis.")
    if tuple(out.shape[1:]) != tuple(y.shape[1:]):
        raise ValueError(f"the operator maps a {shape} image to measurements of shape "
                         f"{tuple(out.shape[1:])}, but y's are {tuple(y.shape[1:])}; pass "
                         f"shape=(C, H, W), the size of image it takes.")
    if not torch.isfinite(out).all():
        raise ValueError(f"the operator returns NaN or infinite values for a mid-gray {shape} "
                         f"image.")
    if not _moves(op, shape, y.device):
        # every prior fits y through this gradient: all zero, they return a flat image
        raise ValueError("the operator's output does not change with its input (its "
                         "gradient is zero everywhere, as torch.round's); write it "
                         "differentiable, e.g. x + (torch.round(x) - x).detach().")


def _moves(op, shape: tuple, device) -> bool:
    """False only where the gradient of ``op`` at a random image in [0, 1] (every level met,
    so that a black-level cut such as ``(x - 0.6).clamp(min=0)`` counts) is zero everywhere,
    taken against random weights (a zero-sum operator, a Laplacian, maps ones to zero). An
    operator torch cannot differentiate, or one that fails here, is the priors' to refuse."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand((1, *shape), generator=g).to(device).requires_grad_(True)
    try:
        with torch.enable_grad():
            out = op(x)
            if not (isinstance(out, torch.Tensor) and out.requires_grad):
                return True
            weights = torch.randn(out.shape, generator=g).to(out)
            (slope,) = torch.autograd.grad(out, x, weights, allow_unused=True)
    except Exception:
        return True
    return slope is not None and bool(slope.any())


def item(y, b: int):
    """Batch item ``b`` of ``y`` (a tensor or a tuple of them), keeping the batch axis."""
    return tuple(p[b : b + 1] for p in y) if isinstance(y, tuple) else y[b : b + 1]


def batch_size(y) -> int:
    """``B`` of ``y`` (a tensor or a tuple of them)."""
    return (y[0] if isinstance(y, tuple) else y).shape[0]


def to_device(y, device):
    """``y`` (a tensor or a tuple of them) on ``device``."""
    return tuple(p.to(device) for p in y) if isinstance(y, tuple) else y.to(device)


def out_of_memory(err: BaseException) -> str | None:
    """One sentence for a failed allocation, else None: Python's ``MemoryError``, torch's CPU
    allocator (a ``RuntimeError``, whatever the size) or CUDA's out-of-memory error.

    Example:
        >>> out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you "
        ...                             "tried to allocate 2308608000 bytes."))
        'out of memory (an allocation of 2.2 GiB failed); try a smaller image or a machine with more memory.'
        >>> out_of_memory(RuntimeError("shapes do not match")) is None
        True
    """
    text = str(err)
    if isinstance(err, getattr(torch, "OutOfMemoryError", ())) or "CUDA out of memory" in text:
        return "out of memory on the GPU; try a smaller image or --device cpu."
    if isinstance(err, MemoryError) or "can't allocate memory" in text:
        size = re.search(r"allocate (\d+) bytes", text)
        failed = f" (an allocation of {int(size[1]) / 2**30:.1f} GiB failed)" if size else ""
        return f"out of memory{failed}; try a smaller image or a machine with more memory."
    return None
