"""The fault matrix: each fault the book must survive, one test (or more) per row. A fault loses nothing that
was finished and never leaves a wrong number in the book.

| fault | test |
|---|---|
| an entry truncated, or a byte flipped | test_every_flipped_byte_and_every_truncation_is_detected, test_a_damaged_entry_is_recomputed_with_a_warning_naming_it, test_run_warns_about_a_damaged_entry_and_gives_the_same_bytes |
| an entry of another format version | test_an_entry_of_another_format_is_recomputed |
| two runs on one store at once | test_two_runs_on_one_store_finish_with_a_lone_runs_bytes |
| a read-only or full disk | test_a_store_that_is_a_file_or_read_only_is_one_line_before_any_unit, test_a_disk_that_fills_mid_run_is_one_line_and_loses_nothing |
| a Dask worker killed | tests/test_units.py::test_a_killed_worker_does_not_lose_the_sweep |
| the scheduler killed | test_a_killed_scheduler_is_one_line_and_a_rerun_resumes; every way its connection drops (in-process): test_every_way_the_scheduler_connection_drops_is_scheduler_lost, test_a_cancelled_future_or_a_client_not_running_is_scheduler_lost, test_a_units_own_exception_is_not_scheduler_lost |
| Ctrl-C under local:N | tests/test_scale_cli.py::test_ctrl_c_ends_run_in_one_line_with_130_and_leaves_nothing |
| one seed, to any chapter | test_one_seed_is_refused_by_every_chapter_before_any_unit |
| a notebook cell that raises | tests/test_failures.py::test_failing_chapter_is_named_and_keeps_previous_book |
"""
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtrl_lib.book import executors, store
from mtrl_lib.book.chapters import CHAPTERS, ROOT
from mtrl_lib.units import call, unit

from conftest import SMALL_C2

CFG = dict(d=20, r=2, m=20, T=4, n1=10, n2=10, rounds=6, eta_a=10.0, eta_W=0.05, record_every=3)


