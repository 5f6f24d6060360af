"""RoI pooling (Fast R-CNN) and spatial pyramid pooling (SPP-net), vectorised over regions.

`roi_pool` reproduces torchvision's kernel exactly (see ROI_POOL_SEMANTICS): bin edges computed in
the input's dtype, C-style rounding of the scaled box, an empty bin gives 0, NaN never wins, a bin
with nothing above -FLT_MAX gives -FLT_MAX, and the first maximum in row-major order wins ties.
Where torchvision does not support a dtype (bfloat16), bin edges are computed in float32, so the
result equals our float32 result on the same rounded inputs.

How. The bins are enumerated as (bin, pixel) pairs, a block of consecutive rows of bins at a time
(about BLOCK_ELEMENTS gathered values per block, so memory follows the block, not the number of
pairs: a 10000x10000 grid on an 8x8 map needs little more than its output). Each block's pixels
are gathered as rows of channels from a channels-last copy of the input and `scatter_reduce`
takes each bin's maximum; when a gradient will be needed, a second `scatter_reduce` takes the
first position holding it, and the forward keeps, as torchvision does, the winning input element
of every (region, bin, channel). The backward adds each output's gradient into its winner with
`index_add_`, which on the CPU is one loop over the outputs: for every input element the same sum
in the same order as torchvision's loop over (k, c, ph, pw), so the gradient is bit-equal to
torchvision's CPU gradient and deterministic. The channels-last copy is the input itself when the
input is channels-last; NaN and -0.0 are looked for in the gathered blocks or the small maxima,
never in the whole map.

Measured side by side in one process (2-core Xeon VM, 2 threads, fp32, the suite's CPU inputs;
torchvision and the previous version interleaved with ours, 5 repetitions, median of the
ratios ours/torchvision; the machine was shared with other people's test runs, single ratios
scattered by about +-20%, and under heavy load 2 threads were much slower, as OpenMP threads
waited for cores), before -> after:

    case                   forward       forward+backward
    small r16 o7           2.89 -> 1.33  4.73 -> 1.06
    small r128 o7          0.81 -> 0.69  3.86 -> 1.01
    small r512 o7          0.56 -> 0.54  3.63 -> 0.96
    small r512 o14         0.66 -> 0.48  2.64 -> 0.92
    vgg16-conv5 r128 o7    0.56 -> 0.52  3.02 -> 0.86
    vgg16-conv5 r512 o7    0.55 -> 0.44  2.95 -> 0.77
    fpn-p2 r64 o7          1.72 -> 1.14  5.42 -> 1.38
    pyramid small r128     0.78 -> 0.66  4.64 -> 1.16  (against roi_pool per level)
    pyramid small r512     0.51 -> 0.51  5.13 -> 1.21

With one thread (torchvision's kernels use one) forward+backward took 0.94 to 1.75 times
torchvision's time. On fpn-p2 the channels-last copy of the whole map is most of the time.
A 10000x10000 grid on an 8x8 map (bins narrower than a pixel: each distinct pair of row and
column spans pooled once, then spread by two gathers): 0.12 to 0.17 s and 0.38 GB above the
process's start, torchvision 1.0 to 1.2 s and 0.75 GB (two runs each, one after the other, 2-core
VM; enumerating every bin took 3 to 5 s, and at first 25 s and 10 GB). torch.compile was not
used.
"""

import functools
import math
import numbers
import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F

FLT_MAX = torch.finfo(torch.float32).max
# Gathered values (pairs x channels) per block on the CPU: 4 MiB of float32, so that the block
# stays in cache while it is reduced; and at most BLOCK_PAIRS pairs, whose indices take about
# 10 int64 words each. On CUDA one block takes everything.
BLOCK_ELEMENTS = 2**20
BLOCK_PAIRS = 2**18
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
    except TypeError:
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


def _cuts(lengths: torch.Tensor, budget: int):
    """(first, last) index ranges of consecutive items holding about `budget` of `lengths` each
    (an item longer than `budget` gets a range of its own)."""
    ends = torch.cumsum(lengths, 0)
    total = int(ends[-1]) if ends.numel() else 0
    targets = torch.arange(budget, total + budget, budget, device=lengths.device)
    cuts, previous = [], 0
    for cut in torch.searchsorted(ends, targets, right=True).tolist() + [lengths.numel()]:
        cut = min(max(cut, previous + 1), lengths.numel())
        if cut > previous:
            cuts.append((previous, cut))
            previous = cut
    return cuts


