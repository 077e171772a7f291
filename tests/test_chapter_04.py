"""Chapter 4 (C5): a single task learns its own direction and no other; multi-task training at the same
budget learns all r; the verdict fails for runs that cannot learn and for a broken algorithm."""
import dataclasses
import json
import subprocess
import sys

import nbformat
import numpy as np
import pytest
import torch

from mtrl_lib import stats
from mtrl_lib.book.chapters import get_chapter
from mtrl_lib.experiments import single_task as ch
from mtrl_lib.experiments import step_sizes
from mtrl_lib.tasks import make_generator
from mtrl_lib.train import setup, train

INTRO = ("c5_verdict", "c5_directions_single_max", "c5_directions_multi_mean", "c5_acc_orthogonal_single",
         "c5_acc_orthogonal_multi")

# A small size with the book's 10 seeds (about 5 s on 2 cores). The margins asserted below hold with room at
# this size: own-direction cosine about 0.998 against the 0.9 level, multi-task smallest cosine about 0.96,
# orthogonal accuracy gap about 0.24 with a paired half-width about 0.02.
SMALL = dict(d=40, r=4, m=50, T=12, n=30, rounds=60, draws=40, n3=80, n3s=(20, 80), down_tasks=4, n_test=400)
# The negative controls check the reason each fails for; 12 draws (too few for criterion 2 to pass, which the
# tests do not rely on) halve their cost.
CONTROL = {**SMALL, "draws": 12}


@pytest.fixture(scope="module")
def small(experiment):
    p = ch.Params(**SMALL)
    return p, ch.run(p)


# ------------------------------------------------------------------------------------------- the claim

def test_claim_each_single_task_learns_its_own_direction_and_no_other(small):
    p, res = small
    s, ps, mt = res["single"], res["paired"], res["multi"]
    assert s["dirs"].shape == (p.draws,) and s["cos"].shape == (p.draws, p.r)
    # its own direction: W's top direction is M v_1, on every draw and on the lower 95% bound
    assert s["own"].min() >= 0.9 and stats.lower(s["own"]) >= 0.9
    # ... which a random W does not have (its cosine is of order 1/sqrt(d))
    assert stats.upper(s["own0"]) < 0.5
    # no draw recovers all r: the chance that one does is bounded below the level (0 of 40: 0.088)
    assert s["dirs"].max() < p.r and ch.bounds(res, p)["c5_all_r_frac_hi"] < ch.ALL_R_LEVEL
    # the mechanism: the energy in the rest of span(M) falls below its random start (paired over draws)
    assert stats.significantly_less(s["e_rest"], s["e0_rest"])
    # multi-task training at the same budget recovers all r, significantly more than the paired single task
    assert stats.lower(mt["cos"][:, -1]) >= 0.9
    assert stats.paired_ci(mt["dirs"], ps["dirs"]).lo > 0


def test_claim_downstream_single_task_features_fail_orthogonal_tasks(small):
    p, res = small
    ps, mt, i = res["paired"], res["multi"], res["i_n3"]
    assert p.sweep_n3[i] == p.n3
    single = {k: ps[f"acc_{k}"][:, i] for k in ch.TASK_SETS}
    multi = {k: mt[f"acc_{k}"][:, i] for k in ch.TASK_SETS}
    random = {k: mt[f"acc_random_{k}"][:, i] for k in ch.TASK_SETS}
    assert stats.significantly_less(single["orthogonal"], multi["orthogonal"])
    assert stats.significantly_less(single["orthogonal"], random["orthogonal"])   # it removed those directions
    assert stats.significantly_less(random["aligned"], single["aligned"])         # and learned its own
    # multi-task features treat directions alike: the paired interval of aligned - orthogonal lies in +-0.05
    iv = stats.paired_ci(multi["aligned"], multi["orthogonal"])
    assert -0.05 < iv.lo and iv.hi < 0.05
    assert mt["acc_random_orthogonal"].shape == (len(p.seeds), len(p.sweep_n3))


def test_verdict_of_the_small_run_is_reproduced(small):
    p, res = small
    assert ch.verdict(res, p) == "reproduced"


# ----------------------------------------------------------------------------------- negative controls

def test_negative_control_shuffled_labels_is_not_reproduced(experiment):
    """Labels independent of x: nothing can be learned, and the positive requirement fails."""
    p = ch.Params(**CONTROL, control="shuffled_labels")
    res = ch.run(p)
    v = ch.verdict(res, p)
    assert v.startswith("not reproduced") and "did not learn their own direction" in v, v
    assert stats.upper(res["single"]["own"]) < 0.5


