"""Operator base classes: forward models ``f`` with adjoint, pseudo-inverse and norm.

Convention:
    Images are ``(B, C, H, W)`` tensors. An operator is a ``torch.nn.Module`` whose data
    (kernels, masks, matrices) are buffers, so ``.to(device)``, ``.double()`` and
    ``state_dict()`` work; the forward pass casts those buffers to the input's dtype and
    device, so the output keeps both. Measurements may be images or ``(B, m)`` vectors, or a
    tuple of those for a stacked operator.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .cg import conjugate_gradient
from .smooth import smooth_fit

Measurement = torch.Tensor | tuple  # a tensor, or a tuple of tensors (stacked operators)


def inner(a, b) -> torch.Tensor:
    """Per-batch-item inner product ``<a, b>``, shape ``(B,)``; tuples are summed over."""
    if isinstance(a, tuple):
        return sum(inner(u, v) for u, v in zip(a, b))
    return (a * b).flatten(1).sum(1)


def check_image(x: torch.Tensor, name: str = "input") -> torch.Tensor:
    """Raise ``ValueError`` unless ``x`` is a ``(B, C, H, W)`` floating-point tensor."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim != 4:
        raise ValueError(
            f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}; "
            "add the missing axes, e.g. x[None] for (C, H, W) or x[None, None] for (H, W)."
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}.")
    if x.numel() == 0:  # (an FFT failed with "MKL FFT error", a resampling on a reshape)
        raise ValueError(f"{name} is empty, shape {tuple(x.shape)}.")
    return x


def as_seed(seed, what: str = "seed") -> int:
    """``seed`` as an int that ``torch.Generator.manual_seed`` takes (a NumPy integer too),
    or ``ValueError`` naming ``what`` ("a" and 2**70 failed inside int() and the generator).

    Example:
        >>> import numpy as np
        >>> as_seed(np.int64(3)), as_seed(-1)
        (3, -1)
    """
    whole = as_whole(seed)
    if whole is None:
        raise ValueError(f"{what} must be an integer, got {seed!r}.")
    seed = whole
    if not -(2 ** 63) <= seed < 2 ** 64:
        raise ValueError(f"{what} must be a 64-bit integer, got {seed}.")
    return seed


def as_whole(value) -> int | None:
    """``value`` as an int where it is a whole number (a NumPy integer, a float such as
    16.0 that earlier code took), else None (a bool, a string, 7.5)."""
    if isinstance(value, (bool, str, bytes)):
        return None
    if hasattr(value, "__index__"):
        return value.__index__()
    if isinstance(value, float) or hasattr(value, "is_integer"):
        try:
            return int(value) if float(value).is_integer() else None
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def as_number(value, what: str) -> float:
    """``value`` as a float (a NumPy number, a one-value tensor), or ``ValueError`` naming
    ``what``: a string, a list, None, a bool, complex values or a tensor of several had
    failed on a comparison or inside ``float()``.

    Example:
        >>> as_number(torch.tensor(0.5), "sigma")
        0.5
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if isinstance(value, (bool, str, bytes, complex, torch.Tensor)) or not hasattr(value, "__float__"):
        raise ValueError(f"{what} must be a number, got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):  # (a NumPy complex or array of several values)
        raise ValueError(f"{what} must be a number, got {value!r}.") from None


def as_real_array(value, complex_message: str) -> torch.Tensor:
    """``value`` (a tensor, a NumPy array, nested lists) as a new float32 tensor of its own,
    cut from any autograd graph; ``ValueError(complex_message)`` for complex values (torch
    had dropped the imaginary part with a warning). NumPy arrays that torch takes badly go
    in too: flipped ones (negative strides had failed in torch's words), read-only and
    memory-mapped ones (a warning); a tensor that requires grad had tied the operator's
    buffer to the caller's graph (``copy.deepcopy`` then failed).

    Example:
        >>> import numpy as np
        >>> as_real_array(np.flip(np.arange(3)), "complex").tolist()
        [2.0, 1.0, 0.0]
    """
    if isinstance(value, np.ndarray):
        if np.iscomplexobj(value):
            raise ValueError(complex_message)
        return torch.from_numpy(np.array(value, dtype=np.float32))  # (a copy, strides its own)
    t = torch.as_tensor(value)
    if t.is_complex():
        raise ValueError(complex_message)
    return t.detach().to(torch.float32).clone()


def as_switch(value, what: str) -> bool:
    """``value`` as a bool (a NumPy bool too), or ``ValueError`` naming ``what``: the string
    "no" and the number 2 are true to Python and had quietly switched a setting on.

    Example:
        >>> import numpy as np
        >>> as_switch(np.bool_(False), "normalize")
        False
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} must be True or False, got {value!r}.")
    return bool(value)


