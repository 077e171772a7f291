"""Every number and computed phrase the chapter's prose quotes (glue names start with ``b_``).

Each ``*_numbers`` function returns the glue values of one section of the chapter; :func:`summary` is their
union. A direction word ("significantly below", "falls significantly", ...) is read from the chapter's Holm
family (:func:`~.analysis.comparisons`) by :func:`direction`; a phrase that could flip with the data is chosen
by a computed condition, never typed in the notebook.
"""
from __future__ import annotations

import numpy as np

from ...comparisons import pseudo_median
from ...metrics import RECOVERED_COSINE
from ...stats import MIN_SEEDS, enough_seeds, mean_ci, pm
from .analysis import (BLIND, LEARN_LEVEL, MATCHED, METHOD_WORDS, RATIO_BOUND, SKETCH_SLOPES, SLOPE_MARGIN,
                       budget_ends, failed, ratio_ci, slope_equal)
from .explore import explore_numbers
from .plan import budget_n
from .setting import CASES, ESCAPE_LEVEL, METHODS, PAPER_FAMILIES, STEP_FACTORS, Params

#: one-line descriptions of glue names whose meaning their name does not say (read by the book's notes on
#: glued numbers; fnmatch patterns)
GLUE_NOTES = {
    "b_*_drop_median*": "the median over seeds of the paired drop in final error from the smallest to the "
                        "largest T above r",
    "b_*_drop_up*": "the number of seeds whose final error fell from the smallest to the largest T above r",
    "b_acc_network_subspace_*": "downstream accuracy on m features rebuilt uniformly inside the network's own "
                                "top-r subspace (as every estimator's features are built)",
    "b_acc_rebuild_*": "the accuracy of the network's rebuilt subspace features minus that of its own W",
    "b_matched_hi_*": "the upper 95% bound of the matched estimator's error on its own family",
    "b_samples_d2_*": "samples per task the network saw, in units of d²",
    "b_curv_dof": "residual degrees of freedom per seed of the escape-round curvature fit",
}
_FACTOR_WORDS = {0.5: "half the step", 1.0: "the rule's step", 2.0: "double the step"}


def direction(fam, name: str, x, words=("significantly below", "significantly above", "not distinguishable from"),
              centre=np.mean) -> str:
    """The glued word of comparison ``name`` of the Holm family: ``words[0]`` when it is significant with a
    negative centre of ``x`` (the per-seed values the family tested; ``centre`` the estimate that goes with the
    test: the mean for a t test, :func:`mtrl_lib.comparisons.pseudo_median` for a signed-rank test), ``words[1]``
    with a positive one, ``words[2]`` when it is not significant after the correction."""
    if not fam[name]:
        return words[2]
    return words[0] if float(centre(np.asarray(x, float))) < 0 else words[1]


def _ci(out: dict, name: str, x) -> None:
    """``out[name]``, ``out[name + "_ci"]``: mean over seeds and the half-width of its 95% t interval."""
    iv = mean_ci(x)
    out[name], out[f"{name}_ci"] = float(iv.mean), float(iv.half)


