"""A Hypothesis state machine driving the real SessionManager beside a plain-dict model.

The manager runs on the stub adapter, under the ``per_session`` and the ``shared`` strategy, with
a fake clock and a small :class:`LifecyclePolicy` (``max_active`` 2-4, idle 10 s, lifetime 30 s,
no sweeper). Each sequential rule (execute, a stream read to its end or abandoned, a sweep, an
end, an eviction, ``aclose``, a clock move, an injected fault) is predicted exactly by
:class:`Model`: the reply, the instance event, the error, every lifecycle hook in order, every
counter. The concurrent rule runs several turns, ends, evictions, sweeps and closes at once with
``asyncio.gather``; its interleaving is deterministic (the adapter yields with
``asyncio.sleep(0)``, never a timer) but not worth predicting, so that rule checks what must hold
whatever the order, then re-reads the model from the manager.

After every step the invariants compare the manager with the model: the live keys in LRU order,
each instance's whole conversation (per-session isolation, shared accumulation), the per-session
stats, the counters, ``len(list_agents()) <= max_active`` (also at every adapter yield),
``created - destroyed == active``, and that no instance was used after ``destroy_agent``, ran two
turns at once, or was destroyed twice. A step that deadlocks fails instead of hanging.

``SESSIONFUL_SOAK=1`` (``make soak``) runs 2,000 examples of 60 steps per strategy.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sessionful import (
    AgentCreateRequest,
    AgentCreationFailed,
    AgentDefinition,
    AgentInstance,
    CapacityExceeded,
    ChatMessage,
    CleanupReport,
    EndReport,
    ExecuteAgentCommand,
    ExecutionResult,
    LifecyclePolicy,
    SessionBusy,
    SessionKey,
    SessionManager,
    TurnOutput,
    TurnRequest,
    UnloadReason,
)
from sessionful._plugins import LOAD_PLUGINS_ENV
from sessionful_stub import (
    FAIL_MARKER,
    StubAgent,
    StubFactory,
    StubFault,
    StubFramework,
    StubMisuse,
    StubSettings,
)
from support import FakeClock, Recorder

SOAK = os.environ.get("SESSIONFUL_SOAK") == "1"

AGENTS = ("a1", "a2", "a3", "a4")
SESSIONS = (None, "s1", "s2")
IDLE_TIMEOUT = 10.0
MAX_LIFETIME = 30.0
# Multiples of 0.5 keep every clock reading exact, so `<=` at a boundary means the same to the
# model and to the manager; 9.5, 10 and 30 sit on either side of the limits.
ADVANCES = (0.5, 1.0, 5.0, 9.5, 10.0, 20.0, 30.0)
STALL_LIMIT = 10_000
ECHO = re.compile(r"echo #(\d+): (.*)", re.DOTALL)

T = TypeVar("T")


# -- the system under test's surroundings -------------------------------------------------------


@dataclass
class Pauses:
    """How many times each adapter call yields to the event loop, and what happens at a yield."""

    create: int = 0
    invoke: int = 0
    destroy: int = 0
    tick: float = 0.0
    """Seconds the clock moves at each yield (only inside the concurrent rule)."""
    clock: FakeClock = field(default_factory=FakeClock)
    probe: Callable[[], None] = lambda: None
    """Called at each yield: checks that must hold mid-flight too."""

    async def pause(self, times: int) -> None:
        for _ in range(times):
            self.probe()
            self.clock.now += self.tick
            await asyncio.sleep(0)  # one loop iteration, no timer: the interleaving is repeatable


class SteppedStubAgent(StubAgent):
    """The stub agent, yielding before its turn so concurrent turns interleave."""

    _factory: SteppedStubFactory

    in_turn = False

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        factory = self._factory
        try:
            if self.destroyed:
                raise StubMisuse(f"instance {self.key} invoked after destroy_agent")
            if self.in_turn:
                raise StubMisuse(f"two turns at once on {self.key}")
            self.in_turn = True
            try:
                await factory.pauses.pause(factory.pauses.invoke)
                if self.destroyed:
                    raise StubMisuse(f"instance {self.key} destroyed during a turn")
                return await super().ainvoke(request)
            finally:
                self.in_turn = False
        except StubMisuse as exc:
            factory.misuse.append(exc)
            raise


class SteppedStubFactory(StubFactory):
    """The stub factory, yielding inside create and destroy, and keeping every misuse it saw.

    The manager logs and swallows a failing ``destroy_agent``, so a double destroy would go
    unnoticed without ``misuse``.
    """

    def __init__(self, settings: StubSettings, pauses: Pauses) -> None:
        super().__init__(settings)
        self.pauses = pauses
        self.misuse: list[StubMisuse] = []

    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        await self.pauses.pause(self.pauses.create)
        agent = await super().create_agent(request)
        # The same object with a yielding ainvoke: StubFactory.create_agent stays the one source.
        agent.__class__ = SteppedStubAgent
        return agent

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        try:
            await super().destroy_agent(instance, reason)
        except StubMisuse as exc:
            self.misuse.append(exc)
            raise
        await self.pauses.pause(self.pauses.destroy)


class SteppedStubFramework(StubFramework):
    def __init__(self, pauses: Pauses) -> None:
        self.pauses = pauses

    def create_agent_factory(self, settings: Mapping[str, Any]) -> SteppedStubFactory:
        return SteppedStubFactory(StubSettings.model_validate(dict(settings)), self.pauses)


def user_texts(instance: StubAgent) -> list[str]:
    return [m.text for m in instance.history if m.role == "user"]


# -- the model ----------------------------------------------------------------------------------


@dataclass
class Live:
    """What the model knows of one live instance."""

    texts: list[str]
    """Every user message the instance has taken, in order: its whole conversation."""
    turns: int
    messages: int
    created_at: float
    last_activity: float
    born: int
    """Its index in ``factory.instances``: creation order, which lifetime expiry follows."""
    instance: StubAgent | None = None
    """The adapter's object, attached once the manager has made it."""


