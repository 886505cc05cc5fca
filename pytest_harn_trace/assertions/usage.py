"""Token and cost accounting over a trace, and budget checks on it.

Pure functions over spans: :meth:`TraceUsage.of` adds up the canonical usage
metadata (:mod:`~pytest_harn_trace.tracing.meta`: ``model``, ``input_tokens``,
``output_tokens``, ``cache_read_tokens``, ``cache_write_tokens``, ``cost_usd``)
of the ``llm_call`` spans of a trace, and :func:`budget_report` says which
limits a trace goes over. The counting rules:

- only ``llm_call`` spans count as calls and for tokens and cost (open ones
  too, flagged); ``tool_call`` spans are counted as tool calls;
- an agent or pipeline span repeating its children's sum (as strands-agents
  writes) is not an ``llm_call`` and adds nothing; an ``llm_call`` span with
  ``llm_call`` spans below it that carry usage is a wrapper (an SDK span
  around the provider's, say) and counts through them only;
- a call's cost is its ``cost_usd``, else what ``price(span)`` returns
  (the ``pytest_harn_trace_price`` hook in a test run), else unknown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, final

from pytest_harn_trace.assertions.expected import ExpectedSpan
from pytest_harn_trace.assertions.matching import local_diffs, matches, show
from pytest_harn_trace.assertions.tree_text import parse_tree_text
from pytest_harn_trace.tracing import meta
from pytest_harn_trace.tracing.clock import REAL_CLOCK_ADVICE, RealClockError
from pytest_harn_trace.tracing.model import OpenSpan, Span, SpanKind

__all__ = [
    "LIMITS",
    "CountedSpan",
    "ModelUsage",
    "Price",
    "TraceUsage",
    "budget_report",
    "check_limits",
    "money",
    "trace_duration_ms",
]

Price = Callable[[Span], float | None]
"""Prices an ``llm_call`` span that carries no ``cost_usd``: USD, or ``None`` for unknown."""

LIMITS: Final = (
    "llm_calls",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "duration_ms",
)
"""The limits a budget may set, each an inclusive upper bound."""

_TOKEN_KEYS: Final = (
    meta.INPUT_TOKENS,
    meta.OUTPUT_TOKENS,
    meta.CACHE_READ_TOKENS,
    meta.CACHE_WRITE_TOKENS,
)
_NO_MODEL: Final = "(no model)"
_TOP: Final = 5


@final
@dataclass(frozen=True, slots=True)
class CountedSpan:
    """One ``llm_call`` or ``tool_call`` span a :class:`TraceUsage` counted."""

    span: Span
    """The span (an open one as it stands, its duration so far)."""
    open: bool
    """Whether the span had not ended yet."""
    path: str
    """Its place in the tree: ``pipeline main > llm_call gpt-4o``."""
    model: str = _NO_MODEL
    """The ``model`` metadata of an ``llm_call``, ``(no model)`` without one."""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None
    """Its ``cost_usd``, or the price the price function gave; ``None`` when unknown."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def describe(self) -> str:
        """One line for messages: kind, name, model, tokens, cost and path."""
        span = self.span
        parts = [_label(span)]
        if span.kind is SpanKind.LLM_CALL:
            if self.model != span.name:
                parts.append(f"model {self.model}")
            parts.append(
                f"{self.total_tokens} tokens ({self.input_tokens} in, {self.output_tokens} out)"
            )
            if self.cost_usd is not None:
                parts.append(money(self.cost_usd))
        if self.open:
            parts.append("still open")
        return ", ".join(parts) + f" at {self.path}"


@final
@dataclass(frozen=True, slots=True)
class ModelUsage:
    """The figures of the ``llm_call`` spans of one model."""

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None
    """The summed cost of the priced calls; ``None`` when none has a price."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as a JSON-ready dict (``total_tokens`` included)."""
        return {
            "llm_calls": self.llm_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
        }


