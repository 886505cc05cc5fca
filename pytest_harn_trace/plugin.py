"""The pytest plugin: ``trace`` and ``mock_clock`` fixtures, the marker, snapshots, reports."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Literal, NoReturn

import pytest
from syrupy.assertion import SnapshotAssertion

from pytest_harn_trace import otel_plugin, usage_plugin
from pytest_harn_trace.assertions.mismatch import TreeMismatch
from pytest_harn_trace.assertions.orphans import draw_orphans
from pytest_harn_trace.capture import HarnTraceWarning, TraceCapture
from pytest_harn_trace.isolation import Isolation
from pytest_harn_trace.otel_plugin import check_bool_ini, start_otel_capture
from pytest_harn_trace.pictures.names import picture_stem
from pytest_harn_trace.pictures.timeline import unicode_safe
from pytest_harn_trace.snapshot import (
    TraceJsonSnapshotExtension,
    TraceSummarySnapshotExtension,
    trace_snapshot_assertion,
)
from pytest_harn_trace.tracing.clock import MockClock, install_override
from pytest_harn_trace.tracing.collector import SpanCollector
from pytest_harn_trace.tracing.model import OpenSpan
from pytest_harn_trace.tracing.shown import shown
from pytest_harn_trace.usage_plugin import price_function, usage_in_snapshot
from pytest_harn_trace.virtual_time import IO_ANSWER_MS, IO_QUIET_MS, MAX_IO_MS, virtual_test

__all__ = [
    "DEFAULT_WALL_MS",
    "mock_clock_fixture",
    "trace_fixture",
    "trace_json_snapshot_fixture",
    "trace_snapshot_fixture",
]

DEFAULT_WALL_MS = 1_700_000_000_000
"""The wall time ``mock_clock`` starts at unless configured: 2023-11-14T22:13:20Z."""

_MARKER = "harn_trace"
_MARKER_ARGS = ("wall_ms", "auto_advance_ms", "virtual_time", "budget")
_REPORT_MODES = ("failed", "all", "never")
_capture_key = pytest.StashKey[TraceCapture]()
_isolation_key = pytest.StashKey[Isolation]()
# Set on tests that use the ``trace`` fixture, whose capture starts with their first fixture.
_wants_trace_key = pytest.StashKey[bool]()
# What the trace held at the end of the last phase reported: (completed, open) counts.
_reported_key = pytest.StashKey[tuple[int, int]]()
_failed_key = pytest.StashKey[bool]()
_report_mode_key = pytest.StashKey[Literal["failed", "all", "never"]]()
_clock_defaults_key = pytest.StashKey[dict[str, int]]()
_io_quiet_key = pytest.StashKey[int]()
_io_answer_key = pytest.StashKey[int]()
_pictures_key = pytest.StashKey[dict[str, Path | None]]()


class _HookSpecs:
    @pytest.hookspec
    def pytest_harn_trace_redact(self, span: dict[str, Any]) -> None:
        """Rewrite a span's dict in place before it is snapshotted.

        Called for every span of ``trace_snapshot`` and ``trace_json_snapshot``,
        after normalization. Change ``span["metadata"]`` (or any other key) to
        hide values that vary between runs, such as request ids.
        """


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Declare the plugin's hooks, and register its OpenTelemetry and usage parts."""
    pluginmanager.add_hookspecs(_HookSpecs)
    # The OpenTelemetry capture and the usage accounting have hooks and options of their own. Not
    # ``pytest_plugins``: pytest before 8.4 warns (PytestAssertRewriteWarning) at start-up when
    # it names a module this one already imported (8.2 does; 9 does not).
    for part in (otel_plugin, usage_plugin):
        if not pluginmanager.is_registered(part):
            pluginmanager.register(part, part.__name__)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the command-line and ini options."""
    group = parser.getgroup("harn-trace", "trace assertions (pytest-harn-trace)")
    group.addoption(
        "--harn-trace-report",
        choices=_REPORT_MODES,
        default=None,
        help="When to add a 'Captured trace' section to test reports: failed (default), "
        "all or never.",
    )
    parser.addini(
        "harn_trace_report",
        "When to add a 'Captured trace' section to reports: failed, all or never.",
        default="failed",
    )
    group.addoption(
        "--harn-trace-html",
        metavar="DIR",
        default=None,
        help="Write an HTML waterfall of the trace of each failing test (each test with "
        "--harn-trace-report=all) into DIR.",
    )
    group.addoption(
        "--harn-trace-perfetto",
        metavar="DIR",
        default=None,
        help="Write the trace of each failing test (each test with --harn-trace-report=all) "
        "into DIR as Chrome trace-event JSON, for ui.perfetto.dev.",
    )
    parser.addini(
        "harn_trace_html", "Directory for HTML waterfalls of traces (see --harn-trace-html)."
    )
    parser.addini(
        "harn_trace_perfetto",
        "Directory for Perfetto trace files of traces (see --harn-trace-perfetto).",
    )
    parser.addini(
        "harn_trace_wall_ms",
        f"Wall time (UNIX ms) the mock_clock fixture starts at (default {DEFAULT_WALL_MS}).",
        default=str(DEFAULT_WALL_MS),
    )
    parser.addini(
        "harn_trace_auto_advance_ms",
        "Milliseconds the mock_clock fixture moves on every read (default 0: off).",
        default="0",
    )
    parser.addini(
        "harn_trace_virtual_time",
        "Run async tests on virtual time: the event loop's clock is the mock clock "
        "(default false).",
        type="bool",
        default=False,
    )
    parser.addini(
        "harn_trace_io_quiet_ms",
        "Under virtual time, real milliseconds without socket events before the clock may "
        f"jump to the next timer (default {IO_QUIET_MS}).",
        default=str(IO_QUIET_MS),
    )
    parser.addini(
        "harn_trace_io_answer_ms",
        "Under virtual time, real milliseconds a request to a peer outside the test's event "
        f"loop may go unanswered while the clock runs at real speed (default {IO_ANSWER_MS}).",
        default=str(IO_ANSWER_MS),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and check the report option."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(wall_ms=..., auto_advance_ms=..., virtual_time=False, budget=None): give "
        "the test the trace and mock_clock fixtures, with the mock clock at wall_ms, moving "
        "auto_advance_ms on every read; virtual_time=True runs an async test's event loop on "
        "the mock clock; budget={'llm_calls': 3, ...} sets usage limits checked after the test "
        "body, as trace.assert_within_budget.",
    )
    config.stash[_report_mode_key] = _report_mode(config)
    config.stash[_pictures_key] = {
        kind: _picture_dir(config, kind) for kind in ("html", "perfetto")
    }
    # Checked here so a bad value stops the run at once, not only in tests using mock_clock.
    config.stash[_clock_defaults_key] = {
        "wall_ms": _ini_ms(config, "harn_trace_wall_ms"),
        "auto_advance_ms": _ini_ms(config, "harn_trace_auto_advance_ms"),
    }
    config.stash[_io_quiet_key] = _ini_io_ms(config, "harn_trace_io_quiet_ms")
    config.stash[_io_answer_key] = _ini_io_ms(config, "harn_trace_io_answer_ms")
    check_bool_ini(config, "harn_trace_virtual_time")


def _report_mode(config: pytest.Config) -> Literal["failed", "all", "never"]:
    mode: object = config.getoption("harn_trace_report") or config.getini("harn_trace_report")
    if mode == "failed" or mode == "all" or mode == "never":
        return mode
    raise pytest.UsageError(
        f"harn_trace_report = {mode!r} is not a report mode; use one of: "
        + ", ".join(_REPORT_MODES)
    )


def _picture_dir(config: pytest.Config, kind: str) -> Path | None:
    """The directory ``--harn-trace-<kind>`` (or ini ``harn_trace_<kind>``) names, created."""
    option = f"--harn-trace-{kind}"
    raw: object = config.getoption(f"harn_trace_{kind}")
    base = config.invocation_params.dir
    if not raw:
        raw = config.getini(f"harn_trace_{kind}")
        option = f"harn_trace_{kind}"
        base = config.rootpath
    if not raw:
        return None
    directory = base / str(raw)
    if directory.exists() and not directory.is_dir():
        raise pytest.UsageError(
            f"{option} {raw}: is a file, not a directory; give a directory (it is created "
            "when missing), such as harn-trace/"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise pytest.UsageError(
            f"{option} {raw}: cannot create the directory ({error.strerror}); "
            "give a directory you can write to"
        ) from None
    return directory


def _write_pictures(
    item: pytest.Item, capture: TraceCapture, excinfo: pytest.ExceptionInfo[BaseException] | None
) -> list[str]:
    """Write the waterfall and Perfetto files asked for; return a line naming each."""
    lines = []
    directories = item.config.stash[_pictures_key]
    stem = picture_stem(item.nodeid)
    failure = excinfo.value if excinfo is not None else None
    for kind, label, suffix in (
        ("html", "Waterfall", ".html"),
        ("perfetto", "Perfetto trace", ".trace.json"),
    ):
        directory = directories[kind]
        if directory is None:
            continue
        path = directory / (stem + suffix)
        try:
            if kind == "html":
                capture.to_html(path, title=item.nodeid, failure=failure)
            else:
                capture.to_perfetto(path, title=item.nodeid)
        except Exception as error:  # a picture that cannot be written must never stop the run
            lines.append(f"{label}: could not write {path}: {_picture_error(error)}")
            continue
        base = item.config.invocation_params.dir
        lines.append(f"{label}: {path.relative_to(base) if path.is_relative_to(base) else path}")
    return lines


def _picture_error(error: Exception) -> str:
    """Why a picture was not written: the OS's reason, else the error's type and message."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return f"{type(error).__name__}: {error}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give tests marked ``harn_trace`` the ``mock_clock`` and ``trace`` fixtures.

    Async tests on virtual time get ``mock_clock``: it is their event loop's clock.
    """
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        if item.get_closest_marker(_MARKER) is not None:
            names: tuple[str, ...] = ("mock_clock", "trace")
        elif _wants_virtual_time(item):
            names = ("mock_clock",)
        else:
            names = ()
        for name in names:
            if name not in item.fixturenames:
                item.fixturenames.append(name)
        if "trace" in item.fixturenames and _is_our_trace_fixture(item):
            item.stash[_wants_trace_key] = True


def _wants_virtual_time(item: pytest.Function) -> bool:
    """Whether ``item`` is an async test to run on virtual time (marker, else ini)."""
    if not inspect.iscoroutinefunction(item.obj):
        return False  # a sync test runs no loop of its own to put on virtual time
    if _marked_virtual_time(item) is not None:
        return _marked_virtual_time(item) is True
    return bool(item.config.getini("harn_trace_virtual_time"))


def _marked_virtual_time(item: pytest.Function) -> object:
    """The closest ``harn_trace`` marker's ``virtual_time``, or ``None`` if it gives none."""
    marker = item.get_closest_marker(_MARKER)
    return None if marker is None else marker.kwargs.get("virtual_time")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Run an async test on virtual time: its event loop's clock is its ``mock_clock``."""
    if not isinstance(item, pytest.Function) or not _wants_virtual_time(item):
        return (yield)
    original = item.obj
    clock = item.funcargs["mock_clock"]
    assert isinstance(clock, MockClock)
    # Whatever runs the coroutine (pytest-asyncio, anyio) reads item.obj during runtest.
    item.obj = virtual_test(
        original,
        clock,
        io_quiet_ms=item.config.stash[_io_quiet_key],
        io_answer_ms=item.config.stash[_io_answer_key],
        required=_marked_virtual_time(item) is True,  # the ini asks only where it can
    )
    try:
        return (yield)
    finally:
        item.obj = original


