"""Where a glued number comes from: the short note the book shows when a reader hovers or focuses it.

Every number of a chapter's prose is glued (:mod:`mtrl_lib.book.glue`) and rendered by the book's extension
``book/_ext/glued_eval.py``, which asks :func:`note` for each one: **what it is** (a mean with the half-width
of its 95% interval over n seeds, a count, a parameter of the run, a declared threshold, words chosen by a
test, ...), **the profile and commit** it was computed at (the chapter's provenance record), and **the
commands** that recompute its chapter and audit the chapter's stored units.

What a value is, is inferred from its name and value (:func:`describe`), by the book's naming conventions:

- ``NAME_ci`` is the half-width of the 95% Student-t interval of ``NAME`` (:func:`mtrl_lib.book.glue.glue_ci`),
  so ``NAME`` with a ``NAME_ci`` beside it is a mean over the chapter's seeds;
- ``NAME_lo`` / ``NAME_hi``: an end of a 95% confidence interval;
- a name with a part ``median`` or ``med`` (``c2_err_T1_median``, ``p8_err_end_med_n2``): a median over the
  seeds, of what the rest of the name (or the chapter's note) says;
- ``..._verdict``: the chapter's verdict; ``..._n_seeds``: the number of seeds;
- the part of a name after the chapter's prefix (``c2_d`` -> ``d``) that names a parameter of the run, with
  the parameter's value: that parameter, with its meaning (:func:`mtrl_lib.book.chapters.param_meanings`);
  ``..._min`` / ``..._max`` (``d_min``, ``Tmax``) with the smallest or largest value of a swept parameter;
- ``explore_...``: a setting of the Explore section's small runs; ``grid_...``: the step-size grid;
- ``level``, ``threshold``, ``margin``, ``bound``, ``target``, ``tol``, ``alpha``: a threshold the chapter
  declares before it runs;
- a string: words chosen by a computed test (``_vs_``, ``_word``, ``_phrase``, ...) or a computed phrase;
- a topic word in the name (``acc``, ``err``, ``energy``, ``slope``, ``corr``, ...) says what was measured.

**A chapter may say it better.** Its experiment module may declare ``GLUE_NOTES``, a dict from a glue name, or an
``fnmatch`` pattern such as ``"c2_err_T*"``, to a one-line description; a match there comes first, and the
rules above still add the kind (mean over n seeds, ...) where they find one. Names that no rule and no entry
describes get "a value computed by the chapter": :func:`undescribed` lists them (``tests/test_reader.py``
reports the count).

**Capped values.** A chapter that glues ``NAME_capped`` (how many seeds sat at the cap of a sweep, so that
``NAME`` is a lower bound) gets ``≥ X (every seed at the cap)`` in place of ``X ± 0`` when every seed did, and
``X ± Y, a lower bound (k of n seeds at the cap)`` otherwise (:func:`capped_text`).
"""
from __future__ import annotations

import fnmatch
import html
import importlib
import re

KINDS_OF_WORDS = ("_vs_", "_word", "_phrase", "_relation", "_status", "_matches", "_moved", "_reading",
                  "_within", "_change", "_carry")
THRESHOLD_WORDS = ("level", "threshold", "margin", "bound", "target", "tol", "alpha", "cosine", "material",
                   "min_gain", "min_removed", "min_pixel")
TOPICS = (  # (word in the name, what was measured), first match wins
    ("slope", "a fitted slope (the exponent of a power law, fitted on log scales)"),
    ("rel_err", "a relative error"),
    ("n3_needed", "the number of labelled samples needed to reach the target accuracy"),
    ("q95", "the 95% quantile of a null distribution"),
    ("corr", "a correlation"),
    ("acc", "a test accuracy (the share of fresh test labels predicted correctly)"),
    ("cosmin", "the smallest principal cosine between span(M) and the learned subspace"),
    ("recovered", "the number of directions recovered (principal cosines at or above the threshold)"),
    ("directions", "a number of directions recovered"),
    ("energy", "the energy of W in span(M), ‖WM‖²_F / ‖W‖²_F"),
    ("err", "an error (in most chapters the subspace error ‖P_M − P_U‖₂)"),
    ("gap", "a gap between two quantities"),
    ("ratio", "a ratio"),
    ("_over_", "a ratio of two quantities"),
    ("escape", "an escape round (the first round the error falls below the chapter's level)"),
    ("snr", "a signal-to-noise ratio"),
    ("signal", "the size of a signal"),
    ("coh", "a coherence"),
    ("gain", "a gain"),
    ("kappa", "a value of the task kernel κ"),
    ("effdim", "an effective dimension"),
    ("frac", "a fraction"),
    ("eig", "an eigenvalue"),
    ("wall", "a time in seconds"),
    ("lam", "a regularisation strength"),
    ("eta", "a step size"),
)


