"""Splits: one split's items before they become a pipeline, and seeded stratified splitting."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from keras_resnet.data.decode import CODEC_TF

# Shuffle buffer for encoded records that are not cached (tfds); files and arrays
# shuffle their paths or indices instead, which costs nothing.
ENCODED_SHUFFLE_BUFFER = 8192


@dataclasses.dataclass
class Split:
    """One split before it becomes a pipeline.

    ``kind`` is "files" (paths), "encoded" (encoded bytes; both are decoded in the
    pipeline) or "pixels" (decoded images). Items come from a list of files, from
    memory or from a dataset of ``(item, codec, label)``.
    """

    kind: str
    size: int
    labels: np.ndarray | None = None
    paths: np.ndarray | None = None
    codecs: np.ndarray | None = None
    shapes: np.ndarray | None = None
    pixels: np.ndarray | None = None
    dataset: tf.data.Dataset | None = None
    cache_bytes: int = 0
    eval_cache_bytes: int = 0
    fingerprint: str = ""

    @property
    def cacheable(self) -> bool:
        """Whether caching gains: arrays are in memory already; decoded files and records gain."""
        return self.pixels is None

    def elements(self, shuffle: bool, seed: int) -> tf.data.Dataset:
        """Unbatched ``(item, codec, label)`` of records or arrays, shuffled where cheap.

        Files have their own grouped pipelines (``pipeline.file_elements``).
        """
        if self.dataset is not None:
            ds = self.dataset
            if shuffle:
                ds = ds.shuffle(min(self.size, ENCODED_SHUFFLE_BUFFER), seed=seed)
            return ds
        labels = tf.constant(self.labels, tf.int32)
        # Shuffle indices and gather, so the shuffle buffer holds no image copies.
        pixels = tf.constant(self.pixels)
        ds = tf.data.Dataset.range(self.size)
        if shuffle:
            ds = ds.shuffle(self.size, seed=seed, reshuffle_each_iteration=True)
        return ds.map(
            lambda index: (tf.gather(pixels, index), CODEC_TF, tf.gather(labels, index)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split; every class with 2+ examples lands on both sides.

    Returns:
        Sorted indices ``(kept, held_out)``, ``fraction`` of each class held out.
    """
    rng = np.random.default_rng(seed)
    held, kept = [], []
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        count = math.floor(len(index) * fraction + 0.5)
        if fraction > 0 and len(index) >= 2:
            count = min(max(count, 1), len(index) - 1)
        elif len(index) < 2:
            count = 0
        held.append(index[:count])
        kept.append(index[count:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def pixel_splits(images: np.ndarray, labels: np.ndarray, **indices) -> dict[str, Split]:
    """In-memory splits by name, from the indices of each; empty ones are left out."""
    return {
        name: Split("pixels", len(index), labels=labels[index], pixels=images[index])
        for name, index in indices.items()
        if len(index)
    }


def check_labels(labels: np.ndarray) -> np.ndarray:
    """Integer class indices as int32.

    Raises:
        ValueError: Not one non-negative integer per image.
    """
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(
            "y must hold non-negative integer class indices, one per image "
            "(for one-hot labels pass y.argmax(axis=-1))."
        )
    return labels.astype(np.int32)


def name_classes(class_names: Sequence | None, num_classes: int) -> list[str]:
    """The given class names as strings, or "0", "1", ... when there are none.

    Raises:
        ValueError: Fewer names than classes.
    """
    if class_names is None:
        return [str(index) for index in range(num_classes)]
    names = [str(name) for name in class_names]
    if len(names) < num_classes:
        raise ValueError(
            f"class_names has {len(names)} names but the labels go up to {num_classes - 1}."
        )
    return names
