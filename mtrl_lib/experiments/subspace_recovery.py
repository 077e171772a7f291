"""Chapter 2 (claim C2): multi-task training recovers span(M), and (the book's reading) better with more tasks.

Units. One unit (:func:`train_unit`) is one training run of the alternating algorithm
(:func:`mtrl_lib.train.train`) for one family, one number of tasks T and one seed. For one seed, M and the
initial W come from the seed's own streams whatever T and the family are, so the runs over T (and across the
two families) are paired. A unit records the subspace error and the energy in span(M) every ``record_every``
rounds; at the end, the principal cosines, the directions recovered, the spectrum of W inside span(M), and
for linear tasks the eigenvalues of the tasks' second-moment matrix Sigma_T with the share of W's energy
along each of its eigenvectors (the collapse diagnostic).

Every task brings n2 fresh samples to every feature step, so a feature step at T tasks uses T n2 samples: "more
tasks" here always means "more tasks, each with its own fresh samples". Chapter 6 holds the total fixed.

Analysis. :func:`reduce` stacks the units' results; :func:`summary` returns every number and every computed
phrase the chapter's prose quotes (glue names ``c2_...``); :func:`verdict` decides the claim on 95% confidence
bounds over seeds (:mod:`mtrl_lib.stats`). The comparative words of the prose ("lower than", "recovered",
"still falling") come from one family of tests decided together with Holm's correction
(:func:`comparison_family`), so a sentence changes when the data do.

The recovery level. The verdict's absolute requirement is that the upper 95% bound of the mean final subspace
error at the largest T lies below ``RECOVERY_LEVEL = sqrt(1 - 0.9^2) = 0.436``: the error of a W whose worst
principal cosine with span(M) is 0.9, the cosine at which the book counts a direction as recovered
(:data:`mtrl_lib.metrics.RECOVERED_COSINE`). It sits far below the error of a random W (about 1 when d >> r;
measured at round 0 in every run), so a run that learns nothing fails it.

Step sizes are per family and come from the documented grid in :mod:`mtrl_lib.experiments.step_sizes`, read at
the quick profile's round budgets (the prose says what the grid picks at this run's budgets).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from scipy import stats as _st

from .. import stats
from ..comparisons import Family, add_pvalue, changed_by_correction
from ..metrics import RECOVERED_COSINE, principal_cosines
from ..tasks import FAMILIES
from ..threads import one_thread
from ..train import CONTROLS, TrainConfig, train
from ..units import run_units, unit
from . import step_sizes
from .common import ChapterParams, Choice, ChoiceList, IntList, check_rounds_multiple, check_seed_count
from .step_sizes import STEP_SIZES

#: the subspace error sqrt(1 - c^2) of a W whose worst principal cosine with span(M) is c = 0.9, the cosine
#: at which a direction counts as recovered (the error's definition is in mtrl_lib.metrics)
RECOVERY_LEVEL = math.sqrt(1.0 - RECOVERED_COSINE ** 2)
#: the error above which a seed has *lost* a direction: its worst principal cosine is below RECOVERY_LEVEL
#: (= 0.436), the mirror of "recovered" (worst cosine at least 0.9); sqrt(1 - 0.436^2) = 0.9
LOST_LEVEL = math.sqrt(1.0 - RECOVERY_LEVEL ** 2)

#: the explorer's initial values (the prose quotes them) and the size of its run
EXPLORE = {"T": 10, "d": 50, "family": "linear", "eta_W": 0.05, "r": 5, "m": 100, "n": 50, "rounds": 100,
           "seed": 0}
#: the values the explorer's controls offer in Jupyter (the notebook builds its controls from them and EXPLORE)
EXPLORE_VALUES = {"T": (1, 2, 5, 10, 20, 50, 100), "d": (20, 50, 100, 200, 400), "family": FAMILIES,
                  "eta_W": (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)}
#: the values precomputed for the static book (a subset of EXPLORE_VALUES; d stays at its initial value)
EXPLORE_STATIC = {"T": (1, 5, 10, 100), "d": (EXPLORE["d"],), "family": ("linear", "quadratic"),
                  "eta_W": (0.05, 0.5)}


@dataclass(frozen=True)
class Params(ChapterParams):
    d: int = 100                                   # ambient dimension of x
    r: int = 5                                     # latent dimension: labels depend on x through M^T x only
    m: int = 200                                   # neurons (rows of W)
    n1: int = 50                                   # fresh samples per task in each head phase
    n2: int = 50                                   # fresh samples per task in each feature phase
    rounds: int = 100                              # training rounds for the linear family
    rounds_quadratic: int = 150                    # training rounds for the quadratic family
    T_values: tuple[int, ...] = (1, 5, 20, 100)    # numbers of tasks, increasing: 1, a middle T, ..., the largest
    family: str = "linear"                         # the headline family (the first figure, the intro's numbers)
    families: tuple[str, ...] = ("linear", "quadratic")   # families compared against T (the headline one added)
    eta_a_linear: float = STEP_SIZES["linear"][0]          # head step, linear family (from the step-size grid)
    eta_W_linear: float = STEP_SIZES["linear"][1]          # feature step, linear family
    eta_a_quadratic: float = STEP_SIZES["quadratic"][0]    # head step, quadratic family
    eta_W_quadratic: float = STEP_SIZES["quadratic"][1]    # feature step, quadratic family
    bias_scale: float = 0.0                        # scale of the fixed random biases b (0: no bias)
    record_every: int = 5                          # record error and energy every this many rounds
    control: str = "none"                          # negative control: "shuffled_labels" or "swapped_heads"

    constraints: ClassVar[dict] = {
        "T_values": IntList(1, 100_000, increasing=True), "family": Choice(FAMILIES),
        "families": ChoiceList(FAMILIES), "control": Choice(CONTROLS),
    }

    def check(self) -> None:
        super().check()
        if self.T_values[0] != 1 or len(self.T_values) < 3:
            raise ValueError(f"T_values must start at 1 (the single-task baseline) and hold at least two larger T "
                             f"(the verdict compares the largest with the one before it), got {list(self.T_values)}")
        if self.r < 2 and "quadratic" in self.all_families:
            raise ValueError(f"r must be >= 2 when the quadratic family is used, got {self.r}")
        check_seed_count(self.seeds)            # the one wording of every chapter (experiments/common.py)
        for f in self.all_families:        # the curves and the common-round comparison read these records
            check_rounds_multiple("rounds_quadratic" if f == "quadratic" else "rounds", self.rounds_for(f),
                                  "record_every", self.record_every)

    @property
    def all_families(self) -> tuple[str, ...]:
        """The headline family first, then the others of ``families``."""
        return tuple(dict.fromkeys((self.family, *self.families)))

    def rounds_for(self, family: str) -> int:
        return self.rounds_quadratic if family == "quadratic" else self.rounds

    def train_kwargs(self, family: str, T: int) -> dict:
        """The keyword arguments of one run's :class:`TrainConfig`, less the seed (the one place the chapter's
        choices meet TrainConfig)."""
        return dict(d=self.d, r=self.r, m=self.m, T=T, family=family, n1=self.n1, n2=self.n2,
                    rounds=self.rounds_for(family), eta_a=getattr(self, f"eta_a_{family}"),
                    eta_W=getattr(self, f"eta_W_{family}"), bias_scale=self.bias_scale, device=self.device,
                    record_every=self.record_every, control=self.control)


# ----------------------------------------------------------------------------------------------- one run

def spectra(W: torch.Tensor, M: torch.Tensor) -> np.ndarray:
    """Eigenvalues of M^T W^T W M / ||W M||_F^2, descending: how W's energy inside span(M) is spread over
    r orthogonal directions (1/r each when spread evenly; (1, 0, ...) when every row points one way)."""
    P = (W.double() @ M.double())
    ev = torch.linalg.eigvalsh(P.T @ P).flip(0).clamp_min(0)
    return (ev / ev.sum()).cpu().numpy()


def task_spectrum(tasks, W: torch.Tensor, M: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """For linear tasks: the eigenvalues of Sigma_T = (1/T) sum_t v_t v_t^T, descending (they sum to 1; the
    matrix the first feature step multiplies the rows' span(M) part by, see the chapter's sketch), and the
    share of W's energy inside span(M) along each of Sigma_T's eigenvectors, in the same order,
    diag(Q^T M^T W^T W M Q) / ||W M||_F^2. NaN for other families."""
    r = M.shape[1]
    if tasks.family != "linear":
        return np.full(r, np.nan), np.full(r, np.nan)
    V = tasks.params.double()
    ev, Q = torch.linalg.eigh(V.T @ V / V.shape[0])
    ev, Q = ev.flip(0).clamp_min(0), Q.flip(1)
    P = W.double() @ M.double() @ Q
    share = P.pow(2).sum(0) / P.pow(2).sum()
    return ev.cpu().numpy(), share.cpu().numpy()


def one_run(cfg: TrainConfig) -> dict:
    """Train once and return the trajectory and the end-of-training diagnostics as numpy arrays."""
    res = train(cfg)
    cos = principal_cosines(res.W, res.M).cpu().numpy()
    with one_thread():                     # same bits whatever the process's thread count
        ts, along = task_spectrum(res.tasks, res.W, res.M)
        ws = spectra(res.W, res.M)
    return {
        "round": res.history["round"], "error": res.history["subspace_error"], "energy": res.history["energy"],
        "cosines": cos, "recovered": int((cos >= RECOVERED_COSINE).sum()), "w_spectrum": ws,
        "task_spectrum": ts, "w_along_tasks": along,
    }


def train_unit(seed: int, **train_kwargs) -> dict:
    """The chapter's unit: one training run, ``TrainConfig(seed=seed, **train_kwargs)``
    (``train_kwargs`` from :meth:`Params.train_kwargs`)."""
    return one_run(TrainConfig(seed=seed, **train_kwargs))


def run(p: Params, executor=None) -> dict:
    """All of chapter 2's runs, reduced by :func:`reduce`."""
    keys = [(f, T, s) for f in p.all_families for T in p.T_values for s in p.seeds]
    units = [unit(train_unit, s, **p.train_kwargs(f, T)) for f, T, s in keys]
    runs = dict(zip(keys, run_units(units, executor, desc="C2: families x T x seeds")))
    return reduce(runs, p)


