"""The optimizer side of the recipe: scaled learning rate, warm-up and cosine, weight decay.

- SGD with Nesterov momentum 0.9 or AdamW.
- The linear scaling rule: the peak learning rate is ``base * batch_size / 256``
  (Goyal et al. 2017, "Accurate, Large Minibatch SGD"); the base rates per optimizer
  are in :mod:`keras_resnet.training.config`.
- Linear warm-up from 0 to the peak, then cosine decay to 0 (Keras's ``CosineDecay``
  with ``warmup_target``, which saved models deserialize without custom objects).
- Weight decay on conv and dense kernels only: BN ``gamma``/``beta`` and biases are
  excluded, as decaying them only hurts (Goyal et al. 2017; timm, torchvision recipes).
- Optionally an exponential moving average of the weights (Polyak averaging; timm's and
  torchvision's ``--model-ema``), kept by the Keras optimizer itself (``use_ema``):
  Keras writes the average into the model when ``fit`` ends, and :func:`averaged_weights`
  puts it there for a moment, e.g. to save a checkpoint during training.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import keras

from keras_resnet.losses import SparseCategoricalCrossentropy
from keras_resnet.optimizers import LayerRatesAdamW, LayerRatesSGD
from keras_resnet.training.config import (
    BASE_LEARNING_RATES,
    DEFAULT_WEIGHT_DECAY,
    TrainConfig,
    check_optimizer,
)

# Substrings of variable names (Keras matches ``variable.name``, the short name)
# left out of weight decay: BN scale and offset, and every bias.
NO_DECAY_NAMES = ("gamma", "beta", "bias")


def scaled_learning_rate(
    batch_size: int, optimizer: str = "sgd", base_learning_rate: float | None = None
) -> float:
    """The peak learning rate by the linear scaling rule: ``base * batch_size / 256``.

    Args:
        batch_size: images per step (over all replicas).
        optimizer: ``"sgd"`` (base 0.1) or ``"adamw"`` (base 1e-3).
        base_learning_rate: the rate for 256 images, overriding the optimizer's.

    Returns:
        The learning rate for ``batch_size``.

    Raises:
        ValueError: on an unknown optimizer or a batch size below 1.

    Example:
        >>> scaled_learning_rate(64, "sgd")
        0.025
    """
    optimizer = check_optimizer(optimizer)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    base = BASE_LEARNING_RATES[optimizer] if base_learning_rate is None else base_learning_rate
    return base * batch_size / 256


def peak_learning_rate(config: TrainConfig, batch_size: int) -> float:
    """The run's peak learning rate: ``config.learning_rate``, else the scaled base rate.

    Args:
        config: the run's settings.
        batch_size: the global batch.

    Returns:
        The peak learning rate.

    Raises:
        ValueError: on a learning rate that is not positive or an unknown optimizer.

    Example:
        >>> peak_learning_rate(PRESETS["digits"], 64)
        0.2
    """
    if config.learning_rate is None:
        return scaled_learning_rate(batch_size, config.optimizer, config.base_learning_rate_for())
    if not config.learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {config.learning_rate}.")
    return config.learning_rate


def warmup_cosine_schedule(
    peak_learning_rate: float, total_steps: int, warmup_steps: int = 0, alpha: float = 0.0
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up from 0 to ``peak_learning_rate``, then cosine decay.

    Warm-up keeps the first large steps, taken while BN statistics and the random
    classifier are still far off, from throwing the weights into a bad region.

    Args:
        peak_learning_rate: the rate at the end of the warm-up.
        total_steps: steps of the whole run, warm-up included.
        warmup_steps: steps of the linear warm-up.
        alpha: the final rate as a fraction of the peak.

    Returns:
        A ``keras.optimizers.schedules.CosineDecay``, which needs no custom objects
        to reload.

    Raises:
        ValueError: if ``total_steps < 1`` or the warm-up is not shorter than the run.

    Example:
        >>> schedule = warmup_cosine_schedule(0.1, total_steps=1000, warmup_steps=100)
        >>> float(schedule(100))
        0.1
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}.")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"warmup_steps must be in [0, total_steps), got {warmup_steps} of {total_steps}."
        )
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(peak_learning_rate, total_steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=total_steps - warmup_steps,
        alpha=alpha,
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
    )


def make_optimizer(
    optimizer: str = "sgd",
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.1,
    weight_decay: float | None = None,
    momentum: float = 0.9,
    ema_momentum: float | None = None,
    layer_rates: Mapping[str, float] | None = None,
) -> keras.optimizers.Optimizer:
    """SGD with Nesterov momentum or AdamW, decaying kernels but not BN or biases.

    Args:
        optimizer: ``"sgd"`` or ``"adamw"``.
        learning_rate: a float or a schedule.
        weight_decay: decoupled decay; None takes ``DEFAULT_WEIGHT_DECAY``, 0 disables.
        momentum: SGD momentum (ignored by AdamW).
        ema_momentum: keep an exponential moving average of the trainable weights,
            ``average = ema_momentum * average + (1 - ema_momentum) * weights`` after
            every step (the first step copies the weights); None keeps none. Keras's
            ``fit`` ends by writing the average into the model.
        layer_rates: top-level layer names whose variables train at a factor of the
            schedule's rate (their weight decay too), e.g. ``{"predictions": 10.0}``;
            None or factors of one give Keras's own optimizer.

    Returns:
        A Keras optimizer, not yet built.

    Raises:
        ValueError: on an unknown optimizer, a negative weight decay, an
            ``ema_momentum`` outside [0, 1) or a rate factor that is not positive.

    Example:
        >>> opt = make_optimizer("adamw", learning_rate=1e-3, weight_decay=0.05)
    """
    optimizer = check_optimizer(optimizer)
    layer_rates = {name: factor for name, factor in (layer_rates or {}).items() if factor != 1}
    if weight_decay is None:
        weight_decay = DEFAULT_WEIGHT_DECAY[optimizer]
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be at least 0, got {weight_decay}.")
    if ema_momentum is not None and not 0 <= ema_momentum < 1:
        raise ValueError(f"ema_momentum must be in [0, 1), got {ema_momentum}.")
    options: dict[str, Any] = {"layer_rates": layer_rates} if layer_rates else {}
    if ema_momentum is not None:
        options.update(use_ema=True, ema_momentum=ema_momentum)
    if optimizer == "sgd":
        result = (LayerRatesSGD if layer_rates else keras.optimizers.SGD)(
            learning_rate,
            momentum=momentum,
            nesterov=True,
            weight_decay=weight_decay or None,
            **options,
        )
    else:
        result = (LayerRatesAdamW if layer_rates else keras.optimizers.AdamW)(
            learning_rate, weight_decay=weight_decay, **options
        )
    # Names, not variables: the optimizer is created before it sees the model. The
    # exclusion is not part of the optimizer's config, so compile_model sets it again
    # whenever a run is resumed.
    result.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))
    return result


def _averaging_optimizer(model: keras.Model) -> keras.optimizers.Optimizer | None:
    """The model's optimizer if it keeps a moving average of the weights, else None."""
    optimizer = getattr(model, "optimizer", None)
    # A float16 run's LossScaleOptimizer keeps the average in the optimizer it wraps.
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return optimizer if getattr(optimizer, "use_ema", False) else None


