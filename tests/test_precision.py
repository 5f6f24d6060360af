"""Precision modes set the TF32 flags they name and always restore them."""

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


def flags():
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.mark.parametrize("name, expected", [("fp32", (False, False)), ("tf32", (True, True)),
                                            ("bf16", (False, False)), ("fp16", (False, False))])
def test_modes_set_flags_and_restore_them(name, expected):
    before = flags()
    with precision_mode(name) as dtype:
        assert flags() == expected
        assert dtype is getattr(torch, MODES[name].dtype)
    assert flags() == before


def test_default_leaves_the_flags_as_they_are():
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
    with precision_mode("default") as dtype:
        assert flags() == (False, True)
        assert dtype is torch.float32


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
        assert tf32_flags()["matmul_allow_tf32"] is True
