"""The prior interface: every prior restores batches item by item with one meaning of the
Result fields, settings are checked, checkpoints go to their prior by their format, and a
user's own denoiser is a prior."""

import pytest
import torch

import operators as O
from invprior import PlugAndPlay, solve
from invprior.glo import named_set
from invprior.metrics import psnr
from invprior.priors import PRIORS, make_prior
from invprior.priors.generator import NetConfig
from invprior.weights import weight_file

SETTINGS = {  # small and quick for each prior
    "dip": {"iters": 30, "net": NetConfig(channels=(8, 8, 8), input_depth=8)},
    "decoder": {"iters": 30, "net": NetConfig(channels=(16, 16, 16), input_depth=16)},
    "denoiser": {"iters": 6},
    "sparse": {"iters": 4},
    "inpainter": {},  # no iterations
}


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_batches_are_restored_item_by_item(name, camera64):
    assert set(SETTINGS) == set(PRIORS)
    x = torch.cat([camera64, camera64.flip(-1)])
    op = O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=0)
    y = op(x)
    out = solve(y, op, name, truth=x, progress=False, **SETTINGS[name])
    assert out.prior == name and len(out.items) == 2 and out.items[0] is not out
    for b, item in enumerate(out.items):
        assert torch.equal(out.image[b : b + 1], item.image)
        assert item.iterations >= 1 and item.psnrs and not item.interrupted
        # each item is what a solve of that observation alone gives (fresh weights per item)
        alone = solve(y[b : b + 1], op, name, progress=False, **SETTINGS[name])
        assert torch.allclose(item.image, alone.image, atol=1e-5)
        assert alone.items == [alone] and alone.prior == name
    # (no quality bound: at these quick settings no prior reaches the biharmonic start,
    # 30.63/31.92 dB; measured denoiser 29.57/30.95, sparse 27.82/28.61, inpainter
    # 27.28/27.79, dip 17.06/17.69, decoder 18.07/18.14; zeros 7.8)
    # the top-level fields describe the first item
    assert out.psnrs == out.items[0].psnrs and out.iterations == out.items[0].iterations


def test_network_prior_in_bfloat16_autocast_matches_float32(camera64):
    # the same run with the network under bfloat16 autocast (the CUDA default): the image
    # comes back in float32 and within a fraction of a dB
    op = O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=0)
    y = op(camera64)
    kw = {"iters": 80, "stop": "none", "net": NetConfig(channels=(8, 8, 8), input_depth=8), "progress": False}
    full = solve(y, op, "dip", precision="float32", **kw)
    half = solve(y, op, "dip", precision="bfloat16", **kw)
    assert half.image.dtype == torch.float32 and not torch.equal(half.image, full.image)
    # (80 steps of a small net: 22.65 dB in float32, 22.60 in bfloat16, below the biharmonic
    # start's 30.63, so no quality bound; what is checked is that the two agree)
    assert abs(psnr(half.image, camera64) - psnr(full.image, camera64)) < 0.5  # 0.04 here
    # the caller's own autocast is not the prior's: it had given bfloat16 images, 4 dB worse,
    # with precision="float32" asked
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = solve(y, op, "dip", precision="float32", **kw)
    assert torch.equal(inside.image, full.image)


def test_every_prior_pickles_for_a_worker_process():
    # the sparse prior held a local function ("Can't pickle local object"): a process
    # pool could not be sent it
    import pickle

    for name in PRIORS:
        assert type(pickle.loads(pickle.dumps(make_prior(name)))) is type(make_prior(name))
    with pytest.raises(ValueError, match="precision must be auto or one of float32, bfloat16"):
        make_prior("dip", precision="float16")


def test_settings_a_prior_does_not_take_are_refused():
    with pytest.raises(ValueError, match="the denoiser prior does not take lr"):
        make_prior("denoiser", lr=0.1)
    with pytest.raises(ValueError, match="the dip prior does not take weights"):
        make_prior("dip", weights="x.pt")
    with pytest.raises(ValueError, match="unknown prior 'gan'"):
        make_prior("gan")
    with pytest.raises(ValueError, match="'auto' picks a prior for an operator"):
        make_prior("auto")  # (was "unknown prior 'auto'; choose one of auto, ...")
    assert repr(make_prior("dip", iters=5)) == "NetworkPrior(name='dip', iters=5, device=cpu)"
    with pytest.raises(ValueError, match="give the settings"):
        make_prior(PlugAndPlay(lambda x, s: x), iters=3)
    # a typo is no setting of the deep image prior's (it was said "the dip prior does not
    # take itres", dip never asked for)
    with pytest.raises(ValueError, match=r"no prior takes itres \(did you mean iters\?\)"):
        solve(torch.rand(1, 1, 16, 16), O.Denoising(), itres=3)
    # auto: a setting only the deep image prior takes selects it; others stay with auto
    y = torch.rand(1, 1, 32, 32)
    assert solve(y, O.Blur(sigma=1.0), iters=2, loss="l1", progress=False).prior == "dip"
    assert solve(y, O.Blur(sigma=1.0), iters=2, progress=False).prior == "denoiser"


