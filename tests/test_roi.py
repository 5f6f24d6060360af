"""Our RoI and SPP operators: exactly torchvision's roi_pool, and every bad input refused."""

import dataclasses
import math
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from roi_cases import HARD_BOXES, same_bits, tied_map

from bench.benchmarks import test_benchmark as run_benchmark
from bench.ops import roi, roi_pool, roi_spp, spp
from bench.ops.roi import COORD_LIMIT, FLT_MAX, roi_pool_torch
from bench.suites import roi_spp_pooling as suite


def tv(x, boxes, size, scale):
    return torchvision.ops.roi_pool(x, boxes, size, scale)


coordinate = st.one_of(
    st.floats(-40, 80, allow_nan=False, width=32),
    st.sampled_from([0.0, 0.5, -0.5, 2.5, -2.5, 0.49999997, 1e4, -1e4, 56.0, 57.0]),
)
special = st.sampled_from([0.0, -0.0, math.nan, -math.inf, math.inf, 1.0, -1.0])


@st.composite
def problems(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    x = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(draw(st.integers(0, 99))))
    # sprinkle the values whose handling differs between max implementations
    for _ in range(draw(st.integers(0, 12))):
        idx = tuple(draw(st.integers(0, s - 1)) for s in x.shape)
        x[idx] = draw(special)
    if draw(st.booleans()):  # ties of +0 and -0 in whole regions
        x = torch.where(x.abs() < 0.7, torch.where(x > 0, 0.0, -0.0), x)
    k = draw(st.integers(0, 8))
    boxes = torch.tensor([[draw(st.integers(0, n - 1)) + draw(st.sampled_from([0.0, 0.7]))]
                          + [draw(coordinate) for _ in range(4)] for _ in range(k)],
                         dtype=torch.float32).reshape(k, 5)
    size = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    scale = draw(st.sampled_from([1.0, 0.5, 0.25, 1 / 16, 0.37, 1.7, 3.0]))
    return x, boxes, size, scale


@settings(max_examples=300, deadline=None)
@given(problems(), st.sampled_from([torch.float32, torch.float64]))
def test_roi_pool_is_torchvision_bit_for_bit(problem, dtype):
    x, boxes, size, scale = problem
    x, boxes = x.to(dtype), boxes.to(dtype)
    assert same_bits(roi_pool(x, boxes, size, scale), tv(x, boxes, size, scale))


@settings(max_examples=100, deadline=None)
@given(problems())
def test_roi_spp_is_roi_pool_per_level(problem):
    x, boxes, _, scale = problem
    for levels in ((6, 3, 2, 1), (4, 2, 1), (5, 2), (1,), (3, 6)):
        expected = torch.cat([tv(x, boxes, lv, scale).flatten(1) for lv in levels], dim=1)
        assert same_bits(roi_spp(x, boxes, levels, scale), expected), levels


# Winners' indices in int32 (every input here) or int64 (an input of 2**31 elements or more).
index_limits = st.sampled_from([roi.INT32_INDEX_LIMIT, 0])


@settings(max_examples=150, deadline=None)
@given(problems(), st.sampled_from([torch.float32, torch.float64, torch.float16]),
       st.integers(1, 12), index_limits)
def test_forward_and_gradient_are_torchvision_s_whatever_the_block_size(problem, dtype, pairs,
                                                                        limit):
    """Bins are pooled a block of `pairs` gathered rows at a time (the blocks pad bins to the
    largest); the gradient goes into rows of channels or into the flattened input, by the number
    of outputs. An output without a winner sends nothing back, even a NaN gradient."""
    x, boxes, size, scale = problem
    x, boxes = x.to(dtype).requires_grad_(), boxes.to(dtype)
    grad = torch.randn(len(boxes), x.shape[1], *size, dtype=dtype)
    grad.view(-1)[::3] = math.nan
    with mock.patch.object(roi, "BLOCK_ELEMENTS", pairs * x.shape[1]), \
            mock.patch.object(roi, "INT32_INDEX_LIMIT", limit):
        ours = roi_pool(x, boxes, size, scale)
        (ours_grad,) = torch.autograd.grad(ours, x, grad)
    theirs = tv(x, boxes, size, scale)
    (their_grad,) = torch.autograd.grad(theirs, x, grad)
    assert same_bits(ours, theirs)
    assert same_bits(ours_grad, their_grad)


