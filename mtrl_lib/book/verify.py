"""``python -m mtrl_lib verify``: audit a results store by recomputing a sample of its units.

A reader who wants to check the published numbers without recomputing all of them picks K units per chapter
at random, recomputes each with this checkout (in this process, through :func:`mtrl_lib.units.call`, so on
one CPU thread) and compares the result with the stored entry:

* ``same``: the recomputed result's stored text is the entry's, byte for byte;
* ``close``: the same structure, and every number within ``|a - b| <= RTOL * max(|a|, |b|) + ATOL``. Bytes
  can differ on another CPU model (other instruction sets, other BLAS kernels round a sum differently), and
  a few hundred training rounds amplify a last-bit difference to the fifth or sixth digit;
* ``differs``: anything else, with the first field that differs.

Only entries that are current under this checkout's source are sampled (an entry whose key is not the key
of its unit today was computed by other code, and nothing says it should agree); ``--only`` checks named
entries. ``--budget`` prefers the cheapest units, estimated from the chapters' recorded unit times (in
``published/paper-scale.json``) scaled within each function by a size proxy, and says what it skipped.

Exit status: 0 when every unit checked is ``same`` or ``close``; 1 when one differs; 2 on bad input.
"""
from __future__ import annotations

import json
import math
import random
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..units import Unit, call
from .chapters import CHAPTERS, ROOT
from .store import FORMAT, decode, encode, unit_key

DEFAULT_STORE = ROOT / "published" / "paper-results"
PAPER_SCALE = ROOT / "published" / "paper-scale.json"
RTOL, ATOL = 1e-4, 1e-9
FALLBACK_UNIT_S = 10.0         # a unit's estimated time where no chapter time is recorded
SIZE_FIELDS = ("rounds", "T", "T_values", "m", "d", "n", "n1", "n2", "pull_tasks", "kappa_tasks", "draws")


@dataclass
class Entry:
    """One stored unit: its key, file, chapter and unit, and the stored result text."""

    key: str
    path: Path
    chapter: str
    unit: Unit
    text: str
    hash_ok: bool
    estimate_s: float = FALLBACK_UNIT_S


def chapter_of(fn: str) -> str:
    """The chapter whose experiment module holds unit function ``fn`` (``"other"`` for a library unit)."""
    module = fn.partition(":")[0]
    return next((c.name for c in CHAPTERS if c.module == module), "other")


def read_entry(path: Path) -> Entry:
    """The entry at ``path``; ValueError (one line) when it does not parse as a store entry."""
    import hashlib

    try:
        e = json.loads(path.read_text())
        u = Unit(e["fn"], e["config"], int(e["seed"]))
        text = e["result"]
        ok = e.get("format") == FORMAT and hashlib.sha256(text.encode()).hexdigest() == e.get("sha256")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"store entry {path.name} cannot be read ({type(err).__name__})") from None
    return Entry(path.stem, path, chapter_of(u.fn), u, text, ok)


def current_entries(store: Path) -> tuple[list[Entry], int]:
    """``(entries, not_current)``: the readable entries of ``store`` whose file name is their unit's key under
    this checkout's source, and the number of the others."""
    good, other = [], 0
    for p in sorted(store.glob("??/*.json")):
        try:
            e = read_entry(p)
        except ValueError:
            other += 1
            continue
        if unit_key(e.unit) == e.key:
            good.append(e)
        else:
            other += 1
    return good, other


def size_proxy(config: dict) -> float:
    """A size proxy for a unit's cost: the product of its size fields (nested configurations included; a
    list counts by its sum)."""
    out = 1.0
    for k, v in config.items():
        if isinstance(v, dict):
            out *= size_proxy(v)
        elif k in SIZE_FIELDS and isinstance(v, (int, float)) and v > 0:
            out *= v
        elif k in SIZE_FIELDS and isinstance(v, list) and v:
            out *= sum(v)
    return out


def chapter_unit_seconds(paper_scale: Path = PAPER_SCALE) -> dict[str, float]:
    """Mean seconds per unit of each chapter in the run that computed the published store (its wall time
    times its workers over the units it computed), from ``paper-scale.json``."""
    try:
        chapters = json.loads(paper_scale.read_text())["chapters"]
    except (OSError, ValueError, KeyError):
        return {}
    out = {}
    for name, rec in chapters.items():
        c = rec.get("computed") or {}
        n = c.get("units_computed") or 0
        if n:
            workers = (c.get("executor") or {}).get("workers") or 1
            out[name] = c["wall_time_s"] * workers / n
    return out


