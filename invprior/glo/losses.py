"""Reconstruction losses for training: squared l2 or the Laplacian-pyramid l1 of GLO.

Both return one value per image, shape ``(B,)``.
"""

from __future__ import annotations

import math

import torch

LOSSES = ("l2", "lap1")


def pyramid_levels(h: int, w: int) -> int:
    """Pyramid levels for an ``h x w`` image: halve until the coarsest side is about 4."""
    return max(1, int(math.log2(max(min(h, w), 4) / 4)) + 1)


def lap1(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Laplacian-pyramid l1 (Bojanowski et al. 2017): ``sum_j 4**-j * mean|L_j(x - target)|``.

    The pyramid is linear, so the pyramid of the difference is the difference of the
    pyramids; level 0 is the finest band. Compared with l2 it weighs edges (fine bands) as
    much as smooth regions and so gives sharper decoders.

    Example:
        >>> x = torch.rand(2, 1, 16, 16)
        >>> lap1(x, x).tolist()
        [0.0, 0.0]
    """
    from kornia.geometry.transform import build_laplacian_pyramid

    levels = pyramid_levels(*x.shape[-2:])
    bands = build_laplacian_pyramid(x - target, levels)
    return sum(4.0**-j * band.abs().flatten(1).mean(1) for j, band in enumerate(bands))


def reconstruction_loss(x: torch.Tensor, target: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """Per-image loss ``(B,)``: ``l2`` (mean squared error) or ``lap1``.

    Example:
        >>> reconstruction_loss(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)).tolist()
        [1.0]
    """
    if kind == "l2":
        return (x - target).square().flatten(1).mean(1)
    if kind == "lap1":
        return lap1(x, target)
    raise ValueError(f"unknown training loss '{kind}'; use {' or '.join(LOSSES)}.")
