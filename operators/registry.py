"""Operators by name, for the command line: ``make("blur", sigma=2.0)``."""

from __future__ import annotations

import inspect

from .blur import Blur
from .denoise import Denoising
from .mask import Inpainting
from .resample import Downsampling
from .sensing import CompressedSensing

REGISTRY = {
    "denoise": Denoising,
    "blur": Blur,
    "inpaint": Inpainting,
    "cs": CompressedSensing,
    "downsample": Downsampling,
}
ALIASES = {"deblur": "blur", "sr": "downsample", "identity": "denoise"}


def names() -> list[str]:
    """Names accepted by ``make`` (aliases included), sorted."""
    return sorted([*REGISTRY, *ALIASES])


def operator_class(name: str) -> type:
    """The operator class called ``name`` (aliases accepted).

    Example:
        >>> operator_class("deblur").__name__
        'Blur'
    """
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        raise ValueError(f"unknown operator '{name}'; choose one of {', '.join(names())}.")
    return REGISTRY[key]


def make(name: str, **params):
    """Build the operator called ``name`` with keyword ``params``.

    Example:
        >>> make("sr", factor=2)
        Downsampling(2, 'bicubic')
    """
    cls = operator_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"operator '{name}' takes no parameter {', '.join(unknown)}.")
    try:
        return cls(**params)
    except TypeError as err:  # e.g. a required parameter is missing
        raise ValueError(f"cannot build operator '{name}': {err}.") from None
