"""The fast paths of span(), timed() and the handle, against the general ones they skip."""

from __future__ import annotations

import asyncio
import contextvars
import copy
import enum
import gc
import pickle
import sys
import threading
import weakref

import pytest

from pytest_harn_trace import (
    LlmCallUsage,
    SpanCollector,
    SpanScope,
    current_span_id,
    set_tracing_enabled,
    span,
    span_end,
    span_set_metadata,
    span_start,
    timed,
    use_collector,
)
from pytest_harn_trace.tracing import instrument
from pytest_harn_trace.tracing.collector import swap_enabled


class Level(enum.IntEnum):
    HIGH = 3


class Tag(str):
    pass


class Ratio(float):
    pass


# -- tracing off ---------------------------------------------------------------------------


def test_with_tracing_off_every_span_block_is_a_noop(tracing_off):
    scope = span("fn_call", "f", k=1)
    with scope as first, span("tool_call", "t") as second:
        assert first.span_id == second.span_id == 0
        first.set("k", object())
        first.update({"k": object()})
        first.set_usage(LlmCallUsage("gpt-4", "openai", input_tokens=1))
        assert first.event("e") is False
        assert first.link() is None
    assert span_start("fn_call", "f") == 0
    assert tracing_off.spans() == []
    assert tracing_off.open_spans() == []


def test_with_tracing_off_an_exit_leaves_the_timed_span_around_it_open(tracing_off):
    with timed("outer") as outer:
        with span("fn_call", "off"):
            pass
        assert tracing_off.current_span_id() == outer.span_id
    (done,) = tracing_off.spans()
    assert (done.name, done.metadata) == ("outer", {"status": "ok"})


def test_timed_inside_an_untraced_span_is_recorded_as_a_root(tracing_off):
    with span("pipeline", "p"), timed("t"):
        pass
    assert [(s.name, s.parent_id) for s in tracing_off.spans()] == [("t", None)]


def test_a_span_entered_with_tracing_on_ends_when_exited_with_it_off(tracing):
    with span("pipeline", "p") as handle:
        swap_enabled(False)
    swap_enabled(True)
    assert [s.span_id for s in tracing.spans()] == [handle.span_id]
    assert tracing.open_spans() == []


def test_a_scope_entered_off_then_on_records_only_the_traced_entry(tracing_off):
    scope = span("step", "s")
    with scope:
        pass
    set_tracing_enabled(True)
    with scope as handle:
        pass
    assert [s.span_id for s in tracing_off.spans()] == [handle.span_id]


def test_scopes_made_alike_while_tracing_is_off_stay_apart_in_interleaved_generators(
    tracing_off,
):
    # Two stages whose scopes were made at setup, while tracing was off, stepped in turn
    # in one context: each exit must end its own stage's span, whatever the order.
    def stage(scope: SpanScope, label: str, fail: bool):
        with scope as handle:
            handle.set("stage", label)
            yield
            if fail:
                raise RuntimeError(f"{label} broke")
            handle.set("done", True)
            yield

    first, second = span("step", "stage"), span("step", "stage")
    set_tracing_enabled(True)
    a, b = stage(first, "a", fail=True), stage(second, "b", fail=False)
    next(a)
    next(b)
    with pytest.raises(RuntimeError, match="a broke"):
        next(a)
    next(b)
    b.close()
    assert [s.metadata for s in tracing_off.spans()] == [
        {"stage": "a", "status": "error", "error": "RuntimeError: a broke"},
        {"stage": "b", "done": True, "status": "error", "error": "GeneratorExit"},
    ]
    assert tracing_off.open_spans() == []


def test_an_untraced_block_elsewhere_leaves_a_module_level_scope_its_first_block(tracing_off):
    export = span("pipeline", "export")  # as at import, with tracing off
    with span("pipeline", "export"):  # other code, untraced
        pass
    set_tracing_enabled(True)
    with export as handle:
        assert handle is export
        export.set("rows", 2)
    assert [(s.name, s.metadata) for s in tracing_off.spans()] == [("export", {"rows": 2})]


