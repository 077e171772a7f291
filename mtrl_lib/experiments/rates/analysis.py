"""The verdict's criteria, and the Holm family behind every direction word of the prose.

Verdict criteria are decided on 95% bounds over seeds (:func:`verdict`); each needs every one of its tests to
pass (an intersection test, at 5% without a multiple-comparison correction). The direction words of the prose
("significantly below", "falls significantly", "significantly steeper", ...) come from one family of comparisons
decided together by Holm's correction (:func:`comparisons`). "Equal" slopes are TOST-equivalent within the
book's one margin for an exponent against a sketch's (:data:`mtrl_lib.comparisons.SKETCH_SLOPE_MARGIN`).
"""
from __future__ import annotations

import math

import numpy as np

from ...comparisons import SKETCH_SLOPE_MARGIN, RankFamily, equivalent
from ...metrics import RECOVERED_COSINE
from ...stats import enough_seeds, mean_ci, undecided
from .setting import PAPER_FAMILIES, STEP_FACTORS, Params

#: the verdict's learning requirement: the upper 95% bound of an error stays below this level, the error
#: sqrt(1 - 0.9^2) of a W whose worst principal cosine with span(M) is 0.9 (the cosine at which the book counts a
#: direction as recovered; chapter 2's recovery level). A run whose final error is above it "failed".
LEARN_LEVEL = math.sqrt(1.0 - RECOVERED_COSINE ** 2)
#: the estimator built for each paper family (the one whose moment carries that family's signal), and the
#: family each moment estimator cannot see
MATCHED = {"linear": "moment1", "quadratic": "moment2"}
BLIND = {"moment1": "quadratic", "moment2": "linear"}
#: the methods in words, for the verdict and the prose
METHOD_WORDS = {"network": "the network", "moment1": "the first-moment estimator",
                "moment2": "the second-moment estimator", "linrep": "the linear representation",
                "random": "random features"}
#: the verdict's bound on what the network's generality may cost: on every paper family, the upper 95% bound of
#: the geometric-mean ratio err(network) / err(matched estimator) over seeds stays below RATIO_BOUND.
#: Not a blind choice: the bound entered with the criterion in commit 2703ee5 (3 Dec 2026), after this chapter's
#: paper-scale errors had been published (first in 154aeca, 29 Nov 2026: network 0.164 and second-moment
#: estimator 0.043 on quadratic tasks, a ratio near 3.8; again in 2bd3e65, 3 Dec 06:57, as 0.1595 and 0.0431).
#: It rests on the sample-cost argument alone: under the sketch err ~ sqrt(d / N) a factor 2 in error is a
#: factor 4 in samples, a constant price, where an estimator off its own family does not learn at any N.
RATIO_BOUND = 2.0
#: the book's one equivalence margin for a fitted exponent against a sketch's (see mtrl_lib.comparisons)
SLOPE_MARGIN = SKETCH_SLOPE_MARGIN
#: the sketch's slope of log error in each swept size (b-sketch: err ~ sqrt(d / (T n2)))
SKETCH_SLOPES = {"T": -0.5, "d": 0.5, "n": -0.5}
#: the sweeps' names in words
SWEEP_WORDS = {"T": "T", "d": "d", "n": "n2"}


def log_ratio(res: dict, family: str) -> np.ndarray:
    """Per seed, log(err(network) / err(matched estimator)) on ``family`` at the base setting."""
    e = res["base"][family]["err"]
    return np.log(e["network"]) - np.log(e[MATCHED[family]])


def ratio_ci(res: dict, family: str) -> tuple[float, float, float]:
    """(geometric mean, lower, upper 95% bound) over seeds of err(network) / err(matched estimator) on
    ``family``: exp of the t interval of the per-seed log ratios."""
    iv = mean_ci(log_ratio(res, family))
    return float(np.exp(iv.mean)), float(np.exp(iv.lo)), float(np.exp(iv.hi))


def failed(errors) -> np.ndarray:
    """Which runs failed: final error above :data:`LEARN_LEVEL` (no direction of span(M) missing would keep a
    run below it; a run that learns nothing sits near 1)."""
    return np.asarray(errors, float) > LEARN_LEVEL


def budget_ends(p: Params) -> tuple[int, int]:
    """Column indices in ``T_values`` of the smallest and largest T above r (the ends the budget tests compare)."""
    Ts = list(p.T_values)
    return Ts.index(p.T_above_r[0]), Ts.index(p.T_above_r[-1])


def slope_equal(x, target: float) -> bool:
    """TOST at 5%: the mean of the per-seed slopes ``x`` lies within :data:`SLOPE_MARGIN` of ``target``."""
    return equivalent(x, target, SLOPE_MARGIN)


