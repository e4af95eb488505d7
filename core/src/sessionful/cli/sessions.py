"""``sessionful sessions``: list, show, end and clean up stored sessions (strategy
``persisted``), through a :class:`~sessionful.SessionManager` built from the settings."""

from __future__ import annotations

import asyncio
import heapq
import json
import shlex
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sessionful.cli._context import settings_from
from sessionful.cli._output import (
    EXIT_CONFIG,
    CliError,
    ago,
    duration,
    handled,
    out,
    parse_age,
    plural,
    say,
    show,
    tool_calls,
    when,
)
from sessionful.cli.info import mask_url
from sessionful.errors import ConfigurationError, InvalidSessionKey
from sessionful.factory import AgentFactory, AgentInstance, Framework
from sessionful.keys import SessionKey
from sessionful.lifecycle import LifecyclePolicy
from sessionful.manager import SessionManager
from sessionful.models import AgentCreateRequest, ChatMessage, UnloadReason
from sessionful.service.app import strategy_persists
from sessionful.service.config import Settings
from sessionful.stores.base import SessionRecord

__all__ = ["sessions_app"]

sessions_app = typer.Typer(
    help="Inspect and clean up stored sessions (strategy `persisted`).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


class _StoredOnly(Framework):
    """The framework of the sessions commands' manager: they read and delete what the store
    holds and run no turns, so no adapter is imported (LangGraph's import alone takes seconds)
    and no agent is ever created."""

    name = "sessionful-cli-stored-sessions"
    persistence = "snapshot"

    def create_agent_factory(self, settings: Mapping[str, Any]) -> AgentFactory:
        return _NoAgents()


class _NoAgents(AgentFactory):
    async def create_agent(self, request: AgentCreateRequest) -> AgentInstance:
        raise ConfigurationError("the sessions commands run no turns")

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        pass


@asynccontextmanager
async def _manager(
    settings: Settings, lifecycle: LifecyclePolicy | None = None
) -> AsyncIterator[SessionManager | None]:
    """A manager on the configured store (closed after), or ``None`` for a SQLite file that does
    not exist yet, so that looking creates nothing. It runs no turns and no sweeper."""
    if not strategy_persists(settings.strategy):
        raise CliError(
            f"strategy {settings.strategy!r} keeps no sessions in a store; the sessions "
            'commands need a persisted strategy (strategy = "persisted")',
            EXIT_CONFIG,
        )
    manager = SessionManager(  # the store is built here, not opened
        _StoredOnly(),
        settings.strategy,
        lifecycle or LifecyclePolicy(sweep_interval=None),
        store=settings.store,
    )
    if not manager.store_exists:
        yield None
        return
    try:
        yield manager
    finally:
        await manager.aclose()


def _not_found(agent: str, session: str, principal: str | None) -> CliError:
    whose = f" of principal {principal!r}" if principal is not None else ""
    return CliError(f"no session {session!r} of agent {agent!r}{whose}")


AgentFilter = Annotated[
    str | None, typer.Option("--agent", "-a", metavar="ID", help="Only this agent's sessions.")
]
PrincipalFilter = Annotated[
    str | None,
    typer.Option("--principal", "-p", metavar="NAME", help="Only this principal's sessions."),
]
PrincipalOption = Annotated[
    str | None,
    typer.Option("--principal", "-p", metavar="NAME", help="The principal the session belongs to."),
]


SessionArgument = Annotated[
    str,
    typer.Argument(
        metavar="AGENT|KEY",
        help="The agent id (then SESSION), or the session's key as `sessions list` prints it.",
    ),
]
SessionIdArgument = Annotated[
    str | None,
    typer.Argument(metavar="[SESSION]", help="The session id (left out: the first is a key)."),
]


def _target(first: str, session: str | None, principal: str | None) -> tuple[str, str, str | None]:
    """``(agent, session, principal)`` from ``AGENT SESSION [-p P]`` or from ``KEY``, the key
    as ``sessions list`` prints it (``principal|agent#session``)."""
    if session is not None:
        return first, session, principal
    try:
        key = SessionKey.parse(first)
    except InvalidSessionKey as exc:
        raise CliError(
            f"{first!r} is not a session key as `sessions list` prints it: {exc}"
        ) from None
    if key.session_id is None:
        raise CliError(
            f"{first!r} names no session: pass AGENT SESSION, or the key as `sessions list` "
            "prints it (principal|agent#session)"
        )
    if principal is not None and key.namespace != principal:
        raise CliError(
            f"the key {first!r} is of principal {key.namespace!r}, not {principal!r}: "
            "leave out --principal"
        )
    return key.agent_id, key.session_id, key.namespace


def _labels(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep or not name:
            raise CliError(f"--label {pair!r}: a label is name:value", EXIT_CONFIG)
        labels[name] = value
    return labels


@sessions_app.command("list")
@handled
def sessions_list(
    ctx: typer.Context,
    agent: AgentFilter = None,
    principal: PrincipalFilter = None,
    user: Annotated[
        str | None,
        typer.Option("--user", "-u", metavar="ID", help="Only this end user's sessions."),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            "-l",
            metavar="NAME:VALUE",
            help="Only sessions with this label; repeat for several (all must match).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Sessions per page.")] = 20,
    after: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="Start after this session key (the previous page's last, as printed).",
        ),
    ] = None,
) -> None:
    """List stored sessions, a page at a time, ordered by session key."""
    settings = settings_from(ctx)
    labels = _labels(label)
    records, more = asyncio.run(_list(settings, agent, principal, limit, after, user, labels))
    store = mask_url(settings.store)
    if not records:
        say(f"no stored sessions in {store}" + (" after " + after if after else ""))
        return
    now = time.time()
    table = Table(title=f"Sessions ({store})", title_justify="left")
    table.add_column("key", overflow="fold")
    table.add_column("template", overflow="fold")
    for name in ("turns", "messages", "last activity", "idle"):
        table.add_column(name, justify="right")
    users = any(record.user_id for record in records)
    tagged = any(record.labels for record in records)
    rated = any(record.feedback_count for record in records)
    if users:
        table.add_column("user", overflow="fold")
    if tagged:
        table.add_column("labels", overflow="fold")
    if rated:
        table.add_column("rating", justify="right")
    for record in records:
        row = [
            str(record.key),
            f"{record.template_id}@{record.template_version}",
            str(record.turn_count),
            str(record.message_count),
            when(record.last_activity),
            ago(record.last_activity, now),
        ]
        if record.corrupt is not None:
            row[1] = f"damaged: {record.corrupt}"
        if users:
            row.append(record.user_id or "-")
        if tagged:
            row.append(", ".join(f"{k}:{v}" for k, v in record.labels.items()) or "-")
        if rated:
            row.append(_rating(record))
        table.add_row(*row)
    show(table)
    say("(show or end one by its key: sessionful sessions show KEY)", "dim")
    if more:
        command = ["sessionful", "sessions", "list", "--limit", str(limit)]
        for flag, value in (("--agent", agent), ("--principal", principal), ("--user", user)):
            if value is not None:
                command += [flag, value]
        for pair in label or ():
            command += ["--label", pair]
        command += ["--after", str(records[-1].key)]
        say(f"more: {shlex.join(command)}", "dim")


