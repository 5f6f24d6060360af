"""What only a GPU can show: the timers against a real device, our operators against
torchvision's CUDA kernels, determinism and the frozen invariants on CUDA. `make gpu-check`
runs these (`-m cuda`); without CUDA they are skipped."""

import math
import time

import pytest
import torch
import torchvision
from roi_cases import HARD_BOXES, same_bits, tied_map

from bench import measurement, timing
from bench.ops import roi_pool, roi_spp, spp
from bench.suites import frozen_backprop as frozen

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")]
DEVICE = torch.device("cuda")


def test_sync_timer_waits_for_queued_work():
    timer = timing.CudaSyncTimer(DEVICE)
    start = timer()
    torch.cuda._sleep(200_000_000)  # about 0.1 s at 2 GHz, queued without waiting
    assert timer() - start > 0.02


def test_device_time_graph_replay_and_profiler_agree_on_a_large_matmul():
    a = torch.randn(4096, 4096, device=DEVICE)
    fn = lambda: a @ a  # noqa: E731
    device = timing.device_time(fn, DEVICE)
    replay = measurement.graph_replay_time(fn, DEVICE)
    profiled = measurement.profiler_kernel_time(fn, DEVICE)
    wall = timing.blocked_median("fn()", 0.2, fn=fn)
    assert 0 < device <= wall * 1.05
    assert abs(replay / device - 1) < 0.1 and abs(profiled / device - 1) < 0.1


def test_a_step_that_waits_for_the_device_gets_its_kernels_time_not_the_wait():
    a = torch.randn(1024, 1024, device=DEVICE)

    def step(b=a):
        (b @ b).sum().item()  # the host waits for the device here...
        time.sleep(0.002)  # ...then works on while the device idles

    assert timing.synchronises(step) and not timing.synchronises(lambda: a @ a)
    done = torch.cuda.Event()  # waits the sync debug mode does not see are told too
    assert timing.synchronises(lambda: (done.record(), done.synchronize()))
    assert timing.synchronises(lambda: (a @ a, torch.cuda.synchronize()))
    assert torch.cuda.get_sync_debug_mode() == 0  # put back
    times, _, _ = timing._behind_a_sleep(step, DEVICE, 5, None, timing.SLEEP_CYCLES)
    kernels = measurement.profiler_kernel_time(step, DEVICE, reps=5)
    # each call waits for the device, which so reaches it before the host has queued all of it
    assert all(math.isnan(t) for t in times)
    assert math.isnan(timing.device_time(step, DEVICE, reps=5))  # never enough held
    assert 10 * kernels > 0  # the profiler times the kernels alone
    big = torch.randn(4096, 4096, device=DEVICE)
    setup = lambda: (((big @ big @ big)[:1024, :1024].contiguous(),), {})  # noqa: E731
    assert measurement.profiler_kernel_time(step, DEVICE, reps=3, setup=setup) < 2 * kernels


def test_calls_the_host_queues_slowly_are_timed_by_their_kernels_not_the_host():
    a = torch.randn(1024, 1024, device=DEVICE)

    def setup():  # 3 ms of the host's time before each call: 60 ms for 20, past a 25 ms sleep
        time.sleep(0.003)
        return (), {}

    kernels = measurement.profiler_kernel_time(lambda: a @ a, DEVICE, reps=5)
    events = timing.device_time(lambda: a @ a, DEVICE, reps=20, setup=setup)
    assert 0 < events < 0.001 and abs(events / kernels - 1) < 0.2


def test_peak_memory_counts_what_one_call_allocates():
    fn = lambda: torch.empty(1 << 20, device=DEVICE)  # noqa: E731  4 MiB
    assert measurement.peak_memory(fn, DEVICE) == 4 << 20


