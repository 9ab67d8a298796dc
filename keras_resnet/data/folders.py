"""Image folders: their layout of splits and classes, and the image files in each class."""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def folder_layout(root: Path) -> dict[str, Path | None]:
    """The folder of each split: ``train/``, ``val/`` or ``validation/`` and ``test/``
    when ``root`` has a ``train/`` of class folders, else ``root`` itself for training.

    Raises:
        ValueError: ``root`` is not a folder.
    """
    if not root.is_dir():
        raise ValueError(
            f"Image folder {str(root)!r} does not exist. Pass a folder with one subfolder "
            "per class (e.g. photos/cats/*.jpg, photos/dogs/*.jpg), 'digits', or 'tfds:NAME'."
        )
    subfolders = {
        entry.name.lower(): entry
        for entry in root.iterdir()
        if entry.is_dir() and not entry.name.startswith(".")
    }
    train = subfolders.get("train")
    if train is not None and any(
        entry.is_dir() and not entry.name.startswith(".") for entry in train.iterdir()
    ):
        return {
            "train": train,
            "validation": subfolders.get("val") or subfolders.get("validation"),
            "test": subfolders.get("test"),
        }
    return {"train": root, "validation": None, "test": None}


def class_folders(folder: Path) -> list[str]:
    """The sorted names of a folder's class subfolders (hidden ones left out).

    Raises:
        ValueError: The folder has none.
    """
    names = sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.is_dir() and not entry.name.startswith(".")
    )
    if not names:
        raise ValueError(
            f"Image folder {str(folder)!r} has no class subfolders. Put each class's images "
            f"in a subfolder named after the class, e.g. {folder / 'cats'}/001.jpg."
        )
    return names


def list_images(folder: Path, class_names: list[str], split: str) -> tuple[list[str], list[int]]:
    """Every image file under each class folder (nested too, in sorted order), with labels.

    Raises:
        ValueError: The folder has a class that ``class_names`` lacks, or a class
            folder holds no image files.
    """
    present = class_folders(folder)
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise ValueError(
            f"The {split} folder {str(folder)!r} has classes {unknown} that the training "
            f"folder does not have ({class_names}). Use the same class subfolders."
        )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        if name not in present:
            continue
        found = []
        for directory, subdirectories, files in os.walk(folder / name):
            subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
            found.extend(
                os.path.join(directory, file)
                for file in sorted(files)
                if file.lower().endswith(IMAGE_EXTENSIONS) and not file.startswith(".")
            )
        if not found:
            raise ValueError(
                f"Class folder {str(folder / name)!r} has no images "
                f"({', '.join(IMAGE_EXTENSIONS)}). Add images to it or remove it."
            )
        paths.extend(found)
        labels.extend([label] * len(found))
    return paths, labels
