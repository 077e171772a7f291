"""``make site``: the online book, with the paper-scale book at its root and the quick book under ``quick/``.

``python -m mtrl_lib.book.site [--jobs N]`` writes ``_build/site/``:

* ``index.html`` ...: the **paper** profile's book, executed from the published results
  (``published/paper-results/``) and nothing else. It computes no paper-scale unit: its chapters run with the
  store in read-only, store-only mode (``MTRL_STORE_ONLY``, :class:`mtrl_lib.book.executors.MissingUnits`), so
  a chapter that needs a unit the published store lacks stops before computing anything, and the command stops
  with one line naming each such chapter and how many units it lacks, and saying to run ``make publish``.
* ``book.pdf``: that book as one PDF (:mod:`mtrl_lib.book.pdf`), linked from every page's download menu.
* ``quick/``: the **quick** profile's book (the units it lacks are computed into ``_build/store``, as
  ``make book`` does).

A site whose page At paper scale would show a value as not computed (``published/paper-scale.json`` older than
the intro or the chapters) is not built either: one line names the values and says to run ``make publish``.
Every page links to the same page in the other profile's book. Both books are built beside the current
``_build/site`` and swapped in only when everything succeeded. It changes no tracked file: the executed chapters
live in ``book/chapters/`` (ignored by git), which holds one profile at a time, so each profile's executed chapters
are kept under ``_build/site-work/PROFILE/`` between builds and swapped into ``book/chapters/`` while that profile
builds (the quick chapters of a ``make book`` are used in place); ``book/chapters/`` holds what it held before
when the command ends. The paper book never reuses chapters that a ``make book PROFILE=paper`` executed, since
those may hold units computed locally rather than published. Exit status: 0 built; 1 a chapter or a build failed,
or the published store lacks units; 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .chapters import CHAPTERS, ROOT

BUILD = ROOT / "_build"
SITE = BUILD / "site"
WORK = BUILD / "site-work"
STASH = WORK / ".stash"
EXECUTED = ROOT / "book" / "chapters"
PUBLISHED = ROOT / "published" / "paper-results"
LOCAL_STORE = BUILD / "store"
QUICK = "quick"                  # the quick book's folder inside the site
PDF = "book.pdf"                 # the paper book's PDF, at the site's root
MISSING = re.compile(r"MissingUnits: (\d+) of the (\d+) units")


class SiteFailed(RuntimeError):
    """The site was not built (one line, or a chapter's failure lines); ``_build/site`` is unchanged."""


def executed_profile(folder: Path = EXECUTED) -> str | None:
    """The profile the chapters in ``folder`` were executed with (None when it holds none)."""
    for c in CHAPTERS:
        f = folder / f"{c.name}.provenance.json"
        if f.exists():
            return json.loads(f.read_text()).get("profile")
    return None


def recover() -> None:
    """Undo the swap of a site build that was killed inside :func:`executed_for`."""
    if not STASH.exists():
        return
    if EXECUTED.exists():
        keep = WORK / (executed_profile(EXECUTED) or "unknown") / "chapters"
        shutil.rmtree(keep, ignore_errors=True)
        keep.parent.mkdir(parents=True, exist_ok=True)
        os.replace(EXECUTED, keep)
    os.replace(STASH, EXECUTED)


@contextmanager
def executed_for(profile: str, use_current: bool):
    """``book/chapters`` holds ``profile``'s executed chapters inside the block (those kept under
    ``_build/site-work/PROFILE``, or none yet); afterwards they go back there and ``book/chapters`` holds what it
    held before. ``use_current``: when ``book/chapters`` already holds ``profile``, use it in place."""
    if use_current and executed_profile() == profile:
        yield
        return
    keep = WORK / profile / "chapters"
    stashed = EXECUTED.exists()
    WORK.mkdir(parents=True, exist_ok=True)
    if stashed:
        shutil.rmtree(STASH, ignore_errors=True)
        os.replace(EXECUTED, STASH)
    if keep.exists():
        os.replace(keep, EXECUTED)
    try:
        yield
    finally:
        if EXECUTED.exists():
            shutil.rmtree(keep, ignore_errors=True)
            keep.parent.mkdir(parents=True, exist_ok=True)
            os.replace(EXECUTED, keep)
        if stashed:
            os.replace(STASH, EXECUTED)


@contextmanager
def _environ(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def refusal(outcomes, store: Path) -> str | None:
    """The one line for chapters that stopped on units the store lacks (None when none did)."""
    lacking = []
    for o in outcomes:
        m = MISSING.search(o.message) if o.status == "failed" else None
        if m:
            lacking.append(f"{o.chapter} ({m.group(1)} of the {m.group(2)} units of its first incomplete step)")
    if not lacking:
        return None
    try:
        where = store.resolve().relative_to(ROOT)
    except ValueError:
        where = store
    return (f"make site: the published store {where}/ lacks paper-scale units of chapter"
            f"{'s' if len(lacking) > 1 else ''} {'; '.join(lacking)}; make site computes none: run make publish")


def _execute(profile: str, jobs: int, log, **kw) -> None:
    from .runner import execute_all

    # a chapter that stops on a unit the published store lacks is reported once, in the refusal's one line
    outcomes = execute_all(profile, jobs, log=lambda line: None if "MissingUnits" in line else log(line), **kw)
    line = refusal(outcomes, kw["store"]) if profile == "paper" else None
    if line:
        raise SiteFailed(line)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise SiteFailed("\n".join(o.message for o in failed)
                         + f"\n{len(failed)} chapter(s) of the {profile} book failed; _build/site is unchanged")


def build_site(jobs: int = 1, published: Path = PUBLISHED, log=print, chapters=CHAPTERS) -> Path:
    """Build ``_build/site`` (see the module); raises :class:`SiteFailed`. ``chapters``: the chapters to execute
    (all of them; the tests of the refusal pass fewer, to stop sooner)."""
    from .bookcache import book_lock
    from .cli_values import resolve
    from .executors import ENV_STORE_ONLY
    from .paper_scale import IncompletePage
    from .pdf import PdfFailed, build_pdf
    from .repository import repository
    from .runner import ChapterFailed, build_html

    repository()                                        # malformed GITHUB_REPOSITORY: ValueError, before anything
    for profile in ("paper", "quick"):
        for c in CHAPTERS:
            resolve(c, profile, {})
    if not Path(published).is_dir():
        raise ValueError(f"the published store {published} is not a folder")
    start = time.perf_counter()
    staging = BUILD / ".site-staging"
    with book_lock(BUILD / ".book.lock"):
        recover()
        shutil.rmtree(staging, ignore_errors=True)
        try:
            log("make site: the paper-scale book, from the published results only")
            with executed_for("paper", use_current=False), _environ(**{ENV_STORE_ONLY: "1"}):
                _execute("paper", jobs, log, store=Path(published), read_also=(), chapters=tuple(chapters))
                build_html(log=log, final=staging, env={"MTRL_OTHER_BOOK": QUICK, "MTRL_OTHER_LABEL": "the quick book",
                                                        "MTRL_BOOK_PDF": PDF}, complete_paper_page=True)
            build_pdf(staging, staging / PDF, profile="paper", log=log)
            log("make site: the quick book")
            with executed_for("quick", use_current=True):
                _execute("quick", jobs, log, store=LOCAL_STORE, read_also=(), chapters=tuple(chapters))
                build_html(log=log, final=staging / QUICK,
                           env={"MTRL_OTHER_BOOK": "..", "MTRL_OTHER_LABEL": "the paper-scale book",
                                "MTRL_BOOK_PDF": f"../{PDF}"}, complete_paper_page=True)
        except IncompletePage as e:
            shutil.rmtree(staging, ignore_errors=True)
            raise SiteFailed(f"make site: {e}: run make publish") from None
        except (ChapterFailed, PdfFailed) as e:
            shutil.rmtree(staging, ignore_errors=True)
            raise SiteFailed(str(e)) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        old = BUILD / ".site-old"
        shutil.rmtree(old, ignore_errors=True)
        if SITE.exists():
            os.replace(SITE, old)
        os.replace(staging, SITE)
        shutil.rmtree(old, ignore_errors=True)
    log(f"make site: {SITE.relative_to(ROOT)}/ (paper-scale book, {PDF}) and {SITE.relative_to(ROOT)}/{QUICK}/ "
        f"(quick book) in {time.perf_counter() - start:.0f} s")
    return SITE


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mtrl_lib.book.site", description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1, help="chapters executed in parallel (default 1)")
    ap.add_argument("--published", type=Path, default=PUBLISHED,
                    help="the published paper-scale results the paper book is built from (default "
                         "published/paper-results; read only)")
    args = ap.parse_args(argv)
    try:
        if args.jobs < 1:
            raise ValueError(f"--jobs must be an integer >= 1, got {args.jobs}")
        build_site(args.jobs, args.published)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SiteFailed as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: make site (_build/site is unchanged; the units computed for the quick book are kept in "
              "the store)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
