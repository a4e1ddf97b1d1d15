"""Nonlinear operators written as plain callables: the Jacobian, plug-and-play through
Gauss-Newton data steps, and the pixels such an operator hides (saturated ones)."""

import pytest
import torch

import operators as O
from invprior.api import solve
from invprior.bench.hard import hidden_psnr
from invprior.metrics import psnr
from invprior.priors.base import visible_noise
from invprior.priors.pnp import data_step, start_image


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


def test_noise_level_of_a_callable_is_read_off_y(camera64):
    # without noise_level, y was taken as noise-free and the data steps fitted its noise:
    # 19.67 dB here; read off y (0.0108): 31.75, the level told gives 31.04
    f, y, _ = gamma_case(camera64)
    blind = solve(y, f, iters=16, progress=False)
    told = solve(y, f, noise_level=0.01, iters=16, progress=False)
    assert psnr(blind.image, camera64) > psnr(told.image, camera64) - 0.5
    assert abs(visible_noise(O.Lambda(f), y) - 0.01) < 0.002
    # a scrambled measurement (random signs) does not look like an image: no reading
    signs = torch.randint(0, 2, camera64.shape, generator=torch.Generator().manual_seed(0)) * 2.0 - 1
    assert visible_noise(O.Lambda(lambda x: signs * x), signs * camera64) is None


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


def test_saturation_hides_pixels_that_start_mid_range(camera64):
    saturate = lambda x: (1.5 * x).clamp(0, 1)
    y = saturate(camera64) + 0.01 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(1))
    truly = 1.5 * camera64 >= 1
    found = O.hidden_pixels(saturate, (y / 1.5).clamp(0, 1))
    assert (found == truly).float().mean() > 0.95 and truly.float().mean() > 0.1
    # the middle of the levels tried that keep a pixel saturated: 0.7 .. 1
    start = start_image(O.Lambda(saturate), y)
    assert torch.allclose(start[found & truly], torch.tensor(0.85)) and (start[truly] > 0.8).float().mean() > 0.9
    f, y_gamma, _ = gamma_case(camera64)
    assert not O.hidden_pixels(f, start_image(O.Lambda(f), y_gamma)).any()


def test_default_recovers_saturated_pixels(camera64):
    # clip(1.5 x): a saturated pixel says only x >= 2/3; started at 0.5 (and fitted to the
    # bound, 2/3) plug-and-play kept them flat: 17.57 dB inside here (y / 1.5: 17.35), 26.27 now
    saturate = lambda x: (1.5 * x).clamp(0, 1)
    y = saturate(camera64) + 0.01 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(1))
    out = solve(y, saturate, noise_level=0.01, iters=16, progress=False)
    assert out.prior == "denoiser"
    inside = 1.5 * camera64 >= 1
    naive = hidden_psnr((y / 1.5).clamp(0, 1), camera64, inside)
    assert hidden_psnr(out.image, camera64, inside) > naive + 3.0


def test_callable_that_changes_shape_takes_shape(camera64):
    f = lambda x: torch.nn.functional.avg_pool2d(x, 2) ** 0.5  # a nonlinear downsampling
    y = f(camera64)
    out = solve(y, f, prior="denoiser", shape=(1, 64, 64), iters=8, progress=False)
    assert out.image.shape == camera64.shape
    # the shape taken is used, not merely returned: above bicubic upsampling of the
    # un-gamma'd y (measured 31.00 dB; bicubic 28.89, bilinear 27.30, nearest 26.27)
    bicubic = torch.nn.functional.interpolate(y ** 2, scale_factor=2, mode="bicubic").clamp(0, 1)
    assert psnr(out.image, camera64) > psnr(bicubic, camera64) + 1.0


class EveryOtherRow(O.LinearOperator):  # README's own operator
    def forward(self, x):
        return x[..., ::2, :]


@pytest.mark.parametrize("op", [EveryOtherRow(), lambda v: v[..., ::2, :]], ids=["class", "callable"])
def test_rows_an_operator_never_sees_are_filled_from_their_neighbours(op):
    # a colour photo's odd rows at 0 (the least-squares start) or mid-gray stayed as stripes
    # through plug-and-play: measured (2026-12-06) class 9.6 -> 29.2 dB, callable 16.8 -> 28.3;
    # now class 28.27, callable 28.29, against the classical fill, each odd row the mean of
    # its neighbours (linear interpolation): 27.52 (repeating the seen rows: 22.29)
    from invprior.bench.cases import sample_image

    x = sample_image("astronaut", 64)
    out = solve(op(x), op, shape=(3, 64, 64), progress=False)
    seen = x[..., ::2, :]
    linear = seen.repeat_interleave(2, -2)  # the last row, below the last seen, repeats it
    linear[..., 1:-1:2, :] = (seen[..., :-1, :] + seen[..., 1:, :]) / 2
    assert psnr(out.image, x) > psnr(linear, x) + 0.35  # about half the 0.75 dB measured


class _Smear(O.LinearOperator):  # a horizontal motion blur of one's own
    def forward(self, x):
        return sum(torch.roll(x, s, dims=-1) for s in range(-3, 4)) / 7


@pytest.mark.parametrize("op", [_Smear(), _Smear().forward], ids=["class", "callable"])
def test_a_blur_of_ones_own_restores_as_the_built_in_blur(camera64, op):
    # read as noise-free (the class) and run with the others' settings, it ended below y:
    # measured (2026-12-06), noise 0.03, class 10.4 dB, callable 18.6; y 22.4; O.Blur 29.2
    noise = 0.03 * torch.randn(camera64.shape, generator=torch.Generator().manual_seed(0))
    y = op(camera64) + noise
    built_in = solve(y, O.Blur(motion=(7, 0.0)), noise_level=0.03, progress=False)
    blind = solve(y, op, shape=(1, 64, 64), progress=False)
    assert psnr(blind.image, camera64) > psnr(built_in.image, camera64) - 0.3
    assert "estimated" in blind.items[0].stop_reason


def test_the_same_blur_written_any_way_gets_a_blurs_settings(camera64):
    # probed with a checkerboard of -1 and 1, blur(v).sqrt() was NaN and blur(v.clamp(0, 1))
    # kept it: both lost a blur's settings (48x48 camera, noise 0.02: 24.53 dB against 30.97)
    from invprior.priors.pnp import blur_like

    blur = O.Blur(sigma=1.0)
    x = camera64[..., :48, :48]
    y = blur(x).clamp_min(0).sqrt() + 0.02 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    ways = [lambda v: blur(v).clamp_min(1e-6) ** 0.5, lambda v: blur(v).sqrt(),
            lambda v: blur(v.clamp(0, 1)).sqrt()]
    results = [solve(y, f, noise_level=0.02, progress=False).image for f in ways]
    assert all(psnr(r, x) > psnr(y.clamp_min(0) ** 2, x) + 1.0 for r in results)
    assert max(psnr(r, x) for r in results) - min(psnr(r, x) for r in results) < 0.05
    others = [lambda v: (1.5 * v).clamp(0, 1), lambda v: v * (torch.rand(v.shape[-2:], generator=torch.Generator().manual_seed(1)) > 0.3),
              lambda v: v ** 2, lambda v: v[..., ::2, ::2]]
    for f in others:
        op = O.as_operator(f)
        op(x)
        assert not blur_like(op)