def test_negative_control_swapped_heads_is_not_reproduced(experiment):
    """A broken algorithm (each head fitted to another task's labels): multi-task training no longer recovers
    span(M), and a comparison with it must not count as reproducing C5."""
    p = ch.Params(**CONTROL, control="swapped_heads")
    v = ch.verdict(ch.run(p), p)
    assert v.startswith("not reproduced") and "multi-task training did not recover all r directions" in v, v


def test_negative_control_one_round_is_not_reproduced_and_the_summary_still_reads(experiment):
    """Too few rounds to learn; rounds = 1 is also off the step-size grid, which used to crash the glue cell."""
    p = ch.Params(**{**CONTROL, "rounds": 1})
    res = ch.run(p)
    s = ch.summary(res, p)
    assert s["c5_verdict"].startswith("not reproduced"), s["c5_verdict"]
    assert "has no entry at 1 rounds" in s["c5_grid_phrase"]


def _fake(r=4, n=10, draws=40, own=0.99, single_dirs=1, n_all=0, multi_cos=0.99, acc_single=0.6, acc_multi=0.9):
    """Synthetic reduced results with small seed-to-seed noise, for the verdict's logic: ``draws`` single-task
    draws of which ``n_all`` recover all r directions (the rest ``single_dirs``), ``n`` paired seeds."""
    g = np.random.default_rng(0)
    jit = lambda k=n: g.normal(0, 0.003, k)
    cos_multi = np.clip(multi_cos + jit(), 0, 1)[:, None].repeat(r, 1)
    multi_dirs = (cos_multi >= 0.9).sum(1).astype(float)
    dirs = np.full(draws, float(single_dirs))
    dirs[:n_all] = r
    single = {"own": own + jit(draws), "dirs": dirs}
    acc = lambda a: (a + jit())[:, None]
    paired = {k: v[:n] for k, v in single.items()}
    return {"single": single, "paired": {**paired, "acc_orthogonal": acc(acc_single)},
            "multi": {"cos": cos_multi, "dirs": multi_dirs, "acc_orthogonal": acc(acc_multi)}, "i_n3": 0}


@pytest.mark.parametrize("kw, start, reason", [
    ({}, "reproduced", None),
    ({"own": 0.3, "single_dirs": 0}, "not reproduced", "did not learn their own direction"),
    # a mean below r that most draws exceed: 30 of 40 recover all 4 (mean 3.25): the mean bound would pass
    ({"n_all": 30}, "not reproduced", "30 of 40 draws recovered all r = 4 directions"),
    ({"n_all": 2}, "not reproduced", "2 of 40 draws recovered all r = 4"),     # bound 0.169
    ({"n_all": 0, "draws": 20}, "not reproduced", "needs at least 36 draws"),   # 0 of 20: bound 0.168
    ({"multi_cos": 0.5}, "not reproduced", "multi-task training did not recover all r directions"),
    ({"acc_single": 0.9}, "partly reproduced", "not significantly less accurate"),
])
def test_verdict_criteria_each_decide(kw, start, reason):
    p = ch.Params(r=4, draws=kw.get("draws", 40))
    v = ch.verdict(_fake(**kw), p)
    assert v.startswith(start), v
    if reason:
        assert reason in v
    else:
        assert v == "reproduced"


def test_criterion_two_bounds_the_share_of_draws_not_the_mean():
    """Issue 33: 80% of draws recovering all r passes a bound on the mean number of directions but not the
    Clopper-Pearson bound on the share; 0 of 100 draws bounds the chance at 3.6%."""
    fake = _fake(n_all=32, single_dirs=1)                     # 32 of 40 at r = 4, the rest at 1: mean 3.4
    assert stats.upper(fake["single"]["dirs"]) < 4
    assert ch.bounds(fake, ch.Params(r=4))["c5_all_r_frac_hi"] > 0.9
    assert stats.clopper_pearson(0, 100)[1] == pytest.approx(0.0362, abs=1e-4)
    # referee finding 5: that is the end of a two-sided 95% interval (one-sided 97.5%); the one-sided 95% bound
    assert stats.clopper_pearson(0, 100, level=0.90)[1] == pytest.approx(1 - 0.05 ** 0.01) == pytest.approx(0.0295, abs=1e-4)
    assert ch.bounds(_fake(draws=100), ch.Params(r=4, draws=100))["c5_all_r_frac_hi95"] == pytest.approx(0.0295, abs=1e-4)
    assert ch.min_draws() == 36 and stats.clopper_pearson(0, 36)[1] < ch.ALL_R_LEVEL <= stats.clopper_pearson(0, 35)[1]


