"""Pretrained weights: convert torchvision, timm and keras.applications ResNets, download.

Three kinds of source load into the models of this library:

* torchvision and timm state dicts, from ``.pth``/``.pt``/``.bin`` files (read through
  PyTorch, imported only then), ``.safetensors`` files (read without PyTorch), a
  ``torch.nn.Module`` or a mapping of arrays. Every depth and variant both sides share
  converts: ResNet18..152, ResNeXt50_32x4d/101_32x8d, WideResNet50_2/101_2 and timm's
  ResNet-D (resnet18d..152d). Conv kernels go from torch's (out, in / groups, kh, kw)
  to Keras's (kh, kw, in / groups, out); BatchNorm's weight, bias, running_mean and
  running_var become gamma, beta, moving_mean and moving_variance; the ``fc`` matrix is
  transposed into the Dense kernel. ``num_batches_tracked`` is ignored.
* keras.applications ResNet50/101/152 and ResNet50V2/101V2/152V2: a downloaded ``.h5``,
  a ``.weights.h5`` saved from such a model, or the model object itself. Their layouts
  differ from torchvision's: build ``ResNet50(variant="v1", use_bias=True)`` for the
  former and ``ResNet50V2(use_bias=True, stride_in_last_block=True)`` for the latter
  (:func:`source_layout` says which a file needs). keras.applications' BatchNorm
  epsilon (1.001e-5 against our 1e-5) is folded into the moving variance.
* this library's own ``.weights.h5`` files, loaded as they are.

Every conversion checks the whole model before it assigns anything: a missing key, a
key the model has no place for, or a shape that does not fit raises a ValueError that
names the first offending key, and the model is left as it was. A classifier whose
class count differs from the file's (or a file without one) keeps its fresh
initialisation, with a warning, while the backbone loads.

Published sets download from their publisher (:data:`PRETRAINED_WEIGHTS`), are checked
against the hash the publisher gives, and are cached in the Keras cache folder
(``$KERAS_HOME/models``, by default ``~/.keras/models``).

Example:
    >>> model = keras_resnet.ResNet50(weights="imagenet")              # torchvision's V2
    >>> model = keras_resnet.ResNet50(num_classes=5, weights="resnet50-11ad3fa6.pth")
    >>> convert("resnet50v2_weights_tf_dim_ordering_tf_kernels.h5", "resnet50v2",
    ...         "saved_models/resnet50v2.keras")
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from keras_resnet import models
from keras_resnet.layers import BN_EPSILON, BasicBlock, Bottleneck

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
H5_SUFFIXES = (".h5", ".hdf5")

# Set to a folder URL to fetch every published file by name from there instead
# (a mirror, or a test server).
BASE_URL_ENV = "KERAS_RESNET_WEIGHTS_URL"

KERAS_APPLICATIONS_EPSILON = 1.001e-5

# Builder arguments that keras.applications' weights need (see source_layout).
KERAS_V1_LAYOUT = {"variant": "v1", "use_bias": True}
KERAS_V2_LAYOUT = {"use_bias": True, "stride_in_last_block": True}


@dataclasses.dataclass(frozen=True)
class WeightSet:
    """One published file of pretrained weights.

    Attributes:
        model: the ``MODEL_CONFIGS`` name it fits, e.g. ``"ResNet50"``.
        name: the publisher's name of the set, e.g. ``"IMAGENET1K_V2"``.
        url: where the publisher serves the file.
        file_hash: the file's hex digest, or as much of it as the publisher gives.
        hash_algorithm: ``"sha256"`` or ``"md5"``.
        layout: builder arguments the weights need beyond the model's own config.
    """

    model: str
    name: str
    url: str
    file_hash: str
    hash_algorithm: str = "sha256"
    layout: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_TORCHVISION = "https://download.pytorch.org/models/"
_TIMM = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"


def _keras_set(model: str, file_stem: str, md5: str, layout: Mapping[str, Any]) -> WeightSet:
    url = f"{_KERAS}{file_stem}_weights_tf_dim_ordering_tf_kernels.h5"
    return WeightSet(model, "KERAS_APPLICATIONS", url, md5, "md5", layout)


# Every published set, the default of each model first: weights="imagenet" takes the
# first row of the model that fits its layout.
#
# The hashes are what the publishers give. torchvision and timm put the first eight hex
# digits of the file's SHA-256 in its name (torch.hub's convention, which torchvision
# checks when it downloads, and which timm's checkpoint cleaner writes); the full
# digests are not published, so only that prefix is checked. keras.applications
# publishes full MD5 digests only.
PRETRAINED_WEIGHTS: tuple[WeightSet, ...] = (
    WeightSet("ResNet18", "IMAGENET1K_V1", _TORCHVISION + "resnet18-f37072fd.pth", "f37072fd"),
    WeightSet("ResNet34", "IMAGENET1K_V1", _TORCHVISION + "resnet34-b627a593.pth", "b627a593"),
    WeightSet("ResNet50", "IMAGENET1K_V2", _TORCHVISION + "resnet50-11ad3fa6.pth", "11ad3fa6"),
    WeightSet("ResNet50", "IMAGENET1K_V1", _TORCHVISION + "resnet50-0676ba61.pth", "0676ba61"),
    WeightSet("ResNet101", "IMAGENET1K_V2", _TORCHVISION + "resnet101-cd907fc2.pth", "cd907fc2"),
    WeightSet("ResNet101", "IMAGENET1K_V1", _TORCHVISION + "resnet101-63fe2227.pth", "63fe2227"),
    WeightSet("ResNet152", "IMAGENET1K_V2", _TORCHVISION + "resnet152-f82ba261.pth", "f82ba261"),
    WeightSet("ResNet152", "IMAGENET1K_V1", _TORCHVISION + "resnet152-394f9c45.pth", "394f9c45"),
    WeightSet(
        "ResNeXt50_32x4d",
        "IMAGENET1K_V2",
        _TORCHVISION + "resnext50_32x4d-1a0047aa.pth",
        "1a0047aa",
    ),
    WeightSet(
        "ResNeXt50_32x4d",
        "IMAGENET1K_V1",
        _TORCHVISION + "resnext50_32x4d-7cdf4587.pth",
        "7cdf4587",
    ),
    WeightSet(
        "ResNeXt101_32x8d",
        "IMAGENET1K_V2",
        _TORCHVISION + "resnext101_32x8d-110c445d.pth",
        "110c445d",
    ),
    WeightSet(
        "ResNeXt101_32x8d",
        "IMAGENET1K_V1",
        _TORCHVISION + "resnext101_32x8d-8ba56ff5.pth",
        "8ba56ff5",
    ),
    WeightSet(
        "WideResNet50_2",
        "IMAGENET1K_V2",
        _TORCHVISION + "wide_resnet50_2-9ba9bcbe.pth",
        "9ba9bcbe",
    ),
    WeightSet(
        "WideResNet50_2",
        "IMAGENET1K_V1",
        _TORCHVISION + "wide_resnet50_2-95faca4d.pth",
        "95faca4d",
    ),
    WeightSet(
        "WideResNet101_2",
        "IMAGENET1K_V2",
        _TORCHVISION + "wide_resnet101_2-d733dc28.pth",
        "d733dc28",
    ),
    WeightSet(
        "WideResNet101_2",
        "IMAGENET1K_V1",
        _TORCHVISION + "wide_resnet101_2-32ee1156.pth",
        "32ee1156",
    ),
    WeightSet("ResNet18D", "RA2_IN1K", _TIMM + "resnet18d_ra2-48a79e06.pth", "48a79e06"),
    WeightSet("ResNet34D", "RA2_IN1K", _TIMM + "resnet34d_ra2-f8dcfcaf.pth", "f8dcfcaf"),
    WeightSet("ResNet50D", "RA2_IN1K", _TIMM + "resnet50d_ra2-464e36ba.pth", "464e36ba"),
    WeightSet("ResNet101D", "RA2_IN1K", _TIMM + "resnet101d_ra2-2803ffab.pth", "2803ffab"),
    WeightSet("ResNet152D", "RA2_IN1K", _TIMM + "resnet152d_ra2-5cac0439.pth", "5cac0439"),
    _keras_set("ResNet50", "resnet50", "2cb95161c43110f7111970584f804107", KERAS_V1_LAYOUT),
    _keras_set("ResNet101", "resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5", KERAS_V1_LAYOUT),
    _keras_set("ResNet152", "resnet152", "100835be76be38e30d865e96f2aaae62", KERAS_V1_LAYOUT),
    _keras_set("ResNet50V2", "resnet50v2", "3ef43a0b657b3be2300d5770ece849e0", KERAS_V2_LAYOUT),
    _keras_set("ResNet101V2", "resnet101v2", "6343647c601c52e1368623803854d971", KERAS_V2_LAYOUT),
    _keras_set("ResNet152V2", "resnet152v2", "a49b44d1979771252814e80f8ec446f9", KERAS_V2_LAYOUT),
)


# --------------------------------------------------------------------------- loading


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
            ``.weights.h5``); a torch state dict, ``torch.nn.Module`` or mapping of
            arrays; a keras.applications model; or the name of a published set
            (``"imagenet"`` or a name of :data:`PRETRAINED_WEIGHTS`), downloaded.
        cache_dir: where downloads are cached; defaults to ``$KERAS_HOME`` (``~/.keras``).
        base_url: fetch published files by name from this folder URL instead of the
            publisher's (also ``$KERAS_RESNET_WEIGHTS_URL``).

    Returns:
        The same model, loaded.

    Raises:
        ValueError: if the file does not exist, no published set has that name or fits
            the model, or the weights do not fit the model (the message names the first
            offending key).
        ImportError: if a ``.pth`` file needs PyTorch, or a ``.safetensors`` file the
            ``safetensors`` package, and it is not installed.
        ConnectionError: if a download fails.

    Example:
        >>> model = keras_resnet.ResNet18(num_classes=10)
        >>> load_pretrained(model, "resnet18-f37072fd.pth")   # backbone only: 10 classes
    """
    if _names_a_set(weights):
        entry = find_weight_set(_model_key(model), os.fspath(weights), layout=_layout(model))
        weights = download_weights(entry, cache_dir=cache_dir, base_url=base_url)
    return _load_read(model, weights, *_read_any(weights))


