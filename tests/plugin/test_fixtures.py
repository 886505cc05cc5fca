"""The trace and mock_clock fixtures, the marker and ini options, through real pytest runs."""

from __future__ import annotations

import pytest


def test_trace_fixture_collects_the_tests_spans(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import SpanKind, span, span_start, span_end

        def test_spans(trace):
            with span(SpanKind.PIPELINE, "main") as main:
                main.set("user", "ada")
                with span("llm_call", "gpt-4", model="gpt-4"):
                    pass
                tool = span_start("tool_call", "search")
                span_end(tool)
            assert [s.name for s in trace.spans] == ["gpt-4", "search", "main"]
            assert [s.span_id for s in trace.spans] == [2, 3, 1]
            assert trace.one("llm_call").parent_id == 1
            assert trace.find(name="main")[0].metadata == {"user": "ada"}
            (root,) = trace.roots
            assert [child.name for child in root.children] == ["gpt-4", "search"]
            assert trace.open_spans == []
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_trace_fixture_starts_from_span_id_one_with_a_new_trace_id(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import span_start, span_end

        seen = []

        def test_first(trace):
            span_end(span_start("pipeline", "a"))
            seen.append(trace.spans[0])

        def test_second(trace):
            span_end(span_start("pipeline", "b"))
            assert trace.spans[0].span_id == 1
            assert seen[0].span_id == 1
            assert trace.spans[0].trace_id != seen[0].trace_id
            assert [s.name for s in trace.spans] == ["b"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_trace_fixture_restores_the_previous_collector_and_enabled_flag(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_harn_trace import (
            SpanCollector, current_collector, is_tracing_enabled, span_end, span_start,
            use_collector,
        )

        outer = SpanCollector()
        outer_id = outer.start("pipeline", "outer")
        outer.end(outer_id)

        @pytest.fixture
        def outer_collector():
            with use_collector(outer):
                yield outer

        def test_inside(outer_collector, trace):
            assert current_collector() is trace.collector
            assert is_tracing_enabled()
            span_end(span_start("pipeline", "inner"))
            raise AssertionError("fail on purpose")

        def test_after():
            assert not is_tracing_enabled()
            assert current_collector() is not outer
            assert [s.name for s in outer.spans()] == ["outer"]
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)


def test_spans_left_open_get_a_warning_naming_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import span_start

        def test_leaves_spans_open(trace):
            span_start("pipeline", "main")
            span_start("llm_call", "gpt-4")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_spans_left_open_get_a_warning_naming_them.py:3: HarnTraceWarning: "
            "*::test_leaves_spans_open left 2 span(s) open: span 1 pipeline 'main', "
            "span 2 llm_call 'gpt-4'; end them (span_end, or `with span(...)`) so the "
            "trace is complete",
        ]
    )


def test_mock_clock_gives_exact_durations_and_times(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import active_mock_clock, span

        def test_clock(trace, mock_clock):
            assert active_mock_clock() is mock_clock
            assert mock_clock.now_wall_ms() == 1_700_000_000_000
            assert mock_clock.now_monotonic_ms() == 0
            with span("pipeline", "main") as main:
                mock_clock.advance(40)
                main.event("checkpoint")
                mock_clock.advance(2)
            (done,) = trace.spans
            assert done.duration_ms == 42
            assert done.start_unix_ms == 1_700_000_000_000
            assert (done.events[0].offset_ms, done.events[0].time_unix_ms) == (
                40, 1_700_000_000_040,
            )

        def test_clock_is_gone_afterwards():
            assert active_mock_clock() is None
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_marker_gives_trace_and_mock_clock_with_its_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_harn_trace import active_mock_clock, current_collector, span

        @pytest.mark.harn_trace(wall_ms=1_000, auto_advance_ms=5)
        class TestMarked:
            def test_auto_advance(self):
                clock = active_mock_clock()
                assert clock is not None and clock.auto_advance_ms == 5
                with span("pipeline", "main"):
                    with span("llm_call", "gpt-4"):
                        pass
                spans = current_collector().spans()
                assert [(s.name, s.duration_ms, s.start_unix_ms) for s in spans] == [
                    ("gpt-4", 5, 1_005), ("main", 15, 1_000),
                ]

            @pytest.mark.harn_trace(wall_ms=7)
            def test_closest_marker_wins(self, mock_clock):
                assert mock_clock.now_wall_ms() == 7
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_ini_options_configure_the_mock_clock(pytester: pytest.Pytester, inner_ini: str) -> None:
    pytester.makeini(inner_ini + "harn_trace_wall_ms = 5_000\nharn_trace_auto_advance_ms = 2\n")
    pytester.makepyfile(
        """
        def test_ini(mock_clock):
            assert mock_clock.auto_advance_ms == 2
            assert mock_clock.now_wall_ms() == 5_000
            assert mock_clock.now_wall_ms() == 5_002
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_unknown_marker_argument_is_a_setup_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.harn_trace(wal_ms=1)
        def test_typo():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_typo _*",
            "test_unknown_marker_argument_is_a_setup_error.py::test_typo: "
            "@pytest.mark.harn_trace got unknown argument 'wal_ms'; "
            "accepted: wall_ms, auto_advance_ms, virtual_time, budget",
        ]
    )
    result.stdout.no_fnmatch_line("*def _clock_settings*")


def test_marker_value_must_be_milliseconds(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.harn_trace(wall_ms="soon")
        def test_bad_value():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_bad_value: @pytest.mark.harn_trace wall_ms='soon': "
            "expected milliseconds as an int >= 0",
        ]
    )


def test_bad_ini_value_is_an_error_naming_it(pytester: pytest.Pytester, inner_ini: str) -> None:
    pytester.makeini(inner_ini + "harn_trace_wall_ms = soon\n")
    pytester.makepyfile("def test_without_the_clock(trace): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*harn_trace_wall_ms = 'soon': expected milliseconds as an int >= 0"]
    )


def test_fixtures_are_listed_with_their_cheat_sheets(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--fixtures", "-v")
    result.stdout.fnmatch_lines(
        [
            "mock_clock -- *plugin.py:*",
            "*A mock clock installed for the test; spans take their timings from it.",
            "*mock_clock.advance(250)*",
            "trace -- *plugin.py:*",
            "*The spans recorded during this test, in a fresh collector with tracing on.",
            "*trace.find(kind, name, **metadata)*",
            "trace_snapshot -- *plugin.py:*",
            "trace_json_snapshot -- *plugin.py:*",
        ]
    )


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.harn_trace(wall_ms=..., auto_advance_ms=..., virtual_time=False, "
            "budget=None):*"
        ]
    )


def test_plugin_loads_from_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_trace(trace, mock_clock):
            assert trace.spans == []
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_async_tasks_nest_under_the_span_active_where_they_were_created(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_harn_trace import span

        async def tool(name, delay):
            async with span("tool_call", name):
                await asyncio.sleep(delay)

        @pytest.mark.asyncio
        async def test_gather(trace):
            async with span("pipeline", "main"):
                async with span("parallel", "fan-out"):
                    await asyncio.gather(tool("a", 0.02), tool("b", 0.0), tool("c", 0.01))
            trace.assert_tree(
                '''
                pipeline main
                  parallel fan-out
                    tool_call b
                    tool_call c
                    tool_call a
                '''
            )
        """
    )
    pytester.runpytest("-p", "asyncio").assert_outcomes(passed=1)


def test_anyio_tests_see_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import anyio
        import pytest
        from pytest_harn_trace import span

        @pytest.mark.anyio
        async def test_task_group(trace, mock_clock):
            async def step(name):
                async with span("step", name):
                    mock_clock.advance(1)
            async with span("pipeline", "main"):
                async with anyio.create_task_group() as group:
                    group.start_soon(step, "one")
                    group.start_soon(step, "two")
            trace.assert_tree(
                '''
                pipeline main
                  step *
                  step *
                ''',
            )

        @pytest.fixture
        def anyio_backend():
            return "asyncio"
        """
    )
    pytester.runpytest("-p", "anyio").assert_outcomes(passed=1)
