"""Where a small model's training step goes: pipeline, callbacks, metrics, XLA, bf16.

ResNet20 is overhead-bound on a CPU: its step does far less arithmetic than ResNet-50's,
so the fixed costs of a step (Python and op dispatch, callbacks, metrics, the input
pipeline) weigh more. This times one training step of ResNet20, TensorFlow backend, at
each shape asked for (default: the digits preset's 16x16 at batch 64 and the
small_images preset's 32x32 at batch 128), in these variants:

- ``fit_path``: the library's path: ``keras_resnet.data`` pipeline (the preset's
  augmentation, mixup where the preset has it), ``compile_model``'s recipe and metrics,
  the run's callbacks (CSV log, backup, TensorBoard where installed);
- ``pipeline``: the same compiled model on the same pipeline, without the callbacks;
- ``arrays``: the same compiled model fed the same batches from in-memory arrays, no
  callbacks; ``arrays_no_metrics``: the same recipe compiled without metrics;
- ``jit``: ``jit_compile=True``; ``spe4``: ``steps_per_execution=4``; ``jit_spe4``: both;
- ``bf16``, ``bf16_jit``: the ``mixed_bfloat16`` policy, without and with XLA;
- ``fit_path_jit``, ``fit_path_spe4``: the library's path with those settings;
- ``fit_path_no_tensorboard``, ``fit_path_no_backup``: the library's path without the
  TensorBoard log or without the per-epoch backup, to weigh each callback.

Every variant is compiled and warmed up for one epoch first; then the variants take
turns for ``--rounds`` rounds, so that the load of a shared machine falls on all
alike. In a round each variant runs one ``fit`` of ``--epochs-per-round`` epochs and
its last epoch is timed (with 2 or more, costs paid once per ``fit`` call, such as
opening the TensorBoard writer, fall outside it, as in a run of many epochs); a step
is the median over rounds of that epoch's time over its steps. The
report gives ratios against ``fit_path``, the training FLOP rate (multiply-adds from
``keras_resnet.profile`` x 2 x 3 for forward and backward) against ResNet-50's, and the
load average of each round. Results go to JSON with the machine.

Usage (from the repository root):

    PYTHONPATH=$PWD KERAS_BACKEND=tensorflow python benchmarks/small_model_step.py \
        [--shapes 16x64 32x128] [--rounds 3] [--variants fit_path arrays jit ...] \
        [--output benchmarks/results/cpu2_small_model_step.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine, one_line  # noqa: E402

VARIANTS = (
    "fit_path",
    "pipeline",
    "arrays",
    "arrays_no_metrics",
    "jit",
    "spe4",
    "jit_spe4",
    "bf16",
    "bf16_jit",
    "fit_path_jit",
    "fit_path_spe4",
    "fit_path_no_tensorboard",
    "fit_path_no_backup",
)

# ResNet-50 training on this kind of 2-core CPU, TensorFlow, batch 16 at 224x224
# (benchmarks/RESULTS.md, "The 2-core CPU: every backend, side by side"): seconds per
# step, and its 4.09 G multiply-adds an image.
RESNET50_STEP_SECONDS = {"float32": 2.31, "mixed_bfloat16": 1.50}
RESNET50_BATCH = 16
RESNET50_MACS = 4.09e9


def main() -> None:
    args = _parse_args()
    machine = describe_machine()
    report = {
        "machine": machine,
        "avx512_bf16": "avx512_bf16" in machine["cpu_flags"],
        "settings": vars(args),
        "resnet50_reference": {
            precision: {
                "step_seconds": seconds,
                "batch": RESNET50_BATCH,
                "gflops_per_second": round(RESNET50_MACS * 6 * RESNET50_BATCH / seconds / 1e9, 1),
            }
            for precision, seconds in RESNET50_STEP_SECONDS.items()
        },
        "results": [],
    }
    for shape in args.shapes:
        size, batch = (int(part) for part in shape.split("x"))
        report["results"].append(
            time_shape(size, batch, args.variants, args.rounds, args.epochs_per_round)
        )
        keras.backend.clear_session()
        # After every shape, so that an interrupted run keeps what it measured.
        print(_table(report), flush=True)
        if args.output:
            Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    if args.output:
        print(f"written: {args.output}")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["16x64", "32x128"], help="SIZExBATCH")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs-per-round", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--output", default="benchmarks/results/cpu2_small_model_step.json")
    return parser.parse_args()


class EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch, from Keras's epoch callbacks."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def _data(size: int, batch: int):
    """The preset's pipeline at this shape, and its first epoch's batches as arrays."""
    import numpy as np

    from keras_resnet.data import load_data
    from keras_resnet.training.config import PRESETS

    if size <= 16:
        preset = PRESETS["digits"]
        source = "digits"
    else:
        preset = PRESETS["small_images"]
        rng = np.random.default_rng(0)
        count = 12 * batch
        source = (
            rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8),
            rng.integers(0, 10, count),
        )
    data = load_data(
        source,
        image_size=size,
        batch_size=batch,
        validation_split=0.0,
        seed=0,
        augment=preset.augment,
        mixup=preset.mixup,
    )
    images, labels = zip(*data.train.as_numpy_iterator(), strict=True)
    return preset, data, np.concatenate(images), np.concatenate(labels)


def _model(preset, size: int, batch: int, steps: int, soft: bool, variant: str):
    import keras_resnet
    from keras_resnet.training import compile_model, peak_learning_rate
    from keras_resnet.training.precision import dtype_policy

    precision = "bfloat16" if variant.startswith("bf16") else None
    kwargs = {}
    if preset.drop_path_rate is not None:
        kwargs["drop_path_rate"] = preset.drop_path_rate
    with dtype_policy(precision):
        keras.utils.set_random_seed(0)
        model = keras_resnet.ResNet20(num_classes=10, input_shape=(size, size, 3), **kwargs)
        compile_model(
            model,
            epochs=preset.epochs,
            steps_per_epoch=steps,
            batch_size=batch,
            learning_rate=peak_learning_rate(preset, batch),
            weight_decay=preset.weight_decay,
            label_smoothing=preset.label_smoothing,
            jit_compile="jit" in variant,
            soft_labels=soft,
        )
        if variant == "arrays_no_metrics":
            model.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=False)
        if "spe4" in variant:
            model.steps_per_execution = 4
    return model


def _model_key(variant: str) -> str:
    """The compiled model a variant runs: fit_path and pipeline share arrays' model."""
    if variant in ("fit_path", "pipeline") or variant.startswith("fit_path_no_"):
        return "arrays"
    return variant.removeprefix("fit_path_")


