"""The decisions a search shares with models, data and training, each behind one name.

A search builds ResNets and loads data as ``keras-resnet train`` does; where another
module takes the same decision, the function or constant here says which one, so that
each can become an import of that module's own when it has one to offer.
"""

from __future__ import annotations

import os
from typing import Any

from keras_resnet import models, training

# Images below this size get the CIFAR stem from tune() unless a stem is given: an
# ImageNet stem would shrink them 4x before the first stage. No other module takes this
# decision (data.SMALL_IMAGE_SIZE, despite the name, picks the crop of small images);
# a small-image preset of the training configuration would be its home.
SMALL_IMAGE_SIZE = 64

# Same decision as training.PHOTO_DEFAULTS["validation_split"] and data.load_data's
# default; a search needs validation data even where a training run holds none out.
VALIDATION_SPLIT = 0.2


def default_stem(image_size: tuple[int, int]) -> str | None:
    """The stem a search uses at this image size when none is given.

    Args:
        image_size: ``(height, width)`` of the images.

    Returns:
        ``"cifar"`` below ``SMALL_IMAGE_SIZE`` pixels, else None (the variant's stem).
    """
    return "cifar" if min(image_size) < SMALL_IMAGE_SIZE else None


# Same decision as models.ResNet with stem_type=None.
def effective_stem(stem: str | None, variant: str) -> str:
    """The stem :func:`keras_resnet.models.ResNet` builds for ``stem_type=stem``.

    Args:
        stem: ``"imagenet"``, ``"deep"``, ``"cifar"`` or None.
        variant: the ResNet variant.

    Returns:
        ``stem``, or the variant's stem when it is None.
    """
    if stem is not None:
        return stem
    return "deep" if variant == "d" else "imagenet"


# Same decision as models.ResNet with stage_widths=None, continued by doubling for
# networks with more stages than the table.
def base_widths(stem: str, num_stages: int) -> tuple[int, ...]:
    """Stage widths at multiplier 1: the CIFAR or ImageNet widths, doubling per stage.

    Args:
        stem: the stem the network is built with.
        num_stages: stages of the network.

    Returns:
        One width per stage.
    """
    widths = list(models.CIFAR_WIDTHS if stem == "cifar" else models.IMAGENET_WIDTHS)
    while len(widths) < num_stages:
        widths.append(widths[-1] * 2)
    return tuple(widths[:num_stages])


# Same decision as training.train's choice of DIGITS_DEFAULTS or PHOTO_DEFAULTS.
def data_defaults(data: Any) -> dict[str, Any]:
    """The training defaults for a data source: the digits' or the photos'.

    Args:
        data: what :func:`keras_resnet.data.load_data` takes; None is the digits.

    Returns:
        ``training.DIGITS_DEFAULTS`` or ``training.PHOTO_DEFAULTS``.
    """
    is_digits = data is None or (isinstance(data, str) and data.lower() == "digits")
    return training.DIGITS_DEFAULTS if is_digits else training.PHOTO_DEFAULTS


# Same decision as training.train's metadata["data"].
def data_source(data: Any) -> str | None:
    """The data source as a saved model records it: a folder as an absolute path.

    Args:
        data: what :func:`keras_resnet.data.load_data` takes; None is the digits.

    Returns:
        ``"digits"``, ``"tfds:..."``, a path, or None for data that is not named
        (arrays, an ``ImageData``).
    """
    if data is None:
        return "digits"
    if not isinstance(data, str | os.PathLike):
        return None
    source = os.fspath(data)
    return os.path.abspath(source) if os.path.isdir(source) else source


# Same decision as training._data_label, but for unnamed data, which is "data" here.
def data_label(data: Any) -> str:
    """A short name of the data source for a run folder: ``digits``, ``tf_flowers``...

    Args:
        data: what :func:`keras_resnet.data.load_data` takes; None is the digits.

    Returns:
        The name; ``"data"`` for data that is not named.
    """
    if data is None:
        return "digits"
    if isinstance(data, str | os.PathLike):
        text = os.fspath(data)
        if text.startswith("tfds:"):
            return text[len("tfds:") :].replace("/", "-")
        return os.path.basename(os.path.normpath(text)) or "data"
    return "data"
