"""Tests of the ResNet builder and the named networks on the active backend."""

from __future__ import annotations

import copy
import re
import warnings

import keras
import numpy as np
import pytest
from conftest import random_images, sublayers, to_numpy, trainable_count
from keras import layers

import keras_resnet
from keras_resnet import MODEL_CONFIGS, ResNet, feature_extractor, get_model
from keras_resnet.layers import BN_EPSILON, BN_MOMENTUM, Bottleneck

NUM_CLASSES = 10

# Trainable parameters with 1000 classes: torchvision's resnet*, resnext*, wide_resnet*
# and timm's resnet50d (whose deep stem adds 19,232 to ResNet50).
IMAGENET_PARAMS = {
    "ResNet18": 11_689_512,
    "ResNet34": 21_797_672,
    "ResNet50": 25_557_032,
    "ResNet101": 44_549_160,
    "ResNet152": 60_192_808,
    "ResNeXt50_32x4d": 25_028_904,
    "ResNeXt101_32x8d": 88_791_336,
    "WideResNet50_2": 68_883_240,
    "WideResNet101_2": 126_886_696,
    "ResNet50D": 25_576_264,
}
# He et al. 2015, Table 6, with 10 classes: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
CIFAR_PARAMS = {
    "ResNet20": (269_722, "0.27"),
    "ResNet32": (464_154, "0.46"),
    "ResNet44": (658_586, "0.66"),
    "ResNet56": (853_018, "0.85"),
    "ResNet110": (1_727_962, "1.7"),
}
DEEP = {"ResNet101", "ResNet152", "ResNeXt101_32x8d", "WideResNet101_2"}
# Width of the grouped 3x3 conv in the first stage, where it is not 64.
FIRST_STAGE_WIDTH = {
    "ResNeXt50_32x4d": 128,
    "ResNeXt101_32x8d": 256,
    "WideResNet50_2": 128,
    "WideResNet101_2": 128,
}


@pytest.fixture
def release_memory():
    """Frees the weights of full-size networks once a test is done with them."""
    yield
    keras.backend.clear_session()


def _blocks_per_stage(model):
    counts = {}
    for layer in model.layers:
        match = re.fullmatch(r"conv(\d+)_block(\d+)", layer.name)
        if match:
            counts[int(match.group(1))] = counts.get(int(match.group(1)), 0) + 1
    return [counts[stage] for stage in sorted(counts)]


def _all_layers(model):
    for layer in model.layers:
        yield layer
        yield from sublayers(layer).values()


def _probabilities(model, x):
    probs = to_numpy(model(x, training=False))
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    return probs


# Every named network ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODEL_CONFIGS))
def test_named_model(name, release_memory):
    config = MODEL_CONFIGS[name]
    cifar = config.stem_type == "cifar"
    model = getattr(keras_resnet, name)(num_classes=NUM_CLASSES, input_shape=(32, 32, 3))
    assert model.name == name.lower()
    probs = _probabilities(model, random_images(2, 32))
    assert probs.shape == (2, NUM_CLASSES)

    # One block per entry of the depth table, however deep the stage.
    assert _blocks_per_stage(model) == list(config.stage_depths)
    # Only the first block of each stage but the first one downsamples.
    for stage, depth in enumerate(config.stage_depths, start=2):
        for block in range(1, depth + 1):
            strides = model.get_layer(f"conv{stage}_block{block}").strides
            assert strides == (2 if stage > 2 and block == 1 else 1)

    # Global average pooling feeds a classifier as wide as the last stage's output.
    classifier = model.get_layer("predictions")
    last_block = model.get_layer(f"conv{config.num_stages + 1}_block1")
    features = last_block.output_channels
    assert features == (64 if cifar else 512 * last_block.expansion)
    assert tuple(classifier.kernel.shape) == (features, NUM_CLASSES)
    assert isinstance(model.get_layer("avg_pool"), layers.GlobalAveragePooling2D)
    assert classifier.input is model.get_layer("avg_pool").output

    first_block = model.get_layer("conv2_block1")
    if isinstance(first_block, Bottleneck):
        width, groups = FIRST_STAGE_WIDTH.get(name, 64), config.groups
        conv2 = sublayers(first_block)["conv2"]
        assert tuple(conv2.kernel.shape) == (3, 3, width // groups, width)

    count = trainable_count(model)
    if cifar:
        assert count == CIFAR_PARAMS[name][0]
        assert f"{count / 1e6:.2g}" == CIFAR_PARAMS[name][1]
    elif name in IMAGENET_PARAMS:
        # Only the classifier depends on the class count; the exact 1000-class build of
        # each network is test_trainable_params_at_1000_classes.
        head_difference = (features + 1) * (1000 - NUM_CLASSES)
        assert count + head_difference == IMAGENET_PARAMS[name]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.large) if name in DEEP else name
        for name in IMAGENET_PARAMS
    ],
)
def test_trainable_params_at_1000_classes(name, release_memory):
    model = get_model(name)
    assert model.output_shape == (None, 1000)
    assert trainable_count(model) == IMAGENET_PARAMS[name]


