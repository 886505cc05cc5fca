"""How an OpenTelemetry span becomes a Harn span: kind, name, metadata, stable values.

Pure functions over a span's name and attributes, so this module needs no
OpenTelemetry install. The rules, applied in this order (first match wins):

1. GenAI semantic conventions, ``gen_ai.operation.name``: ``chat``,
   ``text_completion``, ``generate_content``, ``embeddings`` -> ``llm_call`` named
   by ``gen_ai.request.model``; ``execute_tool`` -> ``tool_call`` named by
   ``gen_ai.tool.name``; ``invoke_agent``, ``create_agent`` -> ``pipeline`` named
   by ``gen_ai.agent.name``; ``invoke_workflow`` -> ``pipeline``.
2. OpenInference, ``openinference.span.kind``: ``LLM``, ``EMBEDDING`` ->
   ``llm_call``; ``TOOL``, ``RETRIEVER`` -> ``tool_call``; ``AGENT`` ->
   ``pipeline``; ``CHAIN`` -> ``step``.
3. A ``harn.kind`` attribute naming a Harn kind (what :mod:`otel_export` writes).
4. Anything else is a ``fn_call``.

A rule's name attribute falls back to the OpenTelemetry span name.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, final

from pytest_harn_trace.tracing.model import JsonValue, SpanKind

__all__ = [
    "CONTENT_KEYS",
    "OtelSpanMapping",
    "ValueNormalizer",
    "map_kind_and_name",
    "map_span",
    "metadata_from_attributes",
]

_LLM_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_AGENT_OPERATIONS: Final = frozenset({"invoke_agent", "create_agent"})

# OpenInference span kind -> (Harn kind, attribute naming the span).
_OPENINFERENCE: Final[dict[str, tuple[SpanKind, str | None]]] = {
    "LLM": (SpanKind.LLM_CALL, "llm.model_name"),
    "EMBEDDING": (SpanKind.LLM_CALL, "embedding.model_name"),
    "TOOL": (SpanKind.TOOL_CALL, "tool.name"),
    "RETRIEVER": (SpanKind.TOOL_CALL, None),
    "AGENT": (SpanKind.PIPELINE, "agent.name"),
    "CHAIN": (SpanKind.STEP, None),
}

CONTENT_KEYS: Final = frozenset(
    {
        # GenAI semantic conventions
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.prompt",
        "gen_ai.completion",
        # pydantic-ai / Logfire
        "model_request_parameters",
        "pydantic_ai.all_messages",
        "all_messages_events",
        "logfire.json_schema",
        # OpenInference
        "input.value",
        "output.value",
        "llm.invocation_parameters",
    }
)
"""Attributes holding bulky content (messages, instructions, tool schemas), left out by default."""

# OpenInference flattens message lists into indexed keys: llm.input_messages.0.message.content.
_CONTENT_PREFIXES: Final = (
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.tools.",
    "llm.prompts.",
)

# Usage attributes also stored under Harn's canonical keys (first present wins).
_CANONICAL: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("model", ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name")),
    ("provider", ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")),
    ("input_tokens", ("gen_ai.usage.input_tokens", "llm.token_count.prompt")),
    ("output_tokens", ("gen_ai.usage.output_tokens", "llm.token_count.completion")),
    (
        "cache_read_tokens",
        ("gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read"),
    ),
    (
        "cache_write_tokens",
        ("gen_ai.usage.cache_creation.input_tokens", "llm.token_count.prompt_details.cache_write"),
    ),
)


@dataclass(slots=True)
class OtelSpanMapping:
    """The Harn span an OpenTelemetry span becomes (``pytest_harn_trace_otel_span`` edits it).

    Attributes:
        kind: The Harn kind (a :class:`SpanKind` or its name).
        name: The span name.
        metadata: The span's metadata: its attributes as JSON values, plus the
            canonical usage keys, ``status`` and ``error``.
    """

    kind: SpanKind | str
    name: str
    metadata: dict[str, JsonValue] = field(default_factory=dict)


def map_kind_and_name(name: str, attributes: Mapping[str, Any]) -> tuple[SpanKind, str]:
    """Return the Harn kind and name for an OpenTelemetry span (see the module's rules)."""
    operation = attributes.get("gen_ai.operation.name")
    if operation is not None:
        if operation in _LLM_OPERATIONS:
            return SpanKind.LLM_CALL, _text(attributes.get("gen_ai.request.model"), name)
        if operation == "execute_tool":
            return SpanKind.TOOL_CALL, _text(attributes.get("gen_ai.tool.name"), name)
        if operation in _AGENT_OPERATIONS:
            return SpanKind.PIPELINE, _text(attributes.get("gen_ai.agent.name"), name)
        if operation == "invoke_workflow":
            return SpanKind.PIPELINE, _text(attributes.get("gen_ai.workflow.name"), name)
    openinference = attributes.get("openinference.span.kind")
    if openinference is not None:
        rule = _OPENINFERENCE.get(str(openinference).upper())
        if rule is not None:
            kind, name_key = rule
            return kind, _text(attributes.get(name_key) if name_key else None, name)
    harn_kind = attributes.get("harn.kind")
    if type(harn_kind) is str and harn_kind in SpanKind._value2member_map_:
        return SpanKind(harn_kind), name
    return SpanKind.FN_CALL, name


def _text(value: object, default: str) -> str:
    return value if type(value) is str and value else default


# Attribute key -> its placeholder label ("" for a key that holds no id).
_labels: dict[str, str] = {}


def map_span(
    name: str,
    attributes: Mapping[str, Any] | None,
    keep_content: bool,
    normalizer: ValueNormalizer | None,
) -> tuple[SpanKind, str, dict[str, JsonValue]]:
    """Return the Harn kind, name and metadata of an OpenTelemetry span.

    Metadata is :func:`metadata_from_attributes`, with volatile values
    replaced through ``normalizer`` (``None`` keeps them); a ``harn.kind`` that
    gave the kind is not repeated in it.
    """
    metadata = (
        metadata_from_attributes(attributes, keep_content=keep_content, normalizer=normalizer)
        if attributes
        else {}
    )
    kind, name = map_kind_and_name(name, metadata)
    if "harn.kind" in metadata and metadata["harn.kind"] == kind.value:
        del metadata["harn.kind"]
    return kind, name, metadata


def metadata_from_attributes(
    attributes: Mapping[str, Any],
    *,
    keep_content: bool,
    normalizer: ValueNormalizer | None = None,
) -> dict[str, JsonValue]:
    """Return a span's attributes as metadata, with the canonical usage keys added.

    Sequences become lists and non-finite floats ``None`` (as for every Harn
    value). ``keep_content=False`` leaves out :data:`CONTENT_KEYS` and
    OpenInference's flattened message and tool keys. A canonical key
    (``model``, ``input_tokens``...) takes the first of its sources present,
    unless an attribute of that very name is there. With a ``normalizer``,
    ids, UUIDs and ULIDs become placeholders (see :class:`ValueNormalizer`).
    """
    keys = tuple(attributes)
    plan = _plans.get((keys, keep_content)) or _plan(keys, keep_content)
    metadata: dict[str, JsonValue] = {}
    seen = None if normalizer is None else normalizer._seen
    for key, label in plan.keep:
        value = attributes[key]
        kind = type(value)
        if kind is str:
            if seen is not None and value:
                if label:
                    value = seen.get(value) or normalizer._placeholder(  # type: ignore[union-attr]
                        value, label
                    )
                elif len(value) >= 26:
                    value = normalizer.replace_in_text(value)  # type: ignore[union-attr]
        elif kind is float:
            value = value if math.isfinite(value) else None
        elif kind is not int and kind is not bool:
            # The SDK stores sequences as tuples of one primitive type.
            value = [
                item if type(item) is not float or math.isfinite(item) else None for item in value
            ]
        metadata[key] = value
    for feed, source in plan.canonical:
        value = metadata[source]
        if value is not None:
            metadata[feed] = value
    if plan.json_keys:  # which keys the export wrote as JSON text
        for key in attributes["harn.json_keys"]:
            if type(metadata.get(key)) is str:
                with contextlib.suppress(ValueError):
                    metadata[key] = json.loads(metadata[key])
    return metadata


@final
class _Plan:
    """What to do with the attributes of a span, worked out once per set of keys."""

    __slots__ = ("canonical", "json_keys", "keep")

    def __init__(self, keys: tuple[str, ...], keep_content: bool) -> None:
        self.keep = tuple(
            (key, _label(key))
            for key in keys
            if key != "harn.json_keys"
            and (keep_content or not (key in CONTENT_KEYS or key.startswith(_CONTENT_PREFIXES)))
        )
        kept = {key for key, _ in self.keep}
        self.canonical = tuple(
            (feed, source)
            for feed, sources in _CANONICAL
            if feed not in kept
            for source in [next((source for source in sources if source in kept), None)]
            if source is not None
        )
        self.json_keys = "harn.json_keys" in keys


# Spans of one instrumentation share their attribute keys: their plans are cached.
_plans: dict[tuple[tuple[str, ...], bool], _Plan] = {}


def _plan(keys: tuple[str, ...], keep_content: bool) -> _Plan:
    plan = _Plan(keys, keep_content)
    if len(_plans) < 4_096:
        _plans[keys, keep_content] = plan
    return plan


_UUID: Final = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_ULID: Final = re.compile(r"\b[0-7][0-9A-HJKMNP-TV-Z]{25}\b")
# gen_ai.tool.call.id -> tool_call_id; session.id -> session_id.
_PREFIXES: Final = ("gen_ai.", "llm.")


class ValueNormalizer:
    """Replaces values that change on every run with placeholders, in first-seen order.

    Ids (string attributes whose key ends in ``.id`` or ``_id``: conversation,
    response, tool-call, agent-call ids) become ``<tool_call_id_1>``, named
    after the key; UUIDs and ULIDs anywhere else in a string become
    ``<uuid_1>`` / ``<ulid_1>``. The same value always gets the same
    placeholder within one trace, so references between spans survive.
    """

    __slots__ = ("_counts", "_seen")

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._counts: dict[str, itertools.count[int]] = {}

    def normalize(self, metadata: dict[str, JsonValue]) -> None:
        """Replace volatile values in ``metadata`` in place."""
        for key, value in metadata.items():
            if type(value) is not str or not value:
                continue
            label = _labels.get(key)
            if label is None:
                label = _label(key)
            if label:
                metadata[key] = self._seen.get(value) or self._placeholder(value, label)
            elif len(value) >= 26:
                metadata[key] = self.replace_in_text(value)

    def reserve_ids(self, attributes: Mapping[str, Any]) -> None:
        """Give the ids among ``attributes`` their placeholders now, without changing anything.

        For ids known when a span starts: numbering them then follows start order.
        """
        seen = self._seen
        for key, value in attributes.items():
            if type(value) is str and value and value not in seen:
                label = _labels.get(key)
                if label is None:
                    label = _label(key)
                if label:
                    self._placeholder(value, label)

    def replace_in_text(self, text: str) -> str:
        """Return ``text`` with each UUID and ULID in it replaced by its placeholder."""
        if _UUID.search(text):
            text = _UUID.sub(lambda match: self._placeholder(match[0], "uuid"), text)
        if _ULID.search(text):
            text = _ULID.sub(lambda match: self._placeholder(match[0], "ulid"), text)
        return text

    def _placeholder(self, value: str, label: str) -> str:
        # Lock-free: next() on a count and setdefault are atomic. Two threads
        # racing on one new value both draw a number and one of them is unused.
        found = self._seen.get(value)
        if found is None:
            counter = self._counts.get(label) or self._counts.setdefault(
                label, itertools.count(1)
            )
            found = self._seen.setdefault(value, f"<{label}_{next(counter)}>")
        return found


def _label(key: str) -> str:
    """``gen_ai.tool.call.id`` -> ``tool_call_id``; ``""`` for a key that holds no id."""
    label = ""
    if key.endswith((".id", "_id")):
        label = key
        for prefix in _PREFIXES:
            if label.startswith(prefix):
                label = label[len(prefix) :]
                break
        label = label.replace(".", "_")
    if len(_labels) < 10_000:
        _labels[key] = label
    return label
