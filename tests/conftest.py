"""Shared small test images (skimage.data, resized; no downloads)."""

import os

import pytest
import torch

from invprior.bench.cases import sample_image

torch.set_num_threads(min(2, torch.get_num_threads()))
if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: one thread each, their subprocesses too (OpenMP oversubscribed
    # runs ~10x slower)
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
# Bars drawn into pipes and captured streams as on a terminal (tqdm's own switch, which
# console.bar_options honours): tests read progress from them, e.g. to send Ctrl-C after a step.
# test_console checks the default (no bars where the stream is not a terminal).
os.environ["TQDM_DISABLE"] = "0"


@pytest.fixture(scope="session")
def camera64() -> torch.Tensor:
    """(1, 1, 64, 64) gray camera."""
    return sample_image("camera", 64)


@pytest.fixture(scope="session")
def astronaut32() -> torch.Tensor:
    """(1, 3, 32, 32) RGB astronaut."""
    return sample_image("astronaut", 32)


@pytest.fixture()
def checkpoint_file(tmp_path):
    """``make(content) -> path``: a .pt file holding ``content`` (bytes written as they are,
    anything else through torch.save), or no file at all for ``None``."""

    def make(content, name: str = "file.pt"):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            torch.save(content, path)
        return path

    return make


@pytest.fixture()
def ctrl_c_at(monkeypatch):
    """``ctrl_c_at(module, name, n)``: ``module.name`` raises KeyboardInterrupt at its n-th
    call, as a Ctrl-C in the middle of a run would (the calls before run as usual)."""

    def patch(module, name: str, n: int) -> None:
        original, calls = getattr(module, name), []

        def interrupted(*args, **kwargs):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, interrupted)

    return patch


@pytest.fixture()
def locked(monkeypatch, tmp_path):
    """``tmp_path / "locked"``, a folder we may not search: ``os.stat`` of any path through
    it raises ``PermissionError`` (so do ``Path.exists``, ``is_dir``... as they do without
    root's permissions; tests run as root here, which may search any folder)."""
    folder = str(tmp_path / "locked") + os.sep
    stat = os.stat

    def refused(path, *args, **kwargs):
        if isinstance(path, (str, os.PathLike)) and os.fspath(path).startswith(folder):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", refused)
    return tmp_path / "locked"


CODE_RAN: list = []  # what the code of ``pickled_code``'s object did when it was loaded


def _run_code():
    CODE_RAN.append(1)
    return 0


class _Pickled:
    def __reduce__(self):  # (unpickled, it calls _run_code)
        return _run_code, ()


@pytest.fixture
def pickled_code():
    """``(payload, ran)``: an object whose unpickling runs code (``torch.load`` without
    ``weights_only`` would), to save in a checkpoint, and the list that code appends to."""
    CODE_RAN.clear()
    return _Pickled(), CODE_RAN
