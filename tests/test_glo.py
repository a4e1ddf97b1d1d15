"""Tests of trained priors: GLO training, the linear (PCA) special case, checkpoints,
distributed training, and latent-space solving."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import operators as O
from invprior.glo import (
    ImageSet,
    TrainConfig,
    TrainedPrior,
    build_decoder,
    load_prior,
    named_set,
    train,
    write_checkpoint,
)
from invprior.api import solve
from invprior.train import main as train_main
from invprior.weights import weight_file

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _psnr(a, b) -> float:
    return float(-10 * torch.log10((a.double() - b.double()).square().mean()))


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """64 training digits, (64, 1, 16, 16)."""
    return named_set("digits", "train")[:64]


@pytest.fixture(scope="module")
def small_prior(digits, tmp_path_factory) -> tuple[TrainedPrior, Path]:
    """A small GLO prior trained on 64 digits, saved and loaded back."""
    threads = torch.get_num_threads()  # (given back: the tests after this module had run on 1)
    torch.set_num_threads(1)
    try:
        path = tmp_path_factory.mktemp("prior") / "digits.pt"
        cfg = TrainConfig(latent=8, width=32, steps=400, batch=32, lr=3e-3, code_lr=3e-2,
                          checkpoint_every=0)
        train(ImageSet.from_tensor(digits, "digits64"), cfg, out=path, progress=False)
    finally:
        torch.set_num_threads(threads)
    return load_prior(path), path


def _folder(root: Path, count: int = 12, size: int = 8) -> Path:
    from invprior.io import write_image

    g = torch.Generator().manual_seed(0)
    for i in range(count):
        sub = root / ("a" if i % 2 else "b/c")  # nested: the search is recursive
        sub.mkdir(parents=True, exist_ok=True)
        write_image(sub / f"img{i:02d}.png", torch.rand(1, 1, size, size, generator=g))
    return root


# ---------------------------------------------------------------- data


def test_named_sets_keep_the_held_out_rows_apart():
    assert ImageSet("digits").shape == (1, 16, 16) and len(ImageSet("digits")) == 1500
    assert len(ImageSet("faces")) == 90 and ImageSet("faces").shape == (1, 32, 32)
    assert named_set("faces", "test").shape[0] == 10
    assert named_set("digits", "test").shape[0] == 297
    faces = ImageSet("faces", flips=True)
    assert len(faces) == 180
    assert torch.equal(faces.load([90])[0], faces.load([0])[0].flip(-1))


def test_folder_is_read_recursively_resized_and_sharded(tmp_path):
    data = ImageSet(str(_folder(tmp_path, count=6, size=10)), size=8, flips=True)
    assert len(data) == 12 and data.shape == (1, 8, 8)
    x = data.load([1, 7])
    assert x.shape == (2, 1, 8, 8) and torch.allclose(x[1], x[0].flip(-1))
    # a link to one of its files is that image once (it had trained twice as often)
    folder = _folder(tmp_path / "linked", count=3, size=10)
    (folder / "zz_best.png").symlink_to(folder / "a" / "img01.png")
    assert len(ImageSet(str(folder), size=8)) == 3


def test_a_folder_is_colour_if_any_image_is_and_a_strip_is_cropped_before_scaling(tmp_path):
    from invprior.glo.data import resize
    from invprior.io import write_image

    folder = _folder(tmp_path, count=40, size=10)  # the colour one sorts last: 41st
    write_image(folder / "z_colour.png", torch.rand(1, 3, 10, 10))
    assert ImageSet(str(folder), size=8).shape == (3, 8, 8)  # the first 32 read: gray
    # a 1x12000 strip: its centre pixel scaled (scaled whole first, it took 3 GB at 256)
    strip = torch.linspace(0, 1, 12001).view(1, 1, 1, 12001)
    assert torch.allclose(resize(strip, 256), torch.full((1, 1, 256, 256), 0.5))


@pytest.mark.parametrize("make,match", [
    (lambda p: p / "nope", "does not exist"),
    (lambda p: p, "no images found"),
    (lambda p: (p / "x.png").write_bytes(b"not a png") and p, "x.png"),
])
def test_bad_data_folder_is_a_clear_error(tmp_path, make, match):
    folder = make(tmp_path)
    with pytest.raises(ValueError, match=match):
        ImageSet(str(folder)).load(range(1))


def test_a_corrupt_file_among_good_ones_is_left_out_and_said(tmp_path, capsys):
    # it stopped a training run when its batch came (GLO), or before the first step (denoiser)
    from invprior.cnn.patches import folder_images

    folder = _folder(tmp_path, count=3, size=10)
    (folder / "broken.png").write_bytes(b"not a png")
    assert len(ImageSet(str(folder))) == 3
    assert "left out 1 of 4 files" in capsys.readouterr().err
    assert len(folder_images(folder)) == 3
    assert "broken.png" in capsys.readouterr().err


def test_a_truncated_image_is_left_out_of_a_glo_run_as_of_a_denoisers(tmp_path, capsys):
    # its header reads, so it passed the folder's check and stopped the run at its loading
    folder = _folder(tmp_path / "data", count=4, size=16)
    whole = (folder / "a" / "img01.png").read_bytes()
    (folder / "cut.png").write_bytes(whole[: len(whole) // 2])
    args = ["--size", "8", "--latent", "2", "--width", "8", "--steps", "2", "--batch", "2",
            "--quiet"]
    assert train_main(["--data", str(folder), *args, "--out", str(tmp_path / "p.pt")]) == 0
    assert "left out 1 of 5 files under" in capsys.readouterr().err
    assert torch.load(tmp_path / "p.pt", weights_only=True)["config"]["images"] == 4
    # the least count still holds
    few = tmp_path / "few"
    few.mkdir()
    (folder / "a" / "img01.png").rename(few / "a.png")
    (folder / "cut.png").rename(few / "cut.png")
    assert train_main(["--data", str(few), *args, "--out", str(tmp_path / "q.pt")]) == 2
    err = capsys.readouterr().err
    assert "cut.png" in err and "training needs at least 2 images" in err


def test_training_says_why_its_files_cannot_be_used(tmp_path, capsys):
    # float TIFFs on the 0-255 scale (scientific data) had been "cannot be read", where
    # solve said to divide them by 255
    import imageio.v3 as iio

    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(2):
        iio.imwrite(folder / f"f{i}.tif", np.full((16, 16), 200.0 + i, dtype=np.float32))
    args = ["--data", str(folder), "--size", "8", "--steps", "2", "--quiet"]
    assert train_main([*args, "--out", str(tmp_path / "p.pt")]) == 2
    err = capsys.readouterr().err
    assert "none of the 2 image files" in err and "float pixels reach 200" in err, err
    assert "divide 0-255 values by 255" in err


def test_cli_bad_data_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "invprior.train", "--data", str(tmp_path / "missing"),
         "--out", str(tmp_path / "p.pt")], capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: the data folder") and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


# ---------------------------------------------------------------- training


def test_linear_factorisation_spans_the_principal_subspace():
    """The lecture's claim: min_{B,Z} sum_i |x_i - B z_i|^2 learns the PCA subspace."""
    from scipy.linalg import subspace_angles
    from sklearn.decomposition import PCA

    g = torch.Generator().manual_seed(0)
    n, k, count = 64, 4, 200
    basis, _ = torch.linalg.qr(torch.randn(n, k, generator=g))
    codes = torch.randn(count, k, generator=g) * torch.tensor([4.0, 3.0, 2.0, 1.0])
    x = 0.5 + 0.05 * (codes @ basis.T) + 0.002 * torch.randn(count, n, generator=g)
    data = ImageSet.from_tensor(x.view(count, 1, 8, 8), "low-rank")
    cfg = TrainConfig(kind="linear", latent=k, codes="free", init="random", steps=2000,
                      batch=count, lr=1e-2, code_lr=1e-1, schedule="cosine", checkpoint_every=0)
    ck = train(data, cfg, progress=False)
    learned = ck["state_dict"]["weight"].double().numpy()
    pca = PCA(k).fit(x.double().numpy()).components_.T
    assert subspace_angles(learned, pca).max() < 1e-2


