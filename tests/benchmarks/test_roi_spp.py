"""Benchmarks of the RoI pooling and SPP suite."""

import pytest

from bench.measurement import measure, relative_error
from bench.precision import TOLERANCES, precision_mode
from bench.suites import roi_spp_pooling as suite


@pytest.mark.parametrize("mode", suite.MODES)
def test_roi_spp(benchmark, record, case, device, precision, impl, mode):
    if reason := suite.too_slow(impl, case, mode):
        pytest.skip(reason)
    with precision_mode(precision) as dtype:
        inputs = suite.make_inputs(case, device, dtype)
        step, results = suite.run(impl, case, inputs, mode)
        error = relative_error(results(), suite.reference(case, inputs, mode))
        exact = suite.IMPLEMENTATIONS[impl].exact
        # Exact ones must match the reference bit for bit in the forward (bf16 and fp16 are
        # compared after the same rounding); summed gradients may round differently. roi_align
        # and the loop compute something else: their error is recorded, not judged.
        tolerance = (0.0 if mode == "forward" else TOLERANCES[precision]) if exact else None
        record(case, impl=impl, device=device, precision=precision, mode=mode, error=error,
               tolerance=tolerance, bytes=suite.bytes_moved(case, inputs, mode),
               baseline=suite.BASELINES[case.kind])
        if tolerance is not None:
            assert error <= tolerance, f"relative error {error:.2e} above {tolerance:.0e}"
        measure(benchmark, step, device=device, precision=precision)
