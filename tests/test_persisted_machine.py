"""A Hypothesis state machine for the ``persisted`` strategy: two real managers ("processes")
on one store beside a plain model of what the store holds.

Rules run turns on either manager (so sessions are taken over back and forth), ask and answer
interrupts, end sessions, evict instances, move the clocks, and sweep with retention (purging
idle stored sessions) and ``max_lifetime``. Each rule is predicted exactly: the reply, the
instance event (``created``, ``reused``, ``restored``), the error, and each manager's counters.
After every step the invariants hold: every stored session's log is exactly its acknowledged
turns (none lost, none landed on an ended session, no fork), an ended or purged session exists
nowhere (``session_exists`` on both managers agrees with the store), and pending interrupts are
what the model says.

The memory store runs in every ``make test``; SQLite files and Postgres (when a server is
available) run fewer examples. ``SESSIONFUL_SOAK=1`` (``make soak``) runs many more.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    InterruptPending,
    LifecyclePolicy,
    SessionKey,
    SessionManager,
)
from sessionful.stores import MemoryStore, SessionStore, SQLiteStore
from support import FakeClock
from support.workers import POSTGRES_ENV, check_log

SOAK = os.environ.get("SESSIONFUL_SOAK") == "1"
BOT = "bot"
SESSIONS = ("s1", "s2", "s3")
MAX_LIFETIME = 30.0
RETENTION = 100.0
ADVANCES = (1.0, 10.0, 29.0, 30.0, 60.0, 101.0)
T = TypeVar("T")


@dataclass
class Stored:
    """What the store holds of one session, as the model sees it."""

    texts: list[str] = field(default_factory=list)
    """The user texts of its acknowledged turns, in order (the stub counts them)."""
    owner: int = -1
    """The manager that claimed it last (the only one whose lease is current)."""
    last_activity: float = 0.0
    """Wall seconds of its last claim or turn."""
    pending: str | None = None
    """The question of an interrupt waiting for an answer."""


@dataclass
class Live:
    """A manager's live instance, as the model sees it."""

    born: float


class Model:
    def __init__(self) -> None:
        self.store: dict[str, Stored] = {}
        self.live: list[dict[str, Live]] = [{}, {}]
        self.counts = [
            dict.fromkeys(("created", "reused", "restored", "evicted", "expired", "ended"), 0)
            for _ in range(2)
        ]

    def drop(self, m: int, session: str, counter: str) -> None:
        del self.live[m][session]
        self.counts[m][counter] += 1

    def acquire(self, m: int, session: str, now: float, wall: float) -> str:
        """How manager ``m`` finds ``session``'s instance for a turn: its instance event."""
        live = self.live[m].get(session)
        if live is not None and now - live.born >= MAX_LIFETIME:
            self.drop(m, session, "expired")
        elif live is not None:
            stored = self.store.get(session)
            if stored is None:
                self.drop(m, session, "ended")  # ended or purged elsewhere: never continued
            elif stored.owner != m:
                self.drop(m, session, "evicted")  # taken over elsewhere: reloaded
            else:
                self.counts[m]["reused"] += 1
                return "reused"
        stored = self.store.get(session)
        event = "restored" if stored is not None and stored.texts else "created"
        if stored is None:
            stored = self.store[session] = Stored()
        stored.owner = m
        stored.last_activity = wall
        self.live[m][session] = Live(born=now)
        self.counts[m][event] += 1
        return event