def test_a_few_steps_lower_the_loss(digits):
    cfg = TrainConfig(latent=8, width=16, steps=40, batch=32, checkpoint_every=0)
    losses = train(ImageSet.from_tensor(digits, "d"), cfg, progress=False)["losses"]
    assert losses[-5:].mean() < 0.8 * losses[:5].mean()


def test_resume_continues_the_run_exactly(digits, tmp_path):
    data = ImageSet.from_tensor(digits[:40], "d")
    cfg = TrainConfig(latent=4, width=16, batch=16, steps=10, checkpoint_every=5)
    whole = train(data, cfg, progress=False)
    path = tmp_path / "run.pt"
    _train_until_checkpoint(data, cfg, path)  # killed after its checkpoint at step 5
    resumed = train(data, cfg, out=path, resume=True, progress=False)
    assert resumed["step"] == 10 and resumed["done"]
    for key, value in whole["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][key], value)
    torch.testing.assert_close(resumed["codes"], whole["codes"])
    torch.testing.assert_close(resumed["losses"], whole["losses"])
    with pytest.raises(ValueError, match=r"different --latent \(only"):  # (its flag: "latent")
        train(data, TrainConfig(latent=5, width=16, batch=16, steps=12), out=path, resume=True,
              progress=False)
    # another --size: the size said, not --data as well (the images resized differ too)
    with pytest.raises(ValueError, match=r"different image shape \(--size, --channels\) \(only"):
        train(ImageSet.from_tensor(torch.nn.functional.interpolate(digits[:40], size=8), "d"),
              TrainConfig(latent=4, width=16, batch=16, steps=12), out=path, resume=True,
              progress=False)
    # the run is at step 10: --steps 10 (or fewer) has nothing left to do
    with pytest.raises(ValueError, match="has 10 steps already"):
        train(data, cfg, out=path, resume=True, progress=False)
    # other images of the same count and size (another folder), or half as many mirrored,
    # had been resumed: each saved code then met another image; the same images, wherever
    # they are (a moved folder: another name), resume
    more = TrainConfig(latent=4, width=16, batch=16, steps=12, checkpoint_every=5)
    with pytest.raises(ValueError, match=r"different images \(--data\)"):
        train(ImageSet.from_tensor(digits[:40].flip(-1), "d"), more, out=path, resume=True, progress=False)
    with pytest.raises(ValueError, match=r"different --flips"):
        train(ImageSet.from_tensor(digits[:20], "d", flips=True), more, out=path, resume=True,
              progress=False)
    moved = train(ImageSet.from_tensor(digits[:40], "moved"), more, out=path, resume=True,
                  progress=False)
    assert moved["step"] == 12
    from invprior.train import main as train_main

    pca = tmp_path / "pca.pt"
    assert train_main(["--data", "digits", "--kind", "pca", "--latent", "4", "--out", str(pca), "--quiet"]) == 0
    with pytest.raises(ValueError, match="is a PCA prior"):
        train(ImageSet("digits"), TrainConfig(kind="linear", latent=4), out=pca, resume=True,
              progress=False)


def _train_until_checkpoint(data, cfg, path):
    """Simulate a run killed after its first periodic checkpoint."""
    import invprior.glo.training as T

    class Killed(Exception):
        pass

    original = T.write_checkpoint

    def write_then_die(p, ck):
        original(p, ck)
        if not ck["done"]:
            raise Killed

    T.write_checkpoint = write_then_die
    try:
        with pytest.raises(Killed):
            T.train(data, cfg, out=path, progress=False)
    finally:
        T.write_checkpoint = original
    assert not torch.load(path, weights_only=True)["done"]


def test_two_process_torchrun_matches_one_process(tmp_path):
    # --batch 2: in 6 of the 12 steps one rank holds neither image (it used to crash)
    folder = _folder(tmp_path / "data", count=12)
    args = ["--data", str(folder), "--size", "8", "--latent", "4", "--width", "16",
            "--steps", "12", "--batch", "2", "--checkpoint-every", "5", "--threads", "1",
            "--quiet"]
    single, double = tmp_path / "one.pt", tmp_path / "two.pt"
    assert train_main(args + ["--out", str(single)]) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "invprior.train", *args, "--out", str(double)],
        capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr[:2000]  # the head: what the rank said
    a, b = (torch.load(p, weights_only=True) for p in (single, double))
    assert b["meta"]["world"] == 2 and a["meta"]["world"] == 1
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b["codes"], a["codes"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b["losses"], a["losses"], atol=1e-6, rtol=1e-4)


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(small_prior, tmp_path):
    prior, path = small_prior
    ck = torch.load(path, weights_only=True)
    assert ck["config"]["kind"] == "glo" and ck["done"] and "optim" not in ck
    z = torch.randn(3, prior.latent)
    net = build_decoder(ck["config"])
    net.load_state_dict(ck["state_dict"])
    assert torch.equal(prior.generate(z), net(z).detach())
    torch.testing.assert_close(prior.mean, ck["codes"].mean(0))
    again = write_checkpoint(tmp_path / "again.pt", prior.checkpoint())
    assert torch.equal(load_prior(again).generate(z), prior.generate(z))


