"""The ``persisted`` strategy through the manager, on the memory store, a SQLite file and (when a
server is available) Postgres: creation and restore after eviction or restart with the
conversation intact, template versions kept across restores, ending and retention, a stale
instance reloaded when another manager claimed its session, ``LeaseLost`` when the write of a
turn is refused, and corrupt rows refused with ``CorruptSessionData``.

Two managers on one store stand for two processes: each has its own store object (its own
connection) on the same data; the memory store is shared as one object.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sessionful import (
    AgentDefinition,
    ChatMessage,
    CorruptSessionData,
    ExecuteAgentCommand,
    ExecutionResult,
    LeaseLost,
    LifecyclePolicy,
    SessionKey,
    SessionManager,
    TurnOutput,
    TurnRequest,
)
from sessionful.stores import MemoryStore, SQLiteStore
from sessionful.stores.base import Lease, TurnWrite
from sessionful_stub import StubAgent, StubFault
from support.backends import (
    BOT,
    DAY,
    Backend,
    Managers,
    Say,
    backend,
    logged,
    managers,
    reply,
    say,
)

__all__ = ["backend", "managers", "say"]  # fixtures, imported to be found here

# -- creation and restore -----------------------------------------------------------------------


async def test_created_then_restored_after_eviction(
    managers: Managers, say: Say, backend: Backend
) -> None:
    manager = managers()
    key = backend.key()
    first = await say(manager, "one")
    assert (first.instance_event, reply(first)) == ("created", "echo #1: one")
    second = await say(manager, "two")
    assert (second.instance_event, reply(second)) == ("reused", "echo #2: two")
    assert await manager.evict(key)
    assert manager.get_agent(key) is None
    third = await say(manager, "three")
    assert (third.instance_event, reply(third)) == ("restored", "echo #3: three")
    assert (third.stats.turn_count, third.stats.message_count) == (3, 6)
    assert manager.stats().restored == 1
    assert await logged(manager, key) == ["one", "two", "three"]
    record = await manager.store.get(key)  # type: ignore[union-attr]
    assert record is not None
    assert (record.turn_count, record.message_count) == (3, 6)


async def test_restart_restores_from_the_store(
    managers: Managers, say: Say, backend: Backend
) -> None:
    key = backend.key()
    first = managers()
    await say(first, "one")
    await say(first, "two")
    await first.aclose()  # a clean shutdown (which also leaves a snapshot)
    second = managers()
    result = await say(second, "three")
    assert (result.instance_event, reply(result)) == ("restored", "echo #3: three")
    # A restart without a clean shutdown: the log alone carries the turn after the snapshot.
    third = managers()
    result = await say(third, "four")
    assert (result.instance_event, reply(result)) == ("restored", "echo #4: four")
    assert await logged(third, key) == ["one", "two", "three", "four"]


async def test_streamed_turns_are_persisted(managers: Managers, say: Say, backend: Backend) -> None:
    manager = managers()
    await say(manager, "one")
    command = ExecuteAgentCommand(
        agent_id=BOT,
        session_id="s1",
        principal=backend.namespace,
        messages=[ChatMessage.user("streamed words")],
    )
    items = [item async for item in manager.stream(command)]  # to the end
    *chunks, last = items
    text = "".join(chunk.text for chunk in chunks if isinstance(chunk, ChatMessage))
    assert text == "echo #2: streamed words"
    assert isinstance(last, ExecutionResult) and last.stats.turn_count == 2
    assert await manager.evict(backend.key())
    result = await say(manager, "three")
    assert (result.instance_event, reply(result)) == ("restored", "echo #3: three")
    assert await logged(manager, backend.key()) == ["one", "streamed words", "three"]


async def test_capacity_eviction_and_idle_expiry_keep_every_conversation(
    managers: Managers, say: Say, backend: Backend, clock: Any
) -> None:
    """With room for one instance, two sessions take turns evicting each other: every turn
    after the first restores (from the snapshot left at unload plus the log after it), and both
    conversations count on; an idle-expired instance comes back the same way."""
    manager = managers(
        lifecycle=LifecyclePolicy(sweep_interval=None, max_active=1, idle_timeout=60)
    )
    for n in range(1, 6):
        for session in ("a", "b"):
            result = await say(manager, f"{session}{n}", session)
            assert reply(result) == f"echo #{n}: {session}{n}"
            assert result.instance_event == ("created" if n == 1 else "restored")
    clock.advance(61)
    assert (await manager.cleanup_inactive()).expired_idle == [backend.key("b")]
    result = await say(manager, "b6", "b")
    assert (result.instance_event, reply(result)) == ("restored", "echo #6: b6")
    assert await logged(manager, backend.key("a")) == [f"a{n}" for n in range(1, 6)]
    assert await logged(manager, backend.key("b")) == [f"b{n}" for n in range(1, 7)]


async def test_a_turn_cancelled_while_its_write_commits_is_acknowledged(
    managers: Managers, say: Say, backend: Backend
) -> None:
    """The caller gives up (cancels) while the store commits the turn: the write finishes, so
    the turn is stored *and* acknowledged (stats, hooks), the instance stays, and no spurious
    lease-lost unload happens; the caller still sees its cancellation."""
    manager = managers()
    await say(manager, "one")
    store = manager.store
    assert store is not None
    writing = asyncio.Event()
    original = store.append_turn

    async def slow_commit(lease: Lease, turn: TurnWrite) -> None:
        writing.set()
        await asyncio.sleep(0.2)  # the commit is under way when the caller cancels
        await original(lease, turn)

    store.append_turn = slow_commit  # type: ignore[method-assign]
    turn = asyncio.create_task(say(manager, "two"))
    await asyncio.wait_for(writing.wait(), 10)
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn
    store.append_turn = original  # type: ignore[method-assign]
    stats = manager.session_stats(backend.key())
    assert stats is not None and stats.turn_count == 2  # acknowledged, instance kept
    assert manager.stats().evicted == 0
    result = await say(manager, "three")
    assert (result.instance_event, reply(result)) == ("reused", "echo #3: three")
    assert await logged(manager, backend.key()) == ["one", "two", "three"]


async def test_a_cancelled_turn_whose_write_hangs_drops_the_instance(
    managers: Managers, say: Say, backend: Backend
) -> None:
    """The store does not answer within the grace after a cancellation: whether the turn is
    stored is unknown, so the instance is dropped (as evicted, not lease-lost) and the next turn
    restores from what the store holds."""
    manager = managers()
    await say(manager, "one")
    store = manager.store
    assert store is not None
    manager._persistence.cancel_grace = 0.05  # type: ignore[attr-defined]
    committed = asyncio.Event()
    original = store.append_turn

    async def slow_ack(lease: Lease, turn: TurnWrite) -> None:
        await original(lease, turn)
        committed.set()
        await asyncio.sleep(3600)  # the acknowledgement never arrives in time

    store.append_turn = slow_ack  # type: ignore[method-assign]
    turn = asyncio.create_task(say(manager, "two"))
    await asyncio.wait_for(committed.wait(), 10)
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn
    store.append_turn = original  # type: ignore[method-assign]
    assert manager.get_agent(backend.key()) is None
    result = await say(manager, "three")
    assert (result.instance_event, reply(result)) == ("restored", "echo #3: three")
    assert await logged(manager, backend.key()) == ["one", "two", "three"]


async def test_a_failed_turn_is_not_persisted(
    managers: Managers, say: Say, backend: Backend
) -> None:
    manager = managers()
    await say(manager, "one")
    with pytest.raises(StubFault):
        await say(manager, "boom !fail")
    assert reply(await say(manager, "two")) == "echo #2: two"
    assert await manager.evict(backend.key())
    assert reply(await say(manager, "three")) == "echo #3: three"
    assert await logged(manager, backend.key()) == ["one", "two", "three"]


async def test_principals_keep_equal_session_ids_apart(
    managers: Managers, backend: Backend
) -> None:
    manager = managers()
    for principal, text in (("alice", "a"), ("bob", "b"), ("alice", "a2")):
        await manager.execute(
            ExecuteAgentCommand(
                agent_id=BOT,
                session_id="same",
                principal=f"{backend.namespace}-{principal}",
                messages=[ChatMessage.user(text)],
            )
        )
    alice = SessionKey(BOT, "same", f"{backend.namespace}-alice")
    bob = SessionKey(BOT, "same", f"{backend.namespace}-bob")
    assert await logged(manager, alice) == ["a", "a2"]
    assert await logged(manager, bob) == ["b"]
    assert manager.store is not None
    for key in (alice, bob):
        await manager.store.delete(key)


async def test_a_session_keeps_its_template_version(
    managers: Managers, say: Say, backend: Backend, bot: AgentDefinition
) -> None:
    manager = managers()
    old, new = backend.key("old"), backend.key("new")
    await say(manager, "hello", "old")
    v2 = bot.model_copy(update={"template_version": "2"})
    manager.register_agent(v2)
    assert await manager.evict(old)
    result = await say(manager, "again", "old")
    assert (result.instance_event, reply(result)) == ("restored", "echo #2: again")
    assert manager.store is not None
    record = await manager.store.get(old)
    assert record is not None and record.template_version == "1"
    instance = manager.get_agent(old)
    assert isinstance(instance, StubAgent) and instance.request.template_version == "1"
    await say(manager, "hi", "new")  # a new session gets the new definition
    record = await manager.store.get(new)
    assert record is not None and record.template_version == "2"
    # After a restart with only v2 registered, the old session is still restored on v1.
    restarted = managers(agents=[v2])
    result = await say(restarted, "once more", "old")
    assert (result.instance_event, reply(result)) == ("restored", "echo #3: once more")
    instance = restarted.get_agent(old)
    assert isinstance(instance, StubAgent) and instance.request.template_version == "1"


# -- ending and retention -----------------------------------------------------------------------


async def test_end_session_deletes_everything_and_says_what(
    managers: Managers, say: Say, backend: Backend
) -> None:
    manager = managers()
    key = backend.key()
    for text in ("one", "two", "three"):
        await say(manager, text)
    report = await manager.end_session(BOT, "s1", namespace=backend.namespace)
    assert report.unloaded and report
    assert report.deleted == {"sessions": 1, "messages": 6, "snapshots": 0}
    assert manager.store is not None
    assert await manager.store.get(key) is None
    assert await manager.store.history(key) == []
    result = await say(manager, "again")
    assert (result.instance_event, reply(result)) == ("created", "echo #1: again")
    assert await logged(manager, key) == ["again"]


async def test_end_session_counts_the_snapshot(
    managers: Managers, say: Say, backend: Backend
) -> None:
    manager = managers()
    await say(manager, "one")
    await say(manager, "two")
    assert await manager.evict(backend.key())  # unloading compacts: a snapshot as of turn 2
    assert (await say(manager, "three")).instance_event == "restored"
    report = await manager.end_session(BOT, "s1", namespace=backend.namespace)
    assert report.unloaded
    assert report.deleted == {"sessions": 1, "messages": 6, "snapshots": 1}


async def test_end_session_of_a_session_stored_but_not_loaded(
    managers: Managers, say: Say, backend: Backend
) -> None:
    first = managers()
    await say(first, "one")
    await say(first, "two")
    await first.aclose()
    other = managers()
    report = await other.end_session(BOT, "s1", namespace=backend.namespace)
    assert not report.unloaded and report
    assert report.deleted == {"sessions": 1, "messages": 4, "snapshots": 1}
    assert other.stats().ended == 1
    again = await other.end_session(BOT, "s1", namespace=backend.namespace)
    assert not again and again.deleted == {"sessions": 0, "messages": 0, "snapshots": 0}


class WallClock:
    """A settable wall clock, injected as the manager's ``wall_clock``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_retention_purges_idle_sessions_in_batches(
    managers: Managers, say: Say, backend: Backend
) -> None:
    wall = WallClock(time.time() - 30 * DAY)
    manager = managers(
        lifecycle=LifecyclePolicy(sweep_interval=None, retention=DAY, retention_batch=3),
        wall_clock=wall,
    )
    old = [backend.key(f"old-{i}") for i in range(7)]
    for i, key in enumerate(old):  # seven sessions, last active a month ago, a minute apart
        await say(manager, f"turn {i}", key.session_id)
        wall.now += 60
    for key in old[:-1]:
        assert await manager.evict(key)  # the last one stays loaded
    wall.now = time.time()
    await say(manager, "recent", "fresh")
    batches: list[list[SessionKey]] = []
    for _ in range(10):
        report = await manager.cleanup_inactive()
        if not report.purged:
            break
        batches.append(report.purged)
    assert [key for batch in batches for key in batch] == old  # oldest first, each once
    assert [len(batch) for batch in batches] == [3, 3, 1]
    store = manager.store
    assert store is not None
    for key in old:
        assert await store.get(key) is None
        assert await store.history(key) == []
    assert await logged(manager, backend.key("fresh")) == ["recent"]
    # The purged session that was still loaded starts afresh rather than writing to nothing.
    result = await say(manager, "back", "old-6")
    assert (result.instance_event, reply(result)) == ("created", "echo #1: back")
    assert await logged(manager, old[-1]) == ["back"]


