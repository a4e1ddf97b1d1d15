"""The training command's own checks, run in-process (``invprior.train.main``): what it
refuses at once, before any step, and what it says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import invprior.cnn.training
import invprior.glo
from invprior.train import build_parser
from invprior.train import main as train_main


@pytest.fixture()
def photos(tmp_path):
    """A folder of four small gray PNGs."""
    import imageio.v3 as iio

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        iio.imwrite(folder / f"{i}.png", rng.integers(0, 256, (40, 40), dtype=np.uint8))
    return folder


@pytest.fixture()
def no_training(monkeypatch):
    """Any training started fails the test: a refusal must come before it."""

    def trained(*args, **kwargs):
        raise AssertionError("it trained before refusing --out")

    monkeypatch.setattr(invprior.glo, "train", trained)
    monkeypatch.setattr(invprior.cnn.training, "train_denoiser", trained)


@pytest.mark.parametrize("kind", ["glo", "denoiser"])
def test_an_out_that_cannot_be_written_is_refused_before_training(tmp_path, photos, capsys,
                                                                  no_training, kind):
    # it was said when the first checkpoint was written: after every step of the run
    (tmp_path / "file.png").write_bytes(b"a file")
    (tmp_path / "d.pt").mkdir()
    args = ["--kind", kind, "--data", str(photos), "--steps", "300", "--quiet"]
    for out, extra, says in (
            (tmp_path / "file.png" / "e.pt", [], "is a file, not a folder."),
            (tmp_path / "d.pt", [], "is a folder, not a .pt file."),
            (tmp_path / "d.pt", ["--force"], "is a folder, not a .pt file.")):  # (offered)
        assert train_main([*args, *extra, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.endswith(says + "\n") and err.count("\n") == 1


def test_a_run_refused_after_the_write_check_leaves_no_empty_folder(tmp_path, capsys, no_training):
    # the check made --out's folder, then --data's refusal left it there, empty
    assert train_main(["--kind", "glo", "--out", str(tmp_path / "new" / "sub" / "g.pt")]) == 2
    assert "needs --data" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_denoiser_or_inpainter_file_cannot_be_resumed_with_the_right_article(tmp_path, capsys):
    out = tmp_path / "i.pt"
    torch.save({"format": "invprior-denoiser", "config": {"task": "inpaint"}}, out)
    assert train_main(["--data", "digits", "--out", str(out), "--resume"]) == 2
    assert f"'{out}' is an inpainter checkpoint, which cannot be resumed" in capsys.readouterr().err


def test_help_names_every_kind():
    description = build_parser().description
    for kind in ("GLO", "PCA", "denoiser", "inpainter"):
        assert kind in description


def test_an_out_through_a_folder_we_may_not_search_is_one_sentence(locked, photos, capsys,
                                                                   no_training):
    # Path.exists raised PermissionError: a traceback
    assert train_main(["--kind", "glo", "--data", str(photos), "--quiet",
                       "--out", str(locked / "g.pt")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: cannot reach '{locked / 'g.pt'}': permission denied.\n", err


def test_a_folder_named_like_a_shipped_set_torchrun_for_one_process_kinds_and_linked_data(
        tmp_path, photos, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photos.rename(tmp_path / "faces")  # (the shipped faces had been taken without a word)
    out = str(tmp_path / "p.pt")
    assert train_main(["--data", "faces", "--size", "8", "--steps", "2", "--out", out]) == 2
    assert "write ./faces for the folder" in capsys.readouterr().err
    # each rank had run it all and written --out: the last found it there, and failed
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert train_main(["--kind", "pca", "--data", "./faces", "--size", "8", "--latent", "2",
                       "--out", out]) == 2
    assert "--kind pca trains in one process; run it without torchrun" in capsys.readouterr().err
    monkeypatch.delenv("WORLD_SIZE")
    # a symlinked subfolder is searched, as a folder run does (rglob had left it out)
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "faces").symlink_to(tmp_path / "faces")
    assert train_main(["--data", "linked", "--size", "8", "--latent", "2", "--width", "4",
                       "--steps", "2", "--quiet", "--out", out]) == 0
    assert torch.load(out, weights_only=True)["config"]["images"] == 4
    # a link as --out to a training image: written through, the image had been replaced
    (tmp_path / "link.pt").symlink_to(tmp_path / "faces" / "0.png")
    before = (tmp_path / "faces" / "0.png").read_bytes()
    assert train_main(["--data", "./faces", "--size", "8", "--steps", "2", "--force",
                       "--out", str(tmp_path / "link.pt")]) == 2
    assert "which is no .pt file" in capsys.readouterr().err
    assert (tmp_path / "faces" / "0.png").read_bytes() == before


def test_training_images_smaller_than_the_patches_are_left_out_and_said(capsys):
    # the denoiser's patches: 9 of 10 images under --size had been left out without a word
    from invprior.cnn.patches import patch_pool

    images = [np.zeros((40, 50), np.float32)] + [np.zeros((12, 60), np.float32)] * 2
    assert patch_pool(images, 4, 16).shape == (4, 1, 16, 16)
    assert "left out 2 of 3 training images smaller than 16x16" in capsys.readouterr().err
    patch_pool(images[:1], 4, 16)
    assert "left out" not in capsys.readouterr().err


def test_no_time_limit_is_max_seconds_inf_as_in_solve(photos, tmp_path):
    # solve takes --max-seconds inf as no limit; train had refused it as "not positive"
    out = tmp_path / "inf.pt"
    assert train_main(["--kind", "denoiser", "--data", str(photos), "--size", "16", "--steps", "2",
                       "--batch", "2", "--widths", "4", "--blocks", "1", "--max-seconds", "inf",
                       "--quiet", "--out", str(out)]) == 0
    assert out.is_file()
