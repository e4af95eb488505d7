"""The API's documentation pages, offline: ``/openapi.json``, Swagger UI at ``/docs`` and ReDoc at
``/redoc``, their scripts and styles served from the package (``static/``, vendored from npm's
``swagger-ui-dist`` and ``redoc``; see ``static/README.md``), never from a CDN.

Each is an ordinary route, so ``/metrics`` labels its requests by its path like any other.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from sessionful.service.http._errors import ApiError

__all__ = ["ASSETS", "PATCHES", "STATIC_DIR", "add_docs", "patched"]

STATIC_DIR = Path(__file__).parent / "static"
"""The vendored files."""
ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": ("swagger-ui/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui/swagger-ui.css", "text/css"),
    "favicon.png": ("swagger-ui/favicon-32x32.png", "image/png"),
    "redoc.standalone.js": ("redoc/redoc.standalone.js", "text/javascript"),
}
"""What ``/docs/assets/{name}`` serves: name -> (file under :data:`STATIC_DIR`, media type)."""
PATCHES: dict[str, tuple[tuple[bytes, bytes], ...]] = {
    # ReDoc's menu footer loads Redocly's logo from their CDN; an empty image instead (the
    # component hides an image that fails to load). The file on disk stays as npm has it.
    "redoc.standalone.js": ((b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"data:,"),),
}
"""Replacements made in an asset as it is served, so no page loads anything from another host."""

_ASSET_URL = "/docs/assets/"
_CACHE = {"Cache-Control": "public, max-age=86400"}


def add_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Add the schema, the two documentation pages and their assets to ``app`` (made with
    ``openapi_url=None, docs_url=None, redoc_url=None``)."""
    title = f"{app.title} API"

    @app.get(openapi_url, include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=_ASSET_URL + "swagger-ui-bundle.js",
            swagger_css_url=_ASSET_URL + "swagger-ui.css",
            swagger_favicon_url=_ASSET_URL + "favicon.png",
            # No badge fetched from the online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=_ASSET_URL + "redoc.standalone.js",
            redoc_favicon_url=_ASSET_URL + "favicon.png",
            with_google_fonts=False,
        )

    @app.get(_ASSET_URL + "{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Any:
        found = ASSETS.get(name)
        if found is None:
            raise ApiError(404, "not_found", f"no documentation asset {name!r}")
        path, media_type = found
        if name in PATCHES:
            return Response(patched(name), media_type=media_type, headers=_CACHE)
        return FileResponse(STATIC_DIR / path, media_type=media_type, headers=_CACHE)


@functools.cache
def patched(name: str) -> bytes:
    """The asset ``name`` with its :data:`PATCHES` made."""
    content = (STATIC_DIR / ASSETS[name][0]).read_bytes()
    for old, new in PATCHES[name]:
        if old not in content:
            raise RuntimeError(f"{name}: {old!r} not found; review PATCHES for this version")
        content = content.replace(old, new)
    return content
