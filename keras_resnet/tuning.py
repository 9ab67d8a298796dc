"""KerasTuner search of ResNet width and depth under a compute budget.

:class:`HyperResNet` is a ``keras_tuner.HyperModel`` over the networks of
:func:`keras_resnet.models.ResNet`: width, depth of every stage, block type, variant,
stem, regularisation, optimizer and learning rate, each fixed, searched over a range
or a list, or left at the library default. Every trial is compiled with the training
recipe (:func:`keras_resnet.training.compile_model`).

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

Example:
    >>> from keras_resnet.tuning import tune
    >>> result = tune(max_trials=10, epochs=5, max_flops="10M")   # embedded digits
    >>> result.best_hyperparameters, result.best_model_path
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib.util
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import keras
import keras_tuner
from keras_tuner.errors import FailedTrialError, FatalValueError

from keras_resnet import models, profile, saving, training

TUNERS = ("random", "hyperband", "bayesian")
OBJECTIVE = "val_accuracy"

TRIALS_FILE = "trials.csv"
PLOT_FILE = "accuracy_vs_flops.png"
BEST_MODEL_FILE = "best.keras"
TUNER_DIR = "tuner"

# Samples an oracle draws for one trial before it takes the space within the budget
# for exhausted. Each new architecture costs one model build without weights (0.1 s).
BUDGET_ATTEMPTS = 100
# Words in every budget rejection, so that reports can tell rejections from failures.
OVER_BUDGET = "over the compute budget"

# Stage widths are rounded to multiples of this, as channel counts usually are.
WIDTH_DIVISOR = 8
# Blocks per stage when depth is not searched (ResNet18's depths).
DEFAULT_DEPTH = 2
# Images below this size get the CIFAR stem from tune() unless a stem is given:
# an ImageNet stem would shrink them 4x before the first stage.
SMALL_IMAGE_SIZE = 64
# Trial epochs of tune() when none are given: enough to rank architectures.
DEFAULT_EPOCHS = 5

SKIPPED_OPTIMIZER_WARNING = "Skipping variable loading for optimizer"

SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}

Spec = Any
"""A searchable choice: a value (fixed), a ``(low, high)`` tuple of two numbers (a
range), a list or any other tuple (choices), or None (the library default, not
searched)."""


def hyperparameter(
    hp: keras_tuner.HyperParameters,
    name: str,
    spec: Spec,
    default: Any = None,
    *,
    log: bool = False,
) -> Any:
    """Registers one choice of the search space in ``hp`` and returns its value.

    Args:
        hp: the trial's hyperparameters.
        name: the hyperparameter's name, e.g. ``"width_multiplier"``.
        spec: a value (``hp.Fixed``), a ``(low, high)`` tuple of two numbers
            (``hp.Int`` when both are ints, else ``hp.Float``), a list or any other
            tuple (``hp.Choice``), or None: nothing is registered and ``default`` is
            returned.
        default: the value when ``spec`` is None.
        log: sample a range on a log scale (where ``low > 0``): for multiplicative
            quantities such as widths, learning rates and weight decay.

    Returns:
        The value for this trial.

    Raises:
        ValueError: on a range whose low end is above its high end.

    Example:
        >>> hp = keras_tuner.HyperParameters()
        >>> hyperparameter(hp, "learning_rate", (1e-3, 1e-1), log=True)
        0.001
    """
    if spec is None:
        return default
    if _is_range(spec):
        low, high = spec
        if low > high:
            raise ValueError(f"{name}: the range {spec!r} has its low end above its high end.")
        if low == high:
            return hp.Fixed(name, low)
        sampling = "log" if log and low > 0 else "linear"
        if isinstance(low, int) and isinstance(high, int):
            return hp.Int(name, low, high, sampling=sampling)
        return hp.Float(name, float(low), float(high), sampling=sampling)
    if isinstance(spec, list | tuple):
        values = list(spec)
        # KerasTuner wants one type per choice; 1 and 0.5 are both widths.
        if any(isinstance(value, float) for value in values) and all(
            _is_number(value) for value in values
        ):
            values = [float(value) for value in values]
        return hp.Choice(name, values)
    return hp.Fixed(name, spec)


class HyperResNet(keras_tuner.HyperModel):
    """A search space of ResNets for KerasTuner: width, depth and the training recipe.

    KerasTuner's own ``keras_tuner.applications.HyperResNet`` chooses among a few
    ImageNet ResNets: the depths of two stages from fixed lists, the version and the
    optimizer; the width never changes and nothing bounds the cost. This one:

    - searches the width (a multiplier, continuous on a log scale, optionally one per
      stage) and the depth of every stage within limits you give;
    - also the block type, the variant (v1.5, ResNet-D, pre-activation v2), the stem
      (ImageNet or CIFAR, so small images keep their resolution), stochastic depth,
      weight decay, label smoothing, optimizer and learning rate;
    - trains every trial with the library's recipe (warm-up and cosine schedule,
      no decay on BN and biases, label smoothing);
    - keeps each trial within a compute budget (parameters and multiply-adds at the
      data's image size), rejected before training, and reports both per trial, so
      that accuracy can be weighed against cost.

    Each choice takes a :data:`Spec`: a value, a ``(low, high)`` range, a list of
    choices, or None for the library default (listed below), not searched.

    With KerasTuner's own tuners, an over-budget trial fails before training; pass
    them ``max_consecutive_failed_trials=max_trials``. On the TensorFlow backend they
    import TensorBoard for every trial (KerasTuner 1.4), so install ``tensorboard``
    for them; :func:`tune` needs neither.

    Args:
        num_classes: classes of the classifier.
        input_shape: ``(height, width, channels)`` of the images; height and width
            must be known, as FLOPs depend on them.
        width: width multiplier of the stage widths ``base_widths``; default
            ``(0.5, 2.0)`` on a log scale; None: 1.0.
        per_stage_width: one multiplier per stage (``width_multiplier_stage1``, ...)
            instead of one for all (``width_multiplier``).
        depth: blocks of each stage (``depth_stage1``, ...), each stage sampled on its
            own; default ``(1, 4)``; None: ``DEFAULT_DEPTH``.
        num_stages: stages of the network; defaults to 3 when the stem is always
            ``"cifar"`` (the CIFAR ResNets), else 4.
        base_widths: stage widths at multiplier 1; default 16, 32, 64, ... with the
            CIFAR stem and 64, 128, 256, ... otherwise (doubling per stage).
        block_type: ``"basic"`` and/or ``"bottleneck"``; default both; None:
            ``"bottleneck"``.
        variant: among ``"v1.5"``, ``"d"``, ``"v2"`` (and ``"v1"`` with bottlenecks);
            None: ``"v1.5"``.
        stem: among ``"imagenet"``, ``"deep"``, ``"cifar"``; None: the variant's stem.
        weight_decay: decoupled weight decay (log scale); None: the recipe's.
        label_smoothing: None: the recipe's.
        drop_path_rate: stochastic depth at the last block; None: 0.
        optimizer: ``"sgd"`` and/or ``"adamw"``; None: the recipe's (SGD).
        learning_rate: peak learning rate (log scale); None: the linear scaling rule.
        max_params: most trainable parameters a trial may have.
        max_flops: most multiply-adds of one image at ``input_shape`` a trial may have.
        epochs: epochs of each trial, which the learning-rate schedule spans
            (Hyperband's rounds set their own).
        steps_per_epoch: optimizer steps per epoch, for the schedule.
        batch_size: images per step, for the learning-rate scaling rule.
        model_kwargs: more fixed :func:`keras_resnet.models.ResNet` arguments, e.g.
            ``{"se_ratio": 0.25}``.
        name: name of the hypermodel.

    Raises:
        ValueError: on an unknown block type, variant, stem or optimizer; a stem
            that the images are too small for; ``"v1"`` together with basic blocks;
            a non-positive width, depth or budget; or an input shape without a known
            height and width.

    Example:
        >>> hypermodel = HyperResNet(10, (32, 32, 3), width=(0.25, 1.0), depth=(1, 3),
        ...                          stem="cifar", max_flops=20e6, epochs=5,
        ...                          steps_per_epoch=20, batch_size=64)
        >>> tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy",
        ...                                  max_trials=10, max_consecutive_failed_trials=10)
        >>> tuner.search(train_ds, validation_data=val_ds, epochs=5)
    """

    def __init__(
        self,
        num_classes: int,
        input_shape: Sequence[int],
        *,
        width: Spec = (0.5, 2.0),
        per_stage_width: bool = False,
        depth: Spec = (1, 4),
        num_stages: int | None = None,
        base_widths: Sequence[int] | None = None,
        block_type: Spec = ("basic", "bottleneck"),
        variant: Spec = None,
        stem: Spec = None,
        weight_decay: Spec = None,
        label_smoothing: Spec = None,
        drop_path_rate: Spec = None,
        optimizer: Spec = None,
        learning_rate: Spec = None,
        max_params: float | None = None,
        max_flops: float | None = None,
        epochs: int = DEFAULT_EPOCHS,
        steps_per_epoch: int = 100,
        batch_size: int = 32,
        model_kwargs: dict | None = None,
        name: str = "hyper_resnet",
    ):
        super().__init__(name=name)
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}.")
        if len(input_shape) != 3 or not all(input_shape[:2]):
            raise ValueError(
                "input_shape must be (height, width, channels) with a known height and "
                f"width (FLOPs depend on them), got {tuple(input_shape)}."
            )
        for option, value in (("max_params", max_params), ("max_flops", max_flops)):
            if value is not None and not value > 0:
                raise ValueError(f"{option} must be positive, got {value}.")
        training.check_counts(epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size)
        _check_spec("block_type", block_type, models.BLOCK_TYPES)
        _check_spec("variant", variant, models.VARIANTS)
        _check_spec("stem", stem, models.STEM_TYPES)
        _check_spec("optimizer", optimizer, training.BASE_LEARNING_RATES)
        _check_numbers("width", width, lambda value: value > 0, "positive")
        _check_numbers(
            "depth",
            depth,
            lambda value: isinstance(value, int) and value >= 1,
            "whole numbers of at least 1",
        )
        for option, spec in (
            ("weight_decay", weight_decay),
            ("label_smoothing", label_smoothing),
            ("drop_path_rate", drop_path_rate),
        ):
            _check_numbers(option, spec, lambda value: value >= 0, "at least 0")
        _check_numbers("learning_rate", learning_rate, lambda value: value > 0, "positive")
        if "v1" in _spec_values(variant) and "basic" in _spec_values(block_type):
            raise ValueError(
                "variant 'v1' moves the stride to the bottleneck's first 1x1 conv, which a "
                "basic block lacks: drop 'v1' or search only block_type='bottleneck'."
            )
        stems = _spec_values(stem) or [None]
        if num_stages is None:
            num_stages = 3 if set(stems) == {"cifar"} else 4
        if num_stages < 1:
            raise ValueError(f"num_stages must be at least 1, got {num_stages}.")
        if base_widths is not None and len(base_widths) != num_stages:
            raise ValueError(
                f"base_widths has {len(base_widths)} entries for {num_stages} stages: "
                "give one width per stage."
            )
        smallest = min(input_shape[:2])
        too_small = [
            _effective_stem(stem_type, "v1.5")
            for stem_type in stems
            if models.minimum_input_size(_effective_stem(stem_type, "v1.5"), num_stages) > smallest
        ]
        if too_small:
            needed = models.minimum_input_size(too_small[0], num_stages)
            raise ValueError(
                f"The {too_small[0]!r} stem with {num_stages} stages needs images of at "
                f"least {needed}x{needed}, but they are {input_shape[0]}x{input_shape[1]}: "
                "use stem='cifar', fewer stages (num_stages) or larger images."
            )

        self.num_classes = int(num_classes)
        self.input_shape = tuple(input_shape)
        self.width = width
        self.per_stage_width = per_stage_width
        self.depth = depth
        self.num_stages = int(num_stages)
        self.base_widths = tuple(base_widths) if base_widths is not None else None
        self.block_type = block_type
        self.variant = variant
        self.stem = stem
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.drop_path_rate = drop_path_rate
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.max_params = max_params
        self.max_flops = max_flops
        self.epochs = int(epochs)
        self.steps_per_epoch = int(steps_per_epoch)
        self.batch_size = int(batch_size)
        self.model_kwargs = dict(model_kwargs or {})
        self._costs: dict[tuple, tuple[int, int]] = {}

    def architecture(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """Registers the architecture's choices and returns its ResNet arguments.

        Args:
            hp: the trial's hyperparameters.

        Returns:
            ``stage_depths``, ``stage_widths``, ``block_type``, ``variant``,
            ``stem_type`` and ``drop_path_rate`` for :func:`keras_resnet.models.ResNet`.
        """
        stages = range(1, self.num_stages + 1)
        if self.per_stage_width:
            multipliers = [
                hyperparameter(hp, f"width_multiplier_stage{i}", self.width, 1.0, log=True)
                for i in stages
            ]
        else:
            multiplier = hyperparameter(hp, "width_multiplier", self.width, 1.0, log=True)
            multipliers = [multiplier] * self.num_stages
        depths = [hyperparameter(hp, f"depth_stage{i}", self.depth, DEFAULT_DEPTH) for i in stages]
        block_type = hyperparameter(hp, "block_type", self.block_type, "bottleneck")
        variant = hyperparameter(hp, "variant", self.variant, "v1.5")
        stem = hyperparameter(hp, "stem", self.stem, None)
        drop_path_rate = hyperparameter(hp, "drop_path_rate", self.drop_path_rate, 0.0)
        bases = self.base_widths or _base_widths(_effective_stem(stem, variant), self.num_stages)
        return {
            "stage_depths": tuple(int(depth) for depth in depths),
            "stage_widths": tuple(
                round_filters(base * multiplier)
                for base, multiplier in zip(bases, multipliers, strict=True)
            ),
            "block_type": block_type,
            "variant": variant,
            "stem_type": stem,
            "drop_path_rate": float(drop_path_rate),
        }

    def recipe(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """Registers the training choices; returns the searched or fixed ones.

        Args:
            hp: the trial's hyperparameters.

        Returns:
            Keyword arguments of :func:`keras_resnet.training.compile_model`; a choice
            left at None is left out, so the recipe's default applies.
        """
        choices = {
            "optimizer": hyperparameter(hp, "optimizer", self.optimizer),
            "learning_rate": hyperparameter(hp, "learning_rate", self.learning_rate, log=True),
            "weight_decay": hyperparameter(hp, "weight_decay", self.weight_decay, log=True),
            "label_smoothing": hyperparameter(hp, "label_smoothing", self.label_smoothing),
        }
        return {key: value for key, value in choices.items() if value is not None}

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Builds and compiles the trial's model.

        Args:
            hp: the trial's hyperparameters.

        Returns:
            A ``keras.Model`` compiled with the recipe; its schedule spans the
            trial's epochs (Hyperband's ``tuner/epochs`` where set).
        """
        model = self._network(self.architecture(hp))
        epochs = hp.values.get("tuner/epochs", self.epochs) - hp.values.get(
            "tuner/initial_epoch", 0
        )
        training.compile_model(
            model,
            epochs=max(int(epochs), 1),
            steps_per_epoch=self.steps_per_epoch,
            batch_size=self.batch_size,
            **self.recipe(hp),
        )
        return model

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args, **kwargs):
        """Checks the budget, trains, and reports accuracy, cost and time.

        Args:
            hp: the trial's hyperparameters.
            model: the model from :meth:`build`.
            *args: arguments of ``model.fit`` (the training data).
            **kwargs: keyword arguments of ``model.fit``; ``validation_data`` is needed.

        Returns:
            The trial's metrics: ``val_accuracy`` (best epoch), ``val_loss`` (best),
            ``accuracy`` (last epoch), ``params``, ``flops``, ``seconds`` (training
            and validation) and ``epochs``.

        Raises:
            keras_tuner.errors.FailedTrialError: the model is over the budget; it is
                not trained.
            keras_tuner.errors.FatalValueError: there is no validation data.
        """
        report = profile.profile_model(model, self.input_shape[0])
        params, flops = report.trainable_params, report.macs
        self._costs[_architecture_key(self.architecture(hp.copy()))] = (params, flops)
        violation = self.budget_violation(params, flops)
        if violation:
            raise FailedTrialError(violation)
        if kwargs.get("validation_data") is None:
            raise FatalValueError(
                "HyperResNet ranks trials by val_accuracy: pass validation_data "
                "(or use load_data with validation_split > 0)."
            )
        start = time.perf_counter()
        history = model.fit(*args, **kwargs)
        seconds = time.perf_counter() - start
        logs = history.history
        return {
            OBJECTIVE: _best(logs.get(OBJECTIVE), max),
            "val_loss": _best(logs.get("val_loss"), min),
            "accuracy": float(logs["accuracy"][-1]) if logs.get("accuracy") else math.nan,
            "params": float(params),
            "flops": float(flops),
            "seconds": round(seconds, 2),
            "epochs": float(len(history.epoch)),
        }

    def measure(self, values: keras_tuner.HyperParameters | dict) -> tuple[int, int]:
        """Trainable parameters and multiply-adds of a configuration, without training.

        Args:
            values: hyperparameters, or a dict of their values (missing ones take
                their defaults).

        Returns:
            ``(params, flops)`` at ``input_shape``; cached per architecture.
        """
        config = self.architecture(_as_hyperparameters(values))
        key = _architecture_key(config)
        if key not in self._costs:
            with _shapes_only():
                report = profile.profile_model(self._network(config), self.input_shape[0])
            self._costs[key] = (report.trainable_params, report.macs)
        return self._costs[key]

    def budget_violation(self, params: int, flops: int) -> str | None:
        """Says how a cost exceeds the budget, or None when it fits.

        Args:
            params: trainable parameters.
            flops: multiply-adds of one image.

        Returns:
            A message giving the numbers, or None.
        """
        excesses = [
            f"{label} {value:,} > {option}={limit:,.0f}"
            for label, value, option, limit in (
                ("parameters", params, "max_params", self.max_params),
                ("multiply-adds", flops, "max_flops", self.max_flops),
            )
            if limit is not None and value > limit
        ]
        if not excesses:
            return None
        return f"Trial {OVER_BUDGET}: {'; '.join(excesses)}. Rejected before training."

    def check_budget(self, values: keras_tuner.HyperParameters | dict) -> str | None:
        """:meth:`budget_violation` of a configuration (what the oracles call).

        Args:
            values: hyperparameters or a dict of their values.

        Returns:
            A message giving the numbers, or None when it fits.
        """
        if self.max_params is None and self.max_flops is None:
            return None
        return self.budget_violation(*self.measure(values))

    def describe(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """Every choice of a trial, searched or not, for the trials table.

        Args:
            hp: the trial's hyperparameters (not changed).

        Returns:
            The width multipliers, ``depth_stage<i>`` and ``filters_stage<i>`` (the
            built widths), block type, variant, stem, drop-path rate, the training
            choices (None where the recipe's default applies), then any other
            hyperparameter.
        """
        hp = hp.copy()
        config = self.architecture(hp)
        recipe = self.recipe(hp)
        row: dict[str, Any] = {}
        if self.per_stage_width:
            for i in range(1, self.num_stages + 1):
                row[f"width_multiplier_stage{i}"] = hp.values.get(f"width_multiplier_stage{i}", 1.0)
        else:
            row["width_multiplier"] = hp.values.get("width_multiplier", 1.0)
        for i, depth in enumerate(config["stage_depths"], 1):
            row[f"depth_stage{i}"] = depth
        for i, filters in enumerate(config["stage_widths"], 1):
            row[f"filters_stage{i}"] = filters
        row["block_type"] = config["block_type"]
        row["variant"] = config["variant"]
        row["stem"] = _effective_stem(config["stem_type"], config["variant"])
        row["drop_path_rate"] = config["drop_path_rate"]
        for key in ("optimizer", "learning_rate", "weight_decay", "label_smoothing"):
            row[key] = recipe.get(key)
        for key, value in hp.values.items():
            if key not in row and not key.startswith("tuner/"):
                row[key] = value
        return row

    def _network(self, config: dict[str, Any]) -> keras.Model:
        return models.ResNet(
            **config,
            num_classes=self.num_classes,
            input_shape=self.input_shape,
            name="resnet",
            **self.model_kwargs,
        )


# ----------------------------------------------------------------------------------------
# Oracles that keep to the budget


class _BudgetedOracle:
    """Resamples configurations over the budget instead of handing them out as trials.

    Every oracle draws new configurations through ``_random_values``; this draws again
    while the draw is over budget, up to ``budget_attempts`` times, and then returns
    None, the value with which KerasTuner's oracles end a search whose space is used up.
    """

    def __init__(
        self,
        *args,
        budget_check: Callable[[dict], str | None] | None = None,
        budget_attempts: int = BUDGET_ATTEMPTS,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.budget_check = budget_check
        self.budget_attempts = budget_attempts
        self.resampled = 0

    def fits(self, values: dict) -> bool:
        """Whether a configuration is within the budget."""
        return self.budget_check is None or self.budget_check(values) is None

    def _random_values(self):
        for _ in range(self.budget_attempts):
            values = super()._random_values()
            if values is None or self.fits(values):
                return values
            self.resampled += 1
        return None


class _RandomSearchOracle(_BudgetedOracle, keras_tuner.oracles.RandomSearchOracle):
    pass


class _BayesianOracle(_BudgetedOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        values = response.get("values")
        # The Gaussian process knows nothing of the budget: an over-budget optimum
        # gives way to a random configuration within it.
        if response["status"] == "RUNNING" and values and not self.fits(values):
            self.resampled += 1
            return self._random_populate_space()
        return response


class _HyperbandOracle(_BudgetedOracle, keras_tuner.oracles.HyperbandOracle):
    def __init__(self, *args, max_trials: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Hyperband has no trial limit of its own; the base oracle stops at this one.
        self.max_trials = max_trials


class _SearchMixin:
    """What the tuners of :func:`tune` add to KerasTuner's.

    They remember which trials this process ran (a distributed worker runs some of
    them), and run without TensorBoard, which TensorFlow no longer installs: KerasTuner
    imports it on the TensorFlow backend for every trial, even with no TensorBoard
    callback to configure, and every trial then fails.
    """

    def on_trial_begin(self, trial):
        self.trials_run.append(trial.trial_id)
        super().on_trial_begin(trial)

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        if importlib.util.find_spec("tensorboard") is not None:
            super()._configure_tensorboard_dir(callbacks, trial, execution)


class _Search(_SearchMixin, keras_tuner.Tuner):
    def __init__(self, *args, **kwargs):
        self.trials_run: list[str] = []
        super().__init__(*args, **kwargs)


class _HyperbandSearch(_SearchMixin, keras_tuner.Hyperband):
    def __init__(self, oracle, hypermodel, **kwargs):
        self.trials_run = []
        # Hyperband.__init__ would make its own oracle, without the budget; its trial
        # logic (epochs per round, weights of the promoted trial) is what is wanted.
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)

    def _build_hypermodel(self, hp):
        with warnings.catch_warnings():
            # A promoted trial goes on from the weights of the one it continues, with a
            # fresh optimizer and schedule; the checkpoint's optimizer state is unused.
            warnings.filterwarnings("ignore", message=SKIPPED_OPTIMIZER_WARNING)
            return super()._build_hypermodel(hp)


# ----------------------------------------------------------------------------------------
# The search


@dataclasses.dataclass
class TuneResult:
    """What :func:`tune` leaves behind.

    Attributes:
        run_dir: ``<output>/<run_name>``.
        trials: one dict per trial, as in ``trials.csv``.
        trials_run: ids of the trials this process trained (all of them, but in
            distributed mode).
        is_chief: False in a distributed worker, which writes no reports (the
            fields below are then None).
        best_trial_id: the trial with the best validation accuracy.
        best_hyperparameters: its hyperparameter values.
        best_val_accuracy: its best validation accuracy.
        best_params: its trainable parameters.
        best_flops: its multiply-adds per image.
        test_accuracy: the best model's accuracy on the test split, if there is one.
        best_model: the best model, at its best epoch.
        best_model_path: ``best.keras``.
        trials_path: ``trials.csv``.
        plot_path: ``accuracy_vs_flops.png``.
        resampled: configurations drawn over the budget and replaced, in this process.
        tuner: the KerasTuner tuner, e.g. for ``tuner.results_summary()``.
    """

    run_dir: str
    trials: list[dict[str, Any]]
    trials_run: list[str]
    is_chief: bool = True
    best_trial_id: str | None = None
    best_hyperparameters: dict[str, Any] | None = None
    best_val_accuracy: float | None = None
    best_params: int | None = None
    best_flops: int | None = None
    test_accuracy: float | None = None
    best_model: keras.Model | None = None
    best_model_path: str | None = None
    trials_path: str | None = None
    plot_path: str | None = None
    resampled: int = 0
    tuner: Any = None


def tune(
    data=None,
    tuner: str = "random",
    max_trials: int = 10,
    epochs: int | None = None,
    max_flops: float | str | None = None,
    max_params: float | str | None = None,
    output: str | os.PathLike = "saved_models",
    run_name: str | None = None,
    batch_size: int | None = None,
    seed: int | None = 0,
    distribution_strategy: Any = None,
    overwrite: bool = False,
    *,
    image_size: int | Sequence[int] | None = None,
    steps_per_epoch: int | None = None,
    validation_split: float = 0.2,
    augment: str | None = "basic",
    verbose: int | str = 0,
    **hypermodel_kwargs: Any,
) -> TuneResult:
    """Searches ResNet width, depth and recipe on a data set: ``keras-resnet tune``.

    Args:
        data: anything :func:`keras_resnet.data.load_data` takes (None: the embedded
            digits), or an ``ImageData``. It needs validation data.
        tuner: ``"random"``, ``"hyperband"`` or ``"bayesian"``.
        max_trials: trials of the whole search, those of a resumed search included.
        epochs: epochs of each trial (Hyperband's most); default ``DEFAULT_EPOCHS``.
        max_flops: most multiply-adds per image of a trial; a number or text such as
            ``"50M"`` or ``"0.5G"``.
        max_params: most trainable parameters of a trial; a number or ``"2.5M"``.
        output: the folder that holds run folders.
        run_name: the run folder's name; defaults to ``tune-<data>``.
        batch_size: images per step; None takes the data's default (64 for the
            digits, 32 otherwise).
        seed: seeds the data split, the initialisation and the oracle.
        distribution_strategy: a ``tf.distribute`` strategy (TensorFlow backend),
            ``"mirrored"``, or a :class:`keras_resnet.distribute.Distribution`: each
            trial trains under it.
        overwrite: start afresh; False continues a search with the same run folder.
        image_size: images are resized to this; None takes the data's default
            (16 for the digits, as ``keras-resnet train``).
        steps_per_epoch: train on only this many batches per epoch (quick runs).
        validation_split: fraction of the training images held out for validation.
        augment: augmentation of ``load_data``.
        verbose: KerasTuner's and Keras's verbosity.
        **hypermodel_kwargs: :class:`HyperResNet` arguments (``width``, ``depth``,
            ``block_type``, ``stem``, ``learning_rate``...). Below 64 pixels the
            stem defaults to ``"cifar"``.

    Returns:
        A :class:`TuneResult`.

    Raises:
        ValueError: on an unknown tuner, a bad count, data without validation, a
            strategy on a backend other than TensorFlow, or a budget that no
            configuration of the space fits (no trial completes).

    Example:
        >>> result = tune(max_trials=10, epochs=5, max_flops="10M")
        >>> result.best_model_path        # saved_models/tune-digits/best.keras
    """
    if tuner not in TUNERS:
        raise ValueError(f"Unknown tuner {tuner!r}: use one of {', '.join(TUNERS)}.")
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    training.check_counts(max_trials=max_trials, epochs=epochs)
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}.")
    max_params, max_flops = parse_count(max_params), parse_count(max_flops)
    strategy = _tf_strategy(distribution_strategy)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    image_data, source, batch_size = _load(
        data, image_size, batch_size, validation_split, seed, augment
    )
    if image_data.validation is None:
        raise ValueError(
            "tune ranks trials by validation accuracy: use validation_split > 0 or data "
            "with a validation split."
        )
    steps = math.ceil(image_data.num_train / batch_size) if image_data.num_train else 1
    if steps_per_epoch is not None:
        steps = min(steps, steps_per_epoch)
    if min(image_data.image_size) < SMALL_IMAGE_SIZE:
        hypermodel_kwargs.setdefault("stem", "cifar")
    hypermodel = HyperResNet(
        image_data.num_classes,
        image_data.image_shape,
        max_params=max_params,
        max_flops=max_flops,
        epochs=epochs,
        steps_per_epoch=steps,
        batch_size=batch_size,
        **hypermodel_kwargs,
    )

    run_name = run_name or f"tune-{_data_label(data)}"
    run_dir = os.path.join(os.fspath(output), run_name)
    is_worker = _is_distributed_worker()
    oracle = _make_oracle(tuner, hypermodel, max_trials, epochs, seed)
    search_class = _HyperbandSearch if tuner == "hyperband" else _Search
    search = search_class(
        oracle,
        hypermodel,
        directory=run_dir,
        project_name=TUNER_DIR,
        # A worker must never delete the folder the chief and other workers share.
        overwrite=overwrite and not is_worker,
        distribution_strategy=strategy,
    )
    fit_kwargs: dict[str, Any] = {}
    if steps_per_epoch is not None:
        fit_kwargs["steps_per_epoch"] = steps
    search.search(
        image_data.train,
        validation_data=image_data.validation,
        epochs=epochs,
        # The pipeline shuffles; Keras would only warn that it cannot.
        shuffle=False,
        verbose=verbose,
        **fit_kwargs,
    )
    result = TuneResult(
        run_dir=run_dir,
        trials=[],
        trials_run=list(search.trials_run),
        is_chief=not is_worker,
        resampled=getattr(search.oracle, "resampled", 0),
        tuner=search,
    )
    if is_worker:
        return result
    return _report(result, search, hypermodel, image_data, source, max_trials)


def trial_rows(search: keras_tuner.Tuner, hypermodel: HyperResNet) -> list[dict[str, Any]]:
    """One row per trial of a search: hyperparameters, cost, accuracy, time, status.

    Args:
        search: a tuner whose oracle holds the trials (not a distributed worker's).
        hypermodel: the search's :class:`HyperResNet`.

    Returns:
        Dicts in trial order: ``trial_id``, the choices of
        :meth:`HyperResNet.describe`, ``params``, ``flops``, ``val_accuracy``,
        ``seconds``, ``epochs``, ``status`` (``completed``, ``rejected`` for over the
        budget, ``failed``, ``invalid`` or ``running``) and ``note``.
    """
    rows = []
    for trial_id in sorted(search.oracle.trials):
        trial = search.oracle.trials[trial_id]
        metrics = trial.metrics

        def metric(name, metrics=metrics):
            if not metrics.exists(name):
                return None
            if name == OBJECTIVE:
                return float(metrics.get_best_value(name))
            return float(metrics.get_last_value(name))

        params, flops = metric("params"), metric("flops")
        if params is None or flops is None:
            params, flops = hypermodel.measure(trial.hyperparameters.copy())
        message = trial.message or ""
        status = str(trial.status).lower()
        if OVER_BUDGET in message:
            status = "rejected"
        note = ""
        if message:
            note = next(
                (line for line in reversed(message.strip().splitlines()) if line.strip()), ""
            )
        row = {"trial_id": trial_id, **hypermodel.describe(trial.hyperparameters)}
        if "tuner/trial_id" in trial.hyperparameters.values:
            row["continues_trial"] = trial.hyperparameters.values["tuner/trial_id"]
        seconds, epochs = metric("seconds"), metric("epochs")
        row.update(
            params=int(params),
            flops=int(flops),
            val_accuracy=metric(OBJECTIVE),
            seconds=seconds,
            epochs=int(epochs) if epochs is not None else None,
            status=status,
            note=note,
        )
        rows.append(row)
    return rows


def write_trials_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> str:
    """Writes trial rows as CSV; a column missing from a row is left empty.

    Args:
        rows: rows from :func:`trial_rows`.
        path: the ``.csv`` to write.

    Returns:
        The path written.
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    # Cost, result and status last, wherever a later row added a hyperparameter.
    tail = ["params", "flops", "val_accuracy", "seconds", "epochs", "status", "note"]
    columns = [key for key in columns if key not in tail] + [k for k in tail if k in columns]
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return path


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: fewer FLOPs and higher accuracy.

    Args:
        points: ``(flops, accuracy)`` pairs.

    Returns:
        Indices of the front, by increasing FLOPs (and so increasing accuracy).

    Example:
        >>> pareto_front([(10, 0.9), (5, 0.8), (20, 0.85), (5, 0.7)])
        [1, 0]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for index in order:
        if points[index][1] > best:
            front.append(index)
            best = points[index][1]
    return front


def plot_accuracy_vs_flops(
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike,
    max_flops: float | None = None,
    title: str | None = None,
) -> str:
    """Plots validation accuracy against FLOPs of the completed trials, to a PNG.

    The Pareto front (the trials that no cheaper trial beats) is joined by a line and
    labelled with trial ids; the best trial is starred; ``max_flops`` is a dashed line.

    Args:
        rows: rows from :func:`trial_rows`.
        path: the ``.png`` to write.
        max_flops: the budget, drawn when given.
        title: the plot's title.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot's import
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    done = [row for row in rows if row.get("val_accuracy") is not None]
    figure, axis = plt.subplots(figsize=(7, 4.5))
    if done:
        points = [(row["flops"] / 1e6, row["val_accuracy"]) for row in done]
        axis.scatter(*zip(*points, strict=True), color="tab:blue", alpha=0.6, label="trial")
        front = pareto_front(points)
        axis.plot(
            [points[i][0] for i in front],
            [points[i][1] for i in front],
            color="tab:orange",
            marker="o",
            drawstyle="steps-post",
            label="Pareto front",
        )
        for i in front:
            axis.annotate(
                done[i]["trial_id"], points[i], textcoords="offset points", xytext=(4, -10)
            )
        best = max(range(len(done)), key=lambda i: points[i][1])
        axis.scatter(*points[best], marker="*", s=250, color="tab:red", zorder=3, label="best")
    if max_flops:
        axis.axvline(max_flops / 1e6, color="gray", linestyle="--", label="budget")
    axis.set_xscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axis.xaxis.set_major_formatter(plain)
    axis.xaxis.set_minor_formatter(plain)
    axis.set_xlabel("multiply-adds per image (millions)")
    axis.set_ylabel("validation accuracy")
    axis.set_title(title or "accuracy against compute")
    axis.grid(alpha=0.3, which="both")
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="lower right")
    figure.tight_layout()
    return saving.save_figure(figure, path)


def parse_count(value: float | str | None) -> float | None:
    """Reads a count such as ``50M``, ``0.5G``, ``2.5e6`` or ``1200k``.

    Args:
        value: a number, text with an optional k/M/G/T suffix (any case), or None.

    Returns:
        The number, or None for None.

    Raises:
        ValueError: on text that is not such a count, or a count not above 0.

    Example:
        >>> parse_count("0.5G")
        500000000.0
    """
    if value is None:
        return None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)\s*", value)
        if not match:
            raise ValueError(f"Expected a count such as 50M, 0.5G, 2e6 or 1200k, got {value!r}.")
        value = float(match.group(1)) * SUFFIXES[match.group(2).lower()]
    value = float(value)
    if not value > 0:
        raise ValueError(f"A budget must be above 0, got {value:g}.")
    return value