@final
@dataclass(frozen=True, slots=True, repr=False)
class TraceUsage:
    """What a trace's LLM and tool calls used: ``trace.usage()`` returns one.

    Build one from spans with :meth:`of`; ``trace.usage()`` does that for a test's trace.
    """

    llm_calls: int = 0
    """The ``llm_call`` spans counted (wrappers of other calls left out), open ones too."""
    tool_calls: int = 0
    """The ``tool_call`` spans, open ones too."""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    total_tokens: int = 0
    """``input_tokens + output_tokens``."""
    cost_usd: float | None = None
    """The summed cost of the priced calls; ``None`` when no counted call has a price."""
    by_model: Mapping[str, ModelUsage] = field(default_factory=lambda: MappingProxyType({}))
    """Model name (``(no model)`` for calls without one) to that model's figures."""
    open_llm_calls: int = 0
    """How many of the counted calls were still open (their figures so far are counted)."""
    unpriced_llm_calls: int = 0
    """How many counted calls have neither ``cost_usd`` nor a price from the price function."""
    notes: tuple[str, ...] = ()
    """What to know about the figures: open calls, calls without a price, wrappers."""
    calls: tuple[CountedSpan, ...] = ()
    """Each counted ``llm_call`` span, in the order of the trace."""
    tools: tuple[CountedSpan, ...] = ()
    """Each ``tool_call`` span, in the order of the trace."""

    @classmethod
    def of(
        cls,
        spans: Iterable[Span],
        *,
        open_spans: Iterable[Span] = (),
        price: Price | None = None,
        under: object = None,
    ) -> TraceUsage:
        """Add up the usage of ``spans`` (see the module's counting rules).

        Args:
            spans: The completed spans.
            open_spans: The spans still open, each as it stands (what
                ``SpanCollector.peek_open_spans()`` returns).
            price: Called with each counted ``llm_call`` span without a
                ``cost_usd``; returns its cost in USD, or ``None`` when unknown.
            under: Count only the subtrees of the spans this selects: a span,
                a ``node(...)`` or one line of tree text (matched against each
                span, children not allowed), or a mapping of :meth:`find`
                criteria (``{"kind": "pipeline", "name": "plan", **metadata}``).

        Returns:
            The figures.

        Raises:
            TypeError: for spans that are not :class:`Span`, a ``price`` that is
                not callable or returns something other than a number or ``None``,
                or an ``under`` of another type.
            ValueError: for a negative or non-finite price, or an ``under`` node
                with children.
            AssertionError: when ``under`` selects no span; the message lists them.
        """
        __tracebackhide__ = True
        completed = _span_list(spans, "spans")
        still_open = _span_list(open_spans, "open_spans")
        if price is not None and not callable(price):
            raise TypeError(
                f"TraceUsage.of(price=...): expected a function of a span returning its cost "
                f"in USD or None, got {type(price).__name__}"
            )
        return _count(completed, still_open, price, under)

    @property
    def summary_line(self) -> str:
        """One line of the figures, as the text snapshot's usage line shows them."""
        text = (
            f"Usage: {_plural(self.llm_calls, 'llm call')}, {_plural(self.tool_calls, 'tool call')}"
            f", {self.total_tokens} tokens ({self.input_tokens} in, {self.output_tokens} out"
        )
        if self.cache_read_tokens or self.cache_write_tokens:
            text += f", {self.cache_read_tokens} cache read, {self.cache_write_tokens} cache write"
        text += ")"
        if self.cost_usd is not None:
            text += f", {money(self.cost_usd)}"
            if self.unpriced_llm_calls:
                text += f" ({self.unpriced_llm_calls} unpriced)"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as a JSON-ready dict, ``by_model`` included, spans left out."""
        return {
            "llm_calls": self.llm_calls,
            "tool_calls": self.tool_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
            "open_llm_calls": self.open_llm_calls,
            "unpriced_llm_calls": self.unpriced_llm_calls,
            "by_model": {model: usage.to_dict() for model, usage in self.by_model.items()},
        }

    def __repr__(self) -> str:
        fields = [
            f"llm_calls={self.llm_calls}",
            f"tool_calls={self.tool_calls}",
            f"input_tokens={self.input_tokens}",
            f"output_tokens={self.output_tokens}",
        ]
        if self.cache_read_tokens or self.cache_write_tokens:
            fields.append(f"cache_read_tokens={self.cache_read_tokens}")
            fields.append(f"cache_write_tokens={self.cache_write_tokens}")
        fields.append(f"total_tokens={self.total_tokens}")
        fields.append(f"cost_usd={self.cost_usd!r}")
        fields.append(f"by_model={dict(self.by_model)!r}")
        if self.notes:
            fields.append(f"notes={self.notes!r}")
        return f"TraceUsage({', '.join(fields)})"


def money(cost: float) -> str:
    """A cost in USD as messages show it: ``$0.0123``, ``$0.00002``, ``$1.5``."""
    if not cost:
        return "$0"
    if abs(cost) < 1e-9:
        return f"${cost:.2e}"
    # Four significant digits below $1, four decimals above: $0.0000036, $0.0123, $12.5.
    decimals = 4 if abs(cost) >= 1 else 3 - math.floor(math.log10(abs(cost)))
    return "$" + f"{cost:.{decimals}f}".rstrip("0").rstrip(".")


def trace_duration_ms(spans: Sequence[Span], *, real_clock: bool, where: str) -> int:
    """The trace's total duration: its root spans' summed durations, as the summary's header.

    Raises:
        RealClockError: when ``real_clock``: the spans' durations vary by run,
            so a limit on them would be flaky.
    """
    __tracebackhide__ = True
    if real_clock:
        raise RealClockError(
            f"{where}: a duration_ms limit needs exact durations, but this trace was timed "
            f"by the real clock; {REAL_CLOCK_ADVICE}"
        )
    return sum(span.duration_ms for span in spans if span.parent_id is None)


def check_limits(limits: Mapping[str, object], *, where: str) -> dict[str, int | float | None]:
    """Check budget limits; return them (``None`` values mean "no limit").

    Args:
        limits: Limit name (one of :data:`LIMITS`) to an int or float >= 0,
            or ``None`` to lift a limit set elsewhere.
        where: How the caller names the limits in a message, such as
            ``trace.assert_within_budget()``.

    Raises:
        TypeError: for an unknown limit or a value that is not a number.
        ValueError: for a negative or non-finite value.
    """
    __tracebackhide__ = True
    checked: dict[str, int | float | None] = {}
    for key, value in limits.items():
        if key not in LIMITS:
            raise TypeError(
                f"{where}: unknown limit {key!r}; the limits are: {', '.join(LIMITS)}"
            )
        if value is None:
            checked[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(
                f"{where}: {key}={value!r} is not a number; give an int or float >= 0"
                + (" (or None for no limit)" if where.startswith("@") else "")
            )
        if not value >= 0 or math.isinf(value):
            raise ValueError(f"{where}: {key}={value!r}: limits are finite numbers >= 0")
        checked[key] = value
    return checked


def budget_report(
    usage: TraceUsage,
    limits: Mapping[str, int | float | None],
    *,
    duration_ms: int | None = None,
    sources: Mapping[str, str] | None = None,
) -> str | None:
    """Say which ``limits`` the trace goes over, or return ``None`` when within them all.

    Args:
        usage: The trace's figures.
        limits: Checked limits (see :func:`check_limits`); ``None`` values are skipped.
        duration_ms: The trace's total duration, needed for a ``duration_ms`` limit.
        sources: Limit name to where it was set, added to its line.

    Returns:
        One line per limit exceeded (actual against allowed), then the spans
        that contributed most, each with its path; ``None`` when within budget.
    """
    lines = []
    exceeded: list[str] = []
    for key in LIMITS:
        allowed = limits.get(key)
        if allowed is None:
            continue
        where = f"  [{sources[key]}]" if sources and key in sources else ""
        if key == "cost_usd" and usage.unpriced_llm_calls:
            unpriced = [call for call in usage.calls if call.cost_usd is None]
            lines.append(
                f"  cost_usd: unknown, {len(unpriced)} of {_plural(usage.llm_calls, 'llm call')} "
                f"{'has' if len(unpriced) == 1 else 'have'} no price (allowed "
                f"{money(float(allowed))}){where}; give them cost_usd metadata or price them "
                "with a pytest_harn_trace_price hook in conftest.py. Unpriced:"
            )
            lines += [f"    {call.describe()}" for call in unpriced[:_TOP]]
            if len(unpriced) > _TOP:
                lines.append(f"    ... and {len(unpriced) - _TOP} more")
            exceeded.append(key)
            continue
        actual: float | int | None
        if key == "duration_ms":
            actual = duration_ms
        elif key == "cost_usd":
            actual = usage.cost_usd if usage.cost_usd is not None else 0.0
        else:
            actual = getattr(usage, key)
        if actual is None or not _over(actual, allowed):
            continue
        if key == "cost_usd":
            shown, limit = money(float(actual)), money(float(allowed))
        else:
            shown, limit = show(actual), show(allowed)
        what = " (summed root span durations)" if key == "duration_ms" else ""
        lines.append(f"  {key}: {shown} > {limit} allowed{what}{where}")
        exceeded.append(key)
    if not exceeded:
        return None
    calls = [call for call in usage.calls if call.total_tokens or call.cost_usd]
    if calls and any(key not in ("tool_calls", "duration_ms") for key in exceeded):
        by_cost = "cost_usd" in exceeded and not usage.unpriced_llm_calls
        calls.sort(
            key=(lambda call: -(call.cost_usd or 0.0))
            if by_cost
            else (lambda call: -call.total_tokens)
        )
        lines.append(f"top llm_call spans by {'cost' if by_cost else 'tokens'}:")
        lines += [f"  {call.describe()}" for call in calls[:_TOP]]
        if len(calls) > _TOP:
            lines.append(f"  ... and {len(calls) - _TOP} more")
    if "tool_calls" in exceeded:
        lines.append("tool_call spans:")
        lines += [f"  {tool.describe()}" for tool in usage.tools[:_TOP]]
        if len(usage.tools) > _TOP:
            lines.append(f"  ... and {len(usage.tools) - _TOP} more")
    return "\n".join(lines)


def _over(actual: int | float, allowed: int | float) -> bool:
    """Whether ``actual`` exceeds the inclusive ``allowed`` (sums of float costs wobble)."""
    return actual > allowed and not math.isclose(actual, allowed, rel_tol=1e-9, abs_tol=1e-12)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _span_list(spans: Iterable[Span], what: str) -> list[Span]:
    __tracebackhide__ = True
    given: object = spans  # checked: callers may be untyped
    if isinstance(given, Span) or not isinstance(given, Iterable):
        raise TypeError(
            f"TraceUsage.of({what}=...): expected a list of Span (trace.spans), "
            f"got {type(spans).__name__}"
        )
    listed = list(spans)
    for position, item in enumerate(listed):
        if not isinstance(item, Span):
            raise TypeError(
                f"TraceUsage.of({what}=...): item {position} is {type(item).__name__}, "
                "not a Span"
            )
    return listed


def _label(span: Span) -> str:
    return f"span {span.span_id} {span.kind.value} {span.name}"


def _count(
    completed: list[Span], still_open: list[Span], price: Price | None, under: object
) -> TraceUsage:
    __tracebackhide__ = True
    every = completed + still_open
    open_ids = {id(span) for span in still_open}
    by_id = {span.span_id: span for span in every}
    notes: list[str] = []

    def ancestors(span: Span) -> Iterable[Span]:
        seen = {span.span_id}
        parent = span.parent_id
        while parent is not None and parent not in seen and parent in by_id:
            seen.add(parent)
            yield by_id[parent]
            parent = by_id[parent].parent_id

    def path(span: Span) -> str:
        chain = [span, *ancestors(span)]
        return " > ".join(f"{item.kind.value} {item.name}" for item in reversed(chain))

    roots = None if under is None else _select(under, every)
    if roots is not None:
        every = [
            span
            for span in every
            if span.span_id in roots or any(up.span_id in roots for up in ancestors(span))
        ]

    # An llm_call span above another that carries usage repeats its figures.
    wrappers: set[int] = set()
    for span in every:
        if span.kind is SpanKind.LLM_CALL and _has_usage(span):
            for up in ancestors(span):
                if up.kind is SpanKind.LLM_CALL and up.span_id not in wrappers:
                    wrappers.add(up.span_id)
                    notes.append(
                        f"{_label(up)} wraps llm_call spans with usage: counted through them"
                    )

    calls: list[CountedSpan] = []
    tools: list[CountedSpan] = []
    for span in every:
        is_open = id(span) in open_ids
        if span.kind is SpanKind.TOOL_CALL:
            tools.append(CountedSpan(span, is_open, path(span)))
        elif span.kind is SpanKind.LLM_CALL and span.span_id not in wrappers:
            calls.append(_counted_call(span, is_open, path(span), price, notes))

    models: dict[str, list[CountedSpan]] = {}
    for call in calls:
        models.setdefault(call.model, []).append(call)
    by_model = {model: _model_usage(group) for model, group in sorted(models.items())}
    whole = _model_usage(calls)
    unpriced = [call for call in calls if call.cost_usd is None]
    open_calls = [call for call in calls if call.open]
    if open_calls:
        notes.append(
            f"{_plural(len(open_calls), 'llm_call span')} still open, its figures so far "
            "counted: " + ", ".join(_label(call.span) for call in open_calls)
        )
    if unpriced and len(unpriced) < len(calls):
        notes.append(
            f"cost_usd covers {len(calls) - len(unpriced)} of {len(calls)} llm calls; no price: "
            + ", ".join(_label(call.span) for call in unpriced)
        )
    return TraceUsage(
        llm_calls=len(calls),
        tool_calls=len(tools),
        input_tokens=whole.input_tokens,
        output_tokens=whole.output_tokens,
        cache_read_tokens=whole.cache_read_tokens,
        cache_write_tokens=whole.cache_write_tokens,
        total_tokens=whole.total_tokens,
        cost_usd=whole.cost_usd,
        by_model=MappingProxyType(by_model),
        open_llm_calls=len(open_calls),
        unpriced_llm_calls=len(unpriced),
        notes=tuple(notes),
        calls=tuple(calls),
        tools=tuple(tools),
    )


def _has_usage(span: Span) -> bool:
    metadata = span.metadata
    return meta.COST_USD in metadata or any(key in metadata for key in _TOKEN_KEYS)


def _counted_call(
    span: Span, is_open: bool, where: str, price: Price | None, notes: list[str]
) -> CountedSpan:
    __tracebackhide__ = True
    metadata = span.metadata
    tokens = []
    for key in _TOKEN_KEYS:
        value = metadata.get(key)
        count = _token_count(value)
        if count is None:
            notes.append(f"{_label(span)}: {key}={show(value)} is not a token count, not counted")
            count = 0
        tokens.append(count)
    cost = _cost(metadata.get(meta.COST_USD))
    if cost is None and price is not None:
        given = price(span)
        if given is not None:
            if isinstance(given, bool) or not isinstance(given, int | float):
                raise TypeError(
                    f"the price function (the pytest_harn_trace_price hook in a test run) "
                    f"returned {given!r} for {_label(span)}: expected its cost in USD as a "
                    "float >= 0, or None when unknown"
                )
            if not math.isfinite(given) or given < 0:
                raise ValueError(
                    f"the price function (the pytest_harn_trace_price hook in a test run) "
                    f"returned {given!r} for {_label(span)}: a cost is a finite number >= 0"
                )
            cost = float(given)
    model = metadata.get(meta.MODEL)
    input_tokens, output_tokens, cache_read, cache_write = tokens
    return CountedSpan(
        span,
        is_open,
        where,
        model if isinstance(model, str) and model else _NO_MODEL,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cost_usd=cost,
    )


def _token_count(value: object) -> int | None:
    """A token count from metadata: 0 when absent, ``None`` when not a count."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _cost(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    cost = float(value)
    return cost if math.isfinite(cost) and cost >= 0 else None


