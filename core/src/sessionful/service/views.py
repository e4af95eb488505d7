"""What the service answers about sessions: one session as a principal sees it, a page of
sessions and the filter that chose it, a page of a session's history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from sessionful.models import ChatMessage, Interrupt, SessionStats
from sessionful.stores.base import SessionRecord

__all__ = ["HistoryPage", "SessionFilter", "SessionPage", "SessionView"]


class SessionView(BaseModel):
    """One session as a principal sees it."""

    model_config = ConfigDict(frozen=True)

    agent_id: str
    session_id: str
    loaded: bool
    """Whether an instance is live in this process."""
    stats: SessionStats | None
    """Live analytics, when loaded."""
    record: SessionRecord | None
    """What the store holds (``persisted``)."""
    history: list[ChatMessage]

    @property
    def interrupts(self) -> list[Interrupt]:
        """Interrupts waiting for an answer: the next turn must resume them (the live
        instance's when loaded, else the store's)."""
        if self.stats is not None:
            return list(self.stats.interrupts)
        return list(self.record.interrupts) if self.record is not None else []

    @property
    def tokens(self) -> tuple[int, int]:
        """``(input, output)`` tokens over the session's turns that reported usage (the live
        instance's totals when loaded, else the store's)."""
        if self.stats is not None:
            return self.stats.input_tokens, self.stats.output_tokens
        if self.record is not None:
            return self.record.input_tokens, self.record.output_tokens
        return 0, 0


class SessionPage(BaseModel):
    """A page of a principal's sessions; pass ``next_after`` to get the next page."""

    model_config = ConfigDict(frozen=True)

    sessions: list[SessionRecord]
    next_after: str | None


class SessionFilter(NamedTuple):
    """What a listing keeps (each ``None``: everything): an agent, an end user, labels (every
    pair), and the activity window ``active_after <= last_activity < active_before`` (wall-clock
    Unix seconds)."""

    agent_id: str | None = None
    user_id: str | None = None
    labels: Mapping[str, str] | None = None
    active_after: float | None = None
    active_before: float | None = None


class HistoryPage(NamedTuple):
    """A page of a session's messages, oldest first: ``messages`` from position ``start``;
    ``next_after`` is the position the next page starts at (``None`` on the last page)."""

    messages: list[ChatMessage]
    start: int
    next_after: int | None
