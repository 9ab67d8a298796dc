"""Fixtures and helpers shared by the test modules.

Every test runs on the backend named by ``KERAS_BACKEND``; CI runs the suite once per
backend (tensorflow, jax, torch).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest


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
