"""The routes that make sessions and run their turns: create (a server's id or the caller's),
run a turn (JSON or server-sent events), end."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Body, FastAPI, Request, Response

from sessionful.service.app import AgentService
from sessionful.service.http._deps import (
    AgentId,
    NewSessionId,
    Principal,
    SessionId,
    _errors,
    _metrics,
    _service,
)
from sessionful.service.http._errors import agent_call
from sessionful.service.http._middleware import CREATED_SESSION
from sessionful.service.http._requests import CreateSessionRequest, TurnRequest
from sessionful.service.http._responses import (
    SessionCreated,
    SessionEnded,
    TurnResponse,
    rfc3339,
    turn_response,
)
from sessionful.service.http._sse import EventStream, stream_events, wants_events

__all__ = ["add_session_routes"]


def _location(agent_id: str, session_id: str) -> str:
    return f"/v1/agents/{quote(agent_id, safe='')}/sessions/{quote(session_id, safe='')}"


async def _created(
    service: AgentService,
    principal: str,
    agent_id: str,
    session_id: str,
    body: CreateSessionRequest,
) -> SessionCreated:
    """The answer to a creation: the stored session's user, labels and time (``persisted``),
    else what the request gave."""
    record = await service.session_record(principal, agent_id, session_id)
    if record is None or record.corrupt is not None:
        return SessionCreated(
            agent_id=agent_id, session_id=session_id, user_id=body.user_id, labels=body.labels
        )
    return SessionCreated(
        agent_id=agent_id,
        session_id=session_id,
        user_id=record.user_id,
        labels=record.labels,
        created_at=rfc3339(record.created_at),
    )


def add_session_routes(app: FastAPI) -> None:
    """Session creation, turns and ending, on ``app``."""

    @app.post(
        "/v1/agents/{agent_id}/sessions",
        status_code=201,
        response_model=SessionCreated,
        responses=_errors(401, 404, 413, 422, 429, 502, 503),
        summary="Create a session",
        tags=["sessions"],
    )
    async def create_session(
        request: Request,
        response: Response,
        agent_id: AgentId,
        principal: Principal,
        body: Annotated[CreateSessionRequest | None, Body()] = None,
    ) -> SessionCreated:
        """A new session of the agent, with a server-generated id (192 random bits); its agent
        instance is made ready. The body may give its end user and labels. ``Location`` names
        it."""
        body = body or CreateSessionRequest()
        service = _service(request)
        key = await agent_call(
            service.create_session(
                principal, agent_id, user_id=body.user_id, labels=body.labels or None
            ),
            "session creation",
        )
        session_id = key.session_id
        assert session_id is not None  # create_app refuses strategies without session ids
        setattr(request.state, CREATED_SESSION, session_id)
        response.headers["Location"] = _location(agent_id, session_id)
        return await _created(service, principal, agent_id, session_id, body)

    @app.put(
        "/v1/agents/{agent_id}/sessions/{session_id}",
        status_code=201,
        response_model=SessionCreated,
        responses={
            200: {"model": SessionCreated, "description": "The session exists already."},
            201: {"description": "Created."},
            **_errors(401, 404, 413, 422, 429, 500, 502, 503),
        },
        summary="Create a session with your own id",
        tags=["sessions"],
    )
    async def put_session(
        request: Request,
        response: Response,
        agent_id: AgentId,
        session_id: NewSessionId,
        principal: Principal,
        body: Annotated[CreateSessionRequest | None, Body()] = None,
    ) -> SessionCreated:
        """The session with the id you choose: created if it does not exist (201, counted
        against `max_sessions_per_principal`; the body may give its end user and labels), else
        answered as it is (200; its own user and labels kept). Idempotent; your id is yours
        alone (another principal's identical id is another session). After an end, the same id
        starts a fresh session."""
        body = body or CreateSessionRequest()
        service = _service(request)
        _, created = await agent_call(
            service.ensure_session(
                principal,
                agent_id,
                session_id,
                user_id=body.user_id,
                labels=body.labels or None,
            ),
            "session creation",
        )
        response.status_code = 201 if created else 200
        response.headers["Location"] = _location(agent_id, session_id)
        return await _created(service, principal, agent_id, session_id, body)

    @app.post(
        "/v1/agents/{agent_id}/sessions/{session_id}/messages",
        response_model=TurnResponse,
        responses={
            200: {
                "description": "The turn's messages (or, with `Accept: text/event-stream`, "
                "the stream that `.../messages/stream` sends).",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **_errors(401, 404, 409, 413, 422, 500, 502, 503, 504),
        },
        summary="Run a turn",
        tags=["turns"],
    )
    async def run_turn(
        request: Request,
        agent_id: AgentId,
        session_id: SessionId,
        body: TurnRequest,
        principal: Principal,
    ) -> Any:
        """Run one turn on an existing session and return the agent's new messages, or
        (``status: interrupted``) the questions it asks first; answer them in the next turn's
        ``resume``. Send ``Accept: text/event-stream`` to stream it instead."""
        service = _service(request)
        if wants_events(request):
            return await stream_events(request, service, principal, agent_id, session_id, body)
        result = await agent_call(
            service.execute(
                principal,
                agent_id,
                session_id,
                body.messages,
                context=body.context,
                resume=body.resume,
            ),
            "a turn",
        )
        _metrics(request).observe_turn(agent_id, result)
        return turn_response(TurnResponse, agent_id, session_id, result, service.clock)

    @app.post(
        "/v1/agents/{agent_id}/sessions/{session_id}/messages/stream",
        response_class=EventStream,
        responses={
            200: {
                "description": "Server-sent events: one `data:` event per chunk (a "
                "ChatMessage piece; `metadata.index` says which output message it belongs to) "
                "and `event: stream_event` per typed event (a StreamEvent); when the turn is "
                "interrupted, `event: interrupt` per question (an Interrupt); then "
                "`event: done` (a StreamDone: what the JSON answer carries) or `event: error` "
                "(an ErrorResponse).",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **_errors(401, 404, 409, 413, 422, 500, 502, 503, 504, by_ref=True),
        },
        summary="Run a turn, streaming",
        tags=["turns"],
    )
    async def stream_turn(
        request: Request,
        agent_id: AgentId,
        session_id: SessionId,
        body: TurnRequest,
        principal: Principal,
    ) -> EventStream:
        """Run one turn and stream its output as server-sent events."""
        return await stream_events(
            request, _service(request), principal, agent_id, session_id, body
        )

    @app.delete(
        "/v1/agents/{agent_id}/sessions/{session_id}",
        response_model=SessionEnded,
        responses=_errors(401, 404, 422, 500, 503),
        summary="End a session",
        tags=["sessions"],
    )
    async def end_session(
        request: Request, agent_id: AgentId, session_id: SessionId, principal: Principal
    ) -> SessionEnded:
        """End the session: wait for its turn in flight, destroy its instance, delete what the
        store holds for it; say what went."""
        report = await agent_call(
            _service(request).end_session(principal, agent_id, session_id), "ending a session"
        )
        return SessionEnded(
            agent_id=agent_id,
            session_id=session_id,
            unloaded=report.unloaded,
            deleted=report.deleted,
        )
