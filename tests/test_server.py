"""The HTTP service against a real server: uvicorn in a subprocess on a loopback port, configured
by a temporary ``sessionful.toml`` (``persisted`` on SQLite, the LangGraph
``customer-service-bot`` and the stub ``echo`` agent, two principals), and a real httpx client.

Three servers: ``main`` for the endpoints, auth, isolation, validation and size limits;
``tight`` (a slow stub, ``overlap = "reject"``, a short ``turn_timeout``, three sessions per
principal) for 409, 429 and 504; and one per graceful-shutdown test, which SIGTERMs it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sessionful import (
    AgentCreateRequest,
    AgentInstance,
    ChatMessage,
    SessionKey,
    TurnOutput,
    TurnRequest,
    UnloadReason,
    Usage,
    hookimpl,
)
from support import load_file
from support import server as servers

ROOT = servers.ROOT
ALICE, BOB, BOT, ECHO = servers.ALICE, servers.BOB, servers.BOT, servers.ECHO
auth = servers.auth

MAX_CHARS = 1_000
MAX_MESSAGES = 4
MAX_BODY = 64 * 1024


def hello(text: str = "Hello") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module")
def main(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    limits = {
        "max_message_chars": MAX_CHARS,
        "max_messages_per_request": MAX_MESSAGES,
        "max_body_bytes": MAX_BODY,
    }
    with servers.serving(tmp_path_factory.mktemp("main"), limits=limits) as server:
        yield server


@pytest.fixture
def alice(main: Any) -> Iterator[httpx.Client]:
    with main.client(ALICE) as client:
        yield client


@pytest.fixture
def bob(main: Any) -> Iterator[httpx.Client]:
    with main.client(BOB) as client:
        yield client


def new_session(client: httpx.Client, agent: str = ECHO) -> str:
    response = client.post(f"/v1/agents/{agent}/sessions")
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def turns(agent: str, session_id: str) -> str:
    return f"/v1/agents/{agent}/sessions/{session_id}/messages"


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` with the JSON error shape and ``code``; its error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    return error


def events(text: str) -> list[tuple[str, Any]]:
    """A server-sent-events body as ``(event, data)`` pairs (``message`` when unnamed)."""
    found = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        event, data = "message", None
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
        found.append((event, data))
    return found


# -- the endpoints ------------------------------------------------------------------------------


def test_healthz_needs_no_key(main: Any) -> None:
    with main.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_documents_every_endpoint_and_its_errors(main: Any) -> None:
    with main.client() as client:
        schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    session = "/v1/agents/{agent_id}/sessions/{session_id}"
    expected = {
        ("/v1/agents/{agent_id}/sessions", "post"): {"201", "401", "404", "413", "422", "429"},
        (f"{session}/messages", "post"): {
            "200",
            "401",
            "404",
            "409",
            "413",
            "422",
            "500",
            "503",
            "504",
        },
        (f"{session}/messages/stream", "post"): {
            "200",
            "401",
            "404",
            "409",
            "413",
            "500",
            "503",
            "504",
        },
        ("/v1/sessions", "get"): {"200", "401", "422"},
        (session, "get"): {"200", "401", "404", "422"},
        (session, "delete"): {"200", "401", "404", "422"},
        ("/healthz", "get"): {"200"},
        ("/metrics", "get"): {"200"},
    }
    for (path, method), statuses in expected.items():
        operation = paths[path][method]
        assert statuses <= set(operation["responses"]), (path, method, operation["responses"])
        for status in statuses - {"200", "201"}:
            ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorResponse")
    stream = paths[f"{session}/messages/stream"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    turn_body = paths[f"{session}/messages"]["post"]["requestBody"]
    assert turn_body["required"] is True
    create_body = paths["/v1/agents/{agent_id}/sessions"]["post"].get("requestBody", {})
    assert not create_body.get("required", False)


def test_create_gives_a_random_id_and_its_location(alice: httpx.Client) -> None:
    ids = set()
    for _ in range(3):
        response = alice.post(f"/v1/agents/{ECHO}/sessions")
        assert response.status_code == 201
        body = response.json()
        assert body["agent_id"] == ECHO
        session_id = body["session_id"]
        assert len(session_id) >= 22  # URL-safe base64: 6 bits a character, 128 bits at least
        assert response.headers["location"] == f"/v1/agents/{ECHO}/sessions/{session_id}"
        ids.add(session_id)
    assert len(ids) == 3
    # The body is optional; an empty object is fine, and anything in it is refused.
    assert alice.post(f"/v1/agents/{ECHO}/sessions", json={}).status_code == 201
    assert_error(
        alice.post(f"/v1/agents/{ECHO}/sessions", json={"id": "x"}), 422, "invalid_request"
    )


def test_turns_continue_one_conversation(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    first = alice.post(turns(ECHO, session_id), json=hello("Hello"))
    second = alice.post(turns(ECHO, session_id), json=hello("Again"))
    assert first.status_code == second.status_code == 200
    body = second.json()
    assert body["agent_id"] == ECHO and body["session_id"] == session_id
    assert [m["content"] for m in first.json()["messages"]] == ["echo #1: Hello"]
    assert [m["content"] for m in body["messages"]] == ["echo #2: Again"]
    assert body["instance_event"] == "reused"  # creation made the instance
    assert body["stats"]["turn_count"] == 2
    assert body["stats"]["message_count"] == 4


def test_the_langgraph_agent_answers_with_its_tool(alice: httpx.Client) -> None:
    session_id = new_session(alice, BOT)
    response = alice.post(turns(BOT, session_id), json=hello("Where is my order?"))
    assert response.status_code == 200, response.text
    messages = response.json()["messages"]
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant"]
    assert "order A-1001 has shipped" in messages[-1]["content"]


def test_x_api_key_works_like_a_bearer_token(main: Any) -> None:
    with main.client(headers={"X-API-Key": servers.KEYS[ALICE]}) as client:
        session_id = new_session(client)
        assert client.post(turns(ECHO, session_id), json=hello()).status_code == 200
    with main.client(ALICE) as client:
        assert client.get(f"/v1/agents/{ECHO}/sessions/{session_id}").status_code == 200


@pytest.mark.parametrize("how", ["stream-route", "accept-header"])
def test_streaming_sends_chunks_then_done(alice: httpx.Client, how: str) -> None:
    session_id = new_session(alice)
    alice.post(turns(ECHO, session_id), json=hello("one"))
    if how == "stream-route":
        response = alice.post(f"{turns(ECHO, session_id)}/stream", json=hello("two words"))
    else:
        response = alice.post(
            turns(ECHO, session_id),
            json=hello("two words"),
            headers={"Accept": "text/event-stream"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    received = events(response.text)
    chunks = [data for event, data in received if event == "message"]
    assert len(chunks) == 4  # the stub streams word by word: "echo ", "#2: ", "two ", "words"
    assert "".join(c["content"] for c in chunks) == "echo #2: two words"
    assert all(c["role"] == "assistant" and c["metadata"]["index"] == 0 for c in chunks)
    event, done = received[-1]
    assert event == "done"
    assert [m["content"] for m in done["messages"]] == ["echo #2: two words"]
    assert done["stats"]["turn_count"] == 2
    assert done["session_id"] == session_id
    history = alice.get(f"/v1/agents/{ECHO}/sessions/{session_id}").json()["history"]
    assert [m["content"] for m in history][-2:] == ["two words", "echo #2: two words"]


def test_list_pages_through_the_callers_sessions_only(main: Any) -> None:
    # Principals of their own, so other tests' sessions do not count.
    with main.client(ALICE) as alice, main.client(BOB) as bob:
        mine = {new_session(alice, agent) for agent in (ECHO, BOT, ECHO, ECHO, BOT)}
        theirs = {new_session(bob) for _ in range(2)}
        listed: list[dict[str, Any]] = []
        after = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2}
            if after is not None:
                params["after"] = after
            page = alice.get("/v1/sessions", params=params)
            assert page.status_code == 200
            body = page.json()
            assert len(body["sessions"]) <= 2
            listed += body["sessions"]
            pages += 1
            after = body["next_after"]
            if after is None:
                break
        ids = [s["session_id"] for s in listed]
        assert len(ids) == len(set(ids)), "a session was listed twice"
        assert mine <= set(ids)
        assert not theirs & set(ids)
        assert pages >= 3
        bobs = {s["session_id"] for s in bob.get("/v1/sessions").json()["sessions"]}
        assert theirs <= bobs and not mine & bobs
    entry = next(s for s in listed if s["session_id"] in mine)
    assert set(entry) == {
        "agent_id",
        "session_id",
        "template_id",
        "template_version",
        "created_at",
        "last_activity",
        "turn_count",
        "message_count",
        "input_tokens",
        "output_tokens",
        "pending_interrupts",
        "user_id",
        "labels",
        "feedback_count",
        "feedback_mean",
        "corrupt",
    }
    # Wall-clock RFC 3339 times, like every time in the API.
    for name in ("created_at", "last_activity"):
        assert datetime.fromisoformat(entry[name].replace("Z", "+00:00")).tzinfo is not None


def test_get_shows_stats_and_history(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    alice.post(turns(ECHO, session_id), json=hello("Hello"))
    alice.post(turns(ECHO, session_id), json=hello("Bye"))
    body = alice.get(f"/v1/agents/{ECHO}/sessions/{session_id}").json()
    assert body["loaded"] is True
    assert body["stats"]["turn_count"] == 2
    assert body["stored"]["turn_count"] == 2
    assert body["stored"]["message_count"] == 4
    assert [(m["role"], m["content"]) for m in body["history"]] == [
        ("user", "Hello"),
        ("assistant", "echo #1: Hello"),
        ("user", "Bye"),
        ("assistant", "echo #2: Bye"),
    ]


def test_delete_ends_the_session_and_says_what_went(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    alice.post(turns(ECHO, session_id), json=hello())
    ended = alice.delete(f"/v1/agents/{ECHO}/sessions/{session_id}")
    assert ended.status_code == 200
    assert ended.json() == {
        "agent_id": ECHO,
        "session_id": session_id,
        "unloaded": True,
        "deleted": {"sessions": 1, "messages": 2, "snapshots": 0},
    }
    session = f"/v1/agents/{ECHO}/sessions/{session_id}"
    assert_error(alice.get(session), 404, "session_not_found")
    assert_error(alice.delete(session), 404, "session_not_found")
    assert_error(alice.post(turns(ECHO, session_id), json=hello()), 404, "session_not_found")


# -- principals never meet ----------------------------------------------------------------------

ATTEMPTS: dict[str, Callable[[httpx.Client, str, str], httpx.Response]] = {
    "continue": lambda c, a, s: c.post(turns(a, s), json=hello("let me in")),
    "stream": lambda c, a, s: c.post(f"{turns(a, s)}/stream", json=hello("let me in")),
    "stream-accept": lambda c, a, s: c.post(
        turns(a, s), json=hello("let me in"), headers={"Accept": "text/event-stream"}
    ),
    "get": lambda c, a, s: c.get(f"/v1/agents/{a}/sessions/{s}"),
    "delete": lambda c, a, s: c.delete(f"/v1/agents/{a}/sessions/{s}"),
}


def _answer(response: httpx.Response) -> tuple[int, str | None, str | None, bytes]:
    """Everything a caller can tell an answer by (the Date header aside)."""
    headers = response.headers
    return (
        response.status_code,
        headers.get("content-type"),
        headers.get("content-length"),
        response.content,
    )


@pytest.mark.parametrize("agent", [ECHO, BOT])
@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_another_principals_session_answers_like_a_missing_one(
    alice: httpx.Client, bob: httpx.Client, agent: str, attempt: str
) -> None:
    act = ATTEMPTS[attempt]
    session_id = new_session(alice, agent)
    alice.post(turns(agent, session_id), json=hello("mine"))
    before = alice.get(f"/v1/agents/{agent}/sessions/{session_id}").json()

    other = act(bob, agent, session_id)
    assert_error(other, 404, "session_not_found")
    # Nothing happened to alice's session.
    after = alice.get(f"/v1/agents/{agent}/sessions/{session_id}").json()
    assert after["history"] == before["history"]
    assert after["stored"]["turn_count"] == 1
    assert session_id not in {
        s["session_id"] for s in bob.get("/v1/sessions", params={"limit": 500}).json()["sessions"]
    }

    # A session that never existed, byte for byte the same answer (with its own id in it).
    never = secrets.token_urlsafe(24)
    missing = act(bob, agent, never)
    status, kind, length, body = _answer(other)
    assert _answer(missing) == (
        status,
        kind,
        length,
        body.replace(session_id.encode(), never.encode()),
    )
    # And once alice has ended it, the very same answer, to bob and to alice.
    assert alice.delete(f"/v1/agents/{agent}/sessions/{session_id}").status_code == 200
    assert _answer(act(bob, agent, session_id)) == _answer(other)
    assert _answer(act(alice, agent, session_id)) == _answer(other)


# -- auth, ids, bodies --------------------------------------------------------------------------

ENDPOINTS: dict[str, Callable[[httpx.Client], httpx.Response]] = {
    "create": lambda c: c.post(f"/v1/agents/{ECHO}/sessions"),
    "continue": lambda c: c.post(turns(ECHO, "s-1"), json=hello()),
    "stream": lambda c: c.post(f"{turns(ECHO, 's-1')}/stream", json=hello()),
    "list": lambda c: c.get("/v1/sessions"),
    "get": lambda c: c.get(f"/v1/agents/{ECHO}/sessions/s-1"),
    "delete": lambda c: c.delete(f"/v1/agents/{ECHO}/sessions/s-1"),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_missing_or_unknown_key_is_401(main: Any, endpoint: str) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer not-a-key-0123456789abcdef"},
        {"Authorization": f"Basic {servers.KEYS[ALICE]}"},
        {"Authorization": "Bearer"},
        {"X-API-Key": servers.KEYS[ALICE] + "x"},
    ):
        with main.client(headers=headers) as client:
            response = ENDPOINTS[endpoint](client)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_key_is_checked_before_the_request(main: Any) -> None:
    with main.client() as client:
        bad_body = client.post(turns(ECHO, "s-1"), content=b"nonsense")
        bad_id = client.get(f"/v1/agents/{ECHO}/sessions/bad%01id")
    assert_error(bad_body, 401, "unauthorized")
    assert_error(bad_id, 401, "unauthorized")


def test_an_unknown_agent_is_404(alice: httpx.Client) -> None:
    assert_error(alice.post("/v1/agents/no-such-bot/sessions"), 404, "agent_not_found")
    assert_error(alice.post(turns("no-such-agent", "s-1"), json=hello()), 404, "agent_not_found")
    assert_error(alice.get("/v1/agents/no-such-bot/sessions/s-1"), 404, "agent_not_found")


def test_an_unknown_route_is_a_json_404(alice: httpx.Client) -> None:
    assert_error(alice.get("/v2/nothing"), 404, "not_found")
    assert_error(alice.put("/v1/sessions"), 405, "method_not_allowed")


def test_a_trailing_slash_is_a_json_404_not_a_redirect(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    for path in (
        f"/v1/agents/{ECHO}/sessions/{session_id}/",
        "/v1/sessions/",
        "/healthz/",
    ):
        response = alice.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
        assert_error(response, 404, "not_found")
        assert "location" not in response.headers
    response = alice.post(f"{turns(ECHO, session_id)}/", json=hello(), follow_redirects=False)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/agents/{ECHO}/sessions/{'x' * 257}",  # too long
        f"/v1/agents/{ECHO}/sessions/bad%01id",  # a control character
        f"/v1/agents/{ECHO}/sessions/bad%C2%85id",  # a C1 control character
        "/v1/agents/bad%00bot/sessions/s-1",
    ],
)
def test_invalid_ids_are_422(alice: httpx.Client, path: str) -> None:
    error = assert_error(alice.get(path), 422, "invalid_request")
    assert error["details"]
    assert_error(alice.post(f"{path}/messages", json=hello()), 422, "invalid_request")


def test_invalid_paging_is_422(alice: httpx.Client) -> None:
    for params in ({"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"limit": 10**30}):
        assert_error(alice.get("/v1/sessions", params=params), 422, "invalid_request")
    assert_error(alice.get("/v1/sessions", params={"after": "a\x01b"}), 422, "invalid_request")


MALFORMED: dict[str, bytes] = {
    "not JSON": b"Hello",
    "invalid UTF-8": b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}',
    "a list": b"[]",
    "no messages": b"{}",
    "no message": b'{"messages": []}',
    "messages not a list": b'{"messages": "Hello"}',
    "content not a string": b'{"messages": [{"role": "user", "content": 42}]}',
    "an unknown role": b'{"messages": [{"role": "wizard", "content": "x"}]}',
    "an unknown field": b'{"messages": [{"role": "user", "content": "x", "mood": 1}]}',
    "an unknown top field": b'{"messages": [{"role": "user", "content": "x"}], "principal": "b"}',
    "a lone surrogate in content": b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
    "a lone surrogate in a name": (
        b'{"messages": [{"role": "user", "content": "x", "name": "\\udfff"}]}'
    ),
    "a lone surrogate in a metadata key": (
        b'{"messages": [{"role": "user", "content": "x", "metadata": {"\\ud800": 1}}]}'
    ),
    "a lone surrogate in a metadata value": (
        b'{"messages": [{"role": "user", "content": "x", "metadata": {"a": ["\\udc00"]}}]}'
    ),
    "NaN in metadata": b'{"messages": [{"role": "user", "content": "x", "metadata": {"a": NaN}}]}',
    "an infinity in metadata": (
        b'{"messages": [{"role": "user", "content": "x", "metadata": {"a": 1e999}}]}'
    ),
    "a huge integer": (
        b'{"messages": [{"role": "user", "content": "x", "metadata": {"a": 1'
        + b"0" * 5000
        + b"}}]}"
    ),
    "deep nesting": (
        b'{"messages": [{"role": "user", "content": "x", "metadata": {"a": '
        + b"[" * 40
        + b"]" * 40
        + b"}}]}"
    ),
    "nesting past the parser": b"[" * 30_000 + b"]" * 30_000,
    "a LangChain envelope": (
        b'{"messages": [{"role": "user", "content": "x", "metadata": '
        b'{"x": {"lc": 1, "type": "constructor", "id": ["os", "system"]}}}]}'
    ),
    "a huge number for content": b'{"messages": [{"role": "user", "content": 1e400}]}',
    "UTF-16": json.dumps(hello()).encode("utf-16-le"),
    "UTF-16 with its BOM": json.dumps(hello()).encode("utf-16"),
    "UTF-32": json.dumps(hello()).encode("utf-32-be"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_bodies_are_422(alice: httpx.Client, name: str) -> None:
    session_id = new_session(alice)
    for path in (turns(ECHO, session_id), f"{turns(ECHO, session_id)}/stream"):
        response = alice.post(
            path, content=MALFORMED[name], headers={"Content-Type": "application/json"}
        )
        assert_error(response, 422, "invalid_request")
    # Nothing reached the session.
    body = alice.get(f"/v1/agents/{ECHO}/sessions/{session_id}").json()
    assert body["history"] == []
    assert alice.post(turns(ECHO, session_id), json=hello()).json()["messages"][0]["content"] == (
        "echo #1: Hello"
    )


# -- size limits --------------------------------------------------------------------------------


def test_a_long_message_is_413(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    error = assert_error(
        alice.post(turns(ECHO, session_id), json=hello("x" * (MAX_CHARS + 1))),
        413,
        "message_too_long",
    )
    assert error["limit"] == "max_message_chars"
    assert alice.post(turns(ECHO, session_id), json=hello("x" * MAX_CHARS)).status_code == 200


def test_too_many_messages_is_413(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    many = {"messages": [{"role": "user", "content": "x"}] * (MAX_MESSAGES + 1)}
    error = assert_error(alice.post(turns(ECHO, session_id), json=many), 413, "too_many_messages")
    assert error["limit"] == "max_messages_per_request"
    stream = alice.post(f"{turns(ECHO, session_id)}/stream", json=many)
    assert_error(stream, 413, "too_many_messages")


def test_a_large_body_is_413_by_length_and_by_count(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    big = json.dumps(hello("x" * MAX_BODY)).encode()
    # With a Content-Length header...
    error = assert_error(
        alice.post(
            turns(ECHO, session_id), content=big, headers={"Content-Type": "application/json"}
        ),
        413,
        "body_too_large",
    )
    assert error["limit"] == "max_body_bytes"

    # ...and chunked, with none: the bytes are counted as they come.
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    response = alice.post(
        turns(ECHO, session_id), content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "body_too_large")
    # Create takes a body too.
    assert_error(alice.post(f"/v1/agents/{ECHO}/sessions", content=big), 413, "body_too_large")


def test_an_agent_failure_is_502_and_the_session_goes_on(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    alice.post(turns(ECHO, session_id), json=hello("one"))
    # The stub raises on "!fail", as a model or a tool might raise.
    assert_error(alice.post(turns(ECHO, session_id), json=hello("!fail")), 502, "agent_failed")
    stream = alice.post(f"{turns(ECHO, session_id)}/stream", json=hello("!fail"))
    assert_error(stream, 502, "agent_failed")
    after = alice.post(turns(ECHO, session_id), json=hello("two"))
    assert after.json()["messages"][0]["content"] == "echo #2: two"


# -- metrics ------------------------------------------------------------------------------------


def _samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_what_happened(main: Any, alice: httpx.Client) -> None:
    with main.client() as anonymous:
        before = _samples(anonymous)
        one, two = new_session(alice), new_session(alice)
        for session_id in (one, two, one):
            alice.post(turns(ECHO, session_id), json=hello())
        alice.post(f"{turns(ECHO, two)}/stream", json=hello("streamed"))
        alice.delete(f"/v1/agents/{ECHO}/sessions/{one}")
        after = _samples(anonymous)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("sessionful_sessions_created_total", agent_id=ECHO) == 2
    assert delta("sessionful_sessions_reused_total", agent_id=ECHO) == 4
    assert delta("sessionful_sessions_ended_total", agent_id=ECHO) == 1
    assert delta("sessionful_active_sessions", agent_id=ECHO) == 1
    histogram = {"agent_id": ECHO, "instance_event": "reused"}
    assert delta("sessionful_turn_duration_seconds_count", **histogram) == 4
    assert delta("sessionful_turn_duration_seconds_sum", **histogram) > 0
    assert delta("sessionful_turn_duration_seconds_bucket", le="+Inf", **histogram) == 4
    route = "/v1/agents/{agent_id}/sessions/{session_id}/messages"
    requests = "sessionful_http_requests_total"
    assert delta(requests, method="POST", route=route, status="200") == 3
    assert delta(requests, method="POST", route="/v1/agents/{agent_id}/sessions", status="201") == 2
    # Every metric the docs name is exported.
    names = {name for name, _ in after}
    for name in (
        "sessionful_active_sessions",
        "sessionful_sessions_created_total",
        "sessionful_sessions_reused_total",
        "sessionful_sessions_ended_total",
        "sessionful_turn_duration_seconds_bucket",
        "sessionful_http_requests_total",
    ):
        assert name in names
    families = {f.name for f in text_string_to_metric_families(anonymous_text(main))}
    assert {
        "sessionful_sessions_restored",
        "sessionful_sessions_evicted",
    } <= families


def anonymous_text(server: servers.Server) -> str:
    with server.client() as client:
        return client.get("/metrics").text


# -- busy, too many sessions, too slow ----------------------------------------------------------

TURN_TIMEOUT = 0.5
SLOW = 1.0


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with servers.serving(
        tmp_path_factory.mktemp("tight"),
        langgraph=False,
        stub={"invoke_latency": SLOW},
        overlap="reject",
        limits={"turn_timeout": TURN_TIMEOUT, "max_sessions_per_principal": 3},
    ) as server:
        yield server


def test_a_turn_on_a_busy_session_is_409_and_a_slow_one_504(tight: Any) -> None:
    with tight.client(ALICE) as alice:
        session_id = new_session(alice)
        slow: dict[str, httpx.Response] = {}

        def first_turn() -> None:
            with tight.client(ALICE) as other:
                slow["response"] = other.post(turns(ECHO, session_id), json=hello("slow"))

        reused = tight.reused(ECHO)
        thread = threading.Thread(target=first_turn)
        thread.start()
        servers.wait_until(lambda: tight.reused(ECHO) > reused, "the first turn to hold it")
        busy = alice.post(turns(ECHO, session_id), json=hello("overlap"))  # it is in its agent
        thread.join()
        error = assert_error(busy, 409, "session_busy")
        assert "retry" in error["message"]
        assert busy.headers["retry-after"] == "1"
        assert_error(slow["response"], 504, "turn_timeout")
        # Streamed, the same: the first chunk is later than the timeout.
        assert_error(
            alice.post(f"{turns(ECHO, session_id)}/stream", json=hello()), 504, "turn_timeout"
        )
        # A turn that timed out was not acknowledged, so nothing was stored.
        shown = alice.get(f"/v1/agents/{ECHO}/sessions/{session_id}").json()
        assert shown["history"] == []
        alice.delete(f"/v1/agents/{ECHO}/sessions/{session_id}")


def test_sessions_past_the_limit_are_429(tight: Any) -> None:
    with tight.client(BOB) as bob, tight.client(ALICE) as alice:
        made = [new_session(bob) for _ in range(3)]
        error = assert_error(bob.post(f"/v1/agents/{ECHO}/sessions"), 429, "too_many_sessions")
        assert error["limit"] == "max_sessions_per_principal"
        # Alice's count is her own.
        alices = new_session(alice)
        # Ending one makes room again.
        assert bob.delete(f"/v1/agents/{ECHO}/sessions/{made[0]}").status_code == 200
        new_session(bob)
        alice.delete(f"/v1/agents/{ECHO}/sessions/{alices}")


# -- graceful shutdown --------------------------------------------------------------------------


def test_sigterm_lets_the_turn_in_flight_finish(tmp_path: Path) -> None:
    config = servers.write_config(tmp_path, langgraph=False, stub={"invoke_latency": 1.5})
    server = servers.start(config)
    try:
        with server.client(ALICE) as alice:
            session_id = new_session(alice)
        answer: dict[str, Any] = {}

        def slow_turn() -> None:
            try:
                with server.client(ALICE) as client:
                    answer["response"] = client.post(turns(ECHO, session_id), json=hello("slow"))
            except httpx.HTTPError as exc:  # pragma: no cover - reported below
                answer["error"] = exc

        thread = threading.Thread(target=slow_turn)
        thread.start()
        servers.wait_until(lambda: server.reused(ECHO) > 0, "the turn to hold its session")
        sent = time.monotonic()  # the turn is in the agent, up to 1.5 s from done
        server.process.send_signal(signal.SIGTERM)
        servers.wait_until(lambda: not server.listening(), "the server to close its port")
        # The server stopped listening at once...
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/healthz", timeout=2.0)
        # ...but the turn in flight finished, and its answer arrived.
        thread.join(10)
        assert "error" not in answer, answer
        response = answer["response"]
        assert response.status_code == 200, response.text
        assert response.json()["messages"][0]["content"] == "echo #1: slow"
        assert server.process.wait(15) == 0
        assert time.monotonic() - sent >= 0.8
        log = server.log_text()
        assert "Application shutdown complete" in log
        assert "service stopped" in log
    finally:
        if server.process.poll() is None:
            server.kill()
    # The store was flushed and closed: a new server has the turn and continues from it.
    with servers.running(config) as again, again.client(ALICE) as alice:
        shown = alice.get(f"/v1/agents/{ECHO}/sessions/{session_id}").json()
        assert [m["content"] for m in shown["history"]] == ["slow", "echo #1: slow"]
        assert shown["loaded"] is False
        restored = alice.post(turns(ECHO, session_id), json=hello("fast")).json()
    assert restored["instance_event"] == "restored"


# -- the example and the docs -------------------------------------------------------------------


def test_the_gateway_client_example_runs_against_the_server(main: Any) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "gateway_client.py"),
            main.url,
            servers.KEYS[ALICE],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not done.stderr
    lines = done.stdout.splitlines()
    expected = [
        "(32 characters, server-generated)",
        "user: Hello",
        "agent: Hello! How can I help?",
        "user: What's my order status?",
        "agent: Your order status: order A-1001 has shipped and arrives on Friday",
        "[stream  ] user: Thanks!",
        "(done: 3 turns)",
        "history: 8 messages, loaded=True",
        "listed: yes",
        "ended: deleted {'sessions': 1, 'messages': 8, ",  # and the snapshots LangGraph kept
        "afterwards: 404 session_not_found",
    ]
    at = 0
    for text in expected:
        found = next((i for i in range(at, len(lines)) if text in lines[i]), None)
        assert found is not None, f"{text!r} not in order in:\n{done.stdout}"
        at = found


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    """If this fails, run: .venv/bin/python scripts/gen_config_reference.py"""
    generator = load_file("gen_config_reference", ROOT / "scripts" / "gen_config_reference.py")
    page = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    assert generator.spliced(page) == page, (
        "docs/service.md's configuration reference is stale: run scripts/gen_config_reference.py"
    )


# -- in process: what a real agent cannot be made to do on cue ----------------------------------
#
# The app on httpx's ASGI transport, with a test framework registered through ``plugins``: an
# agent that streams a chunk and then fails, or stalls past the turn timeout.


class _Dribbler:
    """Streams ``first `` then, after a pause, ``second`` (or fails, or stalls, by mode)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    async def ainvoke(self, request: TurnRequest) -> TurnOutput:
        output = None
        async for item in self.astream(request):
            if isinstance(item, TurnOutput):
                output = item
        assert output is not None
        return output

    async def astream(self, request: TurnRequest) -> AsyncIterator[ChatMessage | TurnOutput]:
        yield ChatMessage.assistant("first ", metadata={"index": 0})
        if self.mode == "fail":
            raise RuntimeError("the model went away")
        await asyncio.sleep(0.3 if self.mode == "slow" else 5)
        yield ChatMessage.assistant("second", metadata={"index": 0})
        yield TurnOutput(
            messages=[ChatMessage.assistant("first second")],
            usage=Usage(input_tokens=1, output_tokens=2),
        )


