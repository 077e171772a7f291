"""Chapter "The population limit against the runs" (beyond the paper): how much of the finite-sample behaviour the
solved population dynamics of :mod:`mtrl_lib.population` explain, and where they stop explaining it.

Every run here uses the **correlation loss** l(y f) = -y f with zero bias, the only loss whose population
:mod:`mtrl_lib.population` solves exactly (chapters 1-7 train with the logistic loss; this is a different loss).
Step sizes are the grid's for the linear family (:data:`mtrl_lib.experiments.step_sizes.STEP_SIZES`, selected for
the logistic loss and reused unchanged: nothing was tuned for this chapter). Units (:mod:`mtrl_lib.units`):
finite-sample runs :func:`mtrl_lib.train.trajectory_unit` and population trajectories
:func:`mtrl_lib.population.population_unit` on the same seed (same M, tasks, initial W and heads), so every
gap is paired per seed.

1. **Frozen heads** (the clean comparison; the population converges to a fixed point): heads frozen at the
   matched norm :data:`MATCHED_HEAD_NORM` and eta_W = :data:`~mtrl_lib.experiments.step_sizes.FROZEN_ETA_W`,
   ``rounds`` rounds, at each n2 of ``n2s``; the **final-error gap** of a seed is the finite run's final error
   minus the population's (final error: mean recorded error over the last :data:`TAIL` of the rounds, as
   chapter 6). Its slope in log n2, and in log T at ``n2_T`` over ``T_values``, per seed with a 95% t interval,
   beside the sketch sqrt(d / (T n2)) (slope -1/2 in both).
2. **Adapted heads** (the paper's algorithm): ``rounds_adapted`` rounds at each n2 (n1 = n2); the gap at
   ``track_round`` and at the last round.
3. **Where it fails**: adapted heads at ``T_small`` tasks (n2 = the largest of ``n2s``, ``rounds`` rounds); the
   ``quadratic`` family with frozen heads at the smallest and largest n2 (no population: its labels are even, so
   E[y x] = 0 and the closed forms (p1), (p2) do not apply; the chapter derives no second-order step).

The verdict (:func:`verdict`) and the glued comparison words (:func:`comparison_family`, Holm) are below.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ..comparisons import Family, equivalent
from ..metrics import RECOVERED_COSINE
from ..population import population_unit
from ..stats import enough_seeds, mean_ci, paired_ci, undecided
from ..train import CONTROLS, trajectory_unit
from ..units import run_units, unit
from .common import ChapterParams, Choice, Float, Int, IntList, check_rounds_multiple
from .step_sizes import FROZEN_ETA_W, STEP_SIZES

TAIL = 0.2
#: the learning requirement of the verdict: chapter 2's recovery level, the error of a W whose worst principal
#: cosine with span(M) is 0.9 (a random W, and so a run that learns nothing, stays near 1)
LEARN_LEVEL = math.sqrt(1.0 - RECOVERED_COSINE ** 2)
#: the verdict's bound on the gap (the issue's proposal, fixed before the first run)
GAP_LEVEL = 0.05
#: the slope of the sketch sqrt(d / (T n2)) in log n2 and in log T
SKETCH_SLOPE = -0.5
#: the declared margin of the equivalence test (TOST) of a fitted slope with the sketch's
SLOPE_MARGIN = 0.2
#: frozen heads' RMS entry: the matched norm of the step-size grid (mtrl_lib/experiments/step_size_grid.json,
#: "frozen" part, linear family: the RMS head entry of the adapted linear run at STEP_SIZES after the grid's
#: budget, mean over the 3 held-out seeds = 16.997), to 3 significant digits; chapter 5's matching rule
MATCHED_HEAD_NORM = 17.0
#: the only family with an exact population (mtrl_lib.population), and the even family of section 3
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
    rounds: int = 100                             # rounds of the frozen-head runs (the grid's budget)
    rounds_adapted: int = 40                      # rounds of the adapted-head runs
    track_round: int = 20                         # the round at which the adapted runs are compared (verdict)
    T_values: tuple[int, ...] = (10, 20, 40, 80)  # numbers of tasks of the gap-against-T fit, increasing, >= 2r
    n2_T: int = 80                                # samples per task and phase of the gap-against-T fit
    T_small: int = 5                              # tasks of the small-T regime (adapted heads)
    eta_a: float = STEP_SIZES["linear"][0]        # head step (grid rule, linear family)
    eta_W: float = STEP_SIZES["linear"][1]        # feature step, adapted heads (grid rule)
    eta_W_frozen: float = FROZEN_ETA_W["linear"]  # feature step, frozen heads (grid rule)
    head_norm: float = MATCHED_HEAD_NORM          # frozen heads' RMS entry (the grid's matched norm)
    record_every: int = 2                         # rounds between recorded errors
    control: str = "none"                         # "none", or a negative control of mtrl_lib.train (tests)

    constraints = {
        "family": _family, "n2s": IntList(1, 1_000_000, increasing=True), "rounds_adapted": Int(1, 1_000_000),
        "track_round": Int(1, 1_000_000), "T_values": IntList(1, 100_000, increasing=True),
        "n2_T": Int(1, 1_000_000), "T_small": Int(1, 100_000), "head_norm": Float(0.0, 1e6, lo_open=True),
        "control": Choice(CONTROLS),
    }

    def check(self) -> None:
        super().check()
        if len(self.n2s) < 2 or len(self.T_values) < 2:
            raise ValueError(f"n2s and T_values must hold at least 2 values each (a slope), got {list(self.n2s)} "
                             f"and {list(self.T_values)}")
        if self.T_values[0] < 2 * self.r:
            raise ValueError(f"T_values must all be at least 2 r = {2 * self.r} (nearer r the tasks' conditioning, "
                             f"not the samples, sets the gap), got {list(self.T_values)}")
        for name in ("rounds", "rounds_adapted", "track_round"):
            check_rounds_multiple(name, getattr(self, name), "record_every", self.record_every)
        if self.track_round > self.rounds_adapted:
            raise ValueError(f"track_round must be at most rounds_adapted = {self.rounds_adapted}, "
                             f"got {self.track_round}")


# ------------------------------------------------------------------------------------------------- the plan

def _config(p: Params, *, mode: str, n2: int | None = None, T: int | None = None, rounds: int | None = None,
            family: str = FAMILY) -> dict:
    """One run's TrainConfig keywords (correlation loss, bias 0). ``n2=None``: a population (no samples; n1, n2
    keep TrainConfig's defaults, which the population ignores)."""
    cfg = dict(d=p.d, r=p.r, m=p.m, T=p.T if T is None else T, family=family, loss="correlation",
               rounds=(p.rounds if mode == "frozen" else p.rounds_adapted) if rounds is None else rounds,
               eta_a=p.eta_a, eta_W=p.eta_W_frozen if mode == "frozen" else p.eta_W, head_mode=mode,
               head_norm=p.head_norm if mode == "frozen" else 1.0, record_every=p.record_every,
               control=p.control, device=p.device)
    if n2 is not None:
        cfg.update(n1=n2, n2=n2)
    return cfg


