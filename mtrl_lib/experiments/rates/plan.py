"""Which runs the chapter needs: one configuration of :func:`mtrl_lib.experiments.baselines_and_rates.
network_unit` per point of every sweep and base case.

Points: ``("pertask" | "budget", family, T)`` for the T sweeps (n1 = n2 fixed per task, or a fixed total
``n_total`` = T n2 per phase); ``("base", case)`` for :data:`~.setting.CASES`, with the baselines;
``("d", d)`` and ``("n", n2)`` for the rate sweeps; ``("step", sweep, end, factor)`` for the two ends of each
rate sweep at eta_W times each of :data:`~.setting.STEP_FACTORS`. Equal configurations are one run
(:func:`config_key`): a sweep point that equals a base case reuses its run.
"""
from __future__ import annotations

import json

from .setting import PAPER_FAMILIES, STEP_FACTORS, Params


def _config(p: Params, family: str, *, T: int | None = None, n1: int | None = None, n2: int | None = None,
            d: int | None = None, rounds: int | None = None, step_factor: float = 1.0) -> dict:
    """The JSON configuration of one network run (base setting unless overridden; ``step_factor`` multiplies
    the family's eta_W, for the step-size check of the rates)."""
    eta_a, eta_W = p.eta(family)
    eta_W = eta_W * step_factor
    default_rounds = p.rounds if family == "linear" else p.rounds_quadratic
    return dict(d=p.d if d is None else d, r=p.r, m=p.m, T=p.T if T is None else T, family=family,
                n1=p.n1 if n1 is None else n1, n2=p.n2 if n2 is None else n2,
                rounds=default_rounds if rounds is None else rounds, eta_a=eta_a, eta_W=eta_W,
                bias_scale=p.bias_scale_parity if family == "parity" else 0.0, record_every=p.record_every,
                control=p.control, device=p.device)


def budget_n(p: Params, T: int) -> int:
    """Samples per task and phase of the fixed-total control: round(n_total / T), at least 1."""
    return max(1, round(p.n_total / T))


def plan(p: Params) -> dict:
    """``{point: configuration}`` for every run the chapter needs (see the module)."""
    extra = dict(eta_a_linrep=p.eta_a_linrep, eta_W_linrep=p.eta_W_linrep, n3=p.n3, down_tasks=p.down_tasks,
                 n_test=p.n_test)
    points = {("base", f): {**_config(p, f), "baselines": extra} for f in ("linear", "quadratic", "parity")}
    points["base", "parity_large"] = {**_config(p, "parity", n1=p.n_parity_large, n2=p.n_parity_large,
                                                rounds=p.rounds_parity_large), "baselines": extra}
    for f in PAPER_FAMILIES:
        for T in p.T_values:
            points["pertask", f, T] = _config(p, f, T=T)
            points["budget", f, T] = _config(p, f, T=T, n1=budget_n(p, T), n2=budget_n(p, T))
    for d in p.ds:
        points["d", d] = _config(p, "linear", d=d)
    for n in p.n2s:
        points["n", n] = _config(p, "linear", n1=n, n2=n)
    for name, ends in sweep_ends(p).items():
        for x in ends:
            for fct in STEP_FACTORS:
                points["step", name, x, fct] = _config(p, "linear", step_factor=fct, **_sweep_kw(name, x))
    return points


def sweep_ends(p: Params) -> dict:
    """The smallest and largest value of each rate sweep: ``{"T": (T_fit[0], T_fit[-1]), "d": ..., "n": ...}``."""
    return {"T": (p.T_fit[0], p.T_fit[-1]), "d": (p.ds[0], p.ds[-1]), "n": (p.n2s[0], p.n2s[-1])}


def _sweep_kw(name: str, x: int) -> dict:
    """The :func:`_config` overrides of one point of a rate sweep."""
    return {"T": {"T": x}, "d": {"d": x}, "n": {"n1": x, "n2": x}}[name]


def sweep_point(name: str, x: int) -> tuple:
    """The plan's point of value ``x`` of rate sweep ``name`` at the base step."""
    return ("pertask", "linear", x) if name == "T" else (name, x)


def config_key(cfg: dict) -> str:
    """The run a configuration stands for (its baselines aside): equal keys are one run."""
    return json.dumps({k: v for k, v in cfg.items() if k != "baselines"}, sort_keys=True)
