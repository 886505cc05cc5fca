"""The span data model: kinds, links, events and completed spans.

Mirrors the records of Harn's ``tracing`` module. ``to_dict()`` produces the
layout Harn serializes (``trace_spans()``), and ``from_dict()`` reads it back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, TypeAlias

from pytest_harn_trace.tracing import meta

__all__ = ["JsonValue", "LlmCallUsage", "OpenSpan", "Span", "SpanEvent", "SpanKind", "SpanLink"]

__tracebackhide__ = True  # pytest shows the user's call, not the plugin's frames

JsonValue: TypeAlias = Any
"""A JSON value: None, bool, int, float, str, list or dict with str keys.

Typed as ``Any`` so that reading ``span.metadata["tokens"]`` needs no casts;
the collector checks every value at the moment it is set.
"""


class SpanKind(StrEnum):
    """The kind of operation a span represents (Harn's 21 kinds)."""

    PIPELINE = "pipeline"
    FN_CALL = "fn_call"
    LLM_CALL = "llm_call"
    TOOL_CALL = "tool_call"
    IMPORT = "import"
    PARALLEL = "parallel"
    SPAWN = "spawn"
    STEP = "step"
    """A ``@step``-annotated function while its frame is on the call stack."""
    VM_SETUP = "vm_setup"
    """Host-side VM setup before user code starts executing."""
    SUSPENSION = "suspension"
    """Cooperative worker suspension while the durable checkpoint is written."""
    RESUME = "resume"
    """Worker resumption after a cooperative suspension."""
    DRAIN = "drain"
    """Pipeline drain / settlement phase."""
    DRAIN_DECISION = "drain_decision"
    """One drain settlement decision."""
    POOL_SUBMIT = "pool_submit"
    """``pool.submit()`` boundary: accepted, rejected, or queued."""
    POOL_DEQUEUE = "pool_dequeue"
    """A pool worker picks the task out of the queue; links back to its submit."""
    CHANNEL_EMIT = "channel_emit"
    """``emit_channel(...)`` boundary, closed after the durable append."""
    CHANNEL_MATCH = "channel_match"
    """A channel trigger match; links back to the originating emit."""
    USER_TIMING = "user_timing"
    """A user timing span (``timed()``); recorded even with tracing off."""
    MODEL_ROUTE = "model_route"
    """Zero-duration marker: the agent switched the serving model."""
    TOOL_MOUNT = "tool_mount"
    """Zero-duration marker: a batch of tools promoted into the active surface."""
    DEFERRED_TOOL_LOAD = "deferred_tool_load"
    """Zero-duration marker: one deferred tool schema promoted via tool search."""

    def as_str(self) -> str:
        """Return the kind's wire name, as Harn's ``SpanKind::as_str``."""
        return self.value

    @classmethod
    def parse(cls, value: object) -> SpanKind:
        """Return ``value`` as a ``SpanKind``, accepting the kind or its string name.

        Raises:
            ValueError: for a string that names no kind.
            TypeError: for anything that is not a ``SpanKind`` or ``str``.
        """
        if isinstance(value, SpanKind):
            return value
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
            raise ValueError(f"unknown span kind {value!r}; {kind_hint(value)}")
        raise TypeError(
            f"span kind must be a SpanKind or its name as str, got {type(value).__name__}"
        )


def kind_hint(name: str) -> str:
    """How to write an unknown kind ``name``: the kind it likely means, else every kind."""
    guess = name.strip().lower().replace("-", "_")
    if guess in SpanKind._value2member_map_:
        return f"did you mean {guess!r}?"
    return "use one of: " + ", ".join(kind.value for kind in SpanKind)


@dataclass(frozen=True, slots=True)
class LlmCallUsage:
    """Per-LLM-call token and cost attribution for an ``llm_call`` span.

    Lowered to metadata with :meth:`metadata_pairs` so every emission uses the
    canonical :mod:`~pytest_harn_trace.tracing.meta` keys.
    """

    model: str
    provider: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None
    """``None`` when the (provider, model) pair has no pricing."""

    def __post_init__(self) -> None:
        fields: dict[str, object] = {"model": self.model, "provider": self.provider}
        for name, value in fields.items():
            if not isinstance(value, str):
                raise TypeError(f"LlmCallUsage.{name} must be str, got {type(value).__name__}")
        tokens: dict[str, object] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }
        for name, value in tokens.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"LlmCallUsage.{name} must be int, got {type(value).__name__}")
            if not -(2**63) <= value < 2**63:
                raise ValueError(
                    f"LlmCallUsage.{name} is an {_describe_int(value)}, which does not fit in "
                    "64 bits (Harn counts tokens in an i64)"
                )
        cost: object = self.cost_usd
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float))):
            raise TypeError(
                f"LlmCallUsage.cost_usd must be a float or None, got {type(cost).__name__}"
            )
        if isinstance(cost, int):
            try:
                float(cost)
            except OverflowError:
                raise ValueError(
                    f"LlmCallUsage.cost_usd is an {_describe_int(cost)}, too large for a float "
                    "(Harn's cost_usd is an f64)"
                ) from None

    def metadata_pairs(self) -> list[tuple[str, JsonValue]]:
        """Return ``(key, value)`` pairs in Harn's order; cost left out when ``None``."""
        pairs: list[tuple[str, JsonValue]] = [
            (meta.MODEL, self.model),
            (meta.PROVIDER, self.provider),
            (meta.INPUT_TOKENS, self.input_tokens),
            (meta.OUTPUT_TOKENS, self.output_tokens),
            (meta.CACHE_READ_TOKENS, self.cache_read_tokens),
            (meta.CACHE_WRITE_TOKENS, self.cache_write_tokens),
        ]
        if self.cost_usd is not None:
            cost = float(self.cost_usd)
            pairs.append((meta.COST_USD, cost if math.isfinite(cost) else None))
        return pairs


