"""Tiled denoising: the same result as the whole image, no seams, and a bounded tile."""

import pytest
import torch
import torch.nn.functional as F

import operators as O
from invprior.bench.cases import sample_image
from invprior.metrics import psnr
from invprior.priors.cnn import CNNDenoiser, CNNPrior
from invprior.tiles import tile_count, tile_spans, tiled


@pytest.mark.parametrize("size,tile,overlap", [(100, 48, 16), (64, 64, 8), (257, 64, 32),
                                               (9, 16, 4), (3464, 1120, 32), (2000, 1120, 32)])
def test_tiles_cover_the_image_with_the_overlap_and_little_more(size, tile, overlap):
    starts, stops = zip(*tile_spans(size, tile, overlap))
    assert starts[0] == 0 and stops[-1] == size and all(s % 8 == 0 for s in starts)
    assert all(stop - nxt >= overlap for stop, nxt in zip(stops, starts[1:]))
    assert all(stop - start <= tile + 7 for start, stop in zip(starts, stops))
    # the fewest tiles that can do it, so that little work is repeated
    assert len(starts) == max(1, -(-(size - overlap) // (tile - overlap)))


def test_a_local_filter_is_exact_on_tiles():
    # a 5x5 mean sees 2 pixels around; an overlap of 8 leaves each tile 2 pixels of context
    # with no weight, so the cross-fade of two equal values is the whole-image result
    x = torch.rand(2, 3, 90, 130, generator=torch.Generator().manual_seed(0))
    mean = lambda u: F.avg_pool2d(F.pad(u, (2, 2, 2, 2), mode="reflect"), 5, 1)
    inner = (..., slice(2, -2), slice(2, -2))  # the image border is reflected by each tile
    out = tiled(mean, x, tile=40, overlap=8)
    torch.testing.assert_close(out[inner], mean(x)[inner], atol=1e-6, rtol=0)
    # the colour denoiser's tiles: a plane and its guides in, the plane out
    first = lambda u: mean(u)[:, :1]
    torch.testing.assert_close(tiled(first, x, tile=40, overlap=8)[inner], first(x)[inner],
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("size,tile", [((90, 130), 40), ((192, 192), 64), ((50, 60), 64)])
def test_tile_count_is_the_number_of_calls_and_of_done(size, tile):
    calls, done = [], []
    tiled(lambda u: calls.append(u.shape) or u, torch.zeros(1, 1, *size), tile=tile, overlap=8,
          done=lambda: done.append(1))
    assert len(calls) == len(done) == tile_count(*size, tile, overlap=8)


def _noisy(name: str):
    x = sample_image(name, 192)
    g = torch.Generator().manual_seed(1)
    return x, x + 25 / 255 * torch.randn(x.shape, generator=g)


@pytest.fixture(scope="module")
def noisy():
    return _noisy("camera")


@pytest.mark.parametrize("name", ["camera", "astronaut"])  # the gray and the colour network
def test_tiled_denoiser_matches_the_whole_image_without_seams(name):
    x, y = _noisy(name)
    whole = CNNDenoiser()(y, 25 / 255)
    tiles = CNNDenoiser(tile=64)(y, 25 / 255)  # 4 x 4 tiles over 192 x 192
    assert abs(psnr(tiles.clamp(0, 1), x) - psnr(whole.clamp(0, 1), x)) < 0.05
    # seams: the error within 3 pixels of a tile border is no larger than elsewhere
    error = (tiles - x).square()[0].mean(0)
    border = torch.zeros(192, 192, dtype=torch.bool)
    spans = tile_spans(192, 64, 32)
    for edge in [a for a, _ in spans[1:]] + [b for _, b in spans[:-1]]:  # inner tile edges
        border[edge - 3 : edge + 3] = True
        border[:, edge - 3 : edge + 3] = True
    assert error[border].mean() <= 1.1 * error[~border].mean()


def test_per_image_noise_levels_match_one_at_a_time(noisy):
    x, y = noisy
    pair = torch.cat([y, x + 10 / 255 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))])
    d = CNNDenoiser()
    both = d(pair, torch.tensor([25 / 255, 10 / 255]))
    torch.testing.assert_close(both[1:], d(pair[1:], 10 / 255), atol=1e-5, rtol=0)
    torch.testing.assert_close(both[:1], d(pair[:1], 25 / 255), atol=1e-5, rtol=0)


def test_the_denoiser_output_can_enter_autograd(noisy):
    out = CNNDenoiser()(noisy[1], 0.1)  # computed in inference mode, returned as a plain tensor
    w = torch.ones(1, requires_grad=True)
    (out * w).sum().backward()
    assert w.grad is not None


def test_bad_precision_is_one_sentence():
    with pytest.raises(ValueError, match="precision must be auto or one of"):
        CNNDenoiser(precision="int8")


def test_one_pass_shows_a_bar_over_its_tiles_when_asked(noisy, capsys):
    prior = CNNPrior()
    prior.one_pass.tile = 64  # 5 x 5 tiles over 192 x 192, as a large photo would take
    quiet = prior.restore(noisy[1], O.Denoising(), noise_level=25 / 255).image
    assert capsys.readouterr().err == ""
    shown = prior.restore(noisy[1], O.Denoising(), noise_level=25 / 255, progress=True).image
    err = capsys.readouterr().err
    assert "denoiser" in err and f"/{tile_count(192, 192, 64)} " in err
    assert torch.equal(quiet, shown)
