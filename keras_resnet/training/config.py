"""The settings of a training run and their named presets: the one home of every default.

:class:`TrainConfig` holds every setting of a run; its field defaults are the general
recipe. The named presets (:data:`PRESETS`) are TrainConfig values for kinds of data,
and :func:`choose_preset` picks one from the data. ``keras-resnet train`` builds its
options from TrainConfig's fields (names, types, help, choices), and
:func:`keras_resnet.training.train` and :func:`~keras_resnet.training.fit` take a
TrainConfig. Why each preset's values are what they are is in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from keras_resnet.data.augmentations import AUGMENTATIONS
from keras_resnet.data.defaults import BATCH_SIZE, SEED, TOP_K, VALIDATION_SPLIT

# Images whose sides are all at most SMALL_IMAGE_SIZE pixels (CIFAR's 32, Tiny
# ImageNet's 64) load at their stored size, and train with the CIFAR stem's networks.
from keras_resnet.data.sizes import STORED_SIZE_LIMIT as SMALL_IMAGE_SIZE
from keras_resnet.distribute import STRATEGIES, Distribution

# Peak learning rate per 256 images, scaled linearly with the batch size (Goyal et al.
# 2017): the ImageNet recipes' rates.
BASE_LEARNING_RATES = {"sgd": 0.1, "adamw": 1e-3}

# Keras applies weight decay decoupled from the gradient: ``w -= lr * wd * w`` each
# step, outside the momentum buffer. torch's SGD adds ``wd * w`` to the gradient,
# which momentum 0.9 amplifies tenfold, so Keras's 1e-3 here equals the classic
# ImageNet recipe's torch ``weight_decay=1e-4``. AdamW's 0.05 is the modern recipes'.
DEFAULT_WEIGHT_DECAY = {"sgd": 1e-3, "adamw": 0.05}

OPTIMIZERS = tuple(BASE_LEARNING_RATES)
MIXED_PRECISION = ("bfloat16", "float16")
PRESET_NAMES = ("digits", "photos", "small_images", "imagenet", "fine_tune")


def _setting(default: Any = None, help: str = "", factory: Any = None, **cli: Any) -> Any:
    """A TrainConfig field: its default, a one-line help and how the CLI offers it."""
    metadata = {"help": help, **cli}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run, each with its default.

    A field's metadata holds ``help`` (one line) and, for the command line, ``flag``
    (another flag name than the field's), ``choices``, ``metavar``, ``check`` (the
    values a flag takes: ``"positive"``, ``"non_negative"``, ``"fraction"`` in [0, 1),
    ``"integer"``) and ``cli=False`` for settings that only the Python API takes.
    Settings of the data (``image_size``, ``batch_size``, ``validation_split``,
    ``augment``, ``mixup``, ``cutmix``) apply where :func:`~keras_resnet.training.train`
    loads the data; :func:`~keras_resnet.training.fit` takes data already batched and
    uses the rest.

    Example:
        >>> config = dataclasses.replace(PRESETS["photos"], epochs=10, optimizer="adamw")
        >>> config.base_learning_rate_for()
        0.001
    """

    preset: str | None = _setting(
        None,
        "the named preset these settings start from; None: chosen from the data",
        choices=PRESET_NAMES,
    )
    model: str = _setting(
        "ResNet18", "any named model, case-insensitive (see 'keras-resnet models')"
    )
    # The two model settings reach a named model, and a builder of the user's that
    # names them in its signature (training.fit._model_kwargs).
    drop_path_rate: float | None = _setting(
        None, "stochastic depth of the model; None keeps the model's own", cli=False
    )
    zero_init_last: bool | None = _setting(
        None,
        "start each block's last batch-norm scale at zero, so that a block starts as its "
        "shortcut; None keeps the model's own (zero for named models)",
        cli=False,
    )
    model_kwargs: Mapping[str, Any] = _setting(
        help="more arguments for building a named model", factory=dict, cli=False
    )
    weights: str | None = _setting(
        None,
        "pretrained weights to fine-tune from: imagenet, a file (.pth, .safetensors, .h5, or "
        "a model.keras of an earlier run) or hf://ORG/NAME; the head is new, for the data's "
        "classes. None: train from scratch",
        metavar="SOURCE",
    )
    head_epochs: int = _setting(
        3,
        "with --weights, the first epochs train only the new head on the frozen backbone "
        "(batch norm in inference mode)",
        check="integer",
        metavar="N",
    )
    fine_tune_lr_multiplier: float = _setting(
        0.1,
        "with --weights, the epochs after the head's train the whole network at the peak "
        "learning rate times this",
        check="positive",
        metavar="FACTOR",
    )
    head_lr_multiplier: float = _setting(
        1.0,
        "with --weights, in the whole-network epochs the new head trains at the backbone's "
        "learning rate times this",
        check="positive",
        metavar="FACTOR",
    )
    fine_tune_batch_norm: bool = _setting(
        False,
        "with --weights, batch norm trains with the whole network instead of keeping its "
        "pretrained statistics",
    )
    image_size: tuple[int, int] | None = _setting(
        None,
        "resize images to N x N; None: the data's own default (224 for photos)",
        check="positive",
        metavar="N",
    )
    batch_size: int = _setting(BATCH_SIZE, "images per device and step", check="positive")
    validation_split: float = _setting(
        VALIDATION_SPLIT,
        "fraction held out for validation when the data has no val/ split",
        check="fraction",
    )
    augment: str | None = _setting(
        "basic",
        "training augmentation (the digits get shifts for basic, never flips)",
        choices=(*AUGMENTATIONS, "none"),
    )
    mixup: float = _setting(0.0, "mixup alpha, 0 for none", check="non_negative", metavar="ALPHA")
    cutmix: float = _setting(0.0, "cutmix alpha, 0 for none", cli=False)
    epochs: int = _setting(30, "epochs of the run", check="positive")
    optimizer: str = _setting("sgd", "SGD with Nesterov momentum, or AdamW", choices=OPTIMIZERS)
    learning_rate: float | None = _setting(
        None,
        "peak learning rate; None scales the base rate per 256 images by the global batch",
        flag="--lr",
        check="positive",
    )
    base_learning_rate: float | None = _setting(
        None, "peak rate per 256 images; None takes base_learning_rates", cli=False
    )
    base_learning_rates: Mapping[str, float] = _setting(
        help="peak rate per 256 images of each optimizer",
        factory=lambda: dict(BASE_LEARNING_RATES),
        cli=False,
    )
    momentum: float = _setting(0.9, "SGD momentum", cli=False)
    weight_decay: float | None = _setting(
        None, "decoupled weight decay of kernels; None: SGD 1e-3, AdamW 0.05", check="non_negative"
    )
    label_smoothing: float = _setting(0.1, "label smoothing of the loss", check="non_negative")
    warmup_epochs: float | None = _setting(
        None, "linear warm-up; None: 10% of the run, at most 5 epochs", check="non_negative"
    )
    ema_momentum: float | None = _setting(
        None,
        "average the weights over training steps with this momentum (e.g. 0.99): "
        "validation, the saved model and the best checkpoint use the average; None: off",
        check="fraction",
        metavar="MOMENTUM",
    )
    mixed_precision: str | None = _setting(
        None,
        "compute in 16 bits (bfloat16 for recent CPUs and TPUs, float16 for GPUs)",
        choices=MIXED_PRECISION,
    )
    jit_compile: bool | str = _setting(
        "auto", "XLA; auto is Keras's choice (off on TensorFlow CPU and torch)", cli=False
    )
    recompute_batch_norm: bool = _setting(
        True,
        "keep the batch-norm statistics that training averaged, instead of recomputing "
        "them from un-augmented training images after training",
        flag="--no-precise-bn",
    )
    early_stopping: int | None = _setting(
        None,
        "stop after PATIENCE epochs without a better validation loss",
        check="positive",
        metavar="PATIENCE",
    )
    top_k: int = _setting(TOP_K, "the k of the top-k accuracy", cli=False)
    seed: int | None = _setting(
        SEED, "seeds the split, the shuffling and the initialisation", check="integer"
    )
    strategy: str | Distribution = _setting(
        "auto",
        "how to spread training over devices: mirrored (TensorFlow, one host), multiworker "
        "(TensorFlow, hosts named in TF_CONFIG), dataparallel (JAX); auto: every GPU, or "
        "the devices of --devices",
        choices=STRATEGIES,
    )
    devices: int | None = _setting(
        None,
        "train on N devices: the first N GPUs, or on a machine without GPUs the CPU split "
        "into N (TensorFlow or JAX backend); --batch-size is per device",
        check="positive",
        metavar="N",
    )
    output: str = _setting("saved_models", "the folder that holds run folders")
    run_name: str | None = _setting(None, "run folder name; None: <model>-<data>")
    resume: bool = _setting(False, "continue an interrupted run of the same name")
    verbose: int | str = _setting(
        "auto",
        "Keras's fit verbosity; auto: a progress bar on a terminal, else a line per epoch",
        cli=False,
    )

    def base_learning_rate_for(self, optimizer: str | None = None) -> float:
        """The peak rate per 256 images for ``optimizer`` (default: this config's).

        Raises:
            ValueError: on an unknown optimizer.
        """
        optimizer = check_optimizer(optimizer or self.optimizer)
        if self.base_learning_rate is not None:
            return self.base_learning_rate
        return self.base_learning_rates.get(optimizer, BASE_LEARNING_RATES[optimizer])

    def replace(self, **settings: Any) -> TrainConfig:
        """A copy with ``settings`` changed; a None for a setting None cannot mean is skipped.

        ``model``, ``image_size``, ``batch_size``, ``epochs``, ``validation_split`` and
        ``mixup`` given as None keep this config's value, as the command line and
        :func:`~keras_resnet.training.train` pass None for "not given".

        Raises:
            TypeError: on a name that is not a setting.
        """
        unknown = set(settings) - {field.name for field in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"Unknown training settings: {', '.join(sorted(unknown))}.")
        changes = {
            name: value
            for name, value in settings.items()
            if not (value is None and name in PRESET_WHEN_NONE)
        }
        if changes.get("augment") == "none":
            changes["augment"] = None
        if isinstance(changes.get("image_size"), int):
            changes["image_size"] = (changes["image_size"], changes["image_size"])
        elif changes.get("image_size") is not None:
            changes["image_size"] = tuple(changes["image_size"])
        return dataclasses.replace(self, **changes)


