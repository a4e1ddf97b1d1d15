"""The trained-generator prior: a GLO/PCA generator from ``python -m invprior.train`` whose
latent code (then, where held-out measurements say it helps, its weights) is fitted to a new
observation (CSGM; ``invprior.glo.search``).

Example:
    >>> import operators as O
    >>> from invprior.weights import weight_file
    >>> prior = LatentPrior.from_file(weight_file("prior_digits.pt"), iters=30, adapt=False)
    >>> A = O.CompressedSensing(40, (1, 16, 16), seed=0)
    >>> prior.restore(A(prior.trained.sample(2)), A).image.shape
    torch.Size([2, 1, 16, 16])
"""

from __future__ import annotations

import functools

import torch

import operators as O
from operators.base import as_shape

from ..checks import check_lr, prepare, resolve_device, torch_as_restoring_needs
from ..glo import TrainedPrior, load_prior
from ..metrics import psnr
from ..operator_checks import users_operator
from ..result import Result
from .base import served, keeper, lent, said_level, visible_noise
from .window import EMPTY, inpainting_window, restore_in_window

__all__ = ["LatentPrior"]


# a noise level read off y counts this many times over where the residual is kept off
# (noise_kept_off): read 10 % low (a held-out face at 0.3, read 0.27), the noise put back
# had cost 1.4 dB; 10 faces, levels read, against the level as read: 37.65 / 28.47 /
# 25.16 / 21.78 dB against 38.71 / 28.78 / 25.50 / 21.73 at 0.01 / 0.05 / 0.1 / 0.3, and
# 33.04 / 28.15 / 25.10 / 21.78 with nothing put back
READ_MARGIN = 1.12
# a noise level told for a trained prior's denoising counts unless y reads this many times
# more (faces' readings run 1.3-1.8 times high at 0.01, their texture, and within 15 % from
# 0.05 up). 10 held-out faces at 0.1: told 0.05, 25.18 dB (kept off at 0.05: 22.01 on 6 of
# them, 25.54 with nothing put back); told 0.08, 24.78; told right, 25.74 (25.15 with
# nothing put back); at 0.01 told right, 40.34 (33.21; 1.5 here: 39.66)
UNDERSTATED = 1.8


