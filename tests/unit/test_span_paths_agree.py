"""Every way of recording spans gives the same trace.

One program of span operations (start a child, set metadata, record an
event, end, sometimes out of order or twice) runs through each entry point:
the module functions (``span_start`` ...), ``with span(...) as s`` blocks,
a ``SpanCollector``'s own methods and ``@span(...)``-decorated functions
(blocks declared alike share one scope, entered again while it is open).
Each run gets fresh collectors and a fresh mock clock, under the same
environment: the real clock, a mock clock (moving on each read or not), a
clock installed or removed mid-program (spans started on one clock and ended
on the other), an event sink, two collectors interleaved in one context, and
a stack that already holds open and ended spans. The runs must agree on
every span (ids, parents, kinds, names, metadata with its types and key
order, events, links, completion order), the spans left open, the active
span afterwards and the events the sink saw. Only what the real clock
decides is left out, after checking it is a sane int.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_harn_trace import (
    ClockOverride,
    MockClock,
    OpenSpan,
    Span,
    SpanCollector,
    SpanHandle,
    SpanKind,
    SpanLink,
    SpanScope,
    add_event_sink,
    current_span_id,
    events,
    format_summary,
    install_override,
    remove_event_sink,
    span,
    span_end,
    span_record_event,
    span_set_metadata,
    span_start,
    span_start_with_links,
    use_collector,
)
from pytest_harn_trace.tracing.collector import swap_enabled

WALL = 1_700_000_000_000


class Level(enum.IntEnum):
    HIGH = 3


class Tag(str):
    """A str subclass: names, keys and values of this type take the full checks."""


class Ratio(float):
    pass


class Boom(Exception):
    pass


# -- programs ------------------------------------------------------------------------------
# A flat program is a list of operations on spans named by "ref", the index of the
# Start that opened them. Tag 0 is the collector the program runs in, tag 1 another one.


@dataclass(frozen=True)
class Start:
    tag: int
    kind: SpanKind | str
    name: str
    links: tuple[int, ...] = ()  # refs of earlier spans to link to


@dataclass(frozen=True)
class Set:
    ref: int
    key: str
    value: object


@dataclass(frozen=True)
class Event:
    ref: int
    name: str
    attributes: dict[str, object]


@dataclass(frozen=True)
class End:
    ref: int


@dataclass(frozen=True)
class Advance:
    ms: int


@dataclass(frozen=True)
class ToggleClock:
    """Install the mock clock if it is not installed, else remove it."""


Op: TypeAlias = Start | Set | Event | End | Advance | ToggleClock

# A nested program is a sequence of blocks, each a span around its body. Body items
# name their target span by how many blocks up it is (0: the block's own span).


@dataclass(frozen=True)
class SetOn:
    up: int
    key: str
    value: object


@dataclass(frozen=True)
class EventOn:
    up: int
    name: str
    attributes: dict[str, object]


@dataclass(frozen=True)
class EndEarly:
    """End an enclosing block's span before its block exits (``span_end(s.span_id)``)."""

    up: int


@dataclass(frozen=True)
class Block:
    scope: int  # blocks with the same scope share kind, name and initial metadata
    tag: int
    kind: SpanKind | str
    name: str
    initial: dict[str, object]  # span(kind, name, **initial)
    body: tuple[Item, ...]
    raises: bool  # the body ends by raising Boom(name), caught around the block


Item: TypeAlias = Block | SetOn | EventOn | EndEarly | Advance | ToggleClock


def error_text(name: str) -> str:
    """What a ``with span()`` block or decorated call records for ``Boom(name)``."""
    return f"Boom: {name}" if name else "Boom"


