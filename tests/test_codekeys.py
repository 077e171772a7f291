"""Store keys from the code a unit can run (mtrl_lib/book/codekeys.py, canonical_ast.py, rekey.py).

What is tested: the canonical form ignores docstrings, comments and layout and is the same on every
interpreter found (3.11, 3.12, 3.13), pinned on a fixture; every docstring, comment and layout edit in the
science package keeps every unit function's digest; a one-token change in a definition re-keys exactly the
unit functions whose closure holds it; a traced run of one unit of every unit function executes nothing
outside its closure; the harness and data files count; the published store is current; migrate and rekey
move entries only when it is safe."""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtrl_lib.book import canonical_ast, codekeys, rekey, store
from mtrl_lib.book.chapters import ROOT

FIXTURE = Path(__file__).parent / "fixtures" / "canonical_fixture.py"
#: the canonical digest of the fixture (change only with a reason: it re-keys every published entry)
FIXTURE_DIGEST = "b9bfb7d80068f02aeabd85c1cc5292556b579be726785feddb96ee45c4c6f2d1"

# One tiny unit of every unit function (shapes far below the profiles'; the closure does not depend on them).
TRAIN = dict(bias_scale=0.0, control="none", d=20, device="cpu", eta_W=0.05, eta_a=10.0, family="linear",
             m=30, n1=20, n2=20, r=3)
TINY = {
    "mtrl_lib.train:trajectory_unit": dict(TRAIN, T=4, rounds=3, record_every=1),
    "mtrl_lib.population:population_unit": dict(T=4, control="none", d=20, device="cpu", eta_W=0.05,
                                                eta_a=10.0, family="linear", head_mode="frozen", head_norm=17.0,
                                                loss="correlation", m=30, r=3, record_every=1, rounds=3),
    "mtrl_lib.experiments.head_tuning:tune_run": dict(config=dict(TRAIN, T=4, rounds=3, record_every=3,
                                                                  head_mode="frozen", head_norm=5.0)),
    "mtrl_lib.experiments.pseudo_contrastive:gradient_unit": dict(
        T=4, bias_scale=0.1, control="none", d=20, device="cpu", eta_a=1.0, eta_a_values=[1.0], m=30, n1=20,
        n2=20, r=3),
    "mtrl_lib.experiments.pseudo_contrastive:kernel_unit": dict(control="none", device="cpu", kappa_pairs=20,
                                                                kappa_tasks=20, r=3),
    "mtrl_lib.experiments.pseudo_contrastive:pull_unit": dict(
        bias_scale=0.1, control="none", d=20, device="cpu", eta_a=1.0, m=30, null_draw=0, pull_n=20,
        pull_points=6, pull_step=20.0, pull_tasks=10, r=3),
    "mtrl_lib.experiments.subspace_recovery:train_unit": dict(TRAIN, T=4, rounds=3, record_every=1),
    "mtrl_lib.experiments.downstream:evaluate": dict(
        T=4, control="none", d=20, device="cpu", down_family="linear", down_tasks=1, eta_W=0.05, eta_a=50.0,
        lam=1.0, m=30, ms=[10, 30], n3=20, n3s=[10, 20], n_min=20, n_per_d=0.5, n_test=50, probe="ridge_loo",
        r=3, rounds=3, sweep_m=True),
    "mtrl_lib.experiments.single_task:run_unit": dict(
        kind="single", probing=dict(device="cpu", down_tasks=1, lam=1.0, n3s=[10, 20], n_test=50,
                                    probe="ridge_loo"),
        training=dict(T=4, control="none", d=20, device="cpu", eta_W=0.05, eta_a=10.0, m=30, n=20, r=3,
                      rounds=3)),
    "mtrl_lib.experiments.head_adaptation:one_run": dict(
        anatomy_draws=1, anatomy_n=20, config=dict(TRAIN, T=4, head_mode="adapted", rounds=3, record_every=1)),
    "mtrl_lib.experiments.baselines_and_rates:network_unit": dict(
        TRAIN, T=4, rounds=3, record_every=1, baselines=dict(down_tasks=1, eta_W_linrep=0.1, eta_a_linrep=50.0,
                                                            n3=20, n_test=50)),
    "mtrl_lib.experiments.real_data:seed_unit": dict(
        T_values=[1, 4], control="none", device="cpu", down_tasks=1, eta_W=0.3, eta_W_end2end=0.03, eta_a=10.0,
        m=20, n=16, n3=10, n3s=[10], pca_k=9, rounds=2),
    "mtrl_lib.experiments.real_data:tune_unit": dict(
        T_values=[1, 4], control="none", device="cpu", down_tasks=1, eta_W=0.3, eta_a=10.0, m=20, n=16, n3=10,
        n3s=[10], pca_k=9, rounds=2),
    "mtrl_lib.population:paired_unit": dict(TRAIN, T=4, rounds=3, record_every=1, loss="correlation",
                                            head_mode="adapted", head_stop=0.436),
    "mtrl_lib.experiments.head_adaptation:positive_run": dict(
        config=dict(TRAIN, T=4, head_mode="adapted", rounds=3, record_every=1), eta_W=0.05, scale=1.0),
}


