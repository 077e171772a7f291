"""Chapter 4 (claim C5): one task, trained alone, reveals one direction of span(M).

The book's page: ``notebooks/04_single_task.ipynb`` ("One task is not enough").

Units (:mod:`mtrl_lib.units`), one training run each:

* **single-task draws**, ``draws`` in all: draw s trains (:func:`mtrl_lib.train.train`, ``T = 1``) on the
  first of the ``T`` tasks that seed s draws, with ``T n`` samples per phase, the total sample budget of a
  multi-task round. The first ``len(seeds)`` draws use the seeds in ``seeds``; the rest use the next
  integers not in ``seeds``.
* **multi-task runs**, one per seed in ``seeds``: ``T`` tasks with ``n`` samples each per phase, the same
  rounds, step sizes and width. Because train() draws M, the initial W and the tasks from separate streams,
  the multi-task run with seed s has the same M and the same initial W as single-task draw s, and its first
  task *is* that draw's task v_1: single draw s and multi-task run s are **paired**.

Per run we record the principal cosines between span(M) and the top-r subspace of W, the number of
directions recovered (cosines >= 0.9), the cosine between W's top right singular vector and the task's
direction M v_1 (``own``), and how W's energy splits between M v_1 and the rest of span(M). Downstream (the
paired draws and the multi-task runs), linear heads on the frozen features are fitted on n3 samples of
three sets of new linear tasks built from the run's v_1: ``aligned`` (v = v_1), ``orthogonal`` (v uniform
on the unit sphere of v_1's orthogonal complement in R^r) and ``new`` (v uniform on the sphere). The tasks
and samples depend on the seed only, so paired runs are scored on the same tasks and samples, and so are
random features (the initial W, shared by the pair).

:func:`summary` computes every number and phrase the chapter quotes; :func:`verdict` decides C5 on 95%
confidence bounds (:mod:`mtrl_lib.stats`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .. import stats
from ..metrics import RECOVERED_COSINE, energy, principal_cosines, top_subspace
from ..probe import PROBES, probe_accuracy
from ..tasks import Tasks, make_generator
from ..threads import one_thread
from ..train import CONTROLS, TrainConfig, TrainResult, resolve_device, setup, stream_seed, train
from ..units import run_units, unit
from . import step_sizes
from .common import ChapterParams, Choice, Int, IntList, check_seed_count

TASK_SETS = ("aligned", "orthogonal", "new")
#: Params fields a training unit needs, and those the downstream probe needs.
TRAIN_FIELDS = ("d", "r", "m", "T", "n", "rounds", "eta_a", "eta_W", "control", "device")
PROBE_FIELDS = ("down_tasks", "n_test", "probe", "lam", "device")
#: Keys of :func:`geometry`, recorded for every run.
GEOMETRY = ("cos", "cos0", "dirs", "own", "own0", "e_along", "e_rest", "e0_along", "e0_rest")
#: Fixed sizes of the chapter's live explorer (the prose quotes them through :func:`summary`).
EXPLORE = {"m": 50, "r": 5, "n_total": 1000, "rounds": 80}
#: The explorer's controls start at these values (the prose quotes them).
EXPLORE_START = {"T": 1, "d": 50, "seed": 0}
#: Every value each control offers in Jupyter, and the values the book precomputes (each holds the start).
EXPLORE_VALUES = {"T": (1, 2, 3, 4, 5, 6, 8, 10, 15, 20), "d": (20, 50, 100, 200), "seed": tuple(range(10))}
EXPLORE_STATIC = {"T": (1, 2, 3, 5, 10), "d": (50,), "seed": (0,)}


@dataclass(frozen=True)
class Params(ChapterParams):
    d: int = 100                       # ambient dimension of x
    r: int = 5                         # latent dimension: columns of M (at least 2, so one task cannot span it)
    m: int = 100                       # neurons of the shared first layer
    T: int = 20                        # tasks of a multi-task run
    n: int = 50                        # samples per task per phase of a multi-task run (a single task gets T n)
    rounds: int = 100                  # training rounds, for both kinds of run
    eta_a: float = 10.0                # head step size (chapter 2's grid choice at 100 rounds)
    eta_W: float = 0.05                # first-layer step size (chapter 2's grid choice at 100 rounds)
    draws: int = 20                    # single-task draws in all: one per seed (paired), the rest on further seeds
    n3: int = 100                      # downstream samples at which the verdict compares accuracies
    n3s: tuple[int, ...] = (10, 25, 50, 100, 200)  # downstream sample sizes of the accuracy curves, increasing
    down_tasks: int = 5                # downstream tasks of each kind (aligned, orthogonal, new) per run
    n_test: int = 500                  # test samples per downstream task
    probe: str = "ridge_loo"           # downstream head: "ridge", "logistic" or "ridge_loo" (lam by leave-one-out)
    lam: float = 1.0                   # ridge / logistic regularisation (ignored by "ridge_loo")
    control: str = "none"              # negative control for every run: "none", "shuffled_labels", "swapped_heads"

    constraints: ClassVar[dict] = {
        "r": Int(2, 100), "T": Int(2, 100_000), "draws": Int(1, 100_000),
        "n3s": IntList(2, 1_000_000, increasing=True), "probe": Choice(PROBES), "control": Choice(CONTROLS),
    }

    def check(self) -> None:
        super().check()
        check_seed_count(self.seeds)            # the one wording of every chapter (experiments/common.py)
        if self.draws < len(self.seeds):
            raise ValueError(f"draws must be at least the number of seeds ({len(self.seeds)}): every seed has "
                             f"its paired single-task draw, got {self.draws}")

    @property
    def sweep_n3(self) -> tuple[int, ...]:
        """The n3 values probed: ``n3s`` plus the headline ``n3``."""
        return tuple(sorted(set(self.n3s) | {self.n3}))


def draw_seeds(p: Params) -> tuple[int, ...]:
    """Seeds of the single-task draws: ``p.seeds`` (paired with the multi-task runs), then the smallest
    non-negative integers not in ``p.seeds`` until there are ``p.draws``."""
    used = set(p.seeds)
    extra = (s for s in itertools.count() if s not in used)
    return p.seeds + tuple(itertools.islice(extra, p.draws - len(p.seeds)))


# ---------------------------------------------------------------------------------------------- one run

def train_config(seed: int, single: bool, d: int, r: int, m: int, T: int, n: int, rounds: int, eta_a: float,
                 eta_W: float, control: str = "none", device: str = "cpu") -> TrainConfig:
    """Single task with T n samples per phase, or T tasks with n each: the same samples per round."""
    Tk, nk = (1, T * n) if single else (T, n)
    return TrainConfig(d=d, r=r, m=m, T=Tk, n1=nk, n2=nk, rounds=rounds, eta_a=eta_a, eta_W=eta_W, seed=seed,
                       device=device, record_every=max(1, rounds), control=control)


def config(p: Params, seed: int, single: bool) -> TrainConfig:
    """:func:`train_config` with the chapter's parameters."""
    return train_config(seed, single, **{k: getattr(p, k) for k in TRAIN_FIELDS})


