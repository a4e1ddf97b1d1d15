"""The CNN denoiser's network and its training; the prior that uses it is
``invprior.priors.cnn`` (weights: ``invprior/weights/denoiser.pt`` for gray images,
``denoiser_colour.pt`` for colour ones).

``unet``: the network; ``planes``: how an image goes through it one (opponent) channel at a
time; ``patches``: training patches cut from the images shipped with scikit-image or from a
folder; ``training``: the loop (``python -m invprior.train --kind denoiser``);
``checkpoint``: the file format.
"""

from .unet import DenoiserUNet

__all__ = ["DenoiserUNet"]
