"""The 1x1-conv operators and the suite's implementations against the float64 reference."""

import copy
import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bench.measurement import relative_error
from bench.ops import conv1x1_from_linear, linear_from_conv1x1
from bench.suites import conv1x1_vs_linear as suite


def test_linear_from_conv1x1_copies_values_not_storage():
    conv = nn.Conv2d(6, 4, 1)
    linear = linear_from_conv1x1(conv)
    assert torch.equal(linear.weight, conv.weight.view(4, 6))
    assert torch.equal(linear.bias, conv.bias)
    assert linear.weight.data_ptr() != conv.weight.data_ptr()


def test_round_trip_computes_the_same_map():
    linear = nn.Linear(5, 3, bias=False).double()
    conv = conv1x1_from_linear(linear)
    assert conv.bias is None
    x = torch.randn(2, 5, 4, 3, dtype=torch.float64)
    expected = linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(conv(x), expected)
    torch.testing.assert_close(linear_from_conv1x1(conv).weight, linear.weight)


@pytest.mark.parametrize("kwargs, word", [
    ({"kernel_size": 3}, "kernel_size"),
    ({"kernel_size": 1, "stride": 2}, "stride"),
    ({"kernel_size": 1, "padding": 1}, "padding"),
    ({"kernel_size": 1, "dilation": 2}, "dilation"),
    ({"kernel_size": 1, "groups": 2}, "groups"),
])
def test_linear_from_conv1x1_refuses_other_convolutions(kwargs, word):
    with pytest.raises(ValueError, match=word):
        linear_from_conv1x1(nn.Conv2d(4, 4, **kwargs))


def test_conversions_refuse_other_modules():
    with pytest.raises(ValueError, match="nn.Conv2d"):
        linear_from_conv1x1(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="nn.Linear"):
        conv1x1_from_linear(nn.Conv2d(2, 2, 1))


def _noncontiguous(x: torch.Tensor, layout: str) -> torch.Tensor:
    """`x` (NCHW) as a strided view in `layout`: every other element of a wider tensor."""
    strided = torch.stack([x, torch.zeros_like(x)], dim=-1)[..., 0]
    return strided.permute(0, 2, 3, 1) if layout == "nhwc" else strided


shapes = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9),
                   st.integers(1, 6), st.integers(1, 6), st.booleans())


@settings(max_examples=40, deadline=None)
@given(shape=shapes)
def test_every_implementation_matches_the_reference(shape):
    batch, c_in, c_out, h, w, bias = shape
    case = suite.Case("random", batch, c_in, c_out, h, w, int(bias))
    # float64, so that what is compared is the formula, not float32 cancellation in small sums
    inputs = suite.make_inputs(case, "cpu", torch.float64)
    ref = suite.reference(case, inputs, "forward_backward")
    for impl in suite.IMPLEMENTATIONS.values():
        module = impl.fn(inputs.conv)
        x = _noncontiguous(inputs.x, impl.layout).requires_grad_(True)
        y = module(x)
        y.backward(suite.to_layout(inputs.grad, impl.layout))
        got = {"output": suite.from_layout(y, impl.layout),
               "grad_input": suite.from_layout(x.grad, impl.layout),
               "grad_weight": module.weight.grad.flatten(1)}
        if bias:
            got["grad_bias"] = module.bias.grad
        assert relative_error(got, ref) < 1e-12, impl.name


@pytest.mark.parametrize("mode", suite.SUITE.modes)
def test_prepared_steps_return_the_results_the_reference_names(mode):
    case = suite.SMOKE[0]
    inputs = suite.make_inputs(case, "cpu", torch.float32)
    for impl in suite.IMPLEMENTATIONS:
        step = suite.SUITE.prepare(case, impl, inputs, mode)
        ref = suite.SUITE.reference(case, impl, inputs, mode)
        out = step.results()
        assert set(out) == set(ref)
        assert relative_error(out, ref) < 1e-6


def test_wrong_weights_are_caught_by_the_check():
    case = suite.SMOKE[1]
    inputs = suite.make_inputs(case, "cpu", torch.float32)
    assert inputs.conv.bias is None
    step = suite.prepare(case, "einsum", inputs, "forward")
    scaled = copy.deepcopy(inputs.conv).requires_grad_(False)
    scaled.weight.mul_(1.01)
    ref = suite.reference(case, dataclasses.replace(inputs, conv=scaled), "forward")
    assert relative_error(step.results(), ref) == pytest.approx(0.01 / 1.01, rel=1e-4)


