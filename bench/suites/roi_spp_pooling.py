"""What do RoI pooling (Fast R-CNN) and spatial pyramid pooling (SPP-net) cost?

RoI pooling max-pools every region proposal of a feature map into a fixed grid (7x7), so that
regions of any size feed the same fully connected head. SPP-net pools each region at several
grid sizes ({6,3,2,1}: 50 bins per channel) and concatenates them; image-level SPP does the same
for whole feature maps. Costs grow with the number of regions and their area, not with the map.

Implementations: torchvision's `roi_pool` (the baseline) and `roi_align` (aligned, sampling ratio
2, as its detection models use it); our `bench.ops.roi_pool`, exact to torchvision; a Python loop
over regions (crop, then `adaptive_max_pool2d`), which people write and which differs in its bins
(it clips the region to the map first, and adaptive pooling places bins differently); for the
pyramid, torchvision's `roi_pool` once per level against our `roi_spp`, which pools once; for
image-level SPP, `adaptive_max_pool2d` once per level against our `spp`, likewise.

What the committed example measured (2-core Xeon, each implementation timed side by side with
torchvision, forward): on a 256x50x50 map with 512 regions our roi_pool took 0.35x torchvision's
time and roi_spp 0.24x the time of four roi_pool calls; the loop took 1.58x. On the large FPN map
with 64 big regions the loop took 0.87x and our operator 0.63x. Forward+backward at 512 regions,
ours took 0.77x torchvision's time and roi_spp 0.47x; with 16 regions ours took 1.23x (fixed
costs).

Run it: `pytest tests/benchmarks -k roi --benchmark-only --grid default`.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision

from bench import ops
from bench.ops.roi import bin_edges, roi_pool_torch, roi_spp_torch, triton_kernels
from bench.precision import MODES
from bench.suite import Impl, Step, Suite

LEVELS = (6, 3, 2, 1)
IMAGE_LEVELS = (4, 2, 1)
BATCH = 2

# (name, channels, height, width, 1/spatial_scale) of the feature maps measured.
MAPS = {
    "vgg16-conv5": (512, 38, 50, 16),
    "fpn-p2": (256, 200, 272, 4),
    "small": (256, 50, 50, 16),
    "tiny": (8, 20, 24, 4),
}


@dataclass(frozen=True)
class Case:
    kind: str     # "pool" (one grid), "pyramid" (levels 6,3,2,1) or "image" (image-level SPP)
    fmap: str
    regions: int
    output: int   # grid side for "pool"; 0 otherwise

    @property
    def id(self) -> str:
        grid = f"-o{self.output}" if self.kind == "pool" else ""
        regions = f"-r{self.regions}" if self.kind != "image" else ""
        return f"{self.kind}-{self.fmap}{regions}{grid}"


def _cases(kind, fmap, regions, output=0):
    return tuple(Case(kind, fmap, r, output) for r in regions)


SMOKE = (Case("pool", "tiny", 16, 7), Case("pyramid", "tiny", 16, 0), Case("image", "tiny", 0, 0))
DEFAULT = {
    "cpu": (_cases("pool", "small", (16, 128, 512), 7) + _cases("pool", "small", (512,), 14)
            + _cases("pool", "vgg16-conv5", (128, 512), 7) + _cases("pool", "fpn-p2", (64,), 7)
            + _cases("pyramid", "small", (128, 512)) + (Case("image", "vgg16-conv5", 0, 0),)),
    "cuda": (_cases("pool", "small", (16, 128, 512, 2000), 7)
             + _cases("pool", "vgg16-conv5", (128, 512, 2000), 7)
             + _cases("pool", "vgg16-conv5", (512,), 14)
             + _cases("pool", "fpn-p2", (64, 256, 1000, 4000), 7)
             + _cases("pyramid", "small", (128, 512)) + _cases("pyramid", "fpn-p2", (1000,))
             + (Case("image", "vgg16-conv5", 0, 0),)),
}
FULL = {
    "cpu": DEFAULT["cpu"] + _cases("pool", "small", (2000, 4000), 7)
    + _cases("pyramid", "fpn-p2", (1000,)),
    "cuda": DEFAULT["cuda"] + _cases("pool", "small", (4000,), 7)
    + _cases("pool", "fpn-p2", (4000,), 14) + _cases("pyramid", "fpn-p2", (4000,)),
}
GRIDS = {"smoke": SMOKE, "default": DEFAULT, "full": FULL}


# --- implementations -----------------------------------------------------------------------------

def _loop(x, boxes, size, scale):
    """The loop people write: crop each region (clipped to the map), adaptive max pool."""
    _, _, h, w = x.shape
    outputs = []
    for b, x1, y1, x2, y2 in boxes.tolist():
        c1, r1 = min(max(round(x1 * scale), 0), w - 1), min(max(round(y1 * scale), 0), h - 1)
        c2, r2 = min(max(round(x2 * scale), c1), w - 1), min(max(round(y2 * scale), r1), h - 1)
        outputs.append(F.adaptive_max_pool2d(x[int(b), :, r1:r2 + 1, c1:c2 + 1], size))
    return torch.stack(outputs) if outputs else x.new_zeros(0, x.shape[1], size, size)


def _roi_align(x, boxes, size, scale):
    return torchvision.ops.roi_align(x, boxes, size, scale, sampling_ratio=2, aligned=True)


def _per_level(x, boxes, levels, scale):
    return torch.cat([torchvision.ops.roi_pool(x, boxes, level, scale).flatten(1)
                      for level in levels], dim=1)


def _image_per_level(x, levels):
    return torch.cat([F.adaptive_max_pool2d(x, level).flatten(1) for level in levels], dim=1)


@dataclass(frozen=True)
class RoIImpl(Impl):
    """`exact`: promised equal to the reference, bit for bit in the forward."""
    kind: str = "pool"          # the kind of case it computes
    torchvision: bool = False   # torchvision's kernels refuse bfloat16
    cuda_only: bool = False     # on the CPU it is another row's code
    triton: bool = False        # on CUDA, bench.ops.roi_triton's kernels where Triton imports


IMPLEMENTATIONS = {impl.name: impl for impl in (
    RoIImpl("tv_roi_pool", lambda x, b, s, k: torchvision.ops.roi_pool(x, b, s, k),
            about="torchvision.ops.roi_pool", kind="pool", torchvision=True),
    RoIImpl("tv_roi_align", _roi_align, exact=False, kind="pool", torchvision=True,
            about="torchvision.ops.roi_align (aligned, 2 samples): another operation"),
    RoIImpl("ours_roi_pool", ops.roi_pool, kind="pool", triton=True,
            about="bench.ops.roi_pool: vectorised PyTorch on the CPU, Triton kernels on CUDA"),
    RoIImpl("ours_roi_pool_torch", roi_pool_torch, kind="pool", cuda_only=True,
            about="bench.ops.roi_pool's PyTorch path on CUDA, for what the kernels buy"),
    RoIImpl("python_loop", _loop, exact=False, kind="pool",
            about="crop each region, adaptive_max_pool2d: other bins"),
    RoIImpl("tv_roi_pool_per_level", _per_level, kind="pyramid", torchvision=True,
            about="torchvision.ops.roi_pool once per pyramid level"),
    RoIImpl("ours_roi_spp", ops.roi_spp, about="bench.ops.roi_spp, one pass", kind="pyramid",
            triton=True),
    RoIImpl("ours_roi_spp_torch", roi_spp_torch, kind="pyramid", cuda_only=True,
            about="bench.ops.roi_spp's PyTorch path on CUDA"),
    RoIImpl("adaptive_per_level", lambda x, levels: _image_per_level(x, levels), kind="image",
            about="adaptive_max_pool2d once per level"),
    RoIImpl("ours_spp", lambda x, levels: ops.spp(x, levels), kind="image",
            about="bench.ops.spp: one pass at the finest level, the others from its winners"),
)}
BASELINES = {"pool": "tv_roi_pool", "pyramid": "tv_roi_pool_per_level",
             "image": "adaptive_per_level"}


# The loop's backward writes a zero gradient the size of the whole input for every region (the
# backward of each crop): beyond this many elements written per call it runs for minutes.
LOOP_BACKWARD_LIMIT = 2e9


# --- inputs, reference, work model ---------------------------------------------------------------

def make_boxes(regions: int, height: int, width: int, batch: int, gen) -> torch.Tensor:
    """[K, 5] boxes in image pixels: sides log-uniform from 16 px to 80% of the image, centres
    uniform, a few partly outside the image, as region proposals are."""
    sides = torch.empty(regions, 2).uniform_(math.log(16), math.log(0.8 * min(height, width)),
                                             generator=gen).exp()
    centres = torch.rand(regions, 2, generator=gen) * torch.tensor([width, height])
    index = torch.randint(0, batch, (regions, 1), generator=gen).float()
    return torch.cat([index, centres - sides / 2, centres + sides / 2], dim=1)


@dataclass
class Inputs:
    x: torch.Tensor
    boxes: torch.Tensor
    grad: torch.Tensor
    scale: float


def run_impl(impl: str, case: Case, x: torch.Tensor, boxes: torch.Tensor, scale: float):
    fn = IMPLEMENTATIONS[impl].fn
    if case.kind == "image":
        return fn(x, IMAGE_LEVELS)
    if case.kind == "pyramid":
        return fn(x, boxes, LEVELS, scale)
    return fn(x, boxes, case.output, scale)


def output_shape(case: Case, batch: int, channels: int) -> tuple[int, ...]:
    """The shape of the case's result, known without pooling anything."""
    if case.kind == "image":
        return batch, channels * sum(level * level for level in IMAGE_LEVELS)
    if case.kind == "pyramid":
        return case.regions, channels * sum(level * level for level in LEVELS)
    return case.regions, channels, case.output, case.output


