"""Serving artifacts: each format predicts what the Keras model predicts, on each backend."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from conftest import random_images, to_numpy

import keras_resnet
from keras_resnet import cli, export, saving

BACKEND = keras.backend.backend()
FORMAT_PATHS = {"savedmodel": "servable", "onnx": "model.onnx", "tflite": "model.tflite"}
SUPPORTED = [name for name, backends in export.FORMATS.items() if BACKEND in backends]


def randomized(model: keras.Model, seed: int = 0) -> keras.Model:
    """``model`` with every weight random, BN gammas, betas and statistics included.

    A fresh model's zero-initialised last gammas silence every residual branch, and its
    BN statistics are 0 and 1: a comparison on it would see only the stem and head.
    """
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        # Scales that keep activations of order one through every block, so that the
        # softmax does not saturate: small gammas, He-scaled kernels.
        if weight.path.endswith("gamma"):
            value = rng.uniform(0.2, 0.6, shape)
        elif weight.path.endswith("moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif weight.path.endswith("kernel"):
            value = rng.normal(0.0, (2.0 / np.prod(shape[:-1])) ** 0.5, shape)
        else:
            value = rng.normal(0.0, 0.2, shape)
        weight.assign(value.astype(weight.dtype))
    return model


@pytest.fixture(scope="module")
def model():
    # Open height and width, as the library builds models by default.
    return randomized(keras_resnet.ResNet20(num_classes=3))


def run_artifact(format: str, path: str, images: np.ndarray) -> np.ndarray:
    """Predictions of an exported artifact, through the runtime that serves the format."""
    if format == "savedmodel":
        import tensorflow as tf

        # Keep the loaded object alive: its variables go when it is collected.
        servable = tf.saved_model.load(path)
        return servable.serve(tf.constant(images)).numpy()
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return session.run(["predictions"], {"image": images})[0]
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tensorflow.lite import Interpreter
    interpreter = Interpreter(model_path=path)
    image_input = interpreter.get_input_details()[0]
    # TFLite plans memory for one batch size: set the one at hand.
    interpreter.resize_tensor_input(image_input["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(image_input["index"], images)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_randomized_reaches_every_residual_branch(model):
    fresh = keras_resnet.ResNet20(num_classes=3)
    fresh.set_weights(model.get_weights())
    images = random_images(2, 32, seed=4)
    before = to_numpy(fresh(images, training=False))
    # Silencing one block's last BN in the last stage changes the output.
    gamma = fresh.get_layer("conv4_block3").weights
    (last_gamma,) = [w for w in gamma if w.path.endswith("bn2/gamma")]
    last_gamma.assign(np.zeros(last_gamma.shape, last_gamma.dtype))
    assert np.abs(to_numpy(fresh(images, training=False)) - before).max() > 1e-3
    # And the outputs are not saturated, so a comparison at 1e-4 means something.
    assert before.max() < 0.99


@pytest.mark.parametrize("format", list(export.FORMATS))
def test_artifact_predicts_like_the_keras_model(format, model, tmp_path):
    path = str(tmp_path / FORMAT_PATHS[format])
    if BACKEND not in export.FORMATS[format]:
        with pytest.raises(ValueError, match=f"{format} export needs KERAS_BACKEND=tensorflow"):
            export.export_model(model, path, format, image_size=32)
        assert os.listdir(tmp_path) == []
        pytest.skip(f"the {BACKEND} backend cannot write {format}: asserted the error instead")
    assert export.export_model(model, path, format, image_size=32) == path
    assert sorted(os.listdir(tmp_path)) == [FORMAT_PATHS[format]]  # no temporary debris
    # Raw pixels, several images: the batch size stays open.
    images = random_images(3, 32, seed=1)
    expected = to_numpy(model(images, training=False))
    np.testing.assert_allclose(run_artifact(format, path, images), expected, atol=1e-4, rtol=0)


def test_model_file_exports_with_its_saved_size_and_class_names(tmp_path):
    model = randomized(keras_resnet.ResNet20(num_classes=3), seed=1)
    model_path = saving.save_model(
        model, tmp_path / "model.keras", class_names=["cat", "dog", "fox"], image_size=[24, 24]
    )
    format = SUPPORTED[0] if SUPPORTED[0] != "tflite" else "savedmodel"
    path = str(tmp_path / FORMAT_PATHS[format])
    export.export_model(model_path, path, format)
    assert export.read_metadata(path) == {
        "input_shape": [24, 24, 3],
        "input_range": [0, 255],
        "class_names": ["cat", "dog", "fox"],
    }
    images = random_images(2, 24, seed=2)
    np.testing.assert_allclose(
        run_artifact(format, path, images), to_numpy(model(images)), atol=1e-4, rtol=0
    )


def test_input_size_must_be_known_and_consistent(model, tmp_path):
    format = SUPPORTED[0]
    path = str(tmp_path / FORMAT_PATHS[format])
    with pytest.raises(ValueError, match="takes images of any size.*image_size=224"):
        export.export_model(model, path, format)
    fixed = keras_resnet.ResNet20(num_classes=3, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="takes 32x32 images; it cannot export at 64x64"):
        export.export_model(fixed, path, format, image_size=64)
    with pytest.raises(ValueError, match=r"image_size must be N or \(height, width\)"):
        export.export_model(model, path, format, image_size=(32, 32, 3))
    assert os.listdir(tmp_path) == []


def test_format_and_path_mistakes_are_clear(model, tmp_path):
    with pytest.raises(ValueError, match="Unknown export format 'pb'"):
        export.export_model(model, tmp_path / "x", "pb", image_size=32)
    for format in SUPPORTED:
        if format == "savedmodel":
            with pytest.raises(ValueError, match="SavedModel is a folder"):
                export.export_model(model, tmp_path / "x.onnx", format, image_size=32)
        else:
            with pytest.raises(ValueError, match="must end in '.onnx'|must end in '.tflite'"):
                export.export_model(model, tmp_path / "x.bin", format, image_size=32)
        assert export.check_format(format.upper()) == format
    if BACKEND == "tensorflow":
        assert export.check_format("litert") == "tflite"
        assert export.check_format("tf_saved_model") == "savedmodel"
    assert os.listdir(tmp_path) == []


def test_a_failed_export_leaves_no_half_artifact_and_keeps_the_old_one(
    model, tmp_path, monkeypatch
):
    format = SUPPORTED[0]
    path = tmp_path / FORMAT_PATHS[format]
    export.export_model(model, path, format, image_size=32)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    def broken_writer(model, spec, temporary, record):
        with open(temporary, "wb") as file:
            file.write(b"half an artifact")
        raise OSError("disk full")

    monkeypatch.setattr(export, f"_write_{format}", broken_writer)
    with pytest.raises(OSError, match="disk full"):
        export.export_model(model, path, format, image_size=32)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    monkeypatch.undo()
    fresh = tmp_path / "fresh" / FORMAT_PATHS[format]
    monkeypatch.setattr(export, f"_write_{format}", broken_writer)
    with pytest.raises(OSError):
        export.export_model(model, fresh, format, image_size=32)
    assert os.listdir(tmp_path / "fresh") == []


def test_export_command(tmp_path, capsys):
    model = randomized(keras_resnet.ResNet20(num_classes=3), seed=2)
    model_path = str(saving.save_model(model, tmp_path / "model.keras"))
    format = SUPPORTED[0]
    output = str(tmp_path / FORMAT_PATHS[format])
    assert (
        cli.main(
            ["export", model_path, "--format", format, "--output", output, "--image-size", "32"]
        )
        == 0
    )
    assert output in capsys.readouterr().out
    images = random_images(2, 32, seed=3)
    np.testing.assert_allclose(
        run_artifact(format, output, images), to_numpy(model(images)), atol=1e-4, rtol=0
    )
    # No size anywhere: one line on stderr, exit code 2.
    assert (
        cli.main(
            [
                "export",
                model_path,
                "--format",
                format,
                "--output",
                str(tmp_path / "unsized" / FORMAT_PATHS[format]),
            ]
        )
        == 2
    )
    assert "--image-size" in capsys.readouterr().err
    unsupported = [name for name in export.FORMATS if name not in SUPPORTED]
    if unsupported:
        args = ["export", model_path, "--format", unsupported[0], "--output", str(tmp_path / "u")]
        assert cli.main([*args, "--image-size", "32"]) == 2
        assert "needs KERAS_BACKEND=tensorflow" in capsys.readouterr().err