# Settings whose None means "the preset's value" rather than a value of its own.
PRESET_WHEN_NONE = frozenset(
    ("model", "image_size", "batch_size", "epochs", "validation_split", "mixup")
)


def check_optimizer(optimizer: str) -> str:
    """Returns ``optimizer`` if it is known; raises a ValueError naming the choices."""
    if optimizer not in BASE_LEARNING_RATES:
        raise ValueError(f"Unknown optimizer {optimizer!r}: use one of {sorted(OPTIMIZERS)}.")
    return optimizer


#: The embedded 8x8 digits. 16x16 keeps every stroke at a quarter of 32x32's cost; a run
#: this short and small wants higher rates than ImageNet's; the digits have a test split,
#: so every training image trains. First chosen on test errors over seeds 0-4, then
#: confirmed on a held-out 20% of the training digits against cheaper neighbours
#: (benchmarks/RESULTS.md, "The digits recipe, chosen again on a validation split").
DIGITS = TrainConfig(
    preset="digits",
    model="ResNet20",
    drop_path_rate=0.1,
    image_size=(16, 16),
    epochs=30,
    batch_size=64,
    validation_split=0.0,
    mixup=0.2,
    base_learning_rates={"sgd": 0.8, "adamw": 0.012},
)

#: A folder of a few hundred to a few thousand photos trained from scratch: ImageNet's
#: 0.1 per 256 trains too slowly there. Chosen on the validation split of 300 flower
#: photos (benchmarks/RESULTS.md).
PHOTOS = TrainConfig(preset="photos", base_learning_rates={"sgd": 0.4, "adamw": 1e-3})

