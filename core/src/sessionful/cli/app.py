"""The ``sessionful`` commands: :data:`app`, a typer application.

Every command reads the configuration the same way (``--config PATH``, else
``$SESSIONFUL_CONFIG``, else ``./sessionful.toml``, else defaults, with
``SESSIONFUL_*`` variables on top) and reports the library's errors as one red line on
standard error: exit code 2 for a configuration or usage mistake, 1 for a runtime failure.
"""

from __future__ import annotations

import asyncio
import heapq
import importlib
import json
import os
import re
import shlex
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sessionful import __version__
from sessionful._plugins import Plugins
from sessionful.cli._output import (
    EXIT_CONFIG,
    EXIT_RUNTIME,
    CliError,
    ago,
    duration,
    handled,
    note,
    out,
    parse_age,
    plural,
    say,
    show,
    when,
)
from sessionful.errors import SessionfulError, UnknownStore, UnknownStrategy
from sessionful.keys import SessionKey
from sessionful.manager import SessionManager
from sessionful.models import ChatMessage, ExecuteAgentCommand
from sessionful.service.config import Settings, config_path, load_settings
from sessionful.stores.base import SessionRecord, SessionStore
from sessionful.stores.sqlite import SQLiteStore

__all__ = ["app"]

app = typer.Typer(
    name="sessionful",
    help=(
        "Session-based agent management: one agent instance per conversation, reused across "
        "turns. Try it with `sessionful demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals would show the settings, API keys included
    rich_markup_mode="markdown",
)
sessions_app = typer.Typer(
    help="Inspect and clean up stored sessions (strategy `persisted`).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(sessions_app, name="sessions")


@dataclass(frozen=True)
class _Options:
    config: Path | None


def _settings(ctx: typer.Context) -> Settings:
    options = ctx.find_root().obj
    return load_settings(options.config if isinstance(options, _Options) else None)


def _version(value: bool) -> None:
    if value:
        say(f"sessionful {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="PATH",
            dir_okay=False,
            help=(
                "The configuration file. Default: $SESSIONFUL_CONFIG, else "
                "./sessionful.toml if it exists, else built-in defaults. "
                "SESSIONFUL_* variables override it."
            ),
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = _Options(config)


# -- demo -----------------------------------------------------------------------------------------


@app.command()
@handled
def demo(
    db: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            dir_okay=False,
            help="Keep the sessions in this SQLite file (default: a temporary one).",
        ),
    ] = None,
) -> None:
    """The main job, offline: two customers in parallel LangGraph sessions persisted on
    SQLite, a simulated restart, both sessions restored, and the analytics.

    Runs on the embedded defaults whatever the configuration says: the `customer-service-bot`
    agent on LangGraph's `tool-agent` template with the offline model (no network, no keys).
    """
    from sessionful.cli.demo import run_demo

    run_demo(db, out)


# -- chat -----------------------------------------------------------------------------------------


@app.command()
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
    settings = _settings(ctx)
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
    key = SessionKey(agent_id, session, principal)
    # Only this agent's framework is loaded (the others may be slow to import).
    service = AgentService(settings.model_copy(update={"agents": chosen}))
    manager = service.manager_for(agent_id)
    failures = 0
    async with service:
        record = None
        if manager.store is not None:
            record = await manager.store.get(key)
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
                await _stream_turn(manager, command)
            except Exception as exc:  # the agent's own failure too: report it, go on
                failures += 1
                shown = str(exc) if isinstance(exc, SessionfulError) else f"{exc!r}"
                note(f"error: the turn failed: {shown}", "red")
    if manager.store is not None:
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


async def _stream_turn(manager: SessionManager, command: ExecuteAgentCommand) -> None:
    """Run one turn, printing each output message as its chunks arrive."""
    current: int | None = None
    stream = cast(AsyncGenerator[ChatMessage, None], manager.stream(command))
    try:
        async with aclosing(stream) as chunks:
            async for chunk in chunks:
                index = chunk.metadata.get("index", 0)
                if index != current:
                    if current is not None:
                        say("")
                    current = index
                    say("  tool: " if chunk.role == "tool" else "agent: ", "bold", end="")
                for call in chunk.metadata.get("tool_calls") or []:
                    if call.get("name"):
                        say(f"(calls {call['name']}({call.get('args', {})})) ", "cyan", end="")
                say(chunk.content, "cyan" if chunk.role == "tool" else None, end="")
    finally:
        if current is not None:
            say("")


# -- serve ----------------------------------------------------------------------------------------

_SERVER_EXTRA = ("fastapi", "uvicorn", "starlette", "prometheus_client")


@app.command()
@handled
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Listen on this address (default: server.host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Listen on this port (default: server.port)."),
    ] = None,
) -> None:
    """Run the HTTP service (extra `server`) on the configured agents, store, API keys and
    limits, until interrupted; turns in flight finish before it stops."""
    settings = _settings(ctx)
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if overrides:
        server_config = settings.server.model_copy(update=overrides)
        settings = settings.model_copy(update={"server": server_config})
    try:
        server = importlib.import_module("sessionful.service.http")
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in _SERVER_EXTRA:
            raise
        raise CliError(
            f"the HTTP service needs the server extra ({exc.name} is missing): "
            "pip install 'sessionful[server]'",
            EXIT_CONFIG,
        ) from None
    server.serve(settings)


