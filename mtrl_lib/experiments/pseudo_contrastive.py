"""Chapter 1 (claim C1): multi-task training after one head step is a pseudo-contrastive loss.

Every seed is one independent draw of M, the tasks, the initial W0 and b, and every sample. Per seed, the
chapter declares these units (:mod:`mtrl_lib.units`), all in float64 and in the notation of
:mod:`mtrl_lib.contrastive`:

1. :func:`gradient_unit`: the W-gradient of the multi-task loss after one head step (the training code,
   and autograd through the model and loss) against the closed-form pseudo-contrastive gradient, at the
   initial W0 and at a second, independent W1 (the heads still those fitted at W0: the loss is a function of
   W, not only a gradient at W0); and how far the identity carries to the logistic loss that training uses:
   the cosine between the first feature-step gradient under the logistic loss and the pseudo-contrastive
   gradient, at each head step in ``eta_a_values``;
2. :func:`kernel_unit`: the empirical task kernel over ``kappa_tasks`` tasks at ``kappa_pairs`` pairs
   against 1 - 2 theta / pi;
3. :func:`pull_unit`: one feature step of the training code (correlation loss), then, for every pair of
   ``pull_points`` probe inputs, the change of the cosine similarity of their features against kappa of the
   pair, summarised by their correlation;
4. the null of that correlation: the same unit with the labels shuffled within each task (so independent
   of x), ``null_draws`` times per seed, on the same M, W0 and samples.

Beside the units, :func:`label_free_step` (analysis, computed in :func:`run`, no unit) gives the same pair
statistics for a step that uses no label: each row's part in span(M) scaled by one factor, chosen so that W's
energy in span(M) after it equals that of the training step. It shows what check 3 cannot tell apart: for the
linear family kappa is a function of the angle between the projections M^T x alone, so any step that moves W
into span(M) correlates with kappa. The gradient identity (criterion 1) is what ties the step to the
pseudo-contrastive form.

``control`` runs the whole chapter as a negative control (the verdict must then fail):
``"shuffled_labels"`` shuffles every label within its task (nothing to learn); ``"swapped_heads"`` fits the
head of task t to the labels of task t+1, as :mod:`mtrl_lib.train` does (a broken algorithm);
``"sign_flipped"`` steps W up the gradient instead of down (a broken algorithm; its gradient is the same, so
it is judged by what the step does to pairs: the two pull/push criteria).

The verdict's scope is the derivation's: one feature step, from heads at zero, under the correlation loss
(:data:`SCOPE`). The comparisons behind the glued words about the logistic-loss cosine are decided in one Holm
family (:func:`comparison_family`); the words about how pairs moved restate criterion 4 and are read from its
own bounds (:func:`_moved`), so that the verdict and the words cannot disagree. The verdict's criteria are not
in the family (each is a test at 5% or stricter).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .._validate import check_float
from ..contrastive import (angle, kappa_linear, kappa_matched, one_step_heads, pseudo_contrastive_grad,
                           pseudo_contrastive_loss)
from ..losses import loss_value
from ..comparisons import Family
from ..metrics import energy
from ..model import features, init_weights, predict
from ..stats import enough_seeds, mean_ci, null_quantile, pm, undecided
from ..tasks import Tasks, draw_tasks, make_generator, random_subspace, sample
from ..threads import one_thread
from ..train import feature_grad, head_step, resolve_device, stream_seed
from ..units import run_units, unit
from .common import ChapterParams, Choice, Float, Int, check_seed_count
from .step_sizes import GRID_ETA_A

CONTROLS = ("none", "shuffled_labels", "swapped_heads", "sign_flipped")
GRAD_LEVEL = 1e-8        # largest relative error of an exact identity (float64 round-off here is ~1e-15)
KERNEL_FACTOR = 2.0      # the kernel may deviate by at most this many times its expected Monte-Carlo maximum
COS_LEVEL = 0.99         # "the identity carries" while the lower bound of the cosine stays at or above this
KAPPA_EDGES = np.linspace(-1.0, 1.0, 11)   # bins of kappa for the pull/push curve
MIN_BIN = 3              # pairs a bin needs in a seed to have a mean
#: what the verdict covers: the setting in which the identity is derived (and exact)
SCOPE = "one feature step from heads at zero, under the correlation loss"
#: What the book's hover note says of the glued names that its naming rules would only guess at
#: (:mod:`mtrl_lib.book.glued_notes`; a name first, then fnmatch patterns in order).
GLUE_NOTES = {
    "c1_*_median": "The median over the seeds of a relative error of check 1 (non-negative and at round-off, so "
                   "no interval of the mean: it would reach below 0)",
    "c1_*_rel_err_max": "The largest value over the seeds of a relative error of check 1 (criterion 1 reads it)",
    "c1_free_*": "The step that uses no label (each row's part in span(M) multiplied by one factor, to the "
                 "training step's energy in span(M)), scored like the training step of check 3",
    "c1_energy_*": "W's energy in span(M), ||WM||²_F / ||W||²_F, before or after the training step of check 3: a "
                   "mean over the seeds with the half-width of its 95% Student-t interval",
    "c1_*_text": "A mean over the seeds with the half-width of its 95% Student-t interval, written out to the "
                 "digits the half-width needs",
}


def _step_sizes(name, value):
    """A non-empty, strictly increasing list of positive head steps."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable) or not tuple(value):
        raise ValueError(f"{name} must be a non-empty list of numbers in (0, 1000000.0], got {value!r}")
    out = tuple(check_float(f"{name}[{i}]", v, 0.0, 1e6, lo_open=True) for i, v in enumerate(value))
    if any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"{name} must be strictly increasing, got {list(out)}")
    return out