@pytest.mark.parametrize("content,match", [
    (None, "no such file"),
    (b"garbage", "not a readable PyTorch checkpoint"),
    ("pickled code", "not a readable PyTorch checkpoint"),
    ("truncated", "not a readable PyTorch checkpoint"),
    ({"weights": torch.zeros(2)}, "not a trained-prior checkpoint"),
    ("sparse", "not a trained-prior checkpoint"),
    ("damaged", "damaged"),
])
def test_bad_checkpoint_is_a_clear_error(small_prior, tmp_path, content, match, pickled_code):
    path = tmp_path / "bad.pt"
    good = small_prior[1].read_bytes()
    if content == "pickled code":
        content = {"format": "invprior-trained-prior", "code": pickled_code[0]}
    if content == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif content == "sparse":
        path = weight_file("sparse_sr_x2.pt")
    elif content == "damaged":
        ck = torch.load(small_prior[1], weights_only=True)
        ck["state_dict"]["fc.weight"] = torch.zeros(3, 3)
        torch.save(ck, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(ValueError, match=match) as err:
        load_prior(path)
    assert str(err.value).endswith(".") and "\n" not in str(err.value)
    assert not pickled_code[1]  # (weights_only: refused unrun)


def test_a_checkpoint_in_torch_s_legacy_format_is_taken_by_name(tmp_path):
    """load_prior read it, but prior=PATH (and --prior) called it corrupt: its format was
    read with mmap, which that format does not allow."""
    from invprior.priors import checkpoint_format

    ck = torch.load(weight_file("prior_digits.pt"), weights_only=True)
    legacy = tmp_path / "legacy.pt"
    torch.save(ck, legacy, _use_new_zipfile_serialization=False)
    assert checkpoint_format(legacy) == ck["format"]
    op = O.Inpainting(O.box_mask((16, 16), (4, 4, 6, 6)))
    x = load_prior(legacy).sample(1, seed=2)
    out = solve(op(x), op, str(legacy), iters=5, restarts=1, adapt=False, progress=False)
    assert out.image.shape == (1, 1, 16, 16)


def test_cli_pca_prior(tmp_path):
    out = tmp_path / "pca.pt"
    assert train_main(["--data", "digits", "--kind", "pca", "--latent", "10", "--out", str(out),
                       "--quiet"]) == 0
    prior = load_prior(out)
    assert prior.shape == (1, 16, 16) and prior.config["kind"] == "linear"
    # the representation error the latent search weighs its prior by, as glo's (none had
    # left it unweighted without noise: faces, 50 measurements, 18.45 dB for 20.73)
    from invprior.glo.pca import representation_error

    data = ImageSet("digits")
    images = data.load(range(len(data)))
    expected = representation_error(images, 10)
    assert expected > 0 and prior.rep_error == pytest.approx(expected, rel=1e-6)
    assert train_main(["--data", "digits", "--kind", "pca", "--out", str(out), "--quiet"]) == 2
    # four copies of one image vary along no direction: no basis to learn (it restored a flat
    # image); nor does a glo run of no steps learn anything
    from invprior.io import write_image

    copies = tmp_path / "copies"
    copies.mkdir()
    for i in range(4):
        write_image(copies / f"{i}.png", torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    assert train_main(["--data", str(copies), "--kind", "pca", "--latent", "2", "--size", "16",
                       "--out", str(tmp_path / "copies.pt"), "--quiet"]) == 2
    assert train_main(["--data", "digits", "--steps", "0", "--out", str(tmp_path / "g.pt")]) == 2
    assert not (tmp_path / "copies.pt").exists() and not (tmp_path / "g.pt").exists()


# ---------------------------------------------------------------- solving


def test_trained_prior_beats_an_untrained_one(small_prior, digits):
    prior, _ = small_prior
    x = digits[5:6]  # a training image
    A = O.CompressedSensing(40, prior.shape, kind="gaussian", seed=1)
    y = O.GaussianNoise(0.01, seed=0)(A(x))
    torch.manual_seed(0)
    blank = TrainedPrior(build_decoder(prior.config), torch.zeros(prior.latent),
                         torch.eye(prior.latent), prior.config)
    kw = dict(noise_level=0.01, iters=200, restarts=4, adapt=False, progress=False)
    trained = _psnr(prior.restore(y, A, **kw).image, x)
    untrained = _psnr(blank.restore(y, A, **kw).image, x)
    assert trained > untrained + 5 and trained > 18


def test_solve_batch_restarts_adaptation_and_custom_operator(small_prior, digits):
    prior, _ = small_prior
    x = digits[:2]
    op = O.as_operator(lambda v: v[..., ::2, ::2])  # a custom callable
    y = op(x)
    out = prior.restore(y, op, iters=50, restarts=3, adapt=True, adapt_iters=30,
                        noise_level=0.0, truth=x, progress=False, z_reg="sphere", l1=1e-4)
    assert out.image.shape == (2, 1, 16, 16) and len(out.items) == 2
    assert len(out.items[0].psnrs) == out.items[0].iterations
    assert "weight adaptation" in out.stop_reason
    # each digit is recovered better than by repeating the observed pixels
    nearest = y.repeat_interleave(2, -1).repeat_interleave(2, -2)
    gains = [_psnr(r.image, x[b : b + 1]) - _psnr(nearest[b : b + 1], x[b : b + 1])
             for b, r in enumerate(out.items)]
    assert min(gains) > 5, gains  # measured +12.8, +10.6


def test_each_observation_of_a_batch_is_searched_as_alone(digits):
    # the restarts were drawn per item: the same digit came back 44.07 dB alone and 49.58
    # and 47.17 as the 2nd and 3rd of three copies (the shipped digits prior, x2 SR)
    op = O.Downsampling(2)
    y = op(0.05 * digits[-1:]).repeat(2, 1, 1, 1)
    out = solve(y, op, str(weight_file("prior_digits.pt")), progress=False)
    alone = solve(y[:1], op, str(weight_file("prior_digits.pt")), progress=False)
    for item in out.items:
        torch.testing.assert_close(item.image, alone.image, atol=1e-5, rtol=0)


def test_solve_rejects_observations_of_another_size(small_prior):
    prior, _ = small_prior
    A = O.CompressedSensing(10, (1, 8, 8), seed=0)
    with pytest.raises(ValueError, match="cannot take this prior's"):
        prior.restore(torch.zeros(1, 10), A, progress=False)
    B = O.CompressedSensing(10, prior.shape, seed=0)
    with pytest.raises(ValueError, match="do not fit this prior"):
        prior.restore(torch.zeros(1, 12), B, progress=False)


def test_ctrl_c_while_training_saves_a_checkpoint_that_resume_continues(tmp_path, capsys,
                                                                        ctrl_c_at):
    import invprior.glo.training as T

    folder = _folder(tmp_path / "data", count=6)
    ctrl_c_at(T, "reconstruction_loss", 5)
    out = tmp_path / "p.pt"
    args = ["--data", str(folder), "--size", "8", "--latent", "4", "--width", "16",
            "--steps", "10", "--batch", "4", "--checkpoint-every", "0", "--quiet", "--out", str(out)]
    assert train_main(args) == 130
    assert "interrupted after 4 steps" in capsys.readouterr().err
    ck = torch.load(out, weights_only=True)
    assert ck["step"] == 4 and not ck["done"] and "optim" in ck and len(ck["losses"]) == 4
    assert train_main([*args, "--resume"]) == 0
    ck = torch.load(out, weights_only=True)
    assert ck["step"] == 10 and ck["done"] and len(ck["losses"]) == 10


@pytest.mark.parametrize("damage", [
    lambda ck: ck.update(state_dict={k: v.flatten()[:1] for k, v in ck["state_dict"].items()}),
    lambda ck: ck.update(codes=ck["codes"][:2]),
    lambda ck: ck.update(codes=ck["codes"][:1]),  # copy_ had spread it over every code, unsaid
    lambda ck: ck["optim"]["codes"].update(exp_avg=ck["optim"]["codes"]["exp_avg"][:, :1]),
    lambda ck: ck.pop("codes"),
])
def test_resume_from_a_damaged_checkpoint_is_one_sentence(tmp_path, capsys, ctrl_c_at, damage):
    # right keys, wrong shapes: a RuntimeError traceback (exit 1), or a silent broadcast
    import invprior.glo.training as T

    folder = _folder(tmp_path / "data", count=6)
    ctrl_c_at(T, "reconstruction_loss", 3)  # a periodic checkpoint, with the optimizer state
    out = tmp_path / "p.pt"
    args = ["--data", str(folder), "--size", "8", "--latent", "4", "--width", "16",
            "--steps", "6", "--batch", "4", "--quiet", "--out", str(out)]
    assert train_main(args) == 130
    ck = torch.load(out, weights_only=True)
    damage(ck)
    torch.save(ck, out)
    capsys.readouterr()
    assert train_main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: the prior '{out}' is damaged: its weights, codes or optimizer "
                          "state do not match its config (") or "incomplete (missing codes)" in err


def test_a_trained_prior_keeps_what_it_observed_and_takes_a_custom_operator():
    # the generator's image alone changed observed pixels (faces: by up to 34/255) and did
    # not downsample back to y; a custom operator needed shape= that the prior knows
    path = weight_file("prior_digits.pt")
    x = load_prior(path).sample(1, seed=2)
    fast = dict(iters=20, restarts=2, adapt=False, progress=False)
    op = O.Inpainting(O.box_mask((16, 16), (4, 4, 6, 6)))
    out = solve(op(x), op, path, **fast)
    observed = op.mask.expand_as(x) > 0.5
    assert torch.equal(out.image[observed], x[observed])
    assert not torch.equal(solve(op(x), op, path, keep_observed=False, **fast).image[observed], x[observed])
    down = O.Downsampling(2)
    errors = [(down(solve(down(x), down, path, keep_observed=keep, **fast).image) - down(x))
              .abs().max() for keep in (True, False)]
    assert errors[0] < 0.1 * errors[1]  # not 0: y's bicubic overshoots below 0 stay clipped

    class EveryOtherRow(O.LinearOperator):
        def forward(self, v):
            return v[..., ::2, :]

    rows = EveryOtherRow()
    assert solve(rows(x), rows, path, **fast).image.shape == (1, 1, 16, 16)
    # the README's call with shape= (its generator's) is taken; another shape is refused
    # saying what the generator makes (the operator's check had said "pass shape=", and
    # the prior then "does not take shape")
    assert solve(rows(x), rows, path, shape=(1, 16, 16), **fast).image.shape == (1, 1, 16, 16)
    with pytest.raises(ValueError, match=r"makes 16x16 gray images .*not shape=\(1, 32, 32\)"):
        solve(rows(x), rows, path, shape=(1, 32, 32), **fast)


def test_fewer_images_than_processes_is_one_sentence(tmp_path):
    """Three ranks on two images: one rank held none and failed on an empty index."""
    folder = _folder(tmp_path / "data", count=2)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3",
         "-m", "invprior.train", "--data", str(folder), "--size", "8", "--latent", "2",
         "--width", "16", "--steps", "2", "--batch", "2", "--threads", "1", "--quiet",
         "--out", str(tmp_path / "t.pt")],
        capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.count("error: training needs at least 2 images and one per process, "
                             "got 2 for 3 processes.") == 1, proc.stderr[-2000:]
    assert "IndexError" not in proc.stderr and not (tmp_path / "t.pt").exists()


