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
