"""Lifecycle on a fake clock: idle and lifetime expiry, LRU eviction at capacity, never touching a
turn in flight, failing destroys, the background sweeper, and what a sweep costs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from sessionful import (
    CapacityExceeded,
    ChatMessage,
    CleanupReport,
    LifecyclePolicy,
    SessionKey,
    SessionManager,
    hookimpl,
)
from sessionful import manager as manager_module
from sessionful._registry import Entry
from sessionful.lifecycle import ExpiryIndex
from sessionful_stub import StubFactory
from support import BOT, Cmd, ControlledAgent, ControlledFramework, FakeClock, Make, Recorder


def policy(**limits: Any) -> LifecyclePolicy:
    limits.setdefault("sweep_interval", None)
    return LifecyclePolicy(**limits)


def key(session: str) -> SessionKey:
    return SessionKey(BOT, session)


def stub_factory(manager: SessionManager) -> StubFactory:
    factory = manager._factory
    assert isinstance(factory, StubFactory)
    return factory


async def settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def hold_turns(controlled: ControlledFramework, *texts: str) -> asyncio.Event:
    """Make turns whose message is one of ``texts`` wait for the returned event."""
    gate = asyncio.Event()

    async def hold(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        if messages[0].content in texts:
            await gate.wait()

    controlled.factory.on_invoke = hold
    return gate


# -- idle and lifetime expiry -------------------------------------------------------------------


async def test_idle_expiry(
    make_manager: Make, cmd: Cmd, clock: FakeClock, recorder: Recorder
) -> None:
    manager = make_manager(lifecycle=policy(idle_timeout=10))
    await manager.execute(cmd("a", "s1"))  # t=0
    clock.advance(5)
    await manager.execute(cmd("b", "s2"))  # t=5
    clock.advance(4.9)
    assert (await manager.cleanup_inactive()).expired == 0  # s1 idle 9.9 s
    clock.advance(0.1)
    report = await manager.cleanup_inactive()  # s1 idle exactly 10 s, s2 idle 5 s
    assert report.expired_idle == [key("s1")]
    assert report.expired_lifetime == []
    assert report.expired == 1
    assert manager.list_agents() == [key("s2")]
    first = stub_factory(manager).instances[0]
    assert first.destroyed
    assert recorder.evicted == [(key("s1"), "idle")]
    assert manager.stats().expired == 1
    assert manager.stats().evicted == 0
    again = await manager.execute(cmd("c", "s1"))
    assert (again.instance_event, again.messages[-1].content) == ("created", "echo #1: c")


async def test_activity_postpones_idle_expiry(
    make_manager: Make, cmd: Cmd, clock: FakeClock
) -> None:
    manager = make_manager(lifecycle=policy(idle_timeout=10))
    await manager.execute(cmd("a", "s1"))
    await manager.execute(cmd("a", "s2"))
    for _ in range(5):
        clock.advance(8)
        await manager.execute(cmd("keep alive", "s1"))
        report = await manager.cleanup_inactive()
        if report.expired:
            assert report.expired_idle == [key("s2")]
    assert manager.list_agents() == [key("s1")]


async def test_max_lifetime_expires_a_busy_session(
    make_manager: Make, cmd: Cmd, clock: FakeClock, recorder: Recorder
) -> None:
    manager = make_manager(lifecycle=policy(idle_timeout=None, max_lifetime=100))
    await manager.execute(cmd("a", "s1"))  # born t=0
    clock.advance(50)
    await manager.execute(cmd("a", "s2"))  # born t=50
    clock.advance(45)
    await manager.execute(cmd("b", "s1"))  # s1 active at t=95
    assert (await manager.cleanup_inactive()).expired == 0
    clock.advance(5)  # t=100: s1 is 100 s old although it was active 5 s ago
    report = await manager.cleanup_inactive()
    assert report.expired_lifetime == [key("s1")]
    assert report.expired_idle == []
    assert recorder.evicted == [(key("s1"), "lifetime")]
    assert manager.list_agents() == [key("s2")]
    clock.advance(50)
    assert (await manager.cleanup_inactive()).expired_lifetime == [key("s2")]
    assert manager.stats().expired == 2


async def test_idle_and_lifetime_together_unload_once(
    make_manager: Make, cmd: Cmd, clock: FakeClock
) -> None:
    manager = make_manager(lifecycle=policy(idle_timeout=10, max_lifetime=20))
    await manager.execute(cmd("a", "s1"))
    clock.advance(30)  # both idle- and lifetime-expired
    report = await manager.cleanup_inactive()
    assert report.expired == 1
    assert report.expired_idle + report.expired_lifetime == [key("s1")]
    assert manager.stats().expired == 1  # destroyed exactly once (the stub would raise twice)


async def test_no_limits_means_no_expiry(make_manager: Make, cmd: Cmd, clock: FakeClock) -> None:
    manager = make_manager(lifecycle=policy(idle_timeout=None, max_lifetime=None))
    await manager.execute(cmd("a", "s1"))
    clock.advance(10**9)
    assert await manager.cleanup_inactive() == CleanupReport()
    assert manager.stats().active == 1


# -- capacity -----------------------------------------------------------------------------------


async def test_lru_eviction_at_max_active(
    make_manager: Make, cmd: Cmd, clock: FakeClock, recorder: Recorder
) -> None:
    manager = make_manager(lifecycle=policy(max_active=3))
    for session in ("s1", "s2", "s3"):
        await manager.execute(cmd("hi", session))
        clock.advance(1)
    await manager.execute(cmd("again", "s1"))  # s2 is now the least recently used
    result = await manager.execute(cmd("hi", "s4"))
    assert result.instance_event == "created"
    assert recorder.evicted == [(key("s2"), "capacity")]
    assert manager.list_agents() == [key("s3"), key("s1"), key("s4")]
    assert manager.stats().evicted == 1
    assert manager.stats().active == 3
    destroyed = [agent.key for agent in stub_factory(manager).instances if agent.destroyed]
    assert destroyed == [key("s2")]
    # Reuse does not evict anything.
    await manager.execute(cmd("more", "s3"))
    assert manager.stats().evicted == 1


async def test_active_never_exceeds_max_active(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager(lifecycle=policy(max_active=5))
    for i in range(40):
        await manager.execute(cmd("hi", f"s{i % 13}"))
        assert manager.stats().active <= 5
    assert len(stub_factory(manager).live) == 5


async def test_capacity_exceeded_when_every_instance_is_mid_turn(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    gate = hold_turns(controlled, "long")
    manager = make_manager(framework=controlled, lifecycle=policy(max_active=2))
    turns = [asyncio.create_task(manager.execute(cmd("long", s))) for s in ("s1", "s2")]
    await settle()
    with pytest.raises(CapacityExceeded) as info:
        await manager.execute(cmd("hi", "s3"))
    assert info.value.max_active == 2
    assert info.value.key == key("s3")
    assert controlled.factory.destroyed == []
    assert controlled.factory.create_calls == 2
    gate.set()
    await asyncio.gather(*turns)
    result = await manager.execute(cmd("hi", "s3"))  # now an idle one can go
    assert result.instance_event == "created"
    assert [agent.key for agent in controlled.factory.destroyed] == [key("s1")]


async def test_lru_eviction_skips_the_instance_mid_turn(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework, recorder: Recorder
) -> None:
    gate = hold_turns(controlled, "long")
    manager = make_manager(framework=controlled, lifecycle=policy(max_active=2))
    await manager.execute(cmd("hi", "s1"))
    await manager.execute(cmd("hi", "s2"))
    busy = asyncio.create_task(manager.execute(cmd("long", "s1")))  # s1 is LRU but busy
    await settle()
    await manager.execute(cmd("hi", "s3"))
    assert recorder.evicted == [(key("s2"), "capacity")]
    gate.set()
    assert (await busy).instance_event == "reused"
    assert manager.list_agents() == [key("s3"), key("s1")]


async def test_creations_in_flight_hold_capacity(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    gate = asyncio.Event()

    async def slow_create(request: Any) -> None:
        await gate.wait()

    controlled.factory.on_create = slow_create
    manager = make_manager(framework=controlled, lifecycle=policy(max_active=1))
    creating = asyncio.create_task(manager.execute(cmd("hi", "s1")))
    await settle()
    with pytest.raises(CapacityExceeded):
        await manager.execute(cmd("hi", "s2"))
    gate.set()
    await creating
    controlled.factory.on_create = None
    await manager.execute(cmd("hi", "s2"))
    assert manager.list_agents() == [key("s2")]


# -- turns in flight are never touched ------------------------------------------------------------


async def test_sweep_never_evicts_an_instance_mid_turn(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework, clock: FakeClock
) -> None:
    gate = hold_turns(controlled, "long")
    manager = make_manager(
        framework=controlled, lifecycle=policy(idle_timeout=10, max_lifetime=100)
    )
    await manager.execute(cmd("hi", "s1"))
    turn = asyncio.create_task(manager.execute(cmd("long", "s1")))
    await settle()
    clock.advance(1_000)  # far past both limits while the turn runs
    report = await manager.cleanup_inactive()
    assert report.expired == 0
    assert report.skipped_busy == 1
    assert controlled.factory.destroyed == []
    assert manager.list_agents() == [key("s1")]

    gate.set()
    result = await turn
    assert result.messages[-1].content == "reply #2"
    # Finished just now, but older than max_lifetime: the next sweep takes it.
    report = await manager.cleanup_inactive()
    assert report.expired_lifetime == [key("s1")]
    assert report.skipped_busy == 0


async def test_sweep_leaves_a_just_finished_turn_alone(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework, clock: FakeClock
) -> None:
    gate = hold_turns(controlled, "long")
    manager = make_manager(framework=controlled, lifecycle=policy(idle_timeout=10))
    await manager.execute(cmd("hi", "s1"))
    turn = asyncio.create_task(manager.execute(cmd("long", "s1")))
    await settle()
    clock.advance(60)
    assert (await manager.cleanup_inactive()).skipped_busy == 1
    gate.set()
    await turn
    assert (await manager.cleanup_inactive()).expired == 0  # its last activity is now
    clock.advance(10)
    assert (await manager.cleanup_inactive()).expired_idle == [key("s1")]


# -- failing destroy ----------------------------------------------------------------------------


async def test_failing_destroy_is_logged_reported_and_the_rest_cleaned(
    make_manager: Make,
    cmd: Cmd,
    clock: FakeClock,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = make_manager(lifecycle=policy(idle_timeout=10))
    for session in ("s1", "s2", "s3"):
        await manager.execute(cmd("hi", session))
    stub_factory(manager).faults.destroy = 1  # the first destroy of the sweep raises
    clock.advance(10)
    with caplog.at_level(logging.WARNING, logger="sessionful"):
        report = await manager.cleanup_inactive()
    assert report.expired_idle == [key("s1"), key("s2"), key("s3")]
    assert list(report.failed) == [str(key("s1"))]
    assert "injected destroy failure" in report.failed[str(key("s1"))]
    assert manager.list_agents() == []
    assert all(agent.destroyed for agent in stub_factory(manager).instances)
    assert [k for k, _ in recorder.evicted] == [key("s1"), key("s2"), key("s3")]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "destroy_agent failed" in warnings[0].getMessage()
    assert str(key("s1")) in warnings[0].getMessage()
    assert manager.stats().expired == 3


async def test_failing_destroy_during_capacity_eviction_still_makes_room(
    make_manager: Make, cmd: Cmd, caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager(lifecycle=policy(max_active=1))
    await manager.execute(cmd("hi", "s1"))
    stub_factory(manager).faults.destroy = 1
    with caplog.at_level(logging.WARNING, logger="sessionful"):
        result = await manager.execute(cmd("hi", "s2"))
    assert result.instance_event == "created"
    assert manager.list_agents() == [key("s2")]
    assert any("destroy_agent failed" in r.getMessage() for r in caplog.records)


async def test_failing_destroy_on_end_session_still_forgets_the_instance(
    make_manager: Make, cmd: Cmd, caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager()
    await manager.execute(cmd("hi", "s1"))
    stub_factory(manager).faults.destroy = 1
    with caplog.at_level(logging.WARNING, logger="sessionful"):
        report = await manager.end_session(BOT, "s1")
    assert report.unloaded
    assert manager.list_agents() == []
    assert any("destroy_agent failed" in r.getMessage() for r in caplog.records)


# -- the background sweeper ---------------------------------------------------------------------


async def test_background_sweeper_expires_idle_sessions(
    make_manager: Make, cmd: Cmd, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    expired = asyncio.Event()

    class Notify:
        @hookimpl
        def session_evicted(self, reason: str) -> None:
            if reason == "idle":
                expired.set()

    # The interval only paces the sweeper's wake-ups; expiry is decided by the fake clock.
    manager = make_manager(lifecycle=LifecyclePolicy(idle_timeout=10, sweep_interval=0.001))
    manager.plugins.register(Notify())
    calls = 0
    real_cleanup = manager.cleanup_inactive

    async def flaky_cleanup() -> CleanupReport:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("sweep exploded")
        return await real_cleanup()

    manager.cleanup_inactive = flaky_cleanup  # type: ignore[method-assign]
    async with manager:
        await manager.execute(cmd("hi", "s1"))
        clock.advance(11)
        with caplog.at_level(logging.ERROR, logger="sessionful"):
            await asyncio.wait_for(expired.wait(), timeout=5)
        assert manager.list_agents() == []
    assert calls >= 2  # the failed sweep was logged and the sweeper carried on
    assert any("sweep failed" in r.getMessage() for r in caplog.records)


# -- what a sweep costs -------------------------------------------------------------------------


# Entry keeps both timestamps in __slots__: its slot descriptors do the storing.
_LAST_ACTIVITY_SLOT: Any = vars(Entry)["last_activity"]
_BORN_SLOT: Any = vars(Entry)["born"]


class CountedEntry(Entry[Any]):
    """An Entry that counts reads of the timestamps a sweep orders by."""

    reads = 0

    @property
    def last_activity(self) -> float:
        CountedEntry.reads += 1
        return float(_LAST_ACTIVITY_SLOT.__get__(self))

    @last_activity.setter
    def last_activity(self, value: float) -> None:
        _LAST_ACTIVITY_SLOT.__set__(self, value)

    @property
    def born(self) -> float:
        CountedEntry.reads += 1
        return float(_BORN_SLOT.__get__(self))

    @born.setter
    def born(self, value: float) -> None:
        _BORN_SLOT.__set__(self, value)


@pytest.mark.parametrize("max_lifetime", [None, 10_000.0])
async def test_a_sweep_reads_only_the_expired_sessions(
    make_manager: Make,
    cmd: Cmd,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    max_lifetime: float | None,
) -> None:
    live, stale = 10_000, 10
    monkeypatch.setattr(manager_module, "Entry", CountedEntry)
    manager = make_manager(
        lifecycle=policy(idle_timeout=100, max_lifetime=max_lifetime, max_active=None)
    )
    for i in range(live):
        if i == stale:
            clock.advance(60)  # the first `stale` sessions are older than the rest
        await manager.execute(cmd("hi", f"s{i}"))
    clock.advance(50)  # the first ten are now 110 s idle, the rest 50 s

    CountedEntry.reads = 0
    report = await manager.cleanup_inactive()
    assert report.expired_idle == [key(f"s{i}") for i in range(stale)]
    assert manager.stats().active == live - stale
    # Each expired entry is read a handful of times (the index, the hook's stats), plus the
    # first fresh entry of each order where the walk stops: O(expired), nowhere near O(live).
    assert 0 < CountedEntry.reads <= 6 * stale + 2, CountedEntry.reads


class Timed:
    """A minimal index entry that counts how often the index looks at it."""

    looks = 0

    def __init__(self, created_at: float, last_activity: float, busy: bool = False) -> None:
        self._created_at = created_at
        self._last_activity = last_activity
        self._busy = busy

    @property
    def born(self) -> float:
        Timed.looks += 1
        return self._created_at

    @property
    def last_activity(self) -> float:
        Timed.looks += 1
        return self._last_activity

    @property
    def busy(self) -> bool:
        Timed.looks += 1
        return self._busy


def test_expiry_index_walks_only_the_expired_prefix() -> None:
    index: ExpiryIndex[Timed] = ExpiryIndex(policy(idle_timeout=10, max_lifetime=1_000))
    # 5 expired (2 of them busy), then 10_000 fresh.
    for i in range(5):
        index.add(SessionKey("a", f"old{i}"), Timed(0, 0, busy=i < 2))
    for i in range(10_000):
        index.add(SessionKey("a", f"new{i}"), Timed(50, 50))
    Timed.looks = 0
    victims, busy = index.expired(now=20)
    assert [k.session_id for k, _, _ in victims] == ["old2", "old3", "old4"]
    assert {reason for _, _, reason in victims} == {"idle"}
    assert busy == 2
    assert Timed.looks <= 2 * 5 + 2, Timed.looks


def test_expiry_index_lifetime_order_is_creation_order() -> None:
    index: ExpiryIndex[Timed] = ExpiryIndex(policy(idle_timeout=None, max_lifetime=100))
    index.add(SessionKey("a", "born0"), Timed(0, 90))
    index.add(SessionKey("a", "born10"), Timed(10, 95))
    index.add(SessionKey("a", "born50"), Timed(50, 96))
    index.touch(SessionKey("a", "born0"))  # LRU order changes; birth order does not
    victims, busy = index.expired(now=105)
    assert [k.session_id for k, _, _ in victims] == ["born0"]
    assert victims[0][2] == "lifetime"
    assert busy == 0
    index.discard(SessionKey("a", "born0"))
    assert [k.session_id for k, _, _ in index.expired(now=112)[0]] == ["born10"]
    assert len(index) == 2


def test_expiry_index_lru_order() -> None:
    index: ExpiryIndex[Timed] = ExpiryIndex(policy())
    keys = [SessionKey("a", f"s{i}") for i in range(3)]
    for i, k in enumerate(keys):
        index.add(k, Timed(i, i, busy=i == 1))
    index.touch(keys[0])
    assert index.keys() == [keys[1], keys[2], keys[0]]
    found = index.lru_idle()
    assert found is not None and found[0] == keys[2]  # keys[1] is busy
    assert index.discard(keys[2]) is not None
    assert index.discard(keys[2]) is None
    found = index.lru_idle()
    assert found is not None and found[0] == keys[0]


async def test_closing_mid_sweep_strands_no_instance(
    make_manager: Make,
    cmd: Cmd,
    controlled: ControlledFramework,
    clock: FakeClock,
    recorder: Recorder,
) -> None:
    """aclose() during a sweep's (slow) destroys: every instance the sweep took is destroyed."""
    destroying = asyncio.Event()
    release = asyncio.Event()

    async def slow_destroy(agent: ControlledAgent) -> None:
        destroying.set()
        await release.wait()

    manager = make_manager(
        framework=controlled, lifecycle=LifecyclePolicy(idle_timeout=10, sweep_interval=0.001)
    )
    await manager.__aenter__()
    for session in ("s1", "s2", "s3"):
        await manager.execute(cmd("hi", session))
    controlled.factory.on_destroy = slow_destroy
    clock.advance(10)
    await asyncio.wait_for(destroying.wait(), timeout=5)  # the sweep is inside a destroy
    closing = asyncio.create_task(manager.aclose())
    await settle()
    assert not closing.done()  # it waits for the sweep's destroys ...
    release.set()
    await asyncio.wait_for(closing, timeout=5)
    assert sorted(reason for _, reason in recorder.evicted) == ["idle"] * 3  # ... which finish
    created, destroyed = controlled.factory.created, controlled.factory.destroyed
    assert sorted(str(a.key.session_id) for a in destroyed) == ["s1", "s2", "s3"]
    assert len(destroyed) == len(created) == 3
    assert manager.list_agents() == []