# -- sessions -------------------------------------------------------------------------------------


@asynccontextmanager
async def _store(settings: Settings, *, create: bool = False) -> AsyncIterator[SessionStore | None]:
    """The configured session store, opened; ``None`` for a SQLite file that does not exist yet
    (unless ``create``), so that looking creates nothing."""
    plugins = Plugins()
    strategies = plugins.get_strategies()
    strategy = strategies.get(settings.strategy)
    if strategy is None:
        raise UnknownStrategy(settings.strategy, strategies)
    if not strategy.persistent:
        raise CliError(
            f"strategy {settings.strategy!r} keeps no sessions in a store; the sessions "
            'commands need a persisted strategy (strategy = "persisted")',
            EXIT_CONFIG,
        )
    url = settings.store
    scheme = url.split(":", 1)[0] if ":" in url else ""
    stores = plugins.get_stores()
    if scheme not in stores:
        raise UnknownStore(scheme or url, stores)
    store = stores[scheme].from_url(url)
    if not create and isinstance(store, SQLiteStore) and not store.path.exists():
        yield None
        return
    await store.open()
    try:
        yield store
    finally:
        await store.aclose()


def _key(agent: str, session: str, principal: str | None) -> SessionKey:
    return SessionKey(agent, session, principal)


def _not_found(key: SessionKey) -> CliError:
    whose = f" of principal {key.namespace!r}" if key.namespace is not None else ""
    return CliError(f"no session {key.session_id!r} of agent {key.agent_id!r}{whose}")


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


