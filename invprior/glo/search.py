"""Solving with a trained prior: CSGM latent search (Bora et al. 2017), then image-adaptive
weights (``adapt.py``).

Stage 1 searches the code only:

    min_z  l(y, A g(z))  +  lam * (z - mu)^T Sigma^-1 (z - mu)  +  l1 * |z|_1

(``z_reg="gaussian"``; ``"sphere"`` instead keeps ``z`` on the sphere of the training codes'
radius, ``"none"`` adds nothing). All restarts of all observations form one batch; each
observation keeps the restart with the lowest data loss. A generator trained on a few
examples cannot represent every image exactly, so stage 2 (``adapt``) then fits the
weights too, with a small learning rate, validated on held-out measurements.

With ``adapt``, both stages leave the held-out share of the measurements out (so that it
validates honestly); where stage 2 is not accepted, a short latent search from the kept
code on all measurements gives the latent-only result.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn

from operators import Blur, Operator, as_operator
from operators.base import as_switch

from ..checks import (batch_size, check_lr, check_observation, is_number, item as _item,
                      resolve_device, to_device, whole_number)
from ..console import stopped_by
from ..messages import error_text
from ..fit import Loop
from ..losses import data_loss
from ..result import Result, counted
from .adapt import adapt_one, flat, split_measurements
from .pca import cholesky

Z_REGS = ("gaussian", "sphere", "none")


def restore_latent(prior, y, op, *, iters: int | None = None, lr: float | None = None,
                 loss: str = "l2sq", restarts: int = 8, z_reg: str = "gaussian",
                 lam: float | None = None, l1: float = 0.0, adapt: bool = True,
                 adapt_iters: int = 500, adapt_lr: float | None = None, holdout: float = 0.1,
                 noise_level: float | None = None, truth: torch.Tensor | None = None,
                 device: str | torch.device = "cpu", seed: int = 0,
                 progress: bool = True) -> Result:
    """Recover ``x`` from ``y = op(x) + noise`` with a trained prior (see the module docstring).

    Args:
        prior: a ``TrainedPrior``.
        y: observations ``(B, ...)`` (or a tuple of them for a stacked operator).
        op: an ``operators.Operator`` or any differentiable callable taking ``(N, C, H, W)``
            batches of the prior's image shape.
        iters: Adam steps of the latent search (default 300).
        lr: its learning rate (default 0.05).
        loss: data loss, ``l2sq`` (default), ``l2``, ``l1`` or ``huber``.
        restarts: random starts per observation (the first one is the mean code).
        z_reg: ``gaussian`` (Mahalanobis distance to the training codes), ``sphere``
            (codes kept on their sphere) or ``none``.
        lam: weight of the Gaussian penalty. Default: the MAP weight ``s**2 / M`` for ``M``
            measurements per observation, where ``s**2`` adds to the noise variance
            (``noise_level**2``, 0 if unknown) the prior's representation error as the
            operator sees it: images the prior did not see lie off its range by about
            ``prior.rep_error`` per pixel, and that misfit reaches ``y`` like noise (as in
            probabilistic PCA). Without it the penalty is far too weak at small ``M``.
        l1: weight of an ``l1`` penalty on ``z`` (deep sparse coding; default 0).
        adapt: run stage 2 (weights + code, validated on held-out measurements).
        adapt_iters, adapt_lr: its iteration cap and learning rate (default 1e-4).
        holdout: share of the measurements held out to validate stage 2 (0, or fewer than
            10 responsive measurements: no validation; stage 2 then runs to the
            discrepancy level or ``adapt_iters`` and its last iterate is returned).
        noise_level: std of the noise in ``y`` if known (sets ``lam``; stage 2 also stops
            at the discrepancy level).
        truth: clean images ``(B, C, H, W)``, only to report PSNR per iteration.
        device: ``cpu``, ``cuda`` or ``auto``.
        seed: seed of the random restarts and of the held-out draw.
        progress: show progress bars.

    Returns:
        ``Result``; ``items`` holds one per observation, whose ``losses``/``psnrs`` run
        through stage 1 (the kept restart) and then stage 2.

    Example:
        >>> import operators as O
        >>> from invprior.glo import load_prior
        >>> from invprior.weights import weight_file
        >>> prior = load_prior(weight_file("prior_digits.pt"))
        >>> x = prior.sample(1)
        >>> A = O.CompressedSensing(40, prior.shape, seed=0)
        >>> out = restore_latent(prior, A(x), A, iters=100, adapt_iters=50, progress=False)
        >>> out.image.shape
        torch.Size([1, 1, 16, 16])
    """
    start = time.perf_counter()
    _check_settings(iters=iters, restarts=restarts, adapt=adapt, adapt_iters=adapt_iters,
                    holdout=holdout)
    dev = resolve_device(device)
    common = dict(loss=loss, z_reg=z_reg, lam=lam, l1=l1, noise_level=noise_level,
                  truth=truth, device=dev, progress=progress)
    if not adapt:
        found = latent_search(prior, y, op, iters=iters, lr=lr, restarts=restarts, seed=seed,
                              **common)
        found.seconds = time.perf_counter() - start
        return found
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}.")
    decoder = copy.deepcopy(prior.decoder).to(dev)
    y, op, truth = _prepare(prior, decoder, y, op, truth, dev)
    with torch.no_grad():
        probe = decoder(prior.mean.to(dev)[None])
    fitted, held = split_measurements(op, probe, holdout, seed)
    found = latent_search(prior, y, op, iters=iters, lr=lr, restarts=restarts, seed=seed,
                          measurements=fitted if len(held) else None, **common)
    if found.interrupted:
        return found
    adapted = adapt_weights(prior, found, y, op, iters=adapt_iters, lr=adapt_lr, loss=loss,
                            fitted=fitted, held=held, noise_level=noise_level, truth=truth,
                            device=dev, progress=progress)
    # (stage 2 not kept: the returned iteration is one of stage 1's)
    rejected = [b for b, r in enumerate(adapted.items) if r.iteration <= found.items[b].iterations]
    if rejected and len(held) and not adapted.interrupted:
        # stage 2 not accepted: the latent-only result, now from all measurements
        codes = torch.cat([found.items[b].code for b in rejected])
        pick = torch.tensor(rejected, device=dev)
        sub = tuple(p[pick] for p in y) if isinstance(y, tuple) else y[pick]
        refined = latent_search(prior, sub, op, iters=max(1, (iters or 300) // 3), lr=lr,
                                restarts=1, start=codes, seed=seed,
                                **dict(common, truth=None if truth is None else truth[pick],
                                       progress=False))
        for i, b in enumerate(rejected):
            item, again = adapted.items[b], refined.items[i]
            # its traces run on through the refinement, whose image is the one returned
            # (the returned iteration had been stage 1's last: 23.59 dB there, 26.36 returned)
            item.image = again.image
            item.losses, item.psnrs = item.losses + again.losses, item.psnrs + again.psnrs
            item.iterations += again.iterations
            item.iteration = item.iterations - again.iterations + again.iteration
            item.stop_reason += "; latent code refined on all measurements"
    return Result.combine(adapted.items, seconds=time.perf_counter() - start, prior="trained")


def _check_settings(*, iters, restarts, adapt, adapt_iters, holdout) -> None:
    """``ValueError`` in one sentence for a setting of the wrong kind (``adapt="no"`` meant
    yes; ``restarts=2.5`` and ``"4"`` failed inside torch; ``iters=0`` searched nothing)."""
    for name, value in (("iters", iters), ("restarts", restarts), ("adapt_iters", adapt_iters)):
        if value is not None:
            whole_number(name, value, 1)
    as_switch(adapt, "adapt")  # (a check: restore_latent reads its own argument)
    if not is_number(holdout) or not 0 <= holdout < 1:
        raise ValueError(f"holdout is the share of measurements held out, from 0 to below 1, "
                         f"got {holdout!r}.")


def latent_search(prior, y, op, *, iters: int | None = None, lr: float | None = None,
                  loss: str = "l2sq", restarts: int = 8, z_reg: str = "gaussian",
                  lam: float | None = None, l1: float = 0.0,
                  noise_level: float | None = None, truth: torch.Tensor | None = None,
                  device: str | torch.device = "cpu", seed: int = 0, progress: bool = True,
                  measurements: torch.Tensor | None = None,
                  start: torch.Tensor | None = None) -> Result:
    """Stage 1 (CSGM); arguments as ``restore_latent``. Each item's kept code ``(1, k)`` is
    in ``result.items[b].code``.

    ``measurements``: flat indices of the measurements to fit (default: all).
    ``start``: starting codes ``(B, k)`` instead of random restarts (``restarts`` = 1).

    Example:
        >>> import operators as O
        >>> from invprior.glo import load_prior
        >>> from invprior.weights import weight_file
        >>> prior = load_prior(weight_file("prior_digits.pt"))
        >>> A = O.Inpainting(shape=prior.shape, missing=0.7)
        >>> found = latent_search(prior, A(prior.sample(3)), A, iters=50, progress=False)
        >>> found.image.shape, found.items[0].code.shape
        (torch.Size([3, 1, 16, 16]), torch.Size([1, 32]))
    """
    began = time.perf_counter()
    dev = resolve_device(device)
    iters = 300 if iters is None else iters
    lr = 0.05 if lr is None else lr
    # (one sentence each: "iters must be >= 0, restarts >= 1 and lr > 0" named --iters for a
    # bad --lr at the command line)
    for name, value, least in (("iters", iters, 0), ("restarts", restarts, 1)):
        if value < least:
            raise ValueError(f"{name} must be >= {least}, got {value!r}.")
    check_lr(lr)
    if z_reg not in Z_REGS:
        raise ValueError(f"unknown z_reg '{z_reg}'; use one of {', '.join(Z_REGS)}.")
    for name, value in (("lam", lam), ("l1", l1), ("noise_level", noise_level)):
        # (NaN passed "< 0": l1=nan froze the search at a starting code, unsaid)
        if value is not None and not 0 <= value < math.inf:
            raise ValueError(f"{name} must be >= 0 and finite, got {value!r}.")
    decoder = copy.deepcopy(prior.decoder).to(dev)
    y, op, truth = _prepare(prior, decoder, y, op, truth, dev)
    mean, cov = prior.mean.to(dev), prior.cov.to(dev)
    batch = batch_size(y)
    if measurements is None:
        def fit_loss(x, target):
            return data_loss(op(x), target, loss)
        count = sum(math.prod(s) for s in _shapes(y))
    else:
        idx = measurements.to(dev)
        def fit_loss(x, target):
            return data_loss(flat(op(x))[:, idx], flat(target)[:, idx], loss)
        count = len(idx)
    if lam is None:
        with torch.no_grad():
            probe = decoder(mean[None])
        noise = (noise_level or 0.0) ** 2 + prior.rep_error * _gain(op, probe, seed)
        lam = noise / count
    precision = torch.cholesky_inverse(cholesky(cov.cpu())).to(dev)
    radius = prior.radius

    # all restarts of all observations as one batch
    if start is not None:
        restarts, z0 = 1, start.to(dev).float().reshape(batch, prior.latent)
    else:
        g = torch.Generator().manual_seed(seed)
        # the same restarts for every observation, so that each is restored as alone (drawn
        # per item, a digit's restarts depended on its place in the batch: 44.07 dB alone,
        # 49.58 and 47.17 as the 2nd and 3rd of three copies)
        eps = torch.randn(1, restarts, prior.latent, generator=g).expand(batch, -1, -1).clone()
        eps[:, 0] = 0  # the first restart starts at the mean code
        z0 = mean + (eps @ cholesky(cov.cpu()).T).to(dev).reshape(batch * restarts, -1)
    if z_reg == "sphere":
        z0 = radius * nn.functional.normalize(z0, dim=1)
    z = z0.clone().requires_grad_(True)
    target = _rows(y, restarts)
    ref = _rows(truth, restarts) if truth is not None else None
    best = {"objective": torch.full((batch * restarts,), math.inf, device=dev), "z": z0.clone(),
            "step": torch.zeros(batch * restarts, dtype=torch.long, device=dev)}
    losses, errors = [], []
    loop = Loop([z], lr=lr, iters=iters, progress=progress, desc="latent")

    def forward(step):
        x = decoder(z)
        data = fit_loss(x, target)
        objective = data
        if z_reg == "gaussian" and lam > 0:
            d = z - mean
            objective = objective + lam * ((d @ precision) * d).sum(1)
        if l1:
            objective = objective + l1 * z.abs().sum(1)
        # keep each row's best code (Adam does not descend monotonically); all on the device,
        # read back once at the end: a mask's assignment or a .cpu() per step syncs a GPU
        with torch.no_grad():
            better = objective.detach() < best["objective"]
            best["objective"] = torch.where(better, objective.detach(), best["objective"])
            best["z"] = torch.where(better[:, None], z.detach(), best["z"])
            best["step"] = torch.where(better, len(losses), best["step"])  # (0-based)
            losses.append(data.detach())
            if ref is not None:
                errors.append((x.detach() - ref).square().flatten(1).mean(1))
        if step % 20 == 0:
            loop.bar.set_postfix(loss=f"{data.min().item():.2e}", refresh=False)
        return objective.sum()

    def after(step):
        if z_reg == "sphere":
            with torch.no_grad():
                z.copy_(radius * nn.functional.normalize(z, dim=1))

    _, _, interrupted = loop.run(forward, after)
    done = len(losses)
    losses = torch.stack(losses).cpu() if losses else torch.zeros(0, batch * restarts)
    errors = torch.stack(errors).cpu() if errors else torch.zeros(0, batch * restarts)
    reason = (f"latent search: interrupted ({stopped_by()}) after {counted(done)}" if interrupted
              else f"latent search: {counted(iters)}, best of {counted(restarts, 'restart')}")
    best_z = best["z"]
    with torch.no_grad():
        images = decoder(best_z)
        data = fit_loss(images, target).view(batch, restarts)
        pick = data.argmin(1) + restarts * torch.arange(batch, device=dev)
    items = []
    for b in range(batch):
        row = int(pick[b])
        # the iteration of the best code, which is returned (the last had been said: the
        # trace there read 17.33 dB, the image 21.76)
        item = Result(image=images[row : row + 1].clamp(0, 1),
                      losses=losses[:, row].tolist(),
                      psnrs=[_psnr(e) for e in errors[:, row].tolist()],
                      iteration=int(best["step"][row]) + 1 if done else 0, iterations=done,
                      stop_reason=reason, interrupted=interrupted)
        item.code = best_z[row : row + 1].detach()
        items.append(item)
    return Result.combine(items, seconds=time.perf_counter() - began, prior="trained")


def adapt_weights(prior, found: Result, y, op, *, iters: int = 500, lr: float | None = None,
                  loss: str = "l2sq", fitted: torch.Tensor | None = None,
                  held: torch.Tensor | None = None, noise_level: float | None = None,
                  truth: torch.Tensor | None = None, device: str | torch.device = "cpu",
                  progress: bool = True) -> Result:
    """Stage 2 for every item of ``found`` (a ``latent_search`` result); see ``adapt.py``.

    ``iters``/``lr`` are ``restore_latent``'s ``adapt_iters``/``adapt_lr`` (default 1e-4);
    ``fitted``/``held``: flat measurement indices to fit and to validate on
    (``adapt.split_measurements``; default: fit all, validate on none).
    """
    began = time.perf_counter()
    dev = resolve_device(device)
    lr = 1e-4 if lr is None else lr
    if iters < 1 or not lr > 0:
        raise ValueError("adapt_iters must be >= 1 and adapt_lr > 0.")
    decoder = copy.deepcopy(prior.decoder).to(dev)
    y, op, truth = _prepare(prior, decoder, y, op, truth, dev)
    if fitted is None:
        fitted = torch.arange(flat(_item(y, 0)).shape[1])
    held = torch.zeros(0, dtype=torch.long) if held is None else held
    items = []
    for b, first in enumerate(found.items):
        second = adapt_one(
            decoder, first.code.to(dev), _item(y, b), op, fitted.to(dev), held.to(dev),
            iters=iters, lr=lr, loss=loss, noise_level=noise_level, progress=progress,
            truth=truth[b : b + 1] if truth is not None else None,
            desc=f"adapt {b + 1}/{len(found.items)}" if len(found.items) > 1 else "adapt",
        )
        items.append(Result(
            image=second.image, losses=first.losses + second.losses,
            psnrs=first.psnrs + second.psnrs,
            # (stage 2 not kept, iteration 0: stage 1's returned one, not its last)
            iteration=first.iterations + second.iteration if second.iteration else first.iteration,
            iterations=first.iterations + second.iterations, stop_signal=second.stop_signal,
            stop_reason=f"{first.stop_reason}; weight adaptation: {second.stop_reason}",
            interrupted=second.interrupted,
        ))
        if second.interrupted:  # Ctrl-C: the rest keep their latent-search images
            items += found.items[b + 1:]
            break
    return Result.combine(items, seconds=time.perf_counter() - began + found.seconds,
                          prior="trained")


def _rows(y, reps: int):
    """Repeat every batch item ``reps`` times (restarts next to each other)."""
    if isinstance(y, tuple):
        return tuple(p.repeat_interleave(reps, 0) for p in y)
    return y.repeat_interleave(reps, 0)


def _shapes(y) -> list:
    return [tuple(p.shape[1:]) for p in (y if isinstance(y, tuple) else (y,))]


def _prepare(prior, decoder, y, op, truth, dev):
    """Checked observation, operator and truth on ``dev``."""
    y = check_observation(y)
    op = as_operator(op)
    if isinstance(op, Operator):
        op = op.to(dev)
    y = to_device(y, dev)
    with torch.no_grad():
        probe = decoder(prior.mean.to(dev)[None])
    _check_fit(prior, op, _item(y, 0), probe)
    batch = batch_size(y)
    if truth is not None:
        if tuple(truth.shape) != (batch, *prior.shape):
            raise ValueError(
                f"truth has shape {tuple(truth.shape)}, expected {(batch, *prior.shape)}.")
        truth = truth.to(dev)
    return y, op, truth


def _check_fit(prior, op, y, probe: torch.Tensor) -> None:
    """``ValueError`` unless ``op`` takes the prior's images and gives ``y``'s shape."""
    try:
        with torch.no_grad():
            out = op(probe)
    except Exception as err:  # a custom operator may raise anything for a wrong size
        raise ValueError(
            f"the operator cannot take this prior's {prior.shape} images "
            f"({error_text(err, 150)}); use a prior trained for the "
            f"image's size and channels."
        ) from None
    if _shapes(out) != _shapes(y) and _images(out, y):  # said in plain words: a photo
        made, seen = _shapes(out)[0], _shapes(y)[0]
        through = ("" if made == tuple(prior.shape) else
                   f", observed through the operator as {image_size(made)}")
        # a valid-border blur's y is its image less the kernel's reach: a photo of the
        # prior's own size is then one it cannot make, which a circular border keeps
        valid = (" (a blur with border='circular' keeps the image's size)"
                 if isinstance(op, Blur) and op.border == "valid" else "")
        raise ValueError(
            f"this prior makes {image_size(prior.shape)} images (width x height){through}, "
            f"but the observation is {image_size(seen)}; restore an observation of {image_size(made)}"
            f"{valid}, or use prior='denoiser' (any size)."
        )
    if _shapes(out) != _shapes(y):
        raise ValueError(
            f"the operator turns this prior's {prior.shape} images into measurements of shape "
            f"{_shapes(out)}, but y has shape {_shapes(y)} per item; y and the operator do "
            "not fit this prior."
        )


def _images(out, y) -> bool:
    """Whether the operator's output and ``y`` are one image each ``(C, H, W)`` of gray or
    colour, not measurement vectors."""
    shapes = _shapes(out) + _shapes(y)
    return len(shapes) == 2 and all(len(s) == 3 and s[0] in (1, 3) for s in shapes)


def image_size(shape) -> str:
    """An image shape ``(C, H, W)`` in words, width first as image tools say it.

    Example:
        >>> image_size((1, 48, 64)), image_size((3, 16, 16))
        ('64x48 gray', '16x16 colour')
    """
    c, h, w = shape
    return f"{w}x{h} {'gray' if c == 1 else 'colour'}"


def _gain(op, x: torch.Tensor, seed: int, scale: float = 1e-2) -> float:
    """Mean squared response of the measurements that react to white image noise, per unit
    noise variance (``n / m`` for a Gaussian ``N(0, 1/m)`` matrix, 1 for a mask, about the
    sum of squared filter taps for downsampling); linearised at ``x`` for nonlinear ops."""
    # a seed of its own: probes drawn like an operator's own random matrix would align with it
    g = torch.Generator().manual_seed(7_919 + seed)
    delta = scale * torch.randn((4, *x.shape[1:]), generator=g).to(x)
    with torch.no_grad():
        r = flat(op(x.expand_as(delta) + delta)) - flat(op(x.expand_as(delta)))
    active = r.abs() > 1e-6 * scale
    return float(r[active].square().mean() / scale**2) if active.any() else 0.0


def _psnr(mse: float) -> float:
    return math.inf if mse <= 0 else -10 * math.log10(mse)