def _listed(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def summary(res: dict, p: Params) -> dict:
    """Every number and computed phrase the chapter's prose quotes."""
    out = {}
    for part in (setting_numbers, budget_numbers, baseline_numbers, parity_numbers, rate_numbers, verdict_numbers):
        out.update(part(res, p))
    out.update(explore_numbers())
    return out


def setting_numbers(res: dict, p: Params) -> dict:
    """The sizes the prose quotes, how many samples per task each base case saw (b_n_samples_<case>), the size
    b_n_family of the chapter's Holm family and b_min_seeds (the seeds a verdict needs)."""
    out = {"b_n_seeds": len(p.seeds), "b_d": p.d, "b_r": p.r, "b_m": p.m, "b_T": p.T, "b_n1": p.n1, "b_n2": p.n2,
           "b_rounds": p.rounds, "b_rounds_quadratic": p.rounds_quadratic, "b_n3": p.n3,
           "b_down_tasks": p.down_tasks, "b_n_test": p.n_test, "b_n_family": len(res["family"]),
           "b_min_seeds": MIN_SEEDS}
    for case in CASES:                                       # b_n_samples_linear, ..._quadratic, ..._parity(_large)
        out[f"b_n_samples_{case}"] = res["base"][case]["n_samples"]
    return out


def _failed_phrase(e0, e1, T0: int, T1: int) -> str:
    """Which runs at the two ends of a T sweep failed (final error above the learning level), in words."""
    n = len(e0)
    parts = []
    for e, T in ((e0, T0), (e1, T1)):
        bad = failed(e)
        if bad.any():
            vals = ", ".join(f"{v:.2f}" for v in np.sort(np.asarray(e, float)[bad])[::-1])
            parts.append(f"{int(bad.sum())} of {n} runs at T = {T} (final error {vals})")
    return "no run failed" if not parts else " and ".join(parts) + " failed"


def _mixed_phrase(res: dict, p: Params) -> str:
    """The points of the T sweeps where some runs failed (final error above the learning level) and others did
    not. Where the runs really split (each group holds at least a quarter of them, or the failed runs pull the
    mean away from the median by more than the half-width of the mean's 95% interval), the mean describes neither
    group, and the sentence says so with the median and the mean; at the other such points (a few failed runs
    that leave the mean within its half-width of the median) it gives the count ("k of n runs failed") only."""
    n = len(p.seeds)
    split, few = [], []
    for f in PAPER_FAMILIES:
        for w, curve in (("pertask", "per task"), ("budget", "fixed total")):
            e = res["sweep"][f][w]
            for j, T in enumerate(p.T_values):
                k = int(failed(e[:, j]).sum())
                if not 0 < k < n:
                    continue
                iv, med = mean_ci(e[:, j]), float(np.median(e[:, j]))
                if min(k, n - k) >= n / 4 or abs(float(iv.mean) - med) > float(iv.half):
                    split.append(f"T = {T}, {f}, {curve}: {k} of {n} runs failed, median {med:.2f}, "
                                 f"mean {float(iv.mean):.2f}")
                else:
                    few.append(f"T = {T}, {f}, {curve}, {k} of {n} runs failed")
    if not split and not few:
        return (f"At every point of the figure either every run ends below the learning level {LEARN_LEVEL:.3f} "
                f"or none does, so each mean describes its runs")
    parts = []
    if split:
        parts.append(f"Where the runs split between ending below the learning level {LEARN_LEVEL:.3f} and "
                     f"above it (failed), with each group at least a quarter of the runs or the mean further from "
                     f"the median (the middle run's value) than the half-width of its 95% interval, the mean "
                     f"describes neither group: " + "; ".join(split))
    if few:
        lead = ("At the other points with failed runs," if split else
                f"Some runs end above the learning level {LEARN_LEVEL:.3f} (failed), and at each such point")
        parts.append(f"{lead} the mean lies within the half-width of its 95% interval of the median: "
                     + "; ".join(few))
    return ". ".join(parts)


def budget_numbers(res: dict, p: Params) -> dict:
    """Section "Tasks or samples". b_learn_level (the level a run must end below, first quoted here) and
    b_recovered_cosine (the worst principal cosine that level stands for), b_Tmin,
    b_Tmax (the smallest and largest T above r), b_n_total, b_n_budget_Tmin, b_n_budget_Tmax; then for f in
    linear (no suffix) and quadratic (suffix ``_quadratic``) and w in budget, pertask: b_<w>_err_Tmin,
    b_<w>_err_Tmax, b_<w>_drop (paired Tmin - Tmax), each with _ci; b_<w>_drop_median, b_<w>_drop_up (seeds whose
    error fell), b_<w>_phrase (how the error changes, signed-rank test in the Holm family) and
    b_<w>_failed_phrase (the runs above the learning level at either end); b_mixed_phrase (the figure's points
    whose runs split between learned and failed)."""
    Ts, fam = list(p.T_values), res["family"]
    i0, i1 = budget_ends(p)
    out = {"b_learn_level": LEARN_LEVEL, "b_recovered_cosine": RECOVERED_COSINE, "b_Tmin": Ts[i0], "b_Tmax": Ts[i1], "b_n_total": p.n_total,
           "b_n_budget_Tmin": budget_n(p, Ts[i0]), "b_n_budget_Tmax": budget_n(p, Ts[i1]),
           "b_mixed_phrase": _mixed_phrase(res, p)}
    words = ("falls significantly", "rises significantly", "does not change significantly")
    for f in PAPER_FAMILIES:
        sfx = "" if f == "linear" else f"_{f}"
        for w in ("budget", "pertask"):
            e = res["sweep"][f][w]
            drop = e[:, i0] - e[:, i1]
            _ci(out, f"b_{w}_err_Tmin{sfx}", e[:, i0])
            _ci(out, f"b_{w}_err_Tmax{sfx}", e[:, i1])
            _ci(out, f"b_{w}_drop{sfx}", drop)
            out[f"b_{w}_drop_median{sfx}"] = float(np.median(drop))
            out[f"b_{w}_drop_up{sfx}"] = int((drop > 0).sum())
            out[f"b_{w}_phrase{sfx}"] = direction(fam, f"budget_{w}_{f}", -drop, words, centre=pseudo_median)
            out[f"b_{w}_failed_phrase{sfx}"] = _failed_phrase(e[:, i0], e[:, i1], Ts[i0], Ts[i1])
    return out


def _case_numbers(res: dict, case: str) -> dict:
    """For one base case: b_err_<method>_<case>, b_energy_<method>_<case> (METHODS), b_acc_<set>_<case>
    (FEATURES, probed families only), each with _ci."""
    out, b = {}, res["base"][case]
    for k in METHODS:
        _ci(out, f"b_err_{k}_{case}", b["err"][k])
        _ci(out, f"b_energy_{k}_{case}", b["energy"][k])
    for k in b["acc"]:
        _ci(out, f"b_acc_{k}_{case}", b["acc"][k])
    return out


def baseline_numbers(res: dict, p: Params) -> dict:
    """Section "Baselines at equal samples": :func:`_case_numbers` for linear and quadratic; b_eta_a_linrep,
    b_eta_W_linrep, b_ratio_bound (and b_ratio_bound_samples, its square: the same price in samples under the
    sketch); per family f: b_vs_<method>_<f> (moment1, moment2, linrep: the network's error
    against the method's, Holm family), b_matched_hi_<f> (upper bound of the matched estimator's error on f),
    b_ratio_<f> with b_ratio_<f>_lo, b_ratio_<f>_hi (geometric-mean ratio err(network) / err(matched) and its
    95% bounds), b_ratio_phrase_<f> ("within" / "not within", the verdict's test), b_matched_<f> (the matched
    estimator's name in words); downstream, b_acc_gap_<f> and b_acc_sub_gap_<f> (matched minus the network's own
    W, and minus the network's rebuilt subspace features, paired, with _ci), b_acc_vs_matched_<f> and
    b_acc_sub_vs_matched_<f> (Holm family), b_acc_rebuild_<f> (rebuilt minus own W, with _ci) and
    b_acc_rebuild_phrase_<f>; per moment estimator k: b_blind_lo_<k>, the lower bound of its error on the
    family it cannot see."""
    out = {"b_eta_a_linrep": p.eta_a_linrep, "b_eta_W_linrep": p.eta_W_linrep, "b_ratio_bound": RATIO_BOUND,
           "b_ratio_bound_samples": RATIO_BOUND ** 2}
    fam = res["family"]
    words = {"moment1": "first-moment", "moment2": "second-moment"}
    for f in PAPER_FAMILIES:
        out.update(_case_numbers(res, f))
        b = res["base"][f]
        for k in ("moment1", "moment2", "linrep"):
            out[f"b_vs_{k}_{f}"] = direction(fam, f"vs_{k}_{f}", b["err"]["network"] - b["err"][k])
        out[f"b_matched_hi_{f}"] = float(mean_ci(b["err"][MATCHED[f]]).hi)
        g, lo, hi = ratio_ci(res, f)
        out[f"b_ratio_{f}"], out[f"b_ratio_{f}_lo"], out[f"b_ratio_{f}_hi"] = g, lo, hi
        out[f"b_ratio_phrase_{f}"] = "within" if hi < RATIO_BOUND else "not within"
        out[f"b_matched_{f}"] = words[MATCHED[f]]
        acc = b["acc"]
        gap = acc[MATCHED[f]] - acc["network"]
        _ci(out, f"b_acc_gap_{f}", gap)
        out[f"b_acc_vs_matched_{f}"] = direction(fam, f"acc_vs_matched_{f}", -gap)
        sub_gap = acc[MATCHED[f]] - acc["network_subspace"]
        _ci(out, f"b_acc_sub_gap_{f}", sub_gap)
        out[f"b_acc_sub_vs_matched_{f}"] = direction(fam, f"acc_sub_vs_matched_{f}", -sub_gap)
        rebuild = acc["network_subspace"] - acc["network"]
        _ci(out, f"b_acc_rebuild_{f}", rebuild)
        out[f"b_acc_rebuild_phrase_{f}"] = direction(fam, f"acc_sub_vs_raw_{f}", rebuild,
                                                     ("lowers the network's accuracy significantly",
                                                      "raises the network's accuracy significantly",
                                                      "does not change the network's accuracy significantly"))
    for k, f in BLIND.items():
        out[f"b_blind_lo_{k}"] = float(mean_ci(res["base"][f]["err"][k]).lo)
    return out


def _parity_budget_phrase(res: dict, p: Params, learned: bool, moved: bool) -> str:
    """What the larger parity budget shows about the scale d^2 (chosen by the computed outcomes: does the
    network learn span(M), and is its energy inside span(M) significantly above random features')."""
    d2 = float(p.d) ** 2
    per_task = res["base"]["parity_large"]["n_samples"] / d2
    shared = p.T * per_task
    count = (f"{per_task:g} d² samples per task (rounds × (n₁ + n₂) of each task's own samples, the count that "
             f"the online analysis, which learns one task, compares with d²; the shared W, updated by all "
             f"T = {p.T} tasks, sees {shared:g} d² in all)")
    caveat = ("The online analysis gives the scale d² up to constants and logarithms, for one task, its own "
              "algorithm and its own steps; which of the constants, the steps (quadratic's, not chosen for "
              "parity) or the biases is missing here, this chapter does not tell")
    if learned:
        return f"the network learns span(M) within the larger budget, {count}"
    if moved:
        return (f"the network has begun to leave the start without learning span(M): after {count}, its energy "
                f"inside span(M) is significantly above random features' while its error stays above the "
                f"learning level. So that many samples are enough to move W towards span(M) but not to recover "
                f"it, at these step sizes and biases. {caveat}")
    if per_task >= 1:
        return (f"neither the network's error nor its energy inside span(M) has left the start after {count}: "
                f"with these step sizes and biases, that many fresh samples are not enough to leave it. {caveat}")
    return (f"the budget, {count}, stays below d² samples per task, the scale of the online analysis, so not "
            f"leaving the start is what that analysis allows; this run does not test the d² scale")


def parity_numbers(res: dict, p: Params) -> dict:
    """Section "Parity": :func:`_case_numbers` for parity and parity_large; b_rounds_parity_large,
    b_n_parity_large, b_bias_scale_parity, b_energy_chance (r / d); b_parity_network_phrase and
    b_parity_large_network_phrase (learns / does not learn, against the verdict's level) and
    b_parity_energy_vs_random, b_parity_large_energy_vs_random (the network's energy in span(M) against random
    features', Holm family); b_parity_signal = d^(-3/2) and b_head_noise = 1 / sqrt(n1), the scales the prose
    compares; b_samples_d2_parity, b_samples_d2_parity_large (samples per task the network saw, in units of
    d^2), b_samples_d2_shared_parity_large (the same times T: what the shared W saw) and b_parity_budget_phrase
    (what the larger budget shows about the d^2 scale, chosen by the computed outcomes of the error and the
    energy tests)."""
    fam, d2 = res["family"], float(p.d) ** 2
    out = {"b_rounds_parity_large": p.rounds_parity_large, "b_n_parity_large": p.n_parity_large,
           "b_bias_scale_parity": p.bias_scale_parity, "b_energy_chance": p.r / p.d,
           "b_parity_signal": p.d ** -1.5, "b_head_noise": p.n1 ** -0.5}
    learned = {}
    for case in ("parity", "parity_large"):
        out.update(_case_numbers(res, case))
        iv = mean_ci(res["base"][case]["err"]["network"])
        learned[case] = iv.hi < LEARN_LEVEL
        out[f"b_{case}_network_phrase"] = ("learns span(M)" if iv.hi < LEARN_LEVEL else
                                           "does not learn span(M)" if iv.lo > LEARN_LEVEL else
                                           "neither clearly learns nor clearly misses span(M)")
        e = res["base"][case]["energy"]
        out[f"b_{case}_energy_vs_random"] = direction(fam, f"energy_vs_random_{case}", e["network"] - e["random"])
        out[f"b_samples_d2_{case}"] = res["base"][case]["n_samples"] / d2
    out["b_samples_d2_shared_parity_large"] = p.T * out["b_samples_d2_parity_large"]
    moved = out["b_parity_large_energy_vs_random"] == "significantly above"
    out["b_parity_budget_phrase"] = _parity_budget_phrase(res, p, learned["parity_large"], moved)
    return out


def _fct_name(fct: float) -> str:
    return {0.5: "half", 2.0: "double"}.get(fct, f"x{fct:g}".replace(".", "p"))


def _slope_phrase(fam, name: str, x, target: float, at: dict | None = None) -> str:
    """How a fitted slope stands to the sketch's ``target``: significantly steeper or shallower (Holm family),
    within :data:`~.analysis.SLOPE_MARGIN` of it (TOST), both, or neither. With ``at`` (the end-to-end slopes of
    the step-size check, ``{factor: per-seed slopes}``), the same sentence says at which of the steps tried the
    slope between the sweep's ends is within the margin."""
    eq = slope_equal(x, target)
    mean = float(np.mean(x))
    if fam[f"slope_{name}"]:
        side = ("of the opposite sign to" if mean * target <= 0 else
                "significantly steeper than" if abs(mean) > abs(target) else "significantly shallower than")
        tail = f", yet within ±{SLOPE_MARGIN:.2f} of it (equivalence test)" if eq else ""
        rel = f"{side} the sketch's {target:+.1f}{tail}"
    elif eq:
        rel = f"equal to the sketch's {target:+.1f} within ±{SLOPE_MARGIN:.2f} (equivalence test)"
    else:
        rel = f"not distinguishable from the sketch's {target:+.1f}, nor shown within ±{SLOPE_MARGIN:.2f} of it"
    if at is None:
        return rel
    facts = sorted(at)
    words = [_FACTOR_WORDS.get(f, f"{f:g} times the step") for f in facts]
    slopes_txt = _listed([f"{float(np.mean(at[f])):+.2f}" for f in facts])
    ok = [w for f, w in zip(facts, words) if slope_equal(at[f], target)]
    where = ("at none of them" if not ok else "at each of them" if len(ok) == len(facts)
             else "only at " + _listed(ok))
    return (f"{rel}, at the rule's step; between the sweep's ends the slope is {slopes_txt} at "
            f"{_listed(words)}, within ±{SLOPE_MARGIN:.2f} of the sketch's {where}")


def _slope_failed_phrase(r: dict, p: Params) -> str:
    """Whether the fit in T (final errors ``r["T"]`` at ``p.T_fit``) includes failed runs (final error above the
    learning level): which seeds, at which T, their slopes, and the slope over the other seeds with its 95%
    interval, against the sketch's."""
    E, sl = np.asarray(r["T"], float), np.asarray(r["slope_T"], float)
    bad = failed(E)
    rows = np.flatnonzero(bad.any(axis=1))
    if rows.size == 0:
        return f"no run of the fit in T failed (every final error below the learning level {LEARN_LEVEL:.3f})"
    runs = _listed([f"seed {p.seeds[i]}: final error "
                    + ", ".join(f"{E[i, j]:.3f} at T = {p.T_fit[j]}" for j in np.flatnonzero(bad[i]))
                    + f", slope {sl[i]:.2f}" for i in rows])
    what = "a failed run" if rows.size == 1 else f"failed runs on {rows.size} seeds"
    head = f"the slope in T includes {what} ({runs})"
    keep = np.setdiff1d(np.arange(len(sl)), rows)
    if keep.size < 2:
        return f"{head}; too few seeds are left without it for an interval"
    iv = mean_ci(sl[keep])
    target = SKETCH_SLOPES["T"]
    side = "excludes" if (iv.hi < target or iv.lo > target) else "includes"
    return (f"{head}; without {'it' if rows.size == 1 else 'them'} the slope over the other {keep.size} seeds is "
            f"{pm(iv.mean, iv.half)}, whose 95% interval {side} the sketch's {target:+.1f}")


def rate_numbers(res: dict, p: Params) -> dict:
    """Section "Rates": b_slope_T, b_slope_d, b_slope_n, b_escape_slope_logd, b_escape_dmin, b_escape_dmax,
    b_escape_curv (each with _ci; the escape numbers are -1 with _ci 0 when some run never escaped, b_n_escaped
    says how many seeds did); b_escape_phrase (the escape slope's sign), b_escape_curv_phrase (Holm family),
    b_escape_shape_phrase (what the curvature says of the predicted affine shape) and b_curv_basis_phrase (what
    the curvature rests on: b_n_ds values of d per seed, b_curv_dof residual degrees of freedom, escape rounds
    resolved to b_record_every rounds); b_slope_T_phrase, b_slope_d_phrase, b_slope_n_phrase (against the
    sketch: Holm family and TOST with margin b_slope_margin, and at which steps of the step-size check the
    end-to-end slope is within the margin); the step-size check: b_eta_W_step (the base eta_W),
    b_step_slope_<x>_base and b_step_slope_<x>_<half|double> (end-to-end slope at each step, with _ci),
    b_step_shift_<x>_<half|double> (paired shift from the base step's, with _ci), b_step_phrase_<x>_<half|double>
    (Holm family) and b_step_max_shift (the largest |mean shift|); b_T_fit_min, b_T_fit_max, b_dmin, b_dmax,
    b_nmin, b_nmax, b_escape_level."""
    r, fam = res["rates"], res["family"]
    out = {"b_T_fit_min": p.T_fit[0], "b_T_fit_max": p.T_fit[-1], "b_dmin": p.ds[0], "b_dmax": p.ds[-1],
           "b_nmin": p.n2s[0], "b_nmax": p.n2s[-1], "b_n_escaped": r["n_escaped"], "b_escape_level": ESCAPE_LEVEL,
           "b_slope_margin": SLOPE_MARGIN, "b_eta_W_step": p.eta_W_linear, "b_n_ds": len(p.ds),
           "b_curv_dof": max(len(p.ds) - 3, 0), "b_record_every": p.record_every}
    out["b_slope_T_failed_phrase"] = _slope_failed_phrase(r, p)
    for name, target in SKETCH_SLOPES.items():
        _ci(out, f"b_slope_{name}", r[f"slope_{name}"])
        out[f"b_slope_{name}_phrase"] = _slope_phrase(fam, name, r[f"slope_{name}"], target,
                                                      r["step_slope"][name])
    shifts = []
    for name in SKETCH_SLOPES:
        at = r["step_slope"][name]
        _ci(out, f"b_step_slope_{name}_base", at[1.0])
        for fct in STEP_FACTORS:
            k = _fct_name(fct)
            _ci(out, f"b_step_slope_{name}_{k}", at[fct])
            _ci(out, f"b_step_shift_{name}_{k}", at[fct] - at[1.0])
            out[f"b_step_phrase_{name}_{k}"] = direction(
                fam, f"step_{name}_{fct:g}", at[fct] - at[1.0],
                ("falls significantly", "rises significantly", "does not move significantly"))
            shifts.append(abs(out[f"b_step_shift_{name}_{k}"]))
    out["b_step_max_shift"] = max(shifts)
    if r["n_escaped"] == len(p.seeds):
        _ci(out, "b_escape_slope_logd", r["slope_escape"])
        out["b_escape_phrase"] = direction(fam, "escape_slope", r["slope_escape"],
                                           ("falls significantly with", "grows significantly with",
                                            "does not change significantly with"))
        _ci(out, "b_escape_dmin", r["escape"][:, 0])
        _ci(out, "b_escape_dmax", r["escape"][:, -1])
    else:
        for k in ("b_escape_slope_logd", "b_escape_dmin", "b_escape_dmax"):
            out[k], out[f"{k}_ci"] = -1.0, 0.0
        out["b_escape_phrase"] = "cannot be fitted against"
    dof = out["b_curv_dof"]
    dof_words = "no residual degree" if dof == 0 else "one residual degree" if dof == 1 else f"{dof} residual degrees"
    basis = (f"The curvature rests on {len(p.ds)} values of d per seed; against the fit's three coefficients that "
             f"leaves {dof_words} of freedom per seed, so it says whether the escape rounds bend at these "
             f"{len(p.ds)} values of d, not what shape they follow between them; and the escape rounds are resolved "
             f"to {p.record_every} rounds")
    if r["n_escaped"] == len(p.seeds) and not np.isnan(r["curv_escape"]).any():
        _ci(out, "b_escape_curv", r["curv_escape"])
        out["b_escape_curv_phrase"] = direction(
            fam, "escape_curv", r["curv_escape"],
            ("significantly curved (concave)", "significantly curved (convex)",
             "not distinguishable from a straight line (which does not show that it is one)"))
        out["b_escape_shape_phrase"] = (
            "so the shape prediction fails at these sizes: the escape round is not affine in log(d/r)"
            if fam["escape_curv"] else
            "so these runs do not reject the predicted shape, though they do not confirm it either")
        out["b_curv_basis_phrase"] = basis
    else:
        out["b_escape_curv"], out["b_escape_curv_ci"] = 0.0, 0.0
        out["b_escape_curv_phrase"] = ("not tested for curvature (that needs three values of d, and every seed "
                                       "escaping at each)")
        out["b_escape_shape_phrase"] = "so the shape prediction is not tested here"
        out["b_curv_basis_phrase"] = f"The escape rounds are resolved to {p.record_every} rounds"
    return out


def _ratio_clause(res: dict, f: str) -> str:
    """"on <f> tasks the network's error is <ratio> times <the matched estimator>'s (95% upper bound <hi>)"."""
    g, _, hi = ratio_ci(res, f)
    return (f"on {f} tasks the network's error is {g:.2f} times {METHOD_WORDS[MATCHED[f]]}'s (95% upper bound "
            f"{hi:.2f})")


def verdict_reason(res: dict, p: Params) -> str:
    """One clause that says why the verdict reads as it does, to follow "because": the failed tests of the
    verdict (:func:`~.analysis.verdict`) in words, or what held when all did."""
    n = len(p.seeds)
    if not enough_seeds(n):
        return f"only {n} seeds were run, and a decision needs {MIN_SEEDS}"
    base, rates = res["base"], res["rates"]
    learn = [f for f in PAPER_FAMILIES if not mean_ci(base[f]["err"]["network"]).hi < LEARN_LEVEL]
    if learn:
        return (f"the network does not learn span(M) on {_listed(learn)} tasks: the upper bound of its error is not "
                f"below the learning level {LEARN_LEVEL:.3f}")
    why = []
    for f in PAPER_FAMILIES:
        k = MATCHED[f]
        if not mean_ci(base[f]["err"][k]).hi < LEARN_LEVEL:
            why.append(f"{METHOD_WORDS[k]} does not learn {f} tasks, its own family")
        if not ratio_ci(res, f)[2] < RATIO_BOUND:
            why.append(f"{_ratio_clause(res, f)}, above the bound {RATIO_BOUND:g} the verdict allows")
    for k, f in BLIND.items():
        if not mean_ci(base[f]["err"][k]).lo > LEARN_LEVEL:
            why.append(f"{METHOD_WORDS[k]} does not fail on {f} tasks")
    for name, sign in (("T", -1), ("n", -1), ("d", +1)):
        iv = mean_ci(rates[f"slope_{name}"])
        if not (iv.hi < 0 if sign < 0 else iv.lo > 0):
            why.append(f"the error's slope in {name if name != 'n' else 'n2'} is not significantly "
                       f"{'negative' if sign < 0 else 'positive'}")
    if why:
        return _listed(why)
    return (f"the network learns both families, within a factor {RATIO_BOUND:g} of the estimator built for each, "
            f"and its error falls with T and n2 and grows with d, as the sketch says")


def verdict_numbers(res: dict, p: Params) -> dict:
    """Section "Verdict": b_verdict, b_verdict_short (its first words: reproduced, partly reproduced, not
    reproduced or undecided), b_verdict_reason (one clause saying why, to follow "because"), b_verdict_headline
    (the one number the chapter's first screen quotes: the network's error against the matched estimator's on
    the family where the ratio is largest), and the upper bounds b_err_network_linear_hi,
    b_err_network_quadratic_hi the learning criterion compares with the level."""
    v = res["verdict"]
    worst = max(PAPER_FAMILIES, key=lambda f: ratio_ci(res, f)[0])
    out = {"b_verdict": v, "b_verdict_short": v.split(" (")[0], "b_verdict_reason": verdict_reason(res, p),
           "b_verdict_headline": f"{_ratio_clause(res, worst)}; the verdict allows {RATIO_BOUND:g}"}
    for f in PAPER_FAMILIES:
        out[f"b_err_network_{f}_hi"] = float(mean_ci(res["base"][f]["err"]["network"]).hi)
    return out
