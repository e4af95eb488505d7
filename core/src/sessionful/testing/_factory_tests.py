"""The boundary alone: building, running and destroying instances, isolation, concurrency, leaks."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from sessionful.factory import AgentFactory, AgentInstance
from sessionful.keys import MAX_ID_LENGTH
from sessionful.models import ChatMessage
from sessionful.testing._fixtures import AdapterFixtures
from sessionful.testing._harness import AdapterUnderTest
from sessionful.testing._helpers import _last, _show, _texts


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


def _referrers(obj: object) -> str:
    """A short description of what still holds ``obj``, for a leak message."""
    if obj is None:
        return "nothing (collected)"
    holders = [type(r).__qualname__ for r in gc.get_referrers(obj) if r is not obj]
    return f"held by {', '.join(holders[:5]) or 'an unknown referrer'}"