def test_count_params_also_counts_bn_moving_statistics():
    model = keras_resnet.ResNet18()
    norms = [layer for layer in _all_layers(model) if isinstance(layer, layers.BatchNormalization)]
    bn_channels = sum(norm.gamma.shape[0] for norm in norms)
    assert model.count_params() == IMAGENET_PARAMS["ResNet18"] + 2 * bn_channels


# Heavier checks on small networks that cover every code path ---------------------------

# Full-size named networks take long to compile for training (minutes on JAX): these
# shrink width and depth but keep each path, and identity blocks in stage two. Every
# test below runs on each of them, so the optional paths share one network to keep the
# count (and the time) down.
SUBSET = {
    "basic": dict(block_type="basic"),  # ResNet18/34
    "bottleneck": dict(),  # ResNet50 and deeper
    "resnext_v1_se_drop_path": dict(  # groups, stride on the 1x1, SE, stochastic depth
        groups=4, base_width=16, variant="v1", se_ratio=0.25, drop_path_rate=0.2
    ),
    "resnet_d": dict(variant="d"),  # deep stem, average-pool shortcut
    "v2": dict(variant="v2"),  # pre-activation
    "cifar": dict(  # 3x3 stem, no max-pool, zero-padding shortcut
        block_type="basic", stem_type="cifar", stage_depths=(1, 2, 1), stage_widths=(8, 16, 32)
    ),
}


def small_resnet(kind, **overrides):
    config = dict(
        stage_depths=(1, 2, 1, 1),
        stage_widths=(8, 16, 32, 64),
        num_classes=3,
        input_shape=(32, 32, 3),
    )
    return ResNet(**{**config, **SUBSET[kind], **overrides})


@pytest.mark.parametrize("kind", SUBSET)
def test_fit_lowers_the_loss_then_save_and_load(kind, tmp_path):
    # One test, so that the training step compiles once per network (long on JAX).
    model = small_resnet(kind)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    # Each class brightens its own colour channel: learnable from the first step, even
    # by a network whose blocks all start as identities.
    y = np.arange(8) % 3
    x = 0.5 * random_images(8, 32)
    x[np.arange(8), ..., y] += 127.0
    # train_on_batch reports the loss before its update: the last is after four steps.
    losses = [float(model.train_on_batch(x, y)) for _ in range(5)]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses

    # Training moved the BN statistics and the zero-initialised gammas, so every
    # weight now shows in the output.
    for weight in model.get_layer("conv2_block1").weights:
        if weight.path.endswith(("gamma", "moving_mean")):
            assert np.abs(to_numpy(weight)).min() > 0.0, weight.path
    expected = to_numpy(model(x, training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(x, training=False)), expected, rtol=1e-6)
    for saved, restored in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(restored), to_numpy(saved))