@settings(max_examples=60, deadline=None)
@given(problems(), st.integers(1, 12), index_limits)
def test_roi_spp_in_small_blocks_and_its_gradient(problem, pairs, limit):
    x, boxes, _, scale = problem
    x = x.double().requires_grad_()
    boxes = boxes.double()
    grad = torch.randn(len(boxes), x.shape[1] * 50, dtype=torch.float64)
    with mock.patch.object(roi, "BLOCK_ELEMENTS", pairs * x.shape[1]), \
            mock.patch.object(roi, "INT32_INDEX_LIMIT", limit):
        ours = roi_spp(x, boxes, (6, 3, 2, 1), scale)
        (ours_grad,) = torch.autograd.grad(ours, x, grad)
    theirs = torch.cat([tv(x, boxes, lv, scale).flatten(1) for lv in (6, 3, 2, 1)], dim=1)
    (their_grad,) = torch.autograd.grad(theirs, x, grad)
    assert same_bits(ours, theirs)
    # the same terms, summed level by level per element here, per level first there
    torch.testing.assert_close(ours_grad, their_grad, equal_nan=True)


def test_hard_cases_from_the_semantics():
    x = torch.arange(2 * 3 * 60 * 60, dtype=torch.float32).reshape(2, 3, 60, 60).sin()
    boxes = torch.tensor(HARD_BOXES)
    for size in (7, (3, 5), 14):
        for scale in (1.0, 0.5, 1 / 16):
            assert same_bits(roi_pool(x, boxes, size, scale), tv(x, boxes, size, scale))
    assert (roi_pool(x, boxes[3:4], 2) == 0).all()


def test_float64_corners_round_as_c_does_next_to_one_half():
    """0.49999999999999994 + 0.5 is 1.0 in float64: rounding by adding one half would move
    the box's end a pixel."""
    x = torch.arange(16, dtype=torch.float64).reshape(1, 1, 4, 4)
    for corner in (0.49999999999999994, -0.49999999999999994, 2.5, -2.5, 1.4999999999999998):
        boxes = torch.tensor([[0, 0, 0, 3, corner]], dtype=torch.float64)
        assert same_bits(roi_pool(x, boxes, 1), tv(x, boxes, 1, 1.0)), corner


def test_a_pyramid_level_whose_bins_are_not_unions_of_finest_bins_is_pooled():
    """57 rows into 7 bins (float32) end one row past the region; into 14 bins they do not, so
    the 7x7 level's last bins are not unions of 14x14 bins: only the edge row and column hold
    anything, and a derived level would miss them."""
    x = torch.zeros(1, 1, 60, 60)
    x[0, 0, 57, :] = 1.0
    x[0, 0, :, 57] = 1.0
    boxes = torch.tensor([[0, 0, 0, 56, 56.0]])
    for levels in ((7, 1), (14, 2, 1), (14, 7)):
        expected = torch.cat([tv(x, boxes, lv, 1.0).flatten(1) for lv in levels], dim=1)
        assert same_bits(roi_spp(x, boxes, levels), expected), levels


def test_nan_is_skipped_and_a_bin_of_nan_gives_minus_flt_max():
    x = torch.tensor([[[[math.nan, 1.0], [math.nan, math.nan]]]])
    out = roi_pool(x, torch.tensor([[0, 0, 0, 1, 1.0]]), 2)
    assert out.flatten().tolist() == [-FLT_MAX, 1.0, -FLT_MAX, -FLT_MAX]
    assert same_bits(out, tv(x, torch.tensor([[0, 0, 0, 1, 1.0]]), 2, 1.0))


