"""Image-classification data as tf.data pipelines: folders, tfds, arrays and the digits.

Every loader returns an :class:`ImageData` whose datasets yield batches of
``(images, labels)``: float32 raw pixels in [0, 255] shaped ``(B, H, W, 3)`` and
int32 class indices. The models take raw pixels, so the batches go straight into
``model.fit`` on the TensorFlow, JAX and torch backends; all decoding and
augmentation runs inside tf.data, so it is the same on every backend.

Modules, one concern each:

- ``load``: :func:`load_data` and :func:`load_image`, the entry points.
- ``image_data``: :class:`ImageData`.
- ``sources``: one loader per source: ``digits``, ``arrays``, ``datasets``
  (ready-made pipelines), ``folder``, ``tfds``.
- ``folders``, ``checks``: a folder's layout and image files; checking each file.
- ``sizes``: parsing ``image_size``, each source's default, what counts as small.
- ``holdout``: the share held out for validation when a source has none.
- ``decode``, ``transforms``, ``randaugment``, ``mix``: what happens to an image.
- ``seeds``: the stateless per-element seeds every random transform takes.
- ``splits``, ``caching``, ``plan``, ``pipeline``: from splits to batched pipelines.

Example:
    >>> from keras_resnet.data import load_data
    >>> data = load_data("digits", batch_size=64)
    >>> data.num_classes, data.image_shape, data.batch_size
    (10, (32, 32, 3), 64)
"""

import importlib

# Each public name and the module that holds it: the package imports a module (and
# TensorFlow with most of them) only when one of its names is first used, so that
# keras_resnet.training.config can import the data's defaults without TensorFlow.
_HOMES = {
    "AUGMENTATIONS": "load",
    "CACHE_MEMORY_FRACTION": "caching",
    "CROP_ASPECT_RATIO": "transforms",
    "CROP_SCALE": "transforms",
    "DEFAULT_IMAGE_SIZE": "sizes",
    "DIGITS_IMAGE_SIZE": "sizes",
    "DIGITS_TEST_FRACTION": "sources.digits",
    "ENCODED_SHUFFLE_BUFFER": "splits",
    "EVAL_CROP_FRACTION": "transforms",
    "IMAGE_EXTENSIONS": "folders",
    "ImageData": "image_data",
    "MAX_REPORTED_FILES": "checks",
    "RANDAUGMENT_MAGNITUDE": "randaugment",
    "RANDAUGMENT_OPS": "randaugment",
    "RANDOM_STAGES": "plan",
    "SMALL_CROP_SCALE": "transforms",
    "SMALL_IMAGE_SIZE": "sizes",
    "STORED_SIZE_LIMIT": "sizes",
    "TRAIN_CACHE_SCALE": "caching",
    "TransformPlan": "plan",
    "VALIDATION_SPLIT": "holdout",
    "load_data": "load",
    "load_image": "load",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


__all__ = [
    "AUGMENTATIONS",
    "CACHE_MEMORY_FRACTION",
    "CROP_ASPECT_RATIO",
    "CROP_SCALE",
    "DEFAULT_IMAGE_SIZE",
    "DIGITS_IMAGE_SIZE",
    "DIGITS_TEST_FRACTION",
    "ENCODED_SHUFFLE_BUFFER",
    "EVAL_CROP_FRACTION",
    "IMAGE_EXTENSIONS",
    "MAX_REPORTED_FILES",
    "RANDAUGMENT_MAGNITUDE",
    "RANDAUGMENT_OPS",
    "RANDOM_STAGES",
    "SMALL_CROP_SCALE",
    "SMALL_IMAGE_SIZE",
    "STORED_SIZE_LIMIT",
    "TRAIN_CACHE_SCALE",
    "VALIDATION_SPLIT",
    "ImageData",
    "TransformPlan",
    "load_data",
    "load_image",
]
