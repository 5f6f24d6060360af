"""Is a 1x1 convolution a Linear layer applied to every pixel, and which formulation is fastest?

A 1x1 convolution with weight (C_out, C_in, 1, 1) computes, at every pixel, the product of the
(C_out, C_in) matrix with that pixel's channel vector: Network in Network's "cross channel
parametric pooling". So `nn.Conv2d(k=1)`, `nn.Linear` over the channel axis, a batched matmul over
(N, C, H*W) and an einsum all compute the same numbers; they differ in memory layout and in which
kernel library runs them. The suite checks each against a float64 reference, then times it.

What the measurements showed in the committed example (2-core Xeon, batch 8): the formulations
agree to rounding (2.9e-6 in fp32); the NCHW convolution never had the lowest median; in fp32
the convolution on channels-last input was fastest in 6 of 10 shapes of the forward pass, in bf16
the Linear on an NHWC tensor in 6 of 10 (clearly fastest, its interval apart from the others', in
4 and 5). Memory layout decides more than the formula. Each run's report says what held on its
own machine.

Run it: `pytest tests/benchmarks -k conv1x1 --benchmark-only --grid default`.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.ops import linear_from_conv1x1
from bench.suite import Impl, Step, Suite


@dataclass(frozen=True)
class Case:
    net: str
    batch: int
    c_in: int
    c_out: int
    height: int
    width: int
    bias: int = 1

    @property
    def id(self) -> str:
        nobias = "" if self.bias else "-nobias"
        return f"b{self.batch}-c{self.c_in}x{self.c_out}-{self.height}x{self.width}{nobias}"


# (network, C_in, C_out, spatial size) of the 1x1 layers measured.
LAYERS = (
    ("resnet50", 256, 64, 56),
    ("resnet50", 64, 256, 56),
    ("resnet50", 512, 128, 28),
    ("resnet50", 1024, 256, 14),
    ("resnet50", 2048, 512, 7),
    ("nin-cifar10", 192, 160, 32),
    ("nin-cifar10", 160, 96, 32),
    ("nin-cifar10", 192, 192, 8),
    ("convnext", 96, 384, 56),
    ("tiny", 8, 8, 4),
)


def _grid(batch: int) -> tuple[Case, ...]:
    return tuple(Case(net, batch, ci, co, hw, hw) for net, ci, co, hw in LAYERS)


SMOKE = (Case("tiny", 1, 8, 8, 4, 4), Case("nin-cifar10", 2, 64, 32, 8, 8, bias=0))
DEFAULT = _grid(8)
FULL = _grid(32) + _grid(128)
GRIDS = {"smoke": SMOKE, "default": DEFAULT, "full": FULL}


# --- implementations -------------------------------------------------------------------------
# Each takes the same nn.Conv2d and returns a module holding a copy of its weights. `layout` is the
# memory layout of the module's input and output; conversions into it happen outside the timing.

def _permute(x, weight, bias):
    return F.linear(x.permute(0, 2, 3, 1), weight, bias).permute(0, 3, 1, 2)


def _matmul(x, weight, bias):
    n, _, h, w = x.shape
    y = torch.matmul(weight, x.flatten(2))
    if bias is not None:
        y = y + bias[:, None]
    return y.view(n, -1, h, w)


def _einsum(x, weight, bias):
    y = torch.einsum("oc,nchw->nohw", weight, x)
    return y if bias is None else y + bias[:, None, None]


class PixelLinear(nn.Module):
    """The per-pixel Linear map applied to an NCHW tensor by one of the formulas above."""

    def __init__(self, linear: nn.Linear, formula: Callable):
        super().__init__()
        self.weight, self.bias, self.formula = linear.weight, linear.bias, formula

    def forward(self, x):
        return self.formula(x, self.weight, self.bias)


def _clone_conv(conv: nn.Conv2d) -> nn.Conv2d:
    clone = nn.Conv2d(conv.in_channels, conv.out_channels, 1, bias=conv.bias is not None,
                      device=conv.weight.device, dtype=conv.weight.dtype)
    clone.load_state_dict(conv.state_dict())
    return clone


@dataclass(frozen=True)
class LayoutImpl(Impl):
    """`fn` makes the module from the nn.Conv2d; `layout` is its input's and output's layout."""
    layout: str = "nchw"


IMPLEMENTATIONS = {impl.name: impl for impl in (
    LayoutImpl("conv_nchw", _clone_conv, about="nn.Conv2d(k=1) on NCHW input", layout="nchw"),
    LayoutImpl("conv_channels_last",
               lambda conv: _clone_conv(conv).to(memory_format=torch.channels_last),
               about="nn.Conv2d(k=1) on channels-last input (converted before timing, as in a "
                     "network kept channels-last; output channels-last)", layout="channels_last"),
    LayoutImpl("linear_nhwc", linear_from_conv1x1,
               about="nn.Linear on an NHWC tensor (converted before timing, as in a network kept "
                     "NHWC; output NHWC)", layout="nhwc"),
    LayoutImpl("linear_permuted",
               lambda conv: PixelLinear(linear_from_conv1x1(conv), _permute),
               about="nn.Linear on a permuted view of the NCHW input (any copy it makes is "
                     "timed; output a permuted view)", layout="nchw"),
    LayoutImpl("matmul", lambda conv: PixelLinear(linear_from_conv1x1(conv), _matmul),
               about="torch.matmul over (N, C, H*W) of the NCHW input (any copies timed)",
               layout="nchw"),
    LayoutImpl("einsum", lambda conv: PixelLinear(linear_from_conv1x1(conv), _einsum),
               about="torch.einsum on the NCHW input (any copies timed)", layout="nchw"),
)}


def to_layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    """An NCHW tensor in `layout`'s memory format (and axis order, for nhwc)."""
    if layout == "channels_last":
        return t.contiguous(memory_format=torch.channels_last)
    if layout == "nhwc":
        return t.permute(0, 2, 3, 1).contiguous()
    return t.contiguous()


