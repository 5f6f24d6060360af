"""Settings of the Triton RoI kernels, swept on a GPU in one call.

A variant is a set of changes to `bench.ops.roi_triton`'s settings (`SETTINGS`), and a "dtype" of
the inputs (float32 unless named; in bfloat16 the boxes are rounded too, so its regions differ
slightly from float32's). Each is first checked bit for bit, then timed: device time by CUDA
events, the median of `triton.testing.do_bench`, beside torchvision's float32 (it has no bfloat16
kernel on CUDA). Our calls wait for the device once each (the boxes' check), so their time includes
the host's launches after that wait; torchvision's calls do not wait. Forwards are checked against
torchvision's roi_pool on the same values in float32 (per level for the pyramid), forward+backward
(float32) against the CPU gradient ours equals bit for bit (torchvision's; `bench.ops.roi_spp`'s
for the pyramid). A variant that is not exact is reported and not timed; one that fails (does not
compile, say) is reported with its error, and the sweep goes on. Each timed row says the share of
the run's measured copy bandwidth it reached with the RoI suite's minimal traffic (`bytes_moved`).
After all timings (a CUDA profile may leave hooks that slow what is timed after it), each timed
row's variant is profiled once by torch.profiler, for 30 s at most: where one more call's time
went, its top four kernels by device time (the copy, the sort, each launch of ours; a profile that
fails is reported). The cases are the RoI suite's goal cases (and, for the backward's two kinds,
four of other densities: `densities` sets them side by side). Each variant runs on every case
before the next starts: the ones most worth knowing first, then combinations in a seeded random
order; a launch already run is not run again, and none is started after `--budget` seconds (a new
kernel shape compiles once, about a second), so the call fits the GPU machine's lease. `--json` is
rewritten after every row. At the end, or when interrupted (Ctrl-C, a time limit's SIGINT), the
issue's goals: the ratios of the module settings and of the fastest exact variant.

    python -m bench.ops.roi_triton_sweep [--budget 240] [--json sweep.json]

`--smoke` runs eleven jobs (seven forward, four backward) on two tiny cases (the last two on a third
of their own), on CPU tensors too (through Triton's interpreter, TRITON_INTERPRET=1 set before
the import), timed by the host clock: it checks the script, not the kernels' speed.
"""

import argparse
import contextlib
import itertools
import json
import math
import random
import sys
import time

import torch
import torchvision

from bench.machine import peak_bandwidth
from bench.ops import roi as cpu
from bench.ops import roi_triton as tri
from bench.profiling import profile_step
from bench.suites.roi_spp_pooling import (
    BASELINES,
    LEVELS,
    Case,
    Inputs,
    bytes_moved,
    make_inputs,
    run_impl,
)

CASES = (Case("pool", "small", 512, 7), Case("pool", "vgg16-conv5", 2000, 7),
         Case("pool", "fpn-p2", 1000, 7), Case("pyramid", "fpn-p2", 1000, 0))
