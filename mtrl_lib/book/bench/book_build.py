"""``rebuild_ratio`` and ``jobs_ratio``: cold, parallel and prose-only rebuilds of the book, in a temporary copy
of the working tree (never this tree's ``book/`` or ``_build/``); ``--quick`` replaces the chapters by stubs."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..chapters import ROOT


def _tree_files(skip_also: tuple = ()) -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                             check=True)
        files = [f for f in out.stdout.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file()]
    skip = ("_build/", "book/chapters/", "book/_generated/", "book/_extra/", "results/", ".venv/", ".git/",
            *skip_also)
    return [f for f in files if not f.startswith(skip) and "__pycache__" not in f and (ROOT / f).is_file()]


def copy_tree(dest: Path, committed: bool = False, skip: tuple = ()) -> Path:
    """A copy of the working tree (tracked and untracked, not ignored files) without any built output but the
    compiled draw (``mtrl_lib/_normal*.so``); with ``committed``, of the last commit instead (``git archive
    HEAD``), e.g. while the tree is mid-edit. ``skip``: path prefixes left out of a working-tree copy (e.g.
    ``("published/paper-results/",)`` for a copy that builds only the quick book)."""
    if committed:
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    else:
        for f in _tree_files(tuple(skip)):
            target = dest / f
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, target)
    # the compiled draw is a build product (ignored by git), and the copy runs its own library: bring it along
    for built in (ROOT / "mtrl_lib").glob("_normal*.so"):
        shutil.copy2(built, dest / "mtrl_lib" / built.name)
    return dest


def _chapter_names(tree: Path) -> list[str]:
    """The chapters of the copy ``tree`` (its chapter list may differ from this process's)."""
    code = "import json; from mtrl_lib.book.chapters import CHAPTERS; print(json.dumps([c.name for c in CHAPTERS]))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def stub_chapters(tree: Path, chapters: list[str]) -> None:
    """The quick version: each chapter notebook keeps its title and parameters cells and computes nothing;
    the table of contents keeps the chapters and a stub front page (other pages quote the real chapters)."""
    import nbformat
    import yaml

    for name in chapters:
        path = tree / "notebooks" / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        title = next(x for x in nb.cells if x.cell_type == "markdown")
        title.source = title.source.splitlines()[0]      # the heading only: the rest may quote glued values
        params = next(x for x in nb.cells if "parameters" in x.metadata.get("tags", []))
        code = nbformat.v4.new_code_cell("print('stub chapter for the benchmark')")
        code["id"] = "bench-stub"
        nb.cells = [title, params, code]
        nbformat.write(nb, path)
    toc_path = tree / "book" / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())

    def keep(entries):
        out = []
        for e in entries or []:
            if "file" in e and str(e["file"]).startswith("chapters/"):
                out.append({"file": e["file"]})
            elif "chapters" in e:
                sub = keep(e["chapters"])
                if sub:
                    out.append({**e, "chapters": sub})
        return out

    if "parts" in toc:
        toc["parts"] = [p for p in ({**p, "chapters": keep(p.get("chapters"))} for p in toc["parts"]) if p["chapters"]]
    else:
        toc["chapters"] = keep(toc.get("chapters"))
    toc_path.write_text(yaml.safe_dump(toc, sort_keys=False))
    (tree / "book" / f"{toc['root']}.md").write_text("# Benchmark stub book\n\nChapters replaced by stubs.\n")


def edit_prose(tree: Path, name: str) -> str:
    """Append a sentence to the last markdown cell of chapter ``name`` (a prose-only change)."""
    import nbformat

    path = tree / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = [x for x in nb.cells if x.cell_type == "markdown"][-1]
    cell.source += "\n\nThis sentence was added by the benchmark to time a prose-only rebuild."
    nbformat.write(nb, path)
    return name


def run_book(tree: Path, jobs: int, timeout: float) -> dict:
    """``python -m mtrl_lib book --jobs N`` in ``tree`` (its own library on the path, kernels included)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "book", "--jobs", str(jobs)], cwd=tree, env=env,
                         capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"book --jobs {jobs} failed in the benchmark copy:\n{(out.stdout + out.stderr)[-3000:]}")
    status = re.findall(r"^(executed|cached)\s+(\S+)", out.stdout, flags=re.M)
    return {"seconds": seconds, "executed": sorted(n for s, n in status if s == "executed"),
            "cached": sorted(n for s, n in status if s == "cached")}


def bench_book(quick: bool, committed: bool = False, timeout: float = 3600) -> dict:
    """``rebuild_ratio`` and ``jobs_ratio`` in a temporary copy of this tree.

    Cold builds in the order ``--jobs 2``, ``--jobs 1`` (quick) or ``2, 1, 1, 2`` (full: a drift of the machine's
    load during the run then hits both alike; the means are compared), each from an empty ``book/chapters``
    and ``_build``; then a prose-only edit and ``book`` (the rebuild, against the mean cold ``--jobs 1``), then
    ``book --jobs 2`` again, which must execute nothing (the cache is valid after a parallel build)."""
    with tempfile.TemporaryDirectory(prefix="mtrl-bench-") as tmp:
        tree = copy_tree(Path(tmp) / "tree", committed)
        chapters = _chapter_names(tree)
        if quick:
            stub_chapters(tree, chapters)
        # compile once and load the heavy packages once, so that the first cold run does not pay alone for
        # bytecode and a cold disk cache
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "mtrl_lib")], capture_output=True)
        subprocess.run([sys.executable, "-c", "import torch, matplotlib.pyplot, papermill, sphinx, myst_nb, "
                        "jupyter_book, ipykernel"], capture_output=True)

        def cold(jobs):
            for p in ("_build", "book/chapters", "book/_generated", "book/_extra"):
                shutil.rmtree(tree / p, ignore_errors=True)
            return run_book(tree, jobs, timeout)

        runs = {1: [], 2: []}
        for jobs in ((2, 1) if quick else (2, 1, 1, 2)):
            runs[jobs].append(cold(jobs))
        edited = edit_prose(tree, chapters[0])
        rebuild = run_book(tree, 1, timeout)
        again2 = run_book(tree, 2, timeout)
        html = (tree / "_build" / "html" / "chapters" / f"{edited}.html")
        prose_in_html = html.exists() and "added by the benchmark" in html.read_text()
    mean = {j: sum(r["seconds"] for r in runs[j]) / len(runs[j]) for j in runs}
    return {
        "rebuild_ratio": rebuild["seconds"] / mean[1], "jobs_ratio": mean[2] / mean[1],
        "cold_jobs1_s": mean[1], "cold_jobs2_s": mean[2], "rebuild_s": rebuild["seconds"],
        "cold_jobs1_runs_s": [r["seconds"] for r in runs[1]], "cold_jobs2_runs_s": [r["seconds"] for r in runs[2]],
        "rebuild_executed": rebuild["executed"], "rebuild_prose_in_html": prose_in_html,
        "second_jobs2_executed": again2["executed"], "chapters": chapters, "stub_chapters": quick,
        "source": "last commit" if committed else "working tree",
        "cold_executed": sorted({n for j in runs for r in runs[j] for n in r["executed"]}),
    }
