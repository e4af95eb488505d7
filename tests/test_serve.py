"""``sessionful serve`` as a person runs it: dev mode with no configuration (talked to like curl
does, over real HTTP), the refusal to listen beyond loopback without keys, the runner's switches
(log level, access log, JSON logs), the configuration source in the log, durations with units."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import server as servers

BIN = Path(sys.executable).parent / "sessionful"

ECHO_CONFIG = """\
strategy = "persisted"
store = "sqlite:///{db}"

[lifecycle]
idle_timeout = "30m"
retention = "7d"

[limits]
turn_timeout = "2m"

[server]
graceful_timeout = "5s"

[[agents]]
id = "echo"
framework = "stub"
template_id = "echo"
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONFUL_")}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", **extra)
    return env


@contextlib.contextmanager
def serving(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 90
) -> Iterator[tuple[str, Path]]:
    """``sessionful serve ARGS`` on a free loopback port in ``cwd``; yields its URL and log."""
    port = servers.free_port()
    log = cwd / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), *args],
            cwd=cwd,
            env=env or _env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited {process.returncode}:\n{log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield url, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_fresh_serve_with_no_configuration_is_dev_mode_and_answers_without_a_key(
    tmp_path: Path,
) -> None:
    with serving(cwd=tmp_path) as (url, log):
        # What `curl -X POST .../sessions` and `curl -d '{...}' .../messages` do: no key at all.
        created = httpx.post(f"{url}/v1/agents/customer-service-bot/sessions", timeout=30)
        assert created.status_code == 201, created.text
        session_id = created.json()["session_id"]
        turn = httpx.post(
            f"{url}/v1/agents/customer-service-bot/sessions/{session_id}/messages",
            json={"messages": [{"role": "user", "content": "Where is my order 42?"}]},
            timeout=60,
        )
        assert turn.status_code == 200, turn.text
        assert turn.json()["messages"], turn.json()
        listed = httpx.get(f"{url}/v1/sessions", timeout=30).json()
        assert session_id in json.dumps(listed)
    text = log.read_text()
    assert "DEV MODE" in text
    assert "WITHOUT authentication" in text
    assert "SESSIONFUL_AUTH__API_KEYS" in text
    assert "configuration: built-in defaults (no file)" in text
    assert "sessionful service started: 1 agent," in text  # not "1 agents"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_listening_beyond_loopback_without_keys_is_refused_in_one_line(
    tmp_path: Path, host: str
) -> None:
    done = subprocess.run(
        [str(BIN), "serve", "--host", host],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: refusing to listen on {host} without API keys")
    assert "[auth] api_keys" in lines[0]
    assert "SESSIONFUL_AUTH__API_KEYS" in lines[0]
    # The runner says the same.
    runner = subprocess.run(
        [sys.executable, "-m", "sessionful.service.http"],
        cwd=tmp_path,
        env=_env(SESSIONFUL_SERVER__HOST=host),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert runner.returncode == 2
    assert "SESSIONFUL_AUTH__API_KEYS" in runner.stderr


def test_with_keys_a_key_is_required_and_dev_makes_it_explicit(tmp_path: Path) -> None:
    config = tmp_path / "sessionful.toml"
    config.write_text(servers.config_text(tmp_path / "s.db", langgraph=False))
    with serving(cwd=tmp_path) as (url, log):
        assert httpx.post(f"{url}/v1/agents/echo/sessions").status_code == 401
        keyed = httpx.post(f"{url}/v1/agents/echo/sessions", headers=servers.auth(servers.ALICE))
        assert keyed.status_code == 201
    assert "DEV MODE" not in log.read_text()
    assert f"configuration: file {config.resolve()}" in log.read_text()
    with serving("--dev", cwd=tmp_path) as (url, log):
        assert httpx.post(f"{url}/v1/agents/echo/sessions").status_code == 201
    assert "DEV MODE" in log.read_text()


def test_json_logs_and_the_runner_switches(tmp_path: Path) -> None:
    (tmp_path / "sessionful.toml").write_text(ECHO_CONFIG.format(db=tmp_path / "s.db"))
    with serving("--log-format", "json", cwd=tmp_path) as (url, log):
        session = httpx.post(f"{url}/v1/agents/echo/sessions").json()["session_id"]
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    access = [entry for entry in entries if entry["logger"] == "uvicorn.access"]
    assert any(
        entry["method"] == "POST"
        and entry["path"] == "/v1/agents/echo/sessions"
        and entry["status"] == 201
        for entry in access
    ), access
    assert any(entry["message"].startswith("configuration: file") for entry in entries)
    assert session

    with serving("--no-access-log", "--log-level", "warning", cwd=tmp_path) as (url, log):
        httpx.post(f"{url}/v1/agents/echo/sessions")
    text = log.read_text()
    assert '"POST /v1/agents/echo/sessions' not in text  # no access line
    assert "sessionful service started" not in text  # an info line, below warning
    assert "DEV MODE" in text  # a warning


def test_durations_take_units_in_the_file_and_the_environment(tmp_path: Path) -> None:
    from sessionful.service.config import load_settings

    config = tmp_path / "sessionful.toml"
    config.write_text(ECHO_CONFIG.format(db=tmp_path / "s.db"))
    settings = load_settings(config)
    assert settings.lifecycle.idle_timeout == 1800
    assert settings.lifecycle.retention == 7 * 86400
    assert settings.limits.turn_timeout == 120
    assert settings.server.graceful_timeout == 5
    done = subprocess.run(
        [str(BIN), "-c", str(config), "config"],
        cwd=tmp_path,
        env=_env(SESSIONFUL_LIFECYCLE__IDLE_TIMEOUT="12h", SESSIONFUL_CLUSTER__NODE_TTL="1m"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "43200" in done.stdout
    bad = subprocess.run(
        [str(BIN), "config"],
        cwd=tmp_path,
        env=_env(SESSIONFUL_LIMITS__TURN_TIMEOUT="soon"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "'soon' is not a duration" in bad.stderr
    assert "SESSIONFUL_LIMITS__TURN_TIMEOUT" in bad.stderr


def test_help_shows_no_typer_placeholders() -> None:
    for args in (["--help"], ["serve", "--help"], ["sessions", "cleanup", "--help"]):
        done = subprocess.run(
            [str(BIN), *args], env=_env(), capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0
        for placeholder in ("<bool>", "<str>", "<int", "<float>", "<path>"):
            assert placeholder not in done.stdout, (args, placeholder)
    serve_help = subprocess.run(
        [str(BIN), "serve", "--help"], env=_env(), capture_output=True, text=True, check=False
    ).stdout
    for switch in ("--dev", "--log-level", "--no-access-log", "--log-format"):
        assert switch in serve_help
