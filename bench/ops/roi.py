"""RoI pooling (Fast R-CNN) and spatial pyramid pooling (SPP-net), vectorised over regions.

`roi_pool` reproduces torchvision's kernel exactly (see ROI_POOL_SEMANTICS): bin edges computed in
the input's dtype, C-style rounding of the scaled box, an empty bin gives 0, NaN never wins, a bin
with nothing above -FLT_MAX gives -FLT_MAX, and the first maximum in row-major order wins ties.
Where torchvision does not support a dtype (bfloat16), bin edges are computed in float32, so the
result equals our float32 result on the same rounded inputs. The backward sends each output's
gradient to its winning input element and sums them in a fixed order, so it is deterministic.

Every element of every bin is gathered from a channels-last copy of the input and `scatter_reduce`
takes the maxima, in blocks of (bin, pixel) pairs: there is no Python loop over regions.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

FLT_MAX = torch.finfo(torch.float32).max
# Pairs gathered per step on the CPU: the gathered block stays in cache while it is reduced. On a
# 256x50x50 map with 512 regions (2 cores) that took the gather-and-reduce from 46 ms to 14 ms.
# On CUDA one step takes everything.
CPU_BLOCK = 4096
# Scaled coordinates beyond this make torchvision's int32 arithmetic overflow; we refuse them.
COORD_LIMIT = 2**28


def _pair(size, name: str) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {size!r}")
    return pair


def _rois(input: torch.Tensor, boxes) -> torch.Tensor:
    """Boxes as a checked [K, 5] tensor (batch index, x1, y1, x2, y2) in the input's dtype."""
    if input.dim() != 4:
        raise ValueError(f"input must be [N, C, H, W], got shape {tuple(input.shape)}")
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
    if not torch.isfinite(boxes).all():
        raise ValueError("boxes hold a non-finite coordinate or batch index")
    batch = boxes[:, 0].trunc()
    if ((batch < 0) | (batch >= input.shape[0])).any():
        raise ValueError(f"boxes hold a batch index outside [0, {input.shape[0]})")
    return boxes


def _check_scale(spatial_scale) -> float:
    if not (isinstance(spatial_scale, int | float) and math.isfinite(spatial_scale)
            and spatial_scale > 0):
        raise ValueError(f"spatial_scale must be a positive finite number, got {spatial_scale!r}")
    return float(spatial_scale)


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's round() as an int64: half away from zero, on the exact value (float64 is exact here)."""
    x = x.double()
    return (x + torch.copysign(torch.full_like(x, 0.5), x)).trunc().long()


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
    if (scaled.abs() > COORD_LIMIT).any():
        raise ValueError(f"box coordinates times spatial_scale must lie within ±{COORD_LIMIT}; "
                         "beyond that torchvision's int32 bin arithmetic overflows")
    x1, y1, x2, y2 = _round_half_away(scaled).unbind(1)

    def edges(start, end, pooled, size):
        length = (end - start + 1).clamp(min=1).to(dtype)
        bin_size = length / torch.tensor(pooled, dtype=dtype, device=rois.device)
        p = torch.arange(pooled + 1, dtype=dtype, device=rois.device)
        products = p[None, :] * bin_size[:, None]
        lo = products[:, :-1].floor().long() + start[:, None]
        hi = products[:, 1:].ceil().long() + start[:, None]
        return torch.stack([lo, hi], dim=-1).clamp(0, size)

    return rois[:, 0].long(), edges(y1, y2, ph, height), edges(x1, x2, pw, width)


def _enumerate(batch, rows, cols, height: int, width: int):
    """Every (bin, pixel) pair, bins in (k, ph, pw) order and pixels row-major within a bin:
    returns the bin of each pair, the pixel's flat NHW index, and each bin's element count."""
    ph, pw = rows.shape[1], cols.shape[1]
    bh = (rows[..., 1] - rows[..., 0]).clamp(min=0)  # [K, PH]
    bw = (cols[..., 1] - cols[..., 0]).clamp(min=0)  # [K, PW]
    counts = (bh[:, :, None] * bw[:, None, :]).reshape(-1)
    bins = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)
    offsets = torch.cumsum(counts, 0) - counts
    q = torch.arange(bins.numel(), device=counts.device) - offsets[bins]
    kk, rem = bins // (ph * pw), bins % (ph * pw)
    i, j = rem // pw, rem % pw
    width_of_bin = bw[kk, j]
    row = rows[kk, i, 0] + q // width_of_bin
    col = cols[kk, j, 0] + q % width_of_bin
    return bins, (batch[kk] * height + row) * width + col, counts


