"""The two ASGI middlewares around the routes: the edge (request metrics, the body limit, the
last-resort 500) and affinity (who owns the session a request is about)."""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionful.service.http._errors import error_body, json_error
from sessionful.service.http._metrics import ServiceMetrics
from sessionful.service.membership import LocalMembership

__all__ = [
    "CREATED_SESSION",
    "NODE_HEADER",
    "OWNER_HEADER",
    "AffinityMiddleware",
    "EdgeMiddleware",
]

logger = logging.getLogger("sessionful.service.http")

OWNER_HEADER = "X-Sessionful-Owner"
"""Response header: the ``advertise_address`` of the session's owner."""
NODE_HEADER = "X-Sessionful-Node"
"""Response header: the ``node_id`` of the instance that answered."""
CREATED_SESSION = "sessionful.created_session_id"
"""Request-state key under which session creation leaves the new id for the affinity middleware."""


# -- affinity: who owns the session a request is about ---------------------------------------


class AffinityMiddleware:
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
            session_id = (scope.get("state") or {}).get(CREATED_SESSION)
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


class EdgeMiddleware:
    """Pure ASGI middleware around the routes.

    * bodies over ``max_body`` bytes get 413, by ``Content-Length`` or by counting the bytes;
    * a JSON body in another encoding than UTF-8 (UTF-16, UTF-32) gets 422, as RFC 8259 says
      JSON between systems is UTF-8;
    * every response is counted in ``sessionful_http_requests_total``;
    * a request cut by the server's graceful-shutdown timeout (its task cancelled) is answered
      503 ``shutting_down`` with ``Retry-After`` (a stream already started ends with an
      ``event: error`` saying so), logged in one line;
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
        streaming = False
        finished = False

        async def send_counted(message: Message) -> None:
            nonlocal status, streaming, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"content-type":
                        streaming = value.startswith(b"text/event-stream")
                        break
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            body = await self._read_body(scope, receive)
            replay = _replaying(body, receive)
            if body is None:
                await self._too_large(scope, receive, send_counted)
            elif not _utf8(scope, body):
                response = json_error(
                    422,
                    "invalid_request",
                    "the body cannot be parsed: JSON must be encoded in UTF-8",
                )
                await response(scope, replay, send_counted)
            else:
                await self.app(scope, replay, send_counted)
        except asyncio.CancelledError:
            # Only the server cancels a request's task: its graceful-shutdown timeout is over.
            uncancel = getattr(asyncio.current_task(), "uncancel", None)  # Python 3.11+
            if uncancel is not None:
                uncancel()
            logger.warning(
                "%s %s cut by the graceful-shutdown timeout",
                scope.get("method"),
                scope.get("path"),
            )
            await self._cut(scope, receive, send_counted, status, streaming, finished)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if status == 0:
                response = json_error(500, "internal_error", "internal server error")
                await response(scope, receive, send_counted)
        finally:
            template = _template(scope)
            metrics = self.metrics
            metrics.child(metrics.requests, scope.get("method", ""), template, str(status)).inc()

    async def _cut(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        streaming: bool,
        finished: bool,
    ) -> None:
        """Answer a request cut at shutdown: 503 if nothing was sent yet, else end the stream."""
        message = "the service is shutting down; the turn was cut and not acknowledged: retry"
        try:
            if status == 0:
                response = json_error(
                    503,
                    "shutting_down",
                    message,
                    headers={"Retry-After": "1", "Connection": "close"},
                )
                await response(scope, receive, send)
            elif streaming and not finished:
                data = json.dumps(error_body("shutting_down", message), separators=(",", ":"))
                await send(
                    {
                        "type": "http.response.body",
                        "body": f"event: error\ndata: {data}\n\n".encode(),
                        "more_body": False,
                    }
                )
        except OSError:  # the client went away meanwhile
            pass

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or ``None`` if it is over the limit."""
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
        return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = json_error(
            413,
            "body_too_large",
            f"the request body is over {self.max_body} bytes",
            limit="max_body_bytes",
        )
        await response(scope, receive, send)


def _template(scope: Scope) -> str:
    """The path template of the route that answered: FastAPI's routes name themselves in the
    scope; a mount or a plain route is found by the endpoint it left there; else ``unmatched``."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        return str(path)
    endpoint = scope.get("endpoint")
    if endpoint is not None:
        for route in getattr(scope.get("app"), "routes", ()):
            if getattr(route, "endpoint", None) is endpoint:
                return str(route.path)
            if getattr(route, "app", None) is endpoint and hasattr(route, "routes"):  # a mount
                return f"{route.path}/{{path}}"
    return "unmatched"


_JSON_TYPES = (b"application/json", b"application/problem+json")


def _replaying(body: bytes | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read already, then what ``receive`` gives."""
    if body is None:
        return receive
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _utf8(scope: Scope, body: bytes) -> bool:
    """Whether a request's body is fine as to its encoding: anything but JSON, and JSON that
    is UTF-8 (Python's JSON reader would take UTF-16 and UTF-32 too; the API does not)."""
    content_type = b""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value.split(b";", 1)[0].strip().lower()
    if content_type not in _JSON_TYPES and not content_type.endswith(b"+json"):
        return True
    # JSON starts with an ASCII character: UTF-16 and UTF-32 put a zero byte in the first two,
    # and their byte-order marks start with 0xFE or 0xFF. Anything else is UTF-8 to the reader.
    if len(body) >= 2 and body[0] and body[1] and body[0] < 0xFE:
        return True
    return json.detect_encoding(body) in ("utf-8", "utf-8-sig")
