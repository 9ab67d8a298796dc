"""Assigning a converted state dict: every variable checked before the first is written.

Each converter maps our variable paths (``conv3_block2/bn1/gamma``) to its source's keys;
:func:`assign_checked` then matches the whole model against the source and assigns only
if everything fits, so a missing key, a key the model has no place for, or a shape that
does not fit raises a ValueError naming the first offending key and leaves the model as
it was.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np

_BLOCK_PATH = re.compile(r"(conv(\d+)_block(\d+))/(\w+)")

# (source key, transform) of one of our variable paths; (None, None) if it has none.
SourceKey = Callable[[str], tuple[str | None, Callable[[np.ndarray], np.ndarray] | None]]


@dataclasses.dataclass(frozen=True)
class BlockPath:
    """Where a layer path inside a residual block sits.

    Attributes:
        block: the block's name, e.g. ``"conv3_block2"``.
        stage: the stage number in the name (2 for the first stage after the stem).
        index: the block's number within its stage, from 1.
        sublayer: the layer inside the block, e.g. ``"bn1"`` or ``"shortcut_conv"``.

    Example:
        >>> parse_block_path("conv3_block2/bn1")
        BlockPath(block='conv3_block2', stage=3, index=2, sublayer='bn1')
    """

    block: str
    stage: int
    index: int
    sublayer: str


def parse_block_path(layer_path: str) -> BlockPath | None:
    """The block position of a layer path, or None for a layer outside the blocks.

    Args:
        layer_path: a variable's path without its last part, e.g. ``"conv3_block2/bn1"``.

    Returns:
        The :class:`BlockPath`, or None.

    Example:
        >>> parse_block_path("stem_conv1") is None
        True
    """
    match = _BLOCK_PATH.fullmatch(layer_path)
    if match is None:
        return None
    return BlockPath(match[1], int(match[2]), int(match[3]), match[4])


def describe_source(source: Any, fallback: str) -> str:
    """A source as messages name it: its path quoted, else ``fallback``.

    Args:
        source: a weights source.
        fallback: what to call a source that is not a path, e.g. ``"the state dict"``.

    Returns:
        The phrase.

    Example:
        >>> describe_source("w.pth", "the state dict")
        "'w.pth'"
    """
    if isinstance(source, str | os.PathLike):
        return repr(os.fspath(source))
    return fallback


def assign_checked(
    model: keras.Model,
    state: Mapping[str, np.ndarray],
    source_key: SourceKey,
    origin: str,
    head_keys: tuple[str, str],
    *,
    zero_missing_biases: bool = False,
    finish: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> None:
    """Checks every variable of ``model`` against ``state``, then assigns them all.

    A classifier whose class count differs from the source's (or a source without one)
    keeps its fresh initialisation, with a warning, while the backbone loads.

    Args:
        model: the model to fill.
        state: the source's arrays by key.
        source_key: gives the state key and transform of a variable path.
        origin: the source as messages name it.
        head_keys: the source's classifier kernel and bias keys.
        zero_missing_biases: conv biases the source lacks (keras.applications' V2 has
            none before a BN) load as zeros, which leaves the function unchanged.
        finish: may rewrite the converted values before they are assigned.

    Raises:
        ValueError: naming the first key that is missing, unexpected or misshapen.

    Example:
        >>> assign_checked(model, state, source_key, "'w.pth'", ("fc.weight", "fc.bias"))
    """
    values = {}
    used = set()
    head = [variable for variable in model.weights if variable.path.startswith("predictions/")]
    fresh_head = _fresh_head_reason(model, state, head_keys, head, origin)
    for variable in model.weights:
        if fresh_head and variable.path.startswith("predictions/"):
            continue
        key, transform = source_key(variable.path)
        if key is None:
            raise ValueError(
                f"{model.name}'s variable {variable.path!r} has no counterpart in {origin}: "
                "this architecture has parts the source does not."
            )
        if key not in state:
            if zero_missing_biases and key.endswith("/bias") and _kernel_key(key) in state:
                values[variable.path] = np.zeros(variable.shape)
                continue
            raise ValueError(
                f"{origin} lacks {key!r} (for {variable.path}): it is not the weights of "
                f"this architecture ({model.name})."
            )
        value = transform(state[key])
        used.add(key)
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"{key!r} in {origin} has shape {tuple(state[key].shape)}, which does not "
                f"fit {variable.path} of shape {tuple(variable.shape)}: it is not the "
                f"weights of this architecture ({model.name})."
            )
        values[variable.path] = value
    unexpected = [key for key in state if key not in used and key not in head_keys]
    if unexpected:
        raise ValueError(
            f"{origin} has {unexpected[0]!r}, for which {model.name} has no place"
            f"{f' (and {len(unexpected) - 1} more keys)' if len(unexpected) > 1 else ''}: "
            "it is the weights of a different architecture."
        )
    if finish is not None:
        finish(values)
    for variable in model.weights:
        if variable.path in values:
            variable.assign(np.asarray(values[variable.path], dtype=variable.dtype))
    if fresh_head:
        warnings.warn(fresh_head, stacklevel=3)


def _kernel_key(bias_key):
    return bias_key.removesuffix("/bias") + "/kernel"


def _fresh_head_reason(model, state, head_keys, head, origin):
    """Why the classifier keeps its initialisation, or None if it loads."""
    if not head:
        return None
    kernel_key = head_keys[0]
    if kernel_key not in state:
        return f"{origin} has no classifier: loaded the backbone; 'predictions' stays fresh."
    kernel = state[kernel_key]
    file_classes = kernel.shape[0] if kernel_key == "fc.weight" else kernel.shape[-1]
    model_classes = head[0].shape[-1]
    if file_classes == model_classes:
        return None
    return (
        f"{origin} classifies {file_classes} classes and {model.name} {model_classes}: "
        "loaded the backbone; 'predictions' keeps its fresh initialisation."
    )
