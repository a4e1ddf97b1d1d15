"""The ``denoiser`` prior: the shipped CNN denoiser, one pass or plug-and-play.

``invprior/weights/denoiser.pt`` was trained by ``train.ASSET_COMMANDS["denoiser-base"]``
(5.5 minutes on one GPU) on scikit-image photographs other than the benchmark and held-out
images (``cnn.patches.HELD_OUT``), then fine-tuned by ``train.ASSET_COMMANDS["denoiser"]``
(55 minutes on 2 CPU cores) on the 400 gray images DnCNN was trained on, keeping 60 % of
the first weights (``--keep-start``). It denoises gray images. Colour images go through
``invprior/weights/denoiser_colour.pt`` (``train.ASSET_COMMANDS["denoiser-colour"]``): the same
network, widened to see all three opponent channels while it denoises one of them
(``cnn.planes``) and fine-tuned from the gray weights on the colour photos of CBSD432.
Where the operator is the identity (denoising) one pass of the
network restores the image; for any other linear operator it is the denoiser of
plug-and-play splitting (``priors.pnp``). One pass uses the same two networks trained longer
(``invprior/weights/denoiser_one_pass.pt``, ``denoiser_colour_one_pass.pt``: made by
``train.ASSET_COMMANDS["denoiser-one-pass-l2"]`` and ``["denoiser-colour-one-pass-l2"]``), better at
white noise and worse inside plug-and-play (``cnn.checkpoint.ONE_PASS_ASSETS``).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import torch
from tqdm.auto import tqdm

import operators as O

from ..checks import cudnn_tuned, resolve_device, resolve_precision
from ..cnn.checkpoint import ASSET, COLOUR_ASSET, ONE_PASS_ASSETS, load_denoiser
from ..cnn.planes import apply, join, split
from ..console import bar_options
from ..noise_level import estimate_sigma
from ..result import Result
from ..tiles import tile_count, tile_pixels, tile_side, tiled
from .base import ItemwisePrior, in_parts, iterates_reason, said_level, visible_noise
from .dihedral import check_turns, self_ensemble
from .luma import LumaDenoiser
from .pnp import PlugAndPlay

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# a denoising whose noise is at most half an 8-bit level gives y back as it is: the network
# changed it more than the noise had (a clean field of 30 stars, told 0: 45.19 dB, peaks cut
# to 0.88; at 0.5/255 told, 128x128 camera / astronaut / coffee / text / moon from 54.1-54.4
# dB: +0.22 / -1.88 / -0.59 / -0.09 / +1.03; at 0.9/255 each gains, +0.3 to +2.4)
NOTHING_TO_REMOVE = 0.5 / 255


class CNNDenoiser:
    """``denoise(x, sigma)``: the trained denoiser on ``(B, C, H, W)`` images, one (opponent)
    channel at a time (``cnn.planes``), with one noise level for all or one per image.

    By default gray images go through the shipped gray network and RGB images through the
    shipped colour one (guided by all three channels). A file given as ``path`` serves the
    images it was trained for: a gray network every image (RGB one channel at a time, unguided),
    a colour network RGB images only.

    As many channels go through the network at once as the memory budget allows
    (``invprior.tiles.tile_pixels``: a fixed budget on a CPU, half the free memory on CUDA);
    an image larger than the budget is denoised on overlapping tiles, so that the peak memory
    does not grow with the image. The network runs channels-last, in ``precision``
    (autocast); on CUDA with cuDNN's autotuner.

    Args:
        path: a denoiser file (default: the shipped pair, plug-and-play's, or with
            ``one_pass`` the pair trained longer for one-pass denoising:
            ``cnn.checkpoint.ONE_PASS_ASSETS`` says why there are two). device. precision: ``"float32"``, ``"bfloat16"``,
            ``"float16"`` (autocast on any device; a call whose half-precision output is not
            finite runs again in float32), or ``"auto"``: float16 on CUDA, float32 on a CPU.
            Measured through CPU autocast (the same number formats): float16 changes the
            PSNR by at most 0.001 dB (one pass, camera and astronaut at sigma 15/25/50;
            plug-and-play deblurring of astronaut and coffee), bfloat16 by up to 0.016 dB.
            On a CPU with AMX tiles (Xeon Sapphire Rapids and later) ``"bfloat16"`` runs
            the network about 3x faster (2 cores, one pass, sigma 25: Kodak24 0.84 instead
            of 2.6 s per image; Set12 0.18 instead of 0.49 s, -0.006 dB); "auto"
            keeps float32 on every CPU, so that a result does not depend on the processor.
        tile: tile side in pixels (default: from the memory budget).

    Example:
        >>> d = CNNDenoiser()
        >>> d(torch.rand(2, 3, 24, 24), torch.tensor([0.1, 0.2])).shape
        torch.Size([2, 3, 24, 24])
    """

    # its output is finite (half precision that overflowed runs again in float32) and shaped
    # as its input: plug-and-play checks it at the first call only (pnp_restore)
    checks_its_output = True
    # activation memory of the shipped U-Net per pixel of one channel at float32, measured
    # (peak RSS): 720 to 820 bytes at 1024x1024 and 512x512
    BYTES_PER_PIXEL = 850

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu",
                 precision: str = "auto", tile: int | None = None, one_pass: bool = False):
        self.device = torch.device(device)
        precision = resolve_precision(precision, self.device, PRECISIONS, on_cuda="float16")
        self.path = path
        shipped = ONE_PASS_ASSETS if one_pass else (ASSET, COLOUR_ASSET)
        nets = [load_denoiser(p) for p in (shipped if path is None else [path])]
        # channels-last on every device: oneDNN's convolutions too run faster on NHWC (a
        # batch of four 256x256 planes on 2 CPU threads: 0.50 s against 0.72-0.80 s)
        nets = [n.to(self.device, memory_format=torch.channels_last) for n in nets]
        self.gray = next((n for n in nets if not n.config["guides"]), None)
        self.colour = next((n for n in nets if n.config["guides"]), None)
        self.dtype = PRECISIONS[precision]
        bytes_per_pixel = self.BYTES_PER_PIXEL * (2 if self.dtype != torch.float32 else 4) / 4
        self.pixels = tile_pixels(self.device, bytes_per_pixel)
        self.tile = tile or tile_side(self.pixels)

    def __call__(self, x: torch.Tensor, sigma, progress: bool = False,
                 desc: str = "denoiser") -> torch.Tensor:
        """Denoise ``x (B, C, H, W)`` at ``sigma`` (a float or ``(B,)``); ``progress``: a bar
        over the network's calls (tiles, or chunks of the batch) when there are several (a
        12-megapixel photo takes minutes on a CPU)."""
        b, c, h, w = x.shape
        guided = c == 3 and self.colour is not None
        net = self.colour if guided else self.gray
        if net is None:
            raise ValueError(f"the denoiser '{self.path}' was trained for colour (RGB) images; "
                             f"an image of {c} channel(s) needs a gray one.")
        inputs, levels = split(x, sigma, guided)
        per_call = max(1, self.pixels // (h * w))
        chunks = list(zip(inputs.split(per_call), levels.split(per_call)))
        calls = len(chunks) * tile_count(h, w, self.tile)
        shown = bar_options(progress and calls > 1)
        with tqdm(total=calls, desc=desc, unit="tile", **shown) as bar, torch.inference_mode(), \
                cudnn_tuned(self.device):
            out = torch.cat([tiled(lambda t, s=s: self._net(net, t, s), chunk, tile=self.tile,
                                   done=bar.update) for chunk, s in chunks])
        # a plain tensor again: inference tensors cannot enter autograd later
        return join(out.clone(), c)

    def _net(self, net, inputs: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        if self.dtype == torch.float32:
            return apply(net, inputs, levels)
        with torch.autocast(self.device.type, dtype=self.dtype):
            out = apply(net, inputs, levels).float()
        if not torch.isfinite(out).all():
            return apply(net, inputs, levels)  # half precision overflowed: this call in float32
        return out


class CNNPrior(ItemwisePrior):
    """The ``denoiser`` prior (see the module docstring).

    Args:
        weights: a denoiser file from ``python -m invprior.train --kind denoiser``, for every
            use (default: the shipped pairs, one for one-pass denoising and one for
            plug-and-play: ``cnn.checkpoint.ONE_PASS_ASSETS`` says why).
        iters: plug-and-play iterations (default 32; 16 for a noisy blur). self_ensemble: one-pass denoising
            returns the mean of the image denoised in this many (1 to 8) of the square's
            rotations and flips, that many times the time (``dihedral.self_ensemble``: Set12
            sigma 25, 30.52 dB at 1, 30.60 at 8; plug-and-play turns the image at each
            iteration instead, for free). keep_observed, max_seconds: as
            ``PlugAndPlay``. shape: image shape ``(C, H, W)`` for an operator that cannot tell
            it from ``y``. device. seed: unused (the prior is deterministic); taken so
            that one command line serves every prior.

    Example:
        >>> import operators as O
        >>> prior = CNNPrior()
        >>> prior.restore(torch.rand(2, 1, 24, 24), O.Denoising(), noise_level=0.1).iterations
        1
    """

    name = "denoiser"
    needs_linear = False  # the data step linearises a nonlinear operator (pnp.data_step)

    def __init__(self, weights: str | Path | None = None, *, iters: int | None = None,
                 keep_observed: bool | None = None, max_seconds: float | None = None,
                 shape: tuple | None = None, device="auto", seed: int = 0,
                 self_ensemble: int = 1):
        self.turns = check_turns(self_ensemble)  # before any weights load: a bad value fails fast
        self.device = resolve_device(device)
        self.shape = tuple(shape) if shape is not None else None  # ItemwisePrior's checks
        self.weights, self.iters = weights, iters
        self._split = dict(keep_observed=keep_observed, max_seconds=max_seconds, shape=shape)
        self._splitting(lambda x, sigma: x, "")  # bad settings fail here, as before
        if weights is not None:
            self.denoise  # a bad file fails here, as before

    @cached_property
    def denoise(self) -> CNNDenoiser:
        """plug-and-play's network (loaded at first use: one-pass denoising never needs it)"""
        return CNNDenoiser(self.weights, device=self.device)

    def _splitting(self, denoise, label):  # turned each iteration: free, and measured better
        return PlugAndPlay(denoise, iters=self.iters, turns=True, device=self.device,
                           batched=True, name=self.name, label=label, **self._split)

    @cached_property
    def splitting(self) -> PlugAndPlay:
        return self._splitting(self.denoise, "plug-and-play CNN denoiser")

    @cached_property
    def luma_splitting(self) -> PlugAndPlay | None:
        # noise-free colour super-resolution: the gray network on the luma (priors.luma)
        return (self._splitting(LumaDenoiser(self.denoise), "plug-and-play CNN "
                                "denoiser on the luma")
                if self.denoise.gray is not None else None)

    @cached_property
    def one_pass(self) -> CNNDenoiser:
        """The denoiser of one-pass denoising: the shipped pair trained for it, or ``weights``."""
        return self.denoise if self.weights else CNNDenoiser(device=self.device, one_pass=True)

    @classmethod
    def from_file(cls, path, **options) -> "CNNPrior":
        """The prior of a denoiser checkpoint (its ``format`` is ``invprior-denoiser``)."""
        return cls(path, **options)

    def check(self, op) -> str | None:
        # (in check, not restore: the command line asks once before a folder's files)
        if self.turns > 1 and not getattr(op, "is_identity", False):
            return ("self_ensemble is for one-pass denoising (operators.Denoising, --op denoise); "
                    "plug-and-play turns the image at each iteration already.")
        return (iterates_reason(self.name, op, self.iters, self._split["max_seconds"])
                or super().check(op))

    def restore_one(self, y, op, *, noise_level, truth, progress, desc) -> Result:
        return self.restore_together(y, op, noise_level=noise_level, truth=truth,
                                     progress=progress, desc=desc)[0]

    def restore_together(self, y, op, *, noise_level, truth, progress, desc) -> list:
        if isinstance(y, tuple):  # a Stack's measurements of one image (plug-and-play's)
            return self.splitting.restore_together(y, op, noise_level=noise_level, truth=truth,
                                                   progress=progress, desc=desc, one=True)
        if not getattr(op, "is_identity", False):
            # noise-free colour super-resolution runs on the luma; one whose y shows noise
            # (given, or read: base.visible_noise) on all three channels, which it must clean
            luma = [isinstance(op, O.Downsampling) and y.shape[1] == 3
                    and self.luma_splitting is not None
                    and not visible_noise(op, y[b : b + 1], noise_level) for b in range(len(y))]
            if len(set(luma)) > 1:  # some of each: each part as alone
                return in_parts(luma, y, lambda _, y, truth, start: self.restore_together(
                    y, op, noise_level=noise_level, truth=truth, progress=progress,
                    desc=desc), truth, op=op)
            together = (self.luma_splitting if luma[0] else self.splitting).restore_together
            return together(y, op, noise_level=noise_level, truth=truth, progress=progress,
                            desc=desc, one=len(y) == 1)
        # one pass for the whole batch, each image at its own (estimated) noise level
        read = [noise_level] * len(y) if noise_level is not None else estimate_sigma(y)
        levels = torch.tensor(read, dtype=y.dtype)
        turn = iter(range(1, self.turns + 1))

        def denoise(x):  # one bar per turn, named for it when there are several
            name = desc if self.turns == 1 else f"{desc} {next(turn)}/{self.turns}"
            return self.one_pass(x, levels, progress, name)

        quiet = [float(level) <= NOTHING_TO_REMOVE for level in read]
        out = y.clamp(0, 1) if all(quiet) else self_ensemble(denoise, y, self.turns).clamp(0, 1)
        how = "one pass" if self.turns == 1 else f"mean of {self.turns} turns"
        return [Result(y[b : b + 1].clamp(0, 1), iteration=1, iterations=1,
                       noise_level=float(read[b]),
                       stop_reason=f"y as it is (noise at most half an 8-bit level"
                                   f"{said_level(read[b], noise_level)}): nothing to remove")
                if quiet[b] else
                Result(out[b : b + 1], iteration=1, iterations=1, noise_level=float(read[b]),
                       stop_reason=f"CNN denoiser ({how}{said_level(read[b], noise_level)})")
                for b in range(len(y))]
