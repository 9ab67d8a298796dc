"""KerasTuner search of ResNet width and depth under a compute budget.

:class:`HyperResNet` is a ``keras_tuner.HyperModel`` over the networks of
:func:`keras_resnet.models.ResNet`: width, depth of every stage, block type, variant,
stem, regularisation, optimizer and learning rate, each fixed, searched over a range
or a list, or left at the library default. Every trial is compiled as training runs
are (:func:`keras_resnet.training.compile_model`).

:func:`tune` is what ``keras-resnet tune`` runs: it loads the data, searches with
random search, Hyperband or Bayesian optimisation, and writes ``<output>/<run_name>/``:

- ``best.keras``: the best trial's model at its best epoch, with the class names,
  hyperparameters, parameters and FLOPs inside (:func:`keras_resnet.saving.save_model`).
- ``trials.csv``: one row per trial: its hyperparameters (``width_multiplier``,
  ``depth_stage1``.., ``filters_stage1``.., ``block_type`` ...), ``params``, ``flops``,
  ``val_accuracy``, ``seconds``, ``epochs`` and ``status``.
- ``accuracy_vs_flops.png``: validation accuracy against FLOPs, Pareto front marked.
- ``tuner/``: KerasTuner's project folder (oracle state, one folder per trial).

The compute budget. ``max_params`` (trainable parameters) and ``max_flops``
(multiply-adds of one image at the data's size, :func:`keras_resnet.profile.profile_model`)
bound every trial. The oracles of :func:`tune` resample a configuration over the
budget before it becomes a trial, so no trial is spent on it; when
``BUDGET_ATTEMPTS`` samples in a row are all over budget, the space within the budget
counts as exhausted and the search ends, as KerasTuner ends it when it draws only
repeats. :meth:`HyperResNet.fit` checks the budget again before training, so that
with KerasTuner's own tuners an over-budget trial fails
(``keras_tuner.errors.FailedTrialError``, its message giving the numbers) without
training; give those tuners ``max_consecutive_failed_trials=max_trials`` so that
rejections do not end the search.

Resuming. The search state lives in ``tuner/``; calling :func:`tune` again with the
same ``output``, ``run_name`` and search space (and ``overwrite=False``) continues it:
finished trials are kept, an interrupted one runs again, and ``max_trials`` counts
all of them.

Distribution.

- One trial on several devices (TensorFlow backend): ``distribution_strategy`` takes a
  ``tf.distribute`` strategy (or ``"mirrored"``, or a
  :class:`keras_resnet.distribute.Distribution`); each trial's model is built and
  trained under it, ``batch_size`` being the global batch.
- Several trials at once (any backend): KerasTuner's chief/worker mode. Start the same
  search in several processes sharing the output folder (one machine, or a shared file
  system), each with ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` (where the
  chief listens) and its own ``KERASTUNER_TUNER_ID``: ``chief`` for the process that
  runs the oracle and writes the reports, ``tuner0``, ``tuner1``, ... for the workers
  that train. Start the chief first; it returns when the workers have finished every
  trial::

      export KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000
      KERASTUNER_TUNER_ID=chief  keras-resnet tune --max-trials 20 --run-name wide &
      KERASTUNER_TUNER_ID=tuner0 keras-resnet tune --max-trials 20 --run-name wide &
      KERASTUNER_TUNER_ID=tuner1 keras-resnet tune --max-trials 20 --run-name wide

The package, one concern a module: :mod:`~keras_resnet.tuning.space` (the search space
and its costs), :mod:`~keras_resnet.tuning.oracles` (oracles within the budget),
:mod:`~keras_resnet.tuning.search` (``tune`` and its tuners) and
:mod:`~keras_resnet.tuning.report` (the trials table and the plot). A search takes its
defaults from the training presets (:mod:`keras_resnet.training.config`) and the
library's stems and widths from :class:`~keras_resnet.config.ResNetConfig`.

Example:
    >>> from keras_resnet.tuning import tune
    >>> result = tune(max_trials=10, epochs=5, max_flops="10M")   # embedded digits
    >>> result.best_hyperparameters, result.best_model_path
"""

from keras_resnet.training.config import SMALL_IMAGE_SIZE
from keras_resnet.tuning.oracles import BUDGET_ATTEMPTS, TUNERS
from keras_resnet.tuning.report import (
    PLOT_FILE,
    TRIALS_FILE,
    pareto_front,
    plot_accuracy_vs_flops,
    trial_rows,
    write_trials_csv,
)
from keras_resnet.tuning.search import (
    BEST_MODEL_FILE,
    SKIPPED_OPTIMIZER_WARNING,
    TUNER_DIR,
    TuneResult,
    tune,
)
from keras_resnet.tuning.space import (
    DEFAULT_DEPTH,
    DEFAULT_EPOCHS,
    OBJECTIVE,
    OVER_BUDGET,
    SUFFIXES,
    WIDTH_DIVISOR,
    HyperResNet,
    Spec,
    hyperparameter,
    parse_count,
    round_filters,
)

__all__ = [
    "BEST_MODEL_FILE",
    "BUDGET_ATTEMPTS",
    "DEFAULT_DEPTH",
    "DEFAULT_EPOCHS",
    "OBJECTIVE",
    "OVER_BUDGET",
    "PLOT_FILE",
    "SKIPPED_OPTIMIZER_WARNING",
    "SMALL_IMAGE_SIZE",
    "SUFFIXES",
    "TRIALS_FILE",
    "TUNERS",
    "TUNER_DIR",
    "WIDTH_DIVISOR",
    "HyperResNet",
    "Spec",
    "TuneResult",
    "hyperparameter",
    "pareto_front",
    "parse_count",
    "plot_accuracy_vs_flops",
    "round_filters",
    "trial_rows",
    "tune",
    "write_trials_csv",
]