@dataclass(frozen=True)
class Params(ChapterParams):
    d: int = 100                # ambient dimension of x
    r: int = 5                  # latent dimension: labels read x only through M^T x
    m: int = 200                # neurons (width of the shared layer)
    T: int = 50                 # tasks in the gradient check and the logistic-loss comparison
    n1: int = 50                # samples per task in the head step
    n2: int = 50                # samples per task in the feature step
    eta_a: float = 1.0          # head step of the gradient check and of the pull/push step
    bias_scale: float = 0.1     # b ~ bias_scale * N(0, 1), fixed
    kappa_tasks: int = 2000     # tasks averaged in the empirical kernel
    kappa_pairs: int = 400      # pairs (z, z') at which the kernel is compared with 1 - 2 theta / pi
    pull_tasks: int = 200       # tasks in the pull/push step
    pull_n: int = 100           # samples per task in each phase of the pull/push step
    pull_points: int = 60       # probe inputs; their pairs are the points of the pull/push figure
    pull_step: float = 20.0     # feature step eta_W of the pull/push step (W <- W - eta_W m grad, rows renormalised)
    null_draws: int = 4         # shuffled-label draws per seed for the null of the pull/push correlation
    eta_a_values: tuple[float, ...] = (1.0, 10.0, 50.0, 200.0)   # head steps at which the logistic loss is compared
    control: str = "none"       # "none", or a negative control: "shuffled_labels", "swapped_heads", "sign_flipped"

    constraints: ClassVar[dict] = {
        "kappa_tasks": Int(1, 1_000_000), "kappa_pairs": Int(2, 100_000), "pull_tasks": Int(1, 100_000),
        "pull_n": Int(1, 100_000), "pull_points": Int(3, 2_000), "pull_step": Float(0.0, 1e6, lo_open=True),
        "null_draws": Int(2, 1_000), "eta_a_values": _step_sizes, "control": Choice(CONTROLS),
    }

    def check(self) -> None:
        super().check()
        check_seed_count(self.seeds)            # the one wording of every chapter (experiments/common.py)


# ---------------------------------------------------------------- units (one seed each)

def _draw(seed: int, stream: str, d: int, r: int, m: int, T: int, bias_scale: float, device: str):
    """The generator of a unit's stream and its draws of M, T linear tasks, W0 and b (float64)."""
    dev, dt = resolve_device(device), torch.float64
    g = make_generator(stream_seed(seed, stream), dev)
    M = random_subspace(d, r, g, dt)
    tasks = draw_tasks("linear", T, r, g, dtype=dt)
    W0, b = init_weights(m, d, g, bias_scale, dt)
    return g, M, tasks, W0, b


def shuffle_labels(Y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Each task's labels permuted among its samples: ``(T, n)`` -> ``(T, n)``, independent of x."""
    perm = torch.argsort(torch.rand(Y.shape, generator=g, device=Y.device), dim=1)
    return torch.gather(Y, 1, perm)


def _labels(M, tasks: Tasks, X1, Y1, Y2, control: str, g):
    """``(Y1 the heads are fitted to, Y1 of the task, Y2)`` under ``control``."""
    if control == "shuffled_labels":
        Y1, Y2 = shuffle_labels(Y1, g), shuffle_labels(Y2, g)
    Y1_head = Y1
    if control == "swapped_heads":
        Y1_head = _rolled(tasks).clean_labels(X1 @ M)
    return Y1_head, Y1, Y2


def _rolled(tasks: Tasks) -> Tasks:
    """Task t replaced by task t+1 (mod T): the labels the heads see under ``swapped_heads``."""
    return Tasks(tasks.family, tasks.params.roll(-1, 0), tasks.noise)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()))


