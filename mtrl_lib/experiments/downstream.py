"""Chapter 3 (claims C3 and C4): downstream accuracy of a linear head on frozen features, against d, m, n3.

For every seed and every ambient dimension d in ``ds`` one ground truth ``M`` (d x r) is drawn and four
first layers of width ``m`` are compared on the same new tasks and the same samples:

* ``multi``:  multi-task pretrained (``T`` tasks, alternating GD, :func:`mtrl_lib.train.train`);
* ``single``: single-task pretrained (``T = 1``) with the same total sample budget (``T n`` samples per phase);
* ``random``: the initial W of those runs (rows uniform on the sphere of R^d), i.e. no pretraining;
* ``oracle``: rows uniform on the sphere of span(M) (:func:`mtrl_lib.model.oracle_weights`).

Pretraining budget rule (ours, stated in the chapter): ``T`` and the number of rounds are fixed, the
samples per task and phase grow linearly with d, ``n1 = n2 = max(n_min, ceil(n_per_d * d))``, which keeps
the relative gradient noise sqrt(d / (T n2)) of one feature step (chapter 2) level across d wherever
``ceil(n_per_d * d) >= n_min``; the defaults (``n_min = 10``, ``n_per_d = 0.5``) make it hold over both
profiles' sweeps (d >= 20). The multi-task run's subspace error and energy are recorded every ``rounds //
TRAJECTORY_RECORDS`` rounds (the unit's ``trajectory``), so that the chapter can show whether pretraining has
converged at the smallest and the largest d.

Downstream (one unit = one seed and one d, :func:`evaluate`): ``down_tasks`` new tasks of ``down_family``
(the same latent tasks, and the same latent oracle rows, at every d of a seed: see :func:`stream`);
one draw of ``max(n3s)`` training and ``n_test`` test samples per task serves every feature set, every n3
(the first n3 training samples: the sample sweep is nested, hence paired) and every width (the accuracy at
width m' < m is the mean over ``N_SUBSETS`` random subsets of m' of the m neurons of the *one* network
pretrained at width m: no network is pretrained at width m'). The head is fitted by
:func:`mtrl_lib.probe.head_accuracy` (standardised features; by default ridge with its regularisation picked
per task by leave-one-out error on the n3 training samples, ``probe="ridge_loo"``; ``ridge``/``logistic``
use the fixed ``lam``). For random
and oracle features a subset of m' neurons is exactly a network of width m'; for pretrained features it
relies on the neurons of a mean-field network being exchangeable.

Statistics (:mod:`mtrl_lib.stats`): means over seeds with 95% Student-t intervals; two feature sets, two
values of d or two sweeps are compared per seed (paired intervals), since they share M, the tasks and
the samples. The comparative words of the prose are decided together with Holm's correction
(:func:`comparison_family`); :func:`verdict` states the criteria, which decide C3 on the neurons and the
samples needed themselves (their exponent in d, against the sketch's 0).
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
from ..comparisons import SKETCH_SLOPE_MARGIN, Family, changed_by_correction, equivalent
from ..units import run_units, unit
from . import step_sizes
from .common import ChapterParams, Choice, Float, Int, IntList

FEATURE_SETS = ("multi", "single", "random", "oracle")
#: the word each feature set has in glue names and prose (``c3_n3_needed_pretrained_dmin``, ...)
WORDS = {"multi": "pretrained", "single": "single", "random": "random", "oracle": "oracle"}
#: the name each feature set has in the readable names of the Holm family's comparisons
LABELS = {"multi": "pretrained", "single": "single-task", "random": "random", "oracle": "oracle"}

#: C3: accuracy tolerance for "level across d" (the paired 95% interval of a change must stay inside +-TOL)
TOL = 0.05
#: an accuracy difference that matters between two first layers (a fifth of the way from perfect to chance):
#: C3 needs the oracle less than this above pretrained features, C4 a fall of random features of more than it
MATERIAL = 0.1
#: random subsets of m' neurons averaged at each width m' < m of the neuron sweep
N_SUBSETS = 5
#: the multi-task pretraining run records its subspace error and energy about this many times
TRAJECTORY_RECORDS = 20


@dataclass(frozen=True)
class Params(ChapterParams):
    ds: tuple[int, ...] = (20, 40, 80, 160, 320)   # ambient dimensions d, strictly increasing
    r: int = 5                                     # latent dimension (columns of M)
    m: int = 100                                   # width of every first layer compared
    T: int = 20                                    # pretraining tasks of the multi-task run
    n_per_d: float = 0.5                           # budget rule: n1 = n2 = max(n_min, ceil(n_per_d * d))
    n_min: int = 10                                # budget rule: the fewest samples per task and phase
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
#: the values precomputed for the static book (3 x 2 = 6 figures; n3 stays at its initial value)
EXPLORE_STATIC = {"d": (Params.ds[0], EXPLORE["d"], Params.ds[-1]), "T": (1, EXPLORE["T"]), "n3": (EXPLORE["n3"],)}


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
                       seed=seed, device=p.device, record_every=max(1, p.rounds // TRAJECTORY_RECORDS),
                       control=control)


def feature_sets(p: Params, d: int, seed: int, control: str = "none") -> tuple[dict, torch.Tensor, torch.Tensor,
                                                                               dict, dict]:
    """Train (multi and single) at dimension d and return ``({name: W}, b, M, pretraining quality,
    trajectory)``; the quality holds ``{name}_err``, ``{name}_dirs`` and ``{name}_energy`` for every feature
    set, the trajectory the multi-task run's recorded ``round``, ``error`` and ``energy`` (arrays)."""
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
    h = multi.history
    trajectory = {"round": h["round"], "error": h["subspace_error"], "energy": h["energy"]}
    return Ws, multi.b, multi.M, quality, trajectory


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
    pretraining quality (``quality``: dict of floats) and the multi-task run's ``trajectory`` (dict of arrays).
    ``fields``: the :data:`UNIT_FIELDS` of ``Params``."""
    p = Params(ds=(d,), seeds=(seed,), **fields)
    Ws, b, M, quality, trajectory = feature_sets(p, d, seed, control)
    return {**probe_sweeps(p, Ws, b, M, seed, d, sweep_m), "quality": quality, "trajectory": trajectory}


def units(p: Params, control: str = "none") -> list:
    """The chapter's work: one :func:`evaluate` unit per (seed, d), seeds outer."""
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {', '.join(map(repr, CONTROLS))}, got {control!r}")
    fields = {f: getattr(p, f) for f in UNIT_FIELDS}
    return [unit(evaluate, s, d=d, sweep_m=d in (p.d_small, p.d_large), control=control, **fields)
            for s in p.seeds for d in p.ds]


