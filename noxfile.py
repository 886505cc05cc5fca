"""Nox sessions: the test suite on every supported Python found here, and at the lowest floors.

- ``nox -s tests``: one session per supported Python (``tests-3.11`` ... ``tests-3.14``); a
  Python that is not installed is skipped with a message (also in CI; the Pythons are looked
  for on PATH and in pyenv's versions, never downloaded).
- ``nox -s lowest``: the oldest supported Python with every runtime and ``[otel]`` dependency
  at the floor ``pyproject.toml`` declares (constraints generated from it), the test tools at
  the newest versions that go with those.

Arguments after ``--`` go to pytest: ``nox -s tests-3.12 -- -x tests/unit``.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import nox
from packaging.requirements import Requirement

ROOT = Path(__file__).parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PYTHONS = ["3.11", "3.12", "3.13", "3.14"]
LOWEST_PYTHON = PYTHONS[0]

# Test tools that don't work at our [otel] floor: their own floors need a newer OpenTelemetry,
# or the instrumentation package they get at ours fails. The lowest session leaves them out,
# with the tests that use them. Each entry: the tool's modules (the site's examples that import
# one are left out by that) and the pytest arguments that leave out its test files and tests
# (tests/unit/test_noxfile.py checks these against what each test file imports).
NEEDS_NEWER_OTEL: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pydantic-ai-slim": (  # 2.68 needs opentelemetry-api >= 1.28
        ("pydantic_ai",),
        (
            "--ignore=tests/otel/test_pydantic_ai.py",
            "--ignore=tests/plugin/test_otel_snapshots.py",
            "--deselect=tests/plugin/test_concurrent_snapshots.py"
            "::test_pydantic_ai_def_tools_give_the_same_snapshot_on_every_run",
            "--deselect=tests/plugin/test_failure_report.py"
            "::test_captured_genai_spans_are_drawn_with_the_expected_keys_only",
        ),
    ),
    "logfire": (  # 5.0 needs opentelemetry-sdk >= 1.39
        ("logfire",),
        (
            "--deselect=tests/plugin/test_otel_providers.py::test_logfire_proxy_provider",
            "--deselect=tests/plugin/test_otel_coexistence.py"
            "::test_logfire_capfire_and_trace_in_one_test_both_see_the_spans",
            "--deselect=tests/plugin/test_otel_coexistence.py"
            "::test_logfire_configured_after_a_trace_test_gets_its_spans_and_so_does_trace",
        ),
    ),
    "strands-agents": (  # 1.65 needs opentelemetry-sdk >= 1.30
        ("strands",),
        (
            "--ignore=tests/otel/test_strands_agents.py",
            "--deselect=tests/plugin/test_concurrent_snapshots.py"
            "::test_strands_concurrent_tools_give_the_same_snapshot_on_every_run",
        ),
    ),
    "opentelemetry-instrumentation-openai-v2": (  # 2.4b0 needs semantic conventions 0.60b0
        ("opentelemetry.instrumentation.openai_v2",),
        ("--ignore=tests/otel/test_usage_frameworks.py",),
    ),
    "opentelemetry-util-genai": (("opentelemetry.util.genai",), ()),  # goes with openai-v2
    # At our floor they get opentelemetry-instrumentation 0.48b0, which imports pkg_resources:
    # gone from the newest setuptools, and a deprecation warning (an error here) in older ones.
    "openinference-instrumentation-openai-agents": (
        ("openinference.instrumentation.openai_agents",),
        (),
    ),
    "openinference-instrumentation-smolagents": (("openinference.instrumentation.smolagents",), ()),
    "openinference-instrumentation-langchain": (("openinference.instrumentation.langchain",), ()),
}
# Test-extra entries that run beside the suite, not in it (CI runs them on the default Python).
NOT_USED_BY_THE_SUITE = {"mypy", "ruff", "uv"}

nox.options.default_venv_backend = "uv"
nox.options.download_python = "never"  # no network but package registries here
nox.options.error_on_missing_interpreters = False  # skip a missing Python, even when CI is set
nox.options.sessions = ["tests", "lowest"]


def _pyenv_pythons_on_path() -> None:
    """Let nox find pyenv's Pythons without pyenv's shims, which only run the selected one."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    bins = sorted(str(path) for path in versions.glob("3.*/bin") if path.is_dir())
    if bins:
        os.environ["PATH"] = os.pathsep.join([*bins, os.environ.get("PATH", "")])


