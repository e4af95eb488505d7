"""Regenerate the screenshots of the sessions console in docs/console.md.

    .venv/bin/python scripts/console_screenshots.py [--out docs/images/console]

Starts a real server (the stub agent ``echo`` and the LangGraph ``customer-service-bot`` on the
offline model, SQLite in a temporary folder), drives Debian's Chromium through the same steps as
the browser tests (``tests/support/console.py``), and saves one PNG per page at 1024x720 (the
session page also at 375 px wide). Needs Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import expect  # noqa: E402

from support import server as servers  # noqa: E402
from support.console import NO_CHROMIUM, Console, chromium, chromium_binary  # noqa: E402

REFUND = "Refund $20.00 on order A-1001?"


def take(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="sessionful-shots-") as folder,
        servers.serving(Path(folder), access_log=False) as server,
        chromium(width=1024, height=720) as browser,
        server.client(servers.ALICE) as api,
    ):
        # Some history for the listing and the overview: a few sessions of both agents.
        for text in ("hello", "what can you do?"):
            sid = api.post(f"/v1/agents/{servers.ECHO}/sessions").json()["session_id"]
            api.post(
                f"/v1/agents/{servers.ECHO}/sessions/{sid}/messages",
                json={"messages": [{"role": "user", "content": text}]},
            ).raise_for_status()
        page = browser.new_page()
        console = Console(page, server.url, shots=out)

        console.open()
        expect(page.get_by_label("API key")).to_be_visible()
        console.shot("login")
        console.login(servers.KEYS[servers.ALICE])

        # A LangGraph session: a tool call (folded, opened here), then a refund to approve.
        sid = console.new_session(servers.BOT)
        console.send("Where is my order?", "Your order status")
        box = page.get_by_role("textbox", name="Message")
        box.fill("Please refund $20 on order A-1001")
        box.press("Enter")
        expect(page.get_by_role("button", name=f"Approve: {REFUND}")).to_be_visible()
        page.locator("details.tool").first.evaluate("(d) => { d.open = true; }")
        console.shot("session")

        page.set_viewport_size({"width": 375, "height": 740})
        console.shot("session-narrow")
        page.set_viewport_size({"width": 1024, "height": 720})

        console.approve(REFUND, "approved and issued")
        page.get_by_role("button", name="End session…").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        console.shot("end-session")
        page.keyboard.press("Escape")

        console.nav("Agents")
        console.shot("agents")
        console.nav("Sessions")
        expect(page.get_by_role("link", name=sid)).to_be_visible()
        console.shot("sessions")

        console.nav("Overview")
        for _ in range(3):  # samples every 5 s make the charts: let a few come in
            api.post(
                f"/v1/agents/{servers.BOT}/sessions/{sid}/messages",
                json={"messages": [{"role": "user", "content": "Where is my order?"}]},
            ).raise_for_status()
            time.sleep(5.2)
        expect(page.locator("svg.spark").first).to_be_visible()
        console.shot("overview")
        if console.problems:
            raise SystemExit("the console logged problems:\n" + "\n".join(console.problems))
    return sorted(out.glob("*.png"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "console")
    args = parser.parse_args()
    if chromium_binary() is None:
        sys.stderr.write(NO_CHROMIUM + "\n")
        return 2
    for path in take(args.out):
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
