"""ImageData: a loaded data set's batched pipelines, what describes them, and its class check."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the module stays importable without loading TensorFlow
    import tensorflow as tf


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
            statistics from them after training (:mod:`keras_resnet.training.precise_bn`).
            None for pipelines that were passed in ready-made.
        batch_size: Images per training step: the batch size, or the number of
            training examples when there are fewer; for ready-made pipelines, the
            size of their largest batch. None when unknown.
        augment: The augmentation of the training batches, a name of
            :data:`~keras_resnet.data.AUGMENTATIONS`; None when they have none or
            were passed in ready-made.

    Example:
        >>> data = load_data("digits", image_size=32, batch_size=64)
        >>> data.num_classes, data.image_shape, data.batch_size
        (10, (32, 32, 3), 64)
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
    batch_size: int | None = None
    augment: str | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(height, width, 3)``: the ``input_shape`` a model needs."""
        return (*self.image_size, 3)


def check_class_count(class_names: list[str]) -> int:
    """The number of classes; a ValueError if there are fewer than two to tell apart."""
    if len(class_names) < 2:
        raise ValueError(
            f"The data has {len(class_names)} class ({', '.join(class_names)}): a "
            "classifier needs at least two. Give each class its own subfolder of the "
            "image folder, or labels of at least two values."
        )
    return len(class_names)
