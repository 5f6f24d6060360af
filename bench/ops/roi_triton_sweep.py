"""Settings of the Triton RoI kernels, swept on a GPU in one call.

A variant is a set of changes to `bench.ops.roi_triton`'s settings (`SCAN`, `SCAN_COLUMNS`,
`CHANNELS_LAST`, `TILE`, `MAX_BLOCK_C`, `WARPS`, `RUN_BLOCK`). Each is first checked bit for bit
against torchvision's roi_pool on the same device (per level for the pyramid), then timed:
device time by CUDA events, the median of `triton.testing.do_bench`, beside torchvision's. The
cases are the RoI suite's goal cases, fp32. Forward+backward variants (the backward's block) are
checked against the module settings' gradient bit for bit (the backward is deterministic) and
timed against torchvision's forward+backward. A variant that is not exact is reported and not
timed. The variants most worth knowing come first, for every case, the combinations after;
no variant is started after `--budget` seconds (a new kernel shape compiles once, about a
second), so the call fits the GPU machine's lease.

    python -m bench.ops.roi_triton_sweep [--budget 240] [--json sweep.json]

`--smoke` runs three variants on one tiny case, on CPU tensors too (through Triton's
interpreter, TRITON_INTERPRET=1 set before the import), timed by the host clock: it checks the
script, not the kernels' speed.
"""

import argparse
import contextlib
import itertools
import json
import sys
import time

import torch

from bench.ops import roi_triton as tri
from bench.suites.roi_spp_pooling import BASELINES, LEVELS, Case, make_inputs, run_impl

CASES = (Case("pool", "small", 512, 7), Case("pool", "vgg16-conv5", 2000, 7),
         Case("pool", "fpn-p2", 1000, 7), Case("pyramid", "fpn-p2", 1000, 0))
# First: the module's settings (the row every other is compared with), the gather kernel (the
# one measured before), NCHW reads (no channels-last copy), then one setting changed at a time.
FIRST = ({}, {"SCAN": False}, {"CHANNELS_LAST": False}, {"CHANNELS_LAST": False, "SCAN_COLUMNS": 4},
         {"SCAN_COLUMNS": 4}, {"MAX_BLOCK_C": 32}, {"TILE": 1024}, {"TILE": 4096}, {"WARPS": 8})
BACKWARD = ({}, {"RUN_BLOCK": 512}, {"RUN_BLOCK": 1024})
THEN = tuple({"SCAN_COLUMNS": cols, "MAX_BLOCK_C": chans, "TILE": tile, "WARPS": warps}
             for cols, chans, tile, warps in itertools.product((1, 2, 4), (16, 32, 64),
                                                               (1024, 2048, 4096), (2, 4, 8)))


@contextlib.contextmanager
def settings(**changes):
    """Set `bench.ops.roi_triton`'s module settings for the block, and put them back."""
    unknown = [name for name in changes if not name.isupper() or not hasattr(tri, name)]
    if unknown:
        raise ValueError(f"not a setting of bench.ops.roi_triton: {', '.join(unknown)}")
    kept = {name: getattr(tri, name) for name in changes}
    try:
        for name, value in changes.items():
            setattr(tri, name, value)
        yield
    finally:
        for name, value in kept.items():
            setattr(tri, name, value)


def _ours(case, inputs, backward=False):
    if case.kind == "pyramid":
        def forward(x):
            return tri.roi_spp(x, inputs.boxes, LEVELS, inputs.scale)
    else:
        def forward(x):
            return tri.roi_pool(x, inputs.boxes, case.output, inputs.scale)
    return _run(forward, inputs, backward)


def _theirs(case, inputs, backward=False):
    return _run(lambda x: run_impl(BASELINES[case.kind], case, x, inputs.boxes, inputs.scale),
                inputs, backward)


def _run(forward, inputs, backward):
    if not backward:
        return lambda: forward(inputs.x)
    x = inputs.x.detach().requires_grad_()
    return lambda: torch.autograd.grad(forward(x), x, inputs.grad)[0]


def _timer(device: str):
    """Milliseconds per call: CUDA events (median) on a GPU, the host clock elsewhere."""
    if device == "cuda":
        import triton.testing
        return lambda fn: triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")

    def host(fn):  # one call: the interpreter's times say nothing of a GPU's
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3
    return host


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """-0.0 is not +0.0 here; every NaN of the RoI outputs is the input's own."""
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(
        a.view(torch.int32), b.view(torch.int32))


def sweep(cases, stages, device: str, budget: float, out=sys.stdout) -> list[dict]:
    """stages: ((forward variants, forward+backward variants), ...), each stage run over every
    case before the next one starts."""
    timer, rows, start = _timer(device), [], time.perf_counter()
    inputs = {case: make_inputs(case, device, torch.float32) for case in cases}
    references, theirs = {}, {}
    for (forwards, backwards), case in itertools.product(stages, cases):
        if case not in references:
            # torchvision's output; the gradient of the module's settings (deterministic)
            references[case] = (_theirs(case, inputs[case])(), _ours(case, inputs[case], True)())
            theirs[case] = [timer(_theirs(case, inputs[case], backward)) for backward in (0, 1)]
            print(f"{case.id}: torchvision {theirs[case][0]:.3f} ms forward, "
                  f"{theirs[case][1]:.3f} ms forward+backward", file=out, flush=True)
        for backward, variant in [(0, v) for v in forwards] + [(1, v) for v in backwards]:
            if time.perf_counter() - start > budget:
                print(f"  budget of {budget:.0f} s spent; the rest not run", file=out)
                return rows
            with settings(**variant):
                ours = _ours(case, inputs[case], backward)
                exact = _same_bits(ours(), references[case][backward])
                ms = timer(ours) if exact else float("nan")
            mode = ("forward", "forward+backward")[backward]
            rows.append({"case": case.id, "mode": mode, "variant": variant, "exact": exact,
                         "ms": ms, "torchvision_ms": theirs[case][backward]})
            name = ", ".join(f"{k}={v}" for k, v in variant.items()) or "module settings"
            print(f"  {mode:16s} {name:60s} "
                  + (f"{ms:8.3f} ms  {ms / theirs[case][backward]:5.2f}x torchvision" if exact
                     else "NOT EXACT, not timed"), file=out, flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ops.roi_triton_sweep",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds after which no new variant is started (default 240)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--smoke", action="store_true",
                        help="three variants on one tiny case: checks the script")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not (args.smoke and tri._interpreted()):
        print("roi_triton_sweep: needs CUDA (or --smoke with TRITON_INTERPRET=1)",
              file=sys.stderr)
        return 2
    if args.smoke:
        cases = (Case("pool", "small", 16, 7),)
        stages = ((({}, {"SCAN": False}, {"SCAN_COLUMNS": 1}), ({"RUN_BLOCK": 8192},)),)
    else:
        cases, stages = CASES, ((FIRST, BACKWARD), (THEN, ()))
    rows = sweep(cases, stages, device, args.budget)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0 if all(row["exact"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
