"""Where the Triton RoI operators spend a GPU's time: the kernels of a forward and of a
forward+backward call, beside torchvision's, on the RoI suite's goal cases (float32).
torch.profiler's table of device time (CUPTI's record of each kernel, `CALLS` calls after a warm-up;
"Self CUDA" is a kernel's own time). roi-stages.log beside it is its output on an H200 at commit
33ba8e7 (the scan at UNROLL 2, 8 warps; `RUN_CHUNK` 16), before the backward without a sort,
which later versions profile too.

    PYTHONPATH=. python reports/examples/nvidia-h200/roi_stages.py
"""
import torch
import torchvision
from torch.profiler import ProfilerActivity, profile

from bench.ops import roi_triton as tri
from bench.ops.roi_triton_sweep import settings
from bench.suites.roi_spp_pooling import LEVELS, Case, make_inputs

CALLS = 10
if not torch.cuda.is_available():
    raise SystemExit("roi_stages: needs CUDA")


def table(name, fn):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(CALLS):
            fn()
        torch.cuda.synchronize()
    print(f"\n{name}, {CALLS} calls")
    print(prof.key_averages().table(sort_by="self_device_time_total", row_limit=12,
                                    max_name_column_width=50))


def profile_case(case):
    i = make_inputs(case, "cuda", torch.float32)
    x = i.x.requires_grad_()
    if case.kind == "pool":
        def ours():
            return tri.roi_pool(x, i.boxes, 7, i.scale)

        def theirs():
            return torchvision.ops.roi_pool(x, i.boxes, 7, i.scale)
    else:
        def ours():
            return tri.roi_spp(x, i.boxes, LEVELS, i.scale)

        def theirs():
            return torch.cat([torchvision.ops.roi_pool(x, i.boxes, level, i.scale).flatten(1)
                              for level in LEVELS], dim=1)
    grad = i.grad.reshape(ours().shape)
    with torch.no_grad():
        table(f"{case.id} ours forward", ours)
    table(f"{case.id} ours forward+backward", lambda: torch.autograd.grad(ours(), x, grad))
    with settings(GRADIENT_TILES=True):
        table(f"{case.id} ours forward+backward without a sort (GRADIENT_TILES)",
              lambda: torch.autograd.grad(ours(), x, grad))
    table(f"{case.id} torchvision forward+backward",
          lambda: torch.autograd.grad(theirs(), x, grad))


print(torch.__version__, torchvision.__version__, torch.cuda.get_device_name())
for case in (Case("pool", "vgg16-conv5", 2000, 7), Case("pool", "fpn-p2", 1000, 7),
             Case("pyramid", "fpn-p2", 1000, 0)):
    profile_case(case)