def flatten(blocks: Sequence[Item], first_ref: int = 0) -> list[Op]:
    """The nested program as the flat operations the module functions run."""
    ops: list[Op] = []
    refs = iter(range(first_ref, 10**9))

    def run(item: Item, enclosing: list[int]) -> None:
        if isinstance(item, Block):
            ref = next(refs)
            ops.append(Start(item.tag, item.kind, item.name))
            ops.extend(Set(ref, key, value) for key, value in item.initial.items())
            for child in item.body:
                run(child, [*enclosing, ref])
            if item.raises:
                ops.extend([Set(ref, "status", "error"), Set(ref, "error", error_text(item.name))])
            ops.append(End(ref))
        elif isinstance(item, SetOn):
            ops.append(Set(enclosing[-1 - item.up], item.key, item.value))
        elif isinstance(item, EventOn):
            ops.append(Event(enclosing[-1 - item.up], item.name, item.attributes))
        elif isinstance(item, EndEarly):
            ops.append(End(enclosing[-1 - item.up]))
        else:
            ops.append(item)

    for block in blocks:
        run(block, [])
    return ops


# -- environments --------------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    mock: bool  # a mock clock installed when the program starts
    auto_advance_ms: int
    sink: bool
    prelude: str  # what is on the active-span stack before the program runs
    # span() scopes made while tracing is off, as at import time: those without
    # metadata are shared ones, entered once tracing is on
    scopes_made_off: bool


PRELUDES: dict[str, list[Op]] = {
    "empty": [],
    "open": [Start(0, "pipeline", "outer")],
    # An open span under an ended one: the ended span stays on the stack until a start.
    "ended on top": [Start(0, "pipeline", "outer"), Start(0, "step", "done"), End(1)],
    # Another collector's open span (id 2, where this one's is 1) on top of this one's.
    "other on top": [
        Start(0, "pipeline", "outer"),
        Start(1, "step", "other done"),
        End(1),
        Start(1, "pipeline", "other"),
    ],
}


@dataclass
class Plan:
    """Which readings of a run come from the mock clock, so are the same every run."""

    ids: list[tuple[int, int]] = field(default_factory=list)  # ref: (tag, span id)
    started_mock: dict[tuple[int, int], bool] = field(default_factory=dict)
    ended_mock: dict[tuple[int, int], bool] = field(default_factory=dict)
    events_mock: dict[tuple[int, int], list[bool]] = field(default_factory=dict)


def plan(ops: Sequence[Op], mock: bool) -> Plan:
    result = Plan()
    counts = [0, 0]
    for op in ops:
        if isinstance(op, Start):
            counts[op.tag] += 1
            key = (op.tag, counts[op.tag])
            result.ids.append(key)
            result.started_mock[key] = mock
            result.events_mock[key] = []
        elif isinstance(op, Event):
            key = result.ids[op.ref]
            if key not in result.ended_mock:
                result.events_mock[key].append(mock)
        elif isinstance(op, End):
            result.ended_mock.setdefault(result.ids[op.ref], mock)
        elif isinstance(op, ToggleClock):
            mock = not mock
    return result


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @events.hookimpl
    def harn_span_start(
        self, span_id: int, parent_id: int | None, name: str, kind: str, metadata: dict[str, Any]
    ) -> None:
        self.calls.append(("start", span_id, parent_id, name, kind, metadata))

    @events.hookimpl
    def harn_span_end(self, span_id: int, metadata: dict[str, Any]) -> None:
        self.calls.append(("end", span_id, metadata))


class World:
    """The collectors, mock clock and sink of one run."""

    def __init__(self, env: Env) -> None:
        self.collectors = (SpanCollector(), SpanCollector())
        self.clock = MockClock.at_wall_ms(WALL, auto_advance_ms=env.auto_advance_ms)
        self.guard: ClockOverride | None = None
        self.sink = Sink() if env.sink else None
        self.scopes_made_off = env.scopes_made_off

    def toggle_clock(self) -> None:
        if self.guard is None:
            self.guard = install_override(self.clock)
        else:
            self.guard.restore()
            self.guard = None

    def link(self, tag: int, span_id: int) -> SpanLink:
        return SpanLink(self.collectors[tag].trace_id, str(span_id))