def test_clopper_pearson_covers_and_is_exact_at_the_edges():
    assert stats.clopper_pearson(0, 10) == (0.0, pytest.approx(1 - 0.025 ** 0.1))
    assert stats.clopper_pearson(10, 10) == (pytest.approx(0.025 ** 0.1), 1.0)
    lo, hi = stats.clopper_pearson(5, 10)
    assert lo < 0.5 < hi and lo == pytest.approx(1 - hi)
    with pytest.raises(ValueError, match="clopper_pearson needs"):
        stats.clopper_pearson(3, 2)


def test_symmetry_null_of_the_second_cosine():
    """The null's mean at d = 200, r = 5 is the issue's simulated 0.220; it falls with d like sqrt((r-1)/d);
    it is deterministic; and the small run's single tasks are not distinguishable from it."""
    x = ch.symmetry_null(200, 5)
    assert x.shape == (ch.NULL_SIMS,) and x.mean() == pytest.approx(0.220, abs=0.003)
    assert np.array_equal(x, ch._symmetry_null.__wrapped__(200, 5, ch.NULL_SIMS, ch.NULL_SEED))
    assert ch.symmetry_null(100, 5).mean() > x.mean() > ch.symmetry_null(400, 5).mean()


def test_comparison_words_come_from_one_holm_family(small):
    p, res = small
    fam = ch.comparison_family(res, p)
    s = ch.summary(res, p)
    assert len(fam) == s["c5_family_size"] == 7
    assert s["c5_cos2_vs_null"] == "not distinguishable from"          # the symmetry argument's own null
    assert s["c5_e_rest_relation"] == "significantly below"
    assert s["c5_orthogonal_single_vs_multi"] == "significantly below"
    for k, v in s.items():
        if k.endswith(("_relation", "_vs_null")) or "_vs_" in k:
            assert v in ch.WORDS, (k, v)


def test_counts_read_as_counts():
    """Referee finding 4: counts are printed as counts, never as a t interval ("4.0 ± 0.0")."""
    assert ch.count_text(np.full(10, 5.0)) == "5 on every seed"
    assert ch.count_text(np.array([4.0, 5.0, 5.0])) == "5 on 2 seeds and 4 on 1"
    assert ch.count_text(np.ones(3), "draw") == "1 on every draw"


def test_criterion_four_is_a_sign_test_on_the_paired_counts():
    """Referee finding 4: a gain of 4 directions on every seed has a zero-width t interval; the sign test counts
    the seeds (10 of 10: p = 2^-10), and fails when the runs do not differ."""
    p = ch.Params(r=4)
    fake = _fake()                                           # multi-task recovers 4, single 1, on every seed
    b = ch.bounds(fake, p)
    assert (b["c5_directions_more"], b["c5_directions_fewer"]) == (10, 0)
    assert b["c5_directions_sign_p"] == pytest.approx(2.0 ** -10) and b["c5_directions_sign_p"] < ch.SIGN_LEVEL
    same = _fake(single_dirs=4)                               # no gain on any seed
    same["paired"]["dirs"] = same["multi"]["dirs"].copy()
    v = ch.verdict(same, p)
    assert "sign test: more on 0, fewer on 0" in v, v
    assert stats.sign_test([1, 1, 1, 1, 1, -1])[2] == pytest.approx(7 / 64)


def test_energy_left_in_the_rest_of_span_m_is_what_symmetry_predicts(small):
    """Referee finding 10: the share of ||W||^2 in the r - 1 other directions of span(M) after single-task
    training is (1 - e_along)(r - 1)/(d - 1) by symmetry; the fall from the random start is predicted by it, so
    the chapter compares with the prediction (in the Holm family) and prints it beside the observed share.
    Measured here (d = 40, r = 4): observed 0.041 +- 0.002, observed minus predicted -0.0001 +- 0.0015."""
    p, res = small
    s = ch.summary(res, p)
    assert s["c5_e_rest_vs_pred"] == "not distinguishable from" and s["c5_e_rest_relation"] == "significantly below"
    assert "no detectable share beyond it" in s["c5_e_rest_reading"]
    pred = ch.rest_prediction(res["single"]["e_along"], p.d, p.r)
    assert s["c5_e_rest_pred"] == pytest.approx(pred.mean())
    # the prediction at the random start is about (r - 1)/d, and a W all along u leaves nothing for the rest
    assert ch.rest_prediction(np.array([1 / p.d]), p.d, p.r)[0] == pytest.approx((p.r - 1) / p.d)
    assert ch.rest_prediction(np.array([1.0]), p.d, p.r)[0] == 0.0
    assert "e_rest_pred" in ch.family_values(res, p)


