"""The code a unit can run, found statically, and its digest: the part of a store key that stands for code.

A unit's result depends on its function, its configuration and seed, and the code that function can run. This
module finds that code in a source tree without importing it, and hashes it in a form that ignores what cannot
change a result (comments, docstrings, layout: :mod:`mtrl_lib.book.canonical_ast`):

* **Definitions, followed through names.** Starting from the unit function (``"module:name"``) and the harness
  that runs every unit (:data:`HARNESS`: ``mtrl_lib.units.call``, the ``Unit`` it is handed, and what they call), every name a reached
  definition loads is resolved the way Python resolves it at module level: a definition of the same module
  (function, class, assignment, or a top-level ``if``/``try``/``for``/``with`` block that binds it), an
  import (``import a.b as c``, ``from .x import y as z``, also inside a function), followed through
  re-exports, or a builtin or an outside package (numpy, torch: not hashed here; their versions are recorded
  with every store entry instead, :func:`mtrl_lib.book.store.toolchain`). Attribute chains on a module
  (``bl.sample``, ``mtrl_lib.tasks.draw_tasks``) resolve to the definition they name. A reached definition is
  hashed whole: a class with every method, an assignment with its value, a function with its decorators and
  defaults. Annotations are not followed (they are not evaluated: every science module has ``from __future__
  import annotations``), but they are part of the definition's text.
* **Conservative fall-backs.** Wherever a name cannot be resolved statically, the whole module it may come
  from counts: a module object used as a value, ``getattr(module, <not a constant>)``, ``globals()``,
  ``vars()``, a ``from m import *``, or a string naming ``mtrl_lib.x`` / ``mtrl_lib.x:y``. A dynamic import
  outside the harness (``importlib.import_module(<not a constant>)``) counts the whole science package.
* **Import-time code.** Every science module a reached definition lives in, every module those import at top
  level, and their packages' ``__init__`` run when the unit's module is imported: their top-level statements
  that run for effect (a call, a block other than ``if __name__ == "__main__"``) count, with what they reach.
* **Compiled modules and data.** A reached compiled module (``mtrl_lib._normal``) counts by its C source's
  bytes; a data file under ``mtrl_lib/`` counts by its bytes where reached code names it in a string.
* **Salts.** :data:`SALTS` maps a unit function to a string that enters its digest: a way to force a re-key by
  hand (say, after a change in an outside package that this module does not see). Nothing removes code from a
  digest; a salt is changed, never removed (removing it would bring back the keys, and entries, before it).
* **What it assumes of the science code**, checked on the package by ``tests/test_codekeys.py``
  (``test_the_science_package_keeps_to_what_the_keys_assume``): no module changes another module's state (no
  ``module.attr = ...``, no ``eval``/``exec``), decorators are the pure ones of :data:`PURE_DECORATORS` (a
  registering decorator runs at import and is counted as import-time code), and a top-level statement that is
  neither a definition nor an import is import-time code. The compile flags of the compiled draw are not in
  the key; its build is recorded with each entry (:func:`mtrl_lib.book.store.toolchain`).

The digest is sha256 over the sorted items ``(id, sha256 of content)``; :func:`manifest` gives the items, so
that ``python -m mtrl_lib.book.rekey rekey`` can list which definitions changed. Module names are part of an
item's id: moving a reached definition to another module changes the key (a refactor for ``rekey``), moving
an unreached one does not.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import canonical_ast

PACKAGE = "mtrl_lib"
#: the science code is mtrl_lib outside mtrl_lib/book (the publishing side never runs inside a unit)
PUBLISHING = "mtrl_lib.book"
#: what runs every unit: mtrl_lib.units.call (the one-thread pin, the function's lookup, the error wrapping)
#: and the Unit it is handed (its ``kwargs`` decode the configuration)
HARNESS = ("mtrl_lib.units:call", "mtrl_lib.units:Unit")
#: definitions whose dynamic import is the unit's own function, whose closure is already the key's
DYNAMIC_BY_DESIGN = frozenset({"mtrl_lib.units:resolve"})
#: per unit function, a string that enters its digest (force a re-key by hand; say why beside the entry)
SALTS: dict[str, str] = {}
DATA_SUFFIXES = (".json", ".npz", ".npy", ".csv", ".txt")
#: files under mtrl_lib that are code or build products, never data a unit reads
CODE_SUFFIXES = (".py", ".pyc", ".c", ".h", ".so", ".pyd", ".md")
#: decorators that only wrap or describe what they decorate (any other runs code at import, and is counted so)
PURE_DECORATORS = frozenset({"dataclass", "property", "staticmethod", "classmethod", "lru_cache", "cache",
                             "cached_property", "contextmanager", "wraps", "total_ordering", "abstractmethod",
                             "setter", "getter", "deleter"})
_NAMED_UNIT = re.compile(r"^mtrl_lib(?:\.\w+)*(?::\w+)?$")
_BUILTINS = frozenset(dir(builtins))
_COMPOUND = (ast.If, ast.Try, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)
if hasattr(ast, "TryStar"):                                  # 3.11+
    _COMPOUND = _COMPOUND + (ast.TryStar,)


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (its body does not run on import; an ``else`` branch does)."""
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq)
            and len(t.comparators) == 1 and isinstance(t.comparators[0], ast.Constant)
            and t.comparators[0].value == "__main__")