@pytest.mark.parametrize("kind", SUBSET)
def test_config_round_trip(kind):
    model = small_resnet(kind)
    config = model.get_config()
    clone = type(model).from_config(copy.deepcopy(config))  # from_config consumes its input
    assert clone.get_config() == config
    assert keras_resnet.resnet_config(clone) == keras_resnet.resnet_config(model)
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in model.weights]
    assert trainable_count(clone) == trainable_count(model)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("kind", SUBSET)
def test_mixed_precision(kind, policy):
    # The autouse fixture of conftest restores the float32 policy afterwards.
    keras.config.set_dtype_policy(policy)
    model = small_resnet(kind)
    compute_dtype = policy.removeprefix("mixed_")
    block = model.get_layer("conv3_block1")
    assert block.compute_dtype == compute_dtype
    assert sublayers(block)["conv1"].compute_dtype == compute_dtype
    assert all(w.dtype == "float32" for w in model.weights if "float" in w.dtype)
    # The softmax runs in float32: probabilities sum to 1 at float32 precision.
    probs = _probabilities(model, random_images(2, 32))
    assert np.all(np.isfinite(probs))


def test_resnet50_with_defaults_trains(release_memory):
    model = keras_resnet.ResNet50(num_classes=5)
    assert model.input_shape == (None, None, None, 3)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    kernel = model.get_layer("stem_conv1").kernel
    moving_mean = model.get_layer("stem_bn1").moving_mean
    kernel_before, mean_before = to_numpy(kernel), to_numpy(moving_mean)
    loss = float(model.train_on_batch(random_images(2, 32), np.array([0, 4])))
    assert np.isfinite(loss) and loss > 0.0
    assert not np.allclose(to_numpy(kernel), kernel_before)
    assert not np.allclose(to_numpy(moving_mean), mean_before)


# Architecture --------------------------------------------------------------------------------


def test_bn_settings_and_conv_init_across_the_model():
    model = keras_resnet.ResNet50D(num_classes=3)
    norms = [layer for layer in _all_layers(model) if isinstance(layer, layers.BatchNormalization)]
    convs = [layer for layer in _all_layers(model) if isinstance(layer, layers.Conv2D)]
    # Deep stem, three per bottleneck, one per projection shortcut.
    assert len(norms) == len(convs) == 3 + 3 * 16 + 4
    for norm in norms:
        assert (norm.epsilon, norm.momentum) == (BN_EPSILON, BN_MOMENTUM) == (1e-5, 0.9)
    for conv in convs:
        assert conv.bias is None
        initializer = conv.kernel_initializer.get_config()
        assert (initializer["mode"], initializer["scale"]) == ("fan_out", 2.0)
        assert initializer["distribution"] == "untruncated_normal"


