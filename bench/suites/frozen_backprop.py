"""What does backprop cost when only a subset of the parameters needs gradients?

Autograd records a backward node only where some input requires a gradient, and `backward()` runs
only the nodes on a path to a tensor that wants one. So freezing is not "fewer parameters, less
work" in proportion: where the freeze boundary sits decides the cost.

- Training only the head records one small graph: backward is nearly free.
- Training only the first k layers still records (and runs) the backward through every later
  layer, because the gradient has to flow back to the first ones; only the later layers'
  weight gradients are skipped.
- Freezing the first k layers drops their part of the graph entirely, whether done with
  `requires_grad_(False)` or by running them under `torch.no_grad()`.
- `torch.autograd.grad` with respect to the first layers runs the same pruned set of nodes as
  freezing everything else.

The suite counts (FLOPs, bytes saved for backward, graph nodes) and times each regime; the report
draws the graphs. Run it: `pytest tests/benchmarks -k frozen --benchmark-only --grid default`.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench import graphs
from bench.precision import MODES
from bench.suite import Impl, Step, Suite

REGIMES = {
    "full": "every parameter trains",
    "first_k": "only the first k stages train",
    "head": "only the last stage (the head) trains",
    "freeze_first_k": "the first k stages frozen by requires_grad_(False)",
    "freeze_first_k_no_grad": "the first k stages run under torch.no_grad()",
    "autograd_grad_subset": "torch.autograd.grad for the first k stages' parameters",
    "no_grad": "forward only, under torch.no_grad()",
}
DRAWN_MODELS = ("mlp", "cnn", "cnn1d")  # small enough for a readable autograd diagram


@dataclass(frozen=True)
class Case:
    model: str
    batch: int
    size: int   # features for the MLP, image side for the CNNs
    k: int = 2  # layers in the first_k / freeze_first_k regimes

    @property
    def id(self) -> str:
        return f"{self.model}-b{self.batch}-{self.size}"


SMOKE = (Case("mlp", 4, 32), Case("cnn", 2, 16), Case("cnn1d", 2, 64), Case("resnet18", 2, 64))
_DEFAULT = (Case("mlp", 64, 1024), Case("cnn", 32, 32), Case("cnn1d", 32, 1024),
            Case("resnet18", 8, 224), Case("resnet50", 4, 224))
# Batch 32 is what a GPU trains ResNet-50 with; on two CPU cores it would take minutes.
DEFAULT = {"cpu": _DEFAULT, "cuda": _DEFAULT + (Case("resnet50", 32, 224),)}
FULL = _DEFAULT + (Case("resnet18", 32, 224), Case("resnet50", 32, 224))
GRIDS = {"smoke": SMOKE, "default": DEFAULT, "full": FULL}


# --- models: an nn.Sequential of stages, so "the first k layers" means its first k children ----

def mlp(width: int, depth: int = 5, classes: int = 10) -> nn.Sequential:
    """The seed's feed-forward network: `depth` Linear layers with ReLU between them."""
    hidden = [nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(depth - 1)]
    return nn.Sequential(*hidden, nn.Linear(width, classes))


def cnn(classes: int = 10) -> nn.Sequential:
    """Four 3x3 convolutions with ReLU, then global average pooling and a Linear head."""
    widths = (3, 16, 32, 64, 64)
    convs = [nn.Sequential(nn.Conv2d(cin, cout, 3, stride=1 if i == 0 else 2, padding=1),
                           nn.ReLU())
             for i, (cin, cout) in enumerate(zip(widths, widths[1:]))]
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], classes))
    return nn.Sequential(*convs, head)


CNN1D_CHANNELS = 4  # input channels of cnn1d, e.g. a one-hot DNA sequence


def cnn1d(channels: int = CNN1D_CHANNELS, classes: int = 10) -> nn.Sequential:
    """Three Conv1d + ReLU + MaxPool1d stages over (batch, channels, length) sequences, then
    global average pooling and a Linear head; the middle convolution is dilated. Each stage
    halves the length (which must be at least 8)."""
    widths = (channels, 16, 32, 64)
    kernels = ({"kernel_size": 5, "padding": 2}, {"kernel_size": 3, "padding": 2, "dilation": 2},
               {"kernel_size": 3, "padding": 1})
    stages = [nn.Sequential(nn.Conv1d(cin, cout, **kernel), nn.ReLU(), nn.MaxPool1d(2))
              for cin, cout, kernel in zip(widths, widths[1:], kernels)]
    head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(widths[-1], classes))
    return nn.Sequential(*stages, head)


