"""Precision modes, one row each: the dtype, TF32 flags and tolerance a benchmark runs under.

torch is imported only where a mode is applied, so that the command line and the pytest plugin can
list and check mode names without loading it.
"""

from contextlib import contextmanager
from dataclasses import dataclass

from bench.errors import UserError


@dataclass(frozen=True)
class Precision:
    name: str
    dtype: str          # the torch dtype's name
    tf32: bool | None   # TF32 for float32 matmuls and convolutions; None: flags as shipped
    tolerance: float    # relative error (Frobenius norm) allowed against the float64 reference
    cuda_only: bool
    meaning: str        # for the report and --help


# TF32 keeps 10 mantissa bits, so any mode that may use it ("default" does for CUDA convolutions)
# gets the TF32 bound. Half-precision modes turn TF32 off so that any float32 work inside them
# (reductions, references) stays exact.
MODES = {mode.name: mode for mode in (
    Precision("fp32", "float32", False, 1e-4, False, "float32, TF32 off"),
    Precision("tf32", "float32", True, 5e-3, True, "float32 tensors, TF32 on"),
    Precision("bf16", "bfloat16", False, 2e-2, False, "bfloat16 tensors"),
    Precision("fp16", "float16", False, 5e-3, True, "float16 tensors"),
    Precision("default", "float32", None, 5e-3, False, "float32, PyTorch's TF32 flags as shipped"),
)}
PRECISIONS = tuple(MODES)
# for --help
MEANINGS = "; ".join(f"{mode.name}: {mode.meaning}" for mode in MODES.values())


def check_precision(name: str) -> Precision:
    """The mode called `name`, or UserError listing the valid names."""
    if name not in MODES:
        raise UserError(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}")
    return MODES[name]


def skip_reason(precision: str, device: str) -> str | None:
    """Why `precision` cannot run on `device`, or None when it can."""
    if device == "cpu" and MODES[precision].cuda_only:
        return f"precision {precision} is a CUDA mode"
    return None


def _switches() -> dict[str, tuple[object, str, object, object]]:
    """The float32 matmul and convolution switches, by their names under `torch.backends`:
    (namespace, attribute, value for TF32 on, value for off).

    torch 2.9 added per-operation `fp32_precision` strings ("tf32", "ieee"; "none" inherits).
    Once one of them is set, reading a legacy `allow_tf32` flag raises a RuntimeError ("mix of the
    legacy and new APIs"), so where the new API exists it is the only one used.
    """
    import torch

    backends = torch.backends
    if hasattr(backends.cuda.matmul, "fp32_precision") and hasattr(backends.cudnn, "conv"):
        return {f"{name}.fp32_precision": (namespace, "fp32_precision", "tf32", "ieee")
                for name, namespace in (("cuda.matmul", backends.cuda.matmul),
                                        ("cudnn.conv", backends.cudnn.conv))}
    return {"cuda.matmul.allow_tf32": (backends.cuda.matmul, "allow_tf32", True, False),
            "cudnn.allow_tf32": (backends.cudnn, "allow_tf32", True, False)}


def tf32_flags() -> dict:
    """The switches that decide whether float32 matmuls and convolutions may use TF32, by the
    names torch gives them."""
    return {name: getattr(namespace, attribute)
            for name, (namespace, attribute, _, _) in _switches().items()}


@contextmanager
def precision_mode(name: str):
    """Set the TF32 switches for mode `name`, yield its torch dtype, and restore the switches
    afterwards.

    `default` leaves them as PyTorch ships them: TF32 on for cuDNN convolutions, off for matmuls,
    so a 1x1 conv and a Linear compare TF32 against FP32 there.
    """
    import torch

    mode = check_precision(name)
    switches = _switches().values()
    saved = [getattr(namespace, attribute) for namespace, attribute, _, _ in switches]
    if mode.tf32 is not None:
        for namespace, attribute, on, off in switches:
            setattr(namespace, attribute, on if mode.tf32 else off)
    try:
        yield getattr(torch, mode.dtype)
    finally:
        for (namespace, attribute, _, _), value in zip(switches, saved):
            setattr(namespace, attribute, value)
