"""Large images, folders and the GPU (``python -m invprior.bench --sections scale`` / ``gpu``).

Everything runs through the command line, as a user would, each command in its own
process: its wall time, its peak memory (``ru_maxrss`` of that process alone, measured by a
small wrapper process), and the solve's own seconds from ``--report``.

- **Sizes**: a colour photo (scikit-image's astronaut, resized) at 0.25, 1, 4 and 12
  megapixels, degraded and written as a PNG, restored from that file as a user would (one-pass
  denoising at noise 0.1, plug-and-play deblurring of gaussian blur 2 and noise 0.01; the
  noise level estimated), and compared with the photo afterwards. Plug-and-play runs ``PNP_ITERS`` iterations on a CPU
  (a full run of 32 at 12 MP takes most of an hour there): its seconds per iteration and
  per megapixel are the figure of merit; on a GPU the full default.
- **Blemishes**: the same photos with thin scribbles in a 200x200 patch, or a 60x90 box cut
  out, inpainted noise-free from a mask file (plug-and-play, or the trained inpainter: on the
  holes' window only, ``priors.window``), PSNR inside the holes.
- **Folder**: 16 different 256x256 RGB photos, denoised and deblurred by one folder command
  and by 16 separate commands: images per minute of each.
- **Deep image prior**: seconds per step at 512x512 RGB.

``gpu`` runs the sizes and the deep image prior on CUDA (full plug-and-play, no folder
comparison, so that it takes a few minutes), plus the denoiser's float16 and bfloat16
autocast against float32 (PSNR and megapixels per second); it says so and stops where no
GPU is present; and the deep image prior's steps, stacks and precisions there
(``bench.stacking``).

Example (a smoke run on the CPU, numbers meaningless):
    >>> rows = run(quick=True, device="cpu")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import stacking
from .hard import hidden_psnr

__all__ = ["run", "markdown", "run_gpu"]

SIZES_MP = (0.25, 1, 4, 12)
PNP_ITERS = 2
DIP_STEPS = (5, 15)  # the two runs whose difference times a step
FOLDER_IMAGES = 16
BLEMISHES = ("scribbles", "box")  # noise-free inpainting of a blemish (``_blemish``)
# run a command, then print the peak RSS (bytes) of that child alone: ru_maxrss counts KiB
# on Linux and bytes on macOS; Windows has no ``resource`` (no peak there, not a traceback)
WRAPPER = ("import subprocess, sys\n"
           "p = subprocess.run(sys.argv[1:])\n"
           "try:\n"
           "    import resource\n"
           "    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
           "    print('PEAK', peak if sys.platform == 'darwin' else peak * 1024)\n"
           "except ImportError:\n"
           "    pass\n"
           "sys.exit(p.returncode)")


def _measure(args: list[str]) -> dict:
    """Run ``python -m invprior.solve ARGS``; wall seconds, peak bytes, exit code."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, sys.executable, "-m", "invprior.solve",
                           *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("PEAK")]
    if proc.returncode in (130, -signal.SIGINT):  # Ctrl-C reached the command: ends the bench
        raise KeyboardInterrupt
    if proc.returncode != 0:
        raise RuntimeError(f"invprior.solve {' '.join(args)} failed: {proc.stderr[-500:]}")
    return {"wall": wall, "peak": peak[0] if peak else float("nan")}


def _photo(mp: float) -> torch.Tensor:
    """A square RGB photo of about ``mp`` megapixels (astronaut, bicubic resize)."""
    from skimage import data

    side = int(round(math.sqrt(mp * 1e6) / 8)) * 8
    x = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255
    return torch.nn.functional.interpolate(x, size=(side, side), mode="bicubic",
                                           align_corners=False).clamp(0, 1)


