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
