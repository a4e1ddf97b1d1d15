"""Single-image super-resolution with coupled dictionaries (Yang et al. 2010, Zeyde et al. 2010).

A low-resolution (LR) image is upsampled bicubically to the target grid ("mid" image).
Each ``p x p`` patch of the mid image is described by its first and second derivatives
(features), reduced by PCA, and sparse-coded over the LR dictionary ``Dl``; the same code
over the coupled HR dictionary ``Dh`` predicts the missing high frequencies
``x - mid`` of that patch. Overlapping predictions are averaged, added to the mid image,
and a back-projection makes the result consistent with the observation: downsampling it
gives back the input.

Convention:
    ``y`` is ``(B, C, h, w)`` in [0, 1]; the result is ``(B, C, h*f, w*f)``. The
    degradation is ``operators.Downsampling(f, filter="bicubic")`` (antialiased Keys
    bicubic, pixel centres aligned with ``F.interpolate(..., mode="bicubic",
    align_corners=False)``). Colour: the luma ``Y`` of YCbCr (BT.601 full range) is
    super-resolved, the chroma is upsampled bicubically. Dictionaries are dicts of
    tensors saved with ``torch.save`` (made by ``python -m invprior.sparse.train_sr``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .coding import omp
from .patches import assemble_patches, extract_patches

__all__ = ["sparse_superres", "sr_features", "load_sr_dictionary", "back_project",
           "default_dictionary_path", "downsample", "upsample", "rgb_to_ycbcr",
           "ycbcr_to_rgb"]

def default_dictionary_path(factor: int) -> Path:
    """Where the shipped dictionary for ``factor`` lives: ``invprior/weights/sparse_sr_x{factor}.pt``
    (a factor without a shipped dictionary: where it would be, so that loading says so)."""
    from ..weights import FILES, weight_file

    name = f"sparse_sr_x{factor}.pt"
    return weight_file(name) if name in FILES else weight_file(FILES[0]).with_name(name)


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The degradation model: antialiased bicubic decimation (the project's operator)."""
    from operators import Downsampling

    return Downsampling(factor, filter="bicubic").to(x.device)(x)


