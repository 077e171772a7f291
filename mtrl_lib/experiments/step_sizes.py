"""How the stored step sizes were chosen: a documented grid, per task family and head rule.

Who reads it: chapter 2 (both families' (eta_a, eta_W), and the grid itself, displayed), chapters 3 and 4 (their
defaults are the grid's choice re-read at their own round budgets), chapter 5 (the head step eta_a only: it tunes
its feature steps itself, :mod:`mtrl_lib.experiments.head_tuning`), chapter 6 (``STEP_SIZES`` and the grid's
settings, for its own linear-representation grid) and chapter 8 (the linear family's ``STEP_SIZES``, and the
frozen part: ``FROZEN_ETA_W`` with heads at the grid's matched norm).

The rule (the only one used; nothing else was tuned):

    for each family, train at T = GRID_T tasks on the held-out seeds GRID_SEEDS (never the seeds the
    chapters report) for every grid point, and take the point with the smallest mean subspace error after
    the family's round budget GRID_ROUNDS[family]. A diverged run counts as error 1.

* **Adapted heads** (the paper's algorithm): the grid is GRID_ETA_A x GRID_ETA_W, (head step, feature step).
* **Frozen heads** (read by chapter 8, :mod:`mtrl_lib.experiments.population_gap`): there is no head step; the
  heads are frozen at the *matched norm*, the root-mean-square entry that the adapted heads of the same
  held-out seed reach after GRID_ROUNDS[family] rounds at the family's ``STEP_SIZES``, and the grid is
  GRID_ETA_W. Only the product of the head size and eta_W sets the size of a feature step while the outputs
  are small, so a grid over eta_W at the matched norm also covers the head size. Chapter 8 runs its frozen
  heads at ``FROZEN_ETA_W["linear"]`` and at the mean of the held-out seeds' matched norms (its
  ``MATCHED_HEAD_NORM``). Chapter 5 no longer reads this part: it matches its frozen heads to its own adapted
  runs and tunes eta_W at every head size, at its own sizes, on its own held-out seeds
  (:mod:`mtrl_lib.experiments.head_tuning`); ``tests/test_chapter_05.py`` still checks that ``FROZEN_ETA_W`` is
  this grid's argmin.

The adapted grid costs about 10^6 task-rounds, too much for the quick book, so it is computed once by

    python -m mtrl_lib.experiments.step_sizes            # both parts; writes step_size_grid.json beside this file
    python -m mtrl_lib.experiments.step_sizes --frozen   # only the frozen part (a few CPU minutes), keeps the rest

and the chapters load that file where they quote it (chapter 2 displays it, saying so); ``STEP_SIZES`` and ``FROZEN_ETA_W`` below must equal
its argmins, which ``tests/test_chapter_02.py`` and ``tests/test_chapter_05.py`` check (and
``tests/test_chapter_08.py`` the matched norm). The trajectories are
stored every ``GRID_RECORD`` rounds, so the adapted choice can be re-read at any other round budget (the
frozen one too, but its heads are matched at the family's budget).
"""
from __future__ import annotations

import argparse
import json
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
FAMILIES = ("linear", "quadratic")

#: (eta_a, eta_W) per family: the argmin of the adapted-head grid under the rule above.
STEP_SIZES = {"linear": (10.0, 0.05), "quadratic": (50.0, 0.05)}
#: eta_W per family for frozen heads of matched norm: the argmin of the frozen-head grid under the same rule.
FROZEN_ETA_W = {"linear": 0.05, "quadratic": 0.05}


def _config(family: str, seed: int, eta_W: float, **kw) -> TrainConfig:
    return TrainConfig(**GRID_SIZES, T=GRID_T, family=family, rounds=GRID_MAX_ROUNDS, eta_W=eta_W, seed=seed,
                       record_every=GRID_RECORD, **kw)


