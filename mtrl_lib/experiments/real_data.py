"""Chapter 7 (beyond the paper): does multi-task representation learning carry over to real images?

The paper's algorithm on scikit-learn's digits (:mod:`mtrl_lib.real_data`): pretrain the two-layer ReLU network
with the library's alternating algorithm (:func:`mtrl_lib.train.train`, minibatches drawn from the finite
training split by :class:`mtrl_lib.real_data.FiniteSampler`) on ``T`` dichotomies of the ten classes, then fit
the library's linear probe on ``n3`` labelled images of *held-out* dichotomies and score it on the test split.

Per seed (one seed = one stratified train/test split, one random order of the 126 dichotomies, hence which are
held out and which pretrain, one initial W, one draw of every minibatch and of the labelled images), feature sets
of one width ``m``:

* ``multi``:   pretrained on ``T`` dichotomies, for every T in ``T_values`` (the first T of one pool, so the
  curve over T is nested and paired); the headline is the largest T;
* ``single``:  pretrained on one dichotomy with the same total number of draws (``n T_max`` per phase), at the
  multi-task arm's first-layer step: this arm is *not tuned* (the rule never scores it; see
  :data:`BORROWED_STEP`), so criterion 2 compares a tuned arm with one at a step chosen for another arm;
* ``random``:  the initial W of those runs (no pretraining);
* ``pca``:     rows uniform on the sphere of the top ``pca_k`` principal directions of the training images
  (an unsupervised first layer, same network and width);
* ``pixels``:  the standardised pixels themselves, same probe;
* ``end2end``: the same network trained from the same initial W by the same algorithm on the held-out
  dichotomy alone, using only its ``n3`` labelled images.

Every seed draws its own stratified train/test split (:mod:`.digit_splits`, the loader's proportions), so the
intervals over seeds include the variation between splits. Every feature set is probed on the same labelled
images (the first n3 of one random order of the seed's training split, nested over n3) and the same test images.
Metrics of what W learned: effective dimension (participation ratio of its spectrum) and alignment with the span
of the class means (energy, principal cosines; :mod:`mtrl_lib.metrics`).

Every comparison word the chapter glues comes from one family of two-sided paired t tests, Holm-corrected at 5%
(:func:`word_family`); "equal within a margin" comes from TOST (:func:`mtrl_lib.comparisons.equivalent`). The
verdict's criteria are outside the family: "carries over" needs every one of them (an intersection test).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from .. import real_data as rd
from .. import stats
from .._validate import check_float
from ..comparisons import ALPHA, Family, equivalent
from ..metrics import RECOVERED_COSINE, directions_recovered, energy, principal_cosines
from ..tasks import make_generator
from ..threads import one_thread
from ..train import CONTROLS, TrainConfig, resolve_device, stream_seed, train
from ..units import run_units, unit
from .common import ChapterParams, Choice, Int, IntList, _seeds
from .digit_splits import VALIDATION_SHARE, digits, validation_digits, validation_indices

FEATURE_SETS = ("multi", "single", "random", "pca", "pixels", "end2end")
FIRST_LAYERS = ("multi", "single", "random", "pca")     # the feature sets that are a first layer W
MIN_REMOVED = 1 / 3      # verdict: least share of random features' test errors that multi-task features remove
R = rd.N_CLASSES - 1     # dim of the class-mean span, the real-data analogue of r
#: The arms whose first-layer step the rule (:func:`tune`) chooses for them, and the arm that borrows another's
#: step: the single-task arm trains at the step chosen for the multi-task arm, which the rule never scores at one
#: task (tuning it on the held-out seeds is the fix the book has not made). Raw pixels, PCA and random features have
#: no step: nothing of theirs is chosen on data. Prose only (:func:`_tuning`); the units do not read these.
TUNED_ARMS = ("multi", "end2end")
BORROWED_STEP = {"single": "multi"}
UNTUNED_ARMS = ("pixels", "pca", "random")
ARM_WORDS = {"multi": "multi-task", "single": "single-task", "random": "random features", "pca": "PCA",
             "pixels": "raw pixels", "end2end": "end-to-end"}
EFFDIM_MARGIN = 1.0      # TOST margin on effective dimensions: one direction, the unit in which r counts them


def _steps(name, value):
    """A non-empty, strictly increasing tuple of positive step sizes."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a list of positive numbers, got {value!r}")
    out = tuple(check_float(f"{name}[{i}]", v, 0.0, 1e6, lo_open=True) for i, v in enumerate(value))
    if not out or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"{name} must be a non-empty, strictly increasing list of positive numbers, got {list(out)}")
    return out


