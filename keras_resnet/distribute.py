"""Pick how to spread training over devices, for the active Keras backend.

* TensorFlow: ``MirroredStrategy`` over the visible GPUs (or the devices asked for),
  ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers, the
  default strategy on one device.
* JAX: ``keras.distribution.DataParallel`` over all devices; several processes once
  ``jax.distributed`` is initialised (``initialize_multi_process``).
* torch: one device. Asking for more is a clear error, never a silent fallback.

On a machine without GPUs, ``use_cpu_devices(n)`` splits the CPU into ``n``
logical devices (TensorFlow) or ``n`` XLA host devices (JAX), so multi-device
training can be tried on a laptop. It must run before the backend touches a device;
``get_distribution(devices=n)`` calls it where there are no GPUs, so call that first.
Importing Keras (and keras_resnet) touches no device.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from keras_resnet import compat

STRATEGIES = ("auto", "mirrored", "multiworker", "dataparallel", "none")


@dataclass
class Distribution:
    """The chosen way to train: what to enter around model building and fitting.

    Attributes:
        name: ``"mirrored"``, ``"multiworker"``, ``"dataparallel"`` or ``"none"``.
        num_replicas: devices that each take a slice of every global batch.
        is_chief: whether this process writes checkpoints and models.
        strategy: the ``tf.distribute.Strategy`` (TensorFlow backend), else None.
        distribution: the ``keras.distribution.Distribution`` (JAX), else None.
    """

    name: str
    num_replicas: int = 1
    is_chief: bool = True
    strategy: Any = None
    distribution: Any = None
    devices: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def scope(self):
        """Build and compile models inside this: variables land on every replica."""
        if self.strategy is not None:
            with self.strategy.scope():
                yield
        elif self.distribution is not None:
            with self.distribution.scope():
                yield
        else:
            yield

    @contextlib.contextmanager
    def fitting(self, model: keras.Model):
        """Enter around ``model.fit``: the scope, plus Keras's multi-worker workarounds.

        Args:
            model: the compiled model about to be fitted.

        Example:
            >>> with distribution.fitting(model):
            ...     model.fit(dataset, epochs=3)
        """
        with self.scope():
            if self.name == "multiworker":
                with compat.multiworker_fit(model, self.strategy):
                    yield
            else:
                yield

    def global_batch_size(self, per_replica_batch_size: int) -> int:
        """Each replica takes ``per_replica_batch_size`` images of every global batch."""
        return per_replica_batch_size * self.num_replicas

    def describe(self) -> str:
        """One line for the training log: the strategy and its replicas."""
        where = f" on {', '.join(self.devices)}" if self.devices else ""
        return (
            f"distribution: {self.name}, {self.num_replicas} replica"
            f"{'s' if self.num_replicas != 1 else ''}{where} "
            f"(backend {keras.backend.backend()})"
        )


def use_cpu_devices(count: int) -> None:
    """Splits the CPU into ``count`` devices, to try multi-device training without GPUs.

    Call it first thing, before any model or tensor is made: backends fix their
    device list when they first use a device.

    Args:
        count: number of CPU devices wanted, at least 1.

    Raises:
        ValueError: on the torch backend, for ``count < 1``, or when the backend has
            already fixed its devices.

    Example:
        >>> use_cpu_devices(2)
        >>> get_distribution("auto").num_replicas   # 2
    """
    if count < 1:
        raise ValueError(f"--devices must be at least 1, got {count}.")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
        except RuntimeError as error:
            if len(tf.config.list_logical_devices("CPU")) == count:
                return
            raise ValueError(
                "TensorFlow has already started its devices; call use_cpu_devices "
                "before building any model or tensor."
            ) from error
    elif backend == "jax":
        import jax

        try:
            jax.config.update("jax_num_cpu_devices", count)
        except AttributeError:
            # JAX releases without that option read the count from XLA_FLAGS when
            # their CPU backend starts.
            flags = os.environ.get("XLA_FLAGS", "")
            os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}"
        except RuntimeError as error:
            if len(jax.devices("cpu")) == count:
                return
            raise ValueError(
                "JAX has already started its devices; call use_cpu_devices before "
                "building any model or tensor."
            ) from error
    elif count > 1:
        raise ValueError(
            "The torch backend trains on one device in keras_resnet; use "
            "KERAS_BACKEND=tensorflow or jax for several devices."
        )


def get_distribution(
    strategy: str = "auto", devices: int | Sequence[str] | None = None
) -> Distribution:
    """Chooses the distribution for the active backend and the visible devices.

    Args:
        strategy: ``"auto"`` (the best for the backend and devices), ``"mirrored"``
            (TensorFlow, one host), ``"multiworker"`` (TensorFlow, hosts named in
            TF_CONFIG), ``"dataparallel"`` (JAX) or ``"none"``.
        devices: how many devices to train on (the first ``devices`` GPUs; on a
            machine without GPUs the CPU is split into that many devices, see
            :func:`use_cpu_devices`), or their names (e.g. ``["GPU:0", "GPU:1"]``);
            None takes every GPU, else the CPU.

    Returns:
        A :class:`Distribution`.

    Raises:
        ValueError: for a strategy unknown or not available on the backend, more
            devices than the machine has, or several devices on the torch backend.

    Example:
        >>> distribution = get_distribution(devices=2)
        >>> with distribution.scope():
        ...     model = keras_resnet.ResNet18(num_classes=10)
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}.")
    if isinstance(devices, int) and devices < 1:
        raise ValueError(f"devices must be at least 1, got {devices}.")
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        if strategy not in ("auto", "none"):
            raise ValueError(
                f"strategy {strategy!r} is not available on the {backend} backend: "
                "keras_resnet trains on one device there. Use KERAS_BACKEND=tensorflow "
                "(mirrored, multiworker) or KERAS_BACKEND=jax (dataparallel) for several "
                "devices."
            )
        if devices is not None and _device_count(devices) > 1:
            raise ValueError(
                f"The {backend} backend trains on one device in keras_resnet, but "
                f"{_device_count(devices)} devices were asked for. Use "
                "KERAS_BACKEND=tensorflow or jax for several devices."
            )
        return Distribution("none")
    if strategy == "none":
        if devices is not None and _device_count(devices) > 1:
            raise ValueError(
                f"strategy 'none' trains on one device, but {_device_count(devices)} "
                "devices were asked for: use strategy 'auto'."
            )
        return Distribution("none")
    if backend == "tensorflow":
        return _tensorflow_distribution(strategy, devices)
    return _jax_distribution(strategy, devices)