def test_first_of_tied_zeros_wins():
    x = torch.tensor([[[[-0.0, 0.0]]]])
    out = roi_pool(x, torch.tensor([[0, 0, 0, 1, 0.0]]), 1)
    assert out.item() == 0 and out.signbit().item()


@pytest.mark.parametrize("grad", [False, True])
def test_first_of_tied_zeros_wins_in_every_channel(grad):
    """64 channels: amax, vectorised along them, returns a later zero's sign."""
    signs = torch.tensor([[(c >> i) & 1 for i in range(6)] for c in range(64)], dtype=torch.bool)
    x = torch.where(signs, -0.0, 0.0).view(1, 64, 1, 6).requires_grad_(grad)
    boxes = torch.tensor([[0, 0, 0, 5, 0.0], [0, 1, 0, 4, 0.0]])
    for size in (1, (1, 2)):
        assert same_bits(roi_pool(x, boxes, size), tv(x.detach(), boxes, size, 1.0))


def test_list_of_boxes_and_zero_regions():
    x = torch.randn(2, 4, 10, 10)
    boxes = [torch.tensor([[1.0, 1, 5, 5]]), torch.tensor([[0.0, 0, 9, 9], [2, 2, 3, 3]])]
    assert torch.equal(roi_pool(x, boxes, 3), tv(x, boxes, 3, 1.0))
    assert roi_pool(x, torch.empty(0, 5), 3).shape == (0, 4, 3, 3)
    assert roi_spp(x, torch.empty(0, 5)).shape == (0, 4 * 50)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_types_equal_the_float32_pooling_of_the_rounded_input(dtype):
    x = torch.randn(1, 3, 30, 30).to(dtype)
    boxes = torch.tensor([[0, 1, 2, 20, 27], [0, 4, 4, 9, 9]], dtype=dtype)
    ours = roi_pool(x, boxes, 7, 0.5)
    assert ours.dtype == dtype
    # the maxima are input values; bin edges here are exact in both dtypes
    assert torch.equal(ours.float(), tv(x.float(), boxes.float(), 7, 0.5))


def test_bfloat16_gradient_goes_where_float32_s_goes():
    """torchvision has no bfloat16 kernel: with small whole gradients, whose sums are exact in
    bfloat16, ours must equal its float32 gradient on the rounded input."""
    x = torch.randn(2, 3, 12, 12).bfloat16()
    boxes = torch.tensor([[0, 0, 0, 11, 11], [1, 2, 1, 9, 6], [0, 0, 0, 11, 11]])
    grad = torch.randint(-4, 5, (3, 3, 5, 5)).float()
    xb = x.clone().requires_grad_()
    (ours,) = torch.autograd.grad(roi_pool(xb, boxes.bfloat16(), 5), xb, grad.bfloat16())
    xf = x.float().requires_grad_()
    (theirs,) = torch.autograd.grad(tv(xf, boxes.float(), 5, 1.0), xf, grad)
    assert torch.equal(ours.float(), theirs)


def test_gradient_matches_torchvision_and_a_float64_reference():
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    boxes = torch.tensor([[0, 1, 1, 12, 9], [1, -3, 2, 8, 20], [0, 1, 1, 12, 9]],
                         dtype=torch.float64)
    grad = torch.randn(3, 3, 4, 4, dtype=torch.float64)
    (ours,) = torch.autograd.grad(roi_pool(x, boxes, 4, 0.5), x, grad)
    (theirs,) = torch.autograd.grad(tv(x, boxes, 4, 0.5), x, grad)
    assert torch.equal(ours, theirs)
    torch.autograd.gradcheck(lambda t: roi_pool(t, boxes, 4, 0.5), (x,))


