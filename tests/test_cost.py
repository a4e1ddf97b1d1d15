"""The network priors say what an image will cost before they start, and refuse what cannot fit."""

import pytest
import torch

import operators as O
from invprior.api import solve
from invprior.cli import main
from invprior.io import write_image
from invprior.priors import cost as C
from invprior.priors.generator import make_generator


def test_memory_estimate_grows_with_the_pixels_and_matches_the_count():
    build = lambda shape: make_generator("dip", shape)
    small, large = (C.estimate(build, (3, n, n), iters=1) for n in (256, 512))
    assert 3.5 < large.bytes / small.bytes < 4.2  # weights and Adam's moments do not grow
    # the CPU deep image prior held 2460-2880 bytes per pixel (peak RSS, measured)
    assert 2400 < large.bytes / 512**2 < 3600


def test_an_image_too_large_for_the_memory_is_refused_in_one_sentence(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("invprior.priors.generator.free_memory", lambda device: 2**30)
    with pytest.raises(ValueError, match=r"would need about .* GiB for a 1024x1024 image .* 1.0 GiB is free"):
        solve(torch.rand(1, 1, 1024, 1024), O.Denoising(), prior="dip", iters=2)
    image = write_image(tmp_path / "big.png", torch.rand(1, 3, 1024, 1024))
    assert main(["--op", "denoise", "--prior", "decoder", str(image), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "use a smaller image, --prior denoiser" in err
    assert not (tmp_path / "big_denoise_decoder.png").exists()


def test_a_long_run_says_how_long_before_it_starts(monkeypatch, capsys):
    monkeypatch.setattr("invprior.priors.generator.estimate",
                        lambda *a, **k: C.Cost(bytes=1.0, seconds=1800.0))
    solve(torch.rand(1, 1, 16, 16), O.Denoising(), prior="dip", iters=2, progress=True)
    assert "dip: about 30 minutes for up to 2 iterations at 16x16 on cpu" in capsys.readouterr().err
    # under a time limit: the limit (a 3 s run had been announced as "about 30 minutes")
    solve(torch.rand(1, 1, 16, 16), O.Denoising(), prior="dip", iters=2, progress=True,
          max_seconds=120)
    assert ("dip: up to 2 minutes (the time limit; the whole run: about 30 minutes) for up to "
            "2 iterations") in capsys.readouterr().err
    solve(torch.rand(1, 1, 16, 16), O.Denoising(), prior="dip", iters=2, progress=True,
          max_seconds=30)
    assert "minutes" not in capsys.readouterr().err


def test_a_long_plug_and_play_is_announced_with_its_time(capsys, monkeypatch):
    from types import SimpleNamespace

    from invprior.priors import pnp

    clock = [0.0]  # a clock of the test's own: the estimate, not this machine's speed
    monkeypatch.setattr(pnp, "time", SimpleNamespace(perf_counter=lambda: clock[0]))

    def slow(u, sigma):  # 50 ms per 256x256 call: 16 of them per megapixel image
        clock[0] += 0.05
        return u

    seconds = pnp.say_duration(slow, torch.zeros(1, 1, 1024, 1024), 0.1, 100, "denoiser")
    assert seconds == pytest.approx(pnp.DATA_STEP_SHARE * 0.05 * 16 * 100)
    err = capsys.readouterr().err
    assert err.startswith("denoiser: about ") and " minutes for 100 iterations at 1024x1024 on cpu" in err
    assert pnp.say_duration(slow, torch.zeros(1, 1, 256, 256), 0.1, 100, "denoiser") < 60  # not said
    assert capsys.readouterr().err == ""
