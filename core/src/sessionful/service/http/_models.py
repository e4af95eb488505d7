"""The request and response bodies of the HTTP API (they make its OpenAPI schema)."""

from __future__ import annotations

import math
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sessionful.content import Usage
from sessionful.models import (
    ChatMessage,
    ExecutionResult,
    InstanceEvent,
    Interrupt,
    SessionStats,
    TurnStatus,
)
from sessionful.stores.base import SessionRecord

__all__ = [
    "ErrorBody",
    "ErrorResponse",
    "Health",
    "SessionCreated",
    "SessionDetail",
    "SessionEnded",
    "SessionList",
    "SessionSummary",
    "StreamDone",
    "TurnRequest",
    "TurnResponse",
    "ValidationIssue",
    "summary",
    "turn_response",
]

MAX_METADATA_DEPTH = 32
"""How deep a message's ``metadata`` may nest."""

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ENVELOPE_TYPES = ("constructor", "secret", "not_implemented")


class _Model(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


def _check_json(value: Any, depth: int = 0) -> None:
    """Refuse what the stores cannot keep or give back: lone surrogates, NaN and infinities,
    nesting past :data:`MAX_METADATA_DEPTH`, and LangChain's serialised-object envelope."""
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"nests deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, str):
        if _SURROGATE.search(value) is not None:
            raise ValueError("holds a lone surrogate, which is not valid Unicode text")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("holds NaN or an infinity, which JSON cannot carry")
    elif isinstance(value, dict):
        if "lc" in value and value.get("type") in _ENVELOPE_TYPES:
            raise ValueError("holds a LangChain object envelope, which sessions refuse")
        for key, item in value.items():
            _check_json(key, depth + 1)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


class TurnRequest(_Model):
    """One turn: new messages, and/or answers to the session's pending interrupts, and the
    turn's context (the original design's ``ExecuteAgentCommand`` without its ids, which are in
    the path, and without its principal, which is the caller's)."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra={
            "examples": [
                {"messages": [{"role": "user", "content": "Hello"}]},
                {
                    "messages": [{"role": "user", "content": "ask: refund $20?"}],
                    "context": {"user_id": "u-42", "locale": "en-GB"},
                },
                {"resume": {"a3f1c2": "yes"}},
            ]
        },
    )

    messages: list[ChatMessage] = Field(default_factory=list)
    """The turn's new messages, oldest first; usually one user message. May be left out when
    the turn only answers interrupts (``resume``)."""
    context: dict[str, Any] = Field(default_factory=dict)
    """Per-turn data for the agent (the end user's id, a locale, a request-scoped setting):
    JSON, passed to the agent for this turn only and never stored. At most
    ``limits.max_context_chars`` characters as JSON."""
    resume: dict[str, Any] | None = None
    """Answers to the session's pending interrupts, by interrupt id (from the interrupted
    turn's ``interrupts``, or the session's). At most ``limits.max_context_chars`` characters
    as JSON."""

    @field_validator("messages")
    @classmethod
    def _storable(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        for message in messages:
            _check_json(message.metadata)
        return messages

    @field_validator("context", "resume")
    @classmethod
    def _json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        _check_json(value)
        return value

    @model_validator(mode="after")
    def _has_input(self) -> TurnRequest:
        if not self.messages and not self.resume:
            raise ValueError("a turn needs messages, or resume answers to pending interrupts")
        return self


class CreateSessionRequest(_Model):
    """The optional body of a session creation; it carries nothing yet (send ``{}`` or no body)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class SessionCreated(_Model):
    """A new session."""

    agent_id: str
    session_id: str
    """Server-generated: 192 random bits, URL-safe."""


class TurnResponse(_Model):
    """What a turn produced."""

    agent_id: str
    session_id: str
    status: TurnStatus
    """``completed``, or ``interrupted``: the agent asks something first (``interrupts``), and
    the session's next turn answers with ``resume``."""
    messages: list[ChatMessage]
    """The agent's new messages, in order."""
    interrupts: list[Interrupt]
    """What the agent asks before it goes on (``status`` is ``interrupted``): answer each by
    its ``id`` in the next turn's ``resume``."""
    usage: Usage | None
    """Tokens this turn used, when the agent's framework reports them."""
    instance_event: InstanceEvent
    """How the turn found its agent instance: ``created``, ``reused`` or ``restored``."""
    stats: SessionStats
    """The session's analytics after the turn (its token totals and pending interrupts too)."""


class StreamDone(TurnResponse):
    """The data of a stream's final ``event: done``: what the JSON answer to the same turn
    carries (its ``messages`` are the whole messages the chunks made up)."""


R = TypeVar("R", bound=TurnResponse)


def turn_response(cls: type[R], agent_id: str, session_id: str, result: ExecutionResult) -> R:
    """The answer to a turn (``TurnResponse``, or ``StreamDone`` at a stream's end)."""
    return cls(
        agent_id=agent_id,
        session_id=session_id,
        status=result.status,
        messages=result.messages,
        interrupts=result.interrupts,
        usage=result.usage,
        instance_event=result.instance_event,
        stats=result.stats,
    )


class SessionSummary(_Model):
    """A stored session, as a listing shows it. Times are wall-clock Unix seconds."""

    agent_id: str
    session_id: str | None
    template_id: str
    template_version: str
    created_at: float
    last_activity: float
    turn_count: int
    message_count: int
    input_tokens: int
    """Tokens in, over the turns that reported usage."""
    output_tokens: int
    """Tokens out, over the turns that reported usage."""
    pending_interrupts: int
    """Interrupts waiting for an answer (the session's next turn must resume them)."""


def summary(record: SessionRecord) -> SessionSummary:
    """The listing view of a store record (no namespace, lease or owner)."""
    return SessionSummary(
        agent_id=record.key.agent_id,
        session_id=record.key.session_id,
        template_id=record.template_id,
        template_version=record.template_version,
        created_at=record.created_at,
        last_activity=record.last_activity,
        turn_count=record.turn_count,
        message_count=record.message_count,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        pending_interrupts=len(record.interrupts),
    )


class SessionList(_Model):
    """A page of the caller's sessions, ordered by id."""

    sessions: list[SessionSummary]
    next_after: str | None
    """Pass as ``after`` for the next page; ``null`` on the last one."""


class SessionDetail(_Model):
    """One session: its analytics and its history."""

    agent_id: str
    session_id: str
    loaded: bool
    """Whether its agent instance is live in this server process."""
    stats: SessionStats | None
    """Live analytics (times on the server's monotonic clock), when loaded."""
    stored: SessionSummary | None
    """What the store holds (``persisted`` strategy)."""
    interrupts: list[Interrupt]
    """Interrupts waiting for an answer: the next turn must answer them in ``resume`` (a turn
    without one answers 409 ``interrupt_pending``)."""
    input_tokens: int
    """Tokens in, over the session's turns that reported usage."""
    output_tokens: int
    """Tokens out, over the session's turns that reported usage."""
    history: list[ChatMessage]
    """Every message of the session, oldest first (``persisted`` strategy; empty otherwise)."""


class SessionEnded(_Model):
    """What ending a session did."""

    agent_id: str
    session_id: str
    unloaded: bool
    """A live agent instance was destroyed."""
    deleted: dict[str, int]
    """Stored items deleted, by kind (``sessions``, ``messages``, ``snapshots``)."""


class Health(_Model):
    """The service is up."""

    status: str = "ok"


class ValidationIssue(_Model):
    """One problem with a request."""

    loc: list[str]
    msg: str
    type: str


class ErrorBody(_Model):
    """What went wrong."""

    code: str
    """Stable and machine-readable: ``session_not_found``, ``turn_timeout``..."""
    message: str
    """For people."""
    limit: str | None = None
    """On limit errors: the ``[limits]`` key that was exceeded."""
    details: list[ValidationIssue] | None = None
    """On ``invalid_request``: each problem."""
    interrupts: list[Interrupt] | None = None
    """On ``interrupt_pending``: the interrupts the turn must answer with ``resume``."""
    pending: list[str] | None = None
    """On ``invalid_resume``: the ids of the interrupts that are pending."""
    unknown: list[str] | None = None
    """On ``invalid_resume``: the ids in ``resume`` that are not pending."""
    session_id: str | None = None
    """On ``corrupt_session``: the damaged session."""


class ErrorResponse(_Model):
    """Every error answer has this shape."""

    error: ErrorBody
