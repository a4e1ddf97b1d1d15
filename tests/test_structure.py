"""The package's shape: no import cycle, every module importable on its own, the weights the
defaults load inside a built wheel, and a new prior is one class plus one registry line."""

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import operators as O
from invprior import priors
from invprior.api import solve
from invprior.metrics import psnr
from invprior.priors.base import ItemwisePrior
from invprior.result import Result
from invprior.weights import FILES

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> dict:
    """``{dotted name: file}`` of every module of invprior and operators."""
    found = {}
    for package in ("invprior", "operators"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict) -> set:
    """The project modules that ``name`` imports, lazy (in-function) imports included."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{target}.{alias.name}"
                deps.add(full if full in modules else target)
        elif isinstance(node, ast.Import):
            deps.update(alias.name for alias in node.names)
    return {d for d in deps if d in modules and d != name}


def test_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state = {}

    def visit(name, trail):
        if state.get(name) == "open":
            cycle = trail[trail.index(name):] + [name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if state.get(name) == "done":
            return
        state[name] = "open"
        for dep in sorted(graph[name]):
            visit(dep, trail + [name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])
    # operators never imports invprior
    assert not any(d.startswith("invprior") for n in graph if n.startswith("operators")
                   for d in graph[n])


# One interpreter for every module: the third-party packages (torch: ~3.5 s to import on a
# 2-core machine, ~70 modules) load once, and before each module ours are all forgotten, so
# each of our modules is imported with none of the others already loaded.
_ONE_BY_ONE = """
import importlib, sys, torch, numpy, scipy, skimage, kornia
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("invprior", "operators")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as error:
        failed.append(f"{name}: {type(error).__name__}: {error}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_on_its_own():
    names = sorted(n for n in _modules() if not n.endswith("__main__"))
    run = subprocess.run([sys.executable, "-c", _ONE_BY_ONE, *names], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]


def test_a_plain_import_reaches_every_subpackage():
    # `import invprior` then `invprior.priors.PRIORS` had been an AttributeError (the README's)
    code = ("import invprior, sys; assert 'invprior.priors' not in sys.modules; "
            "print(invprior.priors.PRIORS['denoiser'].__name__, invprior.allocator.__name__, "
            "invprior.solve.__module__, hasattr(invprior, 'nothere') or hasattr(invprior, 'x.y'))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.stdout.split() == ["CNNPrior", "invprior.allocator", "invprior.api", "False"], run


def test_the_wheel_holds_every_file_the_defaults_load(tmp_path):
    # built from a copy: a build leaves build/ and *.egg-info beside its sources
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path), str(source)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("invprior-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"invprior/weights/{f}" for f in FILES} <= names
    assert "operators/__init__.py" in names and "invprior/priors/cnn.py" in names


class MedianPrior(ItemwisePrior):
    """A whole new prior: a 3x3 median of the operator's initial estimate."""

    name = "median"

    def restore_one(self, y, op, *, noise_level, truth, progress, desc):
        import kornia

        image = kornia.filters.median_blur(op.initial_estimate(y), 3)
        return Result(image, iteration=1, iterations=1, stop_reason="3x3 median (one pass)")


def test_a_new_prior_is_one_class_and_one_registry_line(monkeypatch, camera64):
    monkeypatch.setitem(priors.PRIORS, "median", MedianPrior)  # the registry line
    noisy = camera64 + 0.1 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))
    batch = torch.cat([noisy, noisy.flip(-1)])
    out = solve(batch, O.Denoising(), prior="median", progress=False,
                truth=torch.cat([camera64, camera64.flip(-1)]))
    assert out.prior == "median" and len(out.items) == 2 and out.image.shape == batch.shape
    assert psnr(out.image[:1], camera64) > psnr(noisy.clamp(0, 1), camera64) + 3  # measured +4.8
    with pytest.raises(ValueError, match="the median prior does not take"):
        solve(noisy, O.Denoising(), prior="median", iters=3)


def test_the_operators_package_is_importable_under_invprior():
    # invprior.operators.Blur worked as an attribute (the README's spelling), but
    # "import invprior.operators" and "from invprior.operators import Blur" failed
    import invprior.operators
    from invprior.operators import Blur

    assert invprior.operators is O and Blur is O.Blur


def test_a_users_operators_py_in_the_working_folder_does_not_hide_ours(tmp_path):
    # a natural name for one's custom operators: every command, --help too, had ended in
    # "No module named 'operators.base'; 'operators' is not a package"
    (tmp_path / "operators.py").write_text("def add(a, b):\n    return a + b\n")
    root = str(Path(__file__).resolve().parent.parent)
    env = {"PYTHONPATH": root, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "invprior.solve", "--help"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0 and "--op" in run.stdout, run.stderr[-2000:]
    code = "import invprior; print(invprior.operators.Blur.__name__)"
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env=env)
    assert run.returncode == 0 and run.stdout.strip() == "Blur", run.stderr[-2000:]
