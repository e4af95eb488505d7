"""Lifecycle with a fake clock: idle expiry, max_lifetime, LRU capacity, and never mid-turn.

The manager reads time only through the ``clock`` it is given, so a test (or this example) moves
time forward instead of sleeping. ``sweep_interval=None`` turns the background sweeper off; the
example calls ``cleanup_inactive()`` itself, which is exactly what the sweeper would do.
"""

from __future__ import annotations

import asyncio

from sessionful import (
    AgentDefinition,
    CapacityExceeded,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    LifecyclePolicy,
    SessionManager,
)


class FakeClock:
    """Seconds that move only when the example says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_manager(
    clock: FakeClock, policy: LifecyclePolicy, invoke_latency: float = 0.0
) -> SessionManager:
    return SessionManager(
        framework="stub",
        lifecycle=policy,
        clock=clock,
        framework_settings={"invoke_latency": invoke_latency},
        agents=[AgentDefinition(id="bot", name="Bot", template_id="echo")],
    )


async def turn(manager: SessionManager, session_id: str, text: str = "hi") -> ExecutionResult:
    return await manager.execute(
        ExecuteAgentCommand(
            agent_id="bot", session_id=session_id, messages=[ChatMessage.user(text)]
        )
    )


def live(manager: SessionManager) -> str:
    return ", ".join(key.session_id or key.agent_id for key in manager.list_agents()) or "none"


async def idle_and_lifetime() -> None:
    print("== idle_timeout=60, max_lifetime=300")
    clock = FakeClock()
    async with make_manager(
        clock, LifecyclePolicy(idle_timeout=60, max_lifetime=300, sweep_interval=None)
    ) as manager:
        await turn(manager, "chatty")
        await turn(manager, "quiet")
        for _ in range(5):  # chatty talks every 50 s, so it is never idle for 60 s
            clock.advance(50)
            await turn(manager, "chatty")
            report = await manager.cleanup_inactive()
            expired = [str(k.session_id) for k in report.expired_idle + report.expired_lifetime]
            print(f"t={clock.now:3.0f}s  swept: {expired or '-'}  live: {live(manager)}")
        clock.advance(50)
        report = await manager.cleanup_inactive()
        print(
            f"t={clock.now:3.0f}s  expired_lifetime="
            f"{[str(k) for k in report.expired_lifetime]} (created at t=0; activity doesn't count)"
        )
        result = await turn(manager, "chatty")
        print(f"t={clock.now:3.0f}s  chatty's next turn: {result.instance_event}")


async def never_mid_turn() -> None:
    print("\n== a sweep never unloads an instance whose turn is in flight")
    clock = FakeClock()
    # The stub really sleeps 50 ms inside each turn, so the turn below is in flight while we sweep.
    async with make_manager(
        clock,
        LifecyclePolicy(idle_timeout=60, sweep_interval=None),
        invoke_latency=0.05,
    ) as manager:
        await turn(manager, "slow")
        in_flight = asyncio.create_task(turn(manager, "slow", "still here"))
        await asyncio.sleep(0)  # let the turn start: it runs until the stub's sleep
        clock.advance(120)  # the instance's last activity is now 120 s ago, but it is mid-turn
        report = await manager.cleanup_inactive()
        print(f"mid-turn sweep: expired={report.expired}, skipped_busy={report.skipped_busy}")
        result = await in_flight
        print(f"the turn finishes: {result.instance_event}, {result.messages[-1].content!r}")
        report = await manager.cleanup_inactive()
        print(f"next sweep: expired={report.expired} (its last activity is now)")


async def capacity() -> None:
    print("\n== max_active=2: a new session evicts the least recently used idle instance")
    clock = FakeClock()
    async with make_manager(clock, LifecyclePolicy(max_active=2, sweep_interval=None)) as manager:
        for session_id in ["a", "b", "a", "c"]:
            clock.advance(1)
            result = await turn(manager, session_id)
            event = result.instance_event
            print(f"turn on {session_id}: {event:<8} live (LRU first): {live(manager)}")
        print(f"stats: evicted={manager.stats().evicted}, active={manager.stats().active}")

    print("\n== max_active=1 and the one instance is mid-turn: CapacityExceeded")
    async with make_manager(
        FakeClock(),
        LifecyclePolicy(max_active=1, sweep_interval=None),
        invoke_latency=0.05,
    ) as manager:
        busy = asyncio.create_task(turn(manager, "busy"))
        await asyncio.sleep(0)  # the first turn is now inside the stub's 50 ms sleep
        try:
            await turn(manager, "newcomer")
        except CapacityExceeded as exc:
            print(f"CapacityExceeded: {exc} (max_active={exc.max_active})")
        await busy


async def main() -> None:
    await idle_and_lifetime()
    await never_mid_turn()
    await capacity()


if __name__ == "__main__":
    asyncio.run(main())
