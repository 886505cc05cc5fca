"""The examples of the README and of every page of the site run, as a new user would paste them.

Every ```python block of ``README.md`` and ``docs/**/*.md`` (the site's sources) is
compiled, and each block that defines a test runs in a fresh pytester directory (twice when
it takes a snapshot: once writing it, once checking it). A new page's examples are picked up
without touching this file; the frameworks they use are in the ``test`` extra.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(
    r"^(?P<indent> *)```python\n(?P<code>.*?)^(?P=indent)```",
    re.MULTILINE | re.DOTALL,
)
# pydantic-ai and Logfire cannot be imported twice in one process, as in-process runs would.
SUBPROCESS_MODULES = ("pydantic_ai", "logfire")
# OpenTelemetry's global provider can be set once per process: a block that sets it runs apart.
SUBPROCESS_CALLS = ("set_tracer_provider(",)


@dataclass(frozen=True)
class Example:
    path: str
    line: int
    code: str

    @property
    def id(self) -> str:
        test = re.search(r"def (test_\w+)", self.code)
        return f"{self.path}:{self.line}" + (f":{test.group(1)}" if test else "")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def examples() -> list[Example]:
    found = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            found.append(
                Example(
                    path=page.relative_to(ROOT).as_posix(),
                    line=text.count("\n", 0, match.start("code")),
                    code=textwrap.dedent(
                        textwrap.indent(match.group("code"), match.group("indent"))
                    ),
                )
            )
    return found


def imported_modules(code: str) -> set[str]:
    """Return the modules an example imports (nox's ``lowest`` session leaves some out)."""
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def runnable() -> list[Example]:
    return [example for example in examples() if "def test_" in example.code]


def test_the_readme_and_every_section_of_the_site_have_runnable_examples() -> None:
    by_path = {example.path for example in runnable()}
    assert "README.md" in by_path
    for section in ("tutorial", "how-to", "explanation"):
        assert any(path.startswith(f"docs/{section}/") for path in by_path), section
    assert len(runnable()) >= 25


@pytest.mark.parametrize("example", examples(), ids=lambda example: example.id)
def test_example_compiles(example: Example) -> None:
    compile(example.code, example.path, "exec")


@pytest.mark.parametrize("example", runnable(), ids=lambda example: example.id)
def test_example_passes(pytester: pytest.Pytester, example: Example) -> None:
    pytester.makepyfile(test_doc_example=example.code)
    in_subprocess = any(
        re.search(rf"^\s*(from|import) {module}\b", example.code, re.MULTILINE)
        for module in SUBPROCESS_MODULES
    ) or any(call in example.code for call in SUBPROCESS_CALLS)
    run = pytester.runpytest_subprocess if in_subprocess else pytester.runpytest
    tests = example.code.count("def test_")
    if "snapshot" in example.code:  # write the snapshots, then check against them
        run("--snapshot-update").assert_outcomes(passed=tests)
    run().assert_outcomes(passed=tests)
