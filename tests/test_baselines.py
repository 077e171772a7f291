"""The baselines of the chapter "Baselines and rates" (mtrl_lib.baselines): known answers, the justification of
the squared second moment, the linear representation, and the replay of the network's samples."""
import math

import pytest
import torch

from mtrl_lib import baselines as bl
from mtrl_lib.metrics import subspace_error
from mtrl_lib.tasks import Tasks, draw_tasks, make_generator, random_subspace, sample
from mtrl_lib.train import TrainConfig, head_step, stream_seed, train


def _setup(family, T=10, d=30, r=3, seed=0):
    g = make_generator(seed)
    M = random_subspace(d, r, g)
    return M, draw_tasks(family, T, r, g)


def test_moments_equal_their_definition():
    # G = mean y x and S = mean y (x x^T - I), summed block by block, against the direct float64 formula.
    M, tasks = _setup("linear", T=4, d=7, r=2)
    acc = bl.Moments(tasks.T, 7, M.device)
    Xs, Ys = [], []
    g = make_generator(5)
    for k in (3, 5, 4):
        X, Y = sample(M, tasks, k, g)
        acc.add(X, Y)
        Xs.append(X.double()), Ys.append(Y.double())
    G, S = acc.result()
    X, Y = torch.cat(Xs, 1), torch.cat(Ys, 1)
    n = X.shape[1]
    G_ref = torch.einsum("tn,tnd->td", Y, X) / n
    S_ref = torch.einsum("tn,tnd,tne->tde", Y, X, X) / n - (Y.mean(1))[:, None, None] * torch.eye(7, dtype=X.dtype)
    assert torch.allclose(G, G_ref, atol=1e-6) and torch.allclose(S, S_ref, atol=1e-5)


def test_first_moment_mean_is_M_times_E_yz():
    # Known answer for linear tasks: E[y x] = sqrt(2/pi) M v_t. With n samples each entry has standard error
    # at most 1/sqrt(n); 5 standard errors over 10 x 30 entries fails with probability < 1e-4.
    M, tasks = _setup("linear")
    n = 20_000
    G, _ = bl.moments(M, tasks, [n], make_generator(1), second=False)
    expect = math.sqrt(2 / math.pi) * tasks.params.double() @ M.double().T
    assert (G - expect).abs().max() < 5 / math.sqrt(n)


def test_each_moment_estimator_sees_its_own_family_only():
    # The first moment recovers span(M) for linear tasks and sees nothing for quadratic ones (E[y x] = 0);
    # the second moment the reverse (E[y (x x^T - I)] = 0 for the odd linear label). A random 3-dim subspace of
    # R^30 has error above 0.9 with overwhelming probability.
    n = 20_000
    for family, good, bad in (("linear", bl.first_moment_subspace, bl.second_moment_subspace),
                              ("quadratic", bl.second_moment_subspace, bl.first_moment_subspace)):
        M, tasks = _setup(family)
        G, S = bl.moments(M, tasks, [n], make_generator(2))
        stat = {bl.first_moment_subspace: G, bl.second_moment_subspace: S}
        assert subspace_error(good(stat[good], 3).T, M) < 0.15, family
        assert subspace_error(bad(stat[bad], 3).T, M) > 0.9, family


def test_squares_survive_opposite_signs_where_the_sum_cancels():
    # The justification of sum_t S_t^2: with exact E[S_t] = M B_t M^T and tasks of opposite signs (B, -B),
    # sum_t S_t = 0 carries no information while sum_t S_t^2 = 2 M B^2 M^T gives span(M) exactly.
    g = make_generator(3)
    M = random_subspace(20, 3, g, torch.float64)
    B = torch.randn(3, 3, generator=g, dtype=torch.float64)
    B = B + B.T
    S = torch.stack([M @ B @ M.T, -(M @ B @ M.T)])
    assert S.sum(0).abs().max() < 1e-12
    assert subspace_error(bl.second_moment_subspace(S, 3).T, M) < 1e-6


def test_first_moment_subspace_exact_on_noiseless_rows():
    g = make_generator(4)
    M = random_subspace(25, 4, g, torch.float64)
    V = torch.randn(9, 4, generator=g, dtype=torch.float64)
    assert subspace_error(bl.first_moment_subspace(V @ M.T, 4).T, M) < 1e-6


def test_shuffled_labels_leave_the_moments_nothing():
    M, tasks = _setup("linear")
    G, _ = bl.moments(M, tasks, [5000], make_generator(6), second=False, control="shuffled_labels")
    assert subspace_error(bl.first_moment_subspace(G, 3).T, M) > 0.9


