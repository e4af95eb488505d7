"""The main demo (`make demo`): a LangGraph support bot, offline, on the embedded SQLite store.

Two customers talk to `customer-service-bot` in parallel sessions. Each session has its own
instance of one compiled graph and remembers its own customer; the offline model needs no
network. Then the process "restarts" (a new manager on the same SQLite file) and both
conversations carry on, restored from the store. Analytics at the end.

Run: .venv/bin/python examples/langgraph_demo.py [--db PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from agent_sessions import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    SessionManager,
)

BOT = AgentDefinition(
    id="customer-service-bot", name="Support", template_id="tool-agent", template_version="1"
)


def manager_on(db: Path) -> SessionManager:
    return SessionManager(
        framework="langgraph", strategy="persisted", store=f"sqlite:///{db}", agents=[BOT]
    )


def show(session: str, text: str, result: ExecutionResult) -> None:
    print(f"  [{session:<11} {result.instance_event:>8}] user: {text}")
    for message in result.messages:
        if message.metadata.get("tool_calls"):
            call = message.metadata["tool_calls"][0]
            print(f"  {'':<22} agent calls {call['name']}({call['args']})")
        elif message.role == "tool":
            print(f"  {'':<22} tool: {message.content}")
        else:
            print(f"  {'':<22} agent: {message.content}")


async def turn(manager: SessionManager, session: str, text: str) -> ExecutionResult:
    command = ExecuteAgentCommand(
        agent_id=BOT.id, session_id=session, messages=[ChatMessage.user(text)]
    )
    return await manager.execute(command)


async def conversation(manager: SessionManager, session: str, lines: list[str]) -> None:
    for text in lines:
        show(session, text, await turn(manager, session, text))


async def main(db: Path) -> None:
    print("agent-sessions demo: LangGraph `tool-agent` template, offline model, persisted on")
    print(f"SQLite ({db}). One compiled graph; one instance per session.\n")

    print("== Two customers in parallel sessions")
    async with manager_on(db) as manager:
        await asyncio.gather(
            conversation(manager, "session-ada", ["Hello, my name is Ada"]),
            conversation(manager, "session-bob", ["Hi, my name is Bob"]),
        )
        await conversation(manager, "session-ada", ["What's my order status?"])
        await conversation(manager, "session-bob", ["What is my name?"])

        print("\n== Streaming a reply, chunk by chunk")
        command = ExecuteAgentCommand(
            agent_id=BOT.id,
            session_id="session-ada",
            messages=[ChatMessage.user("What is my name?")],
        )
        print("  chunks:", " | ".join([chunk.content async for chunk in manager.stream(command)]))
        factory = manager._factory
        print(f"\n  graphs compiled: {getattr(factory, 'compiles', '?')} for 2 sessions")
        print(f"  {manager.stats()}")

    print("\n== Restart: a new manager on the same SQLite file")
    async with manager_on(db) as manager:
        await conversation(manager, "session-bob", ["What is my name?"])
        await conversation(manager, "session-ada", ["What is my name?", "Thanks, bye!"])

        print("\n== Analytics (this process)")
        print(f"  {'session':<38} {'turns':>5} {'msgs':>5} {'mean ms':>8}")
        for key in manager.list_agents():
            stats = manager.session_stats(key)
            assert stats is not None
            mean = (stats.response_time_mean or 0.0) * 1000
            print(f"  {key!s:<38} {stats.turn_count:>5} {stats.message_count:>5} {mean:>8.1f}")
        print(f"  {manager.stats()}")
        store = manager.store
        assert store is not None
        records = await store.list_sessions(agent_id=BOT.id)
        print(f"  stored sessions: {', '.join(str(r.key) for r in records)}")
        ended = await manager.end_session(BOT.id, "session-bob")
        print(f"  end_session(session-bob) deleted {ended.deleted}")
    print("\ndemo finished")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--db", type=Path, help="SQLite file (default: a fresh temporary one)")
    args = parser.parse_args()
    if args.db is not None:
        asyncio.run(main(args.db))
    else:
        with tempfile.TemporaryDirectory(prefix="agent-sessions-demo-") as folder:
            asyncio.run(main(Path(folder) / "sessions.db"))
