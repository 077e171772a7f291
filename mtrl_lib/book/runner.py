"""Executing chapters with papermill and building the book with Jupyter Book 1.x.

``execute(chapter, params, out_dir)`` runs one parameterised notebook headless (``MTRL_STATIC=1``) into
``out_dir/CHAPTER.ipynb`` and writes ``CHAPTER.json`` (every glued scalar, sorted, nothing else, so the same
parameters give byte-identical files) and ``CHAPTER.provenance.json``. It executes into a staging folder
and moves the results into place only on success, so a failing chapter never overwrites a good one.

``build_book`` executes every chapter into ``book/chapters/``, skipping a chapter whose notebook,
parameters, profile and ``mtrl_lib`` sources are unchanged since its last successful run (the key is a
hash of all of them; Jupyter Book's own cache would miss a change to an imported module), then builds the
HTML with Jupyter Book (its own execution off, warnings as errors) beside the old ``_build/html`` and swaps
it in only when the build succeeds.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .bookcache import code_digest, refresh_prose, write_atomic
from .bookcache import read as read_notebook
from .chapters import CHAPTERS, ROOT, Chapter
from .glue import read_glued
from .cli_values import resolve, to_papermill
from .provenance import git_commit, record

BOOK = ROOT / "book"
EXECUTED = BOOK / "chapters"
BUILD = ROOT / "_build"


# The kernel's own log (its "running over TCP without encryption" warning on start, "KeyboardInterrupt caught"
# at ERROR level when papermill interrupts it after a failing cell) goes to the terminal of `run` and `book`
# and says nothing to the reader, who gets the chapter's one line: critical messages only.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


class ChapterFailed(RuntimeError):
    """A chapter's notebook raised; the message names the chapter, the cell and the error."""


@dataclass
class Outcome:
    chapter: str
    status: str          # "executed", "cached" or "failed"
    seconds: float
    message: str = ""


def _source_digest() -> str:
    """sha256 over the library's code, as the store keys see code: every module of ``mtrl_lib`` (publishing
    included: a chapter's glue and figures run there) as a canonical syntax tree, so comments, docstrings and
    layout do not count, and the bytes of the compiled draw's C source and the data files
    (:func:`mtrl_lib.book.codekeys.package_digest`)."""
    from .codekeys import package_digest

    return package_digest(ROOT)


def cache_key(chapter: Chapter, params: dict, profile: str) -> str:
    """Hash of everything a chapter's output depends on: the notebook's code (its prose is refreshed without
    executing, see :mod:`mtrl_lib.book.bookcache`), parameters, profile, library source."""
    h = hashlib.sha256()
    h.update(code_digest(read_notebook(chapter.notebook)).encode())
    h.update(json.dumps(params, sort_keys=True).encode())
    h.update(profile.encode())
    h.update(_source_digest().encode())
    return h.hexdigest()


def _tidy(nb_path: Path) -> None:
    """Hide the parameters cells in the rendered page (the chapter prints the values it ran with), and drop
    saved widget state: the book shows the explorers' static figures, and widget state would make myst-nb
    load the widget manager from a CDN, which an offline reader cannot reach."""
    nb = nbformat.read(nb_path, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, nb_path)