# -- exact types fast, everything else through the full check ------------------------------


def test_set_converts_what_the_exact_type_check_lets_through_to_the_full_check(tracing):
    with span("step", "s") as handle:
        handle.set("flag", True)
        handle.set(Tag("level"), Level.HIGH)
        handle.set("tag", Tag("x"))
        handle.set("ratio", Ratio("nan"))
        handle.set("pair", (1, 2))
    metadata = tracing.spans()[0].metadata
    assert metadata == {"flag": True, "level": 3, "tag": "x", "ratio": None, "pair": [1, 2]}
    assert [type(key) for key in metadata] == [str] * 5
    assert [type(value) for value in metadata.values()] == [bool, int, str, type(None), list]


def test_span_converts_subclassed_names_and_metadata(tracing):
    with span("step", Tag("name"), level=Level.HIGH, tag=Tag("x"), flag=False):
        pass
    (done,) = tracing.spans()
    assert type(done.name) is str
    assert done.metadata == {"level": 3, "tag": "x", "flag": False}
    assert [type(value) for value in done.metadata.values()] == [int, str, bool]


def test_span_converts_subclassed_keyword_names(tracing):
    with span("step", "x", **{Tag("key"): 1}):
        pass
    (done,) = tracing.spans()
    assert done.metadata == {"key": 1}
    assert [type(key) for key in done.metadata] == [str]


def test_module_functions_convert_subclassed_keys_and_values(tracing):
    span_id = span_start("step", "s")
    span_set_metadata(span_id, Tag("level"), Level.HIGH)
    tracing.end(span_id)
    ((key, value),) = tracing.spans()[0].metadata.items()
    assert (type(key), type(value), value) == (str, int, 3)


def test_the_fast_check_still_refuses_what_is_not_json(tracing):
    with span("step", "s") as handle:
        with pytest.raises(TypeError, match=r'^SpanHandle\.set\(span 1, "k"\): object is not'):
            handle.set("k", object())
        with pytest.raises(TypeError, match=r"^SpanHandle\.set\(span 1, b'k'\): metadata key"):
            handle.set(b"k", 1)  # type: ignore[arg-type]
    assert tracing.spans()[0].metadata == {}


# -- one scope entered twice -------------------------------------------------------------------


def test_a_scope_entered_twice_in_a_row_records_two_spans(tracing):
    scope = span("tool_call", "t", k=1)
    with scope as first:
        first.set("n", 1)
    with scope:
        pass
    assert [(s.span_id, s.metadata) for s in tracing.spans()] == [
        (1, {"k": 1, "n": 1}),
        (2, {"k": 1}),  # the first entry's set() never reaches the scope's own metadata
    ]


def test_a_nested_reentry_ends_inner_then_outer_even_past_a_span_left_open(tracing):
    scope = span("fn_call", "f")
    with scope as outer:
        with scope as inner:
            left_open = span_start("step", "left-open")
        assert current_span_id() == left_open  # never ended, still the active span
        assert [s.span_id for s in tracing.spans()] == [inner.span_id]
    assert [s.span_id for s in tracing.spans()] == [inner.span_id, outer.span_id]
    assert [o[0] for o in tracing.open_spans()] == [left_open]


# -- a decorator reused across threads and tasks ----------------------------------------------


def test_a_decorated_function_called_from_many_threads_gets_a_span_per_call(tracing):
    @span("tool_call", "work")
    def work():
        return current_span_id()

    calls: list[tuple[int, int]] = []

    def run(index):
        with span("fn_call", f"thread-{index}") as outer:
            for _ in range(200):
                calls.append((outer.span_id, work()))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    by_id = {s.span_id: s for s in tracing.spans()}
    assert len(by_id) == 8 + 8 * 200
    assert [(o, i) for o, i in calls if by_id[i].parent_id != o] == []
    assert tracing.open_spans() == []


