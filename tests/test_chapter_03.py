"""Chapter 3 (C3, C4): pretrained features make downstream accuracy independent of d; random features do not.

The statistical tests run a small version of the chapter (d = 20 and 160, m = 50, r = 3) with 10 seeds, the
fewest that decide a verdict; the claims hold there with the margins noted beside each assertion."""
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
from mtrl_lib.book.chapters import NOTEBOOKS
from mtrl_lib.experiments import downstream as ch
from mtrl_lib.experiments import step_sizes
from mtrl_lib.book.inline import glued_in_code, quoted_names

# the names the book's intro quotes
INTRO = ("c3_verdict", "c3_acc_pretrained_dmin", "c3_acc_pretrained_dmax", "c3_acc_oracle_dmax", "c3_d_min",
         "c3_d_max", "c4_verdict", "c4_acc_random_dmin", "c4_acc_random_dmax", "c3_n_seeds")
NEEDED = ("c3_n3_needed_pretrained_dmin", "c3_n3_needed_pretrained_dmax", "c3_n3_needed_random_dmin",
          "c3_n3_needed_random_dmax")
SMALL = dict(ds=(20, 160), r=3, m=50, T=20, rounds=50, n3=60, ms=(2, 5, 10, 25, 50), n3s=(10, 20, 60, 240),
             down_tasks=4, n_test=400, target_acc=0.87, seeds=tuple(range(10)))


@pytest.fixture(scope="module")
def small(experiment):
    p = ch.Params(**SMALL)
    return p, ch.run(p)


@pytest.fixture(scope="module")
def shuffled(experiment):
    p = ch.Params(**SMALL)
    return ch.run(p, control="shuffled_labels")


@pytest.fixture(scope="module")
def swapped(experiment):
    p = ch.Params(**SMALL)
    return ch.run(p, control="swapped_heads")


# --- the claims -------------------------------------------------------------------------------------------

def test_claims_c3_c4_hold_at_a_small_size(small):
    """At this size pretraining learns span(M) and C4 holds; the complexity rows of C3 need exponents whose
    intervals are narrower than this size gives (the oracle's own exponent is about 0.03 +- 0.11 over an 8-fold
    range of d with 10 seeds), so C3 may read "undecided", "partly reproduced", or "not reproduced" through both
    complexity rows failing, never "not reproduced" because pretraining learned nothing."""
    p, res = small
    assert res["verdict"]["C4"] == "reproduced", res["verdict"]
    assert res["verdict"]["C3"].startswith(("reproduced", "partly reproduced", "undecided", "not reproduced")), \
        res["verdict"]
    assert "above random features'" not in res["verdict"]["C3"] and "the oracle may be" not in res["verdict"]["C3"]
    c = ch.criteria(res)
    # C3: pretrained features are far above random ones at the largest d (measured about 0.3 ± 0.02)
    assert c["pre_minus_random"].lo > 0.15
    # C3: the oracle is at least as good as pretrained features (it is the best first layer), and pretrained
    # features stay close to it: oracle - pretrained inside (-0.02, MATERIAL) (measured 0.04 ± 0.01)
    assert c["oracle_minus_pre"].lo > -0.02 and c["oracle_minus_pre"].hi < ch.MATERIAL
    # C4: random features lose more than 0.1 from d = 20 to 160 (measured about 0.2 ± 0.02), and they do learn
    # at d = 20 (the positive control: about 0.3 above chance)
    assert c["random_fall"].lo > ch.MATERIAL and c["random_above_chance"].lo > ch.MATERIAL
    # the pretraining trajectory is recorded, from the random start (error about 1) to the final W
    t = res["trajectory"]
    assert t["error"].shape == (len(p.seeds), len(p.ds), len(t["round"])) and t["round"][-1] == p.rounds
    assert np.allclose(t["error"][..., -1], res["quality"]["multi_err"], atol=1e-6)
    assert t["error"][..., 0].min() > 0.9