def estimate(entries: list[Entry], per_chapter_s: dict[str, float]) -> None:
    """Set each entry's ``estimate_s``: its chapter's mean unit time, scaled by its size over the mean size of
    its function's entries."""
    by_fn: dict[str, list[Entry]] = {}
    for e in entries:
        by_fn.setdefault(e.unit.fn, []).append(e)
    for group in by_fn.values():
        sizes = [size_proxy(e.unit.kwargs) for e in group]
        mean = sum(sizes) / len(sizes)
        for e, s in zip(group, sizes):
            e.estimate_s = per_chapter_s.get(e.chapter, FALLBACK_UNIT_S) * s / mean


def first_difference(a, b, path: str = "result") -> tuple[str, str] | None:
    """``(kind, message)`` for the first place ``a`` (stored) and ``b`` (recomputed) part: kind ``"close"``
    when every number is within tolerance (the message names the largest relative gap), ``"differs"``
    otherwise; None when they are equal."""
    worst: list = [0.0, ""]

    def walk(x, y, where):
        if isinstance(x, dict) and isinstance(y, dict):
            if sorted(x) != sorted(y):
                return f"{where}: fields {sorted(set(x) ^ set(y))} are in one only"
            for k in sorted(x):
                msg = walk(x[k], y[k], f"{where}.{k}")
                if msg:
                    return msg
            return None
        if hasattr(x, "shape") and hasattr(y, "shape"):
            if x.shape != y.shape or x.dtype != y.dtype:
                return f"{where}: array {x.dtype}{list(x.shape)} stored, {y.dtype}{list(y.shape)} recomputed"
            return walk(x.ravel().tolist(), y.ravel().tolist(), where)
        if isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return f"{where}: {len(x)} items stored, {len(y)} recomputed"
            for i, (p, q) in enumerate(zip(x, y)):
                msg = walk(p, q, f"{where}[{i}]")
                if msg:
                    return msg
            return None
        num = (int, float)
        if isinstance(x, num) and isinstance(y, num) and not isinstance(x, bool) and not isinstance(y, bool):
            if x == y or (math.isnan(x) and math.isnan(y)):
                return None
            gap = abs(x - y)
            if gap <= RTOL * max(abs(x), abs(y)) + ATOL:
                rel = gap / max(abs(x), abs(y))
                if rel > worst[0]:
                    worst[:] = [rel, where]
                return None
            return f"{where}: {x!r} stored, {y!r} recomputed"
        return None if x == y else f"{where}: {x!r} stored, {y!r} recomputed"

    msg = walk(a, b, path)
    if msg:
        return "differs", msg
    if worst[1]:
        return "close", f"largest relative gap {worst[0]:.1e} at {worst[1]}"
    return None


def check(entry: Entry) -> tuple[str, str, float]:
    """Recompute ``entry``'s unit here and compare: ``(word, detail, seconds)``. An entry whose sha256 does not
    match its text was edited or corrupted after it was written: ``differs`` unless its text is exactly the
    recomputed one."""
    start = time.perf_counter()
    text = encode(call(entry.unit))
    seconds = time.perf_counter() - start
    hash_note = "" if entry.hash_ok else "the entry's sha256 does not match its text (edited or corrupted)"
    if text == entry.text:                 # right numbers; a run would still recompute it (its hash is off)
        return "same", hash_note, seconds
    try:
        found = first_difference(decode(entry.text), decode(text))
    except ValueError:
        found = ("differs", "the stored result does not parse")
    if found is None:                      # equal values, other text (e.g. 1.0 against 1)
        found = ("close", "equal values written differently")
    word, detail = found
    if hash_note:
        return "differs", f"{hash_note}; {detail}", seconds
    return word, detail, seconds


def select(entries: list[Entry], per_chapter: int, rng: random.Random, budget: float | None):
    """``(chosen, skipped)``: ``per_chapter`` random entries of each chapter; with a budget, the cheapest
    ``per_chapter`` of each chapter instead, dropping the most expensive until the estimates fit."""
    chosen = []
    for name in [c.name for c in CHAPTERS] + ["other"]:
        group = [e for e in entries if e.chapter == name]
        if budget is None:
            chosen += rng.sample(group, min(per_chapter, len(group)))
        else:
            rng.shuffle(group)               # ties (one function, one size) are broken at random
            chosen += sorted(group, key=lambda e: e.estimate_s)[:per_chapter]
    skipped = []
    if budget is not None:
        chosen.sort(key=lambda e: e.estimate_s)
        total = 0.0
        for i, e in enumerate(chosen):
            total += e.estimate_s
            if total > budget:
                chosen, skipped = chosen[:i], chosen[i:]
                break
    return chosen, skipped


