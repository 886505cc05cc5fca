"""The Python examples of the README and of the site's pages, and the modules they import.

``tests/plugin/test_doc_examples.py`` runs them; ``noxfile.py`` loads this file by its path
(without pytest) to leave out, in its ``lowest`` session, the examples of the tools it leaves out.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[1]
BLOCK = re.compile(
    r"^(?P<indent> *)```python\n(?P<code>.*?)^(?P=indent)```",
    re.MULTILINE | re.DOTALL,
)


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


def runnable() -> list[Example]:
    """The examples that define a test: each runs in a pytester directory of its own."""
    return [example for example in examples() if "def test_" in example.code]


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module the code imports, at the top or inside a function.

    ``from a.b import c`` counts as ``a.b`` and ``a.b.c``: ``c`` may be a module.
    """
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def uses(imported: Iterable[str], modules: Iterable[str]) -> bool:
    """Whether any of ``imported`` is one of ``modules`` or inside one of them."""
    wanted = tuple(modules)
    return any(
        name == module or name.startswith(f"{module}.") for name in imported for module in wanted
    )