class _DribbleFactory:
    async def create_agent(self, request: AgentCreateRequest) -> _Dribbler:
        return _Dribbler(request.configuration.get("mode", "fail"))

    async def destroy_agent(self, instance: AgentInstance, reason: UnloadReason) -> None:
        pass


class _DribbleFramework:
    name = "dribble"
    native_sessions = False
    persistence = None
    snapshot_every = 1
    uses_templates = False

    def create_agent_factory(self, settings: Any) -> _DribbleFactory:
        return _DribbleFactory()


class _DribblePlugin:
    @hookimpl
    def register_frameworks(self, register: Callable[[Any], None]) -> None:
        register(_DribbleFramework())


def _in_process(**overrides: Any) -> Any:
    from sessionful.service.config import Settings
    from sessionful.service.http import create_app

    options: dict[str, Any] = {
        "strategy": "per_session",
        "agents": [
            {"id": "fails", "framework": "dribble", "template_id": "x", "configuration": {}},
            {
                "id": "stalls",
                "framework": "dribble",
                "template_id": "x",
                "configuration": {"mode": "stall"},
            },
            {
                "id": "slow",
                "framework": "dribble",
                "template_id": "x",
                "configuration": {"mode": "slow"},
            },
        ],
        "auth": {"api_keys": {servers.KEYS[ALICE]: ALICE}},
        "limits": {"turn_timeout": 1.0},
    }
    options.update(overrides)
    return create_app(Settings(**options), plugins=[_DribblePlugin()])


