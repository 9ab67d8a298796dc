"""Stateless per-element seeds: how every random transform gets its draws.

Augmentation draws come from stateless random ops, with a seed per element (or per
batch, for mixup and cutmix) that travels with it. TF's stateful random ops share
one generator between a parallel map's threads, so which element got which draw
changed from run to run; with a seed per element the same ``seed`` gives the same
augmented batches, while every epoch still draws afresh (benchmarks/RESULTS.md,
"Seeded augmentation: its cost"). Every random transform therefore takes an
explicit [2] int64 stateless seed as its last argument.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

STREAMS = ("elements", "randaugment", "batches")


def map_seeded(ds: tf.data.Dataset, fn: Callable, seed: int) -> tf.data.Dataset:
    """``ds.map(fn)`` in parallel, with a [2] int64 stateless seed after each element's parts.

    The seeds are new every epoch and the same for the same ``seed``; the map keeps
    its order, so batches hold the same elements from run to run.
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip((ds, seeds)).map(
        lambda element, element_seed: fn(*element, element_seed),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def split_seed(seed: tf.Tensor, count: int) -> list[tf.Tensor]:
    """``count`` independent stateless seeds from one."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, count))


def stream_seed(seed: int, stream: str, group: int = 0) -> int:
    """The seed of one stream of augmentation draws, apart from the shuffle's seed.

    ``stream`` is one of STREAMS; ``group`` tells apart the file groups of one stream.
    """
    return seed * 1_000_003 + 7919 * (1 + STREAMS.index(stream)) + group
