"""CUDA timing logic, run on CPU with torch.cuda's synchronize, events and sleep mocked."""

import contextlib
import math
import time
import warnings
from types import SimpleNamespace
from unittest import mock

import pytest
import torch

from bench import timing


def test_cuda_timer_synchronises_before_reading_the_clock():
    calls = []
    with mock.patch.object(torch.cuda, "synchronize", lambda d: calls.append(("sync", d))), \
            mock.patch.object(timing.time, "perf_counter", lambda: calls.append("clock") or 1.5):
        timer = timing.CudaSyncTimer(torch.device("cuda:0"))
        assert timer() == 1.5
    assert calls == [("sync", torch.device("cuda:0")), "clock"]
    assert "cuda:0" in repr(timer)


class FakeDevice:
    """A host and a device, each with its clock: the host queues work and moves on; the device
    runs it in order, each piece once the host has queued it and the piece before is done.
    Events record when the device reaches them; a sleep of n cycles takes n / 2e9 s. `fn` takes
    `host` seconds of the host's time, then queues its next kernel. With a `depth`, a kernel
    waits on the host until fewer than `depth` kernels are pending (CUDA's launch queue)."""

    def __init__(self, kernels, host, sleeps_hold=True, depth=None):
        self.kernels, self.host_per_call, self.sleeps_hold = iter(kernels), host, sleeps_hold
        self.host = self.free = 0.0  # the host's time; when the device is done with its queue
        self.sleeps, self.depth, self.done_at = [], depth, []

    def queue(self, seconds, kernel=True):
        pending = [t for t in self.done_at if t > self.host]
        if kernel and self.depth and len(pending) >= self.depth:
            self.host = sorted(pending)[len(pending) - self.depth]  # blocked until one is done
        self.free = max(self.free, self.host) + seconds
        if kernel:
            self.done_at.append(self.free)

    def fn(self):
        self.host += self.host_per_call
        self.queue(next(self.kernels))

    @contextlib.contextmanager
    def patched(self):
        device = self

        class Event:
            def __init__(self, enable_timing):
                assert enable_timing
                self.at = None

            def record(self):
                device.queue(0.0, kernel=False)
                self.at = device.free

            def query(self):
                return self.at <= device.host

            def elapsed_time(self, end):
                return (end.at - self.at) * 1e3  # milliseconds, as CUDA reports

        def sleep(cycles):
            self.sleeps.append(cycles)
            self.queue(cycles / 2e9 if self.sleeps_hold else 0.0)

        def synchronize(d=None):
            self.host = max(self.host, self.free)

        with mock.patch.object(torch.cuda, "Event", Event), \
                mock.patch.object(torch.cuda, "synchronize", synchronize), \
                mock.patch.object(torch.cuda, "_sleep", sleep), \
                mock.patch.object(timing.time, "perf_counter", lambda: self.host):
            yield

    def device_time(self, reps, setup=None):
        with self.patched():
            return timing.device_time(self.fn, torch.device("cuda"), reps=reps, setup=setup)


def test_device_time_is_the_median_of_event_pairs():
    # one stray pair: the mean is 12 ms
    device = FakeDevice([1e-3, 50e-3, 2e-3, 3e-3, 4e-3], host=1e-5)
    assert device.device_time(reps=5) == pytest.approx(3e-3)
    assert device.sleeps == [timing.SLEEP_CYCLES]  # 25 ms held the queue: once was enough


def test_calls_the_host_queues_slower_than_the_sleep_lasts_are_queued_again_behind_a_longer():
    # 20 calls of 1 ms on the device, each 4.5 ms on the host (with a ResNet's forward as its
    # setup, say): 90 ms of queuing behind a 25 ms sleep, and the device idles between calls
    device = FakeDevice([1e-3] * 20, host=4.5e-3)
    with device.patched():
        times, queuing, slept = timing._behind_a_sleep(
            device.fn, torch.device("cuda"), 20, None, timing.SLEEP_CYCLES)
    # the six calls queued before the device caught up ran back to back (the sixth from 30 ms,
    # queued by 27); the device reached each of the others before the host had queued it
    assert times[:6] == pytest.approx([1e-3] * 6) and all(math.isnan(t) for t in times[6:])
    assert queuing == pytest.approx(0.09) and slept == pytest.approx(0.025)
    device = FakeDevice([1e-3] * 40, host=4.5e-3)
    assert device.device_time(reps=20) == pytest.approx(1e-3)
    assert device.sleeps == [timing.SLEEP_CYCLES, int(timing.SLEEP_CYCLES * 1.5 * 0.09 / 0.025)]


