"""Tile sizes and warps of the Triton RoI kernels, swept on a GPU in one call.

Each variant (elements per tile, channels per program, warps) is first checked bit for bit
against torchvision's roi_pool on the same device (per level for the pyramid), then timed:
device time by CUDA events, the median of `triton.testing.do_bench`, beside torchvision's.
The cases are the RoI suite's goal cases (fp32 forward). A variant that is not exact is
reported and not timed. New variants stop being started after `--budget` seconds (each new
tile shape compiles once, about a second), so the call fits the GPU machine's lease.

    python -m bench.ops.roi_triton_sweep [--budget 240] [--json sweep.json]

`--smoke` runs two variants on one tiny case, on CPU tensors too (through Triton's
interpreter, TRITON_INTERPRET=1 set before the import), timed by the host clock: it checks the
script, not the kernels' speed.
"""

import argparse
import itertools
import json
import sys
import time

import torch

from bench.ops import roi_triton as tri
from bench.suites.roi_spp_pooling import BASELINES, LEVELS, Case, make_inputs, run_impl

CASES = (Case("pool", "small", 512, 7), Case("pool", "vgg16-conv5", 2000, 7),
         Case("pool", "fpn-p2", 1000, 7), Case("pyramid", "fpn-p2", 1000, 0))
TILES = (1024, 2048, 4096, 8192)
CHANNELS = (32, 64, 128)
WARPS = (2, 4, 8)


def _ours(case, inputs):
    if case.kind == "pyramid":
        return lambda: tri.roi_spp(inputs.x, inputs.boxes, LEVELS, inputs.scale)
    return lambda: tri.roi_pool(inputs.x, inputs.boxes, case.output, inputs.scale)


def _theirs(case, inputs):
    return lambda: run_impl(BASELINES[case.kind], case, inputs.x, inputs.boxes, inputs.scale)


def _timer(device: str):
    """Milliseconds per call: CUDA events (median) on a GPU, the host clock elsewhere."""
    if device == "cuda":
        import triton.testing
        return lambda fn: triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")

    def host(fn, calls=3):
        fn()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls * 1e3
    return host


def _variant(tile: int, channels: int, warps: int):
    """Set the module's tile constants and warp count; returns what was there."""
    kept = tri.TILE, tri.MAX_BLOCK_C, tri._warps
    tri.TILE, tri.MAX_BLOCK_C, tri._warps = tile, channels, lambda *block: warps
    return kept


def sweep(cases, variants, device: str, budget: float, out=sys.stdout) -> list[dict]:
    timer, rows, start = _timer(device), [], time.perf_counter()
    for case in cases:
        inputs = make_inputs(case, device, torch.float32)
        theirs = _theirs(case, inputs)
        reference, tv_ms = theirs(), timer(theirs)
        print(f"{case.id}: torchvision {tv_ms:.3f} ms", file=out, flush=True)
        for tile, channels, warps in variants:
            if time.perf_counter() - start > budget:
                print(f"  budget of {budget:.0f} s spent; the rest not run", file=out)
                return rows
            kept = _variant(tile, channels, warps)
            try:
                ours = _ours(case, inputs)
                result = ours()  # bit for bit: -0.0 is not +0.0 here
                exact = result.shape == reference.shape and torch.equal(
                    result.view(torch.int32), reference.view(torch.int32))
                ms = timer(ours) if exact else float("nan")
            finally:
                tri.TILE, tri.MAX_BLOCK_C, tri._warps = kept
            rows.append({"case": case.id, "tile": tile, "channels": channels, "warps": warps,
                         "exact": exact, "ms": ms, "torchvision_ms": tv_ms})
            print(f"  tile {tile:5d} channels {channels:3d} warps {warps}: "
                  + (f"{ms:8.3f} ms  {ms / tv_ms:5.2f}x torchvision" if exact
                     else "NOT EXACT, not timed"), file=out, flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ops.roi_triton_sweep",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds after which no new variant is started (default 240)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--smoke", action="store_true",
                        help="two variants on one tiny case: checks the script")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not (args.smoke and tri._interpreted()):
        print("roi_triton_sweep: needs CUDA (or --smoke with TRITON_INTERPRET=1)",
              file=sys.stderr)
        return 2
    if args.smoke:
        # the interpreter's own tile size (it pays per operation, not per element) and half
        cases = (Case("pool", "small", 16, 7),)
        variants = [(tri.TILE, tri.MAX_BLOCK_C, 4), (tri.TILE // 2, 32, 2)]
    else:
        # the current constants first: the row every other is compared with
        current = (tri.TILE, tri.MAX_BLOCK_C, 4)
        variants = [current] + [v for v in itertools.product(TILES, CHANNELS, WARPS)
                                if v != current]
        cases = CASES
    rows = sweep(cases, variants, device, args.budget)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0 if all(row["exact"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
