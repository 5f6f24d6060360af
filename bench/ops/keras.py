"""Convolution kernels in Keras' layout, and convolutions built from them.

PyTorch stores a convolution weight output-channels first, (out, in/groups, kh, kw); Keras stores
it spatial dimensions first and output channels last, (kh, kw, in/groups, out). Both hold one
filter per output channel that spans every input channel of its group, which is why a Keras
Conv2D kernel has four dimensions rather than three.
"""

import torch
from torch import nn

# PyTorch dimension order of a weight -> Keras order, by the weight's number of dimensions
_TO_KERAS = {2: (1, 0), 3: (2, 1, 0), 4: (2, 3, 1, 0)}
_FROM_KERAS = {3: (2, 1, 0), 4: (3, 2, 0, 1)}
_CONVS = {3: nn.Conv1d, 4: nn.Conv2d}


def keras_shape(shape) -> tuple[int, ...]:
    """The Keras order of a PyTorch Linear (out, in), Conv1d (out, in/groups, k) or Conv2d
    (out, in/groups, kh, kw) weight shape: (in, out), (k, in/groups, out), (kh, kw, in/groups,
    out). Raises ValueError for any other number of dimensions."""
    shape = tuple(shape)
    if len(shape) not in _TO_KERAS:
        raise ValueError(f"a Linear, Conv1d or Conv2d weight has 2 to 4 dimensions, got {shape}")
    return tuple(shape[i] for i in _TO_KERAS[len(shape)])


def keras_kernel(conv: nn.Module) -> torch.Tensor:
    """The weight of an nn.Conv2d as (kh, kw, in/groups, out), or of an nn.Conv1d as
    (k, in/groups, out): a new contiguous tensor, detached, never sharing the weight's storage.
    Raises ValueError for any other module."""
    if not isinstance(conv, (nn.Conv1d, nn.Conv2d)):
        raise ValueError(f"conv must be an nn.Conv1d or nn.Conv2d, got {type(conv).__name__}")
    if isinstance(conv.weight, nn.parameter.UninitializedParameter):
        raise ValueError("conv is a lazy convolution that has not seen an input yet")
    weight = conv.weight.detach()
    # clone, not contiguous(): a permuted weight with unit dimensions can already be contiguous,
    # and the caller must never write into the module's weight through the result
    return weight.permute(_TO_KERAS[weight.dim()]).clone(memory_format=torch.contiguous_format)


def _check_kernel(kernel, bias, groups) -> None:
    if not isinstance(kernel, torch.Tensor) or kernel.dim() not in _CONVS:
        shape = tuple(kernel.shape) if isinstance(kernel, torch.Tensor) else type(kernel).__name__
        raise ValueError("kernel must be a Keras Conv1D (k, in, out) or Conv2D (kh, kw, in, out) "
                         f"tensor, got {shape}")
    if not kernel.is_floating_point():
        raise ValueError(f"kernel must be floating point, got {kernel.dtype}")
    if 0 in kernel.shape:
        raise ValueError(f"kernel has an empty dimension: {tuple(kernel.shape)}")
    if not isinstance(groups, int) or groups < 1 or kernel.shape[-1] % groups:
        raise ValueError(f"groups={groups} must be a positive integer dividing the "
                         f"{kernel.shape[-1]} output channels")
    if bias is not None and (not isinstance(bias, torch.Tensor)
                             or tuple(bias.shape) != (kernel.shape[-1],)):
        shape = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
        raise ValueError(f"bias must have shape ({kernel.shape[-1]},) like the kernel's output "
                         f"channels, got {shape}")


def conv_from_keras_kernel(kernel: torch.Tensor, bias: torch.Tensor | None = None, stride=1,
                           padding=0, dilation=1, groups: int = 1) -> nn.Conv1d | nn.Conv2d:
    """The nn.Conv2d (4-d kernel, (kh, kw, in/groups, out)) or nn.Conv1d (3-d kernel,
    (k, in/groups, out)) that computes this Keras convolution, with in_channels =
    in/groups * groups. Values are copied (same dtype and device as the kernel), not shared.
    Raises ValueError for a kernel or bias that cannot be a convolution's."""
    _check_kernel(kernel, bias, groups)
    *spatial, in_per_group, out = kernel.shape
    conv = _CONVS[kernel.dim()](in_per_group * groups, out, tuple(spatial), stride=stride,
                                padding=padding, dilation=dilation, groups=groups,
                                bias=bias is not None, device=kernel.device, dtype=kernel.dtype)
    with torch.no_grad():
        conv.weight.copy_(kernel.permute(_FROM_KERAS[kernel.dim()]))
        if bias is not None:
            conv.bias.copy_(bias)
    return conv
