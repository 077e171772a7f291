"""``python -m mtrl_lib verify``: the audit of a results store (mtrl_lib.book.verify)."""
import io
import json
import shutil
import subprocess
import sys

import pytest

from mtrl_lib.book import store, verify
from mtrl_lib.book.chapters import ROOT
from mtrl_lib.units import call, unit

CFG = dict(d=20, r=2, m=20, T=4, n1=10, n2=10, rounds=6, eta_a=10.0, eta_W=0.05, record_every=3)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "mtrl_lib", "verify", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


@pytest.fixture
def small_store(tmp_path):
    """A store of three small training units, computed here: ``(folder, keys)``."""
    s = store.Store(tmp_path / "store")
    keys = []
    for seed in range(3):
        u = unit("mtrl_lib.train:trajectory_unit", seed, **CFG)
        keys.append(store.unit_key(u))
        s.put(keys[-1], u, call(u))
    return s.root, keys


def tamper(path, edit):
    """Rewrite the stored result text of the entry at ``path`` with ``edit(text)`` (the JSON stays valid)."""
    entry = json.loads(path.read_text())
    new = edit(entry["result"])
    assert new != entry["result"]
    entry["result"] = new
    path.write_text(json.dumps(entry))


def digit_changed(text: str, last: bool = False) -> str:
    """``text`` with one digit of its first float changed: the first after the point, or the ``last``."""
    import re

    m = re.search(r"\d\.(\d)\d*(\d)", text)
    i = m.end(2 if last else 1) - 1
    return text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:]


def test_a_faithful_store_is_same_for_every_unit(small_store):
    root, keys = small_store
    out = io.StringIO()
    assert verify.run(root, per_chapter=5, seed=0, out=out) == 0
    lines = out.getvalue().splitlines()
    assert "seed 0 (repeat with --seed 0)" in lines[0]
    rows = [ln for ln in lines if ln.startswith("other ")]
    assert len(rows) == 3 and all(ln.endswith("  same") for ln in rows)
    assert {r.split()[1] for r in rows} == {k[:12] for k in keys}
    assert lines[-1] == "verify: 3 same, 0 close, 0 differs"


def test_chapter_samples_only_that_chapters_units(small_store):
    root, _ = small_store
    with pytest.raises(ValueError, match="holds no entry of 02_subspace_recovery"):
        verify.run(root, chapters=["02_subspace_recovery"], out=io.StringIO())


def test_one_changed_digit_differs_and_is_named(small_store):
    root, keys = small_store
    tamper(store.Store(root).path(keys[1]), digit_changed)
    tamper(store.Store(root).path(keys[2]), lambda t: digit_changed(t, last=True))    # within tolerance
    out = cli("--store", str(root), "--only", keys[1], keys[2])
    assert out.returncode == 1, out.stdout + out.stderr
    rows = [next(ln for ln in out.stdout.splitlines() if k[:12] in ln) for k in keys[1:]]
    assert all("differs: the entry's sha256 does not match its text" in row for row in rows)
    assert " stored, " in rows[0] and "recomputed" in rows[0] and "largest relative gap" in rows[1]
    # the untouched entries stay same, named by their file names
    ok = cli("--store", str(root), "--only", f"{keys[0]}.json", str(store.Store(root).path(keys[0])))
    assert ok.returncode == 0 and ok.stdout.count("  same") == 2


def test_a_tampered_published_entry_differs(tmp_path):
    """One digit of one number of a published entry (the JSON still valid): exit 1, and the entry named."""
    entries, _ = verify.current_entries(verify.DEFAULT_STORE)
    verify.estimate(entries, verify.chapter_unit_seconds())
    cheapest = min(entries, key=lambda e: e.estimate_s)
    copy = tmp_path / cheapest.path.parent.name / cheapest.path.name
    copy.parent.mkdir()
    shutil.copy(cheapest.path, copy)
    assert cli("--store", str(tmp_path), "--only", cheapest.key).returncode == 0
    tamper(copy, digit_changed)
    out = cli("--store", str(tmp_path), "--only", cheapest.key)
    assert out.returncode == 1 and f"{cheapest.key[:12]}" in out.stdout and "differs" in out.stdout


def test_numbers_within_tolerance_are_close_and_beyond_it_differ():
    a = {"x": [1.0, 2.0], "n": 3}
    assert verify.first_difference(a, {"x": [1.0, 2.0], "n": 3}) is None
    kind, msg = verify.first_difference(a, {"x": [1.0, 2.0 * (1 + 1e-6)], "n": 3})
    assert kind == "close" and "result.x[1]" in msg
    kind, msg = verify.first_difference(a, {"x": [1.0, 2.0 * (1 + 1e-3)], "n": 3})
    assert kind == "differs" and msg.startswith("result.x[1]: 2.0 stored")
    assert verify.first_difference(a, {"x": [1.0], "n": 3})[0] == "differs"
    assert verify.first_difference(a, {"x": [1.0, 2.0], "n": 4})[0] == "differs"


def test_the_budget_takes_the_cheapest_and_says_what_it_skipped(small_store):
    root, _ = small_store
    out = io.StringIO()
    entries, _ = verify.current_entries(root)
    assert verify.run(root, per_chapter=3, seed=1, budget=verify.FALLBACK_UNIT_S * 1.5, out=out) == 0
    text = out.getvalue()
    assert text.count("skipped other") == 2 and "past --budget 15 s" in text
    assert text.splitlines()[-1] == "verify: 1 same, 0 close, 0 differs, 2 skipped for the budget"


@pytest.mark.parametrize("args, needle", [
    (["--per-chapter", "0"], "--per-chapter must be an integer >= 1, got 0"),
    (["--budget", "-5"], "--budget must be a number of seconds > 0, got -5"),
    (["--store", "/nonexistent/store"], "--store must be a results store folder"),
    (["--only", "abc"], "--only must name entries of the store"),
    (["--seed", "x"], "invalid int value"),
    (["--chapter", "nope"], "--chapter must be one of 01_pseudo_contrastive"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    out = cli(*args)
    assert out.returncode == 2 and needle in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
