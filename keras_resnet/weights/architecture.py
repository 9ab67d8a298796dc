"""Which architecture and layout a model has: the one place that reads it off the model.

Published weights fit a named architecture (a row of ``MODEL_CONFIGS``) built in one
layout, and each converter needs a few facts about the model it fills (deep stem,
avg-down shortcuts, preprocessing inside). :func:`architecture_of` answers all of them;
every other module of this package asks it rather than looking at layers.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import keras

from keras_resnet import models
from keras_resnet.layers import BasicBlock, Bottleneck

_BLOCK_NAME = re.compile(r"conv(\d+)_block(\d+)")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What a model of this library is, as far as weights care.

    Attributes:
        name: the ``MODEL_CONFIGS`` key of its architecture (layout aside), or None if
            it is none of the named networks.
        layout: builder arguments beyond the named config, as in ``WeightSet.layout``:
            ``variant="v1"``, ``use_bias=True``, ``stride_in_last_block=True``.
        preact: whether its blocks are pre-activation (V2).
        avg_down: whether its projection shortcuts average-pool first (ResNet-D).
        deep_stem: whether its stem is three 3x3 convs (ResNet-D).
        include_preprocessing: whether it normalises raw pixels itself.
        model_name: the Keras name of the model, for messages.
    """

    name: str | None
    layout: Mapping[str, Any]
    preact: bool
    avg_down: bool
    deep_stem: bool
    include_preprocessing: bool
    model_name: str

    def layout_problem(self, layout: Mapping[str, Any]) -> str | None:
        """What in this model differs from ``layout`` (and the V2 it implies), or None.

        Args:
            layout: the layout some weights need, e.g. ``{}`` for torchvision's.

        Returns:
            A phrase such as ``"was built with use_bias=True"``, or None if it fits.

        Example:
            >>> architecture_of(keras_resnet.ResNet50V2()).layout_problem({})
            'has pre-activation (V2) blocks'
        """
        wants_v2 = layout.get("stride_in_last_block", False)
        if self.preact != wants_v2:
            return "has post-activation blocks" if wants_v2 else "has pre-activation (V2) blocks"
        for key in sorted(set(self.layout) | set(layout)):
            if self.layout.get(key) != layout.get(key):
                return f"was built with {key}={self.layout.get(key, 'its default')!r}"
        return None


def architecture_of(model: keras.Model) -> Architecture:
    """The architecture and layout of a model built by this library.

    Args:
        model: a model built by :func:`keras_resnet.ResNet` or a named constructor.

    Returns:
        Its :class:`Architecture`.

    Raises:
        ValueError: if the model has no residual blocks of this library.

    Example:
        >>> architecture_of(keras_resnet.ResNet50D()).name
        'ResNet50D'
    """
    blocks = [layer for layer in model.layers if isinstance(layer, BasicBlock | Bottleneck)]
    if not blocks:
        raise ValueError(f"{model.name} has no residual blocks: it is not a keras_resnet model.")
    names = {layer.name for layer in model.layers}
    first = blocks[0]
    layout = {}
    if first.stride_in_1x1:
        layout["variant"] = "v1"
    if first.use_bias:
        layout["use_bias"] = True
    if first.subsample_shortcut:
        layout["stride_in_last_block"] = True
    signature = _model_signature(blocks, names)
    configs = models.MODEL_CONFIGS.items()
    matches = (key for key, config in configs if _config_signature(config) == signature)
    name = next(matches, None)
    return Architecture(
        name=name,
        layout=layout,
        preact=first.preact,
        avg_down=first.avg_down,
        deep_stem="stem_conv3" in names,
        include_preprocessing="preprocessing" in names,
        model_name=model.name,
    )


def _model_signature(blocks, layer_names):
    depths, widths = {}, {}
    for block in blocks:
        stage = int(_BLOCK_NAME.fullmatch(block.name)[1])
        depths[stage] = depths.get(stage, 0) + 1
        widths[stage] = block.filters
    first = blocks[0]
    stem = "deep" if "stem_conv3" in layer_names else "imagenet"
    if "stem_pool" not in layer_names:
        stem = "cifar"
    return (
        tuple(depths[stage] for stage in sorted(depths)),
        tuple(widths[stage] for stage in sorted(widths)),
        "basic" if isinstance(first, BasicBlock) else "bottleneck",
        first.groups,
        first.base_width,
        first.preact,
        first.avg_down,
        stem,
        first.se_ratio,
    )


def _config_signature(config):
    variant = config.get("variant", "v1.5")
    stem = config.get("stem_type") or ("deep" if variant == "d" else "imagenet")
    depths = tuple(config["stage_depths"])
    default_widths = models.CIFAR_WIDTHS if stem == "cifar" else models.IMAGENET_WIDTHS
    return (
        depths,
        tuple(config.get("stage_widths") or default_widths[: len(depths)]),
        config.get("block_type", "bottleneck"),
        config.get("groups", 1),
        config.get("base_width", 64),
        variant == "v2",
        variant == "d",
        stem,
        config.get("se_ratio"),
    )
