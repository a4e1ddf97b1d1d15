"""GLO training (Bojanowski et al. 2017): learn decoder weights V and one code per image.

    min_{V, Z}  sum_i  l(x_i, g_V(z_i)),   each z_i on the unit sphere (or in the ball)

Minibatch steps update the weights with Adam and the codes of the batch with lazy
(sparse) Adam; after each step the batch's codes are projected back onto their set.
Codes start from PCA coefficients, so the decoder starts from the linear solution's
ordering of the images rather than from noise.

Distributed (``torchrun``): rank ``r`` of ``R`` owns images ``r, r + R, ...`` and their
codes. Every rank draws the same global shuffle, keeps its own members of each global
batch and scales its loss by ``R / batch``; DDP averages the weight gradients over ranks
(the codes' gradients, which stay local, are divided by ``R`` again), so each step is the
single-process step on the same global batch (up to float rounding).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .. import distributed as D
from ..console import bar_options, say, stops_held
from .checkpoint import FORMAT, VERSION, damaged, read_checkpoint, write_checkpoint
from .data import ImageSet, shard
from .decoders import KINDS, build_decoder
from .losses import LOSSES, reconstruction_loss
from .pca import CONSTRAINTS, pca_codes, principal_components, project, representation_error

PCA_SAMPLE = 2048  # images used for the PCA that initialises the codes
INITS = ("pca", "random")
SCHEDULES = ("constant", "cosine")
# settings that must not change when a run is resumed (steps and checkpoint_every may)
FIXED_ON_RESUME = ("kind", "latent", "width", "codes", "init", "loss", "batch", "lr",
                   "code_lr", "seed", "schedule", "shape", "images", "flips")
# what a user changes to change them (the config's keys had been said: "different shape");
# the others are their flags' names ("different lr" had been said)
RESUME_WORDS = {"shape": "image shape (--size, --channels)", "images": "image count",
                "flips": "--flips", "signature": "images (--data)"}
# the largest difference of an image's mean or std (ImageSet.signature) for the same image
SAME_IMAGES = 1e-3


def _same_images(saved, now: list) -> bool:
    """Whether two ``ImageSet.signature``s are of the same images (None, saved before
    there were signatures: taken as the same)."""
    if saved is None:
        return True
    a, b = torch.as_tensor(saved, dtype=torch.float64), torch.as_tensor(now, dtype=torch.float64)
    return a.shape == b.shape and bool((a - b).abs().max() <= SAME_IMAGES)


@dataclass
class TrainConfig:
    """Settings of a training run (see ``python -m invprior.train --help``)."""

    kind: str = "glo"  # glo (deep decoder) or linear (x = b + W z)
    latent: int = 32
    width: int = 64  # channels of the decoder's coarsest feature map
    codes: str = "sphere"  # sphere, ball or free
    init: str = "pca"  # pca or random starting codes
    loss: str = "l2"  # l2 or lap1
    steps: int = 3000
    batch: int = 64
    lr: float = 1e-3  # Adam, decoder weights
    code_lr: float = 1e-2  # sparse Adam, codes
    seed: int = 0
    checkpoint_every: int = 500  # steps between checkpoints (0: only the final one)
    schedule: str = "constant"  # learning rates: constant, or cosine decay to 1/100

    def rate(self, step: int) -> float:
        """Learning-rate factor at ``step``: 1, or a cosine from 1 down to 0.01 at the end.

        The decay lets the factorisation settle exactly (the linear test needs it), and
        it depends on the step and ``steps`` alone, so a run resumed with the same
        ``steps`` continues the same schedule; one given more stretches the decay over
        them (said at the resume: the rate then steps up).
        """
        if self.schedule == "constant" or self.steps <= 1:
            return 1.0
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / (self.steps - 1)))

    def check(self) -> None:
        """``ValueError`` with one sentence for the first bad setting."""
        choices = {"kind": KINDS, "codes": CONSTRAINTS, "init": INITS, "loss": LOSSES,
                   "schedule": SCHEDULES}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"unknown {key} '{getattr(self, key)}'; use one of {', '.join(allowed)}.")
        if self.latent < 1 or self.width < 1 or self.steps < 1 or self.batch < 1:
            # steps 0 wrote an untrained decoder, as if it were a prior
            raise ValueError("latent, width, steps and batch must be >= 1.")
        if not (self.lr > 0 and self.code_lr > 0) or self.checkpoint_every < 0:
            raise ValueError("learning rates must be > 0 and checkpoint_every >= 0.")


def _pca_sample(data: ImageSet, x_local: torch.Tensor, world: D.World):
    """A fixed sample of the images ``(S, n)`` (all when ``N <= PCA_SAMPLE``), gathered from
    the ranks that own them, and each one's group (an image and its mirror share one)."""
    count = len(data)
    sample = torch.linspace(0, count - 1, min(count, PCA_SAMPLE)).round().long().unique()
    full = x_local.new_zeros(len(sample), x_local[0].numel())
    owned = (sample % world.size) == world.rank
    full[owned] = x_local[sample[owned].to(x_local.device) // world.size].flatten(1)
    return D.all_sum(full, world).cpu(), sample % data.count


def _starting_codes(sample: torch.Tensor, x_local: torch.Tensor, cfg: TrainConfig,
                    world: D.World, count: int) -> torch.Tensor:
    """Codes of this rank's images ``(N_local, k)``: PCA coefficients or N(0, I), projected."""
    if cfg.init == "random":
        # one global draw, so that the shards together equal a single-process run
        z = torch.randn(count, cfg.latent, generator=torch.Generator().manual_seed(cfg.seed))
        return project(z[world.rank :: world.size], cfg.codes)
    mean, comps, var = principal_components(sample, cfg.latent)
    z = pca_codes(x_local.cpu(), mean, comps, var, cfg.latent)
    return project(z, cfg.codes)


def latent_statistics(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(k,)`` and covariance ``(k, k)`` of codes ``(N, k)`` (float64 inside).

    Example:
        >>> m, c = latent_statistics(torch.randn(500, 3))
        >>> c.shape
        torch.Size([3, 3])
    """
    z = codes.double()
    k = z.shape[1]
    cov = torch.cov(z.T).reshape(k, k) if z.shape[0] > 1 else torch.eye(k, dtype=z.dtype)
    return z.mean(0).float(), cov.float()


def _restore(saved: dict, decoder, codes, opt_w, opt_z, world: D.World, count: int) -> None:
    """Put the weights, this rank's codes and the optimizer state of the checkpoint ``saved``
    in place; ``RuntimeError`` (or ``KeyError`` ...) where one does not fit."""
    dev = codes.weight.device
    shape = (count, codes.weight.shape[1])
    if tuple(saved["codes"].shape) != shape:  # (copy_ spread one saved code over them all)
        raise RuntimeError(f"codes of shape {tuple(saved['codes'].shape)}, not {shape}")
    decoder.load_state_dict(saved["state_dict"])
    codes.weight.copy_(saved["codes"][world.rank :: world.size])
    if "optim" not in saved:
        return
    # periodic checkpoint: continue the optimizer exactly
    opt_w.load_state_dict(saved["optim"]["weights"])
    z = saved["optim"]["codes"]
    if z:
        opt_z.state[codes.weight] = {
            "step": z["step"],
            "exp_avg": z["exp_avg"][world.rank :: world.size].to(dev),
            "exp_avg_sq": z["exp_avg_sq"][world.rank :: world.size].to(dev),
        }
    # Adam loads moments of any shape; they failed only at the first step
    pairs = [(p, opt_w.state[p]) for p in decoder.parameters()]
    pairs += [(codes.weight, opt_z.state[codes.weight])]
    for param, state in pairs:
        for name in ("exp_avg", "exp_avg_sq"):
            if name in state and state[name].shape != param.shape:
                raise RuntimeError(f"optimizer {name} of shape {tuple(state[name].shape)} "
                                   f"for a parameter of {tuple(param.shape)}")


def train(data: ImageSet, cfg: TrainConfig, *, out: str | Path | None = None,
          resume: bool = False, device: str | torch.device = "cpu", progress: bool = True,
          meta: dict | None = None) -> dict:
    """Train a GLO (or linear) decoder on ``data``; return the final checkpoint dict.

    Under torchrun each rank runs this with the same arguments (see the module docstring).
    With ``out``, rank 0 writes a checkpoint every ``cfg.checkpoint_every`` steps (with the
    optimizer state, for ``resume``) and the final one (without it) to ``out``.
    ``resume=True`` continues from ``out``; only ``steps`` may differ from the saved run.

    Example:
        >>> data = ImageSet("digits")
        >>> ck = train(data, TrainConfig(latent=8, steps=10, width=16), progress=False)
        >>> ck["state_dict"]["fc.weight"].shape, ck["codes"].shape
        (torch.Size([256, 8]), torch.Size([1500, 8]))
    """
    from tqdm.auto import tqdm

    cfg.check()
    world = D.start(torch.device(device))
    dev, count = world.device, len(data)
    if count < max(2, world.size):
        raise ValueError(f"training needs at least 2 images and one per process, got {count} "
                         f"for {world.size} process{'es' * (world.size > 1)}.")
    config = {**asdict(cfg), "shape": list(data.shape), "images": count, "source": data.source,
              "size": data.size, "channels": data.channels, "flips": data.flips,
              "signature": data.signature()}
    saved = None
    if resume:
        if out is None or not Path(out).exists():
            raise ValueError(f"--resume needs an existing checkpoint at '{out}'.")
        saved = read_checkpoint(out)
        if saved["config"].get("closed_form"):
            raise ValueError(f"'{out}' is a PCA prior, computed in one pass; there is nothing "
                             "to resume.")
        missing = [k for k in ("codes", "step", "losses") if k not in saved]
        if missing:  # (what a prior needs is checked by read_checkpoint; a resume needs more)
            raise ValueError(f"the prior '{out}' is incomplete (missing {', '.join(missing)}).")
        if saved["step"] >= cfg.steps:
            raise ValueError(f"'{out}' has {saved['step']} steps already; --steps is the total "
                             "to reach, so pass more to continue it.")
        # (another folder of as many images had been resumed: each saved code then met
        # another image; a checkpoint from before the signature is not compared on it)
        changed = [k for k in FIXED_ON_RESUME if saved["config"].get(k) != config[k]
                   and (k in saved["config"] or k != "flips")]
        # (the images at another size differ too: only the size said, not --data as well)
        if "shape" not in changed and not _same_images(saved["config"].get("signature"),
                                                       config["signature"]):
            changed.append("signature")
        if changed:
            raise ValueError(
                f"cannot resume '{out}': it was trained with different "
                f"{', '.join(RESUME_WORDS.get(k, '--' + k.replace('_', '-')) for k in changed)} "
                "(only --steps and --checkpoint-every may change)."
            )
        was = TrainConfig(**{k: v for k, v in saved["config"].items()
                             if k in TrainConfig.__dataclass_fields__})
        if cfg.schedule == "cosine" and was.steps != cfg.steps and world.rank == 0:
            say(f"note: the cosine schedule now decays over {cfg.steps} steps, not "
                f"{was.steps}: its learning rate goes from {was.rate(saved['step'] - 1):.3g} "
                f"times --lr at step {saved['step']} to {cfg.rate(saved['step']):.3g}.")
    mine = shard(count, world.rank, world.size)
    x_local = data.load(mine).to(dev)
    torch.manual_seed(cfg.seed)  # the same starting weights on every rank (DDP also syncs them)
    decoder = build_decoder(config).to(dev)
    codes = nn.Embedding(len(mine), cfg.latent, sparse=True).to(dev)
    model = decoder
    if world.size > 1:
        model = nn.parallel.DistributedDataParallel(decoder)
    opt_w = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    opt_z = torch.optim.SparseAdam(codes.parameters(), lr=cfg.code_lr)
    history, first = [], 0
    with torch.no_grad():
        if saved is None:
            sample, groups = _pca_sample(data, x_local, world)
            codes.weight.copy_(_starting_codes(sample, x_local, cfg, world, count))
            if cfg.kind == "linear":
                # the optimal bias is the mean image; starting there spares the codes from
                # first having to explain the mean (which slows the factorisation a lot)
                decoder.bias.copy_(sample.mean(0).to(dev))
            images = sample.view(-1, *data.shape)
            config["rep_error"] = representation_error(images, cfg.latent, groups)
        else:
            try:
                _restore(saved, decoder, codes, opt_w, opt_z, world, count)
            except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as err:
                # (a file edited or cut short: a RuntimeError traceback, as load_prior's was)
                raise damaged(out, "weights, codes or optimizer state", err) from None
            history, first = saved["losses"].tolist(), int(saved["step"])
            config["rep_error"] = saved["config"].get("rep_error", 0.0)

    def snapshot(step: int, final: bool) -> dict:
        # collective: every rank must call it (codes are gathered from all shards)
        all_codes = D.gather_rows(codes.weight.detach(), count, world).cpu()
        mean, cov = latent_statistics(all_codes)
        ck = {"format": FORMAT, "version": VERSION, "config": config,
              "state_dict": {k: v.detach().cpu() for k, v in decoder.state_dict().items()},
              "latent_mean": mean, "latent_cov": cov, "codes": all_codes, "step": step,
              "done": final, "losses": torch.tensor(history, dtype=torch.float32),
              "meta": dict(meta or {}, torch=str(torch.__version__), world=world.size)}
        if not final:
            zs = opt_z.state.get(codes.weight, {})
            ck["optim"] = {"weights": opt_w.state_dict(), "codes": {
                "step": zs["step"],
                "exp_avg": D.gather_rows(zs["exp_avg"], count, world).cpu(),
                "exp_avg_sq": D.gather_rows(zs["exp_avg_sq"], count, world).cpu(),
            } if zs else {}}
        if out is not None and world.main:
            write_checkpoint(out, ck)
        D.barrier(world)
        return ck

    per_epoch = math.ceil(count / cfg.batch)
    perm, perm_epoch = None, -1
    bar = tqdm(range(first, cfg.steps), initial=first, total=cfg.steps, desc=f"train {cfg.kind}",
               **bar_options(progress and world.main))

    def _step(step: int) -> float:
        """One minibatch step of the weights and the codes; its loss (every rank's mean)."""
        nonlocal perm, perm_epoch
        epoch, pos = divmod(step, per_epoch)
        if epoch != perm_epoch:  # the same shuffle on every rank, and again after a resume
            g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            perm, perm_epoch = torch.randperm(count, generator=g), epoch
        batch = perm[pos * cfg.batch : (pos + 1) * cfg.batch]
        rows = (batch[batch % world.size == world.rank] // world.size).to(dev)
        # none of this rank's images in the minibatch (small --batch): a pass of weight
        # zero on one of them keeps DDP's gradient all-reduce in step (an empty batch
        # failed in the decoder), and no code moves
        idle = len(rows) == 0
        if idle:
            rows = torch.zeros(1, dtype=torch.long, device=dev)
        loss = reconstruction_loss(model(codes(rows)), x_local[rows], cfg.loss).sum()
        # DDP averages over ranks: the global mean
        loss = loss * (0.0 if idle else world.size / len(batch))
        for opt, base in ((opt_w, cfg.lr), (opt_z, cfg.code_lr)):
            for group in opt.param_groups:
                group["lr"] = base * cfg.rate(step)
        opt_w.zero_grad(set_to_none=True)
        opt_z.zero_grad(set_to_none=True)
        loss.backward()
        if idle:  # no code moves, but SparseAdam counts the step (its bias correction)
            codes.weight.grad = torch.sparse_coo_tensor(
                torch.zeros(1, 0, dtype=torch.long, device=dev),
                codes.weight.new_zeros(0, cfg.latent), codes.weight.shape)
        elif world.size > 1:  # the codes' gradients are not averaged by DDP: undo the scaling
            codes.weight.grad = codes.weight.grad / world.size
        opt_w.step()
        opt_z.step()
        if not idle:
            with torch.no_grad():
                codes.weight[rows] = project(codes.weight[rows], cfg.codes)
        return D.all_sum(loss.detach().reshape(1), world).item() / world.size

    steps_done = first
    try:
        for step in bar:
            with stops_held():  # (the step whole and counted, or not begun: --resume
                value = _step(step)  # continues exactly)
                history.append(value)
                done = steps_done = step + 1
            if step % 10 == 0:
                bar.set_postfix(loss=f"{value:.3e}", refresh=False)
            if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.steps:
                snapshot(done, final=False)
    except KeyboardInterrupt:
        if world.size > 1:  # a snapshot is collective: no rank may take it alone
            raise
        # Ctrl-C: the periodic checkpoint of the steps done, which --resume continues
        bar.close()
        meta = dict(meta or {}, interrupted=True)
        return snapshot(steps_done, final=False)
    bar.close()
    return snapshot(max(cfg.steps, first), final=True)
