"""Chapter 3 (claims C3 and C4): downstream accuracy of a linear head on frozen features, against d, m, n3.

For every seed and every ambient dimension d in ``ds`` one ground truth ``M`` (d x r) is drawn and four
first layers of width ``m`` are compared on the same new tasks and the same samples:

* ``multi``:  multi-task pretrained (``T`` tasks, alternating GD, :func:`mtrl_lib.train.train`);
* ``single``: single-task pretrained (``T = 1``) with the same total sample budget (``T n`` samples per phase);
* ``random``: the initial W of those runs (rows uniform on the sphere of R^d), i.e. no pretraining;
* ``oracle``: rows uniform on the sphere of span(M) (:func:`mtrl_lib.model.oracle_weights`).

Pretraining budget rule (ours, stated in the chapter): ``T`` and the number of rounds are fixed, the
samples per task and phase grow linearly with d, ``n1 = n2 = max(n_min, ceil(n_per_d * d))``, which keeps
the relative gradient noise sqrt(d / (T n2)) of the chapter on subspace recovery level across d.

Downstream (one unit = one seed and one d, :func:`evaluate`): ``down_tasks`` new tasks of ``down_family``
(the same latent tasks, and the same latent oracle rows, at every d of a seed: see :func:`stream`);
one draw of ``max(n3s)`` training and ``n_test`` test samples per task serves every feature set, every n3
(the first n3 training samples: the sample sweep is nested, hence paired) and every width (the accuracy at
width m' < m is the mean over ``N_SUBSETS`` random subsets of m' of the m neurons). The head is fitted by
:func:`mtrl_lib.probe.head_accuracy` (standardised features; by default ridge with its regularisation picked
per task by leave-one-out error on the n3 training samples, ``probe="ridge_loo"``; ``ridge``/``logistic``
use the fixed ``lam``). For random
and oracle features a subset of m' neurons is exactly a network of width m'; for pretrained features it
relies on the neurons of a mean-field network being exchangeable.

Statistics (:mod:`mtrl_lib.stats`): means over seeds with 95% Student-t intervals; two feature sets, two
values of d or two sweeps are compared per seed (paired intervals), since they share M, the tasks and
the samples. :func:`verdict` states the criteria.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import stats
from ..metrics import directions_recovered, energy, subspace_error
from ..model import features, oracle_weights
from ..probe import LOO_LAMS, PROBES, head_accuracy, probe_accuracy
from ..tasks import FAMILIES, draw_tasks, make_generator, sample
from ..train import CONTROLS, TrainConfig, resolve_device, train
from ..units import run_units, unit
from . import step_sizes
from .common import ChapterParams, Choice, Float, Int, IntList

FEATURE_SETS = ("multi", "single", "random", "oracle")
#: the word each feature set has in glue names and prose (``c3_n3_needed_pretrained_dmin``, ...)
WORDS = {"multi": "pretrained", "single": "single", "random": "random", "oracle": "oracle"}

#: C3: accuracy tolerance for "level across d" (the paired 95% interval of a change must stay inside +-TOL)
TOL = 0.05
#: an accuracy difference that matters between two first layers (a fifth of the way from perfect to chance):
#: C3 needs the oracle less than this above pretrained features, C4 a fall of random features of more than it
MATERIAL = 0.1
#: random subsets of m' neurons averaged at each width m' < m of the neuron sweep
N_SUBSETS = 5


@dataclass(frozen=True)
class Params(ChapterParams):
    ds: tuple[int, ...] = (20, 40, 80, 160, 320)   # ambient dimensions d, strictly increasing
    r: int = 5                                     # latent dimension (columns of M)
    m: int = 100                                   # width of every first layer compared
    T: int = 20                                    # pretraining tasks of the multi-task run
    n_per_d: float = 0.5                           # budget rule: n1 = n2 = max(n_min, ceil(n_per_d * d))
    n_min: int = 50                                # budget rule: the fewest samples per task and phase
    rounds: int = 60                               # pretraining rounds (same for every d)
    eta_a: float = 50.0                            # head step size (the grid's choice at 60 rounds)
    eta_W: float = 0.05                            # feature step size (the grid's choice at 60 rounds)
    n3: int = 100                                  # downstream training samples per task (headline)
    ms: tuple[int, ...] = (5, 10, 25, 50, 100)     # widths m' of the neuron sweep, increasing, <= m
    n3s: tuple[int, ...] = (10, 25, 50, 100, 200, 400)   # downstream samples of the sample sweep, increasing
    down_tasks: int = 5                            # new tasks per seed and d
    down_family: str = "linear"                    # family of the new tasks
    n_test: int = 500                              # test samples per new task
    probe: str = "ridge_loo"                       # head: ridge with leave-one-out lam, ridge or logistic
    lam: float = 1.0                               # regularisation of the ridge / logistic probes
    target_acc: float = 0.85                       # accuracy whose n3 "needed" the sample-complexity plot shows

    constraints = {
        "ds": IntList(2, 20_000, increasing=True), "n_per_d": Float(0.0, 1000.0), "n_min": Int(1, 1_000_000),
        "ms": IntList(1, 100_000, increasing=True), "n3s": IntList(2, 1_000_000, increasing=True),
        "down_family": Choice(FAMILIES), "probe": Choice(PROBES), "target_acc": Float(0.5, 1.0, lo_open=True),
    }

    def check(self) -> None:
        if self.r > self.ds[0]:
            raise ValueError(f"r must be at most the smallest d = {self.ds[0]}, got {self.r}")
        if self.ms[-1] > self.m:
            raise ValueError(f"ms must not exceed m = {self.m}, got {list(self.ms)}")
        if self.n3s[-1] < self.n3:
            raise ValueError(f"n3s must reach n3 = {self.n3} (random features with the most samples are "
                             f"compared with pretrained ones at n3), got {list(self.n3s)}")
        if self.down_family == "quadratic" and self.r < 2:
            raise ValueError(f"r must be >= 2 for the quadratic family, got {self.r}")

    @property
    def d_small(self) -> int:
        return self.ds[0]

    @property
    def d_large(self) -> int:
        return self.ds[-1]


#: the chapter's explorer: the values its controls offer (d and n3: the quick profile's ds and n3s), the
#: initial ones (the prose quotes them, glued by :func:`explore_numbers`), and the width and seed of its run
EXPLORE_VALUES = {"d": Params.ds, "T": (1, 2, 5, 10, 20, 40), "n3": Params.n3s}
EXPLORE = {"d": 80, "T": 20, "n3": 100, "m": 50, "rounds": Params.rounds, "seed": 0}


def stream(seed: int, *name) -> int:
    """The generator seed of one of this chapter's named random streams, e.g. ``stream(seed, "probe", d)``.

    (Not :func:`mtrl_lib.train.stream_seed`, whose tag keeps only the first 31 bits of the name's bytes, so
    that names such as "c3-probe-20" and "c3-probe-320" would share a stream.) The new tasks and the oracle's
    latent rows have no d in their name: they are the same at every d of a seed, so that comparisons across
    d are paired in them too."""
    digest = hashlib.sha256(repr(("c3",) + name).encode()).digest()
    return int(np.random.SeedSequence([int(seed), int.from_bytes(digest[:16], "little")]).generate_state(1)[0])


# The fields a unit depends on (not ds, seeds or target_acc: a unit is one seed and one d, and the target
# only reads the stored curves).
UNIT_FIELDS = ("r", "m", "T", "n_per_d", "n_min", "rounds", "eta_a", "eta_W", "n3", "ms", "n3s", "down_tasks",
               "down_family", "n_test", "probe", "lam", "device")


def samples_per_task(p: Params, d: int) -> int:
    """The pretraining budget rule: n1 = n2 = max(n_min, ceil(n_per_d * d)) samples per task and phase."""
    return max(p.n_min, math.ceil(p.n_per_d * d))


def pretrain_config(p: Params, d: int, seed: int, single: bool = False, control: str = "none") -> TrainConfig:
    """The multi-task run at dimension d, or (``single``) the single-task run with the same total budget.
    ``control`` is :class:`mtrl_lib.train.TrainConfig`'s negative control (``"none"`` for the chapter)."""
    n = samples_per_task(p, d)
    T, n = (1, n * p.T) if single else (p.T, n)
    return TrainConfig(d=d, r=p.r, m=p.m, T=T, n1=n, n2=n, rounds=p.rounds, eta_a=p.eta_a, eta_W=p.eta_W,
                       seed=seed, device=p.device, record_every=max(1, p.rounds), control=control)