def test_the_orthogonal_word_is_criterion_fives_decision(small):
    """Referee finding 11: the word comparing single- and multi-task features on orthogonal tasks is read from
    criterion 5's own bound, so the two cannot disagree; it is not in the Holm family."""
    p, res = small
    s = ch.summary(res, p)
    assert "orthogonal_single_multi" not in ch.family_values(res, p)
    passed = ch.criteria(res, p)[4][1]
    assert passed == (s["c5_orthogonal_single_vs_multi"] == "significantly below")
    fake = _fake(acc_single=0.9)                              # criterion 5 fails
    assert ch.orthogonal_word(fake, ch.Params(r=4)) == "not distinguishable from"


def test_own_direction_sentence_follows_criterion_one():
    assert ch.own_phrase(True).startswith("What a single task learns is its own direction")
    assert "not shown" in ch.own_phrase(False) and "criterion 1" in ch.own_phrase(False)


def test_grid_sizes_are_said_where_they_differ():
    """Referee finding 9: the step-size grid is computed at d = 100, m = 200, T = 20, n = 50."""
    assert ch.grid_sizes_phrase(ch.Params(d=100, m=200, T=20, n=50)).endswith("this run's sizes")
    phrase = ch.grid_sizes_phrase(ch.Params(d=200, m=200, n=100))
    assert "d = 100, m = 200, T = 20 tasks of n = 50" in phrase and "(d = 200, m = 200, T = 20 tasks of n = 100)" in phrase


def test_no_interval_prints_a_zero_half_width_that_is_not_zero(small):
    """Referee finding 4: "± 0.0000" artefacts; every _text interval shows a significant digit of its half-width."""
    p, res = small
    s = ch.summary(res, p)
    texts = {k: v for k, v in s.items() if k.endswith("_text") and "±" in v}
    assert "c5_own_single_text" in texts and "c5_e_rest_single_text" in texts
    for k, v in texts.items():
        half = v.split("± ")[1]
        assert float(half) > 0 or half == "0", (k, v)


def test_verdict_needs_ten_seeds():
    assert ch.verdict({}, ch.Params(seeds=tuple(range(9)), draws=9)).startswith("undecided")


# ------------------------------------------------------------------------------- parameters and notebook

