"""The SessionStore contract: where the ``persisted`` strategy keeps sessions.

A store keeps, per session: a record (key, namespace, agent, template version, timestamps,
counters), an append-only log of every turn's messages, the adapter's latest JSON snapshot, and
the session's lease. Everything is JSON; nothing is ever unpickled.

**Damage stays with its session.** Every read of a stored row is validated (types, ranges, JSON
nesting depth): a row that is not what this code writes raises
:class:`~sessionful.CorruptSessionData` naming that session, and nothing in it is run. A listing
does not fail for one damaged row: it returns the others and a placeholder record for the damaged
one, with :attr:`SessionRecord.corrupt` saying why. Deleting a damaged session works.

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

import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Collection, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from sessionful.content import Usage
from sessionful.errors import SessionNotFound
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage, Interrupt
from sessionful.stores._json import (
    MAX_JSON_DEPTH,
    decode_message,
    decode_snapshot,
    encode_message,
    encode_snapshot,
)

__all__ = [
    "MAX_JSON_DEPTH",
    "SCHEMA_VERSION",
    "Feedback",
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

SCHEMA_VERSION = 2
"""The schema this code writes; a store refuses to open a database with a newer one.

Version 2 added, per session: the pending interrupts and the token totals (written by the turn's
fenced update), ``user_id`` and ``labels`` (set at creation, indexed for listing), and feedback
(a table of ratings beside the session, with its count and sum on the record). Opening a
version 1 database migrates it in place."""

MAX_LABELS = 64
"""Labels a session may carry."""


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
    user_id: str | None = None
    """The end user the session belongs to (set at creation)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """String labels set at creation, for filtering listings."""
    feedback_count: int = 0
    """How many ratings were recorded for the session."""
    feedback_mean: float | None = None
    """Their mean, or ``None`` without any."""
    corrupt: str | None = None
    """Set only in listings: the session's stored row does not decode, and this says why. The
    record's other fields are then placeholders (only ``key`` is real); ``get`` or a claim of
    the session raises ``CorruptSessionData``, and deleting it works."""

    @classmethod
    def damaged(cls, key: SessionKey, reason: str) -> SessionRecord:
        """The placeholder a listing shows for a session whose row does not decode."""
        return cls(
            key=key,
            template_id="",
            template_version="",
            created_at=0.0,
            last_activity=0.0,
            turn_count=0,
            message_count=0,
            response_time_sum=0.0,
            epoch=0,
            owner=None,
            corrupt=reason,
        )


