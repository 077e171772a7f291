"""Chapter 1 (C1): multi-task training after one head step is a pseudo-contrastive loss.

The experiment runs at a small size (d = 30, m = 40, 10 seeds, about a second per run). Each statistical
assertion states the value it met at this size, so its margin can be judged.
"""
import dataclasses
import math
import re

import nbformat
import numpy as np
import pytest
import torch

from mtrl_lib import stats
from mtrl_lib.book.chapters import get_chapter
from mtrl_lib.experiments import pseudo_contrastive as ch
from mtrl_lib.units import call
from mtrl_lib.book.inline import glued_in_code, quoted_names

SMALL = dict(d=30, r=3, m=40, T=10, n1=20, n2=20, kappa_tasks=500, kappa_pairs=50, pull_tasks=50, pull_n=50,
             pull_points=30, null_draws=2)


@pytest.fixture(scope="module")
def runs(experiment):
    """The chapter at SMALL size, 10 seeds, for the real algorithm and each negative control."""
    out = {}
    for control in ch.CONTROLS:
        p = ch.Params(control=control, **SMALL)
        res = ch.run(p)
        out[control] = (p, res, ch.summary(res, p))
    return out


# ------------------------------------------------------------------------------------------ the claim

def test_claim_reproduced_at_small_size(runs):
    _, res, s = runs["none"]
    assert res["verdict"] == "reproduced" and s["c1_verdict"] == "reproduced"
    assert s["c1_n_seeds"] == 10


def test_one_step_pulls_pairs_with_positive_kernel_together_beyond_the_null(runs):
    p, res, s = runs["none"]
    # measured at this size: lower bound 0.52, null 95th percentile 0.11 (20 shuffled-label draws)
    assert s["c1_pull_corr_lo"] > s["c1_null_q95"] + 0.2, (s["c1_pull_corr_lo"], s["c1_null_q95"])
    # measured: +0.052 +- 0.004 for kappa > 0.2 and -0.053 +- 0.004 for kappa < -0.2
    assert stats.lower(ch.per_seed(res, "pull", "mean_pos")) > 0 > stats.upper(ch.per_seed(res, "pull", "mean_neg"))
    assert (s["c1_pos_moved"], s["c1_neg_moved"]) == ("moved closer", "moved apart")
    # the binned curve rises with kappa on average over seeds (paired over seeds: last bin minus first bin)
    centres, curves = ch.pull_curve(res)
    assert centres[0] < 0 < centres[-1] and stats.significantly_less(curves[:, 0], curves[:, -1])


def test_training_gradient_is_the_pseudo_contrastive_gradient_to_round_off(runs):
    _, res, s = runs["none"]
    for key in ch.GRAD_KEYS + ("heads_rel_err", "loss_rel_err", "loss_rel_err_moved"):
        assert ch.per_seed(res, "grad", key).max() < 1e-12, key      # float64 round-off is ~1e-15
    assert s["c1_grad_rel_err_max"] <= ch.GRAD_LEVEL and s["c1_grad_rel_err_moved_max"] <= ch.GRAD_LEVEL


def test_the_second_point_tests_the_activation_pattern(runs):
    """At W1 about half the activations differ from W0's (measured 0.499 +- 0.009), and the closed form with W0's
    activation pattern misses the gradient at W1 by order one (measured 0.81 to 0.96): the check at W1 can fail."""
    _, res, _ = runs["none"]
    assert 0.3 < ch.per_seed(res, "grad", "active_changed").min()
    assert 0.5 < ch.per_seed(res, "grad", "pattern_rel_err").min()


def test_empirical_kernel_matches_its_closed_form(runs):
    _, res, s = runs["none"]
    # measured: upper bound 0.107 against the level 2 * 0.136 = 0.271 (500 tasks, 50 pairs)
    assert s["c1_kappa_max_dev_hi"] <= s["c1_kappa_level"]
    assert s["c1_kappa_phrase"] == "within"