def as_shape(shape, what: str = "shape") -> tuple:
    """``shape`` as a tuple of ints (a list, a ``torch.Size``, NumPy integers), or
    ``ValueError`` naming ``what``: a number, a string such as "1,8,8" (read as its
    characters) or None failed inside ``tuple()``.

    Example:
        >>> as_shape([1, 8, 8])
        (1, 8, 8)
    """
    numbers = ([as_whole(n) for n in shape]
               if hasattr(shape, "__iter__") and not isinstance(shape, (str, bytes)) else [None])
    if None in numbers:
        raise ValueError(f"{what} must be a tuple of whole numbers such as (1, 64, 64), got {shape!r}.")
    return tuple(numbers)


# ``noise_visible`` of an operator whose y shows its noise only at the top of its spectrum
TOP_BAND = "top band"

class Operator(nn.Module):
    """A forward model ``x -> y``; subclasses implement ``forward``.

    ``input_shape`` is the image shape without its batch axis, so that adjoints and norms
    know the image size: fixed when given here (an operator made for one size), else the
    shape of the last input.

    Example:
        >>> class Square(Operator):
        ...     def forward(self, x):
        ...         return x ** 2
        >>> Square()(torch.full((1, 1, 2, 2), 3.0)).sum().item()
        36.0
    """

    # What an operator may say about itself; the solvers ask, they never switch on its type.
    # name: the registry name of a built-in operator (None for a user's own), which the
    # default-prior table of invprior reads.
    name: str | None = None
    # noise_visible: whether the noise in y can be read off y itself, so that its level can
    # be estimated from y: True where the finest wavelet band of y holds noise and no
    # detail; TOP_BAND where only the top of y's spectrum does (an antialiased sampling:
    # a reading there counts as noise above what clean images read).
    noise_visible: bool | str = False
    # good_initial_estimate: whether initial_estimate is close enough to the image to be
    # worth fitting a network to first (a closed form such as Wiener or bicubic; not the
    # generic smoothest fit of an ill-posed operator, e.g. compressed sensing).
    good_initial_estimate: bool = False
    # is_identity: y = x (denoising), so that a denoiser alone restores the image.
    is_identity: bool = False

    def __init__(self, input_shape: tuple | None = None):
        super().__init__()
        self.input_shape = as_shape(input_shape, "input_shape") if input_shape is not None else None
        self._fixed_input_shape = input_shape is not None
        self.register_forward_pre_hook(_remember_input_shape)

    def initial_estimate(self, y) -> torch.Tensor | None:
        """A cheap first guess of ``x`` ``(B, C, H, W)`` in [0, 1] from ``y``, or None where
        none is known (the default for a nonlinear operator)."""
        return None

    def projection(self, y):
        """For a noise-free ``y``: a function ``x -> x'`` that brings an estimate onto (or
        towards) ``{x : A x = y}``, which can only bring it closer to the truth; None where
        that is unknown or not worth its cost (the default).

        ``projection_is_cheap`` says whether it may run at every traced step.
        """
        return None

    projection_is_cheap: bool = False

    def noise_in_image(self, level: float) -> float:
        """The noise std per pixel that noise of std ``level`` in ``y`` leaves in the image
        fitted to ``y``: the level plug-and-play's denoiser works at. Default: ``level``
        itself (``y`` on the image's scale, as a blur's or a mask's)."""
        return level

    def input_shape_for(self, y_shape: tuple) -> tuple:
        """Image shape ``(C, H, W)`` that yields measurements of shape ``y_shape`` (with batch).

        Default: the fixed ``input_shape`` if there is one, else the measurement's own shape
        (image-to-image operators). Resampling operators override it.
        """
        if self._fixed_input_shape:
            return self.input_shape
        return tuple(y_shape[1:])

    def __matmul__(self, other: "Operator") -> "Operator":
        """``A @ B`` is the composition ``x -> A(B(x))``."""
        return compose(self, other)


