"""kill -9 the server mid-conversation: every acknowledged turn survives, and the conversation
goes on where it stopped.

A real server (``persisted`` on a SQLite file, the stub agent) serves several sessions whose
turns a client runs concurrently; at a random moment, with turns in flight, the server process
gets SIGKILL. A new server on the same file must then show, in each session's history, every turn
whose answer (200) reached the client, in order and once; the only other turn allowed is the one
that was in flight when the process died (committed, not yet answered). The next turn of each
session is ``restored`` and its stub reply counts on from the history: the instance was rebuilt
from the store, not started afresh.

Three kills in ``make test``; ``SESSIONFUL_SOAK=1`` (``make soak``) does 25.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import server as servers

ALICE, ECHO = servers.ALICE, servers.ECHO

SOAK = os.environ.get("SESSIONFUL_SOAK") == "1"
KILLS = 25 if SOAK else 3
SESSIONS = 4
SEED = 20_261_125


@dataclass
class Conversation:
    """One session as the client knows it."""

    session_id: str
    acknowledged: list[str] = field(default_factory=list)
    """User texts whose turn was answered 200, in order."""
    unanswered: list[str] = field(default_factory=list)
    """Per kill: the text in flight when the server died (sent, never answered), if any."""

    @property
    def path(self) -> str:
        return f"/v1/agents/{ECHO}/sessions/{self.session_id}"


async def _talk(client: httpx.AsyncClient, talk: Conversation, round_: int) -> int:
    """Run turns until the server dies; return how many were answered."""
    answered = 0
    turn = 0
    while True:
        text = f"k{round_}-t{turn}"
        try:
            response = await client.post(
                f"{talk.path}/messages", json={"messages": [{"role": "user", "content": text}]}
            )
        except httpx.TransportError:
            talk.unanswered.append(text)
            return answered
        assert response.status_code == 200, response.text
        reply = response.json()["messages"][0]["content"]
        # The stub counts the user messages its instance has seen: the stored ones, plus this.
        assert reply == f"echo #{len(talk.acknowledged) + 1}: {text}", reply
        talk.acknowledged.append(text)
        answered += 1
        turn += 1


async def _run_until_killed(
    server: Any, talks: list[Conversation], round_: int, delay: float
) -> int:
    async with httpx.AsyncClient(
        base_url=server.url, headers=servers.auth(ALICE), timeout=30.0
    ) as client:
        loops = [asyncio.create_task(_talk(client, talk, round_)) for talk in talks]
        await asyncio.sleep(delay)
        server.process.kill()  # SIGKILL: no shutdown, no flush, no goodbye
        answered = await asyncio.gather(*loops)
    server.process.wait()
    return sum(answered)


def _check(server: Any, talks: list[Conversation]) -> None:
    """Every acknowledged turn is stored, in order, once; nothing else but in-flight turns."""
    with server.client(ALICE) as client:
        for talk in talks:
            shown = client.get(talk.path)
            assert shown.status_code == 200, shown.text
            history = shown.json()["history"]
            users = [m["content"] for m in history if m["role"] == "user"]
            replies = [m["content"] for m in history if m["role"] == "assistant"]
            assert len(users) == len(replies), history
            assert len(users) == len(set(users)), f"a turn is stored twice: {users}"
            acked = iter(talk.acknowledged)
            expected = next(acked, None)
            for text in users:
                if text == expected:
                    expected = next(acked, None)
                else:
                    assert text in talk.unanswered, f"{text!r} was never sent: {users}"
            assert expected is None, f"acknowledged turn {expected!r} is lost: {users}"
            for n, (text, reply) in enumerate(zip(users, replies, strict=True), start=1):
                assert reply == f"echo #{n}: {text}", (n, text, reply)
            # From here on, the in-flight turns that made it to the store count too.
            talk.acknowledged = users


def _continue(server: Any, talks: list[Conversation]) -> None:
    """The next turn of each session runs on an instance restored from the store."""
    with server.client(ALICE) as client:
        for talk in talks:
            text = f"after-{len(talk.acknowledged)}"
            response = client.post(
                f"{talk.path}/messages", json={"messages": [{"role": "user", "content": text}]}
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["instance_event"] == "restored"
            assert body["messages"][0]["content"] == f"echo #{len(talk.acknowledged) + 1}: {text}"
            talk.acknowledged.append(text)


@pytest.mark.slow  # also in make soak, with SESSIONFUL_SOAK=1 sizes
def test_kill_9_loses_no_acknowledged_turn(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    config = servers.write_config(tmp_path, langgraph=False, stub={"invoke_latency": 0.002})
    server = servers.start(config, access_log=False)
    try:
        with server.client(ALICE) as client:
            talks = [
                Conversation(client.post(f"/v1/agents/{ECHO}/sessions").json()["session_id"])
                for _ in range(SESSIONS)
            ]
        answered = 0
        for round_ in range(KILLS):
            answered += asyncio.run(
                _run_until_killed(server, talks, round_, delay=rng.uniform(0.2, 0.8))
            )
            server = servers.start(config, access_log=False)
            _check(server, talks)
            _continue(server, talks)
        assert answered >= KILLS * SESSIONS, f"too few turns ran before the kills: {answered}"
    finally:
        if server.process.poll() is None:
            server.stop()