def gradient_unit(seed: int, d: int, r: int, m: int, T: int, n1: int, n2: int, eta_a: float, eta_a_values,
                  bias_scale: float, control: str, device: str) -> dict:
    """Relative errors between the gradient the algorithm steps along (training code and autograd, after a
    real head step) and the closed-form pseudo-contrastive gradient, at W0 and (``*_moved``) at a second,
    independent W1 with the heads still those fitted at W0; ``active_changed``, the share of (neuron, sample)
    activations that differ between W0 and W1, and ``pattern_rel_err``, the relative error at W1 of the
    closed form with W0's activation pattern (what a wrong check would pass); and, per head step in
    ``eta_a_values``, the cosine between the first feature-step gradient under the logistic loss and the
    closed form. ``sign_flipped`` changes only the step (:func:`pull_unit`), not these gradients."""
    g, M, tasks, W0, b = _draw(seed, "c1-grad", d, r, m, T, bias_scale, device)
    X1, Y1 = sample(M, tasks, n1, g)
    X2, Y2 = sample(M, tasks, n2, g)
    Y1_head, Y1, Y2 = _labels(M, tasks, X1, Y1, Y2, control, g)
    A0 = torch.zeros(T, m, dtype=W0.dtype, device=W0.device)

    # The training code path: one head step from zero with the correlation loss ...
    A = head_step(W0, b, A0, X1, Y1_head, "correlation", eta_a)
    # ... then the multi-task loss (1/T) sum_t L_t(W, a_t), differentiated by autograd at W = W0.
    W = W0.clone().requires_grad_(True)
    L = loss_value(predict(W, b, A, X2), Y2, "correlation").mean()
    (g_auto,) = torch.autograd.grad(L, W)
    g_train, _ = feature_grad(W0, b, A, X2, Y2, "correlation", T)     # m * grad (training convention)

    g_closed = pseudo_contrastive_grad(W0, b, W0, X1, Y1, X2, Y2, eta_a)
    L_closed = float(pseudo_contrastive_loss(W0, b, W0, X1, Y1, X2, Y2, eta_a))
    rel = lambda a, ref: float((a - ref).norm() / ref.norm())
    out = {
        "grad_rel_err": rel(g_auto, g_closed),
        "train_grad_rel_err": rel(g_train / m, g_closed),
        "heads_rel_err": rel(A, one_step_heads(W0, b, X1, Y1, eta_a)),
        "loss_rel_err": abs(float(L.detach()) - L_closed) / abs(L_closed),
    }
    # The same identity at W1 != W0, drawn like W0 from its own stream (the draws above are unchanged): with
    # the heads fitted at W0, {eq}`c1-loss` holds for every W, with W's activation pattern in the gradient.
    # One thread: the same bits at any thread count (mtrl_lib.threads).
    with one_thread():
        W1, _ = init_weights(m, d, make_generator(stream_seed(seed, "c1-moved"), W0.device), 0.0, W0.dtype)
        W1g = W1.clone().requires_grad_(True)
        L1 = loss_value(predict(W1g, b, A, X2), Y2, "correlation").mean()
        (g_auto1,) = torch.autograd.grad(L1, W1g)
        g_train1, _ = feature_grad(W1, b, A, X2, Y2, "correlation", T)
        g_closed1 = pseudo_contrastive_grad(W1, b, W0, X1, Y1, X2, Y2, eta_a)
        L_closed1 = float(pseudo_contrastive_loss(W1, b, W0, X1, Y1, X2, Y2, eta_a))
        out.update(grad_rel_err_moved=rel(g_auto1, g_closed1), train_grad_rel_err_moved=rel(g_train1 / m, g_closed1),
                   loss_rel_err_moved=abs(float(L1.detach()) - L_closed1) / abs(L_closed1),
                   pattern_rel_err=rel(g_closed, g_closed1),
                   active_changed=float(((X2 @ W1.T + b > 0) != (X2 @ W0.T + b > 0)).double().mean()))
    cos = []
    # the logistic loss that training uses, same samples; one thread, because the cosine's sums run over
    # m d elements (80,000 at paper scale), which torch splits by thread count: the last bits would vary
    with one_thread():
        for eta in eta_a_values:
            A_log = head_step(W0, b, A0, X1, Y1_head, "logistic", eta)
            g_log, _ = feature_grad(W0, b, A_log, X2, Y2, "logistic", T)
            cos.append(_cos(g_log, g_closed))
    out["logistic_cos"] = np.asarray(cos)
    return out


def kernel_unit(seed: int, r: int, kappa_tasks: int, kappa_pairs: int, control: str, device: str) -> dict:
    """The kernel that weighs pairs in the algorithm, kappa_T(z, z') = (1/T) sum_t (head label of z) (label
    of z'), over ``kappa_tasks`` linear tasks at ``kappa_pairs`` random pairs in R^r, against 1 - 2 theta / pi.

    Monte-Carlo: kappa_T is a mean of T signs with variance 1 - kappa^2, so its standard error is
    sqrt((1 - kappa^2) / T) <= 1/sqrt(T), and the largest of P deviations is about sqrt(2 ln(2P) / T)."""
    dev = resolve_device(device)
    g = make_generator(stream_seed(seed, "c1-kappa"), dev)
    tasks = draw_tasks("linear", kappa_tasks, r, g, dtype=torch.float64)
    Z1 = torch.randn(kappa_pairs, r, generator=g, device=dev, dtype=torch.float64)
    Z2 = torch.randn(kappa_pairs, r, generator=g, device=dev, dtype=torch.float64)
    if control == "shuffled_labels":     # each task's labels permuted among the points
        F1 = shuffle_labels(tasks.clean_labels(Z1.expand(kappa_tasks, *Z1.shape)), g)
        F2 = shuffle_labels(tasks.clean_labels(Z2.expand(kappa_tasks, *Z2.shape)), g)
        emp = (F1 * F2).mean(0)
    else:
        emp = kappa_matched(Z1, Z2, _rolled(tasks) if control == "swapped_heads" else tasks, tasks)
    theta = torch.diagonal(angle(Z1, Z2))
    theory = 1 - 2 * theta / math.pi
    dev_abs = (emp - theory).abs()
    return {
        "theta": theta.cpu().numpy(), "kappa_emp": emp.cpu().numpy(), "kappa_theory": theory.cpu().numpy(),
        "max_dev": float(dev_abs.max()), "rms_dev": float(dev_abs.pow(2).mean().sqrt()),
        "mc_se": 1 / math.sqrt(kappa_tasks), "mc_max": math.sqrt(2 * math.log(2 * kappa_pairs) / kappa_tasks),
    }


