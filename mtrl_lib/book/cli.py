"""``python -m mtrl_lib``: list the chapters, run one, build the book, audit a results store, or benchmark.

Exit status: 0 success; 1 a chapter or the book build failed (named, with its cell and error);
2 bad input (unknown chapter or parameter, wrong type, out of range, an unwritable --out or --store, an
unusable --scheduler), reported in one line, no traceback, before any computation; 130 interrupted (Ctrl-C):
one line, the store keeps every finished unit, and rerunning the same command resumes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .chapters import CHAPTERS, PROFILES, ROOT, get_chapter

DEFAULT_STORE = "_build/store"
PUBLISHED_STORE = "published/paper-results"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors are bad input too: one line, status 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m mtrl_lib", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="the chapters, their claims and parameters with defaults")
    r = sub.add_parser("run", help="execute one chapter with papermill")
    r.add_argument("chapter")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    r.add_argument("--profile", default="quick", choices=PROFILES)
    r.add_argument("--out", default="results", help="output folder (default: results)")
    b = sub.add_parser("book", help="execute every chapter (skipping unchanged ones) and build the HTML")
    b.add_argument("--profile", default="quick", choices=PROFILES)
    b.add_argument("--jobs", type=int, default=1, help="chapters executed in parallel (default 1)")
    for q in (r, b):
        q.add_argument("--scheduler", default=None,
                       help="run the units on Dask: tcp://HOST:PORT, or local:N for a LocalCluster of N workers "
                            "(default: $DASK_SCHEDULER_ADDRESS if set, else in-process)")
        q.add_argument("--store", default=None,
                       help=f"results store folder (default: {DEFAULT_STORE}); finished units are reused. "
                            f"The paper profile also reads the published {PUBLISHED_STORE} (never writing it "
                            f"unless --publish)")
        q.add_argument("--publish", action="store_true",
                       help=f"paper profile only: write new units into {PUBLISHED_STORE} and (book) rewrite "
                            f"published/paper-scale.json; a plain build changes no tracked file")
    v = sub.add_parser("verify", help="recompute a random sample of a results store's units and compare bytes")
    v.add_argument("--store", default=None, type=Path,
                   help="results store folder (default: published/paper-results, the published paper results)")
    v.add_argument("--per-chapter", type=int, default=2, metavar="K", help="units sampled per chapter (default 2)")
    v.add_argument("--seed", type=int, default=None, help="seed of the sample (default: random, and printed)")
    v.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="prefer the cheapest units so that the estimated time fits; say what was skipped")
    v.add_argument("--only", nargs="+", metavar="KEY", help="check these entries (store keys or file names)")
    v.add_argument("--chapter", nargs="+", metavar="CHAPTER", default=None,
                   help="sample only the units of these chapters (default: every chapter)")
    bn = sub.add_parser("bench", help="measure the training round and the book rebuild (the Performance page)")
    bn.add_argument("--quick", action="store_true", help="small version (seconds to a minute or two)")
    bn.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    bn.add_argument("--only", nargs="+", metavar="FIGURE", help="measure only these figures")
    bn.add_argument("--committed", action="store_true", help="book figures on the last commit, not the working tree")
    bn.add_argument("--json", default=None,
                    help="results file (default published/bench.json, the published figures; required with --only)")
    bn.add_argument("--page", default=None, help="page body (default book/_generated/performance.md)")
    return p


def cmd_list() -> int:
    """Each chapter, its claim and title, then one line per parameter: its default (the quick profile's
    value), what it means (the comment where its ``Params`` declares it) and, where the paper profile sets
    another value, that value."""
    print("Each parameter: its default (the quick profile's value), what it means, and the paper profile's "
          "value where it differs.\nOverride one with: python -m mtrl_lib run CHAPTER -p NAME VALUE")
    for c in CHAPTERS:
        print(f"\n{c.name}  [{c.claim}]  {c.title}")
        meanings = c.meanings()
        for name, default in c.defaults().items():
            extra = f"  [paper profile: {_shown(c.paper[name])}]" if name in c.paper else ""
            print(f"    {f'{name} = {_shown(default)}':34s} {meanings.get(name) or '(no description)'}{extra}")
    return 0


def _shown(value) -> str:
    """A parameter value as ``list`` shows it: a list for a tuple, a run of 5 or more consecutive integers
    shortened (``[0, 1, ..., 19]``)."""
    if isinstance(value, tuple):
        value = list(value)
    if (isinstance(value, list) and len(value) >= 5 and all(isinstance(v, int) for v in value)
            and value == list(range(value[0], value[0] + len(value)))):
        return f"[{value[0]}, {value[1]}, ..., {value[-1]}]"
    return repr(value)


def _writable_folder(option: str, path: Path) -> Path:
    """Create ``path`` if needed and check that a file can be written there; ValueError (one line) if not."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as e:
        raise ValueError(f"{option} must be a folder that can be created and written, got {str(path)!r} "
                         f"({e.strerror or type(e).__name__})") from None
    return path


