"""Shared fixtures, and the two tiers of the suite.

**Heavy fixtures.** Everything that starts a kernel (a papermill or ``python -m mtrl_lib run`` execution), a Dask
cluster, a JupyterLab server, a browser or a Jupyter Book build does so through one of the fixtures named in
:data:`HEAVY`. :func:`pytest_collection_modifyitems` marks every test that uses one ``slow`` (and ``browser`` when
it uses :func:`chromium`), so ``make test-fast`` (``-m "not slow"``) can never start one. Fixtures that start a
thing are session-scoped wherever tests can share it (the quick book, one lone chapter-2 run, one Dask cluster,
one Chromium), so the suite pays for each once.

**The guard.** A test that uses no heavy fixture runs under :func:`_no_heavy_without_a_fixture`: its kernels are
replaced by one that exits at once with a message (``JUPYTER_PATH`` names a kernelspec ``python3`` that refuses,
also in the subprocesses it starts), and starting a LocalCluster, ``jupyter-book``, JupyterLab, Chromium, a Dask
scheduler or worker, or ``--scheduler local:N`` raises. A test that needs one of them must ask for a fixture,
and is then slow: the tiers cannot drift.

**Slow fixtures.** A chapter's whole experiment at a small size, in-process, takes ten seconds to a minute: the
chapter tests that run one (their module fixtures ``small``, ``runs``, ..., and the negative controls) ask for
:func:`experiment`, which marks them slow too; the fast tier keeps each chapter's unit tests (constructed
results, verdict logic, parameter checks, the notebook's parameters).
"""
import os

# Idle OpenMP threads sleep instead of spinning (set before torch loads; inherited by the CLI and kernel
# subprocesses). On a shared 2-core machine, spinning threads steal the working threads' time slices and
# 2-thread ops run 10-100x slower: tests/test_train.py took 9 min instead of 12 s.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)

#: fixtures that start a kernel, a Dask cluster, a Lab server, a browser or a book build: a test using any is slow.
#: Defined here, but for ``lab`` (a JupyterLab server) and ``demo_executed`` (a papermill run), in tests/test_lab.py.
HEAVY = {"built_book", "rebuilt_book", "book_copy", "small_c2_lone", "kernel", "dask_cluster", "book_build", "chromium",
         "lab", "demo_executed"}


#: fixtures that make a test slow without starting anything heavy (the guard stays on for it)
SLOW = {"experiment"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        used = HEAVY & names
        if used or SLOW & names:
            item.add_marker(pytest.mark.slow)
        if "chromium" in used:
            item.add_marker(pytest.mark.browser)


# ------------------------------------------------------------------------------------------------ the guard

_REFUSE = ("this test starts {what} without asking for a heavy fixture (tests/conftest.py: HEAVY); use one, "
           "which also marks the test slow")
_HEAVY_COMMANDS = (("jupyter-book", "a Jupyter Book build"), ("jupyter-lab", "JupyterLab"),
                   ("mtrl_lib.book.lab", "JupyterLab"), ("chromium", "a browser"),
                   ("mtrl_lib.book.local_cluster", "a Dask cluster"), ("playwright", "a browser"))


def _heavy_command(args) -> str | None:
    """What ``args`` (a Popen argument list) would start that the fast tier must not, or None."""
    if isinstance(args, (str, bytes, os.PathLike)):
        args = [args]
    words = [os.fsdecode(a) for a in args]
    text = " ".join(words)
    for needle, what in _HEAVY_COMMANDS:
        if needle in text:
            return what
    if words and Path(words[0]).name in ("jb", "dask") and any(w in ("scheduler", "worker", "build") for w in words):
        return "a Dask process" if Path(words[0]).name == "dask" else "a Jupyter Book build"
    if re.search(r"--scheduler\s+local:[1-9]", text) or "--scheduler=local:" in text:
        return "a Dask cluster (--scheduler local:N)"
    return None


@pytest.fixture(scope="session")
def _refusing_kernel(tmp_path_factory) -> Path:
    """A Jupyter data folder whose kernelspec ``python3`` exits at once, saying why."""
    root = tmp_path_factory.mktemp("no-kernel")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    message = _REFUSE.format(what="a kernel")
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", f"import sys; sys.exit({message!r})"],
        "display_name": "no kernel in this test", "language": "python"}))
    return root


@pytest.fixture(autouse=True)
def _no_heavy_without_a_fixture(request, monkeypatch):
    if HEAVY & set(request.fixturenames):
        yield
        return
    monkeypatch.setenv("JUPYTER_PATH", str(request.getfixturevalue("_refusing_kernel")))

    def refuse(what):
        def fail(*args, **kwargs):
            raise RuntimeError(_REFUSE.format(what=what))
        return fail

    import distributed

    from mtrl_lib.book import local_cluster

    monkeypatch.setattr(distributed.LocalCluster, "__init__", refuse("a Dask cluster"))
    monkeypatch.setattr(local_cluster.LocalClusterProcess, "__init__", refuse("a Dask cluster"))
    popen_init = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):
        what = _heavy_command(args)
        if what:
            raise RuntimeError(_REFUSE.format(what=what))
        popen_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
    yield


