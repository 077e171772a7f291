"""``python -m mtrl_lib bench``: how close the training round runs to the hardware, and how fast the book rebuilds.

Seven figures, each measured in one run on one machine (only ratios within a run are compared, so a shared or
loaded machine shifts them less than it shifts absolute times):

``loop_ratio``       time of a per-task Python loop (one ``nn.Module`` forward, autograd backward and optimizer
                     step per task, as public multi-task code writes it; :class:`LoopTrainer`) over our batched
                     round (:class:`mtrl_lib.train.Round`), same algorithm, same data distribution;
``ceiling_fraction`` time of the round's matrix products alone (plain ``torch.matmul``, the ceiling of any
                     implementation) over the time of the batched round, at the same shape: the median over
                     bursts spread over two minutes of each burst's median ratio, with a distribution-free
                     95 % interval over the bursts;
``matmul_fraction``  achieved FLOP rate of a full round (counting the FLOPs of its matrix products) over the
                     rate of plain ``torch.matmul`` calls of the same shapes, same device and dtype;
``peak_rss_gb``      peak resident memory of a child process training one round on a configuration with
                     T n d = 1e9 sample elements (4 GB at once in float32) under its ``memory_budget_gb``;
``rebuild_ratio``    time of ``book`` after a prose-only change to one chapter over a cold ``book``;
``jobs_ratio``       cold ``book --jobs 2`` over cold ``book --jobs 1``;
``units_ratio``      units per second of one small sweep of training units run by ``--scheduler local:2`` (a
                     LocalCluster of two single-threaded worker processes) over the same sweep in-process
                     (both measured in this run; ``units_per_s`` of each is in the details).

The book figures are measured in a temporary copy of the working tree (never in this tree's ``book/`` or
``_build/``). ``--quick`` is the small version for the test suite: smaller shapes, and the book figures on a
copy whose chapters are replaced by stubs (title and parameters only), so they measure the book machinery
(kernel start-up, cache, Jupyter Book) rather than the chapters' computation.

Results go to ``published/bench.json`` (committed with the project: the published figures, with the machine,
date, commit and science-source digest they were measured on) and to ``book/_generated/performance.md``,
which the book's Performance page includes. Every book build renders that page from the published JSON
(:func:`ensure_page`) and says when the library source has changed since the figures were measured; a
placeholder stands there only when nothing was ever published.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from .chapters import ROOT

GENERATED = ROOT / "book" / "_generated"
PAGE = GENERATED / "performance.md"
JSON = ROOT / "published" / "bench.json"      # the published figures (regenerate: make bench)

TARGETS = {  # figure: (direction, target) on a 2-core CPU
    "loop_ratio": (">=", 20.0),
    "ceiling_fraction": (">=", 0.65),
    "matmul_fraction": (">=", 0.6),
    "peak_rss_gb": ("<=", 4.0),
    "rebuild_ratio": ("<=", 0.2),
    "jobs_ratio": ("<=", 0.7),
    "units_ratio": (">=", 0.8),
}
FIGURES = tuple(TARGETS)
#: the batched round's share of its ceiling (matrix products alone / round) that issue 12 asks for
CEILING_TARGET = TARGETS["ceiling_fraction"][1]
#: confidence level of the interval reported for ``ceiling_fraction``
LEVEL = 0.95

SIZES = {
    "full": {
        "loop": dict(T=100, d=100, m=200, n=50, reps=7, pairs=15, bursts=7, gap_s=20.0, draw_reps=21),
        "matmul": dict(T=64, d=1000, m=1000, n=128, reps=5),
        "rss": dict(T=10_000, n1=100, n2=100, d=1000, m=100, r=5, rounds=1, memory_budget_gb=1.0),
        "units": dict(n_units=16, d=100, r=5, m=200, T=20, n1=50, n2=50, rounds=40, record_every=10),
    },
    "quick": {
        "loop": dict(T=20, d=40, m=48, n=20, reps=3, pairs=5, bursts=3, gap_s=0.0, draw_reps=5),
        "matmul": dict(T=8, d=128, m=128, n=32, reps=3),
        "rss": dict(T=400, n1=50, n2=50, d=500, m=20, r=5, rounds=1, memory_budget_gb=0.01),
        "units": dict(n_units=6, d=30, r=3, m=40, T=8, n1=20, n2=20, rounds=20, record_every=10),
    },
}

PLACEHOLDER = """Not measured yet: run `python -m mtrl_lib bench` (a few minutes on 2 cores; `--quick` for a small
version), then rebuild the book.
"""


# ---------------------------------------------------------------------------------------------- machine

def machine(device: str = "cpu") -> dict:
    """What the figures were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        usable = os.cpu_count()
    info = {
        "cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "platform": platform.platform(), "device": device,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if device.startswith("cuda"):
        info["device"] = f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    try:
        info["load_average_start"] = round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        pass
    return info


# ---------------------------------------------------------------------------------------------- timing

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
    import torch
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


# ---------------------------------------------------------------------------------------------- 1. loop

class LoopTrainer:
    """The same round written the way public multi-task code writes it: one ``nn.Module`` with a shared
    layer and a head per task; per task a forward pass, ``loss.backward()`` and an optimizer step (heads,
    with the shared layer frozen), then per task a forward and backward accumulating the shared layer's
    gradient, one optimizer step on it (heads frozen), and the row renormalisation.

    Step sizes follow :mod:`mtrl_lib.train`'s convention (the learning rate is ``eta * m``), so one round of
    both gives the same weights on the same data (``tests/test_bench.py``). ``draw(phase, t)`` replaces the
    Gaussian draw of task ``t``'s inputs (phase 0 heads, 1 shared layer), for that test."""

    def __init__(self, cfg, M, tasks, W, b, A, gen, draw=None):
        import torch

        from ..losses import loss_value
        from ..model import output_scale

        self.cfg, self.M, self.tasks, self.gen, self.draw = cfg, M, tasks, gen, draw
        self._loss = loss_value
        m, d = W.shape
        scale = output_scale(m)

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = torch.nn.Linear(d, m)
                self.heads = torch.nn.ModuleList(torch.nn.Linear(m, 1, bias=False) for _ in range(A.shape[0]))

            def forward(self, x, t):
                return self.heads[t](torch.relu(self.body(x))).squeeze(-1) * scale

        net = Net().to(W.device, W.dtype)
        with torch.no_grad():
            net.body.weight.copy_(W)
            net.body.bias.copy_(b)
            for t, h in enumerate(net.heads):
                h.weight.copy_(A[t])
        net.body.bias.requires_grad_(False)  # b is fixed in the algorithm
        self.net = net
        self.head_opts = [torch.optim.SGD(h.parameters(), lr=cfg.eta_a * m) for h in net.heads]
        # train.py's step is W - eta_W (m grad + wd W) = W - (eta_W m) (grad + (wd / m) W)
        self.body_opt = torch.optim.SGD([net.body.weight], lr=cfg.eta_W * m, weight_decay=cfg.weight_decay / m)

    def _sample(self, phase: int, t: int, n: int):
        from ..tasks import sample

        if self.draw is None:
            X, Y = sample(self.M, self.tasks[t], n, self.gen)
            return X[0], Y[0]
        x = self.draw(phase, t)
        return x, self.tasks[t].clean_labels((x @ self.M).unsqueeze(0))[0]

    def round(self) -> None:
        import torch

        cfg, net, T = self.cfg, self.net, self.cfg.T
        if cfg.head_mode == "adapted":
            net.body.weight.requires_grad_(False)
            for t in range(T):
                x, y = self._sample(0, t, cfg.n1)
                opt = self.head_opts[t]
                opt.zero_grad()
                self._loss(net(x, t), y, cfg.loss).mean().backward()
                opt.step()
            net.body.weight.requires_grad_(True)
        for h in net.heads:
            h.weight.requires_grad_(False)
        self.body_opt.zero_grad()
        for t in range(T):
            x, y = self._sample(1, t, cfg.n2)
            (self._loss(net(x, t), y, cfg.loss).mean() / T).backward()
        self.body_opt.step()
        for h in net.heads:
            h.weight.requires_grad_(True)
        if cfg.renorm:
            with torch.no_grad():
                w = net.body.weight
                w.div_(w.norm(dim=1, keepdim=True).clamp_min(1e-12))

    def weights(self):
        import torch

        with torch.no_grad():
            return self.net.body.weight.detach().clone(), torch.cat([h.weight.detach() for h in self.net.heads])


def _state(T, d, m, n, device, dtype="float32", **extra):
    """A config, the round's inputs and a few warm-up rounds' worth of non-zero heads."""
    from ..tasks import make_generator
    from ..train import Round, TrainConfig, init_heads, setup

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

    from ..tasks import gaussian_, make_generator

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


# ---------------------------------------------------------------------------------------------- 2. matmul

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


# ---------------------------------------------------------------------------------------------- 3. memory

def _rss_child() -> None:  # pragma: no cover - runs in a child process
    """Child of :func:`child_peak_rss`: train the configuration in argv[1] (JSON), print peak RSS as JSON."""
    import resource

    import torch

    from ..train import TrainConfig, train

    cfg = TrainConfig(**json.loads(sys.argv[1]))
    start = time.perf_counter()
    res = train(cfg)
    out = {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30,
           "seconds": time.perf_counter() - start, "chunk": cfg.chunk(), "T": cfg.T,
           "elements": cfg.T * max(cfg.n1, cfg.n2) * cfg.d, "memory_budget_gb": cfg.memory_budget_gb,
           "working_set_gb": cfg.working_set() * (torch.finfo(cfg.torch_dtype).bits // 8) / 2**30,
           "subspace_error": float(res.history["subspace_error"][-1])}
    if cfg.device.startswith("cuda"):
        out["cuda_max_allocated_gb"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(out))


def child_peak_rss(cfg: dict, timeout: float = 1800) -> dict:
    """Train ``cfg`` (TrainConfig fields) in a fresh Python process and return its peak RSS and details."""
    code = "import sys; from mtrl_lib.book.bench import _rss_child; _rss_child()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cfg)], capture_output=True, text=True,
                         timeout=timeout, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_rss(cfg: dict, device="cpu") -> dict:
    """``peak_rss_gb`` of one training run of ``cfg``, with a tiny run's peak (the interpreter and torch) for
    comparison."""
    cfg = {**cfg, "device": device}
    tiny = dict(T=2, n1=10, n2=10, d=20, m=8, r=3, rounds=1, device=device)
    base = child_peak_rss(tiny)
    run = child_peak_rss(cfg)
    return {"peak_rss_gb": run["peak_rss_gb"], "baseline_rss_gb": base["peak_rss_gb"], **{
        k: v for k, v in run.items() if k != "peak_rss_gb"}, "config": cfg,
        "unchunked_samples_gb": run["elements"] * 4 / 2**30}


# ---------------------------------------------------------------------------------------------- 4-5. book

def _tree_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                             check=True)
        files = [f for f in out.stdout.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file()]
    skip = ("_build/", "book/chapters/", "book/_generated/", "book/_extra/", "results/", ".venv/", ".git/")
    return [f for f in files if not f.startswith(skip) and "__pycache__" not in f and (ROOT / f).is_file()]


def copy_tree(dest: Path, committed: bool = False) -> Path:
    """A copy of the working tree (tracked and untracked, not ignored files) without any built output but the
    compiled draw (``mtrl_lib/_normal*.so``); with ``committed``, of the last commit instead (``git archive
    HEAD``), e.g. while the tree is mid-edit."""
    if committed:
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    else:
        for f in _tree_files():
            target = dest / f
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, target)
    # the compiled draw is a build product (ignored by git), and the copy runs its own library: bring it along
    for built in (ROOT / "mtrl_lib").glob("_normal*.so"):
        shutil.copy2(built, dest / "mtrl_lib" / built.name)
    return dest


