"""The Triton RoI kernels: bit for bit torchvision's roi_pool (and our CPU operator where
torchvision has no answer), a deterministic backward, and every bad input refused before a launch.

Runs on CUDA tensors where CUDA is available, otherwise on CPU tensors through Triton's
interpreter, which needs TRITON_INTERPRET=1 in the environment before triton is first imported
(the CI sets it for the whole pytest process).
"""

import io
import itertools
import math
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

if not (torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"):
    pytest.skip("the Triton kernels need CUDA or TRITON_INTERPRET=1", allow_module_level=True)
triton = pytest.importorskip("triton")

import hypothesis  # noqa: E402
import torchvision  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from roi_cases import HARD_BOXES  # noqa: E402
from roi_cases import same_bits as _same_bits  # noqa: E402

from bench.ops import roi as cpu  # noqa: E402
from bench.ops import roi_triton as tri  # noqa: E402
from bench.ops.roi import COORD_LIMIT, FLT_MAX  # noqa: E402
from bench.ops.roi_triton_sweep import settings  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu" and not tri._interpreted():
    pytest.skip("triton was imported before TRITON_INTERPRET=1 was set", allow_module_level=True)

def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit equality where any NaN equals any NaN: the GPU writes other NaN payloads than the
    CPU, and no test here is about payloads."""
    return _same_bits(a, b, any_nan=True)


def tv(x, boxes, size, scale=1.0):
    """torchvision's roi_pool on the CPU: the reference."""
    boxes = [b.cpu() for b in boxes] if isinstance(boxes, list) else boxes.cpu()
    return torchvision.ops.roi_pool(x.cpu(), boxes, size, scale)


def tv_pyramid(x, boxes, levels, scale=1.0):
    return torch.cat([tv(x, boxes, level, scale).flatten(1) for level in levels], dim=1)


def on(*tensors):
    return tuple(t.to(DEVICE) for t in tensors)


coordinate = st.one_of(
    st.floats(-30, 50, allow_nan=False, width=32),
    # half-way cases of C's round, a value just below one half, huge boxes, 57 rows into 7 bins
    st.sampled_from([0.0, 0.5, -0.5, 2.5, -2.5, 0.49999997, 1e4, -1e4, 56.0, 57.0]),
)
special = st.sampled_from([0.0, -0.0, math.nan, -math.inf, math.inf, 1.0, -1.0])
SCALES = [1.0, 0.5, 0.25, 1 / 16, 0.37, 1.7]
# The backward by a sort, whatever the density of the gradient terms (the module's choice).
SORT = {"GRADIENT_TILES": False}
# The kernels' other settings (the module's own under the interpreter: a scan taking whole rows
# a step, channels-last): small tiles, whose steps take one column (the GPU's, for a large grid)
# or two, the gather, NCHW reads, an int64 argmax (inputs of 2**31 elements or more), the
# largest regions' programs first (several channel blocks and groups of bins), our own
# channels-last copy, the pooling launched before the boxes' check is waited for. Compiled
# on a GPU, every variant is a compilation per tile shape, and `make gpu-sweep` checks the
# variants before timing them: the module's settings only there.
variants = st.sampled_from([{}] if DEVICE == "cuda" else [
    {}, {"SCAN_COLUMNS": 1, "TILE": 16}, {"SCAN_COLUMNS": 2, "TILE": 16}, {"SCAN": False},
    {"CHANNELS_LAST": False, "SCAN_COLUMNS": 1, "TILE": 16}, {"INT32_INDEX_LIMIT": 0},
    {"LONGEST_FIRST": True, "SCAN_COLUMNS": 1, "TILE": 4, "MAX_BLOCK_C": 2, "PYRAMID_BLOCK_C": 2},
    {"COPY_KERNEL": False}, {"DERIVE_BY_CHANNEL": True},
    {"DERIVE_BY_CHANNEL": True, "PYRAMID_BLOCK_C": 2, "TILE": 16}, {"WAIT_FOR_CHECK": False}])
LEVEL_SETS = [(6, 3, 2, 1), (4, 2, 1), (5, 2), (3, 6), (2, 2, 1), (1,)]


@st.composite
def problems(draw, max_regions=6):
    """(input, boxes [K, 5], output size, scale) in float32, small enough for the interpreter."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    seed = draw(st.integers(0, 2**16))
    x = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))
    # the values on which max implementations differ: NaN, infinities, and ±0
    for _ in range(draw(st.integers(0, 10))):
        x[tuple(draw(st.integers(0, s - 1)) for s in x.shape)] = draw(special)
    if draw(st.booleans()):  # whole areas of tied +0.0 and -0.0
        x = torch.where(x.abs() < 0.7, torch.where(x > 0, 0.0, -0.0), x)
    k = draw(st.integers(0, max_regions))
    # batch index: truncated toward zero, so 0.7 goes to the same image as 0
    boxes = torch.tensor([[draw(st.integers(0, n - 1)) + draw(st.sampled_from([0.0, 0.7]))]
                          + [draw(coordinate) for _ in range(4)] for _ in range(k)],
                         dtype=torch.float32).reshape(k, 5)
    size = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    return x, boxes, size, draw(st.sampled_from(SCALES))


# The pyramid in one launch, or a launch a level (PYRAMID_APART).
APART = pytest.mark.parametrize("apart", [False, True])


@hypothesis.settings(max_examples=40, deadline=None)
@given(problems(), st.sampled_from([torch.float32, torch.float64]), variants)
def test_roi_pool_is_torchvision_bit_for_bit(problem, dtype, variant):
    x, boxes, size, scale = problem
    x, boxes = x.to(dtype), boxes.to(dtype)
    with settings(**variant):
        assert same_bits(tri.roi_pool(*on(x, boxes), size, scale), tv(x, boxes, size, scale))


@hypothesis.settings(max_examples=16, deadline=None)
@given(problems(max_regions=4), st.sampled_from(LEVEL_SETS),
       st.sampled_from([torch.float32, torch.float64]), variants, st.booleans())
def test_roi_spp_is_torchvision_at_each_level(problem, levels, dtype, variant, apart):
    x, boxes, _, scale = problem
    x, boxes = x.to(dtype), boxes.to(dtype)
    with settings(**variant, PYRAMID_APART=apart):
        assert same_bits(tri.roi_spp(*on(x, boxes), levels, scale),
                         tv_pyramid(x, boxes, levels, scale))


def listed(boxes, scale, grids, shape, block_h, block_w):
    """Each tile's list of (output offset, distance between channels) for the backward by
    tiles: every bin that shares a pixel with the tile (bench.ops.roi's bin edges), by loops in
    the outputs' order. What _tile_lists must return."""
    n, c, h, w = shape
    tiles_h, tiles_w = -(-h // block_h), -(-w // block_w)
    lists = [[] for _ in range(n * tiles_h * tiles_w)]
    before = 0
    for r, q in grids:
        batch, rows, cols = cpu.bin_edges(boxes, (r, q), scale, h, w)
        for k, i, j in itertools.product(range(boxes.shape[0]), range(r), range(q)):
            (h0, h1), (w0, w1) = rows[k, i].tolist(), cols[k, j].tolist()
            output = k * c * sum(a * b for a, b in grids) + before * c + i * q + j
            for row, col in itertools.product(range(tiles_h), range(tiles_w)):
                if max(h0, row * block_h) < min(h1, (row + 1) * block_h) and \
                        max(w0, col * block_w) < min(w1, (col + 1) * block_w):
                    lists[(int(batch[k]) * tiles_h + row) * tiles_w + col].append((output, r * q))
        before += r * q
    return lists


@hypothesis.settings(max_examples=15, deadline=None)
@given(problems(max_regions=4), st.sampled_from(cpu.FLOATING),
       st.sampled_from([None, *LEVEL_SETS]), st.sampled_from([(4, 4), (2, 8), (8, 1), (16, 16)]))
# bins that end on a tile's edge, and on the map's
@hypothesis.example((torch.zeros(1, 1, 8, 8), torch.tensor([[0.0, 0, 0, 3, 7]]), (2, 2), 1.0),
                    torch.float32, None, (4, 4))
def test_tile_lists_name_each_tile_s_bins_in_torchvision_s_order(problem, dtype, levels, tile):
    """The backward by tiles adds the gradients its list names, in the list's order: every bin
    that overlaps the tile, none other, ordered by (level, region, bin row, bin column)."""
    x, boxes, size, scale = problem
    grids = (size,) if levels is None else tuple((level, level) for level in levels)
    hypothesis.assume(boxes.shape[0] > 0)  # no lists are made without regions
    x, boxes = x.to(dtype), boxes.to(dtype)
    try:
        xd, rois = on(x, boxes)
        rois, bits, wait, _ = tri._check(xd, rois, scale)
        tri._refuse(wait, xd)
    except ValueError:  # a float16 region too wide for its dtype, refused as by bench.ops.roi
        hypothesis.reject()
    start, bins, stride = (t.tolist() for t in tri._tile_lists(rois, bits, grids, x.shape, dtype,
                                                                *tile))
    expected = listed(boxes, scale, grids, x.shape, *tile)
    assert len(start) == len(expected) + 1
    assert [list(zip(bins[a:b], stride[a:b])) for a, b in zip(start, start[1:])] == expected


@hypothesis.settings(max_examples=25, deadline=None)
@given(problems(max_regions=4), st.sampled_from([torch.float32, torch.float64]),
       st.sampled_from([SORT, {"GRADIENT_TILES": True}] if DEVICE == "cuda" else
                       [{}, SORT, SORT | {"RUN_BLOCK": 2, "RUN_CHUNK": 1},
                        SORT | {"RUN_BLOCK": 2, "RUN_CHUNK": 3},
                        SORT | {"INT32_INDEX_LIMIT": 0}, {"GRADIENT_TILES": True},
                        {"GRADIENT_TILES": True, "GRADIENT_TILE": 4, "GRADIENT_BLOCK_C": 2},
                        {"GRADIENT_TILES": True, "INT32_INDEX_LIMIT": 0}]))
def test_gradient_is_torchvision_cpu_gradient_bit_for_bit(problem, dtype, variant):
    x, boxes, size, scale = problem
    x, boxes = x.to(dtype).requires_grad_(), boxes.to(dtype)
    grad = torch.randn(boxes.shape[0], x.shape[1], *size, dtype=dtype)
    xd, boxes_d, grad_d = on(x.detach(), boxes, grad)
    xd.requires_grad_()
    with settings(**variant):  # a run of terms may cross chunks and programs
        (ours,) = torch.autograd.grad(tri.roi_pool(xd, boxes_d, size, scale), xd, grad_d)
    (theirs,) = torch.autograd.grad(tv(x, boxes, size, scale), x, grad)
    assert same_bits(ours, theirs)




@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hard_cases_from_the_semantics(dtype):
    x = torch.arange(2 * 2 * 60 * 60, dtype=dtype).reshape(2, 2, 60, 60).sin()
    boxes = torch.tensor(HARD_BOXES, dtype=dtype)
    xd, boxes_d = on(x, boxes)
    for size, scale in ((7, 1.0), ((3, 5), 1 / 16)):
        assert same_bits(tri.roi_pool(xd, boxes_d, size, scale), tv(x, boxes, size, scale))
    assert same_bits(tri.roi_spp(xd, boxes_d, (6, 3, 2, 1), 0.5),
                     tv_pyramid(x, boxes, (6, 3, 2, 1), 0.5))
    assert (tri.roi_pool(xd, boxes_d[3:4], 2) == 0).all()


def test_float64_corners_round_as_c_does_next_to_one_half():
    x = torch.arange(16, dtype=torch.float64).reshape(1, 1, 4, 4)
    for corner in (0.49999999999999994, -0.49999999999999994, 2.5, -2.5, 1.4999999999999998):
        boxes = torch.tensor([[0, 0, 0, 3, corner]], dtype=torch.float64)
        assert same_bits(tri.roi_pool(*on(x, boxes), 1), tv(x, boxes, 1)), corner


@APART
def test_a_pyramid_level_whose_bins_are_not_unions_of_finest_bins_is_pooled(apart):
    """The kernel decides per region whether a level derives from the finest: here the 7x7
    level's last bins (57 rows into 7 end one row past the region) are not unions of 14x14
    bins, and only the edge row and column hold anything."""
    x = torch.zeros(1, 1, 60, 60)
    x[0, 0, 57, :] = 1.0
    x[0, 0, :, 57] = 1.0
    boxes = torch.tensor([[0, 0, 0, 56, 56.0], [0, 0, 0, 20, 20]])  # the second derives
    for levels in ((7, 1), (14, 2, 1), (14, 7)):
        with settings(PYRAMID_APART=apart):
            pyramid = tri.roi_spp(*on(x, boxes), levels)
        assert same_bits(pyramid, tv_pyramid(x, boxes, levels)), levels


# A scan step of one column keeps the winner's own value; of several, it re-reads the winner.
COLUMNS = pytest.mark.parametrize("columns", [1, 4])


def one_bin_tiles(monkeypatch, columns):
    """Tiles of one bin and one channel whose steps take `columns` columns (the tile has no
    room for more) on the single-channel inputs below."""
    monkeypatch.setattr(tri, "SCAN_COLUMNS", columns)
    monkeypatch.setattr(tri, "TILE", columns)
    monkeypatch.setattr(tri, "PIXELS_FIRST", True)
    assert tri._tiles(1, 1, 4, 4) == tri._tiles(1, 4, 4, 4) == (1, 1, columns)


@COLUMNS
def test_nan_never_wins_and_a_bin_of_nan_or_minus_inf_gives_minus_flt_max(columns, monkeypatch):
    one_bin_tiles(monkeypatch, columns)
    x = torch.tensor([[[[math.nan, 1.0, -math.inf], [math.nan, math.nan, -math.inf]]]])
    boxes = torch.tensor([[0, 0, 0, 2, 1.0]])
    out = tri.roi_pool(*on(x, boxes), (2, 3))
    assert out.flatten().tolist() == [-FLT_MAX, 1.0, -FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX]
    assert same_bits(out, tv(x, boxes, (2, 3)))
    # exactly -FLT_MAX does not win either (strict >), in float64 too
    x64 = torch.tensor([[[[-FLT_MAX, -1e300]]]], dtype=torch.float64)
    boxes64 = torch.tensor([[0, 0, 0, 1, 0.0]], dtype=torch.float64)
    assert same_bits(tri.roi_pool(*on(x64, boxes64), 1), tv(x64, boxes64, 1))


@COLUMNS
@APART
@pytest.mark.parametrize("first", [-0.0, 0.0])
def test_first_of_tied_zeros_wins_also_in_the_pyramid(first, apart, columns, monkeypatch):
    one_bin_tiles(monkeypatch, columns)
    monkeypatch.setattr(tri, "PYRAMID_APART", apart)
    # the tie spans two fine bins, the later row's zero in the earlier fine bin column; or the
    # two zeros are in one row, in one step of 4 columns (where a max reduction may return
    # either: numpy's returns the first, so only a GPU shows the re-read at work)
    for later in ((2, 0), (1, 2)):
        x = torch.full((1, 1, 4, 4), -1.0)
        x[0, 0, 1, 1 if later == (1, 2) else 3], x[0, 0][later] = first, -first
        boxes = torch.tensor([[0, 0, 0, 3, 3.0]])
        pyramid = tri.roi_spp(*on(x, boxes), (2, 1))
        assert same_bits(tri.roi_pool(*on(x, boxes), 1), tv(x, boxes, 1))
        assert same_bits(pyramid, tv_pyramid(x, boxes, (2, 1)))
        assert pyramid[0, -1].signbit().item() == (math.copysign(1, first) < 0)


@APART
@pytest.mark.parametrize("levels", [(6, 3, 2, 1), (5, 2)])  # (5, 2): nothing derived
def test_pyramid_gradient_is_bench_roi_spp_gradient_and_the_levels_sum(levels, apart,
                                                                      monkeypatch):
    monkeypatch.setattr(tri, "PYRAMID_APART", apart)
    x = torch.randn(2, 3, 13, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    boxes = torch.tensor([[0, 0, 0, 12, 10], [1, 3, 1, 30, 5], [0, 2, 2, 9, 9],
                          [1, -4, -3, 6, 14]], dtype=torch.float64)
    grad = torch.randn(4, 3 * sum(level * level for level in levels), dtype=torch.float64)
    xd, boxes_d, grad_d = on(x, boxes, grad)
    xd.requires_grad_()
    (ours,) = torch.autograd.grad(tri.roi_spp(xd, boxes_d, levels), xd, grad_d)
    x.requires_grad_()
    (bench,) = torch.autograd.grad(cpu.roi_spp(x, boxes, levels), x, grad)
    assert same_bits(ours, bench)
    (theirs,) = torch.autograd.grad(tv_pyramid(x, boxes, levels), x, grad)
    torch.testing.assert_close(ours.cpu(), theirs)


# The backward without a sort, on tiles of 8 x 8 pixels and 4 channels: on a 12 x 12 map of 3
# channels, 2 x 2 tiles (the regions' bins across their edges, three of them partly outside the
# map) in one channel block that is not full. Otherwise the interpreter's: one tile a map.
TILES = {"GRADIENT_TILES": True, "GRADIENT_TILE": 8, "GRADIENT_BLOCK_C": 4}


@pytest.mark.parametrize("op, dtype, gradient", [
    ("pool", torch.float32, SORT), ("spp", torch.float32, SORT), ("pool", torch.float32, TILES),
    ("spp", torch.float32, {"GRADIENT_TILES": True}),
    ("pool", torch.bfloat16, {"GRADIENT_TILES": True})])
def test_backward_adds_in_torchvision_s_order_and_is_deterministic(op, dtype, gradient):
    """Many terms per input element, of many magnitudes, so that another order of the
    additions gives other bits; against our CPU operator's gradient (torchvision's in float32
    and float64, the tests of bench.ops.roi show), the sort's and the tiles'."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(1, 3, 12, 12, generator=gen).to(dtype)
    boxes = torch.tensor([[0, 0, 0, 11, 11]] * 4 + [[0, 3, 5, 10, 11]] * 4).to(dtype)
    if op == "pool":
        def forward(module, x, boxes):
            return module.roi_pool(x, boxes, 7)
    else:
        def forward(module, x, boxes):
            return module.roi_spp(x, boxes, (6, 3, 2, 1))
    shape = forward(cpu, x, boxes).shape
    grad = (torch.randn(shape, generator=gen)
            * 10.0 ** torch.randint(-4, 5, shape, generator=gen)).to(dtype)

    def reference(order):
        xc = x.clone().requires_grad_()
        return torch.autograd.grad(forward(cpu, xc, boxes[order]), xc, grad[order])[0]

    expected = reference(torch.arange(8))
    assert not same_bits(reference(torch.arange(8).flip(0)), expected)  # the order shows
    xd = x.to(DEVICE).requires_grad_()
    with settings(**gradient):
        out = forward(tri, xd, boxes.to(DEVICE))
        # the backward again on the same argmax: on a GPU (the interpreter runs one program
        # after the other, and cannot show a race)
        runs = [torch.autograd.grad(out, xd, grad.to(DEVICE), retain_graph=True)[0]
                for _ in range(2 if DEVICE == "cuda" else 1)]
    assert all(same_bits(run, expected) for run in runs)


@pytest.mark.parametrize("regions, grids, shape, tiles", [
    (48, ((7, 7),), (2, 3, 10, 10), False),  # 2,352 terms on 200 pixels, 2,400 at 12 a pixel
    (49, ((7, 7),), (2, 3, 10, 10), True),  # 2,401
    (48, ((6, 6), (3, 3), (2, 2), (1, 1)), (2, 3, 10, 10), True),  # 2,400: the threshold
    (5, ((7, 7),), (1, 3, 0, 4), False)])  # an empty map: no tile
def test_the_backward_goes_by_tiles_where_the_gradient_terms_are_dense(regions, grids, shape,
                                                                       tiles, monkeypatch):
    monkeypatch.setattr(tri, "GRADIENT_TILES", None)
    monkeypatch.setattr(tri, "GRADIENT_TILES_FROM", 12)
    assert tri._by_tiles(regions, grids, shape) is tiles
    for forced in (True, False):
        monkeypatch.setattr(tri, "GRADIENT_TILES", forced)
        assert tri._by_tiles(regions, grids, shape) is forced


@pytest.mark.parametrize("op", ["pool", "spp"])
def test_the_forward_s_choice_of_backward_is_the_one_that_runs(op, launches, monkeypatch):
    """4 regions of a 7x7 grid on 2 images of 4x6 pixels are 196 terms, 4 a pixel: by tiles at a
    threshold of 4, by the sort at 5; the pyramid's 4 x 50 terms alike. The forward chooses (the
    threshold changed before the backward changes nothing); either way the gradient is our CPU
    operator's."""
    monkeypatch.setattr(tri, "GRADIENT_TILES", None)
    kernels = {name: launches[name] for name in ("_tile_gradient_kernel", "_run_sum_kernel")}
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 4, 6, generator=gen)
    boxes = torch.tensor([[0, 0, 0, 5, 3], [1, 1, 0, 4, 3], [0, 2, 1, 5, 2], [1, 0, 0, 2, 2.0]])
    pool = ((lambda module, x: module.roi_pool(x, boxes.to(x.device), 7)) if op == "pool" else
            (lambda module, x: module.roi_spp(x, boxes.to(x.device), (6, 3, 2, 1))))
    grad = torch.randn(pool(cpu, x).shape, generator=gen)
    xc = x.clone().requires_grad_()
    expected = torch.autograd.grad(pool(cpu, xc), xc, grad)[0]
    for threshold, used in ((4, "_tile_gradient_kernel"), (5, "_run_sum_kernel")):
        monkeypatch.setattr(tri, "GRADIENT_TILES_FROM", threshold)
        xd = x.to(DEVICE).requires_grad_()
        before = {name: len(stub.grids) for name, stub in kernels.items()}
        out = pool(tri, xd)
        monkeypatch.setattr(tri, "GRADIENT_TILES_FROM", 9 - threshold)
        (ours,) = torch.autograd.grad(out, xd, grad.to(DEVICE))
        assert {name: len(stub.grids) - before[name] for name, stub in kernels.items()} == \
            {name: int(name == used) for name in kernels}, threshold
        assert same_bits(ours, expected), threshold


@pytest.mark.parametrize("block, chunk, keys, dtype", [
    (2, 1, torch.int32, torch.float32), (2, 1, torch.int64, torch.bfloat16),
    (2, 3, torch.int64, torch.float32), (4, 16, torch.int32, torch.bfloat16),
    (4, 16, torch.int64, torch.float32),
    (tri.RUN_BLOCK, tri.RUN_CHUNK, torch.int32, torch.float32),
    (tri.RUN_BLOCK, tri.RUN_CHUNK, torch.int32, torch.bfloat16)])
def test_each_input_element_s_terms_are_added_in_their_order(block, chunk, keys, dtype,
                                                             monkeypatch):
    """Runs of every length, from one term to more than a chunk and a program; with 16 terms a
    chunk (4 lanes a program), runs that start and end at chunk and program boundaries and runs
    across them. Values of many magnitudes, so that another order of additions gives other
    bits; -1 (no term) sorted first."""
    monkeypatch.setattr(tri, "RUN_BLOCK", block)
    monkeypatch.setattr(tri, "RUN_CHUNK", chunk)
    gen = torch.Generator().manual_seed(5)
    # Sorted, the 7 terms of -1 come first, then these runs in this order: they start at 7, 16,
    # 32, 33, 64, 104, 106, 111, 112, 129, 162 and 163, and end at 15, 31, 32, 63, 103, ..., 226.
    lengths = torch.tensor([9, 16, 1, 31, 40, 2, 5, 1, 17, 33, 1, 64])
    runs = torch.randperm(20, generator=gen)[:len(lengths)].sort().values
    index = torch.cat([torch.full((7,), -1), torch.repeat_interleave(runs, lengths)])
    index = index[torch.randperm(index.numel(), generator=gen)]
    grad = (torch.randn(index.numel(), generator=gen)
            * 10.0 ** torch.randint(-4, 5, (index.numel(),), generator=gen)).to(dtype)
    grad[-1] = -0.0  # a term of -0.0 added to +0.0 gives +0.0, as in torchvision
    expected = torch.zeros(20, dtype=dtype)
    for i, g in zip(index.tolist(), grad):
        if i >= 0:
            expected[i] = expected[i] + g  # rounded to the dtype after every addition
    shuffled = torch.zeros(20, dtype=dtype).index_add_(0, index.clamp(min=0).flip(0),
                                                       grad.flip(0) * (index.flip(0) >= 0))
    assert not same_bits(shuffled, expected)  # the order shows in the bits
    index, grad = on(index.to(keys), grad)
    assert same_bits(tri._gather_gradient(index, grad, 20), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_types_are_our_cpu_operator(dtype):
    x = torch.randn(2, 3, 14, 13, generator=torch.Generator().manual_seed(5)).to(dtype)
    x[0, 0, 2:5, 2:5] = -math.inf  # a bin of -inf gives the floor, -inf in these dtypes
    x[1, 1, 3:6, 1:7] = math.nan
    x[0, 2] = torch.where(x[0, 2] > 0, 0.0, -0.0)
    boxes = torch.tensor(HARD_BOXES + [[0, 1.3, 2.6, 9.5, 11.2], [1, 0, 0, 13, 12]]).to(dtype)
    xd, boxes_d = on(x, boxes)
    out = tri.roi_pool(xd, boxes_d, (7, 5), 0.37)
    assert out.dtype == dtype and same_bits(out, cpu.roi_pool(x, boxes, (7, 5), 0.37))
    for apart in (False, True):
        with settings(PYRAMID_APART=apart):
            pyramid = tri.roi_spp(xd, boxes_d, (6, 3, 2, 1), 0.5)
        assert same_bits(pyramid, cpu.roi_spp(x, boxes, (6, 3, 2, 1), 0.5)), apart
    # gradients: many terms per element, each addition rounded to the dtype
    x, xd = x.nan_to_num(0.0, 0.0, 0.0).requires_grad_(), xd.nan_to_num(0.0, 0.0, 0.0)
    xd.requires_grad_()
    boxes = torch.cat([boxes] * 2)
    grad = torch.randn(boxes.shape[0], 3, 4, 4).to(dtype)
    (bench,) = torch.autograd.grad(cpu.roi_pool(x, boxes, 4), x, grad)
    # the sort; the tiles in float16 (in bfloat16: the order test)
    for gradient in [SORT] + [{"GRADIENT_TILES": True}] * (dtype == torch.float16):
        with settings(**gradient):
            out = tri.roi_pool(xd, boxes.to(DEVICE), 4)
            (ours,) = torch.autograd.grad(out, xd, grad.to(DEVICE))
        assert same_bits(ours, bench), gradient


@pytest.mark.parametrize("scan, columns", [(True, 1), (True, 2), (False, 2)])
def test_small_tiles_give_the_same_bits(monkeypatch, scan, columns):
    """The pixel loop (the scan's column steps), several bins and channel blocks per region, and
    the fine-bin loop of derived levels, which the default tile sizes cover in one step on these
    small inputs; backward runs of terms across programs, or (with the gather) the backward by
    tiles of 4 x 4 pixels and 2 channels, several to an image, bins across tiles' edges, tiles
    that some regions miss and some whose lists are empty."""
    monkeypatch.setattr(tri, "SCAN", scan)
    monkeypatch.setattr(tri, "SCAN_COLUMNS", columns)
    monkeypatch.setattr(tri, "TILE", 16)
    monkeypatch.setattr(tri, "MAX_BLOCK_C", 2)
    monkeypatch.setattr(tri, "PYRAMID_BLOCK_C", 2)
    monkeypatch.setattr(tri, "MAX_BLOCK_Q", 4)
    monkeypatch.setattr(tri, "PIXELS_FIRST", True)
    monkeypatch.setattr(tri, "RUN_BLOCK", 4)
    monkeypatch.setattr(tri, "RUN_CHUNK", 2)
    monkeypatch.setattr(tri, "GRADIENT_TILES", not scan)
    monkeypatch.setattr(tri, "GRADIENT_TILE", 4)
    monkeypatch.setattr(tri, "GRADIENT_BLOCK_C", 2)
    x = torch.randn(2, 3, 9, 10, generator=torch.Generator().manual_seed(3))
    x[0, :, 1:4, 1:4] = torch.where(x[0, :, 1:4, 1:4] > 0, 0.0, -0.0)
    x[1, 1, 2, 2] = math.nan
    # small regions in opposite corners, one partly outside; image 1 has one region
    boxes = torch.tensor([[0, 1, 1, 4.4, 3], [0, 0, 0, 2, 2], [0, 0, 0, 8, 9],
                          [1, -2, 1, 6, 12], [0, 5, 4, 9, 8]])
    xd, boxes_d = on(x, boxes)
    assert same_bits(tri.roi_pool(xd, boxes_d, (3, 2)), tv(x, boxes, (3, 2)))
    assert same_bits(tri.roi_spp(xd, boxes_d[2:4], (4, 2, 1)),
                     tv_pyramid(x, boxes[2:4], (4, 2, 1)))
    xd.requires_grad_()
    x.requires_grad_()
    grad = torch.randn(5, 3, 3, 2)
    (ours,) = torch.autograd.grad(tri.roi_pool(xd, boxes_d, (3, 2)), xd, grad.to(DEVICE))
    (theirs,) = torch.autograd.grad(tv(x, boxes, (3, 2)), x, grad)
    assert same_bits(ours, theirs)
    if not scan:  # the pyramid's by tiles: its levels' bins one after the other in each list
        grad = torch.randn(2, 3 * 21)
        (ours,) = torch.autograd.grad(tri.roi_spp(xd, boxes_d[2:4], (4, 2, 1)), xd,
                                      grad.to(DEVICE))
        (bench,) = torch.autograd.grad(cpu.roi_spp(x, boxes[2:4], (4, 2, 1)), x, grad)
        assert same_bits(ours, bench)


class _Launches:
    """Stands in for a kernel and records its launches (and runs it unless told not to)."""

    def __init__(self, kernel=None):
        self.kernel, self.grids, self.constants = kernel, [], []

    def __getitem__(self, grid):
        self.grids.append(grid)
        if self.kernel is None:
            raise AssertionError("launched")

        def launch(*args, **constants):
            self.constants.append(constants)
            return self.kernel[grid](*args, **constants)
        return launch


@pytest.fixture
def launches(monkeypatch):
    kernels = {name: _Launches(getattr(tri, name))
               for name in ("_roi_pool_kernel", "_roi_spp_kernel", "_run_sum_kernel",
                            "_tile_gradient_kernel")}
    for name, stub in kernels.items():
        monkeypatch.setattr(tri, name, stub)
    return kernels


def test_pyramid_is_one_launch_deriving_the_levels_that_divide_the_finest(launches):
    x = torch.randn(1, 4, 30, 40).relu()  # many tied zeros
    boxes = torch.tensor([[0, 0, 0, 39, 29], [0, -10, 5, 20, 50], [0, 3, 3, 17, 11.0]])
    plan, first_fine = tri._plan((6, 3, 2, 1))
    assert plan == [(6, 0, 0), (3, 36, 2), (2, 45, 3), (1, 49, 6)] and first_fine == 0
    out = tri.roi_spp(*on(x, boxes), (6, 3, 2, 1))
    assert same_bits(out, tv_pyramid(x, boxes, (6, 3, 2, 1)))
    assert len(launches["_roi_spp_kernel"].grids) == 1
    assert not launches["_roi_pool_kernel"].grids
    # 5 does not divide 6: pooled directly, still in the same launch; a repeated finest level
    # is derived from the first
    assert tri._plan((3, 6, 5, 6))[0] == [(3, 0, 2), (6, 9, 0), (5, 45, 0), (6, 70, 1)]


def test_pyramid_apart_launches_each_level_the_finest_first(launches, monkeypatch):
    monkeypatch.setattr(tri, "PYRAMID_APART", True)
    x = torch.randn(2, 4, 30, 40).relu()  # many tied zeros
    boxes = torch.tensor([[0, 0, 0, 39, 29], [1, -10, 5, 20, 50], [0, 3, 3, 17, 11.0]])
    for levels in ((3, 6, 5, 6), (6,)):
        out = tri.roi_spp(*on(x, boxes), levels)
        assert same_bits(out, tv_pyramid(x, boxes, levels)), levels
    # (3, 6, 5, 6): the finest level, then 5 (pooled from the input), with roi_pool's grid (a
    # program per group of bins); 3 and the second 6 derived, each in a launch of its own that
    # starts past the finest; (6,): the finest alone
    assert same_bits(tri.roi_pool(*on(x, boxes), 6), tv(x, boxes, 6))
    six, five, alone, pooled = launches["_roi_pool_kernel"].grids
    assert six == alone == pooled and pooled[0] % 3 == 0 and five[0] % 3 == 0
    assert [launch["FIRST"] for launch in launches["_roi_spp_kernel"].constants] == [1, 1]
    # each derived level's tiles sized for it: all of its coarse bins and their fine bins in
    # one step (here, where channel blocks of 4 leave room)
    tri.roi_spp(*on(x, boxes), (6, 3, 2, 1))
    assert [(launch["BLOCK_D"], launch["BLOCK_F"])
            for launch in launches["_roi_spp_kernel"].constants[2:]] == [(16, 4), (4, 16), (1, 64)]
    # where a level's bins outgrow the tile, the tile holds what fits and the loops the rest
    monkeypatch.setattr(tri, "TILE", 16)
    monkeypatch.setattr(tri, "PYRAMID_BLOCK_C", 2)
    assert same_bits(tri.roi_spp(*on(x, boxes), (12, 1)), tv_pyramid(x, boxes, (12, 1)))
    derived = launches["_roi_spp_kernel"].constants[-1]
    assert (derived["BLOCK_D"], derived["BLOCK_F"], derived["BLOCK_C"]) == (1, 8, 2)


def test_pyramid_apart_leaves_the_finest_level_to_its_first_launch(monkeypatch):
    """The derived levels' launches start past the finest level: what its launch wrote there
    stays."""
    monkeypatch.setattr(tri, "PYRAMID_APART", True)
    marked = []

    def mark(x, strides, rois, scale, order, out, argmax, output_size, height, width, row_len,
             row_off):
        span = slice(row_off, row_off + x.shape[1] * output_size[0] * output_size[1])
        out[:, span], argmax[:, span] = 7.0, -1  # no winner: derived levels get the floor
        marked.append(span)

    monkeypatch.setattr(tri, "_pool_launch", mark)
    x = torch.randn(1, 2, 12, 12)
    boxes = torch.tensor([[0, 0, 0, 11, 11.0], [0, 2, 3, 9, 8]])
    out = tri.roi_spp(*on(x, boxes), (2, 4, 1)).cpu()
    (span,) = marked
    assert span == slice(2 * 4, 2 * 20) and (out[:, span] == 7.0).all()
    assert (out[:, :span.start] == -FLT_MAX).all() and (out[:, span.stop:] == -FLT_MAX).all()


def test_longest_first_starts_the_largest_regions_programs_first_and_changes_no_bit(
        launches, monkeypatch):
    x = torch.randn(2, 5, 30, 40, generator=torch.Generator().manual_seed(1)).relu()
    # scaled areas within the 30x40 map: 15 x 9, 21 (columns -10..20 clipped to 0..20) x 26,
    # 40 x 30, 2 x 2, none (a region wholly outside: 1 x 1, as its clipped extent is 0)
    boxes = torch.tensor([[0, 3, 3, 17, 11.0], [1, -10, 5, 20, 50], [0, 0, 0, 39, 29],
                          [1, 2, 2, 3, 3], [0, 50, 50, 60, 60]])
    xd, boxes_d = on(x, boxes)
    monkeypatch.setattr(tri, "LONGEST_FIRST", True)
    assert tri._check(xd, boxes_d, 1.0)[3].tolist() == [2, 1, 0, 3, 4]
    # tiles of 2 channels and a few bins: programs for 3 channel blocks and several groups
    monkeypatch.setattr(tri, "TILE", 8)
    monkeypatch.setattr(tri, "MAX_BLOCK_C", 2)
    monkeypatch.setattr(tri, "PYRAMID_BLOCK_C", 2)
    monkeypatch.setattr(tri, "SCAN_COLUMNS", 1)
    assert same_bits(tri.roi_pool(xd, boxes_d, (3, 4)), tv(x, boxes, (3, 4)))
    (grid,) = launches["_roi_pool_kernel"].grids
    block_c, block_b, _ = tri._tiles(5, 12, 1, 1)
    assert block_c == 2 and grid == (5 * -(-12 // block_b) * 3,)  # one axis
    monkeypatch.setattr(tri, "TILE", 64)  # the pyramid's programs: 3 channel blocks still
    for apart in (False, True):
        monkeypatch.setattr(tri, "PYRAMID_APART", apart)
        pyramid = tri.roi_spp(xd, boxes_d, (4, 2, 1))
        assert same_bits(pyramid, tv_pyramid(x, boxes, (4, 2, 1))), apart
    assert launches["_roi_spp_kernel"].grids[0] == (5 * 3,)
    # the programs take their regions from the order: all of them region 0's, or in reverse
    x_laid, strides = tri._laid_out(xd)
    rois, scale, wait, _ = tri._check(xd, boxes_d, 1.0)
    height, width = tri._refuse(wait, xd)
    for order, written in (([0] * 5, [0]), ([4, 3, 2, 1, 0], range(5))):
        out = torch.full((5, 5 * 12), math.nan, device=DEVICE)
        argmax = torch.full((5, 5 * 12), -7, dtype=torch.int32, device=DEVICE)
        tri._pool_launch(x_laid, strides, rois, scale, torch.tensor(order, device=DEVICE), out,
                         argmax, (3, 4), height, width, 5 * 12, 0)
        expected = tv(x, boxes, (3, 4)).flatten(1)
        for k in range(5):
            if k in written:
                assert same_bits(out[k], expected[k]), (order, k)
            else:
                assert out[k].isnan().all() and (argmax[k] == -7).all(), (order, k)
    xd.requires_grad_()
    grad = torch.randn(5, 5, 3, 4, generator=torch.Generator().manual_seed(2))
    (ours,) = torch.autograd.grad(tri.roi_pool(xd, boxes_d, (3, 4)), xd, grad.to(DEVICE))
    x.requires_grad_()
    (theirs,) = torch.autograd.grad(tv(x, boxes, (3, 4)), x, grad)
    assert same_bits(ours, theirs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_the_channels_last_copy_kernel_is_torch_s_copy_bit_for_bit(dtype, monkeypatch):
    monkeypatch.setattr(tri, "COPY_KERNEL", True)
    copies = _Launches(tri._channels_last_kernel)
    monkeypatch.setattr(tri, "_channels_last_kernel", copies)
    bits = {8: torch.int64, 4: torch.int32, 2: torch.int16}[dtype.itemsize]
    gen = torch.Generator().manual_seed(4)
    # pixels and channels beyond one tile of 64 and not multiples of it; a map of one row; two
    # pixels in one column
    shapes = ((2, 70, 9, 11), (1, 130, 8, 9), (1, 3, 1, 7), (2, 65, 2, 1))
    for shape in shapes:
        x = torch.randn(shape, generator=gen).to(dtype)
        x.view(-1)[::5] = -0.0
        # NaNs of many payloads, either sign: all exponent bits, a mantissa other than 0
        mantissa = {torch.float64: 52, torch.float32: 23, torch.float16: 10, torch.bfloat16: 7}
        width, size = mantissa[dtype], 8 * dtype.itemsize
        payloads = x.view(bits).view(-1)[1::7]
        nan = torch.randint(1, 1 << width, payloads.shape, generator=gen) | \
            (((1 << (size - 1 - width)) - 1) << width)
        sign = torch.randint(0, 2, payloads.shape, generator=gen).bool()
        payloads.copy_(torch.where(sign, nan.to(bits) | torch.iinfo(bits).min, nan.to(bits)))
        assert x.view(-1)[1::7].isnan().all() and x.view(-1)[1::7].signbit().any()
        ours, strides = tri._laid_out(on(x)[0])
        theirs = x.contiguous(memory_format=torch.channels_last)
        assert strides == theirs.stride() and torch.equal(ours.cpu().view(bits), theirs.view(bits))
    assert copies.grids == [(-(-h * w // 64), -(-c // 64), n) for n, c, h, w in shapes]
    # a channels-last input is read as it is; a strided one, or a batch of 65536 images, is
    # left to torch
    (many,) = on(torch.zeros(65536, 2, 1, 2, dtype=dtype))
    assert torch.equal(tri._laid_out(many)[0], many) and len(copies.grids) == len(shapes)
    (cl,) = on(torch.randn(2, 70, 9, 11, generator=gen).contiguous(
        memory_format=torch.channels_last))
    assert tri._laid_out(cl)[0].data_ptr() == cl.data_ptr()
    (strided,) = on(torch.randn(2, 6, 5, 4, generator=gen)[:, ::2])
    assert torch.equal(tri._laid_out(strided)[0], strided)


def test_zero_regions_and_empty_inputs_give_empty_results_without_a_pooling_launch(monkeypatch):
    for name in ("_roi_pool_kernel", "_roi_spp_kernel", "_run_sum_kernel"):
        monkeypatch.setattr(tri, name, _Launches())
    x = torch.randn(2, 4, 10, 10, device=DEVICE, requires_grad=True)
    none = torch.empty(0, 5, device=DEVICE)
    out = tri.roi_pool(x, none, 3)
    assert out.shape == (0, 4, 3, 3)
    assert tri.roi_spp(x, none).shape == (0, 4 * 50)
    empty_lists = [torch.empty(0, 4, device=DEVICE)] * 2
    assert tri.roi_pool(x, empty_lists, (2, 5)).shape == (0, 4, 2, 5)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.shape == x.shape and not grad.any()
    boxes = torch.tensor([[0, 1, 1, 5, 5.0]], device=DEVICE)
    assert tri.roi_pool(x[:, :0], boxes, 3).shape == (1, 0, 3, 3)
    assert tri.roi_spp(x[:, :0], boxes, (2, 1)).shape == (1, 0)
    flat = torch.randn(1, 2, 0, 7, device=DEVICE)
    assert torch.equal(tri.roi_pool(flat, boxes, 2), tv(flat, boxes, 2).to(DEVICE))
    assert not tri.roi_spp(flat, boxes, (2, 1)).any()


BAD_INPUTS = [
    (lambda x: tri.roi_pool(x, torch.zeros(2, 4), 7), "Tensor\\[K, 5\\]"),
    (lambda x: tri.roi_pool(x, torch.zeros(2, 5, dtype=torch.float64), 7), "dtype"),
    (lambda x: tri.roi_pool(x, torch.tensor([[2.0, 0, 0, 1, 1]]), 7), "batch index"),
    (lambda x: tri.roi_pool(x, torch.tensor([[-1.0, 0, 0, 1, 1]]), 7), "batch index"),
    (lambda x: tri.roi_pool(x, torch.tensor([[0, math.nan, 0, 1, 1]]), 7), "non-finite"),
    (lambda x: tri.roi_pool(x, torch.tensor([[0, math.inf, 0, 1, 1]]), 7), "non-finite"),
    (lambda x: tri.roi_pool(x, torch.tensor([[0, 0, 0, 1, 2.0 * COORD_LIMIT]]), 7), "within"),
    (lambda x: tri.roi_spp(x, torch.tensor([[0, 0, 0, 1, 2.0 * COORD_LIMIT]])), "within"),
    # two faults: the first in the order of the checks is named
    (lambda x: tri.roi_pool(x, torch.tensor([[0, math.nan, 0, 1, 1], [5.0, 0, 0, 1, 1]]), 7),
     "non-finite"),
    (lambda x: tri.roi_pool(x, torch.tensor([[0, 0, 0, 1, 2.0 * COORD_LIMIT], [5.0, 0, 0, 1, 1]]),
                            7), "batch index"),
    (lambda x: tri.roi_pool(x.half(), torch.tensor([[0, 0, 0, 60000, 1.0]]).half(), 7, 2.0),
     "within"),
    (lambda x: tri.roi_pool(x.half(), torch.tensor([[0, -10000, 0, 60000, 1.0]]).half(), 7),
     "float16 boxes 65520"),
    (lambda x: tri.roi_pool(x, torch.zeros(1, 5), 0), "output_size"),
    (lambda x: tri.roi_pool(x, torch.zeros(1, 5), (7, -1)), "output_size"),
    (lambda x: tri.roi_pool(x, torch.zeros(1, 5), 7, 0.0), "spatial_scale"),
    (lambda x: tri.roi_pool(x, torch.zeros(1, 5), 7, -1.0), "spatial_scale"),
    (lambda x: tri.roi_spp(x, torch.zeros(1, 5), spatial_scale=math.nan), "spatial_scale"),
    (lambda x: tri.roi_pool(x[0], torch.zeros(1, 5), 7), "input must be"),
    (lambda x: tri.roi_pool(x, [torch.zeros(1, 4)] * 3, 7), "images"),
    (lambda x: tri.roi_pool(x, [torch.zeros(1, 5)] * 2, 7), "list"),
    (lambda x: tri.roi_spp(x, torch.zeros(1, 5), ()), "at least one"),
    (lambda x: tri.roi_spp(x, torch.zeros(1, 5), (2, 0)), "positive"),
    (lambda x: tri.roi_pool(x.long(), torch.zeros(1, 5, dtype=torch.long), 2), "float"),
]
# the refusals the boxes' check makes on the device; the others are the host's
BOX_VALUES = ("batch index", "non-finite", "within", "float16 boxes 65520")


@pytest.mark.parametrize("call, message", BAD_INPUTS)
def test_bad_input_is_a_one_line_value_error_before_any_pooling_launch(call, message, monkeypatch):
    for name in ("_roi_pool_kernel", "_roi_spp_kernel", "_run_sum_kernel"):
        monkeypatch.setattr(tri, name, _Launches())
    refused(call, message, monkeypatch)


# the interpreter's numpy warns where it converts NaN or an overflowing value to an integer,
# which a GPU makes 0 or the nearest integer: all that such a box reads is clipped to the input
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("call, message", BAD_INPUTS)
def test_bad_input_is_the_same_value_error_where_the_pooling_is_launched_before_the_check_s_wait(
        call, message, monkeypatch, launches):
    monkeypatch.setattr(tri, "WAIT_FOR_CHECK", False)
    refused(call, message, monkeypatch)
    # what the boxes decide comes from the check; the other refusals come before its launch
    assert bool(launches["_roi_pool_kernel"].grids or launches["_roi_spp_kernel"].grids) == (
        message in BOX_VALUES)


@APART
def test_a_tile_that_is_not_a_power_of_two_still_gets_power_of_two_blocks(apart):
    x = torch.randn(2, 5, 30, 40).relu()
    boxes = torch.tensor([[0, 0, 0, 39, 29], [1, -10, 5, 20, 50], [0, 3, 3, 17, 11.0]])
    with settings(TILE=24, PYRAMID_BLOCK_C=3, MAX_BLOCK_C=3, PYRAMID_APART=apart):
        assert same_bits(tri.roi_spp(*on(x, boxes), (6, 3, 2, 1)).cpu(),
                         tv_pyramid(x, boxes, (6, 3, 2, 1)))
        assert same_bits(tri.roi_pool(*on(x, boxes), 7).cpu(), tv(x, boxes, 7))


@pytest.mark.parametrize("levels", [None, (4, 2, 1)])  # roi_pool's kernel, the pyramid's
def test_a_batch_index_outside_the_images_reads_the_nearest_image(levels, monkeypatch):
    # what a launch before the check's wait reads of a box that the check then refuses
    monkeypatch.setattr(tri, "WAIT_FOR_CHECK", False)
    monkeypatch.setattr(tri, "_refuse", lambda wait, input: None)  # nothing refused
    x = torch.randn(2, 3, 9, 11)
    boxes = torch.tensor([[5.0, 1, 0, 8, 6], [-3.0, 0, 2, 10, 8], [1.0, 2, 2, 4, 4]])
    nearest = torch.cat([torch.tensor([[1.0], [0.0], [1.0]]), boxes[:, 1:]], 1)
    if levels is None:
        assert same_bits(tri.roi_pool(*on(x, boxes), 3).cpu(), tv(x, nearest, 3))
    else:
        assert same_bits(tri.roi_spp(*on(x, boxes), levels).cpu(),
                         tv_pyramid(x, nearest, levels))


def refused(call, message, monkeypatch):
    """`call` on a small CUDA or interpreted input raises a one-line ValueError matching
    `message`."""
    x = torch.randn(2, 3, 8, 8, device=DEVICE)

    def moved(boxes):  # the boxes of BAD_INPUTS are built on the CPU
        if isinstance(boxes, list):
            return [b.to(DEVICE) for b in boxes]
        return boxes.to(DEVICE) if isinstance(boxes, torch.Tensor) else boxes

    roi_pool, roi_spp = tri.roi_pool, tri.roi_spp
    monkeypatch.setattr(tri, "roi_pool", lambda x, b, *a, **k: roi_pool(x, moved(b), *a, **k))
    monkeypatch.setattr(tri, "roi_spp", lambda x, b, *a, **k: roi_spp(x, moved(b), *a, **k))
    with pytest.raises(ValueError, match=message) as error:
        call(x)
    assert "\n" not in str(error.value)


def test_cpu_tensors_are_refused_without_the_interpreter(monkeypatch):
    monkeypatch.setattr(tri, "_interpreted", lambda: False)
    x, boxes = torch.randn(1, 1, 4, 4), torch.zeros(1, 5)
    for call in (lambda: tri.roi_pool(x, boxes, 2), lambda: tri.roi_spp(x, boxes)):
        with pytest.raises(ValueError, match="CUDA tensors") as error:
            call()
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="device"):
        tri.roi_pool(torch.randn(1, 1, 4, 4, device="meta"), torch.zeros(1, 5), 2)


def test_the_sweep_checks_each_variant_before_timing_it(monkeypatch):
    from bench.ops import roi_triton_sweep as sweep
    from bench.profiling import profile_step
    from bench.suites.roi_spp_pooling import Case, Inputs

    def small(case, device, dtype):  # the suite's smallest case takes seconds here
        x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
        boxes = torch.tensor([[0, 0, 0, 11, 11], [1, 2, 3, 9, 7.5]] * 2)
        return Inputs(*on(x, boxes, torch.randn(4, 3, 7, 7)), 1.0)

    timed, profiled = [], []  # the settings in force while a variant is timed, profiled

    def timer(fn):
        timed.append((tri.SCAN, tri.RUN_BLOCK))
        return 1.0

    def profile(fn, device):
        profiled.append((tri.SCAN, tri.RUN_BLOCK, len(timed)))
        return profile_step(fn, device=device)

    monkeypatch.setattr(sweep, "make_inputs", small)
    monkeypatch.setattr(sweep, "_timer", lambda device: timer)
    monkeypatch.setattr(sweep, "profile_step", profile)
    case, log = Case("pool", "small", 16, 7), io.StringIO()
    kept = tri.SCAN, tri.SCAN_COLUMNS, tri.RUN_BLOCK
    # (SCAN_COLUMNS 2: other than the module's on a GPU and in the interpreter)
    jobs = [(0, {}), (0, {"SCAN": False}), (0, {"SCAN_COLUMNS": 2}), (1, {"RUN_BLOCK": 2}),
            (0, {"dtype": "bfloat16"}), (0, {"SCAN": False}),  # the gather again: not rerun
            (0, {"PYRAMID_APART": True})]  # the same launch as {} on roi_pool's cases
    assert sweep._resolved(jobs[-1][1], 0, "pyramid") != sweep._resolved({}, 0, "pyramid")
    # our channels-last copy is no launch of its own where the input is read NCHW
    nchw = {"CHANNELS_LAST": False}
    assert sweep._resolved(nchw | {"COPY_KERNEL": False}, 0, "pool") == \
        sweep._resolved(nchw, 0, "pool") != sweep._resolved({"COPY_KERNEL": False}, 0, "pool")
    # the pyramid's channel blocks are no setting of roi_pool's launch
    wide = {"PYRAMID_BLOCK_C": 2 * tri.PYRAMID_BLOCK_C}
    assert sweep._resolved(wide, 0, "pool") == sweep._resolved({}, 0, "pool")
    assert sweep._resolved(wide, 0, "pyramid") != sweep._resolved({}, 0, "pyramid")
    # a backward's launch: the sort's settings where it sorts, the tiles' where it tiles, both
    # where the density of the terms decides
    for forced, sort, tiles in ((False, False, True), (True, True, False), (None, False, False)):
        chosen = {"GRADIENT_TILES": forced}
        assert (sweep._resolved(chosen | {"RUN_BLOCK": 2}, 1, "pool")
                == sweep._resolved(chosen, 1, "pool")) is sort, forced
        assert (sweep._resolved(chosen | {"GRADIENT_TILE": 2}, 1, "pool")
                == sweep._resolved(chosen, 1, "pool")) is tiles, forced
    # a case's problem (regions, grids, input shape) resolves the density's choice: 2,401 terms
    # on 200 pixels go by tiles, 2,352 by the sort (12 a pixel)
    dense, sparse = (49, ((7, 7),), (2, 3, 10, 10)), (48, ((7, 7),), (2, 3, 10, 10))
    with sweep.settings(GRADIENT_TILES_FROM=12):
        assert sweep._resolved({}, 1, "pool", sparse) == sweep._resolved(SORT, 1, "pool", sparse)
        assert sweep._resolved({}, 1, "pool", dense) == \
            sweep._resolved({"GRADIENT_TILES": True}, 1, "pool", dense) != \
            sweep._resolved(SORT, 1, "pool", dense)
    saved = []
    rows = sweep.sweep([case], jobs, DEVICE, budget=600, out=log,
                       save=lambda rows: saved.append(len(rows)))
    assert saved == [1, 2, 3, 4, 5] + [5] * 5  # after every row, and after each profile
    assert [(row["mode"], row["dtype"], row["variant"]) for row in rows] == [
        ("forward", "float32", {}), ("forward", "float32", {"SCAN": False}),
        ("forward", "float32", {"SCAN_COLUMNS": 2}),
        ("forward_backward", "float32", {"RUN_BLOCK": 2}),
        ("forward", "bfloat16", {"dtype": "bfloat16"})]
    assert all(row["exact"] and row["ms"] == 1.0 for row in rows)
    # then where one more call's time went, each under its variant's settings (here, on the
    # host: operators)
    # (torchvision's two timings and our five all came first)
    assert profiled == [settings + (7,) for settings in timed[2:]]
    assert all(row["kernels"] and all(k["ms"] >= 0 for k in row["kernels"]) for row in rows)
    where = log.getvalue().split("where one call's time went")[1].splitlines()[1:]
    assert [line.split()[:2] for line in where] == [[case.id, row["mode"]] for row in rows]
    # torchvision twice, then each variant under its own settings
    assert timed[2:] == [(kept[0], kept[2]), (False, kept[2]), (kept[0], kept[2]),
                         (kept[0], 2), (kept[0], kept[2])]
    assert (tri.SCAN, tri.SCAN_COLUMNS, tri.RUN_BLOCK) == kept  # restored
    # a variant whose result is not the reference's is reported, and not timed: the forward
    # against torchvision's output, the gradient against torchvision's CPU gradient
    ours = sweep._ours

    def spoiled(ours, spoil_backward, spoil):
        def run(case, inputs, backward=0):
            fn = ours(case, inputs, backward)
            return (lambda: spoil(fn())) if backward == spoil_backward else fn
        return run

    for backward, spoil in ((0, lambda out: out + 1), (1, lambda grad: grad.flip(0))):
        monkeypatch.setattr(sweep, "_ours", spoiled(ours, backward, spoil))
        (row,) = sweep.sweep([case], [(backward, {})], DEVICE, budget=600, out=log)
        assert not row["exact"] and math.isnan(row["ms"]) and "NOT EXACT" in log.getvalue()
        assert row["kernels"] is None
    # a variant that fails is reported with its error, and the sweep goes on
    def failing(case, inputs, backward=0):
        if tri.SCAN:
            raise RuntimeError("out of resource: shared memory\nmore")
        return ours(case, inputs, backward)

    monkeypatch.setattr(sweep, "_ours", failing)
    failed, gather = sweep.sweep([case], [(0, {}), (0, {"SCAN": False})], DEVICE, budget=600,
                                 out=log)
    assert failed["error"] == "out of resource: shared memory" and not failed["exact"]
    assert "FAILED: out of resource" in log.getvalue() and gather["exact"]
    # a profile that fails, or records nothing, loses nothing of the row but its profile
    def no_profiler(*args, **kwargs):
        raise RuntimeError("CUPTI_ERROR_NOT_INITIALIZED\nmore")

    monkeypatch.setattr(sweep, "profile_step", no_profiler)
    (row,) = sweep.sweep([case], [(0, {"SCAN": False})], DEVICE, budget=600, out=log)
    assert row["exact"] and row["ms"] == 1.0
    assert row["kernels"] == "profile failed: CUPTI_ERROR_NOT_INITIALIZED"
    assert log.getvalue().endswith(" profile failed: CUPTI_ERROR_NOT_INITIALIZED\n")
    monkeypatch.setattr(sweep, "profile_step", lambda fn, device: {"operators": [],
                                                                   "kernels": []})
    (row,) = sweep.sweep([case], [(0, {"SCAN": False})], DEVICE, budget=600, out=log)
    assert row["kernels"] == "no kernels recorded" and row["ms"] == 1.0
    # profiles stop at their limit; the rows stay
    rows = [{"case": "c", "mode": "forward", "variant": {}, "kernels": None}] * 2
    sweep._profile([(row, {}, None) for row in rows], DEVICE, log, lambda: None, -1)
    assert log.getvalue().endswith("profiles stopped after -1 s\n")
    assert all(row["kernels"] is None for row in rows)
    assert sweep.sweep([case], jobs, DEVICE, budget=0, out=log) == []
    assert "budget of 0 s spent" in log.getvalue()
    with pytest.raises(ValueError, match="not a setting"):
        with sweep.settings(BLOCK=3):
            pass


def test_the_sweep_s_goals_are_the_ratios_of_the_module_settings_and_the_fastest_variant():
    from bench.ops import roi_triton_sweep as sweep

    def row(case, ms, tv, mode="forward", **variant):
        return {"case": case, "mode": mode, "dtype": variant.get("dtype", "float32"),
                "variant": variant, "exact": True, "ms": ms, "torchvision_ms": tv}

    pool, pyramid = sweep.SPP_AGAINST, sweep.CASES[-1].id
    assert sweep.BF16.id == pool
    rows = [row(pool, 6.0, 5.0, "forward_backward"),
            row(pool, 8.0, 5.0, "forward_backward", RUN_BLOCK=512),
            row(pool, 2.0, 4.0), row(pool, 1.0, 4.0, SCAN=False),
            row(pool, 0.5, 9.0, SCAN_COLUMNS=4) | {"exact": False},  # not exact: not a winner
            row(pool, 1.6, 4.0, dtype="bfloat16"),
            row(pyramid, 3.0, 12.0), row(pyramid, 10.0, 12.0, TILE=1024)]
    log = io.StringIO()
    elsewhere = "pool-small-r2000-o7"  # a job's own case: no goal of the sweep's
    sweep.goals(rows + [row(elsewhere, 1.0, 2.0)], sweep.CASES, out=log)
    text = log.getvalue()
    assert elsewhere not in text
    assert (f"{pool} forward / torchvision's, goal <= 1.0 (0.8): 0.50 (module settings), "
            "0.25 (fastest variant)") in text
    assert (f"{pool} forward+backward / torchvision's, goal <= 1.5: 1.20 (module settings), "
            "1.20 (fastest variant)") in text
    # the pyramid over ONE torchvision 7x7 call on the same map (4 ms), not over its own baseline
    assert (f"{pyramid} / one torchvision {pool}, goal <= 1.5: 0.75 (module settings), "
            "0.75 (fastest variant)") in text
    # bfloat16 over our float32 module settings (2 ms)
    assert (f"{pool} bfloat16 / our float32, goal <= 0.67 (1.5x faster): 0.80 (module settings), "
            "0.80 (fastest variant)") in text


def test_a_sweep_job_of_its_own_cases_runs_on_those_alone(monkeypatch):
    from bench.ops import roi_triton_sweep as sweep
    from bench.suites.roi_spp_pooling import Case, Inputs

    def small(case, device, dtype):  # 4 regions on 2 images of 12x12 pixels, whatever the case
        x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
        boxes = torch.tensor([[0, 0, 0, 11, 11], [1, 2, 3, 9, 7.5]] * 2)
        return Inputs(*on(x, boxes, torch.randn(4, 3, 7, 7)), 1.0)

    monkeypatch.setattr(sweep, "make_inputs", small)
    monkeypatch.setattr(sweep, "_timer", lambda device: lambda fn: 1.0)
    monkeypatch.setattr(sweep, "profile_step", lambda fn, device: {"operators": []})
    mine, own = Case("pool", "small", 16, 7), Case("pool", "small", 32, 7)
    rows = sweep.sweep([mine], [(0, {}), (1, SORT, (own,)), (1, {"GRADIENT_TILES": True}, (own,))],
                       DEVICE, budget=600, out=io.StringIO())
    assert [(row["case"], row["mode"], row["gradient"]) for row in rows] == [
        (mine.id, "forward", None), (own.id, "forward_backward", "sort"),
        (own.id, "forward_backward", "tiles")]
    # what the module's settings would choose there, whatever the variant forced: 0.68 terms a
    # pixel, under GRADIENT_TILES_FROM
    assert [row["module_gradient"] for row in rows] == [None, "sort", "sort"]
    assert all(row["exact"] for row in rows)
    assert rows[1]["terms_per_pixel"] == 4 * 49 / (2 * 12 * 12)


def test_the_sweep_sets_the_backward_s_two_kinds_side_by_side_by_density():
    from bench.ops import roi_triton_sweep as sweep

    def row(case, density, gradient, ms, exact=True, **variant):
        chosen = {"dense": "tiles", "sparse": "sort"}.get(case, "tiles")
        return {"case": case, "mode": "forward_backward", "dtype": "float32", "exact": exact,
                "variant": variant, "ms": ms, "terms_per_pixel": density, "gradient": gradient,
                "module_gradient": chosen}

    rows = [row("dense", 19.6, "sort", 3.0, GRADIENT_TILES=False),
            row("dense", 19.6, "tiles", 1.5),  # the module settings' choice there
            row("dense", 19.6, "tiles", 0.1, GRADIENT_TILES=True, GRADIENT_TILE=8),  # not its own
            row("sparse", 5.0, "tiles", 0.1, exact=False, GRADIENT_TILES=True),  # not exact
            row("sparse", 5.0, "tiles", 1.2, GRADIENT_TILES=True),
            row("sparse", 5.0, "sort", 1.0),
            row("alone", 9.8, "sort", 2.0)]  # one kind only: nothing to set beside it
    log = io.StringIO()
    sweep.densities(rows, out=log)
    assert log.getvalue().splitlines() == [
        f"the backward by density (chosen: the module's kind; GRADIENT_TILES_FROM = "
        f"{tri.GRADIENT_TILES_FROM} terms a pixel):",
        "  sparse                       5.0 terms a pixel: sort 1.000 ms, tiles 1.200 ms (1.20x); "
        "faster: sort, chosen: sort",
        "  dense                       19.6 terms a pixel: sort 3.000 ms, tiles 1.500 ms (0.50x); "
        "faster: tiles, chosen: tiles"]
    log = io.StringIO()
    sweep.densities(rows[-1:], out=log)
    assert log.getvalue() == ""


COMPILE = textwrap.dedent("""
    import sys
    import triton, triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from bench.ops import roi_triton as tri

    part, parts = map(int, sys.argv[1:])  # this process compiles every parts-th kernel
    count = -1

    def compile(fn, signature, constants, aligned=(), warps=4):
        global count
        count += 1
        if count % parts != part:
            return
        signature = {**signature, **{name: "constexpr" for name in constants}}
        signature = {name: signature[name] for name in fn.arg_names}  # in the kernel's order
        # what a launch tells the compiler of arguments divisible by 16
        attrs = {(fn.arg_names.index(name),): [["tt.divisibility", 16]] for name in aligned}
        triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constants, attrs=attrs),
                       target=GPUTarget("cuda", 90, 32),
                       options=dict(enable_fp_fusion=False, num_warps=warps))

    ints = lambda *names: {name: "i32" for name in names}
    floor = dict(FLOOR=-3.4028234663852886e38, ACC=tl.float32, EDGE=tl.float32, WIDE=tl.float32)
    compile(tri._channels_last_kernel, {"x_ptr": "*fp32", "out_ptr": "*fp32", **ints("C", "HW")},
            dict(BLOCK_P=64, BLOCK_C=64), aligned=("x_ptr", "out_ptr", "C", "HW"))
    compile(tri._check_kernel,
            {"box_ptr": "*fp16", "scale_bits": "i64", "stats_ptr": "*i32", "size_ptr": "*fp32",
             "LIMIT": "fp32", **ints("K", "N", "H", "W", "SPAN_LIMIT")},
            dict(EDGE=tl.float16, BLOCK=128, SIZES=True))
    pool = {"scale_bits": "i64", "order_ptr": "*i64",
            **ints("N", "C", "H", "W", "PH", "PW", "groups", "c_blocks", "row_len", "row_off",
                   "s_n", "s_c", "s_h", "s_w")}
    for dtype, edge, wide, index, scan, columns, unroll, stages, ordered in (
            ("fp32", tl.float32, tl.float32, "i32", True, 1, 1, 3, True),
            ("fp32", tl.float32, tl.float32, "i64", True, 4, 4, None, False),
            ("fp64", tl.float64, tl.float64, "i32", False, 16, 1, None, False),
            ("fp16", tl.float16, tl.float32, "i64", False, 16, 1, None, True)):
        compile(tri._roi_pool_kernel,
                {"x_ptr": f"*{dtype}", "box_ptr": f"*{dtype}", "out_ptr": f"*{dtype}",
                 "arg_ptr": f"*{index}", **pool},
                dict(floor, ACC=tl.float64 if dtype == "fp64" else tl.float32, EDGE=edge,
                     WIDE=wide, BLOCK_B=2, BLOCK_Q=columns, BLOCK_C=64, SCAN=scan,
                     UNROLL=unroll, STAGES=stages, ORDERED=ordered))
    # the GPU's own launch of 256 float32 channels, channels-last, with the module's settings: a
    # channel stride of 1 is a constant there, and the pointers, C and the other strides are
    # multiples of 16
    del pool["s_c"]
    compile(tri._roi_pool_kernel,
            {"x_ptr": "*fp32", "box_ptr": "*fp32", "out_ptr": "*fp32", "arg_ptr": "*i32", **pool},
            dict(floor, s_c=1, BLOCK_B=32, BLOCK_Q=1, BLOCK_C=64, SCAN=True, UNROLL=tri.UNROLL,
                 STAGES=tri.STAGES, ORDERED=tri.LONGEST_FIRST),
            aligned=("x_ptr", "box_ptr", "out_ptr", "arg_ptr", "C", "s_n", "s_h", "s_w"),
            warps=tri.WARPS)
    # one launch (FIRST 0), or a level derived in a launch of its own (1: the tiles of
    # PYRAMID_APART's level 3 from 6, 256 channels); derived on tiles by channel
    for scan, columns, first, ordered, d, f, c, by_channel in (
            (True, 1, 0, False, 1, 32, 64, False), (True, 1, 1, True, 16, 4, 32, False),
            (False, 16, 0, False, 1, 32, 64, False), (True, 1, 1, False, 16, 4, 32, True),
            (True, 1, 0, False, 1, 64, 256, True)):
        compile(tri._roi_spp_kernel,
                {"x_ptr": "*bf16", "box_ptr": "*bf16", "scale_bits": "i64", "order_ptr": "*i64",
                 "plan_ptr": "*i32", "out_ptr": "*bf16", "arg_ptr": "*i32",
                 **ints("n_levels", "row_len", "N", "C", "H", "W", "c_blocks", "s_n", "s_c",
                        "s_h", "s_w", "fine", "fine_out")},
                dict(floor, BLOCK_B=2, BLOCK_Q=columns, BLOCK_D=d, BLOCK_F=f, BLOCK_C=c,
                     BLOCK_L=8, DERIVED=True, SCAN=scan, UNROLL=1, STAGES=None, FIRST=first,
                     ORDERED=ordered, BY_CHANNEL=by_channel))
    # the GPU's float32 launch; bfloat16's rounding and int64 keys on a short chunk (the
    # unrolled chunk is most of the compilation time)
    for key, grad, block, chunk in (("i32", "fp32", tri.RUN_BLOCK, tri.RUN_CHUNK),
                                    ("i64", "bf16", 128, 2)):
        compile(tri._run_sum_kernel,
                {"key_ptr": f"*{key}", "grad_ptr": f"*{grad}", "out_ptr": f"*{grad}", "n": "i32"},
                dict(BLOCK=block, CHUNK=chunk), warps=tri._warps(block))
    # the backward without a sort, as the GPU launches it (float32)
    edges = {"box_ptr": "*fp32", "scale_bits": "i64", "plan_ptr": "*i32", **ints("H", "W")}
    tiles = dict(EDGE=tl.float32, WIDE=tl.float32, BLOCK_L=8, BLOCK_H=tri.GRADIENT_TILE,
                 BLOCK_W=tri.GRADIENT_TILE)
    compile(tri._pair_count_kernel, {**edges, "count_ptr": "*i64"}, tiles, warps=1)
    compile(tri._pairs_kernel,
            {**edges, "first_ptr": "*i64", "tile_ptr": "*i64", "bin_ptr": "*i64",
             "stride_ptr": "*i32", **ints("C", "row_len", "tiles_h", "tiles_w")}, tiles, warps=1)
    compile(tri._tile_gradient_kernel,
            {"arg_ptr": "*i32", "grad_ptr": "*fp32", "start_ptr": "*i64", "bin_ptr": "*i64",
             "stride_ptr": "*i32", "out_ptr": "*fp32", **ints("C", "H", "W", "tiles_w", "tiles")},
            dict(BLOCK_H=tri.GRADIENT_TILE, BLOCK_W=tri.GRADIENT_TILE,
                 BLOCK_C=tri.GRADIENT_BLOCK_C, STAGES=tri.GRADIENT_STAGES),
            warps=tri._warps(tri.GRADIENT_TILE, tri.GRADIENT_TILE, tri.GRADIENT_BLOCK_C))
""")


@pytest.mark.slow
@pytest.mark.skipif(DEVICE == "cuda", reason="on CUDA every test compiles the kernels")
def test_kernels_compile_for_a_gpu_without_one():
    """The interpreter accepts code that the compiler rejects: compile for sm_90 down to a cubin
    (ptxas comes with triton), in a process where the interpreter is off. Triton's own cache
    keys on the source, so a cached result is a compilation of this very code."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = 2  # compilations in two processes: a fresh clone has no Triton cache

    def compile_part(part):
        return subprocess.run([sys.executable, "-c", COMPILE, str(part), str(parts)], env=env,
                              cwd=root, capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(parts) as pool:
        for result in pool.map(compile_part, range(parts)):
            assert result.returncode == 0, result.stderr[-3000:]


def test_host_sizes_are_triton_s():
    """The plain-Python stand-ins for triton.next_power_of_2 and triton.cdiv."""
    assert [tri._pow2(n) for n in range(-2, 4100)] == \
        [triton.next_power_of_2(max(1, n)) for n in range(-2, 4100)]
    assert [tri._cdiv(a, b) for a in range(300) for b in range(1, 70)] == \
        [triton.cdiv(a, b) for a in range(300) for b in range(1, 70)]


def hard_input(device=DEVICE, dtype=torch.float32):
    """[2, 64, 60, 60]: 64 channels, the GPU's own tile (32 bins x 64 channels, one column a
    step, for a 7x7 grid). Image 0 is negative but for a block of tied zeros of both signs at
    rows and columns 5-8 and NaN at 20-29, both read by HARD_BOXES' first box, where they
    decide its first bins' maxima; image 1 is ordinary."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 64, 60, 60, generator=g)
    x[0] = -1 - torch.rand(64, 60, 60, generator=g)
    x[0, :, 5:9, 5:9] = torch.where(torch.rand(64, 4, 4, generator=g) > 0.5, 0.0, -0.0)
    x[0, 3:40, 20:30, 20:30] = math.nan
    return x.to(device, dtype)


def test_the_hard_input_s_zeros_and_nan_decide_maxima():
    x = hard_input("cpu")
    out = tv(x, torch.tensor(HARD_BOXES[:1], dtype=torch.float32), 7)[0]  # bins of 8-9 pixels
    assert (out[:, 0, 0] == 0).all() and out[:, 0, 0].signbit().any()
    assert not out[:, 0, 0].signbit().all()
    assert (out[3:40, 2:4, 2:4] < 0).all()  # NaN lost to the negative values around it


@pytest.mark.parametrize("by_channel", [False, True])
@pytest.mark.parametrize("apart", [False, True])
def test_a_tie_across_steps_of_fine_bins_goes_to_the_first_pixel_in_row_major_order(by_channel,
                                                                                   apart):
    """Level 1 derived from level 2 a fine bin a step: fine bin 0's winner is +0.0 at row 1,
    fine bin 1's -0.0 at row 0 (a smaller flat index, found a step later), the rest negative;
    torchvision's scan of the whole region meets the -0.0 first."""
    x = torch.full((1, 1, 4, 4), -1.0)
    x[0, 0, 1, 1], x[0, 0, 0, 2] = 0.0, -0.0
    boxes = torch.tensor([[0, 0, 0, 3, 3.0]])
    with settings(TILE=1, PYRAMID_BLOCK_C=1, DERIVE_BY_CHANNEL=by_channel, PYRAMID_APART=apart):
        out = tri.roi_spp(*on(x, boxes), (2, 1)).cpu()
    assert same_bits(out, tv_pyramid(x, boxes, (2, 1)))
    assert out[0, -1] == 0 and out[0, -1].signbit()


@pytest.mark.parametrize("apart", [False, True])
@pytest.mark.parametrize("tiles", [{}, {"TILE": 64, "PYRAMID_BLOCK_C": 4}])
def test_derived_levels_on_tiles_by_channel_are_the_same_bits(tiles, apart, launches):
    """NaN and tied zeros of both signs decide the first bins' maxima (`hard_input`); with
    small tiles (on 8 of its channels and 24x24 of its pixels: the interpreter's time),
    several loops over coarse and fine bins, and two channel blocks."""
    x = hard_input()[:, :8, :24, :24] if tiles else hard_input()
    boxes = torch.tensor(HARD_BOXES + [[0, 3.3, 4.5, 40.2, 57.7]], device=DEVICE)
    with settings(DERIVE_BY_CHANNEL=True, PYRAMID_APART=apart, **tiles):
        out = tri.roi_spp(x, boxes, (6, 3, 2, 1))
    assert same_bits(out, tv_pyramid(x.cpu(), boxes.cpu(), (6, 3, 2, 1)))
    derived = launches["_roi_spp_kernel"].constants
    assert derived and all(launch["BY_CHANNEL"] for launch in derived)
    if tiles:
        assert max(launch["BLOCK_C"] for launch in derived) == 4


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_cuda_equals_torchvision_cuda_kernel(dtype):
    x = hard_input("cuda", dtype)
    boxes = torch.tensor(HARD_BOXES + [[0, 3.3, 4.5, 40.2, 57.7]] * 3, device="cuda").to(dtype)
    for size, scale in ((7, 1.0), ((3, 5), 0.5), (14, 1 / 16)):
        ours = tri.roi_pool(x, boxes, size, scale)
        assert same_bits(ours, torchvision.ops.roi_pool(x, boxes, size, scale))
        if dtype != torch.float16:
            assert same_bits(ours, tv(x, boxes, size, scale))
    levels = (6, 3, 2, 1)
    assert same_bits(tri.roi_spp(x, boxes, levels),
                     torch.cat([torchvision.ops.roi_pool(x, boxes, lv, 1.0).flatten(1)
                                for lv in levels], dim=1))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("variant", [{"SCAN": False}, {"CHANNELS_LAST": False},
                                     {"SCAN_COLUMNS": 4}, {"UNROLL": 1}, {"STAGES": 3},
                                     {"LONGEST_FIRST": True}, {"COPY_KERNEL": False},
                                     {"PYRAMID_APART": True}, {"PYRAMID_BLOCK_C": 64},
                                     {"PYRAMID_BLOCK_C": 128}, {"DERIVE_BY_CHANNEL": True},
                                     {"DERIVE_BY_CHANNEL": True, "PYRAMID_APART": True},
                                     {"WAIT_FOR_CHECK": False}])
def test_cuda_settings_the_sweep_tries_equal_torchvision_cuda_kernel(variant):
    """The property tests run the module's settings only on a GPU; here the others, on NaN and
    tied zeros of both signs (the sweep's inputs have neither)."""
    x = hard_input("cuda")
    boxes = torch.tensor(HARD_BOXES + [[0, 3.3, 4.5, 40.2, 57.7]] * 3, device="cuda")
    levels = (6, 3, 2, 1)
    with settings(**variant):
        for size in (7, 1):
            assert same_bits(tri.roi_pool(x, boxes, size),
                             torchvision.ops.roi_pool(x, boxes, size, 1.0))
        assert same_bits(tri.roi_spp(x, boxes, levels),
                         torch.cat([torchvision.ops.roi_pool(x, boxes, lv, 1.0).flatten(1)
                                    for lv in levels], dim=1))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("call, message", [case for case in BAD_INPUTS if case[1] in BOX_VALUES])
def test_cuda_box_values_are_refused_through_the_pinned_copy_after_the_launch(call, message,
                                                                               monkeypatch):
    """With WAIT_FOR_CHECK off on CUDA the check's results come through pinned memory behind an
    event (`_fetch`); what the boxes decide is refused all the same, and the next call, on good
    boxes, is torchvision's (nothing the refused launch left behind)."""
    monkeypatch.setattr(tri, "WAIT_FOR_CHECK", False)
    refused(call, message, monkeypatch)
    x = hard_input("cuda")
    boxes = torch.tensor(HARD_BOXES, device="cuda")
    assert same_bits(tri.roi_pool(x, boxes, 7), torchvision.ops.roi_pool(x, boxes, 7, 1.0))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_the_wait_for_the_check_after_the_launch_is_for_the_check_alone(monkeypatch):
    """With WAIT_FOR_CHECK off the host waits for the check, not for what was queued after it
    (a copy to ordinary memory would wait for the whole stream: this sleep too)."""
    monkeypatch.setattr(tri, "WAIT_FOR_CHECK", False)
    x = hard_input("cuda")
    *_, wait, _ = tri._check(x, torch.tensor([[0, math.nan, 0, 1, 1]], device="cuda"), 1.0)
    torch.cuda._sleep(10**9)  # cycles: about half a second
    results = wait()
    assert not torch.cuda.current_stream().query()  # the sleep runs on
    assert results[0] == 1  # the non-finite box was seen
    torch.cuda.synchronize()


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
@pytest.mark.parametrize("wait", [True, False])
def test_a_tensor_on_another_gpu_than_the_current_one_is_pooled_there(wait, monkeypatch):
    """Triton launches on the current device; the functions make the input's current (and the
    pinned copy's event is recorded on its stream)."""
    monkeypatch.setattr(tri, "WAIT_FOR_CHECK", wait)
    device = f"cuda:{torch.cuda.device_count() - 1}"
    x = hard_input(device).requires_grad_()
    boxes = torch.tensor(HARD_BOXES, device=device)
    grad = torch.randn(len(HARD_BOXES), x.shape[1], 7, 7, device=device)
    with torch.cuda.device(0):
        ours = tri.roi_pool(x, boxes, 7)
        (ours_grad,) = torch.autograd.grad(ours, x, grad)
        pyramid = tri.roi_spp(x.detach(), boxes, (2, 1))
    assert same_bits(ours, torchvision.ops.roi_pool(x.detach(), boxes, 7, 1.0))
    xc = x.detach().cpu().requires_grad_()
    assert same_bits(ours_grad.cpu(), torch.autograd.grad(tv(xc, boxes.cpu(), 7), xc,
                                                          grad.cpu())[0])
    assert same_bits(pyramid, torch.cat([torchvision.ops.roi_pool(x.detach(), boxes, lv, 1.0)
                                         .flatten(1) for lv in (2, 1)], dim=1))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_cuda_bin_arithmetic_is_torchvision_cuda_on_many_random_boxes(dtype):
    """The kernels compute bin edges on the GPU: its rounding of products, divisions and C's
    round against torchvision's CUDA kernel, on 4000 random boxes with fractional corners,
    partly outside the map, at scales that are not powers of two, for grids from 1 to 14."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 47, 61, generator=g).to("cuda", dtype)
    corners = torch.rand(4000, 4, generator=g) * torch.tensor([90.0, 70, 90, 70]) - 15
    batch = torch.randint(0, 2, (4000, 1), generator=g).float()
    boxes = torch.cat([batch, corners], 1).to("cuda", dtype)
    for size, scale in ((7, 1.0), (14, 0.37), ((5, 3), 1.7), (1, 1 / 16), (6, 0.8), (11, 1.3)):
        assert same_bits(tri.roi_pool(x, boxes, size, scale),
                         torchvision.ops.roi_pool(x, boxes, size, scale)), (size, scale)
    for levels, scale in (((6, 3, 2, 1), 0.37), ((4, 2, 1), 1.0), ((8, 4, 3), 0.8)):
        assert same_bits(tri.roi_spp(x, boxes, levels, scale),
                         torch.cat([torchvision.ops.roi_pool(x, boxes, lv, scale).flatten(1)
                                    for lv in levels], dim=1)), (levels, scale)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("gradient", [SORT, {"GRADIENT_TILES": True},
                                      {"GRADIENT_TILES": True, "GRADIENT_TILE": 8}])
def test_cuda_backward_is_deterministic_and_allowed_in_deterministic_mode(gradient):
    x = torch.randn(2, 64, 50, 50, device="cuda", requires_grad=True)
    boxes = torch.tensor([[0, 0, 0, 49, 49], [1, 5, 5, 30, 40.]] * 200, device="cuda")
    grad = torch.randn(400, 64, 7, 7, device="cuda")
    with settings(**gradient):
        runs = [torch.autograd.grad(tri.roi_pool(x, boxes, 7), x, grad)[0] for _ in range(3)]
    assert all(same_bits(r, runs[0]) for r in runs[1:])
    xc = x.detach().cpu().requires_grad_()
    (theirs,) = torch.autograd.grad(tv(xc, boxes.cpu(), 7), xc, grad.cpu())
    assert same_bits(runs[0], theirs)
    torch.use_deterministic_algorithms(True)
    try:
        torch.autograd.grad(tri.roi_pool(x, boxes, 7), x, grad)
    finally:
        torch.use_deterministic_algorithms(False)
