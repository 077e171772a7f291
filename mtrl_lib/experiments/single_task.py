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
confidence bounds (:mod:`mtrl_lib.stats`; each the end of a two-sided 95% interval): t intervals over runs, a
Clopper-Pearson bound on the share of single-task draws that recover all r directions, and a sign test for the
paired gain in directions (a count, often the same on every seed). The comparisons behind the glued direction
words of the prose ("significantly above", "not distinguishable from", ...) are decided in one Holm family
(:func:`comparison_family`), except the word that restates criterion 5 (single- against multi-task accuracy on
orthogonal tasks), which is read from the criterion's own bound so that the two cannot disagree. The second
principal cosine of a single task is compared with the symmetry argument's own null (:func:`symmetry_null`), not
with a random W, and the energy left in the rest of span(M) with the symmetry argument's prediction
(:func:`rest_prediction`).

The step sizes come from chapter 2's grid (:mod:`mtrl_lib.experiments.step_sizes`), read at this chapter's round
budget but computed at the grid's own sizes (d = 100, m = 200, T = 20 tasks of n = 50), not re-tuned at this
chapter's sizes; the single-task arm uses the same step sizes, not tuned on its own (by the symmetry argument no
step size lets it prefer the other directions of span(M); tuning could change only how well it learns its own,
which criterion 1 requires).
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .. import comparisons, stats
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
#: Criterion 2's level: the upper end of the two-sided 95% Clopper-Pearson interval of the chance that a
#: single-task draw recovers all r directions (a one-sided 97.5% upper bound, conservative as a "95% bound")
#: must lie below it. Our reading of the abstract's "with high probability": at most one draw in ten recovers
#: everything. 0 of n draws meets it from n = 36 on (0 of 40, the quick profile: 0.088; 0 of 100, the paper
#: profile: 0.036, where the one-sided 95% bound would be 0.0295).
ALL_R_LEVEL = 0.10
#: Criterion 4's level: the one-sided sign-test p-value of "multi-task recovers more directions than the paired
#: single task" must lie below it (the level of one end of a two-sided 95% interval).
SIGN_LEVEL = 0.025
#: What the book's hover note says of the glued names that its naming rules would only guess at
#: (:mod:`mtrl_lib.book.glued_notes`; a name first, then fnmatch patterns in order).
GLUE_NOTES = {
    "c5_directions_single_text": "The directions recovered by each single-task draw, as counts",
    "c5_directions_multi_text": "The directions recovered by each multi-task run, as counts",
    "c5_directions_gap_text": "Multi-task minus single-task directions recovered, paired by seed, as counts",
    "c5_directions_more": "The seeds on which multi-task training recovers more directions than its single task",
    "c5_directions_fewer": "The seeds on which multi-task training recovers fewer directions than its single task",
    "c5_directions_sign_p": "The one-sided p-value of criterion 4's sign test (exact binomial, half and half under "
                            "the null)",
    "c5_all_r_frac_hi": "The upper end of the two-sided 95% Clopper-Pearson interval (a one-sided 97.5% bound) of "
                        "the chance that a single-task draw recovers all r directions",
    "c5_all_r_frac_hi95": "The one-sided 95% Clopper-Pearson upper bound of the chance that a single-task draw "
                          "recovers all r directions (beside the more conservative bound the verdict uses)",
    "c5_e_rest_pred*": "The symmetry argument's prediction (1 − e_along)(r − 1)/(d − 1) of the share of ||W||²_F in "
                       "the other directions of span(M), per single-task draw",
    "c5_e_rest_minus_pred*": "The share of ||W||²_F in the other directions of span(M) minus the symmetry "
                             "prediction, per single-task draw",
    "c5_*_text": "A mean over the runs with the half-width of its 95% Student-t interval, written out to the "
                 "digits the half-width needs",
}
#: Simulated draws of the symmetry null of the second principal cosine (:func:`symmetry_null`), and its seed.
NULL_SIMS = 20_000
NULL_SEED = 5
#: Fixed sizes of the chapter's live explorer (the prose quotes them through :func:`summary`); its step sizes
#: are the chapter's, the step-size grid's choice at 100 rounds (``step_sizes.STEP_SIZES["linear"]``).
EXPLORE = {"m": 50, "r": 5, "n_total": 1000, "rounds": 100}
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
    draws: int = 40                    # single-task draws in all: one per seed (paired), the rest on further seeds
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


