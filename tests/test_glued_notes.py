"""Where a glued number comes from (mtrl_lib/book/glued_notes.py): what each value is, inferred from its name
and value; capped means written as bounds; computed phrases in the reader's words; the notes' commands."""
from mtrl_lib.book import paper_scale as ps
from mtrl_lib.book.chapters import CHAPTERS, get_chapter
from mtrl_lib.book.glued_notes import capped_text, describe, note_html, reader_words, undescribed

GLUED = {"c2_err_T1": 0.99, "c2_err_T1_ci": 0.01, "c2_n_seeds": 10, "c2_d": 100, "c2_Tmax": 100,
         "c2_verdict": "reproduced", "c2_status_T1": "not recovered", "c2_recovered_cosine": 0.9,
         "c2_linear_err_Tmax_hi": 0.05, "c2_slope_T": -0.5, "c2_slope_T_ci": 0.1, "c2_odd": 0.123,
         "c3_n3_needed_random_dmax": 400.0, "c3_n3_needed_random_dmax_ci": 0.0,
         "c3_n3_needed_random_dmax_capped": 10, "c3_n3_needed_single_dmax": 380.0,
         "c3_n3_needed_single_dmax_ci": 12.0, "c3_n3_needed_single_dmax_capped": 4,
         "c3_n3_needed_pretrained_dmax": 40.0, "c3_n3_needed_pretrained_dmax_ci": 5.0,
         "c3_n3_needed_pretrained_dmax_capped": 0}
PARAMS = {"d": 100, "T_values": [1, 5, 20, 100], "seeds": list(range(10))}


def test_what_a_value_is_comes_from_its_name_and_value():
    meanings = get_chapter("02_subspace_recovery").meanings()
    said = {k: describe(k, GLUED, PARAMS, meanings)[0] for k in GLUED}
    assert said["c2_err_T1"].startswith("A mean over 10 seeds") and "half-width" in said["c2_err_T1"]
    assert said["c2_err_T1_ci"].startswith("The half-width of the 95% Student-t")
    assert said["c2_d"] == "The parameter `d` of this run (ambient dimension of x)."
    assert "largest value of the parameter `T_values`" in said["c2_Tmax"]
    assert "verdict" in said["c2_verdict"] and "computed test" in said["c2_status_T1"]
    assert "threshold" in said["c2_recovered_cosine"] and said["c2_linear_err_Tmax_hi"].startswith("The upper end")
    assert "fitted slope" in said["c2_slope_T"]
    assert undescribed(GLUED, PARAMS, meanings) == ["c2_odd"]
    # a chapter's own map comes first, and may use patterns
    assert describe("c2_odd", GLUED, PARAMS, meanings, {"c2_o*": "the odd one"}) == ("the odd one.", True)


def test_a_median_says_it_is_a_median():
    """Chapter 2's medians (suffix _median), chapter 8's (part _med_): a median over the seeds, of what the rest
    of the name says; a chapter's own note that already says median is kept as it is."""
    glued = {**GLUED, "c2_linear_err_T_mid_median": 0.988, "p8_err_end_med_n2": 0.2, "c1_grad_rel_err_median": 1e-15}
    said = {k: describe(k, glued, PARAMS)[0] for k in ("c2_linear_err_T_mid_median", "p8_err_end_med_n2")}
    for text in said.values():
        assert text.startswith("A median over 10 seeds") and "an error" in text and "mean" not in text, text
    own = {"c1_*_median": "The median over the seeds of a relative error of check 1"}
    assert describe("c1_grad_rel_err_median", glued, PARAMS, notes=own)[0] == own["c1_*_median"] + "."
    # a chapter's note that does not say median gets the kind before it; a word that merely contains med does not
    assert describe("c2_err_T1_median", glued, PARAMS, notes={"c2_err_T*": "The final error"})[0] == (
        "A median over 10 seeds (the middle seed's value, which a few failing seeds do not move): the final error.")
    assert "median" not in describe("c2_medal_err", {"c2_medal_err": 0.3}, PARAMS)[0]


def test_every_chapter_parameter_has_a_meaning():
    for c in CHAPTERS:
        meanings = c.meanings()
        assert set(meanings) == set(c.defaults()) and all(meanings.values()), c.name


def test_a_capped_mean_is_written_as_a_bound():
    assert capped_text("c3_n3_needed_random_dmax", "400", "0", GLUED) == "≥ 400 (every seed at the cap)"
    assert capped_text("c3_n3_needed_single_dmax", "380", "12", GLUED) == (
        "380 ± 12, a lower bound (4 of 10 seeds at the cap)")
    assert capped_text("c3_n3_needed_pretrained_dmax", "40", "5", GLUED) is None
    assert capped_text("c2_err_T1", "0.99", "0.01", GLUED) is None
    data = {"chapters": {"03_downstream": {"glued": GLUED}}}
    line = ("| C4 | {glue:text}`chapters/03_downstream.ipynb::c3_n3_needed_random_dmax:.0f` ± "
            "{glue:text}`chapters/03_downstream.ipynb::c3_n3_needed_random_dmax_ci:.0f` and "
            "{glue:text}`chapters/03_downstream.ipynb::c3_n3_needed_pretrained_dmax:.0f` ± "
            "{glue:text}`chapters/03_downstream.ipynb::c3_n3_needed_pretrained_dmax_ci:.0f` |")
    assert ps._row(data, line) == "| C4 | ≥ 400 (every seed at the cap) and 40 ± 5 |"


def test_computed_phrases_reach_the_reader_in_words():
    assert reader_words("not within a factor 2 of the moment2 estimator") == (
        "not within a factor 2 of the second-moment estimator")
    assert reader_words("the probe ridge_loo") == "the probe ridge with a leave-one-out penalty"
    assert reader_words("momentum2 and moment22") == "momentum2 and moment22"


def test_a_note_names_the_profile_commit_and_commands():
    html = note_html("c2_d", "02_subspace_recovery", "The parameter `d` of this run.", 100, "paper",
                     "0123456789abcdef+dirty")
    assert "<code>d</code>" in html and "paper profile" in html and "0123456789 with uncommitted changes" in html
    assert "python -m mtrl_lib run 02_subspace_recovery --profile paper" in html
    assert "python -m mtrl_lib verify --chapter 02_subspace_recovery" in html
    assert "--store _build/store" in note_html("x", "02_subspace_recovery", "x", 1.5, "quick", "abc")


def test_a_mean_written_as_text_is_called_a_mean_not_words():
    from mtrl_lib.book.glued_notes import describe

    text, described = describe("c3_exp_m_pretrained_text", {"c3_exp_m_pretrained_text": "0.165 ± 0.021", "c3_n_seeds": 20})
    assert described and text.startswith("A mean over 20 seeds") and "Words" not in text
    assert describe("c3_verdict_word", {"c3_verdict_word": "partly reproduced"})[0].startswith("Words chosen")
