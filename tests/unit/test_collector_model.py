"""SpanCollector against a tiny reference model of the seed's collector.

The model keeps what the seed keeps (a counter, a dict of open spans, a list
for the active stack, a list of completed spans) and does the obvious thing
for each operation. A mock clock makes durations, start times and event
offsets exact, so the comparison covers timing too.

Alongside: a second collector sharing the active-span stack (its spans never
become the first one's parents), values the collector must reject without a
trace, and every ``Span`` handed out, which must never change afterwards.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pytest_harn_trace import (
    MockClock,
    Span,
    SpanCollector,
    SpanEvent,
    SpanKind,
    SpanLink,
    install_override,
)

WALL = 1_700_000_000_000

kinds = st.sampled_from(list(SpanKind)) | st.sampled_from([kind.value for kind in SpanKind])
names = st.text(max_size=4)
keys = st.sampled_from(["a", "b", "duration_ms"])
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=6,
)


def nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


# Values set_metadata, attach_metadata_if_absent and record_event must refuse.
bad_values = st.sampled_from(
    [nested(128), [2**64], {"k": [-(2**63) - 1]}, object(), {1: "a"}, [b"x"], {"s": {1}}]
)


def as_json(value: Any) -> Any:
    """What serde_json would store for ``value``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    return value


@dataclass
class ModelSpan:
    span_id: int
    parent_id: int | None
    kind: SpanKind
    name: str
    links: tuple[SpanLink, ...]
    start_mono: int
    start_wall: int
    duration_ms: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)


class CollectorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = MockClock.at_wall_ms(WALL)
        self.guard = install_override(self.clock)
        self.collector = SpanCollector()
        self.next_id = 1
        self.open: dict[int, ModelSpan] = {}
        self.stack: list[int] = []
        self.completed: list[ModelSpan] = []
        # Every Span handed out, with a deep copy taken then: they must never change.
        self.held: list[tuple[Span, Span]] = []
        # Another collector, pushing its spans on the same active-span stack.
        self.other = SpanCollector()
        self.other_open: list[int] = []

    def hold(self, spans: list[Span]) -> None:
        self.held += [(span, copy.deepcopy(span)) for span in spans]

    def teardown(self) -> None:
        self.guard.restore()
        # Spans left open must not stay on this context's stack for the next example.
        self.collector._leave_context()
        self.other._leave_context()

    # -- helpers -----------------------------------------------------------------

    def pick_id(self, data: st.DataObject) -> int:
        # Mostly open spans, then completed ones, then 0, taken or never-issued ids.
        choices = [st.integers(min_value=0, max_value=self.next_id + 2)]
        completed = sorted({s.span_id for s in self.completed})
        if completed:
            choices.append(st.sampled_from(completed))
        if self.open:
            choices += [st.sampled_from(sorted(self.open))] * 2
        return data.draw(st.one_of(choices), label="span_id")

    def model_start(self, kind: Any, name: str, links: tuple[SpanLink, ...], nest: bool) -> int:
        parent = self.stack[-1] if nest and self.stack else None
        span_id = self.next_id
        self.next_id += 1
        mono, wall = self.clock.now_monotonic_ms(), self.clock.now_wall_ms()
        self.open[span_id] = ModelSpan(
            span_id, parent, SpanKind(kind), name, links, start_mono=mono, start_wall=wall
        )
        self.stack.append(span_id)
        return span_id

    def draw_links(self, data: st.DataObject) -> tuple[SpanLink, ...]:
        ids = data.draw(st.lists(st.integers(min_value=1, max_value=self.next_id), max_size=2))
        return tuple(SpanLink(self.collector.trace_id, str(span_id)) for span_id in ids)

    def as_span(self, model: ModelSpan) -> Span:
        return Span(
            trace_id=self.collector.trace_id,
            span_id=model.span_id,
            parent_id=model.parent_id,
            kind=model.kind,
            name=model.name,
            start_ms=0,  # real clock; not modelled
            start_unix_ms=model.start_wall,
            duration_ms=model.duration_ms,
            metadata=model.metadata,
            links=model.links,
            events=tuple(model.events),
        )

    # -- rules -------------------------------------------------------------------

    @rule(kind=kinds, name=names)
    def start(self, kind: Any, name: str) -> None:
        got = self.collector.start(kind, name)
        assert got == self.model_start(kind, name, (), nest=True)

    @rule(kind=kinds, name=names, data=st.data())
    def start_with_links(self, kind: Any, name: str, data: st.DataObject) -> None:
        links = self.draw_links(data)
        got = self.collector.start_with_links(kind, name, list(links))
        assert got == self.model_start(kind, name, links, nest=True)

    @rule(kind=kinds, name=names, data=st.data())
    def start_detached(self, kind: Any, name: str, data: st.DataObject) -> None:
        links = self.draw_links(data)
        got = self.collector.start_detached_with_links(kind, name, links)
        assert got == self.model_start(kind, name, links, nest=False)

    @rule(key=keys, value=json_values, data=st.data())
    def set_metadata(self, key: str, value: Any, data: st.DataObject) -> None:
        span_id = self.pick_id(data)
        self.collector.set_metadata(span_id, key, value)
        if span_id in self.open:
            self.open[span_id].metadata[key] = as_json(value)

    @rule(key=keys, value=json_values, data=st.data())
    def attach_if_absent(self, key: str, value: Any, data: st.DataObject) -> None:
        span_id = self.pick_id(data)
        self.collector.attach_metadata_if_absent(span_id, key, value)
        target = self.open.get(span_id) or next(
            (s for s in reversed(self.completed) if s.span_id == span_id), None
        )
        if target is not None:
            target.metadata.setdefault(key, as_json(value))

    @rule(name=names, attributes=st.dictionaries(keys, json_values, max_size=2), data=st.data())
    def record_event(self, name: str, attributes: dict[str, Any], data: st.DataObject) -> None:
        span_id = self.pick_id(data)
        got = self.collector.record_event(span_id, name, attributes)
        target = self.open.get(span_id)
        assert got is (target is not None)
        if target is not None:
            mono, wall = self.clock.now_monotonic_ms(), self.clock.now_wall_ms()
            target.events.append(
                SpanEvent(name, wall, mono - target.start_mono, as_json(attributes))
            )

    @rule(data=st.data())
    def end(self, data: st.DataObject) -> None:
        span_id = self.pick_id(data)
        got = self.collector.end(span_id)
        model = self.open.pop(span_id, None)
        if model is None:
            assert got is None
            return
        model.duration_ms = self.clock.now_monotonic_ms() - model.start_mono
        self.completed.append(model)
        if span_id in self.stack:  # not when the stack was left (leave_context)
            last = len(self.stack) - 1 - self.stack[::-1].index(span_id)
            del self.stack[last]
        assert got is not None
        assert got._replace(start_ms=0) == self.as_span(model)
        self.hold([got])

    @precondition(lambda self: bool(self.stack))
    @rule()
    def end_current(self) -> None:
        current = self.stack.pop()
        got = self.collector.end(current)
        model = self.open.pop(current)
        model.duration_ms = self.clock.now_monotonic_ms() - model.start_mono
        self.completed.append(model)
        assert got is not None
        assert got._replace(start_ms=0) == self.as_span(model)
        self.hold([got])

    @precondition(lambda self: len(self.stack) >= 2)
    @rule()
    def end_parent_before_child(self) -> None:
        parent = self.stack[-2]
        got = self.collector.end(parent)
        assert got is not None
        assert got.span_id == parent
        model = self.open.pop(parent)
        model.duration_ms = self.clock.now_monotonic_ms() - model.start_mono
        self.completed.append(model)
        del self.stack[-2]

    @rule(ms=st.integers(min_value=0, max_value=1_000))
    def advance(self, ms: int) -> None:
        self.clock.advance(ms)

    @rule()
    def take(self) -> None:
        taken = self.collector.take_spans()
        assert [s._replace(start_ms=0) for s in taken] == [self.as_span(m) for m in self.completed]
        self.completed = []
        self.hold(taken)

    @rule()
    def reset(self) -> None:
        self.collector.reset()
        self.next_id = 1
        self.open.clear()
        self.stack.clear()
        self.completed = []

    @rule(data=st.data())
    def span_link(self, data: st.DataObject) -> None:
        span_id = self.pick_id(data)
        link = self.collector.span_link(span_id)
        if span_id in self.open:
            assert link == SpanLink(self.collector.trace_id, str(span_id))
        else:
            assert link is None
            assert self.collector.open_start_unix_ms(span_id) is None

    @rule()
    def current_span_link(self) -> None:
        link = self.collector.current_span_link()
        expected = self.stack[-1] if self.stack else None
        assert link == (
            None if expected is None else SpanLink(self.collector.trace_id, str(expected))
        )

    @rule(value=bad_values, data=st.data(), how=st.sampled_from(["set", "attach", "event"]))
    def bad_value_changes_nothing(self, value: Any, data: st.DataObject, how: str) -> None:
        key = "a"
        span_id = self.pick_id(data)
        try:
            if how == "set":
                self.collector.set_metadata(span_id, key, value)
            elif how == "attach":
                self.collector.attach_metadata_if_absent(span_id, key, value)
            else:
                self.collector.record_event(span_id, "e", {key: value})
        except (TypeError, ValueError) as exc:
            assert str(exc)
        else:
            raise AssertionError(f"{how} accepted {value!r}")
        # The invariants check that no span changed.

    @rule()
    def snapshot(self) -> None:
        self.hold(self.collector.spans())

    @rule(name=names)
    def other_start(self, name: str) -> None:
        self.other_open.append(self.other.start("step", name))

    @precondition(lambda self: bool(self.other_open))
    @rule(data=st.data())
    def other_end(self, data: st.DataObject) -> None:
        span_id = data.draw(st.sampled_from(self.other_open))
        self.other_open.remove(span_id)
        assert self.other.end(span_id) is not None

    @rule()
    def other_leaves_the_context(self) -> None:
        # What the trace fixture does at teardown for a collector with spans left open.
        self.other._leave_context()
        assert self.other.current_span_id() is None
        assert [span.span_id for span in self.other.open_spans()] == sorted(self.other_open)

    @rule()
    def leave_the_context(self) -> None:
        # Open spans stay open, but none is active any more: new spans are roots.
        self.collector._leave_context()
        self.stack.clear()

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def spans_handed_out_never_change(self) -> None:
        for span, copy_then in self.held:
            assert span == copy_then

    @invariant()
    def current_span_matches(self) -> None:
        assert self.collector.current_span_id() == (self.stack[-1] if self.stack else None)

    @invariant()
    def completed_spans_match(self) -> None:
        got = [s._replace(start_ms=0) for s in self.collector.spans()]
        assert got == [self.as_span(m) for m in self.completed]

    @invariant()
    def open_spans_match(self) -> None:
        got = [
            (s.span_id, s.kind, s.name, s.parent_id, s.metadata, s.start_unix_ms)
            for s in self.collector.open_spans()
        ]
        assert got == [
            (s.span_id, s.kind, s.name, s.parent_id, s.metadata, s.start_wall)
            for s in sorted(self.open.values(), key=lambda s: s.span_id)
        ]
        for span_id, model in self.open.items():
            assert self.collector.open_start_unix_ms(span_id) == model.start_wall


CollectorMachine.TestCase.settings = settings(
    max_examples=75, stateful_step_count=40, deadline=None
)
TestCollectorAgainstModel = CollectorMachine.TestCase