def out_of_inference(module: nn.Module) -> None:
    """The tensors ``module`` holds (buffers and parameters) that were made under
    ``torch.inference_mode()`` (an operator built there: its kernel, its mask), replaced by copies of the same values,
    made outside it: autograd cannot save an inference tensor for a backward pass (an
    adjoint, a prior's fit through the operator).

    Example:
        >>> with torch.inference_mode():
        ...     op = Lambda(lambda x: x)
        ...     op.register_buffer("k", torch.ones(2))
        >>> out_of_inference(op); op.k.is_inference()
        False
    """
    with torch.inference_mode(False):
        for sub in module.modules():
            for name, tensor in list(sub._buffers.items()):
                if tensor is not None and tensor.is_inference():
                    sub._buffers[name] = tensor.clone()
            # (an nn.Conv2d made there holding the blur: its weight had failed every prior)
            for name, param in list(sub._parameters.items()):
                if param is not None and param.is_inference():
                    sub._parameters[name] = nn.Parameter(param.clone(), param.requires_grad)


def _needs_grad(y) -> bool:
    """True if gradients must flow through an adjoint applied to ``y``."""
    parts = y if isinstance(y, tuple) else (y,)
    return torch.is_grad_enabled() and any(p.requires_grad for p in parts)


def _remember_input_shape(module: Operator, args):
    if module._fixed_input_shape:
        return
    if args and isinstance(args[0], torch.Tensor) and args[0].ndim >= 2:
        module.input_shape = tuple(args[0].shape[1:])


class LinearOperator(Operator):
    """A linear forward model with ``adjoint``, ``normal``, ``pinv`` and ``norm``.

    A subclass needs only ``forward``: the default ``adjoint`` is the vector-Jacobian
    product of ``forward`` (exact for a linear map). Built-in operators override it with a
    closed form where one is faster.

    Example:
        >>> class Half(LinearOperator):
        ...     def forward(self, x):
        ...         return 0.5 * x[..., ::2]
        >>> A = Half()
        >>> y = A(torch.ones(1, 1, 2, 4))
        >>> A.adjoint(y)[0, 0, 0].tolist()
        [0.25, 0.0, 0.25, 0.0]
    """

    def adjoint(self, y: Measurement) -> torch.Tensor:
        """``A^T y``, shape ``(B, *input_shape)``."""
        ref = y[0] if isinstance(y, tuple) else y
        # (gradients on, outside inference mode, whatever the caller's: under
        # torch.inference_mode() the zeros could not require grad)
        with torch.inference_mode(False), torch.enable_grad():
            out_of_inference(self)
            for shape in self._shapes_giving(ref):
                x = torch.zeros((ref.shape[0], *shape), dtype=ref.dtype, device=ref.device
                                ).requires_grad_(True)
                ax = self.forward(x)
                if _same_shapes(ax, y):
                    break
            (grad,) = torch.autograd.grad(
                ax, x, grad_outputs=y, create_graph=_needs_grad(y)
            )
        return grad

    def _shapes_giving(self, ref: torch.Tensor) -> list:
        """The input shapes to try for measurements like ``ref``: the one of the last call
        (or the fixed one), then, where the operator reads it off ``y`` (a class of its own
        ``input_shape_for``), that one: a y of another size than the last call's had been
        torch's "Mismatch in shape" (a reflect-border blur's adjoint on a 16x16 y after a
        32x32 image). ``ValueError`` when neither is known."""
        told = None
        if type(self).input_shape_for is not Operator.input_shape_for:
            told = tuple(self.input_shape_for(tuple(ref.shape)))
        shapes = [s for s in (self.input_shape, told) if s is not None]
        return list(dict.fromkeys(shapes)) or [self._known_input_shape()]

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^T A x``, same shape as ``x``."""
        return self.adjoint(self(x))

    def pinv(
        self,
        y: Measurement,
        *,
        tol: float = 1e-6,
        max_iter: int = 100,
        damping: float = 0.0,
    ) -> torch.Tensor:
        """Least-squares (minimum-norm) solution of ``A x = y`` by conjugate gradient.

        Solves ``(A^T A + damping I) x = A^T y`` starting from zero, one step size per batch
        item, until the relative residual is below ``tol`` or after ``max_iter`` steps.
        """
        b = self.adjoint(y)
        return conjugate_gradient(
            lambda v: self.normal(v) + damping * v, b, tol=tol, max_iter=max_iter
        )

    def initial_estimate(self, y) -> torch.Tensor:
        """The smoothest image that fits ``y``, what ``y`` does not tell at mid-gray
        (``operators.smooth.smooth_fit``, 50 conjugate-gradient steps), clipped to [0, 1];
        the built-in operators override it with a better closed form.

        Example:
            >>> class Half(LinearOperator):
            ...     def forward(self, x):
            ...         return 0.5 * x[..., ::2, :]
            >>> x = Half(input_shape=(1, 4, 2)).initial_estimate(torch.full((1, 1, 2, 2), 0.2))
            >>> [round(v, 2) for v in x[0, 0, :, 0].tolist()]  # seen rows 0.4, the rest between
            [0.4, 0.4, 0.4, 0.4]
        """
        ref = y[0] if isinstance(y, tuple) else y
        # the size it takes: known, or told by y's (a valid-border blur's y, met first in a
        # photo; a y of another size than the last call's)
        shapes = self._shapes_giving(ref) if self.input_shape is not None else [
            self.input_shape_for(tuple(ref.shape))]
        with torch.no_grad():
            for shape in shapes:
                mid = torch.full((ref.shape[0], *shape), 0.5, dtype=ref.dtype, device=ref.device)
                seen = self(mid)
                if _same_shapes(seen, y):
                    break
            residual = (tuple(a - b for a, b in zip(y, seen)) if isinstance(y, tuple)
                        else y - seen)  # a stack's measurements are a tuple
            return smooth_fit(self, residual, mid).clamp(0, 1)

    def norm(
        self, shape: tuple | None = None, *, iters: int = 100, tol: float = 1e-7, seed: int = 0
    ) -> float:
        """Operator norm ``||A||_2`` (largest singular value) by power iteration on ``A^T A``.

        ``shape`` is the input shape without the batch axis (default: ``input_shape``).
        """
        shape = tuple(shape) if shape is not None else self._known_input_shape()
        buffer = next(self.buffers(), None)
        kind = {"dtype": torch.float64}
        if buffer is not None:
            kind = {"dtype": buffer.dtype if buffer.is_floating_point() else torch.float64,
                    "device": buffer.device}
        g = torch.Generator().manual_seed(seed)
        x = torch.randn((1, *shape), generator=g, dtype=torch.float64).to(**kind)
        x = x / x.norm()
        value = 0.0
        with torch.no_grad():
            for _ in range(iters):
                z = self.normal(x)
                new = z.norm().item()
                if new == 0:
                    return 0.0
                x = z / new
                if abs(new - value) <= tol * new:
                    value = new
                    break
                value = new
        return value ** 0.5

    def _known_input_shape(self) -> tuple:
        if self.input_shape is None:
            raise ValueError(
                f"{type(self).__name__} does not know its input shape yet: call it on an "
                "image once, or pass the shape."
            )
        return self.input_shape


def _same_shapes(a: Measurement, b: Measurement) -> bool:
    """``a`` and ``b`` (tensors, or a stack's tuples of them) of the same shapes."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
                and all(u.shape == v.shape for u, v in zip(a, b)))
    return a.shape == b.shape


