"""Every suite's benchmarks: the one generic benchmark of the package, collected here so that
`pytest tests/benchmarks --benchmark-only -k roi` works from a checkout."""

from bench.benchmarks import test_benchmark  # noqa: F401
