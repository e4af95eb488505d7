"""The SessionStore contract: where the ``persisted`` strategy keeps sessions.

A store keeps, per session: a record (key, namespace, agent, template version, timestamps,
counters), an append-only log of every turn's messages, the adapter's latest JSON snapshot, and
the session's lease. Everything is JSON; nothing is ever unpickled.

**Fencing.** A process that loads a session *claims* it: the store bumps the session's epoch in
one atomic step and returns a :class:`Lease` carrying it. Every later write names the lease, and
the store applies it only if the epoch and owner are still the session's (and the turn number is
the next one); otherwise it raises :class:`~sessionful.LeaseLost`. (The owner matters after
a delete: a re-created session starts again at epoch 1, and a lease from before the delete must
not write to it.) The newest claimant therefore wins at
once, and a process that paused, lost its connection or was partitioned can never write again
for that session: two processes can never both advance one session.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sessionful.content import Usage
from sessionful.errors import CorruptSessionData
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage, Interrupt

__all__ = [
    "SCHEMA_VERSION",
    "Lease",
    "LoadedSession",
    "SessionRecord",
    "SessionStore",
    "TurnWrite",
    "decode_message",
    "decode_snapshot",
    "encode_message",
    "encode_snapshot",
]

SCHEMA_VERSION = 1
"""The schema this code writes; a store refuses to open a database with a newer one."""


class Lease(NamedTuple):
    """The right to write one session, until someone claims it again."""

    key: SessionKey
    epoch: int
    owner: str


class SessionRecord(BaseModel):
    """What a store knows of a session, without its messages. Times are wall-clock seconds."""

    model_config = ConfigDict(frozen=True)

    key: SessionKey
    template_id: str
    template_version: str
    created_at: float
    last_activity: float
    turn_count: int
    message_count: int
    response_time_sum: float
    epoch: int
    owner: str | None
    interrupts: list[Interrupt] = Field(default_factory=list)
    """Interrupts the session's last turn left waiting for an answer."""
    input_tokens: int = 0
    """Tokens in, summed over the turns that reported usage."""
    output_tokens: int = 0


class LoadedSession(BaseModel):
    """A claimed session's state: the record, the latest snapshot, and the log after it."""

    model_config = ConfigDict(frozen=True)

    record: SessionRecord
    snapshot: dict[str, Any] | None
    snapshot_turn: int
    """The number of turns the snapshot covers (0 when there is none)."""
    messages: list[ChatMessage]
    """Messages of the turns after ``snapshot_turn``, in order."""


class TurnWrite(NamedTuple):
    """One completed turn, as the manager hands it to the store."""

    turn: int
    """This turn's number (1 for the first); the store refuses any other than ``count + 1``."""
    messages: Sequence[ChatMessage]
    """The turn's input followed by its output."""
    finished_at: float
    """Wall-clock seconds."""
    duration: float
    snapshot: Mapping[str, Any] | None = None
    """The adapter's snapshot after this turn, when the framework snapshots every turn."""
    interrupts: Sequence[Interrupt] = ()
    """The interrupts pending after this turn (replacing the record's)."""
    usage: Usage | None = None
    """Tokens this turn used (added to the record's totals)."""


