"""Sharing OpenTelemetry's global ``TracerProvider`` with the suite under test.

OpenTelemetry lets a process set its global provider once; a second
``set_tracer_provider`` is refused with only a log line. The ``trace``
fixture must never use up that one chance, or the suite's own provider (a
session fixture, ``logfire.configure()``, an app factory) would be refused
depending on which test ran first. So, at the start of each ``trace`` test:

- a provider the suite set (an SDK ``TracerProvider``, or Logfire's proxy
  around one) gets the capture processor; its own processors and exporters
  still get every span;
- when none is set yet, a stand-in takes the global slot *without* using up
  the set-once guard: its tracers record into the ``trace`` fixture (and
  nothing outside ``trace`` tests), and the suite's later
  ``set_tracer_provider`` succeeds exactly as without the plugin. From then
  on the stand-in's tracers (module-level ``trace.get_tracer(...)`` ones
  included) start their spans in the suite's provider;
- a provider set later, during a test or after it, gets the capture
  processor the moment it is set, and so does the SDK provider Logfire swaps
  in when it is configured again (as ``capfire`` does for each test).

A global provider the processor cannot be attached to (not an SDK one) fails
the ``trace`` test that is running when it is set, right there, and every
later ``trace`` test at its setup, with a message that names it and the fix.

To keep the set-once guard unused, this module reads and writes two private
names of ``opentelemetry.trace``: ``_TRACER_PROVIDER`` and
``_TRACER_PROVIDER_SET_ONCE`` (the ones OpenTelemetry's own test helpers
reset). Without them (a future OpenTelemetry), no stand-in is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util._once import Once

from pytest_harn_trace.otel import state as otel_state
from pytest_harn_trace.otel.bridge import OtelProviderError, _type_name, attach, tracer_provider
from pytest_harn_trace.tracing import collector as _collector

__all__ = ["capture_global_provider"]

_FIX = (
    "set an opentelemetry.sdk.trace.TracerProvider as the global provider, give your "
    "instrumentation trace.otel_tracer_provider, or turn OpenTelemetry capture off with the "
    "ini option harn_trace_otel = off"
)


def capture_global_provider() -> TracerProvider:
    """Make the global ``TracerProvider``'s spans reach the ``trace`` fixture; return it.

    An SDK provider (or Logfire's proxy around one) gets the capture processor.
    When no provider was set, a stand-in that the application can still
    replace takes the global slot, and this package's :func:`tracer_provider`
    is returned.

    Raises:
        OtelProviderError: when the global provider is of another kind.
    """
    # Reading it first loads a provider named by OTEL_PYTHON_TRACER_PROVIDER, as it would.
    current = otel_trace.get_tracer_provider()
    if current is _STAND_IN or isinstance(current, otel_trace.ProxyTracerProvider):
        _install_stand_in()
        return tracer_provider()
    sdk = _sdk_provider(current)
    if sdk is None:
        raise OtelProviderError(
            f"the global OpenTelemetry TracerProvider is {_type_name(current)}, not an SDK "
            f"TracerProvider, so the trace fixture cannot see its spans; {_FIX}"
        )
    _follow_swaps(current)
    return attach(sdk)


@final
class _FollowingTracer(otel_trace.ProxyTracer):
    """A tracer of the stand-in: starts each span in the global provider of the moment.

    That is the suite's provider once it set one, else this package's
    (which records only while tracing is on, as the real stand-in records nothing).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._args = args
        self._provider: object = None
        self._current: otel_trace.Tracer | None = None

    @property
    def _tracer(self) -> otel_trace.Tracer:  # the property ProxyTracer starts spans with
        provider: otel_trace.TracerProvider = otel_trace.get_tracer_provider()
        if provider is _STAND_IN:
            provider = tracer_provider()
        tracer = self._current
        if provider is not self._provider or tracer is None:
            tracer = self._current = provider.get_tracer(*self._args)
            self._provider = provider
        return tracer


@final
class _StandIn(otel_trace.ProxyTracerProvider):
    """Holds the global slot until the suite sets its own provider; still a proxy to checks."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> otel_trace.Tracer:
        args: tuple[Any, ...] = (
            instrumenting_module_name,
            instrumenting_library_version,
            schema_url,
        )
        # Older OpenTelemetry (1.25 among them) takes no attributes, nor do its callers pass any.
        return (
            _FollowingTracer(*args) if attributes is None else _FollowingTracer(*args, attributes)
        )


@final
class _WatchedOnce(Once):
    """OpenTelemetry's set-once guard of the global provider, noticing when it is used."""

    def __init__(self, guarded: Once) -> None:
        super().__init__()
        self._lock = guarded._lock  # a set already waiting on the old guard is not lost
        self._done = guarded._done

    def do_once(self, func: Callable[[], None]) -> bool:
        __tracebackhide__ = True
        did = super().do_once(func)
        if did:
            _provider_was_set()
        return did


with otel_state.lock:
    _STAND_IN: _StandIn = otel_state.singletons.setdefault("stand_in", _StandIn())


def _install_stand_in() -> None:
    """Put the stand-in in the empty global slot, leaving the set-once guard unused."""
    guard = getattr(otel_trace, "_TRACER_PROVIDER_SET_ONCE", None)
    if not isinstance(guard, Once) or not hasattr(otel_trace, "_TRACER_PROVIDER"):
        return
    with guard._lock:
        if guard._done or otel_trace._TRACER_PROVIDER is not None:
            return  # the suite set its provider meanwhile: the next trace test attaches to it
        otel_trace._TRACER_PROVIDER = _STAND_IN
        # Re-imports of this module make a new class: tell a watched guard by its attribute.
        if not getattr(guard, "_harn_watched", False):
            watched = _WatchedOnce(guard)
            watched._harn_watched = True  # type: ignore[attr-defined]
            otel_trace._TRACER_PROVIDER_SET_ONCE = watched


def _provider_was_set() -> None:
    """Attach the capture processor to the provider the suite just set."""
    __tracebackhide__ = True
    current = otel_trace.get_tracer_provider()
    sdk = _sdk_provider(current)
    if sdk is not None:
        _follow_swaps(current)
        attach(sdk)
    elif _collector._enabled:  # a trace test is running: its spans from now on would be lost
        raise OtelProviderError(
            f"set_tracer_provider({_type_name(current)}) while the trace fixture captures "
            "OpenTelemetry spans: the trace fixture cannot see the spans of a provider that "
            f"is not an SDK TracerProvider; {_FIX}"
        )


def _sdk_provider(provider: object) -> TracerProvider | None:
    if isinstance(provider, TracerProvider):
        return provider
    # Logfire's ProxyTracerProvider wraps the SDK provider it configured.
    inner = getattr(provider, "provider", None)
    return inner if isinstance(inner, TracerProvider) else None


def _follow_swaps(proxy: Any) -> None:
    """Attach to each SDK provider a Logfire proxy swaps in (``logfire.configure()`` again)."""
    set_provider = getattr(proxy, "set_provider", None)
    if not callable(set_provider) or getattr(set_provider, "_harn_follows", False):
        return

    def following(provider: Any) -> None:
        set_provider(provider)
        sdk = _sdk_provider(proxy)
        if sdk is not None:
            attach(sdk)

    following._harn_follows = True  # type: ignore[attr-defined]
    proxy.set_provider = following
