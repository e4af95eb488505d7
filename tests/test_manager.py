"""SessionManager on the stub adapter and a controllable framework: reuse, isolation,
single-flight creation, the turn gate, ending and evicting sessions, inspection and analytics."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from sessionful import (
    AgentCreationFailed,
    AgentDefinition,
    ChatMessage,
    ConfigurationError,
    InvalidSessionKey,
    LifecyclePolicy,
    SessionBusy,
    SessionKey,
    SessionManager,
    UnknownAgent,
    UnknownFramework,
    UnknownStrategy,
)
from sessionful_stub import StubAgent, StubFactory, StubFault
from support import BOT, Cmd, ControlledAgent, ControlledFramework, FakeClock, Make, Recorder, Timed


async def settle(rounds: int = 10) -> None:
    """Let every ready task run until it blocks (no time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def stub_factory(manager: SessionManager) -> StubFactory:
    factory = manager._factory
    assert isinstance(factory, StubFactory)
    return factory


def reply(result: Any) -> str:
    return str(result.messages[-1].content)


# -- reuse, isolation, sharing ------------------------------------------------------------------


async def test_original_design_contract(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager()
    first = await manager.execute(cmd("Hello", "session-abc-123"))
    assert first.instance_event == "created"
    assert reply(first) == "echo #1: Hello"
    assert str(first.session_key) == "customer-service-bot#session-abc-123"
    second = await manager.execute(cmd("Again", "session-abc-123"))
    assert second.instance_event == "reused"
    assert reply(second) == "echo #2: Again"
    assert len(stub_factory(manager).instances) == 1


async def test_per_session_isolates_contexts(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager(strategy="per_session")
    assert reply(await manager.execute(cmd("a1", "s1"))) == "echo #1: a1"
    assert reply(await manager.execute(cmd("a2", "s1"))) == "echo #2: a2"
    other = await manager.execute(cmd("b1", "s2"))
    assert reply(other) == "echo #1: b1"
    assert other.instance_event == "created"
    assert reply(await manager.execute(cmd("a3", "s1"))) == "echo #3: a3"
    assert sorted(map(str, manager.list_agents())) == [f"{BOT}#s1", f"{BOT}#s2"]


async def test_shared_accumulates_across_sessions(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager(strategy="shared")
    first = await manager.execute(cmd("a1", "s1"))
    second = await manager.execute(cmd("b1", "s2"))
    assert reply(first) == "echo #1: a1"
    assert reply(second) == "echo #2: b1"
    assert second.instance_event == "reused"
    assert first.session_key == second.session_key == SessionKey(BOT)
    assert len(stub_factory(manager).instances) == 1


async def test_shared_still_validates_the_session_id(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager(strategy="shared")
    with pytest.raises(InvalidSessionKey) as info:
        await manager.execute(cmd("x", "bad\x00id"))
    assert info.value.field == "session_id"


async def test_principal_namespaces_the_key(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager()
    alice = await manager.execute(cmd("hi", "s1", principal="alice"))
    bob = await manager.execute(cmd("hi", "s1", principal="bob"))
    anonymous = await manager.execute(cmd("hi", "s1"))
    assert str(alice.session_key) == f"alice|{BOT}#s1"
    assert str(bob.session_key) == f"bob|{BOT}#s1"
    assert str(anonymous.session_key) == f"{BOT}#s1"
    assert [r.instance_event for r in (alice, bob, anonymous)] == ["created"] * 3
    assert {reply(r) for r in (alice, bob, anonymous)} == {"echo #1: hi"}
    assert reply(await manager.execute(cmd("again", "s1", principal="alice"))) == "echo #2: again"


async def test_no_session_id_runs_on_the_agent_level_instance(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager()
    result = await manager.execute(cmd("hi"))
    assert result.session_key == SessionKey(BOT)
    assert reply(await manager.execute(cmd("again"))) == "echo #2: again"


async def test_create_request_reaches_the_adapter(make_manager: Make, cmd: Cmd) -> None:
    agent = AgentDefinition(
        id="bot2", name="Bot", template_id="t", configuration={"k": 1}, metadata={"m": 2}
    )
    manager = make_manager(agents=[agent])
    await manager.execute(cmd("hi", "session-xyz-789", agent_id="bot2"))
    (instance,) = stub_factory(manager).instances
    request = instance.request
    assert request.id == "bot2#session-xyz-789"
    assert request.name == "Bot (Session: session-)"
    assert request.configuration == {"k": 1}
    assert request.metadata == {
        "m": 2,
        "session_id": "session-xyz-789",
        "base_agent_id": "bot2",
        "created_for_session": True,
    }


# -- configuration errors -----------------------------------------------------------------------


async def test_unknown_agent(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager()
    with pytest.raises(UnknownAgent) as info:
        await manager.execute(cmd("hi", "s1", agent_id="nobody"))
    assert info.value.agent_id == "nobody"
    assert isinstance(info.value, LookupError)
    assert BOT in info.value.available
    assert manager.stats().created == 0


def test_unknown_framework_lists_the_registered_ones(make_manager: Make) -> None:
    with pytest.raises(UnknownFramework) as info:
        make_manager(framework="no-such-framework")
    assert info.value.name == "no-such-framework"
    assert "stub" in info.value.available
    assert "'stub'" in str(info.value)
    assert "no-such-framework" in str(info.value)


def test_unknown_strategy_lists_the_registered_ones(make_manager: Make) -> None:
    with pytest.raises(UnknownStrategy) as info:
        make_manager(strategy="per-sesion")
    assert {"per_session", "shared"} <= set(info.value.available)
    assert "'per_session'" in str(info.value)
    assert "'shared'" in str(info.value)


@pytest.mark.parametrize(
    "overrides",
    [
        {"overlap": "drop"},
        {"clock": 12.0},
        {"lifecycle": {"idle_timeout": 5}},
        {"framework": object()},
        {"strategy": object()},
        {"framework_settings": {"invoke_latency": -1}},
        {"framework_settings": {"no_such_setting": 1}},
    ],
    ids=repr,
)
def test_bad_arguments_raise_configuration_error(
    make_manager: Make, overrides: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError):
        make_manager(**overrides)


def test_a_persistent_strategy_takes_the_default_store_and_needs_persistence(
    make_manager: Make, controlled: ControlledFramework
) -> None:
    class Persisted:
        name: ClassVar[str] = "persisted-test"
        persistent: ClassVar[bool] = True

        def context_key(self, agent_id: str, session_id: str | None, namespace: str | None):  # type: ignore[no-untyped-def]
            return SessionKey(agent_id, session_id, namespace)

    manager = make_manager(strategy=Persisted())  # the stub persists by snapshot
    assert repr(manager.store) == "SQLiteStore('.sessionful/sessions.db', synchronous='FULL')"
    with pytest.raises(ConfigurationError, match="declares no persistence"):
        make_manager(strategy=Persisted(), framework=controlled)
    with pytest.raises(ConfigurationError, match="store= applies to the persisted strategy"):
        make_manager(store="memory://")


async def test_strategy_and_framework_objects_are_accepted(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    class ByAgent:
        """Routes every session of an agent to one instance per principal (a custom policy)."""

        name: ClassVar[str] = "by-agent"
        persistent: ClassVar[bool] = False

        def context_key(
            self, agent_id: str, session_id: str | None, namespace: str | None
        ) -> SessionKey:
            return SessionKey(agent_id, "all", namespace)

    manager = make_manager(framework=controlled, strategy=ByAgent())
    assert manager.framework is controlled
    await manager.execute(cmd("a", "s1"))
    second = await manager.execute(cmd("b", "s2"))
    assert second.session_key == SessionKey(BOT, "all")
    assert second.instance_event == "reused"
    assert controlled.factory.create_calls == 1


async def test_register_agent_replaces_and_catalog_is_read_only(
    make_manager: Make, cmd: Cmd
) -> None:
    manager = make_manager()
    manager.register_agent(AgentDefinition(id=BOT, name="Renamed", template_id="echo"))
    assert manager.agents[BOT].name == "Renamed"
    with pytest.raises(TypeError):
        manager.agents["x"] = manager.agents[BOT]  # type: ignore[index]
    with pytest.raises(ConfigurationError):
        manager.register_agent({"id": "x"})  # type: ignore[arg-type]
    await manager.execute(cmd("hi", "s1"))
    assert stub_factory(manager).instances[0].request.name == "Renamed (Session: s1)"


# -- single-flight creation ---------------------------------------------------------------------


async def test_concurrent_first_turns_create_once(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework, recorder: Recorder
) -> None:
    gate = asyncio.Event()

    async def slow_create(request: Any) -> None:
        await gate.wait()

    controlled.factory.on_create = slow_create
    manager = make_manager(framework=controlled)
    tasks = [asyncio.create_task(manager.execute(cmd(f"m{i}", "s1"))) for i in range(50)]
    await settle()
    assert controlled.factory.create_calls == 1  # everyone else is waiting on that one
    gate.set()
    results = await asyncio.gather(*tasks)

    assert controlled.factory.create_calls == 1
    assert len(recorder.created) == 1
    assert Counter(r.instance_event for r in results) == {"created": 1, "reused": 49}
    assert results[0].instance_event == "created"  # the creator runs the first turn
    assert sorted(int(reply(r).split("#")[1]) for r in results) == list(range(1, 51))
    stats = manager.stats()
    assert (stats.created, stats.reused, stats.active) == (1, 49, 1)
    assert len(recorder.reused) == 49
    assert controlled.factory.max_in_flight[SessionKey(BOT, "s1")] == 1


async def test_concurrent_first_turns_on_the_stub_create_once(
    make_manager: Make, cmd: Cmd, recorder: Recorder
) -> None:
    manager = make_manager(framework_settings={"create_latency": 0.005})
    results = await asyncio.gather(*(manager.execute(cmd(f"m{i}", "s1")) for i in range(50)))
    assert len(stub_factory(manager).instances) == 1
    assert len(recorder.created) == 1
    assert Counter(r.instance_event for r in results) == {"created": 1, "reused": 49}
    assert {reply(r).split(":")[0] for r in results} == {f"echo #{n}" for n in range(1, 51)}


async def test_failed_create_is_seen_by_every_waiter_and_not_cached(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework, recorder: Recorder
) -> None:
    gate = asyncio.Event()
    boom = RuntimeError("framework exploded")

    async def failing_once(request: Any) -> None:
        await gate.wait()
        if controlled.factory.create_calls == 1:
            raise boom

    controlled.factory.on_create = failing_once
    manager = make_manager(framework=controlled)
    tasks = [asyncio.create_task(manager.execute(cmd(f"m{i}", "s1"))) for i in range(50)]
    await settle()
    gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    assert all(isinstance(o, AgentCreationFailed) for o in outcomes), outcomes
    error = outcomes[0]
    assert isinstance(error, AgentCreationFailed)
    assert error.__cause__ is boom
    assert error.key == SessionKey(BOT, "s1")
    assert controlled.factory.create_calls == 1
    assert manager.list_agents() == []
    assert manager.stats().failed == 1
    assert manager.stats().created == 0
    assert recorder.created == [] and recorder.turns == []

    again = await manager.execute(cmd("retry", "s1"))
    assert again.instance_event == "created"
    assert controlled.factory.create_calls == 2
    assert manager.stats().created == 1


async def test_stub_create_fault_reaches_every_waiter(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager(framework_settings={"create_latency": 0.005})
    stub_factory(manager).faults.create = 1
    outcomes = await asyncio.gather(
        *(manager.execute(cmd(f"m{i}", "s1")) for i in range(10)), return_exceptions=True
    )
    assert all(isinstance(o, AgentCreationFailed) for o in outcomes), outcomes
    assert all(
        isinstance(o, BaseException) and isinstance(o.__cause__, StubFault) for o in outcomes
    )
    assert reply(await manager.execute(cmd("ok", "s1"))) == "echo #1: ok"


async def test_agent_configured_to_fail_creation(make_manager: Make, cmd: Cmd) -> None:
    broken = AgentDefinition(
        id="broken", name="Broken", template_id="echo", configuration={"fail_create": True}
    )
    manager = make_manager(agents=[broken])
    for _ in range(2):  # not cached: the second call tries again and fails again
        with pytest.raises(AgentCreationFailed):
            await manager.execute(cmd("hi", "s1", agent_id="broken"))
    assert manager.stats().failed == 2
    assert manager.stats().active == 0


async def test_cancelled_creator_hands_creation_to_a_waiter(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    gate = asyncio.Event()

    async def slow_create(request: Any) -> None:
        await gate.wait()

    controlled.factory.on_create = slow_create
    manager = make_manager(framework=controlled)
    creator = asyncio.create_task(manager.execute(cmd("first", "s1")))
    await settle()
    waiters = [asyncio.create_task(manager.execute(cmd(f"w{i}", "s1"))) for i in range(3)]
    await settle()
    creator.cancel()
    await settle()
    assert controlled.factory.create_calls == 2  # one waiter took over
    gate.set()
    results = await asyncio.gather(*waiters)
    with pytest.raises(asyncio.CancelledError):
        await creator
    assert Counter(r.instance_event for r in results) == {"created": 1, "reused": 2}
    assert len(controlled.factory.created) == 1


# -- the turn gate ------------------------------------------------------------------------------


async def test_turns_of_one_session_never_overlap_on_the_stub(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager(framework_settings={"invoke_latency": 0.002})
    await asyncio.gather(*(manager.execute(cmd(f"m{i}", "s1")) for i in range(10)))
    (agent,) = stub_factory(manager).instances
    # Overlapping turns would interleave two user messages before their replies.
    history = agent.history
    assert len(history) == 20
    for n, (asked, answered) in enumerate(zip(history[::2], history[1::2], strict=True), start=1):
        assert asked.role == "user"
        assert answered.content == f"echo #{n}: {asked.content}"


async def test_turns_of_one_session_are_serialised(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    async def yield_a_lot(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        await settle(3)

    controlled.factory.on_invoke = yield_a_lot
    manager = make_manager(framework=controlled)
    await asyncio.gather(
        *(manager.execute(cmd(f"m{i}", f"s{i % 3}")) for i in range(30)),
    )
    factory = controlled.factory
    assert set(factory.max_in_flight.values()) == {1}
    assert len(factory.max_in_flight) == 3


async def test_different_sessions_run_concurrently(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    gate = asyncio.Event()

    async def hold(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        await gate.wait()

    controlled.factory.on_invoke = hold
    manager = make_manager(framework=controlled)
    tasks = [asyncio.create_task(manager.execute(cmd("x", s))) for s in ("s1", "s2")]
    await settle()
    assert sum(controlled.factory.in_flight.values()) == 2
    gate.set()
    await asyncio.gather(*tasks)


async def test_reject_policy_raises_session_busy(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    gate = asyncio.Event()

    async def hold(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        await gate.wait()

    manager = make_manager(framework=controlled, overlap="reject")
    await manager.execute(cmd("warm", "s1"))
    controlled.factory.on_invoke = hold
    running = asyncio.create_task(manager.execute(cmd("long", "s1")))
    await settle()
    with pytest.raises(SessionBusy) as info:
        await manager.execute(cmd("overlap", "s1"))
    assert info.value.key == SessionKey(BOT, "s1")
    controlled.factory.on_invoke = None
    assert reply(await manager.execute(cmd("other", "s2"))) == "reply #1"  # others unaffected
    gate.set()
    assert reply(await running) == "reply #2"
    assert reply(await manager.execute(cmd("after", "s1"))) == "reply #3"


async def test_enqueue_runs_waiting_turns_in_arrival_order(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    gate = asyncio.Event()
    order: list[str] = []

    async def record(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        if messages[0].text == "first":
            await gate.wait()
        order.append(messages[0].text)

    controlled.factory.on_invoke = record
    manager = make_manager(framework=controlled)
    tasks = [asyncio.create_task(manager.execute(cmd("first", "s1")))]
    await settle()
    for i in range(8):
        tasks.append(asyncio.create_task(manager.execute(cmd(f"t{i}", "s1"))))
        await settle()
    gate.set()
    await asyncio.gather(*tasks)
    assert order == ["first"] + [f"t{i}" for i in range(8)]


async def test_a_cancelled_waiter_does_not_block_the_gate(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    gate = asyncio.Event()

    async def hold(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        if messages[0].content == "first":
            await gate.wait()

    controlled.factory.on_invoke = hold
    manager = make_manager(framework=controlled)
    first = asyncio.create_task(manager.execute(cmd("first", "s1")))
    await settle()
    doomed = asyncio.create_task(manager.execute(cmd("doomed", "s1")))
    survivor = asyncio.create_task(manager.execute(cmd("survivor", "s1")))
    await settle()
    doomed.cancel()
    await settle()
    gate.set()
    assert reply(await first) == "reply #1"
    assert reply(await survivor) == "reply #2"
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert reply(await asyncio.wait_for(manager.execute(cmd("later", "s1")), 1)) == "reply #3"


@pytest.mark.parametrize("others_queued", [0, 1])
async def test_a_waiter_cancelled_as_the_gate_frees_still_cancels_cleanly(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework, others_queued: int
) -> None:
    """The owner leaves after the waiter's future was cancelled but before its task ran."""
    gate = asyncio.Event()

    async def hold(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        if messages[0].content == "first":
            await gate.wait()

    controlled.factory.on_invoke = hold
    manager = make_manager(framework=controlled)
    first = asyncio.create_task(manager.execute(cmd("first", "s1")))
    await settle()
    doomed = asyncio.create_task(manager.execute(cmd("doomed", "s1")))
    await settle()
    others = [asyncio.create_task(manager.execute(cmd("next", "s1"))) for _ in range(others_queued)]
    await settle()
    gate.set()  # the owner wakes first ...
    doomed.cancel()  # ... and leaves the gate before the cancelled waiter runs
    await settle()
    assert reply(await first) == "reply #1"
    with pytest.raises(asyncio.CancelledError):
        await doomed
    for task in others:
        assert reply(await task) == "reply #2"
    result = await asyncio.wait_for(manager.execute(cmd("later", "s1")), 1)
    assert reply(result) == f"reply #{2 + others_queued}"


async def test_a_failed_turn_releases_the_gate_and_keeps_the_instance(
    make_manager: Make, cmd: Cmd, recorder: Recorder
) -> None:
    manager = make_manager()
    await manager.execute(cmd("one", "s1"))
    with pytest.raises(StubFault):
        await manager.execute(cmd("please !fail", "s1"))
    assert manager.stats().failed == 1
    assert len(recorder.turns) == 1  # no turn_completed for the failed turn
    result = await asyncio.wait_for(manager.execute(cmd("two", "s1")), 1)
    assert reply(result) == "echo #2: two"  # the failed turn left no trace in the context
    assert result.instance_event == "reused"
    assert len(stub_factory(manager).instances) == 1


async def test_a_cancelled_turn_releases_the_gate(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    gate = asyncio.Event()

    async def hold(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        if messages[0].content == "stuck":
            await gate.wait()

    controlled.factory.on_invoke = hold
    manager = make_manager(framework=controlled)
    stuck = asyncio.create_task(manager.execute(cmd("stuck", "s1")))
    await settle()
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    result = await asyncio.wait_for(manager.execute(cmd("next", "s1")), 1)
    assert result.instance_event == "reused"


# -- ending and evicting ------------------------------------------------------------------------


async def test_end_session_waits_for_the_turn_in_flight(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework, recorder: Recorder
) -> None:
    gate = asyncio.Event()

    async def hold(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        if messages[0].content == "long":
            await gate.wait()

    controlled.factory.on_invoke = hold
    manager = make_manager(framework=controlled)
    await manager.execute(cmd("warm", "s1"))
    turn = asyncio.create_task(manager.execute(cmd("long", "s1")))
    await settle()
    ending = asyncio.create_task(manager.end_session(BOT, "s1"))
    queued = asyncio.create_task(manager.execute(cmd("after", "s1")))
    await settle()
    assert not ending.done()
    assert controlled.factory.destroyed == []
    gate.set()
    assert reply(await turn) == "reply #2"
    report = await ending
    assert report.unloaded and bool(report)
    assert report.key == SessionKey(BOT, "s1")
    assert controlled.factory.destroyed == [controlled.factory.created[0]]
    # The turn queued behind the end runs on a fresh instance.
    after = await queued
    assert (after.instance_event, reply(after)) == ("created", "reply #1")
    assert len(controlled.factory.created) == 2
    ((ended_key, ended_stats),) = recorder.ended
    assert ended_key == SessionKey(BOT, "s1")
    assert ended_stats is not None and ended_stats.turn_count == 2
    stats = manager.stats()
    assert (stats.ended, stats.evicted, stats.expired, stats.active) == (1, 0, 0, 1)


async def test_end_session_of_an_unloaded_session(make_manager: Make, recorder: Recorder) -> None:
    manager = make_manager()
    report = await manager.end_session(BOT, "never-ran")
    assert not report.unloaded and not bool(report)
    assert recorder.ended == [(SessionKey(BOT, "never-ran"), None)]
    assert manager.stats().ended == 0


async def test_end_session_under_shared_unloads_nothing(
    make_manager: Make, cmd: Cmd, recorder: Recorder
) -> None:
    manager = make_manager(strategy="shared")
    await manager.execute(cmd("hi", "s1"))
    report = await manager.end_session(BOT, "s1")
    assert not report.unloaded
    (agent,) = stub_factory(manager).instances
    assert not agent.destroyed
    assert manager.list_agents() == [SessionKey(BOT)]
    assert reply(await manager.execute(cmd("more", "s2"))) == "echo #2: more"
    # Ending the agent-level instance itself does unload it.
    assert (await manager.end_session(BOT)).unloaded
    assert bool(agent.destroyed)  # read again: mypy keeps `not agent.destroyed` across awaits
    assert manager.list_agents() == []


async def test_end_session_validates_ids(make_manager: Make) -> None:
    manager = make_manager()
    with pytest.raises(InvalidSessionKey):
        await manager.end_session(BOT, "")


async def test_end_session_with_a_namespace(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager()
    await manager.execute(cmd("hi", "s1", principal="alice"))
    await manager.execute(cmd("hi", "s1", principal="bob"))
    assert not (await manager.end_session(BOT, "s1")).unloaded
    assert (await manager.end_session(BOT, "s1", namespace="alice")).unloaded
    assert manager.list_agents() == [SessionKey(BOT, "s1", "bob")]


async def test_evict_unloads_and_the_session_starts_over(
    make_manager: Make, cmd: Cmd, recorder: Recorder
) -> None:
    manager = make_manager()
    await manager.execute(cmd("one", "s1"))
    await manager.execute(cmd("two", "s1"))
    key = SessionKey(BOT, "s1")
    assert await manager.evict(key) is True
    assert manager.get_agent(key) is None
    assert recorder.evicted == [(key, "evicted")]
    assert stub_factory(manager).instances[0].destroyed
    assert await manager.evict(key) is False
    again = await manager.execute(cmd("three", "s1"))
    assert (again.instance_event, reply(again)) == ("created", "echo #1: three")
    assert await manager.evict(str(key)) is True  # string form accepted
    assert manager.stats().evicted == 2


# -- inspection ---------------------------------------------------------------------------------


async def test_list_get_and_session_stats(make_manager: Make, cmd: Cmd, clock: FakeClock) -> None:
    manager = make_manager()
    for session in ("s1", "s2", "s3"):
        await manager.execute(cmd("hi", session))
        clock.advance(1)
    await manager.execute(cmd("again", "s1"))
    keys = [SessionKey(BOT, s) for s in ("s2", "s3", "s1")]
    assert manager.list_agents() == keys  # least recently used first

    instance = manager.get_agent(keys[0])
    assert isinstance(instance, StubAgent)
    assert instance.key == keys[0]
    assert manager.get_agent(f"{BOT}#s2") is instance
    assert manager.get_agent(SessionKey(BOT, "nope")) is None
    assert manager.list_agents() == keys  # looking is not activity

    stats = manager.session_stats(f"{BOT}#s1")
    assert stats is not None
    assert (stats.turn_count, stats.message_count) == (2, 4)
    assert manager.session_stats(SessionKey(BOT, "nope")) is None
    with pytest.raises(InvalidSessionKey):
        manager.get_agent("a#b#c")


async def test_counters(make_manager: Make, cmd: Cmd, clock: FakeClock) -> None:
    manager = make_manager(lifecycle=LifecyclePolicy(idle_timeout=10, sweep_interval=None))
    await manager.execute(cmd("a", "s1"))
    await manager.execute(cmd("b", "s1"))
    await manager.execute(cmd("c", "s2"))
    await manager.execute(cmd("d", "s3"))
    await manager.execute(cmd("e", "s4"))
    with pytest.raises(StubFault):
        await manager.execute(cmd("!fail", "s1"))
    await manager.evict(SessionKey(BOT, "s2"))
    await manager.end_session(BOT, "s3")
    clock.advance(5)
    await manager.execute(cmd("f", "s1"))
    clock.advance(6)
    report = await manager.cleanup_inactive()
    assert report.expired_idle == [SessionKey(BOT, "s4")]
    stats = manager.stats()
    assert stats.model_dump() == {
        "created": 4,
        "reused": 3,
        "restored": 0,
        "evicted": 1,
        "expired": 1,
        "ended": 1,
        "failed": 1,
        "active": 1,
    }


async def test_stats_timestamps_come_from_the_injected_clock(
    make_manager: Make, cmd: Cmd, clock: FakeClock, recorder: Recorder
) -> None:
    clock.now = 500.0
    manager = make_manager()
    first = await manager.execute(cmd("hi", "s1"))
    assert (first.stats.created_at, first.stats.last_activity, first.stats.duration) == (
        500.0,
        500.0,
        0.0,
    )
    assert first.stats.message_count == 2
    clock.advance(42.5)
    second = await manager.execute(cmd("again", "s1"))
    assert second.stats.created_at == 500.0
    assert second.stats.last_activity == 542.5
    assert second.stats.duration == 42.5
    assert (second.stats.turn_count, second.stats.message_count) == (2, 4)
    assert recorder.turns[-1]["stats"] == second.stats


async def test_response_time_mean_and_p95(
    make_manager: Make, cmd: Cmd, timed_framework: Timed, recorder: Recorder
) -> None:
    durations = [float(d) for d in range(20, 0, -1)]  # 20, 19, ..., 1 seconds
    manager = make_manager(framework=timed_framework(durations))
    created_stats: list[Any] = []

    class Spy:
        from sessionful import hookimpl

        @hookimpl
        def session_created(self, stats: Any) -> None:
            created_stats.append(stats)

    manager.plugins.register(Spy())
    results = [await manager.execute(cmd(f"m{i}", "s1")) for i in range(20)]
    assert created_stats[0].response_time_mean is None  # before the first turn
    assert created_stats[0].response_time_p95 is None
    assert [t["duration"] for t in recorder.turns] == durations
    assert results[0].stats.response_time_mean == 20.0
    assert results[0].stats.response_time_p95 == 20.0
    final = results[-1].stats
    assert final.response_time_mean == pytest.approx(10.5)
    assert final.response_time_p95 == 19.0  # nearest rank: the 19th of 20 sorted values
    assert final.duration == pytest.approx(sum(durations))


async def test_p95_covers_only_the_latest_turns(
    make_manager: Make, cmd: Cmd, timed_framework: Timed
) -> None:
    from sessionful._registry import RESPONSE_WINDOW

    durations = [1000.0] * 10 + [float(d) for d in range(1, RESPONSE_WINDOW + 1)]
    manager = make_manager(framework=timed_framework(durations))
    for i in range(len(durations)):
        result = await manager.execute(cmd(f"m{i}", "s1"))
    stats = result.stats
    # The ten slow turns fell out of the window; the mean still counts every turn.
    assert stats.response_time_p95 == float(-(-95 * RESPONSE_WINDOW // 100))
    assert stats.response_time_mean == pytest.approx(sum(durations) / len(durations))


# -- hooks and async with -----------------------------------------------------------------------


async def test_hooks_fire_in_order_with_the_event(
    make_manager: Make, cmd: Cmd, recorder: Recorder
) -> None:
    manager = make_manager()
    key = SessionKey(BOT, "s1")
    first = await manager.execute(cmd("a", "s1"))
    await manager.execute(cmd("b", "s1"))
    await manager.end_session(BOT, "s1")
    assert recorder.events == [
        ("created", key),
        ("turn", key),
        ("reused", key),
        ("turn", key),
        ("ended", key),
    ]
    assert [t["event"] for t in recorder.turns] == ["created", "reused"]
    assert recorder.turns[0]["messages"] == first.messages


async def test_async_with_destroys_every_instance(
    make_manager: Make, cmd: Cmd, recorder: Recorder
) -> None:
    manager = make_manager(lifecycle=LifecyclePolicy(sweep_interval=3600))
    async with manager as entered:
        assert entered is manager
        assert manager._sweeper is not None
        for session in ("s1", "s2", "s3"):
            await manager.execute(cmd("hi", session))
        assert manager.stats().active == 3
    instances = stub_factory(manager).instances
    assert len(instances) == 3
    assert all(agent.destroyed for agent in instances)
    assert manager.stats().active == 0
    assert manager.list_agents() == []
    assert sorted(reason for _, reason in recorder.evicted) == ["shutdown"] * 3
    assert manager._sweeper is None


async def test_async_with_destroys_even_when_the_body_raises(make_manager: Make, cmd: Cmd) -> None:
    manager = make_manager()
    with pytest.raises(KeyError):
        async with manager:
            await manager.execute(cmd("hi", "s1"))
            raise KeyError("boom")
    assert all(agent.destroyed for agent in stub_factory(manager).instances)


async def test_aclose_lets_the_turn_in_flight_finish(
    make_manager: Make, cmd: Cmd, controlled: ControlledFramework
) -> None:
    gate = asyncio.Event()

    async def hold(agent: ControlledAgent, messages: Sequence[ChatMessage]) -> None:
        await gate.wait()

    controlled.factory.on_invoke = hold
    manager = make_manager(framework=controlled)
    turn = asyncio.create_task(manager.execute(cmd("hi", "s1")))
    await settle()
    closing = asyncio.create_task(manager.aclose())
    await settle()
    assert not closing.done()
    assert controlled.factory.destroyed == []
    gate.set()
    assert reply(await turn) == "reply #1"
    await closing
    assert controlled.factory.destroyed == controlled.factory.created