def test_calls_held_back_by_a_full_launch_queue_ran_back_to_back_and_count():
    # 3 ms kernels queued in 0.1 ms, four pending at most: past the sleep the host waits on the
    # queue, and the device never waits on the host
    device = FakeDevice([3e-3] * 20, host=1e-4, depth=4)
    assert device.device_time(reps=20) == pytest.approx(3e-3)
    assert device.sleeps == [timing.SLEEP_CYCLES]


def test_device_time_is_nan_where_no_sleep_holds_the_queue():
    device = FakeDevice([1e-3] * 100, host=5e-3, sleeps_hold=False)
    assert math.isnan(device.device_time(reps=20))
    assert len(device.sleeps) == timing.QUEUE_TRIES


def test_the_calls_held_on_the_last_try_count_where_at_least_three_were():
    # a sleep that never lasts: only calls the host queues within a running kernel are held
    device = FakeDevice([2e-3, 1e-3] * 30, host=1.5e-3, sleeps_hold=False)
    found = device.device_time(reps=20)
    assert len(device.sleeps) == timing.QUEUE_TRIES and found == pytest.approx(1e-3)


def test_a_step_that_waits_for_the_device_is_told_by_torchs_sync_debug_mode():
    def waits(x=None):
        warnings.warn(timing.SYNC_WARNING, stacklevel=1)

    def fails():
        raise RuntimeError("step failed")

    modes = []
    with mock.patch.object(torch.cuda, "get_sync_debug_mode", lambda: 0), \
            mock.patch.object(torch.cuda, "set_sync_debug_mode", modes.append):
        assert timing.synchronises(waits) is True
        assert timing.synchronises(lambda: warnings.warn("another warning", stacklevel=1)) is False
        # the setup runs before the mode is set: its waits are not the step's
        setup = lambda: (waits(), ((1,), {}))[1]  # noqa: E731
        assert timing.synchronises(lambda x: None, setup=setup) is False
        assert timing.synchronises(waits, setup=setup) is True
        with pytest.raises(RuntimeError, match="step failed"):
            timing.synchronises(fails)
        # waits the mode does not see are told too, and put back afterwards
        waited = []
        with mock.patch.object(torch.cuda, "synchronize", lambda: waited.append("device")), \
                mock.patch.object(torch.cuda.Event, "synchronize", lambda e: waited.append(e)):
            assert timing.synchronises(lambda: torch.cuda.synchronize()) is True
            event = torch.cuda.Event.__new__(torch.cuda.Event)
            assert timing.synchronises(lambda: event.synchronize()) is True
            assert waited == ["device", event]  # still waited
            assert timing.synchronises(lambda: None) is False
            with warnings.catch_warnings(record=True) as after:
                warnings.simplefilter("always")
                torch.cuda.synchronize()
            assert waited[-1] == "device" and not after
    assert modes == ["warn", 0] * 8  # the mode is put back every time, after a failure too


def test_paired_ratio_alternates_the_two_timers_and_brackets_its_median():
    x = torch.randn(256, 256)
    found = timing.paired_ratio(lambda: x @ x, torch.device("cpu"), blocks=6, block_time=0.002)
    assert found["paired_blocks"] == 6
    assert found["paired_low"] <= found["paired_ratio"] <= found["paired_high"]
    assert 0.2 < found["paired_ratio"] < 5  # the same work by two clocks


def test_alternating_blocks_swap_which_goes_first_and_take_the_median_of_ratios():
    order, ours = [], iter([1.0, 2.0, 3.0, 4.0, 100.0, 5.0])

    def side(name, values):
        return lambda: order.append(name) or next(values)

    found = timing._alternate(side("ours", ours), side("theirs", iter([2.0] * 6)), blocks=6)
    assert order == ["ours", "theirs", "theirs", "ours"] * 3
    # ratios 0.5, 1, 1.5, 2, 50, 2.5: the median, which the one stray block does not move
    assert found == (1.75, 0.5, 50.0)


def stepped_clock():
    """(patch, work, clock): a perf_counter that only the calls of `work(seconds)` move forward
    (and `clock["now"] += seconds`)."""
    clock = {"now": 0.0}

    def work(seconds):
        def call():
            clock["now"] += seconds
        return call

    return mock.patch.object(timing.time, "perf_counter", lambda: clock["now"]), work, clock