def plan(p: Params) -> dict:
    """``{point: (unit function, configuration)}``. Points: ("frozen" | "adapted", n2) and ("frozen_T", T) finite
    runs, ("pop_frozen", T), ("pop_adapted",) populations, ("small_T",) and ("pop_small_T",), ("even", n2)."""
    pts = {}
    for mode in ("frozen", "adapted"):
        for n2 in p.n2s:
            pts[mode, n2] = (trajectory_unit, _config(p, mode=mode, n2=n2))
    for T in p.T_values:
        pts["frozen_T", T] = (trajectory_unit, _config(p, mode="frozen", n2=p.n2_T, T=T))
        pts["pop_frozen", T] = (population_unit, _config(p, mode="frozen", T=T))
    pts["pop_frozen", p.T] = (population_unit, _config(p, mode="frozen"))
    pts["pop_adapted",] = (population_unit, _config(p, mode="adapted"))
    pts["small_T",] = (trajectory_unit, _config(p, mode="adapted", n2=p.n2s[-1], T=p.T_small, rounds=p.rounds))
    pts["pop_small_T",] = (population_unit, _config(p, mode="adapted", T=p.T_small, rounds=p.rounds))
    for n2 in (p.n2s[0], p.n2s[-1]):
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

def final_error(errors: np.ndarray, rounds: np.ndarray) -> np.ndarray:
    """Mean recorded error over the last :data:`TAIL` of the rounds, per seed. ``errors: (seeds, records)``."""
    keep = rounds >= rounds[-1] * (1 - TAIL)
    return errors[:, keep].mean(axis=1)


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
    """``{"round": (records,), "error": (seeds, records), "energy": (seeds, records)}`` from unit results."""
    return {"round": np.asarray(rows[0]["round"], float),
            "error": np.asarray([r["subspace_error"] for r in rows], float),
            "energy": np.asarray([r["energy"] for r in rows], float)}