def _channels_last(input: torch.Tensor) -> torch.Tensor:
    """[N*H*W, C]: one row of channels per pixel, so a gather reads contiguous rows."""
    return input.permute(0, 2, 3, 1).reshape(-1, input.shape[1])


def _blocks(flat, pixels, bins):
    """(start, gathered values [b, C], their bins [b]) for consecutive blocks of pairs."""
    block = CPU_BLOCK if flat.device.type == "cpu" else max(pixels.numel(), 1)
    buffer = torch.empty(min(block, pixels.numel()), flat.shape[1], dtype=flat.dtype,
                         device=flat.device)
    for start in range(0, pixels.numel(), block):
        index = pixels[start:start + block]
        values = torch.index_select(flat, 0, index, out=buffer[:index.numel()])
        yield start, values, bins[start:start + block]


def _bin_maxima(flat, pixels, bins, n_bins):
    """[n_bins, C]: the maximum over each bin's pixels (-inf for an empty bin)."""
    maxima = torch.full((n_bins, flat.shape[1]), -math.inf, dtype=flat.dtype, device=flat.device)
    for _, values, block_bins in _blocks(flat, pixels, bins):
        maxima.scatter_reduce_(0, block_bins[:, None].expand_as(values), values, "amax")
    return maxima


def _first_max(flat, pixels, bins, maxima):
    """[n_bins, C]: the position in `pixels` of each bin's first element equal to its maximum
    (row-major order within the bin), or len(pixels) where there is none."""
    end = pixels.numel()
    first = torch.full(maxima.shape, end, dtype=torch.long, device=flat.device)
    for start, values, block_bins in _blocks(flat, pixels, bins):
        position = torch.arange(start, start + values.shape[0], device=flat.device)[:, None]
        hits = torch.where(values == maxima[block_bins], position, end)
        first.scatter_reduce_(0, block_bins[:, None].expand_as(hits), hits, "amin")
    return first


def _maxima(input, pixels, bins, n_bins):
    """(input as [N*H*W, C] rows, the same with NaN as -inf so that it never wins, and each
    bin's maximum [n_bins, C])."""
    flat = _channels_last(input)
    clean = flat.masked_fill(flat.isnan(), -math.inf) if flat.isnan().any() else flat
    return flat, clean, _bin_maxima(clean, pixels, bins, n_bins)


def _pool(input, rois, output_size, spatial_scale):
    """Forward of roi_pool: (output [K, C, PH, PW], what the backward needs)."""
    n, c, h, w = input.shape
    batch, rows, cols = bin_edges(rois, output_size, spatial_scale, h, w)
    bins, pixels, counts = _enumerate(batch, rows, cols, h, w)
    flat, clean, maxima = _maxima(input, pixels, bins, counts.numel())
    floor = torch.tensor(-FLT_MAX, dtype=input.dtype, device=input.device)
    valid = maxima > floor
    out = torch.where(valid, maxima, floor)
    if pixels.numel() and ((flat == 0) & flat.signbit()).any():
        # +0.0 and -0.0 compare equal: the first one in row-major order wins, as in torchvision.
        zero = valid & (maxima == 0)
        first = _first_max(clean, pixels, bins, maxima).clamp(max=pixels.numel() - 1)
        winner = clean[pixels[first], torch.arange(c, device=input.device)]
        out = torch.where(zero, winner, out)
    out = out.masked_fill((counts == 0)[:, None], 0)
    k, ph, pw = rows.shape[0], rows.shape[1], cols.shape[1]
    return out.view(k, ph, pw, c).permute(0, 3, 1, 2).contiguous(), (bins, pixels, counts)