# -- the entry points ----------------------------------------------------------------------
# Each runner takes the world and the span ids of the prelude's spans.
Runner: TypeAlias = Callable[[World, list[tuple[int, int]]], None]


def run_module_functions(ops: Sequence[Op]) -> Runner:
    def run(world: World, ids: list[tuple[int, int]]) -> None:
        def using(tag: int) -> contextlib.AbstractContextManager[object]:
            # The program runs in collector 0 already: switch only for the other one.
            return use_collector(world.collectors[1]) if tag else contextlib.nullcontext()

        for op in ops:
            if isinstance(op, Start):
                with using(op.tag):
                    if op.links:
                        links = [world.link(*ids[ref]) for ref in op.links]
                        ids.append((op.tag, span_start_with_links(op.kind, op.name, links)))
                    else:
                        ids.append((op.tag, span_start(op.kind, op.name)))
            elif isinstance(op, Set):
                tag, span_id = ids[op.ref]
                with using(tag):
                    span_set_metadata(span_id, op.key, op.value)
            elif isinstance(op, Event):
                tag, span_id = ids[op.ref]
                with using(tag):
                    span_record_event(span_id, op.name, op.attributes)
            elif isinstance(op, End):
                tag, span_id = ids[op.ref]
                with using(tag):
                    span_end(span_id)
            else:
                step(world, op)

    return run


def run_collector_methods(ops: Sequence[Op]) -> Runner:
    def run(world: World, ids: list[tuple[int, int]]) -> None:
        for op in ops:
            if isinstance(op, Start):
                collector = world.collectors[op.tag]
                if op.links:
                    links = [world.link(*ids[ref]) for ref in op.links]
                    ids.append((op.tag, collector.start_with_links(op.kind, op.name, links)))
                else:
                    ids.append((op.tag, collector.start(op.kind, op.name)))
            elif isinstance(op, Set):
                tag, span_id = ids[op.ref]
                world.collectors[tag].set_metadata(span_id, op.key, op.value)
            elif isinstance(op, Event):
                tag, span_id = ids[op.ref]
                world.collectors[tag].record_event(span_id, op.name, op.attributes)
            elif isinstance(op, End):
                tag, span_id = ids[op.ref]
                world.collectors[tag].end(span_id)
            else:
                step(world, op)

    return run


def step(world: World, op: Op | Item) -> None:
    if isinstance(op, Advance):
        world.clock.advance(op.ms)
    elif isinstance(op, ToggleClock):
        world.toggle_clock()
    else:
        raise AssertionError(f"not a clock step: {op!r}")


def ended_early(blocks: Sequence[Item]) -> set[int]:
    """The ids of the blocks whose span an ``EndEarly`` ends before the block exits."""
    found: set[int] = set()

    def walk(item: Item, enclosing: list[Block]) -> None:
        if isinstance(item, Block):
            for child in item.body:
                walk(child, [*enclosing, item])
        elif isinstance(item, EndEarly):
            found.add(id(enclosing[-1 - item.up]))

    for block in blocks:
        walk(block, [])
    return found


class Scopes:
    """One ``span()`` scope for blocks that look alike, entered again, maybe while open."""

    def __init__(self, world: World) -> None:
        self._made: dict[int, SpanScope] = {}
        self._made_off = world.scopes_made_off

    def get(self, block: Block, share: bool = True) -> SpanScope:
        if not share:
            return self._make(block)
        if block.scope not in self._made:
            self._made[block.scope] = self._make(block)
        return self._made[block.scope]

    def _make(self, block: Block) -> SpanScope:
        was_enabled = swap_enabled(not self._made_off)
        try:
            return span(block.kind, block.name, **block.initial)
        finally:
            swap_enabled(was_enabled)


