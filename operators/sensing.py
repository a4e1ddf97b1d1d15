"""Compressed sensing: ``m`` linear measurements of an ``n``-pixel image, ``y = A vec(x)``."""

from __future__ import annotations

import math
import numbers

import torch

from .base import LinearOperator, as_seed, as_shape, check_image
from .dct import dct, idct

DENSE_LIMIT = 2**24  # entries of a dense matrix (64 MiB in float32) before "auto" goes fast


class CompressedSensing(LinearOperator):
    """``y = A vec(x)``, ``x`` of shape ``(B, *shape)``, ``y`` of shape ``(B, m)``.

    ``kind``:
        ``gaussian``: a dense ``m x n`` matrix with i.i.d. ``N(0, 1/m)`` entries (the classic
        compressed-sensing matrix; memory ``m n``, for small images).
        ``fast``: ``A = sqrt(n/m) P F D`` with ``D`` random signs, ``F`` the orthonormal DCT of
        the flattened image and ``P`` a random choice of ``m`` rows: ``O(n log n)`` time and
        ``O(n)`` memory, so a 512x512 RGB image takes milliseconds.
        ``auto`` (default): ``gaussian`` when ``m n <= 2**24``, else ``fast``.

    Convention:
        ``vec`` flattens channels, rows, columns in that order (row-major). Both kinds satisfy
        ``E[A^T A] = I``; ``norm()`` is about ``1 + sqrt(n/m)`` for ``gaussian`` and exactly
        ``sqrt(n/m)`` for ``fast``. ``m`` must be in ``[1, n]``.

    Example:
        >>> A = CompressedSensing(100, (1, 16, 16), seed=0)
        >>> A(torch.rand(2, 1, 16, 16)).shape
        torch.Size([2, 100])
    """

    KINDS = ("auto", "gaussian", "fast")
    name = "cs"

    def __init__(self, m: int, shape: tuple, *, kind: str = "auto", seed: int = 0):
        shape = as_shape(shape, "the image shape (C, H, W)")
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"compressed sensing needs an image shape (C, H, W), got {shape}.")
        n = math.prod(shape)
        if isinstance(m, bool) or not (isinstance(m, numbers.Integral) and 1 <= m <= n):
            raise ValueError(f"the number of measurements m must be an integer in [1, {n}], got {m!r}.")
        m = int(m)  # (a NumPy integer is one)
        if kind not in self.KINDS:
            raise ValueError(f"unknown sensing kind '{kind}'; choose one of {', '.join(self.KINDS)}.")
        if kind == "auto":
            kind = "gaussian" if m * n <= DENSE_LIMIT else "fast"
        super().__init__(shape)
        self.m, self.n, self.kind = m, n, kind
        g = torch.Generator().manual_seed(as_seed(seed))
        if kind == "gaussian":
            self.register_buffer("matrix", torch.randn(m, n, generator=g) / math.sqrt(m))
        else:
            signs = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1
            self.register_buffer("signs", signs)
            self.register_buffer("rows", torch.randperm(n, generator=g)[:m].sort().values)

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"this operator measures images of shape {self.input_shape}, got "
                f"{tuple(x.shape[1:])}."
            )
        return x.flatten(1)

    def noise_in_image(self, level: float) -> float:
        """``level * m / n``: ``A A^T = (n / m) I`` (``fast`` exactly, ``gaussian`` in
        expectation), so the least-squares image ``A^T (A A^T)^-1 y`` holds noise of total
        variance ``level^2 m^2 / n`` over ``n`` pixels. Given as it is, the denoiser worked at
        the measurements' level, far too strong: camera 96x96, 25 % measurements, noise
        0.05, 26.88 dB against 31.64 at this level (31.26 taken as noise-free).

        Example:
            >>> CompressedSensing(64, (1, 16, 16)).noise_in_image(0.1)
            0.025
        """
        return level * self.m / self.n

    def extra_repr(self) -> str:
        return f"{self.m}, {tuple(self.input_shape)}, kind='{self.kind}'"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self._flat(x)
        if self.kind == "gaussian":
            return v @ self.matrix.to(v).T
        scale = math.sqrt(self.n / self.m)
        return scale * dct(v * self.signs.to(v))[:, self.rows.to(v.device)]

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim != 2 or y.shape[1] != self.m:
            raise ValueError(f"measurements must have shape (B, {self.m}), got {tuple(y.shape)}.")
        if self.kind == "gaussian":
            v = y @ self.matrix.to(y)
        else:
            full = y.new_zeros(y.shape[0], self.n)
            full[:, self.rows.to(y.device)] = y * math.sqrt(self.n / self.m)
            v = idct(full) * self.signs.to(y)
        return v.view(y.shape[0], *self.input_shape)
