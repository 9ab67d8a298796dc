"""Decoding images to uint8 RGB: codecs, windowed JPEG decodes and the Pillow fallback.

A JPEG can decode only a window of itself, and shrink by 1/2, 1/4 or 1/8 while
decoding (libjpeg's DCT scaling), far cheaper than decoding in full and resizing:
the win on large photos. Files checked before loading decode with settings fixed
per group of files (:class:`Decoding`); encoded records whose format is known only
per image (tfds) branch per image (:func:`element_image`).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from PIL import Image

CODEC_TF = 0  # tf.io.decode_image
CODEC_PIL = 1  # Pillow, for the BMP variants tf.io.decode_bmp gets wrong
CODEC_JPEG = 2  # a checked JPEG: tf.io.decode_jpeg and decode_and_crop_jpeg
JPEG_RATIOS = (1, 2, 4, 8)
# libjpeg's accurate integer IDCT, not TensorFlow's default fast one: JPEGs then decode
# to the pixels Pillow gives (keras.utils.load_img, torchvision), so a model sees the
# same image in training as where it is served, at no measurable cost in decode time.
JPEG_DCT = "INTEGER_ACCURATE"


@dataclasses.dataclass(frozen=True)
class Decoding:
    """Decoding settings shared by a group of files: no branches per image."""

    codec: int
    ratio: int = 1  # JPEG DCT downscale
    shrink: bool = True  # cache stage: the image is larger than the cached size
    antialias: bool = False


def as_rgb(image: tf.Tensor) -> tf.Tensor:
    """Decoded pixels, ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``, as ``(H, W, 3)``."""
    if image.shape.rank == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    return image


def _pil_decode(contents: np.ndarray) -> np.ndarray:
    # tf.numpy_function hands a string scalar over as a 0-d object array.
    with Image.open(io.BytesIO(np.asarray(contents).item())) as image:
        return np.asarray(image.convert("RGB"))


def decode_as(contents: tf.Tensor, codec: int) -> tf.Tensor:
    """Decodes to uint8 RGB with Pillow for ``CODEC_PIL``, else tf.io (GIF: first frame)."""
    if codec == CODEC_PIL:
        image = tf.numpy_function(_pil_decode, [contents], tf.uint8, stateful=False)
    else:
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def decode(contents: tf.Tensor, codec: tf.Tensor) -> tf.Tensor:
    """Decodes any supported format to uint8 RGB, the codec known only per image."""
    image = tf.cond(
        tf.equal(codec, CODEC_PIL),
        lambda: decode_as(contents, CODEC_PIL),
        lambda: decode_as(contents, CODEC_TF),
    )
    image.set_shape([None, None, 3])
    return image


def _is_jpeg(contents: tf.Tensor, codec: tf.Tensor) -> tf.Tensor:
    return tf.logical_and(tf.not_equal(codec, CODEC_PIL), tf.io.is_jpeg(contents))


def _jpeg_pixels(contents, ratio: int, window=None) -> tf.Tensor:
    """A JPEG decoded to RGB at 1/ratio scale, or only ``window`` (top, left, height,
    width in scaled pixels) of it: every JPEG decode goes through here, with JPEG_DCT."""
    if window is None:
        return tf.io.decode_jpeg(contents, channels=3, ratio=ratio, dct_method=JPEG_DCT)
    return tf.io.decode_and_crop_jpeg(
        contents, window, channels=3, ratio=ratio, dct_method=JPEG_DCT
    )


def _jpeg_ratio_index(height, width, min_height, min_width) -> tf.Tensor:
    """Index into JPEG_RATIOS of the largest DCT downscale that keeps the minimum size."""
    index = tf.constant(0)
    for ratio in JPEG_RATIOS[1:]:
        fits = (height >= min_height * ratio) & (width >= min_width * ratio)
        index += tf.cast(fits, tf.int32)
    return index


def _decode_jpeg_window(contents, shape, window, ratio_index) -> tf.Tensor:
    """Decodes only ``window`` (top, left, height, width; full-size pixels) of a JPEG.

    ``shape`` is the full-size (height, width); ``ratio_index`` picks the DCT downscale,
    for which the window is moved to scaled pixels (``_scaled_window``).
    """

    def branch(ratio):
        def decode_window():
            scaled = _scaled_window(window, shape, ratio)
            return _jpeg_pixels(contents, ratio, scaled)

        return decode_window

    image = tf.switch_case(ratio_index, [branch(ratio) for ratio in JPEG_RATIOS])
    image.set_shape([None, None, 3])
    return image


def _scaled_window(window, shape, ratio: int) -> tf.Tensor:
    """A full-size (top, left, height, width) window in pixels of a 1/ratio decode.

    Each edge is rounded to the nearest scaled pixel, so the crop stays centred
    where the full-size window is (to half a scaled pixel).
    """
    top, left, height, width = window
    if ratio == 1:
        return tf.stack([top, left, height, width])

    def edges(start, length, full):
        first = tf.cast(tf.round(start / ratio), tf.int32)
        last = tf.cast(tf.round((start + length) / ratio), tf.int32)
        last = tf.minimum(tf.maximum(last, first + 1), (full + ratio - 1) // ratio)
        return tf.minimum(first, last - 1), last

    y0, y1 = edges(top, height, shape[0])
    x0, x1 = edges(left, width, shape[1])
    return tf.stack([y0, x0, y1 - y0, x1 - x0])


def _crop_to(image: tf.Tensor, window_fn: Callable | None) -> tf.Tensor:
    """The window ``window_fn(height, width)`` (top, left, height, width) of an image.

    None keeps the whole image.
    """
    if window_fn is None:
        return image
    shape = tf.shape(image)
    top, left, height, width = window_fn(shape[0], shape[1])
    return image[top : top + height, left : left + width]


def decode_file(path, key: Decoding, window_fn: Callable | None = None) -> tf.Tensor:
    """Reads and decodes a checked file with fixed settings, optionally one window of it.

    ``window_fn(height, width)`` gives (top, left, height, width) in full-size pixels.
    """
    contents = tf.io.read_file(path)
    if key.codec != CODEC_JPEG:
        return _crop_to(decode_as(contents, key.codec), window_fn)
    window = None
    if window_fn is not None:
        shape = tf.io.extract_jpeg_shape(contents)
        window = _scaled_window(window_fn(shape[0], shape[1]), shape, key.ratio)
    image = _jpeg_pixels(contents, key.ratio, window)
    image.set_shape([None, None, 3])
    return image


def element_image(kind, item, codec, min_size, window_fn: Callable | None = None) -> tf.Tensor:
    """The uint8 RGB image of an encoded or decoded element, cut to ``window_fn``'s window.

    An encoded JPEG decodes only that window (all of it for None), shrinking while
    decoding as far as both of its sides stay at least ``min_size``.
    """
    if kind != "encoded":
        return _crop_to(as_rgb(item), window_fn)

    def jpeg():
        shape = tf.io.extract_jpeg_shape(item)
        whole = (0, 0, shape[0], shape[1])
        window = whole if window_fn is None else window_fn(shape[0], shape[1])
        index = _jpeg_ratio_index(window[2], window[3], min_size[0], min_size[1])
        return _decode_jpeg_window(item, shape, window, index)

    image = tf.cond(_is_jpeg(item, codec), jpeg, lambda: _crop_to(decode(item, codec), window_fn))
    image.set_shape([None, None, 3])
    return image
