"""The results store: one small JSON file per unit, content-addressed, written atomically.

A unit's key is ``sha256(function, configuration, seed, source digest)``. The source digest covers the
science modules the unit's function can run: its module and every ``mtrl_lib`` module it imports, directly
or through others (read from the ``import`` statements, :func:`unit_sources`), with the packages' ``__init__``
files and the science data files (``*.json``). Change the configuration, the seed or any of that source and
the key changes, so a stale result is never reused; an edit to one chapter's experiment module leaves the
other chapters' published units valid. An entry holds the unit, its result and the sha256 of the result's text;
an entry whose text does not parse or whose hash does not match (a partial or corrupted write) is treated as
missing and recomputed. Entries are written to a temporary file in the same folder and renamed into place,
so a killed run leaves either a whole entry or none.

Results are JSON: numbers, strings, lists, dicts, and numpy arrays (dtype, shape and the values, exact:
floats are written with ``repr``, which round-trips). Every result an executor returns goes through
:func:`encode` and :func:`decode`, computed or loaded alike, so a chapter sees the same objects either way
and writes the same bytes.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..units import Unit
from .chapters import ROOT

FORMAT = 1


@lru_cache(maxsize=1)
def science_digest() -> str:
    """sha256 over the whole science source: every ``mtrl_lib/**/*.py`` and data file outside ``mtrl_lib/book``
    (what a Dask worker must share with this checkout; a unit's key uses the finer :func:`unit_digest`)."""
    return _digest(_science_files())


def _digest(paths) -> str:
    """sha256 over ``paths`` in order: each one's path relative to ``mtrl_lib``, then its bytes."""
    h = hashlib.sha256()
    lib = ROOT / "mtrl_lib"
    for p in paths:
        h.update(p.relative_to(lib).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _science_files() -> list[Path]:
    lib = ROOT / "mtrl_lib"
    return [p for p in sorted(lib.rglob("*"))
            if p.is_file() and p.suffix in (".py", ".c", ".json") and "__pycache__" not in p.parts
            and not p.relative_to(lib).as_posix().startswith("book/")]


def _module_file(name: str) -> Path | None:
    """The source file of science module ``name`` (``mtrl_lib.x.y``), or None outside the science code; for a
    compiled module, its C source (``mtrl_lib/_normal.c`` for ``mtrl_lib._normal``)."""
    parts = name.split(".")
    if parts[0] != "mtrl_lib" or (len(parts) > 1 and parts[1] == "book"):
        return None
    base = ROOT.joinpath(*parts)
    for p in (base.with_suffix(".py"), base / "__init__.py", base.with_suffix(".c")):
        if p.is_file():
            return p
    return None


def _imports(path: Path, name: str) -> set[str]:
    """Absolute names of the modules ``path`` (module ``name``) imports, anywhere in its body."""
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
            found.update(f"{base}.{a.name}" for a in node.names)     # "from . import x" imports module x
    return found


@lru_cache(maxsize=None)
def unit_sources(fn: str) -> tuple[Path, ...]:
    """The science source a unit function ``"module:name"`` depends on: its module, the closure of the science
    modules it imports, every package ``__init__`` on their paths, and the science data files (``*.json``)."""
    module = fn.partition(":")[0]
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for k in range(1, len(parts) + 1):               # a module's parent packages run on import
            pkg = ".".join(parts[:k])
            path = _module_file(pkg)
            if path is not None and pkg not in seen:
                seen[pkg] = path
                if path.suffix == ".py":                 # a compiled module's C source imports nothing
                    todo.extend(_imports(path, pkg))
    files = set(seen.values()) | {p for p in _science_files() if p.suffix == ".json"}
    return tuple(sorted(files))


@lru_cache(maxsize=None)
def unit_digest(fn: str) -> str:
    """sha256 over :func:`unit_sources` of ``fn`` (paths relative to ``mtrl_lib`` and contents)."""
    return _digest(unit_sources(fn))


def unit_key(u: Unit, digest: str | None = None) -> str:
    """The store key of ``u``: sha256 of its function, configuration, seed and source digest (default
    :func:`unit_digest` of its function)."""
    h = hashlib.sha256()
    for part in (u.fn, u.config, str(u.seed), digest or unit_digest(u.fn)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _enc(value):
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.dtype.str, "shape": list(value.shape), "data": value.ravel().tolist()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _enc(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_enc(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "numpy"):                          # a torch tensor that escaped a unit
        return _enc(value.detach().cpu().numpy())
    raise TypeError(f"a unit result holds numbers, strings, lists, dicts and arrays, got {type(value).__name__}")


def _dec(value):
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["data"], dtype=np.dtype(value["__ndarray__"])).reshape(value["shape"])
        return {k: _dec(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value


def encode(result: dict) -> str:
    return json.dumps(_enc(result), sort_keys=True, separators=(",", ":"))


def decode(text: str) -> dict:
    return _dec(json.loads(text))


def normalise(result: dict) -> dict:
    """What a result looks like after a trip through the store (so computed and loaded results agree)."""
    return decode(encode(result))


class Store:
    """A folder of unit results, ``root/ab/abcdef....json``; ``read_also``: stores read after this one and never
    written (the paper profile reads the published results and writes new units to a local store)."""

    def __init__(self, root: Path | str, read_also=()):
        self.root = Path(root)
        self.read_also = tuple(Store(r) for r in read_also if Path(r).resolve() != self.root.resolve())

    def check_writable(self) -> None:
        """Raise ValueError (one line) unless the store folder can be created and written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-"):
                pass
        except OSError as e:
            raise ValueError(f"--store must be a folder that can be written, got {str(self.root)!r} "
                             f"({e.strerror or e})") from None

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str):
        """The stored result, or None when the entry is missing, partial or corrupted."""
        return self.load(key)[0]

    def load(self, key: str, u: Unit | None = None) -> tuple[dict | None, str | None]:
        """``(result, problem)``: the stored result and None; or None and None when there is no entry; or None
        and a short description of what is wrong with the entry (not JSON, as a partial write or a truncation
        leaves it; another format version; a result whose sha256 is not the recorded one; the entry of another
        unit than ``u``). A damaged entry is never used: the caller recomputes it and overwrites it. An entry
        missing or damaged here is looked for in the ``read_also`` stores."""
        result, problem = self._load_here(key, u)
        for other in self.read_also if result is None else ():
            found, other_problem = other._load_here(key, u)
            if found is not None:
                return found, None
            problem = problem or other_problem
        return result, problem

    def _load_here(self, key: str, u: Unit | None) -> tuple[dict | None, str | None]:
        p = self.path(key)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as e:
            return None, f"cannot be read ({e.strerror or e})"
        try:
            entry = json.loads(raw)
            text = entry["result"]
            if entry.get("format") != FORMAT:
                return None, f"is of format version {entry.get('format')!r} (this library reads {FORMAT})"
            if hashlib.sha256(text.encode()).hexdigest() != entry["sha256"]:
                return None, "does not match its sha256 (corrupted)"
            if u is not None and (entry["fn"], entry["config"], entry["seed"]) != (u.fn, u.config, u.seed):
                return None, "holds another unit than its key's (corrupted)"
            return decode(text), None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, "is not a whole store entry (truncated or corrupted)"

    def put(self, key: str, u: Unit, result: dict) -> None:
        text = encode(result)
        entry = {"format": FORMAT, "fn": u.fn, "config": u.config, "seed": u.seed,
                 "result": text, "sha256": hashlib.sha256(text.encode()).hexdigest()}
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(entry, f, sort_keys=True, separators=(",", ":"))
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def audit(self, prune: bool = False) -> tuple[int, list[Path]]:
        """``(current, stale)``: the number of entries whose file name is still the key of their unit under
        today's source (:func:`unit_key` of the entry's function, configuration and seed), and the paths of
        the others, which no run can read again (their source changed, or they are unreadable). ``prune``
        deletes the stale ones: after the science code changes and the paper profile is recomputed, that
        leaves the published store holding exactly the units the book reads."""
        current, stale = 0, []
        for p in sorted(self.root.glob("??/*.json")):
            try:
                entry = json.loads(p.read_text())
                ok = unit_key(Unit(entry["fn"], entry["config"], int(entry["seed"]))) == p.stem
            except (OSError, ValueError, KeyError, TypeError):
                ok = False
            if ok:
                current += 1
            else:
                stale.append(p)
        if prune:
            for p in stale:
                p.unlink()
        return current, stale


def main(argv=None) -> int:
    """``python -m mtrl_lib.book.store FOLDER [--prune]``: how many of a results store's entries are current
    under today's source, and (with ``--prune``) delete the stale ones."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m mtrl_lib.book.store", description=main.__doc__)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--prune", action="store_true", help="delete the entries that are not current")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: FOLDER must be a results store folder, got {str(args.folder)!r}", file=sys.stderr)
        return 2
    current, stale = Store(args.folder).audit(prune=args.prune)
    print(f"{args.folder}: {current} current, {len(stale)} stale"
          + (" (deleted)" if args.prune and stale else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