def make_inputs(case: Case, device, dtype) -> Inputs:
    """Seeded feature maps (ReLU'd, as after a convolution), boxes and upstream gradient."""
    c, h, w, stride = MAPS[case.fmap]
    gen = torch.Generator().manual_seed(0)
    batch = 8 if case.kind == "image" else BATCH
    x = torch.randn(batch, c, h, w, generator=gen).relu()
    boxes = make_boxes(case.regions, h * stride, w * stride, batch, gen)
    grad = torch.randn(output_shape(case, batch, c), generator=gen)
    return Inputs(x.to(device, dtype), boxes.to(device, dtype), grad.to(device, dtype),
                  1 / stride)


# Ours, exact to the baselines' CPU kernels (tests/test_roi.py): the reference of a baseline
# measured on the CPU, which against itself could not fail.
OURS = {"pool": "ours_roi_pool", "pyramid": "ours_roi_spp", "image": "ours_spp"}


def reference_source(case: Case, impl: str | None, device: str) -> str:
    """The implementation whose CPU result `impl`'s on `device` is checked against."""
    return OURS[case.kind] if impl == BASELINES[case.kind] and device == "cpu" \
        else BASELINES[case.kind]


def reference(case: Case, inputs: Inputs, mode: str, impl: str | None = None
              ) -> dict[str, torch.Tensor]:
    """The baseline of the case's kind, on the CPU on the same (rounded) inputs: in float32,
    and in float16 for float16 inputs (see _reference); for the baseline itself measured on
    the CPU, our operator, computed the same way.

    Not float64: max pooling has no rounding error, and torchvision computes bin edges in the
    input's dtype, so float64 would move some edges; the input's bins are what is matched.
    The inputs are seeded, so the implementations of a case, dtype and mode share one reference
    (on the FPN map with 4000 regions, one costs seconds): the latest four are kept with the
    inputs they were computed from, and reused only for equal inputs.
    """
    source = reference_source(case, impl, inputs.x.device.type)
    key = (case, mode, source)
    kept = _references.get(key)
    if kept is None or not all(_same(a, b) for a, b in zip(kept[0], _values(inputs))):
        if len(_references) >= 4:  # a case's two modes and two sources; earlier cases are done
            _references.clear()
        kept = _references[key] = (_values(inputs), _reference(case, inputs, mode, source))
    return kept[1]


