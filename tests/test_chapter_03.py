"""Chapter 3 (C3, C4): pretrained features make downstream accuracy independent of d; random features do not."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from mtrl_lib.experiments import downstream as ch
from mtrl_lib.experiments import step_sizes

GLUED = ("c3_acc_pretrained_dmin", "c3_acc_pretrained_dmax", "c4_acc_random_dmin", "c4_acc_random_dmax",
         "c3_acc_oracle_dmax")


@pytest.fixture(scope="module")
def small():
    p = ch.Params(ds=(20, 160), r=3, m=50, T=20, rounds=50, n3=60, ms=(5, 50), n3s=(20, 60, 240),
                  down_tasks=4, n_test=400, seeds=(0, 1, 2))
    return p, ch.run(p, progress=False)


def test_pretrained_features_are_d_independent_and_random_ones_are_not(small):
    p, res = small
    acc = {k: v.mean(0) for k, v in res["acc_d"].items()}
    # C3: pretrained accuracy holds up at the largest d and stays close to the oracle
    assert acc["multi"][-1] >= acc["multi"][0] - 0.06, acc["multi"]
    assert acc["multi"][-1] >= 0.8, acc["multi"]
    assert acc["oracle"][-1] >= acc["multi"][-1] - 0.03, (acc["oracle"], acc["multi"])
    # C4: random features fall with d and end far below pretrained ones
    assert acc["random"][-1] <= acc["random"][0] - 0.1, acc["random"]
    assert acc["multi"][-1] >= acc["random"][-1] + 0.15, (acc["multi"], acc["random"])
    # one task learns one direction: new tasks see little benefit at large d
    assert acc["single"][-1] <= acc["multi"][-1] - 0.1
    q = {k: v.mean(0) for k, v in res["quality"].items()}
    assert q["multi_dirs"].min() == p.r and q["single_dirs"].max() <= 1
    assert q["oracle_err"].max() < 1e-3 and q["random_err"].min() > 0.9
    assert res["verdict"] == {"C3": "reproduced", "C4": "reproduced"}


def test_sweeps_over_m_and_n3(small):
    p, res = small
    for which in ("small", "large"):
        for k in ch.FEATURE_SETS:
            assert res["acc_m"][which][k].shape == (len(p.seeds), len(p.ms))
            assert res["acc_n3"][which][k].shape == (len(p.seeds), len(p.n3s))
    # the full width at the headline n3 is the accuracy-vs-d number (same samples, reused)
    assert np.allclose(res["acc_m"]["large"]["multi"][:, -1], res["acc_d"]["multi"][:, -1])
    assert np.allclose(res["acc_n3"]["small"]["random"][:, 1], res["acc_d"]["random"][:, 0])
    # more samples help the oracle; at the largest d random features with 4x the samples stay below pretrained
    o = res["acc_n3"]["large"]["oracle"].mean(0)
    assert o[-1] > o[0] + 0.05
    assert res["acc_n3"]["large"]["random"].mean(0)[-1] < res["acc_d"]["multi"].mean(0)[-1]
    assert ch.n3_to_reach(res, "large", "random", 0.99) is None
    assert ch.n3_to_reach(res, "small", "oracle", 0.0) == p.n3s[0]


def test_budget_rule_and_pretraining_configs():
    p = ch.Params()
    assert ch.samples_per_task(p, 25) == 50 and ch.samples_per_task(p, 400) == 200
    assert ch.samples_per_task(p, 101) == 51
    multi, single = ch.pretrain_config(p, 400, 0), ch.pretrain_config(p, 400, 0, single=True)
    assert (multi.T, multi.n1, multi.n2) == (20, 200, 200)
    assert (single.T, single.n1) == (1, 20 * 200)        # same total sample budget
    assert (multi.eta_a, multi.eta_W, multi.rounds, multi.m) == (p.eta_a, p.eta_W, p.rounds, p.m)


def test_default_step_sizes_are_the_grid_choice_at_the_round_budget():
    p = ch.Params()
    eta_a, eta_W, _ = step_sizes.select(step_sizes.load_grid(), "linear", p.rounds)
    assert (p.eta_a, p.eta_W) == (eta_a, eta_W)


def test_probe_pairs_feature_sets_on_the_same_samples():
    from mtrl_lib.model import init_weights
    from mtrl_lib.tasks import draw_tasks, make_generator, random_subspace

    p = ch.Params()
    g = make_generator(3)
    M = random_subspace(30, 3, g)
    W, b = init_weights(20, 30, g)
    tasks = draw_tasks("linear", 3, 3, g)
    a1 = ch._probe(p, W, b, M, tasks, 40, seed=0, d=30)
    a2 = ch._probe(p, W[torch.randperm(20, generator=g)], b, M, tasks, 40, seed=0, d=30)
    assert a1 == pytest.approx(a2, abs=1e-12)        # same samples; a linear head ignores feature order


@pytest.mark.parametrize("kw, match", [
    ({"ds": []}, "ds must be a non-empty list"),
    ({"ds": (1, 10)}, r"ds\[0\] must be an integer in \[2, 20000\]"),
    ({"r": 30}, r"r must be an integer in \[1, 25\]"),
    ({"ms": (5, 500)}, r"ms\[1\] must be an integer in \[1, 100\]"),
    ({"n3": 1}, "n3 must be an integer in"),
    ({"probe": "svm"}, "probe must be one of"),
    ({"seeds": (0, 0)}, "seeds must be distinct"),
    ({"n_per_d": -1.0}, "n_per_d must be a number"),
])
def test_params_validation_names_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        ch.Params(**kw)


def test_params_normalise_lists():
    p = ch.Params(ds=[400, 25, 25], ms=[100, 5], n3s=(400, 10))
    assert p.ds == (25, 400) and p.ms == (5, 100) and p.n3s == (10, 400)
    assert (p.d_small, p.d_large) == (25, 400)


@pytest.mark.slow
def test_cli_run_writes_the_glued_numbers(tmp_path):
    args = ["-p", "ds", "20,80", "-p", "r", "3", "-p", "m", "30", "-p", "T", "10", "-p", "rounds", "30",
            "-p", "ms", "5,30", "-p", "n3s", "20,60", "-p", "n3", "60", "-p", "down_tasks", "3", "-p", "n_test", "300",
            "-p", "seeds", "0,1,2"]
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "03_downstream", *args, "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "03_downstream.json").read_text())
    for name in GLUED:
        assert name in data and math.isfinite(data[name]) and 0 <= data[name] <= 1, name
    assert data["c3_d_min"] == 20 and data["c3_d_max"] == 80
    assert isinstance(data["c3_verdict"], str) and isinstance(data["c4_verdict"], str)