def feature_sets(p: Params, d: int, seed: int, control: str = "none") -> tuple[dict, torch.Tensor, torch.Tensor, dict]:
    """Train (multi and single) at dimension d and return ``({name: W}, b, M, pretraining quality)``; the
    quality holds ``{name}_err``, ``{name}_dirs`` and ``{name}_energy`` for every feature set."""
    multi = train(pretrain_config(p, d, seed, control=control))
    single = train(pretrain_config(p, d, seed, single=True, control=control), M=multi.M, W0=multi.W0)
    dev = resolve_device(p.device)
    Wo = oracle_weights(p.m, multi.M, make_generator(stream(seed, "oracle"), dev))
    Ws = {"multi": multi.W, "single": single.W, "random": multi.W0, "oracle": Wo}
    quality = {}
    for k, W in Ws.items():
        quality[f"{k}_err"] = subspace_error(W, multi.M)
        quality[f"{k}_dirs"] = directions_recovered(W, multi.M)
        quality[f"{k}_energy"] = energy(W, multi.M)
    return Ws, multi.b, multi.M, quality


def probe_sweeps(p: Params, Ws: dict, b, M, seed: int, d: int, sweep_m: bool) -> dict:
    """Downstream accuracy of every feature set on the same tasks and samples, as numpy arrays over
    ``FEATURE_SETS`` (axis 0): ``acc (K,)`` at n3, ``acc_n3 (K, len(n3s))``, ``acc_m (K, len(ms))`` (empty
    unless ``sweep_m``) and ``lam (K, down_tasks)``, the regularisation used at n3."""
    dev = resolve_device(p.device)
    tasks = draw_tasks(p.down_family, p.down_tasks, p.r, make_generator(stream(seed, "down"), dev))
    g = make_generator(stream(seed, "probe", d), dev)
    Xtr, ytr = sample(M, tasks, p.n3s[-1], g)                    # nested: the first n3 serve each n3
    Xte, yte = sample(M, tasks, p.n_test, g)
    K, B = len(FEATURE_SETS), p.down_tasks
    Ftr = torch.cat([features(Ws[k], b, Xtr) for k in FEATURE_SETS])      # (K B, max n3, m)
    Fte = torch.cat([features(Ws[k], b, Xte) for k in FEATURE_SETS])      # (K B, n_test, m)
    ytr, yte = ytr.repeat(K, 1), yte.repeat(K, 1)

    def fit(n3: int, cols=None):
        Ftr_n, Fte_n = Ftr[:, :n3], Fte
        if cols is not None:
            Ftr_n, Fte_n = Ftr_n[..., cols], Fte[..., cols]
        acc, lam = head_accuracy(Ftr_n, ytr[:, :n3], Fte_n, yte, method=p.probe, lam=p.lam)
        return acc.view(K, B).mean(1).cpu().numpy(), lam.view(K, B).cpu().numpy()

    sweep = [fit(n3) for n3 in p.n3s]
    acc, lam = sweep[p.n3s.index(p.n3)] if p.n3 in p.n3s else fit(p.n3)
    acc_m = np.zeros((K, 0))
    if sweep_m:
        orders = [torch.randperm(p.m, generator=make_generator(stream(seed, "subset", d, j), "cpu")).to(dev)
                  for j in range(N_SUBSETS)]
        # the full width is the headline probe again (a linear head does not depend on the order of features)
        acc_m = np.stack([acc if mm == p.m else np.mean([fit(p.n3, o[:mm])[0] for o in orders], axis=0)
                          for mm in p.ms], axis=1)
    return {"acc": acc, "acc_n3": np.stack([a for a, _ in sweep], axis=1), "acc_m": acc_m, "lam": lam}


