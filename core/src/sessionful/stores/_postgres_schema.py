"""The PostgreSQL store's schema and SQL: the migrations that create or upgrade its tables (under
an advisory lock), every statement the store runs but those it builds per call, and the text
columns' encoding (a message's content and name and a feedback comment are JSON strings).

The tables are ``sessionful`` (one row per session), ``sessionful_messages`` (the append-only
log), ``sessionful_labels`` (one row per label), ``sessionful_feedback`` (the ratings) and
``sessionful_schema`` (the schema version); see :mod:`sessionful.stores.postgres`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sessionful.errors import CorruptSessionData, SchemaTooNew
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores._codec import LOADED, RECORD
from sessionful.stores._json import decode_message
from sessionful.stores.base import SCHEMA_VERSION, Feedback

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import TupleRow

    Conn = AsyncConnection[TupleRow]

MIGRATION_LOCK = 0x61677365  # "agse": the advisory lock's first key; the second is the schema's
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        # COLLATE "C": keys sort by code point, as in the other stores (keyset paging agrees).
        """CREATE TABLE sessionful (
            key TEXT COLLATE "C" PRIMARY KEY,
            namespace TEXT,
            agent_id TEXT NOT NULL,
            session_id TEXT,
            template_id TEXT NOT NULL,
            template_version TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            last_activity DOUBLE PRECISION NOT NULL,
            turn_count INTEGER NOT NULL DEFAULT 0,
            message_count BIGINT NOT NULL DEFAULT 0,
            response_time_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
            epoch BIGINT NOT NULL,
            owner TEXT,
            snapshot TEXT,
            snapshot_turn INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX sessionful_by_activity ON sessionful (last_activity)",
        "CREATE INDEX sessionful_by_agent ON sessionful (namespace, agent_id, key)",
        """CREATE TABLE sessionful_messages (
            key TEXT COLLATE "C" NOT NULL,
            turn INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            name TEXT,
            metadata TEXT NOT NULL,
            PRIMARY KEY (key, turn, seq)
        )""",
    ),
    2: (
        # ADD COLUMN with a constant default rewrites nothing: the migration is instant.
        """ALTER TABLE sessionful
            ADD COLUMN interrupts TEXT,
            ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN user_id TEXT,
            ADD COLUMN labels TEXT,
            ADD COLUMN feedback_count INTEGER NOT NULL DEFAULT 0,
            ADD COLUMN feedback_sum DOUBLE PRECISION NOT NULL DEFAULT 0""",
        "CREATE INDEX sessionful_by_user ON sessionful (namespace, user_id, key)",
        """CREATE TABLE sessionful_labels (
            key TEXT COLLATE "C" NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (key, name)
        )""",
        "CREATE INDEX sessionful_labels_by_value ON sessionful_labels (name, value, key)",
        """CREATE TABLE sessionful_feedback (
            key TEXT COLLATE "C" NOT NULL,
            seq INTEGER NOT NULL,
            rating DOUBLE PRECISION NOT NULL,
            comment TEXT,
            turn INTEGER,
            at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (key, seq)
        )""",
    ),
}
"""Schema version -> the statements that bring the previous version to it."""


async def migrate(conn: Conn, attempt: int) -> None:
    """Create the tables, or bring them to :data:`SCHEMA_VERSION`, under an advisory lock (per
    schema): several processes may open one database at once. ``SchemaTooNew`` for a newer one."""
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(coalesce(current_schema(), '')))",
            (MIGRATION_LOCK,),
        )
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS sessionful_schema (version INTEGER NOT NULL)"
        )
        cursor = await conn.execute("SELECT max(version) FROM sessionful_schema")
        row = await cursor.fetchone()
        current = (row[0] if row else None) or 0
        if current > SCHEMA_VERSION:
            raise SchemaTooNew(current, SCHEMA_VERSION)
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO sessionful_schema (version) VALUES (%s)", (version,))


# -- claims and turns -----------------------------------------------------------------------

# xmax = 0 on the returned row version: it was inserted, not updated by the conflict clause.
CLAIM = (
    "INSERT INTO sessionful AS s (key, namespace, agent_id, session_id, template_id, "
    "template_version, created_at, last_activity, epoch, owner, user_id, labels) "
    "VALUES (%(key)s, %(namespace)s, %(agent)s, %(session)s, %(template)s, %(version)s, "
    "%(now)s, %(now)s, 1, %(owner)s, %(user)s, %(labels)s) "
    "ON CONFLICT (key) DO UPDATE SET epoch = s.epoch + 1, owner = EXCLUDED.owner, "
    # A claim is activity: retention must not purge a session while it is being restored.
    "last_activity = GREATEST(s.last_activity, EXCLUDED.last_activity) "
    f"RETURNING {LOADED}, (s.xmax = 0) AS inserted"
)
CLAIM_LABELLED = f"""
WITH claimed AS ({CLAIM}), labelled AS (
    INSERT INTO sessionful_labels (key, name, value)
    SELECT %(key)s, x.name, x.value
    FROM claimed, unnest(%(names)s::text[], %(values)s::text[]) AS x(name, value)
    WHERE claimed.inserted
    RETURNING 1
)
SELECT * FROM claimed
"""
CLAIM_EXISTING = (
    "UPDATE sessionful AS s SET epoch = s.epoch + 1, owner = %(owner)s, "
    "last_activity = GREATEST(s.last_activity, %(now)s) WHERE key = %(key)s "
    f"RETURNING {LOADED}, false AS inserted"
)
# Run after the claim in its transaction: the row is locked, so no turn can land in between.
LOG_AFTER_SNAPSHOT = (
    "SELECT role, content, name, metadata FROM sessionful_messages "
    "WHERE key = %s AND turn > (SELECT snapshot_turn FROM sessionful WHERE key = %s) "
    "ORDER BY turn, seq"
)

