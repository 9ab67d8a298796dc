"""End-to-end tests of ``keras-resnet train``, ``evaluate`` and ``predict``.

The commands run in-process through ``keras_resnet.cli.main`` (and once as
``python -m keras_resnet.cli``) on a generated image folder that holds the files
users really have: a truncated JPEG, a text file named .jpg, RGBA, grayscale and
CMYK images and a 3x3 one. Tiny sizes keep each backend's run short.
"""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import PNG_MAGIC, assert_run_folder_is_complete
from PIL import Image

from keras_resnet import cli, saving

CLASSES = ["blue", "green", "red"]
COLOURS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}


def _photo(colour, size, rng):
    noise = rng.integers(-25, 25, (size[1], size[0], 3))
    pixels = np.clip(np.array(colour) + noise, 0, 255).astype("uint8")
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        folder = root / name
        folder.mkdir()
        for index in range(8):
            size = (int(rng.integers(24, 64)), int(rng.integers(24, 64)))
            extension = "jpg" if index % 2 else "png"
            _photo(colour, size, rng).save(folder / f"{index}.{extension}")
    # The awkward files users have.
    _photo(COLOURS["red"], (40, 40), rng).save(root / "red" / "whole.jpg")
    whole = (root / "red" / "whole.jpg").read_bytes()
    (root / "red" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "green" / "notes.jpg").write_text("not an image, only named like one\n")
    rgba = _photo(COLOURS["blue"], (30, 30), rng).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(root / "blue" / "rgba.png")
    _photo(COLOURS["red"], (36, 28), rng).convert("L").save(root / "red" / "gray.jpg")
    _photo(COLOURS["green"], (33, 45), rng).convert("CMYK").save(root / "green" / "cmyk.jpg")
    _photo(COLOURS["blue"], (3, 3), rng).save(root / "blue" / "tiny.png")
    return root


@pytest.fixture(scope="module")
def trained_run(image_folder, tmp_path_factory):
    """One small training run through the CLI, shared by the tests that use its model."""
    output = tmp_path_factory.mktemp("saved_models")
    code = cli.main(
        [
            "train",
            "--data", str(image_folder),
            "--model", "resnet20",
            "--image-size", "32",
            "--epochs", "2",
            "--batch-size", "8",
            "--output", str(output),
            "--run-name", "colours",
        ]
    )  # fmt: skip
    assert code == 0
    return output / "colours"


def _one_error_line(capsys, code, *must_contain):
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("keras-resnet ")
    assert "Traceback" not in captured.err
    for text in must_contain:
        assert text in lines[0]
    return lines[0]


def test_train_writes_model_metrics_and_plots(trained_run, capsys):
    assert_run_folder_is_complete(trained_run)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    # A plain folder has no test split: the held-out validation images are the test.
    assert metrics["evaluated_on"] == "validation"
    assert 0.0 <= metrics["validation_accuracy"] <= 1.0
    assert metrics["class_names"] == CLASSES
    assert metrics["epochs_run"] == 2
    assert metrics["model_name"] == "ResNet20"
    # 29 readable images of 31 files: the truncated JPEG and the text file are skipped.
    assert metrics["num_train"] + metrics["validation_num_examples"] == 29
    _, metadata = saving.load_model(trained_run / "model.keras", compile=False)
    assert metadata["class_names"] == CLASSES
    assert metadata["image_size"] == [32, 32]


