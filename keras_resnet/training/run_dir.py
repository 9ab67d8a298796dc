"""A run folder: its file names, a fresh start or a resume, and a worker's own copy."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import glob
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator

MODEL_FILE = "model.keras"
BEST_MODEL_FILE = "best.keras"
METRICS_FILE = "metrics.json"
CURVES_FILE = "training_curves.png"
LOG_FILE = "training_log.csv"
CLASS_NAMES_FILE = "class_names.txt"
BACKUP_DIR = "backup"
# What keras.callbacks.BackupAndRestore writes beside its weights: the epochs done.
BACKUP_METADATA_FILE = "training_metadata.json"
# Inside backup/, each phase of a run of several has a folder of this name and number.
PHASE_BACKUP_PREFIX = "phase"
TENSORBOARD_DIR = "logs"


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """The files of a run folder.

    Example:
        >>> RunPaths.of("saved_models/resnet20-digits").model
        'saved_models/resnet20-digits/model.keras'
    """

    run_dir: str
    model: str
    best: str
    metrics: str
    curves: str
    log: str
    class_names: str
    backup: str
    tensorboard: str

    @classmethod
    def of(cls, run_dir: str) -> RunPaths:
        """The paths of the run folder ``run_dir``."""
        join = os.path.join
        return cls(
            run_dir=run_dir,
            model=join(run_dir, MODEL_FILE),
            best=join(run_dir, BEST_MODEL_FILE),
            metrics=join(run_dir, METRICS_FILE),
            curves=join(run_dir, CURVES_FILE),
            log=join(run_dir, LOG_FILE),
            class_names=join(run_dir, CLASS_NAMES_FILE),
            backup=join(run_dir, BACKUP_DIR),
            tensorboard=join(run_dir, TENSORBOARD_DIR),
        )


@contextlib.contextmanager
def worker_dir(chief_dir: str, is_chief: bool) -> Iterator[str]:
    """The folder this process writes: the chief's run folder, or a worker's own.

    Other workers of a multi-worker run write what the chief writes (saving may need
    every worker), but to a temporary folder that goes when the block ends.

    Example:
        >>> with worker_dir("saved_models/run", distribution.is_chief) as run_dir:
        ...     ...
    """
    if is_chief:
        yield chief_dir
        return
    scratch = tempfile.mkdtemp(prefix="keras-resnet-worker-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def prepare(paths: RunPaths, resume: bool, chief_dir: str) -> int:
    """Clears or keeps an old run's state; returns the epochs a resumed run has done.

    A new run with an old name starts clean; a resumed one keeps its backup and log,
    cut to the epochs the backup holds. A worker resuming copies the chief's state first.

    Example:
        >>> prepare(RunPaths.of("saved_models/run"), resume=True, chief_dir="saved_models/run")
        3
    """
    if resume and paths.run_dir != chief_dir:
        _copy_chief_state(chief_dir, paths.run_dir)
    os.makedirs(paths.run_dir, exist_ok=True)
    if not resume:
        # A new run with an old name: stale logs would mix into its curves.
        for folder in (paths.backup, paths.tensorboard):
            shutil.rmtree(folder, ignore_errors=True)
        for path in (paths.log, paths.best):
            if os.path.exists(path):
                os.remove(path)
        return 0
    done = backed_up_epochs(paths.backup)
    if done is None:
        warnings.warn(
            f"Nothing to resume in {paths.run_dir} (no unfinished run there): starting at epoch 1.",
            stacklevel=3,
        )
        return 0
    _truncate_log(paths.log, done)
    return done


def phase_backup(paths: RunPaths, number: int, phases: int) -> str:
    """The backup folder of phase ``number`` (from 1) of a run of ``phases`` phases.

    A run of one phase backs up into ``backup/``; a run of several gives each phase a
    folder of its own inside it, as phases compile different optimizers and a backup
    restores the optimizer too.

    Example:
        >>> phase_backup(RunPaths.of("run"), 2, 2)
        'run/backup/phase2'
    """
    if phases == 1:
        return paths.backup
    return os.path.join(paths.backup, f"{PHASE_BACKUP_PREFIX}{number}")


def backed_up_epochs(backup: str) -> int | None:
    """The epochs done that the newest backup under ``backup`` holds; None without any."""
    folders = [backup, *sorted(glob.glob(os.path.join(backup, f"{PHASE_BACKUP_PREFIX}*")))]
    epochs = []
    for folder in folders:
        path = os.path.join(folder, BACKUP_METADATA_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as file:
                epochs.append(int(json.load(file).get("epoch", 0)))
    return max(epochs, default=None)


def _copy_chief_state(chief_dir: str, run_dir: str) -> None:
    """Gives a non-chief worker the chief's backup and log to resume from.

    Every worker must resume at the same epoch, with the same best value to beat, or
    they would fall out of step. The chief's folder is read, never written.
    """
    backup = os.path.join(chief_dir, BACKUP_DIR)
    if not os.path.isdir(backup):
        warnings.warn(
            f"This worker cannot see the chief's backup in {backup}: it resumes only "
            "where every worker sees the chief's run folder (one host or a shared file "
            "system), so it starts at epoch 1.",
            stacklevel=4,
        )
        return
    shutil.copytree(backup, os.path.join(run_dir, BACKUP_DIR), dirs_exist_ok=True)
    log = os.path.join(chief_dir, LOG_FILE)
    if os.path.exists(log):
        shutil.copy2(log, os.path.join(run_dir, LOG_FILE))


def _truncate_log(path: str, epochs_done: int) -> None:
    """Drops log rows of epochs the backup does not hold (the run died after logging)."""
    if not os.path.exists(path):
        return
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        fieldnames = reader.fieldnames or []
        rows = [row for row in reader if int(row["epoch"]) < epochs_done]
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
