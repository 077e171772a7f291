"""One bench run: measure the figures asked for at the full or quick sizes, print the table, write the JSON and
the page (``python -m mtrl_lib bench``)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .book_build import bench_book
from .figures import FIGURES
from .machine import machine
from .memory import bench_rss
from .page import JSON, PAGE, render_page, table
from .rounds import bench_loop, bench_matmul
from .units_rate import bench_units


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


def run(quick: bool = False, device: str = "cpu", only=FIGURES, json_path: Path = JSON, page_path: Path = PAGE,
        committed: bool = False, log=print) -> dict:
    """Measure the figures in ``only``, print a table, write ``json_path`` and ``page_path``. A figure whose
    measurement fails is reported (NaN, with the error) and the others are still measured."""
    from ...train import resolve_device

    resolve_device(device)
    sizes = SIZES["quick" if quick else "full"]
    from ..provenance import git_commit
    from ..store import science_digest

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