def test_against_baseline_times_both_in_alternating_blocks():
    """On a clock that only the steps move: a timed test on a shared machine is not a test."""
    patched, work, clock = stepped_clock()
    cpu = torch.device("cpu")
    with patched:
        found = timing.against_baseline(work(2e-3), work(1e-3), cpu, blocks=6, block_time=0.004)
        assert found == pytest.approx({"baseline_ratio": 2.0, "baseline_ratio_low": 2.0,
                                       "baseline_ratio_high": 2.0, "baseline_ratio_blocks": 6})

        # with a setup, only the calls are timed: 1 ms against 2 ms, where a timed setup of
        # 20 ms would make it 21 ms against 2
        def slow():
            clock["now"] += 0.02
            return (), {}

        calls = []
        found = timing.against_baseline(lambda: calls.append(1) or work(1e-3)(), work(2e-3),
                                        cpu, setup=slow, blocks=6, block_time=0.004)
        assert found["baseline_ratio"] == pytest.approx(0.5)
        # one call per block: with its setup a call takes 21 ms, more than a block's 4 ms (four
        # calls of 1 ms would fit the block, and take 84 ms); and one to size the blocks
        assert len(calls) == 6 + 1
        # a step longer than `longest` is not paired, nor a baseline
        assert timing.against_baseline(work(2e-3), work(1e-3), cpu, longest=1e-3) == {}
        assert timing.against_baseline(work(2e-3), work(1e-4), cpu, longest=1e-3) == {}
        assert timing.against_baseline(work(1e-4), work(2e-3), cpu, longest=1e-3) == {}

        # a baseline's first call (its lazy set-up) does not make it too long to pair
        first = []

        def cold_then_quick():
            clock["now"] += 1e-3 if first else 1.0
            first.append(1)

        found = timing.against_baseline(work(1e-3), cold_then_quick, cpu, blocks=6,
                                        block_time=0.004, longest=0.5)
        assert found["baseline_ratio"] == pytest.approx(1.0)
        # with a setup, a block of several calls gives seconds per call
        assert timing.per_call(work(1e-3), lambda: ((), {}), lambda: clock["now"], 4) \
            == pytest.approx(1e-3)


def test_long_calls_are_paired_in_fewer_blocks_but_never_fewer_than_the_fewest():
    def sleeper(seconds):
        return lambda: time.sleep(seconds)

    # blocks of 4 ms + 2 x 2 ms and the sleeps' overshoot (8-9 ms): 0.03 s allows 3 of them,
    # the fewest is 6; 0.06 s allows 7 (or 6), taken down to an even 6; 1 s allows over 100,
    # 10 are asked
    for row_time, blocks in ((0.03, timing.PAIRED_FEWEST), (0.06, 6), (1.0, 10)):
        found = timing.against_baseline(sleeper(0.004), sleeper(0.002), torch.device("cpu"),
                                        blocks=10, block_time=0.005, row_time=row_time)
        assert found["baseline_ratio_blocks"] == blocks


def test_side_by_side_pairs_every_step_but_the_baseline_a_skipped_one_and_a_long_one():
    """bench.benchmarks.side_by_side, with a stand-in suite: the baseline is prepared (even one
    that -k deselected: nothing here knows) and paired unless one of the three holds."""
    from types import SimpleNamespace

    from bench import benchmarks

    prepared = []
    spec = SimpleNamespace(
        baseline_for=lambda case: "base", shares_inputs=True,
        skip_reason=lambda case, impl, *rest: "skipped here" if case == "skips" else None,
        prepare=lambda case, impl, inputs, mode: prepared.append(impl) or SimpleNamespace(
            fn=lambda: None, setup=None))
    step = SimpleNamespace(fn=lambda: None, setup=None)

    def pair(case, impl, median):
        bench = SimpleNamespace(stats=SimpleNamespace(stats=SimpleNamespace(median=median)))
        with mock.patch.object(benchmarks, "against_baseline", return_value={"paired": 1}):
            return benchmarks.side_by_side(bench, spec, case, impl, None, step, "cpu", "fp32",
                                           torch.float32, "forward")

    assert pair("c", "ours", 0.01) == {"paired": 1} and prepared == ["base"]
    assert pair("c", "base", 0.01) == {}
    assert pair("skips", "ours", 0.01) == {}
    assert pair("c", "ours", timing.PAIRED_LONGEST * 2) == {}
    assert prepared == ["base"]  # none prepared in vain