def run_with_blocks(blocks: Sequence[Item]) -> Runner:
    def run(world: World, ids: list[tuple[int, int]]) -> None:
        enclosing: list[tuple[int, SpanHandle]] = []
        scopes = Scopes(world)
        # A scope entered twice finds the span to end on exit by its own open spans, so
        # an entry whose span ended early would end an outer entry's: those get their own.
        unshared = ended_early(blocks)

        def run_item(item: Item, current_tag: int) -> None:
            if isinstance(item, Block):
                switch: contextlib.AbstractContextManager[object] = (
                    use_collector(world.collectors[item.tag])
                    if item.tag != current_tag
                    else contextlib.nullcontext()
                )
                scope = scopes.get(item, share=id(item) not in unshared)
                try:
                    with switch, scope as handle:
                        enclosing.append((item.tag, handle))
                        for child in item.body:
                            run_item(child, item.tag)
                        enclosing.pop()
                        if item.raises:
                            raise Boom(item.name)
                except Boom:
                    pass
            elif isinstance(item, SetOn):
                enclosing[-1 - item.up][1].set(item.key, item.value)
            elif isinstance(item, EventOn):
                enclosing[-1 - item.up][1].event(item.name, **item.attributes)
            elif isinstance(item, EndEarly):
                tag, handle = enclosing[-1 - item.up]
                with use_collector(world.collectors[tag]):
                    span_end(handle.span_id)
            else:
                step(world, item)

        for item in blocks:
            run_item(item, 0)

    return run


def run_decorated(blocks: Sequence[Item]) -> Runner:
    def run(world: World, ids: list[tuple[int, int]]) -> None:
        enclosing: list[tuple[int, int]] = []
        scopes = Scopes(world)

        def run_item(item: Item) -> None:
            if isinstance(item, Block):
                block = item

                @scopes.get(block)
                def body() -> None:
                    own = current_span_id()
                    assert own is not None
                    enclosing.append((block.tag, own))
                    for child in block.body:
                        run_item(child)
                    enclosing.pop()
                    if block.raises:
                        raise Boom(block.name)

                with use_collector(world.collectors[block.tag]), contextlib.suppress(Boom):
                    body()
            elif isinstance(item, (SetOn, EventOn, EndEarly)):
                tag, span_id = enclosing[-1 - item.up]
                with use_collector(world.collectors[tag]):
                    if isinstance(item, SetOn):
                        span_set_metadata(span_id, item.key, item.value)
                    elif isinstance(item, EventOn):
                        span_record_event(span_id, item.name, item.attributes)
                    else:
                        span_end(span_id)
            else:
                step(world, item)

        for item in blocks:
            run_item(item)

    return run


def run_async(blocks: Sequence[Item], *, decorated: bool) -> Runner:
    """``async with span(...)`` blocks, or ``@span(...)`` on coroutine functions, in one task."""

    def run(world: World, ids: list[tuple[int, int]]) -> None:
        # The block, its span id and, in an ``async with``, its handle.
        enclosing: list[tuple[int, int, SpanHandle | None]] = []
        scopes = Scopes(world)
        unshared = set() if decorated else ended_early(blocks)

        async def run_body(block: Block, own: int, handle: SpanHandle | None) -> None:
            await asyncio.sleep(0)
            enclosing.append((block.tag, own, handle))
            for child in block.body:
                await run_item(child)
            enclosing.pop()
            if block.raises:
                raise Boom(block.name)

        async def run_item(item: Item) -> None:
            if isinstance(item, Block):
                block = item
                scope = scopes.get(block, share=id(block) not in unshared)
                with use_collector(world.collectors[block.tag]), contextlib.suppress(Boom):
                    if decorated:

                        @scope
                        async def body() -> None:
                            own = current_span_id()
                            assert own is not None
                            await run_body(block, own, None)

                        await body()
                    else:
                        async with scope as entered:
                            await run_body(block, entered.span_id, entered)
            elif isinstance(item, (SetOn, EventOn, EndEarly)):
                tag, span_id, handle = enclosing[-1 - item.up]
                if isinstance(item, SetOn) and handle is not None:
                    handle.set(item.key, item.value)
                elif isinstance(item, EventOn) and handle is not None:
                    handle.event(item.name, **item.attributes)
                else:
                    with use_collector(world.collectors[tag]):
                        if isinstance(item, SetOn):
                            span_set_metadata(span_id, item.key, item.value)
                        elif isinstance(item, EventOn):
                            span_record_event(span_id, item.name, item.attributes)
                        else:
                            span_end(span_id)
            else:
                step(world, item)

        async def main() -> None:
            for item in blocks:
                await run_item(item)

        asyncio.run(main())

    return run