def _rating(record: SessionRecord) -> str:
    """``4.50 (2)``: the mean and how many ratings; ``-`` without any."""
    if not record.feedback_count or record.feedback_mean is None:
        return "-"
    return f"{record.feedback_mean:.2f} ({record.feedback_count})"


async def _list(
    settings: Settings,
    agent: str | None,
    principal: str | None,
    limit: int,
    after: str | None,
    user: str | None = None,
    labels: dict[str, str] | None = None,
) -> tuple[list[SessionRecord], bool]:
    async with _manager(settings) as manager:
        if manager is None:
            return [], False
        found = await manager.list_sessions(
            namespace=principal,
            agent_id=agent,
            after=after,
            limit=limit + 1,
            user_id=user,
            labels=labels,
        )
    return found[:limit], len(found) > limit


@sessions_app.command("show")
@handled
def sessions_show(
    ctx: typer.Context,
    agent: SessionArgument,
    session: SessionIdArgument = None,
    principal: PrincipalOption = None,
    last: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Show only the latest N messages (default: all)."),
    ] = None,
) -> None:
    """Show one stored session: its analytics, end user, labels, feedback and conversation.
    Name it by AGENT SESSION (and --principal), or by its key as `sessions list` prints it."""
    settings = settings_from(ctx)
    agent, session, principal = _target(agent, session, principal)
    key, record, history = asyncio.run(_show(settings, agent, session, principal, last))
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    mean = record.response_time_sum / record.turn_count if record.turn_count else None
    rows = [
        ("session", str(key)),
        ("principal", key.namespace or "-"),
        ("template", f"{record.template_id}@{record.template_version}"),
        ("created", when(record.created_at)),
        ("last activity", f"{when(record.last_activity)} ({ago(record.last_activity)} ago)"),
        ("turns", str(record.turn_count)),
        ("messages", str(record.message_count)),
        ("mean response", "-" if mean is None else f"{mean * 1000:.1f} ms"),
        ("tokens", f"{record.input_tokens} in, {record.output_tokens} out"),
        ("interrupts", f"{len(record.interrupts)} pending" if record.interrupts else "none"),
        ("user", record.user_id or "-"),
        ("labels", ", ".join(f"{k}:{v}" for k, v in record.labels.items()) or "-"),
        ("feedback", _feedback(record)),
        ("lease", f"epoch {record.epoch}, {record.owner or 'no owner'}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    show(table)
    if record.interrupts:
        say("\npending interrupts (answer with sessionful chat):", "bold")
        for interrupt in record.interrupts:
            value = interrupt.value
            asked = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            say(f"  {interrupt.id}: {asked}")
    shown = f"latest {len(history)}" if last is not None else str(len(history))
    say(f"\nhistory ({shown} of {record.message_count} messages):", "bold")
    for message in history:
        say(_line(message))


def _feedback(record: SessionRecord) -> str:
    """``2 ratings, mean 4.50``, or ``none``."""
    if not record.feedback_count or record.feedback_mean is None:
        return "none"
    return f"{plural(record.feedback_count, 'rating')}, mean {record.feedback_mean:.2f}"


def _line(message: ChatMessage) -> str:
    calls = tool_calls(message)
    if calls and not message.text:
        listed = ", ".join(f"{name}({args})" for name, args in calls)
        return f"  {message.role}: calls {listed}"
    return f"  {message.role}: {message.text}"


async def _show(
    settings: Settings, agent: str, session: str, principal: str | None, last: int | None
) -> tuple[SessionKey, SessionRecord, list[ChatMessage]]:
    async with _manager(settings) as manager:
        if manager is None:
            raise _not_found(agent, session, principal)
        key = manager.key_for(agent, session, principal)
        record = await manager.session_record(key)
        if record is None:
            raise _not_found(agent, session, principal)
        return key, record, await manager.history(key, last)


@sessions_app.command("end")
@handled
def sessions_end(
    ctx: typer.Context,
    agent: SessionArgument,
    session: SessionIdArgument = None,
    principal: PrincipalOption = None,
) -> None:
    """End a stored session: delete its record, its messages, its snapshot and its feedback,
    and say what was deleted. A service that has it loaded starts it afresh at its next turn.
    Name it by AGENT SESSION (and --principal), or by its key as `sessions list` prints it."""
    settings = settings_from(ctx)
    agent, session, principal = _target(agent, session, principal)
    key, deleted = asyncio.run(_end(settings, agent, session, principal))
    listed = ", ".join(plural(count, kind.removesuffix("s")) for kind, count in deleted.items())
    say(f"ended {key}: deleted {listed}")


async def _end(
    settings: Settings, agent: str, session: str, principal: str | None
) -> tuple[SessionKey, dict[str, int]]:
    async with _manager(settings) as manager:
        if manager is None:
            raise _not_found(agent, session, principal)
        report = await manager.end_session(agent, session, namespace=principal)
    if not any(report.deleted.values()):
        raise _not_found(agent, session, principal)
    return report.key, report.deleted


@sessions_app.command("cleanup")
@handled
def sessions_cleanup(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option(
            metavar="AGE",
            help="Delete sessions idle longer than this: seconds (86400) or with a unit "
            "(90m, 12h, 7d, 2w). Default: lifecycle.retention.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count (and show the oldest) without deleting.")
    ] = False,
    batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Sessions deleted per batch (default: lifecycle.retention_batch).",
        ),
    ] = None,
) -> None:
    """Apply retention: delete stored sessions idle longer than an age, in bounded batches,
    with a progress bar."""
    settings = settings_from(ctx)
    if older_than is not None:
        age = parse_age(older_than)
    elif settings.lifecycle.retention is not None:
        age = settings.lifecycle.retention
    else:
        raise CliError(
            "no age to clean up by: pass --older-than AGE or set lifecycle.retention", EXIT_CONFIG
        )
    size = batch or settings.lifecycle.retention_batch
    asyncio.run(_cleanup(settings, age, dry_run, size))


