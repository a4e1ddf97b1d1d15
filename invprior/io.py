"""Read, validate and write images: files meet tensors here and nowhere else.

Convention:
    Images come back as float32 tensors ``(1, C, H, W)`` with C = 1 (gray) or 3 (RGB),
    integer files scaled to [0, 1] by their bit depth (8 or 16 bit). An alpha channel is
    returned separately as ``(1, 1, H, W)`` in [0, 1] so that a transparent pixel can mean
    "missing". ``.npy`` files hold ``(H, W)`` or ``(H, W, C)`` arrays; float arrays are taken
    as they are (a noisy observation may leave [0, 1]), integer arrays are scaled.
    Writes go to a temporary file in the target folder and are renamed into place.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import stat
import sys
import tempfile
import warnings
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from operators.base import as_switch

from .messages import error_text

MAX_PIXELS = 100_000_000
# Float pixels above this are on another scale (0-255 from ImageJ and others), not [0, 1]
# with noise: shot noise reaches far above 1 in low light (Poisson at a peak of 1 photon:
# 10 within a megapixel), so only an image darker than 20/255 on that scale is missed
FLOAT_TOP = 20.0
OFF_SCALE = 0.05  # the share of float pixels beyond noise's reach outside [0, 1] that says
# another scale ([-1, 1] from a network, [0, 2]): _check_unit_range
READABLE = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".npy")
# the formats that keep what was restored: a folder's outputs are named in one of them
LOSSLESS = (".png", ".tif", ".tiff", ".npy")
WRITABLE = LOSSLESS + (".jpg", ".jpeg")  # JPEG when -o asks for it
# a JPEG asked for keeps its colour at full resolution (4:4:4); at quality 95 scikit-image's
# astronaut, coffee and chelsea come back at 41.2, 40.3 and 43.1 dB
JPEG_QUALITY = 95


@contextmanager
def tifffile_quiet():
    """Inside (a command of ours): tifffile's log of each bad tag of a corrupt TIFF is not
    printed above the one sentence that says the file cannot be read (Python's last-resort
    handler printed it where no logging is set up; an application that sets up logging
    still gets it). Not at import: ``import invprior`` had silenced tifffile's warnings in
    the programs that use it.

    Example:
        >>> with tifffile_quiet():
        ...     logging.getLogger("tifffile").warning("not printed")
    """
    log, handler = logging.getLogger("tifffile"), logging.NullHandler()
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)


class ImageError(ValueError):
    """A file that cannot be used as an image; the message names the file and the problem."""


class OutputExists(ImageError):
    """An output file that is there already (``write_image`` without ``overwrite``)."""


class CannotWrite(ImageError):
    """An output that the system refused (a folder that cannot be made, a full disk...);
    ``errno`` is the ``OSError``'s, so that a caller can tell a full disk from one file."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.errno = code


class Loaded(NamedTuple):
    """An image read from disk: ``image`` (1, C, H, W) and ``alpha`` (1, 1, H, W) or None."""

    image: torch.Tensor
    alpha: torch.Tensor | None


def from_array(array) -> Loaded:
    """An image array as the API takes it: ``(H, W)`` or ``(H, W, C)`` (C <= 4; uint8,
    uint16 or float in [0, 1], e.g. from ``skimage.data`` or ``imageio``) -> ``image``
    ``(1, C, H, W)`` float32 in [0, 1] and ``alpha`` (a fourth or second channel) or None.

    Example:
        >>> from skimage import data
        >>> from_array(data.astronaut()).image.shape
        torch.Size([1, 3, 512, 512])
    """
    array = np.asarray(array)
    return _to_tensor(array, "the array")


def read_image(path: str | os.PathLike, *, unit_scale: bool = True) -> Loaded:
    """Read a PNG/JPEG/TIFF/BMP/WebP/GIF (its first frame) or ``.npy`` image into a float
    tensor, validating it: turned upright by its EXIF orientation, CMYK converted to RGB, a
    palette's or a gray PNG's transparent entry read as alpha.

    Raises ``ImageError`` for a missing, empty, truncated or non-image file, NaN/inf values,
    float values above ``FLOAT_TOP`` (an image on the 0-255 scale: it would come back white;
    ``unit_scale=False`` takes any floats, e.g. a blur kernel), a zero-sized or larger than
    100-megapixel image, or an unsupported shape.

    Example:
        >>> import os, tempfile
        >>> path = write_image(os.path.join(tempfile.mkdtemp(), "x.png"), torch.rand(1, 3, 8, 8))
        >>> img, alpha = read_image(path)
        >>> img.shape, alpha
        (torch.Size([1, 3, 8, 8]), None)
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"cannot read '{path}': no such file.")
    if path.is_dir():
        raise ImageError(f"cannot read '{path}': it is a folder, not an image file.")
    if not path.is_file():  # (a FIFO, /dev/zero: it said "the file is empty")
        raise ImageError(f"cannot read '{path}': it is not a regular file (a pipe or a device).")
    if path.stat().st_size == 0:
        raise ImageError(f"cannot read '{path}': the file is empty.")
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise ImageError(
            f"cannot read '{path}': unsupported file type '{suffix}' "
            f"(use one of {', '.join(READABLE)})."
        )
    array = _read_npy(path) if suffix == ".npy" else _read_raster(path)
    return _to_tensor(array, f"'{path}'", unit_scale)


def jpeg_noise(path: str | os.PathLike) -> float | None:
    """The std (on [0, 1]) of the error that a JPEG file's quantization adds, from its
    luminance table: a uniform error at the table's mean step, ``mean(step) / sqrt(12) /
    255``; None for any other file (or a JPEG without tables).

    Deblurring or denoising needs it: JPEG drops the finest band of the noise, where the
    noise level is read (``noise_level``), so that a blurred photo saved at quality 85 read
    0.8/255 and plug-and-play sharpened its blocks (coffee, 256x256: 23.52 dB against 24.48
    for the blurred input). Quality 95, 85, 75 (Pillow's tables) give 1.7, 5.0, 8.4/255;
    the levels that deblurred best measured 1.5-2.5, 2.5-6 and 4-9.

    Example:
        >>> import os, tempfile, imageio.v3 as iio
        >>> path = os.path.join(tempfile.mkdtemp(), "x.jpg")
        >>> iio.imwrite(path, np.zeros((16, 16, 3), np.uint8), quality=85)
        >>> round(255 * jpeg_noise(path), 1)
        5.0
    """
    from PIL import Image

    try:
        with Image.open(path) as probe:  # the header only
            # MPO: the JPEG of phones and cameras that store a second picture beside it
            jpeg = probe.format in ("JPEG", "MPO")
            tables = getattr(probe, "quantization", None) if jpeg else None
    except Exception:
        return None
    if not tables:
        return None
    steps = np.asarray(tables[min(tables)], dtype=np.float64)  # the first: luminance
    return float(steps.mean() / np.sqrt(12) / 255)


def read_measurements(path: str | os.PathLike) -> torch.Tensor:
    """Read a vector of measurements (compressed sensing) from ``.npy``: ``(1, m)`` float32.

    Example:
        >>> read_measurements("y.npy").shape  # doctest: +SKIP
        torch.Size([1, 1000])
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"cannot read '{path}': no such file.")
    if path.suffix.lower() != ".npy":
        raise ImageError(f"cannot read '{path}': measurements must be a .npy array.")
    array = _load_npy(path) if path.stat().st_size else None
    if array is None or array.size == 0 or array.ndim > 2 or (array.ndim == 2 and array.shape[0] != 1):
        raise ImageError(f"cannot read '{path}': expected a non-empty vector (m,) or (1, m) of measurements.")
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.number)) or np.iscomplexobj(array):
        raise ImageError(f"cannot read '{path}': it holds {array.dtype} values, not real numbers.")
    array = array.astype(np.float32).reshape(1, -1)
    if not np.isfinite(array).all():
        raise ImageError(f"cannot read '{path}': it contains NaN or infinite values.")
    return torch.from_numpy(array)


