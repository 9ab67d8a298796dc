"""tf.data input pipelines: image folders, tfds, arrays and an embedded default set.

Every loader returns an :class:`ImageData` whose datasets yield batches of
``(images, labels)``: float32 raw pixels in [0, 255] shaped ``(B, H, W, 3)`` and
int32 class indices. The models take raw pixels, so the batches go straight into
``model.fit`` on the TensorFlow, JAX and torch backends; all decoding and
augmentation runs inside tf.data, so it is the same on every backend.

Sources:

- ``None`` or ``"digits"``: scikit-learn's handwritten digits, shipped with
  scikit-learn, so the default runs offline.
- A folder with one subfolder per class (optionally split into ``train/``,
  ``val/`` and ``test/``). Files are checked once up front; unreadable ones are
  reported by path and skipped.
- ``"tfds:NAME"``: an image-classification data set from tensorflow_datasets.
- ``(x, y)`` numpy arrays, or a ``tf.data.Dataset`` that passes through.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

AUTOTUNE = tf.data.AUTOTUNE
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
AUGMENTATIONS = ("basic", "shift", "randaugment")
DEFAULT_IMAGE_SIZE = (224, 224)
DIGITS_IMAGE_SIZE = (32, 32)
DIGITS_TEST_FRACTION = 0.2

# Below this size the network sees few pixels of the object: an 8%-area crop of a
# 32-pixel image is 9 pixels wide, so small images get a milder crop range (close
# to CIFAR's pad-and-crop) and are evaluated uncropped.
SMALL_IMAGE_SIZE = 128
CROP_SCALE = (0.08, 1.0)
SMALL_CROP_SCALE = (0.35, 1.0)
CROP_ASPECT_RATIO = (3 / 4, 4 / 3)
EVAL_CROP_FRACTION = 0.875

# Training caches keep each image with its shorter side at this multiple of the
# target size: enough that most random crops are downsampled, not upsampled, while
# a 300-image folder at 224 pixels takes about 100 MB.
TRAIN_CACHE_SCALE = 1.25
# Share of the machine's memory that automatic caching may fill.
CACHE_MEMORY_FRACTION = 0.25
# Shuffle buffer for encoded records that are not cached (tfds); files and arrays
# shuffle their paths or indices instead, which costs nothing.
ENCODED_SHUFFLE_BUFFER = 8192
MAX_REPORTED_FILES = 100

_CODEC_TF = 0  # tf.io.decode_image
_CODEC_PIL = 1  # Pillow, for the BMP variants tf.io.decode_bmp gets wrong
_CODEC_JPEG = 2  # a checked JPEG: tf.io.decode_jpeg and decode_and_crop_jpeg
_PIL_FORMATS = {"JPEG", "PNG", "BMP", "GIF"}
_CROP_ATTEMPTS = 10
_JPEG_RATIOS = (1, 2, 4, 8)


@dataclasses.dataclass
class ImageData:
    """Batched training, validation and test pipelines with their metadata.

    Attributes:
        train: Shuffled, augmented batches of ``(images, labels)``: images float32
            raw pixels in [0, 255] shaped ``(B, H, W, 3)``; labels int32 class
            indices, or float32 one-hot soft labels when mixup or cutmix is on.
        validation: Evaluation batches (resize and center crop), or None.
        test: Evaluation batches, or None when the source has no test split.
        class_names: Class names; a label ``i`` means ``class_names[i]``.
        image_size: ``(height, width)`` of every image.
        num_train: Number of training examples.
        num_validation: Number of validation examples (0 without validation).
        num_test: Number of test examples (0 without test).
        skipped_files: ``(path, reason)`` for every file that was not readable.
        train_unaugmented: The training images as evaluation transforms them, in a
            shuffled order, batched with int32 labels; ``fit`` recomputes batch-norm
            statistics from them after training (:mod:`keras_resnet.precise_bn`).
            None for pipelines that were passed in ready-made.

    Example:
        >>> data = load_data("digits", image_size=32)
        >>> data.num_classes, data.image_shape
        (10, (32, 32, 3))
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset | None
    class_names: list[str]
    image_size: tuple[int, int]
    num_train: int
    num_validation: int
    num_test: int
    skipped_files: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    train_unaugmented: tf.data.Dataset | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(height, width, 3)``: the ``input_shape`` a model needs."""
        return (*self.image_size, 3)


def load_data(
    source: Any = None,
    image_size: int | Sequence[int] | None = None,
    batch_size: int = 32,
    validation_split: float = 0.2,
    seed: int = 0,
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
    - ``"randaugment"``: ``"basic"`` followed by RandAugment (Cubuk et al. 2020):
      two operations per image drawn from thirteen (identity, geometric, colour
      and tone), at magnitude 9 of 30 as in timm's ``rand-m9``.
    - ``None``: no augmentation; training images get the evaluation transform.

    Evaluation resizes the shorter side to ``size / 0.875`` and center-crops
    ``size``; images under 128 pixels, arrays and the digits are resized whole.

    Args:
        source: What to load (see above). Defaults to the digits.
        image_size: Output size, an int or ``(height, width)``. Defaults to 32 for
            the digits, the native size for arrays and fixed-size tfds sets, and
            224 otherwise.
        batch_size: Examples per batch.
        validation_split: Fraction of training examples held out for validation
            when the source has no validation split; 0 disables validation.
        seed: Seed of the splits, of the shuffling order and of the augmentation
            (stateless draws, new every epoch): the same seed gives the same
            batches. TensorFlow pairs it with its global seed, so within one process
            call ``keras.utils.set_random_seed`` first (``training.train`` does).
        augment: ``"basic"``, ``"shift"``, ``"randaugment"`` or None.
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
    size = _image_size(image_size) if image_size is not None else None
    options = dict(
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
        return _passthrough(*datasets, size, batch_size, class_names)
    if isinstance(source, (tuple, list)):
        return _load_arrays(source, size, validation_split, class_names, options)
    if source is None or source == "digits":
        return _load_digits(size, validation_split, options)
    if isinstance(source, str) and source.startswith("tfds:"):
        return _load_tfds(
            source[len("tfds:") :], size, validation_split, cache, data_dir, download, options
        )
    if isinstance(source, (str, os.PathLike)):
        return _load_folder(Path(source), size, validation_split, cache, options)
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
    size = _image_size(image_size)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Image file {path!r} does not exist.")
    info = _inspect_image(path)
    if info.error:
        raise ValueError(f"{path!r} is not a readable image: {info.error}.")
    recipe = _Recipe(
        image_size=size,
        crop_fraction=_crop_fraction(size) if crop_fraction is None else crop_fraction,
    )
    evaluate = recipe.file_fn("eval", recipe.decoding("eval", info.shape, info.codec))
    image, _ = evaluate(tf.constant(path), tf.constant(0))
    return image.numpy()


# ----------------------------------------------------------------------------------------
# Sources


@dataclasses.dataclass
class _Split:
    """One split before it becomes a pipeline.

    ``kind`` is "files" (paths), "encoded" (encoded bytes; both are decoded in the
    pipeline) or "pixels" (decoded images). Items come from a list of files, from
    memory or from a dataset of ``(item, codec, label)``.
    """

    kind: str
    size: int
    labels: np.ndarray | None = None
    paths: np.ndarray | None = None
    codecs: np.ndarray | None = None
    shapes: np.ndarray | None = None
    pixels: np.ndarray | None = None
    dataset: tf.data.Dataset | None = None
    cache_bytes: int = 0
    eval_cache_bytes: int = 0
    fingerprint: str = ""

    @property
    def cacheable(self) -> bool:
        # Arrays are in memory already; only decoded files and records gain.
        return self.pixels is None

    def elements(self, shuffle: bool, seed: int) -> tf.data.Dataset:
        """Unbatched ``(item, codec, label)`` of records or arrays, shuffled where cheap.

        Files have their own grouped pipelines (``_Recipe.file_elements``).
        """
        if self.dataset is not None:
            ds = self.dataset
            if shuffle:
                ds = ds.shuffle(min(self.size, ENCODED_SHUFFLE_BUFFER), seed=seed)
            return ds
        labels = tf.constant(self.labels, tf.int32)
        # Shuffle indices and gather, so the shuffle buffer holds no image copies.
        pixels = tf.constant(self.pixels)
        ds = tf.data.Dataset.range(self.size)
        if shuffle:
            ds = ds.shuffle(self.size, seed=seed, reshuffle_each_iteration=True)
        return ds.map(
            lambda index: (tf.gather(pixels, index), _CODEC_TF, tf.gather(labels, index)),
            num_parallel_calls=AUTOTUNE,
        )


def _load_digits(size, validation_split, options) -> ImageData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) * (255.0 / 16.0)
    images = np.repeat(images[..., None], 3, axis=-1)
    labels = digits.target.astype(np.int32)
    rest, test = _stratified_split(labels, DIGITS_TEST_FRACTION, options["seed"])
    train, validation = _stratified_split(labels[rest], validation_split, options["seed"])
    splits = _pixel_splits(
        images, labels, train=rest[train], validation=rest[validation], test=test
    )
    size = size or DIGITS_IMAGE_SIZE
    augment = "shift" if options["augment"] == "basic" else options["augment"]
    recipe = _Recipe(size, 10, crop_fraction=1.0, **{**options, "augment": augment})
    return _build([str(digit) for digit in range(10)], splits, recipe, cache=False)


def _load_arrays(source, size, validation_split, class_names, options) -> ImageData:
    if len(source) != 2:
        raise ValueError("Array sources are an (x, y) pair of numpy arrays.")
    images, labels = np.asarray(source[0]), np.asarray(source[1])
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"x must have shape (N, H, W, C) with C = 1 or 3, or (N, H, W); got {images.shape}."
        )
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    if images.dtype != np.uint8:
        images = images.astype(np.float32)
        if images.size and images.max() <= 1.0:
            warnings.warn(
                "x looks scaled to [0, 1]; the models expect raw pixels in [0, 255].",
                stacklevel=3,
            )
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    labels = _check_labels(labels)
    if len(labels) != len(images):
        raise ValueError(f"x has {len(images)} images but y has {len(labels)} labels.")
    names = _class_names(class_names, int(labels.max()) + 1)
    train, validation = _stratified_split(labels, validation_split, options["seed"])
    splits = _pixel_splits(images, labels, train=train, validation=validation)
    size = size or tuple(images.shape[1:3])
    recipe = _Recipe(size, len(names), crop_fraction=1.0, **options)
    return _build(names, splits, recipe, cache=False)


def _pixel_splits(images: np.ndarray, labels: np.ndarray, **indices) -> dict[str, _Split]:
    """In-memory splits by name, from the indices of each; empty ones are left out."""
    return {
        name: _Split("pixels", len(index), labels=labels[index], pixels=images[index])
        for name, index in indices.items()
        if len(index)
    }


def _load_folder(root: Path, size, validation_split, cache, options) -> ImageData:
    layout = _folder_layout(root)
    class_names = _class_folders(layout["train"])
    listed = {
        name: _list_images(folder, class_names, name)
        for name, folder in layout.items()
        if folder is not None
    }
    size = size or DEFAULT_IMAGE_SIZE
    everything = [path for paths, _ in listed.values() for path in paths]
    infos = dict(zip(everything, _scan_images(everything), strict=True))
    skipped = [(path, info.error) for path, info in infos.items() if info.error]
    if skipped:
        _report_skipped(root, skipped)

    cache_side = math.ceil(max(size) * TRAIN_CACHE_SCALE)
    splits = {}
    for name, (paths, labels) in listed.items():
        keep = [not infos[path].error for path in paths]
        paths = [path for path, kept in zip(paths, keep, strict=True) if kept]
        labels = np.asarray(labels, np.int32)[np.asarray(keep, bool)]
        missing = sorted(set(range(len(class_names))) - set(labels.tolist()))
        if name == "train" and missing:
            raise ValueError(
                f"Class folder(s) {[class_names[i] for i in missing]} in {layout['train']} "
                "have no readable images (see the warning above). Add images or remove "
                "the folders."
            )
        splits[name] = (np.asarray(paths), labels)

    if layout["validation"] is None and validation_split > 0:
        paths, labels = splits["train"]
        train, validation = _stratified_split(labels, validation_split, options["seed"])
        splits["train"] = (paths[train], labels[train])
        splits["validation"] = (paths[validation], labels[validation])

    recipe = _Recipe(size, len(class_names), crop_fraction=_crop_fraction(size), **options)
    built = {}
    for name, (paths, labels) in splits.items():
        if not len(paths):
            continue
        shapes = [infos[path].shape for path in paths]
        built[name] = _Split(
            "files",
            len(paths),
            labels=labels,
            paths=paths,
            codecs=np.asarray([infos[path].codec for path in paths], np.int32),
            shapes=np.asarray(shapes, np.int64).reshape(-1, 2),
            cache_bytes=sum(_cached_bytes(shape, cache_side) for shape in shapes),
            eval_cache_bytes=len(paths) * size[0] * size[1] * 3,
            fingerprint=_fingerprint(paths, size),
        )
    return _build(class_names, built, recipe, cache, skipped)


def _load_tfds(name, size, validation_split, cache, data_dir, download, options) -> ImageData:
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(
            f"tensorflow_datasets has no data set named {name!r}. See "
            "https://www.tensorflow.org/datasets/catalog for names, e.g. 'tfds:tf_flowers'."
        ) from error
    if not builder.is_prepared():
        how = (
            f"Get it once with network access (it is then kept in {builder.data_dir}), or "
            f"run `tfds build {name} --data_dir DIR` on a machine that has it and pass "
            "data_dir=DIR."
        )
        if not download:
            raise ValueError(f"The tfds data set {name!r} is not in {builder.data_dir}. {how}")
        try:
            builder.download_and_prepare()
        except Exception as error:
            raise ValueError(
                f"The tfds data set {name!r} is not in {builder.data_dir} and could not be "
                f"downloaded ({type(error).__name__}: {error}). {how}"
            ) from error

    info = builder.info
    image_key, label_key = "image", "label"
    if info.supervised_keys and all(isinstance(key, str) for key in info.supervised_keys):
        image_key, label_key = info.supervised_keys
    features = info.features
    if (
        image_key not in features
        or label_key not in features
        or not isinstance(features[label_key], tfds.features.ClassLabel)
    ):
        raise ValueError(
            f"tfds:{name} is not an image-classification data set: it needs an image "
            f"and a ClassLabel feature, and has {list(features.keys())}."
        )
    class_names = list(features[label_key].names)
    encoded = isinstance(features[image_key], tfds.features.Image)
    static_shape = tuple(features[image_key].shape)
    if size is None:
        known = len(static_shape) == 3 and None not in static_shape[:2]
        size = tuple(static_shape[:2]) if known else DEFAULT_IMAGE_SIZE

    available = set(info.splits.keys())
    if available and "train" not in available:
        raise ValueError(f"tfds:{name} has no train split (it has {sorted(available)}).")

    def read(split: str, shuffle: bool) -> tf.data.Dataset:
        ds = builder.as_dataset(
            split=split,
            # Keep images encoded: the pipeline decodes them, with fused crops.
            decoders={image_key: tfds.decode.SkipDecoding()} if encoded else None,
            shuffle_files=shuffle,
            read_config=tfds.ReadConfig(try_autocache=False, shuffle_seed=options["seed"]),
        )
        return ds.map(
            lambda example: (
                example[image_key],
                _CODEC_TF,
                tf.cast(example[label_key], tf.int32),
            )
        )

    def count(split: str, ds: tf.data.Dataset) -> int:
        if split in info.splits and info.splits[split].num_examples:
            return int(info.splits[split].num_examples)
        known = int(ds.cardinality())
        return known if known >= 0 else int(ds.reduce(0, lambda total, *_: total + 1))

    cache_side = math.ceil(max(size) * TRAIN_CACHE_SCALE)
    if len(static_shape) == 3 and None not in static_shape[:2]:
        image_bytes = _cached_bytes(static_shape[:2], cache_side)
    else:
        image_bytes = _cached_bytes((cache_side, cache_side * 4 // 3), cache_side)

    def split_of(ds: tf.data.Dataset, size_: int, key: str) -> _Split:
        return _Split(
            "encoded" if encoded else "pixels",
            size_,
            dataset=ds,
            cache_bytes=size_ * image_bytes,
            eval_cache_bytes=size_ * size[0] * size[1] * 3,
            fingerprint=_fingerprint([f"tfds:{name}:{builder.version}:{key}"], size),
        )

    splits = {}
    held_out = "validation" in available
    if held_out or validation_split == 0:
        train = read("train", shuffle=True)
        splits["train"] = split_of(train, count("train", train), "train")
        if held_out:
            validation = read("validation", shuffle=False)
            splits["validation"] = split_of(
                validation, count("validation", validation), "validation"
            )
    else:
        # A stratified split needs every label once; reading them skips image decoding.
        base = read("train", shuffle=False)
        labels = np.fromiter(base.map(lambda _, __, label: label).as_numpy_iterator(), np.int32)
        train_index, validation_index = _stratified_split(labels, validation_split, options["seed"])
        for key, index in (("train", train_index), ("validation", validation_index)):
            mask = np.zeros(len(labels), bool)
            mask[index] = True
            chosen = _select(base, tf.constant(mask))
            splits[key] = split_of(chosen, len(index), key)
    if "test" in available:
        test = read("test", shuffle=False)
        splits["test"] = split_of(test, count("test", test), "test")

    recipe = _Recipe(size, len(class_names), crop_fraction=_crop_fraction(size), **options)
    return _build(class_names, splits, recipe, cache)


def _select(ds: tf.data.Dataset, mask: tf.Tensor) -> tf.data.Dataset:
    count = int(tf.reduce_sum(tf.cast(mask, tf.int64)))
    return (
        ds.enumerate()
        .filter(lambda index, element: tf.gather(mask, index))
        .map(lambda index, element: element)
        .apply(tf.data.experimental.assert_cardinality(count))
    )


def _passthrough(train, validation, size, batch_size, class_names) -> ImageData:
    prepared = []
    for ds in (train, validation):
        if ds is None:
            prepared.append((None, 0, size, 0))
            continue
        spec = ds.element_spec
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise ValueError(
                f"A dataset source must yield (image, label) pairs; its elements are {spec}."
            )
        rank = spec[0].shape.rank
        if rank not in (3, 4):
            raise ValueError(
                "Dataset images must be (H, W, C) or batched (B, H, W, C); "
                f"got shape {spec[0].shape}."
            )
        if ds.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError("The dataset is infinite; pass a finite one (fit repeats it).")
        if rank == 3:
            ds = ds.batch(batch_size)
        num_examples, max_label = ds.reduce(
            (tf.constant(0, tf.int64), tf.constant(-1, tf.int64)),
            lambda state, batch: (
                state[0] + tf.cast(tf.shape(batch[1])[0], tf.int64),
                tf.maximum(state[1], _label_extent(batch[1])),
            ),
        )
        own_size = size or tuple(spec[0].shape[-3:-1])
        if None in own_size:
            raise ValueError("The dataset's images have no fixed size: pass image_size.")
        ds = ds.map(
            lambda images, labels, own_size=own_size: (
                _to_rgb_float(images, own_size, resize=size is not None),
                tf.cast(labels, tf.int32) if labels.dtype.is_integer else labels,
            ),
            num_parallel_calls=AUTOTUNE,
        )
        prepared.append((ds.prefetch(AUTOTUNE), int(num_examples), own_size, int(max_label)))
    (train, num_train, own_size, max_label), (validation, num_validation, _, val_max) = prepared
    names = _class_names(class_names, max(max_label, val_max) + 1)
    return ImageData(train, validation, None, names, tuple(own_size), num_train, num_validation, 0)


def _label_extent(labels: tf.Tensor) -> tf.Tensor:
    """Largest class index a batch of labels refers to."""
    if labels.dtype.is_integer:
        return tf.cast(tf.reduce_max(labels), tf.int64)
    # One-hot or soft labels: the class axis is the last one.
    return tf.cast(tf.shape(labels)[-1] - 1, tf.int64)


def _to_rgb_float(images, size, resize):
    images = tf.cast(images, tf.float32)
    if images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)
    if resize:
        images = tf.image.resize(images, size)
    return images


# ----------------------------------------------------------------------------------------
# Folders and file checks


def _folder_layout(root: Path) -> dict[str, Path | None]:
    if not root.is_dir():
        raise ValueError(
            f"Image folder {str(root)!r} does not exist. Pass a folder with one subfolder "
            "per class (e.g. photos/cats/*.jpg, photos/dogs/*.jpg), 'digits', or 'tfds:NAME'."
        )
    subfolders = {
        entry.name.lower(): entry
        for entry in root.iterdir()
        if entry.is_dir() and not entry.name.startswith(".")
    }
    train = subfolders.get("train")
    if train is not None and any(
        entry.is_dir() and not entry.name.startswith(".") for entry in train.iterdir()
    ):
        return {
            "train": train,
            "validation": subfolders.get("val") or subfolders.get("validation"),
            "test": subfolders.get("test"),
        }
    return {"train": root, "validation": None, "test": None}


def _class_folders(folder: Path) -> list[str]:
    names = sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.is_dir() and not entry.name.startswith(".")
    )
    if not names:
        raise ValueError(
            f"Image folder {str(folder)!r} has no class subfolders. Put each class's images "
            f"in a subfolder named after the class, e.g. {folder / 'cats'}/001.jpg."
        )
    return names


def _list_images(folder: Path, class_names: list[str], split: str):
    present = _class_folders(folder)
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise ValueError(
            f"The {split} folder {str(folder)!r} has classes {unknown} that the training "
            f"folder does not have ({class_names}). Use the same class subfolders."
        )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        if name not in present:
            continue
        found = []
        for directory, subdirectories, files in os.walk(folder / name):
            subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
            found.extend(
                os.path.join(directory, file)
                for file in sorted(files)
                if file.lower().endswith(IMAGE_EXTENSIONS) and not file.startswith(".")
            )
        if not found:
            raise ValueError(
                f"Class folder {str(folder / name)!r} has no images "
                f"({', '.join(IMAGE_EXTENSIONS)}). Add images to it or remove it."
            )
        paths.extend(found)
        labels.extend([label] * len(found))
    return paths, labels


@dataclasses.dataclass
class _ImageInfo:
    shape: tuple[int, int] = (0, 0)
    codec: int = _CODEC_TF
    error: str = ""


def _inspect_image(path: str) -> _ImageInfo:
    """Checks that a file is a readable image, cheaply.

    Headers are parsed for every format. A JPEG that ends with its end-of-image
    marker is trusted; one that does not (the mark of truncation) is decoded at
    1/8 scale to tell trailing bytes from missing data. PNG chunks are
    checksummed without inflating; GIF and BMP, usually small, are decoded.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.format not in _PIL_FORMATS:
                return _ImageInfo(error=f"unsupported format {image.format}")
            codec = _CODEC_TF
            if image.format == "JPEG":
                codec = _CODEC_JPEG
                if not _ends_with_jpeg_marker(path):
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                    image.load()
            elif image.format == "PNG":
                image.verify()
            else:
                image.load()
                if image.format == "BMP" and not _plain_bmp(path, image.mode):
                    codec = _CODEC_PIL
            return _ImageInfo((height, width), codec)
    except UnidentifiedImageError:
        return _ImageInfo(error="not an image file (or not a format Pillow knows)")
    except Exception as error:  # Pillow raises many types for broken files.
        return _ImageInfo(error=str(error) or type(error).__name__)


