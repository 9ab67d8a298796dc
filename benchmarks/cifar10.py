"""CIFAR-10 against He et al. 2015, Table 6, through the command a user types.

Each run is ``keras-resnet train --data DIR --model M --epochs E --seed S`` in a fresh
process; nothing else is passed, so the figures are those of the library's defaults
(the small-image preset that the data selects). DIR holds ``train/`` with one folder
per class and, optionally, ``test/``:

- ``train/`` only: the run holds out the preset's validation split (5,000 of CIFAR-10's
  50,000 training images, as the paper did) and reports validation accuracy. Choose
  settings on these figures.
- ``train/`` and ``test/``: the same command, with the same held-out split, also
  reports test accuracy. Look at it once, for the final figure.

Results are written to the JSON file after every run, with the machine (CPU model and
flags, or GPU) and each run's training and validation accuracy at every epoch. Finished
runs are reused: an interrupted benchmark continues where it stopped, and a run cut off
mid-way resumes from its last finished epoch.

Usage (from the repository root):

    tar xzf cifar10-train.tar.gz -C /tmp/cifar10      # gives /tmp/cifar10/train/...
    python benchmarks/cifar10.py --data /tmp/cifar10 --models resnet20 resnet56 \
        --seeds 0 1 2 --epochs 40 [--output benchmarks/results/cifar10.json] \
        [-- extra train arguments]
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

# He et al. 2015, "Deep Residual Learning for Image Recognition", Table 6: CIFAR-10 test
# error (%) after 164 epochs (64k iterations at batch 128); ResNet-110 is the best of 5.
PAPER_TEST_ERROR = {"resnet20": 8.75, "resnet32": 7.51, "resnet44": 7.17, "resnet56": 6.97}
PAPER_TEST_ERROR["resnet110"] = 6.43
PAPER_EPOCHS = 164


def run_name(model: str, seed: int, epochs: int) -> str:
    return f"cifar10-{model}-e{epochs}-s{seed}"


def train(data: str, model: str, seed: int, epochs: int, runs: Path, extra: list[str]) -> dict:
    """One training run through the CLI; reuses a finished run and resumes a cut one."""
    name = run_name(model, seed, epochs)
    run_dir = runs / name
    metrics_path = run_dir / "metrics.json"
    wall = None
    if not metrics_path.exists():
        command = [sys.executable, "-m", "keras_resnet.cli", "train", "--data", data]
        command += ["--model", model, "--epochs", str(epochs), "--seed", str(seed)]
        command += ["--output", str(runs), "--run-name", name, *extra]
        if run_dir.exists():
            command.append("--resume")
        runs.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(runs / f"{name}.log", "a") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
        wall = round(time.perf_counter() - started, 1)
        if done.returncode != 0:
            raise SystemExit(f"{name}: train failed ({done.returncode}); see {log.name}")
    metrics = json.loads(metrics_path.read_text())
    split = metrics.get("evaluated_on") or "validation"
    return {
        "model": model,
        "seed": seed,
        "epochs": metrics["epochs_run"],
        "preset": metrics.get("preset"),
        "evaluated_on": split,
        "accuracy": metrics.get(f"{split}_accuracy"),
        "final_val_accuracy": metrics.get("final_val_accuracy"),
        "num_train": metrics["num_train"],
        "image_size": metrics["image_size"],
        "batch_size": metrics["batch_size"],
        "peak_learning_rate": metrics.get("peak_learning_rate"),
        "backend": metrics["backend"],
        "resumed_from_epoch": metrics.get("resumed_from_epoch", 0),
        "train_seconds": metrics["train_seconds"],
        "train_images_per_s": train_rate(metrics),
        "wall_seconds_this_call": wall,
        **curves(run_dir / "training_log.csv"),
    }


def curves(log: Path) -> dict:
    """Training and validation accuracy at every epoch, from the run's training_log.csv."""
    # Imported here: the runs themselves are subprocesses, and this loads TensorFlow.
    from keras_resnet.training import read_training_log

    history = read_training_log(log)
    return {
        f"{key}_per_epoch": [round(value, 4) for value in history[key]]
        for key in ("accuracy", "val_accuracy")
        if key in history
    }


def train_rate(metrics: dict) -> float:
    """Training images per second of a run's metrics.json.

    A resumed run's ``train_seconds`` are those of its last call, so only the epochs
    of that call count.
    """
    epochs = metrics["epochs_run"] - metrics.get("resumed_from_epoch", 0)
    return round(metrics["num_train"] * epochs / metrics["train_seconds"], 1)


def summarise(results: list[dict]) -> list[dict]:
    """Mean and spread of the accuracy per model and split, beside the paper's figure."""
    rows = []
    for model in dict.fromkeys(r["model"] for r in results):
        for split in dict.fromkeys(r["evaluated_on"] for r in results if r["model"] == model):
            runs = [r for r in results if r["model"] == model and r["evaluated_on"] == split]
            accuracies = [100 * r["accuracy"] for r in runs]
            rows.append(
                {
                    "model": model,
                    "evaluated_on": split,
                    "seeds": [r["seed"] for r in runs],
                    "epochs": runs[0]["epochs"],
                    "accuracy_mean": round(statistics.fmean(accuracies), 2),
                    "accuracy_std": round(statistics.pstdev(accuracies), 2),
                    "accuracy_min": round(min(accuracies), 2),
                    "accuracy_max": round(max(accuracies), 2),
                    "paper_test_accuracy": (
                        round(100 - PAPER_TEST_ERROR[model], 2)
                        if model in PAPER_TEST_ERROR
                        else None
                    ),
                    "paper_epochs": PAPER_EPOCHS,
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| model | split | epochs | seeds | accuracy % (mean ± std, min-max) | paper test % |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['evaluated_on']} | {r['epochs']} | {len(r['seeds'])} | "
            f"{r['accuracy_mean']:.2f} ± {r['accuracy_std']:.2f} "
            f"({r['accuracy_min']:.2f}-{r['accuracy_max']:.2f}) | "
            f"{r['paper_test_accuracy']} ({PAPER_EPOCHS} epochs) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder with train/ (and test/)")
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet56"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--runs", default="saved_models/cifar10", help="run folders")
    parser.add_argument("--output", default="benchmarks/results/cifar10.json")
    args, extra = parser.parse_known_args()
    extra = [arg for arg in extra if arg != "--"]
    if not (Path(args.data) / "train").is_dir():
        parser.error(f"--data {args.data} has no train/ folder")

    machine = describe_machine()
    print(f"machine: {one_line(machine)}; backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}")
    results = []
    for model in args.models:
        for seed in args.seeds:
            result = train(args.data, model, seed, args.epochs, Path(args.runs), extra)
            results.append(result)
            print(
                f"{model} seed {seed}: {result['evaluated_on']} accuracy "
                f"{100 * result['accuracy']:.2f}% after {result['epochs']} epochs, "
                f"{result['train_images_per_s']} images/s",
                flush=True,
            )
            report = {
                "machine": machine,
                "data": os.path.abspath(args.data),
                "extra_train_arguments": extra,
                "runs": results,
                "summary": summarise(results),
            }
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(table(summarise(results)))


if __name__ == "__main__":
    main()
