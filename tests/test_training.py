"""Tests of the training recipe, saving with metadata, evaluation and the fit wrapper.

Every test runs on the backend of $KERAS_BACKEND, with a tiny network on 16x16 images.
"""

import dataclasses
import json
import math
import os
import tempfile
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_run_folder_is_complete

import keras_resnet as kr
from keras_resnet import distribute, evaluation, saving, training
from keras_resnet.data import ImageData
from keras_resnet.training import optim

SIZE = 16
CLASSES = ["red", "green", "blue"]


def tiny_model(num_classes=3, input_shape=(SIZE, SIZE, 3), **kwargs):
    return kr.ResNet(
        stage_depths=(1, 1, 1),
        block_type="basic",
        stem_type="cifar",
        stage_widths=(8, 16, 32),
        num_classes=num_classes,
        input_shape=input_shape,
        name="tiny",
        **kwargs,
    )


def colour_arrays(n=48, seed=0):
    """Images whose class is their dominant colour channel: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n).astype("int32")
    images = rng.uniform(0, 60, (n, SIZE, SIZE, 3)).astype("float32")
    images[np.arange(n), :, :, labels] += 180.0
    return images, labels


def colour_data(n=48, batch_size=16):
    images, labels = colour_arrays(n)
    third = n // 3

    def batches(x, y):
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)

    return ImageData(
        train=batches(images[:third], labels[:third]),
        validation=batches(images[third : 2 * third], labels[third : 2 * third]),
        test=batches(images[2 * third :], labels[2 * third :]),
        class_names=list(CLASSES),
        image_size=(SIZE, SIZE),
        num_train=third,
        num_validation=third,
        num_test=n - 2 * third,
    )


def test_batch_size_of_reads_the_data_and_asks_a_hand_made_pipeline():
    data = colour_data(batch_size=16)
    assert data.batch_size is None
    assert training.batch_size_of(data) == 16
    # The field wins: the pipeline is not asked.
    assert training.batch_size_of(dataclasses.replace(data, batch_size=8)) == 8
    empty = dataclasses.replace(data, train=data.train.take(0))
    with pytest.raises(ValueError, match="no examples"):
        training.batch_size_of(empty)


# Recipe -----------------------------------------------------------------------------


def test_schedule_warms_up_linearly_then_decays_by_cosine():
    schedule = training.warmup_cosine_schedule(0.1, total_steps=110, warmup_steps=10)
    rate = [float(schedule(step)) for step in range(111)]
    assert rate[0] == pytest.approx(0.0, abs=1e-7)
    assert rate[5] == pytest.approx(0.05, rel=1e-4)
    assert rate[10] == pytest.approx(0.1, rel=1e-4)
    assert all(a < b for a, b in zip(rate[:10], rate[1:11], strict=False))
    assert all(a >= b for a, b in zip(rate[10:], rate[11:], strict=False))
    # Halfway through the decay, cosine is at half the peak.
    assert rate[60] == pytest.approx(0.05, rel=1e-3)
    assert rate[110] == pytest.approx(0.0, abs=1e-6)
    # A library schedule: it round-trips through Keras's own serialization.
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert float(restored(5)) == pytest.approx(rate[5])


def test_learning_rate_scales_linearly_with_batch_size():
    assert training.scaled_learning_rate(256, "sgd") == pytest.approx(0.1)
    assert training.scaled_learning_rate(64, "sgd") == pytest.approx(0.025)
    assert training.scaled_learning_rate(512, "adamw") == pytest.approx(2e-3)
    assert training.scaled_learning_rate(128, "sgd", base_learning_rate=0.2) == pytest.approx(0.1)
    model = training.compile_model(tiny_model(), epochs=4, steps_per_epoch=10, batch_size=128)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.nesterov and model.optimizer.momentum == pytest.approx(0.9)
    schedule = model.optimizer.get_config()["learning_rate"]["config"]
    assert schedule["warmup_target"] == pytest.approx(0.05)  # the peak: 0.1 * 128 / 256
    assert schedule["warmup_steps"] == 4  # 10% of 40 steps


def test_weight_decay_skips_batch_norm_and_biases():
    model = tiny_model()
    optimizer = training.make_optimizer("sgd", learning_rate=0.1, weight_decay=0.5)
    before = {v.path: np.array(v) for v in model.trainable_variables}
    zeros = [
        keras.ops.convert_to_tensor(np.zeros(v.shape, "float32")) for v in model.trainable_variables
    ]
    optimizer.apply_gradients(zip(zeros, model.trainable_variables, strict=True))
    kinds = set()
    for variable in model.trainable_variables:
        after = np.array(variable)
        kind = variable.name
        kinds.add(kind)
        if kind in ("gamma", "beta", "bias"):
            np.testing.assert_array_equal(after, before[variable.path], err_msg=variable.path)
        else:
            assert kind == "kernel"
            # Decoupled decay: w <- w - lr * wd * w.
            np.testing.assert_allclose(after, 0.95 * before[variable.path], rtol=1e-5)
    assert kinds == {"gamma", "beta", "bias", "kernel"}


def _two_layer_model():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="body")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="predictions")(hidden))


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_layer_rates_train_a_layer_at_its_own_rate_and_decay(kind):
    """A layer of rate factor 10 follows the optimizer at ten times the rate, momentum
    and decoupled weight decay included; the others follow it at the one rate."""
    model, reference = _two_layer_model(), _two_layer_model()
    reference.set_weights(model.get_weights())
    optimizer = training.make_optimizer(
        kind, learning_rate=0.01, weight_decay=0.1, layer_rates={"predictions": 10.0}
    )
    assert optimizer.get_config()["layer_rates"] == {"predictions": 10.0}
    body = training.make_optimizer(kind, learning_rate=0.01, weight_decay=0.1)
    head = training.make_optimizer(kind, learning_rate=0.1, weight_decay=0.1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        grads = [
            keras.ops.convert_to_tensor(rng.normal(size=v.shape).astype("float32"))
            for v in model.trainable_variables
        ]
        optimizer.apply(grads, model.trainable_variables)
        for opt, prefix in ((body, "body/"), (head, "predictions/")):
            pairs = [
                (g, v)
                for g, v in zip(grads, reference.trainable_variables, strict=True)
                if v.path.startswith(prefix)
            ]
            opt.apply([g for g, _ in pairs], [v for _, v in pairs])
    for mine, expected in zip(
        model.trainable_variables, reference.trainable_variables, strict=True
    ):
        np.testing.assert_allclose(np.array(mine), np.array(expected), rtol=1e-5, err_msg=mine.path)
    # Factors of one give Keras's own optimizer; a factor must be positive.
    plain = training.make_optimizer(kind, layer_rates={"predictions": 1.0})
    assert "layer_rates" not in plain.get_config()
    with pytest.raises(ValueError, match="rate factor of 'predictions' must be positive"):
        training.make_optimizer(kind, layer_rates={"predictions": 0.0})


def test_a_model_compiled_with_layer_rates_saves_and_loads(tmp_path):
    model = training.compile_model(
        tiny_model(), epochs=2, steps_per_epoch=1, batch_size=8, layer_rates={"predictions": 10}
    )
    images, labels = colour_arrays(8)
    model.fit(images, labels, epochs=1, verbose=0)
    path = saving.save_model(model, tmp_path / "model.keras")
    loaded, _ = saving.load_model(path)
    assert type(loaded.optimizer).__name__ == type(model.optimizer).__name__ == "LayerRatesSGD"
    assert loaded.optimizer.layer_rates == {"predictions": 10.0}


def test_adamw_excludes_the_same_variables():
    optimizer = training.make_optimizer("adamw", learning_rate=1e-3)
    model = tiny_model()
    decayed = {v.name for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed == {"kernel"}
    assert optimizer.weight_decay == pytest.approx(training.DEFAULT_WEIGHT_DECAY["adamw"])


def test_label_smoothing_softens_the_target():
    labels = np.array([0, 2])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    plain = training.SparseCategoricalCrossentropy()(labels, probabilities)
    expected_plain = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    assert float(plain) == pytest.approx(float(expected_plain), rel=1e-5)

    smoothed = training.SparseCategoricalCrossentropy(label_smoothing=0.3)(labels, probabilities)
    targets = np.full((2, 3), 0.1)
    targets[[0, 1], labels] += 0.7
    expected = -(targets * np.log(probabilities)).sum(axis=1).mean()
    assert float(smoothed) == pytest.approx(expected, rel=1e-5)
    assert float(smoothed) > float(plain)  # a confident right answer now costs more
    # Labels shaped (batch, 1), as some pipelines give them, mean the same.
    column = training.SparseCategoricalCrossentropy(0.3)(labels[:, None], probabilities)
    assert float(column) == pytest.approx(float(smoothed), rel=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        training.SparseCategoricalCrossentropy(label_smoothing=1.0)


def test_recipe_errors_are_value_errors():
    with pytest.raises(ValueError, match="Unknown optimizer"):
        training.make_optimizer("rmsprop")
    with pytest.raises(ValueError, match="epochs"):
        training.compile_model(tiny_model(), epochs=0, steps_per_epoch=1, batch_size=1)
    with pytest.raises(ValueError, match="mixed_precision"):
        training.set_mixed_precision("float8")


def test_mixed_precision_policy_is_set_for_the_build_only():
    before = keras.config.dtype_policy().name
    with training.dtype_policy("float16"):
        model = tiny_model()
    assert keras.config.dtype_policy().name == before
    assert model.get_layer("stem_conv1").dtype_policy.name == "mixed_float16"
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    training.compile_model(model, epochs=1, steps_per_epoch=1, batch_size=8)
    # Keras adds loss scaling for float16; the decay exclusion lives in the inner optimizer.
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    gamma = next(v for v in model.trainable_variables if v.name == "gamma")
    assert not model.optimizer.inner_optimizer._use_weight_decay(gamma)
    with pytest.raises(ValueError, match="before the model is built"):
        training.fit(tiny_model(), colour_data(), epochs=1, mixed_precision="bfloat16")


# Saving -------------------------------------------------------------------------------


def test_metadata_travels_inside_the_keras_file(tmp_path):
    model = tiny_model()
    path = saving.save_model(
        model, tmp_path / "m.keras", class_names=CLASSES, image_size=(SIZE, SIZE), model_name="x"
    )
    with zipfile.ZipFile(path) as archive:
        assert saving.METADATA_MEMBER in archive.namelist()
    loaded, metadata = saving.load_model(path)
    assert metadata == {
        "class_names": CLASSES,
        "image_size": [SIZE, SIZE],
        "model_name": "x",
        saving.VERSION_KEY: kr.__version__,
    }
    images, _ = colour_arrays(4)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5
    )
    # The extra member does not bother Keras's own loader.
    plain = keras.saving.load_model(path)
    assert plain.output_shape == model.output_shape
    assert saving.read_metadata(path)["class_names"] == CLASSES


def test_compiled_recipe_model_reloads_with_its_loss(tmp_path):
    model = training.compile_model(
        tiny_model(), epochs=2, steps_per_epoch=3, batch_size=16, label_smoothing=0.2
    )
    model.optimizer.build(model.trainable_variables)
    saving.save_model(model, tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.loss.label_smoothing == pytest.approx(0.2)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.0)  # warm-up start


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    model = tiny_model()
    path = tmp_path / "model.keras"
    saving.save_model(model, path, class_names=CLASSES)
    good = path.read_bytes()

    def broken_save(filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"PK\x03\x04 half a model")
        raise OSError("No space left on device")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(OSError, match="No space"):
        saving.save_model(model, path, class_names=CLASSES)
    assert path.read_bytes() == good
    with pytest.raises(OSError):
        saving.save_model(model, tmp_path / "new.keras")
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]


def test_load_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file"):
        saving.load_model(tmp_path / "missing.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_text("not a zip")
    with pytest.raises(ValueError, match="not a Keras model file"):
        saving.load_model(corrupt)
    with pytest.raises(ValueError, match=".keras"):
        saving.save_model(tiny_model(), tmp_path / "model.h5")
    with pytest.raises(ValueError, match="class names"):
        saving.save_model(tiny_model(), tmp_path / "m.keras", class_names=["a"])


# Plain Keras and the fit wrapper ---------------------------------------------------


def test_plain_compile_and_fit_work_as_in_any_keras_notebook():
    images, labels = colour_arrays(32)
    model = tiny_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(images[:2], verbose=0).shape == (2, len(CLASSES))


def test_evaluate_reports_accuracy_per_class_and_plots(tmp_path):
    images, labels = colour_arrays(30)
    model = tiny_model()
    report = evaluation.evaluate(
        model, (images, labels), class_names=CLASSES, top_k=2, output_dir=tmp_path
    )
    matrix = np.array(report["confusion_matrix"])
    assert matrix.sum() == 30 == report["num_examples"]
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / 30)
    assert report["top2_accuracy"] >= report["accuracy"]
    assert set(report["per_class"]) == set(CLASSES)
    assert {"precision", "recall", "f1_score", "support"} <= set(report["per_class"]["red"])
    with open(report["confusion_matrix_path"], "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    json.dumps(report)


def test_fit_interrupted_then_resumed_finishes_the_planned_epochs(tmp_path):
    data = colour_data()

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.fit(
            tiny_model,
            data,
            epochs=3,
            output=tmp_path,
            run_name="run",
            verbose=0,
            callbacks=[Interrupt()],
        )
    run_dir = tmp_path / "run"
    assert (run_dir / "backup").is_dir()
    assert not (run_dir / "model.keras").exists()

    result = training.fit(
        tiny_model, data, epochs=3, output=tmp_path, run_name="run", resume=True, verbose=0
    )
    assert result.resumed_from_epoch == 1
    assert len(result.history["loss"]) == 3  # epoch 1 from before, 2 and 3 now
    assert result.metrics["epochs_run"] == 3
    assert not (run_dir / "backup").exists()  # a finished run leaves no backup

    model, metadata = saving.load_model(result.model_path)
    assert metadata["class_names"] == CLASSES
    assert metadata["image_size"] == [SIZE, SIZE]
    assert model.output_shape == (None, len(CLASSES))
    # After 3 epochs the optimizer has taken 3 epochs of steps: the schedule went on.
    assert int(model.optimizer.iterations) == 3 * 1


def test_fit_writes_a_complete_run_folder(tmp_path):
    result = training.fit(
        tiny_model,
        colour_data(),
        epochs=2,
        output=tmp_path,
        run_name="r",
        verbose=0,
        early_stopping=5,
    )
    run_dir = tmp_path / "r"
    assert_run_folder_is_complete(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics))
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["test_num_examples"] == 16
    assert metrics["class_names"] == CLASSES
    assert (run_dir / "class_names.txt").read_text().split() == CLASSES
    assert saving.read_metadata(run_dir / "best.keras")["class_names"] == CLASSES
    assert len(result.history["val_accuracy"]) == 2
    # A new run of the same name starts afresh rather than appending to the old log.
    again = training.fit(
        tiny_model, colour_data(), epochs=1, output=tmp_path, run_name="r", verbose=0
    )
    assert len(again.history["loss"]) == 1


def test_the_same_seed_trains_the_same_model(tmp_path):
    # Augmented arrays through keras_resnet.data: shuffling, crops and flips all
    # come from the seed, and so do the initial weights.
    from keras_resnet.data import load_data

    def run(seed, name):
        keras.utils.set_random_seed(seed)  # TensorFlow pairs the data's seeds with it
        data = load_data(colour_arrays(), batch_size=8, seed=seed, validation_split=0.25)
        result = training.fit(
            tiny_model, data, epochs=2, seed=seed, output=tmp_path, run_name=name, verbose=0
        )
        return result.history["loss"], result.model.get_weights()[0]

    losses, kernel = run(seed=5, name="a")
    again_losses, again_kernel = run(seed=5, name="b")
    assert losses == again_losses
    np.testing.assert_array_equal(kernel, again_kernel)
    assert run(seed=6, name="c")[0] != losses


def test_curves_leave_out_a_validation_that_never_ran(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(saving, "save_figure", lambda figure, path: figures.append(figure))
    nan = float("nan")
    history = {"loss": [2.0, 1.0], "accuracy": [0.5, 0.9]}
    training.plot_training_curves({**history, "val_loss": [nan, nan]}, tmp_path / "a.png")
    training.plot_training_curves({**history, "val_loss": [nan, 1.5]}, tmp_path / "b.png")
    without, with_validation = (figure.axes[0].get_legend_handles_labels()[1] for figure in figures)
    assert without == ["train"]
    assert with_validation == ["train", "validation"]


def test_fit_rejects_a_model_with_the_wrong_number_of_classes():
    with pytest.raises(ValueError, match="num_classes=3"):
        training.fit(tiny_model(num_classes=5), colour_data(), epochs=1)
    with pytest.raises(ValueError, match="Unknown model"):
        training.fit("resnet99", colour_data(), epochs=1)


def test_training_log_reads_missing_values_as_nan(tmp_path):
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,accuracy,loss,val_accuracy\n1,0.5,1.0,NA\n0,0.25,2.0,0.5\n")
    history = training.read_training_log(log)
    assert history["loss"] == [2.0, 1.0]  # in epoch order
    assert history["val_accuracy"][0] == 0.5 and np.isnan(history["val_accuracy"][1])
    assert training.read_training_log(tmp_path / "missing.csv") == {}


# Distribution --------------------------------------------------------------------------


def test_best_checkpoint_survives_a_save_that_fails_midway(tmp_path, monkeypatch):
    model = tiny_model()
    path = tmp_path / "best.keras"
    checkpoint = training.BestModelCheckpoint(str(path), metadata={"class_names": CLASSES})
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.5})
    assert saving.read_metadata(path)["epoch"] == 1

    def dies_while_writing(filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"PK\x03\x04 half a model")
        raise OSError("the worker died")

    monkeypatch.setattr(model, "save", dies_while_writing)
    with pytest.raises(OSError, match="died"):
        checkpoint.on_epoch_end(1, {"val_accuracy": 0.9})
    loaded, metadata = saving.load_model(path)
    assert metadata["epoch"] == 1 and metadata["val_accuracy"] == 0.5
    assert loaded.output_shape == (None, len(CLASSES))
    assert os.listdir(tmp_path) == ["best.keras"]


def _worker(num_replicas=1):
    """A non-chief worker of one device: what a multi-worker run's other workers do."""
    return distribute.Distribution("none", num_replicas=num_replicas, is_chief=False)


