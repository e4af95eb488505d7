"""The app factory: :func:`create_app` puts the service, the membership, the middlewares and the
routes together in a FastAPI app whose lifespan starts and stops them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from sessionful import __version__
from sessionful.errors import ConfigurationError
from sessionful.service.app import AgentService
from sessionful.service.config import Settings
from sessionful.service.http._docs import add_docs
from sessionful.service.http._errors import install_handlers
from sessionful.service.http._membership import membership_for
from sessionful.service.http._metrics import ServiceMetrics
from sessionful.service.http._middleware import AffinityMiddleware, EdgeMiddleware
from sessionful.service.http._routes import add_routes
from sessionful.service.http._ui import add_console
from sessionful.service.membership import LocalMembership

__all__ = ["create_app"]

logger = logging.getLogger("sessionful.service.http")


def create_app(
    settings: Settings,
    *,
    plugins: Iterable[object] = (),
    membership: LocalMembership | None = None,
) -> FastAPI:
    """The HTTP service for ``settings``, as a FastAPI app (an ASGI app for any server).

    Its lifespan starts the :class:`~sessionful.service.app.AgentService` (stores opened, sweepers
    running) and stops it on shutdown: turns in flight finish, every instance is destroyed, the
    stores are flushed and closed. ``plugins`` are extra sessionful plugins (hook observers);
    the service's own Prometheus metrics are always one.

    The lifespan also starts and stops the cluster ``membership`` (by default
    :func:`membership_for` the settings: registration in PostgreSQL with a ``postgresql://``
    store, else this instance alone). Every request about a session is served here whoever owns
    it, and counted as an affinity hit or miss; with ``[cluster] owner_header`` the response names
    the owner's address (``X-Sessionful-Owner``) and this node (``X-Sessionful-Node``).

    Raises:
        ConfigurationError: the settings cannot run as a service (an unknown framework, strategy,
            store or template; a strategy without per-session instances, such as ``shared``).
    """
    metrics = ServiceMetrics()
    plugins = list(plugins)
    tracing = any(getattr(plugin, "sessionful_tracing", False) for plugin in plugins)
    tracer = _tracer(settings) if settings.tracing.enabled and not tracing else None
    if tracer is not None:
        plugins.append(tracer)
    service = AgentService(settings, plugins=[metrics, *plugins])
    for manager in service.managers.values():
        if not manager.keeps_sessions_apart:
            raise ConfigurationError(
                f"strategy {settings.strategy!r} does not keep sessions and principals apart;"
                " the HTTP service needs 'per_session' or 'persisted'"
            )
    cluster = membership if membership is not None else membership_for(settings, service)
    metrics.cluster_nodes.set_function(lambda: len(cluster.live()))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service, cluster:
            logger.info(
                "sessionful service started: %d agent%s, strategy %r, node %r",
                len(service.agents),
                "" if len(service.agents) == 1 else "s",
                settings.strategy,
                cluster.node_id,
            )
            yield
        if tracer is not None:
            tracer.shutdown()  # the spans still buffered are exported
        logger.info("sessionful service stopped: turns finished, instances closed")

    app = FastAPI(
        title="sessionful",
        version=__version__,
        description=(
            "One agent instance per conversation session, reused across turns. Authenticate "
            "with `Authorization: Bearer <key>` or `X-API-Key: <key>`; every error is "
            '`{"error": {"code": ..., "message": ...}}`.'
        ),
        lifespan=lifespan,
        # The schema and the docs pages are ordinary routes (add_docs): offline, and counted.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # `/path/` is not `/path`: a JSON 404, not a 307 to a URL built from the Host header.
        redirect_slashes=False,
    )
    app.state.service = service
    app.state.metrics = metrics
    app.state.membership = cluster
    install_handlers(app)
    app.add_middleware(
        AffinityMiddleware,
        membership=cluster,
        metrics=metrics,
        header=settings.cluster.owner_header,
    )
    app.add_middleware(EdgeMiddleware, max_body=settings.limits.max_body_bytes, metrics=metrics)
    if tracing or tracer is not None:  # the turns' spans are children of the caller's
        from sessionful.otel import TraceContextMiddleware

        app.add_middleware(TraceContextMiddleware)
    add_routes(app)
    add_docs(app)  # /openapi.json, /docs, /redoc from packaged assets
    add_console(app)  # the sessions console at /ui
    return app


def _tracer(settings: Settings) -> Any:
    """The :class:`~sessionful.otel.TurnTracer` of ``[tracing]``; a ``ConfigurationError``
    naming the extra without OpenTelemetry."""
    try:
        from sessionful.otel import TurnTracer, build_tracer_provider

        config = settings.tracing
        provider = build_tracer_provider(
            config.exporter, service_name=config.service_name, endpoint=config.endpoint
        )
    except ImportError as exc:
        raise ConfigurationError(f"[tracing] enabled: {exc}") from None
    return TurnTracer(provider)