def _with_needs(res, pre_ratio=1.0, oracle_ratio=1.0, n3_ratio=1.0):
    """``res`` with constructed needs: every seed's need at d_max is ``ratio`` times its need at d_min (times a
    little seed noise), nothing censored; for the verdict's complexity rows."""
    rng = np.random.default_rng(5)
    S = res["n_seeds"]
    out = {**res, "m_needed": {}, "m_capped": {}, "m_floored": {}, "n3_needed": dict(res["n3_needed"]),
           "n3_capped": dict(res["n3_capped"]), "n3_floored": dict(res["n3_floored"])}
    none = np.zeros(S, dtype=bool)
    for which in ("small", "large"):
        out["m_needed"][which], out["m_capped"][which], out["m_floored"][which] = {}, {}, {}
    for k, ratio in (("multi", pre_ratio), ("oracle", oracle_ratio), ("single", 1.0), ("random", 1.0)):
        base = 20 * np.exp(0.01 * rng.standard_normal(S))
        out["m_needed"]["small"][k] = base
        out["m_needed"]["large"][k] = base * ratio * np.exp(0.01 * rng.standard_normal(S))
        for which in ("small", "large"):
            out["m_capped"][which][k], out["m_floored"][which][k] = none, none
        n = 30 * np.exp(0.01 * rng.standard_normal(S))
        D = len(res["ds"])
        need = np.repeat(n[:, None], D, axis=1)
        need[:, -1] *= (n3_ratio if k == "multi" else 1.0) * np.exp(0.01 * rng.standard_normal(S))
        out["n3_needed"][k] = need
        out["n3_capped"][k], out["n3_floored"][k] = np.zeros((S, D), bool), np.zeros((S, D), bool)
    return out


def test_verdict_branches_on_constructed_needs(small):
    """C3's complexity rows on constructed needs (the accuracy rows from the small run): needs level in d pass;
    needs that double over the 8-fold range of d (exponent 1/3) make C3 "partly reproduced"; an oracle whose
    need moves makes it "undecided"; a censored seed fails the row."""
    p, res = small
    if not ch.criteria(res)["pre_drift"].lo > -ch.TOL:
        pytest.skip("the accuracy row fails at this size; the branches below need it to pass")
    assert ch.verdict(_with_needs(res), p)["C3"] == "reproduced"
    v = ch.verdict(_with_needs(res, pre_ratio=2.0), p)["C3"]
    assert v.startswith("partly reproduced (the neurons of the pretrained network") and "exponent 0.3" in v
    v = ch.verdict(_with_needs(res, n3_ratio=2.0), p)["C3"]
    assert v.startswith("partly reproduced (the downstream samples needed")
    v = ch.verdict(_with_needs(res, pre_ratio=2.0, n3_ratio=2.0), p)["C3"]
    assert v.startswith("not reproduced (the neurons of the pretrained network") and "downstream samples" in v
    assert ch.verdict(_with_needs(res, oracle_ratio=2.0), p)["C3"].startswith("undecided (the oracle's neurons")
    cens = _with_needs(res)
    cens["m_capped"]["large"]["multi"] = np.r_[True, np.zeros(res["n_seeds"] - 1, bool)]
    assert "censored: 1 seeds" in ch.verdict(cens, p)["C3"]
    # the exponent: need x 2 over d x 8 is 1/3
    assert ch.exponent([10.0], [20.0], 20, 160) == pytest.approx([1 / 3])


def _constructed(pre_ratio=1.0, n3_ratio=1.0, oracle_ratio=1.0, drift=0.0, S=10, ds=(20, 160)):
    """A whole constructed result (no run): accuracies at width m and n3 per feature set (pretrained 0.9 at every
    d plus ``drift`` at d_max, oracle 0.92, random 0.8 falling to 0.6), random features' n3 sweep, and needs
    whose d_max value is ``ratio`` times the d_min one (:func:`_with_needs`)."""
    rng = np.random.default_rng(3)
    D = len(ds)
    acc = lambda lo_d, hi_d: np.linspace(lo_d, hi_d, D)[None, :] + 0.005 * rng.standard_normal((S, D))
    res = {"n_seeds": S, "ds": ds,
           "acc_d": {"multi": acc(0.9, 0.9 + drift), "oracle": acc(0.92, 0.92), "random": acc(0.8, 0.6)},
           "acc_n3": {"random": np.repeat(acc(0.8, 0.7)[:, :, None], 3, axis=2)},
           "n3_needed": {}, "n3_capped": {}, "n3_floored": {}}
    return _with_needs(res, pre_ratio=pre_ratio, oracle_ratio=oracle_ratio, n3_ratio=n3_ratio)


