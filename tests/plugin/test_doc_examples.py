"""The examples of the README and of every page of the site run, as a new user would paste them.

Every ```python block of ``README.md`` and ``docs/**/*.md`` (the site's sources) is
compiled, and each block that defines a test runs in a fresh pytester directory (twice when
it takes a snapshot: once writing it, once checking it). A new page's examples are picked up
without touching this file; the frameworks they use are in the ``test`` extra.
"""

from __future__ import annotations

import re

import pytest

from tests.doc_examples import Example, examples, runnable

# pydantic-ai and Logfire cannot be imported twice in one process, as in-process runs would.
SUBPROCESS_MODULES = ("pydantic_ai", "logfire")
# OpenTelemetry's global provider can be set once per process: a block that sets it runs apart.
SUBPROCESS_CALLS = ("set_tracer_provider(",)


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
