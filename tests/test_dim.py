"""A dim observation (a 16-bit image using a sliver of its range) restored stretched."""

import torch

import operators as O
from invprior import solve
from invprior.metrics import psnr


def test_a_dim_observation_is_restored_as_well_as_at_full_range(camera64):
    # 6 % of the range, stored in 16 bits, half the pixels missing: filled as it was,
    # 27.25 dB against 33.15 at full range (128x128)
    A, dim = O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=0), 0.06
    y = (dim * A(camera64) * 65535).round() / 65535
    top = float(y.max())
    full = solve(y / top, A, noise_level=0.001 / top, progress=False)
    out = solve(y, A, noise_level=0.001, truth=dim * camera64, progress=False)
    assert "restored stretched" in out.stop_reason
    assert abs(psnr(out.image / dim, camera64) - psnr(full.image * top / dim, camera64)) < 0.05
    assert float(out.image.max()) <= top + 1e-6  # on y's scale, not [0, 1]
    # the traced PSNR is the result's against the truth given, on that scale
    assert abs(out.psnrs[out.iteration - 1] - psnr(out.image, dim * camera64)) < 0.01
    # each item as alone, whatever the batch: a dim one among bright ones (a folder's) too,
    # and with one level per observation
    bright = A(camera64.flip(-1))
    for levels in (0.001, [0.001, 0.001]):
        mixed = solve(torch.cat([bright, y]), A, noise_level=levels, progress=False)
        assert torch.allclose(mixed.items[1].image, out.image, atol=1e-5)
        assert "stretched" not in mixed.items[0].stop_reason
    # an operator of one's own is restored as it is: a dim y may be its measurements' scale
    own = solve(y, lambda v: A(v), noise_level=0.0, iters=2, progress=False)
    assert "stretched" not in own.stop_reason


def test_a_dim_super_resolution_with_a_noise_level_is_not_flattened(camera64):
    # a 16-bit image at 0.6 % of its range, x2: with any noise level told, plug-and-play's
    # last level (2/255) had flattened it (128x128 camera: 17.28 dB, now 31.08 as at 6 %)
    A, dim = O.Downsampling(2), 0.006
    y = A(dim * camera64)
    y = ((y + 0.01 * dim * torch.randn(y.shape, generator=torch.Generator().manual_seed(0)))
         * 65535).round() / 65535
    out = solve(y, A, noise_level=0.01 * dim, progress=False)
    assert "restored stretched" in out.stop_reason
    assert psnr(out.image / dim, camera64) > 26.0
    assert float(out.image.max()) < 2 * float(y.max())  # on y's scale
    # a level above the stretched range is taken, not refused in the stretched scale's
    # numbers ("from 0 to 1, got 78.77", of a 0.5 told)
    assert solve(y, A, noise_level=0.5, progress=False).image.shape == (1, 1, 64, 64)


def test_a_hot_pixel_does_not_switch_off_a_dim_denoisings_stretch(camera64):
    # one pixel at 65535 in a 16-bit image at 0.6 % of its range: restored unstretched, the
    # image rang around it (a 128x128 cell image: 31.22 dB away from it, 39.29 without it)
    dim, g = 0.006, torch.Generator().manual_seed(0)
    y = ((dim * camera64 + 0.05 * dim * torch.randn(camera64.shape, generator=g)) * 65535).round() / 65535
    hot = y.clone()
    hot[..., 5, 5] = 1.0
    plain, spotted = (solve(v, O.Denoising(), progress=False) for v in (y, hot))
    assert "restored stretched" in spotted.stop_reason
    away = torch.ones_like(y, dtype=torch.bool)
    away[..., 2:9, 2:9] = False
    assert abs(psnr(spotted.image[away] / dim, camera64[away]) - psnr(plain.image[away] / dim, camera64[away])) < 0.1
    assert float(spotted.image[..., 5, 5]) == 1.0  # the hot pixel as it was seen


def test_a_dim_blur_is_stretched_only_as_far_as_its_brightest_point_allows(camera64):
    # beads of 0.4 on a dark ground, blurred: y at most 0.047, and stretched to it they
    # came back cut there (at 0.063 under sigma 1.5 and other beads: 34.05 dB against 38.13)
    beads = torch.full((1, 1, 64, 64), 0.02)
    for row, col in [(10, 10), (20, 40), (40, 20), (50, 50), (30, 30)]:
        beads[..., row, col] = 0.4
    B = O.Blur(sigma=1.5)
    out = solve(B(beads), B, progress=False)  # measured: stretched 5.1x, 40.49 dB, peak 0.17
    assert float(out.image.max()) > 2 * float(B(beads).max())
    assert psnr(out.image, beads) > psnr(B(beads), beads) + 2
    # a photo at 0.6 % of the range: 15.62 dB as it was, under the blurred y's 22.02; now 29.43
    # (17.57 -> 29.19 at 128x128, 29.72 at full range)
    A, dim = O.Blur(sigma=2.0), 0.006
    y = (dim * A(camera64) * 65535).round() / 65535
    out = solve(y, A, progress=False)
    assert "restored stretched" in out.stop_reason
    assert psnr(out.image / dim, camera64) > psnr(y / dim, camera64) + 4


def test_a_dim_observation_s_noise_level_is_read_and_said_on_its_own_scale(camera64):
    # read off y / s by the denoiser, the level is given back on y's scale, as a number and
    # in the stop reason (it had said the stretched image's level, 1 / s times too high)
    import re

    dim, sigma = 0.1, 0.05
    y = dim * (camera64 + sigma * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0)))
    out = solve(y.clamp(min=0), O.Denoising(), progress=False)
    assert "restored stretched" in out.stop_reason
    assert abs(out.noise_level / (dim * sigma) - 1) < 0.15, out.noise_level
    said = float(re.search(r"noise ([\d.]+)/255 estimated", out.stop_reason)[1])
    assert abs(said - 255 * out.noise_level) < 0.05 * said, out.stop_reason


def test_a_dim_observation_s_progress_bar_says_its_psnr_and_noise_on_its_own_scale(camera64, capsys,
                                                                                   monkeypatch):
    # restored stretched 100x, its bar had said psnr=25.93 for the result's 65.93, and the
    # noise 100 times its level in y
    monkeypatch.delenv("TQDM_DISABLE")  # a bar in a log: a line at its start and at its end
    A, dim = O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=0), 0.01
    out = solve(dim * A(camera64), A, noise_level=0.0002, truth=dim * camera64, iters=4)
    bar = capsys.readouterr().err.splitlines()[-1]
    assert "restored stretched 111x" in out.stop_reason
    assert f"psnr={out.psnrs[-1]:.2f}" in bar and "sigma=0.1/255" in bar, bar
