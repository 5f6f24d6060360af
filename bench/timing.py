"""Clocks: a synchronising CUDA wall timer, device time from CUDA events, torch.utils.benchmark."""

import logging
import math
import statistics
import time
import warnings
from unittest import mock

import torch

# torch.utils.benchmark imports torch's C++-extension builder, which warns on every start of a
# machine with a CUDA_HOME but no CUDA runtime; nothing here builds an extension. That warning
# alone is dropped: the builder's others still show.
logging.getLogger("torch.utils.cpp_extension").addFilter(
    lambda record: not record.getMessage().startswith("No CUDA runtime is found"))
import torch.utils.benchmark as tbench  # noqa: E402 - after the filter is in place

# Shortest round of calls between two synchronisations on CUDA. A synchronisation and the launch
# it leaves unhidden cost 12-21 us on an H200 (pytest-benchmark's median minus the device time of
# the self-check's 50-123 us operations, one call per round); in rounds of 1 ms that is ~2%.
CUDA_MIN_ROUND = 1e-3


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


def wall_clock(device: torch.device):
    """The harness's wall clock for work on `device`: on CUDA it waits for queued work first."""
    return CudaSyncTimer(device) if device.type == "cuda" else time.perf_counter


# The sleep kernel that holds the device while the calls are queued behind it, in GPU clock
# cycles (about 25 ms at 2 GHz), and how often the calls are queued again behind a longer one
# where the device caught up with the host.
SLEEP_CYCLES = 50_000_000
QUEUE_TRIES = 3
# Calls timed back to back, at least, for a device time by events.
FEWEST_HELD = 3


def device_time(fn, device: torch.device, reps: int = 20, setup=None) -> float:
    """Median seconds the device spends on one call of `fn`, from CUDA events around each call;
    NaN where too few calls ran back to back (`measure` then sums the kernels' times by the
    profiler).

    A sleep kernel first holds the device while the host queues the calls behind it, so that
    they run back to back: events then time the kernels, not the host's launch gaps. That holds
    for a call only if the device had not reached it when the host had queued all of it; where
    it had, the device may have waited for the host within the call, and its events count the
    wait (on an H200 a ResNet-50 backward, whose setup, a forward pass, is queued with it, had
    7.17 ms of device time against a wall median of 5.16). So each call's start event is asked,
    once the call is queued, whether the device has reached it: only the calls it had not are
    timed. (A host held back by a full launch queue keeps the device busy: its calls count.)
    Where some call was reached, the calls are queued again behind a sleep lengthened to the
    host's queuing time. `setup`, when given, runs before each call, outside the events, and
    returns `fn`'s (args, kwargs)."""
    cycles = SLEEP_CYCLES
    for attempt in range(1, QUEUE_TRIES + 1):
        times, queuing, slept = _behind_a_sleep(fn, device, reps, setup, cycles)
        held = [t for t in times if not math.isnan(t)]
        if len(held) == len(times) or (attempt == QUEUE_TRIES and len(held) >= FEWEST_HELD):
            return statistics.median(held)
        cycles = int(cycles * max(2.0, 1.5 * queuing / max(slept, 1e-6)))
    return math.nan


def _behind_a_sleep(fn, device: torch.device, reps: int, setup, cycles: int):
    """(each call's seconds by events, NaN for a call the device had reached before the host
    had queued all of it; the host's seconds queuing the calls; the sleep's seconds) for `reps`
    calls queued behind a sleep of `cycles`."""
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    asleep, awake = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(device)
    asleep.record()
    torch.cuda._sleep(cycles)
    awake.record()
    begun = time.perf_counter()
    reached = []
    for start, end in zip(starts, ends):
        args, kwargs = setup() if setup else ((), {})
        start.record()
        fn(*args, **kwargs)
        end.record()
        reached.append(start.query())
    queuing = time.perf_counter() - begun
    torch.cuda.synchronize(device)
    return ([math.nan if late else s.elapsed_time(e) / 1e3
             for s, e, late in zip(starts, ends, reached)], queuing,
            asleep.elapsed_time(awake) / 1e3)


# What torch's sync debug mode warns at an operation that makes the host wait for the device.
SYNC_WARNING = "called a synchronizing CUDA operation"


def _told(wait):
    """`wait` (a waiting function the sync debug mode does not see) made to warn as it does."""
    def told(*args, **kwargs):
        warnings.warn(SYNC_WARNING, stacklevel=2)
        return wait(*args, **kwargs)
    return told


def synchronises(fn, setup=None) -> bool:
    """Whether one call of `fn` makes the host wait for the device (a copy to the host, `.item()`,
    a stream synchronisation), by torch's sync debug mode, which then warns at each such operation;
    `torch.cuda.synchronize()` and an event's synchronize, which it does not see, are made to warn
    too meanwhile. `setup`, when given, runs first, outside the mode."""
    args, kwargs = setup() if setup else ((), {})
    mode = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught, \
            mock.patch.object(torch.cuda, "synchronize", _told(torch.cuda.synchronize)), \
            mock.patch.object(torch.cuda.Event, "synchronize", _told(torch.cuda.Event.synchronize)):
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode(mode)
    return any(SYNC_WARNING in str(w.message) for w in caught)


