"""RoI pooling (Fast R-CNN) and spatial pyramid pooling (SPP-net), vectorised over regions.

`roi_pool` reproduces torchvision's kernel exactly (see ROI_POOL_SEMANTICS): bin edges computed in
the input's dtype, C-style rounding of the scaled box, an empty bin gives 0, NaN never wins, a bin
with nothing above -FLT_MAX gives -FLT_MAX, and the first maximum in row-major order wins ties.
Where torchvision does not support a dtype (bfloat16), bin edges are computed in float32, so the
result equals our float32 result on the same rounded inputs.

How. Bins are sorted by their number of pixels and pooled a block at a time (about
BLOCK_ELEMENTS gathered values, so memory follows the block, not the number of pairs: a
10000x10000 grid on an 8x8 map needs little more than its output). A block's bins are padded to
its largest by repeating their last pixel, their pixels gathered as rows of channels from a
channels-last copy of the input, and `amax` over each bin's rows gives its maximum. When a
gradient will be needed (or a maximum of 0 may have either sign), max pooling over a
channels-last view of the block gives the maximum and the first pair holding it in one pass
(its kernel compares strictly: the first maximum wins, as in torchvision); an `amax` and a search
for the first pair holding it (a comparison, an addition, an `amin`) took 2.3 to 3 times as long.
The forward keeps, as torchvision does, the winner of every (region, bin, channel), numbered the
way the backward will add into it. The backward sums each input element's terms in the order of
torchvision's loop over (k, c, ph, pw), so the gradient is bit-equal to torchvision's CPU
gradient and deterministic: where the outputs are twice the input's pixels or more, by
`scatter_add_` into rows of channels (on the CPU it shares the channels among threads and loops
over the outputs in order within each), otherwise by one loop over the outputs into the
flattened input, whose indices the forward computed.
The channels-last copy is the input itself when the input is channels-last; NaN is looked for in
the maxima, -0.0 in the gathered blocks or, where the bins' pixels are at least the map's, in
the map.

Measured in one `make bench` run (the committed CPU example: 2-core Xeon VM, 2 threads, fp32,
glibc told to keep freed memory as `python -m bench run` does), ours / torchvision timed side by
side in alternating blocks, forward; forward+backward:

    small r16 o7 1.11; 1.23      small r128 o7 0.46; 0.78     small r512 o7 0.35; 0.77
    small r512 o14 0.31; 0.62    vgg16-conv5 r128 0.32; 0.57  vgg16-conv5 r512 0.21; 0.55
    fpn-p2 r64 0.63; 0.76        pyramid small r128 0.35; 0.62  pyramid small r512 0.24; 0.47

(pyramid: against roi_pool per level). Before the winners came from max pooling, three runs
gave 0.94-1.07 at small r128 forward+backward and 0.81-1.11 at vgg16-conv5 r128. On small r128
the forward with winners now takes 1.5 times as long as without (16.7 against 10.9 ms, medians
of 31 interleaved rounds), where the search took it to 1.8 times; the backward alone 6.7 ms
in the same rounds.
Measured and not taken: blocks of 2**18 gathered values took 1.05-1.44 times as long (more
blocks, each with its fixed costs), 2**21 0.89-0.96 at 512 regions but 1.04-1.08 at small
r128; torch.compile (Inductor's C++, torch 2.14.1) fused `amax` and the search into 0.28-0.33
ms per block of 2**20 against 0.58-0.78 eagerly, but its first call compiled for 25 s (in every
process, and again per dtype), and with the gather fused too a block took 2.2-17.9 ms against
0.8-0.95; writing each block's results to their bins' places by `index_copy_` (no reordering
at the end) took 1.01-1.09 times as long forward, for a lower peak (at small r512 o14
forward+backward, with int64 winners, 427 MB above the start against 620; with the int32
winners kept, 503; torchvision 300). The small cases pay fixed
costs (sorting and padding the bins): against the version before the blocks, small r16 took
1.01 to 1.10 times its time forward and 1.06 to 1.08 forward+backward (interleaved, three runs
of 15 pairs).
On fpn-p2 the channels-last copy of the 111 MB map is most of the forward (41% with winners,
before they came from max pooling; 31 ms, against 33 by
`contiguous(memory_format=torch.channels_last)` and 61 by one 2-D
transpose per image); without glibc keeping freed memory each fresh allocation there costs
about 0.25 ms per MB in page faults on this VM.
A 10000x10000 grid on an 8x8 map (bins narrower than a pixel: each distinct pair of row and
column spans pooled once, then spread by two gathers): 0.13 to 0.15 s and 0.40 GB above the
process's start, torchvision 1.06 to 1.08 s and 0.78 GB (two runs each, one process each, 2-core
VM; enumerating every bin took 3 to 5 s, and at first 25 s and 10 GB).
"""

import bisect
import contextlib
import functools
import math
import numbers
import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F