@dataclass(frozen=True)
class Params(ChapterParams):
    m: int = 100                              # neurons: width of every ReLU feature set
    T_values: tuple[int, ...] = (1, 5, 20, 60)  # numbers of pretraining dichotomies (increasing; the last is the headline)
    n: int = 32                               # images per task and phase in a pretraining minibatch (with replacement)
    rounds: int = 30                          # rounds of alternating training (pretraining and end to end)
    eta_a: float = 10.0                       # head step size (times m): the synthetic step-size grid's, not retuned
    eta_W_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)  # first-layer steps (times m) the rule chooses from
    tune_seeds: tuple[int, ...] = (100, 101)  # held-out seeds of the step-size rule (never among seeds)
    down_tasks: int = 10                      # held-out dichotomies per seed (never used in pretraining)
    n3s: tuple[int, ...] = (10, 20, 50, 200)  # labelled images per held-out dichotomy (increasing)
    n3: int = 20                              # the headline number of labelled images (one of n3s)
    pca_k: int = 9                            # principal directions spanned by the PCA first layer
    control: str = "none"                     # pretraining negative control of mtrl_lib.train (tests use it)

    constraints = {
        "T_values": IntList(1, rd.N_DICHOTOMIES - 1, increasing=True),
        "down_tasks": Int(1, rd.N_DICHOTOMIES - 1),
        "n3s": IntList(2, rd.N_TRAIN, increasing=True),
        "n3": Int(2, rd.N_TRAIN),
        "pca_k": Int(1, rd.D),
        "control": Choice(CONTROLS), "eta_W_grid": _steps, "tune_seeds": _seeds,
    }

    def check(self) -> None:
        shared = sorted(set(self.tune_seeds) & set(self.seeds))
        if shared:
            raise ValueError(f"tune_seeds must be held out (none among seeds), got {shared} in both")
        if self.n3 not in self.n3s:
            raise ValueError(f"n3 must be one of n3s = {list(self.n3s)}, got {self.n3}")
        if self.T_max + self.down_tasks > rd.N_DICHOTOMIES:
            raise ValueError(f"the largest of T_values plus down_tasks must be at most {rd.N_DICHOTOMIES} (the "
                             f"dichotomies up to sign), got {self.T_max} + {self.down_tasks}")
        d_min = min(digits(s).d for s in self.seeds)        # each seed's split keeps its own pixels
        if self.pca_k > d_min:
            raise ValueError(f"pca_k must be at most {d_min} (the fewest pixels a seed's split keeps), "
                             f"got {self.pca_k}")

    @property
    def T_max(self) -> int:
        return self.T_values[-1]


def train_config(p: Params, d: int, T: int, n: int, seed: int, control: str, eta_W: float) -> TrainConfig:
    """One run of the alternating algorithm on the digits: ``d`` pixels (those the seed's split keeps), r = 9
    (the class-mean span, used only by the recorded metrics), zero biases, renormalised rows, first-layer step
    ``eta_W`` (chosen by the rule, :func:`select_step`), metrics recorded at the start and the end."""
    return TrainConfig(d=d, r=R, m=p.m, T=T, n1=n, n2=n, rounds=p.rounds, eta_a=p.eta_a,
                       eta_W=eta_W, seed=seed, device=p.device, record_every=p.rounds, control=control)


