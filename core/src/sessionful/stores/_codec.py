"""Rows to records: the one codec both SQL stores read their ``sessions`` rows with.

Both schemas keep a session's record in the same columns, in the same order; :data:`RECORD`
names them for a ``SELECT`` (or ``RETURNING``) and :func:`record` turns such a row into a
:class:`SessionRecord`. :data:`LOADED` adds the snapshot columns a claim reads, and
:func:`loaded` builds the claimed session's state from that row and its log rows, refusing
anything that does not decode with ``CorruptSessionData``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sessionful.errors import CorruptSessionData
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores.base import LoadedSession, SessionRecord, decode_message, decode_snapshot

__all__ = ["LOADED", "RECORD", "MessageDecoder", "loaded", "record"]

RECORD = (
    "key, template_id, template_version, created_at, last_activity, turn_count, message_count, "
    "response_time_sum, epoch, owner"
)
"""The record's columns, in the order :func:`record` reads them."""

LOADED = f"{RECORD}, snapshot, snapshot_turn"
"""The record's columns, then the snapshot and the turn it covers: what a claim reads."""

_EPOCH = 8
"""The epoch's position in :data:`RECORD`."""

MessageDecoder = Callable[[SessionKey, Any, Any, Any, Any], ChatMessage]
"""``(key, role, content, name, metadata)`` of a log row -> the message."""


def record(row: Sequence[Any]) -> SessionRecord:
    """A row of :data:`RECORD` columns as a record."""
    return SessionRecord(
        key=SessionKey.parse(row[0]),
        template_id=row[1],
        template_version=row[2],
        created_at=row[3],
        last_activity=row[4],
        turn_count=row[5],
        message_count=row[6],
        response_time_sum=row[7],
        epoch=row[_EPOCH],
        owner=row[9],
    )


def loaded(
    key: SessionKey,
    row: Sequence[Any],
    log: Iterable[Sequence[Any]],
    decode: MessageDecoder = decode_message,
) -> LoadedSession:
    """A claimed session's state from a row of :data:`LOADED` columns and its log rows
    (``role, content, name, metadata``) after the snapshot.

    Raises ``CorruptSessionData`` when a column, the snapshot or a message does not decode.
    """
    try:
        return LoadedSession(
            record=record(row[:10]),
            snapshot=decode_snapshot(key, row[10]),
            snapshot_turn=row[11],
            messages=[decode(key, *r) for r in log],
        )
    except (ValueError, TypeError) as exc:  # a record column of the wrong type or range
        raise CorruptSessionData(key, f"the session record does not decode: {exc}") from exc
