"""The round benches: ``loop_ratio`` and ``ceiling_fraction`` (:func:`bench_loop`: the batched round against the
per-task loop and against its matrix products alone) and ``matmul_fraction`` (:func:`bench_matmul`: its FLOP
rate against plain ``torch.matmul`` of its shapes)."""
from __future__ import annotations

import time

from .loop_trainer import LoopTrainer
from .timing import LEVEL, _interleaved, _median, _rotated, median_ci, profile_round


def _state(T, d, m, n, device, dtype="float32", **extra):
    """A config, the round's inputs and a few warm-up rounds' worth of non-zero heads."""
    from ...tasks import make_generator
    from ...train import Round, TrainConfig, init_heads, setup

    cfg = TrainConfig(T=T, d=d, m=m, n1=n, n2=n, device=device, dtype=dtype, rounds=1, **extra)
    M, tasks, W, b = setup(cfg)
    A = init_heads(cfg, T, W.device, W.dtype)
    gen = make_generator(12345, W.device)
    rnd = Round(cfg, M, tasks, b)
    rnd.update(W, A, gen)  # heads away from zero, as in a run
    return cfg, M, tasks, W, b, A, gen, rnd


def bench_loop(T, d, m, n, reps, pairs, bursts, gap_s, draw_reps, device="cpu") -> dict:
    """``loop_ratio`` and ``ceiling_fraction`` at (T, d, m, n).

    ``loop_ratio``: per-task loop round over batched round, medians of ``reps`` interleaved repetitions.

    ``ceiling_fraction``: the time of the round's matrix products alone (plain ``torch.matmul``) over the time
    of the batched round. Within a burst, ``pairs`` back-to-back pairs (round, products), the order alternating,
    each giving one ratio (a ratio within a pair, not of two medians: the speed of both drifts together over
    seconds, and the pair cancels that); the burst's figure is their median. There are ``bursts`` bursts,
    ``gap_s`` seconds apart, because on a shared machine the fraction swings more from one minute to the next
    than within a burst: the figure is the median of the bursts' medians, and its interval the distribution-free
    95 % interval over them (:func:`median_ci`), so it covers those swings.

    ``floor_fraction`` (a detail, no target): the time of the products plus the draw of the round's fresh
    Gaussian inputs (:func:`mtrl_lib.tasks.gaussian_`) over the round's, the floor of a round that draws exact
    fresh samples with the library's generator; about 1 minus it is the share of the round spent on the rest
    (elementwise passes, labels, Python). It is ``ceiling_fraction`` times (1 + draw / products), the latter
    the median of that ratio over ``draw_reps`` repetitions of its own."""
    import torch

    from ...tasks import gaussian_, make_generator

    cfg, M, tasks, W, b, A, gen, rnd = _state(T, d, m, n, device)
    loop = LoopTrainer(cfg, M, tasks, W.clone(), b, A.clone(), make_generator(54321, W.device))
    Wb, Ab = W.clone(), A.clone()
    inner = 5  # batched rounds per rep (each is short): their mean is one sample

    def batched():
        for _ in range(inner):
            rnd.update(Wb, Ab, gen)

    reference = _matmul_reference(T, d, m, n, W.device, W.dtype)

    def matmuls():
        for _ in range(inner):
            reference()

    # the draw alone: a round's fresh Gaussian inputs (both phases), drawn as the round draws them
    buf, draw_gen = torch.empty(T * n, d, device=W.device, dtype=W.dtype), make_generator(777, W.device)

    def draws():
        for _ in range(2 * inner):
            gaussian_(buf, draw_gen)

    t = _interleaved({"loop": loop.round, "batched": batched, "matmul": matmuls}, reps, device)
    loop_s, batched_s, mm_s = _median(t["loop"]), _median(t["batched"]) / inner, _median(t["matmul"]) / inner
    both, burst_medians = [], []
    for k in range(bursts):
        if k:
            time.sleep(gap_s)
        burst = _rotated((batched, matmuls), pairs, device)
        both += burst
        burst_medians.append(_median([mm / bt for bt, mm in burst]))
    fraction, lo, hi = median_ci(burst_medians)
    # the draw against the products in a pass of its own (kept out of the pairs above, whose protocol is the
    # figure's): the floor (products + draw) / round is the fraction times (1 + draw / products)
    draw_mm = [dr / mm for dr, mm in _rotated((draws, matmuls), draw_reps, device)]
    floor = fraction * (1 + _median(draw_mm))
    # A round cannot take less than its matrix products: loop / (those products alone) bounds loop_ratio.
    return {"loop_ratio": loop_s / batched_s, "loop_round_ms": 1e3 * loop_s, "batched_round_ms": 1e3 * batched_s,
            "matmul_ms": 1e3 * mm_s, "loop_ratio_ceiling": loop_s / mm_s,
            "ceiling_fraction": fraction, "ceiling_fraction_ci": [lo, hi], "ceiling_fraction_level": LEVEL,
            "bursts": bursts, "gap_s": gap_s, "burst_medians": burst_medians,
            "floor_fraction": floor, "draw_over_matmul": _median(draw_mm),
            "pairs": pairs, "pair_batched_ms": 1e3 * _median([x[0] for x in both]) / inner,
            "pair_matmul_ms": 1e3 * _median([x[1] for x in both]) / inner,
            "shape": dict(T=T, d=d, m=m, n=n), "reps": reps,
            "round_profile": profile_round(rnd, Wb, Ab, gen)}


