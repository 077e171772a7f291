import os

# Idle OpenMP threads sleep instead of spinning (set before torch loads; inherited by the CLI and kernel
# subprocesses). On a shared 2-core machine, spinning threads steal the working threads' time slices and
# 2-thread ops run 10-100x slower: tests/test_train.py took 9 min instead of 12 s.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture
def gen():
    from mtrl_lib.tasks import make_generator

    return make_generator(1234)


@pytest.fixture(scope="session")
def built_book():
    """The quick book, built once per test session with the real runner (python -m mtrl_lib book).
    ``MTRL_TEST_BUILT_BOOK=1`` uses the ``_build/html`` already there instead (to rerun the browser tests on a
    book just built; the book's own tests still need a real build)."""
    import subprocess
    import sys

    from mtrl_lib.book.chapters import ROOT

    if os.environ.get("MTRL_TEST_BUILT_BOOK") == "1" and (ROOT / "_build" / "html" / "intro.html").exists():
        return None

    # --jobs 2: the suite's machine has 2 cores, and the bench's jobs_ratio (about 0.55) is the time this saves;
    # the bench and test_rebuild_skips_unchanged_chapters check that a parallel build leaves a valid cache
    # GITHUB_REPOSITORY unset (GitHub Actions sets it): this is the book without repository links
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_REPOSITORY"}
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "book", "--jobs", "2"], cwd=ROOT, capture_output=True,
                         text=True, timeout=1200, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(scope="session")
def server(built_book):
    """The built book (``_build/html``) over http://127.0.0.1 on a free port, for the session."""
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
def browser():
    """One headless Chromium (Debian's, driven by Playwright) for every browser test of the session."""
    from pathlib import Path

    from test_browser import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: make browser-deps (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


# chapter 2 at a small size (a few seconds of units), shared by the command-line and fault tests
SMALL_C2 = ["-p", "d", "30", "-p", "m", "40", "-p", "rounds", "20", "-p", "rounds_quadratic", "20",
            "-p", "record_every", "5", "-p", "T_values", "[1, 10]", "-p", "seeds", "[0, 1]"]


@pytest.fixture(scope="session")
def small_c2_lone(tmp_path_factory):
    """One lone in-process run of chapter 2 at SMALL_C2 with a fresh store, computed once per session:
    ``(out_dir, store_dir)``. Tests copy the store before changing it."""
    import subprocess
    import sys

    from mtrl_lib.book.chapters import ROOT

    root = tmp_path_factory.mktemp("small-c2-lone")
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "02_subspace_recovery", *SMALL_C2, "--out",
                          str(root / "out"), "--store", str(root / "store")], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return root / "out", root / "store"
