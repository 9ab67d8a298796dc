"""Saving: atomic writes, JSON files, and the metadata and release a model is saved with."""

import json
import os
import stat
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import ResNet, ResNetConfig, resnet_config, saving


def test_write_json_gives_the_mode_open_would(tmp_path):
    umask = os.umask(0o022)
    try:
        path = saving.write_json(tmp_path / "metrics.json", {"test_accuracy": 0.99})
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert json.loads(open(path).read()) == {"test_accuracy": 0.99}


def test_failed_write_keeps_the_previous_file_and_leaves_no_debris(tmp_path):
    path = tmp_path / "metrics.json"
    saving.write_json(path, {"epoch": 1})
    with pytest.raises(TypeError):
        saving.write_json(path, {"epoch": object()})
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["metrics.json"]


def tiny_model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])


def test_write_json_writes_null_where_a_number_does_not_exist(tmp_path):
    values = {
        "final_val_loss": float("nan"),
        "best": [float("inf"), -np.inf, np.float32("nan"), np.float64(0.5)],
        "per_class": np.array([0.25, np.nan]),
        "epochs": np.int64(3),
    }
    path = saving.write_json(tmp_path / "metrics.json", values)
    text = open(path).read()
    assert "NaN" not in text and "Infinity" not in text

    def reject(constant):
        raise ValueError(f"{constant} is not JSON")

    assert json.loads(text, parse_constant=reject) == {
        "final_val_loss": None,
        "best": [None, None, None, 0.5],
        "per_class": [0.25, None],
        "epochs": 3,
    }


def test_write_atomically_replaces_a_folder_and_keeps_it_when_a_write_fails(tmp_path):
    def folder_writer(text):
        def write(temporary):
            os.makedirs(temporary)
            (Path(temporary) / "saved.txt").write_text(text)

        return write

    folder = tmp_path / "servable"
    saving.write_atomically(folder, folder_writer("one"))
    saving.write_atomically(folder, folder_writer("two"))
    assert (folder / "saved.txt").read_text() == "two"

    def half_written(temporary):
        folder_writer("half")(temporary)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        saving.write_atomically(folder, half_written)
    assert (folder / "saved.txt").read_text() == "two"
    assert os.listdir(tmp_path) == ["servable"]


def test_a_saved_model_records_the_release_that_saved_it(tmp_path):
    path = saving.save_model(tiny_model(), tmp_path / "m.keras", class_names=list("abc"))
    assert saving.read_metadata(path)[saving.VERSION_KEY] == keras_resnet.__version__
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, metadata = saving.load_model(path)
    assert metadata["class_names"] == list("abc")
    assert not [w for w in caught if "newer" in str(w.message)]


def test_a_file_from_a_newer_release_names_both_releases_and_the_upgrade(tmp_path, monkeypatch):
    monkeypatch.setattr(saving, "__version__", "99.1.0")
    path = saving.save_model(tiny_model(), tmp_path / "m.keras")
    monkeypatch.undo()
    installed = keras_resnet.__version__
    with pytest.warns(UserWarning, match="saved by keras_resnet 99.1.0") as caught:
        model, metadata = saving.load_model(path)
    message = str(caught[0].message)
    assert f"installed keras_resnet {installed}" in message
    assert saving.UPGRADE_COMMAND in message
    assert model.output_shape == (None, 3) and metadata[saving.VERSION_KEY] == "99.1.0"

    # A file that no longer loads at all: the error says the same.
    unreadable = tmp_path / "unreadable.keras"
    with zipfile.ZipFile(unreadable, "w") as archive:
        archive.writestr(saving.METADATA_MEMBER, json.dumps({saving.VERSION_KEY: "99.1.0"}))
    with pytest.warns(UserWarning), pytest.raises(ValueError) as error:
        saving.load_model(unreadable)
    assert "99.1.0" in str(error.value) and saving.UPGRADE_COMMAND in str(error.value)


def test_load_model_and_metadata_takes_a_model_or_a_path(tmp_path):
    model = tiny_model()
    assert saving.load_model_and_metadata(model) == (model, {})
    path = saving.save_model(
        model, tmp_path / "m.keras", class_names=list("abc"), image_size=[8, 8]
    )
    loaded, metadata = saving.load_model_and_metadata(path)
    assert isinstance(loaded, keras.Model) and loaded is not model
    assert metadata["class_names"] == list("abc") and metadata["image_size"] == [8, 8]
    images = np.random.default_rng(0).uniform(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    with pytest.raises(TypeError, match="keras.Model or the path of a .keras file, got int"):
        saving.load_model_and_metadata(3)


LEGACY_MODEL = os.path.join(os.path.dirname(__file__), "data", "resnet_release_0_1.keras")


def _legacy_expected():
    arrays = np.load(LEGACY_MODEL.replace(".keras", ".npz"))
    return arrays["images"], arrays["expected"]


@pytest.mark.parametrize("loader", ["keras_resnet", "keras"])
def test_a_model_saved_by_release_0_1_still_loads_and_predicts_the_same(loader):
    images, expected = _legacy_expected()
    if loader == "keras_resnet":
        model, metadata = saving.load_model(LEGACY_MODEL)
        assert metadata["class_names"] == ["a", "b", "c"]
    else:
        import keras_resnet  # noqa: F401  (registers the layers and the recipe's loss)

        model = keras.saving.load_model(LEGACY_MODEL)
    assert type(model.loss).__name__ == "SparseCategoricalCrossentropy"
    assert model.loss.label_smoothing == 0.1
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(images, training=False)), expected, atol=1e-5
    )


def test_a_release_0_1_model_has_no_config_and_is_rebuilt_as_the_error_says():
    images, expected = _legacy_expected()
    old, _ = saving.load_model(LEGACY_MODEL, compile=False)
    with pytest.raises(ValueError, match="predates the architecture config.*set_weights"):
        resnet_config(old)
    config = ResNetConfig(
        stage_depths=(1, 2, 2),
        stage_widths=(4, 8, 16),
        variant="v2",
        use_bias=True,
        stride_in_last_block=True,
        se_ratio=0.25,
        drop_path_rate=0.1,
    )
    new = ResNet(config=config, num_classes=3, input_shape=(16, 16, 3))
    new.set_weights(old.get_weights())
    assert resnet_config(new) == config
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(new(images, training=False)), expected, atol=1e-5
    )
