"""The import rules of ``docs/architecture.md`` hold in the code.

The allowed imports are read from the ``allowed-imports`` block of the document itself, so the
picture and the code cannot drift apart silently. Each module's imports are found by walking its
AST (``import``, ``from … import``, at any depth, including imports inside functions).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "territory"
DOC = ROOT / "docs" / "architecture.md"


def _allowed() -> dict[str, set[str]]:
    block = re.search(r"```text allowed-imports\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block, "docs/architecture.md lacks its ```text allowed-imports block"
    rules: dict[str, set[str]] = {}
    for line in block.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        part, _, deps = line.partition("->")
        rules[part.strip()] = {d.strip() for d in deps.split(",") if d.strip()}
    for part, deps in rules.items():
        unknown = {d.split(".")[0] for d in deps} - set(rules)
        assert not unknown, f"docs/architecture.md: {part} may import unknown parts {sorted(unknown)}"
    return rules


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) for every territory import in ``path``."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "territory"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "territory":
                out.append((target, [a.name for a in node.names], node.lineno))
    return out


MODULES = sorted(p for p in SRC.rglob("*.py"))


def _part(module: str) -> str:
    """The architectural part a module belongs to: ``territory.optimize.lns`` → ``optimize``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "territory"


def _resolve(target: str, names: list[str]) -> list[str]:
    """Modules actually imported: ``from territory.geo import units`` imports territory.geo.units."""
    hits = []
    for n in names or [""]:
        candidate = f"{target}.{n}" if n else target
        if (SRC.parent / Path(*candidate.split("."))).with_suffix(".py").is_file() or \
                (SRC.parent / Path(*candidate.split(".")) / "__init__.py").is_file():
            hits.append(candidate)
        else:
            hits.append(target)
    return sorted(set(hits))


def test_every_part_is_in_the_picture() -> None:
    rules = _allowed()
    parts = {_part(_module_name(p)) for p in MODULES} - {"territory"}
    assert parts <= set(rules), f"parts missing from docs/architecture.md: {sorted(parts - set(rules))}"
    assert set(rules) <= parts, f"docs/architecture.md names parts that do not exist: {sorted(set(rules) - parts)}"


def _permitted(module: str, allowed: set[str]) -> bool:
    """``geo`` permits every module of the geo package; ``geo.reference`` only that module."""
    rel = module.removeprefix("territory.")
    return any(rel == a or rel.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_follow_the_rules(path: Path) -> None:
    rules = _allowed()
    me = _module_name(path)
    mine = _part(me)
    if mine == "territory":  # the package's __init__ imports nothing of its own
        assert not [t for t, _, _ in _imports(path)], "territory/__init__.py must stay import-free"
        return
    bad = []
    for target, names, line in _imports(path):
        for mod in _resolve(target, names):
            other = _part(mod)
            if other in (mine, "territory"):
                continue
            if not _permitted(mod, rules[mine]):
                bad.append(f"line {line}: {me} imports {mod} ({mine} -> {other} is not allowed)")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_no_private_names_across_modules(path: Path) -> None:
    me = _module_name(path)
    bad = []
    for target, names, line in _imports(path):
        for n in names:
            if n.startswith("_") and not n.startswith("__") and target != me:
                bad.append(f"line {line}: {me} imports private {target}.{n}")
        if any(seg.startswith("_") and not seg.startswith("__") for seg in target.split(".")):
            bad.append(f"line {line}: {me} imports private module {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    graph = nx.DiGraph()
    for path in MODULES:
        me = _module_name(path)
        graph.add_node(me)
        for target, names, _ in _imports(path):
            for mod in _resolve(target, names):
                if mod != me and mod != "territory" and not me.startswith(mod + "."):
                    graph.add_edge(me, mod)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:5]}"
