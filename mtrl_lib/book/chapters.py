"""The book's chapters: which notebook reproduces which claim, with which parameters.

Each chapter's parameters are the fields of its experiment module's ``Params`` dataclass; their defaults
are the ``quick`` profile (the whole book in minutes on 2 CPU cores). ``paper`` overrides some of them for
the full-scale run. The notebook's ``parameters`` cell repeats the defaults so the notebook opens and runs
on its own in Jupyter; ``tests/test_runner.py`` checks that the two agree.
"""
from __future__ import annotations

import dataclasses
import importlib
import typing
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = ROOT / "notebooks"
PROFILES = ("quick", "paper")


@dataclass(frozen=True)
class Chapter:
    name: str
    claim: str
    title: str
    module: str
    paper: dict = field(default_factory=dict)

    @property
    def notebook(self) -> Path:
        return NOTEBOOKS / f"{self.name}.ipynb"

    @property
    def params_class(self):
        return importlib.import_module(self.module).Params

    def defaults(self) -> dict:
        return {f.name: f.default for f in dataclasses.fields(self.params_class)}

    def profile(self, profile: str) -> dict:
        """The full parameter set of ``profile`` (defaults with the profile's overrides)."""
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        values = self.defaults()
        if profile == "paper":
            values.update(self.paper)
        return values

    def field_types(self) -> dict:
        """``{parameter: type}`` of the chapter's ``Params`` fields (not its class attributes such as
        ``constraints``, which are annotated too but are no parameter)."""
        fields = {f.name for f in dataclasses.fields(self.params_class)}
        return {k: v for k, v in typing.get_type_hints(self.params_class).items() if k in fields}

    def meanings(self) -> dict[str, str]:
        """Each parameter's one-line meaning: :func:`param_meanings` of its ``Params``."""
        return param_meanings(self.params_class)


def param_meanings(params_class) -> dict[str, str]:
    """``{field: meaning}`` read from the comment on each field's line where its dataclass declares it (the
    chapter's ``Params``, or :class:`mtrl_lib.experiments.common.ChapterParams` for ``seeds`` and ``device``).
    That comment is the one place a parameter is explained: ``python -m mtrl_lib list`` prints it, and the
    notebook's parameters cell repeats it. A field declared without a comment maps to ``""``."""
    import inspect
    import io
    import tokenize

    names = [f.name for f in dataclasses.fields(params_class)]
    out = dict.fromkeys(names, "")
    for klass in reversed(params_class.__mro__):        # a subclass's comment wins over its base's
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            src = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        current, depth = None, None
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.INDENT and depth is None:
                depth = tok.end[1]                       # the class body's indentation
            elif (tok.type == tokenize.NAME and tok.string in out and tok.start[1] == depth
                  and tok.line[tok.end[1]:].lstrip().startswith(":")):
                current = tok.string
            elif tok.type == tokenize.COMMENT and current:
                out[current] = tok.string.lstrip("#").strip()
                current = None
            elif tok.type == tokenize.NEWLINE:
                current = None
    return out


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("01_pseudo_contrastive", "C1", "Multi-task training is a pseudo-contrastive loss",
            "mtrl_lib.experiments.pseudo_contrastive",
            paper={"d": 200, "m": 400, "T": 200, "kappa_tasks": 20000, "kappa_pairs": 2000,
                   "pull_tasks": 2000, "pull_n": 200, "pull_points": 120, "seeds": tuple(range(20))}),
    Chapter("02_subspace_recovery", "C2", "Multi-task training recovers the subspace",
            "mtrl_lib.experiments.subspace_recovery",
            paper={"d": 200, "m": 400, "rounds": 200, "rounds_quadratic": 300, "T_values": (1, 5, 20, 100, 500),
                   "seeds": tuple(range(20))}),
    Chapter("03_downstream", "C3, C4", "Learned features make new tasks independent of d",
            "mtrl_lib.experiments.downstream",
            paper={"ds": (25, 50, 100, 200, 400, 800), "m": 200, "rounds": 100, "eta_a": 10.0, "eta_W": 0.05,
                   "ms": (5, 10, 25, 50, 100, 200), "n3s": (10, 25, 50, 100, 200, 400, 800),
                   "down_tasks": 20, "n_test": 2000, "seeds": tuple(range(20))}),
    Chapter("04_single_task", "C5", "One task is not enough", "mtrl_lib.experiments.single_task",
            paper={"d": 200, "m": 200, "n": 100, "draws": 100, "n3s": (10, 25, 50, 100, 200, 400),
                   "down_tasks": 10, "n_test": 2000, "seeds": tuple(range(20))}),
    Chapter("05_head_adaptation", "C6", "Head adaptation: what the W-gradient is made of",
            "mtrl_lib.experiments.head_adaptation",
            paper={"d": 200, "m": 400, "T": 100, "rounds": 200, "rounds_quadratic": 300,
                   "anatomy_n": 4000, "seeds": tuple(range(20))}),
    Chapter("06_baselines_and_rates", "beyond the paper", "Baselines, controls and rates",
            "mtrl_lib.experiments.baselines_and_rates",
            paper={"d": 100, "m": 200, "rounds": 150, "rounds_quadratic": 200, "T_values": (5, 10, 20, 50, 100),
                   "n_total": 1000, "ds": (50, 100, 200, 400), "n2s": (25, 50, 100, 200),
                   "rounds_parity_large": 2000, "n_parity_large": 200, "down_tasks": 20, "n_test": 2000,
                   "seeds": tuple(range(20))}),
    Chapter("07_real_data", "beyond the paper", "Multi-task features on real digit images",
            "mtrl_lib.experiments.real_data",
            paper={"m": 200, "T_values": (1, 5, 20, 50, 100), "n": 64, "rounds": 100,
                   "down_tasks": 20, "n3s": (10, 20, 50, 100, 200, 500), "seeds": tuple(range(20))}),
    Chapter("08_population", "beyond the paper", "The population limit against the runs",
            "mtrl_lib.experiments.population_gap",
            paper={"d": 100, "m": 200, "n2s": (50, 200, 800, 3200), "n2_T": 200, "rounds_adapted": 60,
                   "seeds": tuple(range(16))}),
)


def get_chapter(name: str) -> Chapter:
    for c in CHAPTERS:
        if c.name == name:
            return c
    raise ValueError(f"chapter must be one of {', '.join(c.name for c in CHAPTERS)}, got {name!r}")
