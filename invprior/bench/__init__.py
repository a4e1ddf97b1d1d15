"""The benchmark, its cases and its references, out of the library's core.

``python -m invprior.bench`` (``run.main``) writes BENCHMARKS.md: ``cases`` (the fixed
256x256 cases of ../shared/cases), ``classical`` (scikit-image references), ``sparse`` (the
dictionary-learning baseline), ``trained`` (GLO / CSGM priors on held-out images) and
``standard`` (Set12 and Kodak24 by the published protocol).
"""