def _load_npy(path: Path, mmap_mode: str | None = None) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            start = f.read(6)
        # NumPy takes a file that is no .npy for pickled objects, and a zip for an .npz
        # (an NpzFile: AttributeError tracebacks, and a folder run ended); its own words for
        # pickled objects suggest loading them unsafely: never here
        if start != b"\x93NUMPY":
            reason = ("it is a .npz or other zip archive" if start.startswith(b"PK") else
                      "it holds pickled Python objects" if start.startswith(b"\x80") else
                      "its first bytes are no .npy header")
            raise ValueError(reason)
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except PermissionError as err:
        raise ImageError(f"cannot read '{path}': {os_reason(err)}.") from None
    except Exception as err:  # numpy raises several types for a bad file
        # (memory-mapped, an object array says "Python objects in dtype")
        reason = ("it holds pickled Python objects" if "pickle" in str(err)
                  or "Python objects" in str(err) else str(err))
        raise ImageError(f"cannot read '{path}': not a valid .npy array ({reason}).") from None


def _read_npy(path: Path) -> np.ndarray:
    array = _load_npy(path, mmap_mode="r")
    _check_size(array.shape[:2], path)
    return np.array(array)


def _read_raster(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        # tifffile: float and 16-bit colour pixels as stored (Pillow knows no float64 TIFF);
        # a TIFF by its first bytes, whatever its name (a PNG named .tif had been refused)
        array = _read_tiff(path) if is_tiff(path) else None
        if array is None:
            array = _read_pillow(path)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"cannot read '{path}': the image is larger than {MAX_PIXELS // 10**6} megapixels.") from None
    except PermissionError as err:  # (it said "not a readable image ([Errno 13] ...:)")
        raise ImageError(f"cannot read '{path}': {os_reason(err)}.") from None
    except Exception as err:
        raise ImageError(f"cannot read '{path}': not a readable image "
                         f"({error_text(err, path=path)}).") from None
    if array.ndim == 4:  # animated or multi-page file: take the first frame
        array = array[0]
    return array


def _read_pillow(path: Path) -> np.ndarray:
    import imageio.v3 as iio
    from PIL import Image

    with warnings.catch_warnings():
        # our own limit (MAX_PIXELS) decides; Pillow's warning from 89 megapixels on would
        # add two lines to stderr
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as probe:  # reads the header only: refuse bombs before decoding
            _check_size(probe.size[::-1], path)
            mode = {"CMYK": "RGB"}.get(probe.mode)
            transparent = probe.info.get("transparency")
            if transparent is not None and probe.mode in ("P", "L", "RGB"):
                # a palette's transparent entry (pngquant's PNGs, GIFs) or one transparent
                # colour: an alpha channel, which decoding the colours alone dropped
                mode = "LA" if probe.mode == "L" else "RGBA"
            # a 16-bit gray PNG's transparent value, which Pillow leaves to us
            deep_key = transparent if probe.mode.startswith("I") and isinstance(transparent, int) else None
            # Pillow opens a 16-bit gray+alpha PNG as RGBA: its gray came back as colour
            gray_alpha = "LA;16" in _png_rawmodes(probe)
        # upright as a viewer shows it (a phone photo's EXIF orientation: without it the
        # result comes out sideways), and print colours as RGB (their K is no alpha)
        # (index 0: an animated PNG or GIF had all its frames decoded, GBs, for the first)
        array = iio.imread(path, plugin="pillow", index=0, rotate=True,
                           **({"mode": mode} if mode else {}))
    if gray_alpha and array.ndim == 3 and array.shape[2] == 4:
        return array[:, :, [0, 3]]
    if deep_key is not None and array.ndim == 2:
        # (opaque on the 16-bit scale the values are read on: ``_unit_values``)
        opaque = np.where(array == deep_key, 0, 255 if array.dtype.itemsize == 1 else 65535)
        return np.dstack([array, opaque.astype(array.dtype)])
    return array


