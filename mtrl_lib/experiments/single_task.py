"""Chapter 4 (claim C5): one task, trained alone, reveals one direction of span(M).

Single-task runs: ``draws`` independent draws; draw j trains (:func:`mtrl_lib.train.train`, ``seed = j``,
``T = 1``) on the first of the ``T`` tasks that seed j draws, with ``T n`` samples per phase: the total
sample budget of a multi-task round. Multi-task runs: one per seed in ``seeds``, ``T`` tasks with ``n``
samples each per phase, the same number of rounds, step sizes and width. Because train() draws M, the
initial W and the tasks from separate streams, the multi-task run with seed s has the same M and the same
initial W as single-task draw s, and its first task *is* that draw's task v_1.

Per run we record the principal cosines between span(M) and the top-r subspace of W, the number of
directions recovered (cosines >= 0.9), and how W's energy splits between the task's own direction M v_1
and the rest of span(M). Downstream, linear heads on the frozen features are fitted on n3 samples of three
sets of new linear tasks built from the run's reference direction v_1 (for a multi-task run, its first
task): ``aligned`` (v = v_1), ``orthogonal`` (v uniform on the unit sphere of v_1's orthogonal complement
in R^r) and ``new`` (v uniform on the sphere: a fresh task of the family). Random features (the initial
W of the multi-task runs) are scored on the same tasks and samples as a reference.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .._validate import check_choice, check_float, check_int, check_int_list
from ..metrics import RECOVERED_COSINE, energy, principal_cosines
from ..probe import PROBES, one_thread, probe_accuracy
from ..progress import progress_bar
from ..tasks import Tasks, make_generator
from ..train import TrainConfig, TrainResult, resolve_device, setup, stream_seed, train

TASK_SETS = ("aligned", "orthogonal", "new")


@dataclass(frozen=True)
class Params:
    d: int = 100
    r: int = 5
    m: int = 100
    T: int = 20
    n: int = 50
    rounds: int = 100
    eta_a: float = 10.0
    eta_W: float = 0.05
    draws: int = 20
    n3: int = 100
    n3s: tuple[int, ...] = (10, 25, 50, 100, 200)
    down_tasks: int = 5
    n_test: int = 500
    probe: str = "ridge_loo"
    lam: float = 1.0
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"

    def __post_init__(self):
        check_int("d", self.d, 2, 100_000)
        check_int("r", self.r, 2, self.d)
        check_int("m", self.m, 1, 100_000)
        check_int("T", self.T, 2, 100_000)
        check_int("n", self.n, 1, 1_000_000)
        check_int("rounds", self.rounds, 0, 100_000)
        check_float("eta_a", self.eta_a, 0.0, 1e4)
        check_float("eta_W", self.eta_W, 0.0, 1e4)
        check_int("draws", self.draws, 1, 100_000)
        check_int("n3", self.n3, 2, 1_000_000)
        object.__setattr__(self, "n3s", tuple(sorted(set(check_int_list("n3s", self.n3s, 2, 1_000_000)))))
        check_int("down_tasks", self.down_tasks, 1, 10_000)
        check_int("n_test", self.n_test, 1, 1_000_000)
        check_choice("probe", self.probe, PROBES)
        check_float("lam", self.lam, 0.0, 1e6, lo_open=True)
        object.__setattr__(self, "seeds", check_int_list("seeds", self.seeds, 0))
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        resolve_device(self.device)

    @property
    def sweep_n3(self) -> tuple[int, ...]:
        """The n3 values probed: ``n3s`` plus the headline ``n3``."""
        return tuple(sorted(set(self.n3s) | {self.n3}))


def config(p: Params, seed: int, single: bool) -> TrainConfig:
    """Single task with T n samples per phase, or T tasks with n each: the same samples per round."""
    T, n = (1, p.T * p.n) if single else (p.T, p.n)
    return TrainConfig(d=p.d, r=p.r, m=p.m, T=T, n1=n, n2=n, rounds=p.rounds, eta_a=p.eta_a, eta_W=p.eta_W,
                       seed=seed, device=p.device, record_every=max(1, p.rounds))


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
    along = float((W @ u).pow(2).sum() / W.pow(2).sum())
    return along, energy(W, M) - along


def _accuracies(p: Params, W, b, M, sets: dict[str, Tasks], seed: int) -> dict[str, np.ndarray]:
    """Accuracy vs n3 on every task set, one probe call per n3 for all sets together. The samples depend
    on (seed, n3) only, so trained and random features of a run are scored on the same samples."""
    dev = resolve_device(p.device)
    names = list(sets)
    B = sets[names[0]].T
    tasks = Tasks("linear", torch.cat([sets[k].params for k in names]))
    acc = []
    for n3 in p.sweep_n3:
        g = make_generator(stream_seed(seed, f"c5-probe-{n3}"), dev)
        acc.append(probe_accuracy(W, b, M, tasks, n3, g, n_test=p.n_test, method=p.probe, lam=p.lam))
    acc = torch.stack(acc, dim=1).cpu().numpy()                 # (len(names) * B, len(n3s))
    return {k: acc[i * B:(i + 1) * B].mean(axis=0) for i, k in enumerate(names)}


def analyse(p: Params, res: TrainResult, seed: int, with_random: bool) -> dict:
    """Cosines, directions, energy split and downstream accuracy of a run (and, ``with_random``, of its
    initial W on the same tasks and samples)."""
    dev = resolve_device(p.device)
    v1 = res.tasks.params[0]
    out = {}
    with one_thread():
        c = principal_cosines(res.W, res.M)
        c0 = principal_cosines(res.W0, res.M)
    out["cos"], out["cos0"] = c.cpu().numpy(), c0.cpu().numpy()
    out["dirs"] = int((c >= RECOVERED_COSINE).sum())
    out["e_along"], out["e_rest"] = energy_split(res.W, res.M, v1)
    out["e0_along"], out["e0_rest"] = energy_split(res.W0, res.M, v1)
    sets = downstream_tasks(v1, p.down_tasks, make_generator(stream_seed(seed, "c5-down"), dev))
    for name, acc in _accuracies(p, res.W, res.b, res.M, sets, seed).items():
        out[f"acc_{name}"] = acc
    if with_random:
        for name, acc in _accuracies(p, res.W0, res.b, res.M, sets, seed).items():
            out[f"acc_random_{name}"] = acc
    return out


def run(p: Params, progress=True) -> dict:
    """All of chapter 4's numbers: ``single`` (one entry per draw) and ``multi`` (one per seed), each a dict
    of stacked arrays: ``cos (runs, r)``, ``dirs (runs,)``, ``e_along``, ``e_rest`` (and ``cos0``,
    ``e0_*`` for the initial W) and ``acc_{aligned,orthogonal,new} (runs, len(n3s))``; ``multi`` also has
    ``acc_random_*``: random features (the multi-task runs' initial W, which is also the initial W of the
    single-task draws with the same seed) on the same tasks and samples."""
    t0 = time.perf_counter()
    single = [analyse(p, train(config(p, j, single=True), tasks=setup(config(p, j, single=False))[1][0:1]), j,
                      with_random=False)
              for j in progress_bar(range(p.draws), progress, desc="single-task draws")]
    multi = [analyse(p, train(config(p, s, single=False)), s, with_random=True)
             for s in progress_bar(p.seeds, progress, desc="multi-task seeds")]
    stack = lambda rows: {k: np.stack([np.asarray(r[k], dtype=float) for r in rows]) for k in rows[0]}
    res = {"single": stack(single), "multi": stack(multi), "n3s": np.asarray(p.sweep_n3),
           "i_n3": p.sweep_n3.index(p.n3)}
    res["verdict"] = verdict(res, p)
    res["seconds"] = time.perf_counter() - t0
    return res


def verdict(res: dict, p: Params) -> str:
    """Computed verdict on C5 (criteria fixed in advance): C5 holds when (i) no single-task draw recovers all
    r directions, (ii) multi-task training at the same total sample budget recovers all r on average (mean
    at least r - 0.5), and (iii) at the headline n3, the single-task features' mean accuracy on tasks
    orthogonal to v_1 is at least 0.15 below the multi-task features' on the same kind of tasks."""
    i = res["i_n3"]
    s, mt = res["single"], res["multi"]
    failed = [name for name, ok in [
        ("a single-task draw recovered all r directions", int(s["dirs"].max()) < p.r),
        ("multi-task training did not recover all r directions", float(mt["dirs"].mean()) >= p.r - 0.5),
        ("single-task features are not clearly worse on orthogonal tasks",
         s["acc_orthogonal"][:, i].mean() <= mt["acc_orthogonal"][:, i].mean() - 0.15),
    ] if not ok]
    return "reproduced" if not failed else "not reproduced (" + "; ".join(failed) + ")"


def explore(T: int, d: int, m: int = 50, r: int = 5, n: int = 50, rounds: int = 80, seed: int = 0) -> dict:
    """One small live run for the chapter's explorer: T tasks (the first T that ``seed`` draws), T n samples
    per phase in total whatever T is, so T = 1 is the single-task run at the same budget."""
    total = 20 * n
    cfg = TrainConfig(d=d, r=r, m=m, T=T, n1=max(1, total // T), n2=max(1, total // T), rounds=rounds,
                      seed=seed, record_every=max(1, rounds))
    tasks = setup(TrainConfig(d=d, r=r, m=m, T=max(T, 20), seed=seed))[1][0:T]
    res = train(cfg, tasks=tasks)
    with one_thread():
        c = principal_cosines(res.W, res.M).cpu().numpy()
        c0 = principal_cosines(res.W0, res.M).cpu().numpy()
    return {"cos": c, "cos0": c0, "dirs": int((c >= RECOVERED_COSINE).sum()), "n": total // T}