def published_functions() -> set[str]:
    return {json.loads(p.read_text())["fn"] for p in (ROOT / "published" / "paper-results").glob("??/*.json")}


def unit_functions() -> list[str]:
    return sorted(set(TINY) | published_functions())


def copy_tree(dest: Path) -> Path:
    """A copy of this checkout's mtrl_lib (sources and data only) under ``dest``."""
    shutil.copytree(ROOT / "mtrl_lib", dest / "mtrl_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"))
    return dest


def digests(root: Path, fns) -> dict[str, str]:
    tree = codekeys.SourceTree(root)
    return {fn: codekeys.closure(fn, root, tree).digest() for fn in fns}


# ----------------------------------------------------------------------------------------- canonical form
def test_canonical_form_ignores_docstrings_comments_and_layout():
    a = 'def f(x, y=1):\n    """Doc."""\n    # note\n    return (x +\n            y) * 2.5\n'
    b = "def f(x,y=1):\n  'Other doc, other quotes.'\n  return (x+y)*2.5   # trailing\n"
    assert canonical_ast.source_digest(a) == canonical_ast.source_digest(b)
    for changed in ("def f(x, y=1):\n    return (x - y) * 2.5\n", "def f(x, y=2):\n    return (x + y) * 2.5\n",
                    "def f(x, y=1):\n    return (x + y) * 2.6\n", "def g(x, y=1):\n    return (x + y) * 2.5\n"):
        assert canonical_ast.source_digest(changed) != canonical_ast.source_digest(a), changed


def test_canonical_form_of_fstrings_merges_constant_parts():
    assert canonical_ast.source_digest('x = f"a" f"b{c}"\n') == canonical_ast.source_digest("x = f'ab{c}'\n")
    assert canonical_ast.source_digest('x = f"a{c:.3f}"\n') != canonical_ast.source_digest('x = f"a{c:.4f}"\n')


def _interpreters() -> list[str]:
    """This interpreter and one of each of 3.11, 3.12 and 3.13 found on PATH or under pyenv."""
    found = [sys.executable]
    pyenv = Path.home() / ".pyenv" / "versions"
    for v in ("3.11", "3.12", "3.13"):
        candidates = [shutil.which(f"python{v}")] + sorted(str(p) for p in pyenv.glob(f"{v}.*/bin/python"))
        for cand in filter(None, candidates):
            if subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
                found.append(cand)
                break
    return found


