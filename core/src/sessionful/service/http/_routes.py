"""The routes: sessions, turns, listing, history, ending; health and metrics.

Every route but ``/healthz`` and ``/metrics`` answers in the caller's name: the API key maps to a
principal, and the principal is the namespace of every session key it touches, so another
principal's session id answers exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from sessionful.keys import MAX_ID_LENGTH
from sessionful.models import Interrupt, StreamEvent
from sessionful.service.app import AgentService
from sessionful.service.http._errors import ApiError, agent_call
from sessionful.service.http._metrics import ServiceMetrics
from sessionful.service.http._middleware import CREATED_SESSION
from sessionful.service.http._models import (
    CreateSessionRequest,
    ErrorResponse,
    Health,
    SessionCreated,
    SessionDetail,
    SessionEnded,
    SessionList,
    StreamDone,
    TurnRequest,
    TurnResponse,
    summary,
    turn_response,
)
from sessionful.service.http._sse import EventStream, stream_events, wants_events

__all__ = ["add_routes"]

_ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
"""No control characters (the rest of the session-key rules: non-empty, at most 256 long)."""

_STATUS_TEXT = {
    401: "Missing or unknown API key.",
    404: "No such agent or session (another principal's session answers the same).",
    409: "The session waits for answers to its interrupts (`interrupt_pending`, listing them), "
    "or it is running a turn and the overlap policy is `reject` (`session_busy`).",
    413: "Over a size limit: body, message length, messages per request, context or resume.",
    422: "Malformed request: invalid ids, body or parameters; or `resume` names interrupts "
    "that are not pending (`invalid_resume`).",
    429: "The principal has `max_sessions_per_principal` sessions already.",
    500: "The session's stored data is damaged (`corrupt_session`, naming it), or a bug.",
    502: "The agent failed (its framework, model or tools raised).",
    503: "Temporarily unable: store unavailable, capacity full, the session moved, or the "
    "service is shutting down.",
    504: "The turn took longer than `turn_timeout`.",
}


def _errors(*statuses: int, by_ref: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI error responses. ``by_ref`` for a route whose own media type is not JSON (FastAPI
    would file a ``model`` under that media type); the other routes register the schema."""
    if by_ref:
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        return {
            status: {"description": _STATUS_TEXT[status], "content": content} for status in statuses
        }
    return {
        status: {"model": ErrorResponse, "description": _STATUS_TEXT[status]} for status in statuses
    }


_BEARER = HTTPBearer(
    auto_error=False, description="An API key from `[auth] api_keys`, as a bearer token."
)
_API_KEY = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from `[auth] api_keys`."
)


def _service(request: Request) -> AgentService:
    service: AgentService = request.app.state.service
    return service


def _metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


async def _principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    api_key: Annotated[str | None, Depends(_API_KEY)],
) -> str:
    key = bearer.credentials if bearer is not None else api_key
    principal = _service(request).principal_for(key)
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "a valid API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


Principal = Annotated[str, Depends(_principal)]
AgentId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=_ID_PATTERN,
        description="An agent id from the configuration's `[[agents]]`.",
    ),
]
SessionId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=_ID_PATTERN,
        description="A session id, as session creation returned it.",
    ),
]


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema with the models only server-sent events carry (``StreamDone``,
    ``Interrupt``, ``StreamEvent``) in its components too, so clients can generate them."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (StreamDone, Interrupt, StreamEvent):
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in found.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components.setdefault(model.__name__, found)
        app.openapi_schema = schema
        return schema

    return openapi


def add_routes(app: FastAPI) -> None:
    """The service's routes, on ``app``."""
    app.openapi = _openapi(app)  # type: ignore[method-assign]

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
        instance is made ready. ``Location`` names it."""
        key = await agent_call(
            _service(request).create_session(principal, agent_id), "session creation"
        )
        session_id = key.session_id
        assert session_id is not None  # create_app refuses strategies without session ids
        setattr(request.state, CREATED_SESSION, session_id)
        response.headers["Location"] = (
            f"/v1/agents/{quote(agent_id, safe='')}/sessions/{quote(session_id, safe='')}"
        )
        return SessionCreated(agent_id=agent_id, session_id=session_id)

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
        return turn_response(TurnResponse, agent_id, session_id, result)

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

    @app.get(
        "/v1/sessions",
        response_model=SessionList,
        responses=_errors(401, 422, 503),
        summary="List your sessions",
        tags=["sessions"],
    )
    async def list_sessions(
        request: Request,
        principal: Principal,
        after: Annotated[
            str | None,
            Query(
                max_length=4 * MAX_ID_LENGTH,
                pattern=_ID_PATTERN,
                description="The previous page's `next_after`.",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500, description="Sessions per page.")] = 50,
    ) -> SessionList:
        """The caller's stored sessions, ordered, a page at a time (``persisted`` strategy: other
        strategies store nothing to list)."""
        page = await _service(request).list_sessions(principal, after=after, limit=limit)
        return SessionList(
            sessions=[summary(record) for record in page.sessions], next_after=page.next_after
        )

    @app.get(
        "/v1/agents/{agent_id}/sessions/{session_id}",
        response_model=SessionDetail,
        responses=_errors(401, 404, 422, 500, 503),
        summary="Show a session",
        tags=["sessions"],
    )
    async def get_session(
        request: Request, agent_id: AgentId, session_id: SessionId, principal: Principal
    ) -> SessionDetail:
        """A session's analytics, its pending interrupts, its token totals and its whole
        history."""
        view = await _service(request).get_session(principal, agent_id, session_id)
        input_tokens, output_tokens = view.tokens
        return SessionDetail(
            agent_id=agent_id,
            session_id=session_id,
            loaded=view.loaded,
            stats=view.stats,
            stored=summary(view.record) if view.record is not None else None,
            interrupts=view.interrupts,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            history=view.history,
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

    @app.get("/healthz", response_model=Health, summary="Liveness", tags=["operations"])
    async def healthz() -> Health:
        """``{"status": "ok"}`` while the service runs; no authentication."""
        return Health()

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics",
        tags=["operations"],
    )
    async def metrics(request: Request) -> Response:
        """The Prometheus text exposition; no authentication (serve it on a private network)."""
        rendered: bytes = request.app.state.metrics.render()
        return Response(rendered, media_type=CONTENT_TYPE_LATEST)