def _ends_with_jpeg_marker(path: str) -> bool:
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() < 4:
            return False
        file.seek(-2, os.SEEK_END)
        return file.read(2) == b"\xff\xd9"


def _plain_bmp(path: str, mode: str) -> bool:
    """Whether tf.io.decode_bmp reads this BMP right: uncompressed 24/32-bit or gray 8-bit.

    It misreads palette colours and fails on 1-bit and compressed files, which go
    through Pillow instead.
    """
    with open(path, "rb") as file:
        header = file.read(34)
    if len(header) < 34 or int.from_bytes(header[14:18], "little") < 40:
        return False
    bits = int.from_bytes(header[28:30], "little")
    compression = int.from_bytes(header[30:34], "little")
    return compression == 0 and (bits in (24, 32) or (bits == 8 and mode == "L"))


def _scan_images(paths: list[str]) -> list[_ImageInfo]:
    # Pillow releases the GIL while it reads and decodes, so threads overlap I/O and work.
    workers = min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_inspect_image, paths, chunksize=64))


def _report_skipped(root: Path, skipped: list[tuple[str, str]]) -> None:
    lines = [f"  {path}: {reason}" for path, reason in skipped[:MAX_REPORTED_FILES]]
    if len(skipped) > MAX_REPORTED_FILES:
        lines.append(
            f"  ... and {len(skipped) - MAX_REPORTED_FILES} more (ImageData.skipped_files)"
        )
    warnings.warn(
        f"Skipping {len(skipped)} unreadable image file(s) in {root}:\n" + "\n".join(lines),
        stacklevel=4,
    )