# -- what a run records --------------------------------------------------------------------


def strict(value: object) -> object:
    """``value`` with every type spelled out: ``True`` differs from ``1``, key order counts."""
    if isinstance(value, dict):
        return ("dict", [(strict(key), strict(item)) for key, item in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [strict(item) for item in value])
    return (type(value).__name__, value)


def real(value: object) -> str:
    """Stand-in for a real-clock reading, once it is checked to be a sane one."""
    assert type(value) is int, value
    assert value >= 0, value
    return "real"


def timed(value: object, deterministic: bool) -> object:
    if deterministic:
        assert type(value) is int, value
        return value
    return real(value)


@dataclass
class Recorded:
    spans: list[list[tuple[object, ...]]]  # per collector, in completion order
    open_spans: list[list[tuple[object, ...]]]
    current: list[int | None]
    summaries: list[str]
    sink: list[tuple[object, ...]] | None


def span_record(
    span: Span, tag: int, world: World, the_plan: Plan
) -> tuple[tuple[object, ...], bool]:
    """A completed span with the real clock's readings masked; and whether none was masked."""
    key = (tag, span.span_id)
    started_mock = the_plan.started_mock[key]
    exact = started_mock and the_plan.ended_mock[key]
    assert type(span.span_id) is int
    assert type(span.kind) is SpanKind
    assert type(span.name) is str
    assert span.trace_id == world.collectors[tag].trace_id
    real(span.start_ms)
    events_mock = the_plan.events_mock[key]
    events = [
        (
            strict(event.name),
            strict(event.attributes),
            timed(event.time_unix_ms, index < len(events_mock) and events_mock[index]),
            timed(
                event.offset_ms, index < len(events_mock) and events_mock[index] and started_mock
            ),
        )
        for index, event in enumerate(span.events)
    ]
    traces = {collector.trace_id: index for index, collector in enumerate(world.collectors)}
    links = [(traces[link.trace_id], link.span_id) for link in span.links]
    record = (
        span.span_id,
        span.parent_id,
        span.kind,
        span.name,
        strict(span.metadata),
        events,
        links,
        timed(span.start_unix_ms, started_mock),
        timed(span.duration_ms, exact),
    )
    return record, exact


def open_record(span: OpenSpan, tag: int, the_plan: Plan) -> tuple[object, ...]:
    real(span.start_ms)
    started_mock = the_plan.started_mock[(tag, span.span_id)]
    return (
        span.span_id,
        span.parent_id,
        span.kind,
        span.name,
        strict(span.metadata),
        timed(span.start_unix_ms, started_mock),
    )


def record(env: Env, program: Runner, ops: Sequence[Op]) -> Recorded:
    """Run the prelude and ``program`` in a context of their own; what the collectors hold."""
    the_plan = plan([*PRELUDES[env.prelude], *ops], env.mock)
    world = World(env)

    def run() -> Recorded:
        was_enabled = swap_enabled(True)
        if env.mock:
            world.toggle_clock()
        if world.sink is not None:
            add_event_sink(world.sink)
        try:
            with use_collector(world.collectors[0]):
                ids: list[tuple[int, int]] = []
                run_collector_methods(PRELUDES[env.prelude])(world, ids)
                program(world, ids)
                current = [collector.current_span_id() for collector in world.collectors]
                assert current_span_id() == current[0]
        finally:
            if world.sink is not None:
                remove_event_sink(world.sink)
            if world.guard is not None:
                world.guard.restore()
            swap_enabled(was_enabled)
        spans: list[list[tuple[object, ...]]] = []
        summaries = []
        for tag, collector in enumerate(world.collectors):
            completed = collector.spans()
            masked = [span_record(span, tag, world, the_plan) for span in completed]
            spans.append([span for span, _ in masked])
            exact = all(exact for _, exact in masked)
            summaries.append(format_summary(completed, durations=exact))
        return Recorded(
            spans=spans,
            open_spans=[
                [open_record(span, tag, the_plan) for span in collector.open_spans()]
                for tag, collector in enumerate(world.collectors)
            ],
            current=current,
            summaries=summaries,
            sink=None if world.sink is None else sink_calls(world, env, ops),
        )

    # A context of its own: the run's active-span stack and collector binding go with it.
    return contextvars.copy_context().run(run)


def sink_calls(world: World, env: Env, ops: Sequence[Op]) -> list[tuple[object, ...]]:
    """The sink's calls, with end durations masked unless the mock clock timed every span."""
    assert world.sink is not None
    exact = env.mock and not any(isinstance(op, ToggleClock) for op in ops)
    traces = {collector.trace_id: index for index, collector in enumerate(world.collectors)}
    calls: list[tuple[object, ...]] = []
    for call in world.sink.calls:
        if call[0] == "end":
            _, span_id, metadata = call
            # In place: where the duration sits among the keys counts too.
            metadata = {**metadata, "duration_ms": timed(metadata["duration_ms"], exact)}
            calls.append(("end", span_id, strict(metadata)))
        else:
            *head, metadata = call
            metadata = dict(metadata)
            links = [
                (traces[link["trace_id"]], link["span_id"]) for link in metadata.pop("links", [])
            ]
            calls.append((*head, strict(metadata), links))
    return calls


# -- strategies ----------------------------------------------------------------------------

kinds = st.one_of(
    st.sampled_from(list(SpanKind)),
    st.sampled_from([kind.value for kind in SpanKind]),
    st.sampled_from([Tag("llm_call"), Tag("tool_call")]),
)
names = st.text(max_size=3) | st.builds(Tag, st.text(max_size=3))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([2**63 - 1, -(2**63), 2**64 - 1, Level.HIGH, Tag("t"), Ratio(0.5)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=2)
        | st.tuples(children)
        | st.dictionaries(st.text(max_size=2), children, max_size=2)
    ),
    max_leaves=4,
)
# A key of a str subclass is stored as a plain str. Only set and event get one: span()'s
# keyword metadata keeps such a key as given.
keys = st.sampled_from(["a", "b", "status", "error", "duration_ms", Tag("a")])
initial_keys = st.sampled_from(["a", "b", "status"])
attributes = st.dictionaries(st.sampled_from(["a", "b", Tag("b")]), values, max_size=2)
advances = st.builds(Advance, st.integers(0, 50))
envs = st.builds(
    Env,
    mock=st.booleans(),
    auto_advance_ms=st.sampled_from([0, 0, 3]),
    sink=st.booleans(),
    prelude=st.sampled_from(sorted(PRELUDES)),
    scopes_made_off=st.booleans(),
)
tags = st.sampled_from([0, 0, 0, 1])


