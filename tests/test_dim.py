"""A dim observation (a 16-bit image using a sliver of its range) restored stretched."""

import torch

import operators as O
from invprior import solve
from invprior.metrics import psnr


def test_a_dim_observation_is_restored_as_well_as_at_full_range(camera64):
    # 6 % of the range, stored in 16 bits: deblurred as it was, 25.60 dB against 27.75 at
    # full range (at 128x128 and 0.6 % of the range, 17.6 dB: below the blurred input's 23.3)
    A, dim = O.Blur(sigma=2.0), 0.06
    y = (dim * A(camera64) * 65535).round() / 65535
    full = solve(y / float(y.max()), A, noise_level=0.001 / float(y.max()), progress=False)
    out = solve(y, A, noise_level=0.001, truth=dim * camera64, progress=False)
    assert "restored stretched" in out.stop_reason
    assert abs(psnr(out.image / dim, camera64) - psnr(full.image * float(y.max()) / dim, camera64)) < 0.05
    assert psnr(out.image / dim, camera64) > psnr(y / dim, camera64) + 2
    assert float(out.image.max()) <= float(y.max()) + 1e-6  # on y's scale, not [0, 1]
    # the traced PSNR is the result's against the truth given, on that scale
    assert abs(out.psnrs[out.iteration - 1] - psnr(out.image, dim * camera64)) < 0.01
    # each item as alone, whatever the batch: a dim one among bright ones (a folder's) too,
    # and with one level per observation
    bright = A(camera64.flip(-1))
    for levels in (0.001, [0.001, 0.001]):
        mixed = solve(torch.cat([bright, y]), A, noise_level=levels, progress=False)
        assert torch.allclose(mixed.items[1].image, out.image, atol=1e-5)
        assert "stretched" not in mixed.items[0].stop_reason
    # an operator of one's own is restored as it is: a dim y may be its measurements' scale
    own = solve(y, lambda v: A(v), noise_level=0.0, iters=2, progress=False)
    assert "stretched" not in own.stop_reason
