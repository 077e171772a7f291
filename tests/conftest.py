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
    """The quick book, built once per test session with the real runner (python -m mtrl_lib book)."""
    import subprocess
    import sys

    from mtrl_lib.book.chapters import ROOT

    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "book"], cwd=ROOT, capture_output=True, text=True,
                         timeout=1200)
    assert out.returncode == 0, out.stdout + out.stderr
    return out
