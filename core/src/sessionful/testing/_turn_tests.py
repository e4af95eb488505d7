"""The turn contract: interrupts, the turn's context, content blocks and token usage."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from sessionful._turns import turn_usage
from sessionful.factory import SupportsSnapshot
from sessionful.keys import SessionKey
from sessionful.models import ChatMessage
from sessionful.stores.base import TurnWrite
from sessionful.stores.memory import MemoryStore
from sessionful.stores.sqlite import SQLiteStore
from sessionful.testing._content import generate
from sessionful.testing._fixtures import AdapterFixtures
from sessionful.testing._harness import AdapterUnderTest
from sessionful.testing._helpers import (
    _answers,
    _check_resumed,
    _interrupting,
    _json_round_trip,
    _last,
    _restore,
    _show,
    _snapshot,
    _texts,
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