def evaluate(seed: int, d: int, sweep_m: bool, control: str = "none", **fields) -> dict:
    """One unit: pretrain at dimension d (seed ``seed``), then every probe of :func:`probe_sweeps`, plus the
    pretraining quality (``quality``: dict of floats). ``fields``: the :data:`UNIT_FIELDS` of ``Params``."""
    p = Params(ds=(d,), seeds=(seed,), **fields)
    Ws, b, M, quality = feature_sets(p, d, seed, control)
    return {**probe_sweeps(p, Ws, b, M, seed, d, sweep_m), "quality": quality}


def units(p: Params, control: str = "none") -> list:
    """The chapter's work: one :func:`evaluate` unit per (seed, d), seeds outer."""
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {', '.join(map(repr, CONTROLS))}, got {control!r}")
    fields = {f: getattr(p, f) for f in UNIT_FIELDS}
    return [unit(evaluate, s, d=d, sweep_m=d in (p.d_small, p.d_large), control=control, **fields)
            for s in p.seeds for d in p.ds]


def run(p: Params, executor=None, control: str = "none") -> dict:
    """All of chapter 3's numbers. Per-seed arrays have the seeds on axis 0.

    Returns ``acc_d[k] (S, D)`` (accuracy vs d at n3), ``acc_n3[k] (S, D, len(n3s))``, ``acc_m[which][k]
    (S, len(ms))`` with ``which`` in ``small``/``large`` (d = ds[0] / ds[-1]), ``quality[name] (S, D)`` (per
    feature set: ``_err``, ``_energy``, ``_dirs``), ``n3_needed[k] (S, D)`` with ``n3_capped`` /
    ``n3_floored`` (see :func:`n3_needed`), ``n_rule`` (samples per task and phase for each d),
    ``lam_median`` (median probe regularisation per feature set at n3) and ``verdict`` (``{"C3", "C4"}``).
    ``control`` runs the pretraining as a negative control (tests)."""
    t0 = time.perf_counter()
    out = run_units(units(p, control), executor, desc="chapter 3: pretrain and probe, per (seed, d)")
    S, D = len(p.seeds), len(p.ds)
    at = lambda key: np.stack([np.asarray(o[key], dtype=float) for o in out]).reshape(S, D, *np.shape(out[0][key]))
    acc, acc_n3, lam = at("acc"), at("acc_n3"), at("lam")                  # (S, D, K), (S, D, K, N), (S, D, K, B)
    res = {
        "ds": np.asarray(p.ds), "ms": np.asarray(p.ms), "n3s": np.asarray(p.n3s), "n_seeds": S, "control": control,
        "n_rule": np.asarray([samples_per_task(p, d) for d in p.ds]),
        "acc_d": {k: acc[:, :, i] for i, k in enumerate(FEATURE_SETS)},
        "acc_n3": {k: acc_n3[:, :, i] for i, k in enumerate(FEATURE_SETS)},
        "quality": {q: np.asarray([[o["quality"][q] for o in out[s * D:(s + 1) * D]] for s in range(S)], dtype=float)
                    for q in out[0]["quality"]},
        "lam_median": {k: float(np.median(lam[:, :, i])) for i, k in enumerate(FEATURE_SETS)},
        "acc_m": {},
    }
    for which, j in (("small", 0), ("large", D - 1)):
        am = np.stack([out[s * D + j]["acc_m"] for s in range(S)])          # (S, K, len(ms))
        res["acc_m"][which] = {k: am[:, i] for i, k in enumerate(FEATURE_SETS)}
    res["n3_needed"], res["n3_capped"], res["n3_floored"] = {}, {}, {}
    for k in FEATURE_SETS:
        need = n3_needed(res["acc_n3"][k], p.n3s, p.target_acc)
        res["n3_needed"][k], res["n3_capped"][k], res["n3_floored"][k] = need
    res["verdict"] = verdict(res, p)
    res["seconds"] = time.perf_counter() - t0
    return res