def reduce(runs: dict, p: Params) -> dict:
    """The units' results ``{(family, T, seed): train_unit(...)}`` stacked: ``{family: {key: array indexed
    [T, seed, ...]}, "T_values", "seeds", "verdict"}``. Per family: ``error``, ``energy`` (T, seed, record),
    ``round`` (record,), ``cosines``, ``w_spectrum``, ``task_spectrum``, ``w_along_tasks`` (T, seed, r),
    ``recovered``, ``final_error``, ``final_energy`` (T, seed), ``error_init``, ``energy_init`` (seed,) (the
    random W at round 0, the same for every T of a seed)."""
    out = {"T_values": np.asarray(p.T_values), "seeds": np.asarray(p.seeds)}
    for f in p.all_families:
        def stack(key):
            return np.stack([np.stack([np.asarray(runs[f, T, s][key], dtype=float) for s in p.seeds])
                             for T in p.T_values])
        fam = {key: stack(key) for key in ("error", "energy", "cosines", "w_spectrum", "task_spectrum",
                                           "w_along_tasks", "recovered")}
        fam["round"] = np.asarray(runs[f, p.T_values[0], p.seeds[0]]["round"])
        fam["final_error"] = fam["error"][..., -1]
        fam["final_energy"] = fam["energy"][..., -1]
        fam["error_init"] = fam["error"][0, :, 0]
        fam["energy_init"] = fam["energy"][0, :, 0]
        out[f] = fam
    out["verdict"] = verdict(out, p)
    return out


# ----------------------------------------------------------------------------------------------- tests

def status(per_seed, level: float = RECOVERY_LEVEL) -> str:
    """Where the 95% interval of the mean error lies relative to the recovery level, one test at 5%:
    "recovered" (upper bound below it), "not recovered" (lower bound above it), or "undecided" (the interval
    contains it). The prose's words come from :func:`comparison_family` instead (the same test, corrected)."""
    iv = stats.mean_ci(per_seed)
    if iv.hi < level:
        return "recovered"
    return "not recovered" if iv.lo > level else "undecided"


def compare(a, b, lower: str = "lower than", higher: str = "higher than",
            same: str = "not significantly different from") -> str:
    """A paired test at 5% of ``a`` against ``b`` (one value per seed each, same seeds): ``lower`` when the
    95% interval of the mean of ``a - b`` lies below 0, ``higher`` when it lies above 0, else ``same``."""
    iv = stats.paired_ci(a, b)
    return lower if iv.hi < 0 else higher if iv.lo > 0 else same


def step_noise(p: Params, T: int) -> float:
    """sqrt(d / (T n2)): the relative size of the sampling noise in *one* feature step (the chapter's sketch).
    Not a floor: the runs average it over many steps and end below it."""
    return math.sqrt(p.d / (T * p.n2))


def tail_rounds(p: Params, family: str) -> int:
    """The last stretch of a run over which "still falling" is tested: a fifth of the rounds, on the record
    grid (at least one record interval)."""
    R, e = p.rounds_for(family), p.record_every
    return min(R, e * max(1, round(0.2 * R / e)))


def record_index(fam: dict, at_round: int) -> int:
    i = int(np.searchsorted(fam["round"], at_round))
    if i >= len(fam["round"]) or fam["round"][i] != at_round:
        raise ValueError(f"round {at_round} was not recorded (records at {fam['round'][:3].tolist()}...)")
    return i