def test_only_the_builder_s_no_cuda_runtime_warning_is_dropped():
    import logging

    builder = logging.getLogger("torch.utils.cpp_extension")

    def record(message):
        return logging.LogRecord(builder.name, logging.WARNING, __file__, 1, message, (), None)

    assert not builder.filter(record("No CUDA runtime is found, using CUDA_HOME='/usr/local'"))
    assert builder.filter(record("Error checking compiler version for c++"))


def test_the_self_check_s_paired_blocks_hold_as_many_calls_as_fill_a_block():
    clock, asked = {"now": 0.0}, []

    def step():
        clock["now"] += 1e-3

    class Timer:  # torch.utils.benchmark's, asked for n calls a block
        def __init__(self, stmt, globals, num_threads):
            pass

        def timeit(self, number):
            asked.append(number)
            return SimpleNamespace(median=1e-3)

    with mock.patch.object(timing.time, "perf_counter", lambda: clock["now"]), \
            mock.patch.object(timing.tbench, "Timer", Timer):
        found = timing.paired_ratio(step, torch.device("cpu"), blocks=2, block_time=0.01)
    assert set(asked) == {10} and found["paired_ratio"] == pytest.approx(1.0)


def test_the_harness_wall_clock_synchronises_on_cuda_only():
    clock = timing.wall_clock(torch.device("cuda:0"))
    assert isinstance(clock, timing.CudaSyncTimer) and clock.device == torch.device("cuda:0")
    assert timing.wall_clock(torch.device("cpu")) is time.perf_counter


class FakeTimer:  # torch.utils.benchmark's, 1 ms a call whatever it is asked
    asked: list = []

    def __init__(self, stmt, globals, num_threads):
        pass

    def timeit(self, number):
        FakeTimer.asked.append(number)
        return SimpleNamespace(median=1e-3)


def paired(seconds, block_time):
    patched, work, _ = stepped_clock()
    FakeTimer.asked = []
    with patched, mock.patch.object(timing.tbench, "Timer", FakeTimer):
        return timing.paired_ratio(work(seconds), torch.device("cpu"), blocks=6,
                                   block_time=block_time)


def test_the_paired_ratio_is_ours_over_theirs():
    # ours takes 2 ms a call, torch.utils.benchmark says 1 ms: ours / theirs = 2, not 0.5
    found = paired(2e-3, 0.01)
    assert found["paired_ratio"] == pytest.approx(2.0)
    assert found["paired_low"] == pytest.approx(2.0) and found["paired_high"] == pytest.approx(2.0)


def test_a_paired_block_holds_the_calls_that_fit_it_not_one_more():
    # 10 ms blocks of 6 ms calls: one call fits (round() would ask for two, 12 ms)
    paired(6e-3, 0.01)
    assert set(FakeTimer.asked) == {1}


def test_a_call_above_the_longest_paired_is_not_paired_by_default():
    """"Calls above 1.5 s ... are not paired": a 2 s step against a 1 ms baseline."""
    patched, work, _ = stepped_clock()
    with patched:
        assert timing.against_baseline(work(2.0), work(1e-3), torch.device("cpu")) == {}
        assert timing.against_baseline(work(1.0), work(1e-3), torch.device("cpu")) != {}


def test_device_time_leaves_the_setup_s_kernels_outside_the_events():
    device = FakeDevice([1.0, 1e-3] * 3, host=1e-5)

    def setup():  # a setup whose own kernels take a whole second
        device.fn()
        return (), {}

    assert device.device_time(reps=3, setup=setup) == pytest.approx(1e-3)


def test_the_median_interval_of_the_self_check_s_40_blocks_is_the_14th_to_the_27th():
    # the docstring of paired_ratio: "40 of 0.025 s (14th to 27th)"; a 90% interval: 15th-26th
    assert timing.median_interval(range(1, 41)) == (14, 27)
    # the fewest blocks whose interval covers 95% (PAIRED_FEWEST): the whole range of 6
    assert timing.median_interval(range(1, 7)) == (1, 6)
    assert timing.median_interval(range(1, 9)) == (1, 8)  # 90% would give (2, 7)
