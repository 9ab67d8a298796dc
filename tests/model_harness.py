"""The checks every model goes through: build, one fit step, .keras round trip, config.

As KerasHub's ``run_vision_backbone_test`` and timm's registry-wide tests: one function
that a test calls with a way to build its model, so each named network (and any new
one) gets the same checks on every backend.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import keras
import numpy as np
from conftest import random_images, to_numpy

from keras_resnet import ResNetConfig, resnet_config


def run_model_test(
    build: Callable[[], keras.Model],
    image_size: int,
    directory,
    expected_config: ResNetConfig | None = None,
    batch_size: int = 2,
) -> keras.Model:
    """Runs the shared checks on the model ``build()`` returns; returns the reloaded model.

    Args:
        build: makes the model, for images of ``image_size`` pixels with 3 channels.
        image_size: height and width of the random test images.
        directory: a folder for the ``.keras`` file (pytest's ``tmp_path``).
        expected_config: the :class:`ResNetConfig` the model must carry, if known.
        batch_size: images in the one training step.

    Returns:
        The model loaded back from its ``.keras`` file.
    """
    model = build()
    config = resnet_config(model)
    if expected_config is not None:
        assert config == expected_config

    # The config survives JSON, the form it takes inside a .keras file.
    assert ResNetConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config

    images = random_images(batch_size, image_size)
    num_classes = model.output_shape[-1]
    labels = np.arange(batch_size) % num_classes
    # Eager: one step needs no compiled graph, whose compilation would dominate (JAX).
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss="sparse_categorical_crossentropy",
        run_eagerly=True,
    )
    classifier = model.layers[-1].weights[0]
    before = to_numpy(classifier)
    history = model.fit(images, labels, batch_size=batch_size, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(to_numpy(classifier), before), "one fit step changed nothing"

    expected = to_numpy(model(images, training=False))
    assert np.all(np.isfinite(expected))
    path = f"{directory}/model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(
        to_numpy(loaded(images, training=False)), expected, rtol=1e-6, atol=1e-7
    )
    assert resnet_config(loaded) == config
    return loaded