def all_r_count(dirs, r: int) -> tuple[int, int]:
    """``(k, n)``: how many of the ``n`` runs recovered all ``r`` directions."""
    dirs = np.asarray(dirs)
    return int((dirs >= r).sum()), int(dirs.size)


def bounds(res: dict, p: Params) -> dict[str, float]:
    """The 95% bounds :func:`verdict` compares with its levels (glue names of the chapter), the sign test of
    criterion 4 (seeds where multi-task training recovers more and fewer directions than its paired single task,
    and the one-sided p-value), the one-sided 95% Clopper-Pearson bound beside the two-sided one the criterion
    uses (``_hi95``), and the upper bound of the mean number of directions a single task recovers (reported, no
    longer a criterion)."""
    s, ps, mt, i = res["single"], res["paired"], res["multi"], res["i_n3"]
    above, below, p_sign = stats.sign_test(mt["dirs"] - ps["dirs"])
    diff = stats.paired_ci(ps["acc_orthogonal"][:, i], mt["acc_orthogonal"][:, i])
    k, n = all_r_count(s["dirs"], p.r)
    return {"c5_own_single_lo": float(stats.lower(s["own"])),
            "c5_all_r_frac_hi": stats.clopper_pearson(k, n)[1],
            "c5_all_r_frac_hi95": stats.clopper_pearson(k, n, level=0.90)[1],
            "c5_directions_single_hi": float(stats.upper(s["dirs"])),
            "c5_cosmin_multi_lo": float(stats.lower(mt["cos"][:, -1])),
            "c5_directions_more": above, "c5_directions_fewer": below, "c5_directions_sign_p": p_sign,
            "c5_acc_orthogonal_diff_lo": float(diff.lo), "c5_acc_orthogonal_diff_hi": float(diff.hi)}


def criteria(res: dict, p: Params) -> list[tuple[bool, bool, str]]:
    """``(core, passed, reason if failed)`` for each criterion of :func:`verdict`, in its order."""
    b = bounds(res, p)
    own, share, cmin = b["c5_own_single_lo"], b["c5_all_r_frac_hi"], b["c5_cosmin_multi_lo"]
    k, n = all_r_count(res["single"]["dirs"], p.r)
    few = (f"; with {n} draws the bound exceeds {ALL_R_LEVEL:g} even if no draw recovers all r, which needs "
           f"at least {min_draws()} draws" if k == 0 else "")
    return [
        (True, own >= RECOVERED_COSINE,
         f"single tasks did not learn their own direction: the lower 95% bound of the top-direction cosine, "
         f"{own:.3f}, is below {RECOVERED_COSINE}"),
        (True, share < ALL_R_LEVEL,
         f"single tasks are not shown to miss a direction with high probability: {k} of {n} draws recovered all "
         f"r = {p.r} directions, and the 95% upper bound of that chance, {share:.3f}, is not below "
         f"{ALL_R_LEVEL:g}{few}"),
        (True, cmin >= RECOVERED_COSINE,
         f"multi-task training did not recover all r directions: the lower 95% bound of its smallest "
         f"principal cosine, {cmin:.3f}, is below {RECOVERED_COSINE}"),
        (True, b["c5_directions_sign_p"] < SIGN_LEVEL,
         f"multi-task training did not recover more directions than the paired single task on significantly "
         f"more seeds than fewer (sign test: more on {b['c5_directions_more']}, fewer on "
         f"{b['c5_directions_fewer']}, one-sided p = {b['c5_directions_sign_p']:.3g})"),
        (False, b["c5_acc_orthogonal_diff_hi"] < 0,
         f"single-task features are not significantly less accurate than multi-task features on orthogonal "
         f"tasks at n3 = {p.n3} (paired 95% interval of the difference reaches "
         f"{b['c5_acc_orthogonal_diff_hi']:+.3f})"),
    ]


