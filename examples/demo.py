"""The scripted demo that `make demo` runs: sessionful on the stub adapter.

It shows, in order: a session created then reused, two sessions of one agent kept apart, the
``shared`` strategy mixing them for contrast, idle expiry, the ``persisted`` strategy restoring an
expired session, LRU eviction at ``max_active``, ``end_session``, and the analytics. Time is a
fake clock the demo moves by hand, so the run is deterministic and takes no time at all.
"""

from __future__ import annotations

import asyncio

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    LifecyclePolicy,
    SessionKey,
    SessionManager,
    SessionStats,
    hookimpl,
)

AGENT = "customer-service-bot"


class FakeClock:
    """Seconds that move only when told to: ``advance()``, plus ``tick`` per reading.

    The manager reads its clock once when it creates an instance and before and after each turn,
    so while ``tick`` is set, a turn "takes" exactly ``tick`` seconds of fake time.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.tick = 0.0

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ShowUnloads:
    """A plugin that prints why instances are unloaded (see examples/metrics_hooks.py)."""

    @hookimpl
    def session_evicted(self, key: SessionKey, reason: str) -> None:
        print(f"      [hook] session_evicted {key} (reason: {reason})")

    @hookimpl
    def session_ended(self, key: SessionKey, stats: SessionStats | None) -> None:
        print(f"      [hook] session_ended   {key} (was loaded: {stats is not None})")


def heading(title: str) -> None:
    print(f"\n== {title}")


async def say(manager: SessionManager, clock: FakeClock, session_id: str, text: str) -> None:
    """One user turn. The stub answers at once; the fake clock pretends it took a moment."""
    said_at = clock.now
    clock.tick = 0.1 + 0.01 * len(text)  # "thinking time": 0.1 s + 10 ms per character
    try:
        result = await manager.execute(
            ExecuteAgentCommand(
                agent_id=AGENT, session_id=session_id, messages=[ChatMessage.user(text)]
            )
        )
    finally:
        clock.tick = 0.0
    print(
        f"  t={said_at:4.0f}s  {session_id:<17} {result.instance_event:<8}"
        f" user: {text:<25} agent: {result.messages[-1].content}"
    )


def show_live(manager: SessionManager) -> None:
    print("  live instances, least recently used first:")
    for key in manager.list_agents():
        print(f"    {key}")


async def main() -> None:
    print("sessionful demo: the stub adapter, which replies 'echo #<n>: <text>' where <n>")
    print("counts the user messages its instance has seen, so shared context shows in <n>.")
    print("Time is a FakeClock passed as SessionManager(clock=...): the demo advances it by hand,")
    print("and a turn takes 0.1 s + 10 ms per character of fake time. Nothing sleeps.")

    clock = FakeClock()
    policy = LifecyclePolicy(idle_timeout=600, max_active=3, sweep_interval=None)
    print(
        f"\nper_session manager: idle_timeout={policy.idle_timeout:.0f}s,"
        f" max_active={policy.max_active}, sweep_interval=None (the demo sweeps itself)"
    )
    manager = SessionManager(
        framework="stub",
        strategy="per_session",
        lifecycle=policy,
        clock=clock,
        plugins=[ShowUnloads()],
        agents=[
            AgentDefinition(
                id=AGENT, name="Customer service", template_id="echo", template_version="1"
            )
        ],
    )
    async with manager:
        heading("1. A session's instance is created on its first turn and reused after")
        await say(manager, clock, "session-abc-123", "Hello")
        clock.advance(30)
        await say(manager, clock, "session-abc-123", "What's my order status?")
        first = manager.list_agents()[0]
        print(f"  session key: {first!s}  (SessionKey.parse(str(key)) == key)")

        heading("2. Another session of the same agent gets its own instance (isolation)")
        clock.advance(30)
        await say(manager, clock, "session-def-456", "Hello")
        clock.advance(30)
        await say(manager, clock, "session-abc-123", "Thanks!")
        show_live(manager)

        await shared_for_contrast()

        heading("4. Idle expiry: a sweep unloads instances idle longer than idle_timeout")
        clock.advance(300)
        print("  (5 minutes pass)")
        await say(manager, clock, "session-def-456", "Still there?")
        clock.advance(360)
        print("  (6 more minutes pass: abc-123 is idle 11 min, def-456 6 min)")
        report = await manager.cleanup_inactive()
        print(
            f"  cleanup_inactive(): expired_idle={[str(k) for k in report.expired_idle]},"
            f" skipped_busy={report.skipped_busy}"
        )
        show_live(manager)
        await say(manager, clock, "session-abc-123", "I'm back")
        print("  (per_session keeps context in memory only, so the new instance starts at #1)")

        await persisted_for_contrast()

        heading("6. LRU eviction: a new session at max_active=3 evicts the least recently used")
        clock.advance(10)
        await say(manager, clock, "session-ghi-789", "Hi")
        show_live(manager)
        clock.advance(10)
        await say(manager, clock, "session-jkl-012", "Hi there")
        show_live(manager)

        heading("7. end_session: unload a session's instance now and forget it")
        report_end = await manager.end_session(AGENT, "session-ghi-789")
        print(f"  end_session({AGENT!r}, 'session-ghi-789') -> unloaded={report_end.unloaded}")
        report_end = await manager.end_session(AGENT, "session-never-seen")
        print(f"  end_session({AGENT!r}, 'session-never-seen') -> unloaded={report_end.unloaded}")
        show_live(manager)

        heading("8. Analytics")
        for text in ("One more thing", "Can I change my address?", "Bye"):
            clock.advance(20)
            await say(manager, clock, "session-jkl-012", text)
        print(
            f"  {'session':<38}{'turns':>6}{'msgs':>6}{'created':>10}"
            f"{'last':>10}{'duration':>10}{'mean':>8}{'p95':>8}"
        )
        for key in manager.list_agents():
            stats = manager.session_stats(key)
            assert stats is not None
            print(
                f"  {key!s:<38}{stats.turn_count:>6}{stats.message_count:>6}"
                f"{stats.created_at:>9.1f}s{stats.last_activity:>9.1f}s{stats.duration:>9.1f}s"
                f"{stats.response_time_mean or 0:>7.2f}s{stats.response_time_p95 or 0:>7.2f}s"
            )
        print(f"  manager.stats(): {format_stats(manager)}")
        print("\n  leaving `async with manager:` unloads the rest (reason: shutdown):")
    print(f"  manager.stats(): {format_stats(manager)}")
    print("\ndemo finished")


async def shared_for_contrast() -> None:
    heading("3. For contrast, strategy='shared': one instance per agent, every session mixed in")
    clock = FakeClock()
    async with SessionManager(
        framework="stub",
        strategy="shared",
        clock=clock,
        agents=[AgentDefinition(id=AGENT, name="Customer service", template_id="echo")],
    ) as shared:
        await say(shared, clock, "session-abc-123", "Hello")
        await say(shared, clock, "session-abc-123", "What's my order status?")
        await say(shared, clock, "session-def-456", "Hello")
        show_live(shared)


async def persisted_for_contrast() -> None:
    heading("5. strategy='persisted': a session's state outlives its instance")
    clock = FakeClock()
    async with SessionManager(
        framework="stub",
        strategy="persisted",
        store="memory://",  # the default is SQLite: sqlite:///.sessionful/sessions.db
        lifecycle=LifecyclePolicy(idle_timeout=600, sweep_interval=None),
        clock=clock,
        agents=[AgentDefinition(id=AGENT, name="Customer service", template_id="echo")],
    ) as persisted:
        await say(persisted, clock, "session-abc-123", "Hello")
        await say(persisted, clock, "session-abc-123", "What's my order status?")
        clock.advance(660)
        report = await persisted.cleanup_inactive()
        print(f"  (11 minutes pass) cleanup_inactive(): expired_idle={len(report.expired_idle)}")
        await say(persisted, clock, "session-abc-123", "I'm back")
    print("  (restored from the store: the conversation goes on at #3. memory:// lives as long as")
    print("   the process; the default SQLite store also survives restarts)")


def format_stats(manager: SessionManager) -> str:
    return ", ".join(f"{name}={value}" for name, value in manager.stats().model_dump().items())


if __name__ == "__main__":
    asyncio.run(main())
