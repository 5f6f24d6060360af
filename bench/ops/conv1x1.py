"""Conversions between a 1x1 convolution and the Linear layer it applies to every pixel."""

import torch
from torch import nn


def linear_from_conv1x1(conv: nn.Conv2d) -> nn.Linear:
    """A Linear layer that computes `conv` on every pixel of a channels-last (N, H, W, C) tensor.

    The weight (C_out, C_in, 1, 1) becomes (C_out, C_in); values are copied, not shared storage.
    Raises ValueError for a convolution that is not a plain 1x1 one.
    """
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
    problems = [
        f"{name}={value}"
        for name, value, plain in (
            ("kernel_size", conv.kernel_size, (1, 1)),
            ("stride", conv.stride, (1, 1)),
            ("dilation", conv.dilation, (1, 1)),
            ("groups", conv.groups, 1),
        )
        if value != plain
    ]
    if conv.padding not in ((0, 0), "valid", "same"):
        problems.append(f"padding={conv.padding}")
    if problems:
        raise ValueError(f"conv is not a plain 1x1 convolution ({', '.join(problems)}); only "
                         "kernel_size=1, stride=1, padding=0, dilation=1, groups=1 map to Linear")
    weight = conv.weight
    linear = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None,
                       device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight.reshape(conv.out_channels, conv.in_channels))
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear


def conv1x1_from_linear(linear: nn.Linear) -> nn.Conv2d:
    """A 1x1 convolution that computes `linear` at every pixel of an (N, C, H, W) tensor.

    Values are copied, not shared storage. Raises ValueError for anything but an nn.Linear.
    """
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"linear must be an nn.Linear, got {type(linear).__name__}")
    weight = linear.weight
    conv = nn.Conv2d(linear.in_features, linear.out_features, kernel_size=1,
                     bias=linear.bias is not None, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(*weight.shape, 1, 1))
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    return conv
