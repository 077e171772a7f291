"""``make gpu-check`` (mtrl_lib.book.gpu_check): one line and exit 0 without a GPU; the comparison rule."""
import subprocess
import sys

import pytest
import torch

from mtrl_lib.book import gpu_check
from mtrl_lib.book.chapters import ROOT


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: make gpu-check runs for real")
def test_without_a_gpu_it_says_so_in_one_line_and_exits_0(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mtrl_lib.book.gpu_check", "--json", str(tmp_path / "g.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.strip().splitlines() == ["gpu-check: no CUDA device on this machine "
                                               "(torch.cuda.is_available() is False); nothing to check"]
    assert not (tmp_path / "g.json").exists()


def test_means_agree_within_the_interval_of_their_difference_and_words_must_match():
    cpu = {"a": 0.50, "a_ci": 0.03, "b": 0.90, "b_ci": 0.01, "verdict": "reproduced", "n": 20}
    close = {"a": 0.54, "a_ci": 0.03, "b": 0.905, "b_ci": 0.01, "verdict": "reproduced", "n": 20}
    out = gpu_check.compare(close, cpu)
    assert out["passed"] and out["agree_fraction"] == 1.0 and [r["name"] for r in out["means"]] == ["a", "b"]
    far = dict(close, a=0.60)                 # 0.10 apart, allowed hypot(0.03, 0.03) = 0.042
    assert not gpu_check.compare(far, cpu)["passed"]
    assert gpu_check.compare(dict(close, verdict="not reproduced"), cpu)["words"] == ["verdict"]
    assert not gpu_check.compare({}, cpu)["passed"]