def pull_unit(seed: int, d: int, r: int, m: int, pull_tasks: int, pull_n: int, pull_points: int,
              pull_step: float, eta_a: float, bias_scale: float, control: str, null_draw: int,
              device: str) -> dict:
    """One feature step of the training code (head step from zero, then W <- W - eta_W m grad with the
    correlation loss, rows renormalised), then the change of the features' cosine similarity of every pair of
    probe inputs against kappa of the pair. ``null_draw`` = k > 0: the same M, W0 and samples, with the labels
    shuffled within each task by the k-th null stream (one draw of the shuffled-label null)."""
    g, M, tasks, W0, b = _draw(seed, "c1-pull", d, r, m, pull_tasks, bias_scale, device)
    X1, Y1 = sample(M, tasks, pull_n, g)
    X2, Y2 = sample(M, tasks, pull_n, g)
    Xp = torch.randn(pull_points, d, generator=g, device=W0.device, dtype=W0.dtype)
    Y1_head, _, Y2 = _labels(M, tasks, X1, Y1, Y2, control, g)
    if null_draw:
        gn = make_generator(_null_seed(seed, null_draw), W0.device)
        Y1_head, Y2 = shuffle_labels(Y1_head, gn), shuffle_labels(Y2, gn)
    A = head_step(W0, b, torch.zeros(pull_tasks, m, dtype=W0.dtype, device=W0.device), X1, Y1_head,
                  "correlation", eta_a)
    gW, _ = feature_grad(W0, b, A, X2, Y2, "correlation", pull_tasks)     # m * grad
    W1 = W0 + pull_step * gW if control == "sign_flipped" else W0 - pull_step * gW
    W1 = W1 / W1.norm(dim=1, keepdim=True)

    def cos(W):
        F = features(W, b, Xp)
        F = F / F.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return F @ F.T

    with one_thread():       # small products: the same bits at any thread count (mtrl_lib.threads)
        delta = cos(W1) - cos(W0)
        Z = Xp @ M
        kap = kappa_linear(Z, Z)
    iu = torch.triu_indices(pull_points, pull_points, offset=1)
    k, dl = kap[iu[0], iu[1]].cpu().numpy(), delta[iu[0], iu[1]].cpu().numpy()
    out = {"corr": float(np.corrcoef(k, dl)[0, 1]), "mean_pos": _mean(dl[k > 0.2]), "mean_neg": _mean(dl[k < -0.2])}
    if not null_draw:
        idx = np.clip(np.digitize(k, KAPPA_EDGES) - 1, 0, len(KAPPA_EDGES) - 2)
        out.update(kappa=k, delta_cos=dl, energy_before=energy(W0, M), energy_after=energy(W1, M),
                   bin_mean=np.array([dl[idx == i].mean() if (idx == i).sum() >= MIN_BIN else np.nan
                                      for i in range(len(KAPPA_EDGES) - 1)]))
    return out


def _null_seed(seed: int, draw: int) -> int:
    """The seed of the ``draw``-th shuffled-label stream of ``seed``. (Not ``stream_seed(seed, f"...{draw}")``:
    that keys a stream by the first four bytes of its name only, so such names would all collide.)"""
    return int(np.random.SeedSequence([int(seed), stream_seed(0, "c1-null"), int(draw)]).generate_state(1)[0])


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else 0.0


# ---------------------------------------------------------------- a step that uses no label (analysis)

