"""Distributed training in a fresh process, for tests/test_distribute.py.

Device lists are fixed when a backend first starts, so every multi-device run needs
a process of its own. The Keras backend comes from KERAS_BACKEND, the cluster
(multiworker) from TF_CONFIG.

Usage:
    python distributed_job.py steps STRATEGY DEVICES OUT.npz
        A few plain ``model.fit`` steps on fixed data; the chief writes the final
        weights to OUT.npz, to compare with a one-device run on the same batches.
    python distributed_job.py train STRATEGY DEVICES OUTPUT [--epochs N] [--resume]
            [--die-at-epoch N] [--interrupt-after-epoch N]
        ``keras_resnet.training.train`` on small coloured squares, writing the run
        folder OUTPUT/run. Prints ``RESULT {json}`` with what the run reports.
        --die-at-epoch kills the process as that epoch (1-based) begins;
        --interrupt-after-epoch interrupts the run after that epoch, then resumes it
        in the same process. DEVICES 0 leaves the device count to the strategy.
"""

import argparse
import json
import os

import keras
import numpy as np

from keras_resnet import distribute

GLOBAL_BATCH = 8
STEPS = 4
DIED = 17


def tiny_model(num_classes=4, input_shape=(16, 16, 3), **kwargs):
    import keras_resnet

    return keras_resnet.ResNet(
        stage_depths=(1, 1),
        block_type="basic",
        stem_type="cifar",
        stage_widths=(8, 16),
        num_classes=num_classes,
        input_shape=input_shape,
        name="tiny",
        **kwargs,
    )


def steps(args):
    if args.strategy != "multiworker":
        distribute.use_cpu_devices(args.devices)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (GLOBAL_BATCH * STEPS, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 4, GLOBAL_BATCH * STEPS)

    keras.utils.set_random_seed(1)
    distribution = distribute.get_distribution(args.strategy)
    print(distribution.describe(), flush=True)
    with distribution.scope():
        model = tiny_model()
        if distribution.strategy is not None:
            distribute.synchronize_batchnorm(model)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(GLOBAL_BATCH)
    with distribution.fitting(model):
        model.fit(dataset, epochs=1, verbose=0)
    if distribution.is_chief:
        np.savez(args.out, *[keras.ops.convert_to_numpy(w) for w in model.weights])


def colour_squares(count=60, size=16, classes=3):
    """Images whose class is their brightest channel: learnable in a few steps."""
    rng = np.random.default_rng(0)
    labels = np.arange(count) % classes
    images = rng.uniform(0, 60, (count, size, size, 3)).astype("float32")
    images[np.arange(count), :, :, labels] += 180.0
    return images, labels


def train(args):
    from keras_resnet import training

    callbacks = []
    if args.die_at_epoch:

        class Die(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch + 1 == args.die_at_epoch:
                    os._exit(DIED)

        callbacks.append(Die())
    if args.interrupt_after_epoch:

        class Interrupt(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch + 1 == args.interrupt_after_epoch:
                    raise KeyboardInterrupt

        interrupt = Interrupt()
        callbacks.append(interrupt)

    def run(resume, extra_callbacks):
        return training.train(
            colour_squares(),
            lambda **kwargs: tiny_model(**kwargs),
            batch_size=4,
            epochs=args.epochs,
            validation_split=0.25,
            augment=None,
            run_name="run",
            output=args.output,
            strategy=args.strategy,
            devices=args.devices or None,
            resume=resume,
            callbacks=extra_callbacks,
            verbose=0,
        )

    if args.interrupt_after_epoch:
        try:
            run(args.resume, callbacks)
            raise SystemExit("the run was not interrupted")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        callbacks.remove(interrupt)
        result = run(True, callbacks)
    else:
        result = run(args.resume, callbacks)
    report = {
        "is_chief": result.is_chief,
        "run_dir": result.run_dir,
        "resumed_from_epoch": result.resumed_from_epoch,
        "history_epochs": len(result.history.get("loss", [])),
        "optimizer_steps": int(keras.ops.convert_to_numpy(result.model.optimizer.iterations)),
        **{
            key: result.metrics[key]
            for key in ("strategy", "num_replicas", "batch_size", "epochs_run")
        },
    }
    print("RESULT " + json.dumps(report), flush=True)


def main():
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    steps_parser = modes.add_parser("steps")
    steps_parser.add_argument("strategy")
    steps_parser.add_argument("devices", type=int)
    steps_parser.add_argument("out")
    train_parser = modes.add_parser("train")
    train_parser.add_argument("strategy")
    train_parser.add_argument("devices", type=int)
    train_parser.add_argument("output")
    train_parser.add_argument("--epochs", type=int, default=2)
    train_parser.add_argument("--resume", action="store_true")
    train_parser.add_argument("--die-at-epoch", type=int)
    train_parser.add_argument("--interrupt-after-epoch", type=int)
    args = parser.parse_args()
    (steps if args.mode == "steps" else train)(args)


if __name__ == "__main__":
    main()
