"""Machine description and the measured peaks (at small sizes, so they run in milliseconds)."""

import pytest
import torch

from bench import load, machine


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


def test_other_processes_share_is_the_busy_time_not_ours_over_the_cpus_time(monkeypatch):
    monkeypatch.setattr(load.os, "cpu_count", lambda: 2)
    # 20 s on 2 CPUs: 30 s busy, 10 of them ours
    assert load.others_share((100.0, 10.0), (130.0, 20.0), 20.0) == 0.5
    assert load.others_share((100.0, 10.0), (105.0, 20.0), 20.0) == 0.0  # ticks' rounding
    assert load.others_share(None, (130.0, 20.0), 20.0) is None  # no /proc/stat
    assert load.others_share((100.0, 10.0), (130.0, 20.0), 0.0) is None
    assert load.others_share((100.0, 10.0), (200.0, 10.0), 20.0) == 1.0  # at most all of it


def test_cpu_times_read_the_busy_ticks_and_this_process_s_time(tmp_path, monkeypatch):
    stat = tmp_path / "stat"  # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  300 100 200 5000 400 10 20 70 50 0\ncpu0 1 2 3 4 5 6 7 8 9 0\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
        stat if path == "/proc/stat" else path, *a, **k))
    monkeypatch.setattr(load.os, "sysconf", lambda name: 100)
    monkeypatch.setattr(load.os, "times", lambda: (1.0, 2.0, 3.0, 4.0, 99.0))
    # guest time is in user already; idle and iowait are not busy
    assert load.cpu_times() == (7.0, 10.0)


def test_peaks_count_two_flops_a_multiply_add_and_a_copy_s_read_and_write(monkeypatch):
    monkeypatch.setattr(machine, "blocked_median", lambda *args, **kwargs: 1.0)  # 1 s each
    monkeypatch.setitem(machine.MATMUL_SIZE, "cpu", 8)
    monkeypatch.setitem(machine.COPY_ELEMENTS, "cpu", 16)
    machine.peak_flops.cache_clear()
    machine.peak_bandwidth.cache_clear()
    try:
        assert machine.peak_flops("cpu", "fp32") == 2 * 8**3
        assert machine.peak_bandwidth("cpu") == 2 * 16 * 4
    finally:  # the next test measures for real
        machine.peak_flops.cache_clear()
        machine.peak_bandwidth.cache_clear()


def test_an_untracked_file_does_not_make_the_tree_dirty_a_changed_tracked_one_does(
        tmp_path, monkeypatch):
    import subprocess

    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a").write_text("a")
    subprocess.run([*git, "add", "a"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    (tmp_path / "scratch").write_text("x")
    assert machine.git_state()["dirty"] is False
    (tmp_path / "a").write_text("b")
    assert machine.git_state()["dirty"] is True


def spied(monkeypatch, peak, sizes: dict, size: int, calls):
    """A cached peak measured on a `size` problem by a spy standing in for blocked_median (1 s a
    call): the results of `peak("cpu", *args)` for each of `calls`, and the dtypes of the two
    operands each measurement gave the spy."""
    seen = []
    monkeypatch.setattr(machine, "blocked_median", lambda stmt, t, **operands: seen.append(
        tuple(operand.dtype for operand in operands.values())) or 1.0)
    monkeypatch.setitem(sizes, "cpu", size)
    peak.cache_clear()
    try:
        return [peak("cpu", *args) for args in calls], seen
    finally:
        peak.cache_clear()


def test_the_peak_flops_of_a_mode_multiply_its_dtype(monkeypatch):
    _, seen = spied(monkeypatch, machine.peak_flops, machine.MATMUL_SIZE, 8,
                    [("bf16",), ("fp32",)])
    assert seen == [(torch.bfloat16, torch.bfloat16), (torch.float32, torch.float32)]


def test_the_cpu_model_is_the_model_name_not_the_model_number(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"  # x86 lists the model's number before its name
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 143\n"
                       "model name\t: Intel(R) Xeon(R) Platinum 8480+\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
        cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
    assert machine.cpu_model() == "Intel(R) Xeon(R) Platinum 8480+"


def test_both_allocator_settings_are_recorded(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4294967296")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert machine.allocator() == \
        "glibc, MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=0"


def test_machine_info_on_a_gpu_names_it_with_its_cuda_cudnn_and_torch_s_threads(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "NVIDIA H200")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 7)  # not the machine's CPU count
    info = machine.machine_info()
    assert (info["gpu"], info["cuda"], info["cudnn"], info["threads"]) == (
        "NVIDIA H200", torch.version.cuda, 91002, 7)


@pytest.mark.parametrize("package", ["triton", "pytorch-triton", "pytorch-triton-rocm"])
def test_machine_info_names_triton_under_each_of_its_package_names(monkeypatch, package):
    monkeypatch.setattr(machine, "_version", {package: "3.2.0+git"}.get)
    assert machine.machine_info()["triton"] == "3.2.0+git"


def test_the_bandwidth_copies_float32_as_it_counts_four_bytes_an_element(monkeypatch):
    found, seen = spied(monkeypatch, machine.peak_bandwidth, machine.COPY_ELEMENTS, 16, [()])
    assert found == [2 * 16 * 4] and seen == [(torch.float32, torch.float32)]
