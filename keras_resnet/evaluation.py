"""Evaluating a trained classifier and predicting the classes of image files.

:func:`evaluate` reports accuracy, top-k accuracy, per-class precision, recall and F1
(scikit-learn's ``classification_report``) and plots the confusion matrix;
:func:`predict` gives the top-k class names of image files. Both take a model or the
path of a ``.keras`` file saved by :mod:`keras_resnet.saving`, whose metadata supplies
the class names and the image size. A 1000-class model saved without class names
(converted ImageNet weights, a plain ``model.save``) is named by the ImageNet classes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_resnet import imagenet, saving
from keras_resnet.data.defaults import EVALUATION_BATCH_SIZE, SEED, TOP_K, VALIDATION_SPLIT

CONFUSION_MATRIX_FILE = "confusion_matrix.png"


def evaluate(
    model: keras.Model | str | os.PathLike,
    data=None,
    *,
    top_k: int = TOP_K,
    output_dir: str | os.PathLike | None = None,
    class_names: Sequence[str] | None = None,
    batch_size: int = EVALUATION_BATCH_SIZE,
) -> dict[str, Any]:
    """Accuracy, top-k accuracy, a per-class report and a confusion matrix.

    Args:
        model: a ``keras.Model`` or the path of a ``.keras`` file.
        data: what to evaluate on:

            - an ``ImageData``: its test split, else its validation split;
            - a ``tf.data.Dataset`` of ``(images, labels)`` batches, or ``(x, y)`` arrays;
            - a source of :func:`keras_resnet.data.load_data` (a folder, ``"digits"``,
              ``"tfds:NAME"``), loaded at the model's saved image size without
              augmentation: its test split, else its validation split, else all of it.
              The source the model was trained on is split as in training (same
              seed and validation fraction), so its held-out images stay held out;
            - None: the source saved with the model, as above.
        top_k: the k of the top-k accuracy (capped at the number of classes).
        output_dir: where to write ``confusion_matrix.png``; None writes no plot.
        class_names: names of the classes; defaults to the model's saved names, then
            the data's, then for 1000 classes the ImageNet names, then ``"0"``, ``"1"``, ...
        batch_size: images per batch when loading a source.

    Returns:
        A JSON-serialisable dict: ``accuracy``, ``top{k}_accuracy``, ``loss``
        (cross-entropy), ``num_examples``, ``per_class`` (precision, recall, f1-score,
        support by class name), ``confusion_matrix`` (rows: true class), ``report``
        (the text table), ``split`` (the split evaluated, when chosen here) and
        ``confusion_matrix_path`` when a plot was written.

    Raises:
        FileNotFoundError: if a model path does not exist.
        ValueError: if the data holds no examples, cannot be loaded, has no split to
            evaluate, or its class names differ from the model's; or if ``data`` is
            None and the model was saved without its data source.

    Example:
        >>> report = evaluate("saved_models/resnet20-digits/model.keras", load_data())
        >>> print(report["accuracy"], report["report"])
    """
    from sklearn.metrics import classification_report, confusion_matrix

    model, metadata = saving.load_model_and_metadata(model)
    saved_names = metadata.get("class_names")
    from_source = data is None or isinstance(data, str | os.PathLike)
    if from_source:
        data = _load_source(data, metadata, batch_size)
    data_names = getattr(data, "class_names", None)
    if saved_names and data_names and list(saved_names) != list(data_names):
        raise ValueError(
            f"The data's classes {list(data_names)} are not the model's classes "
            f"{list(saved_names)}: evaluate on data with the classes it was trained on."
        )
    split, dataset = _evaluation_split(data, with_train=from_source)
    num_classes = model.output_shape[-1]
    names = [str(n) for n in (class_names or saved_names or data_names or _unnamed(num_classes))]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for a model with {num_classes} outputs.")

    labels, probabilities = _predict_dataset(model, dataset)
    if len(labels) == 0:
        raise ValueError("The evaluation data holds no examples.")
    if labels.max() >= num_classes or labels.min() < 0:
        raise ValueError(
            f"Labels range over {labels.min()}..{labels.max()} but the model has "
            f"{num_classes} classes."
        )
    k = min(top_k, num_classes)
    predictions = probabilities.argmax(axis=-1)
    top = np.argsort(-probabilities, axis=-1)[:, :k]
    eps = np.finfo(np.float32).tiny
    true_probability = probabilities[np.arange(len(labels)), labels]
    class_ids = list(range(num_classes))
    per_class = classification_report(
        labels,
        predictions,
        labels=class_ids,
        target_names=names,
        output_dict=True,
        zero_division=0,
    )
    matrix = confusion_matrix(labels, predictions, labels=class_ids)
    result: dict[str, Any] = {
        "accuracy": float((predictions == labels).mean()),
        f"top{k}_accuracy": float((top == labels[:, None]).any(axis=-1).mean()),
        "loss": float(-np.log(np.maximum(true_probability, eps)).mean()),
        "num_examples": int(len(labels)),
        "per_class": {name: _round_report(per_class[name]) for name in names},
        "macro_avg": _round_report(per_class["macro avg"]),
        "confusion_matrix": matrix.tolist(),
        "report": classification_report(
            labels,
            predictions,
            labels=class_ids,
            target_names=names,
            digits=4,
            zero_division=0,
        ),
    }
    if split is not None:
        result["split"] = split
    if output_dir is not None:
        path = os.path.join(os.fspath(output_dir), CONFUSION_MATRIX_FILE)
        result["confusion_matrix_path"] = plot_confusion_matrix(matrix, names, path)
    return result


def predict(
    model: keras.Model | str | os.PathLike,
    image_paths: Sequence[str | os.PathLike],
    *,
    top_k: int = TOP_K,
    image_size: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
) -> list[tuple[str, list[tuple[str, float]]]]:
    """The top-k classes of each image file, with their probabilities.

    Every file is read before the model runs, so one unreadable file fails the call
    at once, naming the file.

    Args:
        model: a ``keras.Model`` or the path of a ``.keras`` file.
        image_paths: image files (JPEG, PNG, GIF, BMP); any size, mode or channels.
        top_k: classes per image (capped at the number of classes).
        image_size: ``(height, width)`` to resize to; defaults to the saved image
            size, then the model's input size.
        class_names: defaults to the saved class names, then for 1000 classes the
            ImageNet names, then ``"0"``, ``"1"``, ...

    Returns:
        ``[(path, [(class_name, probability), ...]), ...]``, best class first.

    Raises:
        FileNotFoundError: if the model or an image does not exist.
        ValueError: if a file is not an image, no image paths are given, or the
            image size is unknown.

    Example:
        >>> for path, top in predict("saved_models/x/model.keras", ["cat.jpg"], top_k=3):
        ...     print(path, top[0])
    """
    from keras_resnet.data import load_image

    if not image_paths:
        raise ValueError("No images to predict: give one or more image files.")
    model, metadata = saving.load_model_and_metadata(model)
    saved_names = metadata.get("class_names")
    size = image_size or metadata.get("image_size") or model.input_shape[1:3]
    if size is None or None in tuple(size):
        raise ValueError(
            "The model takes any image size and none was saved with it: pass image_size."
        )
    size = tuple(int(s) for s in size)
    num_classes = model.output_shape[-1]
    names = [str(n) for n in (class_names or saved_names or _unnamed(num_classes))]
    paths = [os.fspath(path) for path in image_paths]
    for path in paths:
        if not os.path.exists(path):
            raise FileNotFoundError(f"No image file at {path!r}.")
    images = np.stack([load_image(path, size) for path in paths]).astype("float32")
    probabilities = np.asarray(model.predict(images, verbose=0), dtype="float64")
    k = min(top_k, num_classes)
    results = []
    for path, row in zip(paths, probabilities, strict=True):
        best = np.argsort(-row)[:k]
        results.append((path, [(names[i], float(row[i])) for i in best]))
    return results


def plot_confusion_matrix(
    matrix: np.ndarray | Sequence[Sequence[int]],
    class_names: Sequence[str],
    path: str | os.PathLike,
) -> str:
    """Plots a confusion matrix (rows: true class, columns: predicted) to a PNG.

    Args:
        matrix: counts, ``matrix[true][predicted]``.
        class_names: the name of each row and column.
        path: the ``.png`` to write.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot's import
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    n = len(class_names)
    side = min(4 + 0.5 * n, 30)
    figure, axis = plt.subplots(figsize=(side, side))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    if n <= 50:  # beyond that, labels overlap into a black bar
        axis.set_xticks(range(n), class_names, rotation=90 if n > 10 else 0)
        axis.set_yticks(range(n), class_names)
    if n <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                axis.text(
                    j,
                    i,
                    int(matrix[i, j]),
                    ha="center",
                    va="center",
                    color="white" if matrix[i, j] > threshold else "black",
                )
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title("confusion matrix")
    figure.tight_layout()
    return saving.save_figure(figure, path)


