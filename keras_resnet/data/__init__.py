"""Image-classification data as tf.data pipelines: folders, tfds, arrays and the digits.

Every loader returns an :class:`ImageData` whose datasets yield batches of
``(images, labels)``: float32 raw pixels in [0, 255] shaped ``(B, H, W, 3)`` and
int32 class indices. The models take raw pixels, so the batches go straight into
``model.fit`` on the TensorFlow, JAX and torch backends; all decoding and
augmentation runs inside tf.data, so it is the same on every backend.

Modules, one concern each:

- ``load``: :func:`load_data` and :func:`load_image`, the entry points.
- ``augmentations``: the names of the training augmentations.
- ``image_data``: :class:`ImageData`.
- ``sources``: one loader per source: ``digits``, ``arrays``, ``datasets``
  (ready-made pipelines), ``folder``, ``tfds``.
- ``folders``, ``checks``: a folder's layout and image files; checking each file.
- ``sizes``: parsing ``image_size``, each source's default, what counts as small.
- ``defaults``: the validation share, batch size, seed and top-k that training and
  evaluation share.
- ``decode``, ``transforms``, ``randaugment``, ``mix``: what happens to an image.
- ``seeds``: the stateless per-element seeds every random transform takes.
- ``splits``, ``caching``, ``plan``, ``pipeline``: from splits to batched pipelines.

Names load on first use, so that ``augmentations``, ``defaults`` and ``sizes`` (which
import no TensorFlow) serve the command line and the training configuration without
loading TensorFlow.

Example:
    >>> from keras_resnet.data import load_data
    >>> data = load_data("digits", batch_size=64)
    >>> data.num_classes, data.image_shape, data.batch_size
    (10, (32, 32, 3), 64)
"""

import importlib

# Each public name -> the module that holds it.
_HOMES = {
    "AUGMENTATIONS": "augmentations",
    "CACHE_MEMORY_FRACTION": "caching",
    "TRAIN_CACHE_SCALE": "caching",
    "MAX_REPORTED_FILES": "checks",
    "IMAGE_EXTENSIONS": "folders",
    "BATCH_SIZE": "defaults",
    "EVALUATION_BATCH_SIZE": "defaults",
    "SEED": "defaults",
    "TOP_K": "defaults",
    "VALIDATION_SPLIT": "defaults",
    "ImageData": "image_data",
    "check_class_count": "image_data",
    "load_data": "load",
    "load_image": "load",
    "RANDOM_STAGES": "plan",
    "TransformPlan": "plan",
    "RANDAUGMENT_MAGNITUDE": "randaugment",
    "RANDAUGMENT_OPS": "randaugment",
    "DEFAULT_IMAGE_SIZE": "sizes",
    "DIGITS_IMAGE_SIZE": "sizes",
    "MILD_CROP_BELOW": "sizes",
    "STORED_SIZE_LIMIT": "sizes",
    "DIGITS_TEST_FRACTION": "sources.digits",
    "ENCODED_SHUFFLE_BUFFER": "splits",
    "CROP_ASPECT_RATIO": "transforms",
    "CROP_SCALE": "transforms",
    "EVAL_CROP_FRACTION": "transforms",
    "PAD_CROP_PADDING": "transforms",
    "SMALL_CROP_SCALE": "transforms",
}

__all__ = sorted(_HOMES, key=lambda name: (not name.isupper(), name))


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