def test_logistic_loss_follows_the_identity_at_small_head_steps_only(runs):
    p, res, s = runs["none"]
    cos = ch.per_seed(res, "grad", "logistic_cos")                  # (seeds, eta_a_values)
    assert cos.shape == (10, len(p.eta_a_values))
    assert stats.lower(cos[:, 0]) > 0.999                            # measured 0.9999 at eta_a = 1
    assert stats.significantly_less(cos[:, -1], cos[:, 0])           # measured 0.62 +- 0.03 at eta_a = 200
    # at this size the cosine is significantly below 0.99 from eta_a = 10 on (0.987 +- 0.003, Holm-decided)
    assert s["c1_cos_carry"].startswith("is significantly above 0.99 up to η_a = 1 and significantly below it at")


def test_the_head_steps_cover_the_step_size_grid():
    from mtrl_lib.experiments.step_sizes import GRID_ETA_A

    assert set(GRID_ETA_A) <= set(ch.Params().eta_a_values)
    assert ch.grid_cover(ch.Params().eta_a_values) == "include every head step"
    assert ch.grid_cover((1.0, 10.0, 50.0)) == "leave out η_a = 200 of the head steps"


def test_cosine_words_are_decided_in_one_holm_family(runs):
    p, res, s = runs["none"]
    fam = ch.comparison_family(res, p)
    assert len(fam) == len(p.eta_a_values) == s["c1_family_size"]
    assert fam["cos_0"]                    # the cosine at eta_a = 1 is significantly above 0.99 (measured 0.9999)


@pytest.mark.parametrize("control", ch.CONTROLS)
def test_pair_words_and_criterion_four_are_one_decision(runs, control):
    """Referee finding 11: the words for how pairs moved are read from the bounds criterion 4 reads, so a
    borderline run cannot pass the criterion while a word reads "did not move detectably" (or the reverse)."""
    p, res, s = runs[control]
    passed = ch.criteria(res, p)["pull/push direction"]
    assert passed == ((s["c1_pos_moved"], s["c1_neg_moved"]) == ("moved closer", "moved apart"))
    for part in ("pos", "neg"):
        iv = stats.mean_ci(ch.per_seed(res, "pull", f"mean_{part}"))
        word = s[f"c1_{part}_moved"]
        assert (word == "moved closer") == bool(iv.lo > 0) and (word == "moved apart") == bool(iv.hi < 0)
    # borderline by construction: an interval that reaches 0 reads as no detectable move
    assert ch._moved(np.array([0.01, -0.002, 0.004, 0.0, 0.003])) == "did not move detectably"


def test_a_label_free_step_into_span_m_passes_check_three_too(runs):
    """Referee finding 1: for the linear family kappa depends on the projected angle alone, so a step that uses
    no label and only scales each row's part in span(M), to the training step's energy, also correlates with
    kappa and moves pairs the same way (measured here: corr 0.65 +- 0.03 against 0.57 +- 0.05 for the training
    step; at paper scale 0.74 against 0.73).
    Check 3 is therefore not specific to the pseudo-contrastive form; the gradient identity is."""
    p, res, s = runs["none"]
    free = res["label_free"]
    assert len(free) == len(p.seeds)
    for u, v in zip(free, res["pull"]):
        assert u["energy_after"] == pytest.approx(v["energy_after"], rel=1e-9)   # energy matched
        assert u["scale"] > 1                                                     # it moved W into span(M)
    assert s["c1_free_corr_lo"] > s["c1_null_q95"] and s["c1_free_vs_null"] == "above"
    assert s["c1_free_direction"] == "passes"
    # the same numbers from the same inputs (analysis, not a unit: deterministic)
    again = ch.label_free_step(p.seeds[0], p.d, p.r, p.m, p.pull_tasks, p.pull_points, p.bias_scale,
                               res["pull"][0]["energy_after"], p.device)
    assert again == free[0]


def test_energy_scale_inverts_the_energy_after_the_step():
    share = np.array([0.01, 0.05, 0.2])
    for target in (0.02, 0.0866, 0.5):
        c = ch._energy_scale(share, target)
        assert np.mean(c * c * share / (c * c * share + 1 - share)) == pytest.approx(target, rel=1e-9)
    assert ch._energy_scale(share, float(share.mean())) == pytest.approx(1.0, rel=1e-9)


def test_relative_errors_are_summarised_within_their_range(runs):
    """Referee finding 4: the relative errors of check 1 are non-negative and at round-off; the prose gives
    their median and largest seed, never a t interval (which reaches below 0), and the table glues no _ci."""
    _, _, s = runs["none"]
    for key in ch.ERROR_KEYS:
        assert 0 <= s[f"c1_{key}_median"] <= s[f"c1_{key}_max"] and f"c1_{key}_ci" not in s
    prose = "\n".join(c.source for c in _notebook().cells if c.cell_type == "markdown")
    for key in ch.ERROR_KEYS:
        assert f'c1_{key}_ci' not in prose


