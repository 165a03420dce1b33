"""The architecture as rules a test can check, read from the source with ``ast``:

* floors inside ``audit``: the ground floor (the files at its root) imports nothing above it;
  the engine builds on the ground floor, the threat models on the engine, the attacks on
  both; the results contract on the ground floor and the threat models only (no attack), the
  report and formats on results, the pipeline on all of those, the CLI on everything;
* only the entry points (``audit/cli/``, ``audit/pipeline/api.py``) import ``victims`` or
  ``optim_demos``, and only ``audit/cli/`` imports click;
* the report's templates are reached through an import (``reports_templates``), not a string;
* no function over 60 lines; no attack named by a string literal outside ``audit/attacks/``;
* ``victims`` depends on the audit core only, ``optim_demos`` on ``audit.engine`` only;
* the model sources (``audit.models``) stand on the ground floor; only the Keras adapter
  imports Keras, and every query-only source named in ``audit.models.sources`` is a module
  with a ``load``;
* no import cycles between files, counting imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("audit", "victims", "optim_demos", "reports_templates")
TOP_FLOOR = ("audit.cli", "audit.pipeline.api")  # the entry points: command line and library
GROUND = ("audit.errors", "audit.fileio", "audit.paths", "audit.lock", "audit.formatting",
          "audit.metrics", "audit.images", "audit.classifier", "audit.timing", "audit.version",
          "audit.channels")
CORE = (*GROUND, "audit.engine", "audit.attacks.losses", "audit.models")
KERAS_ADAPTER = "audit.models.keras_model"  # the one module of audit/ that knows Keras
# what each floor may import of advaudit (besides itself); the pipeline and the CLI: anything
FLOORS = {
    GROUND: GROUND,
    ("audit.engine",): GROUND,
    ("audit.models",): GROUND,
    ("audit.threats",): (*GROUND, "audit.engine"),
    ("audit.attacks",): (*GROUND, "audit.engine", "audit.threats"),
    ("audit.results",): (*GROUND, "audit.threats"),
    ("audit.report",): (*GROUND, "audit.threats", "audit.results", "reports_templates"),
    ("audit.formats",): (*GROUND, "audit.threats", "audit.results", "audit.report"),
    ("audit.pipeline",): ("audit", "reports_templates", "victims"),  # victims: the api only
}
MAX_FUNCTION_LINES = 60


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
    assert "victims.loading" in graph["audit.pipeline.api"]


def test_only_the_entry_points_import_click_victims_and_the_demos(graph):
    offenders = sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph.items() if mod.startswith("audit") and not under(mod, TOP_FLOOR)
        for dep in deps if under(dep, ("click", "victims", "optim_demos")))
    assert offenders == []
    assert not [d for d in graph["audit.pipeline.api"] if under(d, ("click",))]
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


def floor_of(module: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    for floor, allowed in FLOORS.items():
        if under(module, floor):
            return floor, allowed
    return None


def test_each_floor_imports_only_what_is_below_it(graph):
    offenders = []
    for mod, deps in graph.items():
        found = floor_of(mod)
        if not mod.startswith("audit.") or found is None:
            continue
        floor, allowed = found
        for dep in deps:
            if dep.split(".")[0] in PACKAGES and dep != "audit" and not under(dep, floor) \
                    and not under(dep, allowed):
                offenders.append(f"{mod} imports {dep}")
    assert sorted(offenders) == []
    assert "audit.cli" not in {d for deps in graph.values() for d in deps
                               if not d.startswith("audit.cli")} - {"audit.cli"}


def test_the_report_reaches_its_templates_by_import(graph):
    """A PackageLoader string is invisible to every rule above; an import is not."""
    assert "reports_templates" in graph["audit.report.render"]
    text = (ROOT / "audit" / "report" / "render.py").read_text()
    assert 'PackageLoader("reports_templates"' not in text


def functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_no_function_is_longer_than_sixty_lines():
    long = sorted(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name} "
                  f"({fn.end_lineno - fn.lineno + 1} lines)"
                  for pkg in ("audit", "victims", "optim_demos")
                  for path in (ROOT / pkg).rglob("*.py") for fn in functions(path)
                  if fn.end_lineno - fn.lineno + 1 > MAX_FUNCTION_LINES)
    assert long == []


def test_no_attack_is_named_by_a_string_outside_the_attacks():
    """The verdict, merge, console, bench and trust read an attack's traits, not its name."""
    from audit.attacks import ATTACKS
    from audit.attacks.auto import Auto
    from audit.threats import THREATS

    names = set(ATTACKS) | {stage for stage, _, _ in Auto().stage_attacks(THREATS["linf"])}
    names |= {stage for stage, _, _ in Auto().stage_attacks(THREATS["l0"])}
    offenders = []
    for pkg in ("audit", "victims"):
        for path in (ROOT / pkg).rglob("*.py"):
            if under(module_name(path), ("audit.attacks", "audit.cli")):
                continue
            tree = ast.parse(path.read_text(), str(path))
            keys = field_keys(tree, names)
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and node.value in names and id(node) not in keys:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert offenders == []


