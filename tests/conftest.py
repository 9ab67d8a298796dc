"""Fixtures and helpers shared by the test modules.

Every test runs on the backend named by ``KERAS_BACKEND``; CI runs the suite once per
backend (tensorflow, jax, torch).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import keras
import numpy as np
import pytest

_JAX_CACHE = "KERAS_RESNET_TEST_JAX_CACHE"


def pytest_configure(config):
    """On JAX, compiled programs go to one cache on disk shared by every test process.

    Many tests build the same tiny models, and each new model compiles its steps again;
    XLA's compile is most of a JAX test's time. The cache starts empty every run: the
    first process makes the folder and removes it at the end, and pytest-xdist's workers,
    started later, inherit its path through the environment. A folder named in
    ``KERAS_RESNET_TEST_JAX_CACHE`` beforehand is used and kept, to reuse between runs.
    """
    if keras.backend.backend() != "jax":
        return
    import jax

    if _JAX_CACHE not in os.environ:
        os.environ[_JAX_CACHE] = tempfile.mkdtemp(prefix="keras-resnet-jax-cache-")
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop(_JAX_CACHE), True))
    jax.config.update("jax_compilation_cache_dir", os.environ[_JAX_CACHE])
    # Every program, however small or quick to compile: the tests' models are tiny.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


@pytest.fixture(autouse=True)
def _seeded_and_float32():
    """Each test starts seeded under the float32 policy, whatever the test before did."""
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


def to_numpy(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def trainable_count(model_or_layer) -> int:
    """Trainable parameters, as torchvision counts them (no BN moving statistics)."""
    return sum(int(np.prod(w.shape)) for w in model_or_layer.trainable_weights)


def sublayers(layer) -> dict:
    """The layers nested inside ``layer`` by name (a block's ``conv1``, ``bn1``, ...)."""
    return {sub.name: sub for sub in layer._flatten_layers(include_self=False)}


def random_images(batch, size, channels=3, seed=0, data_format="channels_last") -> np.ndarray:
    """Raw pixels in [0, 255], as the models take them by default."""
    shape = (batch, size, size, channels)
    if data_format == "channels_first":
        shape = (batch, channels, size, size)
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# What a finished training run leaves in its folder.
RUN_FILES = (
    "model.keras",
    "best.keras",
    "metrics.json",
    "training_curves.png",
    "confusion_matrix.png",
    "class_names.txt",
    "training_log.csv",
)


def assert_run_folder_is_complete(run_dir) -> None:
    """Every file of a finished run is there, and the plots are PNG images."""
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    for png in ("training_curves.png", "confusion_matrix.png"):
        assert (run_dir / png).read_bytes()[:8] == PNG_MAGIC
