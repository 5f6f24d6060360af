"""Profiles: what a known step runs, the classes of work, and the report's reading of them."""

import gzip
import json
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from bench import profiling
from bench.profiling import classify, profile_step, trace_name
from bench.report.sections import Section, add_profiles


def test_a_linear_on_a_contiguous_tensor_is_one_gemm():
    linear = torch.nn.Linear(64, 32)
    x = torch.randn(128, 64)
    with torch.no_grad():
        found = profile_step(lambda: linear(x))
    gemms = [row for row in found["operators"] if row["name"] in ("aten::addmm", "aten::mm")]
    assert [row["count"] for row in gemms] == [1]
    assert gemms[0]["class"] == "GEMM" and gemms[0]["memory"] >= 128 * 32 * 4
    assert found["device"] == "cpu" and "launches" not in found


def test_a_permute_then_contiguous_is_one_copy():
    x = torch.randn(8, 64, 32, 32)
    found = profile_step(lambda: x.permute(0, 2, 3, 1).contiguous())
    copies = [row for row in found["operators"] if row["name"] == "aten::copy_"]
    assert [row["count"] for row in copies] == [1]
    assert max(found["classes"], key=found["classes"].get) == "copy / layout"


def test_setup_runs_outside_the_profile():
    x = torch.randn(256, 256)
    found = profile_step(lambda y: y.sum(), setup=lambda: ((x @ x,), {}))
    assert all(row["name"] not in ("aten::mm", "aten::matmul") for row in found["operators"])


def test_classes_of_work():
    assert classify("aten::mkldnn_convolution") == "convolution"
    assert classify("aten::addmm") == "GEMM"
    assert classify("sm90_xmma_gemm_f32f32_tf32f32") == "GEMM"
    assert classify("void at::native::elementwise_kernel<copy_kernel>") == "copy / layout"
    assert classify("aten::add_") == "elementwise"
    assert classify("aten::scatter_reduce_") == "reduction"
    assert classify("aten::empty") == "other"
    # batch norm: not a convolution for cuDNN's name, nor a reduction for "norm"
    for name in ("aten::cudnn_batch_norm", "aten::native_batch_norm",
                 "aten::native_batch_norm_backward", "void cudnn::bn_fw_tr_1C11_kernel_NHWC<float>",
                 "void cudnn::bn_bw_1C11_kernel_new<float>",
                 "void at::native::batch_norm_collect_statistics_kernel<float>",
                 "aten::native_layer_norm", "aten::native_group_norm"):
        assert classify(name) == "normalisation", name
    assert classify("aten::linalg_vector_norm") == "reduction"
    assert classify("void cudnn::cnn::conv2d_grouped_direct_kernel<float>") == "convolution"


def test_trace_is_written_gzipped_only_when_asked(tmp_path):
    x = torch.randn(16, 16)
    assert "trace" not in profile_step(lambda: x @ x)
    path = tmp_path / "traces" / trace_name("test_benchmark[a/b c]")
    found = profile_step(lambda: x @ x, trace=path)
    assert found["trace"] == "test_benchmark_a_b_c.json.gz" == path.name
    with gzip.open(path) as f:
        assert "traceEvents" in json.load(f)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def profile(classes, top="aten::addmm"):
    return {"profile": {"device": "cpu", "classes": classes,
                        "operators": [{"name": top, "share": 0.9}]}}


