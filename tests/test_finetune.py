"""Fine-tuning: a frozen backbone in inference mode, the two-phase schedule, --weights.

The end-to-end test pretrains ResNet20 on one synthetic task (stripes of four
orientations), saves it as a torch ``.pth`` under torchvision's key names, and
fine-tunes it through ``keras-resnet train --weights`` on a related task with three
other orientations, against the same command from scratch.
"""

from __future__ import annotations

import gc
import json
import sys

import keras
import numpy as np
import pytest
from PIL import Image
from torchvision_state import torchvision_state

import keras_resnet
from keras_resnet import cli, saving, training
from keras_resnet.layers import BatchNormalization, DropPath
from keras_resnet.training import compile_model, finetune
from keras_resnet.training.config import PRESETS, TrainConfig, choose_preset, preset_for
from keras_resnet.weights import load_pretrained

slow = pytest.mark.slow

PRETRAIN_ANGLES = (0, 45, 90, 135)
TRANSFER_ANGLES = (20, 80, 140)
SIZE = 32


@pytest.fixture(autouse=True)
def _free_models():
    yield
    keras.backend.clear_session()
    gc.collect()


def _values(variables):
    return {variable.path: keras.ops.convert_to_numpy(variable).copy() for variable in variables}


def _small_model(num_classes=3, input_shape=(16, 16, 3), **kwargs):
    return keras_resnet.ResNet(
        stage_depths=(1, 1),
        block_type="basic",
        stage_widths=(8, 16),
        stem_type="cifar",
        num_classes=num_classes,
        input_shape=input_shape,
        **kwargs,
    )