def test_a_trained_prior_reads_the_noise_level_it_is_not_given():
    # it ran as if none were known: two held-out faces at 0.3, 21.00 / 20.85 dB against
    # 22.08 / 23.02 given (/tmp/rs/glo_noise.py, 2026-12-06); now 22.13 / 23.05
    from invprior.glo.data import named_set
    from invprior.metrics import psnr

    x = named_set("faces", "test")[:2]
    y = x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    path = str(weight_file("prior_faces.pt"))
    blind = solve(y, O.Denoising(), path, progress=False)
    given = solve(y, O.Denoising(), path, noise_level=0.3, progress=False)
    mean = lambda r: sum(psnr(r.image[b : b + 1], x[b : b + 1]) for b in range(2)) / 2
    assert mean(blind) > mean(given) - 0.3
    assert "/255 estimated" in blind.items[0].stop_reason


def test_denoising_at_a_low_level_with_a_trained_prior_does_not_lose_to_its_input():
    # the generator's image alone is ~33 dB from any face: held-out faces at 0.01 (40 dB)
    # came back at 33-35 dB; what it missed, put back by the residual's signal share, is kept
    from invprior.glo.data import named_set
    from invprior.metrics import psnr
    from invprior.priors.latent import noise_kept_off

    x = named_set("faces", "test")[:3]
    y = x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    out = solve(y, O.Denoising(), str(weight_file("prior_faces.pt")), noise_level=0.01,
                iters=100, restarts=4, progress=False)
    for b in range(3):
        assert psnr(out.image[b : b + 1], x[b : b + 1]) > psnr(y[b : b + 1].clamp(0, 1), x[b : b + 1]) + 0.2
    # a residual no larger than the noise is all noise: the generator's image is kept
    image = x[:1] + 0.01
    assert torch.equal(noise_kept_off(image + 0.005, image, level=0.01), image)


