"""``units_ratio``: units per second of a small sweep of training units on ``--scheduler local:2`` over the same
sweep in-process."""
from __future__ import annotations

import time


def bench_units(n_units: int, **cfg) -> dict:
    """units per second of ``n_units`` training units (:func:`mtrl_lib.train.trajectory_unit`, distinct seeds)
    in-process and on a fresh LocalCluster of 2 single-threaded workers (cluster start-up excluded, one
    warm-up unit each), and the ratio local:2 / in-process."""
    from ...units import InProcess, unit
    from ..executors import Dask, start_local_cluster

    cfg.setdefault("eta_a", 10.0)
    cfg.setdefault("eta_W", 0.05)
    units = [unit("mtrl_lib.train:trajectory_unit", 1000 + s, **cfg) for s in range(n_units)]
    warm = [unit("mtrl_lib.train:trajectory_unit", 999, **cfg)]
    InProcess().map(warm)
    start = time.perf_counter()
    here = InProcess().map(units)
    t_in = time.perf_counter() - start
    cluster = start_local_cluster(2)
    try:
        ex = Dask(cluster.scheduler_address)
        ex.warm()
        ex.map([unit("mtrl_lib.train:trajectory_unit", 990 + k, **cfg) for k in range(2)])
        start = time.perf_counter()
        there = ex.map(units)
        t_dask = time.perf_counter() - start
        ex.client.close()
    finally:
        cluster.close()
    same = all(float(a["subspace_error"][-1]) == float(b["subspace_error"][-1]) for a, b in zip(here, there))
    return {"config": {"n_units": n_units, **cfg}, "inprocess_s": t_in, "local2_s": t_dask,
            "units_per_s_inprocess": n_units / t_in, "units_per_s_local2": n_units / t_dask,
            "units_ratio": t_in / t_dask, "same_results": same}
