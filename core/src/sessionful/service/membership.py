"""Cluster membership: which instances are live, and which of them owns a session.

Instances that share a PostgreSQL store register in its table ``sessionful_nodes``
(``node_id``, ``address``, ``started_at``, ``heartbeat_at``) and heartbeat there every
``heartbeat_interval`` seconds, stamped with the database server's clock (``now()``), so the
instances' own clocks never matter. The live set is the rows whose heartbeat is within
``node_ttl`` seconds, read back from the database at each heartbeat and cached in between: no
gossip, no consensus, nothing but the database every instance already depends on. A clean stop
deletes the instance's row; a killed instance drops out ``node_ttl`` seconds after its last
heartbeat.

The owner of a session is :func:`sessionful.service.affinity.owner_of` over the live node ids, keyed
on the session id alone (what a gateway sees in the path), so every instance that reads the same
live set names the same owner. Ownership is advice for routing, never a condition of correctness:
an instance serves any session it is asked for, claiming its lease as usual.

:class:`LocalMembership` is the membership of a single instance (any store but PostgreSQL);
:class:`Membership` is the PostgreSQL one. psycopg is imported when a :class:`Membership` starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sessionful.errors import ConfigurationError, StoreUnavailable
from sessionful.keys import SessionKey
from sessionful.service.affinity import owner_of

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import TupleRow

__all__ = ["NODES_TABLE", "LocalMembership", "Membership"]

logger = logging.getLogger("sessionful.service.membership")

NODES_TABLE = "sessionful_nodes"
"""The table instances register in."""

_LOCK = (0x61677365, 0x6E6F6465)  # "agse", "node": the advisory lock around CREATE TABLE
_CREATE = f"""CREATE TABLE IF NOT EXISTS {NODES_TABLE} (
    node_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
)"""
_REGISTER = (
    f"INSERT INTO {NODES_TABLE} AS n (node_id, address, started_at, heartbeat_at) "
    "VALUES (%s, %s, now(), now()) ON CONFLICT (node_id) DO UPDATE SET "
    "address = EXCLUDED.address, started_at = EXCLUDED.started_at, heartbeat_at = now() "
    # Whether the old row was live (the subquery sees the table as it was before this statement):
    # another live instance with the same node id, or this one restarted within node_ttl.
    "RETURNING started_at, COALESCE((SELECT heartbeat_at > now() - make_interval(secs => %s) "
    f"FROM {NODES_TABLE} WHERE node_id = %s), false)"
)
# A heartbeat re-inserts a row that was deleted (by a purge after a long pause, say).
_HEARTBEAT = (
    f"INSERT INTO {NODES_TABLE} AS n (node_id, address, started_at, heartbeat_at) "
    "VALUES (%s, %s, %s, now()) ON CONFLICT (node_id) DO UPDATE SET "
    "address = EXCLUDED.address, started_at = EXCLUDED.started_at, heartbeat_at = now()"
)
_LIVE = (
    f"SELECT node_id, address FROM {NODES_TABLE} "
    "WHERE heartbeat_at > now() - make_interval(secs => %s) ORDER BY node_id"
)
_PURGE = f"DELETE FROM {NODES_TABLE} WHERE heartbeat_at < now() - make_interval(secs => %s)"
_LEAVE = f"DELETE FROM {NODES_TABLE} WHERE node_id = %s AND started_at = %s"


def _session_key(key: SessionKey | str) -> str:
    """What ownership is hashed on: the session id (the whole key if it has none)."""
    if isinstance(key, SessionKey):
        return key.session_id if key.session_id is not None else str(key)
    return key


class LocalMembership:
    """The membership of one instance alone: it is live, and it owns every session.

    The base of :class:`Membership`: ``start``/``stop`` (or ``async with``), :meth:`live`,
    :meth:`owner`, :meth:`owns` and :meth:`address_of`.
    """

    def __init__(self, node_id: str, address: str | None = None) -> None:
        if not node_id:
            raise ConfigurationError("a node id must not be empty")
        self.node_id = node_id
        """This instance's name in the cluster."""
        self.address = address or node_id
        """How a gateway reaches this instance (what the owner header says)."""
        self._live: dict[str, str] = {node_id: self.address}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node_id!r}, {self.address!r})"

    async def start(self) -> None:
        """Join the cluster (nothing to do alone)."""

    async def stop(self) -> None:
        """Leave the cluster (nothing to do alone)."""

    async def __aenter__(self) -> LocalMembership:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def not_ready(self) -> str | None:
        """Why this instance is not a current member of its cluster, or ``None`` (alone: never
        a reason)."""
        return None

    def live(self) -> Mapping[str, str]:
        """The live nodes as last read: node id -> address; this instance is always among them."""
        return dict(self._live)

    def owner(self, key: SessionKey | str) -> str:
        """The node id that should serve the session ``key`` (a session id or a key)."""
        live = self._live
        if len(live) == 1:  # alone: every session is this node's, no hashing on each request
            return next(iter(live))
        return owner_of(_session_key(key), live)

    def owns(self, key: SessionKey | str) -> bool:
        """Whether this instance is the owner of ``key``."""
        return self.owner(key) == self.node_id

    def address_of(self, node_id: str) -> str:
        """The address of a live node (the node id itself if it is not in the live set)."""
        return self._live.get(node_id, node_id)