def test_c3_verdict_rule_on_constructed_results():
    """C3 on wholly constructed results (fast): both complexity rows failing is "not reproduced" with both reasons;
    one of them failing, or only the accuracy row, is "partly reproduced"; the word glued beside the claim follows."""
    p = ch.Params(ds=(20, 160), seeds=tuple(range(10)), n3s=(10, 20, 60, 240), n3=60)
    assert ch.verdict(_constructed(), p) == {"C3": "reproduced", "C4": "reproduced"}
    both = ch.verdict(_constructed(pre_ratio=2.0, n3_ratio=2.0), p)["C3"]
    assert both.startswith("not reproduced (the neurons of the pretrained network"), both
    assert "the downstream samples needed" in both
    res = _constructed(pre_ratio=2.0, n3_ratio=2.0)
    res["verdict"] = ch.verdict(res, p)
    words = ch.summary_verdict(res)
    assert words["c3_verdict_word"] == "not reproduced" and words["c3_verdict"] == both
    for kw in ({"pre_ratio": 2.0}, {"n3_ratio": 2.0}, {"drift": 0.06}, {"drift": 0.06, "n3_ratio": 2.0}):
        v = ch.verdict(_constructed(**kw), p)["C3"]
        assert v.startswith("partly reproduced ("), (kw, v)
    # both rows failing with the accuracy row failing too: still "not reproduced", every reason kept
    v = ch.verdict(_constructed(pre_ratio=2.0, n3_ratio=2.0, drift=0.06), p)["C3"]
    assert v.startswith("not reproduced (pretrained accuracy may change") and v.count(";") == 2, v
    # the oracle guard comes first: with its need moving, both rows failing is "undecided"
    assert ch.verdict(_constructed(pre_ratio=2.0, n3_ratio=2.0, oracle_ratio=2.0), p)["C3"].startswith("undecided")


def test_censored_needs_are_bounds_not_intervals():
    need = np.array([800.0, 800.0, 800.0])
    assert ch.need_text(need, np.ones(3, bool), np.zeros(3, bool), 800, 10) == "≥ 800 (every seed at the cap)"
    assert ch.need_text(np.array([500.0, 800.0, 600.0]), np.array([False, True, False]), np.zeros(3, bool), 800,
                        10).startswith("≥ 633 (a lower bound: 1 of 3 seeds at the cap 800)")
    assert ch.need_text(np.array([20.0, 24.0, 22.0]), np.zeros(3, bool), np.zeros(3, bool), 800, 10).startswith("22 ±")


def test_summary_words_come_from_one_holm_family(small):
    p, res = small
    fam = ch.comparison_family(res, p)
    s = ch.summary(res, p)
    assert s["c3_n_comparisons"] == len(fam) >= 20
    name = f"random features: accuracy from d = {p.ds[0]} to {p.ds[-1]}"
    assert fam[name] and s["c3_change_random"].startswith("falls by")
    assert s["c3_traj_falling_dmax"] in ("still falling", "rising", "no longer falling significantly")
    assert s["c3_n3_needed_random_dmax_text"].startswith(("≥", str(round(s["c3_n3_needed_random_dmax"]))))


def test_sample_complexity_grows_with_d_for_random_features_only(small):
    p, res = small
    # at the chapter's target (0.87 here) random features are capped at both d; read the needs at 0.7 instead
    need = {k: ch.n3_needed(res["acc_n3"][k], p.n3s, 0.7)[0] for k in ("random", "multi")}
    # random features need significantly more samples at the largest d (capping only shrinks this difference)
    assert stats.paired_ci(need["random"][:, -1], need["random"][:, 0]).lo > 0
    # at the largest d, random features need significantly more samples than pretrained ones
    assert stats.paired_ci(need["random"][:, -1], need["multi"][:, -1]).lo > 0
    # pretrained features need fewer samples than the sweep's largest n3 at every d, in every seed
    assert not res["n3_capped"]["multi"].any()


def test_single_task_features_fall_behind_at_large_d(small):
    p, res = small
    a = res["acc_d"]
    # one task learns one direction: new tasks see little benefit at large d (measured gap about 0.2)
    assert stats.paired_ci(a["multi"][:, -1], a["single"][:, -1]).lo > 0.1


# --- negative controls -------------------------------------------------------------------------------------