def _winners(input, saved):
    """[B, C]: for each bin and channel, the position in `pixels` of the element that won
    (the first maximum in row-major order), or -1 where nothing wins (an empty bin, or nothing
    above -FLT_MAX): there torchvision sends no gradient back either."""
    bins, pixels, counts = saved
    if pixels.numel() == 0:
        return torch.full((counts.numel(), input.shape[1]), -1, dtype=torch.long,
                          device=input.device)
    _, clean, maxima = _maxima(input, pixels, bins, counts.numel())
    first = _first_max(clean, pixels, bins, maxima)
    floor = torch.tensor(-FLT_MAX, dtype=input.dtype, device=input.device)
    return torch.where(maxima > floor, first, -1)


def _pixel_groups(lengths: torch.Tensor, block: int):
    """(first, last) indices of runs of consecutive pixels holding about `block` pairs each."""
    ends = torch.cumsum(lengths, 0)
    total = int(ends[-1])
    targets = torch.arange(block, total + block, block, device=lengths.device)
    cuts, previous = [], 0
    for cut in torch.searchsorted(ends, targets, right=True).tolist():
        cut = min(max(cut, previous + 1), lengths.numel())  # a pixel with over `block` pairs
        if cut > previous:
            cuts.append((previous, cut))
            previous = cut
    return cuts


def _input_grad(input, pixels, bins, winners, grad):
    """The input's gradient: each bin's `grad` [B, C] added to its winner, summed per input
    element in bin order. Pairs are grouped by pixel (a stable sort of the pairs, not of every
    bin and channel) and each pixel's contributions are summed by segment_reduce, so the result
    does not depend on thread timing: index_put_ with accumulate=True races on the CPU."""
    n, c, h, w = input.shape
    out = torch.zeros(n * h * w, c, dtype=grad.dtype, device=grad.device)
    if pixels.numel():
        order = torch.argsort(pixels, stable=True)
        unique, lengths = torch.unique_consecutive(pixels[order], return_counts=True)
        starts = torch.cumsum(lengths, 0) - lengths
        block = CPU_BLOCK if input.device.type == "cpu" else pixels.numel()
        for first, last in _pixel_groups(lengths, block):
            lo, hi = int(starts[first]), int(starts[last - 1] + lengths[last - 1])
            position = order[lo:hi]
            owner = bins[position]
            contribution = torch.where(winners[owner] == position[:, None], grad[owner], 0)
            out[unique[first:last]] = torch.segment_reduce(contribution, "sum",
                                                           lengths=lengths[first:last])
    return out.view(n, h, w, c).permute(0, 3, 1, 2).contiguous()


class _RoIPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, rois, output_size, spatial_scale):
        out, saved = _pool(input, rois, output_size, spatial_scale)
        ctx.save_for_backward(input, *saved)
        return out

    @staticmethod
    def backward(ctx, grad):
        input, bins, pixels, counts = ctx.saved_tensors
        winners = _winners(input, (bins, pixels, counts))
        grad = grad.permute(0, 2, 3, 1).reshape(-1, grad.shape[1])  # bins in (k, ph, pw) order
        return _input_grad(input, pixels, bins, winners, grad), None, None, None


def roi_pool(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0):
    """Max-pool each region of `input` into an output_size grid: [K, C, PH, PW].

    Same signature, box formats and result as `torchvision.ops.roi_pool`; see the module doc.
    """
    output_size = _pair(output_size, "output_size")
    spatial_scale = _check_scale(spatial_scale)
    rois = _rois(input, boxes)
    return _RoIPool.apply(input, rois, output_size, spatial_scale)


def _check_levels(levels) -> tuple[int, ...]:
    levels = tuple(levels)
    if not levels:
        raise ValueError("levels must name at least one pyramid level")
    if not all(isinstance(level, int) and level > 0 for level in levels):
        raise ValueError(f"levels must be positive ints, got {levels}")
    return levels


def roi_spp(input: torch.Tensor, boxes, levels: Sequence[int] = (6, 3, 2, 1),
            spatial_scale: float = 1.0) -> torch.Tensor:
    """Spatial pyramid pooling of each region: [K, C * sum(l*l)], equal to `roi_pool` at each
    level, flattened and concatenated in the given order.

    When every level divides the finest one, the regions are pooled once at the finest level and
    the coarser levels are the maxima over blocks of its bins (a coarse bin is exactly the union
    of its block, even for regions partly outside the map; empty fine bins are left out). Levels
    whose bin edges are not such unions for some region are pooled directly.
    """
    levels = _check_levels(levels)
    spatial_scale = _check_scale(spatial_scale)
    rois = _rois(input, boxes)
    return _RoISPP.apply(input, rois, levels, spatial_scale)


