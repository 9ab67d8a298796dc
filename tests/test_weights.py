"""Pretrained weights: parity with torchvision, timm and keras.applications; downloads.

Every parity test builds the reference network with random weights and BatchNorm
statistics far from 0 and 1, converts it, and compares logits in inference mode. The
download tests serve files they make from a server on 127.0.0.1: nothing leaves the
machine,
and the Hub tests point HF_ENDPOINT at such a server.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import http.server
import os
import pickle
import re
import subprocess
import sys
import threading
import types

import keras
import numpy as np
import pytest
from torchvision_state import torchvision_state

import keras_resnet
from keras_resnet import cli, saving, weights
from keras_resnet.weights import WeightSet

SIZE = 64
TOLERANCE = 1e-4
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype="float32")
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype="float32")

large = pytest.mark.large


@pytest.fixture(autouse=True)
def _free_models():
    yield
    keras.backend.clear_session()
    gc.collect()


def _torch():
    reason = "needs torch and torchvision (pip install 'keras3-resnet[torch]')"
    if "tensorflow" in sys.modules and "torch._dynamo" not in sys.modules:
        # torchvision imports torch._dynamo, which imports triton, whose LLVM crashes
        # the process when TensorFlow's is already loaded. CPU references need no triton.
        sys.modules.setdefault("triton", None)
    torch = pytest.importorskip("torch", reason=reason)
    torchvision = pytest.importorskip("torchvision", reason=reason)
    return torch, torchvision


def _safetensors():
    return pytest.importorskip("safetensors", reason="needs safetensors (pip install safetensors)")


def _ours(name, size=SIZE, **kwargs):
    kwargs.setdefault("include_preprocessing", False)
    return keras_resnet.get_model(
        name, input_shape=(size, size, 3), classifier_activation=None, **kwargs
    )


def _predict(model, images):
    return keras.ops.convert_to_numpy(model(images, training=False))


def _max_error(actual, expected):
    assert actual.shape == expected.shape
    return float(np.max(np.abs(actual - expected)))


def _zero(model):
    for variable in model.weights:
        variable.assign(np.zeros(variable.shape, dtype=variable.dtype))


def _images(size=SIZE, batch=2, seed=0):
    """Normalised NHWC images, and the same as NCHW for torch."""
    images = np.random.default_rng(seed).normal(size=(batch, size, size, 3)).astype("float32")
    return images, np.ascontiguousarray(images.transpose(0, 3, 1, 2))


# ----------------------------------------------------------------- torch references


def _moving_statistics(values, rng):
    """Random moving statistics for a BN whose input is ``values`` (channels last).

    They start from the input's own statistics, so that activations stay near unit
    scale at any depth and logits compare with an absolute tolerance, and are then
    moved at random. The variance is floored (by the layer's median and a tenth of the
    squared mean) so that channels that are nearly constant on the few test pixels do
    not amplify float32 rounding.
    """
    axes = tuple(range(values.ndim - 1))
    mean, variance = values.mean(axis=axes), values.var(axis=axes)
    n = mean.size
    moving_mean = mean + 0.2 * np.sqrt(variance) * rng.normal(size=n)
    floor = np.median(variance) + 0.1 * mean**2
    moving_variance = (variance + floor) * rng.uniform(0.5, 2.0, n)
    return moving_mean.astype("float32"), moving_variance.astype("float32")


def _gamma(rng, n, last_in_branch):
    # Small on a residual branch's last BN, as in trained ResNets: a deep random stack
    # of full-size branches would grow its activations, and float32 rounding with them.
    low, high = (0.1, 0.4) if last_in_branch else (0.5, 1.5)
    return rng.uniform(low, high, n).astype("float32")


def _randomize_torch(torch, module, images_nchw, seed=0):
    """Random BN affine parameters and moving statistics far from 0 and 1.

    Each BN's statistics are set (by :func:`_moving_statistics`) from the input it
    receives in inference mode on ``images``, while one forward pass reaches it.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    rng = np.random.default_rng(seed)
    last = set()
    for block in module.modules():
        if isinstance(block, Bottleneck):
            last.add(block.bn3)
        elif isinstance(block, BasicBlock):
            last.add(block.bn2)
    norms = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]

    def calibrate(norm, args):
        values = args[0].permute(0, 2, 3, 1).numpy()
        mean, variance = _moving_statistics(values, rng)
        norm.running_mean.copy_(torch.from_numpy(mean))
        norm.running_var.copy_(torch.from_numpy(variance))

    module.eval()
    with torch.no_grad():
        for norm in norms:
            norm.weight.copy_(torch.from_numpy(_gamma(rng, norm.num_features, norm in last)))
            norm.bias.copy_(torch.from_numpy(rng.normal(0, 0.2, norm.num_features)))
        hooks = [norm.register_forward_pre_hook(calibrate) for norm in norms]
        module(torch.from_numpy(images_nchw))
    for hook in hooks:
        hook.remove()
    return module