#: CIFAR-style images, trained at their stored size: the paper's recipe (He et al. 2015,
#: section 4.2) with the schedule cut to a quarter of its 164 epochs: ResNet20, batch 128,
#: SGD momentum 0.9 at 0.1 per 128 images, 4-pixel pad-and-crop and flip, no label
#: smoothing, 10% held out (the paper's 5,000 of 50,000), cosine decay over 40 epochs.
#: Three settings were chosen on CIFAR-10's 5,000 held-out training images
#: (benchmarks/RESULTS.md, "CIFAR-10: the small_images preset on the held-out images"):
#: weight decay 5e-3 in Keras's decoupled form (5e-4 in torch's coupled one) over the
#: paper's 1e-4; the moving batch-norm statistics kept, as recomputing them from
#: un-augmented images cost 3 to 4 points after pad-and-crop training; and each block's
#: last batch-norm scale starting at one, as in the paper, not at zero (Goyal et al.'s
#: ImageNet choice, the library models' default), which left ResNet20 underfitting.
#: ResNet20 validates 87.37% +/- 0.77 over seeds 0-2 in 40 epochs (the paper: 91.25%).
SMALL_IMAGES = TrainConfig(
    preset="small_images",
    model="ResNet20",
    image_size=(32, 32),
    epochs=40,
    batch_size=128,
    validation_split=0.1,
    augment="pad_crop",
    label_smoothing=0.0,
    base_learning_rates={"sgd": 0.2, "adamw": 1e-3},
    weight_decay=5e-3,
    recompute_batch_norm=False,
    zero_init_last=False,
)