class _Execution:
    """The scheduler and store of one command, checked before any computation; a LocalCluster for
    ``local:N`` lives as long as the command (a context manager)."""

    def __init__(self, args):
        import os

        from .executors import check_scheduler, parse_scheduler
        from .store import Store

        spec = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        if args.publish and args.profile != "paper":
            raise ValueError(f"--publish publishes paper-profile results only, got --profile {args.profile}")
        if args.publish and args.store:
            raise ValueError(f"--publish writes {PUBLISHED_STORE}; leave out --store {args.store}")
        published = ROOT / PUBLISHED_STORE
        self.store = published if args.publish else Path(args.store or ROOT / DEFAULT_STORE)
        # the paper profile reads the published results first-hand, unless the reader names a store of their own
        self.read_also = (published,) if args.profile == "paper" and not args.store and not args.publish else ()
        Store(self.store).check_writable()
        if args.profile == "paper":
            import sys

            from .store import toolchain_note

            note = toolchain_note(published)
            if note:
                print(note, file=sys.stderr)
        self.cluster, self.address = None, None
        if spec:
            kind, value = parse_scheduler(spec)
            if kind == "local":
                self.cluster = _start_cluster(value)
                self.address = self.cluster.scheduler_address
            else:
                self.address = value
            check_scheduler(self.address)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.cluster is not None:
            self.cluster.close()
        return False


def _start_cluster(n: int):
    from .executors import start_local_cluster

    return start_local_cluster(n)


