"""How the step sizes (eta_a, eta_W) of chapters 2 and 5 were chosen: a documented grid, per task family.

The rule (the only one used; nothing else was tuned):

    for each family, train at T = GRID_T tasks on the held-out seeds GRID_SEEDS (never the seeds the
    chapters report) for every (eta_a, eta_W) in GRID_ETA_A x GRID_ETA_W, and take the pair with the
    smallest mean subspace error after the family's round budget GRID_ROUNDS[family]. A diverged run
    counts as error 1.

The grid costs about 10^6 task-rounds, too much for the quick book, so it is computed once by

    python -m mtrl_lib.experiments.step_sizes            # writes step_size_grid.json beside this file

and the chapters load and display that file (saying so); ``STEP_SIZES`` below must equal its argmin,
which ``tests/test_chapter_02.py`` checks. The trajectories are stored every ``GRID_RECORD`` rounds, so the
choice can be re-read at any other round budget.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..train import DivergenceError, TrainConfig, train

GRID_FILE = Path(__file__).with_name("step_size_grid.json")
GRID_ETA_A = (1.0, 10.0, 50.0, 200.0)
GRID_ETA_W = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
GRID_T = 20
GRID_SEEDS = (100, 101, 102)
GRID_MAX_ROUNDS = 300
GRID_RECORD = 10
GRID_SIZES = {"d": 100, "r": 5, "m": 200, "n1": 50, "n2": 50}
#: the round budget at which each family's step sizes are selected (= the chapters' quick ``rounds``)
GRID_ROUNDS = {"linear": 100, "quadratic": 150}

#: (eta_a, eta_W) per family: the argmin of the grid under the rule above.
STEP_SIZES = {"linear": (10.0, 0.05), "quadratic": (50.0, 0.05)}


def run_grid(family: str, progress: bool = True, device: str = "cpu") -> dict:
    """Subspace-error trajectories for every grid point and held-out seed (NaN rows for diverged runs)."""
    from ..progress import progress_bar

    n_rec = GRID_MAX_ROUNDS // GRID_RECORD + 1
    err = np.full((len(GRID_ETA_A), len(GRID_ETA_W), len(GRID_SEEDS), n_rec), np.nan)
    jobs = [(i, j, k) for i in range(len(GRID_ETA_A)) for j in range(len(GRID_ETA_W)) for k in range(len(GRID_SEEDS))]
    rounds = None
    for i, j, k in progress_bar(jobs, progress, desc=f"step-size grid ({family})"):
        cfg = TrainConfig(**GRID_SIZES, T=GRID_T, family=family, rounds=GRID_MAX_ROUNDS, eta_a=GRID_ETA_A[i],
                          eta_W=GRID_ETA_W[j], seed=GRID_SEEDS[k], record_every=GRID_RECORD, device=device)
        try:
            h = train(cfg).history
        except DivergenceError:
            continue
        err[i, j, k] = h["subspace_error"]
        rounds = h["round"]
    err = np.round(err, 4).astype(object)
    err[np.isnan(err.astype(float))] = None        # JSON has no NaN; None reads back as NaN
    return {"rounds": rounds.tolist(), "error": err.tolist()}


def load_grid(path: Path = GRID_FILE) -> dict:
    """The stored grid: ``{"settings": ..., "families": {family: {"rounds": [...], "error": (a, W, seed, rec)}}}``
    with the error arrays as numpy arrays."""
    data = json.loads(Path(path).read_text())
    for fam in data["families"].values():
        fam["rounds"] = np.asarray(fam["rounds"])
        fam["error"] = np.asarray(fam["error"], dtype=float)
    return data


def grid_table(data: dict, family: str, at_round: int | None = None) -> np.ndarray:
    """Mean subspace error over the held-out seeds at ``at_round`` (default: the family's budget), shape
    ``(len(GRID_ETA_A), len(GRID_ETA_W))``; a diverged run counts as error 1."""
    fam = data["families"][family]
    at_round = GRID_ROUNDS[family] if at_round is None else at_round
    idx = int(np.searchsorted(fam["rounds"], at_round))
    if idx >= len(fam["rounds"]) or fam["rounds"][idx] != at_round:
        raise ValueError(f"at_round must be a multiple of {GRID_RECORD} in [0, {GRID_MAX_ROUNDS}], got {at_round}")
    e = np.nan_to_num(fam["error"][..., idx], nan=1.0)
    return e.mean(axis=-1)


def select(data: dict, family: str, at_round: int | None = None) -> tuple[float, float, float]:
    """``(eta_a, eta_W, mean error)`` of the best grid point for ``family`` under the rule."""
    tab = grid_table(data, family, at_round)
    i, j = np.unravel_index(int(np.argmin(tab)), tab.shape)
    return data["settings"]["eta_a"][i], data["settings"]["eta_W"][j], float(tab[i, j])


def main(argv=None) -> int:
    import torch

    device = (argv or sys.argv[1:] or ["cpu"])[0]
    start = time.perf_counter()
    out = {"settings": {**GRID_SIZES, "T": GRID_T, "seeds": list(GRID_SEEDS), "eta_a": list(GRID_ETA_A),
                        "eta_W": list(GRID_ETA_W), "max_rounds": GRID_MAX_ROUNDS, "record_every": GRID_RECORD,
                        "loss": "logistic", "renorm": True, "bias_scale": 0.0},
           "families": {f: run_grid(f, device=device) for f in ("linear", "quadratic")}}
    out["settings"]["wall_time_s"] = round(time.perf_counter() - start, 1)
    GRID_FILE.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    for f in out["families"]:
        print(f, "best (eta_a, eta_W, error):", select(load_grid(), f))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