def min_draws(level: float = ALL_R_LEVEL) -> int:
    """The fewest draws at which 0 successes give a Clopper-Pearson upper bound below ``level``."""
    n = 1
    while stats.clopper_pearson(0, n)[1] >= level:
        n += 1
    return n


def verdict(res: dict, p: Params) -> str:
    """Computed verdict on C5, on 95% t intervals over runs (criteria fixed in advance; the chapter states
    them too). With fewer than ``stats.MIN_SEEDS`` seeds: "undecided".

    1. (positive requirement) **each single task learns its own direction**: the lower bound of the mean,
       over all draws, of the cosine between W's top right singular vector and M v_1 is at least 0.9 (the
       book's "recovered" threshold; a W that learned nothing has a cosine of order 1/sqrt(d));
    2. **a single task misses a direction with high probability**: the upper end of the two-sided 95%
       Clopper-Pearson interval (a one-sided 97.5% bound) of the share of draws that recover all r directions
       (principal cosines >= 0.9) is below ``ALL_R_LEVEL`` (0.10): this bounds the chance of a draw, which a
       bound on the mean number of directions would not (a mean below r allows most draws to recover
       everything);
    3. **multi-task training at the same budget recovers all r**: the lower bound of the mean of its
       smallest principal cosine is at least 0.9 (a broken multi-task run gives no comparison);
    4. **and significantly more than the single task**: paired by seed (same M, initial W and first task),
       multi-task training recovers more directions than the single task on significantly more seeds than
       fewer: the one-sided sign-test p-value is below ``SIGN_LEVEL`` (0.025). The directions are counts, often
       the same on every seed, where a t interval has zero width whatever the number of seeds;
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

#: The words of a decided comparison of a with b.
WORDS = ("significantly below", "significantly above", "not distinguishable from")


def comparison_family(res: dict, p: Params) -> comparisons.Family:
    """Every comparison behind a glued direction word of the prose, decided together with Holm's correction at
    5% (:class:`mtrl_lib.comparisons.Family`; two-sided t tests over draws or paired seeds): see
    :func:`family_values`, name -> (the values tested, the null value). The verdict's criteria are not in it."""
    fam = comparisons.Family()
    for name, (x, null) in family_values(res, p).items():
        fam.test(name, x, null=null)
    return fam.decide()


def family_values(res: dict, p: Params) -> dict[str, tuple[np.ndarray, float]]:
    """The family's comparisons: ``cos2_null`` (single-task second cosines against the symmetry null's mean,
    over draws), ``e_rest`` (energy in the rest of span(M), single task minus its initial W, over draws),
    ``e_rest_pred`` (the same energy minus the symmetry argument's prediction :func:`rest_prediction`, over
    draws) and, at the headline n3, paired over seeds: ``aligned_single_multi``, ``orthogonal_single_random``,
    ``new_single_random`` and ``multi_aligned_orthogonal`` (differences of accuracy, first minus second).
    Single- against multi-task accuracy on orthogonal tasks is not in it: criterion 5 decides it
    (:func:`orthogonal_word`)."""
    s, ps, mt, i = res["single"], res["paired"], res["multi"], res["i_n3"]
    acc = lambda R, k: R[f"acc_{k}"][:, i]
    rnd = lambda k: mt[f"acc_random_{k}"][:, i]
    return {
        "cos2_null": (s["cos"][:, 1], float(symmetry_null(p.d, p.r).mean())),
        "e_rest": (s["e_rest"] - s["e0_rest"], 0.0),
        "e_rest_pred": (s["e_rest"] - rest_prediction(s["e_along"], p.d, p.r), 0.0),
        "aligned_single_multi": (acc(ps, "aligned") - acc(mt, "aligned"), 0.0),
        "orthogonal_single_random": (acc(ps, "orthogonal") - rnd("orthogonal"), 0.0),
        "new_single_random": (acc(ps, "new") - rnd("new"), 0.0),
        "multi_aligned_orthogonal": (acc(mt, "aligned") - acc(mt, "orthogonal"), 0.0),
    }


