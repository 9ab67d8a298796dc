"""The Keras dtype policy of a run: float32, or mixed bfloat16 or float16."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

MIXED_PRECISION_POLICIES = {
    None: "float32",
    "float32": "float32",
    "bfloat16": "mixed_bfloat16",
    "float16": "mixed_float16",
    "mixed_bfloat16": "mixed_bfloat16",
    "mixed_float16": "mixed_float16",
}


def policy_name(mixed_precision: str | None) -> str:
    """The Keras policy name for ``mixed_precision``.

    Raises:
        ValueError: on an unknown value.

    Example:
        >>> policy_name("bfloat16")
        'mixed_bfloat16'
    """
    if mixed_precision not in MIXED_PRECISION_POLICIES:
        raise ValueError(
            f"Unknown mixed_precision {mixed_precision!r}: use 'bfloat16', 'float16' or None."
        )
    return MIXED_PRECISION_POLICIES[mixed_precision]


def set_mixed_precision(mixed_precision: str | None) -> str:
    """Sets the global Keras dtype policy; call it BEFORE building the model.

    Layers take the policy in force when they are created, so a model built first
    stays float32. The classifier of a keras_resnet model stays float32 under a mixed
    policy, and Keras wraps the optimizer in a ``LossScaleOptimizer`` for float16.

    Args:
        mixed_precision: ``"bfloat16"``, ``"float16"`` or None (float32).

    Returns:
        The policy name set, e.g. ``"mixed_bfloat16"``.

    Raises:
        ValueError: on an unknown value.

    Example:
        >>> set_mixed_precision("bfloat16")
        'mixed_bfloat16'
        >>> model = ResNet50(num_classes=5)     # computes in bfloat16
    """
    policy = policy_name(mixed_precision)
    keras.config.set_dtype_policy(policy)
    return policy


@contextlib.contextmanager
def dtype_policy(mixed_precision: str | None) -> Iterator[str]:
    """Within the block, models are built under the given policy; restored after.

    Example:
        >>> with dtype_policy("bfloat16") as policy:
        ...     model = ResNet50(num_classes=5)
    """
    previous = keras.config.dtype_policy()
    policy = set_mixed_precision(mixed_precision)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)
