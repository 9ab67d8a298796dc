"""Train a classifier from a TrainConfig and leave a usable run folder behind.

:func:`fit` builds a model for an :class:`~keras_resnet.data.ImageData`, trains it with
the recipe and writes ``<output>/<run_name>/``: ``model.keras`` (with class names inside),
``best.keras``, ``metrics.json``, ``training_curves.png``, ``confusion_matrix.png``,
``class_names.txt``, ``training_log.csv``, TensorBoard ``logs/`` (where TensorBoard
is installed) and, while a run is unfinished, ``backup/``, from which ``resume=True``
continues it. A run given pretrained ``weights`` fine-tunes them in the phases of
:mod:`~keras_resnet.training.finetune`. :func:`train` loads the data first, with the
preset the data calls for.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import keras

from keras_resnet import compat, saving
from keras_resnet.data.image_data import check_class_count
from keras_resnet.distribute import Distribution, get_distribution
from keras_resnet.models import canonical_name, get_model
from keras_resnet.training import batches, finetune, optim, precise_bn, run_dir
from keras_resnet.training.callbacks import run_callbacks
from keras_resnet.training.config import (
    TrainConfig,
    check_optimizer,
    data_label,
    data_source,
    preset_for,
)
from keras_resnet.training.curves import plot_training_curves, read_training_log
from keras_resnet.training.precision import dtype_policy
from keras_resnet.training.run_dir import RunPaths

ModelSpec = str | keras.Model | Callable[..., keras.Model]


@dataclasses.dataclass
class TrainResult:
    """What :func:`fit` leaves behind.

    Attributes:
        model: the trained model (last epoch's weights, or their moving average with
            ``ema_momentum``).
        history: per-epoch logs of the whole run, resumed epochs included.
        metrics: the contents of ``metrics.json``.
        run_dir: the run folder.
        model_path: ``model.keras``, with class names inside.
        best_model_path: ``best.keras`` (best validation accuracy), or None without
            validation data.
        metrics_path: ``metrics.json``.
        curves_path: ``training_curves.png``.
        confusion_matrix_path: ``confusion_matrix.png``, or None with no data to test.
        log_path: ``training_log.csv``.
        resumed_from_epoch: epochs already done when a resumed run started (0 if new).
        is_chief: False on a worker of a multi-worker run other than the chief. Such a
            worker writes to a temporary folder, removed when it finishes; the paths
            then name the chief's run folder, where the results are.
    """

    model: keras.Model
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    run_dir: str
    model_path: str
    best_model_path: str | None
    metrics_path: str
    curves_path: str
    confusion_matrix_path: str | None
    log_path: str
    resumed_from_epoch: int = 0
    is_chief: bool = True


@dataclasses.dataclass
class _Run:
    """One run's fixed facts, worked out once by :func:`fit`."""

    model: keras.Model
    model_name: str
    data: Any
    config: TrainConfig
    distribution: Distribution
    paths: RunPaths
    chief_paths: RunPaths
    class_names: list[str]
    policy: str
    batch_size: int
    peak_learning_rate: float
    saved_metadata: dict[str, Any]


