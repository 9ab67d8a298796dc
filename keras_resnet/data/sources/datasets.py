"""The dataset source: ready-made tf.data pipelines of ``(image, label)``, passed through."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from keras_resnet.data.image_data import ImageData
from keras_resnet.data.splits import name_classes

AUTOTUNE = tf.data.AUTOTUNE


def _label_extent(labels: tf.Tensor) -> tf.Tensor:
    """Largest class index a batch of labels refers to."""
    if labels.dtype.is_integer:
        return tf.cast(tf.reduce_max(labels), tf.int64)
    # One-hot or soft labels: the class axis is the last one.
    return tf.cast(tf.shape(labels)[-1] - 1, tf.int64)


def _to_rgb_float(images, size, resize):
    images = tf.cast(images, tf.float32)
    if images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)
    if resize:
        images = tf.image.resize(images, size)
    return images


def _prepare(ds: tf.data.Dataset, size, batch_size: int):
    """A checked, batched pipeline and its examples, image size, largest label and batch."""
    spec = ds.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError(
            f"A dataset source must yield (image, label) pairs; its elements are {spec}."
        )
    rank = spec[0].shape.rank
    if rank not in (3, 4):
        raise ValueError(
            f"Dataset images must be (H, W, C) or batched (B, H, W, C); got shape {spec[0].shape}."
        )
    if ds.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("The dataset is infinite; pass a finite one (fit repeats it).")
    if rank == 3:
        ds = ds.batch(batch_size)
    # One pass counts the examples and finds the largest label and the largest batch.
    num_examples, max_label, largest_batch = ds.reduce(
        (tf.constant(0, tf.int64), tf.constant(-1, tf.int64), tf.constant(0, tf.int64)),
        lambda state, batch: (
            state[0] + tf.cast(tf.shape(batch[1])[0], tf.int64),
            tf.maximum(state[1], _label_extent(batch[1])),
            tf.maximum(state[2], tf.cast(tf.shape(batch[1])[0], tf.int64)),
        ),
    )
    own_size = size or tuple(spec[0].shape[-3:-1])
    if None in own_size:
        raise ValueError("The dataset's images have no fixed size: pass image_size.")
    ds = ds.map(
        lambda images, labels: (
            _to_rgb_float(images, own_size, resize=size is not None),
            tf.cast(labels, tf.int32) if labels.dtype.is_integer else labels,
        ),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.prefetch(AUTOTUNE), int(num_examples), own_size, int(max_label), int(largest_batch)


def load_datasets(
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None,
    size: tuple[int, int] | None,
    batch_size: int,
    class_names: Sequence[str] | None,
) -> ImageData:
    """Ready-made pipelines, batched when unbatched, images float32 RGB, resized to ``size``.

    Each is read once up front to count its examples and find its largest label.

    Raises:
        ValueError: Elements that are not ``(image, label)``, an infinite dataset, or
            images of no fixed size without ``size``.
    """
    train, num_train, own_size, max_label, largest_batch = _prepare(train, size, batch_size)
    num_validation, validation_max = 0, -1
    if validation is not None:
        validation, num_validation, _, validation_max, _ = _prepare(validation, size, batch_size)
    names = name_classes(class_names, max(max_label, validation_max) + 1)
    return ImageData(
        train,
        validation,
        None,
        names,
        tuple(own_size),
        num_train,
        num_validation,
        0,
        batch_size=largest_batch or None,
    )
