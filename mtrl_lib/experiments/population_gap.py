"""Chapter "The population limit against the runs" (beyond the paper): how much of the finite-sample behaviour the
solved population dynamics of :mod:`mtrl_lib.population` explain, and where they stop explaining it.

Every run here uses the **correlation loss** l(y f) = -y f with zero bias, the only loss whose population
:mod:`mtrl_lib.population` solves exactly (chapters 1-7 train with the logistic loss; this is a different loss).
Step sizes are the grid's for the linear family (:data:`mtrl_lib.experiments.step_sizes.STEP_SIZES`, selected for
the logistic loss and reused unchanged: nothing was tuned for this chapter). Every linear-family unit is
:func:`mtrl_lib.population.paired_unit`: the finite-sample run and its population on the same seed (same M,
tasks, initial W and heads), with the **distance** between them, ||P_run - P_pop||_2 between their top-r
subspaces (:func:`mtrl_lib.population.subspace_distance`), recorded every ``record_every`` rounds. The distance
is the chapter's measure of the part of a run that the population does not explain: it is a metric (a difference
of two subspace errors is not: sin-theta errors add in quadrature, not linearly, so the difference under-reports
the sampling part wherever it is not much larger than the population's own error).

1. **Frozen heads** (the population has a fixed point): heads frozen at the matched norm :data:`MATCHED_HEAD_NORM`
   and eta_W = :data:`~mtrl_lib.experiments.step_sizes.FROZEN_ETA_W`, ``rounds`` rounds, at each n2 of ``n2s``. The
   **sampling part** of a seed is its mean distance from the population over the last :data:`TAIL` of the rounds
   (the final window, as chapter 6). Its slope in log n2, and in log T at ``n2_T`` over ``T_values``, per seed with
   a 95% t interval, beside the sketch sqrt(d / (T n2)) (slope -1/2 in both). In the T sweep eta_W is scaled by
   sqrt(T / ``T``) (:func:`frozen_eta_W`), so that the population's step is the same at every T (frozen heads'
   pulls add incoherently: ||sum_t a_tk u_t|| grows like sqrt(T) while the step carries 1/T). The fixed point of
   the frozen population (rows g_k / ||g_k||, g_k = sum_t a_tk u_t) lies in span(M) with rank r, so a run's own
   subspace error is its distance from the converged population, and the population's error is its own distance
   from its fixed point (shown over the final window).
2. **Adapted heads** (the algorithm of the other chapters): ``rounds_adapted`` rounds at each n2 (n1 = n2). The judged rounds are
   tied to the run: each seed's **escape round** (the first recorded round at which its population's error is at
   most :data:`LEARN_LEVEL`) and the last round. Per n2 and seed: the distance at the escape and at the end, the
   round at which the run leaves the population (the first recorded round from the escape on at which its
   distance from the population exceeds :data:`GAP_LEVEL`; a seed already that far at the escape is
   left-censored, "already apart at the escape", and one that never gets that far is right-censored: the prose
   gives medians with these counts, no mean) and the round of its minimum error.
3. **Heads stopped at the escape** (the late drift's control): adapted heads at the largest n2 whose head phase
   stops, for run and population alike, once the population's error is at most :data:`LEARN_LEVEL`
   (``head_stop`` of :func:`mtrl_lib.population.paired`); W trains on to ``rounds_adapted``.
4. **Where it fails**: ``T_small`` tasks at the largest n2 for ``rounds`` rounds, adapted heads and, as the control
   of the mechanism, frozen heads (at ``eta_W_frozen``, the step of the n2 sweep; the few-task population need not converge
   within the budget on every seed: the prose gives the median and counts the seeds whose population ends above
   :data:`LEARN_LEVEL`); sigma_r / sigma_1 of W's part inside span(M)
   (:func:`mtrl_lib.population.span_ratio`) for runs and population; the ``quadratic`` family with frozen heads
   at the smallest and largest n2 (:func:`mtrl_lib.train.trajectory_unit`: no population, its labels are even, so
   E[y x] = 0 and the closed forms (p1), (p2) do not apply; the chapter derives no second-order step).

The verdict (:func:`verdict`) and the glued comparison words (:func:`comparison_family`, Holm) are below.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from .. import stats
from ..comparisons import SKETCH_SLOPE_MARGIN, Family, RankFamily, add_pvalue, equivalent, pseudo_median
from ..metrics import RECOVERED_COSINE
from ..population import paired, paired_unit
from ..stats import enough_seeds, mean_ci, paired_ci, undecided
from ..train import CONTROLS, TrainConfig, trajectory_unit
from ..units import run_units, unit
from .common import ChapterParams, Choice, Float, Int, IntList, check_rounds_multiple
from .step_sizes import FROZEN_ETA_W, STEP_SIZES

TAIL = 0.2
#: the learning requirement of the verdict: chapter 2's recovery level, the error of a W whose worst principal
#: cosine with span(M) is 0.9 (a random W, and so a run that learns nothing, stays near 1); also the level whose
#: crossing by the population marks its escape from the random start
LEARN_LEVEL = math.sqrt(1.0 - RECOVERED_COSINE ** 2)
#: the verdict's bound on the distance between a run and its population (the level of the chapter's first
#: criteria, fixed before its first run for the difference of errors; kept for the distance, which is at least
#: that difference, so the criterion is the stricter one)
GAP_LEVEL = 0.05
#: the slope of the sketch sqrt(d / (T n2)) in log n2 and in log T
SKETCH_SLOPE = -0.5
#: frozen heads' RMS entry: the matched norm of the step-size grid (mtrl_lib/experiments/step_size_grid.json,
#: "frozen" part, linear family: the RMS head entry of the adapted linear run at STEP_SIZES after the grid's
#: budget, mean over the 3 held-out seeds = 16.997), to 3 significant digits; chapter 5's matching rule
MATCHED_HEAD_NORM = 17.0
#: the only family with an exact population (mtrl_lib.population), and the even family of section 4
FAMILY = "linear"
EVEN_FAMILY = "quadratic"


def _family(name, value):
    if value != FAMILY:
        raise ValueError(f"{name} must be {FAMILY!r} (the only family with an exact population: see "
                         f"mtrl_lib.population), got {value!r}")
    return value


@dataclass(frozen=True)
class Params(ChapterParams):
    d: int = 40                                   # ambient dimension
    r: int = 5                                    # latent dimension, dim span(M)
    m: int = 80                                   # neurons
    T: int = 20                                   # tasks (the step-size grid's T)
    family: str = "linear"                        # task family of the comparison: only "linear" has a population
    n2s: tuple[int, ...] = (10, 40, 160, 640)    # samples per task and feature phase (n1 = n2), increasing
    rounds: int = 100                             # rounds of the frozen-head and few-task runs (the grid's budget)
    rounds_adapted: int = 40                      # rounds of the adapted-head runs
    T_values: tuple[int, ...] = (10, 20, 40, 80)  # numbers of tasks of the fit against T, increasing, >= 2r
    n2_T: int = 80                                # samples per task and phase of the fit against T
    T_small: int = 5                              # tasks of the few-task regime
    eta_a: float = STEP_SIZES["linear"][0]        # head step (grid rule, linear family)
    eta_W: float = STEP_SIZES["linear"][1]        # feature step, adapted heads (grid rule)
    eta_W_frozen: float = FROZEN_ETA_W["linear"]  # feature step, frozen heads at T tasks (grid rule)
    head_norm: float = MATCHED_HEAD_NORM          # frozen heads' RMS entry (the grid's matched norm)
    record_every: int = 2                         # rounds between recorded errors
    control: str = "none"                         # "none", or a negative control of mtrl_lib.train (tests)

    constraints = {
        "family": _family, "n2s": IntList(1, 1_000_000, increasing=True), "rounds_adapted": Int(1, 1_000_000),
        "T_values": IntList(1, 100_000, increasing=True),
        "n2_T": Int(1, 1_000_000), "T_small": Int(1, 100_000), "head_norm": Float(0.0, 1e6, lo_open=True),
        "control": Choice(CONTROLS),
    }

    def check(self) -> None:
        super().check()
        if len(self.n2s) != 4:
            raise ValueError(f"n2s must hold 4 values (the chapter's prose and table quote four), got "
                             f"{list(self.n2s)}")
        if len(self.T_values) < 2:
            raise ValueError(f"T_values must hold at least 2 values (a slope), got {list(self.T_values)}")
        if self.T_values[0] < 2 * self.r:
            raise ValueError(f"T_values must all be at least 2 r = {2 * self.r} (the fit against T stays clear of "
                             f"the few-task regime, which the chapter reports apart), got {list(self.T_values)}")
        for name in ("rounds", "rounds_adapted"):
            check_rounds_multiple(name, getattr(self, name), "record_every", self.record_every)


# ------------------------------------------------------------------------------------------------- the plan

def frozen_eta_W(p: Params, T: int) -> float:
    """Frozen heads' feature step at T tasks: ``eta_W_frozen`` sqrt(T / p.T) (rounded to 12 significant digits so
    a unit's key is stable). A row's population pull is (eta_W / T) ||g_k|| with ||g_k|| = ||sum_t a_tk u_t|| of
    order head_norm sqrt(T): scaling eta_W by sqrt(T) keeps it the same at every T."""
    return float(f"{p.eta_W_frozen * math.sqrt(T / p.T):.12g}")


def _config(p: Params, *, mode: str, n2: int, T: int | None = None, rounds: int | None = None,
            family: str = FAMILY) -> dict:
    """One run's TrainConfig keywords (correlation loss, bias 0, n1 = n2)."""
    T = p.T if T is None else T
    return dict(d=p.d, r=p.r, m=p.m, T=T, family=family, loss="correlation",
                rounds=(p.rounds if mode == "frozen" else p.rounds_adapted) if rounds is None else rounds,
                eta_a=p.eta_a, eta_W=frozen_eta_W(p, T) if mode == "frozen" else p.eta_W, head_mode=mode,
                head_norm=p.head_norm if mode == "frozen" else 1.0, record_every=p.record_every,
                control=p.control, device=p.device, n1=n2, n2=n2)


