"""The CNN denoiser's network and its training; the prior that uses it is
``invprior.priors.cnn`` (weights: ``invprior/weights/denoiser.pt``).

``unet``: the network; ``patches``: training patches cut from the images shipped with
scikit-image; ``training``: the loop (``python -m invprior.train --kind denoiser``).
"""

from .unet import DenoiserUNet

__all__ = ["DenoiserUNet"]