def _read_tiff(path: Path) -> np.ndarray | None:
    """The first page of a TIFF as ``(H, W[, C])``, by tifffile (which scikit-image
    installs), its size checked from the header first, turned upright by its Orientation
    tag (``_upright``) and a MINISWHITE page's values turned round (0 is white there: a
    scanned page had come out as its negative); None where Pillow reads it instead
    (``_pillow_reads``). A planar file (``SYX``: each channel stored whole) comes back
    interleaved."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        shape = dict(zip(page.axes, page.shape))
        _check_size((shape.get("Y", 0), shape.get("X", 0)), path)
        if _pillow_reads(page):
            return None
        if page.axes not in ("YX", "YXS", "SYX"):
            raise ImageError(f"cannot read '{path}': a TIFF page of axes {page.axes} is not "
                             f"an image (rows, columns and channels).")
        array = page.asarray()
        orientation = page.tags.get(274)
        extra = page.tags.get(338)  # ExtraSamples: what the channels beyond colour are
    if page.axes == "SYX":
        array = np.moveaxis(array, 0, -1)
    kinds = extra.value if extra is not None else ()
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    unspecified = sum(int(kind) == 0 for kind in kinds)
    rgba = page.photometric == tifffile.PHOTOMETRIC.RGB and len(kinds) == 1
    if unspecified and not rgba:
        # a gray page's unspecified extra samples are data, not transparency (a
        # microscope's second channel had been read as alpha, and the file refused as
        # transparent); RGB's one extra sample is alpha, as other readers take it
        raise ImageError(f"cannot read '{path}': its {array.shape[-1]} channels are not colour "
                         f"and transparency ({unspecified} of them unspecified extra samples: "
                         f"a microscope's channels?); save each channel as an image of its own.")
    if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        array = _white_is_zero(array, page.bitspersample, path)
    return _upright(array, orientation.value if orientation is not None else 1)


def _pillow_reads(page) -> bool:
    """Whether Pillow reads a TIFF ``page`` rather than tifffile: CMYK, YCbCr and palette
    pages, whose colours Pillow converts to RGB (tifffile gives the stored values: a
    palette's indices had been restored as a gray image), and compressions tifffile
    decodes only with the imagecodecs package, which we do not install (LZW, the most common,
    JPEG, CCITT fax; Pillow's libtiff decodes them, 16-bit colour at 8 bits:
    ``reading_notes`` says so)."""
    from tifffile import PHOTOMETRIC, TIFF

    return (page.photometric in (PHOTOMETRIC.SEPARATED, PHOTOMETRIC.YCBCR, PHOTOMETRIC.PALETTE)
            or page.compression not in TIFF.DECOMPRESSORS)


def _white_is_zero(array: np.ndarray, bits: int, path: Path) -> np.ndarray:
    """A MINISWHITE TIFF page's values ``array`` of ``bits`` each as MINISBLACK ones (0 is
    black); ``ImageError`` for other than unsigned integers (no file of them seen)."""
    if array.dtype == bool:
        return ~array
    if array.dtype.kind != "u":
        raise ImageError(f"cannot read '{path}': a TIFF whose 0 is white (MINISWHITE) with "
                         f"{array.dtype} pixels; save it with 0 as black.")
    return ((1 << min(bits, 8 * array.dtype.itemsize)) - 1 - array).astype(array.dtype)


def _upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` ``(H, W[, C])`` as a viewer shows it, by its TIFF/EXIF ``orientation``
    (1 to 8: the turns of Pillow's ``ImageOps.exif_transpose``, which Pillow applies to
    the formats it reads; a TIFF of a camera held upright had come out sideways).

    Example:
        >>> _upright(np.array([[1, 2], [3, 4]]), 6).tolist()  # turned a quarter clockwise
        [[3, 1], [4, 2]]
    """
    turns = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: a.swapaxes(0, 1), 6: lambda a: a.swapaxes(0, 1)[:, ::-1],
             7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: a.swapaxes(0, 1)[::-1]}
    turn = turns.get(int(orientation))
    return np.ascontiguousarray(turn(array)) if turn else array


