"""Residual blocks: the basic and bottleneck blocks of ResNet and their variants.

Both blocks are plain ``keras.layers.Layer`` subclasses built from ``keras.layers``
and ``keras.ops``, so they run unchanged on the TensorFlow, JAX and PyTorch backends;
their batch norm and convs (``batch_norm.py``, ``conv.py``) take the backend's fast
path where one was measured faster. One block class covers every variant through its arguments:

* stride placement: v1.5 (on the 3x3 conv, the default) or v1 (on the first 1x1 conv);
* ResNeXt and wide ResNets: ``groups`` and ``base_width`` of the bottleneck;
* ResNet-D: ``avg_down`` (average-pool, then a stride-1 projection in the shortcut);
* ResNet V2: ``preact`` (BN-ReLU before each conv, He et al. 2016, "Identity Mappings");
* keras.applications' ResNetV2: ``stride_in_last_block`` (a strided identity shortcut);
* squeeze-and-excitation (``se_ratio``) and stochastic depth (``drop_path_rate``).
"""

from __future__ import annotations

import keras
from keras import layers

from keras_resnet.layers.batch_norm import BatchNormalization
from keras_resnet.layers.conv import Conv2D
from keras_resnet.layers.extras import DropPath, SqueezeExcite, ZeroPadShortcut

