"""The API's documentation pages work offline: ``/docs`` (Swagger UI) and ``/redoc`` load their
scripts and styles from the package, no page the server sends names another host, and
``/metrics`` labels the docs routes like every other route."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from sessionful.service.http._docs import ASSETS, PATCHES, STATIC_DIR, patched
from support import server as servers

EXTERNAL = re.compile(r"""(?:https?:)?//(?!127\.0\.0\.1[:/]|localhost[:/])[^\s"'<>)]+""")
"""A URL (or protocol-relative reference) to another host."""


@pytest.fixture(scope="module")
def main(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    tmp = tmp_path_factory.mktemp("docs")
    config = tmp / "sessionful.toml"
    config.write_text(servers.config_text(tmp / "s.db", langgraph=False))
    server = servers.start(config)
    yield server
    server.stop()


def _html_pages(client: httpx.Client) -> list[str]:
    """Every HTML page the server sends: the docs pages, the console's pages, and any page a
    GET route without parameters answers with HTML."""
    schema = client.get("/openapi.json").json()
    paths = {"/docs", "/redoc", "/ui/", "/ui/index.html"}
    paths |= {path for path, item in schema["paths"].items() if "get" in item and "{" not in path}
    pages = []
    for path in sorted(paths):
        response = client.get(path)
        if response.headers.get("content-type", "").startswith("text/html"):
            pages.append(path)
    return pages


def test_no_page_the_server_sends_refers_to_another_host(main: servers.Server) -> None:
    with main.client() as client:
        pages = _html_pages(client)
        assert {"/docs", "/redoc"} <= set(pages)
        for page in pages:
            text = client.get(page).text
            assert not EXTERNAL.findall(text), (page, EXTERNAL.findall(text))
            # Everything the page loads comes from this server, and is there.
            for ref in re.findall(r"""(?:src|href)=["']([^"']+)["']""", text):
                assert not urlsplit(ref).netloc, (page, ref)
                target = ref if ref.startswith("/") else page.rsplit("/", 1)[0] + "/" + ref
                assert client.get(target).status_code == 200, (page, ref)


def test_the_assets_are_the_packaged_files(main: servers.Server) -> None:
    with main.client() as client:
        for name, (path, media_type) in ASSETS.items():
            response = client.get(f"/docs/assets/{name}")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith(media_type)
            packaged = patched(name) if name in PATCHES else (STATIC_DIR / path).read_bytes()
            assert response.content == packaged
        missing = client.get("/docs/assets/../../config.py")
        assert missing.status_code == 404
        assert client.get("/docs/assets/unknown.js").json()["error"]["code"] == "not_found"
    # The licenses travel with the files.
    for license_file in ("swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE"):
        assert (STATIC_DIR / license_file).stat().st_size > 0


def _samples(client: httpx.Client) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for line in client.get("/metrics").text.splitlines():
        match = re.match(
            r'sessionful_http_requests_total\{method="GET",route="([^"]*)",status="(\d+)"\} (\S+)',
            line,
        )
        if match:
            found[(match.group(1), match.group(2))] = float(match.group(3))
    return found


def test_metrics_label_the_docs_routes(main: servers.Server) -> None:
    with main.client() as client:
        before = _samples(client)
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui.css", "/ui/"):
            assert client.get(path).status_code == 200
        client.get("/no/such/page")
        after = _samples(client)
    for route in ("/docs", "/redoc", "/openapi.json", "/docs/assets/{name}", "/ui/{path}"):
        assert after.get((route, "200"), 0) - before.get((route, "200"), 0) >= 1, route
    assert after[("unmatched", "404")] - before.get(("unmatched", "404"), 0) == 1


# -- in a browser, with every other host unreachable ----------------------------------------------


def _chromium() -> str | None:
    for candidate in (os.environ.get("SESSIONFUL_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium (apt-get install chromium)")
@pytest.mark.parametrize(
    ("page", "rendered"),
    [("/docs", ".opblock-summary-path"), ("/redoc", "[data-section-id^='tag/']")],
)
def test_the_docs_render_offline_in_a_browser(
    main: servers.Server, page: str, rendered: str
) -> None:
    from playwright.sync_api import Route, sync_playwright

    elsewhere: list[str] = []
    problems: list[str] = []

    def only_here(route: Route) -> Any:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            return route.continue_()
        elsewhere.append(route.request.url)
        return route.abort()

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=_chromium(),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab = browser.new_page()
            tab.route("**/*", only_here)
            tab.on("pageerror", lambda error: problems.append(str(error)))
            tab.goto(main.url + page)
            tab.wait_for_selector(rendered, timeout=20_000)
            assert tab.locator(rendered).count() >= 1
        finally:
            browser.close()
    assert elsewhere == []
    assert problems == []
