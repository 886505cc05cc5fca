"""Canonical metadata keys for trace spans.

Viewers key off these exact strings to render token flame graphs and
tool-selection events, so they are defined once here (as in Harn's
``tracing::meta``) rather than retyped at each emission site.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CACHE_READ_TOKENS",
    "CACHE_WRITE_TOKENS",
    "COST_USD",
    "DETAIL",
    "FROM_MODEL",
    "INPUT_TOKENS",
    "MODEL",
    "OUTPUT_TOKENS",
    "PROVIDER",
    "QUERY",
    "REASON",
    "SCORE",
    "SOURCE",
    "TOOL_COUNT",
    "TOOL_NAME",
    "TOOL_NAMES",
    "TO_MODEL",
]

# llm_call token and cost attribution.
MODEL: Final = "model"
PROVIDER: Final = "provider"
INPUT_TOKENS: Final = "input_tokens"
OUTPUT_TOKENS: Final = "output_tokens"
CACHE_READ_TOKENS: Final = "cache_read_tokens"
CACHE_WRITE_TOKENS: Final = "cache_write_tokens"
COST_USD: Final = "cost_usd"

# model_route.
FROM_MODEL: Final = "from_model"
TO_MODEL: Final = "to_model"
REASON: Final = "reason"

# tool_mount.
TOOL_NAMES: Final = "tool_names"
TOOL_COUNT: Final = "tool_count"
SOURCE: Final = "source"
DETAIL: Final = "detail"

# deferred_tool_load.
TOOL_NAME: Final = "tool_name"
QUERY: Final = "query"
SCORE: Final = "score"
