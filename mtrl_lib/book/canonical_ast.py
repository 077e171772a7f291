"""A canonical text of Python source that ignores what cannot change what the code computes.

:func:`canonical` turns a syntax tree into one string: node types and field values, with no line numbers,
no comments (the parser drops them), no docstrings and no other bare string statements (no-ops), and no
layout. Two sources that differ only in comments, docstrings, blank lines, line breaks, parentheses or quote
style give the same text; a changed operator, constant, name or argument gives another.

The text is the same on Python 3.11, 3.12 and 3.13, which plain ``ast.dump`` and code objects are not (3.12
adds ``type_params`` to every function and class, 3.13 drops empty fields from ``ast.dump``, code objects
change with every bytecode version). So a field is written only when it holds something (``None``, empty
lists and the ``kind`` of a string constant are left out), fields are written in sorted order, and the parts
of an f-string are merged into their plain shape (adjacent constant parts joined, empty ones dropped).
``tests/test_canonical_ast.py`` runs a fixture module through this file on every interpreter it finds and pins
the digest.

This module imports only the standard library, so any interpreter can run it as a file:
``python3.13 canonical_ast.py FILE`` prints the sha256 of FILE's canonical text.
"""
from __future__ import annotations

import ast
import hashlib
import sys

#: fields that are layout, not meaning: ``kind`` is 'u' for a u"" literal; ``type_comment`` a comment
SKIPPED_FIELDS = frozenset({"kind", "type_comment", "type_ignores"})
#: nodes whose body may open with a docstring
_DOC_HOLDERS = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def is_string_statement(node: ast.AST) -> bool:
    """True for a statement that is a bare string (a docstring, or a string used as a comment): a no-op."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _constant(value) -> str:
    if value is Ellipsis:
        return "..."
    # repr round-trips floats and is the same text on every interpreter since 3.1
    return f"{type(value).__name__}:{value!r}"


def _joined_parts(values: list) -> list:
    """The parts of an f-string with adjacent constant strings merged and empty ones dropped."""
    out: list = []
    for v in values:
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            if not v.value:
                continue
            if out and isinstance(out[-1], ast.Constant) and isinstance(out[-1].value, str):
                out[-1] = ast.Constant(out[-1].value + v.value)
                continue
            out.append(ast.Constant(v.value))
        else:
            out.append(v)
    return out


def _text(node, out: list) -> None:
    if isinstance(node, list):
        if isinstance(node and node[0], ast.stmt):
            node = [s for s in node if not is_string_statement(s)]
        out.append("[")
        for item in node:
            _text(item, out)
            out.append(",")
        out.append("]")
        return
    if not isinstance(node, ast.AST):
        out.append(_constant(node))
        return
    if isinstance(node, ast.Constant):
        out.append(f"Constant({_constant(node.value)})")
        return
    if isinstance(node, ast.JoinedStr):
        node = ast.JoinedStr(values=_joined_parts(node.values))
    out.append(type(node).__name__)
    out.append("(")
    for name in sorted(node._fields):
        if name in SKIPPED_FIELDS:
            continue
        value = getattr(node, name, None)
        if value is None or (isinstance(value, list) and not value):
            continue
        out.append(name)
        out.append("=")
        _text(value, out)
        out.append(";")
    out.append(")")


def canonical(node: ast.AST | list) -> str:
    """The canonical text of ``node`` (a tree, or a list of statements): see the module docstring."""
    out: list = []
    _text(node, out)
    return "".join(out)


def digest(node: ast.AST | list) -> str:
    """sha256 (hex) of :func:`canonical` of ``node``."""
    return hashlib.sha256(canonical(node).encode()).hexdigest()


def source_digest(source: str, filename: str = "<source>") -> str:
    """sha256 of the canonical text of a whole module's ``source``."""
    return digest(ast.parse(source, filename))


if __name__ == "__main__":
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            print(source_digest(f.read(), path))
