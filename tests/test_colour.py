"""The colour path of the CNN denoiser (invprior.colour, cnn.planes, the colour network):
colour photos at least as well as bm3d_rgb and better than the gray network channel by
channel, gray images untouched by it."""

import re

import kornia
import numpy as np
import pytest
import skimage.data
import torch

import operators as O
from invprior.api import solve
from invprior.colour import from_opponent, to_opponent
from invprior.priors.cnn import CNNDenoiser, load_denoiser
from invprior.metrics import psnr


def test_opponent_transform_is_orthonormal_and_inverted():
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    noise = torch.randn(1, 3, 256, 256, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for centred in (False, True):
        assert torch.allclose(from_opponent(to_opponent(x, centred), centred), x, atol=1e-12)
    # white noise stays white with the same std: what lets each channel keep the noise level
    opp = to_opponent(noise).reshape(3, -1)
    assert torch.allclose(opp.std(1), noise.reshape(3, -1).std(1).mean().expand(3), rtol=0.02)
    assert abs(float(torch.corrcoef(opp)[0, 1])) < 0.02
    gray = torch.rand(1, 1, 8, 8)
    assert to_opponent(gray, True) is gray and from_opponent(gray, True) is gray


# bm3d_rgb on the very arrays below (skimage photo / 255 + 25/255 * default_rng(0) noise, not
# clipped: the protocol of ../shared/testsets), measured once with bm3d 4.0.3 by
#   python -c "import numpy as np, skimage.data, bm3d; x = skimage.data.NAME() / 255;
#   y = x + 25 / 255 * np.random.default_rng(0).standard_normal(x.shape);
#   print(10 * np.log10(1 / np.mean((np.clip(bm3d.bm3d_rgb(y, 25 / 255), 0, 1) - x) ** 2)))"
# Ours measured: chelsea 33.07, rocket 33.44 (the gray network channel by channel: 33.07,
# 33.46); the uncentred colour path before: 32.94 and 28.96 (rocket's saturated colours are
# where it failed). Both photos' gray versions are among the gray denoiser's training
# images; their colour never was, nor are they in CBSD432 (the colour network's).
BM3D_RGB = {"chelsea": 32.64, "rocket": 32.36}


@pytest.mark.parametrize("name", sorted(BM3D_RGB))
def test_colour_photo_at_least_as_good_as_bm3d_rgb(name):
    x = getattr(skimage.data, name)().astype(np.float64) / 255
    y = x + 25 / 255 * np.random.default_rng(0).standard_normal(x.shape)
    as_tensor = lambda a: torch.from_numpy(a).float().permute(2, 0, 1)[None]
    out = solve(as_tensor(y), O.Denoising(), noise_level=25 / 255, progress=False).image
    assert psnr(out, as_tensor(x)) >= BM3D_RGB[name]


# the photos in neither network's training set, sigma 25 as above: the colour network against
# the gray one channel by channel (measured: astronaut 33.12 vs 33.00, coffee 31.74 vs 31.69)
@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_the_colour_network_beats_the_gray_one_channel_by_channel(name):
    from invprior.cnn.checkpoint import ASSET

    # the middle 128x128, sigma 25, noise seeds 0-2, measured: astronaut +0.07 / +0.05 /
    # +0.06 dB, coffee +0.04 / +0.07 / +0.12 (the whole photos, seed 0: +0.07 / +0.05); the
    # margin is half their mean, not one draw's
    whole = torch.from_numpy(getattr(skimage.data, name)() / 255).float().permute(2, 0, 1)[None]
    top, left = (whole.shape[-2] - 128) // 2, (whole.shape[-1] - 128) // 2
    x = whole[..., top : top + 128, left : left + 128]
    gains = []
    for seed in range(3):
        y = x + 25 / 255 * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
        colour = psnr(CNNDenoiser()(y, 25 / 255).clamp(0, 1), x)
        gray = psnr(CNNDenoiser(ASSET)(y, 25 / 255).clamp(0, 1), x)
        gains.append(colour - gray)
    assert sum(gains) / len(gains) > 0.03, gains


def test_gray_images_do_not_go_through_the_colour_path(camera64):
    y = camera64 + 0.1 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        raw = load_denoiser()(y, 0.1)
    out = CNNDenoiser()(y, 0.1)
    # the raw network to rounding (CNNDenoiser runs it channels-last: ~1e-7 apart)
    torch.testing.assert_close(out, raw, atol=1e-5, rtol=0)
    assert psnr(out.clamp(0, 1), camera64) > psnr(y.clamp(0, 1), camera64) + 6  # measured +7.7


def test_a_gray_photo_held_in_three_channels_is_restored_as_gray(camera64):
    # solve() as the CLI: the gray network, and the noise read right (the colour path read
    # sqrt(3) times it: all of it in the luminance; camera256 blind: 43.6/255 for 25.4)
    y = camera64 + 0.1 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))
    gray = solve(y, O.Denoising(), progress=False)
    rgb = solve(y.expand(-1, 3, -1, -1), O.Denoising(), progress=False,
                truth=camera64.expand(-1, 3, -1, -1))
    torch.testing.assert_close(rgb.image, gray.image.expand(-1, 3, -1, -1), atol=0, rtol=0)
    read = float(re.search(r"noise ([0-9.]+)/255 estimated", rgb.stop_reason).group(1))
    assert abs(read - 25.5) < 3 and "restored as gray" in rgb.stop_reason
    assert rgb.psnrs[-1] == pytest.approx(psnr(gray.image, camera64))
    # an operator of one's own may treat the channels apart: left as it is
    own = solve(y.expand(-1, 3, -1, -1), lambda x: x, progress=False)
    assert "restored as gray" not in own.stop_reason


