"""Assembling the pipelines: training, validation, test and unaugmented training batches.

Each split becomes a tf.data pipeline under a :class:`TransformPlan`: files in
groups that share decoding settings, records and arrays element by element, each
optionally cached; random draws come from per-element stateless seeds
(:mod:`keras_resnet.data.seeds`), so the same seed gives the same batches.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from keras_resnet.data.caching import cache_plan
from keras_resnet.data.image_data import ImageData
from keras_resnet.data.plan import RANDOM_STAGES, TransformPlan
from keras_resnet.data.randaugment import randaugment
from keras_resnet.data.seeds import map_seeded
from keras_resnet.data.splits import Split
from keras_resnet.data.transforms import to_uint8

AUTOTUNE = tf.data.AUTOTUNE


def build_image_data(
    class_names,
    splits: Mapping[str, Split],
    plan: TransformPlan,
    cache,
    skipped: list[tuple[str, str]] | None = None,
) -> ImageData:
    """The :class:`ImageData` of a source's splits under one plan.

    Args:
        class_names: The class names.
        splits: The splits by name; "train" is required.
        plan: How images become batches.
        cache: As :func:`keras_resnet.data.load_data`'s ``cache``.
        skipped: ``(path, reason)`` of every unreadable file.
    """
    where = cache_plan(splits, cache)
    pipelines = {
        name: (train_pipeline if name == "train" else evaluation_pipeline)(plan, split, where[name])
        for name, split in splits.items()
    }
    num_train = splits["train"].size
    return ImageData(
        train=pipelines["train"],
        validation=pipelines.get("validation"),
        test=pipelines.get("test"),
        class_names=list(class_names),
        image_size=tuple(plan.image_size),
        num_train=num_train,
        num_validation=splits["validation"].size if "validation" in splits else 0,
        num_test=splits["test"].size if "test" in splits else 0,
        skipped_files=list(skipped or []),
        train_unaugmented=unaugmented_pipeline(plan, splits["train"]),
        # A training set smaller than one batch makes one smaller batch.
        batch_size=min(plan.batch_size, num_train),
        augment="randaugment" if plan.randaugment else plan.augment,
    )


def exactly(ds: tf.data.Dataset, count: int) -> tf.data.Dataset:
    """``count`` elements of a dataset whose elements may fail, with that cardinality known.

    Files are checked before loading, so a decode failure here is rare (a file
    changed since, or damage the check cannot see). tf.data logs it and drops the
    element; the next pass of the same dataset fills its place, so an epoch keeps
    its length and Keras knows the number of steps (with an unknown count it warns
    that the input "ran out of data" after every first epoch). The next pass is
    only started when an element was dropped; if every element fails, the repeat
    ends instead of spinning.
    """
    return ds.ignore_errors(log_warning=True).repeat().take(count)


def train_pipeline(plan: TransformPlan, split: Split, cache_to: str | None) -> tf.data.Dataset:
    """Shuffled, augmented training batches of a split, cached per ``cache_to``.

    ``cache_to`` is "" for memory, a file prefix for disk or None for no cache.
    """
    kind = split.kind
    if cache_to is not None:
        # Decode once at a moderate resolution, keep the uint8 images, and crop
        # and flip from memory every epoch; shuffling after the cache keeps
        # epochs in different orders.
        if kind == "files":
            ds = file_elements(plan, split, "cache", shuffle=False)
        else:
            ds = split.elements(shuffle=False, seed=plan.seed)
            ds = ds.map(plan.cache_fn(kind), num_parallel_calls=AUTOTUNE)
        ds = exactly(ds, split.size).cache(cache_to)
        ds = ds.shuffle(split.size, seed=plan.seed, reshuffle_each_iteration=True)
        kind = "pixels"
    if kind == "files":
        ds = file_elements(plan, split, plan.train_stage, shuffle=True)
        if plan.randaugment:
            ds = map_seeded(ds, randaugment, plan.stream_seed("randaugment"))
    else:
        if cache_to is None:
            ds = split.elements(shuffle=True, seed=plan.seed)
        ds = map_seeded(ds, plan.train_fn(kind), plan.stream_seed("elements"))
    if kind != "pixels":
        ds = exactly(ds, split.size)
    ds = ds.batch(plan.batch_size)
    if plan.soft_labels:
        ds = map_seeded(ds, plan.mix_fn, plan.stream_seed("batches"))
    return ds.prefetch(AUTOTUNE)


def evaluation_pipeline(plan: TransformPlan, split: Split, cache_to: str | None) -> tf.data.Dataset:
    """Evaluation batches of a split in order, cached per ``cache_to``."""
    ds = evaluation_elements(plan, split, shuffle=False).batch(plan.batch_size)
    if cache_to is not None:
        # The evaluation transform is deterministic: keep its output, as uint8
        # (a rounding of at most half a grey level) to take a quarter of the memory.
        ds = ds.map(lambda images, labels: (to_uint8(images), labels)).cache(cache_to)
        ds = ds.map(lambda images, labels: (tf.cast(images, tf.float32), labels))
    if plan.soft_labels:
        ds = ds.map(lambda images, labels: (images, tf.one_hot(labels, plan.num_classes)))
    return ds.prefetch(AUTOTUNE)


def unaugmented_pipeline(plan: TransformPlan, split: Split) -> tf.data.Dataset:
    """Batches of a (training) split under the evaluation transform, shuffled, with
    integer labels: what batch-norm statistics are recomputed from after training."""
    ds = evaluation_elements(plan, split, shuffle=True).batch(plan.batch_size)
    return ds.prefetch(AUTOTUNE)


def evaluation_elements(plan: TransformPlan, split: Split, shuffle: bool) -> tf.data.Dataset:
    """Unbatched ``(image, label)`` of a split under the evaluation transform."""
    if split.kind == "files":
        ds = file_elements(plan, split, "eval", shuffle=shuffle)
    else:
        ds = split.elements(shuffle=shuffle, seed=plan.seed)
        ds = ds.map(plan.eval_fn(split.kind), num_parallel_calls=AUTOTUNE)
    return ds if split.kind == "pixels" else exactly(ds, split.size)


def file_elements(plan: TransformPlan, split: Split, stage: str, shuffle: bool) -> tf.data.Dataset:
    """Decoded files: (float32 image, label), or for "cache" (uint8, codec, label).

    Files are grouped by their decoding settings; shuffled groups are interleaved
    at random in proportion to their sizes, unshuffled ones in the files' order.
    """
    keys = [
        plan.decoding(stage, tuple(shape), int(codec))
        for shape, codec in zip(split.shapes, split.codecs, strict=True)
    ]
    unique = list(dict.fromkeys(keys))
    group_of = np.asarray([unique.index(key) for key in keys], np.int64)
    groups, weights = [], []
    for index, key in enumerate(unique):
        members = np.flatnonzero(group_of == index)
        ds = tf.data.Dataset.from_tensor_slices(
            (split.paths[members], tf.constant(split.labels[members], tf.int32))
        )
        if shuffle:
            ds = ds.shuffle(len(members), seed=plan.seed, reshuffle_each_iteration=True)
        if stage in RANDOM_STAGES:
            ds = map_seeded(ds, plan.file_fn(stage, key), plan.stream_seed("elements", index))
        else:
            ds = ds.map(plan.file_fn(stage, key), num_parallel_calls=AUTOTUNE)
        groups.append(ds)
        weights.append(len(members) / len(keys))
    if len(groups) == 1:
        return groups[0]
    if shuffle:
        return tf.data.Dataset.sample_from_datasets(
            groups,
            weights,
            seed=plan.seed,
            stop_on_empty_dataset=False,
            rerandomize_each_iteration=True,
        )
    return tf.data.Dataset.choose_from_datasets(
        groups, tf.data.Dataset.from_tensor_slices(group_of), stop_on_empty_dataset=False
    )