def _derived_levels(input, rois, levels, spatial_scale):
    """Forward of roi_spp: the list of per-level outputs [K, C, l, l]."""
    finest = max(levels)
    n, c, h, w = input.shape
    has_negative_zero = bool(((input == 0) & input.signbit()).any())
    fine_out, (bins, pixels, counts) = _pool(input, rois, (finest, finest), spatial_scale)
    _, rows, cols = bin_edges(rois, (finest, finest), spatial_scale, h, w)
    # Fine maxima with empty bins at -inf, so that a block's maximum leaves them out.
    fine = fine_out.masked_fill((counts == 0).view(-1, 1, finest, finest), -math.inf)
    outputs = []
    for level in levels:
        if level == finest:
            outputs.append(fine_out)
            continue
        _, lrows, lcols = bin_edges(rois, (level, level), spatial_scale, h, w)
        step = finest // level
        unions = finest % level == 0 and not has_negative_zero and all(
            torch.equal(edges[:, :, 0], fine_edges[:, ::step, 0])
            and torch.equal(edges[:, :, 1], fine_edges[:, step - 1::step, 1])
            for edges, fine_edges in ((lrows, rows), (lcols, cols)))
        if not unions:
            outputs.append(_pool(input, rois, (level, level), spatial_scale)[0])
            continue
        k = fine.shape[0]
        block = fine.view(k, c, level, step, level, step).amax(dim=(3, 5))
        empty = ((lrows[..., 1] <= lrows[..., 0])[:, :, None]
                 | (lcols[..., 1] <= lcols[..., 0])[:, None, :])
        floor = torch.tensor(-FLT_MAX, dtype=input.dtype, device=input.device)
        block = torch.where(block > floor, block, floor).masked_fill(empty[:, None], 0)
        outputs.append(block)
    return outputs


class _RoISPP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, rois, levels, spatial_scale):
        ctx.save_for_backward(input, rois)
        ctx.levels, ctx.spatial_scale = levels, spatial_scale
        outputs = _derived_levels(input, rois, levels, spatial_scale)
        return torch.cat([out.flatten(1) for out in outputs], dim=1)

    @staticmethod
    def backward(ctx, grad):
        input, rois = ctx.saved_tensors
        k, c = grad.shape[0], input.shape[1]
        # Each level's gradient goes where roi_pool at that level sends it; the levels' pairs
        # are put one after the other, so that every input element sums them in level order.
        pixels, bins, winners, grads = [], [], [], []
        offset, n_bins, n_pairs = 0, 0, 0
        for level in ctx.levels:
            _, (level_bins, level_pixels, counts) = _pool(input, rois, (level, level),
                                                          ctx.spatial_scale)
            level_winners = _winners(input, (level_bins, level_pixels, counts))
            pixels.append(level_pixels)
            bins.append(level_bins + n_bins)
            winners.append(torch.where(level_winners >= 0, level_winners + n_pairs, -1))
            part = grad[:, offset:offset + c * level * level].view(k, c, level, level)
            grads.append(part.permute(0, 2, 3, 1).reshape(-1, c))
            offset, n_bins = offset + c * level * level, n_bins + counts.numel()
            n_pairs += level_pixels.numel()
        return (_input_grad(input, torch.cat(pixels), torch.cat(bins), torch.cat(winners),
                            torch.cat(grads)), None, None, None)


def spp(input: torch.Tensor, levels: Sequence[int] = (4, 2, 1), rule: str = "adaptive"):
    """Image-level spatial pyramid pooling: [N, C * sum(l*l)], each level's max pooling
    flattened and concatenated in the given order.

    rule="adaptive" equals `adaptive_max_pool2d` at each level. rule="paper" uses SPP-net's window
    ceil(a/l) and stride floor(a/l), and refuses map sizes where that does not give l bins.
    """
    levels = _check_levels(levels)
    if input.dim() != 4:
        raise ValueError(f"input must be [N, C, H, W], got shape {tuple(input.shape)}")
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
