"""One test's spans never reach another's trace, whatever threads and tasks do."""

from __future__ import annotations

import pytest


def test_state_never_leaks_into_the_next_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_harn_trace import active_mock_clock, is_tracing_enabled, span

        def test_first(trace, mock_clock):
            with span("pipeline", "first"):
                mock_clock.advance(5)
            span_ids = [s.span_id for s in trace.spans]
            assert span_ids == [1]

        def test_second(trace):
            assert trace.spans == []
            assert active_mock_clock() is None
            with span("pipeline", "second"):
                pass
            assert [s.name for s in trace.spans] == ["second"]

        def test_third_without_fixture():
            assert not is_tracing_enabled()
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_asyncio_task_ending_after_its_test_stays_in_that_tests_trace(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_harn_trace import span_end, span_start

        release = None
        late = {}

        async def worker(span_id, done):
            await release.wait()
            late["ended"] = span_end(span_id)
            done.set()

        @pytest.mark.asyncio(loop_scope="module")
        async def test_first(trace):
            global release
            release = asyncio.Event()
            span_id = span_start("tool_call", "slow")
            late["done"] = asyncio.Event()
            late["task"] = asyncio.get_running_loop().create_task(worker(span_id, late["done"]))
            late["first"] = trace

        @pytest.mark.asyncio(loop_scope="module")
        async def test_second(trace):
            mine = span_start("pipeline", "second")
            assert mine == 1
            release.set()
            await late["done"].wait()
            span_end(mine)
            assert [(s.name, s.span_id) for s in trace.spans] == [("second", 1)]
            assert late["ended"].name == "slow"
            assert [s.name for s in late["first"].spans] == ["slow"]
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*test_first left 1 span(s) open: span 1 tool_call 'slow'*"])


def test_thread_started_with_context_ends_spans_in_its_own_trace(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import contextvars
        import threading
        from pytest_harn_trace import span_end, span_start

        release = threading.Event()
        finished = threading.Event()
        late = {}

        def worker():
            span_id = span_start("tool_call", "background")
            late["started"] = span_id
            release.wait()
            late["ended"] = span_end(span_id)
            finished.set()

        def test_first(trace):
            context = contextvars.copy_context()
            threading.Thread(target=context.run, args=(worker,), daemon=True).start()
            while "started" not in late:
                pass
            late["first"] = trace

        def test_second(trace):
            mine = span_start("pipeline", "second")
            assert mine == late["started"] == 1
            release.set()
            assert finished.wait(5)
            span_end(mine)
            assert [s.name for s in trace.spans] == ["second"]
            assert [s.name for s in late["first"].spans] == ["background"]
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*test_first left 1 span(s) open: span 1 tool_call 'background'*"])


def test_spans_from_many_threads_all_land_in_the_tests_trace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import threading
        from pytest_harn_trace import span

        def test_threads(trace):
            def work(n):
                for i in range(500):
                    with span("tool_call", f"t{n}-{i}"):
                        pass
            threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            ids = [s.span_id for s in trace.spans]
            assert len(ids) == 4000
            assert sorted(ids) == list(range(1, 4001))
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
