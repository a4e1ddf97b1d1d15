"""The trained CNN denoiser: network, shipped weights, plug-and-play, training command."""

import pytest
import torch

import operators as O
from invprior.api import solve
from invprior.cnn import DenoiserUNet
from invprior.cnn.checkpoint import VERSION
from invprior.priors.cnn import CNNDenoiser, load_denoiser
from invprior.metrics import psnr
from invprior.priors.pnp import pnp_restore
from invprior.train import main as train_main


def _observe(op, x, noise: float, seed: int = 0) -> torch.Tensor:
    y = op(x)
    return y + noise * torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))


def test_unet_takes_any_size_batch_and_noise_levels():
    net = DenoiserUNet(widths=(8, 16, 32), blocks=1)
    x = torch.rand(3, 1, 30, 45)
    assert net(x, 0.1).shape == x.shape
    assert net(x, torch.tensor([0.0, 0.1, 0.2])).shape == x.shape
    assert net(torch.rand(1, 1, 3, 5), 0.1).shape == (1, 1, 3, 5)  # smaller than the padding


def test_shipped_denoiser_beats_ksvd_on_held_out_images():
    from invprior.bench.cases import sample_image
    from invprior.sparse import sparse_denoise

    denoise = CNNDenoiser()
    # never seen in training (patches.HELD_OUT); measured: coffee 30.20 vs K-SVD 28.51 dB,
    # text 27.73 vs 26.82, noisy 20.5 and 20.1
    for name in ("coffee", "text"):
        x = sample_image(name, 64)
        y = _observe(O.Denoising(), x, 0.1)
        ours, ksvd = psnr(denoise(y, 0.1).clamp(0, 1), x), psnr(sparse_denoise(y, 0.1).clamp(0, 1), x)
        assert ours > psnr(y.clamp(0, 1), x) + 5 and ours > ksvd + 0.5, (name, ours, ksvd)


@pytest.mark.parametrize("name", ["text", "coffee"])
def test_one_pass_denoising_runs_its_own_networks_which_denoise_better(name):
    from invprior.bench.cases import sample_image
    from invprior.cnn.checkpoint import ASSET, ONE_PASS_ASSETS
    from invprior.priors.cnn import CNNPrior

    # held-out images (gray text, colour coffee; 64x64, sigma 25), the gain over
    # plug-and-play's pair (cnn.checkpoint.ONE_PASS_ASSETS) measured with noise seeds 0-3:
    # text +0.29 / -0.05 / +0.16 / +0.38 dB, coffee +0.11 / +0.16 / +0.24 / +0.20; their mean,
    # not one draw's (a single seed's margin had held for seed 0 only)
    x = sample_image(name, 64)
    prior = CNNPrior(device="cpu")
    gains = []
    for seed in range(4):
        y = _observe(O.Denoising(), x, 25 / 255, seed)
        one_pass = solve(y, O.Denoising(), prior, noise_level=25 / 255, progress=False).image
        other = prior.denoise(y, 25 / 255).clamp(0, 1)  # plug-and-play's network, one pass
        gains.append(psnr(one_pass, x) - psnr(other, x))
    assert sum(gains) / len(gains) > 0.1, gains
    shipped = load_denoiser(ONE_PASS_ASSETS[0]).state_dict()
    assert all(torch.equal(v, shipped[k]) for k, v in prior.one_pass.gray.state_dict().items())
    pnp = load_denoiser(ASSET).state_dict()
    assert all(torch.equal(v, pnp[k]) for k, v in prior.denoise.gray.state_dict().items())
    mine = CNNPrior(ASSET, device="cpu")  # a file given serves every use
    assert mine.one_pass is mine.denoise


@pytest.mark.parametrize("name, margin", [("text", 0.04), ("coffee", 0.06)])
def test_self_ensemble_of_one_pass_denoising_beats_one_pass(name, margin):
    from invprior.bench.cases import sample_image

    # held-out images, 48x64 (the turns swap height and width), sigma 25; the gain of 8
    # turns measured with noise seeds 0-3: gray text +0.06 / +0.15 / +0.07 / +0.03 dB,
    # colour coffee +0.14 / +0.13 / +0.12 / +0.11; the margin is about half their mean
    x = sample_image(name, 64)[..., :48, :]
    gains = []
    for seed in range(4):
        y = _observe(O.Denoising(), x, 25 / 255, seed)
        runs = [solve(y, O.Denoising(), "denoiser", noise_level=25 / 255, progress=False,
                      self_ensemble=turns) for turns in (1, 8)]
        gains.append(psnr(runs[1].image, x) - psnr(runs[0].image, x))
    assert sum(gains) / len(gains) > margin, gains
    assert runs[1].stop_reason == "CNN denoiser (mean of 8 turns)"


