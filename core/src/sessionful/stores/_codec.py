"""Rows to records: the one codec every store reads its session rows with.

Both SQL schemas keep a session's record in the same columns, in the same order; :data:`RECORD`
names them for a ``SELECT`` (or ``RETURNING``) and :func:`record` turns such a row into a
:class:`SessionRecord` (the memory store builds the same row from its objects, so it is read the
same way). :data:`LOADED` adds the snapshot columns a claim reads, and :func:`loaded` builds the
claimed session's state from that row and its log rows.

Every column is validated, not coerced: a number must be a finite number, a count an integer
``>= 0`` and an epoch one ``>= 1`` (``bool`` is not one), text must be text, JSON must be JSON of
the right shape and bounded depth. Anything else raises ``CorruptSessionData`` naming the
session. For listings, :func:`listed` turns such a row into a placeholder record flagged
``corrupt`` instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sessionful.errors import CorruptSessionData
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores._json import (
    decode_interrupts,
    decode_labels,
    decode_message,
    decode_snapshot,
)
from sessionful.stores.base import LoadedSession, SessionRecord

__all__ = [
    "EPOCH",
    "LOADED",
    "RECORD",
    "SNAPSHOT_TURN",
    "MessageDecoder",
    "listed",
    "loaded",
    "record",
]

logger = logging.getLogger("sessionful")

_COLUMNS = (
    "key",
    "template_id",
    "template_version",
    "created_at",
    "last_activity",
    "turn_count",
    "message_count",
    "response_time_sum",
    "epoch",
    "owner",
    "interrupts",
    "input_tokens",
    "output_tokens",
    "user_id",
    "labels",
    "feedback_count",
    "feedback_sum",
)
RECORD = ", ".join(_COLUMNS)
"""The record's columns, in the order :func:`record` reads them."""

LOADED = f"{RECORD}, snapshot, snapshot_turn"
"""The record's columns, then the snapshot and the turn it covers: what a claim reads."""

EPOCH = _COLUMNS.index("epoch")
"""The epoch's position in :data:`RECORD` (and :data:`LOADED`)."""
SNAPSHOT_TURN = len(_COLUMNS) + 1
"""The snapshot turn's position in :data:`LOADED`."""
_WIDTH = len(_COLUMNS)

MessageDecoder = Callable[[SessionKey, Any, Any, Any, Any], ChatMessage]
"""``(key, role, content, name, metadata)`` of a log row -> the message."""


def _count(value: Any, what: str, minimum: int = 0) -> int:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{what} is not an integer >= {minimum}: {value!r}")
    return value


def _number(value: Any, what: str, *, minimum: float | None = None) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number: {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} is below {minimum}: {value!r}")
    return float(value)


def _text(value: Any, what: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if type(value) is not str:
        raise ValueError(f"{what} is not text: {value!r}")
    return value


def _key(value: Any) -> SessionKey:
    if type(value) is not str:
        raise ValueError(f"the key is not text: {value!r}")
    return SessionKey.parse(value)


def record(row: Sequence[Any], key: SessionKey | None = None) -> SessionRecord:
    """A row of :data:`RECORD` columns as a record; ``CorruptSessionData`` (naming the session)
    when a column is not what this code writes."""
    if key is None:
        try:
            key = _key(row[0])
        except (ValueError, TypeError) as exc:
            raise CorruptSessionData(row[0], f"the stored key does not parse: {exc}") from exc
    try:
        count = _count(row[15], "feedback_count")
        total = _number(row[16], "feedback_sum")
        turns = _count(row[5], "turn_count")
        return SessionRecord(
            key=key,
            template_id=_text(row[1], "template_id"),
            template_version=_text(row[2], "template_version"),
            created_at=_number(row[3], "created_at"),
            last_activity=_number(row[4], "last_activity"),
            turn_count=turns,
            message_count=_count(row[6], "message_count"),
            response_time_sum=_number(row[7], "response_time_sum", minimum=0.0),
            epoch=_count(row[EPOCH], "epoch", 1),  # epochs start at 1
            owner=_text(row[9], "owner", optional=True),
            interrupts=decode_interrupts(key, row[10]),
            input_tokens=_count(row[11], "input_tokens"),
            output_tokens=_count(row[12], "output_tokens"),
            user_id=_text(row[13], "user_id", optional=True),
            labels=decode_labels(key, row[14]),
            feedback_count=count,
            feedback_mean=total / count if count else None,
        )
    except CorruptSessionData:
        raise
    except (ValueError, TypeError) as exc:  # a column of the wrong type or range
        raise CorruptSessionData(key, f"the session record does not decode: {exc}") from exc


def listed(rows: Iterable[Sequence[Any]]) -> list[SessionRecord]:
    """Rows of :data:`RECORD` columns as records, a damaged one as a placeholder flagged
    ``corrupt`` (one bad row must not hide a tenant's other sessions). A row whose very key does
    not parse cannot be named, so it is left out (and logged)."""
    found = []
    for row in rows:
        try:
            found.append(record(row))
        except CorruptSessionData as exc:
            if isinstance(exc.key, SessionKey):
                found.append(SessionRecord.damaged(exc.key, exc.reason))
            else:
                logger.warning("a stored session row has a key that does not parse: %r", row[0])
    return found


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
    found = record(row[:_WIDTH], key)
    try:
        snapshot_turn = _count(row[SNAPSHOT_TURN], "snapshot_turn")
        if snapshot_turn > found.turn_count:
            raise ValueError(f"snapshot_turn {snapshot_turn} is past turn {found.turn_count}")
    except ValueError as exc:
        raise CorruptSessionData(key, f"the session record does not decode: {exc}") from exc
    return LoadedSession(
        record=found,
        snapshot=decode_snapshot(key, row[_WIDTH]),
        snapshot_turn=snapshot_turn,
        messages=[decode(key, *r) for r in log],
    )