def test_canonical_digest_is_pinned_and_the_same_on_every_interpreter():
    here = canonical_ast.source_digest(FIXTURE.read_text())
    assert here == FIXTURE_DIGEST, f"the canonical form changed: {here} (this re-keys every store entry)"
    script = Path(canonical_ast.__file__)
    for py in _interpreters():
        out = subprocess.run([py, str(script), str(FIXTURE)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == FIXTURE_DIGEST, f"{py}: {out.stdout.strip()}"
        version = subprocess.run([py, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                                 text=True).stdout
        print(py, version.strip(), "same digest")


# ----------------------------------------------------------------------------------------- closures
def test_every_unit_function_has_a_tiny_unit_here():
    assert published_functions() <= set(TINY)


def test_closures_hold_the_harness_and_reach_no_publishing_code():
    for fn in unit_functions():
        c = codekeys.closure(fn, ROOT)
        assert {"mtrl_lib.units:call", "mtrl_lib.units:Unit", "mtrl_lib.units:resolve",
                "mtrl_lib.threads:one_thread"} <= set(c.items)
        assert fn in c.items, fn
        assert not any(k.startswith("mtrl_lib.book") for k in c.items), fn
        assert not c.fallbacks, (fn, c.fallbacks)
    train = codekeys.closure("mtrl_lib.train:trajectory_unit", ROOT)
    assert "c:mtrl_lib/_normal.c" in train.items                        # the compiled draw's C source
    assert not any(k.startswith("mtrl_lib.experiments") for k in train.items)
    assert not any(k.startswith("data:") for k in train.items)           # no data file unless named


def test_analysis_code_is_in_no_closure():
    # what the book's done-when names: stats.mean_ci, the chapters' verdicts and prose numbers
    for fn in unit_functions():
        items = codekeys.closure(fn, ROOT).items
        assert "mtrl_lib.stats:mean_ci" not in items
        assert not any(k.endswith((":verdict", ":summary", ":explore")) for k in items), fn


def _mutate(root: Path, module: str, name: str) -> None:
    """Change one token of the definition ``module:name`` under ``root``: its first numeric constant + 1, or
    else its first binary operator, or else its first string constant."""
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    if not path.exists():
        path = root.joinpath(*module.split(".")) / "__init__.py"
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if name in codekeys._bound_names(n))
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Constant) and isinstance(sub.value, (int, float))
                and not isinstance(sub.value, bool)):
            sub.value = sub.value + 1
            break
    else:
        for sub in ast.walk(node):
            if isinstance(sub, ast.BinOp):
                sub.op = ast.Sub() if not isinstance(sub.op, ast.Sub) else ast.Add()
                break
        else:
            docs = {id(s.value) for s in ast.walk(node) if canonical_ast.is_string_statement(s)}
            sub = next(s for s in ast.walk(node) if isinstance(s, ast.Constant) and isinstance(s.value, str)
                       and id(s) not in docs)
            sub.value += "!"
    path.write_text(ast.unparse(tree))


# definitions reached by one chapter's units only, by all, by some, and by none
MUTATED = [("mtrl_lib.stats", "mean_ci"), ("mtrl_lib.train", "stream_seed"), ("mtrl_lib.probe", "fit_ridge_loo"),
           ("mtrl_lib.real_data", "principal_basis"), ("mtrl_lib.population", "population"),
           ("mtrl_lib.experiments.baselines_and_rates", "final_error"), ("mtrl_lib.units", "call"),
           ("mtrl_lib.experiments.pseudo_contrastive", "pull_unit"), ("mtrl_lib.contrastive", "kappa_linear"),
           ("mtrl_lib.experiments.subspace_recovery", "verdict"), ("mtrl_lib.tasks", "sample")]


@pytest.fixture(scope="module")
def here():
    """``(digests, closures)`` of every unit function in this checkout."""
    tree = codekeys.SourceTree(ROOT)
    closures = {fn: codekeys.closure(fn, ROOT, tree) for fn in unit_functions()}
    return {fn: c.digest() for fn, c in closures.items()}, closures


@pytest.mark.parametrize("module,name", MUTATED)
def test_one_token_changes_exactly_the_functions_that_reach_it(tmp_path, here, module, name):
    fns = unit_functions()
    m = codekeys.SourceTree(ROOT).module(module)
    assert m is not None and name in m.bindings, f"{module}:{name} is not a definition any more: update MUTATED"
    before, closures = here
    reach = {fn for fn in fns if f"{module}:{name}" in closures[fn].items}
    _mutate(copy_tree(tmp_path), module, name)
    after = digests(tmp_path, fns)
    assert {fn for fn in fns if after[fn] != before[fn]} == reach


def test_no_docstring_comment_or_layout_edit_changes_a_key(tmp_path, here):
    """Every module rewritten: docstrings edited, comments dropped, layout changed (ast.unparse). No unit's key
    changes, nor the science digest, nor the chapter cache's library digest (which covers mtrl_lib/book too)."""
    root = copy_tree(tmp_path)
    for p in (root / "mtrl_lib").rglob("*.py"):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if canonical_ast.is_string_statement(node):
                node.value.value += "\n    Edited: a docstring that says more."
        p.write_text("# a new comment\n\n" + ast.unparse(tree).replace("\n", "\n\n") + "\n")
    assert digests(root, unit_functions()) == here[0]
    assert codekeys.package_digest(root, include_publishing=False) == store.science_digest()
    assert codekeys.package_digest(root) == codekeys.package_digest(ROOT)


