"""Writes the release-0.1 model file that tests/test_saving.py keeps loading.

Run once with the code of release 0.1 (already done; the outputs are committed):
``KERAS_BACKEND=tensorflow python tests/data/make_legacy_model.py``. It builds a
compiled network small enough to keep in the repository yet with the most
layers of the release in it (bottleneck V2 blocks in keras.applications' layout,
squeeze-and-excitation, drop path, conv biases), gives every weight a random value
(BN statistics included) so that every residual branch shows in the output, and
saves the model with metadata, a fixed input and the output expected from it.
"""

import os

import keras
import numpy as np

import keras_resnet
from keras_resnet import saving, training

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    keras.utils.set_random_seed(0)
    model = keras_resnet.ResNet(
        stage_depths=(1, 2, 2),
        stage_widths=(4, 8, 16),
        variant="v2",
        use_bias=True,
        stride_in_last_block=True,
        se_ratio=0.25,
        drop_path_rate=0.1,
        num_classes=3,
        input_shape=(16, 16, 3),
        name="tiny_resnet",
    )
    model.compile(optimizer="sgd", loss=training.SparseCategoricalCrossentropy(0.1))
    rng = np.random.default_rng(0)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if weight.path.endswith(("gamma", "moving_variance")):
            value = rng.uniform(0.5, 1.5, shape)
        elif weight.path.endswith("kernel"):
            value = rng.normal(0.0, (2.0 / np.prod(shape[:-1])) ** 0.5, shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        weight.assign(value.astype(weight.dtype))
    images = rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    saving.save_model(
        model,
        os.path.join(HERE, "resnet_release_0_1.keras"),
        class_names=["a", "b", "c"],
        image_size=[16, 16],
    )
    np.savez(os.path.join(HERE, "resnet_release_0_1.npz"), images=images, expected=expected)


if __name__ == "__main__":
    main()
