import pytest
import torch

from mtrl_lib.tasks import Tasks, chunk_size, draw_tasks, make_generator, random_subspace, sample


def test_subspace_orthonormal_and_deterministic(gen):
    M = random_subspace(50, 4, gen, torch.float64)
    assert M.shape == (50, 4) and M.dtype == torch.float64
    assert torch.allclose(M.T @ M, torch.eye(4, dtype=torch.float64), atol=1e-12)
    M2 = random_subspace(50, 4, make_generator(1234), torch.float64)
    assert torch.equal(M, M2)


@pytest.mark.parametrize("family", ["linear", "quadratic", "parity"])
def test_sample_shapes_dtypes_and_balance(gen, family):
    M = random_subspace(30, 3, gen)
    tasks = draw_tasks(family, 7, 3, gen)
    X, Y = sample(M, tasks, 4000, gen)
    assert X.shape == (7, 4000, 30) and Y.shape == (7, 4000)
    assert X.dtype == torch.float32 and Y.dtype == torch.float32
    assert set(Y.unique().tolist()) <= {-1.0, 1.0}
    # Labels are close to balanced (linear and parity: exactly in law; quadratic: traceless A, roughly).
    assert Y.mean(dim=1).abs().max() < (0.45 if family == "quadratic" else 0.06)


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


def test_parity_tasks_orthonormal_triples(gen):
    tasks = draw_tasks("parity", 6, 5, gen, dtype=torch.float64)
    U = tasks.params
    assert U.shape == (6, 3, 5) and tasks.r == 5 and tasks.T == 6
    assert torch.allclose(U @ U.transpose(1, 2), torch.eye(3, dtype=U.dtype).expand(6, 3, 3), atol=1e-12)
    assert tasks[2:4].params.shape == (2, 3, 5)


def test_parity_label_flips_with_one_coordinate(gen):
    # f_t(z) = sign(<u1,z><u2,z><u3,z>): reflecting z across u_k^perp flips the label, for every k; a vector
    # orthogonal to the three directions does not change it.
    tasks = draw_tasks("parity", 3, 4, gen, dtype=torch.float64)
    Z = torch.randn(3, 500, 4, generator=gen, dtype=torch.float64)
    Y = tasks.clean_labels(Z)
    for k in range(3):
        u = tasks.params[:, k, :].unsqueeze(1)                       # (T, 1, r)
        Zk = Z - 2 * (Z * u).sum(-1, keepdim=True) * u
        assert torch.equal(tasks.clean_labels(Zk), -Y)
    P = torch.eye(4, dtype=Z.dtype) - tasks.params.transpose(1, 2) @ tasks.params       # (T, r, r)
    assert torch.equal(tasks.clean_labels(Z + 5 * Z @ P), Y)


def test_parity_has_no_first_or_second_moment(gen):
    # E[y x] = 0 and E[y (x x^T - I)] = 0; with n = 40000 each empirical entry has standard error <= 1/200
    # (second moment: sqrt(E[x_i^2 x_j^2]) / sqrt(n) <= sqrt(3)/200); 6 standard errors over all entries.
    M = random_subspace(8, 4, gen, torch.float64)
    tasks = draw_tasks("parity", 3, 4, gen, dtype=torch.float64)
    n = 40_000
    X, Y = sample(M, tasks, n, gen)
    G = torch.einsum("tn,tnd->td", Y, X) / n
    S = torch.einsum("tn,tnd,tne->tde", Y, X, X) / n - Y.mean(1)[:, None, None] * torch.eye(8, dtype=X.dtype)
    assert G.abs().max() < 6 / n ** 0.5
    assert S.abs().max() < 6 * 3 ** 0.5 / n ** 0.5
    # ... while the third moment along the task's own directions is not zero: E[y z1 z2 z3] = (2/pi)^(3/2).
    W = torch.einsum("tnd,dr,tkr->tnk", X, M, tasks.params)                # (T, n, 3) = <u_k, M^T x>
    third = (Y * W.prod(-1)).mean(1)
    assert torch.allclose(third, torch.full((3,), (2 / torch.pi) ** 1.5, dtype=X.dtype), atol=0.05)