# The goals' comparisons: the pyramid against one torchvision 7x7 call on the same map, and
# bfloat16 against our float32 on the largest case.
SPP_AGAINST = CASES[2].id
BF16 = CASES[2]
FORWARD, BACKWARD = 0, 1
# Jobs (mode, variant), or (mode, variant, cases) for a job of its own cases. First what the goals
# need: the module's settings forward and forward+backward (the rows every other is compared with),
# bfloat16. Then what is not yet timed: the pooling launched before the wait for the boxes' check
# (the wait took about half of the forward at 512 regions), the pyramid's derived levels on tiles by
# channel, in one launch, apart and with the largest regions first (apart, the derived levels took
# three times the finest level's time in the fourth sweep); the backward's two kinds at the
# densities of DENSITY. Then the choices made after the third and fourth sweeps on an H200
# (reports/examples/nvidia-h200/roi-sweeps) undone one at a time: torch's channels-last copy, 128
# and 64 channels a pyramid program, the backward always by the sort or always by tiles (4x4, and
# the earlier 8x8); each level apart, two columns a step, smaller and larger tiles (2048 elements
# hold 8 of the pyramid's bins at 256 channels; 1024 at 128 channels, 8 bins too, took about as
# long), bfloat16's pyramid at 128 channels. Then the third sweep's list: the largest regions'
# programs first, the backward's tiles, chunks and stages, the settings before UNROLL 4 and WARPS 8
# were chosen, the gather kernel, NCHW reads.
TILES = {"GRADIENT_TILES": True}
SORTED = {"GRADIENT_TILES": False}
APART = {"PYRAMID_APART": True}
LONGEST = {"LONGEST_FIRST": True}
BY_CHANNEL = {"DERIVE_BY_CHANNEL": True}
# Where the backward's tiles should take over from the sort (GRADIENT_TILES_FROM, 12 terms a
# pixel, a guess): densities between the two timed so far, 5 terms a pixel (pool-small-r512,
# about even) and 26 (pool-vgg16-conv5-r2000, tiles 1.8x faster): 6.6, 9.8, 12.9 and 19.6.
# `densities` sets out the two kinds side by side.
DENSITY = (Case("pool", "vgg16-conv5", 512, 7), Case("pool", "small", 1000, 7),
           Case("pool", "vgg16-conv5", 1000, 7), Case("pool", "small", 2000, 7))
FIRST = [(FORWARD, {}), (BACKWARD, {}), (FORWARD, {"dtype": "bfloat16"}),
         (FORWARD, {"WAIT_FOR_CHECK": False}), (BACKWARD, {"WAIT_FOR_CHECK": False}),
         (FORWARD, BY_CHANNEL), (FORWARD, APART | BY_CHANNEL), (FORWARD, LONGEST | BY_CHANNEL),
         (BACKWARD, SORTED, DENSITY), (BACKWARD, TILES, DENSITY),
         (FORWARD, {"COPY_KERNEL": False}), (FORWARD, {"PYRAMID_BLOCK_C": 128}),
         (FORWARD, {"PYRAMID_BLOCK_C": 64}), (BACKWARD, SORTED), (BACKWARD, TILES),
         (BACKWARD, TILES | {"GRADIENT_TILE": 8}), (FORWARD, APART),
         (FORWARD, {"SCAN_COLUMNS": 2}), (FORWARD, {"TILE": 1024}), (FORWARD, {"TILE": 4096}),
         (FORWARD, {"dtype": "bfloat16", "PYRAMID_BLOCK_C": 128}),
         (FORWARD, LONGEST), (FORWARD, APART | LONGEST),
         (BACKWARD, TILES | {"GRADIENT_BLOCK_C": 64}),
         (BACKWARD, TILES | {"GRADIENT_BLOCK_C": 128}),
         (BACKWARD, TILES | {"GRADIENT_STAGES": 3}), (BACKWARD, TILES | {"GRADIENT_STAGES": 2}),
         (BACKWARD, TILES | {"GRADIENT_TILE": 16, "GRADIENT_BLOCK_C": 16}),
         (FORWARD, {"UNROLL": 1, "WARPS": 4}), (BACKWARD, SORTED | {"RUN_CHUNK": 4}),
         (FORWARD, {"UNROLL": 2}),
         (FORWARD, {"STAGES": 3}), (FORWARD, {"SCAN_COLUMNS": 2, "UNROLL": 4, "MAX_BLOCK_C": 128}),
         (BACKWARD, SORTED | {"RUN_BLOCK": 32}),
         (FORWARD, {"dtype": "bfloat16", "MAX_BLOCK_C": 128}),
         (FORWARD, {"SCAN": False}), (FORWARD, {"CHANNELS_LAST": False}),
         (FORWARD, {"MAX_BLOCK_C": 32}), (FORWARD, APART | {"TILE": 1024}),
         (FORWARD, APART | {"UNROLL": 1, "WARPS": 4}),
         # last: compiling it for sm_90 took 24 s on the 2-core VM
         (BACKWARD, SORTED | {"RUN_CHUNK": 64})]
