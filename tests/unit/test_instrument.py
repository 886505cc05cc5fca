from __future__ import annotations

import asyncio
import inspect
import threading

import pytest

from pytest_harn_trace import (
    LlmCallUsage,
    MockClock,
    SpanHandle,
    SpanKind,
    SpanLink,
    SpanScope,
    install_override,
    span,
    span_start_with_links,
    timed,
)


def summary(collector):
    return [(s.span_id, s.parent_id, s.kind.value, s.name, s.metadata) for s in collector.spans()]


# -- with -------------------------------------------------------------------------


def test_with_span_records_kind_name_and_metadata(tracing):
    with span(SpanKind.LLM_CALL, "gpt-4", model="gpt-4", tokens=(1, 2)) as call:
        assert isinstance(call, SpanHandle)
        assert call.span_id == 1
        assert tracing.current_span_id() == 1
        call.set("input_tokens", 120)
    assert tracing.current_span_id() is None
    assert summary(tracing) == [
        (1, None, "llm_call", "gpt-4", {"model": "gpt-4", "tokens": [1, 2], "input_tokens": 120})
    ]


def test_span_metadata_may_use_the_names_kind_and_name(tracing):
    with span("tool_call", "t", kind="k", name="n"):
        pass
    assert tracing.spans()[0].metadata == {"kind": "k", "name": "n"}


def test_nested_with_spans_parent_correctly(tracing):
    with span("pipeline", "outer"), span("fn_call", "inner"), span("tool_call", "leaf"):
        pass
    assert [(s.name, s.parent_id) for s in tracing.spans()] == [
        ("leaf", 2),
        ("inner", 1),
        ("outer", None),
    ]


def test_handle_event_and_link(tracing):
    with span("suspension", "suspend") as handle:
        assert handle.event("checkpoint", step=2) is True
        link = handle.link()
    assert link == SpanLink(tracing.trace_id, "1")
    assert handle.event("late") is False
    assert handle.link() is None
    resumed = span_start_with_links("resume", "resume", [link])
    assert tracing.end(resumed).links == (link,)
    (suspended, _) = tracing.spans()
    assert [(e.name, e.attributes) for e in suspended.events] == [("checkpoint", {"step": 2})]


def test_handle_set_after_the_block_is_a_noop(tracing):
    with span("pipeline", "p") as handle:
        pass
    handle.set("late", 1)
    assert tracing.spans()[0].metadata == {}
    assert repr(handle) == "<SpanHandle span_id=1>"


def test_error_ends_the_span_with_status_and_propagates(tracing):
    with pytest.raises(ValueError, match="bad input"), span("tool_call", "read", path="/x"):
        raise ValueError("bad input")
    assert summary(tracing) == [
        (
            1,
            None,
            "tool_call",
            "read",
            {"path": "/x", "status": "error", "error": "ValueError: bad input"},
        )
    ]
    assert tracing.current_span_id() is None


def test_error_without_message_records_the_type_name(tracing):
    with pytest.raises(KeyboardInterrupt), span("pipeline", "p"):
        raise KeyboardInterrupt
    assert tracing.spans()[0].metadata == {"status": "error", "error": "KeyboardInterrupt"}


def test_successful_span_has_no_status(tracing):
    with span("pipeline", "p"):
        pass
    assert tracing.spans()[0].metadata == {}


def test_with_span_when_tracing_off_is_a_noop(tracing_off):
    with span("pipeline", "p", k=1) as handle:
        assert handle.span_id == 0
        handle.set("k", object())  # checks nothing
        assert handle.event("e", x=object()) is False
        assert handle.link() is None
    with pytest.raises(RuntimeError), span("pipeline", "q"):
        raise RuntimeError("still propagates")
    assert tracing_off.spans() == []
    assert tracing_off.open_spans() == []


# -- async with --------------------------------------------------------------------


def test_async_with_span(tracing):
    async def main():
        async with span("pipeline", "outer") as outer:
            await asyncio.sleep(0)
            async with span("llm_call", "inner", model="m") as inner:
                inner.set("tokens", 3)
            return outer.span_id

    assert asyncio.run(main()) == 1
    assert summary(tracing) == [
        (2, 1, "llm_call", "inner", {"model": "m", "tokens": 3}),
        (1, None, "pipeline", "outer", {}),
    ]


