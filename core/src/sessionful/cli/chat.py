"""``sessionful chat``: talk to a configured agent, one message a line, replies streamed."""

from __future__ import annotations

import asyncio
import shlex
import sys
from contextlib import aclosing
from typing import Annotated

import typer

from sessionful.cli._context import settings_from
from sessionful.cli._output import (
    EXIT_CONFIG,
    EXIT_RUNTIME,
    CliError,
    handled,
    note,
    out,
    plural,
    say,
    tool_calls,
)
from sessionful.errors import SessionfulError
from sessionful.manager import SessionManager
from sessionful.models import ChatMessage, ExecuteAgentCommand, ExecutionResult, StreamEvent
from sessionful.service.config import Settings
from sessionful.service.turns import stream_turn

__all__ = ["chat"]


@handled
def chat(
    ctx: typer.Context,
    agent: Annotated[
        str, typer.Option("--agent", "-a", metavar="ID", help="The configured agent to talk to.")
    ],
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            "-s",
            metavar="ID",
            help="Continue this session (default: a new one, its id printed).",
        ),
    ] = None,
    principal: Annotated[
        str | None,
        typer.Option(
            "--principal",
            "-p",
            metavar="NAME",
            help="The principal (namespace) the session belongs to, as the HTTP service "
            "keys it (default: none).",
        ),
    ] = None,
) -> None:
    """Talk to an agent, one message a line, replies streamed as they come.

    Reads standard input until end of file or `/exit`; piped input works too. With a persisted
    strategy (the default: SQLite in `.sessionful/`) the conversation is remembered across
    runs: pass the printed session id to `--session` to carry on.
    """
    settings = settings_from(ctx)
    if asyncio.run(_chat(settings, agent, session, principal)):
        raise typer.Exit(EXIT_RUNTIME)


async def _chat(
    settings: Settings, agent_id: str, session: str | None, principal: str | None
) -> int:
    from sessionful.service.app import AgentService, new_session_id

    chosen = [agent for agent in settings.agents if agent.id == agent_id]
    if not chosen:
        listed = ", ".join(repr(agent.id) for agent in settings.agents) or "none"
        raise CliError(f"unknown agent {agent_id!r}; configured agents: {listed}", EXIT_CONFIG)
    if session is None:
        session = new_session_id()
        while session.startswith("-"):  # an id that reads as an option would not do
            session = new_session_id()
    # Only this agent's framework is loaded (the others may be slow to import).
    service = AgentService(settings.model_copy(update={"agents": chosen}))
    manager = service.manager_for(agent_id)
    key = manager.key_for(agent_id, session, principal)
    failures = 0
    async with service:
        record = None
        if manager.persistent:
            record = await manager.session_record(key)
        else:
            note(
                f"note: strategy {settings.strategy!r} keeps no store; this conversation is "
                "forgotten when the command ends",
                "yellow",
            )
        if record is not None:
            turns = plural(record.turn_count, "turn")
            say(f"session {session}: continuing ({turns} so far)", "bold")
        else:
            say(f"session {session}: new", "bold")
        again = f"sessionful chat --agent {shlex.quote(agent_id)} --session {session}"
        if principal is not None:
            again += f" --principal {shlex.quote(principal)}"
        interactive = sys.stdin.isatty()
        if interactive:
            note("type a message and press Enter; /exit or Ctrl-D to leave")
        while True:
            text = _read_line(interactive)
            if text is None or text.strip() in ("/exit", "/quit"):
                break
            if not text.strip():
                continue
            if not interactive:
                say(f"you: {text.strip()}", "dim")
            command = ExecuteAgentCommand(
                agent_id=agent_id,
                session_id=session,
                principal=principal,
                messages=[ChatMessage.user(text.strip())],
            )
            try:
                await _stream_turn(manager, command, settings.limits.turn_timeout)
            except Exception as exc:  # the agent's own failure too: report it, go on
                failures += 1
                shown = str(exc) if isinstance(exc, SessionfulError) else f"{exc!r}"
                note(f"error: the turn failed: {shown}", "red")
    if manager.persistent:
        say(f"session {session} saved; continue with: {again}", "dim")
    return failures


def _read_line(interactive: bool) -> str | None:
    """The next line of input, or ``None`` at end of input (or Ctrl-C at the prompt). Blocking
    on purpose: between turns the event loop has nothing to do."""
    if interactive:
        try:
            return out.input("[bold]you>[/bold] ")
        except (EOFError, KeyboardInterrupt):
            say("")
            return None
    line = sys.stdin.readline()
    return line.rstrip("\r\n") if line else None


async def _stream_turn(
    manager: SessionManager, command: ExecuteAgentCommand, timeout: float
) -> ExecutionResult | None:
    """Run one turn within ``timeout`` (the service's ``turn_timeout``), printing each output
    message as its chunks arrive; the turn's result."""
    current: int | None = None
    result: ExecutionResult | None = None
    try:
        async with aclosing(stream_turn(manager, command, timeout)) as items:
            async for item in items:
                if isinstance(item, ExecutionResult):
                    result = item
                    continue
                if isinstance(item, StreamEvent):  # typed events: nothing to print
                    continue
                index = item.metadata.get("index", 0)
                if index != current:
                    if current is not None:
                        say("")
                    current = index
                    say("  tool: " if item.role == "tool" else "agent: ", "bold", end="")
                for name, args in tool_calls(item):
                    if name:
                        say(f"(calls {name}({args})) ", "cyan", end="")
                say(item.text, "cyan" if item.role == "tool" else None, end="")
    finally:
        if current is not None:
            say("")
    return result
