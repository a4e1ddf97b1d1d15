"""Forward operators: adjoints, pseudo-inverses, norms, shapes, devices, bad parameters."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import operators as O
from operators.blur import wiener_deconvolution

SHAPES = [(1, 17, 20), (3, 16, 16)]  # gray odd sizes, RGB even sizes


def linear_cases(shape):
    """(name, factory) pairs: a fresh operator per test, so no test sees another's casts."""
    c, h, w = shape
    return [
        ("denoise", lambda: O.Denoising()),
        ("blur-gauss", lambda: O.Blur(sigma=1.5)),
        ("blur-reflect", lambda: O.Blur(sigma=1.0, border="reflect")),
        ("blur-user-even", lambda: O.Blur(kernel=torch.rand(4, 5, generator=torch.Generator().manual_seed(0)))),
        ("blur-motion", lambda: O.Blur(motion=(7, 30.0))),
        ("blur-box", lambda: O.Blur(box=3, border="replicate")),
        ("blur-valid", lambda: O.Blur(sigma=1.0, border="valid")),
        ("blur-valid-even", lambda: O.Blur(kernel=torch.rand(4, 3, generator=torch.Generator().manual_seed(0)), border="valid")),
        ("blur-constant", lambda: O.Blur(motion=(5, 60.0), border="constant")),
        ("inpaint-random", lambda: O.Inpainting(shape=shape, missing=0.4, seed=1)),
        ("inpaint-soft", lambda: O.Inpainting(torch.rand(h, w, generator=torch.Generator().manual_seed(0)))),
        ("cs-gaussian", lambda: O.CompressedSensing(60, shape, kind="gaussian")),
        ("cs-fast", lambda: O.CompressedSensing(60, shape, kind="fast")),
        ("compose-blur-mask", lambda: O.compose(O.Inpainting(shape=shape), O.Blur(sigma=1.0))),
        ("stack", lambda: O.Stack(O.Denoising(), O.Blur(sigma=1.0))),
        ("flat-stack", lambda: O.FlatStack(O.Stack(O.Inpainting(shape=shape, missing=0.4, seed=1),
                                                   O.CompressedSensing(60, shape)), shape, (1.0, 0.3))),
    ]


SR_CASES = [
    ("sr2-bicubic", lambda: O.Downsampling(2), (1, 16, 16)),
    ("sr3-gaussian", lambda: O.Downsampling(3, "gaussian"), (3, 18, 12)),
    ("sr4-box", lambda: O.Downsampling(4, "box"), (1, 16, 24)),
    ("sr8-bicubic", lambda: O.Downsampling(8), (1, 16, 16)),
    ("sr8-replicate", lambda: O.Downsampling(8), (1, 8, 16)),  # (smaller than the filter)
    ("sr2-circular", lambda: O.Downsampling(2, border="circular"), (3, 16, 12)),
    ("blur-then-sr2", lambda: O.compose(O.Downsampling(2), O.Blur(sigma=1.0)), (3, 16, 16)),
]

ALL = [(n, make, s) for s in SHAPES for n, make in linear_cases(s)] + SR_CASES
IDS = [f"{n}-{s}" for n, _, s in ALL]


def random_like(y, g):
    if isinstance(y, tuple):
        return tuple(random_like(t, g) for t in y)
    return torch.randn(y.shape, generator=g, dtype=y.dtype)


@pytest.mark.parametrize("name,make,shape", ALL, ids=IDS)
def test_adjoint_identity(name, make, shape):
    g = torch.Generator().manual_seed(0)
    op = make().double()
    x = torch.randn((2, *shape), generator=g, dtype=torch.float64)
    y = random_like(op(x), g)
    lhs = O.inner(op(x), y)
    rhs = O.inner(x, op.adjoint(y))
    assert torch.allclose(lhs, rhs, rtol=1e-5, atol=1e-9), (lhs, rhs)


