"""Reading torch checkpoints without torch: parity with torch.load, and refusal of code.

Each parity test writes a file with ``torch.save`` and compares what the torch-free
reader gives with what ``torch.load`` gives, array for array and bit for bit. The
refusal tests craft pickles that would run code, inside a torch-style zip, and check
that loading them raises before anything runs.
"""

from __future__ import annotations

import collections
import os
import pickle
import sys
import zipfile

import numpy as np
import pytest

from keras_resnet import weights
from keras_resnet.weights import torch_pickle


def _torch():
    if "tensorflow" in sys.modules and "torch._dynamo" not in sys.modules:
        # torch._dynamo imports triton, whose LLVM crashes the process when
        # TensorFlow's is already loaded. CPU references need no triton.
        sys.modules.setdefault("triton", None)
    return pytest.importorskip("torch", reason="needs torch (pip install 'keras3-resnet[torch]')")


def _as_numpy(torch, value):
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bfloat16:
            return value.float().numpy()
        return value.numpy()
    if isinstance(value, dict):
        return {key: _as_numpy(torch, item) for key, item in value.items()}
    return value


def _assert_same(actual, expected, where="the checkpoint"):
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), where
        assert actual.dtype == expected.dtype, f"{where}: {actual.dtype} != {expected.dtype}"
        assert actual.shape == expected.shape, f"{where}: {actual.shape} != {expected.shape}"
        np.testing.assert_array_equal(actual, expected, err_msg=where)
    elif isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            _assert_same(actual[key], expected[key], f"{where}[{key!r}]")
    else:
        assert actual == expected, where


def _checkpoint(torch):
    """Tensors of every storage type, views into shared storage, and nested containers."""
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(6, 10, generator=generator)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    return {
        "float32": base,
        "transposed": base.t(),  # non-contiguous: strides (1, 10)
        "offset": base[2:, 3:],  # a view starting 23 elements into the storage
        "strided": base[::2, ::3],
        "float16": base.half()[1:],
        "bfloat16": base.bfloat16(),
        "float64": base.double(),
        "int64": torch.tensor([1, -2, 3]),
        "int32": torch.tensor([7, 8], dtype=torch.int32),
        "uint8": torch.arange(5, dtype=torch.uint8),
        "bool": torch.tensor([True, False]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "nested": {"state_dict": module.state_dict(), "epoch": 3, "names": ["a", "b"]},
    }


def test_torch_free_reader_matches_torch_load_exactly(tmp_path):
    torch = _torch()
    path = tmp_path / "checkpoint.pth"
    torch.save(_checkpoint(torch), path)
    expected = _as_numpy(torch, torch.load(path, map_location="cpu", weights_only=True))

    actual = torch_pickle.load_torch_zip(str(path))
    _assert_same(actual, expected)
    assert isinstance(actual["nested"]["state_dict"], collections.OrderedDict)
    assert actual["offset"].flags.c_contiguous and actual["transposed"].flags.c_contiguous


def test_read_state_dict_unwraps_a_checkpoint_and_drops_bookkeeping(tmp_path):
    torch = _torch()
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4))
    with torch.no_grad():
        module[1].running_var.uniform_(0.5, 2.0)
    state = module.state_dict()
    torch.save({"state_dict": state, "epoch": 90}, tmp_path / "checkpoint.pth")
    torch.save({f"module.{key}": value for key, value in state.items()}, tmp_path / "dp.pt")

    for name in ("checkpoint.pth", "dp.pt"):
        read = weights.read_state_dict(tmp_path / name)
        assert set(read) == {key for key in state if not key.endswith("num_batches_tracked")}
        for key, array in read.items():
            np.testing.assert_array_equal(array, state[key].numpy())


def test_legacy_torch_files_fall_back_to_torch(tmp_path):
    torch = _torch()
    state = {"conv1.weight": torch.randn(2, 3, 1, 1), "fc.bias": torch.randn(2).half()}
    path = tmp_path / "legacy.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)
    read = weights.read_state_dict(path)
    for key, value in state.items():
        np.testing.assert_array_equal(read[key], value.numpy())


@pytest.mark.parametrize(
    "contents, reason",
    [
        (b"<html>404 Not Found</html>", "neither torch's zip format nor its legacy pickle"),
        (pickle.dumps({"w": 1}, protocol=2)[:-4], "not a readable torch weights file"),  # cut short
    ],
    ids=["not_torch", "truncated_legacy"],
)
def test_a_file_that_is_not_torch_weights_is_a_clear_error(tmp_path, contents, reason):
    path = tmp_path / "resnet50.pth"
    path.write_bytes(contents)
    if contents.startswith(pickle.PROTO):
        _torch()  # the legacy format is read by torch itself
    with pytest.raises(ValueError, match=reason) as raised:
        weights.read_state_dict(path)
    assert "resnet50.pth" in str(raised.value)


def _cut_safetensors(path):
    from safetensors.numpy import save_file

    save_file({"conv1.weight": np.ones((8, 3, 3, 3), np.float32)}, path)
    path.write_bytes(path.read_bytes()[:-100])


