"""Every named network through the shared harness (tests/model_harness.py)."""

from __future__ import annotations

import keras
import pytest
from model_harness import run_model_test

import keras_resnet
from keras_resnet import MODEL_CONFIGS

# The deep networks (101 layers and more): minutes on the slower backends, left to the
# large runs.
LARGE = {
    "ResNet110",
    "ResNet101",
    "ResNet152",
    "ResNet101V2",
    "ResNet152V2",
    "ResNet101D",
    "ResNet152D",
    "ResNeXt101_32x8d",
    "WideResNet101_2",
}


@pytest.fixture
def release_memory():
    """Frees the weights of full-size networks once a test is done with them."""
    yield
    keras.backend.clear_session()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.large) if name in LARGE else name
        for name in MODEL_CONFIGS
    ],
)
def test_named_model_goes_through_the_harness(name, tmp_path, release_memory):
    # The smallest input each stem takes: 32 pixels (stride 32) or 4 for CIFAR (stride 4).
    size = 8 if MODEL_CONFIGS[name].stem_type == "cifar" else 32
    constructor = getattr(keras_resnet, name)
    run_model_test(
        lambda: constructor(num_classes=3, input_shape=(size, size, 3)),
        size,
        tmp_path,
        expected_config=MODEL_CONFIGS[name],
    )
