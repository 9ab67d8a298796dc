"""The Conv2D subclass gives keras.layers.Conv2D's results, forward and in training."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import to_numpy
from keras import layers

from keras_resnet.layers.conv import Conv2D


def _tiny_model(conv_class, kernel_size, use_bias):
    inputs = keras.Input((5, 5, 6))
    x = conv_class(8, kernel_size, use_bias=use_bias, padding="same", name="conv")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(3, name="dense")(x))


@pytest.mark.parametrize("kernel_size, use_bias", [(1, False), (1, True), (3, False)])
def test_training_steps_match_keras_conv2d(kernel_size, use_bias):
    reference = _tiny_model(layers.Conv2D, kernel_size, use_bias)
    ours = _tiny_model(Conv2D, kernel_size, use_bias)
    rng = np.random.default_rng(0)
    reference.set_weights([rng.normal(size=w.shape).astype("float32") for w in reference.weights])
    ours.set_weights(reference.get_weights())
    x = rng.normal(size=(4, 5, 5, 6)).astype("float32")
    y = rng.integers(0, 3, 4)
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5
    )
    for model in (reference, ours):
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        for _ in range(2):
            model.train_on_batch(x, y)
    for expected, actual in zip(reference.weights, ours.weights, strict=True):
        np.testing.assert_allclose(to_numpy(actual), to_numpy(expected), atol=1e-5)


def test_matmul_only_for_pointwise_convs_on_jax_cpu():
    on_jax_cpu = keras.backend.backend() == "jax" and __import__("jax").default_backend() == "cpu"
    pointwise, strided, wide = Conv2D(4, 1), Conv2D(4, 1, strides=2), Conv2D(4, 3)
    for conv in (pointwise, strided, wide):
        conv.build((None, 6, 6, 3))
    assert pointwise._as_matmul() is on_jax_cpu
    assert not strided._as_matmul() and not wide._as_matmul()


def test_config_round_trip():
    conv = Conv2D(4, 1, use_bias=False, name="conv")
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(conv))
    assert type(revived) is Conv2D
    assert revived.get_config() == conv.get_config()


@pytest.mark.parametrize(
    "settings",
    [
        dict(kernel_size=3, strides=2, padding="same", use_bias=True, activation="relu"),
        dict(kernel_size=3, groups=2, padding="valid", use_bias=False),
        dict(kernel_size=1, use_bias=True),
    ],
)
def test_channels_first_gives_the_channels_last_result(settings):
    # On a TensorFlow CPU without oneDNN this path transposes around the convolution.
    last = Conv2D(4, data_format="channels_last", **settings)
    first = Conv2D(4, data_format="channels_first", **settings)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 4)).astype("float32")
    expected = to_numpy(last(x))
    first.build((None, 4, 6, 6))
    first.set_weights(last.get_weights())
    actual = to_numpy(first(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_allclose(np.transpose(actual, (0, 2, 3, 1)), expected, atol=1e-5)