def n3_needed(acc, n3s, target: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The downstream samples needed to reach ``target`` accuracy, read off accuracy-vs-n3 curves.

    ``acc: (..., len(n3s))``. For each curve: the first grid point j whose accuracy reaches ``target``, and
    the crossing found by linear interpolation in log n3 between grid points j - 1 and j. A curve that never
    reaches the target is *capped* at the largest n3 (the true need is larger); one that reaches it at the
    first grid point is *floored* at the smallest n3 (the true need may be smaller). Returns ``(needed,
    capped, floored)``, each of shape ``acc.shape[:-1]``."""
    acc = np.asarray(acc, dtype=float)
    logn = np.log(np.asarray(n3s, dtype=float))
    reached = acc >= target
    hit, first = reached.any(-1), reached.argmax(-1)
    needed = np.empty(acc.shape[:-1])
    for idx in np.ndindex(needed.shape):
        j, a = first[idx], acc[idx]
        if not hit[idx]:
            needed[idx] = n3s[-1]
        elif j == 0:
            needed[idx] = n3s[0]
        else:
            frac = (target - a[j - 1]) / (a[j] - a[j - 1])
            needed[idx] = math.exp(logn[j - 1] + frac * (logn[j] - logn[j - 1]))
    return needed, ~hit, hit & (first == 0)


# ---------------------------------------------------------------------------------------------------------
# Verdict


def _sweep_mean(curves: dict, which: str) -> np.ndarray:
    """Per seed, the multi-task accuracy averaged over a sweep at d = ds[0] or ds[-1]: ``(S,)``."""
    return curves[which]["multi"].mean(axis=1)


def criteria(res: dict) -> dict:
    """The paired 95% intervals the verdicts read (each an :class:`mtrl_lib.stats.Interval` over seeds)."""
    a, n3 = res["acc_d"], res["acc_n3"]
    n3_curves = {"small": {"multi": n3["multi"][:, 0]}, "large": {"multi": n3["multi"][:, -1]}}
    return {
        "pre_minus_random": stats.paired_ci(a["multi"][:, -1], a["random"][:, -1]),
        "oracle_minus_pre": stats.paired_ci(a["oracle"][:, -1], a["multi"][:, -1]),
        "pre_drift": stats.paired_ci(a["multi"][:, -1], a["multi"][:, 0]),
        "m_curve_gap": stats.paired_ci(_sweep_mean(res["acc_m"], "large"), _sweep_mean(res["acc_m"], "small")),
        "n3_curve_gap": stats.paired_ci(_sweep_mean(n3_curves, "large"), _sweep_mean(n3_curves, "small")),
        "random_fall": stats.paired_ci(a["random"][:, 0], a["random"][:, -1]),
        "random_most_minus_pre": stats.paired_ci(n3["random"][:, -1, -1], a["multi"][:, -1]),
    }


def verdict(res: dict, p: Params) -> dict[str, str]:
    """Verdicts on C3 and C4, decided on 95% confidence bounds over seeds (paired: same seeds, so the same
    M, tasks and samples). d_min, d_max are ``ds[0]``, ``ds[-1]``; "accuracy" is at width m and ``n3``.

    C3 (pretrained features make the downstream complexity independent of d) holds when all of:

    1. *it learned something*: at d_max pretrained accuracy is above random features' (lower bound of the
       paired difference > 0). Random features are the run's own initial W, so this is a null computed on
       the same seeds: a run that learns nothing (shuffled labels) fails it;
    2. *it learned span(M)*: at d_max the oracle (rows inside span(M)) is less than MATERIAL = 0.1 above
       pretrained features (upper bound of the paired difference < 0.1; in the tests' negative controls, runs
       that learn nothing or whose heads are fitted to another task end about 0.3 below the oracle);
    3. *level in d*: the paired change of pretrained accuracy from d_min to d_max lies inside (-0.05, 0.05);
    4. *neurons and samples independent of d*: the per-seed mean over the width sweep, and over the sample
       sweep, of pretrained accuracy at d_max minus that at d_min lies inside (-0.05, 0.05).

    C4 (random features need more with growing d) holds when both of:

    1. random-feature accuracy falls from d_min to d_max by more than MATERIAL = 0.1 (lower bound of the
       paired fall > 0.1, a fifth of the distance from perfect to chance);
    2. at d_max, random features with the largest n3 of the sweep stay below pretrained features at n3
       (upper bound of the paired difference < 0): more samples do not buy back what d took. A run whose
       pretraining learns nothing fails this, since its "pretrained" features are random ones with fewer
       samples.

    Fewer than ``stats.MIN_SEEDS`` seeds: both verdicts are ``stats.undecided``."""
    n = res["n_seeds"]
    if not stats.enough_seeds(n):
        return {"C3": stats.undecided(n), "C4": stats.undecided(n)}
    c = criteria(res)
    lo, hi = p.d_small, p.d_large
    iv = lambda key: f"{float(c[key].mean):+.3f} ± {float(c[key].half):.3f}"
    inside = lambda key: bool(c[key].lo > -TOL and c[key].hi < TOL)
    c3 = [why for why, ok in [
        (f"pretrained accuracy at d = {hi} is not above random features' (paired difference {iv('pre_minus_random')})",
         bool(c["pre_minus_random"].lo > 0)),
        (f"the oracle may be {MATERIAL} or more above pretrained features at d = {hi} (paired difference "
         f"{iv('oracle_minus_pre')})", bool(c["oracle_minus_pre"].hi < MATERIAL)),
        (f"pretrained accuracy may change by {TOL} or more from d = {lo} to {hi} ({iv('pre_drift')})",
         inside("pre_drift")),
        (f"the accuracy-vs-m curves at d = {lo} and {hi} may differ by {TOL} or more on average ({iv('m_curve_gap')})",
         inside("m_curve_gap")),
        (f"the accuracy-vs-n3 curves at d = {lo} and {hi} may differ by {TOL} or more on average "
         f"({iv('n3_curve_gap')})",
         inside("n3_curve_gap")),
    ] if not ok]
    c4 = [why for why, ok in [
        (f"random-feature accuracy does not fall by more than {MATERIAL} from d = {lo} to {hi} (paired fall "
         f"{iv('random_fall')})", bool(c["random_fall"].lo > MATERIAL)),
        (f"at d = {hi} random features with n3 = {p.n3s[-1]} are not below pretrained ones with n3 = {p.n3} "
         f"(paired difference {iv('random_most_minus_pre')})", bool(c["random_most_minus_pre"].hi < 0)),
    ] if not ok]
    fmt = lambda failed: "reproduced" if not failed else "not reproduced (" + "; ".join(failed) + ")"
    return {"C3": fmt(c3), "C4": fmt(c4)}


# ---------------------------------------------------------------------------------------------------------
# What the prose quotes. Each function returns glue names -> values; ``summary`` is their union.


def _iv(x) -> tuple[float, float]:
    iv = stats.mean_ci(x)
    return float(iv.mean), float(iv.half)


def change_phrase(before, after, digits: int = 3) -> str:
    """How a per-seed quantity changes from ``before`` to ``after`` (paired 95% t interval, test at 5%):
    "falls by 0.210 ± 0.020", "rises by ...", or "does not change significantly (+0.004 ± 0.011)"."""
    iv = stats.paired_ci(after, before)
    m, h = float(iv.mean), float(iv.half)
    if iv.hi < 0:
        return f"falls by {-m:.{digits}f} ± {h:.{digits}f}"
    if iv.lo > 0:
        return f"rises by {m:.{digits}f} ± {h:.{digits}f}"
    return f"does not change significantly ({m:+.{digits}f} ± {h:.{digits}f})"


def compare_phrase(a, b, b_name: str) -> str:
    """``a`` against ``b`` per seed (paired 95% interval, test at 5%): "0.120 ± 0.015 above {b_name}",
    "... below ...", or "not significantly different from {b_name} (+0.004 ± 0.011)"."""
    iv = stats.paired_ci(a, b)
    m, h = float(iv.mean), float(iv.half)
    if iv.lo > 0:
        return f"{m:.3f} ± {h:.3f} above {b_name}"
    if iv.hi < 0:
        return f"{-m:.3f} ± {h:.3f} below {b_name}"
    return f"not significantly different from {b_name} ({m:+.3f} ± {h:.3f})"


def grid_choice(p: Params) -> dict:
    """Chapter 2's step-size grid read at this chapter's round budget. The grid is recorded every
    ``GRID_RECORD`` rounds up to ``GRID_MAX_ROUNDS``; another budget is read at the nearest recorded round
    (and the prose says so)."""
    g = step_sizes
    at = int(min(max(g.GRID_RECORD * round(p.rounds / g.GRID_RECORD), g.GRID_RECORD), g.GRID_MAX_ROUNDS))
    eta_a, eta_W, err = g.select(g.load_grid(), "linear", at)
    return {"c3_grid_eta_a": eta_a, "c3_grid_eta_W": eta_W, "c3_grid_err": err, "c3_grid_round": at,
            "c3_grid_round_note": f" of {p.rounds} rounds" + ("" if at == p.rounds else
            f" (the grid is recorded every {g.GRID_RECORD} rounds up to {g.GRID_MAX_ROUNDS}, so it is read at "
            f"round {at}, the nearest recorded round)"),
            "c3_grid_matches": "are" if (p.eta_a, p.eta_W) == (eta_a, eta_W) else "are NOT (this run overrides them)"}


def summary_setting(p: Params) -> dict:
    """The settings the prose quotes."""
    return {
        "c3_d_min": p.d_small, "c3_d_max": p.d_large, "c3_d_ratio": p.d_large / p.d_small, "c3_r": p.r,
        "c3_m": p.m, "c3_T": p.T, "c3_n3": p.n3, "c3_rounds": p.rounds, "c3_n_per_d": p.n_per_d,
        "c3_n_min": p.n_min, "c3_n_dmin": samples_per_task(p, p.d_small), "c3_n_dmax": samples_per_task(p, p.d_large),
        "c3_n_single_dmax": samples_per_task(p, p.d_large) * p.T, "c3_n_seeds": p.n_seeds,
        "c3_down_tasks": p.down_tasks, "c3_n_test": p.n_test, "c3_eta_a": p.eta_a, "c3_eta_W": p.eta_W,
        "c3_probe": p.probe, "c3_lam_grid": ", ".join(f"{v:g}" for v in LOO_LAMS),
        "c3_m_min": p.ms[0], "c3_m_max": p.ms[-1], "c3_n3_min": p.n3s[0], "c3_n3_max": p.n3s[-1],
        "c3_n3_ratio": p.n3s[-1] / p.n3, "c3_target": p.target_acc, "c3_r_over_dmax": p.r / p.d_large,
        "c3_m_over_dmin": p.m / p.d_small, "c3_tol": TOL, "c3_material": MATERIAL, "c3_n_subsets": N_SUBSETS,
        **grid_choice(p),
    }


def summary_vs_d(res: dict) -> dict:
    """Accuracy against d: ``c3_acc_{pretrained,single,oracle}_{dmin,dmax}`` and ``c4_acc_random_{dmin,dmax}``
    (each with ``_ci``), the change from d_min to d_max of each (``c3_change_{word}``), comparisons at d_max
    and d_min, and the median probe regularisation ``c3_lam_{word}``."""
    a, out = res["acc_d"], {}
    for k in FEATURE_SETS:          # keys c3_acc_{pretrained,single,oracle}_{dmin,dmax}, c4_acc_random_{...}
        prefix = "c4" if k == "random" else "c3"
        for end, i in (("dmin", 0), ("dmax", -1)):
            out[f"{prefix}_acc_{WORDS[k]}_{end}"], out[f"{prefix}_acc_{WORDS[k]}_{end}_ci"] = _iv(a[k][:, i])
        out[f"c3_change_{WORDS[k]}"] = change_phrase(a[k][:, 0], a[k][:, -1])
        out[f"c3_lam_{WORDS[k]}"] = res["lam_median"][k]
    out["c3_random_vs_pre_dmin"] = compare_phrase(a["random"][:, 0], a["multi"][:, 0], "pretrained features")
    out["c3_random_vs_pre_dmax"] = compare_phrase(a["random"][:, -1], a["multi"][:, -1], "pretrained features")
    out["c3_pre_vs_oracle_dmax"] = compare_phrase(a["multi"][:, -1], a["oracle"][:, -1], "the oracle")
    out["c3_single_vs_random_dmax"] = compare_phrase(a["single"][:, -1], a["random"][:, -1], "random features")
    out["c3_single_vs_pre_dmax"] = compare_phrase(a["single"][:, -1], a["multi"][:, -1],
                                                  "multi-task pretrained features")
    return out


def summary_quality(res: dict) -> dict:
    """Pretraining quality: ``c3_{err,energy,dirs}_{multi,single}_{dmin,dmax}`` (with ``_ci``), their changes
    with d, and the random W's energy at d_max."""
    q, out = res["quality"], {}
    for k in ("multi", "single"):   # keys c3_{err,energy,dirs}_{multi,single}_{dmin,dmax} and _ci
        for stat in ("err", "energy", "dirs"):
            for end, i in (("dmin", 0), ("dmax", -1)):
                out[f"c3_{stat}_{k}_{end}"], out[f"c3_{stat}_{k}_{end}_ci"] = _iv(q[f"{k}_{stat}"][:, i])
    out["c3_err_multi_change"] = change_phrase(q["multi_err"][:, 0], q["multi_err"][:, -1])
    out["c3_energy_multi_change"] = change_phrase(q["multi_energy"][:, 0], q["multi_energy"][:, -1])
    out["c3_energy_random_dmax"], out["c3_energy_random_dmax_ci"] = _iv(q["random_energy"][:, -1])
    out["c3_energy_single_vs_random_dmax"] = compare_phrase(q["single_energy"][:, -1], q["random_energy"][:, -1],
                                                            "the random W's")
    return out