class Membership(LocalMembership):
    """Membership through a shared PostgreSQL database.

    Args:
        conninfo: a libpq connection string or URI (a :class:`PostgresStore`'s ``conninfo``).
        node_id: this instance's name; unique among the instances, stable across restarts.
        address: how a gateway reaches this instance (defaults to ``node_id``).
        heartbeat_interval: seconds between heartbeats, each of which re-reads the live set.
        node_ttl: seconds without a heartbeat after which a node is not live; more than
            ``heartbeat_interval``.
        purge_after: seconds after which a dead node's row is deleted (by any live node);
            default ``max(60, 10 * node_ttl)``.

    :meth:`start` creates the table if needed, registers and reads the live set (raising
    ``StoreUnavailable`` if the database cannot be reached within ``node_ttl`` seconds), then
    heartbeats in a background task until :meth:`stop`, which deletes this instance's row. A
    heartbeat that fails is logged and retried at the next interval; the cached live set stays
    as last read (and always includes this instance).
    """

    def __init__(
        self,
        conninfo: str,
        node_id: str,
        address: str | None = None,
        *,
        heartbeat_interval: float = 2.0,
        node_ttl: float = 6.0,
        purge_after: float | None = None,
    ) -> None:
        super().__init__(node_id, address)
        if not heartbeat_interval > 0:
            raise ConfigurationError(f"heartbeat_interval must be > 0, not {heartbeat_interval!r}")
        if not node_ttl > heartbeat_interval:
            raise ConfigurationError(
                f"node_ttl ({node_ttl!r}) must be more than heartbeat_interval "
                f"({heartbeat_interval!r})"
            )
        self.conninfo = conninfo
        self.heartbeat_interval = float(heartbeat_interval)
        self.node_ttl = float(node_ttl)
        self.purge_after = (
            float(purge_after) if purge_after is not None else max(60.0, 10 * node_ttl)
        )
        self.last_refresh: float | None = None
        """``time.monotonic()`` of the last successful read of the live set."""
        self._conn: AsyncConnection[TupleRow] | None = None
        self._started_at: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def not_ready(self) -> str | None:
        """Why this instance is not a current member: not registered, or no successful read of
        the live set within ``node_ttl`` seconds (the others may count it dead)."""
        if self._task is None or self._started_at is None:
            return f"cluster membership of {self.node_id!r} is not started"
        last = self.last_refresh
        if last is None or time.monotonic() - last > self.node_ttl:
            return (
                f"cluster membership of {self.node_id!r}: no successful heartbeat "
                f"for more than {self.node_ttl:g}s"
            )
        return None

    # -- connection ---------------------------------------------------------------------------

    async def _connection(self) -> AsyncConnection[TupleRow]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - the server extra pulls it in
            raise ImportError(
                f"cluster membership needs psycopg 3: pip install 'sessionful[postgres]' ({exc})"
            ) from exc
        timeout = max(1.0, self.heartbeat_interval)
        self._conn = await asyncio.wait_for(
            psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, connect_timeout=max(1, round(timeout))
            ),
            timeout,
        )
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                await conn.close()

    async def _with_timeout(self, coro: Any, timeout: float) -> Any:
        try:
            return await asyncio.wait_for(coro, timeout)
        except BaseException:
            await self._drop_connection()
            raise

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the table if needed, register, read the live set, start heartbeating."""
        if self._task is not None:
            return
        deadline = time.monotonic() + self.node_ttl
        pause = 0.05
        while True:
            try:
                await self._with_timeout(self._register(), max(1.0, self.node_ttl))
                await self._with_timeout(self._refresh(), max(1.0, self.heartbeat_interval))
                break
            except Exception as exc:
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(
                        f"cluster membership could not register {self.node_id!r}: {exc}"
                    ) from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
        self._task = asyncio.create_task(self._beat(), name=f"membership-{self.node_id}")
        logger.info(
            "node %r (%s) joined the cluster: %d live", self.node_id, self.address, len(self._live)
        )

    async def stop(self) -> None:
        """Stop heartbeating and delete this instance's row (others see it gone at once)."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            # Cancel until it is done: asyncio.wait_for (before Python 3.12) can swallow a
            # cancellation that arrives as its inner call completes.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.1)
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._stopping = False
        if self._started_at is not None:
            try:
                conn = await self._connection()
                await self._with_timeout(
                    conn.execute(_LEAVE, (self.node_id, self._started_at)),
                    max(1.0, self.heartbeat_interval),
                )
                logger.info("node %r left the cluster", self.node_id)
            except Exception as exc:
                logger.warning("node %r could not deregister: %r", self.node_id, exc)
            self._started_at = None
        await self._drop_connection()
        self._live = {self.node_id: self.address}

    async def _register(self) -> None:
        conn = await self._connection()
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", _LOCK)
            await conn.execute(_CREATE)
        cursor = await conn.execute(
            _REGISTER, (self.node_id, self.address, self.node_ttl, self.node_id)
        )
        row = await cursor.fetchone()
        assert row is not None
        self._started_at = row[0]
        if row[1]:
            logger.warning(
                "node id %r was live when this instance registered: another instance may use "
                "the same [cluster] node_id (or this one restarted within node_ttl)",
                self.node_id,
            )

    async def _refresh(self) -> None:
        conn = await self._connection()
        cursor = await conn.execute(_LIVE, (self.node_ttl,))
        rows = await cursor.fetchall()
        live = {str(node): str(address) for node, address in rows}
        live[self.node_id] = self.address
        if set(live) != set(self._live):
            logger.info("live nodes: %s", ", ".join(sorted(live)))
        self._live = live
        self.last_refresh = time.monotonic()

    async def heartbeat(self) -> None:
        """One heartbeat now, then a fresh read of the live set (the background task calls this
        every ``heartbeat_interval``; tests and tools may call it too)."""
        if self._started_at is None:
            raise ConfigurationError("the membership is not started")

        async def beat() -> None:
            conn = await self._connection()
            await conn.execute(_HEARTBEAT, (self.node_id, self.address, self._started_at))
            await self._refresh()
            await conn.execute(_PURGE, (self.purge_after,))

        await self._with_timeout(beat(), max(1.0, self.heartbeat_interval))

    async def refresh(self) -> Mapping[str, str]:
        """Read the live set now (without heartbeating) and return it."""
        await self._with_timeout(self._refresh(), max(1.0, self.heartbeat_interval))
        return self.live()

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self.heartbeat_interval
        failing = False
        while not self._stopping:
            await asyncio.sleep(max(0.0, next_beat - loop.time()))
            next_beat = max(next_beat + self.heartbeat_interval, loop.time())
            try:
                await self.heartbeat()
                if failing:
                    logger.info("node %r heartbeats again", self.node_id)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    logger.warning("node %r: heartbeat failed: %r", self.node_id, exc)
                failing = True