def test_a_run_that_cannot_learn_is_not_reproduced(shuffled):
    # labels independent of x during pretraining: "pretrained" features stay random-like
    assert shuffled["verdict"]["C3"].startswith("not reproduced"), shuffled["verdict"]
    assert shuffled["verdict"]["C4"].startswith("not reproduced"), shuffled["verdict"]


def test_a_broken_algorithm_is_not_reproduced(swapped):
    # each head fitted to another task's labels: the feature step follows the wrong heads
    assert swapped["verdict"]["C3"].startswith("not reproduced"), swapped["verdict"]


def test_too_few_seeds_decide_nothing(experiment):
    p = ch.Params(**{**SMALL, "ds": (20, 40), "seeds": (0, 1, 2)})
    res = ch.run(p)
    assert res["verdict"] == {"C3": stats.undecided(3), "C4": stats.undecided(3)}


# --- construction (unit tests of the machinery) ------------------------------------------------------------

def test_sweeps_share_samples_and_shapes(small):
    p, res = small
    S, D = len(p.seeds), len(p.ds)
    for k in ch.FEATURE_SETS:
        assert res["acc_d"][k].shape == (S, D)
        assert res["acc_n3"][k].shape == (S, D, len(p.n3s))
        assert res["n3_needed"][k].shape == (S, D)
        for which in ("small", "large"):
            assert res["acc_m"][which][k].shape == (S, len(p.ms))
        # the headline probe is the n3 = 60 point of the nested sample sweep, and the full width of the m sweep
        assert np.array_equal(res["acc_n3"][k][:, :, p.n3s.index(p.n3)], res["acc_d"][k])
        assert np.array_equal(res["acc_m"]["large"][k][:, -1], res["acc_d"][k][:, -1])


def test_pretraining_quality_of_each_feature_set(small):
    p, res = small
    q = {k: v.mean(0) for k, v in res["quality"].items()}
    assert q["multi_dirs"].min() == p.r and q["single_dirs"].max() <= 1
    assert q["oracle_err"].max() < 1e-3 and q["random_err"].min() > 0.9


def test_n3_needed_interpolates_in_log_n3_caps_and_floors():
    n3s = (10, 40, 160)
    acc = np.array([[0.6, 0.8, 0.9],      # crosses 0.7 halfway (in log n3) between 10 and 40: sqrt(10 * 40)
                    [0.6, 0.65, 0.69],    # never reaches 0.7: capped at 160
                    [0.75, 0.8, 0.9],     # already there at the first n3: floored at 10
                    [0.6, 0.7, 0.9]])     # reaches it exactly at 40
    need, capped, floored = ch.n3_needed(acc, n3s, 0.7)
    assert need == pytest.approx([20.0, 160.0, 10.0, 40.0])
    assert capped.tolist() == [False, True, False, False]
    assert floored.tolist() == [False, False, True, False]
    # a target above every accuracy is capped for every curve; a lower target needs fewer samples
    assert ch.n3_needed(acc, n3s, 0.95)[1].all()
    assert np.all(ch.n3_needed(acc, n3s, 0.62)[0] <= need)


def test_paired_phrases_follow_the_data():
    base = np.linspace(0.5, 0.9, 10)
    noise = np.array([0.01, -0.01] * 5)
    assert ch.change_phrase(base, base - 0.1 + noise).startswith("falls by 0.100")
    assert ch.change_phrase(base, base + 0.1 + noise).startswith("rises by 0.100")
    assert ch.change_phrase(base, base + noise).startswith("does not change significantly")
    assert ch.compare_phrase(base + 0.1 + noise, base, "X").endswith("above X")
    assert ch.compare_phrase(base + noise, base, "X").startswith("not significantly different from X")


def test_budget_rule_and_pretraining_configs():
    p = ch.Params()
    assert ch.samples_per_task(p, 20) == 10 and ch.samples_per_task(p, 320) == 160
    assert ch.samples_per_task(p, 101) == 51 and ch.samples_per_task(p, 8) == p.n_min
    multi, single = ch.pretrain_config(p, 320, 0), ch.pretrain_config(p, 320, 0, single=True)
    assert (multi.T, multi.n1, multi.n2) == (20, 160, 160)
    assert (single.T, single.n1) == (1, 20 * 160)        # same total sample budget
    assert (multi.eta_a, multi.eta_W, multi.rounds, multi.m) == (p.eta_a, p.eta_W, p.rounds, p.m)
    assert multi.record_every == p.rounds // ch.TRAJECTORY_RECORDS
    assert ch.pretrain_config(p, 40, 0, control="shuffled_labels").control == "shuffled_labels"


