"""Checking image files before loading: which are readable, their size and their codec.

Every file is checked once up front, so an unreadable one is reported by path and
left out instead of failing an epoch, and the pipeline knows each file's size and
decoder without reading it again.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from keras_resnet.data.decode import CODEC_JPEG, CODEC_PIL, CODEC_TF

MAX_REPORTED_FILES = 100
_PIL_FORMATS = {"JPEG", "PNG", "BMP", "GIF"}


@dataclasses.dataclass
class ImageInfo:
    """What a check found: ``(height, width)``, the codec, or why the file is unreadable."""

    shape: tuple[int, int] = (0, 0)
    codec: int = CODEC_TF
    error: str = ""


def inspect_image(path: str) -> ImageInfo:
    """Checks that a file is a readable image, cheaply.

    Headers are parsed for every format. A JPEG that ends with its end-of-image
    marker is trusted; one that does not (the mark of truncation) is decoded at
    1/8 scale to tell trailing bytes from missing data. PNG chunks are
    checksummed without inflating; GIF and BMP, usually small, are decoded.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.format not in _PIL_FORMATS:
                return ImageInfo(error=f"unsupported format {image.format}")
            codec = CODEC_TF
            if image.format == "JPEG":
                codec = CODEC_JPEG
                if not _ends_with_jpeg_marker(path):
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                    image.load()
            elif image.format == "PNG":
                image.verify()
            else:
                image.load()
                if image.format == "BMP" and not _plain_bmp(path, image.mode):
                    codec = CODEC_PIL
            return ImageInfo((height, width), codec)
    except UnidentifiedImageError:
        return ImageInfo(error="not an image file (or not a format Pillow knows)")
    except Exception as error:  # Pillow raises many types for broken files.
        return ImageInfo(error=str(error) or type(error).__name__)


def _ends_with_jpeg_marker(path: str) -> bool:
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() < 4:
            return False
        file.seek(-2, os.SEEK_END)
        return file.read(2) == b"\xff\xd9"


def _plain_bmp(path: str, mode: str) -> bool:
    """Whether tf.io.decode_bmp reads this BMP right: uncompressed 24/32-bit or gray 8-bit.

    It misreads palette colours and fails on 1-bit and compressed files, which go
    through Pillow instead.
    """
    with open(path, "rb") as file:
        header = file.read(34)
    if len(header) < 34 or int.from_bytes(header[14:18], "little") < 40:
        return False
    bits = int.from_bytes(header[28:30], "little")
    compression = int.from_bytes(header[30:34], "little")
    return compression == 0 and (bits in (24, 32) or (bits == 8 and mode == "L"))


def scan_images(paths: list[str]) -> list[ImageInfo]:
    """:func:`inspect_image` of every path, in order, on a pool of threads."""
    # Pillow releases the GIL while it reads and decodes, so threads overlap I/O and work.
    workers = min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(inspect_image, paths, chunksize=64))


def report_skipped(root: Path, skipped: list[tuple[str, str]], stacklevel: int) -> None:
    """One warning that lists the unreadable files by path (the first MAX_REPORTED_FILES).

    ``stacklevel`` is warnings.warn's, counted from the caller of this function.
    """
    lines = [f"  {path}: {reason}" for path, reason in skipped[:MAX_REPORTED_FILES]]
    if len(skipped) > MAX_REPORTED_FILES:
        lines.append(
            f"  ... and {len(skipped) - MAX_REPORTED_FILES} more (ImageData.skipped_files)"
        )
    warnings.warn(
        f"Skipping {len(skipped)} unreadable image file(s) in {root}:\n" + "\n".join(lines),
        stacklevel=stacklevel + 1,
    )
