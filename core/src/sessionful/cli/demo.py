"""``sessionful demo``: the main job on the embedded default, offline.

Two customers talk to ``customer-service-bot`` (LangGraph's ``tool-agent`` template on the
deterministic offline model) in parallel sessions persisted on SQLite. Each session has its own
instance of one compiled graph and remembers its own customer; a refund waits for a person's
approval (the graph's ``interrupt()``, answered with ``resume``). Then the process "restarts" (a
new manager on the same SQLite file), both conversations carry on, restored from the store, and
rich tables show the analytics. ``examples/langgraph_demo.py`` runs the same function.

``framework="openai-agents"`` tells the same story on the OpenAI Agents SDK (its ``tool-agent``
template and offline ``Model``; the refund tool ``needs_approval``, approved with ``resume``).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sessionful.cli._output import tool_calls
from sessionful.manager import SessionManager
from sessionful.models import (
    AgentDefinition,
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    InstanceEvent,
    ManagerStats,
)
from sessionful.service.config import DEFAULT_AGENTS

__all__ = ["BOT", "run_demo"]

_AGENT = DEFAULT_AGENTS[0]
BOT = AgentDefinition(
    id=_AGENT.id,
    name=_AGENT.name,
    template_id=_AGENT.template_id,
    template_version=_AGENT.template_version,
)
"""``customer-service-bot`` on LangGraph's ``tool-agent`` template (the default agent)."""


FRAMEWORKS = ("langgraph", "openai-agents")
"""The frameworks the demo runs on: both ship the ``tool-agent`` template and an offline model."""


def run_demo(
    db: Path | None = None, console: Console | None = None, framework: str = "langgraph"
) -> None:
    """Run the demo on the SQLite file ``db`` (default: a fresh one in a temporary directory,
    removed afterwards), printing to ``console`` (default: standard output), on ``framework``
    (one of :data:`FRAMEWORKS`)."""
    shown = console or Console(highlight=False)
    if db is not None:
        asyncio.run(_Demo(db, shown, framework).run())
        return
    with tempfile.TemporaryDirectory(prefix="sessionful-demo-") as folder:
        asyncio.run(_Demo(Path(folder) / "sessions.db", shown, framework).run())


