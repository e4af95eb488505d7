"""SessionCheckpointer is a LangGraph saver: LangGraph's own conformance suite
(``langgraph-checkpoint-conformance``) passes on the memory, SQLite and Postgres stores, base and
extended capabilities; real graphs run on it, sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt

from sessionful.stores import MemoryStore, SQLiteStore
from sessionful_langgraph import SessionCheckpointer
from support.postgres import postgres_url, store_url

__all__ = ["postgres_url", "store_url"]  # the shared fixtures, imported to be found here

CAPABILITIES = {
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
}


def report_text(report: Any) -> str:
    lines = []
    for name, result in sorted(report.results.items()):
        lines.append(f"{name}: passed={result.passed} failed={result.tests_failed}")
        lines += [f"    {failure}" for failure in result.failures]
    return "\n".join(lines)


async def test_langgraph_conformance_suite_passes_every_capability(store_url: str) -> None:
    @checkpointer_test(name=f"SessionCheckpointer({store_url.split(':')[0]})")
    async def saver() -> AsyncGenerator[SessionCheckpointer, None]:
        async with SessionCheckpointer(store_url) as checkpointer:
            yield checkpointer

    report = await validate(saver)
    assert report.passed_all_base(), report_text(report)
    results = report.results
    claimed = {name for name, result in results.items() if result.detected}
    assert claimed == CAPABILITIES, report_text(report)
    assert all(results[name].passed for name in CAPABILITIES), report_text(report)


def approval_graph() -> StateGraph[Any]:
    def ask(state: MessagesState) -> dict[str, Any]:
        answer = interrupt("approve?")
        return {"messages": [AIMessage(f"answer: {answer}")]}

    graph = StateGraph(MessagesState)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph


async def test_a_graph_interrupts_and_resumes_on_it_and_so_does_a_new_process(
    store_url: str,
) -> None:
    config: Any = {"configurable": {"thread_id": "t1"}}
    memory = MemoryStore()  # a memory store lives as long as its object: share it
    where: Any = memory if store_url == "memory://" else store_url
    async with SessionCheckpointer(where) as saver:
        graph = approval_graph().compile(checkpointer=saver)
        out = await graph.ainvoke({"messages": [HumanMessage("refund?")]}, config)
        (question,) = out["__interrupt__"]
        assert question.value == "approve?"
    async with SessionCheckpointer(where) as saver:  # another process, as far as it can tell
        graph = approval_graph().compile(checkpointer=saver)
        state = await graph.aget_state(config)
        assert [i.id for i in state.interrupts] == [question.id]
        out = await graph.ainvoke(Command(resume={question.id: "yes"}), config)
        assert out["messages"][-1].content == "answer: yes"
        history = [s async for s in graph.aget_state_history(config)]
        assert len(history) >= 2
        await saver.adelete_thread("t1")
        assert (await graph.aget_state(config)).values == {}


def test_sync_graphs_run_on_it_outside_an_event_loop(tmp_path: Path) -> None:
    saver = SessionCheckpointer(f"sqlite:///{tmp_path / 's.db'}")
    try:
        graph = approval_graph().compile(checkpointer=saver)
        config: Any = {"configurable": {"thread_id": "sync"}}
        out = graph.invoke({"messages": [HumanMessage("hi")]}, config)
        answered = graph.invoke(Command(resume=out["__interrupt__"][0].value + " yes"), config)
        assert answered["messages"][-1].content == "answer: approve? yes"
        assert len(list(saver.list(config))) >= 2
    finally:
        asyncio.run(saver.aclose())


async def test_sync_calls_inside_its_event_loop_say_to_use_the_async_ones() -> None:
    async with SessionCheckpointer(MemoryStore()) as saver:
        await saver.aput_writes(
            {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "c"}},
            [],
            "task",
        )
        with pytest.raises(asyncio.InvalidStateError, match="async"):
            saver.get_tuple({"configurable": {"thread_id": "t"}})


async def test_it_shares_the_sessions_database(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    saver = SessionCheckpointer(store)
    graph = approval_graph().compile(checkpointer=saver)
    await graph.ainvoke({"messages": [HumanMessage("x")]}, {"configurable": {"thread_id": "t"}})
    await store.aclose()
    import sqlite3

    with sqlite3.connect(tmp_path / "s.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        count = conn.execute("SELECT count(*) FROM session_checkpoints").fetchone()[0]
    assert {"sessions", "session_checkpoints", "session_checkpoint_writes"} <= tables
    assert count >= 1
