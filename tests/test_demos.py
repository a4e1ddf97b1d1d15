"""Every demo runs with --fast in a fresh folder: exit status 0, its figure written there,
one table row per method; an existing figure is never replaced without --force.

The demos run one at a time with one torch thread (OMP_NUM_THREADS=1), all but denoise.py
with their network priors cut to a few iterations: about a minute and a half in all on a
2-core CPU.
"""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from invprior.io import read_image, write_image

ROOT = Path(__file__).resolve().parent.parent
DEMOS = ROOT / "demos"

# demo -> (figure it writes by default, the methods of its table in order)
EXPECTED = {
    "denoise.py": ("denoise.png", ["nl-means", "denoiser", "sparse", "dip", "decoder"]),
    "superres.py": ("superres.png", ["bicubic", "denoiser", "sparse", "dip", "decoder"]),
    "inpaint.py": ("inpaint.png", ["biharmonic", "inpainter", "denoiser", "sparse", "dip", "decoder"]),
    "deblur.py": ("deblur.png", ["wiener", "denoiser", "sparse", "dip", "decoder"]),
    "photo_deblur.py": ("photo_deblur.png", ["wiener", "circular", "replicate", "valid"]),
    "cs_faces.py": ("cs_faces.png", ["lasso-dct", "faces-prior", "dip", "decoder"]),
    "custom_operator.py": ("custom_operator.png", ["naive-inverse", "auto=denoiser", "dip", "decoder"]),
    "show_operators.py": ("operators.png", None),
    "common.py": (None, None),
}


def _run(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(DEMOS / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _run_here(script: str, argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """A demo run in this process, as its ``__main__`` does: (exit status, stderr). What it
    changes is undone: torch's threads (``common.main`` sets them), the demos' modules."""
    monkeypatch.syspath_prepend(str(DEMOS))
    for name in ("common", script[:-3]):  # imported afresh, and gone after the test (setitem
        monkeypatch.setitem(sys.modules, name, None)  # notes it was absent)
        del sys.modules[name]
    demo, threads = importlib.import_module(script[:-3]), torch.get_num_threads()
    try:
        status = demo.common.main(demo.run, argv) if hasattr(demo, "run") else demo.main(argv)
    except SystemExit as stop:  # (argparse's refusals)
        status = stop.code
    finally:
        torch.set_num_threads(threads)
    return status, capsys.readouterr().err


def _table(stdout: str) -> list[str]:
    """The method names of the printed table: the rows between its rule and 'wrote'."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("method")) + 2
    rows = []
    for line in lines[start:]:
        if not re.match(r"\S+\s+-?[\d.]+\s+-?[\d.]+\s+[\d.]+$", line):
            break
        rows.append(line.split()[0])
    return rows


def test_every_demo_is_listed():
    assert sorted(p.name for p in DEMOS.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_demo_runs_fast(script, tmp_path):
    figure, methods = EXPECTED[script]
    # denoise.py as the README loop runs them; the others' network rows at 40 iterations
    # (--fast's 200 took half of a demo's 15 s, eight times over)
    quick = ["--iters", "40"] if methods and "dip" in methods and script != "denoise.py" else []
    run = _run(script, tmp_path, "--fast", *quick)
    assert run.returncode == 0, run.stderr[-2000:]
    if figure is None:  # the shared module: says what it is, writes nothing
        assert "run one of them" in run.stdout and not list(tmp_path.iterdir())
        return
    assert [p.name for p in tmp_path.iterdir()] == [figure]
    image = read_image(tmp_path / figure).image
    assert image.shape[1] == 3 and min(image.shape[-2:]) >= 64
    if methods is not None:
        assert _table(run.stdout) == methods, run.stdout
        assert f"wrote {figure}" in run.stdout


def test_an_existing_figure_is_kept_and_bad_input_is_one_sentence(tmp_path, monkeypatch, capsys):
    figure = tmp_path / "denoise.png"
    figure.write_bytes(b"mine")
    run = _run("denoise.py", tmp_path, "--fast")
    assert run.returncode == 2 and figure.read_bytes() == b"mine"
    assert run.stderr.strip().splitlines() == [
        "error: 'denoise.png' already exists; choose another name or pass --force."]
    # the rest in this process (a demo's start, ~3 s each, is what the one above checks)
    monkeypatch.chdir(tmp_path)
    status, said = _run_here("superres.py", ["--fast", "--image", "nothing.png"], monkeypatch, capsys)
    assert status == 2 and len(said.strip().splitlines()) == 1
    assert "no such file" in said and not (tmp_path / "superres.png").exists()
    # options a demo cannot honour are refused, not dropped (the faces prior is 32x32)
    for script, args, message in (
            ("cs_faces.py", ["--size", "64"], "unrecognized arguments: --size 64"),  # nor in --help
            ("cs_faces.py", ["--face", "2", "--image", "x.png"], "give one of them"),
            ("denoise.py", ["--sigma", "-5"], "from 0 to 255, got -5"),
            ("photo_deblur.py", ["--size", "20"], "give --size 30 or more"),  # once a traceback
            ("show_operators.py", ["-o", "a.jpg"], "the figure is a PNG")):
        status, said = _run_here(script, ["--fast", *args], monkeypatch, capsys)
        assert status == 2 and message in said, said
    assert [p.name for p in tmp_path.iterdir()] == ["denoise.png"]
    # a figure that cannot be written is refused before the work (it had been found after
    # all the methods had run: minutes at full settings)
    from invprior import api

    monkeypatch.setattr(api, "solve", lambda *a, **kw: pytest.fail("the demo worked first"))
    status, said = _run_here("denoise.py", ["--fast", "-o", "denoise.png/fig.png"], monkeypatch, capsys)
    assert status == 2 and "is a file, not a folder" in said, said


def test_a_thin_image_is_said_enlarged_and_drawn(tmp_path):
    """A 256x10 strip: its centred square enlarged, said on stderr; the figure drawn (its
    charts had a negative width, after all the work); a row that --max-seconds ended says
    so (it showed the classical row's numbers without a word)."""
    write_image(tmp_path / "strip.png", torch.rand(1, 1, 10, 256, generator=torch.Generator().manual_seed(0)))
    run = _run("denoise.py", tmp_path, "--fast", "--quiet", "--image", "strip.png", "--size", "0",
               "--max-seconds", "0.001", "-o", "strip_fig.png")
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "strip_fig.png").exists() and "time limit" in run.stdout
    run = _run("denoise.py", tmp_path, "--fast", "--quiet", "--image", "strip.png", "--iters", "20",
               "-o", "sq.png")
    assert run.returncode == 0 and "its centred 10x10 square is enlarged to 64x64" in run.stderr


def test_your_own_image(tmp_path):
    # an RGB image that is neither square nor a multiple of the factor, kept at its size
    write_image(tmp_path / "mine.png", torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(0)))
    run = _run("superres.py", tmp_path, "--fast", "--quiet", "--image", "mine.png", "--size", "0",
               "--iters", "20", "-o", "sr.png")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "17x12 -> 68x48" in run.stdout and _table(run.stdout)[0] == "bicubic"
    assert (tmp_path / "sr.png").exists()
