"""The paper profile's headline results, published with the project and shown in every build of the book.

A ``paper`` build (``make book PROFILE=paper``) executes every chapter at full scale, reading the published
results store (``published/paper-results/``) and changing no tracked file. Publishing is the explicit step
``make publish`` (``book --profile paper --publish``): it writes new units into that store and, after its
chapters succeed, :func:`publish` writes what they glued, with their provenance, to
``published/paper-scale.json``. Every book build, quick or paper, then renders
``book/_generated/paper_scale.md`` from that file (:func:`write_page`): the intro's claims tables with the
paper-scale values in place of the quick ones, and chapter 2's error table over the number of tasks with its
confidence intervals. So the quick book shows the paper's scale without computing anything, and offline.

The rows are the intro's own (``book/intro.md``): each ``{glue:text}`` reference to a chapter's value is
replaced by that value at paper scale, formatted as the intro formats it, so the two tables cannot drift apart.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from .chapters import CHAPTERS, ROOT, get_chapter
from .glue import read_glued

PUBLISHED = ROOT / "published" / "paper-scale.json"
PAGE = ROOT / "book" / "_generated" / "paper_scale.md"
INTRO = ROOT / "book" / "intro.md"
REGENERATE = "make publish"
GLUE_REF = re.compile(r"\{glue:text\}`chapters/(\w+)\.ipynb::(\w+):([^`]*)`")
NOT_COMPUTED = "(not computed)"      # what the page shows for a value the published results lack


class IncompletePage(RuntimeError):
    """The page would show values as not computed (one line; raised by :func:`write_page` with ``strict``)."""


def _glued(folder: Path, name: str) -> dict | None:
    """What chapter ``name`` glued: from its executed notebook (a book build) or its ``run`` output."""
    nb_path, run_path = folder / f"{name}.ipynb", folder / f"{name}.json"
    if nb_path.exists():
        import nbformat

        return read_glued(nbformat.read(nb_path, as_version=4))
    return json.loads(run_path.read_text()) if run_path.exists() else None


def publish(folder: Path, path: Path = PUBLISHED, partial: bool = False) -> Path:
    """Write ``path`` from the paper-profile chapters in ``folder``: a book build's executed chapters
    (``.ipynb`` and ``.provenance.json``) or the outputs of ``python -m mtrl_lib run CHAPTER --profile paper
    --out folder`` (``.json`` and ``.provenance.json``). Raises ValueError when a chapter there ran another
    profile, or, unless ``partial``, when a chapter is missing."""
    from .store import science_digest

    earlier = (load(path) or {}).get("chapters", {})
    chapters = {}
    for c in CHAPTERS:
        prov = folder / f"{c.name}.provenance.json"
        glued = _glued(folder, c.name) if prov.exists() else None
        if glued is None:
            if partial:
                continue
            raise ValueError(f"{c.name} has no executed paper-profile results in {folder}")
        rec = json.loads(prov.read_text())
        if rec["profile"] != "paper":
            raise ValueError(f"{c.name} was executed with the {rec['profile']!r} profile, not 'paper'")
        chapters[c.name] = {
            "glued": glued,
            "wall_time_s": round(rec["wall_time_s"], 1),
            "git_commit": rec["git_commit"],
            "units_total": rec.get("units_total"),
            "units_from_store": rec.get("units_from_store"),
            "executor": rec.get("executor"),
            "device": rec.get("device"),
        }
        chapters[c.name]["computed"] = _computed(chapters[c.name], earlier.get(c.name))
    if not chapters:
        raise ValueError(f"no paper-profile chapter results in {folder}")
    data = {"profile": "paper", "date": time.strftime("%Y-%m-%d"), "science_digest": science_digest(),
            "regenerate": REGENERATE, "chapters": chapters}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def _computed(rec: dict, earlier: dict | None) -> dict | None:
    """The run that computed a chapter's units: this one if it computed any, else the one an earlier
    publication recorded. (A paper build from the full store computes nothing, and its wall time is only
    the notebooks'; the time the units took is the computing run's.)"""
    total, stored = rec.get("units_total"), rec.get("units_from_store")
    if total is not None and stored is not None and stored < total:
        return {k: rec[k] for k in ("wall_time_s", "git_commit", "executor", "device")} | {
            "units_computed": total - stored}
    if earlier is None:
        return None
    return earlier.get("computed") or _computed(earlier, None)


def _value(data: dict, chapter: str, name: str, fmt: str) -> str:
    from .glued_notes import reader_words

    glued = data["chapters"].get(chapter, {}).get("glued", {})
    if name not in glued:
        return NOT_COMPUTED
    v = glued[name]
    return format(v, fmt) if fmt and not isinstance(v, str) else reader_words(str(v))


MEAN_CI = re.compile(GLUE_REF.pattern + r" ± " + GLUE_REF.pattern)


def _mean_ci(data: dict, m: re.Match) -> str:
    """``X ± Y`` for a mean and its ``_ci``; a capped mean as its bound (glued_notes.capped_text)."""
    from .glued_notes import capped_text

    chapter, name, fmt, chapter2, name2, fmt2 = m.groups()
    x, y = _value(data, chapter, name, fmt), _value(data, chapter2, name2, fmt2)
    if chapter2 == chapter and name2 == name + "_ci":
        glued = data["chapters"].get(chapter, {}).get("glued", {})
        capped = capped_text(name, x, y, glued)
        if capped:
            return capped
    return f"{x} ± {y}"


def claims_rows(data: dict, intro: str) -> list[str]:
    """The intro's tables (header, rule and rows, in order; a blank line between tables) with every glued
    reference replaced by its paper-scale value. ``{doc}`` links stay, so each row still points at its
    chapter."""
    out, inside = [], False
    for line in intro.splitlines():
        if line.startswith("|"):
            if not inside and out:
                out.append("")                       # the next table (the intro has two)
            out.append(_row(data, line))
        inside = line.startswith("|")
    return out


def _row(data: dict, line: str) -> str:
    """One table line with its glued references replaced; a row whose chapters were all not computed at paper
    scale says so once instead of in every number."""
    refs = {m.group(1) for m in GLUE_REF.finditer(line)}
    if refs and not refs & set(data["chapters"]):
        cells = line.split("|")
        doc = re.search(r"\{doc\}`[^`]+`", cells[-2])
        cells[-2] = f" {doc.group(0) + ': ' if doc else ''}not computed at paper scale yet "
        return "|".join(cells)
    line = MEAN_CI.sub(lambda m: _mean_ci(data, m), line)
    return GLUE_REF.sub(lambda m: _value(data, m.group(1), m.group(2), m.group(3)), line)


def tasks_table(data: dict) -> list[str]:
    """Chapter 2 at paper scale: final subspace error, mean ± 95% half-width, per family and T."""
    name = "02_subspace_recovery"
    glued = data["chapters"].get(name, {}).get("glued", {})
    Ts = list(get_chapter(name).profile("paper")["T_values"])
    families = [f for f in ("linear", "quadratic") if f"c2_{f}_err_T{Ts[0]}" in glued]
    if not families:
        return []
    rows = ["| family | " + " | ".join(f"$T$ = {T}" for T in Ts) + " |", "|---|" + "---|" * len(Ts)]
    for f in families:
        cells = [f"{glued[f'c2_{f}_err_T{T}']:.3f} ± {glued[f'c2_{f}_err_T{T}_ci']:.3f}"
                 if f"c2_{f}_err_T{T}" in glued else NOT_COMPUTED for T in Ts]
        rows.append(f"| `{f}` | " + " | ".join(cells) + " |")
    return rows


def render(data: dict | None, intro: str) -> str:
    if data is None:
        return ("The paper profile has not been published yet: `make publish` computes it into "
                "`published/paper-results/` and writes `published/paper-scale.json`.\n")
    missing = [c.name for c in CHAPTERS if c.name not in data["chapters"]]
    from .store import science_digest

    lines = []
    if data["science_digest"] != science_digest():
        lines += ["```{warning}",
                  "The library's science code has changed since these results were computed. They stand for "
                  "the code of the commit named below; `make publish` recomputes the units whose "
                  "source changed.", "```", ""]
    chs = data["chapters"]
    commits = sorted({c["git_commit"] for c in chs.values()})
    computed = sorted({c["computed"]["git_commit"] for c in chs.values() if c.get("computed")} - set(commits))
    lines += [f"Executed with the `paper` profile and published on {data['date']}, at commit "
              + ", ".join(f"`{c}`" for c in commits)
              + (f"; units computed earlier, at commit{'s' if len(computed) > 1 else ''} "
                 + ", ".join(f"`{c[:10]}`" for c in computed) + ", were read from the store, which reuses a unit "
                 "only while the source it ran is unchanged" if computed else "")
              + f" (regenerate: `{data['regenerate']}`).", ""]
    if missing:
        lines += [f"Not computed at paper scale yet: {', '.join(_link(get_chapter(n)) for n in missing)}. "
                  f"Their rows below say so; "
                  f"`{data['regenerate']}` computes them.", ""]
    lines += ["## The claims at paper scale", ""] + claims_rows(data, intro) + [""]
    tab = tasks_table(data)
    if tab:
        lines += ["## Subspace error against the number of tasks", "",
                  "Chapter 2's final subspace error $\\|P_M - P_U\\|_2$ at paper scale, mean ± half-width of the "
                  "95% Student-t interval over seeds:", ""] + tab + [""]
    lines += ["## What each chapter ran", "",
              "Units are the chapter's total, with those read from the store in brackets; the wall time is that "
              "of the chapter's last execution, and *computed in* that of the run that computed its units, "
              "with its executor (the last such run, where a chapter's units were computed in several).", "",
              "| chapter | parameters the paper profile changes | units (from the store) | wall time | computed in |",
              "|---|---|---|---|---|"]
    for c in CHAPTERS:
        rec = chs.get(c.name)
        if rec is None:
            lines.append(f"| {_link(c)} | | not computed | | |")
            continue
        changed = ", ".join(f"`{k}={list(v) if isinstance(v, tuple) else v}`" for k, v in c.paper.items()
                            if k != "seeds")
        n_seeds = len(c.paper.get("seeds", ()))
        units = f"{rec['units_total']} ({rec['units_from_store']})" if rec.get("units_total") is not None else ""
        lines.append(f"| {_link(c)} | {changed}; {n_seeds} seeds | {units} | {rec['wall_time_s']:.0f} s | "
                     f"{_computed_cell(rec.get('computed'))} |")
    return "\n".join(lines) + "\n"


def _link(c) -> str:
    """``chapter N``, linked to the chapter (the page sits beside the chapters)."""
    return f"{{doc}}`chapter {CHAPTERS.index(c) + 1} <chapters/{c.name}>`"


def _computed_cell(computed: dict | None) -> str:
    if not computed:
        return "not recorded"
    ex = computed.get("executor") or {}
    how = f"Dask, {ex.get('workers')} workers" if ex.get("kind") == "dask" else "in-process"
    return f"{computed['wall_time_s'] / 60:.0f} min for {computed['units_computed']} units ({how})"


def load(path: Path = PUBLISHED) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def lacking(data: dict | None, intro: str) -> list[str]:
    """What the page would show as not computed: each value of a published chapter that the intro's tables or
    chapter 2's table quote and the results lack (``CHAPTER:NAME``), then each chapter the results lack
    (``CHAPTER``). Empty when the page is complete."""
    if data is None:
        return ["every chapter"]
    chs = data["chapters"]
    out = []
    for line in intro.splitlines():
        if line.startswith("|"):
            for m in GLUE_REF.finditer(line):
                chapter, name = m.group(1), m.group(2)
                if chapter in chs and name not in chs[chapter].get("glued", {}):
                    out.append(f"{chapter}:{name}")
    name = "02_subspace_recovery"
    glued = chs.get(name, {}).get("glued", {})
    Ts = list(get_chapter(name).profile("paper")["T_values"])
    for f in ("linear", "quadratic"):
        if f"c2_{f}_err_T{Ts[0]}" in glued:
            out += [f"{name}:c2_{f}_err_T{T}" for T in Ts if f"c2_{f}_err_T{T}" not in glued]
    return list(dict.fromkeys(out)) + [c.name for c in CHAPTERS if c.name not in chs]


def incomplete_line(data: dict | None, intro: str, published: Path | None = None) -> str | None:
    """One line when the page would show a value or a chapter as not computed (None when it would not)."""
    gaps = lacking(data, intro)
    page = render(data, intro)
    if not gaps and NOT_COMPUTED not in page:
        return None
    published = Path(published or PUBLISHED)
    try:
        where = published.resolve().relative_to(ROOT)
    except ValueError:
        where = published
    shown = "; ".join(gaps[:6]) + (f"; and {len(gaps) - 6} more" if len(gaps) > 6 else "")
    return (f"{where} lacks {len(gaps) or page.count(NOT_COMPUTED)} value(s) or chapter(s) that the page At paper "
            f"scale quotes ({shown or NOT_COMPUTED}), which it would show as not computed")


def write_page(path: Path | None = None, published: Path | None = None, strict: bool = False) -> Path:
    """``book/_generated/paper_scale.md`` from ``published`` (included by ``book/paper_scale.md``).
    ``strict`` (``make site``, ``make publish``): raise :class:`IncompletePage`, writing nothing, when the page
    would show a value or a chapter as not computed. (A plain build writes it, saying so where it does.)"""
    path, published = Path(path or PAGE), Path(published or PUBLISHED)
    data, intro = load(published), INTRO.read_text()
    if strict:
        line = incomplete_line(data, intro, published)
        if line:
            raise IncompletePage(f"{line}; the page was not written")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data, intro))
    return path


def main(argv=None) -> int:
    """``python -m mtrl_lib.book.paper_scale FOLDER``: publish the chapters that ``python -m mtrl_lib run CHAPTER
    --profile paper --out FOLDER`` completed (the others show as not computed until a paper build)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m mtrl_lib.book.paper_scale", description=main.__doc__)
    ap.add_argument("folder", type=Path)
    args = ap.parse_args(argv)
    try:
        out = publish(args.folder, partial=True)
    except (OSError, ValueError) as e:
        print(f"error: {e}")
        return 2
    print(f"wrote {out} ({', '.join(load(out)['chapters'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
