"""A run's training log read back, and its loss and accuracy curves plotted."""

from __future__ import annotations

import csv
import math
import os

from keras_resnet import saving


def read_training_log(path: str | os.PathLike) -> dict[str, list[float]]:
    """Reads the CSVLogger file of a run into ``{metric: [value per epoch]}``.

    Args:
        path: ``training_log.csv`` of a run folder.

    Returns:
        The metrics by epoch, in epoch order; empty if the file does not exist.

    Example:
        >>> read_training_log("saved_models/resnet20-digits/training_log.csv")["loss"][-1]
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as file:
        rows = sorted(csv.DictReader(file), key=lambda row: int(row["epoch"]))
    history: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if key == "epoch":
                continue
            # CSVLogger writes "NA" for a metric an epoch did not log.
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            history.setdefault(key, []).append(number)
    return history


def plot_training_curves(history: dict[str, list[float]], path: str | os.PathLike) -> str:
    """Plots loss and accuracy per epoch, training and validation, to a PNG.

    Args:
        history: ``{metric: [value per epoch]}``, e.g. ``TrainResult.history``.
        path: the ``.png`` to write.

    Returns:
        The path written.

    Example:
        >>> plot_training_curves(result.history, "curves.png")
        'curves.png'
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot's import
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = [("loss", "loss"), ("accuracy", "accuracy")]
    figure, axes = plt.subplots(1, len(panels), figsize=(10, 4))
    for axis, (metric, title) in zip(axes, panels, strict=True):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            values = history.get(key)
            # A run without validation logs its val_ columns as NaN: nothing to draw.
            if values and any(math.isfinite(value) for value in values):
                axis.plot(range(1, len(values) + 1), values, marker="o", label=label)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
    figure.tight_layout()
    return saving.save_figure(figure, path)
