"""The chapter's parameters, and the names every room of the chapter shares.

The names below the parameters are part of what the unit measures (:func:`mtrl_lib.experiments.
baselines_and_rates.network_unit` reads them): which methods estimate span(M), which feature sets the probe
compares, which families are probed, how a run's final error and escape round are read from its trajectory.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...train import CONTROLS
from ..common import ChapterParams, Choice, Float, Int, IntList, check_seed_count
from ..step_sizes import STEP_SIZES
from .linrep_grid import LINREP_STEPS

#: the paper's families (the abstract's setting; the book's definitions in PAPER.md)
PAPER_FAMILIES = ("linear", "quadratic")
#: the methods that estimate span(M): the network (its W), the first- and second-moment estimators, the linear
#: representation, and random features (the network's initial W)
METHODS = ("network", "moment1", "moment2", "linrep", "random")
#: the feature sets the probe compares: each method's, the network's own top-r subspace rebuilt as the
#: estimators' subspaces are ("network_subspace"), and the oracle span(M)
FEATURES = ("network", "network_subspace", "moment1", "moment2", "linrep", "random", "oracle")
#: the base-setting cases of sections 2 and 3 (parity_large: parity at the larger budget)
CASES = ("linear", "quadratic", "parity", "parity_large")
#: the probe of chapter 3: ridge regression with its penalty chosen by leave-one-out
PROBE = "ridge_loo"
#: the families whose features are probed downstream (the paper's: a linear head on m ReLU features and n3
#: samples is no test of a degree-3 parity, so parity is compared on its subspace error and energy only)
PROBED = PAPER_FAMILIES
#: "final error": the mean of the recorded errors over the last TAIL of the rounds
TAIL = 0.2
#: the escape round is the first recorded round with error below ESCAPE_LEVEL
ESCAPE_LEVEL = 0.5
#: the step-size check of the rates: the two ends of every sweep are rerun with eta_W times each factor (the
#: head step unchanged), and the slope between the ends is refitted at each step
STEP_FACTORS = (0.5, 2.0)


@dataclass(frozen=True)
class Params(ChapterParams):
    d: int = 50                                   # ambient dimension of the base setting
    r: int = 5                                    # latent dimension, dim span(M) (>= 3: parity needs three directions)
    m: int = 100                                  # neurons (chapter 3's m; every probed feature set has m features)
    T: int = 20                                   # tasks of the base setting (baselines, parity, d and n2 sweeps)
    n1: int = 50                                  # fresh samples per task in each head phase
    n2: int = 50                                  # fresh samples per task in each feature phase
    rounds: int = 100                             # rounds for the linear family (the step-size grid's budget)
    rounds_quadratic: int = 150                   # rounds for the quadratic family and parity's base budget
    T_values: tuple[int, ...] = (5, 10, 20, 40)   # numbers of tasks of the T sweeps, increasing
    n_total: int = 500                            # fixed total T n2 (= T n1) per phase of the budget control
    ds: tuple[int, ...] = (25, 50, 100)           # ambient dimensions of the d sweep (linear, T tasks), increasing
    n2s: tuple[int, ...] = (25, 50, 100)          # samples per task and phase of the n2 sweep (n1 = n2), increasing
    rounds_parity_large: int = 150                # rounds of parity's larger budget
    n_parity_large: int = 100                     # samples per task and phase (n1 = n2) of parity's larger budget
    bias_scale_parity: float = 1.0                # network biases b ~ bias_scale_parity N(0, 1), parity only
    eta_a_linear: float = STEP_SIZES["linear"][0]          # head step, linear family (grid rule)
    eta_W_linear: float = STEP_SIZES["linear"][1]          # feature step, linear family (grid rule)
    eta_a_quadratic: float = STEP_SIZES["quadratic"][0]    # head step, quadratic family (grid rule)
    eta_W_quadratic: float = STEP_SIZES["quadratic"][1]    # feature step, quadratic family (grid rule)
    eta_a_parity: float = STEP_SIZES["quadratic"][0]       # head step, parity (the grid does not cover it: quadratic's)
    eta_W_parity: float = STEP_SIZES["quadratic"][1]       # feature step, parity (quadratic's)
    eta_a_linrep: float = LINREP_STEPS[0]         # head step of the linear representation (same grid rule)
    eta_W_linrep: float = LINREP_STEPS[1]         # feature step of the linear representation (same grid rule)
    n3: int = 100                                 # downstream training samples per task (chapter 3's n3)
    down_tasks: int = 5                           # new downstream tasks per seed and case
    n_test: int = 500                             # downstream test samples per task
    record_every: int = 2                         # rounds between recorded errors (escape-round resolution)
    control: str = "none"                         # "none", or a negative control of mtrl_lib.train (tests)

    constraints = {
        "r": Int(3, 100), "T_values": IntList(1, 100_000, increasing=True), "n_total": Int(1, 100_000_000),
        "ds": IntList(2, 100_000, increasing=True), "n2s": IntList(1, 1_000_000, increasing=True),
        "rounds_parity_large": Int(1, 1_000_000), "n_parity_large": Int(1, 1_000_000),
        "bias_scale_parity": Float(0.0, 10.0), "control": Choice(CONTROLS),
    }

    def check(self) -> None:
        super().check()
        check_seed_count(self.seeds)            # the one wording of every chapter (experiments/common.py)
        if self.r >= self.ds[0]:
            raise ValueError(f"ds must all exceed r = {self.r}, got {list(self.ds)}")
        if sum(T >= 2 * self.r for T in self.T_values) < 2:
            raise ValueError(f"T_values must hold at least two values >= 2 r = {2 * self.r} (the rate fit in T), "
                             f"got {list(self.T_values)}")
        if self.n_total < self.T_values[-1]:
            raise ValueError(f"n_total must be at least the largest T = {self.T_values[-1]} (one sample per task), "
                             f"got {self.n_total}")

    def eta(self, family: str) -> tuple[float, float]:
        return getattr(self, f"eta_a_{family}"), getattr(self, f"eta_W_{family}")

    @property
    def T_fit(self) -> tuple[int, ...]:
        """The T of the rate fit: T >= 2r (below, the tasks' own conditioning, not the samples, sets the error)."""
        return tuple(T for T in self.T_values if T >= 2 * self.r)

    @property
    def T_above_r(self) -> tuple[int, ...]:
        return tuple(T for T in self.T_values if T > self.r)
