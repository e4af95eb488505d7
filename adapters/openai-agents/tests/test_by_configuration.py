"""``sessionful chat`` and ``sessionful serve`` run OpenAI Agents SDK agents by configuration
alone (issue 14, item 7): a ``sessionful.toml`` whose agents say ``framework = "openai-agents"``,
no code. ``chat`` reads its lines from stdin; ``serve`` is a real server process
(``support.server``), driven over HTTP, a tool approval included (interrupt, then resume)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from sessionful.cli.app import app
from support.server import KEYS, running

SUPPORT = "support"
"""The ``tool-agent`` template (``order_status``, and ``refund``, which needs approval)."""
CHAT = "chatty"
"""The ``chat`` template."""


def _config(folder: Path) -> Path:
    config = folder / "sessionful.toml"
    db = (folder / "sessions.db").resolve().as_posix()
    keys = "\n".join(f'"{key}" = "{principal}"' for principal, key in KEYS.items())
    config.write_text(
        f"""strategy = "persisted"
store = "sqlite:///{db}"

[[agents]]
id = "{SUPPORT}"
name = "Support"
framework = "openai-agents"
template_id = "tool-agent"
template_version = "1"

[[agents]]
id = "{CHAT}"
framework = "openai-agents"
template_id = "chat"

[auth.api_keys]
{keys}

[server]
host = "127.0.0.1"
""",
        encoding="utf-8",
    )
    return config


def _chat(config: Path, *args: str, input: str) -> Result:
    result = CliRunner().invoke(app, ["-c", str(config), "chat", *args], input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_chat_runs_an_openai_agents_agent_from_the_configuration(tmp_path: Path) -> None:
    config = _config(tmp_path)
    lines = "Hello, my name is Ada\nWhat is my name?\nPlease refund $20 on order A-17\napprove\n"
    first = _chat(config, "-a", SUPPORT, "-s", "s1", input=lines)
    assert first.stdout.splitlines()[:9] == [
        "session s1: new",
        "you: Hello, my name is Ada",
        "agent: Nice to meet you, Ada.",
        "you: What is my name?",
        "agent: Your name is Ada.",
        "you: Please refund $20 on order A-17",
        'agent asks: {"tool": "refund", "arguments": {"amount": 20.0, "order_id": "A-17"}}',
        "answer: approve",
        "agent: Refund: refunded $20.00 on order A-17",
    ], first.stdout
    # Another run of the command: the session comes back from the SQLite file.
    again = _chat(config, "-a", SUPPORT, "-s", "s1", input="What is my name?\n")
    assert "session s1: continuing (4 turns so far)" in again.stdout, again.stdout
    assert "agent: Your name is Ada." in again.stdout, again.stdout
    # An approval left open waits across runs; a rejection is an answer too.
    asked = _chat(config, "-a", SUPPORT, "-s", "s2", input="Refund $5 on order B-2\n")
    assert "agent asks:" in asked.stdout and '"tool": "refund"' in asked.stdout, asked.stdout
    rejected = _chat(config, "-a", SUPPORT, "-s", "s2", input="reject\n")
    assert "answer: reject" in rejected.stdout, rejected.stdout
    assert "refunded" not in rejected.stdout, rejected.stdout
    chat = _chat(config, "-a", CHAT, input="My name is Grace\nWhat is my name?\n")
    assert "agent: Your name is Grace." in chat.stdout, chat.stdout


def test_serve_runs_openai_agents_agents_from_the_configuration(tmp_path: Path) -> None:
    config = _config(tmp_path)
    base = f"/v1/agents/{SUPPORT}/sessions"
    with running(config) as server, server.client("alice") as alice:
        created = alice.post(base, json={})
        assert created.status_code == 201, created.text
        s1 = created.json()["session_id"]
        chat = alice.post(f"/v1/agents/{CHAT}/sessions", json={}).json()["session_id"]
        said = alice.post(
            f"{base}/{s1}/messages",
            json={"messages": [{"role": "user", "content": "Hi, my name is Ada"}]},
        )
        assert said.status_code == 200, said.text
        assert said.json()["status"] == "completed"
        asked = alice.post(
            f"{base}/{s1}/messages",
            json={"messages": [{"role": "user", "content": "Please refund $20 on order A-17"}]},
        )
        assert asked.status_code == 200, asked.text
        body = asked.json()
        assert body["status"] == "interrupted", body
        [interrupt] = body["interrupts"]
        assert interrupt["value"] == {
            "tool": "refund",
            "arguments": {"amount": 20.0, "order_id": "A-17"},
        }
        # The session waits for the answer: a new message is refused, the pending approval shown.
        blocked = alice.post(
            f"{base}/{s1}/messages", json={"messages": [{"role": "user", "content": "hello?"}]}
        )
        assert blocked.status_code == 409, blocked.text
        assert blocked.json()["error"]["code"] == "interrupt_pending"
        shown = alice.get(f"{base}/{s1}")
        assert shown.status_code == 200, shown.text
        assert [i["id"] for i in shown.json()["interrupts"]] == [interrupt["id"]]
        wrong = alice.post(f"{base}/{s1}/messages", json={"resume": {"no-such-call": "approve"}})
        assert wrong.status_code == 422, wrong.text
        done = alice.post(f"{base}/{s1}/messages", json={"resume": {interrupt["id"]: "approve"}})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed", done.json()
        texts = [m["content"] for m in done.json()["messages"]]
        assert texts[-1] == "Refund: refunded $20.00 on order A-17", texts
        remembered = alice.post(
            f"{base}/{s1}/messages",
            json={"messages": [{"role": "user", "content": "What is my name?"}]},
        )
        assert remembered.json()["messages"][-1]["content"] == "Your name is Ada."
        # Streams too (SSE): the reply's words, then the stored answer.
        with alice.stream(
            "POST",
            f"/v1/agents/{CHAT}/sessions/{chat}/messages/stream",
            json={"messages": [{"role": "user", "content": "My name is Grace"}]},
        ) as streamed:
            assert streamed.status_code == 200
            events = streamed.read().decode()
        assert "event: done" in events and '"status":"completed"' in events, events
        assert '"content":"Grace' in events or "Grace" in events.split("event: done")[0], events
        # Another principal does not see the session.
        with server.client("bob") as bob:
            assert bob.get(f"{base}/{s1}").status_code == 404
    # A restart: the approved refund and the name are still the session's.
    with running(config) as server, server.client("alice") as alice:
        history = alice.get(f"{base}/{s1}").json()
        contents = [m["content"] for m in history["history"]]
        assert "Refund: refunded $20.00 on order A-17" in contents, contents
        assert history["interrupts"] == []
        again = alice.post(
            f"{base}/{s1}/messages",
            json={"messages": [{"role": "user", "content": "What is my name?"}]},
        )
        assert again.status_code == 200, again.text
        assert again.json()["instance_event"] == "restored"
        assert again.json()["messages"][-1]["content"] == "Your name is Ada."
