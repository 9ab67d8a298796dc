"""Training: a run's settings and presets, the recipe, and a fit that leaves a run folder.

- :mod:`~keras_resnet.training.config`: :class:`TrainConfig` and the named presets, the
  one home of every default of a run.
- :mod:`~keras_resnet.training.optim`: scaled learning rate, warm-up and cosine decay,
  the optimizer and its weight-decay exclusions, :func:`compile_model`.
- :mod:`~keras_resnet.training.callbacks`, :mod:`~keras_resnet.training.run_dir`,
  :mod:`~keras_resnet.training.curves`, :mod:`~keras_resnet.training.precise_bn`,
  :mod:`~keras_resnet.training.precision`, :mod:`~keras_resnet.training.batches`.
- :mod:`~keras_resnet.training.finetune`: :func:`freeze_backbone` (batch norm in
  inference mode), :func:`unfreeze` and the fine-tuning schedule of ``weights=``.
- :mod:`~keras_resnet.training.fit`: :func:`fit` and :func:`train`.

Example:
    >>> from keras_resnet import training
    >>> result = training.train()                   # the digits preset, offline
    >>> result.metrics["preset"], result.metrics["test_accuracy"]
"""

from keras_resnet.losses import SparseCategoricalCrossentropy
from keras_resnet.training.batches import batch_size_of, divisible_batches, steps_per_epoch
from keras_resnet.training.callbacks import BestModelCheckpoint, run_callbacks
from keras_resnet.training.config import (
    BASE_LEARNING_RATES,
    DEFAULT_WEIGHT_DECAY,
    PRESETS,
    TrainConfig,
    choose_preset,
    preset_for,
)
from keras_resnet.training.curves import plot_training_curves, read_training_log
from keras_resnet.training.finetune import freeze_backbone, unfreeze
from keras_resnet.training.fit import (
    TrainResult,
    fit,
    fit_verbosity,
    resolve_distribution,
    train,
)
from keras_resnet.training.optim import (
    NO_DECAY_NAMES,
    check_counts,
    compile_model,
    make_optimizer,
    peak_learning_rate,
    scaled_learning_rate,
    warmup_cosine_schedule,
)
from keras_resnet.training.precision import (
    MIXED_PRECISION_POLICIES,
    dtype_policy,
    set_mixed_precision,
)
from keras_resnet.training.run_dir import (
    BACKUP_DIR,
    BEST_MODEL_FILE,
    CLASS_NAMES_FILE,
    CURVES_FILE,
    LOG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    TENSORBOARD_DIR,
    RunPaths,
)

__all__ = [
    "BACKUP_DIR",
    "BASE_LEARNING_RATES",
    "BEST_MODEL_FILE",
    "CLASS_NAMES_FILE",
    "CURVES_FILE",
    "DEFAULT_WEIGHT_DECAY",
    "LOG_FILE",
    "METRICS_FILE",
    "MIXED_PRECISION_POLICIES",
    "MODEL_FILE",
    "NO_DECAY_NAMES",
    "PRESETS",
    "TENSORBOARD_DIR",
    "BestModelCheckpoint",
    "RunPaths",
    "SparseCategoricalCrossentropy",
    "TrainConfig",
    "TrainResult",
    "batch_size_of",
    "check_counts",
    "choose_preset",
    "compile_model",
    "divisible_batches",
    "dtype_policy",
    "fit",
    "fit_verbosity",
    "freeze_backbone",
    "make_optimizer",
    "peak_learning_rate",
    "plot_training_curves",
    "preset_for",
    "read_training_log",
    "resolve_distribution",
    "run_callbacks",
    "scaled_learning_rate",
    "set_mixed_precision",
    "steps_per_epoch",
    "train",
    "unfreeze",
    "warmup_cosine_schedule",
]
