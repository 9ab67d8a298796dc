"""BatchNormalization that runs the backend's fused kernel where one exists.

Keras 3's ``BatchNormalization`` computes batch statistics and normalises with
generic ops (mean, variance, subtract, multiply, ...), each a pass over the tensor
forward and again backward. TensorFlow and PyTorch ship one fused kernel for all of
it: one forward and backward ran 3.3x faster on TensorFlow on a CPU, and on the torch
backend convolutions were only a quarter of a ResNet-50 training step, most of the
rest batch norm's generic ops (benchmarks/RESULTS.md). XLA fuses the generic ops by
itself, so JAX keeps Keras's code.

This and ``conv.py`` are the backend-specific corners of the layers: the fused path covers the
common case (a 4-D input normalised over its channel axis, no mask, no renorm, no
cross-replica synchronisation) and everything else goes to Keras's implementation.
Weights, config and results are those of ``keras.layers.BatchNormalization``: the
moving variance is updated with the biased batch variance, as Keras does.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_resnet.layers.placement import on_tensorflow_cpu


@keras.saving.register_keras_serializable(package="keras_resnet")
class BatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with a fused kernel on TensorFlow and torch.

    Takes the same arguments and holds the same weights, so it loads Keras BN
    weights and gives Keras BN results (to float rounding).

    Example:
        >>> bn = BatchNormalization(momentum=0.9, epsilon=1e-5)
        >>> y = bn(keras.ops.ones((2, 8, 8, 16)), training=True)
    """

    def call(self, inputs, training=None, mask=None):
        fused = _FUSED_CALLS.get(keras.backend.backend())
        if fused is None or not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        return fused(self, inputs, bool(training) and self.trainable)

    @property
    def _channels_last(self) -> bool:
        return self.axis in (-1, 3)

    def _fusable(self, inputs, mask) -> bool:
        return (
            mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 1, 3)
            and self.scale
            and self.center
            and not self.renorm
            and not self.synchronized
        )

    def _update_moving_statistics(self, mean, variance) -> None:
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))

    def _output(self, outputs):
        return ops.cast(outputs, self.compute_dtype)


def _tensorflow_call(layer: BatchNormalization, inputs, training: bool):
    import tensorflow as tf

    channels_first = not layer._channels_last
    if channels_first and on_tensorflow_cpu():
        # The CPU kernel takes channels-last tensors only.
        return layers.BatchNormalization.call(layer, inputs, training=training)
    # The kernel takes float16 or bfloat16 inputs with float32 statistics, and
    # computes in float32 inside: no cast of the whole tensor is needed.
    if inputs.dtype not in (tf.float32, tf.float16, tf.bfloat16):
        inputs = tf.cast(inputs, tf.float32)
    arguments = dict(
        scale=layer.gamma.value,
        offset=layer.beta.value,
        epsilon=layer.epsilon,
        data_format="NCHW" if channels_first else "NHWC",
    )
    if not training:
        outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            mean=layer.moving_mean.value,
            variance=layer.moving_variance.value,
            is_training=False,
            **arguments,
        )
        return layer._output(outputs)
    outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        inputs, is_training=True, **arguments
    )
    # The kernel returns the unbiased (n - 1) variance; Keras averages the biased one.
    shape = tf.shape(inputs, out_type=tf.int64)
    count = tf.cast(tf.reduce_prod(shape) // shape[1 if channels_first else 3], tf.float32)
    variance = variance * tf.maximum(count - 1.0, 0.0) / count
    layer._update_moving_statistics(mean, variance)
    return layer._output(outputs)


def _torch_call(layer: BatchNormalization, inputs, training: bool):
    import torch

    # Channels-last tensors are viewed as NCHW with channels-last strides, which
    # torch's kernel handles natively: no copy either way.
    channels_last = layer._channels_last
    x = inputs.permute(0, 3, 1, 2) if channels_last else inputs
    weight, bias = layer.gamma.value, layer.beta.value
    if x.dtype != weight.dtype:
        # torch's CPU kernel needs one dtype; Keras likewise computes BN in float32.
        x = x.to(weight.dtype)
    if training:
        outputs, mean, inverse_std = torch.native_batch_norm(
            x, weight, bias, None, None, True, 0.0, layer.epsilon
        )
        with torch.no_grad():
            variance = inverse_std.detach().pow(-2) - layer.epsilon
            layer._update_moving_statistics(mean.detach(), variance)
    else:
        outputs = torch.nn.functional.batch_norm(
            x,
            layer.moving_mean.value,
            layer.moving_variance.value,
            weight,
            bias,
            training=False,
            eps=layer.epsilon,
        )
    if channels_last:
        outputs = outputs.permute(0, 2, 3, 1)
    return layer._output(outputs)


_FUSED_CALLS = {"tensorflow": _tensorflow_call, "torch": _torch_call}