def _tail_start(result: dict, p: Params, f: str, i_T: int) -> np.ndarray:
    """Per seed, the error ``tail_rounds`` rounds before the end, at the ``i_T``-th T."""
    fam = result[f]
    return fam["error"][i_T][:, record_index(fam, p.rounds_for(f) - tail_rounds(p, f))]


def lambda_min_r(result: dict, i_T: int) -> np.ndarray:
    """Per seed, r times the smallest eigenvalue of the linear tasks' Sigma_T at the ``i_T``-th T (1 = the
    isotropic value 1/r; 0 when T < r)."""
    ts = result["linear"]["task_spectrum"][i_T]
    return ts.shape[-1] * ts[:, -1]


def rank_test(lmin, err) -> tuple[float, float]:
    """Spearman's rank correlation of ``err`` with ``lmin`` over seeds and its two-sided p-value (NaN for a
    constant input)."""
    lmin, err = np.asarray(lmin, dtype=float), np.asarray(err, dtype=float)
    if np.ptp(lmin) == 0 or np.ptp(err) == 0:
        return float("nan"), float("nan")
    res = _st.spearmanr(lmin, err)
    return float(res.statistic), float(res.pvalue)


def _T_label(T) -> str:
    return f"T = {T}"


def comparison_family(result: dict, p: Params) -> Family:
    """Every comparison behind a word the chapter glues, in one family decided with Holm's correction at 5%
    (:class:`mtrl_lib.comparisons.Family`; two-sided t tests over seeds, paired where two arms share seeds).
    The names are readable: they are the labels the prose's note on the correction lists.

    * per family and T: the mean final error against the recovery level (the words "recovered" / "not
      recovered" / "undecided");
    * per family: T_mid against T = 1, the final error against the error ``tail_rounds`` earlier at the largest
      T ("still falling"; for ``quadratic`` at T_mid too); for the headline family, the largest T against T = 1
      and the single-task run's energy in span(M) against the random W's;
    * both families: quadratic against linear at T_mid, at the largest T (error and energy) and at the common
      round;
    * linear: W's energy along Sigma_T's strongest against its weakest eigenvector (T_mid, largest T), and the
      rank correlation of the final error at T_mid with r lambda_min(Sigma_T) (Spearman, "below": negative)."""
    fam, Ts = Family(), p.T_values
    for f in p.all_families:
        fe = result[f]["final_error"]
        for j, T in enumerate(Ts):
            fam.test(f"{f}, {_T_label(T)}: error against the recovery level", fe[j], null=RECOVERY_LEVEL)
        fam.test(f"{f}: T = {Ts[1]} against T = 1", fe[1] - fe[0])
        if f == p.family:
            fam.test(f"{f}: T = {Ts[-1]} against T = 1", fe[-1] - fe[0])
            fam.test(f"{f}, T = 1: energy against the random W's", result[f]["final_energy"][0]
                     - result[f]["energy_init"])
        fam.test(f"{f}, {_T_label(Ts[-1])}: still falling", fe[-1] - _tail_start(result, p, f, len(Ts) - 1))
        if f == "quadratic":            # the under-training reading of T_mid (family_comparison)
            fam.test(f"{f}, {_T_label(Ts[1])}: still falling", fe[1] - _tail_start(result, p, f, 1))
    if {"linear", "quadratic"} <= set(p.all_families):
        lin, quad = result["linear"], result["quadratic"]
        fam.test(f"quadratic against linear, {_T_label(Ts[1])}", quad["final_error"][1] - lin["final_error"][1])
        fam.test(f"quadratic against linear, {_T_label(Ts[-1])}", quad["final_error"][-1] - lin["final_error"][-1])
        fam.test(f"quadratic against linear, {_T_label(Ts[-1])}, energy",
                 quad["final_energy"][-1] - lin["final_energy"][-1])
        R = min(p.rounds, p.rounds_quadratic)
        fam.test(f"quadratic against linear at round {R}",
                 quad["error"][-1][:, record_index(quad, R)] - lin["error"][-1][:, record_index(lin, R)])
    if "linear" in result:
        wa = result["linear"]["w_along_tasks"]
        for i in (1, len(Ts) - 1):
            fam.test(f"linear, {_T_label(Ts[i])}: strongest against weakest direction of the task matrix",
                     wa[i][:, 0] - wa[i][:, -1])
        rho, pv = rank_test(lambda_min_r(result, 1), result["linear"]["final_error"][1])
        add_pvalue(fam, f"linear, {_T_label(Ts[1])}: rank correlation of the error with the smallest eigenvalue",
                   pv, right=bool(rho < 0))
    return fam.decide()


def _word(fam: Family, name: str, x, below: str, above: str, same: str) -> str:
    """The word of one comparison of the family: ``below`` / ``above`` when Holm rejects it with the mean of
    ``x`` below / above its null, else ``same``."""
    if not fam[name]:
        return same
    return below if float(np.mean(x)) < 0 else above


def _status_word(fam: Family, f: str, T: int, per_seed) -> str:
    return _word(fam, f"{f}, {_T_label(T)}: error against the recovery level",
                 np.asarray(per_seed) - RECOVERY_LEVEL, "recovered", "not recovered", "undecided")


def holm_changes(fam: Family) -> list[str]:
    """The comparisons whose word Holm's correction changes (significant alone at 5%, not in the family)."""
    return changed_by_correction(fam)


def single_task_control(result: dict, f: str) -> tuple[bool, str]:
    """The positive control of the comparison with one task: does the T = 1 arm learn what one task can
    teach? For every family, the largest principal cosine between span(M) and W's top-r subspace must reach
    the recovery cosine 0.9 (lower 95% bound); for ``linear`` also the task's own direction M v_1 must hold
    at least 0.9^2 of W's energy inside span(M) (lower 95% bound), so the recovered direction is its own.
    Returns (passed, a phrase with the bounds)."""
    fam = result[f]
    cosmax = float(stats.lower(fam["cosines"][0][:, 0]))
    ok = cosmax >= RECOVERED_COSINE
    what = f"largest principal cosine at least {cosmax:.3f}"
    if f == "linear":
        own = float(stats.lower(fam["w_along_tasks"][0][:, 0]))
        ok = ok and own >= RECOVERED_COSINE ** 2
        what += f", share of W's energy in span(M) along its own direction at least {own:.3f}"
    return bool(ok), what