def test_linear_representation_learns_linear_tasks_only():
    # Same algorithm as the network with a linear predictor: it finds span(M) from E[y x] (linear tasks) and
    # nothing when that moment is zero (quadratic tasks). Rows stay orthonormal. Margins measured at this size:
    # linear about 0.1, quadratic about 1.
    for family, check in (("linear", lambda e: e < 0.35), ("quadratic", lambda e: e > 0.9)):
        M, tasks = _setup(family, T=12)
        B0 = torch.randn(3, 30, generator=make_generator(7))
        B, h = bl.train_linear_rep(M, tasks, B0, n1=50, n2=50, rounds=100, eta_a=200.0, eta_W=0.02,
                                   generator=make_generator(8), record_every=50)
        assert check(h["subspace_error"][-1]), (family, h["subspace_error"])
        assert torch.allclose(B @ B.T, torch.eye(3), atol=1e-5)
        assert h["round"] == [0, 50, 100]


def test_linear_representation_sees_the_blocks_in_the_networks_order():
    M, tasks = _setup("linear", T=3, d=8, r=2)
    seen = []
    bl.train_linear_rep(M, tasks, torch.randn(2, 8, generator=make_generator(9)), n1=4, n2=6, rounds=2,
                        eta_a=1.0, eta_W=0.1, generator=make_generator(10),
                        on_block=lambda X, Y: seen.append(X.shape[1]))
    assert seen == [4, 6, 4, 6]


@pytest.mark.parametrize("family", ["linear", "quadratic", "parity"])
def test_replayed_stream_is_the_networks_samples(family):
    # The chapter gives the baselines the network's own draws by replaying its "data" stream with
    # tasks.sample (n1 then n2 per round). Check on the heads, which train() returns: after two rounds with the
    # correlation loss, the heads are the sum of two head steps on the replayed blocks 1 and 3 (the feature
    # phase's block 2 must have been consumed in between, and the labels are those of the fused product).
    cfg = TrainConfig(d=12, r=3, m=16, T=4, family=family, n1=5, n2=7, rounds=2, eta_a=1.0, eta_W=0.0,
                      loss="correlation", seed=11, bias_scale=0.3)
    res = train(cfg)
    g = make_generator(stream_seed(cfg.seed, "data"))
    X1, Y1 = sample(res.M, res.tasks, cfg.n1, g)
    sample(res.M, res.tasks, cfg.n2, g)
    X3, Y3 = sample(res.M, res.tasks, cfg.n1, g)
    A = torch.zeros(cfg.T, cfg.m)
    A = head_step(res.W0, res.b, A, X1, Y1, "correlation", cfg.eta_a)
    A = head_step(res.W0, res.b, A, X3, Y3, "correlation", cfg.eta_a)
    assert torch.allclose(res.A, A, atol=1e-5)


def test_validation_messages():
    M, tasks = _setup("linear", T=2, d=5, r=2)
    with pytest.raises(ValueError, match="blocks must be a non-empty list"):
        bl.moments(M, tasks, [], make_generator(0))
    with pytest.raises(ValueError, match=r"blocks\[1\] must be an integer >= 1, got 0"):
        bl.moments(M, tasks, [3, 0], make_generator(0))
    with pytest.raises(ValueError, match="control must be one of"):
        bl.moments(M, tasks, [3], make_generator(0), control="none!")
    with pytest.raises(ValueError, match="rounds must be an integer >= 0"):
        bl.train_linear_rep(M, tasks, torch.randn(2, 5), n1=2, n2=2, rounds=-1, eta_a=1.0, eta_W=1.0,
                            generator=make_generator(0))
    with pytest.raises(ValueError, match="needs at least one block"):
        bl.Moments(2, 5, "cpu").result()


def test_swapped_heads_change_only_the_head_phase_labels():
    # Under "swapped_heads" the head phase of task t reads task t+1's labels (as in mtrl_lib.train); the
    # feature phase keeps each task's own.
    M, tasks = _setup("linear", T=3, d=8, r=2)
    blocks = []
    bl.train_linear_rep(M, tasks, torch.randn(2, 8, generator=make_generator(1)), n1=5, n2=5, rounds=1,
                        eta_a=1.0, eta_W=0.1, generator=make_generator(2), control="swapped_heads",
                        on_block=lambda X, Y: blocks.append((X, Y)))
    rolled = Tasks("linear", tasks.params.roll(-1, 0))
    (X1, Y1), (X2, Y2) = blocks
    assert torch.equal(Y1, rolled.clean_labels(X1 @ M)) and torch.equal(Y2, tasks.clean_labels(X2 @ M))
    assert not torch.equal(Y1, tasks.clean_labels(X1 @ M))
