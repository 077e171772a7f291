"""The paper-scale page: the intro's claims tables re-rendered with the published paper-profile values."""
import json

import nbformat
import pytest

from mtrl_lib.book import paper_scale as ps
from mtrl_lib.book.chapters import CHAPTERS, get_chapter
from mtrl_lib.book.store import science_digest

INTRO = """# Intro

| id | claim | verdict |
|----|-------|---------|
| C2 | recovers | {doc}`chapters/02_subspace_recovery`: {glue:text}`chapters/02_subspace_recovery.ipynb::c2_verdict:s`; error {glue:text}`chapters/02_subspace_recovery.ipynb::c2_err_Tmax:.3f` |

Some prose between the tables.

| question | verdict |
|---|---|
| real data? | {glue:text}`chapters/07_real_data.ipynb::rd_acc_multi:.2f` |
"""


def _data(glued2, glued7=None, digest=None):
    ch = {"02_subspace_recovery": {"glued": glued2, "wall_time_s": 12.0, "git_commit": "abc", "units_total": 4,
                                   "units_from_store": 4}}
    if glued7 is not None:
        ch["07_real_data"] = {"glued": glued7, "wall_time_s": 3.0, "git_commit": "abc", "units_total": 2,
                              "units_from_store": 2}
    return {"profile": "paper", "date": "2026-11-29", "science_digest": digest or science_digest(),
            "regenerate": ps.REGENERATE, "chapters": ch}


def test_claims_rows_take_the_paper_values_in_the_intros_format():
    rows = ps.claims_rows(_data({"c2_verdict": "reproduced", "c2_err_Tmax": 0.02512}, {"rd_acc_multi": 0.8612}), INTRO)
    text = "\n".join(rows)
    assert "reproduced; error 0.025 |" in text and "| 0.86 |" in text
    assert "{glue:text}" not in text and "{doc}`chapters/02_subspace_recovery`" in text
    assert rows.count("") == 1                                  # two tables, kept apart
    assert "Some prose" not in text


def test_a_value_that_was_not_computed_says_so():
    rows = ps.claims_rows(_data({"c2_verdict": "reproduced"}), INTRO)
    assert "\n".join(rows).count("(not computed)") == 1          # c2_err_Tmax
    assert rows[-1] == "| real data? | not computed at paper scale yet |"     # chapter 7 not run at all


def test_what_the_page_would_show_as_not_computed_is_named_in_one_line():
    """A published chapter that lacks a value the intro quotes, and chapters not published at all: each is named
    (make site and make publish refuse such a page); a complete publication gives None."""
    data = _data({"c2_verdict": "reproduced"})
    gaps = ps.lacking(data, INTRO)
    assert "02_subspace_recovery:c2_err_Tmax" in gaps and "07_real_data" in gaps and "02_subspace_recovery" not in gaps
    line = ps.incomplete_line(data, INTRO)
    assert "\n" not in line and "02_subspace_recovery:c2_err_Tmax" in line and "not computed" in line
    full = _data({"c2_verdict": "reproduced", "c2_err_Tmax": 0.02}, {"rd_acc_multi": 0.8})
    for c in CHAPTERS:
        full["chapters"].setdefault(c.name, {**full["chapters"]["07_real_data"], "glued": {}})
    assert ps.lacking(full, INTRO) == [] and ps.incomplete_line(full, INTRO) is None
    assert ps.NOT_COMPUTED not in ps.render(full, INTRO)
    assert ps.lacking(None, INTRO) == ["every chapter"]


def test_a_strict_page_that_would_show_not_computed_is_refused_and_not_written(tmp_path):
    (tmp_path / "pub.json").write_text(json.dumps(_data({"c2_verdict": "reproduced"})))
    with pytest.raises(ps.IncompletePage) as e:
        ps.write_page(tmp_path / "p.md", tmp_path / "pub.json", strict=True)
    assert "\n" not in str(e.value) and "the page was not written" in str(e.value)
    assert not (tmp_path / "p.md").exists()
    assert ps.NOT_COMPUTED in ps.write_page(tmp_path / "p.md", tmp_path / "pub.json").read_text()   # a plain build