def rest_prediction(e_along, d: int, r: int) -> np.ndarray:
    """The symmetry argument's prediction of the share of ||W||_F^2 in the r - 1 other directions of span(M),
    per run: ``(1 - e_along) (r - 1) / (d - 1)``. Given u = M v_1, the law of the trained W is invariant under
    rotations fixing u ({eq}`c5-w-invariance`), and the other columns of M are uniform in u's orthogonal
    complement, independent of training (the labels never read them); so the share of W's energy orthogonal to
    u, 1 - e_along, falls on them in the proportion (r - 1) / (d - 1) in expectation, whatever training did.
    At the initial W, the same formula gives about (r - 1) / d."""
    return (1.0 - np.asarray(e_along, dtype=float)) * (r - 1) / (d - 1)


def orthogonal_word(res: dict, p: Params) -> str:
    """Single- against multi-task accuracy on orthogonal tasks at the headline n3, from criterion 5's own paired
    95% interval: "significantly below" (the criterion passes), "significantly above", or "not
    distinguishable from"."""
    b = bounds(res, p)
    if b["c5_acc_orthogonal_diff_hi"] < 0:
        return WORDS[0]
    return WORDS[1] if b["c5_acc_orthogonal_diff_lo"] > 0 else WORDS[2]


def relation(fam: comparisons.Family, name: str, x, null: float = 0.0) -> str:
    """How the compared quantity stands to the other, by the family's decision on ``name``: "significantly
    above", "significantly below" or "not distinguishable from"."""
    if not fam[name]:
        return WORDS[2]
    return WORDS[0] if float(np.mean(x)) < null else WORDS[1]


def symmetry_null(d: int, r: int, sims: int = NULL_SIMS, seed: int = NULL_SEED) -> np.ndarray:
    """``(sims,)`` draws of the second principal cosine that the symmetry argument predicts for a single task:
    if W's top-r subspace holds the task's direction u and is otherwise invariant under rotations fixing u,
    its other r - 1 directions are uniform in the (d - 1)-dimensional complement of u, and the second
    principal cosine with span(M) is the largest principal cosine between r - 1 uniform directions and the
    r - 1 fixed other directions of span(M) in R^(d-1). Deterministic (numpy, ``seed``), cached per (d, r)."""
    return _symmetry_null(int(d), int(r), int(sims), int(seed))


@functools.lru_cache(maxsize=16)
def _symmetry_null(d: int, r: int, sims: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, d, r])
    k = r - 1
    out = []
    for start in range(0, sims, 2000):
        G = rng.standard_normal((min(2000, sims - start), d - 1, k))
        Q, _ = np.linalg.qr(G)                          # uniform k-frames in R^(d-1)
        out.append(np.linalg.svd(Q[:, :k, :], compute_uv=False)[:, 0])   # against the first k coordinates
    res = np.concatenate(out)
    res.setflags(write=False)
    return res


def _ci(out: dict, name: str, values, text: bool = True) -> stats.Interval:
    """Writes ``name`` (mean over runs), ``name_ci`` (95% half-width) and, with ``text``, ``name_text`` (both,
    written out to the digits the half-width needs: :func:`mtrl_lib.stats.pm`) into ``out``. Counts get no
    ``_text`` here: :func:`count_text` prints them as counts."""
    iv = stats.mean_ci(values)
    out[name], out[f"{name}_ci"] = float(iv.mean), float(iv.half)
    if text:
        out[f"{name}_text"] = stats.pm(iv.mean, iv.half)
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


