"""Measurement of one benchmark: error against a reference, warm-up, timing, device figures."""

import math
import statistics

import torch
from pytest_benchmark.stats import Stats

from bench.machine import peak_bandwidth, peak_flops
from bench.tables import is_host_bound, is_noisy
from bench.timing import (
    blocked_median,
    device_time,
    per_call,
    synchronises,
    timed_call,
    wall_clock,
)

# Warm-up calls: three, fewer where they add up to a second with their setups (a ResNet-50
# training step takes 0.5-1 s on the 2-core VM); the first call always.
WARMUP_CALLS, WARMUP_TIME = 3, 1.0
REMEASURE_TIME = 0.2  # seconds at most for the second measurement of a noisy benchmark
# Seconds of event pairs for the device time: 20 calls where they fit, at least 3. A fixed 20
# made one 0.65 s call (the PyTorch path's RoI forward+backward on an H200) cost 13 s.
DEVICE_TIME_BUDGET = 0.2
# Calls profiled for the device time of a step that waits for the device within a call (at
# most; fewer where DEVICE_TIME_BUDGET allows fewer): a profile each where the step has a setup,
# and kernel sums vary far less than wall times.
PROFILED_CALLS = 5


def relative_error(results: dict, reference: dict) -> float:
    """The largest relative Frobenius-norm error over the tensors a reference names, in float64."""
    errors = []
    for key, ref in reference.items():
        got = results[key].double().to(ref.device)
        scale = ref.norm().item() or 1.0
        errors.append((got - ref).norm().item() / scale)
    return max(errors)


# Rounds when each call needs a fresh setup (pytest-benchmark's pedantic mode cannot
# calibrate): 20, fewer where they would take more than SETUP_ROUNDS_TIME seconds, setups
# included, but 5 at least, pytest-benchmark's own least. Twenty rounds of ResNet-50's backward
# took 25 s of a run on the 2-core VM, the untimed forwards included.
ROUNDS_WITH_SETUP, FEWEST_ROUNDS_WITH_SETUP, SETUP_ROUNDS_TIME = 20, 5, 2.0


def rounds_with_setup(seconds: float | None) -> int:
    """Rounds for a step with a setup whose call took `seconds` with its setup (None: not
    known)."""
    if not seconds:
        return ROUNDS_WITH_SETUP
    return max(FEWEST_ROUNDS_WITH_SETUP, min(ROUNDS_WITH_SETUP, int(SETUP_ROUNDS_TIME / seconds)))


def measure(benchmark, fn, *, device: str, precision: str, setup=None,
            warmup: int = WARMUP_CALLS) -> None:
    """Warm `fn` up, time it with pytest-benchmark, and add device-side figures to extra_info.

    The warm-up pays for first-call costs (allocation, cuDNN's algorithm search, lazy init) outside
    the timing. `setup`, when given, runs before every call outside the timed region and returns
    `fn`'s (args, kwargs). With --benchmark-disable `fn` still runs once, so a smoke run tests it.
    On CUDA the benchmark's timer is the synchronising CudaSyncTimer, set per test by the plugin
    through pytest-benchmark's `benchmark(timer=...)` marker.
    """
    dev = torch.device(device)
    warm = []  # each warm-up call's seconds, its setup included
    while benchmark.enabled and len(warm) < warmup and sum(warm) < WARMUP_TIME:
        warm.append(timed_call(fn, setup, wall_clock(dev))[1])
    if setup is None:
        benchmark(fn)
    else:
        benchmark.pedantic(fn, setup=setup, rounds=rounds_with_setup(warm[-1] if warm else None))
    if not benchmark.enabled:
        return
    # the second look first, right after the first: the peaks are measured at a device and
    # precision's first benchmark
    second = remeasure_if_noisy(benchmark.stats, fn, dev, setup)
    info = {"peak_flops": peak_flops(device, precision), "peak_bandwidth": peak_bandwidth(device),
            "warmup_calls": len(warm), **second}
    if dev.type == "cuda":
        wall = benchmark.stats.stats.median
        # The sleep kernel keeps the queue full only until a call's first wait for the device;
        # after it, events around a call time the device idling while the host catches up. For
        # such a step the device time is the sum of its kernels' times instead.
        info["synchronises"] = synchronises(fn, setup)
        # the same where the host could not queue the calls faster than the device ran them
        info["device_time"] = math.nan if info["synchronises"] else device_time(
            fn, dev, reps=device_reps(wall), setup=setup)
        info["device_time_by"] = "events"
        if math.isnan(info["device_time"]):
            info["device_time"] = profiler_kernel_time(
                fn, dev, min(PROFILED_CALLS, device_reps(wall)), setup=setup)
            info["device_time_by"] = "profiler"
        info["host_bound"] = is_host_bound(wall, info["device_time"])
        info["peak_memory"] = peak_memory(fn, dev, setup=setup)
    benchmark.extra_info.update(info)