def label_free_step(seed: int, d: int, r: int, m: int, pull_tasks: int, pull_points: int, bias_scale: float,
                    target_energy: float, device: str) -> dict:
    """What check 3 cannot tell apart: the pull/push statistics of a step that uses no label. From the same W0
    and b as :func:`pull_unit` (its stream), each row's part in span(M) is multiplied by one factor ``scale``
    (rows renormalised after), chosen by bisection so that W's energy in span(M) after the step is
    ``target_energy`` (the training step's ``energy_after``). Scored like :func:`pull_unit` on
    ``pull_points`` probe inputs of its own stream (``"c1-free"``): ``corr``, ``mean_pos``, ``mean_neg``,
    ``scale``, ``energy_after``. Analysis, not a unit: a few products of size m x d, deterministic (one thread).

    For the linear family kappa is a decreasing function of the angle between M^T x and M^T x' alone
    ({eq}`c1-kernel`), so a step that moves features towards span(M) makes pairs with close projections more
    alike, with or without the labels."""
    _, M, _, W0, b = _draw(seed, "c1-pull", d, r, m, pull_tasks, bias_scale, device)
    g = make_generator(stream_seed(seed, "c1-free"), W0.device)
    Xp = torch.randn(pull_points, d, generator=g, device=W0.device, dtype=W0.dtype)
    with one_thread():
        P = (W0 @ M) @ M.T                                    # each row's part in span(M)
        share = (P.pow(2).sum(1) / W0.pow(2).sum(1)).cpu().numpy()
        scale = _energy_scale(share, float(target_energy))
        W1 = W0 + (scale - 1.0) * P
        W1 = W1 / W1.norm(dim=1, keepdim=True)

        def cos(W):
            F = features(W, b, Xp)
            F = F / F.norm(dim=1, keepdim=True).clamp_min(1e-12)
            return F @ F.T

        delta = cos(W1) - cos(W0)
        Z = Xp @ M
        kap = kappa_linear(Z, Z)
    iu = torch.triu_indices(pull_points, pull_points, offset=1)
    k, dl = kap[iu[0], iu[1]].cpu().numpy(), delta[iu[0], iu[1]].cpu().numpy()
    corr = float(np.corrcoef(k, dl)[0, 1]) if dl.std() > 0 else 0.0
    pos, neg = dl[k > 0.2], dl[k < -0.2]
    return {"corr": corr, "mean_pos": float(pos.mean()) if pos.size else 0.0,
            "mean_neg": float(neg.mean()) if neg.size else 0.0, "scale": scale, "energy_after": energy(W1, M)}


def _energy_scale(share: np.ndarray, target: float) -> float:
    """The factor c > 0 by which each unit row's part in span(M) (row shares ``share`` of its squared norm) is
    multiplied so that the mean share after renormalisation, mean(c^2 s / (c^2 s + 1 - s)), is ``target``
    (increasing in c; bisection on log c over [-20, 20], clipped at its ends)."""
    after = lambda c: float(np.mean(c * c * share / (c * c * share + 1.0 - share)))
    lo, hi = -20.0, 20.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if after(math.exp(mid)) < target else (lo, mid)
    return math.exp((lo + hi) / 2)


# ---------------------------------------------------------------- the experiment

def units(p: Params) -> dict:
    """The chapter's units, by part: ``grad``, ``kappa`` and ``pull`` (one per seed) and ``null`` (one per seed
    and null draw, seed-major)."""
    common = dict(r=p.r, control=p.control, device=p.device)
    net = dict(common, d=p.d, m=p.m, eta_a=p.eta_a, bias_scale=p.bias_scale)
    pull = dict(net, pull_tasks=p.pull_tasks, pull_n=p.pull_n, pull_points=p.pull_points, pull_step=p.pull_step)
    return {
        "grad": [unit(gradient_unit, s, **net, T=p.T, n1=p.n1, n2=p.n2, eta_a_values=list(p.eta_a_values))
                 for s in p.seeds],
        "kappa": [unit(kernel_unit, s, **common, kappa_tasks=p.kappa_tasks, kappa_pairs=p.kappa_pairs)
                  for s in p.seeds],
        "pull": [unit(pull_unit, s, **pull, null_draw=0) for s in p.seeds],
        "null": [unit(pull_unit, s, **pull, null_draw=k) for s in p.seeds for k in range(1, p.null_draws + 1)],
    }


def run(p: Params, executor=None) -> dict:
    """Every unit's result, by part (lists in seed order; ``null`` seed-major), and the verdict on C1."""
    parts = units(p)
    flat = [u for part in parts.values() for u in part]
    done = iter(run_units(flat, executor, desc="chapter 1 units"))
    result = {name: [next(done) for _ in part] for name, part in parts.items()}
    result["seeds"] = list(p.seeds)
    result["label_free"] = [label_free_step(s, p.d, p.r, p.m, p.pull_tasks, p.pull_points, p.bias_scale,
                                            u["energy_after"], p.device) for s, u in zip(p.seeds, result["pull"])]
    result["verdict"] = verdict(result, p)
    return result


def per_seed(result: dict, part: str, key: str) -> np.ndarray:
    """``(seeds, ...)``: one result key of a part, stacked over units."""
    return np.stack([np.asarray(u[key], dtype=float) for u in result[part]])


