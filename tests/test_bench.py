"""Performance and scale: the chunked round, the memory rule, the loop baseline, the book cache, the benchmark."""
import json
import math
import subprocess
import sys
import textwrap
import threading
import time

import nbformat
import pytest
import torch

from mtrl_lib.book import bookcache
from mtrl_lib.book.chapters import ROOT
from mtrl_lib.train import Round, TrainConfig, init_heads, setup


# ---------------------------------------------------------------- the round: chunking and the loop baseline

def _fixed_data(cfg, seed=7):
    g = torch.Generator().manual_seed(seed)
    X1 = torch.randn(cfg.T, cfg.n1, cfg.d, generator=g, dtype=torch.float64)
    X2 = torch.randn(cfg.T, cfg.n2, cfg.d, generator=g, dtype=torch.float64)
    return X1, X2


def _round_with(cfg, chunk, X1, X2, A0):
    M, tasks, W, b = setup(cfg)
    rnd = Round(cfg, M, tasks, b, chunk=chunk, draw=lambda phase, s, e, out: out.copy_((X1, X2)[phase][s:e]))
    A = A0.clone()
    gW, total = rnd.step(W, A, None)
    return gW.clone(), A, float(total)


@pytest.mark.parametrize("family, bias", [("linear", 0.0), ("quadratic", 0.3)])
def test_chunked_round_gives_the_same_gradient_as_unchunked(family, bias):
    cfg = TrainConfig(d=12, r=3, m=20, T=7, n1=9, n2=11, family=family, bias_scale=bias, dtype="float64")
    X1, X2 = _fixed_data(cfg)
    A0 = torch.randn(cfg.T, cfg.m, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ref = _round_with(cfg, cfg.T, X1, X2, A0)
    assert ref[0].abs().max() > 0
    for chunk in (1, 2, 3):
        got = _round_with(cfg, chunk, X1, X2, A0)
        assert torch.allclose(got[0], ref[0], atol=1e-12, rtol=1e-10)
        assert torch.allclose(got[1], ref[1], atol=1e-12, rtol=1e-10)
        assert math.isclose(got[2], ref[2], rel_tol=1e-12)


def test_python_loop_baseline_computes_the_same_round():
    """The bench's per-task loop (nn.Module, autograd, optimizer) and the batched round agree on one round."""
    from mtrl_lib.book.bench import LoopTrainer

    cfg = TrainConfig(d=10, r=2, m=16, T=5, n1=8, n2=6, bias_scale=0.2, weight_decay=0.01, dtype="float64")
    X1, X2 = _fixed_data(cfg)
    M, tasks, W, b = setup(cfg)
    A = init_heads(cfg, cfg.T, "cpu", torch.float64) + 0.3
    Wb, Ab = W.clone(), A.clone()
    rnd = Round(cfg, M, tasks, b, draw=lambda phase, s, e, out: out.copy_((X1, X2)[phase][s:e]))
    rnd.update(Wb, Ab, None)
    loop = LoopTrainer(cfg, M, tasks, W, b, A, None, draw=lambda phase, t: (X1, X2)[phase][t])
    loop.round()
    Wl, Al = loop.weights()
    assert torch.allclose(Al, Ab, atol=1e-12) and torch.allclose(Wl, Wb, atol=1e-12)
    assert not torch.allclose(Wb, W)


@pytest.mark.parametrize("kw", [dict(T=10_000, n1=100, n2=100, d=1000, m=100, memory_budget_gb=1.0),
                                dict(T=64, n1=128, n2=128, d=1000, m=1000, memory_budget_gb=0.05),
                                dict(T=300, n1=50, n2=80, d=100, m=200, memory_budget_gb=0.01, dtype="float64"),
                                dict(T=50, n1=20, n2=20, d=30, m=40, head_mode="frozen", memory_budget_gb=1e-3)])
def test_chunk_rule_bounds_the_working_set(kw):
    cfg = TrainConfig(**{"r": 5, **kw})
    elem = torch.finfo(cfg.torch_dtype).bits // 8
    budget = cfg.memory_budget_gb * 2**30 / elem
    C = cfg.chunk()
    assert 1 <= C <= cfg.T
    assert cfg.working_set(C) <= budget or C == 1
    if C < cfg.T:
        assert cfg.working_set(C + 1) > budget           # the largest chunk that fits


def test_round_buffers_are_inside_the_working_set():
    cfg = TrainConfig(T=40, n1=30, n2=50, d=60, m=70, r=4, memory_budget_gb=0.0005)
    M, tasks, W, b = setup(cfg)
    rnd = Round(cfg, M, tasks, b)
    assert 1 < rnd.C < cfg.T
    held = rnd.X.numel() + rnd.P.numel() + rnd.WM.numel() + rnd.gW.numel()
    assert held <= cfg.working_set(rnd.C) <= cfg.memory_budget_gb * 2**30 / 4


def test_peak_memory_of_a_chunked_run_stays_near_its_budget(tmp_path):
    """A run whose samples would take 0.8 GB at once stays within its 0.05 GB budget (RSS of a child process,
    against a child that runs a tiny configuration: the import of torch itself is not the library's)."""
    from mtrl_lib.book.bench import child_peak_rss

    big = dict(T=2000, n1=100, n2=100, d=500, m=20, r=3, rounds=1, memory_budget_gb=0.05)
    small = dict(T=2, n1=10, n2=10, d=20, m=8, r=3, rounds=1)
    base = child_peak_rss(small)
    run = child_peak_rss(big)
    assert run["chunk"] < big["T"]
    assert run["peak_rss_gb"] - base["peak_rss_gb"] < 0.05 + 0.06, (run, base)


# ---------------------------------------------------------------- the book cache: prose refresh, lock

def _nb(code="x = 1", prose="# Title\n\nSome prose."):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(prose), nbformat.v4.new_code_cell(code)]
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i}"
    return nb