def run(p: Params, executor=None, control: str = "none") -> dict:
    """All of chapter 3's numbers (:func:`reduce` of the units' results). ``control`` runs the pretraining as
    a negative control (tests)."""
    t0 = time.perf_counter()
    out = run_units(units(p, control), executor, desc="chapter 3: pretrain and probe, per (seed, d)")
    res = reduce(out, p, control)
    res["seconds"] = time.perf_counter() - t0
    return res


def reduce(out: list, p: Params, control: str = "none") -> dict:
    """The units' results (one per (seed, d), seeds outer, as :func:`units` lists them), stacked. Per-seed
    arrays have the seeds on axis 0.

    Returns ``acc_d[k] (S, D)`` (accuracy vs d at n3), ``acc_n3[k] (S, D, len(n3s))``, ``acc_m[which][k]
    (S, len(ms))`` with ``which`` in ``small``/``large`` (d = ds[0] / ds[-1]), ``quality[name] (S, D)`` (per
    feature set: ``_err``, ``_energy``, ``_dirs``), ``n3_needed[k] (S, D)`` with ``n3_capped`` /
    ``n3_floored`` (see :func:`n3_needed`), ``m_needed[which][k] (S,)`` with ``m_capped`` / ``m_floored`` (the
    neurons of the width sweep needed for ``target_acc`` at n3, read off the same way), ``n_rule`` (samples per
    task and phase for each d), ``lam_median`` (median probe regularisation per feature set at n3),
    ``trajectory`` (``round (R,)``, ``error``/``energy (S, D, R)`` of the multi-task pretraining; absent for
    results computed before it was recorded) and ``verdict`` (``{"C3", "C4"}``)."""
    S, D = len(p.seeds), len(p.ds)
    at = lambda key: np.stack([np.asarray(o[key], dtype=float) for o in out]).reshape(S, D, *np.shape(out[0][key]))
    acc, acc_n3, lam = at("acc"), at("acc_n3"), at("lam")                  # (S, D, K), (S, D, K, N), (S, D, K, B)
    res = {
        "ds": np.asarray(p.ds), "ms": np.asarray(p.ms), "n3s": np.asarray(p.n3s), "n_seeds": S, "control": control,
        "target_acc": p.target_acc, "n_rule": np.asarray([samples_per_task(p, d) for d in p.ds]),
        "acc_d": {k: acc[:, :, i] for i, k in enumerate(FEATURE_SETS)},
        "acc_n3": {k: acc_n3[:, :, i] for i, k in enumerate(FEATURE_SETS)},
        "quality": {q: np.asarray([[o["quality"][q] for o in out[s * D:(s + 1) * D]] for s in range(S)], dtype=float)
                    for q in out[0]["quality"]},
        "lam_median": {k: float(np.median(lam[:, :, i])) for i, k in enumerate(FEATURE_SETS)},
        "acc_m": {},
    }
    if "trajectory" in out[0]:
        res["trajectory"] = {"round": np.asarray(out[0]["trajectory"]["round"], dtype=float),
                             "error": np.stack([o["trajectory"]["error"] for o in out]).reshape(S, D, -1),
                             "energy": np.stack([o["trajectory"]["energy"] for o in out]).reshape(S, D, -1)}
    for which, j in (("small", 0), ("large", D - 1)):
        am = np.stack([out[s * D + j]["acc_m"] for s in range(S)])          # (S, K, len(ms))
        res["acc_m"][which] = {k: am[:, i] for i, k in enumerate(FEATURE_SETS)}
    res["n3_needed"], res["n3_capped"], res["n3_floored"] = {}, {}, {}
    for k in FEATURE_SETS:
        need = n3_needed(res["acc_n3"][k], p.n3s, p.target_acc)
        res["n3_needed"][k], res["n3_capped"][k], res["n3_floored"][k] = need
    res["m_needed"], res["m_capped"], res["m_floored"] = {}, {}, {}
    for which in ("small", "large"):
        res["m_needed"][which], res["m_capped"][which], res["m_floored"][which] = {}, {}, {}
        for k in FEATURE_SETS:
            need = n3_needed(res["acc_m"][which][k], p.ms, p.target_acc)
            res["m_needed"][which][k], res["m_capped"][which][k], res["m_floored"][which][k] = need
    res["verdict"] = verdict(res, p)
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


def exponent(need_small, need_large, d_small: int, d_large: int) -> np.ndarray:
    """Per seed, the exponent b of need ~ d^b between the smallest and the largest d:
    ``log(need_large / need_small) / log(d_large / d_small)`` (0: the need does not change with d). The
    sketch of C3 predicts b = 0; random features need b >= 1 at least (chapter's sketch)."""
    return np.log(np.asarray(need_large, float) / np.asarray(need_small, float)) / math.log(d_large / d_small)


def _exponents(res: dict, k: str) -> dict:
    """For feature set ``k``: the per-seed exponents of the neurons needed (width sweep) and of the samples
    needed (n3 sweep), with ``*_censored`` (the number of seeds whose need is capped or floored at either end,
    so that its exponent is a bound, not a measurement)."""
    ds = res["ds"]
    mn, mc, mf = res["m_needed"], res["m_capped"], res["m_floored"]
    nn, nc, nf = res["n3_needed"][k], res["n3_capped"][k], res["n3_floored"][k]
    return {"m": exponent(mn["small"][k], mn["large"][k], ds[0], ds[-1]),
            "m_censored": int((mc["small"][k] | mf["small"][k] | mc["large"][k] | mf["large"][k]).sum()),
            "n3": exponent(nn[:, 0], nn[:, -1], ds[0], ds[-1]),
            "n3_censored": int((nc[:, 0] | nf[:, 0] | nc[:, -1] | nf[:, -1]).sum())}


