"""Chapter 4 (C5): a single task reveals one direction; multi-task training at the same budget reveals all."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from mtrl_lib.experiments import single_task as ch
from mtrl_lib.experiments import step_sizes
from mtrl_lib.tasks import make_generator
from mtrl_lib.train import setup, train

GLUED = ("c5_directions_single_max", "c5_directions_multi_mean", "c5_acc_orthogonal_single",
         "c5_acc_orthogonal_multi")


@pytest.fixture(scope="module")
def small():
    p = ch.Params(d=40, r=4, m=50, T=12, n=30, rounds=60, draws=8, n3=80, n3s=(20, 80), down_tasks=4,
                  n_test=400, seeds=(0, 1))
    return p, ch.run(p, progress=False)


def test_single_task_learns_one_direction_and_multi_task_all(small):
    p, res = small
    s, m = res["single"], res["multi"]
    assert s["dirs"].shape == (p.draws,) and s["cos"].shape == (p.draws, p.r)
    assert s["dirs"].max() <= 1, s["dirs"]
    assert s["cos"][:, 0].min() > 0.95                   # the task's own direction is learned
    assert m["dirs"].min() == p.r, m["dirs"]
    # the energy outside M v_1 drains below its random starting level; multi-task spreads it over span(M)
    assert s["e_rest"].mean() < s["e0_rest"].mean()
    assert s["e_along"].mean() > 0.3 and m["e_rest"].mean() > 0.3
    assert res["verdict"] == "reproduced"


def test_downstream_aligned_versus_orthogonal(small):
    p, res = small
    s, m, i = res["single"], res["multi"], res["i_n3"]
    assert p.sweep_n3[i] == p.n3
    assert s["acc_aligned"][:, i].mean() > 0.85
    assert s["acc_orthogonal"][:, i].mean() < m["acc_orthogonal"][:, i].mean() - 0.15
    assert s["acc_orthogonal"][:, i].mean() < 0.7
    assert m["acc_orthogonal"][:, i].mean() > 0.8
    # multi-task features treat every direction alike; random features are scored on the multi runs
    assert abs(m["acc_aligned"][:, i].mean() - m["acc_orthogonal"][:, i].mean()) < 0.08
    assert m["acc_random_orthogonal"].shape == (len(p.seeds), len(p.sweep_n3))


def test_pairing_single_draw_is_the_first_task_of_the_multi_run():
    p = ch.Params(d=30, r=3, m=20, T=6, n=10, rounds=3, draws=1, seeds=(0,))
    multi = setup(ch.config(p, 0, single=False))
    single_cfg = ch.config(p, 0, single=True)
    assert (single_cfg.T, single_cfg.n1, single_cfg.n2) == (1, p.T * p.n, p.T * p.n)
    res = train(single_cfg, tasks=multi[1][0:1])
    assert torch.equal(res.M, multi[0]) and torch.equal(res.W0, multi[2])
    assert torch.equal(res.tasks.params[0], multi[1].params[0])


def test_downstream_task_sets():
    g = make_generator(5)
    v1 = torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64)
    sets = ch.downstream_tasks(v1, 7, g)
    assert torch.allclose(sets["aligned"].params, v1.expand(7, 3))
    for k in ("orthogonal", "new"):
        assert torch.allclose(sets[k].params.norm(dim=1), torch.ones(7, dtype=torch.float64))
    assert sets["orthogonal"].params.double().matmul(v1).abs().max() < 1e-12


def test_energy_split_adds_up():
    from mtrl_lib.metrics import energy
    from mtrl_lib.model import init_weights
    from mtrl_lib.tasks import random_subspace

    g = make_generator(1)
    M = random_subspace(20, 3, g)
    W, _ = init_weights(15, 20, g)
    v1 = torch.tensor([0.0, 1.0, 0.0])
    along, rest = ch.energy_split(W, M, v1)
    assert along + rest == pytest.approx(energy(W, M))
    W_on = M[:, 1].expand(15, 20).clone()        # every row along M v_1
    assert ch.energy_split(W_on, M, v1) == pytest.approx((1.0, 0.0), abs=1e-6)


def test_default_step_sizes_are_the_grid_choice_at_the_round_budget():
    p = ch.Params()
    eta_a, eta_W, _ = step_sizes.select(step_sizes.load_grid(), "linear", p.rounds)
    assert (p.eta_a, p.eta_W) == (eta_a, eta_W)


@pytest.mark.parametrize("kw, match", [
    ({"r": 1}, r"r must be an integer in \[2, 100\]"),
    ({"T": 1}, "T must be an integer in"),
    ({"draws": 0}, "draws must be an integer in"),
    ({"n3s": []}, "n3s must be a non-empty list"),
    ({"n3s": (1, 10)}, r"n3s\[0\] must be an integer in"),
    ({"seeds": (1, 1)}, "seeds must be distinct"),
    ({"device": "tpu"}, "device must be one of"),
])
def test_params_validation_names_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        ch.Params(**kw)


def test_sweep_includes_the_headline_n3():
    p = ch.Params(n3=70, n3s=(200, 10))
    assert p.n3s == (10, 200) and p.sweep_n3 == (10, 70, 200)


@pytest.mark.slow
def test_cli_run_writes_the_glued_numbers(tmp_path):
    args = ["-p", "d", "30", "-p", "r", "3", "-p", "m", "30", "-p", "T", "8", "-p", "n", "20", "-p", "rounds", "40",
            "-p", "draws", "4", "-p", "n3s", "20,60", "-p", "n3", "60", "-p", "down_tasks", "3", "-p", "n_test", "300",
            "-p", "seeds", "0,1,2"]
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "04_single_task", *args, "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "04_single_task.json").read_text())
    for name in GLUED:
        assert name in data and math.isfinite(data[name]), name
    assert data["c5_directions_single_max"] <= 1 and data["c5_draws"] == 4
    assert isinstance(data["c5_verdict"], str)