def test_async_with_error(tracing):
    async def main():
        async with span("tool_call", "t"):
            raise LookupError("missing")

    with pytest.raises(LookupError):
        asyncio.run(main())
    assert tracing.spans()[0].metadata == {"status": "error", "error": "LookupError: missing"}


# -- decorators ------------------------------------------------------------------------


def test_decorated_function_runs_in_a_fresh_span_per_call(tracing):
    @span("fn_call", "add", op="add")
    def add(a, b):
        """Add two numbers."""
        return a + b

    assert add(1, 2) == 3
    assert add(a=3, b=4) == 7
    assert add.__name__ == "add"
    assert add.__doc__ == "Add two numbers."
    assert summary(tracing) == [
        (1, None, "fn_call", "add", {"op": "add"}),
        (2, None, "fn_call", "add", {"op": "add"}),
    ]


def test_decorated_functions_nest(tracing):
    @span("fn_call", "inner")
    def inner():
        return tracing.current_span_id()

    @span("pipeline", "outer")
    def outer():
        return inner()

    assert outer() == 2
    assert [(s.name, s.parent_id) for s in tracing.spans()] == [("inner", 1), ("outer", None)]


def test_decorated_function_error(tracing):
    @span("tool_call", "fail")
    def fail():
        raise RuntimeError("nope")

    with pytest.raises(RuntimeError, match="nope"):
        fail()
    assert tracing.spans()[0].metadata == {"status": "error", "error": "RuntimeError: nope"}


def test_decorated_async_function(tracing):
    @span("llm_call", "ask")
    async def ask(question):
        await asyncio.sleep(0)
        return question.upper()

    @span("llm_call", "broken")
    async def broken():
        raise TimeoutError("slow")

    assert inspect.iscoroutinefunction(ask)
    assert asyncio.run(ask("hi")) == "HI"
    with pytest.raises(TimeoutError):
        asyncio.run(broken())
    assert summary(tracing) == [
        (1, None, "llm_call", "ask", {}),
        (2, None, "llm_call", "broken", {"status": "error", "error": "TimeoutError: slow"}),
    ]


def test_decorated_function_when_tracing_off_still_runs(tracing_off):
    @span("fn_call", "f")
    def f():
        return "ran"

    assert f() == "ran"
    assert tracing_off.spans() == []


def test_decorating_a_generator_function_is_type_error():
    def gen():
        yield 1

    async def agen():
        yield 1

    with pytest.raises(TypeError) as info:
        span("fn_call", "g")(gen)
    assert str(info.value) == (
        f"cannot decorate generator function {gen.__qualname__} with a span: the span would "
        "end before the generator runs; open the span inside it with `with`"
    )
    with pytest.raises(TypeError, match=r"^cannot decorate generator function .*agen"):
        timed("g")(agen)


# -- timed --------------------------------------------------------------------------------


def test_timed_records_with_status_ok_even_when_tracing_off(tracing_off):
    mock = MockClock.at_wall_ms(10_000)
    with install_override(mock), timed("work", phase="warmup") as handle:
        assert handle.span_id == 1
        mock.advance(25)
    (done,) = tracing_off.spans()
    assert (done.kind, done.name, done.duration_ms, done.start_unix_ms) == (
        SpanKind.USER_TIMING,
        "work",
        25,
        10_000,
    )
    assert done.metadata == {"phase": "warmup", "status": "ok"}


def test_timed_error_status(tracing_off):
    with pytest.raises(ZeroDivisionError), timed("div"):
        1 / 0  # noqa: B018
    assert tracing_off.spans()[0].metadata == {
        "status": "error",
        "error": "ZeroDivisionError: division by zero",
    }


def test_timed_as_sync_and_async_decorator(tracing):
    @timed("sync")
    def sync():
        return 1

    @timed("async")
    async def run():
        return sync() + 1

    assert asyncio.run(run()) == 2
    assert summary(tracing) == [
        (2, 1, "user_timing", "sync", {"status": "ok"}),
        (1, None, "user_timing", "async", {"status": "ok"}),
    ]


def test_timed_nests_under_a_traced_span(tracing):
    with span("pipeline", "p"), timed("t"):
        pass
    assert [(s.name, s.parent_id) for s in tracing.spans()] == [("t", 1), ("p", None)]