def reduce(per_point: dict, p: Params) -> dict:
    """Arrays over seeds. ``frozen[n2]``, ``adapted[n2]``, ``frozen_T[T]``, ``pop_frozen[T]``, ``pop_adapted``,
    ``small_T``, ``pop_small_T``, ``even[n2]``: trajectories (:func:`_traj`); ``gap_n`` (seeds, len(n2s)),
    ``gap_T`` (seeds, len(T_values)): final-error gaps (finite - population, paired per seed); ``track_gap``,
    ``end_gap`` (seeds, len(n2s)): adapted gaps at ``track_round`` and at the last round; ``slope_n``,
    ``slope_T`` (seeds,); ``scale_n`` (seeds, len(n2s)): gap / sqrt(d / (T n2)); ``verdict``."""
    t = {pt: _traj(rows) for pt, rows in per_point.items()}
    res = {"frozen": {n: t["frozen", n] for n in p.n2s}, "adapted": {n: t["adapted", n] for n in p.n2s},
           "frozen_T": {T: t["frozen_T", T] for T in p.T_values},
           "pop_frozen": {T: t["pop_frozen", T] for T in set(p.T_values) | {p.T}},
           "pop_adapted": t["pop_adapted",], "small_T": t["small_T",], "pop_small_T": t["pop_small_T",],
           "even": {n: t["even", n] for n in (p.n2s[0], p.n2s[-1])}}
    fe = lambda tr: final_error(tr["error"], tr["round"])
    pop = fe(res["pop_frozen"][p.T])
    res["pop_final"] = pop
    res["final_n"] = np.stack([fe(res["frozen"][n]) for n in p.n2s], axis=1)
    res["gap_n"] = res["final_n"] - pop[:, None]
    res["gap_T"] = np.stack([fe(res["frozen_T"][T]) - fe(res["pop_frozen"][T]) for T in p.T_values], axis=1)
    res["scale_n"] = res["gap_n"] / np.sqrt(p.d / (p.T * np.asarray(p.n2s, float)))[None, :]
    pa = res["pop_adapted"]
    i_track = int(np.searchsorted(pa["round"], p.track_round))
    res["track_pop"] = pa["error"][:, i_track]
    res["track_err"] = np.stack([res["adapted"][n]["error"][:, i_track] for n in p.n2s], axis=1)
    res["track_gap"] = res["track_err"] - res["track_pop"][:, None]
    res["end_gap"] = np.stack([res["adapted"][n]["error"][:, -1] - pa["error"][:, -1] for n in p.n2s], axis=1)
    res["small_T_gap"] = fe(res["small_T"]) - fe(res["pop_small_T"])
    res["slope_n"] = slopes(p.n2s, res["gap_n"])
    res["slope_T"] = slopes(p.T_values, res["gap_T"])
    res["verdict"] = verdict(res, p)
    return res


# --------------------------------------------------------------------------------------------- the verdict