@pytest.mark.parametrize(
    "name, write, reason",
    [
        ("cut.safetensors", _cut_safetensors, "not a readable .safetensors file"),
        ("page.safetensors", lambda p: p.write_text("<html>404</html>"), "not a readable"),
        ("page.h5", lambda p: p.write_text("<html>404</html>"), "not an HDF5 file"),
    ],
)
def test_a_cut_or_foreign_weights_file_is_a_clear_error(tmp_path, name, write, reason):
    import keras_resnet

    path = tmp_path / name
    write(path)
    model = keras_resnet.ResNet20(num_classes=10)
    with pytest.raises(ValueError, match=reason) as raised:
        weights.load_pretrained(model, path)
    assert name in str(raised.value)


def test_legacy_torch_file_without_torch_is_a_clear_error(tmp_path, monkeypatch):
    torch = _torch()
    path = tmp_path / "legacy.pth"
    torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="not in torch's zip format.*needs PyTorch"):
        weights.read_state_dict(path)


def _torch_style_zip(path, payload, *, storages=None):
    """A zip laid out as torch.save writes it, around a pickle of our making."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for key, data in (storages or {}).items():
            archive.writestr(f"archive/data/{key}", data)


class _Call:
    """Pickles as a call of ``function(*args)``: what a malicious checkpoint holds."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize(
    "function, forbidden",
    [
        (os.system, f"{os.system.__module__}.system"),
        (eval, "builtins.eval"),
        (print, "builtins.print"),
    ],
)
def test_a_pickle_that_would_run_code_is_refused_unrun(function, forbidden, tmp_path):
    marker = tmp_path / "ran"
    argument = {
        os.system: f"touch {marker}",
        eval: f"open({str(marker)!r}, 'w').close()",
        print: "the pickle ran",
    }[function]
    path = tmp_path / "resnet18.pth"
    payload = pickle.dumps({"conv1.weight": _Call(function, argument)}, protocol=2)
    _torch_style_zip(path, payload)

    with pytest.raises(torch_pickle.UnsafePickleError) as caught:
        weights.read_state_dict(path)
    message = str(caught.value)
    assert forbidden in message and "not a plain state dict" in message
    assert not marker.exists()
    assert isinstance(caught.value, ValueError)  # what weights= callers already catch


def test_a_refused_pickle_names_the_global_through_the_constructor(tmp_path, capfd):
    import keras_resnet

    path = tmp_path / "resnet18.pth"
    _torch_style_zip(path, pickle.dumps({"w": _Call(print, "the pickle ran")}, protocol=2))
    with pytest.raises(ValueError, match="builtins.print.*not a plain state dict"):
        keras_resnet.ResNet20(weights=path)
    assert "the pickle ran" not in capfd.readouterr().out


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    data = np.arange(4, dtype="<f4").tobytes()
    path = tmp_path / "bad.pth"
    _torch_style_zip(path, _raw_tensor_pickle((3, 2), (2, 1)), storages={"0": data})
    with pytest.raises(ValueError, match="reaches past its storage"):
        weights.read_state_dict(path)

    good = tmp_path / "good.pth"
    _torch_style_zip(good, _raw_tensor_pickle((2, 2), (1, 2)), storages={"0": data})
    np.testing.assert_array_equal(weights.read_state_dict(good)["w"], [[0, 2], [1, 3]])


def _raw_tensor_pickle(size, stride, offset=0, numel=4):
    """{"w": tensor} in protocol-2 opcodes, as torch.save writes it (see pickletools)."""

    def text(value):
        data = value.encode()
        return b"X" + len(data).to_bytes(4, "little") + data

    def small_ints(values):
        return b"(" + b"".join(b"K" + bytes([v]) for v in values) + b"t"

    storage = (
        b"("
        + text("storage")
        + b"ctorch\nFloatStorage\n"
        + text("0")
        + text("cpu")
        + b"K"
        + bytes([numel])
        + b"t"
        + b"Q"
    )
    arguments = (
        b"("
        + storage
        + b"K"
        + bytes([offset])
        + small_ints(size)
        + small_ints(stride)
        + b"\x89"
        + b"ccollections\nOrderedDict\n)R"
        + b"t"
    )
    rebuild = b"ctorch._utils\n_rebuild_tensor_v2\n" + arguments + b"R"
    return b"\x80\x02}" + text("w") + rebuild + b"s."


def test_safetensors_with_bfloat16_read_exactly_as_float32(tmp_path):
    torch = _torch()
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(1)
    state = {
        "conv1.weight": torch.randn(4, 3, 3, 3, generator=generator).bfloat16(),
        "bn1.running_var": torch.rand(4, generator=generator),
        "bn1.running_mean": torch.randn(4, generator=generator).half(),
    }
    save_file(state, tmp_path / "mixed.safetensors")
    read = weights.read_state_dict(tmp_path / "mixed.safetensors")
    _assert_same(read, _as_numpy(torch, state))
    assert read["conv1.weight"].dtype == np.float32
