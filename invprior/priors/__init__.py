"""Priors: one file each, all with the protocol of ``base.Prior``, and the registry.

| name | class | file |
|---|---|---|
| ``dip``, ``decoder`` | ``NetworkPrior`` | ``generator.py`` (deep image prior, deep decoder) |
| ``denoiser`` | ``CNNPrior`` | ``cnn.py`` (the shipped CNN denoiser, plug-and-play) |
| ``inpainter`` | ``InpainterPrior`` | ``inpainter.py`` (the trained hole filler, no iterations) |
| ``sparse`` | ``SparsePrior`` | ``sparse.py`` (K-SVD, coupled dictionaries) |
| a ``.pt`` file | by its ``format`` field (``FORMATS``) | ``cnn.py``, ``latent.py`` (GLO / PCA) |
| any ``denoise(x, sigma)`` | ``PlugAndPlay`` | ``pnp.py`` |

A new prior is one file with a class that has ``name``, ``check(op)`` and ``restore(y, op,
*, noise_level, truth, progress)`` (``base.ItemwisePrior`` does the batch loop, checks and
Ctrl-C), plus one line in ``PRIORS``.

Example:
    >>> make_prior("dip", iters=10).name, make_prior("sparse").name
    ('dip', 'sparse')
    >>> make_prior("sparse", lr=0.1)
    Traceback (most recent call last):
    ...
    ValueError: the sparse prior does not take lr; it takes device, iters, keep_observed, max_seconds, relearn, seed, shape.
"""

from __future__ import annotations

import inspect
import os
from functools import partial
from pathlib import Path

import torch

from ..checks import UNREADABLE_CHECKPOINT
from ..weights import shipped
from ..glo import TrainedPrior
from ..glo.checkpoint import FORMAT as TRAINED_FORMAT
from .base import ItemwisePrior, Prior
from ..cnn.checkpoint import FORMAT as DENOISER_FORMAT
from .cnn import CNNPrior
from .generator import NetworkPrior
from .inpainter import InpainterPrior
from .latent import LatentPrior
from .pnp import PlugAndPlay
from .sparse import SparsePrior

__all__ = ["PRIORS", "FORMATS", "make_prior", "options_of", "checkpoint_format", "Prior",
           "ItemwisePrior", "PlugAndPlay", "NetworkPrior", "CNNPrior", "InpainterPrior",
           "SparsePrior", "LatentPrior"]

PRIORS = {
    "dip": partial(NetworkPrior, "dip"),
    "decoder": partial(NetworkPrior, "decoder"),
    "denoiser": CNNPrior,
    "inpainter": InpainterPrior,
    "sparse": SparsePrior,
}
# a checkpoint's "format" field -> the prior that reads it
FORMATS = {
    DENOISER_FORMAT: CNNPrior.from_file,
    TRAINED_FORMAT: LatentPrior.from_file,
}
INPAINTER = "invprior-denoiser (inpaint)"  # what checkpoint_format says of an inpainter file


