"""Run an image-to-image network on overlapping tiles, blended smoothly, so that the memory
it needs is bounded by the tile and not by the image.

A convolutional denoiser's activations cost hundreds of bytes per pixel (the shipped U-Net:
about 800 at float32), so a 12-megapixel photo at once needs ~10 GB. Tiles of a fixed
budget keep the peak at a few hundred MB (and on a CPU they are faster per pixel, too); each tile sees ``overlap`` pixels of context on
every inner side, and the overlapping margins are cross-faded with linear ramps, so the
result matches the whole-image one closely and shows no seams (``tests/test_tiles.py``).

Convention: ``x`` is ``(B, C, H, W)``; ``fn`` maps a ``(B, C, h, w)`` tile to a
``(B, C', h, w)`` one (the same size; ``C'`` may differ, e.g. a plane and its guides in, the
plane out). Tile starts are multiples of ``align`` (8 for a U-Net with three 2x
downsamplings, so that each tile sees the pixel grid the whole image would).

Example:
    >>> x = torch.rand(1, 1, 100, 140)
    >>> out = tiled(lambda t: 2 * t, x, tile=48, overlap=16)
    >>> bool(torch.allclose(out, 2 * x, atol=1e-6))
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .checks import cuda_free_bytes

__all__ = ["tiled", "tile_count", "tile_spans", "tile_pixels", "CPU_BUDGET_BYTES"]

# Activation memory a tile may use on a CPU: a fixed budget, whatever the machine. 256 MiB at
# the U-Net's ~850 bytes per pixel gives tiles of about 560x560, which run fastest per pixel
# here (a 1536x1536 plane on 2 threads: 2.3 s per megapixel in 512 tiles, 2.6 in 384, 2.7 in
# 768, 3.1 in 1120, 3.7 whole: larger convolutions leave the CPU caches).
CPU_BUDGET_BYTES = 256 << 20
# On CUDA, the share of the free memory (torch.cuda.mem_get_info) a tile may use.
CUDA_SHARE = 0.5


def tile_pixels(device: torch.device | str, bytes_per_pixel: float) -> int:
    """How many pixels one network call may take on ``device``: a fixed budget on a CPU,
    half the free memory on CUDA.

    Example:
        >>> tile_pixels("cpu", 1024) == CPU_BUDGET_BYTES // 1024
        True
    """
    device = torch.device(device)
    budget = CPU_BUDGET_BYTES
    if device.type == "cuda":
        budget = int(cuda_free_bytes(device) * CUDA_SHARE)
    return max(int(budget // bytes_per_pixel), 64 * 64)


def tile_side(pixels: int) -> int:
    """The side of a square tile of at most ``pixels`` pixels: a multiple of 8, at least 64.

    Example:
        >>> tile_side(100_000), tile_side(10)
        (312, 64)
    """
    return max(64, int(math.sqrt(pixels)) // 8 * 8)


def tile_spans(length: int, tile: int, overlap: int, align: int = 8) -> list[tuple[int, int]]:
    """``(start, stop)`` of the fewest tiles of at most ``tile`` pixels (plus up to
    ``align - 1``) that cover ``[0, length)`` with at least ``overlap`` pixels shared by
    neighbours; the tiles are spread evenly (so that little work is repeated) and start at
    multiples of ``align``.

    Example:
        >>> tile_spans(100, 48, 16)
        [(0, 48), (24, 72), (48, 100)]
        >>> tile_spans(40, 48, 16)
        [(0, 40)]
    """
    if tile >= length:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count / align) * align
    while True:  # rounding the starts down to ``align`` may eat into an overlap: widen
        starts = [int(i * (length - size) / (count - 1)) // align * align for i in range(count)]
        stops = [s + size for s in starts[:-1]] + [length]
        if all(stop - nxt >= overlap for stop, nxt in zip(stops, starts[1:])):
            return list(zip(starts, stops))
        size += align


def _ramp(size: int, lead: int, trail: int, like: torch.Tensor) -> torch.Tensor:
    """Weights along one axis of a tile that shares ``lead`` pixels with the previous tile
    and ``trail`` with the next (0: it touches the image border there, flat).

    Across a shared stretch of ``L`` pixels the weight is 0 over its first quarter (those
    pixels are context only: a network sees least around them), rises linearly over the
    middle half, and the neighbour's weight is the mirror image, so the two sum to 1.
    """
    w = torch.ones(size, dtype=like.dtype, device=like.device)
    if lead:
        w[:lead] = _rise(lead, like)
    if trail:
        w[size - trail:] = torch.minimum(w[size - trail:], _rise(trail, like).flip(0))
    return w


def _rise(length: int, like: torch.Tensor) -> torch.Tensor:
    j = torch.arange(length, dtype=like.dtype, device=like.device) + 0.5
    return ((j - length / 4) / (length / 2)).clamp(0, 1)


def _spans(length: int, tile: int, overlap: int, align: int) -> list[tuple[int, int, int, int]]:
    """``(start, stop, lead, trail)`` per tile along one axis; ``lead``/``trail``: how many
    pixels it shares with the previous/next tile."""
    spans = tile_spans(length, tile, overlap, align)
    return [(a, b, (spans[i - 1][1] - a) if i else 0,
             (b - spans[i + 1][0]) if i + 1 < len(spans) else 0)
            for i, (a, b) in enumerate(spans)]


def tile_count(height: int, width: int, tile: int, overlap: int = 32, align: int = 8) -> int:
    """How many tiles (calls of ``fn``) :func:`tiled` makes for an image of this size.

    Example:
        >>> tile_count(100, 140, 48, 16), tile_count(40, 40, 48, 16)
        (12, 1)
    """
    return len(tile_spans(height, tile, overlap, align)) * len(tile_spans(width, tile, overlap, align))


def tiled(fn, x: torch.Tensor, *, tile: int, overlap: int = 32, align: int = 8,
          done: Callable[[], object] | None = None) -> torch.Tensor:
    """``fn(x)`` computed tile by tile (see the module docstring).

    Args:
        fn: ``(B, C, h, w) -> (B, C', h, w)``.
        x: ``(B, C, H, W)``.
        tile: tile side in pixels (tiles are square, except at the bottom and right edges).
        overlap: pixels of context shared by neighbouring tiles and cross-faded.
        align: tile starts are multiples of this.
        done: called after each tile (a progress bar's ``update``); :func:`tile_count` says
            how many times.

    Returns:
        ``(B, C', H, W)``: each pixel a weighted mean of the tiles that cover it, weights
        falling linearly towards the tile's inner edges, 0 over the last quarter of an
        overlap (so a filter that sees ``overlap / 4`` pixels around is exact).
    """
    h, w = x.shape[-2:]
    done = done or (lambda: None)
    if tile >= h and tile >= w:
        out = fn(x)
        done()
        return out
    out = None
    weight = torch.zeros(h, w, dtype=x.dtype, device=x.device)
    for top, bottom, lead_y, trail_y in _spans(h, tile, overlap, align):
        wy = _ramp(bottom - top, lead_y, trail_y, x)
        for left, right, lead_x, trail_x in _spans(w, tile, overlap, align):
            wxy = wy[:, None] * _ramp(right - left, lead_x, trail_x, x)[None]
            piece = fn(x[..., top:bottom, left:right])
            if out is None:
                out = piece.new_zeros(*piece.shape[:2], h, w)
            out[..., top:bottom, left:right] += wxy * piece
            weight[top:bottom, left:right] += wxy
            done()
    return out / weight
