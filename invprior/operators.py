"""``invprior.operators``: the top-level ``operators`` package, under the name the README
uses (``invprior.operators.Blur`` worked as an attribute, but ``import invprior.operators``
and ``from invprior.operators import Blur`` failed: no such module).

Example (not collected as a doctest: pytest would meet the operators package's file under
this module's name: ``--ignore`` in pyproject.toml; tests/test_structure.py checks it)::

    >>> import operators
    >>> from invprior.operators import Blur
    >>> Blur is operators.Blur
    True
"""

import sys

import operators

sys.modules[__name__] = operators
