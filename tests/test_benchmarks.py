"""benchmarks/cifar10.py, the script whose output is the CIFAR-10 table: on a folder of
tiny images with train/ and test/, it reports the held-out validation figure and the
test figure through the command a user types, and reuses a finished run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "cifar10.py"

pytestmark = pytest.mark.skipif(
    not SCRIPT.exists(), reason="benchmarks/ is in the repository, not in the sdist"
)


def _cifar_like(root: Path, counts: dict[str, int]) -> None:
    """Two classes of 8x8 JPEGs (dark and bright) per split, CIFAR's folder layout."""
    rng = np.random.default_rng(0)
    for split, count in counts.items():
        for label, level in (("dark", 40), ("bright", 210)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(level, 20, (8, 8, 3)), 0, 255).astype("uint8")
                Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=95)


def _run(data: Path, runs: Path, output: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), "--data", str(data), "--models", "resnet20"]
    command += ["--seeds", "0", "--epochs", "1", "--runs", str(runs), "--output", str(output)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def test_the_cifar10_benchmark_reports_validation_and_test_and_reuses_a_finished_run(
    tmp_path,
):
    data = tmp_path / "cifar"
    _cifar_like(data, {"train": 20, "test": 5})
    runs, output = tmp_path / "runs", tmp_path / "cifar10.json"
    done = _run(data, runs, output)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(output.read_text())
    assert report["machine"]["cpu_count"] >= 1
    # The day's speed beside the flags: same-kind machines differ severalfold.
    probe = report["machine"]["speed_probe"]
    assert probe["python_loop_ms"] > 0 and probe["matmul_gflops"] > 0
    [run] = report["runs"]
    assert run["model"] == "resnet20" and run["preset"] == "small_images"
    assert run["evaluated_on"] == "test"
    assert 0.0 <= run["accuracy"] <= 1.0 and 0.0 <= run["final_val_accuracy"] <= 1.0
    assert run["image_size"] == [8, 8]
    assert run["train_images_per_s"] > 0
    [row] = report["summary"]
    assert row["evaluated_on"] == "test" and row["paper_test_accuracy"] == 91.25
    metrics = json.loads((runs / "cifar10-resnet20-e1-s0" / "metrics.json").read_text())
    assert metrics["test_accuracy"] == run["accuracy"]
    # 20 + 20 training images, the preset's 10% held out for validation.
    assert metrics["num_train"] == 36

    # Run again: the finished run is read back, not trained again.
    again = _run(data, runs, output)
    assert again.returncode == 0, again.stdout + again.stderr
    [reused] = json.loads(output.read_text())["runs"]
    assert reused["accuracy"] == run["accuracy"] and reused["wall_seconds_this_call"] is None


def test_a_resumed_runs_rate_counts_the_epochs_of_its_last_call():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import cifar10
    finally:
        sys.path.remove(str(SCRIPT.parent))
    whole = {"num_train": 45000, "epochs_run": 40, "train_seconds": 3600.0}
    assert cifar10.train_rate(whole) == 500.0
    # Resumed after 24 epochs: the last call trained 16 in its 1,440 seconds.
    resumed = dict(whole, resumed_from_epoch=24, train_seconds=1440.0)
    assert cifar10.train_rate(resumed) == 500.0


def test_the_cifar10_benchmark_needs_a_train_folder(tmp_path):
    done = _run(tmp_path, tmp_path / "runs", tmp_path / "out.json")
    assert done.returncode == 2
    assert "has no train/ folder" in done.stderr
    assert not (tmp_path / "out.json").exists()
