import pytest
import torch

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

    from mtrl_lib.chapters import ROOT

    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "book"], cwd=ROOT, capture_output=True, text=True,
                         timeout=1200)
    assert out.returncode == 0, out.stdout + out.stderr
    return out