def _blocks(pairs: torch.Tensor, budget: int):
    """Blocks of about `budget` pairs, `pairs` [K, PH] counting each row of bins' pairs: whole
    regions (k0, k1, 0, PH), or rows of bins of one region (k, k + 1, p0, p1) when it is larger."""
    per_region = pairs.sum(1)
    for k0, k1 in _cuts(per_region, budget):
        if k1 - k0 > 1 or int(per_region[k0]) <= budget:
            yield k0, k1, 0, pairs.shape[1]
        else:
            yield from ((k0, k1, p0, p1) for p0, p1 in _cuts(pairs[k0], budget))


def _enumerate(batch, rows, cols, heights, widths, width: int, first: int, last: int):
    """The (bin, pixel) pairs of the rows of bins first..last-1 (in (k, ph) order) whose bins hold
    more than one pixel: bins in (k, ph, pw) order, pixels row-major within a bin. Returns each
    pair's bin (counted from the block's first bin), image and row * width + col, each bin's
    count of those pairs, and the bins of one pixel with their image and pixel."""
    ph, pw = rows.shape[1], cols.shape[1]
    device = rows.device
    row_bins = torch.arange(first, last, device=device)
    k = row_bins // ph
    bin_widths = widths[k]  # [R, PW]
    counts = (heights.reshape(-1)[row_bins, None] * bin_widths).reshape(-1)
    row_start = rows.reshape(-1, 2)[row_bins, 0]
    col_start = cols[k, :, 0].reshape(-1)
    single = (counts == 1).nonzero().squeeze(1)
    single_row_bin = single // pw
    singles = (single, batch[k][single_row_bin],
               row_start[single_row_bin] * width + col_start[single])
    counts = counts.masked_fill(counts == 1, 0)
    bins = torch.repeat_interleave(torch.arange(counts.numel(), device=device), counts)
    q = torch.arange(bins.numel(), device=device) - (torch.cumsum(counts, 0) - counts)[bins]
    row_bin = bins // pw
    bin_width = bin_widths.reshape(-1)[bins]
    row = row_start[row_bin] + q // bin_width
    col = col_start[bins] + q % bin_width
    return bins, batch[k][row_bin], row * width + col, counts, singles


def _has_negative_zero(t: torch.Tensor) -> bool:
    """Whether t holds a -0.0: its bits are the most negative integer of the same width."""
    bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    return t.numel() > 0 and bool(t.view(bits).min() == torch.iinfo(bits).min)


