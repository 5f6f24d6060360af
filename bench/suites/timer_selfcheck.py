"""Can the harness's timings be trusted? Reference operations timed by independent methods.

Each operation (an elementwise add, a matmul, a 1x1 convolution; small and large) is timed by our
path (pytest-benchmark with our timer; on CUDA also our device time from events) and by
`torch.utils.benchmark.Timer.blocked_autorange`; on CUDA also by replaying a CUDA graph of the op
and by the kernel time that `torch.profiler` sums. The floor is what the measured peak rate and
copy bandwidth allow. The report shows the agreement beside its targets: on CPU, wall time within
5% of torch.utils.benchmark for operations of 1 ms or more; on CUDA, device time within 3% of graph
replay for kernels of 50 microseconds or more.

Why the CPU self-check disagreed (25.1 ms by our timer, 16.7 ms by torch.utils.benchmark, for
the add of 16M elements, on the 2-core Xeon VM): allocation, not the timers. The add allocates a
fresh 64 MB output per call; glibc maps blocks that large afresh and unmaps them when freed, so
every call takes 16,385 minor page faults. Measured (2 threads, 40 rounds each, two processes
one after the other): a fresh output took 27.1 and 21.7 ms (utils 25.1 and 21.5 ms), the same
add into a kept output 7.2 and 5.9 ms (utils 7.1 and 6.1 ms), with no page faults; with glibc
told to keep freed memory (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) the fresh output took
8.3 and 7.7 ms and took no faults. The page-fault cost moved by 25% between two runs, so two
timers run one after the other saw different costs. `python -m bench run` therefore keeps freed
memory (recorded as `allocator` in the machine info), and the self-check alternates the two
timers in short blocks, judging by the 95% interval of the paired ratio.

Run it: `python -m bench selfcheck` (a part of every `make bench`).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.machine import peak_bandwidth, peak_flops
from bench.measurement import independent_times
from bench.suite import Impl, Step, Suite
from bench.timing import paired_ratio

CPU_TARGET, CUDA_TARGET = 0.05, 0.03          # relative disagreement allowed
CPU_MIN_TIME, CUDA_MIN_TIME = 1e-3, 50e-6     # targets apply from these durations up


@dataclass(frozen=True)
class Case:
    op: str     # "add", "matmul" or "conv1x1"
    size: int   # elements (add), matrix side (matmul), channels at 56x56, batch 8 (conv1x1)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.size}"


SMOKE = (Case("add", 1024), Case("matmul", 64), Case("conv1x1", 16))
DEFAULT = (Case("add", 2**12), Case("add", 2**24), Case("matmul", 128), Case("matmul", 1024),
           Case("conv1x1", 32), Case("conv1x1", 256))
FULL = DEFAULT + (Case("add", 2**27), Case("matmul", 4096))
GRIDS = {"smoke": SMOKE, "default": DEFAULT, "full": FULL}


def make_op(case: Case, device, dtype):
    """(function to time, its FLOPs, its minimal bytes, its result in float64)."""
    gen = torch.Generator().manual_seed(0)
    size = case.size
    if case.op == "add":
        a, b = (torch.randn(size, generator=gen) for _ in range(2))
        args, flops, moved = (a, b), size, 3 * size
        fn, ref = torch.add, (a.double() + b.double())
    elif case.op == "matmul":
        a, b = (torch.randn(size, size, generator=gen) for _ in range(2))
        args, flops, moved = (a, b), 2 * size**3, 3 * size * size
        fn, ref = torch.matmul, a.double() @ b.double()
    else:
        x = torch.randn(8, size, 56, 56, generator=gen)
        w = torch.randn(size, size, 1, 1, generator=gen) / size**0.5
        args = (x, w)
        flops, moved = 2 * 8 * 56 * 56 * size * size, 2 * x.numel() + w.numel()
        fn, ref = F.conv2d, F.conv2d(x.double(), w.double())
    args = tuple(t.to(device, dtype) for t in args)
    element = args[0].element_size()
    return (lambda: fn(*args)), flops, moved * element, ref


def target(device: str) -> tuple[float, float]:
    """(largest relative disagreement allowed, shortest duration judged) on `device`."""
    return (CPU_TARGET, CPU_MIN_TIME) if device == "cpu" else (CUDA_TARGET, CUDA_MIN_TIME)


class SelfCheck(Suite):
    name = "selfcheck"
    title = "Timer self-check"
    question = ("Do the harness's timings agree with independent timers and with the machine's "
                "limits?")
    modes = ("forward",)
    precisions = {"cpu": ("fp32",), "cuda": ("fp32",)}
    grids = GRIDS
    impls = {"ours": Impl("ours", about="pytest-benchmark with the harness's timer")}
    baseline = "ours"
    case_key = ("add-16777216 is the operation and its size: elements (add), matrix side "
                "(matmul), or channels at 56x56, batch 8 (conv1x1)")

    def make_inputs(self, case, device, dtype):
        return make_op(case, device, dtype)

    def prepare(self, case, impl, inputs, mode):
        fn, flops, moved, _ = inputs
        return Step(fn, lambda: {"output": fn()}, work={"flops": flops, "bytes": moved})

    def reference(self, case, impl, inputs, mode):
        return {"output": inputs[3]}

    def after_timing(self, step, device, precision):
        """The other timers, the floor the measured peaks allow, and the target that applies."""
        floor = max(step.work["flops"] / peak_flops(device, precision),
                    step.work["bytes"] / peak_bandwidth(device))
        allowed, shortest = target(torch.device(device).type)
        return {"floor_time": floor, "target_disagreement": allowed,
                "target_min_time": shortest, **independent_times(step.fn, device),
                **paired_ratio(step.fn, torch.device(device))}


SUITE = SelfCheck()