def chapter_notes(module_name: str) -> dict:
    """A chapter's optional ``GLUE_NOTES`` (name or fnmatch pattern -> one-line description)."""
    try:
        return dict(getattr(importlib.import_module(module_name), "GLUE_NOTES", {}) or {})
    except ImportError:
        return {}


def _from_map(name: str, notes: dict) -> str | None:
    if name in notes:
        return notes[name]
    for pattern, text in notes.items():
        if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(name, pattern):
            return text
    return None


def _stem(name: str) -> str:
    """The name without the chapter's prefix: ``c2_err_T1`` -> ``err_T1``."""
    return name.split("_", 1)[1] if "_" in name else name


def _n_seeds(glued: dict, params: dict | None) -> int | None:
    for k, v in glued.items():
        if k.endswith("_n_seeds") and not k.endswith("tune_n_seeds") and isinstance(v, (int, float)):
            return int(v)
    if params and isinstance(params.get("seeds"), (list, tuple)):
        return len(params["seeds"])
    return None


def _topic(name: str) -> str | None:
    low = name.lower()
    for word, text in TOPICS:
        if word in low:
            return text
    return None


def _param(stem: str, value, params: dict, meanings: dict) -> str | None:
    """The parameter the name stands for, when its value matches."""
    def said(p):
        meaning = meanings.get(p)
        return f"the parameter `{p}` of this run" + (f" ({meaning})" if meaning else "")

    if stem in params and _same(params[stem], value):
        return said(stem)
    m = re.fullmatch(r"(.+?)_?(min|max)", stem)
    if m:
        base, end = m.groups()
        for p in (base + "s", base + "_values", base):
            v = params.get(p)
            if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) for x in v):
                if _same(min(v) if end == "min" else max(v), value):
                    word = "smallest" if end == "min" else "largest"
                    return f"the {word} value of the parameter `{p}` (swept: {', '.join(map(str, v))})"
    return None


MEDIAN_PARTS = ("median", "med")


def _is_median(name: str) -> bool:
    """Whether a name stands for a median over the seeds: one of its ``_``-separated parts is ``median`` or
    ``med`` (``c2_err_T1_median``, ``p8_err_end_med_n2``)."""
    return any(part in MEDIAN_PARTS for part in name.lower().split("_"))


def _same(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


def describe(name: str, glued: dict, params: dict | None = None, meanings: dict | None = None,
             notes: dict | None = None) -> tuple[str, bool]:
    """``(what the glued value NAME is, in one sentence; whether it was described rather than guessed)``."""
    params, meanings, notes = params or {}, meanings or {}, notes or {}
    value = glued.get(name)
    n = _n_seeds(glued, params)
    over = f" over {n} seeds" if n else " over the seeds"
    own = _from_map(name, notes)
    stem = _stem(name)

    if name.endswith("_ci") and name[:-3] in glued:
        base = own or _from_map(name[:-3], notes) or _topic(name[:-3])
        return (f"The half-width of the 95% Student-t confidence interval of a mean{over}"
                + (f"; the mean is {base}" if base else "") + ".", True)
    if name + "_ci" in glued:
        what = own or _topic(name)
        return (f"A mean{over}, quoted with the half-width of its 95% Student-t interval (mean ± half-width)"
                + (f": {what[0].lower() + what[1:]}" if what else "") + ".", True)
    m = re.fullmatch(r"(.+)_(lo|hi)", name)
    if m and not own:
        end = "lower" if m.group(2) == "lo" else "upper"
        what = _topic(m.group(1))
        return (f"The {end} end of a 95% confidence interval{over}" + (f", of {what}" if what else "") + ".", True)
    if _is_median(name) and not isinstance(value, (str, bool)):
        what = own or _topic(re.sub(r"_(median|med)(?=_|$)", "", stem))
        if what and "median" in what.lower():
            return what if what.endswith(".") else what + ".", True
        return (f"A median{over} (the middle seed's value, which a few failing seeds do not move)"
                + (f": {what[0].lower() + what[1:].rstrip('.')}" if what else "") + ".", True)
    if own:
        return own if own.endswith(".") else own + ".", True
    if name.endswith("_verdict"):
        return "The chapter's verdict, decided by its computed criteria (see its Verdict section).", True
    if name.endswith("n_seeds"):
        return "The number of seeds: independent draws of the subspace, tasks, weights and samples.", True
    if name.endswith("min_seeds"):
        return "The fewest seeds the book accepts for a 95% interval (a declared rule).", True
    if stem.startswith("explore_"):
        p = stem[len("explore_"):]
        p = p.removeprefix("start_").removeprefix("static_")
        return f"A setting of the Explore section's small runs (`{p}`).", True
    if "capped" in stem or "censored" in stem:
        return "A count of seeds whose value sat at the end of the sweep (so the mean is a bound).", True
    if "grid" in stem or "tune" in stem:
        return ("A result of the step-size rule (a grid searched on held-out seeds, never the reported ones)"
                + (f": {_topic(stem)}" if _topic(stem) and not isinstance(value, str) else "") + ".", True)
    said = _param(stem, value, params, meanings)
    if said:
        return said[0].upper() + said[1:] + ".", True
    if isinstance(value, str) and re.fullmatch(r"\s*[-−]?[\d.]+\s*±\s*[\d.]+\s*", value):
        what = _topic(re.sub(r"_text$", "", stem))
        return (f"A mean{over}, quoted with the half-width of its 95% Student-t interval (mean ± half-width, "
                "written to the digits the half-width needs)"
                + (f": {what[0].lower() + what[1:]}" if what else "") + ".", True)
    if isinstance(value, str):
        if any(w in name for w in KINDS_OF_WORDS) or len(value.split()) <= 4:
            return ("Words chosen by a computed test (a paired test or interval at 5%), not typed: they change "
                    "when the numbers do.", True)
        return "A phrase computed from the results (its numbers and words change when the results do).", True
    if any(w in stem for w in THRESHOLD_WORDS):
        return "A threshold or margin the chapter declares before it runs (a rule, not a result).", True
    topic = _topic(stem)
    if isinstance(value, bool):
        return "A yes/no computed from the results.", True
    if topic:
        return topic[0].upper() + topic[1:] + ", computed by the chapter.", True
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1):
        return "A count or a size of the run, computed by the chapter.", False
    return "A value computed by the chapter.", False