def cli(*args, timeout=600, **kw):
    return subprocess.run([sys.executable, "-m", "mtrl_lib", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kw)


def small_units(n=3):
    return [unit("mtrl_lib.train:trajectory_unit", s, **CFG) for s in range(n)]


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def entries(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def c2_params(cli_params: list[str]):
    """Chapter 2's Params from ``-p NAME VALUE`` arguments, as the command line resolves them."""
    from mtrl_lib.book.chapters import get_chapter
    from mtrl_lib.book.cli_values import parse_cli_value, resolve

    over = {cli_params[i + 1]: parse_cli_value(cli_params[i + 2]) for i in range(0, len(cli_params), 3)}
    return resolve(get_chapter("02_subspace_recovery"), "quick", over)


# chapter 2's units, run by a plain Python process (no kernel) on the store in argv[1], parameters in argv[2:]
_RUN_C2 = """
import sys
sys.path.insert(0, {tests!r})
from test_faults import c2_params
from mtrl_lib.book.executors import Stored, _Local
from mtrl_lib.book.store import Store
from mtrl_lib.experiments import subspace_recovery
subspace_recovery.run(c2_params(sys.argv[2:]), executor=Stored(_Local(), Store(sys.argv[1])))
""".format(tests=str(Path(__file__).parent))


# ------------------------------------------------------------------------------ damaged entries

def test_every_flipped_byte_and_every_truncation_is_detected(tmp_path):
    """Flip any one bit-0 of an entry's bytes, or cut the file anywhere: the entry is never used."""
    s = store.Store(tmp_path)
    u = small_units(1)[0]
    key = store.unit_key(u)
    s.put(key, u, call(u))
    path, good = s.path(key), s.path(key).read_bytes()
    result, problem = s.load(key, u)
    assert problem is None and store.encode(result) == json.loads(good)["result"]
    for i in range(len(good)):
        path.write_bytes(good[:i] + bytes([good[i] ^ 1]) + good[i + 1:])
        result, problem = s.load(key, u)
        assert result is None and problem, f"a flipped byte at {i} of {len(good)} went unnoticed"
    for n in range(0, len(good), 7):
        path.write_bytes(good[:n])
        assert s.load(key, u)[0] is None and "truncated" in s.load(key, u)[1]


def test_an_entry_whose_toolchain_has_no_checksum_is_refused_until_sealed(tmp_path):
    """Entries written before the checksum covered the toolchain: refused (never read with a toolchain that
    may be damaged) until ``store seal`` checks their result and adds it; entries without a toolchain stay."""
    s = store.Store(tmp_path)
    u, legacy = small_units(2)
    for v in (u, legacy):
        s.put(store.unit_key(v), v, call(v))
    path = s.path(store.unit_key(u))
    entry = json.loads(path.read_text())
    del entry["toolchain_sha256"]
    path.write_text(json.dumps(entry, sort_keys=True, separators=(",", ":")))
    result, problem = s.load(store.unit_key(u), u)
    assert result is None and "toolchain" in problem
    lpath = s.path(store.unit_key(legacy))
    lentry = json.loads(lpath.read_text())
    del lentry["toolchain"], lentry["toolchain_sha256"]
    lpath.write_text(json.dumps(lentry, sort_keys=True, separators=(",", ":")))
    assert s.load(store.unit_key(legacy), legacy)[1] is None           # no toolchain recorded: read as before
    assert store.main(["seal", str(tmp_path)]) == 0 and s.seal() == 0   # sealed once; nothing left to seal
    result, problem = s.load(store.unit_key(u), u)
    assert problem is None and result is not None
    assert "toolchain" not in json.loads(lpath.read_text())


def test_a_damaged_entry_is_recomputed_with_a_warning_naming_it(tmp_path):
    s = store.Store(tmp_path / "store")
    us = small_units()
    lone = executors.Stored(executors._Local(), s).map(us)
    keys = [store.unit_key(u) for u in us]
    s.path(keys[1]).write_bytes(s.path(keys[1]).read_bytes()[:100])                     # truncated
    text = s.path(keys[2]).read_text()
    s.path(keys[2]).write_text(text.replace('"seed":2', '"seed":3'))                     # another unit's
    log = tmp_path / "units.json"
    again = executors.Stored(executors._Local(), s, log)
    assert [store.encode(r) for r in again.map(us)] == [store.encode(r) for r in lone]
    assert again.units_from_store == 1
    warned = json.loads(log.read_text())["warnings"]
    assert len(warned) == 2 and str(s.path(keys[1])) in warned[0] and "truncated" in warned[0]
    assert str(s.path(keys[2])) in warned[1] and "another unit" in warned[1]
    assert all(s.load(k, u)[1] is None for k, u in zip(keys, us))                        # rewritten whole


def test_an_entry_of_another_format_is_recomputed(tmp_path, capsys):
    s = store.Store(tmp_path)
    u = small_units(1)[0]
    key = store.unit_key(u)
    s.put(key, u, call(u))
    entry = json.loads(s.path(key).read_text())
    entry["format"] = store.FORMAT + 1
    s.path(key).write_text(json.dumps(entry))
    out = executors.Stored(executors._Local(), s).map([u])             # no log: the warning goes to stderr
    assert store.encode(out[0]) == entry["result"]
    assert f"is of format version {store.FORMAT + 1}" in capsys.readouterr().err
    assert json.loads(s.path(key).read_text())["format"] == store.FORMAT


def test_run_warns_about_a_damaged_entry_and_gives_the_same_bytes(tmp_path, small_c2_lone, kernel):
    lone_out, lone_store = small_c2_lone
    st = tmp_path / "store"
    shutil.copytree(lone_store, st)
    victim = sorted(st.rglob("*.json"))[3]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 1
    victim.write_bytes(bytes(raw))
    b = cli("run", "02_subspace_recovery", *SMALL_C2, "--out", str(tmp_path / "b"), "--store", str(st))
    assert b.returncode == 0, b.stderr
    warning = [ln for ln in b.stderr.splitlines() if "warning: store entry" in ln]
    assert len(warning) == 1 and str(victim) in warning[0] and "recomputing" in warning[0]
    name = "02_subspace_recovery.json"
    assert (lone_out / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    prov = json.loads((tmp_path / "b" / "02_subspace_recovery.provenance.json").read_text())
    assert prov["units_from_store"] == prov["units_total"] - 1


# ------------------------------------------------------------------------------ concurrent runs

def test_two_runs_on_one_store_finish_with_a_lone_runs_bytes(tmp_path, small_c2_lone):
    """Two processes run chapter 2's units on one store at once (the store is what they share; a kernel would
    add nothing to the race, so they are plain Python processes): every entry whole, the lone run's bytes."""
    lone_out, lone_store = small_c2_lone
    shared = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-c", _RUN_C2, str(shared), *SMALL_C2], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert entries(shared) == entries(lone_store)                           # every entry whole, the same bytes
    assert not list(shared.rglob(".tmp-*"))


# ------------------------------------------------------------------------------ read-only or full disk

def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_store_that_is_a_file_or_read_only_is_one_line_before_any_unit(tmp_path, capsys, monkeypatch):
    """The command line's main, in-process, with the runner's execute replaced by a failure: nothing runs."""
    from mtrl_lib.book import cli as command_line
    from mtrl_lib.book import runner

    def no_kernel(*a, **k):
        raise AssertionError("a chapter was executed")

    monkeypatch.setattr(runner, "execute", no_kernel)
    a_file = tmp_path / "store-file"
    a_file.write_text("not a folder")
    cases = [(a_file, "--store must be a folder that can be written")]
    ro = tmp_path / "ro"
    mounted = _mount_tmpfs(ro, "ro,size=1m")
    if mounted:
        cases.append((ro, "--store must be a folder that can be written"))
    try:
        for path, needle in cases:
            code = command_line.main(["run", "02_subspace_recovery", *SMALL_C2, "--out", str(tmp_path / "out"),
                                      "--store", str(path)])
            err = capsys.readouterr().err
            assert code == 2 and needle in one_line(err), err
            assert not (tmp_path / "out" / "02_subspace_recovery.json").exists()
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)])
    if not mounted:
        pytest.skip("cannot mount a read-only tmpfs here (not root?); the store-is-a-file case passed")


