"""Image quality metrics with data range 1: PSNR and SSIM, on tensors or arrays.

Convention:
    Tensors are ``(B, C, H, W)`` (or ``(C, H, W)``/``(H, W)``), arrays ``(H, W)``,
    ``(H, W, C)`` or ``(B, H, W, C)``. A batch gives the mean over its images. Values are not clipped, not
    rounded to 8 bits and not cropped at the border; a colour image's error is over its three
    channels (RGB, not the luma that super-resolution papers report). Integer pixels (uint8
    as read from a PNG) need their ``data_range`` (255), or dividing to [0, 1] first.
    SSIM is scikit-image's with Wang et al.'s gaussian window (sigma 1.5, no sample
    covariance), not its default 7x7 uniform window (up to 0.03 higher).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _as_images(x) -> list[np.ndarray]:
    """A list of ``(H, W, C)`` float64 arrays."""
    if isinstance(x, torch.Tensor):
        t = x.detach().double().cpu()
        while t.ndim < 4:
            t = t[None]
        return [img.permute(1, 2, 0).numpy() for img in t]
    a = np.asarray(x, dtype=np.float64)
    if a.ndim in (3, 4) and a.shape[-1] > 4:
        # an image has 1 to 4 channels: (3, 32, 32) had been read as 3 rows of 32 channels,
        # SSIM over a 3x32 image; a batch (8, 64, 64) as one 8x64 image of 64 channels
        kinds = "(C, H, W) or a batch (B, H, W) of gray images" if a.ndim == 3 else "(B, C, H, W)"
        fix = "np.moveaxis(a, 0, -1) or a[..., None]" if a.ndim == 3 else "np.moveaxis(a, 1, -1)"
        raise ValueError(f"arrays are (H, W), (H, W, C) or (B, H, W, C) with C up to 4, got "
                         f"{a.shape}, which looks like {kinds}: pass it as a tensor, or as {fix}.")
    if not 2 <= a.ndim <= 4:
        raise ValueError(f"arrays are (H, W), (H, W, C) or a batch (B, H, W, C), got {a.shape}.")
    if a.ndim == 4:
        return list(a)
    return [a if a.ndim == 3 else a[:, :, None]]


def _check_scale(x, ref, data_range: float) -> float:
    """Integer pixels (0-255) measured with the data range of [0, 1] images: PSNR -17 dB
    instead of 31; refuse, saying what to pass. So too [0, 1] floats measured with the
    range of 8-bit pixels, a data range that is no positive number (0 failed with "math
    domain error"), and what is no image (None). Returns the data range as a float."""
    if isinstance(data_range, (bool, str)) or not hasattr(data_range, "__float__") or not (
            0 < float(data_range) < math.inf):
        raise ValueError(f"data_range must be a positive number (1 for [0, 1] images, 255 for "
                         f"8-bit pixels), got {data_range!r}.")
    for a in (x, ref):
        if a is None or isinstance(a, (str, bytes, int, float, dict)):
            raise ValueError(f"the images compared are tensors or arrays, got {type(a).__name__}.")
        dtype = a.dtype if isinstance(a, (torch.Tensor, np.ndarray)) else np.asarray(a).dtype
        name = str(dtype).replace("torch.", "")
        if name.startswith(("uint", "int")) and data_range == 1.0:
            raise ValueError(f"integer pixels ({name}) are on a "
                             f"scale of 0-255 or more: pass data_range=255 (or 65535), or the "
                             f"images divided to [0, 1].")
    if data_range > 1 and (_on_unit_scale(x) or _on_unit_scale(ref)):
        # [0, 1] images measured as 8-bit ones: 74 dB for 26, an integer x against a [0, 1]
        # reference 4.6 dB, without a word
        raise ValueError(f"floats on the [0, 1] scale are measured with data_range=1 (not "
                         f"{float(data_range):g}); pass both images on the same scale.")
    return float(data_range)  # (a NumPy uint8 255 had overflowed in data_range**2: -21.9 dB)


def _on_unit_scale(a) -> bool:
    """Floats all within [-2, 2] (a noisy [0, 1] image leaves it a little) with some
    nonzero (an all-black image fits any scale)."""
    t = torch.as_tensor(a) if not isinstance(a, torch.Tensor) else a.detach()
    if not t.is_floating_point():
        return False
    top = float(t.abs().max()) if t.numel() else 0.0
    return 0 < top <= 2


def _pairs(x, ref):
    xs, refs = _as_images(x), _as_images(ref)
    if len(refs) == 1 and len(xs) > 1:
        refs = refs * len(xs)
    if len(xs) != len(refs) or any(a.shape != b.shape for a, b in zip(xs, refs)):
        raise ValueError(
            f"cannot compare images of shapes {[a.shape for a in xs]} and {[b.shape for b in refs]}."
        )
    return zip(xs, refs)


def psnr(x, ref, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of ``x`` against ``ref``; ``inf`` if equal.

    A batch's is the mean of its images' (as the published tables average them), not the
    PSNR of their mean error.

    Example:
        >>> round(psnr(torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.1)), 2)
        20.0
        >>> two = torch.cat([torch.full((1, 1, 4, 4), 0.1), torch.full((1, 1, 4, 4), 0.01)])
        >>> round(psnr(torch.zeros(2, 1, 4, 4), two), 2)  # (20 and 40 dB)
        30.0
    """
    data_range = _check_scale(x, ref, data_range)
    if isinstance(x, torch.Tensor) and isinstance(ref, torch.Tensor):
        # on the tensors' device, one host sync: the solvers trace PSNR at every step
        a, b = _batched(x), _batched(ref).to(x.device)
        if len(b) == 1 < len(a):
            b = b.expand_as(a)
        if a.shape != b.shape:
            raise ValueError(f"cannot compare images of shapes {tuple(x.shape)} and {tuple(ref.shape)}.")
        errors = (a.detach().double() - b.detach().double()).square().flatten(1).mean(1).tolist()
    else:
        errors = [float(np.mean((a - b) ** 2)) for a, b in _pairs(x, ref)]
    values = [math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse) for mse in errors]
    return float(np.mean(values))


def _batched(x: torch.Tensor) -> torch.Tensor:
    while x.ndim < 4:
        x = x[None]
    return x


def ssim(x, ref, data_range: float = 1.0) -> float:
    """Structural similarity (skimage, gaussian window as Wang et al.), mean over channels.

    Example:
        >>> x = torch.rand(1, 3, 32, 32)
        >>> ssim(x, x)
        1.0
    """
    from skimage.metrics import structural_similarity

    data_range = _check_scale(x, ref, data_range)
    values = []
    for a, b in _pairs(x, ref):
        side = min(a.shape[:2])
        if side < 11:  # the gaussian window needs 11 pixels: a small uniform one instead
            if side < 3:
                raise ValueError(f"SSIM needs images of at least 3x3 pixels, got {a.shape[:2]}.")
            window = {"win_size": side - (1 - side % 2)}
        else:
            window = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
        values.append(
            structural_similarity(a, b, data_range=data_range, channel_axis=2, **window)
        )
    return float(np.mean(values))