def _failure_message(chapter: Chapter, err: Exception) -> str:
    """One line: the chapter, the failing cell (its index in the source notebook, counting from 0, and its
    first line) and the error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        # papermill inserts its injected-parameters cell right after the `parameters` cell: map back.
        src = nbformat.read(chapter.notebook, as_version=4)
        p = next((i for i, c in enumerate(src.cells) if "parameters" in c.metadata.get("tags", [])), None)
        index = err.cell_index - 1 if p is not None and err.cell_index > p else err.cell_index
        first = next((ln for ln in err.source.splitlines() if ln.strip()), "")
        return (f"chapter {chapter.name} failed in cell {index} of notebooks/{chapter.notebook.name} "
                f"(starting `{first.strip()[:80]}`): {err.ename}: {' '.join(str(err.evalue).split())}")
    return f"chapter {chapter.name} failed: {type(err).__name__}: {err}"


def execute(chapter: Chapter, params, out_dir: Path, profile: str = "quick", progress: bool = False,
            threads: int | None = None, scheduler: str | None = None, store: Path | None = None,
            read_also: tuple = ()) -> dict:
    """Execute ``chapter`` with validated ``params`` (its ``Params``) into ``out_dir``; return the glued values.

    ``scheduler``: a Dask scheduler address for the chapter's units (None: in-process); ``store``: the results
    store folder (None: no store), ``read_also``: stores read after it and never written. They reach the kernel through the environment
    (:func:`mtrl_lib.book.executors.from_environment`), and the provenance record gets ``units_total``,
    ``units_from_store`` and the executor. Raises :class:`ChapterFailed` (previous results in ``out_dir``
    untouched) if the notebook raises; on Ctrl-C the staging files are removed and KeyboardInterrupt goes on."""
    import papermill as pm

    from .executors import ENV_DIGEST, ENV_LOG, ENV_SCHEDULER, ENV_STORE, ENV_STORE_READ
    from .store import science_digest

    out_dir = Path(out_dir)
    staging = out_dir / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    nb_params = to_papermill(params)
    units_log = staging / f"{chapter.name}.units.json"
    units_log.unlink(missing_ok=True)
    env = {"MTRL_STATIC": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1", ENV_LOG: str(units_log.resolve()),
           ENV_SCHEDULER: scheduler or "", ENV_STORE: str(Path(store).resolve()) if store else "",
           ENV_STORE_READ: os.pathsep.join(str(Path(r).resolve()) for r in read_also),
           # the kernel must compute (and key the store) with this checkout's science source
           ENV_DIGEST: science_digest(),
           # ipykernel's "running over TCP without encryption" and debugger notices are not the reader's concern
           "PYTHONWARNINGS": "ignore"}
    if threads:
        env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    if "OMP_WAIT_POLICY" not in os.environ:
        # idle OpenMP threads sleep rather than spin: on a busy machine (or with --jobs) spinning threads
        # steal the time slices of the working ones and every parallel op slows down many times over
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    commit = git_commit()
    start = time.perf_counter()
    tmp = staging / f"{chapter.name}.ipynb"
    try:
        with _quiet_kernel_logs():
            pm.execute_notebook(str(chapter.notebook), str(tmp), parameters=nb_params, kernel_name="python3",
                                cwd=str(chapter.notebook.parent), progress_bar=progress, log_output=False,
                                extra_arguments=KERNEL_ARGS)
    except KeyboardInterrupt:
        _clean_staging(staging, chapter.name)
        raise
    except Exception as e:  # papermill raises PapermillExecutionError, or kernel errors
        _clean_staging(staging, chapter.name)
        raise ChapterFailed(_failure_message(chapter, e)) from None
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wall = time.perf_counter() - start
    _tidy(tmp)
    try:
        glued = read_glued(nbformat.read(tmp, as_version=4))
    except ValueError as e:
        _clean_staging(staging, chapter.name)
        raise ChapterFailed(f"chapter {chapter.name} failed: {e}") from None
    (staging / f"{chapter.name}.json").write_text(json.dumps(glued, indent=2, sort_keys=True) + "\n")
    rec = record(chapter.name, profile, nb_params, wall, commit)
    units = json.loads(units_log.read_text()) if units_log.exists() else {}
    for line in units.get("warnings", []):       # damaged store entries, recomputed: the reader should know
        print(f"{chapter.name}: {line}", file=sys.stderr)
    rec["units_total"] = units.get("units_total", 0)
    rec["units_from_store"] = units.get("units_from_store", 0)
    rec["executor"] = ({"kind": "dask", "scheduler": scheduler, "workers": units.get("workers")} if scheduler
                       else {"kind": "in-process"})
    rec["store"] = str(store) if store else None
    rec["store_read_also"] = [str(r) for r in read_also]
    units_log.unlink(missing_ok=True)
    (staging / f"{chapter.name}.provenance.json").write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    # the store keys the chapter read or computed: make publish keeps exactly these in the published store
    (staging / f"{chapter.name}.keys.json").write_text(json.dumps(units.get("keys", [])) + "\n")
    for suffix in (".ipynb", ".json", ".provenance.json", ".keys.json"):
        os.replace(staging / f"{chapter.name}{suffix}", out_dir / f"{chapter.name}{suffix}")
    return glued


def _clean_staging(staging: Path, name: str) -> None:
    """Remove a chapter's partial files from the staging folder (and the folder, when empty)."""
    for p in staging.glob(f"{name}.*"):
        p.unlink(missing_ok=True)
    try:
        staging.rmdir()
    except OSError:
        pass