def _unnamed(num_classes: int) -> Sequence:
    """Names for a model that has none: ImageNet's for 1000 classes, else the indices."""
    if num_classes == imagenet.NUM_CLASSES:
        return imagenet.class_names()
    return range(num_classes)


def _load_source(source, metadata: dict, batch_size: int):
    from keras_resnet.data import load_data

    trained_on = metadata.get("data")
    if source is None:
        if trained_on is None:
            raise ValueError(
                "The model was saved without its data source: say what to evaluate on "
                "(a folder, 'digits' or 'tfds:NAME')."
            )
        source = trained_on
    source = os.fspath(source)
    same = trained_on is not None and _same_source(source, trained_on)
    image_size = metadata.get("image_size")
    return load_data(
        source,
        image_size=tuple(image_size) if image_size else None,
        batch_size=batch_size,
        # Re-split the training source exactly as in training; any other source is
        # evaluated whole (or by its own test/val folders).
        validation_split=float(metadata.get("validation_split", VALIDATION_SPLIT)) if same else 0.0,
        seed=int(metadata.get("seed") or SEED) if same else SEED,
        augment=None,
    )


def _same_source(a: str, b: str) -> bool:
    if a == b:
        return True
    return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)


def _evaluation_split(data, with_train: bool):
    if hasattr(data, "class_names") and hasattr(data, "train"):
        # A source loaded here has no augmentation, so its training split is fair
        # game; a caller's ImageData trains augmented.
        splits = ("test", "validation", "train") if with_train else ("test", "validation")
        for split in splits:
            if getattr(data, split, None) is not None:
                return split, getattr(data, split)
        raise ValueError("The data has no test or validation split to evaluate on.")
    return None, data


def _predict_dataset(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities in one pass, so a shuffled dataset keeps them paired."""
    if isinstance(dataset, tuple | list):
        images, labels = dataset
        probabilities = model.predict(np.asarray(images, dtype="float32"), verbose=0)
        return np.asarray(labels).reshape(-1).astype("int64"), np.asarray(probabilities)
    all_labels, all_probabilities = [], []
    for images, labels in dataset:
        all_probabilities.append(np.asarray(model.predict_on_batch(np.asarray(images))))
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[-1] > 1:  # one-hot or mixup's soft labels
            labels = labels.argmax(axis=-1)
        all_labels.append(labels.reshape(-1))
    if not all_labels:
        return np.zeros((0,), "int64"), np.zeros((0, model.output_shape[-1]))
    return (
        np.concatenate(all_labels).astype("int64"),
        np.concatenate(all_probabilities).astype("float64"),
    )


def _round_report(entry: dict) -> dict:
    return {
        key.replace("-", "_"): (int(value) if key == "support" else round(float(value), 6))
        for key, value in entry.items()
    }
