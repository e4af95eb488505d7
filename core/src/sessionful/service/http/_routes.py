"""The routes: agents, sessions (created with a server's id or the caller's), turns, listing,
history, feedback, ending; liveness, readiness and metrics. :func:`add_routes` puts them all on
the app, from their modules: :mod:`._session_routes` (creation, turns, ending),
:mod:`._read_routes` (listings, a session, its history, feedback) and :mod:`._ops_routes`
(operations); what they share (auth, path ids, error responses) is in :mod:`._deps`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from sessionful.models import Interrupt, StreamEvent
from sessionful.service.http._ops_routes import add_operations_routes
from sessionful.service.http._read_routes import add_read_routes
from sessionful.service.http._responses import StreamDone
from sessionful.service.http._session_routes import add_session_routes

__all__ = ["add_routes"]


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema with the models only server-sent events carry (``StreamDone``,
    ``Interrupt``, ``StreamEvent``) in its components too, so clients can generate them."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (StreamDone, Interrupt, StreamEvent):
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in found.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components.setdefault(model.__name__, found)
        app.openapi_schema = schema
        return schema

    return openapi


def add_routes(app: FastAPI) -> None:
    """The service's routes, on ``app`` (in this order: it is the OpenAPI schema's)."""
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    add_session_routes(app)
    add_read_routes(app)
    add_operations_routes(app)
