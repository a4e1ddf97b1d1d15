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


def _own_operators() -> None:
    """invprior's ``operators`` package (beside this one) in ``sys.modules`` under its name,
    before anything imports it: a user's ``operators.py`` in the working folder, where
    ``python -m`` and a script look first (a natural name for custom operators), had hidden
    it, and every command, ``--help`` too, ended in "No module named 'operators.base'".
    After, ``import operators`` gives invprior's."""
    import sys
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    ours = Path(__file__).resolve().parent.parent / "operators" / "__init__.py"
    found = sys.modules.get("operators")
    try:
        origin = getattr(found, "__file__", None) if found else getattr(find_spec("operators"), "origin", None)
    except (ImportError, ValueError):  # (a broken module of that name: ours then)
        origin = None
    if not ours.is_file() or (origin and Path(origin).resolve() == ours):
        return
    spec = spec_from_file_location("operators", ours, submodule_search_locations=[str(ours.parent)])
    module = module_from_spec(spec)
    sys.modules["operators"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("operators", None)
        raise


_own_operators()

import operators  # noqa: E402  (ours, after _own_operators)

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
