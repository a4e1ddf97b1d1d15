"""The command line: outputs written, bad input refused with one sentence and exit code 2."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from invprior.io import read_image, write_image
from invprior.metrics import psnr
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
    assert report["iterations"] == 5 and "seconds" in report and report["settings"]["factor"] == 2
    # the steps' pace, not the whole time (setup and warm start) over their count
    assert 0 < report["seconds_per_iteration"] < 0.8 * report["seconds"] / 5  # (0.5 failed under load)
    # the report's PSNR is the written image's (up to its 8-bit rounding), against IMAGE
    written = psnr(read_image(out).image, read_image(gray).image)
    assert abs(report["psnr"] - written) < 0.05, (report["psnr"], written)


@pytest.mark.parametrize("op", ["denoise", "deblur", "inpaint", "sr"])
def test_every_prior_restores_a_photo_for_every_operator(tmp_path, camera64, op, capsys):
    # a photo, not a simulation: the operator meets y first (a valid-border blur's start
    # once failed there under --prior dip, the size of x unknown)
    photo = write_image(tmp_path / "photo.png", camera64[..., ::2, ::2])
    mask = torch.ones(1, 1, 32, 32)
    mask[..., 10:20, 10:20] = 0
    extra = ["--mask", str(write_image(tmp_path / "mask.png", mask))] if op == "inpaint" else []
    for prior in ("dip", "decoder", "sparse", "denoiser"):
        out = tmp_path / f"{prior}.png"
        # (--iters refused where the prior restores in one pass)
        one_pass = (op == "denoise" and prior in ("sparse", "denoiser")) or (op, prior) == ("sr", "sparse")
        assert main(["--op", op, str(photo), "--prior", prior, *([] if one_pass else ["--iters", "2"]),
                     "--quiet", "-o", str(out), *extra]) == 0, (prior, capsys.readouterr().err)
        side = 128 if op == "sr" else 32  # sr: --factor 4 by default
        assert read_image(out).image.shape[-2:] == (side, side), prior


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
    assert main(["--op", "denoise", str(gray), "-o", str(tmp_path), "--force", *FAST]) == 2
    assert "overwrite an input" in capsys.readouterr().err and gray.read_bytes() == before
    # -o a folder (existing, or new with a final slash): the image goes in it, by its name
    assert main(["--op", "denoise", str(gray), "-o", f"{tmp_path / 'new'}/", *FAST]) == 0
    assert read_image(tmp_path / "new" / "cam.png").image.shape == (1, 1, 64, 64)
    assert main(["--op", "denoise", str(gray), "-o", str(tmp_path / "new"), *FAST]) == 2
    assert "already exists" in capsys.readouterr().err


def test_sixteen_bit_images_are_restored_to_sixteen_bits(tmp_path, camera64, capsys):
    import imageio.v3 as iio
    from skimage import data

    colour = torch.from_numpy(data.astronaut()[:48, :48] / 255.0).permute(2, 0, 1)[None].float()
    scans = [write_image(tmp_path / "scan.png", camera64, bits=16),
             write_image(tmp_path / "scan.tif", colour, bits=16),
             write_image(tmp_path / "photo.png", colour)]
    for scan in scans:
        assert main(["--op", "denoise", str(scan), "--prior", "denoiser", "--quiet"]) == 0
    # the TIFF's result is a TIFF, the only format here that takes 16-bit colour
    gray16, colour16, colour8 = (iio.imread(tmp_path / f"{s.stem}_denoise_denoiser{s.suffix}")
                                 for s in scans)
    assert gray16.dtype == colour16.dtype == np.uint16 and colour8.dtype == np.uint8
    assert colour16.shape == (48, 48, 3)
    for restored in (gray16, colour16):  # values between 8-bit steps: not an 8-bit result widened
        assert (restored % 257 != 0).mean() > 0.5
    # a 16-bit colour TIFF written as PNG is cut to 8 bits, said (it had been silent)
    capsys.readouterr()
    for scan in scans[1:]:
        assert main(["--op", "denoise", str(scan), "--prior", "denoiser", "--quiet",
                     "-o", str(tmp_path / f"{scan.stem}_as.png")]) == 0
    said = capsys.readouterr().err
    assert said.count("note:") == 1 and "a colour PNG holds 8 bits per value, so" in said
    assert "scan_as.png' is written at 8 bits; a .tif output keeps the input's 16-bit" in said
    # a folder keeps each file's depth too
    assert main(["--op", "denoise", str(scans[0]), str(scans[2]), "-o", str(tmp_path / "out"),
                 "--prior", "denoiser", "--quiet"]) == 0
    assert iio.imread(tmp_path / "out" / "scan.png").dtype == np.uint16
    assert iio.imread(tmp_path / "out" / "photo.png").dtype == np.uint8
    # float data stays float in a TIFF: a microscope's values of 1e-6 had come back 0 in 16 bits
    faint = tmp_path / "faint.tif"
    iio.imwrite(faint, (camera64[0, 0].numpy() * 1e-5).astype(np.float32))
    assert main(["--op", "denoise", str(faint), "--noise-level", "0", "--prior", "denoiser",
                 "--quiet"]) == 0
    restored = iio.imread(tmp_path / "faint_denoise_denoiser.tif")
    assert restored.dtype == np.float32 and 5e-6 < restored.max() < 1.1e-5



def test_a_photo_s_colour_profile_is_embedded_in_its_outputs(tmp_path, capsys):
    """A wide-gamut photo's ICC profile goes into its result (one file, a folder, the
    comparison), in each format that holds one; a profile of another colour space (a CMYK
    one; a gray one on a colour image) is not put on pixels it does not describe."""
    from PIL import ImageCms
    from skimage import data

    from invprior.io import colour_profile

    rgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    rgb = rgb[:16] + b"RGB " + rgb[20:]  # any profile bytes, said to describe RGB pixels
    gray = rgb[:16] + b"GRAY" + rgb[20:]
    photo = torch.from_numpy(data.astronaut()[:32, :32] / 255.0).permute(2, 0, 1)[None].float()
    tagged = [write_image(tmp_path / f"in{i}{suffix}", photo, profile=rgb)
              for i, suffix in enumerate((".png", ".jpg", ".tif"))]
    assert [colour_profile(p) for p in tagged] == [rgb] * 3
    for path, written in zip(tagged, (".png", ".png", ".tif")):  # (a JPEG's result: a PNG)
        assert main(["--op", "denoise", str(path), "--prior", "denoiser", "--quiet"]) == 0
        assert colour_profile(tmp_path / f"{path.stem}_denoise_denoiser{written}") == rgb
    assert main(["--op", "denoise", str(tagged[0]), "-o", str(tmp_path / "out.jpg"),
                 "--compare", str(tmp_path / "side.png"), "--quiet"]) == 0
    assert colour_profile(tmp_path / "out.jpg") == colour_profile(tmp_path / "side.png") == rgb
    assert main(["--op", "denoise", str(tagged[0]), str(tagged[2]), "-o", str(tmp_path / "folder"),
                 "--quiet"]) == 0
    outputs = [p for p in (tmp_path / "folder").iterdir() if not p.name.startswith(".")]
    assert len(outputs) == 2 and {colour_profile(p) for p in outputs} == {rgb}
    # a gray profile does not describe colour pixels; an untagged photo's output has none
    assert colour_profile(write_image(tmp_path / "g.png", photo, profile=gray)) is None
    assert colour_profile(write_image(tmp_path / "g1.png", photo[:, :1], profile=gray)) == gray
    assert colour_profile(write_image(tmp_path / "plain.png", photo)) is None


def test_a_simulation_s_observation_is_written_and_restores_to_the_same_image(tmp_path, gray, capsys):
    """--observation writes the y that --simulate restored (.npy: as it was, noise unclipped),
    so that it can be restored again, by us or another method, to the same image; the
    summary says what noise the simulation added."""
    import operators as O

    out, y_file = tmp_path / "sim.npy", tmp_path / "y.npy"
    assert main(["--op", "deblur", "--simulate", str(gray), "-o", str(out), "--observation",
                 str(y_file), "--iters", "3"]) == 0
    assert "noise added: gaussian:0.01" in capsys.readouterr().out
    with torch.no_grad():
        y = O.make_noise("gaussian:0.01", seed=0)(O.Blur(sigma=2.0, border="circular")(
            read_image(gray).image))
    assert np.array_equal(np.load(y_file), y[0, 0].numpy())
    assert main(["--op", "deblur", str(y_file), "-o", str(tmp_path / "again.npy"),
                 "--border", "circular", "--iters", "3", "--quiet"]) == 0
    assert np.allclose(np.load(out), np.load(tmp_path / "again.npy"), atol=1e-6)
    assert main(["--op", "denoise", str(gray), "--observation", str(tmp_path / "o.png")]) == 2
    assert "without --simulate IMAGE is y" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".png", ".npy"])
def test_an_inpainting_observation_keeps_its_holes(tmp_path, gray, capsys, suffix):
    """An inpainting simulation's y is written with its holes transparent, so that it
    restores again to the same image (written as plain pixels, a hole was a black pixel and
    the file was refused: "inpainting needs a mask"); a JPEG, which holds no transparency,
    is refused before the work."""
    out, y_file = tmp_path / "sim.npy", tmp_path / f"y{suffix}"
    assert main(["--op", "inpaint", "--simulate", str(gray), "-o", str(out), "--observation",
                 str(y_file), "--prior", "denoiser", "--quiet"]) == 0
    read = read_image(y_file)
    assert read.alpha is not None and 0.4 < float((read.alpha < 0.5).float().mean()) < 0.6
    assert main(["--op", "inpaint", str(y_file), "-o", str(tmp_path / "again.npy"),
                 "--prior", "denoiser", "--quiet"]) == 0
    assert np.allclose(np.load(out), np.load(tmp_path / "again.npy"), atol=1e-5)
    assert main(["--op", "inpaint", "--simulate", str(gray), "--observation",
                 str(tmp_path / "y.jpg"), "-o", str(tmp_path / "x.png")]) == 2
    assert "a JPEG cannot hold" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_default_prior_is_named_in_the_output_and_report(tmp_path, gray, capsys):
    rep = tmp_path / "r.json"
    assert main(["--op", "deblur", "--simulate", str(gray), "--iters", "6", "--quiet", "--report", str(rep)]) == 0
    report = json.loads(rep.read_text())
    assert (tmp_path / "cam_deblur_denoiser.png").exists() and report["prior"] == "denoiser"
    assert report["iterations"] == 6 and report["psnr"] > report["psnr_observation"] + 2
    assert report["settings"]["noise"] == "gaussian:0.01"  # the simulation's default, said
    # the level the prior worked at, read off y as a user's photo's would be (0.0104)
    assert abs(report["noise_level"] - 0.01) < 0.001 and "estimated" in report["stop_reason"]
    # the observation's PSNR is that of the y restored: its noise unclipped (40 dB for
    # 0.01, where the same y clipped to [0, 1] gains 0.3 here and 1 dB at noise 0.1)
    import operators as O

    truth = read_image(gray).image
    with torch.no_grad():
        y = O.make_noise("gaussian:0.01", seed=0)(O.Blur(sigma=2.0, border="circular")(truth))
    assert report["psnr_observation"] == pytest.approx(psnr(y, truth), abs=1e-6)
    # a network-only flag makes auto run the deep image prior
    assert main(["--op", "denoise", str(gray), "--loss", "l1", "--iters", "3", "--quiet"]) == 0
    assert (tmp_path / "cam_denoise_dip.png").exists()


def test_rgba_restore_keeps_the_observed_pixels_and_fills_the_holes(tmp_path, capsys):
    import operators as O
    from invprior.bench.cases import sample_image

    truth = sample_image("astronaut", 64)
    alpha = O.Inpainting(shape=(1, 64, 64), kind="scribble", seed=1).mask[0]  # 1 = observed
    # black under the transparent pixels: a restoration that read the colours there (alpha
    # ignored) would not pass for a fill
    rgba = torch.cat([truth[0] * (alpha > 0), alpha]).permute(1, 2, 0).numpy()
    write_image(tmp_path / "holes.png", rgba)
    holes = read_image(tmp_path / "holes.png")
    assert main(["--op", "inpaint", str(tmp_path / "holes.png"), "-o", str(tmp_path / "a.png"),
                 "--iters", "8", "--quiet"]) == 0
    restored = read_image(tmp_path / "a.png")
    assert restored.alpha is None and restored.image.shape == (1, 3, 64, 64)
    seen = (holes.alpha >= 0.5).expand_as(holes.image)
    assert torch.equal(restored.image[seen], holes.image[seen])
    # the holes are filled, better than by the biharmonic start from the same observed
    # pixels: measured squared error 0.0174 of the holes' energy, the start 0.0206 (22.72 dB
    # inside against 22.00; zeros 5.1); the bound is about half way
    missing = ~seen
    start = O.Inpainting((holes.alpha[0, 0] >= 0.5).float()).initial_estimate(holes.image * seen)
    fill = (restored.image[missing] - truth[missing]).square().mean()
    start_fill = (start[missing] - truth[missing]).square().mean()
    assert fill < 0.92 * start_fill, (float(fill), float(start_fill))


def test_a_mask_file_and_transparent_pixels_are_both_missing(tmp_path, capsys):
    from invprior.bench.cases import sample_image

    truth = sample_image("astronaut", 64)
    rgba = torch.cat([truth[0], torch.ones(1, 64, 64)])
    rgba[:3, 8:20, 8:24], rgba[3, 8:20, 8:24] = 0.0, 0.0  # transparent, over black
    write_image(tmp_path / "rgba.png", rgba.permute(1, 2, 0).numpy())
    mask = torch.ones(64, 64)
    mask[40:52, 40:56] = 0
    write_image(tmp_path / "mask.png", mask)
    assert main(["--op", "inpaint", str(tmp_path / "rgba.png"), "--mask", str(tmp_path / "mask.png"),
                 "-o", str(tmp_path / "out.png"), "--iters", "8", "--quiet"]) == 0
    out = read_image(tmp_path / "out.png").image
    import operators as O

    observed = mask.clone()
    observed[8:20, 8:24] = 0
    harmonic = O.harmonic_inpaint(truth * observed, observed[None, None])
    for rows, cols in ((slice(8, 20), slice(8, 24)), (slice(40, 52), slice(40, 56))):
        # both filled (the transparent ones were written back as the black they held), to
        # about the harmonic fill's error, well below black's. Measured (squared error):
        # transparent 0.0253, harmonic 0.0286, black 0.434; mask file 0.0680, 0.0627, 0.136
        error = (out[..., rows, cols] - truth[..., rows, cols]).square().mean()
        near = (harmonic[..., rows, cols] - truth[..., rows, cols]).square().mean()
        black = truth[..., rows, cols].square().mean()
        assert error < 1.25 * near < 0.6 * black, (rows, float(error), float(near), float(black))


def test_inpaint_with_a_mask_file(tmp_path, camera64, capsys):
    mask = np.ones((64, 64), np.float32)
    mask[::2] = 0
    write_image(tmp_path / "mask.png", mask)
    write_image(tmp_path / "cam.png", camera64 * torch.from_numpy(mask))
    assert main(["--op", "inpaint", "--mask", str(tmp_path / "mask.png"), str(tmp_path / "cam.png"),
                 "-o", str(tmp_path / "b.png"), "--iters", "8", "--quiet"]) == 0
    restored = read_image(tmp_path / "b.png").image
    # the mask file is read as drawn: its white rows kept, its black ones filled
    kept = torch.from_numpy(mask == 1).expand_as(restored)
    assert torch.equal(restored[kept], read_image(tmp_path / "cam.png").image[kept])
    # every other row missing: 8 plug-and-play steps do not beat the classical fills here
    # (measured 31.06 dB; the operator's biharmonic start 31.82, linear interpolation of
    # the rows 31.66, the harmonic fill 30.31): above the harmonic fill by about half the
    # gap, and no more than 1 dB below the start
    import operators as O

    op = O.Inpainting(torch.from_numpy(mask))
    y = read_image(tmp_path / "cam.png").image
    harmonic = O.harmonic_inpaint(y, op.mask)
    got, start = psnr(restored, camera64), psnr(op.initial_estimate(y), camera64)
    assert got > psnr(harmonic, camera64) + 0.35 and got > start - 1.0, (got, start)


def test_a_large_hole_takes_the_inpainter(tmp_path, camera64, capsys):
    mask = np.ones((64, 64), np.float32)
    mask[12:48, 16:52] = 0  # 36x36: radius 18, a hole plug-and-play would smear
    write_image(tmp_path / "mask.png", mask)
    write_image(tmp_path / "cam.png", camera64 * torch.from_numpy(mask))
    args = ["--op", "inpaint", "--mask", str(tmp_path / "mask.png"), str(tmp_path / "cam.png"),
            "--quiet", "--report", str(tmp_path / "r.json")]
    assert main([*args, "-o", str(tmp_path / "b.png")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["prior"] == "inpainter"
    # --iters, which the inpainter does not take, moves auto to plug-and-play: said
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "d.png"), "--iters", "2", "--force"]) == 0
    assert "note: auto takes the inpainter prior here, which does not take --iters; the " \
           "denoiser prior restores IMAGE instead." in capsys.readouterr().err
    # the same file with small holes stays with the fast prior
    mask[12:48, 16:52] = 1
    mask[::4, ::4] = 0
    write_image(tmp_path / "mask.png", mask, overwrite=True)
    assert main([*args, "-o", str(tmp_path / "c.png"), "--iters", "5", "--force"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["prior"] == "denoiser"


def test_kernel_file_as_npy_and_as_image(tmp_path, gray, capsys):
    import operators as O

    kernel = O.motion_kernel(9, 30.0)
    np.save(tmp_path / "k.npy", kernel.numpy())
    write_image(tmp_path / "k.png", kernel / kernel.max())
    write_image(tmp_path / "k_rgb.png", (kernel / kernel.max()).expand(3, -1, -1))  # gray, as RGB
    for name in ("k.npy", "k.png", "k_rgb.png"):
        rep = tmp_path / f"{name}.json"
        assert main(["--op", "deblur", "--simulate", "--kernel", str(tmp_path / name), str(gray),
                     "-o", str(tmp_path / f"{name}.out.png"), "--iters", "8", "--quiet",
                     "--report", str(rep)]) == 0
        report = json.loads(rep.read_text())
        assert report["psnr"] > report["psnr_observation"] + 2, report  # measured +7.4
    (tmp_path / "bad.npy").write_bytes(b"junk")
    assert main(["--op", "deblur", "--kernel", str(tmp_path / "bad.npy"), str(gray), *FAST]) == 2
    assert "Traceback" not in capsys.readouterr().err
    # a 3-D PSF: its first plane (the most defocused) had been taken without a word
    import tifffile

    planes = np.zeros((5, 15, 15), np.float32)
    planes[:, 7, 7] = 1
    tifffile.imwrite(tmp_path / "psf.tif", planes)
    assert main(["--op", "deblur", "--kernel", str(tmp_path / "psf.tif"), str(gray), *FAST]) == 2
    assert "holds 5 frames; a blur kernel is one 2-D image" in capsys.readouterr().err
    # planes along a last axis (a PSF per colour; two read as gray and alpha) had been
    # averaged into one kernel without a word
    three = np.zeros((9, 9, 3), np.float32)
    three[4, 0, 0] = three[4, 4, 1] = three[4, 8, 2] = 1
    for planes in (three, three[..., :2]):
        np.save(tmp_path / "planes.npy", planes)
        assert main(["--op", "deblur", "--kernel", str(tmp_path / "planes.npy"), str(gray), *FAST]) == 2
        assert f"holds {planes.shape[-1]} different planes; a blur kernel" in capsys.readouterr().err
    # a PSF padded to the image's size: cut to its support, not refused as larger than it
    import operators as O

    framed = np.zeros((64, 64), np.float32)
    framed[26:39, 26:39] = O.Blur(sigma=2.0).kernel.numpy()
    np.save(tmp_path / "framed.npy", framed)
    assert main(["--op", "deblur", "--kernel", str(tmp_path / "framed.npy"), str(gray), *FAST,
                 "-o", str(tmp_path / "framed.png")]) == 0
    # planes first, as NumPy stacks a 3-D PSF ("expected an (H, W) or (H, W, C) image")
    np.save(tmp_path / "z.npy", np.zeros((3, 5, 5), np.float32))
    assert main(["--op", "deblur", "--kernel", str(tmp_path / "z.npy"), str(gray), *FAST]) == 2
    assert "holds 3 planes of 5x5 (its first axis); a blur kernel" in capsys.readouterr().err
    # a gray PSF with an alpha plane is 2 planes (it had been said as 4)
    rgba = np.concatenate([np.repeat(three[..., :1], 3, -1), np.full((9, 9, 1), 0.5, np.float32)], -1)
    np.save(tmp_path / "rgba.npy", rgba)
    assert main(["--op", "deblur", "--kernel", str(tmp_path / "rgba.npy"), str(gray), *FAST]) == 2
    assert "holds 2 different planes" in capsys.readouterr().err


def test_a_kernel_drawn_dark_on_white_is_read_as_its_dark(tmp_path, gray, capsys):
    import operators as O

    # drawn as on paper: its white ground had been the kernel (measured 7.81 dB for 27.94)
    kernel = O.motion_kernel(9, 30.0)
    write_image(tmp_path / "light.png", kernel / kernel.max())
    # (its inverse from the file's own levels: 255 - round(a) is not always round(255 - a))
    write_image(tmp_path / "dark.png", 1 - read_image(tmp_path / "light.png").image[0, 0])
    for name in ("light", "dark"):
        assert main(["--op", "deblur", "--kernel", str(tmp_path / f"{name}.png"), str(gray),
                     "--iters", "4", "--quiet", "-o", str(tmp_path / f"{name}.out.png")]) == 0
        said = "drawn dark on a light ground" in capsys.readouterr().err
        assert said == (name == "dark")
    # (the same kernel to float rounding, 1 - (1 - a): a level apart at most)
    assert torch.allclose(read_image(tmp_path / "light.out.png").image,
                          read_image(tmp_path / "dark.out.png").image, atol=1.01 / 255)


def test_a_kernel_larger_than_the_photo_names_its_flag(tmp_path, capsys):
    # "y (32x32, width x height) is smaller than the 41x41 blur kernel": no flag, no fix
    small = write_image(tmp_path / "small.png", torch.rand(1, 1, 32, 32))
    np.save(tmp_path / "big.npy", np.ones((41, 41), np.float32))
    for flags, says in ((["--kernel", str(tmp_path / "big.npy")], "kernel of --kernel"),
                        (["--sigma", "100"], "kernel of --sigma 100: most of what it blurred")):
        assert main(["--op", "deblur", *flags, str(small), "-o", str(tmp_path / "o.png")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: the image (32x32) is smaller than the ") and says in err, err


def test_a_measured_psf_s_background_and_centre_are_said(tmp_path, gray, capsys):
    # a bead image not background-subtracted, or off its array's centre pixel, had deblurred
    # with the background too (21.75 dB against 30.04), or shifted the result, unsaid
    rows, cols = np.mgrid[:15, :15]
    bead = np.exp(-((rows - 7) ** 2 + (cols - 7) ** 2) / (2 * 1.2**2)).astype(np.float32)
    said = {}
    for name, k in (("clean", bead), ("floor", bead + 0.02 * bead.max()),
                    ("shifted", np.roll(bead, (-3, 2), (0, 1)))):
        np.save(tmp_path / f"{name}.npy", k)
        assert main(["--op", "deblur", "--kernel", str(tmp_path / f"{name}.npy"), str(gray),
                     *FAST, "-o", str(tmp_path / f"{name}.png")]) == 0
        err = capsys.readouterr().err
        said[name] = ("flat background" in err, "is centred on row 4.0, column 9.0" in err)
    assert said == {"clean": (False, False), "floor": (True, False), "shifted": (False, True)}
    # a simulation blurs and restores with the same kernel: nothing comes back shifted
    assert main(["--op", "deblur", "--simulate", "--kernel", str(tmp_path / "shifted.npy"),
                 str(gray), *FAST, "-o", str(tmp_path / "sim.png")]) == 0
    assert "note:" not in capsys.readouterr().err


def test_a_kernel_with_negative_values_is_refused_beyond_an_estimate_s_dips(tmp_path, gray, capsys):
    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)  # no blur
    np.save(tmp_path / "sharpen.npy", sharpen)
    assert main(["--op", "deblur", "--kernel", str(tmp_path / "sharpen.npy"), str(gray), *FAST,
                 "-o", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert "holds negative values (80% of its positive weight)" in err and "Traceback" not in err
    dipped = np.ones((5, 5), np.float32)
    dipped[0, 0] = -0.5  # 2 % of the weight: an estimated kernel's noise, taken as zero
    np.save(tmp_path / "dipped.npy", dipped)
    assert main(["--op", "deblur", "--kernel", str(tmp_path / "dipped.npy"), str(gray), *FAST,
                 "-o", str(tmp_path / "b.png")]) == 0


def test_a_gray_photo_saved_in_colour_meets_a_prior_file_as_its_channels_say(tmp_path):
    """The command line had made such a photo gray before any prior saw it: a colour-trained
    prior file of one's own then refused it ("an image of 1 channel(s) needs a gray one");
    solve() serves it as the prior's channels say, gray ones too."""
    import shutil

    from invprior.weights import weight_file

    mine = shutil.copy(weight_file("denoiser_colour.pt"), tmp_path / "mine.pt")
    gray = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    photo = write_image(tmp_path / "photo.png", gray.expand(-1, 3, -1, -1))
    assert main(["--op", "deblur", "--sigma", "1", "--simulate", str(photo), "--prior", str(mine),
                 "-o", str(tmp_path / "colour.png"), "--quiet"]) == 0
    assert read_image(tmp_path / "colour.png").image.shape == (1, 3, 32, 32)
    digit = write_image(tmp_path / "digit.png", gray[..., :16, :16].expand(-1, 3, -1, -1))
    assert main(["--op", "inpaint", "--simulate", str(digit), "--prior",
                 str(weight_file("prior_digits.pt")), "-o", str(tmp_path / "digit_out.png"),
                 "--iters", "5", "--quiet"]) == 0


