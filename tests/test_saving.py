"""Atomic writes: a finished file gets the usual mode, a failed one leaves no trace."""

import json
import os
import stat

import keras
import numpy as np
import pytest

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