@pytest.mark.parametrize("op, noise, margin", [
    # operator, noise, margin over the classical start (measured: +4.5, +0.8, +3.4, +8.0 dB;
    # compressed sensing's start, the smoothest fit, 25.7 dB)
    (O.Blur(sigma=1.5), 0.01, 2.0),
    (O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=0), 0.0, 0.4),
    (O.Downsampling(2), 0.0, 1.5),
    (O.CompressedSensing(1200, (1, 64, 64), seed=0), 0.0, 5.0),
])
def test_plug_and_play_beats_the_classical_start(camera64, op, noise, margin):
    y = _observe(op, camera64, noise)
    out = pnp_restore(y, op, CNNDenoiser(), noise_level=noise, truth=camera64)
    start = psnr(op.initial_estimate(y), camera64)
    iters = 16 if isinstance(op, O.Blur) else 32  # pnp.defaults
    assert out.iterations == iters and len(out.psnrs) == iters
    assert psnr(out.image, camera64) > start + margin


def test_turning_the_image_each_iteration_averages_a_denoisers_orientation_bias(camera64):
    # a denoiser whose error depends on the orientation: it smooths and drags the image one
    # pixel to the right; turned by the square's symmetries the drags cancel over iterations
    # (measured: 21.82 dB unturned, 24.16 turned)
    def dragging(u, sigma):
        smooth = torch.nn.functional.avg_pool2d(u, 3, 1, 1, count_include_pad=False)
        return torch.roll(smooth, 1, -1)

    op = O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=0)
    plain, turned = (psnr(pnp_restore(op(camera64), op, dragging, iters=16, turns=t).image,
                          camera64) for t in (False, True))
    assert turned > plain + 1.5


@pytest.mark.parametrize("bad", [dict(iters=0), dict(weight=0.0)])
def test_plug_and_play_refuses_zero_iterations_or_weight(bad):
    # a zero is refused, not taken for "not given" and replaced by pnp.defaults
    with pytest.raises(ValueError, match="iters must be >= 1"):
        pnp_restore(torch.rand(1, 1, 8, 8), O.Blur(sigma=1.0), CNNDenoiser(), **bad)


def test_plug_and_play_ends_its_schedule_at_a_noise_floor():
    # a level under 2/255 ends the denoiser's strength at 2/255, not at the level itself
    seen = []

    def spy(x, sigma):
        seen.append(float(torch.as_tensor(sigma).flatten()[0]))
        return x

    y = O.Blur(sigma=1.0)(torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    pnp_restore(y, O.Blur(sigma=1.0), spy, iters=4, noise_level=0.001)
    assert seen[-1] == pytest.approx(2 / 255) and seen[0] == pytest.approx(0.2)


@pytest.mark.parametrize("motion, noise, floor", [
    # measured: 28.95 and 26.71 dB; before the data weight 0.2 and the start from y, the
    # default collapsed to 21.56 and 13.38 (the Wiener start: 18.28 and 11.83)
    ((9, 30), 0.02, 27.5),
    ((9, 60), 0.05, 25.0),
])
def test_default_deblurring_of_a_motion_blur_does_not_collapse(camera64, motion, noise, floor):
    op = O.Blur(motion=motion)  # its spectrum has near-zeros, where the data step amplifies noise
    out = solve(_observe(op, camera64, noise), op, progress=False)  # noise level estimated
    assert out.iterations == 16
    assert psnr(out.image, camera64) > floor



def test_a_noise_free_blur_runs_more_iterations_and_gains_by_them(camera64):
    op = O.Blur(motion=(9, 30))
    y = op(camera64)
    # (without the final back-projection, which makes both exact here: 106 dB)
    default = solve(y, op, progress=False, noise_level=0.0, keep_observed=False)
    sixteen = solve(y, op, progress=False, noise_level=0.0, iters=16, keep_observed=False)
    assert default.iterations == 32
    # measured on 64x64 camera crops: +0.4 to +0.9 dB (pnp.BLUR_QUIET_ITERS; here 43.17
    # against 42.44)
    assert psnr(default.image, camera64) > psnr(sixteen.image, camera64) + 0.2
    assert psnr(solve(y, op, progress=False, noise_level=0.0).image, camera64) > 60

def test_solve_with_the_denoiser_prior(camera64, astronaut32):
    op = O.Blur(sigma=1.0)
    y = _observe(op, astronaut32, 0.01)
    out = solve(y, op, "denoiser", iters=8, progress=False)  # RGB, noise level estimated
    assert out.image.shape == astronaut32.shape
    # measured 29.09 dB; Wiener deconvolution (the operator's estimate) 23.81, y 20.12
    assert psnr(out.image, astronaut32) > psnr(op.initial_estimate(y).clamp(0, 1), astronaut32) + 3
    # denoising is one pass, per batch item, with the noise level estimated per item
    x = torch.cat([camera64, camera64.flip(-1)])
    noisy = torch.cat([_observe(O.Denoising(), camera64, 0.05), _observe(O.Denoising(), camera64.flip(-1), 0.15)])
    out = solve(noisy, O.Denoising(), "denoiser", progress=False)
    assert out.iterations == 1 and out.image.shape == x.shape
    for b in range(2):
        assert psnr(out.image[b : b + 1], x[b : b + 1]) > psnr(noisy[b : b + 1].clamp(0, 1), x[b : b + 1]) + 5
    # a noise-free inpainting keeps its observed pixels exactly
    hole = O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=1)
    filled = solve(hole(camera64), hole, "denoiser", iters=4, progress=False).image
    assert torch.equal(hole(filled), hole(camera64))