def test_measurements_restored_by_a_trained_prior_need_no_shape(tmp_path):
    """--shape had been asked for even where the prior file fixes the image's shape."""
    from invprior.glo import load_prior
    from invprior.weights import weight_file

    path = str(weight_file("prior_digits.pt"))
    digit = write_image(tmp_path / "digit.png", load_prior(path).sample(1, seed=1))
    fast = ["--prior", path, "--iters", "5", "--quiet"]
    assert main(["--op", "cs", "--simulate", str(digit), "--observation", str(tmp_path / "y.npy"),
                 "-o", str(tmp_path / "sim.npy"), *fast]) == 0
    assert main(["--op", "cs", str(tmp_path / "y.npy"), "-o", str(tmp_path / "real.npy"), *fast]) == 0
    assert np.allclose(np.load(tmp_path / "sim.npy"), np.load(tmp_path / "real.npy"), atol=1e-6)


def test_a_thin_observation_is_super_resolved_when_its_result_is_large_enough(tmp_path, capsys):
    """The smallest side is the restored image's: a 32x7 y at x2 (64x14 restored) had been
    refused as under 8x8; a 32x3 one (64x6) still is, saying what it would restore to."""
    strip = torch.rand(1, 1, 7, 32, generator=torch.Generator().manual_seed(0))
    write_image(tmp_path / "strip.png", strip)
    assert main(["--op", "sr", "--factor", "2", str(tmp_path / "strip.png"), "-o",
                 str(tmp_path / "big.png"), "--quiet"]) == 0
    assert read_image(tmp_path / "big.png").image.shape == (1, 1, 14, 64)
    write_image(tmp_path / "thin.png", strip[..., :3, :])
    assert main(["--op", "sr", "--factor", "2", str(tmp_path / "thin.png"), "--quiet"]) == 2
    assert "32x3 pixels (width x height), 64x6 restored; the smallest" in capsys.readouterr().err