@pytest.mark.parametrize("bad,match", [
    (dict(adapt="no"), "adapt must be True or False"),  # taken as yes
    (dict(restarts=2.5), "restarts must be a whole number"),  # inside torch.randn
    (dict(iters=0), "iters must be a whole number >= 1"),  # searched nothing
    (dict(holdout=1.5), "holdout is the share"),
    (dict(l1=float("nan")), "l1 must be >= 0 and finite"),  # froze the search, unsaid
    (dict(lam=float("nan")), "lam must be >= 0 and finite"),  # taken as 0
])
def test_a_trained_priors_settings_are_checked(bad, match):
    A = O.CompressedSensing(40, (1, 16, 16), seed=0)
    with pytest.raises(ValueError, match=match):
        solve(A(torch.rand(1, 1, 16, 16)), A, str(weight_file("prior_digits.pt")), progress=False, **bad)


def test_a_gray_photo_in_three_channels_is_restored_by_a_gray_trained_prior():
    # the CLI restored it; the API refused: "y has shape (3, 32, 32) per item"
    from invprior.glo.data import named_set

    x = named_set("faces", "test")[:1]
    y = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    path = str(weight_file("prior_faces.pt"))
    kw = dict(noise_level=0.05, iters=30, restarts=2, adapt=False, progress=False)
    colour = solve(y.repeat(1, 3, 1, 1), O.Denoising(), path, **kw)
    assert colour.image.shape == (1, 3, 32, 32)
    assert torch.equal(colour.image, solve(y, O.Denoising(), path, **kw).image.repeat(1, 3, 1, 1))


