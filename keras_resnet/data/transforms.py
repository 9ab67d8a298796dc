"""Geometric transforms in tf ops: resize, crop windows, flip, pad-and-crop, shift-and-zoom.

Crops are computed as windows ``(top, left, height, width)`` before decoding, so a
JPEG decodes only the window (:mod:`keras_resnet.data.decode`). Random transforms
take an explicit stateless seed (:mod:`keras_resnet.data.seeds`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

from keras_resnet.data.seeds import split_seed
from keras_resnet.data.sizes import crops_mildly

CROP_SCALE = (0.08, 1.0)
SMALL_CROP_SCALE = (0.35, 1.0)  # close to CIFAR's pad-and-crop
CROP_ASPECT_RATIO = (3 / 4, 4 / 3)
EVAL_CROP_FRACTION = 0.875
# Pixels of black added on each side before the random crop of "pad_crop": CIFAR's 4
# (He et al. 2015, section 4.2).
PAD_CROP_PADDING = 4
_CROP_ATTEMPTS = 10


def crop_scale(size: Sequence[int]) -> tuple[float, float]:
    """The random-resized crop's area range for an output size: milder when small."""
    return SMALL_CROP_SCALE if crops_mildly(size) else CROP_SCALE


def eval_crop_fraction(size: Sequence[int]) -> float:
    """The evaluation center crop's fraction for an output size: no crop when small."""
    return 1.0 if crops_mildly(size) else EVAL_CROP_FRACTION


def resize(image: tf.Tensor, size, antialias: bool = False) -> tf.Tensor:
    """Bilinear resize to float32 pixels.

    The input is cast first: TensorFlow's bilinear kernel is faster on float32 than on
    uint8, and it is the costliest step of a cached epoch (benchmarks/RESULTS.md,
    "Data pipeline decisions").
    """
    return tf.image.resize(tf.cast(image, tf.float32), size, antialias=antialias)


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    """Rounds pixels in [0, 255] to uint8.

    Only for bilinear and antialiased resizes of uint8 images: their outputs are
    weighted means of pixels, so they stay in range and need no clipping.
    """
    if image.dtype == tf.uint8:
        return image
    return tf.cast(image + 0.5, tf.uint8)