def train_run(seed: int, single: bool, **training) -> TrainResult:
    """One run; a single-task run trains on the first task of the multi-task run with the same seed."""
    multi = train_config(seed, False, **training)
    if not single:
        return train(multi)
    return train(train_config(seed, True, **training), tasks=setup(multi)[1][0:1])


def downstream_tasks(v1: torch.Tensor, B: int, generator: torch.Generator) -> dict[str, Tasks]:
    """``aligned`` (B copies of v_1), ``orthogonal`` (uniform on the sphere of v_1's complement in R^r) and
    ``new`` (uniform on the sphere) linear tasks. ``v1: (r,)`` unit vector."""
    r = v1.shape[0]
    v1 = v1.double()
    G = torch.randn(2, B, r, generator=generator, device=generator.device, dtype=torch.float64).to(v1.device)
    orth = G[0] - (G[0] @ v1)[:, None] * v1[None, :]
    orth = orth / orth.norm(dim=1, keepdim=True)
    new = G[1] / G[1].norm(dim=1, keepdim=True)
    return {"aligned": Tasks("linear", v1.expand(B, r).clone()),
            "orthogonal": Tasks("linear", orth), "new": Tasks("linear", new)}


def energy_split(W: torch.Tensor, M: torch.Tensor, v1: torch.Tensor) -> tuple[float, float]:
    """Share of ||W||_F^2 along the task's direction M v_1, and in the rest of span(M)."""
    W, M, v1 = W.double(), M.double(), v1.double()
    u = M @ v1
    with one_thread():
        along = float((W @ u).pow(2).sum() / W.pow(2).sum())
    return along, energy(W, M) - along