class _Demo:
    def __init__(self, db: Path, console: Console, framework: str = "langgraph") -> None:
        self.db = db
        self.console = console
        self.framework = framework
        self.events: dict[str, InstanceEvent] = {}
        """The first instance event of each session in the current process."""

    def say(self, text: str = "", style: str | None = None) -> None:
        self.console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)

    def heading(self, text: str) -> None:
        self.say(f"\n== {text}", style="bold")

    def manager(self) -> SessionManager:
        return SessionManager(
            framework=self.framework,
            strategy="persisted",
            store=f"sqlite:///{self.db}",
            agents=[BOT],
        )

    def show(self, session: str, text: str, result: ExecutionResult) -> None:
        self.events.setdefault(session, result.instance_event)
        event = result.instance_event
        style = {"created": "green", "restored": "magenta"}.get(event)
        self.say(f"  [{session:<11} {event:>8}] user: {text}", style=style)
        for message in result.messages:
            calls = tool_calls(message)
            if calls:
                name, args = calls[0]
                self.say(f"  {'':<22} agent calls {name}({args})", style="cyan")
            elif message.role == "tool":
                self.say(f"  {'':<22} tool: {message.text}", style="cyan")
            else:
                self.say(f"  {'':<22} agent: {message.text}")

    async def turn(self, manager: SessionManager, session: str, text: str) -> ExecutionResult:
        command = ExecuteAgentCommand(
            agent_id=BOT.id, session_id=session, messages=[ChatMessage.user(text)]
        )
        return await manager.execute(command)

    async def approval(self, manager: SessionManager, session: str, text: str) -> None:
        """A turn the agent stops to ask a person (its refund tool calls ``interrupt()``), then
        the turn that answers it with ``resume``."""
        asked = await self.turn(manager, session, text)
        self.show(session, text, asked)
        for question in asked.interrupts:
            value = question.value if isinstance(question.value, dict) else {}
            shown = value.get("question")
            if "tool" in value and not shown:  # an OpenAI Agents tool approval: tool, arguments
                shown = f"to run {value['tool']}({value.get('arguments')})"
            self.say(f"  {'':<22} {asked.status}: asks {shown or question.value!r}", style="yellow")
        if not asked.interrupts:
            return
        answer = "yes" if self.framework == "langgraph" else "approve"
        answers = {question.id: answer for question in asked.interrupts}
        result = await manager.execute(
            ExecuteAgentCommand(agent_id=BOT.id, session_id=session, resume=answers)
        )
        self.show(session, f"(a person approves: {answer})", result)

    async def conversation(self, manager: SessionManager, session: str, lines: list[str]) -> None:
        for text in lines:
            self.show(session, text, await self.turn(manager, session, text))

    async def run(self) -> None:
        say = self.say
        if self.framework == "langgraph":
            say("sessionful demo: LangGraph `tool-agent` template, offline model, persisted on")
            say(f"SQLite ({self.db}). One compiled graph; one instance per session.", style=None)
        else:
            say("sessionful demo: OpenAI Agents SDK `tool-agent` template, offline Model, items")
            say(f"persisted on SQLite ({self.db}). One Agent; one instance per session.")

        self.heading("Two customers in parallel sessions")
        async with self.manager() as manager:
            await asyncio.gather(
                self.conversation(manager, "session-ada", ["Hello, my name is Ada"]),
                self.conversation(manager, "session-bob", ["Hi, my name is Bob"]),
            )
            await self.conversation(manager, "session-ada", ["What's my order status?"])
            await self.conversation(manager, "session-bob", ["What is my name?"])

            self.heading("Human in the loop: a refund waits for approval")
            await self.approval(manager, "session-ada", "Please refund $20 on order A-1001")

            self.heading("Streaming a reply, chunk by chunk")
            command = ExecuteAgentCommand(
                agent_id=BOT.id,
                session_id="session-ada",
                messages=[ChatMessage.user("What is my name?")],
            )
            chunks = [
                item.text
                async for item in manager.stream(command)
                if isinstance(item, ChatMessage)  # the last item is the turn's result
            ]
            say("  chunks: " + " | ".join(chunks))
            if self.framework == "langgraph":
                compiles = getattr(manager._factory, "compiles", "?")
                say(f"\n  graphs compiled: {compiles} for 2 sessions")
            else:
                builds = getattr(manager._factory, "builds", "?")
                say(f"\n  agents built: {builds} for 2 sessions")
            before = manager.stats()

        self.heading("Restart: a new manager on the same SQLite file")
        self.events.clear()
        async with self.manager() as manager:
            await self.conversation(manager, "session-bob", ["What is my name?"])
            await self.conversation(manager, "session-ada", ["What is my name?", "Thanks, bye!"])
            restored = sorted(s for s, event in self.events.items() if event == "restored")
            say(f"\n  restored from SQLite: {', '.join(restored) or 'none'}", style="magenta")

            self.heading("Analytics")
            self.console.print(self.sessions_table(manager))
            self.console.print(self.counters_table(before, manager.stats()))
            records = await manager.list_sessions(agent_id=BOT.id)
            say(f"  stored sessions: {', '.join(str(r.key) for r in records)}")
            ended = await manager.end_session(BOT.id, "session-bob")
            say(f"  end_session(session-bob) deleted {ended.deleted}")
        say("\ndemo finished", style="bold green")

    def sessions_table(self, manager: SessionManager) -> Table:
        table = Table(title=f"{BOT.id}: sessions after the restart", title_justify="left")
        table.add_column("session")
        table.add_column("instance")
        for name in ("turns", "messages", "mean ms", "p95 ms"):
            table.add_column(name, justify="right")
        for key in manager.list_agents():
            stats = manager.session_stats(key)
            if stats is None:  # pragma: no cover - unloaded between the two calls
                continue
            event = self.events.get(key.session_id or "", "-")
            table.add_row(
                key.session_id or "-",
                event,
                str(stats.turn_count),
                str(stats.message_count),
                _ms(stats.response_time_mean),
                _ms(stats.response_time_p95),
            )
        return table

    @staticmethod
    def counters_table(before: ManagerStats, after: ManagerStats) -> Table:
        table = Table(title="Manager counters", title_justify="left")
        table.add_column("counter")
        table.add_column("first process", justify="right")
        table.add_column("after the restart", justify="right")
        for name in ManagerStats.model_fields:
            table.add_row(name, str(getattr(before, name)), str(getattr(after, name)))
        return table


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"