def test_a_blurred_photo_is_deblurred_without_a_frame_of_ringing(tmp_path, capsys):
    """A photo's blur saw the scene beyond its frame: the default border (auto) is the valid
    one, which estimates it (that it beats the circular model's ringing is
    tests/test_operators.py::test_valid_blur_deblurs_a_photo_whose_blur_saw_beyond_its_frame);
    the result is written in the input's frame."""
    import operators as O
    from invprior import solve
    from skimage import data

    truth = torch.tensor(data.camera()[::4, ::4] / 255.0, dtype=torch.float32)[None, None]
    photo = write_image(tmp_path / "photo.png", O.Blur(sigma=1.5)(truth)[..., 24:88, 24:88])
    y = read_image(photo).image
    out = tmp_path / "auto.png"
    side = tmp_path / "side.png"
    assert main(["--op", "deblur", "--sigma", "1.5", str(photo), "-o", str(out), "--iters", "8",
                 "--compare", str(side), "--quiet"]) == 0
    restored = read_image(out).image
    assert restored.shape == y.shape  # the input's frame, not the estimated margin
    # the comparison's left panel is y as read (it had been y widened by its edge pixels,
    # then squeezed back to the frame: 116/255 off)
    assert torch.equal(read_image(side).image[..., :64], y)
    # the API's valid-border restoration (74x74: the margin estimated), cropped to the frame,
    # up to the PNG's 8-bit rounding
    valid = O.Blur(sigma=1.5, border="valid")
    api = solve(y, valid, iters=8, progress=False).image
    assert api.shape[-2:] == (74, 74)
    assert (valid.crop(api).clamp(0, 1) - restored).abs().max() < 0.5 / 255 + 1e-6
    # simulated with valid borders: y lacks the margins, drawn widened beside the result
    cmp = tmp_path / "cmp.png"
    assert main(["--op", "deblur", "--sigma", "1.5", "--border", "valid", "--simulate", str(photo),
                 "-o", str(tmp_path / "sim.png"), "--compare", str(cmp), "--iters", "2", "--quiet"]) == 0
    assert read_image(cmp).image.shape == (1, 1, 64, 3 * 64)


