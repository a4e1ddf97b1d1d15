"""Forward operators for imaging inverse problems: ``y = f(x) + noise``.

Importable on its own (it never imports ``invprior``). Images are ``(B, C, H, W)`` tensors;
every operator is a ``torch.nn.Module``.

Example:
    >>> import torch, operators
    >>> A = operators.make("blur", sigma=2.0)
    >>> y = operators.GaussianNoise(0.01, seed=0)(A(torch.rand(1, 1, 32, 32)))
    >>> A.adjoint(y).shape
    torch.Size([1, 1, 32, 32])
"""

from .base import (
    Composition,
    LinearComposition,
    LinearLambda,
    LinearOperator,
    Lambda,
    Operator,
    Stack,
    as_operator,
    check_image,
    compose,
    inner,
)
from .blur import Blur, box_kernel, gaussian_kernel, motion_kernel
from .cg import conjugate_gradient
from .denoise import Denoising
from .flat import FlatStack
from .gained import Gained, LinearGained, gained
from .hidden import fill_hidden, hidden_pixels
from .item import ItemOf, LinearItemOf, item_of
from .linearise import Linearisation
from .mask import (
    Inpainting,
    biharmonic_inpaint,
    box_mask,
    boxes_mask,
    harmonic_inpaint,
    random_mask,
    scribble_mask,
    text_mask,
)
from .noise import GaussianNoise, Noise, PoissonNoise, SaltPepperNoise, make_noise
from .registry import make, names
from .resample import Downsampling, downsampling_kernel, upsample_bicubic
from .sensing import CompressedSensing

__all__ = [
    "Blur", "CompressedSensing", "Composition", "Denoising", "Downsampling", "FlatStack", "Gained", "GaussianNoise",
    "Inpainting", "ItemOf", "Lambda", "LinearItemOf", "Linearisation", "LinearComposition", "LinearGained", "LinearLambda", "LinearOperator", "Noise",
    "Operator", "PoissonNoise", "SaltPepperNoise", "Stack", "as_operator", "biharmonic_inpaint",
    "box_kernel", "box_mask", "boxes_mask", "check_image", "compose", "conjugate_gradient", "downsampling_kernel",
    "fill_hidden", "gained", "gaussian_kernel", "harmonic_inpaint", "hidden_pixels", "inner", "item_of", "make", "make_noise", "motion_kernel", "names", "random_mask",
    "scribble_mask", "text_mask", "upsample_bicubic",
]