@contextlib.contextmanager
def averaged_weights(model: keras.Model) -> Iterator[keras.Model]:
    """Puts the optimizer's moving average of the weights into the model for a moment.

    The trained weights come back on exit. Without an average (no ``ema_momentum``,
    or an optimizer not yet built) the model is left as it is.

    Args:
        model: a compiled model.

    Yields:
        The model, holding the averaged weights.

    Example:
        >>> with averaged_weights(model):
        ...     model.save("averaged.keras")
    """
    optimizer = _averaging_optimizer(model)
    if optimizer is None or not optimizer.built:
        yield model
        return
    trained = [keras.ops.convert_to_numpy(variable) for variable in model.trainable_variables]
    model.optimizer.finalize_variable_values(model.trainable_variables)
    try:
        yield model
    finally:
        for variable, value in zip(model.trainable_variables, trained, strict=True):
            variable.assign(value)


def ema_callbacks(model: keras.Model) -> list[keras.callbacks.Callback]:
    """Keras's callback that validates the averaged weights, where the optimizer has them.

    ``SwapEMAWeights`` swaps the average in before each validation and back after it,
    so that ``val_accuracy`` measures the weights the run will save.
    """
    return [] if _averaging_optimizer(model) is None else [keras.callbacks.SwapEMAWeights()]


def check_counts(**counts: int) -> None:
    """Raises a ValueError naming the first of ``counts`` that is below 1."""
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")


