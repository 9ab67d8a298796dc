"""Saving trained models with what a user needs to use them: class names, image size.

A ``.keras`` file is a zip archive. Keras reads only the members it wrote
(``config.json``, ``metadata.json``, ``model.weights.h5``, ``assets/``), so the
metadata travels inside the same file as one more member, ``keras_resnet.json``.
The file still loads with plain ``keras.saving.load_model`` on every backend; this
module's :func:`load_model` also returns the metadata.

Writes are atomic: the model goes to a temporary file in the destination folder
and is then renamed over the destination, so a crash or a full disk never leaves a
half-written model where a good one was.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from typing import Any

import keras

METADATA_MEMBER = "keras_resnet.json"


def save_model(
    model: keras.Model,
    path: str | os.PathLike,
    class_names: Sequence[str] | None = None,
    **metadata: Any,
) -> str:
    """Saves a model and its metadata to a ``.keras`` file, atomically.

    Args:
        model: the model to save.
        path: destination; must end in ``.keras``. Missing folders are created.
        class_names: the label of each output unit, in order.
        **metadata: further JSON-serialisable facts, e.g. ``image_size=(32, 32)`` or
            ``model_name="ResNet20"``.

    Returns:
        The path written, as a string.

    Raises:
        ValueError: if the path does not end in ``.keras``, ``class_names`` does not
            match the model's outputs, or the metadata is not JSON-serialisable.

    Example:
        >>> save_model(model, "saved_models/digits.keras", class_names=list("0123456789"))
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"Model path must end in '.keras', got {path!r}.")
    record = dict(metadata)
    if class_names is not None:
        class_names = [str(name) for name in class_names]
        outputs = model.output_shape[-1] if model.outputs else None
        if outputs is not None and outputs != len(class_names):
            raise ValueError(
                f"{len(class_names)} class names for a model with {outputs} outputs: "
                "give one name per output unit."
            )
        record["class_names"] = class_names
    try:
        payload = json.dumps(record, indent=2, default=_json_default)
    except TypeError as error:
        raise ValueError(f"Metadata must be JSON-serialisable: {error}.") from error

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)

    def write(temporary: str) -> None:
        model.save(temporary, overwrite=True)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(METADATA_MEMBER, payload)

    _write_atomically(path, write)
    return path


def load_model(path: str | os.PathLike, compile: bool = True) -> tuple[keras.Model, dict]:
    """Loads a ``.keras`` model and the metadata saved with it.

    Args:
        path: a file written by :func:`save_model` or by ``model.save``
            (the metadata is then an empty dict).
        compile: restore the optimizer, loss and metrics too. Loading for
            inference is faster and more tolerant with ``compile=False``.

    Returns:
        ``(model, metadata)``; ``metadata`` holds ``class_names`` when they were saved.

    Raises:
        FileNotFoundError: if there is no file at ``path``.
        ValueError: if the file is not a readable Keras model.

    Example:
        >>> model, metadata = load_model("saved_models/resnet20-digits/model.keras")
        >>> metadata["class_names"][:3]
        ['0', '1', '2']
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    if os.path.isdir(path) or not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path!r} is not a Keras model file (expected a .keras zip archive, "
            "as written by model.save or keras-resnet train)."
        )
    metadata = read_metadata(path)
    try:
        model = keras.saving.load_model(path, compile=compile)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"Could not load the model in {path!r}: {error}") from error
    return model, metadata


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata stored in a ``.keras`` file, without loading the model.

    Args:
        path: a ``.keras`` file.

    Returns:
        The metadata dict; empty for a file saved without metadata.

    Raises:
        ValueError: if the file is not a zip archive or its metadata is not JSON.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_MEMBER not in archive.namelist():
                return {}
            return json.loads(archive.read(METADATA_MEMBER))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"Could not read the metadata of {path!r}: {error}") from error


def write_json(path: str | os.PathLike, value: Any) -> str:
    """Writes ``value`` as indented JSON, atomically (used for ``metrics.json``)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = json.dumps(value, indent=2, default=_json_default)

    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(payload + "\n")

    _write_atomically(path, write)
    return path


def save_figure(figure, path: str | os.PathLike) -> str:
    """Saves a matplotlib figure atomically (format from the suffix) and closes it.

    Args:
        figure: the figure to save.
        path: where to write it, e.g. ``training_curves.png``.

    Returns:
        The path written.
    """
    import matplotlib.pyplot as plt

    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=100))
    plt.close(figure)
    return path


def _write_atomically(path: str, write) -> None:
    """Calls ``write(temporary_path)``, then renames the result over ``path``.

    The temporary file sits in the destination folder because ``os.replace`` is only
    atomic within one file system; it keeps the destination's suffix because
    ``model.save`` chooses the format from it.
    """
    folder, name = os.path.split(os.path.abspath(path))
    suffix = os.path.splitext(name)[1]
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(descriptor)
    try:
        write(temporary)
        # mkstemp makes the file private (0600); give it the mode open() would have.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    except BaseException:
        # BaseException too: an interrupt while saving must not leave debris behind.
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays, tuples-as-lists: what metrics and shapes usually hold.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
