"""The search on a data set: ``tune``, what it leaves behind, and the tuners it runs.

:func:`tune` is what ``keras-resnet tune`` runs: it loads the data, searches the
:class:`~keras_resnet.tuning.space.HyperResNet` space with a budgeted oracle
(:mod:`keras_resnet.tuning.oracles`), and writes ``<output>/<run_name>/``:
``best.keras`` (the best trial's model at its best epoch, with the class names,
hyperparameters, parameters and FLOPs inside), ``trials.csv`` and
``accuracy_vs_flops.png`` (:mod:`keras_resnet.tuning.report`), and ``tuner/``
(KerasTuner's project folder). A distributed worker trains trials and writes none of
the reports.

Example:
    >>> result = tune(max_trials=10, epochs=5, max_flops="10M")   # embedded digits
    >>> result.best_hyperparameters, result.best_model_path
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import keras_tuner

from keras_resnet import compat, saving, training
from keras_resnet.data.image_data import check_class_count
from keras_resnet.training.config import (
    PRESETS,
    VALIDATION_SPLIT,
    TrainConfig,
    choose_preset,
    data_label,
    data_source,
    preset_for,
)
from keras_resnet.tuning import oracles, report
from keras_resnet.tuning.space import DEFAULT_EPOCHS, HyperResNet, parse_count

BEST_MODEL_FILE = "best.keras"
TUNER_DIR = "tuner"

# What Keras says when a checkpoint's optimizer state is not loaded: a promoted
# Hyperband trial and the saved best model both start from a fresh optimizer.
SKIPPED_OPTIMIZER_WARNING = "Skipping variable loading for optimizer"


class RecordsTrials:
    """Tuner mixin: ``trials_run`` lists the trials this process ran.

    A distributed worker runs some of the search's trials; the chief runs none.
    """

    trials_run: list[str]

    def on_trial_begin(self, trial: keras_tuner.engine.trial.Trial) -> None:
        """Records the trial, then does what KerasTuner does.

        Args:
            trial: the trial about to run.
        """
        self.trials_run.append(trial.trial_id)
        super().on_trial_begin(trial)


class SearchTuner(RecordsTrials, compat.OptionalTensorBoard, keras_tuner.Tuner):
    """KerasTuner's ``Tuner`` that records its trials and runs without TensorBoard.

    Args:
        *args: ``keras_tuner.Tuner`` arguments: the oracle and the hypermodel.
        **kwargs: ``keras_tuner.Tuner`` keyword arguments.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        self.trials_run = []
        super().__init__(*args, **kwargs)