def options_of(name: str) -> set[str]:
    """The settings the prior called ``name`` takes (keyword arguments of its constructor).

    Example:
        >>> sorted(options_of("denoiser"))  # doctest: +NORMALIZE_WHITESPACE
        ['device', 'iters', 'keep_observed', 'max_seconds', 'seed', 'self_ensemble', 'shape',
         'weights']
    """
    # (a registered prior of one's own: its plain arguments too, ``__init__(self, lam=0.1)``)
    signature = inspect.signature(PRIORS[name])
    return {n for n, p in signature.parameters.items()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _takes_any(factory) -> bool:
    """Whether a prior's constructor takes any setting (``**settings``: a wrapper's)."""
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


def _trained_options() -> set[str]:
    """The settings of a trained generator: ``TrainedPrior.restore``'s (device and seed
    among them), and ``LatentPrior``'s own ``keep_observed`` and ``shape``."""
    skip = {"self", "y", "op", "noise_level", "truth", "progress"}
    return set(inspect.signature(TrainedPrior.restore).parameters) - skip | {"keep_observed", "shape"}


def checkpoint_format(path) -> str:
    """The ``format`` field of a checkpoint file (memory-mapped: the weights are not read);
    ``ValueError`` in one sentence for a missing, unreadable or foreign file."""
    path = Path(path)
    if not path.is_file():
        what = "it is a folder, not a .pt file" if path.is_dir() else "no such file"
        raise ValueError(f"cannot load the prior '{path}': {what}.")
    try:
        try:
            ck = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # (a file in torch's legacy format, which load_prior reads,
            # cannot be mapped: it had been called corrupt)
            ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for truncated, foreign or unsafe files
        raise ValueError(f"cannot load the prior '{path}': {UNREADABLE_CHECKPOINT}.") from None
    found = ck.get("format") if isinstance(ck, dict) else None
    if found is None and isinstance(ck, dict) and {"Dl", "Dh"} <= set(ck):  # (train_sr's)
        raise ValueError(f"'{path}' is a dictionary pair for sparse super-resolution (made by "
                         f"python -m invprior.sparse.train_sr), not a prior file; prior='sparse' "
                         f"loads the shipped pair of each factor.")
    if found not in FORMATS:
        # a plain state dict or another tool's file has no format at all: say what it lacks
        what = "it has no 'format' field" if found is None else f"its format is {found!r}"
        raise ValueError(f"'{path}' is not a prior checkpoint ({what}); make one with "
                         "python -m invprior.train.")
    config = ck.get("config")  # (a list there, by hand: AttributeError; the loader says why)
    if found == DENOISER_FORMAT and isinstance(config, dict) and config.get("task") == "inpaint":
        return INPAINTER  # a denoiser's network, trained to fill holes
    return found


def make_prior(spec, **options) -> Prior:
    """The prior for ``spec`` with its settings ``options``: a name in ``PRIORS``, a ``.pt``
    file (by its ``format``), a ``TrainedPrior``, or a prior object (taken as it is).

    A setting that the prior does not take is an error, not silently ignored.
    """
    spec = shipped(spec)
    if isinstance(spec, TrainedPrior):
        return _build(partial(LatentPrior, spec), "trained", _trained_options(), options)
    if isinstance(spec, str) and spec in PRIORS:
        return _build(PRIORS[spec], spec, options_of(spec)
                      | (set(options) if _takes_any(PRIORS[spec]) else set()), options)
    if spec == "auto":  # no operator here to pick for
        raise ValueError(f"'auto' picks a prior for an operator, which make_prior does not "
                         f"see: name one of {', '.join(PRIORS)} here, or let "
                         f"invprior.auto_prior(op, y) name it.")
    if isinstance(spec, (str, os.PathLike)):
        if not str(spec).endswith(".pt") and not Path(spec).is_file():
            raise ValueError(f"unknown prior '{spec}'; choose one of auto, {', '.join(PRIORS)}, "
                             "or a prior file PATH.pt.")
        found = checkpoint_format(spec)
        if found == INPAINTER:
            return _build(partial(InpainterPrior, spec), "inpainter",
                          options_of("inpainter") - {"weights"}, options)
        if found == DENOISER_FORMAT:
            name, accepted = "denoiser", options_of("denoiser") - {"weights"}
        else:
            name, accepted = "trained", _trained_options()
        return _build(partial(FORMATS[found], spec), name, accepted, options)
    if isinstance(spec, type) and hasattr(spec, "restore"):  # (it failed inside, "missing 'op'")
        raise ValueError(f"prior is the class {spec.__name__}; pass an object of it: "
                         f"{spec.__name__}(...).")
    if isinstance(spec, Prior):
        if options:
            # (a prior of one's own may take no shape: solve reads its .shape attribute)
            shape = ("; the image shape as its shape attribute, (C, H, W), where it takes no "
                     "shape=" if "shape" in options else "")
            raise ValueError(f"give the settings ({', '.join(sorted(options))}) to the prior "
                             f"object itself (e.g. {type(spec).__name__}(..., "
                             f"{sorted(options)[0]}=...){shape}).")
        return spec
    lacks = [a for a in ("name", "check", "restore") if not hasattr(spec, a)]
    if hasattr(spec, "restore") and lacks:  # a prior of one's own, not all of the protocol
        raise ValueError(f"a prior object needs name, check(op) and restore(y, op, *, "
                         f"noise_level, truth, progress) (invprior.priors.base.Prior); "
                         f"{type(spec).__name__} lacks {' and '.join(lacks)}.")
    raise ValueError(f"prior must be a name, a .pt file or a prior object, got {type(spec).__name__}.")


def _build(factory, name: str, accepted: set, options: dict):
    unknown = sorted(set(options) - accepted)
    if unknown:
        takes = f"it takes {', '.join(sorted(accepted))}" if accepted else "it takes no settings"
        raise ValueError(f"the {name} prior does not take {', '.join(unknown)}; {takes}.")
    return factory(**options)
