"""The Performance page: the table of figures against their targets, the page's sections from a results dict,
and :func:`ensure_page`, which every book build calls to render the published figures."""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..chapters import ROOT
from .figures import CEILING_TARGET, FIGURES, TARGETS


GENERATED = ROOT / "book" / "_generated"


PAGE = GENERATED / "performance.md"


JSON = ROOT / "published" / "bench.json"      # the published figures (regenerate: make bench)


PLACEHOLDER = """Not measured yet: run `python -m mtrl_lib bench` (a few minutes on 2 cores; `--quick` for a small
version), then rebuild the book.
"""


def _fmt(v, nd=2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def verdict(name: str, value) -> str:
    if value is None or not math.isfinite(value):
        return "not measured"
    op, target = TARGETS[name]
    ok = value >= target if op == ">=" else value <= target
    return "met" if ok else "missed"


def table(results: dict) -> str:
    lines = ["| figure | measured | target | |", "|---|---|---|---|"]
    for name in FIGURES:
        v = results["figures"].get(name)
        op, target = TARGETS[name]
        # three decimals below 1, so that a value just short of a target such as 0.65 does not print as it
        nd = 3 if v is not None and abs(v) < 1 else 2
        lines.append(f"| `{name}` | {_fmt(v, nd)} | {op} {target:g} | {verdict(name, v)} |")
    return "\n".join(lines)


def render_page(results: dict) -> str:
    """The body of the Performance page (MyST), from a results dict of :func:`run`."""
    m, d = results["machine"], results["details"]
    mode = "quick (small shapes, stub chapters)" if results["quick"] else "full"
    out = [
        f"Measured {m['date']} by `python -m mtrl_lib bench{' --quick' if results['quick'] else ''}` ({mode}) on: "
        f"**{m['cpu']}**, {m['cores']} cores ({m['usable_cores']} usable), torch {m['torch']} with "
        f"{m['torch_threads']} threads, device `{m['device']}`, Python {m['python']}, "
        f"`OMP_WAIT_POLICY={m['omp_wait_policy']}`. Load average (1 min) {m.get('load_average_start', 'n/a')} at the "
        f"start and {m.get('load_average_end', 'n/a')} at the end: on a shared machine every time is inflated, "
        "only the ratios of one run are comparable.", "",
        _freshness(results), "",
        table(results), "",
    ]
    if "loop" in d:
        x = d["loop"]
        out += ["## The batched round against a per-task loop", "",
                f"At T = {x['shape']['T']}, d = {x['shape']['d']}, m = {x['shape']['m']}, n = {x['shape']['n']}: "
                f"per-task loop {x['loop_round_ms']:.1f} ms per round, batched round {x['batched_round_ms']:.2f} ms "
                f"(median of {x['reps']} interleaved repetitions). The round's matrix products alone, as plain "
                f"`torch.matmul` calls, take {x['matmul_ms']:.2f} ms: no implementation of the round can beat that, "
                f"so on this machine `loop_ratio` cannot exceed {x['loop_ratio_ceiling']:.1f}.", "",
                _fraction_sentence(x), ""]
    if "matmul" in d:
        x = d["matmul"]
        out += ["## The round against plain matrix products", "",
                f"At T = {x['shape']['T']}, d = {x['shape']['d']}, m = {x['shape']['m']}, n = {x['shape']['n']}: "
                f"a round takes {x['round_ms']:.1f} ms ({x['round_gflops']:.1f} GFLOP/s on its "
                f"{x['flops'] / 1e9:.2f} GFLOP of matrix products); the same products as plain `torch.matmul` "
                f"calls take {x['matmul_ms']:.1f} ms ({x['matmul_gflops']:.1f} GFLOP/s).", ""]
    for key, title in (("loop", "small"), ("matmul", "large")):
        if key in d and d[key].get("round_profile"):
            s = d[key]["shape"]
            out += [f"Where the batched round spends its time at the {title} shape (T = {s['T']}, d = {s['d']}, "
                    f"m = {s['m']}, n = {s['n']}; torch profiler, self time):", "",
                    "| operator | share | ms per round |", "|---|---|---|"]
            out += [f"| `{r['op']}` | {100 * r['share']:.0f} % | {r['ms_per_round']:.2f} |" for r in d[key]["round_profile"]]
            out += [""]
    if "rss" in d:
        x = d["rss"]
        c = x["config"]
        out += ["## Memory", "",
                f"One round at T = {c['T']}, n = {c['n1']}, d = {c['d']}, m = {c['m']} "
                f"({x['elements']:.2g} sample elements per phase, {x['unchunked_samples_gb']:.1f} GB if drawn at once) "
                f"with `memory_budget_gb` = {c['memory_budget_gb']:g}: {x['chunk']} tasks per chunk, a computed "
                f"working set of {x['working_set_gb']:.2f} GB, peak resident memory {x['peak_rss_gb']:.2f} GB "
                f"(a tiny run, i.e. Python and torch alone: {x['baseline_rss_gb']:.2f} GB); {x['seconds']:.0f} s.", ""]
    if "book" in d:
        x = d["book"]
        out += ["## Rebuilding the book", "",
                f"In a temporary copy of the tree{' with stub chapters' if x['stub_chapters'] else ''} "
                f"({len(x['chapters'])} chapters, {x['source']}): cold `book --jobs 1` {x['cold_jobs1_s']:.1f} s, cold "
                f"`book --jobs 2` {x['cold_jobs2_s']:.1f} s (mean of {len(x['cold_jobs1_runs_s'])} each, "
                f"interleaved), `book` after a prose-only edit of one chapter "
                f"{x['rebuild_s']:.1f} s (chapters executed: {len(x['rebuild_executed'])}; the new sentence "
                f"{'is' if x['rebuild_prose_in_html'] else 'is NOT'} in the HTML), a second `book --jobs 2` executed "
                f"{len(x['second_jobs2_executed'])} chapters.", ""]
    if "units" in d:
        x = d["units"]
        c = x["config"]
        out += ["## Units: in-process against a local Dask cluster", "",
                f"{c['n_units']} training units (d = {c['d']}, m = {c['m']}, T = {c['T']}, {c['rounds']} rounds each): "
                f"in-process {x['units_per_s_inprocess']:.2f} units/s ({x['inprocess_s']:.1f} s), `--scheduler local:2` "
                f"{x['units_per_s_local2']:.2f} units/s ({x['local2_s']:.1f} s; cluster start-up excluded). "
                f"The results were {'identical' if x['same_results'] else 'NOT identical'}.", ""]
    if results.get("errors"):
        out += ["## Not measured", ""] + [f"- `{k}`: {v.splitlines()[0][:300]}" for k, v in results["errors"].items()] + [""]
    return "\n".join(out) + "\n"


def _fraction_sentence(x: dict) -> str:
    """The loop section's account of ``ceiling_fraction`` (figures published before it existed: the old
    single ratio of medians)."""
    if "ceiling_fraction" not in x:
        f = x["batched_matmul_fraction"]
        return (f"The batched round runs at {100 * f:.1f} % of that ceiling (one ratio of two medians; the target "
                f"is {100 * CEILING_TARGET:.0f} %, {'met' if f >= CEILING_TARGET else 'missed'}).")
    f, (lo, hi) = x["ceiling_fraction"], x["ceiling_fraction_ci"]
    ci = (f"{100 * x['ceiling_fraction_level']:.0f} % interval [{100 * lo:.1f}, {100 * hi:.1f}] %"
          if math.isfinite(lo) else "too few for an interval")
    if math.isfinite(lo) and lo >= CEILING_TARGET:
        where = "the whole interval is above the target"
    elif math.isfinite(hi) and hi < CEILING_TARGET:
        where = "the whole interval is below the target"
    else:
        where = "the interval contains the target, so this run does not decide it"
    if "bursts" in x:
        how = (f"the median over {x['bursts']} bursts, {x['gap_s']:g} s apart, of each burst's median over "
               f"{x['pairs']} back-to-back pairs (round, products) of that ratio; {ci} over the bursts, so it covers "
               f"the machine's swings over those {(x['bursts'] - 1) * x['gap_s'] / 60:.0f} minutes; {where}")
        swing = ("The bursts' medians: " + ", ".join(f"{100 * v:.1f}" for v in x["burst_medians"]) + " %.")
    else:  # published before the bursts
        how = f"the median over {x['pairs']} back-to-back repetitions of that ratio; {ci}; {where}"
        swing = "The interval describes the minute this run measured."
    out = (f"`ceiling_fraction`: the batched round runs at **{100 * f:.1f} %** of that ceiling (the time of its "
           f"products alone over the round's, {how}). The target is {100 * CEILING_TARGET:.0f} %: "
           f"{'met' if f >= CEILING_TARGET else 'missed'}. {swing}")
    if "floor_fraction" in x:
        fl, ratio = x["floor_fraction"], x["draw_over_matmul"]
        out += (f" Drawing the round's fresh Gaussian inputs takes {100 * ratio:.0f} % of the time of its "
                f"products, so products and draw together are about **{100 * fl:.0f} %** of the round: that is "
                "the floor for a round that draws exact fresh samples with the library's generator, and with a draw "
                f"that long `ceiling_fraction` cannot exceed about {100 / (1 + ratio):.0f} %. "
                + (f"The rest of the round, about {100 * (1 - fl):.0f} %, is elementwise passes, labels and Python."
                   if fl <= 1 else "More than 100 % is impossible for one state of the machine: its speed changed "
                   "between the passes, and this run's fractions are not to be trusted."))
    return out


def _freshness(results: dict) -> str:
    """One sentence: the commit the figures were measured on, and whether the science source changed since."""
    from ..store import science_digest

    m = results["machine"]
    commit = m.get("commit", "unknown")
    measured = results.get("science_digest")
    if measured is None:
        return f"Measured on commit `{commit}`; the library source it measured was not recorded."
    if measured == science_digest():
        return f"Measured on commit `{commit}`, with the library source of this book."
    return (f"**Older than the library code:** measured on commit `{commit}`; the library source has changed "
            f"since, so these figures describe an earlier version (`make bench` refreshes them).")


def ensure_page(path: Path = PAGE, published: Path | None = None) -> Path:
    """Write the page body from the published figures (``published``, default ``published/bench.json``), or the
    placeholder when none were ever published (the book build must not depend on the bench)."""
    published = JSON if published is None else Path(published)
    path.parent.mkdir(parents=True, exist_ok=True)
    if published.exists():
        path.write_text(render_page(json.loads(published.read_text())))
    elif not path.exists():
        path.write_text(PLACEHOLDER)
    return path
