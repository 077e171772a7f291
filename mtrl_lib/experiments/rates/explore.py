"""The Explore section: the moment estimators, cheap enough to rerun live, from ``n`` samples per task."""
from __future__ import annotations

from ... import baselines as bl
from ...metrics import subspace_error
from ...tasks import make_generator
from ...train import TrainConfig, setup, stream_seed
from .setting import PAPER_FAMILIES

#: the explorer's initial values (the prose quotes them; the notebook builds its controls from them)
EXPLORE = {"family": "quadratic", "T": 20, "n": 2000, "d": 50, "r": 5, "seed": 0}
#: every value each control offers in Jupyter, and the values the book precomputes (each holds the initial one;
#: the cost of the book's grid grows with the largest n in it)
EXPLORE_VALUES = {"family": PAPER_FAMILIES + ("parity",), "T": (1, 2, 5, 10, 20, 50, 100),
                  "n": (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)}
EXPLORE_STATIC = {"family": PAPER_FAMILIES + ("parity",), "T": (20,), "n": (200, 2000, 20000, 50000)}
#: the controls' labels, in words
EXPLORE_LABELS = {"family": "task family", "T": "number of tasks T", "n": "samples per task n"}


def _listed(values) -> str:
    *head, last = (str(v) for v in values)
    return f"{', '.join(head)} and {last}" if head else last


def explore_numbers() -> dict:
    """The explorer's initial values for the prose: b_explore_family, b_explore_T, b_explore_n, b_explore_d,
    b_explore_r; b_explore_static_n, the numbers of samples per task the book precomputes, in words, and
    b_explore_more_T, b_explore_more_n, what Jupyter's controls add."""
    return {**{f"b_explore_{k}": v for k, v in EXPLORE.items() if k != "seed"},
            "b_explore_static_n": _listed(EXPLORE_STATIC["n"]),
            "b_explore_more_T": _listed([T for T in EXPLORE_VALUES["T"] if T not in EXPLORE_STATIC["T"]]),
            "b_explore_more_n": _listed([n for n in EXPLORE_VALUES["n"] if n not in EXPLORE_STATIC["n"]])}


def explore(family: str, T: int, n: int, d: int = 50, r: int = 5, seed: int = 0) -> dict:
    """Moment estimators only (cheap, for the live explorer): subspace errors of the first- and second-moment
    estimators from ``n`` samples per task of ``T`` tasks of ``family``."""
    cfg = TrainConfig(d=d, r=r, m=1, T=T, family=family, seed=seed)
    M, tasks, _, _ = setup(cfg)
    G, S = bl.moments(M, tasks, [n], make_generator(stream_seed(seed, "explore")))
    return {"moment1": subspace_error(bl.first_moment_subspace(G, r).T, M),
            "moment2": subspace_error(bl.second_moment_subspace(S, r).T, M)}