# -- bad input -----------------------------------------------------------------------------


def test_bad_arguments_fail_where_the_span_is_declared(tracing):
    with pytest.raises(ValueError, match=r"^unknown span kind 'fn'; use one of: pipeline, "):
        span("fn", "x")
    with pytest.raises(TypeError) as info:
        span("fn_call", 3)  # type: ignore[arg-type]
    assert str(info.value) == "span: span name must be str, got int"
    with pytest.raises(TypeError) as info:
        timed(None)  # type: ignore[arg-type]
    assert str(info.value) == "timed: span name must be str, got NoneType"
    with pytest.raises(TypeError) as info:
        span("fn_call", "x", when={1})
    assert str(info.value) == (
        'span("when"): set is not a JSON value (str, int, float, bool, None, list or dict); '
        "use sorted(...) or list(...)"
    )
    assert tracing.spans() == []
    assert tracing.open_spans() == []


def test_bad_value_set_inside_the_block_raises_and_the_span_still_ends(tracing):
    with pytest.raises(TypeError), span("pipeline", "p") as handle:
        handle.set("k", object())
    (done,) = tracing.spans()
    assert done.metadata["status"] == "error"
    assert done.metadata["error"].startswith('TypeError: SpanHandle.set(span 1, "k"): object')


def test_scope_repr():
    assert repr(span("tool_call", "read")) == "<span tool_call 'read'>"
    assert repr(timed("t")) == "<timed user_timing 't'>"
    assert isinstance(timed("t"), SpanScope)


# -- one scope object shared ---------------------------------------------------------------


def test_a_scope_can_be_reentered(tracing):
    scope = span("fn_call", "recurse")
    with scope as outer, scope as inner:
        assert (outer.span_id, inner.span_id) == (1, 2)
    assert [(s.span_id, s.parent_id) for s in tracing.spans()] == [(2, 1), (1, None)]


def test_a_scope_shared_by_concurrent_tasks_closes_each_tasks_own_span(tracing):
    # ``first`` enters first and exits first, while ``second`` is still inside:
    # a scope that closed whichever handle entered last would end the wrong span.
    scope = span("tool_call", "db")

    async def first(first_in, second_in):
        async with scope as handle:
            first_in.set()
            await second_in.wait()
        return handle.span_id

    async def second(first_in, second_in, first_out):
        await first_in.wait()
        async with scope as handle:
            second_in.set()
            await first_out
            raise ValueError(f"second failed in span {handle.span_id}")

    async def main():
        first_in, second_in = asyncio.Event(), asyncio.Event()
        first_task = asyncio.create_task(first(first_in, second_in))
        second_task = asyncio.create_task(second(first_in, second_in, first_task))
        return await asyncio.gather(first_task, second_task, return_exceptions=True)

    first_id, second_error = asyncio.run(main())
    assert first_id == 1
    assert str(second_error) == "second failed in span 2"
    assert [(s.span_id, s.metadata) for s in tracing.spans()] == [
        (1, {}),
        (2, {"status": "error", "error": "ValueError: second failed in span 2"}),
    ]


def test_a_scope_shared_by_threads_closes_each_threads_own_span(tracing):
    scope = timed("work")
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    ids = {}

    def first():
        with scope as handle:
            ids["first"] = handle.span_id
            first_in.set()
            second_in.wait()
        first_out.set()

    def second():
        first_in.wait()
        try:
            with scope as handle:
                ids["second"] = handle.span_id
                second_in.set()
                first_out.wait()
                raise RuntimeError("second")
        except RuntimeError:
            pass

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ids == {"first": 1, "second": 2}
    assert [(s.span_id, s.metadata) for s in tracing.spans()] == [
        (1, {"status": "ok"}),
        (2, {"status": "error", "error": "RuntimeError: second"}),
    ]


# -- misuse of the classes ---------------------------------------------------------------------


def test_exiting_a_scope_that_was_never_entered_is_a_clear_error(tracing):
    with pytest.raises(ValueError) as info:
        span("step", "x").__exit__(None, None, None)
    assert str(info.value) == (
        "<span step 'x'> was exited without being entered; use it as "
        "`with span('step', 'x'):` or decorate a function with @span('step', 'x')"
    )
    exited_early = r"^<timed user_timing 't'> was exited .*`with timed\('t'\):`"
    with pytest.raises(ValueError, match=exited_early):
        timed("t").__exit__(None, None, None)
    assert tracing.spans() == []
    assert tracing.open_spans() == []


