"""The weights and dictionaries that the defaults load, shipped inside the package.

They are package data (``pyproject.toml``), so a plain ``pip install .`` or a wheel has them
too; each was made by the command in ``invprior.train.ASSET_COMMANDS`` or
``python -m invprior.sparse.train_sr --out invprior/weights`` (see ``assets/README.md``).

Example:
    >>> weight_file("denoiser.pt").name
    'denoiser.pt'
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["weight_file", "shipped", "FILES"]

FILES = ("denoiser.pt", "denoiser_colour.pt", "denoiser_one_pass.pt", "denoiser_colour_one_pass.pt",
         "inpainter.pt", "prior_digits.pt", "prior_faces.pt",
         "sparse_sr_x2.pt", "sparse_sr_x3.pt", "sparse_sr_x4.pt")


def weight_file(name: str) -> Path:
    """The path of a shipped file ``name`` (one of ``FILES``) in the installed package."""
    if name not in FILES:
        raise ValueError(f"no shipped file '{name}'; the package ships {', '.join(FILES)}.")
    # a regular install unpacks the package to disk, so the resource is a real file
    return Path(str(resources.files(__name__) / name))


def shipped(spec):
    """``spec``, or the shipped trained prior of its name (``prior_faces.pt``) where ``spec`` is a
    bare file name, without a folder, that is not in the working folder: ``--prior
    prior_faces.pt``, as the README names it, had said "no such file" anywhere but in the
    package's own folder.

    Example:
        >>> shipped("prior_faces.pt").endswith("weights/prior_faces.pt"), shipped("dip")
        (True, 'dip')
    """
    if isinstance(spec, (str, os.PathLike)) and not Path(spec).exists():
        name = os.fspath(spec)
        # (trained priors alone: "denoiser.pt" is as likely a user's own file, missing)
        if name in FILES and name.startswith("prior_") and Path(name).name == name:
            return str(weight_file(name))
    return spec
