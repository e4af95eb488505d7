"""Ended stays ended: for the ``persisted`` strategy the store is the truth of which sessions
exist, on every process (two managers on one store stand for two processes).

Each test reproduces a defect of the reliability review (issue 11): an ended or purged session
revived by a stale instance elsewhere, a turn queued behind an end answering "lease lost", and a
restored session re-restored on every turn under ``max_lifetime``.
"""

from __future__ import annotations

import asyncio

import pytest

from sessionful import (
    ChatMessage,
    ExecuteAgentCommand,
    LifecyclePolicy,
    SessionNotFound,
)
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
from support.fakes import FakeClock

__all__ = ["backend", "managers", "say"]  # fixtures, imported to be found here


def turn(backend: Backend, text: str, session: str = "s1") -> ExecuteAgentCommand:
    return ExecuteAgentCommand(
        agent_id=BOT,
        session_id=session,
        principal=backend.namespace,
        messages=[ChatMessage.user(text)],
    )


async def test_a_session_ended_elsewhere_is_not_revived(
    managers: Managers, say: Say, backend: Backend
) -> None:
    """P1 holds a live instance; P2 ends the session. P1 must not continue the old context:
    the SDK's get-or-create starts a fresh session (``created``, ``echo #1``), the stale
    instance is counted as ended (not lease-lost), and without ``create`` the turn finds none."""
    p1, p2 = managers(), managers()
    key = backend.key()
    await say(p1, "one")
    await say(p1, "two")
    report = await p2.end_session(BOT, "s1", namespace=backend.namespace)
    assert report.deleted["sessions"] == 1
    assert not await p1.session_exists(key)  # the store is the truth, live instance or not
    with pytest.raises(SessionNotFound):
        await p1.execute(turn(backend, "three"), create=False)
    assert p1.get_agent(key) is None
    assert p1.stats().ended == 1 and p1.stats().evicted == 0
    fresh = await say(p1, "again")
    assert (fresh.instance_event, reply(fresh)) == ("created", "echo #1: again")
    assert await logged(p2, key) == ["again"]


async def test_a_stream_on_a_session_ended_elsewhere_finds_none(
    managers: Managers, say: Say, backend: Backend
) -> None:
    p1, p2 = managers(), managers()
    await say(p1, "one")
    await p2.end_session(BOT, "s1", namespace=backend.namespace)
    with pytest.raises(SessionNotFound):
        async for _ in p1.stream(turn(backend, "two"), create=False):
            pass


async def test_a_session_purged_by_retention_is_not_revived(
    managers: Managers, say: Say, backend: Backend
) -> None:
    """Retention on P2 purges a session P1 still holds live: P1's next turn starts afresh
    rather than replying ``echo #3`` from the purged context under the same id."""
    wall = [1_000_000.0]
    p1 = managers(wall_clock=lambda: wall[0])
    p2 = managers(
        wall_clock=lambda: wall[0],
        lifecycle=LifecyclePolicy(sweep_interval=None, retention=DAY),
    )
    key = backend.key()
    await say(p1, "one")
    await say(p1, "two")
    wall[0] += 2 * DAY
    report = await p2.cleanup_inactive()
    assert report.purged == [key]
    assert await p1.session_record(key) is None
    with pytest.raises(SessionNotFound):
        await p1.execute(turn(backend, "three"), create=False)
    fresh = await say(p1, "three")
    assert (fresh.instance_event, reply(fresh)) == ("created", "echo #1: three")


async def test_a_turn_queued_behind_an_end_finds_no_session(
    make_manager: Managers, backend: Backend
) -> None:
    """Within one process, a turn waiting behind ``end_session`` answers ``SessionNotFound`` at
    once (a service's 404), not ``LeaseLost`` (a 503 whose retry then gets 404)."""
    manager = make_manager(
        strategy="persisted",
        store=backend.new_store(),
        framework_settings={"invoke_latency": 0.05},
    )
    try:
        await manager.execute(turn(backend, "one"))
        busy = asyncio.create_task(manager.execute(turn(backend, "two")))
        await asyncio.sleep(0)  # "two" holds the gate
        ending = asyncio.create_task(manager.end_session(BOT, "s1", namespace=backend.namespace))
        await asyncio.sleep(0)
        queued = asyncio.create_task(manager.execute(turn(backend, "three"), create=False))
        await busy
        await ending
        with pytest.raises(SessionNotFound):
            await queued
    finally:
        await manager.aclose()


async def test_a_restored_session_is_reused_under_max_lifetime(
    managers: Managers, say: Say, backend: Backend, clock: FakeClock
) -> None:
    """``max_lifetime`` is the life of an instance: a session older than it is restored once,
    then reused, not restored again on every turn."""
    wall = [1_000_000.0]
    old = managers(wall_clock=lambda: wall[0])
    await say(old, "one")
    await old.aclose()
    wall[0] += 100  # the session is 100 s old; instances may live 50 s
    manager = managers(
        wall_clock=lambda: wall[0],
        lifecycle=LifecyclePolicy(sweep_interval=None, max_lifetime=50),
    )
    events = []
    for text in ("two", "three", "four"):
        result = await say(manager, text)
        events.append(result.instance_event)
        clock.advance(1)
    assert events == ["restored", "reused", "reused"]
    clock.advance(60)  # this instance is now past its lifetime
    assert (await say(manager, "five")).instance_event == "restored"