def _randomize_statistics(model, seed=0):
    """BN statistics and scales far from a fresh model's, so that a change would show."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if variable.path.endswith(("moving_variance", "gamma")):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
        elif variable.path.endswith(("moving_mean", "beta")):
            variable.assign(rng.normal(0.0, 0.2, variable.shape).astype("float32"))


def _backbone(variables):
    return {path: value for path, value in variables.items() if not path.startswith("predictions")}


# ----------------------------------------------------------------- frozen layers


def test_frozen_batch_norm_runs_in_inference_mode_while_training():
    layer = BatchNormalization(momentum=0.5, epsilon=1e-5)
    inputs = np.random.default_rng(0).normal(3.0, 2.0, (4, 6, 6, 8)).astype("float32")
    layer.build(inputs.shape)
    layer.moving_mean.assign(np.full(8, 0.5, "float32"))
    layer.moving_variance.assign(np.full(8, 4.0, "float32"))
    layer.trainable = False
    before = _values(layer.weights)
    inference = keras.ops.convert_to_numpy(layer(inputs, training=False))
    trained = keras.ops.convert_to_numpy(layer(inputs, training=True))
    np.testing.assert_array_equal(trained, inference)
    for path, value in _values(layer.weights).items():
        np.testing.assert_array_equal(value, before[path], err_msg=path)
    # The same layer trainable normalises with the batch and moves its statistics.
    layer.trainable = True
    layer(inputs, training=True)
    assert not np.allclose(keras.ops.convert_to_numpy(layer.moving_mean), 0.5)


def test_frozen_drop_path_never_drops():
    drop = DropPath(0.5, seed=1)
    inputs = np.ones((64, 2, 2, 3), "float32")
    assert np.any(keras.ops.convert_to_numpy(drop(inputs, training=True)) == 0.0)
    drop.trainable = False
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(drop(inputs, training=True)), inputs)


def test_training_a_frozen_backbone_changes_only_the_head():
    model = _small_model(drop_path_rate=0.3)
    _randomize_statistics(model)
    finetune.freeze_backbone(model)
    assert sorted(w.path for w in model.trainable_weights) == [
        "predictions/bias",
        "predictions/kernel",
    ]
    before = _values(model.weights)
    compile_model(model, epochs=1, steps_per_epoch=3, batch_size=8, learning_rate=0.5)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (24, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 3, 24)
    model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    after = _values(model.weights)
    for path, value in _backbone(before).items():
        np.testing.assert_array_equal(after[path], value, err_msg=path)
    assert not np.array_equal(after["predictions/kernel"], before["predictions/kernel"])
    # Frozen drop path and batch norm make the backbone a deterministic function.
    features = keras.Model(model.input, model.get_layer("avg_pool").output)
    first = keras.ops.convert_to_numpy(features(images, training=True))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(features(images, training=True)), first
    )


def test_unfreeze_keeps_batch_norm_frozen_unless_asked():
    model = finetune.freeze_backbone(_small_model())
    finetune.unfreeze(model)
    trainable = {w.path for w in model.trainable_weights}
    assert "conv2_block1/conv1/kernel" in trainable
    assert not any(path.endswith(("gamma", "beta")) for path in trainable)
    finetune.unfreeze(model, batch_norm=True)
    assert len(model.trainable_weights) == len(_small_model().trainable_weights)


def test_freeze_backbone_names_a_missing_head():
    with pytest.raises(ValueError, match="no layer 'classifier'"):
        finetune.freeze_backbone(_small_model(), trainable_head=("classifier",))


def test_load_backbone_gives_a_fresh_head_even_for_the_same_class_count(tmp_path):
    source = _small_model()
    _randomize_statistics(source)
    source.get_layer("predictions").kernel.assign(np.ones((16, 3), "float32"))
    path = tmp_path / "source.weights.h5"
    source.save_weights(path)
    model = finetune.load_backbone(_small_model(), path)
    loaded, saved = _values(model.weights), _values(source.weights)
    for key, value in _backbone(saved).items():
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)
    assert not np.array_equal(loaded["predictions/kernel"], saved["predictions/kernel"])
    np.testing.assert_array_equal(loaded["predictions/bias"], np.zeros(3, "float32"))


# ----------------------------------------------------------------- the schedule


def test_schedule_from_scratch_is_one_phase_that_freezes_nothing():
    (phase,) = finetune.schedule(TrainConfig(epochs=7))
    assert (phase.name, phase.first_epoch, phase.last_epoch) == ("train", 0, 7)
    model = finetune.freeze_backbone(_small_model())
    phase.prepare(model)  # a model frozen by its user stays as it is
    assert len(model.trainable_weights) == 2


def test_schedule_with_weights_is_head_then_whole_network():
    config = TrainConfig(weights="imagenet", epochs=10, head_epochs=3, fine_tune_lr_multiplier=0.2)
    head, whole = finetune.schedule(config)
    assert (head.name, head.first_epoch, head.last_epoch, head.frozen_backbone) == (
        "head",
        0,
        3,
        True,
    )
    assert (whole.name, whole.first_epoch, whole.last_epoch) == ("whole network", 3, 10)
    assert whole.learning_rate_multiplier == 0.2 and not whole.train_batch_norm
    assert head.layer_rates() == whole.layer_rates() == {"predictions": 1.0}  # one rate
    faster_head = finetune.schedule(config.replace(head_lr_multiplier=10))[1]
    assert faster_head.layer_rates() == {"predictions": 10.0}
    assert "head x10" in faster_head.describe()
    assert [p.name for p in finetune.schedule(config.replace(head_epochs=0))] == ["whole network"]
    assert [p.name for p in finetune.schedule(config.replace(head_epochs=12))] == ["head"]
    with pytest.raises(ValueError, match="head_epochs"):
        finetune.schedule(config.replace(head_epochs=-1))


def test_weights_choose_the_fine_tune_preset(tmp_path):
    assert choose_preset("some/photos", weights="imagenet") == "fine_tune"
    assert preset_for(None, weights="x.pth").preset == "fine_tune"
    small = (np.zeros((4, 32, 32, 3)), np.zeros(4))
    assert preset_for(small, weights="x.pth").image_size == (32, 32)
    assert PRESETS["fine_tune"].head_epochs < PRESETS["fine_tune"].epochs


def test_cli_offers_the_fine_tuning_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--weights",
        "--head-epochs",
        "--fine-tune-lr-multiplier",
        "--head-lr-multiplier",
        "--fine-tune-batch-norm",
    ):
        assert flag in text


# ----------------------------------------------------------------- end to end


def _stripes(count, angles, seed):
    """Two-coloured stripes at one of ``angles`` (degrees), random period, phase and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype("float32")
    labels = np.arange(count) % len(angles)
    rng.shuffle(labels)
    images = np.empty((count, SIZE, SIZE, 3), "uint8")
    for index, label in enumerate(labels):
        angle = np.deg2rad(angles[label] + rng.normal(0, 4))
        wave = np.sin(
            2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / rng.uniform(4, 8)
            + rng.uniform(0, 2 * np.pi)
        )[..., None]
        image = np.where(wave > 0, rng.uniform(0, 255, 3), rng.uniform(0, 255, 3))
        images[index] = np.clip(image + rng.normal(0, 20, image.shape), 0, 255)
    return images, labels


def _write_folder(root, split, images, labels):
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / split / f"deg{TRANSFER_ANGLES[label]:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:04d}.png")


