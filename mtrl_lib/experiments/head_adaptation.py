"""Chapter 5 (claim C6): is head adaptation what makes multi-task training learn span(M)?

For every family and seed, runs of :func:`mtrl_lib.train.train` from the same M, tasks, initial W and data
stream:

* ``adapted``: the paper's algorithm (every head takes a step before the shared layer does), at the step
  sizes the grid of :mod:`mtrl_lib.experiments.step_sizes` selects for adapted heads;
* ``frozen``:  heads drawn at random once and never updated. Their root-mean-square entry is
  ``head_norm_scale`` times the *matched norm*, the final RMS head entry of the adapted run of the same family
  and seed; their feature step ``eta_W_frozen_<family>`` is selected by the same grid rule, on held-out seeds,
  as the adapted heads' steps (so neither rule is tuned more than the other);
* ``zero``:    heads fixed at zero (the W-gradient is then exactly zero);
* the **head-norm sweep**: frozen heads at ``norm_scales`` times the matched norm (0.01x to 10x by default),
  which shows over which range of head sizes frozen heads learn at all.

Beside the trajectories, a *gradient anatomy* (:func:`anatomy`) at the start (initial W, heads after one
head step for ``adapted``) and at the end (final W and heads) of the adapted and the matched frozen runs: the
size of the population W-gradient, the sampling noise of one training batch around it, and how coherently the
tasks' contributions add up (the C1 formula: adapted heads are built from the task's own labels, frozen heads
are not).

The work is declared as units (:mod:`mtrl_lib.units`) in two stages: the adapted and zero runs, then the
frozen runs, whose head norm is read from the adapted run of the same seed. :func:`summary` computes every
number and phrase the chapter quotes; :func:`verdict` decides C6 on 95% confidence bounds over seeds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import stats
from .._validate import check_float
from ..losses import loss_grad
from ..model import output_scale
from ..tasks import FAMILIES, make_generator, sample
from ..threads import one_thread
from ..train import CONTROLS, TrainConfig, feature_grad, head_step, init_heads, stream_seed, train
from ..units import run_units, unit
from .common import ChapterParams, Choice, ChoiceList, Float, Int
from . import step_sizes
from .step_sizes import FROZEN_ETA_W, STEP_SIZES

MODES = ("adapted", "frozen", "zero")
#: "learns span(M)": the upper 95% bound of the mean final subspace error is below this level (see verdict)
ERR_LEVEL = 0.5
#: zero heads "learn nothing": the lower 95% bound of their mean final error is above this level
ZERO_LEVEL = 0.9
#: zero heads "never move W": the largest ||W_end - W_0||_F over seeds is below this (float32 round-off of
#: the row renormalisation is about 1e-6)
ZERO_MOVE = 1e-4


@dataclass(frozen=True)
class FloatList:
    """A non-empty list of numbers in ``(lo, hi]``; ``increasing``: strictly increasing (a sweep's x axis)."""

    lo: float
    hi: float
    increasing: bool = True

    def __call__(self, name, value):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or not list(value):
            raise ValueError(f"{name} must be a non-empty list of numbers in ({self.lo}, {self.hi}], got {value!r}")
        out = tuple(check_float(f"{name}[{i}]", v, self.lo, self.hi, lo_open=True) for i, v in enumerate(value))
        if self.increasing and any(b <= a for a, b in zip(out, out[1:])):
            raise ValueError(f"{name} must be strictly increasing, got {list(out)}")
        return out


@dataclass(frozen=True)
class Params(ChapterParams):
    d: int = 100                          # ambient dimension of x
    r: int = 5                            # dimension of the hidden subspace span(M)
    m: int = 200                          # neurons (rows of W)
    T: int = 20                           # tasks trained together
    n1: int = 50                          # fresh samples per task in each head phase
    n2: int = 50                          # fresh samples per task in each feature phase
    rounds: int = 100                     # training rounds, linear family (the grid's budget for linear)
    rounds_quadratic: int = 150           # training rounds, quadratic family (the grid's budget)
    families: tuple[str, ...] = FAMILIES  # task families to run
    eta_a_linear: float = STEP_SIZES["linear"][0]        # adapted heads' head step, linear (grid)
    eta_W_linear: float = STEP_SIZES["linear"][1]        # adapted heads' feature step, linear (grid)
    eta_a_quadratic: float = STEP_SIZES["quadratic"][0]  # adapted heads' head step, quadratic (grid)
    eta_W_quadratic: float = STEP_SIZES["quadratic"][1]  # adapted heads' feature step, quadratic (grid)
    eta_W_frozen_linear: float = FROZEN_ETA_W["linear"]        # frozen heads' feature step, linear (grid)
    eta_W_frozen_quadratic: float = FROZEN_ETA_W["quadratic"]  # frozen heads' feature step, quadratic (grid)
    head_norm_scale: float = 1.0          # frozen heads' RMS entry in the main comparison, x the matched norm
    norm_scales: tuple[float, ...] = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0)  # head-norm sweep, x matched norm
    bias_scale: float = 0.0               # standard deviation of the fixed random biases b (0: no bias)
    record_every: int = 10                # record the trajectory every this many rounds (and at the last)
    anatomy_n: int = 500                  # samples per task for the population gradient of the anatomy
    anatomy_draws: int = 8                # training batches drawn to measure the gradient's sampling noise
    control: str = "none"                 # negative control: "shuffled_labels" or "swapped_heads" (tests)

    constraints = {
        "families": ChoiceList(FAMILIES), "head_norm_scale": Float(0.0, 1000.0, lo_open=True),
        "norm_scales": FloatList(0.0, 1000.0), "anatomy_n": Int(1, 1_000_000), "anatomy_draws": Int(1, 1000),
        "control": Choice(CONTROLS),
    }

    def check(self) -> None:
        super().check()
        if self.r < 2 and "quadratic" in self.families:
            raise ValueError(f"r must be >= 2 when the quadratic family is used, got {self.r}")

    def rounds_of(self, family: str) -> int:
        return self.rounds_quadratic if family == "quadratic" else self.rounds

    def train_kwargs(self, family: str, mode: str, **over) -> dict:
        """The JSON-able :class:`TrainConfig` keywords (all but ``seed``) of one run."""
        kw = dict(d=self.d, r=self.r, m=self.m, T=self.T, family=family, n1=self.n1, n2=self.n2,
                  rounds=self.rounds_of(family), eta_a=getattr(self, f"eta_a_{family}"),
                  eta_W=getattr(self, f"eta_W_frozen_{family}" if mode == "frozen" else f"eta_W_{family}"),
                  head_mode=mode, bias_scale=self.bias_scale, device=self.device, record_every=self.record_every,
                  control=self.control)
        kw.update(over)
        return kw

    def config(self, family: str, mode: str, seed: int, head_norm: float = 1.0, **over) -> TrainConfig:
        return TrainConfig(seed=seed, **self.train_kwargs(family, mode, head_norm=head_norm, **over))


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