def grid_sizes_phrase(p: Params) -> str:
    """Where the grid was computed, against this run's sizes (the grid is not re-tuned at other sizes)."""
    g = step_sizes.GRID_SIZES
    at = f"d = {g['d']}, m = {g['m']}, T = {step_sizes.GRID_T} tasks of n = {g['n1']} samples"
    mine = (p.d, p.m, p.T, p.n)
    if mine == (g["d"], g["m"], step_sizes.GRID_T, g["n1"]):
        return f"The grid was computed at {at}, this run's sizes"
    return (f"The grid was computed at its own sizes, {at}, and is not re-tuned at this run's "
            f"(d = {p.d}, m = {p.m}, T = {p.T} tasks of n = {p.n})")


def _setting(p: Params) -> dict:
    return {"c5_d": p.d, "c5_r": p.r, "c5_rm1": p.r - 1, "c5_m": p.m, "c5_T": p.T, "c5_n": p.n,
            "c5_n_single": p.T * p.n, "c5_rounds": p.rounds, "c5_draws": p.draws, "c5_n_seeds": len(p.seeds),
            "c5_n3": p.n3, "c5_down_tasks": p.down_tasks, "c5_n_test": p.n_test, "c5_eta_a": p.eta_a,
            "c5_eta_W": p.eta_W, "c5_grid_phrase": grid_phrase(p), "c5_grid_sizes": grid_sizes_phrase(p),
            "c5_control": p.control,
            "c5_threshold": RECOVERED_COSINE}


def count_text(x, unit: str = "seed") -> str:
    """Counts printed as counts, never as a t interval: "5 on every seed", "4 on 18 seeds and 3 on 2"."""
    return stats.count_tally(x, unit)


def _directions(s: dict, ps: dict, mt: dict, p: Params, fam: comparisons.Family) -> dict:
    k, n = all_r_count(s["dirs"], p.r)
    km, nm = all_r_count(mt["dirs"], p.r)
    null = symmetry_null(p.d, p.r)
    out = {"c5_directions_single_max": int(s["dirs"].max()), "c5_frac_single_one": float((s["dirs"] == 1).mean()),
           "c5_n_single_one": int((s["dirs"] == 1).sum()), "c5_n_single_all": k, "c5_n_multi_all": km,
           "c5_all_r_level": ALL_R_LEVEL, "c5_min_draws": min_draws(),
           "c5_directions_single_text": count_text(s["dirs"], "draw"),
           "c5_directions_multi_text": count_text(mt["dirs"]),
           "c5_directions_gap_text": count_text(mt["dirs"] - ps["dirs"]),
           "c5_cos2_null": float(null.mean()), "c5_cos2_null_sd": float(null.std(ddof=1)),
           "c5_null_sims": len(null),
           "c5_cos2_vs_null": relation(fam, "cos2_null", s["cos"][:, 1], float(null.mean()))}
    _ci(out, "c5_directions_single_mean", s["dirs"], text=False)     # the intro quotes the means
    _ci(out, "c5_directions_multi_mean", mt["dirs"], text=False)
    _ci(out, "c5_directions_gap", mt["dirs"] - ps["dirs"], text=False)
    _ci(out, "c5_own_single", s["own"])
    _ci(out, "c5_own_init", s["own0"])
    _ci(out, "c5_cos2_single", s["cos"][:, 1])
    _ci(out, "c5_cos2_init", s["cos0"][:, 1])
    _ci(out, "c5_cosmin_multi", mt["cos"][:, -1])
    return out