# -- two managers on one session (two processes) ------------------------------------------------


async def test_a_stale_instance_is_reloaded_when_another_manager_claimed(
    managers: Managers, say: Say, backend: Backend
) -> None:
    one, two = managers(), managers()
    assert reply(await say(one, "a1")) == "echo #1: a1"
    assert reply(await say(one, "a2")) == "echo #2: a2"
    taken = await say(two, "b1")  # two claims the session: one's instance is now stale
    assert (taken.instance_event, reply(taken)) == ("restored", "echo #3: b1")
    back = await say(one, "a3")  # one notices before running the turn, and reloads
    assert (back.instance_event, reply(back)) == ("restored", "echo #4: a3")
    again = await say(two, "b2")
    assert (again.instance_event, reply(again)) == ("restored", "echo #5: b2")
    assert await logged(one, backend.key()) == ["a1", "a2", "b1", "a3", "b2"]
    record = await one.store.get(backend.key())  # type: ignore[union-attr]
    assert record is not None and record.epoch == 4


async def test_a_lease_from_before_an_end_cannot_write_to_the_new_session(
    managers: Managers, say: Say, backend: Backend
) -> None:
    """``two`` ends the session ``one`` has loaded and starts it again: the new record is at
    epoch 1 again, like ``one``'s lease, and has as many turns as ``one`` last saw. Still ``one``
    must not write to it (the lease names its owner): it reloads instead."""
    one, two = managers(), managers()
    assert reply(await say(one, "old")) == "echo #1: old"
    report = await two.end_session(BOT, "s1", namespace=backend.namespace)
    assert report.deleted["sessions"] == 1 and not report.unloaded
    fresh = await say(two, "new")
    assert (fresh.instance_event, reply(fresh)) == ("created", "echo #1: new")
    later = await say(one, "later")  # one's instance is stale: reloaded, not written through
    assert (later.instance_event, reply(later)) == ("restored", "echo #2: later")
    assert await logged(one, backend.key()) == ["new", "later"]


