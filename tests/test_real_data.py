"""mtrl_lib.real_data: the shipped digits (no network), the split and standardisation, the dichotomies, the
finite-data sampler inside the training loop, and the probe and metrics the chapter uses."""
import socket

import numpy as np
import pytest
import torch

from mtrl_lib import real_data as rd
from mtrl_lib.tasks import gaussian_, make_generator
from mtrl_lib.train import Round, TrainConfig, train


@pytest.fixture(scope="module")
def data():
    return rd.load_digits()


# ------------------------------------------------------------------------------------------------ data

def test_digits_load_from_the_package_without_network(monkeypatch):
    """The data ship inside scikit-learn: loading works with every socket refused."""
    def refuse(*args, **kwargs):
        raise OSError("network access attempted while loading the digits")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    rd.load_digits.cache_clear()
    rd.raw_digits.cache_clear()            # the file is read again, under the refusing sockets
    try:
        d = rd.load_digits()
    finally:
        rd.load_digits.cache_clear()
        rd.raw_digits.cache_clear()
    assert d.X_train.shape == (rd.N_TRAIN, rd.D) and d.X_test.shape == (1797 - rd.N_TRAIN, rd.D)


def test_split_is_the_files_order_and_standardised_on_the_training_split(data):
    from sklearn.datasets import load_digits

    raw = load_digits()
    assert np.array_equal(data.y_train, raw.target[:rd.N_TRAIN])
    assert np.array_equal(data.y_test, raw.target[rd.N_TRAIN:])
    assert data.d == rd.D == len(data.pixels) and 64 - data.d == 15
    assert np.allclose(data.X_train.mean(0), 0, atol=1e-12) and np.allclose(data.X_train.std(0), 1)
    # the pixels kept are exactly those with a training standard deviation of at least one grey level
    sd = raw.data[:rd.N_TRAIN].std(0)
    assert np.array_equal(data.pixels, np.flatnonzero(sd >= rd.MIN_PIXEL_SD))
    # the test split is transformed with the training statistics (not its own)
    Xte = raw.data[rd.N_TRAIN:][:, data.pixels]
    mu = raw.data[:rd.N_TRAIN][:, data.pixels].mean(0)
    assert np.allclose(data.X_test, (Xte - mu) / sd[data.pixels])
    assert set(np.unique(data.y_train)) == set(range(10)) == set(np.unique(data.y_test))


# ------------------------------------------------------------------------------------------- the tasks

def test_all_dichotomies_are_the_126_five_versus_five_splits_up_to_sign():
    S = rd.all_dichotomies()
    assert S.shape == (rd.N_DICHOTOMIES, 10)
    assert (S.sum(1) == 0).all() and (S[:, 0] == 1).all()
    both = np.concatenate([S, -S])
    assert len({tuple(s) for s in both}) == 2 * rd.N_DICHOTOMIES == 252   # C(10, 5): every split, once per sign


@pytest.mark.parametrize("seed", range(5))
def test_held_out_dichotomies_are_disjoint_from_the_pretraining_ones(seed):
    pool, down = rd.split_dichotomies(np.random.default_rng(seed), 100, 26)
    assert pool.shape == (100, 10) and down.shape == (26, 10)
    assert not rd.shares_dichotomy(pool, down)
    assert len({tuple(s) for s in np.concatenate([pool, down])}) == 126


def test_shares_dichotomy_sees_a_task_and_its_negation():
    S = rd.all_dichotomies()
    assert rd.shares_dichotomy(S[:3], S[2:5]) and rd.shares_dichotomy(S[:3], -S[1:2])
    assert not rd.shares_dichotomy(S[:3], S[3:6])


def test_too_many_dichotomies_are_refused():
    with pytest.raises(ValueError, match="at most 126 together"):
        rd.split_dichotomies(np.random.default_rng(0), 120, 10)


