"""Shot noise: denoising through Anscombe's transform (invprior.poisson), API and CLI."""

import pytest
import torch

import operators as O
from invprior import solve
from invprior.cli import main
from invprior.io import read_image, write_image
from invprior.metrics import psnr
from invprior.poisson import anscombe, inverse_anscombe, read_peak, span


def counts(x, peak, seed=0):
    return O.PoissonNoise(peak, seed=seed)(x)


def test_the_transform_makes_shot_noise_of_std_one_and_its_inverse_is_unbiased():
    flat = torch.full((1, 1, 128, 128), 0.3)
    for peak in (10.0, 100.0):
        y = counts(flat, peak)
        assert abs(anscombe(y, peak).std().item() * span(peak) - 1) < 0.05  # raw: sqrt(0.3 peak)
        # the mean of the transformed values maps back to the mean count, not its root
        assert abs(inverse_anscombe(anscombe(y, peak).mean(), peak).item() - 0.3) < 0.01


@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_the_peak_is_read_off_a_photo(name):
    from invprior.bench.cases import sample_image

    x = sample_image(name, 128)
    for peak in (5, 30, 100):
        assert 0.75 * peak < read_peak(counts(x, peak)) < 1.3 * peak


def test_shot_noise_denoised_through_the_transform_beats_it_taken_as_gaussian(camera64):
    y = counts(camera64, 20)
    gaussian = psnr(solve(y, O.Denoising(), progress=False).image, camera64)
    read = solve(y, O.Denoising(), noise="poisson", truth=camera64, progress=False)
    told = solve(y, O.Denoising(), noise=O.PoissonNoise(20), progress=False)
    # camera 64 at 20 photons: 22.31 dB taken as gaussian, 27.41 through the transform
    assert read.psnrs == [psnr(read.image, camera64)] and read.psnrs[0] > gaussian + 3.0
    assert abs(psnr(told.image, camera64) - read.psnrs[0]) < 0.5
    assert "shot noise, peak" in read.stop_reason and read.noise_level is None
    # a batch: each observation with its own peak, as restored alone
    pair = torch.cat([y, counts(camera64.flip(-1), 200, seed=1)])
    both = solve(pair, O.Denoising(), noise="poisson", progress=False)
    alone = solve(pair[1:], O.Denoising(), noise="poisson", progress=False)
    assert torch.allclose(both.image[1:], alone.image, atol=1e-5) and len(both.items) == 2
    assert both.items[0].stop_reason != both.items[1].stop_reason  # (their peaks)


def test_counts_above_the_peak_and_clipped_files_are_taken_as_shot_noise(camera64):
    # 1 photon at white: y reaches 5 and more, which the [0, 1] check had refused
    y = counts(camera64, 1)
    assert float(y.max()) > 4
    low = solve(y, O.Denoising(), noise="POISSON", truth=camera64, progress=False)
    assert low.psnrs[0] > psnr(y.clamp(0, 1), camera64) + 8  # (18.3 dB against 6.3)
    # an 8-bit file clips at white: its peak is read off the rest (read 6.9 for 5 before)
    clipped = (counts(camera64, 5).clamp(0, 1) * 255).round() / 255
    assert 3.5 < read_peak(clipped) < 6.5


def test_shot_noise_is_refused_where_the_transform_does_not_apply(camera64):
    y = counts(camera64, 20)
    with pytest.raises(ValueError, match="shot noise \\(noise=...\\) is for denoising and deblurring"):
        solve(y, O.Inpainting(shape=(1, 64, 64), missing=0.3), noise="poisson", progress=False)
    # a blur whose noise does not grow with the brightness: gaussian, and said (in a folder,
    # one such file had failed the others)
    white = O.Blur(sigma=1.0)(camera64) + 0.05 * torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    said = solve(white, O.Blur(sigma=1.0), noise="poisson", progress=False)
    assert "no shot noise read: y's noise does not grow with its brightness" in said.stop_reason
    assert torch.equal(said.image, solve(white, O.Blur(sigma=1.0), progress=False).image)
    with pytest.raises(ValueError, match="shot noise is told by its peak"):
        solve(y, O.Denoising(), noise="poisson", noise_level=0.1, progress=False)
    with pytest.raises(ValueError, match="noise is None .*, 'poisson' or operators.PoissonNoise"):
        solve(y, O.Denoising(), noise="gaussian", progress=False)
    for wrong, says in [((y, y), "shot noise is read off images y \\(B, C, H, W\\)"),
                        (y[0, 0], "shot noise is read off images"),
                        (y - 0.5, "of y's values are negative"),
                        (255 * y, "y reaches .*, but images are on the \\[0, 1\\] scale")]:
        with pytest.raises(ValueError, match=says):
            solve(wrong, O.Denoising(), noise="poisson", progress=False)
    with pytest.raises(ValueError, match="truth reaches"):
        solve(y, O.Denoising(), noise="poisson", truth=255 * camera64, progress=False)