def verdict(res: dict, p: Params) -> str:
    """The chapter's claim, decided on 95% t intervals over seeds (criteria fixed before the first run; a verdict
    that needs every test to pass is an intersection test, so these are not Holm-corrected):

    (i) **learning** (a run that learns nothing fails): the upper bounds of the frozen-head population's final
        error and of the finite frozen runs' final error at the largest n2 are below :data:`LEARN_LEVEL`, and so
        are the adapted population's and the adapted runs' (largest n2) errors at ``track_round``;
    (ii) **the population explains the runs at large n2**: (a) the upper bound of the frozen final-error gap at the
        largest n2 is below :data:`GAP_LEVEL`; (b) that gap falls significantly from the smallest n2 to the
        largest (paired interval of the difference entirely below 0); (c) at ``track_round`` the upper bound of
        the adapted runs' absolute gap at the largest n2 is below :data:`GAP_LEVEL`.

    "reproduced" when all hold; "partly reproduced (...)" when (i) holds and (ii) fails; "not reproduced (...)"
    when (i) fails. Fewer than 10 seeds decide nothing."""
    n = len(p.seeds)
    if not enough_seeds(n):
        return undecided(n)
    hi = lambda x: float(mean_ci(x).hi)
    learn_checks = (("frozen population's final error", res["pop_final"]),
                    (f"frozen runs' final error at n2 = {p.n2s[-1]}", res["final_n"][:, -1]),
                    (f"adapted population's error at round {p.track_round}", res["track_pop"]),
                    (f"adapted runs' error at round {p.track_round}, n2 = {p.n2s[-1]}", res["track_err"][:, -1]))
    learn = [f"{name} not below {LEARN_LEVEL:.3f} (upper bound {hi(x):.2f})"
             for name, x in learn_checks if not hi(x) < LEARN_LEVEL]
    other = []
    if not hi(res["gap_n"][:, -1]) < GAP_LEVEL:
        other.append(f"frozen gap at n2 = {p.n2s[-1]} not below {GAP_LEVEL} (upper bound {hi(res['gap_n'][:, -1]):.3f})")
    if not paired_ci(res["gap_n"][:, -1], res["gap_n"][:, 0]).hi < 0:
        other.append(f"frozen gap does not fall significantly from n2 = {p.n2s[0]} to {p.n2s[-1]}")
    track = np.abs(res["track_gap"][:, -1])
    if not hi(track) < GAP_LEVEL:
        other.append(f"adapted gap at round {p.track_round} not below {GAP_LEVEL} (upper bound {hi(track):.3f})")
    if learn:
        return "not reproduced (" + "; ".join(learn + other) + ")"
    return "reproduced" if not other else "partly reproduced (" + "; ".join(other) + ")"


def comparison_family(res: dict, p: Params) -> Family:
    """Every comparison behind a glued direction word of the chapter, decided together (Holm, 5%):
    ``gap_falls_n`` (frozen gap, largest minus smallest n2, below 0), ``gap_falls_T`` (largest minus smallest T,
    below 0), ``slope_n_sketch``, ``slope_T_sketch`` (slope minus -1/2, either side), ``adapted_leaves`` (adapted
    gap at the last round, largest n2, above 0), ``small_T_fails`` (small-T runs' final error minus the
    population's, above 0), ``even_learns`` (even family's final error at the largest n2 minus
    :data:`LEARN_LEVEL`, below 0). A slope that cannot be fitted (a gap <= 0) enters as its seeds' NaN-free
    values only if every seed has one; otherwise it is left out of the family."""
    fam = Family()
    fam.test("gap_falls_n", res["gap_n"][:, -1] - res["gap_n"][:, 0], side="below")
    fam.test("gap_falls_T", res["gap_T"][:, -1] - res["gap_T"][:, 0], side="below")
    for name in ("slope_n", "slope_T"):
        if np.isfinite(res[name]).all():
            fam.test(f"{name}_sketch", res[name], null=SKETCH_SLOPE, side="either")
    fam.test("adapted_leaves", res["end_gap"][:, -1], side="above")
    fam.test("small_T_fails", res["small_T_gap"], side="above")
    even = res["even"][p.n2s[-1]]
    fam.test("even_learns", final_error(even["error"], even["round"]), null=LEARN_LEVEL, side="below")
    return fam.decide()


# ---------------------------------------------------------------------------------------------- the summary
# Each *_numbers function returns the glue values of one section (names start with ``p8_``).

def _ci(out: dict, name: str, x) -> None:
    """``out[name]``, ``out[name + "_ci"]``: mean over seeds and the half-width of its 95% t interval."""
    iv = mean_ci(x)
    out[name], out[f"{name}_ci"] = float(iv.mean), float(iv.half)


def _decided(fam: Family, name: str, yes: str, no: str) -> str:
    return yes if fam[name] else no