# noise-free colour super-resolution restores the luma with the gray network (priors.luma);
# 128x128 centre crops, x4, 16 iterations: Y PSNR measured luma / colour network, coffee
# 31.39 / 31.17, astronaut 26.63 / 26.47 dB (in 1.3-2.0 s against 3.1 s)
LUMA_GAIN = {"astronaut": 0.08, "coffee": 0.12}


@pytest.mark.parametrize("name", sorted(LUMA_GAIN))
def test_colour_super_resolution_through_the_luma_beats_the_colour_network(name):
    from invprior.bench.set5 import y_psnr
    from invprior.priors.cnn import CNNPrior

    image = getattr(skimage.data, name)()
    h, w = image.shape[0] // 2, image.shape[1] // 2
    x = torch.from_numpy(image[h - 64 : h + 64, w - 64 : w + 64] / 255).float().permute(2, 0, 1)[None]
    op = O.Downsampling(4, "bicubic")
    lr = op(x)
    prior = CNNPrior(iters=16)
    luma = solve(lr, op, prior=prior, progress=False)
    assert "on the luma" in luma.stop_reason
    prior.luma_splitting = None  # the colour network, as before
    colour = solve(lr, op, prior=prior, progress=False)
    assert "on the luma" not in colour.stop_reason
    assert y_psnr(luma.image, x) >= y_psnr(colour.image, x) + LUMA_GAIN[name]
    # a noisy observation keeps the colour network, whose chroma is denoised too
    noisy = solve(lr + 0.02 * torch.randn(lr.shape, generator=torch.Generator().manual_seed(0)),
                  op, prior=CNNPrior(iters=2), noise_level=0.02, progress=False)
    assert "on the luma" not in noisy.stop_reason