FLT_MAX = torch.finfo(torch.float32).max
# Gathered values (padded pairs x channels) per block on the CPU: 4 MiB of float32, so that the
# block stays in cache while it is reduced. On CUDA a block holds as many padded pairs as the
# bins have pairs in all, up to CUDA_BLOCK_ELEMENTS values: PyTorch's CUDA max pooling computes
# its offsets in 32-bit ints.
BLOCK_ELEMENTS = 2**20
CUDA_BLOCK_ELEMENTS = 2**31 - 1
# Inputs of fewer elements keep their winners' flat indices in int32 (half the bytes), larger
# ones in int64.
INT32_INDEX_LIMIT = 2**31 - 1
# Scaled coordinates beyond this make torchvision's int32 arithmetic overflow; we refuse them.
COORD_LIMIT = 2**28
FLOATING = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _show(value) -> str:
    """repr on one line, shortened."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _pair(size, name: str) -> tuple[int, int]:
    """A positive int (Python, numpy, or an integer tensor of one element) or a pair of them."""
    try:
        pair = (operator.index(size),) * 2
    except (TypeError, RuntimeError):  # RuntimeError: a tensor without values (on "meta")
        try:
            pair = tuple(operator.index(v) for v in size)
        except (TypeError, ValueError, RuntimeError):
            pair = ()
    if len(pair) != 2 or min(pair) <= 0:
        raise ValueError(f"{name} must be a positive int or a pair of them, got {_show(size)}")
    return pair


def _boxes(input: torch.Tensor, boxes) -> torch.Tensor:
    """Boxes as a [K, 5] tensor (batch index, x1, y1, x2, y2) in the input's dtype and on its
    device, their form checked (not their values: no synchronisation)."""
    if not isinstance(input, torch.Tensor) or input.dim() != 4:
        shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input).__name__
        raise ValueError(f"input must be [N, C, H, W], got shape {shape}")
    if input.dtype not in FLOATING:
        raise ValueError(f"input dtype {input.dtype} is not supported; use float16, bfloat16, "
                         "float32 or float64")
    if isinstance(boxes, list | tuple):
        for b in boxes:
            if not isinstance(b, torch.Tensor) or b.dim() != 2 or b.shape[1] != 4:
                raise ValueError("boxes as a list must hold one Tensor[L, 4] per image")
        if len(boxes) != input.shape[0]:
            raise ValueError(f"boxes lists {len(boxes)} images, input has {input.shape[0]}")
        index = torch.cat([torch.full((len(b), 1), i, dtype=b.dtype, device=b.device)
                           for i, b in enumerate(boxes)]) if boxes else torch.empty(0, 1)
        boxes = torch.cat([index, torch.cat(list(boxes))], dim=1) if boxes else \
            torch.empty(0, 5, dtype=input.dtype, device=input.device)
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[1] != 5:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"boxes must be Tensor[K, 5] or a list of Tensor[L, 4], got {shape}")
    if boxes.dtype != input.dtype:
        raise ValueError(f"boxes must have the input's dtype {input.dtype}, got {boxes.dtype}")
    if boxes.device != input.device:
        raise ValueError(f"boxes must be on the input's device {input.device}, "
                         f"got {boxes.device}")
    return boxes


# What is wrong with boxes, in the order checked: non-finite values, a batch index outside the
# input, coordinates that overflow torchvision's bin arithmetic once scaled.
NON_FINITE = "boxes hold a non-finite coordinate or batch index"
OUTSIDE = "boxes hold a batch index outside [0, {images})"
TOO_LARGE = (f"box coordinates times spatial_scale must lie within ±{COORD_LIMIT}; "
             "beyond that torchvision's int32 bin arithmetic overflows")
# A float16 region this many pixels long (once scaled and rounded) has an infinite bin size.
HALF_SPAN_LIMIT = 65520
HALF_TOO_WIDE = (f"float16 boxes {HALF_SPAN_LIMIT} or more pixels wide or high (once scaled) "
                 "overflow float16's bin arithmetic; use float32")


def _rois(input: torch.Tensor, boxes) -> torch.Tensor:
    """`_boxes`, with their values checked too (but for the coordinate limit: `bin_edges`)."""
    boxes = _boxes(input, boxes)
    if not torch.isfinite(boxes).all():
        raise ValueError(NON_FINITE)
    batch = boxes[:, 0].trunc()
    if ((batch < 0) | (batch >= input.shape[0])).any():
        raise ValueError(OUTSIDE.format(images=input.shape[0]))
    return boxes


def _check_scale(spatial_scale) -> float:
    """A positive finite real: Python or numpy number, or a real tensor of one element."""
    value = math.nan
    if isinstance(spatial_scale, torch.Tensor):
        if spatial_scale.numel() == 1 and not spatial_scale.is_complex():
            value = float(spatial_scale)
    elif isinstance(spatial_scale, numbers.Real):
        value = float(spatial_scale)
    if not (math.isfinite(value) and value > 0):
        raise ValueError("spatial_scale must be a positive finite number, "
                         f"got {_show(spatial_scale)}")
    return value


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's round() as an int64: half away from zero. Not trunc(x + copysign(0.5, x)): in float64
    that sum rounds (0.49999999999999994 + 0.5 is 1.0); the distance to the truncation is exact."""
    x = x.double()
    whole = x.trunc()
    return (whole + ((x - whole).abs() >= 0.5) * x.sign()).long()


