"""``bind_thread``: a thread keeps recording into its collector, whichever is current."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from pytest_harn_trace import SpanCollector, span_end, span_start, use_collector
from pytest_harn_trace.tracing import collector as collector_module
from pytest_harn_trace.tracing.collector import bind_thread


class Worker:
    """A bare thread that runs the calls it is handed, one at a time."""

    def __init__(self) -> None:
        self._call: Callable[[], object] | None = None
        self._result: object = None
        self._go = threading.Event()
        self._done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="worker", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            self._go.wait()
            self._go.clear()
            if self._call is None:
                return
            self._result = self._call()
            self._done.set()

    def run(self, call: Callable[[], object]) -> object:
        self._done.clear()
        self._call = call
        self._go.set()
        assert self._done.wait(5)
        return self._result

    def stop(self) -> None:
        self._call = None
        self._go.set()
        self.thread.join(5)


@pytest.fixture
def worker() -> Iterator[Worker]:
    started = Worker()
    yield started
    started.stop()


def test_a_bound_thread_records_into_its_collector_after_another_becomes_current(
    tracing, worker
):
    span_id = worker.run(lambda: span_start("step", "heartbeat"))
    bind_thread(worker.thread, tracing)
    with use_collector(SpanCollector()) as later:
        assert span_start("pipeline", "mine") == span_id == 1
        ended = worker.run(lambda: span_end(span_id))
        worker.run(lambda: span_end(span_start("step", "beat")))
        assert [s.name for s in later.open_spans()] == ["mine"]
    assert ended.name == "heartbeat"
    assert [s.name for s in tracing.spans()] == ["heartbeat", "beat"]


def test_the_threads_own_use_collector_block_still_wins(tracing, worker):
    bind_thread(worker.thread, tracing)
    own = SpanCollector()

    def in_own_block() -> None:
        with use_collector(own):
            span_end(span_start("step", "own"))

    worker.run(in_own_block)
    assert [s.name for s in own.spans()] == ["own"]
    assert tracing.spans() == []


def test_a_later_thread_reusing_a_bound_threads_ident_is_not_bound(tracing, monkeypatch):
    finished = threading.Thread(target=lambda: None)
    finished.start()
    finished.join()
    # As if ``finished`` had been bound and the OS then gave its ident to this thread.
    monkeypatch.setitem(
        collector_module._thread_collectors, threading.get_ident(), (finished, SpanCollector())
    )
    with use_collector(SpanCollector()) as current:
        collector_module._bound.set(None)  # this context as a bare thread's
        span_end(span_start("step", "mine"))
    assert [s.name for s in current.spans()] == ["mine"]


def test_binding_drops_threads_that_have_finished(tracing, worker):
    finished = threading.Thread(target=lambda: None)
    finished.start()
    finished.join()
    bind_thread(finished, tracing)
    bind_thread(worker.thread, tracing)
    assert finished.ident not in collector_module._thread_collectors
    assert collector_module._thread_collectors[worker.thread.ident] == (worker.thread, tracing)


@pytest.mark.parametrize(
    ("thread", "collector", "message"),
    [
        ("main", SpanCollector(), r"a started threading\.Thread, got 'main'$"),
        (
            threading.Thread(target=print, name="idle"),
            SpanCollector(),
            r"a started threading\.Thread, got <Thread\(idle, initial\)>$",
        ),
        (threading.current_thread(), "c", r"^bind_thread expects a SpanCollector, got str$"),
    ],
)
def test_bind_thread_rejects_what_is_not_a_started_thread_and_a_collector(
    thread, collector, message
):
    with pytest.raises(TypeError, match=message):
        bind_thread(thread, collector)
