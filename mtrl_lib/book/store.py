"""The results store: one small JSON file per unit, content-addressed, written atomically.

A unit's key is ``sha256(function, configuration, seed, science source digest)``: change the configuration,
the seed or any science module (everything in ``mtrl_lib`` outside ``mtrl_lib/book``) and the key changes,
so a stale result is never reused. An entry holds the unit, its result and the sha256 of the result's text;
an entry whose text does not parse or whose hash does not match (a partial or corrupted write) is treated as
missing and recomputed. Entries are written to a temporary file in the same folder and renamed into place,
so a killed run leaves either a whole entry or none.

Results are JSON: numbers, strings, lists, dicts, and numpy arrays (dtype, shape and the values, exact:
floats are written with ``repr``, which round-trips). Every result an executor returns goes through
:func:`encode` and :func:`decode`, computed or loaded alike, so a chapter sees the same objects either way
and writes the same bytes.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..units import Unit
from .chapters import ROOT

FORMAT = 1


@lru_cache(maxsize=1)
def science_digest() -> str:
    """sha256 over the science source: every ``mtrl_lib/**/*.py`` and data file outside ``mtrl_lib/book``."""
    h = hashlib.sha256()
    lib = ROOT / "mtrl_lib"
    for p in sorted(lib.rglob("*")):
        rel = p.relative_to(lib).as_posix()
        if not p.is_file() or rel.startswith("book/") or "__pycache__" in rel or p.suffix not in (".py", ".json"):
            continue
        h.update(rel.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def unit_key(u: Unit, digest: str | None = None) -> str:
    h = hashlib.sha256()
    for part in (u.fn, u.config, str(u.seed), digest or science_digest()):
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
    """A folder of unit results, ``root/ab/abcdef....json``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

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
        p = self.path(key)
        try:
            entry = json.loads(p.read_text())
            text = entry["result"]
            if entry.get("format") != FORMAT or hashlib.sha256(text.encode()).hexdigest() != entry["sha256"]:
                return None
            return decode(text)
        except (OSError, ValueError, KeyError, TypeError):
            return None

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