def _chapter_names(tree: Path) -> list[str]:
    """The chapters of the copy ``tree`` (its chapter list may differ from this process's)."""
    code = "import json; from mtrl_lib.book.chapters import CHAPTERS; print(json.dumps([c.name for c in CHAPTERS]))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def stub_chapters(tree: Path, chapters: list[str]) -> None:
    """The quick version: each chapter notebook keeps its title and parameters cells and computes nothing;
    the table of contents keeps the chapters and a stub front page (other pages quote the real chapters)."""
    import nbformat
    import yaml

    for name in chapters:
        path = tree / "notebooks" / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        title = next(x for x in nb.cells if x.cell_type == "markdown")
        title.source = title.source.splitlines()[0]      # the heading only: the rest may quote glued values
        params = next(x for x in nb.cells if "parameters" in x.metadata.get("tags", []))
        code = nbformat.v4.new_code_cell("print('stub chapter for the benchmark')")
        code["id"] = "bench-stub"
        nb.cells = [title, params, code]
        nbformat.write(nb, path)
    toc_path = tree / "book" / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())

    def keep(entries):
        out = []
        for e in entries or []:
            if "file" in e and str(e["file"]).startswith("chapters/"):
                out.append({"file": e["file"]})
            elif "chapters" in e:
                sub = keep(e["chapters"])
                if sub:
                    out.append({**e, "chapters": sub})
        return out

    if "parts" in toc:
        toc["parts"] = [p for p in ({**p, "chapters": keep(p.get("chapters"))} for p in toc["parts"]) if p["chapters"]]
    else:
        toc["chapters"] = keep(toc.get("chapters"))
    toc_path.write_text(yaml.safe_dump(toc, sort_keys=False))
    (tree / "book" / f"{toc['root']}.md").write_text("# Benchmark stub book\n\nChapters replaced by stubs.\n")