def test_pm_shows_a_significant_digit_of_the_half_width():
    assert stats.pm(0.9999163, 6.8e-6) == "0.999916 ± 0.000007"
    assert stats.pm(0.0063923, 0.000233) == "0.0064 ± 0.0002"
    assert stats.pm(0.8498, 0.0088) == "0.850 ± 0.009" and stats.pm(5.0, 0.0) == "5.000 ± 0"


# ------------------------------------------------------------------------------------------ negative controls

def test_shuffled_labels_are_not_reproduced(runs):
    _, res, s = runs["shuffled_labels"]
    v = res["verdict"]
    assert v.startswith("not reproduced"), v
    assert "pull/push above the shuffled-label null" in v and "kernel shape" in v
    assert "gradient identity" not in v          # the identity is algebra: it holds for any labels


def test_swapped_heads_are_not_reproduced(runs):
    _, res, s = runs["swapped_heads"]
    v = res["verdict"]
    assert v.startswith("not reproduced"), v
    assert "gradient identity" in v and "pull/push" in v


def test_sign_flipped_step_is_judged_by_what_it_does_to_pairs(runs):
    """A step up the gradient computes the same gradient (the identity holds), so only the pull/push criteria
    can catch it, and both do: similar pairs move apart."""
    _, res, s = runs["sign_flipped"]
    v = res["verdict"]
    assert v == "not reproduced (pull/push above the shuffled-label null; pull/push direction failed)", v
    assert (s["c1_pos_moved"], s["c1_neg_moved"]) == ("moved apart", "moved closer")
    assert s["c1_pull_vs_null"] == "not above"


def test_fewer_than_ten_seeds_decide_nothing():
    p = ch.Params(seeds=tuple(range(9)), **SMALL)
    assert ch.verdict({"seeds": list(p.seeds)}, p) == stats.undecided(9)


# ------------------------------------------------------------------------------------------ construction

def test_null_draws_are_distinct_and_paired_with_the_real_run(runs):
    p, res, _ = runs["none"]
    corr = np.array([u["corr"] for u in res["null"]]).reshape(len(p.seeds), p.null_draws)
    assert len(np.unique(corr)) == corr.size           # every shuffled-label draw is its own
    assert len(res["null"]) == p.null_draws * len(p.seeds)


def test_shuffle_keeps_each_tasks_labels():
    from mtrl_lib.tasks import make_generator

    Y = torch.tensor([[1.0, 1.0, -1.0, -1.0, -1.0], [1.0, -1.0, -1.0, -1.0, -1.0]])
    S = ch.shuffle_labels(Y, make_generator(0))
    assert torch.equal(S.sort(dim=1).values, Y.sort(dim=1).values)


def test_units_give_the_same_bytes_at_any_thread_count():
    p = ch.Params(**SMALL)
    us = [part[0] for part in ch.units(p).values()]
    old = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outs.append([call(u) for u in us])
    finally:
        torch.set_num_threads(old)
    for a, b in zip(*outs):
        assert a.keys() == b.keys()
        for k in a:
            assert np.asarray(a[k]).tobytes() == np.asarray(b[k]).tobytes(), k


def test_carry_phrase_reads_the_decided_comparisons():
    etas = (1.0, 10.0, 50.0)
    iv = lambda mean, half: stats.Interval(np.array(mean), np.array(half), 10)
    one = iv([1.0, 0.995, 0.85], [0.0, 0.001, 0.01])
    assert ch._carry(etas, one, ["above"] * 3).startswith("is significantly above 0.99 at every")
    phrase = ch._carry(etas, one, ["above", "above", "below"])
    assert phrase.endswith("up to η_a = 10 and significantly below it at η_a = 50 (cosine 0.850 ± 0.010)")
    assert "not distinguishable from it at η_a = 10" in ch._carry(etas, one, ["above", "neither", "below"])
    assert ch._carry(etas, one, ["below"] * 3).startswith("is significantly below 0.99 already")