def round_filters(value: float, divisor: int = WIDTH_DIVISOR) -> int:
    """Rounds a width to a multiple of ``divisor``, never down by more than 10%.

    Args:
        value: the unrounded width.
        divisor: the multiple.

    Returns:
        The width, at least ``divisor``.

    Example:
        >>> round_filters(16 * 0.75), round_filters(64 * 1.3)
        (16, 80)
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


# ----------------------------------------------------------------------------------------
# Helpers


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_range(spec) -> bool:
    return isinstance(spec, tuple) and len(spec) == 2 and all(_is_number(v) for v in spec)


def _spec_values(spec) -> list:
    """The values a spec can take (a range by its ends); empty for None."""
    if spec is None:
        return []
    if isinstance(spec, list | tuple):
        return list(spec)
    return [spec]


def _check_spec(name: str, spec, allowed) -> None:
    unknown = [value for value in _spec_values(spec) if value not in allowed]
    if unknown:
        raise ValueError(f"Unknown {name} {unknown[0]!r}: use one of {sorted(allowed)}.")


def _check_numbers(name: str, spec, valid: Callable[[Any], bool], requirement: str) -> None:
    for value in _spec_values(spec):
        if not _is_number(value) or not valid(value):
            raise ValueError(f"{name} values must be {requirement}, got {spec!r}.")


def _effective_stem(stem: str | None, variant: str) -> str:
    """The stem ResNet builds for ``stem_type=stem``."""
    if stem is not None:
        return stem
    return "deep" if variant == "d" else "imagenet"


def _base_widths(stem: str, num_stages: int) -> tuple[int, ...]:
    widths = list(models.CIFAR_WIDTHS if stem == "cifar" else models.IMAGENET_WIDTHS)
    while len(widths) < num_stages:
        widths.append(widths[-1] * 2)
    return tuple(widths[:num_stages])


@contextlib.contextmanager
def _shapes_only():
    """Builds models without initialising their weights: counting needs only shapes.

    Initialising costs seconds per new shape on JAX (each initializer is compiled),
    and an oracle may measure a hundred architectures for one trial. Keras defers
    initialisation inside a stateless scope and queues the variables for later; they
    belong to a model that is thrown away, so the queue is restored.
    """
    from keras.src.backend.common import global_state

    queued = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute("uninitialized_variables", queued)


def _architecture_key(config: dict[str, Any]) -> tuple:
    return tuple(sorted(config.items()))


def _as_hyperparameters(values) -> keras_tuner.HyperParameters:
    if isinstance(values, keras_tuner.HyperParameters):
        return values.copy()
    hp = keras_tuner.HyperParameters()
    hp.values = dict(values)
    return hp


def _best(values, choose) -> float:
    finite = [float(value) for value in values or () if math.isfinite(value)]
    return choose(finite) if finite else math.nan


def _is_distributed_worker() -> bool:
    from keras_tuner.src.distribute import utils

    return utils.has_chief_oracle() and not utils.is_chief_oracle()


def _tf_strategy(distribution_strategy):
    """The tf.distribute strategy for KerasTuner, from a strategy, name or Distribution."""
    if distribution_strategy is None:
        return None
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "distribution_strategy takes a tf.distribute strategy: it needs "
            f"KERAS_BACKEND=tensorflow, not {keras.backend.backend()}. To run several "
            "trials at once on any backend, use KerasTuner's chief/worker mode."
        )
    from keras_resnet import distribute

    if isinstance(distribution_strategy, str):
        distribution_strategy = distribute.get_distribution(distribution_strategy)
    if isinstance(distribution_strategy, distribute.Distribution):
        return distribution_strategy.strategy
    return distribution_strategy


def _make_oracle(name: str, hypermodel: HyperResNet, max_trials: int, epochs: int, seed):
    common = dict(
        objective=keras_tuner.Objective(OBJECTIVE, "max"),
        # KerasTuner takes a seed of 0 for "none" and draws a random one.
        seed=None if seed is None else seed + 1,
        budget_check=hypermodel.check_budget,
    )
    if name == "random":
        return _RandomSearchOracle(max_trials=max_trials, **common)
    if name == "bayesian":
        return _BayesianOracle(max_trials=max_trials, **common)
    # max_trials ends the search; the iterations would otherwise end it first.
    return _HyperbandOracle(
        max_epochs=epochs, hyperband_iterations=None, max_trials=max_trials, **common
    )


def _load(data, image_size, batch_size, validation_split, seed, augment):
    """The ``ImageData``, a JSON-friendly name of its source, and its batch size."""
    if hasattr(data, "train") and hasattr(data, "class_names"):
        return data, None, batch_size or training.batch_size_of(data)
    from keras_resnet import data as data_lib

    is_digits = data is None or (isinstance(data, str) and data.lower() == "digits")
    defaults = training.DIGITS_DEFAULTS if is_digits else training.PHOTO_DEFAULTS
    image_size = image_size if image_size is not None else defaults["image_size"]
    batch_size = batch_size or defaults["batch_size"]
    image_data = data_lib.load_data(
        data,
        image_size=image_size,
        batch_size=batch_size,
        validation_split=validation_split,
        seed=seed or 0,
        augment=augment,
    )
    source = "digits" if data is None else data
    if isinstance(source, str | os.PathLike):
        source = os.fspath(source)
        if os.path.isdir(source):
            source = os.path.abspath(source)
    else:
        source = None
    return image_data, source, batch_size


def _data_label(data) -> str:
    if data is None:
        return "digits"
    if isinstance(data, str | os.PathLike):
        text = os.fspath(data)
        if text.startswith("tfds:"):
            return text[len("tfds:") :].replace("/", "-")
        return os.path.basename(os.path.normpath(text)) or "data"
    return "data"


def _report(result, search, hypermodel, image_data, source, max_trials) -> TuneResult:
    """Writes the table, the plot and the best model; fills in the result."""
    rows = trial_rows(search, hypermodel)
    result.trials = rows
    result.trials_path = write_trials_csv(rows, os.path.join(result.run_dir, TRIALS_FILE))
    result.plot_path = plot_accuracy_vs_flops(
        rows,
        os.path.join(result.run_dir, PLOT_FILE),
        max_flops=hypermodel.max_flops,
        title=f"{os.path.basename(result.run_dir)}: {len(rows)} trials",
    )
    if not any(row["status"] == "completed" for row in rows):
        notes = [row["note"] for row in rows if row["note"]]
        raise ValueError(
            f"No trial completed ({len(rows)} trials, {result.resampled} configurations "
            f"drawn over the budget max_params={hypermodel.max_params}, "
            f"max_flops={hypermodel.max_flops}). Raise the budget or narrow the space "
            f"(smaller width or depth)." + (f" Last failure: {notes[-1]}" if notes else "")
        )
    best_trial = search.oracle.get_best_trials(1)[0]
    best_row = next(row for row in rows if row["trial_id"] == best_trial.trial_id)
    with warnings.catch_warnings():
        # The checkpoint holds the optimizer's state too, which a model for use
        # (rather than for more training) does without.
        warnings.filterwarnings("ignore", message=SKIPPED_OPTIMIZER_WARNING)
        model = search.load_model(best_trial)
    # A fresh optimizer state, so that the saved model loads compiled without warnings.
    with keras_tuner.engine.tuner.maybe_distribute(search.distribution_strategy):
        model.optimizer.build(model.trainable_variables)
    values = {
        key: value
        for key, value in best_trial.hyperparameters.values.items()
        if not key.startswith("tuner/")
    }
    if image_data.test is not None:
        report = model.evaluate(image_data.test, verbose=0, return_dict=True)
        result.test_accuracy = float(report["accuracy"])
    metadata = {
        "hyperparameters": values,
        "architecture": {
            key: best_row[key]
            for key in best_row
            if key.startswith(("depth_stage", "filters_stage"))
            or key in ("block_type", "variant", "stem")
        },
        "trial_id": best_trial.trial_id,
        "params": best_row["params"],
        "flops": best_row["flops"],
        "val_accuracy": best_row["val_accuracy"],
        "test_accuracy": result.test_accuracy,
        "image_size": list(image_data.image_size),
        "backend": keras.backend.backend(),
    }
    if source is not None:
        metadata["data"] = source
    result.best_model_path = saving.save_model(
        model,
        os.path.join(result.run_dir, BEST_MODEL_FILE),
        class_names=[str(name) for name in image_data.class_names],
        **metadata,
    )
    result.best_model = model
    result.best_trial_id = best_trial.trial_id
    result.best_hyperparameters = values
    result.best_val_accuracy = best_row["val_accuracy"]
    result.best_params = best_row["params"]
    result.best_flops = best_row["flops"]
    return result