@sessions_app.command("list")
@handled
def sessions_list(
    ctx: typer.Context,
    agent: AgentFilter = None,
    principal: PrincipalFilter = None,
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
    settings = _settings(ctx)
    records, more = asyncio.run(_list(settings, agent, principal, limit, after))
    if not records:
        say("no stored sessions" + (" after " + after if after else ""))
        return
    now = time.time()
    table = Table(title=f"Sessions ({_mask_url(settings.store)})", title_justify="left")
    for name in ("agent", "session", "principal", "template"):
        table.add_column(name, overflow="fold")
    for name in ("turns", "messages", "last activity", "idle"):
        table.add_column(name, justify="right")
    for record in records:
        key = record.key
        table.add_row(
            key.agent_id,
            key.session_id or "-",
            key.namespace or "-",
            f"{record.template_id}@{record.template_version}",
            str(record.turn_count),
            str(record.message_count),
            when(record.last_activity),
            ago(record.last_activity, now),
        )
    show(table)
    if more:
        command = ["sessionful", "sessions", "list", "--limit", str(limit)]
        for flag, value in (("--agent", agent), ("--principal", principal)):
            if value is not None:
                command += [flag, value]
        command += ["--after", str(records[-1].key)]
        say(f"more: {shlex.join(command)}", "dim")


async def _list(
    settings: Settings, agent: str | None, principal: str | None, limit: int, after: str | None
) -> tuple[list[SessionRecord], bool]:
    async with _store(settings) as store:
        if store is None:
            return [], False
        found = await store.list_sessions(
            namespace=principal, agent_id=agent, after=after, limit=limit + 1
        )
    return found[:limit], len(found) > limit


@sessions_app.command("show")
@handled
def sessions_show(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="The agent id.")],
    session: Annotated[str, typer.Argument(metavar="SESSION", help="The session id.")],
    principal: PrincipalOption = None,
    last: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Show only the latest N messages (default: all)."),
    ] = None,
) -> None:
    """Show one stored session: its analytics and its conversation."""
    settings = _settings(ctx)
    key = _key(agent, session, principal)
    record, history = asyncio.run(_show(settings, key, last))
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
        ("lease", f"epoch {record.epoch}, {record.owner or 'no owner'}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    show(table)
    shown = f"latest {len(history)}" if last is not None else str(len(history))
    say(f"\nhistory ({shown} of {record.message_count} messages):", "bold")
    for message in history:
        say(_line(message))


def _line(message: ChatMessage) -> str:
    calls = message.metadata.get("tool_calls")
    if calls and not message.content:
        listed = ", ".join(f"{c.get('name')}({c.get('args', {})})" for c in calls)
        return f"  {message.role}: calls {listed}"
    return f"  {message.role}: {message.content}"


async def _show(
    settings: Settings, key: SessionKey, last: int | None
) -> tuple[SessionRecord, list[ChatMessage]]:
    async with _store(settings) as store:
        record = None if store is None else await store.get(key)
        if store is None or record is None:
            raise _not_found(key)
        return record, await store.history(key, last)


@sessions_app.command("end")
@handled
def sessions_end(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="The agent id.")],
    session: Annotated[str, typer.Argument(metavar="SESSION", help="The session id.")],
    principal: PrincipalOption = None,
) -> None:
    """End a stored session: delete its record, its messages and its snapshot, and say what
    was deleted. A service that has it loaded starts it afresh at its next turn."""
    settings = _settings(ctx)
    key = _key(agent, session, principal)
    deleted = asyncio.run(_end(settings, key))
    listed = ", ".join(plural(count, kind.removesuffix("s")) for kind, count in deleted.items())
    say(f"ended {key}: deleted {listed}")


async def _end(settings: Settings, key: SessionKey) -> dict[str, int]:
    async with _store(settings) as store:
        deleted = {} if store is None else await store.delete(key)
    if not any(deleted.values()):
        raise _not_found(key)
    return deleted


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
    settings = _settings(ctx)
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
    async with _store(settings) as store:
        if store is None:
            say(f"no stored sessions {limit}")
            return
        count, oldest = await _idle(store, before)
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
                purged = await store.purge_idle(before, size)
                deleted += len(purged)
                progress.update(task, completed=deleted, total=max(count, deleted))
                if len(purged) < size:
                    break
    say(f"deleted {plural(deleted, 'stored session')} {limit}", "bold")


async def _idle(
    store: SessionStore, before: float, shown: int = 10
) -> tuple[int, list[SessionRecord]]:
    """How many stored sessions were last active before ``before``, and the oldest few; read
    only, a page of the store at a time."""
    count = 0
    oldest: list[tuple[float, str, SessionRecord]] = []
    after: str | None = None
    while True:
        page = await store.list_sessions(after=after, limit=1000)
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


# -- plugins --------------------------------------------------------------------------------------

_HOOKS = (
    ("register_frameworks", "framework"),
    ("register_strategies", "strategy"),
    ("register_stores", "store"),
    ("register_templates", "template"),
)


