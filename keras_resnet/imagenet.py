"""ImageNet-1k's class names, and the keras.applications helpers that go with them.

The names ship with the package (``imagenet_classes.tsv``: WordNet id and name per
line, in the class-index order of every published ImageNet weight set), so that
decoding a prediction needs no download, unlike ``keras.applications``' index file.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources

import numpy as np

NUM_CLASSES = 1000


@functools.cache
def _classes() -> tuple[tuple[str, str], ...]:
    text = resources.files("keras_resnet").joinpath("imagenet_classes.tsv").read_text("utf-8")
    rows = tuple(tuple(line.split("\t", 1)) for line in text.splitlines() if line)
    if len(rows) != NUM_CLASSES:
        raise RuntimeError(
            f"keras_resnet's imagenet_classes.tsv has {len(rows)} rows, not {NUM_CLASSES}: "
            "the installation is damaged; reinstall keras3-resnet."
        )
    return rows


def class_names() -> list[str]:
    """The 1000 ImageNet class names, index ``i`` naming class ``i``.

    Returns:
        A new list of names such as ``"tench"`` and ``"goldfish"``.

    Example:
        >>> class_names()[281]
        'tabby'
    """
    return [name for _, name in _classes()]


def wordnet_ids() -> list[str]:
    """The 1000 ImageNet WordNet ids (``"n01440764"``, ...), in class-index order."""
    return [wnid for wnid, _ in _classes()]


def decode_predictions(
    predictions: Sequence | np.ndarray, top: int = 5
) -> list[list[tuple[str, str, float]]]:
    """The ``top`` classes of each row of 1000-class ImageNet predictions.

    The same result as ``keras.applications.resnet.decode_predictions``, without its
    download: per image, ``(wordnet_id, class_name, score)`` tuples, best first.

    Args:
        predictions: scores (probabilities or logits) shaped ``(batch, 1000)``.
        top: how many classes to return per image.

    Returns:
        One list of ``top`` tuples per image.

    Raises:
        ValueError: if ``predictions`` is not ``(batch, 1000)`` or ``top`` is not in
            1..1000.

    Example:
        >>> decode_predictions(model.predict(images), top=3)[0]
        [('n02123045', 'tabby', 0.61), ...]
    """
    scores = np.asarray(predictions)
    if scores.ndim != 2 or scores.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"decode_predictions takes ImageNet predictions shaped (batch, {NUM_CLASSES}), "
            f"got {scores.shape}. A model with other classes names them itself "
            "(the class_names of its training data)."
        )
    if not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"top must be between 1 and {NUM_CLASSES}, got {top}.")
    classes = _classes()
    best = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [
        [(*classes[index], float(row[index])) for index in indices]
        for row, indices in zip(scores, best, strict=True)
    ]


def preprocess_input(x, data_format: str | None = None):
    """Returns ``x`` unchanged: keras_resnet models normalise raw pixels themselves.

    ``keras.applications``' ResNets expect "caffe" preprocessing (BGR, mean
    subtracted) from this function, and silently lose accuracy without it. A
    keras_resnet model takes raw ``[0, 255]`` RGB pixels and normalises them in its
    first layer, so this identity only lets a keras.applications script switch its
    import unchanged. (Models built with ``include_preprocessing=False`` expect
    ImageNet-normalised inputs instead; this function does not produce them.)

    Args:
        x: images as raw ``[0, 255]`` RGB pixels.
        data_format: accepted for keras.applications compatibility; unused.

    Returns:
        ``x`` itself.

    Example:
        >>> preds = model.predict(preprocess_input(images))
    """
    del data_format
    return x
