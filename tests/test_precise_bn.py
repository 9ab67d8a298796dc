"""Batch-norm statistics recomputed after training (keras_resnet.training.precise_bn)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_resnet.layers import BatchNormalization, DropPath
from keras_resnet.training.precise_bn import recompute_statistics


def _images(count, seed):
    rng = np.random.default_rng(seed)
    # Channels with different means and spreads, so a wrong pooling shows.
    return (rng.normal(size=(count, 4, 4, 3)) * [1.0, 3.0, 0.5] + [5.0, -2.0, 0.0]).astype(
        "float32"
    )


def _batches(images, sizes):
    """(images, labels) batches of uneven sizes, as a last partial batch makes them."""
    start, batches = 0, []
    for size in sizes:
        batches.append((images[start : start + size], np.zeros(size, "int32")))
        start += size
    return batches


def _model(noise_layer, bn=BatchNormalization):
    inputs = keras.Input((4, 4, 3))
    x = noise_layer(inputs)
    x = bn(momentum=0.9, name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def _pooled(images):
    flat = images.reshape(-1, images.shape[-1]).astype(np.float64)
    return flat.mean(axis=0), flat.var(axis=0)


@pytest.mark.parametrize(
    "noise_layer, bn",
    [
        (lambda: keras.layers.Dropout(0.5), BatchNormalization),
        (lambda: DropPath(0.5), BatchNormalization),
        (lambda: keras.layers.Dropout(0.5), keras.layers.BatchNormalization),
    ],
    ids=["dropout", "drop-path", "keras-bn"],
)
def test_statistics_are_those_of_all_images_with_noise_off(noise_layer, bn):
    images = _images(13, seed=1)
    layer = noise_layer()
    model = _model(layer, bn)
    weights_before = [to_numpy(w) for w in model.trainable_weights]

    seen = recompute_statistics(model, _batches(images, [5, 5, 3]))

    assert seen == 13
    norm = model.get_layer("bn")
    mean, variance = _pooled(images)
    # Dropout or drop path left on would scale samples by 2 and zero others:
    # the variance would come out about twice as large.
    np.testing.assert_allclose(to_numpy(norm.moving_mean), mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(to_numpy(norm.moving_variance), variance, rtol=1e-4)
    for before, after in zip(weights_before, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(before, to_numpy(after))
    assert norm.momentum == 0.9
    assert layer.rate == 0.5


def test_stops_after_the_batch_that_reaches_max_images():
    images = _images(13, seed=2)
    model = _model(lambda x: x)

    seen = recompute_statistics(model, _batches(images, [5, 5, 3]), max_images=6)

    assert seen == 10
    mean, variance = _pooled(images[:10])
    norm = model.get_layer("bn")
    np.testing.assert_allclose(to_numpy(norm.moving_mean), mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(to_numpy(norm.moving_variance), variance, rtol=1e-4)


def test_frozen_batch_norms_and_empty_data_change_nothing():
    model = _model(lambda x: x)
    norm = model.get_layer("bn")
    before = to_numpy(norm.moving_mean), to_numpy(norm.moving_variance)

    assert recompute_statistics(model, []) == 0
    np.testing.assert_array_equal(to_numpy(norm.moving_mean), before[0])

    norm.trainable = False
    assert recompute_statistics(model, _batches(_images(8, seed=3), [8])) == 0
    np.testing.assert_array_equal(to_numpy(norm.moving_variance), before[1])


def test_an_interrupted_pass_leaves_the_model_as_it_was():
    model = _model(lambda x: x)
    norm = model.get_layer("bn")
    before = to_numpy(norm.moving_mean), to_numpy(norm.moving_variance)

    def failing():
        yield _batches(_images(4, seed=4), [4])[0]
        raise RuntimeError("the data ran dry")

    with pytest.raises(RuntimeError, match="ran dry"):
        recompute_statistics(model, failing())
    np.testing.assert_array_equal(to_numpy(norm.moving_mean), before[0])
    np.testing.assert_array_equal(to_numpy(norm.moving_variance), before[1])
    assert norm.momentum == 0.9


def test_max_images_must_be_positive():
    with pytest.raises(ValueError, match="max_images must be at least 1"):
        recompute_statistics(_model(lambda x: x), [], max_images=0)