def test_a_code_edit_changes_the_chapter_cache_digest(tmp_path):
    root = copy_tree(tmp_path)
    p = root / "mtrl_lib" / "book" / "plotting.py"
    p.write_text(p.read_text() + "\n_ONE_MORE_DEFINITION = 1\n")
    assert codekeys.package_digest(root) != codekeys.package_digest(ROOT)


def tree_of(tmp_path: Path, files: dict[str, str]) -> Path:
    """A small source tree ``tmp_path/mtrl_lib`` with the harness and ``files`` (path -> source)."""
    lib = tmp_path / "mtrl_lib"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("")
    (lib / "units.py").write_text("def call(u):\n    return resolve(u)\n\ndef resolve(n):\n    return n\n\n"
                                  "class Unit:\n    pass\n")
    for rel, text in files.items():
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_text(text)
    return tmp_path


def rekeys(root: Path, fn: str, rel: str, old: str, new: str) -> bool:
    """Whether replacing ``old`` by ``new`` in ``root/mtrl_lib/rel`` changes the digest of ``fn``."""
    before = codekeys.closure(fn, root).digest()
    p = root / "mtrl_lib" / rel
    text = p.read_text()
    assert old in text, (rel, old)
    p.write_text(text.replace(old, new))
    return codekeys.closure(fn, root).digest() != before


