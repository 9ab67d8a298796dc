"""The digits source: scikit-learn's 1,797 handwritten digits, shipped with it, offline."""

from __future__ import annotations

import numpy as np

from keras_resnet.data.image_data import ImageData
from keras_resnet.data.pipeline import build_image_data
from keras_resnet.data.plan import TransformPlan
from keras_resnet.data.sizes import DIGITS_IMAGE_SIZE
from keras_resnet.data.splits import pixel_splits, stratified_split

DIGITS_TEST_FRACTION = 0.2


def load_digits(
    size: tuple[int, int] | None, validation_split: float, plan_options: dict
) -> ImageData:
    """The digits, 8x8 at values 0..16, as RGB [0, 255], with a seeded test split.

    Digits are not mirror-symmetric, so "basic" augmentation becomes "shift".

    Args:
        size: Output size; None gives DIGITS_IMAGE_SIZE.
        validation_split: Fraction of the non-test digits held out for validation.
        plan_options: The TransformPlan fields load_data fixed.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = digits.images.astype(np.float32) * (255.0 / 16.0)
    images = np.repeat(images[..., None], 3, axis=-1)
    labels = digits.target.astype(np.int32)
    seed = plan_options["seed"]
    rest, test = stratified_split(labels, DIGITS_TEST_FRACTION, seed)
    train, validation = stratified_split(labels[rest], validation_split, seed)
    splits = pixel_splits(images, labels, train=rest[train], validation=rest[validation], test=test)
    augment = "shift" if plan_options["augment"] == "basic" else plan_options["augment"]
    plan = TransformPlan(
        size or DIGITS_IMAGE_SIZE, 10, crop_fraction=1.0, **{**plan_options, "augment": augment}
    )
    return build_image_data([str(digit) for digit in range(10)], splits, plan, cache=False)
