"""Noise-free inpainting restored only where the holes are.

A noise-free observation keeps its observed pixels exactly (``base.keeper``), so a prior
that works locally (plug-and-play, the trained inpainter's fill and its refinement) needs
only the holes and some context around them: the smallest rectangle holding every missing
pixel, plus ``MARGIN`` pixels (``hole_window``). A blemish in a photo then costs what the
blemish costs, not what the photo costs: thin scribbles in a 200x200 patch of the 512x512
RGB astronaut, plug-and-play 80 s on the whole image, 12.6 s on the window (2 CPU threads),
28.17 and 28.25 dB inside the holes; a 60x90 box there, the inpainter 17.9 s with its fill
on the whole image, 7.0 s, 15.21 and 15.19 dB. A 12-megapixel photo would take over an hour
whole (BENCHMARKS.md, "Large images, folders": 16-23 s per command on the window).
A mask that hides nothing has the empty window ``EMPTY``: plug-and-play, sparse, the
inpainter, the deep image prior, the deep decoder and the trained generators then return
``y`` without running (the network priors read only that, as they cannot work in a window).

Convention: a window is an index ``(..., rows, cols)`` of slices, so that ``y[window]``,
``mask[window]`` and ``image[window] = ...`` all work on ``(..., H, W)`` tensors.

Example:
    >>> import operators as O
    >>> op = O.Inpainting(O.box_mask((200, 200), (90, 90, 10, 10)))
    >>> window = inpainting_window(op, torch.rand(1, 1, 200, 200), levels=[0.0])
    >>> window[1:], tuple(op.mask[window].shape[-2:])
    ((slice(58, 132, None), slice(58, 132, None)), (74, 74))
"""

from __future__ import annotations

import math

import torch

import operators as O
from operators.mask import hole_box

from ..result import Result

__all__ = ["hole_window", "inpainting_window", "restore_in_window", "MARGIN", "WINDOW_SHARE",
           "EMPTY"]

# Context kept around the holes: for plug-and-play started from the trained inpainter's fill,
# one 90x60 box in the 512x512 RGB astronaut gave 16.80 dB inside the hole at 32 pixels,
# 16.80 at 16, 16.81 at 64, 16.79 on the whole image
MARGIN = 32
# a window larger than this share of the image is not worth cropping to
WINDOW_SHARE = 0.8
# the window of a mask that hides nothing
EMPTY = (..., slice(0, 0), slice(0, 0))


def hole_window(mask: torch.Tensor, margin: int = MARGIN) -> tuple:
    """The index ``(..., rows, cols)`` of the smallest rectangle holding every missing pixel
    (value < 0.5) of ``mask (..., H, W)`` and ``margin`` pixels around it; ``EMPTY`` where
    nothing is missing.

    Example:
        >>> hole_window(O.box_mask((100, 100), (10, 50, 5, 5)), margin=8)
        (Ellipsis, slice(2, 23, None), slice(42, 63, None))
    """
    box = hole_box((mask < 0.5).reshape(-1, *mask.shape[-2:]).any(0), margin)
    return EMPTY if box is None else (..., *box)


def inpainting_window(op, y: torch.Tensor, levels, keep: bool | None = None) -> tuple | None:
    """The window to restore instead of the whole of ``y (B, C, H, W)``, or None: only for
    an ``operators.Inpainting`` with a binary mask, a noise-free observation (every one of
    ``levels`` 0) whose observed pixels are kept (``keep`` not False), and a window of at
    most ``WINDOW_SHARE`` of the image. Not for a subclass of ``Inpainting``: the crop
    would be a plain one, without what the subclass changes. Where nothing is missing, an
    empty window (``EMPTY``): the observation is the image, and ``restore_in_window``
    returns it without running anything (a mask drawn white everywhere by mistake would
    otherwise cost plug-and-play's whole run: over an hour, by estimate, for a 12-megapixel
    photo)."""
    if type(op) is not O.Inpainting or keep is False or any(levels) or y.ndim != 4:
        return None
    mask = op.mask
    if mask.shape[-2:] != y.shape[-2:] or not op.is_binary():
        return None
    window = hole_window(mask)  # EMPTY (share 0) where nothing is missing
    rows, cols = window[1:]
    h, w = y.shape[-2:]
    share = len(range(h)[rows]) * len(range(w)[cols]) / (h * w)
    return window if share <= WINDOW_SHARE else None


def whole_psnrs(psnrs: list, image: torch.Tensor, truth: torch.Tensor, window: tuple) -> list:
    """The PSNRs ``psnrs`` of the window of ``image (1, C, H, W)`` against ``truth``'s,
    as PSNRs of the whole image (whose pixels outside the window are ``image``'s).

    Example:
        >>> t = torch.zeros(1, 1, 4, 4); window = (..., slice(0, 2), slice(None))
        >>> round(whole_psnrs([20.0], t, t, window)[0], 2)   # half the pixels: error 0
        23.01
    """
    squared = (image - truth).double().square()
    outside = float(squared.sum() - squared[window].sum())  # the same at every step
    inside, total = image[window].numel(), image.numel()
    whole = []
    for p in psnrs:
        mse = (10 ** (-p / 10) * inside + outside) / total
        whole.append(math.inf if mse == 0 else -10 * math.log10(mse))
    return whole


def restore_in_window(restore, window: tuple, y: torch.Tensor, op, truth=None, start=None) -> list:
    """The items (``Result``) of ``restore(y[window], Inpainting(op.mask[window]),
    truth[window], start[window])``, each image pasted into its ``y (B, C, H, W)``, whose
    pixels outside ``window`` are all observed; PSNRs traced against ``truth`` become those
    of the whole image. The ``EMPTY`` window: the images of ``y``, ``restore`` not called.

    Example:
        >>> y = torch.rand(2, 1, 8, 8)
        >>> items = restore_in_window(None, EMPTY, y, O.Inpainting(torch.ones(8, 8)))
        >>> torch.equal(items[1].image, y[1:]), items[1].iterations, items[1].stop_reason
        (True, 0, 'nothing is missing: the mask hides no pixel, so the observation is the image')
    """
    if window == EMPTY:
        return [Result(y[b : b + 1].clone(), stop_reason="nothing is missing: the mask hides no "
                       "pixel, so the observation is the image") for b in range(len(y))]
    crop = lambda t: None if t is None else t[window]  # noqa: E731
    items = restore(crop(y), O.Inpainting(op.mask[window]), crop(truth), crop(start))
    for b, item in enumerate(items):
        image = y[b : b + 1].clone()
        image[window] = item.image
        if truth is not None and item.psnrs:
            item.psnrs = whole_psnrs(item.psnrs, image, truth[b : b + 1], window)
        item.image = image
    return items
