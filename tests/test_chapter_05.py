"""Chapter 5 (C6): adapted vs frozen vs zero heads, both tuned in the chapter by one rule, and a head-norm sweep.

The claim tests and the negative controls run the chapter's own ``run``/``verdict``/``summary`` at a small size
(d = 40, r = 3, m = 60, T = 20, 10 seeds; about 35 CPU seconds per experiment). At that size the two arms' tuned
steps differ on ``quadratic`` (0.2 adapted, 0.1 frozen), so the frozen runs at the adapted step are exercised. The verdict is decided on 95%
t intervals, so these tests inherit its margins; where a test's outcome depends on its size it says so, with
the values measured at the small size and at the book's quick size.
"""
import dataclasses
import json
import math
import re
import subprocess
import sys

import nbformat
import numpy as np
import pytest
import torch

from mtrl_lib import stats
from mtrl_lib.book.chapters import get_chapter
from mtrl_lib.experiments import head_adaptation as ch
from mtrl_lib import comparisons
from mtrl_lib.experiments import head_tuning, step_sizes
from mtrl_lib.train import DivergenceError, TrainConfig, init_heads, train
from mtrl_lib.book.inline import quoted_names

INTRO_NAMES = ("c6_verdict", "c6_verdict_short", "c6_err_adapted_linear_text", "c6_err_frozen_linear_text",
               "c6_err_zero_linear_text", "c6_n_seeds")
SMALL = dict(d=40, r=3, m=60, T=20, rounds=60, rounds_quadratic=80, norm_scales=(0.01, 1.0, 10.0), anatomy_n=200,
             seeds=tuple(range(10)))


@pytest.fixture(scope="module")
def small(experiment):
    p = ch.Params(**SMALL)
    res = ch.run(p)
    return p, res, ch.summary(res, p)


def _notebook():
    return nbformat.read(get_chapter("05_head_adaptation").notebook, as_version=4)


# ----------------------------------------------------------------------------------------------- the claim

def test_claim_adapted_heads_learn_and_zero_heads_do_not(small):
    p, res, _ = small
    for f in p.families:
        # measured at this size: adapted 0.076 +- 0.006 (linear), 0.168 +- 0.012 (quadratic); zero 0.998 +- 0.002
        assert stats.upper(res[f]["adapted"]["final_error"]) < ch.ERR_LEVEL, f
        assert stats.lower(res[f]["zero"]["final_error"]) > ch.ZERO_LEVEL, f
    assert ch.verdict_short(res["verdict"]) != "not reproduced", res["verdict"]   # criteria 1-3 hold


def test_claim_frozen_heads_with_a_tuned_step_learn(small):
    """The chapter's finding on frozen heads with their feature step tuned at each head size: they learn at the
    matched norm (small size: 0.117 +- 0.017 linear, 0.170 +- 0.020 quadratic), so criterion 4 fails. With
    eta_W tuned per size they also learn at 0.01x and 10x at this size, which is not asserted (it depends on
    the size and the grid); the verdict follows where the sweep fails: "not reproduced as the book reads C6"
    when no size of any family is shown to fail, else "partly reproduced"."""
    p, res, s = small
    sws = [ch.sweep_window(res[f]["sweep"]) for f in p.families]
    for f, sw in zip(p.families, sws):
        assert 1.0 in sw["learns"], (f, sw)
    want = "partly reproduced" if any(sw["fails"] for sw in sws) else ch.NOT_AS_READ
    assert ch.verdict_short(res["verdict"]) == want, res["verdict"]
    assert "frozen random heads" in res["verdict"]


def test_claim_words_are_decided_in_one_holm_family(small):
    """Every glued direction word follows the Holm-corrected decision of its comparison and the sign of the
    mean difference; the family holds every comparison (2 per family + the resolved anatomy ones)."""
    p, res, s = small
    fam = ch.comparison_family(res, p)
    assert s["c6_family_size"] == len(fam) >= 4 * len(p.families)
    for f in p.families:
        R = res[f]
        diff = R["frozen"]["final_error"] - R["adapted"]["final_error"]
        want = ("not distinguishable from" if not fam[f"gap_{f}"] else
                "significantly lower than" if diff.mean() > 0 else "significantly higher than")
        assert s[f"c6_gap_word_{f}"] == want
        assert math.isclose(s[f"c6_gap_{f}"], float(diff.mean()))
        assert math.isclose(s[f"c6_gap_{f}_ci"], float(stats.mean_ci(diff).half))
        de = R["frozen_equal"]["escape"] - R["adapted"]["escape"]            # at equal feature steps
        want = ("not distinguishably sooner or later than" if not fam[f"escape_{f}"] else
                "sooner than" if de.mean() < 0 else "later than")
        assert s[f"c6_escape_word_{f}"] == want
    # the decisions are Holm's over the family's own p-values
    names = list(fam._tests)
    holm = comparisons.holm([fam.pvalue(n) for n in names])
    assert [fam[n] for n in names] == [bool(h) and fam._tests[n][1] for n, h in zip(names, holm)]


