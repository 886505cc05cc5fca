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
import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pytest_harn_trace.model import JsonValue, SpanKind

__all__ = [
    "CONTENT_KEYS",
    "OtelSpanMapping",
    "ValueNormalizer",
    "map_kind_and_name",
    "metadata_from_attributes",
]

_HARN_KEYS: Final = frozenset({"harn.kind", "harn.json_keys"})
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


def metadata_from_attributes(
    attributes: Mapping[str, Any], *, keep_content: bool
) -> dict[str, JsonValue]:
    """Return a span's attributes as metadata, with the canonical usage keys added.

    Sequences become lists and non-finite floats ``None`` (as for every Harn
    value). ``keep_content=False`` leaves out :data:`CONTENT_KEYS` and
    OpenInference's flattened message and tool keys.
    """
    metadata: dict[str, JsonValue] = {}
    for key, value in attributes.items():
        if not keep_content and (key in CONTENT_KEYS or key.startswith(_CONTENT_PREFIXES)):
            continue
        # How this package exported a span (a valid harn.kind, which keys hold JSON text).
        if key in _HARN_KEYS and (key == "harn.json_keys" or value in SpanKind._value2member_map_):
            continue
        kind = type(value)
        if kind is str or kind is int or kind is bool:
            metadata[key] = value
        elif kind is float:
            metadata[key] = value if math.isfinite(value) else None
        else:  # the SDK stores sequences as tuples of one primitive type
            metadata[key] = [
                item if type(item) is not float or math.isfinite(item) else None for item in value
            ]
    json_keys = attributes.get("harn.json_keys")
    if json_keys:
        for key in json_keys:
            if type(metadata.get(key)) is str:
                with contextlib.suppress(ValueError):
                    metadata[key] = json.loads(metadata[key])
    for canonical, sources in _CANONICAL:
        if canonical not in metadata:
            for source in sources:
                value = attributes.get(source)
                if value is not None:
                    metadata[canonical] = value
                    break
    return metadata


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

    __slots__ = ("_counts", "_lock", "_seen")

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def normalize(self, metadata: dict[str, JsonValue]) -> None:
        """Replace volatile values in ``metadata`` in place."""
        for key, value in metadata.items():
            if type(value) is not str:
                continue
            if key.endswith((".id", "_id")) and value:
                metadata[key] = self._placeholder(value, _label(key))
            elif len(value) >= 26:
                replaced = _UUID.sub(lambda match: self._placeholder(match[0], "uuid"), value)
                metadata[key] = _ULID.sub(
                    lambda match: self._placeholder(match[0], "ulid"), replaced
                )

    def _placeholder(self, value: str, label: str) -> str:
        with self._lock:
            found = self._seen.get(value)
            if found is None:
                count = self._counts.get(label, 0) + 1
                self._counts[label] = count
                found = self._seen[value] = f"<{label}_{count}>"
            return found


def _label(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    return key.replace(".", "_")
