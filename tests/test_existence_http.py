"""Ended stays ended over real HTTP: two ``sessionful serve`` processes on one store (a SQLite
file, and Postgres when a server is available), a seeded random interleaving of creations,
turns, ends and reads sent to either process, checked against a plain model after every step.

What must hold whichever process answers: a session ended anywhere answers 404
``session_not_found`` everywhere (turn, GET, DELETE), never ``created`` again under the same id;
an acknowledged turn is never lost (each session's history is exactly its acknowledged turns);
and the replies count on unbroken, whichever process held the session last (takeovers).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server import ALICE, ECHO, Server, auth, config_text, running
from support.workers import POSTGRES_ENV

STEPS = 60


def _config(folder: Path, store: str) -> Path:
    text = config_text(folder / "sessions.db", langgraph=False)
    if store != "sqlite":
        text = "\n".join(
            f'store = "{store}"' if line.startswith("store = ") else line
            for line in text.splitlines()
        )
    config = folder / "sessionful.toml"
    config.write_text(text)
    return config


@pytest.fixture(params=["sqlite", "postgres"])
def two_servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Server]]:
    if request.param == "postgres":
        dsn = os.environ.get(POSTGRES_ENV)
        if not dsn:
            pytest.skip(f"POSTGRES TESTS SKIPPED: no server ({POSTGRES_ENV} is not set)")
        store = dsn
    else:
        store = "sqlite"
    config = _config(tmp_path, store)
    with running(config) as first, running(config) as second:
        yield [first, second]


@pytest.mark.parametrize("seed", [20261129])
def test_two_processes_agree_on_which_sessions_exist(two_servers: list[Server], seed: int) -> None:
    rng = random.Random(seed)
    clients = [server.client(ALICE) for server in two_servers]
    base = f"/v1/agents/{ECHO}/sessions"
    model: dict[str, list[str] | None] = {}
    """Session id -> the user texts of its acknowledged turns, or None once ended."""
    try:
        for step in range(STEPS):
            client = rng.choice(clients)
            op = rng.choice(("create", "turn", "turn", "turn", "end", "get"))
            if op == "create" or not model:
                answer = client.post(base, headers=auth(ALICE))
                assert answer.status_code == 201, answer.text
                model[answer.json()["session_id"]] = []
                continue
            session = rng.choice(sorted(model))
            texts = model[session]
            url = f"{base}/{session}"
            if op == "turn":
                text = f"step {step}"
                answer = client.post(
                    f"{url}/messages", json={"messages": [{"role": "user", "content": text}]}
                )
                if texts is None:
                    assert answer.status_code == 404, answer.text
                    assert answer.json()["error"]["code"] == "session_not_found"
                    continue
                assert answer.status_code == 200, answer.text
                texts.append(text)
                body = answer.json()
                assert body["messages"][-1]["content"] == f"echo #{len(texts)}: {text}"
                assert body["instance_event"] in ("created", "reused", "restored")
                assert body["instance_event"] != "created" or len(texts) == 1
            elif op == "end":
                answer = client.delete(url)
                if texts is None:
                    assert answer.status_code == 404, answer.text
                else:
                    assert answer.status_code == 200, answer.text
                    model[session] = None
            else:
                _check(client, url, texts)
        for session, texts in model.items():
            for client in clients:
                _check(client, f"{base}/{session}", texts)
    finally:
        for client in clients:
            client.close()


def _check(client: httpx.Client, url: str, texts: list[str] | None) -> None:
    answer = client.get(url)
    if texts is None:
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "session_not_found"
        return
    assert answer.status_code == 200, answer.text
    history = answer.json()["history"]
    assert [m["content"] for m in history if m["role"] == "user"] == texts