def test_coherence_against_one_is_an_equivalence_test():
    fam = comparisons.Family()
    tight = 1.0 + 0.01 * np.linspace(-1, 1, 10)
    wide = 1.0 + 0.5 * np.linspace(-1, 1, 10)
    far = 2.0 + 0.01 * np.linspace(-1, 1, 10)
    for name, x in (("tight", tight), ("wide", wide), ("far", far)):
        fam.test(f"coh1_{name}", x, null=1.0)
    fam.decide()
    assert ch._vs_one(tight, fam, "tight").startswith("is equivalent to 1 within the margin")
    assert ch._vs_one(wide, fam, "wide").startswith("is not distinguishable from 1, but not shown")
    assert ch._vs_one(far, fam, "far") == "differs from 1 (above it)"


def test_escape_rounds_are_exact_and_censored_runs_are_counted(small):
    rounds = np.arange(6)
    assert ch.escape_round(rounds, [1, 0.9, 0.6, 0.4, 0.3, 0.2], ch.LEARN_LEVEL) == (3.0, True)
    assert ch.escape_round(rounds, [1, 0.9, 0.8, 0.7, 0.45, 0.44], ch.LEARN_LEVEL) == (6.0, False)   # censored
    p, res, s = small
    for f in p.families:
        for mode in ("adapted", "frozen", "frozen_equal"):
            R = res[f][mode]
            assert np.array_equal(R["round"], np.arange(p.rounds_of(f) + 1))       # recorded every round
            assert s[f"c6_escape_censored_{mode}_{f}"] == int((~R["escaped"]).sum())
            assert np.all(R["escape"][~R["escaped"]] == p.rounds_of(f) + 1)
            # at the book's level, from the trajectory (not the unit's own field, kept at its old level)
            first = [int(np.flatnonzero(e < ch.LEARN_LEVEL)[0]) if (e < ch.LEARN_LEVEL).any() else p.rounds_of(f) + 1
                     for e in R["error"]]
            assert np.array_equal(R["escape"], first)
        assert s[f"c6_escape_censored_zero_{f}"] == p.n_seeds                      # zero heads never escape
        assert s[f"c6_escape_tau_{f}"] == p.rounds_of(f) + 1


def test_positive_control_the_frozen_arm_learns_with_the_adapted_runs_heads(small):
    """Heads frozen at the adapted run's final heads (same size and step as the frozen arm) learn span(M): the
    frozen arm is not broken (measured at this size: 0.076 +- 0.006 linear, 0.124 +- 0.016 quadratic; at the
    book's quick size 0.103 +- 0.005 and 0.148 +- 0.004)."""
    p, res, s = small
    for f in p.families:
        pos = res[f]["positive"]
        assert stats.upper(pos["final_error"]) < ch.LEARN_LEVEL, f
        assert not pos["diverged"].any()
        # the positive unit retrains the reported adapted run: the same final error, bit for bit
        assert np.array_equal(pos["adapted_final_error"], res[f]["adapted"]["final_error"])
        assert np.allclose(pos["head_rms"], p.head_norm_scale * res[f]["adapted"]["head_rms"], rtol=1e-5)
        assert pos["eta_W"] == res[f]["tuning"]["frozen"][p.head_norm_scale]["eta_W"]
        assert s[f"c6_positive_step_{f}"] == pos["eta_W"]
    assert "positive control" not in res["verdict"]


def test_train_with_heads_is_train_for_the_same_heads():
    cfg = TrainConfig(d=20, r=3, m=30, T=6, n1=20, n2=20, rounds=12, eta_W=0.1, head_mode="frozen", head_norm=4.0,
                      seed=5, family="quadratic")
    ref = train(cfg)
    W0, W, h = ch.train_with_heads(cfg, init_heads(cfg, cfg.T, "cpu", cfg.torch_dtype))
    assert torch.equal(W0, ref.W0) and torch.equal(W, ref.W)
    for k in ref.history:
        assert np.array_equal(h[k], ref.history[k], equal_nan=True), k
    with pytest.raises(ValueError, match="head_mode 'frozen'"):
        ch.train_with_heads(TrainConfig(d=20, r=3, m=30, T=6), torch.zeros(6, 30))


def test_escape_rounds_are_compared_at_equal_steps(small):
    p, res, s = small
    for f in p.families:
        R = res[f]
        eta_ad, eta_fr = R["tuning"]["adapted"]["eta_W"], R["tuning"]["frozen"][p.head_norm_scale]["eta_W"]
        assert R["equal_step"] == eta_ad == s[f"c6_escape_step_{f}"]
        assert s[f"c6_escape_frozen_step_{f}"] == eta_fr
        if eta_ad == eta_fr:
            assert R["frozen_equal"] is R["frozen"]
        else:      # a second frozen arm at the adapted step: the same heads, another step, another trajectory
            assert not np.array_equal(R["frozen_equal"]["error"], R["frozen"]["error"])
        diff = R["frozen_equal"]["escape"] - R["adapted"]["escape"]
        assert math.isclose(s[f"c6_escape_gap_{f}"], float(diff.mean()))


