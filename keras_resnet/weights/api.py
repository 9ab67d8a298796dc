"""Loading any weights source into a model, and converting it into a ``.keras`` file.

:func:`load_pretrained` is what ``weights=`` of every constructor calls: it downloads
a published set or an ``hf://`` set, reads the file, and hands it to the converter of
its kind (torchvision/timm, keras.applications, or Keras itself for this library's own
``.weights.h5`` and ``.keras`` files).
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from keras_resnet import imagenet, models, saving
from keras_resnet.weights.architecture import architecture_of
from keras_resnet.weights.assign import describe_source
from keras_resnet.weights.download import download_hub_file, download_weights
from keras_resnet.weights.hub import is_hub_name
from keras_resnet.weights.keras_applications import (
    keras_applications_layout,
    load_keras_applications_state,
)
from keras_resnet.weights.readers import KERAS_SUFFIX, read_any
from keras_resnet.weights.sets import find_weight_set, is_set_name
from keras_resnet.weights.torchvision import load_torch_state


def load_pretrained(
    model: keras.Model,
    weights: Any,
    *,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
) -> keras.Model:
    """Loads weights of any supported kind into a model of this library.

    This is what ``weights=`` of :func:`keras_resnet.ResNet` and the named constructors
    calls after building the model.

    Args:
        model: a model built by this library.
        weights: a file (``.pth``, ``.pt``, ``.bin``, ``.safetensors``, a
            keras.applications ``.h5``/``.weights.h5``, or this library's own
            ``.weights.h5`` or ``.keras``, e.g. a run's ``model.keras``); a torch
            state dict, ``torch.nn.Module`` or mapping of arrays; a keras.applications
            model; the name of a published set (``"imagenet"`` or a name of
            :data:`PRETRAINED_WEIGHTS`); or a Hugging Face Hub set such as
            ``"hf://timm/resnet50.a1_in1k"``, downloaded.
        cache_dir: where downloads are cached; defaults to ``$KERAS_HOME`` (``~/.keras``).
        base_url: fetch published files by name from this folder URL instead of the
            publisher's (also ``$KERAS_RESNET_WEIGHTS_URL``).

    Returns:
        The same model, loaded.

    Raises:
        ValueError: if the file does not exist, no published set has that name or fits
            the model, or the weights do not fit the model (the message names the first
            offending key).
        ImportError: if a ``.pth`` file in torch's legacy format needs PyTorch and it is
            not installed.
        ConnectionError: if a download fails, or the Hub is offline and the file is not
            cached.

    Example:
        >>> model = keras_resnet.ResNet18(num_classes=10)
        >>> load_pretrained(model, "resnet18-f37072fd.pth")   # backbone only: 10 classes
    """
    if is_hub_name(weights):
        weights = download_hub_file(weights, cache_dir=cache_dir)
    elif _names_a_set(weights):
        architecture = architecture_of(model)
        if architecture.name is None:
            raise ValueError(
                f"{model.name} is none of the named architectures "
                f"({', '.join(models.MODEL_CONFIGS)}): published weights fit only those. "
                "Pass the path of a weights file instead."
            )
        entry = find_weight_set(
            architecture.name, os.fspath(weights), layout=dict(architecture.layout)
        )
        weights = download_weights(entry, cache_dir=cache_dir, base_url=base_url)
    return _load_read(model, weights, *read_any(weights))


def source_layout(source: Any) -> dict[str, Any]:
    """The builder arguments a weights source needs beyond the named model's config.

    Args:
        source: anything :func:`load_pretrained` takes but a set name.

    Returns:
        ``{}`` for torchvision, timm and this library's files;
        ``{"variant": "v1", "use_bias": True}`` for keras.applications' ResNet50/101/152;
        ``{"use_bias": True, "stride_in_last_block": True}`` for its V2s.

    Example:
        >>> model = keras_resnet.ResNet50V2(**source_layout(path), weights=path)
    """
    kind, state = read_any(source)
    return dict(keras_applications_layout(state)) if kind == "keras_applications" else {}


def convert(
    source: Any,
    model_name: str,
    output: str | os.PathLike,
    *,
    num_classes: int | None = None,
    include_preprocessing: bool = True,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    **kwargs: Any,
) -> keras.Model:
    """Converts pretrained weights into a saved ``.keras`` model of this library.

    The model is built in the layout the weights need (keras.applications' files build
    their v1 or V2 layout, see :func:`source_layout`), loaded, and written atomically
    by :func:`keras_resnet.saving.save_model`. When the source's 1000-class ImageNet
    classifier is kept, the file's metadata names its classes, so that ``keras-resnet
    predict`` prints class names.

    Args:
        source: a weights file (see :func:`load_pretrained`), a published set name
            such as ``"imagenet"`` (downloaded for ``model_name``) or an ``hf://`` set.
        model_name: the model to build, e.g. ``"resnet50"``.
        output: the ``.keras`` file to write; missing folders are created.
        num_classes: classes of the new classifier; None keeps the source's (1000 when
            it has none). A different count keeps a fresh classifier.
        include_preprocessing: take raw [0, 255] pixels (the default).
        cache_dir: download cache root, as for :func:`download_weights`.
        base_url: download mirror, as for :func:`download_weights`.
        **kwargs: further arguments of the model's constructor.

    Returns:
        The converted model.

    Raises:
        ValueError: if ``output`` does not end in ``.keras``, or the weights do not fit.
        ImportError: if a legacy torch file needs PyTorch.
        ConnectionError: if a download fails.

    Example:
        >>> convert("resnet50-11ad3fa6.pth", "resnet50", "saved_models/resnet50.keras")
    """
    output = os.fspath(output)
    if not output.endswith(".keras"):
        raise ValueError(f"The output must end in '.keras', got {output!r}.")
    if is_hub_name(source):
        source = download_hub_file(source, cache_dir=cache_dir)
    elif _names_a_set(source):
        source = download_weights(
            model_name, os.fspath(source), cache_dir=cache_dir, base_url=base_url
        )
    kind, state = read_any(source)
    layout = keras_applications_layout(state) if kind == "keras_applications" else {}
    if num_classes is None:
        num_classes = _source_classes(state) or 1000
    model = models.get_model(
        model_name,
        num_classes=num_classes,
        include_preprocessing=include_preprocessing,
        **{**layout, **kwargs},
    )
    _load_read(model, source, kind, state)
    # A 1000-class head kept from the source is ImageNet-1k's, whose names ship with us.
    imagenet_head = num_classes == _source_classes(state) == imagenet.NUM_CLASSES
    saving.save_model(
        model,
        output,
        class_names=imagenet.class_names() if imagenet_head else None,
        model_name=models.canonical_name(model_name),
    )
    return model


def _names_a_set(source) -> bool:
    """Whether ``source`` names a published set; ValueError if it is a missing file."""
    if not isinstance(source, str | os.PathLike) or os.path.exists(source):
        return False
    if is_set_name(os.fspath(source)):
        return True
    raise ValueError(
        f"weights file {os.fspath(source)!r} does not exist. Pass weights=None for random "
        "initialisation, the path of a weights file (.weights.h5, .keras, .pth, .safetensors, "
        "keras.applications .h5), a published set name such as 'imagenet', or a Hugging "
        "Face Hub set such as 'hf://timm/resnet50.a1_in1k'."
    )


def _load_read(model, source, kind, state):
    """Loads what :func:`read_any` read from ``source``."""
    if kind == "torch":
        return load_torch_state(model, state, describe_source(source, "the state dict"))
    if kind == "keras_applications":
        origin = describe_source(source, "the keras.applications model")
        return load_keras_applications_state(model, state, origin)
    return _load_native(model, os.fspath(source))


def _load_native(model, path):
    """Loads this library's own file (``.weights.h5``, or a ``.keras`` model's weights).

    A file whose classifier has another number of classes gives the backbone only, as
    a torchvision file does: fine-tuning a model of one's own on new classes. A model
    without a classifier (``include_top=False``) takes the backbone of a file with one.
    """
    arrays = _count_native_arrays(path)
    headless = "predictions" not in {layer.name for layer in model.layers}
    # Keras reads what the model asks for and leaves the rest of the file: a headless
    # model leaves the classifier's kernel and bias.
    if arrays not in (len(model.weights), len(model.weights) + 2 * headless):
        raise ValueError(
            f"The weights in {path!r} hold {arrays} arrays but {model.name} has "
            f"{len(model.weights)}: they come from another architecture. Build the model "
            "with the same name and arguments as the one that saved them."
        )
    try:
        if headless:
            model.load_weights(path)
        elif not _loaded_whole(model, path):
            # The same network up to the classifier, sharing the model's layers: Keras
            # leaves the file's classifier unused and checks every other shape.
            backbone = keras.Model(model.inputs, model.get_layer("predictions").input)
            backbone.load_weights(path)
            warnings.warn(
                f"The classifier in {path!r} does not fit the {model.output_shape[-1]} "
                f"classes of {model.name}: loaded the backbone; 'predictions' keeps its "
                "fresh initialisation.",
                stacklevel=3,
            )
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"The weights in {path!r} do not fit {model.name} with input "
            f"{tuple(model.input_shape[1:])}: {error}. Build the model with the same "
            "input channels and architecture as the one that saved them."
        ) from error
    return model


def _loaded_whole(model, path) -> bool:
    """Loads the whole file into ``model``; False, and quiet, where it does not fit."""
    # Keras warns of every part it skips before it raises: worth passing on only from
    # a load that worked.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except ValueError:
            return False
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return True


def _count_native_arrays(path: str) -> int:
    """The model arrays in a ``.weights.h5`` file, or in the weights of a ``.keras`` file."""
    try:
        if path.lower().endswith(KERAS_SUFFIX):
            with zipfile.ZipFile(path) as archive:
                return _count_native_arrays_in(io.BytesIO(archive.read("model.weights.h5")))
        return _count_native_arrays_in(path)
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{path!r} is not a weights file this library reads ({error}). Pass a "
            ".weights.h5 or .keras file saved by Keras, a torchvision or timm .pth or "
            ".safetensors file, or a keras.applications .h5 file."
        ) from error


def _count_native_arrays_in(file) -> int:
    import h5py  # Keras's own dependency

    count = 0

    def visit(name, item):
        nonlocal count
        count += isinstance(item, h5py.Dataset)

    with h5py.File(file, "r") as weights:
        if "layers" in weights:  # the optimizer's state is kept beside, not counted
            weights["layers"].visititems(visit)
    return count


def _source_classes(state: Mapping[str, np.ndarray] | None) -> int | None:
    if state is None:
        return None
    if "fc.weight" in state:
        return int(state["fc.weight"].shape[0])
    if "predictions/kernel" in state:
        return int(state["predictions/kernel"].shape[-1])
    return None
