"""The turn contract on LangGraph: interrupts and resume, per-turn context, usage, a turn that
does not complete is undone, and what persists is the graph's state exactly."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from langchain_core.messages import AIMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    InterruptPending,
    SessionKey,
    SessionManager,
    StreamEvent,
    hookimpl,
)
from sessionful_langgraph import strict_serializer, template
from sessionful_langgraph.templates import BuildContext

BOT = "customer-service-bot"


@dataclass
class UserContext:
    user: str = "nobody"
    locale: str = "en"


def build_context_echo(context: BuildContext) -> StateGraph[Any]:
    """Says what the runtime context and ``configurable`` hold."""

    async def node(
        state: MessagesState, config: RunnableConfig, runtime: Runtime[UserContext]
    ) -> dict[str, Any]:
        seen = config.get("configurable", {}).get("user")
        ctx = runtime.context
        text = f"context={ctx.user if ctx else None}/{ctx.locale if ctx else None} config={seen}"
        return {"messages": [AIMessage(text)]}

    graph = StateGraph(MessagesState, context_schema=UserContext)
    # LangGraph's add_node overloads have no (state, config, runtime) node: pass it untyped.
    graph.add_node("node", cast(Any, node))
    graph.add_edge(START, "node")
    graph.add_edge("node", END)
    return graph  # type: ignore[return-value]


def build_fragile(context: BuildContext) -> StateGraph[Any]:
    """Two nodes: the first adds a note, the second fails on '!boom' and asks on 'ask'."""

    async def note(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"noted {len(state['messages'])}")]}

    async def answer(state: MessagesState) -> dict[str, Any]:
        said = [m.content for m in state["messages"] if m.type == "human"]
        if said[-1] == "!boom":
            raise RuntimeError("boom")
        if said[-1] == "ask":
            first = interrupt("first?")
            second = interrupt({"then": "second?"})
            return {"messages": [AIMessage(f"answers {first} {second}")]}
        return {"messages": [AIMessage(f"heard {' | '.join(str(s) for s in said)}")]}

    graph = StateGraph(MessagesState)
    graph.add_node("note", note)
    graph.add_node("answer", answer)
    graph.add_edge(START, "note")
    graph.add_edge("note", "answer")
    graph.add_edge("answer", END)
    return graph


class TrimState(MessagesState):
    seen: list[str]
    at: dt.datetime


def build_trimmer(context: BuildContext) -> StateGraph[Any]:
    """Replies, then keeps only the last four messages (RemoveMessage), and keeps a non-JSON
    value (a datetime) and a list it rewrites in its state."""

    async def reply(state: TrimState) -> dict[str, Any]:
        said = [m.content for m in state["messages"] if m.type == "human"]
        return {
            "messages": [AIMessage(f"{len(state['messages'])} in view; last {said[-1]}")],
            "seen": [*state.get("seen", []), str(said[-1])][-3:],
            "at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=len(said)),
        }

    async def trim(state: TrimState) -> dict[str, Any]:
        old = state["messages"][:-4]
        return {"messages": [RemoveMessage(id=str(m.id)) for m in old]}

    graph = StateGraph(TrimState)
    graph.add_node("reply", reply)
    graph.add_node("trim", trim)
    graph.add_edge(START, "reply")
    graph.add_edge("reply", "trim")
    graph.add_edge("trim", END)
    return graph


class Templates:
    @hookimpl
    def register_templates(self, register: Any) -> None:
        register(template("context-echo", "1", build_context_echo))
        register(template("fragile", "1", build_fragile))
        register(template("trimmer", "1", build_trimmer))


def agent(template_id: str = "tool-agent") -> AgentDefinition:
    return AgentDefinition(id=BOT, name="Support", template_id=template_id)


def manager_for(template_id: str = "tool-agent", **options: Any) -> SessionManager:
    return SessionManager(
        framework="langgraph", plugins=[Templates()], agents=[agent(template_id)], **options
    )


def say(session: str, text: str, **extra: Any) -> ExecuteAgentCommand:
    return ExecuteAgentCommand(
        agent_id=BOT, session_id=session, messages=[ChatMessage.user(text)], **extra
    )


def resume(session: str, answers: dict[str, Any]) -> ExecuteAgentCommand:
    return ExecuteAgentCommand(agent_id=BOT, session_id=session, resume=answers)


# -- interrupts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "issued"), [("yes", True), ("no", False)])
async def test_a_refund_waits_for_approval(answer: str, issued: bool) -> None:
    async with manager_for() as manager:
        asked = await manager.execute(say("s", "Please refund $20 on order A-7"))
        assert asked.status == "interrupted"
        (question,) = asked.interrupts
        assert question.value == {
            "tool": "refund",
            "args": {"order_id": "A-7", "amount": 20.0},
            "question": "Refund $20.00 on order A-7?",
        }
        assert [m.tool_calls[0].name for m in asked.messages] == ["refund"]
        stats = manager.session_stats(SessionKey(BOT, "s"))
        assert stats is not None and stats.interrupts == [question]
        with pytest.raises(InterruptPending):
            await manager.execute(say("s", "hello?"))
        done = await manager.execute(resume("s", {question.id: answer}))
    assert done.status == "completed" and not done.interrupts
    assert [m.role for m in done.messages] == ["tool", "assistant"]
    assert ("approved and issued" in done.messages[-1].text) is issued


async def test_two_interrupts_in_one_node_are_asked_one_after_the_other() -> None:
    async with manager_for("fragile") as manager:
        first = await manager.execute(say("s", "ask"))
        assert [i.value for i in first.interrupts] == ["first?"]
        assert [m.text for m in first.messages] == ["noted 1"]  # produced before it stopped
        second = await manager.execute(resume("s", {first.interrupts[0].id: "A"}))
        assert [i.value for i in second.interrupts] == [{"then": "second?"}]
        assert second.messages == []
        done = await manager.execute(resume("s", {second.interrupts[0].id: "B"}))
    assert [m.text for m in done.messages] == ["answers A B"]


async def test_a_pending_interrupt_survives_a_restart(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    async with manager_for(strategy="persisted", store=db) as manager:
        asked = await manager.execute(say("s", "refund $5 please"))
    async with manager_for(strategy="persisted", store=db) as manager:
        record = await manager.store.get(asked.session_key)  # type: ignore[union-attr]
        if record is not None and not record.interrupts:
            pytest.xfail("this store does not keep a session's pending interrupts yet")
        done = await manager.execute(resume("s", {asked.interrupts[0].id: "yes"}))
    assert done.instance_event == "restored"
    assert done.messages[-1].text.startswith("Refund: refund of $5.00")


async def test_a_stream_ends_with_the_interrupt() -> None:
    async with manager_for() as manager:
        items = [item async for item in manager.stream(say("s", "refund $3"))]
    result = items[-1]
    assert isinstance(result, ExecutionResult) and result.status == "interrupted"
    assert result.interrupts[0].value["tool"] == "refund"


# -- context and usage ------------------------------------------------------------------------


async def test_context_reaches_the_runtime_context_and_configurable_for_one_turn() -> None:
    async with manager_for("context-echo") as manager:
        first = await manager.execute(say("s", "hi", context={"user": "ada", "locale": "fr"}))
        second = await manager.execute(say("s", "hi"))
    assert first.messages[-1].text == "context=ada/fr config=ada"
    assert second.messages[-1].text == "context=None/None config=None"


async def test_context_cannot_move_the_session_to_another_thread() -> None:
    async with manager_for("fragile") as manager:
        await manager.execute(say("s", "one"))
        hijack = {"thread_id": f"{BOT}#other", "checkpoint_id": "x", "__pregel_x": 1}
        reply = await manager.execute(say("s", "two", context=hijack))
    assert reply.messages[-1].text == "heard one | two"


async def test_usage_is_reported_per_message_and_per_turn() -> None:
    async with manager_for() as manager:
        result = await manager.execute(say("s", "Where is my order A-7?"))
    calls = [m for m in result.messages if m.role == "assistant"]
    assert all(m.usage is not None and m.usage.input_tokens > 0 for m in calls)
    assert result.usage is not None
    assert result.usage.output_tokens == sum(m.usage.output_tokens for m in calls if m.usage)
    assert result.stats.input_tokens == result.usage.input_tokens


# -- a turn that does not complete is undone ---------------------------------------------------


SAVERS = {
    "own": None,
    # InMemorySaver cannot delete_for_runs: the adapter pins the checkpoint before the turn.
    "InMemorySaver": lambda: InMemorySaver(serde=strict_serializer()),
}


@pytest.mark.parametrize("saver", list(SAVERS))
async def test_a_failed_turn_leaves_the_session_as_it_was(saver: str) -> None:
    make = SAVERS[saver]
    settings = {} if make is None else {"checkpointer": make()}
    async with manager_for("fragile", framework_settings=settings) as manager:
        await manager.execute(say("s", "one"))
        with pytest.raises(RuntimeError, match="boom"):
            await manager.execute(say("s", "!boom"))
        with pytest.raises(RuntimeError, match="boom"):
            await manager.execute(say("s", "!boom"))
        after = await manager.execute(say("s", "two"))
    assert [m.text for m in after.messages] == ["noted 4", "heard one | two"]


@pytest.mark.parametrize("saver", list(SAVERS))
async def test_an_abandoned_stream_leaves_the_session_as_it_was(saver: str) -> None:
    make = SAVERS[saver]
    settings = {} if make is None else {"checkpointer": make()}
    async with manager_for("fragile", framework_settings=settings) as manager:
        await manager.execute(say("s", "one"))
        async with contextlib.aclosing(manager.stream(say("s", "lost"))) as stream:
            async for item in stream:
                if isinstance(item, ChatMessage):
                    break
        after = await manager.execute(say("s", "two"))
    assert [m.text for m in after.messages] == ["noted 4", "heard one | two"]


async def test_a_stream_carries_updates_as_typed_events() -> None:
    async with manager_for("fragile") as manager:
        items = [item async for item in manager.stream(say("s", "one"))]
    events = [item for item in items if isinstance(item, StreamEvent)]
    assert [(e.type, next(iter(e.data))) for e in events] == [
        ("updates", "note"),
        ("updates", "answer"),
    ]
    assert events[0].data["note"]["messages"][0]["content"] == "noted 1"


# -- persistence: a restore equals the live state ----------------------------------------------


async def test_a_trimmed_conversation_restores_as_it_was_live(tmp_path: Path) -> None:
    """The correctness bug of 0.1: replaying the message log brought removed messages back."""
    db = f"sqlite:///{tmp_path / 's.db'}"
    async with manager_for("trimmer", strategy="persisted", store=db) as manager:
        for i in range(4):
            await manager.execute(say("s", f"m{i}"))
        live = manager.get_agent(SessionKey(BOT, "s"))
        state = await live.graph.aget_state(live._thread_config())  # type: ignore[union-attr]
    async with manager_for("trimmer", strategy="persisted", store=db) as manager:
        restored = await manager.execute(say("s", "m4"))
        agent_ = manager.get_agent(SessionKey(BOT, "s"))
        after = await agent_.graph.aget_state(agent_._thread_config())  # type: ignore[union-attr]
    assert [m.content for m in state.values["messages"]] == [
        "m2",
        "5 in view; last m2",
        "m3",
        "5 in view; last m3",
    ]
    assert restored.instance_event == "restored"
    assert restored.messages[-1].text == "5 in view; last m4"
    assert after.values["seen"] == ["m2", "m3", "m4"]
    assert after.values["at"] == dt.datetime(2026, 1, 1, 0, 3, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("saver", ["own", "SessionCheckpointer"])
async def test_context_is_never_stored_in_checkpoint_metadata(saver: str) -> None:
    from sessionful_langgraph import SessionCheckpointer

    settings = {} if saver == "own" else {"checkpointer": SessionCheckpointer()}
    async with manager_for("context-echo", framework_settings=settings) as manager:
        await manager.execute(say("s", "hi", context={"user": "secret-4f1d", "locale": "fr"}))
        instance = manager.get_agent(SessionKey(BOT, "s"))
        found = await instance.checkpointer.aget_tuple(  # type: ignore[union-attr]
            {"configurable": {"thread_id": f"{BOT}#s"}}
        )
    assert found is not None
    assert "secret-4f1d" not in repr(found.metadata) and "run_id" in found.metadata
