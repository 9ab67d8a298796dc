"""Layers the residual blocks use besides convs and BN: drop path, SE, zero-pad shortcut.

Each is a registered ``keras.layers.Layer`` built from ``keras.layers`` and
``keras.ops``, so it runs unchanged on the TensorFlow, JAX and PyTorch backends and
reloads from ``.keras`` files.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_resnet.layers.conv import Conv2D


@keras.saving.register_keras_serializable(package="keras_resnet")
class DropPath(layers.Layer):
    """Stochastic depth: drops a whole residual branch per sample while training.

    Surviving branches are scaled by ``1 / (1 - rate)`` so the expected output is
    unchanged and inference needs no rescaling (Huang et al. 2016). A frozen layer
    (``trainable=False``, as in a frozen backbone) never drops: a frozen feature
    extractor must give the same features every time, as frozen batch norm does.

    Args:
        rate: probability of dropping the branch of one sample, in [0, 1).
        seed: optional seed of the random drops.

    Example:
        >>> drop = DropPath(0.1)
        >>> y = drop(keras.ops.ones((4, 8, 8, 16)), training=True)
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1), got {rate}.")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or not self.trainable or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        mask_shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(mask_shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.cast(noise < keep, inputs.dtype)
        return inputs * mask / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_resnet")
class SqueezeExcite(layers.Layer):
    """Squeeze-and-excitation: rescales channels by a gate learnt from their means.

    Args:
        ratio: width of the bottleneck layer relative to the channel count.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Example:
        >>> se = SqueezeExcite(0.25)
        >>> y = se(keras.ops.ones((2, 8, 8, 64)))
    """

    def __init__(self, ratio=0.25, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"SqueezeExcite ratio must be in (0, 1], got {ratio}.")
        self.ratio = ratio
        self.data_format = data_format or keras.config.image_data_format()

    def build(self, input_shape):
        channel_axis = -1 if self.data_format == "channels_last" else 1
        channels = input_shape[channel_axis]
        self.pool = layers.GlobalAveragePooling2D(
            data_format=self.data_format, keepdims=True, dtype=self.dtype_policy, name="pool"
        )
        conv_settings = dict(data_format=self.data_format, dtype=self.dtype_policy)
        self.reduce = Conv2D(
            max(1, int(channels * self.ratio)),
            1,
            activation="relu",
            name="reduce",
            **conv_settings,
        )
        self.expand = Conv2D(channels, 1, activation="sigmoid", name="expand", **conv_settings)
        self.pool.build(input_shape)
        pooled = self.pool.compute_output_shape(input_shape)
        self.reduce.build(pooled)
        self.expand.build(self.reduce.compute_output_shape(pooled))

    def call(self, inputs):
        return inputs * self.expand(self.reduce(self.pool(inputs)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio, "data_format": self.data_format}


@keras.saving.register_keras_serializable(package="keras_resnet")
class ZeroPadShortcut(layers.Layer):
    """The parameter-free shortcut of the CIFAR ResNets (option A of He et al. 2015).

    Subsamples by striding and pads the new channels with zeros, so the deep CIFAR
    networks keep the paper's parameter counts.

    Args:
        channels: output channels (at least the input's).
        strides: spatial subsampling factor.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Example:
        >>> y = ZeroPadShortcut(32, 2)(keras.ops.ones((1, 8, 8, 16)))   # (1, 4, 4, 32)
    """

    def __init__(self, channels, strides=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.strides = strides
        self.data_format = data_format or keras.config.image_data_format()

    def call(self, inputs):
        s = self.strides
        if self.data_format == "channels_last":
            x = inputs[:, ::s, ::s, :]
            extra = self.channels - x.shape[-1]
            return ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        x = inputs[:, :, ::s, ::s]
        extra = self.channels - x.shape[1]
        return ops.pad(x, [[0, 0], [extra // 2, extra - extra // 2], [0, 0], [0, 0]])

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        channel_axis = -1 if self.data_format == "channels_last" else 1
        spatial_axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis in spatial_axes:
            if shape[axis] is not None:
                shape[axis] = -(-shape[axis] // self.strides)
        shape[channel_axis] = self.channels
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "strides": self.strides,
            "data_format": self.data_format,
        }
