"""``solve(y, op, prior=...)``: the Python entry point for any forward operator.

It checks the observation, resolves the prior (the ``auto`` policy is the table below),
builds it with its settings and lets it restore; everything else lives in the priors
(``invprior.priors``).
"""

from __future__ import annotations

import operators as O

from .checks import check_observation
from .priors import Prior, make_prior, options_of
from .result import Result

__all__ = ["solve", "auto_prior", "resolve_prior", "AUTO_PRIORS"]

# The default prior per operator (``prior="auto"``), by the operator's registry name: the
# best PSNR measured on the fixed 256x256 cases on a 2-core CPU within the CLI's budget
# (BENCHMARKS.md, "Fixed cases"). The trained CNN denoiser (one pass, or plug-and-play)
# wins every case there, in seconds. A user's own operator (no name) gets the deep image
# prior: it may be nonlinear, or not tell the image shape that plug-and-play needs.
AUTO_PRIORS = {"denoise": "denoiser", "blur": "denoiser", "inpaint": "denoiser",
               "downsample": "denoiser", "cs": "denoiser"}
FALLBACK = "dip"


def auto_prior(op) -> str:
    """The prior ``prior="auto"`` picks for an operator (instance or class).

    Example:
        >>> auto_prior(O.Blur(sigma=2.0)), auto_prior(O.Downsampling), auto_prior(O.Lambda(abs))
        ('denoiser', 'denoiser', 'dip')
    """
    return AUTO_PRIORS.get(getattr(op, "name", None), FALLBACK)


def resolve_prior(prior, op, options: dict | None = None):
    """``auto`` -> the operator's prior (``auto_prior``), or the deep image prior when
    ``options`` include a setting only it takes (``loss="l1"`` for impulse noise, say);
    anything else as it is.

    Example:
        >>> resolve_prior("auto", O.Denoising()), resolve_prior("auto", O.Denoising(), {"loss": "l1"})
        ('denoiser', 'dip')
    """
    if not (isinstance(prior, str) and prior == "auto"):
        return prior
    choice = auto_prior(op)
    return choice if set(options or {}) <= options_of(choice) else FALLBACK


def solve(y, op, prior: str | Prior = "auto", *, noise_level: float | None = None,
          truth=None, progress: bool = True, **options) -> Result:
    """Recover images ``x`` from observations ``y = op(x) + noise`` with a prior.

    Args:
        y: observations ``(B, ...)``: images ``(B, C, H, W)`` or vectors ``(B, m)`` (a tuple
            of them for a stacked operator).
        op: an ``operators.Operator`` or any differentiable callable ``x -> y``.
        prior: ``auto`` (default: ``auto_prior(op)``), a name in ``invprior.priors.PRIORS``
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
    prior = make_prior(resolve_prior(prior, op, options), **options)
    return prior.restore(y, op, noise_level=noise_level, truth=truth, progress=progress)

