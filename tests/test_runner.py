"""The runner end to end: list, run (with papermill), bad input, determinism."""
import json
import subprocess
import sys

import nbformat
import pytest

from mtrl_lib.book.chapters import CHAPTERS, get_chapter
from mtrl_lib.book.cli_values import ParameterError, parse_cli_value, resolve

SMALL_C1 = ["-p", "d", "30", "-p", "m", "40", "-p", "kappa_tasks", "400", "-p", "pull_tasks", "100",
            "-p", "pull_points", "20"]


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "mtrl_lib", *args], capture_output=True, text=True, timeout=timeout)


def test_list_names_every_chapter_claim_and_parameters():
    out = cli("list")
    assert out.returncode == 0
    for c in CHAPTERS:
        assert c.name in out.stdout and f"[{c.claim}]" in out.stdout
    assert "kappa_tasks = 2000" in out.stdout


def test_notebook_parameters_cell_matches_params_defaults():
    for c in CHAPTERS:
        nb = nbformat.read(c.notebook, as_version=4)
        cells = [x for x in nb.cells if "parameters" in x.metadata.get("tags", [])]
        assert len(cells) == 1, c.name
        ns = {}
        exec(cells[0].source, ns)
        nb_values = {k: v for k, v in ns.items() if not k.startswith("__")}
        defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in c.defaults().items()}
        assert nb_values == defaults, c.name
        assert all(not x.get("outputs") for x in nb.cells if x.cell_type == "code"), "committed with outputs"


def test_parameter_parsing_and_validation():
    assert parse_cli_value("50") == 50 and parse_cli_value("0.5") == 0.5 and parse_cli_value("True") is True
    assert parse_cli_value("[1, 5]") == [1, 5] and parse_cli_value("cpu") == "cpu"
    c = get_chapter("01_pseudo_contrastive")
    assert resolve(c, "quick", {"d": 50}).d == 50
    assert resolve(c, "quick", {"eta_a": 2}).eta_a == 2.0
    assert resolve(c, "paper", {}).d == c.paper["d"]
    with pytest.raises(ParameterError) as e:           # a near miss names the parameter it was probably meant to be
        resolve(c, "quick", {"seedz": 3})
    assert "unknown parameter 'seedz' for chapter" in str(e.value) and "(did you mean seeds?)" in str(e.value)
    assert "\n" not in str(e.value) and "its parameters are: " in str(e.value)
    with pytest.raises(ParameterError) as e:           # nothing close: no guess
        resolve(c, "quick", {"colour": 3})
    assert "did you mean" not in str(e.value)
    with pytest.raises(ParameterError) as e:           # a class attribute of Params is no parameter
        resolve(c, "quick", {"constraints": 3})
    assert "unknown parameter 'constraints'" in str(e.value) and "constraints" not in str(e.value).split(": ", 1)[1]
    for bad, match in [({"dd": 1}, "unknown parameter 'dd'"), ({"d": "abc"}, "d must be an integer"),
                       ({"r": 500}, r"r must be an integer in \[1, 100\], got 500"),
                       ({"T": 0}, "T must be an integer in")]:
        with pytest.raises(ParameterError, match=match):
            resolve(c, "quick", bad)


@pytest.mark.parametrize("args, needle", [
    (["run", "no_such_chapter"], "chapter must be one of"),
    (["run", "01_pseudo_contrastive", "-p", "r", "500"], "r must be an integer in [1, 100], got 500"),
    (["run", "01_pseudo_contrastive", "-p", "colour", "red"], "unknown parameter 'colour'"),
    (["run", "01_pseudo_contrastive", "-p", "seedz", "3"], "unknown parameter 'seedz' for chapter 01_pseudo_contrastive "
                                                          "(did you mean seeds?); its parameters are: "),
    (["run", "01_pseudo_contrastive", "-p", "d", "fifty"], "d must be an integer, got 'fifty'"),
    (["run", "01_pseudo_contrastive", "--profile", "huge"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(args, needle, tmp_path, capsys):
    """The command line's main, in-process (argparse's own errors exit 2 through SystemExit); the real process
    is run once below."""
    from mtrl_lib.book import cli as command_line

    argv = [*args, "--out", str(tmp_path)] if args[0] == "run" and "--profile" not in args else list(args)
    try:
        code = command_line.main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err
    assert not list(tmp_path.glob("*.json"))


def test_bad_input_in_a_real_process_exits_2_with_one_line(tmp_path):
    for args, needle in (["run", "01_pseudo_contrastive", "-p", "r", "500", "--out", str(tmp_path)], "got 500"), \
                        (["run", "01_pseudo_contrastive", "--profile", "huge"], "invalid choice"):
        out = cli(*args)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and needle in lines[0] and "Traceback" not in out.stderr


def test_run_chapter1_writes_json(tmp_path, kernel):
    """One run through the command line. That a rerun gives the same bytes is tested once for the runner
    (tests/test_scale_cli.py: lone, from the store, on a LocalCluster) and per unit function at 1 and 2 threads
    (tests/test_thread_count.py), so it is not paid for again here."""
    a = tmp_path / "a"
    res = cli("run", "01_pseudo_contrastive", *SMALL_C1, "--out", str(a))
    assert res.returncode == 0, res.stderr
    data = json.loads((a / "01_pseudo_contrastive.json").read_text())
    assert data["c1_grad_rel_err"] <= 1e-5
    assert data["c1_verdict"] == "reproduced"
    assert {"c1_kappa_max_dev", "c1_kappa_mc_max", "c1_pull_corr"} <= set(data)
    prov = json.loads((a / "01_pseudo_contrastive.provenance.json").read_text())
    assert prov["parameters"]["d"] == 30 and prov["profile"] == "quick"
    nb = nbformat.read(a / "01_pseudo_contrastive.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_every_chapter_builds_its_params_from_the_notebook_in_one_line():
    """Each notebook passes its parameters cell whole to Params.from_namespace, so every -p reaches the
    experiment: the paper profile's overrides, injected one at a time, all arrive."""
    for c in CHAPTERS:
        nb = nbformat.read(c.notebook, as_version=4)
        code = "\n".join(x.source for x in nb.cells if x.cell_type == "code")
        assert "chapter.Params.from_namespace(globals())" in code, c.name
        ns = {}
        exec(next(x for x in nb.cells if "parameters" in x.metadata.get("tags", [])).source, ns)
        cls = c.params_class
        assert cls.from_namespace(ns) == cls(), c.name
        p = cls.from_namespace({**ns, **c.paper})         # together: some fields are checked against others
        for name, value in c.paper.items():
            assert getattr(p, name) == (tuple(value) if isinstance(value, list) else value), (c.name, name)