def test_every_notebook_parameter_reaches_the_experiment():
    nb = nbformat.read(get_chapter("04_single_task").notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    ns = {}
    exec(cell.source, ns)
    names = {k for k in ns if not k.startswith("__")}
    assert names == {f.name for f in dataclasses.fields(ch.Params)}
    assert ch.Params.from_namespace(ns) == ch.Params()
    for name, value in [("d", 60), ("n3s", [5, 50]), ("control", "swapped_heads"), ("draws", 30)]:
        p = ch.Params.from_namespace({**ns, name: value})
        assert getattr(p, name) == (tuple(value) if isinstance(value, list) else value)
    assert "params = chapter.Params.from_namespace(globals())" in "\n".join(c.source for c in nb.cells)


def test_default_step_sizes_are_the_grid_choice_at_the_round_budget():
    p = ch.Params()
    eta_a, eta_W, _ = step_sizes.select(step_sizes.load_grid(), "linear", p.rounds)
    assert (p.eta_a, p.eta_W) == (eta_a, eta_W)
    assert "the values used here are its choice" in ch.grid_phrase(p)
    assert "overrides" in ch.grid_phrase(ch.Params(eta_W=0.2))


@pytest.mark.parametrize("kw, match", [
    ({"r": 1}, r"r must be an integer in \[2, 100\]"),
    ({"T": 1}, "T must be an integer in"),
    ({"draws": 5}, "draws must be at least the number of seeds"),
    ({"n3s": []}, "n3s must be a non-empty list"),
    ({"n3s": (1, 10)}, r"n3s\[0\] must be an integer in"),
    ({"n3s": (50, 10)}, "n3s must be strictly increasing"),
    ({"n3s": (10, 10)}, "n3s must be strictly increasing"),
    ({"seeds": (1, 1)}, "seeds must be distinct"),
    ({"seeds": (3,), "draws": 5}, "seeds must hold at least 2 seeds"),
    ({"control": "none!"}, "control must be one of"),
    ({"probe": "svm"}, "probe must be one of"),
    ({"device": "tpu"}, "device must be one of"),
])
def test_params_validation_names_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        ch.Params(**kw)


def test_sweep_includes_the_headline_n3():
    p = ch.Params(n3=70, n3s=(10, 200))
    assert p.n3s == (10, 200) and p.sweep_n3 == (10, 70, 200)


def test_draw_seeds_start_with_the_paired_seeds():
    assert ch.draw_seeds(ch.Params(seeds=tuple(range(3, 13)), draws=14)) == tuple(range(3, 13)) + (0, 1, 2, 13)


# ------------------------------------------------------------------------------------- construction

def test_pairing_single_draw_is_the_first_task_of_the_multi_run():
    p = ch.Params(d=30, r=3, m=20, T=6, n=10, rounds=3)
    multi = setup(ch.config(p, 0, single=False))
    single_cfg = ch.config(p, 0, single=True)
    assert (single_cfg.T, single_cfg.n1, single_cfg.n2) == (1, p.T * p.n, p.T * p.n)
    res = ch.train_run(0, True, **{k: getattr(p, k) for k in ch.TRAIN_FIELDS})
    assert torch.equal(res.M, multi[0]) and torch.equal(res.W0, multi[2])
    assert torch.equal(res.tasks.params[0], multi[1].params[0])
    assert res.config == single_cfg


def test_downstream_task_sets():
    g = make_generator(5)
    v1 = torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64)
    sets = ch.downstream_tasks(v1, 7, g)
    assert torch.allclose(sets["aligned"].params, v1.expand(7, 3))
    for k in ("orthogonal", "new"):
        assert torch.allclose(sets[k].params.norm(dim=1), torch.ones(7, dtype=torch.float64))
    assert sets["orthogonal"].params.double().matmul(v1).abs().max() < 1e-12


def test_energy_split_and_own_cosine():
    from mtrl_lib.metrics import energy
    from mtrl_lib.model import init_weights
    from mtrl_lib.tasks import random_subspace

    g = make_generator(1)
    M = random_subspace(20, 3, g)
    W, _ = init_weights(15, 20, g)
    v1 = torch.tensor([0.0, 1.0, 0.0])
    along, rest = ch.energy_split(W, M, v1)
    assert along + rest == pytest.approx(energy(W, M))
    W_on = M[:, 1].expand(15, 20).clone()        # every row along M v_1
    assert ch.energy_split(W_on, M, v1) == pytest.approx((1.0, 0.0), abs=1e-6)
    assert ch.own_cosine(W_on, M, v1) == pytest.approx(1.0, abs=1e-6)
    assert ch.own_cosine(W_on, M, torch.tensor([1.0, 0.0, 0.0])) == pytest.approx(0.0, abs=1e-6)


def test_explore_shares_the_sample_budget_at_the_chapters_step_sizes():
    res = ch.explore(T=4, d=20, rounds=2)
    assert res["n"] == ch.EXPLORE["n_total"] // 4 and res["cos"].shape == (ch.EXPLORE["r"],)
    p = ch.Params()
    assert step_sizes.STEP_SIZES["linear"] == (p.eta_a, p.eta_W) and ch.EXPLORE["rounds"] == p.rounds


def test_cli_run_with_rounds_off_the_grid_writes_the_glued_numbers(tmp_path, kernel):
    """`run 04_single_task -p rounds 1` used to pass validation and crash in the glue cell."""
    args = ["-p", "d", "30", "-p", "r", "3", "-p", "m", "30", "-p", "T", "8", "-p", "n", "20", "-p", "rounds", "1",
            "-p", "draws", "10", "-p", "n3s", "20,60", "-p", "n3", "60", "-p", "down_tasks", "3", "-p", "n_test", "300"]
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "04_single_task", *args, "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "04_single_task.json").read_text())
    for name in INTRO[1:]:
        assert np.isfinite(data[name]) and np.isfinite(data.get(f"{name}_ci", 0.0)), name
    for name in ("c5_directions_multi_mean_ci", "c5_acc_orthogonal_single_ci", "c5_acc_orthogonal_multi_ci"):
        assert name in data, name
    assert data["c5_n_seeds"] == 10 and data["c5_draws"] == 10 and data["c5_rounds"] == 1
    assert data["c5_verdict"].startswith("not reproduced")      # one round learns nothing
