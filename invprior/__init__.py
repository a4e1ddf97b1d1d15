"""invprior: imaging inverse problems solved with deep generative priors.

Heavy parts (solver, networks, training, sparse coding) load on first use, so that
``import invprior`` stays fast.

Example:
    >>> import invprior
    >>> invprior.psnr  # doctest: +ELLIPSIS
    <function psnr at ...>
"""

from .io import ImageError, read_image, write_image
from .metrics import psnr, ssim

__version__ = "0.1.0"

__all__ = ["ImageError", "psnr", "read_image", "ssim", "write_image", "__version__"]