def test_budget_rule_holds_over_both_profiles_sweeps():
    """sqrt(d / (T n)) is level over every d of both profiles: the rule is never at its floor there."""
    from mtrl_lib.book.chapters import get_chapter
    for profile in ("quick", "paper"):
        p = ch.Params(**get_chapter("03_downstream").profile(profile))
        assert all(math.ceil(p.n_per_d * d) >= p.n_min for d in p.ds), profile
        s = ch.summary_setting(p)
        assert s["c3_rule_phrase"].startswith("holds over the whole sweep")
        assert s["c3_noise_dmax"] == pytest.approx(s["c3_noise_dmin"], rel=0.1)
    old = ch.summary_setting(ch.Params(n_min=50))
    assert old["c3_rule_phrase"].startswith("holds from d = 100 on")


def test_default_step_sizes_are_the_grid_choice_at_the_round_budget():
    p = ch.Params()
    eta_a, eta_W, _ = step_sizes.select(step_sizes.load_grid(), "linear", p.rounds)
    assert (p.eta_a, p.eta_W) == (eta_a, eta_W)


@pytest.mark.parametrize("rounds, read_at", [(60, 60), (1, 10), (64, 60), (1000, 300)])
def test_step_size_grid_is_read_at_the_nearest_recorded_round(rounds, read_at):
    g = ch.grid_choice(ch.Params(rounds=rounds))
    assert g["c3_grid_round"] == read_at
    assert ("nearest recorded round" in g["c3_grid_round_note"]) == (rounds != read_at)


def test_head_accuracy_on_given_features_equals_the_probe():
    from mtrl_lib.model import features, init_weights
    from mtrl_lib.probe import head_accuracy, probe_accuracy
    from mtrl_lib.tasks import draw_tasks, make_generator, random_subspace, sample

    g = make_generator(3)
    M = random_subspace(30, 3, g)
    W, b = init_weights(20, 30, g)
    tasks = draw_tasks("linear", 3, 3, g)
    for method in ("ridge_loo", "ridge"):
        want = probe_accuracy(W, b, M, tasks, 40, make_generator(7), n_test=300, method=method, lam=0.1)
        g2 = make_generator(7)
        (Xtr, ytr), (Xte, yte) = sample(M, tasks, 40, g2), sample(M, tasks, 300, g2)
        got, _ = head_accuracy(features(W, b, Xtr), ytr, features(W, b, Xte), yte, method=method, lam=0.1)
        assert torch.allclose(got, want)


def test_a_unit_depends_only_on_its_seed_and_d():
    fields = {f: getattr(ch.Params(**SMALL), f) for f in ch.UNIT_FIELDS}
    a = ch.evaluate(seed=4, d=20, sweep_m=False, **fields)
    b = ch.evaluate(seed=4, d=20, sweep_m=True, **fields)
    assert np.array_equal(a["acc_n3"], b["acc_n3"]) and a["quality"] == b["quality"]


# --- parameters ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, match", [
    ({"ds": []}, "ds must be a non-empty list"),
    ({"ds": (1, 10)}, r"ds\[0\] must be an integer in \[2, 20000\]"),
    ({"ds": (160, 20)}, "ds must be strictly increasing"),
    ({"ds": (20, 20)}, "ds must be strictly increasing"),
    ({"ms": (50, 5)}, "ms must be strictly increasing"),
    ({"n3s": (400, 10)}, "n3s must be strictly increasing"),
    ({"r": 30}, "r must be at most the smallest d = 20"),
    ({"ms": (5, 500)}, "ms must not exceed m = 100"),
    ({"n3s": (10, 50)}, "n3s must reach n3 = 100"),
    ({"n3": 1}, "n3 must be an integer in"),
    ({"probe": "svm"}, "probe must be one of"),
    ({"seeds": (0, 0)}, "seeds must be distinct"),
    ({"n_per_d": -1.0}, "n_per_d must be a number"),
    ({"target_acc": 0.5}, "target_acc must be a number in"),
    ({"rounds": 0}, "rounds must be an integer in"),
])
def test_params_validation_names_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        ch.Params(**kw)