def criteria(res: dict) -> dict:
    """The intervals and exponents the verdicts read: paired 95% intervals over seeds
    (:class:`mtrl_lib.stats.Interval`) and, under ``exponents``, :func:`_exponents` for pretrained (``multi``)
    and oracle features."""
    a, n3 = res["acc_d"], res["acc_n3"]
    return {
        "pre_minus_random": stats.paired_ci(a["multi"][:, -1], a["random"][:, -1]),
        "oracle_minus_pre": stats.paired_ci(a["oracle"][:, -1], a["multi"][:, -1]),
        "pre_drift": stats.paired_ci(a["multi"][:, -1], a["multi"][:, 0]),
        "random_fall": stats.paired_ci(a["random"][:, 0], a["random"][:, -1]),
        "random_most_minus_pre": stats.paired_ci(n3["random"][:, -1, -1], a["multi"][:, -1]),
        "random_above_chance": stats.mean_ci(a["random"][:, 0] - 0.5),
        "exponents": {k: _exponents(res, k) for k in ("multi", "oracle")},
    }


def _equivalent_zero(e: dict, key: str) -> bool:
    """The exponent ``key`` ("m" or "n3") is equivalent to the sketch's 0 within
    :data:`mtrl_lib.comparisons.SKETCH_SLOPE_MARGIN` (TOST at 5%), and no seed is censored."""
    return e[f"{key}_censored"] == 0 and equivalent(e[key], 0.0, SKETCH_SLOPE_MARGIN)


def _exp_text(e: dict, key: str) -> str:
    if e[f"{key}_censored"]:
        return f"censored: {e[f'{key}_censored']} seeds reach the target at an end of the sweep or never"
    return stats.fmt(stats.mean_ci(e[key]))


def verdict(res: dict, p: Params) -> dict[str, str]:
    """Verdicts on C3 and C4, decided on 95% confidence bounds over seeds (paired: same seeds, so the same
    M, tasks and samples). d_min, d_max are ``ds[0]``, ``ds[-1]``; "accuracy" is at width m and ``n3``; the
    "need" of a first layer is the number of neurons (width sweep, at n3) or of downstream samples (n3
    sweep, at width m) at which its accuracy reaches ``target_acc`` (:func:`n3_needed`); its *exponent* is
    log(need at d_max / need at d_min) / log(d_max / d_min), per seed (:func:`exponent`).

    C3 (pretrained features make the downstream complexity independent of d):

    1. *it learned something*: at d_max pretrained accuracy is above random features' (lower bound of the
       paired difference > 0). Random features are the run's own initial W, a null computed on the same
       seeds: a run that learns nothing (shuffled labels) fails it;
    2. *it learned span(M)*: at d_max the oracle (rows inside span(M)) is less than MATERIAL = 0.1 above
       pretrained features (upper bound of the paired difference < 0.1; runs that learn nothing or whose heads
       are fitted to another task end about 0.3 below the oracle);
    3. *accuracy level in d*: the paired change of pretrained accuracy from d_min to d_max lies inside
       (-TOL, TOL) = (-0.05, 0.05) (95% interval). TOL is half of MATERIAL: a change that small is not one we
       would call material between two first layers;
    4. *neurons*: the exponent of the neurons needed is equivalent to 0 within
       ``SKETCH_SLOPE_MARGIN`` = 0.10 (TOST at 5%; the book's one margin for a rate exponent against a
       sketch's), with no censored seed. The width sweep takes random subsets of the neurons of one network
       pretrained at width m: it measures the neurons of that network a head needs, not the width a network
       needs when pretrained at that width;
    5. *samples*: the same for the downstream samples needed.

    The oracle guard: the oracle's two exponents must pass 4 and 5 themselves (its downstream problem is the
    same at every d by the chapter's reduction), else the sweeps cannot show independence at this size and C3
    is "undecided". "not reproduced" when 1 or 2 fails, or when 4 and 5 both fail (the claim is that the
    sample *and* the neuron complexity are independent of d: with neither shown, the claim is not reproduced);
    "partly reproduced (...)" when 1 and 2 pass and some of 3-5 fail, but not both 4 and 5; "reproduced" when
    all pass. (Until a referee's read, both complexity rows failing read "partly reproduced"; the rule was
    tightened, never loosened.)

    C4 (random features need more with growing d; the v1-v2 abstract's statement) holds when all of:

    1. random-feature accuracy falls from d_min to d_max by more than MATERIAL = 0.1 (lower bound of the
       paired fall > 0.1);
    2. at d_max, random features with the largest n3 of the sweep stay below pretrained features at n3
       (upper bound of the paired difference < 0): more samples do not buy back what d took;
    3. the positive control of 2: random features *do* learn at d_min, their accuracy above chance by more
       than MATERIAL (lower bound of accuracy - 0.5 > 0.1), so that a broken random arm cannot pass 2.

    Fewer than ``stats.MIN_SEEDS`` seeds: both verdicts are ``stats.undecided``."""
    n = res["n_seeds"]
    if not stats.enough_seeds(n):
        return {"C3": stats.undecided(n), "C4": stats.undecided(n)}
    c = criteria(res)
    lo, hi = p.d_small, p.d_large
    iv = lambda key: f"{float(c[key].mean):+.3f} ± {float(c[key].half):.3f}"
    inside = lambda key: bool(c[key].lo > -TOL and c[key].hi < TOL)
    pre, ora = c["exponents"]["multi"], c["exponents"]["oracle"]
    learned = [why for why, ok in [
        (f"pretrained accuracy at d = {hi} is not above random features' (paired difference {iv('pre_minus_random')})",
         bool(c["pre_minus_random"].lo > 0)),
        (f"the oracle may be {MATERIAL} or more above pretrained features at d = {hi} (paired difference "
         f"{iv('oracle_minus_pre')})", bool(c["oracle_minus_pre"].hi < MATERIAL)),
    ] if not ok]
    guard = [why for why, ok in [
        (f"the oracle's neurons-needed exponent is not within ±{SKETCH_SLOPE_MARGIN} of 0 ({_exp_text(ora, 'm')})",
         _equivalent_zero(ora, "m")),
        (f"the oracle's samples-needed exponent is not within ±{SKETCH_SLOPE_MARGIN} of 0 "
         f"({_exp_text(ora, 'n3')})", _equivalent_zero(ora, "n3")),
    ] if not ok]
    level = [why for why, ok in [
        (f"pretrained accuracy may change by {TOL} or more from d = {lo} to {hi} ({iv('pre_drift')})",
         inside("pre_drift")),
        (f"the neurons of the pretrained network needed for accuracy {p.target_acc:g} grow with d: exponent "
         f"{_exp_text(pre, 'm')}, not within ±{SKETCH_SLOPE_MARGIN} of 0", _equivalent_zero(pre, "m")),
        (f"the downstream samples needed for accuracy {p.target_acc:g} are not shown independent of d: exponent "
         f"{_exp_text(pre, 'n3')}, not within ±{SKETCH_SLOPE_MARGIN} of 0", _equivalent_zero(pre, "n3")),
    ] if not ok]
    both_complexities = not _equivalent_zero(pre, "m") and not _equivalent_zero(pre, "n3")
    if learned:
        c3 = "not reproduced (" + "; ".join(learned + level) + ")"
    elif guard:
        c3 = "undecided (" + "; ".join(guard) + ": the sweeps cannot show independence of d at this size)"
    elif both_complexities:
        c3 = "not reproduced (" + "; ".join(level) + ")"
    elif level:
        c3 = "partly reproduced (" + "; ".join(level) + ")"
    else:
        c3 = "reproduced"
    c4 = [why for why, ok in [
        (f"random-feature accuracy does not fall by more than {MATERIAL} from d = {lo} to {hi} (paired fall "
         f"{iv('random_fall')})", bool(c["random_fall"].lo > MATERIAL)),
        (f"at d = {hi} random features with n3 = {p.n3s[-1]} are not below pretrained ones with n3 = {p.n3} "
         f"(paired difference {iv('random_most_minus_pre')})", bool(c["random_most_minus_pre"].hi < 0)),
        (f"random features do not learn even at d = {lo} (accuracy above chance by {iv('random_above_chance')}, "
         f"not more than {MATERIAL})", bool(c["random_above_chance"].lo > MATERIAL)),
    ] if not ok]
    fmt = lambda failed: "reproduced" if not failed else "not reproduced (" + "; ".join(failed) + ")"
    return {"C3": c3, "C4": fmt(c4)}


