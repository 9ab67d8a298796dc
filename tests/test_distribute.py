"""Strategy choice, multi-device training proven equal to one device, and the fit
wrapper's run folder, resume and failure handling under every strategy.

The multi-device tests run training in subprocesses (tests/distributed_job.py):
device lists are fixed when a backend first starts, so they need fresh processes.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_resnet import distribute

JOB = str(Path(__file__).with_name("distributed_job.py"))
BACKEND = keras.backend.backend()
TIMEOUT = 240


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ValueError, match="Unknown strategy 'ring'.*mirrored"):
        distribute.get_distribution("ring")


def test_none_strategy_is_one_replica_and_scales_nothing():
    distribution = distribute.get_distribution("none")
    assert distribution.name == "none"
    assert distribution.num_replicas == 1
    assert distribution.global_batch_size(32) == 32
    assert "1 replica" in distribution.describe()
    with distribution.scope():
        assert keras.ops.ones((1,)).shape == (1,)


def test_auto_on_one_device_trains_without_a_strategy():
    distribution = distribute.get_distribution("auto")
    if distribution.num_replicas == 1:
        assert distribution.name == "none"


def test_global_batch_is_per_replica_batch_times_replicas():
    distribution = distribute.Distribution("mirrored", num_replicas=4)
    assert distribution.global_batch_size(16) == 64


@pytest.mark.skipif(BACKEND == "tensorflow", reason="TensorFlow has these strategies")
@pytest.mark.parametrize("strategy", ["mirrored", "multiworker"])
def test_tensorflow_strategies_fail_clearly_elsewhere(strategy):
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow|TensorFlow's"):
        distribute.get_distribution(strategy)


@pytest.mark.skipif(BACKEND == "jax", reason="JAX has DataParallel")
def test_dataparallel_fails_clearly_off_jax():
    with pytest.raises(ValueError, match="jax|JAX"):
        distribute.get_distribution("dataparallel")


@pytest.mark.skipif(BACKEND != "torch", reason="torch-specific limitation")
def test_torch_refuses_several_devices_instead_of_ignoring_them():
    with pytest.raises(ValueError, match="one device"):
        distribute.use_cpu_devices(2)
    with pytest.raises(ValueError, match="one device.*2 devices were asked for"):
        distribute.get_distribution("auto", devices=2)
    distribute.use_cpu_devices(1)
    assert distribute.get_distribution("auto", devices=1).name == "none"


def test_device_count_must_be_positive_and_one_for_strategy_none():
    with pytest.raises(ValueError, match="at least 1"):
        distribute.get_distribution("auto", devices=0)
    with pytest.raises(ValueError, match="strategy 'none' trains on one device|one device"):
        distribute.get_distribution("none", devices=2)


@pytest.mark.skipif(BACKEND == "torch", reason="torch refuses before looking at devices")
def test_more_devices_than_started_says_to_split_the_cpu_first():
    keras.ops.convert_to_numpy(keras.ops.ones((1,)))  # the backend has started its devices
    with pytest.raises(ValueError, match=r"8 devices asked for.*use_cpu_devices\(8\)"):
        distribute.get_distribution("auto", devices=8)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TF_CONFIG is TensorFlow's")
def test_multiworker_takes_every_local_device_not_a_count(monkeypatch):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"index": 0}}))
    with pytest.raises(ValueError, match="every local GPU.*CUDA_VISIBLE_DEVICES"):
        distribute.get_distribution("multiworker", devices=2)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TF_CONFIG is TensorFlow's")
def test_multiworker_without_tf_config_says_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.get_distribution("multiworker")


def test_sync_batchnorm_is_tensorflow_only_or_marks_every_bn():
    import keras_resnet

    model = keras_resnet.ResNet20(num_classes=3, input_shape=(32, 32, 3))
    if BACKEND != "tensorflow":
        with pytest.raises(ValueError, match="TensorFlow"):
            distribute.synchronize_batchnorm(model)
        return
    distribute.synchronize_batchnorm(model)
    norms = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(norms) == 19 and all(layer.synchronized for layer in norms)


def _start(backend, *args, tf_config=None, tmpdir=None, script=None, smoke=False):
    """Starts ``script`` (the test job) in a fresh process; TF_CONFIG only when given."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if smoke:
        env["KERAS_RESNET_SMOKE"] = "1"
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.Popen(
        [sys.executable, script or JOB, *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(processes):
    """Waits for every process within TIMEOUT; kills them all if one hangs."""
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=TIMEOUT)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return outputs


def _result(log):
    """The ``RESULT {json}`` line a train job prints."""
    lines = [line for line in log.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, log[-3000:]
    return json.loads(lines[0][len("RESULT ") :])


def _weights(path):
    with np.load(path) as archive:
        return [archive[key] for key in archive.files]


def _assert_same_weights(path_a, path_b):
    a, b = _weights(path_a), _weights(path_b)
    assert len(a) == len(b) > 10
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, atol=2e-5, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("backend, strategy", [("tensorflow", "mirrored"), ("jax", "dataparallel")])
def test_two_devices_end_with_the_weights_of_one(tmp_path, backend, strategy):
    (one_log,) = _finish([one := _start(backend, "steps", "none", 1, tmp_path / "one.npz")])
    assert one.returncode == 0, one_log
    (two_log,) = _finish([two := _start(backend, "steps", strategy, 2, tmp_path / "two.npz")])
    assert two.returncode == 0, two_log
    assert f"distribution: {strategy}, 2 replicas" in two_log
    _assert_same_weights(tmp_path / "one.npz", tmp_path / "two.npz")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _run_workers(args_of, tmpdirs=(None, None), attempts=2):
    """Runs two TF_CONFIG workers on 127.0.0.1; returns their processes and logs.

    A port found free can be taken by another program before TensorFlow binds it:
    then the cluster is started again on new ports.
    """
    for _ in range(attempts):
        cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
        workers = [
            _start(
                "tensorflow",
                *args_of(index),
                tf_config={"cluster": cluster, "task": {"type": "worker", "index": index}},
                tmpdir=tmpdirs[index],
            )
            for index in range(2)
        ]
        logs = _finish(workers)
        if not any("Address already in use" in log for log in logs):
            break
    return workers, logs


def _worker_folders(tmpdir):
    return sorted(path.name for path in tmpdir.iterdir() if path.name.startswith("keras-resnet"))


@pytest.mark.slow
def test_two_workers_end_with_the_weights_of_one_device(tmp_path):
    (one_log,) = _finish([one := _start("tensorflow", "steps", "none", 1, tmp_path / "one.npz")])
    assert one.returncode == 0, one_log
    workers, logs = _run_workers(
        lambda index: ("steps", "multiworker", 1, tmp_path / f"worker{index}.npz")
    )
    for process, log in zip(workers, logs, strict=True):
        assert process.returncode == 0, log
        assert "distribution: multiworker, 2 replicas" in log
    _assert_same_weights(tmp_path / "one.npz", tmp_path / "worker0.npz")
    assert not (tmp_path / "worker1.npz").exists(), "only the chief writes results"


@pytest.mark.slow
def test_two_workers_train_and_only_the_chief_writes_a_run_folder(tmp_path):
    tmpdirs = [tmp_path / "tmp0", tmp_path / "tmp1"]
    for folder in tmpdirs:
        folder.mkdir()
    # Each worker is told its own output, to see which of them writes there.
    workers, logs = _run_workers(
        lambda index: ("train", "multiworker", 0, tmp_path / f"out{index}", "--epochs", 2),
        tmpdirs,
    )
    for process, log in zip(workers, logs, strict=True):
        assert process.returncode == 0, log
    chief, worker = (_result(log) for log in logs)
    assert chief["is_chief"] and not worker["is_chief"]
    for report in (chief, worker):
        assert report["strategy"] == "multiworker" and report["num_replicas"] == 2
        assert report["batch_size"] == 8  # 4 per replica
        assert report["epochs_run"] == 2
    # Both workers took the same steps: each step is one global batch of both.
    assert chief["optimizer_steps"] == worker["optimizer_steps"] == 2 * 6
    run_dir = tmp_path / "out0" / "run"
    for name in ("model.keras", "best.keras", "metrics.json", "training_curves.png"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "backup").exists()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["strategy"] == "multiworker" and metrics["evaluated_on"] == "validation"
    assert metrics["validation_num_examples"] == 15  # every held-out image
    assert not (tmp_path / "out1").exists(), "the worker wrote into its output folder"
    assert worker["run_dir"] == str(tmp_path / "out1" / "run")
    assert _worker_folders(tmpdirs[1]) == [], "the worker's temporary folder is left"
    from keras_resnet import saving

    model, metadata = saving.load_model(run_dir / "model.keras", compile=False)
    assert metadata["class_names"] == ["0", "1", "2"] and model.output_shape == (None, 3)


@pytest.mark.slow
def test_a_dead_worker_fails_the_run_and_both_resume_from_the_chiefs_backup(tmp_path):
    from keras_resnet import saving

    output = tmp_path / "out"
    tmpdirs = [tmp_path / "tmp0", tmp_path / "tmp1"]
    for folder in tmpdirs:
        folder.mkdir()

    def args_of(index):
        dies = ("--die-at-epoch", 2) if index == 1 else ()
        return ("train", "multiworker", 0, output, "--epochs", 3, *dies)

    (chief, dead), logs = _run_workers(args_of, tmpdirs)
    assert dead.returncode == 17
    assert chief.returncode != 0, "the surviving worker must fail, not finish alone"
    assert "unhealthy" in logs[0] or "Unavailable" in logs[0], logs[0][-2000:]
    run_dir = output / "run"
    # The checkpoint of epoch 1 is whole: saves are atomic, and only the chief's.
    model, metadata = saving.load_model(run_dir / "best.keras")
    assert model.output_shape == (None, 3) and metadata["epoch"] == 1
    assert json.loads((run_dir / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert not (run_dir / "model.keras").exists()

    # The dead worker could not clean up; the resumed one must.
    tmpdirs = [tmp_path / "resume-tmp0", tmp_path / "resume-tmp1"]
    for folder in tmpdirs:
        folder.mkdir()
    workers, logs = _run_workers(
        lambda index: ("train", "multiworker", 0, output, "--epochs", 3, "--resume"), tmpdirs
    )
    for process, log in zip(workers, logs, strict=True):
        assert process.returncode == 0, log
    chief, worker = (_result(log) for log in logs)
    for report in (chief, worker):
        assert report["resumed_from_epoch"] == 1 and report["epochs_run"] == 3
        assert report["optimizer_steps"] == 3 * 6  # epoch 1's steps were restored
    assert chief["history_epochs"] == 3
    assert not (run_dir / "backup").exists()
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == 3
    assert _worker_folders(tmpdirs[1]) == [], "the worker's temporary folder is left"


@pytest.mark.slow
def test_mirrored_run_resumes_after_an_interrupt(tmp_path):
    args = ("train", "mirrored", 2, tmp_path, "--epochs", 3, "--interrupt-after-epoch", 1)
    (log,) = _finish([job := _start("tensorflow", *args)])
    assert job.returncode == 0, log
    assert "interrupted" in log
    report = _result(log)
    assert report["strategy"] == "mirrored" and report["num_replicas"] == 2
    assert report["resumed_from_epoch"] == 1 and report["epochs_run"] == 3
    assert report["optimizer_steps"] == 3 * 6
    rows = (tmp_path / "run" / "training_log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1", "2"]
    assert not (tmp_path / "run" / "backup").exists()


EXAMPLE = str(Path(__file__).parents[1] / "examples" / "distributed_training.py")


def _example(backend, *args, tmpdir=None):
    """The example in its smoke size: one epoch at 8x8."""
    return _start(backend, *args, tmpdir=tmpdir, script=EXAMPLE, smoke=True)


@pytest.mark.slow
def test_example_trains_on_the_cpu_split_in_two(tmp_path):
    (log,) = _finish([job := _example("tensorflow", "--devices", 2, "--output", tmp_path)])
    assert job.returncode == 0, log[-3000:]
    assert "mirrored on 2 replica(s), global batch 128: test accuracy" in log
    metrics = json.loads((tmp_path / "distributed-digits" / "metrics.json").read_text())
    assert metrics["num_replicas"] == 2 and metrics["test_num_examples"] == 359


@pytest.mark.slow
def test_example_trains_jax_on_two_processes_through_a_coordinator(tmp_path):
    (port,) = _free_ports(1)
    tmpdirs = [tmp_path / "tmp0", tmp_path / "tmp1"]
    processes = []
    for index, tmpdir in enumerate(tmpdirs):
        tmpdir.mkdir()
        coordinator = ("--coordinator", f"127.0.0.1:{port}", "--num-processes", 2)
        args = (*coordinator, "--process-id", index, "--output", tmp_path / f"out{index}")
        processes.append(_example("jax", *args, tmpdir=tmpdir))
    logs = _finish(processes)
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, log[-3000:]
        assert "distribution: dataparallel, 2 replicas" in log
    assert "dataparallel on 2 replica(s), global batch 128: test accuracy" in logs[0]
    assert "worker done" in logs[1]
    assert (tmp_path / "out0" / "distributed-digits" / "model.keras").is_file()
    assert not (tmp_path / "out1").exists()
    assert _worker_folders(tmpdirs[1]) == []