def test_a_worker_writes_only_to_a_temporary_folder_it_removes(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen = []

    class Look(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.extend(path.name for path in scratch.iterdir())

    # Training data only: a worker never evaluates, and JAX compiles less.
    data = dataclasses.replace(colour_data(), validation=None, test=None)
    result = training.fit(
        tiny_model,
        data,
        epochs=1,
        output=tmp_path / "out",
        run_name="r",
        strategy=_worker(),
        callbacks=[Look()],
        verbose=0,
    )
    assert len(seen) == 1 and seen[0].startswith("keras-resnet-worker-")
    assert not result.is_chief
    assert not (tmp_path / "out").exists()
    assert list(scratch.iterdir()) == []
    assert result.run_dir == str(tmp_path / "out" / "r")  # where the chief writes
    assert result.metrics["epochs_run"] == 1 and "test_accuracy" not in result.metrics

    class Fail(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("lost the chief")

    with pytest.raises(RuntimeError, match="lost the chief"):
        training.fit(
            tiny_model,
            data,
            epochs=1,
            output=tmp_path / "out",
            strategy=_worker(),
            callbacks=[Fail()],
            verbose=0,
        )
    assert list(scratch.iterdir()) == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("validation_split, num_train", [(None, 1438), (0.2, 1151)])
def test_digits_train_on_every_training_image_unless_asked(tmp_path, validation_split, num_train):
    # The digits have a test split; holding out validation images is opt-in.
    result = training.train(
        None,
        tiny_model,
        image_size=8,
        epochs=1,
        validation_split=validation_split,
        output=tmp_path,
        verbose=0,
    )
    assert result.metrics["num_train"] == num_train
    assert result.metrics["evaluated_on"] == "test"
    validated = validation_split is not None
    assert np.isfinite(result.history["val_loss"]).all() == validated
    assert ("best_val_accuracy" in result.metrics) == validated
    assert (result.best_model_path is not None) == validated
    # The final model is also evaluated on the held-out images, to choose settings on.
    assert result.metrics.get("validation_num_examples") == (287 if validated else None)
    assert (0 <= result.metrics.get("validation_accuracy", -1) <= 1) == validated
    with open(result.metrics_path, encoding="utf-8") as file:
        text = file.read()
    assert "NaN" not in text
    assert (json.loads(text)["final_val_loss"] is None) != validated


def test_digits_default_to_mixup_and_an_explicit_alpha_wins(tmp_path, monkeypatch):
    from keras_resnet import data as data_lib

    asked = []
    real_load_data = data_lib.load_data

    def spy(*args, **kwargs):
        asked.append(kwargs["mixup"])
        return real_load_data(*args, **kwargs)

    monkeypatch.setattr(data_lib, "load_data", spy)
    for mixup in (None, 0.0):
        result = training.train(
            None, tiny_model, image_size=8, epochs=1, mixup=mixup, output=tmp_path, verbose=0
        )
        assert result.metrics["test_accuracy"] >= 0
    images, labels = colour_arrays(24)
    training.train((images, labels), tiny_model, epochs=1, output=tmp_path, verbose=0)
    assert asked == [training.PRESETS["digits"].mixup, 0.0, 0.0]
    assert training.PRESETS["digits"].mixup > 0


def _moving_statistics(model):
    return [
        keras.ops.convert_to_numpy(variable)
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
        for variable in (layer.moving_mean, layer.moving_variance)
    ]


@pytest.mark.parametrize("recompute", [True, False])
def test_fit_recomputes_batch_norm_statistics_from_unaugmented_training_images(tmp_path, recompute):
    from keras_resnet.data import load_data
    from keras_resnet.training.precise_bn import recompute_statistics

    images, labels = colour_arrays(48)
    data = load_data((images, labels), batch_size=8, validation_split=0.25)
    result = training.fit(
        tiny_model,
        data,
        epochs=1,
        output=tmp_path,
        run_name=str(recompute),
        recompute_batch_norm=recompute,
        verbose=0,
    )
    assert result.metrics["batch_norm_statistics_images"] == (data.num_train if recompute else 0)
    saved, _ = saving.load_model(result.model_path, compile=False)
    # The stem's batch norm sees the first convolution's output, which no batch
    # statistic touches: recomputing it once more from the same images (in another
    # order) gives the same values only if the saved model already holds them, not
    # the moving averages of training.
    mean, variance = _moving_statistics(saved)[:2]
    recompute_statistics(saved, data.train_unaugmented)
    again = _moving_statistics(saved)[:2]
    same = np.allclose(mean, again[0], rtol=1e-4, atol=1e-4) and np.allclose(
        variance, again[1], rtol=1e-4, atol=1e-4
    )
    assert same == recompute


def test_the_global_batch_is_per_replica_batch_times_replicas(tmp_path, capsys):
    images, labels = colour_arrays(48)
    result = training.train(
        (images, labels),
        tiny_model,
        preset="photos",  # asked for: 16x16 arrays would get the small-image preset
        batch_size=4,
        epochs=1,
        validation_split=0,  # nothing to evaluate: the batch is the point here
        augment=None,
        output=tmp_path,
        run_name="r",
        strategy=distribute.Distribution("none", num_replicas=3),
    )
    out = capsys.readouterr().out
    assert "distribution: none, 3 replicas" in out
    assert "batch: 12 images per step (4 per replica); peak learning rate 0.01875" in out
    metrics = result.metrics
    assert metrics["batch_size"] == 12 and metrics["per_replica_batch_size"] == 4
    assert metrics["num_replicas"] == 3
    assert metrics["peak_learning_rate"] == pytest.approx(0.4 * 12 / 256)  # the photo rate
    assert metrics["preset"] == "photos" and "preset: photos" in out
    assert int(result.model.optimizer.iterations) == math.ceil(metrics["num_train"] / 12)


def test_batches_must_divide_and_built_models_cannot_be_distributed():
    with pytest.raises(ValueError, match="16 images does not divide over 3 replicas"):
        training.fit(tiny_model, colour_data(), strategy=distribute.Distribution("none", 3))
    with pytest.raises(ValueError, match="built model cannot train under the mirrored"):
        training.fit(tiny_model(), colour_data(), strategy=distribute.Distribution("mirrored"))
    with pytest.raises(ValueError, match="devices goes with a strategy name"):
        training.fit(tiny_model, colour_data(), strategy=_worker(), devices=2)
    with pytest.raises(ValueError, match="Unknown strategy"):
        training.fit(tiny_model, colour_data(), strategy="ring")


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="torch trains on one device")
def test_fit_under_a_real_one_device_strategy_writes_a_loadable_run(tmp_path):
    strategy = "mirrored" if keras.backend.backend() == "tensorflow" else "dataparallel"
    result = training.fit(
        tiny_model, colour_data(), epochs=1, output=tmp_path, run_name="r", strategy=strategy,
        devices=1, verbose=0,
    )  # fmt: skip
    assert result.metrics["strategy"] == strategy and result.metrics["num_replicas"] == 1
    assert result.metrics["test_num_examples"] == 16
    model, metadata = saving.load_model(result.model_path)
    assert metadata["class_names"] == CLASSES
    images, _ = colour_arrays(3)
    np.testing.assert_allclose(
        model.predict(images, verbose=0), result.model.predict(images, verbose=0), atol=1e-5
    )


@pytest.mark.parametrize(
    "count, expected",
    [(16, [4, 4, 4, 4]), (15, [4, 4, 4, 2]), (13, [4, 4, 4]), (None, [4, 4, 4, 2])],
)
def test_jax_batches_are_cut_to_divide_over_the_devices(count, expected):
    pytest.importorskip("jax")
    images, labels = colour_arrays(count or 15)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    distribution = distribute.Distribution("dataparallel", num_replicas=2)
    divisible = training.divisible_batches(dataset, distribution, 4, count)
    sizes = [int(x.shape[0]) for x, y in divisible if x.shape[0] == y.shape[0]]
    assert sizes == expected
    if count is not None:  # known sizes keep a known length
        assert int(divisible.cardinality()) == len(expected)
    plain = distribute.Distribution("mirrored", num_replicas=2)
    assert training.divisible_batches(dataset, plain, 4, count) is dataset


def test_train_takes_a_config_and_reports_its_preset(tmp_path):
    images, labels = colour_arrays(24)
    config = training.PRESETS["small_images"].replace(
        epochs=1, batch_size=8, validation_split=0.25, output=str(tmp_path), verbose=0
    )
    result = training.train((images, labels), tiny_model, config)
    assert result.metrics["preset"] == "small_images"
    assert result.metrics["peak_learning_rate"] == pytest.approx(0.1 * 8 / 128)
    with open(result.metrics_path, encoding="utf-8") as file:
        assert json.load(file)["preset"] == "small_images"
    # Without a config the preset comes from the data: 16x16 arrays are small images.
    chosen = training.train(
        colour_arrays(300), tiny_model, epochs=1, output=tmp_path, run_name="chosen", verbose=0
    )
    assert chosen.metrics["preset"] == "small_images"
    assert chosen.metrics["image_size"] == [SIZE, SIZE]
    assert chosen.metrics["batch_size"] == training.PRESETS["small_images"].batch_size


def test_the_small_images_preset_starts_the_last_bn_scale_at_one_where_the_model_takes_it(
    tmp_path,
):
    """The preset's zero_init_last=False reaches a named model and a builder that names
    it; a builder without it still trains."""
    images, labels = colour_arrays(16)
    config = training.PRESETS["small_images"].replace(
        epochs=1, batch_size=8, validation_split=0.25, output=str(tmp_path), verbose=0
    )

    def last_scales_start_at_one(result):
        blocks = [layer for layer in result.model.layers if isinstance(layer, kr.BasicBlock)]
        return bool(blocks) and all(block.zero_init_last is False for block in blocks)

    named = training.train((images, labels), "resnet20", config, run_name="named")
    assert last_scales_start_at_one(named)

    def naming_builder(num_classes, input_shape, zero_init_last=True):
        return kr.ResNet20(
            num_classes=num_classes, input_shape=input_shape, zero_init_last=zero_init_last
        )

    assert last_scales_start_at_one(
        training.train((images, labels), naming_builder, config, run_name="naming")
    )

    def builder(num_classes, input_shape):  # a user's builder without the argument
        return tiny_model(num_classes=num_classes, input_shape=input_shape)

    own = training.train((images, labels), builder, config, run_name="own")
    assert own.model.output_shape[-1] == named.model.output_shape[-1]


def test_stochastic_depth_that_cannot_reach_the_model_is_refused(tmp_path):
    """An explicit drop_path_rate reaches a builder that names it; with a builder that
    does not, or a built model, it is a clear error instead of a silent no-op."""
    images, labels = colour_arrays(16)
    config = training.PRESETS["small_images"].replace(
        epochs=1, batch_size=8, validation_split=0.25, output=str(tmp_path), verbose=0
    )

    def builder(num_classes, input_shape):
        return tiny_model(num_classes=num_classes, input_shape=input_shape)

    for model in (builder, tiny_model(num_classes=3, input_shape=(SIZE, SIZE, 3))):
        with pytest.raises(ValueError, match=r"drop_path_rate=0.2 cannot reach .*leave"):
            training.train((images, labels), model, config, drop_path_rate=0.2)
    # Without it, the same builder trains: a preset's stochastic depth is dropped.
    assert training.train((images, labels), builder, config).model.output_shape[-1] == 3

    def taking_builder(num_classes, input_shape, drop_path_rate=0.0):
        return kr.ResNet20(
            num_classes=num_classes, input_shape=input_shape, drop_path_rate=drop_path_rate
        )

    taken = training.train((images, labels), taking_builder, config, drop_path_rate=0.2)
    rates = [
        layer.drop_path_rate for layer in taken.model.layers if isinstance(layer, kr.BasicBlock)
    ]
    assert rates and max(rates) == pytest.approx(0.2)


# Moving average of the weights --------------------------------------------------------


def _dense_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    return training.compile_model(
        model, epochs=6, steps_per_epoch=1, batch_size=8, warmup_epochs=0, ema_momentum=0.8
    )


def _dense_batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 4)).astype("float32"), rng.integers(0, 3, 8).astype("int32")


