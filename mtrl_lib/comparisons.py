"""Families of comparisons over seeds: Holm's correction, and equivalence tests.

:mod:`mtrl_lib.stats` decides one comparison at a time, at 5%. A chapter that glues twenty "significantly"
words from twenty such tests expects one false one by chance. Here a chapter collects the comparisons behind its
glued words into one family and decides them together (:class:`Family`), with Holm's step-down correction,
which keeps the chance of *any* false "significantly" in the family at 5% (family-wise error rate) under any
dependence between the tests:

    sort the m p-values p_(1) <= ... <= p_(m); reject H_(1..k) where k is the largest index with
    p_(j) <= alpha / (m - j + 1) for every j <= k.                               (Holm 1979)

Each p-value is a two-sided one-sample t test of the per-seed values (or paired differences) against a null
value, the same t distribution as the intervals of :mod:`mtrl_lib.stats`.

"Equal" is not "not significantly different": an interval that contains a value says only that the data cannot
tell them apart. :func:`equivalent` is the two one-sided tests (TOST) at 5%: the mean lies within ``margin`` of
the target when the 90% t interval lies inside ``target +- margin``. A chapter that writes "equal" states its
margin; otherwise it writes "not distinguishable from".

Verdict criteria are not in a family: a verdict that needs every one of its tests to pass is an intersection
test, already at 5% or stricter without a correction.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as _st

from .stats import mean_ci

ALPHA = 0.05

#: The one equivalence margin of the book for a fitted rate exponent against a sketch's (for example the
#: slope of log error against log n, against the sketch's -1/2). Our convention, not the paper's: +-0.10 keeps
#: the nearest exponents that rate arguments commonly give, 1/3 and 2/3 (0.17 away from 1/2), outside the
#: margin, while allowing a fit over a few decades to be off by a fifth of the sketch's exponent. Every chapter
#: that calls a fitted slope "equivalent" to a sketch's uses this margin.
SKETCH_SLOPE_MARGIN = 0.10


def t_pvalue(x, null: float = 0.0) -> float:
    """Two-sided p-value of the one-sample t test of mean(x) = ``null``; ``x: (n_seeds,)``.

    A sample with zero spread gives 0 when its mean differs from ``null`` and 1 when it equals it."""
    x = np.asarray(x, dtype=float).ravel()
    if x.size < 2:
        return 1.0
    sd = x.std(ddof=1)
    diff = x.mean() - null
    if sd == 0:
        return 0.0 if diff != 0 else 1.0
    t = diff / (sd / np.sqrt(x.size))
    return float(2 * _st.t.sf(abs(t), x.size - 1))


def holm(pvalues, alpha: float = ALPHA) -> np.ndarray:
    """Holm's step-down decisions for ``pvalues: (m,)``: a boolean array, True where the null is rejected."""
    p = np.asarray(pvalues, dtype=float).ravel()
    reject = np.zeros(p.size, dtype=bool)
    for j, i in enumerate(np.argsort(p, kind="stable")):
        if p[i] > alpha / (p.size - j):
            break
        reject[i] = True
    return reject


def equivalent(x, target: float, margin: float) -> bool:
    """TOST at 5%: the 90% t interval of mean(x) lies inside ``[target - margin, target + margin]``."""
    iv = mean_ci(x, level=0.90)
    return bool(iv.lo > target - margin and iv.hi < target + margin)


class Family:
    """The comparisons behind one chapter's glued "significantly" words, decided together by :func:`holm`.

    Usage: ``fam.test(name, x, null=0.0, side="below")`` for each comparison (``x``: per-seed values or paired
    differences), then ``fam.decide()``; ``fam[name]`` is then True when the comparison is significant in the
    stated direction ("below": mean < null, "above": mean > null, "either") after the correction. ``len(fam)``
    is the family's size, which the chapter glues once."""

    def __init__(self, alpha: float = ALPHA):
        self.alpha = alpha
        self._tests: dict[str, tuple[float, bool]] = {}
        self._decided: dict[str, bool] | None = None

    def test(self, name: str, x, null: float = 0.0, side: str = "either") -> None:
        if self._decided is not None:
            raise RuntimeError("the family is already decided; add every comparison before decide()")
        if name in self._tests:
            raise ValueError(f"comparison {name!r} is already in the family")
        x = np.asarray(x, dtype=float).ravel()
        mean = x.mean() - null
        right = {"below": mean < 0, "above": mean > 0, "either": mean != 0}[side]
        self._tests[name] = (t_pvalue(x, null), bool(right))

    def decide(self) -> "Family":
        names = list(self._tests)
        rejected = holm([self._tests[n][0] for n in names], self.alpha)
        self._decided = {n: bool(r and self._tests[n][1]) for n, r in zip(names, rejected)}
        return self

    def __getitem__(self, name: str) -> bool:
        if self._decided is None:
            raise RuntimeError("decide() the family before reading a decision")
        return self._decided[name]

    def __len__(self) -> int:
        return len(self._tests)

    def pvalue(self, name: str) -> float:
        return self._tests[name][0]


