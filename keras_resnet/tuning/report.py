"""Reports of a search: the trials table, the Pareto front and the accuracy-vs-FLOPs plot.

:func:`trial_rows` reads every trial of a search (its choices, cost, accuracy, time
and status) from the oracle; :func:`write_trials_csv` writes them as ``trials.csv`` and
:func:`plot_accuracy_vs_flops` as ``accuracy_vs_flops.png``, the trials that no cheaper
trial beats (:func:`pareto_front`) joined by a line.

Example:
    >>> rows = trial_rows(result.tuner, result.tuner.hypermodel)
    >>> write_trials_csv(rows, "trials.csv"), plot_accuracy_vs_flops(rows, "plot.png")
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from typing import Any

import keras_tuner

from keras_resnet import saving
from keras_resnet.tuning.space import OBJECTIVE, OVER_BUDGET, HyperResNet

TRIALS_FILE = "trials.csv"
PLOT_FILE = "accuracy_vs_flops.png"


def write_reports(
    search: keras_tuner.Tuner, hypermodel: HyperResNet, run_dir: str
) -> tuple[list[dict[str, Any]], str, str]:
    """Writes ``trials.csv`` and ``accuracy_vs_flops.png`` of a search to ``run_dir``.

    Args:
        search: a tuner whose oracle holds the trials (not a distributed worker's).
        hypermodel: the search's :class:`HyperResNet`.
        run_dir: the run folder.

    Returns:
        The rows of :func:`trial_rows`, the table's path and the plot's path.
    """
    rows = trial_rows(search, hypermodel)
    trials_path = write_trials_csv(rows, os.path.join(run_dir, TRIALS_FILE))
    plot_path = plot_accuracy_vs_flops(
        rows,
        os.path.join(run_dir, PLOT_FILE),
        max_flops=hypermodel.max_flops,
        title=f"{os.path.basename(run_dir)}: {len(rows)} trials",
    )
    return rows, trials_path, plot_path


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
