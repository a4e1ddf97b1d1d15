"""invprior: imaging inverse problems solved with deep generative priors.

    >>> import invprior, torch
    >>> A = invprior.operators.Inpainting(shape=(1, 32, 32), missing=0.5)
    >>> result = invprior.solve(A(torch.rand(1, 1, 32, 32)), A, iters=4, progress=False)
    >>> result.image.shape, result.prior
    (torch.Size([1, 1, 32, 32]), 'denoiser')

``solve`` (``api.solve``), ``load_prior`` (a trained prior file), ``make_prior``,
``PlugAndPlay`` (bring your own denoiser), ``Result`` and the ``operators`` package are
here; heavy parts load on first use, so that ``import invprior`` stays fast. The command
line is ``python -m invprior.solve`` (``invprior.cli``).
"""

from importlib import import_module
from importlib.util import find_spec

import operators

from .io import ImageError, read_image, write_image
from .metrics import psnr, ssim

__version__ = "0.1.0"

# name -> module that defines it, imported on first use
_LAZY = {"solve": "api", "auto_prior": "api", "load_prior": "glo", "make_prior": "priors",
         "PlugAndPlay": "priors", "PRIORS": "priors", "Result": "result"}

__all__ = ["ImageError", "psnr", "read_image", "ssim", "write_image", "operators",
           "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name.isidentifier() and not name.startswith("_") and find_spec(f"{__name__}.{name}"):
        # a subpackage as a plain `import invprior` reaches it (`invprior.priors.register`),
        # imported on first use; importing it sets it here (hasattr(invprior, "x.y") raised)
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'invprior' has no attribute '{name}'")
