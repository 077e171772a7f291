"""Chapter 5 (C6): adapted vs frozen vs zero heads."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from mtrl_lib.experiments import head_adaptation as ch
from mtrl_lib.train import TrainConfig, init_heads

GLUED = ("c6_err_adapted_linear", "c6_err_frozen_linear", "c6_err_zero_linear", "c6_err_adapted_quadratic",
         "c6_err_frozen_quadratic")


@pytest.fixture(scope="module")
def small():
    p = ch.Params(d=40, r=3, m=60, T=20, rounds=60, rounds_quadratic=60, families=("linear", "quadratic"),
                  seeds=(0, 1, 2), anatomy_n=200, record_every=10)
    return p, ch.run(p, progress=False)


def test_zero_heads_never_move_W(small):
    p, res = small
    for f in p.families:
        z = res[f]["zero"]
        assert z["W_change"].max() < 1e-5          # float32 round-off of the renormalisation only
        assert np.all(z["start"]["signal"] == 0) and np.all(z["end"]["signal"] == 0)
        assert z["final_error"].min() > 0.95


def test_adapted_heads_learn_and_beat_frozen_on_linear(small):
    _, res = small
    lin = res["linear"]
    ad, fr, zero = (lin[m]["final_error"].mean() for m in ("adapted", "frozen", "zero"))
    assert ad < zero - 0.7, (ad, zero)
    assert ad < fr - 0.02, (ad, fr)


def test_frozen_heads_are_norm_matched_and_fixed(small):
    p, res = small
    for f in p.families:
        ad, fr = res[f]["adapted"], res[f]["frozen"]
        assert np.allclose(fr["end"]["head_rms"], p.head_norm_scale * ad["head_rms"], rtol=1e-4)
        assert np.allclose(fr["start"]["head_rms"], fr["end"]["head_rms"])       # never updated
        assert np.all(ad["start"]["head_rms"] < 0.3 * ad["head_rms"])            # adapted heads grow from zero


def test_frozen_random_heads_add_up_incoherently(small):
    _, res = small
    coh = res["linear"]["frozen"]["start"]["coherence"]
    assert np.all((coh > 0.5) & (coh < 1.6)), coh


def test_frozen_head_norm_of_init_heads():
    cfg = TrainConfig(d=10, r=2, m=50, T=4, head_mode="frozen", head_norm=3.0)
    A = init_heads(cfg, cfg.T, "cpu", cfg.torch_dtype)
    assert math.isclose(ch.rms(A), 3.0, rel_tol=1e-5)


def test_task_grads_sum_to_the_training_gradient():
    import torch

    from mtrl_lib.tasks import draw_tasks, make_generator, random_subspace, sample
    from mtrl_lib.train import feature_grad

    g = make_generator(0)
    M = random_subspace(12, 3, g, torch.float64)
    tasks = draw_tasks("linear", 5, 3, g, dtype=torch.float64)
    W = torch.randn(8, 12, generator=g, dtype=torch.float64)
    b = 0.1 * torch.randn(8, generator=g, dtype=torch.float64)
    A = torch.randn(5, 8, generator=g, dtype=torch.float64)
    X, Y = sample(M, tasks, 30, g)
    ref, _ = feature_grad(W, b, A, X, Y, "logistic", 5)
    assert torch.allclose(ch.task_grads(W, b, A, X, Y, "logistic").sum(0), ref, atol=1e-12)


@pytest.mark.parametrize("kw, match", [
    ({"T": 0}, r"T must be an integer in \[1, 100000\]"),
    ({"families": []}, "families must be a non-empty list"),
    ({"head_norm_scale": 0}, r"head_norm_scale must be a number in \(0.0, 1000.0\]"),
    ({"seeds": [1, 1]}, "seeds must be distinct"),
    ({"anatomy_n": 0}, "anatomy_n must be an integer"),
])
def test_bad_parameters_name_themselves(kw, match):
    with pytest.raises(ValueError, match=match):
        ch.Params(**kw)


@pytest.mark.slow
def test_cli_run_writes_the_glued_numbers(tmp_path):
    args = ["-p", "d", "30", "-p", "r", "3", "-p", "m", "40", "-p", "T", "10", "-p", "rounds", "30",
            "-p", "rounds_quadratic", "30", "-p", "anatomy_n", "100", "-p", "record_every", "10"]
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "05_head_adaptation", *args,
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "05_head_adaptation.json").read_text())
    for name in GLUED + ("c6_err_zero_quadratic", "c6_zero_W_change"):
        assert name in data and math.isfinite(data[name]), name
    assert data["c6_zero_W_change"] < 1e-5
