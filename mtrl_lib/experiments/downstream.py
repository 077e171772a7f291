"""Chapter 3 (claims C3 and C4): downstream accuracy of a linear head on frozen features, against d, m, n3.

For every seed and every ambient dimension d in ``ds`` one ground truth ``M`` (d x r) is drawn and four
first layers of width ``m`` are compared on the same new tasks and the same samples:

* ``multi``:  multi-task pretrained (``T`` tasks, alternating GD, :func:`mtrl_lib.train.train`);
* ``single``: single-task pretrained (``T = 1``) with the same total sample budget (``T n`` samples per phase);
* ``random``: the initial W of those runs (rows uniform on the sphere of R^d), i.e. no pretraining;
* ``oracle``: rows uniform on the sphere of span(M) (:func:`mtrl_lib.model.oracle_weights`).

Pretraining budget rule (ours, stated in the chapter): ``T`` and the number of rounds are fixed, the
samples per task and phase grow linearly with d, ``n1 = n2 = max(n_min, ceil(n_per_d * d))``. With
that rule the pretraining quality stays roughly level across d (subspace error and energy are reported
per d; with n fixed instead, the error at d = 400 was twice that at d = 100).

Downstream: ``down_tasks`` new tasks of ``down_family`` per (seed, d); a head is fitted on ``n3`` samples
by :func:`mtrl_lib.probe.probe_accuracy` (standardised features; by default ridge with its
regularisation picked per task by leave-one-out error on the n3 training samples, ``probe="ridge_loo"``;
``ridge``/``logistic`` use the fixed ``lam``) and scored on ``n_test`` fresh samples. All feature sets
see the same samples (one generator seed per probe call). Accuracy against the width m uses the first
m neurons of a fixed random order of the width-``m`` network's neurons (mean-field: the neurons of a
trained network are exchangeable, so a subset is a network of that width; for random and oracle
features this is exact).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .._validate import check_choice, check_float, check_int, check_int_list
from ..metrics import RECOVERED_COSINE, energy, principal_cosines
from ..model import oracle_weights
from ..probe import PROBES, one_thread, probe_accuracy
from ..progress import progress_bar
from ..tasks import FAMILIES, draw_tasks, make_generator
from ..train import TrainConfig, resolve_device, stream_seed, train

FEATURE_SETS = ("multi", "single", "random", "oracle")


@dataclass(frozen=True)
class Params:
    ds: tuple[int, ...] = (25, 50, 100, 200, 400)
    r: int = 5
    m: int = 100
    T: int = 20
    n_per_d: float = 0.5
    n_min: int = 50
    rounds: int = 60
    eta_a: float = 50.0
    eta_W: float = 0.05
    n3: int = 100
    ms: tuple[int, ...] = (5, 10, 25, 50, 100)
    n3s: tuple[int, ...] = (10, 25, 50, 100, 200, 400)
    down_tasks: int = 5
    down_family: str = "linear"
    n_test: int = 500
    probe: str = "ridge_loo"
    lam: float = 1.0
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)
        set_("ds", tuple(sorted(set(check_int_list("ds", self.ds, 2, 20_000)))))
        check_int("r", self.r, 1, min(self.ds))
        check_int("m", self.m, 1, 100_000)
        check_int("T", self.T, 1, 100_000)
        check_float("n_per_d", self.n_per_d, 0.0, 1000.0)
        check_int("n_min", self.n_min, 1, 1_000_000)
        check_int("rounds", self.rounds, 0, 100_000)
        check_float("eta_a", self.eta_a, 0.0, 1e4)
        check_float("eta_W", self.eta_W, 0.0, 1e4)
        check_int("n3", self.n3, 2, 1_000_000)
        set_("ms", tuple(sorted(set(check_int_list("ms", self.ms, 1, self.m)))))
        set_("n3s", tuple(sorted(set(check_int_list("n3s", self.n3s, 2, 1_000_000)))))
        check_int("down_tasks", self.down_tasks, 1, 10_000)
        check_choice("down_family", self.down_family, FAMILIES)
        if self.down_family == "quadratic" and self.r < 2:
            raise ValueError(f"r must be >= 2 for the quadratic family, got {self.r}")
        check_int("n_test", self.n_test, 1, 1_000_000)
        check_choice("probe", self.probe, PROBES)
        check_float("lam", self.lam, 0.0, 1e6, lo_open=True)
        set_("seeds", check_int_list("seeds", self.seeds, 0))
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        resolve_device(self.device)

    @property
    def d_small(self) -> int:
        return self.ds[0]

    @property
    def d_large(self) -> int:
        return self.ds[-1]


def samples_per_task(p: Params, d: int) -> int:
    """The pretraining budget rule: n1 = n2 = max(n_min, ceil(n_per_d * d)) samples per task and phase."""
    return max(p.n_min, math.ceil(p.n_per_d * d))


def pretrain_config(p: Params, d: int, seed: int, single: bool = False) -> TrainConfig:
    """The multi-task run at dimension d, or (``single``) the single-task run with the same total budget."""
    n = samples_per_task(p, d)
    T, n = (1, n * p.T) if single else (p.T, n)
    return TrainConfig(d=d, r=p.r, m=p.m, T=T, n1=n, n2=n, rounds=p.rounds, eta_a=p.eta_a, eta_W=p.eta_W,
                       seed=seed, device=p.device, record_every=max(1, p.rounds))


def feature_sets(p: Params, d: int, seed: int) -> tuple[dict, torch.Tensor, torch.Tensor, dict]:
    """Train (multi and single) at dimension d and return ``({name: W}, b, M, pretraining quality)``."""
    multi = train(pretrain_config(p, d, seed))
    single = train(pretrain_config(p, d, seed, single=True), M=multi.M, W0=multi.W0)
    dev = resolve_device(p.device)
    Wo = oracle_weights(p.m, multi.M, make_generator(stream_seed(seed, f"c3-oracle-{d}"), dev))
    Ws = {"multi": multi.W, "single": single.W, "random": multi.W0, "oracle": Wo}
    quality = {}
    for k, W in Ws.items():
        with one_thread():                             # one SVD per feature set gives error and directions
            c = principal_cosines(W, multi.M)
        quality[f"{k}_err"] = float(torch.sqrt(torch.clamp(1 - c.min() ** 2, min=0.0)))
        quality[f"{k}_dirs"] = int((c >= RECOVERED_COSINE).sum())
        quality[f"{k}_energy"] = energy(W, multi.M)
    return Ws, multi.b, multi.M, quality


def _probe(p: Params, W, b, M, tasks, n3: int, seed: int, d: int, lams: list | None = None) -> float:
    """Mean test accuracy over the downstream tasks; the sample stream depends on (seed, d, n3) only, so
    every feature set and every width is scored on the same samples. The regularisation used per task is
    appended to ``lams`` when given."""
    g = make_generator(stream_seed(seed, f"c3-probe-{d}-{n3}"), resolve_device(p.device))
    acc, lam = probe_accuracy(W, b, M, tasks, n3, g, n_test=p.n_test, method=p.probe, lam=p.lam,
                              return_lam=True)
    if lams is not None:
        lams.extend(lam.tolist())
    return float(acc.mean())


def run_seed(p: Params, seed: int, progress=False) -> dict:
    """Everything for one seed: accuracy vs d, and vs m and n3 at the smallest and largest d."""
    dev = resolve_device(p.device)
    out = {"acc_d": {k: [] for k in FEATURE_SETS}, "quality": [], "train_s": [],
           "acc_m": {}, "acc_n3": {}, "lams": {k: [] for k in FEATURE_SETS}}
    for d in progress_bar(p.ds, progress, desc=f"seed {seed}: d"):
        t0 = time.perf_counter()
        Ws, b, M, quality = feature_sets(p, d, seed)
        out["train_s"].append(time.perf_counter() - t0)
        out["quality"].append(quality)
        tasks = draw_tasks(p.down_family, p.down_tasks, p.r,
                           make_generator(stream_seed(seed, f"c3-down-{d}"), dev))
        for k in FEATURE_SETS:
            out["acc_d"][k].append(_probe(p, Ws[k], b, M, tasks, p.n3, seed, d, out["lams"][k]))
        if d in (p.d_small, p.d_large):
            # The full width at the headline n3 is the accuracy-vs-d probe again (a linear head does not
            # depend on the order of its features): reuse it.
            main = {k: out["acc_d"][k][-1] for k in FEATURE_SETS}
            order = torch.randperm(p.m, generator=make_generator(stream_seed(seed, f"c3-order-{d}"), "cpu"))
            order = order.to(dev)
            out["acc_m"][d] = {k: [main[k] if mm == p.m else
                                   _probe(p, Ws[k][order[:mm]], b[order[:mm]], M, tasks, p.n3, seed, d)
                                   for mm in p.ms] for k in FEATURE_SETS}
            out["acc_n3"][d] = {k: [main[k] if n3 == p.n3 else _probe(p, Ws[k], b, M, tasks, n3, seed, d)
                                    for n3 in p.n3s] for k in FEATURE_SETS}
    return out


def run(p: Params, progress=True) -> dict:
    """All of chapter 3's numbers. Arrays are ``(seeds, len(sweep))``.

    Returns ``acc_d[k]`` (accuracy vs d), ``acc_m[which][k]`` and ``acc_n3[which][k]`` with ``which`` in
    ``small``/``large`` (d = ds[0] / ds[-1]), ``quality[name]`` (per feature set: subspace error, energy,
    directions recovered, ``(seeds, len(ds))``), ``n_rule`` (samples per task and phase for each d),
    ``lam_median`` (median probe regularisation per feature set in the accuracy-vs-d sweep), the training
    time per d and ``verdict`` (``{"C3": str, "C4": str}``, see :func:`verdicts`)."""
    t0 = time.perf_counter()
    runs = [run_seed(p, s, progress) for s in progress_bar(p.seeds, progress, desc="seeds")]
    arr = lambda rows: np.asarray(rows, dtype=float)
    res = {
        "ds": np.asarray(p.ds), "ms": np.asarray(p.ms), "n3s": np.asarray(p.n3s),
        "n_rule": np.asarray([samples_per_task(p, d) for d in p.ds]),
        "acc_d": {k: arr([r["acc_d"][k] for r in runs]) for k in FEATURE_SETS},
        "quality": {q: arr([[row[q] for row in r["quality"]] for r in runs]) for q in runs[0]["quality"][0]},
        "train_s": arr([r["train_s"] for r in runs]),
        "acc_m": {}, "acc_n3": {},
    }
    for which, d in (("small", p.d_small), ("large", p.d_large)):
        res["acc_m"][which] = {k: arr([r["acc_m"][d][k] for r in runs]) for k in FEATURE_SETS}
        res["acc_n3"][which] = {k: arr([r["acc_n3"][d][k] for r in runs]) for k in FEATURE_SETS}
    res["lam_median"] = {k: float(np.median(sum((r["lams"][k] for r in runs), []))) for k in FEATURE_SETS}
    res["verdict"] = verdicts(res)
    res["seconds"] = time.perf_counter() - t0
    return res


def n3_to_reach(res: dict, which: str, k: str, target: float) -> int | None:
    """Smallest n3 in the sweep at which the mean accuracy (over seeds) of feature set ``k`` at d = ds[0]
    (``which="small"``) or ds[-1] (``"large"``) reaches ``target``; None if no n3 in the sweep does."""
    mean = res["acc_n3"][which][k].mean(axis=0)
    hit = np.nonzero(mean >= target)[0]
    return int(res["n3s"][hit[0]]) if hit.size else None


def verdicts(res: dict) -> dict[str, str]:
    """Computed verdicts on C3 and C4 (criteria fixed in advance; accuracies are means over seeds):

    C3 holds when (i) multi-task pretrained accuracy at the largest d is within 0.05 of its accuracy at the
    smallest d, (ii) it is within 0.05 of oracle features at the largest d, and (iii) its accuracy-vs-m and
    accuracy-vs-n3 curves at the smallest and largest d differ by at most 0.05 on average over the sweep.

    C4 holds when (i) random-feature accuracy at the largest d is at least 0.1 below that at the smallest d,
    (ii) it does not rise with d (each step may add at most 0.02, the seed noise), and (iii) at the largest
    d, random features with the largest n3 of the sweep stay below pretrained features with the headline n3.
    """
    acc = {k: v.mean(axis=0) for k, v in res["acc_d"].items()}
    gap = lambda sweep: float(np.abs(res[sweep]["small"]["multi"].mean(0) - res[sweep]["large"]["multi"].mean(0)).mean())
    c3 = [name for name, ok in [
        ("pretrained accuracy drops by more than 0.05 from the smallest to the largest d", acc["multi"][-1] >= acc["multi"][0] - 0.05),
        ("pretrained more than 0.05 below oracle at the largest d", acc["multi"][-1] >= acc["oracle"][-1] - 0.05),
        ("accuracy-vs-m curves differ by more than 0.05 between the smallest and largest d", gap("acc_m") <= 0.05),
        ("accuracy-vs-n3 curves differ by more than 0.05 between the smallest and largest d", gap("acc_n3") <= 0.05),
    ] if not ok]
    big_n3_random = res["acc_n3"]["large"]["random"].mean(0)[-1]
    c4 = [name for name, ok in [
        ("random-feature accuracy does not fall by 0.1 from the smallest to the largest d", acc["random"][-1] <= acc["random"][0] - 0.1),
        ("random-feature accuracy rises with d", bool(np.all(np.diff(acc["random"]) <= 0.02))),
        ("at the largest d, random features with the most samples match pretrained ones", big_n3_random < acc["multi"][-1]),
    ] if not ok]
    fmt = lambda failed: "reproduced" if not failed else "not reproduced (" + "; ".join(failed) + ")"
    return {"C3": fmt(c3), "C4": fmt(c4)}


def explore(d: int, T: int, n3: int, m: int = 50, r: int = 5, rounds: int = 60, seed: int = 0) -> dict:
    """One small live run for the chapter's explorer: pretrain on T tasks (budget rule of the quick profile),
    then downstream accuracy at n3 of the pretrained, random (initial) and oracle features."""
    p = Params(ds=(d,), r=r, m=m, T=T, rounds=rounds, n3=n3, ms=(m,), n3s=(n3,), seeds=(seed,))
    res = train(pretrain_config(p, d, seed))
    Wo = oracle_weights(m, res.M, make_generator(stream_seed(seed, f"c3-oracle-{d}"), "cpu"))
    tasks = draw_tasks("linear", p.down_tasks, r, make_generator(stream_seed(seed, f"c3-down-{d}"), "cpu"))
    acc = {k: _probe(p, W, res.b, res.M, tasks, n3, seed, d) for k, W in
           (("pretrained", res.W), ("random", res.W0), ("oracle", Wo))}
    with one_thread():
        c = principal_cosines(res.W, res.M)
    return {"acc": acc, "error": float(torch.sqrt(torch.clamp(1 - c.min() ** 2, min=0.0))),
            "n": samples_per_task(p, d)}
