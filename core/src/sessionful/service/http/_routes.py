"""The routes: agents, sessions (created with a server's id or the caller's), turns, listing,
history, feedback, ending; liveness, readiness and metrics.

Every route but ``/healthz``, ``/readyz`` and ``/metrics`` answers in the caller's name: the API
key maps to a principal, and the principal is the namespace of every session key it touches, so
another principal's session id answers exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from sessionful.keys import MAX_ID_LENGTH
from sessionful.models import Interrupt, StreamEvent
from sessionful.service.app import AgentService, SessionFilter
from sessionful.service.http._errors import ApiError, agent_call
from sessionful.service.http._metrics import ServiceMetrics
from sessionful.service.http._middleware import CREATED_SESSION
from sessionful.service.http._models import (
    AgentList,
    CreateSessionRequest,
    ErrorResponse,
    FeedbackRecorded,
    Health,
    HistoryResponse,
    Readiness,
    SessionCreated,
    SessionDetail,
    SessionEnded,
    SessionList,
    StreamDone,
    TurnRequest,
    TurnResponse,
    agent_info,
    analytics,
    feedback_request,
    rfc3339,
    summary,
    turn_response,
    unix_seconds,
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
    201: "Created.",
    500: "The session's stored data is damaged (`corrupt_session`, naming it), or a bug.",
    502: "The agent failed (its framework, model or tools raised).",
    503: "Temporarily unable: store unavailable, capacity full, the session moved, or the "
    "service is shutting down.",
    -503: "Not ready: the session store does not answer, or (clustered) the membership is "
    "not current (`not_ready`, saying which).",
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


NewSessionId = Annotated[
    str,
    Path(
        description="The session id you choose (your own conversation id): 1 to 256 characters,"
        " no control characters; invalid ids answer 422 `invalid_id` with the reason.",
    ),
]


def _location(agent_id: str, session_id: str) -> str:
    return f"/v1/agents/{quote(agent_id, safe='')}/sessions/{quote(session_id, safe='')}"


def _labels(pairs: list[str] | None) -> dict[str, str] | None:
    """``["channel:web", ...]`` as a dict; 422 for a pair without ``:``."""
    if not pairs:
        return None
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep or not name:
            raise ApiError(422, "invalid_request", f"label {pair!r}: a label filter is name:value")
        labels[name] = value
    return labels


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


def _service_settings(app: FastAPI) -> Any:
    return app.state.service.settings


def _check_text(value: str, what: str) -> None:
    """422 for text with control characters (no stored value holds them)."""
    for char in value:
        if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or 0xD800 <= ord(char) <= 0xDFFF:
            raise ApiError(
                422,
                "invalid_request",
                f"{what}: holds the forbidden character U+{ord(char):04X}",
            )


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
        agent_id: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_ID_LENGTH,
                pattern=_ID_PATTERN,
                description="Only this agent's sessions.",
            ),
        ] = None,
        user_id: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_ID_LENGTH,
                pattern=_ID_PATTERN,
                description="Only this end user's sessions.",
            ),
        ] = None,
        label: Annotated[
            list[str] | None,
            Query(
                max_length=64,
                description="Only sessions with this label, as `name:value`; repeat for "
                "several (a session must carry them all).",
            ),
        ] = None,
        active_after: Annotated[
            datetime | None,
            Query(description="Only sessions active at or after this time (RFC 3339)."),
        ] = None,
        active_before: Annotated[
            datetime | None,
            Query(description="Only sessions last active before this time (RFC 3339)."),
        ] = None,
    ) -> SessionList:
        """The caller's stored sessions, ordered by id, a page at a time (pass `next_after` as
        `after`), filtered by agent, end user, labels and activity window (``persisted``
        strategy: other strategies store nothing to list)."""
        for text in label or ():
            _check_text(text, "label")
        service = _service(request)
        where = SessionFilter(
            agent_id=agent_id,
            user_id=user_id,
            labels=_labels(label),
            active_after=None if active_after is None else unix_seconds(active_after),
            active_before=None if active_before is None else unix_seconds(active_before),
        )
        page = await service.list_sessions(principal, after=after, limit=limit, where=where)
        return SessionList(
            sessions=[summary(record) for record in page.sessions],
            next_after=page.next_after,
            store=service.store_name(),
        )

    @app.get(
        "/v1/agents",
        response_model=AgentList,
        responses=_errors(401),
        summary="List the agents",
        tags=["agents"],
    )
    async def list_agents(request: Request, principal: Principal) -> AgentList:
        """The agents this service runs: id, name, template and version, framework."""
        service = _service(request)
        return AgentList(agents=[agent_info(agent) for agent in service.agents.values()])

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
        """A session's analytics, its pending interrupts, its token totals, its end user,
        labels and feedback, and its whole history (``.../history`` pages it)."""
        service = _service(request)
        view = await service.get_session(principal, agent_id, session_id)
        input_tokens, output_tokens = view.tokens
        record = view.record
        stats = None if view.stats is None else analytics(view.stats, service.clock, record)
        if record is not None:
            count, mean = record.feedback_count, record.feedback_mean
        elif view.stats is not None:
            count, mean = view.stats.feedback_count, view.stats.feedback_mean
        else:
            count, mean = 0, None
        return SessionDetail(
            agent_id=agent_id,
            session_id=session_id,
            loaded=view.loaded,
            stats=stats,
            stored=summary(record) if record is not None else None,
            user_id=record.user_id if record is not None else None,
            labels=record.labels if record is not None else {},
            feedback_count=count,
            feedback_mean=mean,
            interrupts=view.interrupts,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            history=view.history,
        )

    @app.get(
        "/v1/agents/{agent_id}/sessions/{session_id}/history",
        response_model=HistoryResponse,
        responses=_errors(401, 404, 422, 500, 502, 503),
        summary="Page through a session's history",
        tags=["sessions"],
    )
    async def get_history(
        request: Request,
        agent_id: AgentId,
        session_id: SessionId,
        principal: Principal,
        limit: Annotated[int, Query(ge=1, le=1000, description="Messages per page.")] = 100,
        after: Annotated[
            int,
            Query(ge=0, le=2**53, description="The previous page's `next_after` (0: the start)."),
        ] = 0,
        checkpoints: Annotated[
            bool,
            Query(
                description="Also return the session's saved states, newest first (at most "
                "`limit`): LangGraph's checkpoints; `[]` for frameworks that keep none."
            ),
        ] = False,
    ) -> HistoryResponse:
        """The session's messages, oldest first, a page at a time; with `checkpoints=true`,
        its saved states too."""
        service = _service(request)
        page = await service.history(principal, agent_id, session_id, limit=limit, after=after)
        states = None
        if checkpoints:
            states = await agent_call(
                service.state_history(principal, agent_id, session_id, limit=limit),
                "reading checkpoints",
            )
        return HistoryResponse(
            agent_id=agent_id,
            session_id=session_id,
            messages=page.messages,
            next_after=page.next_after,
            checkpoints=states,
        )

    scale = _service_settings(app).feedback
    FeedbackRequest = feedback_request(scale.min_rating, scale.max_rating, scale.max_comment_chars)

    async def post_feedback(
        request: Request,
        agent_id: AgentId,
        session_id: SessionId,
        principal: Principal,
        body: Any,
    ) -> FeedbackRecorded:
        """Record the end user's rating of the session (the configuration's `[feedback]`
        scale, default 1 to 5; `"up"` / `"down"` are its ends), an optional comment and the
        turn it refers to. Stored with the session and deleted with it; the session's GET
        shows the count and mean, and `/metrics` has `sessionful_feedback_rating` by agent."""
        given = body
        service = _service(request)
        rating, count, mean = await service.record_feedback(
            principal,
            agent_id,
            session_id,
            given.rating,
            comment=given.comment,
            turn=given.turn,
        )
        _metrics(request).observe_feedback(agent_id, rating)
        return FeedbackRecorded(
            agent_id=agent_id,
            session_id=session_id,
            rating=rating,
            feedback_count=count,
            feedback_mean=mean,
        )

    # The body's model is built from the configured scale, so it is set here, not annotated
    # (annotations are strings under `from __future__ import annotations`).
    post_feedback.__annotations__["body"] = FeedbackRequest
    app.post(
        "/v1/agents/{agent_id}/sessions/{session_id}/feedback",
        status_code=201,
        response_model=FeedbackRecorded,
        responses=_errors(401, 404, 413, 422, 500, 503),
        summary="Rate a session",
        tags=["sessions"],
    )(post_feedback)

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
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": ErrorResponse, "description": _STATUS_TEXT[-503]}},
        summary="Readiness",
        tags=["operations"],
    )
    async def readyz(request: Request) -> Readiness:
        """``{"status": "ready"}`` when the service can serve: its session store answers and,
        clustered, its membership heartbeat is current; else 503 ``not_ready`` with the
        reason. No authentication."""
        reason = await _service(request).readiness()
        if reason is None:
            reason = request.app.state.membership.not_ready()
        if reason is not None:
            raise ApiError(503, "not_ready", reason, headers={"Retry-After": "5"})
        return Readiness()

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