def _reduce(values, bins, counts, pixel, offsets, winners, negative_zero, input):
    """The results of B consecutive bins, [B, C]: `values` [P, C] are their pairs' gathered
    rows, `bins` [P] the pairs' bins counted from the first, `pixel` [P] their row * W + col.
    Returns each bin's maximum as torchvision gives it, and when `winners` is true, 1 + the flat
    input index of the element that won (its pixel + `offsets`: [B] 1 + image * C*H*W and [C]
    c * H*W), or 0 where nothing won."""
    index = bins[:, None].expand_as(values)
    out = values.new_empty(counts.numel(), values.shape[1])
    out.scatter_reduce_(0, index, values, "amax", include_self=False)
    if out.max().isnan():  # a bin holding NaN got NaN: NaN never wins, take it out
        values = values.masked_fill(values.isnan(), -math.inf)
        out.scatter_reduce_(0, index, values, "amax", include_self=False)
    empty = (counts == 0).nonzero().squeeze(1)
    out.index_fill_(0, empty, 0)
    floor = torch.tensor(-FLT_MAX, dtype=out.dtype, device=out.device)  # -inf in float16
    none_above = bool(out.min() <= floor)  # rare: a bin of -inf, -FLT_MAX or NaN only
    if negative_zero is None:
        negative_zero = _has_negative_zero(values)
    if not (winners or negative_zero):
        return out.clamp_(min=floor) if none_above else out, None
    # The first pair holding its bin's maximum (pairs are in row-major order within a bin, and
    # so are their pixels; +0.0 and -0.0 compare equal, as in torchvision): a value below the
    # maximum counts `big` more than its pixel, the others their pixel; the least is the first.
    h, w = input.shape[2:]
    exact = torch.float32 if values.dtype != torch.float64 and h * w <= 2**23 else torch.float64
    big = 2.0 ** (h * w).bit_length()
    maxima = out.index_select(0, bins)
    hits = maxima if maxima.dtype == exact else maxima.new_empty(maxima.shape, dtype=exact)
    torch.lt(values, maxima, out=hits).mul_(big).add_(pixel.to(exact)[:, None])
    # Where nothing wins: a power of two (exact) below minus any offset, so the sum stays < 0.
    none = -(2.0 ** (input.numel()).bit_length())
    first = torch.full(out.shape, none, dtype=exact, device=out.device)
    first.scatter_reduce_(0, index, hits, "amin", include_self=False)
    if none_above:
        first.masked_fill_(out <= floor, none)
        out.clamp_(min=floor)
    image_offset, channel_offset = offsets
    won = first.to(image_offset.dtype).add_(channel_offset).add_(image_offset[:, None])
    won.clamp_(min=0)
    if negative_zero:  # where a 0 won, the sign is that of the element that won
        held = input.reshape(-1)[(won.long() - 1).clamp_(min=0)]
        out = torch.where((out == 0) & (won > 0), held, out)
    return out, won


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
    """[K, C, PH, PW] from [K, C, U, V]: each bin takes the result of its row and column span."""
    k, c, _, v = t.shape
    ph, pw = row_of.shape[1], col_of.shape[1]
    t = t.gather(2, row_of[:, None, :, None].expand(k, c, ph, v))
    return t.gather(3, col_of[:, None, None, :].expand(k, c, ph, pw))


def _pool(input, rois, output_size, spatial_scale, winners=False, edges=None):
    """Forward of roi_pool: (output [K, C, PH, PW], winners [K, C, PH, PW] or None). winners: 1 +
    the flat index into the (contiguous) input of the element each output took its value from,
    or 0 where none did (an empty bin, or nothing above -FLT_MAX): there torchvision sends no
    gradient back either. `edges`: bin_edges' result for these arguments, when already known.

    Where bins are narrower than a pixel (a grid far finer than the region), most of them repeat
    a span of rows and a span of columns: each distinct pair of spans is pooled once and its
    result spread to the bins that share it (a 10000x10000 grid on an 8x8 map pools 17x17
    bins, then gathers)."""
    h, w = input.shape[2:]
    batch, rows, cols = edges or bin_edges(rois, output_size, spatial_scale, h, w)
    row_spans, row_of, u = _distinct(rows)
    col_spans, col_of, v = _distinct(cols)
    if 4 * u * v > output_size[0] * output_size[1]:
        return _pool_bins(input, rois, output_size, (batch, rows, cols), winners)
    out, won = _pool_bins(input, rois, (u, v), (batch, row_spans, col_spans), winners)
    return _spread(out, row_of, col_of), (_spread(won, row_of, col_of) if winners else None)


