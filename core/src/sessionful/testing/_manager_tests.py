"""The adapter under a real ``SessionManager``."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from sessionful.errors import InterruptPending
from sessionful.manager import SessionManager
from sessionful.models import ChatMessage, ExecuteAgentCommand, ExecutionResult
from sessionful.stores.memory import MemoryStore
from sessionful.testing._fixtures import AdapterFixtures
from sessionful.testing._harness import AdapterUnderTest
from sessionful.testing._helpers import (
    _answers,
    _check_resumed,
    _interrupting,
    _last,
    _show,
    _texts,
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