def criteria(result: dict, p: Params, f: str) -> list[tuple[str, bool | None, str]]:
    """The verdict's criteria for family ``f``: ``(name, passed, detail)``; ``passed`` is None for a criterion
    not counted (the comparison with T = 1 when the single-task arm fails its positive control)."""
    e = result[f]["final_error"]                          # (T, seed)
    Ts = p.T_values
    out = []
    hi = float(stats.upper(e[-1]))
    out.append(("learning", hi < RECOVERY_LEVEL,
                f"upper bound of the error at T = {Ts[-1]} is {hi:.3f}, against {RECOVERY_LEVEL:.3f}"))
    ok, what = single_task_control(result, f)
    if ok:
        out.append(("from one task", bool(stats.significantly_less(e[-1], e[0])),
                    f"error at T = {Ts[-1]} against T = 1: {stats.fmt(stats.paired_ci(e[-1], e[0]))}"))
    else:
        out.append(("from one task", None, f"not counted: the single-task runs do not learn at this budget ({what})"))
    mid_hi = float(stats.upper(e[-2]))
    drop = stats.paired_ci(e[-1], e[-2])
    out.append(("beyond learning", bool(mid_hi < RECOVERY_LEVEL and drop.hi < 0),
                f"error at T = {Ts[-2]} has upper bound {mid_hi:.3f}, and at T = {Ts[-1]} minus at T = {Ts[-2]} "
                f"is {stats.fmt(drop)}"))
    rises = [f"{Ts[i]} -> {Ts[i + 1]}" for i in range(len(e) - 1) if stats.paired_ci(e[i + 1], e[i]).lo > 0]
    out.append(("no rise", not rises, "error rises significantly with T (" + ", ".join(rises) + ")" if rises
                else "no significant rise"))
    return out


#: why a criterion fails, as the verdict names it
FAILS = {"learning": "the error at the largest T is not below the recovery level",
         "from one task": "the error at the largest T is not significantly below one task's",
         "beyond learning": "the error does not fall significantly from the next-largest T, or that T has not "
                            "learned span(M)",
         "no rise": "the error rises significantly with T"}


def verdict(result: dict, p: Params) -> str:
    """C2 is decided per family on 95% t intervals over seeds (:mod:`mtrl_lib.stats`). Every task brings n2
    fresh samples to every feature step, so more tasks also mean more samples per step (T n2). A family
    passes when

    1. (learning) the upper 95% bound of the mean final subspace error at the largest T is below
       ``RECOVERY_LEVEL`` = 0.436, the error of a W whose worst principal cosine with span(M) is 0.9 (a random
       W has error about 1);
    2. (from one task) paired over seeds, the error at the largest T is significantly below the error at
       T = 1; *counted only when the single-task arm passes its positive control*
       (:func:`single_task_control`: it learns what one task can teach), so that the criterion is never
       passed against an arm that learns nothing;
    3. (beyond learning) the next-largest T has learned span(M) (upper bound below the level) and, paired over
       seeds, the error at the largest T is significantly below its error: more tasks help between two arms
       that both learn, which a flat curve does not pass;
    4. (no rise) for no two consecutive T does the error rise significantly (the 95% interval of the paired
       difference lies above 0).

    "reproduced" when every family passes; "partly reproduced (...)" when the headline family passes and
    another fails; otherwise "not reproduced (...)"; the reasons name the failing families and criteria.
    A criterion not counted is named by :func:`verdict_numbers` (``c2_crit2_note``), not in the verdict.
    With fewer than 10 seeds: "undecided". Verdict criteria form an intersection test, at 5% or stricter
    without a correction."""
    n = len(p.seeds)
    if not stats.enough_seeds(n):
        return stats.undecided(n)
    failed = {}
    for f in p.all_families:
        why = [f"{FAILS[name]} ({detail})" for name, ok, detail in criteria(result, p, f) if ok is False]
        if why:
            failed[f] = f"{f}: " + "; ".join(why)
    if not failed:
        return "reproduced"
    reasons = " | ".join(failed.values())
    return f"partly reproduced ({reasons})" if p.family not in failed else f"not reproduced ({reasons})"


# ----------------------------------------------------------------------------------------------- numbers

def _ci(out: dict, name: str, per_seed, bounded: bool = True) -> None:
    """``out[name]`` = mean over seeds, ``out[name + "_ci"]`` = half-width of its 95% t interval, and (for a
    quantity in [0, 1]) ``out[name + "_text"]``: "mean ± half-width", or the interval cut to [0, 1] in words
    (:func:`mtrl_lib.stats.fmt_bounded`)."""
    iv = stats.mean_ci(per_seed)
    out[name], out[f"{name}_ci"] = float(iv.mean), float(iv.half)
    if bounded:
        out[f"{name}_text"] = bounded_text(per_seed)


def bounded_text(per_seed) -> str:
    """"mean ± half-width" with enough decimals that the half-width shows a significant digit
    (:func:`mtrl_lib.stats.pm`: ``0.9994 ± 0.0004``, never ``0.999 ± 0.000``), or, where the 95% interval reaches
    past 0 or 1, the interval cut there in words (:func:`mtrl_lib.stats.fmt_bounded`)."""
    b = stats.bounded_ci(per_seed)
    if b.cut:
        return stats.fmt_bounded(per_seed)
    iv = stats.mean_ci(np.asarray(per_seed, dtype=float).ravel())
    return stats.pm(iv.mean, iv.half)


def _named_T(p: Params) -> dict:
    """The T values the prose names: ``T1`` (1), ``T_mid`` (the second), ``Tprev`` (the next-largest),
    ``Tmax`` (the largest) -> index."""
    return {"T1": 0, "T_mid": 1, "Tprev": len(p.T_values) - 2, "Tmax": len(p.T_values) - 1}


def _per_T(out: dict, key, fam: dict, i: int) -> None:
    """The numbers of one family at one T, under the glue names ``key(stat)``: error (mean, ``_ci``,
    ``_text``, ``_median``), energy, directions recovered, smallest cosine, and the numbers of seeds that
    recover (error below the recovery level) and that lose a direction (error above ``LOST_LEVEL``)."""
    fe = fam["final_error"][i]
    _ci(out, key("err"), fe)
    out[key("err") + "_median"] = float(np.median(fe))
    _ci(out, key("energy"), fam["final_energy"][i])
    out[key("recovered")] = float(fam["recovered"][i].mean())
    out[key("cosmin")] = float(fam["cosines"][i][:, -1].mean())
    out[key("n_recover")] = int((fe < RECOVERY_LEVEL).sum())
    out[key("n_lost")] = int((fe > LOST_LEVEL).sum())