def test_plateau_difference_in_differences():
    """quadratic minus linear log delay, paired by seed; not tested when a run is censored or a family is missing."""
    p = ch.Params(seeds=tuple(range(10)))
    n = p.n_seeds
    jitter = 0.01 * np.arange(n)

    def arm(esc, escaped=True):
        return {"escape": np.asarray(esc, dtype=float) + jitter, "escaped": np.full(n, escaped)}

    def res(ad_lin, fr_lin, ad_quad, fr_quad, escaped=True):
        return {"linear": {"adapted": arm(ad_lin), "frozen_equal": arm(fr_lin)},
                "quadratic": {"adapted": arm(ad_quad, escaped), "frozen_equal": arm(fr_quad)}}

    r = res(20, 10, 90, 30)                        # delay x2 on linear, x3 on quadratic
    did = ch.plateau_did(r, p)
    assert np.allclose(did.mean(), np.log(3) - np.log(2), atol=0.01)
    fam = comparisons.Family()
    fam.test("plateau", did)
    fam.decide()
    out = ch.plateau_numbers(r, p, fam)
    assert math.isclose(out["c6_plateau_ratio"], 1.5, rel_tol=0.01)
    assert out["c6_plateau_word"].startswith("significantly larger on the quadratic family")
    assert out["c6_plateau_text"].endswith("as the plateau argument predicts.")
    censored = res(20, 10, 90, 30, escaped=False)
    assert ch.plateau_did(censored, p) is None and ch.plateau_censored(censored, p) == n
    assert "never left the start" in ch.plateau_numbers(censored, p, fam)["c6_plateau_text"]
    one = ch.Params(families=("linear",))
    assert ch.plateau_did(r, one) is None
    assert "needs both families" in ch.plateau_numbers(r, one, fam)["c6_plateau_text"]
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in ch.plateau_numbers(censored, p, fam).values())


def test_the_clause_after_a_glued_word_follows_the_word():
    assert ch._snr_prediction("lower").startswith("as the second-order head")
    assert ch._snr_prediction("higher").startswith("although")
    assert ch._snr_prediction("not distinguishable").startswith("although")
    assert "not tested" in ch._snr_prediction("not resolved")


def test_learning_level_is_the_books_one_definition():
    from mtrl_lib.experiments import baselines_and_rates, population_gap
    from mtrl_lib.metrics import RECOVERED_COSINE
    assert math.isclose(ch.LEARN_LEVEL, math.sqrt(1 - RECOVERED_COSINE ** 2))
    assert ch.LEARN_LEVEL == baselines_and_rates.LEARN_LEVEL == population_gap.LEARN_LEVEL
    assert ch.ERR_LEVEL == 0.5        # only the unit's stored (unread) escape field; kept so stored units keep their keys


def test_failed_seeds_are_counted_with_the_median_where_seeds_split():
    assert ch.failed_text([0.1, 0.2, 0.3]) == "none of 3"
    assert ch.failed_text([0.9, 0.95]) == "all 2"
    assert ch.failed_text([0.1, 0.12, 0.9, 0.95, 0.11]) == "2 of 5 (median 0.120)"
    assert ch.failed_text([ch.LEARN_LEVEL, 0.1]).startswith("1 of 2")          # at the level does not learn


# ------------------------------------------------------------------------------------------ negative controls

@pytest.mark.parametrize("control", ["shuffled_labels", "swapped_heads"])
def test_negative_controls_are_not_reproduced(control, experiment):
    """Labels independent of x (nothing to learn) and heads fitted to another task's labels (a broken
    algorithm): adapted heads end near error 1 (measured 0.995-1.000 at this size), above the 0.5 level."""
    p = ch.Params(**{**SMALL, "norm_scales": (1.0,)}, control=control)
    res = ch.run(p)
    assert res["verdict"].startswith("not reproduced"), res["verdict"]
    assert "adapted heads did not recover span(M)" in res["verdict"]
    if control == "shuffled_labels":      # the frozen arm's positive control can fail: with nothing to learn it does
        assert "positive control" in res["verdict"], res["verdict"]
        for f in p.families:
            assert stats.lower(res[f]["positive"]["final_error"]) > ch.LEARN_LEVEL, f