@pytest.mark.parametrize("name,make,shape", ALL, ids=IDS)
def test_pinv_reproduces_measurements(name, make, shape):
    op = make().double()
    x = torch.rand((2, *shape), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ax = op(x)
    again = op(op.pinv(ax, tol=1e-12, max_iter=1000))
    err = math.sqrt(O.inner(_sub(again, ax), _sub(again, ax)).sum())
    assert err <= 1e-4 * math.sqrt(O.inner(ax, ax).sum())


def test_pinv_float32_does_not_blow_up_past_convergence():
    # float32 CG on these normal equations reaches rounding level in ~15 steps and then
    # diverged (residual x1e4 by step 60) before the tolerance floor and best-iterate return
    op = O.Downsampling(4)
    x = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    ax = op(x)
    again = op(op.pinv(ax, tol=1e-12, max_iter=300))
    assert (again - ax).norm() <= 1e-5 * ax.norm()


def test_conjugate_gradient_solves_a_batch_as_its_items_alone():
    # each item stops on its own: a well-conditioned item (large damping) converges in a few
    # steps and must not keep iterating while an ill-conditioned one is still on its way
    op = O.Downsampling(4)
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    damping = torch.tensor([1.0, 1e-3]).view(2, 1, 1, 1)
    y = op(x)
    together = op.pinv(y, damping=damping, tol=1e-4, max_iter=200)
    for b in range(2):
        alone = op.pinv(y[b : b + 1], damping=damping[b : b + 1], tol=1e-4, max_iter=200)
        # up to rounding (batched convolutions round differently); the shared stop left the
        # well-conditioned item 1e-4 away from its own solution
        assert (together[b : b + 1] - alone).abs().max() <= 1e-5 * alone.abs().max()
    # and from a start: the exact solution is returned at once
    exact = op.pinv(y, damping=damping, tol=1e-7, max_iter=500)
    again = O.conjugate_gradient(lambda v: op.normal(v) + damping * v, op.adjoint(y), x0=exact,
                                 tol=1e-4, max_iter=1)
    assert torch.equal(again, exact)


def _sub(a, b):
    return tuple(u - v for u, v in zip(a, b)) if isinstance(a, tuple) else a - b


def test_known_norms():
    shape = (1, 32, 32)
    assert O.Blur(sigma=2.0).norm(shape) == pytest.approx(1.0, abs=1e-3)
    assert O.Inpainting(shape=shape, missing=0.5).norm() == pytest.approx(1.0, abs=1e-6)
    assert O.Denoising().norm(shape) == pytest.approx(1.0, abs=1e-9)
    m, n = 128, 1024
    cs = O.CompressedSensing(m, shape, kind="gaussian", seed=0)
    assert cs.norm(iters=500) == pytest.approx(1 + math.sqrt(n / m), rel=0.1)
    # exact largest singular value of the dense matrix
    assert cs.norm(iters=2000, tol=1e-12) == pytest.approx(
        torch.linalg.matrix_norm(cs.matrix.double(), ord=2).item(), rel=1e-4
    )
    assert O.CompressedSensing(m, shape, kind="fast").norm() == pytest.approx(math.sqrt(n / m), rel=1e-5)


def test_norm_is_not_squared():
    class Twice(O.LinearOperator):
        def forward(self, x):
            return 2 * x

    assert Twice().norm((1, 4, 4)) == pytest.approx(2.0, rel=1e-6)


def test_custom_operator_gets_autograd_adjoint():
    class ShiftAverage(O.LinearOperator):
        def forward(self, x):
            return 0.5 * (x + torch.roll(x, 1, dims=-1))[..., ::2, :]

    A = ShiftAverage()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 6, generator=g, dtype=torch.float64)
    y = torch.randn(A(x).shape, generator=g, dtype=torch.float64)
    assert torch.allclose(O.inner(A(x), y), O.inner(x, A.adjoint(y)), rtol=1e-10)
    lam = O.as_operator(lambda v: v.sum(1, keepdim=True), linear=True)
    y = torch.randn(2, 1, 8, 6, dtype=torch.float64)
    assert torch.allclose(O.inner(lam(x), y), O.inner(x, lam.adjoint(y)))


def test_adjoint_needs_a_known_shape():
    """An operator of one's own that cannot read its image's size off y needs a call on an
    image first (a built-in one reads it: Downsampling's is y's times the factor)."""
    class Half(O.LinearOperator):
        def forward(self, x):
            return 0.5 * x[..., ::2, :]

    with pytest.raises(ValueError, match="input shape"):
        Half().adjoint(torch.rand(1, 1, 4, 4))


@pytest.mark.parametrize("factor, filter, border, shape", [
    (2, "bicubic", "reflect", (3, 18, 24)), (3, "gaussian", "circular", (1, 24, 12)),
    (4, "box", "reflect", (2, 16, 32)), (8, "bicubic", "reflect", (1, 8, 16))])