def test_summary_values_are_finite_and_quote_their_intervals(runs):
    _, _, s = runs["none"]
    for k, v in s.items():
        assert k.startswith("c1_")
        assert isinstance(v, str) or math.isfinite(v), k
    for name in ("c1_pull_corr", "c1_cos_small", "c1_cos_large", "c1_kappa_max_dev", "c1_free_corr"):
        assert f"{name}_ci" in s and s[f"{name}_ci"] >= 0
    # no interval of the summary prints as "± 0.000..." when its half-width is not 0
    for k, v in s.items():
        if isinstance(v, str) and "± " in v:
            for half in re.findall(r"± ([0-9.]+)", v):
                assert float(half) > 0 or half == "0", (k, v)


# ------------------------------------------------------------------------------------------ parameters and notebook

def _notebook():
    return nbformat.read(get_chapter("01_pseudo_contrastive").notebook, as_version=4)


def test_every_notebook_parameter_reaches_the_experiment():
    nb = _notebook()
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    ns = {}
    exec(cell.source, ns)
    names = {k for k in ns if not k.startswith("__")}
    assert names == {f.name for f in dataclasses.fields(ch.Params)}
    assert ch.Params.from_namespace(ns) == ch.Params()
    for name, value in [("d", 60), ("eta_a_values", [2.0, 20.0]), ("control", "swapped_heads"), ("null_draws", 3),
                        ("seeds", [3, 4])]:
        p = ch.Params.from_namespace({**ns, name: value})
        assert getattr(p, name) == (tuple(value) if isinstance(value, list) else value)
    # each unit receives the fields it uses
    u = ch.units(ch.Params(pull_step=7.0, eta_a_values=(2.0, 3.0), seeds=(5, 6)))
    assert u["pull"][0].kwargs["pull_step"] == 7.0 and u["grad"][0].kwargs["eta_a_values"] == [2.0, 3.0]
    assert u["kappa"][0].seed == 5
    assert "params = chapter.Params.from_namespace(globals())" in "\n".join(c.source for c in nb.cells)


def test_every_glued_name_in_the_prose_is_computed(runs):
    nb = _notebook()
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    used = {n for n in quoted_names(prose) if n.startswith("c1_")}
    glued_in_notebook = {n for n in glued_in_code(code) if n.startswith("c1_")}
    _, _, s = runs["none"]
    assert used and used <= set(s) | glued_in_notebook, used - set(s) - glued_in_notebook
    # the verdict is glued by the first glue cell, under the claim (a select of the summary's c1_verdict)
    first_glue = next(c.source for c in nb.cells if c.cell_type == "code" and "glue_all(" in c.source)
    assert "c1_verdict" in s and '"c1_verdict"' in first_glue


def test_every_name_the_prose_quotes_is_glued_by_a_cell(runs):
    """The summary computes a name, but the prose shows it only if a cell glues it: the cells glue
    ``chapter.select(summary, PREFIX, ...)`` sections, so every quoted name must start with a selected prefix or
    be glued by name."""
    nb = _notebook()
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    prefixes = tuple(p for call in re.findall(r"chapter\.select\(summary,([^)]*)\)", code)
                     for p in re.findall(r'"([^"]+)"', call))
    _, _, s = runs["none"]
    selected = {k for k in s if k.startswith(prefixes)} | glued_in_code(code)
    used = {n for n in quoted_names(prose) if n.startswith("c1_")}
    assert used <= selected, sorted(used - selected)


@pytest.mark.parametrize("kw, match", [
    ({"eta_a_values": (50.0, 1.0)}, "eta_a_values must be strictly increasing"),
    ({"eta_a_values": ()}, "eta_a_values must be a non-empty list"),
    ({"eta_a_values": (0.0, 1.0)}, r"eta_a_values\[0\] must be a number in \(0"),
    ({"control": "none!"}, "control must be one of"),
    ({"null_draws": 1}, r"null_draws must be an integer in \[2, 1000\]"),
    ({"pull_points": 2}, "pull_points must be an integer in"),
    ({"seeds": (1, 1)}, "seeds must be distinct"),
    ({"seeds": (1,)}, "seeds must hold at least 2 seeds"),
    ({"r": 8, "d": 5}, "r must be at most d = 5"),
    ({"device": "tpu"}, "device must be one of"),
])
def test_params_validation_names_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        ch.Params(**kw)