#: ImageNet scale: ResNet50 at 224x224 and the linear scaling rule's 0.1 per 256 images
#: (Goyal et al. 2017), validated on the source's own validation split.
IMAGENET = TrainConfig(
    preset="imagenet",
    model="ResNet50",
    image_size=(224, 224),
    epochs=90,
    batch_size=256,
    validation_split=0.0,
)

#: Pretrained weights fine-tuned on a few hundred to a few thousand images: the head
#: alone for ``head_epochs``, then the whole network at ``fine_tune_lr_multiplier``
#: times the peak rate (keras_resnet.training.finetune). A new head on frozen features
#: wants a rate well above ImageNet's 0.1 per 256; the pretrained features need few
#: epochs. Chosen on a synthetic transfer task (tests/test_finetune.py); on photos, one
#: rate for the head and the backbone was checked against a faster head (RESULTS.md).
FINE_TUNE = TrainConfig(
    preset="fine_tune",
    epochs=10,
    base_learning_rates={"sgd": 0.4, "adamw": 1e-3},
)

PRESETS: dict[str, TrainConfig] = {
    "digits": DIGITS,
    "photos": PHOTOS,
    "small_images": SMALL_IMAGES,
    "imagenet": IMAGENET,
    "fine_tune": FINE_TUNE,
}


