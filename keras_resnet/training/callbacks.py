"""The callbacks of a run: best checkpoint, log, TensorBoard, backup, early stopping."""

from __future__ import annotations

import importlib.util
import math

import keras

from keras_resnet import saving
from keras_resnet.training.curves import read_training_log
from keras_resnet.training.optim import averaged_weights
from keras_resnet.training.run_dir import RunPaths


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model whenever the monitored metric improves, atomically.

    ``ModelCheckpoint(save_best_only=True)`` semantics, but written through
    :func:`keras_resnet.saving.save_model`, so the checkpoint carries the class names
    and an interrupted save never leaves half a file. Where the optimizer keeps a moving
    average of the weights, the checkpoint holds the average, which is what validation
    measured (:func:`~keras_resnet.training.optim.ema_callbacks`).

    Args:
        filepath: a ``.keras`` path.
        monitor: the logged metric, e.g. ``"val_accuracy"``.
        mode: ``"max"`` or ``"min"``.
        initial_value_threshold: the value to beat (e.g. the best of a resumed run).
        metadata: passed to ``save_model`` (``class_names`` and more).

    Raises:
        ValueError: on a mode other than ``"max"`` or ``"min"``.

    Example:
        >>> model.fit(data, callbacks=[BestModelCheckpoint("best.keras")])
    """

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_accuracy",
        mode: str = "max",
        initial_value_threshold: float | None = None,
        metadata: dict | None = None,
    ):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
        self.filepath = filepath
        self.monitor = monitor
        self.mode = mode
        self.best = initial_value_threshold
        self.metadata = dict(metadata or {})

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or math.isnan(current):
            return
        improved = (
            self.best is None
            or (self.mode == "max" and current > self.best)
            or (self.mode == "min" and current < self.best)
        )
        if improved:
            self.best = float(current)
            with averaged_weights(self.model):
                saving.save_model(
                    self.model,
                    self.filepath,
                    epoch=epoch + 1,
                    **{self.monitor: self.best},
                    **self.metadata,
                )


def run_callbacks(
    paths: RunPaths,
    *,
    has_validation: bool,
    early_stopping: int | None,
    resumed_from_epoch: int,
    metadata: dict,
    backup: str | None = None,
    keep_backup: bool = False,
) -> list[keras.callbacks.Callback]:
    """The callbacks every run of :func:`~keras_resnet.training.fit` gets, in order.

    Args:
        paths: the run folder's files.
        has_validation: whether the run validates (the best checkpoint needs it).
        early_stopping: patience in epochs, or None.
        resumed_from_epoch: epochs done before; the log is appended to when above 0.
        metadata: saved with the best checkpoint.
        backup: the folder to back up into and restore from; None: ``paths.backup``.
        keep_backup: keep the backup when ``fit`` ends (a phase that a later one follows).

    Returns:
        The callbacks, the backup last.

    Example:
        >>> run_callbacks(RunPaths.of("run"), has_validation=True, early_stopping=None,
        ...               resumed_from_epoch=0, metadata={})
    """
    callbacks: list[keras.callbacks.Callback] = [keras.callbacks.TerminateOnNaN()]
    if has_validation:
        # A resumed run must beat the best epoch before the interruption.
        earlier = read_training_log(paths.log).get("val_accuracy", [])
        best = max((value for value in earlier if math.isfinite(value)), default=None)
        callbacks.append(
            BestModelCheckpoint(
                paths.best, "val_accuracy", "max", initial_value_threshold=best, metadata=metadata
            )
        )
    if early_stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss" if has_validation else "loss",
                patience=early_stopping,
                restore_best_weights=True,
            )
        )
    callbacks.append(keras.callbacks.CSVLogger(paths.log, append=resumed_from_epoch > 0))
    # TensorFlow no longer installs TensorBoard, and Keras's callback fails at the first
    # epoch without it: log for TensorBoard only where it is installed.
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(
            keras.callbacks.TensorBoard(paths.tensorboard, write_graph=False, profile_batch=0)
        )
    # Last, so that the log and the checkpoint of an epoch are on disk before the backup
    # says the epoch is done.
    callbacks.append(
        keras.callbacks.BackupAndRestore(backup or paths.backup, delete_checkpoint=not keep_backup)
    )
    return callbacks
