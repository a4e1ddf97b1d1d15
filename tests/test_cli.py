"""The command line: outputs written, bad input refused with one sentence and exit code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from invprior.io import read_image, write_image
from invprior.cli import main

FAST = ["--prior", "dip", "--iters", "5", "--quiet"]


@pytest.fixture()
def gray(tmp_path, camera64):
    return write_image(tmp_path / "cam.png", camera64)


def test_simulate_writes_image_report_and_comparison(tmp_path, gray, capsys):
    out, rep, cmp = tmp_path / "out.png", tmp_path / "r.json", tmp_path / "cmp.png"
    code = main(["--op", "sr", "--factor", "2", "--simulate", str(gray), "-o", str(out),
                 "--report", str(rep), "--compare", str(cmp), *FAST])
    assert code == 0
    assert read_image(out).image.shape == (1, 1, 64, 64)
    assert read_image(cmp).image.shape == (1, 1, 64, 3 * 64)
    report = json.loads(rep.read_text())
    assert report["iterations"] == 5 and 0 < report["psnr"] < 60 and "seconds" in report
    assert report["settings"]["factor"] == 2


def test_default_output_is_next_to_the_input_and_never_overwritten(tmp_path, gray, capsys):
    before = gray.read_bytes()
    assert main(["--op", "denoise", str(gray), *FAST]) == 0
    default = tmp_path / "cam_denoise_dip.png"
    assert default.exists() and gray.read_bytes() == before
    stamp = default.read_bytes()
    assert main(["--op", "denoise", str(gray), *FAST]) == 2
    assert "already exists" in capsys.readouterr().err and default.read_bytes() == stamp
    assert main(["--op", "denoise", str(gray), "--force", *FAST]) == 0
    # not even --force writes over the input
    assert main(["--op", "denoise", str(gray), "-o", str(gray), "--force", *FAST]) == 2
    assert "overwrite an input" in capsys.readouterr().err and gray.read_bytes() == before


def test_default_prior_is_named_in_the_output_and_report(tmp_path, gray, capsys):
    rep = tmp_path / "r.json"
    assert main(["--op", "deblur", "--simulate", str(gray), "--iters", "6", "--quiet", "--report", str(rep)]) == 0
    report = json.loads(rep.read_text())
    assert (tmp_path / "cam_deblur_denoiser.png").exists() and report["prior"] == "denoiser"
    assert report["iterations"] == 6 and report["psnr"] > report["psnr_observation"] + 2
    # a network-only flag makes auto run the deep image prior
    assert main(["--op", "denoise", str(gray), "--loss", "l1", "--iters", "3", "--quiet"]) == 0
    assert (tmp_path / "cam_denoise_dip.png").exists()


def test_inpaint_from_alpha_and_from_mask_file(tmp_path, camera64, capsys):
    rgba = np.concatenate([camera64[0].permute(1, 2, 0).numpy()] * 3 + [np.ones((64, 64, 1), np.float32)], -1)
    rgba[20:30, 20:30, 3] = 0
    write_image(tmp_path / "holes.png", rgba)
    assert main(["--op", "inpaint", str(tmp_path / "holes.png"), "-o", str(tmp_path / "a.png"), *FAST]) == 0
    assert read_image(tmp_path / "a.png").image.shape == (1, 3, 64, 64)
    mask = np.ones((64, 64), np.float32)
    mask[::2] = 0
    write_image(tmp_path / "mask.png", mask)
    assert main(["--op", "inpaint", "--mask", str(tmp_path / "mask.png"), str(tmp_path / "holes.png"),
                 "-o", str(tmp_path / "b.png"), *FAST]) == 0


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--op", "sr", "--factor", "3", "--simulate"], "not a multiple of the factor 3"),
        (["--op", "sr", "--factor", "5"], "factor must be one of"),
        (["--op", "inpaint"], "needs a mask"),
        (["--op", "deblur", "--sigma", "-1"], "sigma must be positive"),
        (["--op", "denoise", "--prior", "gan"], "unknown prior"),
        (["--op", "deblur", "--prior", "sparse", "--lr", "0.1"], "the sparse prior does not take lr"),
        (["--op", "cs"], "needs --shape"),
        (["--op", "cs", "--simulate", "--ratio", "2"], "--ratio must be"),
        (["--op", "denoise", "--noise", "gaussian:0.1"], "with --simulate"),
        (["--op", "denoise", "--simulate", "--noise", "laplace:1"], "unknown noise"),
        (["--op", "denoise", "--iters", "0"], "iters must be"),
        (["--op", "denoise", "--device", "cuda:9"] if not torch.cuda.is_available() else ["--op", "denoise", "--device", "tpu"], "device"),
    ],
)
def test_bad_parameters_exit_2_with_one_sentence(tmp_path, gray, capsys, extra, message):
    code = main([str(gray), "-o", str(tmp_path / "o.png"), *FAST, *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_bad_files_exit_2(tmp_path, capsys, gray):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    np.save(tmp_path / "nan.npy", np.full((8, 8), np.nan, np.float32))
    for name, message in [("missing.png", "no such file"), ("empty.png", "empty"),
                          ("junk.png", "not a readable image"), ("nan.npy", "NaN")]:
        assert main(["--op", "denoise", str(tmp_path / name), *FAST]) == 2
        assert message in capsys.readouterr().err
    small = np.ones((32, 32), np.float32)
    write_image(tmp_path / "m32.png", small)
    assert main(["--op", "inpaint", "--mask", str(tmp_path / "m32.png"), str(gray), *FAST]) == 2
    assert "same size" in capsys.readouterr().err
    rgba = np.ones((64, 64, 4), np.float32)
    rgba[0, 0, 3] = 0
    write_image(tmp_path / "t.png", rgba)
    assert main(["--op", "denoise", str(tmp_path / "t.png"), *FAST]) == 2
    assert "transparent" in capsys.readouterr().err


def test_unknown_op_and_help_via_subprocess(gray):
    bad = subprocess.run([sys.executable, "-m", "invprior.solve", "--op", "fft", str(gray)], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr and "Traceback" not in bad.stderr
    helptext = subprocess.run([sys.executable, "-m", "invprior.solve", "--help"], capture_output=True, text=True).stdout
    for flag in ["--op", "--prior", "--simulate", "--mask", "--sigma", "--kernel", "--factor", "--ratio",
                 "--noise", "--iters", "--lr", "--device", "--seed", "--output", "--force", "--report",
                 "--compare", "--quiet", "--loss", "--stop"]:
        assert flag in helptext
    assert helptext.count("default") >= 20


def test_cs_real_observation_round_trip(tmp_path, camera64):
    import operators as O

    A = O.CompressedSensing(1024, (1, 64, 64), seed=3)
    np.save(tmp_path / "y.npy", A(camera64).numpy()[0])
    code = main(["--op", "cs", "--shape", "1,64,64", "--ratio", "0.25", "--seed", "3",
                 str(tmp_path / "y.npy"), "-o", str(tmp_path / "x.png"), *FAST])
    assert code == 0 and read_image(tmp_path / "x.png").image.shape == (1, 1, 64, 64)
