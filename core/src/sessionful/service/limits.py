"""The service's size limits on a turn (``[limits]``): what counts and what is refused."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sessionful.content import TextBlock
from sessionful.errors import SessionError
from sessionful.models import ChatMessage
from sessionful.service.config import LimitsConfig

__all__ = ["LimitExceeded", "check_turn", "json_chars", "message_chars"]


def message_chars(message: ChatMessage) -> int:
    """A message's size as ``max_message_chars`` counts it: its text's characters, plus the
    JSON characters of its other content blocks (images, files...)."""
    content = message.content
    if isinstance(content, str):
        return len(content)
    return sum(
        len(block.text)
        if isinstance(block, TextBlock)
        else json_chars(block.model_dump(mode="json"))
        for block in content
    )


def json_chars(value: Any) -> int:
    """How many characters ``value`` takes as compact JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))


class LimitExceeded(SessionError):
    """A request is over a configured limit; ``.limit`` names it (``max_message_chars``...)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(None, message)
        self.limit = limit


def check_turn(
    limits: LimitsConfig,
    messages: Sequence[ChatMessage],
    context: Mapping[str, Any] | None,
    resume: Mapping[str, Any] | None,
) -> None:
    """Raise :class:`LimitExceeded` for a turn over ``limits``: too many messages, a message
    too long, its ``context`` or ``resume`` too big as JSON."""
    if len(messages) > limits.max_messages_per_request:
        raise LimitExceeded(
            "max_messages_per_request",
            f"{len(messages)} messages; at most {limits.max_messages_per_request} per request",
        )
    for message in messages:
        size = message_chars(message)
        if size > limits.max_message_chars:
            raise LimitExceeded(
                "max_message_chars",
                f"a message of {size} characters; at most {limits.max_message_chars}",
            )
    for name, value in (("context", context), ("resume", resume)):
        size = json_chars(value) if value else 0
        if size > limits.max_context_chars:
            raise LimitExceeded(
                "max_context_chars",
                f"the turn's {name} is {size} characters of JSON; "
                f"at most {limits.max_context_chars}",
            )