# Then combinations, in a seeded random order: wherever the budget stops them, those run are
# spread over the whole space.
THEN = [(FORWARD, {"SCAN_COLUMNS": cols, "UNROLL": unroll, "STAGES": stages,
                   "MAX_BLOCK_C": chans, "TILE": tile, "WARPS": warps, "CHANNELS_LAST": last})
        for cols, unroll, stages, chans, tile, warps, last in itertools.product(
            (1, 2, 4), (1, 2, 4), (None, 2, 3), (16, 32, 64, 128, 256), (1024, 2048, 4096),
            (4, 8), (True, False))]
random.Random(0).shuffle(THEN)
SETTINGS = ("SCAN", "SCAN_COLUMNS", "UNROLL", "STAGES", "CHANNELS_LAST", "TILE", "MAX_BLOCK_C",
            "PYRAMID_BLOCK_C", "WARPS", "RUN_BLOCK", "RUN_CHUNK", "GRADIENT_TILES",
            "GRADIENT_TILES_FROM", "GRADIENT_TILE", "GRADIENT_BLOCK_C", "GRADIENT_STAGES",
            "PYRAMID_APART", "DERIVE_BY_CHANNEL", "LONGEST_FIRST", "COPY_KERNEL",
            "WAIT_FOR_CHECK")
# Seconds of profiles after the timings, at most (`_profile`).
PROFILE_SECONDS = 30.0
# The settings of each backward (the others do not change what it launches).
SORT = ("RUN_BLOCK", "RUN_CHUNK")
GRADIENT = ("GRADIENT_TILE", "GRADIENT_BLOCK_C", "GRADIENT_STAGES")


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
    bits = {8: torch.int64, 4: torch.int32, 2: torch.int16}[a.element_size()]
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a.view(bits), b.view(bits))


def _cast(inputs: Inputs, dtype: torch.dtype) -> Inputs:
    return Inputs(inputs.x.to(dtype), inputs.boxes.to(dtype), inputs.grad.to(dtype),
                  inputs.scale)


def _reference(case, inputs: Inputs, backward: int) -> torch.Tensor:
    """On the host. Forward: torchvision's output on the same values in float32 (on the inputs'
    device), in the inputs' dtype (exact: rounding is monotonic, so it commutes with the
    maximum; the bin edges of half types are computed in float32 anyway). Backward (float32
    only): the CPU gradient that ours equals bit for bit (torchvision's CUDA one adds in no fixed
    order), torchvision's for roi_pool, `bench.ops.roi_spp`'s for the pyramid (the order in which
    it sums the levels' terms)."""
    if not backward:
        return _theirs(case, _cast(inputs, torch.float32))().to(inputs.x.dtype).cpu()
    if inputs.x.dtype != torch.float32:
        raise ValueError("forward+backward variants are float32 only")
    on_cpu = Inputs(*(t.cpu() for t in (inputs.x, inputs.boxes, inputs.grad)), inputs.scale)
    x = on_cpu.x.detach().requires_grad_()  # not the caller's tensor (on the CPU, the same)
    if case.kind == "pyramid":
        out = cpu.roi_spp(x, on_cpu.boxes, LEVELS, on_cpu.scale)
    else:
        out = torchvision.ops.roi_pool(x, on_cpu.boxes, case.output, on_cpu.scale)
    return torch.autograd.grad(out, x, on_cpu.grad)[0]


def _grids(case) -> tuple:
    """The output grids of a case: its levels' for the pyramid."""
    if case.kind == "pyramid":
        return tuple((level, level) for level in LEVELS)
    return ((case.output, case.output),)


def _split(variant: dict) -> tuple[torch.dtype, dict]:
    """(the inputs' dtype, the module settings' changes) of a variant."""
    changes = dict(variant)
    return getattr(torch, changes.pop("dtype", "float32")), changes


