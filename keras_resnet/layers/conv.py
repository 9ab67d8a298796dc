"""Conv2D with 1x1 convolutions as matrix products on JAX's CPU, and NCHW on TensorFlow's.

XLA's CPU convolutions are slow next to oneDNN's: one 1x1 convolution forward and
backward (16x56x56x256 to 64) takes 197 ms on JAX against 39 ms on TensorFlow, and
ResNet-50 has 36 of them. The same arithmetic as a matrix product takes 66 ms on JAX,
and a ResNet-50 training step gets 1.17x faster (benchmarks/RESULTS.md). Elsewhere
(TensorFlow, torch, JAX on GPUs) the backend's own convolution is kept: on an H200 the
matmul form made a JAX ResNet-50 step 1.4% (bfloat16) to 5% (float32) slower.

TensorFlow's own CPU convolution takes channels-last tensors only; its oneDNN kernels take
channels-first ones too, but they are off by default on CPUs without AVX-512 VNNI. So a
channels-first convolution on a TensorFlow CPU is computed channels-last between two
transposes.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from keras_resnet.layers.placement import on_jax_cpu, on_tensorflow_cpu


@keras.saving.register_keras_serializable(package="keras_resnet")
class Conv2D(layers.Conv2D):
    """``keras.layers.Conv2D``, with the same weights and config, faster 1x1 on JAX CPUs.

    Example:
        >>> conv = Conv2D(64, 1, use_bias=False)
        >>> y = conv(keras.ops.ones((2, 8, 8, 256)))
    """

    def call(self, inputs):
        if self._as_matmul():
            outputs = ops.matmul(inputs, ops.squeeze(self.kernel, (0, 1)))
        elif self.data_format == "channels_first" and on_tensorflow_cpu():
            outputs = ops.conv(
                ops.transpose(inputs, (0, 2, 3, 1)),
                self.kernel,
                strides=self.strides,
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format="channels_last",
            )
        else:
            return super().call(inputs)
        if self.use_bias:
            outputs = outputs + self.bias
        if self.data_format == "channels_first":
            outputs = ops.transpose(outputs, (0, 3, 1, 2))
        return self.activation(outputs)

    def _as_matmul(self) -> bool:
        return (
            self.kernel_size == (1, 1)
            and self.strides == (1, 1)
            and self.dilation_rate == (1, 1)
            and self.groups == 1
            and self.data_format == "channels_last"
            and on_jax_cpu()
        )
