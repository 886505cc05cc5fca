"""The nox sessions install what ``pyproject.toml`` declares and leave out only what they say.

``nox -s lowest`` pins the declared floors and leaves out the tests of tools that need a newer
OpenTelemetry than ours; a renamed test or file must not slip out of that list unnoticed, and a
new test file of such a tool must be left out too.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

from tests.doc_examples import imported_modules, uses

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    with pytest.MonkeyPatch.context() as patch:  # importing it puts pyenv's Pythons on PATH
        patch.syspath_prepend(str(ROOT))
        patch.setenv("PATH", os.environ["PATH"])
        module = importlib.import_module("noxfile")
        sys.modules.pop("noxfile")
    return module


def test_lowest_pins_every_runtime_and_otel_dependency_at_its_declared_floor(
    noxfile: ModuleType,
) -> None:
    pins = {
        Requirement(pin).name: str(Requirement(pin).specifier) for pin in noxfile.declared_floors()
    }
    assert pins == {
        "pytest": "==8.2",
        "pluggy": "==1.5",
        "syrupy": "==7.0",
        "uuid6": "==2024.1.12",
        "opentelemetry-sdk": "==1.25",
    }


def test_lowest_installs_the_test_tools_but_those_it_names(noxfile: ModuleType) -> None:
    extra = {Requirement(line).name for line in noxfile.PROJECT["optional-dependencies"]["test"]}
    installed = {Requirement(line).name for line in noxfile.lowest_test_tools()}
    left_out = {*noxfile.NEEDS_NEWER_OTEL, *noxfile.NOT_USED_BY_THE_SUITE}
    assert left_out <= extra, "a tool the noxfile leaves out is no longer in the test extra"
    assert installed == extra - left_out - {"opentelemetry-sdk"}


def test_every_test_lowest_leaves_out_still_exists(noxfile: ModuleType) -> None:
    for argument in noxfile.left_out_tests():
        option, _, target = argument.partition("=")
        path, _, test = target.partition("::")
        assert (ROOT / path).exists(), argument
        if option == "--deselect" and not test.startswith("test_example_passes["):
            source = ast.parse((ROOT / path).read_text(encoding="utf-8"))
            names = {
                node.name
                for node in source.body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            assert test.split("[")[0] in names, argument


def mentioned_modules(path: Path) -> tuple[set[str], set[str]]:
    """The modules a test file imports at its top, and those it imports anywhere.

    Anywhere includes the source of inner test files that pytester writes from a string.
    """
    source = ast.parse(path.read_text(encoding="utf-8"))
    top = set[str]().union(
        *(
            imported_modules(node)
            for node in source.body
            if isinstance(node, ast.Import | ast.ImportFrom)
        )
    )
    anywhere = imported_modules(source)
    for node in ast.walk(source):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                anywhere |= imported_modules(ast.parse(textwrap.dedent(node.value)))
            except (SyntaxError, ValueError):  # not Python source
                continue
    return top, anywhere


def test_lowest_leaves_out_every_test_file_that_uses_a_left_out_tool_and_no_other(
    noxfile: ModuleType,
) -> None:
    modules = noxfile.left_out_modules()
    arguments = [arg for arg in noxfile.left_out_tests() if "test_example_passes[" not in arg]
    ignored = {arg.removeprefix("--ignore=") for arg in arguments if arg.startswith("--ignore=")}
    deselected = {
        arg.removeprefix("--deselect=").partition("::")[0]
        for arg in arguments
        if arg.startswith("--deselect=")
    }
    files = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "examples").rglob("*.py")])
    for path in files:
        name = path.relative_to(ROOT).as_posix()
        top, anywhere = mentioned_modules(path)
        if uses(top, modules):
            assert name in ignored, f"{name} imports a tool lowest leaves out: --ignore it"
        elif uses(anywhere, modules) and path.name != "test_noxfile.py":
            assert name in ignored | deselected, f"{name} uses a tool lowest leaves out"
        elif name in ignored | deselected:
            raise AssertionError(f"{name} uses no tool lowest leaves out: run it there")


def test_lowest_leaves_out_the_site_examples_of_left_out_tools(noxfile: ModuleType) -> None:
    deselected = [arg for arg in noxfile.left_out_tests() if "test_example_passes[" in arg]
    pages = {arg.split("[")[1].split(":")[0] for arg in deselected}
    assert pages >= {
        "docs/how-to/pydantic-ai.md",
        "docs/how-to/logfire.md",
        "docs/how-to/migrate.md",
        "docs/how-to/strands.md",
        "docs/how-to/openai.md",
        "docs/how-to/openai-agents-smolagents.md",
        "docs/how-to/langchain.md",
        "docs/tutorial/pydantic-ai-agent.md",
    }
    assert not pages & {"README.md", "docs/tutorial/index.md", "docs/how-to/instrument.md"}