def bin_edges(rois: torch.Tensor, output_size, spatial_scale: float, height: int, width: int):
    """(batch [K], rows [K, PH, 2], cols [K, PW, 2]): each bin's [start, end) after clipping,
    computed with torchvision's arithmetic in the rois' dtype (float32 for bfloat16)."""
    ph, pw = output_size
    dtype = torch.float32 if rois.dtype == torch.bfloat16 else rois.dtype
    rois = rois.to(dtype)
    # The scale becomes the dtype first, and divisions are by tensors: on CUDA a Python scalar
    # divisor turns into a multiplication by its reciprocal, which rounds differently.
    scale = torch.tensor(spatial_scale, dtype=dtype, device=rois.device)
    scaled = rois[:, 1:] * scale
    # compared in float64: COORD_LIMIT is inf in float16, and so is an overflowed product
    if (scaled.double().abs() > COORD_LIMIT).any():
        raise ValueError(TOO_LARGE)
    x1, y1, x2, y2 = _round_half_away(scaled).unbind(1)
    if dtype == torch.float16 and rois.shape[0] and \
            max(int((x2 - x1).max()), int((y2 - y1).max())) + 1 >= HALF_SPAN_LIMIT:
        raise ValueError(HALF_TOO_WIDE)

    def edges(start, end, pooled, size):
        length = (end - start + 1).clamp(min=1).to(dtype)
        bin_size = length / torch.tensor(pooled, dtype=dtype, device=rois.device)
        p = torch.arange(pooled + 1, dtype=dtype, device=rois.device)
        products = p[None, :] * bin_size[:, None]
        lo = products[:, :-1].floor().long() + start[:, None]
        hi = products[:, 1:].ceil().long() + start[:, None]
        return torch.stack([lo, hi], dim=-1).clamp(0, size)

    return rois[:, 0].long(), edges(y1, y2, ph, height), edges(x1, x2, pw, width)


def _runs(areas: list[int], start: int, budget: int):
    """(first, last) ranges of consecutive bins, `areas` sorted ascending from `start` on, whose
    block (its bins times the largest area among them) holds at most `budget` pairs, or one bin."""
    i, n = start, len(areas)
    while i < n:
        step = max(1, bisect.bisect_right(range(i + 1, n + 1), budget,
                                          key=lambda j, i=i: (j - i) * areas[j - 1]))
        yield i, i + step
        i += step


def _has_negative_zero(t: torch.Tensor) -> bool:
    """Whether t holds a -0.0: its bits are the most negative integer of the same width."""
    bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    return t.numel() > 0 and bool(t.view(bits).min() == torch.iinfo(bits).min)


def _first_winner(values, top, labels, dims):
    """The least of `labels` (floats holding integers exactly) over `dims` (a tuple) among the
    elements of `values` holding their group's maximum `top` (NaN taken out; both broadcast
    against `values`), as int64: the least of label + 2**62 * (value != top). In floats because
    `amin` over these dimensions took 0.45 ms in float32 here, 1.3 in float64, 182 in int64."""
    key = torch.ne(values, top, out=torch.empty_like(labels))
    key = torch.add(labels, key, alpha=2.0**62, out=key)
    for dim in sorted(dims, reverse=True):  # one at a time: see _derived_levels
        key = key.amin(dim)
    return key.long()


def _maxima(values, positions: bool, out):
    """The maxima [B, C] over the S pairs of values [B, S, C], with the position of the first
    pair holding each where `positions` (else None). The positions come from max pooling a
    channels-last view, whose kernel compares strictly, in one pass vectorised along the
    channels (a NaN wins there: the caller takes them out). On this machine, for blocks of 2**20
    values of four shapes, `amax` then a search for the first pair holding the maximum (a
    comparison, an addition, an `amin`) took 2.3 to 3 times as long, and `argmax` 33 times as
    long as `amax`. Without positions `amax` writes into `out`: it takes 0.6 times as long as
    the pooling."""
    if not positions:
        return torch.amax(values, 1, out=out), None
    b, s, c = values.shape
    top, first = F.max_pool2d(values.view(b, 1, s, c).permute(0, 3, 1, 2), (1, s),
                              return_indices=True)
    return top.view(b, c), first.view(b, c)