def setting_numbers(res: dict, p: Params) -> dict:
    """The sizes the prose quotes: p8_d, p8_r, p8_m, p8_T, p8_n_seeds, p8_rounds, p8_rounds_adapted,
    p8_track_round, p8_eta_a, p8_eta_W, p8_eta_W_frozen, p8_head_norm, p8_nmin, p8_nmax, p8_n2_T, p8_Tmin,
    p8_Tmax, p8_T_small, p8_tail_rounds (rounds in the final-error window)."""
    return {"p8_d": p.d, "p8_r": p.r, "p8_m": p.m, "p8_T": p.T, "p8_n_seeds": len(p.seeds), "p8_rounds": p.rounds,
            "p8_rounds_adapted": p.rounds_adapted, "p8_track_round": p.track_round, "p8_eta_a": p.eta_a,
            "p8_eta_W": p.eta_W, "p8_eta_W_frozen": p.eta_W_frozen, "p8_head_norm": p.head_norm,
            "p8_nmin": p.n2s[0], "p8_nmax": p.n2s[-1], "p8_n2_T": p.n2_T, "p8_Tmin": p.T_values[0],
            "p8_Tmax": p.T_values[-1], "p8_T_small": p.T_small, "p8_tail_rounds": round(p.rounds * TAIL)}


def gap_numbers(res: dict, p: Params) -> dict:
    """Section "Population against finite samples" (frozen heads): p8_pop_final; per n2 index i (0 .. 3 for four
    n2s) p8_n{i} (the n2), p8_final_n{i}, p8_gap_n{i}, p8_scale_n{i} (gap / sqrt(d / (T n2))), each with _ci;
    p8_gap_nmin, p8_gap_nmax (with _ci), p8_gap_drop (paired smallest minus largest, with _ci) and
    p8_gap_falls_phrase."""
    out, fam = {}, comparison_family(res, p)
    _ci(out, "p8_pop_final", res["pop_final"])
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
    """How a fitted slope stands to the sketch's -1/2: Holm-decided direction, else "not distinguishable from";
    and the TOST equivalence at the declared margin."""
    if not np.isfinite(x).all():
        return "cannot be set beside the sketch's -0.5 (some gap is not positive, so its logarithm is undefined)"
    mean = float(np.mean(x))
    if fam[f"{name}_sketch"]:
        side = "steeper than" if mean < SKETCH_SLOPE else "shallower than"
        words = f"significantly {side} the sketch's {SKETCH_SLOPE:+.1f}"
    else:
        words = f"not distinguishable from the sketch's {SKETCH_SLOPE:+.1f}"
    eq = equivalent(x, SKETCH_SLOPE, SLOPE_MARGIN)
    return words + (f", and equivalent to it within the declared margin ±{SLOPE_MARGIN}" if eq else
                    f", and not shown equivalent to it within the declared margin ±{SLOPE_MARGIN}")


def slope_numbers(res: dict, p: Params) -> dict:
    """The fits: p8_slope_n, p8_slope_T (with _ci; -1 and _ci 0 when some gap is not positive), p8_slope_n_phrase,
    p8_slope_T_phrase, p8_gap_T_falls_phrase, p8_gap_Tmin, p8_gap_Tmax (with _ci), p8_slope_margin,
    p8_n_family (the Holm family's size)."""
    fam = comparison_family(res, p)
    out = {"p8_slope_margin": SLOPE_MARGIN, "p8_n_family": len(fam)}
    for name in ("slope_n", "slope_T"):
        if np.isfinite(res[name]).all():
            _ci(out, f"p8_{name}", res[name])
        else:
            out[f"p8_{name}"], out[f"p8_{name}_ci"] = -1.0, 0.0
        out[f"p8_{name}_phrase"] = _slope_words(res[name], fam, name)
    _ci(out, "p8_gap_Tmin", res["gap_T"][:, 0])
    _ci(out, "p8_gap_Tmax", res["gap_T"][:, -1])
    out["p8_gap_T_falls_phrase"] = _decided(fam, "gap_falls_T", "falls significantly", "does not fall significantly")
    return out