def _pool_bins(input, rois, output_size, edges, winners):
    """_pool for every bin on its own."""
    n, c, h, w = input.shape
    ph, pw = output_size
    batch, rows, cols = edges
    k = rois.shape[0]
    # Not zeroed: every block writes its part (zeroing would be one more pass over the output).
    out = input.new_empty(k, c, ph, pw)
    index_type = torch.int32 if n * c * h * w < 2**30 else torch.long
    won = torch.empty(out.shape, dtype=index_type, device=input.device) if winners else None
    heights = (rows[..., 1] - rows[..., 0]).clamp(min=0)  # [K, PH]
    widths = (cols[..., 1] - cols[..., 0]).clamp(min=0)  # [K, PW]
    pairs = heights * widths.sum(1, keepdim=True)  # [K, PH]: pairs per row of bins
    total = int(pairs.sum()) if pairs.numel() else 0
    if not (total and c):
        return out.zero_(), (won.zero_() if winners else None)
    flat = input.permute(0, 2, 3, 1).reshape(-1, c)  # a view when input is channels-last
    # -0.0 is looked for in the whole map when that costs less than in every gathered block.
    negative_zero = _has_negative_zero(input) if total >= n * h * w else None
    channel_offset = torch.arange(c, dtype=index_type, device=input.device) * (h * w)
    budget = min(BLOCK_PAIRS, max(1, BLOCK_ELEMENTS // c)) if input.device.type == "cpu" \
        else total
    floor = torch.tensor(-FLT_MAX, dtype=input.dtype, device=input.device)
    for k0, k1, p0, p1 in _blocks(pairs, budget):
        bins, image, pixel, counts, (single, single_image, single_pixel) = _enumerate(
            batch, rows, cols, heights, widths, w, k0 * ph + p0, (k1 - 1) * ph + p1)
        image_offset = (batch[k0:k1].repeat_interleave((p1 - p0) * pw) * (c * h * w) + 1
                        ).to(index_type)
        if bins.numel():
            values = flat.index_select(0, image * (h * w) + pixel)
            result, result_won = _reduce(values, bins, counts, pixel,
                                         (image_offset, channel_offset), winners,
                                         negative_zero, input)
        else:  # every bin empty or of one pixel
            result = input.new_zeros(counts.numel(), c)
            result_won = torch.zeros(result.shape, dtype=index_type, device=input.device) \
                if winners else None
        if single.numel():  # a bin of one pixel: its value, unless not above -FLT_MAX
            values = flat.index_select(0, single_image * (h * w) + single_pixel)
            above = values > floor  # False for NaN
            result.index_copy_(0, single, torch.where(above, values, floor))
            if winners:
                won_single = (single_pixel.to(index_type) + image_offset[single])[:, None]
                result_won.index_copy_(0, single, torch.where(
                    above, won_single + channel_offset, 0).to(index_type))
        # out[k0:k1, :, p0:p1, :]
        window = (slice(k0, k1), slice(None), slice(p0 * pw, p1 * pw))
        out.view(k, c, ph * pw)[window].transpose(1, 2).copy_(result.view(k1 - k0, -1, c))
        if winners:
            won.view(k, c, ph * pw)[window].transpose(1, 2).copy_(
                result_won.view(k1 - k0, -1, c))
    return out, won


def _scatter_grad(shape, parts, dtype, device):
    """The input's gradient: for each (winners, gradient) part in turn, each output's gradient
    added into its winner, outputs in (k, c, ph, pw) order. index_add_ on the CPU is one loop in
    that order, so every input element sums its gradients in torchvision's order and the result
    does not depend on threads (index_put_ with accumulate=True races on the CPU)."""
    n, c, h, w = shape
    grad_input = torch.zeros(1 + n * c * h * w, dtype=dtype, device=device)  # first: for none
    # On CUDA index_add_ adds atomically, in no fixed order, unless deterministic algorithms are
    # asked for: then it sorts first, and two runs give the same bits.
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        for winners, grad in parts:
            grad_input.index_add_(0, winners.reshape(-1), grad.reshape(-1))
    finally:
        torch.use_deterministic_algorithms(deterministic)
    return grad_input[1:].view(n, c, h, w)


class _RoIPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale):
        out, winners = _pool(input, rois, output_size, spatial_scale, ctx.needs_input_grad[0])
        ctx.save_for_backward(winners)
        ctx.input_shape = input.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        (winners,) = ctx.saved_tensors
        return (_scatter_grad(ctx.input_shape, [(winners, grad)], grad.dtype, grad.device),
                None, None, None)


@functools.cache  # a failed import is not retried on every call
def _triton():
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
    if isinstance(input, torch.Tensor) and input.device.type == "cuda" and (kernels := _triton()):
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
    if isinstance(input, torch.Tensor) and input.device.type == "cuda" and (kernels := _triton()):
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


def _derived_levels(input, rois, levels, spatial_scale, winners):
    """Forward of roi_spp: per level, (output [K, C, l, l], winners or None) as _pool gives."""
    finest = max(levels)
    n, c, h, w = input.shape
    k = rois.shape[0]
    fine_edges = bin_edges(rois, (finest, finest), spatial_scale, h, w)
    fine, fine_won = _pool(input, rois, (finest, finest), spatial_scale, winners, fine_edges)
    _, rows, cols = fine_edges
    # Without winners, a coarse bin whose maximum is 0 cannot tell which sign came first.
    negative_zero = _has_negative_zero(fine)
    # Fine maxima with empty bins at -inf, so that a block's maximum leaves them out.
    fine_empty = ((rows[..., 1] <= rows[..., 0])[:, :, None]
                  | (cols[..., 1] <= cols[..., 0])[:, None, :])
    masked = fine.masked_fill(fine_empty[:, None], -math.inf)
    floor = torch.tensor(-FLT_MAX, dtype=input.dtype, device=input.device)
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
                                 level_edges))
            continue
        blocks = masked.view(k, c, level, step, level, step)
        top = blocks.amax(dim=(3, 5))
        won = None
        if winners:  # the first winner holding the maximum: the smallest flat index
            tied = blocks == top[:, :, :, None, :, None]
            candidates = fine_won.view(k, c, level, step, level, step)
            first = torch.where(tied, candidates, torch.iinfo(fine_won.dtype).max)
            won = torch.where(top > floor, first.amin(dim=(3, 5)), 0).to(fine_won.dtype)
            if negative_zero:  # the sign of a 0 maximum is the first one's
                held = input.reshape(-1)[(won.long() - 1).clamp(min=0)]
                top = torch.where((top == 0) & (won > 0), held, top)
        empty = ((lrows[..., 1] <= lrows[..., 0])[:, :, None]
                 | (lcols[..., 1] <= lcols[..., 0])[:, None, :])
        results.append((top.clamp(min=floor).masked_fill(empty[:, None], 0), won))
    return results


