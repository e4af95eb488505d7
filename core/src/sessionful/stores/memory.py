"""An in-process store with the same semantics as the SQL ones (fencing, JSON round trips,
validation of what it reads back), for tests and for trying the ``persisted`` strategy without a
file. Nothing survives the process.

Its rows hold what the SQL stores' columns hold (JSON text for snapshots, interrupts, labels and
message metadata), and are read back through the same codec, so a damaged row is refused here
as it is there."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sessionful.errors import ConfigurationError, LeaseLost, SessionNotFound
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores._codec import listed, loaded, record
from sessionful.stores._json import (
    decode_message,
    encode_interrupts,
    encode_labels,
    encode_message,
    encode_snapshot,
)
from sessionful.stores.base import (
    Feedback,
    Lease,
    LoadedSession,
    SessionRecord,
    SessionStore,
    TurnWrite,
    check_feedback,
    check_labels,
    check_template,
    check_user_id,
    finite,
)

__all__ = ["MemoryStore"]


@dataclass
class _Row:
    template_id: Any
    template_version: Any
    created_at: Any
    last_activity: Any
    epoch: Any
    owner: Any
    turn_count: Any = 0
    message_count: Any = 0
    response_time_sum: Any = 0.0
    snapshot: Any = None
    snapshot_turn: Any = 0
    interrupts: Any = None
    input_tokens: Any = 0
    output_tokens: Any = 0
    user_id: Any = None
    labels: Any = None
    feedback_count: Any = 0
    feedback_sum: Any = 0.0
    log: list[tuple[int, tuple[Any, Any, Any, Any]]] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)

    def columns(self, key: SessionKey) -> tuple[Any, ...]:
        """The row as the SQL stores' ``RECORD`` columns."""
        return (
            str(key),
            self.template_id,
            self.template_version,
            self.created_at,
            self.last_activity,
            self.turn_count,
            self.message_count,
            self.response_time_sum,
            self.epoch,
            self.owner,
            self.interrupts,
            self.input_tokens,
            self.output_tokens,
            self.user_id,
            self.labels,
            self.feedback_count,
            self.feedback_sum,
        )

    def record(self, key: SessionKey) -> SessionRecord:
        return record(self.columns(key), key)