# ---------------------------------------------------------------------------------------------------------
# What the prose quotes. Each function returns glue names -> values; ``summary`` is their union.


def _iv(x) -> tuple[float, float]:
    iv = stats.mean_ci(x)
    return float(iv.mean), float(iv.half)


def change_phrase(before, after, digits: int = 3) -> str:
    """How a per-seed quantity changes from ``before`` to ``after`` (paired 95% t interval, one test at 5%):
    "falls by 0.210 ± 0.020", "rises by ...", or "does not change significantly (+0.004 ± 0.011)". The prose
    uses :func:`_change` instead (the same phrase, decided in the chapter's Holm family)."""
    iv = stats.paired_ci(after, before)
    m, h = float(iv.mean), float(iv.half)
    if iv.hi < 0:
        return f"falls by {-m:.{digits}f} ± {h:.{digits}f}"
    if iv.lo > 0:
        return f"rises by {m:.{digits}f} ± {h:.{digits}f}"
    return f"does not change significantly ({m:+.{digits}f} ± {h:.{digits}f})"


def compare_phrase(a, b, b_name: str) -> str:
    """``a`` against ``b`` per seed (paired 95% interval, one test at 5%): "0.120 ± 0.015 above {b_name}",
    "... below ...", or "not significantly different from {b_name} (+0.004 ± 0.011)". The prose uses
    :func:`_compare` instead (decided in the chapter's Holm family)."""
    iv = stats.paired_ci(a, b)
    m, h = float(iv.mean), float(iv.half)
    if iv.lo > 0:
        return f"{m:.3f} ± {h:.3f} above {b_name}"
    if iv.hi < 0:
        return f"{-m:.3f} ± {h:.3f} below {b_name}"
    return f"not significantly different from {b_name} ({m:+.3f} ± {h:.3f})"


def _tail_index(res: dict, p: Params) -> int:
    """The record a fifth of the rounds before the end of pretraining (for "still falling")."""
    rounds = res["trajectory"]["round"]
    return int(np.searchsorted(rounds, rounds[-1] - max(1, round(0.2 * p.rounds)), side="right")) - 1


def _diffs(res: dict, p: Params) -> dict:
    """Every comparison behind a glued comparative word: readable name -> (per-seed difference, or the
    per-seed values against a null of 0). Changes are ``after - before``; comparisons ``a - b``."""
    a, q, am, n3 = res["acc_d"], res["quality"], res["acc_m"], res["acc_n3"]
    lo, hi = p.d_small, p.d_large
    out = {}
    for k in FEATURE_SETS:
        out[f"{LABELS[k]} features: accuracy from d = {lo} to {hi}"] = a[k][:, -1] - a[k][:, 0]
        need = res["n3_needed"][k]
        out[f"{LABELS[k]} features: samples needed from d = {lo} to {hi}"] = need[:, -1] - need[:, 0]
    for k in ("multi", "oracle"):
        out[f"{LABELS[k]} features: neurons needed from d = {lo} to {hi}"] = (res["m_needed"]["large"][k]
                                                                          - res["m_needed"]["small"][k])
    out[f"random against pretrained features at d = {lo}"] = a["random"][:, 0] - a["multi"][:, 0]
    out[f"random against pretrained features at d = {hi}"] = a["random"][:, -1] - a["multi"][:, -1]
    out[f"pretrained features against the oracle at d = {hi}"] = a["multi"][:, -1] - a["oracle"][:, -1]
    out[f"single-task against random features at d = {hi}"] = a["single"][:, -1] - a["random"][:, -1]
    out[f"single-task against multi-task features at d = {hi}"] = a["single"][:, -1] - a["multi"][:, -1]
    out[f"pretraining error from d = {lo} to {hi}"] = q["multi_err"][:, -1] - q["multi_err"][:, 0]
    out[f"pretraining energy from d = {lo} to {hi}"] = q["multi_energy"][:, -1] - q["multi_energy"][:, 0]
    out[f"single-task energy against the random W's at d = {hi}"] = (q["single_energy"][:, -1]
                                                                     - q["random_energy"][:, -1])
    out[f"random features from the fewest to all neurons at d = {hi}"] = (am["large"]["random"][:, -1]
                                                                         - am["large"]["random"][:, 0])
    out[f"random features with n3 = {p.n3s[-1]} against pretrained with n3 = {p.n3s[0]} at d = {hi}"] = \
        n3["random"][:, -1, -1] - n3["multi"][:, -1, 0]
    out[f"random features with n3 = {p.n3s[-1]} against pretrained with n3 = {p.n3} at d = {hi}"] = \
        n3["random"][:, -1, -1] - a["multi"][:, -1]
    if "trajectory" in res:
        t, i = res["trajectory"]["error"], _tail_index(res, p)
        for end, j in (("smallest", 0), ("largest", -1)):
            out[f"pretraining error over the last rounds at the {end} d"] = t[:, j, -1] - t[:, j, i]
    return out


