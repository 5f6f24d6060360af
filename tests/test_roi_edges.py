"""Edges of our RoI operators: what torchvision accepts gives its result, what it refuses gets a
one-line ValueError naming the problem, and memory follows the result."""

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torchvision
from roi_cases import same_bits

from bench.ops import roi, roi_pool, roi_spp, spp


def tv(x, boxes, size, scale=1.0):
    return torchvision.ops.roi_pool(x, boxes, size, scale)


BOXES = torch.tensor([[0, 1, 1, 6, 5], [1, 0, 2, 7, 7], [0, -3, 4, 20, 9.0]])


def test_zero_channels_give_torchvision_s_empty_result():
    x = torch.randn(2, 0, 8, 8, requires_grad=True)
    out = roi_pool(x, BOXES, 3)
    assert out.shape == tv(x, BOXES, 3).shape == (3, 0, 3, 3)
    (grad,) = torch.autograd.grad(out, x, torch.ones_like(out))
    assert grad.shape == x.shape
    assert roi_spp(x, BOXES).shape == (3, 0)


@pytest.mark.parametrize("size", [np.int64(3), np.int32(3), (np.int64(3), 2), np.array([3, 2]),
                                  torch.tensor([3, 2]), torch.tensor(3), True])
@pytest.mark.parametrize("scale", [np.float32(0.5), np.float64(0.5), np.int64(1),
                                   torch.tensor(0.5), torch.tensor(0.5, dtype=torch.float64),
                                   torch.tensor([0.5])])
def test_numpy_scalars_and_tensors_as_output_size_and_scale(size, scale):
    x = torch.randn(2, 3, 10, 10)
    # torchvision takes these too, except a 0-d tensor as output_size (it iterates over it):
    # there the reference is the same size as an int
    plain = 3 if isinstance(size, torch.Tensor) and size.dim() == 0 else size
    assert torch.equal(roi_pool(x, BOXES, size, scale), tv(x, BOXES, plain, scale))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int32, torch.int64, torch.bool,
                                   torch.complex64])
def test_integer_bool_and_complex_inputs_are_refused_by_dtype(dtype):
    x, boxes = torch.zeros(1, 2, 8, 8, dtype=dtype), torch.tensor([[0, 0, 0, 7, 7]], dtype=dtype)
    with pytest.raises(RuntimeError):
        tv(x, boxes, 2)
    for call in (lambda: roi_pool(x, boxes, 2), lambda: roi_spp(x, boxes)):
        with pytest.raises(ValueError, match=f"input dtype {dtype} is not supported") as error:
            call()
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("call, message", [
    (lambda x: roi_pool(x, BOXES, 2.5), "output_size must be a positive int"),
    (lambda x: roi_pool(x, BOXES, 3.0), "output_size must be a positive int"),
    (lambda x: roi_pool(x, BOXES, "3"), "output_size must be a positive int"),
    (lambda x: roi_pool(x, BOXES, None), "output_size must be a positive int"),
    (lambda x: roi_pool(x, BOXES, (3,)), "output_size must be a positive int"),
    (lambda x: roi_pool(x, BOXES, (3, 2, 1)), "output_size must be a positive int"),
    (lambda x: roi_pool(x, BOXES, torch.zeros(50, 50)), "output_size must be a positive int"),
    (lambda x: roi_pool(x, BOXES, 3, "0.5"), "spatial_scale"),
    (lambda x: roi_pool(x, BOXES, 3, 1 + 0j), "spatial_scale"),
    (lambda x: roi_pool(x, BOXES, 3, torch.tensor([0.5, 0.5])), "spatial_scale"),
    (lambda x: roi_pool(x, BOXES, 3, float("nan")), "spatial_scale"),
    (lambda x: roi_spp(x, BOXES, 4), "levels must be a sequence"),
    (lambda x: roi_spp(x, BOXES, np.int64(4)), "levels must be a sequence"),
    (lambda x: roi_spp(x, BOXES, "41"), "levels must be a sequence"),
    (lambda x: roi_spp(x, BOXES, (4, 2.5)), "levels must be positive ints"),
    (lambda x: spp(x, 4), "levels must be a sequence"),
    (lambda x: roi_pool(x.numpy(), BOXES, 3), "input must be"),
])
def test_more_bad_input_is_one_line_value_error(call, message):
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=message) as error:
        call(x)
    assert "\n" not in str(error.value)


def test_levels_accept_numpy_ints_and_arrays():
    x = torch.randn(2, 3, 12, 12)
    expected = roi_spp(x, BOXES, (4, 2))
    assert torch.equal(roi_spp(x, BOXES, np.array([4, 2])), expected)
    assert torch.equal(roi_spp(x, BOXES, [np.int64(4), 2]), expected)


