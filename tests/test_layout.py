"""The package's layout: science modules never import the publishing machinery (mtrl_lib.book)."""
import ast
from pathlib import Path

import mtrl_lib

LIB = Path(mtrl_lib.__file__).parent


def imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            yield base, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_science_never_imports_publishing():
    science = [p for p in LIB.rglob("*.py") if "book" not in p.relative_to(LIB).parts and p.name != "__main__.py"]
    assert len(science) > 10
    bad = []
    for p in science:
        depth = len(p.relative_to(LIB).parts) - 1            # 0 for mtrl_lib/x.py, 1 for experiments/x.py
        for mod, names in imports(p):
            absolute = mod.startswith("mtrl_lib.book")
            relative = mod.startswith(".") and mod.lstrip(".").split(".")[0] == "book" and len(mod) - len(mod.lstrip(".")) == depth + 1
            rel_names = mod.strip(".") == "" and len(mod) == depth + 1 and "book" in names
            if absolute or relative or rel_names:
                bad.append(f"{p.relative_to(LIB)} imports {mod}")
    assert not bad, bad


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict:
    """``{module: {modules of mtrl_lib it imports}}``, imports inside functions included (a lazy import is still
    a dependency: it only hides a cycle until the function runs)."""
    paths = {_module_name(p): p for p in LIB.rglob("*.py")}
    graph = {m: set() for m in paths}
    for mod, path in paths.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            graph[mod] |= {n for n in names if n in paths and n != mod}
    return graph


def cycles(graph: dict) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_in_the_package():
    """No two modules of mtrl_lib import each other, directly or through others (book/executors.py and
    book/local_cluster.py used to)."""
    graph = import_graph()
    assert "mtrl_lib.book.scheduler_errors" in graph["mtrl_lib.book.local_cluster"]
    assert cycles(graph) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]   # the detector works