def fit(
    model: ModelSpec | None,
    data,
    config: TrainConfig | None = None,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    metadata: dict | None = None,
    **settings: Any,
) -> TrainResult:
    """Builds, trains, evaluates and saves a classifier for an ``ImageData``.

    The model is built and compiled inside the distribution's scope, so it trains on
    every device the distribution spans. The data's batches are global batches: each
    of N replicas takes ``batch / N`` images of every step, and the learning rate
    scales with the global batch. Only the chief writes the run folder; the other
    workers of a multi-worker run write to a temporary folder, removed at the end.

    Args:
        model: a model name (``"resnet50"``, any case), a function called as
            ``model(num_classes=..., input_shape=...)``, a built ``keras.Model`` (only
            with ``strategy="none"`` or on one device: a distributed model must be built
            inside the distribution's scope), or None for ``config.model``.
        data: a :class:`keras_resnet.data.ImageData` (batched ``train``, optional
            ``validation`` and ``test``, ``class_names``, ``image_shape``).
        config: the run's settings (:class:`~keras_resnet.training.config.TrainConfig`;
            None: its defaults). Its data settings (batch size, image size, split,
            augmentation) are the data's business and not read here.
        callbacks: more Keras callbacks.
        metadata: more facts to save with the model (e.g. the data source).
        **settings: TrainConfig fields that replace the config's (``epochs=3``).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: on an unknown model name, optimizer or strategy, a built model
            with ``mixed_precision``, a distribution or ``drop_path_rate`` (also a
            builder without that argument), a model whose outputs do
            not match the classes, data with no training examples, a batch that does
            not divide over the replicas, or a run whose loss became NaN.
        TypeError: on a setting TrainConfig does not have.

    Example:
        >>> from keras_resnet.data import load_data
        >>> result = fit("resnet20", load_data(), epochs=15, run_name="digits")
        >>> result.metrics["test_accuracy"]
    """
    config = (config or TrainConfig()).replace(**settings)
    _check_settings(config)
    # Before anything touches a device: splitting the CPU must come first.
    distribution = resolve_distribution(config.strategy, config.devices)
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    batch_size = batches.batch_size_of(data)
    if batch_size % distribution.num_replicas:
        raise ValueError(
            f"The batch of {batch_size} images does not divide over "
            f"{distribution.num_replicas} replicas: use a multiple of "
            f"{distribution.num_replicas}."
        )
    model = config.model if model is None else model
    if isinstance(model, keras.Model) and distribution.name != "none":
        raise ValueError(
            f"A built model cannot train under the {distribution.name} distribution, whose "
            "variables must be made inside its scope. Pass the model's name or a function "
            "that builds it, or strategy='none'."
        )
    with distribution.scope(), dtype_policy(config.mixed_precision) as policy:
        model, model_name = _build_model(model, data, policy, _model_kwargs(config, model))
        if config.weights is not None:
            finetune.load_backbone(model, config.weights)
    chief_dir = os.path.join(os.fspath(config.output), config.run_name or model_name.lower())
    with run_dir.worker_dir(chief_dir, distribution.is_chief) as here:
        run = _Run(
            model=model,
            model_name=model_name,
            data=data,
            config=config.replace(run_name=config.run_name or model_name.lower()),
            distribution=distribution,
            paths=RunPaths.of(here),
            chief_paths=RunPaths.of(chief_dir),
            class_names=[str(name) for name in data.class_names],
            policy=policy,
            batch_size=batch_size,
            peak_learning_rate=optim.peak_learning_rate(config, batch_size),
            saved_metadata={
                "model_name": model_name,
                "image_size": list(data.image_shape[:2]),
                **(metadata or {}),
            },
        )
        resumed_from_epoch = run_dir.prepare(run.paths, config.resume, chief_dir)
        train_seconds = _train(run, resumed_from_epoch, callbacks)
        return _finish(run, resumed_from_epoch, train_seconds)