def regime_numbers(res: dict, p: Params) -> dict:
    """Section "Where the population stops explaining the runs": p8_track_pop, p8_track_err_nmax,
    p8_track_gap_nmax, p8_track_absgap_nmax_hi, p8_end_pop, p8_end_err_nmax, p8_end_gap_nmax, p8_end_err_nmin
    (with _ci), p8_adapted_phrase; p8_small_T_pop, p8_small_T_err (final errors, with _ci), p8_small_T_phrase;
    p8_even_nmin, p8_even_nmax (final errors, with _ci), p8_even_phrase; p8_learn_level."""
    fam, out = comparison_family(res, p), {"p8_learn_level": LEARN_LEVEL}
    pa = res["pop_adapted"]
    _ci(out, "p8_track_pop", res["track_pop"])
    _ci(out, "p8_track_err_nmax", res["track_err"][:, -1])
    _ci(out, "p8_track_gap_nmax", res["track_gap"][:, -1])
    out["p8_track_absgap_nmax_hi"] = float(mean_ci(np.abs(res["track_gap"][:, -1])).hi)
    _ci(out, "p8_end_pop", pa["error"][:, -1])
    _ci(out, "p8_end_err_nmax", res["adapted"][p.n2s[-1]]["error"][:, -1])
    _ci(out, "p8_end_err_nmin", res["adapted"][p.n2s[0]]["error"][:, -1])
    _ci(out, "p8_end_gap_nmax", res["end_gap"][:, -1])
    out["p8_adapted_phrase"] = _decided(fam, "adapted_leaves", "have left the population significantly",
                                        "have not left the population significantly")
    fe = lambda tr: final_error(tr["error"], tr["round"])
    _ci(out, "p8_small_T_pop", fe(res["pop_small_T"]))
    _ci(out, "p8_small_T_err", fe(res["small_T"]))
    out["p8_small_T_phrase"] = _decided(fam, "small_T_fails", "significantly above", "not significantly above")
    _ci(out, "p8_even_nmin", fe(res["even"][p.n2s[0]]))
    _ci(out, "p8_even_nmax", fe(res["even"][p.n2s[-1]]))
    out["p8_even_phrase"] = _decided(fam, "even_learns", "learn span(M) (final error significantly below",
                                     "do not clearly learn span(M) (final error not significantly below")
    return out


def verdict_numbers(res: dict, p: Params) -> dict:
    """p8_verdict, p8_gap_level, p8_gap_nmax_hi (the upper bound the criterion compares), p8_recovered_cosine."""
    return {"p8_verdict": res["verdict"], "p8_gap_level": GAP_LEVEL,
            "p8_gap_nmax_hi": float(mean_ci(res["gap_n"][:, -1]).hi), "p8_recovered_cosine": RECOVERED_COSINE}


def summary(res: dict, p: Params) -> dict:
    """Every number and computed phrase the chapter's prose quotes."""
    out = {}
    for part in (setting_numbers, gap_numbers, slope_numbers, regime_numbers, verdict_numbers):
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
EXPLORE = {"head_mode": "frozen", "n2": 80, "T": 20, "d": 40, "r": 5, "m": 80, "rounds": 60, "seed": 0}
#: every value each control offers in Jupyter, and the values the book precomputes (each holds the initial one)
EXPLORE_VALUES = {"head_mode": ("frozen", "adapted"), "n2": (20, 40, 80, 160, 320, 640, 1280, 2560),
                  "T": (5, 10, 20, 40)}
EXPLORE_STATIC = {"head_mode": ("frozen", "adapted"), "n2": (20, 80, 320), "T": (20,)}


def explore_numbers() -> dict:
    """p8_explore_d, p8_explore_m, p8_explore_rounds, p8_explore_T, p8_explore_static_n (the book's n2 values,
    in words)."""
    *head, last = (str(v) for v in EXPLORE_STATIC["n2"])
    return {"p8_explore_d": EXPLORE["d"], "p8_explore_m": EXPLORE["m"], "p8_explore_rounds": EXPLORE["rounds"],
            "p8_explore_T": EXPLORE["T"], "p8_explore_static_n": f"{', '.join(head)} and {last}"}


def explore(head_mode: str, n2: int, T: int) -> dict:
    """One seed (cheap, for the live explorer): the finite run and the population at the explorer's sizes,
    ``{"finite": trajectory, "population": trajectory}`` as :func:`mtrl_lib.train.trajectory_unit`."""
    e = EXPLORE
    p = Params(d=e["d"], r=e["r"], m=e["m"], T=T, seeds=(e["seed"], e["seed"] + 1), rounds=e["rounds"],
               rounds_adapted=e["rounds"])
    fin = trajectory_unit(e["seed"], **_config(p, mode=head_mode, n2=n2))
    pop = population_unit(e["seed"], **_config(p, mode=head_mode))
    return {"finite": fin, "population": pop}