class _RoISPP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, rois, levels, spatial_scale):
        results = _derived_levels(input, rois, levels, spatial_scale, ctx.needs_input_grad[0])
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(*(won for _, won in results))
        ctx.levels, ctx.input_shape = levels, input.shape
        return torch.cat([out.flatten(1) for out, _ in results], dim=1)

    @staticmethod
    def backward(ctx, grad):
        c = ctx.input_shape[1]
        # Each level's gradient goes where roi_pool at that level sends it; every input element
        # sums them in level order.
        parts, offset = [], 0
        for level, won in zip(ctx.levels, ctx.saved_tensors):
            parts.append((won, grad[:, offset:offset + c * level * level]))
            offset += c * level * level
        return (_scatter_grad(ctx.input_shape, parts, grad.dtype, grad.device),
                None, None, None)


def spp(input: torch.Tensor, levels: Sequence[int] = (4, 2, 1), rule: str = "adaptive"):
    """Image-level spatial pyramid pooling: [N, C * sum(l*l)], each level's max pooling
    flattened and concatenated in the given order.

    rule="adaptive" equals `adaptive_max_pool2d` at each level. rule="paper" uses SPP-net's window
    ceil(a/l) and stride floor(a/l), and refuses map sizes where that does not give l bins.
    """
    levels = _check_levels(levels)
    if not isinstance(input, torch.Tensor) or input.dim() != 4:
        shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input).__name__
        raise ValueError(f"input must be [N, C, H, W], got shape {shape}")
    if rule not in ("adaptive", "paper"):
        raise ValueError(f"rule must be 'adaptive' or 'paper', got {rule!r}")
    n, c, h, w = input.shape
    outputs = []
    for level in levels:
        if rule == "adaptive":
            outputs.append(F.adaptive_max_pool2d(input, level))
            continue
        window = (math.ceil(h / level), math.ceil(w / level))
        stride = (h // level, w // level)
        bins = [(size - win) // s + 1 if s > 0 else 0
                for size, win, s in zip((h, w), window, stride)]
        if bins != [level, level]:
            raise ValueError(f"the paper's window rule gives {bins[0]}x{bins[1]} bins, not "
                             f"{level}x{level}, on a {h}x{w} map; use rule='adaptive'")
        outputs.append(F.max_pool2d(input, window, stride))
    return torch.cat([out.flatten(1) for out in outputs], dim=1)
