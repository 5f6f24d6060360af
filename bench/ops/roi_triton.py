"""RoI pooling and RoI spatial pyramid pooling as Triton kernels, bit for bit `bench.ops.roi`.

`roi_pool` and `roi_spp` take the arguments, box formats and checks of `bench.ops.roi_pool` /
`bench.ops.roi_spp` (the checks are the helpers of `bench.ops.roi`, all called before anything is
launched) and return the same bits: torchvision's in float32 and float64, our CPU operator's in
float16 and bfloat16.

Bin edges are computed in the kernels, with torchvision's arithmetic in its dtype (the input's;
float32 for bfloat16, as `bench.ops.roi.bin_edges` does): the scaled corners rounded half away from
zero, the bin size divided with correct rounding (`div_rn`; Triton's `/` on float32 is not IEEE on
a GPU, on float64 it is), each product rounded on its own (the kernels are compiled without fused
multiply-adds). The host does no arithmetic on the boxes: one small kernel checks them (non-finite,
batch index, coordinate limit, float16 spans whose bin size would be infinite; the messages and
order of `bench.ops.roi`) and finds the largest region, which sizes the tiles, and one transfer
brings that back. A call is then three launches and one synchronisation (with WAIT_FOR_CHECK off,
not yet timed, after the pooling's launch rather than before it); computing the edges with
torch ops, as the first version did, took about 100 small launches and 5 synchronisations, a cost
per call that did not depend on the work (on an H200: 1.27 ms at 16 regions, 1.67 ms at 512;
torchvision 0.06 and 0.15 ms).

Layout. The input is read channels-last (a copy unless it already is, `CHANNELS_LAST`; torch's,
or with `COPY_KERNEL`, the default, our own), so that
a block of channels of one pixel is one contiguous run: with 32 float32 channels a warp's load is
whole 128-byte lines, and the compiler makes 16-byte loads of them. A program takes one region,
a group of its bins and a block of channels. Grid: (regions x bin groups, channel blocks) for
roi_pool, (regions, channel blocks) for roi_spp; with `LONGEST_FIRST` (mixed where timed), one
axis on which the largest regions' programs come first.

Maxima, by a scan (`SCAN`, the default; `_scan_bins`). A lane per (bin, channel) visits its
bin's pixels row after row, as torchvision's loop does, and keeps the first maximum: a value
replaces the best only by a strict `>`, which NaN never passes, starting from the floor
(-FLT_MAX in the dtype: -inf for the half types, as in the CPU operator). A tile is [bins,
columns, channels] of TILE elements: for a 7x7 grid of 256 channels, 32 bins of 64 channels and
one column a step, the 49 bins in two groups (15 of the second group's 32 bin lanes idle). A
step takes SCAN_COLUMNS columns of a row, or more where few bins leave room in the tile (a 1x1
grid takes up to 32 at a time instead of walking a large region pixel by pixel; the
interpreter's large tiles take whole rows of small inputs). One loop runs over the steps of the
tile's largest bin; lanes of smaller bins are masked. With one column a step the value kept is
the winner's own, -0.0 included. With several, they are reduced with NaN made -inf and the first
position of the maximum, and the winner is re-read at the end, since a max reduction may return
+0.0 where -0.0 came first (numpy's does not, so only a GPU run tests that re-read). The gather
(`SCAN = False`; `_pool_bins`) instead loads tiles of [bins, pixels, channels], the pixels of a
bin enumerated row-major, and reduces them the same way. The argmax (flat NCHW index into the
input, int32 where the input's indices fit; -1 for an empty bin or one with nothing above the
floor) is kept for the backward, as torchvision does.

Pyramid: one launch for all levels. A program pools the finest level first, then takes the other
levels in order, deciding each once. Where a level divides the finest one and a region's bin edges
at that level are unions of blocks of its finest bins (the program compares the edges, per region:
float rounding need not keep them so), the level is derived from the finest level's results, which
the same program wrote before (a barrier orders the two): the maximum over the block's fine
winners, with the smallest flat index among the winners equal to it. That is the first maximum of
the coarse bin in row-major order even though adjacent fine bins overlap by a row or a column (the
first maximum of a union is the first maximum of the fine bin holding it), so -0.0 needs no special
case. Other levels are pooled from the input by the same program. With `PYRAMID_APART` (slower
than one launch of 256 channels a program, where timed) each level has a launch of its own, the
finest first: levels pooled from the input by roi_pool's kernel, its programs spread over groups
of bins, into the pyramid's output; derived levels by the pyramid kernel with tiles sized for
that level, reading the finest level's results after the launch before wrote them.

Backward, deterministic. torchvision's CPU backward adds each output's gradient into its argmax
in (region, channel, row, column) order, from zero. Here the argmax indices are sorted stably,
so that each input element's terms form a run in that order. A lane owns `RUN_CHUNK`
consecutive terms and adds up each run that starts among them, one term after the other,
rounding to the dtype after every addition (bfloat16 by an explicit round-to-nearest-even on the
bits, which the interpreter would otherwise truncate), following its last run past the chunk.
Its loads are of fixed positions, so they need not wait for the additions; but compiled for
sm_90, a step's loads come after the stores of the step before (the compiler cannot tell that
`out` does not alias the keys), so only the steps past the chunk have all their loads in
flight at once. The runs are found in the kernel (a run starts where the sorted key differs
from the one before), so the backward never waits for the device. No atomics: repeated runs
give the same bits, and float32/float64 gradients are torchvision's CPU gradient bit for bit.
For roi_spp the levels' terms go level after level, the order in which `bench.ops.roi_spp` sums
them.

Backward without a sort (`GRADIENT_TILES`: where the gradient terms are dense). On an H200
the sort above took 2.1 of forward and backward's 3.4 ms at 2000 regions, where torchvision's whole
backward took 0.35. Here a program owns a tile of the input's gradient (GRADIENT_TILE x
GRADIENT_TILE pixels of one image, GRADIENT_BLOCK_C channels) and holds it in registers. It
walks a list of the outputs' bins that overlap its tile, in torchvision's order (level, region,
bin row, bin column), and adds each listed output's gradient to the tile's element that is its
argmax (an argmax lies in its bin), comparing offsets within a channel's map in int32: one flat
loop whose loads depend on the entry only, not on the additions, so they can be pipelined
(`GRADIENT_STAGES`; at 2, the compiled loop still waits for its loads at every entry). Exact and
deterministic for the same reasons as the sort: each element's terms are added by one lane, in
order, from zero. The lists are built per call by two small kernels, a program per (region,
level), that compute the bin edges with the forward's arithmetic: the first counts the (bin,
tile) pairs, the second writes them where the counts' running sum places them, in the outputs'
order. One stable sort by tile groups them, each tile's in that order, and a search finds where
each tile's pairs start. Besides the two kernels, a call makes 13 tensor operations, for
roi_pool and the pyramid {6,3,2,1} alike: 7 launch kernels on a GPU (the sort several), and one
copies the number of pairs to the host, the one synchronisation, since it sizes the lists
(counted on the CPU, after a first call that also copied the levels' plan to the device; pairing
the bins with torch ops, as the first version did, took 81 and 170 operations). Counted on the
CPU with the RoI suite's boxes at 8x8 tiles (not a timing): 113,360 pairs for 2000 regions on
2x512x38x50 (50,176,000 terms; a tile's list 1,749 bins at the median, 2,336 at most), 125,741
for 1000 on the FPN map (72 at the median), 233,585 for its pyramid. Each program compares every
listed output with its whole tile (BLOCK_H x BLOCK_W x BLOCK_C): smaller tiles do less of that
work and make more pairs (at 4x4: 142,893 pairs on 2x512x38x50, lists of 582 at the median). An
earlier version walked every region at each tile and computed its edges there (1,120 programs x
2,000 regions on 2x512x38x50); it was never timed.

Devices. The kernels run on CUDA tensors. The tests run them on CPU tensors through Triton's
interpreter (TRITON_INTERPRET=1 set before triton is imported), which pays per program and per
operation rather than per element, so under it a tile holds all of a region's bins instead. A
CPU tensor without the interpreter is refused with a ValueError pointing to `bench.ops.roi_pool`.

Verified (tests/test_roi_triton.py) through the interpreter on a machine without a GPU: bit
equality with torchvision in float32 and float64 on random problems with NaN, ±inf and ±0 ties,
boxes outside, partly outside, reversed, degenerate and huge, fractional batch indices, with the
scan at one, two or all columns a step, the gather, NCHW reads, and tiny tiles; the pyramid
against torchvision at each level; gradients, by the sort and by tiles, equal to torchvision's CPU
gradient, in an order that shows in the bits; float16 and bfloat16 forward and backward against
`bench.ops.roi_pool` / `roi_spp`; zero regions, empty maps, bad inputs refused before a launch;
the kernels compile for sm_90 down to a cubin (Triton 3.8 here).

Measured on one H200 (Triton 3.6, torch 2.11, torchvision 0.26) in four calls of the GPU
machine, by `make gpu-sweep` (logs: reports/examples/nvidia-h200/roi-sweeps), each variant
bit-equal to torchvision's CUDA kernel (forward) or CPU gradient before it was timed. Today's
defaults, timed as variants in the fourth sweep (8e0ea21); device-time medians over
torchvision's, fp32. Forward: 1.62x at 512 regions on 256x50x50 (0.161 against 0.100 ms; the
pooling kernel alone 0.050 ms by torch.profiler, the rest the box check's wait and the host's
launches, of which the synchronisation took 0.075 ms in an earlier profile, roi-stages.log as
of 1e4a863; this case varies most between calls, 2.38x in the third sweep), 0.75x at 2000 on
512x38x50, 0.77x at 1000 on the FPN map; the pyramid 1.38 ms, 1.93x one torchvision 7x7 call,
0.16x torchvision per level. Forward and backward: 5.2x at 512 regions (the sort), 1.92x at 2000
(tiles; the sort 3.36x), 1.40x on the FPN map (the sort). bfloat16 forward on the FPN map 1.10x
our float32: its pooling kernel alone took longer than float32's (0.429 and 0.419 ms against
0.380 and 0.390, by torch.profiler), and 128 channels a program (the same bytes a pixel) left it
as it was (0.430 and 0.436), which points to a scan bound by its loads' latency rather than
their bytes. What earlier calls measured of the alternatives is in the settings' comments below.
The tests compiled there: in the last call, all 18 CUDA-only tests
(among them the settings test on NaN and tied zeros with COPY_KERNEL off, PYRAMID_BLOCK_C 64 and
256, LONGEST_FIRST and PYRAMID_APART), then 35 of the other 77 before the call's time limit,
none failing. No call has run them all: the earlier calls' limits cut others, none failing.

Compiled here for sm_90 (Triton 3.8) as a launch on 256 float32 channels sees it (channels-last,
whose channel stride of 1 Triton makes a constant; pointers and the other strides multiples of
16), a step of the scan is 112 PTX instructions for the 16 values of a thread, 4 bins x 4
channels with one 16-byte load per bin (one column a step, 4 warps, no unrolling).
`make gpu-check` tests the kernels on a GPU, and `make gpu-sweep` times the settings (scan or
gather, columns a step, unrolling, software pipelining, channels-last or NCHW and the copy,
tiles, warps, the programs' order, the pyramid in one launch or a launch a level and its derived
levels' tiles, the backward by sort or by tiles and their blocks and chunks) side by side with
torchvision.
"""

