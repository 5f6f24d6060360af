"""Keras-layout kernels: a convolution computed straight from one equals PyTorch's."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bench.ops.keras import conv_from_keras_kernel, keras_kernel, keras_shape


def keras_conv2d(x, kernel, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                 groups=1):
    """Convolution of (N, C, H, W) with a (kh, kw, C/groups, out) kernel, on unfolded patches."""
    kh, kw, per_group, out = kernel.shape
    patches = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    # unfold orders each patch channel-major, (C, kh, kw); the kernel's own order is (kh, kw, C)
    patches = patches.unflatten(1, (groups, per_group, kh, kw))
    filters = kernel.unflatten(3, (groups, out // groups))
    y = torch.einsum("ngcijl,ijcgo->ngol", patches, filters).flatten(1, 2)
    sizes = [(n + 2 * p - d * (k - 1) - 1) // s + 1
             for n, k, s, p, d in zip(x.shape[2:], (kh, kw), stride, padding, dilation)]
    y = y.unflatten(2, sizes)
    return y if bias is None else y + bias[:, None, None]


def keras_conv1d(x, kernel, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Convolution of (N, C, L) with a (k, C/groups, out) kernel, on strided windows."""
    k, per_group, out = kernel.shape
    span = dilation * (k - 1) + 1
    windows = F.pad(x, (padding, padding)).unfold(2, span, stride)[..., ::dilation]
    windows = windows.unflatten(1, (groups, per_group))  # (N, groups, C/groups, L_out, k)
    filters = kernel.unflatten(2, (groups, out // groups))
    y = torch.einsum("ngclj,jcgo->ngol", windows, filters).flatten(1, 2)
    return y if bias is None else y + bias[:, None]


CASES_2D = [  # in, out, kernel, stride, padding, dilation, groups
    (3, 8, (3, 3), (1, 1), (0, 0), (1, 1), 1),
    (4, 6, (3, 5), (2, 1), (1, 2), (1, 1), 1),
    (4, 4, (3, 3), (1, 2), (2, 2), (2, 1), 2),   # grouped, dilated
    (6, 12, (3, 3), (2, 2), (1, 1), (1, 1), 6),  # depthwise, two filters per channel
    (8, 16, (7, 7), (1, 1), (3, 3), (1, 1), 1),  # the seed's second Conv2D
    (5, 1, (1, 1), (1, 1), (0, 0), (1, 1), 1),
]
CASES_1D = [
    (3, 8, 3, 1, 0, 1, 1),
    (4, 6, 5, 2, 2, 1, 2),
    (4, 8, 3, 1, 2, 2, 4),  # depthwise, dilated
    (2, 3, 1, 3, 0, 1, 1),
]


def _conv_cases(cases, cls, length):
    """(module, input, its settings) for each case, seeded."""
    made = []
    for cin, cout, k, s, p, d, g in cases:
        torch.manual_seed(0)
        conv = cls(cin, cout, k, stride=s, padding=p, dilation=d, groups=g).double()
        x = torch.randn(2, cin, *(length,) * (2 if cls is nn.Conv2d else 1), dtype=torch.float64)
        made.append((conv, x, {"stride": s, "padding": p, "dilation": d, "groups": g}))
    return made


@pytest.mark.parametrize("conv, x, kwargs", _conv_cases(CASES_2D, nn.Conv2d, 11))
def test_keras_kernel_computes_what_conv2d_computes(conv, x, kwargs):
    got = keras_conv2d(x, keras_kernel(conv), conv.bias, **kwargs)
    torch.testing.assert_close(got, conv(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("conv, x, kwargs", _conv_cases(CASES_1D, nn.Conv1d, 13))
def test_keras_kernel_computes_what_conv1d_computes(conv, x, kwargs):
    got = keras_conv1d(x, keras_kernel(conv), conv.bias, **kwargs)
    torch.testing.assert_close(got, conv(x), rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1, 2]), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2),
       st.integers(1, 3), st.integers(1, 2), st.integers(0, 2), st.integers(1, 2),
       st.booleans())
def test_a_conv2d_built_from_a_keras_kernel_computes_it(groups, per_group, per_out, kh, kw,
                                                       stride, padding, dilation, bias):
    generator = torch.Generator().manual_seed(kh * 7 + kw)
    kernel = torch.randn(kh, kw, per_group, per_out * groups, generator=generator,
                         dtype=torch.float64)
    b = torch.randn(per_out * groups, generator=generator, dtype=torch.float64) if bias else None
    x = torch.randn(2, per_group * groups, 9, 8, generator=generator, dtype=torch.float64)
    conv = conv_from_keras_kernel(kernel, b, stride, padding, dilation, groups)
    assert (conv.in_channels, conv.out_channels) == (per_group * groups, per_out * groups)
    expected = keras_conv2d(x, kernel, b, (stride,) * 2, (padding,) * 2, (dilation,) * 2, groups)
    torch.testing.assert_close(conv(x), expected, rtol=1e-12, atol=1e-12)


def test_a_conv1d_built_from_a_keras_kernel_computes_it():
    kernel = torch.randn(3, 2, 6, dtype=torch.float64)
    bias = torch.randn(6, dtype=torch.float64)
    x = torch.randn(2, 6, 17, dtype=torch.float64)
    conv = conv_from_keras_kernel(kernel, bias, stride=2, padding=3, dilation=2, groups=3)
    assert isinstance(conv, nn.Conv1d) and conv.weight.shape == (6, 2, 3)
    torch.testing.assert_close(conv(x), keras_conv1d(x, kernel, bias, 2, 3, 2, 3),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 3, 4, 8), (1, 1, 5, 1), (5, 2, 6), (1, 1, 1)])
