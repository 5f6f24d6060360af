"""Precision modes set the TF32 switches they name and always restore them."""

import pytest
import torch

from bench.precision import (
    MODES,
    PRECISIONS,
    check_precision,
    precision_mode,
    skip_reason,
    tf32_flags,
)

NEW_API = hasattr(torch.backends.cudnn, "conv")
needs_new_api = pytest.mark.skipif(not NEW_API, reason="this torch has only the legacy flags")


def flags():
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def switches():
    backends = torch.backends
    return tuple(switch.fp32_precision for switch in (
        backends.cuda.matmul, backends.cudnn.conv, backends.cudnn.rnn))


def onednn():
    backends = torch.backends.mkldnn
    return backends.matmul.fp32_precision, backends.conv.fp32_precision, backends.rnn.fp32_precision


@pytest.fixture(autouse=True)
def shipped_switches():
    """Each test leaves the switches as torch ships them (through the new API where a test
    used it, which the legacy flags could no longer read)."""
    matmul, cudnn = flags()
    yield
    if NEW_API:
        torch.backends.cuda.matmul.fp32_precision = "none"
        torch.backends.cudnn.conv.fp32_precision = "tf32"
        torch.backends.cudnn.rnn.fp32_precision = "tf32"
    torch.set_float32_matmul_precision("high" if matmul else "highest")
    torch.backends.cudnn.allow_tf32 = cudnn
    if NEW_API:  # after the precision's setter, which sets oneDNN's matmuls
        for switch in (torch.backends.mkldnn.matmul, torch.backends.mkldnn.conv,
                       torch.backends.mkldnn.rnn):
            switch.fp32_precision = "none"


@pytest.mark.parametrize("name, expected", [("fp32", (False, False)), ("tf32", (True, True)),
                                            ("bf16", (False, False)), ("fp16", (False, False))])
def test_modes_set_flags_and_restore_them(name, expected):
    before = flags()
    with precision_mode(name) as dtype:
        assert flags() == expected
        assert dtype is getattr(torch, MODES[name].dtype)
        # code inside a mode (torch's own: inductor reads these) can still read every flag
        assert torch.get_float32_matmul_precision() == ("high" if expected[0] else "highest")
        if NEW_API:  # the legacy cuDNN flag covers convolutions and RNNs alike
            assert switches()[1] == switches()[2]
    assert flags() == before


def test_default_leaves_the_flags_as_they_are():
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
    with precision_mode("default") as dtype:
        assert flags() == (False, True)
        assert dtype is torch.float32


def test_a_matmul_precision_the_flags_cannot_say_is_restored():
    torch.set_float32_matmul_precision("medium")
    with precision_mode("fp32"):
        assert torch.get_float32_matmul_precision() == "highest"
    assert torch.get_float32_matmul_precision() == "medium"


@needs_new_api
def test_switches_the_run_set_by_the_new_api_are_set_read_and_restored_by_it():
    # After the new API set a switch to what the legacy flags do not hold, reading them raises
    # "mix of the legacy and new APIs"; a run whose own code did so must still run and record.
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.rnn.fp32_precision = "ieee"
    with pytest.raises(RuntimeError, match="mix of the legacy and new"):
        flags()
    torch.backends.mkldnn.conv.fp32_precision = "bf16"
    with precision_mode("fp32"):
        assert switches() == ("ieee", "ieee", "ieee")
        assert onednn() == ("ieee", "ieee", "ieee")
        assert tf32_flags() == {f"{name}.fp32_precision": "ieee" for name in (
            "cuda.matmul", "cudnn.conv", "cudnn.rnn", "mkldnn.matmul", "mkldnn.conv",
            "mkldnn.rnn")}
    with precision_mode("tf32"):
        assert switches() == ("tf32", "tf32", "tf32")
    assert switches() == ("tf32", "tf32", "ieee")
    assert onednn()[1:] == ("bf16", "none")
    assert tf32_flags()["mkldnn.conv.fp32_precision"] == "bf16"


@needs_new_api
def test_onednn_switches_the_legacy_flags_miss_are_set_recorded_and_restored():
    # A CPU convolution in bfloat16 under "fp32, TF32 off" would be a lie the legacy flags do
    # not show: they stay readable, and say nothing of oneDNN's convolutions.
    assert "mkldnn.conv.fp32_precision" not in tf32_flags()  # as shipped: not recorded
    torch.backends.mkldnn.conv.fp32_precision = "bf16"
    assert tf32_flags() == {"matmul_allow_tf32": False, "cudnn_allow_tf32": True,
                            "float32_matmul_precision": "highest",
                            "mkldnn.conv.fp32_precision": "bf16"}
    for name in ("fp32", "bf16"):
        with precision_mode(name):
            assert onednn() == ("ieee", "ieee", "ieee")
            assert flags() == (False, False)  # still through the legacy flags
    assert onednn()[1:] == ("bf16", "none")
    # oneDNN's matmuls set apart from the legacy precision: still readable, recorded, and put
    # back after the mode (the precision's setter would leave them at bfloat16)
    torch.set_float32_matmul_precision("medium")
    torch.backends.mkldnn.matmul.fp32_precision = "ieee"
    assert tf32_flags()["mkldnn.matmul.fp32_precision"] == "ieee"
    with precision_mode("fp32"):
        assert onednn()[0] == "ieee" and torch.get_float32_matmul_precision() == "highest"
    assert onednn()[0] == "ieee" and torch.get_float32_matmul_precision() == "medium"


def test_flags_are_restored_after_an_exception():
    before = flags()
    with pytest.raises(RuntimeError), precision_mode("tf32"):
        raise RuntimeError("boom")
    assert flags() == before


def test_unknown_precision_names_the_valid_ones():
    with pytest.raises(ValueError, match="fp32, tf32, bf16, fp16, default"):
        check_precision("fp64")


def test_cuda_modes_are_skipped_on_cpu_with_a_reason():
    assert skip_reason("tf32", "cpu") == "precision tf32 is a CUDA mode"
    assert skip_reason("fp16", "cpu")
    assert skip_reason("bf16", "cpu") is None
    assert all(skip_reason(p, "cuda") is None for p in PRECISIONS)


def test_recorded_flags_follow_the_mode():
    with precision_mode("tf32"):
        # oneDNN's switches, which the legacy flags reach only in part, are set beside them
        assert tf32_flags() == {"matmul_allow_tf32": True, "cudnn_allow_tf32": True,
                                "float32_matmul_precision": "high"} | (
            {f"mkldnn.{op}.fp32_precision": "tf32" for op in ("matmul", "conv", "rnn")}
            if NEW_API else {})


@pytest.mark.parametrize("name, dtype", [("fp32", torch.float32), ("tf32", torch.float32),
                                         ("bf16", torch.bfloat16), ("fp16", torch.float16),
                                         ("default", torch.float32)])
def test_each_mode_runs_in_the_dtype_its_name_says(name, dtype):
    with precision_mode(name) as got:
        assert got is dtype


def test_fp32_has_the_tightest_bound_and_default_the_tf32_one():
    assert MODES["fp32"].tolerance < min(m.tolerance for n, m in MODES.items() if n != "fp32")
    # "any mode that may use it ('default' does for CUDA convolutions) gets the TF32 bound"
    assert MODES["default"].tolerance == MODES["tf32"].tolerance
