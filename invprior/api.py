"""``solve(y, op, prior=...)``: the Python entry point for any forward operator.

It checks the observation, resolves the prior (the ``auto`` policy is the table below),
builds it with its settings and lets it restore; everything else lives in the priors
(``invprior.priors``).
"""

from __future__ import annotations

import torch

import operators as O

from .checks import check_observation
from .priors import Prior, make_prior, options_of
from .result import Result

__all__ = ["solve", "auto_prior", "resolve_prior", "hidden_share", "AUTO_PRIORS"]

# The default prior per operator (``prior="auto"``), by the operator's registry name: the
# best PSNR measured on the fixed 256x256 cases on a 2-core CPU within the CLI's budget
# (BENCHMARKS.md, "Fixed cases"). The trained CNN denoiser (one pass, or plug-and-play)
# wins every case there, in seconds.
AUTO_PRIORS = {"denoise": "denoiser", "blur": "denoiser", "inpaint": "denoiser",
               "downsample": "denoiser", "cs": "denoiser"}
# A user's own operator, linear or not, gets plug-and-play too (a nonlinear one through
# Gauss-Newton data steps): BENCHMARKS.md, "Nonlinear operators", camera through
# sqrt(blur(x)) + noise: 29.45 dB in 3 s against the deep image prior's 26.76 in 54 s. Except
# where the operator hides part of the image from y (its Jacobian is zero there, as for
# saturated pixels): there the denoiser has nothing to go on and keeps the fill flat, while
# the deep image prior continues the image's structure (over-exposure clip(1.5 x): 24.71
# against 22.46 dB on camera, 25.11 against 23.94 on astronaut).
FALLBACK = "denoiser"
HIDDEN = "dip"
HIDDEN_SHARE = 0.05  # of the pixels, above which an operator "hides part of the image"
# Large holes: the deep image prior continues the image's structure into a hole that the
# denoiser, which only spreads what is near the border, fills with a smear (BENCHMARKS.md,
# "Large holes": five 32-64 pixel boxes, inside the holes, dip against plug-and-play, both
# from the harmonic fill (Inpainting.initial_estimate): camera 25.0 against 23.5 dB,
# astronaut 13.3 against 12.5; thick scribbles, radius 13.6: level). dip's numbers depend
# on its seed and the machine's rounding (on a 2-core AMD EPYC, seeds 0/1/2: camera 22.9,
# 21.7, 23.3; astronaut 13.4, 12.3): on average level with plug-and-play, whose fill is
# smooth where dip's carries texture.
# Only where the network's minutes are affordable on a CPU (up to 512x512: about 4.5
# minutes at 256x256, 2 threads); a larger photo keeps the fast prior.
LARGE_HOLE = O.Inpainting.WIDE_HOLE  # 16 pixels from the hole's inside to its border (32+ across)
LARGE_HOLE_PIXELS = 512 * 512


def auto_prior(op, y=None, shape: tuple | None = None) -> str:
    """The prior ``prior="auto"`` picks for an operator (instance or class) and its
    observation ``y``: by the operator's name, except for a mask with a large hole
    (``Inpainting.hole_radius``) on an image of up to 512x512, and for a user's own operator,
    by what it hides (``hidden_share``).

    Example:
        >>> auto_prior(O.Blur(sigma=2.0)), auto_prior(O.Downsampling), auto_prior(O.Lambda(abs))
        ('denoiser', 'denoiser', 'denoiser')
        >>> y = (1.5 * torch.linspace(0, 1, 64)).clamp(0, 1).expand(1, 1, 64, 64)
        >>> auto_prior(O.Lambda(lambda x: (1.5 * x).clamp(0, 1)), y)  # a third saturated
        'dip'
        >>> auto_prior(O.Inpainting(O.box_mask((64, 64), (8, 8, 40, 40))), y)  # radius 20
        'dip'
    """
    name = getattr(op, "name", None)
    if name == "inpaint" and isinstance(op, O.Inpainting) and op.hole_radius() >= LARGE_HOLE:
        if y is None or y.shape[-2] * y.shape[-1] <= LARGE_HOLE_PIXELS:
            return HIDDEN
    if name in AUTO_PRIORS:
        return AUTO_PRIORS[name]
    if y is not None and isinstance(op, O.Operator) and not isinstance(op, O.LinearOperator):
        if hidden_share(op, y, shape) > HIDDEN_SHARE:
            return HIDDEN
    return FALLBACK