# the first bytes of a TIFF file: little- and big-endian, classic and BigTIFF
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` is a TIFF, by its first bytes (False where it cannot
    be read: ``read_image`` says why)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in TIFF_MAGIC
    except OSError:
        return False


def reading_notes(path: str | os.PathLike) -> list[str]:
    """What ``read_image`` had to leave out of the file at ``path``, one sentence each,
    from its header: the frames after the first of an animated GIF/WebP/PNG or a TIFF
    stack (a TIFF's thumbnail or reduced-resolution pages are not frames), the low 8 bits
    of a 16-bit colour PNG, gray+alpha PNG or compressed colour TIFF that Pillow decodes
    (it decodes only the high ones; tifffile keeps all 16 of the TIFFs it decodes).
    Empty for ``.npy`` and for a file ``read_image`` cannot read (it says why).

    Example:
        >>> import os, tempfile
        >>> reading_notes(write_image(os.path.join(tempfile.mkdtemp(), "x.png"), torch.rand(1, 3, 4, 4)))
        []
    """
    path = Path(path)
    try:
        stack = stacked_images(path)
        deep = _cut_to_8_bits(path) if path.suffix.lower() != ".npy" else None
    except Exception:  # read_image says what is wrong with a file it cannot read
        return []
    notes = [f"{path} holds {stack}; the first is restored."] if stack else []
    if deep:
        notes.append(f"{path} is a {deep}, which is read at 8 bits (Pillow decodes no more); "
                     + ("saved uncompressed or with zip (deflate) compression, it keeps all 16."
                        if "TIFF" in deep else "a 16-bit TIFF of it keeps all 16."))
    return notes


def _cut_to_8_bits(path: Path) -> str | None:
    """What a file is, in words ("16-bit colour PNG"), whose values Pillow decodes at 8
    bits of their 16, or None."""
    if is_tiff(path):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            colour = page.samplesperpixel >= 3 and page.photometric != tifffile.PHOTOMETRIC.SEPARATED
            if _pillow_reads(page) and colour and page.bitspersample > 8:
                return f"16-bit colour TIFF compressed by {page.compression.name}"
        return None
    from PIL import Image

    with Image.open(path) as probe:
        if probe.mode not in ("RGB", "RGBA"):
            return None
        rawmodes = _png_rawmodes(probe)
    # (Pillow opens a 16-bit gray+alpha PNG as RGBA: it had been called colour)
    return ("16-bit gray PNG with alpha" if "LA;16" in rawmodes else
            "16-bit colour PNG" if ";16" in rawmodes else None)


def _png_rawmodes(probe) -> str:
    """How an opened PNG's pixels are stored ("RGB;16B", "LA;16B"): Pillow's raw modes of
    its tiles; "" for another format."""
    return " ".join(str(tile.args) for tile in probe.tile) if probe.format == "PNG" else ""


# a TIFF stack's axes (tifffile's letters) in words
STACK_AXES = {"Z": "z-planes", "T": "time points", "C": "channels", "P": "pages"}


def stacked_images(path: str | os.PathLike) -> str | None:
    """What the image file at ``path`` holds beyond its first image, in words ("8 images (4
    z-planes x 2 channels)", "5 frames"), or None: the frames of an animated GIF/WebP/PNG,
    the pages of a TIFF stack by its axes (a hyperstack's channels had been called frames,
    and its planes counted without them). Raises where the header cannot be read.

    Example:
        >>> import os, tempfile, tifffile
        >>> path = os.path.join(tempfile.mkdtemp(), "z.tif")
        >>> tifffile.imwrite(path, np.zeros((4, 2, 8, 8), np.uint8), metadata={"axes": "ZCYX"}, imagej=True)
        >>> stacked_images(path)
        '8 images (4 z-planes x 2 channels)'
        >>> tifffile.imwrite(path, np.zeros((8, 8, 1), np.uint8))  # (one image, not 8 frames)
        >>> stacked_images(path) is None
        True
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return None
    if is_tiff(path):
        import tifffile

        with tifffile.TiffFile(path) as tif:  # a stack is one series of same-size pages
            series, page = tif.series[0], tif.pages[0]
            # the series' axes beyond a page's, wherever they stand (an (H, W, 1) image's
            # trailing axis had been read as H frames)
            extra = [(n, a) for n, a in zip(series.shape, series.axes) if a not in page.axes]
            sizes, axes = tuple(n for n, _ in extra), "".join(a for _, a in extra)
            # pages written one at a time, or of other sizes, are series of their own (their
            # reduced-resolution copies are not images of their own)
            more = sum(len(s.pages) for s in tif.series[1:]
                       if s.pages and s.pages[0] is not None and not s.pages[0].is_reduced)
            if more:
                sizes, axes = (math.prod(sizes) + more,), "P"
    else:
        from PIL import Image

        with Image.open(path) as probe:
            sizes, axes = (int(getattr(probe, "n_frames", 1)),), "I"
    total = math.prod(sizes)
    if total <= 1:
        return None
    words = [f"{n} {STACK_AXES.get(a, 'frames')}" for n, a in zip(sizes, axes) if n > 1]
    return words[0] if len(words) == 1 else f"{total} images ({' x '.join(words)})"


def _check_size(hw, path: Path) -> None:
    if len(hw) < 2:
        raise ImageError(f"cannot read '{path}': expected an (H, W) or (H, W, C) image, got "
                         f"shape {tuple(hw)}.")
    if min(hw) < 1:
        raise ImageError(f"cannot read '{path}': the image has zero size {tuple(hw)}.")
    if hw[0] * hw[1] > MAX_PIXELS:
        raise ImageError(
            f"cannot read '{path}': {hw[0]}x{hw[1]} is larger than "
            f"{MAX_PIXELS // 10**6} megapixels."
        )


def _to_tensor(array: np.ndarray, what: str, unit_scale: bool = True) -> Loaded:
    """``array`` as ``Loaded``; ``what`` names it in an ``ImageError`` (a quoted path);
    ``unit_scale``: float values must be on the [0, 1] scale (``FLOAT_TOP``)."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ImageError(
            f"cannot read {what}: expected an (H, W) or (H, W, C) image with C <= 4, "
            f"got shape {array.shape}."
        )
    floats = np.issubdtype(array.dtype, np.floating)
    array = _unit_values(array, f"cannot read {what}", unit_scale)
    if unit_scale and floats:
        _check_unit_range(array, what)
    channels = array.shape[2]
    alpha = None
    if channels in (2, 4):  # gray+alpha or RGBA: keep alpha apart
        alpha = torch.from_numpy(np.ascontiguousarray(array[:, :, -1]))[None, None]
        array = array[:, :, :-1]
    image = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]
    return Loaded(image, alpha)


def _unit_values(array: np.ndarray, refuse: str, unit_scale: bool = True) -> np.ndarray:
    """``array``'s pixels as float32 on the [0, 1] scale: bool as 0 and 1, integers on
    their type's scale (wider ones on the 8- or 16-bit scale their values fit), floats as
    they are; ``ImageError`` beginning with ``refuse`` ("cannot read 'x.png'") for negative
    integers, NaN or infinite values, another pixel type, and (``unit_scale``) float values
    on another scale (``FLOAT_TOP``, ``off_scale``)."""
    if array.dtype == bool:
        return array.astype(np.float32)
    if array.dtype.kind in "iu":  # (not issubdtype: NumPy counts timedelta64 an integer)
        top = np.iinfo(array.dtype).max
        if array.dtype.itemsize > 2:
            # wider integers (NumPy's int64 by default: astype(int) of a 0-255 image): the
            # 8- or 16-bit scale its values fit, else the values used (dividing by its own
            # maximum made a 0-234 image 9 % brighter)
            used = int(array.max(initial=0))
            top = 255 if used <= 255 else 65535 if used <= 65535 else max(used, 1)
        if int(array.min(initial=0)) < 0:
            raise ImageError(f"{refuse}: its integer pixels go below 0 (down to "
                             f"{int(array.min())}); integer images are 0 to {top}.")
        return array.astype(np.float32) / top
    if not np.issubdtype(array.dtype, np.floating):
        raise ImageError(f"{refuse}: unsupported pixel type {array.dtype}.")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ImageError(f"{refuse}: it contains NaN or infinite values.")
    top = float(array.max(initial=0.0))
    if unit_scale and top > FLOAT_TOP:
        above = int((array > FLOAT_TOP).sum())
        few = (f"; only {above} of its {array.size} values {'is' if above == 1 else 'are'} "
               f"above {FLOAT_TOP:g}: hot pixels? Clip them" if above <= array.size // 1000 else "")
        raise ImageError(f"{refuse}: its float pixels reach {top:g}, and float images are taken "
                         f"on the [0, 1] scale (divide 0-255 values by 255, other data such "
                         f"as photon counts by their maximum){few}.")
    return array


def _check_unit_range(array: np.ndarray, what: str) -> None:
    """``ImageError`` for float pixels ``(H, W, C)`` on another scale than [0, 1]
    (``off_scale``)."""
    reason = off_scale(array, "its float pixels")
    if reason:
        raise ImageError(f"cannot read {what}: {reason}")


def off_scale(array: np.ndarray, values: str) -> str | None:
    """Why float pixels ``(H, W, C)`` are on another scale than [0, 1] that ``FLOAT_TOP``
    lets through, or None: more than ``OFF_SCALE`` of them beyond 3 times the noise read
    (plus 0.1) below 0 or above 1, where noise on a [0, 1] image leaves fewer than 0.2 %. An
    image on [-1, 1] came back with 58 % of its pixels black, one on [0, 3] all white.
    ``values`` names them in the sentence.

    Example:
        >>> off_scale(np.linspace(-1, 1, 256, dtype=np.float32).reshape(16, 16, 1), "y's values")[:37]
        "45 % of y's values lie outside [0, 1]"
    """
    low, high = float(array.min()), float(array.max())
    if (low >= -0.05 and high <= 1.05) or min(array.shape[:2]) < 8:
        return None
    from .noise_level import estimate_sigma

    colour = array[:, :, :3] if array.shape[2] >= 3 else array[:, :, :1]
    noise = estimate_sigma(torch.from_numpy(np.ascontiguousarray(colour.transpose(2, 0, 1)))[None])[0]
    reach = 3 * noise + 0.1
    off = float(np.mean((colour < -reach) | (colour > 1 + reach)))
    if off <= OFF_SCALE:
        return None
    hint = " ((x + 1) / 2 for [-1, 1])" if low < -0.5 else ""
    return (f"{100 * off:.0f} % of {values} lie outside [0, 1] (from {low:.3g} to {high:.3g}), "
            f"beyond the noise read ({255 * noise:.1f}/255); float images are taken on the "
            f"[0, 1] scale: scale it to that first{hint}.")


def to_array(x: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` / ``(C, H, W)`` / ``(H, W)`` tensor -> ``(H, W)`` or ``(H, W, C)`` array."""
    return _planes_last(x.detach().float())


def _planes_last(x: torch.Tensor) -> np.ndarray:
    """``to_array`` keeping the dtype (bool and integers; half precision as float32)."""
    x = x.detach().cpu()
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected a single image, got a batch of {x.shape[0]}.")
        x = x[0]
    if x.ndim == 3:
        x = x[0] if x.shape[0] == 1 else x.permute(1, 2, 0)
    return x.numpy()


# zlib level of written PNGs: Pillow's default 6 took 2.38 s to encode a 12-megapixel RGB
# result (7.89 MB), level 4 0.91 s (8.30 MB), 1 0.58 s (9.77 MB); 4 is where the time drops
PNG_LEVEL = 4


def write_image(path: str | os.PathLike, x, *, overwrite: bool = False, bits: int = 8,
                profile: bytes | None = None, tiff_tags: dict | None = None) -> Path:
    """Write an image atomically to PNG/TIFF (8 or 16 bit, clipped to [0, 1]; TIFF also 32:
    float32 values), JPEG (8 bit, quality ``JPEG_QUALITY``, colour at full resolution) or
    ``.npy``.

    16-bit PNG is gray only (Pillow cannot write 16-bit RGB); TIFF takes both.
    ``profile``: an ICC colour profile to embed (``colour_profile`` of the image restored),
    where it describes the written pixels (an RGB profile on colour, a gray one on gray; a
    ``.npy`` file holds none). ``tiff_tags``: more of tifffile's ``imwrite`` settings for
    a TIFF output (``pixel_size_of``), left out of the other formats.

    ``x``: tensor ``(1, C, H, W)``/``(C, H, W)``/``(H, W)`` or an ``(H, W[, C])`` array,
    its values read as ``from_array`` reads them: floats on the [0, 1] scale, integers on
    their type's (uint8 0-255, uint16 0-65535). Refuses NaN, floats on the 0-255 scale
    (above ``FLOAT_TOP``) and more than 4 channels, and to replace an existing file unless
    ``overwrite`` is True.

    Example:
        >>> write_image("out.png", torch.rand(1, 3, 8, 8))  # doctest: +SKIP
        PosixPath('out.png')
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE:
        raise ImageError(f"cannot write '{path}': use one of {', '.join(WRITABLE)}.")
    if bits not in (8, 16, 32):
        raise ValueError(f"bits must be 8, 16 or 32 (float32 TIFF), got {bits!r}.")
    if bits == 32 and suffix not in (".tif", ".tiff"):
        raise ImageError(f"cannot write '{path}': 32-bit float pixels go to TIFF only; use .tif.")
    overwrite = as_switch(overwrite, "overwrite")
    return new_output(path, overwrite, lambda: _write_image(path, x, overwrite, bits, profile,
                                                            tiff_tags or {}))