def test_a_disk_that_fills_mid_run_is_one_line_and_loses_nothing(tmp_path, kernel):
    """A store on a 64 KiB tmpfs: the first units fit, a later one does not. One line, and every entry
    already written is whole (a rerun, in-process, on a roomy store with those entries uses them)."""
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "size=64k"):
        pytest.skip("cannot mount a tmpfs here (not root?)")
    try:
        params = [*SMALL_C2[:-3], "-p", "seeds", "[0, 1, 2, 3, 4, 5]"]
        out = cli("run", "02_subspace_recovery", *params, "--out", str(tmp_path / "out"), "--store", str(small))
        assert out.returncode == 1, out.stderr
        line = one_line(out.stderr)
        assert "chapter 02_subspace_recovery failed in cell" in line and "No space left on device" in line
        kept = dict(entries(small))
        assert kept and not list(small.rglob(".tmp-*"))
        roomy = tmp_path / "roomy"
        shutil.copytree(small, roomy)
    finally:
        subprocess.run(["umount", str(small)])
    s = store.Store(roomy)
    assert all(s.get(Path(k).stem) is not None for k in kept)                             # every one whole
    from mtrl_lib.experiments import subspace_recovery

    again = executors.Stored(executors._Local(), s)
    subspace_recovery.run(c2_params(params), executor=again)
    assert again.units_from_store == len(kept)


