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
- ``decode``, ``transforms``, ``randaugment``, ``mix``: what happens to an image.
- ``seeds``: the stateless per-element seeds every random transform takes.
- ``splits``, ``caching``, ``plan``, ``pipeline``: from splits to batched pipelines.

Example:
    >>> from keras_resnet.data import load_data
    >>> data = load_data("digits", batch_size=64)
    >>> data.num_classes, data.image_shape, data.batch_size
    (10, (32, 32, 3), 64)
"""

from keras_resnet.data.caching import CACHE_MEMORY_FRACTION, TRAIN_CACHE_SCALE
from keras_resnet.data.checks import MAX_REPORTED_FILES
from keras_resnet.data.folders import IMAGE_EXTENSIONS
from keras_resnet.data.image_data import ImageData
from keras_resnet.data.load import AUGMENTATIONS, load_data, load_image
from keras_resnet.data.plan import RANDOM_STAGES, TransformPlan
from keras_resnet.data.randaugment import RANDAUGMENT_MAGNITUDE, RANDAUGMENT_OPS
from keras_resnet.data.sizes import (
    DEFAULT_IMAGE_SIZE,
    DIGITS_IMAGE_SIZE,
    SMALL_IMAGE_SIZE,
    STORED_SIZE_LIMIT,
)
from keras_resnet.data.sources.digits import DIGITS_TEST_FRACTION
from keras_resnet.data.splits import ENCODED_SHUFFLE_BUFFER
from keras_resnet.data.transforms import (
    CROP_ASPECT_RATIO,
    CROP_SCALE,
    EVAL_CROP_FRACTION,
    SMALL_CROP_SCALE,
)

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
    "ImageData",
    "TransformPlan",
    "load_data",
    "load_image",
]