def escape_round(rounds, error, level: float = ERR_LEVEL) -> float:
    """First recorded round at which ``error`` is below ``level``; the last round + 1 if never (censored)."""
    below = np.flatnonzero(np.asarray(error) < level)
    return float(rounds[below[0]]) if below.size else float(rounds[-1] + 1)


def one_run(seed: int, config: dict, anatomy_n: int = 0, anatomy_draws: int = 8) -> dict:
    """Unit: one training run (``config``: :class:`TrainConfig` keywords without ``seed``) with its
    trajectory, final head size, how far W moved, the size of the first feature-step gradient, and, when
    ``anatomy_n`` > 0, the gradient anatomy at the start and at the end."""
    cfg = TrainConfig(seed=seed, **config)
    res = train(cfg)
    A0 = _first_heads(cfg, res.M, res.tasks, res.W0, res.b)
    X, Y = sample(res.M, res.tasks, cfg.n2, make_generator(stream_seed(seed, "c6-grad0"), res.W0.device))
    g0, _ = feature_grad(res.W0, res.b, A0, X, Y, cfg.loss, cfg.T)
    h = res.history
    out = {"round": h["round"], "error": h["subspace_error"], "energy": h["energy"], "loss": h["loss"],
           "final_error": float(h["subspace_error"][-1]), "head_rms": rms(res.A),
           "W_change": float((res.W - res.W0).norm()), "grad0": float(g0.double().norm()),
           "escape": escape_round(h["round"], h["subspace_error"])}
    if anatomy_n:
        with one_thread():      # its float64 sums run over ~1e5 elements: split by threads, the last bits would vary
            out["start"] = anatomy(cfg, res.M, res.tasks, res.W0, res.b, A0, anatomy_n, anatomy_draws, "c6-start")
            out["end"] = anatomy(cfg, res.M, res.tasks, res.W, res.b, res.A, anatomy_n, anatomy_draws, "c6-end")
    return out


