"""The sessions console (``/ui``) driven in a real browser: Debian's Chromium, headless, through
Playwright for Python (pointed at the system binary: no browser is ever downloaded).

:class:`Console` walks the console as a person does (sign in, open pages, start a session, send a
message, answer the agent's question, leave feedback, end the session), each step waiting for
what the page shows once it is done. The browser tests (``tests/test_console.py``) check the API
after each step; ``scripts/console_screenshots.py`` runs the same steps to take the screenshots in
``docs/console.md``. Every console error, uncaught exception and failed request of the page is
collected in :attr:`Console.problems`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from playwright.sync_api import BrowserContext, Page, Response, expect, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

NO_CHROMIUM = (
    "no Chromium found (/usr/bin/chromium, or SESSIONFUL_CHROMIUM): the console's browser tests "
    "are skipped; install it with `apt-get install chromium chromium-driver` (.ci/run does)"
)

TIMEOUT_MS = 10_000
"""How long a step waits for the page (a stub turn takes milliseconds)."""


def chromium_binary() -> str | None:
    """The system Chromium: ``$SESSIONFUL_CHROMIUM``, ``/usr/bin/chromium``, or on the PATH."""
    for candidate in (
        os.environ.get("SESSIONFUL_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextlib.contextmanager
def chromium(
    *, width: int = 1100, height: int = 760, binary: str | None = None
) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile (removed afterwards), as one browser context."""
    executable = binary or chromium_binary()
    if executable is None:
        raise RuntimeError(NO_CHROMIUM)
    with (
        tempfile.TemporaryDirectory(prefix="sessionful-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            device_scale_factor=1,
            color_scheme="light",
            reduced_motion="reduce",
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class Console:
    """One browser tab on the console of the server at ``url``."""

    page: Page
    url: str
    shots: Path | None = None
    """Where :meth:`shot` saves screenshots (``None``: it does nothing)."""
    problems: list[str] = field(default_factory=list)
    """Console errors, uncaught exceptions and failed requests, as they happened."""

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        self.page.on("response", self._response)
        self.page.on(
            "requestfailed",
            lambda request: self.problems.append(
                f"request failed: {request.method} {request.url} ({request.failure})"
            ),
        )

    def _console(self, message: object) -> None:
        kind = getattr(message, "type", "")
        if kind == "error":
            self.problems.append(f"console error: {getattr(message, 'text', message)}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            request = response.request
            self.problems.append(f"HTTP {response.status}: {request.method} {response.url}")

    # -- moving around ---------------------------------------------------------------------------

    def open(self, fragment: str = "") -> None:
        """Load the console (``fragment``: a route such as ``#/sessions``)."""
        self.page.goto(f"{self.url}/ui/{fragment}")

    def heading(self, name: str | re.Pattern[str]) -> None:
        """Wait for the page's main heading."""
        expect(self.page.get_by_role("heading", level=1, name=name)).to_be_visible()

    def nav(self, section: str) -> None:
        """Follow a link of the navigation bar and wait for its page."""
        self.page.get_by_role("navigation", name="Console sections").get_by_role(
            "link", name=section
        ).click()
        self.heading(section)

    def shot(self, name: str, *, full_page: bool = False) -> None:
        """A screenshot as ``<shots>/<name>.png``, when taking them."""
        if self.shots is not None:
            self.page.screenshot(
                path=str(self.shots / f"{name}.png"), full_page=full_page, animations="disabled"
            )

    # -- the steps -------------------------------------------------------------------------------

    def login(self, key: str) -> None:
        """Sign in with ``key`` on the login screen; wait for the overview."""
        self.open()
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.heading("Overview")

    def new_session(self, agent_id: str) -> str:
        """Start a session from the agents page; wait for its page; its id."""
        self.nav("Agents")
        named = re.compile(rf"^New session with (.+ \()?{re.escape(agent_id)}\)?$")
        self.page.get_by_role("button", name=named).click()
        self.heading(re.compile("^Session "))
        match = re.search(r"#/sessions/([^/]+)/([^/?]+)", self.page.url)
        assert match is not None, self.page.url
        return unquote(match.group(2))

    def open_session(self, session_id: str) -> None:
        """From the sessions page, open a session by its link."""
        self.nav("Sessions")
        self.page.get_by_role("link", name=session_id).click()
        self.heading(re.compile("^Session "))

    def history(self) -> list[str]:
        """The texts of the session's messages, as shown."""
        items = self.page.get_by_role("list", name="Messages, oldest first").locator("article")
        return [text.strip() for text in items.all_inner_texts()]

    def send(self, text: str, reply: str) -> Response:
        """Type ``text`` in the chat box, press Enter, wait until ``reply`` is shown; the
        streamed response (``text/event-stream``)."""
        box = self.page.get_by_role("textbox", name="Message")
        box.fill(text)
        with self.page.expect_response(lambda r: r.url.endswith("/messages/stream")) as streamed:
            box.press("Enter")
        expect(self.page.locator("article.message.assistant").last).to_contain_text(reply)
        expect(self.page.locator("article.streaming")).to_have_count(0)
        return streamed.value

    def ask(self, question: str) -> None:
        """Send ``ask: <question>`` (the stub asks it back); wait for the question to show."""
        box = self.page.get_by_role("textbox", name="Message")
        box.fill(f"ask: {question}")
        box.press("Enter")
        expect(self.page.get_by_role("button", name=f"Approve: {question}")).to_be_visible()

    def approve(self, question: str, reply: str) -> None:
        """Approve the pending question; wait for the agent's ``reply``."""
        self.page.get_by_role("button", name=f"Approve: {question}").click()
        expect(self.page.locator("article.message.assistant").last).to_contain_text(reply)
        expect(self.page.get_by_role("heading", name="The agent asks")).to_have_count(0)

    def feedback(self, rating: int, comment: str) -> None:
        """Leave a rating and a comment; wait for the thanks."""
        form = self.page.get_by_role("region", name="Feedback")
        form.get_by_role("radio", name=str(rating)).check()
        form.get_by_label("Comment (optional)").fill(comment)
        form.get_by_role("button", name="Send feedback").click()
        expect(self.page.get_by_role("status").filter(has_text="feedback")).to_be_visible()

    def end_session(self) -> None:
        """End the open session, confirming in the dialog; wait for the sessions page."""
        self.page.get_by_role("button", name="End session…").click()
        dialog = self.page.get_by_role("dialog", name="End this session?")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="End session").click()
        self.heading("Sessions")

    def overflows(self) -> int:
        """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
        width: int = self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        return width

    def unlabelled(self) -> list[str]:
        """Form controls and buttons without an accessible name."""
        found: list[str] = self.page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
                .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim())
                .map((el) => el.outerHTML.slice(0, 120))"""
        )
        return found