@dataclass(frozen=True, slots=True)
class SpanLink:
    """A link to a span that is causally related but not the parent."""

    trace_id: str
    span_id: str
    """The linked span's id, as a string (Harn's wire format)."""
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        trace_id: object = self.trace_id
        span_id: object = self.span_id
        if not isinstance(trace_id, str) or not isinstance(span_id, str):
            raise TypeError(
                "SpanLink(trace_id, span_id): both must be str, got "
                f"{type(trace_id).__name__} and {type(span_id).__name__}"
            )
        attributes: object = self.attributes
        if not isinstance(attributes, Mapping):
            raise TypeError(
                f"SpanLink attributes must be a mapping of str to str, "
                f"got {type(attributes).__name__}"
            )
        items: Iterable[tuple[object, object]] = attributes.items()
        for key, value in items:
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(
                    f"SpanLink attributes must map str to str, got {key!r}: {value!r}"
                )
        # A private copy, so later changes to the caller's mapping can't reach the link.
        object.__setattr__(self, "attributes", dict(self.attributes))

    def with_attributes(self, attributes: Mapping[str, str]) -> SpanLink:
        """Return a copy of this link carrying ``attributes``."""
        return SpanLink(self.trace_id, self.span_id, attributes)

    def to_dict(self) -> dict[str, Any]:
        """Return the serialized layout; ``attributes`` only when non-empty."""
        out: dict[str, Any] = {"trace_id": self.trace_id, "span_id": self.span_id}
        if self.attributes:
            out["attributes"] = dict(sorted(self.attributes.items()))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpanLink:
        """Build a link from the layout :meth:`to_dict` produces."""
        _require_mapping("SpanLink", data)
        return cls(
            data.get("trace_id", ""),
            data.get("span_id", ""),
            data.get("attributes") or {},
        )


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """A named checkpoint inside a span, in the manner of an OpenTelemetry span event."""

    name: str
    time_unix_ms: int
    """Wall-clock time of the event in milliseconds since the UNIX epoch."""
    offset_ms: int
    """Monotonic offset from the enclosing span's start, in milliseconds."""
    attributes: dict[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fields: tuple[object, object, object, object] = (
            self.name,
            self.time_unix_ms,
            self.offset_ms,
            self.attributes,
        )
        name, time_unix_ms, offset_ms, attributes = fields
        if not isinstance(name, str):
            raise TypeError(f"SpanEvent.name must be str, got {type(name).__name__}")
        for label, value in (("time_unix_ms", time_unix_ms), ("offset_ms", offset_ms)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"SpanEvent.{label} must be milliseconds as int, got {type(value).__name__}"
                )
        if not isinstance(attributes, dict) or not all(isinstance(k, str) for k in attributes):
            raise TypeError(
                "SpanEvent.attributes must be a dict with str keys (JSON values), got "
                f"{type(attributes).__name__}"
                + (" with a non-str key" if isinstance(attributes, dict) else "")
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the serialized layout; ``attributes`` only when non-empty."""
        out: dict[str, Any] = {
            "name": self.name,
            "time_unix_ms": self.time_unix_ms,
            "offset_ms": self.offset_ms,
        }
        if self.attributes:
            out["attributes"] = dict(sorted(self.attributes.items()))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpanEvent:
        """Build an event from the layout :meth:`to_dict` produces."""
        _require_mapping("SpanEvent", data)
        return cls(
            data.get("name", ""),
            data.get("time_unix_ms", 0),
            data.get("offset_ms", 0),
            dict(data.get("attributes") or {}),
        )


class Span(NamedTuple):
    """A completed span.

    A ``NamedTuple`` rather than a frozen dataclass: it is just as immutable,
    but building one costs a tenth of a frozen dataclass ``__init__`` (which
    sets each of its 11 fields through ``object.__setattr__``), and a span is
    built on every ``end``.
    """

    trace_id: str
    span_id: int
    parent_id: int | None
    kind: SpanKind
    name: str
    start_ms: int
    """Monotonic offset from the collector's epoch, in milliseconds."""
    start_unix_ms: int
    """Wall-clock start in milliseconds since the UNIX epoch."""
    duration_ms: int
    metadata: dict[str, JsonValue]
    links: tuple[SpanLink, ...]
    events: tuple[SpanEvent, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return Harn's ``span_to_vm_value`` layout.

        ``parent_id`` is ``None`` at a root; ``metadata`` (keys sorted),
        ``links`` and ``events`` appear only when non-empty.
        """
        out: dict[str, Any] = {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "kind": self.kind.value,
            "name": self.name,
            "start_ms": self.start_ms,
            "start_unix_ms": self.start_unix_ms,
            "duration_ms": self.duration_ms,
        }
        if self.metadata:
            out["metadata"] = dict(sorted(self.metadata.items()))
        if self.links:
            out["links"] = [link.to_dict() for link in self.links]
        if self.events:
            out["events"] = [event.to_dict() for event in self.events]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Span:
        """Build a span from :meth:`to_dict` output or one of Harn's ``trace_spans()`` dicts.

        Raises:
            ValueError: when a required key is missing.
            TypeError: when ``data`` or one of its parts has the wrong type.
        """
        _require_mapping("Span", data)
        missing = [key for key in ("span_id", "kind", "name") if key not in data]
        if missing:
            raise ValueError(
                f"Span.from_dict: missing key(s) {', '.join(missing)}; "
                "expected the layout of Span.to_dict() or Harn's trace_spans()"
            )
        return cls(
            trace_id=data.get("trace_id", ""),
            span_id=data["span_id"],
            parent_id=data.get("parent_id"),
            kind=SpanKind.parse(data["kind"]),
            name=data["name"],
            start_ms=data.get("start_ms", 0),
            start_unix_ms=data.get("start_unix_ms", 0),
            duration_ms=data.get("duration_ms", 0),
            metadata=dict(data.get("metadata") or {}),
            links=tuple(SpanLink.from_dict(link) for link in data.get("links") or ()),
            events=tuple(SpanEvent.from_dict(event) for event in data.get("events") or ()),
        )


class OpenSpan(NamedTuple):
    """A span that started and has not ended yet, as ``trace.open_spans`` lists it.

    A snapshot: ``metadata`` is a copy, and later changes to the span don't reach it.
    """

    span_id: int
    kind: SpanKind
    name: str
    parent_id: int | None
    metadata: dict[str, JsonValue]
    start_ms: int
    """Monotonic offset from the collector's epoch, in milliseconds (as ``Span.start_ms``)."""
    start_unix_ms: int
    """Wall-clock start in milliseconds since the UNIX epoch."""

    def __str__(self) -> str:
        return f"span {self.span_id} {self.kind.value} {self.name!r}"


def _describe_int(value: int) -> str:
    # jsonvalue.describe_int, which this module cannot import (jsonvalue imports it).
    return f"int {value}" if value.bit_length() <= 256 else f"int of {value.bit_length()} bits"


def _require_mapping(what: str, data: object) -> None:
    if not isinstance(data, Mapping):
        raise TypeError(f"{what}.from_dict expects a mapping, got {type(data).__name__}")
