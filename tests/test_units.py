"""Units, the results store and the executors (mtrl_lib.units, mtrl_lib.book.store, mtrl_lib.book.executors)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mtrl_lib.book import executors, store
from mtrl_lib.units import InProcess, UnitFailed, call, run_units, unit

CFG = dict(d=30, r=3, m=40, T=8, n1=20, n2=20, rounds=20, eta_a=10.0, eta_W=0.05, record_every=5)


def units(n=4, **over):
    return [unit("mtrl_lib.train:trajectory_unit", s, **{**CFG, **over}) for s in range(n)]


def test_unit_config_is_canonical_and_seed_is_part_of_the_unit():
    a = unit("mtrl_lib.train:trajectory_unit", 3, d=5, r=2)
    b = unit("mtrl_lib.train:trajectory_unit", 3, r=2, d=5)
    assert a == b and a.kwargs == {"d": 5, "r": 2}
    assert store.unit_key(a) == store.unit_key(b) != store.unit_key(unit("mtrl_lib.train:trajectory_unit", 4, d=5, r=2))


def test_a_failing_unit_names_its_config():
    bad = unit("mtrl_lib.train:trajectory_unit", 0, **{**CFG, "eta_W": -1.0})
    with pytest.raises(UnitFailed, match=r"seed=0 config=.*eta_W.*-1"):
        call(bad)


def test_results_do_not_depend_on_the_thread_count():
    """The same unit in a process with 1 thread and in one with 2 gives the same bytes (mtrl_lib.threads)."""
    outs = _encoded_at_1_and_2_threads("mtrl_lib.train:trajectory_unit", 7, CFG)
    assert outs[0] == outs[1] and len(outs[0]) > 100


def _encoded_at_1_and_2_threads(fn: str, seed: int, cfg: dict) -> list[str]:
    """The stored text of unit (fn, seed, cfg) computed in a fresh process with 1 and with 2 torch threads."""
    code = ("import torch,sys; torch.set_num_threads(int(sys.argv[1])); from mtrl_lib.units import unit, call; "
            "from mtrl_lib.book.store import encode; "
            f"print(encode(call(unit({fn!r}, {seed}, **{cfg!r}))))")
    return [subprocess.run([sys.executable, "-c", code, str(t)], capture_output=True, text=True, check=True).stdout
            for t in (1, 2)]


def test_chapter1_gradient_unit_does_not_depend_on_the_thread_count():
    """Chapter 1's gradient unit at the paper profile's shape (m d = 80,000 elements, past torch's parallel
    grain), seed 3: its cosines came out one ulp apart at 1 and 2 threads before they ran in one_thread."""
    cfg = dict(T=200, bias_scale=0.1, control="none", d=200, device="cpu", eta_a=1.0,
               eta_a_values=[1.0, 10.0, 50.0], m=400, n1=50, n2=50, r=5)
    outs = _encoded_at_1_and_2_threads("mtrl_lib.experiments.pseudo_contrastive:gradient_unit", 3, cfg)
    assert outs[0] == outs[1] and "logistic_cos" in outs[0]


def test_store_round_trip_is_exact(tmp_path):
    res = {"a": np.arange(5, dtype=np.float32) / 3, "b": np.array([[1, 2]], dtype=np.int64), "c": 1 / 3,
           "d": [1.5, "x"], "e": np.float64(2.0) ** 0.5}
    s = store.Store(tmp_path)
    u = units(1)[0]
    s.put("ab" * 32, u, res)
    back = s.get("ab" * 32)
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], res["a"])
    assert back["b"].shape == (1, 2) and back["c"] == res["c"] and back["e"] == float(res["e"])
    assert store.encode(back) == store.encode(res)


def test_corrupted_or_partial_entries_are_recomputed(tmp_path):
    us = units(3)
    ex = executors.Stored(executors._Local(), store.Store(tmp_path))
    first = ex.map(us)
    keys = [store.unit_key(u) for u in us]
    p0, p1 = store.Store(tmp_path).path(keys[0]), store.Store(tmp_path).path(keys[1])
    p0.write_text(p0.read_text()[:50])                                   # a partial write
    entry = json.loads(p1.read_text())
    entry["result"] = entry["result"].replace("0.", "1.", 1)            # a corrupted value
    p1.write_text(json.dumps(entry))
    ex2 = executors.Stored(executors._Local(), store.Store(tmp_path))
    again = ex2.map(us)
    assert ex2.units_from_store == 1 and ex2.units_total == 3
    assert [store.encode(r) for r in again] == [store.encode(r) for r in first]


def test_an_interrupted_sweep_resumes_with_only_the_missing_units(tmp_path):
    us = units(4)

    class Dies(executors._Local):
        def iter_results(self, todo):
            for k, item in enumerate(super().iter_results(todo)):
                if k == 2:
                    raise KeyboardInterrupt
                yield item

    with pytest.raises(KeyboardInterrupt):
        executors.Stored(Dies(), store.Store(tmp_path)).map(us)
    ex = executors.Stored(executors._Local(), store.Store(tmp_path))
    out = ex.map(us)
    assert ex.units_from_store == 2
    assert [store.encode(r) for r in out] == [store.encode(store.normalise(call(u))) for u in us]


def test_the_store_key_follows_the_science_source(tmp_path, monkeypatch):
    u = units(1)[0]
    assert store.unit_key(u, "a") != store.unit_key(u, "b")


def test_a_units_code_is_its_closure_not_its_modules():
    # The training unit runs train.py's definitions and what they reach, not the chapters; a chapter's unit
    # adds its own definitions but no other chapter's; nothing of the publishing side counts
    # (tests/test_codekeys.py tests the closures themselves).
    from mtrl_lib.book import codekeys

    train = set(codekeys.closure("mtrl_lib.train:trajectory_unit", store.ROOT).items)
    assert {"mtrl_lib.train:train", "mtrl_lib.tasks:draw_tasks", "mtrl_lib.units:call"} <= train
    assert not any(k.startswith("mtrl_lib.experiments") for k in train)
    ch7 = set(codekeys.closure("mtrl_lib.experiments.real_data:seed_unit", store.ROOT).items)
    assert {"mtrl_lib.experiments.real_data:seed_unit", "mtrl_lib.experiments.digit_splits:digits"} <= ch7
    assert not any(k.startswith("mtrl_lib.experiments.subspace_recovery") for k in ch7)
    assert not any(k.startswith("mtrl_lib.book") for k in ch7)


def test_unwritable_store_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="--store must be a folder that can be written"):
        store.Store("/proc/not-here").check_writable()


def test_scheduler_addresses_are_checked():
    assert executors.parse_scheduler("local:2") == ("local", 2)
    assert executors.parse_scheduler("127.0.0.1:8786") == ("address", "tcp://127.0.0.1:8786")
    for bad in ("local:0", "not an address", "tcp://:"):
        with pytest.raises(ValueError):
            executors.parse_scheduler(bad)


def test_dask_gives_the_bytes_of_in_process(dask_cluster, tmp_path):
    us = units(6)
    here = [store.encode(store.normalise(r)) for r in run_units(us, InProcess())]
    ex = executors.Stored(executors.Dask(dask_cluster.scheduler_address), None)
    there = [store.encode(r) for r in ex.map(us)]
    ex.inner.client.close()            # before the module's cluster closes (else it retries at exit, noisily)
    assert there == here
    assert executors.check_scheduler(dask_cluster.scheduler_address) == 2


def test_a_killed_worker_does_not_lose_the_sweep(dask_cluster, tmp_path):
    """Kill one worker process while units run: Dask reschedules its units and the sweep completes (the nanny
    replaces the worker, so the session's cluster has two workers again for the tests after this one)."""
    import psutil

    us = units(8, rounds=200, record_every=50)
    ex = executors.Stored(executors.Dask(dask_cluster.scheduler_address), store.Store(tmp_path))
    results, killed = {}, False
    for i, res in ex.inner.iter_results(us):
        results[i] = res
        if not killed:
            victims = [p for p in psutil.Process().children(recursive=True)
                       if any("worker" in a or "spawn" in a for a in p.cmdline())]
            workers = [p for p in victims if p.children() == []]
            assert workers, "no worker process found"
            workers[0].kill()
            killed = True
    ex.inner.client.close()
    assert killed and sorted(results) == list(range(8))
    expected = [store.encode(store.normalise(call(u))) for u in us[:2]]
    assert [store.encode(store.normalise(results[i])) for i in range(2)] == expected


def test_audit_finds_and_prunes_the_entries_todays_source_cannot_read(tmp_path, capsys):
    s = store.Store(tmp_path)
    u = unit("mtrl_lib.train:trajectory_unit", 1, d=5, r=2, m=4, T=2, rounds=1)
    s.put(store.unit_key(u), u, {"x": 1.0})                                   # current
    s.put(store.unit_key(u, digest="0" * 64), u, {"x": 1.0})                  # computed under other source
    (tmp_path / "ab").mkdir(exist_ok=True)
    (tmp_path / "ab" / ("ab" + "1" * 62 + ".json")).write_text("{not json")   # unreadable
    current, stale = s.audit()
    assert current == 1 and len(stale) == 2 and all(p.exists() for p in stale)
    assert store.main([str(tmp_path), "--prune"]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path}: 1 current, 2 stale (deleted)"
    assert s.audit() == (1, []) and s.get(store.unit_key(u)) == {"x": 1.0}
    assert store.main([str(tmp_path / "missing")]) == 2


def test_a_kernel_with_another_checkouts_science_refuses_to_run(monkeypatch, tmp_path):
    """The command line passes its science digest; a kernel importing another checkout's mtrl_lib (whose
    digest differs) would key the store under the wrong source, so from_environment refuses. The matching
    digest runs."""
    from mtrl_lib.book import executors
    from mtrl_lib.book.store import science_digest

    monkeypatch.setenv(executors.ENV_STORE, str(tmp_path))
    monkeypatch.setenv(executors.ENV_DIGEST, "0" * 64)
    with pytest.raises(RuntimeError, match="science source differs"):
        executors.from_environment()
    monkeypatch.setenv(executors.ENV_DIGEST, science_digest())
    assert isinstance(executors.from_environment(), executors.Stored)
