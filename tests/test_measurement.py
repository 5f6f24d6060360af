"""One benchmark's measurement: warm-up, timer choice, device figures (CUDA mocked)."""

import contextlib
import math
from types import SimpleNamespace
from unittest import mock

import pytest
import torch

from bench import measurement, timing


class FakeBenchmark:
    """Stands in for pytest-benchmark's fixture: runs the function once, reports a median."""

    def __init__(self, enabled=True, median=1e-3, iqr=0.0):
        self.enabled, self.extra_info, self.calls = enabled, {}, 0
        self.stats = SimpleNamespace(stats=SimpleNamespace(median=median, iqr=iqr, rounds=6),
                                     iterations=2)

    def __call__(self, fn):
        self.calls += 1
        fn()

    def pedantic(self, fn, setup, rounds):
        self.rounds = rounds
        args, kwargs = setup()
        fn(*args, **kwargs)


@pytest.fixture
def peaks(monkeypatch):
    monkeypatch.setattr(measurement, "peak_flops", lambda device, precision: 1e12)
    monkeypatch.setattr(measurement, "peak_bandwidth", lambda device: 1e11)


def test_cpu_measurement_warms_up_then_times(peaks):
    calls = []
    bench = FakeBenchmark()
    measurement.measure(bench, lambda: calls.append(1), device="cpu", precision="fp32")
    assert len(calls) == measurement.WARMUP_CALLS + 1
    assert bench.extra_info == {"peak_flops": 1e12, "peak_bandwidth": 1e11,
                                "warmup_calls": measurement.WARMUP_CALLS}


def test_warm_up_stops_after_a_second_of_calls_but_makes_one_at_least(peaks, monkeypatch):
    monkeypatch.setattr(measurement, "WARMUP_TIME", 0.05)
    for seconds, warmups in ((0.03, 2), (0.06, 1)):  # 30 ms then 60: two; 60 ms: one
        bench = FakeBenchmark()
        measurement.measure(bench, lambda s=seconds: timing.time.sleep(s), device="cpu",
                            precision="fp32")
        assert bench.extra_info["warmup_calls"] == warmups


def test_disabled_benchmark_runs_once_and_records_nothing(peaks):
    calls = []
    bench = FakeBenchmark(enabled=False)
    measurement.measure(bench, lambda: calls.append(1), device="cpu", precision="fp32")
    assert len(calls) == 1 and bench.extra_info == {}


@pytest.mark.parametrize("waits, dry, median", [(False, False, 1e-3), (True, False, 1e-3),
                                                (True, False, 0.1), (False, True, 1e-3)])
def test_cuda_measurement_records_device_figures(peaks, monkeypatch, waits, dry, median):
    """Events time a step that never waits for the device; one that waits gets its kernels' time
    from the profiler (events would count the device's idle wait for the host), over as many
    calls as the events' budget allows, five at most, and so does one whose calls the host could
    not queue faster than the device ran them (NaN by events). Each sees the step's setup."""
    seen = []
    setup = lambda: ((), {})  # noqa: E731

    def timer(name, result):
        def time(fn, device, reps, setup):
            seen.append((name, reps, setup))
            return result
        return time

    monkeypatch.setattr(measurement, "synchronises",
                        lambda fn, setup: seen.append(("check", setup)) or waits)
    monkeypatch.setattr(measurement, "device_time", timer("events", math.nan if dry else 1e-4))
    monkeypatch.setattr(measurement, "profiler_kernel_time", timer("profiler", 6e-4))
    monkeypatch.setattr(measurement, "peak_memory", lambda fn, device, setup: 4096)
    monkeypatch.setattr(measurement, "wall_clock", lambda device: timing.time.perf_counter)
    bench = FakeBenchmark(median=median)
    measurement.measure(bench, lambda: None, device="cuda", precision="tf32", setup=setup)
    assert bench.extra_info["synchronises"] is waits
    reps = measurement.device_reps(median)
    profiled = ("profiler", min(5, reps), setup)
    if waits or dry:
        assert bench.extra_info["device_time"] == 6e-4
        assert bench.extra_info["device_time_by"] == "profiler"
        assert seen == [("check", setup)] + [("events", reps, setup)] * dry + [profiled]
        assert min(5, reps) == (5 if median == 1e-3 else 3)
        assert bench.extra_info["host_bound"] is (median > 2 * 6e-4)
    else:
        assert bench.extra_info["device_time"] == 1e-4
        assert bench.extra_info["device_time_by"] == "events"
        assert seen == [("check", setup), ("events", reps, setup)]
        assert bench.extra_info["host_bound"] is True
    assert bench.extra_info["peak_memory"] == 4096