# (files, the file edited, old text, new text, does the unit's key change?) for each way code is reached
RULES = {
    "default argument": ({"a.py": "from .b import K\n\ndef unit(seed, k=K):\n    return seed * k\n",
                          "b.py": "K = 2\nJ = 3\n"}, "b.py", "K = 2", "K = 5", True),
    "unreached constant": ({"a.py": "from .b import K\n\ndef unit(seed, k=K):\n    return seed * k\n",
                            "b.py": "K = 2\nJ = 3\n"}, "b.py", "J = 3", "J = 4", False),
    "decorator": ({"a.py": "from .b import deco\n\n@deco\ndef unit(seed):\n    return seed\n",
                   "b.py": "def deco(f):\n    return lambda seed: f(seed) + 1\n"}, "b.py", "+ 1", "+ 2", True),
    "lambda body": ({"a.py": "from .b import g\n\nF = lambda s: g(s)\n\ndef unit(seed):\n    return F(seed)\n",
                     "b.py": "def g(s):\n    return s + 1\n"}, "b.py", "s + 1", "s + 2", True),
    "function-level import": ({"a.py": "def unit(seed):\n    from .b import g\n    return g(seed)\n",
                               "b.py": "def g(s):\n    return s + 1\n"}, "b.py", "s + 1", "s + 2", True),
    "re-export": ({"a.py": "from . import pkg\n\ndef unit(seed):\n    return pkg.g(seed)\n",
                   "pkg/__init__.py": "from .impl import g\n", "pkg/impl.py": "def g(s):\n    return s + 1\n"},
                  "pkg/impl.py", "s + 1", "s + 2", True),
    "import-time code": ({"a.py": "from .b import table\n\ndef unit(seed):\n    return table[0] + seed\n",
                          "b.py": "table = []\ntable.append(1)\n"}, "b.py", "append(1)", "append(2)", True),
    "registering decorator": ({"a.py": "from .reg import REG\nfrom . import losses\n\ndef unit(seed):\n"
                                       "    return REG['sq'](seed)\n",
                               "reg.py": "REG = {}\n\ndef register(name):\n    def put(f):\n"
                                         "        REG[name] = f\n        return f\n    return put\n",
                               "losses.py": "from .reg import register\n\n@register('sq')\ndef square(x):\n"
                                            "    return x * x\n"}, "losses.py", "x * x", "x * x * x", True),
    "augmented assignment at import": ({"a.py": "from .b import LAMS\nfrom . import c\n\ndef unit(seed):\n"
                                                "    return sum(LAMS)\n",
                                        "b.py": "LAMS = [1.0]\n", "c.py": "from .b import LAMS\nLAMS += [2.0]\n"},
                                       "c.py", "[2.0]", "[3.0]", True),
    "conditional import": ({"a.py": "try:\n    from .fast import f\nexcept ImportError:\n    from .slow import f\n\n"
                                    "def unit(seed):\n    return f(seed)\n",
                            "fast.py": "def f(s):\n    return s + 1\n", "slow.py": "def f(s):\n    return s + 1\n"},
                           "fast.py", "s + 1", "s + 2", True),
    "main guard's else": ({"a.py": "SCALE = 1\nif __name__ == '__main__':\n    pass\nelse:\n    SCALE = 2\n\n"
                                   "def unit(seed):\n    return SCALE * seed\n"}, "a.py", "SCALE = 2", "SCALE = 3", True),
    "relative import_module": ({"a.py": "import importlib\n\ndef unit(seed):\n"
                                        "    return importlib.import_module('.impl', __package__).f(seed)\n",
                                "impl.py": "def f(s):\n    return s + 1\n"}, "impl.py", "s + 1", "s + 2", True),
    "eval": ({"a.py": "from .b import g\n\ndef unit(seed):\n    return eval('g(seed)')\n",
              "b.py": "def g(s):\n    return s + 1\n\ndef h(s):\n    return s\n"}, "b.py", "return s\n", "return -s\n",
             True),
    "local imports in two methods": ({"a.py": "from .b import helper\n\nclass Runner:\n    def run(self):\n"
                                              "        return helper()\n    def other(self):\n"
                                              "        from .c import helper\n        return helper()\n\n"
                                              "def unit(seed):\n    return Runner().run()\n",
                                      "b.py": "def helper():\n    return 1\n", "c.py": "def helper():\n    return 2\n"},
                                     "b.py", "return 1", "return 5", True),
    "data file named in a string": ({"a.py": "import json\nfrom pathlib import Path\n\n"
                                             "def unit(seed):\n    return json.loads((Path(__file__).parent / 'grid.json')"
                                             ".read_text())\n",
                                     "grid.json": "[1]", "sub/grid.json": "[2]"}, "grid.json", "[1]", "[3]", True),
    "data file through a computed path": ({"a.py": "import json\nfrom pathlib import Path\nNAME = 'gr'\n\n"
                                                   "def unit(seed):\n    return json.loads((Path(__file__).parent / "
                                                   "f'{NAME}id.yaml').read_text())\n",
                                           "grid.yaml": "[1]"}, "grid.yaml", "[1]", "[3]", True),
    "unread data file": ({"a.py": "def unit(seed):\n    return seed\n", "sub/grid.json": "[1]"},
                         "sub/grid.json", "[1]", "[3]", False),
    "docstring": ({"a.py": "def unit(seed):\n    \"\"\"Doc.\"\"\"\n    return seed  # note\n"}, "a.py",
                  "Doc.", "Another doc, longer.", False),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_way_code_is_reached_counts(tmp_path, rule):
    files, rel, old, new, changes = RULES[rule]
    root = tree_of(tmp_path, files)
    assert rekeys(root, "mtrl_lib.a:unit", rel, old, new) == changes, rule


def test_the_science_package_keeps_to_what_the_keys_assume():
    """What codekeys does not follow, the science package does not do (codekeys' module docstring): no module
    assigns to another module's attribute or changes an imported object at import; no eval/exec; every
    decorator is a pure one; the only import-time code is the compiled draw's check in tasks.py."""
    tree = codekeys.SourceTree(ROOT)
    problems = []
    for name in tree.all_modules():
        if name == "mtrl_lib.__main__":                   # the command line's entry point: run, never imported
            continue
        m = tree.module(name)
        imported = {a for a, t in m.aliases.items() if tree.is_science(t[1])}
        for node in ast.walk(m.tree):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for t in targets:
                    base = t
                    while isinstance(base, (ast.Attribute, ast.Subscript)):
                        base = base.value
                    if t is not base and isinstance(base, ast.Name) and base.id in imported:
                        problems.append(f"{name}: assigns into imported {base.id} (line {node.lineno})")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
                problems.append(f"{name}: {node.func.id}() (line {node.lineno})")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for d in node.decorator_list:
                    if codekeys.decorator_name(d) not in codekeys.PURE_DECORATORS:
                        problems.append(f"{name}: decorator {codekeys.decorator_name(d)} (line {node.lineno})")
        for node in m.tree.body:                          # a top-level call on an imported object changes it
            if isinstance(node, (ast.Expr, ast.Assign)) and isinstance(node.value, ast.Call):
                f = node.value.func
                while isinstance(f, ast.Attribute):
                    f = f.value
                if isinstance(f, ast.Name) and f.id in imported and name != "mtrl_lib.tasks":
                    problems.append(f"{name}: calls into imported {f.id} at import (line {node.lineno})")
        effects = [canonical_ast.canonical([e]) for e in m.effects]
        if effects and name != "mtrl_lib.tasks":
            problems.append(f"{name}: import-time code {effects}")
    assert not problems, problems


def test_a_salt_forces_a_rekey_and_unresolved_names_fall_back_to_the_module(tmp_path, monkeypatch):
    root = tree_of(tmp_path, {"a.py": "from . import b\n\ndef unit(seed):\n    return getattr(b, NAME)(seed)\n\n"
                                      "NAME = 'f'\n\ndef unused():\n    return 1\n",
                              "b.py": "def f(s):\n    return s\n\ndef g(s):\n    return -s\n"})
    c = codekeys.closure("mtrl_lib.a:unit", root)
    assert {"mtrl_lib.b:f", "mtrl_lib.b:g"} <= set(c.items) and "mtrl_lib.b" in c.fallbacks
    assert "mtrl_lib.a:unused" not in c.items
    monkeypatch.setitem(codekeys.SALTS, "mtrl_lib.a:unit", "2026-12-07: forced")
    assert codekeys.closure("mtrl_lib.a:unit", root).digest() != c.digest()


_TRACE = r"""
import json, sys
from pathlib import Path
from mtrl_lib import units
import importlib, pkgutil, mtrl_lib
lib = Path(units.__file__).resolve().parent
for m in pkgutil.walk_packages(mtrl_lib.__path__, "mtrl_lib."):     # import-time code runs before tracing
    if not m.name.startswith(("mtrl_lib.book", "mtrl_lib.__main__")):
        importlib.import_module(m.name)
out = {}
for fn, cfg in json.loads(sys.stdin.read()).items():
    u = units.unit(fn, 0, **cfg)
    seen = set()
    def tracer(frame, event, arg):
        if event == "call":
            p = Path(frame.f_code.co_filename)
            if p.is_relative_to(lib) and "book" not in p.relative_to(lib).parts:
                seen.add((str(p.relative_to(lib)), frame.f_code.co_firstlineno, frame.f_code.co_name))
        return None
    sys.settrace(tracer)
    units.call(u)
    sys.settrace(None)
    out[fn] = sorted(seen)
print(json.dumps(out))
"""


def _toplevel_of(module: codekeys.Module, line: int) -> str | None:
    """The name bound by the top-level statement of ``module`` that holds ``line`` (its first name for a
    block), ``"<import-time>"`` for a statement that binds nothing, None outside every statement."""
    for node in module.tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
        if first <= line <= node.end_lineno:
            names = codekeys._bound_names(node)
            return sorted(names)[0] if names else "<import-time>"
    return None


def test_a_traced_unit_of_every_function_runs_nothing_outside_its_closure(here):
    """Every science function a unit calls (sys.settrace 'call' events, imports done before tracing) lies in
    a top-level definition its closure holds."""
    out = subprocess.run([sys.executable, "-c", _TRACE], input=json.dumps(TINY), capture_output=True, text=True,
                         cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    tree = codekeys.SourceTree(ROOT)
    outside = []
    for fn, calls in json.loads(out.stdout).items():
        c = here[1][fn]
        assert calls, fn
        for rel, line, name in calls:
            parts = Path(rel).with_suffix("").parts
            module = ".".join(("mtrl_lib",) + (parts[:-1] if parts[-1] == "__init__" else parts))
            top = _toplevel_of(tree.module(module), line)
            if module in c.fallbacks or (top == "<import-time>" and module in c.modules):
                continue
            if f"{module}:{top}" not in c.items:
                outside.append(f"{fn}: {module}:{top} ({name}, line {line})")
    assert not outside, f"units ran code outside their closures: {outside}"


# ----------------------------------------------------------------------------------------- the published store
def test_every_published_entry_is_current():
    current, stale = store.Store(ROOT / "published" / "paper-results").audit()
    assert current > 0 and not stale, f"{len(stale)} stale entries, e.g. {stale[:3]}"


def _entry_store(tmp_path: Path, fn: str, cfg: dict, digest: str, tamper: bool = False) -> Path:
    from mtrl_lib.units import call, unit

    u = unit(fn, 0, **cfg)
    result = call(u)
    if tamper:
        result = {k: (v * 1.5 if isinstance(v, float) else v) for k, v in result.items()}
    folder = tmp_path / "store"
    store.Store(folder).put(store.unit_key(u, digest), u, result)
    return folder


KERNEL = "mtrl_lib.experiments.pseudo_contrastive:kernel_unit"


@pytest.fixture
def old_tree(tmp_path, monkeypatch):
    """``--from OLD`` reads a copy of this checkout in which chapter 1's kernel unit names a local variable
    differently (a refactor that changes the unit's code, not its result)."""
    old = copy_tree(tmp_path / "old")
    path = old / "mtrl_lib" / "experiments" / "pseudo_contrastive.py"
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "kernel_unit")
    local = next(n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    for n in ast.walk(fn):
        if isinstance(n, ast.Name) and n.id == local:
            n.id = local + "_renamed"
    path.write_text(ast.unparse(tree))

    def checkout(rev, dest):
        shutil.copytree(old / "mtrl_lib", dest / "mtrl_lib")
        return "0" * 40

    monkeypatch.setattr(rekey, "checkout", checkout)
    return old


def test_rekey_moves_a_refactor_after_a_byte_identical_sample(tmp_path, old_tree):
    there = codekeys.closure(KERNEL, old_tree).digest()
    assert there != codekeys.code_digest(KERNEL, ROOT)
    folder = _entry_store(tmp_path, KERNEL, TINY[KERNEL], there)
    assert store.Store(folder).audit()[0] == 0
    rec = rekey.rekey(folder, "OLD", write_log=False)
    assert rec["moved"] == 1 and rec["same"] == 1
    assert any(line.startswith("~ mtrl_lib.experiments.pseudo_contrastive:kernel_unit")
               for line in rec["changed"][KERNEL])
    assert store.Store(folder).audit() == (1, [])


def test_rekey_moves_nothing_when_the_sample_differs(tmp_path, old_tree):
    there = codekeys.closure(KERNEL, old_tree).digest()
    folder = _entry_store(tmp_path, KERNEL, TINY[KERNEL], there, tamper=True)
    before = sorted(p.name for p in folder.glob("??/*.json"))
    with pytest.raises(rekey.RefuseError, match="recompute to other bytes"):
        rekey.rekey(folder, "OLD", write_log=False)
    assert sorted(p.name for p in folder.glob("??/*.json")) == before


def test_migrate_moves_entries_current_under_the_old_keys_and_refuses_others(tmp_path, monkeypatch):
    old = copy_tree(tmp_path / "old")
    monkeypatch.setattr(rekey, "checkout", lambda rev, dest: shutil.copytree(old / "mtrl_lib",
                                                                             dest / "mtrl_lib") and "0" * 40)
    folder = _entry_store(tmp_path, KERNEL, TINY[KERNEL], rekey.legacy_digest(KERNEL, old))
    rec = rekey.migrate(folder, "OLD", write_log=False)
    assert rec["moved"] == 1 and store.Store(folder).audit() == (1, [])
    bad = _entry_store(tmp_path / "b", KERNEL, TINY[KERNEL], "not the old key")
    with pytest.raises(rekey.RefuseError, match="not current under the old keys"):
        rekey.migrate(bad, "OLD", write_log=False)
    assert len(list(bad.glob("??/*.json"))) == 1


def test_migrate_refuses_when_a_units_code_changed(tmp_path, old_tree):
    folder = _entry_store(tmp_path, KERNEL, TINY[KERNEL], rekey.legacy_digest(KERNEL, old_tree))
    with pytest.raises(rekey.RefuseError, match="use `rekey`"):
        rekey.migrate(folder, "OLD", write_log=False)


def test_new_entries_record_their_toolchain_and_a_differing_one_is_one_line(tmp_path):
    folder = _entry_store(tmp_path, KERNEL, TINY[KERNEL], "d")
    entry = json.loads(next(folder.glob("??/*.json")).read_text())
    assert entry["toolchain"] == store.toolchain() and entry["toolchain"]["torch"]
    assert store.toolchain_note(folder) is None
    note = store.toolchain_note(folder, here=dict(store.toolchain(), torch="9.9"))
    assert note and "\n" not in note and "torch" in note


def test_rekey_samples_every_value_of_every_field(tmp_path):
    """A refactor that changes results for one value of an integer field only (n % 7 == 0 here) is caught: the
    sample holds every value of every field at least once."""
    from mtrl_lib.units import Unit

    items = [(tmp_path / f"{n}-{s}.json", {}, Unit("m:f", json.dumps({"mode": "a", "n": n}), s))
             for n in (5, 7, 10, 14, 20) for s in range(3)]
    picked = rekey.sample(items)
    assert {json.loads(u.config)["n"] for _, _, u in picked} == {5, 7, 10, 14, 20}
    assert len(picked) < len(items)
