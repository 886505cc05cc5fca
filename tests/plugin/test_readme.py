"""The README's examples run, as a new user would paste them."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"
BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[str]:
    return [
        textwrap.dedent(textwrap.indent(code, indent))
        for indent, code in BLOCK.findall(README.read_text(encoding="utf-8"))
    ]


def test_readme_has_runnable_examples() -> None:
    blocks = python_blocks()
    assert sum("def test_" in block for block in blocks) >= 5
    for block in blocks:
        compile(block, "README.md", "exec")


@pytest.mark.parametrize(
    "block",
    [block for block in python_blocks() if "def test_" in block],
    ids=lambda block: re.search(r"def (test_\w+)", block).group(1),  # type: ignore[union-attr]
)
def test_readme_example_passes(pytester: pytest.Pytester, block: str) -> None:
    pytester.makepyfile(test_readme_example=block)
    # pydantic-ai cannot be imported twice in one process, as in-process runs would.
    run = pytester.runpytest_subprocess if "pydantic_ai" in block else pytester.runpytest
    run("--snapshot-update").assert_outcomes(passed=block.count("def test_"))
    run().assert_outcomes(passed=block.count("def test_"))
