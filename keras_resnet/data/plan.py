"""TransformPlan: how one source's images become training and evaluation examples.

A plan fixes the output size, the augmentation and the label format of a source,
and gives the per-element functions that :mod:`keras_resnet.data.pipeline` maps:
decoding settings per group of files, the cache transform, the training transform
(random crop and flip, pad-and-crop and flip, or shift and zoom, then optionally
RandAugment) and the
evaluation transform (resize and center crop).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import tensorflow as tf

from keras_resnet.data.caching import cache_side
from keras_resnet.data.decode import (
    CODEC_JPEG,
    JPEG_RATIOS,
    Decoding,
    as_rgb,
    decode,
    decode_file,
    element_image,
)
from keras_resnet.data.mix import mix_batch
from keras_resnet.data.randaugment import randaugment
from keras_resnet.data.seeds import split_seed, stream_seed
from keras_resnet.data.transforms import (
    CROP_ASPECT_RATIO,
    EVAL_CROP_FRACTION,
    center_window,
    center_window_size,
    crop_scale,
    pad_crop_flip,
    random_crop_window,
    random_flip,
    random_shift_zoom,
    resize,
    shorter_side_to,
    to_uint8,
)

# Stages of file_fn whose functions take a stateless seed after the label.
RANDOM_STAGES = ("crop", "shift", "pad_crop")


def _ratio_need(height, width, out_h, out_w) -> tuple[float, float]:
    """How many times a region could shrink in each direction and still cover the output."""
    return height / out_h, width / out_w


@dataclasses.dataclass(frozen=True)
class TransformPlan:
    """How one source becomes batches: sizes, augmentation and label format.

    Attributes:
        image_size: ``(height, width)`` of every output image.
        num_classes: Length of the one-hot labels of mixup and cutmix.
        crop_fraction: Fraction of the resized image the evaluation crop keeps.
        batch_size: Examples per batch.
        seed: Seed of the shuffles and of every augmentation stream.
        augment: "basic" (random-resized crop and flip), "pad_crop" (pad, crop the
            output size and flip), "shift" or None.
        randaugment: Whether RandAugment follows the augmentation.
        mixup: Mixup's alpha; 0 is off.
        cutmix: Cutmix's alpha; 0 is off.

    Example:
        >>> plan = TransformPlan((32, 32), 10, crop_fraction=1.0, augment="shift")
        >>> plan.train_stage
        'shift'
    """

    image_size: tuple[int, int]
    num_classes: int = 0
    crop_fraction: float = EVAL_CROP_FRACTION
    batch_size: int = 32
    seed: int = 0
    augment: str | None = "basic"
    randaugment: bool = False
    mixup: float = 0.0
    cutmix: float = 0.0

    @property
    def crop_scale(self) -> tuple[float, float]:
        """The random-resized crop's area range."""
        return crop_scale(self.image_size)

    @property
    def cache_side(self) -> int:
        """The shorter side of a cached training image."""
        return cache_side(self.image_size)

    @property
    def soft_labels(self) -> bool:
        """Whether labels are one-hot soft labels (mixup or cutmix on)."""
        return self.mixup > 0 or self.cutmix > 0

    @property
    def train_stage(self) -> str:
        """The stage of :meth:`file_fn` that trains: "eval", "shift", "pad_crop" or "crop"."""
        return {None: "eval", "shift": "shift", "pad_crop": "pad_crop"}.get(self.augment, "crop")

    def random_window(self, seed):
        """A function (height, width) -> random-resized-crop window (top, left, height, width)."""

        def window(height, width):
            return random_crop_window(height, width, self.crop_scale, CROP_ASPECT_RATIO, seed)

        return window

    def stream_seed(self, stream: str, group: int = 0) -> int:
        """The seed of one stream of augmentation draws (:func:`seeds.stream_seed`)."""
        return stream_seed(self.seed, stream, group)

    def center_window(self, height, width):
        """The evaluation window (top, left, height, width) of an image this size."""
        return center_window(height, width, self.image_size, self.crop_fraction)

    # Files: every file's format and size are known from the check, so files are
    # grouped by their decoding settings (JPEG DCT downscale, antialiasing) and each
    # group gets a map without branches: tf.cond and tf.switch_case in a tf.data map
    # cut its parallelism (benchmarks/RESULTS.md, "Data pipeline decisions").

    def decoding(self, stage: str, shape: tuple[int, int], codec: int) -> Decoding:
        """Static decoding settings of one file for a pipeline stage."""
        height, width = shape
        out_h, out_w = self.image_size
        if stage == "cache":
            shorter = min(height, width)
            need_h, need_w = _ratio_need(shorter, shorter, self.cache_side, self.cache_side)
            largest = (height, width)
        elif stage == "eval":
            need_h, need_w = center_window_size(height, width, self.image_size, self.crop_fraction)
            largest = (need_h, need_w)
            need_h, need_w = _ratio_need(need_h, need_w, out_h, out_w)
        elif stage == "crop":
            # The smallest crop the sampler can draw must keep the output size.
            low, aspect = self.crop_scale[0], min(CROP_ASPECT_RATIO[0], 1 / CROP_ASPECT_RATIO[1])
            smallest = min(math.sqrt(low * height * width * aspect), height, width)
            need_h, need_w = _ratio_need(smallest, smallest, out_h, out_w)
            largest = (height, width)
        else:  # "shift" and "pad_crop": the whole image
            need_h, need_w = _ratio_need(height, width, out_h, out_w)
            largest = (height, width)
        ratio = 1
        if codec == CODEC_JPEG:
            ratio = max(r for r in JPEG_RATIOS if r == 1 or (need_h >= r and need_w >= r))
        scaled = [math.ceil(side / ratio) for side in largest]
        # Bilinear reads every source pixel down to half size; below that it aliases.
        # Antialiasing is dear: images decoded once (cache, evaluation) get it from a
        # 2x reduction, training crops decoded every epoch from 4x (benchmarks/RESULTS.md,
        # "Data pipeline decisions").
        limit = 4 if stage in RANDOM_STAGES else 2
        if stage == "cache":
            shrink = min(scaled) > self.cache_side
            return Decoding(codec, ratio, shrink, min(scaled) > limit * self.cache_side)
        antialias = scaled[0] > limit * out_h or scaled[1] > limit * out_w
        return Decoding(codec, ratio, True, antialias)

    def file_fn(self, stage: str, key: Decoding) -> Callable:
        """The map function of one group of files, for one stage.

        Those of RANDOM_STAGES take a stateless seed after the label.
        """
        size, side = self.image_size, self.cache_side

        def cache(path, label):
            image = decode_file(path, key)
            if key.shrink:
                _, new_size = shorter_side_to(image, side)
                image = to_uint8(resize(image, new_size, antialias=key.antialias))
            return image, key.codec, label

        def evaluate(path, label):
            image = decode_file(path, key, self.center_window)
            return resize(image, size, antialias=key.antialias), label

        def crop(path, label, seed):
            window_seed, flip_seed = split_seed(seed, 2)
            image = decode_file(path, key, self.random_window(window_seed))
            return random_flip(resize(image, size, antialias=key.antialias), flip_seed), label

        def shift(path, label, seed):
            image = tf.cast(decode_file(path, key), tf.float32)
            return random_shift_zoom(image, size, seed), label

        def pad_crop(path, label, seed):
            image = resize(decode_file(path, key), size, antialias=key.antialias)
            return pad_crop_flip(image, seed), label

        stages = {"cache": cache, "eval": evaluate, "crop": crop, "shift": shift}
        return {**stages, "pad_crop": pad_crop}[stage]

    # Other element transforms take (item, codec, label): an encoded image (with the
    # codec that decodes it) or decoded pixels, and an int32 label. Encoded records
    # (tfds) have no known format or size, so these branch per image.

    def cache_fn(self, kind: str) -> Callable:
        """To (uint8 image with shorter side at most cache_side, codec, label)."""
        side = self.cache_side

        def prepare(item, codec, label):
            image = element_image(kind, item, codec, (side, side))
            scale, new_size = shorter_side_to(image, side)
            # Bilinear reads every source pixel down to half size; below that (large
            # PNGs; JPEGs already shrank while decoding) it needs antialiasing.
            image = tf.case(
                [
                    (scale < 0.5, lambda: to_uint8(resize(image, new_size, antialias=True))),
                    (scale < 1.0, lambda: to_uint8(resize(image, new_size))),
                ],
                default=lambda: to_uint8(image),
            )
            return image, codec, label

        return prepare

    def train_fn(self, kind: str) -> Callable:
        """To (augmented float32 image, label), with a stateless seed after the label."""
        size = self.image_size
        center = self.eval_fn(kind)

        def plain(item, codec, label, seed):
            return center(item, codec, label)

        def shift(item, codec, label, seed):
            image = decode(item, codec) if kind == "encoded" else as_rgb(item)
            return random_shift_zoom(tf.cast(image, tf.float32), size, seed), label

        def crop_flip(item, codec, label, seed):
            window_seed, flip_seed = split_seed(seed, 2)
            image = element_image(kind, item, codec, size, self.random_window(window_seed))
            return random_flip(resize(image, size), flip_seed), label

        def pad_crop(item, codec, label, seed):
            image = resize(element_image(kind, item, codec, size), size)
            return pad_crop_flip(image, seed), label

        transforms = {None: plain, "shift": shift, "pad_crop": pad_crop}
        transform = transforms.get(self.augment, crop_flip)
        if not self.randaugment:
            return transform

        def augmented(item, codec, label, seed):
            transform_seed, randaugment_seed = split_seed(seed, 2)
            return randaugment(*transform(item, codec, label, transform_seed), randaugment_seed)

        return augmented

    def eval_fn(self, kind: str) -> Callable:
        """To (float32 image, label): resize and center crop."""
        size = self.image_size

        def center(item, codec, label):
            image = element_image(kind, item, codec, size, self.center_window)
            return resize(image, size), label

        return center

    def mix_fn(self, images, labels, seed):
        """Mixup or cutmix of a batch at this plan's alphas (:func:`mix.mix_batch`)."""
        return mix_batch(images, labels, seed, self.num_classes, self.mixup, self.cutmix)