class _quiet_kernel_logs:
    """Silence the kernel-manager loggers while papermill runs: jupyter_client and nbclient log the kernel's
    shutdown ("KeyboardInterrupt caught", kernel restarts) on stderr, which says nothing to the reader."""

    NAMES = ("papermill", "nbclient", "jupyter_client", "traitlets", "asyncio")

    def __enter__(self):
        import logging

        self.old = {n: logging.getLogger(n).level for n in self.NAMES}
        for n in self.NAMES:
            logging.getLogger(n).setLevel(logging.CRITICAL)

    def __exit__(self, *exc):
        import logging

        for n, level in self.old.items():
            logging.getLogger(n).setLevel(level)
        return False


def _up_to_date(name: str, profile: str) -> tuple[bool, str]:
    """Whether chapter ``name``'s results in ``book/chapters`` are current (refreshing their prose if only
    that changed), and its cache key."""
    from .chapters import get_chapter

    chapter = get_chapter(name)
    key = cache_key(chapter, to_papermill(resolve(chapter, profile, {})), profile)
    key_file = EXECUTED / ".cache" / f"{name}.key"
    outputs = [EXECUTED / f"{name}{suffix}" for suffix in (".ipynb", ".json", ".provenance.json")]
    fresh = key_file.exists() and key_file.read_text() == key and all(p.exists() for p in outputs)
    return fresh and refresh_prose(chapter.notebook, outputs[0]), key


def _execute_for_book(name: str, profile: str, threads: int, scheduler: str | None = None,
                      store: Path | None = None, read_also: tuple = ()) -> Outcome:
    """Worker for one chapter of ``book`` (runs in its own process when ``--jobs`` > 1)."""
    from .chapters import get_chapter

    fresh, key = _up_to_date(name, profile)
    if fresh:
        return Outcome(name, "cached", 0.0)
    chapter = get_chapter(name)
    params = resolve(chapter, profile, {})
    key_file = EXECUTED / ".cache" / f"{name}.key"
    start = time.perf_counter()
    try:
        execute(chapter, params, EXECUTED, profile, threads=threads, scheduler=scheduler, store=store,
                read_also=read_also)
    except ChapterFailed as e:
        return Outcome(name, "failed", time.perf_counter() - start, str(e))
    # Written after the results are in place: a crash in between costs a re-run, never a stale skip.
    write_atomic(key_file, key)
    return Outcome(name, "executed", time.perf_counter() - start)


def execute_all(profile: str = "quick", jobs: int = 1, chapters: tuple[Chapter, ...] = CHAPTERS,
                log=print, scheduler: str | None = None, store: Path | None = None,
                read_also: tuple = ()) -> list[Outcome]:
    """Execute (or skip, when unchanged) every chapter; ``jobs`` chapters at a time, each in its own kernel.
    A tqdm bar on stderr shows chapter i of N, the elapsed time and an estimate of the rest."""
    from tqdm import tqdm

    EXECUTED.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in chapters]
    # Threads per kernel from the chapters that will really run: one stale chapter under --jobs 2 gets
    # every core, not half of them.
    pending = [n for n in names if not _up_to_date(n, profile)[0]]
    threads = max(1, (os.cpu_count() or 1) // max(1, min(jobs, len(pending))))
    outcomes = []
    bar = tqdm(total=len(names), desc=f"book ({profile})", unit="chapter", file=sys.stderr,
               bar_format="{desc}: chapter {n_fmt}/{total_fmt} [{elapsed} elapsed, {remaining} left] {postfix}")

    def done(o):
        outcomes.append(o)
        bar.set_postfix_str("", refresh=False)
        bar.update()
        bar.clear()
        log(_describe(o))

    if jobs == 1:
        for n in names:
            bar.set_postfix_str(f"running {n}")
            done(_execute_for_book(n, profile, threads, scheduler, store, read_also))
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint) as pool:
            bar.set_postfix_str(f"running {jobs} at a time")
            futures = [pool.submit(_execute_for_book, n, profile, threads, scheduler, store, read_also)
                       for n in names]
            for f in futures:
                done(f.result())
    bar.set_postfix_str("")
    bar.close()
    return outcomes


