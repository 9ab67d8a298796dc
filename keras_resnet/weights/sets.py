"""The published weight sets: where each file is, its hash, and the layout it needs.

torchvision and timm put the first eight hex digits of a file's SHA-256 in its name
(torch.hub's convention, which torchvision checks when it downloads, and which timm's
checkpoint cleaner writes); the full digests are not published, so only that prefix is
checked. keras.applications publishes full MD5 digests only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from keras_resnet import models

# Builder arguments that keras.applications' weights need (see api.source_layout).
KERAS_V1_LAYOUT: Mapping[str, Any] = {"variant": "v1", "use_bias": True}
KERAS_V2_LAYOUT: Mapping[str, Any] = {"use_bias": True, "stride_in_last_block": True}


@dataclasses.dataclass(frozen=True)
class WeightSet:
    """One published file of pretrained weights.

    Attributes:
        model: the ``MODEL_CONFIGS`` name it fits, e.g. ``"ResNet50"``.
        name: the publisher's name of the set, e.g. ``"IMAGENET1K_V2"``.
        url: where the publisher serves the file; an ``hf://owner/repo[/file]`` name for
            a Hugging Face Hub repository.
        file_hash: the file's hex digest, or as much of it as the publisher gives.
        hash_algorithm: ``"sha256"`` or ``"md5"``.
        layout: builder arguments the weights need beyond the model's own config.
        resize_size: the evaluation transform's resize of the shorter side, in pixels.
        crop_size: the evaluation transform's centre crop, in pixels.

    Example:
        >>> WeightSet("ResNet18", "MINE", "https://example.org/resnet18-0123abcd.pth",
        ...           "0123abcd").filename
        'resnet18-0123abcd.pth'
    """

    model: str
    name: str
    url: str
    file_hash: str
    hash_algorithm: str = "sha256"
    layout: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    resize_size: int = 256
    crop_size: int = 224

    @property
    def filename(self) -> str:
        """The file's name, the last part of its URL."""
        return self.url.rsplit("/", 1)[-1]


_TORCHVISION = "https://download.pytorch.org/models/"
_TIMM = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"


def _torchvision_set(model: str, name: str, file_stem: str, sha256_prefix: str) -> WeightSet:
    # torchvision's IMAGENET1K_V2 recipes are evaluated at resize 232, V1 at 256.
    resize = 232 if name == "IMAGENET1K_V2" else 256
    url = f"{_TORCHVISION}{file_stem}-{sha256_prefix}.pth"
    return WeightSet(model, name, url, sha256_prefix, resize_size=resize)


def _timm_set(model: str, file_stem: str, sha256_prefix: str) -> WeightSet:
    # timm's ra2 ResNet-Ds are evaluated with crop_pct 0.875 at 224 (resize 256).
    return WeightSet(model, "RA2_IN1K", f"{_TIMM}{file_stem}-{sha256_prefix}.pth", sha256_prefix)


def _keras_set(model: str, file_stem: str, md5: str, layout: Mapping[str, Any]) -> WeightSet:
    url = f"{_KERAS}{file_stem}_weights_tf_dim_ordering_tf_kernels.h5"
    return WeightSet(model, "KERAS_APPLICATIONS", url, md5, "md5", layout, 224, 224)