class HyperbandSearchTuner(RecordsTrials, compat.OptionalTensorBoard, keras_tuner.Hyperband):
    """KerasTuner's ``Hyperband`` with a given (budgeted) oracle.

    Hyperband's trial logic (epochs per round, the weights of the trial a promoted
    one continues) with the oracle of :func:`keras_resnet.tuning.oracles.make_oracle`.

    Args:
        oracle: a ``keras_tuner.oracles.HyperbandOracle``.
        hypermodel: the search space.
        **kwargs: ``keras_tuner.Tuner`` keyword arguments.
    """

    def __init__(self, oracle: Any, hypermodel: HyperResNet, **kwargs: Any):
        self.trials_run = []
        compat.init_hyperband_with_oracle(self, oracle, hypermodel, **kwargs)


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
    output: str | os.PathLike = TrainConfig.output,
    run_name: str | None = None,
    batch_size: int | None = None,
    seed: int | None = TrainConfig.seed,
    distribution_strategy: Any = None,
    overwrite: bool = False,
    *,
    image_size: int | Sequence[int] | None = None,
    steps_per_epoch: int | None = None,
    validation_split: float = VALIDATION_SPLIT,
    augment: str | None = TrainConfig.augment,
    verbose: int | str = 0,
    **hypermodel_kwargs: Any,
) -> TuneResult:
    """Searches ResNet width, depth and training choices on a data set: ``keras-resnet tune``.

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
        batch_size: images per step; None takes the batch size of the data's training
            preset (:func:`keras_resnet.training.config.preset_for`), as
            ``keras-resnet train`` does.
        seed: seeds the data split, the initialisation and the oracle.
        distribution_strategy: a ``tf.distribute`` strategy (TensorFlow backend),
            ``"mirrored"``, or a :class:`keras_resnet.distribute.Distribution`: each
            trial trains under it.
        overwrite: start afresh; False continues a search with the same run folder.
        image_size: images are resized to this; None takes the image size of the
            data's training preset (16 for the digits), as ``keras-resnet train`` does.
        steps_per_epoch: train on only this many batches per epoch (quick runs).
        validation_split: fraction of the training images held out for validation,
            where the data has no validation split; unlike the digits' training
            preset, a search always needs validation data.
        augment: augmentation of ``load_data``.
        verbose: KerasTuner's and Keras's verbosity.
        **hypermodel_kwargs: :class:`HyperResNet` arguments (``width``, ``depth``,
            ``block_type``, ``stem``, ``learning_rate``...). Images of at most
            :data:`~keras_resnet.training.config.SMALL_IMAGE_SIZE` pixels a side (those
            of the small-images preset) get the ``"cifar"`` stem unless ``stem`` is given,
            and the preset's ``zero_init_last`` unless ``model_kwargs`` names it.

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
    oracles.check_tuner(tuner)
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    training.check_counts(max_trials=max_trials, epochs=epochs)
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}.")
    max_params, max_flops = parse_count(max_params), parse_count(max_flops)
    strategy = _tf_strategy(distribution_strategy)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    image_data, batch_size = _load(data, image_size, batch_size, validation_split, seed, augment)
    steps = math.ceil(image_data.num_train / batch_size) if image_data.num_train else 1
    if steps_per_epoch is not None:
        steps = min(steps, steps_per_epoch)
    # Trials are built as the data's training preset builds its network: small images
    # get the CIFAR stem and the preset's start of each block's last BN scale.
    preset = PRESETS[choose_preset(image_data)]
    hypermodel_kwargs.setdefault("stem", "cifar" if preset.preset == "small_images" else None)
    if preset.zero_init_last is not None:
        model_kwargs = dict(hypermodel_kwargs.get("model_kwargs") or {})
        model_kwargs.setdefault("zero_init_last", preset.zero_init_last)
        hypermodel_kwargs["model_kwargs"] = model_kwargs
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

    run_dir = os.path.join(os.fspath(output), run_name or f"tune-{data_label(data) or 'data'}")
    is_worker = compat.is_distributed_worker()
    oracle = oracles.make_oracle(tuner, hypermodel, max_trials, epochs, seed)
    tuner_class = HyperbandSearchTuner if tuner == "hyperband" else SearchTuner
    search = tuner_class(
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
    with warnings.catch_warnings():
        # A promoted Hyperband trial goes on from the weights of the one it continues,
        # with a fresh optimizer and schedule: the checkpoint's optimizer state is unused.
        warnings.filterwarnings("ignore", message=SKIPPED_OPTIMIZER_WARNING)
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
    result.trials, result.trials_path, result.plot_path = report.write_reports(
        search, hypermodel, run_dir
    )
    _check_some_trial_completed(result, hypermodel)
    _save_best_model(result, search, image_data, data_source(data))
    return result


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


def _load(data, image_size, batch_size, validation_split, seed, augment):
    """The ``ImageData``, with validation data, and its batch size."""
    if hasattr(data, "train") and hasattr(data, "class_names"):
        image_data, batch_size = data, batch_size or training.batch_size_of(data)
    else:
        from keras_resnet import data as data_lib

        preset = preset_for(data)
        batch_size = batch_size or preset.batch_size
        image_data = data_lib.load_data(
            data,
            image_size=image_size if image_size is not None else preset.image_size,
            batch_size=batch_size,
            validation_split=validation_split,
            seed=TrainConfig.seed if seed is None else seed,
            augment=augment,
        )
    check_class_count(image_data.class_names)
    if image_data.validation is None:
        raise ValueError(
            "tune ranks trials by validation accuracy: use validation_split > 0 or data "
            "with a validation split."
        )
    return image_data, batch_size


def _check_some_trial_completed(result: TuneResult, hypermodel: HyperResNet) -> None:
    rows = result.trials
    if any(row["status"] == "completed" for row in rows):
        return
    notes = [row["note"] for row in rows if row["note"]]
    raise ValueError(
        f"No trial completed ({len(rows)} trials, {result.resampled} configurations "
        f"drawn over the budget max_params={hypermodel.max_params}, "
        f"max_flops={hypermodel.max_flops}). Raise the budget or narrow the space "
        f"(smaller width or depth)." + (f" Last failure: {notes[-1]}" if notes else "")
    )


def _save_best_model(result: TuneResult, search, image_data, source: str | None) -> None:
    """Saves the best trial's model as ``best.keras``, tested where there is a test split."""
    best_trial = search.oracle.get_best_trials(1)[0]
    best_row = next(row for row in result.trials if row["trial_id"] == best_trial.trial_id)
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
        evaluation = model.evaluate(image_data.test, verbose=0, return_dict=True)
        result.test_accuracy = float(evaluation["accuracy"])
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
