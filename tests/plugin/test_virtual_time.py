"""Virtual time in inner runs: shared loops, the ini option, and the failures it reports."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import INNER_INI

HEADER = """
import asyncio
import time

import pytest

virtual = pytest.mark.harn_trace(virtual_time=True)
"""


def run_inner(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=HEADER + body)
    return pytester.runpytest("-p", "no:cacheprovider")


def test_a_shared_loop_keeps_its_time_monotonic_and_real_between_tests(
    pytester: pytest.Pytester,
) -> None:
    result = run_inner(pytester, """
seen = {}

@pytest.mark.asyncio(loop_scope="module")
@virtual
async def test_first(mock_clock):
    loop = asyncio.get_running_loop()
    seen["loop"] = loop
    await asyncio.sleep(3600)
    seen["after"] = loop.time()
    assert mock_clock.monotonic_ms == 3_600_000

@pytest.mark.asyncio(loop_scope="module")
async def test_in_between_on_real_time():
    loop = asyncio.get_running_loop()
    assert loop is seen["loop"]
    assert loop.time() >= seen["after"]  # never back before the virtual hour
    started = time.perf_counter()
    await asyncio.sleep(0.05)  # real time again: it really waits
    assert time.perf_counter() - started >= 0.05

@pytest.mark.asyncio(loop_scope="module")
@virtual
async def test_second(mock_clock):
    loop = asyncio.get_running_loop()
    assert loop is seen["loop"]
    start = loop.time()
    assert start >= seen["after"]
    await asyncio.sleep(2)
    assert mock_clock.monotonic_ms == 2000  # a fresh mock clock per test
    assert round((loop.time() - start) * 1000) == 2000

@pytest.mark.asyncio(loop_scope="session")
@virtual
async def test_on_the_session_loop(mock_clock):
    await asyncio.sleep(10)
    assert mock_clock.monotonic_ms == 10_000
""")
    result.assert_outcomes(passed=4)


def test_ini_turns_virtual_time_on_for_every_async_test(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI + "harn_trace_virtual_time = true\n")
    result = run_inner(pytester, """
@pytest.mark.asyncio
async def test_on_by_ini(mock_clock):
    await asyncio.sleep(30)
    assert mock_clock.monotonic_ms == 30_000

@pytest.mark.asyncio
@pytest.mark.harn_trace(virtual_time=False)
async def test_off_by_marker(mock_clock):
    started = time.perf_counter()
    await asyncio.sleep(0.02)
    assert time.perf_counter() - started >= 0.02
    assert mock_clock.monotonic_ms == 0

@pytest.mark.asyncio
@pytest.mark.harn_trace
async def test_a_marker_without_virtual_time_keeps_the_ini(mock_clock):
    await asyncio.sleep(5)
    assert mock_clock.monotonic_ms == 5000

def test_sync_tests_are_left_alone():
    pass
""")
    result.assert_outcomes(passed=4)


SLOW_SERVER_CONFTEST = """
import contextlib
import socket
import threading

import pytest

@pytest.fixture
def slow_server():
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        connection, _ = listener.accept()
        with connection, contextlib.suppress(OSError):  # the client may have given up
            connection.recv(100)
            if not stop.wait(0.3):  # a slow server: 300 ms of real time
                connection.sendall(b"done")
            connection.recv(100)  # until the client closes

    thread = threading.Thread(target=serve)
    thread.start()
    yield listener.getsockname()
    stop.set()
    thread.join()
    listener.close()
"""


def test_a_slow_thread_server_is_awaited_and_a_short_io_answer_ms_names_itself(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(SLOW_SERVER_CONFTEST)
    pytester.makepyfile(test_inner=HEADER + """
@pytest.mark.asyncio
@virtual
async def test_request(slow_server, mock_clock):
    reader, writer = await asyncio.open_connection(*slow_server)
    try:
        async with asyncio.timeout(5):
            writer.write(b"go")
            assert await reader.read(100) == b"done"
    finally:
        writer.close()
        await writer.wait_closed()
    assert 300 <= mock_clock.monotonic_ms < 5000  # the real time it took