def edit_prose(tree: Path, name: str) -> str:
    """Append a sentence to the last markdown cell of chapter ``name`` (a prose-only change)."""
    import nbformat

    path = tree / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = [x for x in nb.cells if x.cell_type == "markdown"][-1]
    cell.source += "\n\nThis sentence was added by the benchmark to time a prose-only rebuild."
    nbformat.write(nb, path)
    return name


def run_book(tree: Path, jobs: int, timeout: float) -> dict:
    """``python -m mtrl_lib book --jobs N`` in ``tree`` (its own library on the path, kernels included)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "book", "--jobs", str(jobs)], cwd=tree, env=env,
                         capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"book --jobs {jobs} failed in the benchmark copy:\n{(out.stdout + out.stderr)[-3000:]}")
    status = re.findall(r"^(executed|cached)\s+(\S+)", out.stdout, flags=re.M)
    return {"seconds": seconds, "executed": sorted(n for s, n in status if s == "executed"),
            "cached": sorted(n for s, n in status if s == "cached")}


def bench_book(quick: bool, committed: bool = False, timeout: float = 3600) -> dict:
    """``rebuild_ratio`` and ``jobs_ratio`` in a temporary copy of this tree.

    Cold builds in the order ``--jobs 2``, ``--jobs 1`` (quick) or ``2, 1, 1, 2`` (full: a drift of the machine's
    load during the run then hits both alike; the means are compared), each from an empty ``book/chapters``
    and ``_build``; then a prose-only edit and ``book`` (the rebuild, against the mean cold ``--jobs 1``), then
    ``book --jobs 2`` again, which must execute nothing (the cache is valid after a parallel build)."""
    with tempfile.TemporaryDirectory(prefix="mtrl-bench-") as tmp:
        tree = copy_tree(Path(tmp) / "tree", committed)
        chapters = _chapter_names(tree)
        if quick:
            stub_chapters(tree, chapters)
        # compile once and load the heavy packages once, so that the first cold run does not pay alone for
        # bytecode and a cold disk cache
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "mtrl_lib")], capture_output=True)
        subprocess.run([sys.executable, "-c", "import torch, matplotlib.pyplot, papermill, sphinx, myst_nb, "
                        "jupyter_book, ipykernel"], capture_output=True)

        def cold(jobs):
            for p in ("_build", "book/chapters", "book/_generated", "book/_extra"):
                shutil.rmtree(tree / p, ignore_errors=True)
            return run_book(tree, jobs, timeout)

        runs = {1: [], 2: []}
        for jobs in ((2, 1) if quick else (2, 1, 1, 2)):
            runs[jobs].append(cold(jobs))
        edited = edit_prose(tree, chapters[0])
        rebuild = run_book(tree, 1, timeout)
        again2 = run_book(tree, 2, timeout)
        html = (tree / "_build" / "html" / "chapters" / f"{edited}.html")
        prose_in_html = html.exists() and "added by the benchmark" in html.read_text()
    mean = {j: sum(r["seconds"] for r in runs[j]) / len(runs[j]) for j in runs}
    return {
        "rebuild_ratio": rebuild["seconds"] / mean[1], "jobs_ratio": mean[2] / mean[1],
        "cold_jobs1_s": mean[1], "cold_jobs2_s": mean[2], "rebuild_s": rebuild["seconds"],
        "cold_jobs1_runs_s": [r["seconds"] for r in runs[1]], "cold_jobs2_runs_s": [r["seconds"] for r in runs[2]],
        "rebuild_executed": rebuild["executed"], "rebuild_prose_in_html": prose_in_html,
        "second_jobs2_executed": again2["executed"], "chapters": chapters, "stub_chapters": quick,
        "source": "last commit" if committed else "working tree",
        "cold_executed": sorted({n for j in runs for r in runs[j] for n in r["executed"]}),
    }


# ---------------------------------------------------------------------------------------------- units

def bench_units(n_units: int, **cfg) -> dict:
    """units per second of ``n_units`` training units (:func:`mtrl_lib.train.trajectory_unit`, distinct seeds)
    in-process and on a fresh LocalCluster of 2 single-threaded workers (cluster start-up excluded, one
    warm-up unit each), and the ratio local:2 / in-process."""
    from ..units import InProcess, unit
    from .executors import Dask, start_local_cluster

    cfg.setdefault("eta_a", 10.0)
    cfg.setdefault("eta_W", 0.05)
    units = [unit("mtrl_lib.train:trajectory_unit", 1000 + s, **cfg) for s in range(n_units)]
    warm = [unit("mtrl_lib.train:trajectory_unit", 999, **cfg)]
    InProcess().map(warm)
    start = time.perf_counter()
    here = InProcess().map(units)
    t_in = time.perf_counter() - start
    cluster = start_local_cluster(2)
    try:
        ex = Dask(cluster.scheduler_address)
        ex.warm()
        ex.map([unit("mtrl_lib.train:trajectory_unit", 990 + k, **cfg) for k in range(2)])
        start = time.perf_counter()
        there = ex.map(units)
        t_dask = time.perf_counter() - start
        ex.client.close()
    finally:
        cluster.close()
    same = all(float(a["subspace_error"][-1]) == float(b["subspace_error"][-1]) for a, b in zip(here, there))
    return {"config": {"n_units": n_units, **cfg}, "inprocess_s": t_in, "local2_s": t_dask,
            "units_per_s_inprocess": n_units / t_in, "units_per_s_local2": n_units / t_dask,
            "units_ratio": t_in / t_dask, "same_results": same}


# ---------------------------------------------------------------------------------------------- report

def _fmt(v, nd=2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def verdict(name: str, value) -> str:
    if value is None or not math.isfinite(value):
        return "not measured"
    op, target = TARGETS[name]
    ok = value >= target if op == ">=" else value <= target
    return "met" if ok else "missed"


def table(results: dict) -> str:
    lines = ["| figure | measured | target | |", "|---|---|---|---|"]
    for name in FIGURES:
        v = results["figures"].get(name)
        op, target = TARGETS[name]
        # three decimals below 1, so that a value just short of a target such as 0.65 does not print as it
        nd = 3 if v is not None and abs(v) < 1 else 2
        lines.append(f"| `{name}` | {_fmt(v, nd)} | {op} {target:g} | {verdict(name, v)} |")
    return "\n".join(lines)


def render_page(results: dict) -> str:
    """The body of the Performance page (MyST), from a results dict of :func:`run`."""
    m, d = results["machine"], results["details"]
    mode = "quick (small shapes, stub chapters)" if results["quick"] else "full"
    out = [
        f"Measured {m['date']} by `python -m mtrl_lib bench{' --quick' if results['quick'] else ''}` ({mode}) on: "
        f"**{m['cpu']}**, {m['cores']} cores ({m['usable_cores']} usable), torch {m['torch']} with "
        f"{m['torch_threads']} threads, device `{m['device']}`, Python {m['python']}, "
        f"`OMP_WAIT_POLICY={m['omp_wait_policy']}`. Load average (1 min) {m.get('load_average_start', 'n/a')} at the "
        f"start and {m.get('load_average_end', 'n/a')} at the end: on a shared machine every time is inflated, "
        "only the ratios of one run are comparable.", "",
        _freshness(results), "",
        table(results), "",
    ]
    if "loop" in d:
        x = d["loop"]
        out += ["## The batched round against a per-task loop", "",
                f"At T = {x['shape']['T']}, d = {x['shape']['d']}, m = {x['shape']['m']}, n = {x['shape']['n']}: "
                f"per-task loop {x['loop_round_ms']:.1f} ms per round, batched round {x['batched_round_ms']:.2f} ms "
                f"(median of {x['reps']} interleaved repetitions). The round's matrix products alone, as plain "
                f"`torch.matmul` calls, take {x['matmul_ms']:.2f} ms: no implementation of the round can beat that, "
                f"so on this machine `loop_ratio` cannot exceed {x['loop_ratio_ceiling']:.1f}.", "",
                _fraction_sentence(x), ""]
    if "matmul" in d:
        x = d["matmul"]
        out += ["## The round against plain matrix products", "",
                f"At T = {x['shape']['T']}, d = {x['shape']['d']}, m = {x['shape']['m']}, n = {x['shape']['n']}: "
                f"a round takes {x['round_ms']:.1f} ms ({x['round_gflops']:.1f} GFLOP/s on its "
                f"{x['flops'] / 1e9:.2f} GFLOP of matrix products); the same products as plain `torch.matmul` "
                f"calls take {x['matmul_ms']:.1f} ms ({x['matmul_gflops']:.1f} GFLOP/s).", ""]
    for key, title in (("loop", "small"), ("matmul", "large")):
        if key in d and d[key].get("round_profile"):
            s = d[key]["shape"]
            out += [f"Where the batched round spends its time at the {title} shape (T = {s['T']}, d = {s['d']}, "
                    f"m = {s['m']}, n = {s['n']}; torch profiler, self time):", "",
                    "| operator | share | ms per round |", "|---|---|---|"]
            out += [f"| `{r['op']}` | {100 * r['share']:.0f} % | {r['ms_per_round']:.2f} |" for r in d[key]["round_profile"]]
            out += [""]
    if "rss" in d:
        x = d["rss"]
        c = x["config"]
        out += ["## Memory", "",
                f"One round at T = {c['T']}, n = {c['n1']}, d = {c['d']}, m = {c['m']} "
                f"({x['elements']:.2g} sample elements per phase, {x['unchunked_samples_gb']:.1f} GB if drawn at once) "
                f"with `memory_budget_gb` = {c['memory_budget_gb']:g}: {x['chunk']} tasks per chunk, a computed "
                f"working set of {x['working_set_gb']:.2f} GB, peak resident memory {x['peak_rss_gb']:.2f} GB "
                f"(a tiny run, i.e. Python and torch alone: {x['baseline_rss_gb']:.2f} GB); {x['seconds']:.0f} s.", ""]
    if "book" in d:
        x = d["book"]
        out += ["## Rebuilding the book", "",
                f"In a temporary copy of the tree{' with stub chapters' if x['stub_chapters'] else ''} "
                f"({len(x['chapters'])} chapters, {x['source']}): cold `book --jobs 1` {x['cold_jobs1_s']:.1f} s, cold "
                f"`book --jobs 2` {x['cold_jobs2_s']:.1f} s (mean of {len(x['cold_jobs1_runs_s'])} each, "
                f"interleaved), `book` after a prose-only edit of one chapter "
                f"{x['rebuild_s']:.1f} s (chapters executed: {len(x['rebuild_executed'])}; the new sentence "
                f"{'is' if x['rebuild_prose_in_html'] else 'is NOT'} in the HTML), a second `book --jobs 2` executed "
                f"{len(x['second_jobs2_executed'])} chapters.", ""]
    if "units" in d:
        x = d["units"]
        c = x["config"]
        out += ["## Units: in-process against a local Dask cluster", "",
                f"{c['n_units']} training units (d = {c['d']}, m = {c['m']}, T = {c['T']}, {c['rounds']} rounds each): "
                f"in-process {x['units_per_s_inprocess']:.2f} units/s ({x['inprocess_s']:.1f} s), `--scheduler local:2` "
                f"{x['units_per_s_local2']:.2f} units/s ({x['local2_s']:.1f} s; cluster start-up excluded). "
                f"The results were {'identical' if x['same_results'] else 'NOT identical'}.", ""]
    if results.get("errors"):
        out += ["## Not measured", ""] + [f"- `{k}`: {v.splitlines()[0][:300]}" for k, v in results["errors"].items()] + [""]
    return "\n".join(out) + "\n"


def _fraction_sentence(x: dict) -> str:
    """The loop section's account of ``ceiling_fraction`` (figures published before it existed: the old
    single ratio of medians)."""
    if "ceiling_fraction" not in x:
        f = x["batched_matmul_fraction"]
        return (f"The batched round runs at {100 * f:.1f} % of that ceiling (one ratio of two medians; the target "
                f"is {100 * CEILING_TARGET:.0f} %, {'met' if f >= CEILING_TARGET else 'missed'}).")
    f, (lo, hi) = x["ceiling_fraction"], x["ceiling_fraction_ci"]
    ci = (f"{100 * x['ceiling_fraction_level']:.0f} % interval [{100 * lo:.1f}, {100 * hi:.1f}] %"
          if math.isfinite(lo) else "too few for an interval")
    if math.isfinite(lo) and lo >= CEILING_TARGET:
        where = "the whole interval is above the target"
    elif math.isfinite(hi) and hi < CEILING_TARGET:
        where = "the whole interval is below the target"
    else:
        where = "the interval contains the target, so this run does not decide it"
    if "bursts" in x:
        how = (f"the median over {x['bursts']} bursts, {x['gap_s']:g} s apart, of each burst's median over "
               f"{x['pairs']} back-to-back pairs (round, products) of that ratio; {ci} over the bursts, so it covers "
               f"the machine's swings over those {(x['bursts'] - 1) * x['gap_s'] / 60:.0f} minutes; {where}")
        swing = ("The bursts' medians: " + ", ".join(f"{100 * v:.1f}" for v in x["burst_medians"]) + " %.")
    else:  # published before the bursts
        how = f"the median over {x['pairs']} back-to-back repetitions of that ratio; {ci}; {where}"
        swing = "The interval describes the minute this run measured."
    out = (f"`ceiling_fraction`: the batched round runs at **{100 * f:.1f} %** of that ceiling (the time of its "
           f"products alone over the round's, {how}). The target is {100 * CEILING_TARGET:.0f} %: "
           f"{'met' if f >= CEILING_TARGET else 'missed'}. {swing}")
    if "floor_fraction" in x:
        fl, ratio = x["floor_fraction"], x["draw_over_matmul"]
        out += (f" Drawing the round's fresh Gaussian inputs takes {100 * ratio:.0f} % of the time of its "
                f"products, so products and draw together are about **{100 * fl:.0f} %** of the round: that is "
                "the floor for a round that draws exact fresh samples with the library's generator, and with a draw "
                f"that long `ceiling_fraction` cannot exceed about {100 / (1 + ratio):.0f} %. "
                + (f"The rest of the round, about {100 * (1 - fl):.0f} %, is elementwise passes, labels and Python."
                   if fl <= 1 else "More than 100 % is impossible for one state of the machine: its speed changed "
                   "between the passes, and this run's fractions are not to be trusted."))
    return out


def _freshness(results: dict) -> str:
    """One sentence: the commit the figures were measured on, and whether the science source changed since."""
    from .store import science_digest

    m = results["machine"]
    commit = m.get("commit", "unknown")
    measured = results.get("science_digest")
    if measured is None:
        return f"Measured on commit `{commit}`; the library source it measured was not recorded."
    if measured == science_digest():
        return f"Measured on commit `{commit}`, with the library source of this book."
    return (f"**Older than the library code:** measured on commit `{commit}`; the library source has changed "
            f"since, so these figures describe an earlier version (`make bench` refreshes them).")


def ensure_page(path: Path = PAGE, published: Path | None = None) -> Path:
    """Write the page body from the published figures (``published``, default ``published/bench.json``), or the
    placeholder when none were ever published (the book build must not depend on the bench)."""
    published = JSON if published is None else Path(published)
    path.parent.mkdir(parents=True, exist_ok=True)
    if published.exists():
        path.write_text(render_page(json.loads(published.read_text())))
    elif not path.exists():
        path.write_text(PLACEHOLDER)
    return path


# ---------------------------------------------------------------------------------------------- run

def run(quick: bool = False, device: str = "cpu", only=FIGURES, json_path: Path = JSON, page_path: Path = PAGE,
        committed: bool = False, log=print) -> dict:
    """Measure the figures in ``only``, print a table, write ``json_path`` and ``page_path``. A figure whose
    measurement fails is reported (NaN, with the error) and the others are still measured."""
    from ..train import resolve_device

    resolve_device(device)
    sizes = SIZES["quick" if quick else "full"]
    from .provenance import git_commit
    from .store import science_digest

    results = {"quick": quick, "machine": {**machine(device), "commit": git_commit()},
               "science_digest": science_digest(), "figures": {}, "details": {}, "errors": {}}
    steps = [(("loop_ratio", "ceiling_fraction"), "loop", lambda: bench_loop(**sizes["loop"], device=device)),
             ("matmul_fraction", "matmul", lambda: bench_matmul(**sizes["matmul"], device=device)),
             ("peak_rss_gb", "rss", lambda: bench_rss(sizes["rss"], device=device)),
             (("rebuild_ratio", "jobs_ratio"), "book", lambda: bench_book(quick, committed)),
             ("units_ratio", "units", lambda: bench_units(**sizes["units"]))]
    for names, key, fn in steps:
        names = names if isinstance(names, tuple) else (names,)
        if not any(n in only for n in names):
            continue
        log(f"measuring {', '.join(names)} ...")
        start = time.perf_counter()
        try:
            detail = fn()
        except Exception as e:  # one failed measurement must not lose the others
            for n in names:
                results["figures"][n] = float("nan")
                results["errors"][n] = f"{type(e).__name__}: {e}"
            log(f"  failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            continue
        results["details"][key] = detail
        for n in names:
            results["figures"][n] = float(detail[n])
        log("  " + ", ".join(f"{n} = {detail[n]:.3g}" for n in names) + f" ({time.perf_counter() - start:.0f} s)")
    try:
        results["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        pass
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    page_path = Path(page_path)
    page_path.parent.mkdir(parents=True, exist_ok=True)
    page_path.write_text(render_page(results))
    log("")
    log(table(results))
    log(f"\nJSON: {json_path}\npage: {page_path}")
    return results