# ------------------------------------------------------------------ heavy-tailed per-seed values (ranks)

def signed_rank_pvalue(x, null: float = 0.0) -> float:
    """Two-sided p-value of Wilcoxon's signed-rank test that the per-seed values ``x`` are symmetric about
    ``null`` (Wilcoxon 1945): the exact distribution of the rank sum where scipy has it (up to 50 values with no
    ties and no zero), its normal approximation otherwise; values equal to ``null`` are dropped.

    It is the test to use where one seed's value can be far from the others (a run that failed among runs
    that changed a little): a t test's mean and standard deviation follow that one value, the ranks do not.
    With n values the smallest two-sided p-value is 2 / 2^n (0.002 with 10 seeds, 2e-6 with 20). Returns 1 when
    fewer than two values differ from ``null``."""
    from scipy.stats import wilcoxon

    diff = np.asarray(x, dtype=float).ravel() - null
    diff = diff[diff != 0]
    if diff.size < 2:
        return 1.0
    return float(wilcoxon(diff, alternative="two-sided").pvalue)


def pseudo_median(x) -> float:
    """The Hodges-Lehmann estimate of the centre of ``x``: the median of the pairwise means (x_i + x_j) / 2,
    i <= j. It is the estimate that goes with the signed-rank test (its sign is the side the test rejects on)."""
    x = np.asarray(x, dtype=float).ravel()
    i, j = np.triu_indices(x.size)
    return float(np.median((x[i] + x[j]) / 2))


class RankFamily(Family):
    """A :class:`Family` that also takes comparisons decided by Wilcoxon's signed-rank test
    (:meth:`test_signed_rank`), for per-seed differences with heavy tails. Holm's correction treats every
    p-value of the family alike, whichever test gave it."""

    def test_signed_rank(self, name: str, x, null: float = 0.0, side: str = "either") -> None:
        """Add comparison ``name``: :func:`signed_rank_pvalue` of ``x`` against ``null``; its direction is the
        sign of :func:`pseudo_median` of ``x`` minus ``null`` (``side`` as in :meth:`Family.test`)."""
        if self._decided is not None:
            raise RuntimeError("the family is already decided; add every comparison before decide()")
        if name in self._tests:
            raise ValueError(f"comparison {name!r} is already in the family")
        centre = pseudo_median(x) - null
        right = {"below": centre < 0, "above": centre > 0, "either": centre != 0}[side]
        self._tests[name] = (signed_rank_pvalue(x, null), bool(right))


def add_pvalue(family: Family, name: str, pvalue: float, right: bool) -> None:
    """Add to ``family`` a comparison decided by another test's two-sided p-value (a rank correlation, say),
    so that Holm's correction covers it with the family's t tests. ``right``: the estimate lies in the stated
    direction (as :meth:`Family.test` computes it from the mean). A NaN p-value (an undefined statistic,
    such as a rank correlation of a constant) counts as 1: nothing is rejected."""
    if family._decided is not None:
        raise RuntimeError("the family is already decided; add every comparison before decide()")
    if name in family._tests:
        raise ValueError(f"comparison {name!r} is already in the family")
    p = float(pvalue)
    family._tests[name] = (1.0 if not np.isfinite(p) else p, bool(right))


def changed_by_correction(family: Family) -> list[str]:
    """The comparisons of a decided ``family`` whose word Holm's correction changes: significant in the stated
    direction when taken alone at the family's level, not in the family (a chapter says which words these are)."""
    return [name for name, (p, right) in family._tests.items() if (p < family.alpha and right) != family[name]]