def shorter_side_to(image: tf.Tensor, side: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The scale that brings an image's shorter side to ``side``, and the size it gives."""
    shape = tf.shape(image)
    scale = side / tf.cast(tf.minimum(shape[0], shape[1]), tf.float32)
    return scale, tf.cast(tf.math.ceil(tf.cast(shape[:2], tf.float32) * scale), tf.int32)


def random_flip(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Horizontal flip half the time, without tf.image's tf.cond.

    The reversed axes are a list of length 0 or 1, cheaper than tf.where on the
    whole image (benchmarks/RESULTS.md, "Data pipeline decisions").
    """
    flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.reverse(image, tf.boolean_mask(tf.constant([1]), tf.reshape(flip, [1])))


def random_pad_crop(
    image: tf.Tensor, seed: tf.Tensor, padding: int = PAD_CROP_PADDING
) -> tf.Tensor:
    """Pads ``padding`` black pixels on each side and crops the image's own size at random.

    The ResNet paper's CIFAR augmentation (He et al. 2015, section 4.2), with
    torchvision's ``RandomCrop(size, padding)`` convention: the padding is zeros in raw
    pixels, before the model's normalisation. Every offset from 0 to ``2 * padding``
    is equally likely on each axis, so the image moves by up to ``padding`` pixels.

    Args:
        image: ``(height, width, channels)``.
        seed: a [2] int stateless seed.
        padding: pixels added on each side.

    Returns:
        An image of the input's shape and dtype.

    Example:
        >>> random_pad_crop(tf.ones((32, 32, 3)), tf.constant([1, 2])).shape
        TensorShape([32, 32, 3])
    """
    top_seed, left_seed = split_seed(seed, 2)
    shape = tf.shape(image)
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    top = tf.random.stateless_uniform([], top_seed, 0, 2 * padding + 1, tf.int32)
    left = tf.random.stateless_uniform([], left_seed, 0, 2 * padding + 1, tf.int32)
    cropped = tf.slice(padded, [top, left, 0], [shape[0], shape[1], shape[2]])
    cropped.set_shape(image.shape)
    return cropped


def pad_crop_flip(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The "pad_crop" augmentation: :func:`random_pad_crop`, then :func:`random_flip`.

    Example:
        >>> pad_crop_flip(tf.ones((32, 32, 3)), tf.constant([1, 2])).shape
        TensorShape([32, 32, 3])
    """
    crop_seed, flip_seed = split_seed(seed, 2)
    return random_flip(random_pad_crop(image, crop_seed), flip_seed)


def center_window(height, width, size, fraction):
    """The window that "resize so the image covers size / fraction, center-crop size" keeps."""
    height_f, width_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    scale = tf.maximum(size[0] / fraction / height_f, size[1] / fraction / width_f)
    crop_h = tf.clip_by_value(tf.cast(tf.round(size[0] / scale), tf.int32), 1, height)
    crop_w = tf.clip_by_value(tf.cast(tf.round(size[1] / scale), tf.int32), 1, width)
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def center_window_size(height, width, size, fraction) -> tuple[int, int]:
    """Python twin of center_window's size, for planning."""
    scale = max(size[0] / fraction / height, size[1] / fraction / width)
    return (
        min(max(round(size[0] / scale), 1), height),
        min(max(round(size[1] / scale), 1), width),
    )


def random_crop_window(height, width, scale, ratio, seed):
    """torchvision's RandomResizedCrop window: ten tries at once, then a center fallback."""
    area_seed, ratio_seed, top_seed, left_seed = split_seed(seed, 4)
    height_f, width_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    area = tf.random.stateless_uniform([_CROP_ATTEMPTS], area_seed, scale[0], scale[1])
    area = height_f * width_f * area
    log_ratio = tf.random.stateless_uniform(
        [_CROP_ATTEMPTS], ratio_seed, math.log(ratio[0]), math.log(ratio[1])
    )
    aspect = tf.exp(log_ratio)
    crop_w = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
    crop_h = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
    fits = (crop_w >= 1) & (crop_h >= 1) & (crop_w <= width) & (crop_h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)

    # No try fitted: the whole image, cut to the nearest allowed aspect ratio.
    image_ratio = width_f / height_f
    fallback_w = tf.where(
        image_ratio > ratio[1], tf.cast(tf.round(height_f * ratio[1]), tf.int32), width
    )
    fallback_h = tf.where(
        image_ratio < ratio[0], tf.cast(tf.round(width_f / ratio[0]), tf.int32), height
    )
    found = tf.reduce_any(fits)
    crop_h = tf.clip_by_value(tf.where(found, crop_h[first], fallback_h), 1, height)
    crop_w = tf.clip_by_value(tf.where(found, crop_w[first], fallback_w), 1, width)
    top = tf.random.stateless_uniform([], top_seed, 0, height - crop_h + 1, tf.int32)
    left = tf.random.stateless_uniform([], left_seed, 0, width - crop_w + 1, tf.int32)
    return top, left, crop_h, crop_w


def random_shift_zoom(image, size, seed, max_shift=0.1, zoom=(0.9, 1.1)) -> tf.Tensor:
    """Random translation and zoom, filling uncovered borders with black.

    The box is placed so that with no shift and no zoom the output equals a plain
    half-pixel bilinear resize, the evaluation transform.
    """
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    out = tf.constant(size, tf.float32)
    zoom_seed, shift_seed = split_seed(seed, 2)
    factor = tf.random.stateless_uniform([], zoom_seed, zoom[0], zoom[1])
    span = shape / factor
    shift = tf.random.stateless_uniform([2], shift_seed, -max_shift, max_shift)
    start = (shape - span) / 2 + shift * shape
    # crop_and_resize samples y1 * (h - 1) + i * (y2 - y1) * (h - 1) / (H - 1); match it to
    # resize's half-pixel rule start + (i + 0.5) * span / H - 0.5.
    last = tf.maximum(shape - 1, 1.0)
    first = (start + 0.5 * span / out - 0.5) / last
    end = first + span / out * tf.maximum(out - 1, 1.0) / last
    box = tf.concat([first, end], 0)[None]
    return tf.image.crop_and_resize(image[None], box, [0], size, extrapolation_value=0.0)[0]