def train(
    data=None,
    model: ModelSpec | None = None,
    config: TrainConfig | None = None,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    metadata: dict | None = None,
    **settings: Any,
) -> TrainResult:
    """Loads data and trains on it: what ``keras-resnet train`` does.

    Without a config, the preset for the data (:func:`~keras_resnet.training.config.
    choose_preset`) gives every default: with no arguments, ResNet20 on the embedded
    digits at 16x16 (the ``"digits"`` preset), offline, over 99% test accuracy in one
    to three minutes on a two-core CPU; small images train at their stored size with the
    ``"small_images"`` preset; other data with ``"photos"``. ``preset="imagenet"`` (or
    any preset name) chooses one. A model given here drops the preset's stochastic
    depth, which belongs to the preset's model, unless ``drop_path_rate`` is given too.
    Without a model, ``weights`` that are a ``.keras`` file of this library (e.g. an
    earlier run's ``model.keras``) build the model they were saved from.

    On several devices each replica takes ``batch_size`` images of every step: the
    global batch is ``batch_size`` times the replicas, and the learning rate scales
    with it (:func:`~keras_resnet.training.optim.scaled_learning_rate`).

    Args:
        data: anything :func:`keras_resnet.data.load_data` takes (None or
            ``"digits"``, an image folder, ``"tfds:NAME"``, ``(x, y)`` arrays), or an
            ``ImageData``, whose batches are global batches.
        model: see :func:`fit`; None takes the config's.
        config: the run's settings; None takes the preset for the data.
        callbacks: more Keras callbacks.
        metadata: more facts to save with the model.
        **settings: TrainConfig fields that replace the config's; a None for ``model``,
            ``image_size``, ``batch_size``, ``epochs``, ``validation_split`` or
            ``mixup`` keeps the config's.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: see :func:`fit` and :func:`keras_resnet.data.load_data`.
        FileNotFoundError: if a data folder does not exist.

    Example:
        >>> result = train()                           # digits, 1-3 minutes on a CPU
        >>> result.metrics["preset"], result.metrics["test_accuracy"]
        >>> train(devices=2).metrics["num_replicas"]   # the CPU split in two
        2
    """
    from keras_resnet import data as data_lib

    if config is None:
        config = preset_for(data, settings.pop("preset", None), settings.get("weights"))
        model = model or finetune.saved_model_name(settings.get("weights"))
    if model is not None and "drop_path_rate" not in settings:
        settings["drop_path_rate"] = None
    config = config.replace(model=model if isinstance(model, str) else None, **settings)
    # Before the data touches a device: splitting the CPU must come first.
    distribution = resolve_distribution(config.strategy, config.devices)
    if config.seed is not None:
        # TensorFlow pairs the data's shuffle and augmentation seeds with its global
        # seed: set it first, so that a run repeats exactly even within one process.
        keras.utils.set_random_seed(config.seed)
    if hasattr(data, "train") and hasattr(data, "class_names"):
        image_data = data
    else:
        image_data = data_lib.load_data(
            data,
            image_size=config.image_size,
            batch_size=distribution.global_batch_size(config.batch_size),
            validation_split=config.validation_split,
            seed=config.seed or 0,
            augment=config.augment,
            mixup=config.mixup,
            cutmix=config.cutmix,
        )
    label = data_label(data)
    named = config.model if model is None or isinstance(model, str) else None
    if config.run_name is None and named and label:
        config = config.replace(run_name=f"{canonical_name(named).lower()}-{label}")
    metadata = dict(metadata or {})
    if label:
        metadata.setdefault("data", data_source(data))
        metadata.setdefault("validation_split", config.validation_split)
        metadata.setdefault("seed", config.seed)
    return fit(
        model,
        image_data,
        config.replace(strategy=distribution, devices=None),
        callbacks=callbacks,
        metadata=metadata,
    )


def resolve_distribution(
    strategy: str | Distribution = "auto", devices: int | Sequence[str] | None = None
) -> Distribution:
    """The :class:`~keras_resnet.distribute.Distribution` for a strategy name or object.

    Args:
        strategy: a name for :func:`keras_resnet.distribute.get_distribution`, or a
            ``Distribution``, returned as it is.
        devices: the device count or names for a strategy name.

    Returns:
        The distribution.

    Raises:
        ValueError: see :func:`keras_resnet.distribute.get_distribution`, or devices
            given with a ``Distribution``.

    Example:
        >>> resolve_distribution("none").num_replicas
        1
    """
    if isinstance(strategy, Distribution):
        if devices is not None:
            raise ValueError(
                "devices goes with a strategy name; a Distribution has its devices already."
            )
        return strategy
    return get_distribution(strategy, devices)


def fit_verbosity(verbose: int | str) -> int | str:
    """Keras's ``fit`` verbosity: ``"auto"`` is the progress bar on a terminal, else one
    line per epoch, as a bar's carriage returns fill a log file with thousands of updates.

    Example:
        >>> fit_verbosity("auto")   # output piped to a file
        2
    """
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() else 2


