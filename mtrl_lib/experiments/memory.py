"""Peak memory of a chapter's units, estimated from the chapter's parameters before anything runs.

A configuration whose units cannot fit in memory is refused with one line (what it needs, what the machine has)
and exit status 2, as every other bad input is, instead of starting a kernel and failing minutes later in a unit
with torch's "can't allocate memory" (issue 29). :func:`check_fits` is called where parameters are validated: by
the command line (:func:`mtrl_lib.book.cli_values.resolve`, before any kernel starts) and by each notebook's cell
that builds its ``Params`` (so JupyterLab and papermill refuse too).

**What is estimated.** The peak of the largest unit a chapter's parameters declare, in bytes: the interpreter
and its libraries (:data:`BASE`) plus the largest set of tensors one unit holds at once. One function per
chapter (:data:`ESTIMATORS`) takes the chapter's ``Params`` and returns bytes; each documents the shapes it
counts. They are deliberately not methods of the chapters' ``Params`` (a unit may reach its ``Params`` class,
and its code is part of the unit's store key): this module is reached by no unit.

The building blocks, with ``F32 = 4`` and ``F64 = 8`` bytes:

* :func:`train_bytes`: a training run, ``TrainConfig.working_set() * element size``, the training loop's own
  account of every tensor :func:`mtrl_lib.train.train` holds (sample buffer, pre-activations, per-sample
  vectors, W with its copies and SVD, heads), chunked under ``memory_budget_gb``: at least one task's samples
  ``n (d + m + r + 16)`` however small the budget (the issue's example: ``n = 1e5`` samples of ``d = 1e5``
  for one task are 40 GB);
* :func:`batch_bytes`: one unchunked batch pushed through the network outside the training loop (a gradient
  check, a feature step, an anatomy): the samples ``X (T, n, d)`` and ``c`` tensors of shape ``(T, n, m)``
  (pre-activations, features, masks, autograd's saved tensors);
* :func:`probe_bytes`: a downstream probe on frozen features (:mod:`mtrl_lib.probe`): the samples
  ``(B, n3 + n_test, d)`` in float32, the features ``(sets B, n3 + n_test, m)`` in float32 (twice, while they
  are concatenated) and three float64 copies (the conversion, the standardised features, their temporaries),
  and the leave-one-out ridge (:func:`ridge_loo_bytes`).

**Upper bound, not loose.** Each count is of tensors alive at once, with the temporaries of the largest
operation; ``tests/test_memory.py`` measures the peak resident memory of units in a child process at sizes where
these terms dominate and checks that every estimate lies above the measurement and within a factor of
:data:`LOOSENESS` of it.

**What the machine has.** :func:`available_bytes`: the memory the kernel can still take, ``MemAvailable`` of
``/proc/meminfo`` (or psutil's ``available``), lowered to a cgroup's limit less its usage when the process runs in
one. The check compares one unit's peak with it (units run one at a time in-process; each worker of
``--scheduler local:N`` runs one unit). A scheduler on another host runs its units on its own workers, whose
memory is not this machine's: then nothing is checked (:func:`units_run_here`).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

GiB = 2**30
F32, F64 = 4, 8
#: the interpreter, torch, numpy, scipy, matplotlib and the kernel's own imports, before any unit (a kernel that
#: has run a chapter's import cell holds about 0.4 GB)
BASE = GiB // 2
#: fixed slack of a unit beyond the tensors counted
SLACK = 64 * 2**20
#: the digits of chapter 7: at most 8 x 8 pixels per image (a seed's split keeps fewer), and the 599 test images
#: (the last third of the 1,797, :data:`mtrl_lib.real_data.N_TRAIN` train)
DIGITS_PIXELS, DIGITS_TEST = 64, 599
#: every estimate lies between the measured peak and this factor times it (tests/test_memory.py)
LOOSENESS = 3.0


# ---------------------------------------------------------------------------------------------- building blocks

def train_bytes(**config) -> int:
    """Peak of one :func:`mtrl_lib.train.train` run of ``TrainConfig(**config)`` (``seed`` may be left out):

    * its working set (:meth:`mtrl_lib.train.TrainConfig.working_set`, elements) times the element size, and a
      quarter more (the allocator's slack and the temporaries of the round's elementwise passes: measured peaks
      run up to 13 % over the working set);
    * the recorded metrics' float64 Gram matrix ``W^T W (d, d)`` with its eigenvectors and eigh's workspace
      (:func:`mtrl_lib.train.round_metrics`), ``5 d^2`` float64, which the working set does not count and
      ``memory_budget_gb`` does not bound (it dominates when d is large: at d = 6,000 and m = 500, 1.3 GB of a
      run's 1.3 GB);
    (:func:`peak_bytes` adds :data:`SLACK` for the threads' buffers and the history.)"""
    import torch

    from ..train import TrainConfig

    cfg = TrainConfig(**{k: v for k, v in config.items() if k != "baselines"})
    elem = torch.finfo(cfg.torch_dtype).bits // 8
    return int(1.25 * cfg.working_set() * elem) + 5 * F64 * cfg.d ** 2


def batch_bytes(T: int, n: int, d: int, m: int, elem: int, copies: int = 2, tensors: int = 6) -> int:
    """``copies`` sample tensors ``(T, n, d)`` and ``tensors`` tensors ``(T, n, m)`` of ``elem`` bytes."""
    return elem * T * n * (copies * d + tensors * m)


def ridge_loo_bytes(B: int, n: int, k: int, shared: bool = False) -> int:
    """:func:`mtrl_lib.probe.fit_ridge_loo` on ``P (B, n, k)`` float64: with ``s = min(n, k)``, the Gram matrix,
    its eigenvectors and eigh's workspace ``3 B s^2``, ``Q``, its square and a product ``3 B n s``, and the
    copies of ``P`` the products make ``2 B n k`` (none when the B tasks share one feature matrix, expanded:
    ``shared``)."""
    s = min(n, k)
    return F64 * B * (3 * s * s + 3 * n * s + (0 if shared else 2 * n * k))


def probe_bytes(B: int, n3: int, n_test: int, d: int, m: int, sets: int = 1) -> int:
    """A downstream probe of ``sets`` feature sets of width ``m`` on ``B`` tasks, ``n3`` training and ``n_test``
    test samples each, from ``d`` inputs (see the module's docstring for the tensors counted)."""
    n = n3 + n_test
    samples = F32 * B * n * d
    features = sets * B * n * m * (2 * F32 + 3 * F64)
    return samples + features + ridge_loo_bytes(sets * B, n3, m)


# ---------------------------------------------------------------------------------------------- the chapters

def pseudo_contrastive(p) -> int:
    """Chapter 1, the largest of its three units (float64):

    * ``gradient_unit``: over ``n = max(n1, n2)``, four sample-shaped tensors ``(T, n, d)`` (``X1``, ``X2`` and the
      products of the closed form's and autograd's gradients with them) and five ``(T, n, m)`` (head-step
      features; autograd's pre-activations, features and saved mask; the closed form's mask and coefficients);
    * ``pull_unit``: ``X1``, ``X2`` and a product ``(pull_tasks, pull_n, d)``, three ``(pull_tasks, pull_n, m)``
      (features, the mask times the heads, a temporary), the probe inputs' ``(pull_points, d + m)`` features and
      four ``pull_points^2`` similarity matrices;
    * ``kernel_unit``: the tasks ``(kappa_tasks, r)`` and, chunked at 2^22 labels, four label tensors of the chunk;
      under the shuffled-labels control the whole ``(kappa_tasks, kappa_pairs)`` labels, three times.

    Measured (tests/test_memory.py): the gradient unit at d = 800, m = 100, T = 400, n = 100 peaks 1.02 GB over
    the interpreter, the pull unit at d = 200, m = 400, 500 tasks of 200 samples 0.67 GB."""
    n = max(p.n1, p.n2)
    grad = batch_bytes(p.T, n, p.d, p.m, F64, copies=4, tensors=5)
    pull = (batch_bytes(p.pull_tasks, p.pull_n, p.d, p.m, F64, copies=3, tensors=3)
            + F64 * (p.pull_points * (p.d + p.m) + 4 * p.pull_points ** 2))
    labels = p.kappa_tasks * p.kappa_pairs
    kernel = F64 * (p.kappa_tasks * p.r + 4 * min(labels, 2**22 + p.kappa_pairs))
    if p.control == "shuffled_labels":
        kernel += F64 * 3 * labels
    return max(grad, pull, kernel)


def subspace_recovery(p) -> int:
    """Chapter 2: one training run per (family, T) (:func:`train_bytes`), the largest over ``T_values`` and the
    families; the diagnostics after it (cosines, spectra of ``W``, the tasks' spectrum) are ``O(m d)`` and
    counted in the working set's SVD."""
    return max(train_bytes(**p.train_kwargs(f, T)) for f in p.all_families for T in p.T_values)


def downstream(p) -> int:
    """Chapter 3, per d of ``ds`` (one ``evaluate`` unit each): the multi-task and the single-task pretraining
    (:func:`train_bytes`; the single task holds ``T n`` samples), then, with the four feature sets ``(m, d)``
    alive, the probe of the four sets on ``down_tasks`` tasks at the largest of ``n3s`` and ``n_test``."""
    from . import downstream as c3

    out = 0
    for d in p.ds:
        multi, single = (c3.pretrain_config(p, d, 0, single=s) for s in (False, True))
        train = max(train_bytes(**_fields(c)) for c in (multi, single))
        probe = F32 * 4 * p.m * d + probe_bytes(p.down_tasks, max(p.n3s[-1], p.n3), p.n_test, d, p.m, sets=4)
        out = max(out, train, probe)
    return out


def single_task(p) -> int:
    """Chapter 4: a single-task run (``T n`` samples of one task) or a multi-task run (:func:`train_bytes`), then
    the probe of one first layer on ``3 down_tasks`` tasks (aligned, orthogonal, new) at the largest n3."""
    from . import single_task as c4

    train = max(train_bytes(**_fields(c4.config(p, 0, single))) for single in (False, True))
    probe = probe_bytes(3 * p.down_tasks, max(p.sweep_n3), p.n_test, p.d, p.m)
    return max(train, probe)


def head_adaptation(p) -> int:
    """Chapter 5: a tuning or main run (:func:`train_bytes`, adapted or frozen heads, each family); after it the
    first feature-step gradient on a fresh batch (:func:`batch_bytes` of ``(T, n2)``, float32) and the anatomy:
    ``anatomy_n`` samples per task, ``(T, anatomy_n, d)``, with four ``(T, anatomy_n, m)`` tensors, and the
    tasks' gradients ``(T, m, d)`` in float32 and float64 (twice: stacked, tangential).

    Measured: ``one_run`` with the anatomy at d = 200, m = 2,000, T = 100, ``anatomy_n`` = 1,000 peaks 2.8 GB over
    the interpreter."""
    train = max(train_bytes(**p.train_kwargs(f, mode, 0.05)) for f in p.families for mode in ("adapted", "frozen"))
    grad = batch_bytes(p.T, p.n2, p.d, p.m, F32, copies=1, tensors=4)
    anatomy = batch_bytes(p.T, p.anatomy_n, p.d, p.m, F32, copies=1, tensors=4) + (F32 + 2 * F64) * p.T * p.m * p.d
    return max(train, grad, anatomy) if p.anatomy_n else max(train, grad)


def baselines_and_rates(p) -> int:
    """Chapter 6: every network run of the plan (:func:`train_bytes`); the base cases add the baselines on the
    run's samples: the second-moment sums ``S (T, d, d)`` in float64, each block's product in float32 and its
    float64 copy, and the two results of ``Moments.result`` (``40 T d^2`` bytes, counted as 48); a phase's
    samples ``(T, n, d)`` with their label-weighted copy; and the probe of one feature set at ``n3`` and
    ``n_test``.

    Measured: a base-case unit at d = 600, T = 40, n = 500 peaks 0.55 GB over the interpreter."""
    from . import baselines_and_rates as c6

    runs = c6.plan(p).values()
    train = max(train_bytes(**cfg) for cfg in runs)
    base = [cfg for cfg in runs if "baselines" in cfg]
    moments = max(48 * cfg["T"] * cfg["d"] ** 2 + F32 * 2 * cfg["T"] * max(cfg["n1"], cfg["n2"]) * cfg["d"]
                  for cfg in base)
    probe = probe_bytes(p.down_tasks, p.n3, p.n_test, p.d, p.m)
    return max(train, moments, probe)


def real_data(p) -> int:
    """Chapter 7 (the digits: at most :data:`DIGITS_PIXELS` pixels, :data:`DIGITS_TEST` test images): pretraining
    with the finite sampler (:func:`train_bytes` at ``T_values`` and the single task's ``n T``), then per n3 the
    probes: float64 ReLU features of the labelled and the test images ``(n3 + n_test, m)``, three times, and the
    leave-one-out ridge of ``down_tasks`` tasks on ``(n3, m + 1)`` features (one feature matrix, shared; the
    Gram matrices and eigenvectors are per task).

    Measured: a seed unit at m = 2,000, 40 held-out tasks, n3 = 1,198 peaks 1.6 GB over the interpreter."""
    from . import real_data as c7

    d = DIGITS_PIXELS
    train = max(train_bytes(**_fields(c7.train_config(p, d, T, n, 0, p.control, eta)))
                for T, n in [(T, p.n) for T in p.T_values] + [(1, p.n * p.T_max)]
                for eta in (p.eta_W_grid[-1],))          # the step does not change the working set
    n3 = p.n3s[-1]
    probe = F64 * 3 * (n3 + DIGITS_TEST) * (p.m + 1) + ridge_loo_bytes(p.down_tasks, n3, p.m + 1, shared=True)
    return max(train, probe)


def population_gap(p) -> int:
    """Chapter 8: every finite run of the plan (:func:`train_bytes`), and the population runs: ``W (m, d)``, its
    split into in-span and out-of-span parts and the SVD of the out-of-span part, in float64 (``8 m d``
    elements), with the tasks ``(T, r)`` and heads ``(T, m)``.

    Measured: a population unit at m = 1,000, d = 5,000 peaks 0.21 GB over the interpreter (5.3 m d float64)."""
    from . import population_gap as c8

    out = 0
    for fn, cfg in c8.plan(p).values():
        if fn.__name__ == "population_unit":
            out = max(out, F64 * (8 * cfg["m"] * cfg["d"] + cfg["T"] * (cfg["r"] + 2 * cfg["m"])))
        else:       # paired_unit: a run beside its population (head_stop is the unit's, not the run's)
            run = {k: v for k, v in cfg.items() if k != "head_stop"}
            pop = F64 * (8 * run["m"] * run["d"] + run["T"] * (run["r"] + 2 * run["m"]))
            out = max(out, train_bytes(**run) + pop)
    return out


#: ``{experiment module: estimator}``: the peak of one unit, in bytes, without :data:`BASE`
ESTIMATORS = {
    "mtrl_lib.experiments.pseudo_contrastive": pseudo_contrastive,
    "mtrl_lib.experiments.subspace_recovery": subspace_recovery,
    "mtrl_lib.experiments.downstream": downstream,
    "mtrl_lib.experiments.single_task": single_task,
    "mtrl_lib.experiments.head_adaptation": head_adaptation,
    "mtrl_lib.experiments.baselines_and_rates": baselines_and_rates,
    "mtrl_lib.experiments.rates.setting": baselines_and_rates,       # chapter 6's Params live there
    "mtrl_lib.experiments.real_data": real_data,
    "mtrl_lib.experiments.population_gap": population_gap,
}


def _fields(cfg) -> dict:
    """A TrainConfig's fields as keywords."""
    import dataclasses

    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


# ---------------------------------------------------------------------------------------------- the check

def peak_bytes(params) -> int:
    """The estimated peak of the largest unit of ``params`` (a chapter's ``Params``): :data:`BASE` +
    :data:`SLACK` + the chapter's estimator."""
    fn = ESTIMATORS.get(type(params).__module__)
    if fn is None:
        raise KeyError(f"no memory estimate for {type(params).__module__}: add one to {__name__}.ESTIMATORS")
    return BASE + SLACK + int(fn(params))


def _cgroup_room() -> int | None:
    """A cgroup's memory limit less its usage (v2, then v1), or None outside a limiting cgroup."""
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            cap = Path(limit).read_text().strip()
            if cap == "max" or int(cap) >= 2**60:
                return None
            return max(0, int(cap) - int(Path(usage).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_bytes() -> int:
    """Memory this process can still take: ``MemAvailable`` (or psutil's ``available``), lowered to a cgroup's
    room when smaller."""
    have = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                have = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if have is None:
        import psutil

        have = int(psutil.virtual_memory().available)
    room = _cgroup_room()
    return have if room is None else min(have, room)


def units_run_here() -> bool:
    """False when ``MTRL_SCHEDULER`` or ``DASK_SCHEDULER_ADDRESS`` names a scheduler on another host (its workers'
    memory is not this machine's); True in-process and for a scheduler on this host (``--scheduler local:N``)."""
    address = os.environ.get("MTRL_SCHEDULER") or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if not address:
        return True
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", socket.gethostname(), socket.getfqdn())


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e10 else f"{n / 1e9:.2f} GB"


def check_fits(params, available: int | None = None) -> None:
    """Refuse ``params`` (``ValueError``, one line) when the peak of its largest unit (:func:`peak_bytes`) exceeds
    the memory available here (:func:`available_bytes`, or ``available``). Nothing is checked when the units run
    on another host's scheduler (:func:`units_run_here`)."""
    if available is None and not units_run_here():
        return
    need = peak_bytes(params)
    have = available_bytes() if available is None else int(available)
    if need > have:
        raise ValueError(f"this configuration needs about {_gb(need)} of memory for its largest unit, and this "
                         f"machine has {_gb(have)} available; lower the sizes (d, m, T, n or their lists)")


def estimate_line(params) -> str:
    """One line for a report: the estimate against what is available."""
    return f"estimated peak {_gb(peak_bytes(params))} of {_gb(available_bytes())} available"


__all__ = ["BASE", "ESTIMATORS", "LOOSENESS", "available_bytes", "batch_bytes", "check_fits", "estimate_line",
           "peak_bytes", "probe_bytes", "ridge_loo_bytes", "train_bytes", "units_run_here"]

