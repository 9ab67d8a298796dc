"""The release of keras_resnet: the one place its version number is written.

``pyproject.toml`` reads it for the package metadata, ``keras_resnet.__version__``
re-exports it, and :mod:`keras_resnet.saving` records it in every ``.keras`` file.
"""

__version__ = "0.2.0"
