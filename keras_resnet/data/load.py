"""The entry points: load_data turns a source into an ImageData, load_image reads one file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from keras_resnet.data.augmentations import AUGMENTATIONS
from keras_resnet.data.checks import inspect_image
from keras_resnet.data.defaults import BATCH_SIZE, SEED, VALIDATION_SPLIT
from keras_resnet.data.image_data import ImageData
from keras_resnet.data.plan import TransformPlan
from keras_resnet.data.sizes import parse_image_size
from keras_resnet.data.sources.arrays import load_arrays
from keras_resnet.data.sources.datasets import load_datasets
from keras_resnet.data.sources.digits import load_digits
from keras_resnet.data.sources.folder import load_folder
from keras_resnet.data.sources.tfds import load_tfds
from keras_resnet.data.transforms import eval_crop_fraction


def load_data(
    source: Any = None,
    image_size: int | Sequence[int] | None = None,
    batch_size: int = BATCH_SIZE,
    validation_split: float = VALIDATION_SPLIT,
    seed: int = SEED,
    augment: str | None = "basic",
    cache: bool | str | None = None,
    data_dir: str | os.PathLike | None = None,
    *,
    class_names: Sequence[str] | None = None,
    mixup: float = 0.0,
    cutmix: float = 0.0,
    download: bool = True,
) -> ImageData:
    """Loads an image-classification data set as batched tf.data pipelines.

    Sources:

    - ``None`` or ``"digits"``: scikit-learn's 1,797 handwritten digits (8x8,
      values 0..16), scaled to [0, 255], made RGB and resized (bilinear) to
      ``image_size`` (default 32x32). A seeded stratified split keeps 20% for
      test and ``validation_split`` of the rest for validation (64/16/20 by
      default). Classes are ``"0"`` to ``"9"``.
    - A folder path with one subfolder per class (class names are the sorted
      subfolder names; images may sit in nested folders). If it has a ``train/``
      folder of class folders, that is the training set, ``val/`` or
      ``validation/`` the validation set and ``test/`` the test set; without a
      validation folder a seeded stratified ``validation_split`` of the training
      images is used. JPEG, PNG, BMP and GIF (first frame) of any size and mode
      (grayscale, RGBA, CMYK, palette) become RGB. Every file is checked once
      before loading: a corrupt, truncated or non-image file is reported in one
      warning by path, listed in ``ImageData.skipped_files`` and left out.
    - ``"tfds:NAME"``: a tensorflow_datasets image-classification set (an image
      and a ``ClassLabel`` feature) read from ``data_dir``. Its ``train`` split
      trains; its ``validation`` and ``test`` splits are used when it has them,
      otherwise validation is a stratified split of ``train``.
    - ``(x, y)`` numpy arrays: ``x`` of shape ``(N, H, W, C)`` (C = 1 or 3) or
      ``(N, H, W)``, uint8 or float in [0, 255]; ``y`` integer class indices.
      Validation is a stratified ``validation_split``; ``image_size`` defaults to
      the arrays' size.
    - A ``tf.data.Dataset`` of ``(image, label)`` pairs, or a pair
      ``(train_dataset, validation_dataset)``: passed through as they are
      (batched when unbatched, images cast to float32 and resized when
      ``image_size`` is given); ``augment``, ``validation_split`` and ``cache``
      do not apply.

    For arrays and datasets, ``class_names`` names the classes; without it they
    are ``"0"``, ``"1"``, ... up to the largest label. A dataset is read once up
    front to count its examples and find its largest label.

    Augmentation (training split only, all in tf.data ops):

    - ``"basic"``: for photos, a random-resized crop (area scale 0.08..1, or
      0.35..1 below 128 pixels) and a horizontal flip. Digits are not
      mirror-symmetric, so the digits set gets ``"shift"`` instead.
    - ``"shift"``: random translations (up to 10%) and zoom (0.9..1.1), no flips;
      choose it for digits, letters and other images that must not be mirrored.
    - ``"pad_crop"``: the image at the output size, padded with 4 black pixels on
      each side, cropped back to the output size at a random offset and flipped
      horizontally half the time: the ResNet paper's CIFAR augmentation.
    - ``"randaugment"``: ``"basic"`` followed by RandAugment (Cubuk et al. 2020):
      two operations per image drawn from thirteen (identity, geometric, colour
      and tone), at magnitude 9 of 30 as in timm's ``rand-m9``.
    - ``None``: no augmentation; training images get the evaluation transform.

    Evaluation resizes the shorter side to ``size / 0.875`` and center-crops
    ``size``; images under 128 pixels, arrays and the digits are resized whole.

    Args:
        source: What to load (see above). Defaults to the digits.
        image_size: Output size, an int or ``(height, width)``. Defaults to 32 for
            the digits, the native size for arrays and fixed-size tfds sets, the
            stored size for a folder of small images (all at most 64 pixels a
            side, e.g. CIFAR's 32x32; the most common size when they differ), and
            224 otherwise.
        batch_size: Examples per batch.
        validation_split: Fraction of training examples held out for validation
            when the source has no validation split; 0 disables validation.
        seed: Seed of the splits, of the shuffling order and of the augmentation
            (stateless draws, new every epoch): the same seed gives the same
            batches. TensorFlow pairs it with its global seed, so within one process
            call ``keras.utils.set_random_seed`` first (``training.train`` does).
        augment: ``"basic"``, ``"shift"``, ``"pad_crop"``, ``"randaugment"`` or None.
        cache: None caches decoded images in memory when they fit in a quarter of
            the machine's memory; True always caches in memory; False never
            caches; a string is a folder for an on-disk cache (reused by later
            runs with the same files and size).
        data_dir: tensorflow_datasets data folder (default ``~/tensorflow_datasets``).
        class_names: Class names for array and dataset sources.
        mixup: Mixup alpha; above 0, batches are mixed with a reversed copy.
        cutmix: Cutmix alpha; with mixup too, each batch uses one of the two.
            Mixup and cutmix turn the labels of every split into float32 one-hot
            soft labels, so use a categorical (not sparse) loss with them.
        download: Whether a tfds set that is not in ``data_dir`` may be
            downloaded and prepared (needs network access).

    Returns:
        An :class:`ImageData` with batched, prefetched pipelines.

    Raises:
        ValueError: The source does not exist, has no classes or a class without
            images, is not an image-classification set, a tfds set is neither in
            ``data_dir`` nor downloadable, or an argument is out of range.

    Example:
        >>> import keras_resnet
        >>> data = load_data("digits")
        >>> model = keras_resnet.ResNet20(num_classes=data.num_classes,
        ...                               input_shape=data.image_shape)
        >>> model.compile("adam", "sparse_categorical_crossentropy")
        >>> model.fit(data.train, validation_data=data.validation, epochs=1)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}.")
    if augment == "none":
        augment = None
    if augment is not None and augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS} or None, got {augment!r}.")
    if mixup < 0 or cutmix < 0:
        raise ValueError(f"mixup and cutmix must be >= 0, got {mixup} and {cutmix}.")
    size = parse_image_size(image_size) if image_size is not None else None
    plan_options = dict(
        batch_size=batch_size,
        seed=seed,
        augment="basic" if augment == "randaugment" else augment,
        randaugment=augment == "randaugment",
        mixup=float(mixup),
        cutmix=float(cutmix),
    )

    if isinstance(source, tf.data.Dataset) or (
        isinstance(source, tuple)
        and len(source) == 2
        and all(isinstance(part, tf.data.Dataset) for part in source)
    ):
        datasets = (source, None) if isinstance(source, tf.data.Dataset) else source
        return load_datasets(*datasets, size, batch_size, class_names)
    if isinstance(source, (tuple, list)):
        return load_arrays(source, size, validation_split, class_names, plan_options)
    if source is None or source == "digits":
        return load_digits(size, validation_split, plan_options)
    if isinstance(source, str) and source.startswith("tfds:"):
        return load_tfds(
            source[len("tfds:") :], size, validation_split, cache, data_dir, download, plan_options
        )
    if isinstance(source, (str, os.PathLike)):
        return load_folder(Path(source), size, validation_split, cache, plan_options)
    raise ValueError(
        "source must be None, 'digits', a folder path, 'tfds:NAME', an (x, y) pair of "
        f"arrays or a tf.data.Dataset, got {type(source).__name__}."
    )


