"""Trained-prior checkpoint files: one ``torch.save`` dict, loadable with ``weights_only=True``.

Keys: ``format`` ("invprior-trained-prior"), ``version`` (1), ``config`` (what rebuilds the
decoder and what made it: kind, latent, shape, width, training settings, data source),
``state_dict`` (decoder weights), ``latent_mean`` ``(k,)`` and ``latent_cov`` ``(k, k)`` (of
the training codes), ``step``, ``done``, ``losses`` (training loss per step), ``codes``
``(N, k)`` (one per training image, for ``--resume``), optionally ``optim`` (optimizer
state; periodic checkpoints only) and ``meta`` (command, torch version, world size).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checks import UNREADABLE_CHECKPOINT, check_diverged, check_finite_weights
from ..messages import error_text

FORMAT = "invprior-trained-prior"
VERSION = 1
REQUIRED = ("config", "state_dict", "latent_mean", "latent_cov")
CONFIG_KEYS = ("kind", "latent", "shape")


def damaged(path, parts: str, err: Exception) -> ValueError:
    """The one sentence for a prior file whose ``parts`` (its weights, codes...) do not fit
    its own config: a file edited or cut short, which torch reports as a traceback.

    Example:
        >>> str(damaged("p.pt", "weights", RuntimeError("size mismatch")))
        "the prior 'p.pt' is damaged: its weights do not match its config (size mismatch)."
    """
    return ValueError(f"the prior '{path}' is damaged: its {parts} do not match its config "
                      f"({error_text(err, 160)}).")


def write_checkpoint(path: str | Path, checkpoint: dict) -> Path:
    """Save atomically (a reader never sees a half-written file).

    Example:
        >>> import tempfile
        >>> path = write_checkpoint(Path(tempfile.mkdtemp()) / "p.pt", {"format": FORMAT})
        >>> torch.load(path, weights_only=True)["format"]
        'invprior-trained-prior'
    """
    from ..io import write_torch

    check_diverged(checkpoint, path)
    return write_torch(path, checkpoint)


def read_checkpoint(path: str | Path) -> dict:
    """Load and check a trained-prior checkpoint; ``ValueError`` (one sentence) if unusable.

    Example:
        >>> from invprior.weights import weight_file
        >>> ck = read_checkpoint(weight_file("prior_digits.pt"))
        >>> ck["config"]["shape"]
        [1, 16, 16]
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"cannot load the prior '{path}': no such file.")
    if path.is_dir():
        raise ValueError(f"cannot load the prior '{path}': it is a folder, not a .pt file.")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for truncated, foreign or unsafe files
        raise ValueError(
            f"cannot load the prior '{path}': {UNREADABLE_CHECKPOINT}."
        ) from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        other = str(ck.get("format", "")) if isinstance(ck, dict) else ""
        kind = ("a denoiser or inpainter checkpoint: solve(y, op, prior=path) and --prior take "
                "it" if other.startswith("invprior-") else "not a trained-prior checkpoint")
        raise ValueError(f"'{path}' is {kind}; load_prior reads the trained priors of "
                         f"python -m invprior.train --kind glo or pca.")
    if ck.get("version") != VERSION:
        raise ValueError(
            f"'{path}' is a trained-prior checkpoint of version {ck.get('version')}, this "
            f"program reads version {VERSION}; retrain it with python -m invprior.train."
        )
    missing = [k for k in REQUIRED if k not in ck]
    config = ck.get("config")
    if not missing and isinstance(config, dict):
        missing = [f"config.{k}" for k in CONFIG_KEYS if k not in config]
    if missing or not isinstance(config, dict):
        what = ", ".join(missing) or "config"
        raise ValueError(f"the prior '{path}' is incomplete (missing {what}).")
    check_finite_weights(ck, f"the prior '{path}'")
    return ck
