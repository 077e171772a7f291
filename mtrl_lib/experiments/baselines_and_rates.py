"""Chapter "Baselines and rates" (beyond the paper): what the network buys, what it costs, and at what rate.

Four questions, each answered by runs of the alternating algorithm (:func:`mtrl_lib.train.train`) and by the
baselines of :mod:`mtrl_lib.baselines`, one unit (:mod:`mtrl_lib.units`) per configuration and seed:

1. **Tasks or samples?** Final subspace error against T for ``T_values``, both paper families, in two ways:
   n1 = n2 fixed per task (the paper's view) and a fixed total ``n_total`` = T n2 = T n1 per phase (the
   control; n1 = n2 = round(n_total / T)).
2. **Baselines at equal samples.** At the base setting (``d, r, m, T, n1, n2``) the network, the first- and
   second-moment estimators, the linear representation and random features. The network sees
   rounds (n1 + n2) fresh samples per task; the baselines see *the same draws*: they replay the network's data
   stream (``stream_seed(seed, "data")``), which for a run that fits one chunk is ``sample(n1)``,
   ``sample(n2)`` per round (:mod:`mtrl_lib.train`; ``tests/test_baselines.py`` checks the replay). Every size
   of the book fits one chunk; a run split into chunks draws in another order, and the baselines then get as
   many draws from the same distribution.
   Downstream accuracy: chapter 3's probe (:func:`mtrl_lib.probe.probe_accuracy`, ridge with leave-one-out
   regularisation) at the same m and n3, on ``down_tasks`` new tasks of the same family; a subspace estimate
   U becomes m ReLU features with rows uniform on the sphere of span(U) (as chapter 3 builds its oracle
   features from span(M)) and the network's biases.
3. **Parity** (:mod:`mtrl_lib.tasks`, information exponent 3): the same comparison at the quick budget
   (``rounds_quadratic`` rounds of n1, n2) and a larger one (``rounds_parity_large`` rounds of
   ``n_parity_large`` samples per phase), with network biases of scale ``bias_scale_parity``.
4. **Rates.** Final error of the linear family against T (T >= 2r, from the sweep of 1), d (``ds``) and
   n2 (``n2s``, n1 = n2), with slopes of log error on log x fitted per seed and a 95% t interval over seeds,
   beside the sketch error ~ sqrt(d / (T n2)) (slopes -1/2, +1/2, -1/2); the escape round (first recorded
   round with error < :data:`ESCAPE_LEVEL`) against log(d / r), with its curvature. The step rule of the
   sweeps is a fixed (eta_a, eta_W), the linear family's: the mean feature step does not depend on d, T or n2
   under the book's normalisation, and the sketch is the stationary error of a fixed step (the chapter derives
   both). The step-size check reruns the two ends of each sweep at eta_W times :data:`STEP_FACTORS` and
   refits the slope between them.

Section 2's verdict criterion compares the network with the estimator built for each family
(:data:`MATCHED`): the ratio of their errors is bounded by :data:`RATIO_BOUND`, declared with the criterion.
The comparisons behind the prose's direction words are one Holm family (:func:`comparisons`); "equal" slopes
are TOST-equivalent within :data:`SLOPE_MARGIN`.

"Final error" is the mean of the recorded errors in the last :data:`TAIL` of the rounds.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import baselines as bl
from ..metrics import RECOVERED_COSINE, energy, subspace_error
from ..model import oracle_weights
from ..probe import probe_accuracy
from ..comparisons import Family, equivalent
from ..stats import MIN_SEEDS, enough_seeds, mean_ci, undecided
from ..tasks import draw_tasks, make_generator
from ..threads import one_thread
from ..train import CONTROLS, TrainConfig, setup, stream_seed, train
from ..units import run_units, unit
from .common import ChapterParams, Choice, Float, Int, IntList, check_seed_count
from .step_sizes import GRID_ETA_A, GRID_ETA_W, GRID_ROUNDS, GRID_SEEDS, GRID_SIZES, GRID_T, STEP_SIZES

PAPER_FAMILIES = ("linear", "quadratic")
#: the methods that estimate span(M), and the feature sets the probe compares
METHODS = ("network", "moment1", "moment2", "linrep", "random")
FEATURES = METHODS + ("oracle",)
#: the base-setting cases of section 2 and 3 (parity_large: parity at the larger budget)
CASES = ("linear", "quadratic", "parity", "parity_large")
PROBE = "ridge_loo"
#: the families whose features are probed downstream (the paper's: a linear head on m ReLU features and n3
#: samples is no test of a degree-3 parity, so parity is compared on its subspace error and energy only)
PROBED = PAPER_FAMILIES
TAIL = 0.2
ESCAPE_LEVEL = 0.5
#: the verdict's learning requirement: the upper 95% bound of the network's error stays below this level, the
#: error sqrt(1 - 0.9^2) of a W whose worst principal cosine with span(M) is 0.9 (the cosine at which the book
#: counts a direction as recovered; chapter 2's recovery level)
LEARN_LEVEL = math.sqrt(1.0 - RECOVERED_COSINE ** 2)
#: the estimator built for each paper family (the one whose moment carries that family's signal), and the
#: family it cannot see
MATCHED = {"linear": "moment1", "quadratic": "moment2"}
BLIND = {"moment1": "quadratic", "moment2": "linear"}
#: the verdict's bound on what the network's generality may cost: on every paper family, the upper 95% bound of
#: the geometric-mean ratio err(network) / err(matched estimator) over seeds stays below RATIO_BOUND. Declared
#: with the criterion, before any paper-scale run of it: under the sketch err ~ sqrt(d / N) a factor 2 in error
#: is a factor 4 in samples, a constant price, where an estimator off its own family does not learn at any N.
RATIO_BOUND = 2.0
#: the equivalence margin (TOST, mtrl_lib.comparisons.equivalent) for "a fitted slope equals the sketch's":
#: a fifth of the sketch's |slope| 1/2
SLOPE_MARGIN = 0.1
#: the step-size check of the rates: the two ends of every sweep are rerun with eta_W times each factor (the
#: head step unchanged), and the slope between the ends is refitted at each step
STEP_FACTORS = (0.5, 2.0)
#: the sketch's slope of log error in each swept size (b-sketch: err ~ sqrt(d / (T n2)))
SKETCH_SLOPES = {"T": -0.5, "d": 0.5, "n": -0.5}

# Step sizes of the linear representation, chosen by the network's rule (mtrl_lib.experiments.step_sizes) on the
# same grid, setting and held-out seeds, for the linear family (the only one a linear predictor can learn):
# mean subspace error after GRID_ROUNDS["linear"] rounds, rows eta_a in GRID_ETA_A, columns eta_W in
# GRID_ETA_W, a diverged run counted as 1. Regenerate with
#     python -m mtrl_lib.experiments.baselines_and_rates
_LINREP_TABLE = (
    (0.9992, 0.9987, 0.9948, 0.9588, 0.7225, 0.3566, 0.4686, 0.6532, 0.7757, 0.8231),
    (0.9990, 0.9976, 0.9360, 0.5880, 0.2488, 0.4820, 0.6178, 0.7155, 0.8134, 0.8544),
    (0.9988, 0.9940, 0.6402, 0.1986, 0.3293, 0.5681, 0.7961, 0.9912, 0.9920, 0.9961),
    (0.9092, 0.5204, 0.2591, 0.4607, 0.9655, 0.9984, 0.9933, 0.9982, 0.9983, 0.9988),
)
#: (eta_a, eta_W) of the linear representation: the argmin of the table (``tests/test_baselines.py`` checks it)
LINREP_STEPS = (50.0, 0.1)


@dataclass(frozen=True)
class Params(ChapterParams):
    d: int = 50                                   # ambient dimension of the base setting
    r: int = 5                                    # latent dimension, dim span(M) (>= 3: parity needs three directions)
    m: int = 100                                  # neurons (chapter 3's m; every probed feature set has m features)
    T: int = 20                                   # tasks of the base setting (baselines, parity, d and n2 sweeps)
    n1: int = 50                                  # fresh samples per task in each head phase
    n2: int = 50                                  # fresh samples per task in each feature phase
    rounds: int = 100                             # rounds for the linear family (the step-size grid's budget)
    rounds_quadratic: int = 150                   # rounds for the quadratic family and parity's quick budget
    T_values: tuple[int, ...] = (5, 10, 20, 40)   # numbers of tasks of the T sweeps, increasing
    n_total: int = 500                            # fixed total T n2 (= T n1) per phase of the budget control
    ds: tuple[int, ...] = (25, 50, 100)           # ambient dimensions of the d sweep (linear, T tasks), increasing
    n2s: tuple[int, ...] = (25, 50, 100)          # samples per task and phase of the n2 sweep (n1 = n2), increasing
    rounds_parity_large: int = 150                # rounds of parity's larger budget
    n_parity_large: int = 100                     # samples per task and phase (n1 = n2) of parity's larger budget
    bias_scale_parity: float = 1.0                # network biases b ~ bias_scale_parity N(0, 1), parity only
    eta_a_linear: float = STEP_SIZES["linear"][0]          # head step, linear family (grid rule)
    eta_W_linear: float = STEP_SIZES["linear"][1]          # feature step, linear family (grid rule)
    eta_a_quadratic: float = STEP_SIZES["quadratic"][0]    # head step, quadratic family (grid rule)
    eta_W_quadratic: float = STEP_SIZES["quadratic"][1]    # feature step, quadratic family (grid rule)
    eta_a_parity: float = STEP_SIZES["quadratic"][0]       # head step, parity (the grid does not cover it: quadratic's)
    eta_W_parity: float = STEP_SIZES["quadratic"][1]       # feature step, parity (quadratic's)
    eta_a_linrep: float = LINREP_STEPS[0]         # head step of the linear representation (same grid rule)
    eta_W_linrep: float = LINREP_STEPS[1]         # feature step of the linear representation (same grid rule)
    n3: int = 100                                 # downstream training samples per task (chapter 3's n3)
    down_tasks: int = 5                           # new downstream tasks per seed and case
    n_test: int = 500                             # downstream test samples per task
    record_every: int = 2                         # rounds between recorded errors (escape-round resolution)
    control: str = "none"                         # "none", or a negative control of mtrl_lib.train (tests)

    constraints = {
        "r": Int(3, 100), "T_values": IntList(1, 100_000, increasing=True), "n_total": Int(1, 100_000_000),
        "ds": IntList(2, 100_000, increasing=True), "n2s": IntList(1, 1_000_000, increasing=True),
        "rounds_parity_large": Int(1, 1_000_000), "n_parity_large": Int(1, 1_000_000),
        "bias_scale_parity": Float(0.0, 10.0), "control": Choice(CONTROLS),
    }

    def check(self) -> None:
        super().check()
        check_seed_count(self.seeds)            # the one wording of every chapter (experiments/common.py)
        if self.r >= self.ds[0]:
            raise ValueError(f"ds must all exceed r = {self.r}, got {list(self.ds)}")
        if sum(T >= 2 * self.r for T in self.T_values) < 2:
            raise ValueError(f"T_values must hold at least two values >= 2 r = {2 * self.r} (the rate fit in T), "
                             f"got {list(self.T_values)}")
        if self.n_total < self.T_values[-1]:
            raise ValueError(f"n_total must be at least the largest T = {self.T_values[-1]} (one sample per task), "
                             f"got {self.n_total}")

    def eta(self, family: str) -> tuple[float, float]:
        return getattr(self, f"eta_a_{family}"), getattr(self, f"eta_W_{family}")

    @property
    def T_fit(self) -> tuple[int, ...]:
        """The T of the rate fit: T >= 2r (below, the tasks' own conditioning, not the samples, sets the error)."""
        return tuple(T for T in self.T_values if T >= 2 * self.r)

    @property
    def T_above_r(self) -> tuple[int, ...]:
        return tuple(T for T in self.T_values if T > self.r)


# ----------------------------------------------------------------------------------------------------- units

def network_unit(seed: int, *, d: int, r: int, m: int, T: int, family: str, n1: int, n2: int, rounds: int,
                 eta_a: float, eta_W: float, bias_scale: float, record_every: int, control: str, device: str,
                 baselines: dict | None = None) -> dict:
    """One training run: the error trajectory, its final error and escape round; with ``baselines``
    (``{"eta_a_linrep", "eta_W_linrep", "n3", "down_tasks", "n_test"}``) also :func:`baseline_metrics`.

    Runs on one CPU thread (:func:`mtrl_lib.threads.one_thread`): at these sizes (matrices of a few thousand
    rows) a second thread costs more in synchronisation than it gains (measured: 2 seeds of the quick profile in
    9.0 s on one thread, 14.7 s on two), and the result is the same bits wherever the unit runs."""
    with one_thread():
        return _network_unit(seed, d=d, r=r, m=m, T=T, family=family, n1=n1, n2=n2, rounds=rounds, eta_a=eta_a,
                             eta_W=eta_W, bias_scale=bias_scale, record_every=record_every, control=control,
                             device=device, baselines=baselines)


def _network_unit(seed, *, d, r, m, T, family, n1, n2, rounds, eta_a, eta_W, bias_scale, record_every, control,
                  device, baselines) -> dict:
    cfg = TrainConfig(d=d, r=r, m=m, T=T, family=family, n1=n1, n2=n2, rounds=rounds, eta_a=eta_a, eta_W=eta_W,
                      bias_scale=bias_scale, record_every=record_every, control=control, seed=seed, device=device)
    res = train(cfg)
    h = res.history
    out = {"round": h["round"], "error": h["subspace_error"], "energy": h["energy"],
           "final_error": final_error(h["round"], h["subspace_error"]),
           "escape": escape_round(h["round"], h["subspace_error"])}
    if baselines:
        out.update(baseline_metrics(res, **baselines))
    return out


def final_error(rounds, errors) -> float:
    """Mean recorded error over the last :data:`TAIL` of the rounds (the last record always counts)."""
    rounds, errors = np.asarray(rounds, float), np.asarray(errors, float)
    keep = rounds >= rounds[-1] * (1 - TAIL)
    return float(errors[keep].mean())


def escape_round(rounds, errors, level: float = ESCAPE_LEVEL) -> float:
    """First recorded round with error < ``level``; -1 if none."""
    hit = np.nonzero(np.asarray(errors) < level)[0]
    return float(np.asarray(rounds)[hit[0]]) if hit.size else -1.0


def baseline_metrics(res, *, eta_a_linrep: float, eta_W_linrep: float, n3: int, down_tasks: int,
                     n_test: int) -> dict:
    """The baselines on the network run's M, tasks and samples, and chapter 3's probe for every feature set.

    Keys: ``err_<method>`` and ``energy_<method>`` for :data:`METHODS` (subspace error and energy of the
    estimate: W for the network and random features, U^T or B for the estimators), ``acc_<feature set>`` for
    :data:`FEATURES` (mean downstream accuracy over the new tasks; for the families in :data:`PROBED` only)."""
    cfg, M = res.config, res.M
    seed, dev = cfg.seed, M.device
    # One pass over the network's samples (its "data" stream replayed) trains the linear representation and
    # feeds the moment estimators.
    mom = bl.Moments(cfg.T, cfg.d, dev)
    B0 = torch.randn(cfg.r, cfg.d, generator=make_generator(stream_seed(seed, "b-linrep-init"), dev), dtype=M.dtype)
    B, _ = bl.train_linear_rep(M, res.tasks, B0, n1=cfg.n1, n2=cfg.n2, rounds=cfg.rounds, eta_a=eta_a_linrep,
                               eta_W=eta_W_linrep, generator=make_generator(stream_seed(seed, "data"), dev),
                               loss=cfg.loss, control=cfg.control, record_every=max(1, cfg.rounds),
                               on_block=mom.add)
    G, S = mom.result()
    est = {"network": res.W, "random": res.W0, "moment1": bl.first_moment_subspace(G, cfg.r).T,
           "moment2": bl.second_moment_subspace(S, cfg.r).T, "linrep": B}
    out = {}
    for k in METHODS:
        out[f"err_{k}"] = subspace_error(est[k], M)
        out[f"energy_{k}"] = energy(est[k], M)
    feats = {"network": res.W, "random": res.W0}
    for k, span in (("moment1", est["moment1"]), ("moment2", est["moment2"]), ("linrep", B), ("oracle", M.T)):
        basis = torch.linalg.qr(span.double().T)[0]                                   # (d, r) orthonormal
        g = make_generator(stream_seed(seed, f"b-features-{k}"), dev)
        feats[k] = oracle_weights(cfg.m, basis.to(M.dtype), g).to(M.dtype)
    if cfg.family not in PROBED:
        return out
    tasks = draw_tasks(cfg.family, down_tasks, cfg.r, make_generator(stream_seed(seed, "b-down"), dev))
    for k in FEATURES:
        g = make_generator(stream_seed(seed, "b-probe"), dev)       # the same samples for every feature set
        acc = probe_accuracy(feats[k], res.b, M, tasks, n3, g, n_test=n_test, method=PROBE)
        out[f"acc_{k}"] = float(acc.mean())
    return out


# ------------------------------------------------------------------------------------------------- the plan

def _config(p: Params, family: str, *, T: int | None = None, n1: int | None = None, n2: int | None = None,
            d: int | None = None, rounds: int | None = None, step_factor: float = 1.0) -> dict:
    """The JSON configuration of one network run (base setting unless overridden; ``step_factor`` multiplies
    the family's eta_W, for the step-size check of the rates)."""
    eta_a, eta_W = p.eta(family)
    eta_W = eta_W * step_factor
    default_rounds = p.rounds if family == "linear" else p.rounds_quadratic
    return dict(d=p.d if d is None else d, r=p.r, m=p.m, T=p.T if T is None else T, family=family,
                n1=p.n1 if n1 is None else n1, n2=p.n2 if n2 is None else n2,
                rounds=default_rounds if rounds is None else rounds, eta_a=eta_a, eta_W=eta_W,
                bias_scale=p.bias_scale_parity if family == "parity" else 0.0, record_every=p.record_every,
                control=p.control, device=p.device)


def budget_n(p: Params, T: int) -> int:
    """Samples per task and phase of the fixed-total control: round(n_total / T), at least 1."""
    return max(1, round(p.n_total / T))


def plan(p: Params) -> dict:
    """``{point: configuration}`` for every run the chapter needs. Points: ("pertask" | "budget", family, T),
    ("base", case) for :data:`CASES` (with the baselines), ("d", d), ("n", n2), and ("step", sweep, end,
    factor) for the two ends of each rate sweep (:func:`sweep_ends`) at eta_W times each of
    :data:`STEP_FACTORS`. Equal configurations are one run: a sweep point that equals a base case reuses its
    run."""
    extra = dict(eta_a_linrep=p.eta_a_linrep, eta_W_linrep=p.eta_W_linrep, n3=p.n3, down_tasks=p.down_tasks,
                 n_test=p.n_test)
    points = {("base", f): {**_config(p, f), "baselines": extra} for f in ("linear", "quadratic", "parity")}
    points["base", "parity_large"] = {**_config(p, "parity", n1=p.n_parity_large, n2=p.n_parity_large,
                                                rounds=p.rounds_parity_large), "baselines": extra}
    for f in PAPER_FAMILIES:
        for T in p.T_values:
            points["pertask", f, T] = _config(p, f, T=T)
            points["budget", f, T] = _config(p, f, T=T, n1=budget_n(p, T), n2=budget_n(p, T))
    for d in p.ds:
        points["d", d] = _config(p, "linear", d=d)
    for n in p.n2s:
        points["n", n] = _config(p, "linear", n1=n, n2=n)
    for name, ends in sweep_ends(p).items():
        for x in ends:
            for fct in STEP_FACTORS:
                points["step", name, x, fct] = _config(p, "linear", step_factor=fct, **_sweep_kw(name, x))
    return points


def sweep_ends(p: Params) -> dict:
    """The smallest and largest value of each rate sweep: ``{"T": (T_fit[0], T_fit[-1]), "d": ..., "n": ...}``."""
    return {"T": (p.T_fit[0], p.T_fit[-1]), "d": (p.ds[0], p.ds[-1]), "n": (p.n2s[0], p.n2s[-1])}


def _sweep_kw(name: str, x: int) -> dict:
    """The :func:`_config` overrides of one point of a rate sweep."""
    return {"T": {"T": x}, "d": {"d": x}, "n": {"n1": x, "n2": x}}[name]


def _sweep_point(name: str, x: int) -> tuple:
    """The plan's point of value ``x`` of rate sweep ``name`` at the base step."""
    return ("pertask", "linear", x) if name == "T" else (name, x)


def _key(cfg: dict) -> str:
    return json.dumps({k: v for k, v in cfg.items() if k != "baselines"}, sort_keys=True)


def run(p: Params, executor=None) -> dict:
    """All of the chapter's numbers (see :func:`reduce` for the layout)."""
    points = plan(p)
    runs = {}                                   # configuration key -> configuration (with baselines if any asks)
    for cfg in points.values():
        k = _key(cfg)
        if k not in runs or "baselines" in cfg:
            runs[k] = cfg
    keys = list(runs)
    units = [unit(network_unit, s, **runs[k]) for k in keys for s in p.seeds]
    out = run_units(units, executor, desc="baselines and rates: runs x seeds")
    by = {(k, s): out[i * len(p.seeds) + j] for i, k in enumerate(keys) for j, s in enumerate(p.seeds)}
    per_point = {pt: [by[_key(cfg), s] for s in p.seeds] for pt, cfg in points.items()}
    return reduce(per_point, p)


def slopes(x, Y) -> np.ndarray:
    """Least-squares slope of log Y on log x for each seed.  ``x: (k,)``, ``Y: (seeds, k)`` -> ``(seeds,)``."""
    lx = np.log(np.asarray(x, float))
    lY = np.log(np.asarray(Y, float))
    lx = lx - lx.mean()
    return (lY - lY.mean(axis=1, keepdims=True)) @ lx / (lx @ lx)


def reduce(per_point: dict, p: Params) -> dict:
    """Arrays over seeds from the per-point unit results.

    ``sweep[family]``: ``pertask``, ``budget`` final errors (seeds, len(T_values)); ``base[case]``: ``err``,
    ``energy``, ``acc`` dicts of (seeds,) per method and ``n_samples`` per task; ``rates``: final errors
    ``T`` (seeds, len(T_fit)), ``d``, ``n``, escape rounds ``escape`` (seeds, len(ds)), error trajectories
    ``traj_d`` (seeds, len(ds), records) with ``traj_rounds``, per-seed ``slope_T``, ``slope_d``,
    ``slope_n``, ``slope_escape`` (escape round per unit of log(d / r)); ``verdict``."""
    col = lambda pts, key: np.asarray([[r[key] for r in per_point[pt]] for pt in pts], float).T
    res = {"T_values": np.asarray(p.T_values), "sweep": {}, "base": {}}
    for f in PAPER_FAMILIES:
        res["sweep"][f] = {w: col([(w, f, T) for T in p.T_values], "final_error") for w in ("pertask", "budget")}
    configs = plan(p)
    for case in CASES:
        rows, cfg = per_point["base", case], configs["base", case]
        res["base"][case] = {
            "err": {k: np.asarray([r[f"err_{k}"] for r in rows]) for k in METHODS},
            "energy": {k: np.asarray([r[f"energy_{k}"] for r in rows]) for k in METHODS},
            "acc": ({k: np.asarray([r[f"acc_{k}"] for r in rows]) for k in FEATURES} if case in PROBED else {}),
            "n_samples": cfg["rounds"] * (cfg["n1"] + cfg["n2"]),        # samples per task the network saw
        }
    rates = {"T": col([("pertask", "linear", T) for T in p.T_fit], "final_error"),
             "d": col([("d", d) for d in p.ds], "final_error"), "n": col([("n", n) for n in p.n2s], "final_error"),
             "escape": col([("d", d) for d in p.ds], "escape"),
             "traj_d": np.asarray([[r["error"] for r in per_point["d", d]] for d in p.ds], float).transpose(1, 0, 2),
             "traj_rounds": np.asarray(per_point["d", p.ds[0]][0]["round"], float)}
    rates["slope_T"] = slopes(p.T_fit, rates["T"])
    rates["slope_d"] = slopes(p.ds, rates["d"])
    rates["slope_n"] = slopes(p.n2s, rates["n"])
    # the step-size check: slope between the two ends of each sweep at each step factor (1: the base step)
    rates["step_slope"] = {}
    for name, ends in sweep_ends(p).items():
        at = {1.0: col([_sweep_point(name, x) for x in ends], "final_error")}
        for fct in STEP_FACTORS:
            at[fct] = col([("step", name, x, fct) for x in ends], "final_error")
        rates["step_slope"][name] = {fct: slopes(ends, Y) for fct, Y in at.items()}
    esc = rates["escape"]
    rates["n_escaped"] = int((esc >= 0).all(axis=1).sum())         # seeds whose runs all fell below the level
    lc = np.log(np.asarray(p.ds, float) / p.r)
    lc = lc - lc.mean()
    # escape round per unit of log(d / r), least squares per seed (meaningful only when every run escaped)
    rates["slope_escape"] = (esc - esc.mean(axis=1, keepdims=True)) @ lc / (lc @ lc)
    rates["curv_escape"] = curvature(np.log(np.asarray(p.ds, float) / p.r), esc)
    res["rates"] = rates
    res["verdict"] = verdict(res, p)
    res["family"] = comparisons(res, p)
    return res


def curvature(x, Y) -> np.ndarray:
    """Per-seed least-squares coefficient c of (x - mean x)^2 in Y ~ a + b x + c (x - mean x)^2: 0 for points on a
    straight line (NaN with fewer than three distinct x).  ``x: (k,)``, ``Y: (seeds, k)`` -> ``(seeds,)``."""
    x = np.asarray(x, float)
    Y = np.asarray(Y, float)
    if np.unique(x).size < 3:
        return np.full(Y.shape[0], np.nan)
    xc = x - x.mean()
    X = np.stack([np.ones_like(xc), xc, xc ** 2], axis=1)
    coef = np.linalg.lstsq(X, Y.T, rcond=None)[0]
    return coef[2]


def log_ratio(res: dict, family: str) -> np.ndarray:
    """Per seed, log(err(network) / err(matched estimator)) on ``family`` at the base setting."""
    e = res["base"][family]["err"]
    return np.log(e["network"]) - np.log(e[MATCHED[family]])


def comparisons(res: dict, p: Params) -> Family:
    """The chapter's Holm family: every comparison behind a glued direction word ("significantly ...", "falls",
    "rises", "below", "above", "steeper", "shallower", "curved"), decided together at 5%
    (:class:`mtrl_lib.comparisons.Family`). Names:

    * ``budget_<w>_<family>`` (w in budget, pertask): final error at the largest minus the smallest T above r;
    * ``vs_<method>_<family>``: the network's error minus the method's (moment1, moment2, linrep), paired;
    * ``acc_vs_matched_<family>``: the network's downstream accuracy minus the matched estimator's, paired;
    * ``energy_vs_random_<case>`` (parity, parity_large): the network's energy in span(M) minus random features';
    * ``slope_<x>`` (T, d, n): the fitted slope minus the sketch's;
    * ``step_<x>_<factor>``: the end-to-end slope at eta_W times the factor minus the one at the base step;
    * ``escape_slope`` and ``escape_curv`` (when every seed escaped at every d; the curvature with >= 3 ds).

    Verdict criteria are not in it: each of them needs every one of its tests to pass (an intersection test)."""
    fam = Family()
    Ts = list(p.T_values)
    i0, i1 = Ts.index(p.T_above_r[0]), Ts.index(p.T_above_r[-1])
    for f in PAPER_FAMILIES:
        for w in ("budget", "pertask"):
            e = res["sweep"][f][w]
            fam.test(f"budget_{w}_{f}", e[:, i1] - e[:, i0])
        b = res["base"][f]
        for k in ("moment1", "moment2", "linrep"):
            fam.test(f"vs_{k}_{f}", b["err"]["network"] - b["err"][k])
        fam.test(f"acc_vs_matched_{f}", b["acc"]["network"] - b["acc"][MATCHED[f]])
    for case in ("parity", "parity_large"):
        e = res["base"][case]["energy"]
        fam.test(f"energy_vs_random_{case}", e["network"] - e["random"])
    r = res["rates"]
    for name, target in SKETCH_SLOPES.items():
        fam.test(f"slope_{name}", r[f"slope_{name}"], null=target)
        for fct in STEP_FACTORS:
            fam.test(f"step_{name}_{fct:g}", r["step_slope"][name][fct] - r["step_slope"][name][1.0])
    if r["n_escaped"] == len(p.seeds):
        fam.test("escape_slope", r["slope_escape"])
        if not np.isnan(r["curv_escape"]).any():
            fam.test("escape_curv", r["curv_escape"])
    return fam.decide()


# --------------------------------------------------------------------------------------------- the verdict

def verdict(res: dict, p: Params) -> str:
    """The chapter's claim, decided on 95% t intervals over seeds (criteria fixed in advance):

    (i) **the network learns** span(M) for both paper families: the upper bound of its subspace error at the
        base setting is below :data:`LEARN_LEVEL` = sqrt(1 - 0.9^2) = 0.436 (every principal cosine between
        span(M) and the learned subspace at least 0.9; a random W, and so an untrained or label-shuffled run,
        stays near 1);
    (ii) **one algorithm, at a bounded price**: on every paper family the network's error is within a factor
         :data:`RATIO_BOUND` of the estimator built for that family (:data:`MATCHED`): the upper 95% bound of
         the geometric-mean ratio err(network) / err(matched) over seeds is below RATIO_BOUND; while each
         moment estimator fails off its own family (:data:`BLIND`): the lower bound of its error there is
         above LEARN_LEVEL;
    (iii) **the rates have the sketch's signs**: the slope of log error is significantly negative in T and in n2
          and significantly positive in d.

    "reproduced" when all hold; "partly reproduced (...)" when (i) holds and (ii) or (iii) fails; "not
    reproduced (...)" when (i) fails. Each criterion needs every one of its tests to pass (an intersection test,
    at 5% without a multiple-comparison correction). Fewer than 10 seeds decide nothing."""
    n = len(p.seeds)
    if not enough_seeds(n):
        return undecided(n)
    base, rates = res["base"], res["rates"]
    learn = [f"network error at the base setting not below {LEARN_LEVEL:.3f} on {f} (upper bound "
             f"{float(mean_ci(base[f]['err']['network']).hi):.2f})"
             for f in PAPER_FAMILIES if not mean_ci(base[f]["err"]["network"]).hi < LEARN_LEVEL]
    other = []
    for f in PAPER_FAMILIES:
        iv = ratio_ci(res, f)
        if not iv[2] < RATIO_BOUND:
            other.append(f"network not within a factor {RATIO_BOUND:g} of the {MATCHED[f]} estimator on {f} "
                         f"(ratio {iv[0]:.2f}, upper bound {iv[2]:.2f})")
    for k, f in BLIND.items():
        if not mean_ci(base[f]["err"][k]).lo > LEARN_LEVEL:
            other.append(f"{k} estimator not failing on {f}")
    for name, sign in (("slope_T", -1), ("slope_n", -1), ("slope_d", +1)):
        iv = mean_ci(rates[name])
        if not (iv.hi < 0 if sign < 0 else iv.lo > 0):
            other.append(f"{name} not significantly {'negative' if sign < 0 else 'positive'}")
    if learn:
        return "not reproduced (" + "; ".join(learn + other) + ")"
    return "reproduced" if not other else "partly reproduced (" + "; ".join(other) + ")"


def ratio_ci(res: dict, family: str) -> tuple[float, float, float]:
    """(geometric mean, lower, upper 95% bound) over seeds of err(network) / err(matched estimator) on
    ``family``: exp of the t interval of the per-seed log ratios."""
    iv = mean_ci(log_ratio(res, family))
    return float(np.exp(iv.mean)), float(np.exp(iv.lo)), float(np.exp(iv.hi))


# ---------------------------------------------------------------------------------------------- the summary
# Each *_numbers function returns the glue values of one section of the chapter (names start with ``b_``);
# :func:`summary` is their union.

def direction(fam: Family, name: str, x, words=("significantly below", "significantly above",
                                                   "not distinguishable from")) -> str:
    """The glued word of comparison ``name`` of the Holm family: ``words[0]`` when it is significant with a
    negative mean of ``x`` (the per-seed values the family tested), ``words[1]`` with a positive one,
    ``words[2]`` when it is not significant after the correction."""
    if not fam[name]:
        return words[2]
    return words[0] if float(np.mean(x)) < 0 else words[1]


def _ci(out: dict, name: str, x) -> None:
    """``out[name]``, ``out[name + "_ci"]``: mean over seeds and the half-width of its 95% t interval."""
    iv = mean_ci(x)
    out[name], out[f"{name}_ci"] = float(iv.mean), float(iv.half)


def summary(res: dict, p: Params) -> dict:
    """Every number and computed phrase the chapter's prose quotes."""
    out = {}
    for part in (setting_numbers, budget_numbers, baseline_numbers, parity_numbers, rate_numbers, verdict_numbers):
        out.update(part(res, p))
    out.update(explore_numbers())
    return out


def setting_numbers(res: dict, p: Params) -> dict:
    """The sizes the prose quotes, how many samples per task each base case saw (b_n_samples_<case>), the size
    b_n_family of the chapter's Holm family (:func:`comparisons`) and b_min_seeds (the seeds a verdict needs)."""
    out = {"b_n_seeds": len(p.seeds), "b_d": p.d, "b_r": p.r, "b_m": p.m, "b_T": p.T, "b_n1": p.n1, "b_n2": p.n2,
           "b_rounds": p.rounds, "b_rounds_quadratic": p.rounds_quadratic, "b_n3": p.n3,
           "b_down_tasks": p.down_tasks, "b_n_test": p.n_test, "b_n_family": len(res["family"]),
           "b_min_seeds": MIN_SEEDS}
    for case in CASES:                                       # b_n_samples_linear, ..._quadratic, ..._parity(_large)
        out[f"b_n_samples_{case}"] = res["base"][case]["n_samples"]
    return out


def budget_numbers(res: dict, p: Params) -> dict:
    """Section "Tasks or samples". b_Tmin, b_Tmax (the smallest and largest T above r), b_n_total,
    b_n_budget_Tmin, b_n_budget_Tmax; then for f in linear (no suffix) and quadratic (suffix ``_quadratic``):
    b_budget_err_Tmin, b_budget_err_Tmax, b_pertask_err_Tmin, b_pertask_err_Tmax, b_budget_drop,
    b_pertask_drop (paired Tmin - Tmax), each with _ci, and b_budget_phrase, b_pertask_phrase (how the error
    changes from Tmin to Tmax, in the Holm family)."""
    Ts, fam = list(p.T_values), res["family"]
    i0, i1 = Ts.index(p.T_above_r[0]), Ts.index(p.T_above_r[-1])
    out = {"b_Tmin": Ts[i0], "b_Tmax": Ts[i1], "b_n_total": p.n_total, "b_n_budget_Tmin": budget_n(p, Ts[i0]),
           "b_n_budget_Tmax": budget_n(p, Ts[i1])}
    words = ("falls significantly", "rises significantly", "does not change significantly")
    for f in PAPER_FAMILIES:
        sfx = "" if f == "linear" else f"_{f}"
        for w in ("budget", "pertask"):
            e = res["sweep"][f][w]
            _ci(out, f"b_{w}_err_Tmin{sfx}", e[:, i0])
            _ci(out, f"b_{w}_err_Tmax{sfx}", e[:, i1])
            _ci(out, f"b_{w}_drop{sfx}", e[:, i0] - e[:, i1])
            out[f"b_{w}_phrase{sfx}"] = direction(fam, f"budget_{w}_{f}", e[:, i1] - e[:, i0], words)
    return out


def _case_numbers(res: dict, case: str) -> dict:
    """For one base case: b_err_<method>_<case>, b_energy_<method>_<case> (METHODS), b_acc_<set>_<case>
    (FEATURES, probed families only), each with _ci."""
    out, b = {}, res["base"][case]
    for k in METHODS:
        _ci(out, f"b_err_{k}_{case}", b["err"][k])
        _ci(out, f"b_energy_{k}_{case}", b["energy"][k])
    for k in b["acc"]:
        _ci(out, f"b_acc_{k}_{case}", b["acc"][k])
    return out


def baseline_numbers(res: dict, p: Params) -> dict:
    """Section "Baselines at equal samples": :func:`_case_numbers` for linear and quadratic; b_eta_a_linrep,
    b_eta_W_linrep, b_ratio_bound; per family f: b_vs_<method>_<f> (moment1, moment2, linrep: the network's error
    against the method's, Holm family), b_ratio_<f> with b_ratio_<f>_lo, b_ratio_<f>_hi (geometric-mean ratio
    err(network) / err(matched) and its 95% bounds), b_ratio_phrase_<f> ("within" / "not within", the
    verdict's test), b_matched_<f> (the matched estimator's name in words), b_acc_gap_<f> (matched minus network
    downstream accuracy, paired, with _ci) and b_acc_vs_matched_<f> (Holm family); per moment estimator k:
    b_blind_lo_<k>, the lower bound of its error on the family it cannot see."""
    out = {"b_eta_a_linrep": p.eta_a_linrep, "b_eta_W_linrep": p.eta_W_linrep, "b_ratio_bound": RATIO_BOUND}
    fam = res["family"]
    words = {"moment1": "first-moment", "moment2": "second-moment"}
    for f in PAPER_FAMILIES:
        out.update(_case_numbers(res, f))
        b = res["base"][f]
        for k in ("moment1", "moment2", "linrep"):
            out[f"b_vs_{k}_{f}"] = direction(fam, f"vs_{k}_{f}", b["err"]["network"] - b["err"][k])
        g, lo, hi = ratio_ci(res, f)
        out[f"b_ratio_{f}"], out[f"b_ratio_{f}_lo"], out[f"b_ratio_{f}_hi"] = g, lo, hi
        out[f"b_ratio_phrase_{f}"] = "within" if hi < RATIO_BOUND else "not within"
        out[f"b_matched_{f}"] = words[MATCHED[f]]
        gap = b["acc"][MATCHED[f]] - b["acc"]["network"]
        _ci(out, f"b_acc_gap_{f}", gap)
        out[f"b_acc_vs_matched_{f}"] = direction(fam, f"acc_vs_matched_{f}", -gap)
    for k, f in BLIND.items():
        out[f"b_blind_lo_{k}"] = float(mean_ci(res["base"][f]["err"][k]).lo)
    return out


def parity_numbers(res: dict, p: Params) -> dict:
    """Section "Parity": :func:`_case_numbers` for parity and parity_large; b_rounds_parity_large,
    b_n_parity_large, b_bias_scale_parity, b_energy_chance (r / d); b_parity_network_phrase and
    b_parity_large_network_phrase (learns / does not learn, against the verdict's level) and
    b_parity_energy_vs_random, b_parity_large_energy_vs_random (the network's energy in span(M) against random
    features', Holm family); b_parity_signal = d^(-3/2) and b_head_noise = 1 / sqrt(n1), the scales the prose
    compares; b_samples_d2_parity, b_samples_d2_parity_large (samples per task the network saw, in units of
    d^2) and b_parity_budget_phrase (what the larger budget shows about the d^2 scale, chosen by the
    computed outcome)."""
    fam, d2 = res["family"], float(p.d) ** 2
    out = {"b_rounds_parity_large": p.rounds_parity_large, "b_n_parity_large": p.n_parity_large,
           "b_bias_scale_parity": p.bias_scale_parity, "b_energy_chance": p.r / p.d,
           "b_parity_signal": p.d ** -1.5, "b_head_noise": p.n1 ** -0.5}
    learned = {}
    for case in ("parity", "parity_large"):
        out.update(_case_numbers(res, case))
        iv = mean_ci(res["base"][case]["err"]["network"])
        learned[case] = iv.hi < LEARN_LEVEL
        out[f"b_{case}_network_phrase"] = ("learns span(M)" if iv.hi < LEARN_LEVEL else
                                           "does not learn span(M)" if iv.lo > LEARN_LEVEL else
                                           "neither clearly learns nor clearly misses span(M)")
        e = res["base"][case]["energy"]
        out[f"b_{case}_energy_vs_random"] = direction(fam, f"energy_vs_random_{case}", e["network"] - e["random"])
        out[f"b_samples_d2_{case}"] = res["base"][case]["n_samples"] / d2
    x = out["b_samples_d2_parity_large"]
    if learned["parity_large"]:
        out["b_parity_budget_phrase"] = ("the network leaves the start within the larger budget: at these sizes "
                                         "a budget of this many d² samples per task suffices")
    elif x >= 1:
        out["b_parity_budget_phrase"] = (
            "the larger budget already exceeds d² samples per task, and the network still does not learn "
            "span(M): here, with these step sizes and biases, d² fresh samples are not enough to leave the start. "
            "The online analysis gives the scale d² up to constants and logarithms, for its own algorithm and "
            "steps; which of the constants, the steps (quadratic's, not chosen for parity) or the biases is "
            "missing, this chapter does not tell")
    else:
        out["b_parity_budget_phrase"] = ("the larger budget stays below d² samples per task, the scale of the "
                                         "online analysis, so not leaving the start is what that analysis "
                                         "allows; this run does not test the d² scale")
    return out


def _slope_phrase(fam: Family, name: str, x, target: float) -> str:
    """How a fitted slope stands to the sketch's ``target``: significantly steeper or shallower (Holm family),
    equal within :data:`SLOPE_MARGIN` (TOST), or neither."""
    eq = equivalent(x, target, SLOPE_MARGIN)
    mean = float(np.mean(x))
    if fam[f"slope_{name}"]:
        side = ("of the opposite sign to" if mean * target <= 0 else
                "significantly steeper than" if abs(mean) > abs(target) else "significantly shallower than")
        tail = f", though within ±{SLOPE_MARGIN:.2f} of it (equivalence test)" if eq else ""
        return f"{side} the sketch's {target:+.1f}{tail}"
    if eq:
        return f"equal to the sketch's {target:+.1f} within ±{SLOPE_MARGIN:.2f} (equivalence test)"
    return f"not distinguishable from the sketch's {target:+.1f}, nor shown equal to it within ±{SLOPE_MARGIN:.2f}"


def _fct_name(fct: float) -> str:
    return {0.5: "half", 2.0: "double"}.get(fct, f"x{fct:g}".replace(".", "p"))


def rate_numbers(res: dict, p: Params) -> dict:
    """Section "Rates": b_slope_T, b_slope_d, b_slope_n, b_escape_slope_logd, b_escape_dmin, b_escape_dmax,
    b_escape_curv (each with _ci; the escape numbers are -1 with _ci 0 when some run never escaped, b_n_escaped
    says how many seeds did); b_escape_phrase (the escape slope's sign) and b_escape_curv_phrase (Holm family);
    b_slope_T_phrase, b_slope_d_phrase, b_slope_n_phrase (against the sketch: Holm family and TOST with margin
    b_slope_margin); the step-size check: b_eta_W_step (the base eta_W), b_step_slope_<x>_base and
    b_step_slope_<x>_<half|double> (end-to-end slope at each step, with _ci), b_step_shift_<x>_<half|double>
    (paired shift from the base step's, with _ci), b_step_phrase_<x>_<half|double> (Holm family) and
    b_step_max_shift (the largest |mean shift|); b_T_fit_min, b_T_fit_max, b_dmin, b_dmax, b_nmin, b_nmax,
    b_escape_level."""
    r, fam = res["rates"], res["family"]
    out = {"b_T_fit_min": p.T_fit[0], "b_T_fit_max": p.T_fit[-1], "b_dmin": p.ds[0], "b_dmax": p.ds[-1],
           "b_nmin": p.n2s[0], "b_nmax": p.n2s[-1], "b_n_escaped": r["n_escaped"], "b_escape_level": ESCAPE_LEVEL,
           "b_slope_margin": SLOPE_MARGIN, "b_eta_W_step": p.eta_W_linear}
    for name, target in SKETCH_SLOPES.items():
        _ci(out, f"b_slope_{name}", r[f"slope_{name}"])
        out[f"b_slope_{name}_phrase"] = _slope_phrase(fam, name, r[f"slope_{name}"], target)
    shifts = []
    for name in SKETCH_SLOPES:
        at = r["step_slope"][name]
        _ci(out, f"b_step_slope_{name}_base", at[1.0])
        for fct in STEP_FACTORS:
            k = _fct_name(fct)
            _ci(out, f"b_step_slope_{name}_{k}", at[fct])
            _ci(out, f"b_step_shift_{name}_{k}", at[fct] - at[1.0])
            out[f"b_step_phrase_{name}_{k}"] = direction(
                fam, f"step_{name}_{fct:g}", at[fct] - at[1.0],
                ("falls significantly", "rises significantly", "does not move significantly"))
            shifts.append(abs(out[f"b_step_shift_{name}_{k}"]))
    out["b_step_max_shift"] = max(shifts)
    if r["n_escaped"] == len(p.seeds):
        _ci(out, "b_escape_slope_logd", r["slope_escape"])
        out["b_escape_phrase"] = direction(fam, "escape_slope", r["slope_escape"],
                                           ("falls significantly with", "grows significantly with",
                                            "does not change significantly with"))
        _ci(out, "b_escape_dmin", r["escape"][:, 0])
        _ci(out, "b_escape_dmax", r["escape"][:, -1])
    else:
        for k in ("b_escape_slope_logd", "b_escape_dmin", "b_escape_dmax"):
            out[k], out[f"{k}_ci"] = -1.0, 0.0
        out["b_escape_phrase"] = "cannot be fitted against"
    if r["n_escaped"] == len(p.seeds) and not np.isnan(r["curv_escape"]).any():
        _ci(out, "b_escape_curv", r["curv_escape"])
        out["b_escape_curv_phrase"] = direction(
            fam, "escape_curv", r["curv_escape"],
            ("significantly curved (concave)", "significantly curved (convex)",
             "not distinguishable from a straight line (which does not show that it is one)"))
    else:
        out["b_escape_curv"], out["b_escape_curv_ci"] = 0.0, 0.0
        out["b_escape_curv_phrase"] = ("not tested for curvature (that needs three values of d, and every seed "
                                       "escaping at each)")
    return out


def verdict_numbers(res: dict, p: Params) -> dict:
    """Section "Verdict": b_verdict, b_learn_level, b_recovered_cosine, and the upper bounds
    b_err_network_linear_hi, b_err_network_quadratic_hi the learning criterion compares with the level."""
    out = {"b_verdict": res["verdict"], "b_learn_level": LEARN_LEVEL, "b_recovered_cosine": RECOVERED_COSINE}
    for f in PAPER_FAMILIES:
        out[f"b_err_network_{f}_hi"] = float(mean_ci(res["base"][f]["err"]["network"]).hi)
    return out


def power_fit(x, Y) -> tuple[np.ndarray, float]:
    """The power law of the mean per-seed fit: ``(y, slope)`` with y = exp(mean intercept) x^(mean slope) on
    ``x`` (for the figures). ``Y: (seeds, len(x))``."""
    lx, lY = np.log(np.asarray(x, float)), np.log(np.asarray(Y, float))
    s = slopes(x, Y)
    icept = (lY.mean(axis=1) - s * lx.mean()).mean()
    return np.exp(icept + s.mean() * lx), float(s.mean())


def sketch_line(x, Y, exponent: float) -> np.ndarray:
    """The sketch's power law x^exponent through the geometric mean of the data (for the figures)."""
    lx, lY = np.log(np.asarray(x, float)), np.log(np.asarray(Y, float))
    return np.exp(lY.mean() + exponent * (lx - lx.mean()))


# ------------------------------------------------------------------------------ the linear representation's steps

def linrep_grid(progress: bool = True) -> np.ndarray:
    """Mean final subspace error of the linear representation over GRID_SEEDS for every (eta_a, eta_W) of the
    network's grid, at the grid's setting (linear family, GRID_T tasks, GRID_ROUNDS["linear"] rounds); a
    diverged run counts as 1. Shape ``(len(GRID_ETA_A), len(GRID_ETA_W))``."""
    from ..progress import progress_bar

    tab = np.ones((len(GRID_ETA_A), len(GRID_ETA_W), len(GRID_SEEDS)))
    jobs = [(i, j, k) for i in range(len(GRID_ETA_A)) for j in range(len(GRID_ETA_W)) for k in range(len(GRID_SEEDS))]
    for i, j, k in progress_bar(jobs, progress, desc="linear representation grid"):
        tab[i, j, k] = linrep_grid_point(GRID_ETA_A[i], GRID_ETA_W[j], GRID_SEEDS[k])
    return tab.mean(axis=-1)


def linrep_grid_point(eta_a: float, eta_W: float, seed: int) -> float:
    """Final error of one grid run (1 if it diverges)."""
    cfg = TrainConfig(**GRID_SIZES, T=GRID_T, family="linear", seed=seed)
    M, tasks, _, _ = setup(cfg)
    B0 = torch.randn(cfg.r, cfg.d, generator=make_generator(stream_seed(seed, "b-linrep-init")), dtype=M.dtype)
    try:
        _, h = bl.train_linear_rep(M, tasks, B0, n1=cfg.n1, n2=cfg.n2, rounds=GRID_ROUNDS["linear"], eta_a=eta_a,
                                   eta_W=eta_W, generator=make_generator(stream_seed(seed, "data")),
                                   record_every=GRID_ROUNDS["linear"])
    except FloatingPointError:
        return 1.0
    return float(h["subspace_error"][-1])


def linrep_table() -> np.ndarray:
    return np.asarray(_LINREP_TABLE)


def linrep_select(tab: np.ndarray | None = None) -> tuple[float, float]:
    """The grid point with the smallest mean error."""
    tab = linrep_table() if tab is None else tab
    i, j = np.unravel_index(int(np.argmin(tab)), tab.shape)
    return GRID_ETA_A[i], GRID_ETA_W[j]


# ----------------------------------------------------------------------------------------------- the explorer

#: the explorer's initial values (the prose quotes them; the notebook builds its controls from them)
EXPLORE = {"family": "quadratic", "T": 20, "n": 2000, "d": 50, "r": 5, "seed": 0}
#: every value each control offers in Jupyter, and the values the book precomputes (each holds the initial one;
#: the cost of the book's grid grows with the largest n in it)
EXPLORE_VALUES = {"family": PAPER_FAMILIES + ("parity",), "T": (1, 2, 5, 10, 20, 50, 100),
                  "n": (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)}
EXPLORE_STATIC = {"family": PAPER_FAMILIES + ("parity",), "T": (20,), "n": (200, 2000, 20000, 50000)}


def explore_numbers() -> dict:
    """The explorer's initial values for the prose: b_explore_family, b_explore_T, b_explore_n, b_explore_d,
    b_explore_r, and b_explore_static_n, the numbers of samples per task the book precomputes, in words."""
    *head, last = (str(v) for v in EXPLORE_STATIC["n"])
    return {**{f"b_explore_{k}": v for k, v in EXPLORE.items() if k != "seed"},
            "b_explore_static_n": f"{', '.join(head)} and {last}" if head else last}


def explore(family: str, T: int, n: int, d: int = 50, r: int = 5, seed: int = 0) -> dict:
    """Moment estimators only (cheap, for the live explorer): subspace errors of the first- and second-moment
    estimators from ``n`` samples per task of ``T`` tasks of ``family``."""
    cfg = TrainConfig(d=d, r=r, m=1, T=T, family=family, seed=seed)
    M, tasks, _, _ = setup(cfg)
    G, S = bl.moments(M, tasks, [n], make_generator(stream_seed(seed, "explore")))
    return {"moment1": subspace_error(bl.first_moment_subspace(G, r).T, M),
            "moment2": subspace_error(bl.second_moment_subspace(S, r).T, M)}


def main() -> int:
    tab = linrep_grid()
    print("rows eta_a", GRID_ETA_A, "columns eta_W", GRID_ETA_W)
    print("(" + ",\n ".join("(" + ", ".join(f"{v:.4f}" for v in row) + ")" for row in tab) + ")")
    print("argmin (eta_a, eta_W):", linrep_select(tab))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