def test_verdict_logic_on_constructed_results():
    p = ch.Params(families=("linear",), norm_scales=(0.1, 1.0))
    n = p.n_seeds

    def result(adapted, frozen_sweep, zero=1.0, moved=0.0, positive=0.1):
        rng = np.random.default_rng(0)
        jitter = lambda v: v + 0.01 * rng.standard_normal(n)
        return {"linear": {"adapted": {"final_error": jitter(adapted)},
                           "zero": {"final_error": jitter(zero), "W_change": np.full(n, moved)},
                           "positive": {"final_error": jitter(positive)},
                           "sweep": {"scale": np.asarray(p.norm_scales),
                                     "final_error": np.stack([jitter(v) for v in frozen_sweep], axis=1)}}}

    assert ch.verdict(result(0.1, (0.99, 0.98)), p) == "reproduced"
    # a broken frozen arm (its positive control does not learn) cannot make frozen heads' failure count
    broken = ch.verdict(result(0.1, (0.99, 0.98), positive=0.9), p)
    assert broken.startswith("not reproduced") and "positive control" in broken, broken
    assert ch.verdict(result(0.1, (0.99, 0.98), positive=ch.LEARN_LEVEL), p).startswith("not reproduced")
    assert ch.verdict_short(broken) == "not reproduced" and ch.verdict_short("reproduced") == "reproduced"
    # the level is the book's one definition of "learns span(M)": a mean of 0.42 learns, 0.45 does not
    assert ch.verdict(result(0.42, (0.99, 0.98)), p) == "reproduced"
    assert ch.verdict(result(0.45, (0.99, 0.98)), p).startswith("not reproduced")
    assert ch.verdict(result(0.1, (0.99, 0.2)), p).startswith("partly reproduced")
    assert "learn at 1x" in ch.verdict(result(0.1, (0.99, 0.2)), p)
    # criterion 4 failing at every head size (here: learning at both) reads "not reproduced as the book reads C6"
    everywhere = ch.verdict(result(0.1, (0.2, 0.1)), p)
    assert ch.verdict_short(everywhere) == ch.NOT_AS_READ == "not reproduced as the book reads C6", everywhere
    assert everywhere.startswith(ch.NOT_AS_READ + " (the abstract does not claim that adaptation is necessary; ")
    assert "learn at 0.1x, 1x the matched norm" in everywhere
    # ... and so does "not shown to fail" at every size, with none learning
    nowhere = result(0.1, (0.99, 0.98))
    nowhere["linear"]["sweep"]["final_error"][:] = ch.LEARN_LEVEL + np.linspace(-0.05, 0.05, n)[:, None]
    assert ch.verdict_short(ch.verdict(nowhere, p)) == ch.NOT_AS_READ
    assert "are not shown to fail at 0.1x, 1x" in ch.verdict(nowhere, p)
    # a broken criterion 1-3 still reads "not reproduced", whatever the sweep
    assert ch.verdict_short(ch.verdict(result(0.1, (0.2, 0.1), positive=0.9), p)) == "not reproduced"
    straddles = result(0.1, (0.99, 0.98))
    straddles["linear"]["sweep"]["final_error"][:, 1] = ch.LEARN_LEVEL + np.linspace(-0.05, 0.05, n)
    assert ch.verdict(straddles, p).startswith("partly reproduced")                  # not shown to fail
    assert "not shown to fail at 1x" in ch.verdict(straddles, p)
    assert ch.verdict(result(0.7, (0.99, 0.98)), p).startswith("not reproduced")
    assert ch.verdict(result(0.1, (0.99, 0.98), moved=1.0), p).startswith("not reproduced")
    assert ch.verdict(result(0.1, (0.99, 0.98), zero=0.5), p).startswith("not reproduced")
    few = ch.Params(families=("linear",), seeds=tuple(range(9)))
    assert ch.verdict({}, few) == stats.undecided(9)


def test_sweep_window_phrases():
    def sweep(means):
        return {"scale": np.asarray([0.01, 0.1, 1.0, 10.0]),
                "final_error": np.asarray(means)[None, :] + 0.01 * np.arange(10)[:, None]}
    assert ch.sweep_window(sweep([0.99, 0.2, 0.1, 0.9]))["text"] == "only from 0.1x to 1x the matched norm"
    assert ch.sweep_window(sweep([0.99, 0.2, 0.9, 0.1]))["text"] == "only at 0.1x, 10x the matched norm"
    assert ch.sweep_window(sweep([0.99, 0.99, 0.1, 0.9]))["text"] == "only at 1x the matched norm"
    assert ch.sweep_window(sweep([0.1] * 4))["text"] == "at every head size of the sweep"
    assert ch.sweep_window(sweep([0.9] * 4))["text"] == "at none of the head sizes of the sweep"


# ------------------------------------------------------------------------------------- construction (unit)

def test_construction_zero_heads_leave_W_unchanged(small):
    p, res, s = small
    for f in p.families:
        z = res[f]["zero"]
        assert z["W_change"].max() < 1e-5          # float32 round-off of the renormalisation only
        assert np.all(z["grad0"] == 0)
    assert s["c6_zero_grad"] == 0.0


