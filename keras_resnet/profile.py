"""Parameters, FLOPs and the per-stage table of a ResNet.

FLOPs are counted as multiply-adds of the convolutions and the classifier, the
convention of the ResNet paper and of torchvision's model table (ResNet50:
4.09 G at 224x224). Normalisation, activations and pooling are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras

from keras_resnet import compat
from keras_resnet.data.sizes import DEFAULT_IMAGE_SIZE
from keras_resnet.layers import Bottleneck, ResidualBlock
from keras_resnet.models import (
    MODEL_CONFIGS,
    block_name,
    canonical_name,
    get_model,
    resnet_config,
    stage_name,
)


@dataclass
class StageProfile:
    """One row of the stage table.

    Attributes:
        name: ``stem``, ``conv2`` .. ``conv5`` (the paper's Table 1 names) or ``head``.
        output_shape: the stage's output shape without the batch.
        blocks: residual blocks in the stage (0 for stem and head).
        layout: the convs of one block, e.g. ``1x1,64 3x3,64 1x1,256``.
        trainable_params: trainable parameters of the stage.
        non_trainable_params: non-trainable parameters (BN moving statistics).
        macs: multiply-adds of one image through the stage.
    """

    name: str
    output_shape: tuple
    blocks: int = 0
    layout: str = ""
    trainable_params: int = 0
    non_trainable_params: int = 0
    macs: int = 0


@dataclass
class ModelProfile:
    """Totals and stage rows of one model at one input size.

    Attributes:
        name: the model's name.
        input_shape: the input shape without the batch.
        output_shape: the output shape without the batch.
        stages: the stage rows, stem first.
    """

    name: str
    input_shape: tuple
    output_shape: tuple
    stages: list[StageProfile] = field(default_factory=list)

    @property
    def trainable_params(self) -> int:
        return sum(stage.trainable_params for stage in self.stages)

    @property
    def non_trainable_params(self) -> int:
        return sum(stage.non_trainable_params for stage in self.stages)

    @property
    def macs(self) -> int:
        return sum(stage.macs for stage in self.stages)

    @property
    def gflops(self) -> float:
        """Giga multiply-adds, as quoted in the ResNet literature."""
        return self.macs / 1e9


def profile_model(
    model: keras.Model | str, image_size: int = DEFAULT_IMAGE_SIZE[0], num_classes: int = 1000
) -> ModelProfile:
    """Counts the parameters and multiply-adds of a model, per stage.

    Stages come from the model's :class:`~keras_resnet.config.ResNetConfig` (or, for a
    network composed by hand from the blocks, from where its blocks change resolution
    or width): the layers before the first block are the stem, those after the last
    block the head.

    Args:
        model: a model built by this library, or a model name such as ``"resnet50"``.
        image_size: height and width to count at, where the model leaves them open.
        num_classes: classes of the classifier, when ``model`` is a name.

    Returns:
        A :class:`ModelProfile`.

    Raises:
        ValueError: on an unknown model name, an input too small for the model, or a
            model without residual blocks of this library.

    Example:
        >>> profile_model("resnet50").gflops   # 4.09
    """
    if isinstance(model, str):
        model = get_model(model, num_classes=num_classes, input_shape=(image_size, image_size, 3))
    else:
        model = _with_input_size(model, image_size)
    stage_blocks = _stage_blocks(model)
    stage_of_block = {
        block.name: stage for stage, blocks in enumerate(stage_blocks) for block in blocks
    }
    stages: dict[str, StageProfile] = {"stem": StageProfile("stem", ())}
    for stage, blocks in enumerate(stage_blocks):
        stages[stage_name(stage)] = StageProfile(
            stage_name(stage), (), blocks=len(blocks), layout=_block_layout(blocks[0])
        )
    current = stages["stem"]
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer.name in stage_of_block:
            current = stages[stage_name(stage_of_block[layer.name])]
        elif current is not stages["stem"]:
            current = stages.setdefault("head", StageProfile("head", ()))
        current.output_shape = tuple(layer.output.shape[1:])
        current.trainable_params += _count(layer.trainable_weights)
        current.non_trainable_params += _count(layer.non_trainable_weights)
        current.macs += layer_macs(layer)
    return ModelProfile(
        model.name,
        tuple(model.input_shape[1:]),
        tuple(model.output_shape[1:]),
        list(stages.values()),
    )


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-adds of one image through a built layer and all its sublayers.

    Args:
        layer: a layer built at a known input size.

    Returns:
        The multiply-adds of its convolutions and dense layers.
    """
    total = 0
    for sublayer in [layer, *compat.flatten_layers(layer)]:
        if isinstance(sublayer, keras.layers.Conv2D | keras.layers.Dense):
            input_shape = sublayer.get_build_config()["input_shape"]
            output_shape = sublayer.compute_output_shape(input_shape)
            kernel = sublayer.kernel.shape
            # Each output value costs one multiply-add per kernel entry feeding it.
            fan_in = math.prod(kernel[:-1])
            total += math.prod(output_shape[1:]) * fan_in
    return total