def _parameters_cell_names():
    nb = nbformat.read(NOTEBOOKS / "03_downstream.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    ns = {}
    exec(cell.source, ns)
    return nb, {k: v for k, v in ns.items() if not k.startswith("__")}


def test_every_notebook_parameter_reaches_the_experiment():
    nb, ns = _parameters_cell_names()
    assert set(ns) == {f.name for f in dataclasses.fields(ch.Params)}
    assert ch.Params.from_namespace(ns) == ch.Params()
    for name, value in [("target_acc", 0.9), ("ds", [20, 80]), ("rounds", 30), ("down_family", "quadratic")]:
        p = ch.Params.from_namespace({**ns, name: value})
        assert getattr(p, name) == (tuple(value) if isinstance(value, list) else value)
    with pytest.raises(ValueError, match="lacks target_acc"):
        ch.Params.from_namespace({k: v for k, v in ns.items() if k != "target_acc"})
    assert any("chapter.Params.from_namespace(globals())" in c.source for c in nb.cells if c.cell_type == "code")


def test_summary_has_every_name_the_prose_and_the_intro_quote(small):
    p, res = small
    s = ch.summary(res, p)
    nb, _ = _parameters_cell_names()
    quoted = set()
    for c in nb.cells:
        if c.cell_type == "markdown":
            quoted |= quoted_names(c.source)
    own = glued_in_code("\n".join(c.source for c in nb.cells if c.cell_type == "code"))   # declared constants
    assert quoted and not quoted - set(s) - own, sorted(quoted - set(s) - own)
    for name in INTRO + NEEDED:
        assert name in s
        if name.startswith(("c3_acc", "c4_acc", "c3_n3_needed")):
            assert f"{name}_ci" in s and s[f"{name}_ci"] >= 0   # 0 when every seed is capped or floored
    for name, value in s.items():
        assert isinstance(value, str) or math.isfinite(value), name


def test_cli_rejects_a_decreasing_list_before_computing(tmp_path, capsys):
    """The command line's main, in-process (tests/test_runner.py runs the real process's bad input)."""
    from mtrl_lib.book import cli

    code = cli.main(["run", "03_downstream", "-p", "ds", "[160, 20]", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "ds must be strictly increasing" in err
    assert len(err.strip().splitlines()) == 1, err


def test_cli_run_writes_the_glued_numbers(tmp_path, kernel):
    # 3 seeds keep this fast; with fewer than 10 seeds the verdicts are "undecided" (tested here too)
    args = ["-p", "ds", "20,80", "-p", "r", "3", "-p", "m", "30", "-p", "T", "10", "-p", "rounds", "1",
            "-p", "ms", "5,30", "-p", "n3s", "20,60", "-p", "n3", "60", "-p", "down_tasks", "3", "-p", "n_test", "300",
            "-p", "seeds", "0,1,2"]
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "03_downstream", *args, "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "03_downstream.json").read_text())
    for name in INTRO + NEEDED:
        assert name in data, name
    for name in ("c3_acc_pretrained_dmin", "c3_acc_pretrained_dmax", "c4_acc_random_dmin", "c4_acc_random_dmax",
                 "c3_acc_oracle_dmax"):
        assert math.isfinite(data[name]) and 0 <= data[name] <= 1, name
    assert data["c3_d_min"] == 20 and data["c3_d_max"] == 80 and data["c3_n_seeds"] == 3
    assert data["c3_verdict"].startswith("undecided") and data["c4_verdict"].startswith("undecided")
    assert data["c3_grid_round"] == 10          # rounds = 1 is read off the grid at its first recorded round


def test_random_exponent_is_measured_bounded_or_unmeasured():
    """The sketch's exponent of at least 1 for random features stands beside what the sweeps measure: a lower
    bound where the need is capped at d_max, nothing where it is capped at d_min too."""
    n, z, o = 4, np.zeros(4, bool), np.ones(4, bool)
    lo = ch.bound_exponent_text(np.full(n, 147.0), np.full(n, 400.0), z, z, o, z, 20, 320)
    assert lo.startswith("at least 0.36 (a lower bound")
    assert ch.bound_exponent_text(np.full(n, 100.0), np.full(n, 100.0), o, z, o, z, 20, 320).startswith("unmeasured")
    assert ch.bound_exponent_text(np.full(n, 20.0), np.full(n, 80.0), z, z, z, z, 20, 320).startswith("0.50 ±")
