"""Fine-tuning pretrained weights: a frozen backbone in inference mode, and the schedule.

A run given ``weights`` fine-tunes in two phases (:func:`schedule`):

1. ``head``: only the new classifier trains; the backbone is frozen
   (:func:`freeze_backbone`), its batch norms in inference mode, so that the random
   head's first large gradients cannot wreck the pretrained features.
2. ``whole network``: everything trains (:func:`unfreeze`) at a lower learning rate,
   the head at ``head_lr_multiplier`` times the backbone's, the batch norms still in
   inference mode unless asked otherwise: a few hundred photos give worse statistics
   than the pretrained ones.

Keras 3 runs a ``BatchNormalization`` whose ``trainable`` is False in inference mode
even under ``training=True``, and this library's fused batch norm and ``DropPath``
follow it on every backend: setting ``trainable`` is all freezing takes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

from keras_resnet.compat import flatten_layers
from keras_resnet.models import canonical_name
from keras_resnet.training.config import TrainConfig

#: The layers of a classifier of this library that are its head, not its backbone.
HEAD_LAYERS = ("predictions",)

#: Phase names, as metrics.json and the run's output give them.
TRAIN, HEAD, WHOLE_NETWORK = "train", "head", "whole network"


def freeze_backbone(model: keras.Model, trainable_head: Iterable[str] = HEAD_LAYERS) -> keras.Model:
    """Freezes every top-level layer of ``model`` but the head, batch norm in inference mode.

    A frozen layer's weights get no updates, its batch norms normalise with their
    moving statistics and leave them untouched, and its drop path never drops, even
    while the model trains. Recompile the model afterwards: Keras reads
    ``trainable`` when it compiles.

    Args:
        model: a functional model, e.g. one built by this library.
        trainable_head: names of the top-level layers that stay trainable.

    Returns:
        The same model.

    Raises:
        ValueError: if a name of ``trainable_head`` is not a layer of ``model``.

    Example:
        >>> model = keras_resnet.ResNet50(num_classes=5, weights="imagenet")
        >>> freeze_backbone(model)
        >>> [w.path for w in model.trainable_weights]
        ['predictions/kernel', 'predictions/bias']
    """
    head = set(trainable_head)
    missing = head - {layer.name for layer in model.layers}
    if missing:
        raise ValueError(
            f"{model.name} has no layer {sorted(missing)[0]!r} to keep trainable: its "
            f"last layers are {', '.join(layer.name for layer in model.layers[-3:])}."
        )
    for layer in model.layers:
        _set_trainable(layer, layer.name in head)
    return model


def unfreeze(model: keras.Model, batch_norm: bool = False) -> keras.Model:
    """Makes every layer of ``model`` trainable; batch norms stay frozen unless asked.

    Frozen batch norms keep their (pretrained) moving statistics and normalise with
    them while the rest of the network trains: the safe choice for small data.
    Recompile the model afterwards.

    Args:
        model: a Keras model.
        batch_norm: also train the batch norms (scale, offset and statistics).

    Returns:
        The same model.

    Example:
        >>> unfreeze(model)
        >>> model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=...)
    """
    for layer in model.layers:
        _set_trainable(layer, True)
    if not batch_norm:
        for layer in flatten_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    return model


def _set_trainable(layer: keras.Layer, trainable: bool) -> None:
    """Sets ``trainable`` on ``layer`` and on every layer inside it, one by one.

    Keras's setter passes the value down to nested layers, but on TensorFlow an
    assignment of the value a layer already has is skipped before the setter runs
    (``KerasAutoTrackable.__setattr__``), so a frozen batch norm inside a trainable
    block would stay frozen.
    """
    for each in (layer, *flatten_layers(layer)):
        each.trainable = trainable


def load_backbone(model: keras.Model, weights: Any) -> keras.Model:
    """Loads pretrained ``weights`` into ``model`` and gives it a fresh head.

    The backbone takes the weights (:func:`keras_resnet.weights.load_pretrained`
    reads every source it knows); the classifier starts from its initialiser even
    where the file's class count equals the model's, as the file's classes are not
    the data's.

    Args:
        model: a classifier built by this library.
        weights: anything :func:`~keras_resnet.weights.load_pretrained` takes:
            ``"imagenet"``, a file, ``"hf://..."``.

    Returns:
        The same model.

    Example:
        >>> model = load_backbone(keras_resnet.ResNet18(num_classes=5), "imagenet")
    """
    from keras_resnet.weights import load_pretrained

    load_pretrained(model, weights)
    for name in HEAD_LAYERS:
        head = model.get_layer(name)
        for variable, initializer in (
            (head.kernel, head.kernel_initializer),
            (head.bias, head.bias_initializer),
        ):
            fresh = initializer(tuple(variable.shape), dtype=variable.dtype)
            variable.assign(np.asarray(keras.ops.convert_to_numpy(fresh)))
    return model


def saved_model_name(weights: Any) -> str | None:
    """The named model a ``.keras`` file of this library holds; None for other sources.

    A run fine-tuning such a file (e.g. the ``model.keras`` of an earlier run) builds
    that model unless it is given another, as the file's weights fit no other.

    Example:
        >>> saved_model_name("saved_models/cifar10-resnet20/model.keras")
        'ResNet20'
    """
    from keras_resnet import saving

    if not isinstance(weights, str | os.PathLike):
        return None
    path = os.fspath(weights)
    if not (path.lower().endswith(".keras") and os.path.isfile(path)):
        return None
    try:
        return canonical_name(saving.read_metadata(path).get("model_name") or "")
    except ValueError:  # not a zip, or saved without a named model: the preset's stays
        return None


@dataclasses.dataclass(frozen=True)
class Phase:
    """One phase of a run: epochs ``[first_epoch, last_epoch)`` with one setting.

    Attributes:
        name: ``"train"`` (a run from scratch: nothing frozen), ``"head"`` or
            ``"whole network"``.
        first_epoch: the phase's first epoch, from 0.
        last_epoch: the epoch after its last.
        learning_rate_multiplier: the phase's peak rate over the run's.
        head_lr_multiplier: the head's rate over the rest's in the phase.
        frozen_backbone: only the head trains.
        train_batch_norm: in the whole-network phase, the batch norms train too.
    """

    name: str
    first_epoch: int
    last_epoch: int
    learning_rate_multiplier: float = 1.0
    head_lr_multiplier: float = 1.0
    frozen_backbone: bool = False
    train_batch_norm: bool = True

    @property
    def epochs(self) -> int:
        """Epochs in the phase."""
        return self.last_epoch - self.first_epoch

    def prepare(self, model: keras.Model) -> None:
        """Freezes or unfreezes ``model`` for this phase (a ``"train"`` phase leaves it)."""
        if self.frozen_backbone:
            freeze_backbone(model)
        elif self.name == WHOLE_NETWORK:
            unfreeze(model, batch_norm=self.train_batch_norm)

    def layer_rates(self) -> dict[str, float]:
        """The head's factor of the phase's rate, for the optimizer (which drops a 1)."""
        return {name: self.head_lr_multiplier for name in HEAD_LAYERS}

    def describe(self) -> str:
        """One line for the run's output, e.g. ``"head: epochs 1-3, backbone frozen"``."""
        text = f"{self.name}: epochs {self.first_epoch + 1}-{self.last_epoch}"
        if self.frozen_backbone:
            return f"{text}, backbone frozen (batch norm in inference mode)"
        if self.name == WHOLE_NETWORK:
            norms = "training" if self.train_batch_norm else "in inference mode"
            head = (
                f" (head x{self.head_lr_multiplier:g} of that)"
                if self.head_lr_multiplier != 1.0
                else ""
            )
            return (
                f"{text}, learning rate x{self.learning_rate_multiplier:g}{head}, "
                f"batch norm {norms}"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        """The phase as metrics.json keeps it."""
        return {**dataclasses.asdict(self), "epochs": self.epochs}


def schedule(config: TrainConfig) -> list[Phase]:
    """The phases of a run: one ``"train"`` phase, or with ``weights`` the fine-tuning two.

    With ``config.weights``, the first ``config.head_epochs`` epochs train the head
    alone and the rest the whole network at ``config.fine_tune_lr_multiplier`` times
    the peak rate, the head at ``config.head_lr_multiplier`` times that; a phase with
    no epochs is left out.

    Args:
        config: the run's settings.

    Returns:
        The phases, covering epochs ``0`` to ``config.epochs``.

    Raises:
        ValueError: on negative ``head_epochs`` or a multiplier that is not positive.

    Example:
        >>> [p.name for p in schedule(TrainConfig(weights="imagenet", epochs=10))]
        ['head', 'whole network']
    """
    if config.weights is None:
        return [Phase(TRAIN, 0, config.epochs)]
    if config.head_epochs < 0:
        raise ValueError(f"head_epochs must be at least 0, got {config.head_epochs}.")
    if not config.fine_tune_lr_multiplier > 0:
        raise ValueError(
            f"fine_tune_lr_multiplier must be positive, got {config.fine_tune_lr_multiplier}."
        )
    head_epochs = min(config.head_epochs, config.epochs)
    phases = [
        Phase(HEAD, 0, head_epochs, frozen_backbone=True),
        Phase(
            WHOLE_NETWORK,
            head_epochs,
            config.epochs,
            learning_rate_multiplier=config.fine_tune_lr_multiplier,
            head_lr_multiplier=config.head_lr_multiplier,
            train_batch_norm=config.fine_tune_batch_norm,
        ),
    ]
    return [phase for phase in phases if phase.epochs > 0]