def _middle(name: str, side: int) -> torch.Tensor:
    """The middle ``side x side`` of a scikit-image photo, ``(1, C, side, side)`` in [0, 1]."""
    image = getattr(skimage.data, name)()
    h, w = image.shape[0] // 2, image.shape[1] // 2
    crop = torch.from_numpy(image[h - side // 2 : h + side // 2, w - side // 2 : w + side // 2] / 255)
    return crop.float()[None, None] if crop.ndim == 2 else crop.float().permute(2, 0, 1)[None]


def test_the_noise_of_a_small_image_is_read_where_its_downsampling_left_none():
    from invprior.noise_level import estimate_noise, top_band_sigma
    from invprior.priors.base import TOP_BAND_NOISE_MIN, visible_noise

    op = O.Downsampling(4, "bicubic")
    for name in ("camera", "astronaut", "brick"):
        lr = op(_middle(name, 256))
        g = torch.Generator().manual_seed(0)
        noisy = lr + 10 / 255 * torch.randn(lr.shape, generator=g)
        assert top_band_sigma(lr)[0] < 0.5 * TOP_BAND_NOISE_MIN  # measured up to 2.3/255
        assert visible_noise(op, lr) is None
        # measured 9.7 to 11.9/255: what detail is left there adds a little
        assert top_band_sigma(noisy)[0] == pytest.approx(10 / 255, rel=0.25)
        assert visible_noise(op, noisy) == top_band_sigma(noisy)[0]
    # the finest wavelet band reads more of a clean small image's detail (camera: 3.4/255
    # against 2.3; 17.5 at most on Kodak24 at x4, where the top band reads 5.7)
    lr = op(_middle("camera", 256))
    assert estimate_noise(lr) > 1.3 * top_band_sigma(lr)[0]
    # where the filter leaves detail at the top of the spectrum, nothing is read
    assert visible_noise(O.Downsampling(4, "box"), noisy) is None


def test_a_tiny_clean_image_dense_with_detail_is_not_read_as_noisy():
    """The demo's 32x32 astronaut (x4 of the 128x128 one) reads 6.7/255 at its top band,
    clean: at 0.62 of its finest band it is detail, and stays noise-free (plug-and-play on
    the luma, 22.36 dB as the README's gallery; 22.14 when read as noisy); noise of 5/255
    there is still read (0.77 of the finest band)."""
    import skimage.transform

    from invprior.noise_level import top_band_sigma
    from invprior.priors.base import TOP_BAND_NOISE_MIN, visible_noise

    op = O.Downsampling(4)
    photo = skimage.transform.resize(skimage.data.astronaut() / 255.0, (128, 128), order=1,
                                     anti_aliasing=True)
    x = torch.from_numpy(photo).float().permute(2, 0, 1)[None]
    lr = op(x)
    assert top_band_sigma(lr)[0] > TOP_BAND_NOISE_MIN and visible_noise(op, lr) is None
    noisy = lr + 5 / 255 * torch.randn(lr.shape, generator=torch.Generator().manual_seed(0))
    assert visible_noise(op, noisy) == pytest.approx(top_band_sigma(noisy)[0])
    out = solve(lr, op, iters=8, progress=False)
    assert "on the luma" in out.stop_reason and "estimated" not in out.stop_reason


def test_a_noisy_small_image_is_super_resolved_at_the_noise_level_read():
    # measured: 31.20 dB; taken as noise-free (noise_level=0, the default before) 24.63
    # (the clean image: 34.93); bicubic upsampling of y smoothed by the best of gaussians
    # 0 / 0.5 / 0.8 / 1 px: 28.00 / 28.63 / 27.27 / 26.21
    x = _middle("coffee", 128)
    op = O.Downsampling(2, "bicubic")
    lr = op(x)
    noisy = lr + 10 / 255 * torch.randn(lr.shape, generator=torch.Generator().manual_seed(0))
    blind = solve(noisy, op, progress=False)
    assert "estimated" in blind.stop_reason and "on the luma" not in blind.stop_reason
    smoothed = kornia.filters.gaussian_blur2d(noisy, (7, 7), (0.5, 0.5), border_type="reflect")
    assert psnr(blind.image, x) > psnr(O.upsample_bicubic(smoothed, 2).clamp(0, 1), x) + 1.5
    # a batch of a clean and a noisy image: each restored as alone (the clean one on the
    # luma, ending with its back-projection; the noisy one on all three channels); 64x64
    lr, noisy = lr[..., 16:48, 16:48], noisy[..., 16:48, 16:48]
    both = solve(torch.cat([lr, noisy]), op, progress=False)
    clean, blind = solve(lr, op, progress=False), solve(noisy, op, progress=False)
    assert "on the luma" in clean.stop_reason and "estimated" not in clean.stop_reason
    assert "estimated" in blind.stop_reason and "on the luma" not in blind.stop_reason
    assert torch.equal(both.items[0].image, clean.image)
    assert torch.equal(both.items[1].image, blind.image)


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """``x (1, 3, H, W)`` through a JPEG file's round trip (Pillow: colour at half
    resolution, as phones and most cameras store it)."""
    import io

    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8),
                extension=".jpg", quality=quality)
    return torch.from_numpy(iio.imread(buf.getvalue())).float().div(255).permute(2, 0, 1)[None]