def test_work_model_counts_multiply_adds_twice_and_the_bias():
    pixels = 2 * 5 * 6
    case = suite.Case("t", 2, 3, 4, 5, 6)  # with a bias of 4
    assert suite.flops(case, "forward") == 2 * pixels * 3 * 4 + pixels * 4
    # input and weight gradients, each a product of the forward's size; the bias's sums
    assert suite.flops(case, "forward_backward") == 3 * 2 * pixels * 3 * 4 + 2 * pixels * 4
    assert suite.bytes_moved(case, "forward", 4) == 4 * (pixels * 3 + 3 * 4 + 4 + pixels * 4)
    # and the backward reads the output's gradient, x and w, writes x's and w's gradients
    assert suite.bytes_moved(case, "forward_backward", 4) == \
        4 * (3 * pixels * 3 + 2 * pixels * 4 + 3 * (3 * 4 + 4))
    bare = suite.Case("t", 2, 3, 4, 5, 6, bias=0)
    assert suite.flops(bare, "forward_backward") == 3 * suite.flops(bare, "forward")
    assert suite.bytes_moved(bare, "forward", 4) == 4 * (pixels * 3 + 3 * 4 + pixels * 4)


def test_prepared_step_records_the_work_model():
    case = suite.SMOKE[0]
    inputs = suite.make_inputs(case, "cpu", torch.float32)
    step = suite.prepare(case, "matmul", inputs, "forward_backward")
    assert step.work == {"flops": suite.flops(case, "forward_backward"),
                         "bytes": suite.bytes_moved(case, "forward_backward", 4)}


def test_a_same_padded_1x1_convolution_is_a_linear_layer():
    conv = nn.Conv2d(3, 5, 1, padding="same")
    x = torch.randn(2, 3, 4, 4)
    linear = linear_from_conv1x1(conv)
    torch.testing.assert_close(linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), conv(x))


CASE = suite.SMOKE[0]  # batch 1, 8 -> 8 channels, 4x4


@pytest.mark.parametrize("impl", list(suite.IMPLEMENTATIONS))
def test_a_second_call_gives_the_same_gradients_not_their_sum(impl):
    inputs = suite.make_inputs(CASE, "cpu", torch.float32)
    step = suite.prepare(CASE, impl, inputs, "forward_backward")
    first = {k: v.clone() for k, v in step.results().items()}
    second = step.results()
    for key in first:
        assert torch.equal(second[key], first[key]), key


class Recorder(nn.Module):
    def __init__(self, inner, seen):
        super().__init__()
        self.inner, self.seen = inner, seen

    def forward(self, x):
        self.seen.append(x)
        return self.inner(x)


def test_each_implementation_is_timed_on_input_in_its_own_layout(monkeypatch):
    seen = {}
    for name, impl in list(suite.IMPLEMENTATIONS.items()):
        seen[name] = []
        monkeypatch.setitem(suite.IMPLEMENTATIONS, name, dataclasses.replace(
            impl, fn=lambda conv, fn=impl.fn, s=seen[name]: Recorder(fn(conv), s)))
    inputs = suite.make_inputs(CASE, "cpu", torch.float32)
    for name in seen:
        suite.prepare(CASE, name, inputs, "forward").fn()
    (x,) = seen["conv_channels_last"]
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    (x,) = seen["linear_nhwc"]
    assert x.shape == (1, 4, 4, 8) and x.is_contiguous()
    for name in ("conv_nchw", "linear_permuted", "matmul", "einsum"):
        (x,) = seen[name]
        assert x.shape == (1, 8, 4, 4) and x.is_contiguous(), name


def test_the_bytes_count_the_run_s_element_size():
    inputs = suite.make_inputs(CASE, "cpu", torch.bfloat16)
    for mode in suite.SUITE.modes:
        work = suite.prepare(CASE, "conv_nchw", inputs, mode).work
        assert work["bytes"] == suite.bytes_moved(CASE, mode, 2)


@pytest.mark.parametrize("impl", list(suite.IMPLEMENTATIONS))
def test_the_timed_forward_records_no_graph(impl):
    inputs = suite.make_inputs(CASE, "cpu", torch.float32)
    out = suite.prepare(CASE, impl, inputs, "forward").fn()
    assert out.grad_fn is None and not out.requires_grad