def pull_curve(result: dict) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the kappa bins that every seed populates (at least ``MIN_BIN`` pairs) and the per-seed
    mean change of feature similarity in them, ``(seeds, bins)``."""
    means = per_seed(result, "pull", "bin_mean")
    keep = ~np.isnan(means).any(axis=0)
    centres = (KAPPA_EDGES[:-1] + KAPPA_EDGES[1:]) / 2
    return centres[keep], means[:, keep]


def criteria(result: dict, p: Params) -> dict[str, bool]:
    """Each criterion of :func:`verdict`, by the name the verdict reports when it fails."""
    err = np.max([per_seed(result, "grad", k) for k in GRAD_KEYS], axis=0)
    kern = mean_ci(per_seed(result, "kappa", "max_dev"))
    mc_max = result["kappa"][0]["mc_max"]
    corr = mean_ci(per_seed(result, "pull", "corr"))
    pos, neg = mean_ci(per_seed(result, "pull", "mean_pos")), mean_ci(per_seed(result, "pull", "mean_neg"))
    return {
        "gradient identity": bool(err.max() <= GRAD_LEVEL),
        "kernel shape": bool(kern.hi <= KERNEL_FACTOR * mc_max),
        "pull/push above the shuffled-label null": bool(corr.lo > null_q95(result)),
        "pull/push direction": bool(pos.lo > 0 > neg.hi),
    }


#: the relative errors of the gradient identity: autograd and the training code, at W0 and at W1 != W0
GRAD_KEYS = ("grad_rel_err", "train_grad_rel_err", "grad_rel_err_moved", "train_grad_rel_err_moved")


def null_q95(result: dict) -> float:
    """95th percentile of the pull/push correlation over every shuffled-label draw of every seed."""
    return null_quantile([u["corr"] for u in result["null"]], 0.95)


def verdict(result: dict, p: Params) -> str:
    """C1 is reproduced when, over at least 10 seeds (else "undecided"), all of these hold:

    * gradient identity: on every seed, the gradient training steps along (its analytic gradient, and
      autograd through the model and the loss) equals the closed-form pseudo-contrastive gradient to a
      relative error of at most ``GRAD_LEVEL`` = 1e-8, at W0 and at an independent W1 (an exact identity:
      round-off is about 1e-15, and a wrong term or pairing moves the gradient by order 1);
    * kernel shape: the upper 95% bound of the mean (over seeds) largest deviation of the empirical kernel
      from 1 - 2 theta / pi is at most twice its expected Monte-Carlo maximum sqrt(2 ln(2P) / T); labels that
      do not come from the tasks give a kernel near 0, off by the largest |1 - 2 theta / pi| among the pairs;
    * pull/push above the null: the lower 95% bound of the mean correlation between kappa and the change of
      feature similarity exceeds the 95th percentile of the same correlation with labels shuffled within
      each task (computed in the chapter), so a step that learns nothing about the labels fails;
    * pull/push direction: pairs with kappa > 0.2 move closer (lower 95% bound of their mean change > 0) and
      pairs with kappa < -0.2 move apart (upper bound < 0).

    The scope is :data:`SCOPE`: one feature step from heads at zero under the correlation loss. Criterion 1
    is what ties the step to the pseudo-contrastive form: for the linear family kappa depends on the angle of
    the projections M^T x alone, so any step that moves W into span(M), even one that uses no label
    (:func:`label_free_step`), passes criteria 3 and 4 as well.
    """
    n = len(result["seeds"])
    if not enough_seeds(n):
        return undecided(n)
    failed = [name for name, ok in criteria(result, p).items() if not ok]
    return "reproduced" if not failed else "not reproduced (" + "; ".join(failed) + " failed)"


# ---------------------------------------------------------------- what the prose quotes

def comparison_family(result: dict, p: Params) -> Family:
    """The comparisons behind the glued words about the logistic-loss cosine, decided together with Holm's
    correction at 5% (:class:`mtrl_lib.comparisons.Family`; two-sided one-sample t tests over the seeds):
    ``cos_<i>``, the cosine at the i-th head step of ``eta_a_values`` against ``COS_LEVEL``. The words about
    how pairs moved are not in it: they restate criterion 4 and are read from its bounds (:func:`_moved`), so
    that a borderline run cannot pass the criterion while its word reads "did not move detectably". The
    verdict's criteria are not in the family: each is already a test at 5% or stricter."""
    fam = Family()
    cos = per_seed(result, "grad", "logistic_cos")
    for i in range(cos.shape[1]):                  # cos_0, cos_1, ...: one per head step
        fam.test(f"cos_{i}", cos[:, i], null=COS_LEVEL)
    return fam.decide()


def _word(fam: Family, name: str, x, below: str, above: str, neither: str) -> str:
    """``below``/``above`` when the family rejects ``name`` and the mean of ``x`` is below/above its null."""
    if not fam[name]:
        return neither
    return below if float(np.mean(x)) < 0 else above


def _moved(x) -> str:
    """How pairs moved, from the bounds criterion 4 reads: the 95% interval of their mean change of
    similarity above 0 ("moved closer"), below 0 ("moved apart"), or neither."""
    iv = mean_ci(x)
    if iv.lo > 0:
        return "moved closer"
    if iv.hi < 0:
        return "moved apart"
    return "did not move detectably"