def _device_count(devices: int | Sequence[str]) -> int:
    return devices if isinstance(devices, int) else len(devices)


def _workers_in_tf_config() -> int:
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    return len(config.get("cluster", {}).get("worker", []))


def _tensorflow_distribution(strategy, devices):
    import tensorflow as tf

    if strategy == "dataparallel":
        raise ValueError(
            "strategy 'dataparallel' is the JAX backend's; on TensorFlow use 'mirrored' "
            "(one host) or 'multiworker' (several)."
        )
    workers = _workers_in_tf_config()
    if strategy == "multiworker" or (strategy == "auto" and workers > 1):
        if workers < 1:
            raise ValueError(
                "strategy 'multiworker' needs TF_CONFIG naming the workers, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}.'
            )
        local = len(tf.config.list_physical_devices("GPU")) or 1
        if devices is not None and _device_count(devices) != local:
            raise ValueError(
                f"strategy 'multiworker' trains on every local GPU of each worker ({local} "
                f"here{'' if local > 1 else ', or its CPU'}), not on {_device_count(devices)}: "
                "choose the GPUs with CUDA_VISIBLE_DEVICES instead."
            )
        tf_strategy = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = tf_strategy.cluster_resolver
        is_chief = resolver.task_type in (None, "chief") or (
            resolver.task_type == "worker" and resolver.task_id == 0
        )
        return Distribution(
            "multiworker", tf_strategy.num_replicas_in_sync, is_chief, strategy=tf_strategy
        )
    if isinstance(devices, int):
        devices = _tensorflow_devices(devices)
    elif devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        logical = gpus or tf.config.list_logical_devices("CPU")
        devices = [device.name for device in logical]
    if strategy == "auto" and len(devices) < 2:
        return Distribution("none", devices=list(devices))
    tf_strategy = tf.distribute.MirroredStrategy(list(devices))
    return Distribution(
        "mirrored", tf_strategy.num_replicas_in_sync, strategy=tf_strategy, devices=list(devices)
    )