def load_image(
    path: str | os.PathLike,
    image_size: int | Sequence[int],
    crop_fraction: float | None = None,
) -> np.ndarray:
    """Reads one image file with the evaluation transform, for prediction.

    The file goes through the same decoding and resize-and-center-crop as the
    validation pipeline of :func:`load_data`, so a model sees it as it saw
    validation images.

    Args:
        path: JPEG, PNG, BMP or GIF file of any size and color mode.
        image_size: Output size, an int or ``(height, width)``.
        crop_fraction: Fraction of the resized image kept by the center crop;
            defaults to 0.875 at 128 pixels and above and 1.0 (no crop) below.

    Returns:
        float32 array of raw RGB pixels in [0, 255], shaped ``(height, width, 3)``.

    Raises:
        ValueError: The file does not exist or is not a readable image.

    Example:
        >>> image = load_image("daisy.jpg", 224)
        >>> probabilities = model.predict(image[None])
    """
    size = parse_image_size(image_size)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Image file {path!r} does not exist.")
    info = inspect_image(path)
    if info.error:
        raise ValueError(f"{path!r} is not a readable image: {info.error}.")
    plan = TransformPlan(
        image_size=size,
        crop_fraction=eval_crop_fraction(size) if crop_fraction is None else crop_fraction,
    )
    evaluate = plan.file_fn("eval", plan.decoding("eval", info.shape, info.codec))
    image, _ = evaluate(tf.constant(path), tf.constant(0))
    return image.numpy()