async def _cleanup(settings: Settings, age: float, dry_run: bool, size: int) -> None:
    before = time.time() - age
    limit = f"idle for more than {duration(age)} (last activity before {when(before)})"
    # The manager's own retention sweep, with this age and batch: purged ``size`` at a time.
    retention = LifecyclePolicy(sweep_interval=None, retention=age, retention_batch=size)
    async with _manager(settings, retention) as manager:
        if manager is None:
            say(f"no stored sessions {limit}")
            return
        count, oldest = await _idle(manager, before)
        if dry_run:
            say(f"dry run: would delete {plural(count, 'stored session')} {limit}", "bold")
            if oldest:
                table = Table(title=f"Oldest {len(oldest)}", title_justify="left")
                table.add_column("session", overflow="fold")
                table.add_column("last activity", justify="right")
                table.add_column("idle", justify="right")
                for record in oldest:
                    table.add_row(
                        str(record.key), when(record.last_activity), ago(record.last_activity)
                    )
                show(table)
            return
        deleted = 0
        columns = (
            TextColumn("deleting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=out, transient=False) as progress:
            task = progress.add_task("cleanup", total=count)
            while True:
                purged = (await manager.cleanup_inactive()).purged
                deleted += len(purged)
                progress.update(task, completed=deleted, total=max(count, deleted))
                if len(purged) < size:
                    break
    say(f"deleted {plural(deleted, 'stored session')} {limit}", "bold")


async def _idle(
    manager: SessionManager, before: float, shown: int = 10
) -> tuple[int, list[SessionRecord]]:
    """How many stored sessions were last active before ``before``, and the oldest few; read
    only, a page of the store at a time."""
    count = 0
    oldest: list[tuple[float, str, SessionRecord]] = []
    after: str | None = None
    while True:
        page = await manager.list_sessions(after=after, limit=1000)
        for record in page:
            if record.last_activity < before:
                count += 1
                item = (-record.last_activity, str(record.key), record)
                if len(oldest) < shown:
                    heapq.heappush(oldest, item)
                else:
                    heapq.heappushpop(oldest, item)
        if len(page) < 1000:
            break
        after = str(page[-1].key)
    return count, [record for _, _, record in sorted(oldest, key=lambda i: (-i[0], i[1]))]
