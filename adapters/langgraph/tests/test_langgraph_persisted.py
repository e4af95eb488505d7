"""LangGraph sessions under the ``persisted`` strategy: state survives eviction and restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from sessionful import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    LeaseLost,
    LifecyclePolicy,
    SessionKey,
    SessionManager,
    TurnRequest,
)
from sessionful.stores import SQLiteStore
from sessionful.stores._checkpoints import checkpoint_log_for
from sessionful_langgraph import LangGraphAgent, SessionCheckpointer, strict_serializer

BOT = "customer-service-bot"


def manager_on(path: Path, **options: Any) -> SessionManager:
    return SessionManager(
        framework="langgraph",
        strategy="persisted",
        store=f"sqlite:///{path}",
        agents=[AgentDefinition(id=BOT, name="Support", template_id="tool-agent")],
        **options,
    )


def say(session: str, text: str) -> ExecuteAgentCommand:
    return ExecuteAgentCommand(agent_id=BOT, session_id=session, messages=[ChatMessage.user(text)])


async def test_a_conversation_survives_a_restart_and_stays_per_session(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    async with manager_on(db) as manager:
        await manager.execute(say("ada", "Hello, my name is Ada"))
        await manager.execute(say("ada", "What's my order status?"))  # tool calls in the log
        await manager.execute(say("bob", "My name is Bob"))
    async with manager_on(db) as manager:  # a new process, as far as the store can tell
        ada = await manager.execute(say("ada", "What is my name?"))
        bob = await manager.execute(say("bob", "What is my name?"))
        history = await manager.store.history(ada.session_key)  # type: ignore[union-attr]
    assert (ada.instance_event, ada.messages[-1].content) == ("restored", "Your name is Ada.")
    assert bob.messages[-1].content == "Your name is Bob."
    roles = [m.role for m in history]
    assert roles == [
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]
    assert history[3].tool_calls[0].name == "order_status"


async def test_eviction_then_restore_replays_the_log(tmp_path: Path) -> None:
    async with manager_on(tmp_path / "s.db") as manager:
        first = await manager.execute(say("s", "My name is Ada"))
        await manager.evict(first.session_key)
        again = await manager.execute(say("s", "What is my name?"))
        ended = await manager.end_session(BOT, "s")
        fresh = await manager.execute(say("s", "What is my name?"))
    assert (again.instance_event, again.messages[-1].content) == ("restored", "Your name is Ada.")
    assert ended.deleted["messages"] == 4 and ended.unloaded
    assert fresh.instance_event == "created"
    assert fresh.messages[-1].content == "You have not told me your name."


# -- native persistence: the session lives in its checkpoints, in the manager's store ----------


def key(session: str = "s") -> SessionKey:
    return SessionKey(BOT, session)


async def threads(db: Path, session: str = "s") -> int:
    """How many root checkpoints the store's checkpoint log holds for the session."""
    store = SQLiteStore(db)
    await store.open()
    try:
        return len(await checkpoint_log_for(store).list(str(key(session)), ""))
    finally:
        await store.aclose()


