"""Caching decoded images: what each split's cache costs and where each split caches.

Training caches keep each image with its shorter side at TRAIN_CACHE_SCALE times
the output size: most random crops are then downsampled, not upsampled, at a
memory cost measured in benchmarks/RESULTS.md ("Data pipeline decisions").
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from keras_resnet.data.splits import Split

TRAIN_CACHE_SCALE = 1.25
# Share of the machine's memory that automatic caching may fill.
CACHE_MEMORY_FRACTION = 0.25


def cache_side(size: Sequence[int]) -> int:
    """The shorter side of a cached training image, for an output size."""
    return math.ceil(max(size) * TRAIN_CACHE_SCALE)


def cached_bytes(shape: Sequence[int], side: int) -> int:
    """Bytes of one image of ``shape`` cached with its shorter side at most ``side``."""
    height, width = shape
    scale = min(1.0, side / max(1, min(height, width)))
    return math.ceil(height * scale) * math.ceil(width * scale) * 3


def fingerprint(paths: Sequence, size: Sequence[int]) -> str:
    """A name for an on-disk cache of these files at this size."""
    digest = hashlib.sha1(repr((list(map(str, paths)), size)).encode()).hexdigest()
    return f"{size[0]}x{size[1]}-{digest[:12]}"


def _memory_budget() -> int:
    available = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(available * CACHE_MEMORY_FRACTION)


def cache_plan(splits: Mapping[str, Split], cache) -> dict[str, str | None]:
    """Where each split caches: "" in memory, a file prefix on disk, None not at all.

    Args:
        splits: The splits by name.
        cache: None caches what fits in CACHE_MEMORY_FRACTION of the available
            memory, training split first; True caches all in memory; False none;
            a folder path caches on disk there.
    """
    plan = {name: None for name in splits}
    if cache is False:
        return plan
    if isinstance(cache, (str, os.PathLike)):
        folder = Path(cache)
        folder.mkdir(parents=True, exist_ok=True)
        return {
            name: str(folder / f"{name}-{split.fingerprint}") if split.cacheable else None
            for name, split in splits.items()
        }
    budget = math.inf if cache is True else _memory_budget()
    for name, split in splits.items():
        need = split.cache_bytes if name == "train" else split.eval_cache_bytes
        if split.cacheable and need <= budget:
            plan[name] = ""
            budget -= need
    return plan
