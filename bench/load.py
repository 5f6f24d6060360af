"""What else ran on the machine while a run did: the share of its CPUs' time others took."""

import os


def cpu_times() -> tuple[float, float] | None:
    """(seconds all the machine's CPUs have been busy, seconds this process and the children it
    waited for have run), from /proc/stat and os.times(); None without /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal: steal is a VM's time taken by others
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK"), sum(os.times()[:4])


def others_share(start, end, wall: float) -> float | None:
    """The share of the machine's CPU time that other processes (and, in a VM, its host) took
    in `wall` seconds between two readings of cpu_times(): what made the timings of a run on a
    shared machine slower and noisier."""
    if start is None or end is None or wall <= 0:
        return None
    busy, own = (after - before for before, after in zip(start, end))
    return min(1.0, max(0.0, (busy - own) / (wall * (os.cpu_count() or 1))))
