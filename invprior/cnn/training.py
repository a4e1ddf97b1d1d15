"""Train the plug-and-play denoiser: ``python -m invprior.train --kind denoiser``.

Each step takes a minibatch of clean patches (a random flip/rotation of a pool cut once
from ``patches.training_images``, or from the images of a folder: ``data``), adds white
Gaussian noise of a random level ``sigma ~ U(0, sigma_max)`` per patch, and fits
``net(noisy, sigma)`` to the clean patch in l1 (DRUNet's loss; or l2: ``loss``) with Adam and a cosine
learning rate. With ``colour`` the patches are RGB and the network is the guided colour
denoiser: each patch gives three rows, one per opponent channel, each with the noisy
patch's three channels as guides (``cnn.planes``, exactly as at restore time); a gray
``start`` is widened by ``unet.with_guides``, so the run starts from its per-channel result.
On CUDA, and on a CPU with AMX tiles (Intel Sapphire Rapids and later), it runs in bfloat16
autocast with channels-last tensors: on a 2-core Xeon with AMX a colour step (24 patches of
64x64) takes 0.8 s instead of 4.3 s in float32. The checkpoint is written
atomically every ``checkpoint_seconds`` and at the end, so a stopped run keeps its last weights.

With ``task="inpaint"`` the run trains the inpainter instead (``cnn.inpainter``): each patch
loses random holes (``random_holes``), the network sees their harmonic fill and the hole
level map, and the loss is the squared error inside the holes.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

import operators as O

from ..checks import check_diverged, cpu_has_amx, cudnn_tuned
from ..console import STOPPING, bar_options, say, total_in_time
from .checkpoint import FORMAT, VERSION, load_denoiser
from .inpainter import inpaint, network_inputs, random_holes
from .patches import (HELD_OUT, TRAIN_IMAGES, dihedral, folder_images, held_out_image, patch_pool,
                      training_images)
from .planes import GUIDES, apply, join, split
from .unet import DenoiserUNet, with_guides


GUIDE_LR_SCALE = 10.0  # the guide convolution's learning rate, in units of ``lr``


@dataclass
class DenoiserConfig:
    """Settings of a denoiser training run (see ``python -m invprior.train --help``)."""

    widths: tuple = (32, 64, 128, 192)
    blocks: int = 2
    steps: int = 20000
    batch: int = 64  # as the CLI's --batch default
    patch: int = 96
    pool: int = 20000  # patches cut once; each step flips/rotates a random batch of them
    lr: float = 1e-3  # Adam; cosine decay to lr / 100
    sigma_max: float = 55 / 255
    seed: int = 0
    max_seconds: float | None = None  # the schedule follows max(step/steps, time/max_seconds)
    checkpoint_seconds: float = 60.0
    data: str | None = None  # a folder of training images (default: the skimage photos)
    start: str | None = None  # a denoiser checkpoint to fine-tune (its widths and blocks)
    # the final weights: keep_start * start + (1 - keep_start) * fine-tuned (Wortsman et al.,
    # "Robust fine-tuning of zero-shot models", 2022: the interpolation keeps most of what
    # the fine-tune gains and of what the start was good at)
    keep_start: float = 0.0
    colour: bool = False  # RGB patches from ``data``; the guided colour denoiser
    task: str = "denoise"  # or "inpaint": the one-pass inpainter (``cnn.inpainter``)
    # the denoising loss: l1 as DRUNet (None: l1), or l2 (squared error, what PSNR measures)
    # as DnCNN, e.g. to fine-tune an l1-trained network for PSNR; the inpainter has its own
    loss: str | None = None

    @property
    def guides(self) -> int:
        """Guide planes of the network this run trains (``DenoiserUNet(guides=...)``)."""
        return GUIDES if self.colour else 0


def train_denoiser(cfg: DenoiserConfig, *, out: str | Path, device="cpu", progress=True,
                   meta: dict | None = None) -> dict:
    """Train a ``DenoiserUNet`` on noisy skimage patches; write and return its checkpoint.

    Example:
        >>> import tempfile
        >>> cfg = DenoiserConfig(widths=(8, 16), blocks=1, steps=2, batch=2, patch=32, pool=4)
        >>> ck = train_denoiser(cfg, out=Path(tempfile.mkdtemp()) / "d.pt", progress=False)
        >>> ck["step"]
        2
    """
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    device = torch.device(device)
    # bfloat16 autocast and channels-last where the hardware multiplies bfloat16 natively
    fast = device.type == "cuda" or (device.type == "cpu" and cpu_has_amx())
    if cfg.colour and not cfg.data:
        raise ValueError("the colour denoiser trains on a folder of colour photographs (--data).")
    if cfg.task == "inpaint" and cfg.loss is not None:
        raise ValueError("the inpainter's loss is its own (squared error inside the holes); "
                         "leave loss unset.")
    if cfg.task == "denoise":
        cfg.loss = cfg.loss or "l1"
        if cfg.loss not in ("l1", "l2"):
            raise ValueError(f"the denoiser's loss is l1 or l2, got '{cfg.loss}'.")
    if cfg.task not in ("denoise", "inpaint") or (cfg.task == "inpaint" and cfg.colour):
        raise ValueError("the inpainter is gray (colour images go through it channel by "
                         "channel); task is 'denoise' or 'inpaint'.")
    net = _load_start(cfg.start, cfg) if cfg.start else DenoiserUNet(1, cfg.widths, cfg.blocks, cfg.guides)
    net = net.to(device)
    if fast:
        net = net.to(memory_format=torch.channels_last)
    # a short run needs no more patches than it will draw
    images = folder_images(cfg.data, cfg.colour) if cfg.data else training_images()
    pool = patch_pool(images, min(cfg.pool, cfg.steps * cfg.batch), cfg.patch, cfg.seed).to(device)
    # the guide convolution starts at zero and has to grow from nothing: at the body's
    # learning rate its weights were still ~0.0005 after 340 steps (the head's: 0.11)
    named = list(net.named_parameters())
    optim = torch.optim.Adam([
        {"params": [p for n, p in named if not n.startswith("guide.")], "scale": 1.0},
        {"params": [p for n, p in named if n.startswith("guide.")], "scale": GUIDE_LR_SCALE},
    ], lr=cfg.lr)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    # draws the host needs (each step's flip/rotation, the inpainter's holes) come from a CPU
    # generator: one drawn on the GPU and read back would stall every step on a sync
    host_gen = torch.Generator().manual_seed(cfg.seed)
    losses, start, saved = [], time.perf_counter(), time.perf_counter()
    bar = tqdm(total=cfg.steps, desc=f"train {'inpainter' if cfg.task == 'inpaint' else 'denoiser'}",
               **bar_options(progress, leave=True))
    step, interrupted = 0, False
    while step < cfg.steps:
        elapsed = time.perf_counter() - start
        done = max(step / cfg.steps, elapsed / cfg.max_seconds if cfg.max_seconds else 0.0)
        if done >= 1:
            break
        try:
            with cudnn_tuned(device):  # one patch size all run long: tune once
                loss = _step(net, optim, pool, cfg, gen, host_gen, fast, done)
        except KeyboardInterrupt:  # Ctrl-C: finish with the weights so far, as at the time limit
            interrupted = True
            break
        step += 1
        if step % 50 == 0 or step == cfg.steps:
            losses.append(float(loss))
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        bar.update()
        if cfg.max_seconds:
            elapsed = time.perf_counter() - start
            total_in_time(bar, step, cfg.steps, cfg.max_seconds - elapsed, elapsed / step)
        if time.perf_counter() - saved > cfg.checkpoint_seconds:
            _save(out, net, cfg, step, losses, start, meta, done=False)
            saved = time.perf_counter()
    bar.close()
    if interrupted:  # (the held-out score below takes seconds, and said nothing)
        say("interrupted: writing the weights so far...")
    # a second Ctrl-C in these seconds had lost every step of the run
    with _ctrl_c_ignored():
        if cfg.start is not None and cfg.keep_start > 0:
            _interpolate(net, _load_start(cfg.start, cfg), cfg.keep_start)
        score = held_out_inpaint_psnr if cfg.task == "inpaint" else held_out_psnr
        meta = dict(meta or {}, held_out_psnr=score(net.float().eval()), interrupted=interrupted)
        return _save(out, net, cfg, step, losses, start, meta, done=True)


@contextmanager
def _ctrl_c_ignored():
    """Ctrl-C, SIGTERM and SIGHUP (which the command takes as Ctrl-C) ignored inside, in the
    main thread (elsewhere no handler can be set: left as they are).

    Example:
        >>> with _ctrl_c_ignored():
        ...     signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        True
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = [getattr(signal, name) for name in ("SIGINT", *STOPPING) if hasattr(signal, name)]
    kept = {s: signal.signal(s, signal.SIG_IGN) for s in stops}
    try:
        yield
    finally:
        for s, handler in kept.items():  # (None: a handler set outside Python)
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


