"""What the routes share: the caller's principal (from its API key), the path ids, and the
OpenAPI error responses.

Every route but ``/healthz``, ``/readyz`` and ``/metrics`` answers in the caller's name: the API
key maps to a principal, and the principal is the namespace of every session key it touches, so
another principal's session id answers exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from sessionful.keys import MAX_ID_LENGTH
from sessionful.service.app import AgentService
from sessionful.service.http._errors import ApiError
from sessionful.service.http._metrics import ServiceMetrics
from sessionful.service.http._responses import ErrorResponse

__all__ = ["AgentId", "NewSessionId", "Principal", "SessionId"]

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
