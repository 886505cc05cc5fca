"""Virtual time against real peers: servers in threads, child processes, HTTP keep-alive.

A request to a peer outside the test's event loop runs the clock at real speed
until the answer comes, so every test here waits for real (about 15 s in all,
most of it the one 10 s server). Timeouts are generous: the machine may be busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import trustme

from pytest_harn_trace import MockClock, TraceCapture, span

pytestmark = pytest.mark.harn_trace(virtual_time=True)


class _SlowShout(socketserver.StreamRequestHandler):
    """Reads lines and answers each in upper case after ``server.delay_s`` of real time."""

    def handle(self) -> None:
        for line in self.rfile:
            if self.server.closing.wait(self.server.delay_s):  # type: ignore[attr-defined]
                return
            self.wfile.write(line.upper())


@contextlib.contextmanager
def slow_server(delay_s: float) -> Iterator[tuple[str, int]]:
    """A ThreadingTCPServer on 127.0.0.1 in a thread, answering after ``delay_s``."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SlowShout)
    server.daemon_threads = False  # server_close() joins the handlers
    server.delay_s = delay_s  # type: ignore[attr-defined]
    server.closing = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), int(port)
    finally:
        server.closing.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()
        thread.join()


async def ask(address: tuple[str, int], timeout: float) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(b"hello\n")
        return await asyncio.wait_for(reader.readline(), timeout=timeout)
    finally:
        writer.close()
        await writer.wait_closed()


@contextlib.asynccontextmanager
async def heartbeat() -> AsyncIterator[list[int]]:
    """A task beating once a second of virtual time, as a background keep-alive would."""
    beats: list[int] = []

    async def beat() -> None:
        while True:
            await asyncio.sleep(1)
            beats.append(1)

    task = asyncio.create_task(beat())
    try:
        yield beats
    finally:
        task.cancel()


@pytest.mark.asyncio
async def test_a_slow_thread_server_answers_before_a_virtual_timeout(
    trace: TraceCapture, mock_clock: MockClock
) -> None:
    with slow_server(0.3) as address:
        async with span("tool_call", "shout"):
            assert await ask(address, timeout=5) == b"HELLO\n"
    took = trace.one("tool_call").duration_ms
    assert 300 <= took < 5000  # the real time it took, not a jump to the timeout


@pytest.mark.asyncio
async def test_a_pending_heartbeat_does_not_run_away_while_a_request_is_in_flight(
    mock_clock: MockClock,
) -> None:
    with slow_server(0.3) as address:
        async with heartbeat() as beats:
            assert await ask(address, timeout=5) == b"HELLO\n"
    assert 300 <= mock_clock.monotonic_ms < 5000  # not 2.85 hours
    assert len(beats) <= mock_clock.monotonic_ms // 1000  # beats at real pace meanwhile


@pytest.mark.asyncio
@pytest.mark.parametrize(("delay_s", "beating"), [(3, True), (10, False)])
async def test_a_slow_server_answers_within_a_thirty_second_timeout(
    trace: TraceCapture, delay_s: int, beating: bool
) -> None:
    with slow_server(delay_s) as address:
        async with contextlib.AsyncExitStack() as stack:
            if beating:
                await stack.enter_async_context(heartbeat())
            async with span("tool_call", "shout"):
                assert await ask(address, timeout=30) == b"HELLO\n"
    assert delay_s * 1000 <= trace.one("tool_call").duration_ms < 30_000


@pytest.mark.asyncio
async def test_a_never_answering_peer_times_out_at_the_real_deadline(
    mock_clock: MockClock,
) -> None:
    with slow_server(5) as address:
        real_started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await ask(address, timeout=0.3)
    assert time.perf_counter() - real_started >= 0.3  # waited for real, not jumped
    assert 300 <= mock_clock.monotonic_ms < 5000


@pytest.mark.asyncio
async def test_a_slow_tls_server_answers_before_a_virtual_timeout(
    trace: TraceCapture, mock_clock: MockClock
) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    listener = socket.create_server(("127.0.0.1", 0))
    closing = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with server_context.wrap_socket(connection, server_side=True) as tls:
            line = tls.makefile("rb").readline()
            if not closing.wait(0.3):  # 300 ms of real time
                tls.sendall(line.upper())
            with contextlib.suppress(OSError):
                tls.recv(100)  # until the client closes

    thread = threading.Thread(target=serve)
    thread.start()
    reader, writer = await asyncio.open_connection(*listener.getsockname(), ssl=client_context)
    try:
        async with heartbeat(), span("tool_call", "tls"):
            writer.write(b"hello\n")
            assert await asyncio.wait_for(reader.readline(), timeout=5) == b"HELLO\n"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        closing.set()
        thread.join()
        listener.close()
    assert 300 <= trace.one("tool_call").duration_ms < 5000


SLOW_CHILD = """
import sys, time
print("starting", file=sys.stderr, flush=True)  # a log line answers nothing
time.sleep(0.3)
print("ready", flush=True)
line = sys.stdin.readline()
time.sleep(0.3)
print(line.strip().upper(), flush=True)
"""


@pytest.mark.asyncio
async def test_a_slow_child_process_is_awaited_at_real_speed(
    trace: TraceCapture, mock_clock: MockClock
) -> None:
    async with heartbeat(), span("tool_call", "child"):
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SLOW_CHILD,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None and child.stdout is not None
        # Started: a request whose answer is its first output.
        assert await asyncio.wait_for(child.stdout.readline(), timeout=5) == b"ready\n"
        child.stdin.write(b"ping\n")  # written to: the next output answers it
        assert await asyncio.wait_for(child.stdout.readline(), timeout=5) == b"PING\n"
        assert await asyncio.wait_for(child.wait(), timeout=5) == 0
        assert child.stderr is not None and await child.stderr.read() == b"starting\n"
    for thread in threading.enumerate():  # asyncio's child watcher, done once it reported
        if thread.name.startswith("asyncio-waitpid"):
            thread.join(timeout=30)
    assert 600 <= trace.one("tool_call").duration_ms < 5000


class _SlowHello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        time.sleep(0.3)
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.asyncio
async def test_httpx_keep_alive_against_a_slow_server_then_an_idle_minute(
    trace: TraceCapture, mock_clock: MockClock
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHello)
    server.daemon_threads = False  # server_close() joins the handlers
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for attempt in (1, 2):  # the second request reuses the kept-alive connection
                async with heartbeat(), span("llm_call", "local", attempt=attempt):
                    assert (await client.get(url)).text == "hello"
            before = mock_clock.monotonic_ms
            real_started = time.perf_counter()
            await asyncio.sleep(60)  # the pooled connection is idle: the clock jumps
            assert time.perf_counter() - real_started < 20  # not a minute of real time
            assert mock_clock.monotonic_ms >= before + 60_000
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    for call in trace.find("llm_call"):
        assert 300 <= call.duration_ms < 5000