def comparison_family(res: dict, p: Params) -> Family:
    """Every comparison behind a word the chapter glues ("falls", "above", "does not change significantly",
    "still falling"), in one family decided with Holm's correction at 5% (:class:`mtrl_lib.comparisons.Family`;
    two-sided paired t tests over seeds). Verdict criteria are not in it (an intersection test)."""
    fam = Family()
    for name, x in _diffs(res, p).items():
        fam.test(name, x)
    return fam.decide()


def holm_changes(fam: Family) -> list[str]:
    """The comparisons whose word Holm's correction changes (significant alone at 5%, not in the family)."""
    return changed_by_correction(fam)


def _change(fam: Family, name: str, diff, digits: int = 3, censored: str = "") -> str:
    """The change phrase of comparison ``name`` (``diff`` = after - before per seed), Holm-decided. With
    ``censored`` (a note: some values are capped at the sweep's end) the phrase gives the mean difference as a
    bound, without an interval."""
    iv = stats.mean_ci(diff)
    m, h = float(iv.mean), float(iv.half)
    if censored:
        if fam[name] and m > 0:
            return f"rises by at least {m:.{digits}f} ({censored}; no interval for a censored difference)"
        return f"is censored ({censored}): the sweep cannot measure the change"
    if fam[name]:
        return f"{'falls' if m < 0 else 'rises'} by {abs(m):.{digits}f} ± {h:.{digits}f}"
    return f"does not change significantly ({m:+.{digits}f} ± {h:.{digits}f})"


def _compare(fam: Family, name: str, diff, b_name: str) -> str:
    """``a`` against ``b`` (``diff`` = a - b per seed), Holm-decided: "0.120 ± 0.015 above {b_name}", ..."""
    iv = stats.mean_ci(diff)
    m, h = float(iv.mean), float(iv.half)
    if fam[name]:
        return f"{abs(m):.3f} ± {h:.3f} {'above' if m > 0 else 'below'} {b_name}"
    return f"not significantly different from {b_name} ({m:+.3f} ± {h:.3f})"


def need_text(need, capped, floored, cap, floor, digits: int = 0) -> str:
    """A need over seeds in words: "24 ± 1", or with censored seeds "≥ 800 (every seed at the cap)", "≥ 612 (a
    lower bound: 7 of 20 seeds at the cap)", "≤ 10 (every seed at the floor)", ..."""
    n, kc, kf = len(need), int(np.sum(capped)), int(np.sum(floored))
    if kc == n:
        return f"≥ {cap:g} (every seed at the cap)"
    if kf == n:
        return f"≤ {floor:g} (every seed at the floor)"
    m, h = _iv(need)
    if kc:
        return f"≥ {m:.{digits}f} (a lower bound: {kc} of {n} seeds at the cap {cap:g})"
    if kf:
        return f"≤ {m:.{digits}f} (an upper bound: {kf} of {n} seeds at the floor {floor:g})"
    return f"{m:.{digits}f} ± {h:.{digits}f}"


def _censor_note(capped_before, capped_after, floored_before, floored_after, d_lo, d_hi, n) -> str:
    notes = []
    for what, arr, d in (("at the cap", capped_before, d_lo), ("at the cap", capped_after, d_hi),
                         ("at the floor", floored_before, d_lo), ("at the floor", floored_after, d_hi)):
        k = int(np.sum(arr))
        if k:
            notes.append(f"{'every seed' if k == n else f'{k} of {n} seeds'} {what} at d = {d}")
    return ", ".join(notes)


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
            "c3_grid_matches": "are" if (p.eta_a, p.eta_W) == (eta_a, eta_W) else "are not (this run overrides them)"}


def summary_setting(p: Params) -> dict:
    """The settings the prose quotes, with the budget rule's reach: ``c3_rule_from`` (the smallest d at which
    ``ceil(n_per_d d) >= n_min``), ``c3_rule_phrase``, ``c3_noise_dmin`` / ``c3_noise_dmax`` (sqrt(d / (T n))
    at the two ends), and the reduction's reach: ``c3_dmin_minus_r``, ``c3_reduction_note``."""
    rule_from = max(1, math.ceil(p.n_min / p.n_per_d)) if p.n_per_d > 0 else None
    noise = lambda d: math.sqrt(d / (p.T * samples_per_task(p, d)))
    if rule_from is not None and rule_from <= p.d_small:
        phrase = "holds over the whole sweep, so that noise is the same at every d"
    elif rule_from is not None and rule_from <= p.d_large:
        phrase = (f"holds from d = {rule_from} on; below it the samples stay at the rule's floor of {p.n_min} and "
                  f"the noise of a step is lower, so pretraining there is easier than the rule intends")
    else:
        phrase = f"does not hold anywhere in this sweep (the samples stay at the rule's floor of {p.n_min})"
    small_gap = p.m > p.d_small - p.r
    note = ("so at the smallest d the pretrained rows' nuisances cannot be nearly independent, and the reduction "
            "does not carry over to them there" if small_gap else
            "so the condition is at least not violated outright at any d of the sweep")
    return {
        "c3_d_min": p.d_small, "c3_d_max": p.d_large, "c3_d_ratio": p.d_large / p.d_small, "c3_r": p.r,
        "c3_m": p.m, "c3_T": p.T, "c3_n3": p.n3, "c3_rounds": p.rounds, "c3_n_per_d": p.n_per_d,
        "c3_n_min": p.n_min, "c3_n_dmin": samples_per_task(p, p.d_small), "c3_n_dmax": samples_per_task(p, p.d_large),
        "c3_n_single_dmax": samples_per_task(p, p.d_large) * p.T, "c3_n_seeds": p.n_seeds,
        "c3_down_tasks": p.down_tasks, "c3_n_test": p.n_test, "c3_eta_a": p.eta_a, "c3_eta_W": p.eta_W,
        "c3_probe": "ridge with leave-one-out regularisation" if p.probe == "ridge_loo" else p.probe,
        "c3_lam_grid": ", ".join(f"{v:g}" for v in LOO_LAMS),
        "c3_m_min": p.ms[0], "c3_m_max": p.ms[-1], "c3_n3_min": p.n3s[0], "c3_n3_max": p.n3s[-1],
        "c3_n3_ratio": p.n3s[-1] / p.n3, "c3_target": p.target_acc, "c3_r_over_dmax": p.r / p.d_large,
        "c3_m_over_dmin": p.m / p.d_small, "c3_tol": TOL, "c3_material": MATERIAL, "c3_n_subsets": N_SUBSETS,
        "c3_margin": SKETCH_SLOPE_MARGIN, "c3_log_d_ratio": math.log(p.d_large / p.d_small),
        "c3_margin_ratio": math.exp(SKETCH_SLOPE_MARGIN * math.log(p.d_large / p.d_small)),
        "c3_rule_from": rule_from if rule_from is not None else float("nan"), "c3_rule_phrase": phrase,
        "c3_noise_dmin": noise(p.d_small), "c3_noise_dmax": noise(p.d_large),
        "c3_dmin_minus_r": p.d_small - p.r, "c3_reduction_note": note,
        "c3_reduction_word": "more than" if small_gap else "at most",
        **grid_choice(p),
    }