def cmd_run(args) -> int:
    from .cli_values import parse_cli_value, resolve
    from .runner import ChapterFailed, execute

    chapter = get_chapter(args.chapter)
    overrides = {name: parse_cli_value(value) for name, value in args.parameter}
    params = resolve(chapter, args.profile, overrides)
    out = _writable_folder("--out", Path(args.out))
    _on_interrupt(f"chapter {chapter.name}", [out / ".staging"])
    start = time.perf_counter()
    with _Execution(args) as ex:
        try:
            glued = execute(chapter, params, out, args.profile, progress=sys.stderr.isatty(),
                            scheduler=ex.address, store=ex.store, read_also=ex.read_also)
        except KeyboardInterrupt:
            raise _Interrupted(f"chapter {chapter.name}") from None
        except ChapterFailed as e:
            print(str(e), file=sys.stderr)
            return 1
    print(f"{chapter.name}: {len(glued)} glued values in {out / (chapter.name + '.json')} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


class _Interrupted(Exception):
    """Ctrl-C: what was interrupted (the message), reported in one line with exit status 130."""


def _on_interrupt(what: str, staging: list[Path]):
    """Ctrl-C handler for ``run`` and ``book``.

    A kernel runs in its own session (jupyter_client starts it so), so the terminal's SIGINT never reaches it,
    and papermill's wait does not always return to Python promptly. The handler therefore ends everything
    itself, within a second: it kills every process this command started (kernels, ``--jobs`` workers, a
    LocalCluster's nanny and workers), removes the partial files from the staging folders, prints one line
    and exits with status 130. Finished units are already in the store (each is written as it arrives), so
    rerunning the same command resumes."""
    import os
    import shutil
    import signal

    def handler(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            import psutil

            kids = psutil.Process().children(recursive=True)   # kernels, --jobs workers, the cluster's helper
            for k in kids:
                try:
                    k.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(kids, timeout=3)
        except Exception:
            pass
        for d in staging:
            shutil.rmtree(d, ignore_errors=True)
        sys.stderr.write(f"\ninterrupted: {what}; finished units are kept in the store, and rerunning the same "
                         f"command resumes from them\n")
        sys.stderr.flush()
        os._exit(130)

    signal.signal(signal.SIGINT, handler)


def cmd_book(args) -> int:
    from .bookcache import book_lock
    from .paper_scale import IncompletePage
    from .runner import BUILD, ChapterFailed, build_html, execute_all

    if args.jobs < 1:
        raise ValueError(f"--jobs must be an integer >= 1, got {args.jobs}")
    from .repository import repository

    repository()                   # a malformed GITHUB_REPOSITORY is bad input: one line, before any computation
    # Validate every chapter's parameters before executing any.
    from .cli_values import resolve

    for c in CHAPTERS:
        resolve(c, args.profile, {})
    from .runner import EXECUTED

    _on_interrupt("the book build (_build/html is unchanged)", [EXECUTED / ".staging", BUILD / ".staging"])
    start = time.perf_counter()
    with _Execution(args) as ex, book_lock(BUILD / ".book.lock"):  # one book build at a time in this tree
        try:
            outcomes = execute_all(args.profile, args.jobs, scheduler=ex.address, store=ex.store,
                                   read_also=ex.read_also)
        except KeyboardInterrupt:
            raise _Interrupted("the book build") from None
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            print(f"{len(failed)} chapter(s) failed; the book was not rebuilt and _build/html is unchanged.",
                  file=sys.stderr)
            return 1
        if args.publish:                   # an explicit step: a plain build changes no tracked file
            from .paper_scale import publish

            print(f"paper-scale results: {publish(EXECUTED).relative_to(ROOT)}", file=sys.stderr)
            print(prune_unread(ROOT / PUBLISHED_STORE, EXECUTED), file=sys.stderr)
        try:
            html = build_html(complete_paper_page=args.publish)
        except ChapterFailed as e:
            print(str(e), file=sys.stderr)
            return 1
        except IncompletePage as e:        # the chapters just published glue fewer values than the page quotes
            print(f"make publish: {e} (the paper-profile chapters glue no such values)", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            raise _Interrupted("the HTML build (_build/html is unchanged)") from None
    print(f"book built in {time.perf_counter() - start:.1f} s: {html / 'index.html'}")
    return 0


def prune_unread(store: Path, executed: Path) -> str:
    """After a whole paper build with ``--publish``: delete the entries of the published ``store`` that no
    chapter read or computed (units a chapter no longer declares), so that the folder holds exactly the units
    the book reads. Needs every chapter's record of its keys (``executed/CHAPTER.keys.json``); returns one
    line that says what it did."""
    from .chapters import CHAPTERS

    used: set[str] = set()
    for c in CHAPTERS:
        p = executed / f"{c.name}.keys.json"
        if not p.exists():
            return f"published store not pruned: {c.name} has no record of the units it read (rebuild it)"
        used.update(json.loads(p.read_text()))
    unread = [p for p in sorted(Path(store).glob("??/*.json")) if p.stem not in used]
    for p in unread:
        p.unlink()
    return (f"published store: {len(used)} entries read by the book, {len(unread)} that no chapter reads "
            "deleted" if unread else f"published store: every entry is read by the book ({len(used)})")


def cmd_verify(args) -> int:
    from . import verify

    try:
        return verify.run(args.store or verify.DEFAULT_STORE, args.per_chapter, args.seed, args.budget, args.only,
                          chapters=args.chapter)
    except KeyboardInterrupt:                  # verify writes nothing, so there is nothing to resume
        print("\ninterrupted: verify (it writes nothing)", file=sys.stderr)
        return 130


def cmd_bench(args) -> int:
    import os

    # Idle OpenMP threads sleep instead of spinning: on a loaded machine spinning threads steal the time
    # slices of the working ones (every parallel op then runs many times slower). Set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from . import bench

    only = tuple(args.only or bench.FIGURES)
    for name in only:
        if name not in bench.FIGURES:
            raise ValueError(f"--only must name figures among {', '.join(bench.FIGURES)}, got {name!r}")
    if args.only and args.json is None:
        # a partial run written to the default path would replace the published figures with a few of them
        raise ValueError("--only needs --json FILE: it measures some figures only, and the default "
                         f"{bench.JSON.relative_to(bench.ROOT)} holds the published full set (make bench)")
    bench.run(quick=args.quick, device=args.device, only=only, json_path=Path(args.json or bench.JSON),
              page_path=Path(args.page or bench.PAGE), committed=args.committed)
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "run":
            return cmd_run(args)
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "verify":
            return cmd_verify(args)
        return cmd_book(args)
    except ValueError as e:  # ParameterError, validation, --out/--store/--scheduler errors: one clear line
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (_Interrupted, KeyboardInterrupt) as e:
        what = str(e) if isinstance(e, _Interrupted) else args.command
        print(f"interrupted: {what}; finished units are kept in the store, and rerunning the same command "
              f"resumes from them", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
