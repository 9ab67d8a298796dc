"""Which architecture and layout a model has: the one place that reads it off the model.

Published weights fit a named architecture (a row of ``MODEL_CONFIGS``) built in one
layout, and each converter needs a few facts about the model it fills (deep stem,
avg-down shortcuts, preprocessing inside). :func:`architecture_of` answers all of them;
every other module of this package asks it rather than looking at layers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import keras

from keras_resnet import models
from keras_resnet.config import ResNetConfig


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
    """The architecture and layout of a model built by this library, read off its config.

    Args:
        model: a model built by :func:`keras_resnet.ResNet` or a named constructor.

    Returns:
        Its :class:`Architecture`.

    Raises:
        ValueError: if the model carries no :class:`~keras_resnet.ResNetConfig` (see
            :func:`keras_resnet.models.resnet_config`).

    Example:
        >>> architecture_of(keras_resnet.ResNet50D()).name
        'ResNet50D'
    """
    config = models.resnet_config(model)
    layout = {}
    if config.variant == "v1":
        layout["variant"] = "v1"
    if config.use_bias:
        layout["use_bias"] = True
    if config.stride_in_last_block:
        layout["stride_in_last_block"] = True
    named = _weight_shapes(config)
    name = next(
        (key for key, row in models.MODEL_CONFIGS.items() if _weight_shapes(row) == named), None
    )
    return Architecture(
        name=name,
        layout=layout,
        preact=config.variant == "v2",
        avg_down=config.variant == "d",
        deep_stem=config.stem_type == "deep",
        include_preprocessing=any(layer.name == "preprocessing" for layer in model.layers),
        model_name=model.name,
    )


def _weight_shapes(config: ResNetConfig) -> ResNetConfig:
    """The config with what published weights do not fix set to the named rows' values.

    Layout (v1 stride, conv biases, the V2 stride arrangement) is told apart by
    ``Architecture.layout``; drop path and zero-init only shape training.
    """
    return dataclasses.replace(
        config,
        variant="v1.5" if config.variant == "v1" else config.variant,
        use_bias=False,
        stride_in_last_block=False,
        drop_path_rate=0.0,
        zero_init_last=True,
    )
