"""Chapter 1 (claim C1): multi-task training after one head step is a pseudo-contrastive loss.

Three computations, all in the paper's notation (see :mod:`mtrl_lib.contrastive`):

1. gradient check: the W-gradient of the multi-task loss after one head step (autograd, float64) against
   the closed-form pseudo-contrastive gradient;
2. the task kernel: empirical kappa_T over many linear tasks against 1 - 2 theta / pi;
3. what the loss does: after one feature step on L(W), the change of feature similarity of pairs (x, x')
   against kappa(x, x') (pulled together when kappa > 0, pushed apart when kappa < 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .._validate import check_float, check_int
from ..contrastive import (angle, kappa_empirical, kappa_linear, one_step_heads,
                           pseudo_contrastive_grad, pseudo_contrastive_loss)
from ..losses import loss_value
from ..model import features, init_weights, predict
from ..tasks import draw_tasks, make_generator, random_subspace, sample
from ..train import feature_grad, head_step, resolve_device, stream_seed


@dataclass(frozen=True)
class Params:
    d: int = 100
    r: int = 5
    m: int = 200
    T: int = 50
    n1: int = 50
    n2: int = 50
    eta_a: float = 1.0
    bias_scale: float = 0.1
    kappa_tasks: int = 2000
    kappa_pairs: int = 400
    pull_tasks: int = 500
    pull_n: int = 200
    pull_points: int = 60
    pull_step: float = 20.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        check_int("d", self.d, 2, 100_000)
        check_int("r", self.r, 1, self.d)
        check_int("m", self.m, 1, 100_000)
        check_int("T", self.T, 1, 100_000)
        check_int("n1", self.n1, 1, 1_000_000)
        check_int("n2", self.n2, 1, 1_000_000)
        check_float("eta_a", self.eta_a, 0.0, lo_open=True)
        check_float("bias_scale", self.bias_scale, 0.0, 10.0)
        check_int("kappa_tasks", self.kappa_tasks, 1, 1_000_000)
        check_int("kappa_pairs", self.kappa_pairs, 2, 100_000)
        check_int("pull_tasks", self.pull_tasks, 1, 100_000)
        check_int("pull_n", self.pull_n, 1, 100_000)
        check_int("pull_points", self.pull_points, 2, 2_000)
        check_float("pull_step", self.pull_step, 0.0, lo_open=True)
        check_int("seed", self.seed, 0)
        resolve_device(self.device)


def gradient_check(p: Params) -> dict:
    """Relative error between the training gradient (autograd through the real model and loss, after a
    real head step) and the closed-form pseudo-contrastive gradient, in float64."""
    dev, dt = resolve_device(p.device), torch.float64
    g = make_generator(stream_seed(p.seed, "c1-grad"), dev)
    M = random_subspace(p.d, p.r, g, dt)
    tasks = draw_tasks("linear", p.T, p.r, g, dtype=dt)
    W0, b = init_weights(p.m, p.d, g, p.bias_scale, dt)
    X1, Y1 = sample(M, tasks, p.n1, g)
    X2, Y2 = sample(M, tasks, p.n2, g)

    # The training code path: one head step from zero with the correlation loss ...
    A = head_step(W0, b, torch.zeros(p.T, p.m, dtype=dt, device=dev), X1, Y1, "correlation", p.eta_a)
    # ... then the multi-task loss (1/T) sum_t L_t(W, a_t), differentiated by autograd at W = W0.
    W = W0.clone().requires_grad_(True)
    L = loss_value(predict(W, b, A, X2), Y2, "correlation").mean()
    (g_auto,) = torch.autograd.grad(L, W)

    g_closed = pseudo_contrastive_grad(W0, b, W0, X1, Y1, X2, Y2, p.eta_a)
    L_closed = pseudo_contrastive_loss(W0, b, W0, X1, Y1, X2, Y2, p.eta_a)
    g_train, _ = feature_grad(W0, b, A, X2, Y2, "correlation", p.T)   # m * grad (training convention)
    heads_closed = one_step_heads(W0, b, X1, Y1, p.eta_a)
    rel = lambda a, ref: float((a - ref).norm() / ref.norm())
    return {
        "grad_rel_err": rel(g_auto, g_closed),
        "train_grad_rel_err": rel(g_train / p.m, g_closed),
        "heads_rel_err": rel(A, heads_closed),
        "loss_rel_err": abs(float(L.detach()) - float(L_closed)) / abs(float(L_closed)),
        "grad_norm": float(g_closed.norm()),
    }


def kappa_check(p: Params, n_tasks: int | None = None, n_pairs: int | None = None, r: int | None = None) -> dict:
    """Empirical kappa over ``n_tasks`` linear tasks for ``n_pairs`` random pairs (z, z') in R^r, against
    the closed form. Monte-Carlo: kappa_T is a mean of T signs with variance 1 - kappa^2, so its standard
    error is sqrt((1 - kappa^2) / T) <= 1/sqrt(T), and the largest of P deviations is about
    sqrt(2 ln(2P) / T)."""
    n_tasks = n_tasks or p.kappa_tasks
    n_pairs = n_pairs or p.kappa_pairs
    r = r or p.r
    dev = resolve_device(p.device)
    g = make_generator(stream_seed(p.seed, "c1-kappa"), dev)
    tasks = draw_tasks("linear", n_tasks, r, g, dtype=torch.float64)
    Z1 = torch.randn(n_pairs, r, generator=g, device=dev, dtype=torch.float64)
    Z2 = torch.randn(n_pairs, r, generator=g, device=dev, dtype=torch.float64)
    emp = _pairwise_diag(Z1, Z2, tasks)
    theta = torch.diagonal(angle(Z1, Z2))
    theory = 1 - 2 * theta / math.pi
    dev_abs = (emp - theory).abs()
    return {
        "theta": theta.cpu().numpy(), "kappa_emp": emp.cpu().numpy(), "kappa_theory": theory.cpu().numpy(),
        "max_dev": float(dev_abs.max()), "rms_dev": float(dev_abs.pow(2).mean().sqrt()),
        "mc_se": 1 / math.sqrt(n_tasks), "mc_max": math.sqrt(2 * math.log(2 * n_pairs) / n_tasks),
        "n_tasks": n_tasks, "n_pairs": n_pairs,
    }


def _pairwise_diag(Z1, Z2, tasks):
    """kappa_T(z_i, z'_i) for matched pairs, the diagonal of :func:`kappa_empirical` without the full matrix."""
    return torch.stack([kappa_empirical(Z1[i:i + 1], Z2[i:i + 1], tasks)[0, 0] for i in range(Z1.shape[0])])


def pull_push(p: Params) -> dict:
    """One gradient step on the pseudo-contrastive loss, then, for every pair of ``pull_points`` probe
    inputs, the change of the cosine similarity of their features against kappa of the pair."""
    dev, dt = resolve_device(p.device), torch.float64
    g = make_generator(stream_seed(p.seed, "c1-pull"), dev)
    M = random_subspace(p.d, p.r, g, dt)
    tasks = draw_tasks("linear", p.pull_tasks, p.r, g, dtype=dt)
    W0, b = init_weights(p.m, p.d, g, p.bias_scale, dt)
    X1, Y1 = sample(M, tasks, p.pull_n, g)
    X2, Y2 = sample(M, tasks, p.pull_n, g)
    grad = pseudo_contrastive_grad(W0, b, W0, X1, Y1, X2, Y2, p.eta_a)
    W1 = W0 - p.pull_step * p.m * grad     # the training step convention (eta_W m grad)
    W1 = W1 / W1.norm(dim=1, keepdim=True)
    Xp = torch.randn(p.pull_points, p.d, generator=g, device=dev, dtype=dt)

    def cos(W):
        F = features(W, b, Xp)
        F = F / F.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return F @ F.T

    delta = cos(W1) - cos(W0)
    Z = Xp @ M
    kap = kappa_linear(Z, Z)
    iu = torch.triu_indices(p.pull_points, p.pull_points, offset=1)
    k, dl = kap[iu[0], iu[1]].cpu().numpy(), delta[iu[0], iu[1]].cpu().numpy()
    return {
        "kappa": k, "delta_cos": dl,
        "corr": float(np.corrcoef(k, dl)[0, 1]),
        "mean_pos": float(dl[k > 0.2].mean()), "mean_neg": float(dl[k < -0.2].mean()),
        "energy_before": float((W0 @ M).pow(2).sum() / W0.pow(2).sum()),
        "energy_after": float((W1 @ M).pow(2).sum() / W1.pow(2).sum()),
    }


def verdict(result: dict) -> str:
    """C1 holds when the training gradient equals the closed form to round-off, the empirical kernel is
    within twice the expected Monte-Carlo maximum of 1 - 2 theta / pi, and a step pulls kappa > 0 pairs
    together and pushes kappa < 0 pairs apart."""
    g, k, u = result["grad"], result["kappa"], result["pull"]
    failed = [name for name, ok in [
        ("gradient identity", g["grad_rel_err"] <= 1e-5),
        ("kernel shape", k["max_dev"] <= 2 * k["mc_max"]),
        ("pull/push", u["mean_pos"] > 0 > u["mean_neg"] and u["corr"] > 0),
    ] if not ok]
    return "reproduced" if not failed else "not reproduced (" + ", ".join(failed) + ")"


def run(p: Params) -> dict:
    """All of chapter 1's numbers, and the verdict on C1 they support."""
    result = {"grad": gradient_check(p), "kappa": kappa_check(p), "pull": pull_push(p)}
    result["verdict"] = verdict(result)
    return result