def summary_m_n3(res: dict, p: Params) -> dict:
    """Accuracy against the width and the samples at d_min and d_max."""
    am, n3, out = res["acc_m"], res["acc_n3"], {}
    for w, end in (("small", "dmin"), ("large", "dmax")):   # keys c3_accm_{pretrained,random,oracle}_{dmin,dmax}
        for k in ("multi", "random", "oracle"):
            out[f"c3_accm_{WORDS[k]}_{end}"], out[f"c3_accm_{WORDS[k]}_{end}_ci"] = _iv(am[w][k][:, 0])
    c = criteria(res)
    out["c3_gap_m"], out["c3_gap_m_ci"] = float(c["m_curve_gap"].mean), float(c["m_curve_gap"].half)
    out["c3_gap_n3"], out["c3_gap_n3_ci"] = float(c["n3_curve_gap"].mean), float(c["n3_curve_gap"].half)
    out["c3_random_widening_dmax"] = change_phrase(am["large"]["random"][:, 0], am["large"]["random"][:, -1])
    out["c3_acc_random_dmax_n3max"], out["c3_acc_random_dmax_n3max_ci"] = _iv(n3["random"][:, -1, -1])
    out["c3_acc_random_dmin_n3max"], out["c3_acc_random_dmin_n3max_ci"] = _iv(n3["random"][:, 0, -1])
    out["c3_acc_pretrained_dmax_n3min"], out["c3_acc_pretrained_dmax_n3min_ci"] = _iv(n3["multi"][:, -1, 0])
    out["c3_random_most_vs_pre_fewest"] = compare_phrase(n3["random"][:, -1, -1], n3["multi"][:, -1, 0],
                                                         f"pretrained features given n3 = {p.n3s[0]}")
    out["c4_random_most_vs_pre"] = compare_phrase(n3["random"][:, -1, -1], res["acc_d"]["multi"][:, -1],
                                                  f"pretrained features given n3 = {p.n3}")
    return out


