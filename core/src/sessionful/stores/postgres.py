"""The shared store: PostgreSQL through psycopg 3 and a connection pool.

For deployments where several processes or hosts serve the same sessions. Install the extra::

    pip install 'sessionful[postgres]'

and point the manager at the database::

    SessionManager(..., strategy="persisted", store="postgresql://app@db.internal:5432/app")

The URL is a libpq connection URI (``postgresql://`` or ``postgres://``); every libpq parameter
in its query string is passed on (``sslmode``, ``connect_timeout``, ``application_name``,
``options=-csearch_path%3Dmyschema`` to keep the tables in a schema of their own...). Three
parameters are this store's own and are taken out before connecting:

``min_size`` (default 1) and ``max_size`` (default 10)
    the connection pool's bounds; every session of the process shares the pool.
``retry`` (default 15)
    seconds an operation keeps retrying while the server is unreachable, restarting, or aborts
    the transaction for a serialization failure or deadlock; then ``StoreUnavailable``.

The tables are ``sessionful`` (one row per session: record, lease, latest snapshot, pending
interrupts, token totals, user id, labels, feedback count and sum), ``sessionful_messages`` (the
append-only log), ``sessionful_labels`` (one row per label: the index label filters use),
``sessionful_feedback`` (the ratings) and ``sessionful_schema`` (the schema version); they are
created or migrated by :meth:`PostgresStore.open` under an advisory lock, so several processes
may open one database at once. Every value column holds JSON text (a message's content and name,
a feedback comment, as JSON strings, so any Python string round-trips, NUL characters included);
the user id and labels are plain text and refuse NUL. Nothing is ever unpickled. Every statement
is parameterised.

Each write is one atomic statement or transaction, fenced on the session's epoch, owner and turn
number: a claim is one ``INSERT ... ON CONFLICT DO UPDATE`` that bumps the epoch and reads the log
in the same transaction; an append is one statement that updates the record only if the lease and
turn number hold and inserts the turn's messages only if it did.

psycopg is imported when a store is built, never by ``import sessionful``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from sessionful.errors import (
    ConfigurationError,
    LeaseLost,
    SessionNotFound,
)
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores import _postgres_schema as sql
from sessionful.stores._codec import EPOCH, RECORD, listed, loaded, record
from sessionful.stores._json import (
    encode_interrupts,
    encode_labels,
    encode_message,
    encode_snapshot,
)
from sessionful.stores._postgres_pool import INSTALL_HINT, modules, run
from sessionful.stores._postgres_schema import feedback_row, json_text, message_row
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

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import TupleRow
    from psycopg_pool import AsyncConnectionPool

    Conn = AsyncConnection[TupleRow]

__all__ = ["INSTALL_HINT", "PostgresStore"]

T = TypeVar("T")


class PostgresStore(SessionStore):
    """Sessions in a PostgreSQL database, shared by every process that points at it.

    Args:
        conninfo: a libpq connection string or URI (``postgresql://user@host:5432/db``).
        min_size: connections the pool keeps open.
        max_size: connections the pool opens at most; callers beyond it wait.
        retry: seconds an operation retries a lost connection, an unreachable server, a
            serialization failure or a deadlock before raising ``StoreUnavailable``.

    Raises ``ImportError`` (naming ``pip install 'sessionful[postgres]'``) without psycopg.
    A store belongs to the event loop that opened it.
    """

    schemes: ClassVar[tuple[str, ...]] = ("postgresql", "postgres")

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        retry: float = 15.0,
    ) -> None:
        psycopg, _ = modules()
        try:
            params = psycopg.conninfo.conninfo_to_dict(conninfo)
        except psycopg.Error as exc:
            raise ConfigurationError(f"not a PostgreSQL connection string: {exc}") from None
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigurationError(
                f"pool sizes need 0 <= min_size <= max_size and max_size >= 1, "
                f"not {min_size} and {max_size}"
            )
        if not retry >= 0:
            raise ConfigurationError(f"retry must be a number of seconds >= 0, not {retry!r}")
        self.conninfo = conninfo
        self.min_size = int(min_size)
        self.max_size = int(max_size)
        self.retry = float(retry)
        self._where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}/" + str(
            params.get("dbname") or params.get("user") or ""
        )
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._open_lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """``postgresql://user:password@host:5432/db?min_size=1&max_size=10&retry=15``; other
        query parameters are libpq's and are passed on."""
        parts = urlsplit(url)
        if parts.scheme not in cls.schemes:
            raise ConfigurationError(
                f"a PostgreSQL store URL starts with postgresql:// or postgres://, not {url!r}"
            )
        options: dict[str, Any] = {}
        rest: list[tuple[str, str]] = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name in ("min_size", "max_size"):
                try:
                    options[name] = int(value)
                except ValueError:
                    raise ConfigurationError(f"{name} must be an integer, not {value!r}") from None
            elif name == "retry":
                try:
                    options[name] = float(value)
                except ValueError:
                    raise ConfigurationError(f"retry must be a number, not {value!r}") from None
            else:
                rest.append((name, value))
        conninfo = urlunsplit(parts._replace(query=urlencode(rest, quote_via=quote)))
        return cls(conninfo, **options)

    def __repr__(self) -> str:  # no password: it may be in the conninfo
        return f"PostgresStore({self._where!r}, max_size={self.max_size})"

    # -- connections --------------------------------------------------------------------------

    async def _run(
        self,
        operation: Callable[[Conn, int], Awaitable[T]],
        pool: AsyncConnectionPool[Conn] | None = None,
    ) -> T:
        """Run ``operation(conn, attempt)`` on a pooled connection, retrying connection losses,
        serialization failures and deadlocks for ``retry`` seconds, then ``StoreUnavailable``.
        Any other database error becomes ``StoreError``."""
        if pool is None:
            if self._pool is None:
                await self.open()
            assert self._pool is not None
            pool = self._pool
        return await run(pool, operation, self.retry, self._where)

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the pool and create or migrate the schema. Idempotent; safe from several
        processes at once (the migration holds an advisory lock)."""
        if self._pool is None:
            async with self._open_lock:
                await self._open_once()

    async def _open_once(self) -> None:
        if self._pool is not None:  # opened while we waited for the lock
            return
        _, psycopg_pool = modules()
        pool: AsyncConnectionPool[Conn] = psycopg_pool.AsyncConnectionPool(
            self.conninfo,
            min_size=self.min_size,
            max_size=self.max_size,
            kwargs={"autocommit": True},
            open=False,
            name="sessionful",
        )
        await pool.open(wait=False)
        try:
            await self._run(sql.migrate, pool)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def aclose(self) -> None:
        """Close the pool (operations in flight finish first)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- the contract -------------------------------------------------------------------------

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
        """Bump the epoch (creating the record if missing and ``create``) and load the state,
        in one transaction: the upsert (or update) locks the row, so the log read after it is
        consistent; a damaged row is decoded inside it, so its refusal rolls the claim back."""
        text = str(key)
        params: dict[str, Any] = {"key": text, "owner": owner, "now": now}
        statement = sql.CLAIM_EXISTING
        if create:
            check_template(template_id, template_version)
            chosen = check_labels(labels)
            params.update(
                namespace=key.namespace,
                agent=key.agent_id,
                session=key.session_id,
                template=template_id,
                version=template_version,
                user=check_user_id(user_id),
                labels=encode_labels(chosen),
            )
            statement = sql.CLAIM
            if chosen:
                params.update(names=list(chosen), values=list(chosen.values()))
                statement = sql.CLAIM_LABELLED

        async def operation(conn: Conn, attempt: int) -> tuple[Lease, LoadedSession | None] | None:
            async with conn.transaction():
                async with conn.pipeline():
                    claimed = await conn.execute(statement, params)
                    log = await conn.execute(sql.LOG_AFTER_SNAPSHOT, (text, text))
                    row = await claimed.fetchone()
                    rows = await log.fetchall()
                if row is None:  # create=False and no such session: nothing was written
                    return None
                lease = Lease(key, row[EPOCH], owner)
                if row[-1]:  # inserted: a new session
                    return lease, None
                return lease, loaded(key, row[:-1], rows, message_row)

        claim = await self._run(operation)
        if claim is None:
            raise SessionNotFound(key)
        return claim

    async def check(self, lease: Lease) -> None:
        """Raise ``LeaseLost`` if the session was claimed (or deleted) since ``lease``."""

        async def operation(conn: Conn, attempt: int) -> Any:
            cursor = await conn.execute(sql.LEASE, (str(lease.key),))
            return await cursor.fetchone()

        row = await self._run(operation)
        if row is None or (row[0], row[1]) != (lease.epoch, lease.owner):
            raise LeaseLost(lease.key, lease.epoch)

    async def append_turn(self, lease: Lease, turn: TurnWrite) -> None:
        """Append the turn in one statement, fenced on epoch, owner and turn number."""
        encoded = [encode_message(m) for m in turn.messages]
        usage = turn.usage
        params: dict[str, Any] = {
            "key": str(lease.key),
            "epoch": lease.epoch,
            "owner": lease.owner,
            "prev": turn.turn - 1,
            "turn": turn.turn,
            "count": len(encoded),
            "finished": turn.finished_at,
            "duration": finite(turn.duration),
            "roles": [m[0] for m in encoded],
            "contents": [json_text(m[1]) for m in encoded],
            "names": [json_text(m[2]) for m in encoded],
            "metas": [m[3] for m in encoded],
            "interrupts": encode_interrupts(turn.interrupts),
            "tokens_in": 0 if usage is None else usage.input_tokens,
            "tokens_out": 0 if usage is None else usage.output_tokens,
        }
        statement = sql.APPEND_PLAIN
        if turn.snapshot is not None:
            params["snapshot"] = encode_snapshot(turn.snapshot)
            statement = sql.APPEND_SNAPSHOT

        async def operation(conn: Conn, attempt: int) -> bool:
            cursor = await conn.execute(statement, params)
            row = await cursor.fetchone()
            if row is not None and row[0] == 1:
                return True
            # A retry after a lost connection: the first attempt may have committed. Only this
            # lease can advance the session under its epoch, so turn_count tells.
            return attempt > 0 and await self._landed(conn, lease, turn.turn)

        if not await self._run(operation):
            raise LeaseLost(lease.key, lease.epoch)

    @staticmethod
    async def _landed(conn: Conn, lease: Lease, turn: int) -> bool:
        cursor = await conn.execute(sql.LANDED, (str(lease.key), lease.epoch, lease.owner, turn))
        return await cursor.fetchone() is not None

    async def save_snapshot(self, lease: Lease, turn: int, snapshot: Mapping[str, Any]) -> None:
        """Store the snapshot as of ``turn`` if the lease and turn count still hold."""
        encoded = encode_snapshot(snapshot)

        async def operation(conn: Conn, attempt: int) -> int:
            cursor = await conn.execute(
                sql.SAVE_SNAPSHOT, (encoded, turn, str(lease.key), lease.epoch, lease.owner, turn)
            )
            return cursor.rowcount

        if await self._run(operation) != 1:
            raise LeaseLost(lease.key, lease.epoch)

    async def get(self, key: SessionKey) -> SessionRecord | None:
        """The session's record, or ``None``."""

        async def operation(conn: Conn, attempt: int) -> Any:
            cursor = await conn.execute(sql.RECORD_ROW, (str(key),))
            return await cursor.fetchone()

        row = await self._run(operation)
        return None if row is None else record(row, key)

    async def history(self, key: SessionKey, limit: int | None = None) -> list[ChatMessage]:
        """The logged messages, oldest first; the latest ``limit`` when given."""

        async def operation(conn: Conn, attempt: int) -> list[Any]:
            limit_ = None if limit is None else max(0, limit)
            cursor = await conn.execute(sql.HISTORY, (str(key), limit_))
            return await cursor.fetchall()

        rows = await self._run(operation)
        return [message_row(key, *row) for row in reversed(rows)]

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
        """Records by key string (code point order), filtered, ``after`` a key string; damaged
        rows come back flagged ``corrupt``."""
        clauses, values = sql.filters(
            namespace, agent_id, user_id, labels, active_after, active_before
        )
        clauses.append("key > %s")
        values += [after or "", max(0, limit)]
        statement = (
            f"SELECT {RECORD} FROM sessionful WHERE {' AND '.join(clauses)} ORDER BY key LIMIT %s"
        )

        async def operation(conn: Conn, attempt: int) -> list[Any]:
            cursor = await conn.execute(statement, values)
            return await cursor.fetchall()

        return listed(await self._run(operation))

    async def count_sessions(
        self, namespace: str | None = None, *, agent_id: str | None = None
    ) -> int:
        """How many sessions match, counted on the ``(namespace, agent_id, key)`` index."""
        clauses, values = sql.filters(namespace, agent_id)
        where = " AND ".join(clauses) or "true"

        async def operation(conn: Conn, attempt: int) -> int:
            cursor = await conn.execute(f"SELECT count(*) FROM sessionful WHERE {where}", values)
            row = await cursor.fetchone()
            return 0 if row is None else int(row[0])

        return await self._run(operation)

    async def delete(self, key: SessionKey) -> dict[str, int]:
        """Delete the record (first: that waits for a turn being written), then the log."""
        text = str(key)

        async def operation(conn: Conn, attempt: int) -> dict[str, int]:
            async with conn.transaction():
                cursor = await conn.execute(sql.DELETE_SESSION, (text,))
                row = await cursor.fetchone()
                cursor = await conn.execute(sql.DELETE_MESSAGES, (text,))
                messages = cursor.rowcount
                cursor = await conn.execute(sql.DELETE_FEEDBACK, (text,))
                feedback = cursor.rowcount
                await conn.execute(sql.DELETE_LABELS, (text,))
            deleted = {
                "sessions": 0 if row is None else 1,
                "messages": messages,
                "snapshots": 0 if row is None else int(row[0]),
            }
            if feedback:
                deleted["feedback"] = feedback
            return deleted

        return await self._run(operation)

    async def purge_idle(
        self, before: float, limit: int, exclude: Collection[SessionKey] = ()
    ) -> list[SessionKey]:
        """Delete up to ``limit`` sessions idle since before ``before``, oldest first, none of
        ``exclude``. Rows another transaction holds are skipped, so concurrent purgers take
        different batches."""
        spared = sorted({str(k) for k in exclude})

        async def operation(conn: Conn, attempt: int) -> list[Any]:
            async with conn.transaction():
                cursor = await conn.execute(sql.PURGE, (before, spared, max(0, limit)))
                rows = sorted(await cursor.fetchall())
                if rows:
                    keys = [row[1] for row in rows]
                    for table in (
                        "sessionful_messages",
                        "sessionful_feedback",
                        "sessionful_labels",
                    ):
                        await conn.execute(f"DELETE FROM {table} WHERE key = ANY(%s)", (keys,))
            return rows

        purged = []
        for _, text in await self._run(operation):
            try:
                purged.append(SessionKey.parse(text))
            except (ValueError, TypeError):  # a damaged key: its rows are gone all the same
                continue
        return purged

    async def record_feedback(
        self,
        key: SessionKey,
        rating: float,
        comment: str | None = None,
        turn: int | None = None,
        at: float = 0.0,
    ) -> None:
        """Keep the rating with the session, its count and sum on the record, in one statement;
        ``SessionNotFound`` when there is no such session (a delete holding the row first wins).
        """
        rating = check_feedback(rating, turn)
        if comment is not None and not isinstance(comment, str):
            raise ValueError(f"a comment is text, not {comment!r}")
        params = {
            "key": str(key),
            "rating": rating,
            "comment": json_text(comment),
            "turn": turn,
            "at": finite(at),
        }

        async def operation(conn: Conn, attempt: int) -> int:
            cursor = await conn.execute(sql.RATE, params)
            return cursor.rowcount

        if await self._run(operation) != 1:
            raise SessionNotFound(key)

    async def feedback(self, key: SessionKey) -> list[Feedback]:
        """The session's ratings, oldest first."""

        async def operation(conn: Conn, attempt: int) -> list[Any]:
            cursor = await conn.execute(sql.FEEDBACK, (str(key),))
            return await cursor.fetchall()

        return [feedback_row(key, row) for row in await self._run(operation)]
