"""The HTTP service: FastAPI routes over :class:`~sessionful.service.app.AgentService`.

Every route but ``/healthz`` and ``/metrics`` answers in the caller's name: the API key maps to a
principal, and the principal is the namespace of every session key it touches, so another
principal's session id answers exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import signal
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import anyio
import uvicorn
import uvicorn.config
from fastapi import Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionful import __version__
from sessionful.errors import ConfigurationError, SessionfulError
from sessionful.keys import MAX_ID_LENGTH
from sessionful.models import ChatMessage
from sessionful.service.app import AgentService, TurnTimeout
from sessionful.service.config import Settings
from sessionful.service.http._errors import (
    AgentFailed,
    ApiError,
    error_body,
    error_for,
    install_handlers,
    json_error,
)
from sessionful.service.http._metrics import ServiceMetrics
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
)
from sessionful.service.membership import LocalMembership, Membership

__all__ = ["OWNER_HEADER", "NODE_HEADER", "create_app", "membership_for", "serve"]

logger = logging.getLogger("sessionful.service.http")

T = TypeVar("T")

_ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
"""No control characters (the rest of the session-key rules: non-empty, at most 256 long)."""

_STATUS_TEXT = {
    401: "Missing or unknown API key.",
    404: "No such agent or session (another principal's session answers the same).",
    409: "The session is running a turn and the overlap policy is `reject`.",
    413: "Over a size limit: body, message length or messages per request.",
    422: "Malformed request: invalid ids, body or parameters.",
    429: "The principal has `max_sessions_per_principal` sessions already.",
    502: "The agent failed (its framework, model or tools raised).",
    503: "Temporarily unable: store unavailable, capacity full, or the session moved.",
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


async def _agent_call(call: Awaitable[T], what: str) -> T:
    """Await a service call; an exception that is not sessionful' own came from the agent
    (its framework, model or tools): log it and answer 502 rather than 500."""
    try:
        return await call
    except (SessionfulError, ApiError):
        raise
    except Exception as exc:
        logger.exception("the agent failed in %s", what)
        raise AgentFailed(f"the agent failed in {what}: {exc!r}") from exc


# -- server-sent events ---------------------------------------------------------------------------


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response."""

    media_type = "text/event-stream"


def _sse(data: Any, event: str | None = None) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n" if event else f"data: {text}\n\n"


async def _next_chunk(chunks: AsyncIterator[ChatMessage], deadline: float) -> ChatMessage | None:
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        raise TurnTimeout(None, "the turn took longer than its turn_timeout")
    try:
        return await asyncio.wait_for(_anext(chunks), remaining)
    except asyncio.TimeoutError:
        raise TurnTimeout(None, "the turn took longer than its turn_timeout") from None


async def _anext(chunks: AsyncIterator[ChatMessage]) -> ChatMessage | None:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