def test_a_dichotomy_is_a_linear_task_on_the_one_hot_class(data):
    S = rd.all_dichotomies()[[0, 17, 99]]
    tasks = rd.as_tasks(S, dtype=torch.float64)
    Z = rd.one_hot(data.y_test, dtype=torch.float64).expand(3, -1, -1)
    assert np.array_equal(tasks.clean_labels(Z).numpy(), rd.labels(S, data.y_test))


# ---------------------------------------------------------------------------------- the finite sampler

def test_finite_sampler_draws_images_of_the_set_with_their_classes(data):
    s = rd.FiniteSampler(data.X_train[:50], data.y_train[:50], dtype=torch.float64)
    X, Z = s(0, 2, 5, 40, make_generator(3))
    assert X.shape == (3, 40, rd.D) and Z.shape == (3, 40, 10)
    rows = torch.as_tensor(data.X_train[:50])
    idx = (X.reshape(-1, 1, rd.D) == rows.unsqueeze(0)).all(-1).float().argmax(1)
    assert torch.equal(X.reshape(-1, rd.D), rows[idx])                        # every image is one of the set
    assert torch.equal(Z.reshape(-1, 10).argmax(1), torch.as_tensor(data.y_train[:50])[idx])
    X2, _ = s(0, 2, 5, 40, make_generator(3))
    assert torch.equal(X, X2)                                                # reproducible from the generator


def _round(data, control="none", T=4, n=64):
    S = rd.all_dichotomies()[:T]
    cfg = TrainConfig(d=rd.D, r=9, m=8, T=T, n1=n, n2=n, rounds=1, dtype="float64", control=control)
    M = torch.as_tensor(rd.class_mean_basis(data))
    sampler = rd.FiniteSampler(data.X_train, data.y_train, dtype=torch.float64)
    return Round(cfg, M, rd.as_tasks(S, dtype=torch.float64), torch.zeros(8, dtype=torch.float64),
                 sampler=sampler), S


def test_training_round_labels_finite_samples_by_their_dichotomy(data):
    rnd, S = _round(data)
    rnd.WM[:, :8] = torch.randn(rd.D, 8, generator=make_generator(0), dtype=torch.float64)
    X, phi, Y = rnd._sample_features(1, 0, 4, 64, make_generator(1))
    rows = torch.as_tensor(data.X_train)
    cls = torch.as_tensor(data.y_train)[(X.reshape(-1, 1, rd.D) == rows).all(-1).float().argmax(1)]
    assert np.array_equal(Y.numpy(), np.take_along_axis(S, cls.view(4, 64).numpy(), axis=1))   # y_ti = s_t[c_ti]
    assert torch.allclose(phi, torch.relu(X @ rnd.WM[:, :8]))


def test_shuffled_label_control_applies_to_the_finite_sampler(data):
    rnd, S = _round(data, control="shuffled_labels", T=1, n=2000)
    X, _, Y = rnd._sample_features(1, 0, 1, 2000, make_generator(1))
    rows = torch.as_tensor(data.X_train)
    cls = torch.as_tensor(data.y_train)[(X.reshape(-1, 1, rd.D) == rows).all(-1).float().argmax(1)]
    true = torch.as_tensor(S[0])[cls]
    agree = (Y[0] == true).double().mean().item()
    assert abs(agree - 0.5) < 0.05           # 2000 fair coins: 0.05 is 4.5 standard deviations


def test_a_sampler_that_draws_the_gaussian_model_reproduces_the_gaussian_run():
    """The sampler path is the same algorithm: drawing x ~ N(0, I) and z = M^T x through it gives the weights
    of the library's own Gaussian run (float64, so no label sits within rounding of its boundary)."""
    cfg = TrainConfig(d=20, r=3, m=10, T=4, n1=15, n2=12, rounds=6, seed=5, dtype="float64",
                      control="swapped_heads")
    ref = train(cfg)

    def gaussian(phase, start, stop, n, generator):
        X = torch.empty(stop - start, n, cfg.d, dtype=torch.float64)
        gaussian_(X.view(-1, cfg.d), generator)          # the library's own Gaussian draw
        return X, X @ ref.M

    res = train(cfg, sampler=gaussian)
    assert torch.allclose(res.W, ref.W, rtol=0, atol=1e-12) and torch.allclose(res.A, ref.A, rtol=0, atol=1e-10)
    assert not torch.allclose(ref.W, ref.W0, atol=1e-3)            # the runs did move