def _step(net, optim, pool, cfg: DenoiserConfig, gen, host_gen, fast: bool,
          done: float) -> torch.Tensor:
    """One optimizer step of ``train_denoiser`` at ``done`` (0 to 1) of the run; its loss."""
    for group in optim.param_groups:  # cosine from lr to lr / 100
        group["lr"] = group["scale"] * cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * done)))
    index = torch.randint(0, len(pool), (cfg.batch,), generator=gen, device=pool.device)
    clean = dihedral(pool[index], int(torch.randint(0, 8, (1,), generator=host_gen)))
    if cfg.task == "inpaint":
        loss = _inpaint_loss(net, clean, host_gen, fast)
    else:
        loss = _denoise_loss(net, clean, cfg, gen, fast)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    # read back only when kept (every 50 steps): a .item() per step would sync a GPU
    return loss.detach()


def _denoise_loss(net, clean, cfg: DenoiserConfig, gen, fast: bool) -> torch.Tensor:
    """l1 (or with ``cfg.loss == "l2"`` squared) error of denoising ``clean`` patches with
    noise of a random level each."""
    sigma = cfg.sigma_max * torch.rand(len(clean), generator=gen, device=clean.device)
    noise = torch.randn(clean.shape, generator=gen, device=clean.device)
    inputs, levels = split(clean + sigma.view(-1, 1, 1, 1) * noise, sigma, guided=cfg.colour)
    if fast:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with torch.autocast(clean.device.type, dtype=torch.bfloat16, enabled=fast):
        loss = F.mse_loss if cfg.loss == "l2" else F.l1_loss
        return loss(apply(net, inputs, levels).float(), split(clean, sigma)[0])