def test_a_decorated_coroutine_awaited_by_many_tasks_gets_a_span_per_call(tracing):
    @timed("fetch")
    async def fetch():
        await asyncio.sleep(0)
        return current_span_id()

    async def task(index):
        with span("fn_call", f"task-{index}") as outer:
            return [(outer.span_id, await fetch()) for _ in range(20)]

    async def main():
        return await asyncio.gather(*(task(index) for index in range(10)))

    calls = [pair for pairs in asyncio.run(main()) for pair in pairs]
    by_id = {s.span_id: s for s in tracing.spans()}
    assert len(by_id) == 10 + 10 * 20
    assert [(o, i) for o, i in calls if by_id[i].parent_id != o] == []
    assert {by_id[i].metadata["status"] for _, i in calls} == {"ok"}


# -- the scope as the handle of its first entry ------------------------------------------------


def test_the_first_entry_keeps_its_handle_while_later_entries_get_their_own(tracing):
    scope = span("fn_call", "f")
    with scope as first:
        with scope as nested:
            nested.set("who", "nested")
        first.set("who", "first")
    with scope as later:
        later.set("who", "later")
    assert (first.span_id, nested.span_id, later.span_id) == (1, 2, 3)
    assert repr(first) == "<SpanHandle span_id=1>"
    assert [(s.span_id, s.parent_id, s.metadata) for s in tracing.spans()] == [
        (2, 1, {"who": "nested"}),
        (1, None, {"who": "first"}),
        (3, None, {"who": "later"}),
    ]


@pytest.mark.parametrize("declared", [{}, {"model": "m"}])
def test_what_one_entry_sets_never_reaches_the_next_entry_or_call(tracing, declared):
    scope = span("llm_call", "call", **declared)
    with scope as first:
        first.set("tokens", 5)
    with scope:
        pass

    @scope
    def decorated() -> None:
        pass

    decorated()
    assert [s.metadata for s in tracing.spans()] == [
        {**declared, "tokens": 5},
        declared,
        declared,
    ]


@pytest.mark.parametrize("gil", [True, False], ids=["gil", "claim lock"])
def test_threads_entering_one_fresh_scope_at_once_each_set_on_their_own_span(
    tracing, monkeypatch, gil
):
    # Without a GIL (free-threaded builds) the claim of a fresh scope takes a lock.
    monkeypatch.setattr(instrument, "_GIL", gil)
    claims = 0
    claim = instrument._claim

    def counted(scope: SpanScope) -> bool:
        nonlocal claims
        claims += 1
        return claim(scope)

    monkeypatch.setattr(instrument, "_claim", counted)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(20):
            scope = span("tool_call", "t")
            barrier = threading.Barrier(4)

            def work(
                index: int, scope: SpanScope = scope, barrier: threading.Barrier = barrier
            ) -> None:
                barrier.wait()
                with scope as handle:
                    handle.set("thread", index)
                    handle.set("span", handle.span_id)

            threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(old_interval)
    spans = tracing.spans()
    assert len(spans) == 80
    assert all(s.metadata["span"] == s.span_id for s in spans)
    assert tracing.open_spans() == []
    assert (claims == 0) is gil


handle_methods = pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda scope: scope.set("k", 1), "set"),
        (lambda scope: scope.update({"k": 1}), "update"),
        (lambda scope: scope.set_usage(LlmCallUsage("m", "p")), "set_usage"),
        (lambda scope: scope.event("e"), "event"),
        (lambda scope: scope.link(), "link"),
    ],
)


@handle_methods
def test_handle_methods_on_a_scope_never_entered_say_to_use_the_handle(tracing, call, method):
    with pytest.raises(TypeError) as info:
        call(span("step", "x"))
    assert str(info.value) == (
        f"<span step 'x'> has no open span to {method}: call {method}() on the handle that "
        "`with span('step', 'x') as handle:` gives"
    )
    assert tracing.spans() == []


@handle_methods
def test_handle_methods_on_a_scope_first_entered_untraced_say_to_use_the_handle(
    tracing_off, call, method
):
    scope = span("step", "x")
    with scope:
        pass
    set_tracing_enabled(True)
    with scope as handle, pytest.raises(TypeError) as info:
        call(scope)
    assert str(info.value).startswith(f"<span step 'x'> has no open span to {method}: ")
    assert [s.span_id for s in tracing_off.spans()] == [handle.span_id]