def _torch_logits(torch, module, images_nchw):
    with torch.no_grad():
        return module(torch.from_numpy(images_nchw)).numpy()


def _save_both(torch, module, folder):
    """The module's state dict as .pth and .safetensors files."""
    from safetensors.torch import save_file

    state = module.state_dict()
    torch.save(state, folder / "weights.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "weights.safetensors")
    return folder / "weights.pth", folder / "weights.safetensors"


def _timm_resnet_d(torch, torchvision, arch):
    """A torchvision ResNet rebuilt as timm's resnet*d, with timm's module names.

    timm's resnet18d..152d: a deep stem of three 3x3 convs (32, 32, 64 channels) as
    ``conv1 = Sequential(conv, bn, relu, conv, bn, relu, conv)`` then ``bn1``; each
    projection shortcut ``downsample = Sequential(pool, conv1x1, bn)``, the pool an
    ``AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)``, or an Identity
    where the block keeps its resolution.
    """
    nn = torch.nn
    module = getattr(torchvision.models, arch)()
    module.conv1 = nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 3, stride=1, padding=1, bias=False),
    )
    for stage in (module.layer1, module.layer2, module.layer3, module.layer4):
        block = stage[0]
        if block.downsample is None:
            continue
        conv, norm = block.downsample
        stride = conv.stride[0]
        pool = (
            nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
            if stride > 1
            else nn.Identity()
        )
        projection = nn.Conv2d(conv.in_channels, conv.out_channels, 1, bias=False)
        block.downsample = nn.Sequential(pool, projection, norm)
    return module


@pytest.mark.parametrize(
    "arch",
    [
        "resnet18",
        "resnet34",
        "resnet50",
        pytest.param("resnet101", marks=large),
        pytest.param("resnet152", marks=large),
    ],
)
def test_torchvision_weights_give_the_same_logits(arch, tmp_path):
    torch, torchvision = _torch()
    _safetensors()
    images, images_nchw = _images()
    reference = _randomize_torch(torch, getattr(torchvision.models, arch)(), images_nchw)
    expected = _torch_logits(torch, reference, images_nchw)
    files = _save_both(torch, reference, tmp_path)
    del reference

    model = _ours(arch)
    for path in files:
        _zero(model)
        weights.load_pretrained(model, path)
        error = _max_error(_predict(model, images), expected)
        assert error < TOLERANCE, f"{arch} from {path.suffix}: max abs error {error:.2e}"


@pytest.mark.parametrize(
    "arch, name", [("resnext50_32x4d", "ResNeXt50_32x4d"), ("wide_resnet50_2", "WideResNet50_2")]
)
def test_grouped_and_wide_torchvision_weights_load_through_the_constructor(arch, name, tmp_path):
    torch, torchvision = _torch()
    _safetensors()
    images, images_nchw = _images()
    reference = _randomize_torch(torch, getattr(torchvision.models, arch)(), images_nchw)
    expected = _torch_logits(torch, reference, images_nchw)
    _, path = _save_both(torch, reference, tmp_path)
    del reference

    model = _ours(name, weights=path)
    error = _max_error(_predict(model, images), expected)
    assert error < TOLERANCE, f"{arch}: max abs error {error:.2e}"


@pytest.mark.parametrize("arch, name", [("resnet18", "ResNet18D"), ("resnet50", "ResNet50D")])
def test_timm_resnet_d_weights_give_the_same_logits(arch, name, tmp_path):
    torch, torchvision = _torch()
    # 72 pixels: the last average-pooled shortcut sees an odd size (ceil_mode in timm).
    images, images_nchw = _images(size=72)
    reference = _randomize_torch(torch, _timm_resnet_d(torch, torchvision, arch), images_nchw)
    expected = _torch_logits(torch, reference, images_nchw)
    state = reference.state_dict()
    assert {"conv1.6.weight", "bn1.running_var", "layer2.0.downsample.1.weight"} <= set(state)
    torch.save(state, tmp_path / f"{arch}d.pth")
    del reference

    model = _ours(name, size=72, weights=tmp_path / f"{arch}d.pth")
    error = _max_error(_predict(model, images), expected)
    assert error < TOLERANCE, f"{arch}d: max abs error {error:.2e}"