def _energy(s: dict, mt: dict, p: Params, fam: comparisons.Family) -> dict:
    out = {"c5_one_over_d": 1 / p.d, "c5_rm1_over_d": (p.r - 1) / p.d, "c5_dm1": p.d - 1}
    # keys c5_e_{along,rest}_{single,multi} and c5_e0_{along,rest}, each with its _ci and _text
    for part in ("along", "rest"):
        _ci(out, f"c5_e_{part}_single", s[f"e_{part}"])
        _ci(out, f"c5_e_{part}_multi", mt[f"e_{part}"])
        _ci(out, f"c5_e0_{part}", s[f"e0_{part}"])
    pred = rest_prediction(s["e_along"], p.d, p.r)
    _ci(out, "c5_e_rest_pred", pred)                                   # the symmetry prediction, per draw
    _ci(out, "c5_e_rest_minus_pred", s["e_rest"] - pred)               # observed minus predicted, per draw
    out["c5_e_rest_relation"] = relation(fam, "e_rest", s["e_rest"] - s["e0_rest"])
    out["c5_e_rest_vs_pred"] = relation(fam, "e_rest_pred", s["e_rest"] - pred)
    out["c5_e_rest_reading"] = rest_reading(out["c5_e_rest_vs_pred"])
    return out


def rest_reading(word: str) -> str:
    """What the comparison of the energy left in the rest of span(M) with the symmetry prediction says."""
    if word == WORDS[2]:
        return ("single-task training leaves the other directions of the latent subspace the share that the "
                "symmetry argument gives any direction orthogonal to the task's, and no detectable share beyond it")
    return (f"the share is {word} the symmetry prediction, which the argument does not allow in expectation; "
            f"it points to an error in the runs or in the argument")


def _downstream(ps: dict, mt: dict, i: int, fam: comparisons.Family, values: dict, orthogonal: str) -> dict:
    out = {}
    acc = {}
    # keys c5_acc_{aligned,orthogonal,new}_{single,multi,random}, each with its _ci
    for k in TASK_SETS:
        acc[k, "single"], acc[k, "multi"], acc[k, "random"] = (
            ps[f"acc_{k}"][:, i], mt[f"acc_{k}"][:, i], mt[f"acc_random_{k}"][:, i])
        for who in ("single", "multi", "random"):
            _ci(out, f"c5_acc_{k}_{who}", acc[k, who])
    _ci(out, "c5_acc_orthogonal_gap", acc["orthogonal", "multi"] - acc["orthogonal", "single"])
    word = lambda name: relation(fam, name, values[name][0])
    out["c5_aligned_single_vs_multi"] = word("aligned_single_multi")
    out["c5_orthogonal_single_vs_random"] = word("orthogonal_single_random")
    out["c5_orthogonal_single_vs_multi"] = orthogonal       # criterion 5's own decision
    out["c5_new_single_vs_random"] = word("new_single_random")
    out["c5_multi_aligned_vs_orthogonal"] = word("multi_aligned_orthogonal")
    return out


def own_phrase(passed: bool) -> str:
    """The opening of the sentence that reads the own-direction cosine, as criterion 1 decided it."""
    if passed:
        return "What a single task learns is its own direction"
    return "Single tasks are not shown to learn their own direction (criterion 1 of the verdict fails)"