def setting_numbers(result: dict, p: Params) -> dict:
    """The sizes and random-W baselines the setting section quotes: ``c2_family, c2_d, c2_r, c2_m, c2_n2,
    c2_n_seeds, c2_rounds, c2_rounds_quadratic, c2_rounds_family, c2_T_mid, c2_Tprev, c2_Tmax, c2_r_over_d,
    c2_total_{T1,T_mid,Tmax}`` (samples per feature step, T n2), ``c2_energy_init(_ci)``, ``c2_err_init(_ci)``."""
    head, Ts = result[p.family], p.T_values
    out = {"c2_family": p.family, "c2_d": p.d, "c2_r": p.r, "c2_m": p.m, "c2_n2": p.n2, "c2_n_seeds": len(p.seeds),
           "c2_rounds": p.rounds, "c2_rounds_quadratic": p.rounds_quadratic, "c2_rounds_family": p.rounds_for(p.family),
           "c2_T_mid": Ts[1], "c2_Tprev": Ts[-2], "c2_Tmax": Ts[-1], "c2_r_over_d": p.r / p.d,
           "c2_total_T1": p.n2, "c2_total_T_mid": Ts[1] * p.n2, "c2_total_Tmax": Ts[-1] * p.n2}
    _ci(out, "c2_energy_init", head["energy_init"], bounded=False)
    _ci(out, "c2_err_init", head["error_init"])
    return out


def curve_numbers(result: dict, p: Params, fam: Family | None = None) -> dict:
    """The headline family's final numbers (the first figure): for X in T1, T_mid, Tmax, ``c2_err_X``
    (``_ci``, ``_text``, ``_median``), ``c2_energy_X`` (``_ci``, ``_text``), ``c2_recovered_X``,
    ``c2_cosmin_X``, ``c2_n_recover_X``, ``c2_n_lost_X`` and ``c2_status_X`` (Holm-decided word);
    ``c2_Tmid_vs_T1`` and ``c2_Tmax_vs_T1`` (Holm-decided paired words); ``c2_T1_reading`` (what one task does,
    from the single-task run's status and its energy against the random W's) and ``c2_split_T_mid`` (the seeds
    at T_mid: how many lose a direction or recover, with the median beside the mean)."""
    fam = comparison_family(result, p) if fam is None else fam
    head, out, f, Ts = result[p.family], {}, p.family, p.T_values
    fe = head["final_error"]
    # writes c2_{err,energy}_{T1,T_mid,Tmax}(_ci,_text), c2_err_X_median,
    # c2_{recovered,cosmin,status,n_recover,n_lost}_X
    for name, i in _named_T(p).items():
        if name == "Tprev":
            continue
        _per_T(out, lambda stat: f"c2_{stat}_{name}", head, i)
        out[f"c2_status_{name}"] = _status_word(fam, f, Ts[i], fe[i])
    out["c2_Tmid_vs_T1"] = _word(fam, f"{f}: T = {Ts[1]} against T = 1", fe[1] - fe[0], "lower than", "higher than",
                                 "not significantly different from")
    out["c2_Tmax_vs_T1"] = _word(fam, f"{f}: T = {Ts[-1]} against T = 1", fe[-1] - fe[0], "lower than",
                                 "higher than", "not significantly different from")
    moved = _word(fam, f"{f}, T = 1: energy against the random W's", head["final_energy"][0] - head["energy_init"],
                  "less", "more", "same")
    status1 = out["c2_status_T1"]
    out["c2_T1_reading"] = (
        "one task moves W into span(M) without recovering it" if moved == "more" and status1 == "not recovered" else
        "one task recovers span(M) here" if status1 == "recovered" else
        f"one task leaves W's energy in span(M) {'where it started' if moved == 'same' else 'below its start'}, "
        f"and the error is {status1}")
    n, lost, rec = len(p.seeds), out["c2_n_lost_T_mid"], out["c2_n_recover_T_mid"]
    med, text = out["c2_err_T_mid_median"], out["c2_err_T_mid_text"]
    out["c2_split_counts_T_mid"] = split_counts(fe[1])
    out["c2_split_T_mid"] = (
        f"the outcome splits by seed: of {n} seeds, {out['c2_split_counts_T_mid']}; "
        f"the median error is {med:.3f} and the mean {text}, a mean that describes no group" if 0 < lost < n else
        f"every seed loses a direction (median error {med:.3f}, mean {text})" if lost == n else
        f"no seed loses a direction and {rec} of {n} end below the recovery level (median error {med:.3f}, mean "
        f"{text})")
    return out


def split_counts(final_error) -> str:
    """How the seeds of one arm split, in words with the verbs agreeing: how many lose a direction (error above
    ``LOST_LEVEL``), how many end below the recovery level, and how many lie between, with their range of errors:
    "12 lose a direction, 1 ends below the recovery level and the other 7 lie between (errors 0.442 to 0.900)"."""
    e = np.asarray(final_error, dtype=float).ravel()
    lost, rec = int((e > LOST_LEVEL).sum()), int((e < RECOVERY_LEVEL).sum())
    mid = e[(e <= LOST_LEVEL) & (e >= RECOVERY_LEVEL)]
    parts = [f"{lost} {'loses' if lost == 1 else 'lose'} a direction",
             f"{rec} {'ends' if rec == 1 else 'end'} below the recovery level"]
    if mid.size == 1:
        parts.append(f"the other one lies between (error {mid[0]:.3f})")
    elif mid.size > 1:
        parts.append(f"the other {mid.size} lie between (errors {mid.min():.3f} to {mid.max():.3f})")
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def family_numbers(result: dict, p: Params, fam: Family | None = None) -> dict:
    """Per family f and every T in ``T_values`` (the profile table): ``c2_{f}_err_T{T}(_ci,_text)``; at the
    named T X in T1, T_mid, Tprev, Tmax: ``c2_{f}_err_X`` (``_ci``, ``_text``, ``_median``),
    ``c2_{f}_energy_X(_ci,_text)``, ``c2_{f}_recovered_X``, ``c2_{f}_cosmin_X``, ``c2_{f}_n_recover_X``,
    ``c2_{f}_n_lost_X``, ``c2_{f}_status_X``; ``c2_{f}_Tmid_vs_T1`` (word); at the largest T:
    ``c2_{f}_err_Tmax_hi`` (upper bound), ``c2_{f}_tail`` (rounds of the last stretch),
    ``c2_{f}_still_falling`` (word: the final error against the error ``c2_{f}_tail`` rounds earlier); the
    criterion beyond learning: ``c2_{f}_Tprev_drop(_ci)`` (error at
    Tprev minus at Tmax, paired), ``c2_{f}_Tprev_word`` and ``c2_{f}_Tprev_ratio`` (mean error at Tprev over mean
    error at Tmax), beside ``c2_sqrt_Tmax_over_Tprev`` (sqrt(Tmax / Tprev), the factor by which the relative noise
    of one step shrinks); the single-task control: ``c2_{f}_cosmax_T1_lo``,
    ``c2_{f}_own_share_T1_lo`` (linear), ``c2_{f}_single_learns`` (phrase)."""
    fam = comparison_family(result, p) if fam is None else fam
    out, Ts = {"c2_sqrt_Tmax_over_Tprev": math.sqrt(p.T_values[-1] / p.T_values[-2])}, p.T_values
    for f in p.all_families:               # writes the c2_{f}_... keys listed in the docstring
        fr = result[f]
        fe = fr["final_error"]
        for j, T in enumerate(Ts):
            _ci(out, f"c2_{f}_err_T{T}", fe[j])
        for name, i in _named_T(p).items():
            _per_T(out, lambda stat: f"c2_{f}_{stat}_{name}", fr, i)
            out[f"c2_{f}_status_{name}"] = _status_word(fam, f, Ts[i], fe[i])
        out[f"c2_{f}_Tmid_vs_T1"] = _word(fam, f"{f}: T = {Ts[1]} against T = 1", fe[1] - fe[0], "lower than",
                                          "higher than", "not significantly different from")
        out[f"c2_{f}_err_Tmax_hi"] = float(stats.upper(fe[-1]))
        out[f"c2_{f}_tail"] = tail_rounds(p, f)
        out[f"c2_{f}_still_falling"] = _word(fam, f"{f}, {_T_label(Ts[-1])}: still falling",
                                             fe[-1] - _tail_start(result, p, f, len(Ts) - 1), "still falling",
                                             "rising", "no longer falling significantly")
        drop = stats.paired_ci(fe[-2], fe[-1])
        out[f"c2_{f}_Tprev_drop"], out[f"c2_{f}_Tprev_drop_ci"] = float(drop.mean), float(drop.half)
        out[f"c2_{f}_Tprev_ratio"] = float(fe[-2].mean() / fe[-1].mean())
        out[f"c2_{f}_Tprev_word"] = ("falls significantly" if drop.lo > 0 else
                                     "rises significantly" if drop.hi < 0 else "does not change significantly")
        ok, _ = single_task_control(result, f)
        out[f"c2_{f}_cosmax_T1_lo"] = float(stats.lower(fr["cosines"][0][:, 0]))
        if f == "linear":
            out[f"c2_{f}_own_share_T1_lo"] = float(stats.lower(fr["w_along_tasks"][0][:, 0]))
        out[f"c2_{f}_single_learns"] = "passes" if ok else "fails"
    return out