def _ignore_sigint():
    """In ``--jobs`` workers: Ctrl-C is the parent's to handle (it ends the workers itself)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _describe(o: Outcome) -> str:
    if o.status == "failed":
        return f"FAILED  {o.message}"
    return f"{o.status:8s} {o.chapter} ({o.seconds:.1f} s)"


MATHJAX_PARTS = ("tex-chtml.js", "input", "output", "ui", "a11y", "adaptors")


def install_mathjax() -> Path:
    """Copy MathJax 3 (from the pinned PyPI package django-static-mathjax) into ``book/_extra/mathjax``, so
    the built book typesets its math with no internet access. ``_config.yml`` points ``mathjax_path`` there;
    it is an ``html_extra_path`` (copied as is), not ``_static``, whose every .js Jupyter Book would load.)"""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise ChapterFailed("MathJax is missing: pip install -r requirements.txt (django-static-mathjax)")
    src = Path(spec.submodule_search_locations[0]) / "static" / "mathjax" / "es5"
    dest = BOOK / "_extra" / "mathjax"
    if not (dest / "tex-chtml.js").exists():
        dest.mkdir(parents=True, exist_ok=True)
        for part in MATHJAX_PARTS:
            (shutil.copytree if (src / part).is_dir() else shutil.copy2)(src / part, dest / part)
    return dest


def chapter_link(c: Chapter) -> str:
    """``chapter N`` linked to the chapter's page (for the generated pages, which sit beside the chapters)."""
    number = CHAPTERS.index(c) + 1
    return f"{{doc}}`chapter {number} <chapters/{c.name}>`"


def write_provenance_page() -> Path:
    """``book/_generated/provenance.md``: per chapter, what produced its numbers (from the provenance records
    the runner wrote beside each executed chapter). Included by ``book/provenance.md``."""
    out = BOOK / "_generated" / "provenance.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, c in enumerate(CHAPTERS, start=1):
        lines += [f"## {i}. {c.title} ({c.claim})", ""]
        f = EXECUTED / f"{c.name}.provenance.json"
        if not f.exists():
            lines += ["Not executed yet.", ""]
            continue
        rec = json.loads(f.read_text())
        sw = rec["software"]
        params = ", ".join(f"`{k}={v}`" for k, v in rec["parameters"].items())
        seeds = ", ".join(f"`{k}={v}`" for k, v in rec["seeds"].items()) or "none"
        lines += [
            f"{chapter_link(c)}, executed from `notebooks/{c.name}.ipynb`:", "",
            "| record | value |", "|---|---|",
            f"| profile | `{rec['profile']}` |",
            f"| seeds | {seeds} |",
            f"| wall time | {rec['wall_time_s']:.1f} s |",
            f"| library | `mtrl_lib` {sw['mtrl_lib']} at commit `{rec['git_commit']}` |",
            f"| Python / torch / numpy | {sw['python']} / {sw['torch']} / {sw['numpy']} |",
            f"| device | `{rec['device']}` |",
            f"| platform | `{sw['platform']}` |", "",
            f"Parameters: {params}", "",
        ]
    out.write_text("\n".join(lines) + "\n")
    write_timings_table()
    return out


PROFILE_NOTE = {
    "quick": ("These are the `quick` profile's numbers (small sizes and seed counts, the whole book in minutes); "
              "{doc}`paper_scale` gives the same tables at the `paper` profile's larger scale and seed count, from "
              "results published with the project."),
    "paper": ("These are the `paper` profile's numbers (the full scale and seed count), computed from the results "
              "published with the project; {doc}`paper_scale` gives the same tables with when and how each "
              "chapter's results were computed."),
}