def summary_sections(res: dict, p: Params) -> dict[str, dict]:
    """Every number and phrase the chapter quotes, by the section of the page that quotes it: ``first`` (the
    verdict and the headline numbers of the first screen, c5_verdict and c5_headline), ``setting``,
    ``directions``, ``energy``, ``downstream``, ``explore``, ``verdict``. Means come with ``_ci`` (95% t
    half-width over runs); ``*_relation`` / ``*_vs_*`` phrases are decisions of :func:`comparison_family`."""
    s, ps, mt, i = res["single"], res["paired"], res["multi"], res["i_n3"]
    fam = comparison_family(res, p)
    own_ok = criteria(res, p)[0][1]
    down = _downstream(ps, mt, i, fam, family_values(res, p), orthogonal_word(res, p))
    first = {"c5_verdict": verdict(res, p),
             "c5_headline": (f"on new tasks orthogonal to a single task's direction, its features reach accuracy "
                             f"{down['c5_acc_orthogonal_single_text']} against {down['c5_acc_orthogonal_multi_text']} "
                             f"for multi-task features at the same total budget ({p.n3} downstream samples)")}
    return {"first": first,
            "setting": {**_setting(p), "c5_family_size": len(fam), "c5_sign_level": SIGN_LEVEL},
            "directions": {**_directions(s, ps, mt, p, fam), "c5_own_phrase": own_phrase(own_ok)},
            "energy": _energy(s, mt, p, fam),
            "downstream": down,
            "explore": explore_numbers(),
            "verdict": {**bounds(res, p), "c5_min_seeds": stats.MIN_SEEDS}}


def summary(res: dict, p: Params) -> dict:
    """Every number and phrase the chapter quotes (glue names), in one flat dict."""
    return {k: v for sec in summary_sections(res, p).values() for k, v in sec.items()}


# ---------------------------------------------------------------------------------------------- explorer

def explore_numbers() -> dict:
    """What the prose says of the explorer: c5_explore_{m,r,n_total,rounds,eta_a,eta_W},
    c5_explore_start_{T,d,seed}, c5_explore_static_T (the values of T the book precomputes, in words), and the
    run at the start: c5_explore_start_dirs (directions recovered; c5_explore_start_dirs_text in words) and
    c5_explore_start_cos2 (its second principal cosine)."""
    *head, last = (str(v) for v in EXPLORE_STATIC["T"])
    eta_a, eta_W = step_sizes.STEP_SIZES["linear"]
    start = explore(**EXPLORE_START)
    return {**{f"c5_explore_{k}": v for k, v in EXPLORE.items()},
            **{f"c5_explore_start_{k}": v for k, v in EXPLORE_START.items()},
            "c5_explore_eta_a": eta_a, "c5_explore_eta_W": eta_W,
            "c5_explore_static_T": f"{', '.join(head)} and {last}" if head else last,
            "c5_explore_start_dirs": start["dirs"], "c5_explore_start_cos2": float(start["cos"][1]),
            "c5_explore_start_dirs_text": f"{start['dirs']} direction" + ("" if start["dirs"] == 1 else "s")}


def explore(T: int, d: int, seed: int = 0, m: int = EXPLORE["m"], r: int = EXPLORE["r"],
            n_total: int = EXPLORE["n_total"], rounds: int = EXPLORE["rounds"]) -> dict:
    """One small live run for the chapter's explorer: the first T tasks that ``seed`` draws, ``n_total``
    samples per phase in all, shared among the tasks, so T = 1 is the single-task run at the same budget; the
    chapter's step sizes (the grid's choice for the linear family at 100 rounds). Cached: the prose and the
    explorer's figure read the same run."""
    return _explore(int(T), int(d), int(seed), int(m), int(r), int(n_total), int(rounds))


@functools.lru_cache(maxsize=64)
def _explore(T: int, d: int, seed: int, m: int, r: int, n_total: int, rounds: int) -> dict:
    n = max(1, n_total // T)
    eta_a, eta_W = step_sizes.STEP_SIZES["linear"]
    cfg = TrainConfig(d=d, r=r, m=m, T=T, n1=n, n2=n, rounds=rounds, eta_a=eta_a, eta_W=eta_W, seed=seed,
                      record_every=max(1, rounds))
    tasks = setup(TrainConfig(d=d, r=r, m=m, T=max(T, 20), seed=seed))[1][0:T]
    res = train(cfg, tasks=tasks)
    c = principal_cosines(res.W, res.M).cpu().numpy()
    c0 = principal_cosines(res.W0, res.M).cpu().numpy()
    return {"cos": c, "cos0": c0, "dirs": int((c >= RECOVERED_COSINE).sum()), "n": n}
