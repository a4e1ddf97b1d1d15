"""Noise-free inpainting restored on the holes' window only (``invprior.priors.window``)."""

import pytest
import torch
import torch.nn.functional as F
from skimage import data

import operators as O
from invprior import solve
from invprior.bench.hard import hidden_psnr
from invprior.metrics import psnr
from invprior.priors import window
from invprior.priors.pnp import PlugAndPlay


def _camera(size=128):
    crop = data.camera()[200 : 200 + size, 150 : 150 + size]
    return torch.from_numpy(crop).float()[None, None] / 255


def _corner_holes(size=128):
    """A few thin scribbles in the top-left corner of a 128x128 image."""
    mask = torch.ones(size, size)
    mask[8:48, 8:48] = O.scribble_mask((40, 40), 3, 3.0, seed=3)
    return O.Inpainting(mask)


def _recording_smoother(shapes):
    def smooth(u, sigma):
        shapes.append(tuple(u.shape[-2:]))
        return F.avg_pool2d(u, 3, 1, 1, count_include_pad=False)
    return smooth


def test_plug_and_play_sees_only_the_window_and_keeps_the_rest():
    x, op = _camera(), _corner_holes()
    y = op(x)
    shapes = []
    out = PlugAndPlay(_recording_smoother(shapes), iters=3).restore(y, op)
    rows, cols = (op.mask[0, 0] < 0.5).nonzero().unbind(1)
    bottom, right = int(rows.max()) + 1 + 32, int(cols.max()) + 1 + 32  # 32 pixels of context
    assert set(shapes) == {(bottom, right)} and bottom < 90 and right < 90
    assert torch.equal(out.image[..., bottom:, :], y[..., bottom:, :])
    assert torch.equal(out.image[..., :, right:], y[..., :, right:])
    # a noisy observation is denoised everywhere: the whole image
    shapes.clear()
    PlugAndPlay(_recording_smoother(shapes), iters=3).restore(y, op, noise_level=0.02)
    assert set(shapes) == {(128, 128)}


def test_window_restores_the_holes_as_the_whole_image_does(monkeypatch):
    x, op = _camera(), _corner_holes()
    y, hidden = op(x), op.mask < 0.5
    fast = solve(y, op, "denoiser", progress=False, truth=x)
    monkeypatch.setattr(window, "WINDOW_SHARE", 0.0)  # never crop
    whole = solve(y, op, "denoiser", progress=False, truth=x)
    inside_fast = hidden_psnr(fast.image, x, hidden)
    inside_whole = hidden_psnr(whole.image, x, hidden)
    assert abs(inside_fast - inside_whole) < 0.3, (inside_fast, inside_whole)  # 0.07 here
    # and the window's run is a restoration: above its biharmonic start, by about half the
    # 1.3 dB measured (37.47 dB inside, whole image 37.40, start 36.16)
    start = hidden_psnr(op.initial_estimate(y), x, hidden)
    assert inside_fast > start + 0.6, (inside_fast, start)
    # the traced PSNR is the whole image's (the window's alone would read ~5 dB lower); the
    # last traced step precedes the exact projection onto the observed pixels
    assert fast.psnrs[-1] == pytest.approx(psnr(fast.image, x), abs=0.05)


def test_inpainter_fills_the_window_only():
    x = _camera(160)
    mask = torch.ones(160, 160)
    mask[100:124, 110:134] = 0  # a 24x24 box: radius 12, the inpainter's, not refined
    op = O.Inpainting(mask)
    out = solve(op(x), op, "inpainter", progress=False)
    assert window.inpainting_window(op, op(x), [0.0]) == (..., slice(68, 156), slice(78, 160))
    # above the biharmonic start by about half the measured gap (22.67 dB against 18.60)
    start = hidden_psnr(op.initial_estimate(op(x)), x, mask < 0.5)
    assert hidden_psnr(out.image, x, mask < 0.5) > start + 2.0
    assert torch.equal(op(out.image), op(x))


def test_no_window_for_soft_masks_large_windows_or_kept_off():
    y = torch.rand(1, 1, 64, 64)
    soft = torch.ones(64, 64)
    soft[4:8, 4:8] = 0.3
    assert window.inpainting_window(O.Inpainting(soft), y, [0.0]) is None
    spread = torch.ones(64, 64)
    spread[2, 2] = spread[60, 60] = 0
    assert window.inpainting_window(O.Inpainting(spread), y, [0.0]) is None
    corner = torch.ones(64, 64)
    corner[2, 2] = 0
    assert window.inpainting_window(O.Inpainting(corner), y, [0.0]) is not None
    assert window.inpainting_window(O.Inpainting(corner), y, [0.0], keep=False) is None
    assert window.inpainting_window(O.Blur(sigma=1.0), y, [0.0]) is None

    class Mine(O.Inpainting):  # a user's own variant: the crop would lose what it changes
        pass
    assert window.inpainting_window(Mine(corner), y, [0.0]) is None


@pytest.mark.parametrize("prior", ["denoiser", "inpainter"])
def test_a_mask_that_hides_nothing_returns_the_observation_without_running(prior, monkeypatch):
    x = _camera(64).expand(2, 3, -1, -1).contiguous()
    op = O.Inpainting(torch.ones(64, 64))
    called = []
    with monkeypatch.context() as m:  # nothing may run: the splitting would record a call
        m.setattr("invprior.priors.pnp.pnp_restore", lambda *a, **k: called.append(1))
        out = solve(op(x), op, prior, progress=False)
    assert torch.equal(out.image, x) and not called
    assert [item.iterations for item in out.items] == [0, 0]
    assert "the mask hides no pixel" in out.stop_reason
    # noisy, the same mask is a denoising problem: plug-and-play runs
    noisy = solve(op(x) + 0.05 * torch.randn_like(x), op, "denoiser", noise_level=0.05,
                  progress=False, iters=2)
    assert noisy.iterations == 2


@pytest.mark.parametrize("prior", ["dip", "decoder"])
def test_the_network_priors_do_not_fit_a_mask_that_hides_nothing(prior, monkeypatch):
    # their 3000 steps (minutes) would only reproduce y; one image and a stacked batch
    x = _camera(64).expand(2, 3, -1, -1).contiguous()
    op = O.Inpainting(torch.ones(64, 64))
    called = []
    record = lambda *a, **k: called.append(1)  # noqa: E731
    monkeypatch.setattr("invprior.priors.generator.fit", record)
    monkeypatch.setattr("invprior.priors.generator.fit_stacked", record)
    for stacked in (False, True):
        out = solve(op(x), op, prior, progress=False, stacked=stacked)
        assert torch.equal(out.image, x) and not called
        assert [item.iterations for item in out.items] == [0, 0]
        assert "the mask hides no pixel" in out.stop_reason


def test_a_trained_generator_does_not_search_a_mask_that_hides_nothing():
    # its latent search would only approximate y (seconds, and off by up to ~1e-3)
    from invprior.glo import load_prior
    from invprior.weights import weight_file

    path = weight_file("prior_digits.pt")
    x = load_prior(path).sample(2, seed=1)
    op = O.Inpainting(torch.ones(x.shape[-2:]))
    out = solve(op(x), op, path, progress=False)
    assert torch.equal(out.image, x) and out.prior == "trained"
    assert [item.iterations for item in out.items] == [0, 0]
    assert "the mask hides no pixel" in out.stop_reason