def _resolved(variant: dict, backward: int, kind: str, problem: tuple | None = None) -> tuple:
    """What a variant launches on a case of `kind`, to run each launch once: the module's
    settings with the variant's changes, warps as `_warps` gives them for a full tile (and the
    backwards'). `problem`, the case's (regions, grids, input shape), decides the backward's kind
    where the density of its terms does."""
    dtype, changes = _split(variant)
    with settings(**changes):
        values = {name: getattr(tri, name) for name in SETTINGS}
        if problem is not None:
            values["GRADIENT_TILES"] = tri._by_tiles(*problem)
        values["WARPS"] = tri._warps(tri.TILE)
        if backward:
            values["RUN_BLOCK"] = tri.RUN_BLOCK, tri._warps(tri.RUN_BLOCK)
            values["GRADIENT_TILE"] = tri.GRADIENT_TILE, tri._warps(
                tri.GRADIENT_TILE, tri.GRADIENT_TILE, tri.GRADIENT_BLOCK_C)
    if not values["SCAN"]:
        del values["SCAN_COLUMNS"], values["UNROLL"], values["STAGES"]
    # the backward's choice: both kinds' settings where the density decides (None)
    tiles = values["GRADIENT_TILES"]
    unused = (SORT + GRADIENT + ("GRADIENT_TILES", "GRADIENT_TILES_FROM") if not backward
              else () if tiles is None
              else ("GRADIENT_TILES_FROM",) + (SORT if tiles else GRADIENT))
    if kind != "pyramid":
        unused += ("PYRAMID_APART", "PYRAMID_BLOCK_C", "DERIVE_BY_CHANNEL")
    if not values["CHANNELS_LAST"]:
        unused += ("COPY_KERNEL",)
    for name in unused:
        del values[name]
    return backward, dtype, tuple(values.items())


def sweep(cases, jobs, device: str, budget: float, out=sys.stdout, rows=None,
          save=lambda rows: None) -> list[dict]:
    """jobs: (FORWARD or BACKWARD, variant), each run over every case before the next one
    starts, or (FORWARD or BACKWARD, variant, its own cases). A variant's "dtype" (a torch
    dtype's name) is the inputs' (default float32), its other keys module settings; a launch
    already run is not run again. The rows go into `rows` (a new list if None), handed to `save`
    after each one: an interrupted sweep keeps them."""
    timer, start = _timer(device), time.perf_counter()
    rows = [] if rows is None else rows
    copy = peak_bandwidth(device) if device == "cuda" else math.nan
    runs = [(job[:2], case) for job in jobs for case in (job[2] if len(job) > 2 else cases)]
    inputs = {case: make_inputs(case, device, torch.float32)
              for case in dict.fromkeys(case for _, case in runs)}
    references, theirs, traffic, done, timed = {}, {}, {}, set(), []
    problems = {case: (data.boxes.shape[0], _grids(case), data.x.shape)
                for case, data in inputs.items()}
    for (backward, variant), case in runs:
        launch = case, _resolved(variant, backward, case.kind, problems[case])
        if launch in done:
            continue
        done.add(launch)
        if time.perf_counter() - start > budget:
            print(f"budget of {budget:.0f} s spent; the rest not run", file=out)
            break
        if case not in theirs:
            theirs[case] = [timer(_theirs(case, inputs[case], b)) for b in (0, 1)]
            print(f"{case.id}: torchvision {theirs[case][0]:.3f} ms forward, "
                  f"{theirs[case][1]:.3f} ms forward+backward (float32)", file=out, flush=True)
        dtype, changes = _split(variant)
        data = _cast(inputs[case], dtype)
        key = (case, dtype, backward)
        mode = ("forward", "forward_backward")[backward]
        if key not in references:
            references[key] = _reference(case, data, backward)
            traffic[key] = bytes_moved(case, data, mode)
        error = None
        with settings(**changes):
            try:
                ours = _ours(case, data, backward)
                exact = _same_bits(ours().cpu(), references[key])
                ms = timer(ours) if exact else math.nan
            except Exception as failure:  # a variant that does not compile or launch: the next
                error, exact, ms = _first_line(failure, 200), False, math.nan
        share = traffic[key] / (ms * 1e-3) / copy
        tiles = dict(launch[1][2]).get("GRADIENT_TILES")  # as resolved for this case
        chosen = tri._by_tiles(*problems[case])  # by the module's settings
        rows.append({"case": case.id, "mode": mode, "dtype": str(dtype).removeprefix("torch."),
                     "variant": variant, "exact": exact, "ms": ms,
                     "terms_per_pixel": tri._terms_per_pixel(*problems[case]),
                     "gradient": ("sort", "tiles")[tiles] if backward else None,
                     "module_gradient": ("sort", "tiles")[chosen] if backward else None,
                     "torchvision_ms": theirs[case][backward], "bytes": traffic[key],
                     "fraction_of_copy": share, "error": error, "kernels": None})
        save(rows)
        if exact:
            timed.append((rows[-1], changes, ours))
        if error:
            result = f"FAILED: {error}"
        elif exact:
            result = (f"{ms:8.3f} ms {ms / theirs[case][backward]:5.2f}x torchvision's float32"
                      + (f" {share:6.1%} of copy" if share == share else ""))
        else:
            result = "NOT EXACT, not timed"
        print(f"  {_label(rows[-1])} {result}", file=out, flush=True)
    _profile(timed, device, out, lambda: save(rows), PROFILE_SECONDS)
    return rows