def _distinct(edges: torch.Tensor):
    """(spans [K, U, 2], index [K, P] of each bin's span in them, U): the distinct [start, end)
    spans of each region's bins along one axis. Bins narrower than a pixel repeat spans, and a
    region's spans do not decrease from bin to bin, so the repeats are consecutive. Spans past a
    region's own count are [0, 0): empty, never referred to."""
    k, p = edges.shape[:2]
    if not (k and p):
        return edges, torch.zeros(k, p, dtype=torch.long, device=edges.device), p
    new = torch.ones(k, p, dtype=torch.bool, device=edges.device)
    new[:, 1:] = (edges[:, 1:] != edges[:, :-1]).any(-1)
    index = new.long().cumsum(1) - 1
    spans = edges.new_zeros(k, int(index[:, -1].max()) + 1, 2)
    first = new.nonzero(as_tuple=True)  # each span's first bin: distinct (region, span) pairs
    spans[first[0], index[first]] = edges[first]
    return spans, index, spans.shape[1]


def _spread(t: torch.Tensor, row_of: torch.Tensor, col_of: torch.Tensor) -> torch.Tensor:
    """[K, PH, PW, C] from [K, U, V, C]: each bin takes the result of its row and column span.
    Gathered channels first, along the last dimension (along dimension 2 of [K, PH, V, C] with
    one channel, 10000x10000 bins took 0.5 s), and returned as a view in rows of channels."""
    t = t.permute(0, 3, 1, 2)
    k, c, _, v = t.shape
    ph, pw = row_of.shape[1], col_of.shape[1]
    t = t.gather(2, row_of[:, None, :, None].expand(k, c, ph, v))
    return t.gather(3, col_of[:, None, None, :].expand(k, c, ph, pw)).permute(0, 2, 3, 1)


def _held(input, winners, flat):
    """The elements of the input that winners (as _pool gives them; 0 where none) point to,
    in the winners' shape."""
    index = (winners.long() - 1).clamp_(min=0)
    if flat:  # torch.take indexes the input as if it were contiguous, whatever its strides
        return torch.take(input, index)
    pixels = input.permute(0, 2, 3, 1).reshape(-1, input.shape[1])
    return pixels.gather(0, index.view(-1, input.shape[1])).view(index.shape)


def _pool(input, rois, output_size, spatial_scale, winners=False, edges=None, flat=False):
    """Forward of roi_pool, in rows of channels: (output [K, PH, PW, C], winners of the same
    shape or None). winners (int32 where that holds them, else int64): 1 + the element (in the
    output's channel) each output took its value from, or 0 where none did (an empty bin, or
    nothing above -FLT_MAX): there torchvision sends no gradient back either. The element is
    numbered as the gradient will add into it (`_gradient_by_flat_index`): its index in the
    flattened input when `flat`, else image * H*W + row * W + col, its row in the input's rows
    of channels. `edges`: bin_edges' result for these arguments, when already known.

    Where bins are narrower than a pixel (a grid far finer than the region), most of them repeat
    a span of rows and a span of columns: each distinct pair of spans is pooled once and its
    result spread to the bins that share it (a 10000x10000 grid on an 8x8 map pools 17x17
    bins, then gathers)."""
    h, w = input.shape[2:]
    batch, rows, cols = edges or bin_edges(rois, output_size, spatial_scale, h, w)
    row_spans, row_of, u = _distinct(rows)
    col_spans, col_of, v = _distinct(cols)
    if 4 * u * v > output_size[0] * output_size[1]:
        return _pool_bins(input, rois, output_size, (batch, rows, cols), winners, flat)
    out, won = _pool_bins(input, rois, (u, v), (batch, row_spans, col_spans), winners, flat)
    return _spread(out, row_of, col_of), (_spread(won, row_of, col_of) if winners else None)


