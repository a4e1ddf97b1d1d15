"""``solve(y, op, prior=...)``: the Python entry point for any forward operator."""

from __future__ import annotations

import os
import time

import torch

import operators as O
from operators import Operator, as_operator

from .classical import initial_estimate
from .losses import LOSSES
from .metrics import psnr
from .noise_level import estimate_noise, estimate_sigma
from .priors import PRIORS, NetConfig, default_config, make_prior
from .solver import LoopConfig, Result, fit, warm_start
from .stopping import RULES

INITS = ("auto", "none", "warm", "guide")
# The default prior per operator (``prior="auto"``): the best PSNR measured on the fixed
# 256x256 cases on a 2-core CPU within the CLI's budget (BENCHMARKS.md, "Fixed cases"). The
# trained CNN denoiser (one pass, or plug-and-play) wins every case there, in seconds; the
# deep image prior stays the default for custom operators, which may be nonlinear or lack
# the input shape that the plug-and-play data step needs.
AUTO_PRIORS = ((O.Denoising, "denoiser"), (O.Blur, "denoiser"), (O.Inpainting, "denoiser"),
               (O.Downsampling, "denoiser"), (O.CompressedSensing, "denoiser"))
# priors without a network to fit: the network-only options do not apply to them
FIXED_PRIORS = ("sparse", "denoiser")
# operators whose classical estimate is a good start (auto init = warm)
ESTIMATED = (O.Denoising, O.Inpainting, O.Blur, O.Downsampling)


def auto_prior(op) -> str:
    """The prior ``prior="auto"`` picks for an operator (instance or class); see AUTO_PRIORS.

    Example:
        >>> auto_prior(O.Blur(sigma=2.0)), auto_prior(O.Lambda(torch.sin))
        ('denoiser', 'dip')
    """
    kind = op if isinstance(op, type) else type(op)
    return next((prior for cls, prior in AUTO_PRIORS if issubclass(kind, cls)), "dip")


def network_options(*, lr=None, loss="l2sq", tv=0.0, ema=0.99, stop="auto", init="auto",
                    warm=None, net=None) -> list[str]:
    """The options given that only the network priors use (default values are not counted)."""
    given = {"lr": lr is not None, "loss": loss != "l2sq", "tv": bool(tv), "ema": ema != 0.99,
             "stop": stop != "auto", "init": init != "auto", "warm": warm is not None,
             "net": net is not None}
    return [name for name, used in given.items() if used]


def resolve_prior(prior, op, **options):
    """``auto`` -> the operator's prior (``auto_prior``), or ``dip`` when ``options`` ask for
    something only the networks do (``--loss l1`` for impulse noise, say); an explicit
    ``sparse`` or ``denoiser`` with such options is an error, not a silent ignore.

    Example:
        >>> resolve_prior("auto", O.Denoising()), resolve_prior("auto", O.Denoising(), loss="l1")
        ('denoiser', 'dip')
    """
    used = network_options(**options)
    if prior == "auto":
        choice = auto_prior(op)
        return "dip" if choice in FIXED_PRIORS and used else choice
    if prior in FIXED_PRIORS and used:
        raise ValueError(f"{', '.join(used)} apply to the network priors; the {prior} prior "
                         "takes iters, noise_level and max_seconds (use prior dip).")
    return prior


def _estimable_noise(op, y) -> float | None:
    """The noise level read off ``y`` where that is trustworthy, else None.

    The wavelet estimate reads noise off the finest detail band, which is trustworthy for a
    noisy or a blurred image (blur leaves no fine detail but the noise); in a downsampled
    image or one with holes that band holds texture and edges too.
    """
    if isinstance(op, (O.Denoising, O.Blur)) and isinstance(y, torch.Tensor) and y.ndim == 4 \
            and min(y.shape[-2:]) >= 16:
        return estimate_noise(y)
    return None


