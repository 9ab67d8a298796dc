"""keras_resnet: ResNets for Keras 3 on TensorFlow, JAX and PyTorch."""

from keras_resnet.console import prefer_onednn, quiet_startup

prefer_onednn()  # read by TensorFlow when it starts
with quiet_startup():  # the command's first screen is not TensorFlow's start-up log
    import keras  # noqa: F401

# Registers the recipe's loss and optimizers, so keras.saving.load_model reloads
# compiled models.
from keras_resnet import losses, optimizers  # noqa: E402, F401
from keras_resnet.config import ResNetConfig  # noqa: E402
from keras_resnet.imagenet import decode_predictions, preprocess_input  # noqa: E402
from keras_resnet.layers import (  # noqa: E402
    BasicBlock,
    Bottleneck,
    DropPath,
    SqueezeExcite,
    ZeroPadShortcut,
)
from keras_resnet.models import (  # noqa: E402
    MODEL_CONFIGS,
    ResNet,
    ResNet18,
    ResNet18D,
    ResNet20,
    ResNet32,
    ResNet34,
    ResNet34D,
    ResNet44,
    ResNet50,
    ResNet50D,
    ResNet50V2,
    ResNet56,
    ResNet101,
    ResNet101D,
    ResNet101V2,
    ResNet110,
    ResNet152,
    ResNet152D,
    ResNet152V2,
    ResNetModel,
    ResNeXt50_32x4d,
    ResNeXt101_32x8d,
    WideResNet50_2,
    WideResNet101_2,
    feature_extractor,
    get_model,
    resnet_config,
)
from keras_resnet.version import __version__  # noqa: E402