_pyenv_pythons_on_path()


def other_test_sessions() -> list[str]:
    """Return the ``tests`` sessions of the supported Pythons but the one running this.

    ``.ci/run`` runs the suite on its default Python with the README's command, and these
    beside it.
    """
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return [f"tests-{python}" for python in PYTHONS if python != running]


def declared_floors() -> list[str]:
    """Return ``name==floor`` pins for the runtime and ``[otel]`` dependencies.

    Raises:
        ValueError: when a dependency declares no ``>=`` floor to pin.
    """
    pins = []
    for line in [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["otel"]]:
        requirement = Requirement(line)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(floors) != 1:
            raise ValueError(f"{line!r} in pyproject.toml needs one '>=' floor to pin")
        marker = f"; {requirement.marker}" if requirement.marker else ""
        pins.append(f"{requirement.name}=={floors[0]}{marker}")
    return pins


def lowest_test_tools() -> list[str]:
    """Return the test extra's entries the suite uses that go with the OpenTelemetry floor."""
    dropped = {*NEEDS_NEWER_OTEL, *NOT_USED_BY_THE_SUITE}
    return [
        line
        for line in PROJECT["optional-dependencies"]["test"]
        if Requirement(line).name not in dropped and Requirement(line).name != "opentelemetry-sdk"
    ]


def left_out_modules() -> list[str]:
    """Return the modules of the tools ``NEEDS_NEWER_OTEL`` names."""
    return [module for names, _ in NEEDS_NEWER_OTEL.values() for module in names]


def left_out_tests() -> list[str]:
    """Return the pytest arguments that leave out the tests of ``NEEDS_NEWER_OTEL``'s tools.

    The site's examples are found by what they import, so a new example is left out with
    no change here.
    """
    doc_examples = _load(ROOT / "tests" / "doc_examples.py")
    modules = left_out_modules()
    examples = [
        f"--deselect=tests/plugin/test_doc_examples.py::test_example_passes[{example.id}]"
        for example in doc_examples.runnable()
        if doc_examples.uses(doc_examples.imported_modules(ast.parse(example.code)), modules)
    ]
    return [*(arg for _, args in NEEDS_NEWER_OTEL.values() for arg in args), *examples]


def _load(path: Path) -> ModuleType:
    """Import a file of the project by its path (it need not be importable from here)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def show_versions(session: nox.Session) -> None:
    """Print the versions the suite runs with (the supported-versions table comes from these)."""
    session.run(
        "python",
        "-c",
        "import sys, importlib.metadata as m; print('python', sys.version.split()[0]);"
        "[print(n, m.version(n)) for n in ('pytest', 'pluggy', 'syrupy', 'uuid6',"
        " 'opentelemetry-sdk', 'opentelemetry-api') if any(True for _ in"
        " m.distributions(name=n))]",
        silent=False,
    )


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the suite on one supported Python with the newest dependencies."""
    session.install("-e", ".[test]")
    show_versions(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=LOWEST_PYTHON)
def lowest(session: nox.Session) -> None:
    """Run the suite with every runtime and [otel] dependency at its declared floor."""
    session.install("-e", ".", *declared_floors(), *lowest_test_tools())
    show_versions(session)
    left_out = left_out_tests()
    session.log(
        "left out, their tools need a newer OpenTelemetry than ours:\n  " + "\n  ".join(left_out)
    )
    session.run("python", "-m", "pytest", *left_out, *session.posargs)