def _names_a_set(source) -> bool:
    """Whether ``source`` names a published set; ValueError if it is a missing file."""
    if not isinstance(source, str | os.PathLike) or os.path.exists(source):
        return False
    if _is_set_name(os.fspath(source)):
        return True
    raise ValueError(
        f"weights file {os.fspath(source)!r} does not exist. Pass weights=None for random "
        "initialisation, the path of a weights file (.weights.h5, .pth, .safetensors, "
        "keras.applications .h5) or a published set name such as 'imagenet'."
    )


def _load_read(model, source, kind, state):
    """Loads what :func:`_read_any` read from ``source``."""
    if kind == "torch":
        return _load_torch_state(model, state, _origin(source, "the state dict"))
    if kind == "keras_applications":
        return _load_keras_state(model, state, _origin(source, "the keras.applications model"))
    return _load_native(model, os.fspath(source))


def load_torch_weights(model: keras.Model, source: Any) -> keras.Model:
    """Loads a torchvision or timm ResNet state dict into a model of this library.

    Args:
        model: a model of the default (v1.5) layout, or a ResNet-D for timm's
            resnet*d weights; ``include_top`` and ``num_classes`` may differ from the
            file's.
        source: a ``.pth``/``.pt``/``.bin``/``.safetensors`` path, a state dict (of
            torch tensors or numpy arrays) or a ``torch.nn.Module``.

    Returns:
        The same model, loaded.

    Raises:
        ValueError: if the model's layout cannot hold torch weights, or a key is missing,
            unexpected or of the wrong shape (the message names it).
        ImportError: if reading the source needs PyTorch or safetensors and it is absent.

    Example:
        >>> model = keras_resnet.ResNet50D()
        >>> load_torch_weights(model, "resnet50d_ra2-464e36ba.pth")
    """
    return _load_torch_state(model, read_state_dict(source), _origin(source, "the state dict"))