def test_a_grid_finer_than_the_pixels_pools_each_distinct_span_once(monkeypatch):
    """Bins narrower than a pixel share spans: the distinct ones are pooled, then spread; the
    result, winners and gradient are torchvision's, NaN and signed-zero ties included."""
    x = torch.randn(2, 3, 8, 8)
    x[0, 1, 2:5, 2:5] = torch.where(x[0, 1, 2:5, 2:5] > 0, 0.0, -0.0)
    x[1, 0, :, 3] = math.nan
    boxes = torch.tensor([[0, 0, 0, 7, 7.0], [1, 2, 1, 5, 6], [0, -3, 4, 20, 5], [1, 6, 6, 2, 2]])
    pooled = []
    real = roi._pool_bins
    monkeypatch.setattr(roi, "_pool_bins", lambda *a: pooled.append(a[2]) or real(*a))
    xg = x.clone().requires_grad_()
    ours = roi_pool(xg, boxes, (300, 200))
    theirs = torchvision.ops.roi_pool(xg, boxes, (300, 200))
    assert same_bits(ours, theirs)
    grad = torch.randn_like(ours)
    assert same_bits(torch.autograd.grad(ours, xg, grad)[0],
                     torch.autograd.grad(theirs, xg, grad)[0])
    # a few spans per axis (at most the map's 8 pixels, plus those across two), not 300 x 200
    assert len(pooled) == 1 and pooled[0][0] <= 17 and pooled[0][1] <= 17


def _peak(call: str) -> dict:
    """Peak resident memory (bytes) a call adds, in a fresh process."""
    code = textwrap.dedent(f"""
        import json, resource, torch, torchvision
        from bench.ops import roi_pool
        x = torch.randn(1, 1, 8, 8)
        boxes = torch.tensor([[0, 0, 0, 7, 7.0]])
        tv = torchvision.ops.roi_pool
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = {call}
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"added": (after - before) * 1024, "shape": list(out.shape)}}))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(run.stdout.splitlines()[-1])


def test_memory_follows_the_result_not_the_pairs():
    # 9M bins of one pixel on an 8x8 map: the result is 36 MB; torchvision adds an int32 argmax
    ours = _peak("roi_pool(x, boxes, (3000, 3000))")
    theirs = _peak("tv(x, boxes, (3000, 3000), 1.0)")
    assert ours["shape"] == theirs["shape"] == [1, 1, 3000, 3000]
    assert ours["added"] <= 2 * max(theirs["added"], 36e6)


# Argument checks where a looser bound, or another check's message, would still refuse some
# input: each case below is accepted or refused by its own check only.
X4 = torch.randn(1, 1, 4, 4)
BOX = torch.tensor([[0, 0, 0, 3, 3.0]])


@pytest.mark.parametrize("size", [torch.tensor(2, device="meta"),
                                  torch.tensor([2, 2], device="meta")])
def test_an_output_size_without_values_is_a_value_error(size):
    with pytest.raises(ValueError, match="output_size must be a positive int or a pair"):
        roi_pool(X4, BOX, size)


@pytest.mark.parametrize("args, message", [
    ((X4, [torch.tensor([[0, 0, 0, 3, 3.0]])], 2),
     r"boxes as a list must hold one Tensor\[L, 4\] per image"),
    ((torch.randn(2, 1, 4, 4), [torch.tensor([[0, 0, 3, 3.0]])], 2),
     "boxes lists 1 images, input has 2"),
    ((X4, BOX, 2, torch.tensor(1 + 0j)), "spatial_scale must be a positive finite number"),
    ((torch.randn(1, 1, 1, 4, 4), BOX, 2),
     r"input must be \[N, C, H, W\], got shape \(1, 1, 1, 4, 4\)"),
    # x2 - x1 + 1 is 65520 exactly, wide or high, both ends exact in float16
    ((torch.randn(1, 1, 4, 4).half(), torch.tensor([[0, -15, 0, 65504, 3]]).half(), 2),
     "float16 boxes 65520 or more pixels"),
    ((torch.randn(1, 1, 4, 4).half(), torch.tensor([[0, 0, -15, 3, 65504]]).half(), 2),
     "float16 boxes 65520 or more pixels"),
    ((X4, torch.tensor([[0, 0, 0, 2.0**28 + 32, 3]]), 2), "times spatial_scale must lie within"),
])
def test_each_check_refuses_its_own_case(args, message):
    with pytest.raises(ValueError, match=message):
        roi_pool(*args)


def test_what_torchvision_takes_is_taken():
    # a batch index in (-1, 0) truncates to image 0, as in torchvision
    assert same_bits(roi_pool(X4, torch.tensor([[-0.5, 0, 0, 3, 3.0]]), 2), roi_pool(X4, BOX, 2))
    # a coordinate of exactly the limit is within it
    assert roi_pool(X4, torch.tensor([[0, 0, 0, 2.0**28, 3]]), 2).shape == (1, 1, 2, 2)


def test_the_paper_rule_refuses_uneven_bins_and_takes_a_non_square_map_that_divides():
    # 8 rows: windows of 2, stride 2, 4 bins; 7 columns: windows of 2, stride 1, 6 bins
    with pytest.raises(ValueError, match="gives 4x6 bins, not 4x4, on a 8x7 map"):
        spp(torch.randn(1, 1, 8, 7), (4,), rule="paper")
    x = torch.randn(2, 3, 8, 12)
    assert same_bits(spp(x, (4, 2, 1), rule="paper"), spp(x, (4, 2, 1), rule="adaptive"))