class PersistedMachine(RuleBasedStateMachine):
    """Two managers on one store; subclasses pick the store."""

    BACKEND: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.managers: list[SessionManager] = []
        self.sent = 0

    def run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, 30))

    def new_store(self) -> SessionStore:
        if self.BACKEND == "memory":
            return self.shared
        if self.BACKEND == "sqlite":
            return SQLiteStore(self.path)
        from sessionful.stores.postgres import PostgresStore

        return PostgresStore.from_url(os.environ[POSTGRES_ENV])

    @initialize()
    def start(self) -> None:
        self.clock = FakeClock()
        self.wall = [1_000_000.0]
        self.shared = MemoryStore()
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "sessions.db"
        self.namespace = f"m-{uuid.uuid4().hex[:8]}"
        for _ in range(2):
            self.managers.append(
                SessionManager(
                    framework="stub",
                    strategy="persisted",
                    store=self.new_store(),
                    clock=self.clock,
                    wall_clock=lambda: self.wall[0],
                    lifecycle=LifecyclePolicy(
                        idle_timeout=None,
                        max_lifetime=MAX_LIFETIME,
                        max_active=None,
                        sweep_interval=None,
                        retention=RETENTION,
                    ),
                    agents=[AgentDefinition(id=BOT, name="Bot", template_id="echo")],
                )
            )
        self.model = Model()

    def teardown(self) -> None:
        async def close() -> None:
            if self.BACKEND == "postgres":
                await drop_namespace(self.managers[0], self.namespace)
            for manager in self.managers:
                await manager.aclose()

        try:
            if self.managers:
                self.run(close())
        finally:
            self.loop.close()
            if hasattr(self, "tmp"):
                self.tmp.cleanup()

    def key(self, session: str) -> SessionKey:
        return SessionKey(BOT, session, self.namespace)

    def cmd(self, session: str, text: str | None = None, resume: Any = None) -> Any:
        return ExecuteAgentCommand(
            agent_id=BOT,
            session_id=session,
            principal=self.namespace,
            messages=[ChatMessage.user(text)] if text is not None else [],
            resume=resume,
        )

    # -- rules --------------------------------------------------------------------------------

    @rule(m=st.integers(0, 1), session=st.sampled_from(SESSIONS), ask=st.booleans())
    def turn(self, m: int, session: str, ask: bool) -> None:
        """A turn on either manager: predicted event and reply, or InterruptPending."""
        self.sent += 1
        text = f"ask: q{self.sent}" if ask else f"t{self.sent}"
        stored = self.model.store.get(session)
        if stored is not None and stored.pending is not None:
            # The model acquires first, as the manager does, then refuses the turn.
            self.model.acquire(m, session, self.clock.now, self.wall[0])
            with pytest.raises(InterruptPending):
                self.run(self.managers[m].execute(self.cmd(session, text)))
            return
        event = self.model.acquire(m, session, self.clock.now, self.wall[0])
        result = self.run(self.managers[m].execute(self.cmd(session, text)))
        stored = self.model.store[session]
        stored.texts.append(text)
        stored.last_activity = self.wall[0]
        assert result.instance_event == event
        if ask:
            stored.pending = f"q{self.sent}"
            assert result.status == "interrupted"
            assert [i.value for i in result.interrupts] == [stored.pending]
        else:
            assert result.status == "completed"
            assert [m.text for m in result.messages] == [f"echo #{len(stored.texts)}: {text}"]

    @precondition(lambda self: any(s.pending for s in self.model.store.values()))
    @rule(m=st.integers(0, 1), data=st.data())
    def answer(self, m: int, data: st.DataObject) -> None:
        """Answer a pending interrupt from either manager (after a takeover, too)."""
        session = data.draw(
            st.sampled_from(sorted(s for s, v in self.model.store.items() if v.pending))
        )
        record = self.run(self.managers[m].session_record(self.key(session)))
        assert record is not None and [i.value for i in record.interrupts] == [
            self.model.store[session].pending
        ]
        event = self.model.acquire(m, session, self.clock.now, self.wall[0])
        answer = f"a{self.sent}"
        result = self.run(
            self.managers[m].execute(self.cmd(session, resume={record.interrupts[0].id: answer}))
        )
        stored = self.model.store[session]
        stored.pending = None
        stored.last_activity = self.wall[0]
        assert result.instance_event == event
        assert (result.status, [m.text for m in result.messages]) == (
            "completed",
            [f"answered: {answer}"],
        )

    @rule(m=st.integers(0, 1), session=st.sampled_from(SESSIONS))
    def end(self, m: int, session: str) -> None:
        report = self.run(self.managers[m].end_session(BOT, session, namespace=self.namespace))
        existed = self.model.store.pop(session, None) is not None
        unloaded = self.model.live[m].pop(session, None) is not None
        if unloaded or existed:
            self.model.counts[m]["ended"] += 1
        assert report.unloaded == unloaded
        assert bool(report.deleted.get("sessions")) == existed

    @rule(m=st.integers(0, 1), session=st.sampled_from(SESSIONS))
    def evict(self, m: int, session: str) -> None:
        evicted = self.run(self.managers[m].evict(self.key(session)))
        assert evicted == (session in self.model.live[m])
        if evicted:
            self.model.drop(m, session, "evicted")

    @rule(seconds=st.sampled_from(ADVANCES))
    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.wall[0] += seconds

    @rule(m=st.integers(0, 1))
    def sweep(self, m: int) -> None:
        """Lifetime expiry of ``m``'s instances and retention over the whole store."""
        report = self.run(self.managers[m].cleanup_inactive())
        expired = sorted(
            s
            for s, live in self.model.live[m].items()
            if self.clock.now - live.born >= MAX_LIFETIME
        )
        for session in expired:
            self.model.drop(m, session, "expired")
        purged = sorted(
            s
            for s, stored in self.model.store.items()
            if stored.last_activity < self.wall[0] - RETENTION
        )
        for session in purged:
            del self.model.store[session]
        assert sorted(k.session_id or "" for k in report.expired_lifetime) == expired
        # A shared Postgres database may hold other tests' old sessions: look at ours only.
        ours = [k for k in report.purged if k.namespace == self.namespace]
        assert sorted(k.session_id or "" for k in ours) == purged

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def the_store_is_the_model(self) -> None:
        if not self.managers:
            return
        for session in SESSIONS:
            key = self.key(session)
            stored = self.model.store.get(session)
            for manager in self.managers:
                assert self.run(manager.session_exists(key)) == (stored is not None)
            history = self.run(self.managers[0].history(key))
            if stored is None:
                assert history == []
                continue
            users = [m.text for m in history if m.role == "user"]
            assert users == stored.texts  # acknowledged turns, no more, no less
            completed = [t for t in stored.texts if not t.startswith("ask:")]
            if len(completed) == len(stored.texts):
                assert check_log(history) == stored.texts  # echo #k, unforked

    @invariant()
    def counters_and_live_instances(self) -> None:
        for manager, live, counts in zip(
            self.managers, self.model.live, self.model.counts, strict=True
        ):
            assert sorted(k.session_id or "" for k in manager.list_agents()) == sorted(live)
            stats = manager.stats()
            got = {name: getattr(stats, name) for name in counts}
            assert got == counts


async def drop_namespace(manager: SessionManager, namespace: str) -> None:
    """End every session of ``namespace`` (a shared Postgres database outlives the test)."""
    for record in await manager.list_sessions(namespace=namespace, limit=100):
        await manager.end_session(BOT, record.key.session_id, namespace=namespace)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples * 20 if SOAK else examples,
        stateful_step_count=50 if SOAK else 25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


class MemoryMachine(PersistedMachine):
    BACKEND = "memory"


class SQLiteMachine(PersistedMachine):
    BACKEND = "sqlite"


class PostgresMachine(PersistedMachine):
    BACKEND = "postgres"


TestOnMemory = MemoryMachine.TestCase
TestOnMemory.settings = _settings(60)
TestOnSQLite = SQLiteMachine.TestCase
TestOnSQLite.settings = _settings(10)
TestOnPostgres = pytest.mark.skipif(
    not os.environ.get(POSTGRES_ENV),
    reason=f"POSTGRES TESTS SKIPPED: no server ({POSTGRES_ENV} is not set)",
)(PostgresMachine.TestCase)
TestOnPostgres.settings = _settings(10)