def _load_torch_state(model, state, origin):
    problem = _layout_problem(model, {})
    if problem:
        raise ValueError(
            f"{origin} holds torchvision/timm weights, which need the default layout "
            f"(stride on the 3x3 conv, no conv biases, stride in each first block); "
            f"{model.name} {problem}. Build it without variant='v1', variant='v2', "
            "use_bias or stride_in_last_block."
        )
    deep_stem = _has_layer(model, "stem_conv3")

    def source_key(path: str):
        return _torch_key(model, path, deep_stem)

    _assign(model, state, source_key, origin, head_keys=("fc.weight", "fc.bias"))
    return model


def load_keras_applications_weights(model: keras.Model, source: Any) -> keras.Model:
    """Loads keras.applications ResNet weights (v1 or V2) into a model of this library.

    The model must have keras.applications' layout: ``variant="v1", use_bias=True`` for
    ResNet50/101/152 and ``use_bias=True, stride_in_last_block=True`` for the V2s. The
    bare network (``include_preprocessing=False``) then computes exactly what
    keras.applications' does, on inputs prepared by its ``preprocess_input``. With
    ``include_preprocessing=True`` the model takes raw [0, 255] RGB pixels like every
    model here: keras.applications' preprocessing (BGR and mean subtraction for v1,
    scaling to [-1, 1] for V2) is folded into the stem conv. That fold is exact but at
    the image border: the stem's zero padding stands for the mean pixel in ours and for
    keras.applications' zero point (about the mean pixel for v1, mid-gray for V2) in
    theirs, which moves the outputs near the border a little.

    Args:
        model: a model of keras.applications' layout (see above).
        source: a keras.applications ``.h5`` file (as its ``weights="imagenet"``
            downloads), a ``.weights.h5`` saved from such a model, or the model itself.

    Returns:
        The same model, loaded.

    Raises:
        ValueError: if the model's layout does not match the weights', or a key is
            missing, unexpected or of the wrong shape (the message names it).

    Example:
        >>> model = keras_resnet.ResNet50V2(use_bias=True, stride_in_last_block=True)
        >>> load_keras_applications_weights(model, keras.applications.ResNet50V2())
    """
    origin = _origin(source, "the keras.applications model")
    return _load_keras_state(model, read_keras_applications(source), origin)


def _load_keras_state(model, state, origin):
    layout = _keras_layout(state)
    v2 = layout is KERAS_V2_LAYOUT
    problem = _layout_problem(model, layout)
    if problem:
        family = "V2" if v2 else "v1"
        raise ValueError(
            f"{origin} holds keras.applications ResNet {family} weights, which need its "
            f"layout: build the model with {_format_layout(layout)}; {model.name} {problem}."
        )
    epsilon_shift = KERAS_APPLICATIONS_EPSILON - BN_EPSILON

    def source_key(path: str):
        key, transform = _keras_key(path)
        if path.endswith("/moving_variance"):
            return key, lambda value: value + epsilon_shift
        return key, transform

    fold = _preprocessing_fold(model, v2)
    _assign(
        model,
        state,
        source_key,
        origin,
        head_keys=("predictions/kernel", "predictions/bias"),
        zero_missing_biases=True,
        finish=fold,
    )
    return model