def from_layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    """Back to the NCHW axis order (a view; the memory format may stay)."""
    return t.permute(0, 3, 1, 2) if layout == "nhwc" else t


# --- inputs, reference, work model -----------------------------------------------------------

@dataclass
class Inputs:
    x: torch.Tensor       # (N, C_in, H, W)
    conv: nn.Conv2d
    grad: torch.Tensor    # upstream gradient, (N, C_out, H, W)


def make_inputs(case: Case, device, dtype) -> Inputs:
    """Seeded inputs, drawn on the CPU so that every device sees the same numbers."""
    gen = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(case.c_in, case.c_out, 1, bias=bool(case.bias))
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) / math.sqrt(case.c_in))
        if conv.bias is not None:
            conv.bias.copy_(torch.randn(case.c_out, generator=gen))
    x = torch.randn(case.batch, case.c_in, case.height, case.width, generator=gen)
    grad = torch.randn(case.batch, case.c_out, case.height, case.width, generator=gen)
    return Inputs(x.to(device, dtype), conv.to(device, dtype), grad.to(device, dtype))


def reference(case: Case, inputs: Inputs, mode: str) -> dict[str, torch.Tensor]:
    """Output (and for forward+backward, gradients) in float64, from closed forms, not autograd."""
    x, g = inputs.x.double(), inputs.grad.double()
    w = inputs.conv.weight.double().flatten(1)
    out = torch.einsum("oc,nchw->nohw", w, x)
    ref = {
        "output": out,
        "grad_input": torch.einsum("oc,nohw->nchw", w, g),
        "grad_weight": torch.einsum("nohw,nchw->oc", g, x),
    }
    if inputs.conv.bias is not None:
        ref["output"] = out + inputs.conv.bias.double()[:, None, None]
        ref["grad_bias"] = g.sum((0, 2, 3))
    return {"output": ref["output"]} if mode == "forward" else ref


def prepare(case: Case, impl: str, inputs: Inputs, mode: str) -> Step:
    """The step to time for `mode`, with a function returning its results in reference form.

    Forward runs under `torch.no_grad()`, as in inference. Forward+backward sets the gradients to
    None first, so accumulation into existing gradients is not part of what is timed.
    """
    impl = IMPLEMENTATIONS[impl]
    module = impl.fn(inputs.conv)
    work = {"flops": flops(case, mode), "bytes": bytes_moved(case, mode, inputs.x.element_size())}
    x = to_layout(inputs.x.detach(), impl.layout)
    grad = to_layout(inputs.grad, impl.layout)
    params = list(module.parameters())

    if mode == "forward":
        def step():
            with torch.no_grad():
                return module(x)

        def results():
            return {"output": from_layout(step(), impl.layout)}
        return Step(step, results, work=work)

    x.requires_grad_(True)

    def step():
        x.grad = None
        for p in params:
            p.grad = None
        y = module(x)
        y.backward(grad)
        return y

    def results():
        y = step()
        out = {"output": from_layout(y.detach(), impl.layout),
               "grad_input": from_layout(x.grad, impl.layout),
               "grad_weight": module.weight.grad.flatten(1)}
        if module.bias is not None:
            out["grad_bias"] = module.bias.grad
        return out
    return Step(step, results, work=work)


def flops(case: Case, mode: str) -> int:
    """Multiply-adds counted as two FLOPs, and the bias's additions; the backward is two
    products of the forward's size (input and weight gradients) and the bias's sums."""
    pixels = case.batch * case.height * case.width
    product, bias = 2 * pixels * case.c_in * case.c_out, pixels * case.c_out * bool(case.bias)
    return product + bias if mode == "forward" else 3 * product + 2 * bias


def bytes_moved(case: Case, mode: str, element_size: int) -> int:
    """Minimal traffic: every tensor read or written once (weights, activations, gradients)."""
    pixels = case.batch * case.height * case.width
    x, y = pixels * case.c_in, pixels * case.c_out
    w = case.c_in * case.c_out + case.c_out * bool(case.bias)
    forward = x + w + y
    # backward reads grad_out, x and w; writes grad_in and grad_w.
    total = forward if mode == "forward" else forward + y + x + w + x + w
    return total * element_size


class Conv1x1(Suite):
    name = "conv1x1"
    title = "1x1 convolution versus per-pixel Linear"
    question = ("Is a 1x1 convolution the same operation as a Linear layer applied to every "
                "pixel, and which way of computing it is fastest?")
    modes = ("forward", "forward_backward")
    precisions = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "tf32", "bf16", "fp16", "default")}
    grids = GRIDS
    impls = IMPLEMENTATIONS
    baseline = "conv_nchw"
    case_key = ("b8-c256x64-56x56 is batch 8, 256 input and 64 output channels, 56x56 pixels; "
                "-nobias: without a bias")

    def make_inputs(self, case, device, dtype):
        return make_inputs(case, device, dtype)

    def prepare(self, case, impl, inputs, mode):
        return prepare(case, impl, inputs, mode)

    def reference(self, case, impl, inputs, mode):
        return reference(case, inputs, mode)


SUITE = Conv1x1()