@pytest.mark.parametrize("content, match", [
    (None, "no such file"),
    (b"junk", "not a readable PyTorch checkpoint"),
    ({"format": "something else"}, "not a prior checkpoint .its format is 'something else'"),
    ({"weight": [1.0]}, "not a prior checkpoint .it has no 'format' field"),  # a plain state dict
])
def test_a_checkpoint_goes_to_its_prior_by_its_format(checkpoint_file, content, match):
    assert make_prior(str(weight_file("denoiser.pt"))).name == "denoiser"
    assert make_prior(weight_file("prior_faces.pt"), iters=10).name == "trained"
    with pytest.raises(ValueError, match=match):
        make_prior(checkpoint_file(content))


@pytest.mark.parametrize("name, what", [("prior_faces.pt", "the prior"),
                                        ("denoiser.pt", "the denoiser")])
def test_a_checkpoint_with_nan_weights_is_refused(checkpoint_file, name, what):
    # a training run that diverged: its restorations came out black, exit 0
    ck = torch.load(weight_file(name), weights_only=True)
    first = next(iter(ck["state_dict"]))
    ck["state_dict"][first] = ck["state_dict"][first] * float("nan")
    path = checkpoint_file(ck, "diverged.pt")
    with pytest.raises(ValueError, match=f"{what} '.*diverged.pt' holds NaN or infinite weights"):
        solve(torch.rand(1, 1, 64, 64), O.Denoising(), prior=str(path), progress=False)


def test_trained_prior_file_through_solve():
    x = named_set("digits", "test")[:2]  # held out
    A = O.CompressedSensing(60, (1, 16, 16), kind="gaussian", seed=0)
    y = A(x)
    out = solve(y, A, prior=str(weight_file("prior_digits.pt")), iters=150, adapt=False,
                truth=x, progress=False)
    least_squares = A.initial_estimate(y)
    assert out.prior == "trained" and len(out.items) == 2
    for b in range(2):
        gain = psnr(out.image[b : b + 1], x[b : b + 1]) - psnr(least_squares[b : b + 1], x[b : b + 1])
        assert gain > 12, gain  # 60 of 256 measurements; measured +25.2, +24.1
    with pytest.raises(ValueError, match="the trained prior does not take tv"):
        solve(y, A, prior=str(weight_file("prior_digits.pt")), tv=0.1)


def test_your_own_denoiser_is_a_prior(camera64):
    from skimage.restoration import denoise_tv_chambolle

    def tv(x, sigma):
        out = denoise_tv_chambolle(x[0, 0].double().numpy(), weight=sigma)
        return torch.from_numpy(out)[None, None].to(x)

    op = O.Blur(sigma=1.5)
    y = op(camera64) + 0.01 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))
    out = solve(y, op, prior=PlugAndPlay(tv, iters=16), noise_level=0.01, progress=False)
    wiener = op.initial_estimate(y)
    assert out.prior == "plug-and-play" and out.iterations == 16
    # measured 29.06 against Wiener's 25.84
    assert psnr(out.image, camera64) > psnr(wiener, camera64) + 1.5


def test_a_skip_net_without_skip_connections_runs():
    """skip=0, a deep-image-prior setting of its paper's ablations, failed with 'weight
    should contain 64 elements not 32' (its levels passed their input on whole)."""
    from invprior.nets import SkipNet

    net = SkipNet(4, 1, down=(8, 8), up=(8, 8), skip=(0, 4))
    assert net(torch.rand(1, 4, 16, 16)).shape == (1, 1, 16, 16)
    y = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    out = solve(y, O.Denoising(), "dip", iters=3, stop="none", progress=False,
                net=NetConfig(channels=(8, 8), skip=0, input_depth=4))
    assert out.image.shape == (1, 1, 16, 16) and out.iterations == 3


def test_a_sparse_dictionary_pair_is_not_taken_for_a_prior():
    # it was told to "make one with python -m invprior.train", which cannot make it
    from invprior.priors import make_prior
    from invprior.weights import weight_file

    with pytest.raises(ValueError, match="is a dictionary pair for sparse super-resolution "
                                         r"\(made by python -m invprior.sparse.train_sr\)"):
        make_prior(weight_file("sparse_sr_x2.pt"))