def _trajectories(configs: list[TrainConfig], shape: tuple, desc: str, progress: bool) -> dict:
    """Train every config (laid out row-major in ``shape``) and stack the subspace-error trajectories
    (``None``, i.e. NaN, for a diverged run), rounded to 4 digits for the JSON file."""
    from ..progress import progress_bar

    rows, rounds = [], None
    for cfg in progress_bar(configs, progress, desc=desc):
        try:
            h = train(cfg).history
        except DivergenceError:
            rows.append(None)
            continue
        rows.append(np.round(h["subspace_error"], 4))
        rounds = h["round"]
    err = np.full((len(rows), GRID_MAX_ROUNDS // GRID_RECORD + 1), np.nan)
    for i, row in enumerate(rows):
        if row is not None:
            err[i] = row
    err = err.reshape(*shape, -1).astype(object)
    err[np.isnan(err.astype(float))] = None        # JSON has no NaN; None reads back as NaN
    return {"rounds": rounds.tolist(), "error": err.tolist()}


def run_grid(family: str, progress: bool = True, device: str = "cpu") -> dict:
    """Adapted heads: subspace-error trajectories ``(eta_a, eta_W, seed, record)`` for every grid point and
    held-out seed (NaN rows for diverged runs)."""
    cfgs = [_config(family, s, ew, eta_a=ea, device=device) for ea in GRID_ETA_A for ew in GRID_ETA_W
            for s in GRID_SEEDS]
    return _trajectories(cfgs, (len(GRID_ETA_A), len(GRID_ETA_W), len(GRID_SEEDS)),
                         f"step-size grid ({family})", progress)


def matched_head_rms(family: str, seed: int, device: str = "cpu") -> float:
    """The matched norm of a held-out seed: the RMS head entry of the adapted run at the family's
    ``STEP_SIZES`` after ``GRID_ROUNDS[family]`` rounds (chapter 8's ``MATCHED_HEAD_NORM`` is its mean over
    ``GRID_SEEDS``; chapter 5 matches its own frozen heads to its own adapted runs)."""
    eta_a, eta_W = STEP_SIZES[family]
    cfg = TrainConfig(**GRID_SIZES, T=GRID_T, family=family, rounds=GRID_ROUNDS[family], eta_a=eta_a,
                      eta_W=eta_W, seed=seed, record_every=GRID_ROUNDS[family], device=device)
    return float(train(cfg).A.double().pow(2).mean().sqrt())


def run_frozen_grid(family: str, progress: bool = True, device: str = "cpu") -> dict:
    """Frozen heads of matched norm: the matched RMS per held-out seed and the subspace-error trajectories
    ``(eta_W, seed, record)``."""
    rms = [round(matched_head_rms(family, s, device), 6) for s in GRID_SEEDS]
    cfgs = [_config(family, s, ew, head_mode="frozen", head_norm=h, device=device) for ew in GRID_ETA_W
            for s, h in zip(GRID_SEEDS, rms)]
    out = _trajectories(cfgs, (len(GRID_ETA_W), len(GRID_SEEDS)), f"frozen-head grid ({family})", progress)
    return {"head_rms": rms, **out}


def load_grid(path: Path = GRID_FILE) -> dict:
    """The stored grid: ``{"settings": ..., "families": {family: {"rounds": [...], "error": (a, W, seed, rec)}},
    "frozen": {"settings": ..., "families": {family: {"rounds", "head_rms": (seed,), "error": (W, seed, rec)}}}}``
    with the arrays as numpy arrays."""
    data = json.loads(Path(path).read_text())
    for part in (data, data.get("frozen", {"families": {}})):
        for fam in part["families"].values():
            for key in ("rounds", "head_rms"):
                if key in fam:
                    fam[key] = np.asarray(fam[key])
            fam["error"] = np.asarray(fam["error"], dtype=float)
    return data


def _at(fam: dict, family: str, at_round: int | None) -> np.ndarray:
    """Errors at ``at_round`` (default: the family's budget), diverged runs counted as 1."""
    at_round = GRID_ROUNDS[family] if at_round is None else at_round
    idx = int(np.searchsorted(fam["rounds"], at_round))
    if idx >= len(fam["rounds"]) or fam["rounds"][idx] != at_round:
        raise ValueError(f"at_round must be a multiple of {GRID_RECORD} in [0, {GRID_MAX_ROUNDS}], got {at_round}")
    return np.nan_to_num(fam["error"][..., idx], nan=1.0)


def grid_table(data: dict, family: str, at_round: int | None = None) -> np.ndarray:
    """Adapted heads: mean subspace error over the held-out seeds at ``at_round`` (default: the family's
    budget), shape ``(len(GRID_ETA_A), len(GRID_ETA_W))``; a diverged run counts as error 1."""
    return _at(data["families"][family], family, at_round).mean(axis=-1)


def select(data: dict, family: str, at_round: int | None = None) -> tuple[float, float, float]:
    """Adapted heads: ``(eta_a, eta_W, mean error)`` of the best grid point for ``family`` under the rule."""
    tab = grid_table(data, family, at_round)
    i, j = np.unravel_index(int(np.argmin(tab)), tab.shape)
    return data["settings"]["eta_a"][i], data["settings"]["eta_W"][j], float(tab[i, j])


def frozen_table(data: dict, family: str, at_round: int | None = None) -> np.ndarray:
    """Frozen heads of matched norm: mean subspace error over the held-out seeds, shape ``(len(GRID_ETA_W),)``."""
    return _at(data["frozen"]["families"][family], family, at_round).mean(axis=-1)


def select_frozen(data: dict, family: str, at_round: int | None = None) -> tuple[float, float]:
    """Frozen heads: ``(eta_W, mean error)`` of the best grid point for ``family`` under the same rule."""
    tab = frozen_table(data, family, at_round)
    j = int(np.argmin(tab))
    return data["frozen"]["settings"]["eta_W"][j], float(tab[j])


def _settings(**extra) -> dict:
    return {**GRID_SIZES, "T": GRID_T, "seeds": list(GRID_SEEDS), "eta_W": list(GRID_ETA_W),
            "max_rounds": GRID_MAX_ROUNDS, "record_every": GRID_RECORD, "loss": "logistic", "renorm": True,
            "bias_scale": 0.0, **extra}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mtrl_lib.experiments.step_sizes",
                                 description="Recompute the documented step-size grid (step_size_grid.json).")
    ap.add_argument("device", nargs="?", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--frozen", action="store_true",
                    help="recompute only the frozen-head part (a few CPU minutes) and keep the adapted part")
    args = ap.parse_args(argv)
    data = json.loads(GRID_FILE.read_text()) if GRID_FILE.exists() else {}
    if not args.frozen:
        start = time.perf_counter()
        data["settings"] = _settings(eta_a=list(GRID_ETA_A))
        data["families"] = {f: run_grid(f, device=args.device) for f in FAMILIES}
        data["settings"]["wall_time_s"] = round(time.perf_counter() - start, 1)
    start, cpu = time.perf_counter(), time.process_time()
    frozen = {"settings": _settings(head_mode="frozen", head_norm="matched: RMS head entry of the adapted run "
                                    "at STEP_SIZES after GRID_ROUNDS[family] rounds, same seed",
                                    step_sizes_matched=dict(STEP_SIZES), rounds_matched=dict(GRID_ROUNDS)),
              "families": {f: run_frozen_grid(f, device=args.device) for f in FAMILIES}}
    frozen["settings"]["wall_time_s"] = round(time.perf_counter() - start, 1)
    frozen["settings"]["cpu_time_s"] = round(time.process_time() - cpu, 1)
    data["frozen"] = frozen
    GRID_FILE.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    grid = load_grid()
    for f in FAMILIES:
        print(f, "adapted, best (eta_a, eta_W, error):", select(grid, f))
        print(f, "frozen,  best (eta_W, error):", select_frozen(grid, f))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
