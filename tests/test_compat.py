"""The Keras internals that keras_resnet.compat relies on: a test fails loudly if one moves."""

import inspect

import keras
import numpy as np
import pytest

import keras_resnet as kr
from keras_resnet import compat


def _parameters(function):
    return list(inspect.signature(function).parameters)


def test_flatten_layers_is_still_keras_recursive_walk():
    assert _parameters(keras.layers.Layer._flatten_layers) == [
        "self",
        "include_self",
        "recursive",
    ]
    inner = kr.ResNet20(num_classes=3, input_shape=(16, 16, 3))
    outer = keras.Sequential([keras.Input((16, 16, 3)), inner])
    flat = compat.flatten_layers(outer)
    assert inner in flat and outer not in flat
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in flat)


def test_a_restored_epoch_overrides_later_fits_until_forgotten():
    # BackupAndRestore leaves model._initial_epoch set; Keras's fit reads it first.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    model._initial_epoch = 2
    assert len(model.fit(x, y, epochs=3, verbose=0).history["loss"]) == 1
    compat.forget_restored_epoch(model)
    assert len(model.fit(x, y, epochs=3, verbose=0).history["loss"]) == 3


def test_multiworker_internals_are_where_the_workaround_expects_them():
    pytest.importorskip("tensorflow")
    from keras.src.backend.tensorflow import trainer

    assert _parameters(trainer.TensorFlowTrainer._maybe_symbolic_build) == [
        "self",
        "iterator",
        "data_batch",
    ]
    assert "data_batch" in _parameters(keras.Model._symbolic_build)
    assert _parameters(trainer.reduce_per_replica) == ["values", "strategy", "reduction"]
    assert _parameters(trainer._collective_all_reduce_multi_worker) == ["strategy"]
    assert _parameters(trainer._is_per_replica_instance) == ["obj"]


def test_the_multiworker_patch_applies_inside_its_block_only():
    pytest.importorskip("tensorflow")
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    model = kr.ResNet20(num_classes=3, input_shape=(16, 16, 3))
    with compat.multiworker_fit(model, strategy=None):
        assert trainer.reduce_per_replica is not original
        assert "_maybe_symbolic_build" in vars(model)
    assert trainer.reduce_per_replica is original
    assert "_maybe_symbolic_build" not in vars(model)
    with pytest.raises(RuntimeError), compat.multiworker_fit(model, strategy=None):
        raise RuntimeError
    assert trainer.reduce_per_replica is original
    assert np.isfinite(model.count_params())


def test_the_onnx_export_internals_are_where_compat_expects_them():
    tf = pytest.importorskip("tensorflow")
    from keras.src.export import tf2onnx_lib
    from tensorflow.python.framework import convert_to_constants

    assert callable(tf2onnx_lib.patch_tf2onnx)
    assert "func" in _parameters(convert_to_constants.convert_variables_to_constants_v2)
    variable = tf.Variable(3.0)
    function = tf.function(lambda x: x * variable)
    frozen = compat.freeze_variables(function.get_concrete_function(tf.TensorSpec((), tf.float32)))
    # The variable became a constant: the frozen graph captures nothing.
    assert not frozen.captured_inputs
    assert float(frozen(tf.constant(2.0))[0]) == 6.0
