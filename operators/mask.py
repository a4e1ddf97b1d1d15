"""Inpainting: pixelwise multiplication by a mask (1 = observed, 0 = missing)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import LinearOperator, as_number, as_real_array, as_seed, as_shape, check_image, is_damped
from .cg import conjugate_gradient
from .smooth import neg_laplacian, neighbour_sum


def _shape_hw(shape) -> tuple[int, int]:
    shape = as_shape(shape, "a mask's shape")
    if len(shape) < 2 or min(shape[-2:]) < 1:
        raise ValueError(f"a mask needs a positive (H, W) size, got {shape}.")
    return shape[-2:]


def random_mask(shape, missing: float = 0.5, seed: int = 0) -> torch.Tensor:
    """Mask ``(H, W)`` with exactly ``round(missing * H * W)`` missing pixels, chosen by ``seed``.

    Example:
        >>> random_mask((4, 4), missing=0.25).sum().item()
        12.0
    """
    told = missing
    missing = as_number(missing, "missing (the fraction of pixels hidden)")  # (a 0-d tensor failed in round())
    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing must be the fraction of pixels hidden, a number in [0, 1), got {told!r}.")
    h, w = _shape_hw(shape)
    g = torch.Generator().manual_seed(as_seed(seed))
    order = torch.randperm(h * w, generator=g)
    mask = torch.ones(h * w)
    mask[order[: round(missing * h * w)]] = 0.0
    return mask.view(h, w)


def box_mask(shape, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Mask ``(H, W)`` with the rectangle ``box = (top, left, height, width)`` missing."""
    h, w = _shape_hw(shape)
    sides = as_shape(box, "box")
    if len(sides) != 4:
        raise ValueError(f"a box is (top, left, height, width), got {box!r}.")
    top, left, bh, bw = sides
    if bh < 1 or bw < 1 or top < 0 or left < 0 or top + bh > h or left + bw > w:
        raise ValueError(f"the box {box} (top, left, height, width) does not fit in {h}x{w}.")
    mask = torch.ones(h, w)
    mask[top : top + bh, left : left + bw] = 0.0
    return mask


