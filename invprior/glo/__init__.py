"""Trained generative priors: GLO training, the linear (PCA) prior, and latent-space solving.

    python -m invprior.train --data faces --flips --out my_faces.pt     # see --help

    >>> import operators as O
    >>> from invprior.glo import load_prior, named_set
    >>> from invprior.weights import weight_file
    >>> prior = load_prior(weight_file("prior_faces.pt"))
    >>> x = named_set("faces", "test")[:1]  # a held-out face
    >>> A = O.CompressedSensing(200, prior.shape, kind="gaussian", seed=0)
    >>> y = O.GaussianNoise(0.01, seed=1)(A(x))
    >>> result = prior.restore(y, A, noise_level=0.01, iters=100, progress=False)
    >>> result.image.shape
    torch.Size([1, 1, 32, 32])

One idea per file: ``data`` (image sets), ``decoders`` (GLO and linear generators),
``losses`` (l2, Laplacian-pyramid l1), ``pca`` (closed-form linear prior, starting codes),
``distributed`` (torchrun plumbing), ``training`` (the GLO loop), ``checkpoint`` (file
format), ``prior`` (``TrainedPrior``, ``load_prior``), ``latent`` (the CSGM solve).
"""

from .checkpoint import read_checkpoint, write_checkpoint
from .data import ImageSet, named_set
from .decoders import GLODecoder, LinearDecoder, build_decoder
from .pca import linear_prior_state, principal_components
from .prior import TrainedPrior, load_prior
from .training import TrainConfig, train

__all__ = [
    "GLODecoder", "ImageSet", "LinearDecoder", "TrainConfig", "TrainedPrior",
    "build_decoder", "linear_prior_state", "load_prior", "named_set", "principal_components",
    "read_checkpoint", "train", "write_checkpoint",
]
