"""Running the HTTP service under uvicorn until SIGTERM or SIGINT, stopping gracefully."""

from __future__ import annotations

import copy
import math
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import uvicorn
import uvicorn.config

from sessionful.service.config import Settings
from sessionful.service.http._app import create_app

__all__ = ["serve"]


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
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Run the HTTP service on ``settings.server.host:port`` until SIGTERM or SIGINT.

    A stop is graceful: no new connections, requests in flight finish (up to
    ``settings.server.graceful_timeout`` seconds, then they are cancelled), then the service
    shuts down (instances destroyed, stores flushed), and ``serve`` returns.

    Raises:
        ConfigurationError: the settings cannot run as a service (see :func:`create_app`).
        SystemExit: with status 3 if the server could not start (the port is taken, the store
            cannot be opened); uvicorn has logged why.
    """
    app = create_app(settings, plugins=plugins)
    # uvicorn's logging, plus sessionful' own loggers on the same handler.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["sessionful"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        "propagate": False,
    }
    config = uvicorn.Config(
        app,
        log_config=log_config,
        host=settings.server.host,
        port=settings.server.port,
        # uvicorn counts whole seconds
        timeout_graceful_shutdown=math.ceil(settings.server.graceful_timeout),
        lifespan="on",
        log_level=log_level,
        access_log=access_log,
        server_header=False,
    )
    server = uvicorn.Server(config)
    with _quiet_signals():
        server.run()
    if not server.started:
        raise SystemExit(3)