def format_stage_table(profile: ModelProfile) -> str:
    """The stage table as aligned text, with a totals line.

    Args:
        profile: the profile to show.

    Returns:
        The table as a string.
    """
    # Small networks (the CIFAR ones) read better in millions.
    scale, unit = (1e9, "GFLOPs") if profile.macs >= 1e9 else (1e6, "MFLOPs")
    header = ("stage", "output size", "blocks", "block layout", "params", unit)
    rows = [header]
    for stage in profile.stages:
        rows.append(
            (
                stage.name,
                "x".join(str(d) for d in stage.output_shape),
                str(stage.blocks or ""),
                stage.layout,
                f"{stage.trainable_params:,}",
                f"{stage.macs / scale:.3f}",
            )
        )
    rows.append(
        (
            "total",
            "x".join(str(d) for d in profile.output_shape),
            str(sum(stage.blocks for stage in profile.stages)),
            "",
            f"{profile.trainable_params:,}",
            f"{profile.macs / scale:.3f}",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        f"{profile.name}: input {'x'.join(str(d) for d in profile.input_shape)}, "
        f"{profile.trainable_params:,} trainable and {profile.non_trainable_params:,} "
        f"non-trainable parameters, {profile.gflops:.2f} G multiply-adds"
    ]
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if column in (0, 3) else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0 or index == len(rows) - 2:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def model_table(names=None, image_size: int = DEFAULT_IMAGE_SIZE[0]) -> list[ModelProfile]:
    """Profiles of named models, built one at a time to bound memory.

    Args:
        names: model names; defaults to every named model.
        image_size: input size; the CIFAR models are always profiled at 32x32.

    Returns:
        One :class:`ModelProfile` per model, in order.

    Example:
        >>> [p.gflops for p in model_table(["resnet18", "resnet50"])]   # [1.81, 4.09]
    """
    profiles = []
    for name in names or MODEL_CONFIGS:
        cifar = MODEL_CONFIGS[canonical_name(name)].stem_type == "cifar"
        size, classes = (32, 10) if cifar else (image_size, 1000)
        profile = profile_model(name, image_size=size, num_classes=classes)
        profile.name = name
        profiles.append(profile)
        keras.backend.clear_session(free_memory=True)
    return profiles


def format_model_table(profiles: list[ModelProfile]) -> str:
    """A Markdown table of models: input, parameters and GFLOPs.

    Args:
        profiles: profiles from :func:`model_table`.

    Returns:
        The table as Markdown text.
    """
    lines = [
        "| model | input | params (trainable) | GFLOPs (multiply-adds) |",
        "|---|---|---:|---:|",
    ]
    for profile in profiles:
        size = "x".join(str(d) for d in profile.input_shape[:2])
        lines.append(
            f"| {profile.name} | {size} | {profile.trainable_params:,} | {profile.gflops:.2f} |"
        )
    return "\n".join(lines)


def _stage_blocks(model) -> list[list[ResidualBlock]]:
    """The residual blocks of each stage, in order.

    A library model's stages come from its config. A network composed by hand from the
    blocks (examples/02_custom_resnet.ipynb) has none: there a stage starts at each
    block that changes the resolution or the channel count, as a stage does.
    """
    try:
        config = resnet_config(model)
    except ValueError:
        config = None
    if config is not None:
        return [
            [model.get_layer(block_name(stage, block)) for block in range(depth)]
            for stage, depth in enumerate(config.stage_depths)
        ]
    stages: list[list[ResidualBlock]] = []
    for layer in model.layers:
        if not isinstance(layer, ResidualBlock):
            continue
        previous = stages[-1][-1] if stages else None
        if (
            previous is None
            or layer.strides != 1
            or (layer.output_channels != previous.output_channels)
        ):
            stages.append([])
        stages[-1].append(layer)
    if not stages:
        raise ValueError(
            f"{model.name} has no residual blocks of keras_resnet: profile_model takes "
            "models built by keras_resnet or composed from its BasicBlock and Bottleneck."
        )
    return stages


def _with_input_size(model, image_size):
    """The same architecture with open height and width fixed, so shapes are known."""
    shape = model.input_shape
    if not isinstance(shape, tuple) or None not in shape[1:]:
        return model
    config = model.get_config()
    for layer_config in config["layers"]:
        # Layers must build on the new input, not on the shapes they were built with.
        layer_config.pop("build_config", None)
        if layer_config["class_name"] == "InputLayer":
            batch_shape = list(layer_config["config"]["batch_shape"])
            spatial = (1, 2) if batch_shape[-1] is not None else (2, 3)
            for axis in spatial:
                batch_shape[axis] = batch_shape[axis] or image_size
            layer_config["config"]["batch_shape"] = batch_shape
    return model.__class__.from_config(config)


def _block_layout(block):
    if isinstance(block, Bottleneck):
        grouped = f"/g{block.groups}" if block.groups > 1 else ""
        return f"1x1,{block.width} 3x3,{block.width}{grouped} 1x1,{block.output_channels}"
    return f"3x3,{block.filters} 3x3,{block.filters}"


def _count(weights):
    return sum(math.prod(weight.shape) for weight in weights)