def test_preprocessing_inside_the_model_matches_torchvision_normalisation(tmp_path):
    torch, torchvision = _torch()
    pixels = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    normalised = ((pixels / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)
    normalised = np.ascontiguousarray(normalised, dtype="float32")
    reference = _randomize_torch(torch, torchvision.models.resnet18(), normalised)
    expected = _torch_logits(torch, reference, normalised)

    model = _ours("resnet18", include_preprocessing=True, weights=None)
    weights.load_pretrained(model, reference)  # a torch.nn.Module works as a source too
    error = _max_error(_predict(model, pixels), expected)
    assert error < TOLERANCE, f"raw pixels against torchvision's normalisation: {error:.2e}"


# ----------------------------------------------------------------- keras.applications


def _randomize_keras(model, images, seed=0):
    """As _randomize_torch, for a keras.applications model; also random conv biases."""
    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    v2 = any(layer.name == "post_bn" for layer in model.layers)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.use_bias:
            layer.bias.assign(rng.normal(0.0, 0.1, layer.bias.shape).astype("float32"))
        if v2 and layer.name.endswith("_3_conv"):
            # V2 branches end with this conv: keep it small, as _gamma does for v1.
            layer.kernel.assign(0.25 * keras.ops.convert_to_numpy(layer.kernel))
    for norm in norms:
        n = norm.gamma.shape[0]
        norm.gamma.assign(_gamma(rng, n, norm.name.endswith("_3_bn")))
        norm.beta.assign(rng.normal(0.0, 0.2, n).astype("float32"))

    def calibrating(norm):
        def call(inputs, training=None, mask=None):
            mean, variance = _moving_statistics(keras.ops.convert_to_numpy(inputs), rng)
            norm.moving_mean.assign(mean)
            norm.moving_variance.assign(variance)
            return type(norm).call(norm, inputs, training=False, mask=mask)

        return call

    for norm in norms:
        norm.call = calibrating(norm)
    try:
        model(images, training=False)
    finally:
        for norm in norms:
            del norm.call


def _keras_reference(name, images):
    reference = getattr(keras.applications, name)(
        weights=None, input_shape=images.shape[1:], classifier_activation=None
    )
    _randomize_keras(reference, images)
    return reference


@pytest.mark.parametrize(
    "name",
    [
        "ResNet50",
        "ResNet50V2",
        pytest.param("ResNet101", marks=large),
        pytest.param("ResNet152", marks=large),
        pytest.param("ResNet101V2", marks=large),
        pytest.param("ResNet152V2", marks=large),
    ],
)
def test_keras_applications_weights_give_the_same_logits(name, tmp_path):
    images, _ = _images()
    reference = _keras_reference(name, images)
    expected = _predict(reference, images)
    layout = weights.source_layout(reference)
    assert layout == (weights.KERAS_V2_LAYOUT if name.endswith("V2") else weights.KERAS_V1_LAYOUT)

    model = _ours(name, **layout)
    weights.load_pretrained(model, reference)
    error = _max_error(_predict(model, images), expected)
    assert error < TOLERANCE, f"{name}: max abs error {error:.2e}"
    if name not in ("ResNet50", "ResNet50V2"):
        return
    # The files keras.applications downloads (legacy .h5) and Keras 3 saves (.weights.h5).
    legacy_h5 = tmp_path / "weights.h5"
    _save_legacy_h5(reference, legacy_h5)
    reference.save_weights(tmp_path / "saved.weights.h5")
    del reference
    for path in (legacy_h5, tmp_path / "saved.weights.h5"):
        _zero(model)
        weights.load_pretrained(model, path)
        error = _max_error(_predict(model, images), expected)
        assert error < TOLERANCE, f"{name} from {path.name}: max abs error {error:.2e}"


def _save_legacy_h5(model, path):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, model)


def test_keras_applications_v2_weights_need_its_layout():
    images, _ = _images()
    reference = _keras_reference("ResNet50V2", images)
    with pytest.raises(ValueError, match="stride_in_last_block=True"):
        weights.load_pretrained(_ours("ResNet50V2"), reference)