def test_messages_name_the_public_classes(tracing_off):
    with pytest.raises(TypeError, match=r"span_end: .*, got SpanScope$"):
        span_end(span("step", "x"))  # type: ignore[arg-type]
    with span("step", "x") as handle, pytest.raises(TypeError, match="SpanHandle is not a JSON"):
        set_tracing_enabled(True)
        span_set_metadata(span_start("step", "y"), "k", handle)


def test_a_nested_reentry_whose_span_was_ended_early_leaves_the_outer_span_open(tracing):
    scope = span("step", "x")
    with scope as outer:
        with scope as inner:
            span_end(inner.span_id)
        outer.set("after", True)
        assert tracing.current_span_id() == outer.span_id
    assert [(s.span_id, s.metadata) for s in tracing.spans()] == [(2, {}), (1, {"after": True})]


def test_an_entry_made_while_tracing_was_off_never_ends_the_traced_span_around_it(tracing):
    scope = span("step", "x")
    with scope as outer:
        previous = swap_enabled(False)
        try:
            with scope as off:
                assert off.span_id == 0
        finally:
            swap_enabled(previous)
        outer.set("after", True)
    assert [(s.span_id, s.metadata) for s in tracing.spans()] == [(1, {"after": True})]


def test_an_entry_while_tracing_was_off_never_ends_a_span_another_task_opened_later(tracing):
    swap_enabled(False)
    scope = span("tool_call", "t")

    async def off_entry(entered: asyncio.Event, go: asyncio.Event) -> None:
        async with scope:
            entered.set()
            await go.wait()

    async def on_entry(entered: asyncio.Event, go: asyncio.Event) -> None:
        await entered.wait()
        swap_enabled(True)
        async with scope as handle:
            go.set()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            handle.set("late", True)

    async def main() -> None:
        entered, go = asyncio.Event(), asyncio.Event()
        await asyncio.gather(off_entry(entered, go), on_entry(entered, go))

    asyncio.run(main())
    assert [(s.span_id, s.metadata) for s in tracing.spans()] == [(1, {"late": True})]


def test_set_on_the_scope_itself_in_a_later_block_says_to_use_that_blocks_handle(tracing):
    tool = span("tool_call", "search")
    with tool:
        tool.set("q", "a")
    with pytest.raises(TypeError) as info, tool:
        tool.set("q", "b")
    assert str(info.value) == (
        "span('tool_call', 'search').set(): the scope itself stands only for the span of its "
        "first block (span 1), which has ended; call set() on the handle each block's "
        "`with span('tool_call', 'search') as handle:` gives"
    )
    error = {"status": "error", "error": f"TypeError: {info.value}"}
    assert [s.metadata for s in tracing.spans()] == [{"q": "a"}, error]


def test_a_scope_kept_after_its_block_keeps_neither_its_collector_nor_its_copies_from_working():
    scope = span("tool_call", "search", model="m")
    collector = SpanCollector()
    with use_collector(collector):
        set_tracing_enabled(True)
        try:
            with scope as handle:
                handle.set("q", "a")
        finally:
            set_tracing_enabled(False)
            collector._leave_context()
    assert [s.metadata for s in collector.spans()] == [{"model": "m", "q": "a"}]
    gone = weakref.ref(collector)
    del collector
    gc.collect()
    assert gone() is None
    assert repr(copy.deepcopy(scope)) == repr(scope)
    assert repr(pickle.loads(pickle.dumps(scope))) == repr(scope)


def test_teardown_drops_the_entries_a_test_never_exited():
    def left_open() -> object:
        collector = SpanCollector()
        scope = span("step", "x")
        with use_collector(collector):
            set_tracing_enabled(True)
            try:
                scope.__enter__()
                scope.__enter__()  # a second entry is listed in this context
            finally:
                set_tracing_enabled(False)
        assert instrument._scope_entries.get() is not None
        collector._leave_context()
        instrument.leave_entries(collector)
        return instrument._scope_entries.get()

    assert contextvars.copy_context().run(left_open) is None