def undescribed(glued: dict, params: dict | None = None, meanings: dict | None = None,
                notes: dict | None = None) -> list[str]:
    """The glued names that :func:`describe` could only guess at (listed by the reader's test)."""
    return sorted(k for k in glued if not describe(k, glued, params, meanings, notes)[1])


def capped_text(name: str, value_text: str, ci_text: str | None, glued: dict, params: dict | None = None
                ) -> str | None:
    """The text that replaces ``value_text ± ci_text`` when NAME is a capped mean (see the module), else None."""
    k = glued.get(f"{name}_capped")
    if not isinstance(k, (int, float)) or isinstance(k, bool) or k <= 0:
        return None
    n = _n_seeds(glued, params)
    if n is not None and int(k) >= n:
        return f"≥ {value_text} (every seed at the cap)"
    of = f" of {n}" if n else ""
    return f"{value_text}{' ± ' + ci_text if ci_text else ''}, a lower bound ({int(k)}{of} seeds at the cap)"


#: names from the code that a chapter's computed phrases may still carry, in the reader's words. The book's
#: machinery applies them to every glued phrase it shows (:func:`reader_words`), so that no internal name
#: reaches a page through a computed sentence; a chapter should say the words itself (then this is a no-op).
READER_WORDS = {
    "moment1 estimator": "first-moment estimator",
    "moment2 estimator": "second-moment estimator",
    "moment1": "first-moment estimator",
    "moment2": "second-moment estimator",
    "linrep": "linear representation",
    "ridge_loo": "ridge with a leave-one-out penalty",
    "shuffled_labels": "shuffled labels",
    "swapped_heads": "swapped heads",
    "sign_flipped": "flipped signs",
}
_READER_WORDS = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(READER_WORDS, key=len, reverse=True))
                           + r")\b")


def reader_words(text: str) -> str:
    """``text`` with the names of :data:`READER_WORDS` replaced by their words."""
    return _READER_WORDS.sub(lambda m: READER_WORDS[m.group(1)], text)


def commit_text(commit: str | None) -> str:
    if not commit or commit == "unknown":
        return "an unrecorded commit"
    dirty = commit.endswith("+dirty")
    return commit.removesuffix("+dirty")[:10] + (" with uncommitted changes" if dirty else "")


def note_html(name: str, chapter: str, what: str, value, profile: str | None, commit: str | None) -> str:
    """The note's HTML (its text is read by screen readers through ``aria-describedby``)."""
    profile = profile or "quick"
    esc = html.escape
    exact = (f" Unrounded: <code>{esc(repr(value))}</code>." if isinstance(value, float) else "")
    store = "" if profile == "paper" else " --store _build/store"
    what = re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(what))
    return (f'<span class="mtrl-note-what">{what}{exact}</span> '
            f'<span class="mtrl-note-where">Computed at the {esc(profile)} profile, commit '
            f'<code>{esc(commit_text(commit))}</code>; glued as <code>{esc(name)}</code> in '
            f'<code>{esc(chapter)}.json</code>.</span> '
            f'<span class="mtrl-note-how">Recompute: <code>python -m mtrl_lib run {esc(chapter)} --profile '
            f'{esc(profile)} --out results</code>. Audit its stored units: <code>python -m mtrl_lib verify'
            f'{store} --chapter {esc(chapter)}</code>.</span>')