def test_exiting_a_scope_entered_while_tracing_was_off_is_fine(tracing_off):
    scope = span("step", "x")
    scope.__enter__()
    scope.__exit__(None, None, None)
    assert tracing_off.spans() == []


def test_handles_and_scopes_cannot_be_built_directly(tracing):
    with pytest.raises(TypeError) as info:
        SpanHandle(None, 1)  # type: ignore[call-arg]
    assert str(info.value) == (
        "SpanHandle cannot be created directly; it is what `with span(kind, name) as handle:` "
        "or `with timed(name) as handle:` gives"
    )
    with pytest.raises(TypeError, match=r"^SpanScope cannot be created directly; make one with"):
        SpanScope(SpanKind.STEP, "x", {"k": object()}, user_timing=False)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^SpanScope cannot be created directly"):
        SpanScope()
    assert tracing.spans() == []
    assert tracing.open_spans() == []


# -- several keys at once, usage ---------------------------------------------------------------

USAGE = LlmCallUsage("gpt-4o", "openai", input_tokens=120, output_tokens=8, cost_usd=0.5)
USAGE_METADATA = {
    "model": "gpt-4o",
    "provider": "openai",
    "input_tokens": 120,
    "output_tokens": 8,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "cost_usd": 0.5,
}


def test_set_usage_records_the_usage_under_harns_keys(tracing):
    with span("llm_call", "gpt-4o") as call:
        call.set_usage(USAGE)
        # A later usage replaces the counts; without a cost it leaves the cost as it was.
        call.set_usage(LlmCallUsage("gpt-4o", "openai", output_tokens=9))
    assert tracing.spans()[0].metadata == {**USAGE_METADATA, "input_tokens": 0, "output_tokens": 9}
    assert list(tracing.spans()[0].metadata) == [key for key, _ in USAGE.metadata_pairs()]


def test_span_takes_usage_as_a_keyword(tracing):
    with span("llm_call", "gpt-4o", attempt=1, usage=USAGE):
        pass
    with span("step", "plain", usage={"tokens": 3}):  # any other value is plain metadata
        pass
    assert [s.metadata for s in tracing.spans()] == [
        {"attempt": 1, **USAGE_METADATA},
        {"usage": {"tokens": 3}},
    ]


def test_update_sets_several_keys(tracing):
    with span("tool_call", "read") as call:
        call.update({"path": "/x", "bytes": 12, "tags": ("a", "b")})
        call.update({})
    assert tracing.spans()[0].metadata == {"path": "/x", "bytes": 12, "tags": ["a", "b"]}


def test_update_and_set_usage_check_everything_and_store_nothing_on_a_mistake(tracing):
    with span("tool_call", "read") as call:
        with pytest.raises(TypeError) as info:
            call.update({"ok": 1, "when": {1, 2}})
        assert str(info.value).startswith('SpanHandle.update(span 1, "when"): set is not a JSON')
        with pytest.raises(TypeError, match=r'^SpanHandle\.update\(span 1, 3\): metadata key must'):
            call.update({"ok": 1, 3: "x"})  # type: ignore[dict-item]
        with pytest.raises(TypeError) as info:
            call.update([("ok", 1)])  # type: ignore[arg-type]
        assert str(info.value) == (
            "SpanHandle.update(span 1): metadata must be a mapping of str to JSON values, "
            "got list; for one key use set(key, value)"
        )
        with pytest.raises(TypeError) as info:
            call.set_usage(USAGE_METADATA)  # type: ignore[arg-type]
        assert str(info.value) == (
            "SpanHandle.set_usage(span 1): usage must be an LlmCallUsage, got dict; "
            "for other metadata use set(key, value) or update({...})"
        )
    assert tracing.spans()[0].metadata == {}


def test_update_and_set_usage_are_noops_when_tracing_is_off(tracing_off):
    with span("llm_call", "x", usage=USAGE) as call:
        call.update({"k": 1})
        call.set_usage(USAGE)
    assert tracing_off.spans() == []