def _pool_bins(input, rois, output_size, edges, winners, flat):
    """_pool for every bin on its own."""
    n, c, h, w = input.shape
    ph, pw = output_size
    batch, rows, cols = edges
    k = rois.shape[0]
    heights = (rows[..., 1] - rows[..., 0]).clamp(min=0).reshape(-1)  # [K * PH]
    widths = (cols[..., 1] - cols[..., 0]).clamp(min=0).reshape(-1)  # [K * PW]
    areas = (heights.view(k, ph, 1) * widths.view(k, 1, pw)).reshape(-1)  # bins, (k, ph, pw)
    total = int(areas.sum()) if areas.numel() else 0
    flat = flat and winners
    # Winners as int32 where that holds them: it halves their bytes; the gradient widens them.
    index_type = torch.int32 if n * c * h * w < INT32_INDEX_LIMIT else torch.long
    if not (total and c):
        out = input.new_zeros(k, ph, pw, c)
        return out, torch.zeros(out.shape, dtype=index_type, device=input.device) \
            if winners else None
    # Rows of channels: a view when the input is channels-last, else a copy where the bins hold
    # as many pixels as the map or more. Of one NCHW image, `reshape` gives a view whose channels
    # lie H*W apart, slow to gather from (the forward took 1.96 to 2.62 times as long at 512
    # regions on 256x50x50 and 512x38x50, 1.5 and 2.0 times at 128 and 256 on the FPN map),
    # but faster than copying the map for a few regions (16 regions of about 2% of the FPN
    # map: 1.7 ms against 8.9 with the copy). Medians of 21 calls interleaved, 2-core EPYC VM.
    laid = input.permute(0, 2, 3, 1)
    pixels = (laid.contiguous() if total >= n * h * w else laid).reshape(-1, c)
    # -0.0 is looked for in the whole map when that costs less than in every gathered block.
    negative_zero = _has_negative_zero(input) if total >= n * h * w else None
    floor = torch.tensor(-FLT_MAX, dtype=input.dtype, device=input.device)  # -inf in float16
    # Bins by their number of pixels, so that a block pads few of them to its largest.
    order = areas.argsort()
    areas_sorted = areas[order]
    sorted_areas = areas_sorted.tolist()
    empty = bisect.bisect_right(sorted_areas, 0)  # first: they give 0, and no winner
    out = input.new_empty(len(sorted_areas), c)
    out[:empty] = 0
    won = out.new_empty(out.shape, dtype=index_type) if winners else None
    if winners:
        won[:empty] = 0
    budget = max(1, BLOCK_ELEMENTS // c) if input.device.type == "cpu" else \
        min(total, max(1, CUDA_BLOCK_ELEMENTS // c))
    gathered = out.new_empty(max(budget, max(sorted_areas)) * c)
    # Per bin, in sorted order: its width and its first pixel's row in the rows of channels.
    sorted_widths = widths.view(k, 1, pw).expand(k, ph, pw).reshape(-1)[order]
    first_pixel = ((batch[:, None, None] * h + rows[:, :, None, 0]) * w
                   + cols[:, None, :, 0]).reshape(-1)[order]
    # Winners are numbered from 1 by their row; flat ones by their index in the input: their
    # image's other channels before it, their own channel's offset added after.
    label = first_pixel + 1
    if flat:
        label += batch.repeat_interleave(ph * pw)[order] * ((c - 1) * h * w)
        channels = torch.arange(c, dtype=index_type, device=input.device) * (h * w)
    for i0, i1 in _runs(sorted_areas, empty, budget):
        s = sorted_areas[i1 - 1]
        # A bin's pairs in row-major order, then its last pixel again up to s: a repeat cannot
        # change the maximum, nor which pair holds it first.
        q = torch.minimum(torch.arange(s, device=input.device), areas_sorted[i0:i1, None] - 1)
        bin_width = sorted_widths[i0:i1, None]
        step = q // bin_width * w + q % bin_width
        size = (i1 - i0) * s * c
        values = torch.index_select(pixels, 0, (first_pixel[i0:i1, None] + step).view(-1),
                                    out=gathered[:size].view(-1, c)).view(-1, s, c)
        zero = negative_zero if negative_zero is not None else _has_negative_zero(values)
        # The first pair holding the maximum where the gradient needs it, or where the sign of
        # a 0 maximum depends on it.
        search = winners or zero
        top, first = _maxima(values, search, out[i0:i1])
        low = top.min()
        if low.isnan():  # a bin holding NaN got NaN: NaN never wins, take it out
            values.masked_fill_(values.isnan(), -math.inf)
            top, first = _maxima(values, search, out[i0:i1])
            low = top.min()
        below = bool(low <= floor)  # nothing above -FLT_MAX: -FLT_MAX, and no winner
        if below:
            top.clamp_(min=floor)
        if search:
            out[i0:i1] = top
        if winners:
            first = torch.gather((label[i0:i1, None] + step).to(index_type), 1, first,
                                 out=won[i0:i1])
            if flat:
                first += channels
            if below:
                first.masked_fill_(top <= floor, 0)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order), device=input.device)
    out = out.index_select(0, inverse).view(k, ph, pw, c)  # the sorted one freed before the next
    return out, won.index_select(0, inverse).view(k, ph, pw, c) if winners else None


@contextlib.contextmanager
def _deterministic_on_cuda(device: torch.device):
    """Deterministic algorithms on CUDA (index_add_ and scatter_add_ then sort first, stably),
    only around the accumulation: switched on, they also fill every new tensor."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    if device.type != "cuda" or deterministic:
        yield
        return
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(False)


def _gradient_by_flat_index(shape, outputs: int, dtype) -> bool:
    """Whether the input's gradient is summed into the flattened input (True) or by scatter_add_
    into rows of channels: `outputs` values go back per channel. One answer for the
    forward, which numbers the winners for it, and the backward.

    scatter_add_ into rows on the CPU shares the channels among threads and loops over the
    outputs in order within each, then the map is transposed; the flat sum is one loop over the
    outputs. Measured here (2-core VM, fp32, both paths interleaved, the backward alone): flat
    took 7.8 against 8.9 ms at 1.25 outputs per pixel (small r128), 16.1 against 19.0 at 1.65
    (vgg16 r128); rows 27.4 against 30.6 ms at 5 (small r512), 53.5 against 57.8 at 6.6 (vgg16
    r512). float16 and bfloat16 always take the flat sum by index_add_: scatter_add_'s sums of
    them differ from torchvision's, which rounds every addition."""
    n, _, h, w = shape
    return outputs < 2 * n * h * w or dtype in (torch.float16, torch.bfloat16)


def _scatter_grad(shape, parts, flat, dtype, device):
    """The input's gradient: for each (winners [K, PH, PW, C] as _pool gives them, gradient
    [K, C, PH, PW]) part in turn, each output's gradient added into its winner, outputs in
    (k, ph, pw) order within a channel: the order of torchvision's loop for every input element,
    so the sums are bit-equal to its CPU gradient and do not depend on threads. `flat`: as
    _gradient_by_flat_index says, and as the winners were numbered."""
    n, c, h, w = shape
    if flat:
        total = torch.zeros(1 + n * c * h * w, dtype=dtype, device=device)  # 0: no winner
        indices = [torch.empty(grad.shape, dtype=torch.long, device=device).copy_(
            winners.permute(0, 3, 1, 2)).view(-1) for winners, grad in parts]
        # Both are one loop over the outputs in order on the CPU, where scatter_add_ took 0.7
        # times as long; but its sums of float16 and bfloat16 differ (_gradient_by_flat_index).
        add = total.scatter_add_ if device.type == "cpu" and dtype in (
            torch.float32, torch.float64) else total.index_add_
        with _deterministic_on_cuda(device):
            for index, (_, grad) in zip(indices, parts):
                add(0, index, grad.reshape(-1))
        return total[1:].view(shape)
    rows = torch.zeros(1 + n * h * w, c, dtype=dtype, device=device)  # row 0: no winner
    with _deterministic_on_cuda(device):
        for winners, grad in parts:
            rows.scatter_add_(0, winners.flatten(0, 2).long(),
                              grad.permute(0, 2, 3, 1).flatten(0, 2))
    return rows[1:].view(n, h, w, c).permute(0, 3, 1, 2).contiguous()


class _RoIPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale):
        ctx.flat = _gradient_by_flat_index(input.shape, rois.shape[0] * math.prod(output_size),
                                           input.dtype)
        out, winners = _pool(input, rois, output_size, spatial_scale, ctx.needs_input_grad[0],
                             flat=ctx.flat)
        ctx.save_for_backward(winners)
        ctx.input_shape = input.shape
        return out.permute(0, 3, 1, 2).contiguous()

    @staticmethod
    def backward(ctx, grad):
        (winners,) = ctx.saved_tensors
        return (_scatter_grad(ctx.input_shape, [(winners, grad)], ctx.flat, grad.dtype,
                              grad.device), None, None, None)