def _carry(etas, iv, words) -> str:
    """How far the identity carries to the logistic loss: ``words[i]`` ("above", "below" or "neither") is the
    Holm-decided comparison of the cosine at ``etas[i]`` with ``COS_LEVEL``; ``iv`` their intervals."""
    level = f"{COS_LEVEL:g}"
    n_ok = next((i for i, w in enumerate(words) if w != "above"), len(words))
    if n_ok == len(words):
        return f"is significantly above {level} at every head step tried, up to η_a = {etas[-1]:g}"
    first = f"η_a = {etas[n_ok]:g} (cosine {pm(iv.mean[n_ok], iv.half[n_ok])})"
    where = "significantly below" if words[n_ok] == "below" else "not distinguishable from"
    if n_ok == 0:
        return f"is {where} {level} already at the smallest head step, {first}"
    return f"is significantly above {level} up to η_a = {etas[n_ok - 1]:g} and {where} it at {first}"


def listed(values) -> str:
    """``1, 10, 50 and 200``."""
    *head, last = (f"{v:g}" for v in values)
    return f"{', '.join(head)} and {last}" if head else last


def grid_cover(etas) -> str:
    """Whether the head steps ``etas`` include every head step of chapter 2's step-size grid, as a phrase."""
    missing = [e for e in GRID_ETA_A if e not in etas]
    if not missing:
        return "include every head step"
    return f"leave out η_a = {listed(missing)} of the head steps"


def bias_phrase(bias_scale: float) -> str:
    """What this chapter's bias is, against the later chapters' zero bias (as a phrase of the setting)."""
    if bias_scale == 0:
        return "this chapter uses no bias either"
    return (f"this chapter instead draws the bias once per neuron from a normal law of standard deviation "
            f"{bias_scale:g}, so that every identity below is checked with a bias (each holds for any fixed bias)")


#: the non-negative relative errors of check 1, summarised by their median and largest seed (a t interval of
#: values at round-off reaches below 0)
ERROR_KEYS = ("grad_rel_err", "train_grad_rel_err", "heads_rel_err", "loss_rel_err", "grad_rel_err_moved",
              "train_grad_rel_err_moved", "loss_rel_err_moved")


def summary(result: dict, p: Params) -> dict:
    """Every number and computed phrase the chapter's prose quotes, by glue name (all start with ``c1_``; c1_headline
    is the first screen's number;
    ``_ci`` is the half-width of a 95% t interval of the mean over seeds, ``_text`` a mean with its half-width
    written out to the digits the half-width needs)."""
    ok = criteria(result, p)
    fam = comparison_family(result, p)
    out = {"c1_n_seeds": len(result["seeds"]), "c1_T": p.T, "c1_eta_a": p.eta_a, "c1_verdict": result["verdict"],
           "c1_control": p.control, "c1_scope": SCOPE, "c1_family_size": len(fam), "c1_bias_scale": p.bias_scale,
           "c1_bias_phrase": bias_phrase(p.bias_scale), "c1_d": p.d, "c1_m": p.m, "c1_n1": p.n1, "c1_n2": p.n2}
    for part in (_grad_summary(result, ok), _logistic_summary(result, p, fam), _kernel_summary(result, p, ok),
                 _pull_summary(result, p, ok)):
        out.update(part)
    # the first screen's headline: check 3's statistic against its null (the test the claim's reading rests on)
    out["c1_headline"] = (f"the correlation between the task kernel and the change of feature similarity over the "
                          f"step is {pm(out['c1_pull_corr'], out['c1_pull_corr_ci'], 2)}, against "
                          f"{out['c1_null_q95']:.2f}, the 95th percentile of the same correlation with shuffled "
                          f"labels")
    return out


def _grad_summary(result: dict, ok: dict) -> dict:
    """For each key of ``ERROR_KEYS`` (non-negative relative errors): c1_{key} (mean over seeds, which the
    intro quotes), c1_{key}_median and c1_{key}_max (largest seed); c1_active_changed and c1_pattern_rel_err
    with ``_ci`` (fractions well inside their range); c1_grad_level, c1_grad_phrase."""
    out = {}
    for key in ERROR_KEYS:   # writes c1_{key}, c1_{key}_median, c1_{key}_max
        x = per_seed(result, "grad", key)
        out[f"c1_{key}"], out[f"c1_{key}_median"], out[f"c1_{key}_max"] = (float(x.mean()), float(np.median(x)),
                                                                            float(x.max()))
    for key in ("active_changed", "pattern_rel_err"):   # writes c1_{key}{,_ci,_max}
        x = per_seed(result, "grad", key)
        iv = mean_ci(x)
        out[f"c1_{key}"], out[f"c1_{key}_ci"], out[f"c1_{key}_max"] = float(iv.mean), float(iv.half), float(x.max())
    out["c1_grad_level"] = GRAD_LEVEL
    out["c1_grad_phrase"] = ("at float64 round-off on every seed, at both points: the identity is exact, not an "
                             "approximation" if ok["gradient identity"] else
                             f"above {GRAD_LEVEL:g} on some seed: the training gradient is not the closed form")
    return out