def family_comparison(result: dict, p: Params, fam: Family | None = None) -> dict:
    """Quadratic against linear, paired over seeds (same M and initial W), Holm-decided words:
    ``c2_quad_vs_lin_T_mid``, ``c2_quad_vs_lin_Tmax`` (final error), ``c2_quad_vs_lin_energy_Tmax`` (final
    energy), and at the common round ``c2_common_round`` (the smaller budget):
    ``c2_{linear,quadratic}_err_common(_ci,_text)`` and ``c2_quad_vs_lin_common``; ``c2_quad_Tmid_reading``,
    the sentence that reads T_mid against the sketch's prediction for quadratic tasks (it says when the
    quadratic runs at T_mid are under-trained). Empty unless both families ran."""
    if not {"linear", "quadratic"} <= set(p.all_families):
        return {}
    fam = comparison_family(result, p) if fam is None else fam
    lin, quad, out, Ts = result["linear"], result["quadratic"], {}, p.T_values
    words = ("lower than", "higher than", "not significantly different from")
    dq_mid = quad["final_error"][1] - lin["final_error"][1]
    out["c2_quad_vs_lin_T_mid"] = _word(fam, f"quadratic against linear, {_T_label(Ts[1])}", dq_mid, *words)
    out["c2_quad_vs_lin_Tmax"] = _word(fam, f"quadratic against linear, {_T_label(Ts[-1])}",
                                       quad["final_error"][-1] - lin["final_error"][-1], *words)
    out["c2_quad_vs_lin_energy_Tmax"] = _word(fam, f"quadratic against linear, {_T_label(Ts[-1])}, energy",
                                              quad["final_energy"][-1] - lin["final_energy"][-1], "less", "more",
                                              "not significantly different")
    R = min(p.rounds, p.rounds_quadratic)
    out["c2_common_round"] = R
    at = {f: result[f]["error"][-1][:, record_index(result[f], R)] for f in ("linear", "quadratic")}
    _ci(out, "c2_linear_err_common", at["linear"])
    _ci(out, "c2_quadratic_err_common", at["quadratic"])
    out["c2_quad_vs_lin_common"] = _word(fam, f"quadratic against linear at round {R}",
                                         at["quadratic"] - at["linear"], *words)
    falling = _word(fam, f"quadratic, {_T_label(Ts[1])}: still falling",
                    quad["final_error"][1] - _tail_start(result, p, "quadratic", 1), "yes", "no", "no")
    learned = _status_word(fam, "quadratic", Ts[1], quad["final_error"][1]) == "recovered"
    if falling == "yes" and not learned:
        out["c2_quad_Tmid_reading"] = (
            f"Here the quadratic runs at T = {Ts[1]} are under-trained at this budget: their error has not reached "
            f"the recovery level and is still falling at the last round, so they cannot yet tell how many "
            f"directions a quadratic task pulls on")
    elif out["c2_quad_vs_lin_T_mid"] == "lower than":
        out["c2_quad_Tmid_reading"] = (f"Here, at T = {Ts[1]}, the quadratic error is lower than the linear one, "
                                       f"as that predicts")
    else:
        out["c2_quad_Tmid_reading"] = (f"Here, at T = {Ts[1]}, the quadratic error is not lower than the linear "
                                       f"one, so this run does not support that prediction")
    return out


