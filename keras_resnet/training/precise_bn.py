"""Batch-norm statistics recomputed after training ("precise BN").

The moving mean and variance that training leaves in each batch norm are running
averages: they trail the weights of earlier steps, and they describe augmented
training images, which a model never sees at test time. Recomputing them once, from
the final weights on training images under the evaluation transform, gives
statistics that match what the model meets at inference (Wu and Johnson 2021,
"Rethinking 'Batch' in BatchNorm"). No test image is involved. What it gains on the
embedded digits and on photos is in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from keras_resnet.compat import flatten_layers
from keras_resnet.layers import DropPath

# Enough images for per-channel statistics of any ResNet; ImageNet recipes use 1k-8k.
DEFAULT_MAX_IMAGES = 4096


def recompute_statistics(model: keras.Model, dataset, max_images: int = DEFAULT_MAX_IMAGES) -> int:
    """Sets every trainable batch norm's moving statistics to those of ``dataset``.

    Each layer's mean and variance are pooled over the batches as if all the images
    were one batch (the biased variance, as Keras keeps it). Dropout and drop path
    are off while the statistics are gathered, as they are at inference; weights are
    untouched. Frozen batch norms (``trainable=False``) keep their statistics.

    Args:
        model: a built Keras model.
        dataset: batches of images, or of ``(images, labels)`` pairs, under the
            transform the model will be evaluated with (a ``tf.data.Dataset`` or any
            iterable of arrays), in a random order when ``max_images`` may cut it.
        max_images: stop after the batch that reaches this many images.

    Returns:
        The number of images the statistics come from (0 when the model has no
        trainable batch norm or the dataset is empty, which changes nothing).

    Example:
        >>> data = keras_resnet.data.load_data("digits", image_size=16)
        >>> recompute_statistics(model, data.train_unaugmented)
        1438
    """
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}.")
    all_layers = flatten_layers(model)
    norms = [
        layer
        for layer in all_layers
        if isinstance(layer, layers.BatchNormalization) and layer.trainable and layer.built
    ]
    if not norms:
        return 0
    noisy = [layer for layer in all_layers if isinstance(layer, (layers.Dropout, DropPath))]
    saved = {
        "momentum": [layer.momentum for layer in norms],
        "rate": [layer.rate for layer in noisy],
        "statistics": [_statistics(layer) for layer in norms],
    }
    # Momentum 0 makes each call leave exactly its batch's statistics behind.
    for layer in norms:
        layer.momentum = 0.0
    for layer in noisy:
        layer.rate = 0.0
    sums = [(0.0, 0.0) for _ in norms]
    seen = 0
    try:
        for batch in dataset:
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            count = int(ops.shape(images)[0])
            if count == 0:
                continue
            model(images, training=True)
            for index, layer in enumerate(norms):
                mean, variance = _statistics(layer)
                total_mean, total_square = sums[index]
                sums[index] = (
                    total_mean + count * mean,
                    total_square + count * (variance + mean * mean),
                )
            seen += count
            if seen >= max_images:
                break
    except BaseException:
        # An interrupted pass leaves the model as it was, not with one batch's statistics.
        for layer, statistics in zip(norms, saved["statistics"], strict=True):
            _assign(layer, *statistics)
        raise
    finally:
        for layer, momentum in zip(norms, saved["momentum"], strict=True):
            layer.momentum = momentum
        for layer, rate in zip(noisy, saved["rate"], strict=True):
            layer.rate = rate
    if seen == 0:  # no batch ran: the statistics were never touched
        return 0
    for layer, (total_mean, total_square) in zip(norms, sums, strict=True):
        mean = total_mean / seen
        # Clipped at 0: float rounding can leave a constant channel a hair below.
        _assign(layer, mean, np.maximum(total_square / seen - mean * mean, 0.0))
    return seen


def _statistics(layer) -> tuple[np.ndarray, np.ndarray]:
    return (
        ops.convert_to_numpy(layer.moving_mean).astype(np.float64),
        ops.convert_to_numpy(layer.moving_variance).astype(np.float64),
    )


def _assign(layer, mean, variance) -> None:
    layer.moving_mean.assign(np.asarray(mean, layer.moving_mean.dtype))
    layer.moving_variance.assign(np.asarray(variance, layer.moving_variance.dtype))