""")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    pytester.makeini(INNER_INI + "harn_trace_io_answer_ms = 100\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E * TimeoutError",
        "E * (virtual time had reached 5,000 ms (0:00:05.000)); the test did real I/O, and the"
        " clock runs at real speed only while a request to a peer outside this event loop"
        " awaits its answer (for at most harn_trace_io_answer_ms = 100 ms of real time, and on"
        " for harn_trace_io_quiet_ms = 50 ms after its last data), jumping to the next timer"
        " otherwise; the connection to 127.0.0.1:* left a request unanswered for 100 ms of"
        " real time, so the clock jumped on: raise harn_trace_io_answer_ms for a slower peer",
    ])


def test_stuck_tests_that_did_real_io_name_the_io_rule(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SLOW_SERVER_CONFTEST)
    pytester.makeini(INNER_INI + "harn_trace_io_answer_ms = 100\n")
    pytester.makepyfile(test_inner=HEADER + """
@pytest.mark.asyncio
@virtual
async def test_forever(slow_server):
    reader, writer = await asyncio.open_connection(*slow_server)
    try:
        writer.write(b"go")
        await asyncio.Event().wait()
    finally:
        writer.close()

@pytest.mark.asyncio
@virtual
async def test_heartbeat_forever(slow_server):
    async def heartbeat():
        while True:
            await asyncio.sleep(600)
    beat = asyncio.create_task(heartbeat())
    reader, writer = await asyncio.open_connection(*slow_server)
    try:
        writer.write(b"go")
        await asyncio.Event().wait()
    finally:
        beat.cancel()
        writer.close()
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    io_rule = (
        "; the test did real I/O, and the clock runs at real speed only while a request to a"
        " peer outside this event loop awaits its answer (for at most harn_trace_io_answer_ms"
        " = 100 ms of real time, and on for harn_trace_io_quiet_ms = 50 ms after its last"
        " data), jumping to the next timer otherwise; the connection to 127.0.0.1:* left a"
        " request unanswered for 100 ms of real time, so the clock jumped on: raise"
        " harn_trace_io_answer_ms for a slower peer"
    )
    result.stdout.fnmatch_lines([
        "E *.VirtualTimeError: the test would wait forever: *, or give the wait a timeout such"
        " as asyncio.timeout(...)" + io_rule,
        "E *.VirtualTimeError: virtual time limit reached: *; is something waiting for an event"
        " nobody sets while a timer keeps ticking?" + io_rule,
    ])


@pytest.mark.parametrize("name", ["harn_trace_io_quiet_ms", "harn_trace_io_answer_ms"])
def test_an_io_ms_option_out_of_range_stops_the_run_naming_the_range(
    pytester: pytest.Pytester, name: str
) -> None:
    pytester.makeini(INNER_INI + f"{name} = 1000000000000000\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"ERROR: {name} = '1000000000000000': expected real milliseconds from 0 to"
        " 86,400,000 (a day)"
    ])


def test_virtual_time_on_a_sync_test_warns_and_a_still_clock_is_explained(
    pytester: pytest.Pytester,
) -> None:
    result = run_inner(pytester, """
from pytest_harn_trace import span

@virtual
def test_sync_asyncio_run(trace):
    async def main():
        async with span("tool_call", "nap"):
            await asyncio.sleep(0.2)
    asyncio.run(main())
    trace.assert_tree("tool_call nap 200ms")

@pytest.mark.harn_trace
def test_sync_without_virtual_time(trace):
    pass
""")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([
        "E * duration_ms expected 200, got 0 (the mock clock never moved during this span:"
        " real sleeps, such as time.sleep or asyncio.sleep in a loop not on virtual time, don't"
        " move it; run the code on virtual time, with run_virtual(coro) in a sync test, or move"
        " it with mock_clock.advance(ms))",
        "*warnings summary*",
        "test_inner.py::test_sync_asyncio_run",
        "*HarnTraceWarning: @pytest.mark.harn_trace(virtual_time=True) does nothing for the"
        " sync test test_sync_asyncio_run: virtual time applies to async tests, and a loop this"
        " test starts itself (asyncio.run) runs on real time; call run_virtual(coro) instead of"
        " asyncio.run(coro) to run it on the mock clock",
    ])
    result.stdout.no_fnmatch_line("test_inner.py::test_sync_without_virtual_time")


def test_another_async_library_fails_the_marker_and_skips_the_ini(
    pytester: pytest.Pytester,
) -> None:
    # A runner that drives the coroutine itself, as trio would: no asyncio loop runs.
    pytester.makeconftest("""
import inspect

import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        try:
            pyfuncitem.obj(**args).send(None)
        except StopIteration:
            pass
        return True
""")
    pytester.makeini(INNER_INI + "harn_trace_virtual_time = true\n")
    result = run_inner(pytester, """
@virtual
async def test_marked():
    pass

async def test_by_ini():
    pass
""")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "E *.VirtualTimeError: virtual time drives asyncio event loops, and this test runs"
        " under another async library; under trio use its own"
        " trio.testing.MockClock(autojump_threshold=0), or mark this test"
        " @pytest.mark.harn_trace(virtual_time=False)",
        "FAILED test_inner.py::test_marked - *",
    ])


