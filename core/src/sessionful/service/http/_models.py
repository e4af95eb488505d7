"""The request and response bodies of the HTTP API (they make its OpenAPI schema)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    field_validator,
    model_validator,
)

from sessionful.content import Usage
from sessionful.keys import MAX_ID_LENGTH
from sessionful.models import (
    ChatMessage,
    ExecutionResult,
    InstanceEvent,
    Interrupt,
    SessionStats,
    TurnStatus,
)
from sessionful.service.config import AgentConfig
from sessionful.stores.base import MAX_LABELS, SessionRecord

__all__ = [
    "AgentInfo",
    "AgentList",
    "ErrorBody",
    "ErrorResponse",
    "FeedbackRecorded",
    "Health",
    "HistoryResponse",
    "Readiness",
    "SessionAnalytics",
    "SessionCreated",
    "SessionDetail",
    "SessionEnded",
    "SessionList",
    "SessionSummary",
    "StreamDone",
    "TurnRequest",
    "TurnResponse",
    "ValidationIssue",
    "agent_info",
    "analytics",
    "feedback_request",
    "rfc3339",
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


Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]


def _plain(value: str, what: str) -> str:
    """``value`` if it has no control characters and no lone surrogates (what every store can
    keep and give back)."""
    bad = re.search(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]", value)
    if bad is not None:
        raise ValueError(
            f"{what} holds the forbidden character U+{ord(bad.group()):04X} at index {bad.start()}"
        )
    return value


class CreateSessionRequest(_Model):
    """The optional body of a session creation (``POST`` or ``PUT``); send ``{}`` or no body
    for a session with neither."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra={"examples": [{"user_id": "u-7", "labels": {"channel": "web"}}]},
    )

    user_id: Text | None = None
    """The end user the session belongs to (a platform's own user id), to list their sessions
    by (``GET /v1/sessions?user_id=...``). Set at creation only."""
    labels: dict[Text, Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH)]] = Field(
        default_factory=dict, max_length=MAX_LABELS
    )
    """String pairs to filter listings by (``?label=channel:web``), as Kubernetes labels: at
    most 64, names without ``:``. Set at creation only."""

    @field_validator("user_id")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        return None if value is None else _plain(value, "user_id")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            _plain(name, f"label name {name!r}")
            if ":" in name:
                raise ValueError(f"label name {name!r} holds ':', which separates it from values")
            _plain(text, f"label {name!r}")
        return value


class SessionCreated(_Model):
    """A session, as creating it (or finding it, ``PUT``) answers."""

    agent_id: str
    session_id: str
    """Server-generated (192 random bits, URL-safe), or the caller's (``PUT``)."""
    user_id: str | None = None
    """Its end user (``persisted``: as stored)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Its labels (``persisted``: as stored)."""
    created_at: datetime | None = None
    """When it was created (RFC 3339), when the store says."""


def rfc3339(seconds: float) -> datetime:
    """Wall-clock Unix seconds as an aware UTC datetime (serialised as RFC 3339)."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def unix_seconds(value: datetime) -> float:
    """An RFC 3339 time (naive: UTC) as Unix seconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


class SessionAnalytics(_Model):
    """A live session's analytics, as of the end of its latest turn."""

    message_count: int
    """Messages in and out across all turns."""
    turn_count: int
    created_at: datetime
    """When the session began (RFC 3339)."""
    last_activity: datetime
    """When its latest turn ended (RFC 3339)."""
    duration: float
    """``last_activity - created_at``, in seconds."""
    response_time_mean: float | None
    """Mean seconds per turn, or ``null`` before the first turn."""
    response_time_p95: float | None
    """95th percentile of seconds per turn over the latest turns."""
    input_tokens: int = 0
    output_tokens: int = 0
    interrupts: list[Interrupt] = Field(default_factory=list)
    """Interrupts waiting for an answer (the next turn must resume them)."""
    feedback_count: int = 0
    """Ratings recorded for the session."""
    feedback_mean: float | None = None
    """Their mean, or ``null`` without any."""


def analytics(
    stats: SessionStats, clock: Callable[[], float], record: SessionRecord | None = None
) -> SessionAnalytics:
    """``stats`` (times on the manager's ``clock``) with wall-clock RFC 3339 times; the
    feedback figures are the store's when it has the session (``record``)."""
    offset = time.time() - clock()
    values = stats.model_dump()
    values["created_at"] = rfc3339(stats.created_at + offset)
    values["last_activity"] = rfc3339(stats.last_activity + offset)
    if record is not None and record.corrupt is None:
        values["feedback_count"] = record.feedback_count
        values["feedback_mean"] = record.feedback_mean
    return SessionAnalytics(**values)


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
    stats: SessionAnalytics
    """The session's analytics after the turn (its token totals and pending interrupts too)."""


class StreamDone(TurnResponse):
    """The data of a stream's final ``event: done``: what the JSON answer to the same turn
    carries (its ``messages`` are the whole messages the chunks made up)."""


R = TypeVar("R", bound=TurnResponse)


def turn_response(
    cls: type[R],
    agent_id: str,
    session_id: str,
    result: ExecutionResult,
    clock: Callable[[], float],
) -> R:
    """The answer to a turn (``TurnResponse``, or ``StreamDone`` at a stream's end); its stats'
    times (on the manager's ``clock``) as wall-clock RFC 3339."""
    return cls(
        agent_id=agent_id,
        session_id=session_id,
        status=result.status,
        messages=result.messages,
        interrupts=result.interrupts,
        usage=result.usage,
        instance_event=result.instance_event,
        stats=analytics(result.stats, clock),
    )


