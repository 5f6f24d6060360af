"""Clocks: a synchronising CUDA wall timer, device time from CUDA events, torch.utils.benchmark."""

import statistics
import time

import torch
import torch.utils.benchmark as tbench

# Host-side time far above device time means the GPU waits for the CPU to launch work.
HOST_BOUND_RATIO = 2.0


class CudaSyncTimer:
    """A wall clock that waits for the device's queued work before it is read.

    pytest-benchmark reads its timer once before and once after each round of iterations, so with
    this timer every round is bracketed by a synchronisation and asynchronous kernels cannot escape
    the measurement.
    """

    def __init__(self, device: torch.device):
        self.device = device

    def __call__(self) -> float:
        torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def __repr__(self) -> str:
        return f"CudaSyncTimer({self.device})"


def device_time(fn, device: torch.device, reps: int = 20, setup=None) -> float:
    """Median seconds the device spends on one call of `fn`, from CUDA events around each call.

    A sleep kernel first fills the stream's queue, so that the calls after it run back to back on
    the device: events then time the kernels, not the host's launch gaps between them. `setup`,
    when given, runs before each call, outside the events, and returns `fn`'s (args, kwargs).
    """
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    torch.cuda.synchronize(device)
    torch.cuda._sleep(50_000_000)
    for start, end in zip(starts, ends):
        args, kwargs = setup() if setup else ((), {})
        start.record()
        fn(*args, **kwargs)
        end.record()
    torch.cuda.synchronize(device)
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends)) / 1e3


def is_host_bound(wall: float, device: float) -> bool:
    """Whether a wall time is so far above the device time that launch overhead dominates."""
    return wall > HOST_BOUND_RATIO * device


def blocked_median(stmt: str, min_run_time: float, **names) -> float:
    """Median seconds of `stmt` by torch.utils.benchmark (which synchronises CUDA itself), on
    every thread: its Timer defaults to one, which halved the measured peaks on two cores."""
    timer = tbench.Timer(stmt=stmt, globals=names, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median
