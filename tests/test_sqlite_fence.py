"""The SQLite store answers a lease check from what it wrote itself, without reading the row, only
while no other connection has written the file since (``PRAGMA data_version``); any other writer
(another store on the file, another process, a bare connection) sends it back to the row."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    LeaseLost,
    SessionKey,
    SessionManager,
)
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


async def test_a_turn_cancelled_while_the_writer_commits_it_is_stored_and_acknowledged(
    tmp_path: Path,
) -> None:
    """The store hands the manager its writer's future (no task of the manager's own): a caller
    cancelled while the writer thread holds the turn still gets the turn stored *and*
    acknowledged, and the session goes on on the same instance."""
    store = SQLiteStore(tmp_path / "s.db", synchronous="NORMAL")
    agent = AgentDefinition(id="bot", name="bot", template_id="echo")
    manager = SessionManager(framework="stub", strategy="persisted", store=store, agents=[agent])

    def say(text: str) -> ExecuteAgentCommand:
        return ExecuteAgentCommand(
            agent_id="bot", session_id="s1", messages=[ChatMessage.user(text)]
        )

    try:
        await manager.execute(say("one"))
        gate, holding = threading.Event(), threading.Event()

        def hold(conn: object) -> None:  # occupies the writer thread until released
            holding.set()
            gate.wait(10)

        blocker = asyncio.ensure_future(store._call(hold))
        await asyncio.get_running_loop().run_in_executor(None, holding.wait, 10)
        turn = asyncio.create_task(manager.execute(say("two")))
        writer = store._writer
        assert writer is not None
        while writer._jobs.qsize() == 0 and not turn.done():  # queued behind the held thread
            await asyncio.sleep(0)
        turn.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await turn
        await blocker
        stats = manager.session_stats(KEY)
        assert stats is not None and stats.turn_count == 2  # acknowledged, instance kept
        result = await manager.execute(say("three"))
        assert result.instance_event == "reused"
        assert [m.text for m in await store.history(KEY) if m.role == "user"] == [
            "one",
            "two",
            "three",
        ]
    finally:
        await manager.aclose()


async def test_a_cancelled_turn_whose_write_is_refused_is_not_acknowledged(
    tmp_path: Path,
) -> None:
    """The other side of the test above, the one that fails if the manager stopped waiting on
    the writer's future when cancelled: another store takes the session while the turn's write
    waits behind the held writer thread, so the write is refused. The cancelled turn must then
    not count as done: the outcome reaches the caller and the instance goes."""
    store = SQLiteStore(tmp_path / "s.db", synchronous="NORMAL")
    rival = SQLiteStore(tmp_path / "s.db", synchronous="NORMAL")
    agent = AgentDefinition(id="bot", name="bot", template_id="echo")
    manager = SessionManager(framework="stub", strategy="persisted", store=store, agents=[agent])
    command = ExecuteAgentCommand(
        agent_id="bot", session_id="s1", messages=[ChatMessage.user("two")]
    )
    try:
        await manager.execute(command.model_copy(update={"messages": [ChatMessage.user("one")]}))
        gate, holding = threading.Event(), threading.Event()

        def hold(conn: object) -> None:
            holding.set()
            gate.wait(10)

        blocker = asyncio.ensure_future(store._call(hold))
        await asyncio.get_running_loop().run_in_executor(None, holding.wait, 10)
        turn = asyncio.create_task(manager.execute(command))
        writer = store._writer
        assert writer is not None
        while writer._jobs.qsize() == 0 and not turn.done():
            await asyncio.sleep(0)
        await rival.claim(KEY, "rival", "echo", "1", 2.0)  # the lease moves on meanwhile
        turn.cancel()
        gate.set()
        with pytest.raises((LeaseLost, asyncio.CancelledError)):
            await turn
        await blocker
        assert manager.session_stats(KEY) is None  # not acknowledged: the instance went
        assert [m.text for m in await store.history(KEY) if m.role == "user"] == ["one"]
    finally:
        await manager.aclose()
        await rival.aclose()
