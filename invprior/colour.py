"""The opponent colour transform that every per-channel denoiser of a colour image uses.

An RGB image goes to one luminance and two colour-difference channels by an orthonormal
matrix, so white noise of std ``sigma`` in RGB stays white with the same ``sigma`` in each
opponent channel: a gray denoiser can take each channel with the image's own noise level.

Convention:
    ``(B, 3, H, W)`` RGB in [0, 1] <-> ``(B, 3, H, W)`` opponent channels, any device and
    dtype. The luminance ``(R + G + B) / sqrt(3)`` lies in [0, sqrt(3)]; the colour
    differences are centred on 0 (down to -0.82). ``centred=False`` (the default) returns
    them as they are; ``centred=True`` adds ``CHROMA_OFFSET`` to the two colour differences,
    which puts them where a denoiser trained on [0, 1] images has seen data. Any other
    channel count passes through unchanged.

Why the offset: the shipped CNN denoiser is bias-free, so it is exactly scale-equivariant
(``f(a x, a s) = a f(x, s)`` for ``a > 0``: the luminance range needs nothing) but not
shift-equivariant, and it never saw negative values. Measured on five Kodak24 photos at
sigma 25 (``invprior.bench --sections standard`` has the whole set): colour differences
as they are 29.07 dB, shifted by 0.5 30.60, shifted by their exact minimum (0.71, 0.82) or
to the luminance mean 30.59 / 30.60, each RGB channel on its own 28.38, a 1.2x noise level
for the colour differences 30.53. K-SVD subtracts every patch's mean, so it needs no offset.
"""

from __future__ import annotations

import math

import torch

__all__ = ["to_opponent", "from_opponent", "CHROMA_OFFSET", "same_channels", "gray_channel"]

# luminance, red - blue, green - magenta; rows orthonormal
_OPPONENT = torch.tensor([[1 / math.sqrt(3)] * 3,
                          [1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)],
                          [1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)]],
                         dtype=torch.float64)
# mid-grey: any offset from 0.5 up to the channels' minimum measured the same (above)
CHROMA_OFFSET = 0.5


_MADE: dict = {}  # (dtype, device) -> the constants there (a dict: torch.compile traces it)


def _constants(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The transform's matrix and offset ``(1, 3, 1, 1)`` on ``device``, made once: a copy to
    a GPU at every call would make the host wait for the GPU each time (PyTorch syncs after
    a blocking copy from host memory), four times per colour denoiser call. Made outside
    inference mode, so that they may enter autograd later."""
    key = (dtype, device)
    if key not in _MADE:
        with torch.inference_mode(False), torch.no_grad():
            offset = torch.tensor([0.0, CHROMA_OFFSET, CHROMA_OFFSET]).reshape(1, 3, 1, 1)
            _MADE[key] = _OPPONENT.to(device, dtype), offset.to(device, dtype)
    return _MADE[key]


def to_opponent(x: torch.Tensor, centred: bool = False) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB -> opponent channels (see the module's Convention).

    Example:
        >>> x = torch.rand(2, 3, 8, 8)
        >>> torch.allclose(from_opponent(to_opponent(x, True), True), x, atol=1e-6)
        True
        >>> to_opponent(torch.ones(1, 3, 1, 1), centred=True).flatten()
        tensor([1.7321, 0.5000, 0.5000])
    """
    if x.shape[1] != 3:
        return x
    matrix, offset = _constants(x.dtype, x.device)
    out = torch.einsum("ij,bjhw->bihw", matrix, x)
    return out + offset if centred else out


def from_opponent(x: torch.Tensor, centred: bool = False) -> torch.Tensor:
    """The inverse of :func:`to_opponent` with the same ``centred`` (the transpose)."""
    if x.shape[1] != 3:
        return x
    matrix, offset = _constants(x.dtype, x.device)
    x = x - offset if centred else x
    return torch.einsum("ji,bjhw->bihw", matrix, x)


def same_channels(x: torch.Tensor, tolerance: float | None = None) -> bool:
    """Whether ``(B, 3, H, W)`` RGB images are gray: their three channels the same to within
    ``tolerance`` at every pixel (a black-and-white photo saved in colour; a decoder's
    rounding may leave a level between them). False for any other channel count. Default:
    one 8-bit level where every value is on the 8-bit grid, else none (a 16-bit or float
    image's faint colour, 0.8 of an 8-bit level wide, had been restored as gray).

    Such an image is better restored as the gray image it is: the gray network is the one
    that fits it, a third of the work, and its noise reads right (the colour path's reading
    is sqrt(3) times the noise: all of it in the luminance). Set12 as 3-channel PNGs,
    blind, the folder CLI: noise 25/255 30.32 -> 30.41 dB, 50/255 26.29 -> 26.69, in 2.3x
    less time.

    Example:
        >>> g = torch.rand(1, 1, 8, 8)
        >>> same_channels(g.expand(-1, 3, -1, -1)), same_channels(torch.rand(1, 3, 8, 8))
        (True, False)
    """
    if x.shape[1] != 3:
        return False
    if tolerance is None:
        levels = x * 255
        tolerance = 1 / 255 if bool(((levels - levels.round()).abs() < 1e-3).all()) else 0.0
    return bool(((x.amax(1) - x.amin(1)) <= tolerance + 1e-6).all())


def gray_channel(x: torch.Tensor) -> torch.Tensor:
    """The one channel ``(B, 1, H, W)`` of images whose three are the same
    (``same_channels``): their middle value at each pixel, which is exactly the gray level
    where a decoder's rounding left one channel a level apart. Taken on a contiguous copy:
    torch 2.13's CPU median across an expanded (stride-0) dimension is wrong (0.998 off).

    Example:
        >>> g = torch.rand(1, 1, 8, 8)
        >>> torch.equal(gray_channel(g.expand(-1, 3, -1, -1)), g)
        True
    """
    return x.contiguous().median(1, keepdim=True).values
