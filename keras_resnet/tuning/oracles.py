"""Oracles that keep to the compute budget: an over-budget draw never becomes a trial.

KerasTuner's random search, Bayesian optimisation and Hyperband oracles, each drawing
again while a configuration is over the budget. When ``BUDGET_ATTEMPTS`` draws in a
row are all over it, the space within the budget counts as used up and the oracle ends
the search, as KerasTuner's oracles end it when they draw only repeats.

Example:
    >>> hypermodel = HyperResNet(10, (32, 32, 3), stem="cifar", max_flops=20e6)
    >>> oracle = make_oracle("random", hypermodel, max_trials=10, epochs=5, seed=0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras_tuner

from keras_resnet import compat
from keras_resnet.tuning.space import OBJECTIVE, HyperResNet

TUNERS = ("random", "hyperband", "bayesian")

# Draws an oracle makes for one trial before it takes the space within the budget for
# used up. Each new architecture costs one model build without weights.
BUDGET_ATTEMPTS = 100


class BudgetedOracle(compat.FilteredRandomDraws):
    """Oracle mixin: draws again while a configuration is over the budget.

    Args:
        *args: the oracle's arguments.
        budget_check: says how a configuration's values exceed the budget, or None
            when they fit (:meth:`HyperResNet.check_budget`); None: no budget.
        budget_attempts: draws for one trial before the search ends.
        **kwargs: the oracle's keyword arguments.

    Attributes:
        resampled: configurations drawn over the budget and replaced.
    """

    def __init__(
        self,
        *args: Any,
        budget_check: Callable[[dict], str | None] | None = None,
        budget_attempts: int = BUDGET_ATTEMPTS,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.budget_check = budget_check
        self.budget_attempts = budget_attempts
        self.resampled = 0

    def fits(self, values: dict) -> bool:
        """Whether a configuration is within the budget.

        Args:
            values: the configuration's hyperparameter values.

        Returns:
            True when it fits or there is no budget.
        """
        return self.budget_check is None or self.budget_check(values) is None

    def filter_random_draws(self, draw: Callable[[], dict | None]) -> dict | None:
        """The first of up to ``budget_attempts`` draws within the budget, else None.

        Args:
            draw: KerasTuner's draw of one new configuration.

        Returns:
            The configuration's values; None when the space (or its part within the
            budget) is used up.
        """
        for _ in range(self.budget_attempts):
            values = draw()
            if values is None or self.fits(values):
                return values
            self.resampled += 1
        return None


class BudgetedRandomSearchOracle(BudgetedOracle, keras_tuner.oracles.RandomSearchOracle):
    """KerasTuner's random search within the budget."""


class BudgetedBayesianOracle(BudgetedOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    """KerasTuner's Bayesian optimisation within the budget."""

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """The next configuration: the Gaussian process's optimum, if within the budget.

        Args:
            trial_id: the trial to fill.

        Returns:
            KerasTuner's response: ``status`` and ``values``.
        """
        response = super().populate_space(trial_id)
        values = response.get("values")
        # The Gaussian process knows nothing of the budget: an over-budget optimum
        # gives way to a random configuration within it.
        if response["status"] == "RUNNING" and values and not self.fits(values):
            self.resampled += 1
            values = self.draw_random_values()
            if values is None:
                return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": values}
        return response


class BudgetedHyperbandOracle(BudgetedOracle, keras_tuner.oracles.HyperbandOracle):
    """KerasTuner's Hyperband within the budget, ended after ``max_trials`` trials.

    Args:
        *args: ``keras_tuner.oracles.HyperbandOracle`` arguments.
        max_trials: trials of the whole search; None: as many as the iterations.
        **kwargs: ``BudgetedOracle`` and ``HyperbandOracle`` keyword arguments.
    """

    def __init__(self, *args: Any, max_trials: int | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Hyperband has no trial limit of its own; the base oracle stops at this one.
        self.max_trials = max_trials


def check_tuner(name: str) -> None:
    """Raises ValueError unless ``name`` is one of ``TUNERS``.

    Args:
        name: the search algorithm's name.

    Raises:
        ValueError: on an unknown name.
    """
    if name not in TUNERS:
        raise ValueError(f"Unknown tuner {name!r}: use one of {', '.join(TUNERS)}.")


def make_oracle(
    name: str, hypermodel: HyperResNet, max_trials: int, epochs: int, seed: int | None
) -> BudgetedOracle:
    """The budgeted oracle of a search, maximising validation accuracy.

    Args:
        name: ``"random"``, ``"hyperband"`` or ``"bayesian"``.
        hypermodel: the search space, whose :meth:`HyperResNet.check_budget` is the
            budget.
        max_trials: trials of the whole search.
        epochs: Hyperband's most epochs of a trial.
        seed: seeds the draws; None: a random seed.

    Returns:
        The oracle.

    Raises:
        ValueError: on an unknown name.
    """
    check_tuner(name)
    common = dict(
        objective=keras_tuner.Objective(OBJECTIVE, "max"),
        # KerasTuner takes a seed of 0 for "none" and draws a random one.
        seed=None if seed is None else seed + 1,
        budget_check=hypermodel.check_budget,
    )
    if name == "random":
        return BudgetedRandomSearchOracle(max_trials=max_trials, **common)
    if name == "bayesian":
        return BudgetedBayesianOracle(max_trials=max_trials, **common)
    # max_trials ends the search; the iterations would otherwise end it first.
    return BudgetedHyperbandOracle(
        max_epochs=epochs, hyperband_iterations=None, max_trials=max_trials, **common
    )
