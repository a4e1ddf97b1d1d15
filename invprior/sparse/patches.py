"""Patch extraction and overlap-averaged reassembly (torch unfold / fold).

Convention:
    Images are ``(B, C, H, W)``. A patch is the flattened ``C x p x p`` block in
    ``unfold`` order (channel, row, column), so patches are ``(B, L, C*p*p)`` with
    ``L = len(rows) * len(cols)`` patches per image, row-major over patch positions.
    Patch positions along an axis of length ``n`` are ``0, s, 2s, ...`` plus ``n - p``
    when the stride does not land on it, so every pixel is covered whatever the stride.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["patch_positions", "extract_patches", "assemble_patches"]


def _check(size: tuple[int, int], patch: int, stride: int) -> None:
    if patch < 1 or stride < 1:
        raise ValueError(f"patch ({patch}) and stride ({stride}) must be positive integers.")
    if patch > min(size):
        raise ValueError(f"patch size {patch} is larger than the image ({size[0]}x{size[1]}); "
                         "use a smaller patch or a larger image.")


def patch_positions(n: int, patch: int, stride: int) -> torch.Tensor:
    """Top-left coordinates of the patches along one axis of length ``n``.

    Example:
        >>> patch_positions(10, 4, 3).tolist()
        [0, 3, 6]
        >>> patch_positions(11, 4, 3).tolist()
        [0, 3, 6, 7]
    """
    pos = list(range(0, n - patch + 1, stride))
    if pos[-1] != n - patch:  # keep the last row/column covered
        pos.append(n - patch)
    return torch.tensor(pos)


def _grid_index(size: tuple[int, int], patch: int, stride: int, device) -> torch.Tensor | None:
    """Indices of the strided positions inside the stride-1 unfold grid (None = all)."""
    if stride == 1:
        return None
    h, w = size
    rows = patch_positions(h, patch, stride)
    cols = patch_positions(w, patch, stride)
    return (rows[:, None] * (w - patch + 1) + cols[None, :]).reshape(-1).to(device)


def extract_patches(x: torch.Tensor, patch: int, stride: int = 1) -> torch.Tensor:
    """All ``patch x patch`` patches of ``x`` at the given stride.

    Args:
        x: images ``(B, C, H, W)``.
        patch: patch side ``p``.
        stride: step between patch positions (the last row/column is always included).

    Returns:
        ``(B, L, C*p*p)`` patches.

    Example:
        >>> extract_patches(torch.zeros(2, 1, 16, 16), 8, stride=4).shape
        torch.Size([2, 9, 64])
    """
    if x.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}.")
    size = (x.shape[-2], x.shape[-1])
    _check(size, patch, stride)
    cols = F.unfold(x, patch).transpose(1, 2)  # (B, L1, C*p*p), all stride-1 positions
    idx = _grid_index(size, patch, stride, x.device)
    # Unfold at stride 1 then select: costs a little memory but handles any stride
    # while still covering the bottom/right border.
    return cols if idx is None else cols[:, idx]


def assemble_patches(patches: torch.Tensor, size: tuple[int, int], patch: int,
                     stride: int = 1, weights: torch.Tensor | None = None,
                     return_weight: bool = False):
    """Put patches back in place, averaging where they overlap.

    Args:
        patches: ``(B, L, C*p*p)`` as returned by :func:`extract_patches`.
        size: ``(H, W)`` of the image.
        patch, stride: as in :func:`extract_patches`.
        weights: optional ``(B, L)`` per-patch weights for a weighted average.
        return_weight: also return the summed weight per pixel ``(B, 1, H, W)``
            and leave the sum unnormalised (to blend with another image yourself).

    Returns:
        ``(B, C, H, W)`` image (or ``(sum, weight)`` with ``return_weight``).

    Example:
        >>> x = torch.rand(1, 3, 20, 20)
        >>> torch.allclose(assemble_patches(extract_patches(x, 5, 2), (20, 20), 5, 2), x)
        True
    """
    size = (int(size[0]), int(size[1]))
    _check(size, patch, stride)
    b, n, d = patches.shape
    idx = _grid_index(size, patch, stride, patches.device)
    n_full = (size[0] - patch + 1) * (size[1] - patch + 1)
    expected = n_full if idx is None else idx.numel()
    if n != expected:
        raise ValueError(f"got {n} patches but a {size[0]}x{size[1]} image with patch {patch} "
                         f"and stride {stride} has {expected}.")
    if weights is None:
        data = patches
    else:
        w = weights.reshape(b, n, 1).to(patches.dtype)
        # The weight rides along as one extra "channel" of p*p copies, so the per-pixel
        # normaliser comes out of the same fold.
        data = torch.cat([patches * w, w.expand(b, n, patch * patch)], dim=2)
    if idx is not None:  # scatter the strided patches into the stride-1 grid
        full = data.new_zeros(b, n_full, data.shape[2])
        full[:, idx] = data
        data = full
    folded = F.fold(data.transpose(1, 2), size, patch)
    if weights is None:
        total, weight = folded, _coverage(size, patch, stride, patches)
    else:
        total, weight = folded[:, :-1], folded[:, -1:]
    if return_weight:
        return total, weight.expand(b, 1, *size)
    return total / weight


def _coverage(size: tuple[int, int], patch: int, stride: int, like: torch.Tensor) -> torch.Tensor:
    """How many patches cover each pixel, ``(1, 1, H, W)``.

    The patch grid is a product of row and column positions, so the count is the outer
    product of two 1-D counts: no need to fold a tensor of ones.
    """
    def axis(n: int) -> torch.Tensor:
        c = torch.zeros(n, dtype=like.dtype)
        for p in patch_positions(n, patch, stride).tolist():
            c[p:p + patch] += 1
        return c
    return torch.outer(axis(size[0]), axis(size[1])).to(like.device)[None, None]