def resnet(depth: int) -> nn.Sequential:
    """torchvision's ResNet (random weights) as stages: stem, layer1..layer4, pooled head."""
    net = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    head = nn.Sequential(net.avgpool, nn.Flatten(), net.fc)
    return nn.Sequential(stem, net.layer1, net.layer2, net.layer3, net.layer4, head)


MODELS: dict[str, Callable[[Case], nn.Sequential]] = {
    "mlp": lambda case: mlp(case.size),
    "cnn": lambda case: cnn(),
    "cnn1d": lambda case: cnn1d(),
    "resnet18": lambda case: resnet(18),
    "resnet50": lambda case: resnet(50),
}


def tolerance(case: Case, precision: str) -> float:
    """Relative error allowed against float64 for `case` under `precision`.

    The ResNets' earliest gradients sum over every pixel of the batch (400k terms for the stem at
    224x224, batch 8) in float32 kernels, then pass through the backward of every later
    BatchNorm; measured on a CPU, their error against float64 was 5.1e-3 (ResNet-18, batch 8) and
    2.4e-2 (ResNet-50, batch 4), with the output itself within 1e-6. A wrong gradient is off by
    order one, so a bound of 5e-2 still catches it.
    """
    return max(MODES[precision].tolerance, 5e-2) if case.model.startswith("resnet") \
        else MODES[precision].tolerance


@dataclass
class Inputs:
    model: nn.Sequential
    x: torch.Tensor
    grad: torch.Tensor  # upstream gradient of the output


