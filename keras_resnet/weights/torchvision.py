"""torchvision and timm state dicts mapped onto the variables of our models.

Every depth and variant both sides share converts: ResNet18..152,
ResNeXt50_32x4d/101_32x8d, WideResNet50_2/101_2 and timm's ResNet-D (resnet18d..152d).
Conv kernels go from torch's (out, in / groups, kh, kw) to Keras's (kh, kw, in / groups,
out); BatchNorm's weight, bias, running_mean and running_var become gamma, beta,
moving_mean and moving_variance; the ``fc`` matrix is transposed into the Dense kernel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from keras_resnet.weights.architecture import Architecture, architecture_of
from keras_resnet.weights.assign import assign_checked, describe_source, parse_block_path
from keras_resnet.weights.readers import read_state_dict

TORCH_BATCH_NORM = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
# timm's deep stem: Sequential(conv, bn, relu, conv, bn, relu, conv), then bn1.
_DEEP_STEM = {
    "stem_conv1": "conv1.0",
    "stem_bn1": "conv1.1",
    "stem_conv2": "conv1.3",
    "stem_bn2": "conv1.4",
    "stem_conv3": "conv1.6",
    "stem_bn3": "bn1",
}
_STEM = {"stem_conv1": "conv1", "stem_bn1": "bn1"}


def load_torch_weights(model: keras.Model, source: Any) -> keras.Model:
    """Loads a torchvision or timm ResNet state dict into a model of this library.

    Args:
        model: a model of the default (v1.5) layout, or a ResNet-D for timm's
            resnet*d weights; ``include_top`` and ``num_classes`` may differ from the
            file's.
        source: a ``.pth``/``.pt``/``.bin``/``.safetensors`` path, a state dict (of
            torch tensors or numpy arrays) or a ``torch.nn.Module``.

    Returns:
        The same model, loaded.

    Raises:
        ValueError: if the model's layout cannot hold torch weights, or a key is missing,
            unexpected or of the wrong shape (the message names it).
        ImportError: if the file is in torch's legacy format and PyTorch is absent.

    Example:
        >>> model = keras_resnet.ResNet50D()
        >>> load_torch_weights(model, "resnet50d_ra2-464e36ba.pth")
    """
    origin = describe_source(source, "the state dict")
    return load_torch_state(model, read_state_dict(source), origin)


def load_torch_state(
    model: keras.Model, state: Mapping[str, np.ndarray], origin: str
) -> keras.Model:
    """Loads a state dict already read into numpy (see :func:`load_torch_weights`).

    Args:
        model: a model of the default layout, or a ResNet-D.
        state: torchvision/timm keys to numpy arrays.
        origin: the source as messages name it.

    Returns:
        The same model, loaded.

    Raises:
        ValueError: as :func:`load_torch_weights`.

    Example:
        >>> load_torch_state(model, read_state_dict("w.safetensors"), "'w.safetensors'")
    """
    architecture = architecture_of(model)
    problem = architecture.layout_problem({})
    if problem:
        raise ValueError(
            f"{origin} holds torchvision/timm weights, which need the default layout "
            f"(stride on the 3x3 conv, no conv biases, stride in each first block); "
            f"{model.name} {problem}. Build it without variant='v1', variant='v2', "
            "use_bias or stride_in_last_block."
        )

    def source_key(path: str):
        return torch_key(architecture, path)

    assign_checked(model, state, source_key, origin, head_keys=("fc.weight", "fc.bias"))
    return model


def torch_key(architecture: Architecture, path: str):
    """The torchvision/timm key of one of our variables, and how to convert its value.

    Args:
        architecture: the model's :class:`Architecture`.
        path: our variable path, e.g. ``"conv3_block1/shortcut_conv/kernel"``.

    Returns:
        ``(key, transform)``, e.g. ``("layer2.0.downsample.0.weight", oihw_to_hwio)``,
        or ``(None, None)`` if torch models have no such variable.

    Example:
        >>> torch_key(architecture_of(keras_resnet.ResNet18()), "stem_bn1/gamma")[0]
        'bn1.weight'
    """
    layer_path, variable = path.rsplit("/", 1)
    module = None
    if layer_path.startswith("stem_"):
        module = (_DEEP_STEM if architecture.deep_stem else _STEM).get(layer_path)
    elif layer_path == "predictions":
        module = "fc"
    elif block := parse_block_path(layer_path):
        prefix = f"layer{block.stage - 1}.{block.index - 1}"
        # timm's avg-down shortcut is Sequential(pool, conv, bn), the pool an Identity
        # where the block does not stride: its conv and BN sit one index further.
        offset = int(architecture.avg_down)
        if re.fullmatch(r"(conv|bn)\d", block.sublayer):
            module = f"{prefix}.{block.sublayer}"
        elif block.sublayer == "shortcut_conv":
            module = f"{prefix}.downsample.{offset}"
        elif block.sublayer == "shortcut_bn":
            module = f"{prefix}.downsample.{offset + 1}"
    if module is None:
        return None, None
    if variable == "kernel":
        return f"{module}.weight", np.transpose if module == "fc" else oihw_to_hwio
    if variable == "bias":
        return f"{module}.bias", _identity
    if variable in TORCH_BATCH_NORM:
        return f"{module}.{TORCH_BATCH_NORM[variable]}", _identity
    return None, None


def oihw_to_hwio(value: np.ndarray) -> np.ndarray:
    """A torch conv kernel (out, in, kh, kw) as Keras's (kh, kw, in, out).

    Args:
        value: the torch kernel.

    Returns:
        The transposed kernel (a view).

    Example:
        >>> oihw_to_hwio(np.zeros((64, 3, 7, 7))).shape
        (7, 7, 3, 64)
    """
    return np.transpose(value, (2, 3, 1, 0))


def _identity(value):
    return value
