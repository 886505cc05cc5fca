"""Settings for the inner pytest runs of the plugin tests."""

from __future__ import annotations

import pytest

# The outer run turns warnings into errors; inner runs must see our warnings as
# a user would, and pytest-asyncio wants its loop scope set.
INNER_INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = always::pytest_harn_trace.HarnTraceWarning
"""


@pytest.fixture(autouse=True)
def inner_ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> str:
    """Write the inner runs' ini file; tests that need more options extend ``INNER_INI``."""
    pytester.makeini(INNER_INI)
    # Under `pytest -n`, in-process inner runs would otherwise believe they are
    # xdist workers themselves (syrupy reads these to decide who writes reports).
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    return INNER_INI