def test_downsampling_s_written_adjoint_is_autograd_s(factor, filter, border, shape):
    # written out for speed (autograd's took 3x as long): the same map, to float64 rounding
    op = O.Downsampling(factor, filter, border).double()
    g = torch.Generator().manual_seed(0)
    y = torch.randn((2, shape[0], shape[1] // factor, shape[2] // factor), generator=g, dtype=torch.float64)
    op(torch.zeros((1, *shape), dtype=torch.float64))  # (the input shape known, as always)
    torch.testing.assert_close(op.adjoint(y), O.LinearOperator.adjoint(op, y), atol=1e-12, rtol=0)


def test_a_circular_border_narrower_than_the_filter_is_one_sentence():
    # (torch: "Padding value causes wrapping around more than once")
    with pytest.raises(ValueError, match="smaller than the filter's reach of 12 pixels"):
        O.Downsampling(8, border="circular")(torch.rand(1, 1, 8, 16))


@pytest.mark.parametrize("name,make,shape", ALL, ids=IDS)
def test_dtype_gradient_and_state_dict(name, make, shape):
    op = make()
    x = torch.rand((2, *shape), requires_grad=True)
    first = _parts(op(x))[0]
    assert first.dtype == torch.float32
    first.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert _parts(op.double()(x.detach().double()))[0].dtype == torch.float64
    op = op.float()
    # half precision in, half out (torch's FFT takes none on the CPU: Blur failed)
    for half, full in zip(_parts(op(x.detach().half())), _parts(op(x.detach()))):
        assert half.dtype == torch.float16 and torch.allclose(half.float(), full, atol=0.02)
    state = op.state_dict()
    assert all(v.device.type == "cpu" for v in state.values())
    # a fresh operator built the same way loads the state and agrees
    rebuilt = make()
    rebuilt.load_state_dict(state)
    for a, b in zip(_parts(op(x.detach())), _parts(rebuilt(x.detach()))):
        assert torch.allclose(a, b, atol=1e-6)


def _parts(y):
    return y if isinstance(y, tuple) else (y,)


def test_same_seed_same_operator_and_noise():
    shape = (1, 16, 16)
    a = O.Inpainting(shape=shape, seed=3).mask
    b = O.Inpainting(shape=shape, seed=3).mask
    c = O.Inpainting(shape=shape, seed=4).mask
    assert torch.equal(a, b) and not torch.equal(a, c)
    x = torch.rand(1, *shape)
    for noise in (O.GaussianNoise(0.1, seed=5), O.PoissonNoise(20, seed=5), O.SaltPepperNoise(0.1, seed=5)):
        assert torch.equal(noise(x), noise(x))
        assert not torch.equal(noise(x), x)
    cs = O.CompressedSensing(50, shape, kind="fast", seed=2)
    assert torch.equal(cs(x), O.CompressedSensing(50, shape, kind="fast", seed=2)(x))


def test_noise_levels():
    x = torch.full((1, 1, 128, 128), 0.5)
    assert (O.GaussianNoise(0.1)(x) - x).std().item() == pytest.approx(0.1, rel=0.05)
    p = O.PoissonNoise(peak=100)(x)
    assert p.mean().item() == pytest.approx(0.5, rel=0.02)
    assert p.var().item() == pytest.approx(0.5 / 100, rel=0.1)
    sp = O.SaltPepperNoise(0.2)(x)
    assert (sp != 0.5).float().mean().item() == pytest.approx(0.2, abs=0.02)
    assert O.make_noise("poisson:30").peak == 30 and O.make_noise("0.05").sigma == 0.05
    assert O.make_noise("none") is None
    with pytest.raises(ValueError, match="the noise is empty"):
        O.make_noise(" ")
    # a level on the 0-255 scale, as papers state it, is refused with its [0, 1] value
    with pytest.raises(ValueError, match="25 on the 0-255 scale is 0.098"):
        O.make_noise("25")
    # the classes check as make_noise does (25 was added as a std of 25; a string failed
    # on a comparison inside; uint8 pixels came back with the noise rounded away)
    for make, says in [(lambda: O.GaussianNoise(25), "25 on the 0-255 scale is 0.098"),
                       (lambda: O.GaussianNoise(float("inf")), "must be finite"),
                       (lambda: O.PoissonNoise("3"), "the Poisson peak must be a number, got '3'"),
                       (lambda: O.SaltPepperNoise(torch.tensor([0.1, 0.2])), "must be a number"),
                       (lambda: O.GaussianNoise(0.1, seed=2 ** 70), "64-bit integer"),
                       (lambda: O.GaussianNoise(0.1)(x.byte()), "floating-point tensors")]:
        with pytest.raises(ValueError, match=says):
            make()


def test_soft_mask_consistency():
    mask = torch.tensor([[1.0, 0.5], [0.25, 0.0]])
    A = O.Inpainting(mask)
    x = torch.tensor([[[[4.0, 4.0], [4.0, 4.0]]]])
    y = A(x)
    assert torch.allclose(y, torch.tensor([[[[4.0, 2.0], [1.0, 0.0]]]]))
    assert torch.allclose(A.pinv(y), torch.tensor([[[[4.0, 4.0], [4.0, 0.0]]]]))
    assert torch.allclose(A.adjoint(y), x * mask**2)
    # CG pinv of the generic base class agrees with the closed form
    generic = O.LinearOperator.pinv(A, y, tol=1e-12, max_iter=50)
    assert torch.allclose(generic, A.pinv(y), atol=1e-5)
    # and with damping (plug-and-play's data step): the closed forms honour it
    for op, v in ((A, y), (O.Denoising(), y)):
        damped = O.LinearOperator.pinv(op, v, damping=0.3, tol=1e-12, max_iter=50)
        assert torch.allclose(damped, op.pinv(v, damping=0.3), atol=1e-6)


def test_harmonic_fill_stays_within_the_border_and_fills_wide_holes_better():
    from invprior.bench.hard import hidden_psnr
    from invprior.bench.hard_cases import load_hard_case

    truth, y, op, holes = load_hard_case("boxes_camera")  # five 32-64 pixel boxes
    filled = O.harmonic_inpaint(y, op.mask)
    assert torch.equal(filled[~holes], y[~holes])
    # maximum principle: no value outside the observed range (the biharmonic fill leaves it)
    seen = y[~holes]
    assert filled.min() >= seen.min() - 1e-5 and filled.max() <= seen.max() + 1e-5
    # measured 20.67 dB inside the holes; scikit-image's biharmonic fill 13.43
    assert hidden_psnr(filled, truth, holes) > 20.0
    assert hidden_psnr(O.biharmonic_inpaint(y, op.mask).clamp(0, 1), truth, holes) < 15.0
    # each item and channel on its own: a batch of two RGB images, one mask
    rgb = torch.rand(2, 3, 64, 64)
    mask = O.box_mask((64, 64), (10, 8, 40, 44))  # 20 pixels in
    both = O.harmonic_inpaint(rgb * mask, mask)
    assert torch.allclose(both[1:, 2:], O.harmonic_inpaint(rgb[1:, 2:] * mask, mask), atol=1e-6)
    # the operator's start: harmonic for a wide hole, biharmonic for thin strokes
    wide, thin = O.Inpainting(mask), O.Inpainting(O.scribble_mask((64, 64), 4, 3.0))
    assert torch.equal(wide.initial_estimate(rgb * mask),
                       O.harmonic_inpaint(rgb * mask, mask).clamp(0, 1))
    assert torch.equal(thin.initial_estimate(rgb), O.biharmonic_inpaint(rgb, thin.mask).clamp(0, 1))


def test_biharmonic_fill_in_blocks_matches_the_whole_plane():
    # thin strokes are filled from close by: blocks with a margin of context give the fill
    # of one solve over the plane (a large photo's is too slow and too big for one solve)
    from skimage.restoration import inpaint_biharmonic

    from invprior.bench.cases import clean
    from operators.mask import _blockwise

    plane = clean("camera").astype(float)
    holes = O.scribble_mask((256, 256), 8, 14.0, seed=3).numpy().reshape(256, 256) < 0.5
    whole = inpaint_biharmonic(plane, holes)
    blocks = _blockwise(inpaint_biharmonic, plane, holes, block=96, margin=48)  # 3 x 3 blocks
    assert (blocks[~holes] == plane[~holes]).all()
    error = lambda fill: ((fill - plane)[holes] ** 2).mean()  # noqa: E731
    assert abs(10 * math.log10(error(blocks) / error(whole))) < 0.02  # dB inside the holes
    assert abs(blocks - whole)[holes].mean() < 1e-3
    # a plane that fits one block and its margins is solved whole, as before
    assert (_blockwise(inpaint_biharmonic, plane, holes) == whole).all()


def test_boxes_mask_scales_with_the_image_and_refuses_what_cannot_fit():
    for side in (64, 256):
        op = O.Inpainting(shape=(3, side, side), kind="boxes", seed=2)
        assert side / 16 <= op.hole_radius() <= side / 8  # half a box side: 1/16 to 1/8
        assert op.hole_radius() >= O.Inpainting.WIDE_HOLE or side < 128
    with pytest.raises(ValueError, match="do not fit"):
        O.boxes_mask((32, 32), count=200)


def test_hole_radius_from_the_holes_box_equals_the_whole_mask_transform():
    # hole_radius measures only the holes' bounding box (grown by a pixel): random masks,
    # boxes touching the border included, against scipy's transform of the whole mask
    from scipy.ndimage import distance_transform_edt

    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        h, w = (int(v) for v in torch.randint(5, 60, (2,), generator=g))
        missing = torch.rand(h, w, generator=g) < 0.3 * float(torch.rand(1, generator=g))
        top, left, dh, dw = (int(v) for v in torch.randint(0, 30, (4,), generator=g))
        missing[top : top + dh + 1, left : left + dw + 1] = True
        whole = float(distance_transform_edt(missing.numpy()).max())
        assert O.Inpainting((~missing).float()).hole_radius() == whole


def test_downsampling_is_aligned_with_bicubic_upsampling():
    # output pixel i of a linear ramp sits at the block centre i*f + (f-1)/2 ...
    x = torch.arange(48.0).repeat(48, 1)[None, None]
    for f in (2, 3, 4):
        for filt in ("bicubic", "box", "gaussian"):
            y = O.Downsampling(f, filt)(x)[0, 0, 10, 2:-2]
            centres = torch.arange(2, 48 // f - 2) * f + (f - 1) / 2
            assert torch.allclose(y, centres, atol=1e-4), (f, filt)
        # ... so bicubic upsampling brings it back without a shift (torch's cubic, a=-0.75,
        # wiggles by ~0.1 px on a ramp but has no mean offset; half a pixel would be 0.5)
        diff = (O.upsample_bicubic(O.Downsampling(f)(x), f) - x)[..., 3 * f : -3 * f, 3 * f : -3 * f]
        assert abs(diff.mean().item()) < 0.01 and diff.abs().max() < 0.2, f


def test_fast_cs_handles_a_large_rgb_image():
    A = O.CompressedSensing(50_000, (3, 512, 512), seed=0)
    assert A.kind == "fast" and A.signs.numel() == 3 * 512 * 512
    y = A(torch.rand(1, 3, 512, 512))
    assert y.shape == (1, 50_000)
    assert A.adjoint(y).shape == (1, 3, 512, 512)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: O.Blur(sigma=-1.0), "sigma must be positive"),
        (lambda: O.Blur(), "exactly one"),
        (lambda: O.Blur(sigma=1.0, border="wrap"), "unknown border"),
        (lambda: O.Blur(kernel=torch.zeros(3, 3)), "sums to zero"),
        (lambda: O.Blur(motion=(9, float("nan"))), "angle must be a finite number"),  # NaN kernel
        (lambda: O.Downsampling(5), "factor must be one of"),
        (lambda: O.Downsampling(2.0), "factor must be one of"),  # (failed inside torch)
        (lambda: O.Blur(sigma=2.0, size=1), "needs size >= 3, got 1"),  # (no blur at all)
        (lambda: O.Blur(sigma=2.0, size=0), "positive integer, got 0"),  # (was the default)
        (lambda: O.Downsampling(2, "lanczos"), "unknown downsampling filter"),
        (lambda: O.CompressedSensing(300, (1, 16, 16)), r"\[1, 256\]"),
        (lambda: O.CompressedSensing(10, (16, 16)), "shape \\(C, H, W\\)"),
        (lambda: O.Inpainting(shape=(1, 8, 8), missing=1.5), "missing must be the fraction of pixels hidden"),
        (lambda: O.Inpainting(shape=(1, 8, 8), kind="blob"), "unknown mask kind"),
        (lambda: O.Inpainting(torch.full((4, 4), 2.0)), "in \\[0, 1\\]"),
        (lambda: O.make("fft"), "unknown operator 'fft'"),
        (lambda: O.make("blur", sigma=1.0, radius=3), "no parameter radius"),
        (lambda: O.make_noise("laplace:0.1"), "unknown noise"),
        (lambda: O.GaussianNoise(-0.1), "from 0 to 1, got -0.1"),
        (lambda: O.Blur(motion=(10 ** 6, 0)), "1000000x1000000 kernel; the largest"),  # (4 TB asked)
        (lambda: O.Blur(motion=5), r"motion is \(length, angle_degrees\), got 5"),
        (lambda: O.Blur(motion=(5, "a")), "motion angle must be a number, got 'a'"),
        (lambda: O.Blur(box="3"), "box size must be a positive integer, got '3'"),
        (lambda: O.Blur(sigma=[2]), r"sigma \(the blur's width\) must be a number, got \[2\]"),
        (lambda: O.Blur(sigma=1.0, normalize="no"), "normalize must be True or False"),
        (lambda: O.Blur(kernel=torch.ones(3, 3, dtype=torch.complex64)), "complex values"),
        (lambda: O.Blur(sigma=1.0) @ 3, "compose takes operators or callables"),
        (lambda: O.Inpainting(torch.ones(8, 8), shape=(1, 16, 16)), "and the mask's \\(8, 8\\) differ"),
    ],
)
def test_bad_parameters_raise_clear_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_a_kernel_padded_to_the_image_size_blurs_as_its_support_does():
    # a microscope's PSF file in a frame of its image's size: refused as larger than the
    # image; the command line cuts it (Blur keeps a kernel as given: it sets valid's margin)
    gauss = O.Blur(sigma=2.0).kernel
    framed = torch.zeros(128, 128)
    framed[58:71, 58:71] = gauss
    cut = O.blur.without_zero_margins(framed)
    A, x = O.Blur(kernel=cut, border="valid"), torch.rand(1, 1, 64, 64)
    assert A.kernel.shape == (15, 15) and O.Blur(kernel=framed).kernel.shape == (129, 129)
    assert torch.allclose(A.crop(O.Blur(sigma=2.0)(x)), A(x), atol=1e-6)