def new_output(path: Path, overwrite: bool, write) -> Path:
    """``write()`` (which writes ``path`` by ``atomic_write(..., replace=overwrite)``), or
    ``OutputExists`` where a file is at ``path`` and ``overwrite`` is False: there already,
    or written meanwhile by another process (``FileExistsError`` from the write).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.txt"
        >>> new_output(path, False, lambda: atomic_write(path, lambda t: Path(t).write_text("a"))).name
        'a.txt'
    """
    exists = OutputExists(f"'{path}' already exists; choose another name or pass --force "
                          "(overwrite=True in Python).")
    if path.exists() and not overwrite and not is_special(path):
        raise exists
    try:
        return write()
    except FileExistsError:
        raise exists from None


def _write_image(path: Path, x, overwrite: bool, bits: int, profile: bytes | None,
                 tiff_tags: dict) -> Path:
    """``write_image`` once its checks passed."""
    suffix = path.suffix.lower()
    write = partial(atomic_write, path, replace=overwrite)
    array = _pixels(x, path)
    if suffix == ".npy":
        return write(lambda tmp: _save_npy(tmp, array))
    import imageio.v3 as iio

    if bits == 32:  # floats as they are: a microscope's 1e-6 are not rounded to 0
        data = np.clip(array, 0, 1).astype(np.float32)
    else:
        dtype = np.uint8 if bits == 8 else np.uint16
        data = (np.clip(array, 0, 1) * np.iinfo(dtype).max + 0.5).astype(dtype)
    # the ICC profile under its name in each writer (Pillow's, tifffile's)
    icc = _profile_for(profile, data)
    embed = {"iccprofile": icc} if icc and suffix in (".tif", ".tiff") else (
        {"icc_profile": icc} if icc else {})
    if suffix in (".jpg", ".jpeg"):
        if bits == 16:
            raise ImageError(f"cannot write '{path}': JPEG holds 8 bits per value; use .tif.")
        if data.ndim == 3 and data.shape[2] in (2, 4):  # (Pillow's OSError had come through)
            raise ImageError(f"cannot write '{path}': JPEG holds no alpha (transparency); "
                             f"use .png or .tif.")
        plain = data[..., 0] if data.shape[-1:] == (1,) else data  # Pillow: gray as (H, W)
        encoded = iio.imwrite("<bytes>", plain, extension=".jpg", quality=JPEG_QUALITY,
                              subsampling=0, **embed)
    elif suffix == ".png":
        if bits == 16 and data.ndim == 3:
            raise ImageError(f"cannot write '{path}': 16-bit PNG holds gray images only; use .tif.")
        encoded = iio.imwrite("<bytes>", data, extension=".png", compress_level=PNG_LEVEL, **embed)
    else:
        # gray+alpha said as such: tifffile took (H, W, 2) for H pages of W x 2 pixels
        layout = ({"photometric": "minisblack", "planarconfig": "contig",
                   "extrasamples": ["unassalpha"]} if data.shape[2:] == (2,) else {})
        encoded = iio.imwrite("<bytes>", data, extension=".tif", plugin="tifffile", **layout,
                              **embed, **tiff_tags)
    # (encoded in memory and written here: imageio's own file, whose close failed on a full
    # disk, was closed again by the garbage collector, which printed a traceback)
    return write(lambda tmp: Path(tmp).write_bytes(encoded))