def write_profile_note() -> Path:
    """``book/_generated/profile_note.md``, included by the intro: which profile the book's numbers come from
    (read from the executed chapters' provenance records, so that the quick book and the paper book each say
    their own)."""
    out = BOOK / "_generated" / "profile_note.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    profiles = set()
    for c in CHAPTERS:
        f = EXECUTED / f"{c.name}.provenance.json"
        if f.exists():
            profiles.add(json.loads(f.read_text())["profile"])
    if len(profiles) == 1 and next(iter(profiles)) in PROFILE_NOTE:
        text = PROFILE_NOTE[next(iter(profiles))]
    else:
        text = ("The chapters of this build were executed with different profiles (" + ", ".join(sorted(profiles))
                + "); each chapter's Provenance record says which.")
    out.write_text(text + "\n")
    return out


def write_timings_table() -> Path:
    """``book/_generated/timings.md``: how long each chapter took in the run that produced this book."""
    out = BOOK / "_generated" / "timings.md"
    rows, total = ["| chapter | claim | profile | wall time | device |", "|---|---|---|---|---|"], 0.0
    for c in CHAPTERS:
        f = EXECUTED / f"{c.name}.provenance.json"
        if f.exists():
            rec = json.loads(f.read_text())
            total += rec["wall_time_s"]
            rows.append(f"| {chapter_link(c)} | {c.claim} | `{rec['profile']}` | {rec['wall_time_s']:.0f} s | "
                        f"`{rec['device']}` |")
        else:
            rows.append(f"| {chapter_link(c)} | {c.claim} | | not executed yet | |")
    rows.append(f"| **all chapters** | | | **{total:.0f} s** | |")
    out.write_text("\n".join(rows) + "\n")
    return out


def write_performance_placeholder() -> Path:
    """``book/_generated/performance.md``, included by ``book/performance.md``: written by
    ``python -m mtrl_lib bench``; a "not measured yet" placeholder when the bench never ran."""
    from .bench import ensure_page

    return ensure_page(BOOK / "_generated" / "performance.md")


def build_html(log=print, final: Path | None = None, env: dict | None = None, complete_paper_page: bool = False
               ) -> Path:
    """Build the HTML with Jupyter Book beside the current ``_build/html`` (or ``final``); swap it in only on
    success. ``env``: extra environment for the build (``make site`` passes the other book's and the PDF's paths
    to ``book/_ext/mtrl_links.py``). Logs one line about the repository links (``GITHUB_REPOSITORY``).
    ``complete_paper_page`` (``make site``, ``make publish``): raise
    :class:`mtrl_lib.book.paper_scale.IncompletePage` (one line), before writing anything, when the page At paper
    scale would show a value as not computed; a plain build writes it and logs that line."""
    from . import citation, repository
    from .paper_scale import incomplete_line, load, write_page

    write_page(strict=complete_paper_page)           # first: a refusal writes nothing
    gaps = incomplete_line(load(), (BOOK / "intro.md").read_text())
    if gaps:
        log(f"warning: {gaps} (make publish recomputes them)")
    repo = repository.repository()
    log(repository.status_line(repo))
    install_mathjax()
    write_provenance_page()
    write_profile_note()
    write_performance_placeholder()
    citation.write_page(repo=repo)
    repository.write_get_the_code(BOOK / "_generated" / "get_the_code.md", repo)
    staging = BUILD / ".staging"
    if staging.exists():
        shutil.rmtree(staging)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(BOOK), "--config", str(ROOT / "_config.yml"),
           "--toc", str(BOOK / "_toc.yml"), "--path-output", str(staging), "-W", "--keep-going", "-q"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    new = staging / "_build" / "html"
    if proc.returncode != 0 or not (new / "index.html").exists():
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        # Sphinx's warnings (each fails the build) say what is wrong; the traceback after them does not.
        tail = "\n".join([ln for ln in lines if "WARNING" in ln or "ERROR" in ln or "Error" in ln][:30]
                         or lines[-30:])
        raise ChapterFailed(f"the Jupyter Book build failed (previous _build/html left in place):\n{tail}")
    final = Path(final) if final is not None else BUILD / "html"
    old = final.with_name(f".{final.name}-old")
    final.parent.mkdir(parents=True, exist_ok=True)
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    return final