def test_a_motion_blur_is_as_long_as_asked_and_any_finite_angle_draws_it():
    """An even length had been one tap longer (4 px: five taps of 0.2, 2 px the same as 3);
    it is now its taps at full weight plus two half-weight ends. An angle of 1e39 degrees
    had overflowed kornia's float32: a kernel of NaN, and a y of NaN."""
    for length in range(2, 12):
        row = O.blur.motion_kernel(length, 0.0)
        middle = row[row.shape[0] // 2]
        assert float(middle.sum() / middle.max()) == pytest.approx(length)  # L full taps' worth
        assert torch.allclose(O.blur.motion_kernel(length, 90.0), row.T, atol=1e-6)
    assert not torch.equal(O.blur.motion_kernel(2, 0.0), O.blur.motion_kernel(3, 0.0))
    huge = O.blur.motion_kernel(5, 1e39)
    assert torch.isfinite(huge).all() and torch.equal(huge, O.blur.motion_kernel(5, math.fmod(1e39, 360)))


def test_an_image_to_image_operator_takes_a_y_of_another_size_than_its_last_call():
    """The adjoint and the first estimate had used the input size of the last call: a
    reflect-border blur's adjoint of a 16x16 y after a 32x32 image was torch's "Mismatch in
    shape"; a fresh one, and a fresh Downsampling, were refused ("call it on an image once",
    which their y's size makes needless)."""
    g = torch.Generator().manual_seed(0)
    small, big = (torch.rand(1, 1, n, n, generator=g, dtype=torch.float64) for n in (16, 32))
    for border in ("reflect", "replicate", "constant", "valid"):
        A = O.Blur(sigma=1.0, border=border).double()
        y = A(small)
        A(big)  # (the last call: another size)
        Aty = A.adjoint(y)
        assert Aty.shape == small.shape
        assert torch.dot(y.flatten(), y.flatten()).item() == pytest.approx(
            torch.dot(small.flatten(), Aty.flatten()).item(), rel=1e-10)
        A(big)
        assert A.initial_estimate(y).shape == small.shape
    fresh = O.Blur(sigma=1.0, border="reflect")
    assert fresh.adjoint(torch.rand(1, 1, 16, 16)).shape == (1, 1, 16, 16)
    assert O.Downsampling(2).adjoint(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)


def test_a_soft_mask_s_first_estimate_undoes_its_dimming(camera64):
    """A feathered mask's seen pixels are y = m x: the fill had spread them dimmed into the
    hole (astronaut, a 30-pixel disc with a 0.6 ring: the hole's mean 0.25 for 0.37, and
    plug-and-play kept it dark, 12.75 dB against the binary mask's 16.65)."""
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    r = ((yy - 32) ** 2 + (xx - 32) ** 2).sqrt()
    binary = (r > 12).float()
    soft = torch.where((r > 12) & (r <= 15), torch.tensor(0.6), binary)
    ring = (soft == 0.6).expand_as(camera64)
    start = O.Inpainting(soft).initial_estimate(O.Inpainting(soft)(camera64))
    assert torch.allclose(start[ring], camera64[ring], atol=1e-6)  # y / m there
    # the hole filled as from the same pixels seen whole (it had been filled from dimmed ones)
    whole = O.Inpainting((r > 12).float()).initial_estimate(camera64 * (r > 12))
    hole = (r <= 12).expand_as(camera64)
    assert abs(float(start[hole].mean() - whole[hole].mean())) < 0.02


def test_a_mask_hiding_a_whole_channel_fills_it_mid_gray():
    """A per-channel mask with its green plane all hidden: scikit-image's biharmonic fill
    (small images' first estimate) failed, "zero-size array to reduction operation"."""
    mask = torch.ones(3, 8, 8)
    mask[1] = 0
    mask[0, 3:5, 3:5] = 0
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    filled = O.biharmonic_inpaint(x * mask, mask)
    assert torch.equal(filled[:, 1], torch.full((1, 8, 8), 0.5))
    seen = mask[0] > 0.5  # the other planes: their seen pixels kept, the holes filled
    assert torch.equal(filled[:, 2], x[:, 2]) and torch.allclose(filled[0, 0][seen], x[0, 0][seen])
    assert torch.isfinite(filled).all()


def test_whole_numbers_of_numpy_and_a_motion_of_one_pixel_are_taken():
    x = torch.rand(1, 1, 16, 16)
    assert O.Downsampling(np.int64(2)).factor == 2
    assert O.CompressedSensing(np.int64(64), (1, 16, 16)).m == 64
    assert torch.equal(O.Blur(box=np.int64(3)).kernel, O.Blur(box=3).kernel)  # ("got 3")
    assert repr(O.Blur(motion=(np.int64(5), 30))) == "Blur(motion=(5, 30.0))"
    assert torch.allclose(O.Blur(motion=(1, 30.0))(x), x, atol=1e-6)  # (kornia: a 1-pixel kernel)
    with pytest.raises(ValueError, match="the class Denoising; pass an instance"):
        O.as_operator(O.Denoising)


@pytest.mark.parametrize(
    "op,x,match",
    [
        (O.Downsampling(4), torch.rand(1, 1, 30, 32), "not a multiple of the factor 4"),
        (O.Inpainting(torch.ones(8, 8)), torch.rand(1, 1, 8, 9), "does not match"),
        (O.CompressedSensing(10, (1, 8, 8)), torch.rand(1, 1, 8, 9), "measures images of shape"),
        (O.Blur(sigma=1.0), torch.rand(8, 8), r"\(B, C, H, W\)"),
        (O.Blur(sigma=1.0), torch.rand(3, 8, 8), r"x\[None\]"),
        (O.Blur(sigma=3.0), torch.rand(1, 1, 5, 5), "too small"),
        (lambda y: wiener_deconvolution(y, torch.ones(15, 15)), torch.rand(1, 1, 6, 6),
         r"the image \(6x6, width x height\) is too small for a 15x15 kernel"),  # a valid blur's small y
    ],
)
def test_bad_inputs_raise_clear_errors(op, x, match):
    with pytest.raises(ValueError, match=match):
        op(x)


def test_registry():
    assert {"denoise", "blur", "deblur", "inpaint", "cs", "sr"} <= set(O.names())
    assert isinstance(O.make("deblur", sigma=2.0), O.Blur)
    assert O.make("sr", factor=3).factor == 3


def test_import_loads_nothing_heavy():
    # importing the package is quick because the heavy libraries load when first used; a
    # list of what got loaded fails the same on any machine, where a time limit would not
    code = ("import sys, torch; before = set(sys.modules); import operators, invprior; "
            "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert set(loaded) <= {"invprior", "operators"}, loaded


def test_operators_and_noises_say_their_parameters():
    # a --report names the operator by its repr, which said only "Blur()"
    assert repr(O.Blur(sigma=2.0)) == "Blur(sigma=2)"
    assert repr(O.Blur(kernel=torch.ones(4, 5), border="reflect")) == "Blur(kernel 4x5, border='reflect')"
    assert repr(O.Downsampling(4)) == "Downsampling(4, 'bicubic')"
    assert repr(O.Inpainting(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))) == "Inpainting(mask 2x2, 25.0% missing)"
    assert repr(O.CompressedSensing(10, (1, 4, 4))) == "CompressedSensing(10, (1, 4, 4), kind='gaussian')"
    assert repr(O.GaussianNoise(0.05, seed=3)) == "GaussianNoise(sigma=0.05, seed=3)"


@pytest.mark.parametrize("border", ["replicate", "reflect", "constant", "valid"])
def test_blur_borders_match_a_direct_convolution(border):
    """The FFT forward of the padded borders (and valid's crop) is kornia's direct one."""
    import kornia.filters

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 20, 23, generator=g, dtype=torch.float64)
    A = O.Blur(kernel=torch.rand(5, 4, generator=g), border=border).double()
    direct = kornia.filters.filter2d(x, A.kernel.flip(-1, -2)[None], border_type=border if border != "valid" else "constant")
    assert torch.allclose(A(x), A.crop(direct), atol=1e-12)
    if border == "valid":  # 5x5 kernel after padding: 2 pixels of margin
        assert A(x).shape == (2, 3, 16, 19) and A.input_shape_for((2, 3, 16, 19)) == (3, 20, 23)
        assert A.widen(A(x)).shape == x.shape