@pytest.mark.parametrize("name", ["ResNet50", "ResNet50V2"])
def test_keras_applications_preprocessing_is_folded_into_the_stem(name):
    """Raw pixels in our model against keras.applications' own preprocess_input.

    The fold is exact but at the image border, where the stem's zero padding stands for
    the mean pixel in ours and for keras.applications' zero (BGR means for v1, mid-gray
    for V2) in theirs: the stem agrees inside, the logits only closely.
    """
    pixels = np.random.default_rng(2).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    module = keras.applications.resnet_v2 if name.endswith("V2") else keras.applications.resnet
    prepared = keras.ops.convert_to_numpy(module.preprocess_input(pixels.copy()))
    reference = _keras_reference(name, prepared)
    model = _ours(name, include_preprocessing=True, **weights.source_layout(reference))
    weights.load_pretrained(model, reference)

    def stem(network, layer, images):
        return _predict(keras.Model(network.input, network.get_layer(layer).output), images)

    expected_stem = stem(reference, "conv1_conv", prepared)
    inside = (slice(None), slice(2, -2), slice(2, -2))
    error = _max_error(stem(model, "stem_conv1", pixels)[inside], expected_stem[inside])
    assert error < 1e-5 * np.max(np.abs(expected_stem)), f"{name} stem: {error:.2e}"
    logits, expected = _predict(model, pixels), _predict(reference, prepared)
    assert np.corrcoef(logits.ravel(), expected.ravel())[0, 1] > 0.9


# ----------------------------------------------------------------- torch-free sources


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A ResNet18 .safetensors file with torchvision's names, its inputs and logits."""
    _safetensors()
    from safetensors.numpy import save_file

    images, _ = _images()
    source = _ours("resnet18")
    rng = np.random.default_rng(3)
    for variable in source.weights:
        if variable.path.endswith(("moving_variance", "gamma")):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
        elif variable.path.endswith(("moving_mean", "beta")):
            variable.assign(rng.normal(0.0, 0.2, variable.shape).astype("float32"))
    state = torchvision_state(source)
    expected = _predict(source, images)
    keras.backend.clear_session()
    path = tmp_path_factory.mktemp("resnet18") / "resnet18-test.safetensors"
    save_file(state, str(path))
    return types.SimpleNamespace(path=path, state=state, images=images, expected=expected)


def test_safetensors_loads_without_torch(resnet18_file, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "torch", None)  # importing torch now fails
        state = weights.read_state_dict(resnet18_file.path)
    model = _ours("resnet18")
    weights.load_pretrained(model, state)
    assert _max_error(_predict(model, resnet18_file.images), resnet18_file.expected) < TOLERANCE


def test_pth_without_torch_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    path = tmp_path / "resnet18.pth"
    path.write_bytes(pickle.dumps({"conv1.weight": 0}, protocol=2))  # torch's legacy layout
    with pytest.raises(ImportError, match="needs PyTorch"):
        weights.read_state_dict(path)


@pytest.mark.parametrize(
    "edit, key",
    [
        ("reshape", "layer2.0.conv1.weight"),
        ("delete", "layer3.1.bn2.running_var"),
        ("add", "layer4.2.conv1.weight"),
    ],
)
def test_mismatched_weights_name_the_first_offending_key(resnet18_file, edit, key):
    state = dict(resnet18_file.state)
    if edit == "reshape":
        state[key] = np.zeros((128, 64, 1, 1), dtype="float32")
    elif edit == "delete":
        del state[key]
    else:
        state[key] = np.zeros((512, 512, 3, 3), dtype="float32")
    state["layer1.0.bn1.num_batches_tracked"] = np.array(5)  # ignored
    model = _ours("resnet18")
    before = [keras.ops.convert_to_numpy(v) for v in model.weights]
    with pytest.raises(ValueError, match=re.escape(repr(key))):
        weights.load_pretrained(model, state)
    # Nothing was assigned: the checks run before the first assignment.
    for variable, value in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


def test_other_num_classes_loads_the_backbone_and_keeps_a_fresh_head(resnet18_file):
    with pytest.warns(UserWarning, match="1000 classes.*7.*loaded the backbone"):
        model = _ours("resnet18", num_classes=7, weights=resnet18_file.path)
    stem = keras.ops.convert_to_numpy(model.get_layer("stem_conv1").kernel)
    np.testing.assert_array_equal(stem, resnet18_file.state["conv1.weight"].transpose(2, 3, 1, 0))
    assert model.get_layer("predictions").kernel.shape == (512, 7)

    headless = _ours("resnet18", include_top=False, pooling="avg", weights=resnet18_file.path)
    assert headless.output_shape == (None, 512)


def test_torch_weights_refuse_a_model_of_another_layout(resnet18_file):
    with pytest.raises(ValueError, match="use_bias"):
        _ours("resnet18", use_bias=True, weights=resnet18_file.path)


def test_missing_file_and_unpublished_set_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        keras_resnet.ResNet20(weights=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="No published weights for ResNet20"):
        keras_resnet.ResNet20(weights="imagenet")
    with pytest.raises(ValueError, match="stride_in_last_block=True"):
        weights.find_weight_set("resnet50v2", layout={})