def comparisons(res: dict, p: Params) -> RankFamily:
    """The chapter's Holm family: every comparison behind a glued direction word, decided together at 5%.
    Names:

    * ``budget_<w>_<family>`` (w in budget, pertask): final error at the largest minus the smallest T above r,
      paired, by Wilcoxon's signed-rank test (one failed run among many small changes would decide a t test);
    * ``vs_<method>_<family>``: the network's error minus the method's (moment1, moment2, linrep), paired;
    * ``acc_vs_matched_<family>``: the network's downstream accuracy (its own W) minus the matched estimator's;
    * ``acc_sub_vs_matched_<family>``: the same with the network's top-r subspace rebuilt as the estimators'
      are (m rows uniform in it), so that only the subspaces differ;
    * ``acc_sub_vs_raw_<family>``: the rebuilt network features' accuracy minus its own W's;
    * ``energy_vs_random_<case>`` (parity, parity_large): the network's energy in span(M) minus random features';
    * ``slope_<x>`` (T, d, n): the fitted slope minus the sketch's;
    * ``step_<x>_<factor>``: the end-to-end slope at eta_W times the factor minus the one at the base step;
    * ``escape_slope`` and ``escape_curv`` (when every seed escaped at every d; the curvature with >= 3 ds).

    Every one but the budget tests is a two-sided t test on the per-seed values. Verdict criteria are not in it."""
    fam = RankFamily()
    i0, i1 = budget_ends(p)
    for f in PAPER_FAMILIES:
        for w in ("budget", "pertask"):
            e = res["sweep"][f][w]
            fam.test_signed_rank(f"budget_{w}_{f}", e[:, i1] - e[:, i0])
        b = res["base"][f]
        for k in ("moment1", "moment2", "linrep"):
            fam.test(f"vs_{k}_{f}", b["err"]["network"] - b["err"][k])
        acc = b["acc"]
        fam.test(f"acc_vs_matched_{f}", acc["network"] - acc[MATCHED[f]])
        fam.test(f"acc_sub_vs_matched_{f}", acc["network_subspace"] - acc[MATCHED[f]])
        fam.test(f"acc_sub_vs_raw_{f}", acc["network_subspace"] - acc["network"])
    for case in ("parity", "parity_large"):
        e = res["base"][case]["energy"]
        fam.test(f"energy_vs_random_{case}", e["network"] - e["random"])
    r = res["rates"]
    for name, target in SKETCH_SLOPES.items():
        fam.test(f"slope_{name}", r[f"slope_{name}"], null=target)
        for fct in STEP_FACTORS:
            fam.test(f"step_{name}_{fct:g}", r["step_slope"][name][fct] - r["step_slope"][name][1.0])
    if r["n_escaped"] == len(p.seeds):
        fam.test("escape_slope", r["slope_escape"])
        if not np.isnan(r["curv_escape"]).any():
            fam.test("escape_curv", r["curv_escape"])
    return fam.decide()


def verdict(res: dict, p: Params) -> str:
    """The chapter's claim, decided on 95% t intervals over seeds (the bound of (ii), :data:`RATIO_BOUND`, was
    set after the chapter's paper-scale errors had been published: see there):

    (i) **the network learns** span(M) for both paper families: the upper bound of its subspace error at the
        base setting is below :data:`LEARN_LEVEL` = sqrt(1 - 0.9^2) = 0.436 (every principal cosine between
        span(M) and the learned subspace at least 0.9; a random W, and so an untrained or label-shuffled run,
        stays near 1);
    (ii) **one algorithm, at a bounded price**: on every paper family the estimator built for it
         (:data:`MATCHED`) learns it (upper bound of its error below LEARN_LEVEL: the ratio below compares with
         a working estimator, not a broken one), and the network's error is within a factor :data:`RATIO_BOUND`
         of that estimator's: the upper 95% bound of the geometric-mean ratio err(network) / err(matched) over
         seeds is below RATIO_BOUND; while each moment estimator fails off its own family (:data:`BLIND`): the
         lower bound of its error there is above LEARN_LEVEL (that it learns its own family, the first test,
         is the positive control of this one);
    (iii) **the rates have the sketch's signs**: the slope of log error is significantly negative in T and in
          n2 and significantly positive in d.

    "reproduced" when all hold; "partly reproduced (...)" when (i) holds and (ii) or (iii) fails; "not
    reproduced (...)" when (i) fails, naming every failed test. Fewer than 10 seeds decide nothing."""
    n = len(p.seeds)
    if not enough_seeds(n):
        return undecided(n)
    base, rates = res["base"], res["rates"]
    learn = [f"on {f} tasks the network's error is not below {LEARN_LEVEL:.3f}: upper bound "
             f"{float(mean_ci(base[f]['err']['network']).hi):.2f}"
             for f in PAPER_FAMILIES if not mean_ci(base[f]["err"]["network"]).hi < LEARN_LEVEL]
    other = []
    for f in PAPER_FAMILIES:
        k = MATCHED[f]
        hi = float(mean_ci(base[f]["err"][k]).hi)
        if not hi < LEARN_LEVEL:
            other.append(f"{METHOD_WORDS[k]} does not learn {f} tasks, its own family: upper bound {hi:.2f}")
        iv = ratio_ci(res, f)
        if not iv[2] < RATIO_BOUND:
            other.append(f"on {f} tasks the network is not within a factor {RATIO_BOUND:g} of "
                         f"{METHOD_WORDS[k]}: ratio {iv[0]:.2f}, upper bound {iv[2]:.2f}")
    for k, f in BLIND.items():
        if not mean_ci(base[f]["err"][k]).lo > LEARN_LEVEL:
            other.append(f"{METHOD_WORDS[k]} does not fail on {f} tasks")
    for name, sign in (("T", -1), ("n", -1), ("d", +1)):
        iv = mean_ci(rates[f"slope_{name}"])
        if not (iv.hi < 0 if sign < 0 else iv.lo > 0):
            other.append(f"the slope in {SWEEP_WORDS[name]} is not significantly "
                         f"{'negative' if sign < 0 else 'positive'}")
    if learn:
        return "not reproduced (" + "; ".join(learn + other) + ")"
    return "reproduced" if not other else "partly reproduced (" + "; ".join(other) + ")"