def _torch():
    if "tensorflow" in sys.modules and "torch._dynamo" not in sys.modules:
        # torchvision imports torch._dynamo, which imports triton, whose LLVM crashes
        # the process when TensorFlow's is already loaded. CPU use needs no triton.
        sys.modules.setdefault("triton", None)
    return pytest.importorskip("torch", reason="writing a .pth needs torch")


def test_the_torchvision_state_fits_torchvisions_resnet18():
    torch = _torch()
    torchvision = pytest.importorskip("torchvision")
    model = keras_resnet.ResNet18(
        num_classes=5, input_shape=(64, 64, 3), include_preprocessing=False
    )
    _randomize_statistics(model)
    reference = torchvision.models.resnet18(num_classes=5).eval()
    state = {key: torch.from_numpy(value) for key, value in torchvision_state(model).items()}
    missing, unexpected = reference.load_state_dict(state, strict=False)
    assert unexpected == [] and all(key.endswith("num_batches_tracked") for key in missing)
    images = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    with torch.no_grad():
        expected = reference(torch.from_numpy(images.transpose(0, 3, 1, 2))).softmax(-1).numpy()
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-4)


@pytest.fixture(scope="module")
def transfer(tmp_path_factory):
    """A ResNet20 pretrained on four orientations as a .pth, and a folder of three others."""
    torch = _torch()
    root = tmp_path_factory.mktemp("finetune")
    keras.utils.set_random_seed(0)
    images, labels = _stripes(640, PRETRAIN_ANGLES, seed=0)
    model = keras_resnet.ResNet20(num_classes=len(PRETRAIN_ANGLES), input_shape=(SIZE, SIZE, 3))
    compile_model(model, epochs=6, steps_per_epoch=20, batch_size=32, base_learning_rate=0.4)
    model.fit(images, labels, batch_size=32, epochs=6, verbose=0)
    weights = root / "stripes-resnet20.pth"
    torch.save(
        {key: torch.from_numpy(value) for key, value in torchvision_state(model).items()},
        weights,
    )
    data = root / "transfer"
    _write_folder(data, "train", *_stripes(60, TRANSFER_ANGLES, seed=1))
    _write_folder(data, "test", *_stripes(150, TRANSFER_ANGLES, seed=2))
    keras.backend.clear_session()
    return root, weights, data


def _train(root, data, name, *more):
    command = ["train", "--data", str(data), "--model", "resnet20", "--epochs", "4"]
    command += ["--batch-size", "15", "--validation-split", "0", "--augment", "none"]
    command += ["--output", str(root), "--run-name", name, *more]
    assert cli.main(command) == 0
    with open(root / name / "metrics.json", encoding="utf-8") as file:
        return json.load(file)


@slow
def test_fine_tuning_beats_training_from_scratch(transfer, monkeypatch, capsys):
    root, weights, data = transfer
    seen = {}
    original_unfreeze = finetune.unfreeze

    def unfreeze_after_the_head(model, batch_norm=False):
        seen["after_head"] = _values(model.weights)
        return original_unfreeze(model, batch_norm)

    monkeypatch.setattr(finetune, "unfreeze", unfreeze_after_the_head)
    tuned = _train(root, data, "tuned", "--weights", str(weights), "--head-epochs", "2")
    output = capsys.readouterr().out
    scratch = _train(root, data, "scratch")

    assert tuned["preset"] == "fine_tune" and tuned["weights"] == str(weights)
    assert [phase["name"] for phase in tuned["phases"]] == ["head", "whole network"]
    assert "phase 1/2: head: epochs 1-2, backbone frozen" in output
    assert f"weights: {weights}" in output
    assert tuned["test_accuracy"] >= scratch["test_accuracy"] + 0.2, (tuned, scratch)

    # The head phase left every backbone weight and batch-norm statistic as the file had it.
    reference = keras_resnet.ResNet20(num_classes=3, input_shape=(SIZE, SIZE, 3))
    with pytest.warns(UserWarning, match="4 classes"):
        load_pretrained(reference, weights)
    expected = _backbone(_values(reference.weights))
    assert any(path.endswith("moving_mean") for path in expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(seen["after_head"][path], value, err_msg=path)
    # Batch norm kept its pretrained statistics through the whole-network phase too,
    # and precise BN, which skips frozen layers, did not recompute them.
    tuned_model = keras.saving.load_model(root / "tuned" / "model.keras", compile=False)
    final = _values(tuned_model.weights)
    for path, value in expected.items():
        if path.endswith(("moving_mean", "moving_variance")):
            np.testing.assert_array_equal(final[path], value, err_msg=path)
    assert tuned["batch_norm_statistics_images"] == 0


def test_train_with_weights_runs_both_phases_through_the_python_api(tmp_path):
    source = _small_model(num_classes=5)
    _randomize_statistics(source)
    path = tmp_path / "source.weights.h5"
    source.save_weights(path)
    statistics = {
        key: value
        for key, value in _values(source.weights).items()
        if key.endswith(("moving_mean", "moving_variance"))
    }
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (40, 16, 16, 3)).astype("uint8")
    labels = np.arange(40) % 4  # a model of 5 classes starts one of 4

    with pytest.warns(UserWarning, match="does not fit the 4 classes.*loaded the backbone"):
        result = training.train(
            (images, labels),
            model=_small_model,
            weights=path,
            epochs=3,
            head_epochs=1,
            head_lr_multiplier=10,
            batch_size=8,
            augment="none",
            output=tmp_path / "runs",
            run_name="tuned",
            verbose=0,
        )
    metrics = result.metrics
    assert metrics["preset"] == "fine_tune" and metrics["weights"] == str(path)
    head, whole = metrics["phases"]
    assert (head["name"], head["first_epoch"], head["last_epoch"]) == ("head", 0, 1)
    assert whole["peak_learning_rate"] == pytest.approx(0.1 * head["peak_learning_rate"])
    assert whole["head_lr_multiplier"] == 10
    assert result.model.optimizer.get_config()["layer_rates"] == {"predictions": 10.0}
    assert metrics["epochs_run"] == 3
    final = _values(result.model.weights)
    for key, value in statistics.items():
        np.testing.assert_array_equal(final[key], value, err_msg=key)
    assert not np.array_equal(
        final["conv2_block1/conv1/kernel"], _values(source.weights)["conv2_block1/conv1/kernel"]
    )