def test_own_weights_files_still_load(tmp_path):
    source = keras_resnet.ResNet20(input_shape=(32, 32, 3))
    source.save_weights(tmp_path / "resnet20.weights.h5")
    images = np.random.default_rng(4).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = _predict(source, images)
    model = keras_resnet.ResNet20(input_shape=(32, 32, 3), weights=tmp_path / "resnet20.weights.h5")
    np.testing.assert_allclose(_predict(model, images), expected, atol=1e-6)


def test_own_files_of_other_classes_give_the_backbone(tmp_path):
    """A model of one's own (its .weights.h5, or the .keras file a run saves) starts a
    model for other classes: the backbone loads, the classifier stays fresh."""
    source = keras_resnet.ResNet20(num_classes=10, input_shape=(32, 32, 3))
    rng = np.random.default_rng(5)
    for variable in source.weights:  # away from any initialisation
        shape = tuple(variable.shape)
        variable.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
    source.save_weights(tmp_path / "own.weights.h5")
    saving.save_model(source, tmp_path / "own.keras")
    features = keras.Model(source.inputs, source.get_layer("predictions").input)
    images = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = _predict(features, images)
    for path in (tmp_path / "own.weights.h5", tmp_path / "own.keras"):
        with pytest.warns(UserWarning, match="does not fit the 5 classes.*loaded the backbone"):
            model = keras_resnet.ResNet20(num_classes=5, input_shape=(32, 32, 3), weights=path)
        mine = keras.Model(model.inputs, model.get_layer("predictions").input)
        np.testing.assert_allclose(_predict(mine, images), expected, rtol=1e-5)
        head = keras.ops.convert_to_numpy(model.get_layer("predictions").kernel)
        assert head.shape == (64, 5) and not np.any((head >= 0.5) & (head <= 1.5))
    headless = keras_resnet.ResNet20(
        include_top=False, pooling="avg", input_shape=(32, 32, 3), weights=path
    )
    np.testing.assert_allclose(_predict(headless, images), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="hold 97 arrays but resnet32 has .*another architecture"):
        keras_resnet.ResNet32(num_classes=5, input_shape=(32, 32, 3), weights=path)
    (tmp_path / "notes.keras").write_text("not a model")
    with pytest.raises(ValueError, match="is not a weights file this library reads"):
        keras_resnet.ResNet20(input_shape=(32, 32, 3), weights=tmp_path / "notes.keras")


def test_convert_writes_a_keras_file_atomically(resnet18_file, tmp_path):
    output = tmp_path / "out" / "resnet18.keras"
    weights.convert(resnet18_file.path, "resnet18", output, include_preprocessing=False)
    assert os.listdir(output.parent) == ["resnet18.keras"]
    revived = keras.saving.load_model(output)
    logits = np.log(_predict(revived, resnet18_file.images))  # the saved model has softmax
    logits -= logits.mean(axis=1, keepdims=True)
    expected = resnet18_file.expected - resnet18_file.expected.mean(axis=1, keepdims=True)
    assert _max_error(logits, expected) < 1e-3
    # The source's ImageNet head is kept, so the file names its classes.
    assert saving.read_metadata(output)["class_names"][281] == "tabby"

    with pytest.raises(ValueError, match="layer1.2"):  # a ResNet18 file is no ResNet34
        weights.convert(resnet18_file.path, "resnet34", tmp_path / "out" / "resnet34.keras")
    assert os.listdir(output.parent) == ["resnet18.keras"]


@pytest.mark.skipif("convert" not in cli.COMMANDS, reason="no convert command in cli.py yet")
def test_convert_command(resnet18_file, tmp_path, capsys):
    output = tmp_path / "resnet18-5.keras"
    arguments = ["convert", str(resnet18_file.path), "--model", "resnet18"]
    assert cli.main([*arguments, "--num-classes", "5", "--output", str(output)]) == 0
    assert "1000 classes" in capsys.readouterr().err  # the fresh classifier, said once
    assert keras.saving.load_model(output).output_shape == (None, 5)
    assert "class_names" not in saving.read_metadata(output)  # a fresh head has no names
    missing = ["convert", str(tmp_path / "missing.pth"), "--model", "resnet18"]
    assert cli.main([*missing, "--output", str(output)]) == 2


