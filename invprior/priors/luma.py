"""A colour image's denoiser that denoises its luma only: plug-and-play super-resolution.

A downsampled colour photo keeps its colour differences (chroma) smooth; its lost detail is
in the luma. So, as SRCNN and the super-resolution tradition do, plug-and-play restores the
luma (BT.601 Y, kornia's YCbCr) with the gray network, while the chroma only follows the data
steps from its bicubic start and the final back-projection. One network call per image
instead of the colour network's three guided ones: 2.4 to 2.9x faster, and the gray network
restores the luma better than the colour one. Measured with the shipped networks
(``solve(lr, Downsampling(4, 'bicubic'))``, 32 iterations, 2 CPU threads), PSNR on Y with a
4-pixel border (Set5's protocol) and on RGB, colour network -> this: 4 validation crops of
skimage photos (astronaut, coffee, chelsea, rocket; 256x256) Y 29.55 -> 29.63 dB, RGB
27.92 -> 27.93, 24 -> 10 s per image; Set5 Y 30.50 -> 30.68 dB, RGB 28.68 -> 28.78, 36.8 ->
15.5 s per image (BENCHMARKS.md); the fixed case sr4_astronaut RGB 25.16 -> 25.11 dB, 27.5 ->
9.4 s. Noisy observations keep the colour network: noise in the chroma would stay. Not for
other operators: with the chroma left to the data steps, colour deblurring at noise 0.01
amplifies the chroma's noise (the crops above: 29.60 -> 22.42 dB) and colour inpainting of
half the pixels loses 0.34 dB.

Example:
    >>> from invprior.priors.cnn import CNNDenoiser
    >>> denoise = LumaDenoiser(CNNDenoiser())
    >>> x = 0.25 + 0.5 * torch.rand(2, 3, 24, 24)  # its result stays inside the RGB cube
    >>> out = denoise(x, 0.1)
    >>> from kornia.color import rgb_to_ycbcr
    >>> chroma = lambda image: rgb_to_ycbcr(image)[:, 1:]
    >>> # (1e-3: kornia before 0.9 inverts YCbCr with rounded coefficients, 3e-4 off)
    >>> out.shape, bool(torch.allclose(chroma(out), chroma(x), atol=1e-3))
    (torch.Size([2, 3, 24, 24]), True)
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["LumaDenoiser"]


class LumaDenoiser:
    """``denoise(x (B, 3, H, W), sigma)``: ``gray`` on the luma of ``x``, its chroma kept
    (the result clipped to [0, 1], as kornia's ``ycbcr_to_rgb`` returns it).

    Args:
        gray: a denoiser of ``(B, 1, H, W)`` images, ``gray(x, sigma) -> x`` (sigma a float
            or ``(B,)``), e.g. ``CNNDenoiser``, which takes one channel to its gray network.
    """

    def __init__(self, gray: Callable):
        self.gray = gray
        # as trusted as the gray denoiser it runs (pnp_restore checks the others' every call)
        self.checks_its_output = getattr(gray, "checks_its_output", False)

    def __call__(self, x: torch.Tensor, sigma) -> torch.Tensor:
        from kornia.color import rgb_to_ycbcr, ycbcr_to_rgb  # lazy: 0.2 s of every import

        ycc = rgb_to_ycbcr(x)
        luma = self.gray(ycc[:, :1].contiguous(), sigma)
        return ycbcr_to_rgb(torch.cat([luma, ycc[:, 1:]], 1))
