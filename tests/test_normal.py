"""The compiled Gaussian draw, ``mtrl_lib._normal``: bit-for-bit against its NumPy restatement, the
distribution it claims, and its input checks. (How gaussian_ splits a draw into blocks: tests/test_tasks.py.)"""
import hashlib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mtrl_lib import _normal
from normal_reference import reference_fill


def _filled(n, seed, dtype=np.float64):
    a = np.empty(n, dtype)
    _normal.fill(a, seed)
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 3, 15, 16, 17, 127, 128, 129, 1000, 65_500])
@pytest.mark.parametrize("seed", [0, 1, 12_345_678_901_234_567, 2**64 - 1])
def test_the_build_agrees_with_the_numpy_restatement_bit_for_bit(dtype, n, seed):
    # Any fused multiply-add, reassociation or faster libm in the build (a flag in setup.py, another compiler)
    # breaks this: the C code's values must not depend on how it was compiled or on the CPU.
    a, b = _filled(n, seed, dtype), reference_fill(n, seed, dtype)
    assert a.tobytes() == b.tobytes()


def test_the_restatement_is_box_muller_with_accurate_functions():
    # The oracle itself against NumPy's log, cos and sin: the series are accurate to a few ulps, so the
    # draw is Box-Muller, not an approximation of it.
    import normal_reference as nr

    n = 200_000
    r = nr._words(5, n // 2)
    u1 = ((r >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32
    u2 = (r & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
    z = np.empty(n)
    R = np.sqrt(-2 * np.log(u1))
    z[0::2], z[1::2] = R * np.cos(2 * np.pi * u2), R * np.sin(2 * np.pi * u2)
    assert np.abs(reference_fill(n, 5) - z).max() < 1e-13


def test_the_draw_is_standard_normal():
    # One fixed seed: the test is deterministic, and each tolerance is about 5 standard errors at this n, so
    # a generator with the wrong scale, a biased angle or a bad tail fails it.
    n = 4_000_000
    z = _filled(n, 2024)
    se = 1 / np.sqrt(n)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1) < 5 * np.sqrt(2) * se
    assert abs(stats.skew(z)) < 5 * np.sqrt(6) * se
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24) * se
    assert stats.kstest(z[:1_000_000], "norm").pvalue > 1e-3
    for t in (1.0, 2.0, 3.0, 4.0):                                  # tails, two-sided
        p = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(z) > t) - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_pairs_and_neighbours_are_independent():
    # Box-Muller's two outputs share u1 and u2: their correlation, and that of their squares, is zero only if
    # the transform is right; neighbours in a stream and across the eight streams are uncorrelated too.
    n = 2_000_000
    z = _filled(n, 77)
    lim = 5 / np.sqrt(n // 2)
    a, b = z[0::2], z[1::2]
    assert abs(np.corrcoef(a, b)[0, 1]) < lim
    assert abs(np.corrcoef(a**2, b**2)[0, 1]) < lim
    for lag in (1, 2, 16, 17):                                      # 16 values = one word of each of 8 streams
        assert abs(np.corrcoef(z[:-lag], z[lag:])[0, 1]) < 5 / np.sqrt(n - lag)
    # other seeds give unrelated values, nearby seeds included
    c = _filled(n, 78)
    assert abs(np.corrcoef(z, c)[0, 1]) < 5 / np.sqrt(n)


def test_a_prefix_is_the_start_of_a_longer_draw():
    # The values at a position depend on the seed and the position only (an odd n drops the last sine).
    long = _filled(1001, 9)
    for n in (1, 2, 7, 128, 999):
        assert _filled(n, 9).tobytes() == long[:n].tobytes()


def test_fill_refuses_what_it_cannot_fill():
    with pytest.raises(TypeError, match="float32 or float64"):
        _normal.fill(np.empty(4, np.int64), 0)
    with pytest.raises((TypeError, ValueError, BufferError)):
        _normal.fill(np.empty((4, 4))[:, 0], 0)                   # not contiguous
    ro = np.empty(4)
    ro.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        _normal.fill(ro, 0)


def test_the_build_is_of_the_current_source_and_a_stale_one_is_refused(tmp_path):
    from mtrl_lib import tasks

    source = Path(tasks.__file__).with_name("_normal.c")
    assert _normal.source_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    edited = tmp_path / "_normal.c"
    edited.write_bytes(source.read_bytes() + b"\n/* an edit */\n")
    with pytest.raises(ImportError, match="built from another version of _normal.c: run `make install`"):
        tasks._check_build(edited, _normal.source_sha256)


def test_the_c_source_keys_the_units_and_the_chapters_that_draw(tmp_path, monkeypatch):
    # An edit to _normal.c changes the values of every training unit: it must change their store keys, the
    # science digest that Dask workers are checked against, and the chapters' execution cache keys.
    from mtrl_lib.book import runner, store

    from mtrl_lib.book import codekeys

    items = codekeys.closure("mtrl_lib.train:trajectory_unit", store.ROOT).items
    assert "c:mtrl_lib/_normal.c" in items and "mtrl_lib.tasks:draw_tasks" in items
    lib = tmp_path / "mtrl_lib"
    lib.mkdir()
    (lib / "tasks.py").write_text("x = 1\n")
    (lib / "_normal.c").write_text("/* one */\n")
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    before = runner._source_digest()
    (lib / "_normal.c").write_text("/* two */\n")
    assert runner._source_digest() != before
