"""The HTTP service (extra ``server``): ``create_app(settings)`` and ``serve(settings)``.

::

    from agent_sessions.config import load_settings
    from agent_sessions.server import serve

    serve(load_settings("agent-sessions.toml"))  # until SIGTERM; `agent-sessions serve` does this

The routes, the auth, the limits and the metrics are described in ``docs/service.md``; the
OpenAPI schema is at ``/openapi.json`` of a running server.
"""

from agent_sessions.server._app import create_app, serve
from agent_sessions.server._metrics import ServiceMetrics

__all__ = ["ServiceMetrics", "create_app", "serve"]
