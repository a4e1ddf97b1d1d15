"""What a command does at its start: its output streams made steady (what it prints can no
longer end it), and the signals that stop a job taken as Ctrl-C.

A restoration's outputs are its files; its progress bars and summary line are a courtesy.
Yet a progress bar written to a closed stderr (``2>&-``) or into a pipe whose reader has
gone (``cmd 2>&1 | tee log``, tee killed), or a summary line printed to ``| head -1``,
raised ``OSError`` in the middle of the work: the solve was lost with nothing written
(or a traceback came after it). A file name that the terminal's encoding cannot show
(``PYTHONIOENCODING=ascii``, a name that is not UTF-8) failed the same way at the summary.

``steady_streams()`` (called at the start of ``python -m invprior.solve``, ``.train`` and
``.bench``) opens the null device for a stream closed before the start, writes characters
the encoding cannot show as escapes (``\\u0444``), and sends a stream that fails later to
the null device, so the command goes on and ends with its own exit status. A caller's own
replacement streams (a notebook's, pytest's) are left as they are.

Example:
    >>> import io
    >>> broken = _Steady(io.StringIO())
    >>> broken._stream.close()  # as a pipe whose reader has gone
    >>> broken.write("still fine\\n")
    11
"""

from __future__ import annotations

import contextvars
import math
import os
import re
import sys
from contextlib import contextmanager

__all__ = ["bar_options", "say", "shown_at", "shown_level", "shown_psnr", "steadied", "steady_streams", "stop_on_signals", "stopped_by", "total_in_time"]


def steady_streams() -> None:
    """Make this process's own stdout and stderr steady (module docstring); idempotent."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:  # closed before the start: Python gives None, tqdm then failed
            setattr(sys, name, open(os.devnull, "w"))
        elif stream is getattr(sys, f"__{name}__"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (AttributeError, ValueError, OSError):
                pass
            setattr(sys, name, _Steady(stream))


@contextmanager
def steadied():
    """``steady_streams()`` inside; after, the streams as they were, flushed through the
    steady ones first (a program that calls ``cli.main`` in its own process had kept our
    wrappers, and its own write errors were swallowed from then on)."""
    names = ("stdout", "stderr")
    before = {name: getattr(sys, name) for name in names}
    errors = {name: getattr(stream, "errors", None) for name, stream in before.items()}
    steady_streams()
    try:
        yield
    finally:
        for name in names:
            now = getattr(sys, name)
            if now is before[name]:
                continue
            try:
                now.flush()  # (a gone pipe found here, not at the interpreter's exit)
            except Exception:
                pass
            if before[name] is None:  # the null device opened for it
                getattr(now, "_stream", now).close()
            elif errors[name]:
                try:
                    before[name].reconfigure(errors=errors[name])
                except (AttributeError, ValueError, OSError):
                    pass
            setattr(sys, name, before[name])


class _Steady:
    """A text stream whose writes and flushes never raise ``OSError``: the first failure
    points its file descriptor at the null device (as Python's documentation advises for
    ``BrokenPipeError``, so that the final flush at exit is quiet too), and the text is
    dropped. Everything else is the stream's own."""

    def __init__(self, stream, mute: bool = True):
        self._stream, self._mute = stream, mute

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):  # (ValueError: a stream closed under us)
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self._gone()

    def _gone(self) -> None:
        if not self._mute:  # (``mute=False``: the text dropped, the descriptor left alone)
            return
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)

    # the stream it wraps, to tqdm: it measures a terminal's width, and clears its bars for
    # tqdm.write, only where a bar's file == sys.stderr (a bar had kept 10 characters)
    def __eq__(self, other):
        return self._stream == getattr(other, "_stream", other)

    def __hash__(self):
        return hash(self._stream)


