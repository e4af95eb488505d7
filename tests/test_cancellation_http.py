"""A client that goes away mid-turn, over real HTTP (uvicorn on loopback, the persisted stub on
a SQLite file, a turn taking 0.6 s): the turn is either not stored at all, or stored *and*
acknowledged (history, stats and metrics agree), and the session's instance stays: no
``lease-lost`` unload in a process that has no rival, and the next turn is ``reused`` and counts
on from exactly what the history holds. Streaming and not."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from support.server import ALICE, ECHO, Server, serving

LATENCY = 0.6


def _turn(text: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
def test_a_client_gone_mid_turn_leaves_no_half_state(tmp_path: Path, stream: bool) -> None:
    with serving(tmp_path, langgraph=False, stub={"invoke_latency": LATENCY}) as server:
        with server.client(ALICE) as client:
            created = client.post(f"/v1/agents/{ECHO}/sessions")
            assert created.status_code == 201, created.text
            url = f"/v1/agents/{ECHO}/sessions/{created.json()['session_id']}"
            first = client.post(f"{url}/messages", json=_turn("one"))
            assert first.status_code == 200, first.text

            # The client gives up halfway through the turn.
            path = f"{url}/messages/stream" if stream else f"{url}/messages"
            with pytest.raises(httpx.TimeoutException):
                client.post(path, json=_turn("two"), timeout=LATENCY / 2)

            # The next turn waits for the abandoned one (the session's gate), then runs.
            after = client.post(f"{url}/messages", json=_turn("three"))
            assert after.status_code == 200, after.text
            body = after.json()
            history = client.get(url).json()["history"]
        _check(server, body, history)


def _check(server: Server, body: dict[str, object], history: list[dict[str, object]]) -> None:
    users = [m["content"] for m in history if m["role"] == "user"]
    assert users in (["one", "three"], ["one", "two", "three"]), users
    # The reply counts on from exactly what was stored: no fork, no replay.
    assert body["messages"][-1]["content"] == f"echo #{len(users)}: three"  # type: ignore[index]
    assert body["instance_event"] == "reused"  # the instance was never dropped
    assert body["stats"]["turn_count"] == len(users)  # type: ignore[index]
    assert "lease-lost" not in server.log_text()
    for reason in ("lease-lost", "evicted"):
        evicted = server.metric("sessionful_sessions_evicted_total", agent_id=ECHO, reason=reason)
        assert evicted == 0, reason
