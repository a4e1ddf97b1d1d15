"""Deblurring a photo: its blur saw the scene beyond the frame, and the border model decides
whether the result is sharp or framed in ringing.

    python demos/photo_deblur.py [--fast] [--image PATH] [--length 15] [--angle 30] [--noise 0.01] [-o photo_deblur.png] [--force]

The scene (default the shipped astronaut, assets/astronaut256.png, at 128x128) is blurred as
a camera blurs it: a linear motion kernel of ``--length`` pixels at ``--angle`` degrees over
the whole scene, of which the photo keeps the middle (``Blur(border="valid")``: the frame is
smaller than the scene by the kernel's reach), and gaussian noise of std ``--noise``
(seeded; not told to the solvers). Restored by plug-and-play with the shipped CNN denoiser
under three border models, each cropped to the frame: ``circular`` (the image repeats, as a
simulation assumes), ``replicate`` (its edge pixels go on) and ``valid`` (the scene beyond is
unknown and estimated with the image: what ``python -m invprior.solve --op deblur`` assumes
for a photo); and by Wiener deconvolution with the true kernel (circular, the classical
reference). Writes ONE figure: the blurred photo | each method | the truth, with the PSNR
under each panel. Common options: demos/common.py.
"""

from __future__ import annotations

import sys

import common

import operators as O
from operators.blur import wiener_deconvolution

BORDERS = ("circular", "replicate", "valid")


def run(argv=None) -> int:
    p = common.parser(__doc__, "photo_deblur.png", common.ASSETS / "astronaut256.png")
    common.motion_arguments(p, length=15)
    args = common.settle(p.parse_args(argv))
    scene = common.load_image(args.image, args.size)
    camera = O.Blur(motion=(args.length, args.angle), border="valid")
    reach = max(camera.kernel.shape)
    if min(scene.shape[-2:]) < 2 * reach:  # the photo keeps the scene less the kernel's reach
        raise ValueError(f"the scene ({scene.shape[-1]}x{scene.shape[-2]}) is too small for a "
                         f"{reach}-pixel kernel: give --size {2 * reach} or more.")
    y = O.GaussianNoise(args.noise, seed=args.seed)(camera(scene))
    truth = camera.crop(scene)
    rows = [common.timed("wiener", lambda: wiener_deconvolution(y, camera.kernel))]
    for border in BORDERS:
        op = O.Blur(motion=(args.length, args.angle), border=border)
        # the truth is not given: with valid borders the estimate is larger than the frame
        rows.append(common.timed(border, lambda: op.crop(
            common.prior("denoiser", y, op, args, None).image)))
    title = (f"a photo deblurred under each border model: motion {args.length} px at "
             f"{args.angle:g} degrees, noise {args.noise:g}, {y.shape[-1]}x{y.shape[-2]}")
    return common.finish(args, ("blurred photo", y, True), rows, truth, title)


if __name__ == "__main__":
    sys.exit(common.main(run))