def _stack(rs: list[dict]) -> dict:
    """Per-seed unit results -> arrays over seeds (``(seeds,)`` or ``(seeds, records)``)."""
    d = {k: np.stack([np.asarray(r[k], dtype=float) for r in rs])
         for k in ("error", "energy", "loss", "final_error", "head_rms", "W_change", "grad0", "escape")}
    d["round"] = np.asarray(rs[0]["round"])
    for when in ("start", "end"):
        if when in rs[0]:
            d[when] = {k: np.asarray([r[when][k] for r in rs]) for k in rs[0][when]}
    return d


def _frozen_units(p: Params, family: str, matched: np.ndarray) -> list:
    """The frozen runs of one family: at ``head_norm_scale`` (with the anatomy; all seeds), then each other
    scale of the sweep (final error only; all seeds). ``matched``: the adapted runs' final RMS head entry per
    seed, which the frozen heads of the same seed scale."""
    def one(scale, anatomy):
        rec = {} if anatomy else {"record_every": p.rounds_of(family)}
        return [unit(one_run, s, config=p.train_kwargs(family, "frozen", head_norm=scale * float(h), **rec),
                     anatomy_n=p.anatomy_n if anatomy else 0, anatomy_draws=p.anatomy_draws)
                for s, h in zip(p.seeds, matched)]
    return one(p.head_norm_scale, True) + [u for x in p.norm_scales if x != p.head_norm_scale for u in one(x, False)]


def run(p: Params, executor=None) -> dict:
    """All of chapter 5's numbers: ``{family: {mode: {key: array over seeds (x records)}, "sweep": {"scale":
    (k,), "final_error": (seeds, k)}}, "verdict": str}``. Two stages of units: the adapted and zero runs,
    then the frozen runs, whose head norm is read from the adapted run of the same family and seed."""
    fs, n = p.families, p.n_seeds
    first = [unit(one_run, s, config=p.train_kwargs(f, mode), anatomy_n=p.anatomy_n if mode == "adapted" else 0,
                  anatomy_draws=p.anatomy_draws) for f in fs for mode in ("adapted", "zero") for s in p.seeds]
    res = iter(run_units(first, executor, desc="C6: adapted and zero heads"))
    out = {f: {mode: _stack([next(res) for _ in range(n)]) for mode in ("adapted", "zero")} for f in fs}
    second = [u for f in fs for u in _frozen_units(p, f, out[f]["adapted"]["head_rms"])]
    res = iter(run_units(second, executor, desc="C6: frozen heads and the head-norm sweep"))
    for f in fs:
        out[f]["frozen"] = _stack([next(res) for _ in range(n)])
        by_scale = {p.head_norm_scale: out[f]["frozen"]["final_error"]}
        for x in p.norm_scales:
            if x != p.head_norm_scale:
                by_scale[x] = np.asarray([next(res)["final_error"] for _ in range(n)])
        out[f]["sweep"] = {"scale": np.asarray(p.norm_scales),
                           "final_error": np.stack([by_scale[x] for x in p.norm_scales], axis=1)}
    out["verdict"] = verdict(out, p)
    return out


# ----------------------------------------------------------------------------------------------- analysis

def compare_word(a, b, lower: str, higher: str, same: str) -> tuple[stats.Interval, str]:
    """Paired 95% t interval of ``a - b`` over seeds and the phrase it supports: ``lower`` when the whole
    interval is below 0, ``higher`` when it is above 0, else ``same``."""
    iv = stats.paired_ci(a, b)
    return iv, lower if iv.hi < 0 else higher if iv.lo > 0 else same


def _scales_text(scales) -> str:
    return ", ".join(f"{s:g}x" for s in scales)