def summary_needed(res: dict, p: Params) -> dict:
    """Samples needed to reach ``target_acc``: ``c3_n3_needed_{word}_{dmin,dmax}`` (mean over seeds of the
    per-seed interpolated n3, with ``_ci``), ``c3_n3_needed_{word}_note`` (how many seed-d curves are capped
    or floored), and the change of the need from d_min to d_max (``c3_n3_needed_{word}_change``)."""
    out = {}
    # keys c3_n3_needed_{pretrained,single,random,oracle}_{dmin,dmax} (and _ci), c3_n3_needed_{word}_note, _change
    for k in FEATURE_SETS:
        need, cap, floor = res["n3_needed"][k], res["n3_capped"][k], res["n3_floored"][k]
        for end, i in (("dmin", 0), ("dmax", -1)):
            out[f"c3_n3_needed_{WORDS[k]}_{end}"], out[f"c3_n3_needed_{WORDS[k]}_{end}_ci"] = _iv(need[:, i])
            # c3_n3_needed_{word}_{end}_capped: seeds at the sweep's cap, so that the book writes a mean of
            # capped seeds as a bound (mtrl_lib.book.glued_notes.capped_text: "≥ 400 (every seed at the cap)")
            out[f"c3_n3_needed_{WORDS[k]}_{end}_capped"] = int(cap[:, i].sum())
        notes = []
        for end, i in (("dmin", 0), ("dmax", -1)):
            d = p.d_small if end == "dmin" else p.d_large
            if cap[:, i].any():
                notes.append(f"at d = {d}, {int(cap[:, i].sum())} of {p.n_seeds} seeds never reach the target and "
                             f"count as {p.n3s[-1]}, so the mean is a lower bound")
            if floor[:, i].any():
                notes.append(f"at d = {d}, {int(floor[:, i].sum())} of {p.n_seeds} seeds reach the target at the "
                             f"first n3 and count as {p.n3s[0]}")
        out[f"c3_n3_needed_{WORDS[k]}_note"] = "; " + ("; ".join(notes) if notes else
                                                        "every seed crosses the target inside the sweep")
        out[f"c3_n3_needed_{WORDS[k]}_change"] = change_phrase(need[:, 0], need[:, -1], digits=1)
    return out


