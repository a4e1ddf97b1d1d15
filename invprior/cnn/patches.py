"""Training patches for the denoiser, cut from the photographs shipped with scikit-image.

Nothing is downloaded. The benchmark images (camera, astronaut) and the held-out check
images (coffee, text) are left out, so that the numbers measured on them are honest.
"""

from __future__ import annotations

import numpy as np
import torch

# scikit-image's photographs and micrographs, minus the benchmark and held-out images
# (``cat`` is ``chelsea`` again; the synthetic drawings teach nothing about photographs).
TRAIN_IMAGES = ("brick", "cell", "chelsea", "clock", "coins", "grass", "gravel",
                "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina",
                "rocket", "motorcycle")
HELD_OUT = ("camera", "astronaut", "coffee", "text")
SCALES = (1.0, 0.5)  # each image also at half size: more structures per patch


def training_images(names=TRAIN_IMAGES, scales=SCALES) -> list[np.ndarray]:
    """Gray float32 ``(H, W)`` arrays in [0, 1]: each named skimage image at each scale.

    Example:
        >>> [a.shape for a in training_images(("brick",), (1.0, 0.5))]
        [(512, 512), (256, 256)]
    """
    from skimage import color, data, transform

    out = []
    for name in names:
        image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        image = image.astype(np.float32) / 255.0
        if image.ndim == 3:
            image = color.rgb2gray(image[..., :3])
        for s in scales:
            shape = (round(image.shape[0] * s), round(image.shape[1] * s))
            scaled = image if s == 1 else transform.resize(image, shape, order=1, anti_aliasing=True)
            out.append(np.clip(scaled, 0, 1).astype(np.float32))
    return out


def folder_images(folder, colour: bool = False) -> list[np.ndarray]:
    """Float32 arrays in [0, 1] of every PNG/JPEG/TIFF under ``folder`` (recursively), e.g.
    the 400 images DnCNN was trained on: gray ``(H, W)`` (colour is made gray), or with
    ``colour`` RGB ``(H, W, 3)`` (gray repeated).

    Example:
        >>> import tempfile, os
        >>> from ..io import write_image
        >>> d = tempfile.mkdtemp(); _ = write_image(os.path.join(d, "a.png"), torch.rand(1, 3, 8, 9))
        >>> [a.shape for a in folder_images(d)], [a.shape for a in folder_images(d, colour=True)]
        ([(8, 9)], [(8, 9, 3)])
    """
    from skimage import color

    from ..glo.data import decoded, image_files

    out, coloured = [], False
    for _, image in decoded(image_files(folder), folder):  # (a corrupt one left out, and said)
        image = image[0].permute(1, 2, 0).numpy()
        coloured = coloured or image.shape[2] == 3
        if colour:
            image = image if image.shape[2] == 3 else np.repeat(image[..., :1], 3, axis=2)
        else:
            image = color.rgb2gray(image) if image.shape[2] == 3 else image[..., 0]
        out.append(np.clip(image, 0, 1).astype(np.float32))
    if colour and not coloured:  # a colour network would learn gray only, and say nothing
        raise ValueError(f"the colour denoiser trains on colour photos, and '{folder}' holds "
                         "only gray images; leave out --channels 3 for a gray one.")
    return out


def patch_pool(images: list[np.ndarray], count: int, size: int, seed: int = 0) -> torch.Tensor:
    """``(count, C, size, size)`` random crops of gray ``(H, W)`` (``C = 1``) or colour
    ``(H, W, C)`` images, each image drawn in proportion to its area (capped at 512x512, so
    that the large, mostly dark retina does not dominate).

    Example:
        >>> patch_pool([np.zeros((40, 50), np.float32)], 3, 16).shape
        torch.Size([3, 1, 16, 16])
        >>> patch_pool([np.zeros((40, 50, 3), np.float32)], 2, 16).shape
        torch.Size([2, 3, 16, 16])
    """
    rng = np.random.default_rng(seed)
    images = [a if a.ndim == 3 else a[..., None] for a in images]
    usable = [a for a in images if min(a.shape[:2]) >= size]
    if not usable:
        raise ValueError(f"no training image is at least {size}x{size} pixels.")
    if len(usable) < len(images):  # (9 of 10 had been left out without a word)
        from ..console import say

        say(f"note: left out {len(images) - len(usable)} of {len(images)} training images "
            f"smaller than {size}x{size} pixels (the patch size, --size).")
    areas = np.array([min(a.shape[0] * a.shape[1], 512 * 512) for a in usable], float)
    which = rng.choice(len(usable), size=count, p=areas / areas.sum())
    pool = np.empty((count, usable[0].shape[2], size, size), np.float32)
    for i, k in enumerate(which):
        a = usable[k]
        top = rng.integers(0, a.shape[0] - size + 1)
        left = rng.integers(0, a.shape[1] - size + 1)
        pool[i] = a[top : top + size, left : left + size].transpose(2, 0, 1)
    return torch.from_numpy(pool)


def held_out_image(name: str = "coffee", size: int = 256, colour: bool = False) -> torch.Tensor:
    """A held-out ``skimage.data`` image (``HELD_OUT``) resized to ``(1, C, size, size)``
    float32 in [0, 1] (anti-aliased): gray, or RGB with ``colour``; what the training runs
    and the hole-width sweep measure on.

    Example:
        >>> held_out_image(size=32).shape, held_out_image(size=32, colour=True).shape
        (torch.Size([1, 1, 32, 32]), torch.Size([1, 3, 32, 32]))
    """
    from skimage import color, data, transform

    image = getattr(data, name)() / 255.0
    image = transform.resize(image if colour else color.rgb2gray(image)[..., None], (size, size),
                             anti_aliasing=True)
    return torch.from_numpy(image.astype("float32")).permute(2, 0, 1)[None]


def dihedral(batch: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/rotations of ``(..., H, W)`` images or patches (``k`` in 0..7: ``k``
    quarter turns, then a left-right flip for ``k >= 4``).

    Example:
        >>> dihedral(torch.arange(4.).view(1, 1, 2, 2), 1)[0, 0].tolist()
        [[1.0, 3.0], [0.0, 2.0]]
    """
    out = torch.rot90(batch, k % 4, dims=(-2, -1))
    return out.flip(-1) if k >= 4 else out
