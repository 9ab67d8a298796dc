"""The names of the training augmentations: the one list that load_data and TrainConfig offer.

This module imports nothing, so that the command line and
:class:`~keras_resnet.training.TrainConfig` can offer the names without loading
TensorFlow.

- ``"basic"``: random-resized crop and horizontal flip (the digits get ``"shift"``).
- ``"shift"``: random translation and zoom, no flip.
- ``"pad_crop"``: pad 4 black pixels on each side, crop the output size at random,
  flip: the ResNet paper's CIFAR augmentation.
- ``"randaugment"``: ``"basic"`` followed by RandAugment.
"""

AUGMENTATIONS = ("basic", "shift", "pad_crop", "randaugment")
