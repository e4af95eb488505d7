"""Checkpoint logs: a framework's checkpoints, their pending writes and channel blobs, beside a
store's sessions.

A framework that checkpoints its own state (LangGraph) keeps it here when it runs on sessionful's
stores: :func:`checkpoint_log_for` returns the :class:`CheckpointLog` of a store. The core knows
nothing of the framework: values arrive serialised by the framework (``(type, bytes)`` pairs) and
leave the same way; the log only knows the ids that order and select them (thread, namespace,
checkpoint id, parent, run id) and which channel versions a checkpoint reads.

It lives in the store's own database (SQLite: the same file, through the store's writer thread;
Postgres: the same pool; memory: beside the store object), in tables of its own
(``session_checkpoints``, ``session_checkpoint_writes``, ``session_checkpoint_blobs``: not
LangGraph's own savers' names, so they can share the database) created idempotently on first use,
so the stores' schemas and migrations are untouched.

**Fencing.** A write may name the session's :class:`~sessionful.stores.base.Lease`; it then
lands only if the lease is still the session's, checked in the same transaction, and raises
``LeaseLost`` (writing nothing) otherwise. Without a lease (a saver used on its own) writes are
unfenced.

The interface and shared helpers are in ``_checkpoints_base``; each backend in its own module
(``_checkpoints_memory``, ``_checkpoints_sqlite``, ``_checkpoints_postgres``).
"""

from __future__ import annotations

from sessionful.errors import ConfigurationError
from sessionful.keys import SessionKey
from sessionful.stores._beside import LogsBeside
from sessionful.stores._checkpoints_base import (
    CheckpointLog,
    StoredBlob,
    StoredCheckpoint,
    StoredWrite,
    Typed,
)
from sessionful.stores._checkpoints_memory import _MemoryCheckpoints
from sessionful.stores._checkpoints_postgres import _PostgresCheckpoints
from sessionful.stores._checkpoints_sqlite import _SQLiteCheckpoints
from sessionful.stores.base import SessionStore
from sessionful.stores.memory import MemoryStore
from sessionful.stores.postgres import PostgresStore
from sessionful.stores.sqlite import SQLiteStore

__all__ = [
    "CheckpointLog",
    "StoredBlob",
    "StoredCheckpoint",
    "StoredWrite",
    "Typed",
    "checkpoint_log_for",
    "delete_checkpoints",
]


_LOGS: LogsBeside[CheckpointLog] = LogsBeside(
    {
        MemoryStore: _MemoryCheckpoints,
        SQLiteStore: _SQLiteCheckpoints,
        PostgresStore: _PostgresCheckpoints,
    },
    "checkpoints",
)


def checkpoint_log_for(store: SessionStore) -> CheckpointLog:
    """The checkpoint log kept beside ``store`` (one per store object).

    Raises:
        ConfigurationError: ``store`` is not a built-in store (nor a subclass of one).
    """
    return _LOGS(store)


async def delete_checkpoints(store: SessionStore, key: SessionKey | str) -> int:
    """Delete ``key``'s thread from ``store``'s checkpoint log, unfenced (the session is being
    ended or purged); ``0`` for a store that keeps none."""
    try:
        log = checkpoint_log_for(store)
    except ConfigurationError:
        return 0
    return await log.delete_thread(str(key))