def _stopping(stop: str, noise_level, op, y) -> tuple[str, float | None]:
    """Resolve ``auto``: the discrepancy rule where the noise level is known or estimable
    (``_estimable_noise``), else ES-WMV."""
    if stop != "auto":
        return stop, noise_level
    if noise_level is not None:
        return "discrepancy", noise_level
    estimate = _estimable_noise(op, y)
    return ("discrepancy", estimate) if estimate is not None else ("wmv", None)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a clear error for an unusable device."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device '{device}'; use auto, cpu or cuda.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu.")
    return dev


def _as_batch(y, name: str = "y"):
    """Check an observation: a ``(B, ...)`` tensor or a tuple of them, finite."""
    parts = y if isinstance(y, tuple) else (y,)
    for part in parts:
        if not isinstance(part, torch.Tensor) or not part.is_floating_point():
            raise ValueError(f"{name} must be a floating-point torch.Tensor (or a tuple of them).")
        if part.ndim < 2:
            raise ValueError(f"{name} must have a batch axis: (B, C, H, W) images or (B, m) vectors.")
        if not torch.isfinite(part).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
    return y


def _item(y, b: int):
    return tuple(p[b : b + 1] for p in y) if isinstance(y, tuple) else y[b : b + 1]


def solve(
    y,
    op,
    prior: str = "auto",
    *,
    iters: int | None = None,
    lr: float | None = None,
    loss: str = "l2sq",
    tv: float = 0.0,
    ema: float = 0.99,
    stop: str = "auto",
    noise_level: float | None = None,
    patience: int = 300,
    window: int = 100,
    init: str = "auto",
    warm: int | None = None,
    keep_observed: bool | None = None,
    max_seconds: float | None = None,
    shape: tuple | None = None,
    net: NetConfig | None = None,
    truth: torch.Tensor | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
) -> Result:
    """Recover images ``x`` from observations ``y = op(x) + noise`` with a generative prior.

    Args:
        y: observations ``(B, ...)`` — images ``(B, C, H, W)`` or vectors ``(B, m)``.
        op: an ``operators.Operator`` or any differentiable callable ``x -> y``.
        prior: ``auto`` (default: the best measured prior for the operator, see
            ``auto_prior``; ``dip`` instead of ``denoiser`` when a network-only option such
            as ``loss`` or ``lr`` is given), ``denoiser`` (the shipped trained CNN denoiser:
            one pass for denoising, plug-and-play splitting for any other linear operator),
            ``dip`` (deep image prior, skip net), ``decoder`` (deep decoder),
            ``sparse`` (patch dictionaries: K-SVD denoising, coupled-dictionary
            super-resolution, plug-and-play K-SVD for any other linear operator), or a
            trained prior: a ``.pt`` file from ``python -m invprior.train`` or the object
            ``invprior.trained.load_prior`` returns (latent-space solve, CSGM); a denoiser
            file from ``python -m invprior.train --kind denoiser`` runs as ``denoiser``.
        iters: iteration cap (default 2000; 3000 for inpainting, where the holes keep
            improving long after the observed pixels are fitted: 33.1 dB at 2000, 33.6 at
            3000 on the 50 % camera case). For the plug-and-play priors: their
            splitting iterations (default 32).
        lr: Adam learning rate (default per prior, 0.01).
        loss: ``l2sq`` (default), ``l2``, ``l1`` or ``huber`` (robust to impulse noise).
        tv: weight of a total-variation penalty on the image (default 0).
        ema: output averaging factor; the estimate is the moving average of the outputs.
        stop: early-stopping rule, none needs the clean image: ``discrepancy`` (stop when
            the residual reaches the noise level), ``wmv`` (windowed output variance,
            ES-WMV), ``none``, or ``auto`` (default): discrepancy when the noise level is
            given, or estimated from ``y`` for denoising and deblurring; else wmv.
        noise_level: std of the noise in ``y`` if known (else estimated where possible).
        shape: image shape ``(C, H, W)``; default inferred from ``op`` and ``y``.
        init: how to use a cheap classical estimate of ``x`` (``classical.initial_estimate``):
            ``warm`` (first fit the output to it for ``warm`` steps, default
            ``min(300, iters // 5)``), ``guide`` (feed it to
            the network as extra input channels), ``none``, or ``auto`` (default: warm for
            the built-in denoise/inpaint/blur/downsampling operators, else none).
        keep_observed: make the result reproduce a noise-free ``y`` exactly: inpainting
            returns the observed pixels unchanged and fills only the holes (as inpainting
            tools do), super-resolution ends with a back-projection (default: yes unless
            ``noise_level`` > 0 says ``y`` is noisy).
        max_seconds: stop each solve after this many seconds (default: no limit).
        net: network size (default: per prior and device, see ``priors.default_config``).
        truth: clean images, only to report PSNR per iteration (never used to fit).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        seed: each call starts from fresh weights drawn from this seed.
        progress: show a progress bar.

    Returns:
        ``Result`` with ``image`` ``(B, C, H, W)``, losses, PSNRs, the iteration returned
        and why it stopped. Batch items are solved one after another, each from fresh
        weights, and ``Result.items`` holds one ``Result`` each.

    Example:
        >>> import operators as O
        >>> x = torch.rand(1, 1, 32, 32)
        >>> A = O.Inpainting(shape=(1, 32, 32), missing=0.5)
        >>> out = solve(A(x), A, iters=5, progress=False)
        >>> out.image.shape
        torch.Size([1, 1, 32, 32])
    """
    dev = resolve_device(device)
    y = _as_batch(y)
    op = as_operator(op)
    weights = {}
    if isinstance(prior, (str, os.PathLike)) and str(prior).endswith(".pt"):
        from .learned.denoiser import is_denoiser_file

        if is_denoiser_file(prior):  # made by python -m invprior.train --kind denoiser
            prior, weights = "denoiser", {"weights": prior}
    prior = resolve_prior(prior, op, lr=lr, loss=loss, tv=tv, ema=ema, stop=stop, init=init,
                          warm=warm, net=net)
    if prior in FIXED_PRIORS:
        restore = solve_sparse if prior == "sparse" else solve_denoiser
        return restore(y, op, iters=iters, noise_level=noise_level, device=dev, seed=seed,
                       truth=truth, progress=progress, max_seconds=max_seconds,
                       keep_observed=keep_observed, **weights)
    if not isinstance(prior, str) or prior.endswith(".pt"):  # a trained prior (or its file)
        from .trained import load_prior

        model = load_prior(prior) if isinstance(prior, (str, os.PathLike)) else prior
        return model.solve(
            y, op, iters=iters, lr=lr, loss=loss, noise_level=noise_level, truth=truth,
            device=dev, seed=seed, progress=progress,
        )
    if prior not in PRIORS:
        raise ValueError(
            f"unknown prior '{prior}'; choose one of auto, denoiser, {', '.join(PRIORS)}, sparse, "
            "or a trained prior file PATH.pt."
        )
    first = y[0] if isinstance(y, tuple) else y
    shape = tuple(shape) if shape is not None else tuple(op.input_shape_for(tuple(first.shape)))
    config = net or default_config(prior, dev)
    cfg = LoopConfig(
        iters=iters if iters is not None else (3000 if isinstance(op, O.Inpainting) else 2000),
        lr=lr if lr is not None else config.lr, loss=loss, tv=tv, ema=ema,
        stop=stop, noise_level=noise_level, window=window, patience=patience,
        progress=progress, max_seconds=max_seconds,
    )
    if cfg.iters < 1 or not cfg.lr > 0 or not 0 <= ema < 1:
        raise ValueError("iters must be >= 1, lr > 0 and ema in [0, 1).")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}.")
    if truth is not None and tuple(truth.shape[1:]) != shape:
        raise ValueError(f"truth has shape {tuple(truth.shape)}, the images are {shape}.")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss '{loss}'; choose one of {', '.join(LOSSES)}.")
    if stop not in RULES:
        raise ValueError(f"unknown stopping rule '{stop}'; choose one of {', '.join(RULES)}.")
    if init == "auto":
        init = "warm" if isinstance(op, ESTIMATED) else "none"
    if init not in INITS:
        raise ValueError(f"unknown init '{init}'; choose one of {', '.join(INITS)}.")
    op = op.to(dev) if isinstance(op, Operator) else op
    start = time.perf_counter()
    items = []
    batch = first.shape[0]
    for b in range(batch):
        target = _item(y, b)
        target = tuple(t.to(dev) for t in target) if isinstance(target, tuple) else target.to(dev)
        estimate = initial_estimate(op, target) if init != "none" else None
        if init != "none" and estimate is None:
            raise ValueError(f"no classical estimate is known for {type(op).__name__}; use init='none'.")
        model = make_prior(
            prior, shape, config=config, seed=seed, device=dev,
            guide=estimate if init == "guide" else None,
        )
        if init == "warm":
            steps = min(300, cfg.iters // 5) if warm is None else warm
            warm_start(model, estimate, steps, cfg.lr, progress=progress)
        cfg.stop, cfg.noise_level = _stopping(stop, noise_level, op, target)
        cfg.finish, cfg.trace_finish = _keep_observation(op, target, keep_observed, noise_level)
        ref = truth[b : b + 1].to(dev) if truth is not None else None
        cfg.desc = f"{prior} {b + 1}/{batch}" if batch > 1 else prior
        items.append(fit(model, op, target, cfg, truth=ref))
    result = items[0] if batch == 1 else Result(
        image=torch.cat([r.image for r in items]), losses=items[0].losses,
        psnrs=items[0].psnrs, iteration=items[0].iteration, iterations=items[0].iterations,
        stop_reason=items[0].stop_reason,
    )
    result.items = items
    result.seconds = time.perf_counter() - start
    return result


def _keep_observation(op, y, keep: bool | None, noise_level: float | None):
    """For noise-free observations: a function that makes an estimate reproduce ``y``.

    The generator fits ``y`` only approximately (it is small on purpose). When ``y`` is
    noise-free, the truth lies in ``{x : A x = y}`` and the orthogonal projection onto that
    set can only bring an estimate closer to it:

    * inpainting with a binary mask: put the observed pixels back (fills only the holes);
    * downsampling: back-projection ``x + A^+ (y - A x)`` (measured on the sr4 camera case:
      26.16 -> 26.33 dB).

    Soft masks, other operators and noisy observations keep the generator's image.
    Returns ``(finish, cheap)``: ``cheap`` says whether to apply it at every traced step.
    """
    if keep is None:
        keep = not (noise_level is not None and noise_level > 0)
    if not keep or not isinstance(y, torch.Tensor):
        return None, False
    if isinstance(op, O.Downsampling):
        return (lambda x: x + op.pinv(y - op(x), max_iter=20)), False
    if not isinstance(op, O.Inpainting):
        return None, False
    mask = op.mask.to(y)
    if mask.shape[0] != 1 or not ((mask == 0) | (mask == 1)).all():
        return None, False
    observed = mask.bool().expand_as(y)
    return (lambda x: torch.where(observed, y, x)), True


def solve_sparse(y, op, *, iters=None, noise_level=None, device="cpu", seed=0, truth=None,
                 progress=False, max_seconds=None, keep_observed=None) -> Result:
    """The classical patch prior behind ``solve(..., prior="sparse")``.

    K-SVD denoising (Elad & Aharon) for ``Denoising``; coupled-dictionary super-resolution
    (Yang et al.) for bicubic ``Downsampling``; plug-and-play K-SVD (``sparse.pnp``) for any
    other linear operator; a clear error for the rest.
    """
    from .sparse import pnp_restore, sparse_denoise, sparse_superres

    start = time.perf_counter()
    y, op = _one_tensor(y, op, iters, device, "sparse")
    if isinstance(op, O.Denoising):
        return _one_pass(sparse_denoise(y, noise_level, seed=seed).clamp(0, 1),
                         "K-SVD denoising (one pass)", truth, start)
    if isinstance(op, O.Downsampling) and op.filter == "bicubic":
        return _one_pass(sparse_superres(y, op.factor),
                         "coupled-dictionary super-resolution (one pass)", truth, start)

    def restore(target, level, ref):
        return pnp_restore(target, op, noise_level=level, seed=seed, truth=ref, progress=progress,
                           max_seconds=max_seconds, **({"iters": iters} if iters is not None else {}))

    return _solve_pnp(y, op, restore, "plug-and-play K-SVD", noise_level, truth, keep_observed,
                      start)


def solve_denoiser(y, op, *, iters=None, noise_level=None, device="cpu", seed=0, truth=None,
                   progress=False, max_seconds=None, keep_observed=None, weights=None) -> Result:
    """The trained CNN denoiser behind ``solve(..., prior="denoiser")`` (``invprior.learned``).

    One pass of the denoiser for ``Denoising`` (noise level given or estimated per image);
    plug-and-play splitting (``invprior.pnp``) with it for any other linear operator; a clear
    error for the rest. ``weights``: a denoiser file (default: the shipped one). Deterministic:
    ``seed`` is unused.
    """
    from .learned.denoiser import ASSET, CNNDenoiser
    from .pnp import pnp_restore

    start = time.perf_counter()
    y, op = _one_tensor(y, op, iters, device, "denoiser")
    denoise = CNNDenoiser(weights or ASSET, device=y.device)
    if isinstance(op, O.Denoising):
        levels = [noise_level] * y.shape[0] if noise_level is not None else estimate_sigma(y)
        image = torch.cat([denoise(y[b : b + 1], float(levels[b])) for b in range(y.shape[0])])
        return _one_pass(image.clamp(0, 1), "CNN denoiser (one pass)", truth, start)

    def restore(target, level, ref):
        return pnp_restore(target, op, denoise, noise_level=level, truth=ref, progress=progress,
                           max_seconds=max_seconds, desc="denoiser (plug-and-play)",
                           **({"iters": iters} if iters is not None else {}))

    return _solve_pnp(y, op, restore, "plug-and-play CNN denoiser", noise_level, truth,
                      keep_observed, start)


def _one_tensor(y, op, iters, device, prior: str):
    """Checks shared by the sparse and denoiser priors; ``(y, op)`` on ``device``."""
    if iters is not None and iters < 1:
        raise ValueError("iters must be >= 1.")
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"the {prior} prior takes one observation tensor, not a tuple.")
    if not isinstance(op, O.LinearOperator):
        raise ValueError(
            f"the {prior} prior needs a linear operator, got {type(op).__name__}; use --prior dip."
        )
    return y.to(device), op.to(device)