# Every published set, the default of each model first: weights="imagenet" takes the
# first row of the model that fits its layout.
PRETRAINED_WEIGHTS: tuple[WeightSet, ...] = (
    _torchvision_set("ResNet18", "IMAGENET1K_V1", "resnet18", "f37072fd"),
    _torchvision_set("ResNet34", "IMAGENET1K_V1", "resnet34", "b627a593"),
    _torchvision_set("ResNet50", "IMAGENET1K_V2", "resnet50", "11ad3fa6"),
    _torchvision_set("ResNet50", "IMAGENET1K_V1", "resnet50", "0676ba61"),
    _torchvision_set("ResNet101", "IMAGENET1K_V2", "resnet101", "cd907fc2"),
    _torchvision_set("ResNet101", "IMAGENET1K_V1", "resnet101", "63fe2227"),
    _torchvision_set("ResNet152", "IMAGENET1K_V2", "resnet152", "f82ba261"),
    _torchvision_set("ResNet152", "IMAGENET1K_V1", "resnet152", "394f9c45"),
    _torchvision_set("ResNeXt50_32x4d", "IMAGENET1K_V2", "resnext50_32x4d", "1a0047aa"),
    _torchvision_set("ResNeXt50_32x4d", "IMAGENET1K_V1", "resnext50_32x4d", "7cdf4587"),
    _torchvision_set("ResNeXt101_32x8d", "IMAGENET1K_V2", "resnext101_32x8d", "110c445d"),
    _torchvision_set("ResNeXt101_32x8d", "IMAGENET1K_V1", "resnext101_32x8d", "8ba56ff5"),
    _torchvision_set("WideResNet50_2", "IMAGENET1K_V2", "wide_resnet50_2", "9ba9bcbe"),
    _torchvision_set("WideResNet50_2", "IMAGENET1K_V1", "wide_resnet50_2", "95faca4d"),
    _torchvision_set("WideResNet101_2", "IMAGENET1K_V2", "wide_resnet101_2", "d733dc28"),
    _torchvision_set("WideResNet101_2", "IMAGENET1K_V1", "wide_resnet101_2", "32ee1156"),
    _timm_set("ResNet18D", "resnet18d_ra2", "48a79e06"),
    _timm_set("ResNet34D", "resnet34d_ra2", "f8dcfcaf"),
    _timm_set("ResNet50D", "resnet50d_ra2", "464e36ba"),
    _timm_set("ResNet101D", "resnet101d_ra2", "2803ffab"),
    _timm_set("ResNet152D", "resnet152d_ra2", "5cac0439"),
    _keras_set("ResNet50", "resnet50", "2cb95161c43110f7111970584f804107", KERAS_V1_LAYOUT),
    _keras_set("ResNet101", "resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5", KERAS_V1_LAYOUT),
    _keras_set("ResNet152", "resnet152", "100835be76be38e30d865e96f2aaae62", KERAS_V1_LAYOUT),
    _keras_set("ResNet50V2", "resnet50v2", "3ef43a0b657b3be2300d5770ece849e0", KERAS_V2_LAYOUT),
    _keras_set("ResNet101V2", "resnet101v2", "6343647c601c52e1368623803854d971", KERAS_V2_LAYOUT),
    _keras_set("ResNet152V2", "resnet152v2", "a49b44d1979771252814e80f8ec446f9", KERAS_V2_LAYOUT),
)


def format_layout(layout: Mapping[str, Any] | None) -> str:
    """Builder arguments as they are written in a call, for messages.

    Args:
        layout: builder arguments, e.g. :data:`KERAS_V1_LAYOUT`.

    Returns:
        ``"variant='v1', use_bias=True"``, or ``"the defaults"`` when empty.

    Example:
        >>> format_layout({"use_bias": True})
        'use_bias=True'
    """
    return ", ".join(f"{key}={value!r}" for key, value in (layout or {}).items()) or "the defaults"


def is_set_name(name: str) -> bool:
    """Whether ``name`` is ``"imagenet"`` or the name of a published set (any case).

    Args:
        name: what the user passed as ``weights``.

    Returns:
        True for a set name.

    Example:
        >>> is_set_name("IMAGENET1K_V1")
        True
    """
    return name.lower() == "imagenet" or any(
        entry.name.lower() == name.lower() for entry in PRETRAINED_WEIGHTS
    )


def find_weight_set(
    model_name: str, weight_set: str = "imagenet", layout: Mapping[str, Any] | None = None
) -> WeightSet:
    """The row of :data:`PRETRAINED_WEIGHTS` for a model and set name.

    Args:
        model_name: a model name, e.g. ``"resnet50"`` (case-insensitive).
        weight_set: ``"imagenet"`` for the model's default, or a set name such as
            ``"IMAGENET1K_V1"`` (case-insensitive).
        layout: the layout arguments the model was built with (``{}`` for the defaults);
            None accepts any.

    Returns:
        The matching :class:`WeightSet`.

    Raises:
        ValueError: if the model has no such set, or none that fits its layout (the
            message says how to build a model that fits).

    Example:
        >>> find_weight_set("resnet50").url
        'https://download.pytorch.org/models/resnet50-11ad3fa6.pth'
    """
    key = models.canonical_name(model_name)
    candidates = [entry for entry in PRETRAINED_WEIGHTS if entry.model == key]
    if not candidates:
        published = sorted({entry.model for entry in PRETRAINED_WEIGHTS})
        raise ValueError(
            f"No published weights for {key}. Published: {', '.join(published)}. "
            "Pass the path of a weights file instead."
        )
    if weight_set.lower() != "imagenet":
        candidates = [entry for entry in candidates if entry.name.lower() == weight_set.lower()]
        if not candidates:
            names = sorted({entry.name for entry in PRETRAINED_WEIGHTS if entry.model == key})
            raise ValueError(
                f"{key} has no weight set {weight_set!r}: use 'imagenet' or one of {names}."
            )
    fitting = [entry for entry in candidates if layout is None or dict(entry.layout) == layout]
    if fitting:
        return fitting[0]
    options = "; ".join(
        f"{entry.name}: {key}({format_layout(entry.layout)})" for entry in candidates
    )
    raise ValueError(
        f"{key}'s published weights do not fit a model built with "
        f"{format_layout(layout)}. Build it to fit the set: {options}."
    )
