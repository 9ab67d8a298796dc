"""The tfds source: an image-classification set from tensorflow_datasets, read from disk."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import tensorflow as tf

from keras_resnet.data.caching import cache_side, cached_bytes, fingerprint
from keras_resnet.data.decode import CODEC_TF
from keras_resnet.data.image_data import ImageData
from keras_resnet.data.pipeline import build_image_data
from keras_resnet.data.plan import TransformPlan
from keras_resnet.data.sizes import DEFAULT_IMAGE_SIZE
from keras_resnet.data.splits import Split, stratified_split
from keras_resnet.data.transforms import eval_crop_fraction


def _prepared_builder(name: str, data_dir, download: bool):
    """The builder of a tfds set, its files prepared (downloaded only when allowed)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(
            f"tensorflow_datasets has no data set named {name!r}. See "
            "https://www.tensorflow.org/datasets/catalog for names, e.g. 'tfds:tf_flowers'."
        ) from error
    if builder.is_prepared():
        return builder
    how = (
        f"Get it once with network access (it is then kept in {builder.data_dir}), or "
        f"run `tfds build {name} --data_dir DIR` on a machine that has it and pass "
        "data_dir=DIR."
    )
    if not download:
        raise ValueError(f"The tfds data set {name!r} is not in {builder.data_dir}. {how}")
    try:
        builder.download_and_prepare()
    except Exception as error:
        raise ValueError(
            f"The tfds data set {name!r} is not in {builder.data_dir} and could not be "
            f"downloaded ({type(error).__name__}: {error}). {how}"
        ) from error
    return builder


@dataclasses.dataclass(frozen=True)
class _TfdsSet:
    """A prepared tfds image-classification set: which features to read, and how."""

    name: str
    builder: Any
    image_key: str
    label_key: str
    class_names: list[str]
    encoded: bool  # images are stored encoded, so the pipeline decodes them
    static_shape: tuple
    seed: int

    @classmethod
    def of(cls, name: str, builder, seed: int) -> _TfdsSet:
        """The set behind ``builder``.

        Raises:
            ValueError: It has no image and ClassLabel feature, or no train split.
        """
        import tensorflow_datasets as tfds

        info = builder.info
        image_key, label_key = "image", "label"
        if info.supervised_keys and all(isinstance(key, str) for key in info.supervised_keys):
            image_key, label_key = info.supervised_keys
        features = info.features
        if (
            image_key not in features
            or label_key not in features
            or not isinstance(features[label_key], tfds.features.ClassLabel)
        ):
            raise ValueError(
                f"tfds:{name} is not an image-classification data set: it needs an image "
                f"and a ClassLabel feature, and has {list(features.keys())}."
            )
        available = set(info.splits.keys())
        if available and "train" not in available:
            raise ValueError(f"tfds:{name} has no train split (it has {sorted(available)}).")
        return cls(
            name,
            builder,
            image_key,
            label_key,
            list(features[label_key].names),
            isinstance(features[image_key], tfds.features.Image),
            tuple(features[image_key].shape),
            seed,
        )

    @property
    def available(self) -> set[str]:
        """The names of its splits."""
        return set(self.builder.info.splits.keys())

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """``(height, width)`` when every image has that size, else None."""
        shape = self.static_shape
        return tuple(shape[:2]) if len(shape) == 3 and None not in shape[:2] else None

    def read(self, split: str, shuffle: bool) -> tf.data.Dataset:
        """Unbatched ``(image, codec, label)`` of one split, images still encoded."""
        import tensorflow_datasets as tfds

        ds = self.builder.as_dataset(
            split=split,
            # Keep images encoded: the pipeline decodes them, with fused crops.
            decoders={self.image_key: tfds.decode.SkipDecoding()} if self.encoded else None,
            shuffle_files=shuffle,
            read_config=tfds.ReadConfig(try_autocache=False, shuffle_seed=self.seed),
        )
        return ds.map(
            lambda example: (
                example[self.image_key],
                CODEC_TF,
                tf.cast(example[self.label_key], tf.int32),
            )
        )

    def count(self, split: str, ds: tf.data.Dataset) -> int:
        """Examples in a split: from its metadata, else by reading it."""
        splits = self.builder.info.splits
        if split in splits and splits[split].num_examples:
            return int(splits[split].num_examples)
        known = int(ds.cardinality())
        return known if known >= 0 else int(ds.reduce(0, lambda total, *_: total + 1))

    def split_of(self, ds: tf.data.Dataset, count: int, key: str, size) -> Split:
        """A Split of ``count`` records, with what caching them costs at ``size``."""
        side = cache_side(size)
        # Sets of mixed sizes are costed as 4:3 images at the cached size.
        shape = self.fixed_size or (side, side * 4 // 3)
        return Split(
            "encoded" if self.encoded else "pixels",
            count,
            dataset=ds,
            cache_bytes=count * cached_bytes(shape, side),
            eval_cache_bytes=count * size[0] * size[1] * 3,
            fingerprint=fingerprint([f"tfds:{self.name}:{self.builder.version}:{key}"], size),
        )


def _select(ds: tf.data.Dataset, mask: tf.Tensor) -> tf.data.Dataset:
    """The elements of ``ds`` where ``mask`` is true, with their count known."""
    count = int(tf.reduce_sum(tf.cast(mask, tf.int64)))
    return (
        ds.enumerate()
        .filter(lambda index, element: tf.gather(mask, index))
        .map(lambda index, element: element)
        .apply(tf.data.experimental.assert_cardinality(count))
    )


def _whole_split(data: _TfdsSet, split: str, shuffle: bool, size) -> Split:
    ds = data.read(split, shuffle=shuffle)
    return data.split_of(ds, data.count(split, ds), split, size)


def _stratified_splits(data: _TfdsSet, validation_split: float, size) -> dict[str, Split]:
    """Train and validation as a seeded stratified split of the train split."""
    # A stratified split needs every label once; reading them skips image decoding.
    base = data.read("train", shuffle=False)
    labels = np.fromiter(base.map(lambda _, __, label: label).as_numpy_iterator(), np.int32)
    train_index, validation_index = stratified_split(labels, validation_split, data.seed)
    splits = {}
    for key, index in (("train", train_index), ("validation", validation_index)):
        mask = np.zeros(len(labels), bool)
        mask[index] = True
        splits[key] = data.split_of(_select(base, tf.constant(mask)), len(index), key, size)
    return splits


def load_tfds(
    name: str,
    size: tuple[int, int] | None,
    validation_split: float,
    cache,
    data_dir: str | os.PathLike | None,
    download: bool,
    plan_options: dict,
) -> ImageData:
    """A tfds set: its train split, its validation split (or a stratified part of
    train) and its test split when it has one; at its fixed size by default.

    Raises:
        ValueError: No such set, not prepared and not downloadable, or not an image
            classification set.
    """
    data = _TfdsSet.of(name, _prepared_builder(name, data_dir, download), plan_options["seed"])
    size = size or data.fixed_size or DEFAULT_IMAGE_SIZE
    available = data.available
    if "validation" in available or validation_split == 0:
        splits = {"train": _whole_split(data, "train", True, size)}
        if "validation" in available:
            splits["validation"] = _whole_split(data, "validation", False, size)
    else:
        splits = _stratified_splits(data, validation_split, size)
    if "test" in available:
        splits["test"] = _whole_split(data, "test", False, size)
    plan = TransformPlan(
        size, len(data.class_names), crop_fraction=eval_crop_fraction(size), **plan_options
    )
    return build_image_data(data.class_names, splits, plan, cache)