import contextlib
import functools
import itertools
import math
import struct
from collections.abc import Sequence

import torch
import triton
import triton.language as tl

from bench.ops.roi import (
    COORD_LIMIT,
    FLT_MAX,
    HALF_SPAN_LIMIT,
    HALF_TOO_WIDE,
    INT32_INDEX_LIMIT,
    NON_FINITE,
    OUTSIDE,
    TOO_LARGE,
    _boxes,
    _check_levels,
    _check_scale,
    _pair,
)

try:  # the class that triton.jit returns when TRITON_INTERPRET=1 was set before its import
    from triton.runtime.interpreter import InterpretedFunction
except ImportError:  # pragma: no cover - a Triton without an interpreter
    InterpretedFunction = ()

# How a program pools its bins. SCAN: a lane per (bin, channel) visits the bin's pixels one
# after the other (`_scan_bins`, torchvision's loop). Otherwise tiles [bins, pixels, channels]
# are gathered and reduced (`_pool_bins`); on an H200 that kernel alone took 3.7x the time of
# torchvision's whole call at 512 regions on 256x50x50, one bin of 64 channels per program.
# Both are exact; `make gpu-sweep` times them side by side.
SCAN = True
# Read the input channels-last (a copy unless it already is): a pixel's channels are then one
# contiguous run, which a block of channels loads in whole lines.
CHANNELS_LAST = True
# Make that copy of an NCHW input with `_channels_last_kernel` (tiles of 64 pixels x 64
# channels) instead of torch's: on an H200 (third and fourth sweeps, torch.profiler) torch's copy
# of the FPN map (2x256x200x272 float32) took 0.19 ms, 1.2 TB/s of reads and writes, ours 0.056
# ms, 4.0 TB/s, and on the smaller maps 0.004-0.006 ms against 0.010-0.015. The whole forward
# moved less, and not always the same way: at 1000 regions on the FPN map 0.549 and
# 0.590 ms against 0.630 and 0.615 with torch's copy, at 2000 on 512x38x50 0.494 and 0.433
# against 0.456 and 0.456, at 512 on 256x50x50 0.161 and 0.307 against 0.208 and 0.238.
COPY_KERNEL = True
# Elements in one tile: [bins, columns, channels] (SCAN) or [bins, pixels, channels]. On a GPU, 2048
# float32 values over 8 warps are 8 registers a thread per tile. The kernels' logic is the same
# for any sizes (the tests run small ones too); the interpreter's values are set below.
TILE = 2048
# Size a tile's pixel axis for the largest bin first, then fill it with bins (GPU): a bin's pixels
# are then gathered in one step where they fit. Otherwise the bins first (interpreter).
PIXELS_FIRST = True
# Warps per program, at most (fewer for small tiles: 256 elements a warp at least). With UNROLL
# 4, the fastest settings tried on an H200 on three of the four RoI goal cases in the second
# sweep (reports/examples/nvidia-h200/roi-sweeps); on 512x38x50 UNROLL 1 with 4 warps was
# faster (0.402 against 0.410 ms), and 1.21-1.45x slower on the others.
WARPS = 8
# Each level of the pyramid in a launch of its own (`_pyramid_apart`), the finest first by
# `_roi_pool_kernel`, a program per (region, group of bins, block of channels) as for roi_pool;
# a derived level with all of a channel block's coarse bins and their fine bins in one step. In
# one launch, a program takes all of a region's finest bins for its channels: the 36 of a
# {6,3,2,1} pyramid of 256 channels in five tiles of 8 bins one after the other on a GPU (the
# last with 4 bins busy), then the coarser levels one coarse bin at a time. On an H200 (third and
# fourth sweeps) apart took 1.90 and 1.86 ms against one launch's 2.39 at 64 channels a program,
# but one launch at 256 channels (PYRAMID_BLOCK_C) took 1.38 ms.
PYRAMID_APART = False
# Derived levels on tiles [channels, coarse bins, fine bins] (`_derive_level`), a channel's
# fine bins along the lanes (runs of `step` elements, a finest row apart), instead of [coarse
# bins, fine bins, channels]. On an H200 (fourth sweep, torch.profiler) PYRAMID_APART's three
# derived launches took 1.26 ms, three times its launch of the finest level from the input
# (0.41 ms), though they read 74 MB of fine results per level at most; with channels along the
# lanes, a warp's loads are 36 elements (144 bytes) apart, a 32-byte sector each. In one launch
# (the default) the derived levels' share was not measured. Not timed: not the default until a
# GPU has (`make gpu-sweep`).
DERIVE_BY_CHANNEL = False
# Start the programs of the largest regions first: the box check also measures each region (its
# scaled area within the map), a sort orders them once the check has passed (on the device it runs
# while the host launches the pooling), and the pooling grid becomes one axis in that order, a
# region's programs next to each other. The RoI suite's boxes are as proposals are, sides
# log-uniform, so that a few large regions hold much of the work: on the FPN map with 1000 regions,
# the scans of a 7x7 grid's programs (tiles of 32 bins) take 483 steps at most and 50 on average
# (counted on the CPU). Started in the regions' order, a large region's programs may start last and
# finish long after the others; largest first is the classic remedy for such a tail. The sort's
# launches and device time are a cost per call, which small problems may not repay. Timed on an
# H200 (third and fourth sweeps), mixed: roi_pool slower at 2000 regions on 512x38x50 (0.482
# and 0.619 ms against 0.456 and 0.494) and on the FPN map (0.681 and 0.686 against 0.615 and
# 0.549) in both; at 512 regions faster in one, slower in the other; the pyramid faster at 128
# channels a program (1.67 against 2.48 ms), slower at 64 (3.16 against 2.39), not timed at 256.
LONGEST_FIRST = False
# Wait for the boxes' check before launching the pooling: a bad box is then refused before anything
# else is launched, and tiles are sized for the largest region. Otherwise the pooling is launched
# right behind the check, its tiles sized for bins as large as the map, and the host waits for the
# check after that launch, the wait then overlapping the pooling instead of standing between the two
# (on an H200 the wait took 0.075 ms of the 0.161 at 512 regions on 256x50x50, torchvision's whole
# call 0.100). The check's result is copied into pinned memory behind an event (`_fetch`), so that
# the host waits for the check alone: a copy to ordinary memory waits for the whole stream, the
# pooling too, and a backward's launches would no longer overlap it. A bad box is refused all the
# same, with the same ValueError, the outputs dropped: the kernels clip every bin to the map and
# read a batch index outside the images as its nearest image, so that no launch reads outside the
# input. On a GPU, tiles of 64 channels or more take one column a step of a 7x7 or 6x6 grid whatever
# the regions' size: the same tiles. Not timed: not the default until a GPU has (`make gpu-sweep`).
WAIT_FOR_CHECK = True
# The backward's lanes per program, and the sorted gradient terms each lane owns. On an H200 (the
# first two sweeps), at 2000 regions on 2x512x38x50, a lane per term took 8.6 ms of forward and
# backward, chunks 3.4 ms; of that, by torch.profiler, sorting took 2.1, the run sums 0.49 and
# gathering the gradient in key order 0.32 (reports/examples/nvidia-h200/roi-stages.log).
RUN_BLOCK = 128
RUN_CHUNK = 16
# The backward without a sort (`_tile_gradient_kernel`): a program per tile of GRADIENT_TILE x
# GRADIENT_TILE pixels and GRADIENT_BLOCK_C channels. True or False: always or never; None: where
# an input pixel has GRADIENT_TILES_FROM gradient terms or more on average (regions x bins over
# images x pixels). Sorting costs per term, a tile's walk per bin over it. In two sweeps on an
# H200 (reports/examples/nvidia-h200/roi-sweeps, the third and fourth) the tiles of 4x4 took
# 1.77 and 2.04 ms of forward+backward against the sort's 3.42 and 3.57 at 2000 regions on
# 2x512x38x50 (26 terms a pixel), 1.91 and 1.94 against 1.56 and 1.48 on the FPN map with 1000
# (0.45), 1.50 and 1.05 against 1.09 and 1.08 at 512 on 2x256x50x50 (5). The threshold, 12,
# about the geometric middle of 5 and 26, is a guess: no case between was timed (the sweep's
# DENSITY cases are four between). Tiles of 8x8 took 2.95 and 2.80 ms at 2000 regions.
GRADIENT_TILES = None
GRADIENT_TILES_FROM = 12
GRADIENT_TILE = 4
GRADIENT_BLOCK_C = 32
# Stages of its loop over the bins that overlap a tile software-pipelined; None: not pipelined.
# Compiled for sm_90 (Triton 3.8), 3 keeps an entry's loads in flight while another is added; 2
# waits for them at every entry.
GRADIENT_STAGES = None
# 64 float32 channels are 256 contiguous bytes per pixel.
MAX_BLOCK_C = 64
# The channels a program of the pyramid kernel takes, at most. In the fourth sweep on an H200
# (reports/examples/nvidia-h200/roi-sweeps) the pyramid {6,3,2,1} of 1000 regions on the FPN map
# (256 channels) took 1.38 ms with 256, 2.48 with 128 and 2.36 with 64. A tile then holds 8 of
# the finest level's 36 bins, not 16 or 32; TILE 1024 at 128 channels, 8 bins too, took 1.35
# ms: the bins a tile holds seem to matter, not the channels. roi_pool spreads a region's bins
# over programs instead, and keeps MAX_BLOCK_C: 128 channels (with two columns a step) made it
# slower in the third sweep (0.657 against 0.456 ms at 2000 regions on 512x38x50).
PYRAMID_BLOCK_C = 256
# The pixels of one bin gathered per tile, at most.
MAX_BLOCK_Q = 1 << 20
# The columns of a bin's row a step of the scan takes, at least (more where a tile has room).
SCAN_COLUMNS = 1
# Steps of the scan's loop unrolled: more loads in flight, more registers.
UNROLL = 4
# Stages of the scan's loop software-pipelined (loads of later steps issued into shared memory
# while a step compares); None: not pipelined.
STAGES = None


