"""The request bodies of the HTTP API: a turn, a session creation, a rating (the configured
scale's model), and the checks that keep what they carry storable."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    field_validator,
    model_validator,
)

from sessionful.keys import MAX_ID_LENGTH
from sessionful.models import ChatMessage
from sessionful.stores.base import MAX_LABELS

__all__ = [
    "MAX_METADATA_DEPTH",
    "CreateSessionRequest",
    "TurnRequest",
    "feedback_request",
    "unix_seconds",
]

MAX_METADATA_DEPTH = 32
"""How deep a message's ``metadata`` may nest."""

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ENVELOPE_TYPES = ("constructor", "secret", "not_implemented")


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


class TurnRequest(BaseModel):
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


class CreateSessionRequest(BaseModel):
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


def unix_seconds(value: datetime) -> float:
    """An RFC 3339 time (naive: UTC) as Unix seconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


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
