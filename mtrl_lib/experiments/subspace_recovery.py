"""Chapter 2 (claim C2, the paper's Figure 1): multi-task training recovers span(M), better with more tasks.

Units. One unit (:func:`train_unit`) is one training run of the alternating algorithm
(:func:`mtrl_lib.train.train`) for one family, one number of tasks T and one seed. For one seed, M and the
initial W come from the seed's own streams whatever T and the family are, so the runs over T (and across the
two families) are paired. A unit records the subspace error and the energy in span(M) every ``record_every``
rounds; at the end, the principal cosines, the directions recovered, the spectrum of W inside span(M), and
for linear tasks the eigenvalues of the tasks' second-moment matrix Sigma_T with the share of W's energy
along each of its eigenvectors (the collapse diagnostic).

Analysis. :func:`summary` returns every number and every computed phrase the chapter's prose quotes (glue
names ``c2_...``); :func:`verdict` decides the claim on 95% confidence bounds over seeds
(:mod:`mtrl_lib.stats`). Comparative words in the prose ("lower than", "recovered", "still falling") are
strings computed here from stated tests, so a sentence changes when the data do.

The recovery level. The verdict's absolute requirement is that the upper 95% bound of the mean final subspace
error at the largest T lies below ``RECOVERY_LEVEL = sqrt(1 - 0.9^2) = 0.436``: the error of a W whose worst
principal cosine with span(M) is 0.9, the cosine at which the book counts a direction as recovered
(:data:`mtrl_lib.metrics.RECOVERED_COSINE`). It sits far below the error of a random W (about 1 when d >> r;
measured at round 0 in every run) and above the sampling floor sqrt(d / (T n2)) of the largest T at the book's
sizes (0.14 in the quick profile), so a run that learns passes it and a run that learns nothing does not.

Step sizes are per family and come from the documented grid in :mod:`mtrl_lib.experiments.step_sizes`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .. import stats
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

#: the explorer's initial values (the prose quotes them) and the size of its run
EXPLORE = {"T": 10, "d": 50, "family": "linear", "eta_W": 0.05, "r": 5, "m": 100, "n": 50, "rounds": 100,
           "seed": 0}
#: the values the explorer's controls offer (the notebook builds its controls from them and EXPLORE)
EXPLORE_VALUES = {"T": (1, 2, 5, 10, 20, 50, 100), "d": (20, 50, 100, 200, 400), "family": FAMILIES,
                  "eta_W": (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)}


@dataclass(frozen=True)
class Params(ChapterParams):
    d: int = 100                                   # ambient dimension of x
    r: int = 5                                     # latent dimension: labels depend on x through M^T x only
    m: int = 200                                   # neurons (rows of W)
    n1: int = 50                                   # fresh samples per task in each head phase
    n2: int = 50                                   # fresh samples per task in each feature phase
    rounds: int = 100                              # training rounds for the linear family
    rounds_quadratic: int = 150                    # training rounds for the quadratic family
    T_values: tuple[int, ...] = (1, 5, 20, 100)    # numbers of tasks, increasing, starting at 1 (single task)
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
        if self.T_values[0] != 1 or len(self.T_values) < 2:
            raise ValueError(f"T_values must start at 1 (the single-task baseline) and include a larger T, "
                             f"got {list(self.T_values)}")
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
    """All of chapter 2's runs, reduced: ``{family: {key: array indexed [T, seed, ...]}, "T_values", "seeds",
    "verdict"}``. Per family: ``error``, ``energy`` (T, seed, record), ``round`` (record,), ``cosines``,
    ``w_spectrum``, ``task_spectrum``, ``w_along_tasks`` (T, seed, r), ``recovered``, ``final_error``,
    ``final_energy`` (T, seed), ``error_init``, ``energy_init`` (seed,) (the random W at round 0, the same
    for every T of a seed)."""
    keys = [(f, T, s) for f in p.all_families for T in p.T_values for s in p.seeds]
    units = [unit(train_unit, s, **p.train_kwargs(f, T)) for f, T, s in keys]
    runs = dict(zip(keys, run_units(units, executor, desc="C2: families x T x seeds")))
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
    """Where the 95% interval of the mean error lies relative to the recovery level: "recovered" (upper
    bound below it), "not recovered" (lower bound above it), or "undecided" (the interval contains it)."""
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


def floor(p: Params, T: int) -> float:
    """sqrt(d / (T n2)): the relative size of the sampling noise in one feature step (the chapter's sketch)."""
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


def verdict(result: dict, p: Params) -> str:
    """C2 is decided per family on 95% t intervals over seeds (:mod:`mtrl_lib.stats`). A family passes when

    1. (absolute, learning required) the upper 95% bound of the mean final subspace error at the largest T
       is below ``RECOVERY_LEVEL`` = 0.436, the error of a W whose worst principal cosine with span(M) is
       0.9 (a random W has error about 1, the sampling floor sqrt(d / (T n2)) is 0.14 at the quick
       profile's largest T);
    2. (more tasks help) paired over seeds, the error at the largest T is significantly below the error at
       T = 1 (the 95% interval of the mean difference lies below 0);
    3. (no rise) for no two consecutive T does the error rise significantly (the 95% interval of the
       paired difference lies above 0).

    "reproduced" when every family passes; "partly reproduced (...)" when the headline family passes and
    another fails; otherwise "not reproduced (...)"; the reasons name the failing families and criteria.
    With fewer than 10 seeds: "undecided"."""
    n = len(p.seeds)
    if not stats.enough_seeds(n):
        return stats.undecided(n)
    failed = {}
    for f in p.all_families:
        e = result[f]["final_error"]                        # (T, seed)
        why = []
        hi = float(stats.upper(e[-1]))
        if not hi < RECOVERY_LEVEL:
            why.append(f"upper bound of the error at T = {p.T_values[-1]} is {hi:.3f}, not below {RECOVERY_LEVEL:.3f}")
        if not stats.significantly_less(e[-1], e[0]):
            why.append(f"error at T = {p.T_values[-1]} not significantly below T = 1")
        rises = [f"{p.T_values[i]} -> {p.T_values[i + 1]}" for i in range(len(e) - 1)
                 if stats.paired_ci(e[i + 1], e[i]).lo > 0]
        if rises:
            why.append("error rises significantly with T (" + ", ".join(rises) + ")")
        if why:
            failed[f] = f"{f}: " + "; ".join(why)
    if not failed:
        return "reproduced"
    reasons = " | ".join(failed.values())
    return f"partly reproduced ({reasons})" if p.family not in failed else f"not reproduced ({reasons})"


# ----------------------------------------------------------------------------------------------- numbers

def _ci(out: dict, name: str, per_seed) -> None:
    """``out[name]`` = mean over seeds, ``out[name + "_ci"]`` = half-width of its 95% t interval."""
    iv = stats.mean_ci(per_seed)
    out[name], out[f"{name}_ci"] = float(iv.mean), float(iv.half)


def _named_T(p: Params) -> dict:
    """The T values the prose names: ``T1`` (1), ``T_mid`` (the second), ``Tmax`` (the largest) -> index."""
    return {"T1": 0, "T_mid": 1, "Tmax": len(p.T_values) - 1}


def setting_numbers(result: dict, p: Params) -> dict:
    """The sizes and random-W baselines the setting section quotes: ``c2_family, c2_d, c2_r, c2_m, c2_n2,
    c2_n_seeds, c2_rounds, c2_rounds_quadratic, c2_rounds_family, c2_T_mid, c2_Tmax, c2_r_over_d,
    c2_energy_init(_ci), c2_err_init(_ci)``."""
    head = result[p.family]
    out = {"c2_family": p.family, "c2_d": p.d, "c2_r": p.r, "c2_m": p.m, "c2_n2": p.n2, "c2_n_seeds": len(p.seeds),
           "c2_rounds": p.rounds, "c2_rounds_quadratic": p.rounds_quadratic, "c2_rounds_family": p.rounds_for(p.family),
           "c2_T_mid": p.T_values[1], "c2_Tmax": p.T_values[-1], "c2_r_over_d": p.r / p.d}
    _ci(out, "c2_energy_init", head["energy_init"])
    _ci(out, "c2_err_init", head["error_init"])
    return out


def curve_numbers(result: dict, p: Params) -> dict:
    """The headline family's final numbers (the first figure): for X in T1, T_mid, Tmax, ``c2_err_X(_ci)``,
    ``c2_energy_X(_ci)``, ``c2_recovered_X``, ``c2_cosmin_X`` and ``c2_status_X`` ("recovered", "not
    recovered", "undecided": :func:`status`); ``c2_Tmid_vs_T1`` and ``c2_Tmax_vs_T1`` (paired phrases,
    :func:`compare`)."""
    head, out = result[p.family], {}
    fe = head["final_error"]
    # writes c2_{err,energy}_{T1,T_mid,Tmax}(_ci) and c2_{recovered,cosmin,status}_{T1,T_mid,Tmax}
    for name, i in _named_T(p).items():
        _ci(out, f"c2_err_{name}", fe[i])
        _ci(out, f"c2_energy_{name}", head["final_energy"][i])
        out[f"c2_recovered_{name}"] = float(head["recovered"][i].mean())
        out[f"c2_cosmin_{name}"] = float(head["cosines"][i][:, -1].mean())
        out[f"c2_status_{name}"] = status(fe[i])
    out["c2_Tmid_vs_T1"] = compare(fe[1], fe[0])
    out["c2_Tmax_vs_T1"] = compare(fe[-1], fe[0])
    return out


def family_numbers(result: dict, p: Params) -> dict:
    """Per family f and every T in ``T_values`` (the profile table): ``c2_{f}_err_T{T}(_ci)``; at the named
    T (T1, T_mid, Tmax): ``c2_{f}_err_X(_ci)``, ``c2_{f}_energy_X(_ci)``, ``c2_{f}_recovered_X``,
    ``c2_{f}_cosmin_X``, ``c2_{f}_status_X``; ``c2_{f}_Tmid_vs_T1`` (paired phrase); at the largest T:
    ``c2_{f}_err_Tmax_hi`` (upper bound), ``c2_{f}_tail`` (rounds of the last stretch) and
    ``c2_{f}_still_falling`` (paired phrase: the final error against the error ``c2_{f}_tail`` rounds earlier)."""
    out = {}
    for f in p.all_families:               # writes the c2_{f}_... keys listed in the docstring
        fam = result[f]
        fe = fam["final_error"]
        for j, T in enumerate(p.T_values):
            _ci(out, f"c2_{f}_err_T{T}", fe[j])
        for name, i in _named_T(p).items():
            _ci(out, f"c2_{f}_err_{name}", fe[i])
            _ci(out, f"c2_{f}_energy_{name}", fam["final_energy"][i])
            out[f"c2_{f}_recovered_{name}"] = float(fam["recovered"][i].mean())
            out[f"c2_{f}_cosmin_{name}"] = float(fam["cosines"][i][:, -1].mean())
            out[f"c2_{f}_status_{name}"] = status(fe[i])
        out[f"c2_{f}_Tmid_vs_T1"] = compare(fe[1], fe[0])
        out[f"c2_{f}_err_Tmax_hi"] = float(stats.upper(fe[-1]))
        k = tail_rounds(p, f)
        earlier = fam["error"][-1][:, record_index(fam, p.rounds_for(f) - k)]
        out[f"c2_{f}_tail"] = k
        out[f"c2_{f}_still_falling"] = compare(fe[-1], earlier, lower="still falling", higher="rising",
                                               same="no longer falling significantly")
    return out


def family_comparison(result: dict, p: Params) -> dict:
    """Quadratic against linear, paired over seeds (same M and initial W): ``c2_quad_vs_lin_T_mid``,
    ``c2_quad_vs_lin_Tmax`` (final error), ``c2_quad_vs_lin_energy_Tmax`` (final energy), and at the
    common round ``c2_common_round`` (the smaller budget): ``c2_{linear,quadratic}_err_common(_ci)`` and
    ``c2_quad_vs_lin_common``. Empty unless both families ran."""
    if not {"linear", "quadratic"} <= set(p.all_families):
        return {}
    lin, quad, out = result["linear"], result["quadratic"], {}
    out["c2_quad_vs_lin_T_mid"] = compare(quad["final_error"][1], lin["final_error"][1])
    out["c2_quad_vs_lin_Tmax"] = compare(quad["final_error"][-1], lin["final_error"][-1])
    out["c2_quad_vs_lin_energy_Tmax"] = compare(quad["final_energy"][-1], lin["final_energy"][-1],
                                                lower="less", higher="more", same="not significantly different")
    R = min(p.rounds, p.rounds_quadratic)
    out["c2_common_round"] = R
    at = {f: result[f]["error"][-1][:, record_index(result[f], R)] for f in ("linear", "quadratic")}
    _ci(out, "c2_linear_err_common", at["linear"])
    _ci(out, "c2_quadratic_err_common", at["quadratic"])
    out["c2_quad_vs_lin_common"] = compare(at["quadratic"], at["linear"])
    return out


COLLAPSE_READING = {
    True: "That is the collapse the power-iteration sketch predicts: the rows turn towards the directions the "
          "tasks pull hardest, and the top-r singular subspace of W fills the slot of a weak direction with "
          "whatever the sampling noise put there",
    False: "The paired test does not detect the collapse the power-iteration sketch predicts",
}


def collapse_numbers(result: dict, p: Params) -> dict:
    """The collapse diagnostic (linear family; empty otherwise), spectra times r so that 1 means "evenly
    spread over span(M)": for X in T_mid, Tmax, ``c2_taskeig_min_X``, ``c2_taskeig_max_X`` (eigenvalues of
    Sigma_T), ``c2_walong_min_X``, ``c2_walong_max_X`` (W's energy along Sigma_T's weakest / strongest
    eigenvector), ``c2_walong_gap_X`` (paired phrase: strongest against weakest) and ``c2_collapse_X`` (the
    sentence that reads it against the power-iteration sketch)."""
    lin = result.get("linear")
    if lin is None:
        return {}
    out = {}
    # writes c2_{taskeig,walong}_{min,max}_{T_mid,Tmax}, c2_walong_gap_{T_mid,Tmax}, c2_collapse_{T_mid,Tmax}
    for name, i in (("T_mid", 1), ("Tmax", len(p.T_values) - 1)):
        ts, wa = p.r * lin["task_spectrum"][i], p.r * lin["w_along_tasks"][i]
        out[f"c2_taskeig_min_{name}"], out[f"c2_taskeig_max_{name}"] = float(ts[:, -1].mean()), float(ts[:, 0].mean())
        out[f"c2_walong_min_{name}"], out[f"c2_walong_max_{name}"] = float(wa[:, -1].mean()), float(wa[:, 0].mean())
        gap = compare(wa[:, 0], wa[:, -1], lower="less than", higher="more than",
                      same="not significantly different from")
        out[f"c2_walong_gap_{name}"] = gap
        out[f"c2_collapse_{name}"] = COLLAPSE_READING[gap == "more than"]
    return out


def verdict_numbers(result: dict, p: Params) -> dict:
    """``c2_verdict``, the level and what justifies it: ``c2_level``, ``c2_recovered_cosine``,
    ``c2_floor_Tmax`` (sqrt(d / (T n2)) at the largest T)."""
    return {"c2_verdict": result["verdict"], "c2_level": RECOVERY_LEVEL, "c2_recovered_cosine": RECOVERED_COSINE,
            "c2_floor_Tmax": floor(p, p.T_values[-1])}


def grid_numbers(grid: dict, p: Params) -> dict:
    """The stored step-size grid (:mod:`mtrl_lib.experiments.step_sizes`; three held-out seeds, means only:
    the grid is a selection rule, not a test). Per family f: ``c2_grid_{f}_eta_a``, ``c2_grid_{f}_eta_W``,
    ``c2_grid_{f}_err`` (the selected point), ``c2_grid_{f}_rounds``, ``c2_grid_{f}_best_largest_etaW``
    (best error over eta_a at the largest eta_W), ``c2_grid_{f}_row_first`` / ``c2_grid_{f}_row_last`` (at
    the selected eta_a, the error at the smallest / largest eta_W), ``c2_grid_{f}_near_prod_lo`` /
    ``_hi`` (range of eta_a eta_W over the points within 0.05 of the best); ``c2_grid_T``, ``c2_grid_wall``,
    ``c2_grid_seeds``, ``c2_grid_points``, ``c2_grid_matches``."""
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
    used = {f: (getattr(p, f"eta_a_{f}"), getattr(p, f"eta_W_{f}")) for f in ("linear", "quadratic")}
    out.update({"c2_grid_T": gs["T"], "c2_grid_wall": gs["wall_time_s"],
                "c2_grid_seeds": ", ".join(str(s) for s in gs["seeds"]),
                "c2_grid_points": len(gs["eta_a"]) * len(gs["eta_W"]),
                "c2_grid_smallest_etaW": float(ew_axis[0]), "c2_grid_largest_etaW": float(ew_axis[-1]),
                "c2_grid_matches": "are" if used == sel else "are NOT (this run overrides them)"})
    return out


def explore_numbers() -> dict:
    """The explorer's initial values, as the prose states them: ``c2_explore_{T,d,family,eta_W,r,m,n,rounds}``."""
    return {f"c2_explore_{k}": v for k, v in EXPLORE.items() if k != "seed"}


def summary(result: dict, p: Params, grid: dict | None = None) -> dict:
    """Every number and computed phrase the chapter's prose quotes (the union of the section functions
    above, whose docstrings list the keys)."""
    out = {}
    for part in (setting_numbers, curve_numbers, family_numbers, family_comparison, collapse_numbers,
                 verdict_numbers):
        out.update(part(result, p))
    out.update(grid_numbers(step_sizes.load_grid() if grid is None else grid, p))
    out.update(explore_numbers())
    return out


def table(result: dict, p: Params) -> list[dict]:
    """Per family and T: mean final error with its 95% half-width, energy, directions recovered, status
    (rows for a profile table)."""
    rows = []
    for f in p.all_families:
        fam = result[f]
        for j, T in enumerate(p.T_values):
            e, en = stats.mean_ci(fam["final_error"][j]), stats.mean_ci(fam["final_energy"][j])
            rows.append({"family": f, "T": T, "error": float(e.mean), "error_ci": float(e.half),
                         "energy": float(en.mean), "energy_ci": float(en.half),
                         "recovered": float(fam["recovered"][j].mean()), "status": status(fam["final_error"][j])})
    return rows


def explore(d: int, T: int, family: str, eta_W: float, rounds: int = EXPLORE["rounds"], r: int = EXPLORE["r"],
            m: int = EXPLORE["m"], seed: int = EXPLORE["seed"], n: int = EXPLORE["n"]) -> dict:
    """One small run for the chapter's live explorer (head step eta_a of the family's grid choice)."""
    eta_a = STEP_SIZES[family][0]
    cfg = TrainConfig(d=d, r=r, m=m, T=T, family=family, n1=n, n2=n, rounds=rounds, eta_a=eta_a, eta_W=eta_W,
                      seed=seed, record_every=5)
    return one_run(cfg)
