"""``python -m invprior.solve --op OP IMAGE``: the command line, in ``invprior.cli``.

``invprior.solve`` is also the package's solve function (``invprior.api.solve``). Importing
this module makes Python put the module in that place, so the module is made callable: it
calls ``api.solve``, and ``invprior.solve(y, op)`` means the same either way.

Example:
    >>> import torch, invprior, invprior.solve
    >>> y = 0.5 + 0.1 * torch.randn(1, 1, 16, 16)  # (a flat gray under noise of 0.1)
    >>> invprior.solve(y, invprior.operators.Denoising(), noise_level=0.1, progress=False).prior
    'denoiser'
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from invprior.api import solve

        return solve(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    from invprior.cli import main
    from invprior.distributed import leave

    leave(main())