def _pixels(x, path: Path) -> np.ndarray:
    """What ``write_image`` writes of ``x`` to ``path``: float32 pixels on the [0, 1] scale
    as ``from_array`` reads them (integers on their type's scale), ``(H, W)`` or ``(H, W, C)``
    with C <= 4 for an image file, any shape for ``.npy`` (a compressed-sensing ``y``).
    ``ImageError`` for what no file would show right: NaN, 0-255 floats, other shapes."""
    refuse = f"cannot write '{path}'"
    if isinstance(x, torch.Tensor):
        if x.device.type == "meta" or x.is_complex():
            raise ImageError(f"{refuse}: x is a {'meta' if x.device.type == 'meta' else 'complex'}"
                             " tensor; images are real tensors with values.")
        if not 2 <= x.ndim <= 4:
            raise ImageError(f"{refuse}: expected a (1, C, H, W), (C, H, W) or (H, W) tensor, "
                             f"got shape {tuple(x.shape)}.")
        array, shape = _planes_last(x), tuple(x.shape)
    else:
        array = np.asarray(x)
        shape = array.shape
        if not (array.dtype == bool or np.issubdtype(array.dtype, np.number)):
            raise ImageError(f"{refuse}: x is a {type(x).__name__}, not an image tensor or array.")
    if path.suffix.lower() == ".npy":  # floats as they are (a measurement vector too), any shape
        return _unit_values(array, refuse, unit_scale=False)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or array.ndim == 3 and array.shape[2] > 4 or 0 in array.shape:
        raise ImageError(f"{refuse}: expected one image of at most 4 channels, "
                         f"got shape {shape}.")
    return _unit_values(array, refuse)


def _profile_for(profile: bytes | None, data: np.ndarray) -> bytes | None:
    """``profile`` where its colour space (ICC header bytes 16-19) is that of ``data``
    ``(H, W[, C])``; None otherwise (a CMYK photo's profile does not describe the RGB
    pixels it was read as)."""
    if not profile or len(profile) < 20:
        return None
    channels = data.shape[-1] if data.ndim == 3 else 1
    return profile if profile[16:20] == (b"RGB " if channels >= 3 else b"GRAY") else None