class MemoryStore(SessionStore):
    """Sessions in a dict. ``memory://`` builds one; share the object to share sessions."""

    schemes: ClassVar[tuple[str, ...]] = ("memory",)

    def __init__(self) -> None:
        self._rows: dict[SessionKey, _Row] = {}

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """``memory://`` (nothing else may follow)."""
        if url.rstrip("/") != "memory:":
            raise ConfigurationError(f"a memory store URL is just memory://, not {url!r}")
        return cls()

    async def open(self) -> None:
        """Nothing to open."""

    async def aclose(self) -> None:
        """Nothing to close; the sessions stay in the object."""

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
        """Bump the epoch (creating the row if missing and ``create``) and load the state."""
        row = self._rows.get(key)
        if row is None:
            if not create:
                raise SessionNotFound(key)
            check_template(template_id, template_version)
            user_id, chosen = check_user_id(user_id), check_labels(labels)
            self._rows[key] = _Row(
                template_id,
                template_version,
                now,
                now,
                1,
                owner,
                user_id=user_id,
                labels=encode_labels(chosen),
            )
            return Lease(key, 1, owner), None
        # Decoded before anything changes: a damaged session is refused as it is.
        since = row.snapshot_turn if type(row.snapshot_turn) is int else 0
        state = loaded(
            key,
            (*row.columns(key), row.snapshot, row.snapshot_turn),
            [m for turn, m in row.log if turn > since],
            decode_message,
        )
        row.epoch += 1
        row.owner = owner
        row.last_activity = max(row.last_activity, now)  # a claim is activity (retention)
        state = state.model_copy(
            update={
                "record": state.record.model_copy(
                    update={"epoch": row.epoch, "owner": owner, "last_activity": row.last_activity}
                )
            }
        )
        return Lease(key, row.epoch, owner), state

    def _current(self, lease: Lease, turn_count: int | None = None) -> _Row:
        row = self._rows.get(lease.key)
        if row is None or (row.epoch, row.owner) != (lease.epoch, lease.owner):
            raise LeaseLost(lease.key, lease.epoch)
        if turn_count is not None and row.turn_count != turn_count:
            raise LeaseLost(lease.key, lease.epoch)
        return row

    async def check(self, lease: Lease) -> None:
        """Raise ``LeaseLost`` if the session was claimed since ``lease``."""
        self._current(lease)

    async def append_turn(self, lease: Lease, turn: TurnWrite) -> None:
        """Append the turn if the lease and turn number hold."""
        row = self._current(lease, turn.turn - 1)
        encoded = [encode_message(m) for m in turn.messages]
        snapshot = None if turn.snapshot is None else encode_snapshot(turn.snapshot)
        interrupts = encode_interrupts(turn.interrupts)
        row.turn_count = turn.turn
        row.message_count += len(encoded)
        row.last_activity = turn.finished_at
        row.response_time_sum += finite(turn.duration)
        row.interrupts = interrupts
        if turn.usage is not None:
            row.input_tokens += turn.usage.input_tokens
            row.output_tokens += turn.usage.output_tokens
        row.log.extend((turn.turn, m) for m in encoded)
        if snapshot is not None:
            row.snapshot, row.snapshot_turn = snapshot, turn.turn

    async def save_snapshot(self, lease: Lease, turn: int, snapshot: Mapping[str, Any]) -> None:
        """Store the snapshot as of ``turn`` if the lease and turn count hold."""
        row = self._current(lease, turn)
        row.snapshot, row.snapshot_turn = encode_snapshot(snapshot), turn

    async def get(self, key: SessionKey) -> SessionRecord | None:
        """The record, or ``None``; ``CorruptSessionData`` for a damaged one."""
        row = self._rows.get(key)
        return None if row is None else row.record(key)

    async def history(self, key: SessionKey, limit: int | None = None) -> list[ChatMessage]:
        """The logged messages, oldest first."""
        row = self._rows.get(key)
        log = [] if row is None else row.log
        chosen = log if limit is None else log[len(log) - min(max(0, limit), len(log)) :]
        return [decode_message(key, *m) for _, m in chosen]

    def _matching(
        self,
        namespace: str | None,
        agent_id: str | None,
        user_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        active_after: float | None = None,
        active_before: float | None = None,
    ) -> list[SessionKey]:
        wanted = dict(labels or {})
        found = []
        for key, row in self._rows.items():
            if (namespace is not None and key.namespace != namespace) or (
                agent_id is not None and key.agent_id != agent_id
            ):
                continue
            if user_id is not None and row.user_id != user_id:
                continue
            if wanted:
                try:
                    have = record(row.columns(key), key).labels
                except Exception:
                    continue  # a damaged row matches no label filter
                if any(have.get(name) != value for name, value in wanted.items()):
                    continue
            if active_after is not None or active_before is not None:
                at = row.last_activity
                if type(at) not in (int, float):
                    continue
                if (active_after is not None and not at >= active_after) or (
                    active_before is not None and not at < active_before
                ):
                    continue
            found.append(key)
        return found

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
        """Records by key string, filtered, after ``after``; damaged ones flagged."""
        keys = self._matching(namespace, agent_id, user_id, labels, active_after, active_before)
        chosen = sorted((str(k), k) for k in keys if str(k) > (after or ""))
        return listed(self._rows[k].columns(k) for _, k in chosen[: max(0, limit)])

    async def count_sessions(
        self, namespace: str | None = None, *, agent_id: str | None = None
    ) -> int:
        """How many sessions match, without building a record."""
        return len(self._matching(namespace, agent_id))

    async def delete(self, key: SessionKey) -> dict[str, int]:
        """Forget the session; say what was deleted."""
        row = self._rows.pop(key, None)
        if row is None:
            return {"sessions": 0, "messages": 0, "snapshots": 0}
        deleted = {
            "sessions": 1,
            "messages": len(row.log),
            "snapshots": int(row.snapshot is not None),
        }
        if row.feedback:
            deleted["feedback"] = len(row.feedback)
        return deleted

    async def purge_idle(
        self, before: float, limit: int, exclude: Collection[SessionKey] = ()
    ) -> list[SessionKey]:
        """Delete up to ``limit`` sessions idle since before ``before``, oldest first, none of
        ``exclude``."""
        spared = set(exclude)
        idle = sorted(
            (float(row.last_activity), str(key), key)
            for key, row in self._rows.items()
            if type(row.last_activity) in (int, float)
            and row.last_activity < before
            and key not in spared
        )[: max(0, limit)]
        for _, _, key in idle:
            del self._rows[key]
        return [key for _, _, key in idle]

    async def record_feedback(
        self,
        key: SessionKey,
        rating: float,
        comment: str | None = None,
        turn: int | None = None,
        at: float = 0.0,
    ) -> None:
        """Keep the rating with the session."""
        rating = check_feedback(rating, turn)
        row = self._rows.get(key)
        if row is None:
            raise SessionNotFound(key)
        row.feedback.append(Feedback(rating, comment, turn, at))
        row.feedback_count += 1
        row.feedback_sum += rating

    async def feedback(self, key: SessionKey) -> list[Feedback]:
        """The session's ratings, oldest first."""
        row = self._rows.get(key)
        return [] if row is None else list(row.feedback)

    def dump(self) -> dict[str, Any]:
        """Everything stored, as JSON-able data (for tests and debugging)."""
        return {
            str(key): {**row.record(key).model_dump(mode="json"), "log": row.log}
            for key, row in self._rows.items()
        }
