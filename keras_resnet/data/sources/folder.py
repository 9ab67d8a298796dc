"""The folder source: a folder of class subfolders, optionally split into train/val/test."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_resnet.data.caching import cache_side, cached_bytes, fingerprint
from keras_resnet.data.checks import ImageInfo, report_skipped, scan_images
from keras_resnet.data.folders import class_folders, folder_layout, list_images
from keras_resnet.data.image_data import ImageData
from keras_resnet.data.pipeline import build_image_data
from keras_resnet.data.plan import TransformPlan
from keras_resnet.data.sizes import folder_image_size
from keras_resnet.data.splits import Split, stratified_split
from keras_resnet.data.transforms import eval_crop_fraction


def _readable(
    paths: list[str], labels: list[int], infos: dict[str, ImageInfo]
) -> tuple[np.ndarray, np.ndarray]:
    """The paths and labels of the files the check found readable."""
    keep = [not infos[path].error for path in paths]
    kept = [path for path, readable in zip(paths, keep, strict=True) if readable]
    return np.asarray(kept), np.asarray(labels, np.int32)[np.asarray(keep, bool)]


def load_folder(
    root: Path,
    size: tuple[int, int] | None,
    validation_split: float,
    cache,
    plan_options: dict,
) -> ImageData:
    """Every readable image under ``root``'s class folders, unreadable ones reported.

    Without ``size``, :func:`sizes.folder_image_size` picks it from the images.

    Raises:
        ValueError: No such folder, no class folders, a class without images, or a
            training class whose images are all unreadable.
    """
    layout = folder_layout(root)
    class_names = class_folders(layout["train"])
    listed = {
        name: list_images(folder, class_names, name)
        for name, folder in layout.items()
        if folder is not None
    }
    everything = [path for paths, _ in listed.values() for path in paths]
    infos = dict(zip(everything, scan_images(everything), strict=True))
    skipped = [(path, info.error) for path, info in infos.items() if info.error]
    if skipped:
        report_skipped(root, skipped, stacklevel=3)

    splits = {name: _readable(paths, labels, infos) for name, (paths, labels) in listed.items()}
    missing = sorted(set(range(len(class_names))) - set(splits["train"][1].tolist()))
    if missing:
        raise ValueError(
            f"Class folder(s) {[class_names[i] for i in missing]} in {layout['train']} "
            "have no readable images (see the warning above). Add images or remove "
            "the folders."
        )
    if layout["validation"] is None and validation_split > 0:
        paths, labels = splits["train"]
        train, validation = stratified_split(labels, validation_split, plan_options["seed"])
        splits["train"] = (paths[train], labels[train])
        splits["validation"] = (paths[validation], labels[validation])

    size = size or folder_image_size(info.shape for info in infos.values() if not info.error)
    side = cache_side(size)
    built = {}
    for name, (paths, labels) in splits.items():
        if not len(paths):
            continue
        shapes = [infos[path].shape for path in paths]
        built[name] = Split(
            "files",
            len(paths),
            labels=labels,
            paths=paths,
            codecs=np.asarray([infos[path].codec for path in paths], np.int32),
            shapes=np.asarray(shapes, np.int64).reshape(-1, 2),
            cache_bytes=sum(cached_bytes(shape, side) for shape in shapes),
            eval_cache_bytes=len(paths) * size[0] * size[1] * 3,
            fingerprint=fingerprint(paths, size),
        )
    plan = TransformPlan(
        size, len(class_names), crop_fraction=eval_crop_fraction(size), **plan_options
    )
    return build_image_data(class_names, built, plan, cache, skipped)
