"""The benchmark, its cases and its references, out of the library's core.

``python -m invprior.bench`` (``run.main``) writes BENCHMARKS.md: ``cases`` (the fixed
256x256 cases of ../shared/cases), ``classical`` (scikit-image references), ``sparse`` (the
dictionary-learning baseline), ``trained`` (GLO / CSGM priors on held-out images) and
``standard`` (Set12 and Kodak24 by the published protocol).
"""


def uninterrupted(result):
    """``result`` (of ``solve`` or a prior's ``restore``), or ``KeyboardInterrupt`` where
    Ctrl-C cut it short.

    The library answers Ctrl-C with the best estimate so far (``Result.interrupted``); in a
    benchmark that would be a row of wrong numbers, so Ctrl-C ends the benchmark instead.

    Example:
        >>> import torch
        >>> from invprior.result import Result
        >>> uninterrupted(Result(torch.zeros(1, 1, 2, 2), iterations=3)).iterations
        3
        >>> try:
        ...     uninterrupted(Result(torch.zeros(1, 1, 2, 2), interrupted=True))
        ... except KeyboardInterrupt:
        ...     print("Ctrl-C")
        Ctrl-C
    """
    if result.interrupted:
        raise KeyboardInterrupt
    return result
