"""Chapter "Baselines and rates" (beyond the paper): what the network buys, what it costs, and at what rate.

Four questions, each answered by runs of the alternating algorithm (:func:`mtrl_lib.train.train`) and by the
baselines of :mod:`mtrl_lib.baselines`, one unit (:mod:`mtrl_lib.units`) per configuration and seed:

1. **Tasks or samples?** Final subspace error against T for ``T_values``, both paper families, in two ways:
   n1 = n2 fixed per task (the paper's view) and a fixed total ``n_total`` = T n2 = T n1 per phase (the
   control; n1 = n2 = round(n_total / T)).
2. **Baselines at equal samples.** At the base setting (``d, r, m, T, n1, n2``) the network, the first- and
   second-moment estimators, the linear representation and random features. The network sees
   rounds (n1 + n2) fresh samples per task; the baselines see *the same draws*: they replay the network's data
   stream (``stream_seed(seed, "data")``), which for a run that fits one chunk is ``sample(n1)``,
   ``sample(n2)`` per round (:mod:`mtrl_lib.train`; ``tests/test_baselines.py`` checks the replay). Every size
   of the book fits one chunk; a run split into chunks draws in another order, and the baselines then get as
   many draws from the same distribution.
   Downstream accuracy: chapter 3's probe (:func:`mtrl_lib.probe.probe_accuracy`, ridge with leave-one-out
   regularisation) at the same m and n3, on ``down_tasks`` new tasks of the same family; a subspace estimate
   U becomes m ReLU features with rows uniform on the sphere of span(U) (as chapter 3 builds its oracle
   features from span(M)) and the network's biases. The network is probed twice: on its own W, and on its own
   top-r subspace rebuilt in the same way as the estimators' ("network_subspace"), so that one comparison with
   an estimator differs only in the subspace.
3. **Parity** (:mod:`mtrl_lib.tasks`, information exponent 3): the same comparison at the quick budget
   (``rounds_quadratic`` rounds of n1, n2) and a larger one (``rounds_parity_large`` rounds of
   ``n_parity_large`` samples per phase), with network biases of scale ``bias_scale_parity``.
4. **Rates.** Final error of the linear family against T (T >= 2r, from the sweep of 1), d (``ds``) and
   n2 (``n2s``, n1 = n2), with slopes of log error on log x fitted per seed and a 95% t interval over seeds,
   beside the sketch error ~ sqrt(d / (T n2)) (slopes -1/2, +1/2, -1/2); the escape round (first recorded
   round with error < ``ESCAPE_LEVEL``) against log(d / r), with its curvature. The step rule of the
   sweeps is a fixed (eta_a, eta_W), the linear family's: the mean feature step does not depend on d, T or n2
   under the book's normalisation, and the sketch is the stationary error of a fixed step (the chapter derives
   both). The step-size check reruns the two ends of each sweep at eta_W times ``STEP_FACTORS`` and
   refits the slope between them.

"Final error" is the mean of the recorded errors in the last ``TAIL`` of the rounds.

This module holds the chapter's unit (:func:`network_unit`, and what it runs) and :func:`run`; the other jobs
live in the rooms of :mod:`mtrl_lib.experiments.rates` (the parameters, the plan, the reduction, the fits, the
analysis and verdict, the prose numbers, the linear representation's step grid, the explorer), whose names the
notebook and the tests use are re-exported here. A store key covers only the code a unit function can reach,
so an edit in a room that the unit does not read (everything but the names of ``rates.setting``) leaves every
key of the chapter as it is.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import baselines as bl
from ..metrics import energy, subspace_error
from ..model import oracle_weights
from ..probe import probe_accuracy
from ..tasks import draw_tasks, make_generator
from ..threads import one_thread
from ..train import TrainConfig, stream_seed, train
from ..units import run_units, unit
from .rates.analysis import (BLIND, LEARN_LEVEL, MATCHED, METHOD_WORDS, RATIO_BOUND, SKETCH_SLOPES, SLOPE_MARGIN,
                             comparisons, failed, log_ratio, ratio_ci, verdict)
from .rates.explore import EXPLORE, EXPLORE_LABELS, EXPLORE_STATIC, EXPLORE_VALUES, explore, explore_numbers
from .rates.fits import curvature, line_slopes, power_fit, sketch_line, slopes
from .rates.linrep_grid import LINREP_STEPS, linrep_grid, linrep_grid_point, linrep_select, linrep_table
from .rates.plan import budget_n, config_key, plan, sweep_ends, sweep_point
from .rates.prose import (GLUE_NOTES, baseline_numbers, budget_numbers, direction, parity_numbers, rate_numbers,
                          setting_numbers, summary, verdict_numbers)
from .rates.reduce import reduce
from .rates.setting import (CASES, ESCAPE_LEVEL, FEATURES, METHODS, PAPER_FAMILIES, PROBE, PROBED, STEP_FACTORS,
                            TAIL, Params)

__all__ = ["BLIND", "CASES", "ESCAPE_LEVEL", "EXPLORE", "EXPLORE_LABELS", "EXPLORE_STATIC", "EXPLORE_VALUES",
           "FEATURES", "GLUE_NOTES", "LEARN_LEVEL", "LINREP_STEPS", "MATCHED", "METHODS", "METHOD_WORDS",
           "PAPER_FAMILIES", "PROBE", "PROBED", "Params", "RATIO_BOUND", "SKETCH_SLOPES", "SLOPE_MARGIN",
           "STEP_FACTORS", "TAIL", "baseline_metrics", "baseline_numbers", "budget_n", "budget_numbers",
           "comparisons", "config_key", "curvature", "direction", "escape_round", "explore", "explore_numbers",
           "failed", "final_error", "line_slopes", "linrep_grid", "linrep_grid_point", "linrep_select",
           "linrep_table", "log_ratio", "network_unit", "parity_numbers", "plan", "power_fit", "rate_numbers",
           "ratio_ci", "reduce", "run", "setting_numbers", "sketch_line", "slopes", "summary", "sweep_ends",
           "sweep_point", "verdict", "verdict_numbers"]


# ----------------------------------------------------------------------------------------------------- the unit

def network_unit(seed: int, *, d: int, r: int, m: int, T: int, family: str, n1: int, n2: int, rounds: int,
                 eta_a: float, eta_W: float, bias_scale: float, record_every: int, control: str, device: str,
                 baselines: dict | None = None) -> dict:
    """One training run: the error trajectory, its final error and escape round; with ``baselines``
    (``{"eta_a_linrep", "eta_W_linrep", "n3", "down_tasks", "n_test"}``) also :func:`baseline_metrics`.

    Runs on one CPU thread (:func:`mtrl_lib.threads.one_thread`): at these sizes (matrices of a few thousand
    rows) a second thread costs more in synchronisation than it gains (measured: 2 seeds of the quick profile in
    9.0 s on one thread, 14.7 s on two), and the result is the same bits wherever the unit runs."""
    with one_thread():
        return _network_unit(seed, d=d, r=r, m=m, T=T, family=family, n1=n1, n2=n2, rounds=rounds, eta_a=eta_a,
                             eta_W=eta_W, bias_scale=bias_scale, record_every=record_every, control=control,
                             device=device, baselines=baselines)


def _network_unit(seed, *, d, r, m, T, family, n1, n2, rounds, eta_a, eta_W, bias_scale, record_every, control,
                  device, baselines) -> dict:
    cfg = TrainConfig(d=d, r=r, m=m, T=T, family=family, n1=n1, n2=n2, rounds=rounds, eta_a=eta_a, eta_W=eta_W,
                      bias_scale=bias_scale, record_every=record_every, control=control, seed=seed, device=device)
    res = train(cfg)
    h = res.history
    out = {"round": h["round"], "error": h["subspace_error"], "energy": h["energy"],
           "final_error": final_error(h["round"], h["subspace_error"]),
           "escape": escape_round(h["round"], h["subspace_error"])}
    if baselines:
        out.update(baseline_metrics(res, **baselines))
    return out


def final_error(rounds, errors) -> float:
    """Mean recorded error over the last ``TAIL`` of the rounds (the last record always counts)."""
    rounds, errors = np.asarray(rounds, float), np.asarray(errors, float)
    keep = rounds >= rounds[-1] * (1 - TAIL)
    return float(errors[keep].mean())


def escape_round(rounds, errors, level: float = ESCAPE_LEVEL) -> float:
    """First recorded round with error < ``level``; -1 if none."""
    hit = np.nonzero(np.asarray(errors) < level)[0]
    return float(np.asarray(rounds)[hit[0]]) if hit.size else -1.0


def baseline_metrics(res, *, eta_a_linrep: float, eta_W_linrep: float, n3: int, down_tasks: int,
                     n_test: int) -> dict:
    """The baselines on the network run's M, tasks and samples, and chapter 3's probe for every feature set.

    Keys: ``err_<method>`` and ``energy_<method>`` for ``METHODS`` (subspace error and energy of the estimate: W
    for the network and random features, U^T or B for the estimators), ``acc_<feature set>`` for ``FEATURES``
    (mean downstream accuracy over the new tasks; for the families in ``PROBED`` only). Every subspace estimate
    (the estimators', the oracle span(M), and the network's own top-r right singular subspace) becomes m ReLU
    features with rows uniform on its unit sphere and the network's biases; the network is also probed on its
    own W, and random features on the initial W."""
    cfg, M = res.config, res.M
    seed, dev = cfg.seed, M.device
    # One pass over the network's samples (its "data" stream replayed) trains the linear representation and
    # feeds the moment estimators.
    mom = bl.Moments(cfg.T, cfg.d, dev)
    B0 = torch.randn(cfg.r, cfg.d, generator=make_generator(stream_seed(seed, "b-linrep-init"), dev), dtype=M.dtype)
    B, _ = bl.train_linear_rep(M, res.tasks, B0, n1=cfg.n1, n2=cfg.n2, rounds=cfg.rounds, eta_a=eta_a_linrep,
                               eta_W=eta_W_linrep, generator=make_generator(stream_seed(seed, "data"), dev),
                               loss=cfg.loss, control=cfg.control, record_every=max(1, cfg.rounds),
                               on_block=mom.add)
    G, S = mom.result()
    est = {"network": res.W, "random": res.W0, "moment1": bl.first_moment_subspace(G, cfg.r).T,
           "moment2": bl.second_moment_subspace(S, cfg.r).T, "linrep": B}
    out = {}
    for k in METHODS:
        out[f"err_{k}"] = subspace_error(est[k], M)
        out[f"energy_{k}"] = energy(est[k], M)
    if cfg.family not in PROBED:
        return out
    # the network's own top-r subspace: the span of the top-r right singular vectors of W, (r, d)
    top = torch.linalg.svd(res.W.double(), full_matrices=False)[2][:cfg.r]
    feats = {"network": res.W, "random": res.W0}
    spans = (("network_subspace", top), ("moment1", est["moment1"]), ("moment2", est["moment2"]), ("linrep", B),
             ("oracle", M.T))
    for k, span in spans:
        basis = torch.linalg.qr(span.double().T)[0]                                   # (d, r) orthonormal
        g = make_generator(stream_seed(seed, f"b-features-{k}"), dev)
        feats[k] = oracle_weights(cfg.m, basis.to(M.dtype), g).to(M.dtype)
    tasks = draw_tasks(cfg.family, down_tasks, cfg.r, make_generator(stream_seed(seed, "b-down"), dev))
    for k in FEATURES:
        g = make_generator(stream_seed(seed, "b-probe"), dev)       # the same samples for every feature set
        acc = probe_accuracy(feats[k], res.b, M, tasks, n3, g, n_test=n_test, method=PROBE)
        out[f"acc_{k}"] = float(acc.mean())
    return out


# ------------------------------------------------------------------------------------------------------ the run

def run(p: Params, executor=None) -> dict:
    """All of the chapter's numbers: the plan's runs (one unit per configuration and seed, equal configurations
    run once), reduced to arrays over seeds (:func:`~.rates.reduce.reduce`), with the verdict and the Holm
    family (:func:`~.rates.analysis.verdict`, :func:`~.rates.analysis.comparisons`)."""
    points = plan(p)
    runs = {}                                   # configuration key -> configuration (with baselines if any asks)
    for cfg in points.values():
        k = config_key(cfg)
        if k not in runs or "baselines" in cfg:
            runs[k] = cfg
    keys = list(runs)
    units = [unit(network_unit, s, **runs[k]) for k in keys for s in p.seeds]
    out = run_units(units, executor, desc="baselines and rates: runs x seeds")
    by = {(k, s): out[i * len(p.seeds) + j] for i, k in enumerate(keys) for j, s in enumerate(p.seeds)}
    per_point = {pt: [by[config_key(cfg), s] for s in p.seeds] for pt, cfg in points.items()}
    res = reduce(per_point, p)
    res["verdict"] = verdict(res, p)
    res["family"] = comparisons(res, p)
    return res