@pytest.mark.parametrize("content, match", [
    (None, "no such file"),
    (b"not a checkpoint", "not a readable PyTorch checkpoint"),
    ("pickled code", "not a readable PyTorch checkpoint"),
    ("a number among the weights", r"incomplete \(its weights hold more than tensors\)"),
    ("task deblur", "is a checkpoint of task 'deblur', not a denoiser"),
    # hostile settings: TypeError, IndexError, a 10**7-block network built (GBs) before refused
    ("task ['inpaint']", "a configuration that training never writes"),
    ("widths []", "a configuration that training never writes"),
    ("blocks 10000000", "a configuration that training never writes"),
    ("integer weights", "weights that are not real floating-point numbers"),
    ({"format": "something else"}, "not a denoiser checkpoint"),
    # edited by hand: KeyError and AttributeError tracebacks, in the CLI too
    ({"format": "invprior-denoiser", "version": VERSION, "state_dict": {}}, r"incomplete \(missing config\)"),
    ({"format": "invprior-denoiser", "version": VERSION, "config": "hello", "state_dict": {}},
     "its config or weights are no dict"),
])
def test_bad_denoiser_file_is_a_clear_error(checkpoint_file, content, match, pickled_code):
    if content == "pickled code":
        content = {"format": "invprior-denoiser", "code": pickled_code[0]}
    elif isinstance(content, str):  # the shipped file, edited by hand
        from invprior.weights import weight_file

        ck = torch.load(weight_file("denoiser.pt"), weights_only=True)
        if content == "integer weights":
            ck["state_dict"] = {k: v.long() for k, v in ck["state_dict"].items()}
        elif content != "a number among the weights":
            from ast import literal_eval

            key, value = content.split(" ", 1)
            ck["config"][key] = value if value.isalpha() else literal_eval(value)
        else:
            ck["state_dict"]["extra"] = 1
        content = ck
    with pytest.raises(ValueError, match=match):
        load_denoiser(checkpoint_file(content))
    assert not pickled_code[1]  # (weights_only: refused unrun)


