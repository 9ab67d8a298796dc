"""Training step time and images per second for 1, 2, ... replicas on one backend.

Each replica count runs in a fresh process (a backend fixes its devices when it
starts): it asks ``keras_resnet.distribute.get_distribution`` for that many devices
(the first N GPUs, or without GPUs the CPU split into N), builds and compiles the
model in the distribution's scope with the training recipe, and trains on random
images. Every replica takes ``--batch-size`` images of each step, as in
``keras-resnet train``, so the global batch grows with the replicas. The step time is
the median over ``--steps`` steps after ``--warmup`` steps (compilation included in
those); each step ends with the loss read back, so that the time is the step's own.

On a CPU split into N devices, the N devices share the same cores: expect no speed-up
there, only a check that multi-device training works and what it costs. The load
average is printed too: on a shared machine it explains slow runs.

Measured on two shared CPU cores (load average about 3), TensorFlow 2.21, ResNet20 at
32x32, median of 30 steps after 5:

    per replica  replicas  global batch  step ms  images/s
             64         1            64      232       276
             64         2           128      437       293
             32         1            32       73       436
             32         2            64      143       448

Two CPU devices cost what one does per image (1.03-1.06x): they share the cores.

Usage (from the repository root):

    KERAS_BACKEND=tensorflow python benchmarks/replicas.py [--max-devices 2]
        [--model resnet20] [--image-size 32] [--batch-size 64] [--steps 30]
        [--warmup 5] [--output replicas.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine, one_line  # noqa: E402


def measure(args: argparse.Namespace) -> dict:
    """One replica count, in this process: the child's work."""
    from keras_resnet import distribute

    distribution = distribute.get_distribution("auto", devices=args.child)

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_resnet import training
    from keras_resnet.models import get_model

    global_batch = distribution.global_batch_size(args.batch_size)
    rng = np.random.default_rng(0)
    shape = (args.image_size, args.image_size, 3)
    images = rng.uniform(0, 255, (global_batch, *shape)).astype("float32")
    labels = rng.integers(0, 10, global_batch).astype("int32")
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat().prefetch(2)
    total_steps = args.warmup + args.steps

    keras.utils.set_random_seed(0)
    with distribution.scope():
        model = get_model(args.model, num_classes=10, input_shape=shape)
        training.compile_model(
            model, epochs=1, steps_per_epoch=total_steps, batch_size=global_batch
        )

    ends: list[float] = []

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            ends.append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # waits for the step to finish
            ends.append(time.perf_counter())

    with distribution.scope():
        model.fit(
            dataset, epochs=1, steps_per_epoch=total_steps, callbacks=[StepClock()], verbose=0
        )
    steps = [later - earlier for earlier, later in zip(ends, ends[1:], strict=False)]
    measured = steps[args.warmup :]
    median = statistics.median(measured)
    return {
        "replicas": distribution.num_replicas,
        "strategy": distribution.name,
        "devices": distribution.devices,
        "global_batch": global_batch,
        "median_step_ms": round(median * 1000, 2),
        "images_per_second": round(global_batch / median, 1),
        "first_step_s": round(steps[0], 2),
        "steps_measured": len(measured),
    }


def run_child(count: int, args: argparse.Namespace) -> dict:
    command = [
        sys.executable, __file__, "--child", str(count), "--model", args.model,
        "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
        "--steps", str(args.steps), "--warmup", str(args.warmup),
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise SystemExit(f"{count} replica(s) failed with code {done.returncode}: {tail}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-devices", type=int, default=2)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64, help="images per replica")
    parser.add_argument("--steps", type=int, default=30, help="steps measured")
    parser.add_argument("--warmup", type=int, default=5, help="steps left out first")
    parser.add_argument("--output", help="also write the results as JSON here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        try:
            print("RESULT " + json.dumps(measure(args)), flush=True)
        except ValueError as error:  # e.g. several devices on torch: one line, no trace
            raise SystemExit(f"error: {error}") from None
        return

    import keras

    backend = keras.backend.backend()
    print(
        f"machine: {one_line(describe_machine())}; "
        f"backend {backend}; {args.model} at {args.image_size}x{args.image_size}, "
        f"{args.batch_size} images per replica; median of {args.steps} steps after "
        f"{args.warmup}"
    )
    columns = ("replicas", "strategy", "global batch", "step ms", "images/s", "vs 1", "load")
    header = "{:>8} {:>12} {:>12} {:>9} {:>9} {:>6} {:>5}".format(*columns)
    print(header)
    print("-" * len(header))
    rows = []
    for count in range(1, args.max_devices + 1):
        load = os.getloadavg()[0]
        row = run_child(count, args)
        row["load_average_at_start"] = round(load, 2)
        rows.append(row)
        ratio = row["images_per_second"] / rows[0]["images_per_second"]
        print(
            f"{row['replicas']:>8} {row['strategy']:>12} {row['global_batch']:>12} "
            f"{row['median_step_ms']:>9.1f} {row['images_per_second']:>9.1f} "
            f"{ratio:>5.2f}x {load:>5.2f}"
        )
    if args.output:
        report = {
            "backend": backend,
            "machine": describe_machine(),
            "model": args.model,
            "image_size": args.image_size,
            "batch_size_per_replica": args.batch_size,
            "steps": args.steps,
            "warmup": args.warmup,
            "results": rows,
        }
        with open(args.output, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)
            file.write("\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