@dataclass
class Turn:
    """One execute, as sent."""

    agent: str
    session: str | None
    texts: list[str]
    """Its user messages; the last is the one the reply echoes."""
    extra: str
    """``"none"``, ``"system"`` (a system message first) or ``"user"`` (two user messages)."""
    marker: bool

    def command(self) -> ExecuteAgentCommand:
        messages = [ChatMessage.user(text) for text in self.texts]
        if self.extra == "system":
            messages.insert(0, ChatMessage.system("be brief"))
        return ExecuteAgentCommand(agent_id=self.agent, session_id=self.session, messages=messages)

    @property
    def message_count(self) -> int:
        return len(self.texts) + (self.extra == "system")


@dataclass
class Expected:
    events: list[tuple[Any, ...]] = field(default_factory=list)
    error: type[BaseException] | None = None
    instance_event: str | None = None
    reply: str | None = None
    created: bool = False


def expiry(policy: LifecyclePolicy, live: Live | None, now: float) -> str | None:
    """Why an instance is past the policy at ``now`` (idle first), or None."""
    if live is None:
        return None
    if policy.idle_timeout is not None and now - live.last_activity >= policy.idle_timeout:
        return "idle"
    if policy.max_lifetime is not None and now - live.created_at >= policy.max_lifetime:
        return "lifetime"
    return None


