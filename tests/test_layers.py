"""Tests of the residual blocks and their helper layers on the active backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import sublayers, to_numpy
from keras import layers

from keras_resnet import BasicBlock, Bottleneck, DropPath, SqueezeExcite, ZeroPadShortcut
from keras_resnet.layers import BN_EPSILON, BN_MOMENTUM

# Most tests share one input shape and a few block widths: on JAX every new shape costs
# compilations, which would dominate the run.
CHANNELS = 16


def _inputs(batch=2, size=8, channels=CHANNELS, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, size, size, channels)).astype("float32")


def _build(block, channels=CHANNELS, size=8):
    """Calls ``block`` once so that it is built, and returns that input and output."""
    x = _inputs(2, size, channels)
    return x, to_numpy(block(x, training=False))


def _same_width(block_class):
    """Filters that keep CHANNELS at the output (identity shortcut)."""
    return CHANNELS // block_class.expansion


def _double_width(block_class):
    """Filters that double CHANNELS at the output (projection shortcut)."""
    return 2 * CHANNELS // block_class.expansion


def _run(chain, x):
    for layer in chain:
        x = layer(x, training=False) if isinstance(layer, layers.BatchNormalization) else layer(x)
    return to_numpy(x)


def _relu(x):
    return np.maximum(x, 0.0)


# Shapes and shortcuts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "block_class, filters, strides, size, expected",
    [
        (BasicBlock, 16, 1, 8, (2, 8, 8, 16)),
        (BasicBlock, 32, 1, 8, (2, 8, 8, 32)),
        (BasicBlock, 16, 2, 8, (2, 4, 4, 16)),
        (BasicBlock, 32, 2, 8, (2, 4, 4, 32)),
        (BasicBlock, 32, 2, 7, (2, 4, 4, 32)),
        (Bottleneck, 4, 1, 8, (2, 8, 8, 16)),
        (Bottleneck, 8, 1, 8, (2, 8, 8, 32)),
        (Bottleneck, 4, 2, 8, (2, 4, 4, 16)),
        (Bottleneck, 8, 2, 8, (2, 4, 4, 32)),
        (Bottleneck, 8, 2, 7, (2, 4, 4, 32)),
    ],
)
def test_block_output_shape(block_class, filters, strides, size, expected):
    block = block_class(filters, strides=strides)
    _, y = _build(block, size=size)
    assert y.shape == expected
    # The symbolic shape Keras uses while building a functional model agrees.
    symbolic = block_class(filters, strides=strides)(keras.Input((size, size, CHANNELS)))
    assert tuple(symbolic.shape) == (None, *expected[1:])


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_shortcut_is_identity_when_shapes_match(block_class):
    block = block_class(_same_width(block_class))
    _build(block)
    assert block.shortcut_layers == []
    assert not [w for w in block.weights if "shortcut" in w.path]
    assert not [name for name in sublayers(block) if name.startswith("shortcut")]


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
@pytest.mark.parametrize("strides, filters", [(2, _same_width), (1, _double_width)])
def test_shortcut_is_a_projection_when_shapes_change(block_class, strides, filters):
    block = block_class(filters(block_class), strides=strides)
    _build(block)
    parts = sublayers(block)
    conv = parts["shortcut_conv"]
    assert tuple(conv.kernel.shape) == (1, 1, CHANNELS, block.output_channels)
    assert tuple(conv.strides) == (strides, strides)
    assert isinstance(parts["shortcut_bn"], layers.BatchNormalization)


def test_bottleneck_v1_5_strides_the_3x3_conv():
    block = Bottleneck(8, strides=2)
    _build(block)
    parts = sublayers(block)
    assert tuple(parts["conv1"].strides) == (1, 1)
    assert tuple(parts["conv2"].strides) == (2, 2)
    assert tuple(parts["conv3"].strides) == (1, 1)


def test_bottleneck_v1_strides_the_first_1x1_conv():
    block = Bottleneck(8, strides=2, stride_in_1x1=True)
    _, y = _build(block)
    parts = sublayers(block)
    assert tuple(parts["conv1"].strides) == (2, 2)
    assert tuple(parts["conv2"].strides) == (1, 1)
    assert "conv2_pad" not in parts
    assert y.shape == (2, 4, 4, 32)


@pytest.mark.parametrize(
    "groups, base_width, width",
    [(1, 64, 64), (32, 4, 128), (32, 8, 256), (1, 128, 128)],
    ids=["resnet50", "resnext_32x4d", "resnext_32x8d", "wide_2"],
)
def test_bottleneck_width_of_the_3x3_conv(groups, base_width, width):
    # The first stage of ResNet50, ResNeXt50_32x4d, ResNeXt101_32x8d and WideResNet50_2;
    # built symbolically, which is enough for the weights and the output shape.
    block = Bottleneck(64, groups=groups, base_width=base_width)
    y = block(keras.Input((4, 4, 64)))
    parts = sublayers(block)
    assert block.width == width
    assert parts["conv2"].groups == groups
    assert tuple(parts["conv2"].kernel.shape) == (3, 3, width // groups, width)
    assert tuple(parts["conv1"].kernel.shape) == (1, 1, 64, width)
    assert y.shape[-1] == 256


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_avg_down_pools_then_projects_with_stride_1(block_class):
    block = block_class(_double_width(block_class), strides=2, avg_down=True)
    _, y = _build(block)
    parts = sublayers(block)
    names = [layer.name for layer in block.shortcut_layers]
    assert names == ["shortcut_pool", "shortcut_conv", "shortcut_bn"]
    assert isinstance(parts["shortcut_pool"], layers.AveragePooling2D)
    assert tuple(parts["shortcut_pool"].pool_size) == (2, 2)
    assert tuple(parts["shortcut_conv"].strides) == (1, 1)
    assert y.shape[1:3] == (4, 4)
    # On odd sizes the pool averages real pixels only, as timm's count_include_pad=False.
    pooled = to_numpy(parts["shortcut_pool"](np.ones((2, 7, 7, CHANNELS), "float32")))
    np.testing.assert_allclose(pooled, np.ones((2, 4, 4, CHANNELS)), rtol=1e-6)


def test_avg_down_without_stride_has_no_pool():
    block = Bottleneck(8, avg_down=True)
    _build(block)
    assert [layer.name for layer in block.shortcut_layers] == ["shortcut_conv", "shortcut_bn"]


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_preact_block_normalises_its_input_and_has_no_output_relu(block_class):
    block = block_class(_same_width(block_class), preact=True, zero_init_last=False)
    _, y = _build(block)
    parts = sublayers(block)
    assert [layer.name for layer in block.preact_layers] == ["preact_bn", "preact_relu"]
    assert isinstance(parts["preact_bn"], layers.BatchNormalization)
    assert isinstance(parts["preact_relu"], layers.ReLU)
    assert "out_relu" not in parts
    # The branch ends with the bare conv: its BN is the next block's pre-activation.
    assert isinstance(block.branch_layers[-1], layers.Conv2D)
    assert y.min() < 0.0


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_post_activation_block_ends_with_relu(block_class):
    block = block_class(_same_width(block_class), zero_init_last=False)
    _, y = _build(block)
    assert isinstance(sublayers(block)["out_relu"], layers.ReLU)
    assert y.min() >= 0.0 and y.max() > 0.0


# zero_init_last: a fresh block starts as (relu of) its shortcut -----------------------------


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_zero_init_identity_block_is_relu_of_its_input(block_class):
    block = block_class(_same_width(block_class))
    x, y = _build(block)
    np.testing.assert_allclose(y, _relu(x), atol=1e-6)


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
@pytest.mark.parametrize("avg_down", [False, True])
def test_zero_init_projection_block_is_relu_of_its_shortcut(block_class, avg_down):
    block = block_class(_double_width(block_class), strides=2, avg_down=avg_down)
    x, y = _build(block)
    shortcut = _run(block.shortcut_layers, x)
    assert np.abs(shortcut).max() > 0.0
    np.testing.assert_allclose(y, _relu(shortcut), atol=1e-5)


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_zero_init_v2_block_equals_its_shortcut(block_class):
    identity = block_class(_same_width(block_class), preact=True)
    x, y = _build(identity)
    np.testing.assert_allclose(y, x, atol=1e-6)

    projection = block_class(_double_width(block_class), strides=2, preact=True)
    x, y = _build(projection)
    # V2 projects the pre-activated input, not the raw one.
    shortcut = _run(projection.preact_layers + projection.shortcut_layers, x)
    np.testing.assert_allclose(y, shortcut, atol=1e-5)


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_stride_in_last_block_is_a_strided_identity_of_the_raw_input(block_class):
    # keras.applications' ResNetV2 layout: a block that strides but keeps its width.
    block = block_class(_same_width(block_class), strides=2, preact=True, stride_in_last_block=True)
    x, y = _build(block)
    (subsample,) = block.shortcut_layers
    assert isinstance(subsample, layers.MaxPooling2D)
    assert tuple(subsample.pool_size) == (1, 1) and tuple(subsample.strides) == (2, 2)
    assert not [w for w in block.weights if "shortcut" in w.path]
    # Zero-initialised, the V2 block is its shortcut: the raw input, subsampled.
    np.testing.assert_allclose(y, x[:, ::2, ::2, :], atol=1e-6)


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_zero_init_last_sets_only_the_last_gamma_to_zero(block_class):
    block = block_class(_same_width(block_class))
    _build(block)
    parts = sublayers(block)
    last = "bn2" if block_class is BasicBlock else "bn3"
    assert np.all(to_numpy(parts[last].gamma) == 0.0)
    assert np.all(to_numpy(parts["bn1"].gamma) == 1.0)

    block = block_class(_same_width(block_class), zero_init_last=False)
    x, y = _build(block)
    assert np.all(to_numpy(sublayers(block)[last].gamma) == 1.0)
    assert not np.allclose(y, _relu(x), atol=1e-3)


# Conv and BN settings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        lambda: BasicBlock(32, strides=2),
        lambda: Bottleneck(8, strides=2, groups=4, base_width=16, se_ratio=0.25),
        lambda: Bottleneck(8, strides=2, preact=True, avg_down=True),
    ],
    ids=["basic", "resnext_se", "v2_avg_down"],
)
def test_bn_settings_and_bias_free_convs(block):
    block = block()
    _build(block)
    parts = sublayers(block)
    norms = [layer for layer in parts.values() if isinstance(layer, layers.BatchNormalization)]
    assert norms
    for norm in norms:
        assert norm.epsilon == BN_EPSILON == 1e-5
        assert norm.momentum == BN_MOMENTUM == 0.9
    # SE's 1x1 convs are not followed by BN: they keep their bias, as in the SE paper.
    convs = [
        layer
        for name, layer in parts.items()
        if isinstance(layer, layers.Conv2D) and name not in ("reduce", "expand")
    ]
    assert len(convs) >= 3
    for conv in convs:
        assert conv.use_bias is False and conv.bias is None


def test_use_bias_gives_convs_a_bias():
    block = BasicBlock(32, strides=2, use_bias=True)
    _build(block)
    for name in ("conv1", "conv2", "shortcut_conv"):
        assert tuple(sublayers(block)[name].bias.shape) == (32,)


def test_conv_init_is_he_normal_over_fan_out():
    block = BasicBlock(256, zero_init_last=False)
    block(keras.Input((2, 2, 64)))
    kernel = to_numpy(sublayers(block)["conv1"].kernel)
    assert kernel.shape == (3, 3, 64, 256)
    std = np.sqrt(2.0 / (3 * 3 * 256))  # fan-in would give sqrt(2 / (3 * 3 * 64)), twice that
    assert abs(kernel.mean()) < 0.02 * std
    assert kernel.std() == pytest.approx(std, rel=0.03)
    # Untruncated, as torch's kaiming_normal_: about 4.6% of draws lie beyond 2 std.
    assert np.mean(np.abs(kernel) > 2 * std) == pytest.approx(0.0455, abs=0.01)


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_strided_3x3_conv_pads_symmetrically_like_torch(block_class):
    block = block_class(_same_width(block_class), strides=2)
    _build(block)
    parts = sublayers(block)
    padding = parts["conv1_pad" if block_class is BasicBlock else "conv2_pad"]
    conv = parts["conv1" if block_class is BasicBlock else "conv2"]
    assert isinstance(padding, layers.ZeroPadding2D)
    assert tuple(map(tuple, padding.padding)) == ((1, 1), (1, 1))
    assert conv.padding == "valid"
    # With a centre-tap kernel a torch-padded stride-2 conv samples the even pixels;
    # Keras's "same" would sample the odd ones on an even-sized input.
    kernel = np.zeros(tuple(conv.kernel.shape), "float32")
    kernel[1, 1] = np.eye(*kernel.shape[2:])
    conv.kernel.assign(kernel)
    x = _inputs(channels=conv.kernel.shape[2])
    np.testing.assert_allclose(to_numpy(conv(padding(x))), x[:, ::2, ::2, :], atol=1e-6)


@pytest.mark.parametrize("block_class", [BasicBlock, Bottleneck])
def test_strided_block_responds_symmetrically_to_a_single_pixel(block_class):
    block = block_class(1, strides=2, zero_init_last=False)
    x = np.zeros((1, 8, 8, 1), "float32")
    x[0, 4, 4, 0] = 1.0
    block(x)
    for weight in block.trainable_weights:
        if weight.path.endswith("kernel"):
            weight.assign(np.ones(weight.shape, "float32"))
    response = to_numpy(block(x, training=False))[0, :, :, 0]
    assert response[2, 2] > 0.0
    # Centred on output pixel (2, 2): a pattern shifted by Keras's one-sided "same"
    # padding would not be symmetric about it, and would reach row or column 0.
    centred = response[1:, 1:]
    np.testing.assert_allclose(centred, centred[::-1, ::-1], rtol=1e-6)
    np.testing.assert_allclose(centred, centred.T, rtol=1e-6)
    assert not response[0].any() and not response[:, 0].any()


# Study-note mistakes ---------------------------------------------------------------------


def test_basic_block_convs_are_3x3_and_keep_the_spatial_size():
    block = BasicBlock(CHANNELS, zero_init_last=False)
    _, y = _build(block)
    parts = sublayers(block)
    assert y.shape == (2, 8, 8, CHANNELS)
    assert tuple(parts["conv1"].kernel.shape) == (3, 3, CHANNELS, CHANNELS)
    assert tuple(parts["conv2"].kernel.shape) == (3, 3, CHANNELS, CHANNELS)


def test_expansion_is_spelt_once_and_sets_the_output_channels():
    assert BasicBlock.expansion == 1
    assert Bottleneck.expansion == 4
    for block_class in (BasicBlock, Bottleneck):
        assert not hasattr(block_class, "expantion")
        filters = _double_width(block_class)
        block = block_class(filters)
        assert block.output_channels == filters * block_class.expansion == 2 * CHANNELS
        _, y = _build(block)
        assert y.shape[-1] == 2 * CHANNELS


@pytest.mark.parametrize("groups, base_width", [(1, 64), (4, 16)])
def test_bottleneck_third_conv_takes_the_branch(groups, base_width):
    # The width (8) differs from the in channels (16): a conv3 on the block input would
    # show 16 input channels.
    block = Bottleneck(8, groups=groups, base_width=base_width)
    _, y = _build(block)
    conv3 = sublayers(block)["conv3"]
    assert block.width == 8 * base_width // 64 * groups == 8
    assert tuple(conv3.kernel.shape) == (1, 1, 8, 32)
    assert y.shape == (2, 8, 8, 32)


# DropPath, SqueezeExcite, ZeroPadShortcut --------------------------------------------------


def test_drop_path_is_identity_at_inference():
    x = _inputs()
    drop = DropPath(0.5)
    np.testing.assert_array_equal(to_numpy(drop(x)), x)
    np.testing.assert_array_equal(to_numpy(drop(x, training=False)), x)
    np.testing.assert_array_equal(to_numpy(DropPath(0.0)(x, training=True)), x)


def test_drop_path_drops_whole_samples_and_keeps_the_mean():
    rate = 0.3
    x = np.ones((2000, 2, 2, 3), "float32")
    y = to_numpy(DropPath(rate, seed=1)(x, training=True))
    per_sample = y.reshape(len(y), -1)
    # Each sample is either dropped entirely or kept entirely and scaled by 1 / (1 - rate).
    assert np.all(per_sample == per_sample[:, :1])
    np.testing.assert_allclose(np.unique(per_sample), [0.0, 1.0 / (1.0 - rate)], rtol=1e-6)
    assert np.mean(per_sample[:, 0] == 0.0) == pytest.approx(rate, abs=0.05)
    assert y.mean() == pytest.approx(1.0, abs=0.1)


def test_drop_path_inside_a_block_drops_branches_only_in_training():
    block = BasicBlock(8, drop_path_rate=0.5, zero_init_last=False)
    x = _inputs(64, 4, 8)  # many samples, small ones
    block(x)
    # A dropped branch leaves relu(x) for an identity shortcut.
    inference = to_numpy(block(x, training=False)).reshape(64, -1)
    dropped = np.all(np.isclose(inference, _relu(x).reshape(64, -1), atol=1e-6), axis=1)
    assert not dropped.any()
    training = to_numpy(block(x, training=True)).reshape(64, -1)
    dropped = np.all(np.isclose(training, _relu(x).reshape(64, -1), atol=1e-6), axis=1)
    assert 12 <= dropped.sum() <= 52


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_drop_path_rejects_bad_rates(rate):
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        DropPath(rate)


def test_squeeze_excite_keeps_the_shape_and_gates_channels():
    se = SqueezeExcite(0.25)
    x = np.abs(_inputs()) + 0.5
    y = to_numpy(se(x))
    assert y.shape == x.shape
    parts = sublayers(se)
    assert tuple(parts["reduce"].kernel.shape) == (1, 1, 16, 4)
    assert tuple(parts["expand"].kernel.shape) == (1, 1, 4, 16)
    gate = y / x
    # One sigmoid gate per sample and channel, shared by all pixels.
    assert np.all((gate > 0.0) & (gate < 1.0))
    np.testing.assert_allclose(gate, np.broadcast_to(gate[:, :1, :1, :], gate.shape), rtol=1e-4)


def test_squeeze_excite_rejects_bad_ratios():
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        SqueezeExcite(0.0)


@pytest.mark.parametrize("size, strides", [(8, 2), (7, 2), (8, 1)])
def test_zero_pad_shortcut_subsamples_and_pads_zero_channels(size, strides):
    x = _inputs(size=size)
    shortcut = ZeroPadShortcut(32, strides)
    y = to_numpy(shortcut(x))
    out = -(-size // strides)
    assert y.shape == (2, out, out, 32)
    assert tuple(shortcut.compute_output_shape((None, size, size, 16))) == (None, out, out, 32)
    np.testing.assert_array_equal(y[..., 8:24], x[:, ::strides, ::strides, :])
    assert not y[..., :8].any() and not y[..., 24:].any()


def test_zero_pad_shortcut_channels_first():
    x = np.moveaxis(_inputs(), -1, 1)
    y = to_numpy(ZeroPadShortcut(32, 2, data_format="channels_first")(x))
    assert y.shape == (2, 32, 4, 4)
    np.testing.assert_array_equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert not y[:, :8].any() and not y[:, 24:].any()


def test_zero_pad_shortcut_block_has_no_shortcut_weights():
    block = BasicBlock(32, strides=2, zero_pad_shortcut=True)
    x, y = _build(block)
    assert [layer.name for layer in block.shortcut_layers] == ["shortcut_pad"]
    assert not [w for w in block.weights if "shortcut" in w.path]
    expected = np.zeros((2, 4, 4, 32), "float32")
    expected[..., 8:24] = x[:, ::2, ::2, :]
    np.testing.assert_allclose(y, _relu(expected), atol=1e-6)


# Bad arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs", [dict(groups=32), dict(base_width=128), dict(stride_in_1x1=True)]
)
def test_basic_block_rejects_bottleneck_arguments(kwargs):
    with pytest.raises(ValueError, match="apply to Bottleneck only"):
        BasicBlock(64, **kwargs)


def test_blocks_reject_non_positive_sizes():
    with pytest.raises(ValueError, match="needs positive filters"):
        Bottleneck(0)


def test_zero_pad_shortcut_cannot_shrink_channels():
    with pytest.raises(ValueError, match="use the projection shortcut"):
        _build(BasicBlock(8, strides=2, zero_pad_shortcut=True))


# Serialisation -----------------------------------------------------------------------------


LAYER_FACTORIES = {
    "basic": lambda: BasicBlock(32, strides=2, se_ratio=0.5, drop_path_rate=0.1, name="b"),
    "bottleneck_v1": lambda: Bottleneck(8, strides=2, stride_in_1x1=True, use_bias=True),
    "resnext_d": lambda: Bottleneck(8, strides=2, groups=4, base_width=16, avg_down=True),
    "v2": lambda: Bottleneck(4, preact=True, zero_init_last=False),
    "v2_subsample": lambda: Bottleneck(4, strides=2, preact=True, stride_in_last_block=True),
    "cifar": lambda: BasicBlock(32, strides=2, zero_pad_shortcut=True),
    "drop_path": lambda: DropPath(0.2, seed=3),
    "squeeze_excite": lambda: SqueezeExcite(0.5),
    "zero_pad_shortcut": lambda: ZeroPadShortcut(32, 2),
}


@pytest.mark.parametrize("factory", LAYER_FACTORIES.values(), ids=LAYER_FACTORIES.keys())
def test_layer_config_round_trip(factory):
    layer = factory()
    x = _inputs()
    y = to_numpy(layer(x, training=False))
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    # Through the registry, as load_model resolves it.
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer) and revived.get_config() == config
    clone(x)
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in layer.weights]
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(clone(x, training=False)), y, atol=1e-6)


@pytest.mark.parametrize(
    "layer_class", [BasicBlock, Bottleneck, DropPath, SqueezeExcite, ZeroPadShortcut]
)
def test_layers_are_registered_serializable(layer_class):
    name = f"keras_resnet>{layer_class.__name__}"
    assert keras.saving.get_registered_object(name) is layer_class
    assert keras.saving.get_registered_name(layer_class) == name