def dichotomies(p: Params, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``seed``'s pretraining pool ``(T_max, 10)`` and held-out dichotomies ``(down_tasks, 10)``: one random
    order of the 126 (:func:`mtrl_lib.real_data.split_dichotomies`); a larger T extends the same pool."""
    return rd.split_dichotomies(np.random.default_rng(stream_seed(seed, "rd-dichotomies")), p.T_max, p.down_tasks)


def _pretrain(p: Params, seed: int, data, M, pool, eta_W: float) -> dict:
    """First layers (on the CPU, float64): ``T<T>`` for each T in T_values, ``single``, ``random``, ``pca``.
    Every pretraining run, the single-task one included, uses ``eta_W``: the step the rule chose for the
    multi-task arm (the single-task arm is not tuned, see :data:`BORROWED_STEP`)."""
    dev = resolve_device(p.device)
    sampler = rd.FiniteSampler(data.X_train, data.y_train, device=dev)
    Ws = {}
    for T in p.T_values:
        res = train(train_config(p, data.d, T, p.n, seed, p.control, eta_W), M=M,
                    tasks=rd.as_tasks(pool[:T], device=dev), sampler=sampler)
        Ws[f"T{T}"] = res.W.cpu().double()
    single = train(train_config(p, data.d, 1, p.n * p.T_max, seed, p.control, eta_W), M=M,
                   tasks=rd.as_tasks(pool[:1], device=dev), sampler=sampler)
    Ws["single"], Ws["random"] = single.W.cpu().double(), res.W0.cpu().double()
    Ws["pca"] = rd.pca_weights(rd.principal_basis(data, p.pca_k), p.m, make_generator(stream_seed(seed, "rd-pca")))
    return Ws


def _end2end(p: Params, seed: int, data, M, down, idx, eta_W: float) -> np.ndarray:
    """Downstream accuracy of features trained on each held-out dichotomy alone, from its ``len(idx)``
    labelled images (same initial W, algorithm, head step and budget as pretraining, its own first-layer step
    ``eta_W`` chosen by the same rule; no control). ``(down_tasks,)``."""
    dev = resolve_device(p.device)
    sampler = rd.FiniteSampler(data.X_train[idx], data.y_train[idx], device=dev)
    accs = []
    for j in range(len(down)):
        W = train(train_config(p, data.d, 1, p.n, seed, "none", eta_W), M=M,
                  tasks=rd.as_tasks(down[j:j + 1], device=dev), sampler=sampler).W.cpu().double()
        accs.append(_probe_W(W, data, down[j:j + 1], idx)[0])
    return np.asarray(accs)


def _probe_W(W, data, down, idx) -> np.ndarray:
    """Probe accuracy per held-out dichotomy of the ReLU features of W, labelled images ``idx``."""
    return rd.probe(rd.relu_features(W, data.X_train[idx]), rd.labels(down, data.y_train[idx]),
                    rd.relu_features(W, data.X_test), rd.labels(down, data.y_test))


def _probe_pixels(data, down, idx) -> np.ndarray:
    """Probe accuracy per held-out dichotomy of the standardised pixels themselves."""
    return rd.probe(torch.as_tensor(data.X_train[idx]), rd.labels(down, data.y_train[idx]),
                    torch.as_tensor(data.X_test), rd.labels(down, data.y_test))


def _w_metrics(W: torch.Tensor, M: torch.Tensor) -> dict:
    """Effective dimension, normalised spectrum (padded with zeros to 64 values, so that seeds whose splits keep
    different numbers of pixels stack), energy in the class-mean span and principal cosines of W."""
    with one_thread():
        s2 = torch.linalg.svdvals(W).pow(2)
    spectrum = np.zeros(64)                  # at most 8 x 8 pixels, so at most 64 singular values
    spectrum[:len(s2)] = (s2 / s2.sum()).numpy()
    return {"effdim": rd.effective_dimension(W), "spectrum": spectrum, "energy": energy(W, M),
            "cosines": principal_cosines(W, M).numpy(), "dirs": directions_recovered(W, M)}


def seed_unit(seed: int, eta_W: float, eta_W_end2end: float, **config) -> dict:
    """Everything for one seed (one unit), with the first-layer steps the rule chose (``eta_W`` for every
    pretraining run, ``eta_W_end2end`` for the end-to-end runs). Accuracies are means over the held-out
    dichotomies: ``acc_T: (len(T_values), len(n3s))``, ``acc[k]: (len(n3s),)`` for k in FEATURE_SETS; metrics
    of each first layer ``w[name]`` (``T<T>``, single, random, pca); ``disjoint``: no held-out dichotomy was
    pretrained on; ``d``: pixels kept by the seed's split."""
    p = Params(seeds=(seed,), **config)
    with one_thread():                  # small runs: one thread is faster here and gives the same bits anywhere
        data = digits(seed)
        M = torch.as_tensor(rd.class_mean_basis(data))
        pool, down = dichotomies(p, seed)
        Ws = _pretrain(p, seed, data, M.float().to(resolve_device(p.device)), pool, eta_W)
        order = np.random.default_rng(stream_seed(seed, "rd-labelled")).permutation(len(data.y_train))
        acc = {k: [] for k in (*Ws, "pixels", "end2end")}
        for n3 in p.n3s:
            idx = order[:n3]
            for k, W in Ws.items():
                acc[k].append(_probe_W(W, data, down, idx).mean())
            acc["pixels"].append(_probe_pixels(data, down, idx).mean())
            acc["end2end"].append(_end2end(p, seed, data, M.float(), down, idx, eta_W_end2end).mean())
        out = {"acc_T": np.asarray([acc[f"T{T}"] for T in p.T_values]),
               "acc": {k: np.asarray(acc[k]) for k in ("single", "random", "pca", "pixels", "end2end")},
               "w": {k: _w_metrics(W, M) for k, W in Ws.items()},
               "disjoint": bool(not rd.shares_dichotomy(pool, down)), "d": data.d}
    out["acc"]["multi"] = out["acc_T"][-1]
    return out


def unit_config(p: Params) -> dict:
    """The JSON-able configuration of a seed unit or a tuning unit: every field but ``seeds`` and those of the
    rule (``tune_seeds``, ``eta_W_grid``), which a unit does not read (its step comes as an argument)."""
    return {f.name: getattr(p, f.name) for f in dataclasses.fields(p)
            if f.name not in ("seeds", "tune_seeds", "eta_W_grid")}


# ------------------------------------------------------------------------------------ the step-size rule

def tune_unit(seed: int, eta_W: float, **config) -> dict:
    """Unit: one grid point of the step-size rule on a held-out tuning seed, scored on a validation split
    (:func:`mtrl_lib.experiments.digit_splits.validation_digits`: a third of the seed's *training* split,
    never its own test split; the reported seeds' test splits do share images with it, see
    :func:`tuning_overlap`). With first-layer step ``eta_W``: pretrain on the seed's first T_max dichotomies on
    the fitting part, probe the held-out dichotomies from the first ``n3`` images of one random order of the
    fitting part (the headline n3), and score the probe on the validation part (``multi``); train end to end
    on each held-out dichotomy from those ``n3`` images and score the same way (``end2end``). Returns
    ``{"multi": float, "end2end": float}``: mean validation accuracies over the held-out dichotomies."""
    p = Params(**config)
    with one_thread():
        data = validation_digits(seed)
        M = torch.as_tensor(rd.class_mean_basis(data))
        pool, down = dichotomies(p, seed)
        dev = resolve_device(p.device)
        sampler = rd.FiniteSampler(data.X_train, data.y_train, device=dev)
        W = train(train_config(p, data.d, p.T_max, p.n, seed, "none", eta_W), M=M.float().to(dev),
                  tasks=rd.as_tasks(pool, device=dev), sampler=sampler).W.cpu().double()
        idx = np.random.default_rng(stream_seed(seed, "rd-labelled")).permutation(len(data.y_train))[:p.n3]
        return {"multi": float(_probe_W(W, data, down, idx).mean()),
                "end2end": float(_end2end(p, seed, data, M.float(), down, idx, eta_W).mean())}


def select_step(scores: np.ndarray, steps) -> tuple[float, np.ndarray]:
    """The rule on one arm: ``scores: (grid, tune_seeds)`` validation accuracies -> ``(step, means (grid,))``,
    the grid step of the largest mean over the tuning seeds (the smallest such step on a tie)."""
    means = np.asarray(scores, dtype=float).mean(axis=1)
    return float(steps[int(np.argmax(means))]), means


def tune(p: Params, executor=None) -> dict:
    """Stage 1 of :func:`run`: every tuning unit (grid x tune_seeds), and the rule's choice per arm:
    ``{"steps": (g,), "multi": (g, k), "end2end": (g, k), "eta_W": float, "eta_W_end2end": float,
    "means_multi": (g,), "means_end2end": (g,)}``."""
    config = unit_config(p)
    units = [unit(tune_unit, s, eta_W=g, **config) for g in p.eta_W_grid for s in p.tune_seeds]
    res = run_units(units, executor, desc="07_real_data: step-size rule (held-out seeds)")
    g, k = len(p.eta_W_grid), len(p.tune_seeds)
    out = {"steps": np.asarray(p.eta_W_grid)}
    for arm, name in (("multi", "eta_W"), ("end2end", "eta_W_end2end")):
        out[arm] = np.asarray([r[arm] for r in res]).reshape(g, k)
        out[name], out[f"means_{arm}"] = select_step(out[arm], p.eta_W_grid)
    return out


def run(p: Params, executor=None) -> dict:
    """All of the chapter's numbers, stacked over seeds: ``acc[k]: (seeds, len(n3s))``, ``acc_T: (seeds,
    len(T_values), len(n3s))``, ``w[name][metric]: (seeds, ...)``, ``disjoint, d: (seeds,)``, and ``tuning``
    (:func:`tune`). Two stages of units: the step-size rule on the held-out seeds, then one unit per seed at the
    chosen steps."""
    tuning = tune(p, executor)
    units = [unit(seed_unit, s, eta_W=tuning["eta_W"], eta_W_end2end=tuning["eta_W_end2end"], **unit_config(p))
             for s in p.seeds]
    res = run_units(units, executor, desc="07_real_data: seeds")
    stack = lambda get: np.stack([get(r) for r in res])
    return {"acc": {k: stack(lambda r: r["acc"][k]) for k in FEATURE_SETS},
            "acc_T": stack(lambda r: r["acc_T"]),
            "w": {name: {q: stack(lambda r: r["w"][name][q]) for q in res[0]["w"][name]} for name in res[0]["w"]},
            "disjoint": stack(lambda r: r["disjoint"]), "d": stack(lambda r: r["d"]), "tuning": tuning}


def error_removed(acc: np.ndarray, acc_random: np.ndarray) -> np.ndarray:
    """Per seed, the share of the test errors of random features that the other features remove:
    ``(acc - acc_random) / (1 - acc_random)`` (0: no better than random features, 1: no error left)."""
    return (acc - acc_random) / np.maximum(1.0 - acc_random, 1e-12)


def bounds(result: dict, p: Params) -> dict:
    """The 95% bounds the verdict compares with its levels, at the headline n3 and the largest T (glue names):
    ``rd_removed_lo`` (share of random features' errors removed), ``rd_gain_<k>_lo`` for k in single, pixels,
    pca, end2end (paired gain of multi-task features), ``rd_growth_lo`` (gain at the largest T minus gain at
    the smallest, paired), ``rd_energy_gain_lo`` (energy in the class-mean span, multi-task minus random W,
    paired) and ``rd_effdim_gap_hi`` (effective dimension, multi-task minus random W, paired; upper bound)."""
    j = p.n3s.index(p.n3)
    a = {k: v[:, j] for k, v in result["acc"].items()}
    w, wT = result["w"], result["w"][f"T{p.T_max}"]
    out = {"rd_removed_lo": float(stats.mean_ci(error_removed(a["multi"], a["random"])).lo)}
    for k in ("single", "pixels", "pca", "end2end"):       # rd_gain_<k>_lo
        out[f"rd_gain_{k}_lo"] = float(stats.paired_ci(a["multi"], a[k]).lo)
    out["rd_growth_lo"] = float(stats.paired_ci(result["acc_T"][:, -1, j], result["acc_T"][:, 0, j]).lo)
    out["rd_energy_gain_lo"] = float(stats.paired_ci(wT["energy"], w["random"]["energy"]).lo)
    out["rd_effdim_gap_hi"] = float(stats.paired_ci(wT["effdim"], w["random"]["effdim"]).hi)
    return out


def _criteria(result: dict, p: Params) -> list[tuple[str, bool, bool]]:
    """``(failure text, passed, required)`` for each verdict criterion (see :func:`verdict`)."""
    b = bounds(result, p)
    return [
        (f"multi-task features remove less than {MIN_REMOVED:.2f} of the test errors of random features (lower "
         f"bound {b['rd_removed_lo']:.2f})", b["rd_removed_lo"] >= MIN_REMOVED, True),
        ("not above single-task features", b["rd_gain_single_lo"] > 0, True),
        ("not above raw pixels", b["rd_gain_pixels_lo"] > 0, False),
        ("not above PCA features", b["rd_gain_pca_lo"] > 0, False),
        ("not above end-to-end features", b["rd_gain_end2end_lo"] > 0, False),
        (f"the gain at T = {p.T_max} is not above that at T = {p.T_values[0]}", b["rd_growth_lo"] > 0, False),
        ("W is not more aligned with the class means than random W", b["rd_energy_gain_lo"] > 0, False),
        ("W's effective dimension is not below random W's", b["rd_effdim_gap_hi"] < 0, False),
    ]


def verdict(result: dict, p: Params) -> str:
    """Does multi-task representation learning carry over to the digits? Decided on 95% bounds at the headline
    n3, with the largest T, over seeds (paired: all feature sets share each seed's split, tasks and images):

    * required, so that a run that learns nothing fails: (1) multi-task features remove at least
      ``MIN_REMOVED`` of the test errors that random features make: the lower bound of the mean over seeds of
      :func:`error_removed` is at least that. An untrained first layer *is* the random features (it removes
      none), and a layer trained on labels that carry no information only drifts from them. The level is our
      convention, fixed with the criteria, not derived; the chapter glues what it means in accuracy
      (:func:`_level`). (2) Multi-task features above single-task features (paired interval above 0): the
      many tasks, not training as such, must make the difference. The single-task arm is not tuned: it trains
      at the step the rule chose for the multi-task arm (:data:`BORROWED_STEP`), which may handicap it and so
      favours this criterion; tuning it on the held-out seeds is the fix not yet made;
    * transfer beyond the baselines: multi-task features above raw pixels, PCA features and end-to-end
      features (each paired interval above 0);
    * more tasks, more gain: the gain over random features at the largest T above the gain at the smallest T
      (paired interval of the difference above 0);
    * W moved from its random start toward the class means: W's energy in the span of the class means above
      random W's (paired); W's effective dimension below random W's (paired). These test that W moved, not the
      synthetic theory's finer prediction (about r directions, from the many tasks), which the chapter reports
      beside the verdict (:func:`_weights`) and does not decide.

    "carries over" when all hold; "partly carries over (...)" when the two required ones hold but others fail;
    "does not carry over (...)" when a required one fails. Fewer than 10 seeds: undecided. Each criterion is a
    95% bound of its own and none is in the Holm family of :func:`word_family`: "carries over" needs every
    one, and any verdict above "does not carry over" needs both required ones (intersection tests)."""
    n = len(result["acc"]["multi"])
    if not stats.enough_seeds(n):
        return stats.undecided(n)
    crit = _criteria(result, p)
    failed = [text for text, ok, _ in crit if not ok]
    if not all(ok for _, ok, required in crit if required):
        return "does not carry over (" + "; ".join(failed) + ")"
    return "carries over" if not failed else "partly carries over (" + "; ".join(failed) + ")"


# ------------------------------------------------------------------------------ comparison words (Holm)

_VS = ("above", "below", "not distinguishable from")
_WORDS = {"rd_growth_word": ("grows", "shrinks", "does not change significantly")}   # others: _VS


def comparisons(result: dict, p: Params) -> dict[str, tuple[np.ndarray, float]]:
    """Every comparison behind a glued comparison word, by the word's glue name: ``(per-seed values (seeds,),
    null)``; the word says whether their mean is above or below ``null``. At the headline n3 and largest T."""
    j = p.n3s.index(p.n3)
    a = {k: v[:, j] for k, v in result["acc"].items()}
    top = {k: v[:, -1] for k, v in result["acc"].items()}
    w, wT = result["w"], result["w"][f"T{p.T_max}"]
    acc_T = result["acc_T"][:, :, j]
    out = {f"rd_vs_{k}": (a["multi"] - a[k], 0.0) for k in FEATURE_SETS[1:]}   # rd_vs_single .. rd_vs_end2end
    out["rd_vs_pixels_nmax"] = (top["multi"] - top["pixels"], 0.0)
    out["rd_growth_word"] = (acc_T[:, -1] - acc_T[:, 0], 0.0)     # gain over random at T_max minus at T_min
    for q, k in (("effdim", "random"), ("effdim", "single"), ("energy", "random"), ("energy", "pca")):
        out[f"rd_{q}_vs_{k}"] = (wT[q] - w[k][q], 0.0)             # rd_effdim_vs_random, ..., rd_energy_vs_pca
    out["rd_effdim_vs_r"] = (wT["effdim"], float(R))
    return out


def word_family(result: dict, p: Params) -> tuple[Family, dict[str, str]]:
    """The chapter's one family of comparisons (:func:`comparisons`: two-sided one-sample t tests of the paired
    differences), decided by Holm at 5%, and the word of each: its "above" word when significant with the mean
    above the null, its "below" word when significant below, its "neither" word otherwise."""
    comps = comparisons(result, p)
    fam = Family()
    for name, (x, null) in comps.items():
        fam.test(name, x, null)
    fam.decide()
    words = {}
    for name, (x, null) in comps.items():
        above, below, neither = _WORDS.get(name, _VS)
        words[name] = (above if x.mean() > null else below) if fam[name] else neither
    return fam, words


def _ci(out: dict, name: str, per_seed) -> stats.Interval:
    """Write ``name`` (mean over seeds) and ``name_ci`` (95% half-width) into ``out``; return the interval."""
    iv = stats.mean_ci(per_seed)
    out[name], out[f"{name}_ci"] = float(iv.mean), float(iv.half)
    return iv


def binomial_se(acc: float, n_test: int) -> float:
    """sqrt(acc (1 - acc) / n_test): the standard error of one task's accuracy on one test split of n_test
    images, the part of the spread that the finite test split alone gives."""
    return float(np.sqrt(acc * (1 - acc) / n_test))


def _setting(result: dict, p: Params, fam: Family) -> dict:
    train, test = len(digits(p.seeds[0]).y_train), len(digits(p.seeds[0]).y_test)
    return {"rd_n_seeds": p.n_seeds, "rd_d_min": int(result["d"].min()), "rd_d_max": int(result["d"].max()),
            "rd_r": R, "rd_n_train": train, "rd_n_test": test, "rd_n_dichotomies": rd.N_DICHOTOMIES,
            "rd_down_tasks": p.down_tasks, "rd_T": p.T_max, "rd_T_min": p.T_values[0], "rd_m": p.m,
            "rd_n3": p.n3, "rd_n3_min": p.n3s[0], "rd_n3_max": p.n3s[-1], "rd_n": p.n, "rd_rounds": p.rounds,
            "rd_eta_a": p.eta_a, "rd_single_n": p.n * p.T_max, "rd_pca_k": p.pca_k,
            "rd_control": p.control, "rd_seeds_overlap": int((~result["disjoint"]).sum()),
            "rd_min_pixel_sd": rd.MIN_PIXEL_SD, "rd_family_size": len(fam), "rd_family_alpha": ALPHA,
            "rd_ci_level": stats.LEVEL, **_tuning(result["tuning"], p), **tuning_overlap(p)}


def _edge(step: float, steps) -> str:
    """Where the rule's choice sits on its grid, in words (an optimum on an edge may lie outside the grid)."""
    if len(steps) > 1 and step == min(steps):
        return "the grid's smallest step, so the best step may lie below the grid"
    if len(steps) > 1 and step == max(steps):
        return "the grid's largest step, so the best step may lie above the grid"
    return "inside the grid"


def _tuning(tuning: dict, p: Params) -> dict:
    """The step-size rule (:func:`tune`): the chosen steps rd_eta_W (pretraining) and rd_eta_W_end2end, the grid
    and the tuning seeds in words (rd_eta_W_grid, rd_tune_seeds), the validation share (rd_val_share) and size
    (rd_val_n), the mean validation accuracy at each chosen step (rd_val_multi, rd_val_end2end), and where each
    choice sits on the grid (rd_eta_W_edge, rd_eta_W_end2end_edge). Which arms the rule tunes, in words:
    rd_eta_W_single (the step the untuned single-task arm trains at: the multi-task arm's, :data:`BORROWED_STEP`),
    rd_tuned_arms (:data:`TUNED_ARMS`) and rd_untuned_arms (:data:`UNTUNED_ARMS`, no step chosen on data)."""
    fit, val = validation_indices(p.tune_seeds[0])
    steps = list(tuning["steps"])
    out = {"rd_eta_W": tuning["eta_W"], "rd_eta_W_end2end": tuning["eta_W_end2end"],
           "rd_eta_W_grid": _words(f"{g:g}" for g in steps), "rd_tune_seeds": _words(p.tune_seeds),
           "rd_val_share": VALIDATION_SHARE, "rd_val_n": len(val), "rd_fit_n": len(fit)}
    for arm, name in (("multi", "eta_W"), ("end2end", "eta_W_end2end")):   # rd_val_<arm>, rd_<name>_edge
        out[f"rd_val_{arm}"] = float(tuning[f"means_{arm}"][steps.index(tuning[name])])
        out[f"rd_{name}_edge"] = _edge(tuning[name], steps)
    arm_step = {"multi": tuning["eta_W"], "end2end": tuning["eta_W_end2end"]}
    out["rd_eta_W_single"] = arm_step[BORROWED_STEP["single"]]
    out["rd_tuned_arms"] = _words(f"the {ARM_WORDS[k]}" for k in TUNED_ARMS) + (" arms" if len(TUNED_ARMS) > 1 else " arm")
    out["rd_untuned_arms"] = _words(ARM_WORDS[k] for k in UNTUNED_ARMS)
    return out


def _accuracy(result: dict, p: Params, words: dict) -> dict:
    """Accuracies at the headline n3 (``rd_acc_<k>``), paired gains of multi-task features and their words
    (``rd_gain_<k>``, ``rd_vs_<k>``), the share of errors removed, the binomial standard error of one task's
    accuracy on the test split at the multi-task and random accuracies (``rd_acc_<k>_binom``), and the
    largest n3 of the sweep."""
    j = p.n3s.index(p.n3)
    a = {k: v[:, j] for k, v in result["acc"].items()}
    top = {k: v[:, -1] for k, v in result["acc"].items()}
    n_test = len(digits(p.seeds[0]).y_test)
    out = {}
    for k in FEATURE_SETS:                  # rd_acc_<k>, rd_acc_<k>_ci for every feature set
        _ci(out, f"rd_acc_{k}", a[k])
    for k in FEATURE_SETS[1:]:              # rd_gain_<k>(_ci): multi minus k, paired; rd_vs_<k>: its word
        _ci(out, f"rd_gain_{k}", a["multi"] - a[k])
        out[f"rd_vs_{k}"] = words[f"rd_vs_{k}"]
    for k in ("multi", "random"):           # rd_acc_multi_binom, rd_acc_random_binom
        out[f"rd_acc_{k}_binom"] = binomial_se(out[f"rd_acc_{k}"], n_test)
    _ci(out, "rd_removed", error_removed(a["multi"], a["random"]))
    _ci(out, "rd_acc_multi_nmax", top["multi"])
    _ci(out, "rd_acc_pixels_nmax", top["pixels"])
    out["rd_vs_pixels_nmax"] = words["rd_vs_pixels_nmax"]
    return out


def _tasks(result: dict, p: Params, words: dict) -> dict:
    """Gain over random features at the smallest and largest T (headline n3), and how it changes; the images
    per phase that pretraining draws at the smallest and largest T (rd_images_Tmin, rd_images_Tmax: n T, tasks
    and samples grow together along this sweep)."""
    j = p.n3s.index(p.n3)
    gains = result["acc_T"][:, :, j] - result["acc"]["random"][:, j][:, None]
    out = {"rd_images_Tmin": p.n * p.T_values[0], "rd_images_Tmax": p.n * p.T_max}
    _ci(out, "rd_gain_Tmin", gains[:, 0])
    _ci(out, "rd_gain_Tmax", gains[:, -1])
    _ci(out, "rd_growth", gains[:, -1] - gains[:, 0])
    out["rd_growth_word"] = words["rd_growth_word"]
    return out


def _within(x, target: float) -> str:
    """TOST at 5% with margin EFFDIM_MARGIN: "within" when the mean of ``x`` is shown within the margin of
    ``target``, "not shown to be within" otherwise."""
    return "within" if equivalent(x, target, EFFDIM_MARGIN) else "not shown to be within"


def effdim_reading(words: dict, equiv_single: bool) -> str:
    """What the effective dimensions say of the synthetic prediction that the *many tasks* give W its low
    effective dimension (``words``: the family's words; ``equiv_single``: TOST of multi- against single-task)."""
    if words["rd_effdim_vs_single"] == "below":
        return "the many tasks lower the effective dimension below what one task gives"
    if equiv_single:
        return ("one task already gives the same effective dimension within the margin, so the low effective "
                "dimension is not an effect of the many tasks")
    if words["rd_effdim_vs_single"] == "above":
        return "one task gives a lower effective dimension, so the low one is not an effect of the many tasks"
    return "the data cannot tell whether the many tasks lower the effective dimension below what one task gives"


def _weights(result: dict, p: Params, words: dict) -> dict:
    """Effective dimension and energy in the class-mean span of each first layer, their comparison words, and
    the reported (not decided) check of the synthetic prediction: TOST of the multi-task effective dimension
    against r and against single-task W's, margin EFFDIM_MARGIN."""
    w, wT = result["w"], result["w"][f"T{p.T_max}"]
    out = {"rd_energy_chance": float((R / result["d"]).mean()), "rd_effdim_margin": EFFDIM_MARGIN,
           "rd_recovered_cosine": RECOVERED_COSINE}
    for k in FIRST_LAYERS:                  # rd_effdim_<k>(_ci), rd_energy_<k>(_ci)
        wk = wT if k == "multi" else w[k]
        _ci(out, f"rd_effdim_{k}", wk["effdim"])
        _ci(out, f"rd_energy_{k}", wk["energy"])
    _ci(out, "rd_dirs_multi", wT["dirs"])
    _ci(out, "rd_effdim_gap_single", wT["effdim"] - w["single"]["effdim"])
    for name in ("rd_effdim_vs_random", "rd_effdim_vs_single", "rd_energy_vs_random", "rd_energy_vs_pca",
                 "rd_effdim_vs_r"):
        out[name] = words[name]
    out["rd_effdim_within_r"] = _within(wT["effdim"], R)
    out["rd_effdim_within_single"] = _within(wT["effdim"] - w["single"]["effdim"], 0.0)
    out["rd_effdim_reading"] = effdim_reading(words, out["rd_effdim_within_single"] == "within")
    return out


def _level(result: dict, p: Params) -> dict:
    """What the level MIN_REMOVED asks in accuracy at this run's random-feature accuracy (``rd_min_gain``,
    MIN_REMOVED (1 - acc_random)) and in binomial standard errors of one task's accuracy there
    (``rd_min_gain_binoms``)."""
    acc_random = float(result["acc"]["random"][:, p.n3s.index(p.n3)].mean())
    gain = MIN_REMOVED * (1 - acc_random)
    return {"rd_min_removed": MIN_REMOVED, "rd_min_gain": gain,
            "rd_min_gain_binoms": gain / binomial_se(acc_random, len(digits(p.seeds[0]).y_test))}


def tuning_overlap(p: Params) -> dict:
    """How many of the reported seeds' test images the step-size rule reads. The tuning seeds draw their own
    splits of the same file (:mod:`.digit_splits`), so their fitting and validation parts are not disjoint from a
    reported seed's test split. Per reported seed: its test images that lie in the union of the tuning seeds'
    validation parts (``rd_tune_val_overlap``: mean over the reported seeds, with ``_min`` and ``_max``) and in
    the union of their whole training splits, fitting or validation (``rd_tune_read_overlap``, the same);
    ``rd_n_grid``, the number of grid steps the rule chooses from."""
    from . import digit_splits as ds

    val = np.unique(np.concatenate([ds.validation_indices(t)[1] for t in p.tune_seeds]))
    read = np.unique(np.concatenate([ds.split_indices(t)[0] for t in p.tune_seeds]))
    tests = [ds.split_indices(s)[1] for s in p.seeds]
    out = {"rd_n_grid": len(p.eta_W_grid)}
    for name, pool in (("rd_tune_val_overlap", val), ("rd_tune_read_overlap", read)):
        counts = np.asarray([int(np.isin(te, pool).sum()) for te in tests])
        out[name], out[f"{name}_min"], out[f"{name}_max"] = float(counts.mean()), int(counts.min()), int(counts.max())
    return out


def positive_controls(result: dict, p: Params) -> dict:
    """The positive controls of criteria 2 and 3: each comparison arm that can be trained (single-task
    pretraining, end-to-end training) can succeed, i.e. beats random features, paired, at the headline n3.
    ``rd_pos_<k>`` (mean gain of arm k over random features) with ``_ci`` and ``_lo`` (lower 95% bound), and
    ``rd_pos_<k>_reading`` (whether that bound is above 0), for k in single, end2end."""
    j = p.n3s.index(p.n3)
    a = {k: v[:, j] for k, v in result["acc"].items()}
    out = {}
    for k in ("single", "end2end"):
        iv = _ci(out, f"rd_pos_{k}", a[k] - a["random"])
        out[f"rd_pos_{k}_lo"] = float(iv.lo)
        out[f"rd_pos_{k}_reading"] = ("its lower bound is above 0: the arm can succeed" if iv.lo > 0 else
                                   "its lower bound is not above 0: this run does not show that the arm can "
                                   "succeed")
    return out


def verdict_reason(result: dict, p: Params) -> str:
    """One clause that says why the verdict reads as it does, to follow "because": the failed criteria in words,
    or what held when all did."""
    n = len(result["acc"]["multi"])
    if not stats.enough_seeds(n):
        return f"only {n} seeds were run, and a decision needs {stats.MIN_SEEDS}"
    crit = _criteria(result, p)
    failed = [text for text, ok, _ in crit if not ok]
    if not all(ok for _, ok, required in crit if required):
        return "; ".join(failed)
    b = bounds(result, p)
    j = p.n3s.index(p.n3)
    removed = stats.mean_ci(error_removed(result["acc"]["multi"][:, j], result["acc"]["random"][:, j]))
    held = (f"multi-task features remove {float(removed.mean):.2f} of random features' test errors (lower bound "
            f"{b['rd_removed_lo']:.2f}; the verdict asks at least {MIN_REMOVED:.2f}) and lie above single-task "
            "features")
    if not failed:
        return held + ", and every other criterion holds too"
    return held + ", but " + "; ".join(failed)


def verdict_headline(result: dict, p: Params) -> str:
    """The one number the chapter's first screen quotes: the share of random features' test errors that
    multi-task features remove at the headline n3 and largest T, with its 95% half-width, and the level."""
    j = p.n3s.index(p.n3)
    iv = stats.mean_ci(error_removed(result["acc"]["multi"][:, j], result["acc"]["random"][:, j]))
    return (f"with n3 = {p.n3} labels per new dichotomy, features pretrained on T = {p.T_max} dichotomies remove "
            f"{stats.pm(iv.mean, iv.half, 2)} of the test errors that random features make (the verdict asks a "
            f"lower bound of at least {MIN_REMOVED:.2f})")


def summary_sections(result: dict, p: Params) -> dict[str, dict]:
    """Every number and phrase the chapter quotes, by the section that quotes it: ``setting``, ``accuracy``,
    ``tasks``, ``weights``, ``verdict``, ``explore``. Means come with ``_ci`` (95% t half-width over seeds);
    the comparison words ``rd_vs_*``, ``*_vs_*``, ``rd_growth_word`` come from one Holm family
    (:func:`word_family`, its size ``rd_family_size``). ``setting`` holds :func:`tuning_overlap`; ``verdict``
    holds ``rd_verdict``, ``rd_verdict_short`` (its first words), ``rd_verdict_reason`` (:func:`verdict_reason`),
    ``rd_verdict_headline`` (:func:`verdict_headline`) and :func:`positive_controls`."""
    fam, words = word_family(result, p)
    return {"setting": _setting(result, p, fam), "accuracy": _accuracy(result, p, words),
            "tasks": _tasks(result, p, words), "weights": _weights(result, p, words),
            "verdict": {"rd_verdict": (v := verdict(result, p)), "rd_verdict_short": v.split(" (")[0],
                        "rd_verdict_reason": verdict_reason(result, p),
                        "rd_verdict_headline": verdict_headline(result, p), **bounds(result, p),
                        **_level(result, p), **positive_controls(result, p), "rd_min_seeds": stats.MIN_SEEDS},
            "explore": explore_numbers(p, result["tuning"]["eta_W"])}


def summary(result: dict, p: Params) -> dict:
    """Every number and phrase the chapter quotes (glue names ``rd_...``), in one flat dict."""
    return {k: v for sec in summary_sections(result, p).values() for k, v in sec.items()}


# ---------------------------------------------------------------------------------------------- explorer

EXPLORE_START = {"T": 20, "n3": 20, "seed": 0}      # the explorer's initial values (the prose quotes them)
#: Every value each control offers in Jupyter, and the values the book precomputes (each holds the start).
EXPLORE_VALUES = {"T": (1, 2, 5, 10, 20, 40, 60, 100), "n3": (10, 20, 50, 100, 200, 400), "seed": tuple(range(10))}
EXPLORE_STATIC = {"T": (1, 20, 100), "n3": (10, 20, 200), "seed": (0,)}


def _words(values) -> str:
    """"a, b and c" (one value: "a")."""
    *head, last = (str(v) for v in values)
    return f"{', '.join(head)} and {last}" if head else last


def explore_numbers(p: Params, eta_W: float) -> dict:
    """What the prose says of the explorer: rd_explore_start_{T,n3,seed}, the training settings it uses (this
    run's: rd_explore_m, rd_explore_rounds, rd_explore_n, rd_explore_eta_W, the step the rule chose) and the
    values the book precomputes, in words (rd_explore_static_T, rd_explore_static_n3, rd_explore_static_seed)."""
    return {**{f"rd_explore_start_{k}": v for k, v in EXPLORE_START.items()},
            "rd_explore_m": p.m, "rd_explore_rounds": p.rounds, "rd_explore_n": p.n, "rd_explore_eta_W": eta_W,
            "rd_explore_static_T": _words(EXPLORE_STATIC["T"]), "rd_explore_static_n3": _words(EXPLORE_STATIC["n3"]),
            "rd_explore_static_seed": _words(EXPLORE_STATIC["seed"])}


def explore(T: int, n3: int, seed: int, p: Params, eta_W: float) -> dict:
    """One live run for the chapter's explorer, with the training settings of ``p`` and the first-layer step
    ``eta_W`` (the rule's choice for ``p``): pretrain on the first T dichotomies of ``seed``'s pool, then the
    probe's accuracy at n3 on ``seed``'s held-out dichotomies for multi-task, random and PCA features and raw
    pixels (means over the held-out ones)."""
    p = dataclasses.replace(p, T_values=(T,), n3s=(n3,), n3=n3, seeds=(seed,), control="none")
    data = digits(seed)
    with one_thread():
        M = torch.as_tensor(rd.class_mean_basis(data))
        pool, down = dichotomies(p, seed)
        Ws = _pretrain(p, seed, data, M.float(), pool, eta_W)
        idx = np.random.default_rng(stream_seed(seed, "rd-labelled")).permutation(len(data.y_train))[:n3]
        acc = {k: float(_probe_W(Ws[name], data, down, idx).mean())
               for k, name in (("multi", f"T{T}"), ("random", "random"), ("pca", "pca"))}
        acc["pixels"] = float(_probe_pixels(data, down, idx).mean())
    return acc
