"""The default ``keras-resnet train``: wall time and test accuracy per backend.

The target: at least 99% test accuracy on the embedded digits within two minutes
on a two-core CPU, for the command as a user runs it (start-up, data, training,
evaluation and saving included). Each run is a fresh ``python -m keras_resnet.cli
train`` process writing into a temporary folder; its ``metrics.json`` gives the
accuracy and the training time. The load average is printed too: on a shared
machine it explains slow runs.

Usage (from the repository root):

    python benchmarks/train_default.py [--backends tensorflow jax torch] [--seeds 0 1 2]
        [--repeats 1] [--output results.json] [-- extra train arguments]

To choose settings, hold out training digits and leave the test split alone:

    python benchmarks/train_default.py --validation-only --seeds 0 1 2 -- \
        --validation-split 0.2 [the settings to compare]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine, one_line  # noqa: E402

TARGET_ACCURACY = 0.99
TARGET_SECONDS = 120.0


def run_once(backend: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as output:
        command = [sys.executable, "-m", "keras_resnet.cli", "train", "--output", output]
        command += extra
        env = {**os.environ, "KERAS_BACKEND": backend}
        load = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise SystemExit(f"{backend}: train failed with code {done.returncode}:\n{tail}")
        (run_dir,) = os.listdir(output)
        with open(os.path.join(output, run_dir, "metrics.json")) as file:
            metrics = json.load(file)
    return {
        "backend": backend,
        "wall_seconds": round(wall, 1),
        "train_seconds": metrics["train_seconds"],
        "test_accuracy": metrics["test_accuracy"],
        "test_errors": round((1 - metrics["test_accuracy"]) * metrics["test_num_examples"]),
        "test_images": metrics["test_num_examples"],
        "epochs": metrics["epochs_run"],
        "validation_accuracy": metrics.get("validation_accuracy"),
        "validation_images": metrics.get("validation_num_examples"),
        "load_average_at_start": round(load, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="one run each")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output", help="also write the rows as JSON here")
    parser.add_argument(
        "--validation-only",
        action="store_true",
        help="report validation accuracy and leave test figures out, to choose settings on "
        "(pass a --validation-split after --)",
    )
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: train arguments")
    args = parser.parse_args()
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra

    machine = describe_machine()
    print(f"machine: {one_line(machine)}")
    print(f"target: test accuracy >= {TARGET_ACCURACY:.0%} within {TARGET_SECONDS:.0f} s wall")
    score = "val acc" if args.validation_only else "test acc"
    columns = ("backend", "seed", "wall s", "train s", score, "errors", "load")
    header = "{:<11} {:>4} {:>7} {:>8} {:>9} {:>7} {:>5}".format(*columns)
    print(header)
    print("-" * len(header))
    rows = []
    runs = [(s, b) for _ in range(args.repeats) for s in args.seeds for b in args.backends]
    for seed, backend in runs:
        row = {"seed": seed, **run_once(backend, extra + ["--seed", str(seed)])}
        if args.validation_only:
            for key in ("test_accuracy", "test_errors", "test_images"):
                row.pop(key)
            accuracy, count = row["validation_accuracy"], row["validation_images"]
        else:
            accuracy, count = row["test_accuracy"], row["test_images"]
        met = accuracy >= TARGET_ACCURACY and row["wall_seconds"] <= TARGET_SECONDS
        row["target_met"] = met
        rows.append(row)
        print(
            f"{backend:<11} {seed:>4} {row['wall_seconds']:>7.1f} {row['train_seconds']:>8.1f} "
            f"{accuracy:>9.2%} {round((1 - accuracy) * count):>3}/{count:<3} "
            f"{row['load_average_at_start']:>5.1f}  {'ok' if met else 'MISSED'}",
            flush=True,
        )
        # After every run, so that an interrupted benchmark keeps what it measured.
        if args.output:
            report = {"machine": machine, "train_arguments": extra, "runs": rows}
            Path(args.output).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