def plan(p: Params) -> dict:
    """``{point: (unit function, configuration)}``. Points: ("frozen" | "adapted", n2) and ("frozen_T", T) runs
    with their populations, ("stopped",) (adapted heads stopped at the escape, largest n2), ("small_T",) and
    ("small_T_frozen",) (T_small tasks, largest n2), and ("even", n2) (quadratic family, no population)."""
    pts, nmax = {}, p.n2s[-1]
    for mode in ("frozen", "adapted"):
        for n2 in p.n2s:
            pts[mode, n2] = (paired_unit, _config(p, mode=mode, n2=n2))
    for T in p.T_values:
        pts["frozen_T", T] = (paired_unit, _config(p, mode="frozen", n2=p.n2_T, T=T))
    pts["stopped",] = (paired_unit, {**_config(p, mode="adapted", n2=nmax), "head_stop": LEARN_LEVEL})
    pts["small_T",] = (paired_unit, _config(p, mode="adapted", n2=nmax, T=p.T_small, rounds=p.rounds))
    pts["small_T_frozen",] = (paired_unit, {**_config(p, mode="frozen", n2=nmax, T=p.T_small),
                                            "eta_W": p.eta_W_frozen})
    for n2 in (p.n2s[0], nmax):
        pts["even", n2] = (trajectory_unit, _config(p, mode="frozen", n2=n2, family=EVEN_FAMILY))
    return pts


def _key(fn, cfg: dict) -> str:
    return f"{fn.__module__}:{fn.__name__}:" + json.dumps(cfg, sort_keys=True)


def run(p: Params, executor=None) -> dict:
    """All of the chapter's numbers (:func:`reduce`). Equal configurations are one unit (a T of ``T_values``
    equal to ``T`` at ``n2_T`` in ``n2s`` reuses the frozen run)."""
    pts = plan(p)
    runs = {_key(fn, cfg): (fn, cfg) for fn, cfg in pts.values()}
    keys = list(runs)
    units = [unit(runs[k][0], s, **runs[k][1]) for k in keys for s in p.seeds]
    out = run_units(units, executor, desc="population against runs: runs x seeds")
    ns = len(p.seeds)
    by = {k: out[i * ns:(i + 1) * ns] for i, k in enumerate(keys)}
    return reduce({pt: by[_key(fn, cfg)] for pt, (fn, cfg) in pts.items()}, p)


# ----------------------------------------------------------------------------------------------- reduction

#: the arrays of a paired unit kept per point, (seeds, records) each, under the reduction's names
_FIELDS = {"error": "subspace_error", "energy": "energy", "pop": "pop_subspace_error", "pop_energy": "pop_energy",
           "dist": "distance", "ratio": "span_ratio", "pop_ratio": "pop_span_ratio", "heads": "head_rms",
           "pop_heads": "pop_head_rms"}


def window(rounds: np.ndarray) -> np.ndarray:
    """The records of the final window: rounds within the last :data:`TAIL` of the run."""
    return rounds >= rounds[-1] * (1 - TAIL)


def final(X: np.ndarray, rounds: np.ndarray) -> np.ndarray:
    """Mean of ``X: (seeds, records)`` over the final window (:func:`window`), per seed."""
    return X[:, window(rounds)].mean(axis=1)


