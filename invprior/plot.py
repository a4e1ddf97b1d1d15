"""What the solver did, as a picture: loss, PSNR and the stopping rule's signal per
iteration, with the returned iteration marked; drawn with Pillow (which imageio brings), so
no plotting library is needed.

Convention:
    One chart per ``Result`` (of a batch: its first item, as the Result's fields are). The
    panels share the x axis, the iteration (1 to ``iterations``, as ``Result.iteration``): ``losses``
    (log scale), ``psnrs`` when the truth was given (``--simulate``), ``stop_signal``
    (log scale). A signal with a value per step once it starts (the windowed variance
    starts when its window is full) is aligned with the last steps of the run; one checked
    less often (the discrepancy rule every 10 steps, a trained prior's held-out residual
    every 5 steps of its adaptation), i.e. fewer than one value per 5 steps, is drawn
    against its own axis, the check number. A red
    line marks ``Result.iteration``, the estimate that was returned. A one-pass prior has
    nothing to plot; its figure says so in words.

Example:
    >>> from invprior.result import Result
    >>> run = Result(torch.zeros(1, 1, 8, 8), losses=[1.0, 0.5, 0.3], iteration=2, iterations=3)
    >>> history_chart(run, width=320).size[0], nothing_to_plot(run)
    (320, None)
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

__all__ = ["plot_history", "history_chart", "nothing_to_plot", "line_panel", "font",
           "to_pil"]

INK, GRID, MARK = (40, 40, 40), (215, 215, 215), (200, 30, 30)
COLOURS = {"loss": (31, 119, 180), "PSNR (dB)": (44, 160, 44), "stopping signal": (148, 103, 189)}


def font(size: int = 12):
    """Pillow's built-in font at ``size`` pixels (a bitmap font where FreeType is missing)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def to_pil(x: torch.Tensor):
    """An image ``(1, C, H, W)`` / ``(C, H, W)`` in [0, 1] as an RGB ``PIL.Image`` (clipped).

    Example:
        >>> to_pil(torch.rand(1, 1, 4, 6)).size
        (6, 4)
    """
    from PIL import Image

    from .io import to_array

    a = to_array(x.clamp(0, 1))
    a = (a * 255 + 0.5).astype("uint8")
    return Image.fromarray(a).convert("RGB")


def nothing_to_plot(result) -> str | None:
    """A sentence when ``result`` has no history to draw (a one-pass prior, or
    plug-and-play, which traces only PSNR against a known truth), else None.

    Example:
        >>> from invprior.result import Result
        >>> nothing_to_plot(Result(torch.zeros(1, 1, 2, 2), iteration=1, iterations=1, prior="denoiser"))
        'nothing to plot: the denoiser prior ran one pass, with no iterations to draw.'
        >>> nothing_to_plot(Result(torch.zeros(1, 1, 2, 2), iteration=32, iterations=32, prior="denoiser"))
        'nothing to plot: the denoiser prior ran 32 iterations without a trace (it traces PSNR per iteration only against a known truth: --simulate).'
        >>> nothing_to_plot(Result(torch.zeros(1, 1, 2, 2), iteration=32, iterations=32, prior="inpainter"))
        "nothing to plot: the inpainter prior's 32 iterations refine its fill, with which they are averaged, and trace nothing."
    """
    if result.losses or len(result.psnrs) > 1 or len(result.stop_signal) > 1:
        return None
    prior = result.prior or "chosen"
    if result.iterations > 1 and prior == "inpainter":  # (said to use --simulate, under it)
        return (f"nothing to plot: the inpainter prior's {result.iterations} iterations refine "
                "its fill, with which they are averaged, and trace nothing.")
    if result.iterations > 1:
        return (f"nothing to plot: the {prior} prior ran {result.iterations} iterations without "
                "a trace (it traces PSNR per iteration only against a known truth: --simulate).")
    return f"nothing to plot: the {prior} prior ran one pass, with no iterations to draw."


def line_panel(draw, box: tuple, ys: list, *, xs: list | None = None, xmax: float | None = None,
               label: str = "", colour=INK, log: bool = False, mark: float | None = None,
               axis: bool = True, xlabel: str = "iteration") -> None:
    """Draw one curve ``ys`` (at ``xs``, default 0, 1, ...) in ``box = (x0, y0, x1, y1)`` of a
    ``PIL.ImageDraw``: a frame, the label above it, the min and max value at the left, the
    x range and ``xlabel`` below it (``axis``) and a red line at ``x = mark``.

    Example:
        >>> from PIL import Image, ImageDraw
        >>> im = Image.new("RGB", (200, 100), "white")
        >>> line_panel(ImageDraw.Draw(im), (40, 15, 195, 80), [3.0, 2.0, 1.5], log=True, mark=1)
    """
    xs = list(range(len(ys))) if xs is None else list(xs)
    pts = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y) and (y > 0 or not log)]
    small = font(11)
    x0, y0, x1, y1 = box
    draw.rectangle(box, outline=GRID)
    draw.text((x0, y0 - 13), label + (" (log)" if log else ""), fill=colour, font=small)
    if not pts:
        draw.text((x0 + 4, y0 + 4), "no finite values", fill=INK, font=small)
        return
    top = max(xmax if xmax is not None else 0, max(x for x, _ in pts), 1)
    f = math.log10 if log else (lambda v: v)
    lo, hi = min(f(y) for _, y in pts), max(f(y) for _, y in pts)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5

    def px(x, y):
        return (x0 + 1 + (x1 - x0 - 2) * x / top, y1 - 2 - (y1 - y0 - 4) * (f(y) - lo) / (hi - lo))

    if mark is not None:
        mx = px(min(max(mark, 0), top), pts[0][1])[0]
        draw.line([(mx, y0), (mx, y1)], fill=MARK, width=1)
    if len(pts) == 1:
        cx, cy = px(*pts[0])
        draw.ellipse((cx - 2, cy - 2, cx + 2, cy + 2), fill=colour)
    else:
        draw.line([px(x, y) for x, y in pts], fill=colour, width=1)
    unf = (lambda v: 10**v) if log else (lambda v: v)
    draw.text((x0 - 3, y0), f"{unf(hi):.3g}", fill=INK, font=small, anchor="ra")
    draw.text((x0 - 3, y1), f"{unf(lo):.3g}", fill=INK, font=small, anchor="rd")
    if axis:
        draw.text((x0, y1 + 2), "0", fill=INK, font=small)
        draw.text((x1, y1 + 2), f"{top:g}", fill=INK, font=small, anchor="ra")
        draw.text(((x0 + x1) / 2, y1 + 2), xlabel, fill=INK, font=small, anchor="ma")


