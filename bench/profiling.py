"""Profiles: what runs inside one call of a benchmark's step, by torch.profiler.

One extra call, after the timed rounds and never inside them, recorded as a compact table (the
top operators and, on CUDA, kernels by self time, with counts and the bytes each allocates) and a
breakdown by class of work, so that the report can say why one implementation is faster than
another. Its times are for that one call, with the profiler's own overhead: they explain, the
timer measures.
"""

import gzip
import re
import shutil
from pathlib import Path

import torch

TOP = 8
# First match wins: a copy kernel is a copy even when it runs inside a GEMM library, and
# cuDNN's batch norm (cudnn_batch_norm, cudnn::bn_fw_*) is a normalisation, not a convolution.
CLASSES = (
    ("copy / layout", r"copy|contiguous|clone|memcpy|_to_copy|transpose|permute|cat\b|"
                      r"index_select|gather"),
    ("normalisation", r"batch_?norm|layer_?norm|group_?norm|instance_?norm|\bbn_(fw|bw)"),
    ("convolution", r"conv|cudnn|mkldnn|winograd|implicit_gemm"),
    ("GEMM", r"\bmm\b|addmm|bmm|matmul|gemm|linear|einsum|cublas|cutlass|sm\d+_xmma|dot"),
    ("reduction", r"sum|mean|max|min|norm|reduce|scatter|segment|argmax|softmax|pool"),
    ("elementwise", r"add|mul|sub|div|relu|threshold|where|fill|zero|sigmoid|tanh|exp|clamp|"
                    r"masked|copysign|elementwise|vectorized"),
)


def classify(name: str) -> str:
    """The class of work an operator or kernel name stands for."""
    lowered = name.lower()
    for label, pattern in CLASSES:
        if re.search(pattern, lowered):
            return label
    return "other"


def _table(events, attribute: str, total: float) -> list[dict]:
    rows = []
    for event in sorted(events, key=lambda e: getattr(e, attribute), reverse=True)[:TOP]:
        micros = getattr(event, attribute)
        rows.append({"name": event.key, "class": classify(event.key),
                     "self_time": micros / 1e6, "share": micros / total if total else 0.0,
                     "count": event.count, "memory": int(event.self_cpu_memory_usage
                                                         + event.self_device_memory_usage)})
    return rows


def _breakdown(events, attribute: str) -> dict[str, float]:
    classes: dict[str, float] = {}
    for event in events:
        label = classify(event.key)
        classes[label] = classes.get(label, 0.0) + getattr(event, attribute) / 1e6
    return {label: seconds for label, seconds in classes.items() if seconds > 0}


def profile_step(fn, setup=None, device: str = "cpu", trace: Path | None = None) -> dict:
    """Profile one call of `fn` (after an untimed `setup`, when given): the top operators by
    self time, on CUDA the top kernels and the number of launches, the time by class of work
    (kernels on CUDA, operators on the CPU), and where asked, the Chrome trace gzipped."""
    args, kwargs = setup() if setup else ((), {})
    cuda = torch.device(device).type == "cuda"
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
        torch.cuda.synchronize()
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        fn(*args, **kwargs)
        if cuda:
            torch.cuda.synchronize()
    events = prof.key_averages()
    operators = [e for e in events if e.device_type == torch.autograd.DeviceType.CPU
                 and e.key.startswith("aten::")]
    kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    cpu_total = sum(e.self_cpu_time_total for e in operators)
    out = {"device": "cuda" if cuda else "cpu",
           "operators": _table(operators, "self_cpu_time_total", cpu_total)}
    if cuda:
        device_total = sum(e.self_device_time_total for e in kernels)
        out["kernels"] = _table(kernels, "self_device_time_total", device_total)
        out["launches"] = sum(e.count for e in kernels)
        out["classes"] = _breakdown(kernels, "self_device_time_total")
    else:
        out["classes"] = _breakdown(operators, "self_cpu_time_total")
    if trace is not None:
        out["trace"] = _save_trace(prof, trace)
    return out


def _save_trace(prof, path: Path) -> str:
    """The Chrome trace as `path` (.json.gz); returns its file name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_suffix("")  # the profiler writes plain JSON first
    prof.export_chrome_trace(str(raw))
    with open(raw, "rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    raw.unlink()
    return path.name


def trace_name(benchmark_name: str) -> str:
    """A file name for a benchmark's trace: its id with anything odd replaced."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", benchmark_name).strip("_")[:180] + ".json.gz"