def blocked_median(stmt: str, min_run_time: float, **names) -> float:
    """Median seconds of `stmt` by torch.utils.benchmark (which synchronises CUDA itself), on
    every thread: its Timer defaults to one, which halved the measured peaks on two cores."""
    timer = tbench.Timer(stmt=stmt, globals=names, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def _alternate(ours, theirs, blocks: int) -> tuple[float, float, float]:
    """The median of ours() / theirs() over `blocks` blocks, which of the two goes first
    alternating (ABBA...), and its 95% interval."""
    ratios = []
    for block in range(blocks):
        if block % 2:
            b, a = theirs(), ours()
        else:
            a, b = ours(), theirs()
        ratios.append(a / b)
    return (statistics.median(ratios), *median_interval(ratios))


def per_call(fn, setup, clock, calls: int) -> float:
    """Seconds per call of `fn` over `calls` calls, as pytest-benchmark times a round; with
    `setup`, each call's arguments are made outside the clock."""
    if setup is None:
        start = clock()
        for _ in range(calls):
            fn()
        return (clock() - start) / calls
    total = 0.0
    for _ in range(calls):
        args, kwargs = setup()
        start = clock()
        fn(*args, **kwargs)
        total += clock() - start
    return total / calls


def timed_call(fn, setup, clock) -> tuple[float, float]:
    """(the seconds of one call of `fn` as per_call times it, the seconds it took with its
    setup)."""
    start = time.perf_counter()
    seconds = per_call(fn, setup, clock, 1)
    return seconds, time.perf_counter() - start


def paired_ratio(fn, device: torch.device, blocks: int = 40, block_time: float = 0.025) -> dict:
    """Our clock against torch.utils.benchmark on `fn`, in alternating short blocks (ABBA...),
    so that drift and a neighbour's load fall on both sides alike: the median of the blocks'
    ratios (ours / theirs) and its 95% interval.

    40 blocks: one block's ratio strays by 3-5% on the 2-core VM, now and then by 15%; with 12
    blocks of 0.04 s the interval (3rd to 10th of 12) was often wider than the 5% target, with
    40 of 0.025 s (14th to 27th) it was within 3% for every operation of a millisecond or more.

    Our side is what pytest-benchmark does with the harness's timer: read the clock, run `fn`
    `n` times, read it again (synchronising first on CUDA); theirs is Timer.timeit(n).
    """
    clock = wall_clock(device)
    theirs = tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    n = max(1, int(block_time / max(per_call(fn, None, clock, 1), 1e-7)))
    ratio, low, high = _alternate(lambda: per_call(fn, None, clock, n),
                                  lambda: theirs.timeit(n).median, blocks)
    return {"paired_ratio": ratio, "paired_low": low, "paired_high": high,
            "paired_blocks": blocks}


# Side by side with the baseline: blocks, seconds per block and side, and the longest call
# paired. Ten blocks of 10 ms a side, estimated at 19% more time for the default grid's CPU run
# from one run's medians (the run took 27% longer, the machine's own drift included). A pair
# of calls longer than PAIRED_ROW_TIME / 10 with their setups gets fewer blocks (an even
# number, PAIRED_FEWEST at least: the fewest whose interval covers 95%): ResNet-50's
# training step takes 0.5-1 s on the 2-core VM, and ten blocks of it and of full backprop
# would add 20 s per regime. Calls above 1.5 s (torchvision's roi_align forward+backward at
# 512 regions of 14x14, 2 s) are not paired, and their ratios stay the medians'.
PAIRED_BLOCKS, PAIRED_BLOCK_TIME, PAIRED_LONGEST = 10, 0.01, 1.5
PAIRED_FEWEST, PAIRED_ROW_TIME = 6, 5.0


def against_baseline(fn, baseline, device: torch.device, setup=None, baseline_setup=None,
                     blocks: int = PAIRED_BLOCKS, block_time: float = PAIRED_BLOCK_TIME,
                     longest: float = PAIRED_LONGEST, row_time: float = PAIRED_ROW_TIME) -> dict:
    """`fn`'s time over its baseline's, the two timed in alternating blocks by the harness's
    clock: the median of the blocks' ratios and its 95% interval (`baseline_ratio`, `_low`,
    `_high`). The medians of two benchmarks are measured seconds or minutes apart, and a shared
    machine's speed drifts between them (on the 2-core VM the same unchanged step took 1.2-1.5
    times as long in one make bench run as in the one before); alternating blocks share the
    drift. Nothing where a call of either takes longer than `longest` seconds; fewer blocks
    (PAIRED_FEWEST at least) where `blocks` would take more than `row_time` seconds, setups
    included. `fn` comes warm from its own measurement; the baseline, freshly prepared, is
    called once first, for its first call's costs."""
    clock = wall_clock(device)
    sides = ((fn, setup), (baseline, baseline_setup))
    per_call(*sides[1], clock, 1)
    once, wall = zip(*(timed_call(*side, clock) for side in sides))
    if max(once) > longest:
        return {}
    calls = [max(1, int(block_time / max(seconds, 1e-7))) for seconds in wall]
    fitting = int(row_time / sum(n * seconds for n, seconds in zip(calls, wall)))
    # an even number, so that each side goes first as often
    blocks = min(blocks, max(PAIRED_FEWEST, fitting - fitting % 2))
    ratio, low, high = _alternate(lambda: per_call(*sides[0], clock, calls[0]),
                                  lambda: per_call(*sides[1], clock, calls[1]), blocks)
    return {"baseline_ratio": ratio, "baseline_ratio_low": low, "baseline_ratio_high": high,
            "baseline_ratio_blocks": blocks}


def median_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median: the order statistics between which it lies
    with at least `confidence` (by the binomial distribution of values below the median). NaN
    where even the whole range falls short (5 values or fewer at 95%: it covers 1 - 2 / 2**n)."""
    ordered = sorted(values)
    n = len(ordered)
    if 1 - 2 / 2**n < confidence:
        return math.nan, math.nan
    k = 0  # the largest k with P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2
    while k < n and sum(math.comb(n, i) for i in range(k + 1)) / 2**n <= (1 - confidence) / 2:
        k += 1
    return ordered[max(k - 1, 0)], ordered[min(n - k, n - 1)]