def compile_model(
    model: keras.Model,
    *,
    epochs: int,
    steps_per_epoch: int,
    batch_size: int,
    optimizer: str = TrainConfig.optimizer,
    learning_rate: float | None = None,
    base_learning_rate: float | None = None,
    warmup_epochs: float | None = None,
    weight_decay: float | None = None,
    label_smoothing: float = TrainConfig.label_smoothing,
    momentum: float = TrainConfig.momentum,
    ema_momentum: float | None = TrainConfig.ema_momentum,
    top_k: int = TrainConfig.top_k,
    jit_compile: bool | str = TrainConfig.jit_compile,
    soft_labels: bool = False,
    layer_rates: Mapping[str, float] | None = None,
) -> keras.Model:
    """Compiles a model with the training recipe.

    Args:
        model: a classifier ending in softmax (as every keras_resnet model does).
        epochs: epochs of the whole run; the cosine decay ends with the last step.
        steps_per_epoch: optimizer steps per epoch.
        batch_size: images per step, for the linear scaling rule.
        optimizer: ``"sgd"`` (Nesterov momentum) or ``"adamw"``.
        learning_rate: the peak learning rate; None applies the scaling rule.
        base_learning_rate: the peak rate per 256 images for the scaling rule.
        warmup_epochs: epochs of linear warm-up; None takes 10% of the run, at most 5.
        weight_decay: see :func:`make_optimizer`.
        label_smoothing: see :class:`~keras_resnet.losses.SparseCategoricalCrossentropy`.
        momentum: SGD momentum.
        ema_momentum: keep a moving average of the weights; see :func:`make_optimizer`.
        top_k: also report top-k accuracy when the model has more than k classes.
        jit_compile: XLA: ``"auto"`` is Keras's choice, which is off on the TensorFlow
            CPU backend and on torch (benchmarks/RESULTS.md).
        soft_labels: the labels are one-hot or soft (mixup, cutmix) rather than
            class indices: use categorical instead of sparse loss and metrics.
        layer_rates: layers that train at a factor of the schedule's rate; see
            :func:`make_optimizer`.

    Returns:
        The same model, compiled.

    Raises:
        ValueError: on a non-positive epoch, step or batch count, an unknown
            optimizer, or a warm-up as long as the run.

    Example:
        >>> model = compile_model(ResNet20(num_classes=10), epochs=15, steps_per_epoch=23,
        ...                       batch_size=64)
    """
    check_counts(epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size)
    if learning_rate is None:
        learning_rate = scaled_learning_rate(batch_size, optimizer, base_learning_rate)
    elif not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}.")
    if warmup_epochs is None:
        warmup_epochs = min(5.0, 0.1 * epochs)
    total_steps = epochs * steps_per_epoch
    warmup_steps = min(round(warmup_epochs * steps_per_epoch), total_steps - 1)
    schedule = warmup_cosine_schedule(learning_rate, total_steps, warmup_steps)

    if soft_labels:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        top_k_metric = keras.metrics.TopKCategoricalAccuracy
    else:
        loss = SparseCategoricalCrossentropy(label_smoothing=label_smoothing)
        top_k_metric = keras.metrics.SparseTopKCategoricalAccuracy
    metrics: list[Any] = ["accuracy"]
    if model.output_shape[-1] > top_k:
        metrics.append(top_k_metric(k=top_k, name=f"top{top_k}_accuracy"))
    model.compile(
        optimizer=make_optimizer(
            optimizer, schedule, weight_decay, momentum, ema_momentum, layer_rates
        ),
        loss=loss,
        metrics=metrics,
        jit_compile=jit_compile,
    )
    return model


def compile_for_run(
    model: keras.Model,
    config: TrainConfig,
    *,
    steps_per_epoch: int,
    batch_size: int,
    peak: float,
    soft_labels: bool,
    layer_rates: Mapping[str, float] | None = None,
) -> keras.Model:
    """Compiles ``model`` with ``config``'s recipe at the peak rate the run computed once.

    ``layer_rates`` gives layers a factor of that rate (:func:`make_optimizer`).

    Example:
        >>> compile_for_run(model, config, steps_per_epoch=23, batch_size=64, peak=0.2,
        ...                 soft_labels=True)
    """
    return compile_model(
        model,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        optimizer=config.optimizer,
        learning_rate=peak,
        warmup_epochs=config.warmup_epochs,
        weight_decay=config.weight_decay,
        label_smoothing=config.label_smoothing,
        momentum=config.momentum,
        ema_momentum=config.ema_momentum,
        top_k=config.top_k,
        jit_compile=config.jit_compile,
        soft_labels=soft_labels,
        layer_rates=layer_rates,
    )