def _load_native(model, path):
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"The weights in {path!r} do not fit {model.name} with input "
            f"{tuple(model.input_shape[1:])} and output {tuple(model.output_shape[1:])}: "
            f"{error}. Build the model with the same num_classes, input channels and "
            "architecture as the one that saved them."
        ) from error
    return model


# --------------------------------------------------------------------------- reading


def read_state_dict(source: Any) -> dict[str, np.ndarray]:
    """A torch state dict as numpy arrays, from a file, a module or a mapping.

    ``.safetensors`` files are read with the ``safetensors`` package alone; ``.pth``,
    ``.pt`` and ``.bin`` files need PyTorch (imported only here). A training checkpoint
    that nests the weights under ``"state_dict"`` or ``"model"`` is unwrapped, a
    ``"module."`` prefix (DataParallel) stripped and ``num_batches_tracked`` dropped.

    Args:
        source: a file path, a ``torch.nn.Module`` or a mapping of tensors or arrays.

    Returns:
        The state dict, key to float32/float64 numpy array.

    Raises:
        ImportError: if the file needs PyTorch or safetensors and it is not installed.
        ValueError: if the file type is unknown or the file holds no state dict.

    Example:
        >>> state = read_state_dict("resnet18-f37072fd.pth")
        >>> state["conv1.weight"].shape
        (64, 3, 7, 7)
    """
    if hasattr(source, "state_dict"):
        state = source.state_dict()
    elif isinstance(source, Mapping):
        state = source
    else:
        state = _read_state_file(os.fspath(source))
    arrays = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        arrays[key.removeprefix("module.")] = _to_numpy(value)
    return arrays


def _read_state_file(path):
    lower = path.lower()
    if lower.endswith(SAFETENSORS_SUFFIX):
        try:
            from safetensors.numpy import load_file
        except ImportError as error:
            raise ImportError(
                f"Reading {path!r} needs the safetensors package: pip install safetensors."
            ) from error
        return load_file(path)
    if not lower.endswith(TORCH_SUFFIXES):
        raise ValueError(
            f"{path!r} is not a torch weights file: expected {', '.join(TORCH_SUFFIXES)} "
            f"or {SAFETENSORS_SUFFIX}."
        )
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"Reading {path!r} needs PyTorch: pip install torch, or convert the file to "
            ".safetensors, which loads without it."
        ) from error
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping):
        raise ValueError(f"{path!r} holds a {type(state).__name__}, not a state dict.")
    return state


def _to_numpy(value):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu()
        if value.is_floating_point() and value.element_size() < 4:  # numpy has no bfloat16
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def read_keras_applications(source: Any) -> dict[str, np.ndarray]:
    """keras.applications ResNet weights as ``{"layer/variable": array}``.

    Args:
        source: the legacy ``.h5`` file keras.applications downloads, a ``.weights.h5``
            saved from such a model, or the ``keras.Model`` itself.

    Returns:
        Arrays keyed like ``"conv2_block1_1_conv/kernel"``.

    Raises:
        ValueError: if the file is not a keras.applications ResNet.

    Example:
        >>> state = read_keras_applications(keras.applications.ResNet50(weights=None))
    """
    if isinstance(source, keras.Model):
        return {variable.path: keras.ops.convert_to_numpy(variable) for variable in source.weights}
    path = os.fspath(source)
    import h5py

    with h5py.File(path, "r") as file:
        group = file["model_weights"] if "model_weights" in file else file
        if "layer_names" in group.attrs:
            return _read_legacy_h5(group)
        architecture = _keras_applications_architecture(file)
    if architecture is None:
        raise ValueError(f"{path!r} is not a keras.applications ResNet weights file.")
    # Keras 3 files key layers by class, not by name: let keras.applications read them.
    builder, kwargs = architecture
    reference = builder(weights=None, **kwargs)
    reference.load_weights(path)
    state = read_keras_applications(reference)
    del reference
    return state


def _read_legacy_h5(group):
    state = {}
    for layer_name in group.attrs["layer_names"]:
        layer = group[_text(layer_name)]
        for weight_name in layer.attrs["weight_names"]:
            key = re.sub(r":\d+$", "", _text(weight_name))
            state[key] = np.asarray(layer[_text(weight_name)])
    return state


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _keras_applications_architecture(file):
    """(builder, kwargs) of the keras.applications ResNet a Keras 3 file was saved from."""
    if "layers" not in file:
        return None
    names = list(file["layers"].keys())
    if any(name.startswith(("basic_block", "bottleneck")) for name in names):
        return None
    convs = sum(name.startswith("conv2d") for name in names)
    norms = sum(name.startswith("batch_normalization") for name in names)
    depth = {53: 50, 104: 101, 155: 152}.get(convs)
    if depth is None:
        return None
    v2 = norms < convs  # V2 has no BN after each block's last conv
    builder = getattr(keras.applications, f"ResNet{depth}{'V2' if v2 else ''}")
    kwargs = {"include_top": "dense" in names}
    if kwargs["include_top"]:
        kwargs["classes"] = int(file["layers"]["dense"]["vars"]["0"].shape[-1])
    return builder, kwargs