def test_rounds_with_a_setup_fit_two_seconds_of_calls_between_5_and_20():
    assert measurement.rounds_with_setup(None) == 20  # not known: as many as ever
    assert measurement.rounds_with_setup(1e-3) == 20
    assert measurement.rounds_with_setup(0.2) == 10
    assert measurement.rounds_with_setup(0.6) == 5  # three would fit: never fewer than five
    seen = []

    def setup():  # 0.29 s of setup before a call of no time: 2 s allow 6 (up to 0.333 s each)
        seen.append(timing.time.sleep(0.29))
        return (), {}

    bench = FakeBenchmark()
    measurement.measure(bench, lambda: None, device="cpu", precision="fp32", setup=setup)
    assert bench.rounds == 6 and len(seen) == measurement.WARMUP_CALLS + 1


def test_peak_memory_is_measured_above_the_baseline():
    allocated = {"now": 1000, "peak": 1000}

    def step():
        allocated["peak"] = 5000

    with mock.patch.object(torch.cuda, "synchronize", lambda d=None: None), \
            mock.patch.object(torch.cuda, "memory_allocated", lambda d=None: allocated["now"]), \
            mock.patch.object(torch.cuda, "reset_peak_memory_stats", lambda d=None: None), \
            mock.patch.object(torch.cuda, "max_memory_allocated", lambda d=None: allocated["peak"]):
        assert measurement.peak_memory(step, torch.device("cuda")) == 4000


def test_relative_error_is_the_worst_tensor():
    ref = {"a": torch.ones(4, dtype=torch.float64), "b": torch.full((4,), 2.0, dtype=torch.float64)}
    got = {"a": torch.ones(4), "b": torch.full((4,), 2.2)}
    assert measurement.relative_error(got, ref) == pytest.approx(0.1, rel=1e-6)


def test_independent_times_add_graph_replay_and_profiler_on_cuda(monkeypatch):
    monkeypatch.setattr(measurement, "utils_benchmark_time", lambda fn: 1.0)
    monkeypatch.setattr(measurement, "graph_replay_time", lambda fn, device: 2.0)
    monkeypatch.setattr(measurement, "profiler_kernel_time", lambda fn, device: 3.0)
    assert measurement.independent_times(lambda: None, "cpu") == {"utils_benchmark_time": 1.0}
    assert measurement.independent_times(lambda: None, "cuda") == {
        "utils_benchmark_time": 1.0, "graph_replay_time": 2.0, "profiler_time": 3.0}


def test_utils_benchmark_time_uses_every_thread(monkeypatch):
    seen = {}

    class FakeTimer:
        def __init__(self, stmt, globals, num_threads):
            seen["threads"] = num_threads

        def blocked_autorange(self, min_run_time):
            return SimpleNamespace(median=0.5)

    monkeypatch.setattr(timing.tbench, "Timer", FakeTimer)
    assert measurement.utils_benchmark_time(lambda: None) == 0.5
    # torch.utils.benchmark defaults to one thread, which halved the peaks on two cores
    assert seen["threads"] == torch.get_num_threads()


def test_a_noisy_benchmark_is_measured_once_more_with_as_many_calls(peaks):
    calls = []
    bench = FakeBenchmark(median=1e-3, iqr=2e-4)  # 20% of the median
    measurement.measure(bench, lambda: calls.append(1), device="cpu", precision="fp32")
    # warm-up, the benchmark's call, then 6 rounds of 2 iterations
    assert len(calls) == measurement.WARMUP_CALLS + 1 + 6 * 2
    assert bench.extra_info["remeasured_rounds"] == 6
    assert 0 < bench.extra_info["remeasured_median"] < 1e-3


def test_the_second_look_comes_right_after_the_first_before_the_peaks(monkeypatch):
    """The peaks are measured at a device and precision's first benchmark: a noisy one is
    measured again first, while the load that spoiled it may still be there."""
    order = []
    monkeypatch.setattr(measurement, "peak_flops", lambda *a: order.append("flops") or 1e12)
    monkeypatch.setattr(measurement, "peak_bandwidth", lambda *a: order.append("copy") or 1e11)
    bench = FakeBenchmark(median=1e-3, iqr=2e-4)
    measurement.measure(bench, lambda: order.append("call"), device="cpu", precision="fp32")
    calls = measurement.WARMUP_CALLS + 1
    assert order == ["call"] * (calls + 6 * 2) + ["flops", "copy"]


