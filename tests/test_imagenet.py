"""ImageNet class names and the keras.applications-compatible helpers."""

import numpy as np
import pytest

from keras_resnet import imagenet


def test_class_names_are_the_thousand_imagenet_classes_in_index_order():
    names = imagenet.class_names()
    wnids = imagenet.wordnet_ids()
    assert len(names) == len(wnids) == 1000
    assert len(set(wnids)) == 1000
    assert wnids == sorted(wnids)  # the published sets index classes by sorted WordNet id
    assert (wnids[0], names[0]) == ("n01440764", "tench")
    assert (wnids[281], names[281]) == ("n02123045", "tabby")
    assert (wnids[999], names[999]) == ("n15075141", "toilet tissue")


def test_class_names_returns_a_copy():
    imagenet.class_names().clear()
    assert len(imagenet.class_names()) == 1000


def test_decode_predictions_gives_the_best_classes_first():
    scores = np.zeros((2, 1000), dtype="float32")
    scores[0, [281, 1, 999]] = [0.5, 0.3, 0.2]
    scores[1, 7] = 1.0
    decoded = imagenet.decode_predictions(scores, top=3)
    assert len(decoded) == 2
    assert decoded[0] == [
        ("n02123045", "tabby", 0.5),
        ("n01443537", "goldfish", pytest.approx(0.3)),
        ("n15075141", "toilet tissue", pytest.approx(0.2)),
    ]
    assert decoded[1][0][1:] == ("cock", 1.0)
    assert all(isinstance(score, float) for _, _, score in decoded[0])


@pytest.mark.parametrize("shape", [(1000,), (2, 10), (1, 1001)])
def test_decode_predictions_rejects_predictions_that_are_not_imagenet_shaped(shape):
    with pytest.raises(ValueError, match=r"\(batch, 1000\)"):
        imagenet.decode_predictions(np.zeros(shape))


@pytest.mark.parametrize("top", [0, 1001])
def test_decode_predictions_rejects_a_top_out_of_range(top):
    with pytest.raises(ValueError, match="top must be between 1 and 1000"):
        imagenet.decode_predictions(np.zeros((1, 1000)), top=top)


def test_preprocess_input_leaves_raw_pixels_to_the_model():
    images = np.arange(12, dtype="float32").reshape(1, 2, 2, 3)
    assert imagenet.preprocess_input(images) is images
    assert imagenet.preprocess_input(images, data_format="channels_last") is images


def test_the_package_exports_the_keras_applications_helpers():
    import keras_resnet

    assert keras_resnet.decode_predictions is imagenet.decode_predictions
    assert keras_resnet.preprocess_input is imagenet.preprocess_input


# A keras.applications script as its users write it; only the import line changes.
KERAS_APPLICATIONS_IMPORT = (
    "from keras.applications.resnet50 import ResNet50, preprocess_input, decode_predictions"
)
KERAS_RESNET_IMPORT = "from keras_resnet import ResNet50, preprocess_input, decode_predictions"
SCRIPT = f"""
{KERAS_APPLICATIONS_IMPORT}
import numpy as np

model = ResNet50(weights=None, classes=1000, input_shape=(64, 64, 3))
images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
x = preprocess_input(images)
preds = model.predict(x, verbose=0)
decoded = decode_predictions(preds, top=3)
"""


def _run_script(text):
    namespace = {}
    exec(compile(text, "keras_applications_script.py", "exec"), namespace)
    return namespace


def _check_outputs(namespace):
    preds = np.asarray(namespace["preds"])
    assert preds.shape == (2, 1000)
    np.testing.assert_allclose(preds.sum(axis=1), 1.0, rtol=1e-4)
    decoded = namespace["decoded"]
    wnids, names = imagenet.wordnet_ids(), imagenet.class_names()
    for row, top in zip(preds, decoded, strict=True):
        best = np.argsort(-row, kind="stable")[:3]
        assert [(wnid, name) for wnid, name, _ in top] == [(wnids[i], names[i]) for i in best]
        np.testing.assert_allclose([score for _, _, score in top], row[best], rtol=1e-6)


def test_a_keras_applications_script_runs_unchanged_but_for_its_import(monkeypatch):
    """The same script runs on keras.applications and, with one line changed, on ours.

    What is compared: both runs give (2, 1000) probabilities and top-3 decodings that
    follow them, in keras.applications' ``(wnid, name, score)`` form. The two models'
    random weights differ, so their predictions are not compared. keras.applications'
    ``decode_predictions`` downloads its class index on first use; the test hands it
    the index built from our class names instead, so its run stays offline.
    """
    from keras.src.applications import imagenet_utils

    class_index = {
        str(i): [wnid, name]
        for i, (wnid, name) in enumerate(
            zip(imagenet.wordnet_ids(), imagenet.class_names(), strict=True)
        )
    }
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", class_index)
    _check_outputs(_run_script(SCRIPT))

    ours = SCRIPT.replace(KERAS_APPLICATIONS_IMPORT, KERAS_RESNET_IMPORT)
    assert ours.count("\n") == SCRIPT.count("\n") and ours != SCRIPT
    namespace = _run_script(ours)
    assert type(namespace["model"]).__module__ == "keras_resnet.models"
    np.testing.assert_array_equal(namespace["x"], namespace["images"])
    _check_outputs(namespace)