_APPEND_SET = (
    "turn_count = %(turn)s, message_count = s.message_count + %(count)s, "
    "last_activity = %(finished)s, response_time_sum = s.response_time_sum + %(duration)s, "
    "interrupts = %(interrupts)s, input_tokens = s.input_tokens + %(tokens_in)s, "
    "output_tokens = s.output_tokens + %(tokens_out)s"
)
_APPEND = """
WITH fenced AS (
    UPDATE sessionful AS s SET {assignments}
    WHERE key = %(key)s AND epoch = %(epoch)s AND owner = %(owner)s AND turn_count = %(prev)s
    RETURNING key
), logged AS (
    INSERT INTO sessionful_messages (key, turn, seq, role, content, name, metadata)
    SELECT fenced.key, %(turn)s, m.seq - 1, m.role, m.content, m.name, m.metadata
    FROM fenced, unnest(
        %(roles)s::text[], %(contents)s::text[], %(names)s::text[], %(metas)s::text[]
    ) WITH ORDINALITY AS m(role, content, name, metadata, seq)
    RETURNING 1
)
SELECT count(*) FROM fenced
"""
APPEND_PLAIN = _APPEND.format(assignments=_APPEND_SET)
APPEND_SNAPSHOT = _APPEND.format(
    assignments=_APPEND_SET + ", snapshot = %(snapshot)s, snapshot_turn = %(turn)s"
)

# -- reads, deletes, feedback -----------------------------------------------------------------

LEASE = "SELECT epoch, owner FROM sessionful WHERE key = %s"
LANDED = "SELECT 1 FROM sessionful WHERE key = %s AND epoch = %s AND owner = %s AND turn_count = %s"
SAVE_SNAPSHOT = (
    "UPDATE sessionful SET snapshot = %s, snapshot_turn = %s "
    "WHERE key = %s AND epoch = %s AND owner = %s AND turn_count = %s"
)
RECORD_ROW = f"SELECT {RECORD} FROM sessionful WHERE key = %s"
HISTORY = (
    "SELECT role, content, name, metadata FROM sessionful_messages "
    "WHERE key = %s ORDER BY turn DESC, seq DESC LIMIT %s"
)
DELETE_SESSION = "DELETE FROM sessionful WHERE key = %s RETURNING snapshot IS NOT NULL"
DELETE_MESSAGES = "DELETE FROM sessionful_messages WHERE key = %s"
DELETE_FEEDBACK = "DELETE FROM sessionful_feedback WHERE key = %s"
DELETE_LABELS = "DELETE FROM sessionful_labels WHERE key = %s"
PURGE = (
    "DELETE FROM sessionful WHERE key IN ("
    "  SELECT key FROM sessionful WHERE last_activity < %s"
    "  AND NOT (key = ANY(%s::text[]))"
    "  ORDER BY last_activity, key LIMIT %s FOR UPDATE SKIP LOCKED"
    ") RETURNING last_activity, key"
)
"""Up to a limit of idle sessions, oldest first, sparing some; rows another transaction holds
are skipped, so concurrent purgers take different batches. The caller deletes their other rows."""
FEEDBACK = "SELECT rating, comment, turn, at FROM sessionful_feedback WHERE key = %s ORDER BY seq"
RATE = """
WITH rated AS (
    UPDATE sessionful SET feedback_count = feedback_count + 1,
        feedback_sum = feedback_sum + %(rating)s
    WHERE key = %(key)s RETURNING key, feedback_count
)
INSERT INTO sessionful_feedback (key, seq, rating, comment, turn, at)
SELECT rated.key, rated.feedback_count, %(rating)s, %(comment)s, %(turn)s, %(at)s FROM rated
"""
"""A rating: the count and sum on the record and the row beside it, in one statement."""


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
            clauses.append(f"{column} = %s")
            values.append(value)
    for name, value in (labels or {}).items():
        clauses.append("key IN (SELECT key FROM sessionful_labels WHERE name = %s AND value = %s)")
        values += [name, value]
    if active_after is not None:
        clauses.append("last_activity >= %s")
        values.append(active_after)
    if active_before is not None:
        clauses.append("last_activity < %s")
        values.append(active_before)
    return clauses, values


# -- text columns hold JSON strings -----------------------------------------------------------


def json_text(text: str | None) -> str | None:
    """A string as a JSON string literal (PostgreSQL text cannot hold NUL; JSON escapes it)."""
    return None if text is None else json.dumps(text, ensure_ascii=False)


def message_row(key: SessionKey, role: Any, content: Any, name: Any, meta: Any) -> ChatMessage:
    """A log row back to a message; content and name must be JSON strings."""
    try:
        content = json.loads(content)
        name = None if name is None else json.loads(name)
    except (ValueError, TypeError) as exc:
        raise CorruptSessionData(key, f"a logged message does not decode: {exc}") from exc
    if not isinstance(content, str) or not (name is None or isinstance(name, str)):
        raise CorruptSessionData(key, "a logged message's content or name is not a JSON string")
    return decode_message(key, role, content, name, meta)


def feedback_row(key: SessionKey, row: Any) -> Feedback:
    """A feedback row back to a rating; its comment must be a JSON string (or NULL)."""
    rating, comment, turn, at = row
    try:
        text = None if comment is None else json.loads(comment)
    except ValueError as exc:
        raise CorruptSessionData(key, f"a feedback comment is not JSON: {exc}") from exc
    if not (text is None or isinstance(text, str)):
        raise CorruptSessionData(key, "a feedback comment is not a JSON string")
    return Feedback(rating, text, turn, at)