def sweep_window(sweep: dict, level: float = ERR_LEVEL) -> dict:
    """Where frozen heads learn in the head-norm sweep: ``learns`` (upper 95% bound of the mean final error
    below ``level``) and ``fails`` (lower bound above it), as lists of scales, and a phrase for the prose."""
    iv = stats.mean_ci(sweep["final_error"], axis=0)
    scales = [float(s) for s in sweep["scale"]]
    learns = [s for s, hi in zip(scales, iv.hi) if hi < level]
    fails = [s for s, lo in zip(scales, iv.lo) if lo > level]
    if not learns:
        text = "at none of the head sizes of the sweep"
    elif len(learns) == len(scales):
        text = "at every head size of the sweep"
    else:
        idx = [scales.index(s) for s in learns]
        run = idx == list(range(idx[0], idx[-1] + 1))
        where = f"from {learns[0]:g}x to {learns[-1]:g}x" if run and len(learns) > 1 else f"at {_scales_text(learns)}"
        text = f"only {where} the matched norm"
    return {"learns": learns, "fails": fails, "text": text, "mean": iv.mean, "half": iv.half}


def setting_numbers(result: dict, p: Params) -> dict:
    """The setting and the levels: ``c6_n_seeds``, ``c6_T``, ``c6_d``, ``c6_r``, ``c6_rounds``,
    ``c6_rounds_quadratic``, ``c6_head_norm_scale``, ``c6_sqrt_T``, ``c6_sqrt_T_over_r``, ``c6_level_err``,
    ``c6_level_zero``, ``c6_scale_min``, ``c6_scale_max``, ``c6_verdict``; per family f ``c6_eta_a_adapted_{f}``,
    ``c6_eta_W_adapted_{f}``, ``c6_eta_W_frozen_{f}``, ``c6_head_rms_{f}`` (matched norm, mean over seeds) and
    ``c6_head_rms_start_{f}`` (adapted heads after one head step)."""
    out = {"c6_n_seeds": p.n_seeds, "c6_T": p.T, "c6_d": p.d, "c6_r": p.r, "c6_rounds": p.rounds,
           "c6_rounds_quadratic": p.rounds_quadratic, "c6_head_norm_scale": p.head_norm_scale,
           "c6_sqrt_T": math.sqrt(p.T), "c6_sqrt_T_over_r": math.sqrt(p.T / p.r), "c6_level_err": ERR_LEVEL,
           "c6_level_zero": ZERO_LEVEL, "c6_scale_min": min(p.norm_scales), "c6_scale_max": max(p.norm_scales),
           "c6_verdict": result["verdict"]}
    for f in p.families:                    # writes the per-family keys listed in the docstring
        out.update({f"c6_eta_a_adapted_{f}": getattr(p, f"eta_a_{f}"),
                    f"c6_eta_W_adapted_{f}": getattr(p, f"eta_W_{f}"),
                    f"c6_eta_W_frozen_{f}": getattr(p, f"eta_W_frozen_{f}"),
                    f"c6_head_rms_{f}": float(result[f]["adapted"]["head_rms"].mean()),
                    f"c6_head_rms_start_{f}": float(result[f]["adapted"]["start"]["head_rms"].mean())})
    return out


def ablation_numbers(result: dict, p: Params) -> dict:
    """The three head rules: ``c6_zero_W_change`` (largest ||W_end - W_0||_F of the zero-head runs),
    ``c6_zero_grad`` (largest norm of their first feature-step gradient); per family f and mode
    ``c6_err_{mode}_{f}`` with ``_ci``, ``c6_energy_{mode}_{f}``, ``c6_escape_{mode}_{f}`` (mean first recorded
    round below ``ERR_LEVEL``); paired over seeds ``c6_gap_{f}`` (frozen minus adapted final error) with ``_ci``
    and ``c6_gap_word_{f}``, ``c6_escape_gap_{f}`` (frozen minus adapted escape round) with ``_ci`` and
    ``c6_escape_word_{f}``."""
    fs = p.families
    out = {"c6_zero_W_change": max(float(result[f]["zero"]["W_change"].max()) for f in fs),
           "c6_zero_grad": max(float(result[f]["zero"]["grad0"].max()) for f in fs)}
    for f in fs:                            # writes the per-family keys listed in the docstring
        R = result[f]
        for mode in MODES:
            iv = stats.mean_ci(R[mode]["final_error"])
            out.update({f"c6_err_{mode}_{f}": float(iv.mean), f"c6_err_{mode}_{f}_ci": float(iv.half),
                        f"c6_energy_{mode}_{f}": float(R[mode]["energy"][:, -1].mean()),
                        f"c6_escape_{mode}_{f}": float(R[mode]["escape"].mean())})
        iv, word = compare_word(R["adapted"]["final_error"], R["frozen"]["final_error"], "significantly lower than",
                                "significantly higher than", "not significantly different from")
        out.update({f"c6_gap_{f}": -float(iv.mean), f"c6_gap_{f}_ci": float(iv.half), f"c6_gap_word_{f}": word})
        iv, word = compare_word(R["frozen"]["escape"], R["adapted"]["escape"], "sooner than", "later than",
                                "not significantly sooner or later than")
        out.update({f"c6_escape_gap_{f}": float(iv.mean), f"c6_escape_gap_{f}_ci": float(iv.half),
                    f"c6_escape_word_{f}": word})
    return out


