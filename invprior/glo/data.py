"""Training images for a trained prior: the shipped ``digits`` and ``faces`` sets, or a folder.

Convention:
    Images are float32 ``(N, C, H, W)`` tensors in [0, 1]. An ``ImageSet`` indexes its images
    ``0 .. N-1`` and, with ``flips``, their mirror images ``N .. 2N-1`` (mirror of ``i`` is
    ``N + i``), so that a distributed run can read only the images of its own shard.

Held-out rows (never used for training or for choosing settings):
    ``digits``: ``sklearn.datasets.load_digits`` rows 1500..1796 (rows 0..1499 train);
    ``faces``: ``skimage.data.lfw_subset()`` entries 90..99 (0..89 train; 100..199 are not
    faces and are never used).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

NAMED = ("digits", "faces")
SPLITS = ("train", "test")
# (first, end) rows of each named set; "test" rows are the held-out evaluation images.
ROWS = {
    "digits": {"train": (0, 1500), "test": (1500, 1797)},
    "faces": {"train": (0, 90), "test": (90, 100)},
}
NATIVE_SIZE = {"digits": 16, "faces": 32}
# the image files that the command line reads (its arrays, .npy, are no training photos)
EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")
LUMA = (0.299, 0.587, 0.114)  # BT.601 weights for RGB -> gray


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """The centre square of ``(N, C, h, w)``, scaled to ``size x size``.

    Bilinear with antialiasing (only matters when shrinking), clipped to [0, 1].

    Example:
        >>> resize(torch.rand(2, 1, 8, 12), 16).shape
        torch.Size([2, 1, 16, 16])
    """
    # the centre square first: scaled whole, a 1x12000 strip became 256x3072000 (3 GB)
    h, w = x.shape[-2:]
    side = min(h, w)
    x = x[..., (h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
    if side != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True)
    return x.clamp(0, 1).contiguous()


def set_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Gray -> RGB by repetition, RGB -> gray by BT.601 luma; ``(N, C, H, W)``."""
    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    w = torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def named_set(name: str, split: str = "train") -> torch.Tensor:
    """A shipped set at its native size, ``(N, 1, 16, 16)`` digits or ``(N, 1, 32, 32)`` faces.

    ``split`` is ``train`` or ``test`` (the held-out rows, for evaluation only).

    Example:
        >>> named_set("faces", "test").shape
        torch.Size([10, 1, 32, 32])
    """
    if name not in NAMED:
        raise ValueError(f"unknown image set '{name}'; use {' or '.join(NAMED)}, or a folder.")
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; use train or test.")
    first, end = ROWS[name][split]
    if name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ValueError("the digits set needs scikit-learn: pip install scikit-learn.") from None
        x = torch.tensor(load_digits().images[first:end], dtype=torch.float32) / 16.0
    else:
        from skimage.data import lfw_subset

        x = torch.tensor(lfw_subset()[first:end], dtype=torch.float32)
    return resize(x[:, None], NATIVE_SIZE[name])


def image_files(folder: str | Path) -> list[Path]:
    """PNG/JPEG/TIFF files under ``folder`` (recursively), in sorted order, each real file
    once."""
    root = Path(folder)
    if not root.exists():
        raise ValueError(f"the data folder '{root}' does not exist.")
    if not root.is_dir():
        raise ValueError(f"'{root}' is not a folder; pass a folder of images or digits/faces.")
    from ..folders import files_under
    from ..io import is_hidden

    # hidden files left out, as a folder run does (macOS leaves ._photo.png beside each
    # photo on a shared or exFAT drive: each had been said as unreadable); symlinked
    # subfolders searched, as a folder run does (rglob had left them out without a word)
    files = sorted(p for p in files_under(root) if p.suffix.lower() in EXTENSIONS
                   and p.is_file() and not is_hidden(p.relative_to(root)))
    # each image once: a link to a file in the folder (an album's "best of") had trained as
    # one more image, weighing it twice
    real: dict = {}
    files = [p for p in files if real.setdefault(p.resolve(), p) is p]
    if not files:
        raise ValueError(
            f"no images found under '{root}' (searched recursively for "
            f"{', '.join(EXTENSIONS)})."
        )
    return files


def decoded(files: list[Path], folder):
    """Yield ``(path, image)`` (``read_image``'s ``(1, C, H, W)``) for each of ``files`` that
    decodes; the others are left out, then named in one note (``say_left_out``). Decoding,
    not a header: a truncated file's header reads, and it stopped a GLO run at its loading.

    Example:
        >>> import tempfile
        >>> from ..io import write_image
        >>> good = write_image(Path(tempfile.mkdtemp()) / "a.png", torch.rand(1, 1, 4, 5))
        >>> [image.shape for _, image in decoded([good], good.parent)]
        [torch.Size([1, 1, 4, 5])]
    """
    from ..io import ImageError, read_image

    bad = []
    for path in files:
        try:
            image = read_image(path).image
        except ImageError as err:  # one corrupt file among 400: left out, and said
            bad.append((path, str(err)))
            continue
        yield path, image
    say_left_out(bad, len(files), folder)


