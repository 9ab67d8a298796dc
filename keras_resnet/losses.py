"""The training recipe's loss, registered so that saved models reload without it imported.

Light on purpose: ``import keras_resnet`` imports it, so that ``keras.saving.load_model``
finds the loss of a compiled model without importing the training package.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_resnet")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels, with optional label smoothing.

    ``keras.losses.SparseCategoricalCrossentropy`` has no ``label_smoothing`` in
    Keras 3, and one-hot labels in the pipeline would make every plain
    ``model.evaluate`` on integer labels fail. This loss one-hots inside the loss.

    Args:
        label_smoothing: in ``[0, 1)``; the target is ``1 - label_smoothing`` on the
            true class plus ``label_smoothing / num_classes`` on every class.
        from_logits: whether predictions are logits rather than probabilities.
        name: name of the loss.
        reduction: Keras loss reduction.
        dtype: dtype of the loss computation.

    Raises:
        ValueError: if ``label_smoothing`` is outside ``[0, 1)``.

    Example:
        >>> model.compile(optimizer="sgd", loss=SparseCategoricalCrossentropy(0.1))
    """

    def __init__(
        self,
        label_smoothing: float = 0.0,
        from_logits: bool = False,
        name: str = "sparse_categorical_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype=None,
    ):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, axis=-1)
        if not self.label_smoothing:
            return keras.losses.sparse_categorical_crossentropy(
                y_true, y_pred, from_logits=self.from_logits
            )
        one_hot = ops.one_hot(y_true, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot,
            y_pred,
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "label_smoothing": self.label_smoothing,
            "from_logits": self.from_logits,
        }