def summary_vs_d(res: dict, p: Params, fam: Family | None = None) -> dict:
    """Accuracy against d: ``c3_acc_{pretrained,single,oracle}_{dmin,dmax}`` and ``c4_acc_random_{dmin,dmax}``
    (each with ``_ci``), the change from d_min to d_max of each (``c3_change_{word}``), comparisons at d_max
    and d_min, and the median probe regularisation ``c3_lam_{word}``. Words Holm-decided."""
    fam = comparison_family(res, p) if fam is None else fam
    a, out, lo, hi = res["acc_d"], {}, p.d_small, p.d_large
    for k in FEATURE_SETS:          # keys c3_acc_{pretrained,single,oracle}_{dmin,dmax}, c4_acc_random_{...}
        prefix = "c4" if k == "random" else "c3"
        for end, i in (("dmin", 0), ("dmax", -1)):
            out[f"{prefix}_acc_{WORDS[k]}_{end}"], out[f"{prefix}_acc_{WORDS[k]}_{end}_ci"] = _iv(a[k][:, i])
        out[f"c3_change_{WORDS[k]}"] = _change(fam, f"{LABELS[k]} features: accuracy from d = {lo} to {hi}",
                                               a[k][:, -1] - a[k][:, 0])
        out[f"c3_lam_{WORDS[k]}"] = res["lam_median"][k]
    out["c3_random_vs_pre_dmin"] = _compare(fam, f"random against pretrained features at d = {lo}",
                                            a["random"][:, 0] - a["multi"][:, 0], "pretrained features")
    out["c3_random_vs_pre_dmax"] = _compare(fam, f"random against pretrained features at d = {hi}",
                                            a["random"][:, -1] - a["multi"][:, -1], "pretrained features")
    out["c3_pre_vs_oracle_dmax"] = _compare(fam, f"pretrained features against the oracle at d = {hi}",
                                            a["multi"][:, -1] - a["oracle"][:, -1], "the oracle")
    out["c3_single_vs_random_dmax"] = _compare(fam, f"single-task against random features at d = {hi}",
                                               a["single"][:, -1] - a["random"][:, -1], "random features")
    out["c3_single_vs_pre_dmax"] = _compare(fam, f"single-task against multi-task features at d = {hi}",
                                            a["single"][:, -1] - a["multi"][:, -1], "multi-task pretrained features")
    return out


def summary_quality(res: dict, p: Params, fam: Family | None = None) -> dict:
    """Pretraining quality: ``c3_{err,energy,dirs}_{multi,single}_{dmin,dmax}`` (with ``_ci``), their changes
    with d, the random W's energy at d_max; the pretraining trajectory at the two ends of the sweep:
    ``c3_traj_err_{dmin,dmax}(_ci)`` (error at the last round), ``c3_traj_tail`` (rounds of the last stretch),
    ``c3_traj_falling_{dmin,dmax}`` (Holm-decided word: the error over the last stretch)."""
    fam = comparison_family(res, p) if fam is None else fam
    q, out, lo, hi = res["quality"], {}, p.d_small, p.d_large
    for k in ("multi", "single"):   # keys c3_{err,energy,dirs}_{multi,single}_{dmin,dmax} and _ci
        for stat in ("err", "energy", "dirs"):
            for end, i in (("dmin", 0), ("dmax", -1)):
                out[f"c3_{stat}_{k}_{end}"], out[f"c3_{stat}_{k}_{end}_ci"] = _iv(q[f"{k}_{stat}"][:, i])
    out["c3_err_multi_change"] = _change(fam, f"pretraining error from d = {lo} to {hi}",
                                         q["multi_err"][:, -1] - q["multi_err"][:, 0])
    out["c3_energy_multi_change"] = _change(fam, f"pretraining energy from d = {lo} to {hi}",
                                            q["multi_energy"][:, -1] - q["multi_energy"][:, 0])
    out["c3_energy_random_dmax"], out["c3_energy_random_dmax_ci"] = _iv(q["random_energy"][:, -1])
    out["c3_energy_single_vs_random_dmax"] = _compare(fam, f"single-task energy against the random W's at d = {hi}",
                                                      q["single_energy"][:, -1] - q["random_energy"][:, -1],
                                                      "the random W's")
    if "trajectory" in res:
        t, i = res["trajectory"]["error"], _tail_index(res, p)
        out["c3_traj_tail"] = int(res["trajectory"]["round"][-1] - res["trajectory"]["round"][i])
        for end, label, j in (("dmin", "smallest", 0), ("dmax", "largest", -1)):
            out[f"c3_traj_err_{end}"], out[f"c3_traj_err_{end}_ci"] = _iv(t[:, j, -1])
            name = f"pretraining error over the last rounds at the {label} d"
            out[f"c3_traj_falling_{end}"] = (("still falling" if np.mean(t[:, j, -1] - t[:, j, i]) < 0 else "rising")
                                            if fam[name] else "no longer falling significantly")
            out[f"c3_traj_drop_{end}"], out[f"c3_traj_drop_{end}_ci"] = _iv(t[:, j, i] - t[:, j, -1])
    return out


