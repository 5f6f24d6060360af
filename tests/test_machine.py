"""Machine description and the measured peaks (at small sizes, so they run in milliseconds)."""

import pytest

from bench import machine


def test_machine_info_names_versions_threads_and_commit():
    info = machine.machine_info()
    for key in ("torch", "torchvision", "triton", "cuda", "cudnn", "gpu", "cpu_model", "threads",
                "tf32_flags", "commit", "dirty"):
        assert key in info
    assert info["threads"] >= 1
    assert info["cpu_model"]


def test_git_state_outside_a_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert machine.git_state() == {"commit": None, "dirty": None}


def test_peaks_are_positive_rates(monkeypatch):
    monkeypatch.setitem(machine.MATMUL_SIZE, "cpu", 64)
    monkeypatch.setitem(machine.COPY_ELEMENTS, "cpu", 4096)
    machine.peak_flops.cache_clear()
    machine.peak_bandwidth.cache_clear()
    try:
        assert 1e6 < machine.peak_flops("cpu", "fp32") < 1e15
        assert 1e6 < machine.peak_bandwidth("cpu") < 1e13
    finally:
        machine.peak_flops.cache_clear()
        machine.peak_bandwidth.cache_clear()


def test_peak_flops_refuses_an_unknown_precision():
    with pytest.raises(ValueError, match="unknown precision"):
        machine.peak_flops("cpu", "fp8")


def test_the_allocator_choice_is_recorded(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    assert machine.allocator().startswith("glibc defaults")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4294967296")
    assert machine.allocator() == "glibc, MALLOC_MMAP_THRESHOLD_=4294967296"


def test_bench_run_keeps_freed_memory_unless_told_otherwise(monkeypatch):
    from bench import cli

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    env = cli.allocator_env()
    assert env["MALLOC_MMAP_THRESHOLD_"] == str(2**32) and env["MALLOC_TRIM_THRESHOLD_"] == "0"


def test_machine_info_names_the_triton_that_compiles_the_kernels():
    triton = pytest.importorskip("triton")
    assert machine.machine_info()["triton"] == triton.__version__
