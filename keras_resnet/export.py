"""Serving artifacts: TensorFlow SavedModel, ONNX and TFLite (LiteRT).

The models of this library normalise their input themselves, so every artifact takes
what a camera or an image decoder gives: raw float32 pixels in [0, 255], in the
model's own layout (NHWC for the default ``channels_last``), and returns what the
model returns (class probabilities for a classifier). The input is named ``image``
and, in ONNX, the output ``predictions``. The batch size stays open; height and width
are fixed at export (see :func:`export_model`), because mobile and serving runtimes
plan their memory for one input size.

What each backend can write, and how the artifact is served:

* ``savedmodel`` (TensorFlow, JAX): ``servable = tf.saved_model.load(path)``, then
  ``servable.serve(images)``; TF Serving's signature is ``serving_default``.
* ``onnx`` (TensorFlow, PyTorch): ``onnxruntime.InferenceSession(path)``, then
  ``session.run(["predictions"], {"image": images})``.
* ``tflite`` (TensorFlow): ``ai_edge_litert.interpreter.Interpreter(path)``; builtin
  ops only, so any LiteRT runtime runs it.

A ``.keras`` file loads on every backend, so a model trained on one backend exports
on another: ``KERAS_BACKEND=tensorflow keras-resnet export model.keras --format tflite``.
ONNX export needs the ``onnx`` package, and on TensorFlow ``tf2onnx`` too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Sequence

import keras

from keras_resnet import compat
from keras_resnet.saving import (
    ONNX_METADATA_KEY,
    SAVEDMODEL_METADATA,
    load_model_and_metadata,
    write_atomically,
)

# Reads an artifact's record too; importable from here, where it was first.
from keras_resnet.saving import read_metadata as read_metadata

FORMATS: dict[str, tuple[str, ...]] = {
    "savedmodel": ("tensorflow", "jax"),
    "onnx": ("tensorflow", "torch"),
    "tflite": ("tensorflow",),
}
# The names Keras and TensorFlow use for the same formats.
FORMAT_ALIASES = {
    "saved_model": "savedmodel",
    "tf_saved_model": "savedmodel",
    "litert": "tflite",
}
SUFFIXES = {"onnx": ".onnx", "tflite": ".tflite"}
INPUT_NAME = "image"
OUTPUT_NAME = "predictions"


def export_model(
    model_or_path: keras.Model | str | os.PathLike,
    path: str | os.PathLike,
    format: str = "savedmodel",
    image_size: int | Sequence[int] | None = None,
) -> str:
    """Writes a serving artifact that takes raw [0, 255] float32 pixels.

    The artifact is written to a temporary path beside ``path`` and renamed into
    place, so a failed export leaves nothing behind, and an existing artifact at
    ``path`` is replaced only by a complete one.

    The input height and width are, in order of precedence: ``image_size``; the
    model's own input size where it is fixed; the ``image_size`` saved in the
    ``.keras`` file's metadata (``keras-resnet train`` records it). Class names saved
    with the model go into the ONNX metadata (``class_names``, JSON) and into
    ``assets.extra/keras_resnet.json`` of a SavedModel.

    Args:
        model_or_path: a ``keras.Model``, or a ``.keras`` file (loaded with
            :func:`keras_resnet.saving.load_model`).
        path: where to write: a folder for ``savedmodel``, a file ending in ``.onnx``
            or ``.tflite`` for the others. Missing parent folders are created.
        format: ``"savedmodel"``, ``"onnx"`` or ``"tflite"`` (Keras's names
            ``"tf_saved_model"`` and ``"litert"`` are accepted too).
        image_size: ``N`` or ``(height, width)`` of the exported input.

    Returns:
        ``path``, as a string.

    Raises:
        ValueError: on an unknown format, a format the current Keras backend cannot
            write (the message names the backends that can), a path with the wrong
            suffix, an input size that is missing or contradicts the model's, or a
            model file that cannot be read.
        ImportError: if ONNX export needs ``tf2onnx``/``onnx`` and they are absent.
        FileNotFoundError: if ``model_or_path`` names no file.

    Example:
        >>> model = keras_resnet.ResNet20(num_classes=3)
        >>> export_model(model, "serving/resnet20", image_size=32)
        >>> export_model("saved_models/run/model.keras", "model.onnx", format="onnx")
    """
    format = check_format(format)
    path = os.fspath(path)
    suffix = SUFFIXES.get(format)
    if suffix and not path.endswith(suffix):
        raise ValueError(f"The path of a {format} artifact must end in {suffix!r}, got {path!r}.")
    if not suffix and path.endswith((".keras", ".onnx", ".tflite", ".h5")):
        raise ValueError(
            f"A SavedModel is a folder, but {path!r} has a file suffix: give a folder "
            "name, or choose format='onnx' or 'tflite'."
        )
    model, metadata = load_model_and_metadata(model_or_path)
    spec = _input_spec(model, image_size, metadata.get("image_size"))
    record = {
        "input_shape": list(spec.shape[1:]),
        "input_range": [0, 255],
        **{key: metadata[key] for key in ("class_names", "model_name") if key in metadata},
    }
    writer = {"savedmodel": _write_savedmodel, "onnx": _write_onnx, "tflite": _write_tflite}
    return write_atomically(path, lambda temporary: writer[format](model, spec, temporary, record))


def check_format(format: str) -> str:
    """The canonical name of an export format, if the current backend can write it.

    Args:
        format: ``"savedmodel"``, ``"onnx"``, ``"tflite"`` or an alias.

    Returns:
        ``"savedmodel"``, ``"onnx"`` or ``"tflite"``.

    Raises:
        ValueError: on an unknown format, or one the current backend cannot write;
            the message names the backends that can.
    """
    name = FORMAT_ALIASES.get(str(format).lower(), str(format).lower())
    if name not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}: use one of {', '.join(FORMATS)}.")
    backend = keras.backend.backend()
    if backend not in FORMATS[name]:
        needed = " or ".join(f"KERAS_BACKEND={b}" for b in FORMATS[name])
        raise ValueError(
            f"{name} export needs {needed}; the {backend} backend cannot write it. "
            "A .keras model loads on every backend, so export it from there."
        )
    return name


def _input_spec(model, image_size, saved_size) -> keras.InputSpec:
    """The exported input: open batch, fixed height and width, the model's channels."""
    shape = model.input_shape
    if not isinstance(shape, tuple) or len(shape) != 4:
        raise ValueError(f"Only models with one image input export; {model.name} takes {shape}.")
    spatial = (1, 2) if _channels_last(model) else (2, 3)
    fixed = tuple(shape[axis] for axis in spatial)
    wanted = _size_pair(image_size) if image_size is not None else None
    if None not in fixed:
        if wanted is not None and wanted != fixed:
            raise ValueError(
                f"{model.name} takes {fixed[0]}x{fixed[1]} images; it cannot export at "
                f"{wanted[0]}x{wanted[1]}. Leave image_size out, or rebuild the model "
                "with input_shape=(None, None, 3)."
            )
        size = fixed
    elif wanted is not None:
        size = wanted
    elif saved_size:
        size = _size_pair(saved_size)
    else:
        raise ValueError(
            f"{model.name} takes images of any size: give the size to export at, "
            "e.g. image_size=224 (--image-size 224)."
        )
    batch_shape = list(shape)
    batch_shape[0] = None
    for axis, value in zip(spatial, size, strict=True):
        batch_shape[axis] = value
    return keras.InputSpec(shape=tuple(batch_shape), dtype="float32", name=INPUT_NAME)