def test_the_noise_of_a_jpeg_photo_is_read_off_its_luminance():
    from invprior.bench.cases import sample_image
    from invprior.noise_level import estimate_sigma

    x = sample_image("coffee", 128)
    noisy = (x + 25 / 255 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    y = _jpeg(noisy, 95)
    per_channel = float(np.mean([estimate_sigma(y[:, c : c + 1])[0] for c in range(3)]))
    assert per_channel < 0.7 * 25 / 255  # what JPEG left in each channel's finest band
    assert estimate_sigma(y)[0] == pytest.approx(25 / 255, rel=0.2)
    # measured: 29.73 dB blind, 26.51 at the per-channel reading, 23.48 for y; the best of
    # gaussian blurs 0.5 / 0.8 / 1 / 1.2 px 27.14 (0.8)
    blind = psnr(solve(y, O.Denoising(), progress=False).image, x)
    assert blind > psnr(kornia.filters.gaussian_blur2d(y, (9, 9), (0.8, 0.8), border_type="reflect"), x) + 1.5
    assert blind > psnr(solve(y, O.Denoising(), noise_level=per_channel, progress=False).image, x) + 2
    # white noise in a PNG: the per-channel reading, as before; the clean photo, whose
    # colour differences are as smooth as a JPEG's (measured 3.5/255), is not read as noisy
    assert estimate_sigma(noisy)[0] == pytest.approx(
        float(np.mean([estimate_sigma(noisy[:, c : c + 1])[0] for c in range(3)])))
    assert estimate_sigma(x)[0] < 5 / 255


def test_the_transform_made_first_in_inference_mode_still_serves_autograd():
    """Its constants are made once per dtype and device (a copy to a GPU at every call made
    the host wait for it); the first call may come under inference mode, and a later one
    under autograd must still differentiate through them."""
    with torch.inference_mode():
        to_opponent(torch.rand(1, 3, 2, 2, dtype=torch.float64), centred=True)
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    from_opponent(to_opponent(x, centred=True), centred=True).square().sum().backward()
    assert torch.allclose(x.grad, 2 * x.detach())


def test_a_faint_colour_in_a_16_bit_file_is_colour(tmp_path, capsys):
    # 0.8 of an 8-bit level between the channels: below 8 bits' step, real in 16 (the cast
    # had been taken for a gray photo, and the output was gray)
    from skimage import data

    from invprior.cli import main
    from invprior.io import read_image, write_image

    gray = torch.from_numpy(data.camera()[::4, ::4].astype(np.float32) / 255)
    cast = torch.stack([gray + 100 / 65535, gray, gray - 100 / 65535]).clamp(0, 1)[None]
    path = write_image(tmp_path / "cast.tif", cast, bits=16)
    assert main(["--op", "denoise", str(path), "-o", str(tmp_path / "out.tif"), "--quiet"]) == 0
    assert "restored as gray" not in capsys.readouterr().err
    out = read_image(tmp_path / "out.tif").image
    assert out.shape == cast.shape and float(out[:, 0].mean() - out[:, 2].mean()) > 150 / 65535


def test_a_gray_photo_in_a_batch_of_colour_ones_is_restored_as_gray():
    # the colour path had taken the whole batch: the gray item 1 dB down, channels unequal
    from invprior.bench.cases import sample_image

    colour, gray = sample_image("astronaut", 64), sample_image("camera", 64).mean(1, keepdim=True)
    g = torch.Generator().manual_seed(0)
    y = torch.cat([colour + 0.1 * torch.randn(colour.shape, generator=g),
                   (gray + 0.1 * torch.randn(gray.shape, generator=g)).expand(-1, 3, -1, -1)])
    both = solve(y, O.Denoising(), progress=False)
    alone = [solve(y[b : b + 1], O.Denoising(), progress=False) for b in range(2)]
    assert torch.equal(both.image, torch.cat([r.image for r in alone]))
    assert both.items[1].stop_reason.endswith("(three equal channels: restored as gray)")
    assert not both.items[0].stop_reason.endswith("restored as gray)")
    # a level held in NumPy or a tensor, or one per item, had sent the gray item the colour
    # way again (2 dB down)
    for level in (np.float32(0.1), torch.tensor(0.1), [0.1, 0.1], torch.tensor([0.1, 0.1])):
        told = solve(y, O.Denoising(), noise_level=level, progress=False)
        assert told.items[1].stop_reason.endswith("(three equal channels: restored as gray)"), level
        assert torch.equal(told.image, solve(y, O.Denoising(), noise_level=0.1, progress=False).image)