def collapse_numbers(result: dict, p: Params, fam: Family | None = None) -> dict:
    """The collapse diagnostic (linear family; empty otherwise), spectra times r so that 1 means "evenly
    spread over span(M)": for X in T_mid, Tmax, ``c2_taskeig_min_X``, ``c2_taskeig_max_X`` (eigenvalues of
    Sigma_T), ``c2_walong_min_X``, ``c2_walong_max_X`` (W's energy along Sigma_T's weakest / strongest
    eigenvector), ``c2_walong_gap_X`` (Holm-decided word: strongest against weakest). At T_mid, per seed:
    ``c2_rank_rho`` (Spearman's rank correlation of the final error with r lambda_min(Sigma_T)), ``c2_rank_p``
    and ``c2_rank_word`` (Holm-decided), ``c2_lmin_lost_max`` / ``c2_lmin_kept_min`` (the largest r lambda_min
    among seeds that lost a direction, the smallest among the others; NaN when a group is empty),
    ``c2_lmin_split`` (phrase), and ``c2_collapse_T_mid``, the sentence that reads the run against the
    collapse mechanism, gated on the rank test *and* the energy gap."""
    lin = result.get("linear")
    if lin is None:
        return {}
    fam = comparison_family(result, p) if fam is None else fam
    out, Ts = {}, p.T_values
    # writes c2_{taskeig,walong}_{min,max}_{T_mid,Tmax} and c2_walong_gap_{T_mid,Tmax}
    for name, i in (("T_mid", 1), ("Tmax", len(Ts) - 1)):
        ts, wa = p.r * lin["task_spectrum"][i], p.r * lin["w_along_tasks"][i]
        out[f"c2_taskeig_min_{name}"], out[f"c2_taskeig_max_{name}"] = float(ts[:, -1].mean()), float(ts[:, 0].mean())
        out[f"c2_walong_min_{name}"], out[f"c2_walong_max_{name}"] = float(wa[:, -1].mean()), float(wa[:, 0].mean())
        out[f"c2_walong_gap_{name}"] = _word(
            fam, f"linear, {_T_label(Ts[i])}: strongest against weakest direction of the task matrix",
            wa[:, 0] - wa[:, -1], "less than", "more than", "not significantly different from")
    lmin, err = lambda_min_r(result, 1), lin["final_error"][1]
    rho, pv = rank_test(lmin, err)
    # a constant input, or too few seeds for a p-value: no correlation shown (rho 0, p 1), never a NaN in the prose
    out["c2_rank_rho"] = rho if np.isfinite(rho) else 0.0
    out["c2_rank_p"] = pv if np.isfinite(pv) else 1.0
    sig = fam[f"linear, {_T_label(Ts[1])}: rank correlation of the error with the smallest eigenvalue"]
    out["c2_rank_word"] = ("falls significantly as the task matrix's smallest eigenvalue grows" if sig else
                           "shows no significant rank correlation with the task matrix's smallest eigenvalue")
    lost = err > LOST_LEVEL
    if lost.any() and (~lost).any():
        out["c2_lmin_lost_max"], out["c2_lmin_kept_min"] = float(lmin[lost].max()), float(lmin[~lost].min())
        if out["c2_lmin_lost_max"] < out["c2_lmin_kept_min"]:
            out["c2_lmin_split"] = (f"separates the two groups exactly: every seed that lost a direction has it "
                                    f"(times r) at most {out['c2_lmin_lost_max']:.3f}, every other seed at least "
                                    f"{out['c2_lmin_kept_min']:.3f}")
        else:
            out["c2_lmin_split"] = (f"does not separate the two groups exactly (times r, it reaches "
                                    f"{out['c2_lmin_lost_max']:.3f} among seeds that lost a direction and goes down "
                                    f"to {out['c2_lmin_kept_min']:.3f} among the others)")
    else:
        out["c2_lmin_split"] = ("has no split to explain: " + ("every seed lost a direction" if lost.all() else
                                                               "no seed lost a direction"))
    gate = sig and out["c2_walong_gap_T_mid"] == "more than"
    out["c2_collapse_T_mid"] = (
        "Both readings agree with the collapse the sketch predicts: the seeds whose tasks pull least on some "
        "direction are the ones that lose it, and the rows turn towards the directions the tasks pull hardest"
        if gate else
        "This run does not show the collapse the sketch predicts: it needs both the rank correlation and the "
        "energy gap, and " + ("the rank correlation" if not sig else "the energy gap") + " is not significant")
    return out


def verdict_numbers(result: dict, p: Params) -> dict:
    """``c2_verdict`` (and its outcome alone, ``c2_verdict_word``), the level and what justifies it: ``c2_level``, ``c2_lost_level``, ``c2_recovered_cosine``,
    ``c2_recovered_cosine_sq``, ``c2_noise_{T_mid,Tmax}`` (sqrt(d / (T n2)), the relative noise of one feature
    step); ``c2_crit2_note`` (which families' comparison with one task is not counted, and why)."""
    Ts = p.T_values
    out = {"c2_verdict": result["verdict"], "c2_verdict_word": result["verdict"].split(" (", 1)[0],
           "c2_level": RECOVERY_LEVEL, "c2_lost_level": LOST_LEVEL,
           "c2_recovered_cosine": RECOVERED_COSINE, "c2_recovered_cosine_sq": RECOVERED_COSINE ** 2,
           "c2_noise_T_mid": step_noise(p, Ts[1]), "c2_noise_Tmax": step_noise(p, Ts[-1])}
    hi = float(stats.upper(result[p.family]["final_error"][-1]))
    lo = float(stats.lower(result[p.family]["final_error"][-1]))
    out["c2_err_vs_noise_Tmax"] = ("below" if hi < out["c2_noise_Tmax"] else
                                   "above" if lo > out["c2_noise_Tmax"] else "not distinguishable from")
    not_counted = [f for f in p.all_families if not single_task_control(result, f)[0]]
    out["c2_crit2_note"] = (
        "it is counted for every family: every single-task arm passes its positive control" if not not_counted else
        "it is not counted for " + " and ".join(not_counted) + ", whose single-task runs fail "
        "their positive control at this budget (a comparison with an arm that learns nothing proves nothing); "
        "criterion 3 carries the claim there")
    return out


def holm_numbers(fam: Family) -> dict:
    """``c2_n_comparisons`` (the family's size) and ``c2_holm_changed`` (a phrase: which words the correction
    changes against tests taken one at a time)."""
    changed = holm_changes(fam)
    return {"c2_n_comparisons": len(fam),
            "c2_holm_changed": ("changes none of the words" if not changed else
                                "changes the words of " + "; ".join(changed) + " (each significant alone at 5%, "
                                "not after the correction)")}


def _grid_at(grid: dict, f: str, rounds: int) -> int:
    g = step_sizes
    return int(min(max(g.GRID_RECORD * round(rounds / g.GRID_RECORD), g.GRID_RECORD), g.GRID_MAX_ROUNDS))