def _label(row: dict) -> str:
    name = ", ".join(f"{k}={v}" for k, v in row["variant"].items()) or "module settings"
    return f"{row['case']:20s} {row['mode']:16s} {name:54s}"


def _first_line(failure: Exception, width: int) -> str:
    return str(failure).strip().split("\n")[0][:width]


def _profile(timed: list, device: str, out, save, limit: float) -> None:
    """Where one more call of each timed row's variant spent its time, for `limit` seconds at
    most, in the rows' order: after every timing, since a CUDA profile may leave the profiler's
    hooks in place and slow what is timed after it. Each row's `kernels`, saved as they come."""
    if not timed:
        return
    print("where one call's time went (torch.profiler, after all timings): "
          + ("kernels by device time" if device == "cuda"
             else "host operators (the interpreter's work does not show)"), file=out)
    start = time.perf_counter()
    for row, changes, fn in timed:
        if time.perf_counter() - start > limit:
            print(f"profiles stopped after {limit:.0f} s", file=out)
            return
        with settings(**changes):
            row["kernels"] = _kernels(fn, device)
        save()
        where = row["kernels"] if isinstance(row["kernels"], str) else ", ".join(
            f"{k['name'][:40]} {k['ms']:.3f}" for k in row["kernels"]) + " ms"
        print(f"  {_label(row)} {where}", file=out, flush=True)


def _kernels(fn, device: str) -> list[dict] | str:
    """One call's top four kernels by device time on CUDA (operators by host time elsewhere),
    in ms, by torch.profiler (`bench.profiling`); or why there are none. One call, with the
    profiler's overhead: it explains, the timer measures."""
    try:
        found = profile_step(fn, device=device)
    except Exception as failure:  # no reason to lose the row's timing
        return f"profile failed: {_first_line(failure, 120)}"
    top = found.get("kernels", found["operators"])[:4]
    return [{"name": row["name"], "ms": row["self_time"] * 1e3} for row in top] or \
        "no kernels recorded"


