"""Chapter 5 (claim C6): is head adaptation what makes multi-task training learn span(M)?

For every family and seed, three runs of :func:`mtrl_lib.train.train` from the same M, tasks and initial W:

* ``adapted``: the paper's algorithm (every head takes a step before the shared layer does);
* ``frozen``:  heads drawn at random once and never updated, scaled so that their root-mean-square entry
  equals ``head_norm_scale`` times the final RMS head entry of the adapted run of the same seed (with the
  default 1 the head norms are matched, so both runs take feature steps of comparable size);
* ``zero``:    heads fixed at zero (the W-gradient is then exactly zero).

Beside the trajectories, a *gradient anatomy* (:func:`anatomy`) at the start (initial W, heads after one
head step for ``adapted``) and at the end (final W and heads) of each run: the size of the population
W-gradient, the sampling noise of one training batch around it, and how coherently the tasks' contributions
add up (the C1 formula: adapted heads are built from the task's own labels, frozen heads are not).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._validate import check_float, check_int, check_int_list, check_str_list
from ..losses import loss_grad
from ..model import output_scale
from ..progress import progress_bar
from ..tasks import FAMILIES, make_generator, sample
from ..train import TrainConfig, feature_grad, head_step, init_heads, resolve_device, stream_seed, train
from .step_sizes import STEP_SIZES

MODES = ("adapted", "frozen", "zero")


@dataclass(frozen=True)
class Params:
    d: int = 100
    r: int = 5
    m: int = 200
    T: int = 20
    n1: int = 50
    n2: int = 50
    rounds: int = 100
    rounds_quadratic: int = 150
    families: tuple[str, ...] = ("linear", "quadratic")
    eta_a_linear: float = STEP_SIZES["linear"][0]
    eta_W_linear: float = STEP_SIZES["linear"][1]
    eta_a_quadratic: float = STEP_SIZES["quadratic"][0]
    eta_W_quadratic: float = STEP_SIZES["quadratic"][1]
    head_norm_scale: float = 1.0
    bias_scale: float = 0.0
    record_every: int = 5
    anatomy_n: int = 1000
    anatomy_draws: int = 8
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"

    def __post_init__(self):
        check_int("d", self.d, 2, 100_000)
        check_int("r", self.r, 1, self.d)
        check_int("m", self.m, 1, 100_000)
        check_int("T", self.T, 1, 100_000)
        check_int("n1", self.n1, 1, 1_000_000)
        check_int("n2", self.n2, 1, 1_000_000)
        check_int("rounds", self.rounds, 1, 1_000_000)
        check_int("rounds_quadratic", self.rounds_quadratic, 1, 1_000_000)
        object.__setattr__(self, "families", tuple(dict.fromkeys(check_str_list("families", self.families, FAMILIES))))
        if self.r < 2 and "quadratic" in self.families:
            raise ValueError(f"r must be >= 2 when the quadratic family is used, got {self.r}")
        for f in FAMILIES:
            check_float(f"eta_a_{f}", getattr(self, f"eta_a_{f}"), 0.0, 1e6, lo_open=True)
            check_float(f"eta_W_{f}", getattr(self, f"eta_W_{f}"), 0.0, 1e6, lo_open=True)
        check_float("head_norm_scale", self.head_norm_scale, 0.0, 1000.0, lo_open=True)
        check_float("bias_scale", self.bias_scale, 0.0, 10.0)
        check_int("record_every", self.record_every, 1, 1_000_000)
        check_int("anatomy_n", self.anatomy_n, 1, 1_000_000)
        check_int("anatomy_draws", self.anatomy_draws, 1, 1000)
        object.__setattr__(self, "seeds", check_int_list("seeds", self.seeds, 0, 2**31 - 1))
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        resolve_device(self.device)

    def config(self, family: str, mode: str, seed: int, head_norm: float = 1.0, **over) -> TrainConfig:
        kw = dict(d=self.d, r=self.r, m=self.m, T=self.T, family=family, n1=self.n1, n2=self.n2,
                  rounds=self.rounds_quadratic if family == "quadratic" else self.rounds,
                  eta_a=getattr(self, f"eta_a_{family}"), eta_W=getattr(self, f"eta_W_{family}"),
                  head_mode=mode, head_norm=head_norm, bias_scale=self.bias_scale, seed=seed,
                  device=self.device, record_every=self.record_every)
        kw.update(over)
        return TrainConfig(**kw)


def rms(A: torch.Tensor) -> float:
    """Root-mean-square entry of the heads ``A: (T, m)`` (= ||a_t|| / sqrt(m) averaged in square)."""
    return float(A.double().pow(2).mean().sqrt())


def _tangential(G: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Each row of G minus its component along the row of W (the part that row renormalisation removes)."""
    Wn = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return G - (G * Wn).sum(1, keepdim=True) * Wn


