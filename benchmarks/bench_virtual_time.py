"""Real time taken by async tests that sleep a minute of virtual time.

Usage::

    .venv/bin/python benchmarks/bench_virtual_time.py            # 7 rounds
    .venv/bin/python benchmarks/bench_virtual_time.py --quick    # 2 rounds

Generates a module of ``@pytest.mark.asyncio`` tests in a temporary directory
and runs it once with ``pytest.main`` in this process. Each round holds one
test per contender, so the contenders interleave; the figure for a test is
pytest's own call-phase duration (what ``--durations`` shows), and each
contender's figure is the median over the rounds.

- ``60 x sleep(1)``: 60 s of virtual time in 60 jumps;
- ``6,000 x sleep(0.01)``: the same 60 s in 6,000 jumps (the cost per jump);
- ``100 tasks x 60 x sleep(1)``: 100 gathered tasks, 6,000 timers, 60 jumps;
- ``6,000 x sleep(0.01), idle conn``: the 6,000 jumps beside an open connection to a
  server in a thread, answered and idle since (what an idle peer costs per jump);
- ``6,000 x sleep(0), real loop``: no virtual time; the floor of 6,000 loop turns.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import textwrap
from importlib import metadata as importlib_metadata
from pathlib import Path

import pytest

CONTENDERS = {
    "60 x sleep(1)": """
        for _ in range(60):
            await asyncio.sleep(1)
        assert mock_clock.monotonic_ms == 60_000
    """,
    "6,000 x sleep(0.01)": """
        for _ in range(6_000):
            await asyncio.sleep(0.01)
        assert mock_clock.monotonic_ms == 60_000
    """,
    "100 tasks x 60 x sleep(1)": """
        async def sleeper():
            for _ in range(60):
                await asyncio.sleep(1)
        await asyncio.gather(*(sleeper() for _ in range(100)))
        assert mock_clock.monotonic_ms == 60_000
    """,
    "6,000 x sleep(0.01), idle conn": """
        import socket, threading
        listener = socket.create_server(("127.0.0.1", 0))
        def serve():
            connection, _ = listener.accept()
            with connection:
                connection.sendall(connection.recv(100))
                connection.recv(100)  # until the client closes
        thread = threading.Thread(target=serve)
        thread.start()
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        writer.write(b"ping")
        assert await reader.read(100) == b"ping"
        for _ in range(6_000):  # the kept-open connection is idle: it must not slow jumps
            await asyncio.sleep(0.01)
        writer.close()
        await writer.wait_closed()
        thread.join()
        listener.close()
        assert mock_clock.monotonic_ms >= 60_000
    """,
    "6,000 x sleep(0), real loop": """
        for _ in range(6_000):
            await asyncio.sleep(0)
    """,
}
VIRTUAL = {name: "real loop" not in name for name in CONTENDERS}
TARGET_S = 0.5


def test_module(rounds: int) -> str:
    lines = ["import asyncio", "import pytest", ""]
    for round_ in range(rounds):
        for index, (name, body) in enumerate(CONTENDERS.items()):
            marker = "@pytest.mark.harn_trace(virtual_time=VIRTUAL)".replace(
                "VIRTUAL", str(VIRTUAL[name])
            )
            lines += [
                "@pytest.mark.asyncio",
                marker,
                f"async def test_c{index}_r{round_}(mock_clock):",
                textwrap.indent(textwrap.dedent(body).strip(), "    "),
                "",
            ]
    return "\n".join(lines)


class CallDurations:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.seconds[report.nodeid.rsplit("::", 1)[1]] = report.duration
        if report.failed:
            self.failed.append(report.nodeid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 7")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 7

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text(
            "[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8"
        )
        (root / "test_sleepers.py").write_text(test_module(rounds), encoding="utf-8")
        recorder = CallDurations()
        code = pytest.main(
            ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", tmp, tmp],
            plugins=[recorder],
        )
    if code != 0 or recorder.failed:
        print(f"benchmark tests failed: {recorder.failed}", file=sys.stderr)
        return 1

    version = importlib_metadata.version("pytest-harn-trace")
    print(
        f"\nPython {platform.python_version()} on {platform.machine()} {platform.system()}; "
        f"pytest {pytest.__version__}; pytest-harn-trace {version}"
    )
    print(f"{rounds} interleaved rounds; call-phase seconds per test")
    print(f"  {'test':<30} {'median':>8} {'min':>8} {'max':>8}  {'virtual s / real s':>18}")
    medians: dict[str, float] = {}
    for index, name in enumerate(CONTENDERS):
        times = [recorder.seconds[f"test_c{index}_r{r}"] for r in range(rounds)]
        median = medians[name] = statistics.median(times)
        speed = f"{60 / median:>17,.0f}x" if VIRTUAL[name] else f"{'-':>18}"
        print(f"  {name:<30} {median:>8.3f} {min(times):>8.3f} {max(times):>8.3f}  {speed}")
    floor = medians["6,000 x sleep(0), real loop"]
    per_jump = medians["6,000 x sleep(0.01)"]
    print(f"\n  6,000 jumps / 6,000 plain loop turns: {per_jump / floor:.1f}x")
    print(f"  cost per jump: {per_jump / 6000 * 1e6:.1f} µs")
    idle = medians["6,000 x sleep(0.01), idle conn"]
    print(f"  6,000 jumps beside an idle connection / without: {idle / per_jump:.2f}x")
    worst = max(medians[name] for name in CONTENDERS if VIRTUAL[name])
    verdict = "within" if worst < TARGET_S else "OVER"
    print(f"  slowest 60 s of virtual time: {worst:.3f} s real ({verdict} the {TARGET_S} s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