def slopes(x, Y) -> np.ndarray:
    """Least-squares slope of log Y on log x per seed, ``Y: (seeds, len(x))`` -> ``(seeds,)``; NaN for a seed
    with a value <= 0 (no logarithm)."""
    lx = np.log(np.asarray(x, float))
    lx = lx - lx.mean()
    Y = np.asarray(Y, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        lY = np.where(Y > 0, np.log(np.where(Y > 0, Y, 1.0)), np.nan)
    return (lY - lY.mean(axis=1, keepdims=True)) @ lx / (lx @ lx)


def _traj(rows: list[dict]) -> dict:
    """``{"round": (records,), name: (seeds, records) for name in _FIELDS}`` from paired units (a trajectory
    unit has only ``error`` and ``energy``), and ``stop`` (seeds,) where the unit stopped its heads."""
    out = {"round": np.asarray(rows[0]["round"], float)}
    for name, key in _FIELDS.items():
        if key in rows[0]:
            out[name] = np.asarray([r[key] for r in rows], float)
    if "stop_round" in rows[0]:
        out["stop"] = np.asarray([r["stop_round"] for r in rows], float)
    return out


def first_round(mask: np.ndarray, rounds: np.ndarray, default: float) -> np.ndarray:
    """Per row of ``mask: (seeds, records)``, the round of its first True entry (``default`` where none)."""
    hit = mask.any(axis=1)
    return np.where(hit, rounds[np.argmax(mask, axis=1)], default)


def escape(tr: dict) -> np.ndarray:
    """Per seed, the index of the escape record: the first record at which the population's error is at most
    :data:`LEARN_LEVEL` (the last record where it never is)."""
    below = tr["pop"] <= LEARN_LEVEL
    return np.where(below.any(axis=1), np.argmax(below, axis=1), below.shape[1] - 1)


def adapted_rounds(tr: dict, i_esc: np.ndarray, last: float) -> dict:
    """Per seed, for one adapted point: ``leave`` (the first recorded round at or after the escape at which the
    run's distance from its population exceeds :data:`GAP_LEVEL`, the chapter's own measure and level; ``last``
    where it never does), ``apart`` (the distance already exceeds it at the escape: ``leave`` is then the escape
    round, an upper bound of when the run left, left-censored), ``never`` (it never does within the run:
    ``leave`` = ``last`` is a lower bound, right-censored), and ``min_round`` (the round of the run's smallest
    recorded error, the first on a tie) with ``min_error``."""
    rounds, seeds = tr["round"], np.arange(len(i_esc))
    after = np.arange(len(rounds))[None, :] >= i_esc[:, None]
    left = after & (tr["dist"] > GAP_LEVEL)
    j = np.argmin(tr["error"], axis=1)
    return {"leave": first_round(left, rounds, last), "never": ~left.any(axis=1),
            "apart": tr["dist"][seeds, i_esc] > GAP_LEVEL,
            "min_round": rounds[j], "min_error": tr["error"][np.arange(len(j)), j]}


def leave_text(leave, apart, never, last: float) -> str:
    """The leaving round of one n2 in words, censoring said: the median over seeds with the seeds already apart
    at the escape (their value, the escape round, is an upper bound) and those that never leave (``last``, a
    lower bound) counted; no mean. "≤ 16 (median; all 10 seeds already apart at the escape)", "31 (median; 26
    to 38 over seeds)", ..."""
    leave, apart, never = (np.asarray(x) for x in (leave, apart, never))
    n, ka, kn, med = len(leave), int(apart.sum()), int(never.sum()), float(np.median(leave))
    if ka == n:
        return f"≤ {med:g} (median; all {n} seeds already apart at the escape)"
    if kn == n:
        return f"> {last:g} (no seed leaves within the {last:g} rounds)"
    if ka == 0 and kn == 0:
        return f"{med:g} (median; {leave.min():g} to {leave.max():g} over seeds)"
    if kn == 0:
        return f"≤ {med:g} (median; {ka} of {n} seeds already apart at the escape)"
    if ka == 0:
        return f"≥ {med:g} (median; {kn} of {n} seeds never leave within {last:g} rounds)"
    lo = float(np.median(np.where(apart, 0.0, leave)))
    return (f"median between {lo:g} and {med:g} or later ({ka} of {n} seeds already apart at the escape, {kn} never "
            f"leave within {last:g} rounds)")


def leave_order(res: dict) -> np.ndarray:
    """Per seed, +1 where the run at the largest n2 certainly leaves later than at the smallest, -1 where it
    certainly leaves earlier, 0 where censoring (or a tie) leaves the order open: a seed already apart at the
    escape left at or before its ``leave``, one that never leaves left after it."""
    lv, ap, nv = res["leave"], res["apart"], res["never"]
    lo = np.where(ap, -np.inf, np.where(nv, lv + 0.5, lv))
    hi = np.where(nv, np.inf, lv)
    return np.where(lo[:, -1] > hi[:, 0], 1, np.where(hi[:, -1] < lo[:, 0], -1, 0))


def reduce(per_point: dict, p: Params) -> dict:
    """Arrays over seeds. Trajectories (:func:`_traj`): ``frozen[n2]``, ``adapted[n2]``, ``frozen_T[T]``,
    ``stopped``, ``small_T``, ``small_T_frozen``, ``even[n2]``. Frozen heads, (seeds, len(n2s)): ``final_n`` (the
    run's final error: its distance from the converged population), ``gap_n`` (the sampling part: final distance
    from the population), ``scale_n`` (gap_n / sqrt(d / (T n2)), the sketch's C); ``pop_final`` (seeds,);
    ``gap_T``, ``pop_T`` (seeds, len(T_values)); ``slope_n``, ``slope_T`` (of the sampling part),
    ``slope_n_err``, ``slope_T_err`` (of the run's error). Adapted heads: ``esc_round`` (seeds,), and per n2
    (seeds, len(n2s)): ``dist_esc``, ``dist_end``, ``err_end``, ``leave``, ``apart``, ``never``,
    ``min_round``, ``min_error`` (:func:`adapted_rounds`); ``pop_end`` (seeds,); ``verdict``."""
    t = {pt: _traj(rows) for pt, rows in per_point.items()}
    res = {"frozen": {n: t["frozen", n] for n in p.n2s}, "adapted": {n: t["adapted", n] for n in p.n2s},
           "frozen_T": {T: t["frozen_T", T] for T in p.T_values}, "stopped": t["stopped",],
           "small_T": t["small_T",], "small_T_frozen": t["small_T_frozen",],
           "even": {n: t["even", n] for n in (p.n2s[0], p.n2s[-1])}}
    fin = lambda tr, key: final(tr[key], tr["round"])
    fz = [res["frozen"][n] for n in p.n2s]
    res["pop_final"] = fin(fz[0], "pop")
    res["final_n"] = np.stack([fin(tr, "error") for tr in fz], axis=1)
    res["gap_n"] = np.stack([fin(tr, "dist") for tr in fz], axis=1)
    res["scale_n"] = res["gap_n"] / np.sqrt(p.d / (p.T * np.asarray(p.n2s, float)))[None, :]
    fT = [res["frozen_T"][T] for T in p.T_values]
    res["gap_T"] = np.stack([fin(tr, "dist") for tr in fT], axis=1)
    res["err_T"] = np.stack([fin(tr, "error") for tr in fT], axis=1)
    res["pop_T"] = np.stack([fin(tr, "pop") for tr in fT], axis=1)
    res["slope_n"], res["slope_T"] = slopes(p.n2s, res["gap_n"]), slopes(p.T_values, res["gap_T"])
    res["slope_n_err"], res["slope_T_err"] = slopes(p.n2s, res["final_n"]), slopes(p.T_values, res["err_T"])
    ad = [res["adapted"][n] for n in p.n2s]
    i_esc = escape(ad[0])                          # the population is the same at every n2 (same seed and init)
    seeds = np.arange(len(i_esc))
    res["esc_round"] = ad[0]["round"][i_esc]
    res["pop_end"] = ad[0]["pop"][:, -1]
    res["dist_esc"] = np.stack([tr["dist"][seeds, i_esc] for tr in ad], axis=1)
    res["dist_end"] = np.stack([tr["dist"][:, -1] for tr in ad], axis=1)
    res["err_end"] = np.stack([tr["error"][:, -1] for tr in ad], axis=1)
    per_n = [adapted_rounds(tr, i_esc, float(p.rounds_adapted)) for tr in ad]
    for key in ("leave", "apart", "never", "min_round", "min_error"):
        res[key] = np.stack([x[key] for x in per_n], axis=1)
    res["verdict"] = verdict(res, p)
    return res


# --------------------------------------------------------------------------------------------- the verdict

def explaining_checks(res: dict, p: Params) -> list[dict]:
    """The four criteria of part (ii) of :func:`verdict`, each ``{"letter", "passed", "hi"`` (the upper bound
    compared with :data:`GAP_LEVEL`, None for (b)), ``"what"}``."""
    hi = lambda x: float(mean_ci(x).hi)
    return [
        {"letter": "a", "hi": hi(res["gap_n"][:, -1]), "what": "frozen heads, final window"},
        {"letter": "b", "hi": None, "what": f"frozen heads: no significant fall from n2 = {p.n2s[0]}",
         "passed": bool(paired_ci(res["gap_n"][:, -1], res["gap_n"][:, 0]).hi < 0)},
        {"letter": "c", "hi": hi(res["dist_esc"][:, -1]), "what": "adapted heads at the escape"},
        {"letter": "d", "hi": hi(res["dist_end"][:, -1]), "what": f"adapted heads at round {p.rounds_adapted}"},
    ]


def verdict_reason(res: dict, p: Params) -> tuple[int, str]:
    """The number of failed criteria of part (ii) and one clause naming them with their bounds, for the prose and
    the introduction: "criteria (a), (c) and (d) fail: upper bounds of the distance at n2 = 640 of 0.052
    (frozen heads, final window), ...". A failed learning criterion (i) is named first."""
    checks = explaining_checks(res, p)
    for c in checks:
        c.setdefault("passed", c["hi"] is not None and c["hi"] < GAP_LEVEL)
    failed = [c for c in checks if not c["passed"]]
    learn, _ = criteria(res, p)
    parts = []
    if learn:
        parts.append(f"the learning criterion fails ({len(learn)} of its 4 bounds not below {LEARN_LEVEL:.3f})")
    if failed:
        letters = [f"({c['letter']})" for c in failed]
        names = letters[0] if len(letters) == 1 else ", ".join(letters[:-1]) + " and " + letters[-1]
        bounds = [f"{c['hi']:.3f} ({c['what']})" if c["hi"] is not None else c["what"] for c in failed]
        listed = bounds[0] if len(bounds) == 1 else ", ".join(bounds[:-1]) + " and " + bounds[-1]
        parts.append(f"{'criterion' if len(failed) == 1 else 'criteria'} {names} "
                     f"{'fails' if len(failed) == 1 else 'fail'}: upper 95% bounds of the distance from the "
                     f"population at n2 = {p.n2s[-1]} of {listed}, against the level {GAP_LEVEL}")
    return len(failed), "; ".join(parts) if parts else "every criterion passes"


def criteria(res: dict, p: Params) -> tuple[list[str], list[str]]:
    """The verdict's failed criteria, as ``(learning, explaining)`` lists of one-line reasons (see
    :func:`verdict`)."""
    hi = lambda x: float(mean_ci(x).hi)
    nmax = p.n2s[-1]
    learn_checks = (("frozen population's final error", res["pop_final"]),
                    (f"frozen runs' final error at n2 = {nmax}", res["final_n"][:, -1]),
                    (f"adapted population's error at round {p.rounds_adapted}", res["pop_end"]),
                    (f"adapted runs' smallest error at n2 = {nmax}", res["min_error"][:, -1]))
    learn = [f"{name} not below {LEARN_LEVEL:.3f} (upper bound {hi(x):.2f})"
             for name, x in learn_checks if not hi(x) < LEARN_LEVEL]
    other = []
    if not hi(res["gap_n"][:, -1]) < GAP_LEVEL:
        other.append(f"frozen runs' distance from the population at n2 = {nmax} not below {GAP_LEVEL} "
                     f"(upper bound {hi(res['gap_n'][:, -1]):.3f})")
    if not paired_ci(res["gap_n"][:, -1], res["gap_n"][:, 0]).hi < 0:
        other.append(f"frozen runs' distance from the population does not fall significantly from n2 = "
                     f"{p.n2s[0]} to {nmax}")
    for key, when in (("dist_esc", "at the population's escape"), ("dist_end", f"at round {p.rounds_adapted}")):
        if not hi(res[key][:, -1]) < GAP_LEVEL:
            other.append(f"adapted runs' distance from the population {when}, n2 = {nmax}, not below {GAP_LEVEL} "
                         f"(upper bound {hi(res[key][:, -1]):.3f})")
    return learn, other


#: the number of explaining criteria, (a)-(d), of part (ii) of :func:`verdict`
N_EXPLAINING = 4


def verdict(res: dict, p: Params) -> str:
    """The chapter's claim, decided on 95% t intervals over seeds (an intersection test: every criterion must
    pass, so they are not Holm-corrected). The distance is the subspace distance between a run and its population
    (:func:`mtrl_lib.population.subspace_distance`):

    (i) **learning** (a run that learns nothing fails): the upper bounds of the frozen population's final error,
        of the frozen runs' final error at the largest n2, of the adapted population's error at the last round
        and of the adapted runs' smallest error at the largest n2 are below :data:`LEARN_LEVEL`;
    (ii) **the population explains the runs at large n2**: (a) the upper bound of the frozen runs' final distance
        at the largest n2 is below :data:`GAP_LEVEL`; (b) that distance falls significantly from the smallest n2
        to the largest (paired interval of the difference entirely below 0); (c) **through the escape**: at each
        seed's escape round (its population's error first at most :data:`LEARN_LEVEL`) the upper bound of the
        adapted runs' distance at the largest n2 is below :data:`GAP_LEVEL`; (d) **to the end**: so is it at the
        last round.

    The judged rounds of (c) and (d) follow the run (its population's escape, its last round), so the criteria
    mean the same at any d, m, T and budget. "reproduced" when all hold; "not reproduced (...)" when (i) fails,
    or when (i) holds and every one of (a)-(d) fails (the population then explains the runs by none of the
    chapter's measures); "partly reproduced (...)" when (i) holds and some, not all, of (a)-(d) fail. (The rule
    was tightened after a referee's read: it first read "partly reproduced" whenever (i) held, even with all four
    of (a)-(d) failing.) Fewer than 10 seeds decide nothing."""
    n = len(p.seeds)
    if not enough_seeds(n):
        return undecided(n)
    learn, other = criteria(res, p)
    if learn:
        return "not reproduced (" + "; ".join(learn + other) + ")"
    if len(other) == N_EXPLAINING:
        return ("not reproduced (every one of the four criteria of the population explaining the runs fails: "
                + "; ".join(other) + ")")
    return "reproduced" if not other else "partly reproduced (" + "; ".join(other) + ")"


def verdict_word(res: dict, p: Params) -> str:
    """The verdict's first words (before any parenthesis): "reproduced", "partly reproduced", ..."""
    return res["verdict"].split(" (")[0]


def comparison_family(res: dict, p: Params) -> Family:
    """Every comparison behind a glued direction word of the chapter, decided together (Holm, 5%):
    ``pop_moves`` (frozen population's error at the start of the final window minus at the last round, either
    side), ``gap_falls_n`` (frozen sampling part, largest minus smallest n2, below 0), ``gap_T`` (largest minus smallest
    T, either side), ``leave_later`` (adapted runs' leaving round, largest against smallest n2, later: a two-sided sign test
    over the seeds whose order censoring leaves determined, :func:`leave_order`), ``min_round_later`` (round of
    the smallest error, largest minus smallest n2, above 0), ``slope_n_sketch``, ``slope_T_sketch`` (slope minus -1/2, either side), ``adapted_leaves``
    (log of the adapted distance at the last round over that at the escape, largest n2, above 0), ``stop_holds``
    (log of the distance at the last round, heads stopped at the escape over constant head step, largest n2,
    below 0: both on logs, since a seed that fails puts a distance near 1 beside others near 0.1, and one such
    seed would decide a t test on differences),
    ``small_T_fails`` and ``small_T_frozen_fails`` (few-task runs' final error minus their population's, adapted
    and frozen heads, above 0), ``small_T_heads`` (few-task runs' final error, adapted minus frozen heads, either
    side): these three by Wilcoxon's signed-rank test (:meth:`RankFamily.test_signed_rank`, direction from the
    Hodges-Lehmann centre), since with few tasks the per-seed errors split into seeds that recover and seeds that
    fail (near 1), and a t test's mean and spread would follow the split; ``small_T_pop_ratio`` (log of the few-task populations' final in-span ratio, frozen over adapted
    heads, either side), ``even_learns`` (even family's final error at the largest n2 minus
    :data:`LEARN_LEVEL`, below 0). A slope that cannot be fitted (a value <= 0) is left out of the family."""
    fam = RankFamily()
    fin = lambda tr, key: final(tr[key], tr["round"])
    pop = res["frozen"][p.n2s[0]]
    fam.test("pop_moves", pop["pop"][:, int(np.argmax(window(pop["round"])))] - pop["pop"][:, -1], side="either")
    fam.test("gap_falls_n", res["gap_n"][:, -1] - res["gap_n"][:, 0], side="below")
    fam.test("gap_T", res["gap_T"][:, -1] - res["gap_T"][:, 0], side="either")
    for name in ("slope_n", "slope_T"):
        if np.isfinite(res[name]).all():
            fam.test(f"{name}_sketch", res[name], null=SKETCH_SLOPE, side="either")
    above, below, p_above = stats.sign_test(leave_order(res))
    p_below = stats.sign_test(-leave_order(res))[2]
    add_pvalue(fam, "leave_later", min(1.0, 2 * min(p_above, p_below)), above > below)
    fam.test("min_round_later", res["min_round"][:, -1] - res["min_round"][:, 0], side="above")
    fam.test("adapted_leaves", log_ratio(res["dist_end"][:, -1], res["dist_esc"][:, -1]), side="above")
    fam.test("stop_holds", log_ratio(res["stopped"]["dist"][:, -1], res["dist_end"][:, -1]), side="below")
    for name, tr in (("small_T_fails", res["small_T"]), ("small_T_frozen_fails", res["small_T_frozen"])):
        fam.test_signed_rank(name, fin(tr, "error") - fin(tr, "pop"), side="above")
    fam.test_signed_rank("small_T_heads", fin(res["small_T"], "error") - fin(res["small_T_frozen"], "error"),
                         side="either")
    fam.test("small_T_pop_ratio", log_ratio(fin(res["small_T_frozen"], "pop_ratio"), fin(res["small_T"], "pop_ratio")),
             side="either")
    even = res["even"][p.n2s[-1]]
    fam.test("even_learns", fin(even, "error"), null=LEARN_LEVEL, side="below")
    return fam.decide()


# ---------------------------------------------------------------------------------------------- the summary
# Each *_numbers function returns the glue values of one section (names start with ``p8_``).

def log_ratio(a, b) -> np.ndarray:
    """log(a / b) per seed (distances are positive: a run and its population never share their subspace
    exactly after round 0)."""
    return np.log(np.asarray(a, float) / np.asarray(b, float))


def _ci(out: dict, name: str, x) -> None:
    """``out[name]``, ``out[name + "_ci"]``: mean over seeds and the half-width of its 95% t interval."""
    iv = mean_ci(x)
    out[name], out[f"{name}_ci"] = float(iv.mean), float(iv.half)


def cut_text(x, digits: int = 3) -> str:
    """Mean ± half-width of a quantity in [0, 1] (an error, a distance, a ratio sigma_r / sigma_1), written to the
    digits its half-width needs (:func:`mtrl_lib.stats.pm`, and at least two significant digits of the mean);
    where the 95% interval reaches past 0 or 1, the interval cut there, in words."""
    x = np.asarray(x, dtype=float).ravel()
    iv, b = mean_ci(x), stats.bounded_ci(x)
    mean, half = float(iv.mean), float(iv.half)
    dec = digits
    if 0 < half < np.inf:
        dec = max(dec, -int(np.floor(np.log10(half))))
    if 0 < abs(mean) < np.inf:
        dec = max(dec, -int(np.floor(np.log10(abs(mean)))) + 1)
    if not b.cut and 0 < abs(mean) < 1e-4 and half < abs(mean):  # a round-off-sized value: a power of ten
        e = int(np.floor(np.log10(abs(mean))))
        return f"({stats.pm(mean / 10 ** e, half / 10 ** e, 2)}) × 10^{e}"
    if not b.cut:
        return stats.pm(mean, half, dec)
    at = "1" if b.hi == 1.0 and float(iv.hi) > 1.0 else "0"
    return f"{mean:.{dec}f} (95% interval {b.lo:.{dec}f} to {b.hi:.{dec}f}, cut at {at})"


def split_text(x, failed, what: str) -> str:
    """Median and "k of n" beside the (cut) mean where seeds split: "median 0.012, 2 of 10 seeds above the recovery
    level (mean 0.135 (95% interval 0.000 to 0.354, cut at 0))"; the plain :func:`cut_text` where none fails."""
    x, failed = np.asarray(x, float).ravel(), np.asarray(failed, bool).ravel()
    k, n = int(failed.sum()), len(x)
    if k == 0:
        return cut_text(x)
    if k == n:
        return f"{cut_text(x)} (every seed {what})"
    return f"median {np.median(x):.3f}, {k} of {n} seeds {what} (mean {cut_text(x)})"


def _decided(fam: Family, name: str, yes: str, no: str) -> str:
    return yes if fam[name] else no


def _words(values) -> str:
    """"a, b and c" (one value: "a")."""
    *head, last = (str(v) for v in values)
    return f"{', '.join(head)} and {last}" if head else last


def setting_numbers(res: dict, p: Params) -> dict:
    """The sizes the prose quotes: p8_d, p8_r, p8_m, p8_T, p8_n_seeds, p8_rounds, p8_rounds_adapted, p8_eta_a,
    p8_eta_W, p8_eta_W_frozen, p8_head_norm, p8_nmin, p8_nmax, p8_n2_T, p8_Tmin, p8_Tmax, p8_T_small,
    p8_tail_rounds (rounds in the final window), p8_tail_start (its first round), p8_eta_W_Tmin, p8_eta_W_Tmax
    (frozen heads' step at the smallest and largest T of the sweep), p8_learn_level, p8_gap_level,
    p8_recovered_cosine."""
    return {"p8_d": p.d, "p8_r": p.r, "p8_m": p.m, "p8_T": p.T, "p8_n_seeds": len(p.seeds), "p8_rounds": p.rounds,
            "p8_rounds_adapted": p.rounds_adapted, "p8_eta_a": p.eta_a,
            "p8_eta_W": p.eta_W, "p8_eta_W_frozen": p.eta_W_frozen, "p8_head_norm": p.head_norm,
            "p8_nmin": p.n2s[0], "p8_nmax": p.n2s[-1], "p8_n2_T": p.n2_T, "p8_Tmin": p.T_values[0],
            "p8_Tmax": p.T_values[-1], "p8_T_small": p.T_small, "p8_tail_rounds": round(p.rounds * TAIL),
            "p8_tail_start": round(p.rounds * (1 - TAIL)), "p8_eta_W_Tmin": frozen_eta_W(p, p.T_values[0]),
            "p8_eta_W_Tmax": frozen_eta_W(p, p.T_values[-1]), "p8_learn_level": LEARN_LEVEL,
            "p8_gap_level": GAP_LEVEL, "p8_recovered_cosine": RECOVERED_COSINE}


def gap_numbers(res: dict, p: Params) -> dict:
    """Section "Population against finite samples" (frozen heads): p8_pop_final, p8_pop_tail_start (the
    population's error at the first round of the final window), p8_pop_last (at the last round), p8_pop_moves_phrase (how it moves between the two); per n2
    index i (0 .. 3 for four n2s) p8_n{i} (the n2), p8_final_n{i} (the run's error), p8_gap_n{i} (its distance
    from the population), p8_scale_n{i} (distance / sqrt(d / (T n2))), each with _ci; p8_gap_nmin, p8_gap_nmax
    (with _ci), p8_gap_drop (paired smallest minus largest, with _ci), p8_gap_falls_phrase."""
    out, fam = {}, comparison_family(res, p)
    _ci(out, "p8_pop_final", res["pop_final"])
    tr = res["frozen"][p.n2s[0]]
    i0 = int(np.argmax(window(tr["round"])))
    _ci(out, "p8_pop_tail_start", tr["pop"][:, i0])
    _ci(out, "p8_pop_last", tr["pop"][:, -1])
    moved = tr["pop"][:, i0] - tr["pop"][:, -1]
    out["p8_pop_moves_phrase"] = (("still falls significantly" if moved.mean() > 0 else "rises significantly")
                                  if fam["pop_moves"] else "does not change significantly")
    for i, n in enumerate(p.n2s):                 # p8_n{i}, p8_final_n{i}, p8_gap_n{i}, p8_scale_n{i}
        out[f"p8_n{i}"] = n
        _ci(out, f"p8_final_n{i}", res["final_n"][:, i])
        _ci(out, f"p8_gap_n{i}", res["gap_n"][:, i])
        _ci(out, f"p8_scale_n{i}", res["scale_n"][:, i])
    _ci(out, "p8_gap_nmin", res["gap_n"][:, 0])
    _ci(out, "p8_gap_nmax", res["gap_n"][:, -1])
    _ci(out, "p8_gap_drop", res["gap_n"][:, 0] - res["gap_n"][:, -1])
    out["p8_gap_falls_phrase"] = _decided(fam, "gap_falls_n", "falls significantly",
                                          "does not fall significantly")
    return out


def _slope_words(x, fam: Family, name: str) -> str:
    """How a fitted slope stands to the sketch's -1/2: the Holm-decided direction, else "not distinguishable
    from"; then the TOST equivalence at the book's margin :data:`mtrl_lib.comparisons.SKETCH_SLOPE_MARGIN`. When
    both "significantly ... than" and "equivalent" hold, the sentence says how: the slope differs from -1/2 by
    less than the margin, and the data are precise enough to tell that small difference."""
    if not np.isfinite(x).all():
        return "cannot be set beside the sketch's -0.5 (some value is not positive, so its logarithm is undefined)"
    mean, m = float(np.mean(x)), SKETCH_SLOPE_MARGIN
    eq = equivalent(x, SKETCH_SLOPE, m)
    if fam[f"{name}_sketch"]:
        side = "steeper than" if mean < SKETCH_SLOPE else "shallower than"
        if eq:
            return (f"significantly {side} the sketch's {SKETCH_SLOPE:+.1f}, but by less than the book's margin "
                    f"±{m:.2f} (equivalent to it in that sense: a small difference, measured precisely)")
        return (f"significantly {side} the sketch's {SKETCH_SLOPE:+.1f}, and not shown equivalent to it within "
                f"the book's margin ±{m:.2f}")
    if eq:
        return (f"not distinguishable from the sketch's {SKETCH_SLOPE:+.1f}, and equivalent to it within the "
                f"book's margin ±{m:.2f}")
    return (f"not distinguishable from the sketch's {SKETCH_SLOPE:+.1f}, and not shown equivalent to it within "
            f"the book's margin ±{m:.2f} (the data are too few to say either)")


def slope_numbers(res: dict, p: Params) -> dict:
    """The fits: p8_slope_n, p8_slope_T (the sampling part's, with _ci; -1 and _ci 0 when some value is not
    positive), p8_slope_n_err, p8_slope_T_err (the run's error, with _ci), p8_slope_n_phrase, p8_slope_T_phrase,
    p8_gap_T_phrase, p8_gap_Tmin, p8_gap_Tmax, p8_pop_Tmin, p8_pop_Tmax (with _ci), p8_slope_margin,
    p8_n_family (the Holm family's size)."""
    fam = comparison_family(res, p)
    out = {"p8_slope_margin": SKETCH_SLOPE_MARGIN, "p8_n_family": len(fam)}
    for name in ("slope_n", "slope_T", "slope_n_err", "slope_T_err"):
        if np.isfinite(res[name]).all():
            _ci(out, f"p8_{name}", res[name])
        else:
            out[f"p8_{name}"], out[f"p8_{name}_ci"] = -1.0, 0.0
    for name in ("slope_n", "slope_T"):
        out[f"p8_{name}_phrase"] = _slope_words(res[name], fam, name)
    _ci(out, "p8_gap_Tmin", res["gap_T"][:, 0])
    _ci(out, "p8_gap_Tmax", res["gap_T"][:, -1])
    _ci(out, "p8_pop_Tmin", res["pop_T"][:, 0])
    _ci(out, "p8_pop_Tmax", res["pop_T"][:, -1])
    gap = res["gap_T"][:, -1] - res["gap_T"][:, 0]
    out["p8_gap_T_phrase"] = (("falls significantly" if gap.mean() < 0 else "rises significantly")
                              if fam["gap_T"] else "does not change significantly")
    return out


def adapted_numbers(res: dict, p: Params) -> dict:
    """Section "Adapted heads: through the escape, then away": p8_esc_round (with _ci, and p8_esc_min,
    p8_esc_max over seeds), p8_pop_end (the population's error at the last round, with _ci); per n2 index i
    p8_dist_esc_n{i}, p8_dist_end_n{i}, p8_leave_n{i}, p8_min_round_n{i}, p8_min_error_n{i}, p8_err_end_n{i}
    (each with _ci), p8_leave_cens_n{i} (seeds that never leave), p8_err_end_med_n{i} (median error at the last
    round), p8_err_end_fail_n{i} (seeds whose error at the last round is above the recovery level); the heads'
    RMS entry at the escape and at the last round (p8_heads_esc, p8_heads_end, largest n2, with _ci);
    p8_adapted_phrase; the stopped-heads arm: p8_stop_round, p8_stop_dist_end, p8_stop_err_end,
    p8_stop_pop_end (with _ci), p8_stop_gain (adapted minus stopped distance at the last round, paired, _ci),
    p8_stop_ratio (their geometric-mean ratio, adapted over stopped, with p8_stop_ratio_lo, _hi: the 95%
    interval of the ratio, from the t interval of the logarithms, the test behind p8_stop_phrase),
    p8_stop_phrase; p8_esc_end_ratio (the adapted distance at the last round over that at the escape, geometric
    mean over seeds, with _lo, _hi likewise); p8_leave_phrase, p8_min_round_phrase (whether each comes later at
    the largest n2 than at the smallest, Holm), p8_leave_later_k, p8_leave_earlier_k, p8_leave_open_k (seeds
    whose leaving round is certainly later, certainly earlier, or left open by censoring: the sign test's
    counts); p8_n2s_words (the n2 values in words); p8_leave_reading (:func:`leave_reading`: what the table's
    leaving rounds measure, a sentence). Leaving (:func:`adapted_rounds`) is censored, so
    p8_leave_n{i} is text (:func:`leave_text`: median, bound and counts; no mean and no _ci), with
    p8_leave_med_n{i} (the median, a bound where censored), p8_leave_apart_n{i} (seeds already apart at the
    escape) and p8_leave_never_n{i} (seeds that never leave); the table's [0, 1] quantities have _text forms cut
    to [0, 1] (:func:`cut_text`)."""
    fam, out = comparison_family(res, p), {}
    _ci(out, "p8_esc_round", res["esc_round"])
    out["p8_esc_min"], out["p8_esc_max"] = int(res["esc_round"].min()), int(res["esc_round"].max())
    _ci(out, "p8_pop_end", res["pop_end"])
    for i in range(len(p.n2s)):                   # p8_<q>_n{i} for each adapted quantity q
        for q in ("dist_esc", "dist_end", "min_round", "min_error", "err_end"):
            _ci(out, f"p8_{q}_n{i}", res[q][:, i])
        for q in ("dist_esc", "dist_end", "min_error", "err_end"):
            out[f"p8_{q}_n{i}_text"] = cut_text(res[q][:, i])
        out[f"p8_leave_n{i}"] = leave_text(res["leave"][:, i], res["apart"][:, i], res["never"][:, i],
                                           float(p.rounds_adapted))
        out[f"p8_leave_med_n{i}"] = float(np.median(res["leave"][:, i]))
        out[f"p8_leave_apart_n{i}"] = int(res["apart"][:, i].sum())
        out[f"p8_leave_never_n{i}"] = int(res["never"][:, i].sum())
        out[f"p8_err_end_med_n{i}"] = float(np.median(res["err_end"][:, i]))
        out[f"p8_err_end_fail_n{i}"] = int((res["err_end"][:, i] > LEARN_LEVEL).sum())
    tr = res["adapted"][p.n2s[-1]]
    i_esc = escape(tr)
    _ci(out, "p8_heads_esc", tr["heads"][np.arange(len(i_esc)), i_esc])
    _ci(out, "p8_heads_end", tr["heads"][:, -1])
    out["p8_adapted_phrase"] = _decided(fam, "adapted_leaves", "grows significantly after the escape",
                                        "does not grow significantly after the escape")
    out["p8_esc_end_ratio"] = float(np.exp(log_ratio(res["dist_end"][:, -1], res["dist_esc"][:, -1]).mean()))
    iv = mean_ci(log_ratio(res["dist_end"][:, -1], res["dist_esc"][:, -1]))
    out["p8_esc_end_ratio_lo"], out["p8_esc_end_ratio_hi"] = float(np.exp(iv.lo)), float(np.exp(iv.hi))
    st = res["stopped"]
    _ci(out, "p8_stop_round", st["stop"])
    _ci(out, "p8_stop_dist_end", st["dist"][:, -1])
    _ci(out, "p8_stop_err_end", st["error"][:, -1])
    _ci(out, "p8_stop_pop_end", st["pop"][:, -1])
    _ci(out, "p8_stop_gain", res["dist_end"][:, -1] - st["dist"][:, -1])
    out["p8_stop_ratio"] = float(np.exp(log_ratio(res["dist_end"][:, -1], st["dist"][:, -1]).mean()))
    iv = mean_ci(log_ratio(res["dist_end"][:, -1], st["dist"][:, -1]))
    out["p8_stop_ratio_lo"], out["p8_stop_ratio_hi"] = float(np.exp(iv.lo)), float(np.exp(iv.hi))
    for q, x in (("stop_dist_end", st["dist"][:, -1]), ("stop_err_end", st["error"][:, -1]),
                 ("stop_pop_end", st["pop"][:, -1])):
        out[f"p8_{q}_text"] = cut_text(x)
    out["p8_stop_phrase"] = _decided(fam, "stop_holds", "significantly smaller", "not significantly smaller")
    out["p8_n2s_words"] = _words(p.n2s)
    for name in ("leave", "min_round"):           # p8_leave_phrase, p8_min_round_phrase
        out[f"p8_{name}_phrase"] = _decided(fam, f"{name}_later", "comes significantly later",
                                            "does not come significantly later")
    order = leave_order(res)
    out["p8_leave_later_k"], out["p8_leave_earlier_k"] = int((order > 0).sum()), int((order < 0).sum())
    out["p8_leave_open_k"] = int((order == 0).sum())
    out["p8_leave_reading"] = leave_reading(res)
    return out


def leave_reading(res: dict) -> str:
    """What the table's leaving rounds measure, said from the censoring: where every seed at every n2 is already
    apart from its population at the escape, the rounds are only upper bounds and measure nothing of how long the
    population explains a run; otherwise they are that measure (bounds where some seeds are censored)."""
    if np.asarray(res["apart"], bool).all():
        return ("At every sample size of the table every seed's run is already apart from its population at the "
                "population's escape, so the table bounds the round at which the runs leave from above only: "
                "it does not measure how long the population explains a run with adapted heads")
    censored = np.asarray(res["apart"], bool).any() or np.asarray(res["never"], bool).any()
    return ("The rows of the table" + (", bounds where seeds are censored," if censored else "")
            + " are the chapter's measure of how long the population explains a run with adapted heads")


def regime_numbers(res: dict, p: Params) -> dict:
    """Section "Where the population stops explaining the runs": few tasks, adapted (``small_T``) and frozen
    (``small_T_frozen``): p8_<arm>_pop, p8_<arm>_err (final errors), p8_<arm>_pop_ratio, p8_<arm>_ratio
    (sigma_r / sigma_1 of W's part inside span(M), final window), each with _ci, and p8_<arm>_phrase;
    p8_<arm>_fails_med and p8_<arm>_fails_k (median over seeds of the run's final error minus its population's,
    and the seeds where it is above 0: the numbers of the signed-rank test behind p8_<arm>_phrase);
    p8_small_T_heads (adapted minus frozen runs' final error, paired, _ci), p8_small_T_heads_med (its median),
    p8_small_T_heads_k (seeds where it is above 0) and p8_small_T_heads_phrase (signed-rank test); the same
    ratio for T tasks, adapted heads at the last round (p8_ratio_pop_end, p8_ratio_end_nmax) and frozen heads
    (p8_ratio_pop_frozen); the quadratic family: p8_even_nmin, p8_even_nmax (final errors, with _ci),
    p8_even_phrase. The [0, 1] quantities also as text cut to [0, 1] (``_text``, :func:`cut_text`); the
    few-task errors with their median and the count of seeds above the recovery level where seeds split
    (p8_<arm>_pop_text, p8_<arm>_err_text, :func:`split_text`; p8_<arm>_pop_fail, p8_<arm>_err_fail);
    p8_small_T_pop_ratio_phrase (the frozen few-task population's ratio against the adapted one's, Holm) and
    p8_small_T_mechanism (the reading, said only where the ratios and the runs' errors are ordered alike)."""
    fam, out = comparison_family(res, p), {}
    fin = lambda tr, key: final(tr[key], tr["round"])
    for arm in ("small_T", "small_T_frozen"):     # p8_small_T_*, p8_small_T_frozen_*
        tr = res[arm]
        _ci(out, f"p8_{arm}_pop", fin(tr, "pop"))
        _ci(out, f"p8_{arm}_err", fin(tr, "error"))
        _ci(out, f"p8_{arm}_pop_ratio", fin(tr, "pop_ratio"))
        _ci(out, f"p8_{arm}_ratio", fin(tr, "ratio"))
        out[f"p8_{arm}_phrase"] = _decided(fam, f"{arm}_fails", "significantly above", "not significantly above")
        above = fin(tr, "error") - fin(tr, "pop")     # the signed-rank test's per-seed differences
        out[f"p8_{arm}_fails_med"] = float(np.median(above))
        out[f"p8_{arm}_fails_k"] = int((above > 0).sum())
        for q in ("pop", "error"):                # p8_<arm>_pop_text, p8_<arm>_err_text (median, k of n)
            x = fin(tr, q)
            out[f"p8_{arm}_{'pop' if q == 'pop' else 'err'}_text"] = split_text(x, x > LEARN_LEVEL,
                                                                             "above the recovery level")
            out[f"p8_{arm}_{'pop' if q == 'pop' else 'err'}_fail"] = int((x > LEARN_LEVEL).sum())
        for q in ("pop_ratio", "ratio"):
            out[f"p8_{arm}_{q}_text"] = cut_text(fin(tr, q))
    gap = fin(res["small_T"], "error") - fin(res["small_T_frozen"], "error")
    _ci(out, "p8_small_T_heads", gap)
    out["p8_small_T_heads_med"] = float(np.median(gap))
    out["p8_small_T_heads_k"] = int((gap > 0).sum())
    gap_up = pseudo_median(gap) > 0                  # the side the signed-rank test decides on
    out["p8_small_T_heads_phrase"] = (("significantly above" if gap_up else "significantly below")
                                      if fam["small_T_heads"] else "not significantly different from")
    # the mechanism sentence: said only where the populations' ratios and the runs' errors are ordered alike
    # (the arm whose population keeps its weakest in-span direction stronger ends with the smaller run error)
    ratio = log_ratio(fin(res["small_T_frozen"], "pop_ratio"), fin(res["small_T"], "pop_ratio"))
    ratio_word = ("larger" if ratio.mean() > 0 else "smaller") if fam["small_T_pop_ratio"] else "undecided"
    err_word = ("smaller" if gap_up else "larger") if fam["small_T_heads"] else "undecided"
    # frozen heads' population ratio larger and their runs' error smaller (or both the other way): ordered alike
    alike = {ratio_word, err_word} == {"larger", "smaller"}
    out["p8_small_T_pop_ratio_phrase"] = {"larger": "significantly larger than", "smaller":
                                          "significantly smaller than"}.get(ratio_word, "not significantly different from")
    if alike:
        out["p8_small_T_mechanism"] = (
            "The two arms are ordered alike on both counts: the arm whose population keeps its weakest in-span "
            "direction at the larger fraction of its strongest also ends with the smaller run error. That fits a "
            "reading in which a run keeps a direction of span(M) only while that direction outweighs the run's "
            "sampling noise outside span(M); this chapter does not test that mechanism")
    else:
        out["p8_small_T_mechanism"] = (
            "The two arms are not ordered alike on both counts (population ratio and run error), so these runs "
            "give no support to a reading in which a run keeps a direction of span(M) only while it outweighs the "
            "run's sampling noise")
    ad = res["adapted"][p.n2s[-1]]
    _ci(out, "p8_ratio_pop_end", ad["pop_ratio"][:, -1])
    _ci(out, "p8_ratio_end_nmax", ad["ratio"][:, -1])
    _ci(out, "p8_ratio_pop_frozen", fin(res["frozen"][p.n2s[-1]], "pop_ratio"))
    _ci(out, "p8_even_nmin", fin(res["even"][p.n2s[0]], "error"))
    _ci(out, "p8_even_nmax", fin(res["even"][p.n2s[-1]], "error"))
    for name, x in (("ratio_pop_end", ad["pop_ratio"][:, -1]), ("ratio_end_nmax", ad["ratio"][:, -1]),
                    ("ratio_pop_frozen", fin(res["frozen"][p.n2s[-1]], "pop_ratio")),
                    ("even_nmin", fin(res["even"][p.n2s[0]], "error")),
                    ("even_nmax", fin(res["even"][p.n2s[-1]], "error"))):
        out[f"p8_{name}_text"] = cut_text(x)
    out["p8_even_phrase"] = _decided(fam, "even_learns", "learn span(M) (final error significantly below",
                                     "do not clearly learn span(M) (final error not significantly below")
    return out


def verdict_numbers(res: dict, p: Params) -> dict:
    """p8_verdict (the whole verdict, reasons included), p8_verdict_word (its first words), p8_verdict_n_failed
    and p8_verdict_reason (:func:`verdict_reason`: how many of the four explaining criteria fail, and one clause
    naming them), p8_headline (the headline numbers of the first screen), p8_gap_nmax_hi,
    p8_dist_esc_hi, p8_dist_end_hi (the upper bounds the criteria compare); the positive control of criterion
    (d): p8_stop_dist_end_hi (its bound for the heads stopped at the escape) and p8_stop_criterion_phrase
    ("passes" or "fails too")."""
    hi = lambda x: float(mean_ci(x).hi)
    stop = hi(res["stopped"]["dist"][:, -1])
    n_failed, reason = verdict_reason(res, p)
    return {"p8_verdict": res["verdict"], "p8_verdict_word": verdict_word(res, p),
            "p8_verdict_n_failed": n_failed, "p8_verdict_reason": reason,
            "p8_headline": (f"the frozen-head runs' distance from their population at n2 = {p.n2s[-1]} is "
                            f"{cut_text(res['gap_n'][:, -1])} (the verdict's level: {GAP_LEVEL})"),
            "p8_gap_nmax_hi": hi(res["gap_n"][:, -1]), "p8_dist_esc_hi": hi(res["dist_esc"][:, -1]),
            "p8_dist_end_hi": hi(res["dist_end"][:, -1]), "p8_stop_dist_end_hi": stop,
            "p8_stop_criterion_phrase": "passes" if stop < GAP_LEVEL else "fails too"}


def summary(res: dict, p: Params) -> dict:
    """Every number and computed phrase the chapter's prose quotes."""
    out = {}
    for part in (setting_numbers, gap_numbers, slope_numbers, adapted_numbers, regime_numbers, verdict_numbers):
        out.update(part(res, p))
    out.update(explore_numbers())
    return out


def power_fit(x, Y) -> np.ndarray:
    """The power law of the mean per-seed fit on ``x`` (for the figures): exp(mean intercept) x^(mean slope)."""
    lx, lY = np.log(np.asarray(x, float)), np.log(np.asarray(Y, float))
    s = slopes(x, Y)
    icept = (lY.mean(axis=1) - s * lx.mean()).mean()
    return np.exp(icept + s.mean() * lx)


def sketch_line(x, Y) -> np.ndarray:
    """x^(-1/2) through the geometric mean of the data (for the figures)."""
    lx, lY = np.log(np.asarray(x, float)), np.log(np.asarray(Y, float))
    return np.exp(lY.mean() + SKETCH_SLOPE * (lx - lx.mean()))


# ----------------------------------------------------------------------------------------------- the explorer

#: the explorer's initial values and sizes (the prose quotes them)
EXPLORE = {"head_mode": "adapted", "n2": 80, "T": 20, "d": 40, "r": 5, "m": 80, "rounds": 60, "seed": 0}
#: every value each control offers in Jupyter, and the values the book precomputes (each holds the initial one)
EXPLORE_VALUES = {"head_mode": ("frozen", "adapted"), "n2": (20, 40, 80, 160, 320, 640, 1280, 2560),
                  "T": (5, 10, 20, 40)}
EXPLORE_STATIC = {"head_mode": ("frozen", "adapted"), "n2": (20, 80, 320), "T": (5, 20)}


def explore_numbers() -> dict:
    """p8_explore_d, p8_explore_m, p8_explore_rounds, p8_explore_static_n, p8_explore_static_T (the book's values
    in words), p8_explore_values_n, p8_explore_values_T (Jupyter's), p8_explore_Tmin (the book's fewest tasks)."""
    return {"p8_explore_d": EXPLORE["d"], "p8_explore_m": EXPLORE["m"], "p8_explore_rounds": EXPLORE["rounds"],
            "p8_explore_static_n": _words(EXPLORE_STATIC["n2"]), "p8_explore_static_T": _words(EXPLORE_STATIC["T"]),
            "p8_explore_values_n": _words(EXPLORE_VALUES["n2"]), "p8_explore_values_T": _words(EXPLORE_VALUES["T"]),
            "p8_explore_Tmin": min(EXPLORE_STATIC["T"])}


def explore(head_mode: str, n2: int, T: int) -> dict:
    """One seed (cheap, for the live explorer): the finite run beside its population at the explorer's sizes, as
    :func:`mtrl_lib.population.paired` records them (errors of both and the distance between them)."""
    e = EXPLORE
    p = Params(d=e["d"], r=e["r"], m=e["m"], T=T, seeds=(e["seed"], e["seed"] + 1), rounds=e["rounds"],
               rounds_adapted=e["rounds"], T_values=(max(T, 2 * e["r"]), 2 * max(T, 2 * e["r"])))
    return paired(TrainConfig(seed=e["seed"], **_config(p, mode=head_mode, n2=n2)))