async def test_lease_lost_mid_turn_reaches_the_caller_and_the_retry_has_everything(
    managers: Managers, say: Say, backend: Backend
) -> None:
    one, two = managers(), managers()
    key = backend.key()
    await say(one, "a1")
    instance = one.get_agent(key)
    assert isinstance(instance, StubAgent)
    inside, release = asyncio.Event(), asyncio.Event()
    original = instance.ainvoke

    async def held(request: TurnRequest) -> TurnOutput:
        inside.set()  # past the lease check, inside the turn
        await release.wait()
        return await original(request)

    instance.ainvoke = held  # type: ignore[method-assign]
    turn = asyncio.create_task(say(one, "a2"))
    await asyncio.wait_for(inside.wait(), 10)
    taken = await say(two, "b1")  # claims the session while one's turn is in flight
    assert (taken.instance_event, reply(taken)) == ("restored", "echo #2: b1")
    release.set()
    with pytest.raises(LeaseLost) as refused:
        await turn
    assert refused.value.key == key and refused.value.epoch == 1
    assert one.get_agent(key) is None  # the instance, ahead of the store, was dropped
    assert instance.destroyed
    retried = await say(one, "a2")
    assert (retried.instance_event, reply(retried)) == ("restored", "echo #3: a2")
    assert await logged(one, key) == ["a1", "b1", "a2"]
    # The other manager's instance is now the stale one: it reloads without an error.
    later = await say(two, "b2")
    assert (later.instance_event, reply(later)) == ("restored", "echo #4: b2")


