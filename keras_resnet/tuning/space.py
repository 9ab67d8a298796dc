"""The search space: which ResNets a search may build, and what each one costs.

:class:`HyperResNet` is a ``keras_tuner.HyperModel`` over the networks of
:func:`keras_resnet.models.ResNet`: width, depth of every stage, block type, variant,
stem, regularisation, optimizer and learning rate, each a :data:`Spec`: fixed, searched
over a range or a list, or left at the library default. Every trial is compiled as
:func:`keras_resnet.training.compile_model` compiles a training run, and is measured
(trainable parameters, multiply-adds at the data's image size) against a compute
budget before it trains.

Example:
    >>> hypermodel = HyperResNet(10, (32, 32, 3), width=(0.25, 1.0), stem="cifar",
    ...                          max_flops=20e6)
    >>> hypermodel.measure({"width_multiplier": 0.5})   # unset depths take their lowest
    (19218, 3170624)
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import keras_tuner
from keras_tuner.errors import FailedTrialError, FatalValueError

from keras_resnet import compat, models, profile, training
from keras_resnet.config import ResNetConfig

# The metric that ranks trials.
OBJECTIVE = "val_accuracy"
# Words in every budget rejection, so that reports can tell rejections from failures.
OVER_BUDGET = "over the compute budget"

# Stage widths are rounded to multiples of this, as channel counts usually are.
WIDTH_DIVISOR = 8
# Blocks per stage when depth is not searched (ResNet18's depths).
DEFAULT_DEPTH = 2
# Trial epochs when none are given: enough to rank architectures.
DEFAULT_EPOCHS = 5

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
    """A search space of ResNets for KerasTuner: width, depth and the training choices.

    KerasTuner's own ``keras_tuner.applications.HyperResNet`` chooses among a few
    ImageNet ResNets: the depths of two stages from fixed lists, the version and the
    optimizer; the width never changes and nothing bounds the cost. This one:

    - searches the width (a multiplier, continuous on a log scale, optionally one per
      stage) and the depth of every stage within limits you give;
    - also the block type, the variant (v1.5, ResNet-D, pre-activation v2), the stem
      (ImageNet or CIFAR, so small images keep their resolution), stochastic depth,
      weight decay, label smoothing, optimizer and learning rate;
    - compiles every trial as the library's training runs are (warm-up and cosine
      schedule, no decay on BN and biases, label smoothing);
    - keeps each trial within a compute budget (parameters and multiply-adds at the
      data's image size), rejected before training, and reports both per trial, so
      that accuracy can be weighed against cost.

    Each choice takes a :data:`Spec`: a value, a ``(low, high)`` range, a list of
    choices, or None for the library default (listed below), not searched.

    With KerasTuner's own tuners, an over-budget trial fails before training; pass
    them ``max_consecutive_failed_trials=max_trials``. On the TensorFlow backend they
    import TensorBoard for every trial (KerasTuner 1.4), so install ``tensorboard``
    for them; :func:`keras_resnet.tuning.tune` needs neither.

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
        weight_decay: decoupled weight decay (log scale); None: ``compile_model``'s.
        label_smoothing: None: ``compile_model``'s.
        drop_path_rate: stochastic depth at the last block; None: 0.
        optimizer: ``"sgd"`` and/or ``"adamw"``; None: ``compile_model``'s (SGD).
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
        batch_size: int = training.TrainConfig.batch_size,
        model_kwargs: dict | None = None,
        name: str = "hyper_resnet",
    ):
        super().__init__(name=name)
        _check_problem(num_classes, input_shape, max_params, max_flops)
        training.check_counts(epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size)
        _check_choices(
            block_type=block_type,
            variant=variant,
            stem=stem,
            optimizer=optimizer,
            width=width,
            depth=depth,
            weight_decay=weight_decay,
            label_smoothing=label_smoothing,
            drop_path_rate=drop_path_rate,
            learning_rate=learning_rate,
        )
        num_stages = _stage_count(num_stages, stem, base_widths)
        _check_stems_fit(stem, num_stages, input_shape)

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
        bases = self.base_widths or library_widths(stem, variant, self.num_stages)
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

    def compile_arguments(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """Registers the training choices; returns the searched or fixed ones.

        Args:
            hp: the trial's hyperparameters.

        Returns:
            Keyword arguments of :func:`keras_resnet.training.compile_model`; a choice
            left at None is left out, so ``compile_model``'s default applies.
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
            A ``keras.Model`` compiled by ``compile_model``; its schedule spans the
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
            **self.compile_arguments(hp),
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
            with compat.weightless_build():
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
            choices (None where ``compile_model``'s default applies), then any other
            hyperparameter.
        """
        hp = hp.copy()
        config = self.architecture(hp)
        compile_arguments = self.compile_arguments(hp)
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
        row["stem"] = library_stem(config["stem_type"], config["variant"])
        row["drop_path_rate"] = config["drop_path_rate"]
        for key in ("optimizer", "learning_rate", "weight_decay", "label_smoothing"):
            row[key] = compile_arguments.get(key)
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


def library_stem(stem: str | None, variant: str) -> str:
    """The stem :func:`keras_resnet.models.ResNet` builds for ``stem_type=stem``.

    Args:
        stem: ``"imagenet"``, ``"deep"``, ``"cifar"`` or None (the variant's stem).
        variant: the ResNet variant.

    Returns:
        The stem :class:`~keras_resnet.config.ResNetConfig` resolves.

    Example:
        >>> library_stem(None, "d")
        'deep'
    """
    return ResNetConfig(stage_depths=(1,), variant=variant, stem_type=stem).stem_type


def library_widths(stem: str | None, variant: str, num_stages: int) -> tuple[int, ...]:
    """Stage widths at multiplier 1: the library's defaults for the stem, then doubling.

    A space may have more stages than the library's width table for its stem (a
    fourth stage after the CIFAR stem's three); those stages double the last width.

    Args:
        stem: the stem, or None for the variant's.
        variant: the ResNet variant.
        num_stages: stages of the network.

    Returns:
        One width per stage.

    Example:
        >>> library_widths("cifar", "v1.5", 4)
        (16, 32, 64, 128)
    """
    try:
        config = ResNetConfig(stage_depths=(1,) * num_stages, variant=variant, stem_type=stem)
    except ValueError:
        # More stages than the table has widths; a bad stem or variant raises again
        # at one stage.
        if num_stages == 1:
            raise
        narrower = library_widths(stem, variant, num_stages - 1)
        return (*narrower, 2 * narrower[-1])
    return config.stage_widths


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


# What each choice may be: a name from a list, or numbers that pass a test.
_NAMED_CHOICES = {
    "block_type": models.BLOCK_TYPES,
    "variant": models.VARIANTS,
    "stem": models.STEM_TYPES,
    "optimizer": training.BASE_LEARNING_RATES,
}
_NUMBER_CHOICES = {
    "width": (lambda value: value > 0, "positive"),
    "depth": (lambda value: isinstance(value, int) and value >= 1, "whole numbers of at least 1"),
    "weight_decay": (lambda value: value >= 0, "at least 0"),
    "label_smoothing": (lambda value: value >= 0, "at least 0"),
    "drop_path_rate": (lambda value: value >= 0, "at least 0"),
    "learning_rate": (lambda value: value > 0, "positive"),
}


def _check_problem(num_classes, input_shape, max_params, max_flops) -> None:
    """The classes, the image shape and the budget: what every space needs."""
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


def _check_choices(**specs) -> None:
    """Every value a spec can take is one ResNet accepts; v1 has no basic block."""
    for name, allowed in _NAMED_CHOICES.items():
        _check_spec(name, specs[name], allowed)
    for name, (valid, requirement) in _NUMBER_CHOICES.items():
        _check_numbers(name, specs[name], valid, requirement)
    if "v1" in _spec_values(specs["variant"]) and "basic" in _spec_values(specs["block_type"]):
        raise ValueError(
            "variant 'v1' moves the stride to the bottleneck's first 1x1 conv, which a "
            "basic block lacks: drop 'v1' or search only block_type='bottleneck'."
        )


def _stage_count(num_stages, stem, base_widths) -> int:
    """Stages of the network: 3 when every stem searched is the CIFAR one, else 4."""
    if num_stages is None:
        num_stages = 3 if set(_spec_values(stem) or [None]) == {"cifar"} else 4
    if num_stages < 1:
        raise ValueError(f"num_stages must be at least 1, got {num_stages}.")
    if base_widths is not None and len(base_widths) != num_stages:
        raise ValueError(
            f"base_widths has {len(base_widths)} entries for {num_stages} stages: "
            "give one width per stage."
        )
    return int(num_stages)


def _check_stems_fit(stem, num_stages, input_shape) -> None:
    """Every stem the space can take keeps an image of ``input_shape`` large enough."""
    smallest = min(input_shape[:2])
    for stem_type in _spec_values(stem) or [None]:
        built = library_stem(stem_type, "v1.5")
        needed = models.minimum_input_size(built, num_stages)
        if needed > smallest:
            raise ValueError(
                f"The {built!r} stem with {num_stages} stages needs images of at "
                f"least {needed}x{needed}, but they are {input_shape[0]}x{input_shape[1]}: "
                "use stem='cifar', fewer stages (num_stages) or larger images."
            )


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