class Feedback(NamedTuple):
    """A rating recorded for a session."""

    rating: float
    comment: str | None
    turn: int | None
    """The turn the rating refers to, if any."""
    at: float
    """Wall-clock seconds."""


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

    @property
    def exists(self) -> bool:
        """Whether the store's database is there already; ``open`` creates one that is not
        (a SQLite file not yet made). Looking at a store that does not exist need not make it."""
        return True

    @abstractmethod
    async def open(self) -> None:
        """Connect, and create or migrate the schema. Raises ``SchemaTooNew``."""

    @abstractmethod
    async def aclose(self) -> None:
        """Wait for pending writes, then release connections."""

    @abstractmethod
    async def claim(
        self,
        key: SessionKey,
        owner: str,
        template_id: str,
        template_version: str,
        now: float,
        *,
        create: bool = True,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[Lease, LoadedSession | None]:
        """Take ``key``'s lease with a new, higher epoch and load its state.

        A missing session is created (with the given template, ``user_id`` and ``labels``) and
        ``None`` is returned as its state; with ``create=False`` it is not, atomically, and
        ``SessionNotFound`` is raised instead. ``user_id`` and ``labels`` apply only to a session
        this call creates. Raises ``CorruptSessionData`` when a stored row does not decode, and
        ``ValueError`` for a template id or version, ``user_id`` or labels no store can hold
        (see :func:`check_template`, :func:`check_labels`).
        """

    @abstractmethod
    async def check(self, lease: Lease) -> None:
        """Raise ``LeaseLost`` if someone has claimed the session since ``lease``."""

    @abstractmethod
    def append_turn(self, lease: Lease, turn: TurnWrite) -> Awaitable[None]:
        """Append a completed turn, atomically and durably, if ``lease`` is still current.

        Raises ``LeaseLost`` (and writes nothing) when the epoch has moved or the turn number is
        not the next one.

        Usually an ``async def``. A store may instead return an ``asyncio.Future`` that it
        settles itself once the write's outcome is known, whatever happens to the caller (the
        SQLite store returns its writer thread's future): the manager then waits on it without
        running a task of its own to see a cancelled turn's write through.
        """

    @abstractmethod
    async def save_snapshot(self, lease: Lease, turn: int, snapshot: Mapping[str, Any]) -> None:
        """Store the adapter's snapshot as of ``turn``, fenced like ``append_turn``."""

    @abstractmethod
    async def get(self, key: SessionKey) -> SessionRecord | None:
        """The record of ``key``, or ``None``. Raises ``CorruptSessionData`` for a damaged
        row."""

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
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        active_after: float | None = None,
        active_before: float | None = None,
    ) -> list[SessionRecord]:
        """Records ordered by key string, ``after`` the given key string (keyset paging).

        Filters (each ``None`` is no filter): ``namespace``, ``agent_id``, ``user_id``;
        ``labels``, all of whose pairs a session's labels must hold; and the activity window,
        ``active_after <= last_activity < active_before`` (wall seconds). A damaged row does not
        fail the listing: it comes back as :meth:`SessionRecord.damaged` (``corrupt`` set)."""

    async def count_sessions(
        self, namespace: str | None = None, *, agent_id: str | None = None
    ) -> int:
        """How many sessions there are (in ``namespace``; for ``agent_id``), without loading
        their records. This default pages through :meth:`list_sessions`; the built-in stores
        count in the database, on an index."""
        total, after = 0, None
        while True:
            page = await self.list_sessions(
                namespace=namespace, agent_id=agent_id, after=after, limit=1000
            )
            total += len(page)
            if len(page) < 1000:
                return total
            after = str(page[-1].key)

    @abstractmethod
    async def delete(self, key: SessionKey) -> dict[str, int]:
        """Delete everything ``key`` owns, damaged or not; return counts by kind
        (``sessions``, ``messages``, ``snapshots``; ``feedback`` when there was some)."""

    @abstractmethod
    async def purge_idle(
        self, before: float, limit: int, exclude: Collection[SessionKey] = ()
    ) -> list[SessionKey]:
        """Delete up to ``limit`` sessions whose last activity is older than ``before`` (wall
        seconds), oldest first, never one in ``exclude`` (the sessions with a turn in flight
        in the caller's process); return their keys. Call repeatedly for bounded batches."""

    @abstractmethod
    async def record_feedback(
        self,
        key: SessionKey,
        rating: float,
        comment: str | None = None,
        turn: int | None = None,
        at: float = 0.0,
    ) -> None:
        """Record a rating of ``key``'s session (stored with it, deleted with it; not fenced:
        feedback does not advance the session). Raises ``SessionNotFound`` when it does not
        exist, ``ValueError`` for a rating that is not a finite number or a negative turn."""

    @abstractmethod
    async def feedback(self, key: SessionKey) -> list[Feedback]:
        """The ratings recorded for ``key``'s session, oldest first."""


# -- argument checks shared by the stores -----------------------------------------------------


def check_user_id(user_id: str | None) -> str | None:
    """``user_id`` if every store can hold it (a string without NUL); else ``ValueError``."""
    if user_id is not None and (not isinstance(user_id, str) or "\x00" in user_id):
        raise ValueError(f"a user id is a string without NUL characters, not {user_id!r}")
    return user_id


def check_template(template_id: str, template_version: str) -> None:
    """``ValueError`` unless the template's id and version are strings every store can hold
    (no NUL): a claim that creates a record names both."""
    for what, value in (("template id", template_id), ("template version", template_version)):
        if not isinstance(value, str) or "\x00" in value:
            raise ValueError(f"a {what} is a string without NUL characters, not {value!r}")


def check_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """``labels`` as a dict, if every store can hold them (at most :data:`MAX_LABELS` pairs of
    strings without NUL, names not empty); else ``ValueError``."""
    if not labels:
        return {}
    if len(labels) > MAX_LABELS:
        raise ValueError(f"a session carries at most {MAX_LABELS} labels, not {len(labels)}")
    for name, value in labels.items():
        if not isinstance(name, str) or not name or "\x00" in name:
            raise ValueError(f"a label name is a non-empty string without NUL, not {name!r}")
        if not isinstance(value, str) or "\x00" in value:
            raise ValueError(f"label {name!r}: a value is a string without NUL, not {value!r}")
    return dict(labels)


def check_feedback(rating: float, turn: int | None) -> float:
    """``rating`` as a float, if it is finite and ``turn`` is ``None`` or a turn number."""
    if isinstance(rating, bool) or not isinstance(rating, (int, float)):
        raise ValueError(f"a rating is a number, not {rating!r}")
    if not math.isfinite(rating):
        raise ValueError(f"a rating is a finite number, not {rating!r}")
    if turn is not None and (isinstance(turn, bool) or not isinstance(turn, int) or turn < 0):
        raise ValueError(f"a rated turn is a turn number (>= 0), not {turn!r}")
    return float(rating)


def not_found(key: SessionKey) -> SessionNotFound:
    """The error for a session a call needs and the store does not have."""
    return SessionNotFound(key)


def finite(value: float) -> float:
    """``value`` if finite, else 0.0 (a clock that jumps must not poison the counters)."""
    return value if math.isfinite(value) else 0.0