def field_keys(tree: ast.AST, names: set[str]) -> set[int]:
    """Strings used as a dict's keys (``"seed"`` is a manifest field as well as an attack):
    dict displays, subscripts and ``.get`` — except a subscript of ``ATTACKS`` itself — and
    tuples of field names that are not all attack names."""
    keys: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List)) and node.elts and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts) \
                and not all(e.value in names for e in node.elts):
            keys.update(id(e) for e in node.elts)
        elif isinstance(node, ast.Dict):
            keys.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript) and not (
                isinstance(node.value, ast.Name) and node.value.id == "ATTACKS"):
            keys.add(id(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and node.args:
            keys.add(id(node.args[0]))
    return keys


def test_no_threat_model_is_compared_by_name_outside_the_threat_models():
    """Code asks a threat model (``audit.threats``) what it means; it never branches on a name
    such as "l2" — that is how adding a threat model stays one module and one registry line."""
    from audit.threats import THREATS

    offenders = []
    for pkg in ("audit", "victims", "reports_templates"):
        for path in (ROOT / pkg).rglob("*.py"):
            if under(module_name(path), ("audit.threats",)):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Compare) and any(
                        isinstance(c, ast.Constant) and c.value in THREATS
                        for c in [node.left, *node.comparators]):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        for path in (ROOT / pkg).rglob("*.j2"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if any(f"'{name}'" in line or f'"{name}"' in line for name in THREATS):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_the_command_line_offers_exactly_the_registries():
    """--attack and --threat choices are the registries, so a new module plus its registry
    line is all it takes to reach the command line."""
    from audit.attacks import ATTACKS
    from audit.cli.audit_cmd import audit
    from audit.threats import THREATS

    options = {p.name: p for p in audit.params}
    assert list(options["attack"].type.choices) == list(ATTACKS)
    assert list(options["threat"].type.choices) == list(THREATS)
    assert "--norm" in options["threat"].opts  # the option's older name still works


def test_only_the_keras_adapter_imports_keras(graph):
    """The engine, attacks, trust checks, preflight and pipeline ask a ``Classifier`` (the
    protocol); a TFLite, ONNX or any other source is one adapter module, not six edits."""
    offenders = sorted(f"{mod} imports {dep}" for mod, deps in graph.items()
                       if mod.startswith("audit") and mod != KERAS_ADAPTER
                       for dep in deps if under(dep, ("keras", "tf_keras")))
    assert offenders == []
    assert "keras" in graph[KERAS_ADAPTER]  # the checker sees an import where there is one
    uses = sorted(f"{path.relative_to(ROOT)}:{node.lineno}"
                  for path in (ROOT / "audit").rglob("*.py")
                  if module_name(path) != KERAS_ADAPTER
                  for node in ast.walk(ast.parse(path.read_text(), str(path)))
                  if isinstance(node, ast.Attribute) and node.attr == "keras"
                  and isinstance(node.value, ast.Name) and node.value.id == "tf")
    assert uses == []  # tf.keras is Keras by another name


def test_every_model_source_is_one_adapter_module_with_a_load():
    import importlib

    from audit.models import sources

    for suffix, module in sources.QUERY_ONLY.items():
        assert suffix.startswith(".") and suffix == suffix.lower()
        adapter = importlib.import_module(f"audit.models.{module}")
        assert callable(adapter.load), module
