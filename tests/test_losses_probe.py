import pytest
import torch

from mtrl_lib.losses import LOSSES, loss_grad, loss_value
from mtrl_lib.model import init_weights, oracle_weights
from mtrl_lib.probe import fit_logistic, fit_ridge, probe_accuracy
from mtrl_lib.tasks import draw_tasks, random_subspace


@pytest.mark.parametrize("kind", LOSSES)
def test_loss_grad_matches_autograd(kind, gen):
    f = (torch.randn(4, 9, dtype=torch.float64, generator=gen) * 2).requires_grad_(True)
    y = torch.sign(torch.randn(4, 9, dtype=torch.float64, generator=gen))
    (g,) = torch.autograd.grad(loss_value(f, y, kind).sum(), f)
    assert torch.allclose(g, loss_grad(f.detach(), y, kind), atol=1e-12)


def test_unknown_loss():
    with pytest.raises(ValueError, match="loss must be one of"):
        loss_grad(torch.zeros(1), torch.ones(1), "squared")


def test_ridge_matches_normal_equations(gen):
    P = torch.randn(2, 30, 8, dtype=torch.float64, generator=gen)
    y = torch.randn(2, 30, dtype=torch.float64, generator=gen)
    for n in (30, 5):  # primal (n > k) and dual (n <= k) branches
        w = fit_ridge(P[:, :n], y[:, :n], 0.1)
        G = P[:, :n].transpose(1, 2) @ P[:, :n] + n * 0.1 * torch.eye(8, dtype=torch.float64)
        ref = torch.linalg.solve(G, P[:, :n].transpose(1, 2) @ y[:, :n].unsqueeze(-1)).squeeze(-1)
        assert torch.allclose(w, ref, atol=1e-10)


def test_logistic_reaches_stationary_point(gen):
    P = torch.randn(3, 40, 6, dtype=torch.float64, generator=gen)
    y = torch.sign(torch.randn(3, 40, dtype=torch.float64, generator=gen))
    w = fit_logistic(P, y, 0.05).requires_grad_(True)
    obj = torch.nn.functional.softplus(-y * torch.einsum("bnk,bk->bn", P, w)).mean(1).sum() + 0.025 * w.pow(2).sum()
    (g,) = torch.autograd.grad(obj, w)
    assert g.abs().max() < 1e-8


@pytest.mark.parametrize("method", ["ridge", "logistic"])
def test_oracle_features_beat_random_features(gen, method):
    d, r, m = 200, 3, 100
    M = random_subspace(d, r, gen)
    tasks = draw_tasks("linear", 6, r, gen)
    W_rand, b = init_weights(m, d, gen)
    acc_oracle = probe_accuracy(oracle_weights(m, M, gen), b, M, tasks, 200, gen, method=method)
    acc_rand = probe_accuracy(W_rand, b, M, tasks, 200, gen, method=method)
    assert acc_oracle.shape == (6,)
    assert acc_oracle.mean() > 0.9
    assert acc_oracle.mean() > acc_rand.mean() + 0.1


@pytest.mark.parametrize("n, k", [(20, 31), (40, 11), (30, 30)])
def test_ridge_loo_picks_the_brute_force_leave_one_out_lam(n, k):
    from mtrl_lib.probe import fit_ridge, fit_ridge_loo

    g = torch.Generator().manual_seed(n * 100 + k)
    P = torch.randn(3, n, k, dtype=torch.float64, generator=g)
    y = torch.sign(torch.randn(3, n, dtype=torch.float64, generator=g))
    lams = (0.003, 0.03, 0.3, 3.0, 30.0)
    w, lam = fit_ridge_loo(P, y, lams)
    for b in range(3):
        errs = []
        for l in sorted(lams, reverse=True):       # refit without sample i, same penalty n * lam
            e = 0.0
            for i in range(n):
                keep = torch.arange(n) != i
                Pm, ym = P[b, keep], y[b, keep]
                wi = torch.linalg.solve(Pm.T @ Pm + n * l * torch.eye(k, dtype=torch.float64), Pm.T @ ym)
                e += float(y[b, i] - P[b, i] @ wi) ** 2
            errs.append(e / n)
        want = sorted(lams, reverse=True)[min(range(len(lams)), key=lambda j: (errs[j], j))]
        assert float(lam[b]) == want
        assert torch.allclose(w[b], fit_ridge(P[b:b + 1], y[b:b + 1], want)[0], atol=1e-10)


def test_probe_ridge_loo_returns_lam_and_validates(gen):
    from mtrl_lib.model import init_weights
    from mtrl_lib.probe import probe_accuracy

    M = random_subspace(12, 2, gen)
    tasks = draw_tasks("linear", 4, 2, gen)
    W, b = init_weights(30, 12, gen)
    acc, lam = probe_accuracy(W, b, M, tasks, 40, gen, n_test=200, method="ridge_loo", return_lam=True)
    assert acc.shape == (4,) and lam.shape == (4,) and bool(((acc >= 0) & (acc <= 1)).all())
    with pytest.raises(ValueError, match="n3 must be an integer >= 2"):
        probe_accuracy(W, b, M, tasks, 1, gen, method="ridge_loo")
