"""The architecture as rules a test can check, read from the source with ``ast``:

* only the entry points (``audit/cli/``, ``audit/api.py``) import ``victims`` or
  ``optim_demos``, and only ``audit/cli/`` imports click;
* ``victims`` depends on the audit core only, ``optim_demos`` on ``audit.engine`` only;
* no import cycles between files, counting imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("audit", "victims", "optim_demos", "reports_templates")
TOP_FLOOR = ("audit.cli", "audit.api")  # the two entry points: command line and library
CORE = ("audit.engine", "audit.classifier", "audit.losses", "audit.metrics", "audit.images",
        "audit.errors", "audit.quiet", "audit.fileio", "audit.formatting")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module ``name`` imports (anywhere in the file), resolved to known modules where
    possible and to the top-level name otherwise."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module or ""
            for alias in node.names:
                child = f"{parent}.{alias.name}"
                found.add(child if child in known else parent)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_reader_resolves_relative_imports(graph):
    # a check of the checker: if it resolved nothing, every rule below would pass vacuously
    assert "audit.engine.descent" in graph["audit.engine"]
    assert "audit.classifier" in graph["audit.attacks.base"]
    assert "click" in graph["audit.cli.audit_cmd"]
    assert "victims.loading" in graph["audit.api"]


def test_only_the_entry_points_import_click_victims_and_the_demos(graph):
    offenders = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph.items() if mod.startswith("audit") and not under(mod, TOP_FLOOR)
        for dep in deps if under(dep, ("click", "victims", "optim_demos")))
    assert offenders == []
    assert not [d for d in graph["audit.api"] if under(d, ("click",))]
    assert not [m for m, deps in graph.items() if not m.startswith("audit")
                and any(under(d, ("click",)) for d in deps)]


def test_victims_depend_on_the_audit_core_only(graph):
    offenders = sorted(f"{mod} imports {dep}" for mod, deps in graph.items()
                       if mod.startswith("victims") for dep in deps
                       if dep.split(".")[0] == "audit" and not under(dep, CORE))
    assert offenders == []


def test_demos_depend_on_the_engine_only(graph):
    offenders = sorted(f"{mod} imports {dep}" for mod, deps in graph.items()
                       if mod.startswith("optim_demos") for dep in deps
                       if dep.split(".")[0] in ("audit", "victims")
                       and not under(dep, ("audit.engine",)))
    assert offenders == []


def test_no_import_cycles_between_files(graph):
    edges = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert cycles == []
