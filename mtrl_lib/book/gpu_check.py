"""``make gpu-check``: the GPU figures, in one command, on the day a GPU machine is lent.

1. the training-round bench on ``cuda`` (``python -m mtrl_lib bench --quick --device cuda``, the loop and
   matmul figures);
2. one paper-profile chapter on ``cuda``: chapter 4 (:data:`CHAPTER`, the cheapest at paper scale: 120 units,
   3 min on two CPU workers);
3. its glued numbers against the published CPU results (``published/paper-scale.json``).

Bytes differ across devices (other kernels, and CUDA's own random generator draws other tasks and initial
weights from the same seed), so what must agree is statistical, not bitwise:

* the verdict and every significance word of the chapter are the same strings;
* each glued mean ``X`` with a 95% half-width ``X_ci`` agrees with the CPU's within
  ``sqrt(ci_cpu^2 + ci_gpu^2)``, the half-width of the difference of two independent means; at 95% a few of
  several dozen may fall outside by chance, so the check requires :data:`AGREE_FRACTION` of them.

Everything is written to one JSON file (default ``_build/gpu-check.json``). Without a CUDA device the command
prints one line saying so and exits 0. Budget: :data:`BUDGET_S` seconds in all (8 minutes).
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from .chapters import ROOT

CHAPTER = "04_single_task"
AGREE_FRACTION = 0.9
BUDGET_S = 480
BENCH_S = 180
OUT = ROOT / "_build" / "gpu-check.json"


def compare(gpu: dict, cpu: dict) -> dict:
    """Glued values of one chapter on two devices: ``{"words": [...], "means": [...], "agree_fraction",
    "passed"}``. ``words``: the string values that differ (names); ``means``: one row per ``X`` with ``X_ci``
    in both, with the gap, its allowance and whether it is within."""
    words = sorted(k for k, v in cpu.items() if isinstance(v, str) and gpu.get(k) != v)
    rows = []
    for k, v in sorted(cpu.items()):
        ci = f"{k}_ci"
        if ci in cpu and ci in gpu and isinstance(v, (int, float)) and isinstance(gpu.get(k), (int, float)):
            allow = math.hypot(cpu[ci], gpu[ci])
            gap = abs(gpu[k] - v)
            rows.append({"name": k, "cpu": v, "gpu": gpu[k], "gap": gap, "allowed": allow, "within": gap <= allow})
    frac = sum(r["within"] for r in rows) / len(rows) if rows else float("nan")
    return {"words": words, "means": rows, "agree_fraction": frac,
            "passed": not words and bool(rows) and frac >= AGREE_FRACTION}


def _run(cmd: list[str], timeout: float) -> tuple[int, float, str]:
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        code, text = out.returncode, (out.stdout + out.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        code, text = 124, f"stopped after {timeout:.0f} s"
    return code, time.perf_counter() - start, text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mtrl_lib.book.gpu_check", description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=OUT, help=f"results file (default {OUT.relative_to(ROOT)})")
    ap.add_argument("--device", default="cuda", help="the device checked (default cuda)")
    args = ap.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine (torch.cuda.is_available() is False); nothing to check")
        return 0
    start = time.perf_counter()
    work = args.json.parent / "gpu-check"
    work.mkdir(parents=True, exist_ok=True)
    py = [sys.executable, "-m", "mtrl_lib"]
    report = {"device": args.device, "name": torch.cuda.get_device_name(args.device)
              if args.device.startswith("cuda") else "cpu", "chapter": CHAPTER, "budget_s": BUDGET_S}
    code, secs, tail = _run([*py, "bench", "--quick", "--device", args.device, "--only", "loop_ratio",
                             "ceiling_fraction", "matmul_fraction", "--json", str(work / "bench.json"),
                             "--page", str(work / "performance.md")], BENCH_S)
    report["bench"] = {"exit": code, "seconds": secs,
                       "figures": json.loads((work / "bench.json").read_text())["figures"] if code == 0 else None,
                       "log": None if code == 0 else tail}
    left = BUDGET_S - (time.perf_counter() - start)
    code, secs, tail = _run([*py, "run", CHAPTER, "--profile", "paper", "-p", "device", args.device,
                             "--out", str(work), "--store", str(work / "store")], max(left, 1))
    report["chapter_run"] = {"exit": code, "seconds": secs, "log": None if code == 0 else tail}
    if code == 0:
        gpu = json.loads((work / f"{CHAPTER}.json").read_text())
        cpu = json.loads((ROOT / "published" / "paper-scale.json").read_text())["chapters"][CHAPTER]["glued"]
        report["comparison"] = compare(gpu, cpu)
    passed = report["bench"]["exit"] == 0 and report.get("comparison", {}).get("passed", False)
    report["passed"], report["seconds"] = passed, time.perf_counter() - start
    args.json.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    c = report.get("comparison")
    print(f"gpu-check on {report['name']}: bench exit {report['bench']['exit']}, chapter {CHAPTER} exit "
          f"{report['chapter_run']['exit']} in {report['chapter_run']['seconds']:.0f} s"
          + (f", {c['agree_fraction']:.0%} of {len(c['means'])} means agree with the CPU's, "
             f"{len(c['words'])} words differ" if c else "")
          + f": {'passed' if passed else 'FAILED'} ({args.json})")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
