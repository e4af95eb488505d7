"""Tracing of turns with OpenTelemetry (extra ``otel``: ``pip install 'sessionful[otel]'``).

:class:`TurnTracer` is a sessionful plugin of the lifecycle hooks: every turn becomes one span,
``invoke_agent <agent id>``, parented to whatever span is current when the turn runs (in the
HTTP service, the caller's W3C ``traceparent``, put in place by :class:`TraceContextMiddleware`)::

    from sessionful import SessionManager
    from sessionful.otel import TurnTracer

    manager = SessionManager(..., plugins=[TurnTracer()])  # the global tracer provider

A turn's span carries the agent, the session key, how the turn found its instance, its status,
its tokens and its duration; the instance's creation or restore before the turn is an event on
it. An eviction is a short span of its own, ``evict <agent id>``, with the event, parented to the
current context: the request whose new session made room (``capacity``), or none (the sweeper).

The service turns it on with ``[tracing] enabled = true`` (see ``docs/service.md``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Span, SpanKind, Tracer, TracerProvider
except ModuleNotFoundError as exc:  # pragma: no cover - the dev environment has the extra
    raise ImportError(
        f"sessionful.otel needs OpenTelemetry ({exc.name} is missing): "
        "pip install 'sessionful[otel]'",
        name=exc.name,
    ) from None

from sessionful import __version__
from sessionful.content import Usage
from sessionful.hookspecs import hookimpl
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage, Interrupt, UnloadReason

__all__ = [
    "INSTALL_HINT",
    "TraceContextMiddleware",
    "TurnTracer",
    "build_tracer_provider",
]

INSTALL_HINT = "pip install 'sessionful[otel]'"
"""What to run when OpenTelemetry is missing."""

_Event = tuple[str, dict[str, Any], int]


class TurnTracer:
    """A sessionful plugin that traces turns (see the module's docstring).

    Args:
        tracer_provider: where the spans go; ``None``: OpenTelemetry's global provider.
        max_pending: sessions whose creation or restore waits for their turn's span, at most
            (a creation whose turn never completes is forgotten past it).

    Span attributes: ``sessionful.agent_id``, ``sessionful.session_key`` (the text form),
    ``sessionful.session_id``, ``sessionful.instance_event`` (``created`` / ``restored`` /
    ``reused``), ``sessionful.turn.status`` (``completed`` / ``interrupted``),
    ``sessionful.turn.duration`` (the agent's seconds), ``sessionful.turn.messages``, and in the
    GenAI semantic conventions' names ``gen_ai.operation.name`` (``invoke_agent``),
    ``gen_ai.agent.id``, ``gen_ai.conversation.id``, ``gen_ai.usage.input_tokens`` and
    ``gen_ai.usage.output_tokens`` (when the framework reports usage). Events:
    ``sessionful.session.created``, ``sessionful.session.restored``,
    ``sessionful.turn.interrupted`` (with the interrupt ids), ``sessionful.session.evicted``
    (on an eviction's own span, with its reason).
    """

    sessionful_tracing = True
    """Marks a tracing plugin: the HTTP service then reads incoming ``traceparent`` headers."""

    def __init__(
        self, tracer_provider: TracerProvider | None = None, *, max_pending: int = 10_000
    ) -> None:
        self.tracer: Tracer = trace.get_tracer(
            "sessionful", __version__, tracer_provider=tracer_provider
        )
        self.tracer_provider = tracer_provider
        self._max_pending = max_pending
        self._pending: OrderedDict[SessionKey, list[_Event]] = OrderedDict()
        self._interrupting: dict[SessionKey, tuple[Span, int]] = {}

    def shutdown(self) -> None:
        """Flush and stop the tracer provider given, if it can (an SDK provider)."""
        stop = getattr(self.tracer_provider, "shutdown", None)
        if stop is not None:
            stop()

    def _note(self, key: SessionKey, name: str, attributes: dict[str, Any]) -> None:
        events = self._pending.pop(key, [])
        events.append((name, attributes, time.time_ns()))
        self._pending[key] = events
        while len(self._pending) > self._max_pending:
            self._pending.popitem(last=False)

    @staticmethod
    def _attributes(key: SessionKey) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "sessionful.agent_id": key.agent_id,
            "sessionful.session_key": str(key),
            "gen_ai.agent.id": key.agent_id,
        }
        if key.session_id is not None:
            attributes["sessionful.session_id"] = key.session_id
            attributes["gen_ai.conversation.id"] = key.session_id
        return attributes

    # -- lifecycle hooks --------------------------------------------------------------------

    @hookimpl
    def session_created(self, key: SessionKey) -> None:
        self._note(key, "sessionful.session.created", {})

    @hookimpl
    def session_restored(self, key: SessionKey) -> None:
        self._note(key, "sessionful.session.restored", {})

    @hookimpl
    def session_evicted(self, key: SessionKey, reason: UnloadReason) -> None:
        self._pending.pop(key, None)
        attributes = {**self._attributes(key), "sessionful.evict.reason": reason}
        span = self.tracer.start_span(
            f"evict {key.agent_id}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        span.add_event("sessionful.session.evicted", {"sessionful.evict.reason": reason})
        span.end()

    @hookimpl
    def session_ended(self, key: SessionKey) -> None:
        self._pending.pop(key, None)

    @hookimpl
    def turn_completed(
        self,
        key: SessionKey,
        messages: Sequence[ChatMessage],
        duration: float,
        instance_event: str,
        status: str,
        usage: Usage | None,
    ) -> None:
        end = time.time_ns()
        start = end - int(max(0.0, duration) * 1e9)
        events = self._pending.pop(key, [])
        if events:
            start = min(start, min(stamp for _, _, stamp in events))
        attributes = {
            **self._attributes(key),
            "gen_ai.operation.name": "invoke_agent",
            "sessionful.instance_event": instance_event,
            "sessionful.turn.status": status,
            "sessionful.turn.duration": max(0.0, duration),
            "sessionful.turn.messages": len(messages),
        }
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        span = self.tracer.start_span(
            f"invoke_agent {key.agent_id}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=start,
        )
        for name, event_attributes, stamp in events:
            span.add_event(name, event_attributes, timestamp=stamp)
        stale = self._interrupting.pop(key, None)
        if stale is not None:  # never happens: turn_interrupted follows at once
            stale[0].end(end_time=stale[1])
        if status == "interrupted":  # ended by turn_interrupted, with the interrupts
            self._interrupting[key] = (span, end)
        else:
            span.end(end_time=end)

    @hookimpl
    def turn_interrupted(self, key: SessionKey, interrupts: Sequence[Interrupt]) -> None:
        found = self._interrupting.pop(key, None)
        if found is None:
            return
        span, end = found
        span.add_event(
            "sessionful.turn.interrupted",
            {"sessionful.interrupt.ids": [interrupt.id for interrupt in interrupts]},
            timestamp=end,
        )
        span.end(end_time=end)


def build_tracer_provider(
    exporter: str, *, service_name: str = "sessionful", endpoint: str | None = None
) -> TracerProvider | None:
    """A tracer provider for the service's ``[tracing]``: ``"otlp"`` (OTLP over HTTP to
    ``endpoint``, else the ``OTEL_EXPORTER_OTLP_*`` variables, else ``localhost:4318``),
    ``"console"`` (spans printed on standard output), or ``"global"`` (``None``: the provider the
    process has set up, e.g. by ``opentelemetry-instrument``)."""
    if exporter == "global":
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    span_exporter: SpanExporter
    if exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ModuleNotFoundError as exc:
            raise ImportError(
                f"the OTLP exporter is missing ({exc.name}): {INSTALL_HINT}", name=exc.name
            ) from None
        span_exporter = OTLPSpanExporter(endpoint=endpoint)
    elif exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        span_exporter = ConsoleSpanExporter()
    else:
        raise ValueError(f"unknown exporter {exporter!r}: otlp, console or global")
    provider = SdkTracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider


_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class TraceContextMiddleware:
    """Pure ASGI middleware: a request's W3C trace context (``traceparent``, ``tracestate``,
    and ``baggage``, or whatever ``OTEL_PROPAGATORS`` names) is the current OpenTelemetry
    context while the request is served, so the spans of its turn are the caller's children."""

    def __init__(self, app: Callable[[_Scope, _Receive, _Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
        }
        token = otel_context.attach(propagate.extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
