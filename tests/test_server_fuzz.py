"""Fuzz the live server from its own OpenAPI schema: no input produces a server error.

Schemathesis turns ``/openapi.json`` into Hypothesis strategies (valid requests and, as often,
invalid ones: wrong types, missing fields, out-of-pattern ids, odd Unicode, huge numbers), and
each drawn request goes to a real server over loopback. To reach past the 404 of a random id,
about half the requests are aimed at real agents and real sessions (the caller's own, and
another principal's), with a key drawn from: alice's, bob's, alice's as ``X-API-Key``, a wrong
one, none. Every answer must be below 500, every error must have the JSON error shape, and a
principal must never get a 2xx for another principal's session.

Bounded: 1,500 requests or 30 s in ``make test``; ``SESSIONFUL_SOAK=1``
(``make soak``) runs 5,000 requests or 10 minutes.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from support import server as servers

ALICE, BOB, BOT, ECHO = servers.ALICE, servers.BOB, servers.BOT, servers.ECHO

SOAK = os.environ.get("SESSIONFUL_SOAK") == "1"
MAX_EXAMPLES = 5_000 if SOAK else 1_500
TIME_CAP = 600.0 if SOAK else 30.0
"""Seconds of fuzzing; requests drawn after this are not sent (Hypothesis has no time limit)."""

WRONG_KEY = "not-a-key-0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with servers.serving(
        tmp_path_factory.mktemp("fuzz"),
        access_log=False,
        limits={"max_message_chars": 2_000, "max_messages_per_request": 8},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def sessions(server: Any) -> dict[str, list[tuple[str, str]]]:
    """Each principal's sessions, ``(agent_id, session_id)``, two per agent."""
    made: dict[str, list[tuple[str, str]]] = {ALICE: [], BOB: []}
    for principal in made:
        with server.client(principal) as client:
            for agent in (ECHO, BOT, ECHO, BOT):
                response = client.post(f"/v1/agents/{agent}/sessions")
                assert response.status_code == 201, response.text
                made[principal].append((agent, response.json()["session_id"]))
    return made


def _headers(choice: str) -> dict[str, str]:
    if choice == "alice":
        return servers.auth(ALICE)
    if choice == "alice-x-api-key":
        return {"X-API-Key": servers.KEYS[ALICE]}
    if choice == "bob":
        return servers.auth(BOB)
    if choice == "wrong":
        return {"Authorization": f"Bearer {WRONG_KEY}"}
    return {}


@pytest.mark.slow  # also in make soak, with SESSIONFUL_SOAK=1 sizes
def test_no_input_produces_a_server_error(
    server: Any, sessions: dict[str, list[tuple[str, str]]]
) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    cases = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    alices = sessions[ALICE]
    stop_at = time.monotonic() + TIME_CAP
    seen: Counter[tuple[str, int]] = Counter()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not SOAK,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(cases, label="case")
        who = data.draw(
            st.sampled_from(["alice", "alice", "alice-x-api-key", "bob", "wrong", "none"]),
            label="caller",
        )
        params = case.path_parameters
        aimed = params is not None and "agent_id" in params and data.draw(st.booleans())
        if aimed and who == "bob" and case.method == "PUT":
            # Bob's PUT of alice's id would make a session of his own under it (another
            # session: test_server_gateway shows it), and then his later requests for that id
            # rightly succeed; so bob puts only ids of his own drawing.
            aimed = False
        if aimed:
            assert params is not None
            agent, session = data.draw(st.sampled_from(alices), label="alice's session")
            params["agent_id"] = agent
            if "session_id" in params:
                params["session_id"] = session
        headers = {**(case.headers or {}), **_headers(who)}
        if who == "none":
            headers.pop("Authorization", None)
            headers.pop("X-API-Key", None)
        case.headers = headers
        # Past the time cap, draw as always (a replayed example must draw what it drew the
        # first time, or Hypothesis reports its strategy as flaky) but send nothing.
        if time.monotonic() > stop_at:
            return
        response = case.call(timeout=30)
        status = response.status_code
        seen[(case.operation.label, status)] += 1
        where = f"{case.method} {case.formatted_path} as {who}: {status} {response.text[:500]!r}"
        assert status < 500, f"server error: {where}\nbody sent: {case.body!r}"
        if status >= 400:
            body = response.json()
            assert isinstance(body["error"]["code"], str), where
            assert isinstance(body["error"]["message"], str), where
        if aimed and who == "bob" and params is not None and "session_id" in params:
            assert status >= 400, f"bob reached alice's session: {where}"
        if aimed and case.method == "DELETE" and status == 200:
            # Alice ended one of her sessions: put a fresh one in the pool in its place.
            assert params is not None
            ended = (params["agent_id"], params["session_id"])
            with server.client(ALICE) as client:
                fresh = client.post(f"/v1/agents/{ended[0]}/sessions").json()["session_id"]
            alices[alices.index(ended)] = (ended[0], fresh)

    fuzz()
    assert sum(seen.values()) >= 50, f"too few requests were sent: {seen}"
    reached = {label for (label, status) in seen if status < 300}
    # The fuzz got past validation and auth to real sessions on the turn and session routes.
    assert any("/messages" in label for label in reached), seen
    assert any(label.startswith("GET /v1/agents") for label in reached), seen
    # ...and on issue 15's: your own ids, feedback, the filtered listing, history, readiness.
    for route in (
        "PUT /v1/agents/{agent_id}/sessions/{session_id}",
        "POST /v1/agents/{agent_id}/sessions/{session_id}/feedback",
        "GET /v1/sessions",
        "GET /v1/agents/{agent_id}/sessions/{session_id}/history",
        "GET /v1/agents",
        "GET /readyz",
    ):
        assert route in reached, (route, sorted(reached))
    # The server is still up and its log holds no traceback of a bug.
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert "internal_error" not in server.log_text()
    assert "unhandled error" not in server.log_text()
