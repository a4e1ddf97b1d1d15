"""What ``prior="auto"`` picks, as a table for BENCHMARKS.md ("What auto picks").

Each row is a kind of problem, the property of the operator that decides it, and the prior
``invprior.api.resolve_prior`` returns for an example of it, computed here from the code (so
the table cannot drift from the policy), beside the block of BENCHMARKS.md whose rows
measured the choice. Costs nothing to run; every benchmark run rewrites it.

Example:
    >>> "| denoise |" in markdown()
    True
"""

from __future__ import annotations

import torch

import operators as O

__all__ = ["markdown", "examples"]


def _saturate(x):
    return (1.5 * x).clamp(0, 1)


def examples() -> list[tuple[str, str, str, object]]:
    """``(problem, deciding property, evidence, resolve_prior's answer)`` per row."""
    from ..api import LARGE_HOLE, LARGE_HOLE_PIXELS, SCATTERED, THICK_HOLE, resolve_prior

    def pick(op, y=None, options=None):
        return resolve_prior("auto", O.as_operator(op), options or {}, y)

    small, large = torch.zeros(1, 1, 256, 256), torch.zeros(1, 1, 1024, 1024)
    sparse = O.Inpainting(shape=(256, 256), missing=0.5, seed=10)
    scribbles = O.Inpainting(O.scribble_mask((256, 256), 8, 14.0, seed=3))
    dense = O.Inpainting(shape=(256, 256), missing=0.95, seed=10)
    boxes = O.Inpainting(O.boxes_mask((256, 256)))
    big_boxes = O.Inpainting(O.box_mask((1024, 1024), (100, 100, 64, 64)))
    soft_boxes = O.Inpainting(0.9 * O.boxes_mask((256, 256)) + 0.05)
    fixed = "Fixed cases: the **CLI default** row of each case is its best PSNR"
    return [
        ("denoise", "registry name", fixed, pick(O.Denoising())),
        ("blur", "registry name", fixed, pick(O.Blur(sigma=2.0))),
        (f"inpaint, every missing pixel within {THICK_HOLE:g} pixels of an observed one "
         f"(half the pixels missing at random: radius {sparse.hole_radius():.1f})",
         "`Inpainting.hole_radius()`", f"{fixed}; Large holes: the hole-width sweep", pick(sparse, small)),
        (f"inpaint, a binary mask with holes {THICK_HOLE:g} or more pixels in "
         f"(scribbles: radius {scribbles.hole_radius():.1f})", "`Inpainting.hole_radius()`",
         "Large holes: the scribbles rows and the hole-width sweep", pick(scribbles, small)),
        (f"inpaint, holes {THICK_HOLE:g} or more pixels in between scattered pixels (over "
         f"{SCATTERED:.0%} missing, radius under {LARGE_HOLE:g}; 95 % missing at random: radius "
         f"{dense.hole_radius():.1f})", "`Inpainting.hole_radius()`, the missing fraction",
         "`api.SCATTERED`'s comment: plug-and-play ahead of the inpainter up to 95 % missing, "
         "level at 98 %", pick(dense, small)),
        (f"inpaint, a binary mask with a hole {LARGE_HOLE:g}+ pixels in (boxes: radius "
         f"{boxes.hole_radius():.1f})", "`Inpainting.hole_radius()`",
         "Large holes: the boxes rows (the inpainter's fill averaged with plug-and-play "
         "started from it: `priors.inpainter.REFINE_HOLE`)", pick(boxes, small)),
        ("inpaint, a large hole in a larger photo", "`Inpainting.hole_radius()` (the inpainter tiles)",
         "Large holes: the boxes rows", pick(big_boxes, large)),
        (f"inpaint, a soft mask (not binary) with a hole {LARGE_HOLE:g}+ pixels in, up to "
         f"{int(LARGE_HOLE_PIXELS ** 0.5)}x{int(LARGE_HOLE_PIXELS ** 0.5)}",
         "`Inpainting.hole_radius()`, the mask's values, image size",
         "the deep image prior continues structure that plug-and-play smears (Large holes: the "
         "boxes rows); the inpainter takes binary masks only", pick(soft_boxes, small)),
        ("downsample", "registry name", fixed, pick(O.Downsampling(4))),
        ("cs", "registry name", fixed, pick(O.CompressedSensing(256, (1, 32, 32), seed=0))),
        ("your own linear operator", "a `LinearOperator` without a registry name",
         "Fixed cases (the shipped linear operators run the same splitting)",
         pick(O.LinearLambda(lambda x: x.mean(1, keepdim=True)))),
        ("your own nonlinear operator (gamma after a blur)", "not linear: Gauss-Newton data steps",
         "Nonlinear operators: the gamma rows", pick(lambda x: x.clamp_min(1e-6) ** 0.5)),
        ("your own nonlinear operator that hides pixels (saturation)",
         "zero Jacobian: they start mid-range (`operators.hidden`)",
         "Nonlinear operators: the over-exposure rows", pick(_saturate)),
        ("several measurements of one image (`operators.Stack`: two motion blurs)",
         "a tuple y: plug-and-play takes it end to end (`operators.FlatStack`)",
         "Several measurements of one image", pick(O.Stack(O.Blur(motion=(9, 0)), O.Blur(motion=(9, 90))))),
        ("any operator, with an option only a network takes (`loss='l1'`, `lr`, `stop`...)",
         "the options", "-", pick(O.Denoising(), options={"loss": "l1"})),
    ]


def markdown() -> str:
    from ..priors.inpainter import REFINE_HOLE

    lines = ["| problem | decided by | auto picks | measured in |", "|---|---|---|---|"]
    lines += [f"| {problem} | {by} | `{choice}` | {evidence} |"
              for problem, by, evidence, choice in examples()]
    lines += ["", "From `invprior.api.auto_prior` / `resolve_prior`, run on an example of each "
              "problem when this file was written. `denoiser`: the CNN denoiser, one pass for "
              "denoising, plug-and-play otherwise; `inpainter`: the trained inpainter (no "
              f"iterations; where a hole reaches {REFINE_HOLE:g} pixels in, its fill averaged "
              "with plug-and-play started from it); `dip`: the deep image prior."]
    return "\n".join(lines) + "\n"
