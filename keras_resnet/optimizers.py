"""Optimizers with a learning rate of their own for some layers, registered for reloading.

Light on purpose, like :mod:`keras_resnet.losses`: ``import keras_resnet`` imports it,
so that ``keras.saving.load_model`` finds the optimizer of a model fine-tuned with a
faster head (:func:`keras_resnet.training.make_optimizer`'s ``layer_rates``).
"""

from __future__ import annotations

from collections.abc import Mapping

import keras


class _LayerRates:
    """Keras's optimizer with a learning rate of its own for some top-level layers.

    ``layer_rates`` maps a layer name to a factor of the schedule's rate for the
    variables under it (``"predictions"`` covers ``predictions/kernel``); the rest
    train at the schedule's rate. Keras's optimizers have one rate for all variables,
    and ``model.fit`` takes one optimizer, so the factor is applied per variable in
    ``update_step``, which every backend calls for each variable (on torch, this
    class takes Keras's per-variable path, not the fused one of its own SGD and AdamW).
    """

    def __init__(self, *args, layer_rates: Mapping[str, float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        layer_rates = layer_rates or {}
        self.layer_rates = {str(name): float(factor) for name, factor in layer_rates.items()}
        for name, factor in self.layer_rates.items():
            if not factor > 0:
                raise ValueError(f"The rate factor of {name!r} must be positive, got {factor}.")

    def build(self, variables):
        super().build(variables)
        self._factors = [self._factor_of(variable.path) for variable in variables]

    def _factor_of(self, path: str) -> float:
        return next((f for name, f in self.layer_rates.items() if path.startswith(f"{name}/")), 1.0)

    def _factor(self, variable) -> float:
        return self._factors[self._get_variable_index(variable)]

    def _use_weight_decay(self, variable):
        # Keras decays every variable at the one rate; a variable of its own rate is
        # decayed in update_step instead, at that rate.
        return self._factor(variable) == 1.0 and super()._use_weight_decay(variable)

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factor(variable)
        if factor != 1.0:
            learning_rate = keras.ops.multiply(learning_rate, factor)
            if self.weight_decay and super()._use_weight_decay(variable):
                rate = keras.ops.cast(learning_rate, variable.dtype) * self.weight_decay
                self.assign_sub(variable, keras.ops.multiply(variable, rate))
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "layer_rates": dict(self.layer_rates)}


@keras.saving.register_keras_serializable(package="keras_resnet")
class LayerRatesSGD(_LayerRates, keras.optimizers.SGD):
    """``keras.optimizers.SGD`` with rates of their own for some layers (``layer_rates``)."""


@keras.saving.register_keras_serializable(package="keras_resnet")
class LayerRatesAdamW(_LayerRates, keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` with rates of their own for some layers (``layer_rates``)."""
