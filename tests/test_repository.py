"""From the page to the code (mtrl_lib/book/repository.py, book/_ext/mtrl_links.py): the URLs, their targets (a
file git tracks or a file the Pages workflow writes), the Colab notebooks and their install cell, which does
nothing outside Colab. Colab itself cannot be reached from here; the built book's links are checked by
tests/test_site.py (built with GITHUB_REPOSITORY) and below (built without it)."""
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from mtrl_lib.book import repository as R
from mtrl_lib.book.chapters import CHAPTERS, ROOT

REPO = "octo-org/mtrl-book"
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
HTML = ROOT / "_build" / "html"


@pytest.mark.parametrize("value", ["octo-org/mtrl-book", "a/b", "Octo/repo.name_x", " octo/mtrl \n"])
def test_a_repository_is_owner_slash_name(value):
    assert R.parse(value) == value.strip()


@pytest.mark.parametrize("value", ["octo", "octo/", "/mtrl", "octo/mtrl/x", "-octo/mtrl", "octo/..", "oc to/m",
                                   "https://github.com/octo/mtrl"])
def test_a_malformed_repository_is_one_line_of_bad_input(value):
    with pytest.raises(ValueError, match="GITHUB_REPOSITORY must be OWNER/REPO"):
        R.parse(value)
    assert R.repository({"GITHUB_REPOSITORY": ""}) is None and R.repository({}) is None


def test_the_book_command_refuses_a_malformed_repository_before_computing():
    env = {**os.environ, "GITHUB_REPOSITORY": "not a repository"}
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "book"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "GITHUB_REPOSITORY must be OWNER/REPO" in lines[0]


def test_the_urls_have_the_forms_of_the_issue():
    name = "02_subspace_recovery"
    assert R.repo_url(REPO) == f"https://github.com/{REPO}"
    assert R.notebook_url(REPO, name) == f"https://github.com/{REPO}/blob/main/notebooks/{name}.ipynb"
    assert R.colab_url(REPO, name) == (f"https://colab.research.google.com/github/{REPO}/blob/"
                                       f"{R.COLAB_BRANCH}/{name}.ipynb")
    assert "off" in R.status_line(None) and "GITHUB_REPOSITORY" in R.status_line(None)
    assert len(R.status_line(None).splitlines()) == 1


def test_every_source_notebook_link_points_at_a_file_git_tracks():
    for c in CHAPTERS:
        url = R.notebook_url(REPO, c.name)
        path = url.split(f"/blob/{R.SOURCE_BRANCH}/", 1)[1]
        out = subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, f"{path} is not tracked by git"


def _workflow() -> dict:
    wf = yaml.safe_load(WORKFLOW.read_text())
    wf["on"] = wf.pop(True, wf.get("on"))
    return wf


