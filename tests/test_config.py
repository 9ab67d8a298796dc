"""ResNetConfig: validation, resolved defaults, dict round trip, and the model carrying it."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
from conftest import random_images, to_numpy

import keras_resnet
from keras_resnet import MODEL_CONFIGS, ResNet, ResNetConfig, resnet_config
from keras_resnet.models import block_name, stage_name


def test_defaults_are_resolved_so_a_config_is_complete():
    config = ResNetConfig(stage_depths=[2, 2, 2, 2], block_type="basic")
    assert config.stage_depths == (2, 2, 2, 2)
    assert config.stage_widths == (64, 128, 256, 512)
    assert (config.stem_type, config.stem_width) == ("imagenet", 64)
    assert ResNetConfig((3, 4, 6, 3), variant="d").stem_type == "deep"
    cifar = ResNetConfig((3, 3, 3), block_type="basic", stem_type="cifar")
    assert (cifar.stage_widths, cifar.stem_width) == ((16, 32, 64), 16)
    assert ResNetConfig((1, 1), stage_widths=(32, 48)).stem_width == 32
    # Spelling a default out gives the same config.
    assert config == ResNetConfig(
        (2, 2, 2, 2), "basic", stage_widths=(64, 128, 256, 512), stem_type="imagenet"
    )


def test_a_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        MODEL_CONFIGS["ResNet50"].groups = 32


@pytest.mark.parametrize("name", list(MODEL_CONFIGS))
def test_dict_round_trip_through_json(name):
    config = MODEL_CONFIGS[name]
    values = config.to_dict()
    assert isinstance(values["stage_depths"], list)
    assert ResNetConfig.from_dict(json.loads(json.dumps(values))) == config


def test_named_configs_are_the_papers_networks():
    assert MODEL_CONFIGS["ResNet50"] == ResNetConfig((3, 4, 6, 3))
    assert MODEL_CONFIGS["ResNeXt50_32x4d"].groups == 32
    assert MODEL_CONFIGS["ResNet50V2"].variant == "v2"
    assert MODEL_CONFIGS["ResNet110"].stage_depths == (18, 18, 18)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(variant="v3"), r"Unknown variant 'v3': use one of \['v1', 'v1.5', 'd', 'v2'\]"),
        (dict(block_type="basics"), r"Unknown block_type 'basics'"),
        (dict(stem_type="tiny"), r"Unknown stem_type 'tiny'"),
        (dict(stage_widths=(64, 128, 256)), r"has 4 stages but stage_widths has 3"),
        (dict(stage_depths=()), r"stage_depths must be a non-empty list"),
        (dict(stage_depths=(2, 0, 2, 2)), r"positive block counts"),
        (dict(stage_depths="2222"), r"positive block counts"),
        (dict(stage_widths=(64, 0, 256, 512)), r"stage_widths must be positive"),
        (dict(block_type="basic", variant="v1"), r"Use variant='v1.5' with block_type='basic'"),
        (dict(block_type="basic", groups=32), r"groups and base_width apply to"),
        (dict(groups=0), r"must be positive"),
        (dict(se_ratio=1.5), r"se_ratio must be None or in \(0, 1\]"),
        (dict(drop_path_rate=1.0), r"drop_path_rate must be in \[0, 1\)"),
    ],
)
def test_invalid_architectures_are_rejected_once_in_the_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNetConfig(**{"stage_depths": (2, 2, 2, 2), **kwargs})


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match=r"Unknown ResNetConfig fields \['depths'\]"):
        ResNetConfig.from_dict({"depths": [2, 2]})


def test_resnet_takes_a_config_and_the_model_returns_it():
    config = ResNetConfig((1, 1), block_type="basic", stage_widths=(8, 16), se_ratio=0.25)
    model = ResNet(config=config, num_classes=3, input_shape=(32, 32, 3))
    assert resnet_config(model) is config
    by_arguments = ResNet(
        stage_depths=(1, 1),
        block_type="basic",
        stage_widths=(8, 16),
        se_ratio=0.25,
        num_classes=3,
        input_shape=(32, 32, 3),
    )
    assert resnet_config(by_arguments) == config
    assert [w.shape for w in model.weights] == [w.shape for w in by_arguments.weights]
    assert resnet_config(keras_resnet.ResNet20(num_classes=2)) == MODEL_CONFIGS["ResNet20"]
    # Arguments of a named constructor change its architecture before defaults resolve.
    narrow = dict(stage_widths=(4, 8, 16, 32), input_shape=(32, 32, 3))
    resnet_d = resnet_config(keras_resnet.ResNet18(variant="d", **narrow))
    assert (resnet_d.stem_type, resnet_d.stem_width) == ("deep", 4)


def test_config_and_architecture_arguments_conflict():
    config = ResNetConfig((1, 1), stage_widths=(8, 16))
    with pytest.raises(ValueError, match=r"Got config and architecture arguments \['groups'\]"):
        ResNet(config=config, groups=2)
    with pytest.raises(ValueError, match="Give stage_depths"):
        ResNet(num_classes=3)
    with pytest.raises(ValueError, match="config must be a ResNetConfig"):
        ResNet(config=config.to_dict())


def test_the_config_survives_a_keras_file_with_input_tensor_and_mixed_precision(tmp_path):
    keras.config.set_dtype_policy("mixed_float16")
    config = ResNetConfig(
        (1, 2), stage_widths=(4, 8), variant="v2", stride_in_last_block=True, drop_path_rate=0.1
    )
    image = keras.Input((32, 32, 3))
    scaled = keras.layers.Rescaling(1.0, name="upstream")(image)
    model = ResNet(config=config, input_tensor=scaled, num_classes=3)
    assert model.get_layer("predictions").compute_dtype == "float32"
    x = random_images(2, 32)
    expected = to_numpy(model(x, training=False))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert resnet_config(loaded) == config
    assert loaded.get_layer("upstream") is not None
    np.testing.assert_allclose(to_numpy(loaded(x, training=False)), expected, rtol=1e-6)
    assert loaded.get_config()["resnet_config"] == config.to_dict()


def test_block_names_are_those_the_builder_gives():
    model = ResNet(stage_depths=(1, 2), stage_widths=(4, 8), num_classes=2)
    assert (stage_name(0), block_name(0, 0), block_name(1, 1)) == (
        "conv2",
        "conv2_block1",
        "conv3_block2",
    )
    blocks = [layer.name for layer in model.layers if isinstance(layer, keras_resnet.Bottleneck)]
    assert blocks == [block_name(0, 0), block_name(1, 0), block_name(1, 1)]


def test_resnet_config_of_a_model_not_built_here_says_so():
    inputs = keras.Input((8, 8, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="not built by keras_resnet.ResNet"):
        resnet_config(other)
