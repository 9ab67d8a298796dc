"""The fused BatchNormalization gives Keras's results, and takes the fused kernel."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import to_numpy
from keras import layers

from keras_resnet.layers.batch_norm import BatchNormalization
from keras_resnet.layers.conv import Conv2D

BACKEND = keras.backend.backend()


def _tiny_model(norm_class, axis):
    data_format = "channels_last" if axis == -1 else "channels_first"
    shape = (6, 6, 3) if axis == -1 else (3, 6, 6)
    inputs = keras.Input(shape)
    # The package's Conv2D: Keras's own cannot run channels-first on every TensorFlow CPU.
    x = Conv2D(8, 3, data_format=data_format, name="conv")(inputs)
    x = norm_class(axis=axis, momentum=0.9, epsilon=1e-5, name="bn")(x)
    x = layers.GlobalAveragePooling2D(data_format=data_format)(x)
    return keras.Model(inputs, layers.Dense(4, name="dense")(x))


@pytest.mark.parametrize("axis", [-1, 1])
def test_training_steps_match_keras_batch_normalization(axis):
    """Outputs, gradients (through every weight) and moving statistics agree."""
    keras_model = _tiny_model(layers.BatchNormalization, axis)
    fused_model = _tiny_model(BatchNormalization, axis)
    rng = np.random.default_rng(0)
    fused_model.set_weights(keras_model.get_weights())
    bn = keras_model.get_layer("bn")
    bn.gamma.assign(rng.uniform(0.5, 1.5, 8).astype("float32"))
    bn.beta.assign(rng.normal(size=8).astype("float32"))
    fused_model.set_weights(keras_model.get_weights())
    x = rng.normal(3.0, 2.0, (5, *keras_model.input_shape[1:])).astype("float32")
    y = rng.integers(0, 4, 5)
    for model in (keras_model, fused_model):
        model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
        for _ in range(3):
            model.train_on_batch(x, y)
    for expected, actual in zip(keras_model.weights, fused_model.weights, strict=True):
        np.testing.assert_allclose(
            to_numpy(actual), to_numpy(expected), rtol=1e-4, atol=2e-5, err_msg=actual.path
        )
    np.testing.assert_allclose(
        fused_model.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=1e-4, atol=2e-5
    )


def test_moving_variance_is_the_biased_batch_variance():
    bn = BatchNormalization(momentum=0.0, epsilon=1e-5)
    x = np.random.default_rng(1).normal(2.0, 3.0, (4, 3, 3, 5)).astype("float32")
    bn(x, training=True)
    np.testing.assert_allclose(to_numpy(bn.moving_mean), x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(bn.moving_variance), x.var(axis=(0, 1, 2)), rtol=1e-4)


def test_mixed_precision_computes_in_the_policy_dtype():
    keras.config.set_dtype_policy("mixed_bfloat16")
    fused = BatchNormalization()
    reference = layers.BatchNormalization()
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 8)).astype("float32")
    actual, expected = fused(x, training=True), reference(x, training=True)
    assert keras.backend.standardize_dtype(actual.dtype) == "bfloat16"
    np.testing.assert_allclose(
        to_numpy(keras.ops.cast(actual, "float32")),
        to_numpy(keras.ops.cast(expected, "float32")),
        atol=0.05,
    )
    assert fused.moving_mean.dtype == "float32"


def test_config_round_trip_and_keras_weights_load():
    fused = BatchNormalization(axis=-1, momentum=0.9, epsilon=1e-5, name="bn")
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(fused))
    assert type(revived) is BatchNormalization
    assert revived.get_config() == fused.get_config()
    keras_bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    keras_bn.build((None, 4, 4, 8))
    fused.build((None, 4, 4, 8))
    fused.set_weights(keras_bn.get_weights())
    assert [w.path.split("/")[-1] for w in fused.weights] == [
        w.path.split("/")[-1] for w in keras_bn.weights
    ]


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's fused kernel")
def test_tensorflow_runs_the_fused_kernel():
    import tensorflow as tf

    bn = BatchNormalization()
    bn.build((None, 4, 4, 8))
    for training in (True, False):
        graph = (
            tf.function(lambda x, training=training: bn(x, training=training))
            .get_concrete_function(tf.TensorSpec((2, 4, 4, 8)))
            .graph
        )
        assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}


@pytest.mark.skipif(BACKEND != "torch", reason="torch's fused kernel")
def test_torch_runs_the_fused_kernel(monkeypatch):
    import torch

    calls = []
    native = torch.native_batch_norm

    def counting(*args):
        calls.append(args[0].shape)
        return native(*args)

    monkeypatch.setattr(torch, "native_batch_norm", counting)
    BatchNormalization()(np.ones((2, 4, 4, 8), "float32"), training=True)
    assert calls == [torch.Size([2, 8, 4, 4])]