async def _stream_events(agent: str) -> tuple[int, list[tuple[str, Any]]]:
    app = _in_process()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://in-process", headers=auth(ALICE)
        ) as client,
    ):
        session_id = (await client.post(f"/v1/agents/{agent}/sessions")).json()["session_id"]
        response = await client.post(f"{turns(agent, session_id)}/stream", json=hello())
        return response.status_code, events(response.text)


@pytest.mark.parametrize(("agent", "code"), [("fails", "agent_failed"), ("stalls", "turn_timeout")])
async def test_a_stream_that_fails_midway_ends_with_an_error_event(agent: str, code: str) -> None:
    status, received = await _stream_events(agent)
    assert status == 200  # the first chunk was sent before the failure
    event, chunk = received[0]
    assert event == "message"
    assert (chunk["role"], chunk["content"], chunk["metadata"]) == (
        "assistant",
        "first ",
        {"index": 0},
    )
    event, data = received[-1]
    assert event == "error"
    assert data["error"]["code"] == code
    assert not any(event == "done" for event, _ in received)


def test_the_shared_strategy_is_refused() -> None:
    from sessionful import ConfigurationError

    with pytest.raises(ConfigurationError, match="per_session"):
        _in_process(strategy="shared")


async def test_a_bug_is_a_logged_json_500(caplog: pytest.LogCaptureFixture) -> None:
    app = _in_process()
    app.state.service = None  # every authenticated route now fails with an AttributeError
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as client:
        response = await client.get("/v1/sessions", headers=auth(ALICE))
    assert_error(response, 500, "internal_error")
    assert "unhandled error in GET /v1/sessions" in caplog.text
    assert "AttributeError" in caplog.text


