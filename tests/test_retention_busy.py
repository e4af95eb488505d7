"""Retention never purges a session with a turn in flight in this process (issue 11): the
sweeper hands the store the keys the registry has mid-turn, and ``purge_idle`` spares them.
On the memory, SQLite and Postgres stores."""

from __future__ import annotations

import asyncio

from sessionful import ChatMessage, ExecuteAgentCommand, LifecyclePolicy
from support.backends import BOT, DAY, Backend, Managers, backend, managers

__all__ = ["backend", "managers"]  # fixtures, imported to be found here


class WallClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def turn(backend: Backend, text: str, session: str) -> ExecuteAgentCommand:
    return ExecuteAgentCommand(
        agent_id=BOT,
        session_id=session,
        principal=backend.namespace,
        messages=[ChatMessage.user(text)],
    )


async def test_retention_spares_a_session_mid_turn(managers: Managers, backend: Backend) -> None:
    wall = WallClock(1_000_000.0)
    manager = managers(
        lifecycle=LifecyclePolicy(sweep_interval=None, retention=DAY),
        wall_clock=wall,
        framework_settings={"invoke_latency": 0.2},
    )
    await manager.execute(turn(backend, "one", "busy"))
    await manager.execute(turn(backend, "one", "idle"))
    wall.now += 2 * DAY  # both are past retention now
    running = asyncio.create_task(manager.execute(turn(backend, "two", "busy")))
    await asyncio.sleep(0.05)  # "two" is in flight
    report = await manager.cleanup_inactive()
    assert report.purged == [backend.key("idle")]
    result = await running
    assert (result.instance_event, result.messages[-1].text) == ("reused", "echo #2: two")
    store = manager.store
    assert store is not None
    record = await store.get(backend.key("busy"))
    assert record is not None and record.turn_count == 2