def test_stage_outputs_have_strides_4_8_16_32():
    for constructor, channels in [(keras_resnet.ResNet18, 512), (keras_resnet.ResNet50, 2048)]:
        model = constructor(include_top=False, input_shape=(64, 64, 3))
        features = feature_extractor(model)
        shapes = {key: tuple(value.shape) for key, value in features.output.items()}
        expected = {
            f"C{stage}": (None, 64 // stride, 64 // stride, channels // 2 ** (5 - stage))
            for stage, stride in zip(range(2, 6), (4, 8, 16, 32), strict=True)
        }
        assert shapes == expected


def test_feature_extractor_of_a_cifar_net():
    model = keras_resnet.ResNet20(num_classes=NUM_CLASSES)
    features = feature_extractor(model)(random_images(2, 32))
    shapes = {key: tuple(value.shape) for key, value in features.items()}
    assert shapes == {"C2": (2, 32, 32, 16), "C3": (2, 16, 16, 32), "C4": (2, 8, 8, 64)}


def test_feature_extractor_shares_the_model_weights():
    model = small_resnet("basic", include_top=False, pooling="avg")
    x = random_images(2, 32)
    c5 = to_numpy(feature_extractor(model)(x, training=False)["C5"])
    np.testing.assert_allclose(c5.mean(axis=(1, 2)), to_numpy(model(x, training=False)), atol=1e-5)


def _structure_warnings(model, x):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(x, training=False)
    return [str(w.message) for w in caught if "structure of `inputs`" in str(w.message)]


def test_structure_warnings_sees_a_model_built_on_a_one_input_list():
    # Keeps the two tests below meaningful should Keras reword its warning.
    inputs = keras.Input((8, 8, 3))
    listed = keras.Model([inputs], layers.Conv2D(2, 3)(inputs))
    assert _structure_warnings(listed, random_images(2, 8)) != []


def test_feature_extractor_takes_one_tensor_without_warning():
    model = small_resnet("basic")
    backbone = feature_extractor(model)
    assert backbone.input is model.input
    assert _structure_warnings(backbone, random_images(2, 32)) == []


def test_model_on_an_input_tensor_takes_one_tensor_without_warning():
    inputs = keras.Input((32, 32, 3))
    model = small_resnet("basic", input_tensor=inputs)
    assert model.input is inputs
    assert _structure_warnings(model, random_images(2, 32)) == []
    assert _structure_warnings(feature_extractor(model), random_images(2, 32)) == []


def test_feature_extractor_rejects_other_models():
    inputs = keras.Input((8, 8, 3))
    other = keras.Model(inputs, layers.Conv2D(4, 3, name="conv")(inputs))
    with pytest.raises(ValueError, match="takes models built by keras_resnet"):
        feature_extractor(other)


@pytest.mark.parametrize(
    "kind, stem_bns",
    [
        ("basic", ["stem_bn1"]),
        ("resnet_d", ["stem_bn1", "stem_bn2", "stem_bn3"]),
        ("cifar", ["stem_bn1"]),
    ],
)
def test_stem_bn_is_followed_by_relu(kind, stem_bns):
    model = small_resnet(kind)
    outputs = {}
    for bn_name in stem_bns:
        relu = model.get_layer(bn_name.replace("bn", "relu"))
        assert isinstance(relu, layers.ReLU)
        assert relu.input is model.get_layer(bn_name).output
        outputs[bn_name] = model.get_layer(bn_name).output
    stem_end = model.get_layer("conv2_block1").input
    probe = keras.Model(model.input, {"stem": stem_end, **outputs})
    values = {key: to_numpy(value) for key, value in probe(random_images(2, 32)).items()}
    assert values["stem"].min() >= 0.0 and values["stem"].max() > 0.0
    assert all(values[name].min() < 0.0 for name in stem_bns)


def test_imagenet_stem_is_a_torch_padded_7x7_conv_and_max_pool():
    model = small_resnet("basic")
    assert tuple(model.get_layer("stem_conv1").kernel.shape) == (7, 7, 3, 8)
    assert tuple(model.get_layer("stem_conv1").strides) == (2, 2)
    assert tuple(map(tuple, model.get_layer("stem_conv1_pad").padding)) == ((3, 3), (3, 3))
    assert isinstance(model.get_layer("stem_pool"), layers.MaxPooling2D)
    assert tuple(model.get_layer("conv2_block1").input.shape) == (None, 8, 8, 8)


def test_v2_stem_ends_with_the_conv_and_the_network_with_bn_relu():
    model = small_resnet("v2")
    names = [layer.name for layer in model.layers]
    assert "stem_bn1" not in names
    assert names[-4:] == ["post_bn", "post_relu", "avg_pool", "predictions"]
    assert model.get_layer("conv2_block1").preact


def test_stride_in_last_block_is_the_keras_applications_v2_layout():
    model = small_resnet("v2", stride_in_last_block=True, include_top=False)
    strides = {
        name: model.get_layer(name).strides
        for name in ("conv2_block1", "conv3_block1", "conv3_block2", "conv4_block1", "conv5_block1")
    }
    assert strides == dict(
        conv2_block1=2, conv3_block1=1, conv3_block2=2, conv4_block1=2, conv5_block1=1
    )
    # A block that strides but keeps its width subsamples its input as the shortcut.
    assert "shortcut_subsample" in sublayers(model.get_layer("conv3_block2"))
    shapes = {key: value.shape[1] for key, value in feature_extractor(model).output.items()}
    assert shapes == {"C2": 4, "C3": 2, "C4": 1, "C5": 1}
    assert model.output_shape == (None, 1, 1, 256)


def test_classifier_pools_globally_whatever_the_input_size():
    model = small_resnet("basic", input_shape=None)
    assert model.output_shape == (None, 3)
    for size in (32, 64):
        assert _probabilities(model, random_images(2, size)).shape == (2, 3)
    # The classifier sees the spatial mean of the last stage.
    x = random_images(2, 64)
    probe = keras.Model(
        model.input, [model.get_layer("conv5_block1").output, model.get_layer("avg_pool").output]
    )
    last_stage, pooled = (to_numpy(value) for value in probe(x, training=False))
    assert last_stage.shape == (2, 2, 2, 64)
    np.testing.assert_allclose(pooled, last_stage.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("depths", [(1, 1, 1, 1), (2, 5, 1, 3), (3, 1)])
def test_blocks_per_stage_follow_stage_depths(depths):
    model = ResNet(
        depths, stage_widths=(8, 16, 32, 64)[: len(depths)], num_classes=2, input_shape=(32, 32, 3)
    )
    assert _blocks_per_stage(model) == list(depths)


# Inputs and outputs --------------------------------------------------------------------------


def test_unknown_height_and_width():
    model = small_resnet("basic", input_shape=None)
    assert model.input_shape == (None, None, None, 3)
    for size in (32, 48):
        assert _probabilities(model, random_images(2, size)).shape == (2, 3)


@pytest.mark.parametrize(
    "pooling, expected", [(None, (2, 2, 2, 64)), ("avg", (2, 64)), ("max", (2, 64))]
)
def test_include_top_false_with_pooling(pooling, expected):
    model = small_resnet("basic", include_top=False, pooling=pooling, input_shape=(64, 64, 3))
    assert "predictions" not in [layer.name for layer in model.layers]
    x = random_images(2, 64)
    y = to_numpy(model(x, training=False))
    assert y.shape == expected
    if pooling is not None:
        features = to_numpy(feature_extractor(model)(x, training=False)["C5"])
        reduce = np.mean if pooling == "avg" else np.max
        np.testing.assert_allclose(y, reduce(features, axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_include_top_false_needs_no_num_classes():
    model = small_resnet("basic", include_top=False, num_classes=0, pooling="avg")
    assert model.output_shape == (None, 64)


def test_preprocessing_takes_raw_pixels():
    model = small_resnet("basic")
    normalization = model.get_layer("preprocessing")
    assert isinstance(normalization, layers.Normalization)
    assert model.layers[1] is normalization
    mean = 255.0 * np.array([0.485, 0.456, 0.406], "float32")
    std = 255.0 * np.array([0.229, 0.224, 0.225], "float32")
    pixels = np.stack([mean, mean + std, np.zeros(3, "float32")]).reshape(1, 3, 1, 3)
    normalized = to_numpy(normalization(pixels))[0, :, 0]
    np.testing.assert_allclose(normalized[0], 0.0, atol=1e-5)
    np.testing.assert_allclose(normalized[1], 1.0, atol=1e-5)
    np.testing.assert_allclose(normalized[2], -mean / std, rtol=1e-5)


def test_preprocessing_of_other_channel_counts_maps_to_minus_1_1():
    model = small_resnet("basic", input_shape=(32, 32, 1))
    values = to_numpy(model.get_layer("preprocessing")(np.array([[0.0], [127.5], [255.0]])))
    np.testing.assert_allclose(values.ravel(), [-1.0, 0.0, 1.0], atol=1e-6)


def test_without_preprocessing_there_is_no_normalization():
    model = small_resnet("basic", include_preprocessing=False)
    assert not [layer for layer in model.layers if isinstance(layer, layers.Normalization)]
    assert model.layers[1].name == "stem_conv1_pad"
    # The same weights on pre-normalised input give the same output.
    with_preprocessing = small_resnet("basic")
    with_preprocessing.set_weights(model.get_weights())
    x = random_images(2, 32)
    mean = 255.0 * np.array([0.485, 0.456, 0.406], "float32")
    std = 255.0 * np.array([0.229, 0.224, 0.225], "float32")
    np.testing.assert_allclose(
        to_numpy(model((x - mean) / std, training=False)),
        to_numpy(with_preprocessing(x, training=False)),
        rtol=1e-4,
        atol=1e-6,
    )


def test_input_tensor():
    inputs = keras.Input((32, 32, 3), name="pixels")
    model = keras_resnet.ResNet18(num_classes=3, input_tensor=inputs)
    assert model.inputs[0] is inputs
    assert model.output_shape == (None, 3)
    # An intermediate tensor: the model starts at its source input, here [0, 1] images.
    scaled = layers.Rescaling(255.0)(inputs)
    model = small_resnet("basic", input_shape=None, input_tensor=scaled)
    assert model.inputs[0] is inputs
    x = random_images(2, 32)
    raw = keras.Model(model.get_layer("preprocessing").input, model.output)
    np.testing.assert_allclose(
        _probabilities(model, x / 255.0), _probabilities(raw, x), rtol=1e-4, atol=1e-6
    )


def test_input_tensor_and_a_different_input_shape_conflict():
    with pytest.raises(ValueError, match="pass only one of them"):
        keras_resnet.ResNet18(input_tensor=keras.Input((32, 32, 3)), input_shape=(64, 64, 3))


def test_input_tensor_must_be_a_keras_tensor():
    with pytest.raises(ValueError, match="input_tensor must be a Keras tensor.* got ndarray"):
        keras_resnet.ResNet18(input_tensor=random_images(1, 32))


@pytest.mark.parametrize("kind", ["resnet_d"])
def test_channels_first_matches_channels_last(kind):
    # No backend needs a skip: the package's Conv2D transposes where TensorFlow's CPU
    # kernel lacks NCHW, and Keras does for the pooling layers.
    last = small_resnet(kind, zero_init_last=False)
    first = small_resnet(
        kind, zero_init_last=False, data_format="channels_first", input_shape=(3, 32, 32)
    )
    assert first.output_shape == (None, 3)
    first.set_weights(last.get_weights())
    x = random_images(2, 32)
    np.testing.assert_allclose(
        _probabilities(first, np.transpose(x, (0, 3, 1, 2))),
        _probabilities(last, x),
        rtol=1e-4,
        atol=1e-6,
    )
    features = feature_extractor(first).output
    assert tuple(features["C3"].shape) == (None, 4 * 16, 4, 4)


# Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(variant="v3"), r"Unknown variant 'v3': use one of \['v1', 'v1.5', 'd', 'v2'\]"),
        (dict(block_type="basics"), r"Unknown block_type 'basics': use one of"),
        (dict(stem_type="tiny"), r"Unknown stem_type 'tiny': use one of"),
        (dict(include_top=False, pooling="mean"), r"Unknown pooling 'mean': use None, 'avg'"),
        (dict(stage_widths=(64, 128, 256)), r"has 4 stages but stage_widths has 3: give one"),
        (dict(num_classes=0), r"num_classes must be at least 1 .* pass include_top=False"),
        (dict(stage_depths=()), r"stage_depths must be a non-empty list"),
        (dict(stage_depths=(2, 0, 2, 2)), r"positive block counts"),
        (dict(block_type="basic", variant="v1"), r"Use variant='v1.5' with block_type='basic'"),
        (dict(input_shape=(32, 32)), r"input_shape must be \(height, width, channels\)"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet(**{"stage_depths": (2, 2, 2, 2), **kwargs})


def test_input_too_small_for_the_stem():
    with pytest.raises(ValueError, match=r"16x16 pixels is too small.* at least 32x32"):
        keras_resnet.ResNet18(input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match=r"at least 32x32. Resize the images up or use a CIFAR"):
        keras_resnet.ResNet50D(input_shape=(224, 31, 3))
    assert keras_resnet.ResNet18(num_classes=2, input_shape=(32, 32, 3)).output_shape == (None, 2)


def test_cifar_nets_take_inputs_down_to_4_pixels():
    model = keras_resnet.ResNet20(num_classes=2, input_shape=(4, 4, 3))
    assert _probabilities(model, random_images(1, 4)).shape == (1, 2)
    with pytest.raises(ValueError, match="needs at least 4x4"):
        keras_resnet.ResNet20(input_shape=(3, 3, 3))


def test_weights_file_round_trip_and_mismatch(tmp_path):
    path = str(tmp_path / "small.weights.h5")
    model = small_resnet("bottleneck", zero_init_last=False)
    model.save_weights(path)
    x = random_images(2, 32)
    reloaded = small_resnet("bottleneck", weights=path)
    np.testing.assert_array_equal(
        to_numpy(reloaded(x, training=False)), to_numpy(model(x, training=False))
    )
    with pytest.raises(ValueError, match=r"(?s)do not fit .* same input channels"):
        small_resnet("bottleneck", input_shape=(32, 32, 1), weights=path)
    with pytest.raises(ValueError, match=r"hold \d+ arrays but .* another architecture"):
        small_resnet("basic", weights=path)


def test_missing_weights_file(tmp_path):
    with pytest.raises(ValueError, match=r"does not exist. Pass weights=None"):
        small_resnet("basic", weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match=r"weights must be None, a file path"):
        small_resnet("basic", weights=3)


def test_get_model_matches_names_loosely():
    model = get_model("resnet-20", num_classes=NUM_CLASSES)
    assert model.name == "resnet20"
    assert trainable_count(model) == CIFAR_PARAMS["ResNet20"][0]
    with pytest.raises(ValueError, match=r"Unknown model 'resnet19'. Available: ResNet18, "):
        get_model("resnet19")


def test_bottleneck_blocks_are_v1_5_by_default():
    model = small_resnet("bottleneck")
    block = model.get_layer("conv3_block1")
    assert isinstance(block, Bottleneck)
    assert not block.stride_in_1x1
    assert tuple(sublayers(block)["conv2"].strides) == (2, 2)
    v1 = small_resnet("resnext_v1_se_drop_path").get_layer("conv3_block1")
    assert v1.stride_in_1x1 and v1.groups == 4
    assert tuple(sublayers(v1)["conv1"].strides) == (2, 2)
    assert isinstance(sublayers(v1)["se"], keras_resnet.SqueezeExcite)
    # The rate rises linearly from 0 at the first block to 0.2 at the fifth, the last.
    assert sublayers(v1)["drop_path"].rate == pytest.approx(0.2 * 1 / 4)


def test_classes_is_keras_applications_name_for_num_classes():
    shape = (32, 32, 3)
    assert keras_resnet.ResNet18(classes=7, input_shape=shape).output_shape == (None, 7)
    assert get_model("resnet20", classes=4).output_shape == (None, 4)
    both = keras_resnet.ResNet18(num_classes=7, classes=7, input_shape=shape)
    assert both.output_shape == (None, 7)
    assert keras_resnet.ResNet18(input_shape=shape).output_shape == (None, 1000)
    with pytest.raises(ValueError, match="num_classes=7 and classes=8"):
        keras_resnet.ResNet18(num_classes=7, classes=8, input_shape=shape)
    with pytest.raises(ValueError, match="num_classes=1000 and classes=5"):
        ResNet(stage_depths=(1,), block_type="basic", num_classes=1000, classes=5)
