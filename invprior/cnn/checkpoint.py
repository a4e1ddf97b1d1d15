"""Denoiser checkpoints: the format ``python -m invprior.train --kind denoiser`` writes, and
``load_denoiser``, which reads one back (``weights_only``) into a ``DenoiserUNet``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from ..checks import UNREADABLE_CHECKPOINT, built_for, check_finite_weights
from ..glo.checkpoint import FORMAT as TRAINED_FORMAT
from ..weights import weight_file
from .unet import DenoiserUNet

__all__ = ["FORMAT", "VERSION", "ASSET", "COLOUR_ASSET", "ONE_PASS_ASSETS", "load_denoiser"]

FORMAT = "invprior-denoiser"
VERSION = 1
# plug-and-play's networks (and any other use but one-pass denoising)
ASSET = weight_file("denoiser.pt")  # gray images (and colour ones channel by channel)
COLOUR_ASSET = weight_file("denoiser_colour.pt")  # RGB images: guided by all three channels
# One-pass denoising's networks: the two above trained 9.5 more minutes on a GPU on the same
# images, then fine-tuned in squared error on a CPU (train.ASSET_COMMANDS). They remove
# white gaussian noise better (Set12 +0.2 dB at sigma 15/25/50, Kodak24 +0.15 to +0.19) but
# serve plug-and-play worse, where the denoiser meets what a data step leaves, not white
# noise (deblur_camera -0.23 dB, Set12 deblurred -0.13 on average; colour: README command 1
# -0.47, overexposed_astronaut -0.33), so each use has its own pair.
ONE_PASS_ASSETS = (weight_file("denoiser_one_pass.pt"), weight_file("denoiser_colour_one_pass.pt"))
TASKS = {"denoise": "a denoiser (python -m invprior.train --kind denoiser)",
         "inpaint": "an inpainter (python -m invprior.train --kind inpainter)"}


def load_denoiser(path: str | Path = ASSET,
                  task: str | tuple[str, ...] = "denoise") -> DenoiserUNet:
    """A new copy of the denoiser saved at ``path``, in eval mode, on the CPU; ``ValueError``
    (one sentence) for a missing, corrupt or foreign file, or one trained for another
    ``task`` (``"denoise"``, or ``"inpaint"``: the inpainter, ``cnn.inpainter``; or a tuple
    of the tasks accepted).

    The file is read once per path and version on disk; each call builds its own network,
    so moving one copy to a GPU leaves the others where they are.

    Example:
        >>> load_denoiser().config["widths"]
        [32, 64, 128, 192]
    """
    path = Path(path).resolve()
    if path.is_dir():
        raise ValueError(f"cannot load the denoiser '{path}': it is a folder, not a .pt file.")
    if not path.is_file():
        raise ValueError(f"cannot load the denoiser '{path}': no such file.")
    config, state = _read(str(path), path.stat().st_mtime_ns)
    accepted = (task,) if isinstance(task, str) else task
    if config.get("task", "denoise") not in accepted:
        # (an unknown task, a file edited by hand, had read "a denoiser ..., not a denoiser")
        found = {"inpaint": "an inpainter checkpoint", "denoise": "a denoiser checkpoint"}.get(
            config.get("task", "denoise"), f"a checkpoint of task {config.get('task')!r}")
        raise ValueError(f"'{path}' is {found}, not "
                         f"{' or '.join(TASKS[t] for t in accepted)}.")
    try:
        # (no random initialisation, which the weights then replace: a torch.rand after
        # solve() differed, and in a host's other threads during it)
        net = built_for(lambda: DenoiserUNet(1, tuple(config["widths"]), config["blocks"],
                                             config.get("guides", 0)), state)
    except (RuntimeError, KeyError, TypeError):
        raise ValueError(f"the denoiser '{path}' does not match its own configuration.") from None
    return net.eval().requires_grad_(False)


# every shipped network (five) and a few of one's own: with four, a service alternating
# denoising, deblurring and inpainting read every file from disk at every call
@lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int) -> tuple[dict, dict]:
    """``(config, float32 state dict)`` of a checked denoiser file (``mtime_ns`` keys the
    cache, so a file trained again is read again)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for truncated, foreign or unsafe files
        raise ValueError(f"cannot load the denoiser '{path}': {UNREADABLE_CHECKPOINT}.") from None
    if isinstance(ck, dict) and ck.get("format") == TRAINED_FORMAT:  # (--start prior_digits.pt)
        raise ValueError(f"'{path}' is a trained prior (GLO or PCA, for --prior PATH.pt), not a "
                         "denoiser; make a denoiser with python -m invprior.train --kind denoiser.")
    if not isinstance(ck, dict) or ck.get("format") != FORMAT or ck.get("version") != VERSION:
        raise ValueError(f"'{path}' is not a denoiser checkpoint of version {VERSION}; make one "
                         "with python -m invprior.train --kind denoiser.")
    missing = [k for k in ("config", "state_dict") if k not in ck]
    if missing or not isinstance(ck["config"], dict) or not isinstance(ck["state_dict"], dict) \
            or not all(isinstance(v, torch.Tensor) for v in ck["state_dict"].values()):
        # a file edited by hand, or cut short by a tool of one's own: KeyError tracebacks
        # (a number among the weights: AttributeError, "'int' object has no attribute 'float'")
        said = (f"missing {' and '.join(missing)}" if missing else
                "its config or weights are no dict" if not isinstance(ck["config"], dict)
                or not isinstance(ck["state_dict"], dict) else "its weights hold more than tensors")
        raise ValueError(f"the denoiser '{path}' is incomplete ({said}); make it again with "
                         f"python -m invprior.train --kind denoiser.")
    _check_config(ck["config"], ck["state_dict"], path)
    check_finite_weights(ck, f"the denoiser '{path}'")
    return ck["config"], {k: v.float() for k, v in ck["state_dict"].items()}


def _check_config(config: dict, state: dict, path: str) -> None:
    """One sentence (ValueError) for a configuration that training never writes (a file
    made or edited by hand): widths [] (IndexError), task ["inpaint"] (TypeError), blocks
    10**7 (GBs of memory and a minute before its weights did not match), integer or complex
    weights (taken, cast, as floats)."""
    def count(value, top):
        return type(value) is int and 0 <= value <= top

    widths = config.get("widths")
    fine = (isinstance(widths, (list, tuple)) and 1 <= len(widths) <= 8
            and all(count(w, 4096) and w > 0 for w in widths)
            and count(config.get("blocks"), 64) and count(config.get("guides", 0), 16)
            and isinstance(config.get("task", "denoise"), str))
    kind = "inpainter" if config.get("task") == "inpaint" else "denoiser"
    again = f"make it again with python -m invprior.train --kind {kind}."
    if not fine:
        raise ValueError(f"the {kind} '{path}' has a configuration that training never writes "
                         f"(widths, blocks, guides or task); {again}")
    if not all(v.is_floating_point() for v in state.values()):
        raise ValueError(f"the {kind} '{path}' holds weights that are not real floating-point "
                         f"numbers; {again}")
