"""Reading weight sources into numpy: torch files, safetensors, keras.applications .h5.

``.pth``/``.pt``/``.bin`` files in torch's zip format are read without torch (see
:mod:`keras_resnet.weights.torch_pickle`); only the legacy format of torch before 1.6
needs torch itself. ``.safetensors`` files are read through the safetensors package's
numpy API. keras.applications files are read with h5py, or through keras.applications
for the Keras 3 format.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file

from keras_resnet.weights.torch_pickle import bfloat16_to_float32, is_torch_zip, load_torch_zip

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
H5_SUFFIXES = (".h5", ".hdf5")
KERAS_SUFFIX = ".keras"  # a saved model: Keras reads the weights inside


def read_state_dict(source: Any) -> dict[str, np.ndarray]:
    """A torch state dict as numpy arrays, from a file, a module or a mapping.

    A training checkpoint that nests the weights under ``"state_dict"`` or ``"model"``
    is unwrapped, a ``"module."`` prefix (DataParallel) stripped and
    ``num_batches_tracked`` dropped.

    Args:
        source: a ``.pth``/``.pt``/``.bin``/``.safetensors`` path, a
            ``torch.nn.Module`` or a mapping of tensors or arrays.

    Returns:
        The state dict, key to numpy array (bfloat16 widened to float32).

    Raises:
        ImportError: if the file is in torch's legacy (pre-1.6) format and PyTorch is
            not installed.
        ValueError: if the file type is unknown, the file holds no state dict, or its
            pickle needs anything but tensors and containers (see
            :class:`~keras_resnet.weights.torch_pickle.UnsafePickleError`).

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
        return _read_safetensors(path)
    if not lower.endswith(TORCH_SUFFIXES):
        raise ValueError(
            f"{path!r} is not a torch weights file: expected {', '.join(TORCH_SUFFIXES)} "
            f"or {SAFETENSORS_SUFFIX}."
        )
    if is_torch_zip(path):
        state = load_torch_zip(path)
    elif _starts_as_pickle(path):
        state = _torch_load_legacy(path)
    else:
        raise ValueError(
            f"{path!r} is not a torch weights file: neither torch's zip format nor its "
            "legacy pickle. Is it a complete download of a file written by torch.save?"
        )
    for wrapper in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping):
        raise ValueError(f"{path!r} holds a {type(state).__name__}, not a state dict.")
    return state


def _read_safetensors(path):
    """A ``.safetensors`` file's arrays; bfloat16 ones, which numpy lacks, as float32."""
    try:
        return _read_safetensors_file(path)
    except (ValueError, UnicodeDecodeError, SafetensorError) as error:
        # A cut or foreign file: a header longer than the file, not JSON, or not
        # covering the data (JSONDecodeError is a ValueError).
        raise ValueError(
            f"{path!r} is not a readable .safetensors file ({error}): is it a complete download?"
        ) from error


def _read_safetensors_file(path):
    with open(path, "rb") as file:
        header_size = int.from_bytes(file.read(8), "little")
        if header_size > os.path.getsize(path) - 8:
            raise ValueError("its header is longer than the file")
        header = json.loads(file.read(header_size))
        tensors = {key: info for key, info in header.items() if key != "__metadata__"}
        if not any(info["dtype"] == "BF16" for info in tensors.values()):
            return load_file(path)
        data = file.read()
    # safetensors.numpy cannot hold bfloat16: read those tensors from the raw bytes.
    with safe_open(path, framework="numpy") as reader:
        state = {}
        for key, info in tensors.items():
            if info["dtype"] == "BF16":
                begin, end = info["data_offsets"]
                state[key] = bfloat16_to_float32(data[begin:end]).reshape(info["shape"])
            else:
                state[key] = reader.get_tensor(key)
    return state


def _starts_as_pickle(path) -> bool:
    # torch's legacy format is a pickle of protocol 2 or later: it opens with PROTO.
    with open(path, "rb") as file:
        return file.read(1) == pickle.PROTO


def _torch_load_legacy(path):
    """torch's pre-1.6 (non-zip) format, which only torch itself reads."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"{path!r} is not in torch's zip format (torch 1.6 and later): reading it "
            "needs PyTorch: pip install torch, or save it again with a recent torch or "
            "as .safetensors, which load without it."
        ) from error
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(
            f"{path!r} is not a readable torch weights file ({reason}): is it a complete "
            "download of a file written by torch.save?"
        ) from error


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


def _check_hdf5(path):
    import h5py

    if os.path.isfile(path) and not h5py.is_hdf5(path):
        raise ValueError(
            f"{path!r} is not an HDF5 file, as .h5 weights are: is it a complete download "
            "of a file written by Keras?"
        )


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


def read_any(source: Any) -> tuple[str, dict[str, np.ndarray] | None]:
    """What kind of weights a source holds, and its arrays.

    Args:
        source: a file, a torch state dict or module, a mapping of arrays, or a
            keras.applications model.

    Returns:
        ``("torch", state)`` for torchvision/timm state dicts, ``("keras_applications",
        state)`` for keras.applications weights, ``("native", None)`` for this library's
        ``.weights.h5`` and ``.keras`` files (loaded by Keras itself).

    Raises:
        ValueError, ImportError: as :func:`read_state_dict`.

    Example:
        >>> kind, state = read_any("resnet18-f37072fd.pth")
        >>> kind
        'torch'
    """
    if isinstance(source, keras.Model):
        return "keras_applications", read_keras_applications(source)
    if isinstance(source, Mapping) or hasattr(source, "state_dict"):
        return "torch", read_state_dict(source)
    path = os.fspath(source)
    lower = path.lower()
    if lower.endswith((*TORCH_SUFFIXES, SAFETENSORS_SUFFIX)):
        return "torch", read_state_dict(path)
    if lower.endswith(H5_SUFFIXES):
        _check_hdf5(path)
        if _is_keras_applications_h5(path):
            return "keras_applications", read_keras_applications(path)
    return "native", None
