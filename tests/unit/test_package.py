"""The package's public face: its version and what ``help()`` tells a user."""

from __future__ import annotations

import importlib
import pkgutil
import pydoc
import re
from importlib import metadata

import pytest

import pytest_harn_trace


def test_version_is_the_installed_distributions():
    assert pytest_harn_trace.__version__ == metadata.version("pytest-harn-trace")
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", pytest_harn_trace.__version__)


def _modules() -> list[str]:
    found = pkgutil.walk_packages(pytest_harn_trace.__path__, "pytest_harn_trace.")
    return ["pytest_harn_trace"] + [info.name for info in found]


@pytest.mark.parametrize("module", _modules())
def test_help_speaks_of_harn_and_the_users_code_never_of_the_seed(module: str) -> None:
    text = pydoc.render_doc(importlib.import_module(module), renderer=pydoc.plaintext)
    assert not re.search(r"\bseeds?\b", text, re.IGNORECASE), [
        line for line in text.splitlines() if re.search(r"\bseeds?\b", line, re.IGNORECASE)
    ]


def test_help_opens_with_what_the_package_does_for_the_users_code():
    text = pydoc.render_doc(pytest_harn_trace, renderer=pydoc.plaintext)
    assert "Harn VM tracing spans in Python" in text
    assert "Instrument your code with" in text


def test_the_package_docstring_is_a_screenful_that_says_what_is_where_and_points_to_the_site():
    doc = pytest_harn_trace.__doc__ or ""
    assert len(doc.splitlines()) <= 40
    for part in ("tracing", "assertions", "otel", "pictures"):
        assert f"pytest_harn_trace.{part}``" in doc, part
    for module in ("capture", "plugin", "otel_plugin", "snapshot", "virtual_time", "isolation"):
        assert f"``{module}``" in doc, module
    assert "the site built from ``docs/``" in doc