def _file_kind(path):
    lower = path.lower()
    if lower.endswith((*TORCH_SUFFIXES, SAFETENSORS_SUFFIX)):
        return "torch"
    if lower.endswith(H5_SUFFIXES) and _is_keras_applications_h5(path):
        return "keras_applications"
    return "native"


def _is_keras_applications_h5(path):
    import h5py

    try:
        with h5py.File(path, "r") as file:
            group = file["model_weights"] if "model_weights" in file else file
            if "layer_names" in group.attrs:
                return "conv1_conv" in {_text(name) for name in group.attrs["layer_names"]}
            return _keras_applications_architecture(file) is not None
    except OSError:
        return False


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
    kind, state = _read_any(source)
    return dict(_keras_layout(state)) if kind == "keras_applications" else {}


def _keras_layout(state):
    return KERAS_V2_LAYOUT if "post_bn/gamma" in state else KERAS_V1_LAYOUT


def _read_any(source):
    """("torch" | "keras_applications" | "native", state or None) of a source."""
    if isinstance(source, keras.Model):
        return "keras_applications", read_keras_applications(source)
    if isinstance(source, Mapping) or hasattr(source, "state_dict"):
        return "torch", read_state_dict(source)
    kind = _file_kind(os.fspath(source))
    if kind == "torch":
        return kind, read_state_dict(source)
    if kind == "keras_applications":
        return kind, read_keras_applications(source)
    return kind, None


# --------------------------------------------------------------------------- mapping

_TORCH_BN = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
_KERAS_VARIABLES = {"kernel", "bias", *_TORCH_BN}
_DEEP_STEM = {
    "stem_conv1": "conv1.0",
    "stem_bn1": "conv1.1",
    "stem_conv2": "conv1.3",
    "stem_bn2": "conv1.4",
    "stem_conv3": "conv1.6",
    "stem_bn3": "bn1",
}
_BLOCK_NAME = re.compile(r"conv(\d+)_block(\d+)")
_BLOCK_PATH = re.compile(r"(conv(\d+)_block(\d+))/(\w+)")


def _oihw_to_hwio(value):
    return np.transpose(value, (2, 3, 1, 0))


def _identity(value):
    return value


def _torch_key(model, path, deep_stem):
    """(torch key, transform) of one of our variable paths; (None, None) if none."""
    layer_path, variable = path.rsplit("/", 1)
    module = None
    if layer_path.startswith("stem_"):
        if deep_stem:
            module = _DEEP_STEM.get(layer_path)
        else:
            module = {"stem_conv1": "conv1", "stem_bn1": "bn1"}.get(layer_path)
    elif layer_path == "predictions":
        module = "fc"
    elif match := _BLOCK_PATH.fullmatch(layer_path):
        stage, block, sublayer = int(match[2]), int(match[3]), match[4]
        prefix = f"layer{stage - 1}.{block - 1}"
        # timm's avg-down shortcut is Sequential(pool, conv, bn), the pool an Identity
        # where the block does not stride: its conv and BN sit one index further.
        offset = int(model.get_layer(match[1]).avg_down)
        if re.fullmatch(r"(conv|bn)\d", sublayer):
            module = f"{prefix}.{sublayer}"
        elif sublayer == "shortcut_conv":
            module = f"{prefix}.downsample.{offset}"
        elif sublayer == "shortcut_bn":
            module = f"{prefix}.downsample.{offset + 1}"
    if module is None:
        return None, None
    if variable == "kernel":
        transform = np.transpose if module == "fc" else _oihw_to_hwio
        return f"{module}.weight", transform
    if variable == "bias":
        return f"{module}.bias", _identity
    if variable in _TORCH_BN:
        return f"{module}.{_TORCH_BN[variable]}", _identity
    return None, None


def _keras_key(path):
    """(keras.applications key, transform) of one of our variable paths."""
    layer_path, variable = path.rsplit("/", 1)
    layer = {"stem_conv1": "conv1_conv", "stem_bn1": "conv1_bn"}.get(layer_path)
    if layer_path in ("post_bn", "predictions"):
        layer = layer_path
    elif match := _BLOCK_PATH.fullmatch(layer_path):
        block, sublayer = match[1], match[4]
        if sublayer == "preact_bn":
            layer = f"{block}_preact_bn"
        elif sub := re.fullmatch(r"(conv|bn)(\d)", sublayer):
            layer = f"{block}_{sub[2]}_{sub[1]}"
        elif sublayer in ("shortcut_conv", "shortcut_bn"):
            layer = f"{block}_0_{sublayer.split('_')[1]}"
    if layer is None or variable not in _KERAS_VARIABLES:
        return None, None
    return f"{layer}/{variable}", _identity


# --------------------------------------------------------------------------- assigning


