"""The one benchmark: every suite's (case, implementation, device, precision, mode), driven through
the suite contract. The plugin (`bench.plugin`) parametrises it; pytest-benchmark times it."""

import time
import warnings
from dataclasses import asdict

import torch

from bench.measurement import measure, relative_error
from bench.precision import precision_mode
from bench.profiling import profile_step, trace_name
from bench.suites import load_suite
from bench.timing import PAIRED_LONGEST, against_baseline


def test_benchmark(benchmark, bench_profile, suite, case, impl, device, precision, mode):
    """Check the step against the suite's reference, record what identifies and describes it,
    then time it, and time it again side by side with its baseline; with --profile, profile one
    more call after the timing. A step beyond its tolerance fails before it is timed."""
    started = time.perf_counter()
    spec = load_suite(suite)
    the_case = spec.case(case)
    with precision_mode(precision) as dtype:
        inputs = spec.make_inputs(the_case, device, dtype)
        step = spec.prepare(the_case, impl, inputs, mode)
        error = relative_error(step.results(), spec.reference(the_case, impl, inputs, mode))
        tolerance = spec.tolerance(the_case, impl, precision, mode)
        benchmark.group = f"{suite} {case} {device} {precision} {mode}"
        benchmark.extra_info.update(
            suite=suite, case=case, case_fields=asdict(the_case), impl=impl, device=device,
            precision=precision, mode=mode, baseline=spec.baseline_for(the_case), error=error,
            tolerance=tolerance, **step.work)
        if step.artifacts:
            benchmark.extra_info["artifacts"] = step.artifacts
        if tolerance is not None:
            assert error <= tolerance, (
                f"relative error {error:.2e} against {spec.reference_name(the_case, impl, device)}"
                f" above tolerance {tolerance:.0e}")
        measure(benchmark, step.fn, setup=step.setup, device=device, precision=precision)
        if benchmark.enabled:
            benchmark.extra_info.update(spec.after_timing(step, device, precision))
            benchmark.extra_info.update(side_by_side(benchmark, spec, the_case, impl, inputs,
                                                     step, device, precision, dtype, mode))
        profile, traces = bench_profile
        if profile and benchmark.enabled:
            trace = traces / trace_name(benchmark.name) if profile == "trace" else None
            found = profile_step(step.fn, step.setup, device, trace)
            benchmark.extra_info.setdefault("artifacts", {})["profile"] = found
            if "launches" in found:
                benchmark.extra_info["launches"] = found["launches"]
        # all of it, checks and profile included: what the next run's progress line expects
        benchmark.extra_info["wall_seconds"] = time.perf_counter() - started


test_benchmark.bench_benchmark = True  # what the plugin parametrises, under whatever module name


def side_by_side(benchmark, spec, case, impl, inputs, step, device, precision, dtype,
                 mode) -> dict:
    """The step's time over its baseline's, the two timed in alternating blocks on the same
    inputs, or on equal ones made again where the suite's steps cannot share them
    (bench.timing.against_baseline); nothing for the baseline itself, a baseline the suite
    skips here (its skip_reason), or a step too long to pair. A baseline deselected with `-k`
    is still prepared and paired: the ratio needs no row of its own. A baseline that fails
    here (out of memory with both steps held, say) leaves the row as measured, with a warning:
    its own benchmark reports it."""
    baseline = spec.baseline_for(case)
    # the step's median says already whether it is too long: no baseline prepared in vain
    if impl == baseline or benchmark.stats.stats.median > PAIRED_LONGEST or \
            spec.skip_reason(case, baseline, device, precision, mode):
        return {}
    try:
        if not spec.shares_inputs:
            inputs = spec.make_inputs(case, device, dtype)
        other = spec.prepare(case, baseline, inputs, mode)
        return against_baseline(step.fn, other.fn, torch.device(device), step.setup,
                                other.setup)
    except RuntimeError as error:
        warnings.warn(f"not timed side by side with {baseline}: {error}", stacklevel=1)
        return {}