def task_grads(W, b, A, X, Y, loss: str) -> torch.Tensor:
    """Per-task W-gradients in the training convention, ``(T, m, d)``: the t-th is task t's share of
    m * grad_W (1/T) sum_t L_t, i.e. (1/T) * m * grad_W L_t (they sum to :func:`mtrl_lib.train.feature_grad`)."""
    T, n, _ = X.shape
    m = W.shape[0]
    pre = X @ W.T + b
    f = torch.einsum("tnm,tm->tn", torch.relu(pre), A) * output_scale(m)
    g = loss_grad(f, Y, loss) / (n * T)
    dpre = (g.unsqueeze(-1) * A.unsqueeze(1)).masked_fill(pre <= 0, 0.0)
    return torch.bmm(dpre.transpose(1, 2), X)


def anatomy(cfg: TrainConfig, M, tasks, W, b, A, n_pop: int, draws: int, stream: str) -> dict:
    """What the W-step is made of, at weights ``W`` with heads ``A`` (tangential parts only, i.e. what
    survives row renormalisation, in the training convention m * grad; sums and norms in float64):

    * ``signal``: norm of the population gradient;
    * ``noise``: root-mean-square norm of one training batch's gradient (n2 samples per task) minus it;
    * ``snr``: signal / noise;
    * ``coherence``: ||sum_t G_t|| / sqrt(sum_t ||G_t||^2) over the tasks' population gradients G_t: about 1
      when the tasks' pulls add like independent random vectors, up to sqrt(T) when they all agree.

    The population gradients are estimated on ``n_pop`` samples per task, and the squared norms are
    debiased: with sigma^2 the per-sample noise energy, E||batch - estimate||^2 = sigma^2 (1/n2 + 1/n_pop)
    (measured on ``draws`` batches) and both ||sum_t G_t||^2 and sum_t ||G_t||^2 are inflated by
    sigma^2 / n_pop, which is subtracted."""
    g = make_generator(stream_seed(cfg.seed, stream), W.device)
    X, Y = sample(M, tasks, n_pop, g)
    Gt = torch.stack([_tangential(G, W) for G in task_grads(W, b, A, X, Y, cfg.loss)]).double()
    pop = Gt.sum(0)
    dev2 = []
    for _ in range(draws):
        Xb, Yb = sample(M, tasks, cfg.n2, g)
        Gb, _ = feature_grad(W, b, A, Xb, Yb, cfg.loss, cfg.T)
        dev2.append(float((_tangential(Gb, W).double() - pop).pow(2).sum()))
    sigma2 = float(np.mean(dev2)) / (1 / cfg.n2 + 1 / n_pop)
    bias = sigma2 / n_pop
    signal = float(np.sqrt(max(0.0, float(pop.pow(2).sum()) - bias)))
    spread = float(np.sqrt(max(0.0, float(Gt.pow(2).sum()) - bias)))
    noise = float(np.sqrt(sigma2 / cfg.n2))
    nan = float("nan")
    return {"signal": signal, "noise": noise, "snr": signal / noise if noise > 0 else nan,
            "coherence": signal / spread if spread > 0 else nan, "head_rms": rms(A)}


def _first_heads(cfg: TrainConfig, M, tasks, W, b) -> torch.Tensor:
    """Heads as at the first feature step of ``cfg``: one head step from zero on a fresh batch (adapted),
    else the initial heads."""
    A = init_heads(cfg, cfg.T, W.device, W.dtype)
    if cfg.head_mode != "adapted":
        return A
    g = make_generator(stream_seed(cfg.seed, "c6-heads"), W.device)
    X, Y = sample(M, tasks, cfg.n1, g)
    return head_step(W, b, A, X, Y, cfg.loss, cfg.eta_a)


