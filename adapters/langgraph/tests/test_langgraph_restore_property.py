"""Property: under ``persisted``, whatever a graph does to its state (adds, removes and rewrites
keys and messages, ``RemoveMessage`` included) and wherever the process stops or the session is
evicted, the restored state is the last acknowledged one: in both persistence modes."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AnyMessage, RemoveMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    SessionKey,
    SessionManager,
    TurnRequest,
    hookimpl,
)
from sessionful_langgraph import LangGraphAgent, template
from sessionful_langgraph.templates import BuildContext

BOT = "mutator"
KEY = SessionKey(BOT, "s")


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    kv: dict[str, int]
    turns: int


def build_mutator(context: BuildContext) -> StateGraph[Any]:
    """Reads its orders from the last user message: ``set k v``, ``del k``, ``trim n`` (keep the
    last n messages: RemoveMessage), ``rewrite`` (replace the first message in place)."""

    async def act(state: State) -> dict[str, Any]:
        orders = str(state["messages"][-1].content).split(";")
        kv = dict(state.get("kv", {}))
        update: dict[str, Any] = {}
        messages: list[Any] = []
        for order in orders:
            verb, *args = order.split()
            if verb == "set":
                kv[args[0]] = int(args[1])
            elif verb == "del":
                kv.pop(args[0], None)
            elif verb == "trim":
                keep = int(args[0])
                old = state["messages"][:-keep] if keep else state["messages"]
                messages += [RemoveMessage(id=str(m.id)) for m in old]
            elif verb == "rewrite":
                first = state["messages"][0]
                messages.append(first.model_copy(update={"content": f"rewritten {first.content}"}))
        update["kv"] = kv
        update["turns"] = state.get("turns", 0) + 1
        update["messages"] = messages
        return update

    async def reply(state: State) -> dict[str, Any]:
        return {"messages": [AIMessage(f"done {state['turns']}: {sorted(state['kv'].items())}")]}

    graph = StateGraph(State)
    graph.add_node("act", act)
    graph.add_node("reply", reply)
    graph.add_edge(START, "act")
    graph.add_edge("act", "reply")
    graph.add_edge("reply", END)
    return graph


class Templates:
    @hookimpl
    def register_templates(self, register: Any) -> None:
        register(template("mutator", "1", build_mutator))


def manager_on(db: Path, persistence: str) -> SessionManager:
    return SessionManager(
        framework="langgraph",
        strategy="persisted",
        store=f"sqlite:///{db}",
        plugins=[Templates()],
        agents=[AgentDefinition(id=BOT, name="Mutator", template_id="mutator")],
        framework_settings={"persistence": persistence},
    )


def visible(values: dict[str, Any]) -> tuple[Any, ...]:
    """The state as a graph sees it: messages (type, id, content), keys, the turn count."""
    messages = tuple((m.type, m.id, m.content) for m in values.get("messages", ()))
    return messages, tuple(sorted(values.get("kv", {}).items())), values.get("turns")


async def state_of(manager: SessionManager) -> tuple[Any, ...]:
    await manager.state_history(KEY, limit=1)  # loads (restores) the instance, runs no turn
    instance = manager.get_agent(KEY)
    assert isinstance(instance, LangGraphAgent)
    state = await instance.graph.aget_state(instance._thread_config())
    return visible(state.values)


keys = st.sampled_from(["a", "b", "c"])
orders = st.one_of(
    st.builds(lambda k, v: f"set {k} {v}", keys, st.integers(0, 9)),
    st.builds(lambda k: f"del {k}", keys),
    st.builds(lambda n: f"trim {n}", st.integers(0, 3)),
    st.just("rewrite"),
)
turns = st.lists(orders, min_size=1, max_size=3).map(";".join)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("turn"), turns),
        st.tuples(st.just("unacknowledged"), turns),  # checkpointed, then the process stops
        st.tuples(st.just("crash"), st.none()),  # the process stops (nothing closed)
        st.tuples(st.just("evict"), st.none()),
    ),
    min_size=1,
    max_size=8,
)


async def scenario(db: Path, persistence: str, plan: list[tuple[str, str | None]]) -> None:
    manager = manager_on(db, persistence)
    acknowledged: tuple[Any, ...] | None = None
    for n, (step, text) in enumerate(plan):
        if step == "turn":
            command = ExecuteAgentCommand(
                agent_id=BOT, session_id="s", messages=[ChatMessage.user(f"{text}")]
            )
            await manager.execute(command)
            acknowledged = await state_of(manager)
            continue
        if acknowledged is None:
            continue  # nothing stored yet: nothing to restore
        if step == "evict":
            await manager.evict(KEY)
        else:
            if step == "unacknowledged":
                await manager.state_history(KEY, limit=1)
                instance = manager.get_agent(KEY)
                assert isinstance(instance, LangGraphAgent)
                request = TurnRequest(messages=[ChatMessage.user(str(text))])
                await instance.ainvoke(request)  # the graph ran and checkpointed; no ack
            assert manager.store is not None
            await manager.store.aclose()  # the process stops: no shutdown, no unload
            manager = manager_on(db, persistence)
        assert await state_of(manager) == acknowledged, f"after step {n}: {step}"
    await manager.aclose()


@pytest.mark.parametrize("persistence", ["native", "snapshot"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=steps)
def test_restored_state_is_the_last_acknowledged_one(
    persistence: str, plan: list[tuple[str, str | None]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(scenario(Path(folder) / "s.db", persistence, plan))
