"""The layers ResNets are built from: residual blocks, their parts and fast paths.

``blocks`` holds the residual blocks and the conv/BN settings they share, ``extras``
the optional parts (drop path, squeeze-and-excitation, the zero-pad shortcut), and
``batch_norm`` and ``conv`` the two measured backend fast paths, each a drop-in
subclass of its Keras layer.
"""

from keras_resnet.layers.batch_norm import BatchNormalization
from keras_resnet.layers.blocks import (
    BN_EPSILON,
    BN_MOMENTUM,
    BasicBlock,
    Bottleneck,
    ConvFactory,
    ResidualBlock,
    he_normal_fan_out,
)
from keras_resnet.layers.conv import Conv2D
from keras_resnet.layers.extras import DropPath, SqueezeExcite, ZeroPadShortcut

__all__ = [
    "BN_EPSILON",
    "BN_MOMENTUM",
    "BasicBlock",
    "BatchNormalization",
    "Bottleneck",
    "Conv2D",
    "ConvFactory",
    "DropPath",
    "ResidualBlock",
    "SqueezeExcite",
    "ZeroPadShortcut",
    "he_normal_fan_out",
]
