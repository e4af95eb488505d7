"""The SQLite store answers a lease check from what it wrote itself, without reading the row, only
while no other connection has written the file since (``PRAGMA data_version``); any other writer
(another store on the file, another process, a bare connection) sends it back to the row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sessionful import ChatMessage, LeaseLost, SessionKey
from sessionful.stores import SQLiteStore, TurnWrite

KEY = SessionKey("bot", "s1")


def _turn(n: int) -> TurnWrite:
    return TurnWrite(n, [ChatMessage.user(f"q{n}"), ChatMessage.assistant(f"a{n}")], 1.0, 0.0)


def _answers_alone(store: SQLiteStore, epoch: int, owner: str) -> bool:
    conn = store._conn
    assert conn is not None
    return conn.fence.current(conn, str(KEY), epoch, owner)


async def test_check_needs_no_read_while_nobody_else_writes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", synchronous="NORMAL")
    try:
        lease, _ = await store.claim(KEY, "A", "echo", "1", 1.0)
        assert _answers_alone(store, lease.epoch, "A")
        await store.append_turn(lease, _turn(1))
        assert _answers_alone(store, lease.epoch, "A")
        await store.check(lease)
        assert not _answers_alone(store, lease.epoch, "B")  # not a lease it knows
        assert not _answers_alone(store, lease.epoch + 1, "A")
    finally:
        await store.aclose()


async def test_a_claim_through_another_connection_is_seen(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "s.db", synchronous="NORMAL")
    second = SQLiteStore(tmp_path / "s.db", synchronous="NORMAL")
    try:
        lease, _ = await first.claim(KEY, "A", "echo", "1", 1.0)
        await first.append_turn(lease, _turn(1))
        newer, _ = await second.claim(KEY, "B", "echo", "1", 2.0)
        assert not _answers_alone(first, lease.epoch, "A")
        with pytest.raises(LeaseLost):
            await first.check(lease)
        with pytest.raises(LeaseLost):
            await first.append_turn(lease, _turn(2))
        await second.check(newer)
        await second.append_turn(newer, _turn(2))
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_bare_write_by_another_process_is_seen(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", synchronous="NORMAL")
    try:
        lease, _ = await store.claim(KEY, "A", "echo", "1", 1.0)
        await store.append_turn(lease, _turn(1))
        other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        try:  # as another process's claim would: a new epoch and owner
            other.execute(
                "UPDATE sessions SET epoch = epoch + 1, owner = 'X' WHERE key = ?", (str(KEY),)
            )
        finally:
            other.close()
        with pytest.raises(LeaseLost):
            await store.check(lease)
        with pytest.raises(LeaseLost):
            await store.append_turn(lease, _turn(2))
        assert len(await store.history(KEY)) == 2
    finally:
        await store.aclose()


async def test_a_delete_forgets_the_lease(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", synchronous="NORMAL")
    try:
        lease, _ = await store.claim(KEY, "A", "echo", "1", 1.0)
        await store.delete(KEY)
        assert not _answers_alone(store, lease.epoch, "A")
        with pytest.raises(LeaseLost):
            await store.check(lease)
    finally:
        await store.aclose()
