"""The defaults that loading data, training and evaluating share.

A module without TensorFlow, so that keras_resnet.training.config and the command
line import these values for nothing.
"""

# The share of a source's training images held out for validation when it has none:
# load_data's default and the presets' (all but those whose data brings a split).
VALIDATION_SPLIT = 0.2

# Images per step: Keras's own default, for load_data and TrainConfig alike.
BATCH_SIZE = 32

# Images per batch when evaluating and predicting: no gradients to keep, so twice
# training's batch fits in the same memory.
EVALUATION_BATCH_SIZE = 64

# The seed of the split, the shuffling and the augmentation when none is given.
SEED = 0

# The k of the top-k accuracy that training and evaluation report, and of the classes
# that predict lists.
TOP_K = 5