# -- corrupt data -------------------------------------------------------------------------------

_SNAPSHOT = "UPDATE sessions SET snapshot = ?, snapshot_turn = ? WHERE key = ?"
_MESSAGE = "UPDATE messages SET {} = ? WHERE turn = ? AND seq = ? AND key = ?"
CORRUPTIONS: dict[str, tuple[str, tuple[object, ...]]] = {
    # name: (statement, its parameters before the session key)
    "message metadata not JSON": (_MESSAGE.format("metadata"), ("{oops", 1, 1)),
    "message metadata not an object": (_MESSAGE.format("metadata"), ("[1]", 2, 0)),
    "message role unknown": (_MESSAGE.format("role"), ("wizard", 1, 0)),
    "message content not text": (_MESSAGE.format("content"), (b"\x80\x81", 2, 1)),
    "snapshot not JSON": (_SNAPSHOT, ("not json", 1)),
    "snapshot not an object": (_SNAPSHOT, ("[1, 2]", 1)),
    "snapshot of another shape": (_SNAPSHOT, ('{"version": 99}', 2)),
    "snapshot history malformed": (_SNAPSHOT, ('{"version": 1, "history": [{"role": 7}]}', 2)),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
async def test_a_corrupt_sqlite_row_is_refused(
    make_manager: Managers, tmp_path: Path, corruption: str
) -> None:
    path = tmp_path / "sessions.db"
    key = SessionKey(BOT, "s1")
    writer = make_manager(strategy="persisted", store=SQLiteStore(path))
    reader = make_manager(strategy="persisted", store=SQLiteStore(path))
    try:
        for text in ("one", "two"):
            await writer.execute(_command(text))
        await writer.execute(_command("other", "s2"))
        with contextlib.closing(sqlite3.connect(path)) as conn:
            statement, values = CORRUPTIONS[corruption]
            assert conn.execute(statement, (*values, str(key))).rowcount == 1
            conn.commit()
        await _assert_refused(reader, key)
    finally:
        await writer.aclose()
        await reader.aclose()


async def test_a_corrupt_memory_row_is_refused(make_manager: Managers) -> None:
    store = MemoryStore()
    writer = make_manager(strategy="persisted", store=store)
    reader = make_manager(strategy="persisted", store=store)
    key = SessionKey(BOT, "s1")
    for text in ("one", "two"):
        await writer.execute(_command(text))
    await writer.execute(_command("other", "s2"))
    row = store._rows[key]
    row.log[1] = (1, ("assistant", "echo #1: one", None, "{oops"))
    await _assert_refused(reader, key)


def _command(text: str, session: str = "s1") -> ExecuteAgentCommand:
    return ExecuteAgentCommand(agent_id=BOT, session_id=session, messages=[ChatMessage.user(text)])


async def _assert_refused(manager: SessionManager, key: SessionKey) -> None:
    """Loading ``key`` fails with CorruptSessionData naming it, twice over, with nothing left
    loaded; the store's other sessions are unaffected."""
    for _ in range(2):
        with pytest.raises(CorruptSessionData) as refused:
            await manager.execute(_command("three"))
        assert refused.value.key == key
        assert manager.get_agent(key) is None
    assert manager.list_agents() == []
    other = await manager.execute(_command("fine", "s2"))
    assert (other.instance_event, reply(other)) == ("restored", "echo #2: fine")


# -- the SQLite store's writer thread -----------------------------------------------------------


async def test_a_sqlite_call_that_reopens_the_store_while_it_closes(tmp_path: Path) -> None:
    """A call made while ``aclose()`` waits for the writer thread reopens the store with a
    writer of its own; the closing thread still gets its stop and ``aclose()`` returns (a shared
    job queue once let the new thread take the old one's stop, and ``aclose()`` hung)."""
    store = SQLiteStore(tmp_path / "sessions.db")
    key = SessionKey(BOT, "s1")
    await store.claim(key, "me", "echo", "1", time.time())
    gate, holding = threading.Event(), threading.Event()

    def hold(conn: Any) -> bool:
        holding.set()
        return gate.wait(10)

    busy = asyncio.ensure_future(store._call(hold))
    assert await asyncio.to_thread(holding.wait, 10)  # the writer is busy
    closing = asyncio.ensure_future(store.aclose())  # its stop queues behind the busy job
    await asyncio.sleep(0)
    release = threading.Timer(0.2, gate.set)
    release.start()
    try:
        record = await asyncio.wait_for(store.get(key), 10)  # reopens the store
        assert record is not None and record.epoch == 1
        await asyncio.wait_for(closing, 10)
        assert await busy
    finally:
        gate.set()
        release.join()
        await store.aclose()