def round_matmuls(T, d, m, n) -> list[tuple[tuple, tuple]]:
    """The matrix products of one round (n1 = n2 = n), as (shape of a, shape of b) for ``torch.matmul``:
    per phase the pre-activations X W^T and the outputs f = a^T phi; the head update g^T phi; the shared
    layer's gradient dpre^T X. (The round also computes M^T x for the labels in the same product as X W^T;
    those r columns are not counted, so the figure is, if anything, low.)"""
    Tn = T * n
    return [((Tn, d), (d, m)), ((T, 1, m), (T, m, n)), ((T, 1, n), (T, n, m)),     # head phase
            ((Tn, d), (d, m)), ((T, 1, m), (T, m, n)), ((m, Tn), (Tn, d))]         # feature phase


def matmul_flops(shapes) -> int:
    total = 0
    for a, b in shapes:
        batch = a[0] if len(a) == 3 else 1
        total += 2 * batch * a[-2] * a[-1] * b[-1]
    return total


def _matmul_reference(T, d, m, n, device, dtype):
    """A function that runs plain ``torch.matmul`` on the shapes of a round's matrix products."""
    import torch

    g = torch.Generator(device=device).manual_seed(0)
    operands = [(torch.randn(*a, device=device, dtype=dtype, generator=g),
                 torch.randn(*b, device=device, dtype=dtype, generator=g)) for a, b in round_matmuls(T, d, m, n)]

    def reference():
        for x, y in operands:
            torch.matmul(x, y)

    return reference


def bench_matmul(T, d, m, n, reps, device="cpu") -> dict:
    """``matmul_fraction`` at (T, d, m, n): FLOP rate of a full round over plain torch.matmul of its shapes."""
    cfg, M, tasks, W, b, A, gen, rnd = _state(T, d, m, n, device)
    shapes = round_matmuls(T, d, m, n)
    reference = _matmul_reference(T, d, m, n, W.device, W.dtype)
    t = _interleaved({"round": lambda: rnd.update(W, A, gen), "matmul": reference}, reps, device)
    flops = matmul_flops(shapes)
    round_s, mm_s = _median(t["round"]), _median(t["matmul"])
    return {"matmul_fraction": mm_s / round_s, "round_ms": 1e3 * round_s, "matmul_ms": 1e3 * mm_s,
            "round_gflops": flops / round_s / 1e9, "matmul_gflops": flops / mm_s / 1e9, "flops": flops,
            "shape": dict(T=T, d=d, m=m, n=n), "reps": reps, "round_profile": profile_round(rnd, W, A, gen, rounds=2)}
