"""Root conftest: inner pytest runs through ``pytester``, and tests that need a system tool.

``@pytest.mark.requires_tool("valgrind", install="apt-get install valgrind")`` marks a test that
runs a program of the system. When none of the names is on PATH, the test is skipped with a
reason that says how to install it, so the suite passes on a machine with only Python; when the
``CI`` environment variable is set (to anything but an empty string), it fails instead: CI must
run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import warnings
from collections.abc import Iterator

import pytest

pytest_plugins = ("pytester",)

# OpenTelemetry before 1.42 imports the importlib_metadata backport, which deletes the
# stdlib's distribution finder and puts its own on sys.meta_path. Imported for the first time
# inside an in-process pytester run (the plugin imports OpenTelemetry lazily), that finder is
# dropped when pytester restores sys.meta_path, and every later inner run loads no plugin from
# an entry point. Imported here, once, before any inner run, it stays.
with contextlib.suppress(ImportError):
    importlib.import_module("importlib_metadata")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_tool(*names, install): the test runs one of these programs; without it, "
        "skipped locally and failed when CI is set. install: the command that installs it.",
    )


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures start the tool
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires_tool"):
        names, install = mark.args, mark.kwargs["install"]
        if any(shutil.which(name) for name in names):
            continue
        missing = f"{names[0]} is not installed (install it with `{install}`)"
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI is set, so this test must run", pytrace=False)
        pytest.skip(f"{missing}; with CI set, this test fails instead")


def _current_event_loop() -> asyncio.AbstractEventLoop | None:
    """Return the main thread's current event loop, without making one as asyncio would."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the policy API, from Python 3.14
        policy = asyncio.get_event_loop_policy()
    loop: asyncio.AbstractEventLoop | None = getattr(getattr(policy, "_local", None), "_loop", None)
    return loop


@pytest.fixture(autouse=True)
def _close_the_event_loop_an_inner_run_left(request: pytest.FixtureRequest) -> Iterator[None]:
    # pytest-asyncio before 1.4 (the newest for pytest 8.2 and 8.3) ends an in-process run by
    # setting a loop it made with get_event_loop() as the current one, and never closes it.
    # Garbage-collected during a later test, its socket pair raised ResourceWarning there.
    if "pytester" not in request.fixturenames:
        yield
        return
    before = _current_event_loop()
    yield
    after = _current_event_loop()
    if after is not None and after is not before and not after.is_running():
        after.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop(before)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Pytester whose subprocess runs leave out LangSmith's pytest plugin.

    langchain-core (in the test extra for the LangChain page's example) installs LangSmith, whose
    plugin takes over a second to import in every new process and plays no part in our inner runs.
    In-process runs keep it: the outer run has imported it already.
    """
    run_subprocess = pytester.runpytest_subprocess

    def without_langsmith(
        *args: str | os.PathLike[str], timeout: float | None = None
    ) -> pytest.RunResult:
        __tracebackhide__ = True
        return run_subprocess("-p", "no:langsmith_plugin", *args, timeout=timeout)

    monkeypatch.setattr(pytester, "runpytest_subprocess", without_langsmith)
    return pytester