def test_tasks_table_has_every_paper_T_with_its_interval():
    Ts = get_chapter("02_subspace_recovery").profile("paper")["T_values"]
    glued = {}
    for j, T in enumerate(Ts):
        glued[f"c2_linear_err_T{T}"], glued[f"c2_linear_err_T{T}_ci"] = 1.0 / (j + 1), 0.01
    rows = ps.tasks_table(_data(glued))
    assert len(rows) == 3 and all(f"$T$ = {T}" in rows[0] for T in Ts)
    assert rows[2].startswith("| `linear` | 1.000 ± 0.010 |")


def test_render_warns_when_the_science_changed_and_explains_an_empty_publication():
    assert "{warning}" not in ps.render(_data({}), INTRO)
    assert "{warning}" in ps.render(_data({}, digest="0" * 64), INTRO)
    assert "has not been published yet" in ps.render(None, INTRO)


def test_publish_reads_the_executed_paper_chapters(tmp_path):
    for c in CHAPTERS:
        nb = nbformat.v4.new_notebook()
        (tmp_path / f"{c.name}.ipynb").write_text(nbformat.writes(nb))
        rec = {"profile": "paper", "wall_time_s": 1.0, "git_commit": "abc", "units_total": 3,
               "units_from_store": 3, "executor": "in-process", "device": "cpu"}
        (tmp_path / f"{c.name}.provenance.json").write_text(json.dumps(rec))
    out = ps.publish(tmp_path, tmp_path / "paper-scale.json")
    data = json.loads(out.read_text())
    assert set(data["chapters"]) == {c.name for c in CHAPTERS}
    assert data["chapters"][CHAPTERS[0].name]["units_from_store"] == 3
    rec = json.loads((tmp_path / f"{CHAPTERS[0].name}.provenance.json").read_text())
    rec["profile"] = "quick"
    (tmp_path / f"{CHAPTERS[0].name}.provenance.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="not 'paper'"):
        ps.publish(tmp_path, tmp_path / "again.json")


def test_the_page_renders_the_real_intro(tmp_path):
    page = ps.write_page(tmp_path / "p.md", tmp_path / "missing.json")
    assert "has not been published yet" in page.read_text()
    data = _data({"c2_verdict": "reproduced"})
    (tmp_path / "pub.json").write_text(json.dumps(data))
    text = ps.write_page(tmp_path / "p.md", tmp_path / "pub.json").read_text()
    assert text.count("{doc}`chapters/") >= len(CHAPTERS)      # every claims row of the real intro
    assert "## What each chapter ran" in text


def test_publish_from_run_outputs_can_be_partial(tmp_path):
    name = CHAPTERS[1].name
    (tmp_path / f"{name}.json").write_text(json.dumps({"c2_verdict": "reproduced"}))
    rec = {"profile": "paper", "wall_time_s": 2.0, "git_commit": "abc", "units_total": 5, "units_from_store": 0}
    (tmp_path / f"{name}.provenance.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="has no executed paper-profile results"):
        ps.publish(tmp_path, tmp_path / "full.json")
    data = json.loads(ps.publish(tmp_path, tmp_path / "part.json", partial=True).read_text())
    assert list(data["chapters"]) == [name] and data["chapters"][name]["glued"]["c2_verdict"] == "reproduced"
    page = ps.render(data, INTRO)
    assert "Not computed at paper scale yet" in page and CHAPTERS[0].name in page
    assert ps.main([str(tmp_path / "empty")]) == 2


def test_a_build_from_the_store_keeps_the_computing_runs_time(tmp_path):
    name = CHAPTERS[1].name
    rec = {"profile": "paper", "wall_time_s": 1500.0, "git_commit": "abc", "units_total": 5, "units_from_store": 1,
           "executor": {"kind": "dask", "scheduler": "tcp://127.0.0.1:1", "workers": 2}}
    (tmp_path / f"{name}.json").write_text(json.dumps({"c2_verdict": "reproduced"}))
    (tmp_path / f"{name}.provenance.json").write_text(json.dumps(rec))
    out = tmp_path / "pub.json"
    first = json.loads(ps.publish(tmp_path, out, partial=True).read_text())["chapters"][name]
    assert first["computed"]["units_computed"] == 4 and first["computed"]["wall_time_s"] == 1500.0
    rec.update(wall_time_s=20.0, units_from_store=5, executor={"kind": "in-process"})
    (tmp_path / f"{name}.provenance.json").write_text(json.dumps(rec))
    again = json.loads(ps.publish(tmp_path, out, partial=True).read_text())
    ch = again["chapters"][name]
    assert ch["wall_time_s"] == 20.0 and ch["computed"] == first["computed"]
    assert "| 20 s | 25 min for 4 units (Dask, 2 workers) |" in ps.render(again, INTRO)


def test_the_published_paper_build_read_every_unit_from_the_store():
    """published/paper-scale.json comes from a paper build that computed nothing (issue 12's done-when)."""
    data = ps.load()
    assert data is not None and data["profile"] == "paper"
    assert set(data["chapters"]) == {c.name for c in CHAPTERS}
    for name, rec in data["chapters"].items():
        assert rec["units_total"] > 0 and rec["units_from_store"] == rec["units_total"], name
        assert rec["computed"]["units_computed"] > 0, name


def _tracked_status() -> str:
    import subprocess

    from mtrl_lib.book.chapters import ROOT

    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "published"], cwd=ROOT,
                          capture_output=True, text=True).stdout


