"""The results store: one small JSON file per unit, content-addressed, written atomically.

A unit's key is ``sha256(function, configuration, seed, code digest)``. The code digest
(:mod:`mtrl_lib.book.codekeys`) covers exactly the code the unit's function can run: the definitions it
reaches through names and module attributes (with whole-module fall-backs where a name cannot be resolved
statically), the harness that runs every unit (``mtrl_lib.units.call``), the C source of a reached compiled
module and the data files that reached code names, each as a canonical syntax tree without comments,
docstrings or layout (:mod:`mtrl_lib.book.canonical_ast`). Change the configuration, the seed or any code the
unit can run and the key changes, so a stale result is never reused; a docstring, a comment, or code that no
unit runs (a chapter's analysis, its prose numbers, its plots) leaves every key as it is.

An entry holds the unit, its result, the sha256 of the result's text, and the toolchain that computed it
with its own sha256 (:func:`toolchain`: Python, torch, numpy, scipy, scikit-learn and the compiled draw's build), which the keys do
not cover: :func:`toolchain_note` says in one line when the running toolchain differs from a store's. An entry
whose text does not parse or whose hash does not match (a partial or corrupted write) is treated as missing and
recomputed. Entries are written to a temporary file in the same folder and renamed into place, so a killed run
leaves either a whole entry or none.

Results are JSON: numbers, strings, lists, dicts, and numpy arrays (dtype, shape and the values, exact:
floats are written with ``repr``, which round-trips). Every result an executor returns goes through
:func:`encode` and :func:`decode`, computed or loaded alike, so a chapter sees the same objects either way
and writes the same bytes.

``python -m mtrl_lib.book.store FOLDER`` counts current and stale entries; ``migrate`` and ``rekey`` move
entries to new keys (``python -m mtrl_lib.book.rekey``); ``seal`` adds the toolchain's sha256 to entries written
without one.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..units import Unit
from . import codekeys
from .chapters import ROOT

FORMAT = 1


@lru_cache(maxsize=1)
def science_digest() -> str:
    """sha256 over the whole science code (every module of ``mtrl_lib`` outside ``mtrl_lib/book`` as a
    canonical syntax tree, and its data and C files): what a Dask worker and a notebook kernel must share with
    the checkout that runs a chapter, and what published figures name as the code they were computed with.
    A unit's key uses the finer :func:`unit_digest`."""
    return codekeys.package_digest(ROOT, include_publishing=False)


def unit_digest(fn: str) -> str:
    """The code digest of unit function ``fn`` (``"module:name"``) in this checkout:
    :func:`mtrl_lib.book.codekeys.code_digest`."""
    return codekeys.code_digest(fn, ROOT)


def unit_key(u: Unit, digest: str | None = None) -> str:
    """The store key of ``u``: sha256 of its function, configuration, seed and code digest (default
    :func:`unit_digest` of its function)."""
    h = hashlib.sha256()
    for part in (u.fn, u.config, str(u.seed), digest or unit_digest(u.fn)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


@lru_cache(maxsize=1)
def toolchain() -> dict:
    """What computed a unit here, beyond the code its key covers: the Python, torch, numpy, scipy and
    scikit-learn versions, and the build of the compiled Gaussian draw (sha256 of the extension's file: the
    compiler and its flags decide its bytes)."""
    import platform

    import scipy
    import sklearn
    import torch

    from .. import _normal

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
            "normal_build": hashlib.sha256(Path(_normal.__file__).read_bytes()).hexdigest()[:16]}


