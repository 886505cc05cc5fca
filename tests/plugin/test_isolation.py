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
    result.assert_outcomes(passed=2, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*test_first left 1 span(s) open: span 1 tool_call 'background'*",
            "*test_first left thread 'Thread-* (run)' running; started during the test, it stays "
            "bound to this test's trace (now 0 spans, 1 open)*",
        ]
    )


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


def test_a_bare_thread_that_outlives_its_test_stays_in_that_tests_trace(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import threading
        from pytest_harn_trace import span, span_end, span_start

        release = threading.Event()
        started = threading.Event()
        late = {}

        def heartbeat():
            sid = span_start("step", "heartbeat-1")
            started.set()
            release.wait()
            late["ended"] = span_end(sid)
            span_end(span_start("step", "heartbeat-2"))

        def test_first(trace):
            late["thread"] = threading.Thread(target=heartbeat, name="heartbeat", daemon=True)
            late["thread"].start()
            assert started.wait(5)
            late["first"] = trace

        def test_second(trace):
            with span("pipeline", "mine") as mine:
                assert mine.span_id == 1
                release.set()
                late["thread"].join(5)
                assert [s.name for s in trace.open_spans] == ["mine"]
                mine.event("still mine")
            [only] = trace.spans
            assert (only.name, [e.name for e in only.events]) == ("mine", ["still mine"])
            assert late["ended"].name == "heartbeat-1"
            assert [s.name for s in late["first"].spans] == ["heartbeat-1", "heartbeat-2"]
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*test_first left 1 span(s) open: span 1 step 'heartbeat-1'*",
            "*test_first left thread 'heartbeat' running; started during the test, it stays "
            "bound to this test's trace (now 0 spans, 1 open), so whatever it records from now "
            "on, raw span ids included, lands there and never in another test's trace; stop and "
            "join it before the test ends*",
        ]
    )
    # The heartbeat is test_first's doing, and test_first was told: test_second stays quiet.
    result.stdout.no_fnmatch_line("*test_second:*went to the trace of*")


def test_threads_started_before_the_test_feed_whichever_test_is_running(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import queue
        import threading
        import pytest
        from pytest_harn_trace import span

        @pytest.fixture(scope="session")
        def server():
            requests = queue.Queue()

            def serve():
                while (request := requests.get()) is not None:
                    name, done = request
                    with span("tool_call", name):
                        pass
                    done.set()

            thread = threading.Thread(target=serve, name="server")
            thread.start()

            def call(name):
                done = threading.Event()
                requests.put((name, done))
                assert done.wait(5)

            yield call
            requests.put(None)
            thread.join(5)

        def test_first(server, trace):
            server("first")
            assert [s.name for s in trace.spans] == ["first"]

        def test_second(server, trace):
            server("second")
            assert [s.name for s in trace.spans] == ["second"]
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


POOL_TESTS = """
import concurrent.futures
import contextvars
from pytest_harn_trace import span

pool = {}
captured = {}

def work(name):
    with span("tool_call", name):
        pass

def executor():
    if "it" not in pool:
        pool["it"] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="agent-pool")
    return pool["it"]

def test_a(trace):
    executor().submit(work, "a").result()
    captured["a"] = trace
    assert [s.name for s in trace.spans] == ["a"]

def test_b_without_context(trace):
    executor().submit(work, "b").result()
    assert trace.spans == []
    assert [s.name for s in captured["a"].spans] == ["a", "b"]

def test_c_with_context(trace):
    executor().submit(contextvars.copy_context().run, work, "c").result()
    assert [s.name for s in trace.spans] == ["c"]
    pool["it"].shutdown()
"""


def test_a_thread_pool_reused_by_a_later_test_tells_it_where_its_spans_went(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(POOL_TESTS)
    result = pytester.runpytest("-p", "no:randomly")
    # test_a's worker is idle when test_a ends: only test_b's misrouted span is worth a warning.
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.no_fnmatch_line("*test_a left thread*")
    result.stdout.fnmatch_lines(
        [
            "*test_b_without_context: 1 span recorded while this test ran went to the trace of "
            "test_*.py::test_a, which left thread 'agent-pool_0' running, bound to its trace. "
            "If that was this test's work, submitted to a thread pool that test created, submit "
            "it with this test's context: asyncio.to_thread(fn, ...), or "
            "executor.submit(contextvars.copy_context().run, fn, ...)",
        ]
    )
    result.stdout.no_fnmatch_line("*test_c_with_context:*")
