"""Mixup and cutmix of a batch with its reversed copy, with soft one-hot labels."""

from __future__ import annotations

import tensorflow as tf

from keras_resnet.data.seeds import split_seed


def _beta(alpha: float, seed: tf.Tensor) -> tf.Tensor:
    first_seed, second_seed = split_seed(seed, 2)
    first = tf.random.stateless_gamma([], first_seed, alpha)
    second = tf.random.stateless_gamma([], second_seed, alpha)
    return first / (first + second)


def mix_batch(
    images: tf.Tensor,
    labels: tf.Tensor,
    seed: tf.Tensor,
    num_classes: int,
    mixup: float,
    cutmix: float,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mixup or cutmix with the reversed batch; labels become one-hot soft labels.

    Args:
        images: float32 ``(B, H, W, 3)``.
        labels: int32 ``(B,)`` class indices.
        seed: A [2] int64 stateless seed.
        num_classes: Length of the one-hot labels.
        mixup: Mixup's Beta alpha; 0 turns it off.
        cutmix: Cutmix's Beta alpha; 0 turns it off. With both on, each batch
            uses one of the two, at even odds.

    Returns:
        ``(images, soft_labels)``, the labels float32 ``(B, num_classes)``.
    """
    one_hot = tf.one_hot(labels, num_classes)
    choice_seed, mixup_seed, cutmix_seed, top_seed, left_seed = split_seed(seed, 5)
    modes = [mode for mode, alpha in (("mixup", mixup), ("cutmix", cutmix)) if alpha]

    def mix():
        weight = _beta(mixup, mixup_seed)
        return (
            weight * images + (1 - weight) * tf.reverse(images, [0]),
            weight * one_hot + (1 - weight) * tf.reverse(one_hot, [0]),
        )

    def cut():
        shape = tf.shape(images)
        height, width = shape[1], shape[2]
        side = tf.sqrt(1.0 - _beta(cutmix, cutmix_seed))

        def span(extent, span_seed):
            # A box side of side * extent at a random centre, clipped at the edges.
            half = tf.cast(tf.cast(extent, tf.float32) * side, tf.int32) // 2
            center = tf.random.stateless_uniform([], span_seed, 0, extent, tf.int32)
            return tf.maximum(center - half, 0), tf.minimum(center + half, extent)

        top, bottom = span(height, top_seed)
        left, right = span(width, left_seed)
        rows = tf.range(height)[:, None]
        cols = tf.range(width)[None, :]
        inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
        inside = tf.cast(inside, images.dtype)[None, :, :, None]
        # The label weight is the area actually pasted after clipping at the edges.
        pasted = tf.cast((bottom - top) * (right - left), tf.float32) / tf.cast(
            height * width, tf.float32
        )
        return (
            images * (1 - inside) + tf.reverse(images, [0]) * inside,
            (1 - pasted) * one_hot + pasted * tf.reverse(one_hot, [0]),
        )

    if len(modes) == 2:
        return tf.cond(tf.random.stateless_uniform([], choice_seed) < 0.5, mix, cut)
    return mix() if modes == ["mixup"] else cut()
