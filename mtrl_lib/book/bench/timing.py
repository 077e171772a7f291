"""Timing statistics of the bench: interleaved and rotated repetitions (a drift in a shared machine's speed hits
every timed function alike), medians with a distribution-free interval, and where a round spends its time."""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time


#: confidence level of the interval reported for ``ceiling_fraction``
LEVEL = 0.95


def _sync(device) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _interleaved(fns: dict, reps: int, device, warmup: int = 1) -> dict:
    """Per-call times of each function, the functions interleaved rep by rep (so a change of load on a shared
    machine hits all of them alike). Returns ``{name: [seconds, ...]}``."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    _sync(device)
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            _sync(device)
            t = time.perf_counter()
            f()
            _sync(device)
            times[k].append(time.perf_counter() - t)
    return times


def _median(xs) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def median_ci(xs, level: float = LEVEL) -> tuple[float, float, float]:
    """``(median, lo, hi)``: the median of ``xs`` and a distribution-free confidence interval for the
    population median, the order statistics ``[x_(k), x_(n+1-k)]`` (1-based) with ``k`` the largest for which
    P(Binomial(n, 1/2) < k) <= (1 - level) / 2 (coverage at least ``level``; no assumption on the shape of the
    distribution). ``lo`` and ``hi`` are NaN when ``n`` is too small for any ``k`` (n < 6 at 95 %)."""
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        raise ValueError("median_ci needs at least one value")
    tail, k, below = (1 - level) / 2, 0, 0.0
    while k < n // 2 and below + math.comb(n, k) / 2**n <= tail:   # below = P(B < k + 1) after the step
        below += math.comb(n, k) / 2**n
        k += 1
    if k == 0:
        return _median(xs), float("nan"), float("nan")
    return _median(xs), xs[k - 1], xs[n - k]


def _rotated(fns, reps: int, device) -> list[tuple[float, ...]]:
    """``reps`` tuples of the seconds each of ``fns`` takes, run back to back, the order rotated from one
    repetition to the next (a b c, b c a, c a b, ...) so that a drift in the machine's speed hits each alike."""
    for f in fns:
        f()
    out = []
    for i in range(reps):
        t = [0.0] * len(fns)
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            _sync(device)
            start = time.perf_counter()
            fns[j]()
            _sync(device)
            t[j] = time.perf_counter() - start
        out.append(tuple(t))
    return out


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (C++ libraries write there directly) for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def profile_round(rnd, W, A, gen, rounds: int = 3, top: int = 8) -> list[dict]:
    """Where a batched round spends its time: the ``top`` operators by self time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if W.is_cuda else [])
    with _quiet_stderr(), profile(activities=acts) as prof:  # kineto prints start/stop lines on fd 2
        for _ in range(rounds):
            rnd.update(W, A, gen)
        _sync(W.device)
    key = "self_device_time_total" if W.is_cuda else "self_cpu_time_total"
    rows = sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0.0), reverse=True)
    total = sum(getattr(e, key, 0.0) for e in rows) or 1.0
    return [{"op": e.key, "share": round(getattr(e, key, 0.0) / total, 4),
             "ms_per_round": round(getattr(e, key, 0.0) / 1e3 / rounds, 3)} for e in rows[:top]]