# ----------------------------------------------------------------- downloads


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``root``; ``/truncated/NAME`` stops halfway."""
    root = tmp_path / "served"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            if not self.path.startswith("/truncated/"):
                return super().do_GET()
            data = (root / self.path.rsplit("/", 1)[-1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield types.SimpleNamespace(
        url=f"http://127.0.0.1:{httpd.server_port}", root=root, requests=requests
    )
    httpd.shutdown()
    httpd.server_close()


def _publish(server, monkeypatch, tmp_path, data, name="resnet18-test.safetensors", digest=None):
    """Serves ``data`` as a published ResNet18 set; returns its table row and cache file."""
    (server.root / name).write_bytes(data)
    digest = digest or hashlib.sha256(data).hexdigest()[:8]  # a prefix, as torchvision's
    entry = WeightSet("ResNet18", "TEST_SET", f"https://publisher.invalid/models/{name}", digest)
    monkeypatch.setattr(weights.sets, "PRETRAINED_WEIGHTS", (entry,))
    monkeypatch.setenv(weights.BASE_URL_ENV, server.url)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return entry, tmp_path / "keras_home" / "models" / name


def test_download_is_checked_cached_and_converted(resnet18_file, server, monkeypatch, tmp_path):
    entry, cached = _publish(server, monkeypatch, tmp_path, resnet18_file.path.read_bytes())
    model = _ours("resnet18", weights="imagenet")
    assert cached.is_file() and len(server.requests) == 1
    assert _max_error(_predict(model, resnet18_file.images), resnet18_file.expected) < TOLERANCE

    assert weights.download_weights("resnet18", "test_set") == str(cached)
    assert len(server.requests) == 1  # the second call used the cache
    assert os.listdir(cached.parent) == [cached.name]


def test_download_with_the_wrong_hash_is_deleted(server, monkeypatch, tmp_path):
    entry, cached = _publish(server, monkeypatch, tmp_path, b"weights", digest="00000000")
    with pytest.raises(ValueError, match="sha256 .* published with 00000000.*deleted"):
        weights.download_weights(entry)
    assert os.listdir(cached.parent) == []


def test_interrupted_download_is_never_used(server, monkeypatch, tmp_path):
    data = os.urandom(1 << 16)
    entry, cached = _publish(server, monkeypatch, tmp_path, data)
    cached.parent.mkdir(parents=True)
    # What a killed download leaves behind: a temporary file, never the real name.
    (cached.parent / f".{cached.name}.killed.part").write_bytes(data[:100])
    with pytest.raises(ConnectionError, match="ended after"):
        weights.download_weights(entry, base_url=f"{server.url}/truncated")
    assert not cached.exists()

    path = weights.download_weights(entry)
    assert open(path, "rb").read() == data


def test_corrupt_cached_file_is_fetched_again(server, monkeypatch, tmp_path):
    data = os.urandom(1 << 12)
    entry, cached = _publish(server, monkeypatch, tmp_path, data)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data[:-1])
    with pytest.warns(UserWarning, match="does not match"):
        path = weights.download_weights(entry)
    assert open(path, "rb").read() == data and len(server.requests) == 1


def test_published_table_is_consistent():
    seen = set()
    for entry in weights.PRETRAINED_WEIGHTS:
        assert entry.model in keras_resnet.MODEL_CONFIGS
        assert (entry.model, entry.name) not in seen
        seen.add((entry.model, entry.name))
        if entry.hash_algorithm == "sha256":
            # torchvision and timm: the file name carries the start of its SHA-256.
            assert re.search(rf"-{entry.file_hash}\.pth$", entry.url), entry.url
        else:
            assert len(entry.file_hash) == 32
    assert weights.find_weight_set("resnet50").name == "IMAGENET1K_V2"
    # torchvision's evaluation transforms: resize 232 for its V2 recipes, 256 for V1.
    assert weights.find_weight_set("resnet50").resize_size == 232
    assert weights.find_weight_set("resnet50", "imagenet1k_v1").resize_size == 256
    assert {entry.crop_size for entry in weights.PRETRAINED_WEIGHTS} == {224}
    assert weights.find_weight_set("resnet50", "imagenet1k_v1").url.endswith("0676ba61.pth")
    v1 = weights.find_weight_set("resnet50", layout=weights.KERAS_V1_LAYOUT)
    assert v1.name == "KERAS_APPLICATIONS"


# ----------------------------------------------------------------- without torch

_TORCH_FREE_SCRIPT = """
import importlib.abc
import sys


class NoTorch(importlib.abc.MetaPathFinder):
    # Makes importing torch fail, as on a machine where it is not installed.

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, NoTorch())
import keras
import numpy as np

import keras_resnet

images = np.load(sys.argv[1])
for name, size, path, output in zip(*[iter(sys.argv[2:])] * 4, strict=True):
    model = keras_resnet.get_model(
        name,
        input_shape=(int(size), int(size), 3),
        include_preprocessing=False,
        classifier_activation=None,
        weights=path,
    )
    logits = model(images[:, : int(size), : int(size)], training=False)
    np.save(output, keras.ops.convert_to_numpy(logits))