def own_cosine(W: torch.Tensor, M: torch.Tensor, v1: torch.Tensor) -> float:
    """|cos| between W's top right singular vector and the task's direction M v_1 (1: W's dominant direction
    is the task's; about 1/sqrt(d) for a random W)."""
    with one_thread():
        w1 = top_subspace(W, 1)[:, 0]
        u = M.double() @ v1.double()
        return float((w1 @ u).abs() / u.norm())


def geometry(res: TrainResult) -> dict:
    """What a run learned of span(M): ``cos (r,)``, ``dirs``, ``own``, ``e_along``, ``e_rest``, and the same
    for the initial W (``cos0``, ``own0``, ``e0_along``, ``e0_rest``)."""
    v1 = res.tasks.params[0]
    c, c0 = principal_cosines(res.W, res.M), principal_cosines(res.W0, res.M)
    out = {"cos": c.cpu().numpy(), "cos0": c0.cpu().numpy(), "dirs": int((c >= RECOVERED_COSINE).sum()),
           "own": own_cosine(res.W, res.M, v1), "own0": own_cosine(res.W0, res.M, v1)}
    out["e_along"], out["e_rest"] = energy_split(res.W, res.M, v1)
    out["e0_along"], out["e0_rest"] = energy_split(res.W0, res.M, v1)
    return out


def _accuracies(W, b, M, sets: dict[str, Tasks], seed: int, n3s, n_test: int, probe: str, lam: float,
                device: str) -> dict[str, np.ndarray]:
    """Accuracy vs n3 on every task set, ``{set: (len(n3s),)}`` (mean over the set's tasks), one probe call per
    n3 for all sets together. The samples depend on (seed, n3) only."""
    dev = resolve_device(device)
    names = list(sets)
    B = sets[names[0]].T
    tasks = Tasks("linear", torch.cat([sets[k].params for k in names]))
    acc = []
    for n3 in n3s:
        g = make_generator(stream_seed(seed, f"c5-probe-{n3}"), dev)
        acc.append(probe_accuracy(W, b, M, tasks, n3, g, n_test=n_test, method=probe, lam=lam))
    acc = torch.stack(acc, dim=1).cpu().numpy()                 # (len(names) * B, len(n3s))
    return {k: acc[i * B:(i + 1) * B].mean(axis=0) for i, k in enumerate(names)}


def downstream(res: TrainResult, seed: int, with_random: bool, n3s, down_tasks: int, n_test: int, probe: str,
               lam: float, device: str) -> dict:
    """``acc_{aligned,orthogonal,new}: (len(n3s),)`` for the trained W and, ``with_random``,
    ``acc_random_*`` for the initial W on the same tasks and samples."""
    sets = downstream_tasks(res.tasks.params[0], down_tasks,
                            make_generator(stream_seed(seed, "c5-down"), resolve_device(device)))
    kw = dict(n3s=n3s, n_test=n_test, probe=probe, lam=lam, device=device)
    out = {f"acc_{k}": a for k, a in _accuracies(res.W, res.b, res.M, sets, seed, **kw).items()}
    if with_random:
        out.update({f"acc_random_{k}": a for k, a in _accuracies(res.W0, res.b, res.M, sets, seed, **kw).items()})
    return out


def run_unit(seed: int, kind: str, training: dict, probing: dict | None = None) -> dict:
    """The unit: train one run (``kind`` "single" or "multi"), return its :func:`geometry` and, when
    ``probing`` is given (the keyword arguments of :func:`downstream` but ``with_random``), its downstream
    accuracies (random features too for a multi-task run)."""
    res = train_run(seed, kind == "single", **training)
    out = geometry(res)
    if probing is not None:
        out.update(downstream(res, seed, with_random=kind == "multi", **probing))
    return out


# ------------------------------------------------------------------------------------------- experiment

