"""Every unit function gives the same bytes at 1 and at 2 torch threads (``mtrl_lib.units.call`` runs each
unit on one thread). The shapes are the quick profile's, with fewer rounds (m d = 20,000 elements in the
training round, past torch's parallel grain in its elementwise work). On this project's 2-core AMD EPYC the
training round's products happen to give the same bits at both counts; a sum over 2^20 elements does not,
and the control below checks that ``call`` pins such a reduction too."""
import json
import subprocess
import sys

# One unit of every unit function: (function, seed, configuration). Keep in step with the chapters
# (test_every_unit_function_is_covered fails when a chapter declares a function missing here).
TRAIN = dict(bias_scale=0.0, control="none", d=100, device="cpu", eta_W=0.05, eta_a=10.0, family="linear",
             m=200, n1=50, n2=50, r=5)
UNITS = [
    ("mtrl_lib.train:trajectory_unit", 1, dict(TRAIN, T=20, rounds=20, record_every=5)),
    ("mtrl_lib.experiments.pseudo_contrastive:gradient_unit", 0,
     dict(T=50, bias_scale=0.1, control="none", d=100, device="cpu", eta_a=1.0, eta_a_values=[1.0, 10.0],
          m=200, n1=50, n2=50, r=5)),
    ("mtrl_lib.experiments.pseudo_contrastive:kernel_unit", 0,
     dict(control="none", device="cpu", kappa_pairs=200, kappa_tasks=1000, r=5)),
    ("mtrl_lib.experiments.pseudo_contrastive:pull_unit", 0,
     dict(bias_scale=0.1, control="none", d=100, device="cpu", eta_a=1.0, m=200, null_draw=0, pull_n=100,
          pull_points=30, pull_step=20.0, pull_tasks=100, r=5)),
    ("mtrl_lib.experiments.subspace_recovery:train_unit", 0, dict(TRAIN, T=20, rounds=20, record_every=5)),
    ("mtrl_lib.experiments.downstream:evaluate", 0,
     dict(T=20, control="none", d=20, device="cpu", down_family="linear", down_tasks=2, eta_W=0.05, eta_a=50.0,
          lam=1.0, m=100, ms=[10, 100], n3=100, n3s=[10, 100], n_min=50, n_per_d=0.5, n_test=500,
          probe="ridge_loo", r=5, rounds=20, sweep_m=True)),
    ("mtrl_lib.experiments.single_task:run_unit", 0,
     dict(kind="single", probing=dict(device="cpu", down_tasks=2, lam=1.0, n3s=[10, 100], n_test=500,
                                      probe="ridge_loo"),
          training=dict(T=20, control="none", d=100, device="cpu", eta_W=0.05, eta_a=10.0, m=200, n=50, r=5,
                        rounds=20))),
    ("mtrl_lib.experiments.head_adaptation:one_run", 0,
     dict(anatomy_draws=2, anatomy_n=200, config=dict(TRAIN, T=20, head_mode="adapted", rounds=20,
                                                      record_every=10))),
    ("mtrl_lib.experiments.baselines_and_rates:network_unit", 0,
     dict(TRAIN, T=20, rounds=20, record_every=2, baselines=dict(down_tasks=2, eta_W_linrep=0.1,
                                                                eta_a_linrep=50.0, n3=100, n_test=500))),
    ("mtrl_lib.experiments.real_data:seed_unit", 0,
     dict(T_values=[1, 20], control="none", device="cpu", down_tasks=2, eta_W=0.3, eta_W_end2end=0.03, eta_a=10.0,
          m=100, n=32, n3=20, n3s=[10, 20], pca_k=9, rounds=10)),
    ("mtrl_lib.experiments.real_data:tune_unit", 100,
     dict(T_values=[1, 20], control="none", device="cpu", down_tasks=2, eta_W=0.3, eta_a=10.0, m=100, n=32,
          n3=20, n3s=[10, 20], pca_k=9, rounds=10)),
    ("mtrl_lib.experiments.head_adaptation:positive_run", 0,
     dict(config=dict(TRAIN, T=20, head_mode="adapted", rounds=20, record_every=20), eta_W=0.05, scale=1.0)),
    ("mtrl_lib.experiments.head_tuning:tune_run", 0,
     dict(config=dict(TRAIN, T=20, head_mode="frozen", head_norm=0.5, rounds=20, record_every=20))),
    ("mtrl_lib.train:trajectory_unit", 2, dict(TRAIN, T=20, head_mode="frozen", loss="correlation", rounds=20,
                                                record_every=5)),
    ("mtrl_lib.population:paired_unit", 0,
     dict(TRAIN, T=20, rounds=20, record_every=5, loss="correlation", head_mode="adapted", head_stop=0.436)),
]

