"""A small trained CNN denoiser, the learned prior of plug-and-play restoration.

``unet``: the network; ``patches``: training patches cut from the images shipped with
scikit-image; ``training``: the loop (``python -m invprior.train --kind denoiser``);
``denoiser``: the shipped weights, loaded for plug-and-play.
"""

from .unet import DenoiserUNet

__all__ = ["DenoiserUNet"]