def test_evaluate_prints_accuracy_report_and_writes_confusion_matrix(
    trained_run, image_folder, tmp_path, capsys
):
    code = cli.main(
        ["evaluate", str(trained_run / "model.keras"), "--data", str(image_folder),
         "--output", str(tmp_path), "--top-k", "2"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "accuracy:" in out and "top2 accuracy:" in out
    for name in CLASSES:
        assert name in out  # the per-class table
    assert "precision" in out and "recall" in out
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:8] == PNG_MAGIC


def test_predict_prints_top_classes_for_awkward_images(trained_run, image_folder, capsys):
    images = [
        image_folder / "blue" / "rgba.png",
        image_folder / "red" / "gray.jpg",
        image_folder / "green" / "cmyk.jpg",
        image_folder / "blue" / "tiny.png",
    ]
    code = cli.main(["predict", str(trained_run / "model.keras"), *map(str, images)])
    out = capsys.readouterr().out
    assert code == 0
    for image in images:
        assert str(image) in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    assert len(rows) == 4 * 3  # top-5 capped at the 3 classes
    assert {row[0] for row in rows} == set(CLASSES)
    assert all(row[1].endswith("%") for row in rows)


def test_default_train_uses_the_embedded_digits(tmp_path, capsys):
    # The default data, model and run name; 8x8 images and one epoch keep it quick.
    code = cli.main(
        ["train", "--epochs", "1", "--image-size", "8", "--batch-size", "128",
         "--output", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "test accuracy:" in out
    metrics = json.loads((tmp_path / "resnet20-digits" / "metrics.json").read_text())
    test_accuracy = [key for key in metrics if "test" in key and "acc" in key]
    assert "test_accuracy" in test_accuracy
    assert metrics["class_names"] == [str(digit) for digit in range(10)]
    assert (tmp_path / "resnet20-digits" / "training_curves.png").read_bytes()[:8] == PNG_MAGIC


def test_user_mistakes_are_one_line_and_exit_code_2(trained_run, image_folder, tmp_path, capsys):
    model = str(trained_run / "model.keras")
    _one_error_line(capsys, cli.main(["train", "--model", "resnet99"]), "Unknown model")
    _one_error_line(
        capsys, cli.main(["train", "--data", str(tmp_path / "missing")]), "does not exist"
    )
    empty = tmp_path / "empty_class"
    (empty / "cats").mkdir(parents=True)
    (empty / "dogs").mkdir()
    _photo((0, 0, 0), (8, 8), np.random.default_rng(0)).save(empty / "cats" / "a.png")
    _one_error_line(capsys, cli.main(["train", "--data", str(empty)]), "dogs")
    one_class = tmp_path / "one_class"
    (one_class / "cats").mkdir(parents=True)
    _photo((0, 0, 0), (8, 8), np.random.default_rng(0)).save(one_class / "cats" / "a.png")
    _one_error_line(capsys, cli.main(["train", "--data", str(one_class)]), "at least two")
    not_weights = tmp_path / "resnet20.pth"
    not_weights.write_text("<html>404 Not Found</html>")
    _one_error_line(
        capsys,
        cli.main(["train", "--weights", str(not_weights)]),
        "not a torch weights file",
    )
    _one_error_line(capsys, cli.main(["train", "--epochs", "two"]), "--epochs")
    _one_error_line(capsys, cli.main(["train", "--lr", "-1"]), "--lr")
    _one_error_line(capsys, cli.main(["evaluate", str(tmp_path / "nope.keras")]), "nope.keras")
    not_a_model = tmp_path / "model.keras"
    not_a_model.write_text("hello")
    _one_error_line(capsys, cli.main(["predict", str(not_a_model), "x.jpg"]), "x.jpg")
    _one_error_line(
        capsys,
        cli.main(["predict", str(not_a_model), str(image_folder / "blue" / "rgba.png")]),
        "not a Keras model file",
    )
    for broken in ("green/notes.jpg", "red/truncated.jpg"):
        _one_error_line(capsys, cli.main(["predict", model, str(image_folder / broken)]), broken)
    _one_error_line(
        capsys,
        cli.main(["evaluate", model, "--data", str(tmp_path / "empty_class")]),
        "dogs",
    )


def test_a_warning_is_one_line_under_the_command(image_folder, tmp_path, capsys):
    code = cli.main(
        [
            "train",
            "--data", str(image_folder),
            "--model", "resnet20",
            "--image-size", "16",
            "--epochs", "1",
            "--batch-size", "8",
            "--output", str(tmp_path),
            "--run-name", "never_started",
            "--resume",
        ]
    )  # fmt: skip
    assert code == 0
    lines = _command_lines(capsys.readouterr().err)
    warned = [line.removeprefix("keras-resnet train: warning: ") for line in lines]
    assert any(line.startswith("Nothing to resume") for line in warned)
    assert any(line.startswith("Skipping 2 unreadable") for line in warned)
    assert not [line for line in lines if "UserWarning" in line or "return fit(" in line]


def _command_lines(stderr: str) -> list[str]:
    """stderr without the C++ start-up log of TensorFlow and XLA.

    TensorFlow 2.21 logs through absl before absl is initialised, so its start-up lines
    (oneDNN, CUDA probing, CPU features) reach stderr whatever TF_CPP_MIN_LOG_LEVEL says.
    They come from importing the libraries, not from the command.
    """
    absl_line = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")
    return [
        line
        for line in stderr.splitlines()
        if line.strip()
        and not absl_line.match(line)
        and not line.startswith("WARNING: All log messages before absl::InitializeLog()")
        and not line.startswith("To enable the following instructions:")
    ]


def test_command_line_entry_point(trained_run, image_folder):
    command = [sys.executable, "-m", "keras_resnet.cli", "predict"]
    image = str(image_folder / "red" / "gray.jpg")
    done = subprocess.run(
        [*command, str(trained_run / "model.keras"), image, "--top-k", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == image
    assert len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr

    missing = str(trained_run / "missing.keras")
    failed = subprocess.run([*command, missing, image], capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2
    assert "Traceback" not in failed.stderr
    assert _command_lines(failed.stderr) == [
        f"keras-resnet predict: error: no model file at {missing!r}"
    ]


def test_distribution_mistakes_are_one_line_and_exit_code_2(capsys, monkeypatch):
    import keras

    backend = keras.backend.backend()
    _one_error_line(capsys, cli.main(["train", "--devices", "0"]), "--devices", "positive")
    _one_error_line(capsys, cli.main(["train", "--strategy", "ring"]), "--strategy", "ring")
    if backend == "torch":
        _one_error_line(capsys, cli.main(["train", "--devices", "2"]), "one device")
        _one_error_line(capsys, cli.main(["train", "--strategy", "mirrored"]), "torch backend")
    elif backend == "jax":
        _one_error_line(capsys, cli.main(["train", "--strategy", "mirrored"]), "TensorFlow's")
        _one_error_line(capsys, cli.main(["train", "--strategy", "multiworker"]), "dataparallel")
    else:
        _one_error_line(capsys, cli.main(["train", "--strategy", "dataparallel"]), "JAX")
        monkeypatch.delenv("TF_CONFIG", raising=False)
        _one_error_line(capsys, cli.main(["train", "--strategy", "multiworker"]), "TF_CONFIG")


@pytest.mark.slow
@pytest.mark.parametrize("backend, strategy", [("tensorflow", "mirrored"), ("jax", "dataparallel")])
def test_train_on_two_cpu_devices_end_to_end(tmp_path, backend, strategy):
    command = [
        sys.executable, "-m", "keras_resnet.cli", "train", "--devices", "2",
        "--epochs", "1", "--image-size", "8", "--batch-size", "64",
        "--output", str(tmp_path), "--run-name", "two",
    ]  # fmt: skip
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"distribution: {strategy}, 2 replicas" in done.stdout
    assert "batch: 128 images per step (64 per replica); peak learning rate 0.4" in done.stdout
    assert "test accuracy:" in done.stdout
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics["strategy"] == strategy and metrics["num_replicas"] == 2
    assert metrics["batch_size"] == 128 and metrics["backend"] == backend
    assert metrics["test_num_examples"] == 359  # every test digit, whatever the devices
    model, metadata = saving.load_model(tmp_path / "two" / "model.keras")
    assert metadata["class_names"] == [str(digit) for digit in range(10)]
    images = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 3)).astype("float32")
    probabilities = model.predict(images, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_the_first_screen_of_a_usage_error_is_the_error_alone():
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "keras_resnet.cli", "train", "--epochs", "x"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "keras-resnet train: error: argument --epochs: expected a whole number, got 'x'"
    ]


def test_a_command_that_runs_the_backend_shows_no_device_probing():
    # TensorFlow probes CUDA on its first operation (a failed cuInit is logged as an
    # error on every machine without an NVIDIA driver); the command holds it back.
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "keras_resnet.cli", "summary", "resnet20"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("resnet20: input 224x224x3")
    assert done.stderr.strip() == ""


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow's own setting: its run covers it"
)
@pytest.mark.parametrize("users_setting, enabled", [(None, True), ("0", False)])
def test_the_command_runs_tensorflow_on_onednn_unless_the_user_said_otherwise(
    users_setting, enabled
):
    # TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 VNNI and the like.
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    if users_setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = users_setting
    env["KERAS_BACKEND"] = "tensorflow"
    script = (
        "import sys; sys.argv[0] = 'keras-resnet'; import keras_resnet; "
        "from tensorflow.python.util import _pywrap_util_port as port; "
        "print(port.IsMklEnabled())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == str(enabled)


def test_train_options_come_from_the_training_settings(capsys):
    import dataclasses

    from keras_resnet.distribute import STRATEGIES
    from keras_resnet.training.config import TrainConfig

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(TrainConfig):
        if field.metadata.get("cli", True):
            assert " ".join(field.metadata["help"].split()) in shown, field.name
    assert "{" + ",".join(STRATEGIES) + "}" in shown
    assert "default by preset: digits 64, photos 32, small_images 128" in shown
    parser = cli.build_parser()
    # Nothing given, nothing set: the preset decides.
    assert vars(parser.parse_args(["train"])) == {"command": "train", "data": None}
    args = parser.parse_args(["train", "--no-precise-bn", "--augment", "none", "--lr", "0.5"])
    assert (args.recompute_batch_norm, args.augment, args.learning_rate) == (False, "none", 0.5)
    with pytest.raises(cli.UsageError, match="--validation-split"):
        parser.parse_args(["train", "--validation-split", "1"])


def test_a_1000_class_model_saved_without_names_is_named_by_imagenet(tmp_path, capsys):
    import keras

    import keras_resnet as kr
    from keras_resnet import evaluation

    model = kr.ResNet(
        stage_depths=(1,), block_type="basic", stem_type="cifar", stage_widths=(4,),
        num_classes=1000, input_shape=(16, 16, 3),
    )  # fmt: skip
    head = model.get_layer("predictions")
    bias = np.zeros(1000, "float32")
    bias[281] = 12.0  # every image a tabby
    head.set_weights([np.zeros_like(head.get_weights()[0]), bias])
    path = tmp_path / "imagenet.keras"
    model.save(path)  # plain Keras: no class names saved
    assert "class_names" not in saving.read_metadata(path)
    image = tmp_path / "cat.png"
    _photo(COLOURS["red"], (20, 20), np.random.default_rng(0)).save(image)

    assert cli.main(["predict", str(path), str(image), "--top-k", "2"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line[:2] == "  "]
    assert rows[0][0] == "tabby" and len(rows) == 2

    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    report = evaluation.evaluate(keras.saving.load_model(path), (images, np.full(4, 281)))
    assert report["accuracy"] == 1.0
    assert report["per_class"]["tabby"]["support"] == 4
    # A model's own saved class names still win.
    own = saving.save_model(model, tmp_path / "own.keras", [f"c{i}" for i in range(1000)])
    assert evaluation.predict(own, [image])[0][1][0][0] == "c281"