# ------------------------------------------------------------------------------ the scheduler killed

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster(port: int):
    """A Dask scheduler and a 2-process worker on ``port``, in their own sessions: ``(scheduler, worker)``."""
    dask = str(Path(sys.executable).with_name("dask"))
    sched = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    work = subprocess.Popen([dask, "worker", f"tcp://127.0.0.1:{port}", "--nworkers", "2", "--nthreads", "1",
                             "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 90
    while True:                                    # up, with both workers
        try:
            if executors.check_scheduler(f"tcp://127.0.0.1:{port}", timeout=2) == 2:
                return sched, work
        except executors.SchedulerError:
            pass
        if time.time() > deadline:
            _end(sched, work)
            raise RuntimeError("the test's Dask cluster did not start")
        time.sleep(0.5)


def _end(*procs):
    import psutil

    for p in procs:
        for k in [*psutil.Process(p.pid).children(recursive=True), p] if p.poll() is None else []:
            try:
                k.kill()
            except psutil.Error:
                pass
        p.wait()


class _FakeFuture:
    def __init__(self, key, status="finished", raises=None, value=None):
        self.key, self.status, self.raises, self.value = key, status, raises, value

    def cancelled(self):
        return self.status == "cancelled"

    def result(self):
        if self.raises is not None:
            raise self.raises
        return self.value


class _FakeClient:
    loop = None

    def __init__(self, futures, status="running", map_raises=None):
        self.futures, self.status, self.map_raises = futures, status, map_raises

    def map(self, fn, units, key, **kw):
        if self.map_raises is not None:
            raise self.map_raises
        return self.futures


def _fake_dask(monkeypatch, futures, **kw):
    import distributed

    monkeypatch.setattr(distributed, "as_completed", lambda futs, loop=None: iter(futs))
    ex = executors.Dask.__new__(executors.Dask)
    ex.address, ex.client = "tcp://127.0.0.1:1", _FakeClient(futures, **kw)
    return ex


def _lost_connection_errors():
    import asyncio

    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.core import RPCClosed
    from tornado.iostream import StreamClosedError

    return [CommClosedError("in <TCP (closed) ConnectionPool.gather local=tcp://127.0.0.1:1>: Stream is closed"),
            StreamClosedError(), RPCClosed("rpc closed"), ConnectionResetError(104, "reset"), TimeoutError(),
            FutureCancelledError("mtrl-unit-x", "scheduler-connection-lost"), asyncio.CancelledError()]


@pytest.mark.parametrize("k", range(7))
def test_every_way_the_scheduler_connection_drops_is_scheduler_lost(k, monkeypatch):
    """In-process, with a fake client: a finished unit whose result cannot be gathered because the connection
    dropped (the race the killed-scheduler row hit: ``CommClosedError ... Stream is closed`` from
    ``fut.result()`` while the client's status still read running) is the one SchedulerLost line."""
    err = _lost_connection_errors()[k]
    us = small_units(2)
    ex = _fake_dask(monkeypatch, [_FakeFuture("a", value={"x": 1}), _FakeFuture("b", raises=err)])
    got = ex.iter_results(us)
    assert next(got) == (0, {"x": 1})
    with pytest.raises(executors.SchedulerLost, match="rerunning the command resumes"):
        next(got)
    with pytest.raises(executors.SchedulerLost):                          # in submitting the units too
        list(_fake_dask(monkeypatch, [], map_raises=err).iter_results(us))


def test_asking_for_the_workers_after_the_scheduler_went_away_is_scheduler_lost(monkeypatch):
    """The store's log asks the cluster for its workers after a map: a dropped connection there is the same
    SchedulerLost line (every unit is stored by then, so the rerun resumes at once)."""
    from distributed.comm.core import CommClosedError

    ex = _fake_dask(monkeypatch, [])

    def gone(*a, **k):
        raise CommClosedError("in <TCP (closed) ConnectionPool.identity>: Stream is closed")

    ex.client.scheduler_info = gone
    with pytest.raises(executors.SchedulerLost):
        ex.workers()


def test_a_cancelled_future_or_a_client_not_running_is_scheduler_lost(monkeypatch):
    us = small_units(1)
    with pytest.raises(executors.SchedulerLost):
        list(_fake_dask(monkeypatch, [_FakeFuture("a", status="cancelled")]).iter_results(us))
    for status in ("connecting", "closing", "closed"):
        ex = _fake_dask(monkeypatch, [_FakeFuture("a", raises=ValueError("anything"))], status=status)
        with pytest.raises(executors.SchedulerLost):
            list(ex.iter_results(us))


@pytest.mark.parametrize("err", [ValueError("a unit's bug"), OSError(28, "No space left on device")])
def test_a_units_own_exception_is_not_scheduler_lost(err, monkeypatch):
    """A unit that raises (its future's status is "error") keeps its own exception, an OSError included."""
    ex = _fake_dask(monkeypatch, [_FakeFuture("a", status="error", raises=err)])
    with pytest.raises(type(err)) as info:
        list(ex.iter_results(small_units(1)))
    assert info.value is err and not isinstance(info.value, executors.SchedulerLost)


def test_a_killed_scheduler_is_one_line_and_a_rerun_resumes(tmp_path, kernel, dask_cluster):
    """A scheduler of the test's own, killed once the first unit is stored; the rerun resumes on the session's
    cluster (any scheduler will do)."""
    params = [*SMALL_C2[:-3], "-p", "seeds", "[0, 1, 2]", "-p", "rounds", "100", "-p", "rounds_quadratic", "100"]
    st = tmp_path / "store"
    port = _free_port()
    sched, work = _cluster(port)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "mtrl_lib", "run", "02_subspace_recovery", *params,
                                 "--out", str(tmp_path / "a"), "--store", str(st), "--scheduler",
                                 f"tcp://127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 180
        while time.time() < deadline and not list(st.rglob("*.json")):
            time.sleep(0.2)
        sched.kill()
        _, err = proc.communicate(timeout=120)
    finally:
        _end(sched, work)
    assert proc.returncode == 1
    line = one_line(err)
    assert "SchedulerLost: the Dask scheduler" in line and "rerunning the command resumes" in line
    stored = len(list(st.rglob("*.json")))
    assert stored >= 1
    again = cli("run", "02_subspace_recovery", *params, "--out", str(tmp_path / "b"), "--store", str(st),
                "--scheduler", dask_cluster.scheduler_address)
    assert again.returncode == 0, again.stderr
    prov = json.loads((tmp_path / "b" / "02_subspace_recovery.provenance.json").read_text())
    assert prov["units_from_store"] >= stored and prov["units_total"] == 3 * 2 * 3      # T values x families x seeds
    lone = cli("run", "02_subspace_recovery", *params, "--out", str(tmp_path / "c"))
    assert lone.returncode == 0, lone.stderr
    name = "02_subspace_recovery.json"
    assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()


# ------------------------------------------------------------------------------ one seed

@pytest.mark.parametrize("seeds", ["2", "[2]"])
@pytest.mark.parametrize("chapter", [c.name for c in CHAPTERS])
def test_one_seed_is_refused_by_every_chapter_before_any_unit(chapter, seeds, tmp_path, capsys, monkeypatch):
    """In-process (the command line's own main): exit 2 and one line, and no kernel was started."""
    from mtrl_lib.book import cli as command_line
    from mtrl_lib.book import runner

    def no_kernel(*a, **k):
        raise AssertionError("a chapter was executed")

    monkeypatch.setattr(runner, "execute", no_kernel)
    code = command_line.main(["run", chapter, "-p", "seeds", seeds, "--out", str(tmp_path), "--store",
                              str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2                                                  # one wording for every chapter
    assert one_line(err) == "error: seeds must hold at least 2 seeds (a 95% interval needs two), got [2]"
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.json"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_in_jupyter_one_seed_is_refused_where_the_notebook_builds_its_params(chapter):
    """A reader's own kernel has no command line to check for it: the cell that builds Params checks too,
    before any cell runs a unit."""
    import nbformat

    from mtrl_lib.book.cli_values import check_seeds

    nb = nbformat.read(chapter.notebook, as_version=4)
    cell = next(i for i, c in enumerate(nb.cells) if "Params.from_namespace(globals())" in c.source)
    assert "check_params(params)" in nb.cells[cell].source                 # check_seeds, then the memory
    assert not any("run(" in c.source for c in nb.cells[:cell] if c.cell_type == "code")
    with pytest.raises(ValueError) as refused:                           # some chapters' Params refuse it
        check_seeds(chapter.params_class(**{**chapter.defaults(), "seeds": (2,)}))
    assert str(refused.value) == "seeds must hold at least 2 seeds (a 95% interval needs two), got [2]"