@pytest.mark.parametrize("prior", ["dip", "auto"])
def test_max_seconds_stops_the_solve(tmp_path, gray, capsys, prior):
    rep = tmp_path / "r.json"
    assert main(["--op", "deblur", "--simulate", str(gray), "--prior", prior, "--iters", "100000",
                 "--max-seconds", "1", "--quiet", "--report", str(rep)]) == 0
    report = json.loads(rep.read_text())
    assert "time limit" in report["stop_reason"] and report["iterations"] < 100000


def test_trained_prior_file_on_the_command_line(tmp_path, capsys):
    from invprior.glo import named_set
    from invprior.weights import weight_file

    digit = named_set("digits", "test")[:1]
    write_image(tmp_path / "digit.png", digit)
    rep = tmp_path / "r.json"
    prior = weight_file("prior_digits.pt")
    assert main(["--op", "cs", "--ratio", "0.2", "--simulate", str(tmp_path / "digit.png"),
                 "--prior", str(prior), "--quiet", "--report", str(rep)]) == 0
    report = json.loads(rep.read_text())
    assert (tmp_path / "digit_cs_prior_digits.png").exists() and report["prior"] == str(prior)
    assert report["psnr"] > 27, report  # 51 measurements of 256 pixels; measured 33.3


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--op", "sr", "--factor", "3", "--simulate"], "not a multiple of the factor 3"),
        (["--op", "sr", "--factor", "5"], "factor must be one of"),
        (["--op", "inpaint"], "needs a mask"),
        (["--op", "deblur", "--sigma", "-1"], "sigma must be positive"),
        (["--op", "denoise", "--prior", "gan"], "unknown prior"),
        (["--op", "deblur", "--prior", "sparse", "--lr", "0.1"], "the sparse prior does not take --lr; of the flags it takes --device, --iters, --max-seconds, --seed."),
        (["--op", "cs"], "needs --shape"),
        (["--op", "inpaint", "--simulate", "--mask-kind", "scribble", "--missing", "0.3"], "--missing is the share of a random mask; --mask-kind scribble draws its own holes."),
        (["--op", "cs", "--simulate", "--ratio", "2"], "--ratio must be"),
        (["--op", "denoise", "--noise", "gaussian:0.1"], "with --simulate"),
        (["--op", "denoise", "--simulate", "--noise", "laplace:1"], "unknown noise"),
        (["--op", "denoise", "--simulate", "--noise", "bogus"], "unknown noise 'bogus'"),
        (["--op", "denoise", "--simulate", "--noise", "gaussian:inf"], "must be finite"),
        (["--op", "denoise", "--iters", "0"], "iters must be"),
        # ignored without a word (the same output to the byte)
        (["--op", "denoise", "--prior", "auto", "--iters", "5"], "the denoiser prior restores this in one pass (--prior dip or decoder iterate)"),
        (["--op", "sr", "--prior", "sparse", "--iters", "5"], "the sparse prior restores this in one pass"),
        (["--op", "deblur", "--keep-observed", "yes"], "--op deblur has nothing it keeps"),
        (["--op", "cs", "--simulate", "--shape", "1,8,8"], "--simulate takes IMAGE's"),
        (["--op", "denoise", "--noise-level", "25"], "25 on the 0-255 scale is 0.098"),
        (["--op", "denoise", "--noise-level", "-0.1"], "from 0 to 1, got -0.1"),
        (["--op", "denoise", "--ensemble", "0"], "ensemble must be an integer from 1 to 64"),
        (["--op", "denoise", "--ensemble", "1000000000"], "from 1 to 64"),  # (ran until killed)
        (["--op", "denoise", "--prior", "sparse", "--ensemble", "2"], "the sparse prior does not take --ensemble"),
        (["--op", "denoise", "--prior", "denoiser", "--self-ensemble", "9"], "--self-ensemble takes 1 to 8"),
        (["--op", "deblur", "--prior", "auto", "--self-ensemble", "2"], "--self-ensemble is for one-pass denoising"),
        (["--op", "denoise", "--prior", "dip", "--self-ensemble", "2"], "the dip prior does not take --self-ensemble"),
        (["--op", "denoise", "--device", "cuda:9"] if not torch.cuda.is_available() else ["--op", "denoise", "--device", "tpu"], "device"),
        (["--op", "denoise", "--device", "meta"], "device 'meta' is not supported"),
        (["--op", "deblur", "--sigma", "inf"], "sigma must be positive and finite"),
        (["--op", "deblur", "--sigma", "1e6"], "the largest is 4097x4097"),
        (["--op", "deblur", "--iters", str(2**63 - 1)], "--iters must be from 1 to 1000000"),
        (["--op", "denoise", "--seed", str(10**23)], "--seed must be from 0 to 4294967295"),
        (["--op", "denoise", "--prior", "dip", "--lr", "inf"], "lr must be > 0 and finite"),
        (["--op", "denoise", "--mask", "m.png"], "--mask is for --op inpaint, not --op denoise"),
        (["--op", "sr", "--kernel", "k.npy"], "--kernel is for --op deblur, not --op sr"),
        (["--op", "denoise", "--shape", "1,8,8"], "--shape is for --op cs"),
        (["--op", "denoise", "--border", "valid"], "--border is for --op deblur, not --op denoise"),
        # flags with a default, typed where they are not read, were ignored without a word
        (["--op", "denoise", "--factor", "2"], "--factor is for --op sr, not --op denoise"),
        (["--op", "sr", "--sigma", "3"], "--sigma is for --op deblur, not --op sr"),
        (["--op", "deblur", "--kernel", "k.npy", "--sigma", "3"], "--sigma and --kernel both give the blur"),
        (["--op", "inpaint", "--missing", "0.3"], "--missing draws the mask of a simulation"),
        (["--op", "denoise", "--mask-white", "holes"], "--mask-white is for --op inpaint, not --op denoise"),
        (["--op", "cs", "--shape", "16,16,16"], "--shape C must be 1 (gray) or 3 (RGB), got 16"),
        (["--op", "cs", "--shape", "1,100000,100000"], "is larger than 100 megapixels"),
        # --report out/ had written a file named out; --report "" had written none, unsaid
        (["--op", "denoise", "--report", "reports/"], "--report 'reports/' names a folder"),
        (["--op", "denoise", "--plot", ""], "--plot is empty; name a file."),
        # refused further on as a 0-255 image ("divide 0-255 values by 255")
        (["--op", "denoise", "--simulate", "--noise", "poisson:0.1"], "simulate a peak of 1 or more"),
        # (no photon landed: an all-black y, restored "stretched 1.63e+06x")
        (["--op", "denoise", "--simulate", "--noise", "poisson:0.000001"], "lands no photon on IMAGE"),
    ],
)
def test_bad_parameters_exit_2_with_one_sentence(tmp_path, gray, capsys, extra, message):
    code = main([str(gray), "-o", str(tmp_path / "o.png"), *FAST, *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("prior", ["auto", "denoiser", "sparse"])
def test_a_time_limit_is_refused_where_the_prior_restores_in_one_pass(tmp_path, gray, capsys,
                                                                      prior):
    # it was ignored without a word: a "2 s" one-pass denoising of a megapixel photo took 17 s
    assert main(["--op", "denoise", "--prior", prior, "--max-seconds", "2", str(gray), "-o",
                 str(tmp_path / "o.png")]) == 2
    name = "sparse" if prior == "sparse" else "denoiser"
    assert capsys.readouterr().err == (f"error: --max-seconds is for the priors that iterate; "
                                       f"the {name} prior restores this in one pass (--prior dip "
                                       "or decoder iterate).\n")


def test_advice_is_given_in_flags(tmp_path, gray, capsys):
    # the priors' messages are written for the API (prior='dip'); the command line says --prior
    assert main(["--op", "deblur", "--prior", "inpainter", str(gray), "-o", str(tmp_path / "o.png")]) == 2
    assert "--prior inpainter is for --op inpaint only; use --prior denoiser or dip." in capsys.readouterr().err


def test_the_report_is_json_that_every_reader_takes(tmp_path, gray):
    # a noise-free simulation's observation has an infinite PSNR: Python wrote Infinity,
    # which is not JSON (JSON.parse, jq and strict parsers refuse it)
    rep = tmp_path / "r.json"
    assert main(["--op", "denoise", "--simulate", "--noise", "none", str(gray), "-o",
                 str(tmp_path / "o.png"), "--report", str(rep), *FAST]) == 0
    report = json.loads(rep.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert report["psnr_observation"] is None and isinstance(report["psnr"], float)


def test_an_output_that_cannot_be_written_is_refused_before_the_solve(tmp_path, gray, capsys):
    # a folder that is a file: one sentence and exit 2 before minutes of solving, not a
    # traceback after them; alone and for several images
    for images, out in (([gray], gray / "out.png"), ([gray, gray.with_name("b.png")], gray / "out")):
        write_image(gray.with_name("b.png"), read_image(gray).image, overwrite=True)
        code = main([*map(str, images), "-o", str(out), "--op", "denoise", "--prior", "dip",
                     "--iters", "100000", "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and f"'{gray}' is a file, not a folder" in err, err
        assert "Traceback" not in err and err.count("\n") == 1


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
    # float pixels on the 0-255 scale (ImageJ's float TIFFs) came back all white
    iio.imwrite(tmp_path / "f255.tif", (255 * read_image(gray).image[0, 0].numpy()).astype(np.float32))
    assert main(["--op", "denoise", str(tmp_path / "f255.tif"), *FAST]) == 2
    assert "are taken on the [0, 1] scale (divide 0-255 values by 255, other" in capsys.readouterr().err
    hot = read_image(gray).image[0, 0].numpy().copy()
    hot[3, 5] = 1e6  # one hot pixel: the whole image refused, with no word of why
    iio.imwrite(tmp_path / "hot.tif", hot)
    assert main(["--op", "denoise", str(tmp_path / "hot.tif"), *FAST]) == 2
    assert "only 1 of its 4096 values is above 20: hot pixels? Clip them." in capsys.readouterr().err
    rgba = np.ones((64, 64, 4), np.float32)
    rgba[0, 0, 3] = 0
    write_image(tmp_path / "t.png", rgba)
    assert main(["--op", "denoise", str(tmp_path / "t.png"), *FAST]) == 2
    assert "transparent" in capsys.readouterr().err
    # partly transparent everywhere (alpha 200): restored as opaque, and now said
    rgba[..., 3] = 200 / 255
    write_image(tmp_path / "semi.png", rgba)
    assert main(["--op", "denoise", str(tmp_path / "semi.png"), "-o", str(tmp_path / "s.png"), *FAST]) == 0
    assert "is partly transparent; the output holds the colour alone" in capsys.readouterr().err


def test_running_out_of_memory_is_one_sentence_and_exit_2(tmp_path):
    # a real allocation failure: the process may map 1 GiB more than it holds after its
    # imports, and x4 super-resolution of a 2000x2000 image needs a 64-megapixel estimate
    write_image(tmp_path / "big.png", np.zeros((2000, 2000), np.float32))
    code = ("import resource, sys\n"
            "import invprior.api\n"
            "from invprior.cli import main\n"
            "pages = int(open('/proc/self/statm').read().split()[0])\n"
            "limit = pages * resource.getpagesize() + 2**30\n"
            "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
            f"sys.exit(main(['--op', 'sr', '--quiet', {str(tmp_path / 'big.png')!r}, '-o', "
            f"{str(tmp_path / 'out.png')!r}]))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "out of memory" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.png").exists()


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


# ---------------------------------------------------------------- Ctrl-C

def _interrupted_run(args, marker: bytes, seconds_after: float = 1.0, sig: str = "SIGINT"):
    """Run the command, send it a real ``sig`` once ``marker`` shows in its progress output
    and a little later; ``(exit status, stderr)``. The marker must be one that only a step
    taken prints (a value in the bar's postfix): the bar's name alone shows before the
    first step, and a slow machine was interrupted there, with nothing yet to write."""
    import signal
    import time

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "invprior.solve", *args], cwd=root, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # a child of a shell's background job would inherit an ignored SIGINT (of nohup's,
        # an ignored SIGHUP)
        preexec_fn=lambda: [signal.signal(getattr(signal, s), signal.SIG_DFL)
                            for s in ("SIGINT", "SIGTERM", "SIGHUP")])
    seen = b""
    while marker not in seen:
        chunk = proc.stderr.read1(4096)
        if not chunk:
            break
        seen += chunk
    time.sleep(seconds_after)
    proc.send_signal(getattr(signal, sig))
    _, rest = proc.communicate(timeout=300)
    return proc.returncode, (seen + rest).decode(errors="replace")


def test_ctrl_c_writes_the_best_image_so_far_default_prior(tmp_path):
    out = tmp_path / "restored.png"
    code, err = _interrupted_run(["--op", "inpaint", "assets/astronaut_holes.png", "-o", str(out),
                                  "--iters", "100000"], b"sigma=")
    assert code == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted: wrote the best estimate so far" in err
    holes = read_image(Path(__file__).resolve().parent.parent / "assets" / "astronaut_holes.png")
    restored = read_image(out)
    assert restored.alpha is None and restored.image.shape == holes.image.shape
    observed = (holes.alpha >= 0.5).expand_as(holes.image)
    assert torch.equal(restored.image[observed], holes.image[observed])  # kept exactly


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_ctrl_c_writes_the_best_image_so_far_deep_image_prior(tmp_path, gray, sig):
    # SIGTERM (a scheduler's stop) and SIGHUP (the terminal closed) end a run as Ctrl-C
    # does; they killed the process at once, and during a write left the temporary file behind
    out = tmp_path / "restored.png"
    code, err = _interrupted_run(["--op", "denoise", str(gray), "-o", str(out), "--prior", "dip",
                                  "--iters", "100000", "--stop", "none", "--init", "none"],
                                 b"loss=", sig=sig)  # (no warm start: before a step, nothing is written)
    assert code == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted: wrote the best estimate so far" in err
    assert f"(interrupted ({'Ctrl-C' if sig == 'SIGINT' else sig})" in err  # (it said Ctrl-C)
    assert read_image(out).image.shape == (1, 1, 64, 64)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # none left


def test_every_mask_kind_can_be_simulated_from_the_command_line(tmp_path, capsys):
    import operators as O
    from invprior.cli import build_parser

    option = next(a for a in build_parser()._actions if a.dest == "mask_kind")
    assert tuple(option.choices) == O.Inpainting.KINDS
    # five boxes cannot be placed apart in an 8x8 image: one sentence, exit 2
    write_image(tmp_path / "tiny.png", torch.rand(1, 1, 8, 8))
    assert main(["--op", "inpaint", "--simulate", "--mask-kind", "boxes", str(tmp_path / "tiny.png"),
                 "-o", str(tmp_path / "out.png"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "do not fit apart in 8x8" in err and "Traceback" not in err


def test_no_output_is_left_by_a_run_that_fails_or_is_refused(tmp_path, gray, capsys):
    # the kernel file is an input too; a report path that is a folder, and an image too
    # small for some step (SSIM, the noise estimate), are refused before anything is written
    kernel = tmp_path / "k.npy"
    np.save(kernel, np.ones((3, 3), np.float32))
    before = kernel.read_bytes()
    assert main(["--op", "deblur", str(gray), "--kernel", str(kernel), "-o", str(kernel),
                 "--force", *FAST]) == 2
    assert "would overwrite an input" in capsys.readouterr().err and kernel.read_bytes() == before
    (tmp_path / "rp").mkdir()
    out = tmp_path / "o.png"
    assert main(["--op", "denoise", str(gray), "-o", str(out), "--report", str(tmp_path / "rp"),
                 "--force", *FAST]) == 2
    assert "is a folder" in capsys.readouterr().err and not out.exists()
    write_image(tmp_path / "tiny.png", np.full((2, 2), 0.5, np.float32))
    for op in ("cs", "inpaint", "denoise"):
        assert main(["--op", op, "--simulate", str(tmp_path / "tiny.png"), "-o", str(out),
                     "--quiet"]) == 2
        assert "the smallest restored is 8x8" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("late", ["report", "plot", "compare"])
def test_an_output_another_run_writes_meanwhile_is_kept_and_this_run_keeps_nothing(
        tmp_path, gray, capsys, monkeypatch, late):
    """Two runs sharing a --report (or --plot, --compare) file: the one that finished second
    had replaced the first's report without --force, and (--compare) had kept its -o while
    saying 'already exists', so that its rerun was refused."""
    import invprior.api

    out, other = tmp_path / "o.png", tmp_path / f"shared.{'json' if late == 'report' else 'png'}"
    solve = invprior.api.solve

    def solve_beside_another_run(*args, **kwargs):
        other.write_bytes(b"the other run's")
        return solve(*args, **kwargs)

    monkeypatch.setattr("invprior.api.solve", solve_beside_another_run)
    assert main(["--op", "denoise", str(gray), "-o", str(out), f"--{late}", str(other), *FAST]) == 2
    assert "was written by another run while this one worked" in capsys.readouterr().err
    assert other.read_bytes() == b"the other run's" and not out.exists()
    # a dangling link there is found before the solve, not after it as a run's output
    other.unlink()
    other.symlink_to(tmp_path / "nowhere")
    monkeypatch.setattr("invprior.api.solve", solve)
    assert main(["--op", "denoise", str(gray), "-o", str(out), f"--{late}", str(other), *FAST]) == 2
    assert "already exists; choose another name or pass --force" in capsys.readouterr().err


def test_a_mask_or_alpha_that_hides_every_pixel_is_refused(tmp_path, gray, capsys):
    write_image(tmp_path / "black.png", np.zeros((64, 64), np.float32))
    rgba = np.zeros((64, 64, 4), np.float32)
    write_image(tmp_path / "clear.png", rgba)
    for args in (["--mask", str(tmp_path / "black.png"), str(gray)], [str(tmp_path / "clear.png")]):
        assert main(["--op", "inpaint", *args, "-o", str(tmp_path / "o.png"), *FAST]) == 2
        assert "nothing is observed to restore from" in capsys.readouterr().err
        assert not (tmp_path / "o.png").exists()
    # a mask of 0 and 1 in 8 bits (a NumPy array saved as it was made): said as such
    np.save(tmp_path / "ones.npy", np.ones((64, 64), np.uint8))
    assert main(["--op", "inpaint", "--mask", str(tmp_path / "ones.npy"), str(gray), "-o",
                 str(tmp_path / "o.png"), *FAST]) == 2
    assert "(its brightest value is 0.39 % of white, as 1 of 255" in capsys.readouterr().err
    # 0 and 255 saved as 16 bits had been told it held "0 and 1 of 255"
    np.save(tmp_path / "wide.npy", np.full((64, 64), 255, np.uint16))
    assert main(["--op", "inpaint", "--mask", str(tmp_path / "wide.npy"), str(gray), "-o",
                 str(tmp_path / "o.png"), *FAST]) == 2
    assert "0.39 % of white, as 1 of 255 or 255 of 65535 is" in capsys.readouterr().err


def test_ctrl_c_before_the_first_step_writes_nothing(tmp_path, gray, capsys, monkeypatch):
    # the "best estimate" then is the operator's start (y itself): a file holding it would
    # pass for a result, replace a good one with --force and block a rerun without
    from invprior.result import Result

    out = tmp_path / "o.png"
    write_image(out, np.full((8, 8), 0.25, np.float32))
    before = out.read_bytes()
    monkeypatch.setattr("invprior.api.solve", lambda y, *a, **k: Result(
        y.clone(), stop_reason="not started (Ctrl-C)", interrupted=True))
    assert main(["--op", "denoise", str(gray), "-o", str(out), "--force", *FAST]) == 130
    assert "nothing was written" in capsys.readouterr().err and out.read_bytes() == before


def test_ctrl_c_in_the_deep_image_priors_warm_start_writes_nothing(tmp_path, gray, capsys, ctrl_c_at):
    """The warm start only copies the operator's estimate into the network: stopped there,
    the API returns that estimate (no step fitted y) and the CLI writes no file."""
    import operators as O
    from invprior import solve
    from invprior.priors import generator

    ctrl_c_at(generator, "_identity", 3)
    y = read_image(gray).image
    result = solve(y, O.Denoising(), "dip", noise_level=0.1, iters=50, init="warm", progress=False)
    assert result.interrupted and result.iterations == 0 and "warm start" in result.stop_reason
    assert torch.equal(result.image, O.Denoising().initial_estimate(y).clamp(0, 1))
    ctrl_c_at(generator, "_identity", 3)
    out = tmp_path / "o.png"
    assert main(["--op", "denoise", str(gray), "-o", str(out), "--prior", "dip", "--iters", "50",
                 "--init", "warm", "--quiet"]) == 130
    assert not out.exists() and capsys.readouterr().err == (
        "interrupted (Ctrl-C) in the warm start, before the fit to y: nothing was written.\n")


def test_a_blurred_jpeg_is_deblurred_at_the_noise_its_quantization_adds(tmp_path, capsys):
    # JPEG drops the finest band, where the noise is read (0.8/255 here): plug-and-play at
    # that level sharpened the blocks. Measured: input 21.58 dB, CLI 26.87, best-damped
    # Wiener 24.38, without the JPEG's share (the API on the same pixels) 19.82
    import imageio.v3 as iio

    import operators as O
    from invprior.api import solve
    from invprior.bench.cases import sample_image

    x = sample_image("coffee", 96)
    op = O.Blur(sigma=2.0)
    y = O.GaussianNoise(0.01, seed=0)(op(x)).clamp(0, 1)
    photo, out, rep = tmp_path / "blurred.jpg", tmp_path / "out.png", tmp_path / "r.json"
    iio.imwrite(photo, (y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), quality=85)
    assert main(["--op", "deblur", "--border", "circular", str(photo), "-o", str(out), "--quiet",
                 "--report", str(rep)]) == 0
    said = json.loads(rep.read_text())["stop_reason"]
    assert "5.0 from the JPEG's quantization" in said
    # the two add as independent noises do (not 0.6 + 5.0 = 5.6)
    level, seen, added = (float(v) for v in re.search(
        r"noise ([\d.]+)/255 estimated: ([\d.]+) read off the image, ([\d.]+) from", said).groups())
    assert level == pytest.approx(math.hypot(seen, added), abs=0.1), said
    restored = psnr(read_image(out).image, x)
    # the best-damped Wiener deconvolution of the same JPEG: 24.38 dB (balance 1e-2); the
    # bound is about half the 2.49 dB gap above it
    from operators.blur import wiener_deconvolution

    jpeg = read_image(photo).image
    wiener = max(psnr(wiener_deconvolution(jpeg, op.kernel, balance=b).clamp(0, 1), x)
                 for b in (1e-3, 3e-3, 1e-2, 3e-2, 1e-1))
    assert restored > wiener + 1.2, (restored, wiener)
    assert restored > psnr(solve(jpeg, op, progress=False).image, x) + 5
    # in a folder beside a PNG of the same size: each at its own level, as alone
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "blurred.jpg").write_bytes(photo.read_bytes())
    write_image(folder / "plain.png", y)
    assert main(["--op", "deblur", "--border", "circular", str(folder), "-o", str(tmp_path / "all"),
                 "--quiet"]) == 0
    assert torch.equal(read_image(tmp_path / "all" / "blurred.png").image, read_image(out).image)


def test_a_small_noisy_jpeg_is_super_resolved_at_the_noise_read_and_quantized(tmp_path):
    # its quantization emptied the top band (nothing read there), so the CLI reads the
    # finest band and adds the JPEG's share. Measured: CLI 28.61 dB, bicubic upsampling of
    # the same JPEG (the operator's start) 28.02, taken as noise-free (the API on the same
    # pixels) 27.41
    import imageio.v3 as iio

    import operators as O
    from invprior.api import solve
    from invprior.priors.base import visible_noise
    from test_colour import _middle

    x = _middle("coffee", 128)
    op = O.Downsampling(2)
    lr = (op(x) + 10 / 255 * torch.randn(op(x).shape, generator=torch.Generator().manual_seed(0)))
    photo, out, rep = tmp_path / "small.jpg", tmp_path / "out.png", tmp_path / "r.json"
    iio.imwrite(photo, (lr[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8),
                quality=75)
    y = read_image(photo).image
    assert visible_noise(op, y) is None
    assert main(["--op", "sr", "--factor", "2", str(photo), "-o", str(out), "--quiet",
                 "--report", str(rep)]) == 0
    assert "from the JPEG's quantization" in json.loads(rep.read_text())["stop_reason"]
    restored = psnr(read_image(out).image, x)
    bicubic = psnr(op.initial_estimate(y), x)
    assert restored > bicubic + 0.3, (restored, bicubic)  # about half the 0.59 dB gap
    assert restored > psnr(solve(y, op, progress=False).image, x) + 0.8


def test_a_black_and_white_photo_saved_in_colour_is_restored_as_gray(tmp_path, camera64, capsys):
    # the same noisy pixels as a gray PNG and as an RGB PNG of three equal channels: the RGB
    # file is restored as the gray one is (not by the colour path, whose noise reading is
    # sqrt(3) too high there) and written back with three channels
    noisy = (camera64 + 0.1 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    write_image(tmp_path / "gray.png", noisy)
    write_image(tmp_path / "rgb.png", noisy.expand(-1, 3, -1, -1))
    for name in ("gray", "rgb"):
        assert main(["--op", "denoise", str(tmp_path / f"{name}.png"), "-o", str(tmp_path / f"out_{name}.png"),
                     "--report", str(tmp_path / f"{name}.json")]) == 0
    assert "restored as gray" in capsys.readouterr().out
    gray, rgb = read_image(tmp_path / "out_gray.png").image, read_image(tmp_path / "out_rgb.png").image
    assert gray.shape == (1, 1, 64, 64) and rgb.shape == (1, 3, 64, 64)
    assert torch.equal(rgb, gray.expand(-1, 3, -1, -1))
    assert "restored_as" in json.loads((tmp_path / "rgb.json").read_text())
    assert "restored_as" not in json.loads((tmp_path / "gray.json").read_text())


def test_a_mask_with_white_holes_is_read_as_drawn_and_said(tmp_path, camera64, capsys):
    # an object to remove drawn in white on black (OpenCV's, LaMa's and scikit-image's way):
    # read as the observed pixels, the whole image would be guessed from the object
    holes = np.zeros((64, 64), np.float32)
    holes[20:34, 24:40] = 1
    write_image(tmp_path / "holes.png", holes)
    write_image(tmp_path / "cam.png", camera64)
    args = ["--op", "inpaint", str(tmp_path / "cam.png"), "--mask", str(tmp_path / "holes.png"),
            "--quiet", "--report", str(tmp_path / "r.json"), "--force"]
    assert main([*args, "-o", str(tmp_path / "auto.png")]) == 0
    err = capsys.readouterr().err
    assert "white is taken as the holes" in err and "--mask-white observed" in err
    assert json.loads((tmp_path / "r.json").read_text())["settings"]["mask_white"] == "holes"
    auto = read_image(tmp_path / "auto.png").image
    kept = torch.from_numpy(holes == 0).expand_as(auto)
    assert torch.equal(auto[kept], read_image(tmp_path / "cam.png").image[kept])
    assert main([*args, "-o", str(tmp_path / "drawn.png"), "--mask-white", "observed"]) == 0
    assert "note:" not in capsys.readouterr().err
    # measured: 30.1 dB against 11.2 when the white is read as observed
    assert psnr(auto, camera64) > psnr(read_image(tmp_path / "drawn.png").image, camera64) + 15


def test_a_mask_whose_white_is_black_in_the_image_is_read_as_its_holes(tmp_path, camera64, capsys):
    # dust specks over 30 % of a photo, drawn in white and blacked out in the photo: read as
    # observed, only black pixels were restored from (measured 4.28 dB, 26.98 as holes)
    holes = (torch.rand(64, 64, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    write_image(tmp_path / "m.png", holes)
    write_image(tmp_path / "cam.png", camera64 * (1 - holes))
    args = ["--op", "inpaint", str(tmp_path / "cam.png"), "--mask", str(tmp_path / "m.png"),
            "--iters", "8", "--quiet"]
    assert main([*args, "-o", str(tmp_path / "auto.png")]) == 0
    assert "black on every white pixel of the mask" in capsys.readouterr().err
    auto = read_image(tmp_path / "auto.png").image
    assert main([*args, "-o", str(tmp_path / "held.png"), "--mask-white", "holes"]) == 0
    assert torch.equal(auto, read_image(tmp_path / "held.png").image)
    assert psnr(auto, camera64) > 20


def test_a_mask_of_scattered_white_pixels_stays_observed(tmp_path, camera64, capsys):
    # 30 % of the pixels observed at random: white is a minority, but its holes are shallow
    observed = (torch.rand(64, 64, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    write_image(tmp_path / "m.png", observed)
    write_image(tmp_path / "cam.png", camera64 * observed)
    assert main(["--op", "inpaint", str(tmp_path / "cam.png"), "--mask", str(tmp_path / "m.png"),
                 "-o", str(tmp_path / "o.png"), "--iters", "8", "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().err
    # white read as observed: those pixels kept as they were, the rest filled
    restored = read_image(tmp_path / "o.png").image
    kept = (observed == 1).expand_as(restored)
    assert torch.equal(restored[kept], read_image(tmp_path / "cam.png").image[kept])
    # 8 steps leave it below the biharmonic start (measured 27.00 dB against 27.93; 27.87
    # after the default 32): no more than 1.5 dB below it (read as holes: far below)
    import operators as O

    start = O.Inpainting(observed).initial_estimate(read_image(tmp_path / "cam.png").image)
    assert psnr(restored, camera64) > psnr(start, camera64) - 1.5
    assert main(["--op", "inpaint", str(tmp_path / "cam.png"), "--mask-white", "holes", "--quiet"]) == 2
    assert "give --mask FILE too" in capsys.readouterr().err


def test_white_strokes_read_as_observed_are_said(tmp_path, camera64, capsys):
    """White text over a photo as its mask, read (by the rule) as the observed pixels: 89 %
    of the image was filled, a white sheet, nothing said; now said with the flag that flips
    it."""
    lines = torch.zeros(64, 64)
    lines[4::10, 6:58] = 1  # six rows of white "text", 2 px thick
    lines[5::10, 6:58] = 1
    write_image(tmp_path / "m.png", lines)
    write_image(tmp_path / "cam.png", camera64)
    assert main(["--op", "inpaint", str(tmp_path / "cam.png"), "--mask", str(tmp_path / "m.png"),
                 "-o", str(tmp_path / "o.png"), "--prior", "denoiser", "--iters", "2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "taken as the observed pixels: the other" in err and "--mask-white holes" in err


def test_a_report_goes_to_the_standard_output_as_dash(tmp_path, gray, capfd):
    # ("-" had written a file named "-")
    assert main(["--op", "denoise", str(gray), "-o", str(tmp_path / "o.png"), "--quiet",
                 "--report", "-", *FAST]) == 0
    assert json.loads(capfd.readouterr().out)["op"] == "denoise"
    assert not Path("-").exists()
    # without --quiet the summary goes to stderr: the standard output stays one JSON (| jq)
    assert main(["--op", "denoise", str(gray), "-o", str(tmp_path / "p.png"), "--report", "-",
                 *[f for f in FAST if f != "--quiet"]]) == 0
    said = capfd.readouterr()
    assert json.loads(said.out)["op"] == "denoise" and "denoise with dip: wrote" in said.err
    # /dev/stdout is "-": sent to a file (here pytest's), it had been "'/dev/stdout' already
    # exists; ... pass --force"
    assert main(["--op", "denoise", str(gray), "-o", str(tmp_path / "q.png"), "--report",
                 "/dev/stdout", *[f for f in FAST if f != "--quiet"]]) == 0
    said = capfd.readouterr()
    assert json.loads(said.out)["op"] == "denoise" and "denoise with dip: wrote" in said.err


def test_dust_and_scratches_drawn_in_white_are_read_as_holes():
    # spread thin over a scan, white read as observed left holes 51-60 px deep, short of a
    # quarter of the image: the photo was painted over, the specks kept (17.13 dB against
    # 43.92 read as holes, 256x256 chelsea); pixels observed at random stay observed
    import operators as O
    from invprior.cli import _white_marks

    g = torch.Generator().manual_seed(0)
    specks = torch.zeros(1, 1, 256, 256)
    for top, left in torch.randint(4, 250, (40, 2), generator=g).tolist():
        specks[..., top : top + 3, left : left + 3] = 1
    specks[..., 100, 20:200] = 1  # and a scratch
    assert _white_marks(specks) == "holes"
    for missing in (0.9, 0.99):
        assert _white_marks(O.random_mask((256, 256), missing, seed=1)[None, None]) == "observed"
    # nor white observed in lines: a grid every 32 px, random rows (each read as holes by a
    # rule on the deepest hole alone)
    grid = torch.zeros(1, 1, 256, 256)
    grid[..., ::32, :] = grid[..., :, ::32] = 1
    rows = torch.zeros(1, 1, 256, 256)
    rows[..., torch.rand(256, generator=g) < 0.1, :] = 1
    assert _white_marks(grid) == _white_marks(rows) == "observed"


def test_a_noisy_photo_with_holes_is_said_to_read_as_noisy(tmp_path, capsys):
    import operators as O
    from invprior.bench.cases import sample_image

    x = sample_image("camera", 64)
    A = O.Inpainting(shape=(1, 64, 64), kind="scribble", seed=0)
    write_image(tmp_path / "mask.png", A.mask[0, 0])
    noisy = A((x + 0.04 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1))
    for name, y in (("noisy", noisy), ("clean", A(x))):
        write_image(tmp_path / f"{name}.png", y)
        assert main(["--op", "inpaint", str(tmp_path / f"{name}.png"), "--mask", str(tmp_path / "mask.png"),
                     "-o", str(tmp_path / f"out_{name}.png"), "--iters", "2", "--quiet"]) == 0
        err = capsys.readouterr().err
        assert ("reads as noisy where it is observed" in err) == (name == "noisy"), err
        assert "Warning" not in err  # the API's warning: said once, as the note
        if name == "noisy":  # the level to give, near the 10.2/255 added
            given = float(err.split("--noise-level ")[1].split()[0])
            assert 0.035 < given < 0.05, given


def test_simulated_noisy_compressed_sensing_says_the_level_it_could_take(tmp_path, gray, capsys):
    # its noise cannot be read off the measurements: restored as noise-free without a word
    args = ["--op", "cs", "--simulate", "--noise", "gaussian:0.05", str(gray), "--iters", "2", "--quiet"]
    assert main([*args, "-o", str(tmp_path / "a.png")]) == 0
    assert "--noise-level 0.05 (the simulation's)" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "b.png"), "--noise-level", "0.05"]) == 0
    assert "the simulation's" not in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_side_file_that_cannot_be_written_keeps_the_restoration(tmp_path, gray, capsys):
    # a full disk under --plot threw the restoration away (minutes, for a network prior)
    (tmp_path / "plot.png").symlink_to("/dev/full")
    out = tmp_path / "out.png"
    assert main(["--op", "denoise", str(gray), "-o", str(out), "--plot", str(tmp_path / "plot.png"),
                 "--force", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"no space left on device; kept what was written before it: {out}.\n"), err
    assert read_image(out).image.shape == (1, 1, 64, 64)


def test_ctrl_c_in_the_last_instant_of_a_write_leaves_nothing(tmp_path):
    # a signal after the rename, before the write returned: the file stayed, yet the run
    # said "interrupted: nothing was written." (and a rerun refused it as existing)
    from invprior.cli import write_all

    first, second = tmp_path / "a.png", tmp_path / "b.json"

    def renamed_then_stopped():
        second.write_text("{}")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_all({"output": lambda: first.write_text("x"), "report": renamed_then_stopped},
                  {"output": first, "report": second})
    assert not first.exists() and not second.exists()


def test_the_package_names_its_commands_and_refuses_to_run_one():
    # "python -m invprior solve --op denoise a.png" printed the list and exited 0, restoring nothing
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    run = subprocess.run([sys.executable, "-m", "invprior", "solve", "--op", "denoise", "a.png"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and run.stderr == (
        "error: python -m invprior runs no command; use python -m invprior.solve --op denoise "
        "a.png.\n")
    version = subprocess.run([sys.executable, "-m", "invprior", "--version"], capture_output=True,
                             text=True, env=env, timeout=120)
    assert version.returncode == 0 and re.fullmatch(r"invprior \d+\.\d+\.\d+\n", version.stdout)
    # its list into a pipe already closed: a BrokenPipeError traceback, status 1
    closed = subprocess.run(f"'{sys.executable}' -m invprior --help | :", shell=True, env=env,
                            capture_output=True, text=True, timeout=120, executable="/bin/bash")
    assert "Traceback" not in closed.stderr


def test_each_command_says_its_version(capsys):
    # python -m invprior.solve --version had been refused ("required: --op, image")
    from invprior import __version__
    from invprior.bench.run import main as bench_main
    from invprior.train import main as train_main

    for command in (main, train_main, bench_main):
        with pytest.raises(SystemExit) as done:
            command(["--version"])
        assert done.value.code == 0 and capsys.readouterr().out == f"invprior {__version__}\n"


def test_a_tiff_s_pixel_size_is_kept_and_scaled_by_a_super_resolution(tmp_path):
    # a microscope's calibration (pixels per centimetre) had been dropped: 1 pixel per unit
    import tifffile

    data = (np.random.default_rng(0).random((32, 32)) * 4000 + 100).astype(np.uint16)
    tifffile.imwrite(tmp_path / "cells.tif", data, resolution=(15.38, 15.38), resolutionunit=3)
    tags = {}
    for op, extra in (("denoise", []), ("sr", ["--factor", "2"])):
        out = tmp_path / f"{op}.tif"
        assert main(["--op", op, *extra, str(tmp_path / "cells.tif"), "-o", str(out), "--quiet"]) == 0
        with tifffile.TiffFile(out) as tif:
            page = tif.pages[0]
            x_res = page.tags[282].value
            tags[op] = (round(x_res[0] / x_res[1], 2), int(page.tags[296].value), page.shape)
    assert tags == {"denoise": (15.38, 3, (32, 32)), "sr": (30.76, 3, (64, 64))}


def test_an_imagej_tiff_s_unit_goes_along_with_its_pixel_size(tmp_path):
    # ImageJ keeps the unit in its description ("unit=um"), which had been dropped: the
    # output's 65 nm pixels read as 0.065 of no unit there
    import tifffile

    data = (np.random.default_rng(0).random((32, 32)) * 4000 + 100).astype(np.uint16)
    tifffile.imwrite(tmp_path / "cells.tif", data, imagej=True, resolution=(1 / 0.065, 1 / 0.065),
                     metadata={"unit": "um"})
    out = tmp_path / "out.tif"
    assert main(["--op", "sr", "--factor", "2", str(tmp_path / "cells.tif"), "-o", str(out),
                 "--quiet"]) == 0
    with tifffile.TiffFile(out) as tif:
        x_res = tif.pages[0].tags[282].value
        assert tif.imagej_metadata["unit"] == "um" and tif.pages[0].shape == (64, 64)
    assert x_res[0] / x_res[1] == pytest.approx(2 / 0.065, rel=1e-4)


def test_a_level_or_blur_that_does_not_fit_the_image_is_said_in_flags(tmp_path, camera64, capsys):
    # a variance told as the level, and a blur told on a sharp photo (10.5-15.4 dB for 40),
    # are said as notes in the command line's words
    noisy = (camera64 + 0.1 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    write_image(tmp_path / "noisy.png", noisy)
    assert main(["--op", "denoise", str(tmp_path / "noisy.png"), "--noise-level", "0.01",
                 "-o", str(tmp_path / "d.png"), "--quiet"]) == 0
    assert "note: --noise-level, 0.01, is far under the noise read off y" in capsys.readouterr().err
    sharp = (camera64 + 0.01 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    write_image(tmp_path / "sharp.png", sharp)
    assert main(["--op", "deblur", "--sigma", "2", str(tmp_path / "sharp.png"),
                 "-o", str(tmp_path / "b.png"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "note: the deblurred image explains y only" in err and "--border valid" in err