class Model:
    """The manager as plain dicts: live instances in LRU order, counters, pending faults."""

    def __init__(self, policy: LifecyclePolicy, shared: bool) -> None:
        self.policy = policy
        self.shared = shared
        self.live: dict[SessionKey, Live] = {}  # least recently used first
        self.counts = dict.fromkeys(
            ("created", "reused", "restored", "evicted", "expired", "ended", "failed"), 0
        )
        self.faults = {"create": 0, "invoke": 0, "destroy": 0}
        self.sent: dict[str, SessionKey] = {}
        """Each user text sent so far -> the per-session key it was sent to."""

    def key(self, agent: str, session: str | None) -> SessionKey:
        return SessionKey(agent, None if self.shared else session)

    def take(self, kind: str) -> bool:
        if self.faults[kind]:
            self.faults[kind] -= 1
            return True
        return False

    def destroy(self, key: SessionKey, reason: str, events: list[tuple[Any, ...]]) -> bool:
        """Unload ``key``; True if its destroy_agent raised (it is unloaded all the same)."""
        del self.live[key]
        counter = {"idle": "expired", "lifetime": "expired", "ended": "ended"}.get(reason)
        self.counts[counter or "evicted"] += 1
        failed = self.take("destroy")
        events.append(("ended", key, True) if reason == "ended" else ("evicted", key, reason))
        return failed

    def touch(self, key: SessionKey) -> None:
        self.live[key] = self.live.pop(key)

    def execute(self, turn: Turn, now: float, *, abandon: bool = False) -> Expected:
        """A turn; ``abandon``: a stream the caller stops reading before its end."""
        key = self.key(turn.agent, turn.session)
        for text in turn.texts:
            self.sent[text] = SessionKey(turn.agent, turn.session)
        out = Expected()
        reason = self.expiry(key, now)
        if reason is not None:  # past its policy though not swept: never reused
            self.destroy(key, reason, out.events)
        if key in self.live:
            self.counts["reused"] += 1
            out.events.append(("reused", key))
            out.instance_event = "reused"
        else:
            limit = self.policy.max_active
            # Sequential turns never leave an instance mid-turn, so there is always a victim.
            while limit is not None and len(self.live) + 1 > limit:
                self.destroy(next(iter(self.live)), "capacity", out.events)
            if self.take("create"):
                self.counts["failed"] += 1
                out.error = AgentCreationFailed
                return out
            self.live[key] = Live([], 0, 0, now, now, born=self.counts["created"])
            self.counts["created"] += 1
            out.events.append(("created", key))
            out.instance_event = "created"
            out.created = True
        # The stub consumes an invoke fault before it looks for the marker.
        if self.take("invoke") or turn.marker:
            self.counts["failed"] += 1
            out.error = StubFault  # the instance stays live, unchanged, not even touched
            return out
        live = self.live[key]
        out.reply = f"echo #{len(live.texts) + len(turn.texts)}: {turn.texts[-1]}"
        if abandon:
            return out  # an abandoned stream changes nothing and counts nothing
        live.texts.extend(turn.texts)
        live.turns += 1
        live.messages += turn.message_count + 1
        live.last_activity = now
        self.touch(key)
        out.events.append(("turn", key, out.instance_event))
        return out

    def expiry(self, key: SessionKey, now: float) -> str | None:
        return expiry(self.policy, self.live.get(key), now)

    def expired(self, now: float) -> tuple[list[SessionKey], list[SessionKey]]:
        """(idle, lifetime) victims by a full scan: no trust in the index's ordering."""
        idle: list[SessionKey] = []
        lifetime: list[SessionKey] = []
        if self.policy.idle_timeout is not None:
            cutoff = now - self.policy.idle_timeout
            idle = [k for k, e in self.live.items() if e.last_activity <= cutoff]
        if self.policy.max_lifetime is not None:
            cutoff = now - self.policy.max_lifetime
            by_birth = sorted(self.live.items(), key=lambda item: item[1].born)
            lifetime = [k for k, e in by_birth if e.created_at <= cutoff and k not in idle]
        return idle, lifetime

    def cleanup(self, now: float) -> tuple[CleanupReport, list[tuple[Any, ...]]]:
        idle, lifetime = self.expired(now)
        events: list[tuple[Any, ...]] = []
        failed: dict[str, str] = {}
        for keys, reason in ((idle, "idle"), (lifetime, "lifetime")):
            for key in keys:
                if self.destroy(key, reason, events):
                    failed[str(key)] = "?"
        report = CleanupReport(expired_idle=idle, expired_lifetime=lifetime, failed=failed)
        return report, events

    def end(self, agent: str, session: str | None) -> tuple[EndReport, list[tuple[Any, ...]]]:
        key = self.key(agent, session)
        events: list[tuple[Any, ...]] = []
        if self.shared and session is not None:
            return EndReport(key=key, unloaded=False), events  # no instance of its own
        if key in self.live:
            self.destroy(key, "ended", events)
            return EndReport(key=key, unloaded=True), events
        events.append(("ended", key, False))
        return EndReport(key=key, unloaded=False), events

    def evict(self, key: SessionKey) -> tuple[bool, list[tuple[Any, ...]]]:
        events: list[tuple[Any, ...]] = []
        if key not in self.live:
            return False, events
        self.destroy(key, "evicted", events)
        return True, events

    def close(self) -> list[tuple[Any, ...]]:
        events: list[tuple[Any, ...]] = []
        for key in list(self.live):
            self.destroy(key, "shutdown", events)
        return events


# -- the machine --------------------------------------------------------------------------------

# Half the draws come from a hot corner (two agents, one session), so sessions get reused and
# conversations grow; the rest spread over every key, so capacity and expiry have work to do.
agents = st.one_of(st.sampled_from(AGENTS[:2]), st.sampled_from(AGENTS))
sessions = st.one_of(st.just("s1"), st.sampled_from(SESSIONS))
markers = st.sampled_from((False,) * 5 + (True,))
extras = st.sampled_from(("none", "none", "system", "user"))