def test_valid_blur_deblurs_a_photo_whose_blur_saw_beyond_its_frame():
    """A crop of a blurred photo: the circular model (the image repeats) rings at the
    frame; valid borders estimate the scene beyond it and restore the crop."""
    from skimage import data

    from invprior import solve
    from invprior.metrics import psnr

    truth = torch.tensor(data.camera()[::4, ::4] / 255.0, dtype=torch.float32)[None, None]
    blurred = O.Blur(sigma=1.5)(truth)  # the whole photo; the crop's edges saw its inside
    x, y = truth[..., 24:88, 24:88], blurred[..., 24:88, 24:88]
    got = {}
    for border in ("circular", "valid"):
        A = O.Blur(sigma=1.5, border=border)
        got[border] = psnr(A.crop(solve(y, A, noise_level=0.0, iters=8, progress=False).image), x)
    assert got["circular"] < psnr(y, x) < got["valid"] - 3, got
    # met first through a photo's y (the CLI: the operator never ran on an image), the
    # valid blur's generic start and the deep image prior take the size y tells
    A = O.Blur(sigma=1.5, border="valid")
    start = A.initial_estimate(y)
    assert start.shape[-2:] == (74, 74) and psnr(A.crop(start), x) > psnr(y, x) + 1  # +1.9
    assert solve(y, O.Blur(sigma=1.5, border="valid"), prior="dip", iters=2,
                 progress=False).image.shape[-2:] == (74, 74)


