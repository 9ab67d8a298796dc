"""Pretrained weights: torchvision, timm and keras.applications ResNets, read and converted.

Three kinds of source load into the models of this library:

* torchvision and timm state dicts, from ``.pth``/``.pt``/``.bin`` files (torch's zip
  format read without PyTorch), ``.safetensors`` files, a ``torch.nn.Module`` or a
  mapping of arrays (:mod:`~keras_resnet.weights.readers`,
  :mod:`~keras_resnet.weights.torchvision`);
* keras.applications ResNet50/101/152 and ResNet50V2/101V2/152V2: a downloaded ``.h5``,
  a ``.weights.h5`` saved from such a model, or the model object itself
  (:mod:`~keras_resnet.weights.keras_applications`);
* this library's own ``.weights.h5`` files, loaded as they are.

Published sets (:data:`PRETRAINED_WEIGHTS`) and Hugging Face Hub sets (``hf://``) are
downloaded, checked against their hash and cached (:mod:`~keras_resnet.weights.download`,
:mod:`~keras_resnet.weights.hub`). Every conversion checks the whole model before it
assigns anything (:mod:`~keras_resnet.weights.assign`).

Example:
    >>> model = keras_resnet.ResNet50(weights="imagenet")              # torchvision's V2
    >>> model = keras_resnet.ResNet50(weights="hf://timm/resnet50.a1_in1k")
    >>> model = keras_resnet.ResNet50(num_classes=5, weights="resnet50-11ad3fa6.pth")
    >>> convert("resnet50v2_weights_tf_dim_ordering_tf_kernels.h5", "resnet50v2",
    ...         "saved_models/resnet50v2.keras")
"""

from keras_resnet.weights.api import convert, load_pretrained, source_layout
from keras_resnet.weights.architecture import Architecture, architecture_of
from keras_resnet.weights.download import BASE_URL_ENV, download_hub_file, download_weights
from keras_resnet.weights.hub import HubFile, parse_hub_name
from keras_resnet.weights.keras_applications import (
    KERAS_APPLICATIONS_EPSILON,
    load_keras_applications_weights,
)
from keras_resnet.weights.readers import (
    H5_SUFFIXES,
    SAFETENSORS_SUFFIX,
    TORCH_SUFFIXES,
    read_keras_applications,
    read_state_dict,
)
from keras_resnet.weights.sets import (
    KERAS_V1_LAYOUT,
    KERAS_V2_LAYOUT,
    PRETRAINED_WEIGHTS,
    WeightSet,
    find_weight_set,
)
from keras_resnet.weights.torch_pickle import UnsafePickleError
from keras_resnet.weights.torchvision import load_torch_weights

__all__ = [
    "BASE_URL_ENV",
    "H5_SUFFIXES",
    "KERAS_APPLICATIONS_EPSILON",
    "KERAS_V1_LAYOUT",
    "KERAS_V2_LAYOUT",
    "PRETRAINED_WEIGHTS",
    "SAFETENSORS_SUFFIX",
    "TORCH_SUFFIXES",
    "Architecture",
    "HubFile",
    "UnsafePickleError",
    "WeightSet",
    "architecture_of",
    "convert",
    "download_hub_file",
    "download_weights",
    "find_weight_set",
    "load_keras_applications_weights",
    "load_pretrained",
    "load_torch_weights",
    "parse_hub_name",
    "read_keras_applications",
    "read_state_dict",
    "source_layout",
]