def run(p: Params, executor=None) -> dict:
    """All of chapter 4's runs, reduced to stacked arrays (leading axis = runs):

    * ``single``: every single-task draw (``draws``): ``cos (draws, r)``, ``cos0``, ``dirs``, ``own``,
      ``own0``, ``e_along``, ``e_rest``, ``e0_along``, ``e0_rest``;
    * ``paired``: the draws paired with a seed (``len(seeds)``), the same keys plus
      ``acc_{aligned,orthogonal,new} (seeds, len(n3s))``;
    * ``multi``: the multi-task runs (``len(seeds)``), the keys of ``paired`` plus ``acc_random_*``;
    * ``n3s`` (the probed n3 values), ``i_n3`` (index of the headline n3), ``draw_seeds``.
    """
    seeds = draw_seeds(p)
    training = {k: getattr(p, k) for k in TRAIN_FIELDS}
    probing = {"n3s": list(p.sweep_n3), **{k: getattr(p, k) for k in PROBE_FIELDS}}
    paired = set(p.seeds)
    units = [unit(run_unit, s, kind="single", training=training, probing=probing if s in paired else None)
             for s in seeds]
    units += [unit(run_unit, s, kind="multi", training=training, probing=probing) for s in p.seeds]
    rows = run_units(units, executor, desc="chapter 4: single-task draws, then multi-task runs")
    k, n = len(seeds), len(p.seeds)
    stack = lambda rs, keys: {key: np.stack([np.asarray(r[key], dtype=float) for r in rs]) for key in keys}
    return {"single": stack(rows[:k], GEOMETRY), "paired": stack(rows[:n], rows[0].keys()),
            "multi": stack(rows[k:], rows[k].keys()), "n3s": np.asarray(p.sweep_n3),
            "i_n3": p.sweep_n3.index(p.n3), "draw_seeds": np.asarray(seeds)}


def bounds(res: dict, p: Params) -> dict[str, float]:
    """The five 95% bounds :func:`verdict` compares with its levels (glue names of the chapter)."""
    s, ps, mt, i = res["single"], res["paired"], res["multi"], res["i_n3"]
    return {"c5_own_single_lo": float(stats.lower(s["own"])),
            "c5_directions_single_hi": float(stats.upper(s["dirs"])),
            "c5_cosmin_multi_lo": float(stats.lower(mt["cos"][:, -1])),
            "c5_directions_gap_lo": float(stats.paired_ci(mt["dirs"], ps["dirs"]).lo),
            "c5_acc_orthogonal_diff_hi": float(stats.paired_ci(ps["acc_orthogonal"][:, i],
                                                               mt["acc_orthogonal"][:, i]).hi)}


def criteria(res: dict, p: Params) -> list[tuple[bool, bool, str]]:
    """``(core, passed, reason if failed)`` for each criterion of :func:`verdict`, in its order."""
    b = bounds(res, p)
    own, dirs, cmin = b["c5_own_single_lo"], b["c5_directions_single_hi"], b["c5_cosmin_multi_lo"]
    return [
        (True, own >= RECOVERED_COSINE,
         f"single tasks did not learn their own direction: the lower 95% bound of the top-direction cosine, "
         f"{own:.3f}, is below {RECOVERED_COSINE}"),
        (True, dirs < p.r,
         f"single tasks recovered all r = {p.r} directions: the upper 95% bound of their mean, {dirs:.2f}, "
         f"is not below r"),
        (True, cmin >= RECOVERED_COSINE,
         f"multi-task training did not recover all r directions: the lower 95% bound of its smallest "
         f"principal cosine, {cmin:.3f}, is below {RECOVERED_COSINE}"),
        (True, b["c5_directions_gap_lo"] > 0,
         "multi-task training did not recover significantly more directions than the paired single task"),
        (False, b["c5_acc_orthogonal_diff_hi"] < 0,
         f"single-task features are not significantly less accurate than multi-task features on orthogonal "
         f"tasks at n3 = {p.n3} (paired 95% interval of the difference reaches "
         f"{b['c5_acc_orthogonal_diff_hi']:+.3f})"),
    ]


