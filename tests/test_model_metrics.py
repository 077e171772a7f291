import math

import torch

from mtrl_lib.metrics import (directions_recovered, energy, principal_cosines, subspace_error,
                              subspace_error_from_projection, top_subspace)
from mtrl_lib.model import features, init_weights, oracle_weights, predict
from mtrl_lib.tasks import random_subspace


def test_init_rows_on_sphere_and_shapes(gen):
    W, b = init_weights(64, 30, gen, bias_scale=0.1)
    assert W.shape == (64, 30) and b.shape == (64,)
    assert torch.allclose(W.norm(dim=1), torch.ones(64), atol=1e-6)
    X = torch.randn(3, 11, 30, generator=gen)
    assert features(W, b, X).shape == (3, 11, 64)
    assert (features(W, b, X) >= 0).all()
    A = torch.randn(3, 64, generator=gen)
    out = predict(W, b, A, X)
    assert out.shape == (3, 11)
    assert torch.allclose(out[1], features(W, b, X[1]) @ A[1] / 64, atol=1e-5)


def test_metrics_on_exact_and_orthogonal_subspaces(gen):
    M = random_subspace(40, 3, gen, torch.float64)
    W = oracle_weights(100, M, gen)
    assert subspace_error(W, M) < 1e-6
    assert abs(energy(W, M) - 1) < 1e-9
    assert directions_recovered(W, M) == 3
    # W inside the orthogonal complement: every direction missing.
    Q, _ = torch.linalg.qr(torch.cat([M, torch.randn(40, 37, dtype=torch.float64, generator=gen)], dim=1))
    W_perp = torch.randn(100, 37, dtype=torch.float64, generator=gen) @ Q[:, 3:].T
    assert abs(subspace_error(W_perp, M) - 1) < 1e-9
    assert energy(W_perp, M) < 1e-12
    assert directions_recovered(W_perp, M) == 0


def test_energy_of_random_W_is_about_r_over_d(gen):
    d, r = 200, 5
    M = random_subspace(d, r, gen, torch.float64)
    W, _ = init_weights(2000, d, gen, dtype=torch.float64)
    assert abs(energy(W, M) - r / d) < 0.15 * r / d


def test_subspace_error_matches_projection_definition(gen):
    M = random_subspace(25, 4, gen, torch.float64)
    W = torch.randn(60, 25, dtype=torch.float64, generator=gen) + 3 * torch.randn(60, 4, dtype=torch.float64, generator=gen) @ M.T
    U = top_subspace(W, 4)
    assert math.isclose(subspace_error(W, M), subspace_error_from_projection(U @ U.T, M), rel_tol=1e-9)
    c = principal_cosines(W, M)
    assert c.shape == (4,) and (c[:-1] >= c[1:]).all()
