"""The conformance tests, grouped by what they exercise. Each docstring says what to fix."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from sessionful._plugins import LOAD_PLUGINS_ENV, Plugins
from sessionful._turns import turn_usage
from sessionful.errors import InterruptPending
from sessionful.factory import AgentFactory, AgentInstance, SupportsSnapshot
from sessionful.keys import MAX_ID_LENGTH, SessionKey
from sessionful.manager import SessionManager
from sessionful.models import (
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    Interrupt,
    UnloadReason,
)
from sessionful.stores.base import TurnWrite
from sessionful.stores.memory import MemoryStore
from sessionful.stores.sqlite import SQLiteStore
from sessionful.testing._content import generate
from sessionful.testing._fixtures import AdapterFixtures
from sessionful.testing._harness import AdapterUnderTest, _awaitable

__all__ = [
    "AdapterTests",
    "FactoryTests",
    "ManagerTests",
    "PackageTests",
    "PersistenceTests",
    "TurnTests",
]

_WORDS = (
    "apricot", "basalt", "cobalt", "dahlia", "ember", "fjord", "garnet", "harbor",
    "indigo", "juniper", "kestrel", "lichen", "marble", "nutmeg", "obsidian", "pepper",
)  # fmt: skip


def _texts(tag: str, count: int) -> list[str]:
    """``count`` distinct user messages; ``tag`` keeps each test's texts apart from another's."""
    return [
        f"Please remember the code word {tag}-{_WORDS[i % len(_WORDS)]}-{i}." for i in range(count)
    ]


def _last(reply: Sequence[ChatMessage]) -> ChatMessage:
    return reply[-1]


def _show(message: ChatMessage, limit: int = 160) -> str:
    """A message's content for a failure message, its middle elided when long."""
    text = message.text
    if len(text) > limit:
        text = f"{text[: limit // 2]} ... {text[-limit // 2 :]}"
    return repr(text)


def _interrupting(suite: AdapterFixtures, adapter: AdapterUnderTest) -> list[str]:
    """The messages that make the agent interrupt; skips when the framework cannot."""
    if not getattr(type(adapter.framework), "interrupts", False):
        pytest.skip(f"{adapter.name} declares interrupts=False: its turns never stop for an answer")
    if not suite.interrupt_messages:
        pytest.fail(
            f"{adapter.name} declares interrupts=True, so the suite checks the interrupt "
            f"cycle: set `interrupt_messages` on {type(suite).__name__} to the user messages "
            "that make your offline agent interrupt",
            pytrace=False,
        )
    return list(suite.interrupt_messages)


def _answers(suite: AdapterFixtures, interrupts: Sequence[Interrupt]) -> dict[str, Any]:
    return {interrupt.id: suite.resume_answer for interrupt in interrupts}


def _check_resumed(
    suite: AdapterFixtures,
    messages: Sequence[ChatMessage],
    interrupts: Sequence[Interrupt],
    asked: Sequence[Interrupt],
) -> None:
    """A resumed turn completed, without re-asking, with a reply that shows the answer."""
    again = {i.id for i in interrupts} & {i.id for i in asked}
    assert not again, (
        f"the turn that answered {sorted(again)} stopped with the same interrupts again: the "
        "adapter ignored request.resume and ran the agent into the same question (for "
        "LangGraph, invoke Command(resume=...) rather than the messages)"
    )
    assert not interrupts, (
        f"the resumed turn stopped with new interrupts {list(interrupts)!r}; choose "
        "interrupt_messages whose questions one round of answers settles"
    )
    assert messages and messages[-1].role == "assistant", (
        f"the resumed turn produced {list(messages)!r}; it must complete with the assistant's reply"
    )
    assert suite.answered(messages[-1], suite.resume_answer), (
        f"the resumed turn's reply {_show(messages[-1])} does not show the answer "
        f"{suite.resume_answer!r}: pass request.resume to the agent (by interrupt id), or "
        "override answered() if your agent shows answers differently"
    )


async def _manager_turn(
    manager: SessionManager,
    adapter: AdapterUnderTest,
    session_id: str,
    streamed: bool,
    **fields: Any,
) -> ExecutionResult:
    """One turn through ``manager.execute``, or through ``manager.stream`` (its last item)."""
    command = ExecuteAgentCommand(agent_id=adapter.agent.id, session_id=session_id, **fields)
    if not streamed:
        return await manager.execute(command)
    items = [item async for item in manager.stream(command)]
    assert isinstance(items[-1], ExecutionResult), "a stream ends with the turn's result"
    return items[-1]


async def _snapshot(instance: SupportsSnapshot) -> dict[str, Any]:
    return await _awaitable(instance.snapshot(), "snapshot")


async def _restore(
    instance: SupportsSnapshot, snapshot: Mapping[str, Any] | None, messages: Sequence[ChatMessage]
) -> None:
    await _awaitable(instance.restore(snapshot, messages), "restore")


async def _stores_round_trip(messages: Sequence[ChatMessage]) -> None:
    """Each message, one turn each, through a memory store and a SQLite store, and back."""
    key = SessionKey("conformance", "content-round-trip")
    with tempfile.TemporaryDirectory() as folder:
        for store in (MemoryStore(), SQLiteStore(Path(folder) / "content.db")):
            await store.open()
            try:
                lease, _ = await store.claim(key, "conformance", "t", "1", 1.0)
                for turn, message in enumerate(messages, start=1):
                    await store.append_turn(
                        lease,
                        TurnWrite(turn=turn, messages=[message], finished_at=1.0, duration=0.0),
                    )
                back = await store.history(key)
            finally:
                await store.aclose()
            assert len(back) == len(messages), f"{store.name} kept {len(back)} of {len(messages)}"
            for sent, read in zip(messages, back, strict=True):
                assert read == sent, f"the {store.name} store changed {sent!r} into {read!r}"