def is_damped(damping) -> bool:
    """True for a ``damping`` that regularises: a positive float, or a tensor of them (one per
    batch item, as plug-and-play passes when its items' noise levels differ).

    Example:
        >>> is_damped(0.0), is_damped(0.1), is_damped(torch.full((2, 1, 1, 1), 0.1))
        (False, True, True)
    """
    return isinstance(damping, torch.Tensor) or damping > 0


class Composition(Operator):
    """``x -> outer(inner(x))`` for any two operators (or differentiable callables)."""

    def __init__(self, outer, inner):
        super().__init__()
        self.outer, self.inner = outer, inner

    def forward(self, x):
        return self.outer(self.inner(x))

    @property
    def noise_visible(self):
        """The outer operator's: y is what it measured (a blur's y shows its noise as a blur's
        does, whatever came before it; a composition's noise had never been read, and a
        noisy one was restored as noise-free: 13.6 dB where the level given gave 28.4). One
        set on the composition itself wins. Not after a mask: its pattern, blurred, reads as
        noise (8/255 on a clean y: -1.5 dB)."""
        if "noise_visible" in self.__dict__:
            return self.__dict__["noise_visible"]
        if _masks(self.inner):
            return False
        return getattr(as_operator(self.outer), "noise_visible", False)

    @noise_visible.setter
    def noise_visible(self, value):
        self.__dict__["noise_visible"] = value

    def input_shape_for(self, y_shape):
        middle = as_operator(self.outer).input_shape_for(y_shape)
        return as_operator(self.inner).input_shape_for((y_shape[0], *middle))


def _masks(op) -> bool:
    """Whether ``op`` hides pixels (an inpainting mask, or a composition holding one)."""
    if isinstance(op, Composition):
        return _masks(op.outer) or _masks(op.inner)
    return getattr(op, "name", None) == "inpaint"


class LinearComposition(Composition, LinearOperator):
    """Composition of two linear operators; its adjoint is ``inner^T outer^T`` (exact)."""

    def adjoint(self, y):
        return self.inner.adjoint(self.outer.adjoint(y))