def test_every_colab_link_points_at_a_file_the_workflow_writes(tmp_path):
    """The workflow's job `notebooks` runs the module's command into a folder and pushes that folder to the branch
    the Colab URLs name; running the same command here writes a file for every Colab URL."""
    job = _workflow()["jobs"]["notebooks"]
    assert job["permissions"] == {"contents": "write"} and "refs/heads/main" in job["if"]
    runs = [s for s in job["steps"] if "run" in s]
    write = next(s["run"] for s in runs if "mtrl_lib.book.repository" in s["run"])
    m = re.search(r"python -m mtrl_lib\.book\.repository --colab-notebooks (\S+) --ref \"\$GITHUB_SHA\"", write)
    assert m, write
    push = next(s for s in runs if "git push" in s["run"])
    assert push["working-directory"] == m.group(1)
    assert re.search(rf"HEAD:{R.COLAB_BRANCH}\b", push["run"]) and "${GITHUB_REPOSITORY}" in push["run"]
    env = {**os.environ, "GITHUB_REPOSITORY": REPO}
    out = subprocess.run([sys.executable, "-m", "mtrl_lib.book.repository", "--colab-notebooks", str(tmp_path),
                          "--ref", "0123abc"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for c in CHAPTERS:
        url = R.colab_url(REPO, c.name)
        target = url.split(f"/blob/{R.COLAB_BRANCH}/", 1)[1]
        assert (tmp_path / target).is_file(), target


def test_the_colab_notebooks_module_needs_only_the_standard_library(tmp_path):
    """The workflow's job runs it with a bare Python: no numpy, torch, yaml or nbformat may be imported."""
    code = textwrap.dedent(f"""
        import sys
        from mtrl_lib.book import repository
        repository.write_colab_notebooks({str(tmp_path)!r}, {REPO!r}, "abc")
        heavy = sorted(m for m in ("numpy", "torch", "yaml", "nbformat", "scipy") if m in sys.modules)
        assert not heavy, heavy
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_a_colab_notebook_is_its_source_with_the_install_cell_first(tmp_path):
    paths = R.write_colab_notebooks(tmp_path, REPO, "0123abc")
    assert [p.name for p in paths] == [f"{c.name}.ipynb" for c in CHAPTERS]
    for c, p in zip(CHAPTERS, paths):
        colab, source = json.loads(p.read_text()), json.loads(c.notebook.read_text())
        first = colab["cells"][0]
        assert first["id"] == R.INSTALL_CELL_ID and first["metadata"]["tags"] == ["remove-cell"]
        assert first["cell_type"] == "code" and first["outputs"] == []
        assert colab["cells"][1:] == source["cells"] and colab["metadata"] == source["metadata"]
        src = first["source"]
        assert f'"mtrl-lib @ git+https://github.com/{REPO}@0123abc"' in src
        assert "torch" not in src.replace("Colab's own torch", "")     # never (re)installs torch
    import nbformat

    nbformat.validate(nbformat.read(paths[0], as_version=4))


def _run_cell(source: str, colab: bool) -> list:
    """Run the install cell in a fresh interpreter, with or without a stand-in ``google.colab`` module, with
    ``subprocess.run`` recording its calls instead of running them; return the recorded calls."""
    code = textwrap.dedent("""
        import json, subprocess, sys, types
        calls = []
        subprocess.run = lambda args, **kw: calls.append([list(args), kw])
        if COLAB:
            google = types.ModuleType("google"); google.colab = types.ModuleType("google.colab")
            sys.modules["google"], sys.modules["google.colab"] = google, google.colab
        exec(compile(SOURCE, "install-cell", "exec"), {})
        print(json.dumps(calls))
    """).replace("COLAB", repr(colab), 1).replace("SOURCE", repr(source), 1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_install_cell_does_nothing_outside_colab_and_pip_installs_inside():
    source = R.install_cell_source(REPO, "0123abc")
    assert _run_cell(source, colab=False) == []
    [[args, kw]] = _run_cell(source, colab=True)
    assert args[1:4] == ["-m", "pip", "install"] and kw == {"check": True}
    packages = [a for a in args[4:] if not a.startswith("-")]
    assert packages == [f"mtrl-lib @ git+https://github.com/{REPO}@0123abc", R.pinned("papermill")]
    assert not any(p.split("=")[0].strip().lower() in ("torch", "numpy", "scipy") for p in packages)


@pytest.mark.slow
def test_the_install_cell_does_nothing_under_papermill(tmp_path, kernel):
    """Executed by papermill (as the book executes chapters), the cell installs nothing: a first cell records any
    call to subprocess, the install cell runs, and a last cell fails if anything was called."""
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import subprocess\ncalls = []\n"
                                          "subprocess.run = lambda *a, **k: calls.append(a)"),
                nbformat.from_dict(R.install_cell(REPO, "0123abc")),
                nbformat.v4.new_code_cell("import sys\nassert 'google.colab' not in sys.modules\n"
                                          "assert calls == [], calls")]
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    pm.execute_notebook(str(src), str(out), kernel_name="python3", progress_bar=False, log_output=False)
    executed = nbformat.read(out, as_version=4)
    assert all(not any(o.get("output_type") == "error" for o in c.get("outputs", [])) for c in executed.cells)


def test_the_reproducing_page_starts_with_git_clone_and_says_colab_was_not_tried():
    page = (ROOT / "book" / "reproducing.md").read_text()
    first = page.split("\n## ", 2)[1]
    assert first.startswith("Get the code") and "get_the_code.md" in first
    assert "make book" in first and "make test" in first
    assert "Colab was not tried" in page
    unknown = R.get_the_code(None)          # no address: said in words, with no URL a reader could copy
    assert "not recorded in this build" in unknown and "https://" not in unknown and "OWNER" not in unknown
    assert f"git clone https://github.com/{REPO}.git" in R.get_the_code(REPO)


@pytest.mark.slow
def test_built_without_a_repository_the_book_has_no_repository_links(built_book):
    """built_book runs with GITHUB_REPOSITORY unset (tests/conftest.py): the build says the links are off, and no
    page has a repository, issue, source-notebook or Colab link."""
    assert "repository links are off" in built_book.stdout
    for page in HTML.rglob("*.html"):
        if "_static" in page.parts:
            continue
        text = page.read_text()
        for bad in ("colab.research.google.com", "mtrl-page-links", "source-repository-button",
                    "source-issues-button", "/blob/main/notebooks/"):
            assert bad not in text, f"{page.relative_to(HTML)}: {bad}"
