"""The HTTP service (extra ``server``): ``create_app(settings)`` and ``serve(settings)``.

::

    from sessionful.service.config import load_settings
    from sessionful.service.http import serve

    serve(load_settings("sessionful.toml"))  # until SIGTERM; `sessionful serve` does this

The routes, the auth, the limits and the metrics are described in ``docs/service.md``; the
OpenAPI schema is at ``/openapi.json`` of a running server.
"""

from sessionful.service.http._app import create_app, serve
from sessionful.service.http._metrics import ServiceMetrics

__all__ = ["ServiceMetrics", "create_app", "serve"]