def device_reps(wall: float) -> int:
    """Calls for the device time of a step whose wall time is `wall` seconds."""
    return max(3, min(20, int(DEVICE_TIME_BUDGET / wall))) if wall > 0 else 20


def remeasure_if_noisy(metadata, fn, device: torch.device, setup=None) -> dict:
    """A second measurement of a noisy benchmark (interquartile range above NOISY_IQR_RATIO of
    the median): rounds of as many calls, by the same clock, right after the first, their
    statistics computed as pytest-benchmark computes the first's. Where the second is quiet, the
    tables use it instead of the first (`bench.records`): a burst of load from elsewhere spoils
    one measurement, its median too, not two. Within REMEASURE_TIME per benchmark, 3 rounds at
    least (the default grid's CPU run re-measured 101 of 240 1x1-convolution rows once: 50 s
    unbounded, 20 s at 0.2 s each)."""
    stats = metadata.stats  # pytest-benchmark's: statistics here, iterations on the metadata
    if not is_noisy(stats.median, stats.iqr):
        return {}
    clock = wall_clock(device)
    iterations = 1 if setup else metadata.iterations
    # as many rounds as the first time, within REMEASURE_TIME: a second look, not a second run
    rounds = max(3, min(stats.rounds, int(REMEASURE_TIME / (stats.median * iterations))))
    second = Stats()
    for _ in range(rounds):
        second.update(per_call(fn, setup, clock, iterations))
    return {"remeasured_median": second.median, "remeasured_iqr": second.iqr,
            "remeasured_rounds": second.rounds, "remeasured_data": second.data}


def peak_memory(fn, device: torch.device, setup=None) -> int:
    """Bytes allocated by one call of `fn` above what was allocated before it (after setup)."""
    args, kwargs = setup() if setup else ((), {})
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn(*args, **kwargs)
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base


def utils_benchmark_time(fn) -> float:
    """Median seconds per call by torch.utils.benchmark."""
    return blocked_median("fn()", 0.5, fn=fn)


def graph_replay_time(fn, device: torch.device) -> float:
    """Device seconds per replay of a CUDA graph that captured one call of `fn`."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):  # warm-up on a side stream, as graph capture requires
        for _ in range(3):
            fn()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return device_time(graph.replay, device)


def profiler_kernel_time(fn, device: torch.device, reps: int = 10, setup=None) -> float:
    """Device seconds per call: the time of the device's own events (kernels, copies) that
    torch.profiler records, summed, over `reps` calls; NaN where it records none (no CUPTI).
    `setup`, when given, runs before each call outside the profile (its kernels are not the
    call's), and the median of the calls' sums is taken."""
    def profiled(calls, args=(), kwargs=None):
        torch.cuda.synchronize(device)  # nothing queued before joins the profile
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(calls):
                fn(*args, **(kwargs or {}))
            torch.cuda.synchronize(device)
        micros = sum(event.self_device_time_total for event in prof.key_averages()
                     if event.device_type == torch.autograd.DeviceType.CUDA)
        return micros / 1e6 / calls if micros > 0 else math.nan

    if setup is None:
        return profiled(reps)
    return statistics.median(profiled(1, *setup()) for _ in range(reps))


def independent_times(fn, device: str) -> dict:
    """Times of `fn` by methods other than ours, for the self-check."""
    times = {"utils_benchmark_time": utils_benchmark_time(fn)}
    dev = torch.device(device)
    if dev.type == "cuda":
        times["graph_replay_time"] = graph_replay_time(fn, dev)
        times["profiler_time"] = profiler_kernel_time(fn, dev)
    return times