def test_the_paper_profile_reads_the_published_store_by_default_and_writes_nothing_tracked(tmp_path, kernel):
    """`run --profile paper` with no --store: every unit from published/paper-results, none computed, and
    published/ untouched (the command line and `make book PROFILE=paper` alike)."""
    import subprocess
    import sys

    from mtrl_lib.book.chapters import ROOT

    before = _tracked_status()
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "run", "04_single_task", "--profile", "paper",
                          "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    prov = json.loads((tmp_path / "04_single_task.provenance.json").read_text())
    assert prov["units_total"] == prov["units_from_store"] > 0
    assert prov["store_read_also"] == [str(ROOT / "published" / "paper-results")]
    assert _tracked_status() == before
    glued = json.loads((tmp_path / "04_single_task.json").read_text())
    assert glued == ps.load()["chapters"]["04_single_task"]["glued"]      # the published values, recomputed


@pytest.mark.parametrize("args, needle", [
    (["run", "04_single_task", "--publish"], "--publish publishes paper-profile results only"),
    (["book", "--profile", "paper", "--publish", "--store", "x"], "--publish writes published/paper-results"),
])
def test_publish_is_paper_only_and_writes_the_published_store(args, needle):
    import subprocess
    import sys

    from mtrl_lib.book.chapters import ROOT

    out = subprocess.run([sys.executable, "-m", "mtrl_lib", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and needle in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_publish_prunes_only_the_entries_no_chapter_reads(tmp_path):
    """make publish keeps exactly the units the book reads: every chapter records its keys
    (CHAPTER.keys.json); an entry in none of them is deleted, and nothing is pruned while a record is missing."""
    from mtrl_lib.book.chapters import CHAPTERS
    from mtrl_lib.book.cli import prune_unread

    store, executed = tmp_path / "store", tmp_path / "executed"
    executed.mkdir()
    keys = [f"{i:02x}" + "0" * 62 for i in range(4)]
    for k in keys:
        (store / k[:2]).mkdir(parents=True, exist_ok=True)
        (store / k[:2] / f"{k}.json").write_text("{}")
    for c in CHAPTERS[:-1]:
        (executed / f"{c.name}.keys.json").write_text(json.dumps(keys[:1]))
    line = prune_unread(store, executed)
    assert "not pruned" in line and CHAPTERS[-1].name in line and len(list(store.glob("??/*.json"))) == 4
    (executed / f"{CHAPTERS[-1].name}.keys.json").write_text(json.dumps(keys[1:2]))
    line = prune_unread(store, executed)
    assert "2 that no chapter reads deleted" in line
    assert sorted(p.stem for p in store.glob("??/*.json")) == keys[:2]