def _is_our_trace_fixture(item: pytest.Function) -> bool:
    """Whether the test's ``trace`` is this plugin's, not a fixture of the same name of its own."""
    # pytest has no public way to ask which fixture a name resolves to for a test.
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    found = definitions.get("trace") if isinstance(definitions, dict) else None
    if not found:
        return True
    func = getattr(found[-1], "func", None)
    return (getattr(func, "__module__", None), getattr(func, "__name__", None)) == (
        __name__,
        "trace_fixture",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    """Start a ``trace`` test's capture before its first function-scoped fixture is set up.

    Fixtures of wider scope come first in every test's setup, so they are not part of it.
    """
    if fixturedef.scope == "function":
        item = request.node
        if _wants_trace_key in item.stash and _capture_key not in item.stash:
            _start_capture(request)


def _start_capture(request: pytest.FixtureRequest) -> TraceCapture:
    """Install a fresh collector for the test until its last fixture is torn down."""
    item: pytest.Item = request.node
    capture = item.stash.get(_capture_key, None)
    if capture is not None:
        return capture
    collector = SpanCollector()
    hook = item.config.hook

    def redact(span: dict[str, Any]) -> None:
        hook.pytest_harn_trace_redact(span=span)

    capture = TraceCapture(
        collector,
        redact=redact,
        price=price_function(item.config),
        usage_in_snapshot=usage_in_snapshot(item.config),
    )
    start_otel_capture(request, collector)
    isolation = Isolation(collector, item.nodeid)
    # Registered before the fixture being set up registers its own teardown, so it
    # runs after the teardown of every function-scoped fixture of the test.
    item.addfinalizer(functools.partial(_stop_capture, item))
    item.stash[_isolation_key] = isolation
    item.stash[_capture_key] = capture
    isolation.start()
    return capture


def _stop_capture(item: pytest.Item) -> None:
    messages = item.stash[_isolation_key].stop()
    del item.stash[_isolation_key]
    if messages:
        path, lineno, _ = item.location
        for message in messages:
            # Attributed to the test itself: no frame of the test is on the stack at teardown.
            warnings.warn_explicit(
                HarnTraceWarning(message),
                category=HarnTraceWarning,
                filename=str(item.config.rootpath / path),
                lineno=(lineno or 0) + 1,
            )


def _clock_settings(request: pytest.FixtureRequest) -> tuple[int, int]:
    settings = request.config.stash[_clock_defaults_key].copy()
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        if marker.args:
            _bad_marker(
                request,
                f"takes keyword arguments only ({', '.join(_MARKER_ARGS)}), "
                f"got positional {shown(marker.args)}",
            )
        for key, value in marker.kwargs.items():
            if key == "virtual_time":
                if not isinstance(value, bool):
                    _bad_marker(request, f"virtual_time={shown(value)}: expected True or False")
                if value:
                    _warn_if_sync(request)
                continue
            if key == "budget":  # checked by usage_plugin
                continue
            if key not in settings:
                _bad_marker(
                    request,
                    f"got unknown argument {key!r}; accepted: {', '.join(_MARKER_ARGS)}",
                )
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                _bad_marker(request, f"{key}={shown(value)}: expected milliseconds as an int >= 0")
            settings[key] = value
    return settings["wall_ms"], settings["auto_advance_ms"]


def _warn_if_sync(request: pytest.FixtureRequest) -> None:
    """Say so when ``virtual_time=True`` marks a sync test, where it can do nothing."""
    test = getattr(request.node, "obj", None)
    if test is None or inspect.iscoroutinefunction(test):
        return
    request.node.warn(
        HarnTraceWarning(
            f"@pytest.mark.{_MARKER}(virtual_time=True) does nothing for the sync test "
            f"{request.node.name}: virtual time applies to async tests, and a loop this test "
            "starts itself (asyncio.run) runs on real time; call run_virtual(coro) instead "
            "of asyncio.run(coro) to run it on the mock clock"
        )
    )


def _bad_marker(request: pytest.FixtureRequest, problem: str) -> NoReturn:
    # A setup error that shows the message alone: the plugin's frames would only hide it.
    pytest.fail(f"{request.node.nodeid}: @pytest.mark.{_MARKER} {problem}", pytrace=False)


def _ini_ms(config: pytest.Config, name: str) -> int:
    raw = config.getini(name)
    try:
        value = int(str(raw).strip().replace("_", ""))
    except ValueError:
        value = -1
    if value < 0:
        raise pytest.UsageError(f"{name} = {raw!r}: expected milliseconds as an int >= 0")
    return value


def _ini_io_ms(config: pytest.Config, name: str) -> int:
    """An ini option of real milliseconds for virtual time, checked against its range."""
    value = _ini_ms(config, name)
    if value > MAX_IO_MS:
        raise pytest.UsageError(
            f"{name} = {config.getini(name)!r}: expected real milliseconds from 0 to "
            f"{MAX_IO_MS:,} (a day)"
        )
    return value


@pytest.fixture(name="mock_clock")
def mock_clock_fixture(request: pytest.FixtureRequest) -> Iterator[MockClock]:
    """A mock clock installed for the test; spans take their timings from it.

    Starts at wall time 1_700_000_000_000 ms and monotonic 0 (configure with
    ``@pytest.mark.harn_trace(wall_ms=..., auto_advance_ms=...)`` or the
    ``harn_trace_wall_ms`` / ``harn_trace_auto_advance_ms`` ini options).

    - ``mock_clock.advance(250)`` or ``advance(timedelta(seconds=1))`` moves it;
    - ``mock_clock.auto_advance_ms = 5`` moves it 5 ms on every read, for
      non-zero, deterministic durations without ``advance`` calls.
    """
    wall_ms, auto_advance_ms = _clock_settings(request)
    clock = MockClock.at_wall_ms(wall_ms, auto_advance_ms=auto_advance_ms)
    with install_override(clock):
        yield clock


@pytest.fixture(name="trace")
def trace_fixture(request: pytest.FixtureRequest) -> TraceCapture:
    """The spans recorded during this test, in a fresh collector with tracing on.

    Capture starts before the test's first fixture is set up and ends after its
    last one is torn down, so spans the test's fixtures record are in it too.

    - ``trace.spans`` / ``trace.open_spans``: completed (in completion order) / open spans;
    - ``trace.roots``: the span tree (nodes with ``.children``);
    - ``trace.find(kind, name, **metadata)`` / ``trace.one(...)``: look spans up;
    - ``trace.summary()``: Harn's text summary; ``trace.assert_tree(expected)``;
    - ``trace.usage()``: LLM calls, tokens and cost; ``trace.assert_within_budget(...)``;
    - ``trace.to_dicts(normalize=True)``: dicts that are stable across runs;
    - ``assert trace == trace_snapshot``: snapshot the summary (needs ``mock_clock``).

    Afterwards the previous collector and enabled state come back. Threads the
    test leaves running stay bound to its trace.
    """
    return _start_capture(request)


@pytest.fixture(name="trace_snapshot")
def trace_snapshot_fixture(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshot of a trace's summary as a ``.txt`` file: ``assert trace == trace_snapshot``."""
    return trace_snapshot_assertion(snapshot, TraceSummarySnapshotExtension)


@pytest.fixture(name="trace_json_snapshot")
def trace_json_snapshot_fixture(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshot of a trace's normalized span dicts as ``.json``: ``assert trace == ...``."""
    return trace_snapshot_assertion(snapshot, TraceJsonSnapshotExtension)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add a ``Captured trace <phase>`` section to the reports of a test that used ``trace``.

    Each section shows the whole trace as it stood at the end of that phase:
    ``setup`` when the setup failed, ``call``, and ``teardown`` when the
    fixtures' teardown recorded spans.
    """
    report = yield
    capture = item.stash.get(_capture_key, None)
    if capture is None:
        return report
    when = call.when
    failed = report.failed or item.stash.get(_failed_key, False)
    if when == "teardown":
        # The last report of the test: don't keep every test's spans for the session.
        del item.stash[_capture_key]
        item.stash[_failed_key] = False
    elif report.failed:
        item.stash[_failed_key] = True
    mode = item.config.stash[_report_mode_key]
    pictures = []
    if when == "call" and (mode == "all" or report.failed):
        pictures = _write_pictures(item, capture, call.excinfo)
    if mode == "never" or (mode == "failed" and not failed):
        return report
    if when == "setup" and not report.failed:
        return report
    open_spans = capture.open_spans
    counts = (len(capture), len(open_spans))
    if when == "teardown":
        unchanged = counts == item.stash.get(_reported_key, None)
        if _reported_key in item.stash:
            del item.stash[_reported_key]
        if unchanged and not report.failed:
            return report  # the fixtures' teardown recorded nothing new
    else:
        item.stash[_reported_key] = counts
    try:
        text = capture.summary()
    except Exception as exc:  # a report section must never stop the session
        text = f"(the trace could not be drawn: {type(exc).__name__}: {exc})"
    if when == "call" and item.config.get_verbosity() < 2:
        text = _unless_drawn(text, call.excinfo)
    orphans = draw_orphans(capture.spans, open_spans)
    if orphans:
        text = f"{text.rstrip()}\n\n{orphans}"
    if open_spans:
        text += "\n\nStill open: " + ", ".join(_open_span_label(span) for span in open_spans)
    if pictures:
        text += "\n\n" + "\n".join(pictures)
    # pytest would print a section holding a lone surrogate as one escaped line.
    report.sections.append((f"Captured trace {when}", unicode_safe(text)))
    return report


def _unless_drawn(summary: str, excinfo: pytest.ExceptionInfo[BaseException] | None) -> str:
    """The section's summary, or only its first line when a failed tree assertion drew the tree.

    The assertion's message already shows the trace against the expectation;
    printing it again below buries the failure.
    """
    if excinfo is None or TreeMismatch.of(excinfo.value) is None:
        return summary
    header, _, tree = summary.partition("\n")
    if not tree.strip():
        return summary
    return (
        f"{header}\n\nThe assertion above draws the trace against the expectation; "
        "for the whole summary here too, run with -vv (or print trace.summary())."
    )


def _open_span_label(span: OpenSpan) -> str:
    where = f"span {span.span_id}" if span.parent_id is None else (
        f"span {span.span_id} under span {span.parent_id}"
    )
    return f"{span.kind.value} {span.name} ({where})"