# ------------------------------------------------------------------------------------------ heavy fixtures

@pytest.fixture(scope="session")
def experiment():
    """For a test, or a chapter test's module fixture, that runs a chapter's whole experiment in-process at a small
    size (ten seconds to a minute on 2 cores): the ``slow`` mark only. It starts nothing heavy, so the guard
    stays on."""
    yield


@pytest.fixture
def kernel():
    """For a test that starts a kernel itself (``python -m mtrl_lib run``, papermill, an executed check): the
    permission, and the ``slow`` mark."""
    yield


@pytest.fixture
def book_build():
    """For a test that runs a Jupyter Book build itself (a one-page book): the permission, and the ``slow`` mark."""
    yield


@pytest.fixture
def gen():
    from mtrl_lib.tasks import make_generator

    return make_generator(1234)


@pytest.fixture(scope="session")
def built_book():
    """The quick book, built once per test session with the real runner (python -m mtrl_lib book).
    ``MTRL_TEST_BUILT_BOOK=1`` uses the ``_build/html`` already there instead (to rerun the browser tests on a
    book just built; the book's own tests still need a real build)."""
    from mtrl_lib.book.chapters import ROOT

    if os.environ.get("MTRL_TEST_BUILT_BOOK") == "1" and (ROOT / "_build" / "html" / "intro.html").exists():
        return None

    # --jobs 2: the suite's machine has 2 cores, and the bench's jobs_ratio (about 0.55) is the time this saves;
    # the bench and test_rebuild_skips_unchanged_chapters check that a parallel build leaves a valid cache.
    # GITHUB_REPOSITORY unset (GitHub Actions sets it): this is the book without repository links
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_REPOSITORY"}
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "book", "--jobs", "2"], cwd=ROOT, capture_output=True,
                         text=True, timeout=1800, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(scope="session")
def rebuilt_book(built_book):
    """A second ``book`` right after :func:`built_book`: every chapter cached, the HTML built again."""
    from mtrl_lib.book.chapters import ROOT

    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "book"], cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(scope="session")
def book_copy(built_book, tmp_path_factory) -> Path:
    """A copy of the working tree with the quick book's executed chapters and their cache (never the published
    results), for tests that must change a notebook: ``python -m mtrl_lib`` with ``PYTHONPATH`` set to the copy
    runs the copy's library on the copy's notebooks (:func:`run_in_copy`). Tests restore what they change."""
    from mtrl_lib.book.bench import copy_tree
    from mtrl_lib.book.chapters import ROOT

    dest = tmp_path_factory.mktemp("book-copy") / "tree"
    copy_tree(dest, skip=("published/paper-results/",))
    for folder in ("book/chapters", "_build/html"):
        shutil.copytree(ROOT / folder, dest / folder, symlinks=True)
    return dest


def run_in_copy(tree: Path, *args, timeout=900) -> subprocess.CompletedProcess:
    """``python -m mtrl_lib ARGS`` in the copy ``tree`` (its own library, kernels included)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-m", "mtrl_lib", *args], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def dask_cluster():
    """One LocalCluster of two single-threaded worker processes for the session (``--scheduler local:2``'s
    cluster, in its own process session): ``scheduler_address``. Tests that kill or interrupt a cluster start
    their own."""
    from mtrl_lib.book import executors

    cluster = executors.start_local_cluster(2)
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def server(built_book):
    """The built book (``_build/html``) over http://127.0.0.1 on a free port, for the session (the browser and
    reader tests)."""
    import functools
    import http.server
    import threading

    from mtrl_lib.book.chapters import ROOT

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(ROOT / "_build" / "html"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser(chromium):
    """The session's Chromium, by the name the browser and reader tests use."""
    return chromium


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium (Debian's, driven by Playwright) for the session."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: make browser-deps (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# chapter 2 at a small size (a few seconds of units), shared by the command-line and fault tests
SMALL_C2 = ["-p", "d", "30", "-p", "m", "40", "-p", "rounds", "20", "-p", "rounds_quadratic", "20",
            "-p", "record_every", "5", "-p", "T_values", "[1, 5, 10]", "-p", "seeds", "[0, 1]"]


@pytest.fixture(scope="session")
def small_c2_lone(tmp_path_factory):
    """One lone in-process run of chapter 2 at SMALL_C2 with a fresh store, computed once per session:
    ``(out_dir, store_dir)``. Tests copy the store before changing it."""
    from mtrl_lib.book.chapters import ROOT

    root = tmp_path_factory.mktemp("small-c2-lone")
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "02_subspace_recovery", *SMALL_C2, "--out",
                          str(root / "out"), "--store", str(root / "store")], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return root / "out", root / "store"