def choose_preset(data: Any = None, weights: Any = None) -> str:
    """The name of the preset for ``data``: fine_tune, digits, small_images or photos.

    A run given pretrained ``weights`` fine-tunes them: ``"fine_tune"``. Otherwise the
    embedded digits (``None`` or ``"digits"``) get ``"digits"``; data whose images
    are at most :data:`SMALL_IMAGE_SIZE` pixels on both sides get ``"small_images"``;
    anything else, or data whose image size cannot be read without loading it (tfds),
    ``"photos"``. ImageNet scale is never guessed: ask for ``"imagenet"``.

    Args:
        data: what :func:`keras_resnet.training.train` takes: None, ``"digits"``, an
            image folder, ``"tfds:NAME"``, ``(x, y)`` arrays or an ``ImageData``.
        weights: the run's pretrained weights, or None.

    Returns:
        A key of :data:`PRESETS`.

    Example:
        >>> choose_preset(None), choose_preset((np.zeros((4, 32, 32, 3)), np.zeros(4)))
        ('digits', 'small_images')
    """
    if weights is not None:
        return "fine_tune"
    if is_digits(data):
        return "digits"
    size = stored_image_size(data)
    if size is not None and max(size) <= SMALL_IMAGE_SIZE:
        return "small_images"
    return "photos"


def preset_for(data: Any = None, name: str | None = None, weights: Any = None) -> TrainConfig:
    """The preset ``name`` (None: chosen from ``data`` and ``weights``); small images
    keep their size.

    Args:
        data: see :func:`choose_preset`.
        name: a key of :data:`PRESETS`, or None.
        weights: the run's pretrained weights, or None (see :func:`choose_preset`).

    Returns:
        The preset's config; its ``preset`` field names it.

    Raises:
        ValueError: on an unknown preset name.

    Example:
        >>> preset_for("path/to/cifar10").preset
        'small_images'
    """
    name = name or choose_preset(data, weights)
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}: use one of {', '.join(PRESETS)}.")
    config = PRESETS[name]
    size = stored_image_size(data)
    if name == "small_images" or (name == "fine_tune" and size and max(size) <= SMALL_IMAGE_SIZE):
        config = config.replace(image_size=size)
    return config


def is_digits(data: Any) -> bool:
    """Whether ``data`` names the embedded digits (None or ``"digits"``)."""
    return data is None or (isinstance(data, str) and data.lower() == "digits")


def stored_image_size(data: Any) -> tuple[int, int] | None:
    """``(height, width)`` of the data's images as stored, where known without loading.

    An ``ImageData`` gives its size, arrays their shape, a folder its first readable
    image; tfds names and anything else give None.
    """
    if hasattr(data, "train") and hasattr(data, "class_names"):
        return tuple(data.image_size)
    if isinstance(data, Sequence) and not isinstance(data, str) and len(data) == 2:
        shape = getattr(data[0], "shape", None)
        if shape is not None and len(shape) >= 3:
            return int(shape[1]), int(shape[2])
        return None
    if isinstance(data, str | os.PathLike) and os.path.isdir(data):
        return _first_image_size(os.fspath(data))
    return None


def _first_image_size(folder: str) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    for root, directories, files in os.walk(folder):
        directories.sort()
        for name in sorted(files):
            try:
                with Image.open(os.path.join(root, name)) as image:
                    width, height = image.size
            except (OSError, UnidentifiedImageError):
                continue
            return height, width
    return None


def data_source(data: Any) -> str | None:
    """The JSON-friendly name of a data source: ``"digits"``, a folder's absolute path,
    ``"tfds:NAME"``; None for arrays and pipelines, which have no name.

    Example:
        >>> data_source(None)
        'digits'
    """
    if data is None:
        return "digits"
    if not isinstance(data, str | os.PathLike):
        return None
    source = os.fspath(data)
    # A folder is kept as an absolute path, so that evaluation finds it from anywhere.
    return os.path.abspath(source) if os.path.isdir(source) else source


def data_label(data: Any) -> str | None:
    """A short name of a data source for run names: ``"digits"``, a folder's name, a
    tfds name with ``/`` as ``-``; None for arrays and pipelines.

    Example:
        >>> data_label("tfds:cifar10/3.0.2")
        'cifar10-3.0.2'
    """
    if data is None:
        return "digits"
    if isinstance(data, str | os.PathLike):
        text = os.fspath(data)
        if text.startswith("tfds:"):
            return text[len("tfds:") :].replace("/", "-")
        return os.path.basename(os.path.normpath(text)) or None
    return None
