"""The paper's CIFAR ResNet (6n+2 layers) written in plain ``torch.nn``, for comparisons.

He et al. 2015, section 4.2: a 3x3 stem of 16 channels, three stages of ``n`` basic
blocks at 16, 32 and 64 channels (stride 2 at the start of the second and third),
global average pooling and one dense layer. Shortcuts are option A: a strided identity
padded with zero channels where the width doubles, so the network has no projection
weights (ResNet-20: 0.27 M parameters). Convolutions start with He's normal
initialisation (fan out).
"""

from __future__ import annotations

import torch
from torch import nn

WIDTHS = (16, 32, 64)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the option-A shortcut."""

    def __init__(self, channels_in: int, channels_out: int, stride: int, zero_init_last: bool):
        super().__init__()
        self.stride = stride
        extra = (channels_out - channels_in) // 2
        self.pad = (0, 0, 0, 0, extra, extra)
        self.branch = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels_out),
        )
        if zero_init_last:  # the block starts as its shortcut (Goyal et al. 2017)
            nn.init.zeros_(self.branch[4].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.stride == 1 else nn.functional.pad(x[:, :, ::2, ::2], self.pad)
        return torch.relu(shortcut + self.branch(x))


def cifar_resnet(
    blocks_per_stage: int = 3, classes: int = 10, zero_init_last: bool = False
) -> nn.Sequential:
    """ResNet-(6n+2) for 32x32 images: ``blocks_per_stage`` 3 is ResNet-20, 9 ResNet-56."""
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)]
    layers.append(nn.ReLU(inplace=True))
    channels = 16
    for stage, width in enumerate(WIDTHS):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(channels, width, stride, zero_init_last))
            channels = width
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes)]
    net = nn.Sequential(*layers, *head)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return net
