"""``python -m mtrl_lib``: list the chapters, run one, build the book, or benchmark.

Exit status: 0 success; 1 a chapter or the book build failed (named, with its cell and error);
2 bad input (unknown chapter or parameter, wrong type, out of range), reported in one line, no traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .chapters import CHAPTERS, PROFILES, get_chapter


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
    bn = sub.add_parser("bench", help="measure the training round and the book rebuild (the Performance page)")
    bn.add_argument("--quick", action="store_true", help="small version (seconds to a minute or two)")
    bn.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    bn.add_argument("--only", nargs="+", metavar="FIGURE", help="measure only these figures")
    bn.add_argument("--committed", action="store_true", help="book figures on the last commit, not the working tree")
    bn.add_argument("--json", default=None, help="results file (default book/_generated/bench.json)")
    bn.add_argument("--page", default=None, help="page body (default book/_generated/performance.md)")
    return p


def cmd_list() -> int:
    for c in CHAPTERS:
        print(f"{c.name}  [{c.claim}]  {c.title}")
        paper = c.paper
        for name, default in c.defaults().items():
            extra = f"   (paper: {paper[name]})" if name in paper else ""
            print(f"    {name} = {default!r}{extra}")
    return 0


def cmd_run(args) -> int:
    from .cli_values import parse_cli_value, resolve
    from .runner import ChapterFailed, execute

    chapter = get_chapter(args.chapter)
    overrides = {name: parse_cli_value(value) for name, value in args.parameter}
    params = resolve(chapter, args.profile, overrides)
    out = Path(args.out)
    start = time.perf_counter()
    try:
        glued = execute(chapter, params, out, args.profile, progress=sys.stderr.isatty())
    except ChapterFailed as e:
        print(str(e), file=sys.stderr)
        return 1
    print(f"{chapter.name}: {len(glued)} glued values in {out / (chapter.name + '.json')} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_book(args) -> int:
    from .bookcache import book_lock
    from .runner import BUILD, ChapterFailed, build_html, execute_all

    if args.jobs < 1:
        raise ValueError(f"--jobs must be an integer >= 1, got {args.jobs}")
    # Validate every chapter's parameters before executing any.
    from .cli_values import resolve

    for c in CHAPTERS:
        resolve(c, args.profile, {})
    start = time.perf_counter()
    with book_lock(BUILD / ".book.lock"):  # one book build at a time in this tree (see mtrl_lib.book.bookcache)
        outcomes = execute_all(args.profile, args.jobs)
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            print(f"{len(failed)} chapter(s) failed; the book was not rebuilt and _build/html is unchanged.",
                  file=sys.stderr)
            return 1
        try:
            html = build_html()
        except ChapterFailed as e:
            print(str(e), file=sys.stderr)
            return 1
    print(f"book built in {time.perf_counter() - start:.1f} s: {html / 'index.html'}")
    return 0


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
        return cmd_book(args)
    except ValueError as e:  # ParameterError and validation errors: one clear line
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