Declaration: TypeAlias = tuple[SpanKind | str, str, dict[str, object]]
declarations = st.tuples(kinds, names, st.dictionaries(initial_keys, values, max_size=2))


@st.composite
def blocks(draw: st.DrawFn, declared: list[Declaration], depth: int, budget: list[int]) -> Block:
    """A block ``depth`` blocks deep; ``budget`` caps the blocks of a whole program."""
    budget[0] -= 1
    body: list[Item] = []
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.sampled_from(["set", "set", "event", "end", "clock", "block", "block"]))
        up = draw(st.integers(0, depth))
        if choice == "block" and budget[0] > 0:
            body.append(draw(blocks(declared, depth + 1, budget)))
        elif choice == "set":
            body.append(SetOn(up, draw(keys), draw(values)))
        elif choice == "event":
            body.append(EventOn(up, draw(names), draw(attributes)))
        elif choice == "end":
            body.append(EndEarly(up))
        else:
            body.append(draw(advances | st.just(ToggleClock())))
    scope = draw(st.integers(0, len(declared) - 1))
    kind, name, initial = declared[scope]
    return Block(
        scope=scope,
        tag=draw(tags),
        kind=kind,
        name=name,
        initial=initial,
        body=tuple(body),
        raises=draw(st.booleans()),
    )