@pytest.mark.parametrize("call, match", [
    (lambda g: draw_tasks("parity", 2, 2, g), "r must be >= 3 for the parity family"),
    (lambda g: Tasks("parity", torch.zeros(2, 2, 5)), r"shape \(T, 3, r\)"),
    (lambda g: Tasks("parity", torch.zeros(2, 5)), "must have 3 dims"),
])
def test_parity_validation(gen, call, match):
    with pytest.raises(ValueError, match=match):
        call(gen)


def test_train_config_accepts_parity_and_checks_r():
    from mtrl_lib.train import TrainConfig

    assert TrainConfig(d=10, r=3, family="parity").family == "parity"
    with pytest.raises(ValueError, match="r must be >= 3 for the parity family, got 2"):
        TrainConfig(d=10, r=2, family="parity")
    with pytest.raises(ValueError, match="r must be >= 2 for the quadratic family, got 1"):
        TrainConfig(d=10, r=1, family="quadratic")


def test_paper_families_unchanged():
    # FAMILIES stays the paper's two (chapters build per-family step sizes from it); ALL_FAMILIES adds parity.
    from mtrl_lib.tasks import ALL_FAMILIES, FAMILIES

    assert FAMILIES == ("linear", "quadratic") and ALL_FAMILIES == ("linear", "quadratic", "parity")


@pytest.mark.parametrize("rows, d", [(1, 3), (700, 100), (5000, 100), (37, 4000)])
def test_gaussian_blocks_do_not_depend_on_the_thread_count(rows, d):
    # The block generators are fixed by the key and the shape; threads only decide who draws which block.
    from mtrl_lib.tasks import gaussian_
    from mtrl_lib.threads import one_thread

    old = torch.get_num_threads()
    outs = []
    for threads in (1, 2, 3):
        torch.set_num_threads(threads)
        try:
            outs.append(gaussian_(torch.empty(rows, d), make_generator(7)))
        finally:
            torch.set_num_threads(old)
    with one_thread():
        outs.append(gaussian_(torch.empty(rows, d), make_generator(7)))
    assert all(torch.equal(outs[0], o) for o in outs[1:])
    # and the draw moves the parent stream by exactly one key, so consecutive draws differ
    g = make_generator(7)
    a, b = gaussian_(torch.empty(rows, d), g), gaussian_(torch.empty(rows, d), g)
    assert not torch.equal(a, b)


def test_gaussian_blocks_are_standard_normal_and_independent():
    from mtrl_lib.tasks import BLOCK_ELEMENTS, gaussian_

    X = gaussian_(torch.empty(4 * BLOCK_ELEMENTS // 100, 100, dtype=torch.float64), make_generator(3))
    assert abs(X.mean().item()) < 0.01 and abs(X.var().item() - 1) < 0.01
    # neighbouring blocks (655 rows each here) are not copies or shifts of one another
    per = BLOCK_ELEMENTS // 100
    blocks = X[:3 * per].reshape(3, per * 100)
    C = torch.corrcoef(blocks)
    assert (C - torch.eye(3, dtype=C.dtype)).abs().max() < 0.02


def test_gaussian_rejects_a_non_matrix():
    from mtrl_lib.tasks import gaussian_

    with pytest.raises(ValueError, match=r"X must be a contiguous \(rows, d\) tensor"):
        gaussian_(torch.empty(2, 3, 4), make_generator(0))


def _draw_in_child(q):  # runs in a forked child: the draw must not wait on the parent's pool threads
    from mtrl_lib.tasks import gaussian_

    X = torch.empty(5000, 100)
    gaussian_(X, make_generator(1))
    # NumPy, not torch: any OpenMP-parallel torch op hangs in a child forked after the parent used OpenMP
    # (PyTorch's own limitation, whatever this library does), and the test is about the draw's pool only
    q.put(float(X.numpy().std()))


@pytest.mark.skipif(torch.get_num_threads() < 2, reason="the hazard needs a draw on two or more threads")
def test_a_child_forked_after_a_draw_can_draw():
    import multiprocessing as mp

    from mtrl_lib.tasks import gaussian_

    gaussian_(torch.empty(5000, 100), make_generator(0))        # the parent's pool now has live threads
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    child = ctx.Process(target=_draw_in_child, args=(q,))
    child.start()
    child.join(timeout=60)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0 and abs(q.get(timeout=5) - 1.0) < 0.05