def test_the_fast_pinv_of_a_blur_of_ones_own_kernel_is_the_least_squares_one():
    # the shipped kernels are point-symmetric (a real spectrum): the Fourier pinv without
    # the spectrum's conjugate passed every other test, and was wrong for this one
    kernel = torch.rand(4, 5, generator=torch.Generator().manual_seed(0))
    A = O.Blur(kernel=kernel, border="circular").double()
    y = A(torch.rand(2, 1, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    exact = A.pinv(y, damping=0.01)
    cg = O.LinearOperator.pinv(A, y, damping=0.01, tol=1e-12, max_iter=1000)
    assert torch.allclose(exact, cg, atol=1e-6), float((exact - cg).abs().max())


def test_poisson_noise_refuses_signed_measurements():
    # compressed sensing's are half below 0: clamped to 0 they restored to 8.48 dB, unsaid
    A = O.CompressedSensing(200, (1, 16, 16), seed=0)
    with pytest.raises(ValueError, match="50% of y's values are negative|of y's values are negative"):
        O.PoissonNoise(1000, seed=0)(A(torch.rand(1, 1, 16, 16)))
    small = O.PoissonNoise(1000, seed=0)(torch.full((1, 1, 8, 8), 0.5) - 0.01 * torch.eye(8))
    assert small.min() >= 0  # (a few values under 0, an overshoot: clamped, as before)


def test_kernels_and_masks_come_in_any_array_form_and_stay_their_own():
    import copy

    k = np.random.default_rng(0).random((5, 5)).astype(np.float32)
    flipped = np.flip(k)  # negative strides had failed in torch's words
    assert torch.allclose(O.Blur(kernel=flipped).kernel, O.Blur(kernel=flipped.copy()).kernel)
    held = torch.from_numpy(k).requires_grad_()  # had tied the buffer to the caller's graph
    A = O.Blur(kernel=held)
    assert not A(torch.rand(1, 1, 8, 8)).requires_grad
    copy.deepcopy(A)  # had failed: "Only Tensors created explicitly by the user"
    m = (np.random.default_rng(1).random((8, 8)) > 0.5)
    assert torch.equal(O.Inpainting(m[::-1]).mask[0, 0], torch.from_numpy(m[::-1].copy()).float())
    with pytest.raises(ValueError, match="the mask holds complex values"):
        O.Inpainting(torch.ones(8, 8, dtype=torch.complex64))
    drawn = O.Inpainting(shape=(1, 8, 8), missing=torch.tensor(0.5))  # had failed in round()
    assert float(drawn.mask.mean()) == 0.5


@pytest.mark.parametrize("length, angle", [(7, 30.0), (11, 45.0), (15, 30.0), (9, 60.0)])
def test_a_slanted_motion_kernel_is_as_long_as_asked(length, angle):
    # kornia's default drawing (nearest) made 7 px at 30 degrees 5.8 px long and 11 at 45 9.9:
    # 5-9 dB lost deblurring a true streak of the length and angle told
    k = O.motion_kernel(length, angle)
    n = k.shape[-1]
    ys, xs = torch.meshgrid(torch.arange(n) - (n - 1) / 2, torch.arange(n) - (n - 1) / 2, indexing="ij")
    along = [xs * math.cos(math.radians(a)) - ys * math.sin(math.radians(a)) for a in (angle, -angle)]
    # a uniform streak of L taps has variance (L^2 - 1) / 12 along itself
    spread = max(math.sqrt(12 * float((k * d ** 2).sum()) + 1) for d in along)
    assert spread == pytest.approx(length, abs=0.3)