def compose(*ops) -> Operator:
    """Compose operators right to left: ``compose(A, B)(x) == A(B(x))``.

    Example:
        >>> from operators import Blur, Downsampling
        >>> A = compose(Downsampling(2), Blur(sigma=1.0))
        >>> A(torch.rand(1, 1, 8, 8)).shape
        torch.Size([1, 1, 4, 4])
    """
    if not ops:
        raise ValueError("compose needs at least one operator.")
    for op in ops:  # (A @ 3 made a composition that failed only when called)
        if not callable(op):
            raise ValueError(f"compose takes operators or callables x -> y, got {type(op).__name__}.")
        if getattr(op, "is_noise_model", False):  # (seeded, it was taken back out exactly:
            # a simulation 3 dB better than it was)
            raise ValueError(f"compose takes operators, not the noise model {type(op).__name__}; "
                             f"add noise to y (noise(A(x))) and give solve its level.")
    result = ops[-1]
    for op in reversed(ops[:-1]):
        linear = isinstance(op, LinearOperator) and isinstance(result, LinearOperator)
        result = (LinearComposition if linear else Composition)(op, result)
    return result


class Stack(LinearOperator):
    """Several linear operators on the same image: ``x -> (A_1 x, ..., A_k x)``.

    The adjoint is ``sum_i A_i^T y_i`` (exact when each adjoint is).

    Example:
        >>> from operators import Denoising, Blur
        >>> y = Stack(Denoising(), Blur(sigma=1.0))(torch.rand(1, 1, 8, 8))
        >>> len(y)
        2
    """

    def __init__(self, *ops: LinearOperator):
        super().__init__()
        if not ops or not all(isinstance(op, LinearOperator) for op in ops):
            raise ValueError("Stack needs one or more LinearOperator instances.")
        if any(isinstance(op, Stack) for op in ops):  # (its y, a tuple in a tuple, was refused)
            raise ValueError("a Stack inside a Stack: put all the operators in one, "
                             "Stack(A, B, C).")
        self.ops = nn.ModuleList(ops)

    def forward(self, x):
        return tuple(op(x) for op in self.ops)

    def input_shape_for(self, y_shape):
        return self.ops[0].input_shape_for(y_shape)

    def adjoint(self, y):
        if not isinstance(y, tuple) or len(y) != len(self.ops):
            raise ValueError(f"Stack.adjoint expects a tuple of {len(self.ops)} measurements.")
        return sum(op.adjoint(part) for op, part in zip(self.ops, y))


def in_precision_of(out, x):
    """``out`` in the precision of ``x`` where both are floating-point tensors, else as it is.

    Example:
        >>> in_precision_of(torch.ones(2, dtype=torch.float64), torch.ones(2)).dtype
        torch.float32
    """
    if (isinstance(out, torch.Tensor) and isinstance(x, torch.Tensor) and out.is_floating_point()
            and x.is_floating_point() and out.dtype != x.dtype):
        return out.to(x.dtype)
    return out


class Lambda(Operator):
    """Wrap a differentiable callable ``fn(x) -> y`` as an operator.

    Example:
        >>> A = Lambda(lambda x: x ** 2)
        >>> A(torch.full((1, 1, 1, 1), 3.0)).item()
        9.0
    """

    def __init__(self, fn):
        super().__init__()
        if not callable(fn):
            raise ValueError(f"expected a callable forward model, got {type(fn).__name__}.")
        self.fn = fn

    def forward(self, x):
        # a function may change its input in place (v.clamp_(0, 1)): it gets a copy, since
        # the image is the prior's and autograd refuses that on its leaf
        out = self.fn(x.clone())
        # in the input's precision: a float64 matrix (a CT system read from NumPy) had made
        # plug-and-play's iterate float64, which the denoiser refused
        return in_precision_of(out, x)


class LinearLambda(Lambda, LinearOperator):
    """Wrap a *linear* callable; its adjoint comes from autograd.

    Example:
        >>> A = LinearLambda(lambda x: x.mean(1, keepdim=True))
        >>> A.adjoint(A(torch.ones(1, 3, 2, 2))).shape
        torch.Size([1, 3, 2, 2])
    """


def as_operator(fn, linear: bool = False) -> Operator:
    """Return ``fn`` if it is an ``Operator``, else wrap the callable (linear or not)."""
    if isinstance(fn, Operator):
        return fn
    if isinstance(fn, type):  # O.Denoising for O.Denoising(): its call made an instance
        raise ValueError(f"the operator is the class {fn.__name__}; pass an instance of it, "
                         f"{fn.__name__}(...).")
    return LinearLambda(fn) if linear else Lambda(fn)
