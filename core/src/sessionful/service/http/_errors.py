"""Every failure as HTTP: one status, one ``code`` and one JSON body shape for all of them.

Each error body is ``{"error": {"code": ..., "message": ...}}``, with ``limit`` (the configuration
key) on limit errors and ``details`` on validation errors. :func:`error_for` is the whole mapping
from exceptions; ``docs/service.md`` tabulates it for users.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sessionful.errors import (
    AgentCreationFailed,
    CapacityExceeded,
    ConfigurationError,
    CorruptSessionData,
    InterruptPending,
    InvalidResume,
    InvalidSessionKey,
    LeaseLost,
    SessionBusy,
    SessionfulError,
    SessionNotFound,
    StoreError,
    UnknownAgent,
)
from sessionful.keys import SessionKey
from sessionful.service.app import LimitExceeded
from sessionful.service.turns import TurnTimeout

__all__ = [
    "ApiError",
    "AgentFailed",
    "agent_call",
    "error_body",
    "error_for",
    "install_handlers",
    "json_error",
]

logger = logging.getLogger("sessionful.service.http")

T = TypeVar("T")

_SURROGATES = re.compile(r"[\ud800-\udfff]")

LIMIT_STATUS: Mapping[str, tuple[int, str]] = {
    "max_message_chars": (413, "message_too_long"),
    "max_messages_per_request": (413, "too_many_messages"),
    "max_body_bytes": (413, "body_too_large"),
    "max_sessions_per_principal": (429, "too_many_sessions"),
    "max_context_chars": (413, "context_too_large"),
}
"""A limit's status and code, by its key in ``[limits]``."""


class ApiError(Exception):
    """An error the service answers with ``status`` and ``{"error": {"code", "message"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class AgentFailed(SessionfulError):
    """The agent itself raised during a turn (the framework, its model or its tools); 502."""


def _clean(value: Any) -> Any:
    """``value`` with every string made encodable (lone surrogates replaced), keys included."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _clean(str(value))


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of an error."""
    return {"error": _clean({"code": code, "message": message, **extra})}


def json_error(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An error response."""
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def error_for(exc: BaseException) -> ApiError:
    """The HTTP answer to an exception the service layer raised (500 for anything unknown)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SessionNotFound):
        # The same text whether the session never existed or is another principal's.
        return ApiError(
            404,
            "session_not_found",
            f"no session {exc.session_id!r} of agent {exc.agent_id!r}",
        )
    if isinstance(exc, UnknownAgent):
        return ApiError(404, "agent_not_found", f"no agent {exc.agent_id!r}")
    if isinstance(exc, LimitExceeded):
        status, code = LIMIT_STATUS.get(exc.limit, (413, "limit_exceeded"))
        return ApiError(status, code, str(exc), extra={"limit": exc.limit})
    if isinstance(exc, TurnTimeout):
        return ApiError(504, "turn_timeout", str(exc))
    if isinstance(exc, InterruptPending):
        return ApiError(
            409,
            "interrupt_pending",
            "the session waits for answers to its interrupts: send them as 'resume' "
            "({interrupt id: answer})",
            extra={"interrupts": [i.model_dump(mode="json") for i in exc.interrupts]},
        )
    if isinstance(exc, InvalidResume):
        return ApiError(
            422,
            "invalid_resume",
            "'resume' names interrupts the session does not have pending",
            extra={"unknown": exc.unknown, "pending": exc.pending},
        )
    if isinstance(exc, SessionBusy):
        return ApiError(
            409,
            "session_busy",
            "the session is running a turn; the overlap policy is 'reject': retry when it is done",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, LeaseLost):
        return ApiError(
            503,
            "lease_lost",
            "another process took over the session; the turn was not acknowledged: retry it",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, CapacityExceeded):
        return ApiError(
            503,
            "capacity_exceeded",
            f"all {exc.max_active} agent instances are mid-turn; retry shortly",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, StoreError):
        return ApiError(
            503,
            "store_unavailable",
            "the session store is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, AgentCreationFailed):
        return ApiError(502, "agent_failed", "the agent could not be created")
    if isinstance(exc, AgentFailed):
        return ApiError(502, "agent_failed", "the agent failed during the turn")
    if isinstance(exc, CorruptSessionData):
        session_id = _session_id(exc.key)
        return ApiError(
            500,
            "corrupt_session",
            f"the stored data of session {session_id!r} does not decode; it was not run "
            "(DELETE it to clean it up)",
            extra={"session_id": session_id},
        )
    if isinstance(exc, InvalidSessionKey):
        return ApiError(422, "invalid_id", str(exc))
    if isinstance(exc, ConfigurationError):
        return ApiError(422, "invalid_request", str(exc))
    return ApiError(500, "internal_error", "internal server error")


def _session_id(key: Any) -> str | None:
    """The session id of a key (or of a key's string form), else ``None``."""
    if isinstance(key, str):
        try:
            key = SessionKey.parse(key)
        except SessionfulError:
            return None
    found = getattr(key, "session_id", None)
    return found if isinstance(found, str) else None


def _response(error: ApiError) -> JSONResponse:
    return json_error(error.status, error.code, error.message, headers=error.headers, **error.extra)


def _where(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def install_handlers(app: FastAPI) -> None:
    """Answer every exception with the JSON error shape; log the ones that are bugs."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        error = error_for(exc)
        if error.status >= 500:
            logger.error(
                "%s %s: %s (%s)",
                request.method,
                request.url.path,
                error.code,
                exc,
                exc_info=exc if error.code in ("internal_error", "corrupt_session") else None,
            )
        return _response(error)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {
                "loc": [str(part) for part in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        message = "invalid request"
        if details:
            loc, msg = exc.errors()[0].get("loc", ()), str(details[0]["msg"])
            message = f"{_where(loc)}: {msg}" if loc else msg
        if len(details) > 1:
            message += f" (and {len(details) - 1} more)"
        return json_error(422, "invalid_request", message, details=details)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot parse (bad UTF-8, an integer past Python's
            # digit limit, nesting past the recursion limit): a malformed body, like the rest.
            return json_error(422, "invalid_request", f"the body cannot be parsed: {exc.detail}")
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        code = codes.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        return json_error(exc.status_code, code, message, headers=headers)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(SessionfulError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


async def agent_call(call: Awaitable[T], what: str) -> T:
    """Await a service call; an exception that is not sessionful' own came from the agent
    (its framework, model or tools): log it and answer 502 rather than 500."""
    try:
        return await call
    except (SessionfulError, ApiError):
        raise
    except Exception as exc:
        logger.exception("the agent failed in %s", what)
        raise AgentFailed(f"the agent failed in {what}: {exc!r}") from exc
