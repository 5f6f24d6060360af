"""Per-layer anatomy of one regime of the frozen-backprop suite, as plain JSON-ready rows.

For every call of a leaf module, in forward order: its weight in PyTorch's and Keras' order, its
output shape (and, for convolutions and pools, the output-size formula with its numbers), whether
it trains in the regime, its forward FLOPs, its backward FLOPs split into the input-gradient and
weight-gradient parts, and the bytes autograd saves for its backward. The rows add up to the
suite's own totals (`counts`), so the report can show where those totals come from. Also here: a
check that filters are learned (a few SGD steps move trainable filters and leave frozen ones
exactly as they were), and a small 1-D CNN so that Conv1d and MaxPool1d appear in the suite.
"""

import copy
import math
from dataclasses import dataclass, field

import torch
import torch.utils.flop_counter
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from bench.ops.keras import keras_shape
from bench.schema import OUTSIDE
from bench.suites.frozen_backprop import Case, Inputs, Run, make_inputs

# the formulas FlopCounterMode counts with; an op without one counts as zero
_FORMULAS = torch.utils.flop_counter.flop_registry
_CONV_BACKWARD = torch.ops.aten.convolution_backward
_SIZED = (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
_KERAS_ORDERED = (nn.Conv1d, nn.Conv2d, nn.Linear)


# --- output sizes --------------------------------------------------------------------------------

def output_length(length: int, kernel: int, stride: int, padding: int, dilation: int | None = 1,
                  ceil_mode: bool = False) -> tuple[int, str]:
    """Output length of a convolution or pooling window along one dimension, and the formula
    with its numbers: floor((L + 2p - d(k-1) - 1)/s) + 1, or ceil with `ceil_mode`. Average
    pooling has no dilation (pass None): floor((L + 2p - k)/s) + 1."""
    if dilation is None:
        text = f"{length} + 2*{padding} - {kernel}"
    else:
        text = f"{length} + 2*{padding} - {dilation}*({kernel}-1) - 1"
    reach = length + 2 * padding - (dilation or 1) * (kernel - 1) - 1
    size = (-(-reach // stride) if ceil_mode else reach // stride) + 1
    text = f"{'ceil' if ceil_mode else 'floor'}(({text})/{stride}) + 1 = {size}"
    # PyTorch drops a last window that would start inside the right padding
    if ceil_mode and (size - 1) * stride >= length + padding:
        size -= 1
        text += f", less the window that would start in the padding = {size}"
    return size, text


def _per_dim(value, dims: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def size_formulas(module: nn.Module, input_shape) -> tuple[list[int], list[str]] | None:
    """For a Conv1d/Conv2d/MaxPool1d/MaxPool2d/AvgPool1d/AvgPool2d applied to an input of
    `input_shape`, the expected output length per spatial dimension and its formula; None for
    any other module (adaptive pools choose their windows from the output size instead)."""
    if not isinstance(module, _SIZED):
        return None
    dims = 2 if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) else 1
    lengths = list(input_shape)[-dims:]
    if module.padding == "same":  # PyTorch allows it only with stride 1: the length is kept
        return lengths, [f"'same' padding keeps {n} = {n}" for n in lengths]
    padding = 0 if module.padding == "valid" else module.padding
    dilation = (None,) * dims if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d)) \
        else _per_dim(module.dilation, dims)
    results = [output_length(n, k, s, p, d, getattr(module, "ceil_mode", False))
               for n, k, s, p, d in zip(lengths, _per_dim(module.kernel_size, dims),
                                        _per_dim(module.stride, dims), _per_dim(padding, dims),
                                        dilation)]
    return [size for size, _ in results], [text for _, text in results]


# --- tracing one forward and backward ------------------------------------------------------------

@dataclass(eq=False)
class _Call:
    """One call of a leaf module (ResNet blocks call their ReLU three times), or OUTSIDE."""
    name: str
    module: nn.Module | None
    number: int = 1
    input_shape: list = field(default_factory=list)
    output_shape: list = field(default_factory=list)
    forward_flops: int = 0
    input_grad_flops: int = 0
    weight_grad_flops: int = 0
    saved_bytes: int = 0
    backward_ran: bool = False
    uncounted: set = field(default_factory=set)


def _tensors(value) -> list[torch.Tensor]:
    return [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]


def leaf_modules(model: nn.Module) -> dict[nn.Module, str]:
    """Modules without children, by dotted path. Only leaves run their own code without running
    another module's, so attributing each operation to the innermost leaf that runs it splits
    the work without counting anything twice; what runs outside every leaf (ResNet's residual
    addition, in its block's forward) belongs to OUTSIDE."""
    return {m: name for name, m in model.named_modules()
            if name and next(m.children(), None) is None}


class _Tracer(TorchDispatchMode):
    """Attributes every operation of a forward and a backward to a leaf-module call.

    Forward: the leaf call running at the time (forward pre/post hooks keep a stack).
    Backward: the call whose forward created the autograd node now executing: each leaf's post
    hook claims the nodes between its outputs and its inputs' nodes. Saved tensors go to the
    call running when autograd saves them, each storage counted once, as `saved_bytes` in the
    suite does, so a storage several layers save (a ReLU's output, the next convolution's input)
    belongs to the first layer that saves it.

    The FLOP formulas are FlopCounterMode's own (its `flop_registry`, and its decomposition of
    ops it has none for), so the totals are the suite's. Its per-module table is not used for
    the leaves: its ModuleTracker enters a module's backward when the gradient of the module's
    output arrives and leaves it when the gradient of its input is complete. On torch 2.14 that
    gave each ResNet downsample convolution its block's whole main-path backward as well (the
    block input's gradient completes only after that path), 14% more than the total over
    ResNet-50's leaves, and no backward at all to the last layer (the MLP's head), whose output
    gradient comes from no node.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.leaves = leaf_modules(model)
        self.outside = _Call(OUTSIDE, None)
        self.calls: list[_Call] = []
        self.stack: list[tuple[_Call, set]] = []
        self.owner: dict = {}  # autograd node -> _Call
        self.storages: set[int] = set()
        self.weights = {p.untyped_storage()._cdata for p in model.parameters()}
        self.in_backward = False

    # forward hooks
    def _pre(self, module, args):
        number = sum(call.module is module for call in self.calls) + 1
        inputs = _tensors(args)
        call = _Call(self.leaves[module], module, number,
                     list(inputs[0].shape) if inputs else [])
        self.calls.append(call)
        self.stack.append((call, {t.grad_fn for t in inputs if t.grad_fn is not None}))

    def _post(self, module, args, output):
        call, stop = self.stack.pop()
        outputs = _tensors(output)
        call.output_shape = list(outputs[0].shape) if outputs else []
        todo = [t.grad_fn for t in outputs]
        while todo:
            node = todo.pop()
            if node is None or node in stop or node in self.owner:
                continue
            self.owner[node] = call
            todo.extend(child for child, _ in node.next_functions)

    def _pack(self, tensor):
        # the storage's own identity, not its data_ptr: every meta storage has data_ptr 0
        storage = tensor.untyped_storage()
        if storage._cdata not in self.storages:
            self.storages.add(storage._cdata)
            self._current().saved_bytes += storage.nbytes()
        return tensor

    def _current(self) -> _Call:
        if self.in_backward:
            return self.owner.get(torch._C._current_autograd_node(), self.outside)
        return self.stack[-1][0] if self.stack else self.outside

    def trace(self, forward, backward):
        """Run `forward()` and `backward(its result)` with every operation attributed."""
        hooks = [h for m in self.leaves for h in (
            m.register_forward_pre_hook(self._pre),
            m.register_forward_hook(self._post, always_call=True))]
        try:
            with self, torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
                out = forward()
        finally:
            for hook in hooks:
                hook.remove()
        self.in_backward = True
        with self:
            backward(out)
        self.owner.clear()  # the nodes hold the graph; the counts are all taken

    # operations
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        # as FlopCounterMode does: an op it has no formula for may decompose into ones it has
        if func not in _FORMULAS and func is not torch.ops.prim.device.default:
            with self:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                return result
        out = func(*args, **kwargs)
        self._count(func, args, kwargs, out)
        return out

    def _count(self, func, args, kwargs, out):
        call = self._current()
        call.backward_ran |= self.in_backward
        formula = _FORMULAS.get(func._overloadpacket)
        if formula is None:
            # views and allocations (no tensor in) do no arithmetic; the rest is work uncounted
            if not func.is_view and _tensors((args, kwargs)):
                call.uncounted.add(str(func._overloadpacket))
            return
        flops = formula(*args, **kwargs, out_val=out)
        if not self.in_backward:
            call.forward_flops += flops
            return
        input_part = self._input_grad_flops(func, formula, args, kwargs, out, flops)
        call.input_grad_flops += input_part
        call.weight_grad_flops += flops - input_part

    def _input_grad_flops(self, func, formula, args, kwargs, out, flops) -> int:
        """The part of a backward op's FLOPs that computes the gradient of the layer's input.

        convolution_backward says which gradients it computes (output_mask: input, weight,
        bias), and FlopCounterMode's formula counts a term per wanted gradient, so counting it
        again with only the input's flag set splits it exactly. The backward of a Linear
        (addmm/mm) runs one matrix product per gradient: grad_out @ W for the input, x^T @
        grad_out for the weight; the one with a parameter among its operands is the input's.
        """
        if func._overloadpacket is _CONV_BACKWARD:
            args = list(args)
            mask = args[10]
            args[10] = [mask[0], False, False]
            return formula(*args, **kwargs, out_val=out)
        weights = any(t.untyped_storage()._cdata in self.weights
                      for t in _tensors((args, kwargs)))
        return flops if weights else 0


# --- rows ----------------------------------------------------------------------------------------

def _weight_shapes(module) -> tuple[list | None, list | None]:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        return None, None
    keras = list(keras_shape(weight.shape)) if isinstance(module, _KERAS_ORDERED) else None
    return list(weight.shape), keras


def _row(call: _Call, trainable_names: set[str], param_names: dict) -> dict:
    module = call.module
    names = param_names.get(module, [])
    weight_shape, keras = _weight_shapes(module)
    sizes = size_formulas(module, call.input_shape) if module is not None else None
    return {
        "name": call.name, "call": call.number,
        "type": type(module).__name__ if module is not None else "",
        "weight_shape": weight_shape, "keras_shape": keras,
        "params": sum(p.numel() for p in module.parameters()) if module is not None else 0,
        "output_shape": call.output_shape,
        "trainable": any(n in trainable_names for n in names) if names else None,
        "forward_flops": call.forward_flops,
        "backward_input_flops": call.input_grad_flops,
        "backward_weight_flops": call.weight_grad_flops,
        "backward_flops": call.input_grad_flops + call.weight_grad_flops,
        "backward_ran": call.backward_ran,
        "saved_bytes": call.saved_bytes,
        "output_size": sizes[1] if sizes else None,
        "output_size_ok": sizes[0] == call.output_shape[-len(sizes[0]):] if sizes else None,
        "uncounted_ops": sorted(call.uncounted),
    }


def _meta_copy(model: nn.Module) -> nn.Module:
    """`model` with its parameters and buffers on the meta device, without copying their data
    first: deepcopy takes each tensor from its memo."""
    memo = {id(b): torch.empty_like(b, device="meta") for b in model.buffers()}
    memo.update({id(p): nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
                 for p in model.parameters()})
    return copy.deepcopy(model, memo)


def _outside_used(call: _Call) -> bool:
    return bool(call.forward_flops or call.input_grad_flops or call.weight_grad_flops
                or call.saved_bytes or call.uncounted)


def anatomy(source: Case | Inputs, regime: str, k: int | None = None) -> dict:
    """One row per leaf-module call of a forward and backward in `regime` (the suite's `Run`),
    in forward order.

    Everything counted depends on shapes and on which tensors need gradients, not on values, so
    it runs on a copy of the model and inputs on the meta device: no arithmetic, a fraction of
    a second for ResNet-50 at any batch, and the caller's model keeps its flags.

    `source` is a Case (inputs made as the suite makes them, k defaults to case.k) or the
    suite's Inputs. Returns JSON-ready data: {"regime", "k", "rows", "uncounted_ops",
    "totals"}; each row has "name" (dotted path), "call" (1 unless the module runs more than
    once), "type", "weight_shape" and "keras_shape" (lists, or None), "params", "output_shape",
    "trainable" (None without parameters), "forward_flops", "backward_input_flops",
    "backward_weight_flops", "backward_flops" (their sum), "backward_ran" (some backward
    operation of the layer ran), "saved_bytes", "output_size" (formula per spatial dimension,
    or None) and "output_size_ok", and "uncounted_ops": the non-view operations of the layer
    that have no FLOP formula, so count as zero although they are not free. A last row named
    OUTSIDE holds what ran in no leaf, when anything did. "totals" sums the rows:
    "forward_flops", "backward_flops", "backward_input_flops", "backward_weight_flops",
    "saved_bytes"; they equal the suite's `counts`.
    """
    if isinstance(source, Case):
        k = source.k if k is None else k
        source = make_inputs(source, "cpu", torch.float32)
    model = _meta_copy(source.model)
    run = Run(Inputs(model, source.x.to("meta"), source.grad.to("meta")), regime, k)
    tracer = _Tracer(model)
    tracer.trace(lambda: run.setup()[0][0], run.backward)
    param_names: dict = {}
    for name, _ in model.named_parameters():
        param_names.setdefault(model.get_submodule(name.rpartition(".")[0]), []).append(name)
    calls = tracer.calls + ([tracer.outside] if _outside_used(tracer.outside) else [])
    rows = [_row(call, set(run.params), param_names) for call in calls]
    sums = ("forward_flops", "backward_flops", "backward_input_flops", "backward_weight_flops",
            "saved_bytes")
    return {"regime": regime, "k": k, "rows": rows,
            "uncounted_ops": sorted({op for row in rows for op in row["uncounted_ops"]}),
            "totals": {key: sum(row[key] for row in rows) for key in sums}}


# --- filters are learned -------------------------------------------------------------------------

def weight_changes(source: Case | Inputs, regime: str, k: int | None = None, steps: int = 3,
                   lr: float = 0.1, batch: int = 2, size: int = 32) -> dict[str, float]:
    """Relative change ||W_after - W_before|| / ||W_before|| of each parameterised leaf layer
    (all its own parameters as one vector), by dotted path in forward order, after `steps`
    steps of torch.optim.SGD over every parameter in `regime` (the loss: the output's dot
    product with a fixed upstream gradient). A frozen layer gets no gradient, so SGD skips it
    and its change is exactly 0.0. `source` as for `anatomy`; its model is copied, not trained.

    Kept cheap: a seeded batch of 2, the smallest a training-mode BatchNorm accepts where the
    ResNets' last maps are 1x1; and, since a filter has the same shape at any input size,
    images (or sequences) of side `size` (an MLP's input keeps its width). What remains is
    dominated by the weights themselves: ResNet-50 reads 100 MB of them per forward.
    """
    if isinstance(source, Case):
        k = source.k if k is None else k
        source = make_inputs(source, "cpu", torch.float32)
    generator = torch.Generator().manual_seed(0)
    x = source.x
    shape = (batch, *x.shape[1:2], *(size,) * (x.dim() - 2))
    small = torch.randn(shape, generator=generator, dtype=x.dtype).to(x.device)
    run = Run(Inputs(copy.deepcopy(source.model), small, None), regime, k)
    optimiser = torch.optim.SGD(run.inputs.model.parameters(), lr=lr)
    for _ in range(steps):
        (out,), _ = run.setup()
        if run.inputs.grad is None:  # drawn once the output's shape is known
            run.inputs.grad = torch.randn(out.shape, generator=generator,
                                          dtype=out.dtype).to(out.device)
        grads = run.backward(out)
        for p, grad in zip(run.params.values(), grads or ()):  # autograd.grad returns them
            p.grad = grad
        optimiser.step()
    before, after = leaf_modules(source.model), leaf_modules(run.inputs.model)
    return {name: _relative_change(list(new.parameters(recurse=False)),
                                   list(old.parameters(recurse=False)))
            for (old, name), new in zip(before.items(), after)
            if next(old.parameters(recurse=False), None) is not None}


def _relative_change(new: list[torch.Tensor], old: list[torch.Tensor]) -> float:
    change = sum(float(torch.dist(a.detach(), b.detach())) ** 2 for a, b in zip(new, old))
    size = sum(float(torch.linalg.vector_norm(b.detach())) ** 2 for b in old)
    return math.sqrt(change / size)
