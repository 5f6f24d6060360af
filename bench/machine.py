"""What the machine is: versions, devices, threads, commit, and its measured peak rates."""

import functools
import importlib.metadata
import os
import platform
import subprocess

import torch

from bench.precision import precision_mode, tf32_flags
from bench.timing import blocked_median

# Sizes for the peak measurements: large enough to reach the plateau, small enough for seconds.
MATMUL_SIZE = {"cpu": 1024, "cuda": 8192}
COPY_ELEMENTS = {"cpu": 2**24, "cuda": 2**28}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state() -> dict:
    """The commit checked out and whether the work tree has uncommitted changes."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout
    try:
        return {"commit": git("rev-parse", "HEAD").strip(),
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no").strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def allocator() -> str:
    """How glibc treats large blocks in this process: it decides what a fresh output costs."""
    chosen = {name: os.environ[name] for name in ("MALLOC_MMAP_THRESHOLD_",
                                                  "MALLOC_TRIM_THRESHOLD_") if name in os.environ}
    if not chosen:
        # glibc's mmap threshold starts at 128 KiB and rises to a freed block's size (32 MiB at
        # most): whether a fresh output is mapped afresh depends on what the process freed before
        return "glibc defaults: blocks above a moving threshold (128 KiB to 32 MiB) mapped afresh"
    return "glibc, " + " ".join(f"{name}={value}" for name, value in chosen.items())


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """Everything a benchmark JSON needs to describe the machine that produced it."""
    import torchvision

    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        # compiles our RoI kernels on CUDA; nightly and ROCm builds name its package differently
        "triton": _version("triton") or _version("pytorch-triton")
        or _version("pytorch-triton-rocm"),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "cpu_model": cpu_model(),
        "threads": torch.get_num_threads(),
        "tf32_flags": tf32_flags(),
        "allocator": allocator(),
        **git_state(),
    }


@functools.cache
def peak_flops(device: str, precision: str) -> float:
    """Measured FLOP/s of a large square matmul on `device` under `precision`."""
    n = MATMUL_SIZE[torch.device(device).type]
    with precision_mode(precision) as dtype:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        return 2 * n**3 / blocked_median("a @ b", 0.2, a=a, b=b)


@functools.cache
def peak_bandwidth(device: str) -> float:
    """Measured bytes/s of a large float32 tensor copy on `device` (read plus write)."""
    n = COPY_ELEMENTS[torch.device(device).type]
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    return 2 * n * 4 / blocked_median("dst.copy_(src)", 0.2, src=src, dst=dst)
