"""The fixed public benchmark cases, rebuilt from skimage.data exactly as
``../shared/cases/README.md`` describes them (same arrays, same seeds).

Each case is ``(truth, y, op)`` with ``truth`` ``(1, C, 256, 256)`` in [0, 1].

Example:
    >>> truth, y, op = load_case("inpaint_camera")
    >>> y.shape
    torch.Size([1, 1, 256, 256])
"""

from __future__ import annotations

import numpy as np
import torch

import operators as O

CASES = ("denoise_camera", "denoise_astronaut", "inpaint_camera", "deblur_camera", "sr4_camera",
         "sr4_astronaut", "cs25_camera")


def clean(name: str) -> np.ndarray:
    """``camera`` (256, 256) or ``astronaut`` (256, 256, 3): /255, resized (order 1, anti-aliased), clipped."""
    import skimage.data
    import skimage.transform

    image = getattr(skimage.data, name)() / 255.0
    out = skimage.transform.resize(image, (256, 256), order=1, anti_aliasing=True)
    return np.clip(out, 0, 1).astype(np.float32)


def sample_image(name: str, size: int) -> torch.Tensor:
    """A shipped ``skimage.data`` image resized to ``(1, C, size, size)`` in [0, 1].

    Example:
        >>> sample_image("camera", 32).shape
        torch.Size([1, 1, 32, 32])
    """
    import skimage.data
    import skimage.transform

    if not hasattr(skimage.data, name):
        raise ValueError(f"skimage.data has no image '{name}'.")
    image = getattr(skimage.data, name)() / 255.0
    return _tensor(np.clip(skimage.transform.resize(image, (size, size), order=1, anti_aliasing=True), 0, 1))


def gaussian_kernel15() -> np.ndarray:
    """15x15 gaussian, sigma 2, centre (7, 7), sums to 1."""
    d = np.arange(15) - 7
    k = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * 2.0**2))
    return (k / k.sum()).astype(np.float32)


def _tensor(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    return t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None].contiguous()


def load_case(name: str):
    """``(truth, y, op)`` for one of ``CASES``."""
    if name not in CASES:
        raise ValueError(f"unknown case '{name}'; choose one of {', '.join(CASES)}.")
    kind, image = name.split("_")
    x = clean(image)
    if kind == "denoise":
        seed = 0 if image == "camera" else 1
        y = x + (25 / 255) * np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
        return _tensor(x), _tensor(y), O.Denoising()
    if kind == "inpaint":
        mask = np.zeros(256 * 256, dtype=np.float32)
        mask[np.random.default_rng(10).permutation(65536)[:32768]] = 1
        op = O.Inpainting(torch.from_numpy(mask.reshape(256, 256)))
        return _tensor(x), op(_tensor(x)), op
    if kind == "deblur":
        op = O.Blur(kernel=torch.from_numpy(gaussian_kernel15()))
        noise = 0.01 * np.random.default_rng(20).standard_normal(x.shape).astype(np.float32)
        return _tensor(x), op(_tensor(x)) + _tensor(noise), op
    if kind == "cs25":  # generated here (not in ../shared): 25 % fast random measurements
        op = O.CompressedSensing(256 * 256 // 4, (1, 256, 256), kind="fast", seed=0)
        return _tensor(x), op(_tensor(x)), op
    op = O.Downsampling(4, "bicubic")
    return _tensor(x), op(_tensor(x)), op
