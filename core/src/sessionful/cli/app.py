"""The ``sessionful`` command line: :data:`app`, a typer application assembled from the command
groups (:mod:`~sessionful.cli.chat`, :mod:`~sessionful.cli.sessions`,
:mod:`~sessionful.cli.info`), with ``demo`` and ``serve``.

Every command reads the configuration the same way (``--config PATH``, else
``$SESSIONFUL_CONFIG``, else ``./sessionful.toml``, else defaults, with
``SESSIONFUL_*`` variables on top) and reports the library's errors as one red line on
standard error: exit code 2 for a configuration or usage mistake, 1 for a runtime failure.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from sessionful import __version__
from sessionful.cli import _help
from sessionful.cli._context import Options, config_file, settings_from
from sessionful.cli._output import EXIT_CONFIG, CliError, handled, out, say
from sessionful.cli.chat import chat
from sessionful.cli.info import config, plugins
from sessionful.cli.sessions import sessions_app
from sessionful.service.config import AuthConfig, describe_source

__all__ = ["app"]

_help.install()  # TEXT / INTEGER placeholders in --help, none for flags

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
    ctx.obj = Options(config)


# -- demo -----------------------------------------------------------------------------------------


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
    framework: Annotated[
        str,
        typer.Option(
            help="The framework the bot runs on: langgraph or openai-agents (the OpenAI "
            "Agents SDK).",
        ),
    ] = "langgraph",
) -> None:
    """The main job, offline: two customers in parallel LangGraph sessions persisted on
    SQLite, a simulated restart, both sessions restored, and the analytics.

    Runs on the embedded defaults whatever the configuration says: the `customer-service-bot`
    agent on LangGraph's `tool-agent` template with the offline model (no network, no keys);
    `--framework openai-agents` tells the same story on the OpenAI Agents SDK.
    """
    from sessionful.cli.demo import FRAMEWORKS, run_demo

    if framework not in FRAMEWORKS:
        raise typer.BadParameter(f"one of {', '.join(FRAMEWORKS)}", param_hint="--framework")
    run_demo(db, out, framework)


# -- serve ----------------------------------------------------------------------------------------

_SERVER_EXTRA = ("fastapi", "uvicorn", "starlette", "prometheus_client")
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]


@handled
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Listen on this address (default: server.host). Without API keys only a "
            "loopback address is allowed.",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Listen on this port (default: server.port)."),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Dev mode: no authentication (API keys ignored), on 127.0.0.1 unless --host "
            "names another loopback address. Without API keys this is the default.",
        ),
    ] = False,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            metavar="LEVEL",
            help="critical, error, warning, info, debug or trace (default: server.log_level).",
        ),
    ] = None,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log a line per request, or not (default: server.access_log).",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        Literal["text", "json"] | None,
        typer.Option(
            metavar="FORMAT",
            help="text, or json: one JSON object per line (default: server.log_format).",
        ),
    ] = None,
) -> None:
    """Run the HTTP service (extra `server`) on the configured agents, store, API keys and
    limits, until interrupted; turns in flight finish before it stops.

    With no API keys configured (`[auth] api_keys`, `SESSIONFUL_AUTH__API_KEYS`) it runs in
    dev mode: no authentication, loopback only, said loudly at startup; `curl` works at once.
    It logs the configuration file it read."""
    settings = settings_from(ctx)
    overrides: dict[str, Any] = {}
    if dev:
        settings = settings.model_copy(update={"auth": AuthConfig()})
        overrides["host"] = "127.0.0.1"
    for name, value in (
        ("host", host),
        ("port", port),
        ("log_level", log_level),
        ("access_log", access_log),
        ("log_format", log_format),
    ):
        if value is not None:
            overrides[name] = value
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
    server.serve(settings, source=describe_source(config_file(ctx)))


# -- the command groups ---------------------------------------------------------------------------

app.command()(demo)
app.command()(chat)
app.command()(serve)
app.add_typer(sessions_app, name="sessions")
app.command()(plugins)
app.command()(config)
