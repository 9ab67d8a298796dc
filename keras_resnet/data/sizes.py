"""Image sizes: parsing ``image_size``, each source's default, and what counts as small."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

DEFAULT_IMAGE_SIZE = (224, 224)
DIGITS_IMAGE_SIZE = (32, 32)

# Below this size the network sees few pixels of the object (an 8%-area crop of a
# 32-pixel image is 9 pixels wide), so crops are milder and evaluation is uncropped.
MILD_CROP_BELOW = 128

# A folder whose images are all at most this many pixels on each side (CIFAR's
# 32x32, say) loads at their stored size: upscaling them to 224 adds work, not detail.
STORED_SIZE_LIMIT = 64


def parse_image_size(image_size: int | Sequence[int]) -> tuple[int, int]:
    """``(height, width)`` from an int or a pair.

    Raises:
        ValueError: Not a positive int or a pair of them.
    """
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(side, int) and side > 0 for side in size):
        raise ValueError(f"image_size must be a positive int or (height, width), got {image_size}.")
    return size


def crops_mildly(size: Sequence[int]) -> bool:
    """Whether an output size is below MILD_CROP_BELOW on its shorter side."""
    return min(size) < MILD_CROP_BELOW


def folder_image_size(shapes: Iterable[Sequence[int]]) -> tuple[int, int]:
    """The output size of an image folder loaded without ``image_size``.

    Images all within STORED_SIZE_LIMIT on both sides keep their stored size (the
    most common one, the larger on a tie, when they differ); anything larger, or an
    empty list, gives DEFAULT_IMAGE_SIZE.

    Args:
        shapes: ``(height, width)`` of every readable image.

    Returns:
        ``(height, width)``.

    Example:
        >>> folder_image_size([(32, 32)] * 3)
        (32, 32)
        >>> folder_image_size([(32, 32), (480, 640)])
        (224, 224)
    """
    counts = collections.Counter(tuple(int(side) for side in shape) for shape in shapes)
    if not counts or any(max(shape) > STORED_SIZE_LIMIT for shape in counts):
        return DEFAULT_IMAGE_SIZE
    return max(counts, key=lambda shape: (counts[shape], shape[0] * shape[1], shape))