def _logistic_summary(result: dict, p: Params, fam: Family) -> dict:
    """c1_cos_table, c1_cos_level, c1_cos_carry (Holm-decided), c1_cos_etas, c1_grid_etas, c1_grid_cover;
    c1_eta_small, c1_cos_small(_ci) at the smallest head step and c1_eta_large, c1_cos_large(_ci) at the
    largest."""
    x = per_seed(result, "grad", "logistic_cos")
    cos = mean_ci(x)
    etas = p.eta_a_values
    words = [_word(fam, f"cos_{i}", x[:, i] - COS_LEVEL, "below", "above", "neither") for i in range(len(etas))]
    return {
        "c1_cos_table": ", ".join(f"{pm(c, h)} at η_a = {e:g}" for c, h, e in zip(cos.mean, cos.half, etas)),
        "c1_cos_level": COS_LEVEL, "c1_cos_carry": _carry(etas, cos, words), "c1_cos_etas": listed(etas),
        "c1_grid_etas": listed(GRID_ETA_A), "c1_grid_cover": grid_cover(etas),
        "c1_eta_small": etas[0], "c1_cos_small": float(cos.mean[0]), "c1_cos_small_ci": float(cos.half[0]),
        "c1_eta_large": etas[-1], "c1_cos_large": float(cos.mean[-1]), "c1_cos_large_ci": float(cos.half[-1]),
    }


def _kernel_summary(result: dict, p: Params, ok: dict) -> dict:
    """c1_kappa_*: sizes, deviations from 1 - 2 theta / pi with their intervals (``_text``: written out to the
    digits the half-width needs), Monte-Carlo scales, the level."""
    kern, rms = mean_ci(per_seed(result, "kappa", "max_dev")), mean_ci(per_seed(result, "kappa", "rms_dev"))
    k0 = result["kappa"][0]
    return dict(c1_kappa_tasks=p.kappa_tasks, c1_kappa_pairs=p.kappa_pairs, c1_kappa_max_dev=float(kern.mean),
                c1_kappa_max_dev_ci=float(kern.half), c1_kappa_max_dev_hi=float(kern.hi),
                c1_kappa_max_dev_text=pm(kern.mean, kern.half), c1_kappa_rms_dev_text=pm(rms.mean, rms.half),
                c1_kappa_rms_dev=float(rms.mean), c1_kappa_rms_dev_ci=float(rms.half), c1_kappa_mc_se=k0["mc_se"],
                c1_kappa_mc_max=k0["mc_max"], c1_kappa_level=KERNEL_FACTOR * k0["mc_max"],
                c1_kappa_phrase="within" if ok["kernel shape"] else "not within")


def _pull_summary(result: dict, p: Params, ok: dict) -> dict:
    """c1_pull_*, c1_null_*, c1_pos_moved, c1_neg_moved (criterion 4's bounds): the pull/push statistic, its
    null and the phrases; c1_energy_before/after (W's energy in span(M) before and after the training step) and
    c1_free_* (the label-free step of :func:`label_free_step` at the same energy: corr, mean_pos, mean_neg, as
    ``_text``)."""
    corr = mean_ci(per_seed(result, "pull", "corr"))
    xp, xn = per_seed(result, "pull", "mean_pos"), per_seed(result, "pull", "mean_neg")
    pos, neg = mean_ci(xp), mean_ci(xn)
    free = {k: mean_ci([u[k] for u in result["label_free"]]) for k in ("corr", "mean_pos", "mean_neg")}
    e0, e1 = mean_ci(per_seed(result, "pull", "energy_before")), mean_ci(per_seed(result, "pull", "energy_after"))
    return dict(c1_pull_points=p.pull_points, c1_pull_pairs=p.pull_points * (p.pull_points - 1) // 2,
                c1_pull_tasks=p.pull_tasks, c1_pull_step=p.pull_step,
                c1_pull_corr=float(corr.mean), c1_pull_corr_ci=float(corr.half), c1_pull_corr_lo=float(corr.lo),
                c1_null_q95=null_q95(result), c1_null_n=len(result["null"]), c1_null_draws=p.null_draws,
                c1_pull_vs_null="above" if ok["pull/push above the shuffled-label null"] else "not above",
                c1_pull_mean_pos=float(pos.mean), c1_pull_mean_pos_ci=float(pos.half),
                c1_pos_moved=_moved(xp), c1_pull_mean_neg=float(neg.mean),
                c1_pull_mean_neg_ci=float(neg.half), c1_neg_moved=_moved(xn),
                c1_energy_before_text=pm(e0.mean, e0.half), c1_energy_after_text=pm(e1.mean, e1.half),
                c1_free_corr=float(free["corr"].mean), c1_free_corr_ci=float(free["corr"].half),
                c1_free_corr_lo=float(free["corr"].lo),
                c1_free_mean_pos=float(free["mean_pos"].mean), c1_free_mean_pos_ci=float(free["mean_pos"].half),
                c1_free_mean_neg=float(free["mean_neg"].mean), c1_free_mean_neg_ci=float(free["mean_neg"].half),
                c1_free_vs_null="above" if free["corr"].lo > null_q95(result) else "not above",
                c1_free_direction=("passes" if free["mean_pos"].lo > 0 > free["mean_neg"].hi else "fails"))


def select(summary: dict, *prefixes: str) -> dict:
    """The entries of ``summary`` whose names start with one of ``prefixes`` (what one section glues)."""
    return {k: v for k, v in summary.items() if k.startswith(prefixes)}