@triton.jit
def _channels_last_kernel(x_ptr, out_ptr, C, HW, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """out[n, p, c] = x[n, c, p] (an NCHW input copied channels-last) for image n = program 2,
    a block of pixels and a block of channels: loads along pixels, stores along channels, the
    change of layout between them through shared memory (the compiler's)."""
    p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    image = tl.program_id(2).to(tl.int64) * C * HW
    ok = (p < HW)[:, None] & (c < C)[None, :]
    v = tl.load(x_ptr + image + c[None, :].to(tl.int64) * HW + p[:, None], mask=ok)
    tl.store(out_ptr + image + p[:, None].to(tl.int64) * C + c[None, :], v, mask=ok)


@triton.jit
def _round_half_away(x):
    """C's round() of a scaled coordinate, as an int32: half away from zero, by the distance to
    the truncation, which is exact (`bench.ops.roi._round_half_away`)."""
    x = x.to(tl.float64)
    whole = x.to(tl.int32)  # toward zero
    away = tl.abs(x - whole.to(tl.float64)) >= 0.5
    return whole + tl.where(away, tl.where(x < 0, -1, 1), 0)


@triton.jit
def _region_axis(coord_ptr, scale, pooled, EDGE: tl.constexpr, WIDE: tl.constexpr):
    """(start, bin size) of a region along one axis: coord_ptr at its first coordinate (x1 or
    y1), coord_ptr + 2 at its last. torchvision's arithmetic in EDGE (the input's dtype; float32
    for bfloat16), the division correctly rounded (in WIDE, then to EDGE: exact for float16)."""
    start = _round_half_away(tl.load(coord_ptr).to(EDGE) * scale)
    end = _round_half_away(tl.load(coord_ptr + 2).to(EDGE) * scale)
    length = tl.maximum(end - start + 1, 1).to(EDGE).to(WIDE)
    if WIDE == tl.float64:
        bin_size = length / pooled.to(tl.float64)  # div.rn.f64: float64 division is IEEE
    else:
        bin_size = tl.math.div_rn(length, pooled.to(EDGE).to(WIDE))  # `/` is div.full.f32
    return start, bin_size.to(EDGE)


@triton.jit
def _bin_edges(p, start, bin_size, size, EDGE: tl.constexpr, WIDE: tl.constexpr):
    """[lo, hi) of bins p along an axis: floor(p * bin), ceil((p + 1) * bin), products in EDGE,
    plus the region's start, clipped to [0, size]."""
    lo = tl.floor((p.to(EDGE) * bin_size).to(WIDE)).to(tl.int32) + start
    hi = tl.ceil(((p + 1).to(EDGE) * bin_size).to(WIDE)).to(tl.int32) + start
    return tl.minimum(tl.maximum(lo, 0), size), tl.minimum(tl.maximum(hi, 0), size)


@triton.jit
def _coordinate(ptr, live, scale, EDGE: tl.constexpr):
    """(value, value * scale in EDGE), both as float64, of a column of boxes."""
    value = tl.load(ptr, mask=live, other=0)
    return value.to(tl.float64), (value.to(EDGE) * scale).to(tl.float64)


@triton.jit
def _scale(bits, EDGE: tl.constexpr):
    """The scale, passed as the bits of a float64 holding a value of the edges' dtype."""
    return bits.to(tl.int64).to(tl.float64, bitcast=True).to(EDGE)


@triton.jit(do_not_specialize=["scale_bits"])
def _check_kernel(box_ptr, scale_bits, stats_ptr, size_ptr, K, N, H, W, LIMIT, SPAN_LIMIT,
                  EDGE: tl.constexpr, BLOCK: tl.constexpr, SIZES: tl.constexpr):
    """One program: stats = [any box non-finite, any batch index outside [0, N), any scaled
    coordinate beyond LIMIT, any region SPAN_LIMIT or more pixels long once rounded (float16
    only), the largest scaled height, the largest scaled width (rounded up)]. SIZES: also each
    region's scaled area within the H x W map (0 for a box refused), the measure of its
    programs' work by which `LONGEST_FIRST` orders them."""
    scale = _scale(scale_bits, EDGE)
    non_finite = tl.zeros([BLOCK], tl.int32)
    outside = tl.zeros([BLOCK], tl.int32)
    too_large = tl.zeros([BLOCK], tl.int32)
    too_long = tl.zeros([BLOCK], tl.int32)
    height = tl.zeros([BLOCK], tl.float64)
    width = tl.zeros([BLOCK], tl.float64)
    for k0 in range(0, K, BLOCK):
        k = k0 + tl.arange(0, BLOCK)
        live = k < K
        row = box_ptr + 5 * k.to(tl.int64)
        b = tl.load(row, mask=live, other=0).to(tl.float64)
        x1, sx1 = _coordinate(row + 1, live, scale, EDGE)
        y1, sy1 = _coordinate(row + 2, live, scale, EDGE)
        x2, sx2 = _coordinate(row + 3, live, scale, EDGE)
        y2, sy2 = _coordinate(row + 4, live, scale, EDGE)
        # x - x is 0 for a finite x, NaN for NaN and ±inf
        finite = (b - b == 0) & (x1 - x1 == 0) & (y1 - y1 == 0) & (x2 - x2 == 0) & (y2 - y2 == 0)
        # trunc(b) < 0 is b <= -1; trunc(b) >= N is b >= N
        out = finite & ((b <= -1) | (b >= N))
        large = (tl.abs(sx1) > LIMIT) | (tl.abs(sy1) > LIMIT) | (tl.abs(sx2) > LIMIT) | \
            (tl.abs(sy2) > LIMIT)
        sized = finite & (large == 0)
        non_finite = tl.maximum(non_finite, (finite == 0).to(tl.int32))
        outside = tl.maximum(outside, out.to(tl.int32))
        too_large = tl.maximum(too_large, (finite & large).to(tl.int32))
        height = tl.maximum(height, tl.where(sized, tl.abs(sy2 - sy1), 0.0))
        width = tl.maximum(width, tl.where(sized, tl.abs(sx2 - sx1), 0.0))
        if SIZES:
            rows = tl.minimum(tl.maximum(sy1, sy2), H) - tl.maximum(tl.minimum(sy1, sy2), 0.0)
            cols = tl.minimum(tl.maximum(sx1, sx2), W) - tl.maximum(tl.minimum(sx1, sx2), 0.0)
            size = (tl.maximum(rows, 0.0) + 1) * (tl.maximum(cols, 0.0) + 1)
            tl.store(size_ptr + k, tl.where(sized, size, 0.0).to(tl.float32), mask=live)
        if EDGE == tl.float16:  # the length becomes inf in float16
            span = tl.maximum(_round_half_away(tl.where(sized, sx2, 0.0))
                              - _round_half_away(tl.where(sized, sx1, 0.0)),
                              _round_half_away(tl.where(sized, sy2, 0.0))
                              - _round_half_away(tl.where(sized, sy1, 0.0))) + 1
            too_long = tl.maximum(too_long, (sized & (span >= SPAN_LIMIT)).to(tl.int32))
    tl.store(stats_ptr, tl.max(non_finite, axis=0))
    tl.store(stats_ptr + 1, tl.max(outside, axis=0))
    tl.store(stats_ptr + 2, tl.max(too_large, axis=0))
    tl.store(stats_ptr + 3, tl.max(too_long, axis=0))
    tl.store(stats_ptr + 4, tl.ceil(tl.max(height, axis=0)).to(tl.int32))
    tl.store(stats_ptr + 5, tl.ceil(tl.max(width, axis=0)).to(tl.int32))


@triton.jit
def _pool_bins(x_ptr, hs, he, ws, we, b, t_ok, c, c_ok, C, H, W, s_n, s_c, s_h, s_w,
               FLOOR: tl.constexpr, ACC: tl.constexpr, BLOCK_B: tl.constexpr,
               BLOCK_Q: tl.constexpr, BLOCK_C: tl.constexpr):
    """(value [B, C], flat NCHW index or -1 [B, C]): the first maximum of the bins with rows
    [hs, he) and columns [ws, we) of image b, for channels c [C]; t_ok masks the bins."""
    bh = he - hs
    bw = we - ws
    n = tl.where(t_ok & (bh > 0) & (bw > 0), bh * bw, 0)
    bw = tl.maximum(bw, 1)  # divides q only where the bin is not empty
    base = x_ptr + b.to(tl.int64) * s_n + c.to(tl.int64) * s_c
    best = tl.full([BLOCK_B, BLOCK_C], FLOOR, ACC)
    best_q = tl.full([BLOCK_B, BLOCK_C], -1, tl.int32)
    for q0 in range(0, tl.max(n, axis=0), BLOCK_Q):
        q = q0 + tl.arange(0, BLOCK_Q)
        row = hs[:, None] + q[None, :] // bw[:, None]
        col = ws[:, None] + q[None, :] % bw[:, None]
        offset = row.to(tl.int64) * s_h + col.to(tl.int64) * s_w
        ok = q[None, :] < n[:, None]
        v = tl.load(base[None, None, :] + offset[:, :, None],
                    mask=ok[:, :, None] & c_ok[None, None, :], other=float("-inf")).to(ACC)
        v = tl.where(v == v, v, float("-inf"))
        m = tl.max(v, axis=1)
        first = tl.min(tl.where(v == m[:, None, :], q[None, :, None], 2147483647), axis=1)
        # Strict: a later tile never displaces an equal maximum found earlier.
        better = m > best
        best = tl.where(better, m, best)
        best_q = tl.where(better, first, best_q)
    won = best_q >= 0
    row = hs[:, None] + best_q // bw[:, None]
    col = ws[:, None] + best_q % bw[:, None]
    # Re-read the winner: the max reduction may return +0.0 for a first maximum of -0.0.
    value = tl.load(base[None, :] + row.to(tl.int64) * s_h + col.to(tl.int64) * s_w,
                    mask=won & c_ok[None, :], other=0).to(ACC)
    value = tl.where(won, value, tl.where(n[:, None] > 0, FLOOR, 0.0))
    index = ((b.to(tl.int64) * C + c[None, :]) * H + row) * W + col
    return value, tl.where(won, index, -1)


@triton.jit
def _scan_bins(x_ptr, hs, he, ws, we, b, t_ok, c, c_ok, W, s_n, s_c, s_h, s_w,
               FLOOR: tl.constexpr, ACC: tl.constexpr, BLOCK_B: tl.constexpr,
               BLOCK_X: tl.constexpr, BLOCK_C: tl.constexpr, UNROLL: tl.constexpr,
               STAGES: tl.constexpr):
    """`_pool_bins` as torchvision's loop: each (bin, channel) lane visits its bin row after row,
    BLOCK_X columns of the row a step, and keeps the first maximum by a strict `>`, which NaN
    never passes. With one column a step the kept value is the winner's own bits (-0.0
    included); with more, NaN is made -inf for the max reduction, which may return +0.0 for a
    first -0.0, so the winner is re-read. Returns (value [B, C], pixel row * W + column of the
    winner or -1 [B, C])."""
    bh = tl.where(t_ok, tl.maximum(he - hs, 0), 0)
    bw = tl.where(t_ok, tl.maximum(we - ws, 0), 0)
    base = x_ptr + b.to(tl.int64) * s_n + c.to(tl.int64) * s_c
    corner = hs.to(tl.int64) * s_h + ws.to(tl.int64) * s_w  # a bin's first pixel
    corner_pixel = hs * W + ws
    best = tl.full([BLOCK_B, BLOCK_C], FLOOR, ACC)
    best_at = tl.full([BLOCK_B, BLOCK_C], -1, tl.int32)
    x = tl.arange(0, BLOCK_X)
    # One loop over the steps of all rows, the step's row and first column carried along
    # (no division): unrolling and pipelining then reach across rows.
    width = tl.cdiv(tl.max(bw, axis=0), BLOCK_X) * BLOCK_X
    dy = tl.full([], 0, tl.int32)
    x0 = tl.full([], 0, tl.int32)
    for _ in tl.range(0, tl.max(bh, axis=0) * (width // BLOCK_X), loop_unroll_factor=UNROLL,
                      num_stages=STAGES):
        ok = (dy < bh)[:, None] & (x0 + x[None, :] < bw[:, None])
        at = corner[:, None] + (dy.to(tl.int64) * s_h + (x0 + x).to(tl.int64) * s_w)[None, :]
        v = tl.load(base[None, None, :] + at[:, :, None],
                    mask=ok[:, :, None] & c_ok[None, None, :], other=float("-inf")).to(ACC)
        if BLOCK_X == 1:
            m = tl.max(v, axis=1)  # of one value: itself
            first = 0
        else:
            v = tl.where(v == v, v, float("-inf"))
            m = tl.max(v, axis=1)
            first = tl.min(tl.where(v == m[:, None, :], x[None, :, None], BLOCK_X), axis=1)
        better = m > best
        best = tl.where(better, m, best)
        best_at = tl.where(better, (corner_pixel + dy * W + x0)[:, None] + first, best_at)
        x0 += BLOCK_X
        wrap = x0 >= width
        dy = tl.where(wrap, dy + 1, dy)
        x0 = tl.where(wrap, 0, x0)
    won = best_at >= 0
    if BLOCK_X > 1:
        at = (best_at // W).to(tl.int64) * s_h + (best_at % W).to(tl.int64) * s_w
        best = tl.load(base[None, :] + at, mask=won & c_ok[None, :], other=0).to(ACC)
    filled = (bh > 0) & (bw > 0)
    return tl.where(won, best, tl.where(filled[:, None], FLOOR, 0.0)), best_at


@triton.jit
def _pool(x_ptr, hs, he, ws, we, b, t_ok, c, c_ok, C, H, W, s_n, s_c, s_h, s_w,
          FLOOR: tl.constexpr, ACC: tl.constexpr, BLOCK_B: tl.constexpr,
          BLOCK_Q: tl.constexpr, BLOCK_C: tl.constexpr, SCAN: tl.constexpr,
          UNROLL: tl.constexpr, STAGES: tl.constexpr):
    """(value, flat NCHW index of the winner or -1), [B, C]: by `_scan_bins` or `_pool_bins`."""
    if SCAN:
        value, at = _scan_bins(x_ptr, hs, he, ws, we, b, t_ok, c, c_ok, W, s_n, s_c, s_h, s_w,
                               FLOOR, ACC, BLOCK_B, BLOCK_Q, BLOCK_C, UNROLL, STAGES)
        index = (b.to(tl.int64) * C + c[None, :]) * H * W + at
        index = tl.where(at >= 0, index, -1)
    else:
        value, index = _pool_bins(x_ptr, hs, he, ws, we, b, t_ok, c, c_ok, C, H, W,
                                  s_n, s_c, s_h, s_w, FLOOR, ACC, BLOCK_B, BLOCK_Q, BLOCK_C)
    return value, index


@triton.jit
def _image(box, N):
    """The region's image: its batch index toward zero; one the check refuses (a launch before
    its wait, WAIT_FOR_CHECK off, drops the results) as the nearest image, read inside the
    input."""
    b = tl.load(box).to(tl.float64).to(tl.int32)
    return tl.minimum(tl.maximum(b, 0), N - 1)


@triton.jit
def _program(order_ptr, groups, c_blocks, ORDERED: tl.constexpr):
    """(region, group of its bins, block of channels) of this program. ORDERED: the grid is
    one axis on which a region's programs are next to each other and the regions come in the
    order `order_ptr` gives (largest first: a GPU starts programs about in the order of the
    grid, so that the longest are meant to start first; mixed where timed). Otherwise regions and
    groups share the first axis, the only one that is not limited to 65535 programs, and
    channel blocks are the second."""
    if ORDERED:
        pid = tl.program_id(0)
        rest = pid % (groups * c_blocks)
        k = tl.load(order_ptr + pid // (groups * c_blocks)).to(tl.int32)
        group = rest // c_blocks
        c_block = rest % c_blocks
    else:
        k = tl.program_id(0) // groups
        group = tl.program_id(0) % groups
        c_block = tl.program_id(1)
    return k, group, c_block


@triton.jit(do_not_specialize=["PH", "PW", "scale_bits", "row_len", "row_off"])
def _roi_pool_kernel(x_ptr, box_ptr, scale_bits, order_ptr, out_ptr, arg_ptr,
                     N, C, H, W, PH, PW, groups, c_blocks, row_len, row_off, s_n, s_c, s_h, s_w,
                     FLOOR: tl.constexpr, ACC: tl.constexpr, EDGE: tl.constexpr,
                     WIDE: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_Q: tl.constexpr,
                     BLOCK_C: tl.constexpr, SCAN: tl.constexpr, UNROLL: tl.constexpr,
                     STAGES: tl.constexpr, ORDERED: tl.constexpr):
    """A region's [C, PH, PW] outputs at row_off in its row of row_len elements (C * PH * PW
    and 0 for roi_pool; the pyramid's finest level in its rows otherwise)."""
    k, group, c_block = _program(order_ptr, groups, c_blocks, ORDERED)
    t = group * BLOCK_B + tl.arange(0, BLOCK_B)
    t_ok = t < PH * PW
    c = c_block * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    box = box_ptr + 5 * k.to(tl.int64)
    b = _image(box, N)
    scale = _scale(scale_bits, EDGE)
    col0, bin_w = _region_axis(box + 1, scale, PW, EDGE, WIDE)
    row0, bin_h = _region_axis(box + 2, scale, PH, EDGE, WIDE)
    hs, he = _bin_edges(t // PW, row0, bin_h, H, EDGE, WIDE)
    ws, we = _bin_edges(t % PW, col0, bin_w, W, EDGE, WIDE)
    value, index = _pool(x_ptr, hs, he, ws, we, b, t_ok, c, c_ok, C, H, W,
                         s_n, s_c, s_h, s_w, FLOOR, ACC, BLOCK_B, BLOCK_Q, BLOCK_C, SCAN,
                         UNROLL, STAGES)
    out = k.to(tl.int64) * row_len + row_off + c[None, :].to(tl.int64) * (PH * PW) + t[:, None]
    ok = t_ok[:, None] & c_ok[None, :]
    tl.store(out_ptr + out, value.to(out_ptr.dtype.element_ty), mask=ok)
    tl.store(arg_ptr + out, index.to(arg_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _is_union(start, bin_size, fine_bin, level, step, size, EDGE: tl.constexpr,
              WIDE: tl.constexpr, BLOCK_L: tl.constexpr):
    """Whether each of a level's bins along an axis is the union of its `step` fine bins:
    the first one's start and the last one's end (the region's start is the same)."""
    i = tl.minimum(tl.arange(0, BLOCK_L), level - 1)  # lanes past the level repeat its last
    lo, hi = _bin_edges(i, start, bin_size, size, EDGE, WIDE)
    fine_lo, _ = _bin_edges(i * step, start, fine_bin, size, EDGE, WIDE)
    _, fine_hi = _bin_edges(i * step + step - 1, start, fine_bin, size, EDGE, WIDE)
    same = (lo == fine_lo) & (hi == fine_hi)
    return tl.min(same.to(tl.int32), axis=0) == 1


@triton.jit
def _derives(box, scale, level, step, fine, fine_w, fine_h, H, W, EDGE: tl.constexpr,
             WIDE: tl.constexpr, BLOCK_L: tl.constexpr):
    """(derived from the finest level?, column start, bin width, row start, bin height) of one
    region at one level: derived where the plan allows it (step > 0) and the edges agree."""
    col0, bin_w = _region_axis(box + 1, scale, level, EDGE, WIDE)
    row0, bin_h = _region_axis(box + 2, scale, level, EDGE, WIDE)
    derived = (step > 0) & _is_union(col0, bin_w, fine_w, level, step, W, EDGE, WIDE, BLOCK_L) \
        & _is_union(row0, bin_h, fine_h, level, step, H, EDGE, WIDE, BLOCK_L)
    return derived, col0, bin_w, row0, bin_h


@triton.jit
def _pool_level(x_ptr, out_ptr, arg_ptr, out_row, b, c, c_ok, level, row0, bin_h, col0, bin_w,
                C, H, W, s_n, s_c, s_h, s_w, FLOOR: tl.constexpr, ACC: tl.constexpr,
                EDGE: tl.constexpr, WIDE: tl.constexpr, BLOCK_B: tl.constexpr,
                BLOCK_Q: tl.constexpr, BLOCK_C: tl.constexpr, SCAN: tl.constexpr,
                UNROLL: tl.constexpr, STAGES: tl.constexpr):
    """One level of one region pooled from the input, BLOCK_B bins at a time; its outputs start
    at out_row, channel after channel."""
    for t0 in range(0, level * level, BLOCK_B):
        t = t0 + tl.arange(0, BLOCK_B)
        t_ok = t < level * level
        hs, he = _bin_edges(t // level, row0, bin_h, H, EDGE, WIDE)
        ws, we = _bin_edges(t % level, col0, bin_w, W, EDGE, WIDE)
        value, index = _pool(x_ptr, hs, he, ws, we, b, t_ok, c, c_ok, C, H, W,
                             s_n, s_c, s_h, s_w, FLOOR, ACC, BLOCK_B, BLOCK_Q, BLOCK_C, SCAN,
                             UNROLL, STAGES)
        out = out_row + c[None, :] * (level * level) + t[:, None]
        ok = t_ok[:, None] & c_ok[None, :]
        tl.store(out_ptr + out, value.to(out_ptr.dtype.element_ty), mask=ok)
        tl.store(arg_ptr + out, index.to(arg_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _fold_fine(out_ptr, arg_ptr, at, mask, best, best_index, ACC: tl.constexpr,
               AXIS: tl.constexpr):
    """The fine results at `at` (a tile whose axis AXIS runs over a coarse bin's fine bins)
    folded into the coarse bins' (best value, its flat index): the fine winners' maximum, and
    among equal maxima the smallest flat index. Fine bins overlap by a row or column, so their
    order is not the coarse bin's scan order, but the smallest flat index is the first in
    row-major order."""
    index = tl.load(arg_ptr + at, mask=mask, other=-1).to(tl.int64)
    won = index >= 0
    v = tl.load(out_ptr + at, mask=won, other=float("-inf")).to(ACC)
    v = tl.where(won, v, float("-inf"))
    m = tl.max(v, axis=AXIS)
    first = tl.min(tl.where(won & (v == tl.expand_dims(m, AXIS)), index, 9223372036854775807),
                   axis=AXIS)
    better = (first < 9223372036854775807) & ((m > best) | ((m == best) & (first < best_index)))
    return tl.where(better, m, best), tl.where(better, first, best_index)


@triton.jit
def _derive_level(x_ptr, out_ptr, arg_ptr, out_row, fine_row, fine, step, b, c, c_ok, level,
                  row0, bin_h, col0, bin_w, C, H, W, s_n, s_c, s_h, s_w, FLOOR: tl.constexpr,
                  ACC: tl.constexpr, EDGE: tl.constexpr, WIDE: tl.constexpr,
                  BLOCK_D: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_C: tl.constexpr,
                  BY_CHANNEL: tl.constexpr):
    """One level of one region from the finest level's results (fine_row: their start, per
    channel), BLOCK_D coarse bins at a time, each from its step x step fine bins. Tiles are
    [coarse bins, fine bins, channels], or with BY_CHANNEL [channels, coarse bins, fine bins]:
    a channel's fine bins (in the outputs, runs of `step` a finest row apart) then go along the
    lanes, where otherwise channels 36 elements apart (a {6,3,2,1} pyramid) are next to each
    other."""
    for t0 in range(0, level * level, BLOCK_D):
        t = t0 + tl.arange(0, BLOCK_D)
        t_ok = t < level * level
        i = t // level
        j = t % level
        if BY_CHANNEL:
            best = tl.full([BLOCK_C, BLOCK_D], FLOOR, ACC)
            best_index = tl.full([BLOCK_C, BLOCK_D], -1, tl.int64)
        else:
            best = tl.full([BLOCK_D, BLOCK_C], FLOOR, ACC)
            best_index = tl.full([BLOCK_D, BLOCK_C], -1, tl.int64)
        for f0 in range(0, step * step, BLOCK_F):
            f = f0 + tl.arange(0, BLOCK_F)
            fine_at = ((i[:, None] * step + f[None, :] // step) * fine
                       + j[:, None] * step + f[None, :] % step)
            fine_ok = t_ok[:, None] & (f < step * step)[None, :]
            if BY_CHANNEL:
                at = fine_row[:, None, None] + fine_at[None, :, :]
                mask = c_ok[:, None, None] & fine_ok[None, :, :]
                best, best_index = _fold_fine(out_ptr, arg_ptr, at, mask, best, best_index,
                                              ACC, 2)
            else:
                at = fine_row[None, None, :] + fine_at[:, :, None]
                mask = fine_ok[:, :, None] & c_ok[None, None, :]
                best, best_index = _fold_fine(out_ptr, arg_ptr, at, mask, best, best_index,
                                              ACC, 1)
        if BY_CHANNEL:
            best_index = tl.trans(best_index)
        _store_derived(x_ptr, out_ptr, arg_ptr, out_row, best_index, t, t_ok, i, j, b, c, c_ok,
                       level, row0, bin_h, col0, bin_w, C, H, W, s_n, s_c, s_h, s_w, FLOOR, ACC,
                       EDGE, WIDE)


@triton.jit
def _store_derived(x_ptr, out_ptr, arg_ptr, out_row, best_index, t, t_ok, i, j, b, c, c_ok,
                   level, row0, bin_h, col0, bin_w, C, H, W, s_n, s_c, s_h, s_w,
                   FLOOR: tl.constexpr, ACC: tl.constexpr, EDGE: tl.constexpr,
                   WIDE: tl.constexpr):
    """Derived bins' outputs from their winners' flat indices ([coarse bins, channels])."""
    won = best_index >= 0
    # Re-read the winner, whose sign a tie of +0.0 and -0.0 leaves open in the maximum.
    plane = best_index - (b.to(tl.int64) * C + c[None, :]) * H * W
    at = (b.to(tl.int64) * s_n + c[None, :].to(tl.int64) * s_c
          + (plane // W) * s_h + (plane % W) * s_w)
    value = tl.load(x_ptr + at, mask=won & c_ok[None, :], other=0).to(ACC)
    hs, he = _bin_edges(i, row0, bin_h, H, EDGE, WIDE)
    ws, we = _bin_edges(j, col0, bin_w, W, EDGE, WIDE)
    filled = (he > hs) & (we > ws)
    value = tl.where(won, value, tl.where(filled[:, None], FLOOR, 0.0))
    out = out_row + c[None, :] * (level * level) + t[:, None]
    ok = t_ok[:, None] & c_ok[None, :]
    tl.store(out_ptr + out, value.to(out_ptr.dtype.element_ty), mask=ok)
    tl.store(arg_ptr + out, best_index.to(arg_ptr.dtype.element_ty), mask=ok)


@triton.jit(do_not_specialize=["fine", "scale_bits"])
def _roi_spp_kernel(x_ptr, box_ptr, scale_bits, order_ptr, plan_ptr, out_ptr, arg_ptr,
                    n_levels, row_len, N, C, H, W, c_blocks, s_n, s_c, s_h, s_w, fine, fine_out,
                    FLOOR: tl.constexpr, ACC: tl.constexpr, EDGE: tl.constexpr,
                    WIDE: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_Q: tl.constexpr,
                    BLOCK_D: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_C: tl.constexpr,
                    BLOCK_L: tl.constexpr, DERIVED: tl.constexpr, SCAN: tl.constexpr,
                    UNROLL: tl.constexpr, STAGES: tl.constexpr, FIRST: tl.constexpr,
                    ORDERED: tl.constexpr, BY_CHANNEL: tl.constexpr):
    """All levels of one region for a block of channels, in the plan's order, which puts the
    finest level (the first of its size, whose output starts at fine_out in a row) first; each
    other level derived from it or pooled from the input. Plan rows: (level, offset of the level
    in an output row per channel, step), step finest // level where the level may be derived
    from the finest, else 0. FIRST 1: the finest level was pooled by a launch before (and the
    plan holds it and one level to derive: `_pyramid_apart`)."""
    k, _, c_block = _program(order_ptr, 1, c_blocks, ORDERED)
    c = c_block * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    box = box_ptr + 5 * k.to(tl.int64)
    b = _image(box, N)
    scale = _scale(scale_bits, EDGE)
    _, fine_w = _region_axis(box + 1, scale, fine, EDGE, WIDE)
    _, fine_h = _region_axis(box + 2, scale, fine, EDGE, WIDE)
    row_start = k.to(tl.int64) * row_len
    for d in range(FIRST, n_levels):  # the finest level first: the plan on the device says so
        level = tl.load(plan_ptr + 3 * d)
        out_off = tl.load(plan_ptr + 3 * d + 1) * C
        step = tl.load(plan_ptr + 3 * d + 2)
        derived, col0, bin_w, row0, bin_h = _derives(box, scale, level, step, fine, fine_w,
                                                     fine_h, H, W, EDGE, WIDE, BLOCK_L)
        if derived:  # only where a plan row allows it (step > 0), so DERIVED is set
            if DERIVED:
                _derive_level(x_ptr, out_ptr, arg_ptr, row_start + out_off,
                              row_start + fine_out + c * (fine * fine), fine, step, b, c, c_ok,
                              level, row0, bin_h, col0, bin_w, C, H, W, s_n, s_c, s_h, s_w,
                              FLOOR, ACC, EDGE, WIDE, BLOCK_D, BLOCK_F, BLOCK_C, BY_CHANNEL)
        else:
            _pool_level(x_ptr, out_ptr, arg_ptr, row_start + out_off, b, c, c_ok, level, row0,
                        bin_h, col0, bin_w, C, H, W, s_n, s_c, s_h, s_w, FLOOR, ACC, EDGE, WIDE,
                        BLOCK_B, BLOCK_Q, BLOCK_C, SCAN, UNROLL, STAGES)
        if DERIVED and FIRST == 0:
            # The finest level's results, stored by other threads of this program, are read by
            # the derived levels after it.
            tl.debug_barrier()


@triton.jit
def _to_bfloat16(x):
    """float32 -> bfloat16 rounded to nearest even, by integer arithmetic on the bits: the
    interpreter's own conversion truncates, and this gives the GPU's cvt.rn result on both."""
    bits = x.to(tl.int32, bitcast=True)
    magnitude = bits & 0x7FFFFFFF
    magnitude = tl.where(x != x, 0x7FC00000, magnitude)  # a quiet NaN, and no carry out of it
    magnitude = (magnitude + 0x7FFF + ((magnitude >> 16) & 1)) >> 16
    half = magnitude | ((bits >> 16) & 0x8000)
    return half.to(tl.int16).to(tl.bfloat16, bitcast=True)


@triton.jit
def _add(acc, g):
    """acc + g rounded to the gradient's dtype, as torchvision's CPU loop adds."""
    if acc.dtype == tl.bfloat16:
        # float32 holds a sum of two bfloat16 closely enough that rounding it to bfloat16
        # gives the correctly rounded bfloat16 sum.
        return _to_bfloat16(acc.to(tl.float32) + g.to(tl.float32))
    return acc + g


@triton.jit
def _run_sum_kernel(key_ptr, grad_ptr, out_ptr, n, BLOCK: tl.constexpr, CHUNK: tl.constexpr):
    """keys: flat input indices, sorted stably (-1, nothing won, first), and grad in the same
    order. Each lane owns CHUNK consecutive terms and adds up every run of equal keys that starts
    among them, one term after the other from zero, following the last one past its chunk as far
    as it goes, and stores each sum at out[key]. A run that began before the chunk is its
    starter's. Runs are found here, so the host never waits for them. A lane's loads are of
    fixed positions, independent of the additions (but see the module doc on the stores)."""
    i = (tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)) * CHUNK
    key = tl.load(key_ptr + i - 1, mask=(i > 0) & (i <= n), other=-1)
    acc = tl.zeros([BLOCK], grad_ptr.dtype.element_ty)
    mine = i < 0  # the run in hand started in this chunk
    for s in tl.static_range(CHUNK):
        live = i + s < n
        k = tl.load(key_ptr + i + s, mask=live, other=-1)
        g = tl.load(grad_ptr + i + s, mask=live, other=0)
        new = live & (k != key)
        tl.store(out_ptr + key, acc, mask=new & mine)  # the run before has ended
        mine = tl.where(new, k >= 0, mine)
        key = tl.where(new, k, key)
        acc = tl.where(new, tl.zeros_like(acc), acc)
        acc = tl.where(mine & live, _add(acc, g), acc)
    # The runs still open at the chunk's end, a chunk at a time.
    j = i + CHUNK
    more = mine
    while tl.max(more.to(tl.int32), axis=0) > 0:
        go = more
        for s in tl.static_range(CHUNK):
            live = go & (j + s < n)
            k = tl.load(key_ptr + j + s, mask=live, other=-1)
            g = tl.load(grad_ptr + j + s, mask=live, other=0)
            more = more & (k == key)
            acc = tl.where(more, _add(acc, g), acc)
        j += CHUNK
    tl.store(out_ptr + key, acc, mask=mine)


@triton.jit
def _level_tiles(box, scale_bits, rows, cols, H, W, EDGE: tl.constexpr, WIDE: tl.constexpr,
                 BLOCK_L: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
    """A region's bins on a grid of rows x cols against the input's tiles of BLOCK_H x BLOCK_W
    pixels, a lane per bin (bin row i, column j; row-major, lanes past the grid empty): (i, j,
    first tile row, first tile column, tiles across, tiles in all: 0 for an empty bin). The
    edges are the forward's (`_region_axis`, `_bin_edges`)."""
    scale = _scale(scale_bits, EDGE)
    col0, bin_w = _region_axis(box + 1, scale, cols, EDGE, WIDE)
    row0, bin_h = _region_axis(box + 2, scale, rows, EDGE, WIDE)
    lane = tl.arange(0, BLOCK_L * BLOCK_L)
    i, j = lane // BLOCK_L, lane % BLOCK_L
    hs, he = _bin_edges(i, row0, bin_h, H, EDGE, WIDE)
    ws, we = _bin_edges(j, col0, bin_w, W, EDGE, WIDE)
    full = (i < rows) & (j < cols) & (he > hs) & (we > ws)
    across = tl.where(full, (we - 1) // BLOCK_W - ws // BLOCK_W + 1, 0)
    down = tl.where(full, (he - 1) // BLOCK_H - hs // BLOCK_H + 1, 0)
    return i, j, hs // BLOCK_H, ws // BLOCK_W, across, down * across


# The two kernels of the tile lists: a program per (region, level); plan rows (bin rows,
# columns, bins of the levels before); counts and first positions [levels, K].
@triton.jit(do_not_specialize=["scale_bits"])
def _pair_count_kernel(box_ptr, scale_bits, plan_ptr, count_ptr, H, W, EDGE: tl.constexpr,
                       WIDE: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_H: tl.constexpr,
                       BLOCK_W: tl.constexpr):
    """The (bin, tile) pairs of each region at each level."""
    level = tl.program_id(1)
    _, _, _, _, _, pairs = _level_tiles(
        box_ptr + 5 * tl.program_id(0).to(tl.int64), scale_bits, tl.load(plan_ptr + 3 * level),
        tl.load(plan_ptr + 3 * level + 1), H, W, EDGE, WIDE, BLOCK_L, BLOCK_H, BLOCK_W)
    tl.store(count_ptr + level.to(tl.int64) * tl.num_programs(0) + tl.program_id(0),
             tl.sum(pairs, 0))


@triton.jit(do_not_specialize=["scale_bits"])
def _pairs_kernel(box_ptr, scale_bits, plan_ptr, first_ptr, tile_ptr, bin_ptr, stride_ptr,
                  C, H, W, row_len, tiles_h, tiles_w, EDGE: tl.constexpr, WIDE: tl.constexpr,
                  BLOCK_L: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
    """The (bin, tile) pairs of program (region, level), from its first position on: its bins
    in row-major order, each bin's tiles row-major. For each pair: the tile (image after image,
    row-major), the bin's offset in the outputs (a region's row holds C * bins of all levels,
    level after level, [C, rows, columns] within a level) and the distance between its
    channels."""
    k, level = tl.program_id(0).to(tl.int64), tl.program_id(1)
    box = box_ptr + 5 * k
    rows, cols = tl.load(plan_ptr + 3 * level), tl.load(plan_ptr + 3 * level + 1)
    i, j, row, col, across, pairs = _level_tiles(box, scale_bits, rows, cols, H, W, EDGE, WIDE,
                                                 BLOCK_L, BLOCK_H, BLOCK_W)
    b = tl.load(box).to(tl.float64).to(tl.int64)  # toward zero, as the forward
    at = tl.load(first_ptr + level.to(tl.int64) * tl.num_programs(0) + k) \
        + tl.cumsum(pairs, 0) - pairs
    output = k * row_len + tl.load(plan_ptr + 3 * level + 2).to(tl.int64) * C + i * cols + j
    across = tl.maximum(across, 1)  # an empty bin has no pairs, but every lane divides by it
    for t in range(0, tl.max(pairs, 0)):
        live = t < pairs
        tile = (b * tiles_h + row + t // across) * tiles_w + col + t % across
        tl.store(tile_ptr + at + t, tile, mask=live)
        tl.store(bin_ptr + at + t, output, mask=live)
        tl.store(stride_ptr + at + t, rows * cols, mask=live)


@triton.jit
def _tile_gradient_kernel(arg_ptr, grad_ptr, start_ptr, bin_ptr, stride_ptr, out_ptr, C, H, W,
                          tiles_w, tiles, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr,
                          BLOCK_C: tl.constexpr, STAGES: tl.constexpr):
    """The input's gradient on a tile of BLOCK_H x BLOCK_W pixels of one image and BLOCK_C
    channels, without a sort. The tile's list (entries start_ptr[tile] to start_ptr[tile + 1])
    names the bins that overlap it, in torchvision's order (level, region, bin row, bin column):
    bin_ptr holds each one's offset in the outputs, stride_ptr the distance between its
    channels. The program adds each listed output's gradient into the tile's element that is
    its argmax, in registers, from zero, and writes its tile and nothing else: no atomics, no
    order left to chance."""
    tile = tl.program_id(0)
    b = tile // tiles
    h0 = (tile % tiles // tiles_w) * BLOCK_H
    w0 = (tile % tiles_w) * BLOCK_W
    p = tl.arange(0, BLOCK_H * BLOCK_W)
    h = h0 + p // BLOCK_W
    w = w0 + p % BLOCK_W
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    # Compared within a channel's map, in int32 (H * W < 2**31): a listed bin is of this image,
    # and its argmax of channel c is in channel c's map, or -1. Lanes of a tile past the map's
    # edge (h >= H or w >= W) may hold another pixel's offset; they are never stored.
    plane = (b.to(tl.int64) * C + c) * H * W
    pixel = h * W + w
    acc = tl.zeros([BLOCK_H * BLOCK_W, BLOCK_C], grad_ptr.dtype.element_ty)
    # One flat loop over the list: an entry's loads depend on the entry only (its bin, then the
    # bin's argmax and gradient), not on the additions.
    for e in tl.range(tl.load(start_ptr + tile), tl.load(start_ptr + tile + 1),
                      num_stages=STAGES):
        o = tl.load(bin_ptr + e) + c.to(tl.int64) * tl.load(stride_ptr + e)
        a = tl.load(arg_ptr + o, mask=c_ok, other=-1)
        at = tl.where(a >= 0, a - plane, -1).to(tl.int32)
        g = tl.load(grad_ptr + o, mask=c_ok, other=0)
        acc = tl.where(at[None, :] == pixel[:, None], _add(acc, g[None, :]), acc)
    ok = ((h < H) & (w < W))[:, None] & c_ok[None, :]
    tl.store(out_ptr + plane[None, :] + pixel[:, None], acc, mask=ok)


INTERPRETED = isinstance(_roi_pool_kernel, InterpretedFunction)
if INTERPRETED:
    # The interpreter pays per program and per operation, hardly per element: it gets large
    # tiles holding all of a region's bins, so that a region is one program with few loop trips.
    TILE, PIXELS_FIRST, RUN_BLOCK, SCAN_COLUMNS, MAX_BLOCK_C = 1 << 16, False, 4096, 1 << 20, 1024
    PYRAMID_BLOCK_C = MAX_BLOCK_C
    GRADIENT_TILE, GRADIENT_BLOCK_C = 1 << 10, 1024


def _interpreted() -> bool:
    return INTERPRETED


def _check_runnable(input: torch.Tensor) -> None:
    """Its dtype was checked with the boxes (bench.ops.roi._boxes); here, where it lives."""
    if input.device.type == "cuda" or (input.device.type == "cpu" and _interpreted()):
        return
    raise ValueError(f"the Triton RoI kernels run on CUDA tensors, got one on {input.device}; "
                     "use bench.ops.roi_pool / roi_spp there")


def _floor(dtype: torch.dtype) -> float:
    """-FLT_MAX in the input's dtype: -inf for the half types, as in the CPU operator."""
    return float(torch.tensor(-FLT_MAX, dtype=dtype))


# The dtype in which bin edges are computed (torchvision's: the input's; float32 for bfloat16,
# as bench.ops.roi does) and the one the division is rounded in before it becomes that dtype.
_EDGE = {torch.float16: (tl.float16, tl.float32), torch.bfloat16: (tl.float32, tl.float32),
         torch.float32: (tl.float32, tl.float32), torch.float64: (tl.float64, tl.float64)}


def _acc(dtype: torch.dtype):
    # Half types are compared in float32, which holds them exactly.
    return tl.float64 if dtype == torch.float64 else tl.float32


# Launched with enable_fp_fusion=False: a product followed by an addition (the scaled corner
# and its rounding's +0.5) would otherwise become one fused multiply-add, rounded once instead
# of twice as in torchvision.
@functools.cache  # each call would otherwise make a tensor on the host (_floor)
def _constants(dtype: torch.dtype) -> dict:
    edge, wide = _EDGE[dtype]
    return dict(FLOOR=_floor(dtype), ACC=_acc(dtype), EDGE=edge, WIDE=wide)


@functools.cache
def _rows_on(rows: tuple, device: torch.device) -> torch.Tensor:
    """Rows of small integers (plans) on the device, copied once per set of rows (a copy from
    the host waits for the device) and kept: no kernel can be reading them when their memory is
    reused."""
    return torch.tensor([v for row in rows for v in row], dtype=torch.int32, device=device)


@functools.lru_cache(maxsize=64)  # as _constants
def _scale_bits(spatial_scale: float, dtype: torch.dtype) -> int:
    """The scale in the edges' dtype (as bench.ops.roi.bin_edges converts it), as the bits of
    a float64: a kernel argument that keeps float64 scales exact."""
    value = float(torch.tensor(spatial_scale, dtype=dtype))
    return struct.unpack("<q", struct.pack("<d", value))[0]


# Host-side sizes in plain Python: triton.cdiv and triton.next_power_of_2 are constexpr functions
# in Triton 3.8, whose wrapper costs 1.5 us or more a call on the host. A roi_pool call made ten
# such calls: with the kernels stubbed, at 512 regions on 2x256x50x50, its Python took 35-63 us
# (the medians of three runs on the 2-core VM), 20-21 us without them. On a GPU the device waits
# for the host's Python between the box check and the pooling launch.
def _pow2(n: int) -> int:
    """The smallest power of two at least n (1 for n < 1)."""
    return 1 << (max(1, n) - 1).bit_length()


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _check(input: torch.Tensor, rois: torch.Tensor, spatial_scale: float):
    """Launch the check of the boxes that `bench.ops.roi` makes (the same checks, messages and
    order) and the transfer of its results. Returns (boxes, scale bits, what waits for the
    results (`_fetch`; `_refuse` calls it), and the order of the regions for the pooling
    programs: largest first with LONGEST_FIRST, else None; on the device that sort runs while
    the host launches the pooling)."""
    dtype = torch.float32 if rois.dtype == torch.bfloat16 else rois.dtype
    scale = _scale_bits(spatial_scale, dtype)
    rois = rois.contiguous()
    k = rois.shape[0]
    if k == 0:
        return rois, scale, _fetch(None), None
    stats = torch.empty(6, dtype=torch.int32, device=rois.device)
    sizes = torch.empty(k, dtype=torch.float32, device=rois.device) if LONGEST_FIRST else stats
    n, _, h, w = input.shape
    _check_kernel[(1,)](rois, scale, stats, sizes, k, n, h, w, float(COORD_LIMIT),
                        HALF_SPAN_LIMIT, EDGE=_EDGE[input.dtype][0], BLOCK=min(1024, _pow2(k)),
                        SIZES=LONGEST_FIRST, enable_fp_fusion=False)
    results = _fetch(stats)
    order = torch.argsort(sizes, descending=True, stable=True) if LONGEST_FIRST else None
    return rois, scale, results, order


def _fetch(stats):
    """Start bringing the check's results to the host; returns what waits for them (None
    without boxes). With WAIT_FOR_CHECK off on CUDA, into pinned memory behind an event: the
    wait is then for the check alone, not for the pooling launched after it, as a copy to
    ordinary memory, which waits for the whole stream, would be."""
    if stats is None:
        return lambda: None
    if WAIT_FOR_CHECK or stats.device.type != "cuda":
        return stats.tolist
    host = torch.empty(stats.shape, dtype=stats.dtype, pin_memory=True)
    host.copy_(stats, non_blocking=True)  # on the current stream of stats' device
    copied = torch.cuda.Event()
    copied.record(torch.cuda.current_stream(stats.device))

    def wait():
        copied.synchronize()
        return host.tolist()
    return wait


def _refuse(results, input: torch.Tensor) -> tuple[int, int]:
    """Wait for the check (`results`: `_fetch`'s wait) and raise its first failure as
    `bench.ops.roi` would; else (the largest scaled region's height, width, rounded up)."""
    results = results()
    if results is None:
        return 0, 0
    non_finite, outside, too_large, too_long, height, width = results
    for failed, message in ((non_finite, NON_FINITE), (outside, OUTSIDE), (too_large, TOO_LARGE),
                            (too_long, HALF_TOO_WIDE)):
        if failed:
            raise ValueError(message.format(images=input.shape[0]))
    return height, width


@contextlib.contextmanager
def _checked(input: torch.Tensor, rois: torch.Tensor, spatial_scale: float):
    """The boxes checked around the pooling's launches in the block: yields (boxes, scale bits,
    the largest region's height and width that size the tiles, the regions' order). The check
    is waited for before the block, or with WAIT_FOR_CHECK off after it, the tiles then sized
    by an extent that bounds a bin by the map alone."""
    rois, scale, results, order = _check(input, rois, spatial_scale)
    height, width = _refuse(results, input) if WAIT_FOR_CHECK else (2 * COORD_LIMIT,) * 2
    yield rois, scale, height, width, order
    if not WAIT_FOR_CHECK:
        _refuse(results, input)


def _bin_bound(extent: int, pooled: int, size: int) -> int:
    """About the most rows (or columns) a bin can hold, for sizing tiles only: a region whose
    scaled extent is `extent` spans at most extent + 2 once its corners are rounded, a bin about
    1/pooled of that plus 2 (the rounding of float16 products can add more)."""
    return max(1, min(size, (extent + 2) // pooled + 2))


def _tiles(channels: int, bins: int, height: int, width: int, max_block_c: int | None = None):
    """(BLOCK_C, BLOCK_B, BLOCK_Q): channels (max_block_c at most, default MAX_BLOCK_C), bins
    and pixels per bin of a tile of about TILE elements, for bins of at most height x width
    pixels; for SCAN, the pixels are the columns of a row that a step takes. PIXELS_FIRST: the
    pixel axis is sized for the largest bin as far as the tile allows, and the rest of the tile
    filled with bins; otherwise the other way round."""
    block_c = _floor_pow2(min(MAX_BLOCK_C if max_block_c is None else max_block_c,
                              _pow2(channels)))
    # A step of the scan takes SCAN_COLUMNS columns, or more where the bins leave room in the
    # tile (a 1x1 grid would otherwise walk a large region one pixel a step with one warp); a
    # gather, pixels of the whole bin.
    pixels, most = ((width, max(SCAN_COLUMNS, TILE // (block_c * _pow2(bins)))) if SCAN
                    else (height * width, MAX_BLOCK_Q))
    if PIXELS_FIRST:
        block_q = _floor_pow2(min(most, _pow2(pixels), max(1, TILE // block_c)))
        block_b = _floor_pow2(min(_pow2(bins), max(1, TILE // (block_c * block_q))))
    else:
        block_b = _floor_pow2(min(_pow2(bins), max(1, TILE // block_c)))
        block_q = _floor_pow2(min(most, _pow2(pixels), max(1, TILE // (block_c * block_b))))
    return block_c, block_b, block_q


def _floor_pow2(n: int) -> int:
    """Block sizes are powers of two (tl.arange), whatever the settings say."""
    return 1 << (n.bit_length() - 1)


def _warps(*block: int) -> int:
    return max(1, min(WARPS, math.prod(block) // 256))


def _laid_out(input: torch.Tensor):
    """(the input as the kernels read it, its strides)."""
    n, c, h, w = input.shape
    # (the grid's second and third axes hold at most 65535 programs: torch's copy beyond)
    if CHANNELS_LAST and COPY_KERNEL and input.is_contiguous() and \
            not input.is_contiguous(memory_format=torch.channels_last) and \
            max(n, _cdiv(c, 64)) < 65536:
        x = torch.empty_like(input, memory_format=torch.channels_last)
        _channels_last_kernel[(_cdiv(h * w, 64), _cdiv(c, 64), n)](
            input, x, c, h * w, BLOCK_P=64, BLOCK_C=64, num_warps=4)
        return x, x.stride()
    x = input.contiguous(memory_format=torch.channels_last if CHANNELS_LAST else
                         torch.contiguous_format)
    return x, x.stride()


def _gather_gradient(index: torch.Tensor, grad: torch.Tensor, size: int) -> torch.Tensor:
    """[size]: grad summed per flat index (-1: no gradient, as in torchvision), each index's
    terms in their order in `index`."""
    out = torch.zeros(size, dtype=grad.dtype, device=grad.device)
    if index.numel() == 0:
        return out
    keys, order = torch.sort(index, stable=True)
    _run_sum_kernel[(_cdiv(keys.numel(), RUN_BLOCK * RUN_CHUNK),)](
        keys, grad[order], out, keys.numel(), BLOCK=RUN_BLOCK, CHUNK=RUN_CHUNK,
        num_warps=_warps(RUN_BLOCK))
    return out


def _grid_plan_on(grids: tuple, device: torch.device) -> torch.Tensor:
    """The levels' (bin rows, bin columns, bins of the levels before) on the device, for
    `_level_tiles`."""
    before = itertools.accumulate((rows * cols for rows, cols in grids), initial=0)
    return _rows_on(tuple((rows, cols, o) for (rows, cols), o in zip(grids, before)), device)


def _tile_lists(rois, scale: int, grids: tuple, shape, dtype, block_h: int, block_w: int):
    """(start [N * tiles + 1], bin [entries], stride [entries]) for K > 0 regions: for each tile
    of block_h x block_w pixels (powers of two) of an input `shape` (image after image, tiles
    row-major), the outputs' bins that overlap it, in the outputs' order (level, region, bin
    row, bin column), as their offset in the outputs and the distance between their channels.
    Two kernels compute the regions' bin edges with the forward's arithmetic: one counts each
    (region, level)'s (bin, tile) pairs, the other writes them, level after level and region
    after region, where the counts' running sum places them; one stable sort by tile then groups
    them, each tile's in the order they were written. The counts' total sizes the pairs: one
    synchronisation."""
    (n, channels, h, w), k = shape, rois.shape[0]
    device = rois.device
    plan = _grid_plan_on(grids, device)
    tiles_h, tiles_w = _cdiv(h, block_h), _cdiv(w, block_w)
    launch = dict(EDGE=_EDGE[dtype][0], WIDE=_EDGE[dtype][1],
                  BLOCK_L=_pow2(max(max(g) for g in grids)), BLOCK_H=block_h, BLOCK_W=block_w,
                  num_warps=1, enable_fp_fusion=False)
    count = torch.empty(len(grids) * k, dtype=torch.int64, device=device)  # [levels, K]
    _pair_count_kernel[(k, len(grids))](rois, scale, plan, count, h, w, **launch)
    end = count.cumsum(0)
    pairs = int(end[-1])  # the synchronisation
    tile = torch.empty(pairs, dtype=torch.int64, device=device)
    bins = torch.empty(pairs, dtype=torch.int64, device=device)
    stride = torch.empty(pairs, dtype=torch.int32, device=device)
    _pairs_kernel[(k, len(grids))](
        rois, scale, plan, end - count, tile, bins, stride, channels, h, w,
        channels * sum(r * q for r, q in grids), tiles_h, tiles_w, **launch)
    tile, order = torch.sort(tile, stable=True)
    start = torch.searchsorted(tile, torch.arange(n * tiles_h * tiles_w + 1, device=device))
    return start, bins[order], stride[order]


def _tile_gradient(argmax: torch.Tensor, grad: torch.Tensor, rois: torch.Tensor, scale: int,
                   grids: tuple, shape, dtype: torch.dtype) -> torch.Tensor:
    """The input's gradient [N, C, H, W] by `_tile_gradient_kernel`, from the argmax and
    gradient, contiguous [K, ...] with rows of C * sum(rows * columns) for the levels' bin
    grids `grids`, in order; `dtype` is the forward input's, which sets the edges'."""
    n, c, h, w = shape
    if rois.shape[0] == 0 or math.prod(shape) == 0:
        return torch.zeros(shape, dtype=grad.dtype, device=grad.device)
    out = torch.empty(shape, dtype=grad.dtype, device=grad.device)
    block_h, block_w = _pow2(min(GRADIENT_TILE, h)), _pow2(min(GRADIENT_TILE, w))
    block_c = _pow2(min(GRADIENT_BLOCK_C, c))
    start, bins, stride = _tile_lists(rois, scale, grids, shape, dtype, block_h, block_w)
    tiles_w = _cdiv(w, block_w)
    tiles = _cdiv(h, block_h) * tiles_w
    _tile_gradient_kernel[(n * tiles, _cdiv(c, block_c))](
        argmax, grad, start, bins, stride, out, c, h, w, tiles_w, tiles, BLOCK_H=block_h,
        BLOCK_W=block_w, BLOCK_C=block_c, STAGES=GRADIENT_STAGES,
        num_warps=_warps(block_h, block_w, block_c))
    return out


def _terms_per_pixel(regions: int, grids: tuple, shape) -> float:
    """The gradient terms (regions x bins) per pixel of the input's images; 0 without pixels."""
    n, _, h, w = shape
    return regions * sum(ph * pw for ph, pw in grids) / (n * h * w) if n * h * w else 0.0


def _by_tiles(regions: int, grids: tuple, shape) -> bool:
    """Whether the backward goes by tiles (GRADIENT_TILES; where None, by the density of the
    gradient terms on the input; never without terms)."""
    if GRADIENT_TILES is not None:
        return GRADIENT_TILES
    density = _terms_per_pixel(regions, grids, shape)
    return density > 0 and density >= GRADIENT_TILES_FROM


def _save(ctx, argmax, rois, input, scale: int, grids: tuple) -> None:
    """What the backward needs; the boxes only for the backward by tiles, which the forward
    chooses (`_by_tiles`), so that boxes changed in place after a forward whose backward
    sorts go unnoticed as before."""
    if _by_tiles(rois.shape[0], grids, input.shape):
        ctx.save_for_backward(argmax, rois)
    else:
        ctx.save_for_backward(argmax)
    ctx.input_shape, ctx.dtype, ctx.scale, ctx.grids = input.shape, input.dtype, scale, grids


def _outputs(shape, launch: bool, input: torch.Tensor):
    """(output, argmax) of `shape`: left for a launch to write every element of, or, where
    nothing is launched (no region, no channel or an empty map: every bin empty), 0 and -1.
    The argmax is int32 where every flat index of the input fits: half the bytes to write, and
    to sort in the backward."""
    index = torch.int32 if input.numel() < INT32_INDEX_LIMIT else torch.int64
    if launch:
        return (torch.empty(shape, dtype=input.dtype, device=input.device),
                torch.empty(shape, dtype=index, device=input.device))
    return (torch.zeros(shape, dtype=input.dtype, device=input.device),
            torch.full(shape, -1, dtype=index, device=input.device))


def _grid(rois, groups: int, c_blocks: int, order) -> tuple:
    """(grid, order_ptr, ORDERED) of a pooling launch (`_program`): one axis in the regions'
    order, or two, where the order is None (the boxes then stand in for the pointer, unread)."""
    if order is not None:
        return (rois.shape[0] * groups * c_blocks,), order, True
    return (rois.shape[0] * groups, c_blocks), rois, False


def _pool_launch(x, strides, rois, scale: int, order, out, argmax, output_size, height: int,
                 width: int, row_len: int, row_off: int) -> None:
    """`_roi_pool_kernel` on the input `x` (laid out, with its strides) for regions at most
    height x width once scaled, in `order` (or None): each region's [C, PH, PW] outputs at
    row_off in its row of `out` and `argmax`, rows of row_len elements."""
    n, c, h, w = x.shape
    ph, pw = output_size
    block_c, block_b, block_q = _tiles(c, ph * pw, _bin_bound(height, ph, h),
                                       _bin_bound(width, pw, w))
    groups, c_blocks = _cdiv(ph * pw, block_b), _cdiv(c, block_c)
    grid, order_ptr, ordered = _grid(rois, groups, c_blocks, order)
    _roi_pool_kernel[grid](
        x, rois, scale, order_ptr, out, argmax, n, c, h, w, ph, pw, groups, c_blocks, row_len,
        row_off,
        *strides, **_constants(x.dtype), BLOCK_B=block_b, BLOCK_Q=block_q, BLOCK_C=block_c,
        SCAN=SCAN, UNROLL=UNROLL, STAGES=STAGES, ORDERED=ordered,
        num_warps=_warps(block_c, block_b, block_q), enable_fp_fusion=False)


class _RoIPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale):
        n, c, h, w = input.shape
        ph, pw = output_size
        k = rois.shape[0]
        with _checked(input, rois, spatial_scale) as (rois, scale, height, width, order):
            launch = k * c and h * w
            out, argmax = _outputs((k, c, ph, pw), launch, input)
            if launch:
                _pool_launch(*_laid_out(input), rois, scale, order, out, argmax, output_size,
                             height, width, c * ph * pw, 0)
        _save(ctx, argmax, rois, input, scale, (output_size,))
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        argmax, *rois = ctx.saved_tensors
        if rois:
            return (_tile_gradient(argmax, grad.contiguous(), *rois, ctx.scale, ctx.grids,
                                   ctx.input_shape, ctx.dtype), None, None, None)
        # The flat order of [K, C, PH, PW] is torchvision's loop order.
        flat = _gather_gradient(argmax.reshape(-1), grad.contiguous().reshape(-1),
                                math.prod(ctx.input_shape))
        return flat.view(ctx.input_shape), None, None, None


def _check_input(input: torch.Tensor) -> None:
    if input.dim() == 4 and input.shape[2] * input.shape[3] >= 2**31:
        raise ValueError(f"input maps of 2**31 pixels or more are not supported, "
                         f"got {input.shape[2]}x{input.shape[3]}")
    _check_runnable(input)


def _on(device: torch.device):
    """The input's GPU made the current one around the forward's launches: Triton launches on
    the current device's stream, whatever device the tensors are on. (Autograd runs a CUDA
    backward on its device's thread, with that device current.)"""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def roi_pool(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0):
    """Max-pool each region of `input` into an output_size grid: [K, C, PH, PW].

    Same signature, box formats, checks and result as `bench.ops.roi_pool`; see the module doc.
    """
    output_size = _pair(output_size, "output_size")
    spatial_scale = _check_scale(spatial_scale)
    rois = _boxes(input, boxes)
    _check_input(input)
    with _on(input.device):
        return _RoIPool.apply(input, rois, output_size, spatial_scale)


def _plan(levels):
    """(plan rows, index of the finest level): per level (level, offset of its bins in an
    output row, step), step finest // level where the level divides the finest one and may be
    derived from it (each region's edges decide in the kernel), else 0 (pooled from the input).
    The first occurrence of the finest level is pooled."""
    finest = max(levels)
    first_fine = levels.index(finest)
    plan, offset = [], 0
    for d, level in enumerate(levels):
        step = finest // level if d != first_fine and finest % level == 0 else 0
        plan.append((level, offset, step))
        offset += level * level
    return plan, first_fine


def _pyramid_apart(x, strides, rois, scale: int, order, out, argmax, plan, first_fine: int,
                   height: int, width: int) -> None:
    """PYRAMID_APART: each level of the pyramid in a launch of its own, the finest first. A level
    pooled from the input goes to roi_pool's kernel (`_pool_launch`: programs spread over groups
    of bins); one that may derive from the finest, to the pyramid kernel with a plan of the
    finest and that level (FIRST 1: the finest is done) and tiles sized for it, all of a
    channel block's coarse bins and their fine bins in one step where they fit in TILE (its
    fallback, pooling regions whose edges do not allow the derivation, gets tiles of that level
    and of the same channels)."""
    _, c, h, w = x.shape
    rows = _finest_first(plan, first_fine)
    for row in rows:
        level, offset, step = row
        if step == 0:
            _pool_launch(x, strides, rois, scale, order, out, argmax, (level, level), height,
                         width, out.shape[1], c * offset)
            continue
        block_f, block_d = _pow2(step * step), _pow2(level * level)
        # channels: what the level's bins leave of the tile, 16 at least (a grid axis holds
        # 65535 blocks of them); then the bins, to what the channels leave (the kernel's loops
        # take the rest)
        block_c = _floor_pow2(min(PYRAMID_BLOCK_C, _pow2(c),
                                  max(16, TILE // (block_f * block_d))))
        block_f = _floor_pow2(min(block_f, max(1, TILE // block_c)))
        block_d = _floor_pow2(min(block_d, max(1, TILE // (block_c * block_f))))
        _, block_b, block_q = _tiles(block_c, level * level, _bin_bound(height, level, h),
                                     _bin_bound(width, level, w), block_c)
        _spp_launch(x, strides, rois, scale, order, out, argmax, (rows[0], row),
                    (block_b, block_q, block_d, block_f, block_c), level, derived=True, first=1)


def _finest_first(plan, first_fine: int) -> tuple:
    """The plan's rows in the order the kernels take them: the finest level first (the others
    may derive from it), then the others in the plan's order."""
    return (plan[first_fine], *plan[:first_fine], *plan[first_fine + 1:])


def _spp_launch(x, strides, rois, scale: int, order, out, argmax, rows: tuple, blocks: tuple,
                largest: int, derived: bool, first: int) -> None:
    """`_roi_spp_kernel` on the input `x` (laid out, with its strides) over the plan `rows`, the
    finest level's first, from row `first` on; tiles `blocks` = (BLOCK_B, BLOCK_Q, BLOCK_D,
    BLOCK_F, BLOCK_C), `largest` the largest level of the rows taken."""
    n, c, h, w = x.shape
    block_b, block_q, block_d, block_f, block_c = blocks
    c_blocks = _cdiv(c, block_c)
    grid, order_ptr, ordered = _grid(rois, 1, c_blocks, order)
    _roi_spp_kernel[grid](
        x, rois, scale, order_ptr, _rows_on(rows, x.device), out, argmax, len(rows),
        out.shape[1], n, c, h, w, c_blocks, *strides, rows[0][0], c * rows[0][1],
        **_constants(x.dtype), BLOCK_B=block_b, BLOCK_Q=block_q, BLOCK_D=block_d,
        BLOCK_F=block_f, BLOCK_C=block_c, BLOCK_L=_pow2(largest), DERIVED=derived, SCAN=SCAN,
        UNROLL=UNROLL, STAGES=STAGES, FIRST=first, ORDERED=ordered, BY_CHANNEL=DERIVE_BY_CHANNEL,
        num_warps=_warps(block_c, max(block_b * block_q, block_d * block_f)),
        enable_fp_fusion=False)


def _pyramid_tiles(shape, levels, plan, height: int, width: int) -> tuple:
    """(BLOCK_B, BLOCK_Q, BLOCK_D, BLOCK_F, BLOCK_C) of the pyramid in one launch, for regions
    at most height x width once scaled. Tiles sized for the levels pooled from the input. A
    region whose edges do not allow a derivation pools the level from the input with these tiles
    too: where the tile has room (the interpreter's; on a GPU, few channels), a scan's steps may
    take as many columns as the coarsest level's bins have. On a GPU with many channels such a
    level still goes one column a step, with few of the tile's bin lanes busy."""
    _, c, h, w = shape
    pooled = [level for level, _, step in plan if step == 0]
    coarsest = min(levels) if SCAN else min(pooled)
    block_c, block_b, block_q = _tiles(
        c, max(level * level for level in pooled),
        _bin_bound(height, coarsest, h), _bin_bound(width, coarsest, w), PYRAMID_BLOCK_C)
    steps = [step for *_, step in plan if step > 0]
    block_f = _floor_pow2(min(_pow2(max(steps, default=1) ** 2), max(1, TILE // block_c)))
    block_d = _floor_pow2(min(_pow2(max((max(levels) // step) ** 2 for step in steps)
                                    if steps else 1), max(1, TILE // (block_c * block_f))))
    return block_b, block_q, block_d, block_f, block_c


class _RoISPP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, rois, levels, spatial_scale):
        n, c, h, w = input.shape
        k = rois.shape[0]
        plan, first_fine = _plan(levels)
        launch = k * c and h * w
        out, argmax = _outputs((k, c * sum(level * level for level in levels)), launch, input)
        with _checked(input, rois, spatial_scale) as (rois, scale, height, width, order):
            if launch and PYRAMID_APART:
                _pyramid_apart(*_laid_out(input), rois, scale, order, out, argmax, plan, first_fine,
                               height, width)
            elif launch:
                _spp_launch(*_laid_out(input), rois, scale, order, out, argmax,
                            _finest_first(plan, first_fine),
                            _pyramid_tiles(input.shape, levels, plan, height, width), max(levels),
                            derived=any(step > 0 for *_, step in plan), first=0)
        _save(ctx, argmax, rois, input, scale, tuple((level, level) for level in levels))
        ctx.spans = [(c * offset, c * level * level) for level, offset, _ in plan]
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        argmax, *rois = ctx.saved_tensors
        grad = grad.contiguous()
        if rois:
            return (_tile_gradient(argmax, grad, *rois, ctx.scale, ctx.grids, ctx.input_shape,
                                   ctx.dtype), None, None, None)
        # Level by level, then the roi_pool order within a level: the order in which
        # bench.ops.roi_spp adds the levels' contributions.
        index = torch.cat([argmax[:, a:a + n].reshape(-1) for a, n in ctx.spans])
        values = torch.cat([grad[:, a:a + n].reshape(-1) for a, n in ctx.spans])
        flat = _gather_gradient(index, values, math.prod(ctx.input_shape))
        return flat.view(ctx.input_shape), None, None, None


def roi_spp(input: torch.Tensor, boxes, levels: Sequence[int] = (6, 3, 2, 1),
            spatial_scale: float = 1.0) -> torch.Tensor:
    """Spatial pyramid pooling of each region: [K, C * sum(l*l)], equal to `roi_pool` at each
    level, flattened and concatenated in the given order (as `bench.ops.roi_spp`)."""
    levels = _check_levels(levels)
    spatial_scale = _check_scale(spatial_scale)
    rois = _boxes(input, boxes)
    _check_input(input)
    with _on(input.device):
        return _RoISPP.apply(input, rois, levels, spatial_scale)