def _channels_last(model) -> bool:
    """Whether the model's input is NHWC, read from the layers that consume it."""
    for layer in model.layers:
        data_format = getattr(layer, "data_format", None)
        if data_format in ("channels_last", "channels_first"):
            return data_format == "channels_last"
    return keras.backend.image_data_format() == "channels_last"


def _size_pair(size) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"image_size must be N or (height, width) > 0, got {size!r}.")
    return pair


def _tf_spec(spec):
    import tensorflow as tf

    return tf.TensorSpec(spec.shape, tf.float32, name=INPUT_NAME)


def _write_savedmodel(model, spec, path, record) -> None:
    with _quiet():
        model.export(path, format="tf_saved_model", input_signature=[spec], verbose=False)
    metadata_path = os.path.join(path, SAVEDMODEL_METADATA)
    os.makedirs(os.path.dirname(metadata_path), exist_ok=True)
    with open(metadata_path, "w", encoding="utf-8") as file:
        json.dump(record, file, indent=2)


def _write_tflite(model, spec, path, record) -> None:
    import tensorflow as tf

    saved_model = f"{path}.savedmodel"
    with _quiet():
        model.export(saved_model, format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        # Builtin ops only: the artifact then runs on any LiteRT runtime, with no
        # TensorFlow ops linked in.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        flatbuffer = converter.convert()
    shutil.rmtree(saved_model)
    with open(path, "wb") as file:
        file.write(flatbuffer)


def _write_onnx(model, spec, path, record) -> None:
    if keras.backend.backend() == "tensorflow":
        _write_onnx_tensorflow(model, spec, path)
    else:
        with _quiet():
            model.export(path, format="onnx", input_signature=[spec], verbose=False)
    _finish_onnx(path, record)


def _write_onnx_tensorflow(model, spec, path) -> None:
    """ONNX through tf2onnx from a frozen graph.

    Keras's own TensorFlow route hands tf2onnx a function whose captured constants (the
    normalisation's mean and variance) become extra graph inputs; freezing the graph
    first turns them into constants.
    """
    import tensorflow as tf

    tf2onnx = _import_tf2onnx()
    function = tf.function(lambda image: model(image, training=False))
    frozen = compat.freeze_variables(function.get_concrete_function(_tf_spec(spec)))
    inputs = [tensor.name for tensor in frozen.inputs]
    outputs = [tensor.name for tensor in frozen.outputs]
    with _quiet():
        tf2onnx.convert.from_graph_def(
            frozen.graph.as_graph_def(),
            input_names=inputs,
            output_names=outputs,
            tensors_to_rename={inputs[0]: INPUT_NAME, outputs[0]: OUTPUT_NAME},
            output_path=path,
        )


def _import_tf2onnx():
    try:
        import tf2onnx
    except ImportError as error:
        raise ImportError(
            "ONNX export on the TensorFlow backend needs tf2onnx and onnx: pip install tf2onnx onnx"
        ) from error
    compat.patch_tf2onnx_for_numpy2()
    return tf2onnx


def _finish_onnx(path, record) -> None:
    """Names the output ``predictions`` on every backend and stores the metadata."""
    import onnx

    proto = onnx.load(path)
    graph = proto.graph
    old = graph.output[0].name
    if old != OUTPUT_NAME:
        for node in graph.node:
            node.output[:] = [OUTPUT_NAME if name == old else name for name in node.output]
        graph.output[0].name = OUTPUT_NAME
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, json.dumps(record)
    onnx.save(proto, path)


@contextlib.contextmanager
def _quiet():
    """Keeps the converters' INFO chatter (tf2onnx, absl) out of the user's output."""
    loggers = [logging.getLogger(name) for name in ("tf2onnx", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