class SessionStore(ABC):
    """Where persisted sessions live. Subclasses implement the async methods below; all SQL is
    parameterised; ``open`` creates or migrates the schema and is idempotent."""

    schemes: ClassVar[tuple[str, ...]] = ()
    """URL schemes this store is built from (``sqlite``, ``postgresql``, ``memory``)."""

    @classmethod
    def from_url(cls, url: str) -> SessionStore:
        """Build the store a URL names; raises ``ConfigurationError`` for a malformed one."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The store's first scheme, as ``plugins`` listings show it."""
        return self.schemes[0] if self.schemes else type(self).__name__

    @abstractmethod
    async def open(self) -> None:
        """Connect, and create or migrate the schema. Raises ``SchemaTooNew``."""

    @abstractmethod
    async def aclose(self) -> None:
        """Wait for pending writes, then release connections."""

    @abstractmethod
    async def claim(
        self, key: SessionKey, owner: str, template_id: str, template_version: str, now: float
    ) -> tuple[Lease, LoadedSession | None]:
        """Take ``key``'s lease with a new, higher epoch and load its state.

        A missing session is created (with the given template) and ``None`` is returned as its
        state. Raises ``CorruptSessionData`` when a stored row does not decode.
        """

    @abstractmethod
    async def check(self, lease: Lease) -> None:
        """Raise ``LeaseLost`` if someone has claimed the session since ``lease``."""

    @abstractmethod
    async def append_turn(self, lease: Lease, turn: TurnWrite) -> None:
        """Append a completed turn, atomically and durably, if ``lease`` is still current.

        Raises ``LeaseLost`` (and writes nothing) when the epoch has moved or the turn number is
        not the next one.
        """

    @abstractmethod
    async def save_snapshot(self, lease: Lease, turn: int, snapshot: Mapping[str, Any]) -> None:
        """Store the adapter's snapshot as of ``turn``, fenced like ``append_turn``."""

    @abstractmethod
    async def get(self, key: SessionKey) -> SessionRecord | None:
        """The record of ``key``, or ``None``."""

    @abstractmethod
    async def history(self, key: SessionKey, limit: int | None = None) -> list[ChatMessage]:
        """The session's logged messages, oldest first (the latest ``limit`` of them)."""

    @abstractmethod
    async def list_sessions(
        self,
        *,
        namespace: str | None = None,
        agent_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[SessionRecord]:
        """Records ordered by key string, ``after`` the given key string (keyset paging)."""

    @abstractmethod
    async def delete(self, key: SessionKey) -> dict[str, int]:
        """Delete everything ``key`` owns; return counts by kind (``sessions``, ``messages``,
        ``snapshots``)."""

    @abstractmethod
    async def purge_idle(self, before: float, limit: int) -> list[SessionKey]:
        """Delete up to ``limit`` sessions whose last activity is older than ``before`` (wall
        seconds), oldest first; return their keys. Call repeatedly for bounded batches."""


# -- JSON encoding shared by the SQL stores ---------------------------------------------------


_RICH = "$sessionful"
"""Marks a log row's metadata column as holding a whole message (content blocks, tool calls,
usage) rather than only its metadata. A plain-text message stores its metadata as it is, so the
common row stays small and readable; its ``content`` column always holds the message's text."""


def encode_message(message: ChatMessage) -> tuple[str, str, str | None, str]:
    """``(role, text, name, metadata JSON)`` for a log row."""
    if (
        isinstance(message.content, str)
        and not message.tool_calls
        and message.tool_call_id is None
        and message.usage is None
        and _RICH not in message.metadata
    ):
        return message.role, message.content, message.name, _dumps(message.metadata)
    # Only the message's own empty fields are left out: a block's ``type`` is a default too, and
    # without it the block cannot be told apart when the row is read back.
    dumped = message.model_dump(mode="json", exclude={"role", "name"})
    whole = {k: v for k, v in dumped.items() if k == "content" or v not in (None, [], {})}
    return message.role, message.text, message.name, _dumps({_RICH: 1, "message": whole})


def decode_message(key: SessionKey, role: Any, content: Any, name: Any, meta: Any) -> ChatMessage:
    """A log row back to a message; anything but plain JSON of the right shape is refused."""
    try:
        metadata = json.loads(meta)
        if isinstance(metadata, dict) and _RICH in metadata:
            _refuse_envelopes(key, metadata)
            whole = metadata["message"]
            if not isinstance(whole, dict):
                raise TypeError("a rich message row does not hold an object")
            message = ChatMessage.model_validate(
                {"content": "", **whole, "role": role, "name": name}
            )
            return message
        message = ChatMessage(role=role, content=content, name=name, metadata=metadata)
    except (ValueError, TypeError, KeyError, ValidationError) as exc:
        raise CorruptSessionData(key, f"a logged message does not decode: {exc}") from exc
    _refuse_envelopes(key, metadata)
    return message


def encode_snapshot(snapshot: Mapping[str, Any]) -> str:
    """A snapshot as JSON text; raises ``TypeError`` for anything JSON cannot hold."""
    return _dumps(dict(snapshot))


def decode_snapshot(key: SessionKey, text: Any) -> dict[str, Any] | None:
    """JSON text back to a snapshot dict; ``None`` stays ``None``."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise CorruptSessionData(key, f"the snapshot is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CorruptSessionData(key, "the snapshot is not a JSON object")
    _refuse_envelopes(key, value)
    return value


def _refuse_envelopes(key: SessionKey, value: Any) -> None:
    """Refuse LangChain's serialised-constructor envelope (``{"lc": 1, "type": "constructor"}``)
    anywhere in stored JSON. We never revive objects, but an adapter handing stored data to a
    framework's loader could; such data has no business in a session, so it is refused."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "lc" in item and item.get("type") in ("constructor", "secret", "not_implemented"):
                raise CorruptSessionData(key, "stored data holds a LangChain object envelope")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _dumps(value: Any) -> str:
    # allow_nan=False: NaN and Infinity are not JSON, and Postgres' jsonb refuses them.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def finite(value: float) -> float:
    """``value`` if finite, else 0.0 (a clock that jumps must not poison the counters)."""
    return value if math.isfinite(value) else 0.0