def hidden_share(op, y, shape: tuple | None = None) -> float:
    """The share of pixels that ``y`` tells at most a bound of: where the operator's Jacobian
    is zero (``J^T J 1`` below 1e-3 of its mean) on either side of a rough fit of ``y``
    (five damped Gauss-Newton steps from mid-gray; then 0.01 up and down, within [0, 1]):
    a saturated pixel says only that it is bright. 0 for an operator that cannot be
    differentiated there.

    Example:
        >>> y = (1.5 * torch.linspace(0, 1, 64)).clamp(0, 1).expand(1, 1, 64, 64)
        >>> round(hidden_share(O.Lambda(lambda x: (1.5 * x).clamp(0, 1)), y), 2)
        0.34
    """
    from .priors.pnp import data_step, start_image

    try:
        with torch.no_grad():
            x = start_image(op, y, shape)
            for _ in range(5):  # a nonlinear data step stays in [0, 1]
                x = data_step(op, x, y, 1e-2, 30)
            hidden = torch.zeros_like(x, dtype=torch.bool)
            for side in (0.01, -0.01):
                jacobian = O.Linearisation(op, (x + side).clamp(0, 1))
                seen = jacobian.adjoint(jacobian(torch.ones_like(x))).abs()
                hidden |= seen <= 1e-3 * seen.mean()
    except (RuntimeError, TypeError, ValueError):  # not differentiable, or not on images
        return 0.0
    return float(hidden.float().mean())


def resolve_prior(prior, op, options: dict | None = None, y=None):
    """``auto`` -> the operator's prior (``auto_prior``, given ``y`` for a user's own
    operator), or the deep image prior when ``options`` include a setting only it takes
    (``loss="l1"`` for impulse noise, say); anything else as it is.

    Example:
        >>> resolve_prior("auto", O.Denoising()), resolve_prior("auto", O.Denoising(), {"loss": "l1"})
        ('denoiser', 'dip')
    """
    if not (isinstance(prior, str) and prior == "auto"):
        return prior
    choice = auto_prior(op, y, (options or {}).get("shape"))
    return choice if set(options or {}) <= options_of(choice) else "dip"


def solve(y, op, prior: str | Prior = "auto", *, noise_level: float | None = None,
          truth=None, progress: bool = True, **options) -> Result:
    """Recover images ``x`` from observations ``y = op(x) + noise`` with a prior.

    Args:
        y: observations ``(B, ...)``: images ``(B, C, H, W)`` or vectors ``(B, m)`` (a tuple
            of them for a stacked operator).
        op: an ``operators.Operator`` or any differentiable callable ``x -> y`` (linear or
            not: plug-and-play takes Gauss-Newton data steps on a nonlinear one).
        prior: ``auto`` (default: ``auto_prior(op, y)``), a name in ``invprior.priors.PRIORS``
            (``denoiser``, ``dip``, ``decoder``, ``sparse``), a ``.pt`` file from
            ``python -m invprior.train`` (a trained generator or a denoiser, told apart by
            its ``format``), a ``TrainedPrior``, or any prior object, e.g.
            ``PlugAndPlay(my_denoiser)``.
        noise_level: std of the noise in ``y`` on the [0, 1] scale, if known (else
            estimated where the operator says the noise is visible in ``y``).
        truth: clean images, only to trace PSNR (never used to restore).
        progress: show progress bars.
        **options: the prior's settings; a setting it does not take is an error. The common
            ones: ``iters``, ``max_seconds``, ``device`` (``auto``: CUDA when present),
            ``seed``, ``keep_observed``; for ``dip``/``decoder`` also ``lr``, ``loss``,
            ``tv``, ``ema``, ``stop``, ``init``, ``warm``, ``shape``, ``net`` (see
            ``priors.NetworkPrior``); for trained priors ``restarts``, ``adapt``, ... (see
            ``glo.TrainedPrior.restore``). With ``prior="auto"``, a setting that only the
            deep image prior takes selects it. ``None`` values count as not given.

    Returns:
        ``Result``: ``image`` ``(B, C, H, W)``, ``items`` (one Result per observation), the
        traces, why it stopped, seconds, the prior's name, and whether Ctrl-C ended it
        (``interrupted``: the best estimate so far is returned).

    Example:
        >>> import torch
        >>> x = torch.rand(1, 1, 32, 32)
        >>> A = O.Inpainting(shape=(1, 32, 32), missing=0.5)
        >>> out = solve(A(x), A, iters=5, progress=False)
        >>> out.image.shape, out.prior
        (torch.Size([1, 1, 32, 32]), 'denoiser')
    """
    y = check_observation(y)
    op = O.as_operator(op)
    options = {k: v for k, v in options.items() if v is not None}
    prior = make_prior(resolve_prior(prior, op, options, y), **options)
    return prior.restore(y, op, noise_level=noise_level, truth=truth, progress=progress)

