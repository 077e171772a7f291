"""Arrays over seeds from the units' results (one list of unit results per point of :func:`~.plan.plan`)."""
from __future__ import annotations

import numpy as np

from .fits import curvature, line_slopes, slopes
from .plan import plan, sweep_ends, sweep_point
from .setting import CASES, FEATURES, METHODS, PAPER_FAMILIES, PROBED, STEP_FACTORS, Params


def reduce(per_point: dict, p: Params) -> dict:
    """Arrays over seeds.

    ``sweep[family]``: ``pertask``, ``budget`` final errors (seeds, len(T_values)); ``base[case]``: ``err``,
    ``energy`` dicts of (seeds,) per method (:data:`~.setting.METHODS`), ``acc`` per feature set
    (:data:`~.setting.FEATURES`, probed families only) and ``n_samples`` per task; ``rates``: final errors ``T``
    (seeds, len(T_fit)), ``d``, ``n``, escape rounds ``escape`` (seeds, len(ds)), error trajectories ``traj_d``
    (seeds, len(ds), records) with ``traj_rounds``, per-seed ``slope_T``, ``slope_d``, ``slope_n``,
    ``slope_escape`` (escape round per unit of log(d / r)), ``curv_escape``, ``n_escaped`` and ``step_slope``
    (the slope between the ends of each sweep at each step factor, 1.0 the base step)."""
    col = lambda pts, key: np.asarray([[r[key] for r in per_point[pt]] for pt in pts], float).T
    res = {"T_values": np.asarray(p.T_values), "sweep": {}, "base": {}}
    for f in PAPER_FAMILIES:
        res["sweep"][f] = {w: col([(w, f, T) for T in p.T_values], "final_error") for w in ("pertask", "budget")}
    configs = plan(p)
    for case in CASES:
        rows, cfg = per_point["base", case], configs["base", case]
        res["base"][case] = {
            "err": {k: np.asarray([r[f"err_{k}"] for r in rows]) for k in METHODS},
            "energy": {k: np.asarray([r[f"energy_{k}"] for r in rows]) for k in METHODS},
            "acc": ({k: np.asarray([r[f"acc_{k}"] for r in rows]) for k in FEATURES} if case in PROBED else {}),
            "n_samples": cfg["rounds"] * (cfg["n1"] + cfg["n2"]),        # samples per task the network saw
        }
    rates = {"T": col([("pertask", "linear", T) for T in p.T_fit], "final_error"),
             "d": col([("d", d) for d in p.ds], "final_error"), "n": col([("n", n) for n in p.n2s], "final_error"),
             "escape": col([("d", d) for d in p.ds], "escape"),
             "traj_d": np.asarray([[r["error"] for r in per_point["d", d]] for d in p.ds], float).transpose(1, 0, 2),
             "traj_rounds": np.asarray(per_point["d", p.ds[0]][0]["round"], float)}
    rates["slope_T"] = slopes(p.T_fit, rates["T"])
    rates["slope_d"] = slopes(p.ds, rates["d"])
    rates["slope_n"] = slopes(p.n2s, rates["n"])
    # the step-size check: slope between the two ends of each sweep at each step factor (1: the base step)
    rates["step_slope"] = {}
    for name, ends in sweep_ends(p).items():
        at = {1.0: col([sweep_point(name, x) for x in ends], "final_error")}
        for fct in STEP_FACTORS:
            at[fct] = col([("step", name, x, fct) for x in ends], "final_error")
        rates["step_slope"][name] = {fct: slopes(ends, Y) for fct, Y in at.items()}
    esc = rates["escape"]
    rates["n_escaped"] = int((esc >= 0).all(axis=1).sum())         # seeds whose runs all fell below the level
    logd = np.log(np.asarray(p.ds, float) / p.r)
    # escape round per unit of log(d / r), least squares per seed (meaningful only when every run escaped)
    rates["slope_escape"] = line_slopes(logd, esc)
    rates["curv_escape"] = curvature(logd, esc)
    res["rates"] = rates
    return res
