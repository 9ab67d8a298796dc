"""Where a layer runs, for the layers that pick a kernel by it.

TensorFlow's own CPU kernels for convolution and fused batch norm take channels-last
tensors only, and JAX's CPU convolutions are slow next to a matrix product: the layers
of this package ask these two questions, and ask them here only.
"""

from __future__ import annotations

import keras


def on_jax_cpu() -> bool:
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "cpu"


def on_tensorflow_cpu() -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")
