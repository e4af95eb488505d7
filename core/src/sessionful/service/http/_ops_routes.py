"""The operations routes: liveness, readiness and Prometheus metrics (no authentication)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from sessionful.service.http._deps import _STATUS_TEXT, _service
from sessionful.service.http._errors import ApiError
from sessionful.service.http._responses import ErrorResponse, Health, Readiness

__all__ = ["add_operations_routes"]


def add_operations_routes(app: FastAPI) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics``, on ``app``."""

    @app.get("/healthz", response_model=Health, summary="Liveness", tags=["operations"])
    async def healthz() -> Health:
        """``{"status": "ok"}`` while the service runs; no authentication."""
        return Health()

    @app.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": ErrorResponse, "description": _STATUS_TEXT[-503]}},
        summary="Readiness",
        tags=["operations"],
    )
    async def readyz(request: Request) -> Readiness:
        """``{"status": "ready"}`` when the service can serve: its session store answers and,
        clustered, its membership heartbeat is current; else 503 ``not_ready`` with the
        reason. No authentication."""
        reason = await _service(request).readiness()
        if reason is None:
            reason = request.app.state.membership.not_ready()
        if reason is not None:
            raise ApiError(503, "not_ready", reason, headers={"Retry-After": "5"})
        return Readiness()

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
        summary="Prometheus metrics",
        tags=["operations"],
    )
    async def metrics(request: Request) -> Response:
        """The Prometheus text exposition; no authentication (serve it on a private network)."""
        rendered: bytes = request.app.state.metrics.render()
        return Response(rendered, media_type=CONTENT_TYPE_LATEST)