def _tensorflow_devices(count: int) -> list[str]:
    """The first ``count`` GPUs, or ``count`` CPU devices split from the CPU."""
    import tensorflow as tf

    kind = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    if kind == "CPU":
        with contextlib.suppress(ValueError):  # started already: the check below says so
            use_cpu_devices(count)
    logical = [device.name for device in tf.config.list_logical_devices(kind)]
    if len(logical) < count:
        raise ValueError(
            f"{count} devices asked for, but TensorFlow has {len(logical)} {kind} "
            f"device{'s' if len(logical) != 1 else ''}"
            + (
                " and started before the CPU could be split: call "
                f"keras_resnet.distribute.use_cpu_devices({count}) before building any "
                "model or tensor."
                if kind == "CPU"
                else "."
            )
        )
    return logical[:count]


def _jax_distribution(strategy, devices):
    if strategy in ("mirrored", "multiworker"):
        raise ValueError(
            f"strategy {strategy!r} is TensorFlow's; on JAX use 'dataparallel' (several "
            "processes once jax.distributed is initialised)."
        )
    import jax

    if isinstance(devices, int):
        devices = _jax_devices(devices)
    devices = list(devices or keras.distribution.list_devices())
    if strategy == "auto" and len(devices) < 2:
        return Distribution("none", devices=devices)
    distribution = keras.distribution.DataParallel(devices=devices)
    return Distribution(
        "dataparallel",
        len(devices),
        is_chief=jax.process_index() == 0,
        distribution=distribution,
        devices=devices,
    )


def _jax_devices(count: int) -> list[str]:
    """``count`` devices of each process: GPUs, or host devices split from the CPU."""
    import jax

    # Only the CPU platform reads this count, so it is harmless where GPUs train.
    with contextlib.suppress(ValueError):  # started already: the check below says so
        use_cpu_devices(count)
    local = jax.local_devices()
    if len(local) < count:
        raise ValueError(
            f"{count} devices asked for, but JAX has {len(local)} "
            f"{local[0].platform.upper()} device{'s' if len(local) != 1 else ''}"
            + (
                " and started before the CPU could be split: call "
                f"keras_resnet.distribute.use_cpu_devices({count}) before building any "
                "model or tensor."
                if local[0].platform == "cpu"
                else "."
            )
        )
    if jax.process_count() > 1:
        if len(local) != count:
            raise ValueError(
                f"In a multi-process run every process trains on all its {len(local)} "
                f"devices, not {count}: choose GPUs with CUDA_VISIBLE_DEVICES instead."
            )
        return keras.distribution.list_devices()
    return keras.distribution.list_devices()[:count]


def initialize_multi_process(coordinator_address: str, num_processes: int, process_id: int):
    """Joins a multi-process JAX run; call it in every process before anything else.

    Unless a Keras seed is set, Keras seeds every process alike here, which starts
    JAX's devices: to split the CPU of each process, call :func:`use_cpu_devices`
    before this.

    Args:
        coordinator_address: ``host:port`` of process 0.
        num_processes: processes in the run.
        process_id: this process's index, 0 for the chief.

    Raises:
        ValueError: on a backend other than JAX.

    Example:
        >>> initialize_multi_process("10.0.0.1:1234", num_processes=2, process_id=0)
        >>> get_distribution("dataparallel").num_replicas   # the devices of both
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            "initialize_multi_process is for the JAX backend; TensorFlow reads TF_CONFIG."
        )
    keras.distribution.initialize(
        job_addresses=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def synchronize_batchnorm(model: keras.Model) -> keras.Model:
    """Makes every BatchNormalization of ``model`` average its statistics over replicas.

    With small per-replica batches, per-replica statistics are noisy; synchronised
    BN computes them over the global batch, as one device would. It takes effect on
    the TensorFlow backend under a ``tf.distribute`` strategy; JAX's DataParallel
    already computes them over the global batch. Call it before ``compile``.

    Args:
        model: the model to change in place.

    Returns:
        The same model.

    Raises:
        ValueError: on a backend other than TensorFlow.

    Example:
        >>> with distribution.scope():
        ...     model = synchronize_batchnorm(keras_resnet.ResNet50(num_classes=5))
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "sync_batchnorm applies to the TensorFlow backend; JAX's DataParallel already "
            "normalises over the global batch, and torch trains on one device."
        )
    for layer in compat.flatten_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
    return model
