"""``peak_rss_gb``: peak resident memory of a child process training one round of a large configuration under
its memory budget, against a tiny run's (the interpreter and torch alone).

The peak is the child's own high-water mark, ``VmHWM`` of ``/proc/self/status`` (:func:`own_peak_rss`), not
``getrusage``'s ``ru_maxrss``: on Linux a child's ``ru_maxrss`` starts at its parent's resident size when it was
spawned (exec records the forked address space's high-water mark), so a child of a large process reports the
parent's size. The figures published before this change read ``ru_maxrss`` from a child of the bench process
itself: their tiny run's 0.63 GB was the bench's own size, not the interpreter's and torch's."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from ..chapters import ROOT


def own_peak_rss() -> int:
    """This process's peak resident memory in bytes, its own (``VmHWM``; ``ru_maxrss`` where there is no /proc)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _rss_child() -> None:  # pragma: no cover - runs in a child process
    """Child of :func:`child_peak_rss`: train the configuration in argv[1] (JSON), print peak RSS as JSON."""
    import torch

    from ...train import TrainConfig, train

    cfg = TrainConfig(**json.loads(sys.argv[1]))
    start = time.perf_counter()
    res = train(cfg)
    out = {"peak_rss_gb": own_peak_rss() / 2**30,
           "seconds": time.perf_counter() - start, "chunk": cfg.chunk(), "T": cfg.T,
           "elements": cfg.T * max(cfg.n1, cfg.n2) * cfg.d, "memory_budget_gb": cfg.memory_budget_gb,
           "working_set_gb": cfg.working_set() * (torch.finfo(cfg.torch_dtype).bits // 8) / 2**30,
           "subspace_error": float(res.history["subspace_error"][-1])}
    if cfg.device.startswith("cuda"):
        out["cuda_max_allocated_gb"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(out))


def child_peak_rss(cfg: dict, timeout: float = 1800) -> dict:
    """Train ``cfg`` (TrainConfig fields) in a fresh Python process and return its peak RSS and details."""
    code = "import sys; from mtrl_lib.book.bench.memory import _rss_child; _rss_child()"
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