_references: dict[tuple, tuple] = {}


def _values(inputs: Inputs) -> tuple[torch.Tensor, ...]:
    return inputs.x.detach(), inputs.boxes, inputs.grad


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a.dtype, a.device, a.shape) == (b.dtype, b.device, b.shape) and torch.equal(a, b)


def _reference(case: Case, inputs: Inputs, mode: str, source: str) -> dict[str, torch.Tensor]:
    """`source` on the CPU, in float32, except for float16: torchvision computes float16
    bins in float16 (on CUDA as on the CPU), and so do ours; float32 bins would be other bins.
    bfloat16 bins are float32 in ours (torchvision has no bfloat16)."""
    dtype = torch.float16 if inputs.x.dtype == torch.float16 else torch.float32
    x = inputs.x.detach().to("cpu", dtype).requires_grad_(mode == "forward_backward")
    out = run_impl(source, case, x, inputs.boxes.to("cpu", dtype), inputs.scale)
    ref = {"output": out.detach()}
    if mode == "forward_backward":
        ref["grad_input"] = torch.autograd.grad(out, x, inputs.grad.to("cpu", dtype))[0]
    return ref


def prepare(case: Case, impl: str, inputs: Inputs, mode: str) -> Step:
    """The step to time, with a function returning its results in the reference's form."""
    x = inputs.x.detach().requires_grad_(mode == "forward_backward")

    def step():
        if mode == "forward":
            with torch.no_grad():
                return run_impl(impl, case, x, inputs.boxes, inputs.scale)
        x.grad = None
        out = run_impl(impl, case, x, inputs.boxes, inputs.scale)
        out.backward(inputs.grad)
        return out

    def results():
        out = {"output": step().detach()}
        if mode == "forward_backward":
            out["grad_input"] = x.grad
        return out
    return Step(step, results, work={"bytes": bytes_moved(case, inputs, mode)})


