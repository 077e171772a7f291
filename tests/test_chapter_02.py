"""Chapter 2 (C2): subspace recovery improves with the number of tasks; step sizes come from the grid."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from mtrl_lib.experiments import step_sizes, subspace_recovery as ch

GLUED = ("c2_err_T1", "c2_err_Tmax", "c2_energy_Tmax")


@pytest.fixture(scope="module")
def small():
    p = ch.Params(d=40, r=3, m=60, n1=40, n2=40, rounds=60, rounds_quadratic=60, T_values=(1, 30),
                  families=("linear", "quadratic"), seeds=(0, 1), record_every=10)
    return p, ch.run(p, progress=False)


def test_more_tasks_recover_the_subspace(small):
    p, res = small
    lin = res["linear"]
    err1, errT = lin["final_error"].mean(1)
    assert err1 > 0.9, "one linear task should leave a latent direction missing"
    assert errT < err1 - 0.6, (err1, errT)
    # energy in span(M) rises far above its random level r/d
    assert lin["energy_init"] < 2 * p.r / p.d
    assert lin["final_energy"][1].mean() > 0.4
    # one task recovers at most one direction; many tasks recover all r
    assert lin["recovered"][0].max() <= 1 and lin["recovered"][1].min() == p.r
    # curves start at the random-init error (paired over T: same M and W0 for every T of a seed)
    assert np.allclose(lin["error"][0, :, 0], lin["error"][1, :, 0])


def test_quadratic_family_also_learns_with_many_tasks(small):
    _, res = small
    q = res["quadratic"]["final_error"].mean(1)
    assert q[1] < 0.75, q          # escaped the plateau within 60 rounds at d = 40


def test_collapse_diagnostics_are_spectra(small):
    p, res = small
    lin = res["linear"]
    assert np.allclose(lin["task_spectrum"].sum(-1), 1) and np.allclose(lin["w_spectrum"].sum(-1), 1)
    # a single linear task has a rank-one task matrix
    assert np.allclose(lin["task_spectrum"][0][:, 1:], 0, atol=1e-9)
    assert np.all(np.isnan(res["quadratic"]["task_spectrum"]))


def test_step_sizes_are_the_grids_argmin():
    grid = step_sizes.load_grid()
    assert grid["settings"]["eta_a"] == list(step_sizes.GRID_ETA_A)
    assert grid["settings"]["eta_W"] == list(step_sizes.GRID_ETA_W)
    for f in ("linear", "quadratic"):
        ea, ew, err = step_sizes.select(grid, f)
        assert (ea, ew) == step_sizes.STEP_SIZES[f], f
        assert 0 <= err < 0.3
    p = ch.Params()
    assert (p.eta_a_linear, p.eta_W_linear) == step_sizes.STEP_SIZES["linear"]
    assert (p.eta_a_quadratic, p.eta_W_quadratic) == step_sizes.STEP_SIZES["quadratic"]
    assert (p.rounds, p.rounds_quadratic) == (step_sizes.GRID_ROUNDS["linear"], step_sizes.GRID_ROUNDS["quadratic"])


@pytest.mark.parametrize("kw, match", [
    ({"T_values": []}, "T_values must be a non-empty list"),
    ({"T_values": [1, 0]}, r"T_values\[1\] must be an integer in \[1, 100000\]"),
    ({"T_values": [5, 20]}, "T_values must include 1"),
    ({"family": "cubic"}, "family must be one of"),
    ({"families": ["linear", "x"]}, r"families\[1\] must be one of"),
    ({"seeds": [0, 0]}, "seeds must be distinct"),
    ({"eta_W_linear": 0.0}, r"eta_W_linear must be a number in \(0.0"),
    ({"r": 1}, "r must be >= 2 when the quadratic family is used"),
])
def test_bad_parameters_name_themselves(kw, match):
    with pytest.raises(ValueError, match=match):
        ch.Params(**kw)


def test_lists_are_normalised():
    p = ch.Params(T_values=[20, 1, 5, 5], seeds=[3, 1, 2], families="quadratic")
    assert p.T_values == (1, 5, 20) and p.seeds == (3, 1, 2) and p.families == ("quadratic",)
    assert p.all_families == ("linear", "quadratic")


@pytest.mark.slow
def test_cli_run_writes_the_glued_numbers(tmp_path):
    args = ["-p", "d", "30", "-p", "r", "3", "-p", "m", "40", "-p", "rounds", "30", "-p", "rounds_quadratic", "30",
            "-p", "T_values", "1,4,12", "-p", "seeds", "0,1,2", "-p", "record_every", "10"]
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "02_subspace_recovery", *args,
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "02_subspace_recovery.json").read_text())
    for name in GLUED + ("c2_quadratic_err_Tmax", "c2_grid_linear_eta_W"):
        assert name in data and math.isfinite(data[name]), name
    assert data["c2_Tmax"] == 12