def _folder(root: Path) -> Path:
    """16 different 256x256 RGB photos (crops of scikit-image's colour photos)."""
    from skimage import data

    from ..io import write_image

    folder = root / "photos"
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for i in range(FOLDER_IMAGES):
        image = torch.from_numpy(photos[i % 4]).permute(2, 0, 1)[None].float() / 255
        top, left = 40 * (i // 4), 48 * (i // 4)
        write_image(folder / f"photo{i:02d}.png", image[..., top : top + 256, left : left + 256])
    return folder


def _sizes(root: Path, device: str, quick: bool, full_pnp: bool) -> list[dict]:
    """Each size as a user runs it on a real photo: the degraded file in, the restored file
    out (so the peak memory is the command's, not that of computing SSIM on 12 MP); the PSNR
    is computed here afterwards."""
    from ..io import read_image
    from ..metrics import psnr

    rows = []
    for mp in ((0.02, 0.05) if quick else SIZES_MP):
        truth = _photo(mp)
        pixels = truth.shape[-1] ** 2
        for task, flags in (("denoise", []),
                            ("deblur", CIRCULAR + ([] if full_pnp and not quick else ["--iters", str(PNP_ITERS)])),
                            *((f"inpaint {b}", []) for b in BLEMISHES)):
            holes = None
            if task.startswith("inpaint"):
                mask = root / f"mask_{task.split()[1]}_{mp}.png"
                holes = _blemish(truth, task.split()[1], mask)
                flags = ["--mask", str(mask)]
            observed = _degraded(truth, root / f"{task}_{mp}_in.png", task, holes)
            report, output = root / f"{task}_{mp}.json", root / f"{task}_{mp}.png"
            out = _measure(["--op", task.split()[0], str(observed), "-o", str(output), "--report",
                            str(report), "--device", device, "--quiet", "--force", *flags])
            r = json.loads(report.read_text())
            per_iter = r["seconds"] / max(r["iterations"], 1)
            restored = read_image(output).image
            rows.append({"kind": "size", "task": task, "mp": pixels / 1e6, "seconds": r["seconds"],
                         "iterations": r["iterations"], "wall": out["wall"], "peak": out["peak"],
                         "psnr": psnr(restored, truth),
                         "inside": None if holes is None else hidden_psnr(restored, truth, holes),
                         "prior": r.get("prior", ""),
                         "mp_per_s": pixels / 1e6 / per_iter if task == "denoise" else None,
                         "s_per_iter_mp": per_iter / (pixels / 1e6)})
            print(f"{task} {pixels / 1e6:.2f} MP: {r['seconds']:.1f} s, {r['iterations']} it, "
                  f"peak {out['peak'] / 2**30:.2f} GiB", flush=True)
    return rows


def _folders(root: Path, device: str, quick: bool) -> list[dict]:
    folder = _folder(root)
    files = sorted(folder.glob("*.png"))[: 4 if quick else FOLDER_IMAGES]
    rows = []
    for task, flags in (("denoise", []), ("deblur", CIRCULAR + (["--iters", "4"] if quick else []))):
        # the inputs are degraded copies of the photos, restored as real observations
        degraded = root / f"{task}_inputs"
        _degrade(files, degraded, task)
        inputs = sorted(degraded.glob("*.png"))
        one = _measure(["--op", task, str(degraded), "-o", str(root / f"{task}_folder"),
                        "--device", device, "--quiet", *flags])
        separate = 0.0
        for i, f in enumerate(inputs):
            separate += _measure(["--op", task, str(f), "-o", str(root / f"separate_{task}_{i}.png"),
                                  "--device", device, "--quiet", *flags])["wall"]
        n = len(inputs)
        rows.append({"kind": "folder", "task": task, "images": n,
                     "folder_per_min": 60 * n / one["wall"], "separate_per_min": 60 * n / separate})
        print(f"folder {task}: {rows[-1]['folder_per_min']:.1f} vs "
              f"{rows[-1]['separate_per_min']:.1f} images/min", flush=True)
    return rows


def _degrade(files, folder: Path, task: str) -> None:
    from ..io import read_image

    for f in files:
        _degraded(read_image(f).image, folder / f.name, task)


def _blemish(x: torch.Tensor, kind: str, path: Path) -> torch.Tensor:
    """The holes ``(1, 1, H, W)`` (True: missing) of a blemish on the photo ``x``, their
    mask written to ``path`` (white: observed): thin scribbles (4 strokes, 5 pixels wide) in
    a 200x200 patch, or a 60x90 box (an object cut out), a third of the way in."""
    import operators as O

    from ..io import write_image

    h, w = x.shape[-2:]
    mask, top, left = torch.ones(h, w), h // 3, w // 3
    if kind == "scribbles":
        side = min(200, h // 2, w // 2)  # (smaller only in the quick run's small photos)
        mask[top : top + side, left : left + side] = O.scribble_mask((side, side), 4, 5.0, seed=1)
    else:
        mask[top : top + min(60, h // 3), left : left + min(90, w // 3)] = 0
    write_image(path, mask[None, None], overwrite=True)
    return mask[None, None] < 0.5


# the photos here are blurred circularly (``_degraded``), so they are restored so; a photo's
# default, valid borders (its blur saw beyond the frame), has a conjugate gradient for its
# data step: a 4000x3000 RGB photo, one iteration, 128 s and 2.93 GiB peak (the whole
# command), against about 142 s (BENCHMARKS.md's 2-iteration row at 3464x3464, less one
# iteration) and 2.49 GiB
CIRCULAR = ["--border", "circular"]


def _degraded(x: torch.Tensor, path: Path, task: str, holes: torch.Tensor | None = None) -> Path:
    """Write ``x`` degraded for ``task`` (noise 0.1; or gaussian blur 2 and noise 0.01; or,
    for inpainting, ``holes`` set to 0, noise-free)."""
    import operators as O

    from ..io import write_image

    if holes is not None:
        return write_image(path, x * ~holes, overwrite=True)
    op = O.Denoising() if task == "denoise" else O.Blur(sigma=2.0)
    noise = O.GaussianNoise(0.1 if task == "denoise" else 0.01, seed=0)
    with torch.no_grad():
        return write_image(path, noise(op(x)).clamp(0, 1), overwrite=True)


def _dip(root: Path, device: str, quick: bool) -> list[dict]:
    """Seconds per step of the deep image prior through the CLI: the difference of a
    ``DIP_STEPS[1]``-step and a ``DIP_STEPS[0]``-step run, so that what only the first steps
    cost (cuDNN's autotuner, allocations) cancels out (one 10-step run on an H200 said
    0.559 s per step, ten times the 0.059 that the stacking rows measure)."""
    from ..io import write_image

    side = 64 if quick else 512
    truth = write_image(root / "dip.png", _photo(side * side / 1e6)[..., :side, :side])
    seconds = []
    for steps in DIP_STEPS:
        report = root / f"dip{steps}.json"
        _measure(["--op", "denoise", "--simulate", str(truth), "--prior", "dip", "--init", "none",
                  "--iters", str(steps), "--stop", "none", "-o", str(root / "dip_out.png"),
                  "--report", str(report), "--device", device, "--quiet", "--force"])
        r = json.loads(report.read_text())  # the loop's seconds, not the command's
        seconds.append(r["seconds_per_iteration"] * r["iterations"])
    per_step = (seconds[1] - seconds[0]) / (DIP_STEPS[1] - DIP_STEPS[0])
    return [{"kind": "dip", "side": side, "s_per_step": per_step}]


def _precision(device: str, quick: bool) -> list[dict]:
    """One-pass denoising's network in float32, float16 and bfloat16 on one photo: PSNR and
    speed."""
    from ..metrics import psnr
    from ..priors.cnn import CNNDenoiser

    x = _photo(0.012 if quick else 4).to(device)  # quick: 112x112 (CPU float16 is slow)
    y = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0)).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = []
    for precision in ("float32", "float16", "bfloat16"):
        d = CNNDenoiser(device=device, precision=precision, one_pass=True)
        d(y, 0.1)  # warm-up: cuDNN's autotuner
        sync()
        start = time.perf_counter()
        out = d(y, 0.1)
        sync()
        seconds = time.perf_counter() - start
        rows.append({"kind": "precision", "precision": precision, "psnr": psnr(out.clamp(0, 1), x),
                     "mp_per_s": x[0, 0].numel() / 1e6 / seconds})
    return rows


def run(quick: bool = False, device: str = "cpu", full_pnp: bool = False,
        folders: bool = True) -> list[dict]:
    """All rows of the section on ``device`` (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = _sizes(root, device, quick, full_pnp)
        if folders:
            rows += _folders(root, device, quick)
        rows += _dip(root, device, quick)
        if device.startswith("cuda"):
            rows += _precision(device, quick) + stacking.run(device, quick)
    return rows


def run_gpu(quick: bool = False) -> list[dict]:
    """``run`` on CUDA with the full plug-and-play and without the folder comparison (the
    section is meant to take under 5 minutes); [] (and a message) without a GPU."""
    if not torch.cuda.is_available():
        print("skipping gpu: no CUDA device", flush=True)
        return []
    return run(quick, device="cuda", full_pnp=True, folders=False)


def markdown(rows: list[dict]) -> str:
    """The tables of the section."""
    if not rows:
        return "No CUDA device on this machine: skipped.\n"
    sizes = [r for r in rows if r["kind"] == "size" and r["inside"] is None]
    blemishes = [r for r in rows if r["kind"] == "size" and r["inside"] is not None]
    out = ["| task | megapixels | solve seconds | iterations | s per iteration per MP | "
           "MP per s | peak memory (GiB) | whole command (s) | PSNR (dB) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in sizes:
        mps = f"{r['mp_per_s']:.3f}" if r["mp_per_s"] else ""
        out.append(f"| {r['task']} | {r['mp']:.2f} | {r['seconds']:.1f} | {r['iterations']} | "
                   f"{r['s_per_iter_mp']:.2f} | {mps} | {r['peak'] / 2**30:.2f} | "
                   f"{r['wall']:.1f} | {r['psnr']:.2f} |")
    for task in ("denoise", "deblur"):
        per = [r["s_per_iter_mp"] for r in sizes if r["task"] == task]
        if per:
            out.append(f"\n{task}: seconds per iteration per megapixel vary by "
                       f"{max(per) / min(per):.2f}x from the smallest to the largest size.")
    if blemishes:
        out += ["", "| inpaint a blemish, noise-free | megapixels | prior | solve seconds | "
                "peak memory (GiB) | whole command (s) | PSNR inside the holes (dB) |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {r['task'].split()[1]} | {r['mp']:.2f} | {r['prior']} | {r['seconds']:.1f} | "
                f"{r['peak'] / 2**30:.2f} | {r['wall']:.1f} | {r['inside']:.2f} |" for r in blemishes]
    folder = [r for r in rows if r["kind"] == "folder"]
    if folder:
        out += ["", "| folder of 256x256 RGB photos | images | images/min, one folder command | "
                "images/min, one command each | ratio |", "|---|---|---|---|---|"]
        out += [f"| {r['task']} | {r['images']} | {r['folder_per_min']:.1f} | "
                f"{r['separate_per_min']:.1f} | {r['folder_per_min'] / r['separate_per_min']:.2f}x |"
                for r in folder]
    out += [f"\nDeep image prior, {r['side']}x{r['side']} RGB: {r['s_per_step']:.3f} s per step."
            for r in rows if r["kind"] == "dip"]
    precision = [r for r in rows if r["kind"] == "precision"]
    if precision:
        out += ["", "| denoiser precision | PSNR (dB) | MP per s |", "|---|---|---|"]
        out += [f"| {r['precision']} | {r['psnr']:.3f} | {r['mp_per_s']:.1f} |" for r in precision]
    if any(r["kind"] == "stack" for r in rows):
        out += ["", stacking.markdown(rows)]
    return "\n".join(out) + "\n"
