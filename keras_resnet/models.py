"""ResNet builders: one general functional builder and the table of named networks.

Every named network is a row of ``MODEL_CONFIGS`` (a :class:`ResNetConfig`) fed to
:func:`ResNet`, so a variant is configuration of the one builder, never a copy of it.
The model it returns carries its config (:func:`resnet_config`), in memory and
through ``.keras`` files.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence

import keras
from keras import layers

from keras_resnet.config import (
    BLOCK_TYPES,
    CIFAR_WIDTHS,
    IMAGENET_WIDTHS,
    STEM_TYPES,
    VARIANTS,
    ResNetConfig,
)
from keras_resnet.imagenet import NUM_CLASSES as IMAGENET_CLASSES
from keras_resnet.layers import BasicBlock, Bottleneck, ConvFactory

__all__ = [
    "BLOCK_CLASSES",
    "BLOCK_TYPES",
    "CIFAR_WIDTHS",
    "IMAGENET_WIDTHS",
    "MODEL_CONFIGS",
    "POOLINGS",
    "STEM_TYPES",
    "VARIANTS",
    "ResNet",
    "ResNetConfig",
    "ResNetModel",
    "block_name",
    "canonical_name",
    "feature_extractor",
    "get_model",
    "minimum_input_size",
    "resnet_config",
    "stage_name",
]

BLOCK_CLASSES = {"basic": BasicBlock, "bottleneck": Bottleneck}
POOLINGS = (None, "avg", "max")

# torchvision's normalisation, applied inside the model to raw [0, 255] pixels.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The arguments of each named network as written: a named constructor's keyword
# arguments are merged into these before defaults are resolved, as ResNet() does.
_NAMED_ARCHITECTURES: dict[str, dict] = {
    "ResNet18": dict(stage_depths=(2, 2, 2, 2), block_type="basic"),
    "ResNet34": dict(stage_depths=(3, 4, 6, 3), block_type="basic"),
    "ResNet50": dict(stage_depths=(3, 4, 6, 3)),
    "ResNet101": dict(stage_depths=(3, 4, 23, 3)),
    "ResNet152": dict(stage_depths=(3, 8, 36, 3)),
    "ResNet50V2": dict(stage_depths=(3, 4, 6, 3), variant="v2"),
    "ResNet101V2": dict(stage_depths=(3, 4, 23, 3), variant="v2"),
    "ResNet152V2": dict(stage_depths=(3, 8, 36, 3), variant="v2"),
    "ResNet18D": dict(stage_depths=(2, 2, 2, 2), block_type="basic", variant="d"),
    "ResNet34D": dict(stage_depths=(3, 4, 6, 3), block_type="basic", variant="d"),
    "ResNet50D": dict(stage_depths=(3, 4, 6, 3), variant="d"),
    "ResNet101D": dict(stage_depths=(3, 4, 23, 3), variant="d"),
    "ResNet152D": dict(stage_depths=(3, 8, 36, 3), variant="d"),
    "ResNeXt50_32x4d": dict(stage_depths=(3, 4, 6, 3), groups=32, base_width=4),
    "ResNeXt101_32x8d": dict(stage_depths=(3, 4, 23, 3), groups=32, base_width=8),
    "WideResNet50_2": dict(stage_depths=(3, 4, 6, 3), base_width=128),
    "WideResNet101_2": dict(stage_depths=(3, 4, 23, 3), base_width=128),
    # He et al. 2015, section 4.2: 6n+2 layers, n basic blocks in each of 3 stages.
    "ResNet20": dict(stage_depths=(3, 3, 3), block_type="basic", stem_type="cifar"),
    "ResNet32": dict(stage_depths=(5, 5, 5), block_type="basic", stem_type="cifar"),
    "ResNet44": dict(stage_depths=(7, 7, 7), block_type="basic", stem_type="cifar"),
    "ResNet56": dict(stage_depths=(9, 9, 9), block_type="basic", stem_type="cifar"),
    "ResNet110": dict(stage_depths=(18, 18, 18), block_type="basic", stem_type="cifar"),
}

MODEL_CONFIGS: dict[str, ResNetConfig] = {
    name: ResNetConfig(**row) for name, row in _NAMED_ARCHITECTURES.items()
}

_ARCHITECTURE_DEFAULTS = {
    field.name: None if field.default is dataclasses.MISSING else field.default
    for field in dataclasses.fields(ResNetConfig)
}


@keras.saving.register_keras_serializable(package="keras_resnet")
class ResNetModel(keras.Model):
    """A functional ``keras.Model`` that carries the :class:`ResNetConfig` it was built from.

    Made by :func:`ResNet` and the named constructors; it is a plain functional model
    in every other way. ``get_config`` adds ``"resnet_config"`` to the functional
    graph, so the config comes back from ``.keras`` files; read it with
    :func:`resnet_config`.

    Args:
        inputs: the model's inputs, as for a functional ``keras.Model``.
        outputs: the model's outputs.
        name: name of the model.
        resnet_config: the architecture, as a :class:`ResNetConfig` or its ``to_dict()``.
        **kwargs: further ``keras.Model`` arguments.

    Example:
        >>> model = ResNet(stage_depths=(1, 1), block_type="basic", num_classes=3)
        >>> isinstance(model, ResNetModel)
        True
    """

    def __init__(
        self,
        inputs,
        outputs,
        name: str | None = None,
        # Keyword-only: Keras revives a subclass from its functional graph only when its
        # positional arguments are exactly Functional's (inputs, outputs, name).
        *,
        resnet_config: ResNetConfig | Mapping | None = None,
        **kwargs,
    ):
        super().__init__(inputs, outputs, name=name, **kwargs)
        if isinstance(resnet_config, Mapping):
            resnet_config = ResNetConfig.from_dict(resnet_config)
        self._resnet_config = resnet_config

    def get_config(self):
        config = super().get_config()
        if self._resnet_config is not None:
            config["resnet_config"] = self._resnet_config.to_dict()
        return config


def resnet_config(model: keras.Model) -> ResNetConfig:
    """The architecture a model was built with, also after a ``.keras`` round trip.

    Args:
        model: a model made by :func:`ResNet` or a named constructor, or loaded from
            a ``.keras`` file that one of them wrote.

    Returns:
        Its :class:`ResNetConfig`.

    Raises:
        ValueError: if the model was not built by this library, or comes from a file
            saved by release 0.1, which predates the config (the message says how to
            rebuild it).

    Example:
        >>> resnet_config(ResNet18(num_classes=10)).stage_depths
        (2, 2, 2, 2)
    """
    config = model._resnet_config if isinstance(model, ResNetModel) else None
    if config is not None:
        return config
    if any(isinstance(layer, BasicBlock | Bottleneck) for layer in model.layers):
        raise ValueError(
            f"{model.name} carries no ResNetConfig: it was saved by keras_resnet 0.1, "
            "which predates the architecture config (or rebuilt by code that drops it, "
            "such as keras.models.clone_model). Rebuild it with the same architecture "
            "and copy the weights over, then save it again: "
            "new = keras_resnet.ResNet(..., num_classes=...); "
            "new.set_weights(old.get_weights())."
        )
    raise ValueError(
        f"{model.name} was not built by keras_resnet.ResNet, so it has no ResNetConfig: "
        "this takes models built by keras_resnet."
    )


def stage_name(stage: int) -> str:
    """The name of a stage (0-based): ``conv2`` for the first, after the paper's Table 1.

    Args:
        stage: index of the stage, from 0.

    Returns:
        ``"conv{stage + 2}"``.
    """
    return f"conv{stage + 2}"


def block_name(stage: int, block: int) -> str:
    """The layer name of a residual block, as the builder gives it.

    Args:
        stage: index of the stage, from 0.
        block: index of the block within its stage, from 0.

    Returns:
        ``"conv{stage + 2}_block{block + 1}"``, e.g. ``"conv2_block1"`` for the first.

    Example:
        >>> model.get_layer(block_name(0, 0))   # the first block of the first stage
    """
    return f"{stage_name(stage)}_block{block + 1}"


def ResNet(
    stage_depths: Sequence[int] | None = None,
    block_type: str = "bottleneck",
    stage_widths: Sequence[int] | None = None,
    variant: str = "v1.5",
    stem_type: str | None = None,
    stem_width: int | None = None,
    groups: int = 1,
    base_width: int = 64,
    se_ratio: float | None = None,
    drop_path_rate: float = 0.0,
    zero_init_last: bool = True,
    use_bias: bool = False,
    include_top: bool = True,
    num_classes: int | None = None,
    input_shape: Sequence[int | None] | None = None,
    input_tensor=None,
    pooling: str | None = None,
    classifier_activation: str | None = "softmax",
    include_preprocessing: bool = True,
    weights: str | None = None,
    data_format: str | None = None,
    name: str = "resnet",
    stride_in_last_block: bool = False,
    config: ResNetConfig | None = None,
    classes: int | None = None,
) -> ResNetModel:
    """Builds any ResNet as a functional ``keras.Model`` that carries its config.

    The network is a stem, then one stage per entry of ``stage_depths`` (each halving
    the resolution but the first), then pooling and a classifier. Stage ``i`` is
    named ``conv{i + 2}`` after the paper's Table 1, and its blocks
    ``conv{i + 2}_block{j}`` (:func:`block_name`). The architecture comes either from
    the arguments ``stage_depths`` to ``use_bias`` and ``stride_in_last_block``, or
    from ``config``; :func:`resnet_config` gives it back from the model.

    Args:
        stage_depths: blocks in each stage, e.g. ``(3, 4, 6, 3)`` for ResNet50.
        block_type: ``"basic"`` (two 3x3 convs) or ``"bottleneck"`` (1x1-3x3-1x1).
        stage_widths: base filters of each stage; defaults to 64/128/256/512, or
            16/32/64 for the CIFAR stem. Must have one entry per stage.
        variant: ``"v1.5"`` (stride on the 3x3 conv, the default), ``"v1"`` (stride on
            the first 1x1), ``"d"`` (ResNet-D: deep stem, average-pool shortcut) or
            ``"v2"`` (pre-activation blocks).
        stem_type: ``"imagenet"`` (7x7 stride-2 conv and max-pool), ``"deep"``
            (three 3x3 convs and max-pool) or ``"cifar"`` (one 3x3 conv, no pooling);
            None picks the variant's stem.
        stem_width: channels of the stem; defaults to the first stage width
            (the deep stem's first two convs use half of it).
        groups: groups of the bottleneck 3x3 conv (ResNeXt cardinality).
        base_width: bottleneck width per group at 64 filters (wide: 128).
        se_ratio: add squeeze-and-excitation to every block with this ratio.
        drop_path_rate: stochastic depth, rising linearly to this rate at the last block.
        zero_init_last: start each block's last BN gamma at zero.
        use_bias: give convs a bias (for weights trained that way).
        include_top: end with the classifier; False ends at the last stage or pooling.
        num_classes: classes of the classifier; None: ``classes``, else 1000 (ImageNet).
        input_shape: image shape without the batch, e.g. ``(224, 224, 3)``; height and
            width may be None. Defaults to ``(None, None, 3)``.
        input_tensor: a Keras tensor to build the model on instead of a new Input.
        pooling: ``"avg"`` or ``"max"`` pooling after the last stage when
            ``include_top`` is False; the top always uses average pooling.
        classifier_activation: activation of the classifier, None for logits.
        include_preprocessing: take raw [0, 255] pixels and normalise them inside the
            model; False expects inputs already normalised.
        weights: None; a file of weights: this library's ``.weights.h5`` or ``.keras``
            (another class count loads the backbone), a torchvision
            or timm state dict (``.pth``, ``.pt``, ``.bin``, ``.safetensors``) or a
            keras.applications ``.h5``/``.weights.h5``, converted on load; or the name
            of a published set (``"imagenet"``, ``"IMAGENET1K_V1"``, ...) to download.
            See :mod:`keras_resnet.weights`.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        name: name of the model.
        stride_in_last_block: keras.applications' ResNetV2 arrangement: every stage but
            the last subsamples in its last block, whose shortcut is then a strided
            identity (a 1x1 max-pool), while each first block keeps stride 1. Only
            needed for keras.applications' V2 weights:
            ``ResNet50V2(use_bias=True, stride_in_last_block=True)``. The stage outputs
            of :func:`feature_extractor` are then subsampled one stage early.
        config: the whole architecture as one :class:`ResNetConfig`, instead of the
            arguments above; those must then keep their defaults.
        classes: keras.applications' name for ``num_classes``, so that its scripts
            run unchanged; give one of the two, or both equal.

    Returns:
        A :class:`ResNetModel` mapping images to class probabilities (or features).

    Raises:
        ValueError: on an architecture :class:`ResNetConfig` rejects; both ``config``
            and architecture arguments; ``num_classes`` and ``classes`` that differ; an
            unknown pooling; ``num_classes < 1`` with ``include_top``; an input smaller
            than the network's total stride; an ``input_tensor`` that is not a Keras
            tensor; or weights that do not fit the architecture.

    Example:
        >>> model = ResNet(stage_depths=(2, 3, 4, 2), block_type="basic", num_classes=10)
        >>> same = ResNet(config=resnet_config(model), num_classes=10)
    """
    architecture = dict(
        stage_depths=stage_depths,
        block_type=block_type,
        stage_widths=stage_widths,
        variant=variant,
        stem_type=stem_type,
        stem_width=stem_width,
        groups=groups,
        base_width=base_width,
        se_ratio=se_ratio,
        drop_path_rate=drop_path_rate,
        zero_init_last=zero_init_last,
        use_bias=use_bias,
        stride_in_last_block=stride_in_last_block,
    )
    config = _resolve_config(config, architecture)
    num_classes = _resolve_classes(num_classes, classes)
    _check_head(pooling, include_top, num_classes, weights)
    factory = ConvFactory(data_format, use_bias=config.use_bias)
    inputs, image = _make_input(input_shape, input_tensor, factory)
    _check_input_size(image, factory, config.stem_type, config.num_stages)

    x = image
    if include_preprocessing:
        x = _preprocessing(factory, image.shape[factory.channel_axis])(x)
    preact = config.variant == "v2"
    x = _stem(x, factory, config.stem_type, config.stem_width, preact)

    total_blocks = sum(config.stage_depths)
    block_index = 0
    block_class = BLOCK_CLASSES[config.block_type]
    bottleneck_settings = (
        dict(
            groups=config.groups, base_width=config.base_width, stride_in_1x1=config.variant == "v1"
        )
        if config.block_type == "bottleneck"
        else {}
    )
    stages = zip(config.stage_depths, config.stage_widths, strict=True)
    for stage, (depth, width) in enumerate(stages):
        for block in range(depth):
            x = block_class(
                width,
                strides=_block_strides(config, stage, block),
                preact=preact,
                avg_down=config.variant == "d",
                zero_pad_shortcut=config.stem_type == "cifar",
                se_ratio=config.se_ratio,
                drop_path_rate=config.drop_path_rate * block_index / max(total_blocks - 1, 1),
                zero_init_last=config.zero_init_last,
                use_bias=config.use_bias,
                data_format=factory.data_format,
                stride_in_last_block=config.stride_in_last_block,
                name=block_name(stage, block),
                **bottleneck_settings,
            )(x)
            block_index += 1
    if preact:
        x = factory.batch_norm(name="post_bn")(x)
        x = factory.relu(name="post_relu")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D(data_format=factory.data_format, name="avg_pool")(x)
        # Under a mixed policy, softmax in float16 loses precision: keep the head float32.
        policy = keras.config.dtype_policy()
        head_dtype = "float32" if policy.compute_dtype != policy.variable_dtype else None
        x = layers.Dense(
            num_classes, activation=classifier_activation, dtype=head_dtype, name="predictions"
        )(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(data_format=factory.data_format, name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(data_format=factory.data_format, name="max_pool")(x)

    model = ResNetModel(inputs, x, name=name, resnet_config=config)
    if weights is not None:
        _load_weights(model, weights)
    return model


def _resolve_config(config, architecture):
    """The config given, or one made from the architecture arguments; never both."""
    if config is None:
        if architecture["stage_depths"] is None:
            raise ValueError("Give stage_depths, e.g. stage_depths=(3, 4, 6, 3), or a config.")
        return ResNetConfig(**architecture)
    if not isinstance(config, ResNetConfig):
        raise ValueError(f"config must be a ResNetConfig, got {type(config).__name__}.")
    changed = sorted(
        key for key, value in architecture.items() if value != _ARCHITECTURE_DEFAULTS[key]
    )
    if changed:
        raise ValueError(
            f"Got config and architecture arguments {changed}: give the architecture one "
            "way, e.g. config=dataclasses.replace(config, ...)."
        )
    return config


def _resolve_classes(num_classes, classes):
    """``num_classes``, or keras.applications' ``classes``; 1000 when neither is given."""
    if num_classes is not None and classes is not None and num_classes != classes:
        raise ValueError(
            f"Got num_classes={num_classes} and classes={classes}: they are two names of "
            "one setting (classes is keras.applications'), so give one of them."
        )
    for value in (num_classes, classes):
        if value is not None:
            return value
    return IMAGENET_CLASSES


def _check_head(pooling, include_top, num_classes, weights):
    if pooling not in POOLINGS:
        raise ValueError(f"Unknown pooling {pooling!r}: use None, 'avg' or 'max'.")
    if include_top and num_classes < 1:
        raise ValueError(
            f"num_classes must be at least 1 with include_top=True, got {num_classes}. "
            "For a headless feature extractor pass include_top=False."
        )
    if weights is not None and not (isinstance(weights, str | os.PathLike)):
        raise ValueError(
            f"weights must be None, a file path or a published set name, got {weights!r}."
        )


def _block_strides(config, stage, block):
    """A block's stride: 2 where its stage subsamples, else 1.

    Every stage but the first subsamples in its first block; with
    ``stride_in_last_block`` (keras.applications' ResNetV2), every stage but the last
    subsamples in its last block.
    """
    if config.stride_in_last_block:
        last_stage = stage == config.num_stages - 1
        return 2 if not last_stage and block == config.stage_depths[stage] - 1 else 1
    return 2 if stage > 0 and block == 0 else 1


def minimum_input_size(stem_type: str, num_stages: int) -> int:
    """The smallest height and width a network accepts: its total stride.

    Smaller images would leave the last stages working on padding alone.
    """
    stem_stride = 1 if stem_type == "cifar" else 4
    return stem_stride * 2 ** (num_stages - 1)


def _make_input(input_shape, input_tensor, factory):
    if input_tensor is not None:
        if not keras.backend.is_keras_tensor(input_tensor):
            raise ValueError(
                "input_tensor must be a Keras tensor, from keras.Input or a layer applied "
                f"to one; got {type(input_tensor).__name__}. Pass input_shape for a new Input."
            )
        if input_shape is not None and tuple(input_tensor.shape[1:]) != tuple(input_shape):
            raise ValueError(
                f"input_tensor has shape {tuple(input_tensor.shape[1:])} but input_shape is "
                f"{tuple(input_shape)}: pass only one of them."
            )
        image = input_tensor
        inputs = _single_or_list(keras.utils.get_source_inputs(input_tensor))
    else:
        if input_shape is None:
            input_shape = (
                (None, None, 3) if factory.data_format == "channels_last" else (3, None, None)
            )
        if len(input_shape) != 3:
            raise ValueError(
                f"input_shape must be (height, width, channels), got {tuple(input_shape)}."
            )
        image = inputs = keras.Input(tuple(input_shape), name="image")
    return inputs, image


def _single_or_list(inputs):
    """A lone input unwrapped from its list, so that calls with one tensor match the model.

    Keras warns on every call whose inputs differ in structure from those the model was
    built on, and a one-element list is not a tensor.
    """
    return inputs[0] if len(inputs) == 1 else inputs


def _check_input_size(image, factory, stem_type, num_stages):
    minimum = minimum_input_size(stem_type, num_stages)
    spatial = image.shape[1:3] if factory.data_format == "channels_last" else image.shape[2:4]
    for size in spatial:
        if size is not None and size < minimum:
            raise ValueError(
                f"Input of {spatial[0]}x{spatial[1]} pixels is too small: this network "
                f"downsamples by {minimum}, so it needs at least {minimum}x{minimum}. "
                "Resize the images up or use a CIFAR-style model (e.g. ResNet20)."
            )


def _preprocessing(factory, channels):
    """Maps raw [0, 255] pixels to ImageNet-normalised values (or [-1, 1] if not RGB)."""
    if channels == 3:
        mean = [255.0 * m for m in IMAGENET_MEAN]
        variance = [(255.0 * s) ** 2 for s in IMAGENET_STD]
    else:
        mean = [127.5] * channels
        variance = [127.5**2] * channels
    return layers.Normalization(
        axis=factory.channel_axis, mean=mean, variance=variance, name="preprocessing"
    )


def _stem(x, factory, stem_type, width, preact):
    """The stem; a V2 stem ends with the conv, as the first block normalises its input."""

    def conv_bn_relu(x, filters, kernel_size, strides, index):
        for layer in factory.conv(filters, kernel_size, strides, name=f"stem_conv{index}"):
            x = layer(x)
        if preact and index == last_index:
            return x
        x = factory.batch_norm(name=f"stem_bn{index}")(x)
        return factory.relu(name=f"stem_relu{index}")(x)

    if stem_type == "cifar":
        last_index = 1
        return conv_bn_relu(x, width, 3, 1, 1)
    if stem_type == "imagenet":
        last_index = 1
        x = conv_bn_relu(x, width, 7, 2, 1)
    else:
        last_index = 3
        x = conv_bn_relu(x, width // 2, 3, 2, 1)
        x = conv_bn_relu(x, width // 2, 3, 1, 2)
        x = conv_bn_relu(x, width, 3, 1, 3)
    # Symmetric zero padding, as torchvision (whose -inf padding is the same thing on
    # values >= 0 after a ReLU) and keras.applications' V2 (whose stem has no ReLU).
    x = layers.ZeroPadding2D(1, data_format=factory.data_format, name="stem_pool_pad")(x)
    return layers.MaxPooling2D(3, 2, data_format=factory.data_format, name="stem_pool")(x)


def _load_weights(model, weights):
    # Imported here: keras_resnet.weights builds models, so it imports this module.
    from keras_resnet.weights import load_pretrained

    load_pretrained(model, weights)


def _normalize_name(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


def get_model(name: str, **kwargs) -> keras.Model:
    """Builds a named network, matching the name case- and underscore-insensitively.

    Args:
        name: a key of ``MODEL_CONFIGS``, e.g. ``"resnet50"`` or ``"ResNeXt50_32x4d"``.
        **kwargs: arguments of :func:`ResNet`, e.g. ``num_classes``.

    Returns:
        The built ``keras.Model``.

    Raises:
        ValueError: if no network has that name.

    Example:
        >>> model = get_model("resnet18", num_classes=10, input_shape=(64, 64, 3))
    """
    return _named_constructors()[canonical_name(name)](**kwargs)


def canonical_name(name: str) -> str:
    """The ``MODEL_CONFIGS`` key for a user-typed model name; ValueError if none."""
    by_key = {_normalize_name(key): key for key in MODEL_CONFIGS}
    key = by_key.get(_normalize_name(name))
    if key is None:
        raise ValueError(
            f"Unknown model {name!r}. Available: {', '.join(MODEL_CONFIGS)} (case-insensitive)."
        )
    return key


def _make_constructor(model_name: str):
    row = _NAMED_ARCHITECTURES[model_name]

    def constructor(
        num_classes: int | None = None,
        include_top: bool = True,
        input_shape: Sequence[int | None] | None = None,
        input_tensor=None,
        pooling: str | None = None,
        classifier_activation: str | None = "softmax",
        include_preprocessing: bool = True,
        weights: str | None = None,
        name: str | None = None,
        classes: int | None = None,
        **kwargs,
    ) -> keras.Model:
        return ResNet(
            **row,
            num_classes=num_classes,
            include_top=include_top,
            input_shape=input_shape,
            input_tensor=input_tensor,
            pooling=pooling,
            classifier_activation=classifier_activation,
            include_preprocessing=include_preprocessing,
            weights=weights,
            name=name or model_name.lower(),
            classes=classes,
            **kwargs,
        )

    settings = ", ".join(f"{key}={value!r}" for key, value in row.items())
    constructor.__name__ = constructor.__qualname__ = model_name
    constructor.__doc__ = f"""Builds {model_name}: ``ResNet({settings})``.

    A keras.applications script switches by its import line alone:
    ``{model_name}(weights=None, classes=1000)`` is accepted as it is. Unlike
    keras.applications, whose ``weights`` defaults to ``"imagenet"``, the default here
    is None (random initialisation): ask for ``weights="imagenet"``.

    Args:
        num_classes: classes of the classifier; None: ``classes``, else 1000.
        include_top: end with the classifier; False ends at the last stage or pooling.
        input_shape: image shape without the batch; height and width may be None.
        input_tensor: a Keras tensor to build the model on instead of a new Input.
        pooling: ``"avg"`` or ``"max"`` when ``include_top`` is False.
        classifier_activation: activation of the classifier, None for logits.
        include_preprocessing: take raw [0, 255] pixels (the default).
        weights: None, a weights file (ours, torchvision, timm or keras.applications)
            or a published set name such as ``"imagenet"``; see :func:`ResNet`.
        name: name of the model; defaults to ``{model_name.lower()!r}``.
        classes: keras.applications' name for ``num_classes``; give one of the two.
        **kwargs: further :func:`ResNet` arguments (``se_ratio``, ``drop_path_rate``,
            ``zero_init_last``, ``data_format``, ``use_bias``, ``stride_in_last_block``).

    Returns:
        A :class:`ResNetModel`, whose :func:`resnet_config` is ``MODEL_CONFIGS[{model_name!r}]``
        unless ``**kwargs`` change the architecture.

    Raises:
        ValueError: see :func:`ResNet`.

    Example:
        >>> model = {model_name}(num_classes=5)
    """
    return constructor


def _named_constructors():
    return {key: globals()[key] for key in MODEL_CONFIGS}


ResNet18 = _make_constructor("ResNet18")
ResNet34 = _make_constructor("ResNet34")
ResNet50 = _make_constructor("ResNet50")
ResNet101 = _make_constructor("ResNet101")
ResNet152 = _make_constructor("ResNet152")
ResNet50V2 = _make_constructor("ResNet50V2")
ResNet101V2 = _make_constructor("ResNet101V2")
ResNet152V2 = _make_constructor("ResNet152V2")
ResNet18D = _make_constructor("ResNet18D")
ResNet34D = _make_constructor("ResNet34D")
ResNet50D = _make_constructor("ResNet50D")
ResNet101D = _make_constructor("ResNet101D")
ResNet152D = _make_constructor("ResNet152D")
ResNeXt50_32x4d = _make_constructor("ResNeXt50_32x4d")
ResNeXt101_32x8d = _make_constructor("ResNeXt101_32x8d")
WideResNet50_2 = _make_constructor("WideResNet50_2")
WideResNet101_2 = _make_constructor("WideResNet101_2")
ResNet20 = _make_constructor("ResNet20")
ResNet32 = _make_constructor("ResNet32")
ResNet44 = _make_constructor("ResNet44")
ResNet56 = _make_constructor("ResNet56")
ResNet110 = _make_constructor("ResNet110")


def feature_extractor(model: keras.Model) -> keras.Model:
    """A model that returns the output of every stage: ``{"C2": ..., "C5": ...}``.

    For the ImageNet networks, C2..C5 have strides 4, 8, 16 and 32: the pyramid that
    detection and segmentation heads (FPN, U-Net) take. Weights are shared with
    ``model``.

    Args:
        model: a model built by this library, or loaded from a file it saved.

    Returns:
        A ``keras.Model`` from the same inputs to a dict of stage outputs, one per
        stage of the model's :class:`ResNetConfig` (C2..C4 for the CIFAR networks).

    Raises:
        ValueError: if the model carries no :class:`ResNetConfig` (see
            :func:`resnet_config`).

    Example:
        >>> backbone = feature_extractor(ResNet50(include_top=False))
        >>> features = backbone(keras.ops.zeros((1, 224, 224, 3)))   # features["C5"]
    """
    config = resnet_config(model)
    outputs = {
        f"C{stage + 2}": model.get_layer(block_name(stage, depth - 1)).output
        for stage, depth in enumerate(config.stage_depths)
    }
    return keras.Model(_single_or_list(model.inputs), outputs, name=f"{model.name}_features")
