"""What decides whether ``python -m mtrl_lib book`` re-executes a chapter, and the lock that keeps two book
builds in one tree from interleaving.

A chapter's cache key (:func:`mtrl_lib.book.runner.cache_key`) hashes what its *outputs* depend on: the notebook's
code (:func:`code_digest`: every code cell's source and metadata, the order and ids of all cells, the
notebook metadata), its parameters, the profile and the ``mtrl_lib`` sources. Prose is not in the key: a
change that only touches markdown cells is copied into the executed notebook by :func:`refresh_prose`
(cells matched by their ids) without executing anything, so editing a chapter's text rebuilds in seconds.
Adding, removing or reordering cells changes the key, and the chapter is executed again.

:func:`book_lock` is held by ``book`` from the first cache check to the end of the HTML build. Without it, two
builds in the same tree (two shells, a test session and a developer) would execute the same chapter into the
same staging files and could leave one build's results next to the other's cache key, so that a later build
skipped a chapter whose results were stale.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import nbformat

PROSE_TYPES = ("markdown", "raw")


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def code_digest(nb: nbformat.NotebookNode) -> str:
    """Hash of everything in a notebook that can change what executing it produces (prose excluded)."""
    h = hashlib.sha256()
    h.update(_canonical(nb.metadata))
    for cell in nb.cells:
        h.update(_canonical([cell.cell_type, cell.get("id")]))
        if cell.cell_type not in PROSE_TYPES:
            h.update(_canonical([cell.source, cell.metadata]))
    return h.hexdigest()


def prose_digest(nb: nbformat.NotebookNode) -> str:
    """Hash of the notebook's prose: source, metadata and attachments of its markdown and raw cells."""
    h = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type in PROSE_TYPES:
            h.update(_canonical([cell.get("id"), cell.source, cell.metadata, cell.get("attachments")]))
    return h.hexdigest()


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def refresh_prose(source: Path, executed: Path) -> bool:
    """Copy the prose cells of ``source`` into the executed notebook ``executed`` (matched by cell id).

    Returns True if the prose is now the same (rewriting the file only when it differed), False, changing
    nothing, if a prose cell of ``source`` has no counterpart of the same type and id
    (the caller then executes the chapter again). Writes atomically."""
    src, out = read(source), read(executed)
    if prose_digest(src) == prose_digest(out):
        return True
    by_id = {c.get("id"): c for c in out.cells if c.get("id")}
    prose = [c for c in src.cells if c.cell_type in PROSE_TYPES]
    if any(c.get("id") not in by_id or by_id[c.get("id")].cell_type != c.cell_type for c in prose):
        return False
    for c in prose:
        target = by_id[c.get("id")]
        target.source = c.source
        target.metadata = c.metadata
        if "attachments" in c:
            target["attachments"] = c["attachments"]
        else:
            target.pop("attachments", None)
    tmp = executed.with_name(f".{executed.name}.{os.getpid()}.tmp")
    nbformat.write(out, str(tmp))
    os.replace(tmp, executed)
    return True


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old or the new content, never a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def book_lock(path: Path, log=None):
    """Hold an exclusive lock on ``path`` (created if missing) for the duration of a book build; waits for
    another build in the same tree to finish first (saying so once). Released when the process exits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            (log or (lambda s: print(s, file=sys.stderr)))(
                f"another book build is running in this tree (lock {path}); waiting for it to finish")
            start = time.monotonic()
            fcntl.flock(fh, fcntl.LOCK_EX)
            (log or (lambda s: print(s, file=sys.stderr)))(f"lock acquired after {time.monotonic() - start:.0f} s")
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
