"""The SQLite store's schema and SQL: the migrations that create or upgrade its tables, and
every statement the store runs but those it builds per call.

The tables are ``sessions`` (one row per session: record, lease, latest snapshot, pending
interrupts, token totals, user id, labels, feedback count and sum), ``messages`` (the append-only
log), ``session_labels`` (one row per label: the index label filters use), ``session_feedback``
(the ratings) and ``sessionful_schema`` (the schema version).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from sessionful.errors import SchemaTooNew
from sessionful.stores._codec import LOADED, RECORD
from sessionful.stores.base import SCHEMA_VERSION

__all__ = [
    "ADD_FEEDBACK",
    "ADD_LABEL",
    "APPEND",
    "APPEND_SNAPSHOT",
    "CLAIM",
    "CREATE",
    "DELETE_FEEDBACK",
    "DELETE_LABELS",
    "DELETE_MESSAGES",
    "DELETE_SESSION",
    "DELETE_SESSIONS",
    "FEEDBACK",
    "HISTORY",
    "IDLE",
    "LEASE",
    "LOADED_ROW",
    "LOG",
    "LOG_SINCE",
    "MIGRATIONS",
    "RATE",
    "RECORD_ROW",
    "SAVE_SNAPSHOT",
    "filters",
    "migrate",
]

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE sessions (
            key TEXT PRIMARY KEY,
            namespace TEXT,
            agent_id TEXT NOT NULL,
            session_id TEXT,
            template_id TEXT NOT NULL,
            template_version TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_activity REAL NOT NULL,
            turn_count INTEGER NOT NULL DEFAULT 0,
            message_count INTEGER NOT NULL DEFAULT 0,
            response_time_sum REAL NOT NULL DEFAULT 0,
            epoch INTEGER NOT NULL,
            owner TEXT,
            snapshot TEXT,
            snapshot_turn INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX sessions_by_activity ON sessions (last_activity)",
        "CREATE INDEX sessions_by_agent ON sessions (namespace, agent_id, key)",
        """CREATE TABLE messages (
            key TEXT NOT NULL,
            turn INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            name TEXT,
            metadata TEXT NOT NULL,
            PRIMARY KEY (key, turn, seq)
        ) WITHOUT ROWID""",
    ),
    2: (
        # Pending interrupts (JSON, NULL for none) and token totals ride on a turn's update.
        "ALTER TABLE sessions ADD COLUMN interrupts TEXT",
        "ALTER TABLE sessions ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0",
        # Set at creation; labels as a JSON object here (read with the record) and as rows in
        # session_labels (the index a label filter uses).
        "ALTER TABLE sessions ADD COLUMN user_id TEXT",
        "ALTER TABLE sessions ADD COLUMN labels TEXT",
        "ALTER TABLE sessions ADD COLUMN feedback_count INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN feedback_sum REAL NOT NULL DEFAULT 0",
        "CREATE INDEX sessions_by_user ON sessions (namespace, user_id, key)",
        """CREATE TABLE session_labels (
            key TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (key, name)
        ) WITHOUT ROWID""",
        "CREATE INDEX session_labels_by_value ON session_labels (name, value, key)",
        """CREATE TABLE session_feedback (
            key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            rating REAL NOT NULL,
            comment TEXT,
            turn INTEGER,
            at REAL NOT NULL,
            PRIMARY KEY (key, seq)
        ) WITHOUT ROWID""",
    ),
}
"""Schema version -> the statements that bring the previous version to it."""


def migrate(conn: sqlite3.Connection) -> None:
    """Create the tables, or bring them from the version the file has to :data:`SCHEMA_VERSION`;
    the caller runs this in one write transaction. ``SchemaTooNew`` for a newer file."""
    conn.execute("CREATE TABLE IF NOT EXISTS sessionful_schema (version INTEGER NOT NULL)")
    row = conn.execute("SELECT max(version) FROM sessionful_schema").fetchone()
    current = row[0] or 0
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(current, SCHEMA_VERSION)
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
        conn.execute("INSERT INTO sessionful_schema (version) VALUES (?)", (version,))


# -- claims and turns ---------------------------------------------------------------------------

LOADED_ROW = f"SELECT {LOADED} FROM sessions WHERE key = ?"
CREATE = (
    "INSERT INTO sessions (key, namespace, agent_id, session_id, template_id, "
    "template_version, created_at, last_activity, epoch, owner, user_id, labels) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
)
ADD_LABEL = "INSERT INTO session_labels (key, name, value) VALUES (?, ?, ?)"
LOG_SINCE = (
    "SELECT role, content, name, metadata FROM messages "
    "WHERE key = ? AND turn > ? ORDER BY turn, seq"
)
CLAIM = (
    "UPDATE sessions SET epoch = ?, owner = ?, last_activity = max(last_activity, ?) WHERE key = ?"
)
"""A claim bumps the epoch. A claim is activity: retention must not purge a session being
restored."""
LEASE = "SELECT epoch, owner FROM sessions WHERE key = ?"
_APPEND = (
    "UPDATE sessions SET turn_count = ?, message_count = message_count + ?, last_activity = ?, "
    "response_time_sum = response_time_sum + ?, interrupts = ?, "
    "input_tokens = input_tokens + ?, output_tokens = output_tokens + ?{} "
    "WHERE key = ? AND epoch = ? AND owner = ? AND turn_count = ?"
)
"""A turn's fenced update of the record: it changes the row only if the lease and the turn
number hold (then the turn's messages are inserted, in the same transaction). The pending
interrupts and the usage ride on it: a turn is still one UPDATE and one insert of its log."""
APPEND_SNAPSHOT = _APPEND.format(", snapshot = ?, snapshot_turn = ?")
APPEND = _APPEND.format("")
LOG = (
    "INSERT INTO messages (key, turn, seq, role, content, name, metadata) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)

SAVE_SNAPSHOT = (
    "UPDATE sessions SET snapshot = ?, snapshot_turn = ? "
    "WHERE key = ? AND epoch = ? AND owner = ? AND turn_count = ?"
)

# -- reads ---------------------------------------------------------------------------------------

RECORD_ROW = f"SELECT {RECORD} FROM sessions WHERE key = ?"
HISTORY = (
    "SELECT role, content, name, metadata FROM messages WHERE key = ? "
    "ORDER BY turn DESC, seq DESC LIMIT ?"
)

# -- deletes and feedback -------------------------------------------------------------------------

DELETE_MESSAGES = "DELETE FROM messages WHERE key = ?"
DELETE_FEEDBACK = "DELETE FROM session_feedback WHERE key = ?"
DELETE_LABELS = "DELETE FROM session_labels WHERE key = ?"
DELETE_SESSION = "DELETE FROM sessions WHERE key = ? RETURNING snapshot IS NOT NULL"
DELETE_SESSIONS = "DELETE FROM sessions WHERE key = ?"
IDLE = "SELECT key FROM sessions WHERE last_activity < ? ORDER BY last_activity LIMIT ?"
RATE = (
    "UPDATE sessions SET feedback_count = feedback_count + 1, "
    "feedback_sum = feedback_sum + ? WHERE key = ? RETURNING feedback_count"
)
ADD_FEEDBACK = (
    "INSERT INTO session_feedback (key, seq, rating, comment, turn, at) VALUES (?, ?, ?, ?, ?, ?)"
)
FEEDBACK = "SELECT rating, comment, turn, at FROM session_feedback WHERE key = ? ORDER BY seq"


def filters(
    namespace: str | None,
    agent_id: str | None,
    user_id: str | None = None,
    labels: Mapping[str, str] | None = None,
    active_after: float | None = None,
    active_before: float | None = None,
) -> tuple[list[str], list[Any]]:
    """``WHERE`` clauses (ANDed) and their values for a listing's filters."""
    clauses: list[str] = []
    values: list[Any] = []
    for column, value in (("namespace", namespace), ("agent_id", agent_id), ("user_id", user_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            values.append(value)
    for name, value in (labels or {}).items():
        clauses.append("key IN (SELECT key FROM session_labels WHERE name = ? AND value = ?)")
        values += [name, value]
    if active_after is not None:
        clauses.append("last_activity >= ?")
        values.append(active_after)
    if active_before is not None:
        clauses.append("last_activity < ?")
        values.append(active_before)
    return clauses, values