def one_run(p: Params, family: str, mode: str, seed: int, head_norm: float = 1.0) -> dict:
    cfg = p.config(family, mode, seed, head_norm)
    res = train(cfg)
    A0 = _first_heads(cfg, res.M, res.tasks, res.W0, res.b)
    return {
        "round": res.history["round"], "error": res.history["subspace_error"], "energy": res.history["energy"],
        "loss": res.history["loss"], "head_rms": rms(res.A), "W_change": float((res.W - res.W0).norm()),
        "start": anatomy(cfg, res.M, res.tasks, res.W0, res.b, A0, p.anatomy_n, p.anatomy_draws, "c6-start"),
        "end": anatomy(cfg, res.M, res.tasks, res.W, res.b, res.A, p.anatomy_n, p.anatomy_draws, "c6-end"),
    }


def run(p: Params, progress: bool = True) -> dict:
    """All of chapter 5's numbers: ``{family: {mode: {key: array over seeds (x rounds)}}, "verdict": str}``."""
    jobs = [(f, mode, s) for f in p.families for s in p.seeds for mode in MODES]
    runs = {}
    for f, mode, s in progress_bar(jobs, progress, desc="C6: families x seeds x head modes"):
        # the frozen run's head norm is matched to the adapted run of the same family and seed (run first)
        norm = p.head_norm_scale * runs[f, "adapted", s]["head_rms"] if mode == "frozen" else 1.0
        runs[f, mode, s] = one_run(p, f, mode, s, norm)
    out = {}
    for f in p.families:
        out[f] = {}
        for mode in MODES:
            rs = [runs[f, mode, s] for s in p.seeds]
            d = {k: np.stack([np.asarray(r[k], dtype=float) for r in rs])
                 for k in ("error", "energy", "loss", "head_rms", "W_change")}
            d["round"] = rs[0]["round"]
            d["final_error"] = d["error"][:, -1]
            for when in ("start", "end"):
                d[when] = {k: np.asarray([r[when][k] for r in rs]) for k in rs[0][when]}
            out[f][mode] = d
    out["verdict"] = verdict(out, p)
    return out


def verdict(result: dict, p: Params) -> str:
    """C6, read strongly ("without adaptation the representation is not learned"), holds when for every
    family (i) zero heads leave W unchanged (change < 1e-4) at error > 0.9, (ii) adapted heads end below error
    0.5, and (iii) frozen heads of matched norm end at least 0.3 above the adapted error. When (i) and (ii)
    hold but (iii) fails for some family the verdict is "partly reproduced" and names it."""
    broken, frozen_learns = [], []
    for f in p.families:
        ad, fr, zero = (result[f][m]["final_error"].mean() for m in MODES)
        if not (result[f]["zero"]["W_change"].max() < 1e-4 and zero > 0.9):
            broken.append(f"{f}: zero heads moved W")
        if not ad < 0.5:
            broken.append(f"{f}: adapted heads did not recover span(M)")
        if not fr > ad + 0.3:
            frozen_learns.append(f)
    if broken:
        return "not reproduced (" + "; ".join(broken) + ")"
    if frozen_learns:
        return ("partly reproduced (zero heads learn nothing, but frozen random heads of matched norm also "
                f"recover span(M): {', '.join(frozen_learns)})")
    return "reproduced"


def explore(family: str, head_norm_scale: float, T: int = 10, d: int = 50, rounds: int = 100, m: int = 100,
            r: int = 5, seed: int = 0) -> dict:
    """Small adapted-vs-frozen pair for the chapter's live explorer: ``{mode: (rounds, errors)}``."""
    p = Params(d=d, r=r, m=m, T=T, rounds=rounds, rounds_quadratic=rounds, families=(family,),
               head_norm_scale=head_norm_scale, seeds=(seed,))
    out = {}
    ad = train(p.config(family, "adapted", seed))
    out["adapted"] = (ad.history["round"], ad.history["subspace_error"])
    fr = train(p.config(family, "frozen", seed, head_norm_scale * rms(ad.A)))
    out["frozen"] = (fr.history["round"], fr.history["subspace_error"])
    return out
