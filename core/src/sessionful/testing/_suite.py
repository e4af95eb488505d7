"""The conformance tests, grouped by what they exercise. Each docstring says what to fix."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sessionful._plugins import LOAD_PLUGINS_ENV, Plugins
from sessionful.factory import AgentFactory, AgentInstance, SupportsSnapshot
from sessionful.keys import MAX_ID_LENGTH
from sessionful.models import ChatMessage, ExecuteAgentCommand
from sessionful.testing._fixtures import AdapterFixtures
from sessionful.testing._harness import AdapterUnderTest

__all__ = ["AdapterTests", "FactoryTests", "ManagerTests", "PackageTests", "PersistenceTests"]

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
    text = message.content
    if len(text) > limit:
        text = f"{text[: limit // 2]} ... {text[-limit // 2 :]}"
    return repr(text)


class FactoryTests(AdapterFixtures):
    """The boundary itself: ``Framework``, ``AgentFactory`` and ``AgentInstance``, no manager."""

    def test_framework_is_well_formed(self, adapter_under_test: AdapterUnderTest) -> None:
        """The framework declares a name and its capabilities as class attributes and makes a
        factory from settings.

        To fix: subclass :class:`sessionful.Framework`; set ``name: ClassVar[str]``,
        ``native_sessions: ClassVar[bool]`` and ``persistence: ClassVar[Persistence | None]``
        on the class (the manager reads them, it never probes); make
        ``create_agent_factory(settings)`` return an object with async ``create_agent`` and
        ``destroy_agent`` methods, without connecting anywhere.
        """
        framework = adapter_under_test.framework
        cls = type(framework)
        name = getattr(cls, "name", None)
        assert isinstance(name, str) and name, (
            f"{cls.__name__} has no class attribute `name: ClassVar[str]` (got {name!r})"
        )
        native_sessions = getattr(cls, "native_sessions", None)
        assert isinstance(native_sessions, bool), (
            f"{cls.__name__}.native_sessions must be a bool class attribute, not "
            f"{native_sessions!r}"
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
        ``async def ainvoke(messages)``.
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
        """``ainvoke(messages)`` returns only what the agent produced this turn: a list of
        :class:`ChatMessage`, the assistant's reply last, without the user's input and without
        earlier turns.

        To fix: return the messages the framework added during this call (for a graph, slice
        the state's messages from the length they had before the turn); convert them to
        ``ChatMessage``; return a new list, not the instance's history.
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

        To fix: add every message of ``messages`` to the conversation, in order, not just the
        last one; map ``role="system"`` to your framework's system message.
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
        conversation. Skipped when the framework keeps sessions itself (``native_sessions`` or
        ``persistence="native"``), where continuing is the point.

        To fix: hold the conversation in the instance, so destroying it frees it; state left
        on the factory under the key is a leak that grows with every session ever seen.
        """
        framework = type(adapter_under_test.framework)
        if framework.native_sessions or framework.persistence == "native":
            pytest.skip(
                f"{adapter_under_test.name} keeps sessions itself (native_sessions="
                f"{framework.native_sessions}, persistence={framework.persistence!r}); a new "
                "instance may continue the old conversation"
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
        """``snapshot()`` returns a dict that survives ``json.dumps``/``json.loads`` unchanged,
        before the first turn and after some, and is a copy that later turns do not change.

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
            _json_round_trip(instance.snapshot(), "before any turn")
            t1, t2 = _texts("snapshot-json", 2)
            await h.turn(instance, t1)
            snapshot = instance.snapshot()
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

        To fix: make ``restore(snapshot, [])`` rebuild everything the next turn needs from the dict
        alone (no references to the old instance or factory); accept lists where you produced
        tuples; raise ``ValueError`` on a snapshot you cannot read.
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
            stored = json.loads(_json_round_trip(old.snapshot(), "after two turns"))
            await h.turn(old, t3)
            await h.destroy(old)

            new = await h.create("conformance-snapshot", factory=adapter_under_test.new_factory())
            assert isinstance(new, SupportsSnapshot)
            new.restore(stored, [])
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
            after_first = json.loads(_json_round_trip(old.snapshot(), "after one turn"))
            second = [ChatMessage.user(t2), *(await h.turn(old, t2))]
            await h.destroy(old)

            for snapshot, log in ((None, [*first, *second]), (after_first, second)):
                new = await h.create("conformance-replay", factory=adapter_under_test.new_factory())
                assert isinstance(new, SupportsSnapshot)
                new.restore(snapshot, log)
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
        do not delete it in ``destroy_agent``: eviction unloads an instance, it does not end the
        session.
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
        command's messages as one ``ainvoke`` call, and calls ``destroy_agent`` on end and on
        close.
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
class AdapterTests(PackageTests, ManagerTests, PersistenceTests, FactoryTests):
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