def _assign(model, state, source_key, origin, head_keys, zero_missing_biases=False, finish=None):
    """Checks every variable of ``model`` against ``state``, then assigns them all.

    ``source_key(path)`` gives the state key and transform of a variable path. With
    ``zero_missing_biases``, conv biases the source lacks (keras.applications' V2 has
    none before a BN) load as zeros, which leaves the function unchanged. ``finish``
    may rewrite the converted values before they are assigned.
    """
    values = {}
    used = set()
    head = [variable for variable in model.weights if variable.path.startswith("predictions/")]
    fresh_head = _fresh_head_reason(model, state, head_keys, head, origin)
    for variable in model.weights:
        if fresh_head and variable.path.startswith("predictions/"):
            continue
        key, transform = source_key(variable.path)
        if key is None:
            raise ValueError(
                f"{model.name}'s variable {variable.path!r} has no counterpart in {origin}: "
                "this architecture has parts the source does not."
            )
        if key not in state:
            if zero_missing_biases and key.endswith("/bias") and _kernel_key(key) in state:
                values[variable.path] = np.zeros(variable.shape)
                continue
            raise ValueError(
                f"{origin} lacks {key!r} (for {variable.path}): it is not the weights of "
                f"this architecture ({model.name})."
            )
        value = transform(state[key])
        used.add(key)
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"{key!r} in {origin} has shape {tuple(state[key].shape)}, which does not "
                f"fit {variable.path} of shape {tuple(variable.shape)}: it is not the "
                f"weights of this architecture ({model.name})."
            )
        values[variable.path] = value
    unexpected = [key for key in state if key not in used and key not in head_keys]
    if unexpected:
        raise ValueError(
            f"{origin} has {unexpected[0]!r}, for which {model.name} has no place"
            f"{f' (and {len(unexpected) - 1} more keys)' if len(unexpected) > 1 else ''}: "
            "it is the weights of a different architecture."
        )
    if finish is not None:
        finish(values)
    for variable in model.weights:
        if variable.path in values:
            variable.assign(np.asarray(values[variable.path], dtype=variable.dtype))
    if fresh_head:
        warnings.warn(fresh_head, stacklevel=3)


def _kernel_key(bias_key):
    return bias_key.removesuffix("/bias") + "/kernel"


def _fresh_head_reason(model, state, head_keys, head, origin):
    """Why the classifier keeps its initialisation, or None if it loads."""
    if not head:
        return None
    kernel_key = head_keys[0]
    if kernel_key not in state:
        return f"{origin} has no classifier: loaded the backbone; 'predictions' stays fresh."
    kernel = state[kernel_key]
    file_classes = kernel.shape[0] if kernel_key == "fc.weight" else kernel.shape[-1]
    model_classes = head[0].shape[-1]
    if file_classes == model_classes:
        return None
    return (
        f"{origin} classifies {file_classes} classes and {model.name} {model_classes}: "
        "loaded the backbone; 'predictions' keeps its fresh initialisation."
    )


def _preprocessing_fold(model, v2):
    """Folds keras.applications' input preprocessing into the stem conv, if ours runs.

    keras.applications' stem sees ``z = a * x[..., order] + d`` (caffe mode for v1: BGR
    minus the channel means; tf mode for V2: ``x / 127.5 - 1``); ours sees
    ``y = (x - mean) / std``. With ``x = std * y + mean``, the stem conv of ``z`` is the
    stem conv of ``y`` with its kernel scaled per input channel and its bias shifted.
    """
    if not _has_layer(model, "preprocessing"):
        return None
    config = model.get_layer("preprocessing").get_config()
    mean = np.asarray(config["mean"], dtype="float64").reshape(-1)
    std = np.sqrt(np.asarray(config["variance"], dtype="float64").reshape(-1))
    if mean.size != 3:
        return None
    if v2:
        scale, shift, reverse = np.full(3, 1 / 127.5), np.full(3, -1.0), False
    else:
        scale, shift, reverse = np.ones(3), -np.array([123.68, 116.779, 103.939]), True

    def fold(values):
        kernel = np.asarray(values["stem_conv1/kernel"], dtype="float64")
        if reverse:  # the kernel's input channels run B, G, R
            kernel = kernel[:, :, ::-1, :]
        values["stem_conv1/kernel"] = kernel * (scale * std)[None, None, :, None]
        values["stem_conv1/bias"] = values["stem_conv1/bias"] + np.einsum(
            "hwco,c->o", kernel, scale * mean + shift
        )

    return fold


def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)


def _blocks(model):
    return [layer for layer in model.layers if isinstance(layer, BasicBlock | Bottleneck)]


def _layout(model) -> dict[str, Any]:
    """The layout arguments a model was built with, as in ``WeightSet.layout``."""
    blocks = _blocks(model)
    if not blocks:
        raise ValueError(f"{model.name} has no residual blocks: it is not a keras_resnet model.")
    first = blocks[0]
    layout = {}
    if first.stride_in_1x1:
        layout["variant"] = "v1"
    if first.use_bias:
        layout["use_bias"] = True
    if first.subsample_shortcut:
        layout["stride_in_last_block"] = True
    return layout