@functools.cache  # a failed import is not retried on every call
def triton_kernels():
    """bench.ops.roi_triton where Triton can be imported, else None."""
    try:
        from bench.ops import roi_triton
    except ImportError:
        return None
    return roi_triton


def roi_pool(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0):
    """Max-pool each region of `input` into an output_size grid: [K, C, PH, PW].

    Same signature, box formats and result as `torchvision.ops.roi_pool`; see the module doc.
    On CUDA the Triton kernels of `bench.ops.roi_triton` compute it where Triton is installed,
    and `roi_pool_torch` otherwise.
    """
    if isinstance(input, torch.Tensor) and input.device.type == "cuda" \
            and (kernels := triton_kernels()):
        return kernels.roi_pool(input, boxes, output_size, spatial_scale)
    return roi_pool_torch(input, boxes, output_size, spatial_scale)


def roi_pool_torch(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0):
    """`roi_pool` by the PyTorch operations of this module, on any device."""
    output_size = _pair(output_size, "output_size")
    spatial_scale = _check_scale(spatial_scale)
    rois = _rois(input, boxes)
    return _RoIPool.apply(input, rois, output_size, spatial_scale)


def _check_levels(levels) -> tuple[int, ...]:
    """A sequence of positive ints. A single int is refused: it could mean one level or a
    pyramid of that many."""
    single = isinstance(levels, numbers.Integral | str) or (
        isinstance(levels, torch.Tensor) and levels.dim() == 0)
    try:
        items = list(levels) if not single else None
    except TypeError:
        items = None
    if items is None:
        raise ValueError("levels must be a sequence of positive ints such as (6, 3, 2, 1), "
                         f"got {_show(levels)}")
    if not items:
        raise ValueError("levels must name at least one pyramid level")
    try:
        checked = tuple(operator.index(level) for level in items)
    except TypeError:
        checked = (0,)
    if min(checked) <= 0:
        raise ValueError(f"levels must be positive ints, got {_show(levels)}")
    return checked


def roi_spp(input: torch.Tensor, boxes, levels: Sequence[int] = (6, 3, 2, 1),
            spatial_scale: float = 1.0) -> torch.Tensor:
    """Spatial pyramid pooling of each region: [K, C * sum(l*l)], equal to `roi_pool` at each
    level, flattened and concatenated in the given order.

    When every level divides the finest one, the regions are pooled once at the finest level and
    the coarser levels are the maxima over blocks of its bins (a coarse bin is exactly the union
    of its block, even for regions partly outside the map; empty fine bins are left out), their
    winners the first of the block's winners that hold the maximum. Levels whose bin edges are
    not such unions for some region are pooled directly. On CUDA, as `roi_pool`.
    """
    if isinstance(input, torch.Tensor) and input.device.type == "cuda" \
            and (kernels := triton_kernels()):
        return kernels.roi_spp(input, boxes, levels, spatial_scale)
    return roi_spp_torch(input, boxes, levels, spatial_scale)


