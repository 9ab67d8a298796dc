"""The share of a source's training images held out for validation when it has none."""

# load_data's default, and the training presets' (keras_resnet.training.config imports
# it): a module without TensorFlow, so that importing it costs nothing.
VALIDATION_SPLIT = 0.2
