"""Reading torch's zip checkpoints without torch: a restricted unpickler into numpy.

``torch.save`` writes a zip archive: ``<name>/data.pkl`` pickles the object, and each
tensor's storage is a raw file ``<name>/data/<key>``, referenced from the pickle by a
persistent id. A pickle may call any importable function, so this reader allows only
the globals a state dict needs (the tensor and parameter rebuilds, storage classes, ``OrderedDict``)
and refuses every other one before it could run: a file that needs anything else is not
a plain state dict.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from typing import Any

import numpy as np

# torch's legacy storage classes, by the element type they hold.
STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


class UnsafePickleError(ValueError):
    """A checkpoint's pickle needs a global that a plain state dict never does."""


def is_torch_zip(path: str) -> bool:
    """Whether ``path`` is a zip archive as ``torch.save`` writes since torch 1.6.

    Args:
        path: a file.

    Returns:
        True if it is a zip holding a ``data.pkl``.

    Example:
        >>> is_torch_zip("resnet18-f37072fd.pth")
        True
    """
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return _pickle_name(archive) is not None


def load_torch_zip(path: str) -> Any:
    """The object a torch zip checkpoint holds, its tensors as numpy arrays.

    Tensors come back with their dtype, shape and strides resolved into contiguous
    arrays; bfloat16 becomes float32 (numpy has no bfloat16), exactly.

    Args:
        path: a ``.pth``/``.pt``/``.bin`` file written by ``torch.save``.

    Returns:
        The unpickled object: usually a dict of arrays, possibly nested.

    Raises:
        UnsafePickleError: if the pickle needs any global outside the allowed few (the
            message names it); nothing it names is imported or called.
        ValueError: if the archive is malformed (a missing storage, a tensor that
            reaches past its storage).

    Example:
        >>> load_torch_zip("resnet18-f37072fd.pth")["conv1.weight"].shape
        (64, 3, 7, 7)
    """
    with zipfile.ZipFile(path) as archive:
        pickle_name = _pickle_name(archive)
        if pickle_name is None:
            raise ValueError(f"{path!r} is not a torch zip checkpoint: it has no data.pkl.")
        prefix = pickle_name.removesuffix("data.pkl")
        byteorder_name = f"{prefix}byteorder"
        byteorder = "little"
        if byteorder_name in archive.namelist():
            byteorder = archive.read(byteorder_name).decode("ascii").strip()
        unpickler = _StateDictUnpickler(
            io.BytesIO(archive.read(pickle_name)), archive, f"{prefix}data/", path, byteorder
        )
        return unpickler.load()


def _pickle_name(archive):
    names = [name for name in archive.namelist() if name.endswith("data.pkl")]
    top = [name for name in names if name.count("/") == 1 or name == "data.pkl"]
    return (top or [None])[0]


def bfloat16_to_float32(data: bytes, byteorder: str = "<") -> np.ndarray:
    """bfloat16 values, which numpy lacks, widened exactly to float32.

    A bfloat16 is the upper half of a float32, so the widening is a shift.

    Args:
        data: the raw bfloat16 values.
        byteorder: ``"<"`` (little-endian, as torch and safetensors write) or ``">"``.

    Returns:
        A flat float32 array.

    Example:
        >>> bfloat16_to_float32(b"\\x80\\x3f")
        array([1.], dtype=float32)
    """
    halves = np.frombuffer(data, dtype=f"{byteorder}u2").astype("=u4")
    return (halves << 16).view("=f4")


class _Storage:
    """A storage's bytes as a flat numpy array, read from the archive once."""

    def __init__(self, values: np.ndarray):
        self.values = values


class _StorageType:
    """Stands for one of torch's storage classes; carries its numpy dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


def _rebuild_tensor(storage, storage_offset, size, stride, *_):
    """numpy's version of ``torch._utils._rebuild_tensor_v2``: a copied strided view."""
    if not isinstance(storage, _Storage):
        raise ValueError("a tensor in the checkpoint does not refer to a storage.")
    values = storage.values
    size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
    storage_offset = int(storage_offset)
    if len(size) != len(stride) or any(n < 0 for n in (*size, *stride, storage_offset)):
        raise ValueError(f"a tensor has size {size} and stride {stride}, which do not match.")
    if 0 in size:
        return np.zeros(size, dtype=values.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= values.size:
        # as_strided does not check bounds: a crafted file could read past the buffer.
        raise ValueError(
            f"a tensor of size {size}, stride {stride} and offset {storage_offset} "
            f"reaches past its storage of {values.size} elements."
        )
    view = np.lib.stride_tricks.as_strided(
        values[storage_offset:],
        shape=size,
        strides=tuple(s * values.itemsize for s in stride),
        writeable=False,
    )
    return np.array(view, order="C")


def _rebuild_parameter(data, *_):
    """numpy's version of ``torch._utils._rebuild_parameter``: the tensor itself."""
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles only tensors, storages and containers; refuses every other global."""

    def __init__(self, file, archive, data_prefix, path, byteorder):
        super().__init__(file)
        self._archive = archive
        self._data_prefix = data_prefix
        self._path = path
        self._byteorder = "<" if byteorder == "little" else ">"
        self._storages = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        # Protocol 2 pickles name Python 3's builtins module as Python 2 did.
        module = "builtins" if module == "__builtin__" else module
        raise UnsafePickleError(
            f"{self._path!r} needs the global {module}.{name}, which a plain state dict "
            "never does: it is not a plain state dict, and was not loaded (nothing in it "
            "ran). If you trust the file, load it with torch and save its state_dict()."
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError(f"{self._path!r} refers to {pid!r}, which is not a tensor storage.")
        storage_type, key, _location, numel = pid[1:]
        if not isinstance(storage_type, _StorageType):
            raise ValueError(f"{self._path!r} has a storage of unknown type {storage_type!r}.")
        if key not in self._storages:
            self._storages[key] = _Storage(self._read_storage(str(key), storage_type, numel))
        return self._storages[key]

    def _read_storage(self, key, storage_type, numel):
        try:
            data = self._archive.read(f"{self._data_prefix}{key}")
        except KeyError as error:
            raise ValueError(f"{self._path!r} lacks the storage {key!r}.") from error
        if storage_type.dtype == "bfloat16":
            values = bfloat16_to_float32(data, self._byteorder)
        else:
            stored = np.dtype(storage_type.dtype).newbyteorder(self._byteorder)
            values = np.frombuffer(data, dtype=stored)
            values = values.astype(values.dtype.newbyteorder("="), copy=False)
        if values.size < numel:
            raise ValueError(
                f"{self._path!r}'s storage {key!r} holds {values.size} elements, not {numel}."
            )
        return values