def roi_spp_torch(input: torch.Tensor, boxes, levels: Sequence[int] = (6, 3, 2, 1),
                  spatial_scale: float = 1.0) -> torch.Tensor:
    """`roi_spp` by the PyTorch operations of this module, on any device."""
    levels = _check_levels(levels)
    spatial_scale = _check_scale(spatial_scale)
    rois = _rois(input, boxes)
    return _RoISPP.apply(input, rois, levels, spatial_scale)


def unions_of_blocks(edges, fine_edges, step: int) -> bool:
    """Whether every bin of a coarse level is, for every region, the union of its step x step
    block of the fine level's bins: the (batch, rows, cols) of bin_edges say so or not."""
    return all(torch.equal(coarse[:, :, 0], fine[:, ::step, 0])
               and torch.equal(coarse[:, :, 1], fine[:, step - 1::step, 1])
               for coarse, fine in zip(edges[1:], fine_edges[1:]))


def _derived_levels(input, rois, levels, spatial_scale, winners, flat=False):
    """Forward of roi_spp: per level, (output [K, l, l, C], winners or None) as _pool gives."""
    finest = max(levels)
    n, c, h, w = input.shape
    k = rois.shape[0]
    fine_edges = bin_edges(rois, (finest, finest), spatial_scale, h, w)
    fine, fine_won = _pool(input, rois, (finest, finest), spatial_scale, winners, fine_edges,
                           flat)
    _, rows, cols = fine_edges
    # Without winners, a coarse bin whose maximum is 0 cannot tell which sign came first.
    negative_zero = _has_negative_zero(fine)
    # Fine maxima with empty bins at -inf, so that a block's maximum leaves them out.
    fine_empty = ((rows[..., 1] <= rows[..., 0])[:, :, None]
                  | (cols[..., 1] <= cols[..., 0])[:, None, :])
    masked = fine.masked_fill(fine_empty[..., None], -math.inf)
    floor = torch.tensor(-FLT_MAX, dtype=input.dtype, device=input.device)
    labels = None  # the fine winners as floats for _first_winner, once a level needs them
    results = []
    for level in levels:
        if level == finest:
            results.append((fine, fine_won))
            continue
        level_edges = bin_edges(rois, (level, level), spatial_scale, h, w)
        _, lrows, lcols = level_edges
        step = finest // level
        if not (finest % level == 0 and (winners or not negative_zero)
                and unions_of_blocks(level_edges, fine_edges, step)):
            results.append(_pool(input, rois, (level, level), spatial_scale, winners,
                                 level_edges, flat))
            continue
        blocks = masked.reshape(k, level, step, level, step, c)
        # one dimension at a time: amax over (2, 4) at once took 20 times longer here
        top = blocks.amax(4).amax(2)
        won = None
        if winners:  # of the tied fine winners the first in row-major order: the least index
            if labels is None:  # float32 where it holds them exactly
                exact = (n * c * h * w if flat else n * h * w) < 2**24
                labels = fine_won.to(torch.float32 if exact else torch.float64)
            candidates = labels.view(k, level, step, level, step, c)
            won = _first_winner(blocks, top[:, :, None, :, None], candidates, (2, 4))
            won = won.to(fine_won.dtype)
            won.masked_fill_(top <= floor, 0)
            if negative_zero:  # the sign of a 0 maximum is the first one's
                top = torch.where((top == 0) & (won > 0), _held(input, won, flat), top)
        empty = ((lrows[..., 1] <= lrows[..., 0])[:, :, None]
                 | (lcols[..., 1] <= lcols[..., 0])[:, None, :])
        results.append((top.clamp(min=floor).masked_fill(empty[..., None], 0), won))
    return results


class _RoISPP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, rois, levels, spatial_scale):
        ctx.flat = _gradient_by_flat_index(
            input.shape, rois.shape[0] * sum(level * level for level in levels), input.dtype)
        results = _derived_levels(input, rois, levels, spatial_scale, ctx.needs_input_grad[0],
                                  ctx.flat)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(*(won for _, won in results))
        ctx.levels, ctx.input_shape = levels, input.shape
        return torch.cat([out.permute(0, 3, 1, 2).flatten(1) for out, _ in results], dim=1)

    @staticmethod
    def backward(ctx, grad):
        c = ctx.input_shape[1]
        # Each level's gradient goes where roi_pool at that level sends it; every input element
        # sums them in level order.
        winners = ctx.saved_tensors
        parts, offset = [], 0
        for level, won in zip(ctx.levels, winners):
            size = c * level * level
            parts.append((won, grad[:, offset:offset + size].view(-1, c, level, level)))
            offset += size
        return (_scatter_grad(ctx.input_shape, parts, ctx.flat, grad.dtype, grad.device),
                None, None, None)