_SCRIPT = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from mtrl_lib import units
from mtrl_lib.book.store import encode
if "probe" in sys.argv[3:]:     # a unit function whose one reduction torch splits between threads
    def wide_sum(seed):
        x = torch.randn(2 ** 20, generator=torch.Generator().manual_seed(seed))
        return {"sum": x.sum().item(), "threads": torch.get_num_threads()}
    units.resolve = lambda name: wide_sum
out = {}
for fn, seed, cfg in json.loads(sys.stdin.read()):
    u = units.unit(fn, seed, **cfg)
    out[fn] = encode(units.resolve(fn)(seed=seed, **cfg) if sys.argv[2] == "direct" else units.call(u))
print(json.dumps(out))
"""


def _computed(threads: int, units, how: str = "call", *extra: str) -> dict:
    """``{function: stored text}`` of ``units`` computed in a fresh process with ``threads`` torch threads,
    through ``call`` or (``how="direct"``) by calling the function itself; ``"probe"`` swaps every function
    for a 2^20-element sum."""
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(threads), how, *extra], input=json.dumps(units),
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_every_unit_function_gives_the_same_bytes_at_1_and_2_threads():
    one, two = _computed(1, UNITS), _computed(2, UNITS)
    assert sorted(one) == sorted({fn for fn, _, _ in UNITS})
    differ = [fn for fn in one if one[fn] != two[fn]]
    assert not differ, f"these unit functions give other bytes at 2 threads: {differ}"


def test_call_pins_a_reduction_that_threads_would_change():
    """The control: a sum over 2^20 float32 values, called directly, gives other bits at 2 threads than at 1;
    through ``call`` it gives the same bits at both, on one thread (the test above fails without the pin on
    any machine where the training round's kernels split their sums)."""
    probe = [("probe:wide_sum", 3, {})]
    direct = [json.loads(_computed(t, probe, "direct", "probe")["probe:wide_sum"]) for t in (1, 2)]
    assert direct[0]["sum"] != direct[1]["sum"] and direct[1]["threads"] == 2
    called = [_computed(t, probe, "call", "probe")["probe:wide_sum"] for t in (1, 2)]
    assert called[0] == called[1] and json.loads(called[1]) == {"sum": direct[0]["sum"], "threads": 1}


# Each chapter at a tiny size (seconds in all): its run declares every unit function it uses.
TINY = {
    "01_pseudo_contrastive": dict(d=10, r=2, m=8, T=3, n1=5, n2=5, kappa_tasks=20, kappa_pairs=5, pull_tasks=5,
                                  pull_n=5, pull_points=5, null_draws=2),
    "02_subspace_recovery": dict(d=10, r=2, m=8, n1=5, n2=5, rounds=2, rounds_quadratic=2, T_values=(1, 2, 3),
                                 record_every=1),
    "03_downstream": dict(ds=(5, 10), r=2, m=8, T=3, rounds=2, n3=10, ms=(4, 8), n3s=(5, 10), down_tasks=2,
                          n_test=10, n_min=5),
    "04_single_task": dict(d=10, r=2, m=8, T=3, n=5, rounds=2, draws=2, n3=10, n3s=(5, 10), down_tasks=2, n_test=10),
    "05_head_adaptation": dict(d=10, r=2, m=8, T=3, n1=5, n2=5, rounds=2, rounds_quadratic=2, norm_scales=(1.0,),
                               eta_W_grid=(0.05,), anatomy_n=10, anatomy_draws=1, tune_seeds=(100,)),
    "06_baselines_and_rates": dict(d=10, r=3, m=8, T=6, n1=5, n2=5, rounds=2, rounds_quadratic=2, T_values=(6, 7),
                                   n_total=14, ds=(5, 10), n2s=(5, 10), rounds_parity_large=2, n_parity_large=5,
                                   n3=10, down_tasks=2, n_test=10, record_every=1),
    "07_real_data": dict(m=8, T_values=(1, 2), n=8, rounds=2, down_tasks=2, n3s=(10,), n3=10, pca_k=2),
    "08_population": dict(d=10, r=2, m=8, T=4, n2s=(5, 10, 15, 20), rounds=2, rounds_adapted=2,
                          T_values=(4, 5), n2_T=5, T_small=2, record_every=1),
}


class Recorder:
    """An executor that computes units in-process and records their functions; ``watch`` (optional) names
    functions that must not run inside a unit: calling one while a unit runs is recorded in ``inside``."""

    def __init__(self):
        self.fns, self.inside, self.in_unit = set(), [], False

    def map(self, units, desc=None):
        from mtrl_lib.units import call

        units = list(units)
        self.fns |= {u.fn for u in units}
        out = []
        for u in units:
            self.in_unit = True
            try:
                out.append(call(u))
            finally:
                self.in_unit = False
        return out


def _plans(monkeypatch=None, watch=()) -> Recorder:
    """Run every chapter's plan at its TINY size through one Recorder."""
    import importlib

    from mtrl_lib.book.chapters import CHAPTERS

    rec = Recorder()
    for module, name in watch:
        original = getattr(module, name)

        def spy(*a, _original=original, _name=name, **k):
            if rec.in_unit:
                rec.inside.append(_name)
            return _original(*a, **k)

        for m in [m for n, m in list(sys.modules.items()) if n.startswith("mtrl_lib") and m is not None]:
            if getattr(m, name, None) is original:            # every module that imported it by name
                monkeypatch.setattr(m, name, spy)
    assert set(TINY) == {c.name for c in CHAPTERS}, "give every chapter a TINY size"
    for c in CHAPTERS:
        p = c.params_class(**{**c.defaults(), **TINY[c.name], "seeds": (0, 1)})
        importlib.import_module(c.module).run(p, executor=rec)
    return rec


def test_every_unit_function_is_covered():
    """Every function a chapter's plan declares units of (read from the plans themselves, run at a tiny size
    through a recording executor: head_tuning.tune_run and population.population_unit included) is in UNITS."""
    declared = _plans().fns
    assert declared and declared <= {fn for fn, _, _ in UNITS}, declared - {fn for fn, _, _ in UNITS}
    assert {"mtrl_lib.experiments.head_tuning:tune_run", "mtrl_lib.population:paired_unit"} <= declared


def test_no_unit_runs_the_seed_check_or_the_memory_estimate(monkeypatch):
    """The seed check's one wording (experiments/common.py) and the memory estimators (experiments/memory.py)
    are parameter checks, never unit code: no unit of any chapter calls them (so editing them re-keys nothing)."""
    from mtrl_lib import train
    from mtrl_lib.experiments import common, memory

    watch = [(common, "check_seed_count"), (memory, "check_fits"), (memory, "peak_bytes"),
             (memory, "train_bytes"), (train, "train")]
    rec = _plans(monkeypatch, watch)
    assert "train" in rec.inside                                 # the spy sees what units do run
    assert set(rec.inside) == {"train"}, sorted(set(rec.inside))