def decorator_name(d: ast.expr) -> str:
    """The last name of a decorator expression: ``functools.lru_cache(maxsize=None)`` -> ``lru_cache``."""
    while isinstance(d, ast.Call):
        d = d.func
    return d.attr if isinstance(d, ast.Attribute) else d.id if isinstance(d, ast.Name) else ""


def _runs_at_import(node: ast.stmt, names: set[str]) -> bool:
    """A top-level statement that may change state when its module is imported, beyond binding its names: a
    bare expression, a statement that binds nothing, a block, an augmented assignment (it updates what it
    names, possibly an imported object), a definition with a decorator that is not pure."""
    if isinstance(node, (ast.Expr, ast.AugAssign) + _COMPOUND) or not names:
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return any(decorator_name(d) not in PURE_DECORATORS for d in node.decorator_list)
    return False


def _bound_names(node: ast.AST) -> set[str]:
    """Names a top-level statement binds in its module (targets of assignments and loops, definitions, and
    everything bound inside a compound statement); imports are handled apart."""
    out: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            out.add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub is not node:
            out.add(sub.name)
        elif isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
            out.add(sub.target.id)
    return out


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    parts = package.split(".")
    base = parts[:len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _aliases(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> dict[str, tuple]:
    """What an import statement binds: name -> ``("module", m)`` or ``("from", m, attr)``."""
    out: dict[str, tuple] = {}
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.asname:
                out[a.asname] = ("module", a.name)
            else:
                out[a.name.partition(".")[0]] = ("module", a.name.partition(".")[0])
        return out
    base = _absolute(module, is_package, node)
    for a in node.names:
        if a.name != "*":
            out[a.asname or a.name] = ("from", base, a.name)
    return out


@dataclass
class Module:
    """One parsed science module: what each top-level name is bound to, and what runs on import."""

    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    bindings: dict[str, list[ast.stmt]] = field(default_factory=dict)
    aliases: dict[str, tuple] = field(default_factory=dict)
    stars: list[str] = field(default_factory=list)
    effects: list[ast.stmt] = field(default_factory=list)
    imports: set[str] = field(default_factory=set)
    #: names bound by more than one import (``try: from .fast import f`` / ``except: from .slow import f``):
    #: every target, since any of them may be what runs
    alternatives: dict[str, list[tuple]] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, path: Path) -> "Module":
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        m = cls(name, path, path.name == "__init__.py", tree)
        for node in tree.body:
            if canonical_ast.is_string_statement(node):
                continue
            if _is_main_guard(node):
                if node.orelse:                           # runs on import
                    m.effects.extend(node.orelse)
                    for sub in node.orelse:
                        for n in _bound_names(sub):
                            m.bindings.setdefault(n, []).append(sub)
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                m._import(node)
                continue
            names = _bound_names(node)
            for n in names:
                m.bindings.setdefault(n, []).append(node)
            if isinstance(node, _COMPOUND):
                for sub in ast.walk(node):                # imports inside a top-level block bind too
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        m._import(sub)
            if _runs_at_import(node, names):
                m.effects.append(node)
        return m

    def _import(self, node) -> None:
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            self.stars.append(_absolute(self.name, self.is_package, node))
        for name, target in _aliases(node, self.name, self.is_package).items():
            old = self.aliases.get(name)
            if old is not None and old != target:
                alts = self.alternatives.setdefault(name, [old])
                if target not in alts:
                    alts.append(target)
            self.aliases[name] = target
        if isinstance(node, ast.Import):
            self.imports.update(a.name for a in node.names)
        else:
            base = _absolute(self.name, self.is_package, node)
            self.imports.add(base)
            self.imports.update(f"{base}.{a.name}" for a in node.names if a.name != "*")


class SourceTree:
    """The science modules of a checkout (``root/mtrl_lib``, outside ``mtrl_lib/book``), parsed on demand."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.lib = self.root / PACKAGE
        self._modules: dict[str, Module | None] = {}
        self._canonical: dict[tuple[str, str], str] = {}
        self.data_files: dict[str, list[Path]] = {}
        for p in sorted(self.lib.rglob("*")):
            if (p.is_file() and p.suffix not in CODE_SUFFIXES and self.is_science_path(p)
                    and "__pycache__" not in p.parts and not p.name.endswith(".egg-info")):
                self.data_files.setdefault(p.name, []).append(p)

    def is_science_path(self, p: Path) -> bool:
        rel = p.relative_to(self.lib).parts
        return not rel or rel[0] != "book"

    def is_science(self, name: str) -> bool:
        return (name == PACKAGE or name.startswith(PACKAGE + ".")) and not (
            name == PUBLISHING or name.startswith(PUBLISHING + "."))

    def module(self, name: str) -> Module | None:
        """The parsed module ``name``, or None when it is no science module with Python source here."""
        if name not in self._modules:
            self._modules[name] = None
            if self.is_science(name):
                base = self.root.joinpath(*name.split("."))
                for p in (base.with_suffix(".py"), base / "__init__.py"):
                    if p.is_file():
                        self._modules[name] = Module.parse(name, p)
                        break
        return self._modules[name]

    def compiled(self, name: str) -> Path | None:
        """The C source of compiled science module ``name`` (``mtrl_lib/_normal.c``), or None."""
        if not self.is_science(name):
            return None
        p = self.root.joinpath(*name.split(".")).with_suffix(".c")
        return p if p.is_file() else None

    def canonical(self, module: str, name: str) -> str:
        """The canonical text of every top-level statement of ``module`` that binds ``name`` (cached)."""
        key = (module, name)
        if key not in self._canonical:
            self._canonical[key] = canonical_ast.canonical(self.module(module).bindings.get(name, []))
        return self._canonical[key]

    def is_module(self, name: str) -> bool:
        return self.module(name) is not None or self.compiled(name) is not None

    def all_modules(self) -> list[str]:
        out = []
        for p in sorted(self.lib.rglob("*.py")):
            if "__pycache__" in p.parts or not self.is_science_path(p):
                continue
            rel = p.relative_to(self.root).with_suffix("").parts
            out.append(".".join(rel[:-1] if rel[-1] == "__init__" else rel))
        return out


# ---------------------------------------------------------------------------------------------- the closure
@dataclass
class Closure:
    """What a unit function can run: items ``id -> content`` (canonical text or a file's sha256), and why
    each whole-module fall-back was taken."""

    items: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)
    definitions: set[tuple[str, str]] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)

    def manifest(self) -> dict[str, str]:
        return {k: hashlib.sha256(v.encode()).hexdigest() for k, v in sorted(self.items.items())}

    def digest(self) -> str:
        h = hashlib.sha256()
        for k, v in self.manifest().items():
            h.update(f"{k}\0{v}\n".encode())
        return h.hexdigest()


class _Walker:
    def __init__(self, tree: SourceTree):
        self.tree = tree
        self.out = Closure()
        self.todo: list[tuple[str, str]] = []
        self.imported: set[str] = set()

    # -- adding things
    def add_definition(self, module: str, name: str) -> None:
        if (module, name) in self.out.definitions:
            return
        self.out.definitions.add((module, name))
        self.todo.append((module, name))

    def add_module(self, name: str, why: str) -> None:
        """The whole module ``name``: its import-time code and every top-level definition and import binding."""
        self.touch_module(name)
        m = self.tree.module(name)
        if m is None or name in self.out.fallbacks:
            return
        self.out.fallbacks[name] = why
        for n in sorted(set(m.bindings) | set(m.aliases)):
            self.add_definition(name, n)

    def add_all_modules(self, why: str) -> None:
        for mod in self.tree.all_modules():
            self.add_module(mod, why)

    def touch_module(self, name: str) -> None:
        """Module ``name`` is imported: its packages' and its own import-time code runs, and the science
        modules it imports at top level are imported too."""
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            self._import_one(".".join(parts[:k]))

    def _import_one(self, name: str) -> None:
        if name in self.imported or not self.tree.is_science(name):
            return
        self.imported.add(name)
        c = self.tree.compiled(name)
        if c is not None:
            self.out.items[f"c:{c.relative_to(self.tree.root).as_posix()}"] = hashlib.sha256(
                c.read_bytes()).hexdigest()
            self.out.modules.add(name)
            return
        m = self.tree.module(name)
        if m is None:
            return
        self.out.modules.add(name)
        if m.effects:
            self.out.items[f"{name}:<import-time>"] = canonical_ast.canonical(m.effects)
            self.follow(m, m.effects)
        for imp in sorted(m.imports):
            if self.tree.is_module(imp):
                self.touch_module(imp)

    # -- resolving names
    def alias_item(self, m: Module, name: str) -> list[tuple]:
        """Record the import binding of ``name`` in module ``m`` as an item; its targets (one, or every
        alternative of a conditional import)."""
        alts = m.alternatives.get(name)
        self.out.items[f"{m.name}:{name}"] = f"alias:{alts!r}" if alts else f"alias:{m.aliases[name]!r}"
        return list(alts) if alts else [m.aliases[name]]

    def resolve_alias(self, target: tuple, why: str) -> list[tuple]:
        """Follow an import binding: ``("module", m)`` gives ``("module", m)``; ``("from", m, a)`` gives
        ``("module", m.a)`` for a submodule, or ``("def", m, a)`` for a definition (through re-exports, every
        alternative of a conditional one)."""
        out: list[tuple] = []
        todo, seen = [target], set()
        while todo:
            target = todo.pop()
            if target[0] == "module":
                name = target[1]
                if self.tree.is_science(name):
                    self.touch_module(name)
                    out.append(("module", name))
                continue
            _, mod, attr = target
            if not self.tree.is_science(mod) or (mod, attr) in seen:
                continue
            seen.add((mod, attr))
            if self.tree.is_module(f"{mod}.{attr}"):
                self.touch_module(f"{mod}.{attr}")
                out.append(("module", f"{mod}.{attr}"))
                continue
            m = self.tree.module(mod)
            self.touch_module(mod)
            if m is None:
                continue
            if attr in m.bindings:
                out.append(("def", mod, attr))
            if attr in m.aliases:
                todo.extend(self.alias_item(m, attr))
            if attr not in m.bindings and attr not in m.aliases:
                for star in m.stars:
                    self.add_module(star, f"{why}: {attr!r} may come from 'from {star} import *'")
                self.add_module(mod, f"{why}: {mod} has no top-level binding of {attr!r}")
        return out

    def resolve_name(self, m: Module, name: str, local: dict[str, list[tuple]]) -> list[tuple]:
        """What a name loaded in module ``m`` may refer to (``local``: import bindings inside the definition)."""
        # an import inside the definition binds the name there, but perhaps in one nested function only: the
        # module's own binding of the name may be what another function of the definition loads
        refs: list[tuple] = [r for t in local.get(name, ()) for r in self.resolve_alias(t, f"{m.name}:{name}")]
        if name in m.bindings:
            self.add_definition(m.name, name)
            refs.append(("def", m.name, name))
        if name in m.aliases and not set(m.alternatives.get(name, [m.aliases[name]])) <= set(local.get(name, ())):
            # an import (or bound both ways: a conditional import), unless the local imports bind the same
            refs += [r for t in self.alias_item(m, name) for r in self.resolve_alias(t, f"{m.name}:{name}")]
        if not refs and name not in _BUILTINS and name not in local:
            for star in m.stars:
                self.add_module(star, f"{m.name}: name {name!r} may come from 'from {star} import *'")
        return refs

    def resolve_attribute_chain(self, ref: tuple | None, attrs: list[str], context: str) -> None:
        """``ref`` is what the base name of ``a.b.c`` resolved to; follow ``attrs`` through modules."""
        attrs = list(attrs)
        refs = [ref] if ref is not None else []
        while refs:
            ref = refs.pop()
            if ref[0] == "module" and attrs:
                mod, attr = ref[1], attrs[0]
                if self.tree.is_module(f"{mod}.{attr}"):
                    self.touch_module(f"{mod}.{attr}")
                    self.resolve_attribute_chain(("module", f"{mod}.{attr}"), attrs[1:], context)
                else:
                    for r in self.resolve_alias(("from", mod, attr), context):
                        self.resolve_attribute_chain(r, attrs[1:], context)
                continue
            if ref[0] == "def":
                self.add_definition(ref[1], ref[2])
            elif ref[0] == "module" and not attrs:
                self.add_module(ref[1], f"{context}: module {ref[1]} used as a value")

    # -- walking a definition
    def follow(self, m: Module, stmts: list[ast.stmt], owner: str | None = None) -> None:
        """Resolve every name ``stmts`` (of module ``m``) load; imports inside them bind local names (every
        binding of a name anywhere in ``stmts`` counts, whichever function it is in)."""
        local: dict[str, list[tuple]] = {}
        for s in stmts:
            for sub in ast.walk(s):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    if isinstance(sub, ast.ImportFrom) and any(a.name == "*" for a in sub.names):
                        self.add_module(_absolute(m.name, m.is_package, sub), f"{m.name}: import *")
                    for name, target in _aliases(sub, m.name, m.is_package).items():
                        if target not in local.setdefault(name, []):
                            local[name].append(target)
        context = owner or f"{m.name}:<import-time>"
        for s in stmts:
            self._visit(m, s, local, context)

    def _visit(self, m: Module, node: ast.AST, local: dict, context: str) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                stack.extend(n.decorator_list)
                a = n.args
                stack.extend(d for d in a.defaults + a.kw_defaults if d is not None)
                stack.extend(n.body)
                continue
            if isinstance(n, ast.Lambda):
                stack.extend(d for d in n.args.defaults + n.args.kw_defaults if d is not None)
                stack.append(n.body)
                continue
            if isinstance(n, ast.AnnAssign):
                stack.append(n.target)
                if n.value is not None:
                    stack.append(n.value)
                continue
            if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load):
                attrs, base = [], n
                while isinstance(base, ast.Attribute):
                    attrs.insert(0, base.attr)
                    base = base.value
                if isinstance(base, ast.Name):
                    for ref in self.resolve_name(m, base.id, local):
                        self.resolve_attribute_chain(ref, attrs, context)
                    continue
                stack.append(base)
                continue
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                refs = self.resolve_name(m, n.id, local)
                if n.id in ("globals", "vars", "locals") and not refs:
                    self.add_module(m.name, f"{context}: {n.id}()")
                elif n.id in ("eval", "exec", "compile", "__import__") and not refs:
                    self.add_all_modules(f"{context}: {n.id}() runs code it cannot see")
                elif n.id == "__file__":
                    self._files_beside(m)
                for ref in refs:
                    self.resolve_attribute_chain(ref, [], context)
                continue
            if isinstance(n, ast.Call):
                self._dynamic(m, n, local, context)
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                self._string(n.value, context)
                continue
            stack.extend(ast.iter_child_nodes(n))

    def _dynamic(self, m: Module, call: ast.Call, local: dict, context: str) -> None:
        f = call.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        first = call.args[0] if call.args else None
        if name == "getattr" and first is not None and len(call.args) >= 2 and not (
                isinstance(call.args[1], ast.Constant)):
            if isinstance(first, ast.Name):
                for ref in self.resolve_name(m, first.id, local):
                    if ref[0] == "module":
                        self.add_module(ref[1], f"{context}: getattr on module {ref[1]} with a computed name")
        elif name in ("import_module", "__import__") and first is not None:
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                target = first.value
                if target.startswith("."):                # relative to the calling module's package
                    level = len(target) - len(target.lstrip("."))
                    package = m.name if m.is_package else m.name.rpartition(".")[0]
                    parts = package.split(".")
                    target = ".".join(parts[:len(parts) - level + 1] + ([target.lstrip(".")] if
                                                                        target.lstrip(".") else []))
                if self.tree.is_science(target):
                    self.add_module(target, f"{context}: imports {target} by name")
            elif context not in DYNAMIC_BY_DESIGN:
                self.add_all_modules(f"{context}: dynamic import")

    def _files_beside(self, m: Module) -> None:
        """Reached code uses ``__file__``: every data file in its module's folder counts (a path it builds
        need not be a string constant)."""
        folder = m.path.parent
        for paths in self.tree.data_files.values():
            for p in paths:
                if p.parent == folder:
                    self._data(p)

    def _data(self, p: Path) -> None:
        self.out.items[f"data:{p.relative_to(self.tree.root).as_posix()}"] = hashlib.sha256(
            p.read_bytes()).hexdigest()

    def _string(self, s: str, context: str) -> None:
        if _NAMED_UNIT.match(s) and self.tree.is_science(s.partition(":")[0]):
            mod, _, attr = s.partition(":")
            if attr:
                self.resolve_attribute_chain(("module", mod), [attr], context)
            elif self.tree.is_module(mod):
                self.add_module(mod, f"{context}: names module {mod} in a string")
            return
        if "\n" not in s and len(s) < 300:
            for p in self.tree.data_files.get(s.rsplit("/", 1)[-1], ()):
                self._data(p)

    def run(self, fn: str) -> Closure:
        for start in (*HARNESS, fn):
            mod, _, name = start.partition(":")
            self.touch_module(mod)
            self.resolve_attribute_chain(("module", mod), [name], start)
        while self.todo:
            mod, name = self.todo.pop()
            m = self.tree.module(mod)
            if m is None:
                continue
            stmts = m.bindings.get(name, [])
            if stmts:
                self.out.items[f"{mod}:{name}"] = self.tree.canonical(mod, name)
                self.follow(m, stmts, f"{mod}:{name}")
            elif name in m.aliases:
                self.out.items[f"{mod}:{name}"] = f"alias:{m.aliases[name]!r}"
                self.resolve_alias(m.aliases[name], f"{mod}:{name}")
        if fn in SALTS:
            self.out.items[f"salt:{fn}"] = SALTS[fn]
        return self.out


def closure(fn: str, root: Path, tree: SourceTree | None = None) -> Closure:
    """The code unit function ``fn`` (``"module:name"``) can run, in the checkout at ``root`` (parsed as
    ``tree`` when given)."""
    return _Walker(tree or SourceTree(root)).run(fn)


@lru_cache(maxsize=None)
def _tree(root: str) -> SourceTree:
    return SourceTree(Path(root))


@lru_cache(maxsize=None)
def _cached(fn: str, root: str) -> Closure:
    return closure(fn, Path(root), _tree(root))


def code_digest(fn: str, root: Path) -> str:
    """The code digest of unit function ``fn`` in the checkout at ``root`` (cached per process: the source
    of a running library does not change under it)."""
    return _cached(fn, str(Path(root).resolve())).digest()


def manifest(fn: str, root: Path) -> dict[str, str]:
    """``item id -> sha256 of its content`` for unit function ``fn``: what :func:`code_digest` hashes."""
    return _cached(fn, str(Path(root).resolve())).manifest()


def clear_cache() -> None:
    """Forget parsed trees and closures (after the source under a root changed: tests)."""
    _cached.cache_clear()
    _tree.cache_clear()


def package_digest(root: Path, include_publishing: bool = True) -> str:
    """sha256 over the canonical text of every ``mtrl_lib`` module (and the bytes of its data and C files),
    so comments, docstrings and layout do not count: the chapter cache's library digest."""
    lib = Path(root) / PACKAGE
    h = hashlib.sha256()
    for p in sorted(lib.rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts:
            continue
        rel = p.relative_to(lib).as_posix()
        if not include_publishing and rel.startswith("book/"):
            continue
        if p.suffix == ".py":
            h.update(f"{rel}\0{canonical_ast.source_digest(p.read_text(encoding='utf-8'), str(p))}\n".encode())
        elif p.suffix in DATA_SUFFIXES + (".c",):
            h.update(f"{rel}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()
