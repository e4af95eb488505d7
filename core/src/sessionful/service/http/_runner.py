"""Running the HTTP service under uvicorn until SIGTERM or SIGINT, stopping gracefully."""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import uvicorn

from sessionful.errors import ConfigurationError
from sessionful.service.app import DEV_PRINCIPAL
from sessionful.service.config import Settings, is_loopback
from sessionful.service.http._app import create_app
from sessionful.service.http._logging import log_config

__all__ = ["check_bind", "serve"]

logger = logging.getLogger("sessionful.service.http")


def check_bind(settings: Settings) -> None:
    """Refuse to listen beyond loopback without API keys (``ConfigurationError``, one line)."""
    host = settings.server.host
    if not settings.auth.api_keys and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to listen on {host} without API keys: set [auth] api_keys "
            "(or SESSIONFUL_AUTH__API_KEYS), or listen on 127.0.0.1 in dev mode"
        )


@contextmanager
def _quiet_signals() -> Iterator[None]:
    """Uvicorn re-raises the SIGTERM or SIGINT that stopped it once it has shut down gracefully;
    with these no-op handlers in place, a graceful stop exits normally (status 0)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ignore(signum: int, frame: object) -> None:
        pass

    previous = {sig: signal.signal(sig, ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(
    settings: Settings,
    *,
    plugins: Iterable[object] = (),
    log_level: str | None = None,
    access_log: bool | None = None,
    source: str | None = None,
) -> None:
    """Run the HTTP service on ``settings.server.host:port`` until SIGTERM or SIGINT.

    ``log_level`` and ``access_log`` default to ``[server]``'s; ``source`` (where the settings
    came from, see :func:`~sessionful.service.config.describe_source`) is logged at startup.

    Without API keys the service runs in dev mode: no authentication (every request is the
    principal ``dev``), on a loopback address only, said loudly at startup.

    A stop is graceful: no new connections, requests in flight finish (up to
    ``settings.server.graceful_timeout`` seconds, then they are cancelled), then the service
    shuts down (instances destroyed, stores flushed), and ``serve`` returns.

    Raises:
        ConfigurationError: the settings cannot run as a service (see :func:`create_app`), or
            there are no API keys and ``server.host`` is not a loopback address.
        SystemExit: with status 3 if the server could not start (the port is taken, the store
            cannot be opened); uvicorn has logged why.
    """
    check_bind(settings)
    server_config = settings.server
    level = log_level if log_level is not None else server_config.log_level
    app = create_app(settings, plugins=plugins)
    config = uvicorn.Config(
        app,
        # uvicorn's logging, plus sessionful's own loggers on the same handler (as text or JSON)
        log_config=log_config(level, server_config.log_format),
        host=server_config.host,
        port=server_config.port,
        # uvicorn counts whole seconds
        timeout_graceful_shutdown=math.ceil(server_config.graceful_timeout),
        lifespan="on",
        log_level=level,
        access_log=server_config.access_log if access_log is None else access_log,
        server_header=False,
    )
    if source is not None:
        logger.info("configuration: %s", source)
    if not settings.auth.api_keys:
        logger.warning(
            "DEV MODE: no API keys configured, so every request is served WITHOUT "
            "authentication (as principal %r), on %s:%d only; set [auth] api_keys "
            "(SESSIONFUL_AUTH__API_KEYS) to require keys",
            DEV_PRINCIPAL,
            server_config.host,
            server_config.port,
        )
    server = uvicorn.Server(config)
    with _quiet_signals():
        server.run()
    if not server.started:
        raise SystemExit(3)