def _check_settings(config: TrainConfig) -> None:
    if config.epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {config.epochs}.")
    if config.early_stopping is not None and config.early_stopping < 1:
        raise ValueError(
            f"early_stopping must be a patience of at least 1, got {config.early_stopping}."
        )
    check_optimizer(config.optimizer)
    finetune.schedule(config)


def _model_kwargs(config: TrainConfig, model) -> dict[str, Any]:
    """``model_kwargs`` plus the config's model settings that ``model`` takes.

    One rule for ``drop_path_rate`` and ``zero_init_last``: a named model takes both;
    a builder of the user's gets each one its signature names (or all, with
    ``**kwargs``), so a builder without them still works. A ``drop_path_rate`` that
    cannot reach the model (a built one, or a builder without it) is an error.
    """
    kwargs = dict(config.model_kwargs)
    if (
        config.drop_path_rate is not None
        and callable(model)
        and not _builds_with(model, "drop_path_rate")
    ):
        # Stochastic depth is asked for by name (a preset's is dropped with a model of
        # the user's, in train), so ignoring it would train a different model.
        what = "a built model" if isinstance(model, keras.Model) else f"the builder {model!r}"
        raise ValueError(
            f"drop_path_rate={config.drop_path_rate} cannot reach {what}: it is fixed when "
            "the model is built. Build the model with it (a builder of yours can take a "
            "drop_path_rate argument), or leave drop_path_rate unset."
        )
    settings = {"drop_path_rate": config.drop_path_rate, "zero_init_last": config.zero_init_last}
    for name, value in settings.items():
        if value is not None and _builds_with(model, name):
            kwargs.setdefault(name, value)
    return kwargs