def test_the_report_names_what_each_runs_and_calls_out_copies():
    base = {"suite": "s", "device": "cpu", "precision": "fp32", "mode": "forward",
            "baseline": "a"}
    frame = pd.DataFrame([
        {**base, "case": "small", "impl": "a", "artifacts": profile({"GEMM": 1.0})},
        {**base, "case": "big", "impl": "a", "artifacts": profile({"GEMM": 3.0, "other": 1.0})},
        {**base, "case": "big", "impl": "b",
         "artifacts": profile({"GEMM": 1.0, "copy / layout": 1.0}, "aten::copy_")},
        {**base, "case": "big", "impl": "c", "artifacts": None},
        # exactly the share that is called out, and just below it
        {**base, "case": "big", "impl": "d", "artifacts": profile({"GEMM": 9.0,
                                                                   "copy / layout": 1.0})},
        {**base, "case": "big", "impl": "e", "artifacts": profile({"GEMM": 9.1,
                                                                   "copy / layout": 0.9})},
    ])
    section = Section("s", "S", "?", [])
    add_profiles(section, frame)
    (table,) = section.tables
    assert table.caption == "What each implementation runs, big: cpu, fp32, forward"
    cells = {row[0][0]: [text for text, _ in row] for row in table.rows}
    assert set(cells) == {"a", "b", "d", "e"}  # c has no profile; the small case is not shown
    assert table.columns == ["impl", "what it runs (share of its time)", "GEMM", "other",
                             "copy / layout"]
    assert cells["a"][2:] == ["75%", "25%", "0%"] and cells["b"][2:] == ["50%", "0%", "50%"]
    assert cells["b"][1] == "aten::copy_ 90%"
    copies = [n for n in section.notes if "copying" in n]
    assert copies == [f"{impl} spends {share} of its profiled time at big: cpu, fp32, forward "
                      "copying or changing the layout of tensors."
                      for impl, share in (("b", "50%"), ("d", "10%"))]
    assert len(section.figures) == 1 and "torch.profiler" in section.notes[-1]


def test_no_profiles_add_nothing():
    frame = pd.DataFrame([{"suite": "s", "case": "x", "impl": "a", "device": "cpu",
                           "precision": "fp32", "mode": "forward", "baseline": "a",
                           "artifacts": None}])
    section = Section("s", "S", "?", [])
    add_profiles(section, frame)
    assert section.tables == [] and section.notes == [] and section.figures == []


def test_what_a_benchmark_runs_names_its_top_two_kernels_where_it_has_kernels():
    from bench.report.sections import _top

    operators = [{"name": "aten::addmm", "share": 0.7}, {"name": "aten::relu", "share": 0.3}]
    kernels = [{"name": "sm90_gemm", "share": 0.6}, {"name": "relu_kernel", "share": 0.3},
               {"name": "copy_kernel", "share": 0.1}]
    assert _top({"operators": operators, "kernels": kernels}) == "sm90_gemm 60%, relu_kernel 30%"
    assert _top({"operators": operators, "kernels": []}) == "aten::addmm 70%, aten::relu 30%"


CPU, CUDA = torch.autograd.DeviceType.CPU, torch.autograd.DeviceType.CUDA


def event(key, device, micros, count=1):
    return SimpleNamespace(key=key, device_type=device, count=count,
                           self_cpu_time_total=micros if device == CPU else 0.0,
                           self_device_time_total=micros if device == CUDA else 0.0,
                           self_cpu_memory_usage=0, self_device_memory_usage=0)


EVENTS = [event("aten::add", CPU, 100.0), event("aten::mm", CPU, 300.0),
          event("[memory]", CPU, 50.0),  # not an operator
          event("gemm_kernel", CUDA, 600.0, count=2),
          event("elementwise_kernel add", CUDA, 200.0, count=3),
          event("copy_kernel", CUDA, 100.0), event("gemm_splitk_reduce", CUDA, 100.0)]


def test_a_cuda_profile_s_tables_launches_and_classes(monkeypatch):
    class Profile:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def key_averages(self):
            return EVENTS

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.profiler, "profile", lambda activities, profile_memory: Profile())
    found = profiling.profile_step(lambda: None, device="cuda")
    assert [row["name"] for row in found["operators"]] == ["aten::mm", "aten::add"]
    assert found["operators"][0]["self_time"] == pytest.approx(300e-6)
    assert found["operators"][0]["share"] == pytest.approx(0.75)
    assert [row["name"] for row in found["kernels"]][0] == "gemm_kernel"
    assert found["launches"] == 2 + 3 + 1 + 1
    assert found["classes"] == pytest.approx({"GEMM": 700e-6, "elementwise": 200e-6,
                                              "copy / layout": 100e-6})
