import math

import torch

from mtrl_lib.contrastive import (angle, kappa_empirical, kappa_linear, kappa_matched, one_step_heads,
                                  pseudo_contrastive_grad, pseudo_contrastive_loss)
from mtrl_lib.model import init_weights
from mtrl_lib.tasks import draw_tasks, random_subspace, sample


def test_closed_form_gradient_matches_autograd_of_the_loss(gen):
    M = random_subspace(15, 3, gen, torch.float64)
    tasks = draw_tasks("linear", 5, 3, gen, dtype=torch.float64)
    W0, b = init_weights(20, 15, gen, 0.3, torch.float64)
    W = W0 + 0.1 * torch.randn(20, 15, dtype=torch.float64, generator=gen)
    X1, Y1 = sample(M, tasks, 8, gen)
    X2, Y2 = sample(M, tasks, 9, gen)
    Wr = W.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(pseudo_contrastive_loss(Wr, b, W0, X1, Y1, X2, Y2, 0.5), Wr)
    assert torch.allclose(g, pseudo_contrastive_grad(W, b, W0, X1, Y1, X2, Y2, 0.5), atol=1e-14)
    assert one_step_heads(W0, b, X1, Y1, 0.5).shape == (5, 20)


def test_empirical_kernel_converges_to_closed_form(gen):
    tasks = draw_tasks("linear", 40000, 4, gen, dtype=torch.float64)
    Z1 = torch.randn(30, 4, dtype=torch.float64, generator=gen)
    Z2 = torch.randn(30, 4, dtype=torch.float64, generator=gen)
    emp = kappa_empirical(Z1, Z2, tasks)
    assert emp.shape == (30, 30)
    assert (emp - kappa_linear(Z1, Z2)).abs().max() < 5 * math.sqrt(2 * math.log(1800) / 40000)
    assert torch.allclose(torch.diagonal(angle(Z1, Z1)), torch.zeros(30, dtype=torch.float64), atol=1e-6)


def test_single_task_kernel_is_rank_one(gen):
    tasks = draw_tasks("linear", 1, 4, gen, dtype=torch.float64)
    Z = torch.randn(50, 4, dtype=torch.float64, generator=gen)
    assert torch.linalg.matrix_rank(kappa_empirical(Z, Z, tasks)) == 1


def test_matched_kernel_is_the_diagonal_of_the_full_kernel(gen):
    tasks = draw_tasks("linear", 300, 4, gen, dtype=torch.float64)
    partner = draw_tasks("linear", 300, 4, gen, dtype=torch.float64)
    Z1 = torch.randn(20, 4, dtype=torch.float64, generator=gen)
    Z2 = torch.randn(20, 4, dtype=torch.float64, generator=gen)
    assert torch.equal(kappa_matched(Z1, Z2, tasks), torch.diagonal(kappa_empirical(Z1, Z2, tasks)))
    cross = (tasks.clean_labels(Z1.expand(300, 20, 4)) * partner.clean_labels(Z2.expand(300, 20, 4))).mean(0)
    assert torch.allclose(kappa_matched(Z1, Z2, tasks, partner), cross.double())