def _builds_with(model, argument: str) -> bool:
    """Whether ``model``, a name or a builder, is built with ``argument``; a built model is not."""
    if isinstance(model, str):
        return True
    if isinstance(model, keras.Model):
        return False
    try:
        parameters = inspect.signature(model).parameters.values()
    except (TypeError, ValueError):  # not callable, or a C callable: the plain signature
        return False
    return any(p.name == argument or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _build_model(model, data, policy: str, model_kwargs: dict) -> tuple[keras.Model, str]:
    num_classes = check_class_count(data.class_names)
    input_shape = tuple(data.image_shape)
    if isinstance(model, keras.Model):
        if policy != "float32" and model.dtype_policy.name != policy:
            raise ValueError(
                f"mixed_precision={policy!r} must be set before the model is built, but a "
                f"built {model.dtype_policy.name} model was given. Pass the model's name or "
                "a function that builds it instead."
            )
        name = model.name
    elif isinstance(model, str):
        name = canonical_name(model)
        model = get_model(name, num_classes=num_classes, input_shape=input_shape, **model_kwargs)
    elif callable(model):
        model = model(num_classes=num_classes, input_shape=input_shape, **model_kwargs)
        name = model.name
    else:
        raise ValueError(f"model must be a name, a keras.Model or a builder, got {model!r}.")
    outputs = model.output_shape[-1]
    if outputs != num_classes:
        raise ValueError(
            f"The model has {outputs} outputs but the data has {num_classes} classes "
            f"({', '.join(data.class_names[:10])}...): build it with num_classes={num_classes}."
        )
    return model, name


def _train(run: _Run, resumed_from_epoch: int, callbacks) -> float:
    """Compiles and fits the model, phase by phase; returns the seconds fitting took."""
    config, distribution = run.config, run.distribution
    phases = finetune.schedule(config)
    if config.verbose != 0:
        if config.preset:
            print(f"preset: {config.preset}")
        if config.weights is not None:
            print(f"weights: {os.fspath(config.weights)}")
        print(distribution.describe())
        print(
            f"batch: {run.batch_size} images per step "
            f"({run.batch_size // distribution.num_replicas} per replica); "
            f"peak learning rate {run.peak_learning_rate:.4g}"
        )
    backups = [run_dir.phase_backup(run.paths, n, len(phases)) for n in range(1, len(phases) + 1)]
    is_dir = os.path.isdir
    seconds = 0.0
    for number, phase in enumerate(phases, 1):
        # A resumed run skips the phases a later backup covers. A finished phase whose
        # backup is the newest (the run stopped between phases) is fitted again for no
        # epochs: its backup restores the model as the phase left it.
        newest = is_dir(backups[number - 1]) and not any(map(is_dir, backups[number:]))
        if resumed_from_epoch >= phase.last_epoch and not newest:
            continue
        if config.verbose != 0 and len(phases) > 1:
            print(f"phase {number}/{len(phases)}: {phase.describe()}")
        seconds += _fit_phase(
            run,
            phase,
            max(resumed_from_epoch, phase.first_epoch),
            callbacks,
            backup=backups[number - 1],
            keep_backup=number < len(phases),
        )
    # The phases' kept backups go once the run is complete, as a one-phase run's does.
    if len(phases) > 1:
        shutil.rmtree(run.paths.backup, ignore_errors=True)
    return seconds


def _fit_phase(
    run: _Run,
    phase: finetune.Phase,
    resumed_from_epoch: int,
    callbacks,
    backup: str,
    keep_backup: bool,
) -> float:
    """Prepares, compiles and fits one phase; returns the seconds ``model.fit`` took."""
    config, distribution, data = run.config, run.distribution, run.data
    with distribution.scope():
        phase.prepare(run.model)
        optim.compile_for_run(
            run.model,
            config.replace(epochs=phase.epochs),
            steps_per_epoch=batches.steps_per_epoch(data, run.batch_size),
            batch_size=run.batch_size,
            peak=run.peak_learning_rate * phase.learning_rate_multiplier,
            soft_labels=data.train.element_spec[1].dtype.is_floating,
            layer_rates=phase.layer_rates(),
        )
    own_callbacks = run_callbacks(
        run.paths,
        has_validation=data.validation is not None,
        early_stopping=config.early_stopping,
        resumed_from_epoch=resumed_from_epoch,
        metadata={"class_names": run.class_names, **run.saved_metadata},
        backup=backup,
        keep_backup=keep_backup,
    )
    start = time.perf_counter()
    with distribution.fitting(run.model):
        run.model.fit(
            batches.divisible_batches(
                data.train, distribution, run.batch_size, getattr(data, "num_train", None)
            ),
            validation_data=batches.divisible_batches(
                data.validation,
                distribution,
                run.batch_size,
                getattr(data, "num_validation", None),
            ),
            initial_epoch=phase.first_epoch,
            epochs=phase.last_epoch,
            callbacks=[*optim.ema_callbacks(run.model), *own_callbacks, *callbacks],
            # The pipeline shuffles; Keras would only warn that it cannot.
            shuffle=False,
            verbose=fit_verbosity(config.verbose),
        )
    compat.forget_restored_epoch(run.model)
    return time.perf_counter() - start


def _finish(run: _Run, resumed_from_epoch: int, train_seconds: float) -> TrainResult:
    """Precise BN, the saved model, the metrics; the chief also tests and plots."""
    config, distribution, paths = run.config, run.distribution, run.paths
    history = read_training_log(paths.log)
    losses = history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise ValueError(
            f"Training diverged: the loss became {losses[-1]} in epoch {len(losses)}. "
            "Lower the learning rate or use optimizer='adamw'."
        )
    statistics_images = 0
    unaugmented = getattr(run.data, "train_unaugmented", None)
    if config.recompute_batch_norm and unaugmented is not None:
        with distribution.scope():
            statistics_images = precise_bn.recompute_statistics(run.model, unaugmented)
        if config.verbose != 0 and statistics_images:
            print(f"batch-norm statistics recomputed from {statistics_images} training images")
    saving.save_model(run.model, paths.model, class_names=run.class_names, **run.saved_metadata)
    metrics = _metrics(run, history, resumed_from_epoch, train_seconds, statistics_images)
    is_chief = paths == run.chief_paths
    confusion_path = _test(run, metrics) if is_chief else None
    if is_chief:
        plot_training_curves(history, paths.curves)
        with open(paths.class_names, "w", encoding="utf-8") as file:
            file.write("".join(f"{name}\n" for name in run.class_names))
        saving.write_json(paths.metrics, metrics)
    # A worker's folder is about to go: its result names the chief's, where results are.
    shown = run.chief_paths
    return TrainResult(
        model=run.model,
        history=history,
        metrics=metrics,
        run_dir=shown.run_dir,
        model_path=shown.model,
        best_model_path=shown.best if os.path.exists(shown.best) else None,
        metrics_path=shown.metrics,
        curves_path=shown.curves,
        confusion_matrix_path=confusion_path,
        log_path=shown.log,
        resumed_from_epoch=resumed_from_epoch,
        is_chief=is_chief,
    )


def _metrics(
    run: _Run,
    history: dict[str, list[float]],
    resumed_from_epoch: int,
    train_seconds: float,
    statistics_images: int,
) -> dict[str, Any]:
    replicas = run.distribution.num_replicas
    metrics: dict[str, Any] = {
        "model_name": run.model_name,
        "run_name": run.config.run_name,
        "preset": run.config.preset,
        "augment": getattr(run.data, "augment", None),
        "backend": keras.backend.backend(),
        "dtype_policy": run.policy,
        "strategy": run.distribution.name,
        "num_replicas": replicas,
        "epochs": run.config.epochs,
        "epochs_run": len(history.get("loss", [])),
        "resumed_from_epoch": resumed_from_epoch,
        "train_seconds": round(train_seconds, 2),
        "batch_size": run.batch_size,
        "per_replica_batch_size": run.batch_size // replicas,
        "optimizer": run.config.optimizer,
        "peak_learning_rate": run.peak_learning_rate,
        "ema_momentum": run.config.ema_momentum,
        "weights": None if run.config.weights is None else os.fspath(run.config.weights),
        "phases": [
            {
                **phase.to_dict(),
                "peak_learning_rate": run.peak_learning_rate * phase.learning_rate_multiplier,
            }
            for phase in finetune.schedule(run.config)
        ],
        "image_size": list(run.data.image_shape[:2]),
        "num_train": getattr(run.data, "num_train", None),
        "batch_norm_statistics_images": statistics_images,
        "class_names": run.class_names,
    }
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if history.get(key):
            # JSON has no NaN: a value the epoch did not log (no validation) is null.
            last = history[key][-1]
            metrics[f"final_{key}"] = last if math.isfinite(last) else None
    logged = [value for value in history.get("val_accuracy", []) if math.isfinite(value)]
    if logged:
        metrics["best_val_accuracy"] = max(logged)
    return metrics


def _test(run: _Run, metrics: dict[str, Any]) -> str | None:
    """Evaluates on the test split (else validation) into ``metrics``; the confusion plot."""
    from keras_resnet import evaluation

    data = run.data
    split = "test" if data.test is not None else "validation"
    test_data = data.test if data.test is not None else data.validation
    if test_data is None:
        return None
    # One device sees every test image (a distribution would want batches that divide
    # over its replicas); the saved file is what users will load, too.
    evaluated = (
        run.model
        if run.distribution.name == "none"
        else saving.load_model(run.paths.model, compile=False)[0]
    )
    report = evaluation.evaluate(
        evaluated,
        test_data,
        class_names=run.class_names,
        top_k=run.config.top_k,
        output_dir=run.paths.run_dir,
    )
    confusion_path = report.pop("confusion_matrix_path", None)
    metrics["evaluated_on"] = split
    for key, value in report.items():
        metrics[f"{split}_{key}"] = value
    if split == "test" and data.validation is not None:
        # The final model on the held-out images too, so that settings can be chosen
        # on validation figures from the same run that reports the test ones.
        held_out = evaluation.evaluate(
            evaluated, data.validation, class_names=run.class_names, top_k=run.config.top_k
        )
        for key, value in held_out.items():
            if isinstance(value, int | float):  # accuracy, top-k, loss, num_examples
                metrics[f"validation_{key}"] = value
    return confusion_path