def _one_pass(image, what: str, truth, start: float) -> Result:
    result = Result(image=image, stop_reason=what, iterations=1, iteration=1)
    if truth is not None:
        result.psnrs = [psnr(image, truth.to(image.device))]
    result.items, result.seconds = [result], time.perf_counter() - start
    return result


def _solve_pnp(y, op, restore, what: str, noise_level, truth, keep_observed, start) -> Result:
    """Run ``restore(target, level, ref) -> PnPResult`` on each batch item of ``y``."""
    runs = []
    for b in range(y.shape[0]):
        ref = truth[b : b + 1].to(y.device) if truth is not None else None
        target = y[b : b + 1]
        # per item, as the network path's stopping rule reads it
        level = noise_level if noise_level is not None else (_estimable_noise(op, target) or 0.0)
        run = restore(target, level, ref)
        # The last data step reproduces y only up to its small damping: put it back exactly.
        finish, _ = _keep_observation(op, target, keep_observed, noise_level)
        runs.append(run._replace(image=finish(run.image)) if finish else run)
    iterations = runs[0].iterations
    result = Result(image=torch.cat([r.image for r in runs]),
                    stop_reason=f"{what}, {iterations} iterations",
                    iterations=iterations, iteration=iterations)
    if truth is not None:
        result.psnrs = runs[0].psnrs or [psnr(result.image, truth.to(y.device))]
    result.items, result.seconds = [result], time.perf_counter() - start
    return result