@st.composite
def nested_programs(draw: st.DrawFn) -> tuple[Item, ...]:
    """Blocks of a few span declarations, each used by any number of blocks."""
    declared = draw(st.lists(declarations, min_size=1, max_size=3))
    budget = [8]
    items: list[Item] = []
    for _ in range(draw(st.integers(1, 3))):
        if budget[0] > 0:
            items.append(draw(blocks(declared, 0, budget)))
        items.append(draw(advances | st.just(ToggleClock())))
    return tuple(items)


@st.composite
def flat_programs(draw: st.DrawFn, first_ref: int) -> list[Op]:
    """Operations in any order: ends out of order, twice, on spans of either collector."""
    ops: list[Op] = []
    started = first_ref
    for _ in range(draw(st.integers(1, 20))):
        choice = draw(st.sampled_from(["start", "start", "set", "event", "end", "end", "clock"]))
        ref = draw(st.integers(0, started - 1)) if started else None
        if choice == "start" or ref is None:
            links = draw(st.lists(st.integers(0, started - 1), max_size=2)) if started else []
            ops.append(Start(draw(tags), draw(kinds), draw(names), tuple(links)))
            started += 1
        elif choice == "set":
            ops.append(Set(ref, draw(keys), draw(values)))
        elif choice == "event":
            ops.append(Event(ref, draw(names), draw(attributes)))
        elif choice == "end":
            ops.append(End(ref))
        else:
            ops.append(draw(advances | st.just(ToggleClock())))
    return ops


fast = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the properties ------------------------------------------------------------------------


@fast
@given(env=envs, program=nested_programs())
def test_nested_spans_record_the_same_trace_through_every_entry_point(
    env: Env, program: tuple[Item, ...]
) -> None:
    ops = flatten(program, first_ref=sum(isinstance(op, Start) for op in PRELUDES[env.prelude]))
    expected = record(env, run_module_functions(ops), ops)
    assert record(env, run_collector_methods(ops), ops) == expected
    assert record(env, run_with_blocks(program), ops) == expected
    assert record(env, run_decorated(program), ops) == expected
    assert record(env, run_async(program, decorated=False), ops) == expected
    assert record(env, run_async(program, decorated=True), ops) == expected


@fast
@given(env=envs, data=st.data())
def test_spans_ended_in_any_order_record_the_same_trace_through_functions_and_methods(
    env: Env, data: st.DataObject
) -> None:
    starts = sum(isinstance(op, Start) for op in PRELUDES[env.prelude])
    ops = data.draw(flat_programs(starts), label="ops")
    expected = record(env, run_module_functions(ops), ops)
    assert record(env, run_collector_methods(ops), ops) == expected


# -- corner cases, by example --------------------------------------------------------------