def _inpaint_loss(net, clean, mask_gen, fast: bool) -> torch.Tensor:
    """Mean squared error inside random holes of gray ``clean`` patches ``(N, 1, P, P)``."""
    size = clean.shape[-1]
    mask = torch.stack([random_holes(size, mask_gen) for _ in range(len(clean))])[:, None]
    mask = mask.to(clean.device)
    with torch.no_grad():
        fill, level = network_inputs(clean * mask, mask)
    if fast:
        fill = fill.contiguous(memory_format=torch.channels_last)
    with torch.autocast(clean.device.type, dtype=torch.bfloat16, enabled=fast):
        pred = net(fill, level).float()
    holes = 1 - mask
    return ((pred - clean) ** 2 * holes).sum() / holes.sum().clamp_min(1)


def held_out_inpaint_psnr(net) -> float:
    """PSNR inside the holes of ``net`` inpainting held-out coffee (256x256 gray, eight
    14-pixel scribbles, seed 0)."""
    x = held_out_image().to(next(net.parameters()).device)
    mask = O.scribble_mask((256, 256), 8, 14.0, seed=0).to(x)
    holes = mask < 0.5
    error = (inpaint(net, x * mask, mask, rotations=1) - x)[..., holes]
    return -10 * math.log10(float((error ** 2).mean()))


def held_out_psnr(net, sigma: float = 25 / 255) -> float:
    """PSNR of ``net`` denoising held-out coffee (256x256, gray or for a guided network RGB,
    noise ``sigma``, seed 0)."""
    from ..metrics import psnr

    guided = net.config["guides"] > 0
    device = next(net.parameters()).device
    x = held_out_image(colour=guided).to(device)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        inputs, levels = split(x + sigma * noise, sigma, guided)
        return psnr(join(apply(net, inputs, levels), x.shape[1]).clamp(0, 1), x)


def _load_start(path, cfg: DenoiserConfig) -> DenoiserUNet:
    """The network of the denoiser checkpoint ``path`` (for an inpainter, also an inpainter
    checkpoint: a run continued with new holes); its shape replaces ``cfg``'s."""
    net = load_denoiser(path, task=("denoise", "inpaint") if cfg.task == "inpaint" else "denoise")
    if cfg.guides and not net.config["guides"]:
        net = with_guides(net, cfg.guides)
    if net.config["guides"] != cfg.guides:
        wanted = ("an inpainter (which fills gray planes)" if cfg.task == "inpaint"
                  else "a gray denoiser")
        raise ValueError(f"'{path}' is a colour denoiser; {wanted} cannot start from it: give "
                         f"a gray one.")
    cfg.widths, cfg.blocks = tuple(net.config["widths"]), net.config["blocks"]
    return net.float().train().requires_grad_(True)


@torch.no_grad()
def _interpolate(net: DenoiserUNet, start: DenoiserUNet, keep: float) -> None:
    """``net``'s weights become ``keep * start + (1 - keep) * net``."""
    for mine, theirs in zip(net.state_dict().values(), start.state_dict().values()):
        mine.lerp_(theirs.to(mine), keep)


def _save(out, net, cfg, step, losses, start, meta, done):
    from ..io import write_torch

    # half precision halves the file; the weights are used in float32 after loading
    state = {k: v.detach().to("cpu", torch.float16) for k, v in net.state_dict().items()}
    images = [f"folder {cfg.data}"] if cfg.data else list(TRAIN_IMAGES)
    config = dict(asdict(cfg), widths=list(cfg.widths), images=images,
                  held_out=list(HELD_OUT), guides=net.config["guides"])
    ck = {"format": FORMAT, "version": VERSION, "config": config, "state_dict": state,
          "step": step, "done": done, "seconds": time.perf_counter() - start,
          "losses": torch.tensor(losses), "meta": dict(meta or {}, torch=str(torch.__version__))}
    check_diverged(ck, out)  # also weights beyond float16's range, inf in the file
    write_torch(out, ck)
    return ck