def say(text: str) -> None:
    """``tqdm.write(text)`` to stderr, between any bars; dropped where stderr is missing
    (pythonw) or a pipe whose reader has gone (a library's caller has no steady_streams:
    a note of the time a solve would take had ended it).

    Example:
        >>> say("note: hello")  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    if sys.stderr is None:
        return
    try:
        tqdm.write(text, file=sys.stderr)
    except (OSError, ValueError):
        pass


def bar_options(progress: bool, leave: bool = False) -> dict:
    """tqdm's keywords for a bar shown when ``progress`` is asked for. On a terminal or in a
    notebook: tqdm's own bar, kept when done if ``leave``. Into a log file or a pipe
    (``nohup ... > log``), where every redraw of every bar had been kept on one line, '\\r'
    by '\\r': one line at its start, one every ``LOG_SECONDS`` (a training of hours still
    shows that it moves) and one at its end (where it stopped). ``TQDM_DISABLE``, tqdm's own
    switch, which an explicit ``disable`` overrode, decides when set: ``TQDM_DISABLE=1`` (or
    any other word) no bars, ``TQDM_DISABLE=0`` (``false``, ``no``, ``off``) tqdm's bar
    wherever the output goes.

    Example:
        >>> bar_options(False)
        {'disable': True, 'leave': False}
    """
    said = os.environ.get("TQDM_DISABLE", "").strip().lower()
    if not progress or said not in ("", "0", "false", "no", "off") or sys.stderr is None:
        return {"disable": True, "leave": leave}  # (no stderr: pythonw, a service's 2>&-)
    # a bar that cannot be written (a pipe whose reader has gone) is dropped, not the solve
    # (a library's caller has no steady_streams; its stream is left as it is)
    stream = sys.stderr if isinstance(sys.stderr, _Steady) else _Steady(sys.stderr, mute=False)
    if said:  # (said as False: tqdm's own reading of "0" was bool("0"), no bar)
        return {"disable": False, "file": stream, "leave": leave}
    # disable said each time: tqdm reads TQDM_* once, at its import (a process started with
    # TQDM_DISABLE=0 had "0", read as true, as every bar's default)
    if _in_notebook() or _is_terminal(sys.stderr):
        return {"disable": False, "file": stream, "leave": leave}
    return {"disable": False, "file": _LogLines(stream), "mininterval": LOG_SECONDS,
            "maxinterval": LOG_SECONDS, "leave": True}


def total_in_time(bar, done: int, asked: int, seconds_left: float,
                  seconds_each: float | None, stops_before: bool = False) -> None:
    """Make ``bar``'s total the steps that a time limit leaves room for, where fewer than the
    ``asked``, so that its time left is the limit's: a 60 s limit on 100000 iterations had
    shown "3/100000 [00:38<352:24:57]". ``seconds_each``: one step's (None: not known yet).
    ``stops_before``: the run stops before a step that would pass the limit (plug-and-play),
    not after the step that passes it (the network priors' loop, the trainer).

    Example:
        >>> from tqdm import tqdm
        >>> bar = tqdm(total=100000, disable=True)
        >>> total_in_time(bar, 3, 100000, seconds_left=20.0, seconds_each=2.0)
        >>> bar.total
        13
        >>> total_in_time(bar, 3, 100000, seconds_left=1e308, seconds_each=1e-3)  # (OverflowError)
        >>> bar.total
        100000
    """
    if not (seconds_each and math.isfinite(seconds_left)):  # (max_seconds=inf: no limit)
        return
    room = min(seconds_left / seconds_each, asked)  # (1e308 / 0.01 is inf: int() had failed)
    if stops_before:
        bar.total = min(asked, done + max(int(room), 0))
    else:  # (at least one more: a caller between steps takes the next, and it may pass)
        bar.total = min(asked, done + max(math.ceil(room), 1))


# the scale a dim image is restored at (``dim.restore_stretched``: y / scale): its bars say
# PSNR and noise on y's own scale, as its result does (they had said 25.93 dB for 65.93)
_SHOWN_SCALE = contextvars.ContextVar("shown_scale", default=1.0)


@contextmanager
def shown_at(scale: float):
    """Progress bars inside say the PSNR and noise of an image restored as ``y / scale`` on
    the scale of ``y`` (``shown_psnr``, ``shown_level``)."""
    token = _SHOWN_SCALE.set(scale)
    try:
        yield
    finally:
        _SHOWN_SCALE.reset(token)


def shown_psnr(value: float) -> str:
    """A traced PSNR as a bar shows it, on the scale of ``y`` (``shown_at``).

    Example:
        >>> with shown_at(0.01):
        ...     shown_psnr(25.93)
        '65.93'
    """
    return f"{value - 20 * math.log10(_SHOWN_SCALE.get()):.2f}"


def shown_level(sigma: float) -> str:
    """A noise std on the [0, 1] scale as a bar shows it, on the scale of ``y``.

    Example:
        >>> shown_level(10 / 255)
        '10.0/255'
    """
    return f"{255 * sigma * _SHOWN_SCALE.get():.1f}/255"


LOG_SECONDS = 30.0  # a bar's lines in a log: one at its start, then one per this many seconds
_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # a terminal's cursor moves (tqdm: ESC[A)


def _in_notebook() -> bool:
    from tqdm import autonotebook, std

    return autonotebook.tqdm is not std.tqdm  # (tqdm's own choice of its notebook bar)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _LogLines:
    """A bar in a log: each redraw (tqdm writes '\\r' then the bar) on its own line; a
    cleared bar (blanks) leaves nothing, nor do the cursor moves of bars drawn one under
    another (a folder's files and each file's network: a line of ``ESC[A`` each)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        for drawn in _ESCAPES.sub("", text).split("\r"):
            if drawn.strip():
                self._stream.write(drawn.strip() + "\n")
        return len(text)

    def __getattr__(self, name):  # (flush, encoding: the stream's own)
        return getattr(self._stream, name)


_STOPPED_BY = ["Ctrl-C"]  # the last stop: a signal's name, once one came
# the signals a command takes as Ctrl-C (the names: SIGHUP is not on every system)
STOPPING = ("SIGTERM", "SIGHUP")


def stopped_by() -> str:
    """What stopped the run, for its messages: ``"Ctrl-C"``, ``"SIGTERM"`` or ``"SIGHUP"``
    (a job stopped by its scheduler had said "interrupted (Ctrl-C)").

    Example:
        >>> stopped_by()
        'Ctrl-C'
    """
    return _STOPPED_BY[0]


@contextmanager
def stop_on_signals():
    """Inside: SIGTERM (a job scheduler's or ``kill``'s stop) and SIGHUP (the terminal or the
    ssh session closed) are taken as Ctrl-C, so that a command ends by its own rules
    (temporary files removed, what is done written, a hint to resume) instead of at once
    with a temporary file left behind and the work lost (SIGHUP had lost a deep image
    prior's minutes). A signal the caller handles already (``nohup`` ignores SIGHUP) is
    left as it is. After: the handlers as they were, and ``stopped_by()`` says Ctrl-C again
    (a service calling ``main()`` had its own code stopped by a later SIGHUP).

    Example:
        >>> import signal
        >>> with stop_on_signals():
        ...     signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        True
        >>> signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        True
    """
    import signal

    def stop(number, frame):
        _STOPPED_BY[0] = signal.Signals(number).name
        raise KeyboardInterrupt

    _STOPPED_BY[0] = "Ctrl-C"  # (SIGINT keeps Python's own handler, which others put back)
    kept = {}
    for name in STOPPING:
        number = getattr(signal, name, None)
        try:
            if number is not None and signal.getsignal(number) == signal.SIG_DFL:
                kept[number] = signal.signal(number, stop)
        except ValueError:  # not the main thread (main() called from a thread): left as it is
            pass
    try:
        yield
    finally:
        for number, handler in kept.items():
            signal.signal(number, handler)
        _STOPPED_BY[0] = "Ctrl-C"


@contextmanager
def stops_held():
    """Inside: Ctrl-C, and SIGTERM and SIGHUP where a handler takes them (``stop_on_signals``),
    held back to the end, where the first comes through as it would have: a step of work
    is done whole or not begun. A training step cut between its two optimizers' updates had
    left weights a step ahead of the step counted, which ``--resume`` then took again (1
    run in 8 off by 0.16). Elsewhere than the main thread, nothing is held.

    Example:
        >>> import signal
        >>> try:
        ...     with stops_held():
        ...         signal.raise_signal(signal.SIGINT)
        ...         print("the step ends")
        ... except KeyboardInterrupt:
        ...     print("then Ctrl-C")
        the step ends
        then Ctrl-C
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came = []
    kept = {}
    for name in ("SIGINT", *STOPPING):
        number = getattr(signal, name, None)
        handler = signal.getsignal(number) if number is not None else None
        if callable(handler):  # (ignored, default or set outside Python: left as it is)
            kept[number] = signal.signal(number, lambda n, frame: came.append(n))
    try:
        yield
    finally:
        for number, handler in kept.items():
            signal.signal(number, handler)
    if came:
        signal.raise_signal(came[0])