def problems(seed: int, dtype):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 40, 48, generator=gen)
    x[0, 0, 5:9, 5:9] = math.nan
    x[1, 1] = torch.where(x[1, 1].abs() < 0.5, -0.0, x[1, 1])
    x[0, 2, :, :3] = -math.inf
    boxes = torch.tensor(HARD_BOXES)
    random = torch.rand(64, 4, generator=gen) * torch.tensor([60, 50, 60, 50]) - 5
    index = torch.randint(0, 2, (64, 1), generator=gen).float()
    boxes = torch.cat([boxes, torch.cat([index, random], 1)])
    return x.to(DEVICE, dtype), boxes.to(DEVICE, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("size, scale", [(7, 1.0), ((3, 5), 0.5), (14, 1 / 16), (2, 0.37)])
def test_roi_pool_is_torchvisions_cuda_kernel_bit_for_bit(dtype, size, scale):
    x, boxes = problems(0, dtype)
    assert same_bits(roi_pool(x, boxes, size, scale),
                     torchvision.ops.roi_pool(x, boxes, size, scale))


def test_roi_spp_is_torchvision_per_level_on_cuda():
    x, boxes = problems(1, torch.float32)
    expected = torch.cat([torchvision.ops.roi_pool(x, boxes, lv, 0.5).flatten(1)
                          for lv in (6, 3, 2, 1)], 1)
    assert same_bits(roi_spp(x, boxes, (6, 3, 2, 1), 0.5), expected)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_image_spp_is_adaptive_pooling_per_level_on_cuda(layout):
    # CUDA's adaptive_max_pool2d, on either layout, must pick the winners our derived levels
    # assume: the first maximum, the last NaN.
    x = tied_map((2, 8, 38, 50), seed=0).to(DEVICE).contiguous(memory_format=layout)
    ours_x, their_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = spp(ours_x, (6, 3, 2, 1))
    theirs = torch.cat([torch.nn.functional.adaptive_max_pool2d(their_x, lv).flatten(1)
                        for lv in (6, 3, 2, 1)], 1)
    assert same_bits(ours, theirs)
    grad = torch.randint(-3, 4, ours.shape, device=DEVICE).float()
    assert torch.equal(torch.autograd.grad(ours, ours_x, grad)[0],
                       torch.autograd.grad(theirs, their_x, grad)[0])


def test_roi_gradient_on_cuda_is_repeatable_and_torchvisions_cpu_gradient():
    x, boxes = problems(2, torch.float32)
    x = x.nan_to_num(0.0, 0.0, 0.0).requires_grad_(True)
    boxes = torch.cat([boxes] * 20)  # many regions sending gradient to the same pixels
    grad = torch.randn(len(boxes), 3, 7, 7, device=DEVICE)
    runs = [torch.autograd.grad(roi_pool(x, boxes, 7, 0.5), x, grad)[0] for _ in range(3)]
    assert all(same_bits(r, runs[0]) for r in runs[1:])
    x_cpu = x.detach().cpu().requires_grad_(True)
    (expected,) = torch.autograd.grad(torchvision.ops.roi_pool(x_cpu, boxes.cpu(), 7, 0.5),
                                      x_cpu, grad.cpu())
    assert same_bits(runs[0].cpu(), expected)


@pytest.mark.parametrize("regime", ["first_k", "head", "freeze_first_k", "freeze_first_k_no_grad",
                                    "autograd_grad_subset"])
def test_frozen_invariants_hold_on_cuda(regime, monkeypatch):
    case = frozen.Case("cnn", 2, 16)
    # the same convolution algorithms in every regime, so that equal gradients are equal bits
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)

    def run(name):
        return frozen.Run(frozen.make_inputs(case, "cuda", torch.float32), name, case.k)

    full, partial = run("full").results(), run(regime).results()
    for name, grad in partial.items():
        assert torch.equal(grad, full[name]), name
    r = run(regime)
    before = {name: p.detach().clone() for name, p in r.inputs.model.named_parameters()}
    optimiser = torch.optim.SGD(r.inputs.model.parameters(), lr=0.1, momentum=0.9)
    r.step()
    optimiser.step()
    for name, p in r.inputs.model.named_parameters():
        trained = name in r.params and regime != "autograd_grad_subset"
        assert torch.equal(p, before[name]) != trained, name