@pytest.mark.parametrize("shape", [(2, 260, 256, 256), (1, 1, 4200, 4200)])
def test_winners_past_float32_s_exact_integers(shape):
    """Winners are numbered by their flat index, past 2**24 here (with 260 channels in two images,
    or on a 4200x4200 map). The pyramid's coarse levels search the fine winners as floats:
    float32 would round them onto their neighbours."""
    x = torch.randn(shape, requires_grad=True)
    boxes = torch.tensor([[i, 3, 5, shape[3] - 2, shape[2] - 3] for i in range(shape[0])],
                         dtype=torch.float32)
    grad = torch.randn(shape[0], shape[1], 7, 7)
    (ours,) = torch.autograd.grad(roi_pool(x, boxes, 7), x, grad)
    (theirs,) = torch.autograd.grad(tv(x, boxes, 7, 1.0), x, grad)
    assert same_bits(ours, theirs)
    grad = torch.randn(shape[0], shape[1] * 50)
    (ours,) = torch.autograd.grad(roi_spp(x, boxes), x, grad)
    expected = torch.cat([tv(x, boxes, lv, 1.0).flatten(1) for lv in (6, 3, 2, 1)], 1)
    (theirs,) = torch.autograd.grad(expected, x, grad)
    torch.testing.assert_close(ours, theirs)


def test_spp_gradient_is_the_sum_of_the_levels_gradients():
    x = torch.randn(1, 2, 13, 11, requires_grad=True)
    boxes = torch.tensor([[0, 0, 0, 12, 10], [0, 3, 1, 30, 5.0]])
    grad = torch.randn(2, 2 * 50)
    (ours,) = torch.autograd.grad(roi_spp(x, boxes), x, grad)
    expected = torch.cat([tv(x, boxes, lv, 1.0).flatten(1) for lv in (6, 3, 2, 1)], 1)
    (theirs,) = torch.autograd.grad(expected, x, grad)
    torch.testing.assert_close(ours, theirs)


def test_backward_is_deterministic():
    x = torch.randn(1, 8, 32, 32, requires_grad=True)
    boxes = torch.tensor([[0, 0, 0, 31, 31]] * 50 + [[0, 3, 5, 20, 30]] * 50,
                         dtype=torch.float32)
    grad = torch.randn(100, 8, 7, 7)
    runs = [torch.autograd.grad(roi_pool(x, boxes, 7), x, grad)[0] for _ in range(3)]
    assert all(same_bits(r, runs[0]) for r in runs[1:])


def test_spp_equals_adaptive_max_pooling_and_the_paper_rule_refuses_bad_sizes():
    x = torch.randn(2, 3, 13, 13)
    expected = torch.cat([F.adaptive_max_pool2d(x, lv).flatten(1) for lv in (4, 2, 1)], 1)
    assert torch.equal(spp(x), expected)
    # on 13x13 the paper's windows (4, 7, 13) and strides (3, 6, 13) give the adaptive bins
    assert torch.equal(spp(x, (4, 2, 1), rule="paper"), expected)
    with pytest.raises(ValueError, match="gives 6x6 bins, not 4x4, on a 7x7 map"):
        spp(torch.randn(1, 1, 7, 7), (4,), rule="paper")  # window 2, stride 1
    with pytest.raises(ValueError, match="gives 0x0 bins"):
        spp(torch.randn(1, 1, 3, 3), (4,), rule="paper")  # window 1, stride 0


