"""Moving a results store's entries to new keys, without recomputing them, only where that is safe.

Two commands, both ``python -m mtrl_lib.book.store``:

* ``migrate FOLDER --from REV``: the one-time move from the byte-hash keys (a unit's key hashed the bytes of
  every science module its function's module imported, and every science data file: :func:`legacy_digest`)
  to the code keys of :mod:`mtrl_lib.book.codekeys`. It refuses, moving nothing, unless every entry is
  current under the old keys at commit ``REV``, and unless every unit function's code digest at ``REV`` is
  the one of this checkout (so the code that computed an entry is the code its new key names). Then it moves
  each entry unchanged to its new key.
* ``rekey FOLDER --from REV``: for a refactor that changes the code a unit runs but not its results (a
  definition moved or renamed, a rewrite). For the entries current at ``REV`` and stale here, it lists the
  definitions that changed per unit function, recomputes a stratified sample (:func:`sample`: per unit
  function, the cheapest and the largest entry of each category of configuration, and entries until every value
  of every configuration field is in the sample) in this process, and moves every such entry to its new key only when each sampled result is byte-identical
  to its entry. One difference, and nothing moves.

Each move is logged, one JSON line, in ``published/key-log.jsonl`` (the date, the command, ``REV``, this
checkout's commit and the counts).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from ..units import Unit
from . import codekeys
from .chapters import ROOT

LOG = ROOT / "published" / "key-log.jsonl"


class RefuseError(RuntimeError):
    """The command refuses: nothing was moved (one paragraph for the reader)."""


# ------------------------------------------------------------------------------------------------- old keys
def _legacy_module_file(root: Path, name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "mtrl_lib" or (len(parts) > 1 and parts[1] == "book"):
        return None
    base = root.joinpath(*parts)
    for p in (base.with_suffix(".py"), base / "__init__.py", base.with_suffix(".c")):
        if p.is_file():
            return p
    return None


def _legacy_imports(path: Path, name: str) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def legacy_digest(fn: str, root: Path) -> str:
    """The code digest of the byte-hash keys (the store's scheme up to 2026-12-07), for the checkout at
    ``root``: sha256 over the path (relative to ``mtrl_lib``) and bytes of the unit function's module, every
    science module it imports directly or not, their packages' ``__init__``, and every science ``*.json``."""
    lib = root / "mtrl_lib"
    seen: dict[str, Path] = {}
    todo = [fn.partition(":")[0]]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            pkg = ".".join(parts[:k])
            path = _legacy_module_file(root, pkg)
            if path is not None and pkg not in seen:
                seen[pkg] = path
                if path.suffix == ".py":
                    todo.extend(_legacy_imports(path, pkg))
    data = [p for p in sorted(lib.rglob("*.json")) if "__pycache__" not in p.parts
            and not p.relative_to(lib).as_posix().startswith("book/")]
    h = hashlib.sha256()
    for p in sorted(set(seen.values()) | set(data)):
        h.update(p.relative_to(lib).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------- helpers
def checkout(rev: str, dest: Path) -> str:
    """Write ``mtrl_lib/`` of commit ``rev`` under ``dest``; returns the full commit id. RefuseError when
    ``rev`` is not a commit of this repository."""
    try:
        full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                              capture_output=True, text=True, check=True).stdout.strip()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", full, "mtrl_lib"],
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise RefuseError(f"--from must name a commit of this repository, got {rev!r}") from None
    tar = dest / "src.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    tar.unlink()
    return full


def head_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "mtrl_lib"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return out + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def entries(folder: Path) -> list[tuple[Path, dict, Unit]]:
    out = []
    for p in sorted(Path(folder).glob("??/*.json")):
        try:
            e = json.loads(p.read_text())
            out.append((p, e, Unit(e["fn"], e["config"], int(e["seed"]))))
        except (OSError, ValueError, KeyError, TypeError):
            raise RefuseError(f"{p} is not a readable store entry: repair or delete it first") from None
    return out


def _key(u: Unit, digest: str) -> str:
    from .store import unit_key

    return unit_key(u, digest)


def _move(folder: Path, p: Path, new_key: str) -> None:
    """Move entry ``p`` unchanged to ``new_key`` (atomic rename within the store)."""
    target = Path(folder) / new_key[:2] / f"{new_key}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(p, target)


def log(record: dict, folder: Path) -> None:
    """Append ``record`` (with the store it concerns) to ``published/key-log.jsonl`` for the published store,
    to ``FOLDER/key-log.jsonl`` for any other."""
    folder = Path(folder)
    path = LOG if folder.resolve() == (ROOT / "published" / "paper-results").resolve() else folder / "key-log.jsonl"
    record = {"store": str(folder), **record}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def changed_definitions(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """The items of two manifests that differ: ``+ id`` (new), ``- id`` (gone), ``~ id`` (changed)."""
    out = [f"~ {k}" for k in sorted(old.keys() & new.keys()) if old[k] != new[k]]
    out += [f"- {k}" for k in sorted(old.keys() - new.keys())]
    out += [f"+ {k}" for k in sorted(new.keys() - old.keys())]
    return out


# ------------------------------------------------------------------------------------------------- migrate
def migrate(folder: Path, rev: str, *, write_log: bool = True, out=sys.stdout) -> dict:
    """Move every entry of ``folder`` from its byte-hash key at ``rev`` to its code key here (see the module
    docstring). Returns the counts; raises RefuseError, moving nothing, when it cannot."""
    folder = Path(folder)
    items = entries(folder)
    with tempfile.TemporaryDirectory() as tmp:
        full = checkout(rev, Path(tmp))
        old_root, fns = Path(tmp), sorted({u.fn for _, _, u in items})
        here = {fn: codekeys.code_digest(fn, ROOT) for fn in fns}
        there_tree = codekeys.SourceTree(old_root)
        there = {fn: codekeys.closure(fn, old_root, there_tree) for fn in fns}
        changed = {fn: changed_definitions(there[fn].manifest(), codekeys.manifest(fn, ROOT))
                   for fn in fns if there[fn].digest() != here[fn]}
        if changed:
            lines = [f"  {fn}: " + ", ".join(c[:6]) + (" ..." if len(c) > 6 else "") for fn, c in changed.items()]
            raise RefuseError(f"the code of {len(changed)} unit function(s) differs between {rev} and this "
                              "checkout, so their entries cannot move unchanged (use `rekey`, which recomputes "
                              "a sample first):\n" + "\n".join(lines))
        legacy = {fn: legacy_digest(fn, old_root) for fn in fns}
        moves, already, stale = [], 0, []
        for p, _, u in items:
            new = _key(u, here[u.fn])
            if p.stem == new:
                already += 1
            elif p.stem == _key(u, legacy[u.fn]):
                moves.append((p, new))
            else:
                stale.append(p)
        if stale:
            raise RefuseError(f"{len(stale)} of {len(items)} entries are not current under the old keys at "
                              f"{rev} (for example {stale[0].relative_to(folder)}): migrate from the commit at "
                              "which the store was current, or prune the stale entries first")
    counts = defaultdict(int)
    for p, new in moves:
        _move(folder, p, new)
        counts[json.loads((folder / new[:2] / f"{new}.json").read_text())["fn"]] += 1
    record = {"date": time.strftime("%Y-%m-%d"), "command": "migrate", "from": full, "to": head_commit(),
              "moved": len(moves), "already_current": already, "recomputed": 0,
              "moved_per_function": dict(sorted(counts.items()))}
    if write_log and moves:
        log(record, folder)
    print(f"{folder}: moved {len(moves)} entries to their code keys, {already} already there, 0 recomputed",
          file=out)
    for fn, n in sorted(counts.items()):
        print(f"  {n:5d}  {fn}", file=out)
    return record


# ------------------------------------------------------------------------------------------------- rekey
def _leaves(config: dict, prefix: str = "") -> list[tuple[str, str]]:
    """The configuration's fields as ``(path, value)`` pairs, nested dicts flattened (values as JSON text)."""
    out = []
    for k, v in sorted(config.items()):
        if isinstance(v, dict):
            out.extend(_leaves(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", json.dumps(v, sort_keys=True)))
    return out


def _category(config: dict) -> tuple:
    """The categorical part of a configuration: its strings, booleans and None (nested included)."""
    return tuple((k, v) for k, v in _leaves(config) if not v[:1].isdigit() and v[:1] not in "-[")


def sample(moving: list[tuple[Path, dict, Unit]]) -> list[tuple[Path, dict, Unit]]:
    """A stratified sample of the entries to move, per unit function: the cheapest and the largest entry of
    each category of configuration (its strings and booleans; by the size proxy of
    :mod:`mtrl_lib.book.verify`), and then, cheapest first, entries until every value of every configuration
    field (integers, floats and lists included: a step size, a dimension, a draw index) appears in the sample
    at least once. A refactor that changes results only for some value of some field is caught wherever that
    value is stored; one that changes only some seeds, or only some combinations of values, can still pass."""
    from .verify import size_proxy

    by_fn: dict[str, list] = defaultdict(list)
    for item in moving:
        by_fn[item[2].fn].append(item)
    out = []
    for fn in sorted(by_fn):
        items = sorted(by_fn[fn], key=lambda it: (size_proxy(it[2].kwargs), it[2].seed, str(it[0])))
        chosen: list = []
        groups: dict[tuple, list] = defaultdict(list)
        for it in items:
            groups[_category(it[2].kwargs)].append(it)
        for _, group in sorted(groups.items(), key=lambda kv: repr(kv[0])):
            for it in (group[0], group[-1]):
                if it not in chosen:
                    chosen.append(it)
        covered = {pair for it in chosen for pair in _leaves(it[2].kwargs)}
        for it in items:                                  # cheapest first: greedy cover of the field values
            new = set(_leaves(it[2].kwargs)) - covered
            if new:
                chosen.append(it)
                covered |= new
        out.extend(chosen)
    return out


def rekey(folder: Path, rev: str, *, dry_run: bool = False, write_log: bool = True, out=sys.stdout) -> dict:
    """Move the entries current at ``rev`` and stale here to their keys here, after a byte-identical
    recomputation of a stratified sample (see the module docstring). RefuseError when the sample differs."""
    from ..units import call
    from .store import encode
    from ..progress import progress_bar

    folder = Path(folder)
    items = entries(folder)
    fns = sorted({u.fn for _, _, u in items})
    here = {fn: codekeys.code_digest(fn, ROOT) for fn in fns}
    with tempfile.TemporaryDirectory() as tmp:
        full = checkout(rev, Path(tmp))
        tree = codekeys.SourceTree(Path(tmp))
        there = {fn: codekeys.closure(fn, Path(tmp), tree) for fn in fns}
    moving, current, other = [], 0, 0
    for item in items:
        p, _, u = item
        if p.stem == _key(u, here[u.fn]):
            current += 1
        elif p.stem == _key(u, there[u.fn].digest()):
            moving.append(item)
        else:
            other += 1
    changed = {fn: changed_definitions(there[fn].manifest(), codekeys.manifest(fn, ROOT))
               for fn in sorted({u.fn for _, _, u in moving})}
    print(f"{folder}: {current} entries current here, {len(moving)} current at {rev} only, {other} neither "
          "(left as they are)", file=out)
    for fn, lines in changed.items():
        n = sum(1 for _, _, u in moving if u.fn == fn)
        print(f"  {fn} ({n} entries): " + "; ".join(lines), file=out)
    picks = sample(moving)
    print(f"sample to recompute: {len(picks)} entries", file=out)
    record = {"date": time.strftime("%Y-%m-%d"), "command": "rekey", "from": full, "to": head_commit(),
              "changed": changed, "sample": [p.stem for p, _, _ in picks]}
    if dry_run or not moving:
        return {**record, "moved": 0}
    differ = []
    for p, e, u in progress_bar(picks, desc="rekey sample"):
        if encode(call(u)) != e["result"]:
            differ.append(p)
    if differ:
        raise RefuseError(f"{len(differ)} of {len(picks)} sampled entries recompute to other bytes (for example "
                          f"{differ[0].relative_to(folder)}): the change is not a pure refactor; nothing moved. "
                          "Recompute the stale units (make publish) instead.")
    for p, _, u in moving:
        _move(folder, p, _key(u, here[u.fn]))
    record.update(moved=len(moving), recomputed=len(picks), same=len(picks))
    if write_log:
        log(record, folder)
    print(f"moved {len(moving)} entries to their keys here; {len(picks)} sampled entries recomputed, all "
          "byte-identical", file=out)
    return record


def main(argv=None) -> int:
    """``python -m mtrl_lib.book.rekey migrate FOLDER --from REV`` or ``... rekey rekey FOLDER --from REV
    [--dry-run]``: move a store's entries to today's keys (:func:`migrate`, :func:`rekey`)."""
    import argparse

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("migrate", "rekey"):
        print("error: the first argument must be migrate or rekey, got "
              f"{argv[0] if argv else 'nothing'!r}", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog=f"python -m mtrl_lib.book.rekey {argv[0]}",
                                 description=(migrate if argv[0] == "migrate" else rekey).__doc__)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--from", dest="rev", required=True, help="the commit at which the entries are current")
    if argv[0] == "rekey":
        ap.add_argument("--dry-run", action="store_true", help="list the changes and the sample; move nothing")
    args = ap.parse_args(argv[1:])
    if not args.folder.is_dir():
        print(f"error: FOLDER must be a results store folder, got {str(args.folder)!r}", file=sys.stderr)
        return 2
    try:
        if argv[0] == "migrate":
            migrate(args.folder, args.rev)
        else:
            rekey(args.folder, args.rev, dry_run=args.dry_run)
    except RefuseError as e:
        print(f"refused, nothing moved: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
