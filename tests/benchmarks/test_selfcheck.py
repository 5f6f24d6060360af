"""The timer self-check: reference operations timed by our path and by independent methods."""

from bench.machine import peak_bandwidth, peak_flops
from bench.measurement import independent_times, measure, relative_error
from bench.precision import TOLERANCES, precision_mode
from bench.suites import timer_selfcheck as suite


def test_selfcheck(benchmark, record, case, device, precision):
    with precision_mode(precision) as dtype:
        fn, flops, moved, reference = suite.make_op(case, device, dtype)
        error = relative_error({"output": fn()}, {"output": reference})
        record(case, impl="ours", device=device, precision=precision, mode="forward",
               error=error, tolerance=TOLERANCES[precision], flops=flops, bytes=moved)
        assert error <= TOLERANCES[precision]
        measure(benchmark, fn, device=device, precision=precision)
        if benchmark.enabled:
            floor = max(flops / peak_flops(device, precision), moved / peak_bandwidth(device))
            benchmark.extra_info.update(floor_time=floor, **independent_times(fn, device))