def test_cache_key_ignores_prose_but_not_code_or_structure(tmp_path):
    a, b = _nb(), _nb(prose="# Title\n\nOther prose.")
    assert bookcache.code_digest(a) == bookcache.code_digest(b)
    assert bookcache.prose_digest(a) != bookcache.prose_digest(b)
    assert bookcache.code_digest(a) != bookcache.code_digest(_nb(code="x = 2"))
    c = _nb()
    c.cells.append(nbformat.v4.new_markdown_cell("more"))
    c.cells[-1]["id"] = "cell-9"
    assert bookcache.code_digest(a) != bookcache.code_digest(c)


def test_refresh_prose_copies_markdown_into_the_executed_notebook(tmp_path):
    src, out = tmp_path / "src.ipynb", tmp_path / "out.ipynb"
    executed = _nb()
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", text="result\n")]
    nbformat.write(executed, out)
    nbformat.write(_nb(prose="# Title\n\nNew words."), src)
    assert bookcache.refresh_prose(src, out)
    got = nbformat.read(out, as_version=4)
    assert got.cells[0].source.endswith("New words.") and got.cells[1].outputs[0].text == "result\n"
    # a prose cell the executed notebook does not have: refuse (the runner then re-executes)
    new = _nb()
    new.cells[0]["id"] = "renamed"
    nbformat.write(new, src)
    before = out.read_bytes()
    assert not bookcache.refresh_prose(src, out)
    assert out.read_bytes() == before