def test_a_gray_photo_in_three_channels_is_simulated_with_a_gray_trained_prior(tmp_path):
    # the real file was restored; --simulate of it was refused for denoise and deblur
    # ("this prior makes 32x32 gray images ..., but the observation is 32x32 colour"): the
    # noise added to each channel had made it colour
    from invprior.cli import main
    from invprior.glo.data import named_set
    from invprior.io import read_image, write_image

    write_image(tmp_path / "face.png", named_set("faces", "test")[:1].repeat(1, 3, 1, 1))
    for op in ("denoise", "deblur"):
        out = tmp_path / f"{op}.png"
        assert main(["--op", op, "--simulate", "--prior", str(weight_file("prior_faces.pt")),
                     "--iters", "20", str(tmp_path / "face.png"), "-o", str(out), "--quiet"]) == 0
        assert read_image(out).image.shape == (1, 3, 32, 32)


def test_a_ctrl_c_inside_a_step_ends_the_step_and_resume_is_exact(tmp_path, monkeypatch):
    # a real SIGINT between the decoder's update and the codes' had left weights a step
    # ahead of the step counted, which --resume took again (1 run in 8 off by 0.16)
    import signal

    folder = _folder(tmp_path / "data", count=6)
    args = ["--data", str(folder), "--size", "8", "--latent", "4", "--width", "16",
            "--steps", "10", "--batch", "4", "--checkpoint-every", "0", "--quiet"]
    assert train_main([*args, "--out", str(tmp_path / "whole.pt")]) == 0
    original, calls = torch.optim.SparseAdam.step, []

    def step(self, *a, **k):
        calls.append(1)
        if len(calls) == 5:
            signal.raise_signal(signal.SIGINT)
        return original(self, *a, **k)

    monkeypatch.setattr(torch.optim.SparseAdam, "step", step)
    out = tmp_path / "cut.pt"
    assert train_main([*args, "--out", str(out)]) == 130
    ck = torch.load(out, weights_only=True)
    assert ck["step"] == 5 and len(ck["losses"]) == 5  # (the fifth step done whole)
    monkeypatch.setattr(torch.optim.SparseAdam, "step", original)
    assert train_main([*args, "--out", str(out), "--resume"]) == 0
    whole, cut = torch.load(tmp_path / "whole.pt", weights_only=True), torch.load(out, weights_only=True)
    assert torch.equal(torch.as_tensor(cut["losses"]), torch.as_tensor(whole["losses"]))
    assert all(torch.equal(whole["state_dict"][k], cut["state_dict"][k]) for k in whole["state_dict"])
    assert torch.equal(whole["codes"], cut["codes"])