@app.command()
@handled
def plugins() -> None:
    """List the frameworks, strategies, stores and templates installed, with the plugin and
    the distribution each comes from."""
    table = Table(title="Plugins", title_justify="left")
    for name in ("kind", "name", "details", "plugin", "distribution"):
        table.add_column(name, overflow="fold")
    for row in plugin_rows(Plugins()):
        table.add_row(*row)
    show(table)


def plugin_rows(found: Plugins) -> list[tuple[str, str, str, str, str]]:
    """``(kind, name, details, plugin, distribution)`` for everything registered."""
    found.get_frameworks(), found.get_strategies(), found.get_stores(), found.all_templates()
    distributions = found.distributions()
    rows: list[tuple[str, str, str, str, str]] = []
    for hook, kind in _HOOKS:
        for impl in getattr(found.pm.hook, hook).get_hookimpls():
            plugin = found.pm.get_name(impl.plugin) or repr(impl.plugin)
            if plugin in distributions:
                distribution = distributions[plugin]
            elif plugin.startswith("sessionful."):
                distribution = f"sessionful=={__version__} (built in)"
            else:
                distribution = "-"
            items: list[Any] = []
            impl.function(register=items.append)
            for item in items:
                name, details = _describe(kind, item)
                rows.append((kind, name, details, plugin, distribution))
    order = {kind: i for i, (_, kind) in enumerate(_HOOKS)}
    rows.sort(key=lambda row: (order[row[0]], row[1]))
    return rows


def _describe(kind: str, item: Any) -> tuple[str, str]:
    if kind == "framework":
        persistence = getattr(item, "persistence", None)
        return item.name, f"persistence: {persistence or 'none'}"
    if kind == "strategy":
        return item.name, "persisted" if item.persistent else "in memory"
    if kind == "store":
        return ", ".join(f"{s}://" for s in item.schemes), item.__qualname__
    return f"{item.framework}/{item.ref}", item.description


# -- config ---------------------------------------------------------------------------------------

_SECRET = re.compile(r"key|secret|password|passwd|token|credential", re.IGNORECASE)


@app.command()
@handled
def config(ctx: typer.Context) -> None:
    """Print the effective configuration as JSON (file, defaults and environment merged), with
    API keys and other secrets masked; exit 2 if it is wrong."""
    settings = _settings(ctx)
    options = ctx.find_root().obj
    source = config_path(options.config if isinstance(options, _Options) else None)
    prefix = "SESSIONFUL_"
    overrides = sorted(
        name
        for name in os.environ
        if name.startswith(prefix)
        and name[len(prefix) :].lower().partition("__")[0] in Settings.model_fields
    )
    note(
        f"configuration: {source if source is not None else 'built-in defaults (no file)'}"
        + (f"; overridden by {', '.join(overrides)}" if overrides else "")
    )
    out.print_json(json.dumps(masked(settings)), highlight=out.is_terminal)


def masked(settings: Settings) -> dict[str, Any]:
    """``settings`` as JSON data with secrets masked: API keys (their first four characters
    kept), a store URL's password, and values of secret-looking keys in framework settings and
    agent configurations."""
    data = settings.model_dump(mode="json")
    keys: dict[str, str] = {}
    for number, (key, principal) in enumerate(settings.auth.api_keys.items(), start=1):
        shown = f"{key[:4]}…"
        keys[shown if shown not in keys else f"{shown}#{number}"] = principal
    data["auth"]["api_keys"] = keys
    data["store"] = _mask_url(settings.store)
    data["framework_settings"] = _mask_values(data["framework_settings"])
    for agent in data["agents"]:
        agent["configuration"] = _mask_values(agent["configuration"])
    return data


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _mask_values(value: Any, secret: bool = False) -> Any:
    if isinstance(value, dict):
        return {
            k: _mask_values(v, secret or bool(_SECRET.search(str(k)))) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask_values(v, secret) for v in value]
    if secret and isinstance(value, str):
        return "***"
    return value
