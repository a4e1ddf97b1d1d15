"""Checks and small helpers that every prior and the API share: the device, the observation,
its batch items.

Example:
    >>> y = check_observation(torch.zeros(2, 1, 4, 4))
    >>> batch_size(y), item(y, 1).shape
    (2, torch.Size([1, 1, 4, 4]))
"""

from __future__ import annotations

import math
import numbers
import os
import re
import threading
from contextlib import contextmanager, nullcontext

import torch

from .operator_checks import check_forward, users_operator

__all__ = ["resolve_device", "resolve_precision", "cpu_has_amx", "cudnn_tuned", "check_observation",
           "check_level", "check_keep_observed", "is_number", "whole_number", "item", "batch_size", "to_device", "out_of_memory", "prepare",
           "check_finite_weights", "check_diverged", "finite_weights"]

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
        raise ValueError(f"device={str(device)!r} was asked for but no CUDA GPU is available; "
                         f"use device='cpu'.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        # (else "invalid device ordinal" from deep inside the first allocation)
        raise ValueError(f"device={str(device)!r} was asked for but this machine has "
                         f"{torch.cuda.device_count()} CUDA GPU(s), numbered from 0.")
    return dev


def cuda_free_bytes(device: torch.device) -> int:
    """Bytes a CUDA ``device`` can still give this process: the driver's free memory and
    what torch's caching allocator holds unused (``mem_get_info`` alone leaves that out:
    after one large photo in a folder run, the next was refused or cut into small tiles)."""
    free, _ = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


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


def check_observation(y, name: str = "y"):
    """``y`` if it is a finite floating-point ``(B, ...)`` tensor or a tuple of them (the
    measurements of a stacked operator); else ``ValueError`` in one sentence."""
    for part in y if isinstance(y, tuple) else (y,):
        if isinstance(part, torch.Tensor) and part.layout != torch.strided:
            # (a sparse y had failed in torch's NotImplementedError)
            raise ValueError(f"{name} is a {str(part.layout).removeprefix('torch.')} tensor; "
                             f"give it dense, {name}.to_dense().")
        if not isinstance(part, torch.Tensor) or not part.is_floating_point():
            hint = _tensor_hint(part)
            raise ValueError(f"{name} must be a floating-point torch.Tensor (or a tuple of "
                             f"them){';' if hint else ''}{hint}.")
        if part.ndim < 2:
            raise ValueError(f"{name} must have a batch axis: (B, C, H, W) images or (B, m) vectors.")
        if part.numel() == 0:
            raise ValueError(f"{name} is empty (shape {tuple(part.shape)}).")
        if part.device.type == "meta":
            raise ValueError(f"{name} is on the 'meta' device, which holds no values.")
        if not torch.isfinite(part).all():
            nans = int(torch.isnan(part).sum())
            # (NaN marks the pixels not measured in MATLAB's and k-space's habit: the way
            # round them had gone unsaid)
            hint = (f"; where NaN marks pixels not measured, zero them, {name}.nan_to_num(0), "
                    f"and leave them out with a mask over the operator's output, "
                    f"operators.Inpainting((~{name}.isnan()).float())"
                    if nans and part.ndim == 4 else "")
            raise ValueError(f"{name} contains NaN or infinite values ({nans} NaN of "
                             f"{part.numel()}){hint}.")
    return y


def _tensor_hint(part) -> str:
    """How a ``y`` that is no floating-point tensor becomes one."""
    if isinstance(part, torch.Tensor) and part.is_complex():
        return " complex measurements go in as real ones, torch.view_as_real(y), from an operator that returns the same"
    if isinstance(part, torch.Tensor):
        if part.dtype == torch.uint8:
            return " an 8-bit image becomes one on the [0, 1] scale by y.float() / 255"
        return f" {part.dtype} values become one by y.float() (on the [0, 1] scale for an image)"
    if isinstance(part, (str, os.PathLike)):
        return " an image file is read by invprior.io.read_image(path).image"
    if getattr(part, "ndim", None) == 4:
        return " a (B, C, H, W) array becomes one by torch.from_numpy(a.astype('float32'))"
    if isinstance(part, (list, tuple)) and part and all(
            isinstance(t, torch.Tensor) and t.ndim == 4 for t in part):
        # (a list of batches had been told to go through from_array)
        return (" a list of (B, C, H, W) tensors becomes one batch by torch.cat(list) (the "
                "measurements of a stacked operator go in as a tuple: tuple(list))")
    if hasattr(part, "shape") or hasattr(part, "getbands") or isinstance(part, (list, tuple)):
        # an array, a PIL image, a list of rows: what from_array takes
        return (" an (H, W[, C]) image (an array, a PIL image) becomes one by "
                "invprior.io.from_array(a).image")
    return ""


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
    if truth is not None:
        _check_truth(truth.detach() if isinstance(truth, torch.Tensor) else truth)
        check_truth_count(truth, batch_size(y))
    import operators as O
    from operators.base import out_of_inference

    if isinstance(y, tuple) and not (users_operator(op) or isinstance(op, O.Stack)):
        raise ValueError(f"a tuple of measurements is for a stacked operator (operators.Stack); "
                         f"{type(op).__name__} takes one tensor y.")
    # (a y that requires grad is taken as the values it holds; one made under
    # torch.inference_mode() is copied, since autograd cannot save it for a backward pass)
    plain = lambda p: p.detach().float().clone() if p.is_inference() else p.detach().float()  # noqa: E731
    y = tuple(plain(p) for p in y) if isinstance(y, tuple) else plain(y)
    if isinstance(op, torch.nn.Module):
        out_of_inference(op)
    check_forward(op, y, shape)
    return y, noise_level, None if truth is None else truth.detach().float()


@contextmanager
def torch_as_restoring_needs():
    """Torch's global state as a restoration needs it, whatever the caller's, and the
    caller's again after: gradients on and outside inference mode (the network priors and
    autograd adjoints differentiate: under a notebook's ``torch.no_grad()`` or
    ``torch.inference_mode()`` the deep image prior failed with "element 0 of tensors does
    not require grad"), and float32 as the default dtype (after
    ``torch.set_default_dtype(torch.float64)`` the default prior failed with "expected
    scalar type Float but found Double", and the deep image prior ran in float64).

    Example:
        >>> with torch.no_grad(), torch_as_restoring_needs():
        ...     torch.is_grad_enabled()
        True
    """
    # (the caller's autocast off too: under a host's bfloat16 autocast the deep image prior
    # gave bfloat16 images, 4 dB worse, whatever precision it was asked; the priors turn
    # their own on where their precision says)
    with _float32_by_default(torch.float32), torch.inference_mode(False), torch.enable_grad(), \
            _autocast_off("cpu"), _autocast_off("cuda"):
        yield


def _autocast_off(device: str):
    """Autocast off on ``device`` where the caller had it on (else nothing: a context that
    nests autocast keeps its cast weights across a network prior's steps)."""
    try:
        on = torch.is_autocast_enabled(device)
    except TypeError:  # (torch < 2.4: no device argument)
        on = torch.is_autocast_cpu_enabled() if device == "cpu" else torch.is_autocast_enabled()
    return torch.autocast(device, enabled=False) if on else nullcontext()


class _HeldWhileRunning:
    """A process-wide torch setting held at the library's value while any of its calls that
    needs it runs, in any thread, and given back as the caller had it when the last one
    ends. (Saved and given back by each call, two threads' calls gave back each other's:
    one thread built its network in float64 and failed, and the process was left in
    float32.) A change the caller makes meanwhile, from another thread, is undone at the end.

    Example:
        >>> held = _HeldWhileRunning(torch.get_default_dtype, torch.set_default_dtype)
        >>> with held(torch.float64), held(torch.float64):
        ...     torch.get_default_dtype()
        torch.float64
        >>> torch.get_default_dtype()
        torch.float32
    """

    held: list = []  # every one, for a forked child (``_after_fork``)

    def __init__(self, read, write):
        self.read, self.write = read, write
        self.saved, self.lock = None, threading.Lock()
        # thread ident -> its calls inside (none: the caller's setting is in place); per
        # thread, for a forked child, where only the thread that forked is left
        self.inside: dict = {}
        _HeldWhileRunning.held.append(self)

    @contextmanager
    def __call__(self, value):
        counted, me = False, threading.get_ident()
        try:  # (entered inside the try: a Ctrl-C just after the count still gives it back)
            with self.lock:
                if not self.inside:
                    self.saved = self.read()
                self.inside[me], counted = self.inside.get(me, 0) + 1, True
                self.write(value)
            yield
        finally:
            if counted:
                with self.lock:
                    self.inside[me] -= 1
                    if not self.inside[me]:
                        del self.inside[me]
                    if not self.inside:
                        self.write(self.saved)

    def after_fork(self) -> None:
        """In a forked child only the thread that forked is left: its calls are the ones
        inside (another thread's would never end: the setting was held for good), and where
        it has none the caller's setting is given back. A fresh lock (another thread's hold
        of it would never be released)."""
        self.lock = threading.Lock()
        mine = self.inside.get(threading.get_ident(), 0)
        if self.inside and not mine:
            self.write(self.saved)
        self.inside = {threading.get_ident(): mine} if mine else {}


_float32_by_default = _HeldWhileRunning(torch.get_default_dtype, torch.set_default_dtype)
_cudnn_benchmark = _HeldWhileRunning(lambda: torch.backends.cudnn.benchmark,
                                     lambda on: setattr(torch.backends.cudnn, "benchmark", on))


def cudnn_tuned(device: torch.device):
    """Inside: on CUDA, cuDNN times its convolution algorithms for each new shape and keeps
    the fastest (``cudnn.benchmark``; worth it when one shape repeats: tiles, plug-and-play
    steps, training patches, a network prior's steps). After the last such call in any
    thread: the process's own setting again, since a library that turned a process-wide
    flag on for good would change the user's other networks too.

    Example:
        >>> with cudnn_tuned(torch.device("cpu")):
        ...     torch.backends.cudnn.benchmark
        False
    """
    if torch.device(device).type != "cuda":
        return nullcontext()
    return _cudnn_benchmark(True)


_DRAWING = threading.RLock()  # (re-entered by one thread: a network built inside another)


def _after_fork() -> None:
    """In a child forked while another thread was inside a call (a preforking server, a
    fork-started pool): that thread is not in the child, so its locks would never be
    released (children hung in ``drawn_apart``) nor its settings given back."""
    global _DRAWING
    _DRAWING = threading.RLock()
    for held in _HeldWhileRunning.held:
        held.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


@contextmanager
def drawn_apart(seed: int | None = None):
    """Inside: torch's CPU random stream seeded with ``seed`` (or left as it is), then the
    caller's again, one thread at a time. For the random first weights of a network that
    ``nn.Module`` draws from the global stream. (``fork_rng`` alone is no lock: three
    threads building seeded deep image priors at once gave another network than one thread
    did in 10 runs of 20, since one thread's seed and draws fell between another's.)

    Example:
        >>> before = torch.random.get_rng_state()
        >>> with drawn_apart(0):
        ...     a = torch.rand(2)
        >>> torch.equal(a, torch.rand(2, generator=torch.Generator().manual_seed(0)))
        True
        >>> torch.equal(before, torch.random.get_rng_state())
        True
    """
    with _DRAWING, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield


def built_for(make, state: dict) -> torch.nn.Module:
    """``make()`` (a network) holding the weights and buffers of ``state``, built without
    random first weights where ``state`` fills them all: on the meta device, then given
    memory. No random stream is drawn from (``drawn_apart`` set torch's global one aside,
    and rewound it under a host's other threads: 7037 repeated draws in one of them).

    Example:
        >>> net = built_for(lambda: torch.nn.Linear(2, 1), torch.nn.Linear(2, 1).state_dict())
        >>> net.weight.device, net.weight.requires_grad
        (device(type='cpu'), True)
    """
    with torch.device("meta"):
        net = make()
    filled = set(state)
    if all(name in filled for name, _ in (*net.named_parameters(), *net.named_buffers())):
        net = net.to_empty(device="cpu")
    else:  # a buffer the file does not hold: built as usual, its first weights drawn apart
        with drawn_apart():
            net = make()
    net.load_state_dict(state)
    return net


def _check_truth(truth) -> None:
    """``ValueError`` in one sentence unless ``truth`` is a finite image tensor on the
    [0, 1] scale (a 0-255 one traced PSNRs of -33 dB, a NaN one NaN, without a word)."""
    from .io import FLOAT_TOP

    if not isinstance(truth, torch.Tensor) or truth.is_complex():
        got = f"complex {truth.dtype}" if isinstance(truth, torch.Tensor) else type(truth).__name__
        raise ValueError(f"truth must be a torch.Tensor of real values like y, got {got}.")
    if truth.ndim != 4:
        raise ValueError(f"truth must be (B, C, H, W) images, got shape {tuple(truth.shape)}.")
    if not torch.isfinite(truth).all():
        raise ValueError("truth contains NaN or infinite values.")
    if truth.numel() and float(truth.max()) > FLOAT_TOP:
        raise ValueError(f"truth reaches {float(truth.max()):g}, but images are on the [0, 1] "
                         f"scale (divide 0-255 values by 255).")


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
    if not is_number(noise_level) or not 0 <= noise_level <= 1:
        raise ValueError(f"noise_level is the noise std on the images' [0, 1] scale, a "
                         f"number from 0 to 1, got {noise_level!r}.")
    return float(noise_level)


def is_number(value) -> bool:
    """Whether ``value`` is a real number (a NumPy float is one; a bool, 1 to Python, is
    not), so that a setting of another kind is refused before a comparison fails on it.

    Example:
        >>> is_number(0.5), is_number(True), is_number("0.5")
        (True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_keep_observed(value) -> None:
    """``ValueError`` in one sentence unless ``keep_observed`` is True, False or None (auto):
    a string such as "no" is true to Python, and would mean yes.

    Example:
        >>> check_keep_observed(None); check_keep_observed("no")
        Traceback (most recent call last):
        ...
        ValueError: keep_observed is True, False or None (auto), got 'no'.
    """
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"keep_observed is True, False or None (auto), got {value!r}.")


def whole_number(name: str, value, least: int | None = None) -> int:
    """``value`` as an ``int`` (a NumPy integer is one), at least ``least`` if given; else
    ``ValueError`` in one sentence (a float or a string failed deep inside torch).

    Example:
        >>> import numpy as np
        >>> whole_number("iters", np.int64(5), 1)
        5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or (least is not None and value < least):
        at_least = f" >= {least}" if least is not None else ""
        raise ValueError(f"{name} must be a whole number{at_least}, got {value!r}.")
    return int(value)


def check_lr(lr, name: str = "lr") -> None:
    """``ValueError`` in one sentence unless the step size ``lr`` (named ``name``) is a
    positive number (the trained prior checks it where it is made, so that a folder run says
    it once).

    Example:
        >>> check_lr(-1)
        Traceback (most recent call last):
        ...
        ValueError: lr must be > 0 and finite, got -1.
    """
    if not (is_number(lr) and 0 < lr < math.inf):
        raise ValueError(f"{name} must be > 0 and finite, got {lr!r}.")


def item(y, b: int):
    """Batch item ``b`` of ``y`` (a tensor or a tuple of them), keeping the batch axis."""
    return tuple(p[b : b + 1] for p in y) if isinstance(y, tuple) else y[b : b + 1]


def check_truth_count(truth, count: int) -> None:
    """``ValueError`` in one sentence where ``truth`` (a tensor) holds other than ``count``
    images, one per observation (a prior of one's own had taken 2 for 3 without a word)."""
    from .result import counted

    if isinstance(truth, torch.Tensor) and len(truth) != count:
        raise ValueError(f"truth holds {counted(len(truth), 'image')} for {count} observations.")


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
        failed = f" (an allocation of {_in_words(int(size[1]))} failed)" if size else ""
        return f"out of memory{failed}; try a smaller image or a machine with more memory."
    return None


def _in_words(size: int) -> str:
    """Bytes as people say them: ``'2.2 GiB'``, ``'38 MiB'`` (a small failed allocation had
    read "0.0 GiB").

    >>> _in_words(2308608000), _in_words(40_000_000), _in_words(1048575), _in_words(5000)
    ('2.2 GiB', '38 MiB', '1 MiB', '5 KiB')
    """
    for unit, shift, digits in (("GiB", 30, 1), ("MiB", 20, 0), ("KiB", 10, 0)):
        value = round(size / (1 << shift), digits)  # (rounded first: 1048575 is "1 MiB")
        if value >= 1:
            return f"{value:.{digits}f} {unit}"
    return f"{size} bytes"