def colour_profile(path: str | os.PathLike) -> bytes | None:
    """The ICC colour profile embedded in the image file at ``path`` (a camera's Adobe RGB,
    a phone's Display P3), read from its header, or None (none, ``.npy``, unreadable).
    Restored pixels are in the colour space of the pixels read, so an output that embeds
    the same profile shows the same colours where a viewer manages colour; without it a wide-gamut
    photo's output would look washed out there.

    Example:
        >>> import tempfile
        >>> from PIL import ImageCms
        >>> srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        >>> path = os.path.join(tempfile.mkdtemp(), "x.png")
        >>> colour_profile(write_image(path, torch.rand(1, 3, 8, 8), profile=srgb)) == srgb
        True
    """
    path = Path(path)
    try:
        if is_tiff(path):  # (Pillow opens no float64 TIFF)
            import tifffile

            with tifffile.TiffFile(path) as tif:
                tag = tif.pages[0].tags.get(34675)  # InterColorProfile
                return bytes(tag.value) if tag is not None else None
        if path.suffix.lower() == ".npy":
            return None
        from PIL import Image

        with Image.open(path) as probe:
            return probe.info.get("icc_profile") or None
    except Exception:  # read_image says what is wrong with a file it cannot read
        return None


def pixel_size_of(source: str | os.PathLike, x: torch.Tensor) -> dict:
    """tifffile's ``resolution`` and ``resolutionunit`` for ``x`` ``(..., H, W)`` restored
    from the TIFF ``source``: its pixels per unit, times ``x``'s width over the source's (a
    super-resolution's pixels are smaller); ``{}`` for another file or one without them.
    A microscope's calibration (its pixel size) had been dropped: the output said 1 pixel
    per unit. ImageJ keeps the unit itself (``unit=um``) in its description, not in the
    tags: that goes along as a description of the same form, which ImageJ reads.

    Example:
        >>> pixel_size_of("photo.png", torch.zeros(1, 1, 8, 8))
        {}
    """
    if not is_tiff(Path(source)):
        return {}
    try:
        import tifffile

        with tifffile.TiffFile(source) as tif:
            tags = tif.pages[0].tags
            x_res, y_res, unit = (tags.get(code) for code in (282, 283, 296))
            width = tif.pages[0].imagewidth
            named = (tif.imagej_metadata or {}).get("unit") if tif.is_imagej else None
        if x_res is None or y_res is None:
            return {}
        scale = x.shape[-1] / width
        per_unit = [scale * value[0] / value[1] if isinstance(value, tuple) else scale * value
                    for value in (x_res.value, y_res.value)]
    except Exception:  # (read_image said what is wrong with a file it could not read)
        return {}
    if not all(math.isfinite(v) and v > 0 for v in per_unit):
        return {}
    size = {"resolution": tuple(per_unit),
            "resolutionunit": int(unit.value) if unit is not None else 2}  # (TIFF's default: inch)
    if isinstance(named, str) and named.isascii() and named.isprintable() and "\n" not in named:
        # (metadata=None: tifffile's own JSON description would come first, and ImageJ
        # reads the first)
        size.update(description=f"ImageJ=1.11a\nunit={named}\n", metadata=None)
    return size


def bits_to_write(source: str | os.PathLike, output: str | os.PathLike, x: torch.Tensor) -> int:
    """The bits per value to write ``x`` (1, C, H, W), restored from ``source``, to
    ``output`` with: 32 (float32) where ``source`` holds floats (a float TIFF, ``.npy``)
    and ``output`` is a TIFF; 16 where ``source`` holds more than 8 bits and ``output``'s
    format takes them (TIFF; PNG for a gray image), else 8, so that a 16-bit scan is not
    cut to 8 bits on its way through, nor float data rounded to 16 (values of 1e-6 came
    back 0).

    Example:
        >>> import tempfile
        >>> scan = write_image(os.path.join(tempfile.mkdtemp(), "scan.png"), torch.rand(1, 1, 8, 8), bits=16)
        >>> bits_to_write(scan, "out.png", torch.rand(1, 1, 8, 8)), bits_to_write(scan, "out.png", torch.rand(1, 3, 8, 8))
        (16, 8)
        >>> data = os.path.join(tempfile.mkdtemp(), "data.npy")
        >>> np.save(data, np.zeros((8, 8), np.float32))
        >>> bits_to_write(data, "out.png", torch.rand(1, 1, 8, 8)), bits_to_write(data, "out.tif", torch.rand(1, 1, 8, 8))
        (16, 32)
    """
    suffix, channels = Path(output).suffix.lower(), x.shape[-3] if x.ndim >= 3 else 1
    if not (suffix in (".tif", ".tiff") or (suffix == ".png" and channels == 1)):
        return 8
    bits = _source_bits(Path(source))
    return 16 if bits == 32 and suffix == ".png" else bits


def _source_bits(path: Path) -> int:
    """8, 16 (more than 8 bits, integers) or 32 (floats): what the image file ``path``
    stores per value (header only)."""
    import tifffile
    from PIL import Image

    try:
        if path.suffix.lower() == ".npy" or is_tiff(path):  # Pillow calls a 16-bit RGB TIFF "RGB"
            if path.suffix.lower() == ".npy":
                dtype = np.load(path, mmap_mode="r").dtype
            else:
                with tifffile.TiffFile(path) as tiff:
                    dtype = np.dtype(tiff.pages[0].dtype)
            return 32 if dtype.kind == "f" else 16 if dtype.itemsize > 1 else 8
        with Image.open(path) as probe:
            return 32 if probe.mode == "F" else 16 if probe.mode in (
                "I;16", "I;16B", "I;16L", "I;16N", "I") else 8
    except Exception:  # unreadable here: it was read before, so write the usual 8 bits
        return 8


def _save_npy(tmp: str, data: np.ndarray) -> None:
    with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a name
        np.save(f, data)


def atomic_write(path: Path, write, replace: bool = True) -> Path:
    """Write through a temporary file in the same folder, then rename it into place; a
    folder that cannot be made or written in (or a full disk) is an ``ImageError`` in one
    sentence. ``replace=False``: a file at ``path`` by then, another process's (two folder
    runs into one folder), is kept, and ``FileExistsError`` says so. A symbolic link is
    written through (its file replaced, the link kept); a device or a FIFO (``/dev/null``,
    ``/dev/stdout``) is written into, not replaced by a file (as root, ``--report /dev/null
    --force`` had made /dev/null a plain file)."""
    path = Path(path)
    if is_special(path):
        try:
            write(str(path))
        except OSError as err:
            raise _refused(f"cannot write '{path}'", err) from None
        return path
    if path.is_symlink() and path.exists():  # the file it points to, not the link itself
        path = Path(os.path.realpath(path))
    _make_folder(path.parent)  # the temporary file is the write check: no probe file here
    try:
        tmp = _new_file_beside(path)
    except OSError as err:
        raise _refused(f"cannot write '{path}'", err) from None
    try:  # (from here on, a Ctrl-C too takes the temporary file away)
        write(tmp)
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, FileExistsError):
            raise _refused(f"cannot write '{path}'", err) from None
        raise
    return path