def test_a_test_that_would_wait_forever_fails_fast(pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, """
@pytest.mark.asyncio
@virtual
async def test_forever():
    await asyncio.sleep(90)
    await asyncio.Event().wait()

@pytest.mark.asyncio
@virtual
async def test_an_hour_timeout():
    async with asyncio.timeout(3600):
        await asyncio.Event().wait()

@pytest.mark.asyncio
@virtual
async def test_heartbeat_forever():
    async def heartbeat():
        while True:
            await asyncio.sleep(600)
    beat = asyncio.create_task(heartbeat())
    try:
        await asyncio.Event().wait()
    finally:
        beat.cancel()
""")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "E *.VirtualTimeError: the test would wait forever: every task is waiting and no timer,"
        " socket or thread job is left to wake one (virtual time reached 90,000 ms"
        " (0:01:30.000)); set the event or result the test awaits, or give the wait a timeout*",
        "E * TimeoutError",
        "E * (virtual time had reached 3,600,000 ms (1:00:00.000))",
        "E *.VirtualTimeError: virtual time limit reached: the test has run 86,400,000 ms"
        " (24:00:00.000) of virtual time and its next timer is 600,000 ms later*",
    ])


def test_an_ini_virtual_time_that_is_not_a_bool_stops_the_run_naming_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INNER_INI + "harn_trace_virtual_time = maybe\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "ERROR: harn_trace_virtual_time: invalid truth value 'maybe'; "
        "use true or false (or yes/no, on/off, 1/0)"
    ])


def test_virtual_time_must_be_a_bool(pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, """
@pytest.mark.asyncio
@pytest.mark.harn_trace(virtual_time="yes")
async def test_bad():
    pass
""")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*test_bad: @pytest.mark.harn_trace virtual_time='yes': expected True or False"
    ])


def test_virtual_time_misuse_ends_at_the_users_line_and_says_the_fix(
    pytester: pytest.Pytester,
) -> None:
    result = run_inner(pytester, """
from pytest_harn_trace import MockClock, VirtualTime, run_virtual

async def agent():
    await asyncio.sleep(1)

def test_function_not_called(mock_clock):
    run_virtual(agent)

def test_inside_a_running_loop(mock_clock):
    async def main():
        run_virtual(agent())
    asyncio.run(main())

def test_not_a_clock():
    VirtualTime(time)

def test_installed_outside_a_loop():
    VirtualTime(MockClock()).install()

@pytest.mark.asyncio
@virtual
async def test_twice(mock_clock):
    async with VirtualTime(mock_clock):
        pass
""")
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines([
        ">       run_virtual(agent)",
        "E       TypeError: run_virtual expects a coroutine, got the function agent; "
        "call it: run_virtual(agent(...))",
        "test_inner.py:14: TypeError",
        ">       run_virtual(agent())",
        "E       *VirtualTimeError: run_virtual starts an event loop of its own and cannot run "
        "inside a running one; in async code await the coroutine under "
        "`async with VirtualTime(clock):`*",
        "test_inner.py:18: VirtualTimeError",
        ">       VirtualTime(time)",
        "E       TypeError: VirtualTime expects a MockClock, got a module; pass the mock_clock "
        "fixture, or MockClock() outside pytest",
        "test_inner.py:22: TypeError",
        ">       VirtualTime(MockClock()).install()",
        "E       *VirtualTimeError: VirtualTime needs a running asyncio event loop: use "
        "`async with VirtualTime(clock):` inside a coroutine; from sync code call "
        "run_virtual(coro) instead",
        "test_inner.py:25: VirtualTimeError",
        ">       async with VirtualTime(mock_clock):",
        "E       *VirtualTimeError: this event loop is already on virtual time (the "
        "harn_trace(virtual_time=True) marker*; drop the inner VirtualTime, or turn the other "
        "one off",
        "test_inner.py:30: VirtualTimeError",
    ])
    result.stdout.no_fnmatch_line("*pytest_harn_trace/*")
    result.stdout.no_fnmatch_line("*was never awaited*")
