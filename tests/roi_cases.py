"""What the RoI tests share: bit equality, and the boxes whose bins are hard to get right
(ROI_POOL_SEMANTICS). Put on sys.path by conftest.py."""

import torch

INT_VIEW = {torch.float32: torch.int32, torch.float64: torch.int64,
            torch.float16: torch.int16, torch.bfloat16: torch.int16}

HARD_BOXES = [
    [0, 0, 0, 56, 56],               # 57 rows into 7 bins: float32 edges end one past the region
    [1, 0.49999997, 2.5, -2.5, 10],  # C's round: 0.49999997 -> 0, 2.5 -> 3, -2.5 -> -3
    [0, 50, 50, 100, 100],           # partly outside: outer bins empty
    [1, 200, 200, 300, 300],         # wholly outside
    [0, 10, 10, 5, 5],               # reversed: becomes 1x1
    [1, 3, 3, 3, 3],                 # degenerate
    [0, -1e4, -1e4, 1e4, 1e4],       # huge
    [1.9, 1, 1, 8, 8],               # batch index truncated to 1
]


def same_bits(a: torch.Tensor, b: torch.Tensor, any_nan: bool = False) -> bool:
    """Equal bit for bit: -0.0 differs from +0.0, NaN equals the same NaN. With `any_nan`, any
    NaN equals any NaN: CPU and GPU conversions write different NaN payloads."""
    a, b = a.detach().cpu(), b.detach().cpu()
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not any_nan:
        return torch.equal(a.view(INT_VIEW[a.dtype]), b.view(INT_VIEW[b.dtype]))
    if not torch.equal(a.isnan(), b.isnan()):
        return False
    keep = ~a.isnan()
    return torch.equal(a.view(INT_VIEW[a.dtype])[keep], b.view(INT_VIEW[b.dtype])[keep])


def tied_map(shape, seed):
    """Small integers, so that maxima tie; zeros of both signs; NaNs with distinct payloads."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-2, 3, shape, generator=gen).float()
    x[x == 0] = torch.where(torch.rand(shape, generator=gen) < 0.5, -0.0, 0.0)[x == 0]
    bits = x.view(torch.int32)
    nan = torch.rand(shape, generator=gen) < 0.03
    bits[nan] = 0x7FC00000 + torch.randint(1, 1000, (int(nan.sum()),), dtype=torch.int32,
                                           generator=gen)
    return x