def grid_numbers(grid: dict, p: Params) -> dict:
    """The stored step-size grid (:mod:`mtrl_lib.experiments.step_sizes`; three held-out seeds, means only:
    the grid is a selection rule, not a test). Per family f: ``c2_grid_{f}_eta_a``, ``c2_grid_{f}_eta_W``,
    ``c2_grid_{f}_err`` (the selected point at the quick profile's budget), ``c2_grid_{f}_rounds``,
    ``c2_grid_{f}_best_largest_etaW`` (best error over eta_a at the largest eta_W), ``c2_grid_{f}_row_first`` /
    ``c2_grid_{f}_row_last`` (at the selected eta_a, the error at the smallest / largest eta_W),
    ``c2_grid_{f}_near_prod_lo`` / ``_hi`` (range of eta_a eta_W over the points within 0.05 of the best); read
    at *this run's* budget (the nearest recorded round): ``c2_grid_{f}_here_round``, ``c2_grid_{f}_here``
    (phrase: the pair the grid picks there, its error, and the error of the pair used); ``c2_grid_T``,
    ``c2_grid_wall``, ``c2_grid_seeds``, ``c2_grid_points``, ``c2_grid_matches``."""
    gs, out, sel = grid["settings"], {}, {}
    ea_axis, ew_axis = np.asarray(gs["eta_a"]), np.asarray(gs["eta_W"])
    for f in ("linear", "quadratic"):       # writes the c2_grid_{f}_... keys listed in the docstring
        ea, ew, err = step_sizes.select(grid, f)
        sel[f] = (ea, ew)
        tab = step_sizes.grid_table(grid, f)
        i = int(np.flatnonzero(ea_axis == ea)[0])
        near = tab <= err + 0.05
        prod = np.outer(ea_axis, ew_axis)[near]
        out.update({f"c2_grid_{f}_eta_a": ea, f"c2_grid_{f}_eta_W": ew, f"c2_grid_{f}_err": err,
                    f"c2_grid_{f}_rounds": step_sizes.GRID_ROUNDS[f],
                    f"c2_grid_{f}_best_largest_etaW": float(tab[:, -1].min()),
                    f"c2_grid_{f}_row_first": float(tab[i, 0]), f"c2_grid_{f}_row_last": float(tab[i, -1]),
                    f"c2_grid_{f}_near_prod_lo": float(prod.min()), f"c2_grid_{f}_near_prod_hi": float(prod.max())})
        at = _grid_at(grid, f, p.rounds_for(f))
        ea2, ew2, err2 = step_sizes.select(grid, f, at)
        used = (getattr(p, f"eta_a_{f}"), getattr(p, f"eta_W_{f}"))
        tab2 = step_sizes.grid_table(grid, f, at)
        i2, j2 = int(np.flatnonzero(ea_axis == ea2)[0]), int(np.flatnonzero(ew_axis == ew2)[0])
        edge = " (a corner of the grid)" if i2 in (0, len(ea_axis) - 1) and j2 in (0, len(ew_axis) - 1) else \
            " (on the grid's edge)" if i2 in (0, len(ea_axis) - 1) or j2 in (0, len(ew_axis) - 1) else ""
        if used in [(a, w) for a in ea_axis for w in ew_axis]:
            iu, ju = int(np.flatnonzero(ea_axis == used[0])[0]), int(np.flatnonzero(ew_axis == used[1])[0])
            used_err = f"{tab2[iu, ju]:.3f}"
        else:
            used_err = "not on the grid"
        out[f"c2_grid_{f}_here_round"] = at
        out[f"c2_grid_{f}_here"] = (
            f"the pair used here, with error {used_err}" if (ea2, ew2) == used else
            f"({ea2:g}, {ew2:g}){edge} with error {err2:.3f}, against {used_err} for the pair used here")
    used = {f: (getattr(p, f"eta_a_{f}"), getattr(p, f"eta_W_{f}")) for f in ("linear", "quadratic")}
    out.update({"c2_grid_T": gs["T"], "c2_grid_wall": gs["wall_time_s"],
                "c2_grid_seeds": ", ".join(str(s) for s in gs["seeds"]),
                "c2_grid_points": len(gs["eta_a"]) * len(gs["eta_W"]),
                "c2_grid_d": gs["d"], "c2_grid_m": gs["m"], "c2_grid_n": gs["n2"],
                "c2_grid_smallest_etaW": float(ew_axis[0]), "c2_grid_largest_etaW": float(ew_axis[-1]),
                "c2_grid_matches": "are" if used == sel else "are not (this run overrides them)"})
    return out


def _and(values) -> str:
    values = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def explore_numbers() -> dict:
    """The explorer's initial values, as the prose states them: ``c2_explore_{T,d,family,eta_W,r,m,n,rounds}``,
    and the values the static book holds: ``c2_explore_static_{T,eta_W}``."""
    out = {f"c2_explore_{k}": v for k, v in EXPLORE.items() if k != "seed"}
    out["c2_explore_static_T"] = _and(EXPLORE_STATIC["T"])
    out["c2_explore_static_eta_W"] = _and(EXPLORE_STATIC["eta_W"])
    return out


def summary(result: dict, p: Params, grid: dict | None = None) -> dict:
    """Every number and computed phrase the chapter's prose quotes (the union of the section functions
    above, whose docstrings list the keys)."""
    fam = comparison_family(result, p)
    out = {}
    out.update(setting_numbers(result, p))
    for part in (curve_numbers, family_numbers, family_comparison, collapse_numbers):
        out.update(part(result, p, fam))
    out.update(verdict_numbers(result, p))
    out.update(holm_numbers(fam))
    out.update(grid_numbers(step_sizes.load_grid() if grid is None else grid, p))
    out.update(explore_numbers())
    return out


TABLE_HEADER = ("family", "T", "samples per step", "final error", "median error", "seeds recovered / lost",
                "energy in span(M)", "status")
#: the table's caption (the notebook shows it above the table)
TABLE_CAPTION = ("Final subspace error by family and number of tasks T: mean over seeds with its 95% interval "
                 "(cut to [0, 1] where marked), median, the seeds whose error is below the recovery level and those "
                 "that lost a direction, the energy in span(M), and the status of the mean against the recovery "
                 "level. Samples per step: the T n2 fresh samples of one feature step.")


def _short(per_seed) -> str:
    """A table cell: "0.123 ± 0.045", or "0.790 (0.564 to 1.000, cut)" where the interval is cut to [0, 1]."""
    b = stats.bounded_ci(per_seed)
    if not b.cut:
        return stats.fmt(stats.mean_ci(np.asarray(per_seed, dtype=float)))
    return f"{b.mean:.3f} ({b.lo:.3f} to {b.hi:.3f}, cut)"


def table(result: dict, p: Params, fam: Family | None = None) -> list[list]:
    """The chapter's table, one row per family and T (cells in the order of ``TABLE_HEADER``): samples per
    feature step, mean final error with its 95% interval cut to [0, 1], median, the seeds below the recovery
    level and the seeds that lost a direction, energy, status (Holm-decided word)."""
    fam = comparison_family(result, p) if fam is None else fam
    rows, n = [], len(p.seeds)
    for f in p.all_families:
        fr = result[f]
        for j, T in enumerate(p.T_values):
            fe = fr["final_error"][j]
            rows.append([f, T, T * p.n2, _short(fe), f"{np.median(fe):.3f}",
                         f"{int((fe < RECOVERY_LEVEL).sum())} / {int((fe > LOST_LEVEL).sum())} of {n}",
                         _short(fr["final_energy"][j]), _status_word(fam, f, T, fe)])
    return rows


def explore(d: int, T: int, family: str, eta_W: float, rounds: int = EXPLORE["rounds"], r: int = EXPLORE["r"],
            m: int = EXPLORE["m"], seed: int = EXPLORE["seed"], n: int = EXPLORE["n"]) -> dict:
    """One small run for the chapter's live explorer (head step eta_a of the family's grid choice)."""
    eta_a = STEP_SIZES[family][0]
    cfg = TrainConfig(d=d, r=r, m=m, T=T, family=family, n1=n, n2=n, rounds=rounds, eta_a=eta_a, eta_W=eta_W,
                      seed=seed, record_every=5)
    return one_run(cfg)