def test_a_denoiser_file_written_again_is_read_again(tmp_path):
    # the networks read are kept (by path and time of change): a file trained again over
    # the old one must not be served from that memory
    import os

    from invprior.weights import weight_file

    path = tmp_path / "mine.pt"
    ck = torch.load(weight_file("denoiser.pt"), weights_only=True)
    torch.save(ck, path)
    before = next(load_denoiser(path).parameters()).clone()
    ck["state_dict"] = {k: 0.5 * v if v.is_floating_point() else v for k, v in ck["state_dict"].items()}
    torch.save(ck, path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # (a coarse clock's tick)
    assert torch.allclose(next(load_denoiser(path).parameters()), 0.5 * before)


def test_train_command_writes_a_loadable_denoiser_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "d.pt"
    args = ["--kind", "denoiser", "--steps", "2", "--batch", "2", "--out", str(out), "--quiet"]
    assert train_main(args) == 0
    net = load_denoiser(out)
    assert net(torch.rand(1, 1, 16, 16), 0.1).shape == (1, 1, 16, 16)
    # the file is a prior for solve() and --prior as it is
    y = torch.rand(1, 1, 16, 16)
    result = solve(y, O.Blur(sigma=1.0), str(out), iters=2, progress=False)
    assert "CNN denoiser" in result.stop_reason and result.image.shape == y.shape
    with pytest.raises(ValueError, match="does not take lr"):
        solve(y, O.Blur(sigma=1.0), str(out), lr=0.1)
    stamp = out.read_bytes()
    capsys.readouterr()
    assert train_main(args) == 2  # (it offered --resume, which a denoiser then refused)
    assert "already exists; pass --force to replace it." in capsys.readouterr().err
    assert out.read_bytes() == stamp
    assert train_main([*args, "--resume"]) == 2
    assert "cannot --resume" in capsys.readouterr().err
    assert train_main([*args, "--force", "--resume"]) == 2
    assert "pass one of them" in capsys.readouterr().err
    assert train_main([*args, "--force", "--start", str(tmp_path)]) == 2
    assert "it is a folder" in capsys.readouterr().err
    assert train_main(["--data", "digits", "--max-seconds", "-1", "--out", str(tmp_path / "g.pt")]) == 2
    assert "--max-seconds is not used by --kind glo" in capsys.readouterr().err
    for wrong in (["--kind", "glo", "--start", "d.pt"], ["--kind", "pca", "--steps", "9"],
                  ["--kind", "denoiser", "--latent", "8"], ["--kind", "linear", "--width", "8"],
                  ["--kind", "glo", "--widths", "8,16"], ["--kind", "denoiser", "--flips"]):
        flag = wrong[2]
        assert train_main(["--data", "digits", *wrong, "--out", str(tmp_path / "w.pt")]) == 2
        assert f"{flag} is not used by --kind {wrong[1]}" in capsys.readouterr().err
    assert not (tmp_path / "w.pt").exists()
    assert train_main(["--kind", "denoiser", "--steps", "0", "--out", str(tmp_path / "e.pt")]) == 2
    # values no run can use, named by their flag (--latent 1000000 took 8 GB, then failed in
    # the allocator; --max-seconds nan passed; --seed 2**70 was an "Overflow" from inside)
    for wrong, says in ((["--latent", "1000000"], "--latent must be from 1 to 4096"),
                        (["--kind", "denoiser", "--max-seconds", "nan"], "--max-seconds must be a positive"),
                        (["--kind", "denoiser", "--max-seconds", "0"], "--max-seconds must be a positive"),
                        (["--seed", str(2**70)], "--seed must be from 0 to 4294967295"),
                        (["--code-lr", "inf"], "--code-lr must be a positive number, got inf"),
                        # (100000 had crashed the process; 3e9 said torch's "Overflow")
                        (["--threads", "100000"], "--threads must be from 1 to 1024"),
                        (["--threads", "3000000000"], "--threads must be from 1 to 1024"),
                        # ("unknown loss 'l1'", a choice --help lists)
                        (["--loss", "l1"], "--loss l1 is for --kind denoiser; --kind glo takes l2 or lap1.")):
        assert train_main(["--data", "digits", *wrong, "--out", str(tmp_path / "e.pt")]) == 2
        assert says in capsys.readouterr().err
    # widths equal to the default beside --start had passed, --start's network used unsaid
    assert train_main(["--kind", "denoiser", "--start", str(out), "--widths", "32,64,128,192",
                       "--out", str(tmp_path / "e.pt")]) == 2
    assert "--start's network keeps its own" in capsys.readouterr().err
    assert train_main(["--data", "digits", "--out", str(out), "--resume"]) == 2
    assert "is a denoiser checkpoint, which cannot be resumed" in capsys.readouterr().err
    for kind, size, least in (("denoiser", "0", 16), ("denoiser", "-5", 16), ("inpainter", "16", 24)):
        start = ["--start", str(out)] if kind == "inpainter" else []
        assert train_main(["--kind", kind, *start, "--size", size, "--out", str(tmp_path / "e.pt")]) == 2
        assert f"--size of --kind {kind} (its training patches' side) must be from {least} to " \
               f"1024, got {size}" in capsys.readouterr().err  # 0 meant the default; 16 crashed
    # --channels 3 on a folder of gray images: a colour network that saw no colour
    from invprior.io import write_image

    (tmp_path / "gray").mkdir()
    write_image(tmp_path / "gray" / "a.png", torch.rand(1, 1, 40, 40))
    assert train_main(["--kind", "denoiser", "--channels", "3", "--data", str(tmp_path / "gray"),
                       "--out", str(tmp_path / "c.pt")]) == 2
    assert "holds only gray images" in capsys.readouterr().err
    # a run that diverges writes nothing (its weights were NaN: black restorations, exit 0)
    stamp = out.read_bytes()
    assert train_main([*args, "--force", "--lr", "1e9", "--steps", "3"]) == 2
    assert "the training diverged" in capsys.readouterr().err and out.read_bytes() == stamp
    capsys.readouterr()
    # ended by the time limit: said (it had read as the steps asked for)
    limited = ["--kind", "denoiser", "--steps", "100000", "--batch", "2", "--max-seconds",
               "0.5", "--out", str(tmp_path / "t.pt")]
    assert train_main(limited) == 0
    assert " of 100000 steps (the time limit) in " in capsys.readouterr().out


def test_train_command_shapes_a_new_network_and_refuses_bad_shapes(tmp_path, capsys):
    from invprior.priors.cnn import ASSET

    out = tmp_path / "small.pt"
    args = ["--kind", "denoiser", "--steps", "1", "--batch", "2", "--size", "32", "--quiet"]
    assert train_main([*args, "--widths", "8,16,24", "--blocks", "1", "--out", str(out)]) == 0
    net = load_denoiser(out)
    assert net.config["widths"] == [8, 16, 24] and net.config["blocks"] == 1
    assert net(torch.rand(1, 1, 20, 20), 0.1).shape == (1, 1, 20, 20)
    for bad, message in ((["--widths", "8,x"], "--widths takes"), (["--widths", "0"], "--widths takes"),
                         (["--blocks", "0"], "--blocks must"),
                         (["--widths", "8,16", "--start", str(ASSET)], "keeps its own")):
        assert train_main([*args, *bad, "--out", str(tmp_path / "bad.pt")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "bad.pt").exists()


def test_fine_tune_on_a_folder_starts_from_the_given_weights(tmp_path, capsys):
    from invprior.io import write_image
    from invprior.priors.cnn import ASSET

    data = tmp_path / "photos"
    data.mkdir()
    for i in range(2):  # colour files are made gray
        write_image(data / f"{i}.png", torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(i)))
    out = tmp_path / "ft.pt"
    args = ["--kind", "denoiser", "--data", str(data), "--start", str(ASSET), "--steps", "1",
            "--batch", "2", "--size", "32", "--lr", "1e-9", "--out", str(out), "--quiet"]
    assert train_main(args) == 0
    tuned, shipped = load_denoiser(out), load_denoiser(ASSET)
    x = torch.rand(1, 1, 32, 32)
    # one step at a tiny learning rate: the shipped network, up to the file's float16
    assert torch.allclose(tuned(x, 0.1), shipped(x, 0.1), atol=2e-3)
    assert torch.load(out, weights_only=True)["config"]["images"] == [f"folder {data}"]
    assert train_main([*args[:2], "--data", "faces", "--out", str(tmp_path / "f.pt")]) == 2
    assert "folder of photographs" in capsys.readouterr().err
    assert train_main([*args[:2], "--keep-start", "0.5", "--out", str(tmp_path / "k.pt")]) == 2
    assert "give --start too" in capsys.readouterr().err
    # --keep-start: the same run (same seed), its weights mixed with the start's
    fast = [a if a != "1e-9" else "0.01" for a in args] + ["--force"]
    assert train_main(fast) == 0
    tuned = load_denoiser(out).state_dict()
    assert train_main([*fast, "--keep-start", "0.75"]) == 0
    mixed = load_denoiser(out).state_dict()
    for name, start in shipped.state_dict().items():
        assert torch.allclose(mixed[name], 0.75 * start + 0.25 * tuned[name], atol=2e-3)


@pytest.mark.parametrize("loss", ["l1", "l2"])
def test_denoise_loss_is_l1_or_the_squared_error(loss):
    from invprior.cnn.training import DenoiserConfig, _denoise_loss

    net, clean = DenoiserUNet(1, (8, 16), 1), torch.rand(3, 1, 32, 32)
    cfg = DenoiserConfig(loss=loss)
    value = _denoise_loss(net, clean, cfg, torch.Generator().manual_seed(0), fast=False)
    gen = torch.Generator().manual_seed(0)  # the same draws, by hand
    sigma = cfg.sigma_max * torch.rand(3, generator=gen)
    error = net(clean + sigma.view(-1, 1, 1, 1) * torch.randn(clean.shape, generator=gen), sigma) - clean
    expected = error.square().mean() if loss == "l2" else error.abs().mean()
    assert torch.allclose(value, expected, rtol=1e-5)


def test_denoiser_loss_flag_is_checked_and_recorded(tmp_path, capsys):
    args = ["--kind", "denoiser", "--widths", "8,16", "--blocks", "1", "--steps", "1",
            "--batch", "2", "--size", "32", "--quiet"]
    assert train_main([*args, "--loss", "lap1", "--out", str(tmp_path / "bad.pt")]) == 2
    err = capsys.readouterr().err
    assert "--loss of --kind denoiser is l1 or l2" in err and "Traceback" not in err
    assert not (tmp_path / "bad.pt").exists()
    assert train_main([*args, "--loss", "l2", "--out", str(tmp_path / "l2.pt")]) == 0
    assert torch.load(tmp_path / "l2.pt", weights_only=True)["config"]["loss"] == "l2"
    assert train_main([*args, "--out", str(tmp_path / "l1.pt")]) == 0  # the default, recorded
    assert torch.load(tmp_path / "l1.pt", weights_only=True)["config"]["loss"] == "l1"


def test_the_inpainters_loss_is_its_own_through_the_api_too(tmp_path):
    from invprior.cnn.training import DenoiserConfig, train_denoiser

    cfg = DenoiserConfig(widths=(8, 16), blocks=1, steps=1, batch=2, patch=32, task="inpaint",
                         loss="l2")
    with pytest.raises(ValueError, match="inpainter's loss is its own"):
        train_denoiser(cfg, out=tmp_path / "i.pt", progress=False)
    assert not (tmp_path / "i.pt").exists()


def test_colour_fine_tune_widens_the_gray_start_and_serves_rgb_only(tmp_path, capsys):
    from invprior.cnn.planes import apply, split
    from invprior.io import write_image
    from invprior.priors.cnn import ASSET, CNNDenoiser

    data = tmp_path / "photos"
    data.mkdir()
    for i in range(2):
        write_image(data / f"{i}.png", torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(i)))
    out = tmp_path / "colour.pt"
    args = ["--kind", "denoiser", "--channels", "3", "--data", str(data), "--start", str(ASSET),
            "--steps", "1", "--batch", "2", "--size", "32", "--lr", "1e-9", "--out", str(out),
            "--quiet"]
    assert train_main(args) == 0
    tuned, gray = load_denoiser(out), load_denoiser(ASSET)
    assert tuned.config["guides"] == 3 and gray.config["guides"] == 0
    # the guides start at zero weight: each opponent channel denoised as the gray network does
    x = torch.rand(2, 3, 32, 32)
    inputs, levels = split(x, 0.1, guided=True)
    torch.testing.assert_close(apply(tuned, inputs, levels), gray(inputs[:, :1], levels),
                               atol=2e-3, rtol=0)
    d = CNNDenoiser(out)
    assert d(x, 0.1).shape == x.shape
    with pytest.raises(ValueError, match="trained for colour"):
        d(torch.rand(1, 1, 32, 32), 0.1)
    # a gray run cannot start from a colour network; a colour run needs photos
    assert train_main([*args[:2], "--data", str(data), "--start", str(out), "--steps", "1",
                       "--out", str(tmp_path / "g.pt"), "--quiet"]) == 2
    assert "is a colour denoiser" in capsys.readouterr().err
    assert train_main(["--kind", "denoiser", "--channels", "3", "--steps", "1",
                       "--out", str(tmp_path / "n.pt")]) == 2
    assert "folder of colour photographs" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_denoiser_on_cuda_matches_cpu(camera64):
    op = O.Blur(sigma=1.5)
    y = _observe(op, camera64, 0.01)
    cpu = solve(y, op, "denoiser", iters=8, noise_level=0.01, device="cpu", progress=False).image
    gpu = solve(y, op, "denoiser", iters=8, noise_level=0.01, device="cuda", progress=False).image
    assert gpu.is_cuda and abs(psnr(gpu.cpu(), camera64) - psnr(cpu, camera64)) < 0.05


