"""ResNetConfig: the architecture of a ResNet, validated once and always complete.

A config says what the network is (stages, block, variant, stem, widths, options of
its blocks), nothing about the head, input or weights. :func:`keras_resnet.models.ResNet`
builds a model from it, the model carries it through ``.keras`` files
(:func:`keras_resnet.models.resnet_config`), and the readers of an architecture
(feature outputs, the profile, weight conversion, tuning) read it instead of parsing
layer names. This module imports no Keras, so a config costs nothing to make.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

BLOCK_TYPES = ("basic", "bottleneck")
VARIANTS = ("v1", "v1.5", "d", "v2")
STEM_TYPES = ("imagenet", "deep", "cifar")

IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)


@dataclasses.dataclass(frozen=True)
class ResNetConfig:
    """The architecture of a ResNet: what :func:`keras_resnet.models.ResNet` builds.

    Defaults are resolved on creation, so every field holds its effective value:
    ``stem_type`` follows ``variant`` (``"deep"`` for ResNet-D, else ``"imagenet"``),
    ``stage_widths`` follow the stem (64/128/256/512, or 16/32/64 for the CIFAR stem)
    and ``stem_width`` is the first stage width. Two configs that build the same network
    are equal.

    Attributes:
        stage_depths: blocks in each stage, e.g. ``(3, 4, 6, 3)`` for ResNet50.
        block_type: ``"basic"`` (two 3x3 convs) or ``"bottleneck"`` (1x1-3x3-1x1).
        stage_widths: base filters of each stage, one per stage.
        variant: ``"v1.5"`` (stride on the 3x3 conv, the default), ``"v1"`` (stride on
            the first 1x1), ``"d"`` (ResNet-D: deep stem, average-pool shortcut) or
            ``"v2"`` (pre-activation blocks).
        stem_type: ``"imagenet"`` (7x7 stride-2 conv and max-pool), ``"deep"`` (three
            3x3 convs and max-pool) or ``"cifar"`` (one 3x3 conv, no pooling).
        stem_width: channels of the stem (the deep stem's first two convs use half).
        groups: groups of the bottleneck 3x3 conv (ResNeXt cardinality).
        base_width: bottleneck width per group at 64 filters (wide: 128).
        se_ratio: squeeze-and-excitation ratio of every block; None for none.
        drop_path_rate: stochastic depth, rising linearly to this rate at the last block.
        zero_init_last: start each block's last BN gamma at zero.
        use_bias: give convs a bias (for weights trained that way).
        stride_in_last_block: keras.applications' ResNetV2 arrangement: every stage
            but the last subsamples in its last block, whose shortcut is then a
            strided identity (a 1x1 max-pool), while each first block keeps stride 1.
            Only needed for keras.applications' V2 weights.

    Raises:
        ValueError: on an unknown block type, variant or stem; empty or non-positive
            depths; depths and widths of different lengths; a v1 or grouped basic
            block; or sizes and rates out of range.

    Example:
        >>> config = ResNetConfig(stage_depths=(2, 2, 2, 2), block_type="basic")
        >>> config.stage_widths
        (64, 128, 256, 512)
        >>> ResNetConfig.from_dict(config.to_dict()) == config
        True
    """

    stage_depths: tuple[int, ...]
    block_type: str = "bottleneck"
    stage_widths: tuple[int, ...] | None = None
    variant: str = "v1.5"
    stem_type: str | None = None
    stem_width: int | None = None
    groups: int = 1
    base_width: int = 64
    se_ratio: float | None = None
    drop_path_rate: float = 0.0
    zero_init_last: bool = True
    use_bias: bool = False
    stride_in_last_block: bool = False

    def __post_init__(self) -> None:
        if self.block_type not in BLOCK_TYPES:
            raise ValueError(
                f"Unknown block_type {self.block_type!r}: use one of {list(BLOCK_TYPES)}."
            )
        if self.variant not in VARIANTS:
            raise ValueError(f"Unknown variant {self.variant!r}: use one of {list(VARIANTS)}.")
        stem_type = self.stem_type or ("deep" if self.variant == "d" else "imagenet")
        if stem_type not in STEM_TYPES:
            raise ValueError(f"Unknown stem_type {stem_type!r}: use one of {list(STEM_TYPES)}.")
        if self.variant == "v1" and self.block_type == "basic":
            raise ValueError(
                "variant='v1' moves the stride to the bottleneck's first 1x1 conv; a basic "
                "block has none. Use variant='v1.5' with block_type='basic'."
            )
        depths = self.stage_depths
        if (
            isinstance(depths, str | bytes)
            or not isinstance(depths, Sequence)
            or not depths
            or any(isinstance(d, bool) or int(d) != d or d < 1 for d in depths)
        ):
            raise ValueError(
                f"stage_depths must be a non-empty list of positive block counts, got {depths!r}."
            )
        widths = self.stage_widths
        if widths is None:
            widths = (CIFAR_WIDTHS if stem_type == "cifar" else IMAGENET_WIDTHS)[: len(depths)]
        if len(widths) != len(depths):
            example = tuple(64 * 2**i for i in range(len(depths)))
            raise ValueError(
                f"stage_depths has {len(depths)} stages but stage_widths has "
                f"{len(widths)}: give one width per stage, e.g. stage_widths={example}."
            )
        if any(int(w) != w or w < 1 for w in widths):
            raise ValueError(f"stage_widths must be positive channel counts, got {widths!r}.")
        if self.block_type == "basic" and (self.groups != 1 or self.base_width != 64):
            raise ValueError(
                "A basic block has no grouped conv: groups and base_width apply to "
                "block_type='bottleneck' only (ResNeXt and wide networks)."
            )
        stem_width = self.stem_width if self.stem_width is not None else widths[0]
        if stem_width < 1 or self.groups < 1 or self.base_width < 1:
            raise ValueError(
                "stem_width, groups and base_width must be positive, got "
                f"{stem_width}, {self.groups} and {self.base_width}."
            )
        if self.se_ratio is not None and not 0.0 < self.se_ratio <= 1.0:
            raise ValueError(f"se_ratio must be None or in (0, 1], got {self.se_ratio}.")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {self.drop_path_rate}.")
        resolved = {
            "stage_depths": tuple(int(d) for d in depths),
            "stage_widths": tuple(int(w) for w in widths),
            "stem_type": stem_type,
            "stem_width": int(stem_width),
        }
        for name, value in resolved.items():
            # The dataclass is frozen: resolving its own defaults goes around that once.
            object.__setattr__(self, name, value)

    @property
    def num_stages(self) -> int:
        """The number of stages."""
        return len(self.stage_depths)

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-friendly values (tuples become lists).

        Returns:
            A dict of every field, accepted by :meth:`from_dict`.
        """
        return {
            field.name: _json_friendly(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ResNetConfig:
        """A config from :meth:`to_dict` output (or any subset of the fields).

        Args:
            values: field names and values; lists are taken as tuples.

        Returns:
            The validated config.

        Raises:
            ValueError: on an unknown field, or values :class:`ResNetConfig` rejects.
        """
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"Unknown ResNetConfig fields {unknown}: expected some of {sorted(names)}."
            )
        return cls(**{key: _tuple_if_list(value) for key, value in values.items()})


def _json_friendly(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _tuple_if_list(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
