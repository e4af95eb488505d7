"""The HTTP service (extra ``server``): ``create_app(settings)`` and ``serve(settings)``.

::

    from sessionful.service.config import load_settings
    from sessionful.service.http import serve

    serve(load_settings("sessionful.toml"))  # until SIGTERM; `sessionful serve` does this

The routes, the auth, the limits and the metrics are described in ``docs/service.md``; the
OpenAPI schema is at ``/openapi.json`` of a running server.
"""

from sessionful.service.http._app import create_app
from sessionful.service.http._membership import membership_for
from sessionful.service.http._metrics import ServiceMetrics
from sessionful.service.http._middleware import NODE_HEADER, OWNER_HEADER
from sessionful.service.http._runner import serve

__all__ = ["NODE_HEADER", "OWNER_HEADER", "ServiceMetrics", "create_app", "membership_for", "serve"]
