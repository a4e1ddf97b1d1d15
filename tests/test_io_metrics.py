"""Image I/O round trips, bad files, and metrics."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import imageio.v3 as iio

from invprior.io import ImageError, atomic_write, read_image, same_file, write_image
from invprior.metrics import psnr, ssim


def test_png_round_trip_gray_and_rgb(tmp_path):
    for shape in [(1, 1, 12, 10), (1, 3, 9, 14)]:
        x = torch.rand(shape)
        path = write_image(tmp_path / f"img{shape[1]}.png", x)
        back, alpha = read_image(path)
        assert back.shape == shape and alpha is None and back.dtype == torch.float32
        assert (back - x).abs().max() <= 0.5 / 255 + 1e-6


def test_sixteen_bit_tiff_and_png_and_npy(tmp_path):
    x = torch.rand(1, 3, 8, 8)
    for name, img in (("a.tif", x), ("a.png", x[:, :1])):
        back, _ = read_image(write_image(tmp_path / name, img, bits=16))
        assert (back - img).abs().max() <= 0.5 / 65535 + 1e-6
    with pytest.raises(ImageError, match="gray images only"):
        write_image(tmp_path / "rgb16.png", x, bits=16)
    back, _ = read_image(write_image(tmp_path / "a.npy", x))
    assert torch.equal(back, x)


def test_npy_floats_outside_unit_range_are_kept(tmp_path):
    a = np.array([[-0.2, 0.5], [1.3, 0.0]], dtype=np.float32)
    np.save(tmp_path / "noisy.npy", a)
    img, _ = read_image(tmp_path / "noisy.npy")
    assert img.shape == (1, 1, 2, 2) and torch.allclose(img[0, 0], torch.from_numpy(a))


def test_rgba_alpha_kept_apart(tmp_path):
    rgba = np.zeros((6, 5, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = 255
    rgba[2, 3, 3] = 0  # one transparent pixel
    iio.imwrite(tmp_path / "rgba.png", rgba)
    img, alpha = read_image(tmp_path / "rgba.png")
    assert img.shape == (1, 3, 6, 5) and alpha.shape == (1, 1, 6, 5)
    assert alpha[0, 0, 2, 3] == 0 and alpha.sum() == 29


def test_a_phone_photo_is_read_upright_and_cmyk_as_rgb(tmp_path):
    from PIL import Image
    from skimage import data

    raw = data.astronaut()[:32, :48]
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to show it
    Image.fromarray(raw).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    Image.fromarray(raw).save(tmp_path / "plain.jpg", quality=95)
    upright, plain = read_image(tmp_path / "phone.jpg").image, read_image(tmp_path / "plain.jpg").image
    assert upright.shape == (1, 3, 48, 32)
    assert torch.equal(upright, torch.rot90(plain, -1, (2, 3)))
    # a print-ready CMYK JPEG: its K channel was taken for an alpha channel
    Image.fromarray(raw).convert("CMYK").save(tmp_path / "print.jpg", quality=95)
    image, alpha = read_image(tmp_path / "print.jpg")
    assert alpha is None and image.shape == (1, 3, 32, 48)
    assert (image - plain).abs().mean() < 0.02


def test_sixteen_bit_png_is_scaled_by_65535(tmp_path):
    iio.imwrite(tmp_path / "g16.png", np.full((4, 4), 65535 // 2, dtype=np.uint16))
    img, _ = read_image(tmp_path / "g16.png")
    assert img.mean().item() == pytest.approx(0.5, abs=1e-4)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"this is not a png"), "not a readable image"),
        (lambda p: p.write_bytes(_png_bytes()[:60]), "not a readable image"),
    ],
)
def test_bad_files_name_the_file(tmp_path, make, match):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageError, match=match) as err:
        read_image(path)
    assert "bad.png" in str(err.value)


def test_a_corrupt_tiff_is_one_sentence(tmp_path):
    # tifffile's log of each bad tag was printed above it (Python's last-resort handler;
    # pytest's own log handler hides that here, hence a process of its own)
    import io
    import subprocess
    import sys

    import tifffile

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((64, 64), np.uint8))
    (tmp_path / "bad.tif").write_bytes(buf.getvalue()[:200])
    run = subprocess.run([sys.executable, "-m", "invprior.solve", "--op", "denoise",
                          str(tmp_path / "bad.tif")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "not a readable image" in run.stderr


def test_a_tiff_s_unspecified_extra_samples_are_not_read_as_alpha(tmp_path):
    # a microscope's two channels: the second had been read as alpha (the file then refused
    # as transparent); a TIFF's RGBA (unassociated alpha) is still read as such
    import tifffile

    data = np.random.default_rng(0).integers(0, 4000, (16, 16, 2)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "two.tif", data, photometric="minisblack", planarconfig="contig",
                     extrasamples=["unspecified"])
    with pytest.raises(ImageError, match=r"its 2 channels are not colour and transparency \(1 of "
                                         r"them unspecified extra samples"):
        read_image(tmp_path / "two.tif")
    tifffile.imwrite(tmp_path / "rgba.tif", np.zeros((8, 8, 4), np.uint8))
    assert read_image(tmp_path / "rgba.tif").alpha is not None
    # RGB's one extra sample, even unspecified, is alpha, as other readers take it
    tifffile.imwrite(tmp_path / "rgbx.tif", np.zeros((8, 8, 4), np.uint8), photometric="rgb",
                     extrasamples=["unspecified"])
    assert read_image(tmp_path / "rgbx.tif").alpha is not None


def test_importing_invprior_leaves_tifffiles_warnings_alone():
    # a NullHandler added at import had silenced them in every program that imports invprior
    import subprocess
    import sys

    code = 'import logging, invprior; logging.getLogger("tifffile").warning("page 3 skipped")'
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "page 3 skipped" in run.stderr, run.stderr


def _png_bytes():
    import io

    buf = io.BytesIO()
    iio.imwrite(buf, (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8), extension=".png")
    return buf.getvalue()


def test_bad_arrays(tmp_path):
    np.save(tmp_path / "nan.npy", np.array([[0.1, np.nan]], dtype=np.float32))
    with pytest.raises(ImageError, match="NaN"):
        read_image(tmp_path / "nan.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 5), dtype=np.float32))
    with pytest.raises(ImageError, match="zero size"):
        read_image(tmp_path / "empty.npy")
    np.save(tmp_path / "cube.npy", np.zeros((4, 4, 4, 4), dtype=np.float32))
    with pytest.raises(ImageError, match="expected an"):
        read_image(tmp_path / "cube.npy")
    # an absurd size is refused from the header, before any pixel is loaded
    huge = np.lib.format.open_memmap(tmp_path / "huge.npy", mode="w+", dtype=np.uint8, shape=(20000, 6000))
    del huge
    with pytest.raises(ImageError, match="megapixels"):
        read_image(tmp_path / "huge.npy")
    (tmp_path / "x.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    with pytest.raises(ImageError, match="unsupported file type"):
        read_image(tmp_path / "x.heic")


def test_write_is_atomic_and_refuses_to_overwrite(tmp_path):
    path = write_image(tmp_path / "out.png", torch.zeros(1, 1, 4, 4))
    before = path.read_bytes()
    with pytest.raises(ImageError, match="already exists"):
        write_image(path, torch.ones(1, 1, 4, 4))
    assert path.read_bytes() == before
    write_image(path, torch.ones(1, 1, 4, 4), overwrite=True)
    assert read_image(path).image.min() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary files left
    assert same_file(path, tmp_path / "." / "out.png")
    # a file that another process put there after the check is kept, not replaced (two
    # folder runs into one folder replaced each other's outputs)
    with pytest.raises(FileExistsError):
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(b"other"), replace=False)
    assert read_image(path).image.min() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_outputs_take_the_umask_of_the_moment_and_ctrl_c_leaves_no_temporary_file(tmp_path):
    """Permissions as the process's umask says when the file is written (a umask read once
    at import had given 0644 files to a caller that set 077 later), and a Ctrl-C while an
    output is written leaves nothing beside it."""
    import os
    import stat

    old = os.umask(0o077)
    try:
        private = write_image(tmp_path / "private.png", torch.rand(1, 1, 4, 4))
        os.umask(0o022)
        shared = write_image(tmp_path / "shared.png", torch.rand(1, 1, 4, 4))
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644

    def interrupted(tmp):
        Path(tmp).write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "out.json", interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private.png", "shared.png"]


def test_a_device_is_written_into_and_a_link_through_never_replaced(tmp_path):
    # as root, --report /dev/null --force had made /dev/null a plain file (os.replace), and
    # a link to a file was replaced by a file
    import os
    import stat

    atomic_write(Path("/dev/null"), lambda tmp: Path(tmp).write_text("report"))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    (tmp_path / "target.json").write_text("old")
    (tmp_path / "link.json").symlink_to(tmp_path / "target.json")
    atomic_write(tmp_path / "link.json", lambda tmp: Path(tmp).write_text("new"))
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "target.json").read_text() == "new"


def test_write_reads_pixels_as_from_array_does_and_refuses_what_no_file_shows(tmp_path):
    from skimage import data

    camera = data.camera()[:64, :64]  # uint8: once written as all white, clipped to [0, 1]
    written = read_image(write_image(tmp_path / "camera.png", camera)).image
    assert torch.equal((written[0, 0] * 255).round().byte(), torch.from_numpy(camera))
    wide = np.array([[0, 1000], [65535, 30000]], dtype=np.uint16)
    assert read_image(write_image(tmp_path / "wide.tif", wide, bits=16)).image.max() == 1.0
    for x, says in [(torch.rand(1, 1, 8, 8) * 255, "0-255 values"),
                    (torch.full((1, 1, 8, 8), float("nan")), "NaN"),
                    (torch.rand(1, 5, 8, 8), r"at most 4 channels, got shape \(1, 5, 8, 8\)"),
                    (torch.rand(8), "got shape"), (None, "not an image"),
                    (np.full((8, 8), -3), "below 0")]:
        with pytest.raises(ImageError, match=says):
            write_image(tmp_path / "x.png", x)
    with pytest.raises(ValueError, match="True or False, got 'no'"):
        write_image(tmp_path / "camera.png", camera, overwrite="no")
    assert not (tmp_path / "x.png").exists()
    vector = torch.randn(1, 50) * 3  # a compressed-sensing y: any shape and scale in .npy
    assert np.array_equal(np.load(write_image(tmp_path / "y.npy", vector)), vector.numpy())


def test_psnr_and_ssim():
    ref = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    noisy = ref + 0.1 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    assert psnr(noisy, ref) == pytest.approx(20.0, abs=0.2)
    assert psnr(ref, ref) == float("inf")
    assert ssim(ref, ref) == pytest.approx(1.0)
    for metric in (psnr, ssim):  # (data_range 0: "math domain error"; -1 passed)
        for wrong in (0, -1, "1"):
            with pytest.raises(ValueError, match="data_range must be a positive number"):
                metric(noisy, ref, data_range=wrong)
        with pytest.raises(ValueError, match="tensors or arrays, got NoneType"):
            metric(None, ref)
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a, b = noisy[0].permute(1, 2, 0).double().numpy(), ref[0].permute(1, 2, 0).double().numpy()
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=1), rel=1e-6)
    expected = structural_similarity(
        a, b, data_range=1, channel_axis=2, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(a, b) == pytest.approx(expected) and ssim(a, b) < 0.99
    # a batch of arrays (B, H, W, C) as the same tensors; (C, H, W) had been 3 rows of 32 channels
    arrays = [v.permute(0, 2, 3, 1).numpy() for v in (noisy, ref)]
    assert ssim(*arrays) == pytest.approx(ssim(noisy, ref)) and ssim(noisy, ref) < 0.99
    with pytest.raises(ValueError, match=r"looks like \(C, H, W\) or a batch \(B, H, W\)"):
        ssim(noisy[0].numpy(), ref[0].numpy())
    with pytest.raises(ValueError, match="cannot compare"):
        psnr(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 5))
    # 8-bit pixels as read from a PNG: their range said (as skimage's), else refused (-17 dB)
    a8, b8 = (np.round(v * 255).astype(np.uint8) for v in (a.clip(0, 1), b))
    assert psnr(a8, b8, data_range=255) == pytest.approx(peak_signal_noise_ratio(b8, a8))
    for metric in (psnr, ssim):
        with pytest.raises(ValueError, match="pass data_range=255"):
            metric(a8, b8)
    assert psnr(a8, b8, data_range=np.uint8(255)) == pytest.approx(psnr(a8, b8, data_range=255))
    # [0, 1] floats with the 8-bit range (74 dB for 26), or beside 8-bit pixels (4.6 dB)
    for metric in (psnr, ssim):
        for pair in ((a, b), (a8, b), (a, b8)):
            with pytest.raises(ValueError, match="measured with data_range=1"):
                metric(*pair, data_range=255)
    # a batch (B, H, W) of 5+ gray arrays had been one Bx H image of W channels (SSIM 0.86
    # for 0.51); (B, C, H, W) arrays likewise
    gray = [v[:, 0].numpy() for v in (noisy, ref)]
    for metric in (psnr, ssim):
        for arrays in (gray, [np.concatenate([g] * 3) for g in gray], [v.numpy() for v in (noisy, ref)]):
            with pytest.raises(ValueError, match="with C up to 4"):
                metric(*arrays)
    assert ssim(*[g[..., None] for g in gray]) == pytest.approx(ssim(noisy[:, :1], ref[:, :1]))


def test_float64_planar_and_multipage_tiffs_are_read(tmp_path):
    # Pillow knows none of these; tifffile reads each as stored
    import tifffile

    rgb = np.random.default_rng(0).random((24, 20, 3))
    tifffile.imwrite(tmp_path / "f64.tif", rgb[..., 0])
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0).astype(np.float32),
                     photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "pages.tif", (rgb[None, ..., 0] * [[[1]], [[0.5]]]).astype(np.float32))
    assert torch.allclose(read_image(tmp_path / "f64.tif").image[0, 0], torch.tensor(rgb[..., 0]).float())
    planar = read_image(tmp_path / "planar.tif").image
    assert torch.allclose(planar[0], torch.tensor(rgb).float().permute(2, 0, 1))
    first = read_image(tmp_path / "pages.tif").image
    assert first.shape == (1, 1, 24, 20) and torch.allclose(first[0, 0], torch.tensor(rgb[..., 0]).float())


def test_bad_measurement_files_name_the_file_and_never_suggest_unpickling(tmp_path):
    from invprior.io import read_measurements

    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    # an .npz named .npy had been an NpzFile (AttributeError, and a folder run ended); a PNG
    # named .npy "held pickled objects"
    np.savez(tmp_path / "zipped.npz", a=np.ones(4))
    (tmp_path / "zipped.npz").rename(tmp_path / "zipped.npy")
    write_image(tmp_path / "png.png", torch.rand(1, 1, 8, 8))
    (tmp_path / "png.png").rename(tmp_path / "png.npy")
    for name, reason in (("obj.npy", "pickled Python objects"), ("text.npy", "not real numbers"),
                         ("zipped.npy", "it is a .npz or other zip archive"),
                         ("png.npy", "its first bytes are no .npy header")):
        for read in (read_measurements, read_image):
            if read is read_image and name == "text.npy":
                continue
            with pytest.raises(ImageError, match=reason) as err:
                read(tmp_path / name)
            assert name in str(err.value) and "allow_pickle" not in str(err.value)
    # timedelta pixels had been "Invalid integer data type 'm'", naming no file
    np.save(tmp_path / "td.npy", np.zeros((8, 8), "timedelta64[s]"))
    with pytest.raises(ImageError, match="td.npy': unsupported pixel type timedelta64"):
        read_image(tmp_path / "td.npy")
    with pytest.raises(ImageError, match="it is not a regular file"):  # (it said "empty")
        read_image("/dev/zero")


def test_an_animated_image_decodes_its_first_frame_only(tmp_path):
    # every frame of an animated PNG or GIF was decoded and stacked for the first: a 32 KB
    # file of 300 frames of 2000x2000 took 7.3 GB
    import tracemalloc

    from PIL import Image

    frames = [Image.fromarray(np.full((256, 256, 3), 5 * i, np.uint8)) for i in range(40)]
    for name in ("anim.png", "anim.gif"):
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:])
        tracemalloc.start()
        try:
            image = read_image(tmp_path / name).image
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert float(image.max()) == 0 and peak < 3 * 2**20, (name, peak)  # 40 frames: 7.9 MB


def test_a_one_dimensional_array_and_a_90_megapixel_header_say_so_plainly(tmp_path, recwarn):
    np.save(tmp_path / "line.npy", np.ones(5, np.float32))
    with pytest.raises(ImageError, match=r"expected an \(H, W\) or \(H, W, C\) image, got shape \(5,\)"):
        read_image(tmp_path / "line.npy")
    # a 10000x9000 PNG (90 megapixels, under our 100) is read without Pillow's bomb warning
    from PIL import Image

    Image.new("L", (10000, 9000)).save(tmp_path / "big.png", compress_level=1)
    assert read_image(tmp_path / "big.png").image.shape == (1, 1, 9000, 10000)
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_jpeg_noise_is_read_from_the_luminance_table_and_only_from_jpegs(tmp_path):
    import imageio.v3 as iio

    from invprior.io import jpeg_noise

    a = np.zeros((16, 16, 3), np.uint8)
    levels = []
    for quality in (95, 85, 75):
        iio.imwrite(tmp_path / f"q{quality}.jpg", a, quality=quality)
        levels.append(round(255 * jpeg_noise(tmp_path / f"q{quality}.jpg"), 1))
    assert levels == [1.7, 5.0, 8.4]  # Pillow's tables: mean step / sqrt(12)
    # a phone's MPO (a JPEG with a second picture after it) is a JPEG too
    from PIL import Image

    first = Image.fromarray(a)
    first.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[first], quality=85)
    assert round(255 * jpeg_noise(tmp_path / "phone.jpg"), 1) == 5.0
    iio.imwrite(tmp_path / "x.png", a)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    assert jpeg_noise(tmp_path / "x.png") is None and jpeg_noise(tmp_path / "bad.jpg") is None


def test_a_palette_or_gray_png_with_a_transparent_entry_reads_its_alpha(tmp_path):
    # pngquant's palette PNGs and GIFs keep transparency as a palette entry; decoding the
    # colours alone dropped it, and the transparent pixels were taken as observed
    from PIL import Image

    rgb = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    palette = Image.fromarray(rgb).quantize(8)
    index = np.asarray(palette)
    palette.save(tmp_path / "p.png", transparency=int(index[0, 0]))
    loaded = read_image(tmp_path / "p.png")
    assert loaded.image.shape == (1, 3, 16, 16)
    assert torch.equal(loaded.alpha[0, 0] < 0.5, torch.from_numpy(index == index[0, 0]))
    palette.save(tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png").alpha is None
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(gray).save(tmp_path / "l.png", transparency=7)
    loaded = read_image(tmp_path / "l.png")
    assert loaded.image.shape == (1, 1, 16, 16) and int((loaded.alpha < 0.5).sum()) == 1


def test_webp_and_gif_are_read(tmp_path):
    # photos from the web and phones come as WebP: a folder of them held "no image files"
    from PIL import Image

    rgb = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.webp", lossless=True)
    assert torch.equal(read_image(tmp_path / "a.webp").image, torch.from_numpy(rgb).permute(2, 0, 1)[None] / 255.0)
    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "b.gif", save_all=True, append_images=frames[1:])
    assert abs(float(read_image(tmp_path / "b.gif").image.mean()) - 10 / 255) < 1e-6  # the first frame


def test_frames_beyond_the_first_are_counted_and_said(tmp_path, capsys):
    # an animation or a TIFF stack restored its first frame without a word
    import tifffile
    from PIL import Image

    from invprior.cli import main
    from invprior.io import reading_notes

    frames = [Image.fromarray(np.full((16, 16), v, np.uint8)) for v in (10, 90, 200)]
    frames[0].save(tmp_path / "b.gif", save_all=True, append_images=frames[1:])
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([np.asarray(f) for f in frames[:2]]))
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((16, 16, 3), np.uint8))
    notes = [reading_notes(tmp_path / n) for n in ("b.gif", "stack.tif", "rgb.tif")]
    assert [len(n) for n in notes] == [1, 1, 0] and "holds 2 frames" in notes[1][0]
    # a hyperstack's planes by their axes (its channels had been called frames, and counted
    # without its z-planes)
    tifffile.imwrite(tmp_path / "zc.tif", np.zeros((4, 2, 16, 16), np.uint8), imagej=True,
                     metadata={"axes": "ZCYX"})
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((2, 16, 16), np.uint8), imagej=True,
                     metadata={"axes": "CYX"})
    assert reading_notes(tmp_path / "zc.tif") == [
        f"{tmp_path / 'zc.tif'} holds 8 images (4 z-planes x 2 channels); the first is restored."]
    assert "holds 2 channels; the first is restored" in reading_notes(tmp_path / "c.tif")[0]
    assert main(["--op", "denoise", str(tmp_path / "b.gif"), "-o", str(tmp_path / "out.png"), "--quiet"]) == 0
    assert "holds 3 frames; the first is restored" in capsys.readouterr().err


def test_training_reads_the_image_files_that_solving_reads():
    from invprior.glo.data import EXTENSIONS
    from invprior.io import READABLE

    assert set(EXTENSIONS) == set(READABLE) - {".npy"}


def test_training_leaves_out_hidden_files_as_a_folder_run_does(tmp_path):
    # macOS's AppleDouble files (._a.png beside a.png on shared drives) had each been said
    # as unreadable
    from invprior.glo.data import image_files

    for name in ("a.png", "._a.png", ".cache/b.png", "sub/c.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_image(tmp_path / name, torch.rand(1, 1, 8, 8))
    assert [p.relative_to(tmp_path).as_posix() for p in image_files(tmp_path)] == ["a.png", "sub/c.png"]


def test_jpeg_is_written_when_asked_for_at_full_colour_resolution(tmp_path):
    from PIL import Image, JpegImagePlugin

    from invprior.bench.cases import sample_image
    from invprior.folders import output_name
    from pathlib import Path

    x = sample_image("astronaut", 64)
    path = write_image(tmp_path / "o.jpg", x)
    with Image.open(path) as im:
        assert im.mode == "RGB" and JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
    assert psnr(read_image(path).image, x) > 37  # quality 95 (measured 39.0 dB)
    assert read_image(write_image(tmp_path / "g.jpeg", x[:, :1])).image.shape == (1, 1, 64, 64)
    with pytest.raises(ImageError, match="8 bits"):
        write_image(tmp_path / "deep.jpg", x, bits=16)
    # a folder's outputs stay lossless: a JPEG's restoration is not put through JPEG again
    assert output_name(Path("a/photo.jpg")) == Path("a/photo.png")


def test_an_array_becomes_what_the_api_takes_and_the_api_says_so(tmp_path):
    from skimage import data

    from invprior import solve
    from invprior.io import from_array
    import operators as O

    rgba = np.dstack([data.astronaut()[:16, :16], np.full((16, 16), 255, np.uint8)])
    iio.imwrite(tmp_path / "a.png", rgba)
    from_file, loaded = read_image(tmp_path / "a.png"), from_array(rgba)
    assert torch.equal(loaded.image, from_file.image) and torch.equal(loaded.alpha, from_file.alpha)
    with pytest.raises(ValueError, match=r"invprior.io.from_array\(a\).image"):
        solve(data.camera()[:16, :16], O.Denoising())
    with pytest.raises(ImageError, match="cannot read the array: expected an"):
        from_array(np.zeros((4, 4, 7)))


def _png_rgb16(path, array: np.ndarray) -> None:
    """A 16-bit RGB PNG written by hand (Pillow writes none): filter 0 on every row."""
    import struct
    import zlib

    h, w, _ = array.shape
    raw = b"".join(b"\x00" + array[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_a_16_bit_colour_png_is_said_to_be_read_at_8_bits(tmp_path):
    # its low bits were dropped without a word, and a 16-bit TIFF written of it held 8
    from invprior.io import reading_notes

    array = np.random.default_rng(0).integers(0, 65536, (8, 8, 3)).astype(np.uint16)
    _png_rgb16(tmp_path / "deep.png", array)
    image = read_image(tmp_path / "deep.png").image
    assert torch.allclose(image, torch.from_numpy((array >> 8).astype(np.float32) / 255).permute(2, 0, 1)[None])
    assert "16-bit colour PNG, which is read at 8 bits" in reading_notes(tmp_path / "deep.png")[0]
    write_image(tmp_path / "gray16.png", torch.rand(1, 1, 8, 8), bits=16)
    assert reading_notes(tmp_path / "gray16.png") == []  # (a gray one is read whole)


def test_a_float_image_on_another_scale_is_refused_and_noise_is_not(tmp_path, camera64):
    # on [-1, 1] it came back with 58 % of its pixels black, on [0, 3] all white
    x = camera64[0, 0].numpy()
    np.save(tmp_path / "signed.npy", 2 * x - 1)
    with pytest.raises(ImageError, match=r"outside \[0, 1\].*\(x \+ 1\) / 2 for \[-1, 1\]"):
        read_image(tmp_path / "signed.npy")
    np.save(tmp_path / "double.npy", 2 * x)
    with pytest.raises(ImageError, match="scale it to that first"):
        read_image(tmp_path / "double.npy")
    noise = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    for noisy in (x + 0.3 * noise, 0.3 * noise):  # heavy noise, even on black, is no scale
        np.save(tmp_path / "noisy.npy", noisy)
        assert torch.equal(read_image(tmp_path / "noisy.npy").image[0, 0], torch.from_numpy(noisy))


def test_wide_integer_pixels_keep_their_scale():
    """int64 (NumPy's default for astype(int)) of a 0-255 image is read on the 8-bit scale,
    not divided by its own maximum (9 % brighter); negative integer pixels are refused."""
    from skimage import data

    from invprior.io import from_array

    camera = data.camera()[::8, ::8]
    assert torch.equal(from_array(camera.astype(np.int64)).image, from_array(camera).image)
    with pytest.raises(ImageError, match="go below 0"):
        from_array(camera.astype(np.int64) - 10)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_under_a_checkpoint_is_one_sentence(tmp_path):
    # torch.save into the file raised RuntimeError ("unexpected pos 1408 vs 1302"): a traceback
    from invprior.io import CannotWrite, write_torch

    (tmp_path / "w.pt").symlink_to("/dev/full")
    with pytest.raises(CannotWrite, match=r"cannot write '.*w.pt': no space left on device\.$"):
        write_torch(tmp_path / "w.pt", {"w": torch.ones(1000)})


def test_a_link_to_a_missing_place_on_the_output_path_is_refused_before_any_work(tmp_path):
    # since check_writable makes nothing, it had passed, and the write refused it after the solve
    from invprior.io import check_writable

    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ImageError, match=r"'.*gone' is a link to a missing place\.$"):
        check_writable(tmp_path / "gone" / "sub")
    assert not (tmp_path / "nowhere").exists()


def test_a_long_but_legal_file_name_is_written(tmp_path):
    # 246 + 4 bytes: its temporary name (".NAME.xxxxxxxx.tmp", 14 more) had been too long,
    # and the write failed after the whole solve
    path = tmp_path / ("b" * 246 + ".png")
    write_image(path, torch.rand(1, 1, 8, 8))
    assert read_image(path).image.shape == (1, 1, 8, 8) and len(list(tmp_path.iterdir())) == 1


def test_tiffs_that_pillow_decodes_come_out_as_a_viewer_shows_them(tmp_path):
    # LZW (the most common TIFF compression), JPEG in TIFF and palette TIFFs: tifffile needs
    # imagecodecs for the first two and gives a palette's indices, so Pillow reads them
    from PIL import Image
    from skimage import data

    rgb = data.astronaut()[100:132, 150:182]
    Image.fromarray(rgb).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    Image.fromarray(rgb).quantize(64).save(tmp_path / "palette.tif")
    Image.fromarray(rgb).save(tmp_path / "jpeg.tif", compression="jpeg", quality=95)
    lzw, _ = read_image(tmp_path / "lzw.tif")
    assert lzw.shape == (1, 3, 32, 32) and torch.equal(lzw, torch.from_numpy(rgb).permute(2, 0, 1)[None] / 255)
    palette, _ = read_image(tmp_path / "palette.tif")
    with Image.open(tmp_path / "palette.tif") as im:  # its colours, not its indices
        shown = np.array(im.convert("RGB"))
    assert palette.shape == (1, 3, 32, 32) and torch.equal(palette[0].permute(1, 2, 0) * 255, torch.from_numpy(shown).float())
    jpeg, _ = read_image(tmp_path / "jpeg.tif")
    assert psnr(jpeg, lzw) > 35


def test_a_sixteen_bit_colour_lzw_tiff_is_read_at_8_bits_with_a_note():
    # made with tifffile and imagecodecs (which we do not install): y, x = np.mgrid[0:16, 0:16];
    # channels y * 4096 + x * 17, x * 4096 + 255, (y + x) * 2048, uint16, compression='lzw'
    from invprior.io import reading_notes

    path = Path(__file__).parent / "data" / "rgb16_lzw.tif"
    img, _ = read_image(path)
    y, x = np.mgrid[0:16, 0:16]
    values = np.stack([y * 4096 + x * 17, x * 4096 + 255, (y + x) * 2048], 0) / 65535
    assert img.shape == (1, 3, 16, 16) and np.abs(img[0].numpy() - values).max() < 1 / 255
    assert [n.split(" is ", 1)[1] for n in reading_notes(path)] == [
        "a 16-bit colour TIFF compressed by LZW, which is read at 8 bits (Pillow decodes no "
        "more); saved uncompressed or with zip (deflate) compression, it keeps all 16."]


def test_tiff_orientation_min_is_white_and_extra_pages(tmp_path):
    import tifffile
    from PIL import Image
    from invprior.io import reading_notes

    gray = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 20
    for turn in range(1, 9):  # the turns of a PNG with the same EXIF orientation
        tifffile.imwrite(tmp_path / f"o{turn}.tif", gray, extratags=[(274, 3, 1, turn, True)])
        image = Image.fromarray((gray // 256).astype(np.uint8))
        exif = image.getexif()
        exif[274] = turn
        image.save(tmp_path / f"o{turn}.png", exif=exif.tobytes())
        image.save(tmp_path / f"lzw{turn}.tif", compression="tiff_lzw", exif=exif.tobytes())
        shown = read_image(tmp_path / f"o{turn}.png").image
        assert shown.shape[-2:] == ((48, 64) if turn < 5 else (64, 48))
        assert (read_image(tmp_path / f"o{turn}.tif").image - shown).abs().max() < 1 / 255
        assert torch.equal(read_image(tmp_path / f"lzw{turn}.tif").image, shown)  # (by Pillow)
    # 0 is white: a scanned page had come out as its negative
    tifffile.imwrite(tmp_path / "white.tif", 65535 - gray, photometric="miniswhite")
    assert torch.equal(read_image(tmp_path / "white.tif").image[0, 0], torch.from_numpy(gray / 65535).float())
    bits = np.zeros((16, 16), bool)
    bits[4:8] = True
    tifffile.imwrite(tmp_path / "fax.tif", bits, photometric="miniswhite")
    assert read_image(tmp_path / "fax.tif").image[0, 0].sum() == 16 * 12
    # pages written one at a time are series of their own: the note counts them
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:
        for page in (gray, gray[::-1], gray[:32]):
            tif.write(page)
    assert reading_notes(tmp_path / "pages.tif") == [f"{tmp_path / 'pages.tif'} holds 3 pages; the first is restored."]


def test_a_file_is_read_by_its_bytes_not_its_name(tmp_path):
    x = torch.rand(1, 3, 16, 16)
    png = write_image(tmp_path / "a.png", x)
    (tmp_path / "png.tif").write_bytes(png.read_bytes())
    assert torch.equal(read_image(tmp_path / "png.tif").image, read_image(png).image)
    tif = write_image(tmp_path / "b.tif", x, bits=16)
    (tmp_path / "tif.png").write_bytes(tif.read_bytes())  # 16 bits kept: tifffile reads it
    assert torch.equal(read_image(tmp_path / "tif.png").image, read_image(tif).image)


def test_sixteen_bit_gray_pngs_with_transparency(tmp_path):
    import struct
    import zlib

    from invprior.io import reading_notes

    def png(name, colour_type, pixels, extra=b""):  # Pillow writes neither of these
        samples = 2 if colour_type == 4 else 1  # (gray + alpha: two values a pixel)
        def chunk(kind, body):
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)
        head = struct.pack(">IIBBBBB", pixels.shape[1] // samples, pixels.shape[0], 16, colour_type, 0, 0, 0)
        (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + extra
                                      + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
        return tmp_path / name

    gray = (np.arange(256, dtype=np.uint16).reshape(16, 16) + 1) * 257
    gray[2:4, 2:6] = 0
    img, alpha = read_image(png("trns.png", 0, gray, extra=struct.pack(">I", 2) + b"tRNS"
                                + struct.pack(">H", 0) + struct.pack(">I", zlib.crc32(b"tRNS" + struct.pack(">H", 0)))))
    assert alpha is not None and alpha.sum() == 256 - 8 and alpha[0, 0, 2:4, 2:6].sum() == 0
    # gray + alpha at 16 bits: Pillow opens it as RGBA (8 bits); it is gray
    path = png("la.png", 4, np.dstack([gray, np.full_like(gray, 65535)]).reshape(16, 32))
    img, alpha = read_image(path)
    assert img.shape == (1, 1, 16, 16) and alpha.min() == 1
    assert (img[0, 0] - torch.from_numpy(gray / 65535).float()).abs().max() < 1 / 255
    assert "a 16-bit gray PNG with alpha" in reading_notes(path)[0]


def test_gray_alpha_tiff_and_alpha_to_jpeg(tmp_path):
    x = torch.rand(1, 2, 16, 24)
    for bits in (8, 16, 32):  # tifffile took (H, W, 2) for H pages of W x 2 pixels
        img, alpha = read_image(write_image(tmp_path / f"la{bits}.tif", x, bits=bits))
        assert img.shape == alpha.shape == (1, 1, 16, 24)
        assert (torch.cat([img, alpha], 1) - x).abs().max() <= 0.5 / 255 + 1e-6
    for channels in (2, 4):
        with pytest.raises(ImageError, match="JPEG holds no alpha"):
            write_image(tmp_path / "a.jpg", torch.rand(1, channels, 8, 8))
