"""RandAugment (Cubuk et al. 2020) in tf ops, one image at a time.

keras.layers.RandAugment works in tf.data, but with the JAX backend active it builds
a graph far larger than these thirteen operations (benchmarks/RESULTS.md, "Data
pipeline decisions").
"""

from __future__ import annotations

import math

import tensorflow as tf

from keras_resnet.data.seeds import split_seed

RANDAUGMENT_OPS = 2
RANDAUGMENT_MAGNITUDE = 9 / 30  # timm's rand-m9
_FILL = 128.0


def randaugment(image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor):
    """RANDAUGMENT_OPS random operations at RANDAUGMENT_MAGNITUDE on one image.

    Args:
        image: float32 ``(H, W, 3)`` pixels in [0, 255].
        label: Passed through.
        seed: A [2] int64 stateless seed.

    Returns:
        ``(image, label)``, the image the same shape and range.
    """
    for op_seed in split_seed(seed, RANDAUGMENT_OPS):
        image = _randaugment_op(image, RANDAUGMENT_MAGNITUDE, op_seed)
    return image, label


def _randaugment_op(image: tf.Tensor, magnitude: float, seed: tf.Tensor) -> tf.Tensor:
    """One random RandAugment operation on a float32 [0, 255] image.

    Strengths at full magnitude follow timm: 30 degrees of rotation, 0.3 of shear,
    45% of translation, a factor 1 +- 0.9 for colour, contrast, brightness and
    sharpness, solarizing everything and posterizing to 4 bits; each sign is random.
    """
    sign_seed, choice_seed = split_seed(seed, 2)
    sign = tf.where(tf.random.stateless_uniform([], sign_seed) < 0.5, -1.0, 1.0)
    signed = sign * magnitude
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    grey = tf.image.rgb_to_grayscale(image)

    def blend(other, factor):
        return tf.clip_by_value(other + factor * (image - other), 0.0, 255.0)

    def rotate():
        angle = signed * math.radians(30.0)
        cos, sin = tf.cos(angle), tf.sin(angle)
        center_y, center_x = (shape[0] - 1) / 2, (shape[1] - 1) / 2
        # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2).
        offset_x = center_x - cos * center_x + sin * center_y
        offset_y = center_y - sin * center_x - cos * center_y
        return _project(image, [cos, -sin, offset_x, sin, cos, offset_y, 0.0, 0.0])

    def shear_x():
        return _project(image, [1.0, 0.3 * signed, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])

    def shear_y():
        return _project(image, [1.0, 0.0, 0.0, 0.3 * signed, 1.0, 0.0, 0.0, 0.0])

    def translate_x():
        return _project(image, [1.0, 0.0, 0.45 * signed * shape[1], 0, 1, 0, 0, 0])

    def translate_y():
        return _project(image, [1.0, 0.0, 0.0, 0.0, 1.0, 0.45 * signed * shape[0], 0, 0])

    def autocontrast():
        low = tf.reduce_min(image, axis=[0, 1], keepdims=True)
        high = tf.reduce_max(image, axis=[0, 1], keepdims=True)
        scale = tf.where(high > low, 255.0 / tf.maximum(high - low, 1e-3), 1.0)
        return tf.where(high > low, (image - low) * scale, image)

    def solarize():
        threshold = 256.0 - 256.0 * magnitude
        return tf.where(image >= threshold, 255.0 - image, image)

    def posterize():
        levels = 2.0 ** round(8 - 4 * magnitude)
        step = 256.0 / levels
        return tf.floor(image / step) * step

    def colour():
        return blend(grey, 1.0 + 0.9 * signed)

    def contrast():
        return blend(tf.fill(tf.shape(image), tf.reduce_mean(grey)), 1.0 + 0.9 * signed)

    def brightness():
        return blend(tf.zeros_like(image), 1.0 + 0.9 * signed)

    def sharpness():
        kernel = tf.constant([[1, 1, 1], [1, 5, 1], [1, 1, 1]], tf.float32) / 13.0
        kernel = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])
        smooth = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "SAME")[0]
        return blend(smooth, 1.0 + 0.9 * signed)

    operations = [
        lambda: image,
        autocontrast,
        rotate,
        shear_x,
        shear_y,
        translate_x,
        translate_y,
        solarize,
        posterize,
        colour,
        contrast,
        brightness,
        sharpness,
    ]
    choice = tf.random.stateless_uniform([], choice_seed, 0, len(operations), tf.int32)
    result = tf.switch_case(choice, operations)
    result.set_shape(image.shape)
    return result


def _project(image: tf.Tensor, transform) -> tf.Tensor:
    """Affine warp (tf.image's 8-number projective form), uncovered pixels grey."""
    transform = tf.cast(tf.stack(transform), tf.float32)[None]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=transform,
        output_shape=tf.shape(image)[:2],
        fill_value=_FILL,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )[0]
