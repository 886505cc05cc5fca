"""The site's reference tables, generated from the plugin, list all it declares.

``docs/hooks/generated.py`` builds them from a real ``pytest.Config`` while the
site is built. Checked here against what ``pytest --help`` and
``pytest --fixtures`` print, so an option or fixture added to the plugin
without reaching the site fails a test, not only a reader.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
HOOK = ROOT / "docs" / "hooks" / "generated.py"
RENDER = f"""
import importlib.util, json
spec = importlib.util.spec_from_file_location("generated", {str(HOOK)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(module.tables()))
"""


@pytest.fixture(scope="module")
def tables() -> dict[str, str]:
    # A process of its own: pytest can be configured once per process.
    run = subprocess.run(
        [sys.executable, "-c", RENDER], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def help_text() -> str:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return run.stdout


def test_every_command_line_option_of_the_plugin_is_in_the_reference(tables, help_text):
    options = set(re.findall(r"(--harn-trace[\w-]*)", help_text))
    assert "--harn-trace-report" in options
    for option in options:
        assert f"`{option}`" in tables["cli-options"], option


def test_every_ini_option_of_the_plugin_is_in_the_reference(tables, help_text):
    names = set(re.findall(r"^\s+(harn_trace\w*) \(", help_text, re.MULTILINE))
    assert {"harn_trace_report", "harn_trace_otel", "harn_trace_virtual_time"} <= names
    for name in names:
        assert f"| `{name}` |" in tables["ini-options"], name


def test_every_fixture_of_the_plugin_is_in_the_reference(tables):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-q", "tests/unit/test_package.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    # One section per defining module: "---- fixtures defined from <module> ----".
    sections = re.split(r"^-+ fixtures defined from (\S+) -+$", run.stdout, flags=re.MULTILINE)
    fixtures = {
        name
        for module, body in zip(sections[1::2], sections[2::2], strict=True)
        if module.startswith("pytest_harn_trace")
        for name in re.findall(r"^(\w+)(?: \[\w+ scope\])? -- ", body, re.MULTILINE)
    }
    assert fixtures == {"mock_clock", "trace", "trace_snapshot", "trace_json_snapshot"}
    for fixture in fixtures:
        assert f"### `{fixture}`" in tables["fixtures"], fixture


def test_the_marker_and_hooks_are_in_the_reference(tables):
    marker = (
        "@pytest.mark.harn_trace(wall_ms=..., auto_advance_ms=..., virtual_time=False, budget=None)"
    )
    assert f"`{marker}`" in tables["markers"]
    assert "### `pytest_harn_trace_redact(span)`" in tables["hooks"]
    assert "### `pytest_harn_trace_otel_span(otel_span, span)`" in tables["hooks"]


def test_the_mapping_table_follows_the_mapping_function(tables):
    rows = tables["otel-kinds"].splitlines()
    assert "| `gen_ai.operation.name` | `chat`, `embeddings`, `generate_content`, " \
        "`text_completion` | `llm_call` | `gen_ai.request.model` |" in rows
    assert "|  | `execute_tool` | `tool_call` | `gen_ai.tool.name` |" in rows
    assert "|  | `CHAIN` | `step` | the span name |" in rows
    assert rows[-1] == "| anything else | | `fn_call` | the span name |"


def test_every_generated_marker_on_the_site_names_a_table(tables):
    markers = set()
    for page in (ROOT / "docs").rglob("*.md"):
        markers |= set(re.findall(r"^<!-- generated: ([a-z-]+) -->$", page.read_text(), re.M))
    assert markers == set(tables)