def _gain(a: dict) -> np.ndarray:
    return a["signal"] / a["head_rms"]


def anatomy_numbers(result: dict, p: Params) -> dict:
    """The gradient anatomy, per family f: means over seeds ``c6_{start,end}_{snr,coh,signal,gain}_{mode}_{f}``
    for mode adapted and frozen (``gain``: signal per unit head RMS; NaN seeds, where a debiased norm is below
    the estimate's resolution, are left out, and "unresolved" if every seed is); paired adapted-vs-frozen words
    ``c6_{start,end}_{snr,coh,gain}_word_{f}`` ("higher", "lower", "not significantly different", or "not
    resolved" when a seed is); ``c6_start_coh_frozen_{f}_ci`` and ``c6_start_coh_frozen_near1_{f}`` (whether
    that interval contains 1, over the seeds where the coherence is resolved)."""
    out = {}
    for f in p.families:                    # writes the per-family keys listed in the docstring
        R = result[f]
        for mode in ("adapted", "frozen"):
            for when in ("start", "end"):
                a = R[mode][when]
                for key, v in (("snr", a["snr"]), ("coh", a["coherence"]), ("signal", a["signal"]), ("gain", _gain(a))):
                    out[f"c6_{when}_{key}_{mode}_{f}"] = float(np.nanmean(v)) if np.isfinite(v).any() else "unresolved"
        for when in ("start", "end"):
            a, fr = R["adapted"][when], R["frozen"][when]
            for key, va, vf in (("snr", a["snr"], fr["snr"]), ("coh", a["coherence"], fr["coherence"]),
                                ("gain", _gain(a), _gain(fr))):
                resolved = np.isfinite(va).all() and np.isfinite(vf).all()
                word = compare_word(va, vf, "lower", "higher", "not significantly different")[1] if resolved else None
                out[f"c6_{when}_{key}_word_{f}"] = word or "not resolved"
        coh = R["frozen"]["start"]["coherence"]
        ok = coh[np.isfinite(coh)]
        iv = stats.mean_ci(ok) if ok.size >= 2 else None
        word = "not resolved" if iv is None else "contains 1" if iv.lo <= 1 <= iv.hi else "excludes 1"
        out[f"c6_start_coh_frozen_{f}_ci"] = float(iv.half) if iv is not None else 0.0
        out[f"c6_start_coh_frozen_near1_{f}"] = word + (
            f" (over the {ok.size} of {coh.size} seeds where it is resolved)" if 0 < ok.size < coh.size else "")
    return out


def sweep_numbers(result: dict, p: Params) -> dict:
    """The head-norm sweep, per family f: ``c6_sweep_learns_{f}`` (the phrase of :func:`sweep_window`),
    ``c6_sweep_err_{smallest,largest,best}_{f}`` with ``_ci`` (at the smallest and largest scale, and at the
    scale of lowest mean error) and ``c6_sweep_best_scale_{f}``."""
    out = {}
    for f in p.families:                    # writes the per-family keys listed in the docstring
        sw, scales = sweep_window(result[f]["sweep"]), result[f]["sweep"]["scale"]
        best = int(np.argmin(sw["mean"]))
        out[f"c6_sweep_learns_{f}"] = sw["text"]
        for name, k in (("smallest", 0), ("largest", len(scales) - 1), ("best", best)):
            out[f"c6_sweep_err_{name}_{f}"] = float(sw["mean"][k])
            out[f"c6_sweep_err_{name}_{f}_ci"] = float(sw["half"][k])
        out[f"c6_sweep_best_scale_{f}"] = float(scales[best])
    return out


def summary(result: dict, p: Params, grid: dict | None = None) -> dict:
    """Every number and computed phrase chapter 5 quotes, by glue name: the union of the section functions
    above and :func:`grid_summary`, whose docstrings list the keys. ``_ci`` entries are half-widths of 95% t
    intervals over the seeds."""
    out = {}
    for part in (setting_numbers, ablation_numbers, anatomy_numbers, sweep_numbers):
        out.update(part(result, p))
    out.update(grid_summary(p, grid))
    out.update(explore_numbers())
    return out


