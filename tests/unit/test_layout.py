"""The package's parts keep their import rules, checked over every module's source.

- ``tracing`` (the Harn port) imports neither pytest nor any other part;
- ``assertions``, ``otel`` and ``pictures`` import only the port (and themselves);
- pytest is imported only by the pytest-facing modules at the top;
- OpenTelemetry is imported only by ``otel`` and the plugin's OpenTelemetry module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_harn_trace
from tests.doc_examples import imported_modules

PACKAGE = Path(pytest_harn_trace.__file__).parent
PARTS = ("tracing", "assertions", "otel", "pictures")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    return imported_modules(ast.parse(path.read_text("utf-8")))


MODULES = {module_name(path): imported(path) for path in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str | None:
    """The part a package module belongs to, ``None`` for the top-level modules."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 2 or (len(pieces) == 2 and pieces[1] in PARTS) else None


def violations(module: str) -> list[str]:
    """What ``module`` imports against the rules above."""
    part = part_of(module)
    found = []
    for name in sorted(MODULES[module]):
        root, _, rest = name.partition(".")
        if root in {"pytest", "_pytest"} and part is not None:
            found.append(f"{module} imports {name}: only the pytest-facing modules may")
        if root == "opentelemetry" and part != "otel" and module != "pytest_harn_trace.otel_plugin":
            found.append(f"{module} imports {name}: only the otel part may")
        if root != "pytest_harn_trace" or not rest or part is None:
            continue
        target = part_of(name)
        allowed = {part} if part == "tracing" else {part, "tracing"}
        if target is None and rest.split(".")[0] in TOP_LEVEL:
            found.append(f"{module} imports {name}: parts don't import the pytest-facing modules")
        elif target is not None and target not in allowed:
            found.append(f"{module} imports {name}: {part} may import only {sorted(allowed)}")
    return found


TOP_LEVEL = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}


def test_every_part_is_a_subpackage_with_modules():
    for part in PARTS:
        assert any(part_of(module) == part for module in MODULES if module.count(".") == 2), part


def test_the_parts_keep_their_import_rules():
    assert [found for module in MODULES for found in violations(module)] == []


def test_the_rule_check_sees_each_kind_of_violation(tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text(
        "import pytest\n"
        "from opentelemetry import trace\n"
        "from pytest_harn_trace.assertions import tree\n"
        "def late():\n"
        "    from pytest_harn_trace import capture\n"
    )
    MODULES["pytest_harn_trace.tracing.bad"] = imported(source)
    try:
        assert violations("pytest_harn_trace.tracing.bad") == [
            "pytest_harn_trace.tracing.bad imports opentelemetry: only the otel part may",
            "pytest_harn_trace.tracing.bad imports opentelemetry.trace: only the otel part may",
            "pytest_harn_trace.tracing.bad imports pytest: only the pytest-facing modules may",
            "pytest_harn_trace.tracing.bad imports pytest_harn_trace.assertions: "
            "tracing may import only ['tracing']",
            "pytest_harn_trace.tracing.bad imports pytest_harn_trace.assertions.tree: "
            "tracing may import only ['tracing']",
            "pytest_harn_trace.tracing.bad imports pytest_harn_trace.capture: "
            "parts don't import the pytest-facing modules",
        ]
    finally:
        del MODULES["pytest_harn_trace.tracing.bad"]