class SessionSummary(_Model):
    """A stored session, as a listing shows it."""

    agent_id: str
    session_id: str | None
    template_id: str
    template_version: str
    created_at: datetime
    """RFC 3339."""
    last_activity: datetime
    """When its latest turn ended (RFC 3339); the activity window filters on it."""
    turn_count: int
    message_count: int
    input_tokens: int
    """Tokens in, over the turns that reported usage."""
    output_tokens: int
    """Tokens out, over the turns that reported usage."""
    pending_interrupts: int
    """Interrupts waiting for an answer (the session's next turn must resume them)."""
    user_id: str | None = None
    """The end user it belongs to, if set at creation."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Its labels, set at creation."""
    feedback_count: int = 0
    """Ratings recorded for it."""
    feedback_mean: float | None = None
    """Their mean, or ``null`` without any."""
    corrupt: str | None = None
    """Set when its stored data does not decode (why); the other fields are then
    placeholders. ``DELETE`` it to clean it up."""


def summary(record: SessionRecord) -> SessionSummary:
    """The listing view of a store record (no namespace, lease or owner)."""
    return SessionSummary(
        agent_id=record.key.agent_id,
        session_id=record.key.session_id,
        template_id=record.template_id,
        template_version=record.template_version,
        created_at=rfc3339(record.created_at),
        last_activity=rfc3339(record.last_activity),
        turn_count=record.turn_count,
        message_count=record.message_count,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        pending_interrupts=len(record.interrupts),
        user_id=record.user_id,
        labels=record.labels,
        feedback_count=record.feedback_count,
        feedback_mean=record.feedback_mean,
        corrupt=record.corrupt,
    )


class SessionList(_Model):
    """A page of the caller's sessions, ordered by id."""

    sessions: list[SessionSummary]
    next_after: str | None
    """The cursor: pass as ``after`` for the next page; ``null`` on the last one."""
    store: str | None = None
    """The store the listing looked in (its URL, any password masked); ``null`` when sessions
    are not stored (strategy ``per_session``: nothing to list)."""


class SessionDetail(_Model):
    """One session: its analytics and its history."""

    agent_id: str
    session_id: str
    loaded: bool
    """Whether its agent instance is live in this server process."""
    stats: SessionAnalytics | None
    """Live analytics, when loaded."""
    stored: SessionSummary | None
    """What the store holds (``persisted`` strategy)."""
    user_id: str | None = None
    """The end user it belongs to, if set at creation (``persisted``)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Its labels, set at creation (``persisted``)."""
    feedback_count: int = 0
    """Ratings recorded for it (``POST .../feedback``)."""
    feedback_mean: float | None = None
    """Their mean, or ``null`` without any."""
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


class Readiness(_Model):
    """The service can serve: its store answers (and, clustered, its membership is current)."""

    status: Literal["ready"] = "ready"


class AgentInfo(_Model):
    """An agent the service runs."""

    id: str
    name: str
    """Shown to people (defaults to the id)."""
    template_id: str
    template_version: str
    framework: str
    """The framework that runs it (``langgraph``, ``stub``...)."""


def agent_info(agent: AgentConfig) -> AgentInfo:
    """The listing view of a configured agent."""
    return AgentInfo(
        id=agent.id,
        name=agent.name or agent.id,
        template_id=agent.template_id,
        template_version=agent.template_version,
        framework=agent.framework,
    )


class AgentList(_Model):
    """The agents the service runs, by id."""

    agents: list[AgentInfo]


class HistoryResponse(_Model):
    """A page of a session's messages, oldest first (or, with ``checkpoints=true``, its saved
    states, newest first)."""

    agent_id: str
    session_id: str
    messages: list[ChatMessage]
    """The page's messages, oldest first, from position ``after``."""
    next_after: int | None
    """The cursor: pass as ``after`` for the next page; ``null`` on the last one."""
    checkpoints: list[dict[str, Any]] | None = None
    """With ``checkpoints=true``: the session's saved states, newest first, when its framework
    keeps them (LangGraph's checkpoints: id, time, next nodes, messages); ``[]`` otherwise."""


class FeedbackRecorded(_Model):
    """A rating, recorded."""

    agent_id: str
    session_id: str
    rating: float
    """The rating as recorded (a thumb becomes the scale's end)."""
    feedback_count: int
    """The session's ratings now."""
    feedback_mean: float | None
    """Their mean."""


def feedback_request(low: float, high: float, max_comment: int) -> type[BaseModel]:
    """The body of ``POST .../feedback`` for the configured scale (its bounds are in the
    schema, so clients and the console read them)."""
    number: Any = Annotated[float, Field(ge=low, le=high, allow_inf_nan=False)]
    rating: Any = number | Literal["up", "down"]

    def _comment(cls: Any, value: str | None) -> str | None:
        if value is not None:
            _plain(value.replace("\n", " ").replace("\t", " ").replace("\r", " "), "comment")
        return value

    model: type[BaseModel] = create_model(
        "FeedbackRequest",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={
                "description": (
                    f"A rating of the session: a number from {low:g} to {high:g}, or "
                    '"up" / "down" for its ends; an optional comment and the turn it refers to.'
                ),
                "examples": [{"rating": high, "comment": "quick and right", "turn": 3}],
            },
        ),
        __validators__={"_comment": field_validator("comment")(_comment)},
        rating=(
            rating,
            Field(description=f'From {low:g} to {high:g}; "up" is {high:g}, "down" {low:g}.'),
        ),
        comment=(
            str | None,
            Field(default=None, max_length=max_comment, description="Why, in the user's words."),
        ),
        turn=(
            int | None,
            Field(
                default=None, ge=0, le=2**31 - 1, description="The turn (1 for the first) rated."
            ),
        ),
    )
    return model


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
