"""Writing the library's files atomically, and the metadata saved with a model.

A ``.keras`` file is a zip archive. Keras reads only the members it wrote
(``config.json``, ``metadata.json``, ``model.weights.h5``, ``assets/``), so the
metadata travels inside the same file as one more member, ``keras_resnet.json``:
class names, image size, and the keras_resnet release that saved it. The file still
loads with plain ``keras.saving.load_model`` on every backend; this module's
:func:`load_model` also returns the metadata. Exported artifacts keep the same kind
of record (see :mod:`keras_resnet.export`), and :func:`read_metadata` reads it from
any of them.

The files the library writes (models, exported artifacts, ``metrics.json``, figures)
go through :func:`write_atomically`: a crash or a full disk never leaves a
half-written file where a good one was.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

import keras
from packaging.version import InvalidVersion, Version

from keras_resnet.version import __version__

METADATA_MEMBER = "keras_resnet.json"
# Where an exported SavedModel folder and an ONNX file keep the same record.
SAVEDMODEL_METADATA = os.path.join("assets.extra", "keras_resnet.json")
ONNX_METADATA_KEY = "keras_resnet"
# The metadata key of the keras_resnet release that saved a model.
VERSION_KEY = "keras_resnet_version"
UPGRADE_COMMAND = "pip install --upgrade keras3-resnet"


def save_model(
    model: keras.Model,
    path: str | os.PathLike,
    class_names: Sequence[str] | None = None,
    **metadata: Any,
) -> str:
    """Saves a model and its metadata to a ``.keras`` file, atomically.

    The metadata also records the keras_resnet release that saved the file
    (``keras_resnet_version``), so that an older release can tell a user to upgrade.

    Args:
        model: the model to save.
        path: destination; must end in ``.keras``. Missing folders are created.
        class_names: the label of each output unit, in order.
        **metadata: further JSON-serialisable facts, e.g. ``image_size=(32, 32)`` or
            ``model_name="ResNet20"``. NaN and infinities are saved as null.

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
    # Last, so that metadata copied from an older file cannot carry its release over.
    record[VERSION_KEY] = __version__
    try:
        payload = _to_json(record)
    except TypeError as error:
        raise ValueError(f"Metadata must be JSON-serialisable: {error}.") from error

    def write(temporary: str) -> None:
        model.save(temporary, overwrite=True)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(METADATA_MEMBER, payload)

    write_atomically(path, write)
    return path