@pytest.mark.parametrize("levels", [(4, 2, 1), (6, 3, 2, 1), (2, 4, 1), (5, 3), (3,)])
@pytest.mark.parametrize("shape", [(2, 3, 13, 13), (2, 2, 7, 9), (1, 3, 5, 17), (2, 2, 1, 1)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_spp_derives_coarse_levels_with_adaptive_pooling_s_values_winners_and_gradient(
        levels, shape, layout, dtype):
    # Coarse bins are unions of fine ones; the first maximum (-0.0 or +0.0 of a tie) and the last
    # NaN must be the ones adaptive_max_pool2d picks at that level directly.
    x = tied_map(shape, seed=sum(shape) + len(levels)).to(dtype).contiguous(memory_format=layout)
    ours_x, their_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = spp(ours_x, levels)
    theirs = torch.cat([F.adaptive_max_pool2d(their_x, lv).flatten(1) for lv in levels], 1)
    # the CPU's gather writes bfloat16 NaNs as 0xFFFF, adaptive pooling as 0x7FC0
    assert same_bits(ours, theirs, any_nan=dtype == torch.bfloat16)
    # integer gradients: their sums are exact in any order, so only where they go can differ
    grad = torch.randint(-3, 4, ours.shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    assert torch.equal(torch.autograd.grad(ours, ours_x, grad)[0],
                       torch.autograd.grad(theirs, their_x, grad)[0])


@pytest.mark.parametrize("call, message", [
    (lambda x: roi_pool(x, torch.zeros(2, 4), 7), "Tensor\\[K, 5\\]"),
    (lambda x: roi_pool(x, torch.zeros(2, 5, dtype=torch.float64), 7), "dtype"),
    (lambda x: roi_pool(x, torch.tensor([[2.0, 0, 0, 1, 1]]), 7), "batch index"),
    (lambda x: roi_pool(x, torch.tensor([[-1.0, 0, 0, 1, 1]]), 7), "batch index"),
    (lambda x: roi_pool(x, torch.tensor([[0, math.nan, 0, 1, 1]]), 7), "non-finite"),
    (lambda x: roi_pool(x, torch.tensor([[0, math.inf, 0, 1, 1]]), 7), "non-finite"),
    (lambda x: roi_pool(x, torch.tensor([[0, 0, 0, 1, 2.0 * COORD_LIMIT]]), 7), "within"),
    # two faults: the first in the order of the checks is named
    (lambda x: roi_pool(x, torch.tensor([[0, math.nan, 0, 1, 1], [5.0, 0, 0, 1, 1]]), 7),
     "non-finite"),
    (lambda x: roi_pool(x, torch.tensor([[0, 0, 0, 1, 2.0 * COORD_LIMIT], [5.0, 0, 0, 1, 1]]),
                        7), "batch index"),
    # a float16 product that overflows is too large; a float16 region of 65520 pixels or more
    # would have an infinite bin size
    (lambda x: roi_pool(x.half(), torch.tensor([[0, 0, 0, 60000, 1.0]]).half(), 7, 2.0),
     "within"),
    (lambda x: roi_pool(x.half(), torch.tensor([[0, -10000, 0, 60000, 1.0]]).half(), 7),
     "float16 boxes 65520"),
    (lambda x: roi_pool(x, torch.zeros(1, 5), 0), "output_size"),
    (lambda x: roi_pool(x, torch.zeros(1, 5), (7, -1)), "output_size"),
    (lambda x: roi_pool(x, torch.zeros(1, 5), 7, 0.0), "spatial_scale"),
    (lambda x: roi_pool(x, torch.zeros(1, 5), 7, -1.0), "spatial_scale"),
    (lambda x: roi_pool(x[0], torch.zeros(1, 5), 7), "input must be"),
    (lambda x: roi_pool(x, [torch.zeros(1, 4)] * 3, 7), "images"),
    (lambda x: roi_spp(x, torch.zeros(1, 5), ()), "at least one"),
    (lambda x: roi_spp(x, torch.zeros(1, 5), (2, 0)), "positive"),
    (lambda x: spp(x, ()), "at least one"),
    (lambda x: spp(x, (4,), rule="other"), "rule"),
])
def test_bad_input_is_one_line_value_error(call, message):
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=message) as error:
        call(x)
    assert "\n" not in str(error.value)


def test_boxes_on_another_device_are_refused():
    x = torch.randn(1, 1, 4, 4, device="meta")
    with pytest.raises(ValueError, match="device"):
        roi_pool(x, torch.zeros(1, 5), 2)


def test_roi_spp_pools_once_when_levels_divide_the_finest(monkeypatch):
    from bench.ops import roi

    calls = []
    pool = roi._pool
    monkeypatch.setattr(roi, "_pool", lambda *a: calls.append(a[2]) or pool(*a))
    x = torch.randn(1, 4, 30, 40).relu()
    boxes = torch.tensor([[0, 0, 0, 39, 29], [0, -10, 5, 20, 50], [0, 3, 3, 17, 11.0]])
    out = roi_spp(x, boxes, (6, 3, 2, 1))
    assert calls == [(6, 6)]
    expected = torch.cat([tv(x, boxes, lv, 1.0).flatten(1) for lv in (6, 3, 2, 1)], 1)
    assert same_bits(out, expected)


@pytest.mark.parametrize("kind", ["pool", "pyramid", "image"])
def test_suite_inputs_know_the_baselines_shape_and_references_are_shared(kind):
    """The gradient's shape comes without pooling, and is the baseline's; the one reference of
    a case and mode serves every implementation, and another mode gets its own."""
    from bench.suites import roi_spp_pooling as suite

    case = suite.Case(kind, "tiny", 0 if kind == "image" else 5, 3 if kind == "pool" else 0)
    inputs = suite.make_inputs(case, "cpu", torch.float32)
    baseline = suite.run_impl(suite.BASELINES[kind], case, inputs.x, inputs.boxes, inputs.scale)
    assert inputs.grad.shape == baseline.shape
    forward = suite.SUITE.reference(case, "ours_roi_pool", inputs, "forward")
    assert same_bits(forward["output"], baseline)
    assert suite.SUITE.reference(case, "python_loop", inputs, "forward") is forward
    both = suite.SUITE.reference(case, "python_loop", inputs, "forward_backward")
    assert both is not forward and "grad_input" in both
    other = dataclasses.replace(inputs, x=inputs.x * 2)  # other inputs: not the kept reference
    doubled = suite.SUITE.reference(case, "python_loop", other, "forward")
    assert same_bits(doubled["output"], forward["output"] * 2)


def test_the_suite_s_float16_reference_has_float16_bins_as_torchvision_and_ours_do():
    """On the suite's own float16 inputs float32 bins would be other bins (a relative error of
    6.5e-3 here), and every exact implementation would fail its check before timing."""
    from bench.measurement import relative_error
    from bench.suites import roi_spp_pooling as suite

    case = suite.SUITE.case("pool-small-r128-o7")
    inputs = suite.make_inputs(case, "cpu", torch.float16)
    both = suite.SUITE.reference(case, "ours_roi_pool", inputs, "forward_backward")
    x = inputs.x.detach().requires_grad_()
    out = roi_pool(x, inputs.boxes, case.output, inputs.scale)
    (grad,) = torch.autograd.grad(out, x, inputs.grad)
    assert relative_error({"output": out, "grad_input": grad}, both) == 0.0
    float32_bins = tv(inputs.x.float(), inputs.boxes.float(), case.output, inputs.scale)
    assert relative_error({"output": out}, {"output": float32_bins.double()}) > 1e-3


def test_the_suite_s_bytes_are_the_pixels_torchvision_s_bins_read():
    """Corners x.5 round away from zero (Python's round would take 2.5 to 2); a region whose
    corners cross still reads a pixel; overlapping regions count their pixels once; the
    backward adds the output's gradient and the input's."""
    from bench.suites import roi_spp_pooling as suite

    x = torch.zeros(2, 3, 10, 10)  # 4-byte elements
    boxes = torch.tensor([[0, 2.5, 0, 4, 1],    # columns 3-4, rows 0-1: 4 pixels
                          [0, 3, 1, 4, 2],      # columns 3-4, rows 1-2: 2 more
                          [1, 0, 0, 0.4, 0],    # one pixel of image 1
                          [1, 5, 5, 3, 3]])     # corners crossed: the pixel at (5, 5)
    inputs = suite.Inputs(x, boxes, torch.zeros(4, 3, 2, 2), 1.0)
    for case in (suite.Case("pool", "hand", 4, 2), suite.Case("pyramid", "hand", 4, 0)):
        out = math.prod(suite.output_shape(case, 2, 3))
        assert suite.bytes_moved(case, inputs, "forward") == 4 * (8 * 3 + out)
        assert suite.bytes_moved(case, inputs, "forward_backward") == \
            4 * (8 * 3 + out + out + x.numel())
    # 57 pixels in 7 bins: 7 * (57 / 7) is 57.0000038 in float32, so the last bin ends at 58,
    # a pixel past the box, and torchvision reads it; the pyramid's levels end at the box
    x = torch.zeros(1, 1, 1, 64)
    inputs = suite.Inputs(x, torch.tensor([[0, 0, 0, 56, 0.0]]), torch.zeros(1, 1, 7, 7), 1.0)
    assert suite.bytes_moved(suite.Case("pool", "hand", 1, 7), inputs, "forward") == \
        4 * (58 + 49)
    assert suite.bytes_moved(suite.Case("pyramid", "hand", 1, 0), inputs, "forward") == \
        4 * (57 + 50)


def test_without_triton_the_cuda_rows_of_our_kernels_are_skipped_not_mislabelled(monkeypatch):
    """On CUDA without Triton, ours_roi_pool would run the PyTorch path under the kernels' name."""
    from bench.suites import roi_spp_pooling as suite

    pool = suite.Case("pool", "small", 16, 7)
    pyramid = suite.Case("pyramid", "small", 16, 0)
    skip = suite.SUITE.skip_reason
    monkeypatch.setattr(suite, "triton_kernels", lambda: None)
    for case, impl in ((pool, "ours_roi_pool"), (pyramid, "ours_roi_spp")):
        assert skip(case, impl, "cuda", "fp32", "forward") == (
            "Triton cannot be imported: on CUDA without it, ours_roi_pool and ours_roi_spp run "
            "the PyTorch path, the _torch rows")
        assert skip(case, impl, "cpu", "fp32", "forward") is None
    assert skip(pool, "ours_roi_pool_torch", "cuda", "fp32", "forward") is None
    monkeypatch.setattr(suite, "triton_kernels", lambda: roi)  # importable
    assert skip(pool, "ours_roi_pool", "cuda", "fp32", "forward") is None


def test_the_suite_s_case_key_gives_every_feature_map_s_shape():
    from bench.suites import roi_spp_pooling as suite

    for name, (c, h, w, stride) in suite.MAPS.items():
        assert f"{name}' map ({c}x{h}x{w}, stride {stride}" in suite.SUITE.case_key or \
            f"{name}: {c}x{h}x{w}, stride {stride}" in suite.SUITE.case_key, name


@pytest.mark.parametrize("mode", ["forward", "forward_backward"])
@pytest.mark.parametrize("kind, ours, other", [("pool", "ours_roi_pool", "python_loop"),
                                               ("pyramid", "ours_roi_spp", "ours_roi_spp"),
                                               ("image", "ours_spp", "ours_spp")])
def test_on_the_cpu_the_baseline_is_checked_against_our_operator_and_ours_against_it(
        monkeypatch, mode, kind, ours, other):
    # against itself, the baseline's check could not fail
    from bench.suites import roi_spp_pooling as suite

    case = suite.Case(kind, "tiny", 0 if kind == "image" else 4, 7 if kind == "pool" else 0)
    inputs = suite.make_inputs(case, "cpu", torch.float32)
    monkeypatch.setattr(suite, "_references", {})
    expected = suite.run_impl(ours, case, inputs.x, inputs.boxes, inputs.scale)
    right = suite.IMPLEMENTATIONS[ours].fn
    off = dataclasses.replace(suite.IMPLEMENTATIONS[ours], fn=lambda *a: right(*a) + 1)
    monkeypatch.setitem(suite.IMPLEMENTATIONS, ours, off)
    baseline = suite.SUITE.reference(case, suite.BASELINES[kind], inputs, mode)["output"]
    assert torch.equal(baseline, expected + 1)
    assert torch.equal(suite.SUITE.reference(case, other, inputs, mode)["output"], expected)
    # the baseline's failure names what it was checked against: our operator may be at fault
    smoke = next(c for c in suite.SUITE.cases("smoke", "cpu") if c.kind == kind)
    bench = SimpleNamespace(extra_info={}, enabled=False)
    with pytest.raises(AssertionError, match=f"against {ours} on the CPU above tolerance 0e"):
        run_benchmark(bench, (None, None), "roi", smoke.id, suite.BASELINES[kind], "cpu",
                       "fp32", "forward")
    base = suite.BASELINES[kind]
    assert [suite.SUITE.reference_name(case, impl, device) for impl, device in
            ((base, "cuda"), (ours, "cpu"), (ours, "cuda"))] == [f"{base} on the CPU"] * 3


def test_the_suite_skips_what_cannot_run_and_measures_image_spp_at_its_batch():
    from bench.suites import roi_spp_pooling as suite

    pool = suite.Case("pool", "tiny", 16, 7)
    # the Python loop's backward over 2000 regions of the small map: minutes, so skipped
    assert suite.SUITE.skip_reason(suite.Case("pool", "small", 2000, 7), "python_loop", "cpu",
                                   "fp32", "forward_backward") is not None
    # torchvision has no bfloat16 RoI pooling on CUDA; float16 it has
    assert "bfloat16" in suite.SUITE.skip_reason(pool, "tv_roi_pool", "cuda", "bf16", "forward")
    assert suite.SUITE.skip_reason(pool, "tv_roi_pool", "cuda", "fp16", "forward") is None
    assert suite.make_inputs(suite.Case("image", "tiny", 0, 0), "cpu",
                             torch.float32).x.shape[0] == 8


def test_the_suite_s_bytes_count_the_run_s_element_size():
    boxes = torch.tensor([[0, 2.5, 0, 4, 1], [1, 5, 5, 3, 3]])
    case = suite.Case("pool", "hand", 2, 2)
    for mode in ("forward", "forward_backward"):
        found = {dtype: suite.bytes_moved(case, suite.Inputs(
            torch.zeros(2, 3, 10, 10, dtype=dtype), boxes, None, 1.0), mode)
            for dtype in (torch.float32, torch.float16)}
        assert found[torch.float32] == 2 * found[torch.float16]


def test_the_roi_align_row_is_the_aligned_one_detection_models_use():
    # one bin over the whole 4x4 map: aligned, the box moves half a pixel, and its 2x2 samples
    # at (0.5, 0.5) ... (2.5, 2.5) average to the value at (1.5, 1.5): 7.5 (not aligned: 10)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = suite.IMPLEMENTATIONS["tv_roi_align"].fn(x, torch.tensor([[0, 0, 0, 4, 4.0]]), 1, 1.0)
    assert out.item() == 7.5


def test_a_bfloat16_gradient_rounds_every_addition_where_outputs_outnumber_pixels():
    """40 outputs per channel into a 2x2 map (at least twice its pixels): the sum is still
    taken in the loop's order, rounding each addition, as the module promises."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 2, 2).bfloat16().requires_grad_()
    k = 40
    boxes = torch.tensor([[0, 0, 0, 1, 1.0]] * k).bfloat16()
    grad = (torch.randn(k, 3, 1, 1) * 10).bfloat16()
    (got,) = torch.autograd.grad(roi_pool_torch(x, boxes, 1), x, grad)
    expected = torch.zeros(3, 4, dtype=torch.bfloat16)
    for c in range(3):
        total = torch.zeros((), dtype=torch.bfloat16)
        for r in range(k):
            total = total + grad[r, c, 0, 0]
        expected[c, int(x.detach()[0, c].flatten().float().argmax())] = total
    assert torch.equal(got.view(3, 4), expected)


def test_a_benchmark_records_its_case_s_own_baseline(benchmark, tmp_path):
    # the pyramid cases are compared with tv_roi_pool_per_level, not the suite's tv_roi_pool
    run_benchmark(benchmark, (None, tmp_path), "roi", "pyramid-tiny-r16",
                  "ours_roi_spp", "cpu", "fp32", "forward")
    assert benchmark.extra_info["baseline"] == "tv_roi_pool_per_level"