def make_inputs(case: Case, device, dtype) -> Inputs:
    """The seeded model (in training mode), input and upstream gradient."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MODELS[case.model](case)
        shape = {"mlp": (case.batch, case.size),
                 "cnn1d": (case.batch, CNN1D_CHANNELS, case.size)}.get(
            case.model, (case.batch, 3, case.size, case.size))
        x = torch.randn(shape)
        with torch.no_grad():
            grad = torch.randn(model.eval()(x).shape)
        model.train()
    return Inputs(model.to(device, dtype), x.to(device, dtype), grad.to(device, dtype))


# --- regimes -----------------------------------------------------------------------------------

def trainable_stages(regime: str, n: int, k: int) -> range:
    """Indices of the stages whose parameters get gradients in `regime`."""
    return {"first_k": range(k), "autograd_grad_subset": range(k), "head": range(n - 1, n),
            "freeze_first_k": range(k, n), "freeze_first_k_no_grad": range(k, n),
            "no_grad": range(0)}.get(regime, range(n))


def trainable(model: nn.Sequential, regime: str, k: int) -> dict[str, nn.Parameter]:
    stages = trainable_stages(regime, len(model), k)
    return {name: p for name, p in model.named_parameters() if int(name.split(".")[0]) in stages}


def apply_regime(model: nn.Sequential, regime: str, k: int) -> None:
    """Set requires_grad as `regime` does. The no_grad-prefix and autograd.grad regimes leave
    every parameter requiring grad: there, the forward or the grad call does the freezing."""
    wanted = set(trainable(model, regime, k))
    keep_all = regime in ("freeze_first_k_no_grad", "autograd_grad_subset", "no_grad")
    for name, p in model.named_parameters():
        p.requires_grad_(keep_all or name in wanted)


def forward(model: nn.Sequential, x: torch.Tensor, regime: str, k: int) -> torch.Tensor:
    if regime == "no_grad":
        with torch.no_grad():
            return model(x)
    if regime == "freeze_first_k_no_grad":
        with torch.no_grad():
            x = model[:k](x)
        return model[k:](x)
    return model(x)


@dataclass
class Run:
    """What a benchmark times for one regime: `setup` (clear grads, run forward) and
    `backward`, and `step`, the two in one."""
    inputs: Inputs
    regime: str
    k: int

    def __post_init__(self):
        apply_regime(self.inputs.model, self.regime, self.k)
        self.params = trainable(self.inputs.model, self.regime, self.k)

    def setup(self):
        for p in self.inputs.model.parameters():
            p.grad = None
        return (forward(self.inputs.model, self.inputs.x, self.regime, self.k),), {}

    def backward(self, out):
        if self.regime == "no_grad":
            return None
        if self.regime == "autograd_grad_subset":
            return torch.autograd.grad(out, list(self.params.values()), self.inputs.grad)
        out.backward(self.inputs.grad)
        return None

    def step(self):
        (out,), _ = self.setup()
        self.backward(out)
        return out

    def results(self) -> dict[str, torch.Tensor]:
        """Output and the gradients of the trainable parameters, keyed by parameter name.
        RuntimeError where a parameter the regime freezes got a gradient: the reference holds
        the trainable ones only, so a regime that froze nothing would pass it."""
        (out,), _ = self.setup()
        grads = self.backward(out)
        leaked = [name for name, p in self.inputs.model.named_parameters()
                  if p.grad is not None and name not in self.params]
        if leaked:
            raise RuntimeError(f"{self.regime} left gradients on parameters it freezes: "
                               f"{', '.join(leaked)}")
        if grads is None:
            grads = [p.grad for p in self.params.values()]
        return {"output": out.detach(), **dict(zip(self.params, grads))}


@functools.cache
def _reference(case: Case) -> dict[str, torch.Tensor]:
    inputs = make_inputs(case, "cpu", torch.float64)
    return Run(inputs, "full", case.k).results()


def reference(case: Case, regime: str) -> dict[str, torch.Tensor]:
    """Float64 output and gradients (CPU, every parameter trainable) for what `regime` returns."""
    full = _reference(case)
    stage = {name: int(name.split(".")[0]) for name in full if name != "output"}
    wanted = trainable_stages(regime, max(stage.values()) + 1, case.k)
    return {"output": full["output"], **{n: full[n] for n in stage if stage[n] in wanted}}


# --- counts: FLOPs, saved bytes, graph nodes -----------------------------------------------------

def saved_bytes(fn) -> int:
    """Bytes of distinct storages that autograd saves for backward while `fn` runs."""
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def graph_counts(out: torch.Tensor, targets) -> tuple[int, int]:
    """(nodes, AccumulateGrad nodes) that a backward towards `targets` runs: those with a path to
    the accumulator of a target parameter, found by walking `next_functions` from the output."""
    target_ids = {id(t) for t in targets}
    needed: dict = {}

    def visit(node) -> bool:
        if node in needed:
            return needed[node]
        needed[node] = False  # the graph is acyclic; this only guards the recursion
        variable = getattr(node, "variable", None)
        hit = variable is not None and id(variable) in target_ids
        for child, _ in node.next_functions:
            if child is not None:
                hit |= visit(child)
        needed[node] = hit
        return hit

    if out.grad_fn is not None:
        visit(out.grad_fn)
    nodes = [node for node, hit in needed.items() if hit]
    return len(nodes), sum(type(node).__name__ == "AccumulateGrad" for node in nodes)


def flop_counts(run: Run) -> dict:
    """Forward and backward FLOPs of `run` (each layer's: bench.layers.anatomy)."""
    with FlopCounterMode(display=False) as forward_counter:
        (out,), _ = run.setup()
    with FlopCounterMode(display=False) as total_counter:
        (out,), _ = run.setup()
        run.backward(out)
    forward_flops = forward_counter.get_total_flops()
    return {"forward_flops": forward_flops,
            "backward_flops": total_counter.get_total_flops() - forward_flops}


def counts(run: Run) -> dict:
    """Everything counted (not timed) about a regime: FLOPs, saved bytes, graph sizes."""
    figures = flop_counts(run)
    figures["saved_bytes"] = saved_bytes(run.setup)
    (out,), _ = run.setup()
    figures["graph_nodes"], figures["accumulate_grad_nodes"] = graph_counts(
        out, run.params.values())
    return figures


@functools.cache  # each device, precision and mode of a case records the same
def diagrams(case: Case, regime: str) -> list[dict]:
    """DOT sources of what autograd records for `regime`, and for first_k, head and
    autograd_grad_subset the full graph with what they do not run greyed out: recorded with the
    run, drawn by the report. autograd_grad_subset records full's graph (every parameter
    requires grad; the call asks for a few): drawn as is, it would show gradients for all."""
    full = _dots(case)
    out = []
    if full.get(regime) and regime != "autograd_grad_subset":
        out.append({"caption": f"{case.id}: {regime}", "dot": full[regime]})
    if regime in ("first_k", "head", "autograd_grad_subset"):
        wanted = set(trainable(MODELS[case.model](case), regime, case.k))
        out.append({"caption": f"{case.id}: full graph, greyed where {regime} runs nothing",
                    "dot": graphs.grey_unused(full["full"], wanted)})
    return out


_COUNTED: dict = {}


def _counts(case: Case, regime: str, device: str, dtype, run: Run) -> dict:
    """counts(run), once per case, regime, device and dtype: both timed modes share them, and
    on ResNet-50 each count is a forward and a backward under FlopCounterMode and hooks."""
    key = (case, regime, device, dtype)
    if key not in _COUNTED:
        _COUNTED[key] = counts(run)
    return _COUNTED[key]


@functools.cache
def layer_anatomy(case: Case, regime: str) -> dict:
    """Where the backward goes, layer by layer (bench.layers.anatomy), and how far a few SGD
    steps move each layer's weights in `regime`: counted once per model and regime."""
    from bench import layers

    # built once for both: neither changes it (a meta copy, a deep copy)
    inputs = make_inputs(case, "cpu", torch.float32)
    found = layers.anatomy(inputs, regime, case.k)
    found["weight_change"] = layers.weight_changes(inputs, regime, case.k)
    return found


@functools.cache
def _dots(case: Case) -> dict[str, str | None]:
    return {regime: graphs.regime_dot(Run(make_inputs(case, "cpu", torch.float32), regime, case.k))
            for regime in REGIMES}


def prepare(case: Case, regime: str, inputs: Inputs, mode: str) -> Step:
    """The timed step of `regime`: forward and backward, or the backward alone after an
    untimed forward; with its counts, and its diagrams for the models small enough to draw."""
    run = Run(inputs, regime, case.k)
    work = dict(_counts(case, regime, run.inputs.x.device.type, run.inputs.x.dtype, run))
    work["flops"] = work["backward_flops"] + (mode == "forward_backward") * work["forward_flops"]
    artifacts = {}
    if mode == "forward_backward":
        artifacts["anatomy"] = layer_anatomy(case, regime)
        if case.model in DRAWN_MODELS:
            artifacts["diagrams"] = diagrams(case, regime)
    if mode == "backward":
        return Step(run.backward, run.results, setup=run.setup, work=work, artifacts=artifacts)
    return Step(run.step, run.results, work=work, artifacts=artifacts)


class Frozen(Suite):
    name = "frozen"
    title = "Frozen versus full backprop"
    question = ("When only a subset of the parameters needs gradients (for example only the "
                "first two layers), why is backprop cheaper than for the whole network, and by "
                "how much?")
    modes = ("forward_backward", "backward")
    precisions = {"cpu": ("fp32",), "cuda": ("fp32", "default")}
    grids = GRIDS
    impls = {name: Impl(name, about=about) for name, about in REGIMES.items()}
    baseline = "full"
    case_key = ("resnet18-b8-224 is the model, batch 8, and the image side (the features for "
                "the MLP); k = 2 stages in the first_k and freeze_first_k regimes")
    # a regime sets requires_grad on the case's one model: the baseline gets a model of its own
    shares_inputs = False

    def skip_reason(self, case, impl, device, precision, mode):
        return "no_grad runs no backward" if impl == "no_grad" and mode == "backward" else None

    def tolerance(self, case, impl, precision, mode):
        return tolerance(case, precision)

    def make_inputs(self, case, device, dtype):
        return make_inputs(case, device, dtype)

    def prepare(self, case, impl, inputs, mode):
        return prepare(case, impl, inputs, mode)

    def reference(self, case, impl, inputs, mode):
        return reference(case, impl)


SUITE = Frozen()
