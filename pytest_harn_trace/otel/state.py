"""Process-wide state of the OpenTelemetry bridge, in a module of its own.

The span processor, the providers it is attached to and each collector's
capture settings must stay unique per process: a provider cannot drop a
processor, so a second bridge (after a re-import of :mod:`pytest_harn_trace.otel.bridge`,
as in-process ``pytester`` runs do) would capture every span twice. The plugin
imports this module at start-up, and it needs no OpenTelemetry install.
"""

from __future__ import annotations

import threading
import weakref
from contextvars import ContextVar
from typing import Any

__all__ = ["attached", "capturing", "exporting", "lock", "singletons", "states"]

lock = threading.Lock()
"""Guards the first creation of the entries below."""

singletons: dict[str, Any] = {}
"""``"processor"``: the one span processor; ``"provider"``: this package's provider."""

attached: weakref.WeakSet[Any] = weakref.WeakSet()
"""The SDK providers the processor is attached to."""

states: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
"""Each collector's capture state."""

exporting: ContextVar[bool] = ContextVar("harn_otel_exporting", default=False)
"""Set while the export sink drives OpenTelemetry, so its spans are not captured back."""

capturing: ContextVar[bool] = ContextVar("harn_otel_capturing", default=False)
"""Set while the processor drives a collector, so captured spans are not exported again."""
