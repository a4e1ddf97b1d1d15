"""Shared small test images (skimage.data, resized; no downloads)."""

import numpy as np
import pytest
import skimage.data
import skimage.transform
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


def small(image: np.ndarray, size: int) -> torch.Tensor:
    a = skimage.transform.resize(image / 255.0, (size, size), order=1, anti_aliasing=True)
    a = np.clip(a, 0, 1).astype(np.float32)
    t = torch.from_numpy(a)
    return t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None].contiguous()


@pytest.fixture(scope="session")
def camera64() -> torch.Tensor:
    """(1, 1, 64, 64) gray camera."""
    return small(skimage.data.camera(), 64)


@pytest.fixture(scope="session")
def astronaut32() -> torch.Tensor:
    """(1, 3, 32, 32) RGB astronaut."""
    return small(skimage.data.astronaut(), 32)