async def test_native_is_the_default_and_eviction_keeps_the_thread(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with manager_on(db) as manager:
        await manager.execute(say("s", "My name is Ada"))
        instance = manager.get_agent(key())
        assert isinstance(instance, LangGraphAgent)
        assert instance.persistence == "native"
        assert isinstance(instance.checkpointer, SessionCheckpointer)
        assert instance.checkpointer.store is manager.store
        record = await manager.session_record(key())
        assert record is not None and record.turn_count == 1
        await manager.evict(key())
        again = await manager.execute(say("s", "What is my name?"))
    assert (again.instance_event, again.messages[-1].text) == ("restored", "Your name is Ada.")
    assert await threads(db) == 2  # one checkpoint per turn, kept across the eviction


async def test_end_deletes_the_thread_and_retention_purges_it(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with manager_on(db) as manager:
        await manager.execute(say("s", "My name is Ada"))
        await manager.execute(say("t", "My name is Bob"))
        ended = await manager.end_session(BOT, "s")
        assert ended.deleted["checkpoints"] == 1
        fresh = await manager.execute(say("s", "What is my name?"))
    assert fresh.messages[-1].text == "You have not told me your name."
    assert await threads(db, "t") == 1
    now = [1000.0]
    purging = SessionManager(
        framework="langgraph",
        strategy="persisted",
        store=f"sqlite:///{db}",
        agents=[AgentDefinition(id=BOT, name="Support", template_id="tool-agent")],
        lifecycle=LifecyclePolicy(retention=1.0),
        wall_clock=lambda: now[0] + 10**10,
    )
    async with purging:
        await purging.cleanup_inactive()
    assert await threads(db, "t") == 0


async def test_a_pending_interrupt_survives_a_restart_natively(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with manager_on(db) as manager:
        asked = await manager.execute(say("s", "Please refund $20 on order A-1001"))
    async with manager_on(db) as manager:
        done = await manager.execute(
            ExecuteAgentCommand(
                agent_id=BOT, session_id="s", resume={asked.interrupts[0].id: "yes"}
            )
        )
        history = await manager.state_history(key())
    assert asked.status == "interrupted" and done.instance_event == "restored"
    assert "approved and issued" in done.messages[-1].text
    assert [h["turn"] for h in history] == [2, 1]
    assert history[0]["next"] == [] and history[1]["next"] == ["tools"]
    assert history[1]["interrupts"][0]["id"] == asked.interrupts[0].id
    assert history[0]["messages"][0]["content"] == "Please refund $20 on order A-1001"
    assert {"checkpoint_id", "created_at", "step", "source"} <= set(history[0])


async def test_a_stale_owner_writes_no_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with manager_on(db) as first, manager_on(db) as second:
        await first.execute(say("s", "My name is Ada"))
        stale = first.get_agent(key())
        assert isinstance(stale, LangGraphAgent)
        taken = await second.execute(say("s", "What is my name?"))  # claims the session
        assert taken.instance_event == "restored"
        with pytest.raises(LeaseLost):
            await stale.ainvoke(TurnRequest(messages=[ChatMessage.user("My name is Eve")]))
        assert await threads(db) == 2
        again = await first.execute(say("s", "What is my name?"))  # reloads, then continues
    assert (again.instance_event, again.messages[-1].text) == ("restored", "Your name is Ada.")


async def test_a_checkpoint_of_an_unacknowledged_turn_is_dropped(tmp_path: Path) -> None:
    """A process that stops between a turn's checkpoint and its acknowledgement: the restore
    continues from the last acknowledged turn."""
    db = tmp_path / "s.db"
    manager = manager_on(db)
    await manager.execute(say("s", "My name is Ada"))
    instance = manager.get_agent(key())
    assert isinstance(instance, LangGraphAgent)
    await instance.ainvoke(TurnRequest(messages=[ChatMessage.user("My name is Eve")]))
    assert await threads(db) == 2  # written, never acknowledged
    await manager.store.aclose()  # type: ignore[union-attr]  # the process stops
    async with manager_on(db) as manager:
        again = await manager.execute(say("s", "What is my name?"))
    assert (again.instance_event, again.messages[-1].text) == ("restored", "Your name is Ada.")
    assert await threads(db) == 2


async def test_a_snapshot_session_carries_on_natively(tmp_path: Path) -> None:
    """Sessions stored by the snapshot path (0.1's default) continue under native."""
    db = tmp_path / "s.db"
    snapshots = {"persistence": "snapshot"}
    async with manager_on(db, framework_settings=snapshots) as manager:
        await manager.execute(say("s", "My name is Ada"))
        instance = manager.get_agent(key())
        assert isinstance(instance, LangGraphAgent) and instance.persistence == "snapshot"
    assert await threads(db) == 0
    async with manager_on(db) as manager:
        again = await manager.execute(say("s", "What is my name?"))
    assert again.messages[-1].text == "Your name is Ada."
    assert await threads(db) == 2


@pytest.mark.parametrize("persistence", ["native", "snapshot"])
async def test_a_saver_of_yours_keeps_threads_on_eviction_and_deletes_them_on_end(
    tmp_path: Path, persistence: str
) -> None:
    saver = InMemorySaver(serde=strict_serializer())
    settings = {"checkpointer": saver, "persistence": persistence}
    async with manager_on(tmp_path / "s.db", framework_settings=settings) as manager:
        await manager.execute(say("s", "My name is Ada"))
        await manager.evict(key())
        assert saver.get_tuple({"configurable": {"thread_id": str(key())}}) is not None
        again = await manager.execute(say("s", "What is my name?"))
        await manager.end_session(BOT, "s")
        assert saver.get_tuple({"configurable": {"thread_id": str(key())}}) is None
    assert again.messages[-1].text == "Your name is Ada."