def summary_verdict(res: dict) -> dict:
    """The verdicts and the paired intervals behind them (``c3_crit_*``, ``c4_crit_*`` with ``_ci``)."""
    out = {"c3_verdict": res["verdict"]["C3"], "c4_verdict": res["verdict"]["C4"]}
    c = criteria(res)
    names = {"pre_minus_random": "c3_crit_pre_minus_random", "oracle_minus_pre": "c3_crit_oracle_minus_pre",
             "pre_drift": "c3_crit_pre_drift", "m_curve_gap": "c3_crit_m_gap", "n3_curve_gap": "c3_crit_n3_gap",
             "random_fall": "c4_crit_random_fall", "random_most_minus_pre": "c4_crit_random_most_minus_pre"}
    for key, name in names.items():     # keys c3_crit_* and c4_crit_*, each with _ci
        out[name], out[f"{name}_ci"] = float(c[key].mean), float(c[key].half)
    return out


def explore_numbers() -> dict:
    """The explorer's initial values and size, as the prose states them: ``c3_explore_{d,T,n3,m,rounds}``."""
    return {f"c3_explore_{k}": v for k, v in EXPLORE.items() if k != "seed"}


def summary(res: dict, p: Params) -> dict:
    """Every number and computed phrase the chapter's prose quotes (glue name -> value)."""
    parts = [summary_setting(p), summary_vs_d(res), summary_quality(res), summary_m_n3(res, p),
             summary_needed(res, p), summary_verdict(res), explore_numbers()]
    out = {}
    for part in parts:
        clash = set(out) & set(part)
        if clash:
            raise RuntimeError(f"summary keys written twice: {sorted(clash)}")
        out.update(part)
    return out


