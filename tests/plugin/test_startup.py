"""The plugin starts cleanly in a user's project, on every pytest the project supports."""

from __future__ import annotations

import pytest


def test_a_project_that_turns_warnings_into_errors_starts_and_passes(
    pytester: pytest.Pytester,
) -> None:
    # Run in the lowest nox session too, where it starts the oldest supported pytest. There,
    # a plugin module that pytest imports after the plugin already did (``pytest_plugins``)
    # used to raise PytestAssertRewriteWarning at start-up, an error with this ini.
    pytester.makeini(
        """
        [pytest]
        addopts = --strict-config
        filterwarnings = error
        harn_trace_otel = auto
        # pytest-asyncio, from our test extra, warns without it.
        asyncio_default_fixture_loop_scope = function
        """
    )
    pytester.makepyfile(
        """
        from pytest_harn_trace import span

        def test_uses_trace(trace, mock_clock):
            with span("tool_call", "search"):
                pass
            trace.assert_tree("tool_call search")
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*Warning*")
    assert result.errlines == []