def _write_entry(p: Path, entry: dict) -> None:
    """Write ``entry`` to ``p`` atomically: a temporary file in the same folder, renamed into place (a killed
    write leaves the old entry or none, never part of one)."""
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f, sort_keys=True, separators=(",", ":"))
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _toolchain_sha256(tools) -> str:
    """The sha256 of a toolchain record, as an entry stores it (so a damaged toolchain is caught like a
    damaged result)."""
    return hashlib.sha256(json.dumps(tools, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def toolchain_note(root: Path | str, here: dict | None = None) -> str | None:
    """One line when the toolchain of the entries in store ``root`` is not the running one (or is not
    recorded), else None."""
    here = here or toolchain()
    seen: Counter = Counter()
    n = 0
    for p in Path(root).glob("??/*.json"):
        try:
            tc = json.loads(p.read_text()).get("toolchain")
        except (OSError, ValueError):
            continue
        n += 1
        seen[json.dumps(tc, sort_keys=True) if tc else ""] += 1
    if not n:
        return None
    unrecorded = seen.pop("", 0)
    differ: Counter = Counter()
    for text, count in seen.items():
        for k, v in json.loads(text).items():
            if here.get(k) != v:
                differ[f"{k} {v}"] += count
    if not differ and not unrecorded:
        return None
    mine = ", ".join(f"{k} {v}" for k, v in here.items())
    parts = []
    if differ:
        parts.append("entries computed with another toolchain: " + ", ".join(
            f"{name} ({count})" for name, count in sorted(differ.items()))
            + " (results may differ in the last bits; verify then reports 'close')")
    if unrecorded:
        parts.append(f"{unrecorded} of {n} entries record no toolchain (computed before toolchains were recorded)")
    return f"toolchain of {root}: " + "; ".join(parts) + f"; this machine runs {mine}"


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

    def seal(self) -> int:
        """Add the toolchain's sha256 to every entry that records a toolchain without one (entries written
        before the checksum covered the toolchain), after checking the result's own sha256; returns how many
        were sealed. Entries that record no toolchain, or are damaged, are left as they are."""
        sealed = 0
        for p in sorted(self.root.glob("??/*.json")):
            try:
                entry = json.loads(p.read_bytes())
                ok = hashlib.sha256(entry["result"].encode()).hexdigest() == entry["sha256"]
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
            if not ok or "toolchain" not in entry or "toolchain_sha256" in entry:
                continue
            entry["toolchain_sha256"] = _toolchain_sha256(entry["toolchain"])
            _write_entry(p, entry)
            sealed += 1
        return sealed

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
            if ("toolchain" in entry or "toolchain_sha256" in entry) and (
                    _toolchain_sha256(entry.get("toolchain")) != entry.get("toolchain_sha256")):
                return None, "does not match its toolchain's sha256 (corrupted, or not sealed: store seal)"
            if u is not None and (entry["fn"], entry["config"], entry["seed"]) != (u.fn, u.config, u.seed):
                return None, "holds another unit than its key's (corrupted)"
            return decode(text), None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, "is not a whole store entry (truncated or corrupted)"

    def put(self, key: str, u: Unit, result: dict, tools: dict | None = None) -> None:
        """Write the entry of ``u`` at ``key``, with the toolchain that computed it (``tools``; default this
        process's, :func:`toolchain`)."""
        text = encode(result)
        tools = tools if tools is not None else toolchain()
        entry = {"format": FORMAT, "fn": u.fn, "config": u.config, "seed": u.seed,
                 "result": text, "sha256": hashlib.sha256(text.encode()).hexdigest(),
                 "toolchain": tools, "toolchain_sha256": _toolchain_sha256(tools)}
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        _write_entry(p, entry)

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
    under today's code, and (with ``--prune``) delete the stale ones; ``... store seal FOLDER`` adds the
    toolchain's sha256 to entries written without one. Moving entries to new keys is
    ``python -m mtrl_lib.book.rekey migrate|rekey FOLDER --from REV`` (:mod:`.rekey`, which imports this module)."""
    import argparse

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("migrate", "rekey"):
        # rekey imports this module (and verify, which imports it too): its command line lives there
        print(f"error: {argv[0]} is python -m mtrl_lib.book.rekey {argv[0]} FOLDER --from REV", file=sys.stderr)
        return 2
    if argv and argv[0] == "seal":
        ap = argparse.ArgumentParser(prog="python -m mtrl_lib.book.store seal", description=Store.seal.__doc__)
        ap.add_argument("folder", type=Path)
        args = ap.parse_args(argv[1:])
        if not args.folder.is_dir():
            print(f"error: FOLDER must be a results store folder, got {str(args.folder)!r}", file=sys.stderr)
            return 2
        print(f"{args.folder}: {Store(args.folder).seal()} entries sealed")
        return 0
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
    if stale and not args.prune:
        per_fn = Counter()
        for p in stale:
            try:
                per_fn[json.loads(p.read_text())["fn"]] += 1
            except (OSError, ValueError, KeyError):
                per_fn["(unreadable)"] += 1
        for fn, n in sorted(per_fn.items()):
            print(f"  stale: {n:5d}  {fn}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