def test_construction_frozen_heads_are_norm_matched_and_fixed(small):
    p, res, _ = small
    for f in p.families:
        ad, fr = res[f]["adapted"], res[f]["frozen"]
        assert np.allclose(fr["end"]["head_rms"], p.head_norm_scale * ad["head_rms"], rtol=1e-4)
        assert np.allclose(fr["start"]["head_rms"], fr["end"]["head_rms"])       # never updated
        assert np.all(ad["start"]["head_rms"] < 0.3 * ad["head_rms"])            # adapted heads grow from zero
        # the sweep's matched-norm column is the main frozen run
        assert np.array_equal(res[f]["sweep"]["final_error"][:, list(p.norm_scales).index(1.0)], fr["final_error"])


def test_construction_frozen_head_norm_of_init_heads():
    cfg = TrainConfig(d=10, r=2, m=50, T=4, head_mode="frozen", head_norm=3.0)
    A = init_heads(cfg, cfg.T, "cpu", cfg.torch_dtype)
    assert math.isclose(ch.rms(A), 3.0, rel_tol=1e-5)


def test_construction_task_grads_sum_to_the_training_gradient():
    from mtrl_lib.tasks import draw_tasks, make_generator, random_subspace, sample
    from mtrl_lib.train import feature_grad

    g = make_generator(0)
    M = random_subspace(12, 3, g, torch.float64)
    tasks = draw_tasks("linear", 5, 3, g, dtype=torch.float64)
    W = torch.randn(8, 12, generator=g, dtype=torch.float64)
    b = 0.1 * torch.randn(8, generator=g, dtype=torch.float64)
    A = torch.randn(5, 8, generator=g, dtype=torch.float64)
    X, Y = sample(M, tasks, 30, g)
    ref, _ = feature_grad(W, b, A, X, Y, "logistic", 5)
    assert torch.allclose(ch.task_grads(W, b, A, X, Y, "logistic").sum(0), ref, atol=1e-12)


def test_unit_result_does_not_depend_on_the_thread_count():
    kw = ch.Params(**SMALL).train_kwargs("quadratic", "frozen", 0.05, head_norm=5.0, rounds=20)
    old = torch.get_num_threads()
    try:
        out, tuned = [], []
        for t in (1, 2):
            torch.set_num_threads(t)
            out.append(ch.one_run(seed=3, config=kw, anatomy_n=50, anatomy_draws=2))
            tuned.append(head_tuning.tune_run(seed=3, config=kw))
    finally:
        torch.set_num_threads(old)
    assert tuned[0] == tuned[1]
    for k in out[0]:
        a, b = out[0][k], out[1][k]
        if isinstance(a, dict):
            assert a == b, k
        else:
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), k


# ------------------------------------------------------------------------------------------- step sizes