def test_plug_and_play_refuses_what_would_not_fit_in_memory(monkeypatch, camera64):
    import invprior.priors.pnp as pnp

    A = O.Downsampling(4)
    y = A(camera64)  # 16x16: the estimate is 64x64, 4096 values, 384 KiB at 96 bytes each
    monkeypatch.setattr(pnp, "free_memory", lambda device: 300 * 1024)
    with pytest.raises(ValueError, match=r"about 0\.0 GiB for a 64x64 \(width x height\) image on cpu .* smaller factor"):
        solve(y, A, progress=False)
    monkeypatch.setattr(pnp, "free_memory", lambda device: 500 * 1024)
    assert solve(y, A, iters=2, progress=False).image.shape == camera64.shape


def test_ctrl_c_while_training_a_denoiser_keeps_the_weights_so_far(tmp_path, capsys, ctrl_c_at):
    import invprior.cnn.training as training

    ctrl_c_at(training, "_step", 3)
    out = tmp_path / "d.pt"
    args = ["--kind", "denoiser", "--steps", "100", "--batch", "2", "--size", "32",
            "--widths", "8,16", "--blocks", "1", "--quiet"]
    assert train_main([*args, "--out", str(out)]) == 130
    assert "interrupted after 2 steps: wrote" in capsys.readouterr().err
    ck = torch.load(out, weights_only=True)
    assert ck["step"] == 2 and ck["done"] and ck["meta"]["interrupted"]
    assert load_denoiser(out)(torch.rand(1, 1, 16, 16), 0.1).shape == (1, 1, 16, 16)
    # the start is never the output, --force or not
    stamp = out.read_bytes()
    assert train_main([*args, "--start", str(out), "--out", str(out), "--force"]) == 2
    assert "would overwrite --start" in capsys.readouterr().err and out.read_bytes() == stamp


