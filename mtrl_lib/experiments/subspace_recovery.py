"""Chapter 2 (claim C2, the paper's Figure 1): multi-task training recovers span(M), better with more tasks.

For every family in ``families`` (and the headline ``family``), every T in ``T_values`` and every seed, one
run of the alternating algorithm (:func:`mtrl_lib.train.train`) from the same M and initial W for all T of a
seed (the runs over T are paired). Recorded: the subspace error and the energy in span(M) every
``record_every`` rounds; at the end, the principal cosines, the directions recovered, and the spectrum of W
inside span(M), and for linear tasks the eigenvalues of the tasks' second-moment matrix Sigma_T with the share
of W's energy along each of its eigenvectors (the collapse diagnostic).

Step sizes are per family and come from the documented grid in :mod:`mtrl_lib.experiments.step_sizes`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._validate import check_choice, check_float, check_int, check_int_list, check_str_list
from ..metrics import RECOVERED_COSINE, principal_cosines
from ..progress import progress_bar
from ..tasks import FAMILIES
from ..train import TrainConfig, resolve_device, train
from .step_sizes import STEP_SIZES


@dataclass(frozen=True)
class Params:
    d: int = 100
    r: int = 5
    m: int = 200
    n1: int = 50
    n2: int = 50
    rounds: int = 100
    rounds_quadratic: int = 150
    T_values: tuple[int, ...] = (1, 5, 20, 100)
    family: str = "linear"
    families: tuple[str, ...] = ("linear", "quadratic")
    eta_a_linear: float = STEP_SIZES["linear"][0]
    eta_W_linear: float = STEP_SIZES["linear"][1]
    eta_a_quadratic: float = STEP_SIZES["quadratic"][0]
    eta_W_quadratic: float = STEP_SIZES["quadratic"][1]
    bias_scale: float = 0.0
    record_every: int = 5
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "cpu"

    def __post_init__(self):
        check_int("d", self.d, 2, 100_000)
        check_int("r", self.r, 1, self.d)
        check_int("m", self.m, 1, 100_000)
        check_int("n1", self.n1, 1, 1_000_000)
        check_int("n2", self.n2, 1, 1_000_000)
        check_int("rounds", self.rounds, 1, 1_000_000)
        check_int("rounds_quadratic", self.rounds_quadratic, 1, 1_000_000)
        object.__setattr__(self, "T_values", tuple(sorted(set(check_int_list("T_values", self.T_values, 1, 100_000)))))
        if self.T_values[0] != 1:
            raise ValueError(f"T_values must include 1 (the single-task baseline), got {list(self.T_values)}")
        check_choice("family", self.family, FAMILIES)
        object.__setattr__(self, "families", tuple(dict.fromkeys(check_str_list("families", self.families, FAMILIES))))
        for f in FAMILIES:
            check_float(f"eta_a_{f}", getattr(self, f"eta_a_{f}"), 0.0, 1e6, lo_open=True)
            check_float(f"eta_W_{f}", getattr(self, f"eta_W_{f}"), 0.0, 1e6, lo_open=True)
        if self.r < 2 and "quadratic" in self.all_families:
            raise ValueError(f"r must be >= 2 when the quadratic family is used, got {self.r}")
        check_float("bias_scale", self.bias_scale, 0.0, 10.0)
        check_int("record_every", self.record_every, 1, 1_000_000)
        object.__setattr__(self, "seeds", check_int_list("seeds", self.seeds, 0, 2**31 - 1))
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        resolve_device(self.device)

    @property
    def all_families(self) -> tuple[str, ...]:
        """The headline family first, then the others of ``families``."""
        return tuple(dict.fromkeys((self.family, *self.families)))

    def rounds_for(self, family: str) -> int:
        return self.rounds_quadratic if family == "quadratic" else self.rounds

    def config(self, family: str, T: int, seed: int, **over) -> TrainConfig:
        """The training configuration of one run (the one place the chapter's choices meet TrainConfig)."""
        kw = dict(d=self.d, r=self.r, m=self.m, T=T, family=family, n1=self.n1, n2=self.n2,
                  rounds=self.rounds_for(family), eta_a=getattr(self, f"eta_a_{family}"),
                  eta_W=getattr(self, f"eta_W_{family}"), bias_scale=self.bias_scale, seed=seed,
                  device=self.device, record_every=self.record_every)
        kw.update(over)
        return TrainConfig(**kw)


def spectra(W: torch.Tensor, M: torch.Tensor) -> np.ndarray:
    """Eigenvalues of M^T W^T W M / ||W M||_F^2, descending: how W's energy inside span(M) is spread over
    r orthogonal directions (1/r each when spread evenly; (1, 0, ...) when every row points one way)."""
    P = (W.double() @ M.double())
    ev = torch.linalg.eigvalsh(P.T @ P).flip(0).clamp_min(0)
    return (ev / ev.sum()).cpu().numpy()


def task_spectrum(tasks, W: torch.Tensor, M: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """For linear tasks: the eigenvalues of Sigma_T = (1/T) sum_t v_t v_t^T, descending (they sum to 1; the
    matrix the first feature step multiplies the rows' span(M) part by, chapter 2 "why it holds"), and the
    share of W's energy inside span(M) along each of Sigma_T's eigenvectors, in the same order,
    diag(Q^T M^T W^T W M Q) / ||W M||_F^2. NaN for other families."""
    r = M.shape[1]
    if tasks.family != "linear":
        return np.full(r, np.nan), np.full(r, np.nan)
    V = tasks.params.double()
    ev, Q = torch.linalg.eigh(V.T @ V / V.shape[0])
    ev, Q = ev.flip(0).clamp_min(0), Q.flip(1)
    P = W.double() @ M.double() @ Q
    share = P.pow(2).sum(0) / P.pow(2).sum()
    return ev.cpu().numpy(), share.cpu().numpy()


def one_run(cfg: TrainConfig) -> dict:
    """Train once and return the trajectory and the end-of-training diagnostics as numpy arrays."""
    res = train(cfg)
    cos = principal_cosines(res.W, res.M).cpu().numpy()
    ts, along = task_spectrum(res.tasks, res.W, res.M)
    return {
        "round": res.history["round"], "error": res.history["subspace_error"], "energy": res.history["energy"],
        "cosines": cos, "recovered": int((cos >= RECOVERED_COSINE).sum()), "w_spectrum": spectra(res.W, res.M),
        "task_spectrum": ts, "w_along_tasks": along,
        "energy_init": float((res.W0.double() @ res.M.double()).pow(2).sum() / res.W0.double().pow(2).sum()),
    }


def verdict(result: dict, p: Params) -> str:
    """C2 holds for a family when the mean final subspace error at the largest T is below the single-task
    error minus 0.4 (from "a direction missing" to "recovered") and the mean error does not rise with T
    (each step in T may add at most 0.05, the seed-to-seed noise). The verdict names the families that fail."""
    failed = []
    for f in p.all_families:
        e = result[f]["final_error"].mean(axis=1)
        why = [name for name, ok in [("error at the largest T not below the single-task error - 0.4", e[-1] < e[0] - 0.4),
                                     ("error rises with T", bool(np.all(np.diff(e) <= 0.05)))] if not ok]
        if why:
            failed.append(f"{f}: " + "; ".join(why))
    return "reproduced" if not failed else "not reproduced (" + " | ".join(failed) + ")"


def run(p: Params, progress: bool = True) -> dict:
    """All of chapter 2's numbers: ``{family: {...arrays indexed [T, seed, ...]...}, "T_values": ...,
    "verdict": str}``."""
    jobs = [(f, T, s) for f in p.all_families for T in p.T_values for s in p.seeds]
    runs = {}
    for f, T, s in progress_bar(jobs, progress, desc="C2: families x T x seeds"):
        runs[f, T, s] = one_run(p.config(f, T, s))
    out = {"T_values": np.asarray(p.T_values), "seeds": np.asarray(p.seeds)}
    for f in p.all_families:
        stack = lambda key: np.stack([np.stack([np.asarray(runs[f, T, s][key], dtype=float) for s in p.seeds])
                                      for T in p.T_values])
        fam = {key: stack(key) for key in ("error", "energy", "cosines", "w_spectrum", "task_spectrum",
                                                  "w_along_tasks")}
        fam["recovered"] = stack("recovered")
        fam["round"] = runs[f, p.T_values[0], p.seeds[0]]["round"]
        fam["final_error"] = fam["error"][..., -1]            # (T, seed)
        fam["final_energy"] = fam["energy"][..., -1]
        fam["energy_init"] = float(np.mean([runs[f, T, s]["energy_init"] for T in p.T_values for s in p.seeds]))
        out[f] = fam
    out["verdict"] = verdict(out, p)
    return out


def explore(d: int, T: int, family: str, eta_W: float, rounds: int = 100, r: int = 5, m: int = 100,
            seed: int = 0, n: int = 50) -> dict:
    """One small run for the chapter's live explorer (step size eta_a of the family's rule)."""
    eta_a = STEP_SIZES[family][0]
    cfg = TrainConfig(d=d, r=r, m=m, T=T, family=family, n1=n, n2=n, rounds=rounds, eta_a=eta_a, eta_W=eta_W,
                      seed=seed, record_every=5)
    return one_run(cfg)