def _range_text(axis, mask) -> str:
    """The grid values where ``mask`` holds: "a to b" when they are consecutive grid points, else a list."""
    idx = np.flatnonzero(mask)
    if not idx.size:
        return "no value of the grid"
    if idx.size == 1:
        return f"{axis[idx[0]]:g} only"
    if idx[-1] - idx[0] + 1 == idx.size:
        return f"{axis[idx[0]]:g} to {axis[idx[-1]]:g}"
    return ", ".join(f"{axis[i]:g}" for i in idx)


def grid_summary(p: Params, grid: dict | None = None) -> dict:
    """The step sizes as the stored grid selects them (:mod:`mtrl_lib.experiments.step_sizes`; three held-out
    seeds, means only: the grid is a selection rule, not a test). Per family f: ``c6_grid_eta_W_frozen_{f}``,
    ``c6_grid_err_frozen_{f}``, ``c6_grid_eta_a_adapted_{f}``, ``c6_grid_eta_W_adapted_{f}``,
    ``c6_grid_err_adapted_{f}`` (the selected points and their held-out errors), ``c6_grid_window_frozen_{f}`` /
    ``c6_grid_window_adapted_{f}`` (the eta_W of the grid whose mean held-out error is below ``ERR_LEVEL``, for
    frozen heads of matched norm and for adapted heads at their selected eta_a); ``c6_grid_seeds``,
    ``c6_grid_frozen_wall`` / ``c6_grid_frozen_cpu`` (wall and CPU seconds to recompute the frozen part),
    ``c6_grid_matches``."""
    grid = step_sizes.load_grid() if grid is None else grid
    out, used, chosen = {}, {}, {}
    ew_axis = np.asarray(grid["settings"]["eta_W"])
    for f in FAMILIES:                      # writes the c6_grid_..._{f} keys listed in the docstring
        ea, ew, err = step_sizes.select(grid, f)
        few, ferr = step_sizes.select_frozen(grid, f)
        row = step_sizes.grid_table(grid, f)[list(grid["settings"]["eta_a"]).index(ea)]
        frow = step_sizes.frozen_table(grid, f)
        out.update({f"c6_grid_eta_a_adapted_{f}": ea, f"c6_grid_eta_W_adapted_{f}": ew, f"c6_grid_err_adapted_{f}": err,
                    f"c6_grid_eta_W_frozen_{f}": few, f"c6_grid_err_frozen_{f}": ferr,
                    f"c6_grid_window_adapted_{f}": _range_text(ew_axis, row < ERR_LEVEL),
                    f"c6_grid_window_frozen_{f}": _range_text(ew_axis, frow < ERR_LEVEL)})
        chosen[f] = (ea, ew, few)
        if f in p.families:
            used[f] = (getattr(p, f"eta_a_{f}"), getattr(p, f"eta_W_{f}"), getattr(p, f"eta_W_frozen_{f}"))
    out.update({"c6_grid_seeds": ", ".join(str(s) for s in grid["settings"]["seeds"]),
                "c6_grid_frozen_wall": grid["frozen"]["settings"]["wall_time_s"],
                "c6_grid_frozen_cpu": grid["frozen"]["settings"].get("cpu_time_s", float("nan")),
                "c6_grid_matches": "are" if all(used[f] == chosen[f] for f in used) else
                "are NOT (this run overrides them)"})
    return out


def pick(values: dict, *prefixes: str) -> dict:
    """The entries of ``values`` whose names start with one of ``prefixes`` (to glue a slice of the summary
    next to the paragraph that quotes it)."""
    return {k: v for k, v in values.items() if k.startswith(prefixes)}


