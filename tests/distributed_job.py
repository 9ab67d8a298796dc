"""A few training steps on fixed data under a distribution; run as a subprocess.

Usage: python distributed_job.py STRATEGY DEVICES OUT.npz [--die-after-batch N]
       [--checkpoint PATH.keras]
The Keras backend comes from KERAS_BACKEND, the cluster (multiworker) from TF_CONFIG.
Writes the final weights to OUT.npz (chief only), so tests can compare them with a
one-device run on the same global batches.
"""

import argparse
import os

import keras
import numpy as np

from keras_resnet import distribute

GLOBAL_BATCH = 8
STEPS = 4


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("strategy")
    parser.add_argument("devices", type=int)
    parser.add_argument("out")
    parser.add_argument("--die-after-batch", type=int)
    parser.add_argument("--checkpoint")
    args = parser.parse_args()

    if args.strategy != "multiworker":
        distribute.use_cpu_devices(args.devices)
    import keras_resnet

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (GLOBAL_BATCH * STEPS, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 4, GLOBAL_BATCH * STEPS)

    keras.utils.set_random_seed(1)
    distribution = distribute.get_distribution(args.strategy)
    print(distribution.describe(), flush=True)
    with distribution.scope():
        model = keras_resnet.ResNet(
            stage_depths=(1, 1),
            block_type="basic",
            stem_type="cifar",
            stage_widths=(8, 16),
            num_classes=4,
            input_shape=(16, 16, 3),
        )
        if distribution.strategy is not None:
            distribute.synchronize_batchnorm(model)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    if distribution.name == "multiworker":
        distribute._patch_multiworker_build(model, distribution.strategy)

    callbacks = []
    if args.checkpoint:
        # Only the chief writes where asked; other workers write to a scratch file.
        path = args.checkpoint if distribution.is_chief else f"{args.out}.worker.keras"
        callbacks.append(keras.callbacks.ModelCheckpoint(path, save_freq=1))
    if args.die_after_batch is not None:

        class Die(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if batch + 1 == args.die_after_batch:
                    os._exit(17)

        callbacks.append(Die())
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(GLOBAL_BATCH)
    model.fit(dataset, epochs=1, verbose=0, callbacks=callbacks)
    if distribution.is_chief:
        np.savez(args.out, *[keras.ops.convert_to_numpy(w) for w in model.weights])


if __name__ == "__main__":
    main()