def _layout_problem(model, layout):
    """What in ``model`` differs from ``layout`` (plus the V2 the layout implies), or None."""
    blocks = _blocks(model)
    if not blocks:
        return "has no residual blocks: it is not a keras_resnet model"
    wants_v2 = layout.get("stride_in_last_block", False)
    if any(block.preact != wants_v2 for block in blocks):
        return "has pre-activation (V2) blocks" if not wants_v2 else "has post-activation blocks"
    actual = _layout(model)
    for key in sorted(set(actual) | set(layout)):
        if actual.get(key) != layout.get(key):
            value = actual.get(key, "its default")
            return f"was built with {key}={value!r}"
    return None


def _format_layout(layout):
    return ", ".join(f"{key}={value!r}" for key, value in layout.items()) or "the defaults"


def _origin(source, fallback):
    if isinstance(source, str | os.PathLike):
        return repr(os.fspath(source))
    return fallback


# --------------------------------------------------------------------------- identifying


def _model_key(model) -> str:
    """The ``MODEL_CONFIGS`` name of a model's architecture (layout aside)."""
    signature = _model_signature(model)
    for key, config in models.MODEL_CONFIGS.items():
        if _config_signature(config) == signature:
            return key
    raise ValueError(
        f"{model.name} is none of the named architectures ({', '.join(models.MODEL_CONFIGS)}): "
        "published weights fit only those. Pass the path of a weights file instead."
    )


def _model_signature(model):
    blocks = _blocks(model)
    if not blocks:
        raise ValueError(f"{model.name} has no residual blocks: it is not a keras_resnet model.")
    depths, widths = {}, {}
    for block in blocks:
        stage = int(_BLOCK_NAME.fullmatch(block.name)[1])
        depths[stage] = depths.get(stage, 0) + 1
        widths[stage] = block.filters
    first = blocks[0]
    stem = "deep" if _has_layer(model, "stem_conv3") else "imagenet"
    if not _has_layer(model, "stem_pool"):
        stem = "cifar"
    return (
        tuple(depths[stage] for stage in sorted(depths)),
        tuple(widths[stage] for stage in sorted(widths)),
        "basic" if isinstance(first, BasicBlock) else "bottleneck",
        first.groups,
        first.base_width,
        first.preact,
        first.avg_down,
        stem,
        first.se_ratio,
    )


def _config_signature(config):
    variant = config.get("variant", "v1.5")
    stem = config.get("stem_type") or ("deep" if variant == "d" else "imagenet")
    depths = tuple(config["stage_depths"])
    default_widths = models.CIFAR_WIDTHS if stem == "cifar" else models.IMAGENET_WIDTHS
    return (
        depths,
        tuple(config.get("stage_widths") or default_widths[: len(depths)]),
        config.get("block_type", "bottleneck"),
        config.get("groups", 1),
        config.get("base_width", 64),
        variant == "v2",
        variant == "d",
        stem,
        config.get("se_ratio"),
    )


# --------------------------------------------------------------------------- downloading


def _is_set_name(name: str) -> bool:
    return name.lower() == "imagenet" or any(
        entry.name.lower() == name.lower() for entry in PRETRAINED_WEIGHTS
    )


def find_weight_set(
    model_name: str, weight_set: str = "imagenet", layout: Mapping[str, Any] | None = None
) -> WeightSet:
    """The row of :data:`PRETRAINED_WEIGHTS` for a model and set name.

    Args:
        model_name: a model name, e.g. ``"resnet50"`` (case-insensitive).
        weight_set: ``"imagenet"`` for the model's default, or a set name such as
            ``"IMAGENET1K_V1"`` (case-insensitive).
        layout: the layout arguments the model was built with (``{}`` for the defaults);
            None accepts any.

    Returns:
        The matching :class:`WeightSet`.

    Raises:
        ValueError: if the model has no such set, or none that fits its layout (the
            message says how to build a model that fits).

    Example:
        >>> find_weight_set("resnet50").url
        'https://download.pytorch.org/models/resnet50-11ad3fa6.pth'
    """
    key = models.canonical_name(model_name)
    candidates = [entry for entry in PRETRAINED_WEIGHTS if entry.model == key]
    if not candidates:
        published = sorted({entry.model for entry in PRETRAINED_WEIGHTS})
        raise ValueError(
            f"No published weights for {key}. Published: {', '.join(published)}. "
            "Pass the path of a weights file instead."
        )
    if weight_set.lower() != "imagenet":
        candidates = [entry for entry in candidates if entry.name.lower() == weight_set.lower()]
        if not candidates:
            names = sorted({entry.name for entry in PRETRAINED_WEIGHTS if entry.model == key})
            raise ValueError(
                f"{key} has no weight set {weight_set!r}: use 'imagenet' or one of {names}."
            )
    fitting = [entry for entry in candidates if layout is None or dict(entry.layout) == layout]
    if fitting:
        return fitting[0]
    options = "; ".join(
        f"{entry.name}: {key}({_format_layout(entry.layout)})" for entry in candidates
    )
    raise ValueError(
        f"{key}'s published weights do not fit a model built with "
        f"{_format_layout(layout)}. Build it to fit the set: {options}."
    )