def test_a_cosine_run_resumed_with_more_steps_says_its_rate_steps_up(digits, tmp_path, capsys):
    # the docstring had said a resumed run continues the same schedule; given more steps,
    # the decay is stretched over them and the rate jumps at the resume, unsaid
    data = ImageSet.from_tensor(digits[:40], "d")
    path = tmp_path / "run.pt"
    cfg = dict(latent=4, width=16, batch=16, schedule="cosine")
    train(data, TrainConfig(steps=6, **cfg), out=path, progress=False)
    train(data, TrainConfig(steps=12, **cfg), out=path, resume=True, progress=False)
    assert "cosine schedule now decays over 12 steps, not 6: its learning rate goes from 0.01 " \
           "times --lr at step 6 to 0.435." in capsys.readouterr().err


def test_a_folder_s_images_smaller_than_the_size_are_said_enlarged(tmp_path, capsys):
    # a 2x2 image had been blown up to 32x32 without a word
    folder = _folder(tmp_path / "data", count=3, size=16)
    ImageSet(str(folder), size=8)
    assert "enlarged" not in capsys.readouterr().err
    ImageSet(str(folder), size=32)
    assert "note: 3 of 3 images under" in capsys.readouterr().err


def test_a_shipped_prior_is_found_by_its_file_name(tmp_path, monkeypatch, capsys):
    # the README's `--prior prior_faces.pt` had said "no such file" outside the package
    from invprior.cli import main
    from invprior.io import write_image
    from invprior.priors import make_prior

    monkeypatch.chdir(tmp_path)
    assert make_prior("prior_digits.pt", iters=5).name == "trained"
    write_image(tmp_path / "digit.png", load_prior(weight_file("prior_digits.pt")).sample(1, seed=0))
    assert main(["--op", "cs", "--ratio", "0.3", "--simulate", "--prior", "prior_digits.pt",
                 "--iters", "20", "digit.png", "-o", "out.png"]) == 0
    assert f"cs with {weight_file('prior_digits.pt')}" in capsys.readouterr().out
    # a generic name is a user's own file, missing, not the shipped one
    with pytest.raises(ValueError, match="cannot load the prior 'denoiser.pt': no such file"):
        make_prior("denoiser.pt")
    # a file of that name in the working folder is the one meant
    (tmp_path / "prior_digits.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot load the prior 'prior_digits.pt'"):
        make_prior("prior_digits.pt")


def test_a_trained_prior_s_returned_iteration_is_the_returned_image_s():
    # the latent search returns its best code, not its last (said: 17.33 dB at the
    # "returned" iteration, 21.76 returned); a refined code's traces were left out, and
    # the adaptation's traced the image a step behind
    from invprior.glo.search import restore_latent
    from invprior.metrics import psnr
    from invprior.weights import weight_file

    prior = load_prior(weight_file("prior_digits.pt"))
    torch.manual_seed(0)
    x = prior.sample(2)
    for A in (O.CompressedSensing(60, prior.shape, seed=0),
              O.Inpainting(shape=prior.shape, missing=0.5, seed=0)):
        out = restore_latent(prior, A(x), A, iters=30, adapt_iters=20, truth=x, progress=False)
        for b, item in enumerate(out.items):
            assert 0 < item.iteration <= item.iterations == len(item.psnrs)
            assert item.psnrs[item.iteration - 1] == pytest.approx(psnr(item.image, x[b : b + 1]), abs=0.01)