def summary_m_n3(res: dict, p: Params, fam: Family | None = None) -> dict:
    """Accuracy against the width and the samples at d_min and d_max, and the neurons needed for
    ``target_acc``: ``c3_m_needed_{pretrained,oracle,random}_{dmin,dmax}`` (text, censoring in words) and
    ``c3_m_needed_{word}_change``; the exponents ``c3_exp_m_{pretrained,oracle}`` (``_ci``: 95%; ``_text``); for
    random features, what the sweeps measure of the exponents the sketch predicts to be at least 1,
    ``c4_exp_{m,n3}_random_text`` (:func:`bound_exponent_text`)."""
    fam = comparison_family(res, p) if fam is None else fam
    am, n3, out, lo, hi = res["acc_m"], res["acc_n3"], {}, p.d_small, p.d_large
    for w, end in (("small", "dmin"), ("large", "dmax")):   # keys c3_accm_{pretrained,random,oracle}_{dmin,dmax}
        for k in ("multi", "random", "oracle"):
            out[f"c3_accm_{WORDS[k]}_{end}"], out[f"c3_accm_{WORDS[k]}_{end}_ci"] = _iv(am[w][k][:, 0])
    mn, mc, mf = res["m_needed"], res["m_capped"], res["m_floored"]
    for k in ("multi", "oracle", "random", "single"):   # keys c3_m_needed_{word}_{dmin,dmax}, _change
        for w, end in (("small", "dmin"), ("large", "dmax")):
            out[f"c3_m_needed_{WORDS[k]}_{end}"] = need_text(mn[w][k], mc[w][k], mf[w][k], p.ms[-1], p.ms[0], 1)
        if k in ("multi", "oracle"):
            note = _censor_note(mc["small"][k], mc["large"][k], mf["small"][k], mf["large"][k], lo, hi, p.n_seeds)
            out[f"c3_m_needed_{WORDS[k]}_change"] = _change(
                fam, f"{LABELS[k]} features: neurons needed from d = {lo} to {hi}",
                mn["large"][k] - mn["small"][k], digits=1, censored=note)
    e = criteria(res)["exponents"]
    for k in ("multi", "oracle"):
        for key in ("m", "n3"):
            x = e[k][key]
            out[f"c3_exp_{key}_{WORDS[k]}"], out[f"c3_exp_{key}_{WORDS[k]}_ci"] = _iv(x)
            out[f"c3_exp_{key}_{WORDS[k]}_text"] = _exp_text(e[k], key)
            out[f"c3_exp_{key}_{WORDS[k]}_equiv"] = ("within" if _equivalent_zero(e[k], key) else "not within")
            out[f"c3_ratio_{key}_{WORDS[k]}"] = float(np.mean(np.exp(x * math.log(hi / lo))))
    mn, mc, mf = res["m_needed"], res["m_capped"], res["m_floored"]
    nn, nc, nf = res["n3_needed"]["random"], res["n3_capped"]["random"], res["n3_floored"]["random"]
    out["c4_exp_m_random_text"] = bound_exponent_text(mn["small"]["random"], mn["large"]["random"],
                                                      mc["small"]["random"], mf["small"]["random"],
                                                      mc["large"]["random"], mf["large"]["random"], lo, hi)
    out["c4_exp_n3_random_text"] = bound_exponent_text(nn[:, 0], nn[:, -1], nc[:, 0], nf[:, 0], nc[:, -1], nf[:, -1],
                                                       lo, hi)
    out["c3_random_widening_dmax"] = _change(fam, f"random features from the fewest to all neurons at d = {hi}",
                                             am["large"]["random"][:, -1] - am["large"]["random"][:, 0])
    out["c3_acc_random_dmax_n3max"], out["c3_acc_random_dmax_n3max_ci"] = _iv(n3["random"][:, -1, -1])
    out["c3_acc_random_dmin_n3max"], out["c3_acc_random_dmin_n3max_ci"] = _iv(n3["random"][:, 0, -1])
    out["c3_acc_pretrained_dmax_n3min"], out["c3_acc_pretrained_dmax_n3min_ci"] = _iv(n3["multi"][:, -1, 0])
    out["c3_random_most_vs_pre_fewest"] = _compare(
        fam, f"random features with n3 = {p.n3s[-1]} against pretrained with n3 = {p.n3s[0]} at d = {hi}",
        n3["random"][:, -1, -1] - n3["multi"][:, -1, 0], f"pretrained features given n3 = {p.n3s[0]}")
    out["c4_random_most_vs_pre"] = _compare(
        fam, f"random features with n3 = {p.n3s[-1]} against pretrained with n3 = {p.n3} at d = {hi}",
        n3["random"][:, -1, -1] - res["acc_d"]["multi"][:, -1], f"pretrained features given n3 = {p.n3}")
    return out


def bound_exponent_text(need_lo, need_hi, cap_lo, floor_lo, cap_hi, floor_hi, d_lo: int, d_hi: int) -> str:
    """The exponent b of a need ~ d^b between ``d_lo`` and ``d_hi`` (:func:`exponent`), in words, where the need can
    be censored: measured ("1.12 ± 0.20") when no seed is; a lower bound ("at least 0.36 (a lower bound: ...)")
    when the only censoring is at the cap at ``d_hi`` or at the floor at ``d_lo`` (both make each seed's exponent a
    lower bound, so their mean bounds the mean); unmeasured when a seed is at the cap at ``d_lo`` or at the floor at
    ``d_hi`` (its exponent is not bounded below)."""
    n = len(need_lo)
    cap_lo, floor_lo, cap_hi, floor_hi = (np.asarray(x, bool) for x in (cap_lo, floor_lo, cap_hi, floor_hi))
    if cap_lo.any() or floor_hi.any():
        where = (f"{int(cap_lo.sum())} of {n} seeds never reach the target at d = {d_lo}" if cap_lo.any() else
                 f"{int(floor_hi.sum())} of {n} seeds reach it at the first point of the sweep at d = {d_hi}")
        return f"unmeasured here ({where}, so the sweep bounds no exponent)"
    b = exponent(need_lo, need_hi, d_lo, d_hi)
    if cap_hi.any() or floor_lo.any():
        k = int((cap_hi | floor_lo).sum())
        return (f"at least {float(np.mean(b)):.2f} (a lower bound: {k} of {n} seeds censored at an end of the sweep, "
                f"where the true exponent can only be larger)")
    return stats.fmt(stats.mean_ci(b), 2)


