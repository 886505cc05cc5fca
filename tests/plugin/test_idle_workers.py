"""A pool worker left waiting for work is not a thread left running; one still working is.

Each test runs with ``filterwarnings = error``, as a suite that turns warnings
into errors does: a warning there fails the test it is attributed to.
"""

from __future__ import annotations

import pytest

ERROR_INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""


@pytest.fixture
def warnings_are_errors(pytester: pytest.Pytester) -> None:
    pytester.makeini(ERROR_INI)


@pytest.mark.usefixtures("warnings_are_errors")
def test_an_executor_never_shut_down_leaves_idle_workers_and_no_warning(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("""
        import concurrent.futures

        from pytest_harn_trace import span

        pools = []


        def work(name):
            with span("tool_call", name):
                return name


        def test_pool_left_open(trace):
            pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="tools")
            pools.append(pool)
            assert list(pool.map(work, ["a", "b", "c"])) == ["a", "b", "c"]


        def test_next():
            assert all(thread.is_alive() for thread in pools[0]._threads)
            pools[0].shutdown()
    """)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*left thread*")


@pytest.mark.usefixtures("warnings_are_errors")
def test_asyncio_default_executor_of_a_loop_left_open_draws_no_warning(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("""
        import asyncio
        import threading

        from pytest_harn_trace import span

        loops = []


        def blocking():
            with span("tool_call", "blocking"):
                return 1


        def test_loop_left_open(trace):
            # As Runner.run_sync of the OpenAI Agents SDK does: the thread's default
            # loop stays open for the next run, and its executor's worker with it.
            loop = asyncio.new_event_loop()
            loops.append(loop)
            assert loop.run_until_complete(loop.run_in_executor(None, blocking)) == 1
            assert "asyncio_0" in [thread.name for thread in threading.enumerate()]
            assert [s.name for s in trace.spans] == ["blocking"]


        def test_close_it():
            loops[0].run_until_complete(loops[0].shutdown_default_executor())
            loops[0].close()
    """)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*asyncio_0*")


@pytest.mark.parametrize(
    ("workers", "submitted", "threads"),
    [
        (1, 1, "thread 'busy_0'"),
        # The third item waits in the queue: both workers are busy with the first two.
        (2, 3, "threads 'busy_0', 'busy_1'"),
    ],
    ids=["running", "running-and-queued"],
)
def test_a_pool_worker_still_running_the_tests_work_is_warned_about(
    pytester: pytest.Pytester, workers: int, submitted: int, threads: str
) -> None:
    pytester.makepyfile(f"""
        import concurrent.futures
        import threading

        release = threading.Event()
        pools = []


        def test_work_left_running(trace):
            pool = concurrent.futures.ThreadPoolExecutor({workers}, thread_name_prefix="busy")
            pools.append(pool)
            for _ in range({submitted}):
                pool.submit(release.wait, 10)


        def test_release():
            release.set()
            pools[0].shutdown()
    """)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines([
        f"*HarnTraceWarning: test_*.py::test_work_left_running left {threads} running; "
        "started during the test, * stay* bound to this test's trace*stop and join*",
    ])


@pytest.mark.usefixtures("warnings_are_errors")
def test_openai_agents_run_sync_leaves_its_idle_executor_worker_and_no_warning(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("""
        import threading

        from agents import Agent, Runner, function_tool, set_tracing_disabled
        from agents.testing.model import ScriptedModel, assistant_message, function_call

        # The SDK's own trace export (a background thread of its own) is not the point here.
        set_tracing_disabled(True)


        @function_tool
        def weather(city: str) -> str:
            return f"sunny in {city}"


        def test_run_sync(trace):
            model = ScriptedModel([
                [function_call("weather", {"city": "Paris"}, call_id="call_1")],
                [assistant_message("It is sunny.")],
            ])
            agent = Agent(name="weather_agent", model=model, tools=[weather])
            assert Runner.run_sync(agent, "Weather in Paris?").final_output == "It is sunny."
            # run_sync keeps the thread's default loop open, and its executor's worker.
            assert "asyncio_0" in [thread.name for thread in threading.enumerate()]
    """)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*asyncio_0*")