def verdict(result: dict, p: Params) -> str:
    """C6 read strongly: "without head adaptation the representation is not learned". 95% t intervals over
    the seeds (:mod:`mtrl_lib.stats`); for every family:

    1. adapted heads learn span(M): the upper 95% bound of their mean final subspace error is below
       ``ERR_LEVEL`` = 0.5 (every direction of span(M) within 30 degrees of the learned subspace; random W,
       a run with shuffled labels and one whose heads are fitted to another task all stay near 1);
    2. zero heads learn nothing: W moves by less than ``ZERO_MOVE`` on every seed and the lower bound of their
       mean final error is above ``ZERO_LEVEL`` = 0.9;
    3. frozen random heads, with their feature step chosen by the same grid rule, fail at every head size of
       the sweep (``norm_scales`` x the matched norm): the lower bound of their mean final error is above
       ``ERR_LEVEL`` at each.

    "not reproduced" if 1 or 2 fails for some family; "reproduced" if 1-3 hold; "partly reproduced" if 1 and 2
    hold but frozen heads learn (or are not shown to fail) at some head size; the text names where.
    Fewer than 10 seeds decide nothing."""
    if not stats.enough_seeds(p.n_seeds):
        return stats.undecided(p.n_seeds)
    broken, frozen_ok = [], []
    for f in p.families:
        R = result[f]
        if not stats.upper(R["adapted"]["final_error"]) < ERR_LEVEL:
            broken.append(f"{f}: adapted heads did not recover span(M), upper bound of the error "
                          f"{float(stats.upper(R['adapted']['final_error'])):.2f} >= {ERR_LEVEL}")
        if not R["zero"]["W_change"].max() < ZERO_MOVE:
            broken.append(f"{f}: zero heads moved W")
        elif not stats.lower(R["zero"]["final_error"]) > ZERO_LEVEL:
            broken.append(f"{f}: the untrained W already has error below {ZERO_LEVEL} (lower bound)")
        sw = sweep_window(R["sweep"])
        if len(sw["fails"]) < len(p.norm_scales):
            where = f"learn at {_scales_text(sw['learns'])}" if sw["learns"] else "are not shown to fail at " + \
                _scales_text(s for s in p.norm_scales if s not in sw["fails"])
            frozen_ok.append(f"{f}: {where} the matched norm")
    if broken:
        return "not reproduced (" + "; ".join(broken) + ")"
    if frozen_ok:
        return ("partly reproduced (zero heads learn nothing, but frozen random heads with a fairly chosen step "
                "also recover span(M) at some head sizes; " + "; ".join(frozen_ok) + ")")
    return "reproduced"


# ---------------------------------------------------------------------------------------------- explorer

#: The explorer's run: its fixed sizes and its controls' initial values (the prose quotes them).
EXPLORE = {"family": "linear", "head_norm_scale": 1.0, "T": 10, "d": 50, "m": 100, "r": 5, "rounds": 100,
           "seed": 0}
#: Every value each control offers in Jupyter (the scales of the sweep), and the values the book precomputes.
EXPLORE_VALUES = {"family": FAMILIES, "head_norm_scale": (0.01, 0.1, 0.3, 1.0, 3.0, 10.0),
                  "T": (1, 2, 5, 10, 20, 50)}
EXPLORE_STATIC = {"family": FAMILIES, "head_norm_scale": (0.1, 1.0, 10.0), "T": (10,)}


def explore_numbers() -> dict:
    """What the prose says of the explorer: ``c6_explore_<key>`` for each key of :data:`EXPLORE`, and
    ``c6_explore_static_scales``, the head-norm scales the book precomputes, in words."""
    out = {f"c6_explore_{k}": v for k, v in EXPLORE.items()}
    *head, last = _scales_text(EXPLORE_STATIC["head_norm_scale"]).split(", ")
    out["c6_explore_static_scales"] = f"{', '.join(head)} and {last}" if head else last
    return out


def explore(family: str = EXPLORE["family"], head_norm_scale: float = EXPLORE["head_norm_scale"],
            T: int = EXPLORE["T"], d: int = EXPLORE["d"], rounds: int = EXPLORE["rounds"], m: int = EXPLORE["m"],
            r: int = EXPLORE["r"], seed: int = EXPLORE["seed"]) -> dict:
    """Small adapted-vs-frozen pair for the chapter's live explorer: ``{mode: (rounds, errors)}``."""
    p = Params(d=d, r=r, m=m, T=T, rounds=rounds, rounds_quadratic=rounds, families=(family,),
               head_norm_scale=head_norm_scale, seeds=(seed,))
    out = {}
    ad = train(p.config(family, "adapted", seed))
    out["adapted"] = (ad.history["round"], ad.history["subspace_error"])
    fr = train(p.config(family, "frozen", seed, head_norm_scale * rms(ad.A)))
    out["frozen"] = (fr.history["round"], fr.history["subspace_error"])
    return out
