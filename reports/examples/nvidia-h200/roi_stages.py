"""Where a Triton roi_pool call spends its time on the GPU: the whole call, its stages, and
torchvision, for three suite cases (fp32 forward). Host time per call: N calls back to back,
one synchronisation at the end; device time: triton.testing.do_bench (CUDA events, median).

Written for the kernels of commit 1e4a863 (the gather, an int64 argmax), whose launch it calls
directly; roi-stages.log beside it is its output there. It no longer runs: the kernels' launch
has changed since (`make gpu-sweep` times today's settings side by side)."""
import time
import torch
import torchvision
import triton
from bench.ops import roi_triton as tri
from bench.suites.roi_spp_pooling import Case, make_inputs

def host(fn, n=200):
    fn(); torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / n * 1e3

def dev(fn):
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")

DEV = "cuda" if torch.cuda.is_available() else "cpu"
if DEV == "cpu":
    raise SystemExit("roi_stages: no CUDA")
print(torch.__version__, triton.__version__, torch.cuda.get_device_name())
for fmap, regions in (("small", 16), ("small", 512), ("fpn-p2", 1000)):
    i = make_inputs(Case("pool", fmap, regions, 7), DEV, torch.float32)
    x, boxes, scale = i.x, i.boxes, i.scale
    xl = x.contiguous(memory_format=torch.channels_last)
    rois, sc, hh, ww = tri._checked(x, boxes, scale)
    n, c, h, w = x.shape
    bc, bb, bq = tri._tiles(c, 49, tri._bin_bound(hh, 7, h), tri._bin_bound(ww, 7, w))
    groups = triton.cdiv(49, bb)
    out = torch.empty(boxes.shape[0], c, 7, 7, device=DEV)
    arg = torch.empty(boxes.shape[0], c, 7, 7, device=DEV, dtype=torch.long)
    def kern():
        tri._roi_pool_kernel[(boxes.shape[0] * groups, triton.cdiv(c, bc))](
            xl, rois, sc, out, arg, c, h, w, 7, 7, groups, *xl.stride(),
            **tri._constants(x.dtype), BLOCK_B=bb, BLOCK_Q=bq, BLOCK_C=bc,
            num_warps=tri._warps(bc, bb, bq), enable_fp_fusion=False)
    stages = {
        "ours call": lambda: tri.roi_pool(x, boxes, 7, scale),
        "tv call": lambda: torchvision.ops.roi_pool(x, boxes, 7, scale),
        "_checked (sync)": lambda: tri._checked(x, boxes, scale),
        "channels_last copy": lambda: x.contiguous(memory_format=torch.channels_last),
        "pool kernel": kern,
    }
    print(f"{fmap} r{regions} tiles c{bc} b{bb} q{bq} groups {groups} warps {tri._warps(bc, bb, bq)} bound {hh}x{ww}")
    for name, fn in stages.items():
        print(f"  {name:20s} host-loop {host(fn):8.3f} ms   device {dev(fn):8.3f} ms")
