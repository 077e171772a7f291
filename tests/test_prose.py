"""The chapters' prose types no quantitative claim: every number and comparative word about a computed quantity is
glued (an ``{eval}`` or ``{glue}`` role) or chosen by a computed condition (a glued phrase).

The before-stop review (``../shared/hooks/before-stop``) flags typed numbers; this test flags typed
*comparatives*: words that say one computed quantity is larger, sooner, of some order or a multiple of another.
It strips glue and eval roles, inline code and mathematics, splits each markdown cell into sentences, and fails on
a sentence holding a word of :data:`COMPARATIVE`. :data:`ALLOW` is the short list of sentences that stay typed
because they are pure mathematics (true of the formula, whatever a run computes), each with its reason.
"""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))

_STRIP = re.compile(r"\{(?:glue|eval)[^}]*\}`[^`]*`|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|```.*?```", re.S)
COMPARATIVE = re.compile(r"\b(" + "|".join([
    r"sooner", r"later than", r"faster", r"slower", r"better than", r"worse than", r"beats?", r"outperforms?",
    r"exceeds?",
    r"(?:larger|smaller|bigger|greater|fewer|higher|lower|more|less|weaker|stronger) than",
    r"(?:grows?|falls?|shrinks?|rises?|drops?|decreases?|increases?) (?:with|like|as)",
    r"of order", r"factor of", r"by a factor", r"twice", r"thrice", r"half as", r"\w+-fold",
    r"times (?:larger|smaller|more|less)", r"a third", r"a quarter", r"a share", r"linear growth",
    r"grows linearly", r"nearly", r"almost", r"close to", r"far (?:below|above)", r"well (?:below|above)",
    r"consistent with", r"contains", r"indistinguishable", r"equal to", r"the same as",
]) + r")\b", re.I)

#: notebook stem -> sentence beginnings (after stripping) that may keep a typed comparative, each with its reason
MATH = "mathematics: true of the formula, whatever a run computes"
CLAIM = "the paper's claim, stated as the claim the chapter tests"
RULE = "a declared rule or criterion of the book, true by construction"
ALLOW: dict[str, dict[str, str]] = {
    "02_subspace_recovery": {
        "# Multi-task training recovers the subspace **Claim C2.**": CLAIM,
        "It enters twice.": MATH,
        "(i) At the start": MATH,
        "that the error shrinks as the number of tasks": CLAIM + " (the book's reading of it, so labelled)",
    },
    "03_downstream": {
        "**Claim C4.**": CLAIM,
        "**Pretrained features inherit this": MATH,
        "for the nuisances of different neurons are then nearly independent": MATH,
        "each random feature is mostly nuisance": MATH,
        "With fixed it would grow like": MATH,
        "The cost of pretraining grows like": MATH,
        '"Independent of " is tested *given* a pretraining budget': RULE,
        "pretraining must bring the features within it of the oracle": RULE,
        "over this sweep's factor": RULE + " (what the declared margin allows, and a sketch's exponent)",
    },
    "04_single_task": {
        "The other directions of are, as far as one task's training is concerned": MATH + " (the symmetry argument)",
        "the top- singular subspace of overlaps them only as much as a random subspace would": MATH,
        "it is predicted to *remove* what random initialisation had of them": MATH + " (a prediction, tested below)",
        "For the linear family the symmetry argument": MATH,
    },
}


def typed_comparatives(nb_path: Path) -> list[tuple[int, str, str]]:
    """(cell index, word, sentence) for each flagged sentence of the notebook's markdown cells."""
    allowed = ALLOW.get(nb_path.stem, {})
    found = []
    for i, cell in enumerate(json.loads(nb_path.read_text())["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = _STRIP.sub(" ", "".join(cell["source"]))
        for sentence in re.split(r"(?<=[.!?:;])\s+", text):
            sentence = " ".join(sentence.split())
            hit = COMPARATIVE.search(sentence)
            if hit and not any(sentence.startswith(a) for a in allowed):
                found.append((i, hit.group(0), sentence))
    return found


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_typed_comparative_outside_glue(nb):
    found = typed_comparatives(nb)
    assert not found, f"{nb.name}: typed comparatives (glue, guard or remove them):\n" + "\n".join(
        f"  cell {i}: '{w}' in: {s[:200]}" for i, w, s in found)


def test_every_allowed_sentence_is_still_there():
    """An allow-list entry whose sentence was rewritten would silently allow nothing; it must go."""
    for stem, entries in ALLOW.items():
        cells = json.loads((NOTEBOOKS[0].parent / f"{stem}.ipynb").read_text())["cells"]
        text = " ".join(" ".join(_STRIP.sub(" ", "".join(c["source"])).split())
                        for c in cells if c["cell_type"] == "markdown")
        for start in entries:
            assert start in text, f"{stem}: allow-list entry no longer in the prose: {start!r}"


def test_the_check_flags_a_typed_comparative(tmp_path):
    nb = tmp_path / "x.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": [
        "The error is {eval}`glued['e']`. Adapted heads escape sooner than frozen ones. $a < b$ holds."]}]}))
    assert [w for _, w, _ in typed_comparatives(nb)] == ["sooner"]
