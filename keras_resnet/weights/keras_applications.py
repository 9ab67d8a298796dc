"""keras.applications ResNet weights mapped onto our models, its preprocessing folded in.

keras.applications' ResNet50/101/152 need ``ResNet50(variant="v1", use_bias=True)`` and
its V2s ``ResNet50V2(use_bias=True, stride_in_last_block=True)``
(:data:`~keras_resnet.weights.KERAS_V1_LAYOUT`, :data:`~keras_resnet.weights.KERAS_V2_LAYOUT`).
Its BatchNorm epsilon (1.001e-5 against our 1e-5) is folded into the moving variance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from keras_resnet.layers import BN_EPSILON
from keras_resnet.weights.architecture import architecture_of
from keras_resnet.weights.assign import assign_checked, describe_source, parse_block_path
from keras_resnet.weights.readers import read_keras_applications
from keras_resnet.weights.sets import KERAS_V1_LAYOUT, KERAS_V2_LAYOUT, format_layout

KERAS_APPLICATIONS_EPSILON = 1.001e-5

_VARIABLES = {"kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"}


def keras_applications_layout(state: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
    """The layout keras.applications weights need: V2's if they have a ``post_bn``.

    Args:
        state: keras.applications arrays by ``"layer/variable"``.

    Returns:
        :data:`KERAS_V2_LAYOUT` or :data:`KERAS_V1_LAYOUT`.

    Example:
        >>> keras_applications_layout({"post_bn/gamma": np.ones(2048)}) is KERAS_V2_LAYOUT
        True
    """
    return KERAS_V2_LAYOUT if "post_bn/gamma" in state else KERAS_V1_LAYOUT


def load_keras_applications_weights(model: keras.Model, source: Any) -> keras.Model:
    """Loads keras.applications ResNet weights (v1 or V2) into a model of this library.

    The model must have keras.applications' layout: ``variant="v1", use_bias=True`` for
    ResNet50/101/152 and ``use_bias=True, stride_in_last_block=True`` for the V2s. The
    bare network (``include_preprocessing=False``) then computes exactly what
    keras.applications' does, on inputs prepared by its ``preprocess_input``. With
    ``include_preprocessing=True`` the model takes raw [0, 255] RGB pixels like every
    model here: keras.applications' preprocessing (BGR and mean subtraction for v1,
    scaling to [-1, 1] for V2) is folded into the stem conv. That fold is exact but at
    the image border: the stem's zero padding stands for the mean pixel in ours and for
    keras.applications' zero point (about the mean pixel for v1, mid-gray for V2) in
    theirs, which moves the outputs near the border a little.

    Args:
        model: a model of keras.applications' layout (see above).
        source: a keras.applications ``.h5`` file (as its ``weights="imagenet"``
            downloads), a ``.weights.h5`` saved from such a model, or the model itself.

    Returns:
        The same model, loaded.

    Raises:
        ValueError: if the model's layout does not match the weights', or a key is
            missing, unexpected or of the wrong shape (the message names it).

    Example:
        >>> model = keras_resnet.ResNet50V2(use_bias=True, stride_in_last_block=True)
        >>> load_keras_applications_weights(model, keras.applications.ResNet50V2())
    """
    origin = describe_source(source, "the keras.applications model")
    return load_keras_applications_state(model, read_keras_applications(source), origin)


def load_keras_applications_state(
    model: keras.Model, state: Mapping[str, np.ndarray], origin: str
) -> keras.Model:
    """Loads keras.applications arrays already read (see :func:`load_keras_applications_weights`).

    Args:
        model: a model of keras.applications' layout.
        state: keras.applications arrays by ``"layer/variable"``.
        origin: the source as messages name it.

    Returns:
        The same model, loaded.

    Raises:
        ValueError: as :func:`load_keras_applications_weights`.

    Example:
        >>> load_keras_applications_state(model, read_keras_applications(path), repr(path))
    """
    layout = keras_applications_layout(state)
    v2 = layout is KERAS_V2_LAYOUT
    architecture = architecture_of(model)
    problem = architecture.layout_problem(layout)
    if problem:
        family = "V2" if v2 else "v1"
        raise ValueError(
            f"{origin} holds keras.applications ResNet {family} weights, which need its "
            f"layout: build the model with {format_layout(layout)}; {model.name} {problem}."
        )
    epsilon_shift = KERAS_APPLICATIONS_EPSILON - BN_EPSILON

    def source_key(path: str):
        key, transform = keras_applications_key(path)
        if path.endswith("/moving_variance"):
            return key, lambda value: value + epsilon_shift
        return key, transform

    fold = _preprocessing_fold(model, v2) if architecture.include_preprocessing else None
    assign_checked(
        model,
        state,
        source_key,
        origin,
        head_keys=("predictions/kernel", "predictions/bias"),
        zero_missing_biases=True,
        finish=fold,
    )
    return model


def keras_applications_key(path: str):
    """The keras.applications key of one of our variables, and how to convert its value.

    Args:
        path: our variable path, e.g. ``"conv2_block1/conv1/kernel"``.

    Returns:
        ``(key, transform)``, e.g. ``("conv2_block1_1_conv/kernel", identity)``, or
        ``(None, None)`` if keras.applications has no such variable.

    Example:
        >>> keras_applications_key("stem_bn1/gamma")[0]
        'conv1_bn/gamma'
    """
    layer_path, variable = path.rsplit("/", 1)
    layer = {"stem_conv1": "conv1_conv", "stem_bn1": "conv1_bn"}.get(layer_path)
    if layer_path in ("post_bn", "predictions"):
        layer = layer_path
    elif block := parse_block_path(layer_path):
        if block.sublayer == "preact_bn":
            layer = f"{block.block}_preact_bn"
        elif sub := re.fullmatch(r"(conv|bn)(\d)", block.sublayer):
            layer = f"{block.block}_{sub[2]}_{sub[1]}"
        elif block.sublayer in ("shortcut_conv", "shortcut_bn"):
            layer = f"{block.block}_0_{block.sublayer.split('_')[1]}"
    if layer is None or variable not in _VARIABLES:
        return None, None
    return f"{layer}/{variable}", _identity


def _identity(value):
    return value


def _preprocessing_fold(model, v2):
    """Folds keras.applications' input preprocessing into the stem conv.

    keras.applications' stem sees ``z = a * x[..., order] + d`` (caffe mode for v1: BGR
    minus the channel means; tf mode for V2: ``x / 127.5 - 1``); ours sees
    ``y = (x - mean) / std``. With ``x = std * y + mean``, the stem conv of ``z`` is the
    stem conv of ``y`` with its kernel scaled per input channel and its bias shifted.
    """
    config = model.get_layer("preprocessing").get_config()
    mean = np.asarray(config["mean"], dtype="float64").reshape(-1)
    std = np.sqrt(np.asarray(config["variance"], dtype="float64").reshape(-1))
    if mean.size != 3:
        return None
    if v2:
        scale, shift, reverse = np.full(3, 1 / 127.5), np.full(3, -1.0), False
    else:
        scale, shift, reverse = np.ones(3), -np.array([123.68, 116.779, 103.939]), True

    def fold(values):
        kernel = np.asarray(values["stem_conv1/kernel"], dtype="float64")
        if reverse:  # the kernel's input channels run B, G, R
            kernel = kernel[:, :, ::-1, :]
        values["stem_conv1/kernel"] = kernel * (scale * std)[None, None, :, None]
        values["stem_conv1/bias"] = values["stem_conv1/bias"] + np.einsum(
            "hwco,c->o", kernel, scale * mean + shift
        )

    return fold