def time_shape(
    size: int, batch: int, variants: list[str], rounds: int, epochs_per_round: int
) -> dict:
    """Every variant at one shape, interleaved; returns its record."""
    from keras_resnet import profile
    from keras_resnet.training import RunPaths, run_callbacks

    preset, data, x, y = _data(size, batch)
    steps = -(-len(x) // batch)
    soft = y.ndim == 2
    models = {}
    for variant in variants:
        key = _model_key(variant)
        if key not in models:
            models[key] = _model(preset, size, batch, steps, soft, key)
    folder = tempfile.mkdtemp(prefix="small_model_step-")

    def run_epoch(variant: str, epochs: int = epochs_per_round) -> float:
        model, timer = models[_model_key(variant)], EpochTimer()
        if variant == "pipeline":
            model.fit(data.train, epochs=epochs, shuffle=False, callbacks=[timer], verbose=0)
        elif variant.startswith("fit_path"):
            paths = RunPaths.of(os.path.join(folder, variant))
            os.makedirs(paths.run_dir, exist_ok=True)
            callbacks = run_callbacks(
                paths,
                has_validation=False,
                early_stopping=None,
                resumed_from_epoch=0,
                metadata={},
            )
            left_out = {
                "fit_path_no_tensorboard": "TensorBoard",
                "fit_path_no_backup": "BackupAndRestore",
            }.get(variant)
            callbacks = [c for c in callbacks if type(c).__name__ != left_out] + [timer]
            model.fit(data.train, epochs=epochs, shuffle=False, callbacks=callbacks, verbose=0)
        else:
            model.fit(
                x, y, batch_size=batch, epochs=epochs, shuffle=False, callbacks=[timer], verbose=0
            )
        return timer.seconds[-1] / steps

    warmup = {}
    for variant in variants:
        start = time.perf_counter()
        run_epoch(variant, epochs=1)
        warmup[variant] = round(time.perf_counter() - start, 2)
        print(
            f"{size}x{size} batch {batch} {variant}: warm-up epoch {warmup[variant]} s", flush=True
        )
    timings = {variant: [] for variant in variants}
    loads = []
    for round_index in range(rounds):
        loads.append(os.getloadavg()[0])
        order = variants if round_index % 2 == 0 else list(reversed(variants))
        for variant in order:
            timings[variant].append(run_epoch(variant))
        print(f"round {round_index + 1}: load {loads[-1]:.2f}", flush=True)
    macs = profile.profile_model("resnet20", size, 10).macs
    reference = statistics.median(timings["fit_path"]) if "fit_path" in timings else None
    rows = []
    for variant in variants:
        step = statistics.median(timings[variant])
        rows.append(
            {
                "variant": variant,
                "step_seconds": round(step, 4),
                "all_step_seconds": [round(value, 4) for value in timings[variant]],
                "speedup_vs_fit_path": round(reference / step, 3) if reference else None,
                "images_per_second": round(batch / step, 1),
                "gflops_per_second": round(macs * 6 * batch / step / 1e9, 2),
                "warmup_seconds": warmup[variant],
            }
        )
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "image_size": size,
        "batch_size": batch,
        "preset": preset.preset,
        "augment": preset.augment,
        "mixup": preset.mixup,
        "steps_per_epoch": steps,
        "macs_per_image": macs,
        "load_average_per_round": [round(load, 2) for load in loads],
        "variants": rows,
    }


def _table(report: dict) -> str:
    lines = [f"Machine: {one_line(report['machine'])}"]
    for reference in report["resnet50_reference"].items():
        lines.append(f"ResNet-50 {reference[0]}: {reference[1]['gflops_per_second']} GFLOP/s")
    for shape in report["results"]:
        lines.append(
            f"\nResNet20 {shape['image_size']}x{shape['image_size']}, batch "
            f"{shape['batch_size']} ({shape['preset']}), load {shape['load_average_per_round']}"
        )
        lines.append("| Variant | Step | vs fit_path | Images/s | GFLOP/s |")
        lines.append("|---|---|---|---|---|")
        for row in shape["variants"]:
            lines.append(
                f"| {row['variant']} | {row['step_seconds']:.3f} s | "
                f"{row['speedup_vs_fit_path']}x | {row['images_per_second']} | "
                f"{row['gflops_per_second']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