def say_left_out(bad: list, total: int, folder) -> None:
    """One note on stderr naming the files left out of a training folder, ``(path, why)``
    (the first three, and why the first was: float TIFFs on the 0-255 scale had been
    "cannot be read", where solve said to divide them by 255); ``ValueError`` when that is
    every file.

    Example:
        >>> say_left_out([("a.tif", "cannot read 'a.tif': its float pixels reach 218.")], 1, "ur")
        Traceback (most recent call last):
        ...
        ValueError: none of the 1 image files under 'ur' can be used (a.tif): cannot read 'a.tif': its float pixels reach 218.
    """
    from ..console import say

    if not bad:
        return
    names = ", ".join(str(f) for f, _ in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    first = bad[0][1].rstrip(".")
    if len(bad) == total:
        raise ValueError(f"none of the {total} image files under '{folder}' can be used ({names}): "
                         f"{first}.")
    say(f"note: left out {len(bad)} of {total} files under '{folder}' that cannot be used: "
        f"{names} ({first}).")


class ImageSet:
    """Training images from a named set or a folder (decoded once, at the training size),
    served by index.

    Args:
        source: ``digits``, ``faces`` or a folder of images (searched recursively).
        size: side of the square images (default: 16 digits, 32 faces, 64 for a folder).
        channels: 1 or 3 (default: 1 for the named sets; for a folder 3 if any image is
            colour, else 1). A file that cannot be decoded is left out, with a note
            (``decoded``).
        flips: add the horizontal mirror of every image (doubles the set).
        split: ``train`` or ``test`` for the named sets (a folder has no split).

    Example:
        >>> data = ImageSet("digits", flips=False)
        >>> len(data), data.shape
        (1500, (1, 16, 16))
        >>> data.load([0, 1]).shape
        torch.Size([2, 1, 16, 16])
    """

    def __init__(self, source: str, *, size: int | None = None, channels: int | None = None,
                 flips: bool = False, split: str = "train"):
        self.source, self.flips = str(source), bool(flips)
        # (from 8: the smallest side the solver restores, which a 4x4 prior was refused by)
        if size is not None and not (isinstance(size, int) and 8 <= size <= 1024):
            raise ValueError(f"size must be an integer in [8, 1024], got {size}.")
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}.")
        if self.source in NAMED:
            self.size = size or NATIVE_SIZE[self.source]
            self.channels = channels or 1
            self.images = set_channels(resize(named_set(self.source, split), self.size),
                                       self.channels)
            self.count = self.images.shape[0]
        else:
            # every file decoded once, here, and kept at the training size: a file that
            # does not decode is left out now (a truncated one, whose header reads, had
            # stopped the run at its loading), and the run does not decode it again
            self.size = size or 64
            kept, small = [], 0  # (each resized as it is decoded: a folder of photos is large)
            for _, image in decoded(image_files(self.source), self.source):
                small += min(image.shape[-2:]) < self.size
                kept.append(resize(image, self.size))
            if small:  # (a 2x2 image had been blown up to 32x32 without a word)
                from ..console import say

                say(f"note: {small} of {len(kept)} images under '{self.source}' are smaller "
                    f"than {self.size}x{self.size} (--size) and are enlarged to it.")
            # 3 if any file is colour (RGB, RGBA, palette): the first 32 files alone once
            # trained a folder gray whose 34th image was in colour
            self.channels = channels or max(x.shape[1] for x in kept)
            self.images = torch.cat([set_channels(x, self.channels) for x in kept])
            self.count = self.images.shape[0]

    @classmethod
    def from_tensor(cls, images: torch.Tensor, name: str = "tensor",
                    flips: bool = False) -> "ImageSet":
        """Wrap images ``(N, C, H, W)`` already in memory (e.g. a synthetic set).

        Example:
            >>> ImageSet.from_tensor(torch.rand(10, 1, 8, 8)).shape
            (1, 8, 8)
        """
        square = isinstance(images, torch.Tensor) and images.ndim == 4 and (
            images.shape[-1] == images.shape[-2])
        if not square:
            raise ValueError("images must be a (N, C, H, W) tensor of square images.")
        self = cls.__new__(cls)
        self.source, self.flips = name, bool(flips)
        self.images = images.float().contiguous()
        self.count, self.channels, self.size = images.shape[0], images.shape[1], images.shape[-1]
        return self

    @property
    def shape(self) -> tuple:
        """``(C, H, W)`` of every image."""
        return (self.channels, self.size, self.size)

    def __len__(self) -> int:
        return self.count * (2 if self.flips else 1)

    def signature(self) -> list:
        """Each image's mean, standard deviation and the means of its left and top
        halves (a mirror image differs), ``[[mean, std, left, top], ...]``: the same files
        wherever the folder is (a moved folder resumes; another folder of as many images
        does not), compared within ``training.SAME_IMAGES`` (a resize may differ in its
        last bit on another machine), read a chunk at a time (no copy of the whole set).

        Example:
            >>> ImageSet.from_tensor(torch.zeros(2, 1, 8, 8)).signature()
            [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
        """
        rows, half = [], self.size // 2
        for chunk in self.images.split(256):
            chunk = chunk.float()
            flat = chunk.flatten(1)
            rows += torch.stack([flat.mean(1), flat.std(1, correction=0),
                                 chunk[..., :half].mean((1, 2, 3)),
                                 chunk[..., :half, :].mean((1, 2, 3))], 1).tolist()
        return rows

    def load(self, indices) -> torch.Tensor:
        """Images ``(len(indices), C, H, W)`` for indices in ``[0, len(self))``."""
        indices = [int(i) for i in indices]
        if any(not 0 <= i < len(self) for i in indices):
            raise ValueError(f"image indices must be in [0, {len(self)}).")
        base = [i % self.count for i in indices]
        x = self.images[base] if base else self.images[:0]
        mirror = torch.tensor([i >= self.count for i in indices], dtype=torch.bool)
        if mirror.any():
            x = x.clone()
            x[mirror] = x[mirror].flip(-1)
        return x


def shard(count: int, rank: int, world: int) -> list[int]:
    """Indices owned by ``rank`` of ``world``: ``rank, rank + world, ...`` (strided).

    Example:
        >>> shard(7, 1, 3)
        [1, 4]
    """
    return list(range(rank, count, world))