def spp(input: torch.Tensor, levels: Sequence[int] = (4, 2, 1), rule: str = "adaptive"):
    """Image-level spatial pyramid pooling: [N, C * sum(l*l)], each level's max pooling
    flattened and concatenated in the given order.

    rule="adaptive" equals `adaptive_max_pool2d` at each level, its values bit for bit (NaN's
    bits aside in bfloat16 on the CPU) and its gradient's pixels, and reads the map once for the
    levels that divide the finest (see `_adaptive_pyramid`). rule="paper" uses SPP-net's window
    ceil(a/l) and stride floor(a/l), and refuses map sizes where that does not give l bins.
    """
    levels = _check_levels(levels)
    if not isinstance(input, torch.Tensor) or input.dim() != 4:
        shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input).__name__
        raise ValueError(f"input must be [N, C, H, W], got shape {shape}")
    if rule not in ("adaptive", "paper"):
        raise ValueError(f"rule must be 'adaptive' or 'paper', got {rule!r}")
    if rule == "adaptive":
        return _adaptive_pyramid(input, levels)
    n, c, h, w = input.shape
    outputs = []
    for level in levels:
        window = (math.ceil(h / level), math.ceil(w / level))
        stride = (h // level, w // level)
        bins = [(size - win) // s + 1 if s > 0 else 0
                for size, win, s in zip((h, w), window, stride)]
        if bins != [level, level]:
            raise ValueError(f"the paper's window rule gives {bins[0]}x{bins[1]} bins, not "
                             f"{level}x{level}, on a {h}x{w} map; use rule='adaptive'")
        outputs.append(F.max_pool2d(input, window, stride))
    return torch.cat([out.flatten(1) for out in outputs], dim=1)


def _adaptive_pyramid(input: torch.Tensor, levels: tuple[int, ...]) -> torch.Tensor:
    """`adaptive_max_pool2d` at each level, with one pass over the map for the levels that divide
    the finest one.

    Adaptive bin i of level l spans [floor(i*a/l), ceil((i+1)*a/l)), so where l divides the finest
    level f, with k = f/l, it is the union of the fine bins k*i to k*i+k-1 (they may overlap by a
    pixel; a union does not mind). Its maximum is among the fine bins' winners: the first maximum
    in row-major order (`adaptive_max_pool2d` keeps the first, comparing strictly) is the fine
    winner equal to it with the least flat index, and a NaN, which every comparison lets in, is
    the last NaN: the NaN winner with the greatest index. Outputs are then gathered from the
    input at the winners, so their values are the pixels' own bits (-0.0, NaN payloads; except
    that the CPU's `gather` writes every bfloat16 NaN as 0xFFFF, where `adaptive_max_pool2d`
    writes 0x7FC0), and their gradient goes to those pixels, summed by `gather`'s backward.

    In the RoI suite on a 2-core AMD EPYC VM (fp32, pytest-benchmark medians, one run), on
    8x512x38x50 with levels 4, 2, 1: forward 5.3 ms against 8.3 for a pass per level,
    forward+backward 6.8 against 15.6. On its 8x8x20x24 map the twenty-odd small operations cost
    more than they save: 0.100 against 0.041 ms.
    """
    n, c, h, w = input.shape
    finest = max(levels)
    fine, fine_won = F.adaptive_max_pool2d(input.detach(), finest, return_indices=True)
    if h * w < 2**31:  # amin of int64 took 50 to 200 times int32's here (torch 2.14, CPU)
        fine_won = fine_won.int()
    winners = []
    for level in levels:
        if level == finest:
            winners.append(fine_won)
            continue
        if finest % level:
            won = F.adaptive_max_pool2d(input.detach(), level, return_indices=True)[1]
            winners.append(won.to(fine_won.dtype))
            continue
        k = finest // level
        # [n, c, level, level, k * k]: each coarse bin's fine winners
        values, won = (t.view(n, c, level, k, level, k).transpose(3, 4).flatten(4)
                       for t in (fine, fine_won))
        top = values.amax(4, keepdim=True)  # NaN where any is NaN
        nan = values.isnan()
        first = won.masked_fill(values != top, h * w).amin(4)
        last_nan = won.masked_fill(~nan, -1).amax(4)
        winners.append(torch.where(nan.any(4), last_nan, first))
    flat = torch.cat([won.flatten(2) for won in winners], dim=2).long()
    if input.is_contiguous(memory_format=torch.channels_last) and not input.is_contiguous():
        # gathered from rows of channels, which are a view of it: no copy of the map
        out = input.permute(0, 2, 3, 1).reshape(n, h * w, c).gather(1, flat.transpose(1, 2))
        out = out.transpose(1, 2)
    else:
        out = input.flatten(2).gather(2, flat)
    sizes = [level * level for level in levels]
    return torch.cat([part.flatten(1) for part in out.split(sizes, dim=2)], dim=1)
