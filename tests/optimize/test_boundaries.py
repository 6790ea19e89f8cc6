"""The optimizer's import rules: no config, no pipeline, no other module's private names, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import territory.optimize

PACKAGE = Path(territory.optimize.__file__).parent


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = ("." * node.level) + (node.module or "")
            out.append((mod, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


def test_optimizer_imports_neither_config_nor_pipeline_nor_privates():
    for path in PACKAGE.glob("*.py"):
        for mod, names in _imports(path):
            assert not mod.endswith(("config", "pipeline", "cli")), (path.name, mod)
            assert not any(n.startswith("_") for n in names), (path.name, mod, names)


def test_optimizer_modules_form_no_cycle():
    graph = {p.stem: {m.lstrip(".").split(".")[0] for m, _ in _imports(p)
                      if m.startswith(".") and not m.startswith("..")}
             for p in PACKAGE.glob("*.py") if p.stem != "__init__"}

    def visit(node, stack):
        assert node not in stack, f"import cycle: {' -> '.join([*stack, node])}"
        for nxt in graph.get(node, ()):
            visit(nxt, [*stack, node])

    for node in graph:
        visit(node, [])
