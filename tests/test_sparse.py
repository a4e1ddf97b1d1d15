"""Tests of the sparse-coding baseline: patches, OMP / FISTA, K-SVD, denoising, SR, plug-and-play."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import operators as O

from invprior.sparse import (
    KSVDDenoiser,
    assemble_patches,
    dct_dictionary,
    estimate_sigma,
    extract_patches,
    ista,
    lasso_objective,
    learn_dictionary,
    omp,
    sparse_denoise,
    sparse_superres,
)
from invprior.priors.pnp import pnp_restore as pnp_split
from invprior.priors.sparse import SparsePrior
from invprior.sparse.superres import default_dictionary_path, downsample, upsample


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a.double() - b.double()).pow(2).mean()))


@pytest.fixture(scope="module")
def camera() -> torch.Tensor:
    """camera256 (the benchmark case), (1, 1, 256, 256)."""
    from skimage import data, transform

    img = transform.resize(data.camera() / 255.0, (256, 256), order=1, anti_aliasing=True)
    return torch.tensor(np.clip(img, 0, 1), dtype=torch.float32)[None, None]


def _planted(n: int = 300, k: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    D = torch.nn.functional.normalize(torch.randn(256, 64, generator=g), dim=1)
    Z = torch.zeros(n, 256)
    for i in range(n):
        Z[i, torch.randperm(256, generator=g)[:k]] = torch.randn(k, generator=g).sign() * (
            0.5 + torch.rand(k, generator=g))
    return D, Z


# ---------------------------------------------------------------- patches

@pytest.mark.parametrize("patch,stride", [(8, 1), (8, 3), (5, 5), (7, 4)])
def test_patches_round_trip(patch, stride):
    x = torch.rand(2, 3, 29, 35)
    P = extract_patches(x, patch, stride)
    assert P.shape[0] == 2 and P.shape[2] == 3 * patch * patch
    assert torch.allclose(assemble_patches(P, (29, 35), patch, stride), x, atol=1e-6)
    w = torch.rand(P.shape[:2]) + 0.1  # a weighted average of identical copies is the copy
    assert torch.allclose(assemble_patches(P, (29, 35), patch, stride, weights=w), x, atol=1e-5)


def test_patches_average_overlaps():
    P = extract_patches(torch.zeros(1, 1, 10, 10), 4, 2)
    P[:, 0] = 1.0  # only the top-left patch says 1; pixel (2, 2) is covered by 4 patches
    out = assemble_patches(P, (10, 10), 4, 2)
    assert out[0, 0, 0, 0] == 1.0 and abs(float(out[0, 0, 2, 2]) - 0.25) < 1e-6


# ---------------------------------------------------------------- sparse coding

def test_omp_recovers_planted_codes_exactly():
    D, Z = _planted()
    X = Z @ D
    assert torch.allclose(omp(X, D, sparsity=5), Z, atol=1e-4)
    # error-bounded form: stops as soon as the (noiseless) residual vanishes
    Zt = omp(X, D, tol=1e-6)
    assert torch.allclose(Zt, Z, atol=1e-4)
    assert int((Zt != 0).sum(1).max()) == 5


def test_omp_matches_sklearn_and_respects_tol():
    from sklearn.linear_model import orthogonal_mp_gram

    D, Z = _planted(200, 6, seed=1)
    X = Z @ D + 0.05 * torch.randn(200, 64, generator=torch.Generator().manual_seed(2))
    ref = orthogonal_mp_gram((D @ D.T).double().numpy(), (D @ X.T).double().numpy(),
                             n_nonzero_coefs=4).T
    assert np.allclose(omp(X, D, sparsity=4).numpy(), ref, atol=1e-4)
    tol = 64 * 0.06 ** 2
    Zt = omp(X, D, tol=tol, return_sparse=True)
    res = (X - Zt.reconstruct(D)).pow(2).sum(1)
    full = Zt.nnz() < 32
    assert bool((res[full] <= tol * (1 + 1e-4)).all())
    # the sparse and dense forms are the same codes
    assert torch.allclose(Zt.dense(256), omp(X, D, tol=tol), atol=1e-6)


def test_fista_beats_ista_and_is_optimal():
    D, Z = _planted(50, 4, seed=3)
    X = Z @ D
    lam = 0.05
    # at the same small budget FISTA is far ahead (13.08 against 18.79 after 20 steps); after
    # 300 both sit at the optimum, equal to the last float bit either way by thread count
    fast, plain = ista(X, D, lam, iters=20), ista(X, D, lam, iters=20, fast=False)
    assert lasso_objective(X, D, fast, lam) < 0.8 * lasso_objective(X, D, plain, lam)
    zf = ista(X, D, lam, iters=300)
    assert lasso_objective(X, D, zf, lam) < lasso_objective(X, D, torch.zeros_like(zf), lam)
    grad = (zf @ D - X) @ D.T  # KKT of the lasso: |grad| <= lam, = lam on the support
    assert float(grad.abs().max()) <= lam * 1.05


# ---------------------------------------------------------------- dictionaries

def test_dct_dictionary():
    D = dct_dictionary(8, 256)
    assert D.shape == (256, 64)
    assert torch.allclose(D.norm(dim=1), torch.ones(256), atol=1e-5)
    assert torch.allclose(D[0], torch.full((64,), 1 / 8))


def test_dictionary_learning_lowers_its_objective(camera):
    X = extract_patches(camera[..., :96, :96], 8, 2)[0]
    X = X - X.mean(1, keepdim=True)
    D, hist = learn_dictionary(X, 128, iters=6, sparsity=4, return_history=True)
    assert hist["mse"][-1] < 0.9 * hist["mse"][0]
    assert all(b <= a * 1.02 for a, b in zip(hist["mse"], hist["mse"][1:]))
    assert torch.allclose(D.norm(dim=1), torch.ones(128), atol=1e-4)
    # error-bounded form: fewer atoms for the same error
    _, hist = learn_dictionary(X, 128, iters=5, tol=64 * 0.03 ** 2, return_history=True)
    assert hist["nnz"][-1] < hist["nnz"][0]


# ---------------------------------------------------------------- denoising

def test_denoise_beats_noisy_on_a_crop(camera):
    x = camera[..., 96:160, 96:160]
    sigma = 25 / 255
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((64, 64))).float()
    y = x + sigma * noise
    out = sparse_denoise(y, sigma, iters=8)
    assert out.shape == y.shape
    assert _psnr(out, x) > _psnr(y, x) + 6.0
    est = sparse_denoise(y, iters=8)  # sigma estimated from the image
    assert _psnr(est, x) > _psnr(y, x) + 5.0


def test_a_small_image_learns_a_dictionary_its_patches_can_fill():
    # 625 patches of a 32x32 image for 256 atoms overfit: 24.46 dB; 36 atoms: 26.89
    from invprior.bench.cases import sample_image

    x = sample_image("camera", 32)
    y = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    assert _psnr(sparse_denoise(y, 0.1).clamp(0, 1), x) > 26


def test_denoise_rgb_and_sigma_estimate():
    from skimage import data

    x = torch.tensor(data.astronaut()[100:164, 200:264] / 255.0, dtype=torch.float32)
    x = x.permute(2, 0, 1)[None]
    g = torch.Generator().manual_seed(0)
    y = x + 0.1 * torch.randn(x.shape, generator=g)
    assert abs(estimate_sigma(y)[0] - 0.1) < 0.015
    out = sparse_denoise(y, 0.1, iters=5)
    assert out.shape == y.shape
    assert _psnr(out, x) > _psnr(y, x) + 5.0


# ---------------------------------------------------------------- super-resolution

@pytest.mark.parametrize("factor", [2, 3])
def test_superres_beats_bicubic_with_shipped_dictionaries(camera, factor):
    x = camera[..., 60:60 + 32 * factor, 80:80 + 32 * factor]
    y = downsample(x, factor)
    bic = upsample(y, factor).clamp(0, 1)
    out = sparse_superres(y, factor)
    assert out.shape == x.shape
    b = factor
    crop = (..., slice(b, -b), slice(b, -b))
    assert _psnr(out[crop], x[crop]) > _psnr(bic[crop], x[crop]) + 0.5
    # back-projection: the result explains the observation better than bicubic does
    assert (downsample(out, factor) - y).abs().mean() < (downsample(bic, factor) - y).abs().mean()


def test_sparse_prior_super_resolves_a_noisy_image_after_denoising_it(camera):
    # the coupled dictionaries take noise for detail; the prior reads the noise and removes it
    x = camera[..., 40:136, 60:156]
    A = O.Downsampling(2)
    y = A(x) + 0.05 * torch.randn(A(x).shape, generator=torch.Generator().manual_seed(1))
    plain = sparse_superres(y, 2).clamp(0, 1)
    out = SparsePrior().restore(y, A)
    assert _psnr(out.image, x) > _psnr(plain, x) + 2
    assert "noise" in out.stop_reason and "estimated" in out.stop_reason


def test_superres_rgb_shape_and_assets_load_safely():
    for f in (2, 3, 4):
        d = torch.load(default_dictionary_path(f), weights_only=True)
        assert int(d["factor"]) == f and d["Dl"].shape[0] == d["Dh"].shape[0]
    y = torch.rand(2, 3, 20, 24)
    out = sparse_superres(y, 4, backprojection_iters=2)
    assert out.shape == (2, 3, 80, 96)


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("call,match", [
    (lambda: extract_patches(torch.rand(1, 1, 6, 6), 8), "larger than the image"),
    (lambda: sparse_denoise(torch.rand(1, 1, 6, 6), 0.1), "patch size"),
    (lambda: sparse_denoise(torch.rand(6, 6), 0.1), r"\(B, C, H, W\)"),
    (lambda: sparse_denoise(torch.rand(1, 1, 16, 16), -1.0), "sigma"),
    (lambda: sparse_superres(torch.rand(1, 1, 16, 16), 1), "factor"),
    (lambda: sparse_superres(torch.rand(1, 1, 16, 16), 2.5), "factor"),
    (lambda: sparse_superres(torch.rand(1, 1, 16, 16), 5), "dictionary"),
    (lambda: sparse_superres(torch.rand(1, 2, 16, 16), 2), "channels"),
    (lambda: sparse_superres(torch.rand(16, 16), 2), r"\(B, C, h, w\)"),
    (lambda: omp(torch.rand(4, 10), torch.rand(20, 12), sparsity=2), "same d"),
    (lambda: omp(torch.rand(4, 10), torch.rand(20, 10)), "sparsity"),
    (lambda: learn_dictionary(torch.rand(100, 10), 16, init="dct"), "square"),
    # a noisy y under a patch, to super-resolve: "patch size 8 must be between 2 and ..."
    (lambda: SparsePrior().restore(torch.rand(1, 1, 6, 6), O.Downsampling(4), noise_level=0.05),
     r"y \(6x6\) is smaller than the 8x8 patches whose K-SVD would remove its noise"),
])
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- plug-and-play

def pnp_restore(y, op, *, iters=32, weight=0.1, **kwargs):
    """Plug-and-play K-SVD on one observation, as the sparse prior runs it."""
    return pnp_split(y, op, KSVDDenoiser(iters), iters=iters, weight=weight, **kwargs)


def _observe(op, x, noise: float = 0.0):
    y = op(x)
    return y + noise * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))


def test_pnp_beats_the_classical_start_on_deblur_inpaint_and_cs(camera64):
    import operators as O

    x = camera64
    # operator, noise, margin over the classical start (measured: +2.9, +0.5, +4.9 dB; compressed
    # sensing's start is the smoothest fit, 25.7 dB)
    cases = [
        (O.Blur(sigma=1.5), 0.01, 2.0),
        (O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=0), 0.0, 0.2),
        (O.CompressedSensing(1200, (1, 64, 64), seed=0), 0.0, 3.0),
    ]
    for op, noise, margin in cases:
        y = _observe(op, x, noise)
        out = pnp_restore(y, op, noise_level=noise, truth=x)
        start = _psnr(op.initial_estimate(y), x)
        assert _psnr(out.image, x) > start + margin, type(op).__name__
        assert out.iterations == len(out.psnrs) == 32
        assert abs(out.psnrs[-1] - _psnr(out.image, x)) < 1e-6


def test_the_time_said_of_a_large_image_leaves_its_restoration_alone(camera64, monkeypatch, capsys):
    """Its probe (two denoiser calls on a crop, from a quarter megapixel up: SAY_FROM, lowered
    here) had taught K-SVD the crop's dictionary and moved its relearning: the same run
    gave another image with the progress bar than with --quiet (31.49 against 31.64 dB)."""
    import operators as O
    from invprior.priors import pnp

    monkeypatch.setattr(pnp, "SAY_FROM", 0)
    monkeypatch.setattr(pnp, "PROBE", 32)
    op = O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=0)
    y = _observe(op, camera64)
    quiet, shown = (pnp_restore(y, op, iters=6, progress=p).image for p in (False, True))
    assert torch.equal(quiet, shown)


def test_a_noise_free_image_is_given_back_at_once_and_sr_keeps_what_it_observed(camera64):
    """Denoising at a level under one 8-bit level coded every patch to within 1e-6, minutes
    (128x128 clean: 81 s) to give y back; x2 super-resolution of a noise-free y had ignored
    keep_observed, its result downsampling to y only to within 5.5/255."""
    from invprior import solve

    out = solve(camera64, O.Denoising(), "sparse", noise_level=0.5 / 255, progress=False)
    assert torch.equal(out.image, camera64)
    assert "nothing to remove" in out.stop_reason
    down = O.Downsampling(2)
    y = down(0.2 + 0.6 * camera64)  # (away from 0 and 1, where the result is clipped)
    kept, free = (solve(y, down, "sparse", keep_observed=k, progress=False).image for k in (None, False))
    missed = [float((down(x) - y).abs().max()) for x in (kept, free)]
    # kept: to float rounding; its own 20 back-projections: to 5e-6 (measured 1.2e-7, 4.9e-6)
    assert missed[0] < 1e-6 and missed[0] < 0.1 * missed[1], missed


def test_pnp_denoises_the_observed_pixels_of_a_noisy_inpainting(camera64):
    import operators as O

    op = O.Inpainting(shape=(1, 64, 64), missing=0.5, seed=0)
    y = _observe(op, camera64, 0.05) * op.mask
    image = pnp_restore(y, op, noise_level=0.05).image
    seen = op.mask.bool().expand_as(y)
    # the observed pixels are denoised, not copied (pinv honours the damping)
    assert (image - camera64)[seen].pow(2).mean() < 0.5 * (y - camera64)[seen].pow(2).mean()


def test_pnp_rgb_and_bad_input(astronaut32):
    import operators as O

    op = O.Blur(sigma=1.0)
    y = _observe(op, astronaut32, 0.01)
    image = pnp_restore(y, op, noise_level=0.01, iters=8).image
    # measured 26.63 dB; Wiener deconvolution (the operator's estimate) 23.81, y 20.12
    start = op.initial_estimate(y).clamp(0, 1)
    assert image.shape == astronaut32.shape and _psnr(image, astronaut32) > _psnr(start, astronaut32) + 1.5
    with pytest.raises(ValueError, match="linear operator"):
        SparsePrior().restore(y, O.Lambda(lambda v: v.pow(2)))
    with pytest.raises(ValueError, match="iters"):
        SparsePrior(iters=0)
    assert pnp_restore(y, op, noise_level=0.01, max_seconds=1e-9).iterations == 1


# ---------------------------------------------------------------- GPU

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(camera):
    x = camera[..., :64, :64]
    y = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    cpu = sparse_denoise(y, 0.1, iters=4)
    gpu = sparse_denoise(y.cuda(), 0.1, iters=4)
    assert gpu.is_cuda and abs(_psnr(gpu.cpu(), x) - _psnr(cpu, x)) < 0.3
    lr = downsample(x, 2)
    sr = sparse_superres(lr.cuda(), 2)
    assert sr.is_cuda and abs(_psnr(sr.cpu(), x) - _psnr(sparse_superres(lr, 2), x)) < 0.05


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pnp_on_cuda_matches_cpu(camera):
    import operators as O

    x = camera[..., :64, :64]
    op = O.Blur(sigma=1.5)
    y = _observe(op, x, 0.01)
    cpu = pnp_restore(y, op, noise_level=0.01, iters=8).image
    gpu = pnp_restore(y.cuda(), op.cuda(), noise_level=0.01, iters=8).image
    assert gpu.is_cuda and abs(_psnr(gpu.cpu(), x) - _psnr(cpu, x)) < 0.3


def test_sparse_prior_takes_the_shape_of_an_operator_that_changes_size(camera64):
    # measured (2026-12-06): 29.77 dB against 27.30 for bilinear upsampling; it refused shape
    import torch.nn.functional as F

    import operators as O
    from invprior import solve

    pool = O.as_operator(lambda v: F.avg_pool2d(v, 2), linear=True)
    y = pool(camera64)
    out = solve(y, pool, "sparse", shape=(1, 64, 64), progress=False)
    assert _psnr(out.image, camera64) > _psnr(F.interpolate(y, scale_factor=2, mode="bilinear"), camera64) + 1.5


def test_training_dictionaries_writes_where_asked_and_replaces_only_with_force(tmp_path, capsys):
    # its default had been the installed package's weights folder: a trial run replaced the
    # shipped dictionary, and --prior sparse --op sr lost 0.7 dB without a word
    from invprior.sparse.train_sr import main

    (tmp_path / "sparse_sr_x2.pt").write_bytes(b"mine")
    assert main(["--factors", "2", "--out", str(tmp_path), "--quiet"]) == 2
    assert "already exists; choose another --out or pass --force" in capsys.readouterr().err
    assert (tmp_path / "sparse_sr_x2.pt").read_bytes() == b"mine"