def explore(d: int, T: int, n3: int, m: int = EXPLORE["m"], r: int = 5, rounds: int = EXPLORE["rounds"],
            seed: int = EXPLORE["seed"]) -> dict:
    """One small live run for the chapter's explorer: pretrain on T tasks (budget rule of the quick profile),
    then downstream accuracy at n3 of the pretrained, random (initial) and oracle features."""
    p = Params(ds=(d,), r=r, m=m, T=T, rounds=rounds, n3=n3, ms=(m,), n3s=(n3,), seeds=(seed,))
    res = train(pretrain_config(p, d, seed))
    Wo = oracle_weights(m, res.M, make_generator(stream(seed, "oracle"), "cpu"))
    tasks = draw_tasks("linear", p.down_tasks, r, make_generator(stream(seed, "down"), "cpu"))
    acc = {}
    for k, W in (("pretrained", res.W), ("random", res.W0), ("oracle", Wo)):
        g = make_generator(stream(seed, "probe", d), "cpu")                # same samples for each
        acc[k] = float(probe_accuracy(W, res.b, res.M, tasks, n3, g, n_test=p.n_test, method=p.probe,
                                      lam=p.lam).mean())
    return {"acc": acc, "error": subspace_error(res.W, res.M), "n": samples_per_task(p, d)}
