"""A basic-block model's weights under torchvision's key names and layouts.

Written from torchvision's ResNet module names, independently of
``keras_resnet.weights.torchvision`` (whose mapping the tests check), so that a file
made here is what torchvision itself would save.
"""

from __future__ import annotations

import re

import keras
import numpy as np

VARIABLE_NAMES = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
STEM_AND_HEAD = {"stem_conv1": "conv1", "stem_bn1": "bn1", "predictions": "fc"}
SHORTCUT = {"shortcut_conv": "downsample.0", "shortcut_bn": "downsample.1"}


def torchvision_state(model: keras.Model) -> dict[str, np.ndarray]:
    """``model``'s weights as a torchvision state dict of numpy arrays."""
    state = {}
    for variable in model.weights:
        layer, name = variable.path.rsplit("/", 1)
        value = keras.ops.convert_to_numpy(variable)
        module = STEM_AND_HEAD.get(layer)
        if module is None:
            stage, block, sublayer = re.fullmatch(r"conv(\d)_block(\d)/(\w+)", layer).groups()
            module = f"layer{int(stage) - 1}.{int(block) - 1}.{SHORTCUT.get(sublayer, sublayer)}"
        if name == "kernel":
            value = value.T if module == "fc" else value.transpose(3, 2, 0, 1)
        state[f"{module}.{VARIABLE_NAMES[name]}"] = np.ascontiguousarray(value)
    return state