async def test_a_client_gone_mid_stream_abandons_the_turn_and_the_session_goes_on() -> None:
    app = _in_process()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://in-process", headers=auth(ALICE)
        ) as client,
    ):
        session_id = (await client.post("/v1/agents/slow/sessions")).json()["session_id"]
        # A raw ASGI request whose client goes away after the first chunk.
        body = json.dumps(hello()).encode()
        sent: list[dict[str, Any]] = []
        requests = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if requests:
                return requests.pop()
            while not any(m.get("body") for m in sent if m["type"] == "http.response.body"):
                await asyncio.sleep(0.01)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        path = f"{turns('slow', session_id)}/stream"
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"in-process"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"authorization", f"Bearer {servers.KEYS[ALICE]}".encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("in-process", 80),
            "state": {},
        }
        await asyncio.wait_for(app(scope, receive, send), 5)
        streamed = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        assert b"first" in streamed and b"second" not in streamed
        # The session is not left busy, and the abandoned turn did not count.
        started = time.monotonic()
        response = await client.post(f"{turns('slow', session_id)}/stream", json=hello())
        assert time.monotonic() - started < 0.9
        event, done = events(response.text)[-1]
        assert event == "done"
        assert done["stats"]["turn_count"] == 1


async def test_a_turn_queued_behind_a_delete_is_404_at_once() -> None:
    app = _in_process(
        strategy="persisted",
        store="memory://",
        agents=[{"id": ECHO, "framework": "stub", "template_id": "echo"}],
        framework_settings={"stub": {"invoke_latency": 0.3}},
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://in-process", headers=auth(ALICE)
        ) as client,
    ):
        manager = app.state.service.manager_for(ECHO)
        for _ in range(5):
            session_id = (await client.post(f"/v1/agents/{ECHO}/sessions")).json()["session_id"]
            session = f"/v1/agents/{ECHO}/sessions/{session_id}"
            key = manager.key_for(ECHO, session_id, ALICE)

            def gate(key: SessionKey = key) -> tuple[bool, int]:
                """The session's turn gate as the manager sees it: held, and how many wait."""
                entry = manager._registry.index.get(key)
                if entry is None:
                    return False, 0
                return entry.busy, len(entry.waiters or ())

            async def until(wanted: tuple[bool, int]) -> None:
                for _ in range(2_000):  # a deadline of about 10 s on an observable condition
                    if gate() == wanted:
                        return
                    await asyncio.sleep(0.005)
                raise AssertionError(f"the gate never became {wanted}; it is {gate()}")

            first = asyncio.create_task(client.post(turns(ECHO, session_id), json=hello()))
            await until((True, 0))  # the first turn holds the session
            ended = asyncio.create_task(client.delete(session))
            await until((True, 1))  # the DELETE waits for it
            queued = asyncio.create_task(client.post(turns(ECHO, session_id), json=hello()))
            await until((True, 2))  # the next turn waits behind the DELETE
            assert (await first).status_code == 200 and (await ended).status_code == 200
            assert_error(await queued, 404, "session_not_found")