def load_model(path: str | os.PathLike, compile: bool = True) -> tuple[keras.Model, dict]:
    """Loads a ``.keras`` model and the metadata saved with it.

    A file saved by a newer keras_resnet release than the one installed loads with a
    warning that names both releases and says how to upgrade; if it fails to load,
    the error says the same.

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
    newer = _newer_release_note(path, metadata)
    if newer:
        warnings.warn(newer, stacklevel=2)
    try:
        model = keras.saving.load_model(path, compile=compile)
    except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as error:
        message = f"Could not load the model in {path!r}: {error}"
        raise ValueError(f"{message} {newer}" if newer else message) from error
    return model, metadata


def load_model_and_metadata(
    model_or_path: keras.Model | str | os.PathLike,
) -> tuple[keras.Model, dict]:
    """A model and its saved metadata, from a model or from a ``.keras`` file.

    What the commands that take either (evaluate, predict, export) start with. A file
    is loaded for inference (``compile=False``).

    Args:
        model_or_path: a ``keras.Model`` (its metadata is then an empty dict), or the
            path of a ``.keras`` file.

    Returns:
        ``(model, metadata)``, as :func:`load_model` gives them.

    Raises:
        TypeError: if ``model_or_path`` is neither a model nor a path.
        FileNotFoundError: if there is no file at the path.
        ValueError: if the file is not a readable Keras model.

    Example:
        >>> model, metadata = load_model_and_metadata("saved_models/run/model.keras")
        >>> metadata.get("image_size")
        [16, 16]
    """
    if isinstance(model_or_path, keras.Model):
        return model_or_path, {}
    if isinstance(model_or_path, str | os.PathLike):
        return load_model(model_or_path, compile=False)
    raise TypeError(
        f"Expected a keras.Model or the path of a .keras file, got {type(model_or_path).__name__}."
    )


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata saved with a model or an exported artifact, without loading it.

    Args:
        path: a ``.keras`` file (:func:`save_model`), or an artifact of
            :func:`keras_resnet.export.export_model`: a SavedModel folder or an
            ``.onnx`` file.

    Returns:
        The metadata dict: for a ``.keras`` file what :func:`save_model` stored; for an
        artifact ``input_shape``, ``input_range`` and, where the model was saved with
        them, ``class_names`` and ``model_name``. An empty dict for a file or folder
        saved without metadata, and for a TFLite file (which keeps none).

    Raises:
        ValueError: if a ``.keras`` file is not a zip archive or its metadata is not
            JSON.

    Example:
        >>> read_metadata("saved_models/resnet20-digits/model.keras")["class_names"][:2]
        ['0', '1']
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        record = os.path.join(path, SAVEDMODEL_METADATA)
        if not os.path.exists(record):
            return {}
        with open(record, encoding="utf-8") as file:
            return json.load(file)
    if path.endswith(".onnx"):
        import onnx

        proto = onnx.load(path, load_external_data=False)
        for entry in proto.metadata_props:
            if entry.key == ONNX_METADATA_KEY:
                return json.loads(entry.value)
        return {}
    if path.endswith(".tflite"):
        return {}
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_MEMBER not in archive.namelist():
                return {}
            return json.loads(archive.read(METADATA_MEMBER))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"Could not read the metadata of {path!r}: {error}") from error


def write_json(path: str | os.PathLike, value: Any) -> str:
    """Writes ``value`` as indented JSON, atomically (used for ``metrics.json``).

    NaN and infinities, which JSON cannot hold, are written as ``null``: e.g. the
    final validation loss of a run without validation data.

    Args:
        path: the file to write; missing folders are created.
        value: dicts, lists, tuples, sets, strings, numbers, booleans, None, and
            numpy scalars and arrays.

    Returns:
        The path written.

    Raises:
        TypeError: if ``value`` holds anything else; the file is then left as it was.

    Example:
        >>> write_json("metrics.json", {"test_accuracy": 0.99, "final_val_loss": float("nan")})
    """
    path = os.fspath(path)
    payload = _to_json(value)

    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(payload + "\n")

    write_atomically(path, write)
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
    write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=100))
    plt.close(figure)
    return path


def write_atomically(path: str | os.PathLike, write: Callable[[str], object]) -> str:
    """Calls ``write(temporary)``, then moves the finished file or folder to ``path``.

    ``temporary`` has the same name as ``path`` (so ``model.save`` and ``savefig``
    choose the same format from its suffix) inside a private folder beside ``path``,
    because a rename is atomic only within one file system. A file replaces an old
    file in one rename. An old folder (a SavedModel) is moved aside first, put back
    if the rename fails, and deleted once the new one is in place. Whatever
    ``write`` leaves behind when it raises is deleted, so a failed write keeps the
    previous file and leaves no debris. Missing parent folders are created.

    Args:
        path: the file or folder to write.
        write: writes the new content at the path it is given; may raise.

    Returns:
        ``path``, as a string.

    Example:
        >>> write_atomically("model.keras", model.save)
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    workspace = tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    temporary = os.path.join(workspace, name)
    previous = os.path.join(workspace, "previous")
    try:
        write(temporary)
        # os.replace cannot put a folder over a file or a folder: move the old one aside.
        move_aside = os.path.isdir(temporary) or (os.path.isdir(path) and not os.path.islink(path))
        if move_aside and os.path.lexists(path):
            os.replace(path, previous)
        try:
            os.replace(temporary, path)
        except BaseException:
            if os.path.lexists(previous):
                os.replace(previous, path)
            raise
    finally:
        # BaseException too: an interrupt must not leave a half-written file behind.
        shutil.rmtree(workspace, ignore_errors=True)
    return path


def _newer_release_note(path: str, metadata: dict) -> str | None:
    """What to tell a user whose file was saved by a newer release than the installed one."""
    saved = metadata.get(VERSION_KEY)
    try:
        newer = saved is not None and Version(str(saved)) > Version(__version__)
    except InvalidVersion:
        return None
    if not newer:
        return None
    return (
        f"{path!r} was saved by keras_resnet {saved}, which is newer than the installed "
        f"keras_resnet {__version__}; if the model fails to load or behaves differently, "
        f"upgrade: {UPGRADE_COMMAND}"
    )


def _to_json(value: Any) -> str:
    return json.dumps(_jsonable(value), indent=2, allow_nan=False)


def _jsonable(value: Any) -> Any:
    """``value`` in JSON's types: NaN and infinities become None, which JSON writes as null.

    numpy scalars and arrays become numbers and lists, tuples lists, sets sorted lists:
    what metrics, shapes and class names usually hold.
    """
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, set | frozenset):
        return [_jsonable(item) for item in sorted(value)]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int):
        return value
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