def _resolve_only(store: Path, names: list[str]) -> list[Entry]:
    """The entries named by store key, entry file name or path; ValueError (one line) when one is missing."""
    out = []
    for name in names:
        key = Path(name).name.removesuffix(".json")
        path = store / key[:2] / f"{key}.json"
        if len(key) != 64 or not path.is_file():
            raise ValueError(f"--only must name entries of the store {store} (a key, or the entry's file name), "
                             f"got {name!r}")
        try:
            out.append(read_entry(path))
        except ValueError as e:
            raise ValueError(f"--only {name}: {e}") from None
    return out


def run(store: Path, per_chapter: int = 2, seed: int | None = None, budget: float | None = None,
        only: list[str] | None = None, out=sys.stdout, chapters: list[str] | None = None) -> int:
    """Audit ``store``; print one line per unit checked and a summary. Returns the exit status.
    ``chapters``: sample only the units of these chapters (``--chapter``; a book page's number notes name it)."""
    from tqdm import tqdm

    from .chapters import get_chapter

    for name in chapters or ():
        try:
            get_chapter(name)
        except ValueError as e:                # one line, naming the option
            raise ValueError(f"--{e}") from None

    if per_chapter < 1:
        raise ValueError(f"--per-chapter must be an integer >= 1, got {per_chapter}")
    if budget is not None and not budget > 0:
        raise ValueError(f"--budget must be a number of seconds > 0, got {budget}")
    if not store.is_dir():
        raise ValueError(f"--store must be a results store folder, got {str(store)!r}")
    if only:
        chosen, skipped = _resolve_only(store, only), []
        print(f"verify: {len(chosen)} named entr{'y' if len(chosen) == 1 else 'ies'} of {store}", file=out)
    else:
        entries, not_current = current_entries(store)
        if chapters:
            entries = [e for e in entries if e.chapter in chapters]
        if not entries:
            raise ValueError(f"--store {store} holds no entry{' of ' + ', '.join(chapters) if chapters else ''} "
                             f"that is current under this checkout's source ({not_current} others; "
                             f"python -m mtrl_lib.book.store {store} counts them)")
        seed = secrets.randbelow(2**31) if seed is None else seed
        estimate(entries, chapter_unit_seconds() if store.resolve() == DEFAULT_STORE.resolve() else {})
        chosen, skipped = select(entries, per_chapter, random.Random(seed), budget)
        print(f"verify: {len(chosen)} of {len(entries)} current entries of {store}, seed {seed} "
              f"(repeat with --seed {seed}); {not_current} not current, not sampled", file=out)
    from .store import toolchain_note

    note = toolchain_note(store)
    if note:
        print(note, file=out)
    for e in skipped:
        print(f"skipped {e.chapter}  {e.key[:12]}  {e.unit.fn.rpartition(':')[2]} seed={e.unit.seed}  "
              f"(estimated {e.estimate_s:.0f} s, past --budget {budget:g} s)", file=out)
    words = []
    with tqdm(total=round(sum(e.estimate_s for e in chosen), 1), unit="est. s", file=sys.stderr,
              desc="verify", bar_format="{desc}: {percentage:3.0f}% [{elapsed} elapsed, {remaining} left]",
              disable=None) as bar:
        for e in chosen:
            word, detail, seconds = check(e)
            words.append(word)
            line = (f"{e.chapter}  {e.key[:12]}  {e.unit.fn.rpartition(':')[2]} seed={e.unit.seed}  "
                    f"{seconds:.1f} s  {word}" + (f": {detail}" if detail else ""))
            bar.write(line, file=out)
            bar.update(round(e.estimate_s, 1))
    counts = {w: words.count(w) for w in ("same", "close", "differs")}
    print(f"verify: {counts['same']} same, {counts['close']} close, {counts['differs']} differs"
          + (f", {len(skipped)} skipped for the budget" if skipped else ""), file=out)
    return 1 if counts["differs"] else 0
