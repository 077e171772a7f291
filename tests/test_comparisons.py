"""Holm's correction, the t p-value and the equivalence test of mtrl_lib.comparisons."""
import numpy as np
import pytest
from scipy import stats

from mtrl_lib.comparisons import Family, equivalent, holm, t_pvalue


def test_t_pvalue_is_scipys_one_sample_test():
    x = np.random.default_rng(0).normal(0.3, 1.0, 12)
    assert t_pvalue(x, 0.1) == pytest.approx(stats.ttest_1samp(x, 0.1).pvalue, rel=1e-12)


def test_holm_steps_down_and_stops_at_the_first_failure():
    # sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2: the last two stay, although 0.03 < 0.05
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == [True, False, False, True]
    assert holm([0.2, 0.01]).tolist() == [False, True]
    assert not holm([0.06]).any()


def test_holm_keeps_the_family_wise_error_rate_under_the_null():
    rng = np.random.default_rng(1)
    any_false = 0
    for _ in range(2000):
        p = [t_pvalue(rng.normal(0, 1, 10)) for _ in range(10)]
        any_false += holm(p).any()
    uncorrected = 1 - 0.95 ** 10
    assert any_false / 2000 < 0.07 < uncorrected       # about 0.05 with the correction, 0.40 without


def test_a_family_decides_direction_and_refuses_reads_before_deciding():
    fam = Family()
    fam.test("up", [1.0, 1.1, 0.9, 1.2, 1.0], side="above")
    fam.test("up_but_asked_below", [1.0, 1.1, 0.9, 1.2, 1.0], side="below")
    fam.test("noise", [0.1, -0.1, 0.2, 0.0, -0.2], side="either")
    with pytest.raises(RuntimeError):
        fam["up"]
    fam.decide()
    assert (fam["up"], fam["up_but_asked_below"], fam["noise"], len(fam)) == (True, False, False, 3)


def test_equivalence_needs_a_narrow_interval_not_just_one_that_contains_the_target():
    rng = np.random.default_rng(2)
    assert equivalent(rng.normal(1.0, 0.01, 20), 1.0, 0.02)
    wide = rng.normal(1.0, 1.0, 10)                     # its interval contains 1, and says nothing
    assert not equivalent(wide, 1.0, 0.02)
    assert not equivalent(rng.normal(1.05, 0.01, 20), 1.0, 0.02)


def test_signed_rank_is_not_decided_by_one_outlier():
    """Nineteen small drops of one sign and one large failed run: the t test follows the outlier (p > 0.01), the
    signed-rank test sees twenty drops of one sign (p = 2 / 2^20, exact); the pseudo-median ignores the outlier."""
    from mtrl_lib.comparisons import RankFamily, pseudo_median, signed_rank_pvalue

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(0.003, 0.06, 19), [0.37]])
    assert t_pvalue(x) > 0.01
    assert signed_rank_pvalue(x) == pytest.approx(2 / 2 ** 20)
    assert 0.003 < pseudo_median(x) < 0.04 < x.mean()
    assert pseudo_median([1.0, 2.0, 9.0]) == pytest.approx(3.5)           # median of 1, 1.5, 2, 5, 5.5, 9
    assert signed_rank_pvalue([0.0, 0.0, 1.0]) == 1.0 and signed_rank_pvalue(x, null=1.0) == pytest.approx(2 / 2 ** 20)
    fam = RankFamily()
    fam.test_signed_rank("drop", -x)
    fam.test_signed_rank("drop_above", -x, side="above")
    fam.test("t", x)
    fam.decide()
    assert (fam["drop"], fam["drop_above"], len(fam)) == (True, False, 3)
    assert fam.pvalue("drop") == pytest.approx(2 / 2 ** 20)
    fam2 = RankFamily()
    fam2.test("a", x)
    with pytest.raises(ValueError, match="already in the family"):
        fam2.test_signed_rank("a", x)
    with pytest.raises(RuntimeError, match="already decided"):
        fam.test_signed_rank("late", x)