def boxes_mask(shape, count: int = 5, seed: int = 0) -> torch.Tensor:
    """Mask ``(H, W)`` with ``count`` non-overlapping boxes missing, their sides from 1/8 to
    1/4 of the image's smaller side (32 to 64 pixels at 256), placed at random (``seed``) at
    least 1/32 of it apart and from the border: holes too wide for a local prior.

    Example:
        >>> m = boxes_mask((256, 256))
        >>> 0.1 < (m == 0).float().mean().item() < 0.3
        True
    """
    h, w = _shape_hw(shape)
    side = min(h, w)
    small, large, gap = max(1, side // 8), max(1, side // 4), max(1, side // 32)
    too_small = min(h, w) < large + 2 * gap + 1
    rng = np.random.default_rng(as_seed(seed) % 2 ** 64)
    mask = torch.ones(h, w)
    placed = tries = 0
    while placed < count:
        tries += 1
        if too_small or tries > 10000:
            raise ValueError(f"{count} boxes do not fit apart in {h}x{w}; use a larger image (or fewer boxes).")
        bh, bw = rng.integers(small, large + 1, size=2)
        top, left = rng.integers(gap, h - gap - bh), rng.integers(gap, w - gap - bw)
        if mask[max(0, top - gap) : top + bh + gap, max(0, left - gap) : left + bw + gap].min() == 0:
            continue  # too close to a box already placed
        mask[top : top + bh, left : left + bw] = 0
        placed += 1
    return mask


def scribble_mask(shape, strokes: int = 12, width: float = 2.0, seed: int = 0) -> torch.Tensor:
    """Mask ``(H, W)`` with ``strokes`` random line segments of ``width`` pixels missing.

    Example:
        >>> m = scribble_mask((32, 32), seed=1)
        >>> 0 < (m == 0).float().mean().item() < 0.5
        True
    """
    h, w = _shape_hw(shape)
    if isinstance(strokes, bool) or not hasattr(strokes, "__index__") or strokes < 1:
        raise ValueError(f"strokes must be a positive integer, got {strokes!r}.")
    g = torch.Generator().manual_seed(as_seed(seed))
    ends = torch.rand(strokes, 2, 2, generator=g) * torch.tensor([h - 1, w - 1])
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    p = torch.stack([yy, xx], -1).float().view(-1, 1, 2)  # (HW, 1, 2)
    a, b = ends[:, 0], ends[:, 1]  # (S, 2)
    ab = b - a
    t = (((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-9)).clamp(0, 1)
    dist = (p - (a + t[..., None] * ab)).norm(dim=-1).min(1).values
    return (dist > width / 2).float().view(h, w)


def text_mask(shape, text: str = "invprior", seed: int = 0) -> torch.Tensor:
    """Mask ``(H, W)`` where lines of ``text`` (PIL's built-in font) are missing: every
    pixel the drawing touches (the font is anti-aliased: a soft mask would leave each of its
    pixels partly observed, and plain division would restore them).

    Example:
        >>> m = text_mask((32, 64))
        >>> bool(((m == 0) | (m == 1)).all()), 0.05 < (m == 0).float().mean().item() < 0.5
        (True, True)
    """
    from PIL import Image, ImageDraw  # lazy: only text masks need PIL

    h, w = _shape_hw(shape)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r}.")
    canvas = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(canvas)
    g = torch.Generator().manual_seed(as_seed(seed))
    step = 14
    for row in range(2, h, step):
        shift = int(torch.randint(0, step, (1,), generator=g))
        draw.text((shift - step, row), (text + "  ") * (w // 20 + 2), fill=0)
    return torch.from_numpy(np.asarray(canvas) == 255).float()


def mostly_nonzero(values: torch.Tensor) -> bool:
    """Whether at least half of ``values`` (any shape, not empty) are not 0: a photo's pixels
    where a mask's holes were not zeroed.

    Example:
        >>> mostly_nonzero(torch.tensor([0.0, 0.2, 0.5])), mostly_nonzero(torch.zeros(3))
        (True, False)
    """
    return values.numel() > 0 and float((values != 0).float().mean()) >= 0.5


class Inpainting(LinearOperator):
    """Pixelwise mask ``y = m * x``; ``m`` in [0, 1] (1 observed, 0 missing, soft allowed).

    Build it from a mask ``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)``, or from
    ``shape=(C, H, W)`` and ``kind`` in ``random`` (``missing`` fraction, ``seed``), ``box``
    (``box=(top, left, height, width)``), ``boxes`` (five large ones, ``boxes_mask``),
    ``scribble`` or ``text``.

    Convention:
        The mask broadcasts over batch and channels; ``y`` keeps the image shape with
        missing pixels set to 0. The operator is diagonal, so adjoint = forward and the
        pseudo-inverse is ``y * m / m**2`` where ``m > 0`` (0 elsewhere), also for soft masks.

    Example:
        >>> A = Inpainting(shape=(3, 16, 16), missing=0.5, seed=0)
        >>> A(torch.ones(1, 3, 16, 16)).mean().item()
        0.5
    """

    KINDS = ("random", "box", "boxes", "scribble", "text")
    WIDE_HOLE = 16.0  # pixels in: from here on the harmonic fill starts (initial_estimate)
    name = "inpaint"
    projection_is_cheap = True
    good_initial_estimate = True

    def __init__(
        self,
        mask=None,
        *,
        shape: tuple | None = None,
        kind: str = "random",
        missing: float = 0.5,
        seed: int = 0,
        box: tuple | None = None,
    ):
        if mask is None:
            if shape is None:
                raise ValueError("Inpainting needs a mask or an image shape to draw one.")
            mask = self.draw(shape, kind=kind, missing=missing, seed=seed, box=box)
        mask = as_real_array(mask, "the mask holds complex values; a mask is real (1 = observed, 0 = missing).")
        if mask.ndim < 2 or mask.ndim > 4 or min(mask.shape) < 1:
            raise ValueError(f"a mask must be 2-D to 4-D and non-empty, got {tuple(mask.shape)}.")
        if not torch.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
            raise ValueError("mask values must be finite and in [0, 1] (1 = observed).")
        while mask.ndim < 4:
            mask = mask[None]
        if shape is not None and tuple(as_shape(shape, "shape"))[-2:] != tuple(mask.shape[-2:]):
            raise ValueError(f"shape {tuple(shape)} and the mask's {tuple(mask.shape[-2:])} "
                             f"differ; give the mask alone (its size is the image's).")
        super().__init__()
        # a first guess for norm(); forward calls update it (the mask broadcasts over C)
        self.input_shape = tuple(shape)[-3:] if shape is not None and len(shape) >= 3 else tuple(mask.shape[1:])
        self.register_buffer("mask", mask)

    def extra_repr(self) -> str:
        h, w = self.mask.shape[-2:]
        return f"mask {h}x{w}, {float((self.mask < 0.5).float().mean()):.1%} missing"

    @classmethod
    def draw(cls, shape, *, kind="random", missing=0.5, seed=0, box=None) -> torch.Tensor:
        """Draw an ``(H, W)`` mask of the given ``kind`` for images of ``shape``."""
        if kind == "random":
            return random_mask(shape, missing, seed)
        if kind == "box":
            h, w = _shape_hw(shape)
            return box_mask(shape, box or (h // 4, w // 4, h // 2, w // 2))
        if kind == "boxes":
            return boxes_mask(shape, seed=seed)
        if kind == "scribble":
            return scribble_mask(shape, seed=seed)
        if kind == "text":
            return text_mask(shape, seed=seed)
        raise ValueError(f"unknown mask kind '{kind}'; choose one of {', '.join(cls.KINDS)}.")

    @classmethod
    def from_alpha(cls, alpha, threshold: float = 0.5) -> "Inpainting":
        """Mask from an alpha channel ``(..., H, W)``: transparent pixels are missing."""
        alpha = torch.as_tensor(alpha, dtype=torch.float32)
        return cls((alpha >= threshold).float())

    def mask_for(self, x: torch.Tensor) -> torch.Tensor:
        """The mask on ``x``'s device and dtype, broadcasting against ``x (B, C, H, W)``;
        ``ValueError`` where it does not fit."""
        check_image(x)
        m = self.mask
        fits = m.shape[-2:] == x.shape[-2:] and m.shape[1] in (1, x.shape[1])
        if fits and m.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"the mask holds {m.shape[0]} masks, one per image, but the batch "
                             f"holds {x.shape[0]} images.")
        if not fits:
            raise ValueError(
                f"the mask shape {tuple(m.shape)} does not match the image shape "
                f"{tuple(x.shape)}."
            )
        return m.to(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask_for(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.mask_for(y)

    def pinv(self, y: torch.Tensor, *, damping: float = 0.0, **_) -> torch.Tensor:
        """Closed form of ``(A^T A + damping I)^-1 A^T y`` (A is diagonal); exact, no CG.
        ``damping``: a float, or a positive tensor broadcasting against ``y`` (per item)."""
        m = self.mask_for(y)
        if is_damped(damping):
            return m * y / (m * m + damping)
        return torch.where(m > 0, y / m.clamp_min(torch.finfo(m.dtype).tiny), 0.0)

    def is_binary(self) -> bool:
        """Whether every value of the mask is 0 or 1 (not a soft mask).

        Example:
            >>> box = box_mask((8, 8), (2, 2, 3, 3))
            >>> Inpainting(box).is_binary(), Inpainting(0.5 * box).is_binary()
            (True, False)
        """
        return bool(((self.mask == 0) | (self.mask == 1)).all())

    def _binary_mask(self) -> torch.Tensor | None:
        """The mask as booleans when it is one binary mask for the whole batch, else None."""
        return self.mask.bool() if self.mask.shape[0] == 1 and self.is_binary() else None

    def hole_radius(self) -> float:
        """How far into its largest hole the mask reaches: the greatest distance (pixels) from
        a missing pixel to the nearest observed one (0 without holes), over every mask of
        the batch. A 64x64 box: 32; a 14-pixel stroke: 7; half the pixels missing at random:
        about 2.

        Example:
            >>> Inpainting(box_mask((64, 64), (10, 10, 20, 30))).hole_radius()
            10.0
        """
        from scipy.ndimage import distance_transform_edt

        radii = []
        for missing in (self.mask < 0.5).reshape(-1, *self.mask.shape[-2:]):
            # only the holes' box grown by one pixel: a blemish in a 12-megapixel photo took
            # 1.5 s over the whole mask. Exact: every pixel outside the box is observed, and
            # any observed pixel beyond the grown box has a nearer one on its rim (its
            # coordinates clamped to the box), which is outside the holes.
            box = hole_box(missing, margin=1)
            if box is not None:
                radii.append(float(distance_transform_edt(missing[box].cpu().numpy()).max()))
        return max(radii, default=0.0)

    def split(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``y``'s values ``(B, C, H, W)`` where the mask marks pixels observed, and where it
        marks them missing (flat); None where the mask does not fit ``y``.

        Example:
            >>> seen, holes = Inpainting(box_mask((4, 4), (0, 0, 2, 2))).split(torch.ones(1, 1, 4, 4))
            >>> seen.numel(), holes.numel()
            (12, 4)
        """
        try:
            seen, y = torch.broadcast_tensors(self.mask >= 0.5, y.detach())
        except RuntimeError:  # (a mask that does not fit: mask_for says so)
            return None
        seen = seen.to(y.device)
        return y[seen], y[~seen]

    def zero_where_observed(self, y: torch.Tensor) -> bool:
        """Whether ``y (B, C, H, W)`` is exactly 0 on every pixel the mask marks observed (16
        or more) and not 0 on most of the others: the mask marks the holes with 1, as
        OpenCV, LaMa and scikit-image's ``inpaint_biharmonic`` read a mask, and ``y`` holds
        zeros in them. Read so, only zeros are observed (a scribble mask: 4.29 dB against
        31.54). False where the mask does not fit ``y``.

        Example:
            >>> m = box_mask((16, 16), (4, 4, 8, 8))
            >>> y = torch.rand(1, 1, 16, 16) * m + 0.1  # holes zeroed, the photo > 0
            >>> Inpainting(m).zero_where_observed(y), Inpainting(1 - m).zero_where_observed(y * m)
            (False, True)
        """
        parts = self.split(y)
        if parts is None:
            return False
        observed, others = parts
        return observed.numel() >= 16 and bool((observed == 0).all()) and mostly_nonzero(others)

    def initial_estimate(self, y: torch.Tensor) -> torch.Tensor:
        """The missing pixels filled smoothly from their border: biharmonic (scikit-image)
        where every hole is thin, harmonic where one reaches ``WIDE_HOLE`` pixels in; one
        mask per batch.

        Why two: the biharmonic fill continues the border's gradient, which is right across
        a thin stroke but overshoots across a wide hole, where a dark line along the border
        becomes a dark blot. Measured through the plug-and-play CNN (PSNR inside the holes,
        biharmonic -> harmonic, 2026-12-07, one thread): five 32-64 pixel boxes on camera
        13.83 -> 23.39 dB, on astronaut 11.56 -> 12.46; 14-pixel scribbles (7 pixels in, 14
        where they cross) 22.54 -> 22.73 and 18.04 -> 17.81, level on average, so those keep
        the biharmonic fill (the inpainter takes them by default: ``api.THICK_HOLE``).
        """
        if self.mask.shape[0] != 1:
            return super().initial_estimate(y)
        fill = harmonic_inpaint if self.hole_radius() >= self.WIDE_HOLE else biharmonic_inpaint
        with torch.no_grad():
            m = self.mask.to(y)
            # a soft mask's seen pixels are dimmed by it: undone (y / m) before the fill, which
            # had spread them dimmed into the holes (a feathered 30-pixel disc on astronaut:
            # the hole's mean 0.25 for 0.37, and plug-and-play kept it dark); a binary mask's
            # y is as it was
            seen = torch.where(m >= 0.5, y / m.clamp_min(0.5), y)
            return fill(seen, m).clamp(0, 1)

    def projection(self, y: torch.Tensor):
        """Put the observed pixels of ``y`` back (binary masks; soft ones: None)."""
        observed = self._binary_mask()
        if observed is None:
            return None
        observed = observed.to(y.device).expand_as(y)
        return lambda x: torch.where(observed, y, x)


def biharmonic_inpaint(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """scikit-image's biharmonic inpainting of ``y`` ``(B, C, H, W)`` where ``mask`` (1 =
    observed, broadcast to ``y``) is below 0.5.

    Example:
        >>> y = torch.ones(1, 1, 8, 8); m = torch.ones(1, 1, 8, 8); m[..., 3:5, 3:5] = 0
        >>> torch.allclose(biharmonic_inpaint(y * m, m), y)
        True
    """
    import numpy as np
    from skimage.restoration import inpaint_biharmonic

    holes = (mask.expand_as(y) < 0.5).cpu().numpy()
    values = y.detach().double().cpu().numpy()
    out = np.empty_like(values)
    for b in range(y.shape[0]):
        for c in range(y.shape[1]):
            if holes[b, c].all():  # nothing seen in the plane: mid-gray (scikit-image failed,
                out[b, c] = 0.5    # "zero-size array to reduction operation minimum")
                continue
            out[b, c] = _blockwise(inpaint_biharmonic, values[b, c], holes[b, c])
    return torch.from_numpy(out).to(y)


# scikit-image solves the whole plane as one sparse system, whose direct solve grows faster
# than the pixel count: a 3000x3000 RGB photo with half its pixels missing took 11 minutes
# and 9.5 GiB. Thin holes (the biharmonic's use) are filled from a few hole widths around,
# so blocks of BIHARMONIC_BLOCK pixels, each solved with BIHARMONIC_MARGIN pixels of context
# on every side (at most 512x512, the size a solve is fastest per pixel here), give the same
# fill in bounded memory; an image of up to 512x512 is solved whole, as before.
BIHARMONIC_BLOCK, BIHARMONIC_MARGIN = 416, 48


def _blockwise(fill, values, holes, block: int = BIHARMONIC_BLOCK,
               margin: int = BIHARMONIC_MARGIN):
    """``fill(values, holes)`` of an ``(H, W)`` plane block by block: each ``block`` x
    ``block`` core is kept from a solve that sees ``margin`` more pixels around it."""
    import numpy as np

    h, w = values.shape
    if max(h, w) <= block + 2 * margin:
        return fill(values, holes)
    out = np.empty_like(values)
    for top in range(0, h, block):
        for left in range(0, w, block):
            t, l = max(top - margin, 0), max(left - margin, 0)
            window = (slice(t, min(top + block + margin, h)), slice(l, min(left + block + margin, w)))
            piece = fill(values[window], holes[window])
            out[top : top + block, left : left + block] = piece[top - t : top - t + block,
                                                                left - l : left - l + block]
    return out


def harmonic_inpaint(y: torch.Tensor, mask: torch.Tensor, tol: float = 1e-4,
                     max_iter: int = 5000) -> torch.Tensor:
    """Each missing pixel of ``y`` ``(B, C, H, W)`` the mean of its four neighbours (Laplace's
    equation; ``mask``, 1 = observed, broadcasts to ``y``; a pixel below 0.5 is missing).

    Unlike the biharmonic fill it never leaves the range of the hole's border (maximum
    principle), so a thin dark line along a wide hole does not spread into a dark blot
    (camera with five 32-64 pixel boxes missing: 20.7 dB inside the holes against 13.4).
    Conjugate gradient on the hole pixels, any device and batch, started from a coarse-to-fine
    fill (``_pyramid_fill``) so that wide holes need few iterations.

    Example:
        >>> y = torch.linspace(0, 1, 8).repeat(1, 1, 8, 1); m = torch.ones(1, 1, 8, 8)
        >>> m[..., 2:6, 2:6] = 0
        >>> torch.allclose(harmonic_inpaint(y * m, m), y, atol=1e-5)  # a ramp is harmonic
        True
    """
    holes = (mask.to(y).expand_as(y) < 0.5).to(y.dtype)
    if not holes.any():
        return y.clone()
    known = y * (1 - holes)

    def laplacian(v):  # on the holes, with the observed pixels fixed (Dirichlet)
        return holes * neg_laplacian(v)

    b = holes * neighbour_sum(known)
    start = holes * _pyramid_fill(known, holes)
    # each plane its own system, stopping on its own: a batch fills exactly as its items alone
    v = conjugate_gradient(laplacian, b, x0=start, tol=tol, max_iter=max_iter, dot=_dot)
    return known + holes * v


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum((-2, -1), keepdim=True)


def _pyramid_fill(known: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """A rough fill of the holes: the mean of the observed pixels at the coarsest scale that
    has some, brought back up scale by scale (the start of the harmonic solve)."""
    weight = 1 - holes
    if min(known.shape[-2:]) < 2 or bool((weight > 0).all()):
        return known
    pool = lambda t: F.avg_pool2d(t, 2, ceil_mode=True)  # noqa: E731
    coarse_weight = pool(weight)
    coarse = pool(known * weight) / coarse_weight.clamp_min(1e-12)
    filled = _pyramid_fill(coarse, (coarse_weight == 0).to(known.dtype))
    up = F.interpolate(filled, size=known.shape[-2:], mode="bilinear", align_corners=False)
    return torch.where(holes > 0, up, known)


def hole_box(missing: torch.Tensor, margin: int = 0) -> tuple[slice, slice] | None:
    """The ``(rows, cols)`` slices of the smallest rectangle holding every True pixel of
    ``missing (H, W)`` and ``margin`` pixels around it (clipped to the image); None where
    none is True.

    Example:
        >>> m = torch.zeros(50, 60, dtype=torch.bool); m[10:20, 5:45] = True
        >>> hole_box(m, margin=1)
        (slice(9, 21, None), slice(4, 46, None))
    """
    if not missing.any():
        return None
    rows, cols = missing.any(1).nonzero().flatten(), missing.any(0).nonzero().flatten()
    h, w = missing.shape
    return (slice(max(0, int(rows[0]) - margin), min(h, int(rows[-1]) + 1 + margin)),
            slice(max(0, int(cols[0]) - margin), min(w, int(cols[-1]) + 1 + margin)))
