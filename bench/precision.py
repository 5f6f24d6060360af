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


def _legacy_flags() -> dict | None:
    """The legacy TF32 flags, or None where they cannot be read.

    Newer torch (2.14 here) also has per-operation `fp32_precision` switches. The legacy setters
    keep both views in step, but once the run's own code sets a new switch to a value the legacy
    flags do not hold, reading them raises a RuntimeError ("mix of the legacy and new APIs").
    """
    import torch

    try:
        return {"matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                "float32_matmul_precision": torch.get_float32_matmul_precision()}
    except RuntimeError:
        return None


def _new_switches() -> dict:
    """The per-operation switches of float32 matmuls, convolutions and RNNs, by their names under
    `torch.backends`: cuBLAS and cuDNN's (what the legacy flags cover on CUDA), then oneDNN's
    (the CPU's; the legacy matmul precision covers its matmuls only). Empty where torch has none.
    """
    import torch

    backends = torch.backends
    if not hasattr(backends.cudnn, "conv"):
        return {}
    return {"cuda.matmul": backends.cuda.matmul, "cudnn.conv": backends.cudnn.conv,
            "cudnn.rnn": backends.cudnn.rnn, "mkldnn.matmul": backends.mkldnn.matmul,
            "mkldnn.conv": backends.mkldnn.conv, "mkldnn.rnn": backends.mkldnn.rnn}


# oneDNN's switches beside the legacy flags: these leave its convolutions and RNNs alone, and the
# run's own code may set its matmuls apart from them (the flags stay readable). A value other than
# torch's "none" (IEEE float32 as shipped) changes the CPU's float32 work (to bfloat16, say) and is
# recorded beside the legacy flags.
ONEDNN_BESIDE_LEGACY = ("mkldnn.matmul", "mkldnn.conv", "mkldnn.rnn")


def tf32_flags() -> dict:
    """The switches that decide whether float32 matmuls and convolutions may use TF32 (or
    bfloat16 on the CPU): the legacy flags where they can be read, with oneDNN's switches where
    set, else the new switches."""
    legacy = _legacy_flags()
    switches = _new_switches()
    if legacy is not None:
        return legacy | {f"{name}.fp32_precision": switches[name].fp32_precision
                         for name in ONEDNN_BESIDE_LEGACY
                         if switches and switches[name].fp32_precision != "none"}
    return {f"{name}.fp32_precision": switch.fp32_precision for name, switch in switches.items()}


@contextmanager
def precision_mode(name: str):
    """Set the TF32 switches for mode `name`, yield its torch dtype, and restore the switches
    afterwards, through the API the run's state is in: the legacy flags where they can be read
    (so that code inside, torch's own included, can still read them), else the new switches.

    `default` leaves them as PyTorch ships them: TF32 on for cuDNN convolutions, off for matmuls,
    so a 1x1 conv and a Linear compare TF32 against FP32 there.
    """
    import torch

    mode = check_precision(name)
    dtype = getattr(torch, mode.dtype)
    if mode.tf32 is None:
        yield dtype
        return
    value = "tf32" if mode.tf32 else "ieee"
    legacy = _legacy_flags()
    switches = _new_switches()
    if legacy is not None:  # always where torch has no fp32_precision switches
        # The legacy flags, so that code inside (torch's own: inductor reads them) can still
        # read them; oneDNN's, which they reach only in part, by its switches too, set after
        # them and put back after them (the matmul precision's setter overwrites oneDNN's).
        switches = {name: switches[name] for name in ONEDNN_BESIDE_LEGACY if switches}
    saved = {name: switch.fp32_precision for name, switch in switches.items()}
    if legacy is not None:
        # the precision, not cuda.matmul.allow_tf32: from "medium" (bfloat16 in oneDNN's
        # matmuls) the flag would leave the two views apart, and "highest" turns that off too
        torch.set_float32_matmul_precision("high" if mode.tf32 else "highest")
        torch.backends.cudnn.allow_tf32 = mode.tf32
    for switch in switches.values():
        switch.fp32_precision = value

    def restore():
        if legacy is not None:
            torch.set_float32_matmul_precision(legacy["float32_matmul_precision"])
            torch.backends.cudnn.allow_tf32 = legacy["cudnn_allow_tf32"]
        for name, switch in switches.items():
            switch.fp32_precision = saved[name]
    try:
        yield dtype
    finally:
        restore()
