"""How a run reads its data's batches: batch size, steps per epoch, even device splits."""

from __future__ import annotations

import math

from keras_resnet.distribute import Distribution


def batch_size_of(data) -> int:
    """Images per training step of an ``ImageData``: its ``batch_size``.

    :func:`keras_resnet.data.load_data` sets ``batch_size`` for every source, ready-made
    pipelines included. Only an ``ImageData`` built by hand may leave it None; its
    training pipeline then tells: by its static batch dimension, else by its first batch.

    Raises:
        ValueError: if the batch size is unknown and the training data holds no examples.

    Example:
        >>> batch_size_of(load_data("digits", batch_size=64))
        64
    """
    if data.batch_size:
        return int(data.batch_size)
    static = data.train.element_spec[0].shape[0]
    if static is not None:
        return int(static)
    for images, _ in data.train.take(1):
        return int(images.shape[0])
    raise ValueError("The training data holds no examples.")


def steps_per_epoch(data, batch_size: int) -> int:
    """Optimizer steps in one pass over ``data.train``.

    Example:
        >>> steps_per_epoch(load_data("digits", batch_size=64), 64)
        18
    """
    cardinality = int(data.train.cardinality())
    if cardinality > 0:
        return cardinality
    if data.num_train:
        return math.ceil(data.num_train / batch_size)
    return sum(1 for _ in data.train)


def divisible_batches(
    dataset, distribution: Distribution, batch_size: int, num_examples: int | None
):
    """Batches that JAX can split evenly over the devices of a DataParallel run.

    TensorFlow's strategies take a last, smaller batch as it is; JAX shards every
    batch over its devices, so that batch loses its last ``< replicas`` images. With
    several processes, Keras gives each an equal slice of every batch, so only whole
    batches are kept. (The pipeline reshuffles each epoch, so other images sit out
    each time; the final evaluation of ``fit``, on one device, sees every image.)

    Args:
        dataset: batched ``tf.data.Dataset``, or None.
        distribution: the run's distribution; only ``"dataparallel"`` changes anything.
        batch_size: the global batch.
        num_examples: images in ``dataset`` where known.

    Returns:
        The dataset, cut where needed.

    Example:
        >>> divisible_batches(data.train, distribution, 64, data.num_train)
    """
    if dataset is None or distribution.name != "dataparallel":
        return dataset
    import jax
    import tensorflow as tf

    batches = int(dataset.cardinality())
    # With the size of the last batch known, the cardinality stays known too, so
    # that progress bars count steps and Keras does not warn of running dry.
    known = bool(num_examples) and batches == math.ceil(num_examples / batch_size)
    if known and num_examples % batch_size == 0:
        return dataset
    if jax.process_count() > 1:
        whole = dataset.unbatch().batch(batch_size, drop_remainder=True)
        if known:
            whole = whole.apply(tf.data.experimental.assert_cardinality(num_examples // batch_size))
        return whole
    replicas = distribution.num_replicas

    def truncate(*batch):
        keep = tf.shape(batch[0])[0] // replicas * replicas
        return tuple(part[:keep] for part in batch)

    if known:
        last = num_examples - (batches - 1) * batch_size
        if last % replicas == 0:
            return dataset
        if last < replicas:
            return dataset.take(batches - 1)
        return dataset.map(truncate)
    return dataset.map(truncate).filter(lambda images, *_: tf.shape(images)[0] > 0)
