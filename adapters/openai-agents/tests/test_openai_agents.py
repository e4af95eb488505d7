"""The openai-agents adapter through the manager: memory, tools, approvals, context, usage,
streams, handoffs, both persistence modes, end vs evict."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    SessionKey,
    SessionManager,
    StreamEvent,
    SupportsStream,
    TurnRequest,
)
from sessionful.stores import SQLiteStore
from sessionful_openai_agents import OpenAIAgentsFactory, OpenAIAgentsFramework, SessionfulSession

SUPPORT = AgentDefinition(id="support", name="Support", template_id="tool-agent")


def manager(strategy: str = "per_session", **options: Any) -> SessionManager:
    return SessionManager(framework="openai-agents", strategy=strategy, agents=[SUPPORT], **options)


async def say(
    m: SessionManager, text: str | None, session: str = "s1", **options: Any
) -> ExecutionResult:
    messages = [ChatMessage.user(text)] if text else []
    return await m.execute(
        ExecuteAgentCommand(agent_id="support", session_id=session, messages=messages, **options)
    )


def test_entry_point_imports_nothing_heavy() -> None:
    code = (
        "import sys, sessionful_openai_agents as m; "
        "from sessionful import SessionManager; SessionManager(framework='stub'); "
        "assert 'agents' not in sys.modules, 'the SDK was imported'; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr


async def test_remembers_calls_tools_and_reports_usage() -> None:
    async with manager() as m:
        first = await say(m, "My name is Ada")
        assert first.instance_event == "created"
        reply = await say(m, "What is my name?")
        assert (reply.instance_event, reply.messages[-1].text) == ("reused", "Your name is Ada.")
        assert (await say(m, "What is my name?", session="s2")).messages[-1].text == (
            "You have not told me your name."
        )
        order = await say(m, "What's the status of order A-17?")
        call, output, answer = order.messages
        assert call.tool_calls[0].name == "order_status"
        assert call.tool_calls[0].args == {"order_id": "A-17"}
        assert (output.role, output.name, output.tool_call_id) == (
            "tool",
            "order_status",
            call.tool_calls[0].id,
        )
        assert answer.text.startswith("Your order status: order A-17 is")
        assert order.usage is not None and order.usage.input_tokens > 0
        stats = m.session_stats(order.session_key)
        assert stats is not None and stats.output_tokens > 0


@pytest.mark.parametrize(
    ("answer", "reply"),
    [
        (True, "Refund: refunded $20.00"),
        ("approve", "Refund: refunded $20.00"),
        (False, "Refund: Tool execution was not approved"),
        ("reject", "Refund: Tool execution was not approved"),
    ],
)
async def test_tool_approval_is_an_interrupt(answer: Any, reply: str) -> None:
    async with manager() as m:
        asked = await say(m, "Please refund $20 on order A-17")
        assert asked.status == "interrupted"
        (interrupt,) = asked.interrupts
        assert interrupt.value == {
            "tool": "refund",
            "arguments": {"order_id": "A-17", "amount": 20.0},
        }
        done = await say(m, None, resume={interrupt.id: answer})
        assert done.status == "completed"
        assert done.messages[-1].text.startswith(reply)
        assert done.messages[0].role == "tool"  # the call itself was reported with the question
        assert (await say(m, "What's my order status?")).status == "completed"


async def test_context_is_per_turn_and_not_stored(tmp_path: Path) -> None:
    async with manager("persisted", store=f"sqlite:///{tmp_path / 's.db'}") as m:
        shown = await say(m, "context?", context={"user": "u-1", "locale": "fr"})
        assert shown.messages[-1].text == 'context: {"locale":"fr","user":"u-1"}'
        assert (await say(m, "context?")).messages[-1].text == "context: {}"
        asked = await say(m, "refund $5 please", context={"user": "secret-u"})
        assert asked.status == "interrupted"
        store = m.store
        assert store is not None
        state = await SessionfulSession(str(asked.session_key), store).get_state()
        assert "secret-u" not in str(state)  # the pending run is kept without the context


async def test_stream_yields_text_deltas_tool_events_and_the_result() -> None:
    async with manager() as m:
        await say(m, "My name is Ada")
        command = ExecuteAgentCommand(
            agent_id="support", session_id="s1", messages=[ChatMessage.user("Status of order A-1?")]
        )
        parts = [part async for part in m.stream(command)]
        events = [p for p in parts if isinstance(p, StreamEvent)]
        assert {e.data["event"] for e in events if e.type == "tool"} >= {
            "tool_called",
            "tool_output",
        }
        chunks = "".join(p.text for p in parts if isinstance(p, ChatMessage))
        assert chunks.startswith("Your order status: order A-1 is")
        result = parts[-1]
        assert isinstance(result, ExecutionResult)
        assert result.messages[-1].text == chunks


async def test_an_abandoned_stream_leaves_the_session_as_it_was() -> None:
    factory = OpenAIAgentsFramework().create_agent_factory({})
    async with manager() as m:
        await say(m, "My name is Ada")
        instance = m.get_agent(m.key_for("support", "s1"))
        assert instance is not None
        assert isinstance(instance, SupportsStream)
        stream = instance.astream(TurnRequest(messages=[ChatMessage.user("My name is Bob")]))
        first = await stream.__anext__()
        assert isinstance(first, StreamEvent | ChatMessage)
        await getattr(stream, "aclose")()  # noqa: B009  # an async generator, typed as an iterator
        assert (await say(m, "What is my name?")).messages[-1].text == "Your name is Ada."
    assert factory is not None


async def test_persisted_survives_restart_and_end_deletes_items(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    async with manager("persisted", store=url) as m:
        await say(m, "My name is Ada")
        await say(m, "Status of order A-9?")
    async with manager("persisted", store=url) as m:
        again = await say(m, "What is my name?")
        assert (again.instance_event, again.messages[-1].text) == ("restored", "Your name is Ada.")
        assert await m.evict(again.session_key)
        store = m.store
        assert store is not None
        items = SessionfulSession(str(again.session_key), store)
        assert len(await items.get_items()) == 8  # eviction keeps them
        report = await m.end_session("support", "s1")
        assert report.deleted.get("items") == 8
        assert await items.get_items() == []
        fresh = await say(m, "What is my name?")
        assert fresh.messages[-1].text == "You have not told me your name."


async def test_a_pending_approval_survives_eviction_and_restart(tmp_path: Path) -> None:
    """The RunState is kept with the session's items: a new instance, in a new process (a new
    factory and store object), resumes it."""
    path = tmp_path / "s.db"
    key = SessionKey("support", "s1")
    request = SessionManager(framework="openai-agents", agents=[SUPPORT])  # for the template

    async def instance(store: SQLiteStore) -> Any:
        factory = OpenAIAgentsFramework().create_agent_factory({})
        from sessionful import AgentCreateRequest

        template = request.plugins.get_templates("openai-agents")[("tool-agent", "1")]
        made = await factory.create_agent(AgentCreateRequest.for_session(SUPPORT, key, template))
        lease, _ = await store.claim(key, "node", "tool-agent", "1", 0.0)
        await made.bind_store(store, lease)  # type: ignore[attr-defined]
        return factory, made

    store = SQLiteStore(path)
    factory, old = await instance(store)
    await old.ainvoke(TurnRequest(messages=[ChatMessage.user("My name is Ada")]))
    asked = await old.ainvoke(TurnRequest(messages=[ChatMessage.user("Refund $7 on order A-3")]))
    (interrupt,) = asked.interrupts
    await factory.destroy_agent(old, "evicted")
    await store.aclose()

    store = SQLiteStore(path)  # "restart"
    factory, new = await instance(store)
    done = await new.ainvoke(TurnRequest(resume={interrupt.id: "approve"}))
    assert done.messages[-1].text == "Refund: refunded $7.00 on order A-3"
    name = await new.ainvoke(TurnRequest(messages=[ChatMessage.user("What is my name?")]))
    assert name.messages[-1].text == "Your name is Ada."
    await store.aclose()


async def test_per_session_eviction_keeps_items_and_end_deletes_them() -> None:
    async with manager() as m:
        factory = m._factory
        assert isinstance(factory, OpenAIAgentsFactory)
        first = await say(m, "My name is Ada")
        await m.evict(first.session_key)
        assert await factory.has_items(first.session_key)
        assert (await say(m, "What is my name?")).messages[-1].text == "Your name is Ada."
        await m.end_session("support", "s1")
        assert not await factory.has_items(first.session_key)


async def test_agent_by_reference_with_handoffs_across_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_bots.py").write_text(
        textwrap.dedent(
            """
            from agents import Agent
            from sessionful_openai_agents import OfflineModel

            billing = Agent(name="billing", instructions="Billing.", model=OfflineModel())
            triage = Agent(name="triage", instructions="Route.", model=OfflineModel(),
                           handoffs=[billing])
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    bot = AgentDefinition(
        id="bot", name="Bot", template_id="agent", configuration={"agent": "my_bots:triage"}
    )
    async with SessionManager(framework="openai-agents", agents=[bot]) as m:

        async def turn(text: str) -> ExecutionResult:
            return await m.execute(
                ExecuteAgentCommand(
                    agent_id="bot", session_id="h", messages=[ChatMessage.user(text)]
                )
            )

        handed = await turn("I have a billing question")
        assert handed.messages[0].tool_calls[0].name == "transfer_to_billing"
        stream = [
            p
            async for p in m.stream(
                ExecuteAgentCommand(
                    agent_id="bot", session_id="h", messages=[ChatMessage.user("hi")]
                )
            )
        ]
        agents = [
            p.data["name"] for p in stream if isinstance(p, StreamEvent) and p.type == "agent"
        ]
        assert agents == ["billing"]  # the next turn starts where the last one was handed to


def test_the_demo_tells_the_same_story(tmp_path: Path) -> None:
    from rich.console import Console

    from sessionful.cli.demo import run_demo

    console = Console(record=True, width=120)
    run_demo(tmp_path / "demo.db", console, framework="openai-agents")
    text = console.export_text()
    for line in (
        "agent: Your name is Bob.",
        "agent calls order_status(",
        "interrupted: asks",
        "agent: Refund: refunded $20.00 on order A-1001",
        "restored from SQLite: session-ada, session-bob",
        "agents built: 1 for 2 sessions",
    ):
        assert line in text, line