def summary_needed(res: dict, p: Params, fam: Family | None = None) -> dict:
    """Samples needed to reach ``target_acc``: ``c3_n3_needed_{word}_{dmin,dmax}`` (mean over seeds of the
    per-seed interpolated n3, with ``_ci``; a capped value counts as the cap), ``..._text`` (the same in words,
    "≥ 800 (every seed at the cap)" where censored), ``c3_n3_needed_{word}_note`` (how many seed-d curves are
    capped or floored), and the change of the need from d_min to d_max (``c3_n3_needed_{word}_change``,
    Holm-decided; a bound without an interval where censored)."""
    fam = comparison_family(res, p) if fam is None else fam
    out, lo, hi = {}, p.d_small, p.d_large
    # keys c3_n3_needed_{pretrained,single,random,oracle}_{dmin,dmax} (_ci, _text), c3_n3_needed_{word}_note, _change
    for k in FEATURE_SETS:
        need, cap, floor = res["n3_needed"][k], res["n3_capped"][k], res["n3_floored"][k]
        for end, i in (("dmin", 0), ("dmax", -1)):
            out[f"c3_n3_needed_{WORDS[k]}_{end}"], out[f"c3_n3_needed_{WORDS[k]}_{end}_ci"] = _iv(need[:, i])
            # c3_n3_needed_{word}_{end}_capped: seeds at the sweep's cap, so that the book writes a mean of
            # capped seeds as a bound (mtrl_lib.book.glued_notes.capped_text: "≥ 400 (every seed at the cap)")
            out[f"c3_n3_needed_{WORDS[k]}_{end}_capped"] = int(cap[:, i].sum())
            out[f"c3_n3_needed_{WORDS[k]}_{end}_text"] = need_text(need[:, i], cap[:, i], floor[:, i],
                                                                  p.n3s[-1], p.n3s[0])
        notes = []
        for end, i in (("dmin", 0), ("dmax", -1)):
            d = p.d_small if end == "dmin" else p.d_large
            if cap[:, i].any():
                notes.append(f"at d = {d}, {int(cap[:, i].sum())} of {p.n_seeds} seeds never reach the target "
                             f"within the sweep")
            if floor[:, i].any():
                notes.append(f"at d = {d}, {int(floor[:, i].sum())} of {p.n_seeds} seeds reach the target at the "
                             f"first n3")
        out[f"c3_n3_needed_{WORDS[k]}_note"] = "; " + ("; ".join(notes) if notes else
                                                        "every seed crosses the target inside the sweep")
        note = _censor_note(cap[:, 0], cap[:, -1], floor[:, 0], floor[:, -1], lo, hi, p.n_seeds)
        out[f"c3_n3_needed_{WORDS[k]}_change"] = _change(
            fam, f"{LABELS[k]} features: samples needed from d = {lo} to {hi}", need[:, -1] - need[:, 0], digits=0,
            censored=note)
    return out


def summary_verdict(res: dict, p: Params | None = None, fam: Family | None = None) -> dict:
    """The verdicts and the paired intervals behind them (``c3_crit_*``, ``c4_crit_*`` with ``_ci``), the
    guards (``c3_guard_oracle``, ``c4_control``), and the Holm family's size and effect (``c3_n_comparisons``,
    ``c3_holm_changed``)."""
    out = {"c3_verdict": res["verdict"]["C3"], "c4_verdict": res["verdict"]["C4"],
           # the verdict's word alone ("partly reproduced"), for the book's table of claims and the line
           # under the claim
           "c3_verdict_word": res["verdict"]["C3"].split(" (")[0]}
    c = criteria(res)
    names = {"pre_minus_random": "c3_crit_pre_minus_random", "oracle_minus_pre": "c3_crit_oracle_minus_pre",
             "pre_drift": "c3_crit_pre_drift", "random_fall": "c4_crit_random_fall",
             "random_most_minus_pre": "c4_crit_random_most_minus_pre", "random_above_chance": "c4_crit_random_learns"}
    for key, name in names.items():     # keys c3_crit_* and c4_crit_*, each with _ci
        out[name], out[f"{name}_ci"] = float(c[key].mean), float(c[key].half)
    ora = c["exponents"]["oracle"]
    out["c3_guard_oracle"] = ("passes" if _equivalent_zero(ora, "m") and _equivalent_zero(ora, "n3") else "fails")
    out["c4_control"] = "passes" if c["random_above_chance"].lo > MATERIAL else "fails"
    if p is not None:
        fam = comparison_family(res, p) if fam is None else fam
        changed = holm_changes(fam)
        out["c3_n_comparisons"] = len(fam)
        out["c3_holm_changed"] = ("changes none of the words" if not changed else
                                  "changes the words of " + "; ".join(changed) + " (each significant alone at 5%, "
                                  "not after the correction)")
    return out


def explore_numbers() -> dict:
    """The explorer's initial values and size, as the prose states them: ``c3_explore_{d,T,n3,m,rounds}``, and
    the values the static book holds: ``c3_explore_static_{d,T}``."""
    out = {f"c3_explore_{k}": v for k, v in EXPLORE.items() if k != "seed"}
    out["c3_explore_static_d"] = ", ".join(map(str, EXPLORE_STATIC["d"][:-1])) + f" and {EXPLORE_STATIC['d'][-1]}"
    out["c3_explore_static_T"] = ", ".join(map(str, EXPLORE_STATIC["T"][:-1])) + f" and {EXPLORE_STATIC['T'][-1]}"
    return out


def summary(res: dict, p: Params) -> dict:
    """Every number and computed phrase the chapter's prose quotes (glue name -> value)."""
    fam = comparison_family(res, p)
    parts = [summary_setting(p), summary_vs_d(res, p, fam), summary_quality(res, p, fam),
             summary_m_n3(res, p, fam), summary_needed(res, p, fam), summary_verdict(res, p, fam), explore_numbers()]
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
