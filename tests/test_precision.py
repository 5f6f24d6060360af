"""Precision modes set the TF32 switches they name and always restore them."""

import pytest
import torch

from bench.precision import (
    MODES,
    PRECISIONS,
    _switches,
    check_precision,
    precision_mode,
    skip_reason,
    tf32_flags,
)

NEW_API = hasattr(torch.backends.cuda.matmul, "fp32_precision")
ON, OFF = ("tf32", "ieee") if NEW_API else (True, False)


def flags():
    return tuple(tf32_flags().values())


@pytest.fixture(autouse=True)
def shipped_switches():
    """Each test starts from, and leaves, the switches as torch ships them."""
    before = flags()
    yield
    for (namespace, attribute, _, _), value in zip(_switches().values(), before):
        setattr(namespace, attribute, value)


@pytest.mark.parametrize("name, expected", [("fp32", (OFF, OFF)), ("tf32", (ON, ON)),
                                            ("bf16", (OFF, OFF)), ("fp16", (OFF, OFF))])
def test_modes_set_flags_and_restore_them(name, expected):
    before = flags()
    with precision_mode(name) as dtype:
        assert flags() == expected
        assert dtype is getattr(torch, MODES[name].dtype)
    assert flags() == before


def test_default_leaves_the_flags_as_they_are():
    for (namespace, attribute, on, off), value in zip(_switches().values(), (False, True)):
        setattr(namespace, attribute, on if value else off)
    with precision_mode("default") as dtype:
        assert flags() == (OFF, ON)
        assert dtype is torch.float32


@pytest.mark.skipif(not NEW_API, reason="torch before 2.9 has only the allow_tf32 flags")
def test_switches_set_by_the_new_api_are_read_and_restored_without_the_legacy_flags():
    # After the new API has set a switch, reading torch.backends.cuda.matmul.allow_tf32 raises
    # "mix of the legacy and new APIs"; a run whose own code set it must still run and record.
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    with precision_mode("fp32"):
        assert tf32_flags() == {"cuda.matmul.fp32_precision": "ieee",
                                "cudnn.conv.fp32_precision": "ieee"}
    assert tf32_flags() == {"cuda.matmul.fp32_precision": "tf32",
                            "cudnn.conv.fp32_precision": "ieee"}


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
        assert set(tf32_flags().values()) == {ON}