def bytes_moved(case: Case, inputs: Inputs, mode: str) -> int:
    """Minimal traffic: the output written once and each distinct input element it depends on
    read once (the union of the regions' bins, clipped to the map); backward adds the
    gradient's twins."""
    x = inputs.x
    element = x.element_size()
    out = math.prod(output_shape(case, x.shape[0], x.shape[1]))
    if case.kind == "image":
        touched = x.numel()
    else:
        _, h, w = x.shape[1:]
        mask = torch.zeros(x.shape[0], h, w, dtype=torch.bool)
        # A region's bins (torchvision's: corners rounded half away from zero, a pixel at least)
        # follow one another without gaps: together they span from the first's start to the
        # last's end, which a grid's rounding can put a pixel past the box.
        for side in (case.output,) if case.kind == "pool" else LEVELS:
            images, rows, cols = bin_edges(inputs.boxes.cpu(), (side, side), inputs.scale, h, w)
            for b, r, c in zip(images.tolist(), rows.tolist(), cols.tolist()):
                mask[b, r[0][0]:r[-1][1], c[0][0]:c[-1][1]] = True
        touched = int(mask.sum()) * x.shape[1]
    total = touched + out
    if mode == "forward_backward":
        total += out + x.numel()  # read the output gradient, write the input gradient
    return total * element


class RoI(Suite):
    name = "roi"
    title = "RoI pooling and spatial pyramid pooling"
    question = ("What do RoI pooling and spatial pyramid pooling cost, and how does it scale with "
                "the number of regions and the feature-map size, on CPU and CUDA?")
    modes = ("forward", "forward_backward")
    precisions = {"cpu": ("fp32",), "cuda": ("fp32", "bf16", "fp16")}
    grids = GRIDS
    impls = IMPLEMENTATIONS
    baseline = BASELINES["pool"]
    case_key = ("pool-small-r512-o7 is RoI pooling into a 7x7 grid of 512 regions on the "
                "'small' map (256x50x50, stride 16; vgg16-conv5: 512x38x50, stride 16; "
                "fpn-p2: 256x200x272, stride 4; tiny: 8x20x24, stride 4, the smoke grid's, to see "
                "that everything runs, not to rank), batch 2; pyramid: "
                "levels 6, 3, 2, 1; image: image-level SPP, levels 4, 2, 1, batch 8")

    def impls_for(self, case):
        """The implementations that compute what `case` asks for."""
        return [name for name, impl in IMPLEMENTATIONS.items() if impl.kind == case.kind]

    def baseline_for(self, case):
        return BASELINES[case.kind]

    def skip_reason(self, case, impl, device, precision, mode):
        """Why a combination is not measured, or None."""
        if IMPLEMENTATIONS[impl].cuda_only and device == "cpu":
            return ("ours_roi_pool_torch and ours_roi_spp_torch, the PyTorch path, are rows "
                    "for CUDA only: on the CPU, ours_roi_pool and ours_roi_spp are that path")
        if IMPLEMENTATIONS[impl].triton and device == "cuda" and not triton_kernels():
            return ("Triton cannot be imported: on CUDA without it, ours_roi_pool and "
                    "ours_roi_spp run the PyTorch path, the _torch rows")
        if IMPLEMENTATIONS[impl].torchvision and precision == "bf16":
            return "torchvision's roi_pool and roi_align do not implement bfloat16"
        c, h, w, _ = MAPS[case.fmap]
        if impl == "python_loop" and mode == "forward_backward" and \
                case.regions * BATCH * c * h * w > LOOP_BACKWARD_LIMIT:
            # one reason for every such case, so that the page counts them together
            return ("python_loop's backward writes a zero gradient of the whole batch per "
                    f"region: a call writing over {LOOP_BACKWARD_LIMIT / 1e9:g} billion values "
                    "would take minutes")
        return None

    def tolerance(self, case, impl, precision, mode):
        """Exact ones match the reference bit for bit in the forward (bf16 and fp16 after the
        same rounding); summed gradients may round differently. roi_align and the loop compute
        something else: their error is recorded, not judged."""
        if not IMPLEMENTATIONS[impl].exact:
            return None
        return 0.0 if mode == "forward" else MODES[precision].tolerance

    def make_inputs(self, case, device, dtype):
        return make_inputs(case, device, dtype)

    def prepare(self, case, impl, inputs, mode):
        return prepare(case, impl, inputs, mode)

    def reference(self, case, impl, inputs, mode):
        return reference(case, inputs, mode, impl)

    def reference_name(self, case, impl, device):
        # a baseline beyond its tolerance on the CPU may be our operator's fault
        return f"{reference_source(case, impl, device)} on the CPU"


SUITE = RoI()
