"""Strategy choice, and multi-device training proven equal to one device.

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
    distribute.use_cpu_devices(1)


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


def _run_job(tmp_path, backend, strategy, devices, name, extra_env=None, extra_args=()):
    out = tmp_path / f"{name}.npz"
    env = {**os.environ, "KERAS_BACKEND": backend, **(extra_env or {})}
    env.pop("TF_CONFIG", None) if "TF_CONFIG" not in (extra_env or {}) else None
    return subprocess.Popen(
        [sys.executable, JOB, strategy, str(devices), str(out), *extra_args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ), out


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
    one, one_out = _run_job(tmp_path, backend, "none", 1, "one")
    (one_log,) = _finish([one])
    assert one.returncode == 0, one_log
    two, two_out = _run_job(tmp_path, backend, strategy, 2, "two")
    (two_log,) = _finish([two])
    assert two.returncode == 0, two_log
    assert f"distribution: {strategy}, 2 replicas" in two_log
    _assert_same_weights(one_out, two_out)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _start_workers(tmp_path, extra_args_of):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(
            _run_job(
                tmp_path,
                "tensorflow",
                "multiworker",
                1,
                f"worker{index}",
                extra_env={"TF_CONFIG": tf_config},
                extra_args=extra_args_of(index),
            )
        )
    return workers


@pytest.mark.slow
def test_two_workers_end_with_the_weights_of_one_device(tmp_path):
    one, one_out = _run_job(tmp_path, "tensorflow", "none", 1, "one")
    (one_log,) = _finish([one])
    assert one.returncode == 0, one_log
    workers = _start_workers(tmp_path, lambda index: ())
    logs = _finish([process for process, _ in workers])
    for (process, _), log in zip(workers, logs, strict=True):
        assert process.returncode == 0, log
        assert "distribution: multiworker, 2 replicas" in log
    _assert_same_weights(one_out, workers[0][1])
    assert not workers[1][1].exists(), "only the chief writes results"


@pytest.mark.slow
def test_a_dead_worker_fails_the_run_and_leaves_a_loadable_checkpoint(tmp_path):
    checkpoint = tmp_path / "last.keras"

    def args_of(index):
        dies = ("--die-after-batch", "2") if index == 1 else ()
        return ("--checkpoint", str(checkpoint), *dies)

    workers = _start_workers(tmp_path, args_of)
    logs = _finish([process for process, _ in workers])
    chief, dead = (process for process, _ in workers)
    assert dead.returncode == 17
    assert chief.returncode != 0, "the surviving worker must fail, not finish alone"
    assert "unhealthy" in logs[0] or "Unavailable" in logs[0], logs[0][-2000:]
    import keras_resnet  # noqa: F401  (registers the layers the checkpoint uses)

    model = keras.saving.load_model(checkpoint)
    assert model.output_shape == (None, 4)
