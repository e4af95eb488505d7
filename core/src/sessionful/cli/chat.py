"""``sessionful chat``: talk to a configured agent, one message a line, replies streamed."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import aclosing, contextmanager
from typing import Annotated, Any

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
from sessionful.errors import InterruptPending, SessionfulError
from sessionful.keys import SessionKey
from sessionful.manager import SessionManager
from sessionful.models import (
    ChatMessage,
    ExecuteAgentCommand,
    ExecutionResult,
    Interrupt,
    StreamEvent,
)
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

    Reads standard input until end of file or `/exit`; piped input works too. When the agent
    asks something before it goes on (an interrupt: an approval, a missing detail), its question
    is shown and the next line is the answer (JSON for an object or a list). With a persisted
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
        pending: list[Interrupt] = []
        if record is not None:
            turns = plural(record.turn_count, "turn")
            say(f"session {session}: continuing ({turns} so far)", "bold")
            pending = list(record.interrupts)
        else:
            say(f"session {session}: new", "bold")
        again = f"sessionful chat --agent {shlex.quote(agent_id)} --session {session}"
        if principal is not None:
            again += f" --principal {shlex.quote(principal)}"
        interactive = sys.stdin.isatty()
        if interactive:
            note("type a message and press Enter; /exit or Ctrl-D to leave")
        answers: dict[str, Any] = {}
        if pending:
            _ask(pending[0])
        while True:
            asking = pending[len(answers)] if pending else None
            text = _read_line(interactive, "answer" if asking is not None else "you")
            if text is None or text.strip() in ("/exit", "/quit"):
                break
            if not text.strip():
                continue
            if not interactive:
                say(f"{'answer' if asking is not None else 'you'}: {text.strip()}", "dim")
            if asking is not None:
                answers[asking.id] = _answer(text.strip())
                if len(answers) < len(pending):
                    _ask(pending[len(answers)])
                    continue
                command = ExecuteAgentCommand(
                    agent_id=agent_id, session_id=session, principal=principal, resume=answers
                )
            else:
                command = ExecuteAgentCommand(
                    agent_id=agent_id,
                    session_id=session,
                    principal=principal,
                    messages=[ChatMessage.user(text.strip())],
                )
            try:
                result = await _stream_turn(manager, command, settings.limits.turn_timeout)
            except InterruptPending as exc:  # asked elsewhere meanwhile: answer those first
                failures += 1
                pending, answers = list(exc.interrupts), {}
                note("the agent waits for answers first", "yellow")
                _ask(pending[0])
                continue
            except Exception as exc:  # the agent's own failure too: report it, go on
                failures += 1
                shown = str(exc) if isinstance(exc, SessionfulError) else f"{exc!r}"
                note(f"error: the turn failed: {shown}", "red")
                if asking is not None:  # ask the same questions again
                    answers = {}
                    _ask(pending[0])
                continue
            pending, answers = (list(result.interrupts), {}) if result is not None else ([], {})
            if pending:
                _ask(pending[0])
        if manager.persistent:
            await _saved(manager, key, record is None, again)
    return failures


async def _saved(manager: SessionManager, key: SessionKey, new: bool, again: str) -> None:
    """Say whether the session was saved; a new session no turn of which completed is not
    kept (its record would be an empty conversation nobody asked for)."""
    stored = await manager.session_record(key)
    if stored is not None and (stored.turn_count > 0 or not new):
        say(f"session {key.session_id} saved; continue with: {again}", "dim")
        return
    if stored is not None:
        await manager.end_session(key.agent_id, key.session_id, namespace=key.namespace)
    say(f"session {key.session_id} not saved: no turn completed", "dim")


def _ask(interrupt: Interrupt) -> None:
    """Show what the agent asks."""
    value = interrupt.value
    question = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    say("agent asks: ", "bold yellow", end="")
    say(question, "yellow")
    note("type your answer (JSON for an object or a list; anything else is sent as text)")


def _answer(text: str) -> Any:
    """A typed answer: JSON when it is an object or a list, else the text itself."""
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _read_line(interactive: bool, prompt: str = "you") -> str | None:
    """The next line of input, or ``None`` at end of input (or Ctrl-C at the prompt). Blocking
    on purpose: between turns the event loop has nothing to do.

    ``asyncio.run`` replaces the SIGINT handler with one that cancels the main task at its next
    await and lets a blocked ``input()`` go on reading, so the first Ctrl-C at the prompt would
    do nothing visible; while the prompt waits, Ctrl-C raises ``KeyboardInterrupt`` again."""
    if interactive:
        with _interruptible():
            try:
                return out.input(f"[bold]{prompt}>[/bold] ")
            except (EOFError, KeyboardInterrupt):
                say("")
                return None
    line = sys.stdin.readline()
    return line.rstrip("\r\n") if line else None


@contextmanager
def _interruptible() -> Iterator[None]:
    """Python's own SIGINT handler (``KeyboardInterrupt``) for the duration of the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