def test_a_second_ctrl_c_while_the_weights_so_far_are_written_keeps_them(tmp_path, capsys,
                                                                          ctrl_c_at, monkeypatch):
    # the held-out score after a Ctrl-C takes seconds; a second Ctrl-C there lost every step
    import os
    import signal
    import time

    import invprior.cnn.training as training

    def second_ctrl_c(net):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # (where the signal, if taken, would interrupt)
        return 20.0

    ctrl_c_at(training, "_step", 3)
    monkeypatch.setattr(training, "held_out_psnr", second_ctrl_c)
    out = tmp_path / "d.pt"
    assert train_main(["--kind", "denoiser", "--steps", "100", "--batch", "2", "--size", "32",
                       "--widths", "8,16", "--blocks", "1", "--quiet", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted: writing the weights so far...\n")
    assert "interrupted after 2 steps: wrote" in err
    assert torch.load(out, weights_only=True)["step"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_the_noise_level_read_off_y_is_said():
    # a photo's noise level is not known to its user: the result says what was assumed
    import re

    from invprior.bench.cases import sample_image

    x = sample_image("coffee", 64)
    y = _observe(O.Denoising(), x, 25 / 255)
    read = solve(y, O.Denoising(), progress=False)
    said = read.stop_reason
    assert abs(float(re.search(r"noise ([\d.]+)/255 estimated", said)[1]) - 25) < 2, said
    # and kept as a number, the one said
    assert f"noise {255 * read.noise_level:.1f}/255" in said
    given = solve(y, O.Denoising(), noise_level=0.1, progress=False)
    assert "estimated" not in given.stop_reason and given.noise_level == 0.1
    A = O.Blur(sigma=1.0)
    read = solve(_observe(A, x, 10 / 255), A, iters=2, progress=False)
    said = read.stop_reason
    assert abs(float(re.search(r"noise ([\d.]+)/255 estimated", said)[1]) - 10) < 2, said
    assert abs(255 * read.noise_level - 10) < 2


def test_every_asset_command_parses_and_uses_only_its_kinds_settings():
    """The commands that made the shipped weights still run as written (no setting ignored)."""
    import shlex

    from invprior.train import ASSET_COMMANDS, _check_flags_apply, build_parser

    for name, command in ASSET_COMMANDS.items():
        words = shlex.split(command)
        assert words[:3] == ["python", "-m", "invprior.train"], name
        _check_flags_apply(build_parser().parse_args(words[3:]))


def test_plug_and_play_stops_before_an_iteration_that_would_pass_max_seconds(monkeypatch):
    # it stopped after the data step that passed the time, then denoised all the same: a
    # 20 s budget on a megapixel photo took 53 s (three iterations of 17.5 s); on a clock
    # of the test's own (a real sleep had 95 ms to spare beside another worker)
    from types import SimpleNamespace

    from invprior import fit
    from invprior.priors import pnp

    clock = [0.0]
    for module in (pnp, fit):
        monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))

    levels = []

    def slow(x, sigma):
        clock[0] += 0.3
        levels.append(float(sigma))
        return x

    y = torch.rand(1, 1, 16, 16)
    result = pnp_restore(y, O.Blur(sigma=1.0), slow, noise_level=0.01, iters=50, max_seconds=1.0)
    # (the run's own seconds: the budget's clock)
    assert result.seconds < 1.0 and result.iterations == 3, result
    assert result.stop_reason == ("time limit of 1 s: 3 iterations, the schedule of 50 "
                                  "shortened to fit it")
    # its rest fitted to the time left, the run ends at the schedule's finest level, as a
    # whole one does (cut, it had ended at the third of 50, still denoising at 0.19)
    cut, levels[:] = list(levels), []
    pnp_restore(y, O.Blur(sigma=1.0), slow, noise_level=0.01, iters=50)
    assert cut[-1] == pytest.approx(levels[-1]) and cut[:2] == pytest.approx(levels[:2])
    # noise-free, whose last iteration is a data step alone, as in a whole schedule: its
    # last denoising comes down from the 50-step schedule's 0.16 there
    levels[:] = []
    clock[0] = 0.0
    A = O.Inpainting(shape=(1, 16, 16), missing=0.5, seed=0)
    result = pnp_restore(A(y), A, slow, iters=50, max_seconds=1.6)
    assert result.iterations == 5 and len(levels) == 4 and levels[-1] < 0.05, levels


def test_plug_and_play_says_its_pace_without_its_setup(monkeypatch):
    # --report's seconds_per_iteration had been the whole time over the iterations: 0.648 s
    # for 1 iteration of 0.044
    from types import SimpleNamespace

    from invprior import fit
    from invprior.priors import pnp

    clock = [0.0]
    for module in (pnp, fit):
        monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(pnp, "start_image", lambda *a: (clock.__setitem__(0, clock[0] + 5.0),
                                                        torch.rand(2, 1, 16, 16))[1])

    def paced(x, sigma):
        clock[0] += 0.25
        return x

    result = pnp_restore(torch.rand(2, 1, 16, 16), O.Blur(sigma=1.0), paced, noise_level=0.01,
                         iters=4)
    assert result.step_seconds == pytest.approx(0.25) and result.seconds >= 6.0, result


def test_a_noise_free_plug_and_play_with_time_for_too_few_iterations_returns_its_first(monkeypatch):
    # cut before a schedule's few iterations, the image was still denoised at a coarse level:
    # camera 256 with half its pixels missing, 29.96 dB at 3 s against 32.20 for 1 iteration
    from types import SimpleNamespace

    from invprior import fit
    from invprior.priors import pnp

    clock = [0.0]
    for module in (pnp, fit):
        monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))

    def slow(x, sigma):
        clock[0] += 0.3
        return 0.5 * x  # (far from any data step)

    A = O.Inpainting(shape=(1, 16, 16), missing=0.5, seed=0)
    y = A(torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    one = pnp_restore(y, A, slow, iters=1)
    result = pnp_restore(y, A, slow, iters=32, max_seconds=0.7)
    assert torch.equal(result.image, one.image) and result.iteration == 1, result
    assert "too few for a schedule (from 4): the first iteration's data step" in result.stop_reason


def test_loading_a_network_leaves_the_random_stream_of_the_hosts_other_threads_alone():
    # its random first weights, replaced by the file's, were drawn with torch's global stream
    # set aside and given back: a host thread drawing meanwhile got values again (7037
    # repeats in 400000 draws during solves)
    import threading

    from invprior.glo import load_prior
    from invprior.weights import weight_file

    drawn, stop = [], threading.Event()

    def host():
        while not stop.is_set():
            drawn.append(torch.rand(256, dtype=torch.float64))

    thread = threading.Thread(target=host)
    thread.start()
    try:
        for _ in range(5):
            load_denoiser()
            load_prior(weight_file("prior_faces.pt"))
    finally:
        stop.set()
        thread.join()
    values = torch.cat(drawn)
    # (an honest repeat among millions of float64 draws is about one in 10**4; 5, never)
    assert len(values) > 1000 and len(values) - len(values.unique()) < 5


def test_a_denoising_with_nothing_to_remove_gives_y_back(camera64):
    # a clean star field told 0 had come back at 45.19 dB, its peaks cut to 0.88
    stars = torch.zeros(1, 1, 64, 64)
    stars.view(-1)[torch.randperm(64 * 64, generator=torch.Generator().manual_seed(0))[:30]] = 1.0
    noisy = camera64 + (1 / 255) * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))
    result = solve(torch.cat([stars, noisy]), O.Denoising(), noise_level=[0.0, 1 / 255],
                   progress=False)
    assert torch.equal(result.items[0].image, stars)
    assert "nothing to remove" in result.items[0].stop_reason
    assert psnr(result.items[1].image, camera64) > psnr(noisy.clamp(0, 1), camera64) + 0.3