def goals(rows: list[dict], cases, out=sys.stdout) -> None:
    """The issue's speed goals on `cases` (the sweep's, not a job's own), from the rows of the
    module settings and of the fastest exact variant of each case, mode and dtype."""
    def pick(case, mode="forward", dtype="float32"):
        mine = [r for r in rows if (r["case"], r["mode"], r["dtype"]) == (case, mode, dtype)
                and r["exact"]]
        own = [r for r in mine if not set(r["variant"]) - {"dtype"}]
        return (own[0] if own else None), min(mine, key=lambda r: r["ms"], default=None)

    def line(text, goal, found):
        values = [f"{value:.2f} ({which})" for which, value in found if value == value]
        print(f"  {text}, goal {goal}: {', '.join(values) or 'not measured'}", file=out)

    def ratio(pair, over):
        return [(which, row["ms"] / over(row) if row else math.nan)
                for which, row in zip(("module settings", "fastest variant"), pair)]

    print("goals (time over time):", file=out)
    for case in (case.id for case in cases):
        line(f"{case} forward / torchvision's", "<= 1.0 (0.8)",
             ratio(pick(case), lambda r: r["torchvision_ms"]))
        line(f"{case} forward+backward / torchvision's", "<= 1.5",
             ratio(pick(case, "forward_backward"), lambda r: r["torchvision_ms"]))
    one_call = [r["torchvision_ms"] for r in rows
                if (r["case"], r["mode"]) == (SPP_AGAINST, "forward")]
    if one_call:
        line(f"{CASES[-1].id} / one torchvision {SPP_AGAINST}", "<= 1.5",
             ratio(pick(CASES[-1].id), lambda r: one_call[0]))
    fp32 = pick(BF16.id)[0]
    if fp32:
        line(f"{BF16.id} bfloat16 / our float32", "<= 0.67 (1.5x faster)",
             ratio(pick(BF16.id, dtype="bfloat16"), lambda r: fp32["ms"]))


def densities(rows: list[dict], out=sys.stdout) -> None:
    """The backward by the sort and by tiles (each at the module's other settings) side by side,
    case by case in order of the density of the gradient terms: where tiles should take over."""
    kinds = {}
    for r in rows:
        if r["mode"] == "forward_backward" and r["exact"] and r["dtype"] == "float32" \
                and not set(r["variant"]) - {"GRADIENT_TILES"}:
            key = r["terms_per_pixel"], r["case"], r["module_gradient"]
            kinds.setdefault(key, {})[r["gradient"]] = r["ms"]
    both = [(key, ms) for key, ms in sorted(kinds.items()) if len(ms) == 2]
    if not both:
        return
    print(f"the backward by density (chosen: the module's kind; GRADIENT_TILES_FROM = "
          f"{tri.GRADIENT_TILES_FROM} terms a pixel):", file=out)
    for (density, case, chosen), ms in both:
        faster = min(ms, key=ms.get)
        print(f"  {case:26s} {density:5.1f} terms a pixel: sort {ms['sort']:.3f} ms, tiles "
              f"{ms['tiles']:.3f} ms ({ms['tiles'] / ms['sort']:.2f}x); faster: {faster}, "
              f"chosen: {chosen}", file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ops.roi_triton_sweep",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds after which no new variant is started (default 240)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--smoke", action="store_true",
                        help="eleven jobs on tiny cases: checks the script")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not (args.smoke and tri._interpreted()):
        print("roi_triton_sweep: needs CUDA (or --smoke with TRITON_INTERPRET=1)",
              file=sys.stderr)
        return 2
    if args.smoke:
        cases = (Case("pool", "small", 16, 7), Case("pyramid", "small", 16, 0))
        jobs = [(FORWARD, {}), (FORWARD, {"SCAN": False}), (FORWARD, {"SCAN_COLUMNS": 1}),
                (BACKWARD, SORTED | {"RUN_CHUNK": 2}), (BACKWARD, TILES), (FORWARD, APART),
                (FORWARD, LONGEST), (FORWARD, {"COPY_KERNEL": False}),
                (FORWARD, {"WAIT_FOR_CHECK": False})]
        denser = (Case("pool", "small", 24, 7),)  # a job of its own cases
        jobs += [(BACKWARD, SORTED, denser), (BACKWARD, TILES, denser)]
    else:
        cases, jobs = CASES, FIRST + THEN

    def save(rows):
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(rows, fh, indent=1)

    rows = []
    try:
        sweep(cases, jobs, device, args.budget, rows=rows, save=save)
    except KeyboardInterrupt:  # a time limit's SIGINT: the rows so far are kept and summed up
        print("interrupted", flush=True)
    goals(rows, cases)
    densities(rows)
    return 0 if all(row["exact"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