def test_a_damaged_session_is_a_500_naming_it_and_the_rest_go_on(tmp_path: Path) -> None:
    import sqlite3

    with servers.serving(tmp_path, langgraph=False) as server, server.client(ALICE) as alice:
        damaged, fine = new_session(alice), new_session(alice)
        for session_id in (damaged, fine):
            assert alice.post(turns(ECHO, session_id), json=hello()).status_code == 200
        with sqlite3.connect(tmp_path / "sessions.db") as db:
            db.execute(
                "UPDATE sessions SET created_at = 'yesterday' WHERE session_id = ?", (damaged,)
            )
        error = assert_error(
            alice.get(f"/v1/agents/{ECHO}/sessions/{damaged}"), 500, "corrupt_session"
        )
        assert error["session_id"] == damaged
        # Only that session: the others are listed and shown, new ones are made.
        listed = alice.get("/v1/sessions", params={"limit": 500})
        assert listed.status_code == 200, listed.text
        assert fine in {s["session_id"] for s in listed.json()["sessions"]}
        assert alice.get(f"/v1/agents/{ECHO}/sessions/{fine}").status_code == 200
        new_session(alice)
        # And it can be cleaned up.
        assert alice.delete(f"/v1/agents/{ECHO}/sessions/{damaged}").status_code == 200
        assert_error(alice.get(f"/v1/agents/{ECHO}/sessions/{damaged}"), 404, "session_not_found")
        assert "agent_failed" not in server.log_text()