def _weights(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]


def _moving_average(trajectory, momentum):
    """Keras's rule: the first step copies the weights, then average = m * a + (1 - m) * w."""
    average = trajectory[0]
    for weights in trajectory[1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights, strict=True)]
    return average


def test_the_moving_average_is_off_by_default():
    assert training.TrainConfig().ema_momentum is None
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    training.compile_model(model, epochs=2, steps_per_epoch=1, batch_size=8)
    assert not model.optimizer.use_ema
    with pytest.raises(ValueError, match="ema_momentum"):
        optim.make_optimizer("sgd", ema_momentum=1.0)


def test_fit_ends_with_the_moving_average_of_the_trajectory():
    model = _dense_model()
    trajectory = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: trajectory.append(_weights(model))
    )
    x, y = _dense_batch()
    model.fit(x, y, batch_size=8, epochs=6, callbacks=[record], verbose=0)
    expected = _moving_average(trajectory, 0.8)
    for final, want, last in zip(_weights(model), expected, trajectory[-1], strict=True):
        np.testing.assert_allclose(final, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(final, last, atol=1e-4)  # the average, not the last step


def test_best_checkpoint_saves_the_averaged_weights_and_keeps_the_trained_ones(tmp_path):
    model = _dense_model()
    x, y = _dense_batch()
    trajectory = []
    for _ in range(4):
        model.train_on_batch(x, y)
        trajectory.append(_weights(model))
    expected = _moving_average(trajectory, 0.8)
    with optim.averaged_weights(model):
        for averaged, want in zip(_weights(model), expected, strict=True):
            np.testing.assert_allclose(averaged, want, rtol=1e-5, atol=1e-6)
    checkpoint = training.BestModelCheckpoint(str(tmp_path / "best.keras"))
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.5})
    saved = keras.saving.load_model(tmp_path / "best.keras", compile=False)
    for kept, want in zip(_weights(saved), expected, strict=True):
        np.testing.assert_allclose(kept, want, rtol=1e-5, atol=1e-6)
    for now, trained in zip(_weights(model), trajectory[-1], strict=True):
        np.testing.assert_array_equal(now, trained)


def test_a_run_with_a_moving_average_validates_and_saves_it(tmp_path):
    result = training.fit(
        tiny_model,
        colour_data(),
        epochs=2,
        output=tmp_path,
        run_name="ema",
        verbose=0,
        ema_momentum=0.9,
    )
    assert result.metrics["ema_momentum"] == 0.9
    assert result.model.optimizer.use_ema
    saved = keras.saving.load_model(result.model_path, compile=False)
    for kept, final in zip(_weights(saved), _weights(result.model), strict=True):
        np.testing.assert_array_equal(kept, final)
    assert (
        training.fit(
            tiny_model, colour_data(), epochs=1, output=tmp_path, run_name="plain", verbose=0
        ).metrics["ema_momentum"]
        is None
    )