def test_a_runs_saved_model_is_fine_tuned_as_the_model_it_holds(tmp_path):
    """--weights run/model.keras without --model builds the file's model, not the
    preset's ResNet18, and gives it a head for the new classes."""
    source = keras_resnet.ResNet20(num_classes=5, input_shape=(16, 16, 3))
    path = saving.save_model(source, tmp_path / "model.keras", model_name="ResNet20")
    assert finetune.saved_model_name(path) == "ResNet20"
    assert finetune.saved_model_name(tmp_path / "missing.keras") is None
    assert finetune.saved_model_name("imagenet") is None
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (24, 16, 16, 3)).astype("uint8")
    with pytest.warns(UserWarning, match="does not fit the 3 classes"):
        result = training.train(
            (images, np.arange(24) % 3),
            weights=path,
            epochs=2,
            head_epochs=1,
            batch_size=8,
            output=tmp_path / "runs",
            verbose=0,
        )
    assert result.metrics["model_name"] == "ResNet20"
    assert result.model.output_shape == (None, 3)


@pytest.mark.parametrize("stop_at_epoch", [1, 2])
def test_a_run_stopped_in_or_between_phases_resumes_where_it_stopped(tmp_path, stop_at_epoch):
    # head_epochs=2 of 4: stopping at epoch 1 is inside the head phase, at epoch 2
    # between the phases (the head phase done, no epoch of the whole network yet).
    source = _small_model(num_classes=5)
    path = tmp_path / "source.weights.h5"
    source.save_weights(path)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (40, 16, 16, 3)).astype("uint8")
    labels = np.arange(40) % 5
    heads = {}

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            heads[epoch] = keras.ops.convert_to_numpy(self.model.get_layer("predictions").kernel)
            if epoch == stop_at_epoch:
                raise KeyboardInterrupt

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            kernel = self.model.get_layer("predictions").kernel
            heads.setdefault(f"resumed {epoch}", keras.ops.convert_to_numpy(kernel))

    settings = dict(
        model=_small_model, weights=path, epochs=4, head_epochs=2, batch_size=8,
        augment="none", output=tmp_path / "runs", run_name="tuned", verbose=0,
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        training.train((images, labels), callbacks=[Stop()], **settings)
    result = training.train((images, labels), callbacks=[Record()], resume=True, **settings)

    assert result.resumed_from_epoch == stop_at_epoch
    assert result.metrics["epochs_run"] == 4
    log = (tmp_path / "runs" / "tuned" / "training_log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["0", "1", "2", "3"]
    # The resumed run went on from the stopped one's model, not from a fresh head.
    np.testing.assert_array_equal(heads[f"resumed {stop_at_epoch}"], heads[stop_at_epoch])
    assert not (tmp_path / "runs" / "tuned" / "backup").exists()