def download_weights(
    model: str | WeightSet,
    weight_set: str = "imagenet",
    *,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
) -> str:
    """Downloads a published weights file, checks its hash and caches it.

    The file goes to a temporary name next to its destination, its hash is checked,
    and only then is it renamed into place: an interrupted or corrupt download is never
    used, and a file whose hash is wrong is deleted. A cached file is checked again
    before it is used (and fetched anew if it no longer matches). torchvision and timm
    publish only the first eight hex digits of a file's SHA-256 (in its name), so only
    those are checked; keras.applications publishes full MD5 digests.

    Args:
        model: a model name such as ``"resnet50"``, or a :class:`WeightSet`.
        weight_set: with a model name, ``"imagenet"`` for the model's default set or a
            set name such as ``"IMAGENET1K_V1"``.
        cache_dir: the cache root; files go to its ``models`` folder. Defaults to
            ``$KERAS_HOME``, else ``~/.keras`` (as ``keras.utils.get_file``).
        base_url: fetch the file by name from this folder URL instead of the
            publisher's; defaults to ``$KERAS_RESNET_WEIGHTS_URL`` when set.

    Returns:
        The path of the verified file in the cache.

    Raises:
        ValueError: if the downloaded file does not match its published hash, or the
            model has no such set.
        ConnectionError: if the download fails or ends early.

    Example:
        >>> path = download_weights("resnet18", "IMAGENET1K_V1")
    """
    entry = model if isinstance(model, WeightSet) else find_weight_set(model, weight_set)
    base_url = base_url or os.environ.get(BASE_URL_ENV)
    url = f"{base_url.rstrip('/')}/{entry.filename}" if base_url else entry.url
    folder = os.path.join(_cache_root(cache_dir), "models")
    path = os.path.join(folder, entry.filename)
    if os.path.isfile(path):
        if _hash_matches(_file_digest(path, entry.hash_algorithm), entry):
            return path
        warnings.warn(
            f"The cached {path} does not match its published hash: downloading it again.",
            stacklevel=2,
        )
        os.remove(path)
    os.makedirs(folder, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=folder, prefix=f".{entry.filename}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as out:
            print(f"Downloading {url}", file=sys.stderr)
            digest = _fetch(url, out, entry.hash_algorithm)
        if not _hash_matches(digest, entry):
            raise ValueError(
                f"The file downloaded from {url} has {entry.hash_algorithm} {digest}, but "
                f"{entry.model} {entry.name} is published with {entry.file_hash}: it is "
                "corrupt or not the published file, and was deleted."
            )
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def _cache_root(cache_dir):
    root = os.path.expanduser(os.fspath(cache_dir or os.environ.get("KERAS_HOME") or "~/.keras"))
    try:
        os.makedirs(root, exist_ok=True)
    except OSError:
        pass
    if not os.access(root, os.W_OK):  # as keras.utils.get_file does
        root = os.path.join(tempfile.gettempdir(), ".keras")
    return root


def _fetch(url, out, algorithm):
    """Streams ``url`` into ``out``; returns the hex digest of what was written."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            expected = response.headers.get("Content-Length")
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise ConnectionError(
            f"Could not download {url}: {error}. Check the connection, or download the "
            "file by hand and pass its path as weights."
        ) from error
    if expected is not None and received != int(expected):
        raise ConnectionError(
            f"The download of {url} ended after {received} of {expected} bytes; "
            "nothing was kept. Try again."
        )
    return digest.hexdigest()


def _file_digest(path, algorithm):
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_matches(digest, entry):
    return digest.lower().startswith(entry.file_hash.lower())


# --------------------------------------------------------------------------- converting


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
    their v1 or V2 layout, see :func:`source_layout`), loaded, and written atomically:
    to a temporary file in the destination folder, then renamed over ``output``.

    Args:
        source: a weights file (see :func:`load_pretrained`) or a published set name
            such as ``"imagenet"`` (downloaded for ``model_name``).
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
        ImportError: if reading the source needs PyTorch or safetensors.
        ConnectionError: if a download fails.

    Example:
        >>> convert("resnet50-11ad3fa6.pth", "resnet50", "saved_models/resnet50.keras")
    """
    output = os.fspath(output)
    if not output.endswith(".keras"):
        raise ValueError(f"The output must end in '.keras', got {output!r}.")
    if _names_a_set(source):
        source = download_weights(
            model_name, os.fspath(source), cache_dir=cache_dir, base_url=base_url
        )
    kind, state = _read_any(source)
    layout = _keras_layout(state) if kind == "keras_applications" else {}
    if num_classes is None:
        num_classes = _source_classes(state) or 1000
    model = models.get_model(
        model_name,
        num_classes=num_classes,
        include_preprocessing=include_preprocessing,
        **{**layout, **kwargs},
    )
    _load_read(model, source, kind, state)
    _save_atomically(model, output)
    return model


def _source_classes(state):
    if state is None:
        return None
    if "fc.weight" in state:
        return int(state["fc.weight"].shape[0])
    if "predictions/kernel" in state:
        return int(state["predictions/kernel"].shape[-1])
    return None


def _save_atomically(model, output):
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".convert-", suffix=".keras")
    os.close(descriptor)
    try:
        model.save(temporary)
        os.replace(temporary, output)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