def test_a_quiet_benchmark_is_measured_once(peaks):
    bench = FakeBenchmark(median=1e-3, iqr=1e-4)  # 10%: not above the threshold
    measurement.measure(bench, lambda: None, device="cpu", precision="fp32")
    assert "remeasured_median" not in bench.extra_info


def test_the_second_measurement_is_bounded_in_time(peaks):
    calls = []
    bench = FakeBenchmark(median=0.1, iqr=0.05)  # 6 rounds of 2 calls of 0.1 s: 1.2 s
    measurement.measure(bench, lambda: calls.append(1), device="cpu", precision="fp32")
    # at most REMEASURE_TIME (0.2 s) of calls, but never under 3 rounds
    assert bench.extra_info["remeasured_rounds"] == 3


def test_device_time_calls_fit_a_budget_but_are_never_fewer_than_three():
    # 0.2 s of calls: 20 where they fit, 10 of 20 ms, and 3 of a 0.65 s call (not 0)
    assert [measurement.device_reps(w) for w in (1e-4, 0.01, 0.02, 0.65)] == [20, 20, 10, 3]


def test_against_an_all_zero_reference_the_error_is_absolute():
    found = measurement.relative_error({"a": torch.full((4,), 1e-3)},
                                       {"a": torch.zeros(4, dtype=torch.float64)})
    assert found == pytest.approx(2e-3)  # the norm of the difference, not divided by ~0


def fake_clock(costs):
    """(clock, fn): a call of fn advances the clock by the next of `costs`, and nothing else."""
    clock, costs = {"now": 0.0}, iter(costs)

    def fn():
        clock["now"] += next(costs)

    return mock.patch.object(timing.time, "perf_counter", lambda: clock["now"]), fn


def test_rounds_with_a_setup_are_sized_by_the_last_warm_call_not_the_cold_first(peaks):
    patched, fn = fake_clock([0.5] + [0.01] * 100)
    bench = FakeBenchmark()
    with patched:
        measurement.measure(bench, fn, device="cpu", precision="fp32", setup=lambda: ((), {}))
    assert bench.rounds == 20  # 0.01 s calls; the 0.5 s first one would allow 5


def test_the_second_measurement_counts_every_call_of_a_round_in_its_time(peaks):
    bench = FakeBenchmark(median=0.025, iqr=0.01)  # rounds of 2 calls of 25 ms: 4 in 0.2 s
    measurement.measure(bench, lambda: None, device="cpu", precision="fp32")
    assert bench.extra_info["remeasured_rounds"] == 4


def test_the_second_measurement_s_spread_is_its_interquartile_range_as_pytest_benchmark_s():
    patched, fn = fake_clock([1.0, 2.0, 4.0, 8.0])
    metadata = SimpleNamespace(stats=SimpleNamespace(median=0.01, iqr=0.01, rounds=4),
                               iterations=1)
    with patched:
        found = measurement.remeasure_if_noisy(metadata, fn, torch.device("cpu"))
    # of 4 rounds, the medians of the lower and upper halves: 1.5 and 6 (statistics.quantiles
    # would say 1.25 and 7)
    assert found["remeasured_iqr"] == 4.5 and found["remeasured_median"] == 3.0
    assert found["remeasured_data"] == [1.0, 2.0, 4.0, 8.0] and found["remeasured_rounds"] == 4


def test_the_profiler_s_kernel_time_is_per_call(monkeypatch):
    class Profile:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def key_averages(self):  # 1000 us of kernels over the 5 calls
            return [SimpleNamespace(self_device_time_total=1000.0,
                                    device_type=torch.autograd.DeviceType.CUDA)]

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.profiler, "profile", lambda activities: Profile())
    assert measurement.profiler_kernel_time(lambda: None, torch.device("cpu"), reps=5) \
        == pytest.approx(2e-4)


def test_relative_error_is_the_worst_tensor_wherever_it_comes():
    ref = {"b": torch.full((4,), 2.0, dtype=torch.float64), "a": torch.ones(4, dtype=torch.float64)}
    got = {"b": torch.full((4,), 2.2), "a": torch.ones(4)}
    assert measurement.relative_error(got, ref) == pytest.approx(0.1, rel=1e-6)


def test_peak_memory_leaves_out_what_the_setup_allocates(monkeypatch):
    state = {"now": 1000, "peak": 1000}

    def setup():  # its tensors stay allocated: 2000 bytes
        state["now"] += 2000
        state["peak"] = max(state["peak"], state["now"])
        return (), {}

    def step():  # 4000 bytes at its peak
        state["peak"] = max(state["peak"], state["now"] + 4000)

    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: state["now"])
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda d=None: state.update(peak=state["now"]))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: state["peak"])
    assert measurement.peak_memory(step, torch.device("cuda"), setup=setup) == 4000