class FactoryTests(AdapterFixtures):
    """The boundary itself: ``Framework``, ``AgentFactory`` and ``AgentInstance``, no manager."""

    def test_framework_is_well_formed(self, adapter_under_test: AdapterUnderTest) -> None:
        """The framework declares a name and its capabilities as class attributes and makes a
        factory from settings.

        To fix: subclass :class:`sessionful.Framework`; set ``name: ClassVar[str]``,
        ``persistence: ClassVar[Persistence | None]`` and ``interrupts: ClassVar[bool]`` on the
        class (the manager reads them, it never probes); make
        ``create_agent_factory(settings)`` return an object with async ``create_agent`` and
        ``destroy_agent`` methods, without connecting anywhere.
        """
        framework = adapter_under_test.framework
        cls = type(framework)
        name = getattr(cls, "name", None)
        assert isinstance(name, str) and name, (
            f"{cls.__name__} has no class attribute `name: ClassVar[str]` (got {name!r})"
        )
        interrupts = getattr(cls, "interrupts", None)
        assert isinstance(interrupts, bool), (
            f"{cls.__name__}.interrupts must be a bool class attribute, not {interrupts!r}"
        )
        persistence = getattr(cls, "persistence", "missing")
        assert persistence in (None, "native", "snapshot"), (
            f"{cls.__name__}.persistence must be None, 'native' or 'snapshot', not {persistence!r}"
        )
        factory = adapter_under_test.new_factory()
        assert isinstance(factory, AgentFactory), (
            f"create_agent_factory returned {factory!r}, which lacks create_agent/destroy_agent; "
            "return an AgentFactory (subclassing sessionful.AgentFactory is easiest)"
        )

    @pytest.mark.asyncio
    async def test_create_agent_returns_instance_bound_to_key(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``create_agent(request)`` returns an :class:`AgentInstance` whose ``key`` is
        ``request.key``, a new object for every call.

        To fix: build a fresh instance per request (never hand back a cached one: the manager
        owns reuse), set ``instance.key = request.key``, and give it
        ``async def ainvoke(request: TurnRequest) -> TurnOutput``.
        """
        async with adapter_under_test.harness() as h:
            first = await h.create("conformance-bind")
            again = await h.create("conformance-bind-2")
            assert first is not again, (
                "create_agent returned the same object for two requests; build a new instance "
                "each time (the manager, not the factory, decides when to reuse one)"
            )
            assert str(first.key) == h.request("conformance-bind").id

    @pytest.mark.asyncio
    async def test_create_agent_accepts_any_valid_key(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """Every valid key works and stays apart from the others: an agent-level key (no
        session), namespaced keys, ids holding the separators ``#``, ``|`` and ``\\``, non-ASCII
        ids and ids of the maximum length.

        To fix: if your framework needs a string id (a thread id, a table key), use
        ``str(request.key)`` whole: it is injective. Never rebuild one from ``session_id``
        alone (two namespaces would share it) or by joining the parts yourself; check that the
        framework accepts the characters and the length.
        """
        a = adapter_under_test
        keys = [
            a.key(None),
            a.key("conformance-keys"),
            a.key("conformance-keys", namespace="tenant-one"),
            a.key("conformance-keys", namespace="tenant|two"),
            a.key("conf#keys|with\\separators"),
            a.key("séance-会话-\N{SMILING FACE WITH SMILING EYES}"),
            a.key("k" * MAX_ID_LENGTH),
        ]
        texts = _texts("keys", len(keys))
        async with a.harness() as h:
            instances = [await h.create(key) for key in keys]
            for instance, text in zip(instances, texts, strict=True):
                await h.turn(instance, text)
            for i, instance in enumerate(instances):
                reply = _last(await h.turn(instance, f"What did I ask you to remember? ({i})"))
                assert self.recalls(reply, [texts[i]]), (
                    f"the instance for {keys[i]!r} forgot its own first message"
                )
                for j, other in enumerate(texts):
                    if j != i:
                        assert not self.recalls(reply, [texts[i], other]), (
                            f"the instance for {keys[i]!r} saw the message sent to {keys[j]!r}: "
                            "the two keys share state"
                        )

    @pytest.mark.asyncio
    async def test_ainvoke_returns_only_new_messages(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``ainvoke(request)`` returns a :class:`~sessionful.TurnOutput` holding only what the
        agent produced this turn: :class:`ChatMessage` objects, the assistant's reply last,
        without the user's input and without earlier turns.

        To fix: put in ``TurnOutput(messages=...)`` the messages the framework added during this
        call (for a graph, slice the state's messages from the length they had before the
        turn), converted to ``ChatMessage``; a new list, not the instance's history.
        """
        t1, t2 = _texts("new-messages", 2)
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-new-messages")
            first = await h.turn(instance, t1)
            echoed = [m for m in first if m.role == "user" and m.content == t1]
            assert not echoed, (
                f"ainvoke returned the user's own message {echoed!r}; return only new messages"
            )
            second = await h.turn(instance, t2)
            repeated = [m for m in second if m.role == "user" and m.content in (t1, t2)]
            repeated += [m for m in second if any(m is old for old in first)]
            assert not repeated, (
                f"the second turn returned messages from before it ({repeated!r}): ainvoke "
                "returned the conversation so far instead of this turn's new messages"
            )
            assert second is not first, "ainvoke returned the same list object twice"

    @pytest.mark.asyncio
    async def test_ainvoke_accepts_several_messages_in_one_turn(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """One turn may carry several messages (a system instruction and two user messages);
        the agent remembers all of them afterwards.

        To fix: add every message of ``request.messages`` to the conversation, in order, not
        just the last one; map ``role="system"`` to your framework's system message.
        """
        t1, t2, t3 = _texts("several", 3)
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-several")
            await h.turn(instance, ChatMessage.system("You are a conformance test agent."), t1, t2)
            reply = _last(await h.turn(instance, t3))
            assert self.recalls(reply, [t1, t2]), (
                f"after one turn carrying two user messages, the reply {_show(reply)} does not "
                "show both: the adapter kept only part of the turn's messages"
            )

    @pytest.mark.asyncio
    async def test_instance_keeps_context_across_turns(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """One instance remembers its earlier turns: the second reply shows the first message,
        the third shows both. A fresh instance shows none of them (the control that keeps
        :meth:`recalls` honest).

        To fix: keep the conversation in the instance (or in the framework's session keyed by
        ``str(key)``) between ``ainvoke`` calls. If the control fails instead, your ``recalls``
        override says yes too easily.
        """
        t1, t2, t3 = _texts("context", 3)
        async with adapter_under_test.harness() as h:
            control = await h.create("conformance-context-control")
            reply = _last(await h.turn(control, t2))
            assert not self.recalls(reply, [t1]), (
                f"recalls() says a fresh instance remembers {t1!r}, which it was never sent; "
                "make the test class's recalls() stricter"
            )
            instance = await h.create("conformance-context")
            await h.turn(instance, t1)
            reply = _last(await h.turn(instance, t2))
            assert self.recalls(reply, [t1]), (
                f"the second reply {_show(reply)} shows no memory of the first message; the "
                "instance must keep its conversation between turns"
            )
            reply = _last(await h.turn(instance, t3))
            assert self.recalls(reply, [t1, t2]), (
                f"the third reply {_show(reply)} does not show both earlier messages"
            )

    @pytest.mark.asyncio
    async def test_distinct_keys_are_isolated(self, adapter_under_test: AdapterUnderTest) -> None:
        """Two instances for two keys never see each other's messages, in either direction.

        To fix: keep conversation state per instance, never on the factory, the framework or a
        module global; if the framework keeps sessions itself (a checkpointer), key them by
        ``str(request.key)``.
        """
        a1, a2, a3, b1 = _texts("isolation", 4)
        async with adapter_under_test.harness() as h:
            a = await h.create("conformance-isolation-a")
            b = await h.create("conformance-isolation-b")
            assert a is not b, "create_agent returned one object for two keys"
            await h.turn(a, a1)
            reply = _last(await h.turn(a, a2))
            assert self.recalls(reply, [a1]), (
                "precondition: an instance must remember its own turns "
                "(see test_instance_keeps_context_across_turns)"
            )
            reply = _last(await h.turn(b, b1))
            assert not self.recalls(reply, [a1]), (
                f"the first reply of session b ({_show(reply)}) shows session a's messages: "
                "instances for distinct keys share state"
            )
            reply = _last(await h.turn(a, a3))
            assert not self.recalls(reply, [a1, a2, b1]), (
                f"session a's reply ({_show(reply)}) shows session b's message"
            )

    @pytest.mark.asyncio
    async def test_concurrent_create_on_distinct_keys(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``create_agent`` runs concurrently for distinct keys (the manager only serialises
        creation per key), and so do turns and ``destroy_agent`` on distinct instances.

        To fix: guard any shared factory state (a lazily built graph, a connection pool) with an
        ``asyncio.Lock`` or build it in ``create_agent_factory``; never block the event loop;
        keep per-turn state on the instance.
        """
        n = max(2, self.concurrency)
        firsts, seconds = _texts("concurrent", n), _texts("concurrent-again", n)
        async with adapter_under_test.harness() as h:
            made = await asyncio.gather(
                *(h.create(f"conformance-concurrent-{i}") for i in range(n)),
                return_exceptions=True,
            )
            errors = [r for r in made if isinstance(r, BaseException)]
            if errors:
                raise errors[0]
            instances = [r for r in made if not isinstance(r, BaseException)]
            assert len({id(i) for i in instances}) == n, "concurrent creates shared an instance"
            await asyncio.gather(*(h.turn(i, t) for i, t in zip(instances, firsts, strict=True)))
            replies = await asyncio.gather(
                *(h.turn(i, t) for i, t in zip(instances, seconds, strict=True))
            )
            for i, reply in enumerate(replies):
                assert self.recalls(_last(reply), [firsts[i]]), (
                    f"instance {i} forgot its first turn when turns ran concurrently"
                )
                other = firsts[(i + 1) % n]
                assert not self.recalls(_last(reply), [firsts[i], other]), (
                    f"instance {i} saw another instance's message when turns ran concurrently"
                )
            await asyncio.gather(*(h.destroy(i) for i in instances))

    @pytest.mark.asyncio
    async def test_destroy_agent_releases_instance(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``destroy_agent`` succeeds once on an instance, whether or not it ever ran a turn,
        and afterwards nothing keeps the instance alive: a weak reference to it dies after
        ``gc.collect()`` (with the factory still alive, unless the test class sets
        ``releases_instances = False``; then only once the factory is dropped too).

        To fix: drop the instance from every registry, cache and callback list in
        ``destroy_agent``; never keep an ``active_agents`` map of your own (the manager owns
        that); close what the instance opened.
        """
        async with adapter_under_test.harness() as h:
            unused = await h.create("conformance-destroy-unused")
            await h.destroy(unused)
            del unused

            factory: AgentFactory | None = adapter_under_test.new_factory()
            assert factory is not None
            instance: AgentInstance | None = await h.create("conformance-destroy", factory=factory)
            assert instance is not None
            await h.turn(instance, *_texts("destroy", 1))
            try:
                ref = weakref.ref(instance)
            except TypeError:
                pytest.skip(f"{type(instance).__name__} does not support weak references")
            await h.destroy(instance)
            instance = None
            if self.releases_instances:
                gc.collect()
                assert ref() is None, (
                    f"the factory (or something global) still references the destroyed "
                    f"instance: {_referrers(ref())}. Release it in destroy_agent, or set "
                    "releases_instances = False if the factory keeps instances on purpose"
                )
            factory = None
            gc.collect()
            assert ref() is None, (
                "a destroyed instance outlived its factory: something module-level (a cache, a "
                f"registry, a callback) keeps it: {_referrers(ref())}"
            )

    @pytest.mark.asyncio
    async def test_recreated_instance_starts_fresh(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """After ``destroy_agent``, a new instance for the same key starts an empty
        conversation. Skipped when the framework keeps sessions itself
        (``persistence="native"``), where continuing is the point.

        To fix: hold the conversation in the instance, so destroying it frees it; state left
        on the factory under the key is a leak that grows with every session ever seen.
        """
        framework = type(adapter_under_test.framework)
        if framework.persistence == "native":
            pytest.skip(
                f"{adapter_under_test.name} keeps sessions itself (persistence='native'); a new "
                "instance continues the old conversation"
            )
        t1, t2 = _texts("recreate", 2)
        async with adapter_under_test.harness() as h:
            old = await h.create("conformance-recreate")
            await h.turn(old, t1)
            await h.destroy(old)
            new = await h.create("conformance-recreate")
            reply = _last(await h.turn(new, t2))
            assert not self.recalls(reply, [t1]), (
                f"a new instance for a destroyed key remembers the old conversation "
                f"({_show(reply)}); state outlives destroy_agent"
            )


class PersistenceTests(AdapterFixtures):
    """State that outlives an instance: snapshots (``persistence="snapshot"``) or the
    framework's own store (``persistence="native"``). Each test skips unless declared."""

    @staticmethod
    def _require(adapter: AdapterUnderTest, persistence: str) -> None:
        declared = type(adapter.framework).persistence
        if declared != persistence:
            pytest.skip(
                f"{adapter.name} declares persistence={declared!r}; this test applies to "
                f"persistence={persistence!r}"
            )

    @pytest.mark.asyncio
    async def test_snapshot_round_trips_through_json(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``await snapshot()`` returns a dict that survives ``json.dumps``/``json.loads``
        unchanged, before the first turn and after some, and is a copy that later turns do not
        change.

        To fix: build the snapshot from plain ``dict``/``list``/``str``/``int``/``float``/
        ``bool``/``None`` with string keys (``ChatMessage.model_dump(mode="json")`` helps); no
        tuples, datetimes, NaN or framework objects; put a version number in it; return a new
        dict each time rather than the instance's live state.
        """
        self._require(adapter_under_test, "snapshot")
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-snapshot-json")
            assert isinstance(instance, SupportsSnapshot), (
                f"persistence='snapshot' but {type(instance).__name__} has no snapshot()/restore()"
            )
            _json_round_trip(await _snapshot(instance), "before any turn")
            t1, t2 = _texts("snapshot-json", 2)
            await h.turn(instance, t1)
            snapshot = await _snapshot(instance)
            frozen = _json_round_trip(snapshot, "after a turn")
            await h.turn(instance, t2)
            assert json.dumps(snapshot, sort_keys=True) == frozen, (
                "a snapshot changed when the instance ran another turn: snapshot() must return a "
                "copy, not the instance's live state"
            )

    @pytest.mark.asyncio
    async def test_restored_snapshot_continues_conversation(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """A snapshot, round-tripped through JSON and restored into a fresh instance from a new
        factory (as after a restart), continues the conversation from the moment it was taken:
        it remembers the turns before the snapshot and none after.

        To fix: make ``await restore(snapshot, [])`` rebuild everything the next turn needs
        from the dict alone (no references to the old instance or factory); accept lists where
        you produced tuples; raise ``ValueError`` on a snapshot you cannot read.
        """
        self._require(adapter_under_test, "snapshot")
        t1, t2, t3, t4 = _texts("snapshot-restore", 4)
        async with adapter_under_test.harness() as h:
            old = await h.create("conformance-snapshot")
            assert isinstance(old, SupportsSnapshot), (
                f"persistence='snapshot' but {type(old).__name__} has no snapshot()/restore()"
            )
            await h.turn(old, t1)
            await h.turn(old, t2)
            stored = json.loads(_json_round_trip(await _snapshot(old), "after two turns"))
            await h.turn(old, t3)
            await h.destroy(old)

            new = await h.create("conformance-snapshot", factory=adapter_under_test.new_factory())
            assert isinstance(new, SupportsSnapshot)
            await _restore(new, stored, [])
            reply = _last(await h.turn(new, t4))
            assert self.recalls(reply, [t1, t2]), (
                f"the restored instance's reply {_show(reply)} does not show the turns in the "
                "snapshot; restore() must load the conversation"
            )
            assert not self.recalls(reply, [t1, t2, t3]), (
                f"the restored instance's reply {_show(reply)} shows a turn taken after the "
                "snapshot: state leaked from the old instance rather than the snapshot"
            )

    @pytest.mark.asyncio
    async def test_restore_replays_logged_messages(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``restore(snapshot, messages)`` continues from the snapshot (or from nothing, given
        ``None``) and then the logged messages of the turns after it, as the ``persisted``
        strategy does after a crash, when the latest turns exist only in the message log.

        To fix: in ``restore``, after loading the snapshot, apply each message in order as if
        it had been part of the conversation (without invoking any model).
        """
        self._require(adapter_under_test, "snapshot")
        t1, t2, t3 = _texts("snapshot-replay", 3)
        async with adapter_under_test.harness() as h:
            old = await h.create("conformance-replay")
            assert isinstance(old, SupportsSnapshot)
            first = [ChatMessage.user(t1), *(await h.turn(old, t1))]
            after_first = json.loads(_json_round_trip(await _snapshot(old), "after one turn"))
            second = [ChatMessage.user(t2), *(await h.turn(old, t2))]
            await h.destroy(old)

            for snapshot, log in ((None, [*first, *second]), (after_first, second)):
                new = await h.create("conformance-replay", factory=adapter_under_test.new_factory())
                assert isinstance(new, SupportsSnapshot)
                await _restore(new, snapshot, log)
                reply = _last(await h.turn(new, t3))
                assert self.recalls(reply, [t1, t2]), (
                    f"after restore({'a snapshot' if snapshot else 'None'}, <{len(log)} logged "
                    f"messages>) the reply {_show(reply)} does not show both earlier turns; "
                    "restore() must replay the logged messages after the snapshot"
                )
                await h.destroy(new)

    @pytest.mark.asyncio
    async def test_native_persistence_survives_recreate(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """With ``persistence="native"``, a new instance for a key continues the conversation
        that an earlier, destroyed instance for the same key had (an evicted session comes back).

        To fix: keep the framework's state in its own store keyed by ``str(request.key)``, and
        in ``destroy_agent`` delete it only when ``reason == "ended"``: eviction unloads an
        instance, it does not end the session.
        """
        self._require(adapter_under_test, "native")
        t1, t2, t3 = _texts("native", 3)
        async with adapter_under_test.harness() as h:
            old = await h.create("conformance-native")
            await h.turn(old, t1)
            await h.turn(old, t2)
            await h.destroy(old)
            new = await h.create("conformance-native")
            reply = _last(await h.turn(new, t3))
            assert self.recalls(reply, [t1, t2]), (
                f"a new instance for the same key starts over ({_show(reply)}); a native store "
                "must bring the conversation back"
            )

    @pytest.mark.asyncio
    async def test_pending_interrupt_survives_snapshot_and_restore(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """A snapshot taken while the agent waits for an answer, restored into a fresh instance
        from a new factory, takes the ``resume`` and completes the turn: pending interrupts are
        part of the session's state. Skipped unless ``persistence="snapshot"`` and
        ``interrupts = True``.

        To fix: put whatever the paused run needs in the snapshot (LangGraph: the checkpoint,
        with its pending writes and tasks), and rebuild it in ``restore`` so that the next
        request's ``resume`` continues the paused run.
        """
        self._require(adapter_under_test, "snapshot")
        asking = _interrupting(self, adapter_under_test)
        (t1,) = _texts("interrupt-snapshot", 1)
        async with adapter_under_test.harness() as h:
            old = await h.create("conformance-interrupt-snapshot")
            assert isinstance(old, SupportsSnapshot)
            await h.turn(old, t1)
            stopped = await h.run(old, *asking)
            assert stopped.interrupts, (
                "precondition: the agent must interrupt (see test_interrupt_then_resume_completes)"
            )
            stored = json.loads(_json_round_trip(await _snapshot(old), "while interrupted"))
            await h.destroy(old)
            new = await h.create(
                "conformance-interrupt-snapshot", factory=adapter_under_test.new_factory()
            )
            assert isinstance(new, SupportsSnapshot)
            await _restore(new, stored, [])
            resumed = await h.run(new, resume=_answers(self, stopped.interrupts))
            _check_resumed(self, resumed.messages, resumed.interrupts, stopped.interrupts)

    @pytest.mark.asyncio
    async def test_context_is_not_kept_in_the_snapshot(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """A turn's context appears nowhere in the snapshot taken after it: context is
        request-scoped (the end user's id, a token) and is never stored. Skipped unless
        ``persistence="snapshot"``.

        To fix: pass ``request.context`` to the framework as run-time context, never as part
        of the state it checkpoints; LangGraph copies ``config["configurable"]`` into checkpoint
        metadata, so use ``context=`` (a runtime context) or drop it from what you snapshot.
        """
        self._require(adapter_under_test, "snapshot")
        marker = "conformance-secret-4f1d2b"
        (t1,) = _texts("context-snapshot", 1)
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-context-snapshot")
            assert isinstance(instance, SupportsSnapshot)
            await h.turn(instance, t1, context={"conformance_token": marker})
            text = _json_round_trip(await _snapshot(instance), "after a turn with context")
            assert marker not in text, (
                f"the snapshot holds the turn's context ({marker!r}); context is never stored"
            )

    @pytest.mark.asyncio
    async def test_destroy_keeps_state_unless_ended(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``destroy_agent(instance, reason)`` keeps what the framework holds for the session
        on every reason but ``"ended"`` (``idle``, ``lifetime``, ``capacity``, ``evicted``,
        ``shutdown``, ``lease-lost``: the session may come back) and deletes it on ``"ended"``,
        leaving other sessions' state alone. Skipped when the test class's
        ``framework_state_exists`` returns ``None`` (the framework keeps nothing of its own).

        To fix: in ``destroy_agent``, release the instance on every reason; delete the
        framework's state for ``str(instance.key)`` (checkpoints of its thread, a session's
        items) only when ``reason == "ended"``, and only that key's.
        """
        a = adapter_under_test
        key, other = a.key("conformance-end-vs-evict"), a.key("conformance-end-vs-evict-other")
        texts = _texts("end-vs-evict", 8)
        async with a.harness() as h:
            if await self.framework_state_exists(h.factory, key) is None:
                pytest.skip(
                    f"{type(self).__name__}.framework_state_exists returns None: the framework "
                    "keeps no state outside its instances"
                )
            bystander = await h.create(other)
            await h.turn(bystander, texts[0])
            reasons: tuple[UnloadReason, ...] = (
                "idle", "lifetime", "capacity", "evicted", "shutdown", "lease-lost",
            )  # fmt: skip
            for reason, text in zip(reasons, texts[1:], strict=False):
                instance = await h.create(key)
                await h.turn(instance, text)
                await h.destroy(instance, reason)
                assert await self.framework_state_exists(h.factory, key), (
                    f"destroy_agent(reason={reason!r}) deleted the session's framework state; "
                    "only 'ended' may delete it (the session may come back)"
                )
            instance = await h.create(key)
            await h.turn(instance, texts[-1])
            await h.destroy(instance, "ended")
            assert not await self.framework_state_exists(h.factory, key), (
                "destroy_agent(reason='ended') left the session's framework state behind: an "
                "ended session must not leak in the framework's store"
            )
            assert await self.framework_state_exists(h.factory, other), (
                "ending one session deleted another session's framework state"
            )


class TurnTests(AdapterFixtures):
    """The turn contract beyond text: interrupts and resume, per-turn context, content blocks,
    usage. Each test skips, with its reason, where the adapter declares it lacks the ability."""

    @pytest.mark.asyncio
    async def test_interrupt_then_resume_completes(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """A turn whose agent asks a question ends with ``TurnOutput.interrupts`` (each an
        ``Interrupt(id, value)`` with a JSON value); the next request, carrying only
        ``resume={id: answer}``, completes the turn with a reply that shows the answer, and the
        conversation goes on. Skipped when the framework declares ``interrupts = False``.

        To fix: when the framework pauses (LangGraph's ``interrupt()``, an approval a tool
        needs), return the pending questions as ``Interrupt`` objects instead of a partial reply;
        give each a stable id; on a request with ``resume``, continue the paused run with the
        answers (LangGraph: ``Command(resume={interrupt_id: answer})``), not with a new run.
        """
        asking = _interrupting(self, adapter_under_test)
        t1, t2 = _texts("interrupt", 2)
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-interrupt")
            await h.turn(instance, t1)
            stopped = await h.run(instance, *asking)
            assert stopped.interrupts, (
                f"the turn {asking!r} ended without interrupts (it produced "
                f"{[m.text for m in stopped.messages]!r}): the adapter swallowed the agent's "
                "question; return it in TurnOutput.interrupts (or fix interrupt_messages)"
            )
            resumed = await h.run(instance, resume=_answers(self, stopped.interrupts))
            _check_resumed(self, resumed.messages, resumed.interrupts, stopped.interrupts)
            reply = _last(await h.turn(instance, t2))
            assert self.recalls(reply, [t1]), (
                f"after the interrupt cycle the reply {_show(reply)} forgot the session's first "
                "turn: resuming must continue the same conversation"
            )

    @pytest.mark.asyncio
    async def test_context_reaches_its_turn_only(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """``request.context`` reaches the agent for that turn: the reply to the test class's
        ``context_probe`` shows it; the next turn's context replaces it, and a turn without
        context shows none (context is never kept). Skipped when ``context_probe`` is ``None``.

        To fix: hand ``request.context`` to the framework for this run only (LangGraph:
        ``context=`` or ``config["configurable"]``; OpenAI Agents: ``context=``), never store
        it on the instance or in the framework's state. If the last check fails, your
        ``shows_context`` says yes too easily.
        """
        probe = self.context_probe
        if probe is None:
            pytest.skip(
                f"{type(self).__name__}.context_probe is None: the test class does not say how "
                "to see the context in a reply"
            )
        first = {"user_id": "conformance-user-7", "locale": "fr-CA"}
        second = {"user_id": "conformance-user-9", "tier": "gold"}
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-context-probe")
            reply = _last(await h.turn(instance, *probe, context=first))
            assert self.shows_context(reply, first), (
                f"the reply {_show(reply)} does not show the turn's context {first!r}: pass "
                "request.context to the agent"
            )
            reply = _last(await h.turn(instance, *probe, context=second))
            assert self.shows_context(reply, second), (
                f"the second turn's reply {_show(reply)} does not show its context {second!r}"
            )
            assert not self.shows_context(reply, first), (
                f"the second turn's reply {_show(reply)} still shows the first turn's context "
                f"{first!r}: context is for one turn; do not keep it on the instance"
            )
            reply = _last(await h.turn(instance, *probe))
            kept = [c for c in (first, second) if self.shows_context(reply, c)]
            assert not kept, (
                f"a turn without context replied {_show(reply)}, which shows {kept!r} from "
                "earlier turns: context must not outlive its turn (or shows_context() says yes "
                "too easily)"
            )

    @pytest.mark.asyncio
    async def test_content_blocks_round_trip(self, adapter_under_test: AdapterUnderTest) -> None:
        """Messages generated by Hypothesis (text, image, file, reasoning and non-standard
        blocks with provider extras, tool calls, tool results, usage, metadata) validate from
        plain JSON into typed ``ChatMessage`` objects and come back unchanged from JSON, from the
        stores' row codec and from a memory and a SQLite store; then the adapter accepts every
        generated user message as a turn (echoing it, where the test class's ``echoed`` says
        how) and, with ``persistence="snapshot"``, restores a conversation holding them.

        To fix: the first part fails only on a core bug (report it with the shrunk example).
        In the adapter, convert content blocks and tool calls to the framework's shapes and
        back (langchain-core's standard blocks are the same JSON); never assume
        ``message.content`` is a string (``message.text`` gives the text either way); keep
        blocks you cannot show the model rather than failing the turn.
        """
        generated = generate(self.content_examples)
        await _stores_round_trip(generated)
        users = generate(min(self.content_examples, 10), roles=("user",), blocks=True)
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-content")
            log: list[ChatMessage] = []
            for sent in users:
                reply = await h.turn(instance, sent)
                log += [sent, *reply]
                echoed = self.echoed(sent, _last(reply))
                assert echoed is None or echoed, (
                    f"the reply {_show(_last(reply))} does not echo the message sent "
                    f"({sent.model_dump(mode='json')!r}) as echoed() expects: the adapter "
                    "dropped or mangled its content blocks"
                )
            if type(adapter_under_test.framework).persistence == "snapshot":
                assert isinstance(instance, SupportsSnapshot)
                stored = json.loads(_json_round_trip(await _snapshot(instance), "with blocks"))
                for snapshot, messages in ((stored, []), (None, log)):
                    new = await h.create(
                        "conformance-content", factory=adapter_under_test.new_factory()
                    )
                    assert isinstance(new, SupportsSnapshot)
                    await _restore(new, snapshot, messages)
                    await h.turn(new, *_texts("content", 1))
                    await h.destroy(new)

    @pytest.mark.asyncio
    async def test_turn_reports_usage(self, adapter_under_test: AdapterUnderTest) -> None:
        """Every completed turn reports its token usage: ``TurnOutput.usage``, or the ``usage``
        of the messages it produced, with some tokens counted. Skipped when the test class sets
        ``reports_usage = False``.

        To fix: read the framework's usage (langchain's ``AIMessage.usage_metadata``, OpenAI
        Agents' ``result.context_wrapper.usage``) and return it as
        ``sessionful.Usage(input_tokens=..., output_tokens=...)`` for this turn only (not the
        session's running total); if your framework never reports usage, set
        ``reports_usage = False`` on the test class.
        """
        if not self.reports_usage:
            pytest.skip(f"{type(self).__name__}.reports_usage is False")
        t1, t2 = _texts("usage", 2)
        async with adapter_under_test.harness() as h:
            instance = await h.create("conformance-usage")
            for text in (t1, t2):
                output = await h.run(instance, text)
                usage = turn_usage(output)
                assert usage is not None, (
                    "the turn reported no usage (TurnOutput.usage and every message's usage "
                    "are None); report the framework's token counts, or set "
                    "reports_usage = False"
                )
                assert usage.total_tokens > 0, f"the turn reported {usage!r}: no tokens at all"


class ManagerTests(AdapterFixtures):
    """The adapter driven by a real :class:`~sessionful.SessionManager`, as users run it."""

    @pytest.mark.asyncio
    async def test_session_manager_creates_then_reuses(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """Through a ``SessionManager``: a session's first turn reports ``created``, its next
        ``reused`` with memory of the first, another session is ``created`` apart, an ended
        session is ``created`` again, and closing the manager leaves no live instance.

        To fix: if the earlier factory tests pass and this fails, look at what the manager
        adds: it passes ``framework_settings`` through ``create_agent_factory`` once, sends the
        command's messages as one ``ainvoke`` request, and calls ``destroy_agent`` with
        ``"ended"`` on end and ``"shutdown"`` on close.
        """
        a = adapter_under_test
        t1, t2, t3, t4 = _texts("manager", 4)
        key_a, key_b = a.key("conformance-manager-a"), a.key("conformance-manager-b")

        def command(session_id: str | None, text: str) -> ExecuteAgentCommand:
            return ExecuteAgentCommand(
                agent_id=a.agent.id, session_id=session_id, messages=[ChatMessage.user(text)]
            )

        manager = a.manager()
        async with manager:
            first = await manager.execute(command(key_a.session_id, t1))
            assert (first.instance_event, first.session_key) == ("created", key_a)
            assert first.messages and first.messages[-1].role == "assistant"
            again = await manager.execute(command(key_a.session_id, t2))
            assert again.instance_event == "reused", (
                f"the second turn of a session reported {again.instance_event!r}, not 'reused'"
            )
            assert self.recalls(_last(again.messages), [t1]), (
                "the reused instance forgot the session's first turn"
            )
            other = await manager.execute(command(key_b.session_id, t3))
            assert other.instance_event == "created"
            assert not self.recalls(_last(other.messages), [t1]), (
                "another session's first turn shows this session's message"
            )
            live = manager.get_agent(key_a)
            assert live is not None and live.key == key_a
            assert set(manager.list_agents()) == {key_a, key_b}
            ended = await manager.end_session(a.agent.id, key_a.session_id)
            assert ended.unloaded, "end_session found no live instance to destroy"
            reborn = await manager.execute(command(key_a.session_id, t4))
            assert reborn.instance_event == "created"
        stats = manager.stats()
        assert stats.active == 0, f"{stats.active} instances stayed live after the manager closed"
        assert (stats.created, stats.reused, stats.failed) == (3, 1, 0), stats

    @pytest.mark.asyncio
    async def test_session_manager_runs_distinct_sessions_concurrently(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """Concurrent first turns of distinct sessions each create their own instance; a second
        concurrent round reuses them, each remembering only its own session.

        To fix: see test_concurrent_create_on_distinct_keys; this is the same through the
        manager, which creates instances for distinct keys in parallel.
        """
        a = adapter_under_test
        n = max(2, self.concurrency)
        firsts, seconds = _texts("manager-concurrent", n), _texts("manager-concurrent-2", n)

        async def turn(i: int, text: str) -> tuple[str, ChatMessage]:
            result = await manager.execute(
                ExecuteAgentCommand(
                    agent_id=a.agent.id,
                    session_id=f"conformance-manager-concurrent-{i}",
                    messages=[ChatMessage.user(text)],
                )
            )
            return result.instance_event, _last(result.messages)

        manager = a.manager()
        async with manager:
            created = await asyncio.gather(*(turn(i, firsts[i]) for i in range(n)))
            assert [event for event, _ in created] == ["created"] * n
            assert manager.stats().created == n
            reused = await asyncio.gather(*(turn(i, seconds[i]) for i in range(n)))
            assert [event for event, _ in reused] == ["reused"] * n
            for i, (_, reply) in enumerate(reused):
                assert self.recalls(reply, [firsts[i]]), f"session {i} forgot its first turn"
                other = firsts[(i + 1) % n]
                assert not self.recalls(reply, [firsts[i], other]), (
                    f"session {i} saw session {(i + 1) % n}'s message"
                )
        assert manager.stats().active == 0

    @pytest.mark.asyncio
    async def test_session_manager_interrupt_cycle(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """Through a ``SessionManager``, with ``execute`` and with ``stream``: the asking turn
        ends ``status="interrupted"`` with the interrupts, ``session_stats`` lists them, a turn
        that does not answer raises ``InterruptPending``, and the turn that answers with
        ``resume`` completes. Skipped when the framework declares ``interrupts = False``.

        To fix: if test_interrupt_then_resume_completes passes and this fails, look at
        ``astream``: a stream must end with a ``TurnOutput`` carrying the interrupts (or yield
        nothing but chunks only when the turn completed), and take ``resume`` like ``ainvoke``.
        """
        asking = _interrupting(self, adapter_under_test)
        a = adapter_under_test
        manager = a.manager()
        async with manager:
            for session_id, streamed in (
                ("conformance-hitl", False),
                ("conformance-hitl-sse", True),
            ):
                key = a.key(session_id)
                turn = functools.partial(_manager_turn, manager, a, session_id, streamed)
                how = "stream" if streamed else "execute"
                stopped = await turn(messages=[ChatMessage.user(m) for m in asking])
                assert stopped.status == "interrupted" and stopped.interrupts, (
                    f"through {how}, the asking turn ended {stopped.status!r} with interrupts "
                    f"{stopped.interrupts!r}"
                )
                stats = manager.session_stats(key)
                assert stats is not None and stats.interrupts == stopped.interrupts
                with pytest.raises(InterruptPending):
                    await turn(messages=[ChatMessage.user("Never mind.")])
                resumed = await turn(resume=_answers(self, stopped.interrupts))
                assert resumed.status == "completed", f"through {how}: {resumed.status!r}"
                _check_resumed(self, resumed.messages, resumed.interrupts, stopped.interrupts)
                stats = manager.session_stats(key)
                assert stats is not None and stats.interrupts == []

    @pytest.mark.asyncio
    async def test_interrupt_survives_eviction_and_restart(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """Under the ``persisted`` strategy (memory store), a session waiting for an answer is
        evicted, and the store still lists its interrupts; a turn without the answer still
        raises ``InterruptPending`` (on a restored instance); after another eviction a new
        manager on the same store (a restart) takes the ``resume``, reports ``restored`` and
        completes the turn, remembering the session's first turn. Skipped when the framework
        declares ``interrupts = False`` or no persistence.

        To fix: see test_pending_interrupt_survives_snapshot_and_restore (snapshot) or, with
        ``persistence="native"``, keep the paused run in the framework's store and do not delete
        it on eviction; ``restore`` (or a new instance on the native store) must be able to
        continue the paused run.
        """
        asking = _interrupting(self, adapter_under_test)
        a = adapter_under_test
        if type(a.framework).persistence is None:
            pytest.skip(f"{a.name} declares persistence=None: its sessions cannot be persisted")
        key = a.key("conformance-hitl-persisted")
        t1, t2 = _texts("hitl-persisted", 2)
        store = MemoryStore()

        def command(**fields: Any) -> ExecuteAgentCommand:
            return ExecuteAgentCommand(agent_id=a.agent.id, session_id=key.session_id, **fields)

        manager = a.manager(strategy="persisted", store=store)
        async with manager:
            await manager.execute(command(messages=[ChatMessage.user(t1)]))
            stopped = await manager.execute(command(messages=[ChatMessage.user(m) for m in asking]))
            assert stopped.status == "interrupted" and stopped.interrupts
            assert await manager.evict(key)
            record = await manager.session_record(key)
            assert record is not None and record.interrupts == stopped.interrupts, (
                f"the store lists {record and record.interrupts!r} after eviction, not "
                f"{stopped.interrupts!r}"
            )
            with pytest.raises(InterruptPending):
                await manager.execute(command(messages=[ChatMessage.user("Never mind.")]))
            assert await manager.evict(key)
        restarted = a.manager(strategy="persisted", store=store)
        async with restarted:
            resumed = await restarted.execute(command(resume=_answers(self, stopped.interrupts)))
            assert resumed.instance_event == "restored"
            _check_resumed(self, resumed.messages, resumed.interrupts, stopped.interrupts)
            later = await restarted.execute(command(messages=[ChatMessage.user(t2)]))
            assert self.recalls(_last(later.messages), [t1]), (
                f"after eviction, restart and resume the reply {_show(_last(later.messages))} "
                "forgot the session's first turn"
            )

    @pytest.mark.asyncio
    async def test_session_manager_delivers_context_and_usage(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """Through a ``SessionManager``: ``ExecuteAgentCommand.context`` reaches the agent
        (when the test class has a ``context_probe``), each turn's ``ExecutionResult.usage`` is
        reported and ``session_stats`` sums the tokens (unless ``reports_usage = False``).
        Skipped when neither applies.

        To fix: see test_context_reaches_its_turn_only and test_turn_reports_usage; the manager
        passes the command's context in the request and sums ``TurnOutput.usage`` (or the
        produced messages' usage when it is ``None``).
        """
        a = adapter_under_test
        if self.context_probe is None and not self.reports_usage:
            pytest.skip("the test class has no context_probe and reports_usage is False")
        key = a.key("conformance-manager-contract")
        context = {"user_id": "conformance-user-3", "locale": "pt-BR"}
        texts = list(self.context_probe) if self.context_probe is not None else _texts("ctx", 1)
        manager = a.manager()
        async with manager:
            results = [
                await manager.execute(
                    ExecuteAgentCommand(
                        agent_id=a.agent.id,
                        session_id=key.session_id,
                        messages=[ChatMessage.user(t) for t in texts],
                        context=context,
                    )
                )
                for _ in range(2)
            ]
            if self.context_probe is not None:
                reply = _last(results[0].messages)
                assert self.shows_context(reply, context), (
                    f"through the manager, the reply {_show(reply)} does not show the "
                    f"command's context {context!r}"
                )
            if self.reports_usage:
                usages = [r.usage for r in results]
                assert all(u is not None for u in usages), f"turns reported usage {usages!r}"
                stats = manager.session_stats(key)
                assert stats is not None
                assert (stats.input_tokens, stats.output_tokens) == (
                    sum(u.input_tokens for u in usages if u is not None),
                    sum(u.output_tokens for u in usages if u is not None),
                )


class PackageTests(AdapterFixtures):
    """How the adapter is installed and found: an entry point, and an import that does nothing."""

    def test_framework_registered_through_entry_point(
        self, adapter_under_test: AdapterUnderTest
    ) -> None:
        """An installed plugin registers this framework under its name, so
        ``SessionManager(framework="<name>")`` finds it exactly as it finds a third party's.

        To fix: in pyproject.toml add ``[project.entry-points.sessionful]`` with
        ``<name> = "<your_module>"``; in that module define
        ``@hookimpl def register_frameworks(register): register(YourFramework())``; reinstall
        the package so the entry point is seen. Check ``SESSIONFUL_LOAD_PLUGINS`` too.
        """
        framework = adapter_under_test.framework
        frameworks = Plugins().get_frameworks()
        found = frameworks.get(adapter_under_test.name)
        assert found is not None, (
            f"no installed plugin registers a framework named {adapter_under_test.name!r} "
            f"(registered: {sorted(frameworks)}; {LOAD_PLUGINS_ENV} may limit which load)"
        )
        assert type(found) is type(framework), (
            f"the framework registered as {adapter_under_test.name!r} is a "
            f"{type(found).__qualname__}, not this suite's {type(framework).__qualname__}"
        )

    def test_package_import_has_no_side_effects(
        self, adapter_under_test: AdapterUnderTest, tmp_path: Path
    ) -> None:
        """Importing the adapter in a fresh interpreter prints nothing, warns nothing, starts no
        thread, configures no logging, changes no environment variable, writes no file and
        does not import pytest or this suite.

        To fix: move work from module level into ``create_agent_factory`` or ``create_agent``
        (connections, model downloads, ``logging.basicConfig``, background threads); import
        test helpers only from tests. Set ``adapter_module`` on the test class if the module
        to import is not the framework class's own.
        """
        module = self.adapter_module or type(adapter_under_test.framework).__module__
        workdir = tmp_path / "cwd"
        workdir.mkdir()
        report_path = tmp_path / "import-report.json"
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, module, str(report_path)],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"`import {module}` failed:\n{done.stderr}"
        assert not done.stdout, f"`import {module}` printed:\n{done.stdout}"
        assert not done.stderr, f"`import {module}` wrote to stderr:\n{done.stderr}"
        report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
        effects = {what: found for what, found in report.items() if found}
        written = sorted(p.name for p in workdir.iterdir())
        if written:
            effects["files written to the working directory"] = written
        assert not effects, f"`import {module}` has side effects: {effects}"


# pytest runs inherited tests from the last base in the MRO first: this order runs the boundary
# tests first, so the failure that explains the others comes at the top.
class AdapterTests(PackageTests, ManagerTests, PersistenceTests, TurnTests, FactoryTests):
    """The whole conformance suite. Subclass it as ``Test<YourAdapter>``; see the package doc."""


# Runs in a fresh interpreter: argv[1] is the module, argv[2] the report path.
_IMPORT_PROBE = """
import importlib, json, logging, os, sys, threading, warnings
module, report_path = sys.argv[1], sys.argv[2]
threads = {t.ident for t in threading.enumerate()}
handlers, level = list(logging.root.handlers), logging.root.level
environ = dict(os.environ)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    importlib.import_module(module)
report = {
    "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    "threads started": [t.name for t in threading.enumerate() if t.ident not in threads],
    "root logging handlers added": [repr(h) for h in logging.root.handlers if h not in handlers],
    "root logging level changed": logging.root.level != level,
    "environment variables changed": sorted(
        k for k in set(os.environ) | set(environ) if os.environ.get(k) != environ.get(k)
    ),
    "test tools imported": sorted(
        m for m in ("pytest", "_pytest", "pytest_asyncio", "sessionful.testing")
        if m in sys.modules
    ),
}
with open(report_path, "w", encoding="utf-8") as f:
    json.dump(report, f)
"""


def _json_round_trip(snapshot: Any, when: str) -> str:
    """The snapshot as canonical JSON text, asserting it is JSON and survives the trip."""
    assert isinstance(snapshot, dict), (
        f"snapshot() {when} returned {type(snapshot).__name__}; it must return a dict"
    )
    try:
        text = json.dumps(snapshot, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"snapshot() {when} is not JSON-serialisable: {exc}") from exc
    assert json.loads(text) == snapshot, (
        f"snapshot() {when} changes under a JSON round trip (tuples, non-string keys?): "
        f"{snapshot!r}"
    )
    return text


def _referrers(obj: object) -> str:
    """A short description of what still holds ``obj``, for a leak message."""
    if obj is None:
        return "nothing (collected)"
    holders = [type(r).__qualname__ for r in gc.get_referrers(obj) if r is not obj]
    return f"held by {', '.join(holders[:5]) or 'an unknown referrer'}"
