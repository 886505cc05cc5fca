"""Virtual time in this suite's own async tests: plain asyncio code, exact durations."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import anyio
import pytest

from pytest_harn_trace import MockClock, TraceCapture, span

pytestmark = pytest.mark.harn_trace(virtual_time=True)


@pytest.mark.asyncio
async def test_gathered_sleeps_overlap(trace: TraceCapture, mock_clock: MockClock) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with span("parallel", "fan_out"):
        await asyncio.gather(*(asyncio.sleep(1) for _ in range(3)))
    assert trace.one("parallel").duration_ms == 1000  # not 3,000: they overlap
    assert mock_clock.monotonic_ms == 1000
    assert round((loop.time() - started) * 1000) == 1000


async def tool(name: str, seconds: float) -> None:
    async with span("tool_call", name):
        await asyncio.sleep(seconds)


@pytest.mark.asyncio
async def test_tasks_finish_in_order_of_their_deadlines(trace: TraceCapture) -> None:
    await asyncio.gather(tool("slow", 0.03), tool("fast", 0.01), tool("medium", 0.02))
    trace.assert_tree("""
        tool_call fast 10ms
        tool_call medium 20ms
        tool_call slow 30ms
    """, ordered=True)


@pytest.mark.asyncio
async def test_equal_deadlines_run_in_the_order_scheduled(mock_clock: MockClock) -> None:
    done: list[int] = []

    async def nap(number: int) -> None:
        await asyncio.sleep(1)
        done.append(number)

    # asyncio's timer heap alone does not keep equal deadlines in order.
    await asyncio.gather(*(nap(number) for number in range(40)))
    assert done == list(range(40))
    assert mock_clock.monotonic_ms == 1000


@pytest.mark.asyncio
async def test_wait_for_times_out_at_its_virtual_deadline(
    trace: TraceCapture, mock_clock: MockClock
) -> None:
    with pytest.raises(TimeoutError):
        async with span("step", "bounded"):
            await asyncio.wait_for(asyncio.sleep(60), timeout=2.5)
    assert trace.one("step", "bounded").duration_ms == 2500
    assert mock_clock.monotonic_ms == 2500


@pytest.mark.asyncio
async def test_call_later_call_at_and_timeout_fire_at_virtual_deadlines(
    mock_clock: MockClock,
) -> None:
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, int]] = []
    loop.call_later(0.75, lambda: fired.append(("call_later", mock_clock.monotonic_ms)))
    loop.call_at(loop.time() + 0.5, lambda: fired.append(("call_at", mock_clock.monotonic_ms)))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            await asyncio.Event().wait()
    assert fired == [("call_at", 500), ("call_later", 750)]
    assert mock_clock.monotonic_ms == 1000


class Flaky(Exception):
    pass


@pytest.mark.asyncio
async def test_retry_with_exponential_backoff(trace: TraceCapture) -> None:
    attempts = 0

    async def call_model() -> str:
        nonlocal attempts
        attempts += 1
        async with span("llm_call", "gpt-4o", attempt=attempts):
            if attempts < 3:
                raise Flaky("503 from the provider")
            return "ok"

    async def with_backoff() -> str:
        for delay in (1, 2, 4):
            try:
                return await call_model()
            except Flaky:
                await asyncio.sleep(delay)
        return await call_model()

    real_started = time.perf_counter()
    async with span("pipeline", "agent"):
        assert await with_backoff() == "ok"
    first, *_ = calls = trace.find("llm_call")
    assert [call.start_unix_ms - first.start_unix_ms for call in calls] == [0, 1000, 3000]
    assert trace.one("pipeline").duration_ms == 3000
    assert time.perf_counter() - real_started < 1  # it takes milliseconds, not 3 s


@pytest.mark.asyncio
async def test_a_real_local_server_answers_within_a_timeout(
    trace: TraceCapture, mock_clock: MockClock
) -> None:
    async def shout(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        await asyncio.sleep(0.2)  # the server thinks for 200 ms of virtual time
        writer.write(line.upper())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(shout, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, span("tool_call", "fetch"), asyncio.timeout(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello\n")
        assert await reader.readline() == b"HELLO\n"
        writer.close()
        await writer.wait_closed()
    assert trace.one("tool_call").duration_ms == 200


@pytest.mark.asyncio
async def test_a_server_in_another_thread_is_not_jumped_past(mock_clock: MockClock) -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(connection.recv(100).upper())

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(*listener.getsockname())
            writer.write(b"ping")
            await writer.drain()
            assert await reader.read(100) == b"PING"
            writer.close()
            await writer.wait_closed()
    finally:
        thread.join()
        listener.close()
    # The request was in flight: the clock ran at real speed (a few ms), never jumping to 5 s.
    assert mock_clock.monotonic_ms < 5000


@pytest.mark.asyncio
async def test_work_in_threads_is_awaited_not_skipped(
    trace: TraceCapture, mock_clock: MockClock
) -> None:
    loop = asyncio.get_running_loop()

    def blocking() -> str:
        time.sleep(0.05)
        return "done"

    # A 1 s virtual timeout that the threads' real 50 ms must not trip.
    async with asyncio.timeout(1), span("tool_call", "blocking"):
        assert await asyncio.to_thread(blocking) == "done"
        assert await loop.run_in_executor(None, blocking) == "done"
    assert trace.one("tool_call").duration_ms == 0  # the clock stands still for threads
    assert mock_clock.monotonic_ms == 0


@pytest.mark.asyncio
async def test_a_hung_thread_times_out_as_on_a_real_clock(mock_clock: MockClock) -> None:
    release = threading.Event()
    real_started = time.perf_counter()
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await asyncio.to_thread(release.wait, 5)
    finally:
        release.set()
    assert time.perf_counter() - real_started >= 0.2
    assert mock_clock.monotonic_ms == 200


@pytest.mark.anyio
async def test_anyio_on_the_asyncio_backend(mock_clock: MockClock) -> None:
    async with anyio.create_task_group() as group:
        for seconds in (3, 1, 2):
            group.start_soon(anyio.sleep, seconds)
    assert mock_clock.monotonic_ms == 3000
    with anyio.move_on_after(5) as scope:
        await anyio.Event().wait()
    assert scope.cancelled_caught
    assert mock_clock.monotonic_ms == 8000


@pytest.mark.asyncio
async def test_trace_wait_for_async_times_out_in_virtual_time(
    trace: TraceCapture, mock_clock: MockClock
) -> None:
    async def background() -> None:
        await asyncio.sleep(3)
        async with span("tool_call", "late"):
            await asyncio.sleep(0.5)

    task = asyncio.create_task(background())
    found = await trace.wait_for_async("tool_call", "late", timeout=10)
    assert found.duration_ms == 500
    assert mock_clock.monotonic_ms == 3500
    with pytest.raises(TimeoutError, match=r'no span matching \(kind="llm_call"\) ended within'):
        await trace.wait_for_async("llm_call", timeout=60)
    assert mock_clock.monotonic_ms == 63_500
    await task