@pytest.mark.parametrize("api", ["module functions", "collector methods"])
def test_a_span_started_in_one_thread_can_end_in_another(tracing: SpanCollector, api: str) -> None:
    start, end = (
        (span_start, span_end) if api == "module functions" else (tracing.start, tracing.end)
    )
    outer = start("pipeline", "outer")
    child = start("step", "child")
    in_thread: dict[str, Any] = {}

    def worker() -> None:
        in_thread["ended"] = end(child)
        # A thread with an empty context has no active span: its span is a root.
        in_thread["started"] = start("tool_call", "from thread")

    # Empty, as a plain thread's is (on free-threaded builds a plain thread inherits one).
    thread = threading.Thread(target=contextvars.Context().run, args=(worker,))
    thread.start()
    thread.join()

    assert in_thread["ended"].span_id == child
    assert tracing.current_span_id() == outer  # the ended child is skipped
    after = start("step", "after")
    from_thread = end(in_thread["started"])  # ended here, started there
    assert from_thread is not None
    assert from_thread.parent_id is None
    end(after)
    end(outer)
    assert end(child) is None
    assert [(s.name, s.span_id, s.parent_id) for s in tracing.spans()] == [
        ("child", 2, 1),
        ("from thread", 3, None),
        ("after", 4, 1),
        ("outer", 1, None),
    ]
    assert tracing.open_spans() == []
    assert tracing.current_span_id() is None


def test_span_end_inside_a_with_block_ends_its_span_once(tracing: SpanCollector) -> None:
    sink = Sink()
    add_event_sink(sink)
    try:
        with span("pipeline", "outer") as outer, span("step", "inner", a=1) as inner:
            ended = span_end(inner.span_id)
            inner.set("b", 2)  # too late: the span is over
            assert inner.event("late") is False
            assert current_span_id() == outer.span_id
            with span("tool_call", "sibling"):
                pass
        with pytest.raises(Boom), span("step", "raises after its end", a=1) as early:
            span_end(early.span_id)
            raise Boom("boom")
    finally:
        remove_event_sink(sink)
    assert ended is not None
    assert ended.metadata == {"a": 1}
    assert [(s.name, s.span_id, s.parent_id, s.metadata) for s in tracing.spans()] == [
        ("inner", 2, 1, {"a": 1}),
        ("sibling", 3, 1, {}),
        ("outer", 1, None, {}),
        ("raises after its end", 4, None, {"a": 1}),
    ]
    assert [call[:2] for call in sink.calls] == [
        ("start", 1),
        ("start", 2),
        ("end", 2),
        ("start", 3),
        ("end", 3),
        ("end", 1),
        ("start", 4),
        ("end", 4),
    ]
    assert tracing.open_spans() == []
    assert current_span_id() is None


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (ValueError("boom"), "ValueError: boom"),
        (ValueError(), "ValueError"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
    ],
)
def test_an_exception_ends_a_with_block_or_decorated_call_with_status_error(
    tracing: SpanCollector, error: BaseException, text: str
) -> None:
    with pytest.raises(type(error)), span("tool_call", "block", status="started", a=1) as handle:
        handle.set("b", True)
        raise error

    @span("tool_call", "call", status="started", a=1)
    def call() -> None:
        span_set_metadata(current_span_id() or 0, "b", True)
        raise error

    with pytest.raises(type(error)):
        call()
    # The same trace by hand, through the module functions.
    by_hand = span_start("tool_call", "by hand")
    for key, value in [("status", "started"), ("a", 1), ("b", True)]:
        span_set_metadata(by_hand, key, value)
    span_set_metadata(by_hand, "status", "error")
    span_set_metadata(by_hand, "error", text)
    span_end(by_hand)

    metadata = [("status", "error"), ("a", 1), ("b", True), ("error", text)]
    assert [(s.name, s.parent_id, list(s.metadata.items())) for s in tracing.spans()] == [
        ("block", None, metadata),
        ("call", None, metadata),
        ("by hand", None, metadata),
    ]
    assert current_span_id() is None


def test_an_exception_through_nested_with_blocks_marks_every_span_it_leaves(
    tracing: SpanCollector,
) -> None:
    with pytest.raises(Boom), span("pipeline", "outer"), span("step", "inner"):
        raise Boom("deep")
    assert [(s.name, s.metadata) for s in tracing.spans()] == [
        ("inner", {"status": "error", "error": "Boom: deep"}),
        ("outer", {"status": "error", "error": "Boom: deep"}),
    ]