def test_train_with_a_sampler_learns_a_dichotomy(data):
    """One dichotomy, trained on the finite set: the network's own predictions fit it on the test split."""
    S = rd.all_dichotomies()[:1]
    cfg = TrainConfig(d=rd.D, r=9, m=50, T=1, n1=64, n2=64, rounds=40, eta_a=10.0, eta_W=0.3, record_every=40)
    res = train(cfg, M=torch.as_tensor(rd.class_mean_basis(data)).float(), tasks=rd.as_tasks(S),
                sampler=rd.FiniteSampler(data.X_train, data.y_train))
    f = (torch.relu(torch.as_tensor(data.X_test).float() @ res.W.T) @ res.A[0]).numpy()
    acc = ((f >= 0) * 2 - 1 == rd.labels(S, data.y_test)[0]).mean()
    assert acc > 0.75      # this run reaches about 0.85; chance (and the same run on shuffled labels) about 0.5


# -------------------------------------------------------------------------- subspaces, probe, metrics

def test_class_mean_basis_is_orthonormal_and_holds_the_centred_class_means(data):
    U = rd.class_mean_basis(data)
    assert U.shape == (rd.D, 9) and np.allclose(U.T @ U, np.eye(9))
    means = np.stack([data.X_train[data.y_train == c].mean(0) for c in range(10)])
    centred = means - means.mean(0)
    assert np.allclose(U @ (U.T @ centred.T), centred.T)


def test_pca_weights_lie_in_the_principal_subspace(data):
    B = rd.principal_basis(data, 5)
    W = rd.pca_weights(B, 30, make_generator(0))
    assert W.shape == (30, rd.D) and torch.allclose(W.norm(dim=1), torch.ones(30, dtype=torch.float64))
    assert torch.allclose(W @ torch.as_tensor(B @ B.T), W)
    top = np.linalg.svd(data.X_train, full_matrices=False)[2][0]
    assert abs(abs(top @ B[:, 0]) - 1) < 1e-9


def test_probe_on_class_features_solves_every_dichotomy_and_fails_on_noise(data):
    S = rd.all_dichotomies()[:6]
    onehot = lambda y: torch.nn.functional.one_hot(torch.as_tensor(y), 10).double()
    acc = rd.probe(onehot(data.y_train[:60]), rd.labels(S, data.y_train[:60]), onehot(data.y_test),
                   rd.labels(S, data.y_test))
    assert acc.shape == (6,) and (acc == 1.0).all()
    noise = torch.randn(60, 10, generator=make_generator(0), dtype=torch.float64)
    test_noise = torch.randn(len(data.y_test), 10, generator=make_generator(1), dtype=torch.float64)
    acc = rd.probe(noise, rd.labels(S, data.y_train[:60]), test_noise, rd.labels(S, data.y_test))
    assert abs(acc.mean() - 0.5) < 0.06       # 6 x 599 test labels: 0.06 is about 6 standard deviations


def test_effective_dimension():
    g = make_generator(0)
    u = torch.randn(7, generator=g, dtype=torch.float64)
    assert rd.effective_dimension(torch.outer(torch.randn(12, generator=g, dtype=torch.float64), u)) == \
        pytest.approx(1.0)
    Q = torch.linalg.qr(torch.randn(20, 5, generator=g, dtype=torch.float64))[0]
    assert rd.effective_dimension(Q.T) == pytest.approx(5.0)