async def _close(chunks: AsyncIterator[ChatMessage]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        with anyio.CancelScope(shield=True):
            await close()


async def _stream_turn(
    service: AgentService, principal: str, agent_id: str, session_id: str, body: TurnRequest
) -> EventStream:
    """Start a streamed turn. Everything that can fail before the first chunk (unknown session,
    limits, a busy session, a timeout) fails here, as an ordinary JSON error; later failures
    end the stream with an ``event: error``."""
    timeout = service.settings.limits.turn_timeout
    deadline = asyncio.get_running_loop().time() + timeout
    chunks = service.stream(principal, agent_id, session_id, body.messages)
    try:
        first = await _agent_call(_next_chunk(chunks, deadline), "a streamed turn")
    except BaseException:
        await _close(chunks)
        raise

    async def events() -> AsyncIterator[str]:
        pieces: dict[int, tuple[ChatMessage, list[str]]] = {}
        try:
            chunk = first
            while chunk is not None:
                index = chunk.metadata.get("index", 0)
                index = index if isinstance(index, int) else 0
                if index in pieces:
                    pieces[index][1].append(chunk.content)
                else:
                    pieces[index] = (chunk, [chunk.content])
                yield _sse(chunk.model_dump(mode="json"))
                chunk = await _agent_call(_next_chunk(chunks, deadline), "a streamed turn")
            manager = service.manager_for(agent_id)
            key = manager.strategy.context_key(agent_id, session_id, principal)
            done = StreamDone(
                agent_id=agent_id,
                session_id=session_id,
                messages=[
                    head.model_copy(update={"content": "".join(texts)})
                    for head, texts in (pieces[i] for i in sorted(pieces))
                ],
                stats=manager.session_stats(key),
            )
            yield _sse(done.model_dump(mode="json"), "done")
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
            await _close(chunks)

    return EventStream(events(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _wants_events(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


# -- the app --------------------------------------------------------------------------------------


OWNER_HEADER = "X-Sessionful-Owner"
"""Response header: the ``advertise_address`` of the session's owner."""
NODE_HEADER = "X-Sessionful-Node"
"""Response header: the ``node_id`` of the instance that answered."""
_CREATED_SESSION = "sessionful.created_session_id"
"""Request-state key under which session creation leaves the new id for :class:`_Affinity`."""


def membership_for(settings: Settings, service: AgentService) -> LocalMembership:
    """The cluster membership ``settings`` ask for:
    :class:`~sessionful.service.membership.Membership` on the service's PostgreSQL store, else
    this instance alone."""
    cluster = settings.cluster
    port = settings.server.port
    address = cluster.advertise_address or f"{settings.server.host}:{port}"
    node_id = cluster.node_id or cluster.advertise_address or f"{socket.gethostname()}:{port}"
    from sessionful.stores.postgres import PostgresStore

    for manager in service.managers.values():
        if isinstance(manager.store, PostgresStore):
            return Membership(
                manager.store.conninfo,
                node_id,
                address,
                heartbeat_interval=cluster.heartbeat_interval,
                node_ttl=cluster.node_ttl,
            )
    return LocalMembership(node_id, address)


def create_app(
    settings: Settings,
    *,
    plugins: Iterable[object] = (),
    membership: LocalMembership | None = None,
) -> FastAPI:
    """The HTTP service for ``settings``, as a FastAPI app (an ASGI app for any server).

    Its lifespan starts the :class:`~sessionful.service.app.AgentService` (stores opened, sweepers
    running) and stops it on shutdown: turns in flight finish, every instance is destroyed, the
    stores are flushed and closed. ``plugins`` are extra sessionful plugins (hook observers);
    the service's own Prometheus metrics are always one.

    The lifespan also starts and stops the cluster ``membership`` (by default
    :func:`membership_for` the settings: registration in PostgreSQL with a ``postgresql://``
    store, else this instance alone). Every request about a session is served here whoever owns
    it, and counted as an affinity hit or miss; with ``[cluster] owner_header`` the response names
    the owner's address (``X-Sessionful-Owner``) and this node (``X-Sessionful-Node``).

    Raises:
        ConfigurationError: the settings cannot run as a service (an unknown framework, strategy,
            store or template; a strategy without per-session instances, such as ``shared``).
    """
    metrics = ServiceMetrics()
    service = AgentService(settings, plugins=[metrics, *plugins])
    for manager in service.managers.values():
        probe = manager.strategy.context_key("agent", "session", "principal")
        if probe.session_id is None or probe.namespace is None:
            raise ConfigurationError(
                f"strategy {manager.strategy.name!r} does not keep sessions and principals apart;"
                " the HTTP service needs 'per_session' or 'persisted'"
            )
    cluster = membership if membership is not None else membership_for(settings, service)
    metrics.cluster_nodes.set_function(lambda: len(cluster.live()))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service, cluster:
            logger.info(
                "sessionful service started: %d agents, strategy %r, node %r",
                len(service.agents),
                settings.strategy,
                cluster.node_id,
            )
            yield
        logger.info("sessionful service stopped: turns finished, instances closed")

    app = FastAPI(
        title="sessionful",
        version=__version__,
        description=(
            "One agent instance per conversation session, reused across turns. Authenticate "
            "with `Authorization: Bearer <key>` or `X-API-Key: <key>`; every error is "
            '`{"error": {"code": ..., "message": ...}}`.'
        ),
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = metrics
    app.state.membership = cluster
    install_handlers(app)
    app.add_middleware(
        _Affinity, membership=cluster, metrics=metrics, header=settings.cluster.owner_header
    )
    app.add_middleware(_Edge, max_body=settings.limits.max_body_bytes, metrics=metrics)
    _routes(app)
    return app


def _routes(app: FastAPI) -> None:
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
        key = await _agent_call(
            _service(request).create_session(principal, agent_id), "session creation"
        )
        session_id = key.session_id
        assert session_id is not None  # create_app refuses strategies without session ids
        setattr(request.state, _CREATED_SESSION, session_id)
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
            **_errors(401, 404, 409, 413, 422, 502, 503, 504),
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
        """Run one turn on an existing session and return the agent's new messages. Send
        ``Accept: text/event-stream`` to stream it instead."""
        service = _service(request)
        if _wants_events(request):
            return await _stream_turn(service, principal, agent_id, session_id, body)
        result = await _agent_call(
            service.execute(principal, agent_id, session_id, body.messages), "a turn"
        )
        return TurnResponse(
            agent_id=agent_id,
            session_id=session_id,
            messages=result.messages,
            instance_event=result.instance_event,
            stats=result.stats,
        )

    @app.post(
        "/v1/agents/{agent_id}/sessions/{session_id}/messages/stream",
        response_class=EventStream,
        responses={
            200: {
                "description": "Server-sent events: one `data:` event per chunk (a "
                "ChatMessage piece; `metadata.index` says which output message it belongs to), "
                "then `event: done` (a StreamDone) or `event: error` (an ErrorResponse).",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **_errors(401, 404, 409, 413, 422, 502, 503, 504, by_ref=True),
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
        return await _stream_turn(_service(request), principal, agent_id, session_id, body)

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
        responses=_errors(401, 404, 422, 503),
        summary="Show a session",
        tags=["sessions"],
    )
    async def get_session(
        request: Request, agent_id: AgentId, session_id: SessionId, principal: Principal
    ) -> SessionDetail:
        """A session's analytics and its whole history."""
        view = await _service(request).get_session(principal, agent_id, session_id)
        return SessionDetail(
            agent_id=agent_id,
            session_id=session_id,
            loaded=view.loaded,
            stats=view.stats,
            stored=summary(view.record) if view.record is not None else None,
            history=view.history,
        )

    @app.delete(
        "/v1/agents/{agent_id}/sessions/{session_id}",
        response_model=SessionEnded,
        responses=_errors(401, 404, 422, 503),
        summary="End a session",
        tags=["sessions"],
    )
    async def end_session(
        request: Request, agent_id: AgentId, session_id: SessionId, principal: Principal
    ) -> SessionEnded:
        """End the session: wait for its turn in flight, destroy its instance, delete what the
        store holds for it; say what went."""
        report = await _agent_call(
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


# -- affinity: who owns the session a request is about ---------------------------------------


class _Affinity:
    """Pure ASGI middleware: for a request about a session (a ``session_id`` in the path, or a
    session just created), count an affinity hit or miss when it succeeds and, with ``header``,
    name the owner's address and this node in the response headers. It only observes: the
    request is served here whoever owns the session."""

    def __init__(
        self, app: ASGIApp, *, membership: LocalMembership, metrics: ServiceMetrics, header: bool
    ) -> None:
        self.app = app
        self.membership = membership
        self.metrics = metrics
        self.header = header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = self._mark(scope, message)
            await send(message)

        await self.app(scope, receive, send_marked)

    def _mark(self, scope: Scope, message: Message) -> Message:
        params = scope.get("path_params") or {}
        session_id = params.get("session_id")
        routed = isinstance(session_id, str) and bool(session_id)
        if not routed:  # a session just created: name its owner, count nothing
            session_id = (scope.get("state") or {}).get(_CREATED_SESSION)
        if not isinstance(session_id, str):
            return message
        membership = self.membership
        owner = membership.owner(session_id)
        if routed and message["status"] < 400:
            if owner == membership.node_id:
                self.metrics.affinity_hits.inc()
            else:
                self.metrics.affinity_misses.inc()
        if not self.header:
            return message
        headers = list(message.get("headers", ()))
        headers.append((OWNER_HEADER.lower().encode(), membership.address_of(owner).encode()))
        headers.append((NODE_HEADER.lower().encode(), membership.node_id.encode()))
        return {**message, "headers": headers}


# -- the edge: request metrics, the body limit, and the last-resort 500 --------------------------


class _Edge:
    """Pure ASGI middleware around the routes.

    * bodies over ``max_body`` bytes get 413, by ``Content-Length`` or by counting the bytes;
    * every response is counted in ``sessionful_http_requests_total``;
    * an exception that escapes everything else is a bug: logged with its traceback and
      answered 500 (``internal_error``).
    """

    def __init__(self, app: ASGIApp, *, max_body: int, metrics: ServiceMetrics) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            replay = await self._read_body(scope, receive)
            if replay is None:
                await self._too_large(scope, receive, send_counted)
            else:
                await self.app(scope, replay, send_counted)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if status == 0:
                response = json_error(500, "internal_error", "internal server error")
                await response(scope, receive, send_counted)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope.get("method", ""), template, str(status)).inc()

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """A ``receive`` that replays the whole body, or ``None`` if it is over the limit."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > self.max_body:
                        return None
                except ValueError:
                    pass  # the HTTP server refuses these before we see them
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # a disconnect: nobody to answer
                chunks = []
                break
            body: bytes = message.get("body", b"")
            total += len(body)
            if total > self.max_body:
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        return replay

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = json_error(
            413,
            "body_too_large",
            f"the request body is over {self.max_body} bytes",
            limit="max_body_bytes",
        )
        await response(scope, receive, send)


# -- running it -----------------------------------------------------------------------------------


@contextmanager
def _quiet_signals() -> Iterator[None]:
    """Uvicorn re-raises the SIGTERM or SIGINT that stopped it once it has shut down gracefully;
    with these no-op handlers in place, a graceful stop exits normally (status 0)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ignore(signum: int, frame: object) -> None:
        pass

    previous = {sig: signal.signal(sig, ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(
    settings: Settings,
    *,
    plugins: Iterable[object] = (),
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Run the HTTP service on ``settings.server.host:port`` until SIGTERM or SIGINT.

    A stop is graceful: no new connections, requests in flight finish (up to
    ``settings.server.graceful_timeout`` seconds, then they are cancelled), then the service
    shuts down (instances destroyed, stores flushed), and ``serve`` returns.

    Raises:
        ConfigurationError: the settings cannot run as a service (see :func:`create_app`).
        SystemExit: with status 3 if the server could not start (the port is taken, the store
            cannot be opened); uvicorn has logged why.
    """
    app = create_app(settings, plugins=plugins)
    # uvicorn's logging, plus sessionful' own loggers on the same handler.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["sessionful"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        "propagate": False,
    }
    config = uvicorn.Config(
        app,
        log_config=log_config,
        host=settings.server.host,
        port=settings.server.port,
        # uvicorn counts whole seconds
        timeout_graceful_shutdown=math.ceil(settings.server.graceful_timeout),
        lifespan="on",
        log_level=log_level,
        access_log=access_log,
        server_header=False,
    )
    server = uvicorn.Server(config)
    with _quiet_signals():
        server.run()
    if not server.started:
        raise SystemExit(3)
