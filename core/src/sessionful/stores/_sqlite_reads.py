"""The SQLite store's reads: each a function of a connection (the writer's, or the read-only one
:func:`connect_reader` opens for lease checks), run on the thread that owns it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sessionful.errors import CorruptSessionData, LeaseLost
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores import _sqlite_schema as sql
from sessionful.stores._codec import RECORD, listed, record
from sessionful.stores._json import decode_message
from sessionful.stores.base import Feedback, Lease, SessionRecord

__all__ = ["check_lease", "connect_reader", "count", "feedback", "get", "history", "list_records"]


def connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to the file: in WAL mode a reader never waits for the writer."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    reader = sqlite3.connect(uri, uri=True, timeout=0.05, isolation_level=None)
    reader.execute("PRAGMA query_only = ON")
    return reader


def check_lease(conn: sqlite3.Connection, lease: Lease) -> None:
    row = conn.execute(sql.LEASE, (str(lease.key),)).fetchone()
    if row is None or (row[0], row[1]) != (lease.epoch, lease.owner):
        raise LeaseLost(lease.key, lease.epoch)


def get(conn: sqlite3.Connection, key: SessionKey) -> SessionRecord | None:
    row = conn.execute(sql.RECORD_ROW, (str(key),)).fetchone()
    return None if row is None else record(row, key)


def history(conn: sqlite3.Connection, key: SessionKey, limit: int | None) -> list[ChatMessage]:
    rows = conn.execute(sql.HISTORY, (str(key), -1 if limit is None else limit)).fetchall()
    return [decode_message(key, *row) for row in reversed(rows)]


def list_records(
    conn: sqlite3.Connection, where: str, values: list[Any], limit: int
) -> list[SessionRecord]:
    rows = conn.execute(
        f"SELECT {RECORD} FROM sessions WHERE {where} ORDER BY key LIMIT ?",
        (*values, max(0, limit)),
    ).fetchall()
    return listed(rows)


def count(conn: sqlite3.Connection, where: str, values: list[Any]) -> int:
    row = conn.execute(f"SELECT count(*) FROM sessions WHERE {where}", values).fetchone()
    return int(row[0])


def feedback(conn: sqlite3.Connection, key: SessionKey) -> list[Feedback]:
    rows = conn.execute(sql.FEEDBACK, (str(key),)).fetchall()
    return [_feedback_row(key, row) for row in rows]


def _feedback_row(key: SessionKey, row: Any) -> Feedback:
    rating, comment, turn, at = row
    if (
        type(rating) not in (int, float)
        or not (comment is None or type(comment) is str)
        or not (turn is None or type(turn) is int)
        or type(at) not in (int, float)
    ):
        raise CorruptSessionData(key, f"a feedback row does not decode: {row!r}")
    return Feedback(float(rating), comment, turn, float(at))