def write_torch(path: str | os.PathLike, obj) -> Path:
    """``torch.save(obj)`` to ``path`` by ``atomic_write``: saved to memory first, so that a
    full disk or a file-size limit is the usual one sentence (``CannotWrite``), where
    ``torch.save`` into the file raised a ``RuntimeError`` ("unexpected pos 1408 vs 1302").

    Example:
        >>> import tempfile
        >>> path = write_torch(Path(tempfile.mkdtemp()) / "w.pt", {"w": torch.ones(2)})
        >>> torch.load(path, weights_only=True)["w"].tolist()
        [1.0, 1.0]
    """
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    return atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(data))


def _new_file_beside(path: Path) -> str:
    """A new empty hidden file in ``path``'s folder, ``.NAME.RANDOM.tmp``, with the usual
    permissions: the kernel applies the process's umask as it is now (``mkstemp`` makes
    0600 files, and reading the umask to widen them means setting it, which a thread's
    file creation could see in between). NAME is cut to 200 bytes: a file name of 242 to
    255 bytes, legal itself, had made a temporary name too long to write (after the solve)."""
    name = os.fsdecode(os.fsencode(path.name)[:200])
    for _ in range(100):
        tmp = str(path.parent / f".{name}.{os.urandom(4).hex()}.tmp")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def is_special(path: str | os.PathLike) -> bool:
    """Whether ``path`` (or what a link there points to) is a device, a FIFO or a socket:
    written into, never replaced, and no output that ``--force`` guards.

    Example:
        >>> is_special("/dev/null"), is_special("README.md")
        (True, False)
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _link_new(tmp: str, path: Path) -> None:
    """Put ``tmp`` at ``path`` only if nothing is there: a hard link fails on an existing
    name in one step, where a check then a rename leaves a gap for another writer."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: the check, then the rename
        if path.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def check_writable(folder: str | os.PathLike) -> None:
    """Check that a file can be written in ``folder``, or, where it is missing, that it can be
    made (its nearest existing parent is a folder we can write in): else ``ImageError`` in one
    sentence, asked before minutes of solving, not after them. Nothing is made here: a run
    refused later leaves no empty folder behind (the write makes it).

    Example:
        >>> import tempfile
        >>> photo = write_image(os.path.join(tempfile.mkdtemp(), "photo.png"), torch.rand(1, 1, 4, 4))
        >>> try:
        ...     check_writable(photo / "restored")
        ... except ImageError as err:
        ...     print(str(err).endswith("photo.png' is a file, not a folder."))
        True
    """
    folder = Path(folder)
    there = _nearest_folder(folder)
    try:
        with tempfile.TemporaryFile(dir=there):
            pass
    except OSError as err:
        raise _refused(f"cannot write in '{folder}'", err) from None


def _nearest_folder(folder: Path) -> Path:
    """``folder`` or its nearest parent that is there, which must be a folder: else
    ``ImageError`` in one sentence (a file on the way; a link to a missing place, which the
    write would meet only after the solve)."""
    there = next((p for p in (folder, *folder.parents) if os.path.lexists(p)), Path("."))
    if not there.exists():
        raise ImageError(f"cannot write in '{folder}': '{there}' is a link to a missing place.")
    if not there.is_dir():
        raise ImageError(f"cannot write in '{folder}': '{there}' is a file, not a folder.")
    return there


def _make_folder(folder: Path) -> None:
    """``folder`` and its parents made if missing, else ``ImageError`` in one sentence."""
    _nearest_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _refused(f"cannot write in '{folder}'", err) from None


def _refused(what: str, err: OSError) -> CannotWrite:
    """``CannotWrite`` saying ``what`` and why, e.g. "cannot write 'a.png': no space left on
    device."."""
    return CannotWrite(f"{what}: {os_reason(err)}.", err.errno)


def unreachable(err: OSError) -> str:
    """The sentence for a path on which a folder may not be searched (``Path.exists`` raises
    ``PermissionError`` there), e.g. "cannot reach 'd/x.png': permission denied."."""
    return f"cannot reach '{err.filename}': {os_reason(err)}."


def os_reason(err: OSError) -> str:
    """An ``OSError`` in words, without its path: "permission denied"."""
    return (err.strerror or type(err).__name__).lower()


def is_hidden(rel: Path) -> bool:
    """Whether a path relative to a searched folder is hidden (it or a folder on the way
    starts with '.': a run's marker, macOS's ``._photo.png`` beside each photo on a shared
    drive), and so left out of a search for images.

    Example:
        >>> is_hidden(Path("a/._b.png")), is_hidden(Path(".cache/b.png")), is_hidden(Path("a/b.png"))
        (True, True, False)
    """
    return any(part.startswith(".") for part in rel.parts)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if both paths name the same existing file (links and ``..`` resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def name_key(path: str | os.PathLike) -> str:
    """``path`` as the usual file systems of this platform tell names apart: as written on
    Linux, case folded on macOS and Windows (whose default file systems ignore case: there
    ``photo.png`` and ``photo.PNG`` are one file, and one restoration had replaced the other).

    Example:
        >>> name_key("a/Photo.PNG") == name_key("a/photo.png") or sys.platform == "linux"
        True
    """
    key = os.path.normcase(os.fspath(path))  # (Windows: lower case, one kind of slash)
    return key.casefold() if sys.platform in ("darwin", "win32") else key