def fake_profiler(monkeypatch, totals, cpu_too=False):
    """torch.profiler.profile whose n-th profile holds CUDA events of totals[n] us (and, with
    cpu_too, a CPU operator with as much self device time); the order of syncs and profiles."""
    order, totals = [], iter(totals)

    class Profile:
        def __enter__(self):
            order.append("enter")
            self.micros = next(totals)
            return self

        def __exit__(self, *exc):
            order.append("exit")
            return False

        def key_averages(self):
            if self.micros is None:
                return []
            events = [SimpleNamespace(self_device_time_total=self.micros,
                                      device_type=torch.autograd.DeviceType.CUDA)]
            if cpu_too:
                events.append(SimpleNamespace(self_device_time_total=self.micros,
                                              device_type=torch.autograd.DeviceType.CPU))
            return events

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: order.append("sync"))
    monkeypatch.setattr(torch.profiler, "profile", lambda activities: Profile())
    return order


def test_no_kernel_recorded_is_nan_not_zero(monkeypatch):
    fake_profiler(monkeypatch, [None])
    assert math.isnan(measurement.profiler_kernel_time(lambda: None, torch.device("cpu"), reps=5))


def test_the_profiler_s_kernel_time_counts_the_device_s_events_only(monkeypatch):
    fake_profiler(monkeypatch, [1000.0], cpu_too=True)
    assert measurement.profiler_kernel_time(lambda: None, torch.device("cpu"), reps=5) \
        == pytest.approx(2e-4)


def test_with_a_setup_the_profiler_takes_the_median_of_the_calls(monkeypatch):
    fake_profiler(monkeypatch, [100.0, 1000.0, 100.0])
    found = measurement.profiler_kernel_time(lambda x: None, torch.device("cpu"), reps=3,
                                             setup=lambda: ((1,), {}))
    assert found == pytest.approx(1e-4)  # the mean would be 4e-4


def test_nothing_queued_before_the_profile_joins_it(monkeypatch):
    order = fake_profiler(monkeypatch, [10.0])
    measurement.profiler_kernel_time(lambda: None, torch.device("cpu"), reps=1)
    assert order == ["sync", "enter", "sync", "exit"]


def test_an_unknown_wall_time_gets_every_device_time_call():
    assert measurement.device_reps(0.0) == 20


def test_graph_replay_warms_up_three_times_captures_once_and_times_replays(monkeypatch):

    calls, timed = [], {}

    class Stream:
        def wait_stream(self, other):
            pass

    class Graph:
        def replay(self):
            pass

    monkeypatch.setattr(torch.cuda, "Stream", lambda device: Stream())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: Stream())
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
    monkeypatch.setattr(torch.cuda, "graph",
                        lambda g: contextlib.nullcontext(calls.append("capture")))
    monkeypatch.setattr(measurement, "device_time",
                        lambda fn, device, **kwargs: timed.update(fn=fn, kwargs=kwargs) or 1e-4)
    assert measurement.graph_replay_time(lambda: calls.append("call"),
                                         torch.device("cuda")) == 1e-4
    assert calls == ["call"] * 3 + ["capture", "call"]
    assert timed["fn"].__name__ == "replay" and timed["kwargs"] == {}  # device_time's 20 reps


def test_a_noisy_step_with_a_setup_is_measured_again_with_its_setup(monkeypatch):
    monkeypatch.setattr(measurement, "peak_flops", lambda device, precision: 1e12)
    monkeypatch.setattr(measurement, "peak_bandwidth", lambda device: 1e11)
    made = []

    def setup():
        made.append(1)
        return (torch.ones(2),), {}

    class NoisyBenchmark:  # pytest-benchmark's fixture, pedantic: one call per round
        enabled, extra_info = True, {}
        stats = SimpleNamespace(stats=SimpleNamespace(median=0.01, iqr=0.01, rounds=4),
                                iterations=1)

        def pedantic(self, fn, setup, rounds):
            args, kwargs = setup()
            fn(*args, **kwargs)

    bench = NoisyBenchmark()
    measurement.measure(bench, lambda x: x + 1, device="cpu", precision="fp32", setup=setup)
    assert bench.extra_info["remeasured_rounds"] == 4
    assert len(made) == measurement.WARMUP_CALLS + 1 + 4  # warm-up, the round, the second look