class SessionMachine(RuleBasedStateMachine):
    """Drives one SessionManager; subclasses pick the strategy."""

    STRATEGY: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.manager: SessionManager | None = None
        self.turns_sent = 0

    @property
    def live(self) -> SessionManager:
        """The manager (made by the ``setup`` rule)."""
        assert self.manager is not None, "no manager before setup"
        return self.manager

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the machine's loop; fail, rather than hang, if it stalls."""

        async def main() -> T:
            task = asyncio.ensure_future(awaitable)
            # Every wait here ends within a few loop iterations (the adapter only yields with
            # sleep(0)), so a task still pending after STALL_LIMIT of them is deadlocked.
            for _ in range(STALL_LIMIT):
                if task.done():
                    return task.result()
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.wait([task])
            raise AssertionError(f"stalled: still waiting after {STALL_LIMIT} loop iterations")

        return self.loop.run_until_complete(main())

    @initialize(
        max_active=st.integers(2, 4),
        idle_timeout=st.sampled_from((IDLE_TIMEOUT, IDLE_TIMEOUT, None)),
        max_lifetime=st.sampled_from((MAX_LIFETIME, MAX_LIFETIME, None)),
        overlap=st.sampled_from(("enqueue", "enqueue", "reject")),
        pauses=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
    )
    def start(
        self,
        max_active: int,
        idle_timeout: float | None,
        max_lifetime: float | None,
        overlap: str,
        pauses: tuple[int, int, int],
    ) -> None:
        self.policy = LifecyclePolicy(
            idle_timeout=idle_timeout,
            max_lifetime=max_lifetime,
            max_active=max_active,
            sweep_interval=None,
        )
        self.clock = FakeClock()
        self.pauses = Pauses(*pauses, clock=self.clock, probe=self.probe)
        self.recorder = Recorder()
        # The framework is passed as an object, so skip the entry-point scan: it costs 25 ms a
        # manager, and Hypothesis builds thousands while shrinking.
        saved = os.environ.get(LOAD_PLUGINS_ENV)
        os.environ[LOAD_PLUGINS_ENV] = ""
        try:
            self.manager = SessionManager(
                framework=SteppedStubFramework(self.pauses),
                strategy=self.STRATEGY,
                lifecycle=self.policy,
                clock=self.clock,
                overlap=overlap,  # type: ignore[arg-type]
                plugins=[self.recorder],
                agents=[AgentDefinition(id=a, name=a, template_id="echo") for a in AGENTS],
            )
        finally:
            if saved is None:
                del os.environ[LOAD_PLUGINS_ENV]
            else:
                os.environ[LOAD_PLUGINS_ENV] = saved
        factory = self.manager._factory
        assert isinstance(factory, SteppedStubFactory)
        self.factory = factory
        self.model = Model(self.policy, shared=self.STRATEGY == "shared")
        self.mid_flight: list[str] = []

    def probe(self) -> None:
        """At every adapter yield: the capacity limit holds mid-flight too."""
        active = len(self.manager.list_agents()) if self.manager else 0
        if self.policy.max_active is not None and active > self.policy.max_active:
            self.mid_flight.append(f"{active} live instances, max_active {self.policy.max_active}")

    def new_events(self, since: int) -> list[tuple[Any, ...]]:
        return self.recorder.trace[since:]

    def turn(self, agent: str, session: str | None, extra: str, marker: bool) -> Turn:
        self.turns_sent += 1
        text = f"t{self.turns_sent} {agent}/{session}"
        if marker:
            text += f" {FAIL_MARKER}"
        texts = [f"{text} (first)", text] if extra == "user" else [text]
        return Turn(agent, session, texts, extra, marker)

    # -- sequential rules: predicted exactly ----------------------------------------------------

    def attempt(
        self, turn: Turn, awaitable: Awaitable[T], *, abandon: bool = False
    ) -> tuple[Expected, T | None]:
        """Run one turn beside the model; check what every turn shares. ``None``: it failed,
        as the model said it would."""
        since, made = len(self.recorder.trace), len(self.factory.instances)
        expected = self.model.execute(turn, self.clock.now, abandon=abandon)
        try:
            outcome: T | None = self.run(awaitable)
            error: BaseException | None = None
        except Exception as exc:
            outcome, error = None, exc
        assert not isinstance(error, StubMisuse), error
        key = self.model.key(turn.agent, turn.session)
        if expected.created:
            assert len(self.factory.instances) == made + 1
            instance = self.factory.instances[-1]
            assert instance.key == key
            self.model.live[key].instance = instance
        else:
            assert len(self.factory.instances) == made
        assert self.new_events(since) == expected.events
        event(f"turn: {expected.error.__name__ if expected.error else expected.instance_event}")
        for e in expected.events:
            if e[0] == "evicted":
                event(f"turn: evicted an instance for {e[2]}")
        if expected.error is not None:
            assert type(error) is expected.error, (expected.error, error)
            if expected.error is AgentCreationFailed:
                assert isinstance(error.__cause__, StubFault)
            return expected, None
        assert error is None, error
        return expected, outcome

    @rule(agent=agents, session=sessions, extra=extras, marker=markers)
    def execute(self, agent: str, session: str | None, extra: str, marker: bool) -> None:
        turn = self.turn(agent, session, extra, marker)
        expected, result = self.attempt(turn, self.live.execute(turn.command()))
        if result is None:
            return
        assert result.session_key == self.model.key(agent, session)
        assert result.instance_event == expected.instance_event
        assert [m.content for m in result.messages] == [expected.reply]
        live = self.model.live[result.session_key]
        assert (result.stats.turn_count, result.stats.message_count) == (live.turns, live.messages)

    @rule(
        agent=agents,
        session=sessions,
        extra=extras,
        marker=markers,
        take=st.sampled_from((None, None, 1, 2)),
    )
    def stream(
        self, agent: str, session: str | None, extra: str, marker: bool, take: int | None
    ) -> None:
        """A streamed turn, read to its end, or abandoned after ``take`` chunks (which must
        leave the session as it was)."""
        turn = self.turn(agent, session, extra, marker)

        async def read() -> list[str]:
            chunks: list[str] = []
            async with aclosing(self.live.stream(turn.command())) as stream:
                async for chunk in stream:
                    if isinstance(chunk, ExecutionResult):
                        assert "".join(chunks) == chunk.messages[-1].text
                        continue
                    assert isinstance(chunk, ChatMessage), chunk  # the stub sends no events
                    chunks.append(chunk.text)
                    if len(chunks) == take:
                        break
            return chunks

        expected, chunks = self.attempt(turn, read(), abandon=take is not None)
        if chunks is None:
            return
        assert expected.reply is not None
        if take is None:
            assert "".join(chunks) == expected.reply
        else:
            assert len(chunks) == take
            assert expected.reply.startswith("".join(chunks))

    @rule(data=st.data(), extra=extras, marker=markers)
    def continue_conversation(self, data: st.DataObject, extra: str, marker: bool) -> None:
        """A turn on a live instance (under ``shared``, from any session of its agent)."""
        if not self.model.live:
            return
        key = data.draw(st.sampled_from(list(self.model.live)), "live key")
        session = data.draw(sessions, "session") if self.model.shared else key.session_id
        self.execute(key.agent_id, session, extra, marker)

    @rule(seconds=st.sampled_from(ADVANCES))
    def advance_clock(self, seconds: float) -> None:
        self.clock.now += seconds

    @rule()
    def cleanup_inactive(self) -> None:
        since = len(self.recorder.trace)
        expected, events = self.model.cleanup(self.clock.now)
        report = self.run(self.live.cleanup_inactive())
        assert self.new_events(since) == events
        assert report.expired_idle == expected.expired_idle
        assert report.expired_lifetime == expected.expired_lifetime
        assert report.skipped_busy == 0
        assert set(report.failed) == set(expected.failed)
        for name, hit in (
            ("idle", report.expired_idle),
            ("lifetime", report.expired_lifetime),
            ("failed destroy", report.failed),
        ):
            if hit:
                event(f"cleanup: {name}")

    @rule(agent=agents, session=sessions)
    def end_session(self, agent: str, session: str | None) -> None:
        since = len(self.recorder.trace)
        expected, events = self.model.end(agent, session)
        report = self.run(self.live.end_session(agent, session))
        assert self.new_events(since) == events
        assert report == expected

    @rule(agent=agents, session=sessions)
    def evict(self, agent: str, session: str | None) -> None:
        key = self.model.key(agent, session)
        since = len(self.recorder.trace)
        expected, events = self.model.evict(key)
        assert self.run(self.live.evict(key)) is expected
        assert self.new_events(since) == events

    @rule()
    def close(self) -> None:
        """``aclose()`` (what ``async with`` does on exit); the manager stays usable."""
        since = len(self.recorder.trace)
        events = self.model.close()
        self.run(self.live.aclose())
        assert self.new_events(since) == events

    @rule(kind=st.sampled_from(("create", "invoke", "destroy")), count=st.integers(1, 2))
    def inject_fault(self, kind: str, count: int) -> None:
        setattr(self.factory.faults, kind, getattr(self.factory.faults, kind) + count)
        self.model.faults[kind] += count

    # -- the concurrent rule: checked for what holds in any order, then re-read -----------------

    @rule(data=st.data(), tick=st.sampled_from((0.0, 0.0, 0.5, 5.0, IDLE_TIMEOUT)))
    def concurrently(self, data: st.DataObject, tick: float) -> None:
        """Run 2-6 operations at once: turns on the same and on different sessions, mixed with
        the odd end_session, evict, cleanup_inactive or aclose."""
        pairs = st.tuples(agents, sessions)
        if self.model.live:  # often a live session: it may be mid-expiry, or at capacity
            live = [(key.agent_id, key.session_id) for key in self.model.live]
            pairs = st.one_of(pairs, st.sampled_from(live))
        pool = data.draw(st.lists(pairs, min_size=1, max_size=3), "keys")
        on_pool = st.tuples(st.just("execute"), st.sampled_from(pool), extras, markers)
        anywhere = st.tuples(st.just("execute"), st.tuples(agents, sessions), extras, markers)
        unload = st.tuples(st.sampled_from(("end", "end", "evict")), st.sampled_from(pool))
        sweep = st.tuples(st.sampled_from(("cleanup", "cleanup", "cleanup", "close")))
        op = st.one_of(on_pool, on_pool, on_pool, on_pool, anywhere, anywhere, unload, sweep)
        ops = data.draw(st.lists(op, min_size=2, max_size=6), "ops")
        Batch(self, ops, tick).run()

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def manager_matches_model(self) -> None:
        manager, model, factory = self.manager, self.model, self.factory
        assert manager is not None
        keys = manager.list_agents()
        if self.policy.max_active is not None:
            assert len(keys) <= self.policy.max_active
        assert not self.mid_flight, self.mid_flight
        assert keys == list(model.live), "live keys or their LRU order differ from the model"
        stats = manager.stats()
        assert stats.model_dump() == {**model.counts, "active": len(model.live)}
        live_ids = set()
        for key, want in model.live.items():
            instance = manager.get_agent(key)
            assert instance is want.instance
            assert isinstance(instance, StubAgent)
            live_ids.add(id(instance))
            assert instance.key == key
            assert not instance.destroyed
            # The whole conversation: isolation (per_session) or accumulation (shared).
            assert user_texts(instance) == want.texts
            assert instance.user_messages == len(want.texts)
            for text in want.texts:
                sent_to = model.sent[text]
                if model.shared:
                    assert sent_to.agent_id == key.agent_id
                else:
                    assert sent_to == key
            got = manager.session_stats(key)
            assert got is not None
            assert (got.turn_count, got.message_count) == (want.turns, want.messages)
            assert (got.created_at, got.last_activity) == (want.created_at, want.last_activity)
            assert got.duration == got.last_activity - got.created_at
            assert (got.response_time_mean is None) == (want.turns == 0)
        destroyed = 0
        for instance in factory.instances:
            if id(instance) not in live_ids:
                assert instance.destroyed, f"{instance.key} is neither live nor destroyed"
            destroyed += instance.destroyed
        assert len(factory.instances) == stats.created
        assert len(factory.instances) - destroyed == stats.active == len(keys)
        assert not factory.misuse, factory.misuse
        faults = factory.faults
        assert (faults.create, faults.invoke, faults.destroy) == tuple(model.faults.values())

    def teardown(self) -> None:
        # After a failed step, only release resources: the step's error is the report.
        failing = sys.exc_info()[1] is not None
        try:
            if self.manager is not None and failing:
                with suppress(Exception):
                    self.run(self.live.aclose())
            elif self.manager is not None:
                since = len(self.recorder.trace)
                expected = self.model.close()
                self.run(self.live.aclose())
                assert self.new_events(since) == expected
                assert self.manager.stats().model_dump() == {**self.model.counts, "active": 0}
                assert all(instance.destroyed for instance in self.factory.instances)
                assert not self.factory.misuse, self.factory.misuse
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


