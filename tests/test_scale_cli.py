"""The command line at scale: --scheduler, --store, --out checks, resuming, Dask runs, Ctrl-C."""
import json
import signal
import subprocess
import sys
import time

import pytest

from mtrl_lib.book.chapters import ROOT

from conftest import SMALL_C2


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "mtrl_lib", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def one_line_exit_2(out, needle):
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("extra, needle", [
    (["--out", "/proc/cannot-be-here"], "--out must be a folder that can be created and written"),
    (["--store", "/proc/cannot-be-here"], "--store must be a folder that can be written"),
    (["--scheduler", "tcp://127.0.0.1:9"], "cannot reach a Dask scheduler"),
    (["--scheduler", "no such address!"], "--scheduler must be local:N or a Dask scheduler address"),
    (["--scheduler", "local:0"], "--scheduler local:N needs N in [1, 256]"),
])
def test_unusable_out_store_or_scheduler_exit_2_within_10_s(extra, needle, tmp_path):
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    args = ["run", "02_subspace_recovery", *extra]
    if "--out" not in extra:
        args += ["--out", str(tmp_path)]
    one_line_exit_2(cli(*args), needle)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    # 10 s of wall time on a quiet machine (the connection timeout is 5 s); on a loaded shared machine the
    # imports (torch, papermill) alone can take longer, so the CPU time is what is held to the limit there.
    assert min(time.perf_counter() - start, cpu) < 10
    assert not list(tmp_path.glob("*.json"))


def test_book_checks_the_scheduler_before_executing(tmp_path):
    one_line_exit_2(cli("book", "--scheduler", "tcp://127.0.0.1:9"), "cannot reach a Dask scheduler")


def test_rerun_reuses_the_store_and_a_dask_cluster_gives_the_same_bytes(tmp_path, small_c2_lone, kernel,
                                                                       dask_cluster):
    """The lone run, a rerun from its store, and a fresh run on the session's LocalCluster (two worker
    processes; ``--scheduler local:N`` itself is started in the Ctrl-C test below): the same bytes."""
    import shutil

    lone_out, lone_store = small_c2_lone
    store = tmp_path / "store"
    shutil.copytree(lone_store, store)
    pa = json.loads((lone_out / "02_subspace_recovery.provenance.json").read_text())
    assert pa["units_total"] > 0 and pa["units_from_store"] == 0 and pa["executor"] == {"kind": "in-process"}
    b = cli("run", "02_subspace_recovery", *SMALL_C2, "--out", str(tmp_path / "b"), "--store", str(store))
    pb = json.loads((tmp_path / "b" / "02_subspace_recovery.provenance.json").read_text())
    assert pb["units_from_store"] == pb["units_total"] == pa["units_total"]
    c = cli("run", "02_subspace_recovery", *SMALL_C2, "--out", str(tmp_path / "c"), "--store",
            str(tmp_path / "fresh"), "--scheduler", dask_cluster.scheduler_address)
    assert c.returncode == 0, c.stderr
    pc = json.loads((tmp_path / "c" / "02_subspace_recovery.provenance.json").read_text())
    assert pc["executor"]["kind"] == "dask" and pc["executor"]["workers"] == 2 and pc["units_from_store"] == 0
    data = [d.read_bytes() for d in (lone_out / "02_subspace_recovery.json",
                                      tmp_path / "b" / "02_subspace_recovery.json",
                                      tmp_path / "c" / "02_subspace_recovery.json")]
    assert data[0] == data[1] == data[2]


@pytest.mark.parametrize("scheduler, when", [(None, "units"), ("local:2", "start-up"), ("local:2", "units")])
def test_ctrl_c_ends_run_in_one_line_with_130_and_leaves_nothing(tmp_path, scheduler, when, kernel):
    """Ctrl-C as a terminal sends it, to the whole foreground process group: while the cluster's workers are
    still importing (``start-up``: they used to print spawn_main tracebacks) or once units are stored."""
    import os

    import psutil

    extra = ["--scheduler", scheduler] if scheduler else []
    proc = subprocess.Popen([sys.executable, "-m", "mtrl_lib", "run", "02_subspace_recovery", "--out",
                             str(tmp_path), "--store", str(tmp_path / "store"), *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    staging = tmp_path / ".staging"
    deadline = time.time() + 120
    if when == "start-up":                 # the cluster's helper process is up, its workers are starting
        while time.time() < deadline and not [k for k in psutil.Process(proc.pid).children(recursive=True)
                                               if "local_cluster" in " ".join(k.cmdline())]:
            time.sleep(0.1)
        time.sleep(0.5)
    else:
        while time.time() < deadline and not list(staging.glob("*.ipynb")):  # papermill has started the kernel
            time.sleep(0.5)
        while scheduler and time.time() < deadline and not list((tmp_path / "store").rglob("*.json")):
            time.sleep(0.5)
        time.sleep(2)
    kids = psutil.Process(proc.pid).children(recursive=True)
    assert kids, "the command should have started its kernel or cluster"
    start = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)     # what Ctrl-C in a terminal does: the whole foreground group
    out, err = proc.communicate(timeout=30)
    assert time.perf_counter() - start < 5
    assert proc.returncode == 130
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "interrupted: chapter 02_subspace_recovery" in lines[0] and "resumes" in lines[0], err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert not staging.exists() or not any(staging.iterdir())
    assert not list((tmp_path / "store").rglob(".tmp-*"))
    time.sleep(0.5)
    assert not [k for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