def _model_usage(calls: Sequence[CountedSpan]) -> ModelUsage:
    costs = [call.cost_usd for call in calls if call.cost_usd is not None]
    return ModelUsage(
        llm_calls=len(calls),
        input_tokens=sum(call.input_tokens for call in calls),
        output_tokens=sum(call.output_tokens for call in calls),
        cache_read_tokens=sum(call.cache_read_tokens for call in calls),
        cache_write_tokens=sum(call.cache_write_tokens for call in calls),
        cost_usd=math.fsum(costs) if costs else None,
    )


_UNDER_ACCEPTS: Final = (
    "pass a span (trace.one(...)), a node(...) or one line of tree text without children, "
    "or a dict of find() criteria such as {'kind': 'pipeline', 'name': 'plan'}"
)


def _select(under: object, spans: list[Span]) -> set[int]:
    """The ids of the spans ``under`` selects (see :meth:`TraceUsage.of`)."""
    __tracebackhide__ = True
    if isinstance(under, Span | OpenSpan):
        return {under.span_id}
    if isinstance(under, str):
        parsed = parse_tree_text(under)
        if len(parsed) != 1 or not isinstance(parsed[0], ExpectedSpan):
            raise ValueError(
                f"usage(under={under!r}): expected one line of tree text naming a span; "
                f"{_UNDER_ACCEPTS}"
            )
        under = parsed[0]
    if isinstance(under, ExpectedSpan):
        if under.children:
            raise ValueError(
                f"usage(under={under!r}): the node has children; under= selects spans by "
                "their own fields only, so give the node without them"
            )
        expected = under
        found = [
            span
            for span in spans
            if (result := local_diffs(expected, span, need_name=True))[0] and not result[1]
        ]
        criteria = repr(under)
    elif isinstance(under, Mapping):
        criteria_map: Mapping[object, object] = under
        for key in criteria_map:
            if not isinstance(key, str):
                raise TypeError(f"usage(under=...): criteria keys must be str, got {key!r}")
        kind = criteria_map.get("kind")
        if isinstance(kind, str):
            kind = SpanKind.parse(kind)
        name = criteria_map.get("name")
        metadata = {
            key: value for key, value in criteria_map.items() if key not in ("kind", "name")
        }
        found = [
            span
            for span in spans
            if (kind is None or matches(kind, span.kind))
            and (name is None or matches(name, span.name))
            and all(
                key in span.metadata and matches(value, span.metadata[key])
                for key, value in metadata.items()
            )
        ]
        criteria = show(dict(criteria_map))
    else:
        raise TypeError(f"usage(under=...) got {type(under).__name__}; {_UNDER_ACCEPTS}")
    if not found:
        listing = "\n".join(f"  {_label(span)}" for span in spans) or "  (none)"
        raise AssertionError(f"usage(under={criteria}): no span matches; the spans:\n{listing}")
    return {span.span_id for span in found}
