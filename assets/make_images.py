"""Make the small sample images shipped in assets/ from skimage.data (run from the repo root).

    python assets/make_images.py

camera256.png     skimage.data.camera(), resized to 256x256 (order 1, anti-aliasing), gray
astronaut256.png  skimage.data.astronaut(), resized the same way, RGB
astronaut_holes.png  astronaut256 as RGBA with scribbled strokes transparent (inpainting demo)
These match ../shared/cases (camera256_clean, astronaut256_clean) up to 8-bit rounding.
"""

import numpy as np
import skimage.data
import skimage.transform

from invprior.io import write_image
from operators import scribble_mask


def resized(image: np.ndarray) -> np.ndarray:
    out = skimage.transform.resize(image / 255.0, (256, 256), order=1, anti_aliasing=True)
    return np.clip(out, 0, 1)


if __name__ == "__main__":
    write_image("assets/camera256.png", resized(skimage.data.camera()), overwrite=True)
    astronaut = resized(skimage.data.astronaut())
    write_image("assets/astronaut256.png", astronaut, overwrite=True)
    alpha = scribble_mask((256, 256), strokes=20, width=4.0, seed=7).numpy()[..., None]
    write_image("assets/astronaut_holes.png", np.concatenate([astronaut * alpha, alpha], -1), overwrite=True)