def _signal_steps(signal: list, iterations: int) -> list | None:
    """The iterations of the stopping rule's checks, or None when they are not one per step
    (see the Convention)."""
    n = len(signal)
    if n * 5 >= iterations:
        return list(range(iterations - n + 1, iterations + 1))
    return None


def _counted(values: list) -> list:
    """The iterations 1, 2, ... of a trace with a value per iteration."""
    return list(range(1, len(values) + 1))


def history_chart(result, *, width: int = 640, title: str = ""):
    """The run of ``result`` as a ``PIL.Image`` ``width`` pixels wide: one panel per trace
    (loss, PSNR, stopping signal; see the Convention), the returned iteration marked in
    red, ``title`` above and the stop reason below (wrapped to the width). A one-pass
    result gives a small image saying ``nothing_to_plot(result)``.

    Example:
        >>> from invprior.result import Result
        >>> run = Result(torch.zeros(1, 1, 8, 8), losses=[1.0, 0.5, 0.4], psnrs=[20.0, 22.0, 23.0],
        ...              stop_signal=[0.1, 0.05, 0.04], iteration=2, iterations=3, stop_reason="done")
        >>> history_chart(run, width=400).size
        (400, 260)
    """
    from PIL import Image, ImageDraw

    title = title or (f"{result.prior} prior" if result.prior else "solver run")
    traces = []  # (label, values, x positions or None, log scale, own x axis)
    if result.losses:
        traces.append(("loss", result.losses, _counted(result.losses), True, False))
    if len(result.psnrs) > 1:
        traces.append(("PSNR (dB)", result.psnrs, _counted(result.psnrs), False, False))
    if len(result.stop_signal) > 1:
        steps = _signal_steps(result.stop_signal, max(result.iterations, len(result.stop_signal)))
        traces.append(("stopping signal", result.stop_signal, steps, True, steps is None))
    shared = [k for k, t in enumerate(traces) if not t[4]]
    small = font(11)
    empty = nothing_to_plot(result)
    if empty:
        words = empty
    else:
        words = f"returned iteration {result.iteration} of {result.iterations}: {result.stop_reason}"
    lines = _wrap(words, small, width - 12)
    panel, label, axis = 50, 14, 16
    boxes, y = [], 24
    for k, trace in enumerate(traces):
        y += label
        has_axis = trace[4] or (shared and k == shared[-1])
        boxes.append((y, has_axis))
        y += panel + (axis if has_axis else 4)
    height = y + 14 * len(lines) + 6
    im = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(im)
    draw.text((6, 4), title, fill=INK, font=font(13))
    xmax = max([result.iterations, 1] + [len(t[1]) for t in traces])
    for (name, ys, xs, log, own), (top, has_axis) in zip(traces, boxes):
        box = (52, top, width - 8, top + panel)
        if own:  # a sparse signal against its own axis: the check number
            line_panel(draw, box, ys, label=name + " per check", colour=COLOURS[name], log=log,
                       xlabel="check")
        else:
            line_panel(draw, box, ys, xs=xs, xmax=xmax, label=name, colour=COLOURS[name],
                       log=log, mark=result.iteration, axis=has_axis)
    for k, line in enumerate(lines):
        draw.text((6, y + 14 * k), line, fill=INK if empty else MARK, font=small)
    return im


def _wrap(text: str, fnt, width: int) -> list:
    """``text`` split into lines no wider than ``width`` pixels (at word boundaries)."""
    from PIL import Image, ImageDraw

    measure = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength
    lines = [""]
    for word in text.split():
        trial = f"{lines[-1]} {word}".strip()
        if lines[-1] and measure(trial, font=fnt) > width:
            lines.append(word)
        else:
            lines[-1] = trial
    return lines


def plot_history(result, path: str | os.PathLike, *, overwrite: bool = False,
                 title: str = "", width: int = 640) -> Path:
    """Write ``history_chart(result)`` to the PNG ``path`` atomically; never replaces an
    existing file unless ``overwrite``. A one-pass result gives a figure that says there is
    nothing to plot (``nothing_to_plot``).

    Example:
        >>> from invprior.result import Result
        >>> run = Result(torch.zeros(1, 1, 8, 8), losses=[1.0, 0.5], iteration=1, iterations=2)
        >>> plot_history(run, "run.png")  # doctest: +SKIP
        PosixPath('run.png')
    """
    from .io import ImageError, atomic_write, new_output

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ImageError(f"cannot write the plot '{path}': use a .png name.")

    def write():
        image = history_chart(result, width=width, title=title)
        return atomic_write(path, lambda tmp: image.save(tmp, format="PNG", optimize=True),
                            replace=overwrite)

    return new_output(path, overwrite, write)