def test_round_trips_are_exact(shape):
    kernel = torch.randn(shape)
    bias = torch.randn(shape[-1])
    conv = conv_from_keras_kernel(kernel, bias, stride=2, padding=1, dilation=1, groups=1)
    assert torch.equal(keras_kernel(conv), kernel)
    again = conv_from_keras_kernel(keras_kernel(conv), conv.bias.detach(), conv.stride,
                                   conv.padding, conv.dilation, conv.groups)
    assert torch.equal(again.weight, conv.weight) and torch.equal(again.bias, conv.bias)
    assert (again.stride, again.padding, again.dilation) == (conv.stride, conv.padding,
                                                             conv.dilation)


def test_settings_are_carried():
    conv = conv_from_keras_kernel(torch.randn(3, 5, 2, 8), None, stride=(2, 1),
                                  padding=(1, 2), dilation=(2, 1), groups=4)
    assert (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups) == \
        ((3, 5), (2, 1), (1, 2), (2, 1), 4)
    assert (conv.in_channels, conv.out_channels, conv.bias) == (8, 8, None)


def test_the_seeds_kernel_has_four_dimensions():
    # Keras: Conv2D(8, (11, 11)) then Conv2D(16, (7, 7)); each of the 16 filters spans 8 maps
    conv = nn.Conv2d(8, 16, (7, 7))
    assert keras_kernel(conv).shape == (7, 7, 8, 16)
    assert sum(p.numel() for p in conv.parameters()) == 7 * 7 * 8 * 16 + 16
    assert keras_shape((16, 8, 7, 7)) == (7, 7, 8, 16)
    assert keras_shape((10, 64)) == (64, 10)  # a Linear's (out, in) is Keras' (in, out)
    assert keras_shape((16, 4, 5)) == (5, 4, 16)


def test_keras_kernel_is_a_contiguous_copy():
    conv = nn.Conv2d(1, 1, 1)  # its permuted weight would already be contiguous
    kernel = keras_kernel(conv)
    assert kernel.is_contiguous() and not kernel.requires_grad
    assert kernel.untyped_storage().data_ptr() != conv.weight.untyped_storage().data_ptr()
    kernel.fill_(5.0)
    assert conv.weight.item() != 5.0


@pytest.mark.parametrize("kernel, kwargs, word", [
    (torch.randn(3, 8), {}, "Conv2D"),
    (torch.randn(1, 3, 3, 2, 4), {}, "Conv2D"),
    ([[1.0]], {}, "Conv2D"),
    (torch.ones(3, 3, 2, 4, dtype=torch.int64), {}, "floating"),
    (torch.randn(3, 0, 2, 4), {}, "empty"),
    (torch.randn(3, 3, 2, 6), {"groups": 4}, "dividing the 6 output channels"),  # ours
    (torch.randn(3, 3, 2, 6), {"groups": 0}, "groups"),
    (torch.randn(3, 2, 6), {"bias": torch.randn(5)}, "bias"),
    (torch.randn(3, 2, 6), {"bias": torch.randn(6, 1)}, "bias"),
    (torch.randn(3, 2, 6), {"bias": [0.0] * 6}, "bias"),
])
def test_conv_from_keras_kernel_refuses_what_is_not_a_convolution(kernel, kwargs, word):
    with pytest.raises(ValueError, match=word) as error:
        conv_from_keras_kernel(kernel, **kwargs)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("module", [nn.Linear(2, 2), nn.Conv3d(1, 1, 1),
                                    nn.ConvTranspose2d(1, 1, 1), nn.LazyConv2d(4, 3)])
def test_keras_kernel_refuses_other_modules(module):
    with pytest.raises(ValueError, match="conv"):
        keras_kernel(module)
    with pytest.raises(ValueError, match="dimensions"):
        keras_shape((2, 3, 4, 5, 6))