def test_book_lock_serialises_two_builds(tmp_path):
    """The first build holds the lock until the test releases it (after the second has said it waits), so the
    check does not depend on how fast a loaded machine starts the second process."""
    lock = tmp_path / "book.lock"
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from mtrl_lib.book.bookcache import book_lock
        with book_lock(Path({str(lock)!r}), log=lambda s: print(s, flush=True)):
            print("in", time.time(), flush=True); sys.stdin.readline(); print("out", time.time(), flush=True)
    """)
    first = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=ROOT)
    entered = first.stdout.readline()
    assert entered.startswith("in "), entered
    second = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)
    waited = second.stdout.readline()
    assert "waiting" in waited, waited
    time.sleep(0.2)
    first.stdin.write("\n")
    first.stdin.flush()
    outs = [entered + first.communicate(timeout=120)[0], waited + second.communicate(timeout=120)[0]]
    spans = []
    for o in outs:
        t = {ln.split()[0]: float(ln.split()[1]) for ln in o.splitlines() if ln.split()[0] in ("in", "out")}
        spans.append((t["in"], t["out"]))
    spans.sort()
    assert spans[0][1] <= spans[1][0], spans          # no overlap


# ---------------------------------------------------------------- the benchmark and its page

BOOK_FIGURES = ("rebuild_ratio", "jobs_ratio")


def test_bench_quick_reports_every_figure(tmp_path, dask_cluster, monkeypatch):
    """bench --quick, in-process: every figure but the book's two exists and is finite (never that it is fast),
    the page names the machine, and the units figure runs on the session's cluster (tests/conftest.py). The book
    figures time real book builds, which the suite pays for once (tests/test_book.py checks the cache they time);
    their protocol is checked on a fake build below."""
    from mtrl_lib.book import bench, executors

    class Shared:                                   # the session's cluster, which the bench must not close
        scheduler_address = dask_cluster.scheduler_address

        def close(self):
            pass

    monkeypatch.setattr(executors, "start_local_cluster", lambda n: Shared())
    lines = []
    only = tuple(f for f in bench.FIGURES if f not in BOOK_FIGURES)
    res = bench.run(quick=True, only=only, json_path=tmp_path / "b.json", page_path=tmp_path / "p.md",
                    log=lines.append)
    assert not res["errors"], res["errors"]
    assert json.loads((tmp_path / "b.json").read_text())["figures"].keys() == set(only)
    for name in only:
        assert math.isfinite(res["figures"][name]) and res["figures"][name] > 0, name
    assert res["details"]["units"]["same_results"]
    page = (tmp_path / "p.md").read_text()
    assert res["machine"]["cpu"] in page and "torch" in page and "| `loop_ratio` |" in page
    assert all(f"`{name}`" in "\n".join(lines) for name in bench.FIGURES)


def test_book_bench_protocol_on_a_fake_build(tmp_path, monkeypatch):
    """The book figures' protocol (quick): stub chapters, cold --jobs 2 then --jobs 1 from an empty build, a
    prose-only edit and a rebuild, then --jobs 2 again; the ratios are of those times. ``run_book`` is faked
    (no kernel): it records the order and the state of the copy it was given."""
    import shutil

    from mtrl_lib.book.bench import book_build as bb

    names = ["01_pseudo_contrastive", "02_subspace_recovery"]

    def fake_copy(dest, committed=False, skip=()):
        for rel in ["book/_toc.yml", *[f"notebooks/{n}.ipynb" for n in names]]:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, dest / rel)
        return dest

    times = iter([6.0, 10.0, 1.5, 0.5])
    calls = []

    def fake_run(tree, jobs, timeout):
        fresh = not (tree / "_build").exists()
        calls.append((jobs, fresh))
        nb = nbformat.read(tree / "notebooks" / f"{names[0]}.ipynb", as_version=4)
        html = tree / "_build" / "html" / "chapters" / f"{names[0]}.html"
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(nb.cells[0].source + " " + [c for c in nb.cells if c.cell_type == "markdown"][-1].source)
        return {"seconds": next(times), "executed": names if fresh else [], "cached": [] if fresh else names}

    monkeypatch.setattr(bb, "copy_tree", fake_copy)
    monkeypatch.setattr(bb, "_chapter_names", lambda tree: names)
    monkeypatch.setattr(bb, "run_book", fake_run)
    monkeypatch.setattr(bb.subprocess, "run", lambda *a, **k: None)        # compileall and the import warm-up
    res = bb.bench_book(quick=True)
    assert calls == [(2, True), (1, True), (1, False), (2, False)]
    assert res["jobs_ratio"] == 6.0 / 10.0 and res["rebuild_ratio"] == 1.5 / 10.0
    assert res["rebuild_executed"] == [] and res["second_jobs2_executed"] == [] and res["rebuild_prose_in_html"]
    assert res["stub_chapters"] and res["cold_executed"] == names


def test_bench_command_line_writes_the_figures_it_is_asked_for(tmp_path):
    """``python -m mtrl_lib bench`` (what ``make bench`` runs), one quick figure into a file of the test's."""
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "bench", "--quick", "--only", "matmul_fraction",
                          "--json", str(tmp_path / "b.json"), "--page", str(tmp_path / "p.md")], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    res = json.loads((tmp_path / "b.json").read_text())
    assert math.isfinite(res["figures"]["matmul_fraction"]) and "| `matmul_fraction` |" in out.stdout


def test_placeholder_page_when_never_measured(tmp_path):
    from mtrl_lib.book.bench import PLACEHOLDER, ensure_page, render_page

    page = tmp_path / "_generated" / "performance.md"
    none = tmp_path / "never-published.json"
    ensure_page(page, published=none)
    assert page.read_text() == PLACEHOLDER and "python -m mtrl_lib bench" in PLACEHOLDER
    page.write_text("measured")
    ensure_page(page, published=none)
    assert page.read_text() == "measured"          # never overwrites a measurement
    res = {"quick": True, "machine": {"cpu": "x", "cores": 2, "usable_cores": 2, "torch": "t", "torch_threads": 2,
                                      "device": "cpu", "python": "3", "omp_wait_policy": "PASSIVE", "date": "now"},
           "figures": {"loop_ratio": float("nan")}, "details": {}, "errors": {"loop_ratio": "RuntimeError: boom"}}
    text = render_page(res)
    assert "not measured" in text and "boom" in text