def upsample(y: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic upsampling aligned with :func:`downsample` (not clamped)."""
    return F.interpolate(y, scale_factor=factor, mode="bicubic", align_corners=False)


# BT.601 full-range YCbCr, as JPEG (kornia.color.rgb_to_ycbcr agrees to 2e-4).
_YCC = torch.tensor([[0.299, 0.587, 0.114],
                     [-0.168736, -0.331264, 0.5],
                     [0.5, -0.418688, -0.081312]])


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB -> YCbCr (BT.601 full range, chroma centred on 0.5)."""
    m = _YCC.to(x)
    out = torch.einsum("ij,bjhw->bihw", m, x)
    return torch.cat([out[:, :1], out[:, 1:] + 0.5], 1)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr`."""
    m = torch.linalg.inv(_YCC.double()).to(x)
    return torch.einsum("ij,bjhw->bihw", m, torch.cat([x[:, :1], x[:, 1:] - 0.5], 1))


def sr_features(mid: torch.Tensor) -> torch.Tensor:
    """First and second derivatives of the upsampled image (Yang et al.'s LR features).

    Args:
        mid: ``(B, 1, H, W)`` bicubic-upsampled luma.

    Returns:
        ``(B, 4, H, W)``: ``d/dx``, ``d/dy`` with ``[-1, 0, 1]`` and ``d2/dx2``, ``d2/dy2``
        with ``[1, 0, -2, 0, 1]`` (reflect borders).

    Example:
        >>> sr_features(torch.rand(1, 1, 16, 16)).shape
        torch.Size([1, 4, 16, 16])
    """
    g1 = torch.tensor([-1.0, 0.0, 1.0], dtype=mid.dtype, device=mid.device)
    g2 = torch.tensor([1.0, 0.0, -2.0, 0.0, 1.0], dtype=mid.dtype, device=mid.device)
    pad = F.pad(mid, (2, 2, 2, 2), mode="reflect")
    return torch.cat([
        F.conv2d(pad[..., 2:-2, 1:-1], g1.view(1, 1, 1, 3)),
        F.conv2d(pad[..., 1:-1, 2:-2], g1.view(1, 1, 3, 1)),
        F.conv2d(pad[..., 2:-2, :], g2.view(1, 1, 1, 5)),
        F.conv2d(pad[..., :, 2:-2], g2.view(1, 1, 5, 1)),
    ], dim=1)


def load_sr_dictionary(factor: int, dictionary: str | Path | dict | None = None,
                       device=None) -> dict:
    """Load a coupled dictionary (the shipped one for ``factor`` by default).

    Returns:
        dict with ``factor``, ``patch`` (p), ``sparsity``, ``pca`` ``(m, 4 p^2)``,
        ``Dl`` ``(K, m)``, ``Dh`` ``(K, p^2)`` (tensors on ``device``).

    Example:
        >>> load_sr_dictionary(2)["Dh"].shape[1]
        36
    """
    if isinstance(dictionary, dict):
        d = dict(dictionary)
    else:
        path = Path(dictionary) if dictionary is not None else default_dictionary_path(factor)
        if not path.is_file():
            raise ValueError(f"no super-resolution dictionary at {path}; make one with "
                             f"'python -m invprior.sparse.train_sr --factors {factor} --out {path.parent}'.")
        d = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("factor", "patch", "sparsity", "pca", "Dl", "Dh"):
        if key not in d:
            raise ValueError(f"the super-resolution dictionary lacks '{key}'.")
    if int(d["factor"]) != factor:
        raise ValueError(f"the dictionary is for x{int(d['factor'])}, not x{factor}.")
    for key in ("pca", "Dl", "Dh"):
        d[key] = d[key].to(device=device, dtype=torch.float32)
    return d


def back_project(x: torch.Tensor, y: torch.Tensor, factor: int, iters: int = 20) -> torch.Tensor:
    """Iterative back-projection (Irani & Peleg): ``x += up(y - down(x))``, ``iters`` times.

    Pulls ``x`` towards the set of images whose downsampling is ``y`` while staying close
    to the starting point (the bicubic up-projection spreads each LR error over its
    footprint only).

    Args:
        x: ``(B, C, H, W)`` estimate; y: ``(B, C, H/f, W/f)`` observation.

    Example:
        >>> y = torch.rand(1, 1, 16, 16)
        >>> x = back_project(upsample(y, 2), y, 2, iters=30)
        >>> float((downsample(x, 2) - y).abs().max()) < 0.05
        True
    """
    for _ in range(iters):
        x = x + upsample(y - downsample(x, factor), factor)
    return x


def _superres_luma(y: torch.Tensor, d: dict) -> torch.Tensor:
    """Dictionary step on ``(B, 1, h, w)`` luma: bicubic + predicted high frequencies."""
    f, p = int(d["factor"]), int(d["patch"])
    mid = upsample(y, f)
    size = mid.shape[-2:]
    feats = extract_patches(sr_features(mid), p)            # (B, L, 4 p^2)
    b, n, _ = feats.shape
    low = feats.reshape(b * n, -1) @ d["pca"].T              # (B L, m)
    codes = omp(low, d["Dl"], sparsity=int(d["sparsity"]), return_sparse=True)
    high = codes.reconstruct(d["Dh"]).reshape(b, n, p * p)   # predicted x - mid patches
    return mid + assemble_patches(high, size, p)


def sparse_superres(y: torch.Tensor, factor: int, *, dictionary: str | Path | dict | None = None,
                    backprojection_iters: int = 20, progress: bool = False) -> torch.Tensor:
    """Super-resolve images by ``factor`` with a coupled LR/HR dictionary pair.

    Args:
        y: ``(B, C, h, w)`` low-resolution images in [0, 1], ``C`` 1 (gray) or 3 (RGB).
        factor: integer scale (2, 3 or 4 are shipped).
        dictionary: a file made by ``python -m invprior.sparse.train_sr``, or the dict
            itself; default: the shipped ``sparse_sr_x{factor}.pt``.
        backprojection_iters: iterations of :func:`back_project` (0 = none).
        progress: unused (kept for a uniform API: this takes well under a second).

    Returns:
        ``(B, C, h*factor, w*factor)`` clamped to [0, 1], on ``y``'s device.

    Example:
        >>> y = torch.rand(1, 3, 24, 24)
        >>> sparse_superres(y, 2).shape
        torch.Size([1, 3, 48, 48])

    References:
        J. Yang, J. Wright, T. Huang, Y. Ma, "Image super-resolution via sparse
        representation", IEEE TIP 19(11), 2010. R. Zeyde, M. Elad, M. Protter, "On single
        image scale-up using sparse-representations", Curves and Surfaces 2010.
    """
    if y.ndim != 4:
        raise ValueError(f"expected a (B, C, h, w) image tensor, got shape {tuple(y.shape)}.")
    if y.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 (gray) or 3 (RGB) channels, got {y.shape[1]}.")
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise ValueError(f"factor must be an integer >= 2, got {factor!r}.")
    if backprojection_iters < 0:
        raise ValueError(f"backprojection_iters must be >= 0, got {backprojection_iters}.")
    d = load_sr_dictionary(factor, dictionary, device=y.device)
    p = int(d["patch"])
    if min(y.shape[-2:]) * factor < max(p, 3 * factor) or min(y.shape[-2:]) < 3:
        raise ValueError(f"image {y.shape[-2]}x{y.shape[-1]} is too small to super-resolve "
                         f"(at least {max(3, -(-p // factor))} pixels a side).")
    x = y.detach().float()
    if x.shape[1] == 3:
        ycc = rgb_to_ycbcr(x)
        luma = _superres_luma(ycc[:, :1], d)
        if backprojection_iters:
            luma = back_project(luma, ycc[:, :1], factor, backprojection_iters)
        out = ycbcr_to_rgb(torch.cat([luma, upsample(ycc[:, 1:], factor)], 1))
    else:
        out = _superres_luma(x, d)
        if backprojection_iters:
            out = back_project(out, x, factor, backprojection_iters)
    return out.clamp(0, 1).to(y.dtype)