def test_tuning_is_one_rule_on_held_out_seeds_with_one_grid_for_both_arms(small):
    # the default grid reaches down to 0.002 (at the paper size the adapted optimum on linear sat at the old
    # grid's lower edge, 0.01)
    assert ch.Params().eta_W_grid == (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
    p, res, s = small
    assert not set(p.tune_seeds) & set(p.seeds)
    grid = np.asarray(p.eta_W_grid)
    for f in p.families:
        tu = res[f]["tuning"]
        assert np.array_equal(tu["adapted"]["steps"], grid)
        assert np.array_equal(tu["frozen"][1.0]["steps"], grid)            # the same window at the matched norm
        for x in p.scales:
            t = tu["frozen"][x]
            assert np.allclose(x * t["steps"], grid)                        # the same grid of the product
            assert t["error"].shape == (len(grid), len(p.tune_seeds))
            assert t["eta_W"] == t["steps"][int(np.argmin(t["error"].mean(1)))]
        assert tu["adapted"]["eta_W"] == grid[int(np.argmin(tu["adapted"]["error"].mean(1)))]
        assert s[f"c6_eta_W_adapted_{f}"] == tu["adapted"]["eta_W"]
        assert np.array_equal(res[f]["sweep"]["eta_W"], [tu["frozen"][x]["eta_W"] for x in p.norm_scales])
        # the frozen tuning heads are matched to the adapted tuning run at the selected step, per held-out seed
        assert np.array_equal(tu["matched"], tu["adapted"]["head_rms"][list(grid).index(tu["adapted"]["eta_W"])])
    assert s["c6_tune_units"] == len(p.families) * len(p.tune_seeds) * len(grid) * (1 + len(p.scales))


def test_tuning_counts_a_diverged_run_as_error_one(monkeypatch):
    def boom(cfg):
        raise DivergenceError("diverged")
    monkeypatch.setattr(head_tuning, "train", boom)
    assert head_tuning.tune_run(0, {"d": 10, "r": 2, "m": 10, "T": 2, "rounds": 1}) == \
        {"final_error": 1.0, "head_rms": None, "diverged": True}
    eta, err, means = head_tuning.select(np.asarray([[1.0, 1.0], [0.2, 0.4], [0.2, 0.4], [0.9, 0.1]]),
                                         (0.1, 0.2, 0.5, 1.0))
    assert (eta, err) == (0.2, pytest.approx(0.3))                        # argmin of the mean, first on a tie
    assert head_tuning.at_edge(0.1, (0.1, 0.2)) and not head_tuning.at_edge(0.2, (0.1, 0.2, 0.5))


def test_stored_frozen_step_sizes_are_the_frozen_grids_argmin():
    """The stored frozen-head grid (:mod:`mtrl_lib.experiments.step_sizes`, d = 100, T = 20) is no longer what
    this chapter uses (it tunes its own steps); its documented guarantee, FROZEN_ETA_W = its argmin, is still
    checked here, where step_sizes' docstring says it is."""
    grid = step_sizes.load_grid()
    fz = grid["frozen"]
    assert fz["settings"]["eta_W"] == list(step_sizes.GRID_ETA_W)
    assert fz["settings"]["seeds"] == list(step_sizes.GRID_SEEDS)
    assert fz["settings"]["step_sizes_matched"] == {f: list(v) for f, v in step_sizes.STEP_SIZES.items()}
    for f in step_sizes.FAMILIES:
        eta_W, err = step_sizes.select_frozen(grid, f)
        assert eta_W == step_sizes.FROZEN_ETA_W[f], f
        assert fz["families"][f]["error"].shape == (len(step_sizes.GRID_ETA_W), len(step_sizes.GRID_SEEDS),
                                                    step_sizes.GRID_MAX_ROUNDS // step_sizes.GRID_RECORD + 1)


def test_the_head_step_is_the_stored_grids():
    p = ch.Params()
    for f in step_sizes.FAMILIES:
        assert getattr(p, f"eta_a_{f}") == step_sizes.STEP_SIZES[f][0], f


def test_only_the_product_of_head_size_and_step_matters_for_the_correlation_loss():
    """Frozen heads: with the correlation loss (l' = -y) the W-gradient is linear in the heads, so heads x 2
    with eta_W / 2 give the same W at every round (bit for bit: scaling by 2 is exact in floating point); with
    the logistic loss the outputs enter l', and the trajectories differ."""
    def traj(loss, c, eta):
        cfg = TrainConfig(d=30, r=3, m=40, T=8, n1=20, n2=20, rounds=25, eta_W=eta, head_mode="frozen",
                          head_norm=c, loss=loss, seed=3)
        res = train(cfg)
        return res.W, res.history["subspace_error"]
    W1, e1 = traj("correlation", 8.0, 0.1)
    W2, e2 = traj("correlation", 16.0, 0.05)
    assert torch.equal(W1, W2) and np.array_equal(e1, e2)
    W1, e1 = traj("logistic", 8.0, 0.1)
    W2, e2 = traj("logistic", 16.0, 0.05)
    assert float((W1 - W2).abs().max()) > 1e-3


# ------------------------------------------------------------------------------------------ parameters

def test_every_notebook_parameter_reaches_the_experiment():
    cell = next(c for c in _notebook().cells if "parameters" in c.metadata.get("tags", []))
    ns = {}
    exec(cell.source, ns)
    names = {k for k in ns if not k.startswith("__")}
    fields = {f.name: f for f in dataclasses.fields(ch.Params)}
    assert names == set(fields)
    for name, f in fields.items():                       # the cell repeats the defaults
        default = f.default
        assert (list(default) if isinstance(default, tuple) else default) == ns[name], name
    changed = {"d": 37, "r": 4, "m": 33, "T": 7, "n1": 21, "n2": 22, "rounds": 40, "rounds_quadratic": 60,
               "families": ["quadratic"], "eta_a_linear": 2.0, "eta_a_quadratic": 3.0, "eta_W_grid": [0.3, 0.7],
               "tune_seeds": [70, 80], "head_norm_scale": 2.0, "norm_scales": [0.5, 2.0], "bias_scale": 0.5,
               "anatomy_n": 30, "anatomy_draws": 3, "control": "swapped_heads", "seeds": [4, 2], "device": "cpu"}
    assert set(changed) == set(fields)
    for name, value in changed.items():
        got = getattr(ch.Params.from_namespace({**ns, name: value}), name)
        assert (list(got) if isinstance(got, tuple) else got) == value, name
    # and from Params into each run's TrainConfig
    p = ch.Params.from_namespace({**ns, **changed})
    for mode in ch.MODES:
        cfg = p.config("quadratic", mode, seed=4, eta_W=0.7, head_norm=2.0)
        assert (cfg.d, cfg.r, cfg.m, cfg.T, cfg.n1, cfg.n2, cfg.rounds, cfg.bias_scale, cfg.record_every,
                cfg.control, cfg.head_mode) == (37, 4, 33, 7, 21, 22, 60, 0.5, 1, "swapped_heads", mode)
        assert (cfg.eta_a, cfg.eta_W) == (3.0, 0.7)
    assert p.config("linear", "adapted", 0, eta_W=0.3).eta_a == 2.0
    assert p.scales == (0.5, 2.0) and p.tune_seeds == (70, 80) and p.eta_W_grid == (0.3, 0.7)
    with pytest.raises(ValueError, match="lacks d"):
        ch.Params.from_namespace({k: v for k, v in ns.items() if k != "d"})


def test_every_glued_name_in_the_prose_is_computed(small):
    nb = _notebook()
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    _, _, s = small
    used = {n for n in quoted_names(prose) if n.startswith("c6_")}
    assert used and used <= set(s), used - set(s)
    assert set(INTRO_NAMES) <= set(s)


@pytest.mark.parametrize("kw, match", [
    ({"T": 0}, r"T must be an integer in \[1, 100000\]"),
    ({"families": []}, "families must be a non-empty list"),
    ({"head_norm_scale": 0}, r"head_norm_scale must be a number in \(0.0, 1000.0\]"),
    ({"norm_scales": (1.0, 0.1)}, r"norm_scales must be strictly increasing, got \[1.0, 0.1\]"),
    ({"norm_scales": ()}, "norm_scales must be a non-empty list"),
    ({"norm_scales": (0.0, 1.0)}, r"norm_scales\[0\] must be a number in \(0.0, 1000.0\]"),
    ({"seeds": [1, 1]}, "seeds must be distinct"),
    ({"anatomy_n": 0}, "anatomy_n must be an integer"),
    ({"control": "broken"}, "control must be one of"),
    ({"r": 1}, "r must be >= 2 when the quadratic family is used"),
    ({"eta_W_grid": (0.1, 0.0)}, r"eta_W_grid\[1\] must be a number in \(0.0"),
    ({"eta_W_grid": (0.2, 0.1)}, "eta_W_grid must be strictly increasing"),
    ({"tune_seeds": (3, 100)}, r"tune_seeds must be held out \(none among seeds\), got \[3\] in both"),
])
def test_bad_parameters_name_themselves(kw, match):
    with pytest.raises(ValueError, match=match):
        ch.Params(**kw)


def test_cli_run_writes_the_glued_numbers(tmp_path, kernel):
    args = ["-p", "d", "30", "-p", "r", "3", "-p", "m", "40", "-p", "T", "10", "-p", "rounds", "30",
            "-p", "rounds_quadratic", "30", "-p", "anatomy_n", "100", "-p", "norm_scales", "[0.1, 1.0]"]
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "05_head_adaptation", *args,
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads((tmp_path / "05_head_adaptation.json").read_text())
    for name in INTRO_NAMES:
        assert name in data, name
    # every name the prose quotes is glued by the executed notebook (not only computed by summary)
    prose = "\n".join(c.source for c in _notebook().cells if c.cell_type == "markdown")
    assert {n for n in quoted_names(prose) if n.startswith("c6_")} <= set(data)
    assert data["c6_n_seeds"] == 10
    for name in ("c6_err_adapted_linear", "c6_err_adapted_linear_ci", "c6_err_zero_quadratic", "c6_zero_W_change"):
        assert math.isfinite(data[name]), name
    assert data["c6_zero_W_change"] < 1e-5


# ------------------------------------------------------------------------ the verdict's headline and its guards

def test_verdict_headline_names_the_failing_criterion(small):
    """The short verdict the introduction shows says *why* it is only "partly reproduced": zero heads learn nothing
    by construction, and frozen random heads learn too (at every size of the sweep when the sweep says so)."""
    p, res, s = small
    assert s["c6_verdict_word"] == ch.verdict_short(res["verdict"])
    head = s["c6_verdict_short"]
    assert head.startswith(s["c6_verdict_word"])
    if s["c6_verdict_word"] in ("partly reproduced", ch.NOT_AS_READ):
        assert "by construction" in head and "frozen random heads" in head
        every = all(len(ch.sweep_window(res[f]["sweep"])["learns"]) == len(p.norm_scales) for f in p.families)
        assert ("at every head size" in head) == every, head
        assert ("at every head size" in s["c6_verdict_reason"]) == every
    broken = {**res, "verdict": "not reproduced (linear: zero heads moved W)"}
    assert ch.verdict_headline(broken, p) == "not reproduced"


def _swept(p, means):
    """Constructed results of both families for the headline: per family, the frozen sweep's per-scale means."""
    n = p.n_seeds
    jitter = 0.01 * np.random.default_rng(0).standard_normal((n, 1))
    return {f: {"sweep": {"scale": np.asarray(p.norm_scales), "final_error": np.asarray(m)[None, :] + jitter}}
            for f, m in zip(p.families, means)}


def test_verdict_word_headline_and_reason_when_frozen_heads_learn_everywhere():
    """Criterion 4 failing at every size on every family: the word, the headline (with the reminder that the
    abstract does not claim necessity) and the reason agree; failing at some sizes only stays "partly reproduced"."""
    p = ch.Params(norm_scales=(0.1, 1.0))
    res = _swept(p, [(0.1, 0.1), (0.2, 0.2)])
    res["verdict"] = ch.NOT_AS_READ + " (the abstract does not claim that adaptation is necessary; ...)"
    assert ch.verdict_short(res["verdict"]) == "not reproduced as the book reads C6"
    head = ch.verdict_headline(res, p)
    assert head == ("not reproduced as the book reads C6 (the abstract does not claim that adaptation is "
                    "necessary): zero heads learn nothing (by construction), but frozen random heads learn too, at "
                    "every head size of the sweep"), head
    assert "learn span(M) at every head size" in ch.verdict_reason(res, p)
    assert "is not necessary at these sizes" in ch.verdict_reason(res, p)
    undecided = _swept(p, [(ch.LEARN_LEVEL, ch.LEARN_LEVEL)] * 2)
    undecided["verdict"] = res["verdict"]
    assert ch.verdict_headline(undecided, p).endswith("are not shown to fail at any head size of the sweep")
    assert "not shown to be necessary" in ch.verdict_reason(undecided, p)
    some = _swept(p, [(0.1, 0.99), (0.2, 0.2)])
    some["verdict"] = "partly reproduced (...)"
    assert ch.verdict_headline(some, p).endswith("learn too, at some head sizes of the sweep")
    assert "at some head size" in ch.verdict_reason(some, p)


def test_error_text_shows_the_digits_its_half_width_needs():
    """The intro's and the verdict line's errors: mean ± half-width with a significant digit in the half-width, or
    the interval cut to [0, 1] in words where it would leave it."""
    assert ch.bounded_text(np.full(10, 0.9996) + 1e-4 * np.arange(10) / 10) == "0.99964 ± 0.00002"
    assert ch.bounded_text(0.04 + 0.001 * np.arange(10)) == "0.044 ± 0.002"
    assert "cut at the largest possible value" in ch.bounded_text(np.r_[np.ones(9), 0.5])


def test_positive_against_random_words_follow_holm(small):
    """The sentence on heads that carry the tasks reads the Holm-decided comparison of the positive control with
    frozen random heads of the same size and step, and says "no better" exactly where the control is not lower."""
    p, res, s = small
    fam = ch.comparison_family(res, p)
    for f in p.families:
        diff = res[f]["positive"]["final_error"] - res[f]["frozen"]["final_error"]
        want = ("not distinguishable" if not fam[f"positive_{f}"] else "lower" if diff.mean() < 0 else "higher")
        assert s[f"c6_positive_vs_random_word_{f}"] == want, f
    no_better = [f for f in p.families if s[f"c6_positive_vs_random_word_{f}"] != "lower"]
    assert ("are not shown to do better than random ones" in s["c6_positive_vs_random_text"]) == bool(no_better)
    assert "do no better" not in s["c6_positive_vs_random_text"]


def test_snr_sentence_is_guarded_by_the_largest_ratio(small):
    p, res, s = small
    vals = [s[f"c6_{w}_snr_{m}_{f}"] for f in p.families for m in ("adapted", "frozen") for w in ("start", "end")]
    top = max(v for v in vals if not isinstance(v, str))
    assert math.isclose(s["c6_snr_max"], top)
    assert s["c6_snr_text"].startswith("Every signal-to-noise ratio") == (
        top < 1 and all(stats.upper(res[f][m]["final_error"]) < ch.LEARN_LEVEL
                        for f in p.families for m in ("adapted", "frozen")))
    fake = {k: (5.0 if k.startswith("c6_start_snr_adapted") else v) for k, v in s.items()}
    assert ch.snr_numbers(res, p, fake)["c6_snr_text"].startswith("The largest")


def test_tuning_within_noise_is_computed():
    """The two best grid points: within noise when their means differ by less than the held-out seeds' spread."""
    table = {"steps": np.array([0.01, 0.05, 0.1]), "mean": np.array([0.5, 0.197, 0.207]),
             "error": np.array([[0.5, 0.5], [0.18, 0.214], [0.20, 0.214]])}
    b = ch.two_best(table)
    assert b["steps"] == [0.05, 0.1] and b["within_noise"]
    table["error"] = np.array([[0.5, 0.5], [0.196, 0.198], [0.206, 0.208]])
    assert not ch.two_best(table)["within_noise"]


def test_parameters_render_as_a_folded_table():
    nb = _notebook()
    srcs = [c for c in nb.cells if "display(html_table" in c.source and "param_meanings" in c.source]
    assert len(srcs) == 1 and "hide-output" in srcs[0].metadata["tags"]
    assert not any("params_table(" in c.source for c in nb.cells)