def verdict(res: dict, p: Params) -> str:
    """Computed verdict on C5, on 95% t intervals over runs (criteria fixed in advance; the chapter states
    them too). With fewer than ``stats.MIN_SEEDS`` seeds: "undecided".

    1. (positive requirement) **each single task learns its own direction**: the lower bound of the mean,
       over all draws, of the cosine between W's top right singular vector and M v_1 is at least 0.9 (the
       book's "recovered" threshold; a W that learned nothing has a cosine of order 1/sqrt(d));
    2. **a single task recovers fewer than r directions**: the upper bound of the mean number recovered
       (principal cosines >= 0.9), over all draws, is below r;
    3. **multi-task training at the same budget recovers all r**: the lower bound of the mean of its
       smallest principal cosine is at least 0.9 (a broken multi-task run gives no comparison);
    4. **and significantly more than the single task**: the paired interval (same seed: same M, initial W
       and first task) of multi-task minus single-task directions lies above 0;
    5. **downstream**: at n3, single-task features are less accurate than multi-task features on tasks
       orthogonal to v_1 (paired interval of the difference below 0).

    All of 1-5: "reproduced"; 1-4 but not 5: "partly reproduced (reason)"; otherwise
    "not reproduced (reasons)".
    """
    if not stats.enough_seeds(len(p.seeds)):
        return stats.undecided(len(p.seeds))
    crit = criteria(res, p)
    failed_core = [why for core, ok, why in crit if core and not ok]
    failed = [why for _, ok, why in crit if not ok]
    if failed_core:
        return "not reproduced (" + "; ".join(failed) + ")"
    return "reproduced" if not failed else "partly reproduced (" + "; ".join(failed) + ")"


# ---------------------------------------------------------------------------------------------- summary

def relation(a, b) -> str:
    """How ``a`` compares with ``b`` (same seeds or draws), by the paired 95% t interval of ``a - b``:
    "significantly above", "significantly below" or "not significantly different from"."""
    iv = stats.paired_ci(a, b)
    return ("significantly above" if iv.lo > 0 else "significantly below" if iv.hi < 0
            else "not significantly different from")


def _ci(out: dict, name: str, values) -> stats.Interval:
    """Writes ``name`` (mean over runs) and ``name_ci`` (95% half-width) into ``out``."""
    iv = stats.mean_ci(values)
    out[name], out[f"{name}_ci"] = float(iv.mean), float(iv.half)
    return iv


def grid_phrase(p: Params) -> str:
    """What chapter 2's documented step-size grid says about (eta_a, eta_W) at ``p.rounds`` rounds."""
    try:
        a, w, _ = step_sizes.select(step_sizes.load_grid(), "linear", p.rounds)
    except ValueError:
        return (f"has no entry at {p.rounds} rounds (it is recorded every {step_sizes.GRID_RECORD} rounds up "
                f"to {step_sizes.GRID_MAX_ROUNDS}), so these values are not its choice")
    if (p.eta_a, p.eta_W) == (a, w):
        return f"selects ({a:g}, {w:g}) at {p.rounds} rounds: the values used here are its choice"
    return f"selects ({a:g}, {w:g}) at {p.rounds} rounds: this run overrides that choice"


def _setting(p: Params) -> dict:
    return {"c5_d": p.d, "c5_r": p.r, "c5_rm1": p.r - 1, "c5_m": p.m, "c5_T": p.T, "c5_n": p.n,
            "c5_n_single": p.T * p.n, "c5_rounds": p.rounds, "c5_draws": p.draws, "c5_n_seeds": len(p.seeds),
            "c5_n3": p.n3, "c5_down_tasks": p.down_tasks, "c5_n_test": p.n_test, "c5_eta_a": p.eta_a,
            "c5_eta_W": p.eta_W, "c5_grid_phrase": grid_phrase(p), "c5_control": p.control,
            "c5_threshold": RECOVERED_COSINE}


def _directions(s: dict, ps: dict, mt: dict) -> dict:
    out = {"c5_directions_single_max": int(s["dirs"].max()), "c5_frac_single_one": float((s["dirs"] == 1).mean())}
    _ci(out, "c5_directions_single_mean", s["dirs"])
    _ci(out, "c5_directions_multi_mean", mt["dirs"])
    _ci(out, "c5_directions_gap", mt["dirs"] - ps["dirs"])
    _ci(out, "c5_own_single", s["own"])
    _ci(out, "c5_own_init", s["own0"])
    _ci(out, "c5_cos2_single", s["cos"][:, 1])
    _ci(out, "c5_cos2_init", s["cos0"][:, 1])
    out["c5_cos2_relation"] = relation(s["cos"][:, 1], s["cos0"][:, 1])
    _ci(out, "c5_cosmin_multi", mt["cos"][:, -1])
    return out


def _energy(s: dict, mt: dict, p: Params) -> dict:
    out = {"c5_one_over_d": 1 / p.d, "c5_rm1_over_d": (p.r - 1) / p.d}
    # keys c5_e_{along,rest}_{single,multi} and c5_e0_{along,rest}, each with its _ci
    for part in ("along", "rest"):
        _ci(out, f"c5_e_{part}_single", s[f"e_{part}"])
        _ci(out, f"c5_e_{part}_multi", mt[f"e_{part}"])
        _ci(out, f"c5_e0_{part}", s[f"e0_{part}"])
    out["c5_e_rest_relation"] = relation(s["e_rest"], s["e0_rest"])
    return out


