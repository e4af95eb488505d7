"""An in-process store with the same semantics as the SQL ones (fencing, JSON round trips), for
tests and for trying the ``persisted`` strategy without a file. Nothing survives the process."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sessionful.errors import ConfigurationError, LeaseLost
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores.base import (
    Lease,
    LoadedSession,
    SessionRecord,
    SessionStore,
    TurnWrite,
    decode_message,
    decode_snapshot,
    encode_message,
    encode_snapshot,
    finite,
)

__all__ = ["MemoryStore"]


@dataclass
class _Row:
    template_id: str
    template_version: str
    created_at: float
    last_activity: float
    epoch: int
    owner: str
    turn_count: int = 0
    message_count: int = 0
    response_time_sum: float = 0.0
    snapshot: str | None = None
    snapshot_turn: int = 0
    log: list[tuple[int, tuple[str, str, str | None, str]]] = field(default_factory=list)

    def record(self, key: SessionKey) -> SessionRecord:
        return SessionRecord(
            key=key,
            template_id=self.template_id,
            template_version=self.template_version,
            created_at=self.created_at,
            last_activity=self.last_activity,
            turn_count=self.turn_count,
            message_count=self.message_count,
            response_time_sum=self.response_time_sum,
            epoch=self.epoch,
            owner=self.owner,
        )


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
        self, key: SessionKey, owner: str, template_id: str, template_version: str, now: float
    ) -> tuple[Lease, LoadedSession | None]:
        """Bump the epoch (creating the row if missing) and load the state."""
        row = self._rows.get(key)
        if row is None:
            self._rows[key] = _Row(template_id, template_version, now, now, 1, owner)
            return Lease(key, 1, owner), None
        row.epoch += 1
        row.owner = owner
        row.last_activity = max(row.last_activity, now)  # a claim is activity (retention)
        messages = [decode_message(key, *m) for turn, m in row.log if turn > row.snapshot_turn]
        loaded = LoadedSession(
            record=row.record(key),
            snapshot=decode_snapshot(key, row.snapshot),
            snapshot_turn=row.snapshot_turn,
            messages=messages,
        )
        return Lease(key, row.epoch, owner), loaded

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
        row.turn_count = turn.turn
        row.message_count += len(encoded)
        row.last_activity = turn.finished_at
        row.response_time_sum += finite(turn.duration)
        row.log.extend((turn.turn, m) for m in encoded)
        if snapshot is not None:
            row.snapshot, row.snapshot_turn = snapshot, turn.turn

    async def save_snapshot(self, lease: Lease, turn: int, snapshot: Mapping[str, Any]) -> None:
        """Store the snapshot as of ``turn`` if the lease and turn count hold."""
        row = self._current(lease, turn)
        row.snapshot, row.snapshot_turn = encode_snapshot(snapshot), turn

    async def get(self, key: SessionKey) -> SessionRecord | None:
        """The record, or ``None``."""
        row = self._rows.get(key)
        return None if row is None else row.record(key)

    async def history(self, key: SessionKey, limit: int | None = None) -> list[ChatMessage]:
        """The logged messages, oldest first."""
        row = self._rows.get(key)
        log = [] if row is None else row.log
        chosen = log if limit is None else log[len(log) - min(limit, len(log)) :]
        return [decode_message(key, *m) for _, m in chosen]

    async def list_sessions(
        self,
        *,
        namespace: str | None = None,
        agent_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[SessionRecord]:
        """Records by key string, filtered, after ``after``."""
        chosen = sorted(
            (str(key), key)
            for key in self._rows
            if (namespace is None or key.namespace == namespace)
            and (agent_id is None or key.agent_id == agent_id)
            and str(key) > (after or "")
        )
        return [self._rows[key].record(key) for _, key in chosen[:limit]]

    async def delete(self, key: SessionKey) -> dict[str, int]:
        """Forget the session; say what was deleted."""
        row = self._rows.pop(key, None)
        if row is None:
            return {"sessions": 0, "messages": 0, "snapshots": 0}
        return {"sessions": 1, "messages": len(row.log), "snapshots": int(row.snapshot is not None)}

    async def purge_idle(self, before: float, limit: int) -> list[SessionKey]:
        """Delete up to ``limit`` sessions idle since before ``before``, oldest first."""
        idle = sorted(
            (row.last_activity, str(key), key)
            for key, row in self._rows.items()
            if row.last_activity < before
        )[:limit]
        for _, _, key in idle:
            del self._rows[key]
        return [key for _, _, key in idle]

    def dump(self) -> dict[str, Any]:
        """Everything stored, as JSON-able data (for tests and debugging)."""
        return {
            str(key): {**row.record(key).model_dump(mode="json"), "log": row.log}
            for key, row in self._rows.items()
        }
