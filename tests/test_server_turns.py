"""The turn contract over real HTTP (a uvicorn subprocess, httpx): interrupts and resume, per-turn
context, usage and token totals, plain and streamed; the cycle across a restart on SQLite and on
PostgreSQL; and which sessions exist: an ended or purged session answers 404 everywhere, on
every process, and a turn cut at shutdown answers a JSON 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import cluster as clusters
from support import server as servers
from test_server import assert_error, events, hello, new_session, turns

ALICE, BOB, ECHO = servers.ALICE, servers.BOB, servers.ECHO

MAX_CONTEXT = 200


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    with servers.serving(
        tmp_path_factory.mktemp("turns"),
        langgraph=False,
        limits={"max_context_chars": MAX_CONTEXT},
    ) as server:
        yield server


@pytest.fixture
def alice(stub: servers.Server) -> Iterator[httpx.Client]:
    with stub.client(ALICE) as client:
        yield client


def session_url(session_id: str, agent: str = ECHO) -> str:
    return f"/v1/agents/{agent}/sessions/{session_id}"


def ask(client: httpx.Client, session_id: str, question: str = "refund $20?") -> dict[str, Any]:
    response = client.post(turns(ECHO, session_id), json=hello(f"ask: {question}"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- interrupts and resume ------------------------------------------------------------------------


def test_an_interrupt_is_answered_by_a_resume(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    asked = ask(alice, session_id)
    assert asked["status"] == "interrupted"
    assert asked["messages"] == []
    [interrupt] = asked["interrupts"]
    assert interrupt["value"] == "refund $20?"
    assert asked["usage"] == {"input_tokens": 3, "output_tokens": 0}
    assert asked["stats"]["interrupts"] == [interrupt]

    # The session shows what it waits for.
    shown = alice.get(session_url(session_id)).json()
    assert shown["interrupts"] == [interrupt]
    assert shown["stored"]["pending_interrupts"] == 1

    # A turn that does not answer is refused, naming what to answer.
    refused = assert_error(
        alice.post(turns(ECHO, session_id), json=hello("hi")), 409, "interrupt_pending"
    )
    assert refused["interrupts"] == [interrupt]
    # Streamed too, before any event.
    assert_error(
        alice.post(f"{turns(ECHO, session_id)}/stream", json=hello("hi")), 409, "interrupt_pending"
    )
    # Answering an interrupt that is not pending is a 422 that lists those that are.
    wrong = assert_error(
        alice.post(turns(ECHO, session_id), json={"resume": {"nope": "yes"}}), 422, "invalid_resume"
    )
    assert wrong["unknown"] == ["nope"] and wrong["pending"] == [interrupt["id"]]

    answered = alice.post(turns(ECHO, session_id), json={"resume": {interrupt["id"]: "yes"}})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["status"] == "completed" and body["interrupts"] == []
    assert [m["content"] for m in body["messages"]] == ["answered: yes"]
    assert body["instance_event"] == "reused"

    shown = alice.get(session_url(session_id)).json()
    assert shown["interrupts"] == []
    assert (shown["input_tokens"], shown["output_tokens"]) == (3, 2)
    assert [m["content"] for m in shown["history"]] == ["ask: refund $20?", "answered: yes"]
    # The conversation goes on.
    assert alice.post(turns(ECHO, session_id), json=hello()).json()["status"] == "completed"


def test_a_streamed_turn_sends_its_interrupt_and_a_done_like_the_json_answer(
    alice: httpx.Client,
) -> None:
    session_id = new_session(alice)
    response = alice.post(f"{turns(ECHO, session_id)}/stream", json=hello("ask: which order?"))
    assert response.status_code == 200, response.text
    received = events(response.text)
    kinds = [event for event, _ in received]
    assert kinds == ["interrupt", "done"], received
    interrupt = received[0][1]
    assert interrupt["value"] == "which order?"
    done = received[-1][1]
    assert done["status"] == "interrupted"
    assert done["interrupts"] == [interrupt]
    assert done["instance_event"] == "reused"
    assert done["usage"] == {"input_tokens": 3, "output_tokens": 0}

    resumed = alice.post(
        turns(ECHO, session_id),
        json={"resume": {interrupt["id"]: "A-1001"}},
        headers={"Accept": "text/event-stream"},
    )
    received = events(resumed.text)
    chunks = [data["content"] for event, data in received if event == "message"]
    assert "".join(chunks) == "answered: A-1001"
    event, done = received[-1]
    assert event == "done"
    # What the JSON answer to the same turn carries, and nothing else.
    assert set(done) == {
        "agent_id",
        "session_id",
        "status",
        "messages",
        "interrupts",
        "usage",
        "instance_event",
        "stats",
    }
    assert done["status"] == "completed" and done["interrupts"] == []
    assert done["instance_event"] == "reused"
    assert done["stats"]["turn_count"] == 2


def test_context_reaches_the_agent_for_its_turn_only(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    context = {"user_id": "u-42", "locale": "en-GB"}
    body = alice.post(
        turns(ECHO, session_id), json={**hello("context?"), "context": context}
    ).json()
    assert body["messages"][0]["content"] == 'context: {"locale":"en-GB","user_id":"u-42"}'
    again = alice.post(turns(ECHO, session_id), json=hello("context?")).json()
    assert again["messages"][0]["content"] == "context: {}"
    history = alice.get(session_url(session_id)).json()["history"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["context?", "context?"]


def test_context_and_resume_are_size_limited(alice: httpx.Client) -> None:
    session_id = new_session(alice)
    big = {"notes": "x" * MAX_CONTEXT}
    error = assert_error(
        alice.post(turns(ECHO, session_id), json={**hello(), "context": big}),
        413,
        "context_too_large",
    )
    assert error["limit"] == "max_context_chars"
    error = assert_error(
        alice.post(turns(ECHO, session_id), json={"resume": {"ask-1": "y" * MAX_CONTEXT}}),
        413,
        "context_too_large",
    )
    assert "resume" in error["message"]
    # Neither JSON that nests too deep, nor a turn with nothing in it.
    deep: Any = "x"
    for _ in range(40):
        deep = {"d": deep}
    assert_error(
        alice.post(turns(ECHO, session_id), json={**hello(), "context": deep}),
        422,
        "invalid_request",
    )
    assert_error(alice.post(turns(ECHO, session_id), json={}), 422, "invalid_request")
    assert_error(alice.post(turns(ECHO, session_id), json={"resume": {}}), 422, "invalid_request")


def test_the_metrics_count_tokens_and_interrupted_turns(
    stub: servers.Server, alice: httpx.Client
) -> None:
    def sample(name: str, **labels: str) -> float:
        for line in alice.get("/metrics").text.splitlines():
            if line.startswith(f"{name}{{") and all(
                f'{k}="{v}"' in line for k, v in labels.items()
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = (
        sample("sessionful_tokens_total", agent_id=ECHO, direction="input"),
        sample("sessionful_tokens_total", agent_id=ECHO, direction="output"),
        sample("sessionful_turns_interrupted_total", agent_id=ECHO),
    )
    session_id = new_session(alice)
    interrupt = ask(alice, session_id, "ok?")["interrupts"][0]
    alice.post(f"{turns(ECHO, session_id)}/stream", json={"resume": {interrupt["id"]: "yes"}})
    after = (
        sample("sessionful_tokens_total", agent_id=ECHO, direction="input"),
        sample("sessionful_tokens_total", agent_id=ECHO, direction="output"),
        sample("sessionful_turns_interrupted_total", agent_id=ECHO),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2, 1]


def test_the_openapi_schema_shows_the_turn_contract(stub: servers.Server) -> None:
    with stub.client() as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"messages", "context", "resume"} <= set(schemas["TurnRequest"]["properties"])
    assert "required" not in schemas["TurnRequest"] or "messages" not in schemas["TurnRequest"].get(
        "required", []
    )
    response = set(schemas["TurnResponse"]["properties"])
    assert {"status", "interrupts", "usage", "instance_event", "stats"} <= response
    assert set(schemas["StreamDone"]["properties"]) == response
    detail = set(schemas["SessionDetail"]["properties"])
    assert {"interrupts", "input_tokens", "output_tokens"} <= detail
    assert {"id", "value"} <= set(schemas["Interrupt"]["properties"])
    errors = set(schemas["ErrorBody"]["properties"])
    assert {"interrupts", "pending", "unknown", "session_id"} <= errors


# -- an interrupt survives a restart, on SQLite and on PostgreSQL ----------------------------------


def _config(tmp_path: Path, store: str, postgres_dsn: str | None) -> Path:
    if store == "postgres":
        assert postgres_dsn is not None
        return clusters.instance_config(tmp_path, postgres_dsn, "node")
    return servers.write_config(tmp_path, langgraph=False)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("postgres_dsn")
    return "sqlite", None


@pytest.mark.parametrize("how", ["json", "stream"])
def test_an_interrupt_survives_a_restart(
    tmp_path: Path, store: tuple[str, str | None], how: str
) -> None:
    config = _config(tmp_path, *store)
    with servers.running(config) as first, first.client(ALICE) as alice:
        session_id = new_session(alice)
        interrupt = ask(alice, session_id)["interrupts"][0]
    with servers.running(config) as second, second.client(ALICE) as alice:
        shown = alice.get(session_url(session_id)).json()
        assert shown["loaded"] is False
        assert shown["interrupts"] == [interrupt]
        assert (shown["input_tokens"], shown["output_tokens"]) == (3, 0)
        body = {"resume": {interrupt["id"]: "yes"}}
        if how == "json":
            answered = alice.post(turns(ECHO, session_id), json=body).json()
        else:
            streamed = alice.post(f"{turns(ECHO, session_id)}/stream", json=body)
            event, answered = events(streamed.text)[-1]
            assert event == "done", streamed.text
        assert answered["status"] == "completed"
        assert [m["content"] for m in answered["messages"]] == ["answered: yes"]
        assert answered["instance_event"] == "restored"
        assert alice.get(session_url(session_id)).json()["interrupts"] == []
    # And a turn that does not answer is refused after a restart as before it.
    with servers.running(config) as third, third.client(ALICE) as alice:
        interrupt = ask(alice, session_id, "again?")["interrupts"][0]
    with servers.running(config) as fourth, fourth.client(ALICE) as alice:
        refused = assert_error(
            alice.post(turns(ECHO, session_id), json=hello()), 409, "interrupt_pending"
        )
        assert refused["interrupts"] == [interrupt]


# -- ended stays ended ---------------------------------------------------------------------------


def test_a_session_ended_on_one_process_is_gone_on_the_other(
    tmp_path: Path, store: tuple[str, str | None]
) -> None:
    config = _config(tmp_path, *store)
    with (
        servers.running(config) as p1,
        servers.running(config) as p2,
        p1.client(ALICE) as one,
        p2.client(ALICE) as two,
    ):
        for _ in range(3):
            session_id = new_session(one)
            assert one.post(turns(ECHO, session_id), json=hello()).status_code == 200
            ended = two.delete(session_url(session_id))
            assert ended.status_code == 200 and ended.json()["deleted"]["sessions"] == 1
            # P1 still has the instance live; the store says the session is gone.
            assert_error(one.post(turns(ECHO, session_id), json=hello()), 404, "session_not_found")
            assert_error(
                one.post(f"{turns(ECHO, session_id)}/stream", json=hello()),
                404,
                "session_not_found",
            )
            assert_error(one.get(session_url(session_id)), 404, "session_not_found")
            assert_error(two.get(session_url(session_id)), 404, "session_not_found")
            assert_error(one.delete(session_url(session_id)), 404, "session_not_found")


def test_a_session_purged_by_retention_is_gone(tmp_path: Path) -> None:
    lifecycle = {"retention": 1.0, "sweep_interval": 0.2}
    with (
        servers.serving(tmp_path, langgraph=False, lifecycle=lifecycle) as server,
        server.client(ALICE) as alice,
    ):
        session_id = new_session(alice)
        assert alice.post(turns(ECHO, session_id), json=hello()).status_code == 200
        deadline = time.monotonic() + 10
        while alice.get(session_url(session_id)).status_code == 200:
            assert time.monotonic() < deadline, "never purged"
            time.sleep(0.2)
        assert_error(alice.get(session_url(session_id)), 404, "session_not_found")
        assert_error(alice.post(turns(ECHO, session_id), json=hello()), 404, "session_not_found")


# -- a turn cut at shutdown -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["json", "stream"])
def test_a_turn_cut_by_the_graceful_timeout_is_a_json_503(tmp_path: Path, how: str) -> None:
    config = servers.write_config(
        tmp_path, langgraph=False, stub={"invoke_latency": 8.0}, graceful_timeout=0.5
    )
    server = servers.start(config)
    try:
        with server.client(ALICE) as alice:
            session_id = new_session(alice)
        answer: dict[str, Any] = {}

        def slow_turn() -> None:
            path = turns(ECHO, session_id) + ("/stream" if how == "stream" else "")
            with server.client(ALICE) as client:
                answer["response"] = client.post(path, json=hello("slow"))

        thread = threading.Thread(target=slow_turn)
        thread.start()
        servers.wait_until(lambda: server.reused(ECHO) > 0, "the turn to hold its session")
        server.stop(timeout=20)  # the turn is in the agent, far from done
        thread.join(10)
        response = answer["response"]
        error = assert_error(response, 503, "shutting_down")
        assert "retry" in error["message"]
        assert response.headers["retry-after"] == "1"
        log = server.log_text()
        assert "CancelledError" not in log and "Traceback" not in log, log
        assert "Exception in ASGI application" not in log
        assert "cut by the graceful-shutdown timeout" in log
    finally:
        if server.process.poll() is None:
            server.kill()
    # Nothing of the cut turn was stored.
    with servers.running(config) as again, again.client(ALICE) as alice:
        assert alice.get(session_url(session_id)).json()["history"] == []
