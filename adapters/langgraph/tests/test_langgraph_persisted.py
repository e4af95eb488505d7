"""LangGraph sessions under the ``persisted`` strategy: state survives eviction and restart."""

from __future__ import annotations

from pathlib import Path

from sessionful import AgentDefinition, ChatMessage, ExecuteAgentCommand, SessionManager

BOT = "customer-service-bot"


def manager_on(path: Path) -> SessionManager:
    return SessionManager(
        framework="langgraph",
        strategy="persisted",
        store=f"sqlite:///{path}",
        agents=[AgentDefinition(id=BOT, name="Support", template_id="tool-agent")],
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
