"""The response bodies of the HTTP API, and the views that make them from the service's
records (times as RFC 3339)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sessionful.content import Usage
from sessionful.models import (
    ChatMessage,
    ExecutionResult,
    InstanceEvent,
    Interrupt,
    SessionStats,
    TurnStatus,
    built,
)
from sessionful.service.config import AgentConfig
from sessionful.stores.base import SessionRecord

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
    "TurnResponse",
    "ValidationIssue",
    "agent_info",
    "analytics",
    "rfc3339",
    "summary",
    "turn_response",
]


class _Model(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


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
    # The stats' own values (every field, the same names; interrupts stay models), not a dump
    # and a validation of them on every turn: only the two times change type.
    values = dict(stats.__dict__)
    values["created_at"] = rfc3339(stats.created_at + offset)
    values["last_activity"] = rfc3339(stats.last_activity + offset)
    if record is not None and record.corrupt is None:
        values["feedback_count"] = record.feedback_count
        values["feedback_mean"] = record.feedback_mean
    return built(SessionAnalytics, values)


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
    return built(
        cls,
        {
            "agent_id": agent_id,
            "session_id": session_id,
            "status": result.status,
            "messages": result.messages,
            "interrupts": result.interrupts,
            "usage": result.usage,
            "instance_event": result.instance_event,
            "stats": analytics(result.stats, clock),
        },
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