def test_the_command_line_takes_shot_noise(tmp_path, camera64, capsys):
    image = write_image(tmp_path / "cam.png", camera64)
    out = tmp_path / "out.png"
    # a simulation with Poisson noise is restored as such, its peak read
    assert main(["--op", "denoise", "--simulate", "--noise", "poisson:20", str(image),
                 "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "shot noise, peak" in said and psnr(read_image(out).image, camera64) > 25.0
    noisy = write_image(tmp_path / "noisy.png", counts(camera64, 20).clamp(0, 1))
    assert main(["--op", "denoise", "--shot-noise", "20", str(noisy), "-o", str(tmp_path / "b.png")]) == 0
    assert "shot noise, peak 20" in capsys.readouterr().out
    assert main(["--op", "deblur", "--simulate", "--noise", "poisson:100", "--sigma", "1.6",
                 "--shot-noise", "100", str(image), "-o", str(tmp_path / "d.png")]) == 0
    assert "shot noise, peak 100 told; noise" in capsys.readouterr().out
    # told gaussian (--noise-level), or --shot-noise none: a Poisson simulation restored as such
    for flags in (["--noise-level", "0.1"], ["--shot-noise", "none"]):
        assert main(["--op", "denoise", "--simulate", "--noise", "poisson:20", *flags, str(image),
                     "-o", str(tmp_path / f"g{len(flags[1])}.png")]) == 0
        assert "shot noise" not in capsys.readouterr().out
    # a JPEG's peak, read, is too high: said
    write_image(tmp_path / "noisy.jpg", counts(camera64, 20).clamp(0, 1))
    assert main(["--op", "denoise", "--shot-noise", "auto", str(tmp_path / "noisy.jpg"),
                 "-o", str(tmp_path / "j.png")]) == 0
    assert "is a JPEG, whose compression took part of its noise away" in capsys.readouterr().err
    for flags, says in [(["--op", "inpaint", "--shot-noise", "auto"],
                         "--shot-noise is for --op denoise and deblur"),
                        (["--op", "denoise", "--shot-noise", "0"], "a positive number"),
                        (["--op", "denoise", "--shot-noise", "auto", "--noise-level", "0.1"],
                         "shot noise is told by --shot-noise PEAK alone")]:
        assert main([*flags, str(noisy), "-o", str(tmp_path / "c.png")]) == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


def test_a_blind_denoising_whose_noise_grows_with_the_brightness_suggests_shot_noise(tmp_path, capsys):
    # it had been restored as gaussian noise of one level without a word (camera256 at 30
    # photons: 24.75 dB, 30.30 with --shot-noise auto)
    from invprior.bench.cases import sample_image

    x = sample_image("camera", 128).mean(1, keepdim=True)
    g = torch.Generator().manual_seed(0)
    files = {"shot": counts(x, 20), "white": x + 0.1 * torch.randn(x.shape, generator=g),
             "clean": x}
    said = {}
    for name, y in files.items():
        path = write_image(tmp_path / f"{name}.png", y.clamp(0, 1))
        assert main(["--op", "denoise", str(path), "-o", str(tmp_path / f"{name}_out.png"),
                     "--quiet"]) == 0
        said[name] = "grows with its brightness, as shot noise does" in capsys.readouterr().err
    assert said == {"shot": True, "white": False, "clean": False}
    # told what the noise is, nothing to say
    assert main(["--op", "denoise", str(tmp_path / "shot.png"), "--shot-noise", "none", "-o",
                 str(tmp_path / "told.png"), "--quiet"]) == 0
    assert "shot noise" not in capsys.readouterr().err


def test_a_blurred_photo_whose_noise_grows_with_the_brightness_is_deblurred(camera64):
    # shot noise read at its median level had left the bright parts' noise in, and each
    # data step amplified it: camera 64, motion blur, 100 photons: 16.93 dB, below y's 18.94
    A = O.Blur(motion=(11, 30))
    y = counts(A(camera64).clamp_min(0), 100)
    result = solve(y, A, progress=False)
    assert psnr(result.image, camera64) > psnr(y.clamp(0, 1), camera64) + 5  # (25.55)
    # (the median reads 15.6; 22.0 with the slanted streak kornia drew nearest, 11 px at 30
    # degrees 10.3 long)
    assert "noise 21.4/255 estimated" in result.stop_reason
    # a blur of one's own, as a callable, is read so too
    own = solve(y, lambda v: A(v), progress=False)
    assert "noise 21.4/255 estimated" in own.stop_reason
    assert abs(psnr(own.image, camera64) - psnr(result.image, camera64)) < 0.1
    # the peak told, or read (noise="poisson"): the noise at y's brightness there
    for noise, says in ((O.PoissonNoise(100), "shot noise, peak 100 told; noise 2"),
                        ("poisson", "shot noise, peak 94.6 read; noise 21.4/255")):
        told = solve(y, A, noise=noise, progress=False)
        assert says in told.stop_reason and abs(psnr(told.image, camera64) - psnr(result.image, camera64)) < 0.5
    # read noise beside the shot noise: the level read, not the peak's alone (12.4 dB at 256)
    noisy = y + 0.1 * torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    both = solve(noisy, A, noise=O.PoissonNoise(100), progress=False)
    assert psnr(both.image, camera64) > psnr(solve(noisy, A, progress=False).image, camera64) - 0.3


def test_the_brightness_reading_leaves_white_noise_alone(camera64):
    from invprior.noise_level import estimate_noise, noise_function, shot_sigma
    from invprior.priors.base import visible_noise

    A = O.Blur(sigma=1.6)
    g = torch.Generator().manual_seed(0)
    for level in (2 / 255, 10 / 255, 25 / 255):  # clipped and rounded as a PNG holds it
        y = ((A(camera64) + level * torch.randn(camera64.shape, generator=g)).clamp(0, 1)
             * 255).round() / 255
        assert shot_sigma(y) is None and visible_noise(A, y) == estimate_noise(y)
    # a clean photo's texture and rounding, which grow with its brightness too
    from invprior.bench.cases import sample_image

    coins = O.Blur(motion=(11, 30))(sample_image("coins", 128))
    assert shot_sigma((coins.clamp(0, 1) * 255).round() / 255) is None
    # shot noise: its peak read off the blurred photo, its level where it is bright
    y = counts(A(camera64), 300)
    gain, floor = noise_function(y)[0]
    assert 240 < 1 / gain < 370 and shot_sigma(y) > 1.2 * estimate_noise(y)
    # denoising reads the median level as before (its one pass is not amplified)
    assert visible_noise(O.Denoising(), y) == estimate_noise(y)


def test_the_peak_is_read_through_saturation_and_a_jpegs_colour():
    import io

    import imageio.v3 as iio
    import numpy as np

    from invprior.bench.cases import sample_image
    from invprior.noise_level import shot_fits

    A = O.Blur(motion=(11, 30))
    # a fifth of the photo clipped at white, which holds no noise: its bins had flattened
    # the line (no shot noise read: 13.05 dB at 256x256, y 19.54)
    x = (sample_image("camera", 128) * 1.5).clamp(0, 1)
    y = (counts(A(x).clamp_min(0), 100).clamp(0, 1) * 255).round() / 255
    assert float((y == 1).float().mean()) > 0.15
    assert 70 < 1 / shot_fits(y)[0][0] < 140
    # a JPEG hides the colour's noise (half resolution): the luminance's is read (the three
    # channels had read 321 for 100; this one reads 58, 68 with the streak drawn nearest)
    y = counts(A(sample_image("astronaut", 128)).clamp_min(0), 100).clamp(0, 1)
    pixels = (y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    jpeg = iio.imread(io.BytesIO(iio.imwrite("<bytes>", pixels, extension=".jpg", quality=95)))
    y = torch.tensor(jpeg, dtype=torch.float32).permute(2, 0, 1)[None] / 255
    assert 50 < 1 / shot_fits(y)[0][0] < 140


def test_bright_cells_on_a_dark_ground_are_deblurred_at_their_noise():
    import numpy as np
    import scipy.ndimage
    import skimage.data

    # a tenth of the frame bright: the 75th percentile is the ground's, whose noise had been
    # told, and the splitting fell apart (18.91 dB at 256x256, y 18.85; 28.04 now)
    cells = skimage.data.binary_blobs(96, blob_size_fraction=0.1, volume_fraction=0.1, rng=1)
    x = torch.from_numpy(0.03 + 0.9 * scipy.ndimage.gaussian_filter(cells.astype(np.float32), 1.0))[None, None]
    A = O.Blur(motion=(11, 30))
    y = (counts(A(x).clamp_min(0), 30).clamp(0, 1) * 255).round() / 255
    assert psnr(solve(y, A, progress=False).image, x) > psnr(y, x) + 5
