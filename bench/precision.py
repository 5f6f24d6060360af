"""Precision modes: the dtype and the global TF32 flags that a benchmark runs under."""

from contextlib import contextmanager

import torch

PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "default")
CUDA_ONLY = frozenset({"tf32", "fp16"})

DTYPES = {
    "fp32": torch.float32,
    "tf32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "default": torch.float32,
}

# Relative error (Frobenius norm) allowed against the float64 reference. TF32 keeps 10 mantissa
# bits, so any mode that may use it ("default" does for CUDA convolutions) gets the TF32 bound.
TOLERANCES = {"fp32": 1e-4, "tf32": 5e-3, "bf16": 2e-2, "fp16": 5e-3, "default": 5e-3}


def check_precision(name: str) -> str:
    """Return `name` if it is a precision mode, else raise ValueError listing the valid ones."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}")
    return name


def skip_reason(precision: str, device: str) -> str | None:
    """Why `precision` cannot run on `device`, or None when it can."""
    if device == "cpu" and precision in CUDA_ONLY:
        return f"precision {precision} is a CUDA mode"
    return None


def tf32_flags() -> dict:
    """The global flags that decide whether float32 matmuls and convolutions may use TF32."""
    return {
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


@contextmanager
def precision_mode(name: str):
    """Set the TF32 flags for mode `name`, yield its dtype, and restore the flags afterwards.

    `default` leaves the flags as PyTorch ships them: TF32 on for cuDNN convolutions, off for
    matmuls, so a 1x1 conv and a Linear compare TF32 against FP32 there. Half-precision modes turn
    TF32 off so that any float32 work inside them (reductions, references) stays exact.
    """
    check_precision(name)
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    if name != "default":
        allow = name == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow
    try:
        yield DTYPES[name]
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