assert "torch" not in sys.modules, "something imported torch"
"""


def test_torchvision_pth_and_timm_safetensors_load_where_torch_cannot_be_imported(tmp_path):
    torch, torchvision = _torch()
    from safetensors.torch import save_file

    size_d = 72  # as in test_timm_resnet_d_weights_give_the_same_logits
    images, images_nchw = _images(size=size_d)
    small_nchw = np.ascontiguousarray(images_nchw[:, :, :SIZE, :SIZE])
    torchvision_model = _randomize_torch(torch, torchvision.models.resnet18(), small_nchw)
    timm_model = _randomize_torch(
        torch, _timm_resnet_d(torch, torchvision, "resnet18"), images_nchw, seed=1
    )
    torch.save(torchvision_model.state_dict(), tmp_path / "resnet18.pth")
    timm_state = {key: value.contiguous() for key, value in timm_model.state_dict().items()}
    save_file(timm_state, tmp_path / "resnet18d.safetensors")
    expected = {
        "ResNet18": _torch_logits(torch, torchvision_model, small_nchw),
        "ResNet18D": _torch_logits(torch, timm_model, images_nchw),
    }
    np.save(tmp_path / "images.npy", images)
    jobs = [
        ("ResNet18", SIZE, tmp_path / "resnet18.pth"),
        ("ResNet18D", size_d, tmp_path / "resnet18d.safetensors"),
    ]
    arguments = [str(tmp_path / "images.npy")]
    for name, size, path in jobs:
        arguments += [name, str(size), str(path), str(tmp_path / f"{name}.npy")]
    backend = keras.backend.backend()
    env = {
        **os.environ,
        "KERAS_BACKEND": "tensorflow" if backend == "torch" else backend,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-c", _TORCH_FREE_SCRIPT, *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name, logits in expected.items():
        error = _max_error(np.load(tmp_path / f"{name}.npy"), logits)
        assert error < TOLERANCE, f"{name} read without torch: max abs error {error:.2e}"


# ----------------------------------------------------------------- Hugging Face Hub


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A Hub look-alike on 127.0.0.1, with HF_ENDPOINT and the cache pointed at tmp_path.

    ``/{repo}/resolve/{revision}/{file}`` answers with a redirect carrying the file's
    SHA-256 in ``X-Linked-Etag`` (as the Hub does for large files) to ``/lfs/{sha256}``,
    which serves the bytes. ``corrupt`` makes it serve other bytes under the same hash.
    """
    files = {}
    requests = []
    state = types.SimpleNamespace(corrupt=False, send_hash=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            if self.path.startswith("/lfs/"):
                data = files.get(self.path.removeprefix("/lfs/"))
                if data is None:
                    return self.send_error(404)
                if state.corrupt:
                    data = data[::-1]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            sha = files.get(self.path)
            if sha is None:
                return self.send_error(404)
            self.send_response(302)
            self.send_header("Location", f"/lfs/{sha}")
            if state.send_hash:
                self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def publish(repo, data, filename="model.safetensors", revision="main"):
        sha = hashlib.sha256(data).hexdigest()
        files[f"/{repo}/resolve/{revision}/{filename}"] = sha
        files[sha] = data
        return sha

    def stop():
        httpd.shutdown()
        httpd.server_close()

    keras_home = tmp_path / "keras_home"
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{httpd.server_port}")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield types.SimpleNamespace(
        publish=publish, stop=stop, requests=requests, state=state, keras_home=keras_home
    )
    stop()


def _cached_files(root):
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root)
        for name in names
    )


def test_hub_set_downloads_once_then_loads_from_the_cache_offline(resnet18_file, hub, monkeypatch):
    hub.publish("timm/resnet18.test", resnet18_file.path.read_bytes())
    model = _ours("resnet18", weights="hf://timm/resnet18.test")
    assert _max_error(_predict(model, resnet18_file.images), resnet18_file.expected) < TOLERANCE
    assert len(hub.requests) == 2  # the resolve redirect, then the file
    cached = os.path.join("models", "hub", "timm", "resnet18.test", "main", "model.safetensors")
    assert _cached_files(hub.keras_home) == [cached]

    hub.stop()  # no network from here on
    model = _ours("resnet18", weights="hf://timm/resnet18.test")
    assert _max_error(_predict(model, resnet18_file.images), resnet18_file.expected) < TOLERANCE
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = weights.download_hub_file("hf://timm/resnet18.test")
    assert path == str(hub.keras_home / cached) and len(hub.requests) == 2


