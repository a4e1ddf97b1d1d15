"""The commands' own streams: a closed stderr, a pipe whose reader has gone, or an encoding
that cannot show a file's name must not cost the restoration (console.py)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from invprior.io import read_image, write_image

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def _shell(line: str, tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", line], cwd=tmp_path, env=dict(ENV, **env),
                          capture_output=True, text=True, timeout=300)


def test_a_closed_stderr_or_a_gone_pipe_still_writes_the_restoration(tmp_path):
    # the progress bar's write raised OSError mid-solve: exit 1, nothing written
    write_image(tmp_path / "in.png", torch.rand(1, 1, 32, 32))
    solve = f"{sys.executable} -m invprior.solve --op deblur --sigma 1 --iters 4 in.png"
    done = _shell(f"{solve} -o a.png 2>&-", tmp_path)
    assert done.returncode == 0 and read_image(tmp_path / "a.png").image.shape == (1, 1, 32, 32)
    # stderr into a pipe whose reader ends at once; stdout's summary into another
    done = _shell(f"set -o pipefail; {solve} -o b.png 2>&1 >/dev/null | true", tmp_path)
    assert done.returncode == 0 and (tmp_path / "b.png").is_file()
    done = _shell(f"set -o pipefail; {solve} -o c.png | true", tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert (tmp_path / "c.png").is_file()


def test_a_library_call_survives_a_missing_or_broken_stderr_and_leaves_the_streams(
        monkeypatch, tmp_path):
    # solve(progress=True) under pythonw (sys.stderr None) or with a gone pipe had raised
    # AttributeError / BrokenPipeError, the work lost; cli.main in a host process had left
    # its wrappers on sys.stdout and sys.stderr for good
    import io

    import operators as O
    from invprior import solve
    from invprior.cli import main

    class Gone(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    from invprior import distributed
    from invprior.console import bar_options, say

    y = torch.rand(1, 1, 16, 16)
    for stream in (None, Gone()):
        monkeypatch.setattr(sys, "stderr", stream)
        assert solve(y, O.Blur(sigma=1.0), iters=2, progress=True).image.shape == y.shape
        say("plug-and-play: about 2 minutes")  # (the note of a long solve had raised)
    monkeypatch.undo()
    monkeypatch.delenv("TQDM_DISABLE")
    # the bar's stream, wrapped, is still the terminal to tqdm (its width, tqdm.write)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert bar_options(True)["file"] == sys.stderr
    # the command in this process: the streams it wrapped given back (as a host's own
    # stdout and stderr are, Python's: under pytest they are not, and were never wrapped)
    host = [io.TextIOWrapper(io.BytesIO(), encoding="utf-8") for _ in range(2)]
    for name, stream in zip(("stdout", "stderr"), host):
        monkeypatch.setattr(sys, name, stream)
        monkeypatch.setattr(sys, f"__{name}__", stream)
    write_image(tmp_path / "in.png", y)
    assert main(["--op", "deblur", "--sigma", "1", "--iters", "2", str(tmp_path / "in.png"),
                 "-o", str(tmp_path / "out.png")]) == 0
    assert [sys.stdout, sys.stderr] == host and b"wrote" in host[0].buffer.getvalue()
    # a torchrun rank whose stdout was closed (>&-): None again after the command, and its
    # end flushed what is there ('NoneType' object has no attribute 'flush', exit 1)
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(distributed, "launched_size", lambda: 2)
    monkeypatch.setattr(distributed.os, "_exit", lambda code: sys.exit(code))
    with pytest.raises(SystemExit) as ended:
        distributed.leave(0)
    assert ended.value.code == 0


def test_a_name_the_terminal_cannot_show_is_written_escaped(tmp_path):
    # PYTHONIOENCODING=ascii: UnicodeEncodeError at the summary (a folder run: "error:", exit 2)
    write_image(tmp_path / "фото.png", torch.rand(1, 1, 32, 32))
    done = _shell(f"{sys.executable} -m invprior.solve --op denoise фото.png -o выход/", tmp_path,
                  PYTHONIOENCODING="ascii")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "\\u0432\\u044b\\u0445\\u043e\\u0434" in done.stdout  # выход, as escapes
    assert (tmp_path / "выход" / "фото.png").is_file()


def test_bars_are_drawn_on_a_terminal_and_as_lines_into_a_log(tmp_path, monkeypatch, capsys):
    # a log file (nohup ... > log 2>&1) had kept every redraw of every bar on one line
    from invprior.cli import main

    write_image(tmp_path / "in.png", torch.rand(1, 1, 32, 32))

    def drawn(name: str) -> str:
        argv = ["--op", "deblur", "--sigma", "1", "--iters", "4", str(tmp_path / "in.png"),
                "-o", str(tmp_path / name)]
        assert main(argv) == 0
        return capsys.readouterr().err

    monkeypatch.delenv("TQDM_DISABLE")
    log = drawn("a.png")  # captured stderr: not a terminal
    lines = log.splitlines()  # its start, its end (and one per console.LOG_SECONDS between)
    assert "\r" not in log and len(lines) == 2, log
    assert lines[0].startswith("denoiser:   0%|") and lines[1].startswith("denoiser: 100%|")
    # bars one under another (a folder's files, each file's network): no cursor moves
    write_image(tmp_path / "photos" / "b.png", torch.rand(1, 1, 16, 16))
    write_image(tmp_path / "photos" / "c.png", torch.rand(1, 1, 24, 24))
    assert main(["--op", "denoise", "--prior", "dip", "--iters", "3", "--init", "none",
                 str(tmp_path / "photos"), "-o", str(tmp_path / "out")]) == 0
    log = capsys.readouterr().err
    assert "\x1b" not in log and "\r" not in log and "dip:   0%|" in log, log
    # the files bar's end names the file at work (a log had never named one)
    assert any(line.startswith("files: 100%") and line.endswith(".png]")
               for line in log.splitlines()), log
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert "\rdenoiser:   0%|" in drawn("b.png")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert "%|" not in drawn("c.png")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    monkeypatch.setenv("TQDM_DISABLE", "0")  # tqdm's own bar wherever the output goes
    assert "\rdenoiser:   0%|" in drawn("d.png")


def test_a_bars_total_under_a_time_limit_is_what_the_limit_leaves_room_for(monkeypatch, capsys):
    # a 10 s limit on 100000 iterations had ended its line "21/100000 [00:10<...]": on a
    # clock that each step moves by 0.5 s, the loop stops after the step that passes 10 s
    from invprior.fit import Loop

    monkeypatch.delenv("TQDM_DISABLE")
    w, now = torch.nn.Parameter(torch.zeros(3)), [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    loop = Loop([w], lr=0.1, iters=100000, max_seconds=10.0, progress=True, desc="fit")

    def step(k):
        now[0] += 0.5
        return (w - 1).square().sum()

    assert loop.run(step, lambda k: None)[:2] == (21, "time limit of 10 s after 21 iterations")
    assert " 21/21 [" in capsys.readouterr().err.splitlines()[-1]  # its end, in a log
    # plug-and-play stops before a step that would pass the limit: the steps that fit
    from tqdm import tqdm

    from invprior.console import total_in_time

    bar = tqdm(total=32, disable=True)
    total_in_time(bar, 3, 32, seconds_left=1.9, seconds_each=0.5, stops_before=True)
    assert bar.total == 6
    total_in_time(bar, 3, 32, seconds_left=float("inf"), seconds_each=0.5)  # (no limit)
    assert bar.total == 6
