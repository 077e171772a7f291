import pytest
import torch

from mtrl_lib.tasks import Tasks, chunk_size, draw_tasks, make_generator, random_subspace, sample


def test_subspace_orthonormal_and_deterministic(gen):
    M = random_subspace(50, 4, gen, torch.float64)
    assert M.shape == (50, 4) and M.dtype == torch.float64
    assert torch.allclose(M.T @ M, torch.eye(4, dtype=torch.float64), atol=1e-12)
    M2 = random_subspace(50, 4, make_generator(1234), torch.float64)
    assert torch.equal(M, M2)


@pytest.mark.parametrize("family", ["linear", "quadratic"])
def test_sample_shapes_dtypes_and_balance(gen, family):
    M = random_subspace(30, 3, gen)
    tasks = draw_tasks(family, 7, 3, gen)
    X, Y = sample(M, tasks, 4000, gen)
    assert X.shape == (7, 4000, 30) and Y.shape == (7, 4000)
    assert X.dtype == torch.float32 and Y.dtype == torch.float32
    assert set(Y.unique().tolist()) <= {-1.0, 1.0}
    # Labels are close to balanced (linear: exactly in law; quadratic: traceless A, roughly).
    assert Y.mean(dim=1).abs().max() < (0.06 if family == "linear" else 0.45)


def test_labels_depend_only_on_projection(gen):
    M = random_subspace(20, 2, gen, torch.float64)
    tasks = draw_tasks("linear", 5, 2, gen, dtype=torch.float64)
    X, Y = sample(M, tasks, 100, gen)
    # Adding a component orthogonal to span(M) leaves every label unchanged.
    noise = torch.randn(5, 100, 20, dtype=torch.float64, generator=gen)
    noise = noise - noise @ M @ M.T
    assert torch.equal(tasks.clean_labels((X + 10 * noise) @ M), Y)


def test_quadratic_labels_are_even_no_linear_signal(gen):
    M = random_subspace(10, 3, gen, torch.float64)
    tasks = draw_tasks("quadratic", 4, 3, gen, dtype=torch.float64)
    A = tasks.params
    assert torch.allclose(torch.diagonal(A, dim1=1, dim2=2).sum(-1), torch.zeros(4, dtype=A.dtype), atol=1e-12)
    assert torch.allclose(A, A.transpose(1, 2))
    X, Y = sample(M, tasks, 20000, gen)
    assert torch.equal(tasks.clean_labels(-X @ M), Y)             # even in x
    corr = (Y.unsqueeze(-1) * X).mean(dim=1)                       # E[y x] ~ 0
    assert corr.abs().max() < 0.05


def test_label_noise_flip_rate(gen):
    M = random_subspace(10, 2, gen)
    clean = draw_tasks("linear", 3, 2, gen)
    noisy = Tasks("linear", clean.params, noise=0.2)
    X, Y = sample(M, noisy, 20000, gen)
    flips = (Y != clean.clean_labels(X @ M)).float().mean()
    assert abs(float(flips) - 0.2) < 0.02


@pytest.mark.parametrize("kw, match", [
    ({"family": "cubic"}, "family must be one of"),
    ({"T": 0}, "T must be an integer >= 1"),
])
def test_draw_tasks_validation(gen, kw, match):
    args = {"family": "linear", "T": 3, "r": 2}
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        draw_tasks(args["family"], args["T"], args["r"], gen)


def test_r_greater_than_d_rejected(gen):
    with pytest.raises(ValueError, match=r"r must be an integer in \[1, 5\], got 6"):
        random_subspace(5, 6, gen)


def test_chunk_size():
    assert chunk_size(100, 50, 100, 10**9) == 100
    assert chunk_size(100, 50, 100, 50 * 100 * 7) == 7
    assert chunk_size(100, 50, 100, 1) == 1
