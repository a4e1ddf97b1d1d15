"""Nonlinear operators written as plain callables: the Jacobian, plug-and-play through
Gauss-Newton data steps, and the ``auto`` policy that probes what the operator hides."""

import torch

import operators as O
from invprior.api import auto_prior, hidden_share, solve
from invprior.metrics import psnr
from invprior.priors.pnp import data_step


def test_linearisation_adjoint_identity():
    blur = O.Blur(sigma=1.5)
    f = lambda x: blur(x).clamp_min(1e-6) ** 0.5
    g = torch.Generator().manual_seed(0)
    point = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64)
    J = O.Linearisation(f, point)
    d, r = torch.randn(point.shape, generator=g, dtype=torch.float64), torch.randn(point.shape, generator=g, dtype=torch.float64)
    lhs, rhs = O.inner(J(d), r), O.inner(d, J.adjoint(r))
    assert torch.allclose(lhs, rhs, rtol=1e-5, atol=1e-10)
    # the Jacobian of a linear map is the map
    L = O.Linearisation(blur, point)
    assert torch.allclose(L(d), blur(d), atol=1e-10)


def gamma_case(camera64):
    blur = O.Blur(sigma=1.0)
    f = lambda x: blur(x).clamp_min(1e-6) ** 0.5  # gamma after a blur: nonlinear
    y = f(camera64) + 0.01 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))
    return f, y, blur


def test_gauss_newton_step_solves_an_ill_conditioned_jacobian():
    # at a point with black pixels the slope of sqrt is huge: 30 conjugate-gradient steps
    # (the linear operators' budget) land 33 dB from the solution, which made the
    # plug-and-play run wander (astronaut 256 through sqrt(blur(x)): 25.96 dB, 27.90 now)
    from skimage import data, transform

    from invprior.bench.hard_cases import gamma_after_blur

    x = transform.resize(data.astronaut() / 255.0, (64, 64), anti_aliasing=True)
    x = torch.from_numpy(x).float().permute(2, 0, 1)[None]
    f = gamma_after_blur()  # the benchmark's operator: sqrt(blur(x)), blur std 1.5
    y = f(x) + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    J = O.Linearisation(f, x)
    solution = (x + J.pinv(y - J.value, damping=3e-3, max_iter=3000, tol=1e-9)).clamp(0, 1)
    assert psnr(data_step(f, x, y, 3e-3, 30), solution) > 45


def test_default_for_a_nonlinear_callable_is_fast_plug_and_play(camera64):
    f, y, blur = gamma_case(camera64)
    out = solve(y, f, noise_level=0.01, iters=16, progress=False, truth=camera64)
    assert out.prior == "denoiser" and "plug-and-play" in out.stop_reason
    # the classical route: undo the gamma, then the best-damped Wiener deconvolution
    square = y.clamp_min(0) ** 2
    classical = max(psnr(blur.pinv(square, damping=d).clamp(0, 1), camera64)
                    for d in (1e-3, 3e-3, 1e-2, 3e-2, 1e-1))
    assert psnr(out.image, camera64) > classical + 1.0


def test_saturation_hides_pixels_and_auto_picks_the_deep_image_prior(camera64):
    saturate = lambda x: (1.5 * x).clamp(0, 1)
    y = saturate(camera64) + 0.01 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(1))
    share = hidden_share(O.Lambda(saturate), y)
    truly = (1.5 * camera64 >= 1).float().mean().item()
    assert abs(share - truly) < 0.05 and share > 0.1
    assert auto_prior(O.Lambda(saturate), y) == "dip"
    f, y_gamma, _ = gamma_case(camera64)
    assert hidden_share(O.Lambda(f), y_gamma) == 0.0


def test_callable_that_changes_shape_takes_shape(camera64):
    f = lambda x: torch.nn.functional.avg_pool2d(x, 2) ** 0.5  # a nonlinear downsampling
    y = f(camera64)
    out = solve(y, f, prior="denoiser", shape=(1, 64, 64), iters=8, progress=False)
    assert out.image.shape == camera64.shape
    assert psnr(out.image, camera64) > psnr(torch.nn.functional.interpolate(y ** 2, scale_factor=2), camera64)