# torch's BatchNorm defaults, which the published ResNet recipes were tuned with.
# Keras's default momentum of 0.99 makes short runs evaluate badly.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def he_normal_fan_out() -> keras.initializers.Initializer:
    """He-normal initialiser over fan-out, as torchvision initialises ResNet convs."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


class ConvFactory:
    """The conv and BN settings every ResNet layer shares, stated once.

    Args:
        data_format: ``"channels_last"`` or ``"channels_first"``; None takes
            ``keras.config.image_data_format()``.
        dtype: dtype policy handed to every sublayer.
        use_bias: give convs a bias (only needed to load keras.applications weights).
    """

    def __init__(self, data_format=None, dtype=None, use_bias=False):
        self.data_format = data_format or keras.config.image_data_format()
        self.dtype = dtype
        self.use_bias = use_bias

    @property
    def channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def conv(self, filters, kernel_size, strides=1, groups=1, name=None, zero_init=False):
        """A conv with torch-style symmetric padding, as a list of layers.

        Stride-1 convs use "same" padding, which is symmetric for odd kernels. Strided
        convs get explicit symmetric zero padding: Keras's "same" pads only the bottom
        and right there, which would shift every feature map against torchvision's.
        """
        pad = kernel_size // 2
        strided = strides > 1 and pad > 0
        conv = Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="valid" if strided else "same",
            groups=groups,
            use_bias=self.use_bias,
            kernel_initializer="zeros" if zero_init else he_normal_fan_out(),
            data_format=self.data_format,
            dtype=self.dtype,
            name=name,
        )
        if not strided:
            return [conv]
        padding = layers.ZeroPadding2D(
            pad, data_format=self.data_format, dtype=self.dtype, name=f"{name}_pad"
        )
        return [padding, conv]

    def batch_norm(self, name=None, zero_gamma=False):
        return BatchNormalization(
            axis=self.channel_axis,
            momentum=BN_MOMENTUM,
            epsilon=BN_EPSILON,
            gamma_initializer="zeros" if zero_gamma else "ones",
            dtype=self.dtype,
            name=name,
        )

    def relu(self, name=None):
        return layers.ReLU(dtype=self.dtype, name=name)


def _build_chain(chain, shape):
    """Builds layers that run one after another; returns the shape coming out."""
    for layer in chain:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return shape


def _run_chain(chain, x):
    for layer in chain:
        x = layer(x)
    return x


class ResidualBlock(layers.Layer):
    """What the basic and bottleneck blocks share: shortcut, SE, drop path, the sum.

    ``y = shortcut(x) + drop_path(se(f(x)))``, then a ReLU for the post-activation
    forms. Subclasses set ``expansion`` (output channels per filter) and implement
    ``_branch(factory, in_channels)``, which returns the layers of the residual branch
    f(x) in order. The arguments are those of :class:`BasicBlock` and
    :class:`Bottleneck`.

    Raises:
        ValueError: on non-positive filters, strides, groups or base width.

    Example:
        >>> isinstance(BasicBlock(64), ResidualBlock)
        True
    """

    expansion = 1

    def __init__(
        self,
        filters: int,
        strides: int = 1,
        groups: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = False,
        preact: bool = False,
        avg_down: bool = False,
        zero_pad_shortcut: bool = False,
        se_ratio: float | None = None,
        drop_path_rate: float = 0.0,
        zero_init_last: bool = True,
        use_bias: bool = False,
        data_format: str | None = None,
        stride_in_last_block: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if filters < 1 or strides < 1 or groups < 1 or base_width < 1:
            raise ValueError(
                f"{type(self).__name__} needs positive filters, strides, groups and "
                f"base_width; got filters={filters}, strides={strides}, groups={groups}, "
                f"base_width={base_width}."
            )
        self.filters = filters
        self.strides = strides
        self.groups = groups
        self.base_width = base_width
        self.stride_in_1x1 = stride_in_1x1
        self.preact = preact
        self.avg_down = avg_down
        self.zero_pad_shortcut = zero_pad_shortcut
        self.se_ratio = se_ratio
        self.drop_path_rate = drop_path_rate
        self.zero_init_last = zero_init_last
        self.use_bias = use_bias
        self.data_format = data_format or keras.config.image_data_format()
        self.stride_in_last_block = stride_in_last_block

    @property
    def output_channels(self) -> int:
        return self.filters * self.expansion

    @property
    def _zero_last_conv(self) -> bool:
        # A V2 branch ends with a conv, not a BN: zero that to start as an identity.
        return self.preact and self.zero_init_last

    def _factory(self):
        return ConvFactory(self.data_format, self.dtype_policy, self.use_bias)

    def _subsamples(self, in_channels) -> bool:
        return (
            self.stride_in_last_block and self.strides > 1 and in_channels == self.output_channels
        )

    def _shortcut(self, factory, in_channels):
        """Identity when shapes match, else a subsampling, a (pooled) projection or zero padding."""
        if self.strides == 1 and in_channels == self.output_channels:
            return []
        if self._subsamples(in_channels):
            # keras.applications' ResNetV2: MaxPooling2D(1, stride), a strided identity.
            return [
                layers.MaxPooling2D(
                    1,
                    self.strides,
                    data_format=self.data_format,
                    dtype=self.dtype_policy,
                    name="shortcut_subsample",
                )
            ]
        if self.zero_pad_shortcut:
            if in_channels > self.output_channels:
                raise ValueError(
                    f"zero_pad_shortcut cannot shrink {in_channels} channels to "
                    f"{self.output_channels}; use the projection shortcut."
                )
            return [
                ZeroPadShortcut(
                    self.output_channels,
                    self.strides,
                    self.data_format,
                    dtype=self.dtype_policy,
                    name="shortcut_pad",
                )
            ]
        chain = []
        conv_strides = self.strides
        if self.avg_down and self.strides > 1:
            chain.append(
                layers.AveragePooling2D(
                    self.strides,
                    self.strides,
                    padding="same",
                    data_format=self.data_format,
                    dtype=self.dtype_policy,
                    name="shortcut_pool",
                )
            )
            conv_strides = 1
        chain += factory.conv(self.output_channels, 1, conv_strides, name="shortcut_conv")
        if not self.preact:
            chain.append(factory.batch_norm(name="shortcut_bn"))
        return chain

    def build(self, input_shape):
        factory = self._factory()
        in_channels = input_shape[factory.channel_axis]
        # V2 normalises once at the block input; the shortcut projection sees it too.
        self.preact_layers = (
            [factory.batch_norm(name="preact_bn"), factory.relu(name="preact_relu")]
            if self.preact
            else []
        )
        self.branch_layers = self._branch(factory, in_channels)
        self.shortcut_layers = self._shortcut(factory, in_channels)
        # A subsampling shortcut is a strided identity: like the identity, it takes the
        # block input before the pre-activation.
        self.shortcut_takes_preact = self.preact and not self._subsamples(in_channels)
        self.squeeze_excite = (
            SqueezeExcite(self.se_ratio, self.data_format, dtype=self.dtype_policy, name="se")
            if self.se_ratio
            else None
        )
        self.drop_path = (
            DropPath(self.drop_path_rate, dtype=self.dtype_policy, name="drop_path")
            if self.drop_path_rate
            else None
        )
        self.out_relu = None if self.preact else factory.relu(name="out_relu")

        block_input = _build_chain(self.preact_layers, input_shape)
        branch_output = _build_chain(self.branch_layers, block_input)
        _build_chain(
            self.shortcut_layers, block_input if self.shortcut_takes_preact else input_shape
        )
        if self.squeeze_excite is not None:
            self.squeeze_excite.build(branch_output)

    def call(self, inputs, training=None):
        block_input = _run_chain(self.preact_layers, inputs)
        residual = _run_chain(self.branch_layers, block_input)
        if self.squeeze_excite is not None:
            residual = self.squeeze_excite(residual)
        if self.drop_path is not None:
            residual = self.drop_path(residual)
        if self.shortcut_layers:
            shortcut = _run_chain(
                self.shortcut_layers, block_input if self.shortcut_takes_preact else inputs
            )
        else:
            shortcut = inputs
        outputs = residual + shortcut
        return outputs if self.out_relu is None else self.out_relu(outputs)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        spatial_axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis in spatial_axes:
            if shape[axis] is not None:
                shape[axis] = -(-shape[axis] // self.strides)
        shape[-1 if self.data_format == "channels_last" else 1] = self.output_channels
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "groups": self.groups,
            "base_width": self.base_width,
            "stride_in_1x1": self.stride_in_1x1,
            "preact": self.preact,
            "avg_down": self.avg_down,
            "zero_pad_shortcut": self.zero_pad_shortcut,
            "se_ratio": self.se_ratio,
            "drop_path_rate": self.drop_path_rate,
            "zero_init_last": self.zero_init_last,
            "use_bias": self.use_bias,
            "data_format": self.data_format,
            "stride_in_last_block": self.stride_in_last_block,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Files saved by release 0.1 name stride_in_last_block "subsample_shortcut".
        if "subsample_shortcut" in config:
            config["stride_in_last_block"] = config.pop("subsample_shortcut")
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_resnet")
class BasicBlock(ResidualBlock):
    """The two-conv residual block of ResNet18/34 and the CIFAR ResNets.

    ``y = relu(x + bn(conv3x3(relu(bn(conv3x3(x))))))``, with a 1x1 projection on
    the shortcut when the stride or channel count changes. Output channels equal
    ``filters`` (``expansion = 1``).

    Args:
        filters: channels of both 3x3 convs and of the output.
        strides: stride of the first 3x3 conv (and of the shortcut).
        preact: pre-activation (V2) form: BN-ReLU before each conv, no ReLU after the sum.
        avg_down: ResNet-D shortcut: 2x2 average pool, then a stride-1 1x1 conv.
        zero_pad_shortcut: parameter-free shortcut (subsample, zero-pad channels), as
            the CIFAR ResNets of the paper.
        se_ratio: add squeeze-and-excitation with this reduction ratio; None for none.
        drop_path_rate: stochastic-depth probability of dropping the branch.
        zero_init_last: start the last BN's gamma at zero, so the block starts as an
            identity (Goyal et al. 2017); for V2 blocks the last conv starts at zero.
        use_bias: give convs a bias.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        stride_in_last_block: the block belongs to a network in keras.applications'
            ResNetV2 arrangement, where the last block of a stage subsamples: when it
            strides but keeps its channel count, its shortcut subsamples the block input
            (a 1x1 max-pool with the block's stride) instead of projecting it.
        groups, base_width, stride_in_1x1: accepted for a uniform signature; a basic
            block has no grouped or 1x1 convs, so they must keep their defaults.
        **kwargs: ``name``, ``dtype`` and the other ``keras.layers.Layer`` arguments.

    Raises:
        ValueError: on non-positive sizes, or grouped/widened/v1 settings.

    Example:
        >>> x = keras.Input((32, 32, 64))
        >>> y = BasicBlock(128, strides=2)(x)   # (None, 16, 16, 128)
    """

    expansion = 1

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(filters, strides, **kwargs)
        if self.groups != 1 or self.base_width != 64 or self.stride_in_1x1:
            raise ValueError(
                "BasicBlock has no grouped or 1x1 convs: groups, base_width and "
                "stride_in_1x1 apply to Bottleneck only. Use block_type='bottleneck' "
                "for ResNeXt, wide and v1 networks."
            )

    def _branch(self, factory, in_channels):
        return [
            *factory.conv(self.filters, 3, self.strides, name="conv1"),
            *_norm_act(factory, "1", last=False, preact=self.preact),
            *factory.conv(self.filters, 3, name="conv2", zero_init=self._zero_last_conv),
            *_norm_act(factory, "2", last=True, preact=self.preact, zero=self.zero_init_last),
        ]


@keras.saving.register_keras_serializable(package="keras_resnet")
class Bottleneck(ResidualBlock):
    """The 1x1-3x3-1x1 residual block of ResNet50 and deeper, ResNeXt and wide ResNets.

    The 3x3 conv works at ``width = filters * base_width / 64 * groups`` channels and
    the output has ``4 * filters`` channels (``expansion = 4``).

    Args:
        filters: channels of the first 1x1 conv at base width; the output has 4x that.
        strides: stride of the 3x3 conv (v1.5) or of the first 1x1 conv (v1).
        groups: groups of the 3x3 conv (ResNeXt cardinality).
        base_width: channels per group at ``filters=64`` (4 for ResNeXt 32x4d, 128 for
            WideResNet50_2).
        stride_in_1x1: v1 placement of the stride, as in the original paper and
            keras.applications; v1.5 (False) is more accurate and is the default.
        preact: pre-activation (V2) form.
        avg_down: ResNet-D shortcut: average pool, then a stride-1 1x1 conv.
        zero_pad_shortcut: parameter-free shortcut (subsample, zero-pad channels).
        se_ratio: add squeeze-and-excitation with this reduction ratio; None for none.
        drop_path_rate: stochastic-depth probability of dropping the branch.
        zero_init_last: start the last BN's gamma (V2: the last conv) at zero.
        use_bias: give convs a bias.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        stride_in_last_block: the block belongs to a network in keras.applications'
            ResNetV2 arrangement, where the last block of a stage subsamples: when it
            strides but keeps its channel count, its shortcut subsamples the block input
            (a 1x1 max-pool with the block's stride) instead of projecting it.
        **kwargs: ``name``, ``dtype`` and the other ``keras.layers.Layer`` arguments.

    Raises:
        ValueError: on non-positive sizes.

    Example:
        >>> x = keras.Input((56, 56, 64))
        >>> y = Bottleneck(64)(x)                       # (None, 56, 56, 256)
        >>> z = Bottleneck(128, strides=2, groups=32, base_width=4)(y)   # ResNeXt
    """

    expansion = 4

    @property
    def width(self) -> int:
        return int(self.filters * (self.base_width / 64.0)) * self.groups

    def _branch(self, factory, in_channels):
        stride_1x1, stride_3x3 = (self.strides, 1) if self.stride_in_1x1 else (1, self.strides)
        return [
            *factory.conv(self.width, 1, stride_1x1, name="conv1"),
            *_norm_act(factory, "1", last=False, preact=self.preact),
            *factory.conv(self.width, 3, stride_3x3, groups=self.groups, name="conv2"),
            *_norm_act(factory, "2", last=False, preact=self.preact),
            *factory.conv(self.output_channels, 1, name="conv3", zero_init=self._zero_last_conv),
            *_norm_act(factory, "3", last=True, preact=self.preact, zero=self.zero_init_last),
        ]


def _norm_act(factory, index, last, preact, zero=False):
    """The BN (and ReLU) after conv number ``index`` of a branch.

    The post-activation (v1) branch ends with a BN whose ReLU comes after the sum;
    the pre-activation (V2) branch ends with the bare conv.
    """
    if last:
        return [] if preact else [factory.batch_norm(name=f"bn{index}", zero_gamma=zero)]
    return [factory.batch_norm(name=f"bn{index}"), factory.relu(name=f"relu{index}")]
