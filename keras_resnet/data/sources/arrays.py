"""The arrays source: ``(x, y)`` numpy images and integer labels, held in memory."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from keras_resnet.data.image_data import ImageData
from keras_resnet.data.pipeline import build_image_data
from keras_resnet.data.plan import TransformPlan
from keras_resnet.data.splits import check_labels, name_classes, pixel_splits, stratified_split


def _as_rgb_images(x) -> np.ndarray:
    """``(N, H, W, 3)`` images from ``(N, H, W)`` or ``(N, H, W, 1 or 3)``."""
    images = np.asarray(x)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"x must have shape (N, H, W, C) with C = 1 or 3, or (N, H, W); got {images.shape}."
        )
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    if images.dtype != np.uint8:
        images = images.astype(np.float32)
        if images.size and images.max() <= 1.0:
            warnings.warn(
                "x looks scaled to [0, 1]; the models expect raw pixels in [0, 255].",
                stacklevel=4,
            )
    return images


def load_arrays(
    source: Sequence,
    size: tuple[int, int] | None,
    validation_split: float,
    class_names: Sequence[str] | None,
    plan_options: dict,
) -> ImageData:
    """An ``(x, y)`` pair with a stratified validation split, at its own size by default.

    Raises:
        ValueError: Not a pair, or shapes and labels that do not fit.
    """
    if len(source) != 2:
        raise ValueError("Array sources are an (x, y) pair of numpy arrays.")
    images, labels = _as_rgb_images(source[0]), np.asarray(source[1])
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    labels = check_labels(labels)
    if len(labels) != len(images):
        raise ValueError(f"x has {len(images)} images but y has {len(labels)} labels.")
    names = name_classes(class_names, int(labels.max()) + 1)
    train, validation = stratified_split(labels, validation_split, plan_options["seed"])
    splits = pixel_splits(images, labels, train=train, validation=validation)
    size = size or tuple(images.shape[1:3])
    plan = TransformPlan(size, len(names), crop_fraction=1.0, **plan_options)
    return build_image_data(names, splits, plan, cache=False)