class LatentPrior:
    """A ``TrainedPrior`` with its solver settings (those of ``TrainedPrior.restore``:
    ``iters``, ``lr``, ``loss``, ``restarts``, ``adapt``, ...), as a prior.

    ``max_seconds`` is not taken: the latent search of a small generator takes seconds.
    ``keep_observed`` as the other priors: a noise-free inpainting keeps its observed pixels
    and super-resolution ends with a back-projection (``base.keeper``), which the
    generator's image alone does not (faces, a 10x10 hole: pixels outside it off by up to
    34/255; x4: the result downsampled off the input by up to 21/255).
    """

    name = "trained"

    def __init__(self, trained: TrainedPrior, *, device="auto", seed: int = 0,
                 keep_observed: bool | None = None, shape=None, **settings):
        """``shape``: taken where it is the generator's (the README's custom-operator call
        passes one); another is refused, saying what the generator makes (the operator's
        check had said "pass shape=", and this prior had then refused to take one)."""
        made = tuple(trained.shape)
        if shape is not None and tuple(as_shape(shape, "shape"))[-3:] != made:
            c, h, w = made
            raise ValueError(f"this trained prior makes {w}x{h} {'gray' if c == 1 else 'colour'} "
                             f"images (its generator's size), not shape={tuple(shape)}: measure "
                             f"images of its size, or train a prior at yours "
                             f"(python -m invprior.train --size N).")
        self.trained, self.device, self.seed = trained, resolve_device(device), seed
        self.keep_observed = keep_observed
        self.settings = {k: v for k, v in settings.items() if v is not None}
        for name in ("lr", "adapt_lr"):  # (here: a folder run says a bad --lr once)
            if name in self.settings:
                check_lr(self.settings[name], name)

    @property
    def shape(self) -> tuple:
        """The image shape ``(C, H, W)`` the generator makes (what a custom operator takes)."""
        return tuple(self.trained.shape)

    @classmethod
    def from_file(cls, path, **options) -> "LatentPrior":
        """The prior of a checkpoint whose ``format`` is ``invprior-trained-prior``."""
        return cls(load_prior(path), **options)

    def check(self, op) -> str | None:
        return self.trained.check(op)

    @torch_as_restoring_needs()
    def restore(self, y, op, *, noise_level: float | None = None, truth=None,
                progress: bool = False) -> Result:
        op = O.as_operator(op)
        with lent(op, self.device):  # (the search moves it to the device; back after)
            return self._restore(y, served(op), noise_level, truth, progress)

    def _restore(self, y, op, noise_level, truth, progress, read: bool = False) -> Result:
        """``restore`` inside the device's loan; ``read``: ``noise_level`` was read off
        ``y``, not told."""
        y, noise_level, truth = prepare(y, op, noise_level, truth,
                                        self.shape if users_operator(op) else None)
        if (isinstance(y, torch.Tensor) and tuple(y.shape[1:]) == self.trained.shape
                and inpainting_window(op, y, [noise_level or 0.0], self.keep_observed) == EMPTY):
            # a mask that hides nothing: the observation is the image, which the search
            # would only approximate (faces: 4.8 s, off by up to 0.0014)
            items = restore_in_window(None, EMPTY, y, op)
            return Result.combine(items, seconds=0.0, prior=self.name)
        if noise_level is None and isinstance(y, torch.Tensor):
            # read off y where the operator shows it, as every other prior does (faces,
            # denoising at 0.3: 20.34 dB taken as unknown, 22.78 at the level)
            levels = [visible_noise(op, y[b : b + 1]) for b in range(len(y))]
            if any(level is not None for level in levels):
                return self._each_level(y, op, levels, truth, progress)
        result = self.trained.restore(y, op, noise_level=noise_level, truth=truth,
                                      device=self.device, seed=self.seed, progress=progress,
                                      **self.settings)
        finish, _ = keeper(op, y, self.keep_observed, noise_level)
        if finish is None and type(op) is O.Denoising and noise_level:
            # (a level too low puts noise back, taken as signal: a read one counts
            # READ_MARGIN times over; a told one gives way to y's reading where that is
            # UNDERSTATED times more: half the noise told had cost 3.5 dB)
            levels = [noise_level * READ_MARGIN] * len(y) if read else [
                _told_or_read(noise_level, visible_noise(op, y[b : b + 1])) for b in range(len(y))]
            finish = functools.partial(noise_kept_off, y, level=levels)
        if finish is not None:
            result.image = finish(result.image.to(y.device)).clamp(0, 1)
            for b, item in enumerate(result.items):
                item.image = result.image[b : b + 1]
                if truth is not None and item.psnrs:  # the last PSNR: that of the image returned
                    item.psnrs[-1] = psnr(item.image, truth[b : b + 1].to(item.image))
        for item in [result, *result.items]:
            item.noise_level = noise_level
        return result

    def _each_level(self, y, op, levels: list, truth, progress) -> Result:
        """``restore`` of each observation at the noise level read off it (``levels``)."""
        items = []
        for b, level in enumerate(levels):
            one = self._restore(y[b : b + 1], op, level,
                                None if truth is None else truth[b : b + 1], progress,
                                read=True).items[0]
            if level:
                one.stop_reason += said_level(level, None)
            items.append(one)
        return Result.combine(items, seconds=sum(i.seconds for i in items), prior=self.name)


def _told_or_read(told: float, read: float | None) -> float:
    """The noise level to keep off a trained prior's residual at: ``told``, or ``read`` off
    y where that is ``UNDERSTATED`` times more."""
    return read if read is not None and read > UNDERSTATED * told else told


def noise_kept_off(y: torch.Tensor, image: torch.Tensor, level) -> torch.Tensor:
    """The denoised ``image`` ``(B, C, H, W)`` with the share of its residual ``y - image``
    that is signal put back: ``w = 1 - level**2 / mean(residual**2)`` per item, 0 where the
    residual is no larger than the noise (James-Stein shrinkage of the residual). A
    generator makes only images near what it was trained on, so at low noise its image is
    further from the truth than ``y`` is (10 held-out faces, given levels: 33.35 dB from
    40.10 at 0.01, 33.52 from 46.12 at 0.005); with what it missed put back, 40.40 and
    46.19, and it gains at every level (35.03 / 29.02 / 25.54 / 23.03 dB against 31.90 /
    28.06 / 24.85 / 22.96 at 0.02 / 0.05 / 0.1 / 0.2). A local weight (a 5x5 or 9x9
    window) gained up to 0.3 dB more at mid levels but lost up to 1.2 dB at 0.2.

    Example:
        >>> y = torch.full((1, 1, 4, 4), 0.5)
        >>> noise_kept_off(y, torch.zeros(1, 1, 4, 4), level=0.1)[0, 0, 0, 0]  # w = 1 - 0.01/0.25
        tensor(0.4800)
    """
    residual = y.to(image) - image
    power = residual.square().mean(dim=tuple(range(1, y.dim())), keepdim=True)
    levels = torch.as_tensor(level, dtype=image.dtype, device=image.device).reshape(-1, *[1] * (y.dim() - 1))
    weight = (1 - levels.square() / power.clamp(min=1e-12)).clamp(min=0)
    return image + weight * residual