# ----------------------------------------------------------------------------------------
# Splits, sizes and caching


def _image_size(image_size) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(side, int) and side > 0 for side in size):
        raise ValueError(f"image_size must be a positive int or (height, width), got {image_size}.")
    return size


def _check_labels(labels: np.ndarray) -> np.ndarray:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(
            "y must hold non-negative integer class indices, one per image "
            "(for one-hot labels pass y.argmax(axis=-1))."
        )
    return labels.astype(np.int32)


def _class_names(class_names, num_classes: int) -> list[str]:
    if class_names is None:
        return [str(index) for index in range(num_classes)]
    names = [str(name) for name in class_names]
    if len(names) < num_classes:
        raise ValueError(
            f"class_names has {len(names)} names but the labels go up to {num_classes - 1}."
        )
    return names


def _stratified_split(labels: np.ndarray, fraction: float, seed: int):
    """Seeded per-class split; every class with 2+ examples lands on both sides."""
    rng = np.random.default_rng(seed)
    held, kept = [], []
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        count = math.floor(len(index) * fraction + 0.5)
        if fraction > 0 and len(index) >= 2:
            count = min(max(count, 1), len(index) - 1)
        elif len(index) < 2:
            count = 0
        held.append(index[:count])
        kept.append(index[count:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def _crop_fraction(size: tuple[int, int]) -> float:
    return EVAL_CROP_FRACTION if min(size) >= SMALL_IMAGE_SIZE else 1.0


def _cached_bytes(shape, cache_side: int) -> int:
    height, width = shape
    scale = min(1.0, cache_side / max(1, min(height, width)))
    return math.ceil(height * scale) * math.ceil(width * scale) * 3


def _fingerprint(paths, size) -> str:
    digest = hashlib.sha1(repr((list(map(str, paths)), size)).encode()).hexdigest()
    return f"{size[0]}x{size[1]}-{digest[:12]}"


def _memory_budget() -> int:
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(available * CACHE_MEMORY_FRACTION)


def _cache_plan(splits: dict[str, _Split], cache) -> dict[str, str | None]:
    """Where each split caches: "" in memory, a file prefix on disk, None not at all."""
    plan = {name: None for name in splits}
    if cache is False:
        return plan
    if isinstance(cache, (str, os.PathLike)):
        folder = Path(cache)
        folder.mkdir(parents=True, exist_ok=True)
        return {
            name: str(folder / f"{name}-{split.fingerprint}") if split.cacheable else None
            for name, split in splits.items()
        }
    budget = math.inf if cache is True else _memory_budget()
    for name, split in splits.items():
        need = split.cache_bytes if name == "train" else split.eval_cache_bytes
        if split.cacheable and need <= budget:
            plan[name] = ""
            budget -= need
    return plan


# ----------------------------------------------------------------------------------------
# Pipelines


def _build(class_names, splits, recipe, cache, skipped=None) -> ImageData:
    plan = _cache_plan(splits, cache)
    pipelines = {
        name: (recipe.train if name == "train" else recipe.evaluate)(split, plan[name])
        for name, split in splits.items()
    }
    return ImageData(
        train=pipelines["train"],
        validation=pipelines.get("validation"),
        test=pipelines.get("test"),
        class_names=list(class_names),
        image_size=tuple(recipe.image_size),
        num_train=splits["train"].size,
        num_validation=splits["validation"].size if "validation" in splits else 0,
        num_test=splits["test"].size if "test" in splits else 0,
        skipped_files=list(skipped or []),
        train_unaugmented=recipe.unaugmented(splits["train"]),
    )


@dataclasses.dataclass(frozen=True)
class _Recipe:
    """How one source becomes batches: sizes, augmentation and label format.

    ``augment`` is "basic" (random-resized crop and flip), "shift" or None;
    ``randaugment`` adds RandAugment on top.
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
        return CROP_SCALE if min(self.image_size) >= SMALL_IMAGE_SIZE else SMALL_CROP_SCALE

    @property
    def cache_side(self) -> int:
        return math.ceil(max(self.image_size) * TRAIN_CACHE_SCALE)

    @property
    def soft_labels(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0

    @property
    def train_stage(self) -> str:
        return {None: "eval", "shift": "shift"}.get(self.augment, "crop")

    def random_window(self, seed):
        """A function (height, width) -> random-resized-crop window (top, left, height, width)."""

        def window(height, width):
            return _random_crop_window(height, width, self.crop_scale, CROP_ASPECT_RATIO, seed)

        return window

    def stream_seed(self, stream: str, group: int = 0) -> int:
        """The seed of one stream of augmentation draws, apart from the shuffle's seed."""
        index = ("elements", "randaugment", "batches").index(stream)
        return self.seed * 1_000_003 + 7919 * (1 + index) + group

    def center_window(self, height, width):
        """The evaluation window (top, left, height, width) of an image this size."""
        return _center_window(height, width, self.image_size, self.crop_fraction)

    def train(self, split: _Split, cache_to: str | None) -> tf.data.Dataset:
        kind = split.kind
        if cache_to is not None:
            # Decode once at a moderate resolution, keep the uint8 images, and crop
            # and flip from memory every epoch; shuffling after the cache keeps
            # epochs in different orders.
            if kind == "files":
                ds = self.file_elements(split, "cache", shuffle=False)
            else:
                ds = split.elements(shuffle=False, seed=self.seed)
                ds = ds.map(self.cache_fn(kind), num_parallel_calls=AUTOTUNE)
            ds = _exactly(ds, split.size).cache(cache_to)
            ds = ds.shuffle(split.size, seed=self.seed, reshuffle_each_iteration=True)
            kind = "pixels"
        if kind == "files":
            ds = self.file_elements(split, self.train_stage, shuffle=True)
            if self.randaugment:
                ds = _map_seeded(ds, _randaugment, self.stream_seed("randaugment"))
        else:
            if cache_to is None:
                ds = split.elements(shuffle=True, seed=self.seed)
            ds = _map_seeded(ds, self.train_fn(kind), self.stream_seed("elements"))
        if kind != "pixels":
            ds = _exactly(ds, split.size)
        ds = ds.batch(self.batch_size)
        if self.soft_labels:
            ds = _map_seeded(ds, self.mix_batch, self.stream_seed("batches"))
        return ds.prefetch(AUTOTUNE)

    def evaluate(self, split: _Split, cache_to: str | None) -> tf.data.Dataset:
        ds = self.evaluation_elements(split, shuffle=False).batch(self.batch_size)
        if cache_to is not None:
            # The evaluation transform is deterministic: keep its output, as uint8
            # (a rounding of at most half a grey level) to take a quarter of the memory.
            ds = ds.map(lambda images, labels: (_to_uint8(images), labels)).cache(cache_to)
            ds = ds.map(lambda images, labels: (tf.cast(images, tf.float32), labels))
        if self.soft_labels:
            ds = ds.map(lambda images, labels: (images, tf.one_hot(labels, self.num_classes)))
        return ds.prefetch(AUTOTUNE)

    def unaugmented(self, split: _Split) -> tf.data.Dataset:
        """Batches of a (training) split under the evaluation transform, shuffled, with
        integer labels: what batch-norm statistics are recomputed from after training."""
        ds = self.evaluation_elements(split, shuffle=True).batch(self.batch_size)
        return ds.prefetch(AUTOTUNE)

    def evaluation_elements(self, split: _Split, shuffle: bool) -> tf.data.Dataset:
        """Unbatched ``(image, label)`` of a split under the evaluation transform."""
        if split.kind == "files":
            ds = self.file_elements(split, "eval", shuffle=shuffle)
        else:
            ds = split.elements(shuffle=shuffle, seed=self.seed)
            ds = ds.map(self.eval_fn(split.kind), num_parallel_calls=AUTOTUNE)
        return ds if split.kind == "pixels" else _exactly(ds, split.size)

    # Files: every file's format and size are known from the check, so files are
    # grouped by their decoding settings (JPEG DCT downscale, antialiasing) and each
    # group gets a map without branches. tf.cond and tf.switch_case inside a
    # tf.data map cost little CPU but cut its parallelism: with them the
    # random-crop pipeline ran at 0.6x image_dataset_from_directory, without at 0.9x.

    def decoding(self, stage: str, shape: tuple[int, int], codec: int) -> _Decoding:
        """Static decoding settings of one file for a pipeline stage."""
        height, width = shape
        out_h, out_w = self.image_size
        if stage == "cache":
            shorter = min(height, width)
            need_h, need_w = _ratio_need(shorter, shorter, self.cache_side, self.cache_side)
            largest = (height, width)
        elif stage == "eval":
            need_h, need_w = _center_window_size(height, width, self.image_size, self.crop_fraction)
            largest = (need_h, need_w)
            need_h, need_w = _ratio_need(need_h, need_w, out_h, out_w)
        elif stage == "crop":
            # The smallest crop the sampler can draw must keep the output size.
            low, aspect = self.crop_scale[0], min(CROP_ASPECT_RATIO[0], 1 / CROP_ASPECT_RATIO[1])
            smallest = min(math.sqrt(low * height * width * aspect), height, width)
            need_h, need_w = _ratio_need(smallest, smallest, out_h, out_w)
            largest = (height, width)
        else:  # "shift": the whole image
            need_h, need_w = _ratio_need(height, width, out_h, out_w)
            largest = (height, width)
        ratio = 1
        if codec == _CODEC_JPEG:
            ratio = max(r for r in _JPEG_RATIOS if r == 1 or (need_h >= r and need_w >= r))
        scaled = [math.ceil(side / ratio) for side in largest]
        # Bilinear reads every source pixel down to half size; below that it aliases,
        # and antialiased resizing costs about five bilinear ones. Decoding once
        # (cache, evaluation) affords it from 2x; a training crop every epoch from 4x,
        # where the decode of a large image dominates anyway.
        limit = 4 if stage in ("crop", "shift") else 2
        if stage == "cache":
            shrink = min(scaled) > self.cache_side
            return _Decoding(codec, ratio, shrink, min(scaled) > limit * self.cache_side)
        antialias = scaled[0] > limit * out_h or scaled[1] > limit * out_w
        return _Decoding(codec, ratio, True, antialias)

    def file_elements(self, split: _Split, stage: str, shuffle: bool) -> tf.data.Dataset:
        """Decoded files: (float32 image, label), or for "cache" (uint8, codec, label)."""
        keys = [
            self.decoding(stage, tuple(shape), int(codec))
            for shape, codec in zip(split.shapes, split.codecs, strict=True)
        ]
        unique = list(dict.fromkeys(keys))
        group_of = np.asarray([unique.index(key) for key in keys], np.int64)
        groups, weights = [], []
        for index, key in enumerate(unique):
            members = np.flatnonzero(group_of == index)
            ds = tf.data.Dataset.from_tensor_slices(
                (split.paths[members], tf.constant(split.labels[members], tf.int32))
            )
            if shuffle:
                ds = ds.shuffle(len(members), seed=self.seed, reshuffle_each_iteration=True)
            if stage in RANDOM_STAGES:
                ds = _map_seeded(ds, self.file_fn(stage, key), self.stream_seed("elements", index))
            else:
                ds = ds.map(self.file_fn(stage, key), num_parallel_calls=AUTOTUNE)
            groups.append(ds)
            weights.append(len(members) / len(keys))
        if len(groups) == 1:
            return groups[0]
        if shuffle:
            return tf.data.Dataset.sample_from_datasets(
                groups,
                weights,
                seed=self.seed,
                stop_on_empty_dataset=False,
                rerandomize_each_iteration=True,
            )
        return tf.data.Dataset.choose_from_datasets(
            groups, tf.data.Dataset.from_tensor_slices(group_of), stop_on_empty_dataset=False
        )

    def file_fn(self, stage: str, key: _Decoding) -> Callable:
        """The map function of one group of files, for one stage.

        Those of RANDOM_STAGES take a stateless seed after the label.
        """
        size, side = self.image_size, self.cache_side

        def cache(path, label):
            image = _decode_file(path, key)
            if key.shrink:
                _, new_size = _shorter_side_to(image, side)
                image = _to_uint8(_resize(image, new_size, antialias=key.antialias))
            return image, key.codec, label

        def evaluate(path, label):
            image = _decode_file(path, key, self.center_window)
            return _resize(image, size, antialias=key.antialias), label

        def crop(path, label, seed):
            window_seed, flip_seed = _split_seed(seed, 2)
            image = _decode_file(path, key, self.random_window(window_seed))
            return _random_flip(_resize(image, size, antialias=key.antialias), flip_seed), label

        def shift(path, label, seed):
            image = tf.cast(_decode_file(path, key), tf.float32)
            return _random_shift_zoom(image, size, seed), label

        return {"cache": cache, "eval": evaluate, "crop": crop, "shift": shift}[stage]

    # Other element transforms take (item, codec, label): an encoded image (with the
    # codec that decodes it) or decoded pixels, and an int32 label. Encoded records
    # (tfds) have no known format or size, so these branch per image.

    def cache_fn(self, kind: str) -> Callable:
        """To (uint8 image with shorter side at most cache_side, codec, label)."""
        side = self.cache_side

        def prepare(item, codec, label):
            image = _element_image(kind, item, codec, (side, side))
            scale, new_size = _shorter_side_to(image, side)
            # Bilinear reads every source pixel down to half size; below that (large
            # PNGs; JPEGs already shrank while decoding) it needs antialiasing.
            image = tf.case(
                [
                    (scale < 0.5, lambda: _to_uint8(_resize(image, new_size, antialias=True))),
                    (scale < 1.0, lambda: _to_uint8(_resize(image, new_size))),
                ],
                default=lambda: _to_uint8(image),
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
            image = _decode(item, codec) if kind == "encoded" else _as_rgb(item)
            return _random_shift_zoom(tf.cast(image, tf.float32), size, seed), label

        def crop_flip(item, codec, label, seed):
            window_seed, flip_seed = _split_seed(seed, 2)
            image = _element_image(kind, item, codec, size, self.random_window(window_seed))
            return _random_flip(_resize(image, size), flip_seed), label

        transform = {None: plain, "shift": shift}.get(self.augment, crop_flip)
        if not self.randaugment:
            return transform

        def augmented(item, codec, label, seed):
            transform_seed, randaugment_seed = _split_seed(seed, 2)
            return _randaugment(*transform(item, codec, label, transform_seed), randaugment_seed)

        return augmented

    def eval_fn(self, kind: str) -> Callable:
        """To (float32 image, label): resize and center crop."""
        size = self.image_size

        def center(item, codec, label):
            image = _element_image(kind, item, codec, size, self.center_window)
            return _resize(image, size), label

        return center

    def mix_batch(self, images, labels, seed):
        """Mixup or cutmix with the reversed batch; labels become one-hot soft labels."""
        one_hot = tf.one_hot(labels, self.num_classes)
        choice_seed, mixup_seed, cutmix_seed, top_seed, left_seed = _split_seed(seed, 5)
        modes = [mode for mode, alpha in (("mixup", self.mixup), ("cutmix", self.cutmix)) if alpha]

        def mixup():
            weight = _beta(self.mixup, mixup_seed)
            return (
                weight * images + (1 - weight) * tf.reverse(images, [0]),
                weight * one_hot + (1 - weight) * tf.reverse(one_hot, [0]),
            )

        def cutmix():
            shape = tf.shape(images)
            height, width = shape[1], shape[2]
            cut = tf.sqrt(1.0 - _beta(self.cutmix, cutmix_seed))

            def span(extent, span_seed):
                # A box side of cut * extent at a random centre, clipped at the edges.
                half = tf.cast(tf.cast(extent, tf.float32) * cut, tf.int32) // 2
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
            return tf.cond(tf.random.stateless_uniform([], choice_seed) < 0.5, mixup, cutmix)
        return mixup() if modes == ["mixup"] else cutmix()


# RandAugment in tf ops, per image. keras.layers.RandAugment works in tf.data, but
# with the JAX backend active it builds a graph of some 23,000 ops there (45 s to
# trace, seconds per batch); these twelve operations take a few hundred.
RANDAUGMENT_OPS = 2
RANDAUGMENT_MAGNITUDE = 9 / 30
_FILL = 128.0


def _randaugment(image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor):
    for op_seed in _split_seed(seed, RANDAUGMENT_OPS):
        image = _randaugment_op(image, RANDAUGMENT_MAGNITUDE, op_seed)
    return image, label


def _randaugment_op(image: tf.Tensor, magnitude: float, seed: tf.Tensor) -> tf.Tensor:
    """One random RandAugment operation on a float32 [0, 255] image.

    Strengths at full magnitude follow timm: 30 degrees of rotation, 0.3 of shear,
    45% of translation, a factor 1 +- 0.9 for colour, contrast, brightness and
    sharpness, solarizing everything and posterizing to 4 bits; each sign is random.
    """
    sign_seed, choice_seed = _split_seed(seed, 2)
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


def _exactly(ds: tf.data.Dataset, count: int) -> tf.data.Dataset:
    """``count`` elements of a dataset whose elements may fail, with that cardinality known.

    Files are checked before loading, so a decode failure here is rare (a file
    changed since, or damage the check cannot see). tf.data logs it and drops the
    element; the next pass of the same dataset fills its place, so an epoch keeps
    its length and Keras knows the number of steps (with an unknown count it warns
    that the input "ran out of data" after every first epoch). The next pass is
    only started when an element was dropped; if every element fails, the repeat
    ends instead of spinning.
    """
    return ds.ignore_errors(log_warning=True).repeat().take(count)


def _beta(alpha: float, seed: tf.Tensor) -> tf.Tensor:
    first_seed, second_seed = _split_seed(seed, 2)
    first = tf.random.stateless_gamma([], first_seed, alpha)
    second = tf.random.stateless_gamma([], second_seed, alpha)
    return first / (first + second)


# Augmentation draws come from stateless random ops, with a seed per element (or per
# batch, for mixup and cutmix) that travels with it. TF's stateful random ops share
# one generator between a parallel map's threads, so which element got which draw
# changed from run to run; with a seed per element the same ``seed`` gives the same
# augmented batches, while every epoch still draws afresh.
RANDOM_STAGES = ("crop", "shift")


def _map_seeded(ds: tf.data.Dataset, fn: Callable, seed: int) -> tf.data.Dataset:
    """``ds.map(fn)`` in parallel, with a [2] int64 stateless seed after each element's parts.

    The seeds are new every epoch and the same for the same ``seed``; the map keeps
    its order, so batches hold the same elements from run to run.
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip((ds, seeds)).map(
        lambda element, element_seed: fn(*element, element_seed), num_parallel_calls=AUTOTUNE
    )


def _split_seed(seed: tf.Tensor, count: int) -> list[tf.Tensor]:
    """``count`` independent stateless seeds from one."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, count))


def _resize(image: tf.Tensor, size, antialias: bool = False) -> tf.Tensor:
    """Bilinear resize to float32 pixels.

    The input is cast first: TensorFlow's bilinear kernel runs about twice as fast
    on float32 as on uint8, and it is the costliest step of a cached epoch.
    """
    return tf.image.resize(tf.cast(image, tf.float32), size, antialias=antialias)


def _to_uint8(image: tf.Tensor) -> tf.Tensor:
    """Rounds pixels in [0, 255] to uint8.

    Only for bilinear and antialiased resizes of uint8 images: their outputs are
    weighted means of pixels, so they stay in range and need no clipping.
    """
    if image.dtype == tf.uint8:
        return image
    return tf.cast(image + 0.5, tf.uint8)


def _as_rgb(image: tf.Tensor) -> tf.Tensor:
    if image.shape.rank == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    return image


def _pil_decode(contents: np.ndarray) -> np.ndarray:
    # tf.numpy_function hands a string scalar over as a 0-d object array.
    with Image.open(io.BytesIO(np.asarray(contents).item())) as image:
        return np.asarray(image.convert("RGB"))


def _decode_as(contents: tf.Tensor, codec: int) -> tf.Tensor:
    """Decodes to uint8 RGB with Pillow for ``_CODEC_PIL``, else tf.io (GIF: first frame)."""
    if codec == _CODEC_PIL:
        image = tf.numpy_function(_pil_decode, [contents], tf.uint8, stateful=False)
    else:
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _decode(contents: tf.Tensor, codec: tf.Tensor) -> tf.Tensor:
    """Decodes any supported format to uint8 RGB, the codec known only per image."""
    image = tf.cond(
        tf.equal(codec, _CODEC_PIL),
        lambda: _decode_as(contents, _CODEC_PIL),
        lambda: _decode_as(contents, _CODEC_TF),
    )
    image.set_shape([None, None, 3])
    return image


def _is_jpeg(contents: tf.Tensor, codec: tf.Tensor) -> tf.Tensor:
    return tf.logical_and(tf.not_equal(codec, _CODEC_PIL), tf.io.is_jpeg(contents))


def _jpeg_ratio_index(height, width, min_height, min_width) -> tf.Tensor:
    """Index into _JPEG_RATIOS of the largest DCT downscale that keeps the minimum size.

    libjpeg scales by 1/2, 1/4 or 1/8 while decoding, far cheaper than decoding in
    full and resizing: the win on large photos.
    """
    index = tf.constant(0)
    for ratio in _JPEG_RATIOS[1:]:
        fits = (height >= min_height * ratio) & (width >= min_width * ratio)
        index += tf.cast(fits, tf.int32)
    return index


def _decode_jpeg_window(contents, shape, window, ratio_index) -> tf.Tensor:
    """Decodes only ``window`` (top, left, height, width; full-size pixels) of a JPEG.

    ``shape`` is the full-size (height, width); ``ratio_index`` picks the DCT downscale,
    for which the window is moved to scaled pixels (``_scaled_window``).
    """

    def branch(ratio):
        def decode():
            scaled = _scaled_window(window, shape, ratio)
            return tf.io.decode_and_crop_jpeg(contents, scaled, channels=3, ratio=ratio)

        return decode

    image = tf.switch_case(ratio_index, [branch(ratio) for ratio in _JPEG_RATIOS])
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


@dataclasses.dataclass(frozen=True)
class _Decoding:
    """Decoding settings shared by a group of files: no branches per image."""

    codec: int
    ratio: int = 1  # JPEG DCT downscale
    shrink: bool = True  # cache stage: the image is larger than the cached size
    antialias: bool = False


def _ratio_need(height, width, out_h, out_w) -> tuple[float, float]:
    """How many times a region could shrink in each direction and still cover the output."""
    return height / out_h, width / out_w


def _center_window_size(height, width, size, fraction) -> tuple[int, int]:
    """Python twin of _center_window's size, for planning."""
    scale = max(size[0] / fraction / height, size[1] / fraction / width)
    return (
        min(max(round(size[0] / scale), 1), height),
        min(max(round(size[1] / scale), 1), width),
    )


def _decode_file(path, key: _Decoding, window_fn: Callable | None = None) -> tf.Tensor:
    """Reads and decodes a checked file with fixed settings, optionally one window of it.

    ``window_fn(height, width)`` gives (top, left, height, width) in full-size pixels.
    """
    contents = tf.io.read_file(path)
    if key.codec != _CODEC_JPEG:
        return _crop_to(_decode_as(contents, key.codec), window_fn)
    if window_fn is None:
        image = tf.io.decode_jpeg(contents, channels=3, ratio=key.ratio)
    else:
        shape = tf.io.extract_jpeg_shape(contents)
        window = _scaled_window(window_fn(shape[0], shape[1]), shape, key.ratio)
        image = tf.io.decode_and_crop_jpeg(contents, window, channels=3, ratio=key.ratio)
    image.set_shape([None, None, 3])
    return image


def _crop_to(image: tf.Tensor, window_fn: Callable | None) -> tf.Tensor:
    """The window ``window_fn(height, width)`` (top, left, height, width) of an image.

    None keeps the whole image.
    """
    if window_fn is None:
        return image
    shape = tf.shape(image)
    top, left, height, width = window_fn(shape[0], shape[1])
    return image[top : top + height, left : left + width]


def _shorter_side_to(image: tf.Tensor, side: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The scale that brings an image's shorter side to ``side``, and the size it gives."""
    shape = tf.shape(image)
    scale = side / tf.cast(tf.minimum(shape[0], shape[1]), tf.float32)
    return scale, tf.cast(tf.math.ceil(tf.cast(shape[:2], tf.float32) * scale), tf.int32)


def _random_flip(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Horizontal flip half the time, without tf.image's tf.cond.

    The reversed axes are a list of length 0 or 1; tf.where on the whole image
    would cost four times as much.
    """
    flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.reverse(image, tf.boolean_mask(tf.constant([1]), tf.reshape(flip, [1])))


def _element_image(kind, item, codec, min_size, window_fn: Callable | None = None) -> tf.Tensor:
    """The uint8 RGB image of an encoded or decoded element, cut to ``window_fn``'s window.

    An encoded JPEG decodes only that window (all of it for None), shrinking while
    decoding as far as both of its sides stay at least ``min_size``.
    """
    if kind != "encoded":
        return _crop_to(_as_rgb(item), window_fn)

    def jpeg():
        shape = tf.io.extract_jpeg_shape(item)
        whole = (0, 0, shape[0], shape[1])
        window = whole if window_fn is None else window_fn(shape[0], shape[1])
        index = _jpeg_ratio_index(window[2], window[3], min_size[0], min_size[1])
        return _decode_jpeg_window(item, shape, window, index)

    image = tf.cond(_is_jpeg(item, codec), jpeg, lambda: _crop_to(_decode(item, codec), window_fn))
    image.set_shape([None, None, 3])
    return image


def _center_window(height, width, size, fraction):
    """The window that "resize so the image covers size / fraction, center-crop size" keeps."""
    height_f, width_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    scale = tf.maximum(size[0] / fraction / height_f, size[1] / fraction / width_f)
    crop_h = tf.clip_by_value(tf.cast(tf.round(size[0] / scale), tf.int32), 1, height)
    crop_w = tf.clip_by_value(tf.cast(tf.round(size[1] / scale), tf.int32), 1, width)
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def _random_crop_window(height, width, scale, ratio, seed):
    """torchvision's RandomResizedCrop window: ten tries at once, then a center fallback."""
    area_seed, ratio_seed, top_seed, left_seed = _split_seed(seed, 4)
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


def _random_shift_zoom(image, size, seed, max_shift=0.1, zoom=(0.9, 1.1)) -> tf.Tensor:
    """Random translation and zoom, filling uncovered borders with black.

    The box is placed so that with no shift and no zoom the output equals a plain
    half-pixel bilinear resize, the evaluation transform.
    """
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    out = tf.constant(size, tf.float32)
    zoom_seed, shift_seed = _split_seed(seed, 2)
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