def _downstream(ps: dict, mt: dict, i: int) -> dict:
    out = {}
    acc = {}
    # keys c5_acc_{aligned,orthogonal,new}_{single,multi,random}, each with its _ci
    for k in TASK_SETS:
        acc[k, "single"], acc[k, "multi"], acc[k, "random"] = (
            ps[f"acc_{k}"][:, i], mt[f"acc_{k}"][:, i], mt[f"acc_random_{k}"][:, i])
        for who in ("single", "multi", "random"):
            _ci(out, f"c5_acc_{k}_{who}", acc[k, who])
    _ci(out, "c5_acc_orthogonal_gap", acc["orthogonal", "multi"] - acc["orthogonal", "single"])
    out["c5_aligned_single_vs_multi"] = relation(acc["aligned", "single"], acc["aligned", "multi"])
    out["c5_orthogonal_single_vs_random"] = relation(acc["orthogonal", "single"], acc["orthogonal", "random"])
    out["c5_orthogonal_single_vs_multi"] = relation(acc["orthogonal", "single"], acc["orthogonal", "multi"])
    out["c5_new_single_vs_random"] = relation(acc["new", "single"], acc["new", "random"])
    out["c5_multi_aligned_vs_orthogonal"] = relation(acc["aligned", "multi"], acc["orthogonal", "multi"])
    return out


def summary_sections(res: dict, p: Params) -> dict[str, dict]:
    """Every number and phrase the chapter quotes, by the section of the page that quotes it: ``setting``,
    ``directions``, ``energy``, ``downstream``, ``explore``, ``verdict``. Means come with ``_ci`` (95% t
    half-width over runs); ``*_relation`` / ``*_vs_*`` phrases come from paired 95% intervals."""
    s, ps, mt, i = res["single"], res["paired"], res["multi"], res["i_n3"]
    return {"setting": _setting(p), "directions": _directions(s, ps, mt), "energy": _energy(s, mt, p),
            "downstream": _downstream(ps, mt, i),
            "explore": explore_numbers(),
            "verdict": {"c5_verdict": verdict(res, p), **bounds(res, p), "c5_min_seeds": stats.MIN_SEEDS}}


def summary(res: dict, p: Params) -> dict:
    """Every number and phrase the chapter quotes (glue names), in one flat dict."""
    return {k: v for sec in summary_sections(res, p).values() for k, v in sec.items()}


# ---------------------------------------------------------------------------------------------- explorer

def explore_numbers() -> dict:
    """What the prose says of the explorer: c5_explore_{m,r,n_total,rounds}, c5_explore_start_{T,d,seed} and
    c5_explore_static_T (the values of T the book precomputes, in words)."""
    *head, last = (str(v) for v in EXPLORE_STATIC["T"])
    return {**{f"c5_explore_{k}": v for k, v in EXPLORE.items()},
            **{f"c5_explore_start_{k}": v for k, v in EXPLORE_START.items()},
            "c5_explore_static_T": f"{', '.join(head)} and {last}" if head else last}


def explore(T: int, d: int, seed: int = 0, m: int = EXPLORE["m"], r: int = EXPLORE["r"],
            n_total: int = EXPLORE["n_total"], rounds: int = EXPLORE["rounds"]) -> dict:
    """One small live run for the chapter's explorer: the first T tasks that ``seed`` draws, ``n_total``
    samples per phase in all, shared among the tasks, so T = 1 is the single-task run at the same budget."""
    n = max(1, n_total // T)
    cfg = TrainConfig(d=d, r=r, m=m, T=T, n1=n, n2=n, rounds=rounds, seed=seed, record_every=max(1, rounds))
    tasks = setup(TrainConfig(d=d, r=r, m=m, T=max(T, 20), seed=seed))[1][0:T]
    res = train(cfg, tasks=tasks)
    c = principal_cosines(res.W, res.M).cpu().numpy()
    c0 = principal_cosines(res.W0, res.M).cpu().numpy()
    return {"cos": c, "cos0": c0, "dirs": int((c >= RECOVERED_COSINE).sum()), "n": n}
