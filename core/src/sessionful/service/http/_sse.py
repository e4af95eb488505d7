"""A streamed turn as server-sent events: one ``data:`` event per chunk (and an
``event: stream_event`` per typed event); for an interrupted turn an ``event: interrupt`` per
question; then ``event: done`` (a :class:`StreamDone`: what the JSON answer to the turn
carries) or ``event: error``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse

from sessionful.models import ExecutionResult, StreamEvent
from sessionful.service.app import AgentService
from sessionful.service.http._errors import agent_call, error_body, error_for
from sessionful.service.http._metrics import ServiceMetrics
from sessionful.service.http._requests import TurnRequest
from sessionful.service.http._responses import StreamDone, turn_response
from sessionful.service.turns import TurnItem

__all__ = ["EventStream", "stream_events", "wants_events"]

logger = logging.getLogger("sessionful.service.http")


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response."""

    media_type = "text/event-stream"


def wants_events(request: Request) -> bool:
    """Whether the client asked for server-sent events (``Accept: text/event-stream``)."""
    return "text/event-stream" in request.headers.get("accept", "")


def _sse(data: Any, event: str | None = None) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n" if event else f"data: {text}\n\n"


async def _next(items: AsyncIterator[TurnItem]) -> TurnItem | None:
    try:
        return await items.__anext__()
    except StopAsyncIteration:
        return None


async def _close(items: AsyncGenerator[TurnItem, None]) -> None:
    with anyio.CancelScope(shield=True):
        await items.aclose()


async def stream_events(
    request: Request,
    service: AgentService,
    principal: str,
    agent_id: str,
    session_id: str,
    body: TurnRequest,
) -> EventStream:
    """Start a streamed turn. Everything that can fail before the first item (unknown session,
    limits, pending interrupts, a busy session, a timeout) fails here, as an ordinary JSON
    error; later failures end the stream with an ``event: error``. The service applies the
    turn timeout."""
    metrics: ServiceMetrics = request.app.state.metrics
    items = service.stream(
        principal, agent_id, session_id, body.messages, context=body.context, resume=body.resume
    )
    try:
        first = await agent_call(_next(items), "a streamed turn")
    except BaseException:
        await _close(items)
        raise

    async def events() -> AsyncIterator[str]:
        try:
            item = first
            while item is not None:
                if isinstance(item, ExecutionResult):
                    metrics.observe_turn(agent_id, item)
                    for interrupt in item.interrupts:
                        yield _sse(interrupt.model_dump(mode="json"), "interrupt")
                    done = turn_response(StreamDone, agent_id, session_id, item, service.clock)
                    yield _sse(done.model_dump(mode="json"), "done")
                elif isinstance(item, StreamEvent):
                    yield _sse(item.model_dump(mode="json"), "stream_event")
                else:
                    yield _sse(item.model_dump(mode="json"))
                item = await agent_call(_next(items), "a streamed turn")
        except Exception as exc:
            error = error_for(exc)
            if error.status >= 500 and error.code != "agent_failed":  # agent failures: logged
                logger.error(
                    "streamed turn failed: %s (%r)",
                    error.code,
                    exc,
                    exc_info=exc if error.code == "internal_error" else None,
                )
            yield _sse(error_body(error.code, error.message, **error.extra), "error")
        finally:
            await _close(items)

    return EventStream(events(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