def test_hub_download_that_does_not_match_its_hash_is_refused_and_not_cached(resnet18_file, hub):
    sha = hub.publish("timm/resnet18.test", resnet18_file.path.read_bytes())
    hub.state.corrupt = True
    with pytest.raises(ValueError, match=f"published with {sha}.*corrupt"):
        _ours("resnet18", weights="hf://timm/resnet18.test")
    assert _cached_files(hub.keras_home) == []

    hub.state.corrupt = False  # the next try downloads again and succeeds
    model = _ours("resnet18", weights="hf://timm/resnet18.test")
    assert _max_error(_predict(model, resnet18_file.images), resnet18_file.expected) < TOLERANCE


def test_hub_set_in_the_table_is_checked_against_the_table(hub, monkeypatch):
    data = b"not the published weights"
    hub.publish("timm/resnet18.test", data)
    hub.state.send_hash = False
    entry = WeightSet("ResNet18", "HUB_TEST", "hf://timm/resnet18.test", "0" * 64)
    monkeypatch.setattr(weights.sets, "PRETRAINED_WEIGHTS", (entry,))
    with pytest.raises(ValueError, match="published with 0{64}"):
        weights.download_hub_file("hf://timm/resnet18.test")
    assert _cached_files(hub.keras_home) == []

    entry = dataclasses.replace(entry, file_hash=hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(weights.sets, "PRETRAINED_WEIGHTS", (entry,))
    path = weights.download_hub_file("hf://timm/resnet18.test")
    assert open(path, "rb").read() == data
    requests = len(hub.requests)
    assert weights.download_weights("resnet18", "hub_test") == path  # a table row on the Hub
    assert len(hub.requests) == requests


def test_hub_without_network_or_cache_is_a_clear_error(hub, monkeypatch):
    hub.publish("timm/resnet18.test", b"weights")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="not in the cache.*HF_HUB_OFFLINE=1"):
        weights.download_hub_file("hf://timm/resnet18.test")
    assert hub.requests == []

    monkeypatch.delenv("HF_HUB_OFFLINE")
    hub.stop()
    with pytest.raises(ConnectionError, match="Could not download"):
        weights.download_hub_file("hf://timm/resnet18.test")
    assert _cached_files(hub.keras_home) == []


def test_hub_names():
    hub_file = weights.parse_hub_name("hf://timm/resnet50.a1_in1k")
    assert hub_file.url("https://huggingface.co/") == (
        "https://huggingface.co/timm/resnet50.a1_in1k/resolve/main/model.safetensors"
    )
    hub_file = weights.parse_hub_name("hf://me/nets@v1.0/weights/resnet18.pth")
    assert (hub_file.repo, hub_file.revision, hub_file.filename) == (
        "me/nets",
        "v1.0",
        "weights/resnet18.pth",
    )
    for name in ("hf://timm", "hf://timm/", "hf://timm/../etc", "hf://timm/x@.."):
        with pytest.raises(ValueError, match="hf://|revision"):
            weights.parse_hub_name(name)


# ----------------------------------------------------------------- architecture


@pytest.mark.parametrize(
    "name, layout, problem",
    [
        ("ResNet20", {}, "was built with use_bias='its default'"),
        ("ResNet18D", {}, "was built with use_bias='its default'"),
        ("ResNeXt50_32x4d", {}, "was built with use_bias='its default'"),
        ("ResNet50", weights.KERAS_V1_LAYOUT, "was built with use_bias=True"),
        ("ResNet50V2", weights.KERAS_V2_LAYOUT, "has pre-activation (V2) blocks"),
    ],
)
def test_architecture_of_names_the_model_and_its_layout(name, layout, problem):
    model = keras_resnet.get_model(name, weights=None, **layout)
    architecture = weights.architecture_of(model)
    assert architecture.name == name
    assert dict(architecture.layout) == dict(layout)
    assert architecture.deep_stem == architecture.avg_down == name.endswith("D")
    assert architecture.preact == name.endswith("V2")
    assert architecture.layout_problem(layout) is None
    # Each model against another layout: torchvision's for keras.applications' models.
    assert architecture.layout_problem({} if layout else {"use_bias": True}) == problem


def test_architecture_of_an_unnamed_model_has_no_name():
    model = keras_resnet.ResNet(stage_depths=(1, 1), block_type="basic", input_shape=(32, 32, 3))
    assert weights.architecture_of(model).name is None
    with pytest.raises(ValueError, match="none of the named architectures"):
        weights.load_pretrained(model, "imagenet")