def test_published_figures_render_and_say_when_they_are_stale(tmp_path):
    from mtrl_lib.book.bench import ensure_page
    from mtrl_lib.book.store import science_digest

    machine = {"cpu": "cpuX", "cores": 2, "usable_cores": 2, "torch": "t", "torch_threads": 2, "device": "cpu",
               "python": "3", "omp_wait_policy": "PASSIVE", "date": "2026-01-01", "commit": "abc123"}
    page, pub = tmp_path / "p.md", tmp_path / "bench.json"
    for digest, needle in ((science_digest(), "with the library source of this book"),
                           ("0" * 64, "Older than the library code")):
        pub.write_text(json.dumps({"quick": False, "machine": machine, "science_digest": digest,
                                   "figures": {"loop_ratio": 9.0}, "details": {}, "errors": {}}))
        text = ensure_page(page, published=pub).read_text()
        assert "cpuX" in text and "abc123" in text and needle in text and "| `loop_ratio` | 9.00 |" in text


def test_round_metrics_equal_the_definitions():
    from mtrl_lib.metrics import energy, subspace_error
    from mtrl_lib.model import oracle_weights
    from mtrl_lib.tasks import make_generator, random_subspace
    from mtrl_lib.train import round_metrics

    g = make_generator(5)
    M = random_subspace(40, 4, g)
    cases = [torch.randn(60, 40, generator=g), torch.randn(30, 40, generator=g), torch.randn(3, 40, generator=g),
             oracle_weights(50, M, g) + 1e-3 * torch.randn(50, 40, generator=g)]
    for W in cases:
        err, en = round_metrics(W, M)
        assert math.isclose(err, subspace_error(W, M), rel_tol=1e-7, abs_tol=1e-9)
        assert math.isclose(en, energy(W, M), rel_tol=1e-9)
    assert round_metrics(cases[-1], M)[0] < 0.05


def test_median_interval_is_the_binomial_order_statistics():
    """The 95 % interval for a median of 20 values is [x_(6), x_(15)] (P(B(20, 1/2) <= 5) = 0.021 <= 0.025 <
    P(B <= 6) = 0.058); fewer than 6 values admit none; and over many normal samples it covers the true median
    at least 95 % of the time (and not far above it: the interval is not needlessly wide)."""
    from mtrl_lib.book.bench import median_ci

    xs = [float(v) for v in range(20, 0, -1)]                 # unsorted on purpose
    assert median_ci(xs) == (10.5, 6.0, 15.0)
    med, lo, hi = median_ci([3.0, 1.0, 2.0, 5.0, 4.0])
    assert med == 3.0 and math.isnan(lo) and math.isnan(hi)
    g = torch.Generator().manual_seed(0)
    samples = torch.randn(4000, 41, generator=g).tolist()
    cover = sum(lo <= 0.0 <= hi for _, lo, hi in map(median_ci, samples)) / len(samples)
    assert 0.95 <= cover <= 0.985, cover


def test_ceiling_fraction_sentence_says_whether_the_run_decides():
    from mtrl_lib.book.bench import _fraction_sentence

    base = {"pairs": 15, "bursts": 7, "gap_s": 20.0, "burst_medians": [0.6] * 7, "ceiling_fraction_level": 0.95}
    above = _fraction_sentence({**base, "ceiling_fraction": 0.70, "ceiling_fraction_ci": [0.67, 0.72]})
    across = _fraction_sentence({**base, "ceiling_fraction": 0.66, "ceiling_fraction_ci": [0.63, 0.68]})
    below = _fraction_sentence({**base, "ceiling_fraction": 0.60, "ceiling_fraction_ci": [0.58, 0.62]})
    assert "whole interval is above" in above and "met" in above
    assert "does not decide" in across and ": met" in across
    assert "whole interval is below" in below and "missed" in below
    floor = _fraction_sentence({**base, "ceiling_fraction": 0.64, "ceiling_fraction_ci": [0.62, 0.66],
                                "floor_fraction": 0.64 * 1.45, "draw_over_matmul": 0.45})
    assert "about **93 %** of the round" in floor and "cannot exceed about 69 %" in floor and "about 7 %" in floor
    disturbed = _fraction_sentence({**base, "ceiling_fraction": 0.85, "ceiling_fraction_ci": [0.67, 0.9],
                                    "floor_fraction": 1.1, "draw_over_matmul": 0.3})
    assert "not to be trusted" in disturbed


def test_bench_only_without_json_is_refused_before_measuring():
    """A partial run must never replace the published figures: `--only` without `--json` exits 2 at once."""
    published = ROOT / "published" / "bench.json"
    before = published.read_bytes() if published.exists() else None
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "bench", "--only", "loop_ratio"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and time.perf_counter() - start < 60
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "--only needs --json FILE" in lines[0], out.stderr
    assert (published.read_bytes() if published.exists() else None) == before
