"""A real sessionful server for the tests and the load benchmark: uvicorn in a subprocess on a
free 127.0.0.1 port, configured by a temporary ``sessionful.toml``.

``python -m sessionful.service.http CONFIG`` runs it (what ``sessionful serve`` runs); its log
goes to a file next to the configuration, and :func:`start` waits for ``/healthz``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]

BOT = "customer-service-bot"
"""The LangGraph agent: template ``tool-agent`` on the offline model."""
ECHO = "echo"
"""The stub agent (``echo #n: <text>``)."""

ALICE, BOB = "alice", "bob"
KEYS = {ALICE: "alice-key-0123456789abcdef", BOB: "bob-key-0123456789abcdef00"}
"""Each principal's API key."""


def auth(principal: str) -> dict[str, str]:
    """The ``Authorization`` header of ``principal``."""
    return {"Authorization": f"Bearer {KEYS[principal]}"}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)  # a TOML basic string is a JSON string


def config_text(
    db: Path,
    *,
    langgraph: bool = True,
    stub: Mapping[str, float] | None = None,
    limits: Mapping[str, Any] | None = None,
    overlap: str = "enqueue",
    graceful_timeout: float = 10.0,
    lifecycle: Mapping[str, Any] | None = None,
) -> str:
    """An ``sessionful.toml``: ``persisted`` on the SQLite file ``db``, the stub agent
    ``echo`` (and the LangGraph ``customer-service-bot`` unless ``langgraph=False``), and the
    two principals' keys. The port comes from the environment (see :func:`start`)."""
    lines = [
        'strategy = "persisted"',
        f"store = {_toml('sqlite:///' + db.resolve().as_posix())}",
        f"overlap = {_toml(overlap)}",
        "",
        "[lifecycle]",
        *(f"{k} = {_toml(v)}" for k, v in (lifecycle or {}).items()),
        "",
        "[framework_settings.stub]",
        *(f"{k} = {_toml(v)}" for k, v in (stub or {}).items()),
        "",
        "[[agents]]",
        f"id = {_toml(ECHO)}",
        'framework = "stub"',
        'template_id = "echo"',
    ]
    if langgraph:
        lines += [
            "",
            "[[agents]]",
            f"id = {_toml(BOT)}",
            'name = "Customer service"',
            'framework = "langgraph"',
            'template_id = "tool-agent"',
            'template_version = "1"',
        ]
    lines += [
        "",
        "[auth.api_keys]",
        *(f"{_toml(key)} = {_toml(principal)}" for principal, key in KEYS.items()),
        "",
        "[limits]",
        *(f"{k} = {_toml(v)}" for k, v in (limits or {}).items()),
        "",
        "[server]",
        'host = "127.0.0.1"',
        f"graceful_timeout = {_toml(graceful_timeout)}",
        "",
    ]
    return "\n".join(lines)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A running server process."""

    process: subprocess.Popen[bytes]
    port: int
    config: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, principal: str | None = None, **options: Any) -> httpx.Client:
        """An httpx client on this server (as ``principal``, when given)."""
        headers = {**(auth(principal) if principal else {}), **options.pop("headers", {})}
        options.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.url, headers=headers, **options)

    def rss_bytes(self) -> int:
        """The server process's resident memory (Linux ``/proc``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def metric(self, name: str, **labels: str) -> float:
        """The value of sample ``name`` with exactly ``labels`` on ``/metrics`` (0 if absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        with self.client() as anonymous:
            text = anonymous.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def reused(self, agent_id: str) -> float:
        """How many turns on ``agent_id`` found their session's instance live so far. A turn
        counts once it holds its session, on its way into the agent; the first turn of a
        session made with ``POST .../sessions`` counts too (that request made the instance)."""
        return self.metric("sessionful_sessions_reused_total", agent_id=agent_id)

    def listening(self) -> bool:
        """Whether the server still accepts connections."""
        try:
            httpx.get(f"{self.url}/healthz", timeout=2.0)
        except httpx.ConnectError:
            return False
        except httpx.TransportError:  # accepted, then cut while it shuts down: ask again
            return True
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"the server did not stop within {timeout} s:\n{self.log_text()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL: no shutdown at all."""
        self.process.kill()
        self.process.wait()


def wait_until(condition: Callable[[], bool], what: str, *, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds.

    For ordering a test's steps on something observable (a metric, a file, the port), never on
    a guessed delay."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.01)


def start(
    config: Path, *, timeout: float = 60.0, access_log: bool = True, attempts: int = 3
) -> Server:
    """Start a server on ``config`` on a free loopback port and wait until ``/healthz`` answers.

    Its log is ``<config>.log`` (appended to across restarts).
    """
    log = config.with_suffix(".log")
    for attempt in range(attempts):
        port = free_port()
        env = {**os.environ, "SESSIONFUL_SERVER__PORT": str(port), "PYTHONUNBUFFERED": "1"}
        env.pop("SESSIONFUL_CONFIG", None)
        args = [sys.executable, "-m", "sessionful.service.http", str(config)]
        if not access_log:
            args.append("--no-access-log")
        with log.open("ab") as out:
            process = subprocess.Popen(
                args, cwd=config.parent, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        server = Server(process, port, config, log)
        if _wait_healthy(server, timeout):
            return server
        if process.poll() is None:
            server.kill()
        if "address already in use" not in server.log_text() or attempt == attempts - 1:
            raise AssertionError(f"the server did not start:\n{server.log_text()}")
    raise AssertionError("unreachable")


def _wait_healthy(server: Server, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/healthz", timeout=2.0).status_code == 200:
                return True
        time.sleep(0.05)
    return False


def write_config(folder: Path, **options: Any) -> Path:
    """Write ``folder/sessionful.toml`` (:func:`config_text` on ``folder/sessions.db`` with
    ``options``); its path."""
    config = folder / "sessionful.toml"
    config.write_text(config_text(folder / "sessions.db", **options))
    return config


@contextlib.contextmanager
def serving(folder: Path, *, access_log: bool = True, **options: Any) -> Iterator[Server]:
    """:func:`running` on :func:`write_config` ``(folder, **options)``."""
    with running(write_config(folder, **options), access_log=access_log) as server:
        yield server


@contextlib.contextmanager
def running(config: Path, **options: Any) -> Iterator[Server]:
    """A server for the duration of the block, stopped gracefully (killed if it hangs)."""
    server = start(config, **options)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            with contextlib.suppress(AssertionError):
                server.stop(timeout=20.0)