class Batch:
    """One run of the concurrent rule: the operations, their outcomes, and the checks."""

    def __init__(self, machine: SessionMachine, ops: list[tuple[Any, ...]], tick: float) -> None:
        self.machine = machine
        self.model = machine.model
        self.ops = ops
        self.tick = tick
        self.turns: dict[int, Turn] = {}

    def target(self, op: tuple[Any, ...]) -> SessionKey | None:
        """The instance an operation waits for, if any (ending a session under ``shared``
        touches none)."""
        if op[0] == "execute":
            return self.model.key(*op[1])
        if op[0] == "evict" or (op[0] == "end" and not (self.model.shared and op[1][1])):
            return self.model.key(*op[1])
        return None

    def run(self) -> None:
        machine, model, manager = self.machine, self.model, self.machine.manager
        assert manager is not None
        factory, recorder = machine.factory, machine.recorder
        before = {key: replace(live, texts=list(live.texts)) for key, live in model.live.items()}
        counts, faults = dict(model.counts), dict(model.faults)
        made, since, t0 = len(factory.instances), len(recorder.trace), machine.clock.now

        calls: list[Awaitable[Any]] = []
        for i, op in enumerate(self.ops):
            if op[0] == "execute":
                (agent, session), extra, marker = op[1], op[2], op[3]
                turn = machine.turn(agent, session, extra, marker)
                self.turns[i] = turn
                for text in turn.texts:
                    model.sent[text] = SessionKey(agent, session)
                calls.append(manager.execute(turn.command()))
            elif op[0] == "end":
                calls.append(manager.end_session(*op[1]))
            elif op[0] == "evict":
                calls.append(manager.evict(model.key(*op[1])))
            elif op[0] == "close":
                calls.append(manager.aclose())
            else:
                calls.append(manager.cleanup_inactive())

        async def together() -> list[Any]:
            return await asyncio.gather(*calls, return_exceptions=True)

        machine.pauses.tick = self.tick
        try:
            outcomes = machine.run(together())
        finally:
            machine.pauses.tick = 0.0
        t1 = machine.clock.now
        events = recorder.trace[since:]
        new = factory.instances[made:]
        new_ids = {id(instance) for instance in new}

        # Which operations may touch one instance: the ground for SessionBusy and capacity.
        targets = Counter(key for key in map(self.target, self.ops) if key is not None)

        for outcome in outcomes:
            event(f"batch outcome: {type(outcome).__name__}")
        # -- every outcome is allowed -----------------------------------------------------------
        stub_faults = 0
        unmarked_faults = 0
        creation_failures: set[int] = set()
        before_acquire = 0  # turns that failed before reaching an instance
        ok: dict[int, ExecutionResult] = {}
        unloaded = evicted = 0
        for i, (op, outcome) in enumerate(zip(self.ops, outcomes, strict=True)):
            assert not isinstance(outcome, StubMisuse), outcome
            if op[0] != "execute":
                if isinstance(outcome, BaseException):
                    raise outcome
                if op[0] == "end":
                    assert isinstance(outcome, EndReport)
                    unloaded += outcome.unloaded
                elif op[0] == "evict":
                    evicted += outcome
                continue
            turn = self.turns[i]
            key = model.key(turn.agent, turn.session)
            if isinstance(outcome, StubFault):
                stub_faults += 1
                unmarked_faults += not turn.marker
            elif isinstance(outcome, AgentCreationFailed):
                assert isinstance(outcome.__cause__, StubFault)
                creation_failures.add(id(outcome))  # every waiter sees the creator's error
                before_acquire += 1
            elif isinstance(outcome, CapacityExceeded):
                # Only when the live instances and the creations in flight, all held by this
                # batch, fill max_active.
                limit = machine.policy.max_active
                assert limit is not None and len(targets) > limit, (outcome, targets)
                before_acquire += 1
            elif isinstance(outcome, SessionBusy):
                assert manager.overlap == "reject", outcome
                assert targets[key] >= 2, outcome
                before_acquire += 1
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                assert isinstance(outcome, ExecutionResult)
                assert not turn.marker
                assert outcome.session_key == key
                ok[i] = outcome

        # -- each successful turn landed on exactly one instance of its key, in order -----------
        candidates = [live.instance for live in before.values()] + list(new)
        where: dict[str, tuple[StubAgent, int]] = {}
        for instance in candidates:
            assert instance is not None
            for position, text in enumerate(user_texts(instance), start=1):
                assert text not in where, f"{text!r} reached two instances"
                where[text] = (instance, position)
        added: Counter[int] = Counter()  # id(instance) -> successful turns in this batch
        added_messages: Counter[int] = Counter()
        for i, turn in self.turns.items():
            if i not in ok:
                assert not any(text in where for text in turn.texts), f"failed {turn} recorded"
                continue
            result = ok[i]
            (reply,) = result.messages
            match = ECHO.fullmatch(reply.text)
            assert match is not None, reply.text
            assert match[2] == turn.texts[-1]
            instance, position = where[turn.texts[-1]]
            assert instance.key == result.session_key
            assert int(match[1]) == position, "the reply counted another conversation"
            if len(turn.texts) == 2:
                assert where[turn.texts[0]] == (instance, position - 1)
            if result.instance_event == "created":
                assert id(instance) in new_ids and position == len(turn.texts)
            added[id(instance)] += 1
            added_messages[id(instance)] += turn.message_count + 1
            assert result.stats.turn_count >= 1
        for live in before.values():
            assert live.instance is not None
            assert user_texts(live.instance)[: len(live.texts)] == live.texts

        if any(added[id(instance)] > 1 for instance in new):
            event("batch: one new instance served several turns")
        if len({instance.key for instance in new}) < len(new):
            event("batch: a key got two instances")
        if len(creation_failures) < sum(
            isinstance(outcome, AgentCreationFailed) for outcome in outcomes
        ):
            event("batch: waiters shared a failed creation")

        # -- hooks and counters tell the same story ---------------------------------------------
        kinds = Counter(e[0] for e in events)
        reasons = Counter(e[2] for e in events if e[0] == "evicted")
        stats = manager.stats()
        delta = {name: getattr(stats, name) - counts[name] for name in counts}
        assert [e[1] for e in events if e[0] == "created"] == [i.key for i in new]
        assert delta["created"] == len(new)
        assert delta["reused"] == kinds["reused"]
        assert len(self.turns) == kinds["created"] + kinds["reused"] + before_acquire
        assert delta["failed"] == stub_faults + len(creation_failures)
        assert set(reasons) <= {"capacity", "idle", "lifetime", "evicted", "shutdown"}, reasons
        for reason in reasons:
            event(f"batch: evicted for {reason}")
        assert delta["evicted"] == reasons["capacity"] + reasons["evicted"] + reasons["shutdown"]
        assert reasons["evicted"] == evicted
        if not any(op[0] == "close" for op in self.ops):
            assert not reasons["shutdown"]
        assert delta["expired"] == reasons["idle"] + reasons["lifetime"]
        if self.tick == 0:  # time stood still: only what was already past its policy expired
            for e in events:
                if e[0] == "evicted" and e[2] in ("idle", "lifetime"):
                    assert expiry(machine.policy, before.get(e[1]), t0), f"{e} was not due"
        ended = [e for e in events if e[0] == "ended"]
        assert delta["ended"] == unloaded == sum(e[2] for e in ended)
        assert len(ended) == sum(op[0] == "end" and self.target(op) is not None for op in self.ops)
        turn_events = Counter((e[1], e[2]) for e in events if e[0] == "turn")
        assert turn_events == Counter((r.session_key, r.instance_event) for r in ok.values())
        # Faults are consumed in an order the batch decides; their totals still add up.
        assert faults["create"] - factory.faults.create == len(creation_failures)
        invoked = faults["invoke"] - factory.faults.invoke
        assert unmarked_faults <= invoked <= stub_faults
        if factory.faults.invoke:
            assert not ok and invoked == stub_faults  # every invoke took a pending fault
        destroys = delta["evicted"] + delta["expired"] + delta["ended"]
        burned = faults["destroy"] - factory.faults.destroy
        assert burned <= destroys
        if factory.faults.destroy:
            assert burned == destroys

        # -- what left, what stayed, in which order ---------------------------------------------
        keys = manager.list_agents()
        gone = {e[1] for e in events if e[0] in ("evicted", "ended")}
        for key, live in before.items():
            assert live.instance is not None
            if manager.get_agent(key) is not live.instance:
                assert live.instance.destroyed and key in gone, f"{key} vanished"
        untouched = [
            key
            for key, live in before.items()
            if manager.get_agent(key) is live.instance and not added[id(live.instance)]
        ]
        assert keys[: len(untouched)] == untouched, "a batch reordered idle instances"

        # -- re-read the model from the manager, checking what can be checked -------------------
        index = {id(instance): n for n, instance in enumerate(factory.instances)}
        live_now: dict[SessionKey, Live] = {}
        for key in keys:
            found = manager.get_agent(key)
            assert isinstance(found, StubAgent)
            instance = found
            got = manager.session_stats(key)
            assert got is not None
            old = before.get(key)
            if old is not None and old.instance is instance:
                live = replace(old, texts=user_texts(instance))
                assert got.created_at == old.created_at
                if not added[id(instance)]:
                    assert got.last_activity == old.last_activity
            else:
                assert id(instance) in new_ids, f"{key}: an instance from nowhere"
                live = Live([], 0, 0, got.created_at, got.created_at, index[id(instance)])
                live.instance, live.texts = instance, user_texts(instance)
                assert t0 <= got.created_at <= t1
            live.turns += added[id(instance)]
            live.messages += added_messages[id(instance)]
            if added[id(instance)]:
                assert t0 <= got.last_activity <= t1
            live.last_activity = got.last_activity
            if self.tick == 0 and (added[id(instance)] or id(instance) in new_ids):
                assert got.last_activity == t0  # the clock stood still
            live_now[key] = live
        # The expiry index relies on these two orders being sorted by time.
        lru = [live.last_activity for live in live_now.values()]
        assert lru == sorted(lru), "LRU order is not last-activity order"
        births = [live.created_at for live in sorted(live_now.values(), key=lambda e: e.born)]
        assert births == sorted(births), "birth order is not creation-time order"
        model.live = live_now
        model.counts = {name: getattr(stats, name) for name in counts}
        model.faults = {
            "create": factory.faults.create,
            "invoke": factory.faults.invoke,
            "destroy": factory.faults.destroy,
        }


SETTINGS = settings(
    max_examples=2_000 if SOAK else 100,
    stateful_step_count=60 if SOAK else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # No explain phase: its line tracing makes a failing run several times slower, and the
    # shrunk sequence of steps is the report that matters.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


class PerSessionMachine(SessionMachine):
    STRATEGY = "per_session"


class SharedMachine(SessionMachine):
    STRATEGY = "shared"


TestPerSession = pytest.mark.slow(PerSessionMachine.TestCase)
TestPerSession.settings = SETTINGS
TestShared = pytest.mark.slow(SharedMachine.TestCase)
TestShared.settings = SETTINGS
